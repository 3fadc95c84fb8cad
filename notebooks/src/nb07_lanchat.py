"""Notebook 07: lanchat's own protocol (frames, events, the state machine, the room) and a real server."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("07_lanchat.ipynb", "Inside lanchat: protocol, room, and a real server")
    nb.md(
        """
        # 07 · Inside lanchat: the protocol, the room, and a real server

        Everything from notebooks 01 to 06 comes together in lanchat. Its design keeps the parts that **decide**
        apart from the parts that **do I/O**:

        * `lanchat.wire`: framing (notebook 02): bytes in, payloads out;
        * `lanchat.events`: every message on the wire as a small frozen dataclass;
        * `lanchat.protocol.Connection`: one connection's **state machine**: `receive_data(bytes)`, then
          `events()`; `send(event)` returns the bytes to write. It never touches a socket;
        * `lanchat.room.Room`: who is in the room and who receives what; it returns **actions**, never sends;
        * `lanchat.hub.Hub` (its parts in `lanchat.hub_*`) and `lanchat.outbox.Outbox`: the server's policy (one `Connection` per person,
          the room's actions carried out, history, pacing, deadlines) and its output queues, still without a
          socket;
        * `lanchat.server.Server`: the one loop (notebook 03's `selectors` loop; on Linux it calls `epoll`
          directly, `lanchat.poller`) that moves bytes between sockets and the hub.

        Because the middle ones never touch a socket, we can try them right here, then start a real server.
        The full rules are in `docs/PROTOCOL.md`.
        """
    )
    nb.step(
        """
        ## Settings
        """,
        """
        import socket
        import subprocess
        import sys
        import threading
        import time

        from lanchat import events as ev
        from lanchat.protocol import (
            TRANSITIONS,
            Connection,
            ConnectionClosed,
            LocalProtocolError,
            RemoteProtocolError,
            Role,
        )
        from lanchat.wire import encode_json

        HOST = "127.0.0.1"
        PORT = 0  # any free port: the servers in this notebook are only reached from inside it
        TIMEOUT = 10.0
        """,
    )
    nb.step(
        """
        ## Events: one dataclass per message type

        Each event becomes one JSON object with a `"type"`, and that object travels in one frame.
        `event_from_json` checks the shape of a received object and builds the event, or says what is wrong.
        """,
        """
        say = ev.Say(text="héllo")
        print(say, "->", say.to_json(), "->", encode_json(say.to_json()))
        print(ev.event_from_json({"type": "whisper", "to": "ben", "text": "hi"}, ev.CLIENT_EVENTS))
        try:
            ev.event_from_json({"type": "say"}, ev.CLIENT_EVENTS)
        except ev.EventShapeError as exc:
            print("refused:", exc.code, "-", exc)
        """,
    )
    nb.step(
        """
        ## The state machine

        A connection is in one of four states: `handshake` (before the server's welcome), `open` (chatting),
        `leaving` (the client said `bye`; it sends nothing more but still reads what the server sent before the
        `bye` reached it) and `closed`. The `TRANSITIONS` table says, for each side and state, which events may be
        sent and which state follows. Anything not listed is refused. Two pairs stay in `handshake`: a client with
        an identity key gets a `challenge` and answers with `auth` before its welcome (notebook 17 takes that
        apart).
        """,
        """
        for (role, state), allowed in TRANSITIONS.items():
            moves = ", ".join(f"{kind} -> {after.value}" for kind, after in allowed.items())
            print(f"{role.value:6} in {state.value:9}: {moves}")
        """,
    )
    nb.step(
        """
        ### Two connections talking without any socket

        A client-side and a server-side `Connection`: whatever one's `send` returns, we hand to the other's
        `receive_data`. That is all a socket would do. Bytes in, events out.
        """,
        """
        client = Connection(Role.CLIENT)
        server = Connection(Role.SERVER)

        server.receive_data(client.send(ev.Hello(name="ana")))
        print("server received:", server.events(), "| states:", client.state.value, server.state.value)

        client.receive_data(server.send(ev.Welcome(name="ana", mode="duplex", members=("ana",))))
        print("client received:", client.events(), "| states:", client.state.value, server.state.value)
        """,
    )
    nb.step(
        """
        ### Mistakes, and the end of the stream

        * **Our** mistake (sending what the state does not allow) raises `LocalProtocolError`: a bug in our
          program.
        * A peer's **recoverable** mistake (a message before `hello`, bad JSON in a good frame) comes out of
          `events()` as `Invalid`, so the server can answer with an error and carry on.
        * A peer's stream that **cannot be framed** at all raises `RemoteProtocolError`: the connection ends.
        * And `receive_data(b"")` means the peer closed: a `ConnectionClosed` event.
        """,
        """
        try:
            Connection(Role.CLIENT).send(ev.Say(text="hi"))  # before the handshake
        except LocalProtocolError as exc:
            print("LocalProtocolError:", exc)

        fresh = Connection(Role.SERVER)
        fresh.receive_data(encode_json({"type": "say", "text": "hi"}))
        print("Invalid:", fresh.events())

        try:
            Connection(Role.SERVER).receive_data(b"\\xff\\xff\\xff\\xff garbage")
        except RemoteProtocolError as exc:
            print("RemoteProtocolError:", exc.code, "-", exc)

        server.receive_data(b"")
        print("after b'':", server.events(), server.state.value)
        """,
    )
    nb.step(
        """
        ## The room: decisions as actions

        `Room.handle(connection_id, event)` returns a list of actions: `Send` (one event to one connection),
        `Broadcast` (one already-encoded frame to several) and `Close`. The room stamps each message with the
        sender's registered name and the time; a client's claim of who it is is never trusted. Other actions
        ask the server for work the room cannot do without I/O (`lanchat.actions` lists them all): below,
        `ShowOffers(to=1)` asks it to tell the newcomer which files are on offer (notebook 05), and in a room
        with a history, `Keep` asks it to store a message before anyone receives it (notebook 04b).

        Look at the whisper below: ana writes to `BEN` (a name is matched ignoring case) and the room answers
        with a `Broadcast` of one `direct` frame to ben **and** to ana, so ana's screen shows the copy the
        server stamped (docs/PROTOCOL.md, 3.1.3). `notice=True` marks a join or leave notice, which the server
        may hold a moment to write together with the next (a whole class joining at once costs a few writes
        per person, not one per join).
        """,
        """
        from lanchat.room import Broadcast, Room, Send

        room = Room(clock=lambda: 1_700_000_000.0)
        for action in room.handle(1, ev.Hello(name="ana")) + room.handle(2, ev.Hello(name="ben")):
            print(action)
        print()
        for action in room.handle(1, ev.Whisper(to="BEN", text="psst")) + room.handle(2, ev.Say(text="  ")):
            print(action)
        """,
    )
    nb.step(
        """
        ### A whole server loop without sockets

        Connections, a room, and a loop that performs the actions: that is lanchat's server minus the sockets.
        Each "wire" here is a Python list of bytes.
        """,
        """
        class MemoryChat:
            def __init__(self):
                self.room = Room(clock=lambda: 1_700_000_000.0)
                self.server_side, self.client_side, self.seen = {}, {}, {}

            def join(self, cid, name):
                self.server_side[cid] = Connection(Role.SERVER)
                self.client_side[cid] = Connection(Role.CLIENT)
                self.seen[cid] = []
                self.client_says(cid, ev.Hello(name=name))

            def client_says(self, cid, event):
                wire = self.client_side[cid].send(event)  # client -> bytes
                self.server_side[cid].receive_data(wire)  # bytes -> server
                for incoming in self.server_side[cid].events():
                    for action in self.room.handle(cid, incoming):  # the room decides
                        self.perform(action)  # the loop does

            def perform(self, action):
                if isinstance(action, Send):
                    self.deliver(action.to, self.server_side[action.to].send(action.event))
                elif isinstance(action, Broadcast):
                    for cid in action.to:
                        self.deliver(cid, action.frame)  # the same bytes for everyone

            def deliver(self, cid, wire):
                self.client_side[cid].receive_data(wire)
                self.seen[cid] += self.client_side[cid].events()

        chat = MemoryChat()
        chat.join(1, "ana")
        chat.join(2, "ben")
        chat.client_says(1, ev.Say(text="hi ben"))
        chat.client_says(2, ev.Whisper(to="ana", text="hi ana, just you"))
        for cid, events in chat.seen.items():
            print(cid, [type(e).__name__ for e in events])
        """,
    )
    nb.md(
        """
        ## A real lanchat server, as a subprocess

        `python -m lanchat serve --headless` runs a server that does not chat itself; it only relays and logs.
        `--port 0 --host 127.0.0.1` picks a free port on this machine only; `--no-history` keeps nothing on disk.
        We read the line where it announces its port (with a deadline), and our clients speak the protocol over
        real sockets using `Connection`. (Run again, the cell first stops the server it started before.)
        """
    )
    nb.code(
        """
        import queue

        earlier = globals().get("proc")  # this cell ran before? then stop that server first
        if earlier is not None and earlier.poll() is None:
            earlier.terminate()
            earlier.wait(TIMEOUT)
        proc = subprocess.Popen(
            [sys.executable, "-m", "lanchat", "serve", "--headless", "--port", "0", "--host", HOST, "--no-history"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        server_lines = queue.Queue()
        threading.Thread(target=lambda: [server_lines.put(line.rstrip()) for line in proc.stdout], daemon=True).start()

        def server_line_with(words, timeout=TIMEOUT):
            # the server's next output line containing `words` (queue.Empty after the deadline)
            deadline = time.monotonic() + timeout
            while True:
                line = server_lines.get(timeout=max(0.01, deadline - time.monotonic()))
                if words in line:
                    return line

        banner = server_line_with("listening on port")
        print(banner)
        port = int(banner.split("listening on port")[1].split(";")[0])
        """
    )
    nb.step(
        """
        A small client: a socket, a `Connection`, and `expect(kind)` which reads (with a deadline) until an
        event of that kind arrives, keeping the others for later. Nothing arriving in time raises
        `TimeoutError`, and the connection stays usable: a quiet room is not a closed one.
        """,
        """
        class Client:
            def __init__(self, address, name):
                self.sock = socket.create_connection(address, timeout=TIMEOUT)
                self.proto = Connection(Role.CLIENT)
                self.inbox = []
                self.send(ev.Hello(name=name))
                self.welcome = self.expect(ev.Welcome)

            def send(self, event):
                self.sock.sendall(self.proto.send(event))

            def expect(self, kind, timeout=TIMEOUT):
                deadline = time.monotonic() + timeout
                while True:
                    for i, event in enumerate(self.inbox):
                        if isinstance(event, kind):
                            del self.inbox[: i + 1]
                            return event
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no {kind.__name__} within {timeout:g} s; got {self.inbox}")
                    self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                    try:
                        data = self.sock.recv(65536)
                    except TimeoutError:
                        continue  # nothing yet: the deadline above decides (a quiet room is not a closed one)
                    except OSError:
                        data = b""  # reset: the connection is over
                    self.proto.receive_data(data)
                    self.inbox += self.proto.events()

            def close(self):
                self.sock.close()

        ana = Client((HOST, port), "ana")
        ben = Client((HOST, port), "ben")
        print("ana:", ana.welcome)
        print("ben:", ben.welcome)
        print("ana sees:", ana.expect(ev.Joined))
        print("server log:", server_line_with("ben joined"))
        """,
    )
    nb.step(
        """
        The real server's welcome carries more than the hand-made one above. `resume` is a secret for rejoining
        after a lost connection; `flood_burst=10, flood_rate=3.0` is this person's allowance: 10 messages at
        once, then 3 a second. Past it a message is refused with a `slow-down` error, so lanchat's own client
        paces what it sends to this allowance (docs/PROTOCOL.md, "Abuse limits" and "Rejoining after a lost
        connection"). `ping=True` says the server answers a `ping` (below: "Is the room still there?").

        Talking: a message for the room (everyone, the sender too, gets the same server-stamped line), a direct
        message, the roster, and an empty message that the server refuses with an error.
        """,
        """
        ana.send(ev.Say(text="hello room"))
        print("ben sees:", ben.expect(ev.Message))
        print("ana sees:", ana.expect(ev.Message))
        ben.send(ev.Whisper(to="ana", text="hi ana"))
        print("ana sees:", ana.expect(ev.Direct))
        ben.send(ev.Who())
        print("ben sees:", ben.expect(ev.Roster))
        ben.send(ev.Say(text="   "))
        print("ben sees:", ben.expect(ev.Error))
        """,
    )
    nb.step(
        """
        ## Is the room still there? `ping` and `pong`

        A chat room can be quiet for minutes. Is it quiet, or gone? Notebook 09 showed that TCP itself says
        nothing for hours, and that keepalive probes notice a **dead link**. They never notice a server whose
        **process is stopped** (the teacher pressed Ctrl-Z in its terminal, or `kill -STOP`): its kernel is
        alive and answers the probes for it. So lanchat's client asks the program itself. A server whose
        `welcome` says `ping=True` answers each `ping` frame with a `pong`, in order with everything else it
        sends (docs/PROTOCOL.md, "Liveness"). On a live room the answer takes about a millisecond:
        """,
        """
        import signal

        print("ana's welcome says the server answers pings:", ana.welcome.ping)
        asked = time.monotonic()
        ana.send(ev.Ping())
        print("ana sees:", ana.expect(ev.Pong), f"after {(time.monotonic() - asked) * 1000:.1f} ms")
        """,
    )
    nb.step(
        """
        **Predict, then run (P07.1).** We stop the server's process with SIGSTOP, as Ctrl-Z would. (a) Does a new
        `connect()` to its port still succeed? (b) ana sends a `ping`: does a `pong` come within 1 s? (c) We let
        the process go on (SIGCONT). What does ana get, and does she have to connect again?
        """,
        """
        if not hasattr(signal, "SIGSTOP"):
            print("this system has no SIGSTOP (Windows): this step needs Linux or macOS")
        else:
            proc.send_signal(signal.SIGSTOP)
            try:
                with socket.create_connection((HOST, port), timeout=2):
                    print("(a) connect() to the stopped server succeeded: its kernel did the handshake")
                ana.send(ev.Ping())
                try:
                    print("(b) ana sees:", ana.expect(ev.Pong, timeout=1.0))
                except TimeoutError:
                    print("(b) no pong within 1 s: the room does not answer")
            finally:
                proc.send_signal(signal.SIGCONT)  # always: a stopped server would hang every later cell
            print("(c) after SIGCONT ana sees:", ana.expect(ev.Pong), "on the same connection")
        """,
    )
    nb.step(
        """
        The answer came late, on the same connection: nothing was lost. That is why lanchat's client keeps the
        connection while a room is silent, says so on its status line, and goes on when the room answers. When
        to ask, and when to say the room is silent, is a pure rule with an injected clock,
        `lanchat.liveness.Liveness` (the client loop tells it when bytes came; it answers when to ping). Here
        it is on a pretend clock: quiet for 15 s, one ping; no byte 5 s after that, the room has not answered;
        a byte at last, and it answers again. (Notebook 09's lab 2 wrote the server-side cousin: ping the
        silent clients, drop the vanished ones.)
        """,
        """
        from lanchat.liveness import Liveness, answers_again_line, silent_line

        now = [0.0]  # seconds since ana's welcome, on a pretend clock
        watch = Liveness(clock=lambda: now[0])
        watch.welcomed(answers_pings=ana.welcome.ping)
        for moment in (10.0, 15.0, 16.0, 20.0, 21.0):
            now[0] = moment
            ping, silent = watch.ping_due(), watch.newly_silent()
            print(f"t={moment:4.0f} s  send a ping now? {ping!s:5}  the room newly silent? {silent}")
            if silent:
                print("          --plain prints:", silent_line(watch.unanswered_for()))
        now[0] = 42.0
        print("t=  42 s  a byte comes:", answers_again_line(watch.heard()))
        """,
    )
    nb.step(
        """
        Not a lanchat client at all? Someone points a web browser at the port: the server recognises HTTP and
        answers with a short, polite text instead of garbage.
        """,
        """
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as browser:
            browser.sendall(b"GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n")
            reply = b""
            while chunk := browser.recv(4096):
                reply += chunk
        print(reply.decode())
        """,
    )
    nb.step(
        """
        Ana leaves with `bye` (ben is told: reason `quit`), then we stop the server with SIGTERM, as `kill` or
        a service manager would: ben receives the `shutdown` notice before the connection closes. Its
        `final=False` says the server may come back (a restart): lanchat's full-screen client then waits and
        rejoins by itself (`--plain` ends at the notice); only a host who ends the chat from their screen sends `final=True` (notebook 04b).
        """,
        """
        ana.send(ev.Bye())
        print("ben sees:", ben.expect(ev.Left))
        ana.close()
        proc.terminate()
        print("ben sees:", ben.expect(ev.Shutdown))
        print("and then:", ben.expect(ConnectionClosed))
        ben.close()
        print("server exit status:", proc.wait(TIMEOUT))
        """,
    )
    nb.md(
        """
        ## The same server in a thread: `lanchat.server.Server`

        At its heart the subprocess above runs this: a listening socket from `lanchat.transport.listen`, a
        `Room`, and a `Server` whose `serve_forever()` loop we run here in a background thread. This room is in
        **turn** mode (seed 001's rule, enforced by the room): the first to join holds the turn, and speaking out
        of turn is refused. `request_shutdown()` is safe to call from another thread; `stopped` is set when the
        loop has finished.
        """
    )
    nb.code(
        """
        from lanchat.server import Server
        from lanchat.transport import Endpoint, listen

        listener = listen(Endpoint(host=HOST, port=PORT))
        address = listener.getsockname()[:2]
        thread_server = Server([listener], Room(mode="turn"))
        loop = threading.Thread(target=thread_server.serve_forever, daemon=True)
        loop.start()

        cy, dee = Client(address, "cy"), Client(address, "dee")
        print("mode:", cy.welcome.mode, "| turn:", cy.welcome.turn)
        dee.send(ev.Say(text="me first"))
        print("dee sees:", dee.expect(ev.Error))
        cy.send(ev.Say(text="my turn, then yours"))
        print("dee sees:", dee.expect(ev.Message).text, "| then:", dee.expect(ev.Turn))
        """
    )
    nb.exercise(
        "07.1",
        "a minimal lanchat client",
        """
        Write `say_once(address, name, text, timeout=2.0)`: connect to the lanchat server at `address`, do the
        handshake with a `Connection(Role.CLIENT)`, say `text`, and return the `ev.Message` the server sends back
        for it (lanchat echoes your own message to you, stamped). Then send `ev.Bye()` and close the socket.

        Never wait longer than `timeout` seconds for anything: if the echo does not come in time, close the
        socket and raise `TimeoutError` (a server that stopped answering must not freeze your program).

        The check does not trust your return value alone: it runs your function against a stand-in server that
        records what **it** saw on the wire (your hello, your message, your goodbye, and your socket closing), and
        against a server that never answers.
        """,
        """
        def say_once(address, name, text, timeout=2.0):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt


        class StandInServer:
            # one connection, seen from the server's side: it records every event and how the connection ended
            def __init__(self, echo=True, patience=2.0):
                self.listener = socket.create_server((HOST, 0))
                self.listener.settimeout(0.1)  # between accepts it looks at self.done
                self.address = self.listener.getsockname()[:2]
                self.echo, self.patience = echo, patience
                self.heard, self.ending = [], "never connected"
                self.done = threading.Event()
                self.thread = threading.Thread(target=self.serve, daemon=True)
                self.thread.start()

            def serve(self):
                proto = Connection(Role.SERVER)
                while True:  # a connection already made is always accepted before giving up
                    try:
                        conn, _ = self.listener.accept()
                        break
                    except TimeoutError:
                        if self.done.is_set():
                            return
                with conn:
                    conn.settimeout(self.patience)  # how long a silent, still-open client is given
                    try:
                        while True:
                            proto.receive_data(conn.recv(65536))
                            for event in proto.events():
                                if isinstance(event, ConnectionClosed):
                                    self.ending = "closed"
                                    return
                                self.heard.append(event)
                                if isinstance(event, ev.Hello):
                                    welcome = ev.Welcome(name=event.name, mode="duplex", members=(event.name,))
                                    conn.sendall(proto.send(welcome))
                                elif isinstance(event, ev.Say) and self.echo:
                                    echo = ev.Message(sender=self.heard[0].name, text=event.text, time=time.time())
                                    conn.sendall(proto.send(echo))
                    except TimeoutError:
                        self.ending = f"still open after {self.patience:g} s of silence"
                    except ConnectionResetError:
                        self.ending = "reset"

            def finish(self):
                self.done.set()
                self.thread.join(self.patience + 2)
                self.listener.close()
                return [type(event).__name__ for event in self.heard]


        first = StandInServer()
        try:
            got = attempt("say_once(...)", say_once, first.address, "eve", "hello from eve", 2.0, seconds=4)
        finally:
            seen = first.finish()
        if got is NotImplemented:
            print("Exercise 07.1 not attempted yet: write say_once above, run it, then run this cell again.")
        else:
            assert isinstance(got, ev.Message), f"return the ev.Message event, not {type(got).__name__}: {got!r}"
            assert got.sender == "eve" and got.text == "hello from eve", f"that is not your message: {got}"
            assert seen[:2] == ["Hello", "Say"], f"the server saw {seen}: first Hello, then Say"
            assert seen[2:] == ["Bye"], f"the server saw {seen}: say goodbye (ev.Bye()) after the echo"
            assert first.ending == "closed", f"after your goodbye the server saw your connection {first.ending}: close it"

            silent = StandInServer(echo=False)

            def against_a_silent_server():
                try:
                    return say_once(silent.address, "eve", "anyone?", 1.0)
                except TimeoutError:
                    return "gave up"

            try:
                outcome = attempt("say_once(...) with a server that never echoes", against_a_silent_server, seconds=4)
            finally:
                seen = silent.finish()
            assert outcome == "gave up", f"with no echo your function returned {outcome!r}: raise TimeoutError"
            assert silent.ending in ("closed", "reset"), (
                f"after giving up, the server saw your connection {silent.ending}: close the socket"
            )
            print("✓ Exercise 07.1 correct: you wrote a lanchat client, and it gives up politely")
        """,
        """
        def say_once(address, name, text, timeout=2.0):
            proto = Connection(Role.CLIENT)
            deadline = time.monotonic() + timeout
            with socket.create_connection(address, timeout=timeout) as sock:
                sock.sendall(proto.send(ev.Hello(name=name)))
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no echo from the server within {timeout} s")
                    sock.settimeout(left)
                    proto.receive_data(sock.recv(65536))  # raises TimeoutError when nothing comes in time
                    for event in proto.events():
                        if isinstance(event, ev.Welcome):
                            sock.sendall(proto.send(ev.Say(text=text)))
                        elif isinstance(event, ev.Message) and event.sender == name and event.text == text:
                            sock.sendall(proto.send(ev.Bye()))
                            return event
                        elif isinstance(event, ConnectionClosed):
                            raise ConnectionError("the server closed the connection")
        """,
        wrong=[
            """
            def say_once(address, name, text, timeout=2.0):
                proto = Connection(Role.CLIENT)
                with socket.create_connection(address, timeout=timeout) as sock:
                    sock.sendall(proto.send(ev.Hello(name=name)))
                    proto.receive_data(sock.recv(65536))
                    return proto.events()[0]  # the welcome, not the message
            """,
            """
            def say_once(address, name, text, timeout=2.0):
                sock = socket.create_connection(address)  # no timeout, no goodbye, never closed
                proto = Connection(Role.CLIENT)
                sock.sendall(proto.send(ev.Hello(name=name)))
                while True:
                    proto.receive_data(sock.recv(65536))
                    for event in proto.events():
                        if isinstance(event, ev.Welcome):
                            sock.sendall(proto.send(ev.Say(text=text)))
                        elif isinstance(event, ev.Message):
                            return event
            """,
            """
            def say_once(address, name, text, timeout=2.0):
                proto = Connection(Role.CLIENT)
                with socket.create_connection(address) as sock:  # says goodbye, but waits forever for the echo
                    sock.sendall(proto.send(ev.Hello(name=name)))
                    while True:
                        proto.receive_data(sock.recv(65536))
                        for event in proto.events():
                            if isinstance(event, ev.Welcome):
                                sock.sendall(proto.send(ev.Say(text=text)))
                            elif isinstance(event, ev.Message):
                                sock.sendall(proto.send(ev.Bye()))
                                return event
            """,
        ],
    )
    nb.exercise(
        "07.2",
        "is the room still there?",
        """
        Write `still_there(sock, proto, timeout)`. `sock` is a connection to a lanchat room, already joined (its
        welcome said `ping=True`), and `proto` its `Connection(Role.CLIENT)`. Send a `ping` and return `True` as
        soon as the room answers (its `pong`; any other frame that comes first says it is there too), or `False`
        if no frame comes within `timeout` seconds, or if the room closed the connection (`b""`: gone, not an
        answer).

        Never wait longer than `timeout`, and do **not** close the socket when no answer comes: a stopped room
        goes on later, on the same connection, as you saw above.

        The check plays three rooms: one that answers, one that has stopped (it reads your ping and says
        nothing), and one that closes the connection. Each one notes what it received from you.
        """,
        """
        def still_there(sock, proto, timeout):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt


        def a_room(on_ping):
            # a stand-in room on a free port: welcomes one client, then on its ping "pong", "silent" or "close"
            listener = socket.create_server((HOST, 0))
            listener.settimeout(TIMEOUT)
            seen = {"pings": 0, "ended": False}

            def serve():
                proto = Connection(Role.SERVER)
                with listener, listener.accept()[0] as conn:
                    conn.settimeout(TIMEOUT)
                    try:
                        while data := conn.recv(65536):
                            proto.receive_data(data)
                            for event in proto.events():
                                if isinstance(event, ev.Hello):
                                    conn.sendall(proto.send(ev.Welcome(name=event.name, mode="duplex",
                                                                       members=(event.name,), ping=True)))
                                elif isinstance(event, ev.Ping):
                                    seen["pings"] += 1
                                    if on_ping == "pong":
                                        conn.sendall(proto.send(ev.Pong()))
                                    elif on_ping == "close":
                                        return
                    except OSError:
                        pass
                    seen["ended"] = True

            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            return listener.getsockname()[:2], seen, thread


        def ask(on_ping, timeout):
            # joins a stand-in room, then asks your still_there; returns (its answer, the room's notes, socket open?)
            address, seen, thread = a_room(on_ping)
            sock = socket.create_connection(address, timeout=TIMEOUT)
            proto = Connection(Role.CLIENT)
            sock.sendall(proto.send(ev.Hello(name="eve")))
            while not any(isinstance(event, ev.Welcome) for event in proto.events()):
                proto.receive_data(sock.recv(65536))
            try:
                answer = attempt(f"still_there(...) in a room that does '{on_ping}' on a ping", still_there, sock,
                                 proto, timeout, seconds=timeout + 2.5)
                still_open = sock.fileno() != -1
            finally:
                sock.close()
                thread.join(TIMEOUT)
            return answer, seen, still_open


        answer, seen, still_open = ask("pong", 2.0)
        if answer is NotImplemented:
            print("Exercise 07.2 not attempted yet: write still_there above, run it, then run this cell again.")
        else:
            assert seen["pings"] == 1, f"the room received {seen['pings']} pings from you: send one ev.Ping()"
            assert answer is True, f"a room that answers your ping with a pong: you returned {answer!r}, expected True"
            started = time.monotonic()
            answer, seen, still_open = ask("silent", 0.5)
            took = time.monotonic() - started
            assert seen["pings"] == 1, f"the stopped room received {seen['pings']} pings from you: send one"
            assert answer is False, f"a room that says nothing: you returned {answer!r}, expected False"
            assert took < 1.5, f"with timeout=0.5 you waited {took:.1f} s: give up after timeout seconds"
            assert still_open, (
                "you closed the socket of a room that only did not answer in time: keep it open (a stopped room "
                "goes on later, on the same connection)"
            )
            answer, seen, still_open = ask("close", 2.0)
            assert answer is False, (
                f"a room that closed the connection: you returned {answer!r}, expected False (b'' means it is gone)"
            )
            print("✓ Exercise 07.2 correct: you ask the room, and you tell a silent room from a gone one")
        """,
        """
        def still_there(sock, proto, timeout):
            sock.sendall(proto.send(ev.Ping()))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    return False  # no answer in time; the connection stays open
                if not data:
                    return False  # b"": the room closed the connection
                proto.receive_data(data)
                if proto.events():
                    return True  # the pong, or any frame before it: the room is there
            return False
        """,
        wrong=[
            """
            def still_there(sock, proto, timeout):  # waits for bytes, but never asks
                sock.settimeout(timeout)
                try:
                    return bool(sock.recv(65536))
                except TimeoutError:
                    return False
            """,
            """
            def still_there(sock, proto, timeout):  # asks, then waits with no deadline
                sock.settimeout(None)
                sock.sendall(proto.send(ev.Ping()))
                proto.receive_data(sock.recv(65536))
                return any(isinstance(event, ev.Pong) for event in proto.events())
            """,
            """
            def still_there(sock, proto, timeout):  # a silent room taken for a gone one: the socket closed
                sock.sendall(proto.send(ev.Ping()))
                sock.settimeout(timeout)
                try:
                    data = sock.recv(65536)
                except OSError:
                    sock.close()
                    return False
                return bool(data)
            """,
            """
            def still_there(sock, proto, timeout):  # any recv at all counts, even b"" (the room gone)
                sock.sendall(proto.send(ev.Ping()))
                sock.settimeout(timeout)
                try:
                    sock.recv(65536)
                except TimeoutError:
                    return False
                return True
            """,
        ],
    )
    nb.step(
        """
        ## Clean up

        Stop the threaded server (its clients get the shutdown notice), and check nothing is left running. The
        server gives its clients up to 2 seconds to read the notice and close; ours close once cy has read it,
        so the loop ends at once.
        """,
        """
        thread_server.request_shutdown("the notebook is done")
        print("cy sees:", cy.expect(ev.Shutdown))
        cy.close()
        dee.close()
        assert thread_server.stopped.wait(TIMEOUT)
        loop.join(TIMEOUT)
        assert proc.poll() is not None and not loop.is_alive()
        print("everything stopped")
        """,
    )
    nb.md(
        """
        **Where next?** Run `python -m lanchat serve` in a terminal and `python -m lanchat connect` in another
        (or on your neighbour's laptop). Read `docs/PROTOCOL.md`, then write your own client in any language:
        section 10 shows a minimal one.
        """
    )
    return [nb]
