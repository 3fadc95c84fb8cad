"""guard.py: the abuse limits as the hub applies them: flood control, pauses, congestion. Never touches a socket.

limits.py decides (a token bucket, connection caps); the Guard acts on the hub's connections:
a flooder is told to slow down, then not read until its bucket refills (``set_reading``: the
kernel's buffers fill and the sender's own writes block), then disconnected; the frames it does
not count (typing, upload pieces) are read within a budget per connection, past which the
connection is paused the same way, silently; a reader whose queue
grows slows the senders that fed it before anyone is dropped; a reader whose waiting frames take
no byte for NOT_READING_SECONDS is dropped (docs/PROTOCOL.md, "Abuse limits"; issue 14).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from . import events as ev
from . import limits as lim
from .actions import Send
from .hub_connections import ip_of
from .protocol import Invalid, State
from .wire import HEADER_BYTES, encode_json

if TYPE_CHECKING:
    from .hub import Hub
    from .hub_connections import Peer
    from .room import Member

# What flood control counts (PROTOCOL.md, Abuse limits): messages, whispers, commands and offers.
# File chunks are not: an upload's size is checked when it is offered.
FLOOD_COUNTED: tuple[type, ...] = (
    ev.Say, ev.Whisper, ev.Who, ev.HistoryRequest, ev.Moderate, ev.OfferFile, ev.ListFiles, ev.GetFile, ev.CancelFile,
    ev.Me, ev.Nick, ev.SetAway, ev.SetTopic, ev.WhoIs, ev.Release,  # each a broadcast or an answer
)  # fmt: skip  (typing and an upload's pieces: BUDGETED below)
# A ping is answered too (a pong): counted, so a script pinging flat out is slowed, paused and
# dropped like any flooder; a client pings after 15 s of quiet (PROTOCOL.md, Liveness).
FLOOD_COUNTED += (ev.Ping,)
# What flood control leaves uncounted once a member joined (with ``bye``: nothing follows it): a
# typing hint (one passed on per 3 s, room_social), an upload's pieces and its end. None is
# answered, but each costs a parse and a look: a script sending them as fast as the loopback
# takes them had ~480,000 a second read and the others' lines took 34-144 ms p90 instead of
# 0.05 (bench/cheap_frames_probe.py). So a connection may send UNCOUNTED_BURST of them at once,
# then UNCOUNTED_RATE a second; past that it is not read until UNCOUNTED_RESUME are back: no
# error, nothing lost, the sender's own writes block (back-pressure). Generous for an upload:
# 4,096 full 32 KiB pieces a second is 128 MiB/s, more than a gigabit LAN carries.
BUDGETED: tuple[type, ...] = (ev.Typing, ev.UploadChunk, ev.UploadBytes, ev.UploadDone)
UNCOUNTED_BURST = 1024
UNCOUNTED_RATE = 4096.0
UNCOUNTED_RESUME = 64
# A frame the typed fast path refuses goes to the plain JSON path, some 50 ns a byte: 64 KiB of
# nested lists in a typing hint's unread field cost 3 ms, and 1,024 such hints at once held the
# room for seconds. Such a frame costs its sender's budget a token per SLOW_BYTES_A_TOKEN of its
# bytes past its first KiB (4,032 for 64 KiB: 64 KiB a second, ~3 ms of the loop's), whether it
# is then handled or refused (by flood control too: it was parsed all the same), and before the welcome
# a try per SLOW_BYTES_A_TRY (a 64 KiB hello is 32 of the MAX_FRAMES_BEFORE_WELCOME).
SLOW_BYTES_A_TOKEN = 16
# A flood-counted frame's first SLOW_BYTES_FREE bytes cost nothing so: a line of a newer client's
# with a field this server does not know (PROTOCOL.md: unknown fields are ignored) is read as any
# other. Not a typing hint's or an upload piece's (1,024 at once, uncounted): a ~1 KiB hint of
# nested lists or 1e300s took 61-98 us to read for one token; it pays from its first byte.
SLOW_BYTES_FREE = 1024
SLOW_BYTES_A_TRY = 2048
# Frames one connection may send before its welcome, which flood control does not count: a
# hello, an auth, the names a person at a prompt tries. Past it, a script having names refused
# as fast as it can send them (60,000 a second from one connection, slowing the room's lines a
# hundredfold, with no join for the teacher to see) is closed with a fatal slow-down.
MAX_FRAMES_BEFORE_WELCOME = 32
TOO_MANY_TRIES = "before-welcome"  # its Refusal.rule, for the log's count of a storm
# Says taken at once by the short path when nothing is counted (Hub.say): a pass's worth.
SAYS_AT_ONCE = 512
# A reader with more than this share of max_queue_bytes waiting is congested: the senders that
# fed it are read THROTTLE_SECONDS later, and only one congested for CONGESTION_GRACE_SECONDS
# (not keeping up even then) is dropped.
CONGESTED_SHARE = 2  # half the queue limit: above what a download keeps queued (hub_downloads.FILE_LOW_WATER_BYTES)
THROTTLE_SECONDS = 0.05
CONGESTION_GRACE_SECONDS = 5.0
# A connection with frames waiting that has taken no byte for this long is not reading (a
# script that never reads, a laptop whose buffers are full): it is dropped like a slow reader,
# or closed as lost when its link is gone (hub_connections.LINK_GONE_SECONDS: nothing acknowledged).
NOT_READING_SECONDS = 30.0


# The longest refused frame a slow-down quotes back (its JSON, in bytes): quoted inside the
# error's own JSON it may double (each quote escaped), and the error must stay one frame.
MAX_QUOTED_BYTES = 24 * 1024


def quoted(event: object) -> str | None:
    """A refused frame as JSON text for the slow-down that refuses it (Error.refused), or None
    when it is too big to quote. Only refusals come here: nothing is added per message."""
    if not isinstance(event, ev.Event):
        return None
    text = encode_json(event.to_json())[HEADER_BYTES:]
    return text.decode("utf-8") if len(text) <= MAX_QUOTED_BYTES else None


class _Handshakes(Protocol):
    def drop(self, peer: str) -> bool:
        """Close the connection from ``peer`` in its TLS handshake (tls.TlsHandshakes); False: not there."""


class _Door:
    """The connection caps at the door (limits.ConnectionLimits): who may connect, counted from
    the accept (or the TLS handshake) until they close, and the refusals logged once per storm.
    Guard's first half; it holds the state (hub, connection_limits, refusals)."""

    hub: Hub
    connection_limits: lim.ConnectionLimits | None
    refusals: lim.RefusalLog
    # Connections let in on credit over their address group's new ones a minute, by address
    # ("10.0.0.9:50312", as Peer.address and a TLS handshake's reserve name it) -> the refusal
    # they get unless their hello shows a key the room knows (refused_on_credit).
    on_credit: dict[str, lim.Refusal]
    # The same connections, not welcomed yet, by address group, oldest first: address -> its Peer
    # (None while in its TLS handshake). At the group's cap at once the oldest gives its place to
    # a newer connection (_make_room): held silent, a script's cannot keep the cap (16) itself.
    waiting_on_credit: dict[str, dict[str, Peer | None]]
    # The same connections, by address, that showed a key the room knows: the key_id whose new
    # connection a minute they hold (limits.ConnectionLimits.key_credit), spent at the welcome.
    credit_keys: dict[str, str]
    handshakes: _Handshakes | None  # a TLS port's (server.py), where one on credit may be closed
    host_notices: lim.HostNotices  # when the host's screen is told of refusals at the door

    def admit(self, peer: Peer, *, this_machine: bool = False, account: int | None = None) -> str | None:
        """A new connection from ``peer.ip``: None to let it in, or the one-line refusal.
        ``this_machine``: it dialled this machine's own address (a lab's class by the room's LAN
        address), counted as loopback is; ``account``: its Unix user there (None: not known)."""
        if self.connection_limits is None:
            return None
        counted, refusal = self._count(peer.ip, peer.address, this_machine, account)  # released as counted
        if counted.credit is not None:
            self.credited(peer.address, counted, peer)
        peer.admitted = refusal is None
        peer.group, peer.pending_account = counted.group, (counted.account if refusal is None else None)
        return None if refusal is None else refusal.text

    def reserve(self, address: str, this_machine: bool = False, account: int | None = None) -> lim.Counted | None:
        """A connection from ``address`` (``"10.0.0.9:50312"``) still in its TLS handshake
        (server.py): counted from its accept, so connections that never finish the handshake are
        capped as joined ones are (``account``: as admit's). How it was counted, for ``Hub.open``
        or ``unreserve``; None: refused (logged once per storm), close it."""
        if self.connection_limits is None:
            return lim.UNCOUNTED
        counted, refusal = self._count(ip_of(address), address, this_machine, account)
        if counted.credit is not None:
            self.credited(address, counted, None)
        return counted if refusal is None else None

    def credited(self, address: str, counted: lim.Counted, peer: Peer | None) -> None:
        """The connection from ``address`` came in on credit (``counted.credit``): its first
        frames decide (refused_on_credit); until its welcome a newer one may take its place
        (_make_room). ``peer``: None while in its TLS handshake (Hub.open names it after)."""
        assert counted.credit is not None
        self.on_credit[address] = counted.credit
        self.waiting_on_credit.setdefault(counted.group, {})[address] = peer

    def _off_credit(self, address: str, group: str, *, welcomed: bool = False) -> None:
        self.on_credit.pop(address, None)
        if (key := self.credit_keys.pop(address, None)) is not None and not welcomed and self.connection_limits is not None:
            self.connection_limits.key_credit_back(key)
        if (waiting := self.waiting_on_credit.get(group)) is not None:
            waiting.pop(address, None)
            if not waiting:
                del self.waiting_on_credit[group]

    def _make_room(self, group: str, now: float) -> bool:
        """``group`` is at its cap at once: its oldest connection on credit not welcomed yet is
        refused as it would have been at the door, so the newer one is counted in its place
        (True; False: none such). mallory's script, over the address's new connections a minute,
        held 16 connections open on credit, saying nothing (each closed by the hello deadline,
        20 s, and opened again): ann, whose key the room knows, was refused 'too many
        connections ... (16 at once)' for as long as it ran."""
        waiting = self.waiting_on_credit.get(group)
        while waiting:
            address, peer = next(iter(waiting.items()))
            if peer is None and self.handshakes is not None and self.handshakes.drop(address):
                return True  # in its TLS handshake: closed there, released and logged by unreserve
            refusal = self.on_credit.get(address)
            self._off_credit(address, group)
            if peer is None:
                continue
            if peer.admitted and self.connection_limits is not None:
                self.connection_limits.release(peer.ip, group=peer.group)
            peer.admitted = False  # released here: not again at its close (forget)
            if not peer.closing and refusal is not None:  # (one closing already is on its way out)
                self.refused(peer, refusal, now)
                self.hub.connections.refuse(peer, ev.E_TOO_MANY, refusal.text)
            return True
        return False

    def _count(self, ip: str, shown: str, this_machine: bool, account: int | None) -> tuple[lim.Counted, lim.Refusal | None]:
        """Count a connection from ``ip`` against the caps: how, and the refusal if over them
        (logged once per storm, ``shown`` naming it). From this machine (its own LAN address
        too) the group is the machine's, everyone's there; and an account other than the
        server's own (a lab's student) holds at most lim.MAX_PENDING_PER_ACCOUNT not welcomed,
        with new ones a minute of its own.
        An account not known, or a server not knowing its own, counts only as the machine."""
        caps = self.connection_limits
        assert caps is not None
        now = self.hub.clock()
        group = lim.LOCAL if this_machine else caps.groups.group(ip)
        own = self.hub.room.moderation.own_user
        if group != lim.LOCAL or own is None or account == own:
            account = None
        refusal = caps.check(ip, now, group=group, account=account)
        if refusal is not None and refusal.rule == lim.AT_ONCE and group != lim.LOCAL and self._make_room(group, now):
            refusal = caps.check(ip, now, group=group, account=account)  # (a refusal at once spent none of the new ones)
        if refusal is not None and refusal.rule == lim.PER_MINUTE and group != lim.LOCAL:
            caps.on_credit(group)  # its hello decides (refused_on_credit), logged then if refused
            return lim.Counted(group, account, credit=refusal), None
        if refusal is not None:
            storm = f"user {account}" if account is not None else None  # one storm per account
            for line in self.refusals.refused(ip, shown, refusal, now, group=storm):
                self.hub.log(line)
            self._tell_host(storm or group, refusal)
        return lim.Counted(group, account), refusal

    def refused_on_credit(self, peer: Peer, event: object) -> bool:
        """A frame of ``peer``'s before its welcome, if it came in on credit (over its group's new connections a
        minute, PROTOCOL.md, Abuse limits): unless it is a hello with an identity key the room has
        seen join (moderation.SeenKeys; the challenge that follows proves it), the refusal it would
        have had at the door, logged once per storm as those are (True). A script behind a school's
        NAT opening a connection every second spent the address's 30 a minute, and every classmate
        there, a rejoin after a Wi-Fi blip too, was refused for as long as it ran."""
        refusal = self.on_credit.get(peer.address)
        if refusal is None:
            return False
        if isinstance(event, ev.Auth) or (isinstance(event, ev.Hello) and self._key_credit(peer.address, event.key)):
            return False  # (each hello until the welcome: a known key's, then a keyless one, is refused)
        self._off_credit(peer.address, peer.group)
        self.refused(peer, refusal, self.hub.clock())
        self._tell_host(peer.group, refusal)
        self.hub.connections.refuse(peer, ev.E_TOO_MANY, refusal.text)
        return True

    def _tell_host(self, group: str, refusal: lim.Refusal) -> None:
        """The host's screen hears of refusals at the door (lim.HostNotices: at most a line a
        minute an address group, and a few groups a minute), with what lets a class behind one address in."""
        room, now = self.hub.room, self.hub.clock()
        if room.host_cid is None or room.host_cid not in room.members or (notice := self.host_notices.refused(group, now)) is None:
            return
        hint = lim.AT_ONCE_HINT if refusal.rule == lim.AT_ONCE and group != lim.LOCAL else ""
        others = notice.groups - 1  # (refused while groups enough were told of this minute: summed up here)
        also = f", and from {others} other address{'es' if others > 1 else ''}" if others else ""
        count = notice.count if notice.count > 1 else None
        told = ev.Refused(name=group, code=ev.E_TOO_MANY, time=room.clock(), reason=refusal.why + also + hint, count=count)  # (the wall's: now is the loop's)
        self.hub.perform([Send(to=room.host_cid, event=told)])

    def _key_credit(self, address: str, key: str | None) -> bool:
        """A hello on credit from ``address`` shows ``key``: is it one the room has seen join, with
        a new connection a minute of its own left (limits.ConnectionLimits.key_credit)? Held by
        the connection (credit_keys) until its welcome spends it or its end gives it back."""
        if key is None or self.connection_limits is None:
            return False
        from . import identity
        from .moderation import key_id

        try:
            kid = key_id(identity.unb64(key, identity.PUBLIC_KEY_BYTES, '"key"'))
        except identity.IdentityError:
            return False
        if kid is None or kid not in self.hub.room.moderation.seen_keys.told:
            return False
        held = self.credit_keys.pop(address, None)
        if held == kid:  # (a hello again, another name: the same key's new connection)
            self.credit_keys[address] = kid
            return True
        if held is not None:
            self.connection_limits.key_credit_back(held)
        if not self.connection_limits.key_credit(kid, self.hub.clock()):
            return False
        self.credit_keys[address] = kid
        return True

    def unreserve(self, address: str, counted: lim.Counted) -> None:
        """A connection ``reserve`` counted ended before joining the hub (a failed or stalled handshake).
        One on credit had the refusal it would have had at the door, logged once per storm (not a
        line each: an `nc` loop saying junk at a TLS port over its 30 a minute wrote as many as it liked)."""
        if (refusal := self.on_credit.get(address) if self.on_credit else None) is not None:
            self._off_credit(address, counted.group)
            for line in self.refusals.refused(ip_of(address), address, refusal, self.hub.clock()):
                self.hub.log(line)
        if counted.group and self.connection_limits is not None:
            self.connection_limits.release(ip_of(address), group=counted.group, account=counted.account)

    def settled(self, peer: Peer) -> None:
        """``peer`` is no longer one of its account's unfinished connections: welcomed, or closing
        (and no longer on credit: refused_on_credit)."""
        if self.on_credit:  # welcomed: its key's new connection spent (_key_credit)
            self._off_credit(peer.address, peer.group, welcomed=peer.cid in self.hub.room.members)
        if peer.pending_account is not None and self.connection_limits is not None:
            self.connection_limits.settled(peer.pending_account)
        peer.pending_account = None

    def refused(self, peer: Peer, refusal: lim.Refusal, now: float, shown: str | None = None) -> None:
        """``peer`` is turned away (by the connection limits, or by a full room): logged once per
        storm from its address group (``shown``: how the first line names it; its address)."""
        for line in self.refusals.refused(peer.ip, shown or peer.address, refusal, now):
            self.hub.log(line)

    def log_refusals(self, now: float) -> None:
        """Log how many more were refused in each storm whose time is up (``math.inf``: all)."""
        for line in self.refusals.due(now):
            self.hub.log(line)


class AddressShares:
    """The flood bucket each address group shares (limits.SharedBucket), and which connections
    hold it (Peer.shared, asked at each counted frame): only while two or more are there, from
    the door on. One alone cannot spend it (their own limit is half of it), and a line of theirs
    skips its ~0.6 us (a LAN where each laptop is its own address). None with flood control off,
    for this machine's (a lab's class shares its loopback), or a connection not counted."""

    def __init__(self, flood: lim.FloodControl | None, limits: lim.ConnectionLimits | None, clock: Callable[[], float]) -> None:
        self.flood, self.limits, self.clock = flood, limits, clock
        self.buckets: dict[str, lim.SharedBucket] = {}
        self.peers: dict[str, list[Peer]] = {}  # address group -> its connections that may share

    def join(self, peer: Peer) -> None:
        """``peer`` is one more connection of its group: with a second, all of them share."""
        bucket = self.bucket_for(peer.group)
        if bucket is None:
            return
        peers = self.peers.setdefault(peer.group, [])
        peers.append(peer)
        if len(peers) > 1:  # the others hold it already, but the first of a pair
            peers[0].shared = peer.shared = bucket

    def left(self, peer: Peer) -> None:
        """``peer`` closed: one left alone holds its own limit only; a refilled bucket nobody
        holds is forgotten."""
        group = peer.group
        if (peers := self.peers.get(group)) is not None and peer in peers:
            peers.remove(peer)
            if len(peers) == 1:
                peers[0].shared = None
            elif not peers:
                del self.peers[group]
        bucket = self.buckets.get(group)
        if bucket is not None and not self._open_from(group) and bucket.is_idle(self.clock()):
            del self.buckets[group]

    def bucket_for(self, group: str) -> lim.SharedBucket | None:
        if self.flood is None or not group or group == lim.LOCAL:
            return None
        bucket = self.buckets.get(group)
        if bucket is None:
            now = self.clock()
            if len(self.buckets) >= lim.MAX_TRACKED:  # bounded: the ones refilled go first
                for idle in [g for g, b in self.buckets.items() if b.is_idle(now) and not self._open_from(g)]:
                    del self.buckets[idle]
            burst, rate = self.flood.burst * lim.ADDRESS_SHARE, self.flood.rate * lim.ADDRESS_SHARE
            bucket = self.buckets[group] = lim.SharedBucket(burst, rate, now)
        return bucket

    def _open_from(self, group: str) -> int:
        return self.limits.open.get(group, 0) if self.limits is not None else 0


class Guard(_Door):
    """One server run's abuse limits, acting through its ``hub`` (its peers, room and outbox):
    the caps at the door (_Door), flood control, and congestion."""

    def __init__(
        self,
        hub: Hub,
        *,
        max_queue_bytes: int,
        limits: bool = False,
        flood: lim.FloodControl | None = None,
        connection_limits: lim.ConnectionLimits | None = None,
        set_reading: Callable[[int, bool], None] | None = None,
        refusal_log: lim.RefusalLog | None = None,
    ) -> None:
        self.hub = hub
        # ``limits`` turns on flood control and connection caps (what `lanchat serve` does
        # unless --no-limits; a benchmark lifts them); the hub's deadlines always hold.
        self.flood = flood if flood is not None else (lim.FloodControl() if limits else None)
        groups = hub.room.moderation.groups  # one rule for caps, storms and bans (limits.AddressGroups)
        self.connection_limits = connection_limits if connection_limits is not None else (
            lim.ConnectionLimits(groups=groups) if limits else None
        )
        # and one bucket per address group, shared by everyone joined from it (AddressShares)
        self.shares = AddressShares(self.flood, self.connection_limits, hub.clock)
        self.set_reading = set_reading or (lambda cid, reading: None)
        self.refusals = refusal_log if refusal_log is not None else lim.RefusalLog(groups=groups)  # refused connections, logged once per storm (admit)
        self.on_credit = {}
        self.waiting_on_credit = {}
        self.credit_keys = {}
        self.handshakes = None  # (server.py: its TLS port's)
        self.host_notices = lim.HostNotices()
        # connection -> (member, its key, its arrival, its name, identity_of(member), bucket): _flood_key
        self._keys: dict[int, tuple[Member, object, object, str, str | None, str]] = {}
        # The timed state is public so the hub's per-pass check costs no call when nothing is
        # timed (hub_timers.Expiry.expire and next_deadline): these three empty, nothing is due here.
        self.paused: dict[int, float] = {}  # connections not read now -> when to read them again
        # who sent something since the last congestion check (the hub adds each reader, no call)
        self.feeders: set[int] = set()
        self.congested_since: dict[int, float] = {}  # readers over the congestion mark -> since
        self._moved: set[int] = set()  # queues with a backlog that took bytes since the last check
        self.stuck_since: dict[int, float] = {}  # queues with a backlog that took none -> since
        self.next_congestion_check = 0.0  # check_congestion does nothing before this (hub.expire asks first)
        self.congested_bytes = max_queue_bytes // CONGESTED_SHARE
        self.not_reading_seconds = NOT_READING_SECONDS

    # ------------------------------------------------------------ the hub's calls

    def moved(self, cid: int) -> None:
        """A backlog for ``cid`` took bytes (it is reading, however slowly)."""
        self._moved.add(cid)

    def forget(self, peer: Peer) -> None:
        """``peer`` is closing for good: its pause, marks and connection count go."""
        cid = peer.cid
        self._keys.pop(cid, None)
        self.paused.pop(cid, None)
        self.congested_since.pop(cid, None)
        self.stuck_since.pop(cid, None)
        if peer.admitted and self.connection_limits is not None:
            self.connection_limits.release(peer.ip, group=peer.group)
        self.shares.left(peer)
        self.settled(peer)
        member = self.hub.room.members.get(cid)
        if member is not None and self.flood is not None:
            self.flood.forget(self.hub.room.moderation.identity_of(member) or ev.name_key(member.name), self.hub.clock())

    def allowance(self, cid: int) -> tuple[int, float, int] | None:
        """The flood limit ``cid``'s requests count against, as (burst, rate, tokens left now),
        for its welcome (PROTOCOL.md, Abuse limits); None when none holds for it (limits off,
        the host, a bot, an operator). Asked once ``cid`` is a member (room.Room.flood_allowance)."""
        if self.flood is None:
            return None
        key = self._flood_key(cid)
        allowance = None if key is None else self.flood.allowance(key)
        if key is None or allowance is None:
            return None
        return allowance[0], allowance[1], self.flood.tokens_left(key, self.hub.clock())

    def next_due(self) -> float | None:
        """When a pause ends, the congestion check or a storm's count of refusals is due (None:
        nothing to wait for)."""
        due = [min(self.paused.values())] if self.paused else []
        if (storm_ends := self.refusals.next_due()) is not None:
            due.append(storm_ends)
        if self.congested_since or self.stuck_since:
            due.append(max(self.next_congestion_check, self.hub.clock() + THROTTLE_SECONDS))
        return min(due) if due else None

    def handle_all(self, peer: Peer) -> None:
        """Every event the peer's bytes hold, within the flood limit. A pause (STOP_READING)
        leaves the rest unparsed in ``peer.proto``, handled when the pause ends. A ``say`` the
        state table allows takes the hub's short path (``Hub.say``), counted like any other."""
        proto = peer.proto
        flood = self.flood
        hub = self.hub
        say = hub.say if hub.short_path else None
        if flood is None:  # the plain path: no limits, no pauses
            while True:
                if say is not None and (texts := proto.next_says(SAYS_AT_ONCE)):
                    say(peer, texts)
                    if len(texts) == SAYS_AT_ONCE:
                        continue  # more says may follow; fewer: the next frame, if any, is not one
                if (event := proto.next_event()) is None:
                    return
                if self.on_credit and self.refused_on_credit(peer, event):
                    return
                hub._handle(peer, event)
        other: object = None  # with flood control: each say and each event counted on its own
        while peer.paused_until is None:
            one = proto.next_says(1) if say is not None else None
            if not one and (other := proto.next_event()) is None:
                return
            if not one and proto.state is State.HANDSHAKE and self._too_many_before_welcome(peer):
                return
            if not one and self.on_credit and self.refused_on_credit(peer, other):
                return
            if not one and proto.slow_bytes:  # read the slow way: its cost is paid, refused or not
                # the first KiB free only for a frame flood control counts (3 a second at most)
                free = SLOW_BYTES_FREE if isinstance(other, FLOOD_COUNTED) or other.__class__ is Invalid else 0
                if proto.slow_bytes > free:
                    self._spend_budget(peer, (proto.slow_bytes - free) / SLOW_BYTES_A_TOKEN)
                proto.slow_bytes = 0
            if one or isinstance(other, FLOOD_COUNTED) or other.__class__ is Invalid:  # a refused frame costs an answer too
                key = self._flood_key(peer.cid)
                if key is not None and not (verdict := flood.check(key, hub.clock(), 1.0, peer.shared)).allowed:
                    self._over_flood_limit(peer, verdict, ev.Say(text=one[0]) if one else other)
                    if peer.closing:
                        return
                    continue
            if one:
                say(peer, one)  # type: ignore[misc]  # not None whenever one is not empty
            else:
                hub._handle(peer, other)
                if isinstance(other, BUDGETED):
                    self._spend_budget(peer)
                if other.__class__ is ev.Nick:  # a guest's bucket goes with the new name now, not
                    self._flood_key(peer.cid)  # at their next frame: the old name is fresh for the next to take it

    def _spend_budget(self, peer: Peer, cost: float = 1.0) -> None:
        """One uncounted frame (BUDGETED) from ``peer``, handled, or one read by the plain path
        (``cost``: its bytes' worth past SLOW_BYTES_FREE, SLOW_BYTES_A_TOKEN), handled or not: out of budget, it is not read until
        UNCOUNTED_RESUME are back (a debt first). Not for those flood control exempts (the
        host, bots, operators), nor for a connection already closing."""
        if peer.closing or self._flood_key(peer.cid) is None:
            return
        now = self.hub.clock()
        budget = peer.budget
        if budget is None:
            budget = peer.budget = lim.TokenBucket(UNCOUNTED_BURST, UNCOUNTED_RATE, now)
        if not (budget.take(now) if cost == 1.0 else budget.spend(now, cost)):
            self.pause(peer, now + budget.seconds_until(now, UNCOUNTED_RESUME))

    def _too_many_before_welcome(self, peer: Peer) -> bool:
        """One more frame before ``peer``'s welcome; past MAX_FRAMES_BEFORE_WELCOME it is refused
        and closed (True)."""
        peer.frames_before_welcome += 1 + peer.proto.slow_bytes // SLOW_BYTES_A_TRY
        peer.proto.slow_bytes = 0
        if peer.frames_before_welcome <= MAX_FRAMES_BEFORE_WELCOME:
            return False
        why = f"slow down: {MAX_FRAMES_BEFORE_WELCOME} tries without joining"
        refusal = lim.Refusal(TOO_MANY_TRIES, why, "connect again to try another name")
        self.refused(peer, refusal, self.hub.clock())  # logged once per storm, as refused connections are
        self.hub.connections.refuse(peer, ev.E_SLOW_DOWN, refusal.text)
        return True

    def _flood_key(self, cid: int) -> str | None:
        """The bucket ``cid``'s requests count against, or None when flood control does not hold
        for it: only people who joined are counted; the host, bots and operators are exempt.
        A bucket per person, not per connection: reconnecting does not refill it."""
        room = self.hub.room
        member = room.members.get(cid)
        if member is None or cid == room.host_cid or cid in room.service_cids:
            return None
        moderation = room.moderation
        arrival = moderation.arrivals.get(cid)
        kept = self._keys.get(cid)
        if kept is not None and kept[0] is member and kept[1] is member.key and kept[2] is arrival and kept[3] is member.name:
            identity, key = kept[4], kept[5]
        else:  # identity_of hashes a key (SHA-256): once per member, key, arrival and name
            identity = moderation.identity_of(member)
            key = identity or ev.name_key(member.name)
            if kept is not None and kept[5] != key and self.flood is not None:  # a guest's /nick: the same person
                self.flood.renamed(kept[5], key, self.hub.clock())
                if (peer := self.hub.peers.get(cid)) is not None and (bucket := self.shares.buckets.get(peer.group)) is not None:
                    bucket.renamed(kept[5], key)  # and the lines they sent lately, there too
            self._keys[cid] = (member, member.key, arrival, member.name, identity, key)
        # moderation.is_operator's rule (the host is out above), with the identity kept
        if cid in moderation.operator_cids or (identity is not None and identity in moderation.operator_keys):
            return None
        return key

    def _over_flood_limit(self, peer: Peer, verdict: lim.Verdict, refused: object) -> None:
        flood = self.flood
        assert flood is not None
        if verdict.shared and peer.shared is not None:
            bucket = peer.shared.bucket
            limit = f"at most {bucket.capacity} at once, then {bucket.rate:g} a second from one address,"
            limit += " shared by everyone joined from it; who sent the most waits first"
        else:
            limit = f"at most {flood.burst} at once, then {flood.rate:g} a second"
        if verdict.action == lim.DISCONNECT:
            self.hub.log(f"{self.hub.who(peer.cid)}: still flooding after {flood.pauses_before_disconnect} pauses; disconnecting")
            note = ev.Error(code=ev.E_SLOW_DOWN, message=f"you were disconnected for flooding ({limit})", fatal=True)
            self.hub.perform([Send(to=peer.cid, event=note)])  # after the echoes this pass still holds
            self.hub._leave(peer.cid, "flooding")
            self.hub.deadlines.forget(peer.cid)
            self.hub._closing(peer)
            return
        text = f"slow down: that was not sent ({limit}); try again in {max(verdict.retry_after, 0.1):.1f} s"
        if verdict.action == lim.STOP_READING and verdict.resume_at is not None:
            wait = verdict.resume_at - self.hub.clock()
            text = f"slow down: that was not sent ({limit}); nothing you send is read for {wait:.0f} s"
            self.hub.log(f"{self.hub.who(peer.cid)}: flooding; not read for {wait:.1f} s")
            self.pause(peer, verdict.resume_at)
        # As the room's own refusals: after the echoes of the frames before it that this pass
        # still holds for the history's commit, so each frame is answered in the order sent.
        # retry_after: a frame sent once it is up obeys it, no step of the ladder (limits._refused).
        note = ev.Error(code=ev.E_SLOW_DOWN, message=text, refused=quoted(refused), retry_after=verdict.retry_after)
        self.hub.perform([Send(to=peer.cid, event=note)])

    def pause(self, peer: Peer, until: float) -> None:
        """Stop reading ``peer`` until ``until``: what it sends waits in the kernel's buffers,
        and once those are full its own writes block (back-pressure, not our memory)."""
        if peer.paused_until is None:
            self.set_reading(peer.cid, False)
            # a frame half-received cannot be late while we do not read it: its clock stops
            # here and starts again when reading does (resume_due)
            self.hub.deadlines.frame(peer.cid, partial=False)
        peer.paused_until = until if peer.paused_until is None else max(until, peer.paused_until)
        self.paused[peer.cid] = peer.paused_until

    def resume_due(self, now: float) -> None:
        for cid in [c for c, until in self.paused.items() if until <= now]:
            del self.paused[cid]
            peer = self.hub.peers.get(cid)
            if peer is None or peer.closed:
                continue
            peer.paused_until = None
            if not peer.closing:
                self.set_reading(cid, True)
                self.hub.deadlines.frame(cid, partial=peer.proto.partial_frame_bytes > 0)  # its clock again (pause)
                self.handle_all(peer)  # what was read before the pause, in order
                if peer.proto.peer_closed and peer.paused_until is None:
                    self.hub.close(cid)

    def check_congestion(self, now: float) -> None:
        """A reader with a growing queue slows the senders that fed it before anyone is
        dropped; one that stays congested past the grace time, or whose waiting frames take no
        byte for NOT_READING_SECONDS, is dropped as too slow."""
        if now < self.next_congestion_check:
            return
        self.next_congestion_check = now + THROTTLE_SECONDS
        fed, self.feeders = self.feeders, set()
        moved, self._moved = self._moved, set()
        mark = self.congested_bytes
        downloading = self.hub.pacer.started
        backlogged = [q for q in self.hub.outbox.queues.values() if q.out_bytes]
        for cid in list(self.stuck_since):
            if cid in moved or not self.hub.outbox.queued_bytes(cid):
                del self.stuck_since[cid]
        for queue in backlogged:
            if queue.cid in moved:
                continue
            since = self.stuck_since.setdefault(queue.cid, now)
            if now - since >= self.not_reading_seconds and queue.cid in self.hub.room.members:
                del self.stuck_since[queue.cid]
                self.hub.connections.drop_slow(queue.cid)  # told "not reading fast enough", the room told "dropped"
        congested = {q.cid for q in backlogged if q.out_bytes > mark and q.cid not in downloading}
        for cid in list(self.congested_since):
            if cid not in congested:
                del self.congested_since[cid]
        if not congested:
            return
        for cid in congested:
            since = self.congested_since.setdefault(cid, now)
            if now - since >= CONGESTION_GRACE_SECONDS:
                del self.congested_since[cid]
                self.hub.connections.drop_slow(cid)
        for cid in fed:  # a congested sender too: it may be feeding its own queue
            peer = self.hub.peers.get(cid)
            if peer is not None and not peer.closing and not peer.closed:
                self.pause(peer, now + THROTTLE_SECONDS)
