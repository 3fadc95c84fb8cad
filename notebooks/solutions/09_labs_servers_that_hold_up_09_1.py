"""Solution to exercise 09.1 (an output queue that a non-reader cannot stall) in 09_labs_servers_that_hold_up.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def queue_output(server, conn, data):
    queue = server.outbox[conn]
    queue += data
    if len(queue) > server.MAX_QUEUED:
        server.dropped += 1
        server.drop(conn)  # it stopped reading; the others must not wait for it
    else:
        server.want_to_write(conn, True)


def send_queued(server, conn):
    queue = server.outbox[conn]
    try:
        sent = conn.send(queue)  # what the socket takes now: maybe only part
    except BlockingIOError:
        return  # full after all: select will tell us when to try again
    except OSError:
        server.drop(conn)
        return
    del queue[:sent]
    if not queue:
        server.want_to_write(conn, False)  # nothing left: stop asking, or select never sleeps
