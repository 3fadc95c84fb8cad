"""outbox.py: what waits to be written to each connection, and when. Never touches a socket.

One ``Queue`` of encoded frames per connection. The server loop asks for ``dirty`` queues once
per pass and hands each to ``flush(queue, send)`` with its socket's ``send``; tests hand in a
function that takes as many bytes as they like. The rules kept here, each in one place:

* one write per connection per pass: what is queued (up to FLUSH_BYTES) is written at once,
  gathered by the kernel from where it lies (sendmsg) or joined for a send;
* a broadcast is encoded once and costs nothing per recipient until the flush: the frames of
  one pass wait in ``pending_frames`` and are joined once; at the flush the hub writes them at
  once to each recipient with nothing waiting (``take_broadcast``, a chat message's hot path)
  and the rest get them appended behind what waits (``keep``); anything else queued first
  appends them to every recipient's queue (``materialize``), so every queue keeps the order
  things happened in;
* join and leave notices in a big room wait up to NOTICE_DELAY_SECONDS to go out together;
* a frame cut short by a partial send keeps its unsent tail at the head of the queue, and
  ``discard`` never drops it (half a frame would garble every byte after it), nor what a write
  that took nothing was offered (a TLS socket must be offered it again: tls.TlsSender);
* a queue past ``max_queue_bytes`` is a reader that does not keep up: ``over_limit(cid)`` is
  called, and the caller decides what to do (the hub drops that reader).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from itertools import islice

FLUSH_BYTES = 256 * 1024  # at most this much is joined for one send(), so a long queue is not re-copied
# Join and leave notices to fewer go out at once (the wait below pays off only in a big room).
# Everything else broadcast, to a whisper's two or a room of 500, takes the pending-frames path:
# one append per message, one join per pass (a small room's chat is its hot path too).
FANOUT_CACHE_MIN = 8
# Join and leave notices wait at most this long to go out together (actions.Broadcast.notice):
# a class of 500 joining at once then costs a few writes per person instead of one per join.
# Anything else sent to a person takes their waiting notices along at once, in order.
NOTICE_DELAY_SECONDS = 0.05
# A write of this much or more goes to sendmsg, the kernel reading the frames where they are
# queued: joining a download's 256 KiB a pass only for the kernel to copy it again cost a plain
# class transfer about a sixth of its CPU (bench/README.md, "thirty-fourth session"). Less is
# joined: for a few chat lines a join is cheaper than sendmsg's list (0.5-1.7 us a write more).
GATHER_FROM_BYTES = 32 * 1024
GATHER_MAX = 64  # frames to one sendmsg at most (Linux takes 1,024 buffers a call); more are joined
# A socket that encrypts what it is handed (TLS) is given frames as they are queued, never a copy
# made only for it: a frame of this size or more (a download's piece) goes alone, smaller ones
# (chat) are joined up to this, one record's worth, so a burst of lines is not a record each.
JOIN_BELOW_BYTES = 16 * 1024


class Queue:
    """One connection's frames waiting to be written; ``out[0]`` may be a frame's unsent tail."""

    __slots__ = ("cid", "out", "out_bytes", "head_partial", "offered", "render", "closing")

    def __init__(self, cid: int) -> None:
        self.cid = cid
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.head_partial = False  # out[0] is the rest of a frame already partly sent
        # The first ``offered`` chunks went to a write that took nothing: a TLS socket holds
        # them to be offered again, unchanged (tls.TlsSender), so discard keeps them.
        self.offered = 0
        # A text participant's (textline.py): frames -> the lines they read. None for lanchat
        # clients, whose frames go out as they are.
        self.render: Callable[[bytes], bytes] | None = None
        self.closing = False  # the hub closes it once all is out (hub.Hub._mark_closing)

    def __repr__(self) -> str:
        return f"Queue(cid={self.cid}, frames={len(self.out)}, bytes={self.out_bytes})"


class Outbox:
    """Every connection's queue, the broadcast fan-out and the notice deadline."""

    def __init__(
        self,
        *,
        max_queue_bytes: int,
        over_limit: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        notice_delay: float = NOTICE_DELAY_SECONDS,
        flush_bytes: int = FLUSH_BYTES,
    ) -> None:
        self.max_queue_bytes = max_queue_bytes
        self.over_limit = over_limit or (lambda cid: None)
        self.clock = clock
        self.notice_delay = notice_delay
        self.flush_bytes = flush_bytes
        self.queues: dict[int, Queue] = {}
        self.dirty: set[Queue] = set()  # to be flushed this pass
        self.deliveries = 0  # frames queued to connections, for benchmarks and tests
        # The queues behind the last big broadcast's ``to`` tuple. The room hands out the same
        # tuple object until someone joins or leaves, so a chat message looks up 500 ids once
        # per membership change instead of once per message (bench/README.md, profile).
        self._fanout_key: tuple[int, ...] | None = None
        self._fanout_targets: tuple[Queue, ...] = ()
        self._fanout_text: tuple[Queue, ...] = ()  # text participants among them (speak_text)
        self._speak_text: set[int] = set()  # every text participant's id: none (a class of lanchat clients), no search
        # Frames broadcast to all of _fanout_targets, in order, not yet in their queues (empty:
        # materialize() has nothing to do, and the hub's flush does not call it).
        self.pending_frames: list[bytes] = []
        self._pending_urgent = False  # pending_frames holds more than notices
        self._noticed: set[Queue] = set()  # have notices queued that wait for notice_deadline
        self.notice_deadline: float | None = None

    # ------------------------------------------------------------ connections

    def open(self, cid: int) -> Queue:
        queue = self.queues[cid] = Queue(cid)
        return queue

    def close(self, cid: int) -> None:
        """Connection ``cid`` is gone: forget its queue (what it held is never sent)."""
        self.materialize()  # the pending frames were for the recipients as they were
        queue = self.queues.pop(cid, None)
        self._fanout_key = None  # the cached recipients include this connection
        self._speak_text.discard(cid)
        if queue is not None:
            self.dirty.discard(queue)
            self._noticed.discard(queue)

    def queued_bytes(self, cid: int) -> int:
        """How much is waiting for ``cid``, this pass's broadcasts included."""
        self.materialize()
        queue = self.queues.get(cid)
        return queue.out_bytes if queue is not None else 0

    # --------------------------------------------------------------- queueing

    def speak_text(self, cid: int, render: Callable[[bytes], bytes]) -> None:
        """Connection ``cid`` is a text participant: every frame for it goes through ``render``."""
        self.materialize()
        queue = self.queues.get(cid)
        if queue is not None:
            queue.render = render
            self._speak_text.add(cid)
            self._fanout_key = None  # rebuild the fan-out split below

    def queue_text(self, cid: int, data: bytes) -> None:
        """Queue bytes already rendered for a text participant (a prompt, an answer of its own)."""
        queue = self.queues.get(cid)
        if queue is None or not data:
            return
        self.materialize()  # this pass's broadcasts first, rendered: with render unset they would be skipped
        render, queue.render = queue.render, None
        try:
            self.queue(cid, data)
        finally:
            queue.render = render

    def queue(self, cid: int, frame: bytes, *, check_limit: bool = True) -> None:
        """Queue one frame to one connection, after everything queued before it; past the limit,
        ``over_limit`` (``check_limit`` False: the caller checks, once it has queued to all)."""
        queue = self.queues.get(cid)
        if queue is None:
            return
        if self.pending_frames:
            self.materialize()  # what was broadcast before this frame goes out before it
        if queue.render is not None:
            frame = queue.render(frame)
            if not frame:
                return
        queue.out.append(frame)
        queue.out_bytes += len(frame)
        self.deliveries += 1
        self.dirty.add(queue)
        if check_limit and queue.out_bytes > self.max_queue_bytes:
            self.over_limit(cid)

    def broadcast(self, to: tuple[int, ...], frame: bytes, *, notice: bool = False) -> None:
        """Queue one encoded frame to many: the hot path of a busy room, so it does nothing per
        recipient until the flush. The limit is checked at the flush, after a write."""
        if notice and len(to) < FANOUT_CACHE_MIN:
            for cid in to:  # a small room's join or leave goes out at once, not after a wait
                self.queue(cid, frame, check_limit=False)
            # The limit once everyone has it: a reader dropped halfway (the room told at once)
            # could put a later one past it, which this loop would then queue to after its
            # fatal error (PROTOCOL.md 4), and some would read the two drops in the other order.
            for cid in to:
                queue = self.queues.get(cid)
                if queue is not None and queue.out_bytes > self.max_queue_bytes:
                    self.over_limit(cid)
            return
        if to is not self._fanout_key:
            self.materialize()
            # filter(None, ...) drops ids with no queue (already gone), at C speed
            targets = tuple(filter(None, map(self.queues.get, to)))
            # Text participants (rare) get their lines made once per broadcast, apart, so the
            # loop over everyone else stays as it was. None connected: no pass over 500 queues
            # to find none, at every join, leave and kick (bench/room_scale_bench.py).
            self._fanout_text = tuple(q for q in targets if q.render is not None) if self._speak_text else ()
            self._fanout_targets = tuple(q for q in targets if q.render is None) if self._fanout_text else targets
            self._fanout_key = to
        self.pending_frames.append(frame)
        if not notice:
            self._pending_urgent = True
        elif self.notice_deadline is None:
            self.notice_deadline = self.clock() + self.notice_delay
        self.deliveries += len(self._fanout_targets) + len(self._fanout_text)

    def broadcast_frames(self, to: tuple[int, ...], frames: list[bytes]) -> None:
        """``broadcast`` each of ``frames`` to ``to``, in order, none a notice: a run of one
        member's messages (hub.py, ``Hub.say`` with history), one call for the run."""
        if not frames:
            return
        # Joined now rather than in materialize(): the same bytes in the same place, one frame each
        self.broadcast(to, frames[0] if len(frames) == 1 else b"".join(frames))
        self.deliveries += (len(frames) - 1) * (len(self._fanout_targets) + len(self._fanout_text))

    def materialize(self) -> None:
        """Put the pending broadcast frames, joined once, at the end of each recipient's queue."""
        frames = self.pending_frames
        if not frames:
            return
        self.pending_frames = []
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        size = len(data)
        targets = self._fanout_targets
        for queue in targets:
            queue.out.append(data)
            queue.out_bytes += size
        if self._fanout_text:
            self._queue_rendered(data)
            targets = targets + self._fanout_text
        if self._pending_urgent:
            self.dirty.update(targets)
        else:
            self._noticed.update(targets)  # flushed at notice_deadline, or with anything sooner
        self._pending_urgent = False

    def take_broadcast(self) -> tuple[bytes, tuple[Queue, ...]] | None:
        """This pass's broadcast frames, joined once, and the lanchat clients they are for, if
        any of them is more than a notice: the hub sends them at once to each recipient whose
        queue is empty (``Hub.flush``) and hands the rest to ``keep``. None: nothing pending, or
        only notices, which were queued the usual way (they wait for ``notice_deadline``).
        Text participants get their lines queued here, as ``materialize`` does."""
        frames = self.pending_frames
        if not frames:
            return None
        if not self._pending_urgent:
            self.materialize()
            return None
        self.pending_frames = []
        self._pending_urgent = False
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        if self._fanout_text:
            self._queue_rendered(data)
            self.dirty.update(self._fanout_text)
        return data, self._fanout_targets

    def keep(self, queue: Queue, data: bytes, sent: int | None = None) -> None:
        """``data`` goes to ``queue`` after what it holds, less the ``sent`` bytes already written
        (``take_broadcast``; None: it was not offered to the socket): the rest waits for the next
        write, the limit checked then."""
        if sent is not None:  # only ever offered to an empty queue's socket: what is left is its head
            if sent:
                data = data[sent:]
                queue.head_partial = True
            else:  # refused whole: a TLS socket holds it to be offered again
                queue.offered = 1
        queue.out.append(data)
        queue.out_bytes += len(data)

    def _queue_rendered(self, data: bytes) -> None:
        """The text participants' lines of broadcast ``data``, each made once, queued."""
        for queue in self._fanout_text:
            if queue.render is None:
                continue
            lines = queue.render(data)
            if lines:
                queue.out.append(lines)
                queue.out_bytes += len(lines)

    def discard(self, cid: int) -> None:
        """Forget what is queued for ``cid``, except the tail of a frame already begun (a frame
        cut short would garble every byte after it, the farewell notice included) and what a
        write that took nothing was offered (a TLS socket offers that again first)."""
        self.materialize()
        queue = self.queues.get(cid)
        if queue is None:
            return
        queue.out = queue.out[: max(queue.head_partial, queue.offered)]
        queue.out_bytes = sum(map(len, queue.out))

    def release_notices(self) -> None:
        """Waiting notices whose time has come join this pass's flush."""
        if self.pending_frames:
            self.materialize()
        if self.notice_deadline is not None and self.clock() >= self.notice_deadline:
            self.dirty.update(self._noticed)
            self._noticed.clear()
            self.notice_deadline = None

    def take_dirty(self) -> Iterable[Queue]:
        """The queues to flush now (the set is emptied: flushing may dirty others)."""
        dirty, self.dirty = self.dirty, set()
        return dirty

    # ---------------------------------------------------------------- writing

    def flush(
        self,
        queue: Queue,
        send: Callable[[bytes], int],
        pieces: int = 0,
        gather: Callable[[list[bytes]], int] | None = None,
    ) -> int:
        """One write of what ``queue`` holds through ``send`` (a socket's send: it may take
        fewer bytes, or raise BlockingIOError for none). Returns the bytes written; an OSError
        other than "try again" is the caller's. Past the limit afterwards: ``over_limit``.
        ``pieces``: ``send`` encrypts what it is handed (TLS), up to this much a pass, in
        frames as queued (``_flush_pieces``); 0: one write of up to flush_bytes, through
        ``gather`` (a socket's sendmsg: the kernel reads the frames where they are) when given,
        for GATHER_FROM_BYTES or more in at most GATHER_MAX frames, else joined for ``send``."""
        out = queue.out
        sent = 0
        if pieces:
            sent = _flush_pieces(queue, send, pieces)
        elif out:
            if queue.out_bytes <= self.flush_bytes:
                batch, size = len(out), queue.out_bytes  # the usual case: everything queued goes in one write
            else:
                batch = size = 0
                for chunk in out:  # one write per pass, of up to flush_bytes of queued frames
                    batch += 1
                    size += len(chunk)
                    if size >= self.flush_bytes:
                        break
            try:
                if batch == 1:
                    sent = send(out[0])
                elif gather is not None and size >= GATHER_FROM_BYTES and batch <= GATHER_MAX:
                    sent = gather(out[:batch])
                else:
                    sent = send(b"".join(out[:batch]))
            except (BlockingIOError, InterruptedError):
                sent = 0
                queue.offered = batch
            if sent == size and batch == len(out):
                out.clear()  # no per-frame bookkeeping when everything went
                queue.out_bytes = 0
                queue.head_partial = False
                queue.offered = 0
            elif sent:
                queue.offered = 0
                _sent_part(queue, sent, batch)
        if queue.out_bytes > self.max_queue_bytes:
            self.over_limit(queue.cid)  # still this much unsent after a write: it is not reading
        return sent


def _flush_pieces(queue: Queue, send: Callable[[bytes], int], pieces: int) -> int:
    """``Outbox.flush`` for a TLS socket: frames go to OpenSSL as they are queued, one send
    after another while they fit in ``pieces`` bytes (one at least) and the socket takes them.
    A frame of JOIN_BELOW_BYTES or more goes alone (OpenSSL makes its records of it directly),
    smaller ones are joined with the small ones after them up to that size. Joining everything
    up to flush_bytes, as for a plain socket, copied a download's every byte about twice, only
    for OpenSSL to copy it again (bench/README.md, "A file to the whole class over TLS"). A send
    that took nothing is offered the same frames again first (``offered``: tls_server.TlsSender's
    rule), as the batch below is the same greedy prefix of a queue that only grows at its end."""
    out = queue.out
    total = 0
    while out:
        batch, size = 1, len(out[0])
        if size < JOIN_BELOW_BYTES:
            for frame in islice(out, 1, None):
                if size + len(frame) > JOIN_BELOW_BYTES:
                    break
                size += len(frame)
                batch += 1
        if total and total + size > pieces:
            break  # the next goes next pass: a pass's writes stay within ``pieces`` (chat waits behind them)
        data = out[0] if batch == 1 else b"".join(out[:batch])
        try:
            sent = send(data)
        except (BlockingIOError, InterruptedError):
            queue.offered = batch
            break
        total += sent
        queue.offered = 0
        if sent != size:
            _sent_part(queue, sent, batch)
            break
        del out[:batch]
        queue.out_bytes -= size
        queue.head_partial = False
    return total


def _sent_part(queue: Queue, sent: int, batch: int) -> None:
    """``sent`` bytes of the first ``batch`` queued chunks went out: drop the frames that
    went out whole; keep the unsent tail of one cut short and remember that it is a tail,
    so discard never leaves half a frame behind."""
    out = queue.out
    queue.out_bytes -= sent
    done = 0
    while done < batch and sent >= len(out[done]):
        sent -= len(out[done])
        done += 1
    if done:
        del out[:done]
        queue.head_partial = False
    if sent:
        out[0] = out[0][sent:]
        queue.head_partial = True
