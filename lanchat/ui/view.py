"""view.py: what the chat screen shows, as plain data: transcript, scroll position, unread
marker, roster toggle, input line. Pure: no terminal, no I/O, no clock.

render.py turns a ``View`` into rows of cells; screen.py feeds it keys and lines and draws
the result. Scrolling is counted in screen rows from the bottom (0 = following new
messages), so PgUp moves exactly one page however the lines wrap. How many rows a line
takes depends on the width, so the view asks ``measure`` (set by the screen from render's
layout) whenever new lines arrive while the reader is scrolled up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..session import Line, Session
from .editor import LineEditor

SCROLLBACK_LINES = 10_000  # the issue asks for at least this many
ROSTER_MIN_COLS = 100  # narrower terminals give every column to the transcript


MARKER_ROWS = 1  # the "── new ──" rule render draws above the first unread line


def _one_row(line: Line) -> int:
    return 1


def _no_day_rule(before: Line | None, line: Line) -> int:
    return 0


@dataclass
class View:
    """The chat screen's state. ``first_seq`` numbers lines so markers survive trimming."""

    session: Session
    scrollback: int = SCROLLBACK_LINES
    lines: deque[Line] = field(init=False)
    editor: LineEditor = field(default_factory=LineEditor)
    scroll: int = 0  # rows scrolled up from the bottom; 0 follows new messages
    top: int | None = None  # after Home: rows scrolled down from the oldest line instead
    page_rows: int = 20  # the transcript pane's height at the last draw, for PgUp/PgDn
    unread: int = 0  # lines that arrived while scrolled up
    marker_seq: int | None = None  # the first of those lines: a rule is drawn above it
    show_roster: bool = True
    total: int = 0  # lines ever added; the newest line's number is total - 1
    measure: Callable[[Line], int] = _one_row
    day_rule_rows: Callable[[Line | None, Line], int] = _no_day_rule  # rows of a day rule above line, after before
    finding: str | None = None  # /find TEXT or Ctrl-F: what is searched for in the transcript
    found_seq: int | None = None  # the line that matched last (highlighted), None: no match yet
    found_count: int = 0  # how many lines match, for the status line
    found_rank: int = 0  # the match shown is this many matches up from the newest (1 = newest)

    def __post_init__(self) -> None:
        self.lines = deque(maxlen=self.scrollback)

    # -------------------------------------------------------------- transcript

    @property
    def first_seq(self) -> int:
        """The number of the oldest line still kept."""
        return self.total - len(self.lines)

    def add(self, new_lines: Iterable[Line]) -> int:
        """Append lines; while scrolled up the view stays put and counts them as unread."""
        added = 0
        for line in new_lines:
            if line.kind == "history" and self.lines and self.lines[-1].time > line.time:
                self._insert_in_time(line)  # an earlier page of /history goes above, not below
                added += 1
                continue
            if not self.following:
                # keep the same rows on screen: count every row this line adds below them
                rows = self.measure(line) + self.day_rule_rows(self.lines[-1] if self.lines else None, line)
                if self.unread == 0:
                    rows += MARKER_ROWS - self._marker_rows_below()  # the rule moves to this line
                    self.marker_seq = self.total
                self.unread += 1
                if self.top is None:
                    self.scroll += rows
            self.lines.append(line)
            self.total += 1
            added += 1
        return added

    def _marker_rows_below(self) -> int:
        """The rows of the 'new' rule now drawn below the rows on screen (MARKER_ROWS, or 0 when
        there is none, or it is on screen or above): they go when the rule moves to a newer line."""
        if self.marker_seq is None or self.marker_seq < self.first_seq or self.top is not None:
            return 0
        below = 0  # rows from the marked line down to the newest (a day rule above the marked
        before: Line | None = None  # line is drawn above the 'new' rule: not counted)
        for index in range(self.marker_seq - self.first_seq, len(self.lines)):
            line = self.lines[index]
            below += self.measure(line) + (self.day_rule_rows(before, line) if before is not None else 0)
            if below >= self.scroll:
                return 0  # the rule is on screen or above it
            before = line
        return MARKER_ROWS

    def _insert_in_time(self, line: Line) -> None:
        """Put a replayed line after the last line not newer than it. Numbers of the lines
        after it move up by one, and so do the markers that point at them."""
        index = len(self.lines)
        while index > 0 and self.lines[index - 1].time > line.time:
            index -= 1
        full = len(self.lines) == self.lines.maxlen
        if full and index == 0:
            return  # older than everything kept in a full scrollback: it would fall off at once
        seq = self.first_seq + index
        if full:
            self.lines.popleft()  # make room ourselves (a full deque refuses an insert)
            self.lines.insert(index - 1, line)
            shift = lambda old: old - 1 if old < seq else old  # noqa: E731 - lines before it move down
        else:
            self.total += 1  # one more line ever added; the oldest keeps its number
            self.lines.insert(index, line)
            shift = lambda old: old + 1 if old >= seq else old  # noqa: E731 - lines after it move up
        if self.marker_seq is not None:
            self.marker_seq = shift(self.marker_seq)
        if self.found_seq is not None:
            self.found_seq = shift(self.found_seq)

    def clear(self) -> None:
        """/clear: forget the transcript on screen (the chat itself goes on)."""
        self.lines.clear()
        self.finding, self.found_seq, self.found_count = None, None, 0
        self.scroll = 0
        self.top = None
        self.unread = 0
        self.marker_seq = None

    # --------------------------------------------------------------- scrolling

    @property
    def following(self) -> bool:
        return self.scroll == 0 and self.top is None

    def scroll_by(self, rows: int) -> None:
        """Positive scrolls up into older lines; render clamps at the top via ``clamp``."""
        if self.top is not None:
            self.top = max(0, self.top - rows)
            return
        self.scroll = max(0, self.scroll + rows)
        if self.scroll == 0:
            self.unread = 0

    def page_up(self) -> None:
        self.scroll_by(max(1, self.page_rows - 1))  # keep one row of context

    def page_down(self) -> None:
        self.scroll_by(-max(1, self.page_rows - 1))

    def to_top(self) -> None:
        # Anchored at the oldest line, so drawing it only lays out the lines on screen
        # (counting rows up from the bottom would lay out the whole scrollback first).
        self.top = 0
        self.scroll = 0

    def to_bottom(self) -> None:
        self.top = None
        self.scroll = 0
        self.unread = 0

    def clamp(self, max_scroll: int, reached_bottom: bool = False) -> None:
        """Told by the screen after a layout how far up the transcript really goes, and
        whether a top-anchored view has come down to the newest line (then it follows)."""
        if self.top is not None:
            if reached_bottom:
                self.to_bottom()
            return
        if self.scroll > max_scroll:
            self.scroll = max(0, max_scroll)
            if self.scroll == 0:
                self.unread = 0

    def seen(self) -> None:
        """The reader answered (sent a line): the 'new messages' rule has done its job."""
        self.marker_seq = None
        self.unread = 0

    # ---------------------------------------------------------- /find, Ctrl-F

    def find(self, text: str, matches: Callable[[Line, str], bool]) -> bool:
        """Start finding ``text``: jump to the newest line where ``matches(line, text)``."""
        self.finding, self.found_seq = text, None
        self.found_count = sum(1 for line in self.lines if matches(line, text))
        return self.find_next(matches)

    def find_next(self, matches: Callable[[Line, str], bool]) -> bool:
        """The next older match (after the oldest: the newest again), scrolled into the middle
        of the pane. False when nothing matches."""
        if self.finding is None or not self.lines:
            return False
        newest = self.total - 1
        start = newest if self.found_seq is None or self.found_seq <= self.first_seq else self.found_seq - 1
        order = [*range(start, self.first_seq - 1, -1), *range(newest, start, -1)]
        for seq in order:
            line = self.lines[seq - self.first_seq]
            if matches(line, self.finding):
                self.found_rank = self.found_rank + 1 if self.found_seq is not None and seq < self.found_seq else 1
                self.found_seq = seq
                self.show_seq(seq)
                return True
        self.found_seq = None
        return False

    def show_seq(self, seq: int) -> None:
        """Scroll so that line ``seq`` sits about in the middle of the pane."""
        below = sum(self.measure(self.lines[i - self.first_seq]) for i in range(seq + 1, self.total))
        self.top = None
        self.scroll = max(0, below - self.page_rows // 2 + self.measure(self.lines[seq - self.first_seq]))

    def stop_finding(self) -> None:
        self.finding, self.found_seq, self.found_count = None, None, 0
        self.to_bottom()

    # ------------------------------------------------------------------ roster

    def toggle_roster(self) -> None:
        self.show_roster = not self.show_roster

    def roster_visible(self, cols: int) -> bool:
        return self.show_roster and cols >= ROSTER_MIN_COLS
