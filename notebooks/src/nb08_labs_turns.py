"""Notebook 08: labs on pair 001 (seed 001): its server loop, and the desync a long message causes."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("08_labs_turns_and_framing.ipynb", "Labs: pair 001's server loop, and the long-message desync")
    nb.md(
        """
        # 08 · Labs: pair 001's server loop, and a message over 1,024 bytes

        Two labs on the seed 001 chat of notebook 01 and `pairs/001_*.ipynb`. Each starts with a question:
        **predict** what will happen, write your prediction down, *then* run the cell. (Your teacher has the
        answers in `notebooks/TEACHERS_GUIDE.md`.) Then you write real socket code, and a check cell tests it
        **from the other side of the connection**: it plays the client, under a deadline, so a wrong answer
        fails with a sentence instead of hanging the notebook.

        Needs: Python 3.11, Linux, macOS or Windows; everything runs on this machine (127.0.0.1).
        """
    )
    nb.step(
        """
        ## Settings

        `tcp_pair()` gives a connected (client, server-side) pair of TCP sockets on this machine, with timeouts.
        `wait_until_readable` peeks (without consuming) until some bytes are waiting, with a deadline.
        """,
        """
        import socket
        import struct  # noqa: F401 (for your framing in lab 2)
        import threading
        import time

        from lanchat.wire import FrameDecoder, FrameError, frame

        HOST = "127.0.0.1"
        TIMEOUT = 10.0


        def tcp_pair(timeout=TIMEOUT):
            with socket.create_server((HOST, 0)) as listener:
                listener.settimeout(timeout)
                client = socket.create_connection(listener.getsockname()[:2], timeout=timeout)
                server_side, _ = listener.accept()
            server_side.settimeout(timeout)
            return client, server_side


        def wait_until_readable(sock, nbytes=1, timeout=TIMEOUT):
            deadline, previous = time.monotonic() + timeout, sock.gettimeout()
            try:
                while time.monotonic() < deadline:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    if len(sock.recv(nbytes, socket.MSG_PEEK)) >= nbytes:
                        return True
                return False
            finally:
                sock.settimeout(previous)


        print("ready")
        """,
    )
    nb.md(
        """
        ## Lab 1: the server loop of pair 001

        **Predict, then run (P08.1).** The client leaves without typing `/q` (its user closes the notebook). The
        server is waiting in `conn.recv(1024)`. What does that call return, how long does it take, and what does
        a *second* `recv` on the same socket return?
        """
    )
    nb.code(
        """
        client, server_side = tcp_pair()
        client.close()  # the client's user closed the notebook
        for attempt_number in (1, 2, 3):
            started = time.monotonic()
            data = server_side.recv(1024)
            print(f"recv #{attempt_number} returned {data!r} after {time.monotonic() - started:.4f} s")
        server_side.close()
        """
    )
    nb.md(
        """
        `b""`, at once, every time: end of stream is not an error, and it never goes away. A loop that does not
        check for it treats `b""` as an (empty) message and spins, asking the user to reply to nobody.
        """
    )
    nb.exercise(
        "08.1",
        "write pair 001's server loop",
        """
        Write `serve_turns(conn, next_reply)`: the server side of seed 001's turn-taking, on a connected socket.

        1. `recv(1024)` the client's message. If the client has gone, stop.
        2. Ask for a reply: `next_reply(message)` plays the keyboard (it gets the client's message, decoded as
           UTF-8, and returns what the user typed). **Ask again** while the reply is empty or only spaces: never
           send an empty message (the client would wait for it forever).
        3. If the reply is `/q`, stop, without sending it.
        4. Otherwise send the reply, UTF-8 encoded, and go back to 1.

        Close `conn` whichever way the loop ends (`with conn:`), and return the list of the client's messages.
        The check plays the client on a real TCP connection.
        """,
        """
        def serve_turns(conn, next_reply):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt


        def play_client(steps, replies):
            # The check is the client: `steps` are ("send", text), ("expect",) or ("leave",).
            # Returns (what serve_turns returned, what the client received, what next_reply was asked).
            client, server_side = tcp_pair(timeout=2.0)
            received, asked = [], []

            def next_reply(message):
                asked.append(message)
                if not replies:
                    raise AssertionError(f"serve_turns asked for a reply to {message!r} after the client had left")
                return replies.pop(0)

            def client_side():
                with client:
                    for step in steps:
                        if step[0] == "send":
                            client.sendall(step[1].encode("utf-8"))
                        elif step[0] == "expect":
                            try:
                                data = client.recv(1024)
                                received.append(data.decode("utf-8") if data else "<server closed>")
                            except TimeoutError:
                                received.append("<nothing within 2 s>")
                        else:
                            return

            thread = threading.Thread(target=client_side)
            thread.start()
            try:
                result = attempt("serve_turns(conn, next_reply)", serve_turns, server_side, next_reply, seconds=5)
            except AssertionError as failure:  # reported after what the client saw, which says more
                result = failure
            finally:
                thread.join(TIMEOUT)
                server_side.close()
            return result, received, asked


        def raise_if_failed(result):
            if isinstance(result, AssertionError):
                raise result


        gone, probe = tcp_pair(timeout=2.0)
        gone.close()  # a client that has already left: any answer returns at once
        if attempt("serve_turns(conn, next_reply)", serve_turns, probe, lambda message: "/q") is NotImplemented:
            print("Exercise 08.1 not attempted yet: write serve_turns above, run it, then run this cell again.")
        else:
            steps = [("send", "héllo 👋"), ("expect",), ("send", "how are you?"), ("expect",)]
            result, received, asked = play_client(steps, ["   ", "", "hi client", "/q"])
            assert received[:1] == ["hi client"], (
                f"the client received {received[:1]}: ask again while the reply is empty or blank, then send it"
            )
            assert asked[:3] == ["héllo 👋"] * 3, f"next_reply was asked {asked}: give it the decoded message"
            assert received[1:] == ["<server closed>"], f"after /q the client got {received[1:]}: close, send nothing"
            raise_if_failed(result)
            assert result == ["héllo 👋", "how are you?"], f"return the client's messages; you returned {result!r}"

            steps = [("send", "bye for now"), ("expect",), ("leave",)]
            result, received, asked = play_client(steps, ["see you"])
            assert received == ["see you"], f"the client received {received}"
            raise_if_failed(result)
            assert result == ["bye for now"], (
                f"the client left after one message; you returned {result!r}: recv returned b'', so stop"
            )
            print("✓ Exercise 08.1 correct: your server takes turns, refuses empty replies, and notices a client leaving")
        """,
        """
        def serve_turns(conn, next_reply):
            messages = []
            with conn:
                while True:
                    data = conn.recv(1024)
                    if not data:  # the client has gone
                        return messages
                    message = data.decode("utf-8", "replace")
                    messages.append(message)
                    reply = next_reply(message).strip()
                    while not reply:  # never send an empty message
                        reply = next_reply(message).strip()
                    if reply == "/q":
                        return messages
                    conn.sendall(reply.encode("utf-8"))
        """,
        wrong=[
            """
            def serve_turns(conn, next_reply):
                messages = []
                with conn:
                    while True:
                        message = conn.recv(1024).decode("utf-8")  # b"" is not checked: "" looks like a message
                        messages.append(message)
                        reply = next_reply(message).strip()
                        while not reply:
                            reply = next_reply(message).strip()
                        if reply == "/q":
                            return messages
                        conn.sendall(reply.encode("utf-8"))
            """,
            """
            def serve_turns(conn, next_reply):
                messages = []
                with conn:
                    while True:
                        data = conn.recv(1024)
                        if not data:
                            return messages
                        messages.append(data.decode("utf-8"))
                        reply = next_reply(messages[-1])  # an empty reply is sent as it is
                        if reply == "/q":
                            return messages
                        conn.sendall(reply.encode("utf-8"))
            """,
            """
            def serve_turns(conn, next_reply):
                messages = []
                with conn:
                    while True:
                        data = conn.recv(1024)
                        if not data:
                            return messages
                        messages.append(data.decode("utf-8"))
                        reply = next_reply(messages[-1]).strip()
                        while not reply:
                            reply = next_reply(messages[-1]).strip()
                        conn.sendall(reply.encode("utf-8"))  # sends "/q" to the client, then stops
                        if reply == "/q":
                            return messages
            """,
        ],
    )
    nb.md(
        """
        ## Lab 2: a message over 1,024 bytes

        Pair 001 reads each message with one `recv(1024)`. Notebook 02 showed that a stream has no message
        boundaries. Here is what that does to pair 001 when someone pastes a long text: the same steps the two
        notebooks take, played one after the other so the result is the same on every run.

        **Predict, then run (P08.2).** The client sends a 3,000-byte message, then, after the server's reply,
        a second short one, then types `/q`. (a) How many "messages" does the server print? (b) Which message is
        the server's second reply really answering? (c) How does the conversation end?
        """
    )
    nb.code(
        """
        client, server_side = tcp_pair()
        long_message = "0123456789" * 300  # a long paste: 3,000 bytes
        client.sendall(long_message.encode())

        def server_turn(number):
            data = server_side.recv(1024)  # pair 001's server: one recv per message
            print(f"server prints message {number}: {len(data)} bytes, starting {data[:12]!r}, ending {data[-16:]!r}")
            server_side.sendall(f"reply {number}".encode())

        server_turn(1)
        print("client reads:", client.recv(1024))
        client.sendall(b"second message")
        wait_until_readable(server_side, 1024 + 1)  # the rest of the paste and the second message have arrived
        server_turn(2)
        print("client reads:", client.recv(1024), "(as the answer to its second message)")
        server_turn(3)
        wait_until_readable(client)  # reply 3 has arrived, unread
        client.close()  # the client's user typed /q
        try:
            print("server:", server_side.recv(1024))
        except ConnectionResetError as exc:
            print("server:", type(exc).__name__, exc)
        server_side.close()
        """
    )
    nb.md(
        """
        The server printed three "messages" for one, each reply answered the wrong thing, and because the client
        closed with a reply still unread, its system **reset** the connection: the server's next `recv` raised
        `ConnectionResetError`. The fix is notebook 02's framing: a length header before every message, and a
        receiver that reads until it has exactly that many bytes.
        """
    )
    nb.exercise(
        "08.2",
        "fix the desync with framing",
        """
        Write two functions for pair 001, using a 4-byte big-endian length header (`struct.pack(">I", n)`)
        before the UTF-8 bytes of each message:

        * `send_message(sock, text)` sends one framed message;
        * `receive_message(sock)` returns the next message as a `str`. `recv` may return fewer bytes than you
          ask for, even 1: keep calling it until you have the 4 header bytes, then until you have the whole body.
          Return `None` if the peer closed the connection *between* messages; raise `ConnectionError` if it closed
          in the *middle* of one. Never read past the end of the current message (the next one is not yours yet).

        The check sends you a message one small piece at a time (each piece only after your code took the
        previous one), two messages in one write, and a connection that closes half way; and it decodes what
        you send with lanchat's `FrameDecoder`.
        """,
        """
        def send_message(sock, text):
            return NotImplemented  # your code here


        def receive_message(sock):
            return NotImplemented  # your code here
        """,
        """
        import sys

        from selfcheck import attempt


        def unread_bytes(sock):
            # bytes waiting in sock's receive buffer (FIONREAD); None where the system cannot say
            if sys.platform == "win32":
                return None
            import array
            import fcntl
            import termios

            count = array.array("i", [0])
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
            return count[0]


        def drip(sock, reader_side, pieces, stop):
            # write each piece only once the reader has taken everything before it
            try:
                for piece in pieces:
                    deadline = time.monotonic() + 3
                    while unread_bytes(reader_side) and time.monotonic() < deadline and not stop.is_set():
                        time.sleep(0.001)  # polling interval; the reader's progress decides
                    if stop.is_set():
                        return
                    sock.sendall(piece)
            except OSError:
                return  # the check is over


        def receive_or_error(sock):
            try:
                return receive_message(sock)
            except ConnectionError as exc:
                return f"raised {type(exc).__name__}"
            except TimeoutError:
                return "<nothing came: it waited 2 s>"


        probe_a, probe_b = socket.socketpair()
        with probe_a, probe_b:
            probe_b.settimeout(2.0)
            sent = attempt('send_message(sock, "x")', send_message, probe_a, "x")
            probe_a.close()  # so an answer that reads too far meets the end instead of waiting
            received = attempt("receive_message(sock)", receive_or_error, probe_b)
        if sent is NotImplemented and received is NotImplemented:
            print("Exercise 08.2 not attempted yet: write both functions above, run them, then run this cell again.")
        else:
            long_text = "pâté 👋 " * 400  # 4,400 bytes of UTF-8, 3,200 characters
            me, them = tcp_pair(timeout=2.0)
            with me, them:
                attempt("send_message(sock, long_text)", send_message, me, long_text)
                decoder, got = FrameDecoder(), []
                while not got:
                    try:
                        got = decoder.feed(them.recv(65536))
                    except FrameError as exc:
                        raise AssertionError(f"what you sent is not a frame ({exc}): the header counts UTF-8 bytes") from None
                assert got[0] == long_text.encode("utf-8"), (
                    f"what you sent decodes to {got[0][:30]!r}...: 4-byte big-endian length of the UTF-8 bytes, then them"
                )

                framed = frame(long_text.encode("utf-8"))
                pieces = [framed[:1], framed[1:3], framed[3:4], framed[4:5], framed[5:2000], framed[2000:]]
                stop = threading.Event()
                writer = threading.Thread(target=drip, args=(them, me, pieces, stop))
                writer.start()
                try:
                    got = attempt("receive_message(sock) on a message arriving in pieces", receive_message, me)
                finally:
                    stop.set()
                    writer.join(TIMEOUT)
                assert got == long_text, (
                    f"a message in 6 pieces came back as {str(got)[:30]!r}... ({len(str(got))} characters, "
                    f"expected {len(long_text)}): call recv until you have all the bytes the header announced"
                )

                them.sendall(frame(b"first") + frame(b"second"))
                wait_until_readable(me, 2 * 4 + len("firstsecond"))
                got = [attempt("receive_message(sock), two messages in one write", receive_or_error, me) for _ in (1, 2)]
                assert got == ["first", "second"], (
                    f"two messages sent in one write came back as {got}: read only this message's bytes"
                )

            me, them = tcp_pair(timeout=2.0)
            with me:
                them.sendall(frame(b"last one"))
                them.close()
                got = [attempt("receive_message(sock) at the end", receive_or_error, me) for _ in (1, 2)]
                assert got == ["last one", None], f"a message then a clean close: expected ['last one', None], got {got}"

            me, them = tcp_pair(timeout=2.0)
            with me:
                them.sendall(frame(b"only half of this arrives")[:12])
                them.close()
                got = attempt("receive_message(sock), closed half way", receive_or_error, me)
                assert got == "raised ConnectionError" or str(got).startswith("raised Connection"), (
                    f"the peer closed in the middle of a message; you returned {got!r}: raise ConnectionError"
                )

            # pair 001 again, with your framing: the long paste, then a short message, then /q
            client, server_side = tcp_pair(timeout=2.0)
            with client, server_side:
                transcript = []
                for text in (long_message, "second message"):
                    attempt("send_message", send_message, client, text)
                    heard = attempt("receive_message", receive_message, server_side)
                    transcript.append(len(heard))
                    attempt("send_message", send_message, server_side, f"reply to {len(heard)} bytes")
                    transcript.append(attempt("receive_message", receive_message, client))
                client.close()
                transcript.append(attempt("receive_message", receive_or_error, server_side))
            assert transcript == [3000, "reply to 3000 bytes", 14, "reply to 14 bytes", None], transcript
            print("✓ Exercise 08.2 correct: pair 001 with framing never loses its place:", transcript)
        """,
        """
        def send_message(sock, text):
            payload = text.encode("utf-8")
            sock.sendall(struct.pack(">I", len(payload)) + payload)


        def receive_exactly(sock, count):
            # count bytes, or fewer if the peer closed first
            data = b""
            while len(data) < count:
                piece = sock.recv(count - len(data))
                if not piece:
                    break
                data += piece
            return data


        def receive_message(sock):
            header = receive_exactly(sock, 4)
            if not header:
                return None  # closed between messages
            if len(header) < 4:
                raise ConnectionError("the peer closed in the middle of a header")
            (length,) = struct.unpack(">I", header)
            payload = receive_exactly(sock, length)
            if len(payload) < length:
                raise ConnectionError("the peer closed in the middle of a message")
            return payload.decode("utf-8")
        """,
        wrong=[
            """
            def send_message(sock, text):
                payload = text.encode("utf-8")
                sock.sendall(struct.pack(">I", len(payload)) + payload)


            def receive_message(sock):
                header = sock.recv(4)  # one recv each: fine on a quiet network, wrong in general
                if not header:
                    return None
                (length,) = struct.unpack(">I", header)
                return sock.recv(length).decode("utf-8")
            """,
            """
            def send_message(sock, text):
                payload = text.encode("utf-8")
                sock.sendall(struct.pack(">I", len(payload)) + payload)


            def receive_message(sock):
                data = b""
                while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
                    piece = sock.recv(65536)  # may swallow the start of the next message
                    if not piece:
                        return None
                    data += piece
                (length,) = struct.unpack(">I", data[:4])
                return data[4 : 4 + length].decode("utf-8")
            """,
            """
            def send_message(sock, text):
                payload = text.encode("utf-8")
                sock.sendall(struct.pack(">I", len(payload)) + payload)


            def receive_message(sock):
                data = b""
                while len(data) < 4:
                    data += sock.recv(4 - len(data))  # b"" forever once the peer has closed
                (length,) = struct.unpack(">I", data)
                body = b""
                while len(body) < length:
                    body += sock.recv(length - len(body))
                return body.decode("utf-8")
            """,
            """
            def send_message(sock, text):
                sock.sendall(struct.pack(">I", len(text)) + text.encode("utf-8"))  # counts characters


            def receive_message(sock):
                data = b""
                while len(data) < 4:
                    piece = sock.recv(4 - len(data))
                    if not piece:
                        return None
                    data += piece
                (length,) = struct.unpack(">I", data)
                body = b""
                while len(body) < length:
                    piece = sock.recv(length - len(body))
                    if not piece:
                        raise ConnectionError("closed mid-message")
                    body += piece
                return body.decode("utf-8")
            """,
        ],
    )
    nb.md(
        """
        **Where this leads:** lanchat's `lanchat.wire.FrameDecoder` is the same idea for a non-blocking loop: it
        is *fed* whatever bytes arrived and hands back every complete frame. Notebook 09's labs keep a server
        alive when clients misbehave.
        """
    )
    return [nb]
