"""Notebook 09: labs on servers that hold up: a client that never reads, a peer that vanished, a private AF_UNIX socket."""

from textwrap import dedent

from cells import Notebook
from socket_paths import scratch_folder


def notebooks() -> list[Notebook]:
    nb = Notebook("09_labs_servers_that_hold_up.ipynb", "Labs: servers that hold up")
    nb.md(
        """
        # 09 · Labs: servers that hold up

        Three labs on what goes wrong once a server has real clients: one that **stops reading**, one that
        **vanishes** without a goodbye (a closed laptop lid, a dropped Wi-Fi), and a local socket that **other
        users** on the same machine should not reach. Each opens with a question: **predict**, write it down,
        then run. The check cells play the clients, on real sockets, and judge your code by what *they* see.

        Needs: Python 3.11. Labs 1 and 2 run anywhere; lab 3 uses AF_UNIX sockets (Linux or macOS; Python on
        Windows has no AF_UNIX, so that part says so and skips). Everything stays on this machine.
        """
    )
    nb.step(
        """
        ## Settings
        """,
        dedent(
            """
            import os
            import selectors
            import socket
            import stat
            import sys
            import tempfile
            import threading
            import time

            from lanchat.transport import unix_path_limit
            from lanchat.wire import FrameDecoder, FrameError, frame

            HOST = "127.0.0.1"
            TIMEOUT = 10.0
            """
        )
        + scratch_folder("lanchat-nb09-", '"tmpXXXXXXXX", "private.sock"', "lab 3's longest: a folder made in it, a socket")
        + dedent(
            """

            def wait_for(condition, timeout=TIMEOUT):
                # poll a condition until it holds or the deadline passes; returns whether it held
                deadline = time.monotonic() + timeout
                while not condition():
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.005)  # polling interval; the deadline decides
                return True


            print("scratch folder:", scratch.name)
            """
        ),
    )
    # ------------------------------------------------------------------ lab 1
    nb.md(
        """
        ## Lab 1: a client that never reads

        Notebook 03's selector server relays every frame to the other clients with `sendall`. Below is the same
        relay with its output in two small functions it is given, `queue_output(server, conn, data)` and
        `send_queued(server, conn)`, so you can write your own. The loop calls `send_queued` when a socket it
        asked to watch for **writing** (`EVENT_WRITE`) can take more bytes. Each accepted socket gets a small
        send buffer (8 KB) so the lab's traffic fills it quickly, as a slow phone on Wi-Fi would.
        """
    )
    nb.code(
        """
        class RelayServer:
            # One selectors loop (notebook 03). Every frame a client sends goes to every other client.
            MAX_QUEUED = 256 * 1024  # bytes one client may have waiting before we give up on it

            def __init__(self, queue_output, send_queued):
                self.queue_output, self.send_queued = queue_output, send_queued  # the two you write
                self.listener = socket.create_server((HOST, 0))
                self.listener.setblocking(False)
                self.address = self.listener.getsockname()[:2]
                self.selector = selectors.DefaultSelector()
                self.wake_reader, self.wake_writer = socket.socketpair()
                self.selector.register(self.listener, selectors.EVENT_READ, "listener")
                self.selector.register(self.wake_reader, selectors.EVENT_READ, "wake")
                self.decoders = {}  # conn -> FrameDecoder, for every connected client
                self.outbox = {}  # conn -> bytearray: bytes waiting to be sent to it
                self.dropped = 0  # clients dropped because they stopped reading
                self.crash = None  # an exception from the loop, if any
                self.thread = threading.Thread(target=self.loop, daemon=True)
                self.thread.start()

            def loop(self):
                try:
                    while True:
                        for key, mask in self.selector.select(timeout=TIMEOUT):
                            if key.data == "wake":
                                return
                            if key.data == "listener":
                                self.accept()
                                continue
                            conn = key.fileobj
                            if mask & selectors.EVENT_WRITE and conn in self.outbox:
                                self.send_queued(self, conn)
                            if mask & selectors.EVENT_READ and conn in self.decoders:
                                self.on_readable(conn)
                except BaseException as exc:  # shown by the check instead of dying silently
                    self.crash = exc
                finally:
                    for conn in list(self.decoders):
                        self.drop(conn)

            def accept(self):
                conn, _ = self.listener.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
                self.decoders[conn], self.outbox[conn] = FrameDecoder(), bytearray()
                self.selector.register(conn, selectors.EVENT_READ, "client")

            def on_readable(self, conn):
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.drop(conn)
                    return
                for payload in self.decoders[conn].feed(data):
                    for other in list(self.decoders):
                        if other is not conn and other in self.decoders:
                            self.queue_output(self, other, frame(payload))

            def want_to_write(self, conn, yes):
                # ask select to (also) report when conn can take more bytes, or stop asking
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if yes else 0)
                self.selector.modify(conn, events, "client")

            def drop(self, conn):
                if conn in self.decoders:
                    self.selector.unregister(conn)
                    del self.decoders[conn], self.outbox[conn]
                    conn.close()

            def stop(self):
                self.wake_writer.send(b"x")
                self.thread.join(TIMEOUT)
                for sock in (self.listener, self.wake_reader, self.wake_writer):
                    sock.close()
                self.selector.close()
        """
    )
    nb.step(
        """
        First notebook 03's way: the `queue_output` we give it sends everything at once (`sendall`, blocking until
        done).

        **Predict, then run (P09.1).** `zed` connects and never reads. Then `ana` sends 400 messages of 1 KB.
        How many of them does `ben`, who reads everything, receive within two seconds?
        """,
        """
        def send_at_once(server, conn, data):  # used as queue_output
            conn.setblocking(True)  # notebook 03's way: wait until everything is sent
            conn.sendall(data)
            conn.setblocking(False)


        def nothing_queued(server, conn):  # used as send_queued: nothing is ever queued in this version
            pass


        def connect(address, receive_buffer=None):
            sock = socket.socket()
            if receive_buffer:  # set before connecting, so the window it advertises stays small
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.settimeout(3.0)
            sock.connect(address)
            return sock


        def read_frames(sock, count, seconds, decoder=None):
            # frames until `count` arrived, the stream ended, or `seconds` passed
            decoder, got, deadline = decoder or FrameDecoder(), [], time.monotonic() + seconds
            while len(got) < count and time.monotonic() < deadline:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    break
                if not data:
                    break
                got += decoder.feed(data)
            return got


        def ana_talks(ana, count, first=0):
            # sends `count` 1 KB messages; how many went out before ana's own sending blocked for 3 s
            for n in range(first, first + count):
                try:
                    ana.sendall(frame(f"{n:04d}".encode() + b"." * 1020))
                except TimeoutError:
                    return n - first
            return count


        relay = RelayServer(send_at_once, nothing_queued)
        zed = connect(relay.address, receive_buffer=4096)  # never reads
        ben, ana = connect(relay.address), connect(relay.address)
        wait_for(lambda: len(relay.decoders) == 3)
        sent = ana_talks(ana, 400)
        got = read_frames(ben, 400, seconds=2)
        print(f"ana sent {sent} of 400 messages; ben received {len(got)}")
        for sock in (zed, ben, ana):
            sock.close()  # zed leaving is what unblocks the server
        relay.stop()
        """,
    )
    nb.md(
        """
        One client that stops reading froze the whole server: `sendall` to zed waits for room that never comes, so
        nobody else gets anything and nobody's messages are read. lanchat's server (and every chat server that
        survives real users) keeps a **per-client output queue**: it writes only what the socket takes *now*
        (a non-blocking `send`, which may take only part), keeps the rest, asks `select` to say when that client can
        take more, and drops a client whose queue grows beyond a limit.
        """
    )
    nb.exercise(
        "09.1",
        "an output queue that a non-reader cannot stall",
        """
        Write the two functions:

        * `queue_output(server, conn, data)`: append `data` to `server.outbox[conn]`. If that queue now holds more
          than `server.MAX_QUEUED` bytes, the client is not reading: `server.dropped += 1` and `server.drop(conn)`.
          Otherwise make sure the loop will call `send_queued` for it: `server.want_to_write(conn, True)`.
        * `send_queued(server, conn)`: `sent = conn.send(queue)` sends what the socket takes now (**maybe only
          part**; never `sendall`). Remove exactly the bytes sent from the front of the queue. If the socket is
          full after all (`BlockingIOError`), try later; if it fails (`OSError`), drop the client. When the queue
          is empty, stop asking to write (`server.want_to_write(conn, False)`), or `select` returns at once,
          forever, and the loop spins at 100% CPU.

        The check runs the relay with your functions and three real clients: zed never reads, ben reads everything,
        ana sends 400 messages of 1 KB in ten bursts (ben reads each burst before the next). zed and ben have small
        receive buffers, so a burst never fits in the kernel's buffers and `send()` takes only part of it.
        """,
        """
        def queue_output(server, conn, data):
            return NotImplemented  # your code here


        def send_queued(server, conn):
            return NotImplemented  # your code here
        """,
        """
        import types

        from selfcheck import attempt


        def check_relay():
            relay = RelayServer(queue_output, send_queued)
            zed = connect(relay.address, receive_buffer=4096)
            # ben's receive buffer is small too: a 40 KB burst cannot fit in the kernel's buffers
            # between relay and ben, so send() is sure to take only part of a queue at some point
            ben, ana = connect(relay.address, receive_buffer=4096), connect(relay.address)
            try:
                assert wait_for(lambda: len(relay.decoders) == 3, 3), "the relay did not accept three clients"
                ben_side = next(c for c in list(relay.decoders) if c.getpeername() == ben.getsockname())
                # ana talks in 10 bursts of 40; ben reads each burst before the next (his queue stays small)
                sent, got, ben_decoder, deadline = 0, [], FrameDecoder(), time.monotonic() + 3
                for burst in range(10):
                    sent += ana_talks(ana, 40, first=40 * burst)
                    try:
                        more = read_frames(ben, 40, max(0.01, deadline - time.monotonic()), ben_decoder)
                    except FrameError as exc:
                        raise AssertionError(
                            f"ben's stream was cut ({exc}): send() may send only part; remove exactly what it sent"
                        ) from None
                    got += more
                    if len(more) < 40:
                        break
                assert relay.crash is None, f"your code raised {relay.crash!r} inside the server loop"
                assert len(got) == 400, (
                    f"ben received {len(got)} of {sent} messages sent: either the client that does not read stalled "
                    "everyone (a blocking send), or bytes were lost (send() may take only part: remove exactly what it sent)"
                )
                expected = [f"{n:04d}".encode() + b"." * 1020 for n in range(400)]
                assert got == expected, "ben's messages arrived damaged or out of order: keep the queue's bytes in order"
                assert relay.dropped == 1, (
                    f"dropped {relay.dropped} client(s): zed never reads, so its queue passes MAX_QUEUED: drop it"
                )
                zed.settimeout(3.0)
                try:  # seen from zed's side: some bytes, then the end of the stream
                    while zed.recv(65536):
                        pass
                except TimeoutError:
                    raise AssertionError("zed's connection is still open: close the client you dropped") from None
                except ConnectionResetError:
                    pass  # a reset is an end too
                idle = wait_for(lambda: relay.selector.get_key(ben_side).events == selectors.EVENT_READ, 2)
                assert idle, (
                    "ben's queue is empty but the loop still asks to write to him: select returns at once, "
                    "forever (a busy loop); call want_to_write(conn, False) when the queue is empty"
                )
                assert relay.crash is None, f"your code raised {relay.crash!r} inside the server loop"
            finally:
                for sock in (zed, ben, ana):
                    sock.close()
                relay.stop()


        stub = types.SimpleNamespace(outbox={"c": bytearray()}, MAX_QUEUED=10, dropped=0,
                                     want_to_write=lambda conn, yes: None, drop=lambda conn: None)
        try:
            untouched = attempt("queue_output(...)", queue_output, stub, "c", b"") is NotImplemented
        except AssertionError:
            untouched = False  # written, but it does more than a stub allows: the real check will tell
        if untouched:
            print("Exercise 09.1 not attempted yet: write both functions above, run them, then run this cell again.")
        else:
            check_relay()
            print("✓ Exercise 09.1 correct: ben got all 400 messages while zed sat there; zed was dropped")
        """,
        """
        def queue_output(server, conn, data):
            queue = server.outbox[conn]
            queue += data
            if len(queue) > server.MAX_QUEUED:
                server.dropped += 1
                server.drop(conn)  # it stopped reading; the others must not wait for it
            else:
                server.want_to_write(conn, True)


        def send_queued(server, conn):
            queue = server.outbox[conn]
            try:
                sent = conn.send(queue)  # what the socket takes now: maybe only part
            except BlockingIOError:
                return  # full after all: select will tell us when to try again
            except OSError:
                server.drop(conn)
                return
            del queue[:sent]
            if not queue:
                server.want_to_write(conn, False)  # nothing left: stop asking, or select never sleeps
        """,
        wrong=[
            """
            def queue_output(server, conn, data):
                conn.setblocking(True)  # notebook 03's way
                conn.sendall(data)
                conn.setblocking(False)


            def send_queued(server, conn):
                pass
            """,
            """
            def queue_output(server, conn, data):
                server.outbox[conn] += data
                if len(server.outbox[conn]) > server.MAX_QUEUED:
                    server.dropped += 1
                    server.drop(conn)
                else:
                    server.want_to_write(conn, True)


            def send_queued(server, conn):
                queue = server.outbox[conn]
                try:
                    conn.send(queue)  # assumes everything went
                except OSError:
                    return
                queue.clear()
                server.want_to_write(conn, False)
            """,
            """
            def queue_output(server, conn, data):
                server.outbox[conn] += data  # no limit: a non-reader's queue grows forever
                server.want_to_write(conn, True)


            def send_queued(server, conn):
                queue = server.outbox[conn]
                try:
                    sent = conn.send(queue)
                except BlockingIOError:
                    return
                del queue[:sent]
                if not queue:
                    server.want_to_write(conn, False)
            """,
            """
            def queue_output(server, conn, data):
                server.outbox[conn] += data
                if len(server.outbox[conn]) > server.MAX_QUEUED:
                    server.dropped += 1
                    server.drop(conn)
                else:
                    server.want_to_write(conn, True)


            def send_queued(server, conn):
                queue = server.outbox[conn]
                try:
                    sent = conn.send(queue)
                except BlockingIOError:
                    return
                del queue[:sent]  # never stops asking to write: select wakes up at once, forever
            """,
        ],
    )
    # ------------------------------------------------------------------ lab 2
    nb.step(
        """
        ## Lab 2: a peer that vanished

        Seed 003's server "checks if the socket is alive". Why would it need to? A crashed *program* is noticed
        at once (its system closes the connection, notebook 04a). A vanished *machine* is not: a closed laptop
        lid, a dropped Wi-Fi, a pulled cable send nothing at all, no FIN and no reset.

        **Predict, then run (P09.2).** ben's connection goes silent like that while the server waits in `recv`.
        When does that `recv` return? (On one machine we cannot pull a cable, so ben simply goes silent; the
        server waits with a 0.5 s timeout so that the cell ends.) Does TCP itself ever check?
        """,
        """
        server_end, ben = socket.socketpair()
        server_end.settimeout(0.5)
        started = time.monotonic()
        try:
            server_end.recv(1024)
        except TimeoutError:
            print(f"recv: nothing at all for {time.monotonic() - started:.1f} s; without a timeout it would wait forever")
        keepalive = socket.socket()
        print("TCP keepalive is on by default:", bool(keepalive.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)))
        keepalive.close()
        if os.path.exists("/proc/sys/net/ipv4/tcp_keepalive_time"):
            with open("/proc/sys/net/ipv4/tcp_keepalive_time") as f:
                print("and when it is on, Linux sends its first probe after", int(f.read()), "s of silence")
        for sock in (server_end, ben):
            sock.close()
        """,
    )
    nb.md(
        """
        So a server must check for itself: a **heartbeat**. When a client has been silent for a while, send it a
        small ping; a live client answers (any bytes count); one silent for much longer is gone, and is dropped.
        The rule is pure logic on timestamps, so we write it without sockets, with an injected clock (the same
        shape as lanchat's `Room` and outbox: decide in a pure object, do I/O in the loop).
        """
    )
    nb.exercise(
        "09.2",
        "a heartbeat that notices a vanished peer",
        """
        Write a class `Liveness(ping_after, give_up_after, clock=time.monotonic)`:

        * `heard(peer)`: bytes just arrived from `peer` (or it just connected): it is alive now.
        * `due()` returns two lists `(ping, drop)`: `ping` holds every peer silent for at least `ping_after`
          seconds that has **not been pinged since it was last heard** (one ping per silence, not one per call);
          `drop` holds every peer silent for at least `give_up_after` seconds (drop, do not also ping). A dropped
          peer is forgotten.
        * `forget(peer)`: the peer left by itself.

        "Silent" is measured from the last time the peer was **heard**, not from when it connected or was pinged.
        The check first runs your class against a fake clock, then inside a real selector server with two
        clients: one answers every ping, the other has vanished. It judges from the clients' side.
        """,
        """
        class Liveness:
            def __init__(self, ping_after, give_up_after, clock=time.monotonic):
                pass  # your code here

            def heard(self, peer):
                pass

            def due(self):
                return NotImplemented

            def forget(self, peer):
                pass
        """,
        """
        from selfcheck import attempt


        def fake_clock_story():
            now = [0.0]
            live = Liveness(1.0, 3.0, clock=lambda: now[0])
            if live.due() is NotImplemented:
                return NotImplemented
            story = []

            def at(moment, expected_ping, expected_drop, meaning):
                now[0] = moment
                ping, drop = live.due()
                got = (sorted(ping), sorted(drop))
                assert got == (expected_ping, expected_drop), (
                    f"at t={moment}: due() returned (ping={got[0]}, drop={got[1]}), expected "
                    f"(ping={expected_ping}, drop={expected_drop}): {meaning}"
                )
                story.append(moment)

            live.heard("ana")
            live.heard("ben")
            at(0.5, [], [], "nobody has been silent for 1 s yet")
            at(1.0, ["ana", "ben"], [], "both silent for 1 s: ping them")
            at(1.5, [], [], "both were pinged already and nothing was heard since: one ping per silence")
            live.heard("ana")  # ana answers
            at(2.0, [], [], "ana was heard at 1.5; ben waits to be given up")
            at(2.6, ["ana"], [], "ana silent again for 1.1 s since she was heard: a new ping")
            at(3.0, [], ["ben"], "ben silent for 3 s since he was last heard: drop him")
            at(3.1, [], [], "ben was dropped already: forgotten")
            at(9.0, [], ["ana"], "ana silent for 7.5 s: drop (no ping for someone being dropped)")
            live.heard("cy")
            live.forget("cy")
            at(20.0, [], [], "cy left by himself: forgotten")
            return story


        def answering_client(sock):
            # a live client: answers every ping ("?") with a pong ("!") until the server closes
            pings = 0
            try:
                while data := sock.recv(64):
                    pings += data.count(b"?")
                    sock.sendall(b"!")
            except OSError:
                pass
            return pings


        def heartbeat_server(listener, live, seconds):
            # a selector loop that asks `live` whom to ping and whom to drop, for `seconds`
            selector = selectors.DefaultSelector()
            listener.setblocking(False)
            selector.register(listener, selectors.EVENT_READ)
            conns, deadline = set(), time.monotonic() + seconds
            try:
                while (left := deadline - time.monotonic()) > 0:
                    for key, _ in selector.select(timeout=min(0.05, left)):
                        if key.fileobj is listener:
                            conn, _ = listener.accept()
                            conn.setblocking(False)
                            selector.register(conn, selectors.EVENT_READ)
                            conns.add(conn)
                            live.heard(conn)
                            continue
                        try:
                            data = key.fileobj.recv(64)
                        except OSError:
                            data = b""
                        if data:
                            live.heard(key.fileobj)
                        else:
                            live.forget(key.fileobj)
                            selector.unregister(key.fileobj)
                            conns.discard(key.fileobj)
                            key.fileobj.close()
                    ping, drop = live.due()
                    for conn in ping:
                        conn.send(b"?")
                    for conn in drop:
                        selector.unregister(conn)
                        conns.discard(conn)
                        conn.close()
            finally:
                for conn in conns:
                    conn.close()
                selector.close()


        if attempt("the fake-clock story", fake_clock_story) is NotImplemented:
            print("Exercise 09.2 not attempted yet: write Liveness above, run it, then run this cell again.")
        else:
            with socket.create_server((HOST, 0)) as listener:
                alive = socket.create_connection(listener.getsockname()[:2], timeout=3)
                vanished = socket.create_connection(listener.getsockname()[:2], timeout=3)
                pongs, seen_by_vanished = {}, {}

                def watch_vanished():
                    # the vanished client never answers; we only note what reaches it, and when it ends
                    heard = b""
                    try:
                        while data := vanished.recv(64):
                            heard += data
                    except OSError:
                        pass
                    seen_by_vanished.update(heard=heard, ended=time.monotonic())

                watchers = [threading.Thread(target=lambda: pongs.update(count=answering_client(alive))),
                            threading.Thread(target=watch_vanished)]
                for watcher in watchers:
                    watcher.start()
                live = Liveness(0.2, 0.6)
                try:
                    attempt("a 1.5 s heartbeat server with your Liveness", heartbeat_server, listener, live, 1.5, seconds=4)
                    server_ended = time.monotonic()
                finally:
                    for watcher in watchers:
                        watcher.join(TIMEOUT)
                    alive.close()
                    vanished.close()
            assert seen_by_vanished["heard"] == b"?", (
                f"the silent client received {seen_by_vanished['heard']!r}: one ping, then nothing"
            )
            assert seen_by_vanished["ended"] < server_ended - 0.3, (
                "the silent client was only disconnected when the server stopped: drop it after give_up_after seconds"
            )
            assert 2 <= pongs["count"] <= 10, (
                f"the live client was pinged {pongs['count']} times in 1.5 s with ping_after=0.2 s: "
                "about once every 0.2 s of silence"
            )
            print(f"✓ Exercise 09.2 correct: the vanished client was dropped; the live one answered {pongs['count']} pings")
        """,
        """
        class Liveness:
            def __init__(self, ping_after, give_up_after, clock=time.monotonic):
                self.ping_after, self.give_up_after, self.clock = ping_after, give_up_after, clock
                self.last_heard = {}  # peer -> when it was last heard
                self.pinged = set()  # peers pinged since they were last heard

            def heard(self, peer):
                self.last_heard[peer] = self.clock()
                self.pinged.discard(peer)

            def due(self):
                now, ping, drop = self.clock(), [], []
                for peer, heard_at in list(self.last_heard.items()):
                    silence = now - heard_at
                    if silence >= self.give_up_after:
                        drop.append(peer)
                        self.forget(peer)
                    elif silence >= self.ping_after and peer not in self.pinged:
                        ping.append(peer)
                        self.pinged.add(peer)
                return ping, drop

            def forget(self, peer):
                self.last_heard.pop(peer, None)
                self.pinged.discard(peer)
        """,
        wrong=[
            """
            class Liveness:
                def __init__(self, ping_after, give_up_after, clock=time.monotonic):
                    self.ping_after, self.give_up_after, self.clock = ping_after, give_up_after, clock
                    self.last_heard = {}

                def heard(self, peer):
                    self.last_heard[peer] = self.clock()

                def due(self):  # pings on every call once silent: a flood of pings
                    now = self.clock()
                    drop = [p for p, t in self.last_heard.items() if now - t >= self.give_up_after]
                    ping = [p for p, t in self.last_heard.items() if self.ping_after <= now - t < self.give_up_after]
                    for peer in drop:
                        del self.last_heard[peer]
                    return ping, drop

                def forget(self, peer):
                    self.last_heard.pop(peer, None)
            """,
            """
            class Liveness:
                def __init__(self, ping_after, give_up_after, clock=time.monotonic):
                    self.ping_after, self.give_up_after, self.clock = ping_after, give_up_after, clock
                    self.connected_at, self.pinged = {}, set()

                def heard(self, peer):  # only the first time counts: silence is measured from connecting
                    self.connected_at.setdefault(peer, self.clock())

                def due(self):
                    now, ping, drop = self.clock(), [], []
                    for peer, since in list(self.connected_at.items()):
                        if now - since >= self.give_up_after:
                            drop.append(peer)
                            self.forget(peer)
                        elif now - since >= self.ping_after and peer not in self.pinged:
                            ping.append(peer)
                            self.pinged.add(peer)
                    return ping, drop

                def forget(self, peer):
                    self.connected_at.pop(peer, None)
                    self.pinged.discard(peer)
            """,
            """
            class Liveness:
                def __init__(self, ping_after, give_up_after, clock=time.monotonic):
                    self.ping_after, self.clock = ping_after, clock
                    self.last_heard, self.pinged = {}, set()

                def heard(self, peer):
                    self.last_heard[peer] = self.clock()
                    self.pinged.discard(peer)

                def due(self):  # pings, but never gives up on anyone
                    now, ping = self.clock(), []
                    for peer, heard_at in self.last_heard.items():
                        if now - heard_at >= self.ping_after and peer not in self.pinged:
                            ping.append(peer)
                            self.pinged.add(peer)
                    return ping, []

                def forget(self, peer):
                    self.last_heard.pop(peer, None)
            """,
        ],
    )
    # ------------------------------------------------------------------ lab 3
    nb.step(
        """
        ## Lab 3: a private AF_UNIX socket, and a stale one

        Pair 000 and notebook 06 put their server at a **path**. Two questions every such server must answer:
        who else on this machine may connect (on a shared machine, such as a JupyterHub, other students can see
        `/tmp`), and what to do about a socket file left behind by a server that crashed.

        **Predict, then run (P09.3).** A server crashed and left its socket file behind. (a) What does `bind()` on
        that path say? (b) What does a client's `connect()` say? (c) With this machine's `umask`, which
        permissions does a fresh socket file get, and who may connect to it? (To connect to an AF_UNIX socket,
        Linux requires *write* permission on its file.)
        """,
        """
        if not hasattr(socket, "AF_UNIX"):
            print("this Python has no AF_UNIX sockets (Windows): lab 3 needs Linux or macOS")
        else:
            current_umask = os.umask(0o022)
            os.umask(current_umask)  # reading the umask means setting it: put it straight back
            stale_path = os.path.join(scratch.name, "crashed.sock")
            crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            crashed.bind(stale_path)
            crashed.listen(1)
            print(f"(c) umask {current_umask:03o}: a fresh socket file is", stat.filemode(os.stat(stale_path).st_mode))
            crashed.close()  # the server "crashes": close() does not remove the file
            print("after the crash the file is still there:", os.path.exists(stale_path))
            again = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                again.bind(stale_path)
            except OSError as exc:
                print("(a) bind:", type(exc).__name__, "-", exc.strerror)
            again.close()
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.settimeout(1.0)
            try:
                client.connect(stale_path)
            except OSError as exc:
                print("(b) connect:", type(exc).__name__, "-", exc.strerror)
            client.close()
            os.unlink(stale_path)
        """,
    )
    nb.md(
        """
        `bind` fails with "Address already in use" although nobody uses it, and `connect` is refused: that refusal
        is the **liveness probe**. A path where a connect is refused is stale and may be removed; a path where a
        server answers (or is too busy to answer at once) belongs to a live server and must be left alone; a path
        that is not a socket at all is someone's file. And a socket file's permissions come from the `umask` at the
        moment of `bind`: set it first, or there is a moment when others may connect.
        """
    )
    nb.exercise(
        "09.3",
        "a private socket, with a liveness probe",
        """
        Write `open_private_socket(path)` that returns a listening AF_UNIX socket at `path`:

        1. If something exists at `path`: if it is not a socket (`stat.S_ISSOCK(os.lstat(path).st_mode)`), raise
           `FileExistsError` and leave it alone. If it is a socket, **probe** it: connect with a 1 s timeout. Refused
           (`ConnectionRefusedError`): stale, remove it. Connected, or any other error (busy, timed out): a server
           is alive there: raise `FileExistsError`.
        2. Create the file **0600** (`srw-------`: only you may connect) from the start: set `os.umask(0o177)` just
           around `bind`, then put the old umask back (it is process-wide).
        3. `listen` and return the socket.

        The check plays the other programs: a client, a live server, a server too busy to accept, a crashed
        server's leftover, and someone's ordinary file.
        """,
        """
        def open_private_socket(path):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt


        def refused_or_opened(path):
            try:
                opened = open_private_socket(path)
            except FileExistsError:
                return "refused"
            if hasattr(opened, "close"):
                opened.close()
            return "opened a new socket"


        def umask_now():
            current = os.umask(0o022)
            os.umask(current)
            return current


        def can_connect(path):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(1.0)
                try:
                    client.connect(path)
                    return True
                except OSError:
                    return False


        if not hasattr(socket, "AF_UNIX"):
            print("Exercise 09.3 needs AF_UNIX sockets (Linux or macOS); skipped on this system.")
        else:
            folder = tempfile.mkdtemp(dir=scratch.name)
            path = os.path.join(folder, "private.sock")
            usual_umask = os.umask(0o022)  # a usual umask: a plain bind would give srwxr-xr-x
            try:
                first = attempt("open_private_socket(path)", open_private_socket, path)
                if first is NotImplemented:
                    print("Exercise 09.3 not attempted yet: write open_private_socket above, run it, then run this cell again.")
                else:
                    assert umask_now() == 0o022, f"your function left the umask at {umask_now():03o}: put the old one back"
                    assert isinstance(first, socket.socket), f"return the listening socket, not {first!r}"
                    mode = os.stat(path).st_mode
                    assert stat.S_ISSOCK(mode), f"{path} is not a socket file"
                    assert stat.S_IMODE(mode) == 0o600, (
                        f"the socket file is {stat.filemode(mode)}: others may connect; create it srw------- (umask 0o177)"
                    )
                    first.settimeout(2.0)
                    assert can_connect(path), "a client could not connect to your socket: did you call listen?"
                    first.accept()[0].close()

                    outcome = attempt("open_private_socket(path of a live server)", refused_or_opened, path)
                    assert outcome == "refused", (
                        f"a server is listening at that path and your function {outcome}: probe it and raise FileExistsError"
                    )
                    assert can_connect(path), "the live server's socket was removed or replaced: never touch a live one"
                    first.accept()[0].close()
                    first.close()

                    if sys.platform.startswith("linux"):  # Linux makes a full queue wait (others refuse)
                        busy_path = os.path.join(folder, "busy.sock")
                        busy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        busy.bind(busy_path)
                        busy.listen(0)
                        waiting = []
                        while True:  # fill its accept queue
                            knock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                            knock.setblocking(False)
                            try:
                                knock.connect(busy_path)
                            except BlockingIOError:
                                knock.close()
                                break
                            waiting.append(knock)
                        try:
                            outcome = attempt("open_private_socket(path of a busy server)", refused_or_opened, busy_path)
                        finally:
                            for sock in [busy, *waiting]:
                                sock.close()
                        assert outcome == "refused", f"a live but busy server's path: your function {outcome}"

                    stale = os.path.join(folder, "stale.sock")
                    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    crashed.bind(stale)
                    crashed.close()
                    replacement = attempt("open_private_socket(path of a crashed server)", open_private_socket, stale)
                    assert isinstance(replacement, socket.socket), f"a stale socket file should be replaced; got {replacement!r}"
                    replacement.settimeout(2.0)
                    assert can_connect(stale), "after replacing the stale file, clients could not connect"
                    replacement.accept()[0].close()
                    replacement.close()
                    assert stat.S_IMODE(os.stat(stale).st_mode) == 0o600, "the replacement socket file is not 0600 either"

                    precious = os.path.join(folder, "notes.txt")
                    with open(precious, "w") as f:
                        f.write("someone's homework")
                    outcome = attempt("open_private_socket(path of an ordinary file)", refused_or_opened, precious)
                    assert os.path.exists(precious) and open(precious).read() == "someone's homework", (
                        "you deleted or changed an ordinary file: only remove a socket file nobody answers on"
                    )
                    assert outcome == "refused", f"an ordinary file at the path: your function {outcome}; raise FileExistsError"
                    assert umask_now() == 0o022, f"your function left the umask at {umask_now():03o}: put the old one back"
                    print("✓ Exercise 09.3 correct: a 0600 socket, a liveness probe, and nobody's file harmed")
            finally:
                os.umask(usual_umask)
        """,
        """
        def open_private_socket(path):
            if os.path.lexists(path):
                if not stat.S_ISSOCK(os.lstat(path).st_mode):
                    raise FileExistsError(f"{path} exists and is not a socket: leaving it alone")
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                probe.settimeout(1.0)
                try:
                    probe.connect(path)
                except ConnectionRefusedError:
                    os.unlink(path)  # stale: nobody listens there
                except OSError as exc:  # busy or slow: someone is there
                    raise FileExistsError(f"a server at {path} is alive but busy ({exc})") from None
                else:
                    raise FileExistsError(f"a server is already listening at {path}")
                finally:
                    probe.close()
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            previous = os.umask(0o177)  # the file is created srw-------: no moment when others may connect
            try:
                listener.bind(path)
            finally:
                os.umask(previous)
            listener.listen(8)
            return listener
        """,
        wrong=[
            """
            def open_private_socket(path):
                if os.path.exists(path):
                    os.unlink(path)  # no probe: a live server's socket is thrown away
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                previous = os.umask(0o177)
                try:
                    listener.bind(path)
                finally:
                    os.umask(previous)
                listener.listen(8)
                return listener
            """,
            """
            def open_private_socket(path):
                if os.path.lexists(path):
                    if not stat.S_ISSOCK(os.lstat(path).st_mode):
                        raise FileExistsError(path)
                    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    probe.settimeout(1.0)
                    try:
                        probe.connect(path)
                    except ConnectionRefusedError:
                        os.unlink(path)
                    except OSError:
                        raise FileExistsError(path) from None
                    else:
                        raise FileExistsError(path)
                    finally:
                        probe.close()
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.bind(path)  # the umask decides: usually srwxr-xr-x
                listener.listen(8)
                return listener
            """,
            """
            def open_private_socket(path):
                if os.path.lexists(path):
                    if not stat.S_ISSOCK(os.lstat(path).st_mode):
                        raise FileExistsError(path)
                    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # no timeout on the probe
                    try:
                        probe.connect(path)
                    except ConnectionRefusedError:
                        os.unlink(path)
                    else:
                        raise FileExistsError(path)
                    finally:
                        probe.close()
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                previous = os.umask(0o177)
                try:
                    listener.bind(path)
                finally:
                    os.umask(previous)
                listener.listen(8)
                return listener
            """,
            """
            def open_private_socket(path):
                if os.path.lexists(path):
                    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    probe.settimeout(1.0)
                    try:
                        probe.connect(path)
                    except OSError:  # refused, busy, or not a socket at all: "stale", remove it
                        os.unlink(path)
                    else:
                        raise FileExistsError(path)
                    finally:
                        probe.close()
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                previous = os.umask(0o177)
                try:
                    listener.bind(path)
                finally:
                    os.umask(previous)
                listener.listen(8)
                return listener
            """,
            """
            def open_private_socket(path):
                if os.path.lexists(path):
                    if not stat.S_ISSOCK(os.lstat(path).st_mode):
                        raise FileExistsError(path)
                    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    probe.settimeout(1.0)
                    try:
                        probe.connect(path)
                    except ConnectionRefusedError:
                        os.unlink(path)
                    except OSError:
                        raise FileExistsError(path) from None
                    else:
                        raise FileExistsError(path)
                    finally:
                        probe.close()
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                os.umask(0o177)  # never puts the old umask back
                listener.bind(path)
                listener.listen(8)
                return listener
            """,
        ],
    )
    nb.step(
        """
        ## Clean up
        """,
        """
        scratch.cleanup()
        print("scratch folder removed:", not os.path.exists(scratch.name))
        """,
    )
    nb.md(
        """
        **Where this leads:** lanchat has the first and the last: per-client output queues with a limit
        (`lanchat.outbox` and `lanchat.guard`: a reader whose queue grows first slows down the senders that feed
        it; one whose queue takes no byte for 30 s, or passes 1 MiB, is dropped),
        and an AF_UNIX endpoint born 0600 after a liveness probe (`lanchat.transport.listen_unix`). For silence
        its server has deadlines (`lanchat.hub_timers`: a handshake, or a frame, that does not arrive in time) and TCP
        keepalive switched on with short timers (`lanchat.transport`: first probe after 20 s of silence instead
        of 7,200 s: a vanished peer is noticed within about a minute); it pings nobody. The heartbeat is the
        **client's**, for what keepalive cannot see, a server whose process is stopped (its kernel answers the
        probes): after 15 s without a byte from the room it sends a `ping`, and the server answers `pong`
        (`lanchat.liveness`; notebook 07 stops a real server to show it).
        """
    )
    return [nb]
