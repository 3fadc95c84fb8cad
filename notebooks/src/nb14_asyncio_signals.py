"""Notebook 14: asyncio streams as a third server architecture, and signals (SIGINT, SIGTERM, SIGKILL)."""

from cells import Notebook

SIGNAL_SERVER = '''
import asyncio, signal, struct, sys

async def main():
    clients = set()
    stop = asyncio.Event()

    async def handle(reader, writer):
        clients.add(writer)
        writer.write(struct.pack(">I", 7) + b"welcome")  # tells the client it is registered
        try:
            await reader.read()  # this small server only listens for the end
        except asyncio.CancelledError:
            pass  # the server is stopping
        finally:
            clients.discard(writer)
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    for name in ("SIGINT", "SIGTERM"):  # Ctrl-C and kill: leave politely
        loop.add_signal_handler(getattr(signal, name), lambda name=name: (print("got", name, flush=True), stop.set()))
    print(server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    notice = b"the server is shutting down"
    for writer in clients:
        writer.write(struct.pack(">I", len(notice)) + notice)
        await writer.drain()
        writer.close()
    server.close()
    await server.wait_closed()

asyncio.run(main())
'''


def notebooks() -> list[Notebook]:
    nb = Notebook("14_asyncio_and_signals.ipynb", "asyncio streams, and signals")
    nb.md(
        """
        # 14 · A third way to serve many clients: asyncio; and how a server hears "stop"

        Notebook 03 served many clients with **a thread each**, then with **one `selectors` loop**. `asyncio` is
        the selectors loop with a friendlier face: each client is a **coroutine** (`async def`) that reads as if it
        blocked (`await reader.readexactly(4)`), while one event loop underneath switches between them whenever
        one would wait. Then: **signals**, the way the system tells a running server to stop (Ctrl-C is SIGINT,
        `kill` is SIGTERM), and what it cannot be told (SIGKILL, a power cut).

        Needs Python 3.11. The signal cells need Linux or macOS (Windows has no SIGTERM to send to a process);
        they say so and skip there.
        """
    )
    nb.step(
        """
        ## Settings

        The servers in this notebook each run in a thread with **their own** event loop (`serve_in_thread`), and
        the clients are plain sockets with timeouts, as in earlier notebooks: so a server that misbehaves can
        never freeze the notebook itself (Jupyter runs its own event loop too).
        """,
        """
        import asyncio
        import os
        import signal
        import socket
        import struct
        import subprocess
        import sys
        import threading
        import time

        HOST = "127.0.0.1"
        TIMEOUT = 5.0


        def frame(payload):
            return struct.pack(">I", len(payload)) + payload


        async def read_frame(reader):
            # one length-prefixed frame (notebook 02), or None at the end of the stream
            try:
                (length,) = struct.unpack(">I", await reader.readexactly(4))
                return await reader.readexactly(length)
            except asyncio.IncompleteReadError:
                return None


        def serve_in_thread(handler):
            # asyncio.start_server(handler) in a thread of its own; returns (port, stop)
            ready, stopping = threading.Event(), {}

            async def main():
                server = await asyncio.start_server(handler, HOST, 0)
                stopping["loop"], stopping["event"] = asyncio.get_running_loop(), asyncio.Event()
                stopping["port"] = server.sockets[0].getsockname()[1]
                ready.set()
                await stopping["event"].wait()
                server.close()
                await server.wait_closed()

            thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
            thread.start()
            assert ready.wait(TIMEOUT), "the asyncio server did not start"

            def stop():
                stopping["loop"].call_soon_threadsafe(stopping["event"].set)
                thread.join(TIMEOUT)

            return stopping["port"], stop


        def connect(port):
            return socket.create_connection((HOST, port), timeout=TIMEOUT)


        def receive_frame(sock):
            # the plain-socket side of read_frame, with the socket's timeout
            data = b""
            while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
                chunk = sock.recv(4 + (struct.unpack(">I", data[:4])[0] if len(data) >= 4 else 0) - len(data))
                if not chunk:
                    return None
                data += chunk
            return data[4:]


        print("ready")
        """,
    )
    nb.step(
        """
        ## An asyncio relay

        `asyncio.start_server(handle, host, port)` accepts connections and runs `handle(reader, writer)` as a new
        task for each. Inside, `await reader.readexactly(n)` waits for exactly `n` bytes (framing made easy), and
        `writer.write(data)` queues bytes; `await writer.drain()` waits while the queue is too full (that is
        asyncio's **back-pressure**, notebook 11). One thread, no locks: coroutines only switch at an `await`.
        """,
        """
        relay_clients = set()


        async def relay(reader, writer):
            relay_clients.add(writer)
            try:
                while (payload := await read_frame(reader)) is not None:
                    if payload == b"cy: slow":  # for the next cell: a handler that blocks
                        writer.write(frame(b"sleeping"))
                        time.sleep(0.5)  # blocking! not await asyncio.sleep(0.5)
                        continue
                    for other in list(relay_clients):
                        if other is not writer:
                            other.write(frame(payload))
                            await other.drain()
            except ConnectionError:
                pass  # a reset: the client closed with messages still unread (cy, at the end)
            finally:
                relay_clients.discard(writer)
                writer.close()


        port, stop_relay = serve_in_thread(relay)
        people = {name: connect(port) for name in ("ana", "ben", "cy")}
        deadline = time.monotonic() + TIMEOUT
        while len(relay_clients) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)  # polling until the server has all three; the deadline decides
        people["ana"].sendall(frame(b"ana: hello from a coroutine"))
        for name in ("ben", "cy"):
            print(name, "received", receive_frame(people[name]))
        """,
    )
    nb.step(
        """
        **Predict, then run (P14.1).** What happens to everyone else if one handler calls a *blocking* function
        (here `time.sleep(0.5)`, standing in for a blocking `recv` or a slow disk) instead of awaiting? cy's
        message makes its handler sleep; right after, ben sends a message: how long until ana receives it?
        """,
        """
        people["cy"].sendall(frame(b"cy: slow"))
        print("cy received", receive_frame(people["cy"]))  # its handler is now asleep
        started = time.monotonic()
        people["ben"].sendall(frame(b"ben: anyone?"))
        print("ana received", receive_frame(people["ana"]), f"after {time.monotonic() - started:.2f} s")
        """,
    )
    nb.md(
        """
        Everything waited half a second: one blocking call stops **every** client, because there is only one
        thread. In asyncio, anything that waits must be awaited (`asyncio.sleep`, stream reads and writes), and
        truly blocking work goes to a thread (`await asyncio.to_thread(f)`). The three architectures:

        | | threads (03) | selectors (03, lanchat) | asyncio (here) |
        |---|---|---|---|
        | a client is | a thread | an entry in a dict | a coroutine |
        | waits with | blocking calls | `select`, then non-blocking calls | `await` |
        | shared data | needs locks | one thread: no locks | one thread: no locks |
        | a blocking call stops | that client | everyone | everyone |
        """
    )
    nb.exercise(
        "14.1",
        "an asyncio chat handler",
        """
        Write `async def chat(reader, writer)` for `asyncio.start_server`: add `writer` to the set `CHAT`; read
        length-prefixed frames (use `read_frame`) and send each one, framed, to every **other** writer in `CHAT`
        (awaiting `drain`); when the client leaves (end of stream, even in the middle of a frame), remove its writer
        and close it. Never let an exception escape (a client that vanishes is normal).

        The check runs your handler in a server of its own, with clients that talk at the same time byte by byte,
        one that leaves in the middle of a frame, and one that says "I have finished" (`write_eof`) and expects the
        server to close its side.
        """,
        """
        CHAT = set()


        async def chat(reader, writer):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import TookTooLong


        async def heard(reader, what):
            # the next frame, within 2 s, or an AssertionError that says what was expected
            try:
                return await asyncio.wait_for(read_frame(reader), 2)
            except TimeoutError:
                raise AssertionError(f"{what}: nothing whole arrived within 2 s") from None


        async def scenario():
            crashes = []

            async def guarded(reader, writer):
                try:
                    await chat(reader, writer)
                except asyncio.CancelledError:
                    pass  # the check is over
                except Exception as exc:
                    crashes.append(exc)

            CHAT.clear()
            server = await asyncio.start_server(guarded, HOST, 0)
            port = server.sockets[0].getsockname()[1]
            try:
                clients = [await asyncio.open_connection(HOST, port) for _ in range(3)]
                (ra, wa), (rb, wb), (rc, wc) = clients
                for _ in range(100):  # until the server has registered all three
                    if len(CHAT) == 3:
                        break
                    await asyncio.sleep(0.01)
                assert len(CHAT) == 3, f"CHAT holds {len(CHAT)} writers with three clients connected: add each writer"
                one, two = frame(b"from a: " + b"a" * 50), frame(b"from b: " + b"b" * 50)
                for i in range(max(len(one), len(two))):  # a and b talk at once, one byte at a time
                    for writer, data in ((wa, one), (wb, two)):
                        if i < len(data):
                            writer.write(data[i : i + 1])
                            await writer.drain()
                mixed = "relay whole frames (read_frame), not raw bytes: two people talking at once got mixed up"
                got = sorted([await heard(rc, f"c, from a and b: {mixed}"), await heard(rc, f"c: {mixed}")])
                assert got == [one[4:], two[4:]], f"c heard {[h[:12] for h in got if h]}: {mixed}"
                assert await heard(ra, "a, from b") == two[4:], "a should hear b's message"
                assert await heard(rb, "b, from a") == one[4:], "b should hear a's message"

                wc.write(frame(b"half a message")[:7])  # c vanishes in the middle of a frame
                await wc.drain()
                wc.transport.abort()
                wa.write(frame(b"still there?"))
                await wa.drain()
                assert await heard(rb, "b, after c vanished") == b"still there?", "after c vanished, a and b must still talk"

                wb.write_eof()  # b: "I have finished sending"
                try:
                    end = await asyncio.wait_for(rb.read(), 2)
                except TimeoutError:
                    raise AssertionError("b finished, but the server never closed its side: close the writer") from None
                assert end == b"", f"b expected the end of the stream, got {end!r}"
                for _ in range(100):
                    if len(CHAT) == 1:
                        break
                    await asyncio.sleep(0.01)
                assert len(CHAT) == 1, f"two clients left, one is here, but CHAT holds {len(CHAT)}: remove writers that leave"
                assert not crashes, f"your handler raised {crashes[0]!r}: a client that leaves is normal"
            finally:
                for _, writer in clients:
                    writer.close()
                for _ in range(100):  # let the handlers see their clients leave
                    if not CHAT:
                        break
                    await asyncio.sleep(0.01)
                server.close()
                await server.wait_closed()


        def in_own_loop(make_coroutine, seconds):
            # asyncio.run in a thread of its own, so a handler that blocks cannot freeze this notebook
            outcome = {}

            def body():
                try:
                    outcome["value"] = asyncio.run(make_coroutine())
                except BaseException as exc:
                    outcome["error"] = exc

            worker = threading.Thread(target=body, daemon=True)
            worker.start()
            worker.join(seconds)
            if worker.is_alive():
                raise TookTooLong(f"the chat check was still running after {seconds} s: a blocking call in your handler?")
            if "error" in outcome:
                raise outcome["error"]
            return outcome.get("value")


        async def probe():
            # the starter answers at once; a real handler meets an empty stream and returns
            reader = asyncio.StreamReader()
            reader.feed_eof()
            try:
                return await chat(reader, type("NoWriter", (), {"close": lambda self: None})())
            except Exception:
                return "written"


        if in_own_loop(probe, 3) is NotImplemented:
            print("Exercise 14.1 not attempted yet: write chat above, run it, then run this cell again.")
        else:
            in_own_loop(scenario, 6)
            print("✓ Exercise 14.1 correct: whole frames relayed, vanishing clients survived, finished clients closed")
        """,
        """
        CHAT = set()


        async def chat(reader, writer):
            CHAT.add(writer)
            try:
                while (payload := await read_frame(reader)) is not None:
                    for other in list(CHAT):
                        if other is not writer:
                            try:
                                other.write(frame(payload))
                                await other.drain()
                            except ConnectionError:
                                pass  # that one is leaving; its own handler cleans up
            except ConnectionError:
                pass  # a reset: the client vanished
            finally:
                CHAT.discard(writer)
                writer.close()
        """,
        wrong=[
            """
            CHAT = set()


            async def chat(reader, writer):
                CHAT.add(writer)
                while data := await reader.read(65536):  # raw bytes, not frames
                    for other in list(CHAT):
                        if other is not writer:
                            other.write(data)
                            await other.drain()
                CHAT.discard(writer)
                writer.close()
            """,
            """
            CHAT = set()


            async def chat(reader, writer):
                CHAT.add(writer)
                while True:
                    (length,) = struct.unpack(">I", await reader.readexactly(4))  # the end is an exception here
                    payload = await reader.readexactly(length)
                    for other in list(CHAT):
                        if other is not writer:
                            other.write(frame(payload))
                            await other.drain()
            """,
            """
            CHAT = set()


            async def chat(reader, writer):
                CHAT.add(writer)
                while (payload := await read_frame(reader)) is not None:
                    for other in list(CHAT):
                        if other is not writer:
                            other.write(frame(payload))
                            await other.drain()
                CHAT.discard(writer)  # forgets to close: the client never hears the end
            """,
        ],
    )
    nb.step(
        """
        ## Signals: how a server is told to stop

        A signal is a small number the system delivers to a process: **SIGINT** when you press Ctrl-C in its
        terminal (notebook 04a showed it), **SIGTERM** from `kill PID` or a service manager stopping it. A program
        may **handle** both and leave politely: asyncio's `loop.add_signal_handler` runs a function in the event
        loop. **SIGKILL** (`kill -9`) and a power cut cannot be handled: the process just ends (or the machine
        does), and the clients see the connection end with no notice, or, for a power cut, see nothing at all
        (notebook 09's heartbeat is what notices that).

        **Predict, then run (P14.2).** A small asyncio server (a subprocess) that tells its clients "shutting down"
        when it gets SIGINT or SIGTERM. A client is connected. What does the client receive after SIGTERM? After
        SIGKILL?
        """,
        f"""
        SIGNAL_SERVER = {SIGNAL_SERVER!r}


        def stop_with(which):
            proc = subprocess.Popen([sys.executable, "-u", "-c", SIGNAL_SERVER], stdout=subprocess.PIPE, text=True)
            try:
                port = int(proc.stdout.readline())  # the server prints its port first
                with connect(port) as client:
                    assert receive_frame(client) == b"welcome"  # it knows about us now
                    proc.send_signal(which)
                    heard = receive_frame(client)
                proc.wait(TIMEOUT)
                return heard, proc.stdout.read().strip(), proc.returncode
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.stdout.close()


        if os.name == "posix":
            for which in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
                heard, said, code = stop_with(which)
                print(f"{{which.name:8}} the client received {{heard!r}}; the server printed {{said!r}}; exit status {{code}}")
        else:
            print("Windows cannot send SIGTERM or SIGINT to another process: this cell needs Linux or macOS")
        """,
    )
    nb.md(
        """
        SIGTERM and SIGINT: the handler ran, the notice arrived, the exit status is 0. SIGKILL: the exit status is
        `-9` (killed by signal 9), the handler never ran, and the client only saw the stream end (`None` from
        `receive_frame`). lanchat's server catches SIGINT and SIGTERM too and sends everyone its shutdown notice
        before closing (notebook 04b stops it with SIGINT and reads the notice, which also says whether the server
        may come back).
        """
    )
    nb.step(
        """
        ## Clean up
        """,
        """
        for sock in people.values():
            sock.close()
        deadline = time.monotonic() + TIMEOUT
        while relay_clients and time.monotonic() < deadline:
            time.sleep(0.005)  # each handler sees its client's end and returns by itself
        stop_relay()  # (a handler still waiting when the loop stops is cancelled, and Python 3.11 logs that)
        print("relay stopped")
        """,
    )
    nb.md("**Next:** notebook 15 shows how lanchat's own client waits on the keyboard and the socket at once.")
    return [nb]
