"""Solution to exercise 16.1 (your ten-line client joins the room) in 16_lab_join_the_room.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def join_room(address, name, text, timeout=2.0):
    mine = f" {name}: {text}\r\n".encode()  # how the room sends your line back (UTF-8)
    with socket.create_connection(address, timeout=timeout) as sock:  # every wait below: at most `timeout`
        sock.sendall(f"{name}\n{text}\n".encode())  # the name, then the message: one UTF-8 line each
        received = b""
        while mine not in received:
            data = sock.recv(4096)  # raises TimeoutError when the room stays silent
            if not data:
                raise ConnectionError("the server closed the connection")
            received += data
        sock.sendall(b"/q\n")  # leave politely: the room sees "-!- NAME left"
    return received.decode("utf-8").splitlines()
