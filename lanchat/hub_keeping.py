"""hub_keeping.py: what the history keeps for the room besides its messages, and what people are told of it. Never touches a socket.

* bans, mutes, names' owners, operators, the topic, the mode, the next file id, who saw what
  (``STATE_CHANGES``) are kept so that a restart has them (``Keeping.change``; PROTOCOL.md,
  When the file fails): one the history cannot take yet (a full disk) waits, in order, and
  whoever made it is told so, then told again once it is saved (``saved``);
* a newcomer's replay and a /history page are queued within half the queue limit, a /history
  within its token bucket (``replay``);
* a message the history could not store is refused to its sender (``not_stored``), and the
  history's failures reach the host's screen (``warn``, ``tell_host``).

The history policy (history_policy.py) decides how; this part of the hub (hub.py) decides who
is told, in what words, and hands the hub the actions to perform. None of it runs per message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import events as ev
from .actions import (
    Action,
    Claim,
    DropBans,
    DropMutes,
    DropOperator,
    KeepMode,
    KeepRestrict,
    KeepSeenKey,
    KeepTopic,
    NextFileId,
    Record,
    Replay,
    Send,
    StoreBan,
    StoreMute,
    StoreOperator,
)
from .history_policy import Unsaved, person_of

if TYPE_CHECKING:
    from .history import HistoryStore
    from .hub import Hub

# What the history keeps besides messages, so that a restart has it (Keeping.change)
STATE_CHANGES = (StoreBan, DropBans, StoreMute, DropMutes, Claim, StoreOperator, DropOperator, KeepTopic, KeepMode, KeepRestrict,
                 NextFileId, Record, KeepSeenKey)  # fmt: skip


def _store_write(action: Action) -> tuple[Callable[[HistoryStore], object], object]:
    """The store call that keeps ``action``, one of STATE_CHANGES, and the row it writes (None:
    one of its own, as each ban's or act's). A closure over this action alone: it may run later."""
    if isinstance(action, StoreBan):
        return (lambda store: store.add_ban(action.ban)), None
    if isinstance(action, DropBans):
        return (lambda store: store.drop_bans(action.ids)), None
    if isinstance(action, StoreMute):
        return (lambda store: store.add_mute(action.mute, action.now)), None
    if isinstance(action, DropMutes):
        return (lambda store: store.drop_mutes(action.ids)), None
    if isinstance(action, Claim):  # (a key's oldest name is the one given up: when it was claimed, not saved)
        since = time.time()
        return (lambda store: store.claim(action.name, action.owner, time=since)), ("owner", ev.name_key(action.name))
    if isinstance(action, (StoreOperator, DropOperator)):
        key = action.key
        if isinstance(action, StoreOperator):
            return (lambda store: store.add_operator(key, action.name)), ("operator", key)
        return (lambda store: store.drop_operator(key)), ("operator", key)
    if isinstance(action, KeepTopic):
        return (lambda store: store.set_room_topic(action.topic)), "topic"
    if isinstance(action, KeepMode):
        return (lambda store: store.set_room_mode(action.mode)), "mode"
    if isinstance(action, KeepRestrict):
        return (lambda store: store.set_restricted(action.kinds)), "restrict"
    if isinstance(action, NextFileId):
        return (lambda store: store.set_next_file_id(action.value)), "next file id"
    if isinstance(action, KeepSeenKey):
        return (lambda store: store.keep_seen_key(action.key, action.place, action.time)), ("seen key", action.key)
    assert isinstance(action, Record), action
    return (lambda store: store.keep_act(action.event)), None


class Keeping:
    """The hub's (hub.py) dealings with the history beyond messages: the room's state kept,
    replays queued, and the words for what could not be saved. Acts through the ``hub``."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def change(self, action: Action, actions: list[Action]) -> None:
        """Keep ``action`` in the history (PROTOCOL.md, When the file fails). One it cannot take
        yet (a full disk) waits, in order, and is saved as soon as it can be (HistoryPolicy.change);
        a ban, mute, name claim or release that waits is said to whoever made it, after the ``actions`` it
        came with (appended: a claim on joining comes before the welcome, and nothing may come
        before that), and said again once it is saved (``saved``)."""
        write, slot = _store_write(action)
        told = self._unsaved_words(action)
        cid, problem, saved_note = told if told is not None else (None, "", "")
        if not self.hub.history.change(write, slot=slot, told=cid, saved_note=saved_note) and cid is not None:
            actions.append(Send(to=cid, event=ev.Error(code=ev.E_HISTORY, message=problem)))

    def _unsaved_words(self, action: Action) -> tuple[int | None, str, str] | None:
        """Who is told that ``action`` is not saved yet, in what words, and what they are told once
        it is; None: a change nobody is told of one by one (the host heard the history's warning)."""
        room = self.hub.room
        if isinstance(action, (StoreBan, StoreMute)):
            what, by = (f"the ban on {action.ban.name}", action.ban.by) if isinstance(action, StoreBan) else (
                f"the mute on {action.mute.name}", action.mute.by)  # fmt: skip
            maker = room.find(by)
            told, head, undo, kept = maker.cid if maker is not None else room.host_cid, f"{what} ", "lifts it", f"{what} holds"
        elif isinstance(action, Claim) and action.owner is not None:
            owner = room.find(action.name)
            yours = f"your key owns the name {action.name}"
            told, head, undo, kept = owner.cid if owner is not None else None, f"{yours}, but that ", "frees the name for anyone", yours
        elif isinstance(action, Claim) and action.by is not None:  # a release: the host's /release, or a key's oldest name
            free = f"the name {action.name} is free"
            told, head, undo, kept = action.by, f"{free}, but that ", "gives it back to the key that owned it", (
                f"the name {action.name} stays free")  # fmt: skip
        else:
            return None
        store = self.hub.history.store
        if store is not None and not store.writable:  # an archive (read-only when the server started): never saved
            return told, f"{head}holds only until the server stops: the history file is read-only, so a restart {undo}", ""
        problem = f"{head}is not saved yet: the history cannot be written; it is saved as soon as it can be, and a restart before then {undo}"
        return told, problem, f"{kept} after a restart too"

    def saved(self, saved: list[Unsaved]) -> None:
        """Changes that waited are saved now: whoever was told a restart would undo one hears,
        once, in one line, that it will not (the rest: the log, HistoryPolicy._announce)."""
        notes: dict[int, list[str]] = {}
        for entry in saved:
            if entry.told is not None and entry.told in self.hub.peers:
                notes.setdefault(entry.told, []).append(entry.saved_note)
        for cid, lines in notes.items():
            more = f"; and {len(lines) - 3} more of yours" if len(lines) > 3 else ""
            text = "saved now: " + "; ".join(lines[:3]) + more  # good news: a notice, not an error
            self.hub.perform([Send(to=cid, event=ev.Notice(code=ev.E_HISTORY, message=text))])

    def warn(self, problem: str) -> None:
        """The history store failed (said once): the log and the host hear it."""
        self.hub.log(problem)
        self.tell_host(problem)

    def tell_host(self, line: str) -> bool:
        """A history notice for the host's screen (a hosting teacher never sees the log); False:
        no host is in the room (a headless server, or the host not joined yet)."""
        host = self.hub.room.host_cid
        if host is None:
            return False
        self.hub.perform([Send(to=host, event=ev.Error(code=ev.E_HISTORY, message=line))])
        return True

    def replay(self, action: Replay) -> None:
        """Queue history to one connection like any other output, within half the queue limit,
        so a long replay can never get the newcomer dropped as a slow reader."""
        cid = action.to
        peers, history, outbox = self.hub.peers, self.hub.history, self.hub.outbox
        if cid not in peers or history.store is None:
            return
        peer = peers[cid]
        person = person_of(action.name, action.owner, peer.ip)  # not the connection: a reconnect does not refill
        if peer.history_person not in (None, person):  # a guest's /nick since: the bucket goes with them
            history.allowance.carry(peer.history_person, person)
        peer.history_person = person
        if not action.joining and not history.allowance.allowed(person, action.limit, live=len(peers)):
            busy = ev.Error(code=ev.E_HISTORY, message="too much /history at once; try again in a moment")
            self.hub.perform([Send(to=cid, event=busy)])
            return
        budget = max(outbox.max_queue_bytes // 2 - outbox.queued_bytes(cid), 0)
        for frame in history.replay_frames(action, budget=budget):
            outbox.queue(cid, frame)

    def not_stored(self, event: ev.Message | ev.Direct | ev.Emote) -> list[Action]:
        """Tell the sender that ``event`` was not sent: the history could not store it."""
        sender = self.hub.room.find(event.sender)
        if sender is None:
            return []
        said = f"/me {event.text}" if type(event) is ev.Emote else event.text  # as they typed it
        text = said if len(said) <= 40 else said[:39] + "…"
        to = f" to {event.to}" if isinstance(event, ev.Direct) else ""
        # why, in the sender's words: nobody got it (stored before sent), and whether the server's disk is full
        why = "the server's disk is full, so the history cannot save it" if self.hub.history.disk_full else "the history cannot be written"
        problem = f"not sent{to}: {text!r}: {why} (nobody got it); try again in a moment"
        return [Send(to=sender.cid, event=ev.Error(code=ev.E_HISTORY, message=problem))]
