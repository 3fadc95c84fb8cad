"""Notebook 15: how lanchat's client waits on the keyboard and the socket at once, seen through a terminal emulator."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("15_keyboard_and_socket.ipynb", "Keyboard and socket at once: lanchat's client loop")
    nb.md(
        """
        # 15 · Keyboard and socket at once: how lanchat's client waits

        Pair 001's client does one thing at a time: it waits for you to type, sends, then waits for the reply. A
        chat client must show a friend's message **while you are still typing**. Notebook 03 did that with a
        second thread; lanchat's client uses **one `selectors` loop** over two things: the socket and the
        keyboard (the terminal is a file descriptor too). We build a toy version, then watch the real client in a
        **pseudo-terminal**, reading its screen with the terminal emulator `pyte`, as a person would see it.

        Needs Python 3.11, Linux or macOS (`selectors` on a terminal, pseudo-terminals and lanchat's client are
        Unix things; on Windows, run it inside WSL). `pyte` and `ptyprocess` (with `pexpect`) come with
        `requirements.txt`.
        """
    )
    nb.step(
        """
        ## Settings
        """,
        """
        import inspect
        import os
        import queue
        import selectors
        import socket
        import subprocess
        import sys
        import threading
        import time

        from lanchat.wire import FrameDecoder, frame

        HOST = "127.0.0.1"
        TIMEOUT = 10.0
        print("ready")
        """,
    )
    nb.step(
        """
        ## The real loop, in lanchat's own words

        `lanchat.client.ClientLoop.run` puts the keyboard (`watching_keys` registers the terminal as `"keys"`,
        with a selector that can watch it) and the socket (`"net"`) on one selector, with a few wake-ups of its
        own: a pipe that a window resize or Ctrl-Z writes a byte to (`"keys"` too), a reconnection attempt
        finishing on its worker thread (`"rejoin"`), a signal such as Ctrl-C's (`"stop"`) and, on the host's
        screen, news of this machine's addresses (`"news"`). Then `one_pass`, called over and over, waits in
        `select` (at most until something of its own is due: a `ping` after 15 s without a byte from the room,
        notebook 07, or a status line held back) and handles whichever is ready. These are their lines that do it:
        """,
        """
        import lanchat.client

        for function in (lanchat.client.ClientLoop.run, lanchat.client.one_pass):
            print(f"{function.__qualname__}:")
            for line in inspect.getsource(function).splitlines():
                if "register(" in line or "watching_keys(" in line or ".select(" in line or "key.data ==" in line:
                    print("   ", line.strip())
        """,
    )
    nb.step(
        """
        ## A toy of the same loop

        The "keyboard" here is one end of a socket pair that the cell writes to, so the toy runs without a real
        terminal; the "server" is the other end of a TCP pair. The loop waits on both; a complete typed line is
        framed and sent; a frame from the network is shown at once. Half a typed line waits in a buffer, it never
        blocks the loop.

        **Predict, then run (P15.1).** You have typed `I am typ` (no Enter yet) when a friend's message arrives.
        When is it shown: now, or after you press Enter?
        """,
        """
        def toy_loop(keyboard, sock, shown, sent, stop_after):
            # one selector over the keyboard and the socket; returns when both have ended or time is up
            selector = selectors.DefaultSelector()
            selector.register(keyboard, selectors.EVENT_READ, "keys")
            selector.register(sock, selectors.EVENT_READ, "net")
            typed, decoder, deadline = b"", FrameDecoder(), time.monotonic() + stop_after
            try:
                while selector.get_map() and (left := deadline - time.monotonic()) > 0:
                    for key, _ in selector.select(left):
                        data = key.fileobj.recv(4096)
                        if not data:
                            selector.unregister(key.fileobj)
                        elif key.data == "keys":
                            typed += data
                            while b"\\n" in typed:  # each complete line is one message
                                line, typed = typed.split(b"\\n", 1)
                                sock.sendall(frame(line))
                                sent.append(line.decode())
                        else:
                            shown.extend(payload.decode() for payload in decoder.feed(data))
            finally:
                selector.close()


        def pairs():
            keys_in, keys_out = socket.socketpair()  # the cell types into keys_in
            with socket.create_server((HOST, 0)) as listener:
                me = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
                friend, _ = listener.accept()
            return keys_in, keys_out, me, friend


        def wait_for(condition, timeout=TIMEOUT):
            deadline = time.monotonic() + timeout
            while not condition() and time.monotonic() < deadline:
                time.sleep(0.005)  # polling interval; the deadline decides
            return condition()


        keys_in, keys_out, me, friend = pairs()
        shown, sent = [], []
        loop = threading.Thread(target=toy_loop, args=(keys_out, me, shown, sent, TIMEOUT))
        loop.start()
        keys_in.sendall(b"I am typ")
        friend.sendall(frame(b"friend: lunch?"))
        print("shown while half a line is typed:", wait_for(lambda: shown) and shown, "| sent so far:", sent)
        keys_in.sendall(b"ing... yes!\\n")
        print("after Enter, sent:", wait_for(lambda: sent) and sent)
        print("the friend received:", FrameDecoder().feed(friend.recv(4096)))
        keys_in.close()
        friend.close()
        loop.join(TIMEOUT)
        me.close()
        """,
    )
    nb.exercise(
        "15.1",
        "your own keyboard-and-socket loop",
        """
        Write `chat_loop(keyboard, sock, seconds)` like `toy_loop`, returning `(shown, sent)` as two lists of
        strings: lines typed on `keyboard` (a socket standing for the terminal; a line ends with `\\n`) are sent to
        `sock` as frames; frames from `sock` are shown (appended to `shown`) as soon as they arrive, **even while a
        line is half typed**. Stop when both have ended (`b""` from each), or after `seconds`. Never block on one
        of them: wait on both with one selector.

        The check plays the keyboard and the server from the other side, and looks at `shown` **while** your loop
        runs: so fill the `shown` and `sent` lists it passes in (the starter sets them up), and return them at the end.
        """,
        """
        def chat_loop(keyboard, sock, seconds, shown=None, sent=None):
            shown = [] if shown is None else shown
            sent = [] if sent is None else sent
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import TookTooLong

        keys_in, keys_out, me, friend = pairs()
        shown, sent, result = [], [], {}
        def run_it():
            try:
                result.update(value=chat_loop(keys_out, me, 3.0, shown=shown, sent=sent))
            except OSError as exc:  # its sockets were closed under it by the check
                result.update(error=exc)


        worker = threading.Thread(target=run_it, daemon=True)
        worker.start()
        try:
            if wait_for(lambda: "value" in result, 0.2) and result["value"] is NotImplemented:
                print("Exercise 15.1 not attempted yet: write chat_loop above, run it, then run this cell again.")
            else:
                keys_in.sendall(b"hello, half a li")
                friend.sendall(frame(b"friend: are you there?"))
                assert wait_for(lambda: shown == ["friend: are you there?"], 1.5), (
                    f"with half a line typed, your loop showed {shown}: it must not wait for the Enter key "
                    "(one selector on both; never a blocking read of a whole line)"
                )
                keys_in.sendall(b"ne\\nand a second line\\n")
                friend.settimeout(2.0)
                decoder, got = FrameDecoder(), []
                while len(got) < 2:
                    got += decoder.feed(friend.recv(4096))
                assert got == [b"hello, half a line", b"and a second line"], f"the server received {got}: one frame per line"
                keys_in.close()  # the keyboard ends (Ctrl-D)...
                friend.close()  # ...and so does the server
                worker.join(4)
                if worker.is_alive():
                    raise TookTooLong("both ends closed, but chat_loop was still running after 4 s: stop on b'' from both")
                assert result.get("value") == (shown, sent), f"return (shown, sent); you returned {result.get('value')!r}"
                assert sent == ["hello, half a line", "and a second line"], f"sent {sent}"
                print("✓ Exercise 15.1 correct: messages shown while typing; lines sent whole")
        finally:
            for sock in (keys_in, friend, me, keys_out):
                sock.close()  # also stops a loop that was still running
            worker.join(4)
        """,
        """
        def chat_loop(keyboard, sock, seconds, shown=None, sent=None):
            shown = [] if shown is None else shown
            sent = [] if sent is None else sent
            selector = selectors.DefaultSelector()
            selector.register(keyboard, selectors.EVENT_READ, "keys")
            selector.register(sock, selectors.EVENT_READ, "net")
            typed, decoder, deadline = b"", FrameDecoder(), time.monotonic() + seconds
            try:
                while selector.get_map() and (left := deadline - time.monotonic()) > 0:
                    for key, _ in selector.select(left):
                        data = key.fileobj.recv(4096)
                        if not data:
                            selector.unregister(key.fileobj)
                        elif key.data == "keys":
                            typed += data
                            while b"\\n" in typed:
                                line, typed = typed.split(b"\\n", 1)
                                sock.sendall(frame(line))
                                sent.append(line.decode())
                        else:
                            shown.extend(payload.decode() for payload in decoder.feed(data))
            finally:
                selector.close()
            return shown, sent
        """,
        wrong=[
            """
            def chat_loop(keyboard, sock, seconds, shown=None, sent=None):
                shown = [] if shown is None else shown
                sent = [] if sent is None else sent
                keys, decoder = keyboard.makefile("rb"), FrameDecoder()
                sock.settimeout(0.05)
                while True:  # turn-based: a whole line first, then a look at the network
                    line = keys.readline()
                    if not line:
                        return shown, sent
                    sock.sendall(frame(line.rstrip(b"\\n")))
                    sent.append(line.rstrip(b"\\n").decode())
                    try:
                        shown.extend(p.decode() for p in decoder.feed(sock.recv(4096)))
                    except TimeoutError:
                        pass
            """,
            """
            def chat_loop(keyboard, sock, seconds, shown=None, sent=None):
                shown = [] if shown is None else shown
                sent = [] if sent is None else sent
                selector = selectors.DefaultSelector()
                selector.register(keyboard, selectors.EVENT_READ, "keys")
                selector.register(sock, selectors.EVENT_READ, "net")
                decoder = FrameDecoder()
                while True:  # never notices an end: b"" forever
                    for key, _ in selector.select(seconds):
                        data = key.fileobj.recv(4096)
                        if key.data == "keys":
                            for line in data.split(b"\\n")[:-1]:
                                sock.sendall(frame(line))
                                sent.append(line.decode())
                        else:
                            shown.extend(p.decode() for p in decoder.feed(data))
            """,
        ],
    )
    nb.md(
        """
        ## The real client, in a pseudo-terminal

        Now lanchat itself: a server (a subprocess; `--no-history`: nothing on disk), and ana's `lanchat connect`
        running in a **pseudo-terminal** (a terminal that a program can drive: what `ssh` and terminal windows
        use), its output fed to `pyte`, a terminal emulator that keeps the screen as rows of text. ana's identity
        key (made on first use) goes in a scratch folder (`--identity`), not in your own data folder. ben is a few
        lines of Python speaking the protocol (notebook 07). ana types half a line; ben speaks; we take a snapshot
        of ana's screen. (Run again, the cell first stops the client and the server it started before.)
        """
    )
    nb.code(
        """
        from lanchat import events as ev
        from lanchat.protocol import Connection, Role

        if os.name != "posix":
            print("pseudo-terminals need Linux or macOS: skipped")
            SKIP_PTY = True
        else:
            SKIP_PTY = False
            import tempfile

            import pyte
            from ptyprocess import PtyProcess

            earlier_ana, earlier_server = globals().get("ana"), globals().get("server")  # this cell ran before?
            if earlier_ana is not None:  # then stop that client, which would rejoin for good, and that server
                earlier_ana.proc.terminate(force=True)
            if earlier_server is not None and earlier_server.poll() is None:
                earlier_server.terminate()
                earlier_server.wait(TIMEOUT)
            scratch = tempfile.TemporaryDirectory(prefix="lanchat-nb15-")  # ana's key and transcript; removed at the end

            server = subprocess.Popen(
                [sys.executable, "-m", "lanchat", "serve", "--headless", "--host", HOST, "--port", "0", "--no-history"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            lines = queue.Queue()
            threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True).start()
            port = None
            deadline = time.monotonic() + TIMEOUT
            while port is None and time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if "listening on port" in line:
                    port = int(line.split("listening on port")[1].split(";")[0])
            assert port, "the lanchat server did not start"


            class Terminal:
                # a program in a pseudo-terminal, its screen kept by pyte
                def __init__(self, argv, rows=12, cols=60):
                    env = {**os.environ, "TERM": "screen-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
                    env.pop("LINES", None)
                    env.pop("COLUMNS", None)
                    self.screen = pyte.Screen(cols, rows)
                    self.stream = pyte.ByteStream(self.screen)
                    self.changed = threading.Condition()
                    self.proc = PtyProcess.spawn(argv, env=env, dimensions=(rows, cols))
                    threading.Thread(target=self.read, daemon=True).start()

                def read(self):
                    while True:
                        try:
                            data = self.proc.read(65536)
                        except (EOFError, OSError):
                            return
                        with self.changed:
                            self.stream.feed(data)
                            self.changed.notify_all()

                def wait_for(self, text, timeout=TIMEOUT):
                    deadline = time.monotonic() + timeout
                    with self.changed:
                        while text not in "\\n".join(self.screen.display):
                            if not self.changed.wait(max(0.01, deadline - time.monotonic())) and time.monotonic() > deadline:
                                raise TimeoutError(f"{text!r} never appeared on the screen")

                def snapshot(self):
                    with self.changed:
                        return "\\n".join("|" + row + "|" for row in self.screen.display)


            ana_key = os.path.join(scratch.name, "ana.key")  # not identity.key in the student's data folder
            ana = Terminal([sys.executable, "-m", "lanchat", "connect", HOST, str(port), "--name", "ana", "--identity", ana_key])
            ana.wait_for("welcome, ana")  # joined (her key's path, shown first, has "ana" in it too)
            print("ana's client is running in a pseudo-terminal")
        """
    )
    nb.step(
        """
        **Predict, then run (P15.2).** ana has typed `I am typ` and not pressed Enter. ben says hello. What does
        ana's screen show, and where is her half-typed line?
        """,
        """
        if not SKIP_PTY:
            ben = socket.create_connection((HOST, port), timeout=TIMEOUT)
            ben_proto = Connection(Role.CLIENT)
            ben.sendall(ben_proto.send(ev.Hello(name="ben")))
            welcomed = False
            while not welcomed:  # the server's welcome opens the conversation (notebook 07)
                ben_proto.receive_data(ben.recv(65536))
                welcomed = any(isinstance(event, ev.Welcome) for event in ben_proto.events())
            ana.wait_for("ben")  # ana's roster or a join notice shows ben
            ana.proc.write(b"I am typ")
            ana.wait_for("I am typ")
            ben.sendall(ben_proto.send(ev.Say(text="hello ana!")))
            ana.wait_for("hello ana!")
            print(ana.snapshot())
        """,
    )
    nb.md(
        """
        ben's message is in the transcript and ana's unfinished line is still in the input line at the bottom,
        cursor where she left it: the loop handled the socket while the keyboard had half a line, exactly like the
        toy. (The pair 001 client would have shown nothing until she pressed Enter.)
        """
    )
    nb.step(
        """
        ## Commands from seed 004's "future work", in lanchat

        Seed 004 listed what its chat lacked: commands like `\\quit`, `\\clients` and `\\clear`, and a way to **save**
        the conversation. lanchat has them all, under its own names and under seed 004's (a backslash command
        on a line of its own): `/who` or `\\clients` asks the server (a `who` event on the wire; the answer is a
        `roster`), while `/clear` (`\\clear`) and `/save FILE` never leave ana's machine (the client does them
        itself). ana finishes her line first, then asks the way seed 004 wrote it.
        """,
        """
        if not SKIP_PTY:
            transcript_file = os.path.join(scratch.name, "ana-transcript.txt")
            ana.proc.write(b"ing\\r")
            ana.wait_for("I am typing")
            ana.proc.write(b"\\\\clients\\r")  # seed 004's spelling of /who
            ana.wait_for("here (2): ana (you), ben")
            ana.proc.write(f"/save {transcript_file}\\r".encode())
            deadline = time.monotonic() + TIMEOUT
            while not os.path.exists(transcript_file) and time.monotonic() < deadline:
                time.sleep(0.02)  # polling until the client has written the file; the deadline decides
            print(ana.snapshot())
            with open(transcript_file, encoding="utf-8") as saved:
                print("the saved transcript:\\n" + saved.read())
        """,
    )
    nb.step(
        """
        ## Clean up

        ana leaves with `/q`; ben leaves; the server is stopped with SIGINT (Ctrl-C).
        """,
        """
        import signal

        if not SKIP_PTY:
            ana.proc.write(b"/q\\r")
            deadline = time.monotonic() + TIMEOUT
            while ana.proc.isalive() and time.monotonic() < deadline:
                time.sleep(0.02)  # polling until ana's client has left; the deadline decides
            if ana.proc.isalive():
                ana.proc.terminate(force=True)
            ben.close()
            server.send_signal(signal.SIGINT)
            print("server exit status:", server.wait(TIMEOUT))
            server.stdout.close()
            scratch.cleanup()  # ana's key and transcript
        print("done")
        """,
    )
    return [nb]
