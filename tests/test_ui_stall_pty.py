"""The full screen on a terminal that stopped reading (a stalled ssh link, a frozen window).

Real programs in a real pseudo-terminal whose reader stops: once the terminal's buffer is full,
every write to it blocks. The room must not freeze with the host's screen, and a SIGTERM must
still end the client promptly, the terminal's modes put back (ui/stall.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import DEFAULT_TIMEOUT, ROOT, Proc, RawClient, child_env, same_person, wait_for

from lanchat import events as ev
from lanchat.transport import Endpoint

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/PID/wchan to see a blocked write")


class StallingTerm:
    """A lanchat process in a pseudo-terminal whose reader can stop reading (``stall``) and
    read again (``resume``); ``raw`` keeps what it read."""

    def __init__(self, *args: str, rows: int = 24, cols: int = 80, argv: list[str] | None = None) -> None:
        from ptyprocess import PtyProcess

        env = child_env(TERM="screen-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        env.pop("LINES", None)
        argv = argv or [sys.executable, "-m", "lanchat", *same_person(args)]
        self.proc = PtyProcess.spawn(argv, env=env, cwd=str(ROOT), dimensions=(rows, cols))
        self.raw = bytearray()
        self.reading = threading.Event()
        self.reading.set()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            self.reading.wait()
            if not select.select([self.proc.fd], [], [], 0.05)[0]:
                if not self.proc.isalive():
                    return
                continue
            try:
                data = os.read(self.proc.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.raw += data

    def text(self) -> str:
        with self._lock:
            return bytes(self.raw).decode("utf-8", "replace")

    def stall_until_blocked(self) -> None:
        """Stop reading and redraw the screen (a resize each time) until its writes block."""
        self.reading.clear()
        rows, cols = self.proc.getwinsize()
        deadline = time.monotonic() + 10
        flip = 0
        while not blocked_writing(self.proc.pid):
            assert time.monotonic() < deadline, "the screen's writes never blocked"
            flip ^= 1
            self.proc.setwinsize(rows, cols - flip)  # a full redraw each
            wait_for(lambda: blocked_writing(self.proc.pid) or waiting(self.proc.pid), timeout=2, what="the redraw")

    def resume(self) -> None:
        self.reading.set()

    def stop(self) -> None:
        self.resume()
        for sig in (signal.SIGHUP, signal.SIGKILL):
            if self.proc.isalive():
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill(sig)
                with contextlib.suppress(AssertionError):
                    wait_for(lambda: not self.proc.isalive(), timeout=3, what="the process to end")
        self._reader.join(5)
        self.proc.delayafterclose = 0
        with contextlib.suppress(OSError):
            self.proc.close(force=True)


def _wchan(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return ""


def blocked_writing(pid: int) -> bool:
    """The process's main thread sleeps in a terminal write (n_tty_write waits in wait_woken)."""
    return _wchan(pid) in ("wait_woken", "n_tty_write")


def waiting(pid: int) -> bool:
    """The process's main thread sleeps in a wait (its loop's, or one for the terminal's room)."""
    return _wchan(pid).startswith(("do_epoll_wait", "do_select", "do_sys_poll", "poll_schedule_timeout"))


@pytest.fixture
def stalling():
    started: list[StallingTerm | Proc] = []
    yield started
    for proc in started:
        proc.stop()
    for client in RawClient._open[:]:
        with contextlib.suppress(OSError):
            client.close()


def _wchan_readable(pid: int) -> None:
    """Skip where the kernel does not say where a sleeping process (``pid``) sleeps."""
    if _wchan(pid) in ("", "0") and wait_for(lambda: _wchan(pid) not in ("", "0") or "no", timeout=2) == "no":
        pytest.skip("/proc/PID/wchan does not say where a process sleeps here")


def test_a_hosts_terminal_that_stopped_reading_does_not_freeze_the_room(stalling):
    """The room's server runs in the host's process: while the host's screen was blocked
    writing (curses' doupdate holds the interpreter's lock), no student's line went anywhere."""
    ann = StallingTerm("serve", "--port", "0", "--host", "127.0.0.1", "--name", "ann", "--no-history")
    stalling.append(ann)
    port = int(wait_for(lambda: re.search(r"listening on port (\d+)", ann.text()), what="the port").group(1))  # type: ignore[union-attr]
    wait_for(lambda: "ann │ host" in ann.text(), what="the host's screen")
    _wchan_readable(ann.proc.pid)
    endpoint = Endpoint(host="127.0.0.1", port=port)
    bob, cy = RawClient(endpoint, "bob"), RawClient(endpoint, "cy")
    ann.stall_until_blocked()
    bob.send(ev.Say(text="is anyone there?"))
    cy.expect(ev.Message, timeout=5, text="is anyone there?")
    assert blocked_writing(ann.proc.pid)  # still: the host's screen waits, the room goes on


def test_sigterm_ends_a_full_screen_whose_terminal_stopped_reading(stalling):
    """`kill` of a client whose terminal stopped reading: it used to wait, blocked in a write,
    until the terminal read again (forever, for a dead ssh link). It ends within a second or
    two, says goodbye to the room (a leave, not a lost connection), and once the terminal reads
    again the modes are put back: alternate screen left, bracketed paste and the mouse off."""
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history")
    stalling.append(server)
    port = server.expect(r"listening on port (\d+)").group(1)
    bob = StallingTerm("connect", "127.0.0.1", port, "--name", "bob")
    stalling.append(bob)
    wait_for(lambda: "bob │ client" in bob.text(), what="bob's screen")
    _wchan_readable(bob.proc.pid)
    cy = RawClient(Endpoint(host="127.0.0.1", port=int(port)), "cy")
    bob.stall_until_blocked()
    bob.proc.kill(signal.SIGTERM)
    # about 0.7 s (the watcher waits 0.5 s); before, never while stalled: a loaded machine's budget
    wait_for(lambda: not bob.proc.isalive(), timeout=DEFAULT_TIMEOUT, what="bob's client to end while its terminal is stalled")
    left = cy.expect(ev.Left, timeout=5, name="bob")
    assert left.reason == "quit"  # type: ignore[attr-defined]
    bob.resume()
    wait_for(lambda: "you left the chat" in bob.text(), what="the last line")
    tail = bob.raw[bob.raw.rfind(b"\x1b[?1049h") :]
    for restore in (b"\x1b[?1049l", b"\x1b[?2004l", b"\x1b[?1000l"):
        assert restore in tail, restore
    assert "Traceback" not in bob.text()


def _fill(fd: int) -> int:
    """Write to ``fd`` (made non-blocking meanwhile) until it takes no more; how much it took."""
    os.set_blocking(fd, False)
    written = 0
    while select.select([], [fd], [], 0.2)[1]:  # the kernel moves bytes on to the reader's side a moment later
        with contextlib.suppress(BlockingIOError):
            while True:
                written += os.write(fd, b"x" * 512)
    os.set_blocking(fd, True)
    return written


def _drain(fd: int) -> int:
    read = 0
    while select.select([fd], [], [], 0.2)[0]:
        try:
            read += len(os.read(fd, 65536))
        except OSError:
            break
    return read


def _wakes(thread: threading.Thread) -> int:
    """How many times ``thread`` (of this process) has gone to sleep and woken since it began."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    return int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", status, re.MULTILINE).group(1))  # type: ignore[union-attr]


def test_the_watcher_sleeps_and_throws_output_away_only_after_a_stop_signal(stops):
    """Without a stop signal a terminal that stops reading (Scroll Lock, a slow link) keeps every
    byte, however long it waits, and the watcher sleeps (it ticked 10 times a second, an idle
    screen's only wake-ups); after one, what waits is thrown away within a second."""
    from lanchat.ui import stall

    master, slave = os.openpty()
    watcher = stall.StallWatcher(slave, stops)
    try:
        assert watcher.start()
        written = _fill(slave)
        os.kill(os.getpid(), stall.POKE)  # a signal that is no stop (its number goes there too): not one
        stops.take()
        assert watcher._thread is not None  # noqa: SLF001 - its wake-ups are the point
        wait_for(lambda: _wchan_of(watcher._thread.native_id).startswith(("do_sys_poll", "poll_schedule_timeout")), what="the watcher asleep")  # type: ignore[union-attr]  # noqa: SLF001
        woke = _wakes(watcher._thread)  # noqa: SLF001
        deadline = time.monotonic() + 3 * stall.STALLED_SECONDS
        while time.monotonic() < deadline:  # a stall far longer than the watcher waits: nothing goes
            assert watcher.flushes == 0
            time.sleep(stall.CHECK_SECONDS)
        assert _wakes(watcher._thread) - woke <= 1  # noqa: SLF001 - (it was 15 in these 1.5 s)
        assert _drain(master) == written
        written = _fill(slave)
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for(lambda: watcher.flushes, timeout=3, what="the flush")
        assert _drain(master) < written
    finally:
        watcher.stop()
        os.close(master)
        os.close(slave)


class _ReadFirst:
    """Stop signals whose loop read the stop signal before the watcher woke: nothing waits in
    the wake socket, only ``heard_fileno`` says so."""

    def __init__(self) -> None:
        self.wake_read, self.wake_write = socket.socketpair()
        self.heard_read, self.heard_write = socket.socketpair()
        self.heard = False

    def came(self) -> bool:
        return self.heard

    def fileno(self) -> int:
        return self.wake_read.fileno()

    def heard_fileno(self) -> int:
        return self.heard_read.fileno()

    def read_one(self) -> None:
        self.heard = True
        self.heard_write.send(b"!")

    def close(self) -> None:
        for end in (self.wake_read, self.wake_write, self.heard_read, self.heard_write):
            end.close()


def test_a_stop_signal_the_loop_read_first_still_wakes_the_watcher():
    """The loop read the signal from the wake socket before the watcher, asleep on it, woke (a
    busy machine): then blocked writing to the stalled terminal. The watcher must still wake."""
    from lanchat.ui import stall

    master, slave = os.openpty()
    signals = _ReadFirst()
    watcher = stall.StallWatcher(slave, signals)
    try:
        assert watcher.start()
        written = _fill(slave)
        signals.read_one()
        wait_for(lambda: watcher.flushes, timeout=3, what="the flush")
        assert _drain(master) < written
    finally:
        watcher.stop()
        signals.close()
        os.close(master)
        os.close(slave)


def _wchan_of(tid: int) -> str:
    try:
        return Path(f"/proc/self/task/{tid}/wchan").read_text()
    except OSError:
        return ""


# The full screen alone, its terminal filled up to the brim (its reader stopped), then a beep
# (a direct message's alert): a thread beats meanwhile, counting into a file, as the host's
# server thread would go on serving the room. Told through the FIFO when the reader has stopped.
BEEP_ON_A_FULL_TERMINAL = """
import contextlib, os, select, sys, threading, time
from lanchat.session import Session
from lanchat.ui.screen import CursesFrontend

screen = CursesFrontend(Session(name="bob"))
screen.update()
with open(sys.argv[1]) as fifo:
    fifo.read()
fd = screen.out_fd
os.set_blocking(fd, False)
while select.select([], [fd], [], 0.2)[1]:  # the kernel moves bytes on to the reader's side a moment later
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(fd, b"x" * 512)
os.set_blocking(fd, True)

def beat():
    count = 0
    while True:
        count += 1
        with open(sys.argv[2], "w") as out:
            out.write(str(count))
        time.sleep(0.02)

threading.Thread(target=beat, daemon=True).start()
screen.alert = True
screen.update()
"""


def test_a_beep_on_a_terminal_that_stopped_reading_lets_the_other_threads_go_on(stalling, tmp_path):
    """curses.beep writes holding the interpreter's lock: on a terminal that stopped reading it
    blocked there, and the host's room (its server a thread of the host's process) froze, the
    stall watcher too. The screen waits for the terminal's room first, the lock let go."""
    fifo, beats = tmp_path / "go", tmp_path / "beats"
    os.mkfifo(fifo)
    bob = StallingTerm(argv=[sys.executable, "-c", BEEP_ON_A_FULL_TERMINAL, str(fifo), str(beats)])
    stalling.append(bob)
    wait_for(lambda: "lanchat: bob" in bob.text(), what="the screen drawn (its title set last)")
    bob.reading.clear()
    with open(fifo, "w") as go:
        go.write("go")
    wait_for(beats.exists, what="the beats")
    wait_for(lambda: blocked_writing(bob.proc.pid) or _wchan(bob.proc.pid).startswith("poll_schedule_timeout"), what="the beep's wait")
    now = int(beats.read_text() or 0)
    wait_for(lambda: int(beats.read_text() or 0) > now + 5, timeout=3, what="the thread to go on beating")
