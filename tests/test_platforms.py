"""lanchat off Linux, tried on this Linux machine: real servers and clients in child processes whose
Python is made to look like macOS's (no epoll, SO_PEERCRED, TCP_USER_TIMEOUT, O_TMPFILE or /proc)
or Windows's (no fcntl, termios, curses ...), by a sitecustomize.py (tests/platform_shims.py)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest
from helpers import DEFAULT_TIMEOUT, ROOT, Proc, TermProc, short_tmp_dir
from platform_shims import MACOS_LIKE, WINDOWS_LIKE, shimmed_env

from lanchat import transport

pytestmark = pytest.mark.timeout(60)


def test_the_shim_takes_away_what_macos_lacks():
    """The shim does what the tests below rely on: a check of the check."""
    probe = (
        "import os, select, selectors, socket\n"
        "from lanchat import netinfo, poller\n"
        "print(hasattr(select, 'epoll'), selectors.DefaultSelector.__name__, poller.Poller().uses_epoll,"
        " hasattr(socket, 'SO_PEERCRED'), hasattr(socket, 'TCP_USER_TIMEOUT'), hasattr(os, 'O_TMPFILE'),"
        " os.path.isdir('/proc/self/fd'), netinfo._read('/proc/net/route') == '')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=shimmed_env(MACOS_LIKE), cwd=ROOT, capture_output=True,
                          text=True, timeout=DEFAULT_TIMEOUT, check=True)
    assert done.stdout.split() == ["False", "KqueueLike", "False", "False", "False", "False", "False", "True"]


def test_on_a_macos_like_python_a_chat_with_a_file_history_a_rejoin_and_q_works(tmp_path):
    """A headless server with history on loopback, ann and bob in plain mode: they chat, ann sends
    a file and bob saves it checked, bob leaves with /q, comes back and is shown what was said.
    bob's umask (027) gives the download its mode: without /proc it was taken to be 022 (0644)."""
    source = tmp_path / "notes.txt"
    source.write_bytes(os.urandom(200_000))
    downloads = tmp_path / "bob-downloads"
    downloads.mkdir()
    env = shimmed_env(MACOS_LIKE)
    server = Proc("serve", "--headless", "--port", "0", "--host", "127.0.0.1", "--history", str(tmp_path / "h.sqlite3"),
                  env=env)
    procs = [server]
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        ann = Proc("connect", "127.0.0.1", port, "--name", "ann", env=env)
        bob = Proc("connect", "127.0.0.1", port, "--name", "bob", "--downloads", str(downloads),
                   env={**env, "SHIM_UMASK": "027"})
        procs += [ann, bob]
        ann.expect(r"welcome, ann")
        bob.expect(r"welcome, bob")
        ann.send("hello from a mac")
        bob.expect(r"ann: hello from a mac$")
        ann.send(f"/send {source}")
        file_id = bob.expect(r"ann offers notes\.txt .*; type /get (\d+) to download it").group(1)
        bob.send(f"/get {file_id}")
        bob.expect(rf"saved {re.escape(str(downloads / 'notes.txt'))} \(.*SHA-256 checked\)")
        assert (downloads / "notes.txt").read_bytes() == source.read_bytes()
        assert os.listdir(downloads) == ["notes.txt"]  # no temporary file left beside it
        assert (downloads / "notes.txt").stat().st_mode & 0o777 == 0o640  # bob's umask, as for any file he makes
        bob.send("/q")
        assert bob.wait() == 0
        ann.expect(r"bob left")
        ann.send("said while bob was away")
        again = Proc("connect", "127.0.0.1", port, "--name", "bob", env=env)
        procs.append(again)
        again.expect(r"welcome, bob")
        again.expect(r"ann: said while bob was away$")
        again.send("/q")
        assert again.wait() == 0
    finally:
        for proc in reversed(procs):
            proc.stop()
    for proc in procs:
        assert "Traceback" not in proc.output, proc.output


def test_on_a_macos_like_python_the_full_screen_chats_over_a_socket_file_and_q_leaves():
    """The full screen in a pty, on a socket file, beside a plain client: a line each way, /q."""
    env = shimmed_env(MACOS_LIKE)
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        server = Proc("serve", "--headless", "--unix", path, "--no-history", env=env)
        bob: TermProc | None = None
        ann: Proc | None = None
        try:
            server.expect(r"join with")
            bob = TermProc("connect", "--unix", path, "--name", "bob", rows=24, cols=100, env=_extra(env))
            bob.expect(r"bob │ client")
            ann = Proc("connect", "--unix", path, "--name", "ann", env=env)
            ann.expect(r"welcome, ann")
            bob.expect(r"ann joined")
            ann.send("can you see me?")
            bob.expect(r"ann: can you see me\?")
            bob.send("yes\r")
            ann.expect(r"bob: yes$")
            bob.send("/q\r")
            assert bob.wait() == 0
            ann.expect(r"bob left")
        finally:
            for proc in (bob, ann, server):
                if proc is not None:
                    proc.stop()
        assert "Traceback" not in server.output and ann is not None and "Traceback" not in ann.output
        assert bob is not None and "Traceback" not in bob.text


def test_on_a_macos_like_python_the_full_screen_rejoins_a_restarted_server_by_itself():
    """The server killed (no notice) and started again on its socket file: the full screen
    retries and rejoins it; /q leaves it."""
    env = shimmed_env(MACOS_LIKE)
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        serve = ("serve", "--headless", "--unix", path, "--history", os.path.join(folder, "h.sqlite3"))
        servers = [Proc(*serve, env=env)]
        bob: TermProc | None = None
        try:
            servers[0].expect(r"join with")
            bob = TermProc("connect", "--unix", path, "--name", "bob", rows=24, cols=100, env=_extra(env))
            bob.expect(r"bob │ client")
            servers[0].popen.kill()  # no shutdown notice, as when a machine crashes
            servers[0].wait()
            bob.expect(r"connection lost; retrying in 1 s")
            servers.append(Proc(*serve, env=env))
            servers[1].expect(r"join with")
            bob.expect(r"back in the room as bob")
            servers[1].expect(r"bob joined")
            bob.send("/q\r")
            assert bob.wait() == 0
            servers[1].expect(r"bob left")
        finally:
            for proc in (bob, *servers):
                if proc is not None:
                    proc.stop()
        assert not any("Traceback" in proc.output for proc in servers)
        assert bob is not None and "Traceback" not in bob.text


def _extra(env: dict[str, str]) -> dict[str, str]:
    """What TermProc adds to its own child_env: the shim's PYTHONPATH (its XDG folders are its own)."""
    return {"PYTHONPATH": env["PYTHONPATH"]}


COMMANDS = (["--help"], ["serve"], ["serve", "--headless", "--port", "0"], ["connect", "127.0.0.1", "--name", "bob"],
            ["connect", "--plain"], ["history"], ["rooms"], ["doctor"], ["names", "list"], ["key"], ["servee"])


def test_on_a_windows_like_python_every_command_says_in_one_line_to_use_wsl():
    """Without fcntl and termios (Windows's Python), `python -m lanchat ...` died with a traceback
    (AttributeError: SIGHUP, ModuleNotFoundError: fcntl); now one line says what is missing and
    where lanchat runs, and the exit status is 1, whatever the command."""
    env = shimmed_env(WINDOWS_LIKE)
    for command in COMMANDS:
        done = subprocess.run([sys.executable, "-m", "lanchat", *command], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=DEFAULT_TIMEOUT, stdin=subprocess.DEVNULL)
        assert (done.returncode, done.stdout) == (1, ""), (command, done)
        assert done.stderr == (
            "lanchat: this Python has no fcntl module (Windows has none): lanchat runs on Linux and macOS, and on "
            "Windows inside WSL: run `wsl --install` in PowerShell, open Ubuntu, and follow README.md's Quick start "
            "there\n"
        ), (command, done.stderr)


def test_the_check_for_a_unix_python_imports_nothing_on_linux():
    """The check asks the import system's finders; it loads neither module (nor anything else)."""
    probe = (
        "import sys\n"
        "import lanchat.__main__\n"
        "from lanchat.cli.start import missing_unix_module\n"
        "before = set(sys.modules)\n"
        "print(missing_unix_module(), sorted(set(sys.modules) - before))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, check=True)
    assert done.stdout.split() == ["None", "[]"]


class _Finder:
    """A meta-path finder that answers every name with ``answer``, or raises it."""

    def __init__(self, answer: BaseException | None) -> None:
        self.answer = answer

    def find_spec(self, name, path=None, target=None):
        if self.answer is not None:
            raise self.answer


@pytest.mark.parametrize(("answer", "others_too", "missing"), [
    (None, False, "fcntl"),  # Windows's Python: no finder has it
    (ModuleNotFoundError("No module named 'fcntl'", name="fcntl"), True, "fcntl"),  # a finder says it is not there
    (ImportError("this finder's index is unreadable"), True, None),  # broken for another reason
    (PermissionError(13, "Permission denied", "/opt/site-index"), True, None),
], ids=["none-has-it", "says-not-there", "import-error-unrelated", "oserror-unrelated"])
def test_the_check_for_a_unix_python_tells_a_missing_module_from_a_broken_finder(monkeypatch, answer, others_too, missing):
    """Only a module no finder has (or one a finder says is not there) gets the WSL line: a finder
    failing for an unrelated reason on Linux got it too (ImportError), or was a traceback at start
    of every command, --help too (any other error)."""
    from lanchat.cli.start import missing_unix_module

    for name in ("fcntl", "termios"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "meta_path", [_Finder(answer), *(sys.meta_path if others_too else [])])
    assert missing_unix_module() == missing


def test_on_macos_a_vanished_peer_is_still_noticed_within_a_minute(monkeypatch):
    """macOS's Python has no TCP_KEEPIDLE: the idle time before the first probe is TCP_KEEPALIVE
    there. Without it the system's two hours applied, and a laptop closed mid-lesson held its
    name all afternoon. Here the Linux option stands in under the macOS name."""
    idle_option = socket.TCP_KEEPIDLE
    monkeypatch.delattr(socket, "TCP_KEEPIDLE")
    monkeypatch.setattr(socket, "TCP_KEEPALIVE", idle_option, raising=False)
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_connection(listener.getsockname()) as sock:
        transport.tune(sock)
        assert sock.getsockopt(socket.IPPROTO_TCP, idle_option) == transport.KEEPALIVE_IDLE_SECONDS
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1


def test_on_macos_a_socket_path_too_long_for_it_is_refused_with_its_own_limit(monkeypatch):
    """macOS keeps 104 bytes of a socket file's path (Linux 108): `serve --unix` on a 105-byte path
    said nothing until bind failed, and a longer one was refused as over Linux's 107."""
    monkeypatch.setattr(sys, "platform", "darwin")
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "s" * (105 - len(folder) - 1))
        assert len(path) == 105
        with pytest.raises(transport.TransportError, match=r"^socket path is too long \(105 bytes; the limit is 103\): use a shorter one"):
            transport.listen_unix(path)
        assert not os.path.exists(path)
        with transport.listen_unix(path[:103]):
            pass


def test_on_macos_server_owner_says_it_was_not_checked():
    """connect --unix --server-owner USER: Linux says who runs the server (SO_PEERCRED); macOS's
    Python cannot ask, and the option was silently a no-op, as if the owner had been checked."""
    env = shimmed_env(MACOS_LIKE)
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        server = Proc("serve", "--headless", "--unix", path, "--no-history", env=env)
        ann: Proc | None = None
        try:
            server.expect(r"join with")
            ann = Proc("connect", "--unix", path, "--name", "ann", "--server-owner", "nobody", env=env)
            ann.expect(rf"^lanchat: warning: this system does not say who runs the server at {re.escape(path)}: "
                       r"--server-owner was not checked$")
            ann.expect(r"welcome, ann")
            ann.send("/q")
            assert ann.wait() == 0
        finally:
            for proc in (ann, server):
                if proc is not None:
                    proc.stop()


def test_on_macos_a_host_whose_input_is_dev_null_ends_as_on_linux():
    """macOS's default selector (kqueue) refuses /dev/null: `lanchat serve --name hal < /dev/null`
    ended in 'internal error (OSError)'. Now its input ends and it says so, as on Linux."""
    command = ["serve", "--name", "hal", "--port", "0", "--host", "127.0.0.1", "--no-history", "--no-announce"]
    done = subprocess.run([sys.executable, "-m", "lanchat", *command], env=shimmed_env(MACOS_LIKE), cwd=ROOT,
                          capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, stdin=subprocess.DEVNULL)
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert ("lanchat: the chat is closed: the host's input ended (it is not a terminal); "
            "`lanchat serve --headless` runs a room with no host") in done.stdout + done.stderr, done


def test_on_macos_a_client_whose_input_is_a_file_leaves_at_its_end(tmp_path):
    """`lanchat connect --name bob < lines.txt` (no /q in it): kqueue, macOS's default selector,
    takes a regular file but calls it readable only before its end, so the end was never read
    and bob stayed in the room after his last line. On Linux epoll refuses the file (poll() then)."""
    server = Proc("serve", "--headless", "--port", "0", "--host", "127.0.0.1", "--no-history", env=shimmed_env(MACOS_LIKE))
    ann: Proc | None = None
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        ann = Proc("connect", "127.0.0.1", port, "--name", "ann", env=shimmed_env(MACOS_LIKE))
        ann.expect(r"welcome, ann")
        script = tmp_path / "lines.txt"
        script.write_text("hello from a file on a mac\n", encoding="utf-8")
        with open(script, "rb") as stdin:
            done = subprocess.run([sys.executable, "-m", "lanchat", "connect", "127.0.0.1", port, "--name", "bob"],
                                  env=shimmed_env(MACOS_LIKE), cwd=ROOT, capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
                                  stdin=stdin)
        assert done.returncode == 0, done
        assert "Traceback" not in done.stdout + done.stderr, done
        ann.expect(r"bob: hello from a file on a mac$")
        ann.expect(r"bob left")
    finally:
        for proc in (ann, server):
            if proc is not None:
                proc.stop()


def test_without_proc_the_banner_still_puts_the_default_routes_address_first(monkeypatch):
    """The address `serve` prints first is the one on the interface of the default route, which
    only Linux's /proc/net/route said: on macOS a VM's or Internet Sharing's bridge (bridge100,
    first by name) could come first. Without /proc, that interface is found by the address a
    far destination would be sent from (no packet leaves)."""
    from lanchat import netinfo

    linux_says = netinfo.default_routes()
    if not linux_says or transport.route_source(socket.AF_INET) is None:
        pytest.skip("this machine has no default route")
    monkeypatch.setattr(netinfo, "_read", lambda path: "")  # no /proc
    assert netinfo.default_routes() == set()
    routed = {a.interface for a in netinfo.every_address() if a.default_route}
    assert routed and routed <= linux_says


ROUTE_TABLE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


@pytest.mark.parametrize(("ipv4_table", "marked"), [("", {"lo"}), (ROUTE_TABLE_HEADER, set())], ids=["no-proc", "linux-no-default"])
def test_the_route_probe_is_asked_only_without_proc(monkeypatch, ipv4_table, marked):
    """Without /proc the interface holding the probe's source address is the default route's (on
    any machine: the probe answers 127.0.0.1 here, so lo). On Linux with no default route (a
    class LAN with no gateway) /proc's answer stands, as before: nothing is marked, and no probe
    (which a policy route or a route to the documentation network would otherwise answer)."""
    from lanchat import netinfo

    asked: list[int] = []

    def probe(family: int) -> str | None:
        asked.append(family)
        return "127.0.0.1" if family == socket.AF_INET else None

    monkeypatch.setattr(transport, "route_source", probe)
    monkeypatch.setattr(netinfo, "_read", lambda path: ipv4_table if path == "/proc/net/route" else "")
    assert {a.interface for a in netinfo.every_address() if a.default_route} == marked
    assert bool(asked) == (not ipv4_table)


@pytest.mark.parametrize(("state", "verdict"), [(0, "ok"), (1, "warn"), (2, "fail")])
def test_doctor_on_macos_reads_its_firewall_instead_of_saying_there_is_none(tmp_path, monkeypatch, state, verdict):
    """`lanchat doctor` on a Mac said 'no nftables, ufw or firewalld here to block the port', while
    macOS's own firewall (on by default on many school Macs) drops the class's connections until
    Python is allowed. socketfilterfw stands in here, a script that prints what the real one does."""
    from lanchat import doctor

    fake = tmp_path / "socketfilterfw"
    fake.write_text(f"#!/bin/sh\necho 'Firewall is {'disabled' if state == 0 else 'enabled'}. (State = {state})'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(doctor, "MACOS_FIREWALL", str(fake))
    monkeypatch.setenv("PATH", str(tmp_path / "no-nft-ufw-or-firewalld-here"))
    check = doctor.check_firewall(3580)
    assert check.status == verdict, check
    if state == 1:
        assert "click Allow" in check.fix
    if state == 0:
        assert check.summary == "the macOS firewall: nothing found that blocks port 3580"
