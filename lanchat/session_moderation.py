"""session_moderation.py: moderation as one participant meets it (PROTOCOL.md, Moderation): the
/kick, /ban, /mute, /op, /mode and /pass typed, and the acts, the operators and the bans the room
tells, and the refusals the host reads. Pure functions of a Session; never does I/O. Who may do
what is the room's rule (moderation.py), never this module's.
"""

from __future__ import annotations

import re

from . import events as ev
from .members import Members
from .session import COMMANDS, InputResult, Line, Outgoing, Session, wire_code
from .wording import REMOVALS

# ------------------------------------------------------------------ commands typed


def parse_moderation(session: Session, action: str, rest: str) -> InputResult:
    """/kick NAME [WHY], /mute NAME [TIME] [WHY], /mode turn|duplex... -> a ``moderate``.
    Whether this person may is the server's business (it says so if not)."""
    usage = next((c.usage for c in COMMANDS if c.name == f"/{action}"), None)
    if action in ("bans",):
        return Outgoing(ev.Moderate(action=action)) if not rest else session._usage("/bans")
    if action == "pass":
        return _pass(session, rest)
    if action in ("restrict", "unrestrict"):  # /restrict dm files (the server names the kinds it takes); alone: what is off
        kinds = tuple(rest.replace(",", " ").lower().split())
        return Outgoing(ev.Moderate(action=action, kinds=kinds)) if kinds or action == "restrict" else session._usage("/unrestrict dm|files")
    if action == "mode":
        if rest.lower() not in ("turn", "duplex"):  # "/mode" alone: which it is now, too
            now = {"turn": "turn-based", "duplex": "full-duplex"}.get(session.mode)
            return session._usage("/mode turn|duplex" + (f" (the room is {now} now)" if now else ""))
        return Outgoing(ev.Moderate(action=action, mode=rest.lower()))
    name, _, why = rest.partition(" ")
    if not name:
        return session._usage(usage or ("/unban NAME|#ID (/bans lists them)" if action == "unban" else f"/{action} NAME"))
    why = why.strip()
    if action == "mute" and why[:1].isdecimal():  # not isdigit(): "²" is a digit int() refuses
        minutes, after = mute_minutes(why)
        if minutes is None:
            word = why.split()[0]
            shown = word if len(word) <= 12 else f"{word[:12]}..."
            return session._usage(f"/mute NAME [TIME] [WHY]: '{shown}' is not a time; say 10 or 10m (minutes), 2h or 1h30m")
        return Outgoing(ev.Moderate(action=action, name=name, minutes=minutes, reason=after or None))
    if action in ("kick", "ban", "mute", "admit"):  # (admit: the CODE that picks one key, sent as the reason)
        return Outgoing(ev.Moderate(action=action, name=name, reason=why or None))
    if why:
        return session._usage(f"/{action} NAME")
    return Outgoing(ev.Moderate(action=action, name=name))


def _pass(session: Session, rest: str) -> InputResult:
    """/pass [NAME] [WHY]: a first word naming us, the turn's holder or (not holding the turn
    ourselves: an operator's pass) anyone here says whose turn moves on (the server refuses
    if that is not the holder: the turn moved on since); anything else is the reason. Sent
    as a reason, a stale name passed the turn of whoever held it now."""
    first, _, why = rest.partition(" ")
    here = () if session.my_turn else (ev.name_key(name) for name in session.members)  # ours: "/pass ann knows" is a reason
    holders = {ev.name_key(session.name), *here} | ({ev.name_key(session.turn)} if session.turn else set())
    if first and ev.name_key(first) in holders:
        return Outgoing(ev.Moderate(action="pass", name=first, reason=why.strip() or None))
    return Outgoing(ev.Moderate(action="pass", reason=rest or None))


_HOW_LONG = re.compile(
    r"(?:(?P<hours>\d{1,4})\s*(?:h|hrs?|hours?)(?=\s|\d|$))?\s*(?:(?P<minutes>\d{1,6})\s*(?:m|mins?|minutes?)?)?(?=\s|$)",
    re.IGNORECASE,
)


def mute_minutes(text: str) -> tuple[int | None, str]:
    """How long a /mute is for, read from the start of ``text``, and the rest (its reason):
    ``10`` and ``10m`` are minutes, ``2h`` hours, ``1h30m`` and ``1 hour 30 min`` both; None
    when the first word is not a time a teacher would write ("3rd warning", "30s", "1.5h")."""
    found = _HOW_LONG.match(text)
    if found is None or (found["hours"] is None and found["minutes"] is None):
        return None, text
    minutes = int(found["hours"] or 0) * 60 + int(found["minutes"] or 0)
    return minutes, text[found.end():].strip()


# ------------------------------------------------------------------ server events


def moderated(session: Session, event: ev.Moderated) -> list[Line]:
    """One moderation act: a line for everyone, and what it changes here (the mode, our mute)."""
    if event.action == "mode" and event.mode in ("turn", "duplex"):
        session.mode, session.turn = event.mode, None  # the turn event that follows says whose turn it is
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
    return [Line(kind="notice", time=event.time, text=_refused_text(event), code=wire_code(event.code))]


def _refused_text(event: ev.Refused) -> str:
    """Who was turned away and why: a full room, or a banned person trying again."""
    if event.code == ev.E_BANNED and event.by is not None:
        from .moderation import ban_try_text  # here, as in _act_text

        return ban_try_text(event)
    if event.code == ev.E_TOO_MANY and event.reason is not None:  # refused at the door (guard.Guard._tell_host)
        many = f"{event.count} connections were" if event.count is not None and event.count > 1 else "a connection was"
        return f"{many} turned away: {event.reason}"
    full = "the room is full (serve --max-clients counts people besides you)"
    why = full if event.code == ev.E_ROOM_FULL else event.code
    if event.count is not None and event.count > 1:  # the tries of 30 s, as one line (PROTOCOL.md, Refusals told to the host)
        return f"{event.count} more tries to join were turned away, the last as {event.name}: {why}"
    return f"{event.name} was turned away: {why}"


def _act_text(session: Session, act: ev.Moderated) -> str:
    """One moderation act as one line: who did what to whom, and why."""
    from .moderation import act_line  # here: it brings room.py, which a client needs only now

    return act_line(act, mine=act.name is not None and ev.name_key(act.name) == ev.name_key(session.name))
