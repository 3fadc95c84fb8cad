"""plain.py: the line-mode front end (``--plain``, or whenever stdin/stdout is not a terminal).

Each line read from stdin is what the user typed; each message or notice is printed as one
line, flushed at once, with a timestamp, the sender and the text, so scripts can drive it.
Everything a peer sent passes through textsafe.visible() first.
"""

from __future__ import annotations

import codecs
import os
import sys
import time
from typing import TextIO

from .. import events as ev
from ..session import Line, Session, UiCommand
from ..textsafe import visible

MARKS = {"notice": "*", "error": "!", "system": "*"}
# A line still without its newline is kept up to this many characters (a paste of any sensible
# size is then refused with its exact length: events.MAX_TEXT_CHARS); past it the line is dropped
# up to its newline, with a notice, so a script piping gigabytes without a newline cannot fill
# the client's memory.
MAX_LINE_CHARS = 1_000_000


def clock_text(when: float) -> str:
    try:
        return time.strftime("%H:%M:%S", time.localtime(when))
    except (OverflowError, OSError, ValueError):  # a peer's absurd time stamp (events.py refuses them)
        return "--:--:--"


def format_plain(line: Line) -> str:
    """One transcript line as plain text: ``[12:00:01] ann: hello``."""
    stamp = f"[{clock_text(line.time)}]"
    prefix = "[History] " if line.kind == "history" else ""
    if line.kind in MARKS:
        return f"{stamp} {MARKS[line.kind]} {visible(line.text)}"
    sender = visible(line.sender or "?")
    if line.kind == "direct" or (line.kind == "history" and line.to):  # a replayed DM keeps both names
        return f"{stamp} {prefix}{sender} -> {visible(line.to or '?')} (direct): {visible(line.text)}"
    return f"{stamp} {prefix}{sender}: {visible(line.text)}"


class PlainFrontend:
    """Reads stdin without blocking the loop; writes one flushed line per transcript line."""

    def __init__(self, session: Session, stdin_fd: int | None = None, stdout: TextIO | None = None) -> None:
        self.session = session
        self.fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
        self.out = stdout or sys.stdout
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._skipping = False  # dropping the rest of an over-long line, up to its newline
        self.ended = False

    def fileno(self) -> int:
        return self.fd

    def read_input(self) -> list[str] | None:
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        if not data:
            self.ended = True
            rest = self._partial + self._decoder.decode(b"", final=True)
            self._partial = ""
            if rest.strip() and not self._skipping:
                return [rest.rstrip("\r")]  # a last line without a newline still counts
            return None
        text = self._partial + self._decoder.decode(data)
        *complete, self._partial = text.split("\n")
        if self._skipping and complete:
            complete.pop(0)  # the end of the over-long line
            self._skipping = False
        if self._skipping:
            self._partial = ""
        elif len(self._partial) > MAX_LINE_CHARS:
            self._partial = ""
            self._skipping = True
            limit = f"{ev.MAX_TEXT_CHARS:,}"
            self.show(
                [
                    Line(
                        kind="error",
                        time=time.time(),
                        text=f"a line of over {MAX_LINE_CHARS:,} characters was not sent (a message holds at most {limit})",
                    )
                ]
            )
        return [line.rstrip("\r") for line in complete]

    def show(self, lines: list[Line]) -> None:
        try:
            self.out.write("".join(format_plain(line) + "\n" for line in lines))
            self.out.flush()
        except (BrokenPipeError, ValueError):
            pass  # nobody is reading our output any more; keep chatting regardless

    def update(self) -> None:
        pass

    def run_ui_command(self, command: UiCommand) -> list[Line]:
        return []

    def print(self, text: str) -> None:
        """A line about the program itself (start-up, exit), not from the chat."""
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):
            pass
