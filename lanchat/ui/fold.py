"""fold.py: a burst of join (or leave) notices shown as one transcript line that grows. Pure:
no terminal, no clock (the lines' own times decide), no I/O.

When a class of 26 comes in at the start of a lesson, 26 "ann joined (N here)" lines push
everything else off a projector's screen. The full screen folds them: a join that comes within
``BURST_SECONDS`` of the last one, with no other line between, updates that line in place:
"26 joined: ann, bob, ... and zed (27 here)". The line keeps every name (``/save`` and ``/find``
see them all); render shows as many as fit its row and "and 22 more" (``shown_text``), with how
many of those went again ("and 2 more (2 left)"); the line /find lands on lists the names it
matched first (``found_first``), so the name found is on screen. A single
join reads as it always did; a burst names at most ``MAX_BURST_NAMES``, and the next one begins another. Leaves fold the same way, separately; a leave for a reason worth
its own line (a flood, a drop) never folds, and lost connections fold only with each other, or
as one who came and went within a burst of joins: "bob joined and lost connection", "2 joined: ann
(left) and bob (lost)" (a script joining and dropping from many addresses wrote 1,274 lines on every screen in
four seconds; seven now). ``--plain`` to a script does not fold: it reads one line per event;
at a terminal it holds a burst until it is quiet and prints it folded, once (held_bursts.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..events import name_key
from ..session import Line
from ..wording import RECONNECTED

BURST_SECONDS = 10.0  # a join this soon after the burst's last one joins the burst
# A burst names at most this many; the next newcomer starts a line of its own. Each fold rebuilds
# the line from every name in it, so a server announcing joins by the ten thousand (a fake one)
# made each join cost more than the last: 20,000 took minutes, the screen frozen meanwhile.
MAX_BURST_NAMES = 100
# Presence.change -> the burst it folds into. A lost connection folds with other lost ones (the
# room's Wi-Fi went: 26 lines), never into a burst of plain leaves.
VERBS = {"joined": "joined", "quit": "left", "lost": "lost connection"}
# In a burst of joins, one who left again is marked "(left)"; in a burst of leaves or lost
# connections, one who came back "(back)". OPPOSITE: the change that makes that mark.
MARKS = {"joined": "left", "left": "back", "lost connection": "back"}
OPPOSITE = {"joined": "left", "left": "joined", "lost connection": "joined"}
# A lost session taken back (joined's ``rejoined``, "bob reconnected") comes back as a join does:
# "(back)" in a burst of leaves or lost connections; never folded into a burst of joins.


def _verb(change: str, burst: Burst) -> str | None:
    """The burst verb ``change`` counts as against ``burst``; None: a line of its own."""
    if change == RECONNECTED:
        return None if burst.verb == "joined" else "joined"
    return VERBS.get(change)


@dataclass(frozen=True, kw_only=True)
class Burst(Line):
    """A folded line: ``text`` names everyone (what /save writes and /find searches)."""

    verb: str  # "joined" or "left"
    names: tuple[str, ...]  # in the order they came
    keys: frozenset[str]  # their name keys: whether one is in the burst is asked at every fold
    marked: frozenset[str] = frozenset()  # name keys of those who went the other way since
    lost: frozenset[str] = frozenset()  # of those marked in a burst of joins, who lost their connection: "(lost)"
    here: int
    last: float  # when the burst's newest notice came: the next must come within BURST_SECONDS


def burst_text(burst: Burst, shown: int | None = None) -> str:
    """The burst as words, with every name, or the first ``shown`` and "and N more"."""
    marked = burst.marked
    entries = [f"{name} ({_mark(burst, name_key(name))})" if name_key(name) in marked else name for name in burst.names] if marked else list(burst.names)
    if len(entries) == 1:  # (one who came and went: the only mark a burst of one takes, fold)
        went = (" and lost connection" if burst.lost else " and left") if marked else ""
        return f"{burst.names[0]} {burst.verb}{went} ({burst.here} here)"
    if shown is None or shown >= len(entries):
        listed = f"{', '.join(entries[:-1])} and {entries[-1]}"
    else:
        shown = max(1, shown)
        # the hidden ones' marks are counted, not dropped: "and 2 more (2 left)", so a class
        # that came and went does not read as if two of them were still here
        hidden = [name_key(name) for name in burst.names[shown:] if name_key(name) in burst.marked]
        lost = sum(1 for key in hidden if key in burst.lost)
        went = ", ".join(f"{count} {mark}" for count, mark in ((len(hidden) - lost, MARKS[burst.verb]), (lost, "lost")) if count)
        listed = f"{', '.join(entries[:shown])} and {len(entries) - shown} more" + (f" ({went})" if went else "")
    return f"{len(entries)} {burst.verb}: {listed} ({burst.here} here)"


def found_first(line: Line, finding: str) -> Line:
    """The burst /find landed on, with the names that match ``finding`` listed first, so the
    row shows the name found even where the rest hide in "and N more" (the line's ``text``,
    what /save writes, keeps every name in order). Any other line as it is."""
    if not isinstance(line, Burst) or len(line.names) == 1:
        return line
    wanted = finding.casefold()
    matching = tuple(name for name in line.names if wanted in name.casefold())
    if not matching or len(matching) == len(line.names):
        return line
    return replace(line, names=matching + tuple(name for name in line.names if name not in matching))


def starts_burst(line: Line) -> bool:
    """Is ``line`` a lone join or leave notice that a burst can grow from (not one folded already)?"""
    return line.presence is not None and line.presence.change in VERBS


def _as_burst(line: Line) -> Burst | None:
    """``line`` as a burst to fold into: a burst already, or a lone join or leave notice."""
    if isinstance(line, Burst):
        return line
    presence = line.presence
    if presence is None or presence.change not in VERBS:
        return None
    verb = VERBS[presence.change]
    return Burst(
        kind=line.kind, time=line.time, text=line.text, code=line.code,
        verb=verb, names=(presence.name,), keys=frozenset({name_key(presence.name)}), here=presence.here, last=line.time,
    )  # fmt: skip


def fold(last: Line, line: Line) -> Burst | None:
    """The line that takes ``last``'s place when ``line`` continues its burst; None when
    ``line`` is a line of its own (not a join or a plain leave, too late, or the other way
    round for someone not in the burst). One who joins and goes again within the burst, by a
    leave or a lost connection, is marked: "bob joined and left", in a burst of several "bob
    (left)"; one who comes back after a leave, in a burst of several leaves: "bob (back)" (alone,
    "bob lost connection" and "bob reconnected" stay two lines: a rejoin's own words)."""
    presence = line.presence
    burst = _as_burst(last)
    verb = None if presence is None or burst is None else _verb(presence.change, burst)
    if presence is None or burst is None or verb is None:
        return None
    if abs(line.time - burst.last) > BURST_SECONDS:
        return None
    key = name_key(presence.name)
    keys, names, marked, lost = burst.keys, burst.names, burst.marked, burst.lost
    if verb == burst.verb:
        if key in keys:
            marked, lost = marked - {key}, lost - {key}  # came (or went) again: the mark goes
        elif len(names) >= MAX_BURST_NAMES:
            return None  # a full burst: this one begins the next
        else:
            names, keys = (*names, presence.name), keys | {key}
    elif key in keys and key not in marked and (_went(burst, verb) or (verb == OPPOSITE[burst.verb] and len(names) > 1)):
        marked = marked | {key}  # joined and left within a class's burst: "bob (left)", or "bob (lost)"
        lost = lost | {key} if _went(burst, verb) and verb == "lost connection" else lost
    else:
        return None  # someone else going the other way: a line of its own
    folded = replace(burst, names=names, keys=keys, marked=marked, lost=lost, here=presence.here, last=line.time)
    return replace(folded, text=burst_text(folded))


def _mark(burst: Burst, key: str) -> str:
    return "lost" if key in burst.lost else MARKS[burst.verb]


def _went(burst: Burst, verb: str) -> bool:
    """Did one of a burst of joins go again (a leave, a lost connection)?"""
    return burst.verb == "joined" and verb in ("left", "lost connection")


def shown_text(line: Line, fits: Callable[[str], bool]) -> str:
    """What a row shows of ``line``: a burst's names as many as ``fits`` one row, then "and N
    more" (at least one name, however narrow); any other line's text as it is."""
    if not isinstance(line, Burst) or len(line.names) == 1 or fits(line.text):
        return line.text
    shown = 1
    while shown + 1 < len(line.names) and fits(burst_text(line, shown + 1)):
        shown += 1
    return burst_text(line, shown)
