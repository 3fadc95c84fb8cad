"""Solution to exercise 09.3 (a private socket, with a liveness probe) in 09_labs_servers_that_hold_up.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def open_private_socket(path):
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise FileExistsError(f"{path} exists and is not a socket: leaving it alone")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)  # stale: nobody listens there
        except OSError as exc:  # busy or slow: someone is there
            raise FileExistsError(f"a server at {path} is alive but busy ({exc})") from None
        else:
            raise FileExistsError(f"a server is already listening at {path}")
        finally:
            probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)  # the file is created srw-------: no moment when others may connect
    try:
        listener.bind(path)
    finally:
        os.umask(previous)
    listener.listen(8)
    return listener
