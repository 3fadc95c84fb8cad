"""stopsignals.py: Ctrl-C, SIGTERM, SIGHUP and SIGQUIT in a client, noted for the loop. Handlers never cut the loop short.

A handler that raised KeyboardInterrupt could land anywhere: two different signals within
microseconds raised twice, and the second cut the goodbye short (the room read "lost
connection"). Here a signal only writes its number to a socketpair (signal.set_wakeup_fd, done
by the interpreter itself as the signal arrives), which the client loop watches in its selector:
the loop reads it in its own time and says goodbye once, whatever else comes meanwhile.

Where the client waits outside its loop (joining, a prompt asked while joining, "press any key")
it cannot watch that socket, so there, and only there (``interrupting``), the first signal
raises KeyboardInterrupt, once, as Ctrl-C always did. Writing to a reader that stopped reading
(``write_out``) gives up when someone insists on stopping. Every thread lanchat starts is born
with the stop signals blocked (``start_thread``, ``held_in_new_threads``), so they come to the
main thread only. Public APIs only: signal, select, os, threading.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

from .transport import wake_pair

# the signals that mean "leave": Ctrl-C, `kill`, a terminal window closed, and Ctrl-\ (SIGQUIT,
# one key from Enter on many keyboards), whose default ends the process on the spot: the full
# screen's alternate screen, mouse reports and bracketed paste were left to the shell
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# a write never larger than a pipe takes in one piece (POSIX PIPE_BUF is at least 512): once
# poll() says there is room, it does not block
WRITE_PIECE = 512


@contextlib.contextmanager
def held_in_new_threads() -> Iterator[None]:
    """Threads started inside this block (ours, and those a library starts, zeroconf's) are born
    with the stop signals blocked: a thread inherits its starter's mask, so none is ever without
    it, not even for its first instruction. A stop signal is the main thread's to take: one
    that landed in another thread after the main thread held them for good (the client's end,
    cli/terminal.py's hold_signals_for_good) met the default handlers Python puts back as it shuts down,
    and ended the client with 143. The starter's own mask is put back after (a stop signal that
    came meanwhile is delivered then). Off POSIX: nothing."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # (changes nothing: only reads it)
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def start_thread(thread_or_target: threading.Thread | Callable[[], object], name: str = "") -> threading.Thread:
    """Start a thread (a daemon running ``thread_or_target`` named ``name``, or a Thread made
    already) with the stop signals blocked in it (``held_in_new_threads``); the thread."""
    if isinstance(thread_or_target, threading.Thread):
        thread = thread_or_target
    else:
        thread = threading.Thread(target=thread_or_target, name=name, daemon=True)
    with held_in_new_threads():
        thread.start()
    return thread


class StopSignals:
    """The stop signals of one process: ``heard``, each read from the wake socket, in order, and
    how many were ``answered`` (acted on: the goodbye, a wait given up). More heard than answered
    means someone asked to stop and nothing has come of it yet. Whoever reads the socket (the
    loop, a write waiting for its reader) counts what it read here, so no signal is lost to the
    other."""

    def __init__(self) -> None:
        self._wake_read, self._wake_write = wake_pair()
        self.heard: list[int] = []
        self.answered = 0
        self.raising = False  # inside ``interrupting``: the next stop signal raises KeyboardInterrupt
        self._saved: dict[int, object] = {}
        self._saved_wakeup: int | None = None
        self._heard_pair: tuple[socket.socket, socket.socket] | None = None  # heard_fileno's

    def install(self) -> None:
        """Take the stop signals over (from the main thread). They stay ours to the end of the
        process: put back, a repeat of Ctrl-C would cut the exit short (a traceback)."""
        for signum in STOP_SIGNALS:
            self._saved[signum] = signal.signal(signum, self._caught)
        self._saved_wakeup = signal.set_wakeup_fd(self._wake_write.fileno(), warn_on_full_buffer=False)
        atexit.register(self._release_at_exit)

    def _release_at_exit(self) -> None:
        """At the process's exit no loop is left to wake: the wake socket is let go and closed
        (with warnings shown, ``python -W default``, the interpreter said 'ResourceWarning:
        unclosed socket' for it at every exit). The handlers stay ours (``install``); a signal
        from here on is only not written anywhere."""
        if self._saved_wakeup is None:
            return
        with contextlib.suppress(ValueError):  # (not the main thread: never, atexit runs there)
            signal.set_wakeup_fd(-1)
        self._saved_wakeup = None
        for end in (self._wake_read, self._wake_write, *(self._heard_pair or ())):
            end.close()

    def uninstall(self) -> None:
        """Give the signals back as they were (for a test that runs a client in its own process)."""
        atexit.unregister(self._release_at_exit)
        if self._saved_wakeup is not None:
            signal.set_wakeup_fd(self._saved_wakeup)
            self._saved_wakeup = None
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._saved.clear()
        self._wake_read.close()
        self._wake_write.close()
        for end in self._heard_pair or ():
            end.close()

    def _caught(self, signum: int, frame: object) -> None:
        # The wake socket already has the signal's number (the interpreter wrote it before
        # calling this). Raise only where a wait outside the loop asked for it, and once.
        if self.raising:
            self.raising = False
            self.answered += 1
            raise KeyboardInterrupt

    def fileno(self) -> int:
        """Readable when a signal came: for the loop's selector."""
        return self._wake_read.fileno()

    def take(self) -> list[int]:
        """The stop signals that came since the last call, read from the wake socket (other
        signals with a Python handler, such as a resize, write there too: left out)."""
        came: list[int] = []
        while True:
            try:
                data = self._wake_read.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            came += [number for number in data if number in STOP_SIGNALS]
        first = came and not self.heard
        self.heard += came
        if first and self._heard_pair is not None:  # (after: a watcher woken by it finds it heard)
            with contextlib.suppress(OSError):
                self._heard_pair[1].send(b"!")
        return came

    def came(self) -> bool:
        """Has a stop signal come, read already or still waiting in the wake socket? Only peeks,
        so another thread may ask (ui/stall.py: a terminal that stopped reading blocks the loop)."""
        if self.heard:
            return True
        try:
            waiting = self._wake_read.recv(4096, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:  # closed (uninstall)
            return False
        return any(number in STOP_SIGNALS for number in waiting)

    def heard_fileno(self) -> int:
        """Readable for good once a stop signal was read (``take``): with ``fileno``, what a thread
        that only watches (ui/stall.py) sleeps on, as a signal the loop read first left nothing
        in the wake socket to wake it. Made on the first call (from the main thread)."""
        if self._heard_pair is None:
            self._heard_pair = wake_pair()
            if self.heard:
                self._heard_pair[1].send(b"!")
        return self._heard_pair[0].fileno()

    @property
    def insisting(self) -> bool:
        """A stop signal came that nothing has answered yet (call ``take`` first)."""
        return len(self.heard) > self.answered

    @property
    def unanswered(self) -> list[int]:
        return self.heard[self.answered :]

    @contextlib.contextmanager
    def interrupting(self) -> Iterator[None]:
        """Around a wait the loop cannot watch: a stop signal now, or one already heard and not
        answered, raises KeyboardInterrupt (once), as Ctrl-C does at any prompt."""
        self.raising = True
        try:
            self.take()
            if self.insisting and self.raising:
                self.raising = False
                self.answered = len(self.heard)
                raise KeyboardInterrupt
            yield
        finally:
            self.raising = False


def write_out(stream: TextIO, text: str, stops: StopSignals | None) -> bool:
    """Write ``text`` to ``stream`` (stdout, stderr) and flush it, waiting while its reader is slow,
    but not once someone insists on stopping: then it is given up, the stream is pointed at
    /dev/null so nothing written later blocks either (Python's own flush at exit included), and
    False is returned. A blocking write could not be cut short but by a KeyboardInterrupt,
    which is what must never land in the middle of a goodbye. OSError (a reader gone) is raised."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both: a StringIO
        fd = -1
    if stops is None or fd < 0 or not hasattr(select, "poll"):
        stream.write(text)
        stream.flush()
        return True
    stream.flush()  # what was written through the stream before goes first (normally nothing)
    data = memoryview(text.encode(getattr(stream, "encoding", None) or "utf-8", "replace"))
    poller = select.poll()  # one for the whole write, however many pieces
    poller.register(fd, select.POLLOUT)
    poller.register(stops.fileno(), select.POLLIN)
    while data:
        if not _room_to_write(poller, fd, stops):
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
            return False
        try:
            written = os.write(fd, data[:WRITE_PIECE])
        except BlockingIOError:  # a descriptor someone made non-blocking: wait again
            continue
        data = data[written:]
    return True


def _room_to_write(poller: select.poll, fd: int, stops: StopSignals) -> bool:
    """Wait until ``fd`` can take a piece; False (at once) when a stop signal is unanswered.
    ``poller`` watches ``fd`` and the wake socket, which is read only when a signal came."""
    while True:
        ready = dict(poller.poll(0 if stops.insisting else None))
        if ready.get(stops.fileno(), 0):
            stops.take()  # (counted there: still the loop's to answer)
        if ready.get(fd, 0):  # room, or an error (POLLERR, POLLHUP) that the write will raise
            return True
        if stops.insisting:
            return False
