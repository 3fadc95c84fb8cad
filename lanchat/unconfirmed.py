"""unconfirmed.py: the typed lines the server has not answered yet, sent again after a lost connection. Pure.

A line handed to the kernel is not a line the server has: Wi-Fi that dies silently takes with
it whatever the kernel still held, and the rejoin (client.Reconnect) would lose it without a
word. The server handles one connection's frames in order and answers each typed line (``say``,
``whisper``, ``me``) either with its echo (the ``message``, ``direct`` or ``action`` from our own
name, sent to us too) or with a refusal (PROTOCOL.md, Rejoining). So the lines written and not
yet answered wait here, oldest first; an echo retires the oldest entry it matches and every entry
before it (the server answered those already: echoed before, or refused). After a rejoin, the
replay of what was missed (our own stored lines among it) retires entries the same way, and what
is left did not reach the server: it is sent again, once, in order.

Per line sent: one append. Per echo: one compare with the oldest entry, which it usually is.

In a turn-based room those lines, and the ones typed while away, cannot simply go after a rejoin:
whose turn it is was not known while away (a restarted room gives the turn afresh), and each line
said out of turn is refused. ``HeldForTurn`` keeps the ones that need the turn until it is ours,
and so the lines typed out of turn, on both screens (the full screen once kept them in its input
line instead, where the next thing typed joined them: "me first/q").
"""

from __future__ import annotations

from collections import deque

from . import events as ev

# At most this many lines wait for their echo; past it the oldest is forgotten unsaid (a room
# that answers nothing for 200 lines is not one whose echoes we can wait for).
MAX_UNCONFIRMED = 200
# A line unanswered this long is shown as on its way (Unanswered, the full screen's status line):
# on a LAN its echo takes milliseconds, and a line gone from the input line and shown nowhere
# looks lost, while a link that died silently takes TCP up to a minute to report.
SHOW_UNANSWERED_AFTER = 2.0
# What a typed line comes back as, from our own name, when the server takes it.
ECHO_OF: dict[type, type] = {ev.Message: ev.Say, ev.Direct: ev.Whisper, ev.Emote: ev.Me}
ECHOES = frozenset(ECHO_OF)
# Refusals that only a typed line gets (room.py: the turn rule and check_text): each answers
# the oldest line still waiting. Other refusals (a reason too long) may answer a command as
# well, so they retire nothing: the next echo does; a whisper to nobody, Unconfirmed.no_such_user.
TYPED_ONLY_REFUSALS = frozenset({ev.E_NOT_YOUR_TURN, ev.E_EMPTY})
# What a turn-based room refuses out of turn (room.py, the turn rule; PROTOCOL.md 7): a whisper does not.
NEEDS_THE_TURN = frozenset({ev.Say, ev.Me})


def _same(line: ev.Event, echo: ev.Event) -> bool:
    """Whether ``echo`` (from our own name) is the server's answer to ``line``. A rejoin's replay
    brings a /me back as a ``message`` marked ``action`` (PROTOCOL.md, History replay)."""
    typed = ev.Me if type(echo) is ev.Message and echo.action else ECHO_OF.get(type(echo))
    if typed is not type(line) or line.text != echo.text:  # type: ignore[attr-defined]
        return False
    if isinstance(line, ev.Whisper):  # the server writes the name as it knows it: compare as it does
        return ev.name_key(line.to) == ev.name_key(echo.to)  # type: ignore[attr-defined]
    return True


def typed_as(line: ev.Event) -> str:
    """A say or me as it was typed, to be typed again (the chat's last words) or recognised (a
    held line's notice): ``/me waves``, and a say starting with a slash as ``//path``."""
    if isinstance(line, ev.Me):
        return f"/me {line.text}"
    text = line.text  # type: ignore[attr-defined]
    return f"/{text}" if text.startswith("/") else text


class Unconfirmed:
    """The typed lines written to the connection whose echo or refusal has not come, oldest first."""

    def __init__(self, limit: int = MAX_UNCONFIRMED) -> None:
        self.lines: deque[ev.Event] = deque()
        self.limit = limit
        # lines pushed out by the limit since the last echo: they may or may not have arrived,
        # and cannot be sent again; a rejoin says how many (client.Reconnect.resend)
        self.forgotten = 0
        self._since: float | None = None  # since when lines wait with none answered (waiting_since)
        self._answers = 0  # how many times lines left answered (an echo, a refusal, taken to send again)
        self._answers_seen = 0

    def __len__(self) -> int:
        return len(self.lines)

    def waiting_since(self, now: float) -> float | None:
        """Since when lines have waited with none of them answered, as seen at each look (``now``
        at the first look after the first was written or one was answered); None: none waits.
        Answers are counted, not lines: an echo read and a line typed in one pass leave as many
        waiting, and the new line's wait starts then, not with the one answered."""
        if not self.lines:
            self._since = None
        elif self._since is None or self._answers != self._answers_seen:
            self._since = now
        self._answers_seen = self._answers
        return self._since

    def sent(self, line: ev.Event) -> None:
        """``line`` (a say, whisper or me) was written to the connection."""
        self.lines.append(line)
        if len(self.lines) > self.limit:
            self.lines.popleft()
            self.forgotten += 1

    def echoed(self, echo: ev.Event) -> bool:
        """``echo`` is a message, direct or action from our own name, live or replayed: the
        oldest line it answers goes, with every line before it. False: it answers none here."""
        lines = self.lines
        if not lines:
            return False
        if _same(lines[0], echo):  # the usual case: the oldest line's echo
            lines.popleft()
            self.forgotten = 0  # the server got the lines before it, forgotten ones too
            self._answers += 1
            return True
        for index, line in enumerate(lines):
            if _same(line, echo):
                for _ in range(index + 1):
                    lines.popleft()
                self.forgotten = 0
                self._answers += 1
                return True
        return False

    def refused(self) -> ev.Event | None:
        """A refusal only a typed line gets (TYPED_ONLY_REFUSALS): the oldest line is answered
        (and returned: HeldForTurn may take it back)."""
        if not self.lines:
            return None
        self._answers += 1
        return self.lines.popleft()

    def no_such_user(self) -> None:
        """A no-such-user refusal came: a whisper to nobody here gets one, and so does a command
        naming nobody (/kick, /whois), which answers no line. The server answers in order, so it
        retires the oldest whisper waiting, with every line before it; none waits, nothing. Left
        waiting, a /r to a friend who had left showed as on its way until the next echo. (Only a
        command refused in the instant a whisper is on its way is taken for it; that whisper is
        then not sent again if the connection drops before its echo.)"""
        for index, line in enumerate(self.lines):
            if isinstance(line, ev.Whisper):
                for _ in range(index + 1):
                    self.lines.popleft()
                self._answers += 1
                return

    def unknown_type(self) -> ev.Event | None:
        """An unknown-type refusal came. Every server knows ``say`` and ``whisper``; one older than
        /me (lanchat's first release) refuses a ``me`` so (PROTOCOL.md, What IRC users reach for).
        The oldest /me waiting is answered, with every line before it (the server answers in order),
        and returned; none waits (another command it does not know), nothing. Left waiting, it
        showed as on its way for ever and went again after each rejoin, refused again."""
        for index, line in enumerate(self.lines):
            if isinstance(line, ev.Me):
                for _ in range(index + 1):
                    self.lines.popleft()
                self._answers += 1
                return line
        return None

    def muted(self) -> None:
        """Refused as muted: every line waiting is refused the same way (or was answered
        already), so none is sent again, as the held ones are dropped (client.Paced.muted)."""
        self.lines.clear()
        self._answers += 1

    def waits_again(self, line: ev.Event) -> None:
        """``line`` was refused by the flood limit and waits in the pacer to be sent again
        (pacing.SendPacer.refused): the copy sent then is the one to track, not this one."""
        for index, waiting in enumerate(self.lines):
            if waiting == line:
                del self.lines[index]
                self._answers += 1
                return

    def take(self) -> list[ev.Event]:
        """What never got an answer, oldest first, forgotten here (it is tracked again as it is
        written again): after a rejoin's replay, the lines to send again."""
        lines = list(self.lines)
        self.lines.clear()
        self._answers += 1  # sent again, they wait from then
        return lines

    def take_forgotten(self) -> int:
        """How many older lines the limit pushed out unanswered (then forgotten here too)."""
        count, self.forgotten = self.forgotten, 0
        return count


class HeldForTurn:
    """In a turn-based room, the typed lines that need the turn (NEEDS_THE_TURN) and cannot go
    now: typed out of turn (client.send_typed), refused because the turn moved on their way
    (client.held_again), or come after a lost connection (those sent again and those typed while
    away), oldest first, and any typed behind them. They go one per turn of ours: once one is sent, the next waits for the server's
    next ``turn`` (one follows every accepted say, PROTOCOL.md 7), so none is sent while the
    turn has not moved yet. One refused as not-your-turn all the same (the turn moved on its way:
    a /pass; or the room, made duplex and then turn-based again, refused those it let go) waits
    again, first, in the order sent."""

    def __init__(self) -> None:
        self.lines: deque[ev.Event] = deque()
        self.in_flight: ev.Event | None = None  # sent on our turn: the turn has not moved since
        # the last one sent from here, until answered: a refusal may come after the turn moved on
        # (an operator's pass handled first sends its turn frame before our refusal)
        self.last_sent: ev.Event | None = None
        self.released: list[ev.Event] = []  # let go at once in a duplex room: the mode may turn back first
        self.requeued = 0  # how many refused lines wait again at the front, oldest first

    def __len__(self) -> int:
        return len(self.lines)

    def text(self) -> str:
        """The status line's word on them (session.progress), while any waits."""
        count = len(self.lines)
        return f"{count} line{'s' if count != 1 else ''} you typed wait{'s' if count == 1 else ''} for your turn" if count else ""

    def short(self) -> str:
        """The same where the whole does not fit (render.status_text): "2 held", the word of the
        notice that said so ("held until it is your turn"), to fit beside whose turn it is at 40 columns."""
        return f"{len(self.lines)} held" if self.lines else ""

    def hold(self, line: ev.Event) -> None:
        self.lines.append(line)

    def ahead(self, lines: list[ev.Event]) -> None:
        """``lines`` (sent before, unanswered) go before the held ones, which were never sent."""
        self.lines.extendleft(reversed(lines))

    def due(self, mode: str, my_turn: bool) -> list[ev.Event]:
        """What to send now: in a duplex room (the host changed the mode) every line held; in a
        turn room the oldest, on our turn, unless the one sent last has not moved the turn yet."""
        if mode != "turn":
            lines = list(self.lines)
            self.lines.clear()
            self.in_flight, self.released, self.requeued = None, lines, 0  # none waits again: all went
            return lines
        if not self.lines or not my_turn or self.in_flight is not None:
            return []
        self.in_flight = self.last_sent = self.lines.popleft()
        self.requeued = max(0, self.requeued - 1)
        return [self.in_flight]

    def turn_moved(self) -> None:
        """A ``turn`` came (or the connection went): nothing sent from here waits for one."""
        self.in_flight = None

    def refused(self, line: ev.Event | None) -> bool:
        """A not-your-turn refusal answered ``line`` (Unconfirmed.refused): if it is the line sent
        from here, it waits again, first (True: then the refusal is not news to show)."""
        released = next((i for i, sent in enumerate(self.released) if sent is line), None)
        if line is None or (line is not self.last_sent and released is None):
            return False
        if released is not None:  # after those of them refused before it
            del self.released[released]
            self.lines.insert(self.requeued, line)
        else:  # the one sent on our turn: older than all still held
            self.lines.appendleft(line)
        self.requeued += 1
        self.in_flight = self.last_sent = None
        return True

    def drop(self) -> int:
        """Forget every line held (the chat ends, or we are muted); returns how many."""
        count = len(self.lines)
        self.lines.clear()
        self.in_flight = self.last_sent = None
        self.released, self.requeued = [], 0
        return count


class Unanswered:
    """The status line's word on typed lines the server has not answered for a while."""

    def __init__(self, count: int) -> None:
        self.count = count

    def text(self) -> str:
        return f"sending {self.count} line{'s' if self.count != 1 else ''} you typed\u2026"
