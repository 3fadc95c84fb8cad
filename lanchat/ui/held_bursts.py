"""held_bursts.py: --plain at a terminal says a burst of joins or leaves as one line. Pure: the
clock is passed in, the printing is the caller's (``show``); no terminal, no I/O.

A class of 30 coming in was 30 lines in --plain, and a blind student's screen reader spoke each
in full ("kid0 joined (4 here)", "kid1 joined (5 here)", ...) while the teacher began. A printed
line cannot change as the full screen's does (fold.py), so a join or a leave is held, and what
continues its burst folds into it, until the burst has been quiet for QUIET_SECONDS (or held
HELD_AT_MOST_SECONDS): then it is printed once, "26 joined: ann, bob, cat and 23 more (27 here)",
with the names that fit the terminal's row (``/who`` lists them all). Any other line prints what
is held first, so the order stays. A script's pipe is not held (``enabled`` False): it reads one
line a join, as it always did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from ..session import Line
from ..textfold import cells
from ..wording import NOTICE_MARK
from .fold import fold, shown_text, starts_burst

QUIET_SECONDS = 2.0  # a burst printed once no join or leave has continued it for this long
HELD_AT_MOST_SECONDS = 10.0  # and one that keeps going (a class trickling in) every this often
STAMP = f"[00:00:00] {NOTICE_MARK} "  # what --plain prints before a notice's text (plain._plain_head)


class AlsoHeld(Protocol):
    """The line holder run with this one (plain.HeldFetches): its pass, its wait, its last words."""

    def update(self) -> None: ...
    def due(self) -> float | None: ...
    def last(self) -> list[Line]: ...


class HeldBursts:
    """Joins and leaves held while their burst grows (``sort``), printed by ``update`` once it is
    quiet, before any other line, or at the chat's end (``last``). ``also``'s are run with ours."""

    def __init__(self, show: Callable[[list[Line]], None], also: AlsoHeld, columns: Callable[[], int | None], *,
                 enabled: bool, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.show, self.also, self.columns, self.enabled, self.clock = show, also, columns, enabled, clock
        self.held: Line | None = None  # the burst so far: a join or leave notice, or a fold.Burst
        self.began = 0.0  # when the held burst's first line came (clock)
        self.grew = 0.0  # when its last one did

    def sort(self, lines: list[Line]) -> list[Line]:
        """``lines`` as they print now: a join or leave held (or folded into the one held), what
        is held first before any other line."""
        if not self.enabled:
            return lines
        shown: list[Line] = []
        now = self.clock()
        for line in lines:
            if self.held is not None:
                if (folded := fold(self.held, line)) is not None:
                    self.held, self.grew = folded, now
                    continue
                shown.append(self._released())
            if starts_burst(line):
                self.held, self.began, self.grew = line, now, now
            else:
                shown.append(line)
        return shown

    def _released(self) -> Line:
        """The burst held, as one line with the names that fit a row; it holds nothing now. (No
        ``presence``: shown, it is not held again.)"""
        held, self.held = self.held, None
        assert held is not None
        columns = self.columns()
        text = shown_text(held, lambda text: columns is None or cells(STAMP + text) <= columns)
        return replace(held, text=text, presence=None)

    def _wait(self) -> float | None:
        if self.held is None:
            return None
        return max(0.0, min(self.grew + QUIET_SECONDS, self.began + HELD_AT_MOST_SECONDS) - self.clock())

    def update(self) -> None:
        """After each pass of the loop: a burst quiet long enough is printed."""
        self.also.update()
        if self._wait() == 0.0:
            self.show([self._released()])

    def due(self) -> float | None:
        """Seconds until the loop must come back (a burst to print, or ``also``'s)."""
        waits = [wait for wait in (self._wait(), self.also.due()) if wait is not None]
        return min(waits) if waits else None

    def last(self) -> list[Line]:
        """At the chat's end: what is held, to print now."""
        return ([self._released()] if self.held is not None else []) + self.also.last()
