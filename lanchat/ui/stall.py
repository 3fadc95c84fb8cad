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
keeps every byte. Public APIs only: threading, termios, select, signal.
"""

from __future__ import annotations

import contextlib
import select
import signal
import threading
import time
from collections.abc import Callable

CHECK_SECONDS = 0.1
STALLED_SECONDS = 0.5  # no room in the terminal this long after a stop signal: stalled
# The signal that interrupts a write blocked in the main thread. Its default is to be ignored
# (and an ignored signal wakes nothing), so a handler doing nothing is installed for it; nothing
# in lanchat uses it otherwise (it means out-of-band data on a socket that asked for it: none does).
POKE = getattr(signal, "SIGURG", None)


def _nothing(signum: int, frame: object) -> None:
    """POKE's handler: the write it interrupted is retried, now into the room the flush made."""


class StallWatcher:
    """Watches ``fd`` (the terminal the screen writes to) once ``stopping()`` is true; see the
    module's docstring. ``start`` from the main thread (it installs POKE's handler)."""

    def __init__(self, fd: int, stopping: Callable[[], bool]) -> None:
        self.fd = fd
        self.stopping = stopping
        self.flushes = 0  # how many times the queue was thrown away (for tests and the curious)
        self._main = threading.main_thread().ident
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    def start(self) -> bool:
        """Start watching; False where it cannot be done (no termios, no POKE, not the main thread)."""
        if POKE is None or not hasattr(select, "poll") or not hasattr(signal, "pthread_kill"):
            return False
        try:
            import termios  # noqa: F401 - POSIX only: there, or nothing to do
        except ImportError:
            return False
        try:
            signal.signal(POKE, _nothing)
        except (ValueError, OSError):  # not the main thread
            return False
        self._thread = threading.Thread(target=self._watch, name="lanchat-stall-watcher", daemon=True)
        self._thread.start()
        return True

    def _watch(self) -> None:
        # Signals are the main thread's: one sent to the process while the main thread holds the
        # stop signals blocked (the end of the chat: __main__._hold_signals_for_good) would else
        # come here, and at the interpreter's end, its handlers reset, kill the process.
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        stalled_since: float | None = None
        while not self._done.wait(CHECK_SECONDS):  # a watchdog's tick: nothing to wake it sooner
            try:
                if not self.stopping() or poller.poll(0):  # room (or an error, which the write will meet)
                    stalled_since = None
                    continue
            except (OSError, ValueError):
                return  # the terminal (or the stop signals' socket) is gone: nothing left to unblock
            now = time.monotonic()
            stalled_since = now if stalled_since is None else stalled_since
            if now - stalled_since >= STALLED_SECONDS:
                self.unblock()

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
        """Stop watching (the process's end stops it too: a daemon thread)."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def unblock(self) -> None:
        """Throw away what waits for the terminal, and wake the main thread's blocked write."""
        import termios

        with contextlib.suppress(OSError, termios.error):
            termios.tcflush(self.fd, termios.TCOFLUSH)
            self.flushes += 1
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            signal.pthread_kill(self._main, POKE)  # type: ignore[arg-type]

