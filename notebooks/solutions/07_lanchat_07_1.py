"""Solution to exercise 07.1 (a minimal lanchat client) in 07_lanchat.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def say_once(address, name, text, timeout=2.0):
    proto = Connection(Role.CLIENT)
    deadline = time.monotonic() + timeout
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(proto.send(ev.Hello(name=name)))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no echo from the server within {timeout} s")
            sock.settimeout(left)
            proto.receive_data(sock.recv(65536))  # raises TimeoutError when nothing comes in time
            for event in proto.events():
                if isinstance(event, ev.Welcome):
                    sock.sendall(proto.send(ev.Say(text=text)))
                elif isinstance(event, ev.Message) and event.sender == name and event.text == text:
                    sock.sendall(proto.send(ev.Bye()))
                    return event
                elif isinstance(event, ConnectionClosed):
                    raise ConnectionError("the server closed the connection")
