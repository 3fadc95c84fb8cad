"""session_moderation.py: moderation as one participant meets it (PROTOCOL.md, Moderation): the
acts, the operators and the bans the room tells, and the refusals the host reads. Pure functions
of a Session; never does I/O. Who may do what is the room's rule (moderation.py), never this
module's.
"""

from __future__ import annotations

from . import events as ev
from .members import Members
from .session import Line, Session
from .wording import REMOVALS

# ------------------------------------------------------------------ server events


def moderated(session: Session, event: ev.Moderated) -> list[Line]:
    """One moderation act: a line for everyone, and what it changes here (the mode, our mute)."""
    if event.action == "mode" and event.mode in ("turn", "duplex"):
        session.mode = event.mode  # the turn event that follows says whose turn it is
    if event.action in ("mute", "unmute") and event.name is not None and ev.name_key(event.name) == ev.name_key(session.name):
        session.muted_until = session._mute_ends(event.minutes or 0) if event.action == "mute" else None
    # Removed from the room (PROTOCOL.md, Moderation): the act and the fatal error that follows it
    # both name us, and the client's exit line repeats every fatal error, so we show it only there.
    if event.action in REMOVALS and event.name is not None and ev.name_key(event.name) == ev.name_key(session.name):
        return []  # us, kicked or banned: the fatal error right after says it, once (below)
    if event.action == "op" and event.name is not None and session.rejoin.was_operator(event.name, session._now()):
        return []  # made an operator again by the room we rejoined: no news (Rejoining.operators_before)
    return [session._notice(_act_text(session, event), when=event.time)]


def operators(session: Session, event: ev.Operators) -> list[Line]:
    session.operators = Members(event.names)
    return []


def ban_list(session: Session, event: ev.BanList) -> list[Line]:
    if not event.bans:
        return [session._notice("nobody is banned")]
    return [session._notice(f"bans ({len(event.bans)}):")] + [session._notice(f"  {line}") for line in event.bans]


def refused(session: Session, event: ev.Refused) -> list[Line]:
    """To the host (a ban: and operators): someone was turned away."""
    return [Line(kind="notice", time=event.time, text=_refused_text(event), code=event.code)]


def _refused_text(event: ev.Refused) -> str:
    """Who was turned away and why: a full room, or a banned person trying again."""
    if event.code == ev.E_BANNED and event.by is not None:
        from .moderation import ban_try_text  # here, as in _act_text

        return ban_try_text(event)
    full = "the room is full (serve --max-clients counts people besides you)"
    why = full if event.code == ev.E_ROOM_FULL else event.code
    if event.count is not None and event.count > 1:  # the tries of 30 s, as one line (PROTOCOL.md, Refusals told to the host)
        return f"{event.count} more tries to join were turned away, the last as {event.name}: {why}"
    return f"{event.name} was turned away: {why}"


def _act_text(session: Session, act: ev.Moderated) -> str:
    """One moderation act as one line: who did what to whom, and why."""
    from .moderation import act_line  # here: it brings room.py, which a client needs only now

    return act_line(act, mine=act.name is not None and ev.name_key(act.name) == ev.name_key(session.name))
