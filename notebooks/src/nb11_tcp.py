"""Notebook 11: TCP itself: socket states, the handshake and FIN/RST on the wire, Nagle, back-pressure, half-close."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("11_tcp_on_the_wire.ipynb", "TCP on the wire: states, packets, Nagle, back-pressure, half-close")
    nb.md(
        """
        # 11 · TCP on the wire

        The earlier notebooks used TCP through `connect`, `send`, `recv` and `close`. Here we look underneath:
        the **states** a connection goes through, the **packets** those calls become (the three-way handshake,
        FIN and RST), why two small writes can cost 40 ms (**Nagle**), what happens when a reader is slower than a
        writer (**back-pressure**, partial `send`), and how to say "I have finished sending" while still
        listening (**half-close**).

        Needs: Python 3.11 and `psutil` (installed with lanchat). The packet capture needs Linux and root (or the
        `CAP_NET_RAW` capability): without them that cell says so and shows nothing. The `ss` command (Linux) is
        used when present; `netstat -an` (macOS) and `Get-NetTCPConnection` (Windows PowerShell) show the same.
        """
    )
    nb.step(
        """
        ## Settings
        """,
        """
        import selectors
        import shutil
        import socket
        import statistics
        import struct
        import subprocess
        import threading
        import time

        import psutil

        HOST = "127.0.0.1"
        TIMEOUT = 5.0


        def wait_for(condition, timeout=TIMEOUT):
            deadline = time.monotonic() + timeout
            while not condition():
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.005)  # polling interval; the deadline decides
            return True


        def tcp_pair():
            listener = socket.create_server((HOST, 0))
            listener.settimeout(TIMEOUT)
            client = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
            server_side, _ = listener.accept()
            server_side.settimeout(TIMEOUT)
            return listener, client, server_side


        print("ready")
        """,
    )
    nb.md(
        """
        ## Socket states

        Every TCP socket is in a **state**. `psutil` reads them from the system (as `ss -tan` does on Linux,
        `netstat -an` on macOS, `Get-NetTCPConnection` in PowerShell). `states(port)` lists every socket on this
        machine that uses `port`.
        """
    )
    nb.code(
        """
        def states(port):
            found = []
            for c in psutil.net_connections(kind="tcp"):
                if c.laddr and (c.laddr.port == port or (c.raddr and c.raddr.port == port)):
                    side = "listener" if c.status == psutil.CONN_LISTEN else ("server side" if c.laddr.port == port else "client")
                    found.append(f"{side}: {c.status}")
            return sorted(found)


        listener, client, server_side = tcp_pair()
        port = listener.getsockname()[1]
        print("connected:       ", states(port))
        if shutil.which("ss"):
            ss = subprocess.run(["ss", "-tan", f"( sport = :{port} or dport = :{port} )"], capture_output=True, text=True, timeout=5)
            print(ss.stdout)
        """
    )
    nb.step(
        """
        **Predict, then run (P11.1).** The client closes first. Which state is each side in right after, and
        after the server closes too?
        """,
        """
        client.close()
        wait_for(lambda: "server side: CLOSE_WAIT" in states(port))
        print("client closed:   ", states(port))
        server_side.close()
        wait_for(lambda: "client: TIME_WAIT" in states(port))
        print("both closed:     ", states(port))
        listener.close()
        """,
    )
    nb.md(
        """
        The side that closes first waits in **FIN_WAIT2** for the other's FIN; the other sits in **CLOSE_WAIT**
        until its program calls `close()` (a server with many CLOSE_WAIT sockets forgot to close). After both have
        closed, the side that closed *first* keeps a **TIME_WAIT** entry for a minute or two, so that late packets
        of this connection cannot be mistaken for a new one. A *server* that closes first leaves TIME_WAIT on its
        port: that is why servers set `SO_REUSEADDR` before `bind` (notebook 01), or a restart would fail with
        "Address already in use".
        """
    )
    nb.step(
        """
        ## The packets: handshake, data, FIN, RST

        A small **sniffer**: a raw `AF_PACKET` socket on the loopback interface sees every packet on it; we keep
        the TCP ones for one port and print who sent them and their flags. It needs Linux and root; elsewhere
        this cell explains and moves on (Wireshark or `sudo tcpdump -i lo port PORT` show the same).

        The sniffer only watches; `watch(scenario, finished)` runs a scenario on a fresh listener and prints what
        the sniffer saw, once `finished(flags)` says the closing packets have come.
        """,
        """
        class Sniffer:
            FLAGS = ((2, "SYN"), (16, "ACK"), (8, "PSH"), (1, "FIN"), (4, "RST"))

            def __init__(self, port):
                self.port, self.seen, self.flags, self.stopping = port, [], [], threading.Event()
                self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # 3 = every protocol
                self.sock.bind(("lo", 0))
                self.sock.settimeout(0.1)
                self.thread = threading.Thread(target=self.run, daemon=True)
                self.thread.start()

            def run(self):
                while not self.stopping.is_set():
                    try:
                        packet, address = self.sock.recvfrom(65535)
                    except TimeoutError:
                        continue
                    if address[2] == socket.PACKET_OUTGOING:  # loopback shows each packet twice: keep one
                        continue
                    ip = packet[14:]  # after the (dummy) Ethernet header
                    if ip[0] >> 4 != 4 or ip[9] != 6:  # IPv4 carrying TCP only
                        continue
                    tcp = ip[(ip[0] & 15) * 4 :]
                    source, destination = struct.unpack(">HH", tcp[:4])
                    if self.port not in (source, destination):
                        continue
                    flags = "+".join(name for bit, name in self.FLAGS if tcp[13] & bit)
                    payload = len(tcp) - (tcp[12] >> 4) * 4
                    who = "client -> server" if destination == self.port else "server -> client"
                    self.flags.append(flags)
                    self.seen.append(f"{who}  {flags:<9} {payload} data bytes")

            def stop(self):
                self.stopping.set()
                self.thread.join(TIMEOUT)
                self.sock.close()
                return self.seen


        def watch(scenario, finished):
            listener = socket.create_server((HOST, 0))
            try:
                sniffer = Sniffer(listener.getsockname()[1])
            except (AttributeError, PermissionError, OSError) as exc:
                listener.close()
                print(f"no packet capture here ({type(exc).__name__}: needs Linux and root or CAP_NET_RAW)")
                return
            scenario(listener)
            wait_for(lambda: finished(sniffer.flags), 2)  # until the closing packets have been seen
            listener.close()
            for line in sniffer.stop():
                print("  ", line)
        """,
    )
    nb.step(
        """
        **Predict, then run (P11.2).** How many packets does `connect` + one `sendall(b"hi")` + both `close()`s
        take? And when the server closes while data it never read is waiting?
        """,
        """
        def polite(listener):
            client = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
            conn, _ = listener.accept()
            client.sendall(b"hi")
            conn.recv(10)
            client.close()
            conn.settimeout(TIMEOUT)
            conn.recv(10)  # b"": the client's FIN
            conn.close()


        def rude(listener):
            client = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
            conn, _ = listener.accept()
            client.sendall(b"unread")
            wait_for(lambda: len(conn.recv(10, socket.MSG_PEEK)) == 6)
            conn.close()  # closes with 6 bytes it never read
            client.close()


        print("a polite conversation:")
        watch(polite, lambda flags: sum("FIN" in f for f in flags) >= 2 and flags[-1] == "ACK")
        print("a server that closes with unread data:")
        watch(rude, lambda flags: any("RST" in f for f in flags))
        """,
    )
    nb.md(
        """
        The polite one: **SYN, SYN+ACK, ACK** (the three-way handshake: `connect` returns after it, before any
        `accept`), the data with **PSH**, an ACK, then each side's **FIN** and its ACK (FINs often ride with an
        ACK). The rude one ends with **RST**: closing with unread data tells the peer "data was lost", and the
        peer's next `recv` raises `ConnectionResetError` (notebook 04a showed it from the server's side).
        """
    )
    nb.step(
        """
        ## Nagle: why two small writes can cost 40 ms

        To avoid flooding the network with tiny packets, TCP holds a small write back while an earlier one is not
        yet acknowledged (**Nagle's algorithm**), and the receiver delays its acknowledgements a little (**delayed
        ACK**). A program that sends a request in two small pieces (a header, then a body) and waits for the answer
        hits both: the second piece waits for an ACK that waits for... a timer.

        **Predict, then run (P11.3).** Ten requests, each sent as two 4-byte writes, each answered by the server.
        What is the median round trip, with Nagle (the default) and with `TCP_NODELAY` set?
        """,
        """
        def round_trips(nodelay, count=10):
            listener, client, server_side = tcp_pair()
            if nodelay:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def answer():
                for _ in range(count):
                    request = b""
                    while len(request) < 8:
                        request += server_side.recv(100)
                    server_side.sendall(b"ok")

            server = threading.Thread(target=answer)
            server.start()
            times = []
            for _ in range(count):
                started = time.perf_counter()
                client.send(b"head")  # two small writes...
                client.send(b"body")
                reply = b""
                while len(reply) < 2:  # ...then wait for the answer
                    reply += client.recv(10)
                times.append(time.perf_counter() - started)
            server.join(TIMEOUT)
            for sock in (client, server_side, listener):
                sock.close()
            return statistics.median(times) * 1000


        nagle, nodelay = round_trips(nodelay=False), round_trips(nodelay=True)
        print(f"median round trip with Nagle: {nagle:.2f} ms; with TCP_NODELAY: {nodelay:.3f} ms")
        """,
    )
    nb.md(
        """
        On Linux the first is about 40 ms (the delayed-ACK timer), the second a few tens of microseconds. Two
        fixes: send each message in **one** write (build the bytes first: lanchat's frames are always one `send`),
        or set `TCP_NODELAY` for interactive traffic. Sending in one write is better anyway: fewer system calls.
        """
    )
    nb.step(
        """
        ## Back-pressure and partial `send`

        The receiving system keeps arriving bytes in a **receive buffer** until the program reads them; the sender
        keeps unsent ones in its **send buffer**. When a reader stops reading, both fill up, and the sender is
        pushed back: a blocking `send` waits, a non-blocking one sends **only what fits** and returns the count,
        then raises `BlockingIOError`. That is why `send` returns a number, and why `sendall` exists.

        **Predict, then run (P11.4).** A non-blocking `send` of 8 MB to a peer that never reads: how much does the
        first call send? And the second?
        """,
        """
        listener, client, server_side = tcp_pair()
        client.setblocking(False)
        data = b"x" * 8_000_000
        first = client.send(data)
        print(f"first send: {first:,} of {len(data):,} bytes")
        try:
            print("second send:", client.send(data[first:]))
        except BlockingIOError as exc:
            print("second send: BlockingIOError:", exc.strerror, "- nothing fits until the peer reads")
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_WRITE)
            print("writable now?", bool(selector.select(0.1)))
            received = 0
            while received < 1_000_000:  # the peer reads a megabyte...
                received += len(server_side.recv(1_000_000))
            print("after the peer read 1 MB, writable?", bool(selector.select(TIMEOUT)))
        print("buffer sizes: send", client.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
              "receive", server_side.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        for sock in (client, server_side, listener):
            sock.close()
        """,
    )
    nb.exercise(
        "11.1",
        "send everything without blocking, without spinning",
        """
        Write `send_everything(sock, data, seconds)` for a **non-blocking** socket: send all of `data`, using
        `selectors` to wait until the socket is writable whenever a `send` raises `BlockingIOError` (never retry
        in a tight loop: that burns a whole CPU core). Remove exactly the bytes each `send` took. If the whole
        job takes longer than `seconds`, raise `TimeoutError`. Return the number of `send` calls you made.

        The check gives you a socket with small (32 KB) buffers whose reader is slow (64 KB at a time, 100 times a
        second), one whose reader never reads, and counts your `send` calls and the times you were told "would
        block".
        """,
        """
        def send_everything(sock, data, seconds):
            return NotImplemented  # your code here
        """,
        """
        import hashlib

        from selfcheck import attempt


        class CountingSocket:
            # the real socket, counting send() calls and BlockingIOErrors; select() sees its fileno()
            def __init__(self, sock):
                self.sock, self.sends, self.would_block = sock, 0, 0

            def fileno(self):
                return self.sock.fileno()

            def send(self, data):
                self.sends += 1
                try:
                    return self.sock.send(data)
                except BlockingIOError:
                    self.would_block += 1
                    raise


        def slow_reader(sock, total, result):
            # reads 64 KB every 10 ms: a slow network
            digest, got = hashlib.sha256(), 0
            sock.settimeout(TIMEOUT)
            while got < total:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                digest.update(chunk)
                got += len(chunk)
                time.sleep(0.01)  # pacing: this reader is slow on purpose
            result.update(bytes=got, sha256=digest.hexdigest())


        def small_buffered_pair():
            # like tcp_pair, with 32 KB buffers, so a slow reader pushes back at once
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)  # accepted sockets inherit it
            listener.bind((HOST, 0))
            listener.listen(1)
            listener.settimeout(TIMEOUT)
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
            client.settimeout(TIMEOUT)
            client.connect(listener.getsockname()[:2])
            server_side, _ = listener.accept()
            return listener, client, server_side


        listener, client, server_side = small_buffered_pair()
        client.setblocking(False)
        try:
            probe = attempt("send_everything(sock, b'', 1)", send_everything, CountingSocket(client), b"", 1.0)
            if probe is NotImplemented:
                print("Exercise 11.1 not attempted yet: write send_everything above, run it, then run this cell again.")
            else:
                payload = bytes(range(256)) * 8192  # 2 MB
                result = {}
                reader = threading.Thread(target=slow_reader, args=(server_side, len(payload), result))
                reader.start()
                counting = CountingSocket(client)
                try:
                    calls = attempt("send_everything(2 MB to a slow reader)", send_everything, counting, payload, 4.0, seconds=6)
                finally:
                    client.shutdown(socket.SHUT_WR)  # after what was sent, the reader meets the end
                    reader.join(TIMEOUT)
                assert result.get("bytes") == len(payload), (
                    f"the reader got {result.get('bytes')} of {len(payload)} bytes: send() takes only what fits; send the rest"
                )
                assert result["sha256"] == hashlib.sha256(payload).hexdigest(), (
                    "the bytes arrived damaged: remove exactly what each send took, no more, no less"
                )
                assert counting.would_block <= max(50, 0.75 * counting.sends), (
                    f"{counting.would_block} of your {counting.sends} sends were refused with BlockingIOError: "
                    "you retried in a loop; wait with a selector until the socket is writable"
                )
                assert calls == counting.sends, f"you returned {calls}, but made {counting.sends} send calls"

                stuck_listener, stuck_client, never_reads = small_buffered_pair()
                stuck_client.setblocking(False)
                try:
                    def give_up():
                        try:
                            send_everything(CountingSocket(stuck_client), b"x" * 2_000_000, 1.0)
                        except TimeoutError:
                            return "raised TimeoutError"
                        return "returned"
                    outcome = attempt("send_everything(2 MB to a reader that never reads, 1 s)", give_up, seconds=3)
                finally:
                    for sock in (stuck_client, never_reads, stuck_listener):
                        sock.close()
                assert outcome == "raised TimeoutError", f"with a reader that never reads, your function {outcome}"
                print(f"✓ Exercise 11.1 correct: 2 MB in {calls} sends, {counting.would_block} refused")
        finally:
            for sock in (client, server_side, listener):
                sock.close()
        """,
        """
        def send_everything(sock, data, seconds):
            deadline = time.monotonic() + seconds
            view, calls = memoryview(data), 0
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_WRITE)
                while view:
                    calls += 1
                    try:
                        sent = sock.send(view)
                    except BlockingIOError:
                        sent = 0
                    view = view[sent:]  # exactly what was taken
                    if view and sent == 0:  # full: sleep in select until there is room (or time is up)
                        left = deadline - time.monotonic()
                        if left <= 0 or not selector.select(left):
                            raise TimeoutError(f"{len(view)} bytes still unsent after {seconds} s")
            return calls
        """,
        wrong=[
            """
            def send_everything(sock, data, seconds):
                sock.send(data)  # sends what fits, forgets the rest
                return 1
            """,
            """
            def send_everything(sock, data, seconds):
                deadline, calls = time.monotonic() + seconds, 0
                while data:
                    if time.monotonic() > deadline:
                        raise TimeoutError
                    calls += 1
                    try:
                        data = data[sock.send(data):]
                    except BlockingIOError:
                        continue  # retries at once: a busy loop
                return calls
            """,
            """
            def send_everything(sock, data, seconds):
                view, calls = memoryview(data), 0
                with selectors.DefaultSelector() as selector:
                    selector.register(sock, selectors.EVENT_WRITE)
                    while view:
                        selector.select()  # no deadline: waits for ever on a reader that never reads
                        calls += 1
                        try:
                            view = view[sock.send(view):]
                        except BlockingIOError:
                            pass
                return calls
            """,
        ],
    )
    nb.step(
        """
        ## Half-close: "I have finished sending"

        `shutdown(socket.SHUT_WR)` sends a FIN but keeps the socket open for reading: the peer's `recv` returns
        `b""` ("no more requests") while it can still send its answer back. A request that has no length header
        can end this way (HTTP/1.0 clients and `nc -N` do).

        **Predict, then run (P11.5).** After the client's `shutdown(SHUT_WR)`, can it still receive the server's
        reply? Can it still send?
        """,
        """
        listener, client, server_side = tcp_pair()
        client.sendall(b"count the bytes of everything I send")
        client.shutdown(socket.SHUT_WR)  # FIN: no more from me
        request = b""
        while chunk := server_side.recv(1024):  # until b"": the client's half-close
            request += chunk
        server_side.sendall(f"you sent {len(request)} bytes".encode())
        server_side.close()
        print("client received:", client.recv(1024))
        try:
            client.send(b"one more?")
        except OSError as exc:
            print("client send after SHUT_WR:", type(exc).__name__, "-", exc.strerror)
        for sock in (client, listener):
            sock.close()
        """,
    )
    nb.md(
        """
        **Next:** notebook 12 wraps these sockets in TLS and looks at what a listener on the network can read.
        """
    )
    return [nb]
