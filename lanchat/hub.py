"""hub.py: the server's policy, from bytes received to frames queued. Never touches a socket.

The server loop (server.py) only moves bytes: it hands what it read to
``hub.receive_data(cid, data)``, flushes ``hub.outbox`` (outbox.py) and tells the hub when
time passed (``expire()``) or a socket failed (``close(cid)``). Everything in between is here:

* one protocol ``Connection`` per participant; every frame they get, file chunks included,
  goes through its ``send()``, so the state machine sees all the traffic;
* events routed to the room (room.py) or the server's file store (server_files.py), and the
  actions both return (actions.py) performed in order;
* the usual event, a member's ``say``, takes a short path when nothing about it is unusual
  (``Hub.say``: a duplex room, no mutes, text that fits): the same bytes and history rows as
  the general path, with fewer calls and objects per message (tests/test_say_short_path.py);
* the history policy (history_policy.py): each message stored before anyone receives it
  (``Keep``, committed at the start of ``flush``; what follows a Keep waits for that commit, and
  a message the commit could not store is refused to its sender, never delivered), replays
  within a byte budget, and a token bucket per person for /history;
* the download pacing rule: a download's chunks are queued only while its reader has less
  than FILE_LOW_WATER_BYTES waiting; and a download counts as fetched, its offerer told, once
  its last byte is written (DownloadPacer.wrote; PROTOCOL.md, Who fetched it);
* deadlines (``Deadlines``): a handshake that never comes, a frame started and never finished
  (both per connection and per frame, never pushed back by a dripped byte), a closing connection
  that never reads its last frames; the host, then the room's bots, admitted before anyone else;
  who joined and left;
* abuse limits (limits.py decides, guard.py acts through the hub): a flooder is told to slow
  down, then no longer read for a while (``set_reading``: back-pressure through the kernel), then
  disconnected; connections per address are capped; and when a reader's queue grows, the senders
  feeding it are read more slowly before anyone is dropped.

The clock, the history store and the log are passed in, so tests run it in milliseconds
(tests/test_hub.py). ``release(cid)`` is the loop's: called once when a connection is over.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from . import events as ev
from . import limits as lim
from .actions import (
    Action,
    Broadcast,
    Claim,
    Close,
    DropBans,
    DropMutes,
    DropOperator,
    Keep,
    KeepMode,
    KeepSeenKey,
    KeepTopic,
    Log,
    LogRefusal,
    NextFileId,
    Record,
    Replay,
    Said,
    SayText,
    Seen,
    Send,
    ShowOffers,
    StoreBan,
    StoreMute,
    StoreOperator,
)
from .guard import Guard
from .history_policy import HistoryPolicy, Unsaved, person_of
from .moderation import ban_tries_due, ban_tries_due_at, mutes_end_at, mutes_ended
from .moderation import tick as moderation_tick
from .outbox import Outbox, Queue
from .protocol import (
    Connection,
    ConnectionClosed,
    Invalid,
    JoinPage,
    LocalProtocolError,
    RemoteProtocolError,
    Role,
    fatal_reply,
)
from .room import Room
from .room_social import full_tries_due, full_tries_due_at
from .wire import BINARY_MARK, HEADER_BYTES

if TYPE_CHECKING:  # the edges the hub is handed; it imports neither
    from .history import HistoryStore
    from .server_files import ServerFiles

DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024  # per connection; past it the reader is dropped
# Download chunks are queued only while a reader has less than this waiting, so a 50 MB file
# never sits in one queue, chat frames wait behind at most this much, and the slow-reader
# limit above is never reached by a download alone (PROTOCOL.md, File transfer).
FILE_LOW_WATER_BYTES = 256 * 1024
# ... at most: what waits ahead of a chat line on a downloader's link, this queue and the
# kernel's send buffer, follows the link's measured pace (DownloadPace): about AHEAD_SECONDS of
# it, so a chat line on a slow Wi-Fi waits a fraction of a second behind the download, not
# seconds, while a fast LAN keeps the fixed sizes, the ceilings (PROTOCOL.md, File transfer).
FILE_SEND_BUFFER_BYTES = 128 * 1024  # the kernel's send buffer of a downloader, at most (Linux doubles it)
AHEAD_SECONDS = 0.25
PACE_WINDOW_SECONDS = 0.25  # the pace: all the socket took over this long (full or not: a queue run dry counts too)
FILE_LOW_WATER_FLOOR = 16 * 1024
# A floor on the kernel's share: that buffer holds the bytes in flight too, so too small a one
# would cap a link with a long round trip below its pace (64 KiB, doubled: 320 KB/s at 200 ms).
FILE_SEND_BUFFER_FLOOR = 32 * 1024
LINGER_SECONDS = 2.0  # how long a closing connection may take to read its last frames and close
HANDSHAKE_SECONDS = lim.HELLO_SECONDS  # hello within this long of connecting, however the bytes drip
FRAME_SECONDS = lim.FRAME_SECONDS  # a frame, once begun, finished within this long
# ... but a joined member's frame within this long: a member's half frame is a Wi-Fi stall, not
# a slowloris (the caps and the hello deadline hold those off before the welcome), and a stall
# past 10 s mid-upload put the student out; as long as a stalled upload's own limit
# (server_files.STALLED_SECONDS). PROTOCOL.md 5, Limits.
MEMBER_FRAME_SECONDS = 60.0
# What a closing connection may still send (read and ignored) before it is closed at once: a
# flooder put out kept the server reading gigabytes until its linger time was up.
CLOSING_READ_BYTES = 1024 * 1024
HELD_BYTES_LIMIT = 64 * 1024  # what a newcomer may say while the host is not in yet (Hub.receive_data)
KEPT_INTERNAL_ERRORS = 5  # tracebacks of bugs survived kept for tests and debugging; the rest are counted


class Writer(Protocol):
    """What the hub needs of one connection's socket to flush it (server.Client is one)."""

    writing: bool  # the loop is watching for writability

    def send(self, data: bytes) -> int: ...  # as socket.send: may take fewer bytes, or raise

    def set_writing(self, writing: bool) -> None: ...  # ask for writability, or stop asking

    def finish(self) -> None: ...  # everything is out on a closing connection: send FIN


class Peer:
    """One connection as the hub sees it: its protocol state and where it is going."""

    __slots__ = (
        "cid", "proto", "address", "ip", "closing", "closed", "held", "held_bytes", "admitted", "group", "paused_until",
        "ignored_bytes", "said_bye", "history_person", "frames_before_welcome", "budget", "pending_account", "shared",
        "told_held",
    )  # fmt: skip

    def __init__(self, cid: int, address: str) -> None:
        self.cid = cid
        self.proto = Connection(Role.SERVER)
        self.address = address  # "127.0.0.1:50312", or "local" for the host's and bots' sockets
        self.ip = ip_of(address)
        self.closing = False  # close once the queue is flushed
        self.closed = False
        self.held: list[bytes] = []  # what it said before the host was in (Hub.receive_data)
        self.held_bytes = 0  # their total, kept as they come (a dripped byte a read stays cheap)
        self.told_held = False  # sent the held event (once: a room whose bot comes after its host holds twice)
        self.admitted = False  # counted by the connection limits (released on close)
        self.group = ""  # the address group it was counted under (limits.AddressGroups)
        self.pending_account: int | None = None  # the Unix account it is unfinished for, until welcomed (guard.settled)
        # Not read until then (flood control, a congested room); frames already read wait,
        # unparsed, in ``proto`` and are handled when it ends: nothing is lost.
        self.paused_until: float | None = None
        self.ignored_bytes = 0  # read after it began closing (Hub.receive_data): bounded
        self.said_bye = False  # it sends nothing more: closed once what it is owed is out
        self.history_person: object = None  # who its last /history was counted as (history_policy.person_of)
        self.frames_before_welcome = 0  # flood control counts none of them (guard.MAX_FRAMES_BEFORE_WELCOME)
        self.budget: lim.TokenBucket | None = None  # for what flood control does not count (guard.BUDGETED), from the first
        self.shared: lim.SharedBucket | None = None  # the flood bucket its address group shares (guard.AddressShares: while two or more are joined from it)

    def hold(self, data: bytes) -> bool:
        """Keep what it said before the host was in; True once that is too much to keep."""
        self.held.append(data)
        self.held_bytes += len(data)
        return self.held_bytes > HELD_BYTES_LIMIT


HOLD_NOTICE_HELLO_BYTES = 4096  # a hello asking for held comes whole within this (a name, a key, a resume secret)


def asks_hold_notice(peer: Peer) -> bool | None:
    """Does a held connection's first frame, a hello (or the doctor's ``who`` before hello), ask to
    be told it is held (``hold_notice``)?
    None until that frame is whole; False for anything else (HTTP, TLS, a person at nc, a frame
    that is not such a hello, or one not whole within HOLD_NOTICE_HELLO_BYTES). Read with a
    Connection of its own: the peer's own reads the held bytes, from the start, once let in."""
    if peer.held_bytes > HOLD_NOTICE_HELLO_BYTES or peer.held[0][0] != 0:  # (a frame starts with 0: never HTTP, TLS, text)
        return False
    reader = Connection(Role.SERVER)
    try:
        reader.receive_data(b"".join(peer.held))
    except RemoteProtocolError:
        return False
    first = reader.next_event()
    if first is None:
        return None if reader.partial_frame_bytes else False  # (under 4 bytes: a part of the header)
    if isinstance(first, Invalid) and first.code == ev.E_HELLO_FIRST:  # `lanchat doctor`'s who, before any hello
        first = first.refused
    return isinstance(first, (ev.Hello, ev.Who)) and first.hold_notice


def _earliest(due: float | None, other: float | None) -> float | None:
    """The sooner of two deadlines, either of which may be None (nothing due)."""
    if other is None:
        return due
    return other if due is None or other < due else due


def is_file_piece(frame: bytes) -> bool:
    """Is this queued frame a download's data (a binary ``file-bytes``, or a JSON ``file-data``)?
    Each is queued alone (DownloadPacer.top_up), so a queue entry is one whole piece or none."""
    return len(frame) > HEADER_BYTES and (
        frame[HEADER_BYTES] == BINARY_MARK or frame.startswith(b'{"type":"file-data"', HEADER_BYTES))


def ip_of(address: str) -> str:
    """``"192.168.1.7:50312"`` -> ``"192.168.1.7"``, ``"::1:5"`` -> ``"::1"``; anything else
    (the host's socket, an AF_UNIX peer) -> ``"local"``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return "local"
    return host.strip("[]")


# What the history keeps besides messages, so that a restart has it (hub._change)
STATE_CHANGES = (StoreBan, DropBans, StoreMute, DropMutes, Claim, StoreOperator, DropOperator, KeepTopic, KeepMode,
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
    if isinstance(action, NextFileId):
        return (lambda store: store.set_next_file_id(action.value)), "next file id"
    if isinstance(action, KeepSeenKey):
        return (lambda store: store.keep_seen_key(action.key, action.place, action.time)), ("seen key", action.key)
    assert isinstance(action, Record), action
    return (lambda store: store.keep_act(action.event)), None


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
        member_frame_seconds: float = MEMBER_FRAME_SECONDS,
    ) -> None:
        self.clock = clock
        self.member_frame_seconds = member_frame_seconds
        self.handshake_seconds = handshake_seconds
        self.linger_seconds = linger_seconds
        self.per_connection = lim.Deadlines(hello_seconds=handshake_seconds, frame_seconds=frame_seconds)
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


class DownloadPace:
    """One downloader's link, measured: the bytes its socket took over each window of
    PACE_WINDOW_SECONDS, averaged with the windows before, and from that pace what may wait
    ahead of a chat line: the queue's ``low_water`` and the kernel's ``send_buffer``,
    AHEAD_SECONDS of it in all, between the floors and the ceilings. On a fast LAN the pace is
    the server's own (hundreds of MB/s): the ceilings. A link that speeds up (or wakes from a
    stall) shows it within a window or two. The kernel's share, doubled by Linux, is an eighth
    of a second of the pace, which must hold the bytes in flight too: a link whose round trip is
    longer (a class's Wi-Fi under load) would be held below its pace, window after window, down
    to the floor (320 KB/s at 200 ms; the fixed 128 KiB allowed 1.3 MB/s). So the kernel's share
    is never below the pace times the kernel's round-trip time (``round_trip``, TCP_INFO), up to
    the ceiling: held back by it, the pace doubles it each window until the link is the limit."""

    __slots__ = ("since", "sent", "rate", "low_water", "send_buffer", "round_trip")

    def __init__(self, now: float, round_trip: Callable[[], float | None] = lambda: None) -> None:
        self.round_trip = round_trip  # its link's round-trip seconds (None: unknown), asked at a window's end
        self.since = now
        self.sent = 0  # bytes the socket took this window
        self.rate = -1.0  # bytes a second (-1: not measured yet)
        self.low_water = FILE_LOW_WATER_BYTES
        self.send_buffer = FILE_SEND_BUFFER_BYTES

    def measure(self, now: float, round_trip: Callable[[], float | None] | None = None) -> int | None:
        """At a window's end, new marks; returns the send buffer to set, when it changed.
        ``round_trip`` gives the link's round-trip seconds (None: unknown), asked at a window's end
        (by default the one the pace was made with)."""
        elapsed = now - self.since
        if elapsed < PACE_WINDOW_SECONDS:
            return None
        pace = self.sent / elapsed
        self.rate = pace if self.rate < 0 else (self.rate + pace) / 2
        ahead = self.rate * AHEAD_SECONDS
        self.since, self.sent = now, 0
        # half in the queue, half in the kernel (which doubles what it is given)
        self.low_water = int(min(max(ahead / 2, FILE_LOW_WATER_FLOOR), FILE_LOW_WATER_BYTES))
        in_flight = self.rate * ((round_trip or self.round_trip)() or 0.0)  # what the link holds unacknowledged at this pace
        buffer = int(min(max(ahead / 4, in_flight, FILE_SEND_BUFFER_FLOOR), FILE_SEND_BUFFER_BYTES))
        if buffer == self.send_buffer:
            return None
        self.send_buffer = buffer
        return buffer


class DownloadPacer:
    """The one pacing rule for downloads: a reader's queue is topped up with file chunks only
    while it holds less than its mark (at most FILE_LOW_WATER_BYTES; DownloadPace: about a
    quarter second of the link's pace), so a 50 MB file never sits in one queue, chat frames
    wait behind little, and the slow-reader limit is never reached by a download alone
    (PROTOCOL.md, File transfer). The reader's pace sets the download's."""

    def __init__(
        self,
        files: ServerFiles,
        outbox: Outbox,
        peers: Mapping[int, Peer],
        send: Callable[[Peer, ev.Event], None],
        low_water: int = FILE_LOW_WATER_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.files = files
        self.outbox = outbox
        self.peers = peers
        self.send = send  # through the connection's state machine, like every frame
        self.low_water = low_water
        # Connections a frame waits for this pass's commit for (Hub.perform holds it): no chunk for
        # them until it has gone, or a get's file-start would follow its first chunks.
        self.held_for: set[int] = set()
        self.started: set[int] = set()  # connections the loop was told about
        self.clock = clock
        self.paces: dict[int, DownloadPace] = {}  # each downloader's link, measured (wrote)
        # A connection -> its downloads whose last piece is queued: [bytes queued up to its end, the
        # file id, to whom], counted as fetched once those are written (wrote)
        self.finishing: dict[int, list[list]] = {}
        # a connection's round-trip seconds, or None (the server reads its socket: transport.round_trip_seconds)
        self.round_trip: Callable[[int], float | None] = lambda cid: None

    def top_up(self) -> list[tuple[int, int]]:
        """Queue chunks up to each reader's mark; returns (connection, bytes) for the send
        buffers the loop is to set (server.py): a download began, or its link's pace changed."""
        peers, send, held_for = self.peers, self.send, self.held_for
        buffers: list[tuple[int, int]] = []
        self.outbox.materialize()  # so the sizes below count this pass's chat too
        now = self.clock()
        downloading = self.files.downloading()
        if self.paces:
            self._forget_paces(downloading)
        for cid in downloading:
            peer = peers.get(cid)
            queue = self.outbox.queues.get(cid)
            if peer is None or queue is None or peer.closing or cid in held_for:
                continue  # (held_for: its file-start may wait for this pass's commit; the chunks follow it)
            pace = self.paces.get(cid)
            if pace is None or cid not in self.started:
                pace = self.paces[cid] = DownloadPace(now, functools.partial(self.round_trip, cid))  # (made once a download, not once a pass)
                self.started.add(cid)
                buffers.append((cid, pace.send_buffer))
            elif (buffer := pace.measure(now)) is not None:
                buffers.append((cid, buffer))
            low_water = min(pace.low_water, self.low_water)
            while queue.out_bytes < low_water:
                piece = self.files.next_chunk(cid)
                if piece is not None:
                    send(peer, piece)
                if self.files.handed:  # a download's last piece is queued: fetched once written (wrote)
                    self._finishing(cid, queue)
                if piece is None:  # its downloads are over (and the loop may not ask again: server.py)
                    self.paces.pop(cid, None)
                    break
                if peer.closed or peer.closing:
                    break
        return buffers

    def _finishing(self, cid: int, queue: Queue) -> None:
        """The downloads whose last piece was just queued to ``cid`` are fetched once the bytes
        now queued there are written: a reader cut off or gone before is not counted (PROTOCOL.md,
        Who fetched it). One with nothing left to send (its file-start was all) waits for what is
        queued too, and with nothing queued is fetched now."""
        for _cid, file_id, who in self.files.handed:  # (next_chunk(cid) hands out cid's only)
            if queue.out_bytes:
                self.finishing.setdefault(cid, []).append([queue.out_bytes, file_id, who])
            else:
                self.files.fetched_whole(cid, file_id, who)
        self.files.handed.clear()
        if self.files.news:
            self._tell_offerers()

    def _tell_offerers(self) -> None:
        """Each offerer told of one more person who has a file of theirs (ServerFiles.news), after
        what is queued to them (PROTOCOL.md, Who fetched it)."""
        for news in self.files.take_news():
            owner = self.peers.get(news.to)
            if owner is not None and not owner.closing:
                self.send(owner, news.event)

    def _forget_paces(self, downloading: list[int]) -> None:
        """The paces of connections no longer downloading go: the next download is measured afresh
        (its link may have changed meanwhile). Also when others download and one of them has no pace
        yet (a count of paces against downloaders kept a stale one then)."""
        still = set(downloading)
        for cid in [cid for cid in self.paces if cid not in still]:
            del self.paces[cid]

    def wrote(self, cid: int, sent: int) -> None:
        """The flush wrote ``sent`` bytes to ``cid`` (its pace: DownloadPace), the bytes queued
        before them first: a download whose last piece is now out is fetched (_finishing)."""
        pace = self.paces.get(cid)
        if pace is not None:
            pace.sent += sent
        finishing = self.finishing.get(cid)
        if finishing is not None:
            for waiting in finishing:
                waiting[0] -= sent
            for _left, file_id, who in [waiting for waiting in finishing if waiting[0] <= 0]:
                self.files.fetched_whole(cid, file_id, who)
            if finishing := [waiting for waiting in finishing if waiting[0] > 0]:
                self.finishing[cid] = finishing
            else:
                del self.finishing[cid]
            if self.files.news:
                self._tell_offerers()

    def forget(self, cid: int) -> None:
        self.started.discard(cid)
        self.paces.pop(cid, None)
        self.finishing.pop(cid, None)  # gone before its last piece was out: not fetched


class Hub:
    """Every connection's protocol state and the server's policy, for one server run."""

    join_page = JoinPage()  # what a web browser is told; the server sets how it listens (server.join_page)

    # A queue may hold what its socket would not take since the guard last looked: the loop
    # must wake for its next look (next_deadline), or a reader that stopped reading in a quiet
    # room was never found out (the not-reading rule ran only when something else woke the loop).
    backlog_unchecked = False

    def __init__(
        self,
        room: Room,
        *,
        files: ServerFiles,
        history: HistoryStore | None = None,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        linger_seconds: float = LINGER_SECONDS,
        handshake_seconds: float = HANDSHAKE_SECONDS,
        frame_seconds: float = FRAME_SECONDS, member_frame_seconds: float = MEMBER_FRAME_SECONDS,
        once: bool = False,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
        release: Callable[[int], None] | None = None,
        limits: bool = False,
        flood: lim.FloodControl | None = None,
        connection_limits: lim.ConnectionLimits | None = None,
        set_reading: Callable[[int, bool], None] | None = None,
        refusal_log: lim.RefusalLog | None = None,
        short_path: bool = True,
        keep_history: tuple[float | None, int | None] = (None, None),
    ) -> None:
        """``keep_history``: (days, MiB), serve's --keep-days and --max-history-mb (history_upkeep.py)."""
        self.room = room
        # A member's say takes Hub.say (False: every event the general way; the tests compare)
        self.short_path = short_path
        self.log = log or (lambda line: None)
        self.clock = clock
        self.release = release or (lambda cid: None)
        self.outbox = Outbox(max_queue_bytes=max_queue_bytes, over_limit=self._over_limit, clock=clock)
        self.files = files
        self.history = HistoryPolicy(history, clock=clock, log=self.log, warn=self._warn)
        self.history.keep_only(*keep_history, tell_host=self._tell_host)
        self.history.on_saved = self._saved  # changes saved late: whoever was told they waited hears it
        # Once a message is kept this pass, what follows waits here for the commit (flush), in
        # order: a message nobody could store is never delivered (PROTOCOL.md, History replay).
        self._uncommitted: list[Action] | None = None
        # Connections given a fatal error outside that order (a slow reader dropped, its queue gone):
        # the broadcasts still held for them must not follow it (PROTOCOL.md 4). Until closed.
        self._sealed: set[int] = set()
        self.deadlines = Deadlines(clock, handshake_seconds, linger_seconds, frame_seconds, member_frame_seconds)
        self.once = once  # shut down when the last person leaves (seed 000)
        room.once = once  # and every welcome says so
        self.peers: dict[int, Peer] = {}
        self._ids = itertools.count(1)  # connection ids, never reused
        self._first: list[int] = []  # the host, then the room's own bots, until in or gone: others wait (receive_data)
        self.shutting_down = False
        # Before this (on ``clock``) expire() has nothing to do: next_deadline() sets it each pass
        self.expire_from = -math.inf
        # Tracebacks of bugs survived (internal_error): the first KEPT_INTERNAL_ERRORS, so a
        # client that trips one bug all day cannot grow them without bound; all are counted,
        # and each is a line in the log.
        self.internal_errors: list[str] = []
        self.internal_error_count = 0
        self.pacer = DownloadPacer(files, self.outbox, self.peers, self._send, clock=clock)
        self.guard = Guard(  # the abuse limits (guard.py; limits.py decides)
            self, max_queue_bytes=max_queue_bytes, limits=limits, flood=flood,
            connection_limits=connection_limits, set_reading=set_reading, refusal_log=refusal_log,
        )  # fmt: skip
        room.flood_allowance = self.guard.allowance  # each welcome tells the member's flood limit

    # ------------------------------------------------------------ connections

    def open(
        self, address: str, *, host: bool = False, service: bool = False, handshake: bool = True,
        counted: lim.Counted | None = None, this_machine: bool = False, account: int | None = None,
    ) -> int:
        """A new connection; returns its id. ``handshake``: it must say hello in time.
        ``counted``: already counted by the connection limits, from its accept (guard.Guard.
        reserve: a TLS handshake), so it is not counted again. ``this_machine``: it dialled this
        machine's own address; ``account``: the Unix user the loop read at its other end, on
        this machine (guard.Guard.admit)."""
        cid = next(self._ids)
        self.peers[cid] = Peer(cid, address)
        self.outbox.open(cid)
        if host:
            self.room.host_cid = cid
            self._first.insert(0, cid)
        if service:
            self.room.service_cids.add(cid)  # a bot: a member that is not a person
            if not handshake and not self.room.members:  # one of the room's own, there from the start
                self._first.append(cid)
        peer = self.peers[cid]
        self.room.moderation.arrive(cid, peer.ip)
        if handshake:
            self.deadlines.expect_hello(cid)
            if counted is not None:
                peer.admitted, peer.group, peer.pending_account = bool(counted.group), counted.group, counted.account  # as admit's
            elif (refusal := self.guard.admit(peer, this_machine=this_machine, account=account)) is not None:  # logged there, once per storm
                self._refuse(peer, ev.E_TOO_MANY, refusal)
            if peer.admitted:  # (a refused one shares nothing: it only closes)
                self.guard.shares.join(peer)  # Peer.shared, decided here and when others come and go, not at each frame
        return cid

    def _refuse(self, peer: Peer, code: str, message: str) -> None:
        """One fatal error, then the connection is closed once it is written."""
        # after what this pass holds for it (the commit): the fatal error is its last frame
        self.perform([Send(to=peer.cid, event=ev.Error(code=code, message=message, fatal=True))])
        self.deadlines.forget(peer.cid)
        self._closing(peer)

    def receive_data(self, cid: int, data: bytes) -> None:
        """Bytes read from connection ``cid`` (``b""``: it closed): handle every event in them.

        Until the host, then each bot there from the start, has joined, what others say waits
        (``Peer.held``): they are admitted before anyone else, so every welcome names the host
        and the room's bots (PROTOCOL.md 4)."""
        peer = self.peers.get(cid)
        if peer is None:
            return
        if peer.closing:  # what it says no longer counts: read (so its last words go out, not a
            peer.ignored_bytes += len(data)  # reset) until it hangs up, but only so much
            if not data or peer.ignored_bytes > CLOSING_READ_BYTES:
                self.close(cid)
            return
        if self._first and cid != self._first[0]:
            if not data:
                self.close(cid)  # gone before the chat opened: nobody to tell
            elif peer.hold(data):
                self.log(f"{peer.address}: said too much before the chat opened; disconnecting")
                self.close(cid)
            elif not peer.told_held and (asks := asks_hold_notice(peer)) is not None:
                peer.told_held = True  # decided once: told at once why no welcome comes yet, if it asked (PROTOCOL.md, Held while the room starts)
                if asks:
                    self.perform([Send(to=cid, event=ev.Held(reason=ev.HELD_STARTING))])
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
        self.perform(self.room.handle(cid, event))
        if before is None and event.__class__ is ev.Hello and (seconds := self.room.gate.prompts.seconds(cid)) is not None:
            self.deadlines.per_connection.prompted(cid, self.clock(), seconds)  # a person types the room's password: time for it
        if before is None and cid in members:
            self.log(f"{members[cid].name} joined from {peer.address}")
            self.guard.settled(peer)  # its account's unfinished connections are one fewer
            if self._first and cid == self._first[0]:
                self._first_joined()
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

    def _first_joined(self) -> None:
        """The host (or a bot there from the start) is in: what the others said meanwhile is
        handled now, in arrival order (the next bot's first, while one is still to come)."""
        self._first.pop(0)
        for peer in list(self.peers.values()):
            held, peer.held = peer.held, []
            peer.held_bytes = 0
            for data in held:
                self.receive_data(peer.cid, data)

    def _leave(self, cid: int, reason: str) -> None:
        """``cid`` is out of the room (lost, dropped): the others are told, its offers expire."""
        left = self.room.leave(cid, reason)
        self.perform(left + self._files_forget(cid))

    def _files_forget(self, cid: int) -> list[Action]:
        """``cid`` left (or never joined): the file store forgets it, but what is offered to it
        alone waits for a rejoin if its connection was lost (room.LostSessions)."""
        return self.files.forget(cid, away=self.room.lost_sessions.awaits(cid))

    def close(self, cid: int) -> None:
        """Connection ``cid`` is over (it closed, failed, or its time ran out)."""
        peer = self.peers.pop(cid, None)
        if peer is None or peer.closed:
            return
        peer.closed = True
        self._sealed.discard(cid)
        self.outbox.close(cid)
        self.deadlines.forget(cid)
        self.pacer.forget(cid)
        self.guard.forget(peer)
        self.release(cid)
        if cid in self._first:  # the host or a bot never made it in: the others go ahead
            if cid == self._first[0]:
                self._first_joined()
            else:
                self._first.remove(cid)
        if cid in self.room.members and not self.shutting_down:
            name = self.who(cid)
            self._leave(cid, "lost")
            self.log(f"{name} lost connection")
        else:
            if cid not in self.room.members:  # never joined: what the room noted of it goes (no actions)
                self.room.leave(cid, "lost")
            self.perform(self._files_forget(cid))  # its uploads stop, its downloads end

    def internal_error(self, cid: int, exc: Exception) -> None:
        """A bug met while serving one connection ends that connection, not the chat: the
        others carry on and are told it left. Tests fail on any (internal_errors)."""
        self._keep_traceback(exc)
        self.log(f"internal error while serving {self.who(cid)} ({type(exc).__name__}: {exc}); disconnecting them")
        try:
            self.close(cid)
        except Exception as again:  # noqa: BLE001 - the loop must go on for everyone else
            self._keep_traceback(again)

    def _keep_traceback(self, exc: BaseException) -> None:
        """Count a bug survived; keep its traceback if it is one of the first few."""
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
                outbox.broadcast(self._unsealed(action.to) if self._sealed else action.to, action.frame, notice=action.notice)
            elif isinstance(action, Keep):  # its Broadcast, and all after it, wait for the commit
                self.history.keep(action.event, action.sender_owner, action.recipient_owner)
                self._uncommitted = [action]
            elif isinstance(action, Send) and action.to in peers:
                self._send(peers[action.to], action.event)
            elif isinstance(action, Close) and action.who in peers:
                peers[action.who].said_bye |= action.bye
                self._closing(peers[action.who])
            elif isinstance(action, Replay):
                self._replay(action)
            elif isinstance(action, ShowOffers):  # after the replay: what a newcomer may /get
                self.perform(self.files.offers_for(action.to, action.resumed, self.room.name_of(action.to)))
            elif isinstance(action, STATE_CHANGES):  # bans, names' owners, the topic...: they survive a restart
                self._change(action, actions)
            elif isinstance(action, (Seen, Log)):  # who saw what, a log line
                self.history.record(action)
            elif isinstance(action, SayText):  # a text participant's own answer, in its place
                outbox.queue_text(action.to, action.data)
            elif isinstance(action, LogRefusal) and action.who in peers:  # a full room's refusal, once per storm
                peer = peers[action.who]
                self.guard.refused(peer, action.refusal, self.clock(), f"{action.name} from {peer.address}")

    def _send(self, peer: Peer, event: ev.Event) -> None:
        """One event to one connection, through its protocol state machine."""
        try:
            frame = peer.proto.send(event)
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
        sent to it at once (``_send_broadcast``) still ends in ``_flushed_closing``."""
        peer.closing = True
        queue = self.outbox.queues.get(peer.cid)
        if queue is not None:
            queue.closing = True

    def _over_limit(self, cid: int) -> None:
        """A reader that stops reading must not stall the room or eat the server's memory."""
        peer = self.peers.get(cid)
        if peer is None or peer.closing:
            return
        self.log(f"{self.who(cid)}: not reading ({self.outbox.queues[cid].out_bytes} bytes queued); dropping")
        self.outbox.discard(cid)
        self._mark_closing(peer)
        note = ev.Error(code=ev.E_TOO_SLOW, message="you were dropped: not reading fast enough", fatal=True)
        self._send(peer, note)
        self._sealed.add(cid)
        self._leave(cid, "dropped")

    def _change(self, action: Action, actions: list[Action]) -> None:
        """Keep ``action`` in the history (PROTOCOL.md, When the file fails). One it cannot take
        yet (a full disk) waits, in order, and is saved as soon as it can be (HistoryPolicy.change);
        a ban, mute, name claim or release that waits is said to whoever made it, after the ``actions`` it
        came with (appended: a claim on joining comes before the welcome, and nothing may come
        before that), and said again once it is saved (``_saved``)."""
        write, slot = _store_write(action)
        told = self._unsaved_words(action)
        cid, problem, saved_note = told if told is not None else (None, "", "")
        if not self.history.change(write, slot=slot, told=cid, saved_note=saved_note) and cid is not None:
            actions.append(Send(to=cid, event=ev.Error(code=ev.E_HISTORY, message=problem)))

    def _unsaved_words(self, action: Action) -> tuple[int | None, str, str] | None:
        """Who is told that ``action`` is not saved yet, in what words, and what they are told once
        it is; None: a change nobody is told of one by one (the host heard the history's warning)."""
        if isinstance(action, (StoreBan, StoreMute)):
            what, by = (f"the ban on {action.ban.name}", action.ban.by) if isinstance(action, StoreBan) else (
                f"the mute on {action.mute.name}", action.mute.by)  # fmt: skip
            maker = self.room.find(by)
            told, head, undo, kept = maker.cid if maker is not None else self.room.host_cid, f"{what} ", "lifts it", f"{what} holds"
        elif isinstance(action, Claim) and action.owner is not None:
            owner = self.room.find(action.name)
            yours = f"your key owns the name {action.name}"
            told, head, undo, kept = owner.cid if owner is not None else None, f"{yours}, but that ", "frees the name for anyone", yours
        elif isinstance(action, Claim) and action.by is not None:  # a release: the host's /release, or a key's oldest name
            free = f"the name {action.name} is free"
            told, head, undo, kept = action.by, f"{free}, but that ", "gives it back to the key that owned it", (
                f"the name {action.name} stays free")  # fmt: skip
        else:
            return None
        store = self.history.store
        if store is not None and not store.writable:  # an archive (read-only when the server started): never saved
            return told, f"{head}holds only until the server stops: the history file is read-only, so a restart {undo}", ""
        problem = f"{head}is not saved yet: the history cannot be written; it is saved as soon as it can be, and a restart before then {undo}"
        return told, problem, f"{kept} after a restart too"

    def _saved(self, saved: list[Unsaved]) -> None:
        """Changes that waited are saved now: whoever was told a restart would undo one hears,
        once, in one line, that it will not (the rest: the log, HistoryPolicy._announce)."""
        notes: dict[int, list[str]] = {}
        for entry in saved:
            if entry.told is not None and entry.told in self.peers:
                notes.setdefault(entry.told, []).append(entry.saved_note)
        for cid, lines in notes.items():
            more = f"; and {len(lines) - 3} more of yours" if len(lines) > 3 else ""
            text = "saved now: " + "; ".join(lines[:3]) + more  # good news: a notice, not an error
            self.perform([Send(to=cid, event=ev.Notice(code=ev.E_HISTORY, message=text))])

    def _warn(self, problem: str) -> None:
        """The history store failed (said once): the log and the host hear it."""
        self.log(problem)
        self._tell_host(problem)

    def _tell_host(self, line: str) -> bool:
        """A history notice for the host's screen (a hosting teacher never sees the log); False:
        no host is in the room (a headless server, or the host not joined yet)."""
        if self.room.host_cid is None:
            return False
        self.perform([Send(to=self.room.host_cid, event=ev.Error(code=ev.E_HISTORY, message=line))])
        return True

    def _replay(self, action: Replay) -> None:
        """Queue history to one connection like any other output, within half the queue limit,
        so a long replay can never get the newcomer dropped as a slow reader."""
        cid = action.to
        if cid not in self.peers or self.history.store is None:
            return
        peer = self.peers[cid]
        person = person_of(action.name, action.owner, peer.ip)  # not the connection: a reconnect does not refill
        if peer.history_person not in (None, person):  # a guest's /nick since: the bucket goes with them
            self.history.allowance.carry(peer.history_person, person)
        peer.history_person = person
        if not action.joining and not self.history.allowance.allowed(person, action.limit, live=len(self.peers)):
            busy = ev.Error(code=ev.E_HISTORY, message="too much /history at once; try again in a moment")
            self.perform([Send(to=cid, event=busy)])
            return
        budget = max(self.outbox.max_queue_bytes // 2 - self.outbox.queued_bytes(cid), 0)
        for frame in self.history.replay_frames(action, budget=budget):
            self.outbox.queue(cid, frame)

    # ---------------------------------------------------------------- the pass

    def flush(self, writers: Mapping[int, Writer]) -> None:
        """One pass's writing: history stored first (PROTOCOL.md, History replay), due notices
        join in, each dirty queue gets one write through its ``Writer`` (the loop's socket), and
        write interest follows what is left (or a download: writable means "top it up")."""
        self._commit_pass()
        outbox = self.outbox
        broadcast = outbox.take_broadcast()
        if broadcast is not None:
            self._send_broadcast(*broadcast, writers)
        outbox.release_notices()
        write = outbox.flush
        peers = self.peers
        downloads = self.files.downloads  # empty: nobody downloads, no need to ask per connection
        finishing = self.pacer.finishing  # (nor, empty, whether a download's last piece went out)
        wants_to_send = self.files.wants_to_send
        while outbox.dirty:
            for queue in outbox.take_dirty():
                cid = queue.cid
                writer = writers.get(cid)
                if writer is None:
                    continue
                try:
                    sent = write(queue, writer.send)
                    if queue.out:
                        self.backlog_unchecked = True
                        if sent:
                            self.guard.moved(cid)  # a backlog that drains (the not-reading rule)
                    if downloads or finishing:  # its link's pace (DownloadPace); a download's last piece out
                        self.pacer.wrote(cid, sent)
                except OSError:
                    self.close(cid)
                    continue
                peer = peers.get(cid)
                if peer is None:
                    continue
                if peer.closing:
                    self._flushed_closing(queue, writer)
                    continue
                writing = bool(queue.out) or (bool(downloads) and wants_to_send(cid))  # writable: top it up
                if writing is not writer.writing:
                    writer.set_writing(writing)
            if outbox.pending_frames:  # a slow reader dropped while flushing is announced to the rest
                outbox.materialize()

    def _send_broadcast(self, data: bytes, targets: tuple[Queue, ...], writers: Mapping[int, Writer]) -> None:
        """A chat message's hot path: ``data`` written at once to every recipient with nothing
        waiting, each send right after the last; a recipient with a queue, or whose socket took
        less, keeps it (or the rest) queued behind what waits, for the loop below."""
        size = len(data)
        keep, dirty = self.outbox.keep, self.outbox.dirty
        broken: list[int] = []
        for queue in targets:
            writer = None if queue.out else writers.get(queue.cid)
            if writer is None:
                keep(queue, data)
                dirty.add(queue)
                continue
            try:
                sent = writer.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                broken.append(queue.cid)
                continue
            if sent != size:  # the socket is full: the rest goes when it says it is writable
                keep(queue, data, sent)
                self.backlog_unchecked = True
                if not writer.writing:
                    writer.set_writing(True)
            elif queue.closing:
                dirty.add(queue)  # its close follows in the loop (_flushed_closing)
        for cid in broken:
            self.close(cid)

    def _commit_pass(self) -> None:
        """Store this pass's messages, then perform what waited for that. A message that could
        not be stored is not delivered: its sender is told (E_HISTORY, not fatal); everything
        else goes on as usual, and the next pass tries again (PROTOCOL.md, History replay)."""
        held, self._uncommitted = self._uncommitted, None
        self.pacer.held_for.clear()  # what waited is performed below, before the pacer's next chunks
        stored = self.history.commit()
        if held is None:
            return
        then: list[Action] = []
        refused: Keep | None = None
        for action in held:
            if type(action) is Said:  # a run of says (Hub.say): its frames, or a refusal each
                if not stored:
                    for time_, text in zip(action.times, action.texts, strict=True):
                        then += self._not_stored(ev.Message(sender=action.sender, text=text, time=time_))
                    continue
                if then:  # what was held before it goes first
                    self.perform(then)
                    then = []
                self.outbox.broadcast_frames(self._unsealed(action.to) if self._sealed else action.to, action.frames)
            elif isinstance(action, Keep):  # kept already (perform)
                refused = None if stored else action
            elif refused is not None and isinstance(action, Broadcast):
                then += self._not_stored(refused.event)  # instead of its delivery, the Broadcast after it
                refused = None
            else:
                then.append(action)
        if then:
            self.perform(then)

    def _unsealed(self, to: tuple[int, ...]) -> tuple[int, ...]:
        """``to`` without the connections a fatal error has ended: nothing follows that error."""
        return tuple(cid for cid in to if cid not in self._sealed)

    def _not_stored(self, event: ev.Message | ev.Direct | ev.Emote) -> list[Action]:
        """Tell the sender that ``event`` was not sent: the history could not store it."""
        sender = self.room.find(event.sender)
        if sender is None:
            return []
        said = f"/me {event.text}" if type(event) is ev.Emote else event.text  # as they typed it
        text = said if len(said) <= 40 else said[:39] + "…"
        to = f" to {event.to}" if isinstance(event, ev.Direct) else ""
        # why, in the sender's words: nobody got it (stored before sent), and whether the server's disk is full
        why = "the server's disk is full, so the history cannot save it" if self.history.disk_full else "the history cannot be written"
        problem = f"not sent{to}: {text!r}: {why} (nobody got it); try again in a moment"
        return [Send(to=sender.cid, event=ev.Error(code=ev.E_HISTORY, message=problem))]

    def _flushed_closing(self, queue: Queue, writer: Writer) -> None:
        """A closing connection has linger_seconds to read the rest; all out: the loop sends FIN.
        One that said bye has no rest: it is closed once all is out (a TLS client cannot send a
        FIN behind its bye, so waiting for one made both ends wait out their linger)."""
        self.deadlines.linger(queue.cid)
        if bool(queue.out) is not writer.writing:
            writer.set_writing(bool(queue.out))
        if not queue.out:
            writer.finish()
            peer = self.peers.get(queue.cid)
            if peer is not None and peer.said_bye:
                self.deadlines.linger(queue.cid, at_once=True)

    def _drop_file_pieces(self, cid: int) -> None:
        """At a shutdown: the download's pieces queued for ``cid`` are of no use now (the client
        drops an unfinished file), and the notice must not wait behind them: a frozen laptop's
        full buffers let none of them out in the 2 s flush, and it then read file bytes and the
        end of the stream, not the notice (tests/test_bad_link.py). Chat queued among them stays,
        and so does what a write began or was offered (outbox.discard's rule)."""
        self.outbox.materialize()
        queue = self.outbox.queues.get(cid)
        if queue is None:
            return
        kept = max(int(queue.head_partial), queue.offered)
        queue.out[kept:] = [frame for frame in queue.out[kept:] if not is_file_piece(frame)]
        queue.out_bytes = sum(map(len, queue.out))

    # ------------------------------------------------------------------ timers

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
        if self.backlog_unchecked:  # the guard's next look at it (the not-reading rule)
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
        self.expire_from = check if due is None or check < due else due
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
            if self.backlog_unchecked:  # looked at: still a reason to look again?
                self.backlog_unchecked = any(queue.out for queue in self.outbox.queues.values())
        if guard.refusals.storms:  # a connection storm's count, once its time is up
            guard.log_refusals(now)
        # a turn nobody took moves on (serve --turn-timeout)
        if self.room.turn_timeout is not None and (ticked := moderation_tick(self.room)):
            self.perform(ticked)
        if self.room.moderation.ban_tries:  # a banned person's tries held back, told with their count
            self.perform(ban_tries_due(self.room))
        if self.room.moderation.full_tries is not None:  # tries at a full room held back, told with their count
            self.perform(full_tries_due(self.room))
        if self.room.moderation.mutes:  # a mute that is over goes, from the history file too
            self.perform(mutes_ended(self.room))
        if self.files.timed:
            self.perform(self.files.drop_stalled())  # an upload that stalled frees its quota; a lost recipient's files
        self.history.move_due()  # the journal into SQLite, in batches (history.py)

    def _expire_connections(self) -> None:
        lingered, expired = self.deadlines.due()
        for cid in lingered:
            self.close(cid)
        seconds = self.deadlines.handshake_seconds
        for cid, kind, why in expired:
            peer = self.peers.get(cid)
            if peer is None or peer.closing:
                continue
            was_held = bool(peer.held)  # its hello came, and waited for the room to open
            peer.held.clear()  # whatever waited for the host is not read now
            peer.held_bytes = 0
            if cid in self.room.members:  # a member who started a frame and never finished it (a long stall)
                why = f"a frame was started but not finished within {self.deadlines.member_frame_seconds:g} seconds"
                self.log(f"{self.who(cid)}: {why}; disconnecting")
                self._leave(cid, "lost")
                self._refuse(peer, ev.E_DEADLINE, why)
            elif kind == lim.HELLO and was_held:  # not the newcomer's fault: "no hello" would blame it
                self.log(f"{peer.address}: held {seconds:g} s while the room was starting; disconnecting")
                awaited = "its host" if self._first and self._first[0] == self.room.host_cid else "its own bot"
                self._refuse(peer, ev.E_HELLO_FIRST, f"the room did not open within {seconds:g} s ({awaited} is not in yet): "
                                                     "try again in a moment")
            elif kind == lim.HELLO:  # (a prompted one, unanswered, is a deadline: PROTOCOL.md 4)
                self.log(f"{peer.address}: no hello within {seconds:g} s; disconnecting")
                self._refuse(peer, ev.E_HELLO_FIRST, f"no hello within {seconds:g} s")
            else:
                self.log(f"{peer.address}: {why}; disconnecting")
                self._refuse(peer, ev.E_DEADLINE, why)

    # ---------------------------------------------------------------- shutdown

    def shutdown(self, reason: str, *, final: bool = False) -> None:
        """Seed 003: everyone gets the shutdown notice first; the loop then flushes and closes.
        ``final``: the host ended the chat, it will not be back (PROTOCOL.md 8)."""
        self.shutting_down = True
        self.guard.log_refusals(math.inf)  # a storm still being counted is not left out of the log
        self.log(f"shutting down: {reason}")
        self._commit_pass()  # this pass's messages go out (or are refused) before the notice
        self.history.stopping()  # a ban made on a full disk is saved if there is room now
        for cid, member in self.room.members.items():  # they saw everything up to now
            if cid not in self.room.service_cids:
                self.history.mark_seen(member.name)
        notice = ev.Shutdown(reason=reason, final=final)
        for peer in list(self.peers.values()):
            if peer.cid in self.pacer.started:  # the notice jumps a download's queued pieces
                self._drop_file_pieces(peer.cid)
            self._send(peer, notice)
            self._mark_closing(peer)
