"""Solution to exercise 15.1 (your own keyboard-and-socket loop) in 15_keyboard_and_socket.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

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
                    while b"\n" in typed:
                        line, typed = typed.split(b"\n", 1)
                        sock.sendall(frame(line))
                        sent.append(line.decode())
                else:
                    shown.extend(payload.decode() for payload in decoder.feed(data))
    finally:
        selector.close()
    return shown, sent
