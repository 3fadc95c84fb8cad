"""The paired notebooks: each seed's server and client as two notebooks for two kernels."""

from cells import Notebook
from socket_paths import refuse_a_long_path

SCRIPTED_INPUT = '''
def ask(prompt):
    # Interactive: the keyboard. With LANCHAT_SCRIPT set (the tests), the next scripted answer.
    if SCRIPT is None:
        return input(prompt)
    if not SCRIPT:
        raise RuntimeError("LANCHAT_SCRIPT ran out of answers")
    answer = SCRIPT.pop(0)
    print(f"{prompt}{answer}")
    return answer
'''


def settings_tcp(role: str) -> str:
    host_comment = (
        '# "0.0.0.0" lets other machines in the classroom connect'
        if role == "server"
        else "# the server machine's address (the server notebook prints it)"
    )
    time_import = "import time\n"
    return f'''
import json
import os
import socket
import sys
{time_import}
HOST = os.environ.get("LANCHAT_HOST", "127.0.0.1")  {host_comment}
PORT = int(os.environ.get("LANCHAT_PORT", "3580"))  # seed 001's default port
PORT_FILE = os.environ.get("LANCHAT_PORT_FILE")  # optional: where the server notes its port (used by the tests)
TIMEOUT = float(os.environ.get("LANCHAT_TIMEOUT", "600"))  # seconds any single wait may take
SCRIPT = json.loads(os.environ["LANCHAT_SCRIPT"]) if os.environ.get("LANCHAT_SCRIPT") else None
{SCRIPTED_INPUT}
def next_message(prompt):
    # seed 001: ask again while the message is empty (sending nothing would leave the peer waiting)
    while True:
        text = ask(prompt).strip()
        if text:
            return text
        print("  (empty message refused: type something, or /q to quit)")
'''


def pair_001() -> list[Notebook]:
    server = Notebook("pairs/001_server.ipynb", "Seed 001 server")
    server.md(
        """
        # Pair 001 · the server (run `001_client.ipynb` alongside)

        The seed 001 chat as two notebooks, one per "console": open this one in one kernel and
        `001_client.ipynb` in another, on the same machine or on two machines in the classroom.
        Start this one first. They take turns: the client speaks first, then the server, until one types `/q`.

        **Settings** come from environment variables, or edit the cell: `LANCHAT_HOST` (use `0.0.0.0` so other
        machines can connect), `LANCHAT_PORT` (default 3580). You type your replies in the input box that
        appears under the running cell.
        """
    )
    server.step("## Settings", settings_tcp("server"))
    server.step(
        """
        ### Step 1: create a TCP socket and bind it to the address

        `SO_REUSEADDR` lets you restart right after a previous run. If the port is taken, binding fails with
        "Address already in use", and *who* holds it decides what to do: if it is **this notebook's own kernel**
        (an earlier run that was interrupted still has its listening socket open), choose *Kernel → Restart
        Kernel* and run again; if it is **another program** (notebook 01, another pair, a lanchat server), choose
        another port (`LANCHAT_PORT=3581`, and the client uses the same). `psutil` tells the two apart. Either way
        we print one clear line and stop (`sys.exit(1)`; in a notebook it ends *Run All* with a short note
        instead of a traceback).
        """,
        """
        import errno

        import psutil


        def this_kernel_listens_on(port):
            # True if this very process (the notebook's kernel) already has a listening socket on `port`
            return any(
                c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                for c in psutil.Process().net_connections(kind="tcp")
            )


        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((HOST, PORT))
        except OSError as exc:
            listener.close()
            if exc.errno == errno.EADDRINUSE and this_kernel_listens_on(PORT):
                print(f"port {PORT} is held by an earlier run in this same notebook: Kernel -> Restart Kernel, then run again")
            elif exc.errno == errno.EADDRINUSE:
                print(f"port {PORT} is used by another program: choose another port (LANCHAT_PORT=3581; the client too)")
            else:
                print(f"cannot use {HOST}:{PORT} ({exc.strerror}); check LANCHAT_HOST: it must be this machine's address")
            sys.exit(1)
        port = listener.getsockname()[1]
        print(f"bound to {HOST}:{port}")
        """,
    )
    server.step(
        """
        ### Step 2: listen, and tell the clients where to connect

        `listen(1)`: the accept queue (backlog) for connections not yet accepted; it is not a limit on clients
        (notebook 01 measures it: two on Linux).

        Then the **net doctor** says where classmates should connect. The first address is the one on this
        machine's **default route** (the network the classroom's router is on), found by asking the system which
        address it would send from; *connecting* a UDP socket only chooses a route, it sends nothing. Other
        addresses (a VPN, Docker, a virtual machine) follow, marked as unlikely to work for classmates. If the
        server is bound to `127.0.0.1`, only this machine can reach it, and the doctor says so.
        """,
        """
        def default_route_address():
            # the address this machine would use to reach the wider network, or None when offline
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                probe.connect(("192.0.2.1", 9))  # a documentation-only address: nothing is sent
                return probe.getsockname()[0]
            except OSError:
                return None
            finally:
                probe.close()


        def net_doctor(listener):
            host, port = listener.getsockname()[:2]
            if host.startswith("127."):
                print(f"only this machine can connect ({host} is loopback); for classmates, set LANCHAT_HOST=0.0.0.0")
                return [f"{host}:{port}"]
            best = default_route_address()
            others = sorted(
                a.address
                for addrs in psutil.net_if_addrs().values()
                for a in addrs
                if a.family == socket.AF_INET and not a.address.startswith("127.") and a.address != best
            )
            if host != "0.0.0.0":
                best, others = host, []
            if best:
                print(f"classmates connect to {best}:{port}  (LANCHAT_HOST={best} LANCHAT_PORT={port})")
            else:
                print("this machine has no network route (offline?): only 127.0.0.1 works, on this machine")
            for address in others:
                print(f"  also {address}:{port} (another interface: a VPN, Docker or a VM; rarely reachable by others)")
            return [f"{a}:{port}" for a in ([best] if best else []) + others] + [f"127.0.0.1:{port}"]


        listener.listen(1)
        addresses = net_doctor(listener)
        if PORT_FILE:  # write-then-rename, so a reader never sees half a number
            with open(PORT_FILE + ".tmp", "w") as f:
                f.write(str(port))
            os.replace(PORT_FILE + ".tmp", PORT_FILE)
        """,
    )
    server.md(
        """
        **If classmates cannot connect** (their probe says *no answer within 3 s*): this machine's firewall drops
        the connection, or the Wi-Fi keeps devices apart. Allow the port, only on the classroom network:

        | system | allow TCP port 3580 |
        |---|---|
        | Windows (PowerShell as administrator) | `New-NetFirewallRule -DisplayName "lanchat 3580" -Direction Inbound -Protocol TCP -LocalPort 3580 -Action Allow -Profile Private` (and make the Wi-Fi a *Private* network) |
        | macOS | System Settings, Network, Firewall, Options: allow incoming connections for the Python running Jupyter |
        | Linux | `sudo ufw allow 3580/tcp` (Ubuntu) or `sudo firewall-cmd --add-port=3580/tcp` (Fedora) |

        Check from the client machine: `nc -vz ADDRESS 3580` (Linux, macOS) or `Test-NetConnection ADDRESS -Port 3580`
        (PowerShell). If even that fails with the firewall open, the Wi-Fi isolates clients: use a phone hotspot,
        a wired network, or run both notebooks on one machine (the teacher's guide has the details).
        """
    )
    server.step(
        """
        ### Step 3: accept the client

        This cell waits until the client notebook connects: up to `TIMEOUT` seconds, saying every 30 s that it
        is still waiting (so a silent cell is never a mystery), and ending with one line, not a `TimeoutError`
        traceback, if nobody came. A connection that closes without saying anything was a classmate's
        **reachability probe** (the client's net doctor): the server waits for the next one.
        """,
        """
        def accept_a_client(listener):
            deadline = time.monotonic() + TIMEOUT
            while (left := deadline - time.monotonic()) > 0:
                listener.settimeout(min(30.0, left))
                try:
                    conn, address = listener.accept()
                except TimeoutError:
                    print(f"still waiting for a client at {addresses[0]} ...")
                    continue
                conn.settimeout(TIMEOUT)
                try:
                    first = conn.recv(1024, socket.MSG_PEEK)  # look at the first message without taking it
                except OSError:
                    first = b""
                if first:
                    return conn, address
                conn.close()  # it left without a word: a reachability probe
                print(f"a reachability probe from {address[0]} reached us: the network path works")
            print(f"no client connected within {TIMEOUT:g} s; run this cell again to keep waiting")
            sys.exit(1)


        conn, address = accept_a_client(listener)
        print("connected to", address)
        """,
    )
    server.step(
        """
        ### Step 4: the turn-taking loop

        1) `recv` the client's message (empty bytes mean the client left), 2) print it,
        3) prompt for a reply, refusing empty ones, 4) `/q` quits without sending, 5) otherwise send it,
        and back to 1. The `with` block closes the connection whichever way the loop ends.
        """,
        """
        with conn:
            while True:
                try:
                    data = conn.recv(1024)
                except TimeoutError:
                    print(f"the client said nothing for {TIMEOUT:g} s; closing")
                    break
                except ConnectionResetError:
                    print("the client's connection was reset (it crashed, or closed with a reply unread)")
                    break
                if not data:
                    print("the client closed the connection")
                    break
                print("client:", data.decode("utf-8", "replace"))
                reply = next_message("your reply (/q quits): ")
                if reply == "/q":
                    print("you typed /q: closing")
                    break
                conn.sendall(reply.encode("utf-8"))
        """,
    )
    server.step(
        """
        ### Step 5: close the listening socket
        """,
        """
        listener.close()
        print("server closed")
        """,
    )

    client = Notebook("pairs/001_client.ipynb", "Seed 001 client")
    client.md(
        """
        # Pair 001 · the client (run `001_server.ipynb` first)

        The client side of the seed 001 chat. Set `LANCHAT_HOST` to the address the server notebook printed
        (on the same machine, `127.0.0.1` works) and `LANCHAT_PORT` to its port, or edit the settings cell.
        The client speaks first; type `/q` to leave.
        """
    )
    client.step(
        "## Settings",
        settings_tcp("client")
        + '''
if PORT_FILE:  # the tests' rendezvous: wait (with a deadline) for the server to note its port
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(PORT_FILE):
        if time.monotonic() > deadline:
            print(f"no port appeared in {PORT_FILE}; is the server notebook running?")
            sys.exit(1)
        time.sleep(0.05)  # polling interval; the deadline above decides when to give up
    with open(PORT_FILE) as f:
        PORT = int(f.read())
print(f"will connect to {HOST}:{PORT}")
''',
    )
    client.step(
        """
        ### The net doctor: can this machine reach the server?

        Before the chat starts, a **reachability probe**: connect to the server with a short timeout and close
        again at once (the server notebook recognises a connection that says nothing, and keeps waiting for the
        real one). A connect gets an answer within milliseconds on a working network, so `CONNECT_TIMEOUT` is
        3 s instead of the system's default (about two minutes on Linux). When it fails, the **kind** of failure
        says where to look, in one line:

        * *refused*: the server machine answered "nobody listens on that port": wrong port, or the server
          notebook has not run its step 2 (`listen`) yet;
        * *timed out*: nothing answered at all: a **firewall** on the server machine drops it, or the Wi-Fi
          keeps devices apart (**client isolation**, common on campus and café networks; see the teacher's guide
          for the fallbacks: a phone hotspot, a wired lab, or everyone on one machine);
        * *no route* / *unreachable*: you are not on the same network;
        * *name not found*: a typo in `LANCHAT_HOST`.
        """,
        """
        import errno

        CONNECT_TIMEOUT = 3.0


        def default_route_address():
            # the address this machine would use to reach the wider network, or None when offline
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                probe.connect(("192.0.2.1", 9))  # a documentation-only address: a UDP connect sends nothing
                return probe.getsockname()[0]
            except OSError:
                return None
            finally:
                probe.close()


        def why_not(exc):
            # one line that says where to look, from the kind of failure
            if isinstance(exc, ConnectionRefusedError):
                return "refused: nobody listens on that port (wrong port, or the server has not run its step 2, listen, yet)"
            if isinstance(exc, TimeoutError):
                return (f"no answer within {CONNECT_TIMEOUT:g} s: a firewall on the server machine, "
                        "or Wi-Fi client isolation (see the teacher's guide)")
            if isinstance(exc, socket.gaierror):
                return f"the name {HOST!r} was not found: check LANCHAT_HOST"
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return "no route to that address: are both machines on the same network?"
            return exc.strerror or str(exc)


        print("this machine's address:", default_route_address() or "none (no network route: offline?)")
        if HOST.startswith("127."):
            print(f"{HOST} is loopback: the server notebook must run on this same machine")
        try:
            with socket.create_connection((HOST, PORT), timeout=CONNECT_TIMEOUT):
                pass  # connected: the path works; close at once
            print(f"probe: {HOST}:{PORT} answers")
        except OSError as exc:
            print(f"probe: cannot reach {HOST}:{PORT}: {why_not(exc)}")
        """,
    )
    client.step(
        """
        ### Step 1: create a socket and connect

        The real connection, with the same short connect timeout; after that, each wait for the server's reply
        may last `TIMEOUT` seconds (the server's user is typing). If it fails, one line and `sys.exit(1)`.
        """,
        """
        try:
            sock = socket.create_connection((HOST, PORT), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            print(f"cannot connect to {HOST}:{PORT}: {why_not(exc)}")
            sys.exit(1)
        sock.settimeout(TIMEOUT)
        print("connected to", sock.getpeername())
        """,
    )
    client.step(
        """
        ### Step 2: the turn-taking loop

        1) prompt for a message (empty ones refused), 2) `/q` quits without sending, 3) send it,
        4) `recv` the reply (empty bytes: the server left), 5) print it, and back to 1.
        """,
        """
        with sock:
            while True:
                message = next_message("your message (/q quits): ")
                if message == "/q":
                    print("you typed /q: closing")
                    break
                sock.sendall(message.encode("utf-8"))
                try:
                    data = sock.recv(1024)
                except TimeoutError:
                    print(f"the server said nothing for {TIMEOUT:g} s; closing")
                    break
                except ConnectionResetError:
                    print("the server's connection was reset (it crashed, or closed with a message unread)")
                    break
                if not data:
                    print("the server closed the connection")
                    break
                print("server:", data.decode("utf-8", "replace"))
        """,
    )
    client.md(
        """
        ### Step 3: closed

        The `with` block closed the socket. Run the notebook again to chat again (restart the server first).
        """
    )
    return [server, client]


def settings_unix(role: str) -> str:
    # only the client retries on a clock and may stop with sys.exit
    modules = ["json", "os", "socket", "stat", "sys", "tempfile"] + (["time"] if role == "client" else [])
    imports = "\n".join(f"import {name}" for name in modules)
    return f'''
{imports}

from lanchat.transport import unix_path_limit


def private_folder():
    # A folder only this user can enter, so that on a shared machine (a JupyterHub, a lab server) two
    # students' servers never meet: $XDG_RUNTIME_DIR where the system provides one (it is 0700), else
    # lanchat-<user id> in the temp folder, created 0700 and refused if someone else made it first.
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.stat(runtime).st_uid == os.getuid():
        return runtime
    folder = os.path.join(tempfile.gettempdir(), f"lanchat-{{os.getuid()}}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        print(f"{{folder}} is not a private folder of yours (someone else made it?); set LANCHAT_SOCKET instead")
        sys.exit(1)
    return folder


TIMEOUT = float(os.environ.get("LANCHAT_TIMEOUT", "600"))
SCRIPT = json.loads(os.environ["LANCHAT_SCRIPT"]) if os.environ.get("LANCHAT_SCRIPT") else None
if hasattr(socket, "AF_UNIX") and not os.environ.get("LANCHAT_COLOUR_TCP"):
    # An AF_UNIX socket is a file path: both notebooks must be on the same machine and use the same path.
    FAMILY = socket.AF_UNIX
    SOCKET_PATH = os.environ.get("LANCHAT_SOCKET") or os.path.join(private_folder(), "lanchat-colour.sock")
    ADDRESS = SOCKET_PATH
    print("socket path:", SOCKET_PATH)
else:
    # Windows (Python there has no AF_UNIX), or LANCHAT_COLOUR_TCP=1: the same program over TCP, on this
    # machine only (127.0.0.1). Both notebooks must use the same LANCHAT_PORT.
    FAMILY, SOCKET_PATH = socket.AF_INET, None
    ADDRESS = ("127.0.0.1", int(os.environ.get("LANCHAT_PORT", "3581")))
    print("no AF_UNIX here (or LANCHAT_COLOUR_TCP is set): using TCP on", ADDRESS)
{refuse_a_long_path("LANCHAT_SOCKET")}
{SCRIPTED_INPUT}
'''


def pair_000() -> list[Notebook]:
    server = Notebook("pairs/000_server.ipynb", "Seed 000 server")
    server.md(
        """
        # Pair 000 · the colour server (run `000_client.ipynb` alongside)

        Seed 000's Local Chat Messenger: the client tells the server its mood, the server answers with a random
        colour and a link to its page on Computer Hope, until the client is happy. It uses an **AF_UNIX**
        socket: a socket that lives at a file path and only connects programs **on the same machine**.
        Start this notebook first, then the client in another kernel. `LANCHAT_SOCKET` sets the path.

        **The path.** On a shared machine (a JupyterHub, a lab server) every student's `/tmp` is the same folder:
        a fixed name such as `/tmp/lanchat-colour.sock` would make the second student's server delete the first
        one's socket (the seed unlinks a leftover path), or connect one student's client to another student's
        server. So the default path is in a folder **only you** can enter (`$XDG_RUNTIME_DIR`, or
        `lanchat-<your user id>` in the temp folder, mode 0700), and the socket file itself is created **0600**
        (only you may connect). Both notebooks compute the same path, because they run as the same user.
        A socket path is at most 107 bytes (103 on macOS; lanchat's `unix_path_limit()`): past it, both
        notebooks say so and stop, and a shorter `LANCHAT_SOCKET` is the way on.

        **Windows:** Python on Windows has no AF_UNIX sockets. There both notebooks use the same program over TCP
        on 127.0.0.1 (port `LANCHAT_PORT`, default 3581); set `LANCHAT_COLOUR_TCP=1` to try that anywhere.
        """
    )
    server.step("## Settings", settings_unix("server"))
    server.step(
        """
        ### Step 1: create a UNIX socket in STREAM mode

        `AF_UNIX` chooses local (same-machine) addressing; `SOCK_STREAM` a reliable, ordered byte stream,
        the same kind of stream TCP gives.
        """,
        """
        listener = socket.socket(FAMILY, socket.SOCK_STREAM)  # socket.AF_UNIX, or AF_INET for the TCP variant
        print(listener)
        """,
    )
    server.step(
        """
        ### Steps 2 and 3: the path, and unlinking a stale one

        The server's address is a path. If a previous run crashed, its socket file is still there and `bind`
        would fail with "Address already in use", so the seed removes it with `os.unlink` first.
        (lanchat's own `listen_unix` is more careful: it only removes the file if it is a socket and no server
        answers on it.)
        """,
        """
        if SOCKET_PATH and os.path.exists(SOCKET_PATH):
            os.unlink(SOCKET_PATH)
            print("removed a stale socket file")
        print("path is free:", not (SOCKET_PATH and os.path.exists(SOCKET_PATH)))
        """,
    )
    server.step(
        """
        ### Step 4: bind and listen for one connection

        `bind` creates the socket file; with the `umask` set to `0o177` just around it, the file is born
        `srw-------` (only you may connect), with no moment when others could. `listen(1)`: the accept queue;
        this program serves one client at a time.
        """,
        """
        previous_umask = os.umask(0o177)
        try:
            listener.bind(ADDRESS)
        finally:
            os.umask(previous_umask)  # the umask is process-wide: put it back at once
        listener.listen(1)
        listener.settimeout(TIMEOUT)
        if SOCKET_PATH:
            print("listening on", SOCKET_PATH, stat.filemode(os.stat(SOCKET_PATH).st_mode), "- now run the client")
        else:
            print("listening on", listener.getsockname(), "- now run the client")
        """,
    )
    server.step(
        """
        ### Step 5: accept the connection

        This cell waits (up to `TIMEOUT` seconds) for the client.
        """,
        """
        conn, _ = listener.accept()
        conn.settimeout(TIMEOUT)
        print("a client connected")
        """,
    )
    server.step(
        """
        ### Steps 5 to 7: receive the mood, suggest a colour, send the link

        `faker` makes random but realistic data; seeding it (`seed_instance`) makes the "random" colours the
        same on every run, which keeps a class (and the tests) in step. lanchat's `suggest_colour(fake, avoid=...)`
        turns faker's `#a1b2c3` into `A1B2C3` and never repeats a colour already suggested; `colour_link` puts
        it into Computer Hope's URL as the `c` parameter. `sendall` sends the whole answer. The client sends its
        mood again each time it wants another suggestion; empty bytes mean it closed.
        """,
        """
        from faker import Faker

        from lanchat.colourbot import colour_link, suggest_colour

        fake = Faker()
        fake.seed_instance(int(os.environ.get("LANCHAT_SEED", "7")))
        suggested = []

        with conn:
            while True:
                data = conn.recv(1024)
                if not data:
                    print("the client closed the connection")  # step 8
                    break
                mood = data.decode("utf-8", "replace")
                colour = suggest_colour(fake, avoid=suggested)
                suggested.append(colour)
                answer = f"For a {mood} mood, try #{colour}: {colour_link(colour)}"
                print("mood:", mood, "->", colour)
                conn.sendall(answer.encode("utf-8"))
        """,
    )
    server.step(
        """
        ### Step 8: shut the server down

        Close the listening socket and remove the socket file, so the next run starts clean.
        """,
        """
        listener.close()
        if SOCKET_PATH:
            os.unlink(SOCKET_PATH)
        print("server shut down; socket file removed:", not (SOCKET_PATH and os.path.exists(SOCKET_PATH)))
        """,
    )

    client = Notebook("pairs/000_client.ipynb", "Seed 000 client")
    client.md(
        """
        # Pair 000 · the colour client (run `000_server.ipynb` first)

        Tell the server your mood; it suggests a colour with a Computer Hope link. Answer `Y` if you like it,
        `N` for another. Both notebooks must run on the same machine, as the same user (they then compute the
        same private socket path), or with the same `LANCHAT_SOCKET`. On Windows both use TCP on 127.0.0.1.
        """
    )
    client.step("## Settings", settings_unix("client"))
    client.step(
        """
        ### Step 1: create a UNIX socket in STREAM mode
        """,
        """
        sock = socket.socket(FAMILY, socket.SOCK_STREAM)  # socket.AF_UNIX, or AF_INET for the TCP variant
        sock.settimeout(TIMEOUT)
        """,
    )
    client.step(
        """
        ### Step 2: connect to the server's path

        If the server is not there yet we keep trying for a short while (the socket file may not exist yet, or
        exist from a crashed run), each time with a **new** socket: after a failed `connect` a socket cannot be
        used again (TCP answers a second try with "connection aborted"); after that, like the seed, we print the error and stop with `sys.exit(1)`
        (in a notebook that ends *Run All* with a short note instead of closing anything).
        """,
        """
        deadline = time.monotonic() + min(TIMEOUT, 30)
        while True:
            try:
                sock.connect(ADDRESS)
                break
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                sock.close()  # a socket whose connect failed cannot be reused (TCP refuses): take a fresh one
                if time.monotonic() > deadline:
                    print(f"cannot connect to {ADDRESS}: {exc.strerror}; is the server running?")
                    sys.exit(1)
                time.sleep(0.05)  # retry interval; the deadline decides
                sock = socket.socket(FAMILY, socket.SOCK_STREAM)
                sock.settimeout(TIMEOUT)
        print("connected to", ADDRESS)
        """,
    )
    client.step(
        """
        ### Steps 3 and 4: ask the mood and send it
        """,
        """
        mood = ""
        while not mood:
            mood = ask("What mood are you in? ").strip()
        sock.sendall(mood.encode("utf-8"))
        """,
    )
    client.step(
        """
        ### Steps 5 to 7: show the suggestion, ask Y or N, ask again on N

        Only `Y` or `N` is accepted. On `N` the client sends its mood again to ask for another colour.
        """,
        """
        while True:
            data = sock.recv(1024)
            if not data:
                print("the server closed the connection")
                break
            print(data.decode("utf-8", "replace"))
            answer = ask("Happy with this colour? (Y/N) ").strip().upper()
            while answer not in ("Y", "N"):
                print("  please answer Y or N")
                answer = ask("Happy with this colour? (Y/N) ").strip().upper()
            if answer == "Y":
                break
            sock.sendall(mood.encode("utf-8"))
        """,
    )
    client.step(
        """
        ### Step 8: close the socket and finish
        """,
        """
        sock.close()
        print("bye!")
        """,
    )
    return [server, client]


def notebooks() -> list[Notebook]:
    return pair_000() + pair_001()
