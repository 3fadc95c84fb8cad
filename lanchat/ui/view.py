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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import chain, islice

from ..events import MAX_TEXT_CHARS
from ..session import HELP, HISTORY_PAGE, HISTORY_PAGE_END, JOIN_REPLAY, REPLAY_END, WELCOME, Line, Session
from .editor import LineEditor
from .fold import fold

SCROLLBACK_LINES = 10_000  # the issue asks for at least this many
# A line's text is kept to this many characters: a real server relays at most this much of a
# message (PROTOCOL.md 5), a fake one sends 65,000 in a frame, and 10,000 of those kept 640 MB.
MAX_KEPT_CHARS = MAX_TEXT_CHARS
ROSTER_MIN_COLS = 100  # narrower terminals give every column to the transcript


MARKER_ROWS = 1  # the "── new ──" rule render draws above the first unread line


def _one_row(line: Line) -> int:
    return 1


def _no_day_rule(before: Line | None, line: Line) -> int:
    return 0


def _kept(line: Line) -> list[Line]:
    """``line`` as the scrollback keeps it: a server's text cut to MAX_KEPT_CHARS, saying so;
    one the client composed (``Line.composed``: /who of 150 people with their away reasons) whole,
    over as many lines of at most MAX_KEPT_CHARS as it takes. Either way no kept line is longer,
    and the scrollback holds SCROLLBACK_LINES, so what it keeps stays bounded."""
    if len(line.text) <= MAX_KEPT_CHARS:
        return [line]
    if line.composed:
        return [replace(line, text=piece) for piece in _pieces(line.text, MAX_KEPT_CHARS)]
    cut = len(line.text) - MAX_KEPT_CHARS
    return [replace(line, text=f"{line.text[:MAX_KEPT_CHARS]}... ({cut} more characters not kept)")]


def _pieces(text: str, most: int) -> list[str]:
    """``text`` in pieces of at most ``most`` characters, each ending after a ", " (a list's
    names stay whole) or else a space where one is in its second half; else cut at ``most``."""
    pieces = []
    while len(text) > most:
        end = text.rfind(", ", most // 2, most) + 2  # (rfind's end: the ", " ends within most)
        if end < 2:
            end = text.rfind(" ", most // 2, most) + 1 or most
        pieces.append(text[:end].rstrip())
        text = text[end:]
    return [*pieces, text]


@dataclass
class View:
    """The chat screen's state. ``first_seq`` numbers lines so markers survive trimming."""

    session: Session
    scrollback: int = SCROLLBACK_LINES
    lines: deque[Line] = field(init=False)
    cleared: deque[Line] = field(init=False)  # what /clear took off the screen, oldest first: /save writes it too
    editor: LineEditor = field(default_factory=LineEditor)
    scroll: int = 0  # rows scrolled up from the bottom; 0 follows new messages
    top: int | None = None  # after Home: rows scrolled down from the oldest line instead
    page_rows: int = 20  # the transcript pane's height at the last draw, for PgUp/PgDn
    unread: int = 0  # lines that arrived while scrolled up
    naming_me: int = 0  # of those, the ones that name us (Line.mentions_me): the status line says so
    marker_seq: int | None = None  # the first of those lines: a rule is drawn above it
    show_roster: bool = True
    total: int = 0  # lines ever added; the newest line's number is total - 1
    measure: Callable[[Line], int] = _one_row
    day_rule_rows: Callable[[Line | None, Line], int] = _no_day_rule  # rows of a day rule above line, after before
    finding: str | None = None  # /find TEXT or Ctrl-F: what is searched for in the transcript
    found_seq: int | None = None  # the line that matched last (highlighted), None: no match yet
    found_count: int = 0  # how many lines match, for the status line
    found_rank: int = 0  # the match shown is this many matches up from the newest (1 = newest)
    page_seq: int | None = None  # the newest line of the /history page on its way (HISTORY_PAGE)
    welcome_seq: int | None = None  # the welcome line, while the join replay may still come above it

    def __post_init__(self) -> None:
        self.lines = deque(maxlen=self.scrollback)
        self.cleared = deque(maxlen=self.scrollback)  # (bounded as the scrollback is)

    # -------------------------------------------------------------- transcript

    @property
    def first_seq(self) -> int:
        """The number of the oldest line still kept."""
        return self.total - len(self.lines)

    def add(self, new_lines: Iterable[Line]) -> int:
        """Append lines; while scrolled up the view stays put and counts them as unread."""
        added, opens = 0, None
        for line in chain.from_iterable(map(_kept, new_lines)):
            if self.lines and ((line.fetched is not None and fetched_again(self, line)) or (line.presence is not None and self._fold_into_last(line))):
                added += 1  # folded into a line on screen: news of a fetch, a join or leave
                continue
            if line.code in (JOIN_REPLAY, REPLAY_END):
                if (at := self._replay_at(line)) is not None:
                    self._insert_in_time(line, at)  # the join replay and its end: above the welcome
                    added += 1
                    continue
            if line.kind == "history" and self.lines and self.lines[-1].time > line.time:
                seq = self._insert_in_time(line)  # a replay above the welcome, a /history page above
                if line.code == HISTORY_PAGE and seq is not None:
                    self.page_seq = seq if self.page_seq is None else max(self.page_seq, seq)
                added += 1
                continue
            if not self.following:
                # keep the same rows on screen: count every row this line adds below them
                rows = self.measure(line) + self.day_rule_rows(self.lines[-1] if self.lines else None, line)
                if self.unread == 0:  # the rule moves to this line: its old rows go
                    old = -1 if self.marker_seq is None else self.marker_seq - self.first_seq
                    if old >= 0 and self._beyond_page(old, MARKER_ROWS):
                        self._keep_page_still(-MARKER_ROWS)
                    rows += MARKER_ROWS
                    self.marker_seq = self.total
                self.unread += 1
                self.naming_me += line.mentions_me
                if self.top is None:
                    self.scroll += rows  # below the page; after Home nothing moves above it
            self.lines.append(line)
            self.total += 1
            added += 1
            if line.code == WELCOME and not (len(self.lines) > 1 and self.lines[-2].code == WELCOME):
                self.welcome_seq = self.total - 1  # (a welcome of 150 names is kept as pieces: the first)
            elif line.code == HISTORY_PAGE:
                self.page_seq = self.total - 1
            elif line.code == HISTORY_PAGE_END:
                self._show_page()
            elif line.code == HELP and opens is None and self.following:
                opens = self.total - 1
        if opens is not None:
            _open_at(self, opens)
        return added

    def _replay_at(self, line: Line) -> int | None:
        """Where a line of the join replay goes: just above the welcome it follows, in the order
        the room sent it, whatever the two machines' clocks say (a laptop minutes behind the
        server put the replay below its welcome). Its end line closes the block. None: no welcome
        kept to go above (the scrollback trimmed it, /clear): the replay goes by its times."""
        at = None if self.welcome_seq is None else self.welcome_seq - self.first_seq
        if line.code == REPLAY_END:
            self.welcome_seq = None  # the replay is over: a later page goes by its times
        return at if at is not None and at >= 0 else None

    def _fold_into_last(self, line: Line) -> bool:
        """A join or leave that continues the burst on the last line updates that line in place
        (fold.py): the class coming in is one line, not a screenful. Scrolled up, it folds only
        into a line still counted unread; one read already is left as it was read."""
        folded = fold(self.lines[-1], line)
        if folded is None:
            return False
        if not self.following:
            if self.marker_seq is None or self.marker_seq > self.total - 1:
                return False
            if self.top is None:  # below the page: the rows it gains (or loses) move the count
                self.scroll = max(0, self.scroll + self.measure(folded) - self.measure(self.lines[-1]))
        self.lines[-1] = folded
        return True

    def remeasure(self, measure: Callable[[Line], int]) -> None:
        """Lines take other rows now (a resize, the roster pane shown or hidden): ``measure``
        counts them. Scrolled up, the page is counted in rows from the newest line, so the same
        count would show other lines (a window made wider jumped back a screenful, narrower
        forward); the line at the page's bottom row stays there instead (after Home, counted
        from the oldest line, the line at its top row)."""
        counted = self.scroll if self.top is None else self.top  # rows from the end the page is counted from
        walk = _from_the_newest if self.top is None else _from_the_oldest
        anchor = None  # (that line's index, how many of its rows are past the page's edge)
        if counted:
            anchor = next(((index, counted - past) for index, line, past in walk(self) if past + self.measure(line) > counted), None)
        self.measure = measure
        if anchor is not None:
            index, hidden = anchor
            past = next(rows for at, _line, rows in walk(self) if at == index)
            counted = past + min(max(0, hidden), self.measure(self.lines[index]) - 1)
            if self.top is None:
                self.scroll = counted
            else:
                self.top = counted

    def _show_page(self) -> None:
        """A /history page has all come: if its newest line is not on screen (the page went
        above everything since, a lesson's worth), scroll up so it sits at the bottom of the pane."""
        seq, self.page_seq = self.page_seq, None
        if seq is None or seq < self.first_seq:
            return
        top, self.top = self.top, None
        rows = _rows_to(self, seq - self.first_seq, 1 << 30)  # the newest line up through the page's
        if top is None and self.scroll == 0 and rows <= self.page_rows:
            return  # in view already: stay following
        self.scroll = rows - self.measure(self.lines[seq - self.first_seq])

    def _keep_page_still(self, rows: int) -> None:
        """``rows`` came (or, negative, went) between the page and the end it is counted from:
        move the count by them so the same rows stay on screen."""
        if self.top is None:
            self.scroll = max(0, self.scroll + rows)
        else:
            self.top = max(0, self.top + rows)

    def _beyond_page(self, index: int, rows: int) -> bool:
        """Do the ``rows`` rows of rules just above line ``index``'s own rows (the 'new' rule; 0:
        just the place) lie wholly off the page on the side it is counted from: below it when
        scrolled up from the newest line, above it after Home? Then rows that come or go there
        must move the count (_keep_page_still). Counting stops at the page."""
        anchor = self.scroll if self.top is None else self.top
        return _rows_to(self, index, anchor) + rows <= anchor

    def _insert_in_time(self, line: Line, index: int | None = None) -> int | None:
        """Put a replayed line after the last line not newer than it (or at ``index``); its number
        (None: not kept). Numbers of the lines after it move up by one, and so do the markers that point at them."""
        if index is None:
            index = len(self.lines)
            while index > 0 and self.lines[index - 1].time > line.time:
                index -= 1
        full = len(self.lines) == self.lines.maxlen
        if full and index == 0:
            return None  # older than everything kept in a full scrollback: it would fall off at once
        if self.top is not None and not full and self._beyond_page(index, 0):
            # after Home the page is counted from the oldest line: rows added above it move it
            above = self.lines[index - 1] if index else None
            below = self.lines[index]  # there is one: it is newer than the line
            rule = self.day_rule_rows
            self._keep_page_still(self.measure(line) + rule(above, line) + rule(line, below) - rule(above, below))
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
        if self.page_seq is not None:
            self.page_seq = shift(self.page_seq)
        if self.welcome_seq is not None:
            self.welcome_seq = shift(self.welcome_seq)
        return seq if not full else seq - 1

    def clear(self) -> None:
        """/clear: take the transcript off the screen (the chat itself goes on). Its lines are
        kept for /save (``cleared``): the session's transcript is still the whole session's."""
        self.cleared.extend(self.lines)
        self.lines.clear()
        self.finding, self.found_seq, self.found_count = None, None, 0
        self.page_seq = self.welcome_seq = None
        self.scroll = 0
        self.top = None
        self.unread = self.naming_me = 0
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
            self.unread = self.naming_me = 0

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
        self.unread = self.naming_me = 0

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
                self.unread = self.naming_me = 0

    def seen(self) -> None:
        """The reader answered (sent a line): the 'new messages' rule has done its job."""
        self.marker_seq = None
        self.unread = self.naming_me = 0

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
        # Walked from the newest end (reversed, islice), never indexed: a deque is slow to index in
        # the middle, and a line looked up by its number at each step made a search of a long
        # transcript quadratic (bench/find_bench.py).
        older = zip(range(start, self.first_seq - 1, -1), islice(reversed(self.lines), newest - start, None), strict=True)
        then_newest = zip(range(newest, start, -1), islice(reversed(self.lines), newest - start), strict=True)  # round again
        for seq, line in chain(older, then_newest):
            if matches(line, self.finding):
                self.found_rank = self.found_rank + 1 if self.found_seq is not None and seq < self.found_seq else 1
                self.found_seq = seq
                self.show_seq(seq)
                return True
        self.found_seq = None
        return False

    def show_seq(self, seq: int) -> None:
        """Scroll so that line ``seq`` sits about in the middle of the pane."""
        below = sum(self.measure(line) for line in islice(reversed(self.lines), self.total - 1 - seq))  # as find_next: no indexing
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


def fetched_again(view: View, line: Line) -> bool:
    """News of who fetched a file of ours (``Line.fetched``) takes the place of that file's last
    such line while it is on the page, lines between or not: 30 students fetching the slides
    while the class chats is one line that grows, where it is. Off the page (or, scrolled up, a
    line read already) it is a new line, which says all so far too."""
    index = next((i for i in range(len(view.lines) - 1, max(-1, len(view.lines) - 1 - view.page_rows), -1)
                  if view.lines[i].fetched == line.fetched), None)  # fmt: skip
    if index is None:
        return False
    earlier = view.lines[index]
    if view.following:
        if _rows_to(view, index, view.page_rows) > view.page_rows:
            return False  # scrolled off the top of the page: nobody would see it change
    elif view.marker_seq is None or view.first_seq + index < view.marker_seq:
        return False
    elif view.top is None and _rows_to(view, index, view.scroll) <= view.scroll:
        # wholly below the page: the rows it gains (or loses) move the count (on it, the page's
        # bottom row stays where it is, as the terminal's would)
        view.scroll = max(0, view.scroll + view.measure(line) - view.measure(earlier))
    view.lines[index] = replace(line, time=earlier.time)  # in its place, it keeps its time (the first fetch's)
    return True


def _open_at(view: View, seq: int) -> None:
    """/help at 80x24 showed its last rows, the keys: the commands, what a student typed it for,
    had gone above the screen. A long answer asked for opens at its first line, as a pager does
    (PgDn reads on, End or the next line sent goes back to the newest)."""
    if seq < view.first_seq:  # (already past the scrollback)
        return
    rows = _rows_to(view, seq - view.first_seq, 1 << 30)  # the answer's rows: a few hundred at most
    if rows > view.page_rows:
        view.scroll = rows - view.page_rows


def _rows_to(view: View, index: int, limit: int) -> int:
    """Rows from the end ``view``'s page is counted from to those rule rows: the newest line up
    through line ``index`` (scrolled up), or the oldest line down to line ``index``, its
    day rule included and its 'new' rule not (after Home). Stops once past ``limit``."""
    rows = 0
    if view.top is None:
        before: Line | None = None  # a day rule above line index is drawn above it: not counted
        for offset, line in enumerate(islice(view.lines, index, None)):
            rows += view.measure(line) + (view.day_rule_rows(before, line) if before is not None else 0)
            rows += MARKER_ROWS if offset and view.first_seq + index + offset == view.marker_seq else 0
            if rows > limit:
                break
            before = line
        return rows
    before = None
    for offset, line in enumerate(islice(view.lines, 0, index + 1)):
        rows += view.day_rule_rows(before, line)
        if offset == index or rows > limit:
            break
        rows += view.measure(line) + (MARKER_ROWS if view.first_seq + offset == view.marker_seq else 0)
        before = line
    return rows


def _from_the_newest(view: View) -> Iterator[tuple[int, Line, int]]:
    """Each line from the newest up: its index, itself, and the rows below its own rows (the
    rules between included, counted as _rows_to counts them)."""
    below = 0
    after: Line | None = None
    for back, line in enumerate(reversed(view.lines)):
        index = len(view.lines) - 1 - back
        if after is not None:
            below += view.day_rule_rows(line, after) + (MARKER_ROWS if view.first_seq + index + 1 == view.marker_seq else 0)
        yield index, line, below
        below += view.measure(line)
        after = line


def _from_the_oldest(view: View) -> Iterator[tuple[int, Line, int]]:
    """Each line from the oldest down: its index, itself, and the rows above its own rows (its
    own day rule and 'new' rule included, as render draws them above it)."""
    above = 0
    before: Line | None = None
    for index, line in enumerate(view.lines):
        above += view.day_rule_rows(before, line) + (MARKER_ROWS if view.first_seq + index == view.marker_seq else 0)
        yield index, line, above
        above += view.measure(line)
        before = line
