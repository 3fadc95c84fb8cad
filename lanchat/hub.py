"""hub.py: the server's policy, from bytes received to frames queued. Never touches a socket.

The server loop (server.py) only moves bytes: it hands what it read to
``hub.receive_data(cid, data)``, flushes ``hub.outbox`` (outbox.py) with ``hub.flush`` and tells
the hub when time passed (``expire()``) or a socket failed (``close(cid)``). Everything in
between is the hub's, in parts that each have one job and can be read on their own:

* here, ``Hub``: one protocol ``Connection`` per participant, every frame they get, file
  chunks included, through its ``send()`` (so the state machine sees all the traffic); events
  routed to the room (room.py) or the server's file store (server_files.py), and the actions
  both return (actions.py) performed in order (``perform``);
* the usual event, a member's ``say``, takes a short path when nothing about it is unusual
  (``Hub.say``: a duplex room, no mutes, text that fits): the same bytes and history rows as
  the general path, with fewer calls and objects per message (tests/test_say_short_path.py);
* the history policy (history_policy.py): each message stored before anyone receives it
  (``Keep``, held here until the commit at the start of the flush; a message the commit could
  not store is refused to its sender, never delivered), replays within a byte budget, and a
  token bucket per person for /history;
* hub_flush.py: one pass's writing (the commit, then each broadcast written at once to every
  recipient, then each queue's write), and the shutdown notice;
* hub_connections.py: each connection as the hub sees it (``Peer``) and how one comes and goes:
  admitted or refused, held until the host, then the room's bots, are in (so every welcome
  names them), closed;
* hub_timers.py: deadlines (a handshake that never comes, a frame started and never finished,
  per connection and per frame, never pushed back by a dripped byte; a closing connection that
  never reads its last frames), and when the loop wakes and what is done then;
* hub_keeping.py: what the history keeps besides messages (bans, owners, the topic...), the
  replays, and what people are told when the history cannot keep something;
* hub_downloads.py: the download pacing rule (a download's chunks queued only while its reader
  has little waiting, as much as its link's measured pace allows), and a download counted as
  fetched once its last byte is written;
* guard.py, the abuse limits (limits.py decides, the guard acts through the hub): a flooder is
  told to slow down, then no longer read for a while (``set_reading``: back-pressure through the
  kernel), then disconnected; connections per address are capped; and when a reader's queue
  grows, the senders feeding it are read more slowly before anyone is dropped.

The parts' entry points are the hub's own attributes, bound to them (``hub.flush`` is
``hub.flusher.flush``), so the loop and the tests call the hub and no call is added on the way.
The message path (``receive_data`` -> ``say`` -> ``perform`` here, then ``Flush``: the commit
and the broadcast) kept its loop bodies as they were: the flush moved whole, holding the objects
it reads (the outbox, the peers...), so nothing is added per message or per recipient; the other
parts run once a pass, a connection, or an event that is not a chat line. The clock, the history
store and the log are passed in, so tests run it in milliseconds (tests/test_hub.py).
``release(cid)`` is the loop's: called once when a connection is over.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import events as ev
from . import limits as lim
from .actions import (
    Action,
    Broadcast,
    Close,
    Keep,
    Log,
    LogRefusal,
    Replay,
    Said,
    SayText,
    Seen,
    Send,
    ShowOffers,
)
from .guard import Guard
from .history_policy import HistoryPolicy
from .holder_watch import HolderWatch
from .hub_connections import Connections, Peer
from .hub_downloads import DownloadPacer
from .hub_flush import Flush, unsealed
from .hub_keeping import STATE_CHANGES, Keeping
from .hub_timers import FRAME_SECONDS, HANDSHAKE_SECONDS, LINGER_SECONDS, MEMBER_FRAME_SECONDS, Deadlines, Expiry
from .outbox import Outbox
from .protocol import ConnectionClosed, JoinPage, LocalProtocolError, RemoteProtocolError, fatal_reply
from .room import Room

if TYPE_CHECKING:  # the edges the hub is handed; it imports neither
    from .history import HistoryStore
    from .server_files import ServerFiles

DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024  # per connection; past it the reader is dropped
# What a closing connection may still send (read and ignored) before it is closed at once: a
# flooder put out kept the server reading gigabytes until its linger time was up.
CLOSING_READ_BYTES = 1024 * 1024
CRASHED = "the server stopped after an internal error"  # the shutdown notice a bug in the loop sends (Hub.loop_crashed)
KEPT_INTERNAL_ERRORS = 5  # tracebacks of bugs survived kept for tests and debugging; the rest are counted




class Hub:
    """Every connection's protocol state and the server's policy, for one server run: the
    events in, the room's and the file store's actions performed, the parts wired together."""

    join_page = JoinPage()  # what a web browser is told; the server sets how it listens (server.join_page)

    def __init__(
        self, room: Room, *, files: ServerFiles, history: HistoryStore | None = None,
        # the queues and the deadlines (hub_timers.py)
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES, linger_seconds: float = LINGER_SECONDS,
        handshake_seconds: float = HANDSHAKE_SECONDS, frame_seconds: float = FRAME_SECONDS,
        member_frame_seconds: float = MEMBER_FRAME_SECONDS, prompt_seconds: float = lim.PROMPT_SECONDS,
        # the loop's: its clock, its log, and what it is told when a connection is over
        once: bool = False, clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None, release: Callable[[int], None] | None = None,
        # the abuse limits (guard.py)
        limits: bool = False, flood: lim.FloodControl | None = None, connection_limits: lim.ConnectionLimits | None = None,
        set_reading: Callable[[int, bool], None] | None = None, refusal_log: lim.RefusalLog | None = None,
        short_path: bool = True, keep_history: tuple[float | None, int | None] = (None, None),
    ) -> None:
        """``keep_history``: (days, MiB), serve's --keep-days and --max-history-mb (history_upkeep.py)."""
        self.room = room
        # A member's say takes Hub.say (False: every event the general way; the tests compare)
        self.short_path = short_path
        self.log = log or (lambda line: None)
        self.clock = clock
        self.release = release or (lambda cid: None)
        # The parts (the module's docstring), each made with the hub; their entry points are the hub's,
        # the same bound methods (hub.close is hub.connections.close): no call added on the way
        self.connections = Connections(self)
        self.open, self.close, self._first = self.connections.open, self.connections.close, self.connections.first
        self.outbox = Outbox(max_queue_bytes=max_queue_bytes, over_limit=self.connections.drop_slow, clock=clock)
        self.files = files
        self.keeping = Keeping(self)  # the room's state kept, replays, and the words when the history fails
        self.history = HistoryPolicy(history, clock=clock, log=self.log, warn=self.keeping.warn)
        self.history.keep_only(*keep_history, tell_host=self.keeping.tell_host)
        self.history.on_saved = self.keeping.saved  # changes saved late: whoever was told they waited hears it
        # Once a message is kept this pass, what follows waits here for the commit (flush), in
        # order: a message nobody could store is never delivered (PROTOCOL.md, History replay).
        self._uncommitted: list[Action] | None = None
        # Connections given a fatal error outside that order (a slow reader dropped, its queue gone):
        # the broadcasts still held for them must not follow it (PROTOCOL.md 4). Until closed.
        self._sealed: set[int] = set()
        self.deadlines = Deadlines(clock, handshake_seconds, linger_seconds, frame_seconds, member_frame_seconds, prompt_seconds)
        self.once = once  # shut down when the last person leaves (seed 000)
        room.once = once  # and every welcome says so
        self.peers: dict[int, Peer] = {}
        self.shutting_down = False
        # Before this (on ``clock``) expire() has nothing to do: next_deadline() sets it each pass
        self.expire_from = -math.inf
        # Tracebacks of bugs survived (internal_error): the first KEPT_INTERNAL_ERRORS (a client that
        # trips one bug all day cannot grow them without bound); all are counted, each is logged.
        self.internal_errors: list[str] = []
        self.internal_error_count = 0
        self.pacer = DownloadPacer(files, self.outbox, self.peers, self._send, clock=clock)
        self.holder_watch = HolderWatch()  # the turn holder's link, watched closely (holder_watch.py)
        self.guard = Guard(  # the abuse limits (guard.py; limits.py decides)
            self, max_queue_bytes=max_queue_bytes, limits=limits, flood=flood,
            connection_limits=connection_limits, set_reading=set_reading, refusal_log=refusal_log,
        )  # fmt: skip
        room.flood_allowance = self.guard.allowance  # each welcome tells the member's flood limit
        self.flusher = Flush(self)  # (these two last: they hold the parts above, used once a pass)
        self.flush, self.shutdown = self.flusher.flush, self.flusher.shutdown
        self.expiry = Expiry(self)
        self.next_deadline, self.expire = self.expiry.next_deadline, self.expiry.expire

    # ------------------------------------------------------------ events in

    def receive_data(self, cid: int, data: bytes) -> None:
        """Bytes read from connection ``cid`` (``b""``: it closed): handle every event in them.

        Until the host, then each bot there from the start, has joined, what others say waits
        (``Connections.hold``): they are admitted before anyone else, so every welcome names the
        host and the room's bots (PROTOCOL.md 4)."""
        peer = self.peers.get(cid)
        if peer is None:
            return
        if peer.closing:  # what it says no longer counts: read (so its last words go out, not a
            peer.ignored_bytes += len(data)  # reset) until it hangs up, but only so much
            if not data or peer.ignored_bytes > CLOSING_READ_BYTES:
                self.close(cid)
            return
        if self._first and cid != self._first[0]:
            self.connections.hold(peer, data)
            return
        proto = peer.proto
        broken: RemoteProtocolError | None = None
        try:
            proto.receive_data(data)
        except RemoteProtocolError as exc:
            broken = exc  # after what the peer said properly before it (proto.next_event())
        self.guard.feeders.add(cid)  # the congestion check slows whoever fed a growing queue
        self.guard.handle_all(peer)  # within the flood limit; a pause leaves the rest in proto
        if broken is not None:
            self.log(f"{self.who(cid)}: {broken.message}; disconnecting")
            self._leave(cid, "lost")
            if broken.code == ev.E_NOT_LANCHAT:
                self.outbox.discard(cid)  # an HTTP reply is all a browser reads
            # After the answers to the frames before the broken one (with history, held for
            # this pass's commit), and last: nothing follows a fatal error (PROTOCOL.md 4).
            self.perform([Broadcast(to=(cid,), frame=fatal_reply(broken, self.join_page))])
            self._mark_closing(peer)
            self.deadlines.forget(cid)
            return
        # Every read comes here: dict lookups first, a call only for a deadline to set or end.
        deadlines = self.deadlines
        timed = deadlines.per_connection
        if cid in timed.hello_due:
            deadlines.heard(cid, done=cid in self.room.members or peer.closing or proto.peer_closed)
        partial = proto.partial_frame_bytes
        if peer.paused_until is None and (partial or timed.frame_due):  # paused: its clock stopped (Guard.pause)
            deadlines.frame(cid, partial=partial > 0, member=cid in self.room.members)
        if proto.peer_closed and peer.paused_until is None:
            self.close(cid)

    def receive_reset(self, cid: int) -> None:
        """Reading ``cid`` failed (a reset, a timeout): its end, as ``receive_data(cid, b"")``,
        but never a goodbye. A text participant's clean close is one (PROTOCOL.md, Text
        participants); a lanchat client's end is ``lost`` either way."""
        peer = self.peers.get(cid)
        if peer is not None:
            peer.proto.note_reset()
        self.receive_data(cid, b"")

    def _handle(self, peer: Peer, event: object) -> None:
        """One event from ``peer``: to the file store or the room, logging joins and leaves."""
        cid = peer.cid
        if isinstance(event, ev.FILE_CLIENT_ALL):  # offers, chunks, gets: server_files.py
            self.perform(self.files.handle(self.room, cid, event))
            return
        members = self.room.members
        before = members.get(cid)  # a dict lookup, not room.name_of: this runs per message
        actions = self.room.handle(cid, event)
        if joined := before is None and cid in members:  # logged before what the join makes the room log
            self.log(f"{members[cid].name} joined from {peer.address}")  # ("teach (key ...) is an operator")
        self.perform(actions)
        if before is None and event.__class__ is ev.Hello and (seconds := self.room.gate.prompts.seconds(cid)) is not None:
            self.deadlines.per_connection.prompted(cid, self.clock(), seconds)  # a person types the room's password: time for it
        if joined and cid in members:
            self.guard.settled(peer)  # its account's unfinished connections are one fewer
            if self._first and cid == self._first[0]:
                self.connections.first_joined()
        elif before is not None and cid not in members:
            self.log(f"{before.name} {'lost connection' if isinstance(event, ConnectionClosed) else 'left'}")
            self.perform(self._files_forget(cid))  # their offers expire as they leave (bye)

    def say(self, peer: Peer, texts: list[str]) -> None:
        """The short path for the usual event, a member's ``say`` (``Connection.next_says``):
        what ``_handle`` -> ``Room._say`` -> ``perform`` do with each, in fewer steps. Whatever
        the room is not sure of (``Room.said_run``) takes that way, which decides and words it.

        With history, each run of says is held for the commit as one ``Said`` (its rows kept at
        once, before anything else is kept), not a ``Keep`` and a ``Broadcast`` each."""
        room = self.room
        member = room.members.get(peer.cid)
        at = 0
        count = len(texts)
        while at < count:
            if member is not None:
                to, times, frames, end = room.said_run(member, texts, at)
                if frames:
                    run_texts = texts if at == 0 and end == count else texts[at:end]
                    if room.history:  # as perform() does with [Keep, Broadcast]: delivered once stored
                        run = Said(member.name, to, times, run_texts, frames)
                        held = self._uncommitted
                        if held is None:
                            self._uncommitted = [run]
                        else:
                            held.append(run)
                        self.history.keep_said(run)  # ids are the order things happened in
                    elif self._uncommitted is not None:
                        self._uncommitted += [Broadcast(to, frame) for frame in frames]
                    elif len(frames) == 1:
                        self.outbox.broadcast(to, frames[0], notice=False)
                    else:
                        self.outbox.broadcast_frames(to, frames)
                    at = end
                    if at == count:
                        return
            self._handle(peer, ev.Say(text=texts[at]))  # not the short path's: the room decides
            at += 1
            member = room.members.get(peer.cid)  # the room may have acted on them meanwhile

    def _leave(self, cid: int, reason: str) -> None:
        """``cid`` is out of the room (lost, dropped): the others are told, its offers expire."""
        left = self.room.leave(cid, reason)
        self.perform(left + self._files_forget(cid))

    def _files_forget(self, cid: int) -> list[Action]:
        """``cid`` left (or never joined): the file store forgets it, but what is offered to it
        alone waits for a rejoin if its connection was lost (room.LostSessions)."""
        return self.files.forget(cid, away=self.room.lost_sessions.awaits(cid))

    def internal_error(self, cid: int, exc: Exception) -> None:
        """A bug met while serving one connection ends that connection, not the chat: the
        others carry on and are told it left. Tests fail on any (internal_errors)."""
        self._keep_traceback(exc)
        self.log(f"internal error while serving {self.who(cid)} ({type(exc).__name__}: {exc}); disconnecting them")
        try:
            self.close(cid)
        except Exception as again:  # noqa: BLE001 - the loop must go on for everyone else
            self._keep_traceback(again)

    def loop_crashed(self, exc: Exception) -> ev.Shutdown:
        """A bug ended the server's loop itself: counted and logged as any, and the notice that
        everyone gets before the server closes, as seed 003's crashed server told its clients.
        Not final: the host may start it again, and the full screens wait for that."""
        self._keep_traceback(exc)
        self.log(f"internal error ({type(exc).__name__}: {exc}); stopping the server, everyone told first")
        return ev.Shutdown(reason=CRASHED)

    def _keep_traceback(self, exc: BaseException) -> None:
        """Count a bug survived; keep its traceback if it is one of the first few."""
        import traceback  # (a bug met: an idle server never loads it)

        self.internal_error_count += 1
        if len(self.internal_errors) < KEPT_INTERNAL_ERRORS:
            self.internal_errors.append("".join(traceback.format_exception(exc)))

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
            held = self._uncommitted
            if held is not None:  # after a message kept this pass: performed once it is stored
                if isinstance(action, Keep):
                    self.history.keep(action.event, action.sender_owner, action.recipient_owner)
                elif isinstance(action, Send):  # a get's file-start, say: no chunk may go before it
                    self.pacer.held_for.add(action.to)
                held.append(action)
            elif isinstance(action, Broadcast):
                outbox.broadcast(unsealed(action.to, self._sealed) if self._sealed else action.to, action.frame, notice=action.notice)
            elif isinstance(action, Keep):  # its Broadcast, and all after it, wait for the commit
                self.history.keep(action.event, action.sender_owner, action.recipient_owner)
                self._uncommitted = [action]
            elif isinstance(action, Send) and action.to in peers:
                self._send(peers[action.to], action.event)
            elif isinstance(action, Close) and action.who in peers:
                peers[action.who].said_bye |= action.bye
                self._closing(peers[action.who])
            elif isinstance(action, Replay):
                self.keeping.replay(action)
            elif isinstance(action, ShowOffers):  # after the replay: what a newcomer may /get
                self.perform(self.files.offers_for(action.to, action.resumed, self.room.name_of(action.to)))
            elif isinstance(action, STATE_CHANGES):  # bans, names' owners, the topic...: they survive a restart
                self.keeping.change(action, actions)
            elif isinstance(action, (Seen, Log)):  # who saw what, a log line
                self.history.record(action)
            elif isinstance(action, SayText):  # a text participant's own answer, in its place
                outbox.queue_text(action.to, action.data)
            elif isinstance(action, LogRefusal) and action.who in peers:  # a full room's refusal, once per storm
                peer = peers[action.who]
                self.guard.refused(peer, action.refusal, self.clock(), f"{action.name} from {peer.address}")

    def _send(self, peer: Peer, event: ev.Event, frame: bytes | None = None) -> None:
        """One event to one connection, through its protocol state machine (``frame``: its
        frame made already, Connection.send)."""
        try:
            frame = peer.proto.send(event) if frame is None else peer.proto.send(event, frame)  # (a text participant's takes no frame)
        except LocalProtocolError:
            return  # the connection is already closing
        self.outbox.queue(peer.cid, frame)

    def _closing(self, peer: Peer) -> None:
        """Close ``peer`` once what is queued for it is out."""
        self._mark_closing(peer)
        queue = self.outbox.queues.get(peer.cid)
        if queue is not None:
            self.outbox.dirty.add(queue)

    def _mark_closing(self, peer: Peer) -> None:
        """``peer`` is closed once what is queued for it is out; its queue knows, so a broadcast
        sent to it at once (Flush._send_broadcast) still ends in Flush._flushed_closing."""
        peer.closing = True
        queue = self.outbox.queues.get(peer.cid)
        if queue is not None:
            queue.closing = True
