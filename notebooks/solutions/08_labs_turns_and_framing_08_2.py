"""Solution to exercise 08.2 (fix the desync with framing) in 08_labs_turns_and_framing.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

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
