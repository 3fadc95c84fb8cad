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
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import ROOT, Proc, RawClient, child_env, same_person, wait_for

from lanchat import events as ev
from lanchat.transport import Endpoint

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/PID/wchan to see a blocked write")


class StallingTerm:
    """A lanchat process in a pseudo-terminal whose reader can stop reading (``stall``) and
    read again (``resume``); ``raw`` keeps what it read."""

    def __init__(self, *args: str, rows: int = 24, cols: int = 80) -> None:
        from ptyprocess import PtyProcess

        env = child_env(TERM="screen-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8")
        env.pop("LINES", None)
        self.proc = PtyProcess.spawn([sys.executable, "-m", "lanchat", *same_person(args)], env=env, cwd=str(ROOT), dimensions=(rows, cols))
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
    """The process's main thread sleeps in its loop's wait: it did what it had to do."""
    return _wchan(pid) in ("do_epoll_wait", "do_select", "do_sys_poll")


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

