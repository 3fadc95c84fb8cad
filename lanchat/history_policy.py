"""history_policy.py: when the server stores and replays history, and how much. Never touches the store's file itself.

The store (history.py, SQLite) is handed in, with a clock; the hub (hub.py) asks:
* ``keep(message)`` for every room or direct message (``keep_said(run)`` for a run of one
  member's says on the short path), and ``commit()`` once per pass, before
  anything is written to a socket: what anyone has received is already stored (in the store's
  journal, one ``write`` per pass: history.py);
* ``next_move()`` and ``move_due()``: the store moves its journal into SQLite in batches, when it
  holds many rows or its oldest is about a second old: the loop sleeps until then at most, and
  an idle server with an empty journal has nothing to wake up for;
* ``allowance.allowed(person, entries)`` (HistoryAllowance) for a /history request: each person (``person_of``: their key
  when a key proves the name, else name and address; never the connection, so a reconnect
  does not refill it, and a guest's /nick carries the bucket to the new name: ``carry``) has a bucket of entries that refills with time, so paging through history is never refused but a flood of big requests
  cannot stall the room (a replay costs the loop time in proportion to the entries sent,
  bench/history_bench.py);
* ``replay_frames(...)`` for the frames of a replay within a byte budget, so a long replay can
  never get the newcomer dropped as a slow reader; a replay always ends with ``history-end``.
A failing store is warned about once (``warn``) and the chat goes on; the next good write says so
(a disk so nearly full that failing and saving alternate: at most once a minute).
Messages whose commit failed are not sent: their senders are told (hub.py, ``_commit_pass``).
What the store keeps besides messages (bans, mutes, names' owners, operators, the topic...) goes
through ``change(write)``: one the store cannot take is kept here, in order, and saved as soon as
it can be (the first good commit or journal move, or a try every RETRY_SECONDS, or the server's
stop), so a ban made on a full disk still holds after a restart once there was room meanwhile.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from . import events as ev
from .actions import Log, Replay, Said, Seen
from .history_upkeep import CHECK_SECONDS, Upkeep
from .protocol import encode

if TYPE_CHECKING:  # the edge this policy is handed; it does not import it
    from .history import HistoryStore, Record

T = TypeVar("T")

HISTORY_BURST_ENTRIES = ev.MAX_HISTORY_REQUEST  # one full /history answer at once
HISTORY_ENTRIES_PER_SECOND = 2000  # then about a tenth of the loop's time, at most
# A disk that is nearly full takes a short pass and refuses a long one, so failing and saving
# alternate many times a second: the host hears of it at most once in this long (and of its end
# only if it heard of the failure). Each refused sender is still told, every time (hub.py).
WARN_AGAIN_SECONDS = 60.0
# A change the store could not take is tried again this often while the room is quiet (a message
# stored, or the journal moved, tries at once): never every pass, or a full disk would spin the loop.
RETRY_SECONDS = 5.0


@dataclass(eq=False)
class Unsaved:
    """A change to the store's state that it could not take yet (``HistoryPolicy.change``)."""

    write: Callable[[HistoryStore], object]  # the store call, bound to its own values: it runs later
    told: int | None = None  # the connection told that it is not saved yet, to be told when it is
    saved_note: str = ""  # what they are told then, after "saved now: "


def person_of(name: str, owner: bytes | None, ip: str) -> object:
    """Who a /history request counts against: the key that proves the name, else the name (by
    names.name_key, as the room compares names) from that address. Pure."""
    if owner is not None:
        return ("key", owner)
    return ("name", ev.name_key(name), ip)


class HistoryAllowance:
    """The /history token bucket of each person (``person_of``), on an injected clock. Pure."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._tokens: dict[object, tuple[float, float]] = {}  # person_of(...) -> (entries left, when)

    def allowed(self, person: object, entries: int, *, live: int) -> bool:
        """The /history token bucket: may ``entries`` go to ``person`` now? ``person`` is who asks
        (``person_of``), not the connection, so reconnecting does not refill it. ``live``: how many
        connections are open; past a few buckets each, the full ones are forgotten (a full bucket
        is what a newcomer gets anyway)."""
        now = self.clock()
        left = self._left(person, now)
        if left < entries:
            self._tokens[person] = (left, now)
            return False
        if len(self._tokens) > 4 * live + 64:
            self._tokens = {
                who: (had, at) for who, (had, at) in self._tokens.items()
                if had + (now - at) * HISTORY_ENTRIES_PER_SECOND < HISTORY_BURST_ENTRIES
            }  # fmt: skip
        self._tokens[person] = (left - entries, now)
        return True

    def carry(self, old: object, new: object) -> None:
        """One connection asked as ``old`` and now as ``new`` (a keyless guest's /nick: the name
        is half of who they are): the new name's bucket is the emptier of the two, so a new name
        is no fresh allowance. The old one's stays as it is (a reconnect under it is the same
        person)."""
        now = self.clock()
        had = self._left(old, now)
        if had < self._left(new, now):
            self._tokens[new] = (had, now)

    def _left(self, person: object, now: float) -> float:
        """The entries ``person`` may have at ``now``: what was left, refilled since, at most a burst."""
        left, when = self._tokens.get(person, (HISTORY_BURST_ENTRIES, now))
        return min(HISTORY_BURST_ENTRIES, left + (now - when) * HISTORY_ENTRIES_PER_SECOND)


class DeletedFile:
    """The store's file deleted while the room runs (``rm class.sqlite3``, a cleanup script): written
    back from the open database and used on (history.py, _PutBack), said in one line to the host and
    the log (``warn``); if that fails, said so once, and tried again when the server stops."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.warn = warn
        self.failed = False  # could not be written back: not tried every pass (a backup reads the whole file)

    def look(self, store: HistoryStore | None, *, stopping: bool = False) -> None:
        """After a move of the journal into SQLite, and at the stop: is the file still there?"""
        if store is None or (self.failed and not stopping) or not store.file_gone():
            return
        try:
            line = store.put_back()
        except store.errors as exc:
            if self.failed or stopping:  # the stop's try failed: the last word, for the log
                self.warn(f"history: {store.path} could not be written back before the server stopped ({exc}); "
                          "the history it held (this run's messages too) is lost with it")  # fmt: skip
                return
            self.failed = True
            line = (f"history: {store.path} was deleted while the room ran, and cannot be written back now: {exc}; "
                    "the room's messages are still held, and writing them back is tried again when the server stops")  # fmt: skip
        self.warn(line)


class HistoryPolicy:
    """The history rules for one server run, around an injected store (None: no history)."""

    def __init__(
        self,
        store: HistoryStore | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.log = log or (lambda line: None)
        self.warn = warn or self.log  # a failure, said once: the hub tells the host too
        self.failing = store is not None and not store.writable
        self.warned_at: float | None = None  # when the host was last told of a failure
        self.warned = False  # the host was told of this run of failures: its end is said too
        self.pending = False  # kept this pass, to commit before the flush
        self.lost = False  # a store call failed since this pass's first keep
        self.disk_full = False  # the last failure was a disk with no room (HistoryWriteError.disk_full)
        self.move_failing = False  # the journal could not be moved into SQLite (said once)
        self.drop_failing = False  # old history could not be dropped (said once)
        self.deleted_file = DeletedFile(self.warn)  # the file deleted while the room runs
        self.upkeep: Upkeep | None = None  # serve --keep-days / --max-history-mb (history_upkeep.py)
        self.allowance = HistoryAllowance(clock)  # /history: who may have how many entries now
        # Changes not saved yet, oldest first, keyed by the row they write (a later write of it
        # replaces the waiting one: the last wins anyway) or by a number of their own (change()).
        self.unsaved: dict[object, Unsaved] = {}
        self.retry_at = 0.0  # while some are unsaved: when to try again at the latest
        self.on_saved: Callable[[list[Unsaved]], None] = lambda saved: None  # the hub tells whoever was told
        self.timed_due = math.inf  # the sooner of upkeep.due and retry_at (inf: neither), kept by _timed
        self._own_slot = itertools.count()

    def keep_only(self, days: float | None, max_mb: int | None, tell_host: Callable[[str], bool] | None = None) -> None:
        """Drop messages older than ``days`` and the oldest beyond ``max_mb`` MiB (room first, then direct),
        off the message path (history_upkeep.py; ``tell_host``: its notices to the host). An archive keeps all."""
        store = self.store
        if store is not None and store.writable and (days is not None or max_mb is not None):
            self.upkeep = Upkeep(store, keep_days=days, max_mb=max_mb, clock=self.clock, log=self.log, tell_host=tell_host)
            self.upkeep.on_due = self._timed
            self._timed()

    def _timed(self) -> None:
        """``timed_due`` again (next_move, every pass, reads it: looking at both cost 660 instructions a message)."""
        due = self.upkeep.due if self.upkeep is not None else None
        self.timed_due = min(math.inf if due is None else due, self.retry_at if self.unsaved else math.inf)

    def call(self, call: Callable[[HistoryStore], T]) -> T | None:
        """Run one store call; a failure is warned about once and the chat goes on."""
        if self.store is None:
            return None
        try:
            return call(self.store)
        except self.store.errors as exc:  # what the store says its failures look like
            self._failed(self.store, exc)
            return None

    def change(
        self, write: Callable[[HistoryStore], object], *, slot: object = None, told: int | None = None, saved_note: str = ""
    ) -> bool:
        """Save a change to what the store keeps besides messages (a ban, a name's owner, the
        topic...), after every earlier change still waiting, in order. False: it is not saved yet
        and waits with them (``told`` is told so by the hub, and ``saved_note`` once it is saved:
        ``on_saved``). ``slot``: the row it writes, so a later write of the same row replaces it
        while both wait (a topic set ten times on a full disk is saved once). No store: True."""
        store = self.store
        if store is None:
            return True
        entry = Unsaved(write, told, saved_note)
        if not self.unsaved:
            try:
                write(store)
            except store.errors as exc:
                self._failed(store, exc)
                if store.writable:  # (a file read-only from the start is an archive: nothing new is ever saved)
                    self._wait(entry, slot)
                return False
            return True
        self._wait(entry, slot)
        saved, error = self._save_waiting()
        if error is not None:
            self._failed(store, error)
        self._announce([done for done in saved if done is not entry])  # (this one was never said to wait)
        return not self.unsaved

    def _wait(self, entry: Unsaved, slot: object) -> None:
        """Keep ``entry`` to save later, last; one waiting for the same ``slot`` goes."""
        if slot is None:
            slot = next(self._own_slot)
        else:
            self.unsaved.pop(slot, None)
        if not self.unsaved:
            self.retry_at = self.clock() + RETRY_SECONDS
        self.unsaved[slot] = entry
        self._timed()

    def _save_waiting(self) -> tuple[list[Unsaved], Exception | None]:
        """Save the waiting changes in order, up to the first the store refuses (its error)."""
        store = self.store
        assert store is not None  # nothing waits without a store
        saved: list[Unsaved] = []
        for slot, entry in list(self.unsaved.items()):
            try:
                entry.write(store)
            except store.errors as exc:
                self.retry_at = self.clock() + RETRY_SECONDS
                self._timed()
                return saved, exc
            del self.unsaved[slot]
            saved.append(entry)
        self._timed()
        return saved, None

    def save_unsaved(self) -> None:
        """Try the waiting changes again (the store can be written again, or it is time, or the
        server stops). A refusal is not warned about again: it was, and they wait on."""
        if not self.unsaved or self.pending:  # (mid-pass: the pass's rows are the commit's to store)
            return
        saved, _error = self._save_waiting()
        self._announce(saved)

    def _announce(self, saved: list[Unsaved]) -> None:
        """Changes that waited are saved: the log says how many, the hub tells whoever was told."""
        if saved:
            self.log(f"history: saved {_count(len(saved), 'change')} made while it could not be written")
            self.on_saved(saved)

    def stopping(self) -> None:
        """The server stops: a file deleted meanwhile is written back, the waiting changes are tried once more."""
        self.deleted_file.look(self.store, stopping=True)
        self.save_unsaved()
        if self.unsaved:
            self.log(_not_saved_at_stop(len(self.unsaved)))

    def _failed(self, store: HistoryStore, exc: Exception) -> None:
        """A store call failed: said once; the rows kept this pass may be lost with it."""
        self.lost = self.lost or self.pending
        self.disk_full = bool(getattr(exc, "disk_full", False))
        if not self.failing:
            self.failing = True
            now = self.clock()
            self.warned = self.warned_at is None or now - self.warned_at >= WARN_AGAIN_SECONDS
            if self.warned:
                self.warned_at = now
                self.warn(f"history: cannot use {store.path}: {exc}; the chat goes on, "
                          "but messages are not sent until they can be saved")  # fmt: skip

    def keep(
        self, event: ev.Message | ev.Direct | ev.Emote, sender_owner: bytes | None = None, recipient_owner: bytes | None = None
    ) -> None:
        """Hold a message (or a /me) for this pass's commit (many rows per INSERT: history.py). A direct
        message keeps the keys that owned both names (PROTOCOL.md, Identity). A file that was
        read-only when the server started is an archive: it replays and saves nothing new, and the
        messages go out as with --no-history (the start banner said so)."""
        if self.store is None or not self.store.writable:
            return
        if type(event) is ev.Emote:  # a /me: replayed as one (PROTOCOL.md, History replay)
            self.store.keep_action(time=event.time, sender=event.sender, text=event.text)
        else:
            to = event.to if isinstance(event, ev.Direct) else None
            self.store.keep(time=event.time, sender=event.sender, text=event.text, to=to, sender_owner=sender_owner,
                            recipient_owner=recipient_owner)  # fmt: skip
        self.pending = True

    def keep_said(self, said: Said) -> None:
        """Hold a run of one member's room messages for this pass's commit, as ``keep`` does
        each (``Hub.say``: one call per run, not per message)."""
        if self.store is None or not self.store.writable:
            return
        self.store.keep_said(said.sender, said.times, said.texts)
        self.pending = True

    def record(self, action: Seen | Log) -> None:
        """What the room asks to be remembered: who saw what (``Seen``), a line for the log. (Which
        key owns a name is a change: hub.py, ``_change``.)"""
        if isinstance(action, Seen):
            self.mark_seen(action.name)
        else:
            self.log(action.text)

    def commit(self) -> bool:
        """Store this pass's messages: one commit per pass, before any of them is sent.
        False: they could not be stored, so the hub does not send them (PROTOCOL.md, History replay)."""
        if not self.pending:
            return True
        self.pending = False
        store = self.store
        assert store is not None  # pending: something was kept in it
        try:  # as call() does, without a closure: once a pass at light load
            store.commit()
        except store.errors as exc:
            self._failed(store, exc)
            self.lost = False
            return False
        lost, self.lost = self.lost, False
        if lost:
            return False
        if self.failing:
            self.failing = False
            if self.warned:
                self.log(f"history: saving to {store.path} again")
            self.save_unsaved()  # the changes that waited for this, before anything else is changed
        return True

    def next_move(self) -> float | None:
        """When (on this policy's clock) the store's journal is due to move into SQLite, old
        history is due to be dropped, or the changes not saved yet are tried again; None if there
        is nothing to do. Every loop pass: the last two are one attribute (``timed_due``)."""
        store = self.store
        due = store.move_deadline() if store is not None else None
        if due is None:  # (timed_due: dropping old history, history_upkeep.py; unsaved changes' retry)
            return None if self.timed_due == math.inf else self.timed_due
        if store.clock is not self.clock:  # type: ignore[union-attr]
            due = self.clock() + max(0.0, due - store.clock())  # type: ignore[union-attr]  # (tests: two clocks; the server: one)
        if due <= self.timed_due:  # (the usual: the journal's move, seconds off)
            return due
        return self.timed_due

    def move_due(self) -> None:
        """Move the journal into SQLite if it is due (every pass: cheap when it is not). A failure
        loses nothing (the rows stay in the journal, delivered and readable) and the store tries
        again a little later: it is said once, and again when moving works. The changes not saved
        yet are tried when theirs is due, and once moving works again."""
        store = self.store
        if store is None:
            return
        if self.timed_due != math.inf and self.timed_due <= self.clock():  # (one attribute a pass: _timed keeps it)
            upkeep = self.upkeep
            if upkeep is not None and upkeep.due is not None and upkeep.due <= self.clock():
                self._keep_up(upkeep)
            if self.unsaved and self.clock() >= self.retry_at:  # changes waiting to be saved, in a quiet room
                self.save_unsaved()
        due = store.move_deadline()
        if due is None or due > store.clock():
            return
        try:
            store.move_if_due()
        except store.errors as exc:
            if not self.move_failing:
                self.move_failing = True
                self.warn(f"history: cannot move the newest messages into {store.path}: {exc}; they are kept beside it "
                          "until it can be written")  # fmt: skip
            return
        self.deleted_file.look(store)  # after a move (every few seconds at most, never per message): is the file there?
        if self.move_failing:
            self.move_failing = False
            self.log(f"history: the newest messages are in {store.path} again")
            self.save_unsaved()

    def mark_seen(self, name: str) -> None:
        """``name`` saw everything up to now: direct messages after this are "while away"."""
        self.call(lambda store: store.mark_seen(name))

    def _keep_up(self, upkeep: Upkeep) -> None:
        """One batch of dropping old history, if due (history_upkeep.py). A failure is said once
        and tried again at the next check; the chat goes on."""
        store = self.store
        assert store is not None
        try:
            upkeep.step()
        except store.errors as exc:
            upkeep.due = self.clock() + CHECK_SECONDS
            if not self.drop_failing:
                self.drop_failing = True
                self.warn(f"history: cannot drop old messages from {store.path}: {exc}; tried again later")
        else:
            self.drop_failing = False

    def replay_frames(self, action: Replay, *, budget: int) -> list[bytes]:
        """The frames of one replay, oldest first, in at most ``budget`` bytes (a cut drops the
        oldest, and the store reads little more), always ending with ``history-end`` (PROTOCOL.md, History replay)."""

        def read(store: HistoryStore) -> tuple[list[Record], bool]:
            return store.replay_for(action.name, action.limit, owner=action.owner, before=action.before, max_bytes=budget,
                                    away_since=store.last_seen(action.name) if action.joining else None)  # fmt: skip

        dropped = self.call(lambda store: store.held_dropped(action.name, action.owner)) if action.joining else None  # (mark_seen forgets)
        found = self.call(read)
        if action.joining:
            self.mark_seen(action.name)
        records, more = found if found is not None else ([], False)
        if action.since is not None:  # rejoining: only what came after the last message seen
            newer = [record for record in records if record.time > action.since]
            more = more and len(newer) == len(records)  # older ones were seen already
            records = newer
        frames: list[bytes] = []
        used = 0
        for record in reversed(records):  # newest first, so a cut drops the oldest
            frame = encode(record.to_event(history=True))
            if used + len(frame) > budget:
                more = True
                break
            frames.append(frame)
            used += len(frame)
        frames.reverse()
        oldest = records[len(records) - len(frames)].id if frames else action.before
        frames.append(encode(ev.HistoryEnd(shown=len(frames), more=more, before=oldest)))
        return [*frames, encode(held_dropped_notice(dropped))] if dropped else frames


def held_dropped_notice(count: int) -> ev.Notice:
    """Told after the replay (its history-end: a rejoin's block of missed lines stays whole) to
    someone whose direct messages, kept while they were away, were dropped before they came back."""
    what, were = ("1 direct message", "was") if count == 1 else (f"{count:,} direct messages", "were")
    return ev.Notice(code=ev.E_HISTORY, message=f"{what} sent to you while you were away {were} dropped from the room's "
                     "history before you came back (it keeps only so many days or megabytes)")  # fmt: skip


def _not_saved_at_stop(left: int) -> str:
    """The log's line for changes still unsaved as the server stops: what the next run starts from."""
    return (f"history: {_count(left, 'change')} (bans, mutes, names' owners, operators, the topic) could not be saved "
            f"before the server stopped; the next run starts from what was saved before {'it' if left == 1 else 'them'}: "
            "a ban or mute lifted meanwhile is back, one made meanwhile is gone")  # fmt: skip


def _count(n: int, thing: str) -> str:
    return f"1 {thing}" if n == 1 else f"{n} {thing}s"
