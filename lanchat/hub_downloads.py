"""hub_downloads.py: the one pacing rule for downloads, as the hub applies it. Never touches a socket.

A download's chunks are queued to its reader only while that reader has little waiting
(``DownloadPacer.top_up``), so a 50 MB file never sits in one queue and a chat line waits
behind a fraction of a second of it; how much may wait follows the reader's link, measured
(``DownloadPace``). A download counts as fetched, its offerer told, once its last byte is
written (``DownloadPacer.wrote``; PROTOCOL.md, Who fetched it). The file store
(server_files.py) hands out the chunks; the hub (hub.py) sends them and flushes the queues.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from . import events as ev
from .outbox import Outbox, Queue

if TYPE_CHECKING:  # the file store is an edge the hub is handed; a peer is the hub's
    from .hub_connections import Peer
    from .server_files import ServerFiles

# Download chunks are queued only while a reader has less than this waiting, so a 50 MB file
# never sits in one queue, chat frames wait behind at most this much, and the slow-reader
# limit (hub.DEFAULT_MAX_QUEUE_BYTES) is never reached by a download alone (PROTOCOL.md, File transfer).
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
        send: Callable[[Peer, ev.Event, bytes | None], None],
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
                    send(peer, piece, self.files.frame_of(piece))  # a kept piece's frame, made once
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
                self.send(owner, news.event, None)

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
