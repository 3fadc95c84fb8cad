"""gate.py: who may come in, and under which name. Never does I/O.

The room (room.py) hands every ``hello`` and ``auth`` to its gate, which answers with actions
(a challenge, a refusal) or with ``Admit(name, key)``: proven, let the room apply its name rules.
The gate holds the rules of docs/PROTOCOL.md, "Identity and room password": a hello with a key is
challenged and the signature checked (covering the channel binding); a room password is proved by
HMAC and wrong ones are counted per person and per address (identity.WrongPasswords); a name
belongs to the first key that used it, and the gate says who owns what (``owner_of``, ``whois``,
``release``). Randomness and the clock are passed in.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import events as ev
from . import identity
from .actions import Action, Claim, Close, Log, Send
from .identity import IdentityError, Lockout, RoomPassword, WrongPasswords, owned_name_key
from .limits import PROMPT_SECONDS, HostNotice, HostNotices
from .names import could_be_a_name, look_keys, name_key

if TYPE_CHECKING:  # the room asks the gate about names; the gate only reads it
    from .room import Room

# Name ownership is trust on first use; these keep one student's script from hoarding names
# (claim): a key owns its newest three, a machine makes at most ten names its own an hour; an
# address of the network as many as serve --max-per-address lets it hold at once, if more
# (Gate.names_per_address: a class behind one NAT, whose names stayed unowned past the tenth).
MAX_NAMES_PER_KEY = 3
NEW_NAMES_PER_PLACE = 10
CLAIM_WINDOW = 3600.0
MAX_CLAIM_PLACES = 4096  # addresses remembered for that count before the quiet ones are forgotten
# A person asked for the room's password (or at nc their name) has limits.PROMPT_SECONDS to type it; an address whose
# prompts ended unanswered (timed out, or closed at the prompt) this many times within
# UNANSWERED_WINDOW gets no such time for a while: 20 s from connecting, as any hello. Else a
# script there held all 16 of its connections 120 s each, again and again: a class behind that
# NAT was kept at the door. Half the connections one address may hold at once (limits.MAX_PER_ADDRESS):
# a class has a student or two walk away from the prompt, not eight in ten minutes.
UNANSWERED_PROMPTS = 8
UNANSWERED_WINDOW = 600.0


@dataclass(frozen=True)
class Admit:
    """Proven: the room may now check ``name`` for ``key`` (None: a keyless guest)."""

    name: str
    key: bytes | None
    hello: ev.Hello | None = None  # what it said: a rejoin's resume secret and since (PROTOCOL.md, Rejoining)
    # the key was proved without the room password, as the room asked for a banned key: only
    # its refusal may follow, never a welcome
    password_waived: bool = False

    @property
    def first_release(self) -> bool:
        """Its hello said version 1, lanchat's first release (room_social.to_each_age)."""
        return self.hello is not None and self.hello.version == ev.FIRST_RELEASE_VERSION


# What a keyless hello to a room with a password is told: a client of the first release (version
# 1, no passwords, no keys) never asks for one, so its user is told to update; another (a
# minimal client) to speak protocol 2.
OLDER_THAN_PASSWORDS = "this room needs a password, and your lanchat is older than room passwords: update lanchat to join"
NEEDS_A_KEY = "this room needs a password (and lanchat with protocol 2)"
# Where the gate counts a peer on the server's own machine (loopback, the socket file, its own
# LAN address): one place, or one a user where the system says which (Gate.place).
LOCAL_PLACE = "this machine"


@dataclass(frozen=True, kw_only=True)
class TypedHello(ev.Hello):
    """A text participant's hello (textline.py) with the room password as they typed it. Made on
    the server from the lines it reads, never decoded from or encoded to the wire."""

    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class _Asked:
    """A hello with a key, waiting for its ``auth``: the name, the key, the nonce sent, the hello."""

    name: str
    key: bytes
    nonce: bytes
    hello: ev.Hello | None = None
    password_waived: bool = False


def _refuse(cid: int, code: str, message: str, fatal: bool = False) -> list[Action]:
    actions: list[Action] = [Send(to=cid, event=ev.Error(code=code, message=message, fatal=fatal))]
    return actions + [Close(who=cid)] if fatal else actions


def person(name: str, key: bytes | None) -> str:
    """Whom a wrong password counts against at an address (identity.WrongPasswords): the key it
    proved, else (a guest typing at nc) the name asked for, as names compare, cut to a name's
    length (a 60 KiB name is one entry's worth)."""
    return f"key {identity.b64(key)}" if key is not None else f"name {name_key(name[: ev.MAX_NAME_CHARS])}"


def _lock_words(lock: Lockout | None, that: str) -> str:
    """What a wrong password's note adds when it starts a lock (``that``: the place, as said)."""
    if lock is None:
        return ""
    if lock.whole_address:
        return f"; {lock.tries} within {_span(lock.window)} from {that}, whoever typed them: all there are locked out for {_wait(lock.lock)}"
    return f"; {lock.tries} within {_span(lock.window)} from them: only they are locked out, for {_wait(lock.lock)}"


def _untold(told: HostNotice) -> str:
    """What a wrong password's notice to the host adds for those not told of at the time (a storm
    from many addresses named three a minute: HostNotices), or nothing."""
    if told.count <= 1:
        return ""
    more = told.count - 1
    where = f", from {told.groups} addresses" if told.groups > 1 else ""
    return f" (and {more} more wrong password{'s' if more > 1 else ''} since the last said{where})"


def _span(seconds: float) -> str:
    """A window for people to read: 60 -> "a minute", 300 -> "5 minutes", 90 -> "90 s"."""
    if seconds == 60:
        return "a minute"
    return f"{seconds / 60:.0f} minutes" if seconds % 60 == 0 else f"{seconds:.0f} s"


def _wait(seconds: float) -> str:
    """How long, rounded up to the second: "42 s", "60 s", "4 min 40 s", "5 min"."""
    whole = math.ceil(seconds)
    minutes, rest = divmod(whole, 60)
    return f"{whole} s" if whole < 120 else f"{minutes} min" + (f" {rest} s" if rest else "")


def locked_message(lock: Lockout) -> str:
    """The ``locked`` refusal: why (whose count, how many within what) and how long to wait."""
    if lock.whole_address:
        why = f"from your address: {lock.tries} within {_span(lock.window)}, by anyone there, so everyone there waits"
    else:
        why = f"from you: {lock.tries} within {_span(lock.window)} (others at your address may still join)"
    return f"too many wrong passwords {why}; try again in {_wait(lock.wait)}"


def person_lock_rule() -> str:
    """What a person's wrong passwords lead to, for the client to say after its last try: the
    rule behind locked_message, before any lock (the client cannot tell whether one came)."""
    tries, window, lock = identity.PERSON_TRIES, _span(identity.PERSON_WINDOW), _span(identity.PERSON_LOCK)
    return f"{tries} wrong ones within {window} keep you out for {lock} (others at your address may still join)"


def _one_machine(place: str) -> bool:
    """Is ``place`` (Gate.address) one machine on the network? An AF_UNIX socket's peers and a
    loopback address are every user of the server's own machine (a lab server people log in to):
    they are not counted as one for the names they claim."""
    try:
        return not ipaddress.ip_address(place.partition("%")[0]).is_loopback
    except ValueError:
        return False  # "local socket", or no address known


# The keys and names whose sessions are remembered (KeptSessions), and the older secrets of each.
SESSIONS_REMEMBERED = 4096
OLDER_SECRETS = 32


class KeptSessions:
    """Which session is a key's newest under each name, so that a machine left behind (a laptop's
    lid closed, its person gone to another machine with the same key) does not take the room back
    when its client rejoins by itself with its old secret (PROTOCOL.md, Rejoining). Kept per key
    and name, each with its own older secrets: joins of others (a term's worth, or a script
    rejoining 4,096 times) cannot push a person's record out; only 4,096 other keys and names can."""

    def __init__(self) -> None:
        # (key, name key) -> (its newest session's secret, the secret that session came back with,
        # the secrets of its sessions before: a rejoin with one of those is a machine left behind)
        self.latest: OrderedDict[tuple[bytes, str], tuple[str, str | None, deque[str]]] = OrderedDict()

    def replaced(self, admit: Admit) -> bool:
        """Does ``admit`` rejoin with the secret of a session of its key and name that a later one
        replaced, one that was not its own retry (a fresh connect elsewhere)? Then it is refused
        (taken-over, which a client does not try again after) and the later session stays."""
        resume = admit.hello.resume if admit.hello is not None else None
        if not resume or admit.key is None:
            return False
        kept = self.latest.get((admit.key, name_key(admit.name)))
        return kept is not None and resume not in kept[:2] and resume in kept[2]

    def note(self, key: bytes | None, name: str, secret: str, admit: Admit) -> None:
        """A session of ``key`` was welcomed under ``name`` with ``secret``: its newest there; its own
        retry (a welcome lost on the way) may bring ``secret`` or what ``admit`` came back with."""
        if key is None:
            return
        who = (key, name_key(name))
        came_back_with = admit.hello.resume if admit.hello is not None else None
        before = self.latest.pop(who, None)
        older: deque[str] = before[2] if before is not None else deque(maxlen=OLDER_SECRETS)
        for old in before[:2] if before is not None else ():
            if old and old not in (secret, came_back_with) and old not in older:
                older.append(old)
        self.latest[who] = (secret, came_back_with, older)
        while len(self.latest) > SESSIONS_REMEMBERED:
            self.latest.popitem(last=False)


class PromptTimes:
    """How long a person has to type one gate's room password, or at nc their name (Deadlines.prompted): limits.
    PROMPT_SECONDS; 0 (the hello deadline only) at another machine's place whose prompts ended
    unanswered (timed out, or closed at the prompt) UNANSWERED_PROMPTS times within
    UNANSWERED_WINDOW. Kept: the newest UNANSWERED_PROMPTS times of each place, for at most
    MAX_CLAIM_PLACES places."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.clock = gate.clock
        self.times: dict[str, deque[float]] = {}
        self.typing: set[int] = set()  # text participants asked "name: " or "password: ", not answered yet

    def seconds(self, cid: int, *, typing: bool = False) -> float | None:
        """The time ``cid``'s person has from now: None when the gate asks it nothing (a hello
        without the password asked: Gate.asks_password); ``typing``: a text participant was asked
        "name: " or "password: " (textline.TextDoor.asked)."""
        gate = self.gate
        if typing:
            self.typing.add(cid)
        elif not gate.asks_password(cid):
            return None
        if gate.on_the_network(cid) and self.count(gate.place(cid)) >= UNANSWERED_PROMPTS:
            return 0.0
        return PROMPT_SECONDS

    def gone(self, cid: int) -> None:
        """``cid`` is gone: counted against its place if it went while asked for the password (or at nc its name)."""
        typing = cid in self.typing
        self.typing.discard(cid)
        if (typing or self.gate.asks_password(cid)) and self.gate.on_the_network(cid):
            self.note(self.gate.place(cid))

    def count(self, place: str) -> int:
        """How many of ``place``'s prompts ended unanswered within the window (older ones dropped)."""
        times = self.times.get(place)
        if times is None:
            return 0
        now = self.clock()
        while times and now - times[0] >= UNANSWERED_WINDOW:
            times.popleft()
        if not times:
            del self.times[place]
        return len(times)

    def note(self, place: str) -> None:
        """A prompt of ``place``'s ended unanswered now."""
        now = self.clock()
        if len(self.times) >= MAX_CLAIM_PLACES and place not in self.times:
            self.times = {where: times for where, times in self.times.items() if now - times[-1] < UNANSWERED_WINDOW}
        self.count(place)  # (drops the old ones)
        times = self.times.setdefault(place, deque(maxlen=UNANSWERED_PROMPTS))
        times.append(now)



def unkept_words(name: str, on_the_network: bool, per_address: int) -> str:
    """What the one whose name was used unowned is told (Gate.claim): only the log said so, and
    students 11 to 16 behind a school's NAT did not know their names were anyone's next time.
    On the network, what the host can do; not to a lab server's user (one person, whatever it sets)."""
    if not on_the_network:
        return (f"the name {name[:40]!r} is not kept for you: you made {NEW_NAMES_PER_PLACE} names your own "
                "on this machine within the hour, so next time anyone may take it")  # fmt: skip
    return (f"the name {name[:40]!r} is not kept for you: {per_address} names were made their own from your "
            "address within the hour (a class behind one router?), so next time anyone may take it; "
            "the host can raise that: serve --max-per-address N")  # fmt: skip

class Gate:
    """The identity challenge, the room password and name ownership, for one room."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        owners: Mapping[str, bytes] | None = None,
        owner_names: Iterable[str] = (),
        password: RoomPassword | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        binding: bytes = b"",
    ) -> None:
        # owned_name_key(name) -> the public key that owns it, as the store had it at start;
        # Claim actions keep the store in step.
        self.owners: dict[str, bytes] = dict(owners or {})
        # names.look_keys(name), each -> (owned_name_key(name), name) of the owned names, as claimed
        # (``owner_names``: the store's spellings at start): a look-alike with another case
        # ("haI" of "hal") is refused as the name itself is
        self._looks: dict[str, tuple[str, str]] = {}
        for spelled in owner_names:
            if owned_name_key(spelled) in self.owners:
                self._looks.update(dict.fromkeys(look_keys(spelled), (owned_name_key(spelled), spelled)))
        self.password = password
        self.attempts = WrongPasswords(clock)  # wrong passwords, per person and per address
        self.host_told = HostNotices()  # the host hears of them as of refusals at the door: a few addresses a minute
        self.clock = clock
        self.random_bytes = random_bytes
        # With TLS, the SHA-256 of the server's certificate: every signature and password proof
        # must cover it (identity.sign_challenge), so an answer relayed from another server fails.
        self.binding = binding
        self.addresses: dict[int, str] = {}  # cid -> the peer's "host:port" (the hub's), for the lockout
        self.host: Callable[[], int | None] = lambda: None  # the host's connection, if any (the room's)
        # An address -> what counts as one machine (the room's limits.AddressGroups.group: a
        # global IPv6 /64 off the server's own networks is one), for the claims and the lockout.
        self.group: Callable[[str], str] = lambda address: address
        # The user ids of peers on this machine (a lab server's class: loopback or the socket
        # file), cid -> uid, read from their sockets by the loop (transport.peer_users) for the
        # cids asked together: set by the loop; this default knows none (a room without sockets).
        # Read only when a name is claimed or a ban or mute asks, never for a connection that
        # has not joined (a storm of them would each ask the kernel, or read its tables), and
        # once a connection (``_users``); a member's is often known from its join (``peek_users``).
        self.read_users: Callable[[list[int]], Mapping[int, int | None]] = lambda cids: {}
        # What the loop can say at once of the same (transport.peer_users_at_once: a socket
        # file's SO_PEERCRED, the kernel's sock_diag answer), leaving out what only a read of
        # /proc's tables would find: asked once a member, as it joins (``joined``), so that a
        # student who quits before the teacher's /ban is still known by account (moderation.py).
        self.peek_users: Callable[[list[int]], Mapping[int, int | None]] = lambda cids: {}
        self._readable: set[int] = set()  # connections whose user the loop can read (arrived)
        self._users: dict[int, int | None] = {}  # cid -> its user, as read
        self._this_machine: set[int] = set()  # connections to this machine's own LAN address (arrived)
        self._asked: dict[int, _Asked] = {}
        self._claims: dict[str, deque[float]] = {}  # address -> when it made names its own (claim)
        self.names_per_address = NEW_NAMES_PER_PLACE  # an address of the network's an hour (serve: max(10, --max-per-address))
        self.sessions = KeptSessions()  # which session is each key's newest (a machine left behind)
        self.prompts = PromptTimes(self)  # the time to type the password (hub.py, textline.py)

    # ------------------------------------------------------------------ coming in

    def hello(self, cid: int, hello: ev.Hello, *, waive_password: bool = False) -> Admit | list[Action]:
        """A hello with a key gets a challenge; a keyless guest is admitted (or refused) at once.
        ``waive_password``: the room will refuse this key (a ban), so the challenge asks for
        no password: the person is told before typing it (``Admit.password_waived``)."""
        self._asked.pop(cid, None)  # a new hello (another name) cancels the last challenge
        self.prompts.typing.discard(cid)  # (a text participant's, with the password typed: answered)
        if hello.version not in ev.SUPPORTED_VERSIONS:
            message = f"this server speaks protocol version {ev.PROTOCOL_VERSION}, not {hello.version}"
            return _refuse(cid, ev.E_VERSION, message, fatal=True)
        try:
            key = None if hello.key is None else identity.public_key(hello.key)
        except IdentityError as exc:
            return _refuse(cid, ev.E_BAD_KEY, f"{exc} (an Ed25519 public key, base64)", fatal=True)
        if self.password is not None and (lock := self.attempts.locked_for(self.place(cid), person(hello.name, key))):
            return _refuse(cid, ev.E_LOCKED, locked_message(lock), fatal=True)
        if key is None:
            if self.password is None:
                return Admit(hello.name, None, hello)
            if isinstance(hello, TypedHello) and self.password.can_check_typed:  # typed at nc: one cheap HMAC
                return Admit(hello.name, None, hello) if self.password.accepts_typed(hello.password) else self._wrong(cid, hello.name, None)
            # a version-1 client cannot prove it: one refusal, nothing about the room
            return _refuse(cid, ev.E_PASSWORD, OLDER_THAN_PASSWORDS if hello.version == ev.FIRST_RELEASE_VERSION else NEEDS_A_KEY, True)
        nonce = self.random_bytes(identity.NONCE_BYTES)
        self._asked[cid] = _Asked(name=hello.name, key=key, nonce=nonce, hello=hello, password_waived=waive_password)
        salt = identity.b64(self.password.salt) if self.password is not None and not waive_password else None
        return [Send(to=cid, event=ev.Challenge(nonce=identity.b64(nonce), salt=salt))]

    def asks_password(self, cid: int) -> bool:
        """Is ``cid`` challenged for the room's password, not answered yet: a person typing it (PromptTimes)?"""
        asked = self._asked.get(cid)
        return asked is not None and self.password is not None and not asked.password_waived

    def auth(self, cid: int, auth: ev.Auth) -> Admit | list[Action]:
        """The answer to our challenge: the signature proves the key, the proof the password."""
        asked = self._asked.pop(cid, None)
        if asked is None:
            return _refuse(cid, ev.E_BAD_MESSAGE, '"auth" answers a challenge: send "hello" with a key first')
        try:
            signature = identity.unb64(auth.signature, identity.SIGNATURE_BYTES, '"signature"')
        except IdentityError as exc:
            return _refuse(cid, ev.E_BAD_SIGNATURE, str(exc), fatal=True)
        if not identity.signature_ok(asked.key, asked.nonce, signature, self.binding):
            return _refuse(cid, ev.E_BAD_SIGNATURE, "the signature does not match your key and this challenge", True)
        if asked.password_waived:
            return Admit(asked.name, asked.key, asked.hello, password_waived=True)
        if self.password is not None and not self._proved(asked.nonce, auth.proof):
            return self._wrong(cid, asked.name, asked.key)
        return Admit(asked.name, asked.key, asked.hello)

    def _wrong(self, cid: int, name: str, key: bytes | None) -> list[Action]:
        """A wrong room password (proved by a client with ``key`` or typed at nc): counted toward
        the person's and the address's lockouts, logged and told to the host, and the same generic
        refusal for everyone. The name asked for says who to help (a class's addresses say
        nothing to a teacher); the log and the host's screen show it harmlessly (textsafe), and
        never more than a name's length."""
        address, place = self.address(cid), self.place(cid)
        lock = self.attempts.failed(place, person(name, key))
        that = "that address" if place == address else place
        note = f"wrong room password from {address} (as {name[:ev.MAX_NAME_CHARS]})" + _lock_words(lock, that)
        host = self.host()  # a teacher hosting in the chat sees it too: the log is only the headless server's
        told = self.host_told.refused(place, self.clock(), urgent=lock is not None) if host is not None else None
        to_host = [Send(to=host, event=ev.Error(code=ev.E_PASSWORD, message=note + _untold(told)))] if host is not None and told else []
        return [Log(text=note), *to_host, *_refuse(cid, ev.E_PASSWORD, "wrong password", fatal=True)]

    @property
    def asks_typed_password(self) -> bool:
        """Should a text participant be asked for the password (the room has one it can check)?"""
        return self.password is not None and self.password.can_check_typed

    def _proved(self, nonce: bytes, proof: str | None) -> bool:
        try:
            raw = identity.unb64(proof or "", identity.PROOF_BYTES, '"proof"')
        except IdentityError:
            return False
        return self.password is not None and self.password.accepts(nonce, raw, self.binding)

    def address(self, cid: int) -> str:
        """The peer's host ("10.0.0.9" of "10.0.0.9:50312"): one machine, however many ports."""
        peer = self.addresses.get(cid, f"connection {cid}")
        return peer.rpartition(":")[0].strip("[]") if ":" in peer else peer  # "host:port", "[ipv6]:port"

    def arrived(self, cid: int, peer: str, user: bool = False, this_machine: bool = False, account: int | None = None) -> None:
        """Connection ``cid`` from ``peer`` ("host:port"); ``user``: for a peer on this machine,
        the loop can read its user id from the socket (``read_users``), when asked.
        ``this_machine``: the peer's address is this machine's own LAN address (transport.
        from_this_machine: a lab student who joined by the announced address, not loopback).
        ``account``: its user, if the loop read it at the accept already (for the connection
        caps): kept, so neither its join nor a ban asks again."""
        self.addresses[cid] = peer
        if this_machine:
            self._this_machine.add(cid)
        if user and not self.on_the_network(cid):
            self._readable.add(cid)
            if account is not None and account >= 0:  # (limits.PEER_GONE: closed first, nobody's)
                self._users[cid] = account

    def by_own_address(self, cid: int) -> bool:
        """Did ``cid`` come from this machine by its own LAN address (``arrived``)?"""
        return cid in self._this_machine

    def on_the_network(self, cid: int) -> bool:
        """Did ``cid`` come from another machine (not loopback, the socket file, nor this
        machine's own address)?"""
        return cid not in self._this_machine and _one_machine(self.address(cid))

    def place(self, cid: int) -> str:
        """Where wrong passwords are counted: the one machine ``cid`` counts as (``group``); on
        this machine (loopback, a socket file: a lab class) its user, from any of its addresses
        (a script taking 127.0.0.2, .3, ... had fifteen guesses more at each), else the machine."""
        if self.on_the_network(cid):
            return self.group(self.address(cid))
        user = self.user_of(cid)
        return LOCAL_PLACE if user is None else f"user {user} on {LOCAL_PLACE}"

    def user_of(self, cid: int) -> int | None:
        """The Unix user of ``cid``, a peer on this machine, if the system says (read once)."""
        if cid in self._users:
            return self._users[cid]
        return self.users_of((cid,))[cid]

    def users_of(self, cids: Collection[int]) -> dict[int, int | None]:
        """``user_of`` of each of ``cids``, those not read yet asked of the loop together: one
        read of the system's tables for a whole class (a /ban compares everyone's account)."""
        users = self._users
        unread = [cid for cid in cids if cid not in users and cid in self._readable]
        if unread:
            read = self.read_users(unread)
            users.update((cid, read.get(cid)) for cid in unread)  # gone since: None, not asked again
        return {cid: users.get(cid) for cid in cids}

    def joined(self, cid: int) -> None:
        """``cid``, a peer on this machine, joined the room: its user is kept now if the loop
        can say it at once (``peek_users``); if not, it is read when asked, as before."""
        if cid in self._readable and cid not in self._users and cid in (said := self.peek_users([cid])):
            self._users[cid] = said[cid]

    def known_user(self, cid: int) -> int | None:
        """``cid``'s user if it was read already (at its join, or when asked); never asks."""
        return self._users.get(cid)

    def forget(self, cid: int) -> None:
        """Connection ``cid`` is gone."""
        self.prompts.gone(cid)
        self._asked.pop(cid, None)
        self.addresses.pop(cid, None)
        self._readable.discard(cid)
        self._users.pop(cid, None)
        self._this_machine.discard(cid)

    # ------------------------------------------------------------------ names and their keys

    def owner_of(self, name: str) -> bytes | None:
        return self.owners.get(owned_name_key(name))

    def refusal(self, cid: int, name: str, key: bytes | None) -> list[Action]:
        """Refuse ``name`` if another key (or, for a guest, any key) owns it, or a name it looks
        like as drawn, case kept or in capitals (names.look_keys)."""
        owner, alike = self.owner_of(name), ""
        look = next((found for drawn in look_keys(name) if (found := self._looks.get(drawn)) is not None), None)
        if owner is None and look is not None:
            owner, alike = self.owners.get(look[0]), f" (it looks like {look[1]!r})"
        if owner is None or owner == key:
            return []
        return _refuse(cid, ev.E_NAME_OWNED, f"the name {name!r}{alike} belongs to someone else on this server; choose another")

    def _owned(self, name: str, key: bytes | None, by: int | None = None) -> list[Action]:
        """``name`` is ``key``'s now (None: nobody's, released by the connection ``by``), here and
        in the store (a Claim)."""
        owned = owned_name_key(name)
        if key is None:
            self.owners.pop(owned, None)
            self._looks = {look: found for look, found in self._looks.items() if found[0] != owned}
        else:
            self.owners[owned] = key
            self._looks.update(dict.fromkeys(look_keys(name), (owned, name)))
        return [Claim(name=name, owner=key, by=by if key is None else None)]

    def claim(self, name: str, key: bytes | None, cid: int | None = None) -> list[Action]:
        """Trust on first use: a key joining under a name nobody owns (or taking it with /nick) owns it
        from now on. Passing through names does not hoard them: a key keeps its newest MAX_NAMES_PER_KEY
        (the oldest is released), and one machine (``cid``'s place; on the server's own machine, one user)
        makes at most NEW_NAMES_PER_PLACE names its own an hour (an address of the network ``names_per_address``),
        however many keys it makes; past that it is used unowned, logged, its taker told (unkept_words; PROTOCOL.md, Identity)."""
        if key is None or self.owner_of(name) is not None:
            return []
        if cid is not None and (place := self._claim_place(cid)) is not None and (refused := self._place_claims(place, name, cid)):
            return [refused, Send(to=cid, event=ev.Notice(code=ev.E_NAME_UNOWNED, message=unkept_words(name, self.on_the_network(cid), self.names_per_address)))]
        mine = [owned for owned, owner in self.owners.items() if owner == key]  # oldest first
        actions = self._owned(name, key)
        for old in mine[: max(0, len(mine) + 1 - MAX_NAMES_PER_KEY)]:
            actions += self._owned(old, None, cid)
        return actions

    def _claim_place(self, cid: int) -> str | None:
        """Who counts as one machine for names claimed: ``place``; on the server's own machine
        (loopback, the socket file: a lab server's class) each user; None, not counted, when
        the user is not known (another system)."""
        if self.on_the_network(cid):
            return self.place(cid)
        user = self.user_of(cid)
        return None if user is None else f"user {user} on {LOCAL_PLACE}"

    def _place_claims(self, place: str, name: str, cid: int) -> Log | None:
        """Count a new claim from ``place`` (``cid``'s); a Log instead when it made too many this hour."""
        now, most = self.clock(), self.names_per_address if self.on_the_network(cid) else NEW_NAMES_PER_PLACE
        if len(self._claims) > MAX_CLAIM_PLACES:  # many machines: forget those quiet for an hour
            self._claims = {where: times for where, times in self._claims.items() if now - times[-1] < CLAIM_WINDOW}
        recent = self._claims.setdefault(place, deque())
        while recent and now - recent[0] >= CLAIM_WINDOW:
            recent.popleft()
        if len(recent) >= most:
            return Log(text=f"{place} made {len(recent)} names its own within the hour: {name[:40]!r} is used unowned")
        recent.append(now)
        return None

    def whois(self, cid: int, name: str, room: Room) -> list[Action]:
        """``/whois NAME``: the owner's short fingerprint, for two people to compare out loud."""
        here = room.find(name)
        nameable = could_be_a_name(name)  # (else nobody's, and not keyed: names.could_be_a_name)
        owner = self.owner_of(name) if nameable and (here is None or here.key is not None) else None  # a guest owns nothing
        known = room.known.get(ev.name_key(name)) if nameable else None
        if here is None and owner is None and known is None:
            return _refuse(cid, ev.E_NO_SUCH_USER, f"nobody called {name[:40]!r} is known here")
        reply = ev.WhoIsReply(
            name=here.name if here else known or name,
            fingerprint=identity.short_fingerprint(owner) if owner is not None else None,
            here=here is not None,
            host=here is not None and here.cid == room.host_cid,
        )
        return [Send(to=cid, event=reply)]

    def release(self, cid: int, name: str, host_cid: int | None) -> list[Action]:
        """``/release NAME``, the host only: the name's key no longer owns it (a lost key file)."""
        if cid != host_cid:
            return _refuse(cid, ev.E_NOT_HOST, "only the host can release a name")
        if len(name) > ev.MAX_NAME_CHARS:  # no key owns it; and echoed back, 64 KiB of it would not fit a frame
            return _refuse(cid, ev.E_BAD_NAME, f"a name has at most {ev.MAX_NAME_CHARS} characters")
        owned = self.owner_of(name) is not None
        done: list[Action] = [*self._owned(name, None, cid), Log(text=f"the host released the name {name!r}")]
        return [*(done if owned else []), Send(to=cid, event=ev.Released(name=name, owned=owned))]
