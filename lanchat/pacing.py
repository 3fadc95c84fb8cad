"""pacing.py: the client's side of the flood limit: what it sends waits its turn instead of being refused. Pure; the clock is passed in.

Each ``welcome`` tells the participant its allowance (``flood_burst`` at once, then ``flood_rate``
a second; PROTOCOL.md, Abuse limits). ``SendPacer`` mirrors the server's token bucket
(limits.TokenBucket) with a margin, so a fast paste or a piped script goes out at the pace the room
takes and nothing is refused. Frames over the allowance wait here, in order; frames the server
does not count (typing hints, upload chunks, bye) never wait. The client loop asks ``due()`` for
its select timeout and sends what ``release(now)`` hands back.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import deque
from collections.abc import Callable, Collection

from . import events as ev
from .guard import FLOOD_COUNTED
from .limits import TokenBucket

# The margin against the network's jitter and the two clocks' drift: one token held back (frames
# sent evenly may reach the server bunched) and a refill this much slower than the server's.
RESERVE_TOKENS = 1
RATE_MARGIN = 0.95
# The longest the loop is asked to wait for a token. The allowance comes from the server, and a
# fake one's (one line in 30 years) would ask select() for a wait it refuses (OverflowError);
# waking once a minute to find still no token costs nothing.
MAX_WAIT_SECONDS = 60.0
# A leave (the end of a script's input, a first /q) waits for the answers of the lines written
# (a slow-down may send one back to wait here), while some answer comes at least this often: longer
# than the server's longest pause of reading (a full shared bucket's refill, about 7 s), short
# enough that a room answering nothing does not hold the leave for long.
ANSWERS_AWAITED_SECONDS = 10.0
# What went out is remembered this long (and at most this many), so a slow-down that quotes one
# of them puts it back in the queue (``refused``): a refusal comes back within a round trip, or
# after a pause of the server's reading (a few seconds).
SENT_REMEMBERED_SECONDS = 30.0
SENT_REMEMBERED = 64
# A line refused this many times is given up on: the refusal is shown, as one that quotes
# nothing of ours. Two sessions of one person pasting at once see one line refused up to about
# 20 times in a row (four sessions: about 80); a fake server that refuses each line again as it
# comes back would have it sent forever (as fast as its welcome's rate allows: a million a second).
MAX_REFUSALS = 100
# A refused line sent again goes alone: the lines after it wait for its answer (``resent``), this
# long at most (a line the server never answers holds nothing for good).
HOLD_SECONDS = 10.0


def _nobody(name: str) -> bool:
    return False


def without_muted(events: list[ev.Event], may_whisper: Callable[[str], bool] = _nobody) -> tuple[list[ev.Event], int]:
    """``events`` less those a mute refuses (``may_whisper``: as in ``refused_when_muted``), and how many those were."""
    kept = [event for event in events if not refused_when_muted(event, may_whisper)]
    return kept, len(events) - len(kept)


def refused_when_muted(event: ev.Event, may_whisper: Callable[[str], bool] = _nobody) -> bool:
    """A frame a mute refuses (PROTOCOL.md, Moderation: say, whisper, me, topic, nick, an away
    with a reason); a whisper to someone ``may_whisper`` names (the host, an operator: a muted
    person may ask them why) is not."""
    if isinstance(event, ev.Whisper):
        return not may_whisper(event.to)
    return isinstance(event, (ev.Say, ev.Me, ev.Nick, ev.SetTopic)) or (isinstance(event, ev.SetAway) and bool(event.reason))


class SendPacer:
    """The frames the flood limit holds back, and the bucket that says when each may go."""

    def __init__(self) -> None:
        self.bucket: TokenBucket | None = None  # None: no limit holds (no allowance in the welcome)
        self.burst, self.rate = 0, 0.0  # the room's allowance, as its welcome said (for the notices)
        self.waiting: deque[ev.Event] = deque()
        # each waiting frame's place in what was typed (in step with waiting); a fraction for
        # the lines sent again after a rejoin (``ahead``), which go before every waiting one
        self.order: deque[float] = deque()
        self.typed = 0  # frames counted so far: the next one's place
        # (place, when it went, frame, times refused) of what went out lately: a refused one goes back
        self.sent: deque[tuple[float, float, ev.Event, int]] = deque(maxlen=SENT_REMEMBERED)
        self.refusals: dict[float, int] = {}  # place -> times refused, for the waiting frames that were
        # a refused line sent again, and when: until it is answered (no longer among the caller's
        # ``unanswered``, the lines written and not echoed or refused) nothing after it goes, so
        # no later line overtakes it if it is refused again (it was: over a round trip of 0.4 s or
        # more, line k+1 went out before k's refusal came back, and k, sent again, came after it)
        self.resent: ev.Event | None = None
        self.resent_at = -math.inf

    def allow(self, welcome: ev.Welcome, now: float) -> None:
        """The allowance in ``welcome``, starting from the tokens it says are left (absent: all
        of them): the server's bucket belongs to the person, not the connection, so a new
        process or a second terminal may find it spent. A rejoin's replaces the last one,
        keeping what was spent here too."""
        burst, rate = welcome.flood_burst, welcome.flood_rate
        if burst is None or rate is None or burst < 1 or rate <= 0:
            self.bucket = None  # no limit, or none that makes sense: nothing waits
            return
        capacity = max(1, burst - RESERVE_TOKENS)
        bucket = TokenBucket(capacity, rate * RATE_MARGIN, now)
        if (left := welcome.flood_tokens) is not None:  # the same margin held back as from the burst
            bucket.tokens = float(min(capacity, max(0, left - (burst - capacity))))
        if self.bucket is not None:
            self.bucket.refill(now)
            bucket.tokens = min(bucket.tokens, self.bucket.tokens)
        self.bucket, self.burst, self.rate = bucket, burst, rate

    def send(self, event: ev.Event, now: float, unanswered: Collection[ev.Event] = ()) -> bool:
        """Whether ``event`` may go out now; if not it waits, behind those already waiting (and
        a refused line sent again that is still ``unanswered``)."""
        if not isinstance(event, FLOOD_COUNTED):
            return True
        self.typed += 1
        if not self.waiting and not self._held(now, unanswered) and (self.bucket is None or self.bucket.take(now)):
            self._went(self.typed, event, now)
            return True
        self.waiting.append(event)
        self.order.append(self.typed)
        return False

    def release(self, now: float, unanswered: Collection[ev.Event] = ()) -> list[ev.Event]:
        """The waiting frames whose turn has come, in order; a refused one sent again goes alone,
        and those after it once it is no longer ``unanswered``."""
        ready: list[ev.Event] = []
        while self.waiting and not self._held(now, unanswered) and (self.bucket is None or self.bucket.take(now)):
            event = self.waiting.popleft()
            self._went(self.order.popleft(), event, now)
            ready.append(event)
            if self.resent is event:
                break
        return ready

    def _held(self, now: float, unanswered: Collection[ev.Event]) -> bool:
        """Whether the next line waits for the answer to a refused one sent again (HOLD_SECONDS at most)."""
        resent = self.resent
        if resent is None:
            return False
        if now - self.resent_at < HOLD_SECONDS and any(line is resent for line in unanswered):
            return True
        self.resent = None  # answered (or refused again: back in the queue, in its place)
        return False

    def ahead(self, events: list[ev.Event]) -> None:
        """Frames written before a lost connection and never answered (unconfirmed.py): they go
        out first after the rejoin, before every frame waiting here, in order, as the bucket allows."""
        if not events:
            return
        first = self.order[0] if self.order else self.typed + 1
        count = len(events)
        places = [first - 1 + (index + 1) / (count + 1) for index in range(count)]  # between the last sent and the first waiting
        self.waiting.extendleft(reversed(events))
        self.order.extendleft(reversed(places))

    def _went(self, place: float, event: ev.Event, now: float) -> None:
        refusals = self.refusals.pop(place, 0) if self.refusals else 0
        if refusals:
            self.resent, self.resent_at = event, now
        if self.bucket is not None:  # with no limit nothing is refused for flooding
            self.sent.append((place, now, event, refusals))  # its JSON only if a refusal comes (refused)

    def refused(self, quoted: str | None, now: float) -> ev.Event | None:
        """The server refused one of ours as a flood (a slow-down quoting it: another session of
        the same person spent the bucket). It waits again, in its place among those waiting,
        and this bucket starts again from empty; returns it. None: not one we know, or one refused
        MAX_REFUSALS times already; it stays refused. The quote is the server's: not JSON, or
        JSON nested too deep for the parser (a fake server's thousands of ``[``), is none of ours."""
        if quoted is None or self.bucket is None or not self.sent:
            return None
        try:
            refused = json.loads(quoted)
        except (ValueError, RecursionError):
            return None
        while self.sent and now - self.sent[0][1] > SENT_REMEMBERED_SECONDS:
            self.sent.popleft()
        for index, (place, _when, event, refusals) in enumerate(self.sent):
            if json.loads(json.dumps(event.to_json())) == refused:  # as the server quotes it; refusals are rare
                del self.sent[index]
                if refusals >= MAX_REFUSALS:
                    self.resent = None  # shown refused: nothing waits for its answer
                    return None
                self.refusals[place] = refusals + 1
                at = bisect.bisect(self.order, place)
                self.waiting.insert(at, event)
                self.order.insert(at, place)
                self.bucket.refill(now)
                self.bucket.tokens = 0.0  # the server's is spent: wait for a token before the next
                return event
        return None

    def told_to_wait(self, seconds: float | None, now: float) -> None:
        """A slow-down said to send nothing counted for ``seconds`` (its retry_after, counted from
        now, when it was read: never before the server's own count ends). The bucket's next token
        comes only then, so the frame that goes then obeys it and is no step towards a pause, and
        the rest follow a token at a time. None (an older server's): as ``refused`` left it. The
        server's word: held to MAX_WAIT_SECONDS, and one not above 0 is none."""
        bucket = self.bucket
        if seconds is None or bucket is None or not seconds > 0:
            return
        bucket.refill(now)
        bucket.tokens = min(bucket.tokens, 1.0 - min(seconds, MAX_WAIT_SECONDS) * bucket.rate)

    def due(self, now: float, unanswered: Collection[ev.Event] = ()) -> float | None:
        """Seconds until the next waiting frame may go (0: now); None when nothing waits. Held
        behind a refused line sent again: its answer wakes the caller, or HOLD_SECONDS."""
        if not self.waiting:
            return None
        token = 0.0 if self.bucket is None else self.bucket.seconds_until(now)
        if self._held(now, unanswered):
            token = max(token, self.resent_at + HOLD_SECONDS - now)
        return min(token, MAX_WAIT_SECONDS)

    def drop(self) -> int:
        """Forget what waits (the person left at once); returns how many frames that was."""
        count = len(self.waiting)
        self.waiting.clear()
        self.order.clear()
        self.refusals.clear()
        self.resent = None
        return count

    def drop_muted(self, may_whisper: Callable[[str], bool] = _nobody) -> int:
        """Forget the waiting frames a mute refuses (refused_when_muted): each would come back
        refused. Returns how many."""
        return len(self.take(lambda event: refused_when_muted(event, may_whisper)))

    def take(self, which: Callable[[ev.Event], bool]) -> list[ev.Event]:
        """Take the waiting frames ``which`` picks out of the queue, in order; the rest keep theirs."""
        kept = [(event, place) for event, place in zip(self.waiting, self.order, strict=True) if not which(event)]
        taken = [event for event in self.waiting if which(event)]
        self.waiting = deque(event for event, _ in kept)
        self.order = deque(place for _, place in kept)
        if self.refusals:
            self.refusals = {place: times for place, times in self.refusals.items() if place in self.order}
        return taken

    def starting(self) -> str:
        """The one notice when frames first wait (a front end with no status line)."""
        return (f"the room takes at most {self.burst} at once, then {self.rate:g} a second: "
                "the lines after that are sent at that pace")

    def text(self) -> str:
        """The status line's words while frames wait (session.progress)."""
        count = len(self.waiting)
        return f"sending {count} waiting line{'s' if count != 1 else ''} ({self.rate:g} a second)"
