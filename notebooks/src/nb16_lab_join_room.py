"""Notebook 16: the last lab. The student's own raw-socket client (seed 001 style) joins a real lanchat room."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("16_lab_join_the_room.ipynb", "Lab: your own socket client joins the class's lanchat room")
    nb.md(
        """
        # 16 · Lab: your own socket client joins the class's real lanchat room

        Notebook 01's client was ten lines: connect, send, `recv`, close. lanchat's server lets exactly such a
        program into the room, beside people using the full-screen client: a connection whose first bytes are
        **text** becomes a *text participant* (docs/PROTOCOL.md, "Text participants"). No frames, no JSON: lines.

        In this lab you start a real `python -m lanchat serve` (here on 127.0.0.1, in class the teacher's room on
        the projector), watch what it says and when, then write a ten-line client that joins, says one line,
        reads the room's lines with a timeout, and leaves with `/q`. A check cell judges it **from the room's
        side**: what a classmate in the room saw, and whether your socket was closed.

        Needs: Python 3.11 and lanchat (`pip install -r requirements.txt`); Linux or macOS (lanchat's server runs
        on Windows only inside WSL). The client you write runs anywhere, Windows included, against the class's room.
        """
    )
    nb.step(
        """
        ## Settings

        `read_until(sock, words)` reads (for at most `timeout` seconds) until the text received contains `words`,
        and returns all of it, decoded: what a person at `nc` would see on their screen by then.
        """,
        """
        import queue
        import socket
        import subprocess
        import sys
        import threading
        import time

        HOST = "127.0.0.1"
        TIMEOUT = 10.0  # the longest any single wait in this notebook may last


        def read_until(sock, words, timeout=3.0):
            deadline, seen = time.monotonic() + timeout, b""
            while words not in seen.decode("utf-8", "replace") and time.monotonic() < deadline:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = sock.recv(4096)
                except TimeoutError:
                    break
                if not data:  # the server closed the connection
                    break
                seen += data
            return seen.decode("utf-8", "replace")


        print("ready")
        """,
    )
    nb.step(
        """
        ## The class's room: a real lanchat server

        `--headless`: the server only relays and logs; `--host 127.0.0.1 --port 0`: a free port on this machine
        only (in class the teacher runs `python -m lanchat serve` and everyone uses the projector's address);
        `--no-history`: nothing on disk; `--no-announce`: nothing sent to the local network. We read the line
        where it announces its port (with a deadline), and keep its process id to stop it at the end. (Run
        again, the cell first stops the room it started before, by that process id: none is left running.)
        """,
        """
        earlier = globals().get("server")  # this cell ran before? then stop that room first
        if earlier is not None and earlier.poll() is None:
            earlier.terminate()
            earlier.wait(TIMEOUT)
        server = subprocess.Popen(
            [sys.executable, "-m", "lanchat", "serve", "--headless", "--host", HOST, "--port", "0",
             "--no-history", "--no-announce"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        server_log = queue.Queue()
        threading.Thread(target=lambda: [server_log.put(line.rstrip()) for line in server.stdout], daemon=True).start()


        def server_line_with(words, timeout=TIMEOUT):
            # the server's next log line containing `words` (queue.Empty after the deadline)
            deadline = time.monotonic() + timeout
            while True:
                line = server_log.get(timeout=max(0.01, deadline - time.monotonic()))
                if words in line:
                    return line


        banner = server_line_with("listening on port")
        port = int(banner.split("listening on port")[1].split(";")[0])
        print(banner)
        print(server_line_with("nc "))
        print("the room's process id:", server.pid)
        """,
    )
    nb.step(
        """
        A classmate, ben, is already in the room. He joined the way a person at `nc` can: he typed his name
        straight away and pressed Enter (`b"ben\\n"`). Everything he reads is plain lines ending in `\\r\\n`.
        """,
        """
        ben = socket.create_connection((HOST, port), timeout=TIMEOUT)
        ben.sendall(b"ben\\n")
        print(read_until(ben, "/help lists the commands"))
        print("server log:", server_line_with("ben joined"))
        """,
    )
    nb.md(
        """
        ## The server never speaks first

        **Predict, then run (P16.1).** You connect to the room and wait, up to 1 s, for it to greet you:
        `sock.recv(1024)`. (a) What happens? (b) Then you press Enter: you send `b"\\n"`. What comes back?
        """
    )
    nb.code(
        """
        me = socket.create_connection((HOST, port), timeout=1.0)
        try:
            print("(a) recv returned", me.recv(1024))
        except TimeoutError as exc:
            print("(a) recv raised", type(exc).__name__, exc)
        me.sendall(b"\\n")
        print("(b)", repr(read_until(me, "name: ")))
        """
    )
    nb.md(
        """
        (a) Nothing: `TimeoutError` after 1 s. lanchat's server **never speaks first**: a lanchat client sends
        a binary `hello` frame first, and a greeting would be garbage to it. Until your first bytes arrive the
        server cannot know which kind of client you are. (b) Your first byte was text, so you are a text
        participant: the server explains itself and asks `name: `. Now the name, ending with a line end:
        """
    )
    nb.code(
        """
        me.sendall(b"ana\\n")
        print("ana reads:", repr(read_until(me, "/help lists the commands")))
        print("ben reads:", repr(read_until(ben, "ana joined")))
        """
    )
    nb.md(
        """
        **Predict, then run (P16.2).** Ana sends `hi ben` **without** the `\\n` and waits a second. What does ben
        see? Then she sends the `\\n` alone.
        """
    )
    nb.code(
        """
        me.sendall(b"hi ben")
        print("ben, after 1 s:", repr(read_until(ben, "hi ben", timeout=1.0)))
        me.sendall(b"\\n")
        print("ben, after the line end:", repr(read_until(ben, "hi ben")))
        """
    )
    nb.md(
        """
        Nothing at all, then the whole line. TCP delivered `hi ben` at once; the *server* waited: it reads lines,
        and a line is only finished by its `\\n` (or `\\r\\n`, what telnet and Windows send). Every line becomes a
        message stamped with the server's time, sent to everyone **including the sender**, so your own line
        coming back tells you it reached the room.

        Lines that start with `/` are commands: `/who`, `/w NAME TEXT` (to one person), `/help`, and `/q` to leave.
        """
    )
    nb.code(
        """
        me.sendall(b"/who\\n")
        print("ana reads:", repr(read_until(me, "-!- here:")))
        me.sendall(b"/q\\n")
        print("ana reads, after /q:", repr(read_until(me, "never comes")), "(the server closed: b'' ends the reading)")
        me.close()
        print("ben reads:", repr(read_until(ben, "ana left")))
        """
    )
    nb.step(
        """
        Closing the socket after a whole line is leaving too: that is what nc does on Ctrl-C, and what a
        program that ends does. Cy joins, says a line, and closes: TCP sends a FIN behind the last line, and the
        room reads it as a goodbye, like `/q` (lanchat's own `/q` is a `bye` frame, then a FIN). Dan closes in
        the middle of a line: the room cannot tell that from a cable pulled out, and calls it a lost
        connection. So does a reset (RST), which is also what closing sends when bytes are still unread.
        """,
        """
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as cy:
            cy.sendall(b"cy\\nbrb\\n")  # the name and a first message in one write: the server keeps them in order
            read_until(cy, "brb\\r\\n")  # everything read: the close is a FIN, not a reset
        print("ben reads:", repr(read_until(ben, "cy left")))
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as dan:
            dan.sendall(b"dan\\nhalf a li")  # no line end: the close cuts the line
            read_until(dan, "/help lists the commands")
        print("ben reads:", repr(read_until(ben, "dan left")))
        """,
    )
    nb.exercise(
        "16.1",
        "your ten-line client joins the room",
        """
        Write `join_room(address, name, text, timeout=2.0)`, a client in the style of seed 001 (a plain TCP
        socket, no lanchat code):

        1. connect to `address` (a `(host, port)` pair) with a **timeout** of `timeout` seconds on every wait;
        2. send your name, then `text`, each as a **line** (UTF-8, ending with `\\n`);
        3. read what the room sends until **your own line** comes back (`[12:00] NAME: TEXT`); if the server closes
           first, raise `ConnectionError`; if nothing comes within the timeout, let the `TimeoutError` out;
        4. leave with `/q` (a line too), and **close** the socket whichever way it ends (`with`);
        5. return everything you read, as a list of lines (`str`, without their line ends).

        The check joins a real classmate to this notebook's room, runs your function, and asks the classmate
        what the room saw: did you join, did your line arrive, did you leave (not "connection lost")? Then it points your
        function at a server that accepts the connection and never says a word, and watches from that server's
        side whether you gave up and closed.

        In class: `join_room(("192.168.1.20", 3580), "ana", "hello from my own socket!")` with the teacher's address.
        """,
        """
        def join_room(address, name, text, timeout=2.0):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt_noting_unclosed


        def join_or_give_up(*args):
            try:
                return join_room(*args)
            except TimeoutError:
                return "gave up"


        assert server.poll() is None, "the room has stopped (the clean-up cell ran?): run the notebook from the top"
        check_round = globals().get("check_round", 0) + 1  # fresh names each time this cell runs
        name, classmate = f"eve{check_round}", f"tutor{check_round}"
        text = f"hello from {name}"
        tutor = socket.create_connection((HOST, port), timeout=TIMEOUT)
        try:
            tutor.sendall(f"{classmate}\\n".encode())
            read_until(tutor, "/help lists the commands")
            # also notes every socket your function dropped without closing (Python warns when it frees one)
            got, unclosed = attempt_noting_unclosed(
                f"join_room(room, {name!r}, {text!r}, 1.0)", join_or_give_up, (HOST, port), name, text, 1.0, seconds=4
            )
            seen = read_until(tutor, f"-!- {name} left", timeout=2.0).splitlines() if got is not NotImplemented else []
        finally:
            tutor.close()
        if got is NotImplemented:
            print("Exercise 16.1 not attempted yet: write join_room above, run it, then run this cell again.")
        else:
            assert f"-!- {name} joined" in seen, (
                f"nobody in the room heard your name: the classmate saw {seen}. The server reads lines: "
                "send the name followed by a line end, b'\\\\n'"
            )
            assert any(line.endswith(f"] {name}: {text}") for line in seen), (
                f"you joined, but your message never reached the room (the classmate saw {seen}): end it with a "
                "line end too"
            )
            assert got != "gave up", (
                "your line reached the room, but join_room raised TimeoutError: keep reading until your own line "
                "comes back"
            )
            assert isinstance(got, list) and all(isinstance(line, str) for line in got), (
                f"return the lines you read, as a list of str; you returned {got!r}"
            )
            assert any(line.endswith(f"] {name}: {text}") for line in got), (
                f"your own line should be among the lines you return; you returned {got}"
            )
            assert f"-!- {name} left" in seen, (
                f"the room saw you go as {[line for line in seen if ' left' in line]}: send /q (and its line end) "
                "before you close; 'connection lost' means the room saw a cut line or a reset"
            )
            assert not unclosed, f"Python found your socket never closed ({unclosed[0]}): use `with socket.create_connection(...)`"

            with socket.create_server((HOST, 0)) as silent:  # completes the handshake, then never says a word
                got, _ = attempt_noting_unclosed(
                    "join_room(a server that never answers, ..., 0.5)",
                    join_or_give_up, silent.getsockname()[:2], name, "anyone?", 0.5, seconds=3,
                )
                silent.settimeout(1.0)
                conn, _ = silent.accept()
                with conn:
                    conn.settimeout(1.0)
                    heard, ending = b"", "closed"
                    try:
                        while data := conn.recv(1024):
                            heard += data
                    except TimeoutError:
                        ending = "still open"
                    except ConnectionResetError:
                        pass
            assert got == "gave up", (
                f"a server that never answers: your function returned {got!r}; let the socket's TimeoutError out"
            )
            assert heard.startswith(f"{name}\\n".encode()), f"the silent server received {heard!r}: the name, then b'\\\\n'"
            assert ending == "closed", "after giving up, your socket was still open: close it (`with`)"
            print(f"✓ Exercise 16.1 correct: your own socket joined the room, said {text!r}, and left")
        """,
        """
        def join_room(address, name, text, timeout=2.0):
            mine = f" {name}: {text}\\r\\n".encode()  # how the room sends your line back (UTF-8)
            with socket.create_connection(address, timeout=timeout) as sock:  # every wait below: at most `timeout`
                sock.sendall(f"{name}\\n{text}\\n".encode())  # the name, then the message: one UTF-8 line each
                received = b""
                while mine not in received:
                    data = sock.recv(4096)  # raises TimeoutError when the room stays silent
                    if not data:
                        raise ConnectionError("the server closed the connection")
                    received += data
                sock.sendall(b"/q\\n")  # leave politely: the room sees "-!- NAME left"
            return received.decode("utf-8").splitlines()
        """,
        wrong=[
            """
            def join_room(address, name, text, timeout=2.0):
                with socket.create_connection(address, timeout=timeout) as sock:
                    sock.sendall(name.encode("utf-8"))  # no line end: the server is still waiting for the rest
                    sock.sendall(text.encode("utf-8"))
                    received = b""
                    while f" {name}: {text}".encode("utf-8") not in received:
                        data = sock.recv(4096)
                        if not data:
                            break
                        received += data
                    sock.sendall(b"/q")
                return received.decode("utf-8").splitlines()
            """,
            """
            def join_room(address, name, text, timeout=2.0):
                with socket.create_connection(address) as sock:  # no timeout: a silent server keeps it forever
                    sock.sendall(f"{name}\\n{text}\\n".encode("utf-8"))
                    received = b""
                    while f" {name}: {text}\\r\\n".encode("utf-8") not in received:
                        data = sock.recv(4096)
                        if not data:
                            raise ConnectionError("the server closed the connection")
                        received += data
                    sock.sendall(b"/q\\n")
                return received.decode("utf-8").splitlines()
            """,
            """
            def join_room(address, name, text, timeout=2.0):
                sock = socket.create_connection(address, timeout=timeout)  # never closed
                sock.sendall(f"{name}\\n{text}\\n".encode("utf-8"))
                received = b""
                while f" {name}: {text}\\r\\n".encode("utf-8") not in received:
                    data = sock.recv(4096)
                    if not data:
                        raise ConnectionError("the server closed the connection")
                    received += data
                sock.sendall(b"/q\\n")
                return received.decode("utf-8").splitlines()
            """,
            """
            def join_room(address, name, text, timeout=2.0):
                with socket.create_connection(address, timeout=timeout) as sock:
                    sock.sendall(f"{name}\\n{text}\\n".encode("utf-8"))
                    received = b""
                    while f" {name}: {text}\\r\\n".encode("utf-8") not in received:
                        data = sock.recv(4096)
                        if not data:
                            raise ConnectionError("the server closed the connection")
                        received += data
                    sock.sendall(b"/q")  # no line end: the close cuts the line, and the room says "connection lost"
                return received.decode("utf-8").splitlines()
            """,
        ],
    )
    nb.step(
        """
        ## Clean up

        Ben leaves, and we stop the room by its process id with SIGTERM (as `kill PID` would): the server tells
        everyone still connected that it is closing, then exits with status 0.
        """,
        """
        ben.sendall(b"/q\\n")
        read_until(ben, "never comes")
        ben.close()
        server.terminate()  # SIGTERM to server.pid, the process this notebook started
        print("server exit status:", server.wait(TIMEOUT))
        print("server log:", server_line_with("server stopped"))
        assert server.poll() is not None
        print("everything stopped")
        """,
    )
    nb.md(
        """
        **In class.** The teacher runs `python -m lanchat serve` on the projector machine (it prints its address
        and `nc HOST PORT`; its `/address` command shows them again); everyone calls `join_room((TEACHER_ADDRESS, 3580), "ana", "hello!")` with their own name (one word: a
        name with a space, `"ana lopez"`, is refused, and `join_room` times out), or types
        `nc TEACHER_ADDRESS 3580` in a terminal, beside classmates using `python -m lanchat connect`. The room
        cannot tell them apart: same names, same limits, same lines. So each student needs a name nobody in the
        room has (nor owns: someone who joined with lanchat owns theirs): a taken one is answered `! the name
        'ana' is taken; choose another`, and `join_room`, which sends no second name, times out waiting for its
        line. The pair notebooks' net doctor helps when the connection fails (TEACHERS_GUIDE.md, the network kit).

        This lab needs a room started **without** `--tls` and `--password` (the class room of notebook 17 has
        both). A plain socket cannot speak TLS: a `--tls` room answers it with one line, `! this room uses TLS,
        which nc and telnet cannot speak: join with lanchat connect --tls`, and closes, so `join_room` raises
        `ConnectionError`. A `--password` room asks `password: ` after the name, and `join_room` would answer with
        its message (a wrong password); a text participant's password also crosses the network unencrypted.
        And it needs the room in full-duplex mode, the default: in a `--mode turn` room only the student who holds
        the turn may speak, everyone else's line is answered `! not your turn: waiting for NAME` instead of coming
        back, and `join_room` gives up with `TimeoutError`. Switch to turns after the lab (`/mode turn`).
                """
    )
    return [nb]
