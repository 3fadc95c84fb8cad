"""Solution to exercise 07.1 (a minimal lanchat client) in 07_lanchat.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def say_once(address, name, text):
    proto = Connection(Role.CLIENT)
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(proto.send(ev.Hello(name=name)))
        said = False
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            proto.receive_data(data)
            for event in proto.events():
                if isinstance(event, ev.Welcome) and not said:
                    sock.sendall(proto.send(ev.Say(text=text)))
                    said = True
                elif isinstance(event, ev.Message) and event.sender == name:
                    sock.sendall(proto.send(ev.Bye()))
                    return event
                elif isinstance(event, (ev.Error, ConnectionClosed)):
                    return event  # refused or closed: let the caller see why
    return None
