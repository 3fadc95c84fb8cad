"""Solution to exercise 07.2 (is the room still there?) in 07_lanchat.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def still_there(sock, proto, timeout):
    sock.sendall(proto.send(ev.Ping()))
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return False  # no answer in time; the connection stays open
        if not data:
            return False  # b"": the room closed the connection
        proto.receive_data(data)
        if proto.events():
            return True  # the pong, or any frame before it: the room is there
    return False
