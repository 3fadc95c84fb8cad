"""Notebook 03: many clients, with threads and then selectors; full duplex versus turn-based (seeds 002, 004)."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("03_many_clients.ipynb", "Many clients: threads, then selectors")
    nb.md(
        """
        # 03 · Many clients: threads, then `selectors`

        The server of notebook 01 talks to one client and waits in `recv` for it. A chat room needs one server
        and **many** clients (seeds 002, 003, 004). There are two classic ways to do it:

        1. **a thread per client** (what seeds 002, 003 and 004 do): simple to write, each thread may block;
        2. **one thread watching every socket** with `select`/`selectors` (what lanchat's server does).

        Then we look at the client side: a turn-based client versus a **full-duplex** one.
        Everything runs inside this notebook; every wait has a timeout.
        """
    )
    nb.step(
        """
        ## Settings
        """,
        """
        import selectors
        import socket
        import threading
        import time

        from lanchat.wire import FrameDecoder, frame  # framing from notebook 02, the real thing

        HOST = "127.0.0.1"
        PORT = 0  # any free port: the servers in this notebook are only reached from inside it
        TIMEOUT = 10.0
        """,
    )
    nb.step(
        """
        ## The problem: one blocking server, two clients

        The server accepts `ana` and waits in `recv` for her, as in notebook 01. Meanwhile `ben` connects and
        sends a message. The server cannot see it: it is stuck waiting on `ana` (here for 0.5 s, then it gives
        up). Ben's connection waits in the backlog, his message unread.
        """,
        """
        with socket.create_server((HOST, PORT)) as listener:
            listener.settimeout(TIMEOUT)
            ana = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
            ana_conn, _ = listener.accept()
            ben = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
            ben.sendall(frame(b"hello? anyone?"))
            ana_conn.settimeout(0.5)
            try:
                ana_conn.recv(1024)
            except TimeoutError:
                print("the server waited for ana; ben's message was never read")
        for s in (ana, ana_conn, ben):
            s.close()
        """,
    )
    nb.md(
        """
        ## Way 1: a thread per client

        A **thread** is a second line of execution inside the same program. The server runs an *accept loop*
        in one thread and starts a new thread for every client; each client thread can block in `recv` without
        stopping the others. When a client's message arrives, its thread sends it to every other client.

        The list of connected clients is shared by all threads, so it is guarded by a **lock**: without it, one
        thread could walk the list while another removes from it.
        Stopping cleanly: the accept loop wakes up every 0.2 s to check a `stop` flag, and `shutdown()` on a
        client socket wakes a thread blocked in its `recv`.
        """
    )
    nb.code(
        """
        class ThreadedChatServer:
            def __init__(self):
                self.listener = socket.create_server((HOST, PORT))
                self.listener.settimeout(0.2)  # accept() wakes up regularly to check self.stop
                self.address = self.listener.getsockname()[:2]
                self.clients = []  # connected sockets, shared by every thread
                self.lock = threading.Lock()  # guards self.clients
                self.stop = threading.Event()
                self.threads = [threading.Thread(target=self.accept_loop, name="accept")]
                self.threads[0].start()

            def accept_loop(self):
                while not self.stop.is_set():
                    try:
                        conn, _ = self.listener.accept()
                    except TimeoutError:
                        continue
                    conn.settimeout(None)  # this thread may wait as long as it likes
                    with self.lock:
                        self.clients.append(conn)
                    thread = threading.Thread(target=self.client_loop, args=(conn,), name=f"client-{len(self.threads)}")
                    self.threads.append(thread)
                    thread.start()

            def client_loop(self, conn):
                decoder = FrameDecoder()
                try:
                    while True:
                        data = conn.recv(65536)  # blocks only this thread
                        if not data:
                            break
                        for payload in decoder.feed(data):
                            self.broadcast(frame(payload), sender=conn)
                except OSError:
                    pass  # the connection broke: same as leaving
                finally:
                    with self.lock:
                        self.clients.remove(conn)
                    conn.close()

            def broadcast(self, frame_bytes, sender):
                with self.lock:
                    others = [c for c in self.clients if c is not sender]
                for other in others:
                    try:
                        other.sendall(frame_bytes)
                    except OSError:
                        pass  # that client is leaving; its own thread cleans up

            def close(self):
                self.stop.set()
                with self.lock:
                    for conn in self.clients:
                        try:
                            conn.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv
                        except OSError:
                            pass  # already disconnected
                for thread in self.threads:
                    thread.join(TIMEOUT)
                self.listener.close()
                return [t.name for t in self.threads if t.is_alive()]
        """
    )
    nb.step(
        """
        Three clients join and each sends one message. A small helper reads frames on the client side with a
        deadline. It keeps one `FrameDecoder` per socket and holds on to frames that arrived early, for the
        next call: notebook 02's lesson, one `recv` may bring several frames.
        """,
        """
        decoders, early_frames = {}, {}

        def read_frames(sock, count, timeout=TIMEOUT):
            # the next `count` whole frames from sock (fewer if the deadline passes or the peer closes)
            decoder = decoders.setdefault(sock, FrameDecoder())
            waiting = early_frames.setdefault(sock, [])
            deadline = time.monotonic() + timeout
            while len(waiting) < count:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                data = sock.recv(65536)
                if not data:
                    break
                waiting += decoder.feed(data)
            taken, waiting[:] = waiting[:count], waiting[count:]
            return [p.decode("utf-8") for p in taken]

        def wait_for(condition, timeout=TIMEOUT):
            deadline = time.monotonic() + timeout
            while not condition():
                if time.monotonic() > deadline:
                    raise TimeoutError("condition not met in time")
                time.sleep(0.005)  # polling interval; the deadline decides

        threaded = ThreadedChatServer()
        people = {name: socket.create_connection(threaded.address, timeout=TIMEOUT) for name in ("ana", "ben", "cy")}
        wait_for(lambda: len(threaded.clients) == 3)  # all three accepted before anyone speaks
        for name, sock in people.items():
            sock.sendall(frame(f"{name}: hi!".encode()))
        for name, sock in people.items():
            print(name, "received", sorted(read_frames(sock, 2)))
        print("threads running for the server:", sum(t.is_alive() for t in threaded.threads))
        """,
    )
    nb.step(
        """
        Closing: clients leave, the server stops, and every thread it started has finished.
        """,
        """
        for sock in people.values():
            sock.close()
        still_running = threaded.close()
        assert not still_running, f"threads still running: {still_running}"
        print("threaded server stopped cleanly")
        """,
    )
    nb.step(
        """
        ## Before Way 2: non-blocking sockets, `errno` and `select`

        A socket can be switched to **non-blocking**: then `recv` never waits; if nothing has arrived it raises
        `BlockingIOError`, whose `errno` is `EAGAIN` ("try again"; seed 004 checks these codes with the `errno`
        module). Polling every socket in a loop like that would burn the CPU, so we ask the operating system
        instead: `select.select(sockets, [], [], timeout)` returns the sockets that are ready to read.
        """,
        """
        import errno
        import select

        quiet, talker = socket.socketpair()
        quiet.setblocking(False)
        try:
            quiet.recv(1024)
        except BlockingIOError as exc:
            print("nothing to read yet:", errno.errorcode[exc.errno])
        print("ready before sending:", select.select([quiet], [], [], 0.1)[0])
        talker.sendall(b"ping")
        ready, _, _ = select.select([quiet], [], [], TIMEOUT)
        print("ready after sending: ", ready == [quiet], "->", quiet.recv(1024))
        quiet.close()
        talker.close()
        """,
    )
    nb.md(
        """
        ## Way 2: one thread, many sockets, with `selectors`

        Threads cost memory and make shared data risky. The other way: ask the operating system *"tell me which
        of these sockets have something to read"*. That is `select` (the `selectors` module picks the best
        version: `epoll` on Linux, `kqueue` on macOS). Then `recv` on a ready socket never blocks, so **one
        thread** serves everyone.

        The loop is: 1) wait until some socket is ready, 2) if it is the listener, `accept`; if it is a client,
        `recv` and hand the bytes to its `FrameDecoder`, 3) send each complete message to the others.
        To stop the loop from outside we use a **wake-up socket pair**: writing one byte to it makes `select`
        return (lanchat's server does exactly this).
        """
    )
    nb.code(
        """
        def selector_server(listener, wake, log):
            selector = selectors.DefaultSelector()
            listener.setblocking(False)
            selector.register(listener, selectors.EVENT_READ, "listener")
            selector.register(wake, selectors.EVENT_READ, "wake")
            decoders = {}  # one FrameDecoder per connected client
            running = True
            while running:
                for key, _ in selector.select(timeout=TIMEOUT):  # 1) wait for readiness
                    if key.data == "wake":
                        running = False
                    elif key.data == "listener":  # 2a) someone is connecting
                        conn, _ = listener.accept()
                        conn.setblocking(False)
                        selector.register(conn, selectors.EVENT_READ, "client")
                        decoders[conn] = FrameDecoder()
                        log.append(f"accepted client #{len(decoders)}")
                    else:  # 2b) a client sent bytes (or left)
                        conn = key.fileobj
                        try:
                            data = conn.recv(65536)
                        except OSError:
                            data = b""
                        if not data:
                            selector.unregister(conn)
                            conn.close()
                            del decoders[conn]
                            log.append("a client left")
                            continue
                        for payload in decoders[conn].feed(data):  # 3) pass complete messages on
                            for other in decoders:
                                if other is not conn:
                                    # fine for short lines; a real server queues output instead, so a
                                    # client that stops reading cannot stall everyone (lanchat does)
                                    other.sendall(frame(payload))
            for conn in decoders:
                conn.close()
            selector.close()
        """
    )
    nb.step(
        """
        Run it in **one** background thread and connect the same three clients.
        """,
        """
        listener = socket.create_server((HOST, PORT))
        wake_reader, wake_writer = socket.socketpair()
        selector_log = []
        threads_before = threading.active_count()
        loop_thread = threading.Thread(target=selector_server, args=(listener, wake_reader, selector_log))
        loop_thread.start()

        people = {name: socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT) for name in ("ana", "ben", "cy")}
        wait_for(lambda: selector_log.count("accepted client #3") == 1)
        for name, sock in people.items():
            sock.sendall(frame(f"{name}: hi!".encode()))
        for name, sock in people.items():
            print(name, "received", sorted(read_frames(sock, 2)))
        print("threads the server added for three clients:", threading.active_count() - threads_before)
        with selectors.DefaultSelector() as probe:
            print("the selector this system picked:", type(probe).__name__)
        """,
    )
    nb.md(
        """
        ## Full duplex versus turn-based

        So far the *server* handles many clients. What about a *client*? A turn-based client (notebook 01) does
        one thing at a time: wait for the keyboard, send, then `recv`. While its user is typing, it is not
        reading, so messages from others pile up unseen; worse, its next `recv` returns someone else's old
        message instead of the reply it expects.

        A **full-duplex** client reads and writes at the same time. Seed 004 uses a thread that keeps reading
        while the main thread waits for the keyboard. Below, `ana` is "typing" for a moment while `ben` sends
        three messages:
        """
    )
    nb.code(
        """
        # turn-based ana: she only reads after she sends
        ana, ben = people["ana"], people["ben"]
        for n in range(3):
            ben.sendall(frame(f"ben: message {n}".encode()))
        wait_for(lambda: len(ana.recv(65536, socket.MSG_PEEK)) >= 3 * len(frame(b"ben: message 0")))
        ana.sendall(frame(b"ana: what did I miss?"))  # her turn: she finally sends...
        print("turn-based ana's one recv after sending returns:", read_frames(ana, 1))
        print("...the oldest message, not an answer; two more are still waiting:", read_frames(ana, 2))
        _ = read_frames(ben, 1)  # ben received ana's question; read it so it does not linger
        """
    )
    nb.code(
        """
        # full-duplex ana: a reader thread shows every message the moment it arrives
        seen_while_typing = []

        def reader(sock):
            decoder = FrameDecoder()
            sock.settimeout(TIMEOUT)
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        return
                    for payload in decoder.feed(data):
                        seen_while_typing.append(payload.decode())
            except OSError:
                return  # closed or timed out: stop reading

        reader_thread = threading.Thread(target=reader, args=(ana,))
        reader_thread.start()
        for n in range(3):
            ben.sendall(frame(f"ben: live {n}".encode()))
        wait_for(lambda: len(seen_while_typing) == 3)  # ana has not typed anything yet
        print("full-duplex ana saw, before typing a word:", seen_while_typing)
        """
    )
    nb.step(
        """
        Stop the selector server: one byte on the wake-up pair ends its loop; the clients' sockets then close,
        which also ends ana's reader thread.
        """,
        """
        wake_writer.send(b"x")
        loop_thread.join(TIMEOUT)
        for sock in people.values():
            sock.close()
        reader_thread.join(TIMEOUT)
        for s in (listener, wake_reader, wake_writer):
            s.close()
        assert not loop_thread.is_alive() and not reader_thread.is_alive()
        print("selector server and reader thread stopped")
        """,
    )
    nb.md(
        """
        ## How lanchat does it

        * `lanchat.server.Server` is Way 2: one loop for every client. It waits with `lanchat.poller.Poller`,
          which calls `select.epoll` itself on Linux (the same system call `selectors.DefaultSelector` picks
          there, without its layer of Python per ready socket: a busy server saves a few percent) and wraps
          `selectors.DefaultSelector` elsewhere; both are tested to report the same. The **per-client output
          queues** live in `lanchat.outbox` (it writes only when the socket can take more; a reader that falls
          behind first slows down those who feed it, and one that stops reading is dropped rather than allowed to
          stall the room; notebook 09's first lab builds one).
          The server module's docstring describes the loop.
        * `lanchat.client.ClientLoop` is full duplex **without threads**: it puts the socket *and the keyboard*
          on one selector, so it reacts to whichever is ready first.
        * The room has both modes: `duplex` (everyone speaks whenever they like) and `turn` (seed 001's strict
          turns, enforced by the room with a clear error instead of a deadlock).
        """
    )
    nb.code(
        """
        import inspect

        import lanchat.client
        import lanchat.server

        print("\\n".join(inspect.getdoc(lanchat.server).splitlines()[:10]))
        print()
        print(inspect.getdoc(lanchat.client).splitlines()[0])
        """
    )
    nb.exercise(
        "03.1",
        "which sockets are ready?",
        """
        Write `ready_to_read(socks, timeout)` that uses `selectors.DefaultSelector` to return the list of
        sockets in `socks` that have data waiting (or are closed by their peer), waiting at most `timeout`
        seconds. Do not call `recv`. Remember to close the selector.
        """,
        """
        def ready_to_read(socks, timeout):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt

        pairs = [socket.socketpair() for _ in range(4)]
        try:
            if attempt("ready_to_read([], 0)", ready_to_read, [], 0) is NotImplemented:
                print("Exercise 03.1 not attempted yet: write ready_to_read above, run it, then run this cell again.")
            else:
                ends = [a for a, _ in pairs]
                for end in ends:
                    end.settimeout(None)  # a recv in the answer would block: the deadline reports it
                started = time.monotonic()
                got = attempt("ready_to_read([socket 0], 0.2) with nothing sent", ready_to_read, [ends[0]], 0.2)
                assert got == [], f"nothing was sent on socket 0, yet it was reported ready: {got}"
                assert time.monotonic() - started < 1.5, "ready_to_read waited much longer than its timeout"
                pairs[1][1].sendall(b"x")
                pairs[3][1].sendall(b"y")
                pairs[2][1].close()  # a closed peer counts as readable: recv would return b""
                got = attempt("ready_to_read(all four, 1.0)", ready_to_read, ends, 1.0)
                assert isinstance(got, list), f"return a list, not {type(got).__name__}"
                assert set(got) == {ends[1], ends[2], ends[3]}, (
                    f"expected sockets 1, 2 (its peer closed) and 3 to be ready, "
                    f"got {sorted(ends.index(s) for s in got if s in ends)}"
                )
                for index, byte in ((1, b"x"), (3, b"y")):
                    ends[index].settimeout(1.0)
                    assert ends[index].recv(10) == byte, "ready_to_read must not consume the data (no recv)"
                print("✓ Exercise 03.1 correct")
        finally:
            for a, b in pairs:
                a.close()
                b.close()
        """,
        """
        def ready_to_read(socks, timeout):
            with selectors.DefaultSelector() as selector:
                for sock in socks:
                    selector.register(sock, selectors.EVENT_READ)
                return [key.fileobj for key, _ in selector.select(timeout)]
        """,
        wrong=[
            """
            def ready_to_read(socks, timeout):
                return list(socks)  # claims everything is ready
            """,
            """
            def ready_to_read(socks, timeout):
                with selectors.DefaultSelector() as selector:
                    for sock in socks:
                        selector.register(sock, selectors.EVENT_READ)
                    return [key.fileobj for key, _ in selector.select()]  # no timeout: waits forever
            """,
            """
            def ready_to_read(socks, timeout):
                return [sock for sock in socks if sock.recv(1)]  # recv blocks, and eats the data
            """,
        ],
    )
    nb.md(
        """
        **Next:** notebook 04a gives people names and lets them choose a recipient; 04b keeps the history safe on disk.
        """
    )
    return [nb]
