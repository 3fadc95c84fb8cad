"""Solution to exercise 03.1 (which sockets are ready?) in 03_many_clients.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def ready_to_read(socks, timeout):
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        return [key.fileobj for key, _ in selector.select(timeout)]
