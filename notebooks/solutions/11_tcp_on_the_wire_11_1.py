"""Solution to exercise 11.1 (send everything without blocking, without spinning) in 11_tcp_on_the_wire.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def send_everything(sock, data, seconds):
    deadline = time.monotonic() + seconds
    view, calls = memoryview(data), 0
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_WRITE)
        while view:
            calls += 1
            try:
                sent = sock.send(view)
            except BlockingIOError:
                sent = 0
            view = view[sent:]  # exactly what was taken
            if view and sent == 0:  # full: sleep in select until there is room (or time is up)
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"{len(view)} bytes still unsent after {seconds} s")
    return calls
