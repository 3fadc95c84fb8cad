"""hub.py: the server's policy, from bytes received to frames queued. Never touches a socket.

The server loop (server.py) only moves bytes: it hands what it read to
``hub.receive_data(cid, data)``, flushes ``hub.outbox`` (outbox.py) and tells the hub when
time passed (``expire()``) or a socket failed (``close(cid)``). Everything in between is here:

* one protocol ``Connection`` per participant; every frame they get, file chunks included,
  goes through its ``send()``, so the state machine sees all the traffic;
* events routed to the room (room.py) or the server's file store (server_files.py), and the
  actions both return (actions.py) performed in order;
* the history policy: each message stored before anyone receives it (``Keep``, committed in
  ``before_flush``), replays within a byte budget, and a token bucket per person for /history;
* the download pacing rule: a download's chunks are queued only while its reader has less
  than FILE_LOW_WATER_BYTES waiting;
* deadlines: a handshake that never comes, a frame started and never finished (limits.py:
  per frame, never restarted by a dripped byte), a closing connection that never reads its last
  frames; and who joined and left, for the log;
* abuse limits (limits.py decides, the hub acts): a flooder is told to slow down, then no longer
  read for a while (``set_reading``: back-pressure through the kernel), then disconnected;
  connections per address are capped; and when a reader's queue grows, the senders feeding it
  are read more slowly before anyone is dropped.

The clock, the history store and the log are passed in, so tests run it in milliseconds
(tests/test_hub.py). ``release(cid)`` is the loop's: called once when a connection is over.
"""

from __future__ import annotations

import sqlite3
import time
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from . import events as ev
from . import limits as lim
from .actions import Action, Broadcast, Close, DropBans, Keep, Record, Replay, Seen, Send, StoreBan
from .history import HistoryWriteError
from .moderation import key_id
from .outbox import Outbox, Queue
from .protocol import Connection, LocalProtocolError, RemoteProtocolError, Role, encode, fatal_reply
from .room import Room
from .server_files import ServerFiles

if TYPE_CHECKING:
    from .history import HistoryStore

DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024  # per connection; past it the reader is dropped
# Download chunks are queued only while a reader has less than this waiting, so a 50 MB file
# never sits in one queue, chat frames wait behind at most this much, and the slow-reader
# limit above is never reached by a download alone (PROTOCOL.md, File transfer).
FILE_LOW_WATER_BYTES = 256 * 1024
LINGER_SECONDS = 2.0  # how long a closing connection may take to read its last frames and close
HANDSHAKE_SECONDS = lim.HELLO_SECONDS  # hello within this long of connecting, however the bytes drip
FRAME_SECONDS = lim.FRAME_SECONDS  # a frame, once begun, finished within this long
# What flood control counts (PROTOCOL.md, Abuse limits): messages, whispers, commands and offers.
# File chunks are not: an upload's size is checked when it is offered.
FLOOD_COUNTED: tuple[type, ...] = (
    ev.Say, ev.Whisper, ev.Who, ev.HistoryRequest, ev.Moderate, ev.OfferFile, ev.ListFiles, ev.GetFile, ev.CancelFile,
)  # fmt: skip
# A reader with more than this share of max_queue_bytes waiting is congested: the senders that
# fed it are read THROTTLE_SECONDS later, and only one congested for CONGESTION_GRACE_SECONDS
# (not keeping up even then) is dropped (PROTOCOL.md, Abuse limits; issue 14).
CONGESTED_SHARE = 2  # half the queue limit: above what a download keeps queued (FILE_LOW_WATER_BYTES)
THROTTLE_SECONDS = 0.05
CONGESTION_GRACE_SECONDS = 5.0
# A connection with frames waiting that has taken no byte for this long is not reading (a
# script that never reads, a laptop whose buffers are full): it is dropped like a slow reader.
NOT_READING_SECONDS = 30.0
HISTORY_BURST_ENTRIES = ev.MAX_HISTORY_REQUEST  # one full /history answer at once
HISTORY_ENTRIES_PER_SECOND = 2000  # then about a tenth of the loop's time, at most



class Writer(Protocol):
    """What the hub needs of one connection's socket to flush it (server.Client is one)."""

    writing: bool  # the loop is watching for writability

    def send(self, data: bytes) -> int: ...  # as socket.send: may take fewer bytes, or raise

    def set_writing(self, writing: bool) -> None: ...  # ask for writability, or stop asking

    def finish(self) -> None: ...  # everything is out on a closing connection: send FIN


class Peer:
    """One connection as the hub sees it: its protocol state and where it is going."""

    __slots__ = ("cid", "proto", "address", "ip", "closing", "closed", "admitted", "paused_until", "backlog")

    def __init__(self, cid: int, address: str) -> None:
        self.cid = cid
        self.proto = Connection(Role.SERVER)
        self.address = address  # "127.0.0.1:50312", or "local" for the host's and bots' sockets
        self.ip = ip_of(address)
        self.closing = False  # close once the queue is flushed
        self.closed = False
        self.admitted = False  # counted by the connection limits (released on close)
        self.paused_until: float | None = None  # not read until then (flood or congestion)
        self.backlog: list[object] = []  # events read before a pause, routed when it ends


def ip_of(address: str) -> str:
    """``"192.168.1.7:50312"`` -> ``"192.168.1.7"``, ``"[::1]:5"``/``"::1:5"`` -> ``"::1"``;
    anything else (the host's socket, an AF_UNIX peer) -> ``"local"``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return "local"
    return host.strip("[]")


class Hub:
    """Every connection's protocol state and the server's policy, for one server run."""

    def __init__(
        self,
        room: Room,
        *,
        files: ServerFiles | None = None,
        history: HistoryStore | None = None,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        linger_seconds: float = LINGER_SECONDS,
        handshake_seconds: float = HANDSHAKE_SECONDS,
        frame_seconds: float = FRAME_SECONDS,
        flood: lim.FloodControl | None = None,
        connection_limits: lim.ConnectionLimits | None = None,
        limits: bool = False,
        set_reading: Callable[[int, bool], None] | None = None,
        once: bool = False,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
        release: Callable[[int], None] | None = None,
    ) -> None:
        self.room = room
        self.log = log or (lambda line: None)
        self.clock = clock
        self.release = release or (lambda cid: None)
        self.max_queue_bytes = max_queue_bytes
        self.outbox = Outbox(max_queue_bytes=max_queue_bytes, over_limit=self._over_limit, clock=clock)
        self.files = files if files is not None else ServerFiles(log=self.log)
        self.once = once  # shut down when the last person leaves (seed 000)
        room.once = once  # and every welcome says so
        self.peers: dict[int, Peer] = {}
        self._next_cid = 1
        self.shutting_down = False
        self.internal_errors: list[str] = []  # tracebacks of bugs survived (internal_error)
        # The history store (PROTOCOL.md, History replay). After a failed write we warn once
        # and keep chatting; the next good write says so.
        self.history = history
        self.history_failing = history is not None and not history.writable
        self._history_pending = False  # kept this pass, committed before the flush
        # /history costs the loop time in proportion to the entries sent (bench/history_bench.py):
        # each person has a bucket of entries that refills with time, so paging through history
        # is never refused but a flood of big requests cannot stall the room.
        self._history_tokens: dict[int, tuple[float, float]] = {}  # cid -> (entries left, when)
        self.linger_seconds = linger_seconds
        self._lingering: dict[int, float] = {}  # closing connections -> when to close them anyway
        # Deadlines per connection (limits.Deadlines): hello within handshake_seconds of
        # connecting, and a frame finished within frame_seconds of its first byte. Neither is
        # restarted by later bytes, so a connection dripping a byte a second is closed too.
        self.handshake_seconds = handshake_seconds
        self.deadlines = lim.Deadlines(hello_seconds=handshake_seconds, frame_seconds=frame_seconds)
        self._downloading: set[int] = set()  # connections told to the loop as downloading
        # Abuse limits (limits.py): flood control and connection caps, on with ``limits`` (what
        # `lanchat serve` does unless --no-limits; a benchmark lifts them); the deadlines always hold.
        self.flood = flood if flood is not None else (lim.FloodControl() if limits else None)
        self.connection_limits = connection_limits if connection_limits is not None else (
            lim.ConnectionLimits() if limits else None
        )
        self.set_reading = set_reading or (lambda cid, reading: None)
        self._paused: dict[int, float] = {}  # connections not read now -> when to read them again
        self._fed: set[int] = set()  # who sent something since the last congestion check
        self._congested_since: dict[int, float] = {}  # readers over the congestion mark -> since
        self._moved: set[int] = set()  # queues with a backlog that took bytes since the last check
        self._stuck_since: dict[int, float] = {}  # queues with a backlog that took none -> since
        self.not_reading_seconds = NOT_READING_SECONDS
        self._next_congestion_check = 0.0
        self.congested_bytes = max_queue_bytes // CONGESTED_SHARE

    # ------------------------------------------------------------ connections

    def open(self, address: str, *, host: bool = False, service: bool = False, handshake: bool = True) -> int:
        """A new connection; returns its id. ``handshake``: it must say hello in time."""
        cid = self._next_cid
        self._next_cid += 1
        self.peers[cid] = Peer(cid, address)
        self.outbox.open(cid)
        if host:
            self.room.host_cid = cid
        if service:
            self.room.service_cids.add(cid)  # a bot: a member that is not a person
        peer = self.peers[cid]
        self.room.arrive(cid, peer.ip)
        if handshake:
            now = self.clock()
            self.deadlines.connected(cid, now)
            if self.connection_limits is not None:
                refusal = self.connection_limits.admit(peer.ip, now)
                if refusal is not None:
                    self.log(f"{address}: {refusal}; refusing")
                    self._refuse(peer, ev.E_TOO_MANY, refusal)
                else:
                    peer.admitted = True
        return cid

    def _refuse(self, peer: Peer, code: str, message: str) -> None:
        """One fatal error, then the connection is closed once it is written."""
        self._send(peer, ev.Error(code=code, message=message, fatal=True))
        peer.closing = True
        self.deadlines.closed(peer.cid)
        queue = self.outbox.queues.get(peer.cid)
        if queue is not None:
            self.outbox.dirty.add(queue)

    def receive_data(self, cid: int, data: bytes) -> None:
        """Bytes read from connection ``cid`` (``b""``: it closed): route every event in them."""
        peer = self.peers.get(cid)
        if peer is None:
            return
        proto = peer.proto
        broken: RemoteProtocolError | None = None
        try:
            proto.receive_data(data)
        except RemoteProtocolError as exc:
            broken = exc  # after what the peer said properly before it (proto.events())
        events = proto.events()
        if peer.backlog:  # read during a pause (bytes already on their way): after the held ones
            events = peer.backlog + events
            peer.backlog = []
        self._route(peer, events)
        if broken is not None:
            self.log(f"{self.who(cid)}: {broken.message}; disconnecting")
            self.perform(self.room.leave(cid, "lost"))
            self.outbox.discard(cid)
            self.outbox.queue(cid, fatal_reply(broken))
            peer.closing = True
            self.deadlines.closed(cid)
            return
        deadlines = self.deadlines
        if deadlines.awaiting_hello(cid) and cid in self.room.members:
            deadlines.joined(cid)
        if proto.partial_frame_bytes:  # the clock is read only when a frame is left half-received
            deadlines.progress(cid, self.clock(), partial_frame=True)
        else:
            deadlines.finished(cid)
        if proto.peer_closed:
            self.close(cid)

    def _route(self, peer: Peer, events: list[object]) -> None:
        """Hand each event to the file store or the room, within the flood limit. A pause
        (STOP_READING) keeps the rest of ``events`` for when it ends: nothing is lost."""
        cid = peer.cid
        members = self.room.members
        flood = self.flood
        if events:
            self._fed.add(cid)  # for the congestion check: who fed the queues lately
        for index, event in enumerate(events):
            if peer.paused_until is not None or peer.closing:
                if not peer.closing:
                    peer.backlog = list(events[index:])
                return
            if flood is not None and isinstance(event, FLOOD_COUNTED) and self._flood_counts(cid):
                verdict = flood.check(self._flood_key(cid), self.clock())
                if not verdict.allowed:
                    self._over_flood_limit(peer, verdict)
                    continue
            if isinstance(event, ev.FILE_CLIENT_ALL):  # offers, chunks, gets: server_files.py
                self.perform(self.files.handle(self.room, cid, event))
                continue
            before = members.get(cid)  # a dict lookup, not room.name_of: this runs per message
            self.perform(self.room.handle(cid, event))
            after = members.get(cid)
            if before is None and after is not None:
                self.log(f"{after.name} joined from {peer.address}")
            elif before is not None and after is None:
                self.log(f"{before.name} left")

    # ------------------------------------------------------------ abuse limits

    def _flood_counts(self, cid: int) -> bool:
        """Flood control holds for people who joined; the host, bots and operators are exempt."""
        member = self.room.members.get(cid)
        if member is None or cid == self.room.host_cid or cid in self.room.service_cids:
            return False
        return not self.room.moderation.is_operator(self.room, member)

    def _flood_key(self, cid: int) -> str:
        """A bucket per person, not per connection: reconnecting does not refill it."""
        member = self.room.members[cid]
        return key_id(member.key) or ev.name_key(member.name)

    def _over_flood_limit(self, peer: Peer, verdict: lim.Verdict) -> None:
        flood = self.flood
        assert flood is not None
        limit = f"at most {flood.burst} at once, then {flood.rate:g} a second"
        if verdict.action == lim.DISCONNECT:
            self.log(f"{self.who(peer.cid)}: still flooding after {flood.pauses_before_disconnect} pauses; disconnecting")
            note = ev.Error(code=ev.E_SLOW_DOWN, message=f"you were disconnected for flooding ({limit})", fatal=True)
            self._send(peer, note)
            self.perform(self.room.leave(peer.cid, "flooding"))
            peer.closing = True
            self.deadlines.closed(peer.cid)
            queue = self.outbox.queues.get(peer.cid)
            if queue is not None:
                self.outbox.dirty.add(queue)
            return
        text = f"slow down: that was not sent ({limit}); try again in {max(verdict.retry_after, 0.1):.1f} s"
        if verdict.action == lim.STOP_READING and verdict.resume_at is not None:
            wait = verdict.resume_at - self.clock()
            text = f"slow down: that was not sent ({limit}); nothing you send is read for {wait:.0f} s"
            self.log(f"{self.who(peer.cid)}: flooding; not read for {wait:.1f} s")
            self._pause(peer, verdict.resume_at)
        self._send(peer, ev.Error(code=ev.E_SLOW_DOWN, message=text))

    def _pause(self, peer: Peer, until: float) -> None:
        """Stop reading ``peer`` until ``until``: what it sends waits in the kernel's buffers,
        and once those are full its own writes block (back-pressure, not our memory)."""
        if peer.paused_until is None:
            self.set_reading(peer.cid, False)
        peer.paused_until = until if peer.paused_until is None else max(until, peer.paused_until)
        self._paused[peer.cid] = peer.paused_until

    def _resume_due(self, now: float) -> None:
        for cid in [c for c, until in self._paused.items() if until <= now]:
            del self._paused[cid]
            peer = self.peers.get(cid)
            if peer is None or peer.closed:
                continue
            peer.paused_until = None
            if not peer.closing:
                self.set_reading(cid, True)
            held, peer.backlog = peer.backlog, []
            if held:
                self._route(peer, held)

    def _check_congestion(self, now: float) -> None:
        """A reader with a growing queue slows the senders that fed it before anyone is
        dropped; one that stays congested past the grace time is dropped as too slow."""
        if now < self._next_congestion_check:
            return
        self._next_congestion_check = now + THROTTLE_SECONDS
        fed, self._fed = self._fed, set()
        moved, self._moved = self._moved, set()
        mark = self.congested_bytes
        downloading = self._downloading
        backlogged = [q for q in self.outbox.queues.values() if q.out_bytes]
        for cid in list(self._stuck_since):
            if cid in moved or not self.outbox.queued_bytes(cid):
                del self._stuck_since[cid]
        for queue in backlogged:
            if queue.cid in moved:
                continue
            since = self._stuck_since.setdefault(queue.cid, now)
            if now - since >= self.not_reading_seconds and queue.cid in self.room.members:
                del self._stuck_since[queue.cid]
                self._over_limit(queue.cid)  # told "not reading fast enough", the room told "dropped"
        congested = {q.cid for q in backlogged if q.out_bytes > mark and q.cid not in downloading}
        for cid in list(self._congested_since):
            if cid not in congested:
                del self._congested_since[cid]
        if not congested:
            return
        for cid in congested:
            since = self._congested_since.setdefault(cid, now)
            if now - since >= CONGESTION_GRACE_SECONDS:
                del self._congested_since[cid]
                self._over_limit(cid)
        for cid in fed:  # a congested sender too: it may be feeding its own queue
            peer = self.peers.get(cid)
            if peer is not None and not peer.closing and not peer.closed:
                self._pause(peer, now + THROTTLE_SECONDS)

    def close(self, cid: int) -> None:
        """Connection ``cid`` is over (it closed, failed, or its time ran out)."""
        peer = self.peers.pop(cid, None)
        if peer is None or peer.closed:
            return
        peer.closed = True
        self.outbox.close(cid)
        self._lingering.pop(cid, None)
        self.deadlines.closed(cid)
        self._paused.pop(cid, None)
        self._congested_since.pop(cid, None)
        self._stuck_since.pop(cid, None)
        if peer.admitted and self.connection_limits is not None:
            self.connection_limits.release(peer.ip)
        member = self.room.members.get(cid)
        if member is not None and self.flood is not None:
            self.flood.forget(key_id(member.key) or ev.name_key(member.name), self.clock())
        self._downloading.discard(cid)
        self.release(cid)
        self.perform(self.files.forget(cid))  # its uploads stop, its offers expire
        if cid in self.room.members and not self.shutting_down:
            name = self.who(cid)
            self.perform(self.room.leave(cid, "lost"))
            self.log(f"{name} lost connection")

    def internal_error(self, cid: int, exc: Exception) -> None:
        """A bug met while serving one connection ends that connection, not the chat: the
        others carry on and are told it left. Tests fail on any (internal_errors)."""
        self.internal_errors.append("".join(traceback.format_exception(exc)))
        self.log(f"internal error while serving {self.who(cid)} ({type(exc).__name__}: {exc}); disconnecting them")
        try:
            self.close(cid)
        except Exception as again:  # noqa: BLE001 - the loop must go on for everyone else
            self.internal_errors.append("".join(traceback.format_exception(again)))

    def who(self, cid: int) -> str:
        peer = self.peers.get(cid)
        return self.room.name_of(cid) or (peer.address if peer else f"connection {cid}")

    @property
    def last_person_left(self) -> bool:
        """With ``once``: someone joined and now nobody is here (bots do not count)."""
        return self.once and bool(self.room.ever_joined) and not self.room.people

    # ---------------------------------------------------------------- actions

    def perform(self, actions: list[Action]) -> None:
        """Carry out what the room or the file store asked, in order."""
        peers = self.peers
        outbox = self.outbox
        for action in actions:
            if isinstance(action, Broadcast):
                outbox.broadcast(action.to, action.frame, notice=action.notice)
            elif isinstance(action, Keep):  # before the Broadcast that follows it is queued
                self._keep(action.event)
            elif isinstance(action, Send):
                peer = peers.get(action.to)
                if peer is not None:
                    self._send(peer, action.event)
            elif isinstance(action, Close):
                peer = peers.get(action.who)
                if peer is not None:
                    peer.closing = True
                    queue = outbox.queues.get(action.who)
                    if queue is not None:
                        outbox.dirty.add(queue)
            elif isinstance(action, Replay):
                self._replay(action)
            elif isinstance(action, Seen):
                self._history_call(lambda store: store.mark_seen(action.name))  # noqa: B023
            elif isinstance(action, Record):
                self._history_call(lambda store: store.keep_act(action.event))  # noqa: B023
            elif isinstance(action, StoreBan):
                self._history_call(lambda store: store.add_ban(action.ban))  # noqa: B023
            elif isinstance(action, DropBans):
                self._history_call(lambda store: store.drop_bans(action.ids))  # noqa: B023

    def _send(self, peer: Peer, event: ev.Event) -> None:
        """One event to one connection, through its protocol state machine."""
        try:
            frame = peer.proto.send(event)
        except LocalProtocolError:
            return  # the connection is already closing
        self.outbox.queue(peer.cid, frame)

    def _over_limit(self, cid: int) -> None:
        """A reader that stops reading must not stall the room or eat the server's memory."""
        peer = self.peers.get(cid)
        if peer is None or peer.closing:
            return
        self.log(f"{self.who(cid)}: not reading ({self.outbox.queues[cid].out_bytes} bytes queued); dropping")
        self.outbox.discard(cid)
        peer.closing = True
        note = ev.Error(code=ev.E_TOO_SLOW, message="you were dropped: not reading fast enough", fatal=True)
        self._send(peer, note)
        self.perform(self.room.leave(cid, "dropped"))

    # ---------------------------------------------------------------- history

    def _history_call(self, call: Callable[[HistoryStore], object]) -> object:
        """Run one store call; a failure is warned about once and the chat goes on."""
        if self.history is None:
            return None
        try:
            result = call(self.history)
        except (HistoryWriteError, sqlite3.Error) as exc:
            if not self.history_failing:
                self.history_failing = True
                problem = f"history: cannot use {self.history.path}: {exc}; the chat goes on without saving"
                self.log(problem)
                if self.room.host_cid is not None:
                    self.perform([Send(to=self.room.host_cid, event=ev.Error(code=ev.E_HISTORY, message=problem))])
            return None
        return result

    def _keep(self, event: ev.Message | ev.Direct) -> None:
        if self.history is None:
            return
        # Only held in memory: before_flush stores the pass's messages, many rows per INSERT,
        # before any of them is written to a socket (a failure is reported from there).
        to = event.to if isinstance(event, ev.Direct) else None
        self.history.keep(time=event.time, sender=event.sender, text=event.text, to=to)
        self._history_pending = True

    def _commit_history(self) -> None:
        """Commit this pass's messages, with one commit per pass, not per message."""
        self._history_pending = False
        stored = self._history_call(lambda store: store.commit())
        if stored and self.history_failing and self.history is not None:
            self.history_failing = False
            self.log(f"history: saving to {self.history.path} again")

    def _history_allowed(self, cid: int, entries: int) -> bool:
        """The /history token bucket: ``entries`` may go now, or the asker waits a moment."""
        now = self.clock()
        left, when = self._history_tokens.get(cid, (HISTORY_BURST_ENTRIES, now))
        left = min(HISTORY_BURST_ENTRIES, left + (now - when) * HISTORY_ENTRIES_PER_SECOND)
        if left < entries:
            self._history_tokens[cid] = (left, now)
            return False
        if len(self._history_tokens) > 4 * len(self.peers) + 64:  # forget the departed
            self._history_tokens = {c: v for c, v in self._history_tokens.items() if c in self.peers}
        self._history_tokens[cid] = (left - entries, now)
        return True

    def _replay(self, action: Replay) -> None:
        """Queue history to one connection like any other output, within a byte budget so a
        long replay can never get the newcomer dropped as a slow reader."""
        cid = action.to
        if cid not in self.peers or self.history is None:
            return
        if not action.joining and not self._history_allowed(cid, action.limit):
            busy = ev.Error(code=ev.E_HISTORY, message="too much /history at once; try again in a moment")
            self.perform([Send(to=cid, event=busy)])
            return

        def read(store: HistoryStore) -> tuple[list, bool]:
            away = store.last_seen(action.name) if action.joining else None
            return store.replay_for(action.name, action.limit, before=action.before, away_since=away)

        found = self._history_call(read)
        if action.joining:
            self._history_call(lambda store: store.mark_seen(action.name))
        records, more = found if found is not None else ([], False)  # type: ignore[misc]
        budget = max(self.max_queue_bytes // 2 - self.outbox.queued_bytes(cid), 0)
        frames: list[bytes] = []
        used = 0
        for record in reversed(records):  # newest first, so a cut drops the oldest
            frame = encode(record.to_event(history=True))
            if used + len(frame) > budget:
                more = True
                break
            frames.append(frame)
            used += len(frame)
        if action.joining and not frames:
            return  # nothing to say: a first visit to an empty room stays quiet
        for frame in reversed(frames):
            self.outbox.queue(cid, frame)
        oldest = records[len(records) - len(frames)].id if frames else action.before
        self.outbox.queue(cid, encode(ev.HistoryEnd(shown=len(frames), more=more, before=oldest)))

    # ---------------------------------------------------------------- the pass

    def pump_files(self) -> list[int]:
        """Top up each downloading connection's queue to FILE_LOW_WATER_BYTES, one chunk at a
        time. Returns the connections whose download just began (the loop caps their send
        buffer: server.py)."""
        started: list[int] = []
        outbox = self.outbox
        outbox.materialize()  # so the sizes below count this pass's chat too
        for cid in self.files.downloading():
            peer = self.peers.get(cid)
            queue = outbox.queues.get(cid)
            if peer is None or queue is None or peer.closing:
                continue
            if cid not in self._downloading:
                self._downloading.add(cid)
                started.append(cid)
            while queue.out_bytes < FILE_LOW_WATER_BYTES:
                piece = self.files.next_chunk(cid)
                if piece is None:
                    break
                self._send(peer, piece)
                if peer.closed or peer.closing:
                    break
        return started

    def flush(self, writers: Mapping[int, Writer]) -> None:
        """One pass's writing: what anyone will receive is stored first (PROTOCOL.md, History
        replay), waiting notices that are due join in, then each dirty queue gets one write
        through its connection's ``Writer`` (the loop's socket), and write interest follows
        what is left (or a download under way: writable then means "top it up")."""
        if self._history_pending:
            self._commit_history()
        outbox = self.outbox
        outbox.release_notices()
        write = outbox.flush
        peers = self.peers
        wants_to_send = self.files.wants_to_send
        while outbox.dirty:
            for queue in outbox.take_dirty():
                cid = queue.cid
                writer = writers.get(cid)
                if writer is None:
                    continue
                try:
                    if write(queue, writer.send) and queue.out:
                        self._moved.add(cid)  # a backlog that drains (the not-reading rule)
                except OSError:
                    self.close(cid)
                    continue
                peer = peers.get(cid)
                if peer is None:
                    continue
                if peer.closing:
                    self._flushed_closing(queue, writer)
                    continue
                writing = bool(queue.out) or wants_to_send(cid)  # checked per connection per pass
                if writing is not writer.writing:
                    writer.set_writing(writing)
            outbox.materialize()  # a slow reader dropped while flushing is announced to the rest

    def _flushed_closing(self, queue: Queue, writer: Writer) -> None:
        """A closing connection was written to: it has linger_seconds to read the rest and
        close; once everything, the last notice included, is out, the loop sends FIN."""
        if queue.cid not in self._lingering:
            self._lingering[queue.cid] = self.clock() + self.linger_seconds
        if queue.out:
            if not writer.writing:
                writer.set_writing(True)
            return
        if writer.writing:
            writer.set_writing(False)
        writer.finish()

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        """When something is due: waiting notices, a closing connection's or a handshake's
        time; None when nothing is (an idle server sleeps and wakes for nothing)."""
        deadlines = []
        if self.outbox.notice_deadline is not None:
            deadlines.append(self.outbox.notice_deadline)
        if self._lingering:
            deadlines.append(min(self._lingering.values()))
        due = self.deadlines.next_due()
        if due is not None:
            deadlines.append(due)
        room = self.room
        if room.turn_timeout is not None and room.mode == "turn" and room.turn_holder is not None:
            # the room keeps time by its own clock (time.time): convert to the hub's
            deadlines.append(self.clock() + max(0.0, room.turn_since + room.turn_timeout - room.clock()))
        if self._paused:
            deadlines.append(min(self._paused.values()))
        stall = self.files.next_stall_check()
        if stall is not None:  # the file store keeps time by its own clock (time.time)
            deadlines.append(self.clock() + max(0.0, stall - self.files.clock()))
        if self._congested_since or self._stuck_since:
            deadlines.append(max(self._next_congestion_check, self.clock() + THROTTLE_SECONDS))
        return min(deadlines) if deadlines else None

    def expire(self) -> None:
        """Close what has run out of time: a closing connection that never reads its last
        frames (a laptop put to sleep), a connection that never said hello (told why)."""
        now = self.clock()
        for cid in [c for c, deadline in self._lingering.items() if deadline <= now]:
            self.close(cid)
        for cid, why in self.deadlines.expired(now):
            peer = self.peers.get(cid)
            if peer is None or peer.closing:
                continue
            if cid in self.room.members:  # a member who started a frame and never finished it
                self.log(f"{self.who(cid)}: {why}; disconnecting")
                self.perform(self.room.leave(cid, "lost"))
                self._refuse(peer, ev.E_DEADLINE, why)
            elif why.startswith('no "hello"'):
                self.log(f"{peer.address}: no hello within {self.handshake_seconds:g} s; disconnecting")
                self._refuse(peer, ev.E_HELLO_FIRST, f"no hello within {self.handshake_seconds:g} s")
            else:
                self.log(f"{peer.address}: {why}; disconnecting")
                self._refuse(peer, ev.E_DEADLINE, why)
        self._resume_due(now)
        self._check_congestion(now)
        self.perform(self.room.tick())  # a turn nobody took moves on (serve --turn-timeout)
        if self.files.uploads:
            self.perform(self.files.drop_stalled())  # an upload that stalled frees its quota

    # ---------------------------------------------------------------- shutdown

    def shutdown(self, reason: str) -> None:
        """Seed 003: everyone gets the shutdown notice first; the loop then flushes and closes."""
        self.shutting_down = True
        self.log(f"shutting down: {reason}")
        for cid, member in self.room.members.items():  # they saw everything up to now
            if cid not in self.room.service_cids:
                self._history_call(lambda store, name=member.name: store.mark_seen(name))
        notice = ev.Shutdown(reason=reason)
        for peer in list(self.peers.values()):
            self._send(peer, notice)
            peer.closing = True
