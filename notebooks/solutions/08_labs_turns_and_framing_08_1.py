"""Solution to exercise 08.1 (write pair 001's server loop) in 08_labs_turns_and_framing.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

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
