"""Notebook 13: IPv6 addresses, dual-stack listening, and trying every address a name has."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("13_ipv6_dual_stack.ipynb", "IPv6 and dual-stack servers")
    nb.md(
        """
        # 13 · IPv6, and one server for both address families

        Every address so far looked like `127.0.0.1` (IPv4: 32 bits). **IPv6** addresses are 128 bits, written in
        hex groups with `::` for a run of zeros: the loopback is `::1`. A machine usually has both, a name (such
        as `localhost`, or a classmate's machine) can have both, and a server may listen on one, the other, or
        both (**dual stack**). Needs Python 3.11 and IPv6 on loopback (the settings cell checks); everything stays
        on this machine.
        """
    )
    nb.step(
        """
        ## Settings
        """,
        """
        import selectors
        import socket
        import time

        TIMEOUT = 5.0
        print("this Python supports IPv6:", socket.has_ipv6)
        try:
            with socket.create_server(("::1", 0), family=socket.AF_INET6):
                IPV6 = True
        except OSError as exc:
            IPV6 = False
            print("no IPv6 on this machine's loopback:", exc, "- the IPv6 cells will say so and skip")
        """,
    )
    nb.step(
        """
        ## Names have several addresses

        `getaddrinfo` turns a name into the list of addresses to try, in the order the system prefers. A numeric
        address gives itself back. In a URL or a `host:port` string an IPv6 address needs brackets, `[::1]:3580`,
        because of its own colons.
        """,
        """
        for name in ("localhost", "127.0.0.1", "::1"):
            try:
                found = socket.getaddrinfo(name, 3580, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                found = [f"not found: {exc}"]
            print(f"{name:10} ->", [(entry[0].name, entry[4][:2]) for entry in found if not isinstance(entry, str)] or found)
        """,
    )
    nb.step(
        """
        ## One family only

        **Predict, then run (P13.1).** A server listens on `::1` only (IPv6). A client connects to `127.0.0.1` (IPv4)
        on the same port. What happens? And the other way round?
        """,
        """
        def try_connect(address, family):
            with socket.socket(family, socket.SOCK_STREAM) as client:
                client.settimeout(TIMEOUT)
                try:
                    client.connect(address)
                    return "connected"
                except OSError as exc:
                    return f"{type(exc).__name__} ({exc.strerror})"


        if IPV6:
            with socket.create_server(("::1", 0), family=socket.AF_INET6) as v6_only:
                port = v6_only.getsockname()[1]
                print(f"server on [::1]:{port}; an IPv4 client to 127.0.0.1:", try_connect(("127.0.0.1", port), socket.AF_INET))
                print(f"server on [::1]:{port}; an IPv6 client to ::1:", try_connect(("::1", port), socket.AF_INET6))
        else:
            print("skipped: no IPv6")
        """,
    )
    nb.md(
        """
        An address family is a separate world: a port on `::1` has nothing to do with the same number on
        `127.0.0.1`. (Nothing stopped an IPv4 program from taking that IPv4 port meanwhile.)
        """
    )
    nb.step(
        """
        ## Dual stack: one socket for both

        An IPv6 socket bound to `::` (every address) can also accept IPv4 clients, if its `IPV6_V6ONLY` option is
        off: `socket.create_server(..., dualstack_ipv6=True)` does that. IPv4 clients then appear with
        **IPv4-mapped** addresses, `::ffff:127.0.0.1`. (This listener is open on every interface for a moment;
        only this machine connects to it.)

        **Predict, then run (P13.2).** Which address will the server report for the IPv4 client?
        """,
        """
        if IPV6 and socket.has_dualstack_ipv6():
            with socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True) as dual:
                dual.settimeout(TIMEOUT)
                port = dual.getsockname()[1]
                print("IPV6_V6ONLY:", dual.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
                for address, family in ((("127.0.0.1", port), socket.AF_INET), (("::1", port), socket.AF_INET6)):
                    with socket.socket(family, socket.SOCK_STREAM) as client:
                        client.settimeout(TIMEOUT)
                        client.connect(address)
                        conn, peer = dual.accept()
                        conn.close()
                        print(f"a client to {address[0]:>9} is seen by the server as {peer[0]}")
        else:
            print("skipped: no dual-stack IPv6 here")
        """,
    )
    nb.step(
        """
        lanchat's server listens like this when it listens on every interface (its default): one socket for
        everyone, whichever family their network gives them (`lanchat.transport.listen_tcp`). When you print a
        peer's address for humans, turn `::ffff:192.168.1.20` back into `192.168.1.20`.
        """,
        """
        from lanchat.transport import listen_tcp

        with listen_tcp("", 0) as everyone:
            v6only = everyone.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) if everyone.family == socket.AF_INET6 else None
            print("lanchat listens with", everyone.family.name, "| IPV6_V6ONLY:", v6only)
        """,
    )
    nb.exercise(
        "13.1",
        "try every address, each with its own timeout",
        """
        A name can have several addresses, and some may not work (the server listens on IPv4 only; an address is
        unreachable and silently drops the connection attempt). `socket.create_connection` tries them in turn;
        write your own: `connect_any(candidates, timeout)`, where `candidates` is a list of
        `(family, address)` pairs in the order to try. Give **each** attempt `timeout` seconds; return the first
        connected socket (with that timeout set); close every socket that failed; if none works, raise `OSError`
        whose message mentions every address that was tried.

        The check offers an address where nobody listens, one that never answers (a server whose accept queue
        is full: the system drops the attempt), and one that works, in several orders.
        """,
        """
        def connect_any(candidates, timeout):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt

        try:
            untouched = attempt("connect_any([], 1.0)", connect_any, [], 1.0) is NotImplemented
        except AssertionError:  # a real answer raises OSError: nothing to try
            untouched = False
        if untouched:
            print("Exercise 13.1 not attempted yet: write connect_any above, run it, then run this cell again.")
        else:
            family = socket.AF_INET6 if IPV6 else socket.AF_INET
            loopback = "::1" if IPV6 else "127.0.0.1"
            working = socket.create_server((loopback, 0), family=family)
            working.settimeout(TIMEOUT)
            closed = socket.create_server(("127.0.0.1", 0))
            refusing = ("127.0.0.1", closed.getsockname()[1])
            closed.close()  # nobody listens there now
            silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # a listener whose queue is full
            silent.bind(("127.0.0.1", 0))
            silent.listen(0)
            queued = []
            while True:  # fill its queue: the next attempt is dropped and just waits
                knock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                knock.setblocking(False)
                knock.connect_ex(silent.getsockname())
                queued.append(knock)
                with selectors.DefaultSelector() as selector:
                    selector.register(knock, selectors.EVENT_WRITE)
                    if not selector.select(0.3):
                        break
            try:
                good = (family, working.getsockname()[:2])
                bad = (socket.AF_INET, refusing)
                hole = (socket.AF_INET, silent.getsockname()[:2])
                for order in ([bad, good], [hole, good], [bad, hole, good]):
                    started = time.monotonic()
                    sock = attempt(f"connect_any({len(order)} candidates, 0.5)", connect_any, order, 0.5, seconds=4)
                    took = time.monotonic() - started
                    assert isinstance(sock, socket.socket), f"return the connected socket, not {sock!r}"
                    with sock:
                        assert sock.getpeername()[:2] == good[1], f"connected to {sock.getpeername()}, not the working address"
                        assert sock.gettimeout() == 0.5, f"the socket's timeout is {sock.gettimeout()}, not 0.5"
                    working.accept()[0].close()
                    assert took < 0.5 * len(order) + 0.8, f"{took:.1f} s for {len(order)} candidates: give each attempt its own 0.5 s"

                def none_work():
                    try:
                        connect_any([bad, hole], 0.5)
                    except OSError as exc:
                        return str(exc)
                    return "returned"

                message = attempt("connect_any(no working address)", none_work, seconds=4)
                assert str(refusing[1]) in message and str(hole[1][1]) in message, (
                    f"when nothing works, say what was tried: your error was {message!r}"
                )
                print("✓ Exercise 13.1 correct: each address tried in turn, each with its own timeout")
            finally:
                for sock in [working, silent, *queued]:
                    sock.close()
        """,
        """
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
        """,
        wrong=[
            """
            def connect_any(candidates, timeout):
                family, address = candidates[0]  # only the first address
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(address)
                return sock
            """,
            """
            def connect_any(candidates, timeout):
                for family, address in candidates:
                    sock = socket.socket(family, socket.SOCK_STREAM)  # no timeout: a silent address waits minutes
                    try:
                        sock.connect(address)
                        return sock
                    except OSError:
                        sock.close()
                raise OSError("could not connect")
            """,
            """
            def connect_any(candidates, timeout):
                for family, address in candidates:
                    sock = socket.socket(family, socket.SOCK_STREAM)
                    sock.settimeout(timeout)
                    try:
                        sock.connect(address)
                        return sock
                    except OSError:
                        sock.close()
                raise OSError("could not connect")  # says nothing about what was tried
            """,
        ],
    )
    return [nb]
