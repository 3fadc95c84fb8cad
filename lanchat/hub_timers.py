"""hub_timers.py: when the server's loop wakes, and what the hub does then. Never touches a socket.

* ``Deadlines``: when to give up on connections, with no timer per connection: a handshake
  that never comes, a frame started and never finished (both per connection and per frame,
  never pushed back by a dripped byte), a closing connection that never reads its last frames;
* ``Expiry``, the hub's (hub.py): ``next_deadline()`` asks each part that keeps time (these
  deadlines, the notices waiting in the outbox, the guard's pauses and congestion checks, the
  room's turn timeout, bans' and mutes' clocks, the file store's stalled uploads, the history
  journal) when it is next due, and the loop sleeps until then (None: for ever, so an idle
  server wakes for nothing); ``expire()`` lets each act once it is due.

Both are asked once a loop pass, not once a message, and each part only when it has anything
timed at all (bench/README.md, "Round 2, third session"). ``hub.next_deadline`` and
``hub.expire`` are these (Hub.__init__).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import events as ev
from . import limits as lim
from .moderation import ban_tries_due, ban_tries_due_at, mutes_end_at, mutes_ended
from .moderation import tick as moderation_tick
from .room_social import full_tries_due, full_tries_due_at

if TYPE_CHECKING:
    from .hub import Hub

LINGER_SECONDS = 2.0  # how long a closing connection may take to read its last frames and close
HANDSHAKE_SECONDS = lim.HELLO_SECONDS  # hello within this long of connecting, however the bytes drip
FRAME_SECONDS = lim.FRAME_SECONDS  # a frame, once begun, finished within this long
# ... but a joined member's frame within this long: a member's half frame is a Wi-Fi stall, not
# a slowloris (the caps and the hello deadline hold those off before the welcome), and a stall
# past 10 s mid-upload put the student out; as long as a stalled upload's own limit
# (server_files.STALLED_SECONDS). PROTOCOL.md 5, Limits.
MEMBER_FRAME_SECONDS = 60.0


def _earliest(due: float | None, other: float | None) -> float | None:
    """The sooner of two deadlines, either of which may be None (nothing due)."""
    if other is None:
        return due
    return other if due is None or other < due else due


class Deadlines:
    """When to give up on connections, with no timer per connection: the loop sleeps until
    ``next()`` (None: for ever, so an idle server wakes for nothing).

    Per connection and per frame (limits.Deadlines, issue 14): ``hello`` within
    ``handshake_seconds`` of connecting, and a frame, once its first byte arrived, whole within
    ``frame_seconds``; later bytes never push either back, so a connection dripping a byte a
    second cannot hold a socket for ever. A closing connection has ``linger_seconds`` to read
    its last frames and close (a laptop put to sleep never does)."""

    def __init__(
        self, clock: Callable[[], float], handshake_seconds: float, linger_seconds: float, frame_seconds: float = FRAME_SECONDS,
        member_frame_seconds: float = MEMBER_FRAME_SECONDS, prompt_seconds: float = lim.PROMPT_SECONDS,
    ) -> None:
        self.clock = clock
        self.member_frame_seconds = member_frame_seconds
        self.handshake_seconds = handshake_seconds
        self.linger_seconds = linger_seconds
        self.per_connection = lim.Deadlines(hello_seconds=handshake_seconds, frame_seconds=frame_seconds, prompt_seconds=prompt_seconds)
        self.lingering: dict[int, float] = {}

    def expect_hello(self, cid: int) -> None:
        """From now, once: it is never pushed back."""
        if not self.per_connection.awaiting_hello(cid):
            self.per_connection.connected(cid, self.clock())

    def awaiting_hello(self, cid: int) -> bool:
        return self.per_connection.awaiting_hello(cid)

    def heard(self, cid: int, *, done: bool) -> None:
        """A waiting connection said something: gone if ``done`` (it joined, or is closing);
        otherwise its deadline stays where it was."""
        if done:
            self.per_connection.joined(cid)

    def frame(self, cid: int, *, partial: bool, member: bool = False) -> None:
        """After a read: is a frame left half-received? Its time starts at its first byte; a
        member's runs for ``member_frame_seconds`` (MEMBER_FRAME_SECONDS), not frame_seconds."""
        if partial:
            later = self.member_frame_seconds - self.per_connection.frame_seconds if member else 0.0
            self.per_connection.progress(cid, self.clock() + later, partial_frame=True)  # (one heap: its start moved)
        else:
            self.per_connection.finished(cid)

    def linger(self, cid: int, *, at_once: bool = False) -> None:
        """``at_once``: due now (a peer that said bye has nothing more to be read)."""
        if at_once:
            self.lingering[cid] = self.clock()
        elif cid not in self.lingering:
            self.lingering[cid] = self.clock() + self.linger_seconds

    def forget(self, cid: int) -> None:
        self.per_connection.closed(cid)
        self.lingering.pop(cid, None)

    def next(self) -> float | None:
        first = [min(self.lingering.values())] if self.lingering else []
        due = self.per_connection.next_due()
        if due is not None:
            first.append(due)
        return min(first) if first else None

    def due(self) -> tuple[list[int], list[tuple[int, str, str]]]:
        """(closing connections whose time is up, (connection, why) past a hello or frame deadline)."""
        now = self.clock()
        lingered = [cid for cid, deadline in self.lingering.items() if deadline <= now]
        return lingered, self.per_connection.expired(now)


class Expiry:
    """The hub's clock work: when anything is next due (``next_deadline``) and acting on what
    is (``expire``). It reads the parts that keep time and acts through the ``hub``."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        # the parts asked once a pass (the hub's own, made before this)
        self.clock, self.deadlines, self.outbox, self.guard = hub.clock, hub.deadlines, hub.outbox, hub.guard
        self.room, self.files, self.history, self.flusher = hub.room, hub.files, hub.history, hub.flusher

    def next_deadline(self) -> float | None:
        """When something is due: waiting notices, a closing connection's or a handshake's
        time; None when nothing is (an idle server sleeps and wakes for nothing).

        Asked once per loop pass, so each part is asked only when it has anything timed at all
        (an empty dict or heap: nothing due there); a pass with nothing timed costs no call
        but the history's (bench/README.md, "Round 2, third session")."""
        due = self.outbox.notice_deadline
        deadlines = self.deadlines
        if deadlines.lingering or deadlines.per_connection.heap:
            due = _earliest(due, deadlines.next())
        guard = self.guard
        if guard.paused or guard.congested_since or guard.stuck_since or guard.refusals.storms:
            due = _earliest(due, guard.next_due())
        if self.flusher.backlog_unchecked:  # the guard's next look at it (the not-reading rule)
            due = _earliest(due, max(guard.next_congestion_check, self.clock()))
        room = self.room
        if room.turn_timeout is not None and room.mode == "turn" and room.turn_holder is not None:
            # the room keeps time by its own clock (time.time): converted to the hub's
            due = _earliest(due, self.clock() + max(0.0, room.turn_since + room.turn_timeout - room.clock()))
        if room.moderation.ban_tries and (tries_due := ban_tries_due_at(room)) is not None:  # a banned person's tries, counted
            due = _earliest(due, self.clock() + max(0.0, tries_due - room.clock()))
        if room.moderation.full_tries is not None and (full_due := full_tries_due_at(room)) is not None:  # tries at a full room, counted
            due = _earliest(due, self.clock() + max(0.0, full_due - room.clock()))
        if room.moderation.mutes and (mute_ends := mutes_end_at(room)) is not None:  # a mute's end leaves the store
            due = _earliest(due, self.clock() + max(0.0, mute_ends - room.clock()))
        files = self.files
        if files.timed and (stall := files.next_stall_check()) is not None:  # the file store's clock is time.time too
            due = _earliest(due, self.clock() + max(0.0, stall - files.clock()))
        move = self.history.next_move()  # the history journal's batch (history.py)
        if move is not None and (due is None or move < due):
            due = move
        # Nothing expire() does is due before ``due``, but for the guard's congestion check,
        # which runs every THROTTLE_SECONDS while the loop is awake anyway (never waking it): the
        # loop skips expire() until the sooner of the two. A deadline set during a pass is at
        # least that far off (every limit is positive), so none is missed; were one due at once,
        # the next pass, which then follows without sleeping, would expire it.
        check = self.guard.next_congestion_check
        self.hub.expire_from = check if due is None or check < due else due
        return due

    def expire(self) -> None:
        """Close what has run out of time: a closing connection that never reads its last
        frames (a laptop put to sleep), a connection that never said hello (told why); end
        pauses, check congestion, move a turn on, end a mute, drop a stalled upload, move the journal.
        Called every loop pass: each part only when it has anything timed (next_deadline)."""
        deadlines = self.deadlines
        if deadlines.lingering or deadlines.per_connection.heap:
            self._expire_connections()
        now = self.clock()
        guard = self.guard
        if guard.paused:
            guard.resume_due(now)
        if now >= guard.next_congestion_check:  # every THROTTLE_SECONDS at most (guard.py)
            guard.check_congestion(now)
            if self.flusher.backlog_unchecked:  # looked at: still a reason to look again?
                self.flusher.backlog_unchecked = any(queue.out for queue in self.outbox.queues.values())
        if guard.refusals.storms:  # a connection storm's count, once its time is up
            guard.log_refusals(now)
        # a turn nobody took moves on (serve --turn-timeout)
        if self.room.turn_timeout is not None and (ticked := moderation_tick(self.room)):
            self.hub.perform(ticked)
        if self.room.moderation.ban_tries:  # a banned person's tries held back, told with their count
            self.hub.perform(ban_tries_due(self.room))
        if self.room.moderation.full_tries is not None:  # tries at a full room held back, told with their count
            self.hub.perform(full_tries_due(self.room))
        if self.room.moderation.mutes:  # a mute that is over goes, from the history file too
            self.hub.perform(mutes_ended(self.room))
        if self.files.timed:
            self.hub.perform(self.files.drop_stalled())  # an upload that stalled frees its quota; a lost recipient's files
        self.history.move_due()  # the journal into SQLite, in batches (history.py)

    def _expire_connections(self) -> None:
        hub = self.hub
        refuse, first = hub.connections.refuse, hub.connections.first
        lingered, expired = self.deadlines.due()
        for cid in lingered:
            hub.close(cid)
        seconds = self.deadlines.handshake_seconds
        for cid, kind, why in expired:
            peer = hub.peers.get(cid)
            if peer is None or peer.closing:
                continue
            was_held = bool(peer.held)  # its hello came, and waited for the room to open
            peer.held.clear()  # whatever waited for the host is not read now
            peer.held_bytes = 0
            if cid in self.room.members:  # a member who started a frame and never finished it (a long stall)
                why = f"a frame was started but not finished within {self.deadlines.member_frame_seconds:g} seconds"
                hub.log(f"{hub.who(cid)}: {why}; disconnecting")
                hub._leave(cid, "lost")
                refuse(peer, ev.E_DEADLINE, why)
            elif kind != lim.FRAME and was_held:  # not the newcomer's fault: "no hello" (at nc "no name given") would blame it
                within = f"within {seconds:g} s" if kind == lim.HELLO else "in time"  # (PROMPTED: its name question's time, nc's)
                hub.log(f"{peer.address}: held {seconds:g} s while the room was starting; disconnecting" if kind == lim.HELLO
                        else f"{peer.address}: held while the room was starting; disconnecting")
                awaited = "its host" if first and first[0] == self.room.host_cid else "its own bot"
                refuse(peer, ev.E_HELLO_FIRST, f"the room did not open {within} ({awaited} is not in yet): try again in a moment")
            elif kind == lim.HELLO:  # (a prompted one, unanswered, is a deadline: PROTOCOL.md 4)
                hub.log(f"{peer.address}: no hello within {seconds:g} s; disconnecting")
                refuse(peer, ev.E_HELLO_FIRST, f"no hello within {seconds:g} s")
            else:
                hub.log(f"{peer.address}: {why}; disconnecting")
                refuse(peer, ev.E_DEADLINE, why)
