"""liveness.py: does the room still answer? The client's ping after a quiet spell, and what it says while no answer comes. Pure; the clock is passed in.

TCP keepalive finds a link that died, within a minute (transport.set_keepalive), but never a
server whose process is stopped (Ctrl-Z, SIGSTOP; a laptop asleep is a dead link): its kernel answers
the probes for it, and a quiet room looked the same as a dead one. So a client that has heard no
byte from the room for PING_AFTER_SECONDS sends ``ping``, only to a server whose welcome says it
answers one (PROTOCOL.md, Liveness: an older server never sees it), and any byte from the room
answers it; a line typed asks as the ping does, at once (its echo answers it: ``asked``). None
within ANSWER_SECONDS: the room has not answered, said on the full screen's status line
(counting the seconds) or in one --plain line; the next byte says it answers again.

The connection is kept meanwhile, however long: a stopped host goes on where it stopped
(SIGCONT) with every line typed meanwhile, which a rejoin could not do better (the same stopped
process would have to answer it). A link that really died is ended by TCP, within seconds now that
the connection is in doubt (client.watch_address asks it with the quick keepalive), and the
client rejoins as after any lost connection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

# Quiet for this long (no byte from the room): ask. An idle client wakes once per this for it.
PING_AFTER_SECONDS = 15.0
# Asked, and no byte for this long: the room has not answered (a LAN answers in milliseconds; a
# busy server's pass, a Wi-Fi's retries and a loaded laptop's scheduler stay well within it).
ANSWER_SECONDS = 5.0
# A ping behind this much of our own output still waiting for the peer (an upload's pieces, which
# the server takes without a word) is answered only once they are through: while that backlog
# falls, looked at each MOVING_CHECK_SECONDS, the link moves, and the wait for the answer starts
# again. Nor is such a connection put in doubt (client.watch_address): the quick keepalive's 5 s
# limit on unacknowledged data would end it under a live server that reads slowly.
MOVING_BYTES = 16 * 1024
MOVING_CHECK_SECONDS = 1.0
# The wall clock ahead of the monotonic one by this much since the last look: this machine slept
# (a suspend stops the monotonic clock, not the wall's), so ask now. A clock set forward by hand
# or by NTP by as much costs one ping, answered. The loop looks at least every few seconds while
# connected to a network (client.ADDRESS_CHECK_SECONDS), and a wait counts monotonic time.
SLEPT_SECONDS = 10.0


class SleepWatch:
    """Has this machine slept since the last look? A suspend stops the monotonic ``clock``, not the
    ``wall`` one: the wall clock gone SLEPT_SECONDS or more ahead of it says so. Each look is the
    next one's start (``look`` starts afresh); a clock set back is no sleep; no ``wall``, never."""

    def __init__(self, clock: Callable[[], float], wall: Callable[[], float] | None) -> None:
        self.clock, self.wall = clock, wall
        self.wall_ahead = self._wall_ahead()  # how far the wall clock is ahead of ``clock``, at the last look

    def look(self) -> None:
        self.wall_ahead = self._wall_ahead()

    def slept(self) -> bool:
        ahead = self._wall_ahead()
        jumped = ahead - self.wall_ahead
        self.wall_ahead = ahead
        return jumped >= SLEPT_SECONDS

    def _wall_ahead(self) -> float:
        return 0.0 if self.wall is None else self.wall() - self.clock()


class Liveness:
    """One connection's ping and silence: the client loop says when bytes come (``heard``) and
    asks, each pass, whether to ping (``ping_due``) and whether the silence is news
    (``newly_silent``); ``due`` is when to look again. Also the status line's part while the
    room is silent (``text``, ``short``): the time it counts is read from ``clock``."""

    def __init__(self, clock: Callable[[], float], wall: Callable[[], float] | None = None) -> None:
        self.clock = clock
        self.sleep = SleepWatch(clock, wall)  # wall: time.time, to see a sleep by (slept); None: never asked
        self.answers_pings = False  # the last welcome said the server answers ping
        self.heard_at = clock()  # the last byte from the room
        self.quiet_since = self.heard_at  # the last sign of it: a byte, or our output seen taken (sending)
        self.asked_at: float | None = None  # a ping went then, and no byte came since
        self.said = False  # the silence was said (newly_silent): its end is said too (heard)
        self.backlog = 0  # our own bytes not taken by the peer yet, at the last look (sending)

    def welcomed(self, answers_pings: bool) -> None:
        """A (new) connection's welcome: pings only if it says the server answers them."""
        self.answers_pings = answers_pings
        self.sleep.look()  # a night spent offline was not spent on this connection
        self.heard()

    def forget(self) -> None:
        """The connection is gone (offline, leaving): nothing to ask until the next welcome."""
        self.answers_pings, self.asked_at, self.said, self.backlog = False, None, False, 0

    def heard(self) -> float | None:
        """Bytes came from the room. Returns how long it had not answered when that was said
        (it answers again now), else None."""
        now = self.clock()
        silent = now - self.quiet_since if self.said and self.asked_at is not None else None
        self.heard_at = self.quiet_since = now
        self.asked_at, self.said, self.backlog = None, False, 0
        return silent

    def ping_due(self) -> bool:
        """Time to ask? True once per quiet spell (then the ping is taken as sent)."""
        now = self.clock()
        slept = self.slept()
        if not self.answers_pings or self.asked_at is not None or (now - self.heard_at < PING_AFTER_SECONDS and not slept):
            return False
        self.asked_at = now
        return True

    def slept(self) -> bool:
        """Has this machine slept since the last look (SleepWatch)?"""
        return self.sleep.slept()

    def asked(self) -> None:
        """A line of ours went that the room answers at once (a say, a /me, a whisper: its echo, or
        a refusal): it asks as a ping does, so the wait for an answer starts now, if none runs.
        A line typed into a quiet room waited for the ping, up to PING_AFTER_SECONDS, before
        this wait began: ~18 s before --plain said anything of a stopped host."""
        if self.answers_pings and self.asked_at is None:
            self.asked_at = self.clock()

    def sending(self, backlog: int | None) -> None:
        """While a ping waits for its answer: ``backlog`` is our output the peer has not taken yet
        (transport.unacknowledged_bytes, and what the loop holds; None: not known). Falling from
        MOVING_BYTES or more, the link moves: the wait for the answer starts again."""
        if self.asked_at is None or self.said or backlog is None:
            return
        if backlog < self.backlog and self.backlog >= MOVING_BYTES:
            self.asked_at = self.quiet_since = self.clock()
        self.backlog = backlog

    @property
    def behind_our_output(self) -> bool:
        """The ping waits behind much of our own output (an upload's): not a reason for doubt."""
        return self.backlog >= MOVING_BYTES

    def unanswered_for(self) -> float | None:
        """Once the ping has waited ANSWER_SECONDS with no byte: the seconds since the room's last
        sign (its last byte, or our output last seen taken); else None. Counted from the ping, a
        host stopped 25 s in a download was said as 'after 10 s without an answer' beside the
        download's 'moving again, after 25 s with no byte', and a line typed as it stopped went
        unanswered twice as long as said."""
        if self.asked_at is None:
            return None
        now = self.clock()
        return now - self.quiet_since if now - self.asked_at >= ANSWER_SECONDS else None

    def newly_silent(self) -> bool:
        """The room has just gone unanswering (True once, until it answers again)."""
        if self.said or self.unanswered_for() is None:
            return False
        self.said = True
        return True

    def due(self, counting: bool = False) -> float | None:
        """Seconds until something changes here (the loop's wait): the ping, the answer's
        deadline, and with ``counting`` (a status line shows the silence) the count's next
        second. None: nothing to wait for (no pings, or silent and not counting)."""
        if not self.answers_pings:
            return None
        now = self.clock()
        if self.asked_at is None:
            return max(0.0, self.heard_at + PING_AFTER_SECONDS - now)
        waited = now - self.asked_at
        if not self.said:  # (behind our own output: the loop wakes at least each second; each pass looks, sending)
            return max(0.0, min(ANSWER_SECONDS - waited, MOVING_CHECK_SECONDS if self.behind_our_output else math.inf))
        silent = now - self.quiet_since  # what the status line counts (unanswered_for)
        return math.floor(silent) + 1 - silent if counting else None

    def text(self) -> str:
        """The status line's part while the room is silent. The seconds are since its last sign
        (unanswered_for), most of them perhaps a quiet room's: 'no answer for 21 s' read as 21 s
        of outage where the ping had gone unanswered for 5."""
        return f"no answer from the room; last heard {self._seconds()} s ago"

    def short(self) -> str:
        """The same where the whole would be cut."""
        return f"no answer; {self._seconds()} s quiet"

    def _seconds(self) -> int:
        return int(self.unanswered_for() or 0.0)


def silent_line(seconds: float) -> str:
    """The line --plain prints when the room stops answering (the full screen's status line counts instead)."""
    return (f"the room does not answer (last heard {seconds:.0f} s ago): its host may be busy, stopped or asleep, or the link down; "
            "the chat goes on when it answers (/q leaves)")  # on this connection, or (a dead link) after a rejoin


def answers_again_line(seconds: float) -> str:
    """The line said when bytes come again after the silence was said: ``seconds`` since its
    last sign before, of which only the last few waited for an answer (not 'without an answer')."""
    return f"the room answers again, after {seconds:.0f} s of silence"


def refuses_a_ping(quoted: str | None) -> bool:
    """Is this slow-down's quoted frame (Error.refused) a ping of ours? A ping is counted as a
    request (the flood limit; another session of ours may have spent it), and its refusal is an
    answer all the same: nothing to show, nothing to send again."""
    if quoted is None or len(quoted) > 64:
        return False
    try:
        frame = json.loads(quoted)
    except ValueError:
        return False
    return isinstance(frame, dict) and frame.get("type") == "ping"
