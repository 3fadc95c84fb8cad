"""limits.py: how much one participant or one address may ask of the server. Pure; the clock is passed in.

Three rules, each decided here and performed by the server loop (docs/PROTOCOL.md, "Abuse limits"):

* ``FloodControl``: a token bucket per participant (a burst of 10, then 3 a second, about what
  ssh-chat and IRC servers allow), and one per address group shared by everyone joined from it
  (``ADDRESS_SHARE`` people's worth; empty, it refuses only those who sent more than a person's
  burst and at least half as much as the busiest there lately: ``SharedBucket``). Messages, whispers, commands and file offers all cost a token.
  Over the limit the verdict climbs a ladder: ``SLOW_DOWN`` (refuse this one with a clear error),
  then ``STOP_READING`` (the loop stops reading the socket until ``resume_at``: the kernel's buffers
  fill and the sender's own writes block: back-pressure instead of a queue in our memory), then
  ``DISCONNECT`` for one who keeps pushing through several pauses.
* ``ConnectionLimits``: concurrent connections per address and new connections per address per
  minute; loopback and AF_UNIX have their own, larger numbers (a class demo runs on one machine),
  and on this machine each Unix account but the server's own may hold only so many connections
  not yet welcomed (a lab server's student cannot take the class's with unfinished handshakes).
  ``RefusalLog`` keeps a storm of refused connections to a few lines of the server's log.
* ``Deadlines``: ``hello`` within 20 s of connecting, and a frame once started finished within
  10 s. The clocks start at the connection and at a frame's first byte and are never restarted by
  later bytes: a slowloris dripping a byte a second is closed all the same.

Memory is bounded everywhere: a bucket that has refilled holds nothing worth keeping and is
forgotten, and each table has a cap beyond which the oldest refilled entries go first.
"""

from __future__ import annotations

import functools
import heapq
import ipaddress
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

OK = "ok"
SLOW_DOWN = "slow-down"
STOP_READING = "stop-reading"
DISCONNECT = "disconnect"

DEFAULT_BURST = 10
DEFAULT_RATE = 3.0  # tokens a second
# Everyone joined from one address group (a machine of the LAN; not this machine's, where a lab
# class shares the loopback) shares this many people's allowance on top of their own: one laptop
# holding its 16 connections as 16 guests, each within a person's limit, put 160 lines at once
# and 48 a second on the class's screens. Two: a pair at one laptop, or one person's two windows.
ADDRESS_SHARE = 2
# Who that shared bucket refuses once it is empty: a heavy sender, one who sent at least
# BUSIEST_SHARE as many lines lately as the address's busiest, or more than LIGHT_LINES and at
# least LIGHT_SHARE as many (each line, sent or refused, counting for SHARE_MEMORY_SECONDS,
# fading: a decaying count per person). Their refusals climb their own ladder (pause, then
# disconnect) as a person over their own limit does. Anyone else's line goes through, the bucket
# going into debt (which the heavy ones wait to be paid back), up to SHARED_DEBT tokens; past
# that a light sender's line waits too, but is neither counted nor a step of their ladder (the
# client sends it again): a classmate behind a flooder's address (a school's NAT) is never paused
# or put out by it. Refused attempts count as lines: a script's guests that push all the time
# stay heavy while each gets few through; a name changed with /nick keeps its count.
SHARE_MEMORY_SECONDS = 10.0
LIGHT_LINES = 10.0  # a person's burst: a paste of 9 lines (the client's first go) is never heavy
LIGHT_SHARE = 0.5
BUSIEST_SHARE = 0.8  # among equal senders taking turns, each is the busiest, give or take
SHARED_DEBT = 20.0
# Once a light sender's line waits (past SHARED_DEBT), their lines that come before its
# retry_after wait too, so that none overtakes it when their client sends it again: as many as
# a client may have sent before it read that refusal (a person's burst). More is a script pushing:
# each goes to the shared bucket as usual, and one of those it makes wait starts no new batch
# (a fresh one only for a line sent once the wait is up), or a script refused free for ever.
BEHIND_MOST = DEFAULT_BURST  # a client paces to its own burst: never more in flight than that
RESCALE_SECONDS = 200.0  # SharedBucket's counts are brought back to small numbers this often (exp(20): ~5e8)
MAX_SHARING = 64  # people whose recent use one address remembers (bounded memory)
SLOW_DOWNS_BEFORE_PAUSE = 10  # refusals in a row before the server stops reading
PAUSES_BEFORE_DISCONNECT = 3  # pauses within PAUSE_MEMORY_SECONDS before the server hangs up
PAUSE_MEMORY_SECONDS = 60.0
MAX_TRACKED = 10_000  # participants or addresses remembered at once (bounded memory)
# A refused request that comes this little before the last refusal's retry_after is up obeyed it
# all the same: a float's rounding, no more. A real client is later anyway (it counts the wait,
# rounded up to the ms, from when it read the refusal). A ms of grace let a script time a burst
# into the last ms before the token: each refused without a step, never paused.
RETRY_GRACE = 1e-6

MAX_PER_ADDRESS = 16
# Uploads (server_files.py): behind one address a person with an identity key has a quota of their
# own, and all of that address together at most this many people's (a school's NAT: one address
# for the class; before, 200 MB for all of them; a script's keys cannot take more than this).
ADDRESS_UPLOAD_QUOTAS = 4
LOCAL = "local"  # the group of loopback and AF_UNIX (address_group): this machine
MAX_PER_LOCAL = 256  # loopback and AF_UNIX: a whole class demo on one machine
NEW_PER_MINUTE = 30
NEW_PER_MINUTE_LOCAL = 600
# Connections from this machine not yet welcomed (no hello yet, or its challenge unanswered),
# per Unix account other than the server's own: one student's script holding 256 that never
# say hello kept every classmate out. Welcomed ones are not counted: a lab's shared "student"
# account holds a whole class, and a mass join is seen, and banned by account, by the teacher.
# A shared account's class sits at the name, password or fingerprint prompt together at the
# start of a lesson (unfinished all that time): 64 lets a class of that size in at once, while
# one script still holds at most a quarter of the machine's 256.
MAX_PENDING_PER_ACCOUNT = 64
# The "account" of a loopback connection whose other end was closed or reset before the server
# accepted it (transport.account_at_once: no process holds it, so its user is no longer said).
# Counted as an account of its own, not as the machine: a script closing each connection at once
# cannot spend the class's new connections a minute by hiding whose they were.
PEER_GONE = -1

REFUSALS_SUMMED_SECONDS = 5.0  # a storm's refusals are logged as the first, then a count after this long
HOST_TOLD_SECONDS = 60.0  # the host is told of refused connections from one address at most once in this long
HOST_TOLD_GROUPS = 3  # address groups named on the host's screen in HOST_TOLD_SECONDS; the others' refusals are summed up

EPSILON = 1e-9  # tokens: a clock stepped by thirds must not lose a token to rounding

HELLO_SECONDS = 20.0
FRAME_SECONDS = 10.0
# Once the server has asked the person for the room's password (a challenge with a salt: the
# client asks for it then), they are at a prompt, and 20 s from connecting cut a student typing it
# off the board ("no hello within 20 s", though the hello came): the deadline is then
# PROMPT_SECONDS from the question, never more than HANDSHAKE_CEILING from connecting (a script
# sending hello after hello holds a slot no longer). So is a person at nc asked "name: " (once
# their Enter shows a text participant, textline.TextDoor): 20 s from connecting cut a student
# thinking of a name with "no hello within 20 s". A connection that never says a word is no such
# question (a script, or nc left unattended: 20 s, as before), nor is a refused name: refused
# hellos as fast as a script sends them must not hold a connection (test_abuse_server).
PROMPT_SECONDS = 120.0
HANDSHAKE_CEILING = 300.0


def rounded_wait(seconds: float) -> float:
    """A wait as a refusal tells it (Error.retry_after): rounded up to the millisecond, so a
    client that waits what it is told, counted from when it reads the refusal, always comes
    back at or after the time the server keeps (_Sender.retry_at)."""
    return math.ceil(seconds * 1000.0 - EPSILON) / 1000.0


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` a second; ``take`` spends one if there is one."""

    __slots__ = ("capacity", "rate", "tokens", "stamp")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = float(capacity)
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)

    def take(self, now: float, cost: float = 1.0) -> bool:
        if now > self.stamp:  # refill(now), inline: every counted request of a person comes here
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        if self.tokens >= cost - EPSILON:
            self.tokens = max(0.0, self.tokens - cost)
            return True
        return False

    def spend(self, now: float, cost: float) -> bool:
        """Spend ``cost`` tokens for work already done, into debt if need be (refilled before
        the next ``take`` succeeds); False when the bucket is in debt or empty now."""
        self.refill(now)
        self.tokens -= cost
        return self.tokens > EPSILON

    def seconds_until(self, now: float, tokens: float = 1.0) -> float:
        """How long until ``tokens`` are there (0 when they already are)."""
        self.refill(now)
        missing = min(tokens, self.capacity) - self.tokens
        return 0.0 if missing <= EPSILON else missing / self.rate

    def is_full(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= self.capacity - EPSILON


@dataclass(frozen=True)
class Verdict:
    """What to do with one request: ``action`` is OK, SLOW_DOWN, STOP_READING or DISCONNECT.

    ``retry_after`` (seconds) says when a token will be there; ``resume_at`` is when a paused
    participant is read again (STOP_READING)."""

    action: str
    retry_after: float = 0.0
    resume_at: float | None = None
    shared: bool = False  # refused by the bucket of the sender's address group (SharedBucket), not their own

    @property
    def allowed(self) -> bool:
        return self.action == OK


_OK = Verdict(OK)


class SharedBucket:
    """The flood allowance everyone joined from one address group shares (ADDRESS_SHARE people's),
    and who used it lately: a count per person key, each line fading over SHARE_MEMORY_SECONDS.
    Counts grow by exp(t / SHARE_MEMORY_SECONDS) instead of all decaying: one exp a line, only
    their ratios matter, and the heaviest is a running maximum; rescaled (RESCALE_SECONDS) before
    the exp of a long gap could overflow. Empty, it refuses only heavy senders' lines (``admit``)."""

    __slots__ = ("bucket", "use", "heaviest", "origin")

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.bucket = TokenBucket(burst, rate, now)
        self.use: dict[str, float] = {}  # person key -> recent lines, scaled by exp(origin's time)
        self.heaviest = 0.0  # the most recent lines of anyone's, so scaled
        self.origin = now

    def admit(self, key: str, now: float) -> bool | None:
        """One line of ``key``'s (within their own limit): may it go, as far as the group goes?
        Once it is empty, False for a heavy sender's (BUSIEST_SHARE, LIGHT_LINES, LIGHT_SHARE);
        anyone else's goes into debt, and only once SHARED_DEBT is borrowed waits (None: no
        step of their ladder)."""
        if now - self.origin > RESCALE_SECONDS:  # before exp: a line hours after the last must not overflow it
            self._rescale(now)
        weight = math.exp((now - self.origin) / SHARE_MEMORY_SECONDS)
        use = self.use
        mine = use[key] = use.get(key, 0.0) + weight
        if mine > self.heaviest:
            self.heaviest = mine
        if len(use) > MAX_SHARING:
            use = self._forget_faded(weight)  # a new dict: the waiting line's count is taken off it
        bucket = self.bucket
        bucket.refill(now)
        tokens = bucket.tokens
        if tokens >= 1.0 - EPSILON:
            bucket.tokens = tokens - 1.0
            return True
        if _heavy(mine, self.heaviest, weight):
            return False  # counted all the same: one pushing while refused stays heavy
        if tokens < 1.0 - SHARED_DEBT - EPSILON:  # all that may be borrowed is: it waits, not a step of anyone's ladder
            use[key] = mine - weight  # nor counted: a client sending it again does not look heavy
            return None
        bucket.tokens = tokens - 1.0  # a light sender's line goes: the heavy ones wait for the debt to be paid
        return True

    def heavy_senders(self, now: float) -> int:
        """How many of those sharing it are heavy senders now (at least one): the turns a heavy
        one's refusal tells them to wait for (its retry_after), so that those who obey it take
        the tokens in turn and one that comes back sooner is pushing. Refusals only: O(MAX_SHARING)."""
        weight = math.exp((now - self.origin) / SHARE_MEMORY_SECONDS)
        heaviest = self.heaviest
        return max(1, sum(1 for lines in self.use.values() if _heavy(lines, heaviest, weight)))

    def renamed(self, old: str, new: str) -> None:
        """``old``'s recent lines are ``new``'s (a guest's /nick): a new name is no fresh count."""
        lines = self.use.pop(old, None)
        if lines is not None:
            self.use[new] = max(lines, self.use.get(new, 0.0))

    def is_idle(self, now: float) -> bool:
        return self.bucket.is_full(now)

    def _rescale(self, now: float) -> None:
        """Counts scaled to ``now`` instead of ``origin``: exp of minus the gap, however long,
        only ever underflows to nothing (what a count faded for hours is)."""
        fade = math.exp((self.origin - now) / SHARE_MEMORY_SECONDS)
        self.use = {key: lines * fade for key, lines in self.use.items() if lines * fade > 1e-6}
        self.heaviest *= fade
        self.origin = now

    def _forget_faded(self, weight: float) -> dict[str, float]:
        """Over MAX_SHARING people: those whose lines faded below a hundredth of one go; then, if
        still too many, the least busy half. Returns the counts kept (``use`` from now on)."""
        kept = {key: lines for key, lines in self.use.items() if lines >= weight / 100}
        if len(kept) > MAX_SHARING:
            kept = dict(sorted(kept.items(), key=lambda item: item[1])[len(kept) // 2 :])
        self.use = kept
        return kept


def _heavy(lines: float, heaviest: float, weight: float) -> bool:
    """SharedBucket's rule for a heavy sender (all three counts scaled by the same ``weight``):
    at least BUSIEST_SHARE of the busiest's lines, or more than LIGHT_LINES and LIGHT_SHARE of them."""
    return lines >= heaviest * BUSIEST_SHARE or (lines > LIGHT_LINES * weight and lines >= heaviest * LIGHT_SHARE)


class _Sender:
    __slots__ = ("bucket", "refusals", "pauses", "retry_at", "behind_until", "behind")

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self.refusals = 0  # refused in a row since the last accepted request
        self.pauses: list[float] = []  # when the recent pauses began
        # when the last refusal (since the last accepted request) said to try again (its
        # retry_after): a request refused from then on obeyed it, and is no step of the ladder
        self.retry_at = -math.inf
        # until when their lines wait behind one the shared bucket made wait (a light sender's,
        # SharedBucket.admit None), and how many were refused so: those sent before the client
        # read that refusal must not overtake the one it sends again (check)
        self.behind_until = -math.inf
        self.behind = 0


class FloodControl:
    """Per-participant flood control. Keyed by whatever names a participant across
    reconnections (the name key, or an identity key): leaving and coming back does not
    refill the bucket."""

    def __init__(
        self,
        *,
        burst: int = DEFAULT_BURST,
        rate: float = DEFAULT_RATE,
        slow_downs_before_pause: int = SLOW_DOWNS_BEFORE_PAUSE,
        pauses_before_disconnect: float = PAUSES_BEFORE_DISCONNECT,  # math.inf: pauses only, never a disconnect
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        if burst < 1 or rate <= 0:
            raise ValueError("a flood limit needs a burst of at least 1 and a positive rate")
        self.burst = burst
        self.rate = rate
        self.slow_downs_before_pause = slow_downs_before_pause
        self.pauses_before_disconnect = pauses_before_disconnect
        self.max_tracked = max_tracked
        self.allowances: dict[str, tuple[int, float] | None] = {}  # key -> (burst, rate); None: no limit
        self._senders: OrderedDict[str, _Sender] = OrderedDict()

    def allow(self, key: str, *, burst: int | None = None, rate: float | None = None, unlimited: bool = False) -> None:
        """A different allowance for ``key`` (an operator, a bot), or none at all."""
        self.allowances[key] = None if unlimited else (burst or self.burst, rate or self.rate)
        self._senders.pop(key, None)

    def allowance(self, key: str) -> tuple[int, float] | None:
        """``key``'s (burst, rate), told in its welcome; None: no limit holds for it."""
        return self.allowances.get(key, (self.burst, self.rate))

    def tokens_left(self, key: str, now: float) -> int:
        """How many requests ``key`` may make at once now, told in its welcome (a new session
        of someone who just spent their burst must not start as if it were full). Whole ones:
        a part of a token allows nothing yet."""
        sender = self._senders.get(key)
        if sender is None:
            allowance = self.allowance(key)
            return allowance[0] if allowance is not None else 0
        sender.bucket.refill(now)
        return int(math.floor(sender.bucket.tokens + EPSILON))

    def check(self, key: str, now: float, cost: float = 1.0, shared: SharedBucket | None = None) -> Verdict:
        """One request by ``key`` at ``now``: may it go through, and if not, what next.
        ``shared``: the bucket ``key``'s address group shares, asked once ``key``'s own allows
        it; its refusal gives ``key``'s token back and climbs ``key``'s ladder as their own would."""
        sender = self._senders.get(key)
        if sender is None:
            allowance = self.allowance(key)
            if allowance is None:
                return _OK
            self._forget_refilled(now)
            sender = self._senders[key] = _Sender(TokenBucket(allowance[0], allowance[1], now))
        else:  # a bucket is made under its key's allowance, and allow() drops it: no lookup here
            self._senders.move_to_end(key)
        own = sender.bucket
        if own.take(now, cost):
            if shared is not None and sender.behind_until > now + RETRY_GRACE and sender.behind < BEHIND_MOST:
                # an earlier line of theirs was made to wait: this one waits too (they will send
                # both again, in order), neither counted nor a step of their ladder
                own.tokens = min(own.capacity, own.tokens + cost)
                sender.behind += 1
                return Verdict(SLOW_DOWN, retry_after=rounded_wait(sender.behind_until - now), shared=True)
            if shared is None or (admitted := shared.admit(key, now)):
                sender.refusals = 0
                if sender.retry_at != -math.inf:  # a refusal's wait is over: the next one's counts afresh
                    sender.retry_at = -math.inf
                return _OK
            own.tokens = min(own.capacity, own.tokens + cost)  # not sent: not spent
            if admitted is None:  # not a heavy sender's: told to wait, but no step of their ladder
                wait = rounded_wait(shared.bucket.seconds_until(now, cost))
                sender.retry_at = max(sender.retry_at, now + wait)
                if sender.behind_until <= now + RETRY_GRACE:  # one sent within the last one's wait, past
                    sender.behind_until, sender.behind = now + wait, 0  # BEHIND_MOST, is pushing: no fresh batch
                return Verdict(SLOW_DOWN, retry_after=wait, shared=True)
            return self._refused(sender, shared.bucket, now, cost * shared.heavy_senders(now), shared=True)
        return self._refused(sender, own, now, cost)

    def _refused(self, sender: _Sender, bucket: TokenBucket, now: float, cost: float, *, shared: bool = False) -> Verdict:
        """``sender``'s request refused by ``bucket`` (their own, or their address group's): the
        next step of their ladder, unless it came once the last refusal's retry_after was up
        (obeying it, as a pacing client does: refused again, told when to try next, no step).
        ``cost``: the tokens to wait for (a shared bucket's: one for each heavy sender there)."""
        wait = rounded_wait(bucket.seconds_until(now, cost))
        obeyed = now + RETRY_GRACE >= sender.retry_at > -math.inf
        if not obeyed:
            sender.refusals += 1
        if obeyed or sender.refusals <= self.slow_downs_before_pause:
            sender.retry_at = max(sender.retry_at, now + wait)
            return Verdict(SLOW_DOWN, retry_after=wait, shared=shared)
        # Still pushing after being told: stop reading until the bucket is full again.
        sender.refusals = 0
        sender.pauses = [t for t in sender.pauses if now - t < PAUSE_MEMORY_SECONDS] + [now]
        if len(sender.pauses) > self.pauses_before_disconnect:
            return Verdict(DISCONNECT, retry_after=wait, shared=shared)
        resume_at = now + bucket.seconds_until(now, bucket.capacity)
        sender.retry_at = resume_at  # nothing is read before then anyway
        return Verdict(STOP_READING, retry_after=rounded_wait(resume_at - now), resume_at=resume_at, shared=shared)

    def renamed(self, old: str, new: str, now: float) -> None:
        """The participant counted as ``old`` is ``new`` now (a guest's /nick: their name is their
        key): the bucket, with its refusals and pauses, goes with them, so a new name is no fresh
        burst. If ``new`` still has one (a name given up a moment ago), the emptier one is kept."""
        sender = self._senders.pop(old, None)
        if sender is None:
            return
        there = self._senders.get(new)
        if there is not None:
            there.bucket.refill(now)
            sender.bucket.refill(now)
            if there.bucket.tokens <= sender.bucket.tokens:
                return
        self._senders[new] = sender
        self._senders.move_to_end(new)

    def forget(self, key: str, now: float) -> None:
        """``key`` left: keep its bucket only while it still matters (not yet refilled)."""
        sender = self._senders.get(key)
        if sender is not None and sender.bucket.is_full(now) and not sender.pauses:
            del self._senders[key]

    def _forget_refilled(self, now: float) -> None:
        if len(self._senders) < self.max_tracked:
            return
        for key in [k for k, s in self._senders.items() if s.bucket.is_full(now)]:
            del self._senders[key]
        while len(self._senders) >= self.max_tracked:  # all busy: the least recently seen goes
            self._senders.popitem(last=False)

    def __len__(self) -> int:
        return len(self._senders)


# ------------------------------------------------------------------ connections


# IPv6 addresses that only a local network uses: link-local (every machine on the link is in
# fe80::/64) and unique local (a site's LAN is one /64 of fd00::/8). Counted one by one, as IPv4.
_LAN_ONLY = (ipaddress.IPv6Network("fe80::/10"), ipaddress.IPv6Network("fc00::/7"))

OnLink = tuple[ipaddress.IPv6Network, ...]  # the server's own IPv6 networks (netinfo.local_networks)
REFRESH_SECONDS = 60.0  # AddressGroups asks again what networks the server is on at most this often
MAX_REMEMBERED = 4096  # addresses whose group AddressGroups remembers (bounded memory)


def address_group(address: str, on_link: Iterable[ipaddress.IPv6Network] = ()) -> str:
    """The unit connection limits, bans and mutes count: an IPv4 address; a global IPv6 /64 (one
    machine may hold a whole /64 on the internet); one link-local, unique local, or ``on_link``
    IPv6 address (on the server's own LAN the /64 is the whole class: one machine, one address);
    ``local`` for loopback, AF_UNIX or an IPv4-mapped loopback. ``on_link``: the IPv6 networks
    the server's interfaces are on, passed in (netinfo.local_networks reads them)."""
    ip = _ip(address)
    if ip is None:
        return "local" if _is_local_name(address) else address
    if ip.is_loopback:
        return "local"
    if isinstance(ip, ipaddress.IPv6Address) and not _one_by_one(ip, on_link):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def group_matches(group: str, address: str) -> bool:
    """Whether a connection from ``address`` is in ``group``, as a ban or mute stored it: the
    same address, or inside a stored network. A /64 written by an older version (or for a
    machine off the server's LAN) still holds that whole /64, wherever the server is now."""
    ip = _ip(address)
    if ip is None:
        return group == address_group(address)
    if "/" not in group:
        return str(ip) == group
    network = _network(group)
    return network is not None and ip.version == network.version and ip in network


class AddressGroups:
    """``address_group`` for one server run: the on-link networks it was given, asked for again
    (``refresh``, the I/O edge's netinfo.local_networks) when an address from a global IPv6
    /64 it is not on arrives, at most every ``refresh_seconds`` of ``clock``, so a server that
    started before its LAN's prefix came up learns it. Groups are remembered per address (a
    dict lookup per message for mutes); a refresh that changes the networks forgets them."""

    def __init__(
        self,
        on_link: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network] = (),
        *,
        refresh: Callable[[], Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]] | None = None,
        clock: Callable[[], float] | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
        max_remembered: int = MAX_REMEMBERED,
    ) -> None:
        self.on_link: OnLink = _ipv6_only(on_link)
        self.refresh = refresh
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.max_remembered = max_remembered
        self.next_refresh = -math.inf  # the first stranger may ask at once
        self._groups: dict[str, str] = {}

    def group(self, address: str) -> str:
        """``address``'s group (``address_group`` with the networks known now)."""
        group = self._groups.get(address)
        if group is None:
            group = address_group(address, self.on_link)
            if group.endswith("/64") and self._refreshed():
                group = address_group(address, self.on_link)
            if len(self._groups) >= self.max_remembered:
                del self._groups[next(iter(self._groups))]  # the oldest goes
            self._groups[address] = group
        return group

    def _refreshed(self) -> bool:
        """Ask for the networks again if it is time; True when they changed."""
        if self.refresh is None or self.clock is None or self.clock() < self.next_refresh:
            return False
        self.next_refresh = self.clock() + self.refresh_seconds
        on_link = _ipv6_only(self.refresh())
        if on_link == self.on_link or not on_link:
            return False  # none at all: psutil failing or a link bouncing; a /ban then would hold the LAN's /64
        self.on_link = on_link
        self._groups.clear()
        return True


def _ipv6_only(networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> OnLink:
    """The global IPv6 networks among ``networks`` (IPv4, link-local and ULA need none), each a
    /64 or longer: a LAN is a /64, and a wider prefix on an interface (a netmask of '::' read as
    ::/0, a 6to4 tunnel's /16, an overlay's /7) would make strangers' addresses count one by one."""
    return tuple(
        sorted(
            {n for n in networks if isinstance(n, ipaddress.IPv6Network) and n.prefixlen >= 64 and not n.is_loopback
             and not any(n.subnet_of(lan) for lan in _LAN_ONLY)},
            key=str,
        )
    )  # fmt: skip


def _one_by_one(ip: ipaddress.IPv6Address, on_link: Iterable[ipaddress.IPv6Network]) -> bool:
    return any(ip in lan for lan in _LAN_ONLY) or any(ip in net for net in on_link)


def _is_local_name(address: str) -> bool:
    return not address or address.startswith("/") or address in ("unix", "local")


@functools.lru_cache(maxsize=4096)  # asked per message when a mute holds: bounded
def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as an IP (scope dropped, IPv4-mapped unmapped); None when it is not one."""
    if _is_local_name(address):
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@functools.lru_cache(maxsize=256)
def _network(group: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(group, strict=False)
    except ValueError:
        return None


AT_ONCE = "at-once"  # Refusal.rule: too many connections open from one address group
PER_MINUTE = "per-minute"  # too many new ones this minute
PENDING = "pending"  # too many not yet welcomed from one Unix account on this machine
# The log's word on the first AT_ONCE refusal of a storm from another machine's address: a class
# behind a school's NAT is one address, and only the teacher can raise its cap (serve's option).
AT_ONCE_HINT = " (a class behind one address? serve --max-per-address N raises the cap)"
# What the one refused is told to do. This machine's: its own connections (a script's). Another
# machine's address may be a school's NAT that the class shares: the 17th student there has one
# connection to close, none, and was told to "close some"; only the host can let them in.
AT_ONCE_LOCAL = "close some and try again"
AT_ONCE_SHARED = ("close some and try again; if your class shares this address (one school network behind its "
                  "router), ask the host to raise the cap: serve --max-per-address N")


def account_name(account: int) -> str:
    """How logs and refusals name a Unix account on this machine (or PEER_GONE's connections)."""
    return f"user {account} on this machine" if account != PEER_GONE else "this machine, closed before it was accepted"


@dataclass(frozen=True)
class Counted:
    """How a connection was counted at its accept, to release it by: the address ``group``
    (``""``: not counted, limits off) and the Unix ``account`` whose unfinished connections it
    is one of (None: not counted so; ``ConnectionLimits.settled`` once welcomed or gone)."""

    group: str
    account: int | None = None
    # over the group's new connections a minute, let in on credit: the refusal its hello may
    # still earn (guard.Guard.refused_on_credit); None: counted as any other
    credit: Refusal | None = None


UNCOUNTED = Counted("")


@dataclass(frozen=True)
class Refusal:
    """Why a connection is refused: ``rule`` to decide by, ``why`` for the server log, and
    ``text`` (why, then what to do) for the peer's fatal ``too-many-connections`` error."""

    rule: str
    why: str
    advice: str

    @property
    def text(self) -> str:
        return f"{self.why}; {self.advice}"


class ConnectionLimits:
    """Concurrent and new connections per address group (``groups``: AddressGroups)."""

    def __init__(
        self,
        *,
        max_per_address: int = MAX_PER_ADDRESS,
        max_per_local: int = MAX_PER_LOCAL,
        new_per_minute: int = NEW_PER_MINUTE,
        new_per_minute_local: int = NEW_PER_MINUTE_LOCAL,
        max_pending_per_account: int = MAX_PENDING_PER_ACCOUNT,
        max_tracked: int = MAX_TRACKED,
        groups: AddressGroups | None = None,
    ) -> None:
        self.groups = groups if groups is not None else AddressGroups()
        self.max_pending_per_account = max_pending_per_account
        self.max_per_address = max_per_address
        self.max_per_local = max_per_local
        self.new_per_minute = new_per_minute
        self.new_per_minute_local = new_per_minute_local
        self.max_tracked = max_tracked
        self.open: dict[str, int] = {}
        self.pending: dict[int, int] = {}  # Unix account -> its connections not yet welcomed (check's ``account``)
        self._arrivals: OrderedDict[str, TokenBucket] = OrderedDict()

    def admit(self, address: str, now: float) -> str | None:
        """A new connection from ``address``: None to accept it (counted until ``release``),
        or the one-line reason to refuse it with."""
        refusal = self.check(address, now)
        return None if refusal is None else refusal.text

    def check(self, address: str, now: float, *, group: str | None = None, account: int | None = None) -> Refusal | None:
        """``admit``, with the refusal's rule (AT_ONCE, PER_MINUTE, PENDING) to decide by.
        ``group``: ``address``'s, when the caller keeps it (the same one must go to ``release``).
        ``account``: a Unix account on this machine whose unfinished connections are capped (the
        caller's choice: not the server's own); counted until ``settled``, and its new ones a
        minute are its own, not the machine's. Checked first: a refused one spends none of them."""
        if account is not None and self.pending.get(account, 0) >= self.max_pending_per_account:
            cap = self.max_pending_per_account
            why = f"too many unfinished connections from {account_name(account)} ({cap} at once)"
            return Refusal(PENDING, why, "finish joining with one or close some, then try again")
        if group is None:
            group = self.groups.group(address)
        local = group == LOCAL
        cap = self.max_per_local if local else self.max_per_address
        if self.open.get(group, 0) >= cap:
            where = "this machine" if local else f"address {group}"
            return Refusal(AT_ONCE, f"too many connections from {where} ({cap} at once)", AT_ONCE_LOCAL if local else AT_ONCE_SHARED)
        per_minute = self.new_per_minute_local if local else self.new_per_minute
        # An account's new connections are its own a minute, not the machine's: a script
        # opening and closing them as fast as it may cannot spend the class's.
        bucket = self._arrivals_of(group if account is None else f"user {account}", per_minute, now)
        if not bucket.take(now):
            wait = max(1, round(bucket.seconds_until(now)))
            where = group if not local else "this machine" if account is None else account_name(account)
            return Refusal(PER_MINUTE, f"too many new connections from {where} ({per_minute} a minute)", f"try again in {wait} s")
        self.open[group] = self.open.get(group, 0) + 1
        if account is not None:
            self.pending[account] = self.pending.get(account, 0) + 1
        return None

    def _arrivals_of(self, arrivals: str, per_minute: int, now: float) -> TokenBucket:
        """The new connections a minute of ``arrivals`` (an address group, "user N", "key K")."""
        bucket = self._arrivals.get(arrivals)
        if bucket is None:
            self._forget_refilled(now)
            bucket = self._arrivals[arrivals] = TokenBucket(per_minute, per_minute / 60.0, now)
        else:
            self._arrivals.move_to_end(arrivals)
        return bucket

    def key_credit(self, key: str, now: float) -> bool:
        """A connection let in on credit (``on_credit``) shows identity ``key`` (a key_id the room
        has seen join): may it go on to the challenge? Each key has new connections a minute of its
        own, as another machine's address has, taken here; given back (``key_credit_back``) by one
        not welcomed, so a script showing someone else's key, which it cannot prove, spends none
        of theirs for good. Its own key, seen, let a student's script join 600 times a second."""
        return self._arrivals_of(f"key {key}", self.new_per_minute, now).take(now)

    def key_credit_back(self, key: str) -> None:
        """A connection ``key_credit`` let go on was not welcomed: its new connection is the key's again."""
        bucket = self._arrivals.get(f"key {key}")
        if bucket is not None:
            bucket.tokens = min(bucket.capacity, bucket.tokens + 1.0)

    def on_credit(self, group: str) -> None:
        """A connection ``check`` refused for ``group``'s new ones a minute, let in on credit all the
        same (guard.Guard): counted among the group's at once until ``release``, spending none of
        its new ones. Another machine's only: its hello must show an identity key the room knows."""
        self.open[group] = self.open.get(group, 0) + 1

    def settled(self, account: int) -> None:
        """A connection ``check`` counted as unfinished for ``account`` was welcomed, or closed first."""
        left = self.pending.get(account, 0) - 1
        if left > 0:
            self.pending[account] = left
        else:
            self.pending.pop(account, None)

    def release(self, address: str, *, group: str | None = None, account: int | None = None) -> None:
        """A connection that ``admit`` accepted has closed. ``group``: the one it was counted
        under (the networks may have changed since, and with them ``address``'s group);
        ``account``: the one it was unfinished for, if not ``settled`` yet."""
        if account is not None:
            self.settled(account)
        if group is None:
            group = self.groups.group(address)
        left = self.open.get(group, 0) - 1
        if left > 0:
            self.open[group] = left
        else:
            self.open.pop(group, None)

    def _forget_refilled(self, now: float) -> None:
        if len(self._arrivals) < self.max_tracked:
            return
        for group in [g for g, b in self._arrivals.items() if b.is_full(now)]:
            del self._arrivals[group]
        while len(self._arrivals) >= self.max_tracked:
            self._arrivals.popitem(last=False)


class _Storm:
    __slots__ = ("ends", "who", "why", "more")

    def __init__(self, ends: float, who: str, why: str) -> None:
        self.ends = ends  # the refusals until then are counted, not logged
        self.who = who  # the address refused first
        self.why = why
        self.more = 0


class RefusalLog:
    """What the server log says of refused connections: a line per storm, not per connection.

    The first refusal from an address group under one rule is logged in full; the others within
    ``seconds`` of it are only counted, and one line says how many once that time is up
    (``due``), so a storm of 2,000 connections writes a few lines, not 1,800. Every refused
    connection still gets its own fatal error: only the log is summed up."""

    def __init__(
        self, *, seconds: float = REFUSALS_SUMMED_SECONDS, max_tracked: int = MAX_TRACKED, groups: AddressGroups | None = None
    ) -> None:
        self.groups = groups if groups is not None else AddressGroups()
        self.seconds = seconds
        self.max_tracked = max_tracked
        # (address group, rule) -> the storm counted. Public so the hub's per-pass check is one
        # truth test: empty, nothing is due here (hub_timers.Expiry.expire and next_deadline).
        self.storms: dict[tuple[str, str], _Storm] = {}

    def refused(self, address: str, shown: str, refusal: Refusal, now: float, *, group: str | None = None) -> list[str]:
        """A connection from ``address`` (``shown`` in the log, e.g. with its port) is refused:
        the lines to log now, often none. ``group``: whose storm it is, if not ``address``'s
        (a Unix account on this machine: two students' scripts are two storms). A storm's first
        refusal for too many at once from another machine's address says how the teacher lets a
        class behind one address (a school's NAT) in."""
        key = (group if group is not None else self.groups.group(address), refusal.rule)
        hint = AT_ONCE_HINT if refusal.rule == AT_ONCE and key[0] != LOCAL else ""
        storm = self.storms.get(key)
        if storm is not None and now < storm.ends:
            storm.more += 1
            return []
        lines = self._ended(key, storm)
        if len(self.storms) < self.max_tracked:  # beyond: each logged in full, memory bounded
            self.storms[key] = _Storm(now + self.seconds, address, refusal.why)
        said = refusal.text if not hint else f"{refusal.why}; {AT_ONCE_LOCAL}"  # (the host's own words: the hint)
        return [*lines, f"{shown}: {said}; refusing{hint}"]

    def next_due(self) -> float | None:
        """When a storm's count is to be logged (None: no storm)."""
        return min(storm.ends for storm in self.storms.values()) if self.storms else None

    def due(self, now: float) -> list[str]:
        """The counts of the storms whose time is up (all of them at ``math.inf``), as log lines."""
        lines: list[str] = []
        for key in [key for key, storm in self.storms.items() if storm.ends <= now]:
            lines += self._ended(key, self.storms[key])
        return lines

    def _ended(self, key: tuple[str, str], storm: _Storm | None) -> list[str]:
        if storm is None:
            return []
        del self.storms[key]
        if not storm.more:
            return []
        more = f"{storm.more} more connection{'s' if storm.more != 1 else ''}"
        return [f"{storm.who}: {more} refused within {self.seconds:g} s of the first ({storm.why})"]


@dataclass(frozen=True)
class HostNotice:
    """What one notice to the host stands for: ``count`` refusals, from ``groups`` address groups."""

    count: int
    groups: int = 1


class HostNotices:
    """When the host's screen is told that connections were refused at the door (too many at once or
    a minute from one address group): the first refusal from a group, then at most one notice in
    ``seconds``, standing for every refusal since the last. Only the server log said so: 25
    students behind a school's NAT, nine of them refused as the 17th and later, and the teacher
    saw a class of sixteen and nothing more. A script's storm is one line a minute, not a line a try.
    And at most ``most_groups`` groups are told of in ``seconds``: a laptop given 24 IPv6 addresses
    (each its own group on the LAN's /64, or a /64 each) had each refused once, and 24 notices in a
    second pushed the lesson off the projector. The other groups' refusals wait, summed up, and the
    next notice tells them with its own (``HostNotice.groups``: how many groups it stands for)."""

    def __init__(self, *, seconds: float = HOST_TOLD_SECONDS, max_tracked: int = MAX_TRACKED, most_groups: int = HOST_TOLD_GROUPS) -> None:
        self.seconds, self.max_tracked, self.most_groups = seconds, max_tracked, most_groups
        self.told: dict[str, tuple[float, int]] = {}  # group -> (when last told, refusals since, untold)
        self.recent: deque[float] = deque()  # when the last notices (at most most_groups) were told
        self.waiting = 0  # refusals of groups not told of: most_groups were, in the last ``seconds``
        self.waiting_groups: set[str] = set()  # ... and their groups (at most max_tracked)

    def refused(self, group: str, now: float, *, urgent: bool = False) -> HostNotice | None:
        """A connection from ``group`` was refused: what to tell the host of now (this one and the
        untold ones before it), or None to say nothing yet. ``urgent`` (a lock starting: gate.py)
        is told within the group's minute too, still one of the few groups' notices a minute."""
        last = self.told.get(group)
        if last is not None and now - last[0] < self.seconds and not urgent:
            self.told[group] = (last[0], last[1] + 1)
            return None
        untold = 1 + (last[1] if last is not None else 0)
        self.told.pop(group, None)
        while self.recent and now - self.recent[0] >= self.seconds:
            self.recent.popleft()
        if len(self.recent) >= self.most_groups:  # groups enough told of this minute: summed up, told later
            self.waiting += untold
            if len(self.waiting_groups) < self.max_tracked:
                self.waiting_groups.add(group)
            return None
        if len(self.told) >= self.max_tracked:  # memory bounded: the oldest goes
            del self.told[next(iter(self.told))]
        self.told[group] = (now, 0)
        self.recent.append(now)
        told = HostNotice(untold + self.waiting, 1 + len(self.waiting_groups - {group}))
        self.waiting, self.waiting_groups = 0, set()
        return told


# ------------------------------------------------------------------ deadlines

HELLO = "hello"
FRAME = "frame"
PROMPTED = "prompted"  # (only as expired()'s kind: a hello deadline after the room asked a person something)
# What the person was asked (Deadlines.prompted), for the words when its time runs out: the room's
# password (a challenge with a salt, or a text participant's "password: "), or a text
# participant's "name: " (textline.TextDoor: a person at nc, where "hello" means nothing).
PASSWORD_ASKED = "password"
NAME_ASKED = "name"


def asked_for(seconds: float) -> str:
    """The time a person had to answer, as they read it: 120 -> "2 min", 90 -> "90 s", 1.5 -> "1.5 s"."""
    seconds = round(seconds) if seconds >= 10 else round(seconds, 1)
    return f"{seconds // 60:.0f} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


class Deadlines:
    """Per-connection deadlines that later bytes never restart.

    The loop calls ``connected`` when it accepts, ``joined`` after the welcome, ``progress``
    after each read with whether a frame is left half-received, ``closed`` at the end, and
    ``expired(now)`` to learn whom to close and why. ``next_due`` bounds its select timeout.
    """

    def __init__(
        self, *, hello_seconds: float = HELLO_SECONDS, frame_seconds: float = FRAME_SECONDS, prompt_seconds: float = PROMPT_SECONDS
    ) -> None:
        self.hello_seconds = hello_seconds
        self.frame_seconds = frame_seconds
        self.prompt_seconds = prompt_seconds
        # connection -> (when it connected, what it was last asked, when), once asked something (prompted)
        self.prompted_at: dict[int, tuple[float, str, float]] = {}
        # connection -> when its hello, or its frame begun, is due. Read (never written) by the
        # hub after every read: a dict lookup instead of a call (hub.Hub.receive_data).
        self.hello_due: dict[int, float] = {}
        self.frame_due: dict[int, float] = {}
        # (due, connection, kind), stale entries included (dropped when met). Public so the
        # hub's per-pass check is one truth test: empty, nothing can be due (hub_timers.Expiry.expire).
        self.heap: list[tuple[float, int, str]] = []

    def connected(self, cid: int, now: float) -> None:
        due = now + self.hello_seconds
        self.hello_due[cid] = due
        heapq.heappush(self.heap, (due, cid, HELLO))

    def joined(self, cid: int) -> None:
        self.hello_due.pop(cid, None)
        if self.prompted_at:
            self.prompted_at.pop(cid, None)

    def prompted(self, cid: int, now: float, seconds: float | None = None, *, question: str = PASSWORD_ASKED) -> None:
        """The server asked ``cid``'s person something before letting them in (``question``: the
        room's password, or a text participant's name): its hello deadline is ``seconds``
        (gate.PromptTimes: 0 for an address whose prompts went unanswered), at most
        ``prompt_seconds``, from now, at most HANDSHAKE_CEILING (and never less than
        ``hello_seconds``) from connecting; unanswered, it says so (PROMPTED)."""
        due = self.hello_due.get(cid)
        if due is None:
            return
        connected = self.prompted_at[cid][0] if cid in self.prompted_at else due - self.hello_seconds
        self.prompted_at[cid] = (connected, question, now)
        wait = self.prompt_seconds if seconds is None else min(seconds, self.prompt_seconds)
        later = min(now + wait, connected + max(HANDSHAKE_CEILING, self.hello_seconds))
        if later > due:
            self.hello_due[cid] = later
            heapq.heappush(self.heap, (later, cid, HELLO))

    def awaiting_hello(self, cid: int) -> bool:
        return cid in self.hello_due

    def finished(self, cid: int) -> None:
        """After a read that left no frame half-received (the common case: no clock needed)."""
        if self.frame_due:
            self.frame_due.pop(cid, None)

    def progress(self, cid: int, now: float, *, partial_frame: bool) -> None:
        """After a read: is a frame left half-received? Its clock starts at its first byte."""
        if not partial_frame:
            self.frame_due.pop(cid, None)
        elif cid not in self.frame_due:
            due = now + self.frame_seconds
            self.frame_due[cid] = due
            heapq.heappush(self.heap, (due, cid, FRAME))

    def closed(self, cid: int) -> None:
        self.hello_due.pop(cid, None)
        self.frame_due.pop(cid, None)
        self.prompted_at.pop(cid, None)

    def next_due(self) -> float | None:
        """The earliest deadline still pending (stale heap entries are dropped on the way)."""
        while self.heap:
            due, cid, kind = self.heap[0]
            if self._current(cid, kind) == due:
                return due
            heapq.heappop(self.heap)
        return None

    def expired(self, now: float) -> list[tuple[int, str, str]]:
        """Connections past a deadline, each with which (HELLO: no hello ever came; PROMPTED: the
        room's question was not answered in time; FRAME) and the reason to close it with (once each)."""
        out: list[tuple[int, str, str]] = []
        while self.heap and self.heap[0][0] <= now:
            due, cid, kind = heapq.heappop(self.heap)
            if self._current(cid, kind) != due:
                continue  # that frame finished, or the connection joined or closed
            asked = self.prompted_at.get(cid)
            self.closed(cid)
            if kind == HELLO and asked is not None:  # asked something (prompted): not answered in time
                out.append((cid, PROMPTED, _unanswered(due, *asked)))
            elif kind == HELLO:
                out.append((cid, HELLO, f'no "hello" within {self.hello_seconds:g} seconds of connecting'))
            else:
                out.append((cid, FRAME, f"a frame was started but not finished within {self.frame_seconds:g} seconds"))
        return out

    def _current(self, cid: int, kind: str) -> float | None:
        return (self.hello_due if kind == HELLO else self.frame_due).get(cid)

    def __len__(self) -> int:
        return len(self.hello_due) + len(self.frame_due)


def _unanswered(due: float, _connected: float, question: str, asked: float) -> str:
    """Why a connection asked ``question`` at ``asked`` is closed at ``due`` (Deadlines.expired):
    a person at nc reads it, and "hello" means nothing there (PROTOCOL.md, Abuse limits: Deadlines).
    The time said is the question's, from when it was asked (as the person saw it): the password's
    said "not joined within 2 seconds of connecting", a time nobody at nc saw start. (lanchat's
    client reads the code, deadline, and joins again with the password typed late.)"""
    given = "name" if question == NAME_ASKED else "password"
    return f"no {given} given within {asked_for(due - asked)}; connect again to join"
