"""restrict.py: what an operator's /restrict turns off for students in a quiz. Never does I/O.

``/restrict dm`` refuses a direct message between two people who are neither operators nor the
host; ``/restrict files`` refuses a file offered by anyone but an operator or the host. A student
can still ask the teacher: a whisper to or from an operator goes (docs/PROTOCOL.md, Moderation:
restrict). The room keeps what is off in ``room.moderation.restricted`` (a frozenset of
events.RESTRICT_KINDS); a change is told to everyone, kept in the history's settings
(actions.KeepRestrict) so a restart holds it, and said to each newcomer after the welcome. The
whisper and offer paths pay one set lookup for it (``"dm" in restricted``), the room's say none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import events as ev
from .actions import Broadcast, KeepRestrict, Log, Record, Send
from .names import could_be_a_name
from .protocol import encode

if TYPE_CHECKING:
    from .room import Action, Member, Room

DM = "dm"
FILES = "files"
# What each kind is, as the room reads it ("ann turned off direct messages between students")
WORDS = {DM: "direct messages between students", FILES: "files from students"}


def described(kinds: frozenset[str] | tuple[str, ...]) -> str:
    """``kinds`` in words, in RESTRICT_KINDS order: "direct messages between students and files from students"."""
    return " and ".join(WORDS[kind] for kind in ev.RESTRICT_KINDS if kind in kinds)


def _ordered(kinds: frozenset[str] | set[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(kind for kind in ev.RESTRICT_KINDS if kind in kinds)


def command(room: Room, member: Member, asked: ev.Moderate) -> list[Action]:
    """An operator's ``/restrict KIND...`` or ``/unrestrict KIND...`` -> the room's actions.
    ``/restrict`` with no kind says what is off now, to anyone who asks (the room was told)."""
    from .moderation import who_can

    mod = room.moderation
    if asked.action == "restrict" and not asked.kinds:
        return [Send(to=member.cid, event=ev.Notice(code=ev.E_RESTRICTED, message=now_off(room, member)))]
    if not mod.is_operator(room, member):
        return room._error(member.cid, ev.E_NOT_OPERATOR, f"only an operator can use /{asked.action}; {who_can(room)}")
    unknown = [kind for kind in asked.kinds if kind not in ev.RESTRICT_KINDS]
    if unknown or not asked.kinds:
        what = f"{unknown[0][:20]!r} is not one of them; " if unknown else ""
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"/{asked.action} takes dm, files or both ({what}/restrict alone says what is off)")
    wanted = set(asked.kinds)
    before = mod.restricted
    after = before | wanted if asked.action == "restrict" else before - wanted
    changed = after ^ before
    if not changed:
        state = "off already" if asked.action == "restrict" else "not off"
        return room._error(member.cid, ev.E_BAD_MESSAGE, f"{described(frozenset(wanted))} are {state}")
    mod.restricted = frozenset(after)
    kinds = _ordered(changed)
    act = ev.Moderated(action=asked.action, by=member.name, kinds=kinds, time=room.clock())
    text = act_words(member.name, asked.action, kinds)
    told = ev.Notice(code=ev.E_RESTRICTED, message=text)
    # a notice, not only the moderated act: a client that knows no "restrict" still reads its words
    return [KeepRestrict(kinds=_ordered(after)), Record(event=act), Broadcast(to=room._everyone, frame=encode(told)), Log(text=text)]


def act_words(by: str, action: str, kinds: tuple[str, ...]) -> str:
    """A change as the room reads it: "ann turned off direct messages between students (/unrestrict dm turns them back on)"."""
    what = described(kinds)
    typed = " ".join(kinds)
    if action == "restrict":
        return f"{by} turned off {what} (an operator's /unrestrict {typed} turns them back on)"
    return f"{by} turned {what} back on"


def now_off(room: Room, member: Member | None) -> str:
    """What is off now, as ``/restrict`` alone and a newcomer read it: a student, whom they can
    still reach; the host or an operator, how to turn it back on."""
    off = room.moderation.restricted
    if not off:
        return "nothing is restricted in this room (an operator's /restrict dm or /restrict files turns those off for students)"
    said = f"in this room {described(off)} are off"
    if member is not None and not _a_student(room, member):
        return f"{said} for students (/unrestrict {' '.join(_ordered(off))} turns them back on)"
    return f"{said} (an operator's /restrict)" + (f"; you can still /w {_whom(room, member)}" if DM in off else "")


def joined(room: Room, cid: int) -> list[Action]:
    """What a newcomer is told after the welcome, when something is off (room_social.after_welcome).
    Not the host: serve's start lines, just above on the same screen, say it and how to lift it."""
    if not room.moderation.restricted or cid in room.service_cids or cid == room.host_cid:
        return []
    return [Send(to=cid, event=ev.Notice(code=ev.E_RESTRICTED, message=now_off(room, room.members.get(cid))))]


def _a_student(room: Room, member: Member) -> bool:
    """Is ``member`` one whom /restrict holds: neither the host, an operator nor the server's own bot?"""
    return member.cid not in room.service_cids and not room.moderation.is_operator(room, member)


def whisper_refusal(room: Room, member: Member, to: str) -> list[Action]:
    """A whisper from ``member`` to ``to`` while /restrict dm holds: refused between two students
    (E_RESTRICTED); to or from an operator, the host or the bot it goes, and one to an operator
    not here (by the key /op gave them) is kept for them as ever. A name nobody has is left to
    the whisper's own no-such-user answer."""
    if DM not in room.moderation.restricted or not _a_student(room, member):
        return []
    target = room.find(to)
    if target is not None:
        if target is member or not _a_student(room, target):
            return []
    elif could_be_a_name(to) and (absent := room.known.get(ev.name_key(to))) is not None:
        from .moderation import key_id

        owner = key_id(room.gate.owner_of(absent))
        if owner is None or owner in room.moderation.operator_keys:
            return []  # (no key: the whisper's own refusal says it cannot be kept)
    else:
        return []
    return room._error(member.cid, ev.E_RESTRICTED, dm_refusal(room, member))


def dm_refusal(room: Room, member: Member) -> str:
    """The words of a refused direct message: what is off, who turned it off, whom it still reaches."""
    return f"not sent: {WORDS[DM]} are off in this room (an operator's /restrict dm); you can still /w {_whom(room, member)}"


def _whom(room: Room, member: Member | None) -> str:
    """Whom a student can still /w while dm is off: "an operator: teach", or that none is here."""
    names = [n for n in room.moderation.operator_names(room) if member is None or n != member.name]
    return f"an operator: {', '.join(names[:5])}{' and more' if len(names) > 5 else ''}" if names else "an operator (none is here now)"


def offer_refusal(room: Room, cid: int, *, to_one: bool = False) -> str | None:
    """Why ``cid`` may not offer a file now (/restrict files, and they are not an operator), or None.
    ``to_one``: offered to one person, which an exam's rule refuses too (said, as a whisper to the teacher goes)."""
    if FILES not in room.moderation.restricted:
        return None
    member = room.members.get(cid)
    if member is None or not _a_student(room, member):
        return None
    who = "operators and the host" if room.host_cid is not None else "operators"  # (a headless room has no host)
    to_whom = ", to one person too" if to_one else ""
    return f"not sent: {WORDS[FILES]} are off in this room{to_whom} (an operator's /restrict files); {who} can still share files"


def get_refusal(room: Room, cid: int, owner: int, owner_name: str, file_id: str) -> str | None:
    """Why ``cid`` may not /get file ``file_id`` now: /restrict files holds, and both they and its
    sender (``owner``) are students. A file a student offered before the /restrict stayed on offer,
    and a classmate could still fetch it in the exam; an operator still fetches what was handed in."""
    if FILES not in room.moderation.restricted or cid == owner:
        return None
    getter, sender = room.members.get(cid), room.members.get(owner)
    if getter is None or sender is None or not _a_student(room, getter) or not _a_student(room, sender):
        return None
    return f"#{file_id} is from {owner_name}, and {WORDS[FILES]} are off in this room (an operator's /restrict files)"
