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
* deadlines: a handshake that never comes, a closing connection that never reads its last
  frames; and who joined and left, for the log.

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
from .actions import Action, Broadcast, Claim, Close, Keep, Log, Replay, Seen, Send
from .history import HistoryWriteError
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
HANDSHAKE_SECONDS = 60.0  # a connection that says nothing for this long before joining is closed
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

    __slots__ = ("cid", "proto", "address", "closing", "closed")

    def __init__(self, cid: int, address: str) -> None:
        self.cid = cid
        self.proto = Connection(Role.SERVER)
        self.address = address  # "127.0.0.1:50312", or "local" for the host's and bots' sockets
        self.closing = False  # close once the queue is flushed
        self.closed = False


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
        # Connections that have not joined yet -> when to give up on them. A port probe or a
        # half-open connection must not hold a socket for ever. One delay for everyone, pushed
        # back on every frame, so the dict stays in deadline order and the loop needs no
        # per-connection timer: it sleeps until the first deadline, or for ever when empty.
        self.handshake_seconds = handshake_seconds
        self._handshaking: dict[int, float] = {}
        self._downloading: set[int] = set()  # connections told to the loop as downloading

    # ------------------------------------------------------------ connections

    def open(self, address: str, *, host: bool = False, service: bool = False, handshake: bool = True) -> int:
        """A new connection; returns its id. ``handshake``: it must say hello in time."""
        cid = self._next_cid
        self._next_cid += 1
        self.peers[cid] = Peer(cid, address)
        if ":" in address:  # "host:port": wrong room passwords are counted per host (room.py)
            self.room.addresses[cid] = address.rpartition(":")[0]
        self.outbox.open(cid)
        if host:
            self.room.host_cid = cid
        if service:
            self.room.service_cids.add(cid)  # a bot: a member that is not a person
        if handshake:
            self._handshaking[cid] = self.clock() + self.handshake_seconds
        return cid

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
        members = self.room.members
        for event in proto.events():
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
        if broken is not None:
            self.log(f"{self.who(cid)}: {broken.message}; disconnecting")
            self.perform(self.room.leave(cid, "lost"))
            self.outbox.discard(cid)
            self.outbox.queue(cid, fatal_reply(broken))
            peer.closing = True
            self._handshaking.pop(cid, None)
            return
        if cid in self._handshaking:
            del self._handshaking[cid]  # re-inserted at the end: the dict stays in deadline order
            if cid not in members and not peer.closing and not proto.peer_closed:
                self._handshaking[cid] = self.clock() + self.handshake_seconds
        if proto.peer_closed:
            self.close(cid)

    def close(self, cid: int) -> None:
        """Connection ``cid`` is over (it closed, failed, or its time ran out)."""
        peer = self.peers.pop(cid, None)
        if peer is None or peer.closed:
            return
        peer.closed = True
        self.outbox.close(cid)
        self._lingering.pop(cid, None)
        self._handshaking.pop(cid, None)
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
                self._keep(action)
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
            elif isinstance(action, Claim):  # a name's owner, stored (PROTOCOL.md, Identity)
                self._history_call(lambda store: store.claim(action.name, action.owner, time=time.time()))  # noqa: B023
            elif isinstance(action, Log):
                self.log(action.text)

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

    def _keep(self, action: Keep) -> None:
        if self.history is None:
            return
        event = action.event
        # Only held in memory: before_flush stores the pass's messages, many rows per INSERT,
        # before any of them is written to a socket (a failure is reported from there).
        to = event.to if isinstance(event, ev.Direct) else None
        self.history.keep(
            time=event.time,
            sender=event.sender,
            text=event.text,
            to=to,
            sender_owner=action.sender_owner,
            recipient_owner=action.recipient_owner,
        )
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
            return store.replay_for(action.name, action.limit, owner=action.owner, before=action.before, away_since=away)

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
                    write(queue, writer.send)
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
        if self._handshaking:
            deadlines.append(next(iter(self._handshaking.values())))
        return min(deadlines) if deadlines else None

    def expire(self) -> None:
        """Close what has run out of time: a closing connection that never reads its last
        frames (a laptop put to sleep), a connection that never said hello (told why)."""
        now = self.clock()
        for cid in [c for c, deadline in self._lingering.items() if deadline <= now]:
            self.close(cid)
        expired = []
        for cid, deadline in self._handshaking.items():
            if deadline > now:
                break  # in deadline order: the rest are later
            expired.append(cid)
        for cid in expired:
            del self._handshaking[cid]
            peer = self.peers.get(cid)
            if peer is None or peer.closing:
                continue
            self.log(f"{peer.address}: no hello within {self.handshake_seconds:g} s; disconnecting")
            note = ev.Error(code=ev.E_HELLO_FIRST, message=f"no hello within {self.handshake_seconds:g} s", fatal=True)
            self._send(peer, note)
            peer.closing = True
            queue = self.outbox.queues.get(cid)
            if queue is not None:
                self.outbox.dirty.add(queue)

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
