"""room_join.py: how someone joins the room and leaves it (pure functions of a Room). Never does I/O.

A ``hello`` (or the ``auth`` that proves its key) goes to the gate (gate.py: the key, the
password, who owns which name) and, for a banned address or key, to moderation.py before the
password is asked; then ``join`` applies the rules of PROTOCOL.md 5 and of name ownership: a
rejoin takes over its stale session (``same_session``), then the name, the bans and mutes, a
full room, a roster that must fit in one frame; and it answers with the welcome, the claim of
a name, the replay, the files on offer and the others told. ``leave`` tells the others and
moves the turn on. room.py keeps who is in the room and routes every event (``Room.handle``);
these run once a join or a leave, never once a message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import events as ev
from . import room_social
from .actions import Action, Broadcast, Log, Replay, Seen, Send, ShowOffers
from .gate import Admit
from .moderation import (
    address_ban_refusal,
    ban_refusal,
    hello_named_by_serve,
    key_banned,
    muted_join_refusal,
    named_operator_joins,
    newcomer_muted_told,
    operator_name_refusal,
    operators_on_join,
    seen_on_join,
    session_taken_back,
    welcome_muted,
)
from .protocol import encode
from .wire import FrameError

if TYPE_CHECKING:
    from .room import Member, Room


def hello(room: Room, cid: int, event: ev.Hello | ev.Auth) -> list[Action]:
    """PROTOCOL.md 4: the gate (gate.py) checks who it is; then the name rules."""
    if cid in room.members:
        return room._error(cid, ev.E_BAD_MESSAGE, "you have already joined")
    if cid in room.service_cids:  # a bot on the server's own socketpair: no key, no password
        verdict: Admit | list[Action] = Admit(event.name, None) if isinstance(event, ev.Hello) else []
    elif isinstance(event, ev.Auth):
        verdict = room.gate.auth(cid, event)
    elif room.gate.password is None or cid == room.host_cid:
        verdict = room.gate.hello(cid, event)
    else:  # a banned address or key is told before the password is asked (PROTOCOL.md, Moderation)
        banned = None if hello_named_by_serve(room, event) else address_ban_refusal(room, cid, _name_to_tell(event.name))
        if banned is not None:
            return banned
        verdict = room.gate.hello(cid, event, waive_password=key_banned(room, event))
    if isinstance(verdict, Admit) and verdict.password_waived:  # the key is proved: its ban holds
        lifted = "the ban on your key was lifted meanwhile: connect again and give the room password"
        refused = ban_refusal(room, cid, _name_to_tell(verdict.name), verdict.key)
        return refused or room._error(cid, ev.E_PASSWORD, lifted, fatal=True)
    if not isinstance(verdict, Admit):
        return verdict
    if room.gate.sessions.replaced(verdict):  # a machine left behind, rejoining by itself
        return room._error(cid, ev.E_TAKEN_OVER, _room.TAKEN_OVER, fatal=True)
    actions = join(room, cid, verdict)
    if (member := room.members.get(cid)) is not None and member.resume is not None:
        room.gate.sessions.note(member.key, member.name, member.resume, verdict)
    return actions


def join(room: Room, cid: int, admit: Admit) -> list[Action]:
    """The rules of section 5 and of name ownership; then the welcome."""
    name, key = admit.name, admit.key
    # A rejoin: the stale session goes. Never the host's: it runs inside the server and is never
    # stale (a second terminal on the host's machine has the host's key and login name).
    if (holder := room.find(name)) is not None and holder.cid != room.host_cid and _room.same_session(holder, admit):
        if refused := room.gate.refusal(cid, name, key) or operator_name_refusal(room, cid, name, key):
            return refused  # the secret without the key that owns the name: the session stays
        if holder.key is not None and key != holder.key:  # nor the key that proved it (a name nobody
            return _room.name_refused(room, cid, name, key)  # owns): the secret crosses a plain room in the clear
        return _take_over(room, holder, cid, admit)
    if refused := _room.name_refused(room, cid, name, key):
        return refused
    if cid != room.host_cid and (banned := ban_refusal(room, cid, name, key) or muted_join_refusal(room, cid, name, key)):
        return banned
    if room_social.full(room, cid):  # --max-clients N: N people besides the host, who is told
        return room_social.full_refusal(room, cid, name)
    if not roster_fits(room, name, text=cid in room.text_cids):
        return room._error(cid, ev.E_ROOM_FULL, "the room is full: its roster would not fit in one frame", fatal=True)
    resume = room.resume_tokens() if room.resume_tokens and cid not in room.service_cids else None  # bots never rejoin
    member = _room.Member(cid=cid, name=name, key=key, address=room.moderation.address_of(cid), resume=resume, first_release=admit.first_release)
    others = room._everyone
    room.members[cid] = member
    room._by_key[ev.name_key(member.name)] = member
    _room.add_looks(room._by_look, member)
    room._everyone = (*others, cid)
    room.first_releases.update((cid,) if member.first_release else ())  # (room_social.to_each_age)
    if room._names_for is others:  # the roster grows by one name: extend it, no rebuild
        room._names, room._names_for = (*room._names, member.name), room._everyone
    if cid not in room.service_cids:
        room.ever_joined += 1
        room.gate.joined(cid)  # its account, if the kernel says it at once (a lab server's class)
        session_taken_back(room, resumed := room.lost_sessions.came_back(name, admit), cid)  # before the mute rules ask
    turn_changed = room.mode == _room.TURN and room.turn_holder is None and cid != room.host_cid and cid in room.may_hold_turn()
    if turn_changed:
        room.turn_holder = cid  # seed 001: the first client to join speaks first
    named_operator = named_operator_joins(room, member)  # before the welcome's flood allowance: none for an operator
    host_name = room.name_of(room.host_cid) if room.host_cid is not None else None
    welcome = welcome_of(room, member, host_name)
    # trust on first use: a key joining under a name nobody owns owns it now (gate.py)
    actions = welcome_first(room.gate.claim(name, key, cid) if cid not in room.service_cids else [], Send(to=cid, event=welcome))
    actions += seen_on_join(room, member)  # a key the room knows from now on, kept across a restart
    actions += newcomer_muted_told(room, member)  # muted by a mute's rule for newcomers: the operators are told
    actions += room_social.after_welcome(room, cid)  # the topic, who is away
    if room.history and cid not in room.service_cids:
        # Straight after the welcome, so history comes before any live traffic. Bots get none: they would answer old ones as new.
        room.known[ev.name_key(member.name)] = member.name
        since = admit.hello.since if admit.hello is not None else None  # rejoining: only what came after
        actions.append(Replay(to=cid, name=member.name, limit=room.replay, joining=True, owner=key, since=since))
    if cid not in room.service_cids:  # below the replay: what a latecomer may /get (and a rejoin's own, back)
        actions.append(ShowOffers(to=cid, resumed=resumed))
        room_social.taken_back(member, room.lost_sessions.member(resumed), room.clock())
    if others:
        joined = ev.Joined(name=member.name, time=room.clock(), bot=cid in room.service_cids, text=cid in room.text_cids,
                           rejoined=cid not in room.service_cids and resumed is not None)  # its lost session back: "reconnected"
        actions.append(Broadcast(to=others, frame=encode(joined), notice=True))
        if turn_changed:
            actions.append(Broadcast(to=others, frame=encode(ev.Turn(holder=room.turn_name))))
    return actions + (named_operator or operators_on_join(room, member, host_name))


def _take_over(room: Room, holder: _room.Member, cid: int, admit: Admit) -> list[Action]:
    """``holder``'s stale session goes, told so, and ``cid`` joins in its place: one line for the
    others, not two. The server's log says whose connection went: it read "bob joined from" twice,
    no leave between, as two bobs in (a laptop back on the Wi-Fi with a new address first)."""
    gone = leave(room, holder.cid, ev.LEFT_MOVED, rejoined=_room.brought_its_secret(holder, admit))
    moved = Log(text=f"{holder.name}'s connection from {holder.address} was taken over by the join from {room.moderation.address_of(cid)}")
    return gone + room._error(holder.cid, ev.E_TAKEN_OVER, _room.TAKEN_OVER, True) + join(room, cid, admit) + [moved]


def welcome_first(claimed: list[Action], welcome: Send) -> list[Action]:
    """A claim's actions (gate.claim: stored, logged) before the ``welcome``; what it tells the
    newcomer (a name not kept for them) after it: a client shows nothing before its welcome."""
    told = [action for action in claimed if isinstance(action, Send)]
    return [*(action for action in claimed if not isinstance(action, Send)), welcome, *told]


def welcome_of(room: Room, member: Member, host_name: str | None) -> ev.Welcome:
    """The newcomer's welcome (PROTOCOL.md 3.2.1), with its flood allowance and its mute."""
    burst, rate, left = room.flood_allowance(member.cid) or (None, None, None)
    muted, muted_seconds = welcome_muted(room, member)
    return ev.Welcome(
        name=member.name, mode=room.mode, members=room.names, turn=room.turn_name, host=host_name, once=room.once,
        keeps_history=room.history, resume=member.resume, flood_burst=burst, flood_rate=rate,
        flood_tokens=left if left is not None and burst is not None and left < burst else None,  # absent: all of it
        bots=room.bot_names(), text=room.text_names(), muted=muted, muted_seconds=muted_seconds, ping=room.answers_pings,
    )


def roster_fits(room: Room, newcomer: str, *, text: bool = False) -> bool:
    """PROTOCOL.md 5: the welcome carries the whole roster and must fit in one frame;
    otherwise encoding it would fail inside the server loop and end the chat for all.
    Checking at each join is enough: the roster only grows by joins."""
    probe = ev.Welcome(
        name=newcomer,
        mode=room.mode,
        members=(*room.names, newcomer),
        turn=room.turn_name or newcomer,  # never smaller than the real welcome
        host=room.name_of(room.host_cid) if room.host_cid is not None else None,
        once=room.once, keeps_history=room.history, resume="r" * 24,  # as long as the real one
        flood_burst=-ev.MAX_WIRE_INT, flood_rate=-2.2250738585072014e-308, flood_tokens=-ev.MAX_WIRE_INT,  # numbers at their longest
        bots=(*room.bot_names(), newcomer),  # as if the newcomer were a bot too
        text=(*room.text_names(), *((newcomer,) if text else ())),  # ``text``: the newcomer is at nc
        muted=-ev.MAX_WIRE_INT, muted_seconds=-ev.MAX_WIRE_INT, ping=True,
    )
    try:
        encode(probe)
    except FrameError:
        return False
    return True


def leave(room: Room, cid: int, reason: str, *, rejoined: bool = False) -> list[Action]:
    """Connection ``cid`` is gone (``quit``, ``lost``, ``dropped``, ``moved``, ``kicked``, ``banned``): tell the others
    (``rejoined``: moved by its own rejoin)."""
    order_before = _room.turn_order(room) if room.mode == _room.TURN else []  # only the turn rule needs it
    room.moderation.forget(cid)
    room.moderation.leads.cids.discard(cid)
    member = room.members.pop(cid, None)
    if member is not None and cid not in room.service_cids:
        room.moderation.left(member)  # its account, for a ban typed after it left
        if reason in ("lost", "dropped", ev.LEFT_MOVED):  # (dropped: too slow a reader, a laptop asleep: it rejoins)
            room.lost_sessions.note(member)
    room.gate.forget(cid)
    room.shown_away.discard(cid)
    room.first_releases.discard(cid)
    room.text_cids.discard(cid)
    if member is None:
        return []
    del room._by_key[ev.name_key(member.name)]
    _room.drop_looks(room._by_look, member)
    before, room._everyone = room._everyone, tuple(room.members)
    if room._names_for is before:  # the roster loses one name: cut out, not rebuilt at the next join
        at = before.index(cid)
        room._names, room._names_for = room._names[:at] + room._names[at + 1 :], room._everyone
    actions: list[Action] = []
    if room.history and cid not in room.service_cids:
        actions.append(Seen(name=member.name))
    if room._everyone:
        left = ev.Left(name=member.name, reason=reason, time=room.clock(), rejoined=rejoined)
        actions.append(Broadcast(to=room._everyone, frame=encode(left), notice=True))
    if room.mode == _room.TURN:
        holder = room.turn_holder
        if holder == cid:
            holder = room._next_after(cid, order_before=order_before, removed=True)
        elif holder is not None and holder == room.host_cid and all(
            c == holder or c in room.service_cids for c in room._everyone
        ):
            holder = None  # the host never holds the turn alone (bots are nobody to talk to)
        if holder != room.turn_holder:
            room.turn_holder = holder
            if room._everyone:
                actions.append(room._turn_broadcast())
    return actions

def _name_to_tell(name: str) -> str:
    """The name a banned person gave, for the host's "tried to join" notice: told before the name
    is checked (a ban is said before the password is asked), so one no name could be is not repeated."""
    return name if ev.name_problem(name) is None else "(an invalid name)"



# Last, on purpose, as moderation.py does: room.py imports this module, and this one needs
# room.py's Member and name rules, used only when someone joins. Importing it here, once
# everything above is defined, works whichever of the two is imported first.
from . import room as _room  # noqa: E402
