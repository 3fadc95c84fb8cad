"""speech.py: --screen-reader, --plain at a terminal for a screen reader that speaks new text. Pure.

A screen reader (Orca, VoiceOver, NVDA) speaks what appears on the terminal. --plain keeps the
half-typed line below each incoming one by rubbing it out and writing it again (plain.back_over),
so the reader said the student's own half-typed words again after every message; and a line
sent showed twice, as typed and as the room's copy, so it was said twice. Here instead:

* an incoming line is printed on a row of its own (a fresh row when something is typed on the
  cursor's), and what was typed is never written again: it stays in the typed line, Enter sends
  all of it, Backspace takes it back (on screen only what is on the cursor's row can be rubbed
  out), and Ctrl-R writes it again on a row of its own when the student asks (as the terminal's
  own line editing does: stty's rprnt);
* the room's copy of a line sent at once (a say, a /me, a /w) is not printed (the terminal
  showed it as typed); one that comes later than ECHO_WITHIN_SECONDS, or that was held (for the
  turn, while offline) and so never ``sent_at_once``, is printed, and every refusal or "not
  sent" is, as in --plain;
* a transfer's progress lines are said at most every PROGRESS_EVERY_SECONDS (its start and its
  end always are);
* each line says what matters first, in words (spoken.py: no clock, no marks; ``said``), and
  Ctrl-T says when the last line came (``key``).

Never does I/O: PlainFrontend (plain.py) writes what it returns; client.py tells it which lines
went at once (``sent_at_once``) and which of those the room held back (``held_back``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping

from .. import events as ev
from ..session import MISSED, PROGRESS, Line, Session
from ..textfold import fold_line
from ..textsafe import visible
from ..textview import day_of
from .spoken import replay_day, spoken, when_said

# The environment variable that turns the mode on for every `connect` and `serve` (a student's
# shell profile), so it need not be typed each time: "1" on, unset or one of OFF_WORDS off.
ENVIRONMENT = "LANCHAT_SCREEN_READER"
OFF_WORDS = ("", "0", "no", "false", "off")  # LANCHAT_SCREEN_READER=off read as on would surprise
# The room's copy of a line sent at once comes back in milliseconds on a LAN; one that comes later
# than this (a room pacing a paste to its flood limit, a link that stalled) is said: it is news.
ECHO_WITHIN_SECONDS = 10.0
# --plain says a transfer's progress at each quarter or every 5 s: spoken, a long download talked
# over the chat. Here at most one progress line in this many seconds, all transfers together.
PROGRESS_EVERY_SECONDS = 30.0
# /help's row for the key this mode adds (plain.PLAIN_KEYS has the others)
AGAIN_KEY = ("Ctrl-R", "write again what you are typing, on a line of its own (--screen-reader)")
WHEN_KEY = ("Ctrl-T", "say when the last line came, and the time now (--screen-reader)")
KEYS, KEY_CHARS = (AGAIN_KEY, WHEN_KEY), "\x12\x14"  # Ctrl-R, Ctrl-T: read by PlainFrontend._keys, done by Speech.key


def wanted(option: bool, environ: Mapping[str, str]) -> bool:
    """Is the mode on: ``--screen-reader`` given, or LANCHAT_SCREEN_READER=1 (any value but OFF_WORDS)?"""
    return option or environ.get(ENVIRONMENT, "").strip().lower() not in OFF_WORDS


class Speech:
    """One --screen-reader terminal: what its typed line shows (``start``: typed[start:] is on
    the cursor's row, written after the last output), and the lines sent at once whose room copy
    is left out."""

    def __init__(self, session: Session, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.session, self.clock, self.wall = session, clock, wall
        self.start = 0  # the typed line from here on is on the cursor's row (what came before is above)
        self.sent: deque[tuple[tuple[str, str, str], float]] = deque(maxlen=200)  # (kind, to, text), when: awaiting the room's copy
        self.progress_said: float | None = None  # when the last progress line was said
        self.came: float | None = None  # when (wall clock) the last live line was printed: Ctrl-T says it
        self.replaying: tuple[float | None] | None = None  # in a replay: the day (its start) its last line was of
        self.headed = False  # the last line said heads what follows: a replay after it needs no "earlier today:"

    # -- the typed line and what comes in
    def above(self, text: str, typing: str) -> str:
        """``text`` (lines, each ending in a newline) printed while ``typing`` is typed: on a row
        of its own, and nothing typed written again."""
        fresh = "\n" if typing[self.start :] else ""
        self.start = len(typing)
        return fresh + text

    def cut(self, typing: str, end: int) -> tuple[str, str, bool]:
        """Backspace, Ctrl-U, Ctrl-W: ``typing`` is cut to its first ``end`` characters. What to
        rub out where it shows, on the cursor's row (what came before it there, what goes, and
        whether other text comes before it: plain.rubbed_out); the rest is gone silently."""
        shown, gone = typing[self.start :], typing[max(end, self.start) :]
        continues, self.start = end > self.start, min(self.start, end)
        return shown, gone, continues

    def entered(self, typing: str) -> str:
        """Enter: the line end to echo (none on an empty row: a blank line is spoken as one)."""
        shown, self.start = typing[self.start :], 0
        return "\n" if shown or not typing else ""

    def key(self, key: str, typing: str) -> str:
        """Ctrl-R (``again``) or Ctrl-T (when the last line came: spoken.when_said), while ``typing``: what to write."""
        return self.again(typing) if key == "\x12" else self.above(when_said(self.came, self.wall()) + "\n", typing)

    def again(self, typing: str) -> str:
        """Ctrl-R: the typed line written again, on a row of its own."""
        fresh = "\n" if typing[self.start :] else ""
        self.start = 0
        return fresh + visible(typing)

    def written_again(self) -> None:
        """The frontend wrote the whole typed line on a fresh row (after Ctrl-Z and fg)."""
        self.start = 0

    # -- what each line says
    def said(self, line: Line, columns: int | None, join_lines: tuple[str, ...] = ()) -> str:
        """``line`` as printed for a screen reader (plain.printed_as's place): in words (spoken.py),
        a replay's day said before its first line of that day, folded at spaces to ``columns``; a
        line of serve's banner said again (``join_lines``, /address) two spaces in, as the banner."""
        text = spoken(line, self.session.name)
        if line.kind == "system" and any(row.startswith("  ") and row.strip() == line.text for row in join_lines):
            text = "  " + text
        if line.kind == "history":
            day = day_of(line.time)
            if self.replaying != (found := (day[0] if day else None,)) and (said := replay_day(line.time, self.wall(), headed=self.headed)):
                text = said + "\n" + text
            self.replaying, self.headed = found, False
        else:  # "missed while you were away:" heads what follows; no other line does (a classmate's "look:", a reason's)
            self.replaying, self.came, self.headed = None, self.wall(), line.code == MISSED
        if columns is None:
            return text
        hang = " " * line.hang if line.kind in ("notice", "system") and 0 < line.hang <= columns // 2 else None
        return "\n".join(row for part in text.split("\n") for row in fold_line(part, columns, hang))

    # -- our own lines
    def sent_at_once(self, event: ev.Event) -> None:
        """A say, /me or /w typed here went to the room at once (client.send_typed): its copy
        need not be said again."""
        if (key := _sent_as(event)) is not None:
            self.sent.append((key, self.clock()))

    def held_back(self, event: ev.Event) -> None:
        """The room refused ``event`` (not our turn after all; the flood limit): it waits to go
        again, and its copy is said when it comes."""
        self._forget(_sent_as(event))

    def heard(self, lines: list[Line]) -> list[Line]:
        """``lines`` less the room's copies of lines sent at once, and progress lines too soon."""
        now = self.clock()
        while self.sent and now - self.sent[0][1] > ECHO_WITHIN_SECONDS:
            self.sent.popleft()  # its copy never came in time (refused, held): said when it comes
        return [line for line in lines if not (self._own_copy(line) or self._too_soon(line, now))]

    def _own_copy(self, line: Line) -> bool:
        if line.sender is None or ev.name_key(line.sender) != ev.name_key(self.session.name):
            return False
        return self._forget(_copy_of(line))

    def _forget(self, key: tuple[str, str, str] | None) -> bool:
        """The oldest line sent at once that ``key`` stands for, forgotten; False: none waits."""
        for index, (waiting, _when) in enumerate(self.sent):
            if key is not None and waiting == key:
                del self.sent[index]
                return True
        return False

    def _too_soon(self, line: Line, now: float) -> bool:
        if line.code != PROGRESS:
            return False
        if self.progress_said is not None and now - self.progress_said < PROGRESS_EVERY_SECONDS:
            return True
        self.progress_said = now
        return False


def _sent_as(event: ev.Event) -> tuple[str, str, str] | None:
    """What the room's copy of ``event`` will be: the kind of line it shows as, to whom, the text."""
    if isinstance(event, ev.Say):
        return "own", "", event.text
    if isinstance(event, ev.Me):
        return "action", "", event.text
    if isinstance(event, ev.Whisper):
        return "direct", ev.name_key(event.to), event.text
    return None


def _copy_of(line: Line) -> tuple[str, str, str] | None:
    """A line of our own name as ``_sent_as`` names it; None: not a copy of a line typed."""
    if line.kind in ("own", "action"):
        return line.kind, "", line.text
    if line.kind == "direct" and line.to is not None:
        return "direct", ev.name_key(line.to), line.text
    return None
