"""moderation.py: who runs the room and what operators may do to others. Never does I/O.

The host is the room's operator and may make others operators. Operators can kick, ban (by
identity key, by address while the ban holds, and by name), mute for a while, switch the room
between duplex and turn-based, and pass the turn on from someone who went away; the one holding
the turn may pass it on too (docs/PROTOCOL.md, "Moderation"). Every act is one ``moderated``
event to everyone, naming who did it and why, and is kept in the history; a refused attempt is
an error to whoever tried.

The room (room.py) owns the members and the turn; this module owns operators, mutes and bans,
and ``moderate(room, member, command)`` turns one operator command into the room's actions.
Bans and mutes are stored by the server (``StoreBan``/``DropBans``, ``StoreMute``/``DropMutes``
actions); the room starts with the stored ones, so they survive a restart.
"""

from __future__ import annotations

import functools
import json
import math
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from . import events as ev
from . import restrict
from .actions import KeepSeenKey
from .identity import PUBLIC_KEY_BYTES, IdentityError, fingerprint_hex, unb64
from .limits import AddressGroups, TokenBucket, group_matches
from .names import could_be_a_name
from .protocol import encode
from .wire import MAX_FRAME_BYTES

if TYPE_CHECKING:
    from .room import Action, Member, Room

LOCAL = "local"  # limits.address_group of loopback and AF_UNIX: never banned or muted by address
# ...but by the Unix user there (a lab server's class joins from this machine, each student
# under an account of their own): a ban or mute keeps "user UID" as its address (``where``)
USER = "user "
# A banned person's tries to join are told to the host and operators at most once per ban in
# this many seconds, with a count of the tries held back: a script cannot flood the teacher.
BAN_TRIES_SECONDS = 30.0
# How many members who left from this machine the room remembers the Unix user of, the most
# recently gone (Moderation.left): a /ban of one who quit before it was typed holds their account.
DEPARTED_USERS = 1024
# How many identity keys that passed the bans the room remembers, the most recent (a ban at a
# shared place counts them known, with the keys that own names and the operators'); kept in the
# history (actions.KeepSeenKey) at a key's first join of a run and then at most once in this many
# seconds, so a restart forgets no classmate: behind one NAT most keys own no name.
SEEN_KEYS = 4096
SEEN_KEY_REFRESH = 3600.0
# A script making fresh keys (each join one more) pushed a class's keys out of those SEEN_KEYS, so
# a later ban at their NAT turned classmates away, and made every one of its keys known to that ban
# (a way back in). So a place (an address group) holds at most SEEN_KEYS_PER_PLACE of them, its
# own oldest going first (a script at one address pushes out no other address's keys), and adds
# NEW_KEYS_PER_PLACE keys new to the room an hour at most (four times what an address may hold at
# once, MAX_PER_ADDRESS, or serve --max-per-address: a class, a second machine each, a second class
# that hour); the keys past that are not remembered (nor written), so a flood at the
# class's own address pushes nobody out within a lesson, and a script has at most that many of its
# keys known to a later ban there an hour, less the class's own.
SEEN_KEYS_PER_PLACE = SEEN_KEYS // 8
NEW_KEYS_PER_PLACE = 64
# A script at many addresses (a laptop can take many IPv6 addresses on the LAN's /64, each a place
# of its own) could still fill SEEN_KEYS with new keys: when full, a key seen this run within this
# long is never pushed out (one read back from the history at a restart too, by its last seen);
# the new key is then not remembered, and the log says so once an hour.
SEEN_KEYS_KEPT_SECONDS = 7 * 86400.0
# A newcomer turned away by a ban at a shared place (Ban.newcomers) with a key of their own: an
# operator's ``/admit NAME`` lets that key in within this many seconds of the try (the tries of
# the ADMIT_KEYS newest keys under a name are kept, for the DEPARTED_USERS newest names).
ADMIT_SECONDS = 600.0
ADMIT_KEYS = 4
# A /ban or /mute of a name nobody has ("did you mean ...?", _never_seen) compares it with this
# many names here at most: difflib takes ~75 us a name alike in length, so 4,000 look-alikes
# (student0001...) held everyone's chat 0.3 s for each such act, which an operator may repeat
GUESS_AMONG = 100


@functools.lru_cache(maxsize=4096)  # looked up per message by flood control; bounded
def key_id(key: bytes | str | None) -> str | None:
    """A member's identity key as bans, mutes and operator status store it: a public key's
    bytes become the hex SHA-256 of them; a string (already a fingerprint) stays as it is."""
    if key is None or isinstance(key, str):
        return key
    return _hex_sha256(key)


@functools.lru_cache(maxsize=1024)
def _hex_sha256(key: bytes) -> str:
    """key_id's hash, kept for the keys met lately: a join asks it of everyone here (who the
    operators are), so 500 joins hashed 125,000 keys."""
    import hashlib  # only for a member with a key: an idle server need not load OpenSSL

    return hashlib.sha256(key).hexdigest()


# Up to this many operators here are put in join order by their place in the roster (a C scan
# each, Moderation.operator_names); more, and one pass over everyone is cheaper.
FEW_OPERATORS = 16


@dataclass(frozen=True, kw_only=True)
class Ban:
    """One ban. It holds against the same identity key, the same address group (unless the
    banned person was on this machine, where everyone is) and the same name key."""

    id: int
    name: str
    name_key: str
    key: str | None  # identity key fingerprint, when the identity work provides one
    address: str | None  # limits.address_group; "user UID" on this machine (USER); None when unknown
    by: str
    reason: str
    time: float
    # A place shared with others (a school's NAT, a lab's shared account), held for newcomers
    # only: a join from it with no key, or a key not in ``known_keys`` (those the room had seen
    # when the ban was made), is refused; classmates with their known keys still come in.
    newcomers: str | None = None
    known_keys: frozenset[str] = frozenset()

    def matches(self, *, name_key: str, key: str | None, address: str | None) -> bool:
        return (
            name_key == self.name_key
            or (self.key is not None and key == self.key)
            or (self.address is not None and address is not None and group_matches(self.address, address))
        )

    def holds_newcomer(self, *, key: str | None, address: str | None) -> bool:
        """Is a join from ``address`` with ``key`` (None: a keyless guest) held as a newcomer at
        the shared place this ban holds for them (``newcomers``)?"""
        return (
            self.newcomers is not None and address is not None and (key is None or key not in self.known_keys)
            and group_matches(self.newcomers, address)
        )  # fmt: skip

    def describe(self) -> str:
        how = ["name"] + (["key"] if self.key else []) + ([_place_text(self.address)] if self.address else [])
        why = f": {self.reason}" if self.reason else ""
        also = f", and at {_place_text(self.newcomers)} any join {NEWCOMER_TEXT}" if self.newcomers else ""
        return f"#{self.id} {self.name} (by {' and '.join(how)}{also}; banned by {self.by}{why})"


# What a ban holds at a shared place (Ban.newcomers), as /bans and the host read it
NEWCOMER_TEXT = "with no key or a key this room had not seen before the ban"
# ... and as the student it holds reads it, with a mute's too: plainly (at 60 columns the
# operator's words, 'NAT', 'key', took 5 to 7 lines); who and which key is the operators' detail
NEW_ARRIVALS = "new arrivals from your network"


def _place_text(address: str) -> str:
    return f"{address} on this machine" if address.startswith(USER) else f"address {address}"


@dataclass(kw_only=True)
class BanTries:
    """The tries to join under one ban since the host was last told (``told_at``)."""

    told_at: float
    held: int = 0  # tries since then, not told yet
    name: str = ""  # the name the last one asked for
    others: bool = False  # a try held came under another name than the ban's (not only the last)
    admit: str | None = None  # the last one was a newcomer with a key, which /admit NAME lets in (Refused.admit)
    admit_code: str | None = None  # ... and that key's code (Refused.admit_code)


@dataclass(frozen=True, kw_only=True)
class NewcomerTry:
    """A join turned away as a newcomer by a ban at a shared place (Ban.newcomers), with a key:
    what ``/admit NAME`` lets in (the key, at ``place``, as the bans compare it)."""

    name: str
    key: str
    place: str
    time: float


def key_code(key: str) -> str:
    """A key (key_id) as a refused newcomer and the operator compare it: its first 16 hex digits
    in four groups, as /whois and `lanchat key` show it (identity.short_fingerprint)."""
    digits = key[:16]
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


@dataclass(frozen=True, kw_only=True)
class Mute:
    """A mute, matched like a ban; ``until`` None lasts until ``/unmute``. Stored like a ban,
    so a restart lifts none; ``until`` is wall-clock time (the room's clock, time.time), so
    the minutes a server was down count as minutes of the mute."""

    name_key: str
    key: str | None
    address: str | None
    until: float | None
    by: str
    reason: str
    id: int = 0  # the stored row's id (StoreMute, DropMutes)
    name: str = ""  # the name it was given under, as spelled
    # A place shared with others (a school's NAT), as a ban holds it (Ban.newcomers): there a join
    # with no key or a key not in ``known_keys`` is muted too, so a muted student cannot speak
    # again under a fresh key and another name; ``spared``: the connections there with no key
    # when the mute was made (classmates at nc), and those /unmute let speak there, spoken for until
    # they leave, their session's second window or rejoin included (session_taken_back; never stored).
    newcomers: str | None = None
    known_keys: frozenset[str] = frozenset()
    spared: frozenset[int] = frozenset()

    def matches(self, *, name_key: str, key: str | None, address: str | None) -> bool:
        return Ban.matches(self, name_key=name_key, key=key, address=address)  # type: ignore[arg-type]

    def holds_newcomer(self, *, key: str | None, address: str | None) -> bool:
        return Ban.holds_newcomer(self, key=key, address=address)  # type: ignore[arg-type]


class SeenKeys:
    """The identity keys (key_id) that passed the bans at a join, the SEEN_KEYS newest, in an
    earlier run too (``remember``): a ban at a shared place counts them known (Moderation.known_keys).
    Each place (address group) holds SEEN_KEYS_PER_PLACE of them at most, its own oldest going
    first, and adds NEW_KEYS_PER_PLACE keys new to the room an hour at most (``seen``)."""

    def __init__(self) -> None:
        self.told: OrderedDict[str, float] = OrderedDict()  # key -> when the history was last told of it (an earlier run's last seen)
        self.places: dict[str, OrderedDict[str, None]] = {}  # place -> its keys this run, oldest first
        self.place_of: dict[str, str] = {}  # key -> the place it last joined from this run
        # place -> (its allowance of keys new to the room, when the log last said it ran out)
        self.new_keys: OrderedDict[str, tuple[TokenBucket, list[float]]] = OrderedDict()
        self.full_said = -math.inf  # when the log last said the keys seen are all this week's (_full)

    def __iter__(self) -> Iterator[str]:
        return iter(self.told)

    def seen(self, key: str | None, place: str, now: float, new_an_hour: int = 0) -> list[Action]:
        """A join with identity ``key`` from ``place`` passed the bans: the room has seen that key
        (SEEN_KEYS), and the history keeps it at its first join this run, then once in
        SEEN_KEY_REFRESH at most (a class rejoining after a blip writes nothing). A key new to
        the room past ``place``'s ``new_an_hour`` (at least NEW_KEYS_PER_PLACE) is not kept (said
        in the log)."""
        if key is None:
            return []
        seen = self.told
        if key not in seen and not self._may_add(place, now, max(new_an_hour, NEW_KEYS_PER_PLACE)):
            return self._over(place, now)
        if key not in seen and len(seen) >= SEEN_KEYS and len(self.places.get(place, ())) < SEEN_KEYS_PER_PLACE:
            oldest = seen[next(iter(seen))]  # full: the oldest would go; not one seen this week (many addresses' keys)
            if now - oldest < SEEN_KEYS_KEPT_SECONDS:
                return self._full(now)
        told = seen.get(key)
        due = told is None or now - told >= SEEN_KEY_REFRESH
        seen[key] = now if due or told is None else told
        seen.move_to_end(key)
        self._placed(key, place)
        while len(seen) > SEEN_KEYS:
            self._drop(next(iter(seen)))
        return [KeepSeenKey(key=key, place=place, time=now)] if due else []

    def _may_add(self, place: str, now: float, most: int) -> bool:
        """May ``place`` add a key new to the room now (``most`` an hour)? The places asked last
        are kept, SEEN_KEYS_PER_PLACE of them (bounded memory)."""
        budget = self.new_keys.pop(place, None) or (TokenBucket(most, most / 3600.0, now), [-math.inf])
        self.new_keys[place] = budget
        while len(self.new_keys) > SEEN_KEYS_PER_PLACE:
            self.new_keys.popitem(last=False)
        return budget[0].take(now)

    def _over(self, place: str, now: float) -> list[Action]:
        """A key new to the room past ``place``'s hour's allowance: not kept; the log says so,
        once an hour at most (a script's storm is one line, not one a minute as it refills)."""
        bucket, said = self.new_keys[place]
        if now - said[0] < 3600.0:
            return []
        said[0] = now
        return [_room.Log(text=(
            f"joins from {place}: more than {int(bucket.capacity)} identity keys new to the room within an hour (a script "
            f"making keys?); the room does not remember the next ones there as classmates, so a ban at {place} holds "
            f"them as newcomers (/admit NAME lets one in)"))]  # fmt: skip

    def _full(self, now: float) -> list[Action]:
        """A key new to the room not kept: all SEEN_KEYS are this week's (a script at many
        addresses?). Else silent for up to a week, a class's fresh keys unknown to a later ban
        at their NAT; the log says so, once an hour at most."""
        if now - self.full_said < 3600.0:
            return []
        self.full_said = now
        days = int(SEEN_KEYS_KEPT_SECONDS // 86400)
        return [_room.Log(text=(
            f"the room's {SEEN_KEYS} keys seen all joined within {days} days (many addresses making keys?): it does not "
            f"remember keys new to it for now, so a ban or mute at a shared address holds them as newcomers "
            f"(/admit NAME, /unmute NAME lets one in)"))]  # fmt: skip

    def _placed(self, key: str, place: str) -> None:
        """``key`` joined from ``place``: the newest of its keys; past SEEN_KEYS_PER_PLACE its oldest go."""
        before = self.place_of.get(key)
        if before is not None and before != place:
            self._unplace(key, before)
        self.place_of[key] = place
        keys = self.places.setdefault(place, OrderedDict())
        keys[key] = None
        keys.move_to_end(key)
        while len(keys) > SEEN_KEYS_PER_PLACE:
            self._drop(next(iter(keys)))

    def _drop(self, key: str) -> None:
        """``key`` is remembered no more."""
        self.told.pop(key, None)
        place = self.place_of.pop(key, None)
        if place is not None:
            self._unplace(key, place)

    def _unplace(self, key: str, place: str) -> None:
        keys = self.places[place]
        keys.pop(key, None)
        if not keys:
            del self.places[place]

    def remember(self, kept: Iterable[tuple[str, str, float]]) -> None:
        """The keys the history kept from earlier runs (HistoryStore.seen_keys: key, place, last
        seen), oldest first: seen, for a ban at a shared place, as when they last joined: each in
        its place's share, and one of this week's not pushed out by many addresses' new keys (as a
        key seen this run is not). Written again at a join once SEEN_KEY_REFRESH has passed."""
        for key, place, when in kept:
            self.told[key] = when
            self.told.move_to_end(key)
            self._placed(key, place)
        while len(self.told) > SEEN_KEYS:
            self._drop(next(iter(self.told)))


@dataclass
class TurnLeads:
    """The operators ``serve --operator`` named (the teacher's key), whom turn order puts after the
    students, as the host is (and before the host, in a hosted room: room.turn_order; PROTOCOL.md 7): their
    keys, found at their first join this run, so a rejoin is one too, and their connections here."""

    keys: set[str] = field(default_factory=set)
    cids: set[int] = field(default_factory=set)


class Moderation:
    """Operators, mutes and bans: the state the moderation rules read and change."""

    newcomer_names_forgotten = False  # a name's newcomer tries went (DEPARTED_USERS names): /admit NAME wants CODE
    restricted: frozenset[str] = frozenset()  # what /restrict turned off for students (restrict.py), in this room

    def __init__(
        self,
        *,
        bans: Iterable[Ban] = (),
        operators: Iterable[str] = (),
        mutes: Iterable[Mute] = (),
        groups: AddressGroups | None = None,
        operator_keys: Iterable[str] = (),
        own_user: int | None = None,
        host: Callable[[], int | None] = lambda: None,
    ) -> None:
        """``own_user``: the server's own Unix user: on this machine bans and mutes hold by the
        user of whoever they name (``where``), except this one (the host's own account)."""
        # What a ban or mute by address holds (limits.AddressGroups: one machine, or a /64 off
        # the server's own networks); the hub's connection limits count the same groups.
        self.groups = groups if groups is not None else AddressGroups()
        self.bans: list[Ban] = list(bans)
        # serve --operator NAME: name key -> NAME, until someone with a key joins under it; serve
        # --operator FINGERPRINT: its hex (identity.fingerprint_hex) -> as given, until that key
        # joins, under any name (named_operator_joins). Then it is operator status by key, as after /op.
        self.named_operators: dict[str, str] = {}
        self.operator_fingerprints: dict[str, str] = {}
        for text in operators:
            if (hex_digits := fingerprint_hex(text)) is not None:
                self.operator_fingerprints[hex_digits] = text
            else:
                self.named_operators[ev.name_key(text)] = text
        self.mutes: list[Mute] = list(mutes)  # the stored ones first (history.mutes: those not over yet)
        self.operator_cids: set[int] = set()
        # identity keys keep operator status across reconnects; /op's, across a restart too (StoreOperator: the stored ones)
        self.operator_keys: set[str] = set(operator_keys)
        self.leads = TurnLeads()  # serve --operator's: after the students in turn order (before a host)
        self.arrivals: dict[int, tuple[str, bytes | str | None]] = {}  # cid -> (address, identity key)
        self.own_user = own_user
        # cids -> the Unix users of those peers on this machine, read when asked, together (the
        # room's gate.users_of: a ban compares the whole class's accounts, in one ask of the system)
        self.users_of: Callable[[Collection[int]], Mapping[int, int | None]] = lambda cids: {}
        # cid -> did it join from this machine by its own LAN address (the room's gate.by_own_address):
        # that address is everyone's there, as loopback is, so it is held by user, never by address
        self.by_own_address: Callable[[int], bool] = lambda cid: False
        # cid -> its user if read already (gate.known_user: at its join), never asking: one leaving may have no socket
        self.known_user: Callable[[int], int | None] = lambda cid: None
        # name key -> the user that member on this machine left from, the DEPARTED_USERS most
        # recently gone (``left``), for a ban of someone no longer here (``departed_at``)
        self.departed_users: OrderedDict[str, int] = OrderedDict()
        # name key -> (address group, key) of one who left from another machine, the same way (_ban_absent)
        self.departed_places: OrderedDict[str, tuple[str, str | None]] = OrderedDict()
        self.lifted: OrderedDict[str, Ban] = OrderedDict()  # name key -> the ban /unban lifted last (_ban_absent)
        self.seen_keys = SeenKeys()  # the keys that passed the bans at a join, in earlier runs too (known_keys)
        self.ban_tries: dict[int, BanTries] = {}  # ban id -> tries told lately (empty: nothing timed)
        self.newcomer_tries: OrderedDict[str, list[NewcomerTry]] = OrderedDict()  # name key -> keys refused as newcomers (/admit)
        self.full_tries: BanTries | None = None  # tries at the full room told lately (room_social.full_tries_due)
        self.newcomers_muted: dict[int, tuple[float, int]] = {}  # mute id -> (last told, joins held back since)
        self._next_ban = max((ban.id for ban in self.bans), default=0) + 1
        self._next_mute = max((mute.id for mute in self.mutes), default=0) + 1
        # The host's connection (the room's host_cid): no mute holds against it, as no /mute may
        # name it, also when a mute by key or address matches it (mute_for)
        self.host = host
        # cid -> is it one of the server's own bots (room.service_cids): no mute holds against one (mute_for)
        self.is_service: Callable[[int], bool] = lambda cid: False

    def arrive(self, cid: int, address: str, key: bytes | str | None = None) -> None:
        """The loop accepted connection ``cid`` from ``address`` (an IP, or "local"): bans and
        mutes by address match it. ``key``: an identity key the loop knew of, if any."""
        self.arrivals[cid] = (address, key)

    def address_of(self, cid: int) -> str:
        return self.arrivals.get(cid, ("", None))[0]

    def where(self, cid: int) -> str:
        """Where ``cid`` is, as bans and mutes by address hold it: its address; on this machine
        (loopback, the socket file) "user UID", the account it joined from, unless that is the
        server's own (everyone would be it on a one-account machine) or not known."""
        address = self.address_of(cid)
        if not self._on_this_machine(cid, address):
            return address
        return self._as_user(self.users_of((cid,)).get(cid)) or address

    def _as_user(self, user: int | None) -> str | None:
        """A user as bans and mutes hold it ("user UID"); None for the server's own or unknown."""
        return None if user is None or user == self.own_user else f"{USER}{user}"

    def _on_this_machine(self, cid: int, address: str) -> bool:
        """Loopback, the socket file, or this machine's own LAN address (a lab student who
        joined by the room's announced address): everyone logged in here shares it."""
        return self.groups.group(address) == LOCAL or self.by_own_address(cid)

    def left(self, member: Member) -> None:
        """``member`` left the room: the user it joined from on this machine, if known already
        (nothing is asked now), is kept under its name for a while (DEPARTED_USERS); not known,
        an account kept under that name from an earlier owner of it goes (a ban of the name
        means the one who left last, not a classmate who had it before)."""
        gone = self.departed_users
        name_key = ev.name_key(member.name)
        user = self.known_user(member.cid)
        if not self._on_this_machine(member.cid, member.address):  # another machine's: its place (newcomers_absent)
            _keep_newest(self.departed_places, name_key, (self.groups.group(member.address), self.identity_of(member)))
        else:
            self.departed_places.pop(name_key, None)
        if user is None or not self._on_this_machine(member.cid, member.address):
            gone.pop(name_key, None)
            return
        _keep_newest(gone, name_key, user)

    def forget(self, cid: int) -> None:
        """Connection ``cid`` is gone: its operator status (by connection) and arrival go."""
        self.arrivals.pop(cid, None)
        self.operator_cids.discard(cid)

    def identity_of(self, member: Member) -> str | None:
        """The fingerprint bans, mutes and operator status follow: the member's verified key,
        else a key the loop knew of when it connected (``arrive``)."""
        if member.key is not None:
            return key_id(member.key)
        arrival = self.arrivals.get(member.cid)
        return key_id(arrival[1]) if arrival is not None else None

    def is_operator(self, room: Room, member: Member) -> bool:
        key = self.identity_of(member)
        return member.cid == room.host_cid or member.cid in self.operator_cids or (
            key is not None and key in self.operator_keys
        )

    def has_operators(self, room: Room) -> bool:
        """Does anyone run this room: a host, an operator made with /op (here, or by a key that
        keeps it), or one ``serve --operator`` names who has not joined yet? A room of friends on
        a LAN, headless and with none, has no one (room_social: the topic is then anyone's)."""
        return room.host_cid is not None or bool(
            self.operator_cids or self.operator_keys or self.named_operators or self.operator_fingerprints
        )

    def operator_names(self, room: Room) -> tuple[str, ...]:
        """The operators here, in join order. Every join asks (operators_on_join): with no operator
        kept by key (the usual class) the host and /op's connections are all, found without
        looking at anyone's key."""
        if self.operator_keys:
            return tuple(m.name for m in room.members.values() if self.is_operator(room, m))
        cids = self.operator_cids if room.host_cid is None else {*self.operator_cids, room.host_cid}
        members = room.members
        here = [cid for cid in cids if cid in members]
        if len(here) > FEW_OPERATORS:  # a room of operators: one pass over the members
            return tuple(m.name for cid, m in members.items() if cid in cids)
        # The few, put in join order by their place in the roster (room._everyone, the members'
        # order): not a pass over 500 people at every join (bench/room_scale_bench.py)
        here.sort(key=room._everyone.index)
        return tuple(members[cid].name for cid in here)

    def ban_for(self, *, name_key: str, key: str | None, address: str | None) -> Ban | None:
        """The ban holding a join: one of this person (name, key, place) before one that holds them
        as a newcomer at a shared place (Ban.newcomers), so they are told they are banned, and the
        host by which ban, not to ask to be let in under a classmate's."""
        bans = self.bans
        return next((b for b in bans if b.matches(name_key=name_key, key=key, address=address)), None) or next(
            (b for b in bans if b.holds_newcomer(key=key, address=address)), None
        )

    def known_keys(self, room: Room, lifted: Ban | None = None) -> frozenset[str]:
        """The identity keys this room has seen, as a ban at a shared place lets them in: the
        keys that own names (kept across restarts), the operators', those here and those that
        joined, this run or an earlier one (SeenKeys), and those the bans in force (and ``lifted``, a ban of the
        name just lifted) knew: after a restart a classmate known to those is known still."""
        owners = {key_id(owner) for owner in room.gate.owners.values()}
        here = {self.identity_of(m) for m in room.members.values()}
        kept = [ban.known_keys for ban in (*self.bans, *([lifted] if lifted else []))]
        return frozenset(k for k in (*owners, *here, *self.operator_keys, *self.seen_keys) if k is not None).union(*kept)

    def mute_for(self, member: Member, now: float, key: str | None = None) -> Mute | None:
        """The mute holding against ``member`` (``key``: its identity, Room.identity_of). One
        over by ``now`` holds no more; ``mutes_ended`` drops it, from the store too. Never one
        against the host: a student sharing the host's key or address (two terminals of one
        login, README's "trying both on one machine") is muted alone; nor one against a bot of
        the server's (kick, ban and mute refuse it now; a mute stored by an older version stays)."""
        if member.cid == self.host() or self.is_service(member.cid):
            return None
        if key is None:
            key = key_id(member.key)
        name_key = ev.name_key(member.name)
        user: str | None = None  # ``where``, for the mutes by user: asked once, and only if one is in force
        newcomer: Mute | None = None  # one holding them as a newcomer at a shared place (Mute.newcomers)
        for mute in self.mutes:
            if mute.until is not None and mute.until <= now:
                continue
            address = member.address
            if mute.address is not None and mute.address.startswith(USER):
                address = user = user if user is not None else self.where(member.cid)
            if mute.matches(name_key=name_key, key=key, address=address):
                return mute
            if newcomer is None and mute.newcomers is not None and member.cid not in mute.spared:
                newcomer = mute if mute.holds_newcomer(key=key, address=member.address) else None
        return newcomer

    def users_ahead(self, cids: Collection[int]) -> None:
        """``mute_for`` is about to be asked of all of ``cids`` (who may take the turn): while a
        mute by user is in force, their users are asked together first, one ask of the system for
        a whole class (users_of keeps them), not one each as ``where`` asks."""
        if any(m.address is not None and m.address.startswith(USER) for m in self.mutes):
            self.users_of([cid for cid in cids if self._on_this_machine(cid, self.address_of(cid))])

    def _as_held(self, held: Ban | Mute, member: Member) -> str:  # (read only for a mute by user)
        """``member``'s address as ``held`` compares it: its user (``where``) for a mute by user."""
        return self.where(member.cid) if held.address is not None and held.address.startswith(USER) else member.address

    def held_at(self, room: Room, target: Member) -> str | None:
        """What a new ban or mute of ``target`` holds by besides name and key: its address group
        (none on this machine, where everyone is), or on this machine its user, unless someone
        else here joined from that account too (a lab's shared "student" account: a ban by user
        would send the whole class out; then name and key only). Likewise another machine's
        address when someone else here joined from it under a key of their own (a school's NAT:
        a class behind one address, each with their own key; held by address, the whole class
        went out at once and was refused at its next join, or muted). Others there with no key,
        or with the target's own, do not spare it (a script's guests, a second terminal)."""
        place, shared = self._place(room, target)
        return None if shared else place

    def newcomers_at(self, room: Room, target: Member) -> str | None:
        """Where a ban of ``target`` holds newcomers (Ban.newcomers): another machine's address
        that ``held_at`` spares because others there joined with keys of their own (a school's
        NAT); else None. Not a lab's shared account on this machine: there everyone's client
        reads the one account's key file, so a fresh key is as much a classmate's as a script's."""
        if self._on_this_machine(target.cid, target.address):
            return None
        place, shared = self._place(room, target)
        return place if shared else None

    def newcomers_absent(self, room: Room, name: str, key: str | None, lifted: Ban | None = None) -> str | None:
        """``newcomers_at`` for ``name``, someone no longer here (``key``: the key that owns the
        name): the address group they left from (``left``), else where ``lifted`` (the ban of the
        name just lifted) held newcomers, if others here joined from it with keys of their own
        (a school's NAT); else None."""
        for place in (self.departed_places.get(ev.name_key(name), (None, None))[0], lifted.newcomers if lifted else None):
            if place is not None and any(
                self.groups.group(m.address) == place and (other := self.identity_of(m)) is not None and other != key
                for m in room.members.values()
            ):  # fmt: skip
                return place
        return None

    def _place(self, room: Room, target: Member) -> tuple[str | None, bool]:
        """``target``'s place as a ban holds it (its address group; on this machine its user, None
        for the server's own or unknown) and whether others here share it (``held_at``)."""
        if not self._on_this_machine(target.cid, target.address):
            group = self.groups.group(target.address)
            mine = self.identity_of(target)
            shared = any(
                m.cid != target.cid and self.groups.group(m.address) == group and (key := self.identity_of(m)) is not None and key != mine
                for m in room.members.values()
            )  # fmt: skip
            return group, shared
        others = [m.cid for m in room.members.values() if m.cid != target.cid and self._on_this_machine(m.cid, m.address)]
        users = self.users_of([target.cid, *others])  # asked together: a lab of 256 is one ask, not 256
        user = users.get(target.cid)
        return self._as_user(user), user in [users.get(cid) for cid in others]

    def departed_at(self, room: Room, name: str) -> str | None:
        """``held_at`` for ``name``, someone no longer here: the user they left from on this
        machine, if it was known (``left``), with the same exceptions: not the server's own, nor
        one someone here joined from; None when not known (then name and key only)."""
        user = self.departed_users.get(ev.name_key(name))
        if user is None:
            return None
        here = [m.cid for m in room.members.values() if self._on_this_machine(m.cid, m.address)]
        return self._alone(user, list(self.users_of(here).values()))

    def _alone(self, user: int | None, others: list[int | None]) -> str | None:
        """``user`` as a ban or mute holds it ("user UID"), unless it is the server's own, not
        known, or one of ``others`` (those here on this machine besides)."""
        held = self._as_user(user)
        return None if held is None or user in others else held

    def new_ban_id(self) -> int:
        self._next_ban += 1
        return self._next_ban - 1

    def numbered_from(self, next_ban: int, next_mute: int) -> None:
        """Ban and mute numbers go on from at least these (the history's: HistoryStore.
        next_moderation_ids), never reused after a restart that lifted the highest: an old
        /bans screen's #3 would name, and /unban #3 lift, someone else's ban."""
        self._next_ban = max(self._next_ban, next_ban)
        self._next_mute = max(self._next_mute, next_mute)

    def new_mute_id(self) -> int:
        self._next_mute += 1
        return self._next_mute - 1

    def lift_mutes(self, lifted: list[Mute]) -> list[Action]:
        """Drop these mutes (some of ``mutes``) here and from the store (``/unmute``, a mute
        replaced or ended). By identity, in one pass: thousands may end at once."""
        gone = {id(m) for m in lifted}
        self.mutes = [m for m in self.mutes if id(m) not in gone]
        for mute in lifted:
            self.newcomers_muted.pop(mute.id, None)
        return [_room.DropMutes(ids=tuple(m.id for m in lifted))]


# ------------------------------------------------------------------ commands


def moderate(room: Room, member: Member, command: ev.Moderate) -> list[Action]:
    """One operator command -> the room's actions. Refusals go to ``member`` only."""
    mod = room.moderation
    action = command.action
    if action not in ev.MOD_ACTIONS:
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"unknown moderation action {action[:20]!r}")
    if action in ("restrict", "unrestrict"):  # (restrict alone, what is off, is anyone's to ask)
        return restrict.command(room, member, command)
    # The one holding the turn may give it up (PROTOCOL.md, Moderation: pass): a student with
    # nothing to say would otherwise hold up the whole class until the teacher noticed.
    own_turn = action == "pass" and room.mode == _room.TURN and room.turn_holder == member.cid
    if not own_turn and not mod.is_operator(room, member):
        if action == "pass" and room.mode != _room.TURN:  # README: /pass is turn mode's; no operator needed to say so
            return room._error(member.cid, ev.E_BAD_MESSAGE, "/pass works in turn-based mode only")
        if action == "pass":
            whose = f"it is {room.turn_name}'s turn" if room.turn_name else "nobody holds the turn"
            return room._error(member.cid, ev.E_NOT_OPERATOR, f"only the one holding the turn, or an operator, can /pass; {whose}")
        return room._error(member.cid, ev.E_NOT_OPERATOR, f"only an operator can use /{action}; {who_can(room)}")
    reason = (command.reason or "").strip()
    if len(reason) > ev.MAX_REASON_CHARS:
        return room._error(member.cid, ev.E_TOO_LONG, f"a reason has at most {ev.MAX_REASON_CHARS} characters")
    if action == "bans":
        return [_room.Send(to=member.cid, event=ban_list(mod.bans))]
    if action == "mode":
        return _mode(room, member, command.mode)
    if action == "pass":
        return _pass(room, member, reason, command.name)
    if not command.name:
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"/{action} needs a NAME")
    if action == "unban":
        return _unban(room, member, command.name)
    if action == "admit":
        return _admit(room, member, command.name, reason)
    target = room.find(command.name) or (_renamed(room, member, command.name) if action in ("ban", "mute", "unmute") else None)
    if action in ("op", "kick", "ban", "mute") and _a_bot(room, command.name, target):
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"{command.name[:40]} is the server's own bot: /{action} does not reach it; "
                           "it whispers only to whoever talks to it (serve without --bot leaves it out)")
    if action == "ban" and target is None:
        return _ban_absent(room, member, command.name, reason)
    if action == "mute" and target is None:
        return _mute_absent(room, member, command.name, reason, command.minutes)
    if action == "unmute" and target is None:
        return _unmute_name(room, member, command.name)
    if action == "deop" and target is None and (kept := _deop_absent(room, member, command.name, reason)):
        return kept
    if target is None:
        return room._error(member.cid, ev.E_NO_SUCH_USER, f"nobody called {command.name[:40]!r} is here")
    if action in ("kick", "ban", "mute", "deop") and target.cid == room.host_cid:
        return room._error(member.cid, ev.E_NOT_OPERATOR, f"the host ({target.name}) cannot be the target of /{action}")
    if action in ("kick", "ban") and target.cid == member.cid:
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"you cannot /{action} yourself; /q leaves")
    if action == "mute" and target.cid == member.cid:  # (nor lift it: _own_mute_refusal)
        return room._error(member.cid, ev.E_BAD_MESSAGE, "you cannot /mute yourself")
    return _ON_TARGET[action](room, member, target, reason, command.minutes)


def _a_bot(room: Room, name: str, target: Member | None) -> bool:
    """Is ``name`` the room's own bot (here, or the name only a bot may take)? Like the host, it
    is the server's, not a student: a kick took it away for the run and a ban, kept, refused it
    at every later ``serve --bot`` (ban_refusal lets a service in all the same); an /op made it
    one of the operators a refused student is told to ask."""
    if target is not None:
        return target.cid in room.service_cids
    return _room.is_bot_name(name)


def _renamed(room: Room, member: Member, name: str) -> Member | None:
    """Who ``name``, a name nobody here has, belongs to here under another (``/nick ann anna``):
    the one here with the key that owns it (gate.py), never ``member``'s own or the host's
    (_absent_key refuses those). A ban or a mute of the name held them by that key, as one of
    ``name`` absent, while every screen read 'teacher muted ann': now the act is the person's,
    as if typed with the name they have now ('teacher muted anna'), its record too, one rule
    for /ban, /mute and /unmute, decided by the key, never by the names' look. None when several
    here have that key (two terminals of one login share it: which one is meant, nobody knows):
    then the act is the name's, as before."""
    if ev.name_problem(name) is not None or (key := key_id(room.gate.owner_of(name))) is None:
        return None
    mod = room.moderation
    never = {room.host_cid, *room.service_cids}
    if key == mod.identity_of(member) or any(mod.identity_of(room.members[c]) == key for c in never if c in room.members):
        return None
    here = [m for m in room.members.values() if m.cid not in never and mod.identity_of(m) == key]
    return here[0] if len(here) == 1 else None


def who_can(room: Room) -> str:
    """Whom a refused student can ask: the host, else the operators here (serve --operator in a
    headless room), else plainly nobody, so the refusal never leaves them guessing."""
    host = room.name_of(room.host_cid) if room.host_cid is not None else None
    if host:
        return f"{host} (the host) is one"
    names = room.moderation.operator_names(room)
    if not names:
        return "nobody here is an operator"
    if len(names) == 1:
        return f"ask {names[0]}"
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"the operators here: {shown}"


def _op(room: Room, member: Member, target: Member, reason: str, _minutes: int | None) -> list[Action]:
    room.moderation.operator_cids.add(target.cid)
    kept: list[Action] = []
    if (key := room.moderation.identity_of(target)) is not None:
        room.moderation.operator_keys.add(key)  # an identity key keeps it across reconnections
        if target.key is not None:  # a proven key, which owns the name: a restart keeps it (PROTOCOL.md, Moderation)
            kept.append(_room.StoreOperator(key=key, name=target.name))
    return kept + _told(room, member, "op", target.name, reason) + [_operators_broadcast(room)]


def _deop(room: Room, member: Member, target: Member, reason: str, _minutes: int | None) -> list[Action]:
    """Operator status goes from the person: ``target``'s session, its key, and every other
    session of that key here (a second terminal made one by connection too would keep it)."""
    room.moderation.operator_cids.discard(target.cid)
    kept: list[Action] = []
    if (key := room.moderation.identity_of(target)) is not None:
        room.moderation.operator_keys.discard(key)
        kept.append(_room.DropOperator(key=key))
        for other in _operator_sessions(room, key):
            room.moderation.operator_cids.discard(other.cid)
    return kept + _told(room, member, "deop", target.name, reason) + [_operators_broadcast(room)]


def _operator_sessions(room: Room, identity: str) -> list[Member]:
    """The sessions here of key ``identity`` made operators by connection (never the host's)."""
    mod = room.moderation
    return [m for m in room.members.values() if m.cid in mod.operator_cids and m.cid != room.host_cid and mod.identity_of(m) == identity]


def _kick(room: Room, member: Member, target: Member, reason: str, _minutes: int | None) -> list[Action]:
    return _remove(room, member, target, "kick", reason)


def _ban(room: Room, member: Member, target: Member, reason: str, _minutes: int | None) -> list[Action]:
    """A ban of ``target``, here: by name, key and place (``held_at``); where others share that
    place (a school's NAT), by name and key, and there newcomers only (``newcomers_at``): else
    the banned student came straight back with a fresh key and name, or as a keyless guest."""
    mod = room.moderation
    newcomers = mod.newcomers_at(room, target)
    ban = Ban(
        id=mod.new_ban_id(), name=target.name, name_key=ev.name_key(target.name), key=room.moderation.identity_of(target),
        address=None if newcomers else mod.held_at(room, target), by=member.name, reason=reason, time=room.clock(),
        newcomers=newcomers, known_keys=mod.known_keys(room) if newcomers else frozenset(),
    )  # fmt: skip
    mod.bans.append(ban)
    return [
        _room.StoreBan(ban=ban), *_no_longer_operator(mod, ban.key), *_remove(room, member, target, "ban", reason),
        *_also_banned(room, member, ban),
    ]  # fmt: skip


def _also_banned(room: Room, member: Member, ban: Ban) -> list[Action]:
    """The banned person's other sessions here (a second terminal under another name, with
    their key or from their machine) go now, each told as a new ``hello`` of theirs would be:
    else the ban held against them only at their next one, and they chatted on. Never the host
    nor ``member`` (who banned), nor anyone by a key one of them has (a one-machine demo's
    terminals share the login's key: there the ban holds by name)."""
    mod = room.moderation
    host = room.members.get(room.host_cid) if room.host_cid is not None else None
    spared = {mod.identity_of(m) for m in (member, host) if m is not None}
    held = [
        m.cid for m in room.members.values()
        if m.cid not in (member.cid, room.host_cid) and m.cid not in room.service_cids
        and ban.matches(
            name_key=ev.name_key(m.name), key=None if (key := mod.identity_of(m)) in spared else key,
            address=_address_for_bans(mod, m.cid),
        )
    ]  # fmt: skip
    actions: list[Action] = []
    for cid in held:
        actions.extend(_told_banned(room, cid, ban))  # the fatal error and its Close, as a hello's
        mod.operator_cids.discard(cid)
        actions.extend(room.leave(cid, "banned"))
    return actions


def _no_longer_operator(mod: Moderation, key: str | None) -> list[Action]:
    """A banned key is an operator no more, here and in the store: an /unban later lets its
    person in, not back into operator status (which a restart would keep)."""
    if key is None or key not in mod.operator_keys:
        return []
    mod.operator_keys.discard(key)
    return [_room.DropOperator(key=key)]


def released_key(room: Room, key: bytes | str | None) -> list[Action]:
    """``/release NAME`` took the name from ``key`` (a lost key file, maybe in other hands): the
    operator status /op gave that key goes too, here and from the store, where no /deop or /ban
    of the name could reach it any more; and so does the status of every session here with that
    key (by connection too: whoever holds the key stayed an operator until leaving), which the
    room is told of as a /deop by the host (the one who may /release)."""
    mod = room.moderation
    identity = key_id(key)
    if identity is None:
        return []
    holders = [m for m in room.members.values() if m.cid != room.host_cid and mod.identity_of(m) == identity and mod.is_operator(room, m)]
    dropped = _no_longer_operator(mod, identity)
    if not holders:
        return dropped
    host = room.members.get(room.host_cid) if room.host_cid is not None else None
    told: list[Action] = []
    for member in holders:
        mod.operator_cids.discard(member.cid)
        if host is not None:
            told += _told(room, host, "deop", member.name, "the name was released")
    return [*dropped, *told, _operators_broadcast(room)]


def _mute(room: Room, member: Member, target: Member, reason: str, minutes: int | None) -> list[Action]:
    if minutes is not None and not 1 <= minutes <= ev.MAX_MUTE_MINUTES:
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"mute for 1 to {ev.MAX_MUTE_MINUTES} minutes, not {minutes}")
    mod = room.moderation
    newcomers = mod.newcomers_at(room, target)
    return _put_mute(room, member, target.name, mod.identity_of(target), mod.held_at(room, target), reason, minutes, newcomers)


def _mute_absent(room: Room, member: Member, name: str, reason: str, minutes: int | None) -> list[Action]:
    """Mute a name nobody here has (someone who just left, spam said): held as a ban of the
    absent is (``_ban_absent``), by name, the key that owns it and the account they left from,
    so coming back under another name and key, they are muted there too."""
    if minutes is not None and not 1 <= minutes <= ev.MAX_MUTE_MINUTES:
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"mute for 1 to {ev.MAX_MUTE_MINUTES} minutes, not {minutes}")
    key, refused = _absent_key(room, member, name, "muted")
    if refused:
        return refused
    unknown = _never_seen(room, member, name, key, ("mute", "unmute"))
    mod = room.moderation
    if key is None:  # no key owns the name (behind a NAT most own none): the one they left with
        key = _departed_key(room, member, name, None)
    newcomers = mod.newcomers_absent(room, name, key)
    return [*_put_mute(room, member, name, key, mod.departed_at(room, name), reason, minutes, newcomers), *_sent(member, unknown)]


def _put_mute(
    room: Room, member: Member, name: str, key: str | None, address: str | None, reason: str, minutes: int | None,
    newcomers: str | None = None,
) -> list[Action]:
    """The mute of ``name`` (its ``key`` and ``address``, as a ban would hold them), stored; at
    ``newcomers`` (a shared place) it mutes the joins with a key the room had not seen, or none."""
    now = room.clock()
    mod = room.moderation
    name_key = ev.name_key(name)
    # One mute per person: a second /mute replaces the first (one stored row, one /unmute), and
    # the act says what it replaced. Only their own (by name or key): a mute that holds them by
    # address alone is someone else's, who stays muted.
    replaced = [
        m for m in mod.mutes
        if (m.until is None or m.until > now) and (m.name_key == name_key or (m.key is not None and m.key == key))
    ]  # fmt: skip
    was_until = None if not replaced else 0.0 if any(m.until is None for m in replaced) else max(m.until or 0.0 for m in replaced)
    mute = Mute(
        id=mod.new_mute_id(), name=name, name_key=name_key, key=key, address=address,
        until=None if minutes is None else now + minutes * 60, by=member.name, reason=reason, newcomers=newcomers,
        known_keys=mod.known_keys(room) - {key} if newcomers else frozenset(),
        spared=frozenset(m.cid for m in room.members.values() if mod.identity_of(m) is None) if newcomers else frozenset(),
    )  # fmt: skip
    lifted = mod.lift_mutes(replaced) if replaced else []
    mod.mutes.append(mute)
    # stored, so a restart does not unmute them (PROTOCOL.md, Moderation)
    told = _told(room, member, "mute", name, reason, minutes=minutes, was_until=was_until)
    actions = [*lifted, _room.StoreMute(mute=mute, now=now), *told]
    holder = room.turn_holder
    if room.mode == _room.TURN and holder is not None and room.name_of(holder) == name:  # they cannot take it: it moves on
        room.turn_holder = room._next_after(holder, order_before=_room.turn_order(room))
        actions.append(room._turn_broadcast())
    return actions


def _unmute(room: Room, member: Member, target: Member, reason: str, _minutes: int | None) -> list[Action]:
    """``/unmute NAME`` of someone here lets them speak: the mutes of their own (by name, key or
    place) are lifted, and they are let past every other mute holding them as a newcomer at a
    shared place (Mute.newcomers: a classmate's mute there, which stays in force for that
    classmate). Past only one of those, the teacher read 'unmuted carol' and carol, muted by a
    mute of her own and as a newcomer by another's, or by two others', was still refused."""
    mod = room.moderation
    now = room.clock()
    key = mod.identity_of(target)
    lifted = [m for m in mod.mutes if m.matches(name_key=ev.name_key(target.name), key=key, address=mod._as_held(m, target))]
    gone = {id(m) for m in lifted}
    holding = [] if target.cid in (room.host_cid, *room.service_cids) else [
        m for m in mod.mutes
        if id(m) not in gone and m.newcomers is not None and (m.until is None or m.until > now) and target.cid not in m.spared
        and m.holds_newcomer(key=key, address=target.address)
    ]  # fmt: skip
    if not lifted and not holding:
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"{target.name} is not muted")
    if refused := _own_mute_refusal(room, member, lifted + holding) or _anothers_mute_refusal(room, member, target, key, lifted):
        return refused
    lifts = mod.lift_mutes(lifted) if lifted else []
    return [*lifts, *_let_past(room, target, key, holding, now), *_told(room, member, "unmute", target.name, reason), *_turn_given_again(room)]


def _anothers_mute_refusal(room: Room, member: Member, target: Member, key: str | None, lifted: list[Mute]) -> list[Action]:
    """``target`` is held by a mute of someone else's through their address (or account) alone:
    a second terminal on mallory's machine under another name, with no key or another. /unmute
    of it lifted mallory's mute, while every screen read 'hal unmuted zed' and mallory spoke on:
    as _put_mute has it, a mute that holds someone by address alone is someone else's. Refused,
    saying whose, so the teacher decides knowingly (/unmute mallory lifts it, for both)."""
    name_key = ev.name_key(target.name)
    theirs = next((m for m in lifted if m.name_key != name_key and (m.key is None or m.key != key)), None)
    if theirs is None:
        return []
    whose = theirs.name or theirs.name_key
    where = "account" if theirs.address is not None and theirs.address.startswith(USER) else "address"
    return room._error(member.cid, ev.E_BAD_MESSAGE, (
        f"{target.name} is muted by {theirs.by}'s mute of {whose}, which holds their {where} too: "
        f"/unmute {whose[:40]} lifts it, for both"))  # fmt: skip


def _let_past(room: Room, target: Member, key: str | None, holding: list[Mute], now: float) -> list[Action]:
    """``target`` speaks past each of ``holding`` (mutes holding them as a newcomer at a shared
    place; each stays in force for its own person): their key is known to each from now on
    (stored with it: a restart keeps it), or with no key their session is spared (Mute.spared:
    it follows the session to a second window or a rejoin, session_taken_back)."""
    if not holding:
        return []
    mod = room.moderation
    let_past = {
        id(m): replace(m, known_keys=m.known_keys | {key}) if key is not None else replace(m, spared=m.spared | {target.cid})
        for m in holding
    }
    mod.mutes = [let_past.get(id(m), m) for m in mod.mutes]
    return [_room.StoreMute(mute=m, now=now) for m in let_past.values()] if key is not None else []


def session_taken_back(room: Room, old: int | None, new: int) -> None:
    """Connection ``new`` took back the session of ``old`` (a second window, or a rejoin after a
    drop: room.LostSessions.came_back, which the session's key or its welcome's secret proves):
    a mute that spared ``old`` (a keyless guest /unmute let speak, or one here when it was made)
    spares ``new`` instead. Before, the spare held for that connection only, and the student was
    muted again in their second window. Never anyone else: another keyless join at that place
    proves no session, and stays muted."""
    mod = room.moderation
    if old is None or not any(old in m.spared for m in mod.mutes):
        return
    mod.mutes = [replace(m, spared=(m.spared - {old}) | {new}) if old in m.spared else m for m in mod.mutes]


def newcomer_muted_told(room: Room, member: Member) -> list[Action]:
    """``member`` joined and is muted as a newcomer at a shared place (Mute.newcomers): they are
    told why at once (their welcome says only 'muted', about a mute they never saw made); the
    host and the operators here are told who, held by whose mute, and that /unmute NAME lets them
    speak, once per mute in BAN_TRIES_SECONDS at most, with a count of the others since (a
    script's fresh keys cannot flood the teacher)."""
    mod = room.moderation
    if not mod.mutes or member.cid in room.service_cids or member.cid == room.host_cid:
        return []
    now = room.clock()
    key = mod.identity_of(member)
    held = mod.mute_for(member, now, key)
    if held is None or not _as_newcomer(held, member, key):
        return []
    why: list[Action] = [_room.Send(to=member.cid, event=ev.Notice(code=ev.E_MUTED, message=mute_refusal(held, now, member.name)))]
    told_at, others = mod.newcomers_muted.get(held.id, (-math.inf, 0))
    if now - told_at < BAN_TRIES_SECONDS:
        mod.newcomers_muted[held.id] = (told_at, others + 1)
        return why
    mod.newcomers_muted[held.id] = (now, 0)
    how = "with no key" if key is None else f"with a key the room had not seen before (code {key_code(key)})"
    also = f" ({others} other newcomer{'s' if others != 1 else ''} there since the last such line)" if others else ""
    text = (
        f"{member.name} joined from {held.newcomers} {how} and is muted by {held.name}'s mute (#{held.id}), which mutes "
        f"newcomers there{also}; /unmute {member.name} lets them speak"
    )
    to = [m.cid for m in room.members.values() if m.cid != member.cid and mod.is_operator(room, m)]
    return [*why, *(_room.Send(to=cid, event=ev.Notice(code=ev.E_MUTED, message=text)) for cid in to), _room.Log(text=text)]


def _own_mute_refusal(room: Room, member: Member, lifted: list[Mute]) -> list[Action]:
    """An operator muted by another may not lift the mute that holds them (by name, or by key or
    address under another name): a mute is for someone else to lift, else it held nobody."""
    mod = room.moderation
    own = mod.mute_for(member, room.clock(), mod.identity_of(member))
    if own is None or not any(m is own for m in lifted):
        return []
    return room._error(member.cid, ev.E_NOT_OPERATOR, f"you cannot /unmute yourself; {own.by} muted you: ask another operator")


def _turn_given_again(room: Room) -> list[Action]:
    """A mute was lifted or ended: in a turn room that nobody could hold (everyone else was
    muted) the turn goes to the first who may speak, and everyone is told (else every full
    screen would go on reading 'waiting for someone to join' and refuse to send)."""
    if room.mode != _room.TURN or room.turn_holder is not None or (first := _first_to_speak(room)) is None:
        return []
    room.turn_holder = first
    return [room._turn_broadcast()]


_ON_TARGET = {"op": _op, "deop": _deop, "kick": _kick, "ban": _ban, "mute": _mute, "unmute": _unmute}


_MODE_WORDS = {"turn": "turn-based", "duplex": "full-duplex"}  # a switch, and a refused one, say these


def act_text(act: ev.Moderated, whom: str) -> str:
    """One act as one line, who did what to ``whom`` (the name, or "you") and why: as the room
    reads it (session_moderation.py) and as a headless server's log records it."""
    why = f": {act.reason}" if act.reason else ""
    if act.action == "mute":
        how_long = f"for {act.minutes} minute{'s' if act.minutes != 1 else ''}" if act.minutes else "until unmuted"
        if act.was_until is None:
            return f"{act.by} muted {whom} {how_long}{why}"
        before = _minutes_left(act.was_until, act.time) if act.was_until else "until unmuted"
        was = "were" if whom == "you" else "was"
        return f"{act.by} muted {whom} {how_long}{why} ({whom} {was} already muted {before}; this mute replaces that one)"
    texts = {
        "op": f"{act.by} made {whom} an operator",
        "deop": f"{act.by} took operator status from {whom}",
        "kick": f"{act.by} removed {whom} from the room",
        "ban": f"{act.by} banned {whom}",
        "unban": f"{act.by} lifted the ban on {whom}",
        "unmute": f"{act.by} unmuted {whom}",
        "mode": f"{act.by} switched the room to {_MODE_WORDS.get(act.mode or '', 'full-duplex')} mode",
        "pass": f"{act.by} passed the turn on" + (f" from {whom}" if ev.name_key(act.name or "") != ev.name_key(act.by) else ""),
    }
    return texts.get(act.action, f"{act.by}: {act.action} {whom}") + why


def act_line(act: ev.Moderated, *, mine: bool) -> str:
    """One act as a participant reads it: ``mine`` when it is about them ("hal muted you ...
    (you can still read)"). lanchat's screen (session_moderation.py) and a text participant (textview.py)
    say the same facts in the same words."""
    text = act_text(act, "you" if mine else (act.name or "?"))
    return text + (" (you can still read)" if mine and act.action == "mute" else "")


def _told(room: Room, member: Member, action: str, name: str | None, reason: str, **extra: object) -> list[Action]:
    """The one-line notice of an act, to everyone, kept in the history first, and a line in
    the server's log: a headless room's log is the record of who was removed or muted."""
    act = ev.Moderated(action=action, by=member.name, name=name, reason=reason or None, time=room.clock(), **extra)  # type: ignore[arg-type]
    told = _room.Broadcast(to=room._everyone, frame=encode(act))
    return [_room.Record(event=act), told, _room.Log(text=act_text(act, name or "?"))]


def _operators_broadcast(room: Room) -> _room.Broadcast:
    return _room.Broadcast(to=room._everyone, frame=encode(ev.Operators(names=room.moderation.operator_names(room))))


def _remove(room: Room, member: Member, target: Member, action: str, reason: str) -> list[Action]:
    """Kick or ban someone here: everyone (them included) sees the act; they get a fatal
    error saying who and why, and are closed; the others see them leave."""
    why = f": {reason}" if reason else ""
    verb = "removed you from the room" if action == "kick" else "banned you from the room"
    code = ev.E_KICKED if action == "kick" else ev.E_BANNED
    actions = _told(room, member, action, target.name, reason)
    actions.append(_room.Send(to=target.cid, event=ev.Error(code=code, message=f"{member.name} {verb}{why}", fatal=True)))
    room.moderation.operator_cids.discard(target.cid)
    actions.extend(room.leave(target.cid, "kicked" if action == "kick" else "banned"))
    actions.append(_room.Close(who=target.cid))
    return actions


def _ban_absent(room: Room, member: Member, name: str, reason: str) -> list[Action]:
    """Ban a name nobody here has (someone who just left): by name, by the key that owns the
    name if one does (gate.py), and on a lab server by the account they left from if the room
    knew it (Moderation.departed_at), so coming back under another name and key does not get
    round it."""
    key, refused = _absent_key(room, member, name, "banned")
    if refused:
        return refused
    unknown = _never_seen(room, member, name, key, ("ban", "unban"))
    mod = room.moderation
    lifted = mod.lifted.get(ev.name_key(name))  # /unban, a classmate joins, /ban again (after a restart too)
    if key is None:  # no key owns the name (a class behind one NAT claims 10 names an hour): the one they left with
        key = _departed_key(room, member, name, lifted)
    newcomers = mod.newcomers_absent(room, name, key, lifted)  # behind a school's NAT: as _ban holds it
    ban = Ban(
        id=mod.new_ban_id(), name=name, name_key=ev.name_key(name), key=key,
        address=mod.departed_at(room, name), by=member.name, reason=reason, time=room.clock(),
        newcomers=newcomers, known_keys=mod.known_keys(room, lifted) if newcomers else frozenset(),
    )  # fmt: skip
    room.moderation.bans.append(ban)
    return [
        _room.StoreBan(ban=ban), *_no_longer_operator(room.moderation, key), *_told(room, member, "ban", name, reason),
        *_also_banned(room, member, ban), *_sent(member, unknown),
    ]  # fmt: skip


def _never_seen(room: Room, member: Member, name: str, key: str | None, acts: tuple[str, str]) -> ev.Notice | None:
    """A /ban or /mute of ``name``, nobody here: a notice for the operator when the room knows
    nobody by that name either (no key owns it, nobody left with it lately), most likely a typo
    (`/mute dna 5` for dan): the act still holds whoever joins as ``name`` (the room's line says
    `teacher muted dna`, and the class reads it as done), so it names the close names here (not
    the host's or ``member``'s own, which no act reaches) and the way to undo it. None when
    ``name`` is someone who left, whom the act is meant for."""
    import difflib

    act, undo = acts
    mod = room.moderation
    name_key = ev.name_key(name)
    if key is not None or any(name_key in kept for kept in (mod.departed_places, mod.departed_users, mod.lifted)):
        return None
    never = {member.cid, room.host_cid, *room.service_cids}  # not theirs to be muted or banned
    here = {ev.name_key(m.name): m.name for m in room.members.values() if m.cid not in never}
    among = list(here) if len(here) <= GUESS_AMONG else [k for k in here if abs(len(k) - len(name_key)) <= 1][:GUESS_AMONG]
    close = [here[k] for k in difflib.get_close_matches(name_key, among, n=3, cutoff=0.6)]
    guess = f" (did you mean {' or '.join(close)}?)" if close else ""
    return ev.Notice(
        code=ev.E_NO_SUCH_USER,
        message=f"nobody here or lately gone is named {name}{guess}, and no key owns that name: the {act} "
        f"holds whoever joins as {name}; /{undo} {name} lifts it",
    )


def _sent(member: Member, notice: ev.Notice | None) -> list[Action]:
    return [] if notice is None else [_room.Send(to=member.cid, event=notice)]


_Kept = TypeVar("_Kept")
_Held = TypeVar("_Held", Ban, Mute)


def _keep_newest(kept: OrderedDict[str, _Kept], name_key: str, value: _Kept) -> None:
    """``value`` under ``name_key``, the newest of ``kept``, which keeps DEPARTED_USERS at most
    (who left from where, the bans /unban lifted)."""
    kept[name_key] = value
    kept.move_to_end(name_key)
    while len(kept) > DEPARTED_USERS:
        kept.popitem(last=False)


def _departed_key(room: Room, member: Member, name: str, lifted: Ban | None) -> str | None:
    """The key ``name`` left with from another machine (Moderation.left), else the one ``lifted``
    held (Moderation.lifted: the DEPARTED_USERS newest bans /unban lifted, by name: the guide's
    /unban, a classmate joins, /ban again, after a restart too), if it is neither ``member``'s
    (who bans) nor the host's (``_absent_key``'s rule)."""
    mod = room.moderation
    key = mod.departed_places.get(ev.name_key(name), (None, None))[1] or (lifted.key if lifted else None)
    host = room.members.get(room.host_cid) if room.host_cid is not None else None
    return None if key in (mod.identity_of(member), host and mod.identity_of(host)) else key


def _absent_key(room: Room, member: Member, name: str, done: str) -> tuple[str | None, list[Action]]:
    """For a ban or mute of ``name``, nobody here: the key that owns it (gate.py), or the refusal
    when the name cannot be anyone's or that key is the operator's own or the host's."""
    problem = ev.name_problem(name)
    if problem:
        return None, room._error(member.cid, ev.E_BAD_NAME, f"{name[:40]!r} cannot be {done}: {problem}")
    key = key_id(room.gate.owner_of(name))
    host = room.members.get(room.host_cid) if room.host_cid is not None else None
    if key is not None and key in (room.moderation.identity_of(member), host and room.moderation.identity_of(host)):
        return None, room._error(member.cid, ev.E_BAD_MESSAGE, f"{name[:40]!r} belongs to your key or the host's: not {done}")
    return key, []


def _deop_absent(room: Room, member: Member, name: str, reason: str) -> list[Action]:
    """``/deop NAME`` of someone not here: the operator status of the key that owns NAME (one a
    restart kept: the host's start lines name them), dropped here and from the store; [] if that
    key is none."""
    key = key_id(room.gate.owner_of(name)) if not ev.name_problem(name) else None
    if key is None or key not in room.moderation.operator_keys:
        return []
    room.moderation.operator_keys.discard(key)
    for other in _operator_sessions(room, key):  # here under another name: no more either
        room.moderation.operator_cids.discard(other.cid)
    # everyone's list of operators, which named that key's sessions here
    return [_room.DropOperator(key=key), *_told(room, member, "deop", name, reason), _operators_broadcast(room)]


def _unban(room: Room, member: Member, name: str) -> list[Action]:
    """``/unban NAME`` or ``/unban #ID`` (the number /bans shows). No name reads as ``#ID``
    (names.reads_as_ban_number); one an older version let in and banned is lifted by its name
    when no ban has that number."""
    mod = room.moderation
    number = name[1:]
    gone: list[Ban] = []
    # isdecimal, not isdigit: int() refuses "²"; and a few digits, as int() refuses thousands
    if name.startswith("#") and number.isdecimal() and len(number) <= 18:
        gone = [b for b in mod.bans if b.id == int(number)]
    if not gone and could_be_a_name(name):  # (else no ban's, unkeyed: names.could_be_a_name)
        key = ev.name_key(name)
        gone = [b for b in mod.bans if b.name_key == key] or _by_owner(room, name, mod.bans)
    if not gone:
        return room._error(member.cid, ev.E_NO_SUCH_USER, f"no ban matches {name[:40]!r}; /bans lists them")
    mod.bans = [b for b in mod.bans if b not in gone]
    for ban in gone:
        _keep_newest(mod.lifted, ban.name_key, ban)
    return [_room.DropBans(ids=tuple(b.id for b in gone)), *_told(room, member, "unban", gone[0].name, "")]


def _admit(room: Room, member: Member, name: str, code: str) -> list[Action]:
    """``/admit NAME [CODE]``: the key of the newest try under NAME turned away as a newcomer by a
    ban at a shared place (within ADMIT_SECONDS) is known to the bans that held it from now on,
    and kept with them (StoreBan: a restart keeps it); they are in at their next join. Only such
    a try: the banned person's own name, key or place never reaches it. Two keys tried under
    NAME (someone else may be using it, the banned student first of all), at any time, or a
    name's tries forgotten: refused until CODE (NAME's refusal shows it, all of it) picks one."""
    mod = room.moderation
    now = room.clock()
    wanted = "".join(ch for ch in code.lower() if ch not in " \t-:")
    if wanted and len(wanted) != 16:  # the whole code: a part of it can be matched by a key made to (a code heard)
        return room._error(member.cid, ev.E_BAD_MESSAGE, (
            f"/admit {name[:40]} CODE: the code is all 16 hex digits their refusal shows (as 3f2a 9c1b 77d0 e4a5), "
            f"not {code[:24]}"))  # fmt: skip
    tried_as = mod.newcomer_tries.get(ev.name_key(name), []) if could_be_a_name(name) else []  # (else none, unkeyed)
    kept = [
        t for t in reversed(tried_as)
        if any(b.holds_newcomer(key=t.key, address=t.place) for b in mod.bans)
    ]  # fmt: skip
    tries = [t for t in kept if now - t.time < ADMIT_SECONDS and (not wanted or key_code(t.key).replace(" ", "") == wanted)]
    # NAME alone only when the room knows of no other key under it: one that tried over
    # ADMIT_SECONDS ago, or under a name forgotten (a flood of names), may be the real NAME's
    if len(tries) != 1 or (not wanted and (len(kept) > 1 or mod.newcomer_names_forgotten)):
        return _not_admitted(room, member, name, code, kept, tries)
    tried = tries[0]
    held = [b for b in mod.bans if b.holds_newcomer(key=tried.key, address=tried.place)]
    let_in = {b.id: replace(b, known_keys=b.known_keys | {tried.key}) for b in held}
    mod.bans = [let_in.get(b.id, b) for b in mod.bans]
    mod.newcomer_tries.pop(ev.name_key(name), None)
    whose = " and ".join(f"{b.name}'s ban (#{b.id})" for b in held)
    text = (
        f"{tried.name} may join now: the key {key_code(tried.key)} that tried as {tried.name} "
        f"{_ago(now - tried.time)} ago is let in past {whose}; their refusal showed them the same code "
        f"and told them to join again"
    )
    return [
        *(_room.StoreBan(ban=ban) for ban in let_in.values()),
        _room.Send(to=member.cid, event=ev.Notice(code=ev.E_BANNED, message=text)),
        _room.Log(text=f"{member.name} let {tried.name} in (key {key_code(tried.key)}) past {whose}"),
    ]


def _not_admitted(room: Room, member: Member, name: str, code: str, kept: list[NewcomerTry], tries: list[NewcomerTry]) -> list[Action]:
    """Why /admit NAME [CODE] let no key in: no try (``tries``, those it could take), or the
    room cannot tell which key is NAME's (``kept``: the keys tried under NAME, newest first)."""
    shown = name[:40]
    if not tries:
        coded = f" with the code {code[:20]}" if code else ""
        return room._error(member.cid, ev.E_NO_SUCH_USER, (
            f"no join as {shown}{coded} was turned away by a ban's rule for newcomers in the last {int(ADMIT_SECONDS // 60)} "
            f"minutes: ask them to join (their refusal tells them to ask you), then /admit {shown}"))  # fmt: skip
    ask = f"ask {shown} for the code their refusal shows, then /admit {shown} CODE"
    if len(kept) > 1:
        codes = ", ".join(key_code(t.key) for t in kept)
        return room._error(member.cid, ev.E_BAD_MESSAGE, (
            f"{len(kept)} different keys tried to join as {shown} (the newest {_ago(room.clock() - kept[0].time)} ago), "
            f"so someone else may be using the name: {ask} ({codes})"))  # fmt: skip
    return room._error(member.cid, ev.E_BAD_MESSAGE, (
        f"joins under more than {DEPARTED_USERS:,} names were turned away as newcomers (someone may be trying names), "
        f"so a try as {shown} with another key may be forgotten: {ask}"))  # fmt: skip


def _ago(seconds: float) -> str:
    return f"{int(seconds)} s" if seconds < 90 else f"{int(seconds // 60)} min"


def _unmute_name(room: Room, member: Member, name: str) -> list[Action]:
    mod = room.moderation
    lifted: list[Mute] = []
    if could_be_a_name(name):  # (else nobody's mute, unkeyed: names.could_be_a_name)
        key = ev.name_key(name)
        lifted = [m for m in mod.mutes if m.name_key == key] or _by_owner(room, name, mod.mutes)
    if not lifted:
        return room._error(member.cid, ev.E_NO_SUCH_USER, f"nobody called {name[:40]!r} is muted")
    if refused := _own_mute_refusal(room, member, lifted):
        return refused
    return [*mod.lift_mutes(lifted), *_told(room, member, "unmute", lifted[0].name or name, "")]


def _by_owner(room: Room, name: str, held: Sequence[_Held]) -> list[_Held]:
    """Of ``held`` (bans or mutes), none under ``name``: those of the key that owns it, made
    under the name its person had then (/mute ann of anna, who left by /nick: _renamed, 'hal
    muted anna'). The teacher who typed /mute ann, then /unmute ann once she had gone, read
    'nobody called ann is muted', and /unban ann alike."""
    owner = key_id(room.gate.owner_of(name)) if ev.name_problem(name) is None else None
    return [] if owner is None else [h for h in held if h.key == owner]


def _mode(room: Room, member: Member, mode: str | None) -> list[Action]:
    if mode not in _room.MODES:
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"/mode takes {' or '.join(_room.MODES)}")
    if mode == room.mode:
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"the room is already {_MODE_WORDS[mode]}")
    room.mode = mode
    actions: list[Action] = [_room.KeepMode(mode=mode)]  # a restart resumes it (PROTOCOL.md, Moderation)
    actions += _told(room, member, "mode", None, "", mode=mode)
    if mode == _room.TURN:
        room.turn_holder = _first_to_speak(room)
    else:
        room.turn_holder = None
    actions.append(room._turn_broadcast())
    return actions


def _first_to_speak(room: Room) -> int | None:
    """Who takes a turn nobody holds: the first in turn order who may (not the host, not muted)."""
    eligible = room.may_hold_turn()
    return next((c for c in _room.turn_order(room) if c in eligible and c != room.host_cid), None)


def _pass(room: Room, member: Member, reason: str, name: str | None) -> list[Action]:
    """The turn moves on from its holder: an operator's /pass, or the holder's own. ``name``,
    when given, must be the holder: the turn may have moved since the command was typed."""
    if room.mode != _room.TURN:
        return room._error(member.cid, ev.E_BAD_MESSAGE, "/pass works in turn-based mode only")
    holder = room.turn_holder
    if holder is None:
        return room._error(member.cid, ev.E_BAD_MESSAGE, "nobody holds the turn")
    held_by = room.name_of(holder)
    if name and (not could_be_a_name(name) or ev.name_key(name) != ev.name_key(held_by or "")):  # (unkeyed if no name's)
        # a teacher's "/pass s03" reads as "give s03 the turn": say what /pass does instead
        how = "/pass alone moves it on to the next in turn order; it cannot hand it to someone"
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"{name[:40]} does not hold the turn; it is {held_by}'s turn ({how})")
    next_holder = room._next_after(holder, order_before=_room.turn_order(room))
    if next_holder == holder:  # alone, or everyone else muted: saying it moved would be untrue
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"nobody else here can take the turn; it stays {held_by}'s")
    room.turn_holder = next_holder
    return [*_told(room, member, "pass", held_by, reason), room._turn_broadcast()]


def tick(room: Room) -> list[Action]:
    """Called by the loop now and then: a turn nobody took moves on (``room.turn_timeout``)."""
    timeout = room.turn_timeout
    if room.mode != _room.TURN or timeout is None or room.turn_holder is None or room.clock() - room.turn_since < timeout:
        return []
    return turn_timed_out(room, timeout)


def ban_refusal(room: Room, cid: int, name: str, key: bytes | None) -> list[Action] | None:
    """A banned person's ``hello`` (name, verified key or known key, address): refused, fatal."""
    mod = room.moderation
    if cid in room.service_cids:
        return None  # the server's own bot, which no ban may name (a ban an older version stored)
    if named_by_serve(room, name, key):
        return None  # the room owner's word: let in, and the bans on her lifted (named_operator_joins)
    arrival_key = mod.arrivals.get(cid, ("", None))[1]
    identity = key_id(key if key is not None else arrival_key)
    ban = mod.ban_for(name_key=ev.name_key(name), key=identity, address=_address_for_bans(mod, cid))
    if ban is None:
        return None  # (the room has seen the key once it is in: seen_on_join)
    return _banned(room, cid, ban, name, identity)


def seen_on_join(room: Room, member: Member) -> list[Action]:
    """``member`` joined, past the bans: a key this room knows from now on, across a restart
    too (Moderation.seen): a later ban at a shared place lets it in. Not the host's nor a bot's."""
    if member.cid == room.host_cid or member.cid in room.service_cids:
        return []
    mod = room.moderation
    # a class of N behind a NAT (serve --max-per-address N), two machines each, two classes an hour
    new_an_hour = 4 * room.gate.names_per_address
    return mod.seen_keys.seen(mod.identity_of(member), mod.groups.group(member.address), room.clock(), new_an_hour)


def _banned(room: Room, cid: int, ban: Ban, name: str, key: str | None = None) -> list[Action]:
    address = _address_for_bans(room.moderation, cid)
    if ban.newcomers is not None and not ban.matches(name_key=ev.name_key(name), key=key, address=address):
        if key is not None:  # a key /admit can let in: kept for a while under the name it asked for
            _note_newcomer(room.moderation, NewcomerTry(name=name, key=key, place=address, time=room.clock()))
        return _told_newcomer(room, cid, ban, name, key) + _ban_try(room, ban, name, admit=key)
    return _told_banned(room, cid, ban) + _ban_try(room, ban, name)


def _note_newcomer(mod: Moderation, tried: NewcomerTry) -> None:
    """Keep ``tried`` for /admit: the ADMIT_KEYS newest keys under its name (one key once: its
    newest try), the DEPARTED_USERS newest names. Old tries stay (only ADMIT_SECONDS' are let
    in, the older ones still say another key tried the name), and a name forgotten is noted."""
    name_key = ev.name_key(tried.name)
    kept = [t for t in mod.newcomer_tries.pop(name_key, []) if t.key != tried.key]
    mod.newcomer_tries[name_key] = [*kept, tried][-ADMIT_KEYS:]
    while len(mod.newcomer_tries) > DEPARTED_USERS:
        mod.newcomer_tries.popitem(last=False)
        mod.newcomer_names_forgotten = True


def _told_newcomer(room: Room, cid: int, ban: Ban, name: str, key: str | None) -> list[Action]:
    """A newcomer held by a ban at their shared place (Ban.newcomers), perhaps a classmate who
    never joined before: told what holds them and how to be let in, not that they are banned.
    With a key: an operator's ``/admit NAME`` lets it in (its code to compare); with none
    (nc, a script), nothing can let that in but lanchat's key."""
    head = f"{ban.by} has closed this room to {NEW_ARRIVALS}: "  # plainly: the detail is the operators' (Refused.holds)
    if key is None:
        how = f"join with lanchat connect, then ask {ban.by} to let you in"
    else:
        how = f"ask {ban.by} to let you in (/admit {name[:40]}), then join again; your code, if asked: {key_code(key)}"
    return room._error(cid, ev.E_BANNED, head + how, fatal=True)


def _told_banned(room: Room, cid: int, ban: Ban) -> list[Action]:
    why = f": {ban.reason}" if ban.reason else ""
    return room._error(cid, ev.E_BANNED, f"you are banned from this room by {ban.by}{why}", fatal=True)


def address_ban_refusal(room: Room, cid: int, name: str) -> list[Action] | None:
    """In a password room, a ``hello`` from a banned address is refused at once, before the
    password is asked (PROTOCOL.md, Moderation): the address is the connecting machine's own, so
    this tells nobody anything about anyone else. A ban by name waits for the password: a stranger
    must not learn whether a name is banned."""
    address = _address_for_bans(room.moderation, cid)
    ban = next((b for b in room.moderation.bans if b.address and address and group_matches(b.address, address)), None)
    return None if ban is None else _banned(room, cid, ban, name)


def _address_for_bans(mod: Moderation, cid: int) -> str:
    """``cid``'s address as the bans compare it: on this machine its user (``where``), read
    only while a ban by user is in force (loopback's user is a question to the kernel)."""
    if any(b.address is not None and b.address.startswith(USER) for b in mod.bans):
        return mod.where(cid)
    return mod.address_of(cid)


def key_banned(room: Room, hello: ev.Hello) -> bool:
    """Is the key of this ``hello`` (not proved yet) banned? Then the gate challenges it without
    the password: proving the key is enough to be told (``ban_refusal``). Someone who only
    copied a banned public key learns one thing from the salt-less challenge: that it is banned;
    not by whom, nor why, nor anything of the room."""
    if hello.key is None or not room.moderation.bans:
        return False
    try:
        public = unb64(hello.key, PUBLIC_KEY_BYTES, '"key"')
    except IdentityError:
        return False  # the gate refuses it
    if named_by_serve(room, hello.name, public):
        return False  # asked for the password as anyone is; once the key is proved, no ban holds her
    identity = key_id(public)
    return any(b.key is not None and b.key == identity for b in room.moderation.bans)


def _ban_try(room: Room, ban: Ban, name: str, *, admit: str | None = None) -> list[Action]:
    """A banned person tried to join: the host and operators are told at once, unless they
    were told about this ban less than BAN_TRIES_SECONDS ago; then it is counted, and told
    with the others held back when that time is up (``ban_tries_due``)."""
    mod = room.moderation
    now = room.clock()
    tries = mod.ban_tries.get(ban.id)
    other = ev.name_key(name) != ban.name_key
    admitted = name if admit else None  # a newcomer with a key (``admit``): /admit NAME lets it in
    code = key_code(admit) if admit else None  # the operator compares it with the newcomer's screen first
    if tries is not None and now - tries.told_at < BAN_TRIES_SECONDS:
        tries.held += 1
        tries.name = name
        tries.others = tries.others or other
        tries.admit, tries.admit_code = admitted, code
        return []
    mod.ban_tries[ban.id] = BanTries(told_at=now, name=name)
    held = tries.held if tries is not None else 0
    others = other or (held > 0 and tries is not None and tries.others)
    return _tell_ban_tries(room, ban, name, 1 + held, now, others=others, admit=admitted, admit_code=code)


def ban_tries_due(room: Room) -> list[Action]:
    """Called by the loop when ``ban_tries_due_at`` comes: the tries held back are told, one
    notice per ban with their count; a ban nobody tried again under is forgotten."""
    mod = room.moderation
    now = room.clock()
    actions: list[Action] = []
    for ban_id, tries in list(mod.ban_tries.items()):
        if now - tries.told_at < BAN_TRIES_SECONDS:
            continue
        ban = next((b for b in mod.bans if b.id == ban_id), None)
        if not tries.held or ban is None:  # nothing more to tell, or unbanned since
            del mod.ban_tries[ban_id]
            continue
        actions += _tell_ban_tries(room, ban, tries.name, tries.held, now, others=tries.others, admit=tries.admit,
                                   admit_code=tries.admit_code)
        mod.ban_tries[ban_id] = BanTries(told_at=now, name=tries.name)
    return actions


def ban_tries_due_at(room: Room) -> float | None:
    """When ``ban_tries_due`` has something to do, by the room's clock; None: never."""
    tries = room.moderation.ban_tries
    return min(t.told_at for t in tries.values()) + BAN_TRIES_SECONDS if tries else None


def _tell_ban_tries(room: Room, ban: Ban, name: str, count: int, now: float, *, others: bool, admit: str | None = None,
                    admit_code: str | None = None) -> list[Action]:  # fmt: skip
    """One notice of ``count`` tries to the host and the operators here, and a log line. Tries
    under another name (``others``: any of them, not only the last) say whose ban it was and
    what it holds: "bob" refused by mallory's ban on a shared lab account is not bob's ban (the
    teacher may want to /unban it), and behind a NAT the banned student's fresh names and a new
    classmate's are counted together, so the count is the ban's, not the last name's. The key
    it holds is named as the banned one's ("mallory's key"): "their key" read as the newcomer's.
    ``admit``: the last try was a newcomer's with a key, which ``/admit NAME`` lets in;
    ``admit_code``: that key's code, for the operator to compare with the newcomer's screen before
    letting it in (someone else may have tried under a classmate's name first)."""
    mod = room.moderation
    other = others
    newcomers = [f"joins at {_place_text(ban.newcomers)} {NEWCOMER_TEXT}"] if ban.newcomers else []
    own_key = [f"{ban.name}'s key"] if ban.key else []
    holds = " and ".join(own_key + ([_place_text(ban.address)] if ban.address else []) + newcomers)
    refused = ev.Refused(
        name=name[: ev.MAX_NAME_CHARS], code=ev.E_BANNED, time=now, by=ban.by, reason=ban.reason or None,
        count=count if count > 1 else None, of=ban.name[: ev.MAX_NAME_CHARS] if other else None,
        holds=holds if other and holds else None, admit=admit[: ev.MAX_NAME_CHARS] if admit else None,
        admit_code=admit_code if admit else None,
    )  # fmt: skip
    told = [c for c, m in room.members.items() if c not in room.service_cids and mod.is_operator(room, m)]
    return [*(_room.Send(to=cid, event=refused) for cid in told), _room.Log(text=ban_try_text(refused))]


def ban_try_text(refused: ev.Refused) -> str:
    """A banned person's tries as one line: as the host reads it (session_moderation.py) and as the log
    records it."""
    why = f": {refused.reason}" if refused.reason else ""
    tried = f"tried to join {refused.count} more times and was turned away each time" if refused.count else (
        "tried to join and was turned away"
    )
    code = f" (its key's code: {refused.admit_code[:19]}: compare it with theirs first)" if refused.admit_code else ""
    admit = f"; /admit {refused.admit} lets {'the last' if refused.count else 'them'} in{code}" if refused.admit else ""
    if refused.of:  # another name than the ban's: whose ban, and what of it they came with
        held = f", which holds {refused.holds}" if refused.holds else ""
        ban = f"{refused.of}'s ban by {refused.by}{why}{held}; /unban {refused.of} lifts it"
        if refused.count:  # tries under several names, perhaps several people's: the count is the ban's
            return f"{refused.count} more tries to join were turned away ({ban}), the last as {refused.name}{admit}"
        return f"{refused.name} ({ban}) {tried}{admit}"
    return f"{refused.name} (banned by {refused.by}{why}) {tried}{admit}"


def muted_join_refusal(room: Room, cid: int, name: str, key: bytes | None) -> list[Action] | None:
    """A muted key's ``hello`` under another name than it was muted with: refused (not fatal),
    as ``nick`` is, since everyone reads a name (``joined``). By key only: an address may be a
    classmate's, who would be muted there already but must still be able to join."""
    mod = room.moderation
    if not mod.mutes:
        return None
    identity = key_id(key if key is not None else mod.arrivals.get(cid, ("", None))[1])
    if identity is None:
        return None
    now = room.clock()
    name_key = ev.name_key(name)
    mute = next(
        (m for m in mod.mutes if m.key == identity and m.name_key != name_key and (m.until is None or m.until > now)), None
    )
    if mute is None:
        return None
    message = f"{mute_refusal(mute, now)}, under the name you had when muted; not as {name[:40]!r}"
    return room._error(cid, ev.E_MUTED, message)


def mutes_ended(room: Room) -> list[Action]:
    """Called by the loop when ``mutes_end_at`` comes: the mutes over by now go, here and from
    the store, so the history file holds only mutes in force; a turn nobody could hold is given."""
    mod = room.moderation
    now = room.clock()
    ended = [m for m in mod.mutes if m.until is not None and m.until <= now]
    return [*mod.lift_mutes(ended), *_turn_given_again(room)] if ended else []


def mutes_end_at(room: Room) -> float | None:
    """When the first timed mute ends, by the room's clock; None: no mute ends by itself."""
    return min((m.until for m in room.moderation.mutes if m.until is not None), default=None)


# What a ban-list's lines, or a roster, may take of one frame (wire.MAX_FRAME_BYTES), the rest left
# for the frame's own fields and the line that counts the bans left out.
LISTING_BYTES = MAX_FRAME_BYTES - 1024


def ban_list(bans: list[Ban]) -> ev.BanList:
    """``/bans``' answer: every ban in force, or, when they would not fit in one frame (stored
    bans add up over a school year: about 300 with long reasons), the newest that fit and a first
    line that counts the others (``/unban #ID`` still lifts any of them)."""
    lines: list[str] = []
    used = 0
    for ban in reversed(bans):  # newest first, so a cut leaves out the oldest
        line = ban.describe()
        used += len(json.dumps(line, ensure_ascii=False).encode("utf-8", "replace")) + 1  # as wire.encode_json_plain spells it, and a comma
        if used > LISTING_BYTES:
            left = len(bans) - len(lines)
            lines.append(f"(and {left} older ban{'s' if left != 1 else ''}, not listed: /unban #ID lifts one)")
            break
        lines.append(line)
    return ev.BanList(bans=tuple(reversed(lines)))


def is_muted(room: Room, member: Member) -> bool:
    """Whether ``member`` is muted now, without building the refusal's words (a typing hint asks)."""
    mod = room.moderation
    return bool(mod.mutes) and mod.mute_for(member, room.clock(), mod.identity_of(member)) is not None


def muted_refusal(room: Room, member: Member) -> list[Action]:
    """A muted person's ``say``: refused with who, for how long and why, and that they may still
    whisper the host and the operators (muted_whisper_refusal), to ask why: README and the guide
    promise it, and the refusal is where a muted student looks."""
    if (words := muted_words(room, member)) is None:
        return []
    whom = _operators_here(room, member, hosted="the host or an operator", headless="an operator")
    return room._error(member.cid, ev.E_MUTED, f"{words}, and /w {whom}")


def muted_words(room: Room, member: Member) -> str | None:
    """Why ``member`` may not speak now (mute_refusal's words: plain for one held as a newcomer at
    their shared place), or None: not muted. Every refusal of a muted person starts with them."""
    mod = room.moderation
    if not mod.mutes:
        return None
    now = room.clock()
    mute = mod.mute_for(member, now, key := mod.identity_of(member))
    if mute is None:
        return None
    return mute_refusal(mute, now, member.name if _as_newcomer(mute, member, key) else None)


def _as_newcomer(mute: Mute, member: Member, key: str | None) -> bool:
    """Does ``mute`` (mute_for's) hold ``member`` by its rule for newcomers, not as its person?"""
    return mute.newcomers is not None and not mute.matches(name_key=ev.name_key(member.name), key=key, address=member.address)


def _operators_here(room: Room, member: Member, *, hosted: str, headless: str) -> str:
    """Whom a muted ``member`` may whisper, as their refusals say it: "the host or an operator
    (here now: hal, ann)"; in a room with no host (serve --headless) ``headless``, not ``hosted``:
    there is no host to whisper."""
    names = [n for n in room.moderation.operator_names(room) if n != member.name]
    here = f"here now: {', '.join(names[:5])}{' and more' if len(names) > 5 else ''}" if names else "none is here now"
    return f"{hosted if room.host_cid is not None else headless} ({here})"


def muted_whisper_refusal(room: Room, member: Member, to: str) -> list[Action]:
    """A muted person's ``whisper``: it still reaches the host and the operators, so a student can
    ask the teacher why (PROTOCOL.md, Moderation: mute), and nobody else, who would carry on for
    them what the room may not read. An operator not here is reached by the key /op gave it
    (kept for them, as any whisper to someone away). Flood control counts it as ever (guard.py)."""
    mod = room.moderation
    if (words := muted_words(room, member)) is None:
        return []
    target = room.find(to)
    if target is not None and target.cid not in room.service_cids and mod.is_operator(room, target):
        return []
    if target is None and could_be_a_name(to) and (absent := room.known.get(ev.name_key(to))) is not None:
        owner = key_id(room.gate.owner_of(absent))
        if owner is not None and owner in mod.operator_keys:
            return []
    whom = _operators_here(room, member, hosted="the host and operators", headless="operators")
    text = f"{words}, and whisper only {whom}"
    return room._error(member.cid, ev.E_MUTED, text)


def roster(room: Room) -> ev.Roster:
    """``who``'s answer: everyone here in join order, and who of them is muted with the minutes
    left (0: until unmuted), counted as a muted person's refusal counts them. Everyone sees it:
    the act that muted someone told the whole room for how long already."""
    mod = room.moderation
    if not mod.mutes:
        return ev.Roster(members=room.names, bots=room.bot_names(), text=room.text_names())
    now = room.clock()
    muted: list[str] = []
    minutes: list[int] = []
    # The room-full rule keeps the members' names inside one frame (PROTOCOL.md 5), not twice:
    # with hundreds of long names all muted, the muted ones are listed as far as they fit.
    room_left = LISTING_BYTES - len(encode(ev.Roster(members=room.names, bots=room.bot_names(), text=room.text_names())))
    for member in room.members.values():
        mute = mod.mute_for(member, now, mod.identity_of(member))
        if mute is not None:
            room_left -= len(json.dumps(member.name, ensure_ascii=False).encode("utf-8", "replace")) + 22  # a comma, its minutes
            if room_left < 0:
                break
            muted.append(member.name)
            minutes.append(0 if mute.until is None else _minutes(mute.until, now))
    return ev.Roster(members=room.names, muted=tuple(muted), muted_minutes=tuple(minutes), bots=room.bot_names(), text=room.text_names())


def welcome_muted(room: Room, member: Member) -> tuple[int | None, int | None]:
    """The welcome's ``muted`` and ``muted_seconds`` for a newcomer (a mute survives a restart
    and a reconnection): the minutes left, counted as ``roster`` counts them (0: until unmuted),
    and for a timed mute the seconds left, rounded up (at least 1); None, None: not muted."""
    mod = room.moderation
    if not mod.mutes or member.cid in room.service_cids:
        return None, None
    now = room.clock()
    mute = mod.mute_for(member, now, mod.identity_of(member))
    if mute is None:
        return None, None
    if mute.until is None:
        return 0, None
    return _minutes(mute.until, now), max(1, math.ceil(round(mute.until - now, 3)))


def named_operator_joins(room: Room, member: Member) -> list[Action]:
    """``serve --operator NAME`` or ``--operator FINGERPRINT``: the first to join under NAME with
    an identity key, or the key with that fingerprint under whatever name, becomes an operator,
    as if the host had typed ``/op NAME``, and everyone is told. The name rules have run: NAME
    was nobody's or this key's, and this join claims it (gate.py), so from now on only that key
    can use it. A keyless guest never becomes one (``operator_name_refusal``). Once per server
    run: after that the key keeps it across reconnects, and a /deop holds."""
    mod = room.moderation
    key = member.key
    if key is not None and mod.leads.keys and key_id(key) in mod.leads.keys:  # back (a rejoin, a second window)
        mod.leads.cids.add(member.cid)
    if key is None or member.cid in room.service_cids or not (mod.named_operators or mod.operator_fingerprints):
        return []
    identity: str = key_id(key)  # type: ignore[assignment]  # (bytes in, a str out)
    by_key = next((hex_digits for hex_digits in mod.operator_fingerprints if identity.startswith(hex_digits)), None)
    if by_key is not None:
        del mod.operator_fingerprints[by_key]
    else:
        name_key = ev.name_key(member.name)
        if name_key not in mod.named_operators:
            return []
        if room.gate.owner_of(member.name) not in (None, key):  # the name rules refuse this; never rely on it
            return []
        del mod.named_operators[name_key]
    mod.leads.keys.add(identity)
    mod.leads.cids.add(member.cid)
    lifted = _bans_on_named_operator(room, member, identity)
    if member.cid == room.host_cid or mod.is_operator(room, member):
        return lifted
    mod.operator_cids.add(member.cid)
    mod.operator_keys.add(identity)
    by = room.name_of(room.host_cid) if room.host_cid is not None else None
    act = ev.Moderated(action="op", by=by or "the server", name=member.name, reason="serve --operator", time=room.clock())
    from .identity import short_fingerprint

    note = _room.Log(text=f"{member.name} (key {short_fingerprint(key)}) is an operator (serve --operator)")
    made: list[Action] = [_room.Record(event=act), note, _room.Broadcast(to=room._everyone, frame=encode(act)), _operators_broadcast(room)]
    return lifted + made


def named_by_serve(room: Room, name: str, key: bytes | None) -> bool:
    """Is ``name`` with ``key`` the one ``serve --operator`` names, not joined yet this run (its
    fingerprint, or NAME with the key that already owns it)? ``key`` is proved by the time a ban
    is left aside for it (ban_refusal, at the admission). A NAME nobody owns yet proves nobody:
    taken as "or no owner yet", a banned student who joined as that name with her banned key was
    let past every ban, had hers lifted and was made an operator (found by review)."""
    mod = room.moderation
    if key is None or not (mod.named_operators or mod.operator_fingerprints):
        return False
    identity = key_id(key) or ""
    if any(identity.startswith(hex_digits) for hex_digits in mod.operator_fingerprints):
        return True
    return ev.name_key(name) in mod.named_operators and room.gate.owner_of(name) == key


def hello_named_by_serve(room: Room, hello: ev.Hello) -> bool:
    """``named_by_serve`` for a ``hello`` whose key is not proved yet (its proof comes before any
    ban is left aside): then a ban on her address is not told before the password either."""
    if hello.key is None:
        return False
    try:
        return named_by_serve(room, hello.name, unb64(hello.key, PUBLIC_KEY_BYTES, '"key"'))
    except IdentityError:
        return False  # the gate refuses it


def _bans_on_named_operator(room: Room, member: Member, identity: str) -> list[Action]:
    """The bans on the name or key of whom ``serve --operator`` names, lifted as she joins: in a
    headless room operators are equal, and one she made could take her status and ban her, kept
    across a restart, with nobody left to /unban her. The command line is the room owner's word,
    so restarting with it gives the room back (a ban by address alone stays: it may hold others)."""
    mod = room.moderation
    name_key = ev.name_key(member.name)
    gone = [b for b in mod.bans if b.name_key == name_key or (b.key is not None and b.key == identity)]
    if not gone:
        return []
    mod.bans = [b for b in mod.bans if b not in gone]
    actions: list[Action] = [_room.DropBans(ids=tuple(b.id for b in gone))]
    for ban in gone:
        act = ev.Moderated(action="unban", by="the server", name=ban.name, reason="serve --operator", time=room.clock())
        actions += [_room.Record(event=act), _room.Broadcast(to=room._everyone, frame=encode(act)), _room.Log(text=act_text(act, ban.name or "?"))]
    return actions


def bans_serve_operator_lifts(room: Room) -> list[Ban]:
    """The kept bans ``_bans_on_named_operator`` will lift as whom ``serve --operator`` names joins,
    as far as it is known before anyone has (serve's start lines say so, not "kept"): a ban on a
    NAME it names that a key owns, or on that key; a ban on the key of a fingerprint it names.
    (A ban on the name that key will join under goes too; which name, nobody knows yet.)"""
    mod = room.moderation
    names, keys = set(), set()
    for name_key, name in mod.named_operators.items():
        owner = room.gate.owner_of(name)
        if owner is not None:  # (a NAME nobody owns proves nobody: its ban holds, named_by_serve)
            names.add(name_key)
            keys.add(key_id(owner))

    def lifted(ban: Ban) -> bool:
        if ban.name_key in names:
            return True
        return ban.key is not None and (ban.key in keys or any(ban.key.startswith(hex_digits) for hex_digits in mod.operator_fingerprints))

    return [ban for ban in mod.bans if lifted(ban)]


def operator_name_refusal(room: Room, cid: int, name: str, key: bytes | None) -> list[Action]:
    """A keyless guest asking for a ``serve --operator`` name nobody owns yet: refused, so that
    nobody can speak as the room's operator-to-be without the key that will own the name."""
    if key is not None or ev.name_key(name) not in room.moderation.named_operators or cid in room.service_cids:
        return []
    message = f"the name {name!r} is kept for an operator who joins with an identity key (lanchat connect); choose another"
    return [_room.Send(to=cid, event=ev.Error(code=ev.E_NAME_OWNED, message=message))]


def operator_name_nick_refusal(room: Room, member: Member, name: str) -> list[Action]:
    """A ``serve --operator`` name nobody has joined under yet is taken by joining under it
    (``named_operator_joins``), never by ``/nick``: a key that renamed into it owned the name
    without being made an operator, and the teacher, joining later, was refused it."""
    if ev.name_key(name) not in room.moderation.named_operators:
        return []
    message = f"the name {name!r} is kept for the operator this server names (serve --operator); choose another"
    return [_room.Send(to=member.cid, event=ev.Error(code=ev.E_NAME_OWNED, message=message))]


def banned_name_nick_refusal(room: Room, member: Member, name: str) -> list[Action]:
    """A ``/nick`` to a name a ban holds: refused, as a ``hello`` under it is (PROTOCOL.md, nick:
    the rules of hello). Not fatal: the person here is not the one banned (their key or address
    would have put them out), but a banned name must not come back into the room, and the key
    renaming into it would own it. Bans are told to the whole room: this tells nothing new."""
    ban = next((b for b in room.moderation.bans if b.name_key == ev.name_key(name)), None)
    if ban is None:
        return []
    message = f"the name {name!r} is banned in this room (by {ban.by}); choose another"
    return [_room.Send(to=member.cid, event=ev.Error(code=ev.E_BAD_NAME, message=message))]


def operators_on_join(room: Room, member: Member, host_name: str | None) -> list[Action]:
    """Who the operators are, when it is more than the host (whom the welcome names): everyone
    hears when an operator comes back (by identity key); a newcomer hears it once."""
    operators = room.moderation.operator_names(room)
    if not operators or operators == ((host_name,) if host_name else ()):
        return []
    if member.cid != room.host_cid and room.moderation.is_operator(room, member):
        return [_room.Broadcast(to=room._everyone, frame=encode(ev.Operators(names=operators)))]
    return [_room.Send(to=member.cid, event=ev.Operators(names=operators))]


def turn_timed_out(room: Room, seconds: float) -> list[Action]:
    """The turn moved on by itself: nobody took it for ``seconds`` (``tick``)."""
    holder = room.turn_holder
    if holder is None:
        return []
    held_by = room.name_of(holder)
    room.turn_holder = room._next_after(holder, order_before=_room.turn_order(room))
    if room.turn_holder == holder:
        return []
    # By "the server", even with a host: the host's name read as if the host had typed /pass
    # ("hal passed the turn on: nobody spoke for 5 s" on hal's own screen, when hal held it).
    act = ev.Moderated(
        action="pass", by="the server", name=held_by, reason=f"nobody spoke for {seconds:g} s", time=room.clock()
    )
    return [_room.Record(event=act), _room.Broadcast(to=room._everyone, frame=encode(act)), room._turn_broadcast()]


def mute_refusal(mute: Mute, now: float, newcomer: str | None = None) -> str:
    """What a muted person is told when they try to speak; ``newcomer``: their name, when held by a
    mute of someone else at their shared place (Mute.newcomers), not by one of their own: said
    plainly, for a student (whose mute, and why newcomers, is in the operators' notice:
    newcomer_muted_told), with what the teacher types to let them speak."""
    left = "until an operator unmutes you" if mute.until is None else _minutes_left(mute.until, now)
    if newcomer is not None:
        lasts = "until further notice" if mute.until is None else left
        return f"{mute.by} has muted {NEW_ARRIVALS} {lasts}: ask {mute.by} to let you speak (/unmute {newcomer[:40]}); you can still read"
    why = f": {mute.reason}" if mute.reason else ""
    return f"you are muted by {mute.by} {left}{why}; you can still read"


def _minutes(until: float, now: float) -> int:
    """The whole minutes left of a mute ending at ``until``, rounded up, at least one. Rounded to
    the nearest, 5 min 20 s left was "5": a rejoining client, which adds them to its clock (the
    welcome's ``muted``), took the mute for over 20 s early. (To the millisecond first: a mute
    of 10 just made is 10, not 11 for a float's last bit.)"""
    return max(1, math.ceil(round(until - now, 3) / 60))


def _minutes_left(until: float, now: float) -> str:
    """What is left of a mute ending at ``until``: "for 3 more minutes"."""
    minutes = _minutes(until, now)
    return f"for {minutes} more minute{'s' if minutes != 1 else ''}"


# Last, on purpose: room.py imports this module for the rules, and this one needs room.py's
# action classes, used only when a command runs. Importing it here, once everything above is
# defined, works whichever of the two is imported first.
from . import room as _room  # noqa: E402
