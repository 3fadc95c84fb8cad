"""room.py: who is in the room and who receives what. Never does I/O.

The server loop feeds each connection's events in with ``handle(cid, event)`` and
``leave(cid, reason)``; the room answers with actions (actions.py: Send, Broadcast, Close,
Keep, Replay, Seen) that the hub performs. Connections are named by an integer id the loop chooses.
The room stamps every message with the sender's registered name and the clock's time:
a client's claim of who it is is never trusted.

Here: who is in the room (the members and their indexes by name), every event routed
(``handle``), and who receives what: a line said, a whisper, a /history page, the turn rule.
How someone joins (the gate's verdict, then name_refused and the other rules in order, the
welcome) and leaves is room_join.py's;
/me, /nick, /away, /topic and typing hints are room_social.py's; moderation is moderation.py's.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import events as ev
from . import restrict, room_join, room_social
from .actions import (
    Action,
    Broadcast,
    Claim,
    Close,
    DropBans,
    DropMutes,
    DropOperator,
    Keep,
    KeepMode,
    KeepTopic,
    Log,
    Record,
    Replay,
    Seen,
    Send,
    ShowOffers,
    StoreBan,
    StoreMute,
    StoreOperator,
)
from .colourbot import BOT_NAME
from .gate import Admit, Gate
from .limits import AddressGroups
from .moderation import (
    Ban,
    Moderation,
    Mute,
    moderate,
    muted_refusal,
    muted_whisper_refusal,
    operator_name_refusal,
    released_key,
    roster,
)
from .names import could_be_a_name, look_keys
from .protocol import ConnectionClosed, Invalid, encode, message_frame
from .restrict import whisper_refusal as restricted_whisper
from .wording import WHISPER_TO_ONESELF

DUPLEX = "duplex"
TURN = "turn"
MODES = (DUPLEX, TURN)

# The actions live in actions.py; they are re-exported for code that imports them from the
# room (the notebooks do).
__all__ = [
    "Action", "Broadcast", "Claim", "Close", "Keep", "Log", "Replay", "Seen", "Send", "Record", "StoreBan",
    "DropBans", "StoreMute", "DropMutes", "KeepMode", "KeepTopic", "StoreOperator", "DropOperator", "ShowOffers", "Member", "Room",
    "DUPLEX", "TURN", "MODES",
]  # fmt: skip


def _owner(member: Member) -> bytes | None:
    """The public key a member's direct messages are kept for (PROTOCOL.md, Identity): a verified
    key's bytes; a fingerprint string or no key owns nothing, so nothing is kept for it."""
    return member.key if isinstance(member.key, bytes) else None


@dataclass
class Member:
    cid: int
    name: str
    key: bytes | None = None  # the public key that owns ``name``; None for a keyless guest
    away: str = ""  # /away REASON; empty: here
    away_shown: str = ""  # what the others were told of it (room_social.away: in a turn room, maybe only "away")
    away_shown_at: float = 0.0  # when they were told it: a newcomer's away-status carries it (room_social.after_welcome)
    away_before: tuple[str, float, float] | None = None  # a session taken back: its away, since when, and when taken back
    told_away: set[int] | None = None  # who has had the automatic "away" answer (once each)
    typing_hint_at: float = float("-inf")  # when the last typing hint from them was passed on
    address: str = ""  # where the connection comes from (Room.arrive): bans and mutes match it
    resume: str | None = None  # the secret in their welcome: a rejoin with it takes over at once
    first_release: bool = False  # their hello said version 1: frames of later types reach them as older ones (room_social.to_each_age)


def resume_token() -> str:
    """A fresh secret for one session's welcome (PROTOCOL.md, Rejoining): 18 random bytes in
    URL-safe base64, as secrets.token_urlsafe makes them, without its import of hmac (which
    loads OpenSSL's libcrypto into every server at the first join: bench/idle_memory.py)."""
    import base64
    import os

    return base64.urlsafe_b64encode(os.urandom(18)).rstrip(b"=").decode("ascii")


TAKEN_OVER = "you joined again from somewhere else; this session is closed"
_PONG = ev.Pong()  # the answer to every ping (frozen: one will do)


def same_session(holder: Member, admit: Admit) -> bool:
    """Whether ``admit`` comes back for ``holder``'s session: the same proven key, or the secret
    of its welcome (compared in constant time). A rejoin after a lost connection the server has
    not noticed yet then takes over at once (PROTOCOL.md, Rejoining); room_join.join lets the
    secret alone take over only a keyless session."""
    return (holder.key is not None and admit.key == holder.key) or brought_its_secret(holder, admit)


def brought_its_secret(holder: Member, admit: Admit) -> bool:
    """Whether ``admit`` brings the secret of ``holder``'s welcome: that session's own rejoin (a
    Wi-Fi blip the server had not noticed), not the same person in a new window, which has none.
    A takeover is one line for the others, not a lost connection and a join: "ann moved to another
    window", or with this "ann reconnected" (left's ``rejoined``)."""
    import hmac

    resume = admit.hello.resume if admit.hello is not None else None
    return bool(resume and holder.resume) and hmac.compare_digest(
        resume.encode("utf-8", "replace"), holder.resume.encode()  # type: ignore[union-attr]
    )


# How long a session whose connection was lost may be taken back by its rejoin (as long as
# lanchat's --plain client tries: client.GIVE_UP_SECONDS; the full screen tries on, and rejoins
# after it as a newcomer would), and how many such sessions are remembered.
REJOIN_SECONDS = 600.0
LOST_REMEMBERED = 4096
# ... and how many under one name: the newest. A script churning guest joins and drops under one
# name pushed everyone else's out of the LOST_REMEMBERED, and made each rejoin under that name
# look through all of them (2.2 ms for 4,096).
LOST_PER_NAME = 8  # per name and address group: a classmate churning joins and drops under ann's
# name (a guest name she left free) evicted only their own, not ann's lost session and her files
LOST_PER_NAME_AT_ALL = 64  # however many address groups


class LostSessions:
    """Sessions whose connection was lost lately (``leave`` with reason ``lost`` or ``dropped``), or
    taken over (``moved``: a rejoin or a second window while the old connection was open): a rejoin
    proving it is one (its key; for a keyless session, its welcome's secret, as ``same_session``
    and room_join.join take them) within REJOIN_SECONDS takes back what waited for it there: the
    files offered to it alone (ShowOffers.resumed). Bounded: the LOST_REMEMBERED newest, the
    LOST_PER_NAME newest under one name from one address group (``group``: the room's
    AddressGroups.group), and LOST_PER_NAME_AT_ALL under one name (the biggest group's oldest goes)."""

    def __init__(self, clock: Callable[[], float], group: Callable[[str], str] = str) -> None:
        self.clock = clock
        self.group = group
        # cid -> (member, when lost, its address group), oldest first
        self.lost: OrderedDict[int, tuple[Member, float, str]] = OrderedDict()
        self.by_name: dict[str, list[int]] = {}  # name key -> the lost cids under it, oldest first

    def note(self, member: Member) -> None:
        if member.key is None and member.resume is None:
            return  # nothing could prove a rejoin is this session
        now = self.clock()
        group = self.group(member.address)
        self.lost[member.cid] = (member, now, group)
        under_name = self.by_name.setdefault(ev.name_key(member.name), [])
        under_name.append(member.cid)
        from_there = [cid for cid in under_name if self.lost[cid][2] == group]
        if len(from_there) > LOST_PER_NAME:
            self._drop(from_there[0])  # that name's oldest from the same place, not someone else's
        elif len(under_name) > LOST_PER_NAME_AT_ALL:
            self._drop_from_biggest_group(under_name)
        while self.lost and (len(self.lost) > LOST_REMEMBERED or now - next(iter(self.lost.values()))[1] >= REJOIN_SECONDS):
            self._drop(next(iter(self.lost)))

    def _drop_from_biggest_group(self, under_name: list[int]) -> None:
        """Over LOST_PER_NAME_AT_ALL under one name: the oldest of the address group holding the
        most under it goes, never a group's only one, so a stranger churning under ann's name from
        many addresses evicts their own, not ann's (alone in her group). Were each group's one
        alone, all stay: LOST_REMEMBERED bounds them."""
        counts = Counter(self.lost[cid][2] for cid in under_name)  # groups in order of their oldest
        biggest, held = max(counts.items(), key=lambda group_held: group_held[1])
        if held > 1:
            self._drop(next(cid for cid in under_name if self.lost[cid][2] == biggest))

    def _drop(self, cid: int) -> None:
        member, _when, _group = self.lost.pop(cid)
        self._unname(cid, member)

    def _unname(self, cid: int, member: Member) -> None:
        name = ev.name_key(member.name)
        if cid in (cids := self.by_name.get(name, [])):
            cids.remove(cid)
            if not cids:
                del self.by_name[name]

    def member(self, cid: int | None) -> Member | None:
        """The lost session ``cid`` as it was when lost (None: not one remembered)."""
        entry = self.lost.get(cid) if cid is not None else None
        return entry[0] if entry is not None else None

    def awaits(self, cid: int) -> bool:
        """Was ``cid`` lost lately, so that a rejoin may take its session back?"""
        entry = self.lost.get(cid)
        return entry is not None and self.clock() - entry[1] < REJOIN_SECONDS

    def came_back(self, name: str, admit: Admit) -> int | None:
        """The lost connection whose session ``admit`` (joining as ``name``) takes back, or None.
        Taken back once; it still ``awaits`` until its time is up, so that however the hub orders
        the old connection's close and the new one's ShowOffers, nothing offered to it is lost."""
        for cid in reversed(self.by_name.get(ev.name_key(name), ())):
            old, when, _group = self.lost[cid]
            if self.clock() - when < REJOIN_SECONDS and same_session(old, admit) and (old.key is None or admit.key == old.key):
                self._unname(cid, old)
                return cid
        return None


BOT_NAME_KEYS = frozenset({ev.name_key(BOT_NAME)})  # names only a bot may take (PROTOCOL.md 5)
BOT_NAME_LOOKS = frozenset(look_keys(BOT_NAME))  # and their look-alikes with a case kept ("coIourbot")
# How many names of people not here the room remembers, so that a whisper to one is kept for
# them (PROTOCOL.md, History replay): the most recently seen; older ones are as if never seen.
KNOWN_NAMES_LIMIT = 10_000


class RecentNames(OrderedDict[str, str]):
    """Name key -> name for the ``limit`` names seen most recently: setting one makes it the
    newest, and the oldest is forgotten past the limit, so memory per name ever seen is bounded."""

    def __init__(self, names: Iterable[str] = (), *, limit: int = KNOWN_NAMES_LIMIT) -> None:
        super().__init__()
        self.limit = limit
        for name in names:  # oldest first: the newest are kept
            self[ev.name_key(name)] = name

    def __setitem__(self, key: str, name: str) -> None:
        super().__setitem__(key, name)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class Room:
    """The chat room: members in join order, the turn, and the rules of both modes."""

    # Every welcome says a ping is answered (serve sets it; PROTOCOL.md, Liveness). A ping is
    # answered all the same: a bare room (section 9's example) only does not say so.
    answers_pings = False

    def __init__(
        self, *, mode: str = DUPLEX, clock: Callable[[], float] = time.time, max_members: int | None = None,
        turn_timeout: float | None = None, gate: Gate | None = None, resume_tokens: Callable[[], str] | None = None,
        # the history's: what it keeps, and what a restart brings back (history.py)
        history: bool = False, replay: int = 50, known_names: Iterable[str] = (), topic: ev.Topic | None = None,
        # moderation's (moderation.py)
        bans: Iterable[Ban] = (), mutes: Iterable[Mute] = (), operators: Iterable[str] = (), operator_keys: Iterable[str] = (),
        address_groups: AddressGroups | None = None, own_user: int | None = None,
    ) -> None:
        """``operators``: names whose first joiner with a key becomes an operator (serve --operator).
        ``bans``, ``mutes``, ``operator_keys`` (/op's, by key), ``topic``: the stored ones (history.py).
        ``address_groups``: what connection caps, bans and mutes by address count as one place,
        with the server's own networks passed in (limits.AddressGroups; default: none known);
        ``own_user``, the server's Unix user, for bans by user (moderation.Moderation)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.mode = mode
        self.clock = clock
        self.max_members = max_members
        # History (PROTOCOL.md, History replay): the room returns Keep/Replay/Seen actions, the
        # server performs them. ``known``: name key -> name of everyone who ever joined (the
        # KNOWN_NAMES_LIMIT newest), so a direct message to one who is away is kept for them.
        self.history = history
        self.replay = replay
        self.known = RecentNames(known_names if history else ())
        self.host_cid: int | None = None  # the person running `serve`, if not headless
        self.topic: ev.Topic | None = topic  # /topic: the room's topic, told to each newcomer
        self.service_cids: set[int] = set()  # bots: never fill the room, keep it alive (--once) or hold the turn
        self.text_cids: set[int] = set()  # text participants (textline.TextDoor): welcome, joined and roster say who
        self.resume_tokens = resume_tokens  # session secrets, passed in (serve: resume_token); None: none
        # A member's flood allowance (burst, rate, tokens left) for their welcome; the hub's guard's (guard.py)
        self.flood_allowance: Callable[[int], tuple[int, float, int] | None] = lambda cid: None
        self.members: dict[int, Member] = {}  # insertion order is join order
        self._by_key: dict[str, Member] = {}
        self._by_look: dict[str, Member] = {}  # names.look_key(name) -> member: as drawn, case kept
        self._everyone: tuple[int, ...] = ()
        self._names: tuple[str, ...] = ()
        self._names_for: tuple[int, ...] | None = None  # the _everyone that _names was built for
        self.shown_away: set[int] = set()  # whose away_shown is set (room_social.away): a newcomer asks no one else
        self.first_releases: set[int] = set()  # members whose hello said version 1 (room_social.to_each_age)
        self.gate = gate or Gate(clock=clock)  # keys, the password, who owns which name (gate.py)
        self.gate.host = lambda: self.host_cid
        self._turn_holder: int | None = None
        self.turn_since = clock()  # when the turn last moved (the turn timeout counts from it)
        self.turn_timeout = turn_timeout  # seconds; None: a turn waits for ever
        self.lost_sessions = LostSessions(clock)  # lost lately: a rejoin takes back its private offers
        self.moderation = Moderation(bans=bans, operators=operators, mutes=mutes, groups=address_groups, operator_keys=operator_keys,
                                     own_user=own_user, host=self.gate.host)  # operators, mutes, bans; where connections come from
        self.moderation.users_of, self.moderation.known_user = self.gate.users_of, self.gate.known_user  # gate.py
        self.moderation.by_own_address, self.moderation.is_service = self.gate.by_own_address, self.service_cids.__contains__  # no mute holds a bot
        self.gate.group = self.lost_sessions.group = self.moderation.groups.group  # one machine for name claims and lost sessions, as for caps and bans
        self.ever_joined, self.once = 0, False  # once: said in every welcome: the server closes when the last person leaves

    @property
    def turn_holder(self) -> int | None:
        return self._turn_holder

    @turn_holder.setter
    def turn_holder(self, cid: int | None) -> None:
        if cid != self._turn_holder:
            self.turn_since = self.clock()
        self._turn_holder = cid

    # ------------------------------------------------------------------ queries

    def bot_names(self) -> tuple[str, ...]:
        """The server's own bots here (services: PROTOCOL.md, The colour bot), as welcome and
        roster flag them; the few service connections are looked at, not everyone."""
        return tuple(self.members[cid].name for cid in sorted(self.service_cids) if cid in self.members)

    def text_names(self) -> tuple[str, ...]:
        """The text participants here (at nc: PROTOCOL.md, Text participants), as welcome and roster flag them."""
        return tuple(self.members[cid].name for cid in sorted(self.text_cids) if cid in self.members)

    @property
    def names(self) -> tuple[str, ...]:
        # Every welcome carries the roster: rebuild it only when someone joined or left
        # (``_everyone`` is a new tuple then), not for each of 500 people joining one by one.
        if self._names_for is not self._everyone:
            self._names = tuple(m.name for m in self.members.values())
            self._names_for = self._everyone
        return self._names

    def name_of(self, cid: int) -> str | None:
        member = self.members.get(cid)
        return member.name if member else None

    def find(self, name: str) -> Member | None:
        """The member called ``name`` (any case, any look-alike spelling); text no name could be
        is nobody's, and is not keyed (names.could_be_a_name: 64 KiB of it cost 150 ms)."""
        return self._by_key.get(ev.name_key(name)) if could_be_a_name(name) else None

    def find_look(self, name: str) -> Member | None:
        """The member whose name draws as ``name`` does, case kept (names.look_key: "hal" for "haI")."""
        if not could_be_a_name(name):
            return None
        return next((found for look in look_keys(name) if (found := self._by_look.get(look)) is not None), None)

    @property
    def people(self) -> int:
        """How many members are people rather than bots (what --max-clients and --once count)."""
        return sum(1 for cid in self.members if cid not in self.service_cids)

    @property
    def turn_name(self) -> str | None:
        return self.name_of(self.turn_holder) if self.turn_holder is not None else None

    # ----------------------------------------------------------------- handling

    def handle(self, cid: int, event: object) -> list[Action]:
        """One event from connection ``cid`` -> the actions that follow from it."""
        if type(event) is ev.Say:  # the usual event first: a line from someone in the room
            member = self.members.get(cid)
            if member is not None:
                return self._say(member, event)
        if isinstance(event, Invalid):
            return [Send(to=cid, event=ev.Error(code=event.code, message=event.message))]
        if isinstance(event, ConnectionClosed):
            return self.leave(cid, "lost")
        if isinstance(event, (ev.Hello, ev.Auth)):
            return room_join.hello(self, cid, event)  # (room_join.py)
        if isinstance(event, ev.Bye):
            # PROTOCOL.md 8: bye is allowed before the welcome too (a client that gives up
            # after a refused name); either way the server closes the connection.
            return self.leave(cid, "quit") + [Close(who=cid, bye=True)]
        member = self.members.get(cid)
        if member is None:  # protocol.py only lets hello through before the welcome
            return [Send(to=cid, event=ev.Error(code=ev.E_HELLO_FIRST, message='send "hello" first'))]
        if isinstance(event, ev.Say):
            return self._say(member, event)
        if isinstance(event, ev.Whisper):
            return self._whisper(member, event)
        if isinstance(event, ev.Who):
            return [Send(to=cid, event=roster(self))]  # with who is muted (moderation.py)
        if event.__class__ is ev.Ping:  # answered at once, after what came before it (PROTOCOL.md, Liveness)
            return [Send(to=cid, event=_PONG)]
        if isinstance(event, ev.HistoryRequest):
            return self._history(member, event)
        if isinstance(event, ev.Moderate):
            return moderate(self, member, event)
        if isinstance(event, ev.WhoIs):
            return self.gate.whois(cid, event.name, self)
        if isinstance(event, ev.Release):
            owner = self.gate.owner_of(event.name) if cid == self.host_cid and len(event.name) <= ev.MAX_NAME_CHARS else None
            return [*self.gate.release(cid, event.name, self.host_cid), *released_key(self, owner)]
        if isinstance(event, ev.SCREEN_CLIENT_EVENTS):
            return room_social.handle(self, member, event)
        return [Send(to=cid, event=ev.Error(code=ev.E_UNKNOWN_TYPE, message="unexpected event"))]

    def leave(self, cid: int, reason: str, *, rejoined: bool = False) -> list[Action]:
        """Connection ``cid`` is gone (``quit``, ``lost``, ``dropped``, ``moved``, ``kicked``, ``banned``): tell the others
        (``rejoined``: moved by its own rejoin; room_join.leave)."""
        return room_join.leave(self, cid, reason, rejoined=rejoined)

    # ------------------------------------------------------------------ helpers

    def _error(self, cid: int, code: str, message: str, fatal: bool = False) -> list[Action]:
        actions: list[Action] = [Send(to=cid, event=ev.Error(code=code, message=message, fatal=fatal))]
        if fatal:
            actions.append(Close(who=cid))
        return actions

    def check_text(self, member: Member, text: str) -> list[Action]:
        if text_fits(text):
            return []
        if not text or text.isspace():  # what strip() would empty, without making a copy
            return self._error(member.cid, ev.E_EMPTY, "empty messages are not sent")
        if len(text) > ev.MAX_TEXT_CHARS:
            return self._error(
                member.cid,
                ev.E_TOO_LONG,
                f"message is {len(text)} characters; the limit is {ev.MAX_TEXT_CHARS}",
            )
        return []

    def _say(self, member: Member, say: ev.Say) -> list[Action]:
        refused = self.check_text(member, say.text) or muted_refusal(self, member) or self.not_your_turn(member)
        if refused:
            return refused
        message = ev.Message(sender=member.name, text=say.text, time=self.clock())
        actions: list[Action] = [Keep(event=message)] if self.history else []
        actions.append(Broadcast(to=self._everyone, frame=encode(message)))
        return actions + self.spoke(member)

    def said_run(self, member: Member, texts: list[str], start: int) -> tuple[tuple[int, ...], list[float], list[bytes], int]:
        """The short path for ``say`` (hub.py, ``Hub.say``): of ``texts[start:]``, the run that every
        rule of ``_say`` lets through as it is (a duplex room, no mutes at all, each text fits), up
        to the first that one would not. For that run, do what ``_say`` does besides its actions
        and return (recipients, each message's time, each one's frame, the index after the run);
        the text at that index (if any) is ``handle``'s, which decides and words the refusal."""
        if self.mode != DUPLEX or self.moderation.mutes:
            return self._everyone, [], [], start
        clock = self.clock
        name = member.name
        times: list[float] = []
        frames: list[bytes] = []
        for index in range(start, len(texts)):
            text = texts[index]
            if not text_fits(text):
                break
            now = clock()
            times.append(now)
            frames.append(message_frame(name, text, now))
        if frames:
            member.typing_hint_at = float("-inf")  # as spoke(), in a duplex room
        return self._everyone, times, frames, start + len(frames)

    def not_your_turn(self, member: Member) -> list[Action]:
        """The turn rule (PROTOCOL.md 7) for anything said to the room: an error, or []."""
        if self.mode != TURN or self.turn_holder == member.cid:
            return []  # every message in a duplex room: nothing to build
        if self.turn_holder is None and self._next_after(member.cid, order_before=turn_order(self), removed=False) is not None:
            return []  # nobody could hold it (all muted, a mute since ended): whoever may speak first takes it
        people_here = any(c != self.host_cid and c not in self.service_cids for c in self.members)
        nobody = "an unmute (everyone but the host is muted)" if people_here else "someone to join"
        waiting = f"not your turn: waiting for {self.turn_name or nobody}"
        return self._error(member.cid, ev.E_NOT_YOUR_TURN, waiting)

    def spoke(self, member: Member) -> list[Action]:
        """After ``member`` spoke: their next typing hint goes through; in turn mode, the next one's turn."""
        member.typing_hint_at = float("-inf")
        if self.mode != TURN:
            return []
        self.turn_holder = self._next_after(member.cid, order_before=turn_order(self))
        return [self._turn_broadcast()]

    def _whisper(self, member: Member, whisper: ev.Whisper) -> list[Action]:
        refused = self.check_text(member, whisper.text) or muted_whisper_refusal(self, member, whisper.to)
        if refused or (restrict.DM in self.moderation.restricted and (refused := restricted_whisper(self, member, whisper.to))):
            return refused  # (muted, or /restrict dm between students: PROTOCOL.md, Moderation)
        target = self.find(whisper.to)
        if target is member:  # (the room's rule for names: any case, any look-alike spelling)
            # no-such-user, a whisper's refusal: a client waiting for its answer takes it as one
            # (unconfirmed.py); bad-message answers no typed line, and the whisper stayed "sending"
            return self._error(member.cid, ev.E_NO_SUCH_USER, WHISPER_TO_ONESELF)
        if target is None:
            absent = self.known.get(ev.name_key(whisper.to)) if could_be_a_name(whisper.to) else None
            if absent is None:
                return self._error(member.cid, ev.E_NO_SUCH_USER, f"nobody called {whisper.to[:40]!r} is here")
            owner = self.gate.owner_of(absent)
            if owner is None:  # kept, it would go to whoever next takes the name (PROTOCOL.md, Identity)
                return self._error(member.cid, ev.E_NO_SUCH_USER, f"{absent!r} is not here and has no key on this server, so a message cannot be kept for them")
            if owner == _owner(member):  # their own name before a /nick: kept for their own key
                return self._error(member.cid, ev.E_NO_SUCH_USER, WHISPER_TO_ONESELF)
            # They have been here before: keep it for their key; only the sender's copy goes out now.
            held = ev.Direct(sender=member.name, to=absent, text=whisper.text, time=self.clock(), held=True)
            kept = ev.Direct(sender=held.sender, to=held.to, text=held.text, time=held.time)
            return [Keep(event=kept, sender_owner=_owner(member), recipient_owner=owner), Broadcast(to=(member.cid,), frame=encode(held))]
        direct = ev.Direct(sender=member.name, to=target.name, text=whisper.text, time=self.clock())
        recipients = (target.cid, member.cid)
        actions: list[Action] = [Keep(event=direct, sender_owner=_owner(member), recipient_owner=_owner(target))] if self.history else []
        actions.append(Broadcast(to=recipients, frame=encode(direct)))
        return actions + room_social.away_answer(member, target, direct.time)

    def rekey(self, member: Member, name: str) -> None:
        """``member`` is called ``name`` from now on (/nick, after room_social checked it)."""
        self._by_key[ev.name_key(name)] = self._by_key.pop(ev.name_key(member.name))
        drop_looks(self._by_look, member)
        member.name, self._names_for = name, ()  # the roster changed: rebuilt on next use
        add_looks(self._by_look, member)

    def _history(self, member: Member, request: ev.HistoryRequest) -> list[Action]:
        if not self.history:
            return self._error(member.cid, ev.E_HISTORY, "this server keeps no history (it was started with --no-history)")
        if not 1 <= request.limit <= ev.MAX_HISTORY_REQUEST:
            return self._error(
                member.cid, ev.E_BAD_MESSAGE, f"ask for 1 to {ev.MAX_HISTORY_REQUEST} entries, not {request.limit}"
            )
        if request.before is not None and request.before < 1:
            return self._error(member.cid, ev.E_BAD_MESSAGE, '"before" must be a message id of 1 or more')
        return [Replay(to=member.cid, name=member.name, limit=request.limit, before=request.before, owner=_owner(member))]

    def _next_after(self, cid: int, *, order_before: list[int], removed: bool = False) -> int | None:
        """The next member in turn order (``order_before``, turn_order) after ``cid`` (wrapping round).

        ``order_before`` is the turn order that still contains ``cid``. The host never
        holds the turn alone: with nobody else here the room waits for someone to join.
        """
        index = order_before.index(cid)
        return next_holder(self, order_before[index + 1 :] + order_before[: index + (0 if removed else 1)])

    def may_hold_turn(self) -> set[int]:
        """Who the turn may go to: people (not bots) who may speak (not muted: a muted holder
        would hold the room up; the host is never muted: Moderation.mute_for)."""
        people = {cid for cid in self.members if cid not in self.service_cids}
        if self.moderation.mutes:
            now = self.clock()
            self.moderation.users_ahead(people)
            people = {cid for cid in people if self.moderation.mute_for(self.members[cid], now) is None}
        return people

    def _turn_broadcast(self) -> Broadcast:
        return Broadcast(to=self._everyone, frame=encode(ev.Turn(holder=self.turn_name)))


def turn_order(room: Room) -> list[int]:
    """Everyone here in the order the turn goes round (PROTOCOL.md 7, Order): join order, round and
    round, so the host, who joins first, comes after the last student. The operators ``serve
    --operator`` named (the teacher's key: moderation.TurnLeads) come after the students too,
    wherever they joined, or rejoined: last in a room without a host, just before the host in a
    hosted one (who stays first in the list, so last in the round); an operator made with /op
    keeps its place in join order."""
    joined = list(room.members)
    leads = room.moderation.leads.cids
    if not leads:
        return joined
    last = {cid for cid in leads if cid in room.members and cid != room.host_cid  # (the host's own place: after them)
            and room.moderation.is_operator(room, room.members[cid])}  # (a /deop holds)
    return [cid for cid in joined if cid not in last] + [cid for cid in joined if cid in last]


def next_holder(room: Room, rotation: list[int]) -> int | None:
    """The first in ``rotation`` (everyone here, in the order the turn goes round) who may hold
    the turn (Room.may_hold_turn), never the host alone. With no mute in force each is asked in
    turn until one may (the next person, at once), not the whole room at every message of a turn
    room of 500; with one, everyone at once as before (users_ahead reads their accounts together)."""
    if room.moderation.mutes:
        eligible = room.may_hold_turn()
        if not eligible or eligible == {room.host_cid}:
            return None
        return next((candidate for candidate in rotation if candidate in eligible), None)
    people = (candidate for candidate in rotation if candidate not in room.service_cids)
    first = next(people, None)
    if first is None or first != room.host_cid:
        return first
    return first if next(people, None) is not None else None  # the host, with someone else here


def text_fits(text: str) -> bool:
    """The text rule for anything said (Room.check_text words the refusal): not empty or only
    whitespace, and at most MAX_TEXT_CHARS characters."""
    return bool(text) and not text.isspace() and len(text) <= ev.MAX_TEXT_CHARS


def is_bot_name(name: str) -> bool:
    """A name only the room's own bot may have (``colourbot`` in any case, or one drawn like it);
    text no name could be is not keyed to say it is not (names.could_be_a_name)."""
    if not could_be_a_name(name):
        return False
    return ev.name_key(name) in BOT_NAME_KEYS or not BOT_NAME_LOOKS.isdisjoint(look_keys(name))


def add_looks(by_look: dict[str, Member], member: Member) -> None:
    """Put ``member``'s name in the room's index of names as drawn (names.look_keys)."""
    for look in look_keys(member.name):
        by_look.setdefault(look, member)


def drop_looks(by_look: dict[str, Member], member: Member) -> None:
    """Take it out again (a leave, a rename)."""
    for look in look_keys(member.name):
        if by_look.get(look) is member:
            del by_look[look]


def name_refused(room: Room, cid: int, name: str, key: bytes | None) -> list[Action]:
    """The name rules, for ``hello`` and ``nick`` alike (PROTOCOL.md 5 and Identity): the shape,
    the colour bot's name, a name in use, a name another key owns (gate.py). An error, or []."""
    problem = ev.name_problem(name)
    if problem:
        return _refusal(cid, ev.E_BAD_NAME, f"{name[:40]!r} cannot be used: {problem}")
    if is_bot_name(name) and cid not in room.service_cids:
        # /mood whispers to this name: a person holding it would read everyone's moods
        return _refusal(cid, ev.E_BAD_NAME, f"the name {name!r} is kept for the colour bot; choose another")
    found = room.find(name)
    if found is None or found.cid == cid:  # as drawn, case kept: "haI" (a capital i) beside "hal"
        drawn = room.find_look(name)
        found = drawn if drawn is not None and drawn.cid != cid else found
    if found and found.cid != cid:
        # "hаl" (a Cyrillic а) is refused because it reads as "hal": say so, or it looks free
        if found.name.casefold() != name.casefold():
            alike = f" (it looks like {found.name!r}, who is here)"
        else:  # "ANN" with ann here: nobody called ANN is, so say who is and why
            alike = f" ({found.name} is here; capitals do not count)" if found.name != name else ""
        if found.cid == room.host_cid:  # often the host's own second terminal: same login name, same key
            return _refusal(cid, ev.E_NAME_TAKEN, f"the name {name!r} is the host's{alike}; choose another")
        return _refusal(cid, ev.E_NAME_TAKEN, f"the name {name!r} is taken{alike}; choose another")
    if cid in room.service_cids:  # the server's own bot: its name is kept for it, whoever an older version let own a look-alike
        return []
    return room.gate.refusal(cid, name, key) or operator_name_refusal(room, cid, name, key)


def _refusal(cid: int, code: str, message: str) -> list[Action]:
    return [Send(to=cid, event=ev.Error(code=code, message=message))]
