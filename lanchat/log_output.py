"""log_output.py: serve's banner and a headless server's log, on stdout. An I/O edge: a log that cannot be written never ends the room.

`serve --headless > server.log` on a disk that fills up: the room goes on, the lines the disk
refused are counted, and where the output takes lines again one says how many are missing there,
``[12:00:01] ! 3 lines could not be written here (no space left on device)``, as ``connect
--plain`` does (ui/plain.py). A reader gone (`serve --headless | grep ...` ended) or a terminal
hung up does not come back: from then on the output goes to /dev/null (Python's own flush at
exit included), said once on stderr.

Lines are written with ``os.write``, not through Python's buffer: a buffered write the disk
refused stays in that buffer and would come out later, unannounced, in the middle of the log.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

DAY_LINE = "-- %A %Y-%m-%d --"  # a headless log's day line (time.strftime): -- Monday 2026-12-07 --

# What a disk says while it is full, or a quota reached: lines are taken again once there is room.
FILLS_UP = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class LogOutput:
    """The log's output (``out``; None: sys.stdout as it is when a line is written), with what
    it missed: ``lost`` lines, and whether the last line written was ``cut`` short."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out
        self.err = err
        self.lost = 0
        self.cut = False  # the output ends inside a line the disk cut: the next write ends it first
        self.why = ""
        self.lock = threading.Lock()  # the server's loop, the address watcher and the bot all log
        self.day = ""  # the day line last written (write_dated)

    def write(self, text: str) -> None:
        """``text`` and a newline, after the line that marks a gap if lines were missed."""
        with self.lock:
            self._write(text)

    def write_dated(self, make: Callable[[time.struct_time], str], *, day_after: bool = False) -> None:
        """``make(now)`` (a line stamped with ``now``), after the day line (DAY_LINE) when ``now``
        is on another day than the one last named; ``day_after``: the day line after it (serve's
        banner, so that the log's first line is the day's). The clock is read and the day compared
        under the lock: two threads logging at midnight named the new day twice."""
        with self.lock:
            now = time.localtime()
            text = make(now)
            day = time.strftime(DAY_LINE, now)
            if day != self.day:
                self.day = day
                text = f"{text}\n{day}" if day_after else f"{day}\n{text}"
            self._write(text)

    def _write(self, text: str) -> None:
        out = self.out or sys.stdout
        prefix = "\n" if self.cut else ""
        if self.lost:
            count = f"{self.lost} line{'s' if self.lost != 1 else ''}"
            prefix += f"[{time.strftime('%H:%M:%S')}] ! {count} could not be written here ({self.why})\n"
        encoding = getattr(out, "encoding", None) or "utf-8"
        head, data = len(prefix.encode(encoding, "replace")), (prefix + text + "\n").encode(encoding, "replace")
        written = 0
        try:
            try:
                fd = out.fileno()
            except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both: a StringIO
                out.write(prefix + text + "\n")
                out.flush()
                written = len(data)
            else:
                out.flush()  # what was printed through the stream before goes first (normally nothing)
                while written < len(data):
                    written += os.write(fd, data[written:])
        except OSError as exc:
            if exc.errno in FILLS_UP:
                self._refused(exc, data, written, head)
            else:
                self._gone(exc, out)
            return
        self.lost, self.cut = 0, False

    def _refused(self, exc: OSError, data: bytes, written: int, head: int) -> None:
        """The disk took ``written`` bytes of ``data`` (its first ``head`` the gap's own): the
        lines not whole in the file are counted; said on stderr as a run of failures starts."""
        if not self.lost and not self.cut:
            self.why = (exc.strerror or str(exc)).lower()
            self._say(f"lanchat: the log's output cannot be written ({self.why}); the room goes on, and the log "
                      "says how many lines it missed once it can be written again")  # fmt: skip
        self.lost = (self.lost if written < head else 0) + data[max(written, head) :].count(b"\n")
        if written:
            self.cut = data[written - 1 : written] != b"\n"

    def _gone(self, exc: OSError, out: TextIO) -> None:
        """Nobody reads the log any more: what is written from now on goes nowhere."""
        with contextlib.suppress(OSError, ValueError):
            fd = out.fileno()  # first: a stream closed (ValueError) opens nothing
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, fd)
            finally:
                if null != fd:  # (the same number: fd was closed under us, and /dev/null took it)
                    os.close(null)  # the output's own descriptor is /dev/null now: this one is not needed (it leaked)
        self.lost, self.cut = 0, False
        # a reader gone (a pipe) is "closed"; a terminal hung up (EIO) "cannot be written"
        why = "was closed" if isinstance(exc, BrokenPipeError) else f"cannot be written ({(exc.strerror or str(exc)).lower()})"
        self._say(f"lanchat: the log's output {why}; the room goes on without a log")

    def _say(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            print(line, file=self.err or sys.stderr, flush=True)


LOG = LogOutput()  # serve's stdout
