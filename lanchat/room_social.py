"""room_social.py: the room's side of /me, /nick, /away, /topic and typing hints, and who is
told about a full room (PROTOCOL.md, Extensions). Pure functions of a Room; never does I/O.

room.py keeps who is here and the core rules; these are the courtesies around them, kept out of
the Room class so it stays readable. Each returns the actions that follow, like Room.handle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import events as ev
from . import restrict
from .actions import Action, Broadcast, Keep, KeepTopic, LogRefusal, Send
from .limits import Refusal
from .moderation import (
    BAN_TRIES_SECONDS,
    BanTries,
    banned_name_nick_refusal,
    is_muted,
    muted_refusal,
    operator_name_nick_refusal,
    who_can,
)
from .protocol import encode

if TYPE_CHECKING:
    from .room import Member, Room

AWAY_WORD = "away"  # what a bare /away sends, and all that others read of an away they may not be told
TYPING_HINT_SECONDS = 3.0  # a typing hint is passed on at most this often per person
AWAY_AGAIN_SECONDS = 60.0  # a rejoin's away asked again within this keeps the time it was set (taken_back)


def full(room: Room, cid: int) -> bool:
    """--max-clients N admits N people besides the host; bots never count."""
    if room.max_members is None or cid in room.service_cids or cid == room.host_cid:
        return False
    guests = room.people - (1 if room.host_cid in room.members else 0)
    return guests >= room.max_members


def full_refusal(room: Room, cid: int, name: str) -> list[Action]:
    """``cid`` asked to join a full room as ``name``: a fatal error, the host told, and a line
    for the log (summed up per storm by the hub: a headless room's only word of it)."""
    people = "person" if room.max_members == 1 else "people"
    refusal = Refusal(ev.E_ROOM_FULL, f"the room is full ({room.max_members} {people})", "try later")
    error = room._error(cid, ev.E_ROOM_FULL, refusal.text, fatal=True)
    return [*error, *_full_try(room, name), LogRefusal(who=cid, name=name, refusal=refusal)]


def _full_try(room: Room, name: str) -> list[Action]:
    """The host is told of a try at the full room at once, unless told less than 30 s ago
    (BAN_TRIES_SECONDS, as for a banned person's tries): then it is counted, and told with the
    others held back when that time is up (``full_tries_due``). A script hello-ing under names
    that are words must not write them on the teacher's screen."""
    now = room.clock()
    tries = room.moderation.full_tries
    if tries is not None and now - tries.told_at < BAN_TRIES_SECONDS:
        tries.held += 1
        tries.name = name
        return []
    room.moderation.full_tries = BanTries(told_at=now, name=name)
    return refused_for_host(room, name, ev.E_ROOM_FULL, count=1 + (tries.held if tries is not None else 0))


def full_tries_due(room: Room) -> list[Action]:
    """Called by the loop when ``full_tries_due_at`` comes: the tries held back, as one notice
    with their count; with none, nothing more is timed."""
    tries = room.moderation.full_tries
    now = room.clock()
    if tries is None or now - tries.told_at < BAN_TRIES_SECONDS:
        return []
    if not tries.held:
        room.moderation.full_tries = None
        return []
    room.moderation.full_tries = BanTries(told_at=now, name=tries.name)
    return refused_for_host(room, tries.name, ev.E_ROOM_FULL, count=tries.held)


def full_tries_due_at(room: Room) -> float | None:
    """When ``full_tries_due`` has something to do, by the room's clock; None: never."""
    return None if room.moderation.full_tries is None else room.moderation.full_tries.told_at + BAN_TRIES_SECONDS


def refused_for_host(room: Room, name: str, code: str, *, count: int = 1) -> list[Action]:
    """The host hears who was turned away and why (PROTOCOL.md, Refusals told to the host);
    ``count``: how many tries this notice stands for."""
    if room.host_cid is None or room.host_cid not in room.members:
        return []
    refused = ev.Refused(name=name[: ev.MAX_NAME_CHARS], code=code, time=room.clock(), count=count if count > 1 else None)
    return [Send(to=room.host_cid, event=refused)]


def after_welcome(room: Room, cid: int) -> list[Action]:
    """What a newcomer hears right after the welcome: the topic, who is away, and what /restrict turned off."""
    actions: list[Action] = [Send(to=cid, event=room.topic)] if room.topic is not None else []
    # in join order, among everyone; but nobody away (the usual case) is known without a pass over them
    away = [m for m in room.members.values() if m.away_shown and m.cid != cid] if room.shown_away else []
    # stamped with when the others were told it, as a topic keeps the time it was set: stamped
    # with the join, every newcomer's screen said "ann is away" as of the moment it came in
    actions += [Send(to=cid, event=ev.Away(name=m.name, reason=m.away_shown, time=m.away_shown_at)) for m in away]
    return actions + restrict.joined(room, cid)  # what /restrict turned off, if anything


def taken_back(member: Member, lost: Member | None, now: float) -> None:
    """A rejoin took back the lost session ``lost``: its client asks its away again right after
    the welcome (PROTOCOL.md, Rejoining), and the same reason, asked within AWAY_AGAIN_SECONDS,
    keeps the time it was set, so a newcomer is not told the person went away at the rejoin (``away``)."""
    if lost is not None and lost.away_shown:
        member.away_before = (lost.away, lost.away_shown_at, now)


def away_answer(member: Member, target: Member, when: float) -> list[Action]:
    """The first whisper each person sends to someone away is answered with the reason."""
    if not target.away or member.cid == target.cid or member.cid in (target.told_away or set()):
        return []
    target.told_away = (target.told_away or set()) | {member.cid}
    return [Send(to=member.cid, event=ev.Away(name=target.name, reason=target.away, time=when, answer=True))]


def handle(room: Room, member: Member, event: ev.Event) -> list[Action]:
    """me, nick, away, topic, typing from ``member``."""
    now = room.clock()
    if isinstance(event, ev.Me):
        return _me(room, member, event, now)
    if isinstance(event, ev.Nick):
        return _rename(room, member, event.name, now)
    if isinstance(event, ev.SetAway):
        return away(room, member, event, now)
    if isinstance(event, ev.SetTopic):
        refused = muted_refusal(room, member) or _topic_refusal(room, member)  # a muted person sets no topic either
        if refused:
            return refused
        text = " ".join(event.text.split())
        if len(text) > ev.MAX_TOPIC_CHARS:
            message = f"a topic has at most {ev.MAX_TOPIC_CHARS} characters"
            return [Send(to=member.cid, event=ev.Error(code=ev.E_TOO_LONG, message=message))]
        topic = ev.Topic(text=text, by=member.name, time=now)
        room.topic = topic if text else None
        # kept (with history) so a restart still has it (PROTOCOL.md, Extensions: topic)
        return [KeepTopic(topic=room.topic), Broadcast(to=room._everyone, frame=encode(topic))]
    if isinstance(event, ev.Typing):
        if now - member.typing_hint_at < TYPING_HINT_SECONDS:
            return []  # at most one hint a person every few seconds, however many arrive
        if is_muted(room, member):
            return []  # muted: nothing they type will be read, so "is typing" would only taunt (no error: a hint is silent)
        member.typing_hint_at = now
        others = tuple(c for c in room.members if c != member.cid and c not in room.service_cids)
        return [Broadcast(to=others, frame=encode(ev.TypingHint(name=member.name)))] if others else []
    return []


def addresses_the_class(room: Room, member: Member) -> bool:
    """May ``member`` put text of theirs before everyone now? In a turn-based room only the turn's
    holder, the host and operators may (PROTOCOL.md 7): otherwise a topic or an away reason would
    say what the turn forbids ("the answer is 42") to the whole class."""
    from .room import TURN  # here: room.py imports this module

    return room.mode != TURN or room.turn_holder == member.cid or room.moderation.is_operator(room, member)


def _topic_refusal(room: Room, member: Member) -> list[Action]:
    """The topic is the host's and the operators' in a room that has any, as IRC's +t keeps a
    channel's topic for its operators: a class's status line says what the teacher put there.
    A room with none (friends, a headless server) leaves it to anyone, but in a turn-based room
    (PROTOCOL.md 7). Not ``not-your-turn``: a client keeps a line refused with that code and
    sends it again (unconfirmed.py), and the turn would not make a topic allowed anyway."""
    from .room import TURN  # here: room.py imports this module

    moderation = room.moderation
    if moderation.is_operator(room, member):
        return []
    if room.mode == TURN:
        message = "in a turn-based room only the host and operators change the topic"
    elif moderation.has_operators(room):
        message = f"only the host and operators change the topic in this room; {who_can(room)}"
    else:
        return []
    return [Send(to=member.cid, event=ev.Error(code=ev.E_NOT_OPERATOR, message=message))]


def away(room: Room, member: Member, event: ev.SetAway, now: float) -> list[Action]:
    """/away: everyone is told, the person too. In a turn-based room someone who may not address
    the class (addresses_the_class) is still marked away, but the others read only "away" (the
    word a bare /away sends), told once; the reason goes to the person and, as ever, once to each
    whisperer (away_answer), and a newcomer reads what the others read (after_welcome)."""
    reason = " ".join(event.reason.split())[: ev.MAX_AWAY_CHARS]
    if reason == member.away:
        return []
    if reason and (refused := muted_refusal(room, member)):  # a reason is text everyone reads
        return refused
    shown = reason if not reason or addresses_the_class(room, member) else AWAY_WORD
    member.away, member.told_away = reason, None
    before, member.away_shown = member.away_shown, shown
    (room.shown_away.add if shown else room.shown_away.discard)(member.cid)
    own = ev.Away(name=member.name, reason=reason, time=now)
    again, member.away_before = member.away_before, None
    if shown != before:  # what a newcomer is told is as old as the others' news of it, or the drop's
        member.away_shown_at = now
        if again is not None and again[0] == reason and now - again[2] < AWAY_AGAIN_SECONDS:
            member.away_shown_at = again[1]
    if shown == reason:
        return [Broadcast(to=room._everyone, frame=encode(own))]
    others = tuple(c for c in room.members if c != member.cid)
    told = [Broadcast(to=others, frame=encode(ev.Away(name=member.name, reason=shown, time=now)))]
    return [Broadcast(to=(member.cid,), frame=encode(own)), *(told if others and shown != before else [])]


def _me(room: Room, member: Member, event: ev.Me, now: float) -> list[Action]:
    """An action is checked as a message is, and in turn-based mode takes the turn like one. With
    history it is kept as a message is, before anyone receives it (PROTOCOL.md, History replay)."""
    refused = room.check_text(member, event.text) or muted_refusal(room, member) or room.not_your_turn(member)
    if refused:
        return refused
    emote = ev.Emote(sender=member.name, text=event.text, time=now)
    kept: list[Action] = [Keep(event=emote)] if room.history else []
    as_message = (ev.Message(sender=member.name, text=f"*{event.text}*", time=now),)
    return [*kept, *to_each_age(room, encode(emote), as_message), *room.spoke(member)]


def to_each_age(room: Room, frame: bytes, older: tuple[ev.Event, ...]) -> list[Action]:
    """``frame`` (an ``action``, a ``renamed``) to everyone here, but to members whose hello said
    version 1 (lanchat's first release) ``older`` instead: frames of types it knows. It ignores the
    types added since, so a classmate's /me was lost on it without a word, and after a /nick it
    showed lines from a name not in its roster, and a whisper to the old name was "not here now".
    Only /me and /nick, never the say path: a room without such a client (room.first_releases empty)
    costs no pass over its members, and its broadcast goes to the room's own roster tuple, which the
    outbox knows already (outbox.Outbox.broadcast: the recipients are looked up once per tuple)."""
    first = tuple(cid for cid, member in room.members.items() if member.first_release) if room.first_releases else ()
    if not first:
        return [Broadcast(to=room._everyone, frame=frame)]  # everyone, in join order (tuple(room.members))
    rest = tuple(cid for cid in room.members if cid not in first)
    return [Broadcast(to=rest, frame=frame), *(Broadcast(to=first, frame=encode(event)) for event in older)]


def _rename_out_of_turn(room: Room, member: Member) -> list[Action]:
    """In a turn-based room a new name is read by the whole class ("bob is now answer42"), so it
    waits for the turn as a topic does (PROTOCOL.md 7; ``not-operator``, not ``not-your-turn``:
    a client would take that for a refused line of its own and send it again)."""
    if addresses_the_class(room, member):
        return []
    message = "in a turn-based room you can change your name when it is your turn"
    return [Send(to=member.cid, event=ev.Error(code=ev.E_NOT_OPERATOR, message=message))]


def _rename(room: Room, member: Member, name: str, now: float) -> list[Action]:
    """/nick: the same name rule as a hello (room.name_refused); everyone, the person included,
    is told, and the turn, the host and whispers follow the person (they are kept by id)."""
    from .room import name_refused

    if name == member.name:
        return []
    refused = (
        muted_refusal(room, member) or _rename_out_of_turn(room, member) or name_refused(room, member.cid, name, member.key)
        or operator_name_nick_refusal(room, member, name) or banned_name_nick_refusal(room, member, name)
    )  # fmt: skip
    if refused:  # (a name is read by everyone too)
        return refused
    old = member.name
    room.rekey(member, name)
    if room.history and member.cid not in room.service_cids:
        room.known[ev.name_key(name)] = name
    claimed = room.gate.claim(name, member.key, member.cid)  # trust on first use, as on joining (gate.py)
    as_left_and_joined = (ev.Left(name=old, reason=ev.LEFT_RENAMED, time=now), ev.Joined(name=name, time=now))
    notices = [action for action in claimed if isinstance(action, Send)]  # that it is not kept: after the rename it is about
    renamed = to_each_age(room, encode(ev.Renamed(old=old, new=name, time=now)), as_left_and_joined)
    told = [*(a for a in claimed if a not in notices), *renamed, *notices]
    mod = room.moderation
    if member.cid != room.host_cid and mod.is_operator(room, member):  # (the host's name is the welcome's and the rename's)
        # the operators' names changed: sent, as whenever they change (PROTOCOL.md, Moderation)
        told.append(Broadcast(to=room._everyone, frame=encode(ev.Operators(names=mod.operator_names(room)))))
    return told
