"""Solution to exercise 13.1 (try every address, each with its own timeout) in 13_ipv6_dual_stack.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def connect_any(candidates, timeout):
    failures = []
    for family, address in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)  # each attempt gets its own timeout
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            failures.append(f"{address[0]} port {address[1]}: {exc.strerror or exc}")
    raise OSError("could not connect: " + "; ".join(failures))
