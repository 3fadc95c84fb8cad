"""Notebook 02: message boundaries, the length header, UTF-8, timestamps, broadcasting (seed 004)."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("02_framing.ipynb", "Framing: where does one message end?")
    nb.md(
        """
        # 02 · Framing: where does one message end?

        In notebook 01, `recv(1024)` always returned exactly one message. That was luck. TCP (and AF_UNIX
        stream sockets) carry a **stream of bytes**, not messages: one `recv` can return half a message, or two
        messages glued together. Seed 004 solves it the standard way: every message starts with a **header**
        that says how long it is. This notebook shows the problem on real sockets, builds the fix by hand, and
        then checks it against lanchat's real framing in `lanchat.wire`.
        """
    )
    nb.step(
        """
        ## Settings and a connected pair of TCP sockets

        The server listens on port 0 (any free port) on this machine; the client connects; the server accepts.
        As notebook 01 showed, one thread can do all three because `connect` completes without `accept`.
        """,
        """
        import socket
        import struct
        import threading
        import time

        HOST = "127.0.0.1"
        PORT = 0  # any free port: the servers in this notebook are only reached from inside it
        TIMEOUT = 10.0

        def tcp_pair():
            # a connected (client, server-side) pair of TCP sockets on this machine
            with socket.create_server((HOST, PORT)) as listener:
                listener.settimeout(TIMEOUT)
                client = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
                server_side, _ = listener.accept()
            server_side.settimeout(TIMEOUT)
            return client, server_side

        sender, receiver = tcp_pair()
        print(sender.getsockname(), "->", receiver.getsockname())
        """,
    )
    nb.step(
        """
        ## Two sends can arrive as one `recv`

        The sender sends `hello` and then `world`, two separate calls. We wait until all ten bytes have arrived
        (peeking, with a deadline), then call `recv` **once**: both messages come out together. Nothing marks
        where the first one ended.
        """,
        """
        def wait_until_readable(sock, nbytes, timeout=TIMEOUT):
            # peek (without consuming) until nbytes are waiting, or give up at the deadline
            deadline = time.monotonic() + timeout
            while len(sock.recv(nbytes, socket.MSG_PEEK)) < nbytes:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{nbytes} bytes did not arrive")
                time.sleep(0.001)  # polling interval; the deadline decides

        sender.sendall(b"hello")
        sender.sendall(b"world")
        wait_until_readable(receiver, 10)
        got = receiver.recv(1024)
        print("one recv returned:", got)
        assert got == b"helloworld"
        """,
    )
    nb.step(
        """
        ## And one send can arrive in pieces

        `recv(n)` returns **at most** n bytes, whatever was sent. Ask for 4 bytes of `hello` and you get `hell`.
        A large message is split the same way: `recv(65536)` can never return a 200 KB message in one call, and
        the network may split it further.
        """,
        """
        sender.sendall(b"hello")
        print("recv(4) ->", receiver.recv(4), " then recv(1024) ->", receiver.recv(1024))

        big = bytes(200_000)
        writer = threading.Thread(target=sender.sendall, args=(big,))
        writer.start()
        pieces = []
        while sum(map(len, pieces)) < len(big):
            pieces.append(receiver.recv(65536))
        writer.join(TIMEOUT)
        print(f"one sendall of {len(big):,} bytes arrived in {len(pieces)} recv calls:", [len(p) for p in pieces][:8], "...")
        assert len(pieces) >= 4
        """,
    )
    nb.md(
        """
        ## The fix: a length header before every message

        Seed 004 puts a **header** in front of each message saying how many bytes follow. lanchat does the same
        with a fixed-size header: 4 bytes, the length as a big-endian unsigned number (`struct` format `">I"`).
        The receiver then knows exactly how much to read: 4 bytes of header, then that many bytes of message.

        First our own toy version, so you see every byte. `toy_frame` adds the header.
        """
    )
    nb.code(
        """
        def toy_frame(payload: bytes) -> bytes:
            return struct.pack(">I", len(payload)) + payload

        print(toy_frame(b"hi"))
        """
    )
    nb.step(
        """
        To read a frame from a socket we need `recv_exactly(n)`: keep calling `recv` until n bytes have
        arrived, because any single `recv` may return fewer. Empty bytes mean the peer closed in the middle.
        """,
        """
        def recv_exactly(sock, n):
            data = bytearray()
            while len(data) < n:
                chunk = sock.recv(n - len(data))
                if not chunk:
                    raise ConnectionError(f"peer closed after {len(data)} of {n} bytes")
                data += chunk
            return bytes(data)

        def toy_read_frame(sock):
            (length,) = struct.unpack(">I", recv_exactly(sock, 4))
            return recv_exactly(sock, length)

        sender.sendall(toy_frame(b"hello") + toy_frame(b"world"))  # glued together on purpose
        print(toy_read_frame(receiver), toy_read_frame(receiver))
        """,
    )
    nb.md(
        """
        ## UTF-8: the header counts bytes, not characters

        Text must become bytes before sending; seed 004 and lanchat use **UTF-8**. Letters outside English take
        2 to 4 bytes each, so the header must count the **encoded bytes**. And a `recv` can even end in the
        middle of one character, so decode only whole frames, never raw `recv` results.
        """
    )
    nb.code(
        """
        text = "héllo 👋"
        encoded = text.encode("utf-8")
        print(f"{len(text)} characters, {len(encoded)} bytes:", encoded)
        half = encoded[: len(encoded) - 2]  # as if a recv ended inside the emoji
        try:
            half.decode("utf-8")
        except UnicodeDecodeError as exc:
            print("decoding a partial recv fails:", exc.reason)
        """
    )
    nb.step(
        """
        ## Compare with lanchat's real framing

        `lanchat.wire.frame` is the same header; `lanchat.wire.FrameDecoder` is the receiving side done without
        a socket: you `feed` it whatever bytes arrived and it hands back every **complete** payload, keeping the
        leftover for next time. Feeding it one byte at a time, or everything at once, gives the same messages.
        """,
        """
        from lanchat.wire import HEADER_BYTES, MAX_FRAME_BYTES, FrameDecoder, encode_json, frame

        assert toy_frame(encoded) == frame(encoded), "the toy and lanchat disagree"
        stream = frame(b"hello") + frame("héllo 👋".encode()) + frame(b"!")

        one_by_one = FrameDecoder()
        found = []
        for i in range(len(stream)):
            found += one_by_one.feed(stream[i : i + 1])
        print("fed one byte at a time:", found)
        print("fed all at once:       ", FrameDecoder().feed(stream))
        print(f"header: {HEADER_BYTES} bytes; biggest payload lanchat accepts: {MAX_FRAME_BYTES:,} bytes")
        """,
    )
    nb.step(
        """
        A limit matters: a stranger's header could announce 4 GB. `FrameDecoder` refuses a frame over the limit
        instead of trying to collect it.
        """,
        """
        from lanchat.wire import FrameError

        try:
            FrameDecoder().feed(struct.pack(">I", 4_000_000_000))
        except FrameError as exc:
            print("refused:", exc)
        """,
    )
    nb.md(
        """
        ## Timestamps

        Seed 004 puts the time on every incoming message. lanchat's frames carry JSON objects, and the **server**
        stamps each message with its own clock (a client could lie about the time, or its clock could be
        wrong). The time travels as seconds since 1970 (a number); each reader shows it in their own time zone.
        `encode_json` makes the frame: compact JSON, UTF-8, with the length header in front.
        """
    )
    nb.code(
        """
        import json
        from datetime import datetime

        stamped = {"type": "message", "from": "ana", "text": "héllo", "time": 1_700_000_000.0}
        wire_bytes = encode_json(stamped)
        print(wire_bytes)
        received = json.loads(FrameDecoder().feed(wire_bytes)[0])
        print(f"[{datetime.fromtimestamp(received['time']).strftime('%H:%M:%S')}] {received['from']}: {received['text']}")
        """
    )
    nb.md(
        """
        ## Broadcasting

        In seed 004 the server passes each message on to **the other clients**. Below: three clients connect to
        a tiny server. `ana` sends a frame; the server reads it with `toy_read_frame`, stamps it, **encodes it
        once**, and writes the same bytes to `ben` and `cy`. (Encoding once matters with many clients: the work is
        done one time, not once per reader.)
        """
    )
    nb.code(
        """
        names = ["ana", "ben", "cy"]
        with socket.create_server((HOST, PORT)) as listener:
            listener.settimeout(TIMEOUT)
            clients = {name: socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT) for name in names}
            server_side = {name: listener.accept()[0] for name in names}  # accepted in the same order
        for s in server_side.values():
            s.settimeout(TIMEOUT)

        clients["ana"].sendall(frame("hi all 👋".encode()))
        text = toy_read_frame(server_side["ana"]).decode("utf-8")
        out = encode_json({"type": "message", "from": "ana", "text": text, "time": time.time()})  # encoded once
        for name, s in server_side.items():
            if name != "ana":
                s.sendall(out)  # the same bytes to every other client

        for name in ("ben", "cy"):
            message = json.loads(toy_read_frame(clients[name]))
            print(f"{name} sees: [{datetime.fromtimestamp(message['time']):%H:%M:%S}] {message['from']}: {message['text']}")
        """
    )
    nb.step(
        """
        lanchat's room does the same without any socket: `Room.handle` returns a `Broadcast` action holding one
        encoded frame and the list of recipients; the server loop writes that frame to each. (lanchat also sends
        the message back to its sender, so everyone's transcript shows the same server-stamped line.)
        """,
        """
        from lanchat import events as ev
        from lanchat.room import Broadcast, Room

        room = Room(clock=lambda: 1_700_000_000.0)
        for cid, name in enumerate(names, start=1):
            room.handle(cid, ev.Hello(name=name))
        actions = room.handle(1, ev.Say(text="hi all 👋"))
        broadcast = next(a for a in actions if isinstance(a, Broadcast))
        print("to connections", broadcast.to, "the frame", broadcast.frame)
        """,
    )
    nb.exercise(
        "02.1",
        "frame a text message",
        """
        Write `frame_text(text)` that returns the frame for a text: the 4-byte big-endian length of its
        **UTF-8 bytes**, then those bytes. The check compares it with `lanchat.wire.frame`.
        """,
        """
        def frame_text(text: str) -> bytes:
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt

        if attempt('frame_text("x")', frame_text, "x") is NotImplemented:
            print("Exercise 02.1 not attempted yet: write frame_text above, run it, then run this cell again.")
        else:
            for sample in ["hi", "", "héllo", "👋 ok", "x" * 60_000]:
                got = attempt(f"frame_text({sample[:10]!r})", frame_text, sample)
                assert isinstance(got, bytes), f"frame_text should return bytes, not {type(got).__name__}"
                want = frame(sample.encode("utf-8"))
                assert got[:4] == want[:4], (
                    f"header for {sample!r} is {got[:4]!r}, expected {want[:4]!r}: "
                    "count the UTF-8 bytes (not characters), 4 bytes, big-endian"
                )
                assert got == want, f"frame_text({sample[:10]!r}) = {got[:20]!r}..., expected {want[:20]!r}..."
            print("✓ Exercise 02.1 correct: your frames match lanchat.wire.frame byte for byte")
        """,
        """
        def frame_text(text: str) -> bytes:
            payload = text.encode("utf-8")
            return struct.pack(">I", len(payload)) + payload
        """,
        wrong=[
            """
            def frame_text(text: str) -> bytes:
                return struct.pack(">I", len(text)) + text.encode("utf-8")
            """,
            """
            def frame_text(text: str) -> bytes:
                payload = text.encode("utf-8")
                return struct.pack("<I", len(payload)) + payload  # little-endian
            """,
            """
            def frame_text(text: str) -> bytes:
                payload = text.encode("utf-8")
                return struct.pack(">H", len(payload)) + payload  # a 2-byte header
            """,
        ],
    )
    nb.exercise(
        "02.2",
        "a decoder of your own",
        """
        Write a class `MyDecoder` with a method `feed(data) -> list[bytes]`, like `FrameDecoder`: it keeps
        bytes that do not yet make a whole frame and returns every complete payload, in order. The check feeds
        it a stream all at once, then in pieces of every size from 1 to 9 bytes, and of 64.
        """,
        """
        class MyDecoder:
            def feed(self, data: bytes) -> list:
                return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt


        def decode_in_pieces(stream, size):
            decoder, got = MyDecoder(), []
            for i in range(0, len(stream), size):
                got += decoder.feed(stream[i : i + size])
            return got


        if attempt("MyDecoder().feed(b'')", MyDecoder().feed, b"") is NotImplemented:
            print("Exercise 02.2 not attempted yet: write MyDecoder above, run it, then run this cell again.")
        else:
            messages = [b"one", b"", "двa".encode(), b"x" * 300, b"a", b"b", b"c"]
            stream = b"".join(frame(m) for m in messages)
            got = attempt("feeding the whole stream in one call", decode_in_pieces, stream, len(stream))
            assert got == messages, (
                f"the whole stream in one feed gave {len(got)} payload(s), expected {len(messages)}: "
                "one recv can hold many frames, so keep taking frames while the buffer has a whole one (while, not if)"
            )
            for size in [*range(1, 10), 64]:
                got = attempt(f"feeding {size} byte(s) at a time", decode_in_pieces, stream, size)
                assert got == messages, (
                    f"fed {size} byte(s) at a time, got {got[:3]}..., expected {messages[:3]}...: "
                    "keep the bytes of an unfinished frame (even half a header) for the next feed"
                )
            print("✓ Exercise 02.2 correct: your decoder survives any split")
        """,
        """
        class MyDecoder:
            def __init__(self):
                self.buffer = b""

            def feed(self, data: bytes) -> list:
                self.buffer += data
                payloads = []
                while len(self.buffer) >= 4:
                    (length,) = struct.unpack(">I", self.buffer[:4])
                    if len(self.buffer) < 4 + length:
                        break
                    payloads.append(self.buffer[4 : 4 + length])
                    self.buffer = self.buffer[4 + length :]
                return payloads
        """,
        wrong=[
            """
            class MyDecoder:
                def feed(self, data: bytes) -> list:
                    # forgets leftovers: only works when every feed holds whole frames
                    out = []
                    while len(data) >= 4:
                        (length,) = struct.unpack(">I", data[:4])
                        out.append(data[4 : 4 + length])
                        data = data[4 + length :]
                    return out
            """,
            """
            class MyDecoder:
                def __init__(self):
                    self.buffer = b""

                def feed(self, data: bytes) -> list:
                    self.buffer += data
                    if len(self.buffer) >= 4:  # `if`: at most one frame per feed
                        (length,) = struct.unpack(">I", self.buffer[:4])
                        if len(self.buffer) >= 4 + length:
                            payload = self.buffer[4 : 4 + length]
                            self.buffer = self.buffer[4 + length :]
                            return [payload]
                    return []
            """,
            """
            class MyDecoder:
                def __init__(self):
                    self.buffer = b""

                def feed(self, data: bytes) -> list:
                    self.buffer += data
                    payloads = []
                    while True:  # waits for a header that never comes: loops forever on a short buffer
                        if len(self.buffer) >= 4:
                            (length,) = struct.unpack(">I", self.buffer[:4])
                            if len(self.buffer) >= 4 + length:
                                payloads.append(self.buffer[4 : 4 + length])
                                self.buffer = self.buffer[4 + length :]
                                continue
                        if not self.buffer:
                            return payloads
            """,
        ],
    )
    nb.step(
        """
        ## Clean up
        """,
        """
        for s in [sender, receiver, *clients.values(), *server_side.values()]:
            s.close()
        print("all sockets closed")
        """,
    )
    nb.md("**Next:** notebook 03 serves many clients at once, first with threads, then with `selectors`.")
    return [nb]
