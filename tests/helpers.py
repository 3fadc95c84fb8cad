"""Shared test drivers: real processes, real sockets, deadlines instead of sleeps.

* ``Proc``: a ``python -m lanchat ...`` subprocess in plain mode whose output lines are
  collected by a reader thread; ``proc.expect(regex)`` waits (with a deadline) for a line.
* ``RawClient``: a protocol-level client on a real socket (``send(event)``, ``expect(type)``).
* ``running_server``: an in-process Server on port 0 or a temp AF_UNIX path, in a thread.
* ``wait_for(condition)``: poll a condition with a deadline.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lanchat import events as ev
from lanchat.gate import Gate
from lanchat.protocol import Connection, ConnectionClosed, Role
from lanchat.room import Room
from lanchat.server import Server
from lanchat.transport import Endpoint, listen

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIMEOUT = 20.0  # a wait that ends when its condition holds; long enough for a loaded 2-CPU machine (10 s failed under three parallel suites)


def wait_for(condition: Callable[[], object], timeout: float = DEFAULT_TIMEOUT, what: str = "condition") -> object:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)  # polling interval, not synchronisation: the condition decides
        delay = min(delay * 2, 0.05)


_DATA_HOMES = Path(tempfile.mkdtemp(prefix="lanchat-test-data-"))
atexit.register(shutil.rmtree, _DATA_HOMES, True)


def identity_args(name: str) -> tuple[str, str]:
    """``--identity PATH`` for ``name``: the same person (the same key) across restarts and
    processes, where each child otherwise gets a new data folder and so a new key."""
    folder = _DATA_HOMES / "keys"
    folder.mkdir(mode=0o700, exist_ok=True)
    return ("--identity", str(folder / f"{name.casefold()}.key"))


def same_person(args: tuple[str, ...]) -> tuple[str, ...]:
    """``lanchat connect/serve --name NAME``: one person, one key, as on a real machine whose data
    folder stays put (each child here gets a new one). A test that wants another key for the
    same name (an impostor) passes ``--identity`` itself."""
    if not args or args[0] not in ("connect", "serve") or "--identity" in args or "--name" not in args:
        return args
    at = args.index("--name")
    if at + 1 >= len(args):
        return args
    return (*args, *identity_args(args[at + 1]))


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # Each child gets its own empty data folder, so `serve` without --history writes its
    # default history there: never into the real user's folder, never shared between tests.
    env["XDG_DATA_HOME"] = tempfile.mkdtemp(dir=_DATA_HOMES)
    # and its own state folder: an internal error's log (crash_log.py) is the
    # test's to read, never written into the real user's ~/.local/state
    env["XDG_STATE_HOME"] = tempfile.mkdtemp(dir=_DATA_HOMES)
    # and a config folder of its own: lanchat reads none today, but one it ever reads (or a
    # library it loads) must never be the real user's
    env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(dir=_DATA_HOMES)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("COLUMNS", None)  # messages fold to COLUMNS: a test asks for a width, the runner's never leaks in
    env.update(extra)
    return env


def noon_tz(now: float | None = None) -> str:
    """A POSIX TZ value whose local time is now between noon and 1 pm: a test that counts a
    transcript's rows exactly cannot get a day rule from crossing midnight while it runs."""
    hour = time.gmtime(time.time() if now is None else now).tm_hour
    return f"NOON{hour - 12:+d}"  # POSIX: the offset is what is added to local time to get UTC


class Proc:
    """A lanchat subprocess driven through pipes (plain mode)."""

    def __init__(
        self, *args: str, stdin: bool = True, env: dict[str, str] | None = None, program: list[str] | None = None
    ) -> None:
        """``program`` replaces ``python -m lanchat`` (say, a client written from docs/PROTOCOL.md)."""
        if program is None:
            args = same_person(args)
        self.args = args
        self.popen = subprocess.Popen(
            [*(program or [sys.executable, "-m", "lanchat"]), *args],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env or child_env(),
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self._new = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._new:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._new.notify_all()
        with self._new:
            self._new.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def expect(self, pattern: str, timeout: float = DEFAULT_TIMEOUT, start: int = 0) -> re.Match[str]:
        """Wait for an output line matching ``pattern`` (searched from line ``start``)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._new:
            while True:
                for line in self.lines[start:]:
                    match = regex.search(line)
                    if match:
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (not self._reader.is_alive() and self.popen.poll() is not None):
                    raise AssertionError(
                        f"no line matching {pattern!r} within {timeout}s from lanchat {' '.join(self.args)}; "
                        f"output so far:\n{self.output}"
                    )
                self._new.wait(min(remaining, 0.2))

    def mark(self) -> int:
        """The number of lines seen so far, to ``expect`` only what comes after."""
        with self._new:
            return len(self.lines)

    def send(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text.encode("utf-8") + b"\n")
        self.popen.stdin.flush()

    def close_stdin(self) -> None:
        if self.popen.stdin:
            with contextlib.suppress(OSError):
                self.popen.stdin.close()

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        code = self.popen.wait(timeout=timeout)
        self._reader.join(timeout)
        return code

    def stop(self) -> None:
        """End the process we started, by its PID, if it is still running."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self.close_stdin()
        self._reader.join(5)


def start_server(*extra: str) -> tuple[Proc, int | None]:
    """``lanchat serve --port 0 --host 127.0.0.1 ...``; returns the process and its port."""
    proc = Proc("serve", *extra) if "--unix" in extra else Proc("serve", "--port", "0", "--host", "127.0.0.1", *extra)
    if "--unix" in extra:
        proc.expect(r"join with")
        return proc, None
    match = proc.expect(r"listening on port (\d+)")
    return proc, int(match.group(1))


class RawClient:
    """Speaks the protocol directly on a real socket; for integration tests.

    Every RawClient still open is closed when the ``running_server`` it talks to ends, so a
    test never makes the server wait out its shutdown flush for a client nobody reads."""

    _open: list[RawClient] = []  # noqa: RUF012 - every live RawClient, for running_server to close

    def __init__(
        self,
        endpoint: Endpoint | socket.socket,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        key: object | None = None,
        password: str | None = None,
        binding: bytes = b"",
    ):
        """With ``key`` (an Ed25519PrivateKey) the hello carries it and the challenge is answered
        (PROTOCOL.md, Identity), with ``password``'s proof when the room asks for one; ``binding``
        is the TLS certificate's SHA-256 that both must cover on a TLS connection."""
        RawClient._open.append(self)
        if isinstance(endpoint, socket.socket):
            self.sock = endpoint
        elif endpoint.path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(endpoint.path)
        else:
            self.sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.proto = Connection(Role.CLIENT)
        self.inbox: list[object] = []
        self.welcome: ev.Welcome | None = None
        self.key = key
        self.password = password
        self.binding = binding
        if name is not None:
            self.hello(name)
            self.welcome = self.expect(ev.Welcome)  # type: ignore[assignment]

    def hello(self, name: str) -> None:
        """Send hello; with a key, wait for the challenge and answer it."""
        from lanchat import identity

        if self.key is None:
            self.send(ev.Hello(name=name))
            return
        self.send(ev.Hello(name=name, key=identity.b64(identity.public_bytes(self.key))))
        challenge = self.expect(ev.Challenge)
        self.send(self.answer(challenge))  # type: ignore[arg-type]

    def answer(self, challenge: ev.Challenge) -> ev.Auth:
        from lanchat import identity

        nonce = identity.unb64(challenge.nonce, identity.NONCE_BYTES, "nonce")
        signature = identity.b64(identity.sign_challenge(self.key, nonce, self.binding))  # type: ignore[arg-type]
        if challenge.salt is None or self.password is None:
            return ev.Auth(signature=signature)
        derived = identity.derive_password_key(self.password, identity.unb64(challenge.salt, identity.SALT_BYTES, "salt"))
        return ev.Auth(signature=signature, proof=identity.b64(identity.password_proof(derived, nonce, self.binding)))

    def send(self, event: ev.Event) -> None:
        self.sock.sendall(self.proto.send(event))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _pump(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.proto.peer_closed:
            return False  # after the peer closed there is nothing more to read
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            data = b""
        self.proto.receive_data(data)
        self.inbox.extend(self.proto.events())
        return True

    def expect(self, kind: type, timeout: float | None = None, **fields: object) -> object:
        """Wait for the next event of ``kind`` (with matching fields); the others that came before it
        are dropped (keep them with ``expect(object)`` in a loop, or ``drain``)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for index, event in enumerate(self.inbox):
                if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
                    del self.inbox[: index + 1]
                    return event
            if not self._pump(deadline):
                raise AssertionError(f"no {kind.__name__} {fields or ''} in time; got {self.inbox}")

    def expect_closed(self, timeout: float | None = None) -> None:
        self.expect(ConnectionClosed, timeout)

    def until_closed(self, timeout: float | None = None) -> list[object]:
        """Everything the server sends, in order, until it closes the connection (which must
        happen within ``timeout``): what a peer heard last, with no fixed wait."""
        heard: list[object] = []
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while self.inbox:
                event = self.inbox.pop(0)
                if isinstance(event, ConnectionClosed):
                    return heard
                heard.append(event)
            if not self._pump(deadline):
                raise AssertionError(f"the server did not close the connection in time; heard {heard[-5:]}")

    def drain(self, timeout: float = 0.2) -> list[object]:
        """Everything that arrives within ``timeout`` (used to check nothing else came)."""
        deadline = time.monotonic() + timeout
        while self._pump(deadline):
            if self.inbox and isinstance(self.inbox[-1], ConnectionClosed):
                break
        out, self.inbox = self.inbox, []
        return out

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            RawClient._open.remove(self)
        with contextlib.suppress(OSError):
            self.sock.close()


@contextlib.contextmanager
def running_server(
    mode: str = "duplex", *, unix_path: str | None = None, host: str = "127.0.0.1", **server_kwargs: object
) -> Iterator[tuple[Server, Endpoint]]:
    """An in-process Server in a background thread, on port 0 or ``unix_path``."""
    endpoint = Endpoint(path=unix_path) if unix_path else Endpoint(host=host, port=0)
    listener = listen(endpoint)
    room_kwargs = {k: server_kwargs.pop(k) for k in ("max_members", "clock", "replay", "own_user", "resume_tokens") if k in server_kwargs}
    gate_kwargs = {k: server_kwargs.pop(k) for k in ("password", "binding") if k in server_kwargs}
    store = server_kwargs.get("history")
    if store is not None:  # a HistoryStore: the room keeps history and knows its names and owners, as `serve` does
        room_kwargs.update(history=True, known_names=store.known_names())  # type: ignore[attr-defined]
        # and what the last run left: bans, mutes, operators given with /op, the topic
        room_kwargs.update(bans=store.bans(), mutes=store.mutes(time.time()), topic=store.room_topic(),  # type: ignore[attr-defined]
                           operator_keys=[key for key, _name in store.operator_keys()])  # type: ignore[attr-defined]  # fmt: skip
        gate_kwargs["owners"] = store.owners()  # type: ignore[attr-defined]
        gate_kwargs["owner_names"] = [name for name, _key in store.owner_names()]  # type: ignore[attr-defined]
    room_kwargs["gate"] = Gate(clock=room_kwargs.get("clock", time.time), **gate_kwargs)  # type: ignore[arg-type]
    room = Room(mode=mode, **room_kwargs)  # type: ignore[arg-type]
    server = Server([listener], room, unix_path=unix_path, **server_kwargs)  # type: ignore[arg-type]
    if not unix_path:
        endpoint = Endpoint(host=host, port=listener.getsockname()[1])
    crashed: list[BaseException] = []

    def serve() -> None:
        try:
            server.serve_forever()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below, not lost in a thread
            crashed.append(exc)

    thread = threading.Thread(target=serve, daemon=True, name=f"server {id(server):x}")  # (server_cpu_seconds finds it)
    thread.start()
    already_open = list(RawClient._open)
    try:
        yield server, endpoint
    finally:
        # The test is over: close what it opened (and left open), so the server's shutdown has
        # nobody to wait for (SHUTDOWN_FLUSH_SECONDS). A test that wants the shutdown notice
        # asks for it with server.request_shutdown() inside the block.
        for client in [c for c in RawClient._open if c not in already_open]:
            client.close()
        server.request_shutdown("test over")
        server.stopped.wait(10)
        thread.join(10)
    if crashed:  # bad input must never end the server loop for everyone
        raise AssertionError(f"the server loop crashed: {crashed[0]!r}") from crashed[0]
    if server.crashed is not None:  # the loop told everyone and stopped (Server.serve_forever): still a bug
        raise AssertionError(f"the server loop crashed: {server.crashed!r}") from server.crashed
    if server.internal_errors:  # survived, but a bug all the same
        raise AssertionError(f"the server met {server.internal_error_count} bug(s); the first:\n{server.internal_errors[0]}")


def drain_queue(q: queue.Queue) -> list[object]:
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items


def _scrolling_screen(cols: int, rows: int):  # noqa: ANN202 - pyte is imported lazily
    """A pyte screen that also knows SU and SD (CSI n S, CSI n T): ncurses scrolls a region
    with them, and pyte alone would ignore them and leave the old rows in place."""
    import pyte

    class ScrollingScreen(pyte.Screen):
        def _scroll(self, count: int | None, up: bool) -> None:
            top, bottom = self.margins or pyte.screens.Margins(0, self.lines - 1)
            y, x = self.cursor.y, self.cursor.x
            self.cursor.y = bottom if up else top
            for _ in range(max(1, count or 1)):
                self.index() if up else self.reverse_index()
            self.cursor.y, self.cursor.x = y, x

        def scroll_up(self, count: int | None = None, *args: object, **kwargs: object) -> None:
            self._scroll(count, up=True)

        def scroll_down(self, count: int | None = None, *args: object, **kwargs: object) -> None:
            self._scroll(count, up=False)

    class ScrollingStream(pyte.ByteStream):
        csi = {**pyte.ByteStream.csi, "S": "scroll_up", "T": "scroll_down"}

    screen = ScrollingScreen(cols, rows)
    return screen, ScrollingStream(screen)


class TermProc:
    """A lanchat process in a real pseudo-terminal, its screen read by a terminal emulator (pyte).

    ``expect(regex)`` waits (with a deadline) until the screen shows a match; ``send(keys)``
    types; ``resize(rows, cols)`` changes the window size like a terminal window would.
    TERM and LANG are set explicitly and LINES/COLUMNS removed, because ncurses would take
    those over the pty's real size. ``raw`` keeps every byte the program wrote.
    """

    def __init__(
        self, *args: str, rows: int = 24, cols: int = 80, argv: list[str] | None = None, env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        from ptyprocess import PtyProcess

        env = child_env(**{"TERM": "screen-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **(env or {})})
        env.pop("LINES", None)
        env.pop("COLUMNS", None)
        self.args = args
        self.screen, self.stream = _scrolling_screen(cols, rows)
        self.raw = bytearray()
        self._changed = threading.Condition()
        self.proc = PtyProcess.spawn(argv or [sys.executable, "-m", "lanchat", *same_person(args)], env=env, cwd=str(cwd or ROOT), dimensions=(rows, cols))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.proc.read(65536)
            except (EOFError, OSError):
                break
            with self._changed:
                self.raw += data
                self.stream.feed(data)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def lines(self) -> list[str]:
        """What the screen shows, one string per row (a wide character counts once)."""
        with self._changed:
            return list(self.screen.display)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def cursor(self) -> tuple[int, int]:
        with self._changed:
            return self.screen.cursor.y, self.screen.cursor.x

    def wait_screen(self, condition: Callable[[list[str]], object], timeout: float = DEFAULT_TIMEOUT, what: str = "") -> object:
        """Wait until ``condition(screen rows)`` is truthy; fail with the screen shown."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = condition(list(self.screen.display))
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    shown = "\n".join(f"|{row}|" for row in self.screen.display)
                    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}; screen:\n{shown}")
                self._changed.wait(min(remaining, 0.2))

    def wait_finished(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the program has ended and all it wrote is on the screen: the reader has met
        the terminal's end. A process already seen dead (isalive) may still have output in the
        terminal, unread: a test that read the screen then found the last entries missing."""
        self._reader.join(timeout)
        if self._reader.is_alive():
            shown = "\n".join(f"|{row}|" for row in self.lines)
            raise AssertionError(f"the program did not end within {timeout}s; screen:\n{shown}")

    def expect(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match[str]:
        regex = re.compile(pattern)
        return self.wait_screen(lambda rows: regex.search("\n".join(rows)), timeout, what=repr(pattern))  # type: ignore[return-value]

    def expect_unfolded(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match[str]:
        """Wait for ``pattern`` in the transcript (left of the roster's bar; not the status and
        input lines) read with every space and fold taken out: a notice naming a temporary path
        folds where that path's length puts it (at a space, the space gone; inside the path, at
        a slash), so its words are matched as one text. Build the pattern with ``unfolded``."""
        regex = re.compile(pattern)
        return self.wait_screen(lambda rows: regex.search(unfolded("".join(row.split("│")[0] for row in rows[:-2]))), timeout,  # type: ignore[return-value]
                                what=f"{pattern!r} with the folds taken out")  # fmt: skip

    def expect_gone(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        regex = re.compile(pattern)
        self.wait_screen(lambda rows: not regex.search("\n".join(rows)), timeout, what=f"{pattern!r} to go away")

    def send(self, keys: str | bytes) -> None:
        self.proc.write(keys.encode("utf-8") if isinstance(keys, str) else keys)

    def resize(self, rows: int, cols: int) -> None:
        with self._changed:
            self.screen.resize(rows, cols)
        self.proc.setwinsize(rows, cols)  # the kernel sends SIGWINCH to the program

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Wait for the program to exit; its exit status."""
        wait_for(lambda: not self.proc.isalive(), timeout, what=f"lanchat {' '.join(self.args)} to exit")
        self._reader.join(timeout)
        return self.proc.exitstatus if self.proc.exitstatus is not None else -(self.proc.signalstatus or 0)

    def stop(self) -> None:
        """End the process we started, by its PID, if it is still running: SIGHUP (a terminal
        closing), then SIGCONT and SIGINT, then SIGKILL, 0.1 s apart, as ptyprocess's
        terminate(force=True) does, but going on as soon as it has exited; ptyprocess sleeps
        each 0.1 s in full, and its close() 0.1 s more even for a process already gone (a
        second or more in a test of ten terminals)."""
        for sig in (signal.SIGHUP, signal.SIGCONT, signal.SIGINT, signal.SIGKILL):
            if not self.proc.isalive():
                break
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill(sig)
            deadline = time.monotonic() + (5.0 if sig == signal.SIGKILL else 0.1)
            while self.proc.isalive() and time.monotonic() < deadline:
                time.sleep(0.002)  # polling the exit, with a deadline
        self._reader.join(5)
        if not self.proc.isalive():
            self.proc.delayafterclose = 0  # its pause lets a live child notice the closed pty; this one has exited
        with contextlib.suppress(OSError):
            self.proc.close(force=True)


def unfolded(text: str) -> str:
    """``text`` with every space taken out: what TermProc.expect_unfolded matches against."""
    return "".join(text.split())


def server_cpu_seconds(server: Server) -> float:
    """The CPU time ``running_server``'s thread has used so far: what reading a frame costs the
    server's one loop, untouched by how long the thread waited for a CPU on a loaded machine."""
    thread = next(thread for thread in threading.enumerate() if thread.name == f"server {id(server):x}")
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def local_host(server: Server, name: str = "host", **how: object) -> RawClient:
    """The host, joined as ``name`` through its end of a socketpair, as ``lanchat serve`` joins
    its own screen (``Server.add_local``); ``how``: RawClient's key or password."""
    host_end, server_end = socket.socketpair()
    server.add_local(server_end, host=True)
    return RawClient(host_end, name, **how)  # type: ignore[arg-type]


@contextlib.contextmanager
def short_tmp_dir() -> Iterator[str]:
    """A private temp folder with a short path: AF_UNIX socket paths must stay under 108 bytes,
    which pytest's tmp_path (with the test's name in it) can exceed."""
    import tempfile as _tempfile  # local: keeps this helper independent of the imports above

    folder = _tempfile.mkdtemp(prefix="lc-", dir="/tmp" if os.path.isdir("/tmp") else None)
    try:
        yield folder
    finally:
        import shutil as _shutil

        _shutil.rmtree(folder, ignore_errors=True)


# The history schema as the first release wrote it (names had no owners yet): files like this
# are on people's disks and must keep working.
FIRST_HISTORY_SCHEMA = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, sender TEXT NOT NULL, sender_key TEXT NOT NULL,
    recipient TEXT, recipient_key TEXT, text TEXT NOT NULL
);
CREATE INDEX room_messages ON messages(id) WHERE recipient IS NULL;
CREATE INDEX directs_to_key ON messages(recipient_key, id) WHERE recipient_key IS NOT NULL;
CREATE INDEX directs_from_key ON messages(sender_key, id) WHERE recipient_key IS NOT NULL;
CREATE TABLE names (key TEXT PRIMARY KEY, name TEXT NOT NULL, last_seen INTEGER NOT NULL);
PRAGMA application_id = 1279348291;  -- "LANC"
PRAGMA user_version = 1;
PRAGMA journal_mode = WAL;
"""


def first_release_history(path: Path, rows: list[tuple[float, str, str | None, str]]) -> Path:
    """A history file as the first release made it, holding ``rows`` of (time, sender, to, text)."""
    import sqlite3

    db = sqlite3.connect(path)
    db.executescript(FIRST_HISTORY_SCHEMA)
    with db:
        db.executemany(
            "INSERT INTO messages (time, sender, sender_key, recipient, recipient_key, text) VALUES (?, ?, ?, ?, ?, ?)",
            [(t, s, s.casefold(), to, to.casefold() if to else None, text) for t, s, to, text in rows],
        )
    db.close()
    return path


class StandInServer:
    """A scripted stand-in for a lanchat server, for one client, on a thread: it welcomes the
    client and hands every later event to ``on_event(self, event)``, which answers with
    ``self.send(...)``; returning True drops the connection. ``heard`` keeps every event the
    client sent. Tests use it for servers lanchat never is: half a file and then silence, an
    upload accepted but never read."""

    def __init__(
        self, on_event: Callable[[StandInServer, object], bool | None], timeout: float = DEFAULT_TIMEOUT, **welcome: Any
    ) -> None:
        """``welcome``: more fields for the welcome (``flood_burst=10, flood_rate=3.0``)."""
        self.on_event = on_event
        self.welcome = welcome
        self.timeout = timeout
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(timeout)
        self.port: int = self.listener.getsockname()[1]
        self.proto = Connection(Role.SERVER)
        self.conn: socket.socket | None = None
        self.heard: list[object] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def send(self, *events: ev.Event) -> None:
        assert self.conn is not None
        self.conn.sendall(b"".join(self.proto.send(event) for event in events))

    def _serve(self) -> None:
        with contextlib.suppress(OSError):  # the client went, or a read timed out: the end
            conn, _ = self.listener.accept()
            conn.settimeout(self.timeout)
            self.conn = conn
            with conn:
                while data := conn.recv(65536):
                    self.proto.receive_data(data)
                    for event in self.proto.events():
                        self.heard.append(event)
                        if isinstance(event, ev.Hello):
                            self.send(ev.Welcome(name=event.name, mode="duplex", members=(event.name,), **self.welcome))
                        elif self.on_event(self, event):
                            return

    def close(self) -> None:
        self.listener.close()
        self._thread.join(self.timeout)


class SerialServer:
    """A stand-in server that takes its connections one after another, on a thread: each (behind
    TLS when ``context`` is given) goes to ``answer(conn)``, the subclass's, and is closed after.
    One that fails (the client hung up, a read timed out, the TLS handshake) is dropped, and the
    next is taken. ``taken`` counts them; ``close()`` ends the thread. A subclass sets what
    ``answer`` uses before calling ``__init__``, which starts the thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, context: Any = None, read_timeout: float = 15.0) -> None:
        self.context = context
        self.read_timeout = read_timeout
        self.listener = socket.create_server((host, port))
        self.listener.settimeout(15)
        self.port: int = self.listener.getsockname()[1]
        self.taken = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def answer(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                raw, _ = self.listener.accept()
                self.taken += 1
                raw.settimeout(self.read_timeout)
                with contextlib.suppress(OSError):  # ssl.SSLError among them: the client hung up on the certificate
                    conn = self.context.wrap_socket(raw, server_side=True) if self.context else raw
                    with conn:
                        self.answer(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting in the thread
        self.listener.close()
        self._thread.join(15)


def _claim_subnet(link: str) -> str:
    """A 10.214.X.0/30 no other link of this machine has (tests run in parallel workers, each
    with namespaces of its own, all joined to this one), given to ``link``: "10.214.X"."""
    import fcntl

    with open(os.path.join(tempfile.gettempdir(), "lanchat-test-subnets.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one claim at a time: look, then take
        shown = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=DEFAULT_TIMEOUT).stdout
        taken = set(re.findall(r"inet 10\.214\.(\d+)\.", shown))
        free = next((str(x) for x in range(256) if str(x) not in taken), None)
        if free is None:
            raise OSError("every 10.214.X.0/30 is taken by a link of this machine (left by killed test runs?)")
        subprocess.run(["ip", "addr", "add", f"10.214.{free}.1/30", "dev", link], check=True, capture_output=True, timeout=DEFAULT_TIMEOUT)
        return f"10.214.{free}"


@contextlib.contextmanager
def network_namespace() -> Iterator[tuple[str, str, str, str]]:
    """A network namespace of the test's own, joined to this one by a veth pair:
    yields (namespace, our address, their address, their link). Removed afterwards.
    Needs root and iproute2; raises OSError when the system will not allow it."""
    tag = f"{os.getpid() % 10000}{threading.get_ident() % 97}"
    prefix = os.environ.get("LANCHAT_NETNS_PREFIX", "lc")  # as netlab.Lab's: one person's runs told apart
    end = f"{prefix}{tag}"[:14]  # a veth end's name: at most 15 bytes (IFNAMSIZ), the two told apart by their last
    name, ours, theirs = f"{prefix}-ns-{tag}", f"{end}a", f"{end}b"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=DEFAULT_TIMEOUT)

    try:
        ip("netns", "add", name)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        raise OSError(f"cannot create a network namespace: {exc}") from None
    try:
        ip("link", "add", ours, "type", "veth", "peer", "name", theirs)
        ip("link", "set", theirs, "netns", name)
        subnet = _claim_subnet(ours)
        ip("link", "set", ours, "up")
        ip("netns", "exec", name, "ip", "addr", "add", f"{subnet}.2/30", "dev", theirs)
        ip("netns", "exec", name, "ip", "link", "set", theirs, "up")
        yield name, f"{subnet}.1", f"{subnet}.2", theirs
    finally:
        subprocess.run(["ip", "link", "del", ours], capture_output=True, timeout=DEFAULT_TIMEOUT)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=DEFAULT_TIMEOUT)


@contextlib.contextmanager
def network_namespace_or_skip() -> Iterator[tuple[str, str, str, str]]:
    """network_namespace(), or the test skipped with the reason where the system allows none."""
    import pytest

    with contextlib.ExitStack() as stack:
        try:
            found = stack.enter_context(network_namespace())
        except OSError as exc:
            pytest.skip(str(exc))
        yield found


SECOND_ACCOUNT_UID = 65534  # nobody: the classmate, or the teacher's own account, in tests run as root
_second_account_refusal: list[str | None] = []  # why not, found once per process (a subprocess each time is slow)


def second_account_or_skip() -> None:
    """Skip the test unless this Python runs lanchat as a second account (nobody, through setpriv).

    That needs root and setpriv, and an interpreter the other account may run: a Python built
    into root's home (pyenv's, /root is 0700) cannot load its own library as nobody ("error while
    loading shared libraries: libpython3.13.so"). A student's Python (the system's, Homebrew's,
    python.org's) is everyone's; only a test machine's can be root's alone."""
    import pytest

    if not _second_account_refusal:
        _second_account_refusal.append(_why_no_second_account())
    if _second_account_refusal[0] is not None:
        pytest.skip(_second_account_refusal[0])


def _why_no_second_account() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None:
        return "acting as a second account needs root and setpriv"
    try:
        done = subprocess.run(["setpriv", f"--reuid={SECOND_ACCOUNT_UID}", f"--regid={SECOND_ACCOUNT_UID}", "--clear-groups",
                               "--", sys.executable, "-c", "import lanchat"],
                              capture_output=True, text=True, env=child_env(), cwd="/", timeout=60)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return f"acting as a second account: {exc}"
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return f"this Python ({sys.executable}) does not run as another account: {said[0]}"
    return None


@contextlib.contextmanager
def small_disk(size: str = "256k", *, read_only: bool = False) -> Iterator[Path]:
    """A file system of its own, ``size`` small (a tmpfs mounted on a temp folder): the kernel's
    own ENOSPC when it fills up, or EROFS with ``read_only`` (root ignores chmod 0500; a read-only
    mount stops root too). Skips the test where this is not allowed (not root, no mount in a
    container). Unmounted afterwards (lazily: a file a child left open cannot keep it mounted)."""
    import pytest

    if os.geteuid() != 0:
        pytest.skip("a small disk of its own is a tmpfs mount, which needs root")
    folder = tempfile.mkdtemp(prefix="lc-disk-", dir="/tmp" if os.path.isdir("/tmp") else None)
    options = f"size={size},mode=0755" + (",ro" if read_only else "")
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "lanchat-test", folder],
                                 capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        mounted = subprocess.CompletedProcess([], 1, "", str(exc))
    if mounted.returncode != 0:
        os.rmdir(folder)
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield Path(folder)
    finally:
        subprocess.run(["umount", "-l", folder], capture_output=True, timeout=DEFAULT_TIMEOUT)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def remount(folder: Path, how: str) -> None:
    """``how``: "ro" (now read-only: what is there stays readable) or "rw" (writable again)."""
    subprocess.run(["mount", "-o", f"remount,{how}", str(folder)], check=True, capture_output=True, timeout=DEFAULT_TIMEOUT)


def fill_disk(folder: Path, leave: int = 0) -> Path:
    """Fill the disk ``folder`` is on, leaving about ``leave`` bytes free (whole pages); returns
    the filler file, whose removal frees the space again."""
    filler = folder / ".filler"
    free = shutil.disk_usage(folder).free
    with open(filler, "ab") as out:
        with contextlib.suppress(OSError):  # full: done
            out.write(b"\0" * max(0, free - leave))
    return filler


# A child run as root that makes one TCP socket under each account asked for (its effective user
# taken in turn: the kernel gives a socket the account that made it, /proc/net/tcp's uid column)
# and hands them over on the socket passed as its first argument, at most 200 a message.
_SOCKETS_OF_ACCOUNTS = """
import json, os, socket, sys
out = socket.socket(fileno=int(sys.argv[1]))
family, to, uids = int(sys.argv[2]), json.loads(sys.argv[3]), [int(uid) for uid in sys.argv[4:]]
made = []
for uid in uids:
    os.seteuid(uid)
    try:
        made.append(socket.socket(family, socket.SOCK_STREAM))
        if to is not None:
            made[-1].connect(tuple(to) if isinstance(to, list) else to)
    finally:
        os.seteuid(0)
for at in range(0, len(made), 200):
    socket.send_fds(out, [b"s"], [s.fileno() for s in made[at : at + 200]])
"""


def sockets_of_accounts(
    uids: list[int], family: int = socket.AF_INET, connect_to: str | tuple[str, int] | None = None
) -> list[socket.socket]:
    """Unconnected TCP sockets, the n-th made by the Unix account ``uids[n]``: a lab server's
    class, each student under an account of their own, from one test process (connect them to
    the room). ``connect_to``: connected there by that account (a socket file's peer is whoever
    connected: SO_PEERCRED). Needs root (a child takes each account in turn); skips the test without it."""
    if os.geteuid() != 0:
        import pytest

        pytest.skip("sockets of other accounts need root")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        child = subprocess.Popen([sys.executable, "-c", _SOCKETS_OF_ACCOUNTS, str(theirs.fileno()), str(int(family)),
                                  json.dumps(connect_to), *map(str, uids)], pass_fds=(theirs.fileno(),))  # fmt: skip
        theirs.close()
        ours.settimeout(DEFAULT_TIMEOUT)
        made: list[socket.socket] = []
        try:
            while len(made) < len(uids):
                _data, fds, _flags, _address = socket.recv_fds(ours, 16, 200)
                if not fds:
                    raise AssertionError(f"the child made {len(made)} of {len(uids)} sockets")
                made += [socket.socket(fileno=fd) for fd in fds]
        finally:
            child.wait(DEFAULT_TIMEOUT)
    return made


def flat_out_sender(endpoint: Any, name: str = "mallory") -> RawClient:
    """``name`` joined on a non-blocking socket with a small send buffer, for a script writing flat
    out: her writes block as soon as the server stops reading (the kernel's buffers then hold little)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)  # blocks sooner
    raw.settimeout(DEFAULT_TIMEOUT)
    raw.connect((endpoint.host, endpoint.port))
    sender = RawClient(raw, name)
    sender.sock.setblocking(False)
    return sender
