"""textview.py: what a text participant (nc, telnet) reads: each server event as one plain line,
every name and text passed through textsafe.visible, so no byte from another participant can
drive their terminal (docs/PROTOCOL.md, Text participants). Pure: never touches a socket.

textline.py turns their lines into events; this words the room's events for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from . import events as ev
from .members import Members
from .moderation import act_line
from .textsafe import visible
from .wording import (
    ACTION_MARK,
    NOTICE_MARK,
    REMOVALS,
    everyone_muted_note,
    here_words,
    joined_words,
    member_marks,
    moved_words,
    nobody_holds_the_turn,
)

# Every line the room says starts with wording.NOTICE_MARK ("-!- bob joined"); a /me is
# "[12:00] * bob waves", and no name can hold the mark (wording.py says why).


def clock_stamp(when: float) -> str:
    """``12:00``: the server's local time of a message."""
    return time.strftime("%H:%M", time.localtime(when))


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # not the locale's: one wording


DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")  # fmt: skip


def day_of(when: float) -> tuple[float, float, str] | None:
    """The local day holding ``when``: when it began, when the next one begins, and its name as
    lanchat's screen rules it off, ``Monday 7 December``; None for a time beyond the calendar."""
    try:
        moment = time.localtime(when)
        first = time.mktime((moment.tm_year, moment.tm_mon, moment.tm_mday, 0, 0, 0, 0, 0, -1))
        following = time.mktime((moment.tm_year, moment.tm_mon, moment.tm_mday + 1, 0, 0, 0, 0, 0, -1))
    except (OverflowError, OSError, ValueError):
        return None
    return first, following, f"{DAYS[moment.tm_wday]} {moment.tm_mday} {MONTH_NAMES[moment.tm_mon - 1]}"


def other_day(when: float, today: float) -> str | None:
    """``6 Dec``: the local day of ``when`` if it is not ``today``'s, as lanchat's screen stamps a line
    replayed from another day (``6 Dec 14:03``), with its year if not this year's (``6 Dec 2025``: last
    school year's lines read as this year's); None on the same day, or for a time beyond the calendar."""
    try:
        moment, now = time.localtime(when), time.localtime(today)
    except (OverflowError, OSError, ValueError):
        return None
    if (moment.tm_year, moment.tm_yday) == (now.tm_year, now.tm_yday):
        return None
    year = f" {moment.tm_year}" if moment.tm_year != now.tm_year else ""
    return f"{moment.tm_mday} {MONTHS[moment.tm_mon - 1]}{year}"


class TextView:
    """One text participant's reading of the room. It keeps what the lines need to say the same
    facts as lanchat's screen (session.py): who is here, the host, the mode and whose turn."""

    def __init__(self, stamp: Callable[[float], str] = clock_stamp, today: Callable[[], float] = time.time) -> None:
        self.stamp = stamp
        self.today = today  # now, to tell a line replayed from another day (_stamp)
        self.day: tuple[float, float] | None = None  # the local day of the last stamped line read: (its start, the next's)
        self.name: str | None = None  # theirs, from the welcome
        self.mode = "duplex"
        self.members = Members()
        self.host: str | None = None
        self.bots: set[str] = set()  # name keys of the server's own bots (welcome, joined, roster)
        self.turn: str | None = None  # whose turn it is, in a turn room (welcome, turn): /who marks it
        self.moved: set[str] = set()  # name keys that left as "moved": their joined is not news
        self.operators: set[str] = set()  # name keys of the operators (operators): /who marks them
        self.away: dict[str, str] = {}  # name key -> why away (away-status): /who marks them

    def describe(self, event: ev.Event) -> str | None:
        """One server event as the line this participant reads (without its line end; the first
        stamped line of a new day comes after the day's name and a line end: _new_day); None for
        what is not for them. Learns from it what later lines need (who is here, the mode)."""
        if isinstance(event, ev.Message):  # the usual event first: it changes nothing here (but the day)
            day = self.day
            earlier = "" if day is not None and day[0] <= event.time < day[1] else self._new_day(event.time)
            earlier += "[History] " if event.history else ""
            if event.action:  # a replayed /me, as _social words a live one
                return f"{earlier}[{self._stamp(event)}] {ACTION_MARK} {visible(event.sender)} {visible(event.text)}"
            return f"{earlier}[{self._stamp(event)}] {visible(event.sender)}: {visible(event.text)}"
        self._learn(event)
        if isinstance(event, ev.Welcome):
            return self._welcome(event)
        if isinstance(event, ev.Direct):
            return self._direct(event)
        if isinstance(event, ev.Joined):
            if self.moved and ev.name_key(event.name) in self.moved:  # the "moved" line said it
                self.moved.discard(ev.name_key(event.name))
                return None
            return None if event.name == self.name else f"{NOTICE_MARK} {visible(event.name)} {joined_words(event)}"
        if isinstance(event, ev.Left):
            if event.reason in ("kicked", "banned"):
                return None  # the act just before said who removed them and why (moderated)
            if event.reason == ev.LEFT_MOVED:  # a takeover: their joined follows, and says nothing more
                self.moved.add(ev.name_key(event.name))
                return f"{NOTICE_MARK} {visible(event.name)} {moved_words(event)}"
            why = {"lost": " (connection lost)", "dropped": " (too slow)", "flooding": " (disconnected for flooding)"}
            return f"{NOTICE_MARK} {visible(event.name)} left{why.get(event.reason, '')}"
        if isinstance(event, ev.Roster):
            return self._who(event)
        if isinstance(event, ev.Turn):
            return self._turn(event)
        if isinstance(event, ev.Moderated):
            return self._act(event)
        if isinstance(event, ev.Error):
            return f"! {visible(event.message)}"
        if isinstance(event, ev.Notice):  # news for them alone, refusing nothing
            return f"{NOTICE_MARK} {visible(event.message)}"
        if isinstance(event, ev.Shutdown):
            return f"{NOTICE_MARK} the chat is closing: {visible(event.reason)}"
        if isinstance(event, ev.Offered) and not event.listing:
            return f"{NOTICE_MARK} {visible(event.sender)} offers a file, {visible(event.name)}: join with lanchat to get it"
        return self._social(event)

    def _new_day(self, when: float) -> str:
        """``-!- Monday 7 December`` and a line end, before the first stamped line of another day
        than the last one read (a lesson past midnight; today's first line after yesterday's
        replayed ones), as lanchat's screen rules the days off: the times alone ("[23:59]", then
        "[00:00]") did not say a day had passed. "" for the first one they read. Called when
        ``when`` is outside ``day``: the usual line costs two comparisons, not this."""
        found = day_of(when)
        if found is None:
            return ""
        first, self.day = self.day is None, found[:2]
        return "" if first else f"{NOTICE_MARK} {found[2]}\r\n"

    def _stamp(self, event: ev.Message | ev.Direct) -> str:
        """``12:00``; a line replayed from another day says which, ``6 Dec 12:00``: a class joining the
        morning after read yesterday's last lines as if just said (a lesson past midnight too)."""
        day = other_day(event.time, self.today()) if event.history else None
        return f"{day} {self.stamp(event.time)}" if day else self.stamp(event.time)

    def _is_me(self, name: str | None) -> bool:
        return name is not None and self.name is not None and ev.name_key(name) == ev.name_key(self.name)

    def _learn(self, event: ev.Event) -> None:
        """Who is here (and which are bots), the host, the operators, who is away, the mode: what the
        waiting line, "you" and /who need."""
        if isinstance(event, ev.Welcome):
            self.name, self.mode, self.members, self.host = event.name, event.mode, Members(event.members), event.host
            self.turn = event.turn
            self.bots = {ev.name_key(n) for n in event.bots}
        elif isinstance(event, ev.Joined):
            self.members.add(event.name)
            if event.bot:
                self.bots.add(ev.name_key(event.name))
        elif isinstance(event, ev.Left) and event.name in self.members:
            self.members.discard(event.name)
            self.bots.discard(ev.name_key(event.name))
            self.away.pop(ev.name_key(event.name), None)  # the room forgets both (session_events._left)
            self.operators.discard(ev.name_key(event.name))
        elif isinstance(event, ev.Operators):
            self.operators = {ev.name_key(n) for n in event.names}
        elif isinstance(event, ev.Away) and not event.answer:
            if event.reason:
                self.away[ev.name_key(event.name)] = event.reason
            else:
                self.away.pop(ev.name_key(event.name), None)
        elif isinstance(event, ev.Roster):
            self.members = Members(event.members)
            self.bots = {ev.name_key(n) for n in event.bots}
        elif isinstance(event, ev.Moderated) and event.action == "mode" and event.mode in ("turn", "duplex"):
            self.mode = event.mode
        elif isinstance(event, ev.Turn):
            self.turn = event.holder
        elif isinstance(event, ev.Renamed):
            old = ev.name_key(event.old)
            if self.turn is not None and ev.name_key(self.turn) == old:
                self.turn = event.new
            self.members.renamed(lambda m: ev.name_key(m) == old, event.new)
            if self.host is not None and ev.name_key(self.host) == old:
                self.host = event.new
            if old in self.bots:
                self.bots = (self.bots - {old}) | {ev.name_key(event.new)}
            if old in self.operators:  # an operator stays one under the new name (session_social)
                self.operators = (self.operators - {old}) | {ev.name_key(event.new)}
            if old in self.away:
                self.away[ev.name_key(event.new)] = self.away.pop(old)
            if self._is_me(event.old):
                self.name = event.new

    def _who(self, roster: ev.Roster) -> str:
        """The answer to /who, each name marked as lanchat's /who and roster pane mark it
        (wording.member_marks): "-!- here: hal (host), bob (op, away: lunch), ann (you)". It
        marked neither the host nor the operators: nc's student could not tell whom to ask."""
        muted = roster.mute_notes()  # who is muted, and how long for (PROTOCOL.md, Moderation)
        host = ev.name_key(self.host) if self.host is not None else None
        turn = ev.name_key(self.turn) if self.mode == "turn" and self.turn is not None else None
        me = ev.name_key(self.name) if self.name is not None else None
        names = []
        for name in roster.members:
            key = ev.name_key(name)
            marks = member_marks(host=key == host, op=key != host and key in self.operators, you=key == me, turn=key == turn,
                                 away=self.away.get(key, ""), muted=muted.get(key, ""))  # fmt: skip
            names.append(visible(name) + visible(marks))  # (a reason is the peer's own text)
        return f"{NOTICE_MARK} here: {', '.join(names)}"

    def _welcome(self, event: ev.Welcome) -> str:
        others = [visible(n) for n in event.members if n != event.name]
        here = f"here: {here_words(others)}" if others else "nobody else is here yet"
        mode = ""
        if event.mode == "turn":
            whose = "yours" if event.turn == event.name else f"{visible(event.turn)}'s" if event.turn else "nobody's yet"
            mode = f"; turn-based, the turn is {whose}"
        return f"{NOTICE_MARK} welcome, {visible(event.name)}! {here}{mode}. /help lists the commands"

    def _direct(self, event: ev.Direct) -> str:
        day = self.day
        earlier = "" if day is not None and day[0] <= event.time < day[1] else self._new_day(event.time)
        earlier += "[History] " if event.history else ""
        sender = "you" if event.sender == self.name else visible(event.sender)
        to = "you" if event.to == self.name else visible(event.to)
        held = " (held until they join)" if event.held else ""
        return f"{earlier}[{self._stamp(event)}] {sender} -> {to}: {visible(event.text)}{held}"

    def _turn(self, event: ev.Turn) -> str | None:
        """Whose turn, as lanchat's screen says it (session.py, Session.turn_text)."""
        if self.mode != "turn":
            return None  # after /mode duplex: nobody's turn, and the act said so
        if event.holder is not None:
            return f"{NOTICE_MARK} your turn: type a line" if self._is_me(event.holder) else f"{NOTICE_MARK} {visible(event.holder)}'s turn"
        if nobody_holds_the_turn(self.members, self.host, self.bots) == "someone to join":
            return f"{NOTICE_MARK} waiting for someone else to join"
        return f"{NOTICE_MARK} waiting for an unmute ({everyone_muted_note(self.host, self.name)})"

    def _act(self, act: ev.Moderated) -> str | None:
        """A moderation act, as lanchat's screen words it (moderation.act_line), every name and
        reason made harmless. Their own removal is said by the fatal error that follows."""
        mine = self._is_me(act.name)
        if mine and act.action in REMOVALS:
            return None
        shown = replace(
            act,
            by=visible(act.by),
            name=visible(act.name) if act.name is not None else None,
            reason=visible(act.reason) if act.reason else None,
        )
        return f"{NOTICE_MARK} {act_line(shown, mine=mine)}"

    def _social(self, event: ev.Event) -> str | None:
        """/me, /nick, /away and /topic (PROTOCOL.md, What IRC users reach for), as session_social words them."""
        if isinstance(event, ev.Emote):
            day = self.day
            new = "" if day is not None and day[0] <= event.time < day[1] else self._new_day(event.time)
            return f"{new}[{self.stamp(event.time)}] {ACTION_MARK} {visible(event.sender)} {visible(event.text)}"
        if isinstance(event, ev.Renamed):
            if self._is_me(event.new):
                return f"{NOTICE_MARK} you are now known as {visible(event.new)}"
            return f"{NOTICE_MARK} {visible(event.old)} is now known as {visible(event.new)}"
        if isinstance(event, ev.Away):
            name, reason = visible(event.name), visible(event.reason)
            if event.answer:
                return f"{NOTICE_MARK} {name} is away: {reason} (they will see your message later)"
            if not event.reason:
                return f"{NOTICE_MARK} {name} is back"
            return f"{NOTICE_MARK} {name} is away" if event.reason == "away" else f"{NOTICE_MARK} {name} is away: {reason}"  # session_social._away
        if isinstance(event, ev.Topic):
            by = visible(event.by)
            return f"{NOTICE_MARK} topic: {visible(event.text)} (set by {by})" if event.text else f"{NOTICE_MARK} {by} cleared the topic"
        return None
