"""Solution to exercise 10.1 (collect the rooms) in 10_udp_discovery.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def discover(port, seconds):
    asker = udp_socket()
    asker.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    rooms, deadline = set(), time.monotonic() + seconds
    try:
        asker.sendto(QUESTION, ("127.255.255.255", port))
        while (left := deadline - time.monotonic()) > 0:
            asker.settimeout(left)  # what is left of the whole wait, not a fresh timeout per answer
            try:
                data, _ = asker.recvfrom(512)
            except TimeoutError:
                break
            try:
                answer = json.loads(data)
            except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
                continue
            if isinstance(answer, dict) and isinstance(answer.get("room"), str) and type(answer.get("port")) is int:
                rooms.add((answer["room"], answer["port"]))
    finally:
        asker.close()
    return sorted(rooms)
