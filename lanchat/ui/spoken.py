"""spoken.py: what each line says under --screen-reader, in words, what matters first. Pure.

A screen reader speaks every character a line holds. --plain's ``[13:24:17] -!- bob joined``
was "left bracket thirteen colon twenty-four colon seventeen right bracket dash bang dash bob
joined", the clock and the marks before every line; ``ann -> sam (direct): psst`` said "dash
greater than" and "left paren direct right paren" after the names. Here:

* no clock before a live line: when a line came is asked for (Ctrl-R's neighbour, Ctrl-T:
  ``when_said``); a replay says its day once, before its first line and where the day changes
  (``replay_day``): "earlier today:", "earlier, on Sunday 6 December:", not a date on each line;
* no marks: a notice is its words after "lanchat:" ("lanchat: bob joined (2 here)"), an error
  says "error:" once, a /me reads "ann waves", a direct message "privately, ann to you: ..." or
  "privately, you to ann: ...";
* a pasted block's lines each on a line of their own, under the first, with whose it is (--plain's
  ↵ between them was "downwards arrow with corner leftwards");
* the colour bot's colour is named first, the hex after it: "try teal (#2E8B57): ...".

No classmate can make a line heard as the room's or as another's: marks are not heard (a
screen reader passes over ":" and "(" at its usual punctuation level), so a person's line starts
with their name and lanchat's own lines with a word said for no name (``OWN_STARTS``): "lanchat:"
before a notice (bob typing "/me left (2 here)" is heard "bob left (2 here)", the room's notice
"lanchat: bob left (2 here)"), "error:" before an error, "privately," before a direct message
(ann typing "/me to you, privately: ..." is not her direct message), "earlier" before a replay's
day. A sender whose name is said as one of them, or starts with one, or is "you" ("Error",
"lan.chat", "Lannchats", "YOU") is said "someone named Error: ...".

Everything a peer sent still passes through textsafe.visible. --plain's own format (scripts read
it) is plain.py's and unchanged.
"""

from __future__ import annotations

import re
import time
import unicodedata

from .. import events as ev
from ..session import Line
from ..textsafe import visible, visible_lines
from ..textview import day_of
from .colour_words import suggestion_words

PRIVATELY = "privately, "  # what a direct message says first: "privately, ann to you: psst"
ERROR_WORD = "error: "  # said once before an error's text (--plain's "!")
NOTICE_WORD = "lanchat: "  # said before a notice (--plain's "-!-"): no person's line starts with it
NAMED = "someone named "  # before a sender whose name is said as OWN_WORDS or OWN_STARTS
# What lanchat's own lines start with (and "you": the student's own lines): a sender whose name
# is said as one of them is said after NAMED. Compared as heard (``_as_heard``); a name that
# starts with one of the longer words is too ("lanchats", "Errors": said all but the same).
OWN_WORDS = ("you", "yourself")
OWN_STARTS = ("lanchat", "error", "privately", "earlier", "someone")


def spoken(line: Line, me: str) -> str:
    """``line`` as a screen reader hears it: its names and kind in words, then its text. A pasted
    block's further lines go on lines of their own, each said with whose it is ("  ann: ..."): a
    screen reader does not say the indent, and a pasted "teacher: the test is off" would pass for
    the teacher's line; a blank one is not said: 4,000 line ends were "ann" said 4,000 times (--plain keeps the block on one line, its breaks shown as ↵, said as an
    arrow's name). A line without a sender (a notice, an error) stays one line, as in --plain."""
    if line.kind == "error":
        return ERROR_WORD + visible(line.text)
    if line.kind == "system":  # an answer to the student's own command (/help, /who), or serve's banner
        return visible(line.text)
    if line.sender is None:  # a notice, live or replayed
        return NOTICE_WORD + visible(line.text)
    first, *more = visible_lines(_coloured(line))
    sender = said_name(line.sender)
    if line.kind == "action" or line.action:  # /me, live or replayed: "ann waves"
        head, again = f"{sender} ", f"{sender}: "
    elif line.kind == "direct" or (line.kind == "history" and line.to):  # a replayed one keeps both names
        who = _who(line.sender, me)
        head, again = f"{PRIVATELY}{who} to {_whom(line.to, line.sender, me)}: ", f"{PRIVATELY}{who}: "
    else:
        head = again = f"{sender}: "
    return head + first + "".join(f"\n  {again}{row}" for row in more if row.strip())  # a blank row: nothing to say


def said_name(name: str) -> str:
    """A sender's name as said: ``NAMED`` before one said as lanchat's own words (``OWN_WORDS``,
    ``OWN_STARTS``: "Error" typing "/me wrong password", "you" typing "/me to ann, privately: ...")."""
    heard = _as_heard(name)
    if heard in _OWN_WORDS_HEARD or heard.startswith(_OWN_STARTS_HEARD):
        return NAMED + visible(name)
    return visible(name)


def _as_heard(name: str) -> str:
    """``name`` as a screen reader says it, near enough: by its key (case and look-alikes folded:
    names.name_key), its accents left out (a synthesizer says "lanchàt" as "lanchat"), its letters
    and digits only (":", ".", "-" unsaid), a letter doubled said once ("lannchat", "Errror")."""
    bare = unicodedata.normalize("NFKD", ev.name_key(name))
    letters = [ch for ch in bare if ch.isalnum() and not unicodedata.combining(ch)]
    return "".join(ch for index, ch in enumerate(letters) if index == 0 or ch != letters[index - 1])


# OWN_WORDS and OWN_STARTS as heard, worked out once (said_name asks for every line a person sends)
_OWN_WORDS_HEARD = frozenset(map(_as_heard, OWN_WORDS))
_OWN_STARTS_HEARD = tuple(map(_as_heard, OWN_STARTS))


def _who(name: str | None, me: str) -> str:
    return "you" if name is not None and ev.name_key(name) == ev.name_key(me) else said_name(name or "?")


def _whom(name: str | None, sender: str | None, me: str) -> str:
    if name is not None and ev.name_key(name) == ev.name_key(me):
        return "yourself" if sender is not None and ev.name_key(sender) == ev.name_key(me) else "you"
    return said_name(name or "?")


def _coloured(line: Line) -> str:
    """The colour bot's suggestion with its colour named before its hex ("try teal (#2E8B57)"),
    or after the text when the text does not hold it."""
    words = suggestion_words(line.colour) if line.colour else None
    if words is None or line.colour is None:
        return line.text
    hex_in_text = re.compile(re.escape(line.colour), re.IGNORECASE)
    if hex_in_text.search(line.text):
        return hex_in_text.sub(lambda found: f"{words} ({found.group()})", line.text, count=1)
    return f"{line.text} ({words})"


def replay_day(when: float, now: float, *, headed: bool = False) -> str:
    """The line said before a replay's first line of a day: "earlier today:", "earlier, on Sunday 6
    December:"; none for today's under a line that says what they are already (``headed``:
    "missed while you were away:"). Another year's day says its year, and a day after today (a
    server's clock ahead, or wrong) says so: neither is heard as a day of this year gone by."""
    day, today = day_of(when), day_of(now)
    if day is None:
        return "" if headed else "earlier:"
    if today is not None and day[0] == today[0]:
        return "" if headed else "earlier today:"
    name = day[2] + ("" if today is not None and _year(day[0]) == _year(today[0]) else f" {_year(day[0])}")
    if today is not None and day[0] > today[0]:
        return f"earlier, dated {name}, a day still to come:"
    return f"earlier, on {name}:"


def _year(when: float) -> int:
    return time.localtime(when).tm_year  # of a day day_of found: on the calendar


def clock_words(when: float) -> str:
    """``13:24``: the time of day, to the minute (seconds are noise when heard)."""
    try:
        return time.strftime("%H:%M", time.localtime(when))
    except (OverflowError, OSError, ValueError):
        return "an unknown time"


def ago(seconds: float) -> str:
    """``seconds`` past, in words: "just now", "1 minute ago", "3 hours ago"."""
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    return f"{minutes // 60} hours ago"


def when_said(last: float | None, now: float) -> str:
    """Ctrl-T's answer: when the last line came, and the time now; lanchat's own, so it starts as a
    notice does (a classmate named "the" typing "/me last line came just now; it is 09:00" is not it)."""
    if last is None:
        return f"{NOTICE_WORD}no line has come yet; it is {clock_words(now)}"
    when = ago(now - last)
    at = "" if when == "just now" else f", at {clock_words(last)}"
    return f"{NOTICE_WORD}the last line came {when}{at}; it is {clock_words(now)}"
