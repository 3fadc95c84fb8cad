"""stall.py: the way out of the full screen never waits on a terminal that stopped reading.

A terminal whose reader stopped (an ssh link that stalled, a terminal window frozen) takes a few
KB and then blocks every write to it. curses writes a frame in C, retrying each interrupted write
itself, so the Python handler of a SIGTERM never ran: `kill` was ignored until the terminal read
again, maybe never. Once a stop signal came (Ctrl-C, SIGTERM, SIGHUP: stopsignals.py) and the
terminal has not taken a byte for ``STALLED_SECONDS``, a watcher thread throws away what waits
in its output queue (tcflush: nobody was reading it) and wakes the blocked write with a signal of
no meaning (``POKE``), so the frame's write ends, the loop says goodbye, the screen puts the
terminal back (its modes; the bytes that leave the alternate screen come after the flush and wait
for the reader) and the process ends. It keeps doing so, each ``CHECK_SECONDS``, until the
process ends: the last line written after the screen is gone is not stuck either.
Without a stop signal nothing is thrown away: a terminal paused by its reader (Scroll Lock)
keeps every byte. Until a signal comes the watcher sleeps on the stop signals' socket (each
signal's number is written there): an idle screen is not woken for nothing. Public APIs only:
threading, termios, select, signal, os.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from typing import Protocol

CHECK_SECONDS = 0.1
STALLED_SECONDS = 0.5  # no room in the terminal this long after a stop signal: stalled
# The signal that interrupts a write blocked in the main thread. Its default is to be ignored
# (and an ignored signal wakes nothing), so a handler doing nothing is installed for it; nothing
# in lanchat uses it otherwise (it means out-of-band data on a socket that asked for it: none does).
POKE = getattr(signal, "SIGURG", None)


def _nothing(signum: int, frame: object) -> None:
    """POKE's handler: the write it interrupted is retried, now into the room the flush made."""


class Signals(Protocol):
    """What the watcher asks of the stop signals (stopsignals.StopSignals)."""

    def came(self) -> bool:
        """Has a stop signal come (safe from another thread)?"""

    def fileno(self) -> int:
        """Readable when a signal came (its number waits there until the loop reads it)."""

    def heard_fileno(self) -> int:
        """Readable for good once the loop read a stop signal."""


class StallWatcher:
    """Watches ``fd`` (the terminal the screen writes to) once a stop signal came (``signals``);
    see the module's docstring. ``start`` from the main thread (it installs POKE's handler)."""

    def __init__(self, fd: int, signals: Signals) -> None:
        self.fd = fd
        self.signals = signals
        self.flushes = 0  # how many times the queue was thrown away (for tests and the curious)
        self._main = threading.main_thread().ident
        self._thread: threading.Thread | None = None
        self._quit: tuple[int, int] | None = None  # a pipe, readable once stop() was called
        self._woken_by: tuple[int, ...] = ()  # what ends the watcher's sleep (start)
        self._old_poke: object = None

    def start(self) -> bool:
        """Start watching; False where it cannot be done (no termios, no POKE, not the main thread)."""
        if POKE is None or not hasattr(select, "poll") or not hasattr(signal, "pthread_kill"):
            return False
        try:
            import termios  # noqa: F401 - POSIX only: there, or nothing to do
        except ImportError:
            return False
        try:
            signals = (self.signals.fileno(), self.signals.heard_fileno())  # (the latter from the main thread, as take())
            self._old_poke = signal.signal(POKE, _nothing)
        except (ValueError, OSError):  # not the main thread; the stop signals closed
            return False
        self._quit = os.pipe()
        self._woken_by = (self._quit[0], *signals)
        self._thread = threading.Thread(target=self._watch, name="lanchat-stall-watcher", daemon=True)
        self._thread.start()
        return True

    def _watch(self) -> None:
        # Signals are the main thread's: one sent to the process while the main thread holds the
        # stop signals blocked (the end of the chat: cli/terminal.py's hold_signals_for_good) would else
        # come here, and at the interpreter's end, its handlers reset, kill the process.
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        room = select.poll()
        room.register(self.fd, select.POLLOUT)
        assert self._quit is not None  # (start made it)
        quit_asked = select.poll()
        quit_asked.register(self._quit[0], select.POLLIN)
        a_signal = select.poll()  # a signal's number in the stop signals' socket, one the loop read, or stop()
        stalled_since: float | None = None
        try:
            for fd in self._woken_by:
                a_signal.register(fd, select.POLLIN)
            while True:
                if not self.signals.came():
                    # Asleep until a signal comes (ticking woke an idle screen 10 times a second),
                    # then a tick's rest and a look again: the loop may be reading it (heard only
                    # once read), and one that is no stop (a resize) waits there until the loop reads it.
                    stalled_since = None
                    if any(events & select.POLLNVAL for _fd, events in a_signal.poll()):
                        return  # the stop signals' socket is closed: none can come now
                elif room.poll(0):  # room (or an error, which the write will meet)
                    stalled_since = None
                else:
                    now = time.monotonic()
                    stalled_since = now if stalled_since is None else stalled_since
                    if now - stalled_since >= STALLED_SECONDS:
                        self.unblock()
                if quit_asked.poll(int(CHECK_SECONDS * 1000)):  # a watchdog's tick
                    return
        except (OSError, ValueError):
            return  # the terminal (or the stop signals' socket) is gone: nothing left to unblock

    def wait_for_room(self, seconds: float = 2 * STALLED_SECONDS + CHECK_SECONDS) -> None:
        """Wait (the interpreter's lock let go) until the terminal takes bytes, for at most
        ``seconds``: curses' endwin and mousemask write holding the lock, so a write of theirs
        that blocked would keep the watcher from ever unblocking it. After a stop signal the
        watcher makes room within ``STALLED_SECONDS``."""
        if self._thread is None:
            return
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        with contextlib.suppress(OSError, ValueError):
            poller.poll(int(seconds * 1000))

    def stop(self) -> None:
        """Stop watching, POKE's handler put back (the process's end stops it too: a daemon
        thread, left to watch the last line written after the screen is gone)."""
        if self._thread is None or self._quit is None:
            return
        os.write(self._quit[1], b"q")
        self._thread.join()
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(POKE, self._old_poke)  # type: ignore[arg-type]
        for fd in self._quit:
            os.close(fd)
        self._thread = self._quit = None

    def unblock(self) -> None:
        """Throw away what waits for the terminal, and wake the main thread's blocked write."""
        import termios

        with contextlib.suppress(OSError, termios.error):
            termios.tcflush(self.fd, termios.TCOFLUSH)
            self.flushes += 1
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            signal.pthread_kill(self._main, POKE)  # type: ignore[arg-type]

