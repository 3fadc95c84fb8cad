"""Ctrl-C, SIGTERM and SIGHUP, each alone or all at once, as real processes get them (by PID).

A client stopped by any mix of them says goodbye once: the room reads "bob left", never "bob
lost connection", and the client exits 0 with nothing from Python, its terminal given back.
After the goodbye a client stuck writing to a reader that stopped reading still ends on one
more SIGTERM. Real subprocesses and sockets; full-screen clients in a real pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import DEFAULT_TIMEOUT, ROOT, Proc, TermProc, child_env, same_person, wait_for

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

STAMP = r"^\[\d\d:\d\d:\d\d\] "
STOPS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# every order of the three, so each client meets the mix another way
ORDERS = list(itertools.permutations(STOPS))
NAMES = ["bo", "cy", "di", "ed", "fay", "gus", "hal", "ivy", "jo", "kim"]


def storm(alive: Callable[[], bool], pid: int, order: tuple[int, ...], gone: Callable[[], bool]) -> None:
    """The three stop signals in ``order``, again and again as close together as the kernel
    lets us send them, until the room saw the client go (``gone``) or it ended, for at most a
    second. ``alive`` is asked before each burst: it reaps an ended process, and a PID is never
    signalled once reaped (it could be another process's by then)."""
    deadline = time.monotonic() + 1.0
    while alive() and not gone() and time.monotonic() < deadline:
        for _ in range(20):
            for signum in order:
                os.kill(pid, signum)


@pytest.fixture
def procs():
    started: list[Proc | TermProc] = []
    yield started
    for proc in started:
        proc.stop()


def headless(procs) -> tuple[Proc, list[str]]:
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history")
    procs.append(server)
    port = server.expect(r"listening on port (\d+)").group(1)
    return server, ["127.0.0.1", port]


def watcher(procs, where: list[str]) -> Proc:
    ann = Proc("connect", *where, "--name", "ann")
    procs.append(ann)
    ann.expect(r"welcome, ann")
    return ann


def said_goodbye(ann: Proc, name: str) -> None:
    ann.expect(STAMP + rf"-!- {name} left \(\d+ here\)$")
    assert not any(f"{name} lost connection" in line for line in ann.lines), ann.output


def test_a_mixed_storm_to_piped_clients_ends_each_with_a_goodbye(procs):
    """SIGTERM, Ctrl-C and SIGHUP together (a closing terminal's hangups, a `kill` and a key,
    all in the same microseconds), three times over, to each of ten piped clients. Two
    different signals used to raise twice, and the second cut the goodbye short."""
    _server, where = headless(procs)
    ann = watcher(procs, where)
    for number, name in enumerate(NAMES):
        client = Proc("connect", *where, "--name", name)
        procs.append(client)
        client.expect(rf"welcome, {name}")
        ann.expect(rf"{name} joined")
        mark = ann.mark()
        gone = lambda: any(f" {name} " in line for line in ann.lines[mark:])  # noqa: B023,E731 - left, or lost
        storm(lambda: client.popen.poll() is None, client.popen.pid, ORDERS[number % len(ORDERS)], gone)  # noqa: B023
        said_goodbye(ann, name)
        assert client.wait() == 0, client.output
        client.expect(r"you left the chat")
        assert "Traceback" not in client.output and "Exception ignored" not in client.output, client.output


def test_a_mixed_storm_to_full_screen_clients_ends_each_with_a_goodbye(procs):
    """The same storm to full-screen clients in a real terminal: a goodbye every time, exit 0,
    no traceback, and the terminal given back (the alternate screen left, pastes unmarked)."""
    _server, where = headless(procs)
    ann = watcher(procs, where)
    for number, name in enumerate(NAMES):
        term = TermProc("connect", *where, "--name", name, cols=100)
        procs.append(term)
        term.expect(rf"{name} │ client")
        ann.expect(rf"{name} joined")
        mark = ann.mark()
        gone = lambda: any(f" {name} " in line for line in ann.lines[mark:])  # noqa: B023,E731 - left, or lost
        storm(term.proc.isalive, term.proc.pid, ORDERS[number % len(ORDERS)], gone)
        said_goodbye(ann, name)
        assert term.wait() == 0, bytes(term.raw)[-2000:]
        raw = bytes(term.raw)
        assert b"Traceback" not in raw and b"Exception ignored" not in raw, raw[-2000:]
        last_draw = raw.rfind(b"\x1b[?1049h")
        for sequence in (b"\x1b[?1049l", b"\x1b[?2004l"):
            assert raw.rfind(sequence) > last_draw, f"{sequence!r} not sent after the last screen"


def _fill(fd: int) -> int:
    """Write to the pipe ``fd`` until it holds no more; how many bytes it took. Whole pages, each
    only while there is room for one (select), so no write blocks; the pipe's O_NONBLOCK is left
    alone: the client writes through the same open pipe, and must block as a real one would."""
    total = 0
    while select.select([], [fd], [], 0)[1]:
        total += os.write(fd, b"x" * 4096)
    return total


@pytest.mark.parametrize("how", ["/q", "SIGTERM"])
def test_after_its_goodbye_a_client_stuck_writing_to_a_full_pipe_ends_on_sigterm(procs, tmp_path, how):
    """`lanchat connect ... | reader` whose reader stopped reading: the client has said goodbye
    (the room read "bob left") and is stuck writing its last line. One more SIGTERM must end it
    within seconds; signals used to be held from the goodbye to the end, so only SIGKILL did."""
    _server, where = headless(procs)
    ann = watcher(procs, where)
    read_end, write_end = os.pipe()
    errors = tmp_path / "stderr.txt"
    try:
        with open(errors, "wb") as stderr:
            bob = subprocess.Popen(
                [sys.executable, "-m", "lanchat", *same_person(("connect", *where, "--name", "bob"))],
                stdin=subprocess.PIPE, stdout=write_end, stderr=stderr, env=child_env(), cwd=ROOT,
            )
        try:
            ann.expect(r"bob joined")
            os.set_blocking(read_end, False)
            seen = bytearray()

            def welcomed() -> bool:
                with contextlib.suppress(BlockingIOError):
                    seen.extend(os.read(read_end, 65536))
                return b"welcome, bob" in seen

            wait_for(welcomed, what="bob's welcome")
            assert _fill(write_end) > 0  # from now on nothing bob writes to stdout fits
            assert bob.stdin is not None
            if how == "/q":
                bob.stdin.write(b"/q\n")
                bob.stdin.flush()
            else:
                os.kill(bob.pid, signal.SIGTERM)
            said_goodbye(ann, "bob")
            assert bob.poll() is None, "bob ended without writing its last line: the test proves nothing"
            os.kill(bob.pid, signal.SIGTERM)
            code = bob.wait(timeout=DEFAULT_TIMEOUT)  # it ends (before: never, until SIGKILL): a loaded machine's budget
            assert code in (0, -signal.SIGTERM), code
        finally:
            if bob.poll() is None:
                bob.kill()
                bob.wait(timeout=5)
            if bob.stdin:
                with contextlib.suppress(OSError):
                    bob.stdin.close()
    finally:
        os.close(read_end)
        os.close(write_end)
    text = errors.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text and "Exception ignored" not in text, text
    assert not re.search(r"\blost connection\b", ann.output), ann.output


def full_screen_in_a_session_of_its_own(where: list[str]) -> tuple[subprocess.Popen, int]:
    """bob's full screen on a pty that is not its controlling terminal (setsid, some launchers:
    its window closing sends it no SIGHUP), and the window's end (the pty's master: closed, the
    window closes). The caller waits for it to be drawn (``drawn``) and ends it."""
    import fcntl
    import struct
    import termios

    window, bobs_end = os.openpty()
    fcntl.ioctl(bobs_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = child_env(TERM="screen-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    bob = subprocess.Popen([sys.executable, "-m", "lanchat", *same_person(("connect", *where, "--name", "bob"))],
                           stdin=bobs_end, stdout=bobs_end, stderr=bobs_end, env=env, cwd=ROOT, start_new_session=True)  # fmt: skip
    os.close(bobs_end)
    return bob, window


def ended(bob: subprocess.Popen, window: int) -> None:
    """A test's end with ``full_screen_in_a_session_of_its_own``: its window closed if the test
    has not (-1: closed), bob killed by its PID if still running."""
    if window >= 0:
        os.close(window)
    if bob.poll() is None:
        bob.kill()
        bob.wait(timeout=5)


def drawn(window: int) -> None:
    """Until the full screen behind ``window`` shows its status line: up, its loop waiting."""
    shown = bytearray()

    def status_line() -> bool:
        if select.select([window], [], [], 0.05)[0]:
            with contextlib.suppress(OSError):  # EIO: the program ended (said by the deadline)
                shown.extend(os.read(window, 65536))
        return b"bob \xe2\x94\x82 client" in shown

    wait_for(status_line, what="bob's full screen")


def test_a_full_screen_whose_terminal_hangs_up_without_its_signal_says_goodbye_and_ends(procs):
    """bob's full screen in a session of its own (setsid, some launchers), so the window closing
    sends it no SIGHUP: its keyboard, hung up, stayed ready to read with no key in it, and the
    loop went round at full speed for ever, the room still counting bob in. Now the hang-up is
    answered as its signal is: the goodbye, and the end."""
    _server, where = headless(procs)
    ann = watcher(procs, where)
    bob, window = full_screen_in_a_session_of_its_own(where)
    try:
        ann.expect(r"bob joined")
        drawn(window)
        os.close(window)  # the window closes
        window = -1
        said_goodbye(ann, "bob")
        assert bob.wait(timeout=DEFAULT_TIMEOUT) == 0
    finally:
        ended(bob, window)


def test_after_its_terminal_hung_up_a_wake_up_does_not_cut_the_goodbyes_wait_short():
    """After the hang-up's goodbye the client waits (LINGER_SECONDS) for the server to close its
    side, so what it sent is read before its socket closes. A wake-up then (SIGCONT, as the
    kernel sends a session's leader at a hang-up, or kill -CONT; SIGWINCH) read the hung-up
    keyboard, whose end of input was taken for a second /q: the client closed at once. The server
    here reads the bye and never closes: the client must wait its full time, whatever wakes it."""
    from lanchat import events as ev
    from lanchat.client import LINGER_SECONDS
    from lanchat.protocol import Connection, Role

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(DEFAULT_TIMEOUT)
    bob, window = full_screen_in_a_session_of_its_own(["127.0.0.1", str(listener.getsockname()[1])])
    conn = None
    try:
        conn, _ = listener.accept()
        conn.settimeout(DEFAULT_TIMEOUT)
        proto, heard = Connection(Role.SERVER), []

        def hear() -> bytes:
            data = conn.recv(65536)
            proto.receive_data(data)
            heard.extend(proto.events())
            return data

        while not heard:
            assert hear(), "the connection ended before its hello"
        hello = heard[0]
        assert isinstance(hello, ev.Hello), heard
        conn.sendall(proto.send(ev.Welcome(name=hello.name, mode="duplex", members=(hello.name,))))
        drawn(window)
        os.close(window)  # the window closes: the hang-up's goodbye
        window = -1
        hung_up_at = time.monotonic()
        while not any(isinstance(event, ev.Bye) for event in heard):
            assert hear(), f"the connection ended without a bye: {heard}"
        while hear():  # up to its end (FIN): the bye is out and the client waits for our close
            pass
        for wake in (signal.SIGCONT, signal.SIGWINCH):
            os.kill(bob.pid, wake)
        woken = time.monotonic() - hung_up_at  # (with its wait cut short, it closes just after this)
        assert woken < LINGER_SECONDS - 0.5, f"the wake-ups came {woken:.2f} s after the hang-up: machine too slow to tell"
        assert bob.wait(timeout=DEFAULT_TIMEOUT) == 0
        lingered = time.monotonic() - hung_up_at
        assert lingered >= LINGER_SECONDS, f"the client closed {lingered:.2f} s after the hang-up, before its wait was over"
    finally:
        ended(bob, window)
        if conn is not None:
            conn.close()
        listener.close()


# ------------------------------------------------------------- in this process


def test_outside_a_wait_signals_are_only_noted_in_the_order_they_came(stops):
    """The loop's side: no handler raises, whatever the mix; the wake socket is readable and
    take() gives each stop signal once (the test's own PID: this process)."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGINT):
        os.kill(os.getpid(), signum)
    # (a signal a process sends itself is delivered before kill() returns)
    assert select.select([stops.fileno()], [], [], DEFAULT_TIMEOUT)[0]
    assert stops.take() == [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGINT]
    assert stops.insisting
    assert stops.take() == []  # each once


def test_heard_fileno_is_readable_once_a_stop_signal_was_read_and_for_good(stops):
    """What the full screen's stall watcher (ui/stall.py) sleeps on besides the wake socket: a
    stop signal the loop read first leaves nothing there to wake it."""
    heard = stops.heard_fileno()
    os.kill(os.getpid(), signal.SIGTERM)  # (a signal a process sends itself is delivered before kill() returns)
    assert not select.select([heard], [], [], 0)[0]  # not read yet: the wake socket says it
    assert stops.take() == [signal.SIGTERM]
    assert select.select([heard], [], [], 0)[0]
    stops.take()
    assert select.select([heard], [], [], 0)[0]  # for good
    assert stops.heard_fileno() == heard


def test_came_says_a_stop_signal_still_unread_and_leaves_it_for_the_loop(stops):
    """What the stall watcher (ui/stall.py, another thread) asks while the loop is blocked on a
    terminal that stopped reading: the signal is still in the wake socket, and only peeked at."""
    assert not stops.came()
    os.kill(os.getpid(), signal.SIGTERM)  # (a signal a process sends itself is delivered before kill() returns)
    assert stops.came()
    assert stops.came()  # (peeked: still there)
    assert stops.take() == [signal.SIGTERM]  # the loop reads it all the same
    assert stops.came()  # heard


def test_a_wait_outside_the_loop_is_interrupted_once_and_an_unanswered_signal_skips_it(stops):
    """A prompt or 'press any key': the first stop signal raises KeyboardInterrupt, the ones
    after it nothing (they would cut the way out short); and a signal heard before the wait
    began, that nothing answered, ends it at once rather than never."""
    with pytest.raises(KeyboardInterrupt), stops.interrupting():
        os.kill(os.getpid(), signal.SIGHUP)
        wait_for(lambda: False, timeout=DEFAULT_TIMEOUT, what="the hangup to interrupt this wait")
    os.kill(os.getpid(), signal.SIGTERM)  # outside: noted only
    os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), stops.interrupting():
        pytest.fail("an unanswered signal should have ended the wait before it began")
    with stops.interrupting():  # all answered now: a wait goes ahead
        pass
    assert not stops.insisting


def test_a_long_write_makes_one_poll_and_reads_the_wake_socket_only_when_a_signal_came(stops, monkeypatch):
    """write_out writes in WRITE_PIECE pieces; it built a poll object and read the wake socket
    for each (eight of each for 4 KB): one poll object a write now, the socket read only when
    poll says a signal came, and the text arrives whole all the same."""
    import lanchat.stopsignals as stopsignals

    made, taken = [], []
    poll, take = select.poll, stops.take
    monkeypatch.setattr(stopsignals.select, "poll", lambda: made.append(1) or poll())
    monkeypatch.setattr(stops, "take", lambda: taken.append(1) or take())
    text = "".join(f"line {n:04}\n" for n in range(400))  # 4,000 bytes: eight pieces
    assert len(text) > 7 * stopsignals.WRITE_PIECE
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w", encoding="utf-8")
    try:
        assert stopsignals.write_out(stream, text, stops)
        assert os.read(read_end, 65536) == text.encode()
        assert (len(made), len(taken)) == (1, 0)
        before = signal.signal(signal.SIGUSR1, lambda *_: None)  # a Python handler: the wake socket hears it
        try:
            os.kill(os.getpid(), signal.SIGUSR1)  # a signal that is no stop: read off, nothing given up
            assert stopsignals.write_out(stream, text, stops) and os.read(read_end, 65536) == text.encode()
        finally:
            signal.signal(signal.SIGUSR1, before)
        assert (len(made), len(taken)) == (2, 1) and stops.heard == []
    finally:
        stream.close()
        os.close(read_end)


def test_a_write_to_a_full_pipe_waits_for_its_reader_until_a_signal_insists(stops):
    """write_out: a reader that is slow is waited for; one that stopped reading is given up on
    when a stop signal comes that nothing answered, and the stream then goes to /dev/null."""
    from lanchat.stopsignals import write_out

    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w", encoding="utf-8")
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert write_out(stream, "line one\n", stops)  # room enough: a signal is no reason to give up
        assert os.read(read_end, 100) == b"line one\n"
        # the write read the signal off the wake socket: it is still the loop's to answer
        assert stops.take() == [] and stops.unanswered == [signal.SIGHUP]
        stops.answered += 1  # (as the loop's goodbye does)
        _fill(write_end)
        os.kill(os.getpid(), signal.SIGTERM)
        assert not write_out(stream, "the last line\n", stops)  # given up, not blocked for ever
        assert write_out(stream, "later\n", stops)  # /dev/null now: nothing blocks
        assert os.fstat(write_end).st_ino == os.stat(os.devnull).st_ino
    finally:
        stream.close()
        os.close(read_end)


# ------------------------------------------------- the threads lanchat starts


def blocked_in_this_thread() -> set[int]:
    """The signals blocked in the calling thread, as the kernel has them (SigBlk, a hex mask)."""
    status = Path(f"/proc/self/task/{threading.get_native_id()}/status").read_text(encoding="ascii")
    mask = int(re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.MULTILINE).group(1), 16)  # type: ignore[union-attr]
    return {number for number in range(1, mask.bit_length() + 1) if mask >> (number - 1) & 1}


class Masks:
    """What each kind of thread found blocked in itself, by kind, as it ran."""

    def __init__(self) -> None:
        self.seen: dict[str, set[int]] = {}

    def note(self, kind: str) -> None:
        self.seen[kind] = blocked_in_this_thread()

    def wait_for(self, *kinds: str) -> None:
        wait_for(lambda: all(kind in self.seen for kind in kinds), what=f"{kinds} started")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="Linux's /proc")
def test_every_thread_lanchat_starts_has_the_stop_signals_blocked(monkeypatch):
    """The rejoin worker, the room watch, the announcement (started, then moved) and the name
    look-up, each as lanchat starts it, and a thread a library starts inside held_in_new_threads
    (zeroconf's): each finds the stop signals blocked in itself (its SigBlk), from its first
    instruction, and its starter's mask is as it was. A SIGTERM that landed in one of them after
    the main thread held them for good, as the interpreter shut down, ended the client with 143."""
    from lanchat import discovery
    from lanchat.client import Reconnect
    from lanchat.lookup import FOUND, look_up
    from lanchat.stopsignals import STOP_SIGNALS, held_in_new_threads

    masks = Masks()
    # the test's own thread takes them (a mask inherited from whoever started pytest would make
    # every thread hold them already, and prove nothing), as lanchat's main thread does
    held = signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    before = blocked_in_this_thread()
    assert not before & set(STOP_SIGNALS)

    reconnect = Reconnect(lambda: masks.note("rejoin"))
    reconnect._attempt(None)  # type: ignore[arg-type] - (the loop is only named there)

    def no_multicast(*_args: object) -> None:  # (the announcement's thread, then the move's, opens it)
        masks.note("moved" if "announced" in masks.seen else "announced")
        raise discovery.DiscoveryError("not in a test")

    monkeypatch.setattr(discovery, "_open_zeroconf", no_multicast)
    def watch_without_multicast(*_args: object) -> None:
        masks.note("watch")
        raise discovery.DiscoveryError("not in a test")

    monkeypatch.setattr(discovery, "_Listening", watch_without_multicast)
    watch = discovery.RoomWatch(address="127.0.0.1", port=1, fingerprint=None)
    watch.start()
    announcer = discovery.Announcer(room="lab", port=1, addresses=["127.0.0.1"], host="h", mode="chat")
    announcer.start()
    masks.wait_for("announced")
    announcer.move(["127.0.0.2"])  # a new lease: announced again from a new thread
    found = look_up("lab.example", 1, resolve=lambda *_a, **_k: masks.note("lookup") or [])
    assert found.outcome == FOUND
    with held_in_new_threads():
        started = threading.Thread(target=lambda: masks.note("library"), daemon=True)
        started.start()
    # the colour bot's thread, and the serve's address watch (the host's screen's server thread
    # starts as these do: stopsignals.start_thread in cli/serve.py's _run_host)
    from lanchat.bots import BotRunner
    from lanchat.cli.serve import _follow_addresses
    from lanchat.colourbot import ColourBot

    monkeypatch.setattr(BotRunner, "_run", lambda self: masks.note("bot"))
    bot_ends = socket.socketpair()
    bot = BotRunner(ColourBot(), bot_ends[0]).start()
    stopped = SimpleNamespace(wait=lambda _seconds: masks.note("addresses") or True)  # (then it ends)
    with socket.create_server(("0.0.0.0", 0)) as every_address:
        addresses = _follow_addresses(every_address, [], stopped)
    masks.wait_for("rejoin", "watch", "announced", "moved", "lookup", "library", "bot", "addresses")
    bot.thread.join(DEFAULT_TIMEOUT)
    addresses.join(DEFAULT_TIMEOUT)
    for end in bot_ends:
        end.close()
    try:
        for kind, blocked in dict(masks.seen).items():
            assert set(STOP_SIGNALS) <= blocked, f"{kind}'s thread can take a stop signal"
        assert blocked_in_this_thread() == before, "the starter's own mask changed"
    finally:
        watch.close()
        announcer.close()
        reconnect.close()
        started.join(DEFAULT_TIMEOUT)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
