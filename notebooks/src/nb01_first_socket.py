"""Notebook 01: a first TCP socket pair and strict turn-taking (seed 001)."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("01_first_socket_tcp_turns.ipynb", "Your first socket: a turn-based TCP chat")
    nb.md(
        """
        # 01 · Your first socket: a turn-based TCP chat

        This notebook builds the classic two-program chat (seed 001): a **server** and a **client** on
        `127.0.0.1`, port **3580**, that take strict turns: the client speaks, the server answers, and so on,
        until someone types `/q`.

        You do **not** need a second terminal. A turn-based chat never needs both sides to act at the same
        moment, so one notebook can play both parts; later a background thread plays the server.
        Every call that could wait forever has a timeout, so no cell can hang.

        Run the cells in order (or *Run All*). Each step is a short explanation, then the code that does it.
        """
    )
    nb.step(
        """
        ## Settings

        One cell holds every choice. Seed 001 uses the address `127.0.0.1` (this machine only) and port `3580`.
        Port `0` means "any free port, please": the operating system picks one, which is what the tests use so
        they never clash with anything. Seed 001 takes another port as a command-line argument
        (`python server.py 4000`); a notebook has no command line, so this cell, or the environment variable
        `LANCHAT_PORT`, plays that part. (lanchat accepts it the seed's way: `lanchat serve 4000`.)
        """,
        """
        import os
        import socket
        import threading

        HOST = "127.0.0.1"  # loopback: only programs on this machine can reach it
        PORT = int(os.environ.get("LANCHAT_PORT", "3580"))  # seed 001's default; 0 = any free port
        TIMEOUT = 10.0  # seconds; every blocking call below gives up after this instead of hanging
        print(f"server address will be {HOST}:{PORT}")
        """,
    )
    nb.md("## The server side, step by step")
    nb.step(
        """
        ### Step 1: create a TCP socket and bind it to an address

        `AF_INET` means IPv4 addresses; `SOCK_STREAM` means TCP: a reliable, ordered stream of bytes.
        `bind` claims the address and port for this socket. `SO_REUSEADDR` lets you re-run the notebook right
        away: without it, the port stays blocked for a minute after the previous run closed it.
        If the port is taken (perhaps the paired notebooks are running), we fall back to a free port and say so.
        """,
        """
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((HOST, PORT))
        except OSError as exc:
            print(f"port {PORT} is busy ({exc.strerror}); asking the OS for a free port instead")
            listener.bind((HOST, 0))
        port = listener.getsockname()[1]  # the real port (useful when PORT was 0)
        print("bound to", listener.getsockname())
        """,
    )
    nb.step(
        """
        ### Step 2: listen for connections

        `listen(1)` turns the socket into a *listening* socket. The number is the backlog: how many finished
        connections the operating system may hold for us before we call `accept` (a cell after step 4 measures
        what `1` really means). A listening socket never
        carries chat text itself; each accepted connection gets a socket of its own.
        """,
        """
        listener.listen(1)
        listener.settimeout(TIMEOUT)  # accept() will give up after TIMEOUT seconds
        print("listening on", listener.getsockname())
        """,
    )
    nb.md("## The client side")
    nb.step(
        """
        ### Step 3: the client creates a socket and connects

        The client makes its own TCP socket and `connect`s to the server's address. Notice that `connect`
        succeeds even though the server has not called `accept` yet: the operating system completes the TCP
        handshake by itself and parks the new connection in the backlog from step 2.
        """,
        """
        client = socket.create_connection((HOST, port), timeout=TIMEOUT)
        print("client connected from", client.getsockname(), "to", client.getpeername())
        """,
    )
    nb.step(
        """
        ### Step 4: the server accepts

        `accept` takes the waiting connection out of the backlog and returns a **new socket** for talking to
        this one client, plus the client's address. It returns at once here, because the client is already
        waiting.
        """,
        """
        conn, client_address = listener.accept()
        conn.settimeout(TIMEOUT)
        print("server accepted a connection from", client_address)
        """,
    )
    nb.step(
        """
        ### Aside: what `listen(1)` really allows (measured)

        A common belief: "`listen(1)` allows one connection". It does not limit how many clients a server can
        have; it sizes the **accept queue**: connections whose handshake the operating system has finished and
        that wait for `accept`. Let's measure it on a second listener with `listen(1)` that never calls `accept`:
        we start four non-blocking connects and wait 0.3 s for each handshake to finish.
        """,
        """
        import selectors
        import time


        def start_connect(address):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(address)  # starts the handshake; returns at once
            return sock


        def connected_within(sock, seconds):
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_WRITE)  # writable = the handshake is finished
                ready = selector.select(seconds)
            return bool(ready) and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


        queue_demo = socket.create_server((HOST, 0), backlog=1)
        queue_address = queue_demo.getsockname()[:2]
        knocking = [start_connect(queue_address) for _ in range(4)]
        finished = [connected_within(sock, 0.3) for sock in knocking]
        for number, done in enumerate(finished, start=1):
            print(f"connection {number}:", "connected, waiting in the queue" if done else "not finished: queue full")
        print(f"listen(1) held {sum(finished)} finished connections before any accept")
        """,
    )
    nb.step(
        """
        On Linux the queue holds `backlog + 1` = 2 connections (other systems round differently: that is why the
        cell measures rather than claims). The others are **not refused**: the server's system silently ignored
        their handshake, and the client's system tries again a second later. As soon as `accept` makes room, they
        get in. So a busy server's clients see a slow `connect`, not an error; the backlog only matters for
        bursts of connections arriving faster than the server accepts them.
        """,
        """
        queue_demo.settimeout(TIMEOUT)
        accepted = []
        deadline = time.monotonic() + TIMEOUT
        while len(accepted) < len(knocking) and time.monotonic() < deadline:
            conn_in_queue, _ = queue_demo.accept()  # each accept makes room for one more
            accepted.append(conn_in_queue)
        late = [connected_within(sock, TIMEOUT) for sock in knocking]
        print(f"accepted {len(accepted)} of {len(knocking)}; all connected in the end: {all(late)}")
        for sock in knocking + accepted + [queue_demo]:
            sock.close()
        """,
    )
    nb.md(
        """
        ## Taking turns

        The client speaks first. In seed 001 each program prompts its user; here the "typed" text is written
        in the cell so that Run All works. `sendall` keeps sending until every byte is handed to the operating
        system; text must be **encoded** to bytes first (UTF-8).
        """
    )
    nb.step(
        """
        ### Step 5: the client sends its message
        """,
        """
        typed = "Hello server, it's the client."
        client.sendall(typed.encode("utf-8"))
        print("client sent:", typed)
        """,
    )
    nb.step(
        """
        ### Step 6: the server receives and prints it

        `recv(1024)` waits until some bytes arrive and returns up to 1024 of them. For one short message on this
        machine that is the whole message; notebook 02 shows why that is luck, not a rule.
        """,
        """
        data = conn.recv(1024)
        print("server received:", data.decode("utf-8"))
        """,
    )
    nb.step(
        """
        ### Step 7: the server replies, the client receives

        Now it is the server's turn. After this the turn goes back to the client, and so on.
        """,
        """
        reply = "Hi client! Your turn again."
        conn.sendall(reply.encode("utf-8"))
        print("client received:", client.recv(1024).decode("utf-8"))
        """,
    )
    nb.step(
        """
        ### Step 8: quitting with `/q`

        In seed 001, typing `/q` makes a program close the connection **instead of** sending anything.
        The other side learns about it because `recv` returns **empty bytes** `b""`: that is how a socket says
        "the peer closed the connection". Here the client quits; the server's `recv` returns `b""` at once.
        """,
        """
        typed = "/q"
        if typed == "/q":
            client.close()  # the quit command is never sent; closing is the message
        data = conn.recv(1024)
        print("server's recv returned", repr(data), "-> the client has left")
        conn.close()
        assert data == b""
        """,
    )
    nb.step(
        """
        ### Step 9: refusing empty messages

        Seed 001 asks again until the message is not empty. Why? Sending zero bytes sends **nothing at all**,
        so the other side keeps waiting in `recv` for a message that never comes, and the chat hangs. (And if
        something did arrive as empty, it would look exactly like "the peer closed".) Watch it happen on a
        fresh connection, with a short timeout so we do not hang for real:
        """,
        """
        a, b = socket.socketpair()  # two connected sockets, handy for small experiments
        with a, b:
            a.sendall(b"")  # the "empty message"
            b.settimeout(0.5)
            try:
                b.recv(1024)
                print("something arrived?!")
            except TimeoutError:
                print("nothing arrived within 0.5 s: an empty message would leave the peer waiting forever")
        """,
    )
    nb.md(
        """
        So each side asks again while the typed text is empty. In a program with a keyboard that is
        `while not message: message = input("> ")`; here the "keyboard" is a list of typed lines:
        """
    )
    nb.code(
        """
        def next_message(typed_lines):
            # typed_lines is an iterator of what the user typed; skip the empty ones (seed 001)
            for line in typed_lines:
                if line.strip():
                    return line
                print("  (empty message refused: type something, or /q to quit)")
            return "/q"  # no more input: leave politely

        print(repr(next_message(iter(["", "   ", "hello"]))))
        """
    )
    nb.step(
        """
        ### Step 10: `with` blocks close sockets for you

        A socket holds an operating-system resource until it is closed. `with socket.socket(...) as s:` closes
        it when the block ends, even if an error happens inside. After closing, `fileno()` is `-1`.
        """,
        """
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            print("inside the with block, fileno =", s.fileno())
        print("after the with block,  fileno =", s.fileno())
        """,
    )
    nb.md(
        """
        ## The whole chat: server in a background thread

        Now the two programs of seed 001 as two functions. The server runs in a background **thread** (the
        "other console"); the client runs here. Both read their typed lines from lists. Each side records
        what happens in a shared transcript, and we print it at the end.
        """
    )
    nb.code(
        """
        transcript = []

        def server_program(listening_socket, typed_lines):
            conn, address = listening_socket.accept()  # listening_socket has a timeout
            with conn:
                conn.settimeout(TIMEOUT)
                transcript.append(f"server: connection from {address[0]}")
                while True:
                    data = conn.recv(1024)  # step 3 of the server: receive
                    if not data:
                        transcript.append("server: the client closed the connection")
                        return
                    transcript.append(f"server got:  {data.decode('utf-8')}")
                    reply = next_message(typed_lines)  # step 3.1: prompt for a reply
                    if reply == "/q":  # step 3.2: quit
                        transcript.append("server: typed /q, closing")
                        return
                    transcript.append(f"server says: {reply}")
                    conn.sendall(reply.encode("utf-8"))  # step 3.3: send


        def client_program(address, typed_lines):
            with socket.create_connection(address, timeout=TIMEOUT) as sock:
                while True:
                    message = next_message(typed_lines)  # step 2: prompt
                    if message == "/q":  # step 2.1: quit
                        transcript.append("client: typed /q, closing")
                        return
                    transcript.append(f"client says: {message}")
                    sock.sendall(message.encode("utf-8"))  # step 2.2: send
                    data = sock.recv(1024)  # step 2.3: receive
                    if not data:
                        transcript.append("client: the server closed the connection")
                        return
                    transcript.append(f"client got:  {data.decode('utf-8')}")  # step 2.4: print
        """
    )
    nb.code(
        """
        errors = []

        def guarded(function, *args):
            # a thread's exception would otherwise vanish: keep it so the notebook can report it
            try:
                function(*args)
            except Exception as exc:
                errors.append(exc)

        server_lines = iter(["Hi! How are you?", "Great. Bye for now!", "/q"])
        client_lines = iter(["Hello server", "", "Fine, thanks. And you?", "Cool", "never sent"])
        server_thread = threading.Thread(target=guarded, args=(server_program, listener, server_lines), daemon=True)
        server_thread.start()
        guarded(client_program, (HOST, port), client_lines)
        server_thread.join(TIMEOUT)
        assert not server_thread.is_alive(), "the server thread did not finish in time"
        assert not errors, f"something went wrong: {errors}"
        print("\\n".join(transcript))
        """
    )
    nb.md(
        """
        The server typed `/q`, so it closed without sending; the client's `recv` returned `b""` and the client
        stopped too. The empty line the client "typed" was refused and never sent. (Its refusal is printed first,
        above the transcript, although it happened after `Hello server`: `next_message` prints at once, while the
        transcript is only printed when the chat is over.)
        """
    )
    nb.step(
        """
        ## Why two peers that both wait on `recv` deadlock

        Turn-taking only works while both sides agree whose turn it is. If both decide to *listen* at the same
        time, each `recv` waits for the other to send, and nobody ever does: a **deadlock**. Without timeouts
        the two programs would wait forever. Here both wait for one second, then give up:
        """,
        """
        import time


        def wait_for_peer(sock, label, outcome):
            sock.settimeout(1.0)
            started = time.monotonic()
            try:
                sock.recv(1024)
                outcome[label] = "got data"
            except TimeoutError:
                outcome[label] = f"waited {time.monotonic() - started:.1f} s, nothing came"

        left, right = socket.socketpair()
        outcome = {}
        waiters = [threading.Thread(target=wait_for_peer, args=(s, name, outcome)) for s, name in ((left, "left"), (right, "right"))]
        for t in waiters:
            t.start()
        for t in waiters:
            t.join(5)
        left.close()
        right.close()
        print(outcome)
        assert len(outcome) == 2 and all("nothing came" in v for v in outcome.values()), outcome
        """,
    )
    nb.md(
        """
        Real chat programs avoid this by never sitting in `recv` alone: they wait on the keyboard **and** the
        socket at the same time (threads in notebook 03, `select` after that). lanchat's own turn mode keeps
        the turn-taking of seed 001 but makes it a rule of the room instead of a blocking habit: the room
        refuses a message sent out of turn with a clear error, and nobody waits blindly. At nc that refusal is
        what you read (`! not your turn: waiting for NAME`); lanchat's own client, which knows whose turn it is,
        holds such a line instead and sends it on your turn (`held until it is your turn`), so what you typed
        is not lost. `lanchat.room.Room` is pure (no sockets), so we can ask it directly:
        """
    )
    nb.code(
        """
        from lanchat import events as ev
        from lanchat.room import Room, Send

        room = Room(mode="turn", clock=lambda: 0.0)
        room.handle(1, ev.Hello(name="client"))
        room.handle(2, ev.Hello(name="server"))
        print("turn:", room.turn_name)
        refused = room.handle(2, ev.Say(text="me first!"))
        print([a.event for a in refused if isinstance(a, Send)])
        room.handle(1, ev.Say(text="hello"))
        print("after the client spoke, turn:", room.turn_name)
        """
    )
    nb.exercise(
        "01.1",
        "what does recv return when the peer has gone?",
        """
        Replace `NotImplemented` with the exact value `recv` returns once the other side has closed the
        connection. Then run the check cell.
        """,
        """
        PEER_CLOSED = NotImplemented  # your answer here
        """,
        """
        if PEER_CLOSED is NotImplemented:
            print("Exercise 01.1 not attempted yet: set PEER_CLOSED above, run it, then run this cell again.")
        else:
            assert isinstance(PEER_CLOSED, bytes), f"recv always returns bytes, not {type(PEER_CLOSED).__name__}"
            assert PEER_CLOSED == b"", f"{PEER_CLOSED!r} is data; look at step 8 again"
            print("✓ Exercise 01.1 correct: recv returns b'' when the peer closed")
        """,
        """
        PEER_CLOSED = b""
        """,
        wrong=['PEER_CLOSED = None', 'PEER_CLOSED = ""  # a str, not bytes'],
    )
    nb.exercise(
        "01.2",
        "a quit-aware prompt",
        """
        Write `classify(line)` that returns `"quit"` for `/q` (spaces around it allowed), `"empty"` for a line
        that is empty or only spaces, and `"send"` for anything else.
        """,
        """
        def classify(line):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt

        if attempt('classify("hi")', classify, "hi") is NotImplemented:
            print("Exercise 01.2 not attempted yet: write classify above, run it, then run this cell again.")
        else:
            cases = {"/q": "quit", "  /q ": "quit", "": "empty", "   ": "empty", "hello": "send", "/quit": "send",
                     "\\t/q\\n": "quit", "q": "send", " /q x": "send"}
            for line, expected in cases.items():
                got = attempt(f"classify({line!r})", classify, line)
                assert got == expected, f"classify({line!r}) returned {got!r}; expected {expected!r}"
            print("✓ Exercise 01.2 correct")
        """,
        """
        def classify(line):
            text = line.strip()
            if text == "/q":
                return "quit"
            if not text:
                return "empty"
            return "send"
        """,
        wrong=[
            """
            def classify(line):
                return "quit" if line == "/q" else ("empty" if not line else "send")
            """,
            """
            def classify(line):
                text = line.strip()
                return "quit" if text.startswith("/q") else ("empty" if not text else "send")
            """,
        ],
    )
    nb.step(
        """
        ## Clean up

        Close every socket this notebook opened, and check that no background thread is left running.
        """,
        """
        for s in (listener, client, conn):
            s.close()
        assert not server_thread.is_alive() and not any(t.is_alive() for t in waiters)
        print("all sockets closed, no threads left")
        """,
    )
    nb.md(
        """
        **Next:** notebook 02 shows why `recv(1024)` returning "the whole message" was luck, and how to frame
        messages so it never matters. To run the two programs on two machines, use `pairs/001_server.ipynb` and
        `pairs/001_client.ipynb`.
        """
    )
    return [nb]
