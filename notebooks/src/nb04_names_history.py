"""Notebooks 04a and 04b (seed 003): names, recipients, crashes and the shutdown notice; then history that
survives a crash (JSON, atomic replace, SQLite, lanchat's store and server)."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    return [names_and_messages(), durable_history()]


def names_and_messages() -> Notebook:
    nb = Notebook("04a_names_and_messages.ipynb", "Names, direct messages, crashes and the shutdown notice")
    nb.md(
        """
        # 04a · Names, direct messages, crashes and the shutdown notice

        Seed 003's chat: each person gives a **name** when joining; you **choose who** receives a message; the
        server keeps a **history** file and replays your messages, marked `[History]`, when you come back with the
        same name; when the server shuts down it **tells** every client first; and when a client **crashes**, the
        server drops it and carries on.

        We build it as a small threaded server (like the seed), in two cells: first the part every server has
        (accepting, reading frames), then the seed's rules (names, recipients, replay, shutdown). Notebook 04b then
        makes the history survive a crash, and runs lanchat's real server.
        """
    )
    nb.step(
        """
        ## Settings

        Everything this notebook writes goes into a temporary folder that is deleted at the end.
        Messages travel as JSON objects in length-prefixed frames (notebook 02), using lanchat's framing.
        """,
        """
        import json
        import os
        import socket
        import subprocess
        import sys
        import tempfile
        import threading
        import time
        from pathlib import Path

        from lanchat.wire import FrameDecoder, encode_json

        HOST = "127.0.0.1"
        PORT = 0  # any free port: the servers in this notebook are only reached from inside it
        TIMEOUT = 10.0
        workdir = tempfile.TemporaryDirectory(prefix="lanchat-nb04a-")
        WORK = Path(workdir.name)
        print("scratch folder:", WORK)
        """,
    )
    nb.md(
        """
        ## A history store: one JSON file (as in seed 003)

        The seed keeps `messages.json`: for each person, the list of messages sent to them, with the sender's
        name. The simplest way to save it is to rewrite the whole file after each message.
        """
    )
    nb.code(
        """
        class JsonHistory:
            def __init__(self, path):
                self.path = Path(path)
                self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

            def add(self, recipient, sender, text):
                self.data.setdefault(recipient, []).append({"from": sender, "text": text})
                self.save()

            def save(self):
                with open(self.path, "w", encoding="utf-8") as f:  # "w" empties the file first!
                    json.dump(self.data, f, ensure_ascii=False)

            def messages_for(self, name):
                return list(self.data.get(name, []))
        """
    )
    nb.md(
        """
        ## The server: names, recipients, history, shutdown notice

        One thread accepts; one thread per client (seed 003 uses `threading` too). What a client can send:

        * first `{"name": ...}`: the server refuses a name already in use, otherwise welcomes you, replays your
          history marked `[History]`, and tells the others you joined;
        * then `{"to": NAME or "all", "text": ...}`: a message for one person or for everyone;
        * `{"ack": "shutdown"}`: "I saw your shutdown notice".

        If a client's connection ends, cleanly or not, the server removes it and tells the others.

        First the part any threaded server has: a listener, an accept loop that starts a thread per client, and
        a client loop that reads frames and hands each object to `join` (the first) or `deliver` (the rest).
        Those two, and `shutdown`, are the seed's rules: the next cell adds them.
        """
    )
    nb.code(
        """
        class ChatServerCore:
            def __init__(self, history):
                self.history = history
                self.listener = socket.create_server((HOST, PORT))
                self.listener.settimeout(0.2)  # the accept loop checks self.stopping this often
                self.address = self.listener.getsockname()[:2]
                self.by_name = {}  # name -> socket, guarded by self.lock
                self.lock = threading.Lock()
                self.stopping = threading.Event()
                self.acks = []
                self.log = []
                self.threads = [threading.Thread(target=self.accept_loop)]
                self.threads[0].start()

            def send(self, conn, obj):
                try:
                    conn.sendall(encode_json(obj))
                except OSError:
                    pass  # that client is gone; its own thread notices and cleans up

            def accept_loop(self):
                while not self.stopping.is_set():
                    try:
                        conn, _ = self.listener.accept()
                    except TimeoutError:
                        continue
                    conn.settimeout(None)
                    thread = threading.Thread(target=self.client_loop, args=(conn,))
                    self.threads.append(thread)
                    thread.start()

            def client_loop(self, conn):
                decoder, name = FrameDecoder(), None
                try:
                    while True:
                        data = conn.recv(65536)
                        if not data:
                            self.log.append(f"{name}: closed the connection")
                            break
                        for payload in decoder.feed(data):
                            obj = json.loads(payload)
                            if name is None:
                                name = self.join(conn, obj.get("name", ""))
                            elif "ack" in obj:
                                self.acks.append(name)
                            else:
                                self.deliver(name, obj.get("to", "all"), obj.get("text", ""))
                except ConnectionResetError:
                    self.log.append(f"{name}: connection reset (the client crashed)")
                except OSError:
                    pass
                finally:
                    conn.close()
                    if name is not None:
                        with self.lock:
                            self.by_name.pop(name, None)
                            others = list(self.by_name.values())
                        if not self.stopping.is_set():
                            for other in others:
                                self.send(other, {"left": name})
        """
    )
    nb.step(
        """
        The seed's rules: a name must be free (`join`), a message goes to one person or to all and is kept in the
        history of each recipient (`deliver`), and `shutdown` tells everyone before closing.
        """,
        """
        class NamedChatServer(ChatServerCore):
            def join(self, conn, name):
                with self.lock:
                    if not name or name in self.by_name:
                        refused = True
                    else:
                        refused = False
                        others = list(self.by_name.values())
                        self.by_name[name] = conn
                if refused:
                    self.send(conn, {"error": f"the name {name!r} is taken or empty; choose another"})
                    return None
                self.send(conn, {"welcome": name, "members": sorted(self.by_name)})
                for old in self.history.messages_for(name):  # seed 003: [History] replay
                    self.send(conn, {"from": old["from"], "text": f"[History] {old['text']}"})
                for other in others:
                    self.send(other, {"joined": name})
                return name

            def deliver(self, sender, to, text):
                with self.lock:
                    if to == "all":
                        targets = {n: c for n, c in self.by_name.items() if n != sender}
                    else:
                        targets = {to: self.by_name[to]} if to in self.by_name else {}
                    me = self.by_name.get(sender)
                if not targets:
                    self.send(me, {"error": f"nobody called {to!r} is here"})
                for name, conn in targets.items():
                    self.history.add(name, sender, text)
                    self.send(conn, {"from": sender, "to": to, "text": text})

            def shutdown(self):
                # seed 003: tell every client first, give them a moment to acknowledge, then close
                self.stopping.set()
                with self.lock:
                    everyone = dict(self.by_name)
                for conn in everyone.values():
                    self.send(conn, {"shutdown": "the server is shutting down"})
                deadline = time.monotonic() + 2
                while len(self.acks) < len(everyone) and time.monotonic() < deadline:
                    time.sleep(0.01)  # polling interval; the deadline decides
                for conn in everyone.values():
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                for thread in self.threads:
                    thread.join(TIMEOUT)
                self.listener.close()
                return [t for t in self.threads if t.is_alive()]
        """,
    )
    nb.step(
        """
        ### A client

        The client sends its name first, then messages. `inbox()` returns what arrived, waiting (with a deadline)
        until at least `count` objects are there.
        """,
        """
        class NamedClient:
            def __init__(self, address, name):
                self.sock = socket.create_connection(address, timeout=TIMEOUT)
                self.decoder, self.received = FrameDecoder(), []
                self.sock.sendall(encode_json({"name": name}))

            def say(self, text, to="all"):
                self.sock.sendall(encode_json({"to": to, "text": text}))

            def inbox(self, count):
                deadline = time.monotonic() + TIMEOUT
                while len(self.received) < count and time.monotonic() < deadline:
                    self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                    data = self.sock.recv(65536)
                    if not data:
                        break
                    self.received += [json.loads(p) for p in self.decoder.feed(data)]
                taken, self.received = self.received[:count], self.received[count:]
                return taken

        history = JsonHistory(WORK / "messages.json")
        server = NamedChatServer(history)
        ana = NamedClient(server.address, "ana")
        print("ana:", ana.inbox(1))
        ben = NamedClient(server.address, "ben")
        print("ben:", ben.inbox(1))
        print("ana:", ana.inbox(1))
        """,
    )
    nb.step(
        """
        ### A client without a server

        Seed 003 notes that a client started before the server cannot run. On TCP, connecting to a port where
        nobody listens is refused at once. (We find a surely-unused port by letting the OS pick one and closing
        it again.) A client should say so in one clear line, not crash with a traceback.
        """,
        """
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            unused_port = probe.getsockname()[1]
        try:
            socket.create_connection((HOST, unused_port), timeout=TIMEOUT)
        except ConnectionRefusedError:
            print(f"no server at {HOST}:{unused_port} (connection refused); start the server first")
        """,
    )
    nb.step(
        """
        ### Names must be unique

        A second `ana` is refused with a clear message: the server identifies people by name, so two with the
        same name would get each other's messages.
        """,
        """
        impostor = NamedClient(server.address, "ana")
        print("second ana:", impostor.inbox(1))
        impostor.sock.close()
        """,
    )
    nb.step(
        """
        ### Choosing a recipient

        `to` picks one person (a direct message) or `"all"`. Ben gets the direct message; everyone else
        (here only ben) gets the message for all. Sending to someone who is not here gets an error back.
        """,
        """
        ana.say("psst, ben: lunch at 12?", to="ben")
        ana.say("hello everyone", to="all")
        print("ben:", ben.inbox(2))
        ana.say("are you there?", to="zoe")
        print("ana:", ana.inbox(1))
        """,
    )
    nb.step(
        """
        ### `[History]` replay

        Ben leaves and comes back with the same name: the server replays every message sent to him, marked
        `[History]`. (That is also why names matter: whoever says "ben" gets ben's history. lanchat's server
        stamps names, and a name belongs to the identity key that first used it there: its client proves the key
        by signing a challenge, so ben's replay reaches only ben's key; README, "Your name is yours".)
        """,
        """
        ben.sock.close()
        print("ana:", ana.inbox(1))
        ben = NamedClient(server.address, "ben")
        for message in ben.inbox(3):
            print("ben:", message)
        print("ana:", ana.inbox(1))
        print("the file on disk:", (WORK / "messages.json").read_text())
        """,
    )
    nb.md(
        """
        ### A client crashing: `b""` or a reset?

        A program that crashes never says goodbye, but its operating system still closes its sockets. What the
        server then sees depends on one thing: **whether the dead client had read everything sent to it**.

        * It had: the system closes the connection normally (a FIN), and the server's `recv` returns `b""`, exactly
          as if the client had called `close()`.
        * Data was still waiting, unread, in its receive buffer: closing with unread data makes the system send a
          **reset** (RST), and the server's `recv` raises `ConnectionResetError` instead.

        The server must survive both, drop the client, and tell the others. Below, `cy` is a real Python process
        killed with `kill()` (SIGKILL: no cleanup, no goodbye; the same as a crash). First a cy that had read its
        welcome, then a cy that only *peeked* at it (`MSG_PEEK` looks without taking, so it stays unread).
        """
    )
    nb.code(
        """
        crashing_client = '''
        import socket, sys, time
        from lanchat.wire import FrameDecoder, encode_json
        sock = socket.create_connection(("%s", %d), timeout=10)
        sock.sendall(encode_json({"name": "cy"}))
        if sys.argv[1] == "reads everything":
            decoder = FrameDecoder()
            while not decoder.feed(sock.recv(65536)):  # until the whole welcome frame is read
                pass
        else:
            sock.recv(1, socket.MSG_PEEK)  # the welcome has arrived, but stays unread
        print("ready", flush=True)
        time.sleep(60)  # waits to be killed
        '''


        def crash_a_client(how):
            script = crashing_client % (HOST, server.address[1])
            cy = subprocess.Popen([sys.executable, "-c", script, how], stdout=subprocess.PIPE, text=True)
            try:
                assert cy.stdout.readline().strip() == "ready"
                print("ana:", ana.inbox(1), " ben:", ben.inbox(1))  # "cy joined"
                cy.kill()  # SIGKILL: the process dies at once
                cy.wait(TIMEOUT)
            finally:
                cy.kill()
                cy.stdout.close()
            print("ana:", ana.inbox(1), " ben:", ben.inbox(1))  # "cy left"
            print(f"server log (cy {how}):", server.log[-1])


        crash_a_client("reads everything")
        """
    )
    nb.step(
        """
        Now the same crash, but cy dies with its welcome unread: the server's `recv` raises
        `ConnectionResetError`. A real client that crashes usually had read everything (it was waiting in `recv`
        or `input`), so the quiet `b""` is the common case; servers must handle both.
        """,
        """
        crash_a_client("leaves data unread")
        """,
    )
    nb.step(
        """
        ### Ctrl-C sends SIGINT, `kill` sends SIGTERM, SIGKILL cannot be caught

        Pressing Ctrl-C does not kill a program by itself: the **terminal** turns that key (byte 3, `^C`) into the
        signal **SIGINT** for the program running in it. `kill PID` sends **SIGTERM**. A program can catch both
        and leave politely (Python turns SIGINT into `KeyboardInterrupt` by default). **SIGKILL** (`kill -9`, or
        `Popen.kill()` above) and a power cut cannot be caught: nothing gets announced, which is why the server
        must cope with clients that vanish.

        To see it, we run a small program in a real **pseudo-terminal** (with `pexpect`, Linux and macOS only) that
        reports every signal it receives, press "Ctrl-C" by writing byte 3 to its terminal, then send SIGTERM.
        """,
        """
        import signal

        signal_reporter = '''
        import signal, time
        received = []
        def report(signum, frame):
            received.append(signum)
            print("received", signal.Signals(signum).name, flush=True)
        signal.signal(signal.SIGINT, report)
        signal.signal(signal.SIGTERM, report)
        try:
            signal.signal(signal.SIGKILL, report)
        except OSError as exc:
            print("SIGKILL cannot be caught:", exc, flush=True)
        print("ready", flush=True)
        deadline = time.monotonic() + 10
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the handlers run between these naps
        '''
        if os.name == "posix":
            import pexpect

            reporter = pexpect.spawn(sys.executable, ["-c", signal_reporter], timeout=TIMEOUT, encoding="utf-8")
            reporter.expect("ready")
            print(reporter.before.strip())
            reporter.send("\\x03")  # the byte the Ctrl-C key sends into a terminal
            reporter.expect(r"received (\\w+)")
            print("after Ctrl-C:", reporter.match.group(1))
            reporter.kill(signal.SIGTERM)
            reporter.expect(r"received (\\w+)")
            print("after kill (SIGTERM):", reporter.match.group(1))
            reporter.expect(pexpect.EOF)
            reporter.close()
        else:
            print("Windows has no pseudo-terminals or POSIX signals: Ctrl-C raises KeyboardInterrupt in a console program")
        """,
    )
    nb.step(
        """
        ### The shutdown notice

        Seed 003's server notifies every client that it is shutting down, and the clients acknowledge before
        disconnecting. Here the clients acknowledge by hand.
        """,
        """
        def shutdown_in_background():
            result["still running"] = server.shutdown()

        result = {}
        stopper = threading.Thread(target=shutdown_in_background)
        stopper.start()
        for person in (ana, ben):
            notice = person.inbox(1)
            print("received:", notice)
            person.sock.sendall(encode_json({"ack": "shutdown"}))
        stopper.join(TIMEOUT)
        print("acknowledged by:", sorted(server.acks), "; server threads still running:", result["still running"])
        for person in (ana, ben):
            person.sock.close()
        """,
    )
    nb.exercise(
        "04.1",
        "choose the recipients",
        """
        Write `recipients(sender, to, present)` that returns the sorted list of names that should receive a
        message: for `to == "all"`, everyone present except the sender; otherwise `[to]` if that person is
        present, else an empty list.
        """,
        """
        def recipients(sender, to, present):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import Unsorted, attempt

        if attempt('recipients("ana", "all", {"ana"})', recipients, "ana", "all", {"ana"}) is NotImplemented:
            print("Exercise 04.1 not attempted yet: write recipients above, run it, then run this cell again.")
        else:
            here = Unsorted({"ana", "ben", "cy", "dee"})  # a set that never happens to iterate in sorted order
            cases = [
                (("ana", "all", here), ["ben", "cy", "dee"], "a message for all: everyone but the sender, sorted"),
                (("dee", "all", here), ["ana", "ben", "cy"], "a message for all: everyone but the sender, sorted"),
                (("ana", "cy", here), ["cy"], "a direct message to cy"),
                (("ana", "zoe", here), [], "zoe is not here"),
                (("ana", "all", Unsorted({"ana"})), [], "alone in the room, a message for all reaches nobody"),
            ]
            for args, expected, meaning in cases:
                got = attempt(f"recipients{args[:2]}", recipients, *args)
                assert got == expected, f"{meaning}: recipients{args[:2]} returned {got!r}, expected {expected!r}"
            print("✓ Exercise 04.1 correct")
        """,
        """
        def recipients(sender, to, present):
            if to == "all":
                return sorted(name for name in present if name != sender)
            return [to] if to in present else []
        """,
        wrong=[
            """
            def recipients(sender, to, present):
                return sorted(present) if to == "all" else [to]
            """,
            """
            def recipients(sender, to, present):
                if to == "all":
                    return [name for name in present if name != sender]  # not sorted
                return [to] if to in present else []
            """,
        ],
    )
    nb.step(
        """
        ## Clean up

        Every server, client and thread is stopped, and the scratch folder is deleted.
        """,
        """
        assert not any(t.is_alive() for t in server.threads) and not stopper.is_alive()
        workdir.cleanup()
        print("done; scratch folder removed:", not WORK.exists())
        """,
    )
    nb.md("**Next:** notebook 04b makes the history survive a crash, then runs lanchat's real server.")
    return nb


def durable_history() -> Notebook:
    nb = Notebook("04b_durable_history.ipynb", "History that survives a crash")
    nb.md(
        """
        # 04b · History that survives a crash

        Seed 003's server keeps a history file and replays it (notebook 04a). A history is only worth keeping if
        it survives the moment the server dies, which can be at any instant: in the middle of writing it. We
        crash real processes in the middle of a save and look at what is left, fix it with an **atomic replace**,
        move to **SQLite**, and finish with lanchat's own store and server: history replayed to a late joiner, a
        client that crashes, and the shutdown notice.
        """
    )
    nb.step(
        """
        ## Settings

        Everything this notebook writes goes into a temporary folder that is deleted at the end.
        """,
        """
        import json
        import os
        import signal
        import socket
        import subprocess
        import sys
        import tempfile
        import threading
        import time
        from pathlib import Path

        HOST = "127.0.0.1"
        TIMEOUT = 10.0
        workdir = tempfile.TemporaryDirectory(prefix="lanchat-nb04b-")
        WORK = Path(workdir.name)
        print("scratch folder:", WORK)
        """,
    )
    nb.step(
        """
        ## The JSON history of notebook 04a

        The seed keeps `messages.json`: for each person, the list of messages sent to them. The simplest way to
        save it is to rewrite the whole file after each message. We start with two messages for ben.
        """,
        """
        class JsonHistory:
            def __init__(self, path):
                self.path = Path(path)
                self.data = json.loads(self.path.read_text()) if self.path.exists() else {}

            def add(self, recipient, sender, text):
                self.data.setdefault(recipient, []).append({"from": sender, "text": text})
                self.save()

            def save(self):
                with open(self.path, "w", encoding="utf-8") as f:  # "w" empties the file first!
                    json.dump(self.data, f, ensure_ascii=False)

            def messages_for(self, name):
                return list(self.data.get(name, []))


        history = JsonHistory(WORK / "messages.json")
        history.add("ben", "ana", "psst, ben: lunch at 12?")
        history.add("ben", "ana", "hello everyone")
        print((WORK / "messages.json").read_text())
        """,
    )
    nb.md(
        """
        ## What a crash does to the JSON file

        `JsonHistory.save` opens the file with `"w"`, which **empties it first**, then writes the new contents.
        If the server crashes (or the power goes) between those two moments, the file is left empty or half
        written, and **all** history is lost, not just the last message. Let's crash a real process in the middle
        of a save: it writes half of the JSON and dies (`os._exit`, no cleanup, just like a kill).
        """
    )
    nb.code(
        """
        history_file = WORK / "messages.json"
        before = json.dumps(history.data, ensure_ascii=False)  # ben's two messages, as saved
        history_file.write_text(before)  # whole again, should this cell run a second time
        crash_mid_save = f'''
        import json, os
        data = json.loads(open({str(history_file)!r}).read())
        data["ana"] = [{{"from": "ben", "text": "a new message"}}]
        text = json.dumps(data)
        f = open({str(history_file)!r}, "w")  # the old contents are gone from here on
        f.write(text[: len(text) // 2])
        f.flush()
        os._exit(1)  # crash before the rest is written
        '''
        subprocess.run([sys.executable, "-c", crash_mid_save], timeout=TIMEOUT)
        print("file now holds:", history_file.read_text()[:60], "...")
        try:
            JsonHistory(history_file)
        except json.JSONDecodeError as exc:
            print("the history can no longer be read:", exc)
        """
    )
    nb.step(
        """
        ### The fix for files: write a new file, then rename it over the old one

        Write the whole new contents to a temporary file in the same folder, flush it to disk, then
        `os.replace` it over the old file. Renaming is **atomic**: anyone opening the file sees either the old
        version or the new one, never a mixture. A crash during the write only leaves a stray temp file.
        """,
        """
        class SafeJsonHistory(JsonHistory):
            def save(self):
                temp = self.path.with_suffix(".tmp")
                with open(temp, "w", encoding="utf-8") as f:
                    json.dump(self.data, f, ensure_ascii=False)
                    f.flush()
                    os.fsync(f.fileno())  # really on disk before the rename
                os.replace(temp, self.path)  # atomic: old or new, never half

        history_file.write_text(before)  # restore the good copy
        crash_mid_safe_save = f'''
        import os
        f = open({str(history_file.with_suffix(".tmp"))!r}, "w")
        f.write('{{"ana": [{{"from": "ben", "te')  # half of the new version
        f.flush()
        os._exit(1)  # crash before os.replace
        '''
        subprocess.run([sys.executable, "-c", crash_mid_safe_save], timeout=TIMEOUT)
        print("after the crash the history still loads:", SafeJsonHistory(history_file).messages_for("ben")[:1])
        """,
    )
    nb.md(
        """
        ## SQLite: a database in one file

        Rewriting the whole file for every message also gets slow as history grows. `sqlite3` (in Python's
        standard library) stores rows in one file and only writes what changed. Every change happens inside a
        **transaction**: if the program dies before `COMMIT`, SQLite rolls the half-done change back the next
        time the file is opened. Below, a process inserts a message and is killed before committing.
        """
    )
    nb.code(
        """
        import sqlite3

        db_path = WORK / "history.sqlite3"
        db_path.unlink(missing_ok=True)  # a new file each time this cell runs
        with sqlite3.connect(db_path) as db:  # the with block commits
            db.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, sender TEXT, recipient TEXT, text TEXT)")
            db.execute("INSERT INTO messages (sender, recipient, text) VALUES ('ana', 'ben', 'lunch at 12?')")
        db.close()

        crash_mid_transaction = f'''
        import os, sqlite3
        db = sqlite3.connect({str(db_path)!r})
        db.execute("INSERT INTO messages (sender, recipient, text) VALUES ('ben', 'ana', 'never committed')")
        os._exit(1)  # killed before COMMIT
        '''
        subprocess.run([sys.executable, "-c", crash_mid_transaction], timeout=TIMEOUT)
        db = sqlite3.connect(db_path)
        print("integrity check:", db.execute("PRAGMA integrity_check").fetchone()[0])
        print("rows:", db.execute("SELECT sender, recipient, text FROM messages").fetchall())
        db.close()
        """
    )
    nb.step(
        """
        ### lanchat's history store

        `lanchat.history.HistoryStore` is lanchat's real version: one SQLite file, every message stored
        before anyone receives it, direct messages replayed only to the two people concerned. A running
        server stores a loop pass's messages with one `write()` to an append-only journal beside the file
        (`FILE.pending`, one JSON line per message; a SQLite transaction per message costs several times
        more), and moves them into SQLite in batches, before it reads the history, and when it starts again
        after a crash; here `append()` commits each one at once. Its module docstring explains the durability
        choices. A name belongs to a key (`lanchat.identity`): each
        direct message is stored with the keys that owned both names, and replayed only to a connection
        that proved one of them, never to whoever takes the name next. Here the keys are stand-ins.
        """,
        """
        from lanchat.history import HistoryStore

        KEYS = {name: bytes([n]) * 32 for n, name in enumerate(["ana", "ben", "cy"])}  # stand-in public keys
        store = HistoryStore(WORK / "lanchat-history.sqlite3")
        store.append(time=1_700_000_000.0, sender="ana", text="hello everyone")
        store.append(time=1_700_000_001.0, sender="ana", text="lunch at 12?", to="ben",
                     sender_owner=KEYS["ana"], recipient_owner=KEYS["ben"])
        store.append(time=1_700_000_002.0, sender="cy", text="a secret for ana", to="ana",
                     sender_owner=KEYS["cy"], recipient_owner=KEYS["ana"])
        records, more = store.replay_for("ben", owner=KEYS["ben"], limit=10)
        for record in records:
            print(f"[History] {record.sender}{' -> ' + record.to if record.to else ''}: {record.text}")
        store.close()
        """,
    )
    nb.md(
        """
        ## The real thing: lanchat's server

        Now lanchat itself, started as a **subprocess** (`python -m lanchat serve --headless`) with its history in
        our scratch folder. We read the line where it announces its port, with a deadline. Our clients speak the
        protocol with `lanchat.protocol.Connection` (notebook 07 takes it apart).
        """
    )
    nb.code(
        """
        import queue

        from lanchat import events as ev
        from lanchat.protocol import Connection, Role


        def start_lanchat(*args):
            proc = subprocess.Popen(
                [sys.executable, "-m", "lanchat", "serve", "--headless", "--host", HOST, "--port", "0", *args],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            lines = queue.Queue()

            def read_output():
                for line in proc.stdout:
                    lines.put(line.rstrip())
                lines.put(None)  # the server ended

            threading.Thread(target=read_output, daemon=True).start()
            said, deadline = [], time.monotonic() + TIMEOUT
            try:
                while (line := lines.get(timeout=max(0.01, deadline - time.monotonic()))) is not None:
                    if "listening on port" in line:
                        return proc, int(line.split("listening on port")[1].split(";")[0]), lines
                    said.append(line)
            except queue.Empty:
                said.append(f"(and nothing more for {TIMEOUT:g} s)")
            proc.kill()
            proc.wait(TIMEOUT)
            raise RuntimeError("lanchat did not start: " + " ".join(said))  # its own words say why

        class Person:
            # a lanchat client: a socket plus the protocol state machine
            def __init__(self, port, name):
                self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
                self.proto = Connection(Role.CLIENT)
                self.events = []
                self.send(ev.Hello(name=name))

            def send(self, event):
                self.sock.sendall(self.proto.send(event))

            def wait_for(self, kind, timeout=TIMEOUT):
                # events up to and including the first `kind` (with a deadline)
                deadline = time.monotonic() + timeout
                while not any(isinstance(e, kind) for e in self.events):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no {kind.__name__} in time; got {self.events}")
                    self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                    try:
                        data = self.sock.recv(65536)
                    except TimeoutError:
                        continue  # nothing yet: the deadline decides, above (a quiet server has not closed)
                    except OSError:
                        data = b""  # a reset: the end, as b"" is
                    self.proto.receive_data(data)
                    self.events += self.proto.events()
                index = next(i for i, e in enumerate(self.events) if isinstance(e, kind))
                taken, self.events = self.events[: index + 1], self.events[index + 1 :]
                return taken

        server_proc, port, server_output = start_lanchat("--history", str(WORK / "real.sqlite3"), "--replay", "10")
        print("lanchat is serving on port", port)
        """
    )
    nb.step(
        """
        Ana joins and talks: two messages, then a `/me` (an action said about herself, `ev.Me`), which the room
        sends live as an `action` frame (`ev.Emote`); she leaves. Ben joins later and gets the room's history
        replayed, each message flagged `history=True` (lanchat's clients print them with a `[History]` prefix).
        The `/me` comes back as a `message` too, with `action=True`, so it reads as the room showed it,
        `* ana waves`, while a client that does not know the flag still shows it as something said before, never
        as an `action` happening now (docs/PROTOCOL.md, "History replay"). In between we look at the journal twice. While ana is still there, her three
        lines are in it, one line each (id, time, sender, recipient, text and the two keys' slots; a room line
        has no keys, so a `/me` puts its mark in the first slot: the bytes `/me`, written in base64, `L21l`):
        written before their echo reached her. The store moves them into SQLite before it next reads or changes
        the database (here when ana leaves: the server notes which messages she has seen), so by ben's replay
        the journal is empty.
        """,
        """
        ana = Person(port, "ana")
        ana.wait_for(ev.Welcome)
        ana.send(ev.Say(text="first!"))
        ana.send(ev.Say(text="anyone here?"))
        ana.send(ev.Me(text="waves and leaves"))
        ana.wait_for(ev.Message)
        ana.wait_for(ev.Message)
        print("ana's /me comes back live as:", ana.wait_for(ev.Emote)[-1])
        journal = WORK / "real.sqlite3.pending"
        print("the journal, ana still here:", journal.read_text().splitlines())
        ana.send(ev.Bye())
        ana.sock.close()

        ben = Person(port, "ben")
        for event in ben.wait_for(ev.Welcome) + ben.wait_for(ev.HistoryEnd):
            if isinstance(event, ev.Message):
                line = f"* {event.sender} {event.text}" if event.action else f"{event.sender}: {event.text}"
                print(f"{'[History] ' if event.history else ''}{line}")
        print("after the replay, the journal holds", len(journal.read_bytes()), "bytes")
        """,
    )
    nb.step(
        """
        A client crashes: `cy` is a real `lanchat connect` process, killed without warning. Ben is told that cy
        left, with the reason `lost` (not `quit`), and the server carries on. (cy's identity key, made on first
        use, goes in our scratch folder with `--identity`, not in your own data folder.)
        """,
        """
        cy = subprocess.Popen(
            [sys.executable, "-m", "lanchat", "connect", HOST, str(port), "--name", "cy", "--plain", "--identity", str(WORK / "cy.key")],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        joined = ben.wait_for(ev.Joined)[-1]
        print("ben sees:", joined.name, "joined")
        cy.kill()  # a crash: no goodbye
        cy.wait(TIMEOUT)
        left = ben.wait_for(ev.Left)[-1]
        print("ben sees:", left.name, "left, reason:", left.reason)
        """,
    )
    nb.step(
        """
        Finally the shutdown notice: Ctrl-C in the server's terminal sends it **SIGINT** (notebook 04a showed it), `kill PID` sends
        SIGTERM; lanchat's server treats both the same way: it sends a `shutdown` event to everyone before closing.
        Here we send SIGINT, as Ctrl-C would. The server gives
        everyone up to 2 seconds to read the notice and close; ben closes as soon as he has read it, so the server
        exits at once.
        """,
        """
        if os.name == "posix":
            server_proc.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal would send
        else:
            server_proc.terminate()
        if os.name == "posix":
            notice = ben.wait_for(ev.Shutdown)[-1]
            print("ben got:", notice)
        ben.sock.close()  # read, and closed: the server need not wait for him
        print("server exit status:", server_proc.wait(TIMEOUT))
        """,
    )
    nb.md(
        """
        lanchat's notice says one thing more than seed 003's: `final=False`. A stopped server may be **restarted**
        in a minute (the teacher fixes a setting, the machine reboots), so on a `final=False` notice lanchat's
        full-screen client keeps its screen, says it is waiting, and rejoins by itself once the same `lanchat
        serve` runs again: 25 students need not type `connect` again, and the restarted server replays the
        history from its file. Only a host who ends the chat from their own screen (`/q`, Ctrl-C in the chat)
        sends `final=True`: the lesson is over and every client ends. A headless server like this one has no
        host's screen, so a signal never means "over" (README, "Staying in the room").
        """
    )
    nb.exercise(
        "04.2",
        "save atomically",
        """
        Write `save_atomically(path, data)`: save `data` as JSON at `path` so that **whatever happens** (the
        process killed in the middle, a reader opening the file at the same moment) the file holds either the old
        version or the new one, whole. Write a temporary file **in the same folder**, flush it, `os.fsync` it,
        then `os.replace` it over `path`. Leave no temporary file behind after a successful save.

        The check crashes a real process in the middle of your save: a child runs your function with a limit on
        how much it may write (`resource.RLIMIT_FSIZE`), so the system kills it halfway through 200 KB, exactly
        like a crash (Linux and macOS). It also reads the file over and over while you save, 200 times.
        """,
        """
        def save_atomically(path, data):
            return NotImplemented  # your code here
        """,
        """
        import inspect

        from selfcheck import attempt

        check_dir = Path(tempfile.mkdtemp(dir=WORK))
        target = check_dir / "history.json"
        old = {"ben": [{"from": "ana", "text": "the old version"}]}
        target.write_text(json.dumps(old))
        if attempt("save_atomically(path, data)", save_atomically, str(target), old) is NotImplemented:
            print("Exercise 04.2 not attempted yet: write save_atomically above, run it, then run this cell again.")
        else:
            new = {"ben": [{"from": "ana", "text": "the new version"}]}
            attempt("save_atomically(path, data)", save_atomically, str(target), new)
            assert json.loads(target.read_text()) == new, "after a save the file should hold the new data"
            leftovers = sorted(p.name for p in check_dir.iterdir() if p.name != "history.json")
            assert not leftovers, f"after a successful save these are left in the folder: {leftovers}"

            try:
                import resource
            except ImportError:
                resource = None
            if resource is None:
                print("(the crash test needs Linux or macOS; skipped)")
            else:
                crash = (
                    "import json, os, resource, sys, tempfile\\n"
                    "from pathlib import Path\\n"
                    + inspect.getsource(save_atomically)
                    + "\\nbig = {'ben': [{'from': 'ana', 'text': 'x' * 100}] * 2000}  # about 200 KB\\n"
                    "resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))  # writing past 50 KB kills us\\n"
                    "save_atomically(sys.argv[1], big)\\n"
                )
                child = subprocess.run([sys.executable, "-B", "-c", crash, str(target)], capture_output=True, timeout=TIMEOUT)
                assert child.returncode != 0, "the child should have been killed half way through the save"
                try:
                    survived = json.loads(target.read_text())
                except ValueError:
                    survived = "a half-written file: " + target.read_text()[:40]
                assert survived == new, (
                    f"a crash in the middle of your save left {str(survived)[:60]!r}: the old file must stay whole "
                    "until the new one is complete (write a temporary file, then os.replace)"
                )

            torn = []

            def reader():
                for _ in range(2000):
                    try:
                        json.loads(target.read_text())
                    except ValueError:
                        torn.append(1)
                    except FileNotFoundError:
                        torn.append(1)  # a moment when the file did not exist is as bad

            reading = threading.Thread(target=reader)
            reading.start()
            for n in range(200):
                save_atomically(str(target), {"ben": [{"from": "ana", "text": str(n) * 500}]})
            reading.join(TIMEOUT)
            assert not torn, f"a reader saw a missing or half-written file {len(torn)} times while you saved"
            print("✓ Exercise 04.2 correct: a crash mid-save leaves the old version, readers always see a whole file")
        """,
        """
        def save_atomically(path, data):
            path = Path(path)
            temp = path.with_name(path.name + ".tmp")  # same folder: os.replace cannot cross file systems
            with open(temp, "w", encoding="utf-8") as f:
                json.dump(data, f, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())  # on the disk before the rename
            os.replace(temp, path)  # atomic: readers see the old file or the new one
        """,
        wrong=[
            """
            def save_atomically(path, data):
                with open(path, "w", encoding="utf-8") as f:  # empties the file, then writes: not atomic
                    json.dump(data, f)
            """,
            """
            def save_atomically(path, data):
                import shutil

                temp = str(path) + ".tmp"
                with open(temp, "w", encoding="utf-8") as f:
                    json.dump(data, f)
                shutil.copyfile(temp, path)  # copying writes the target in place: not atomic either
                os.remove(temp)
            """,
            """
            def save_atomically(path, data):
                temp = str(path) + ".tmp"
                with open(temp, "w", encoding="utf-8") as f:
                    json.dump(data, f)
                # forgot os.replace(temp, path)
            """,
        ],
    )
    nb.step(
        """
        ## Clean up

        The server is stopped and the scratch folder is deleted.
        """,
        """
        if server_proc.poll() is None:
            server_proc.kill()
        workdir.cleanup()
        print("done; scratch folder removed:", not WORK.exists())
        """,
    )
    nb.md("**Next:** notebook 05 sends a file in chunks and checks it arrived intact.")
    return nb
