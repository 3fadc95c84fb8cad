"""hub_flush.py: one pass's writing, from the history's commit to the sockets. Never touches a socket itself.

Once a loop pass, the hub's (hub.py) ``flush(writers)`` is ``Flush.flush``:

1. the pass's messages are stored (``_commit_pass``: the history's commit), and only then
   delivered; a message that could not be stored is refused to its sender, never delivered
   (PROTOCOL.md, History replay), and what waited behind it is performed in order;
2. a chat line's broadcast is written at once to every recipient with nothing waiting
   (``_send_broadcast``: the same bytes to each, encoded once);
3. every queue with something new gets one write through its ``Writer`` (the loop's socket),
   and write interest follows what is left (or a download: writable means "top it up");
   a closing connection is sent its FIN once all is out (``_flushed_closing``).

``shutdown`` is the last such pass's start: the notice to everyone, ahead of any download's
queued pieces. This is the message path's end (say -> store -> broadcast): the loops here
run per recipient, so nothing is added to them (bench/hub_bench.py measures it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from . import events as ev
from .actions import Action, Broadcast, Keep, Said
from .outbox import Queue
from .wire import BINARY_MARK, HEADER_BYTES

if TYPE_CHECKING:
    from .hub import Hub


class Writer(Protocol):
    """What the hub needs of one connection's socket to flush it (server.Client is one)."""

    writing: bool  # the loop is watching for writability
    pieces: int  # TLS: send() encrypts what it is handed, up to this much a pass (Outbox.flush); 0: plain
    gather: Callable[[list[bytes]], int] | None  # a plain socket's sendmsg (None: TLS, or none here)

    def send(self, data: bytes) -> int: ...  # as socket.send: may take fewer bytes, or raise

    def set_writing(self, writing: bool) -> None: ...  # ask for writability, or stop asking

    def finish(self) -> None: ...  # everything is out on a closing connection: send FIN


def is_file_piece(frame: bytes) -> bool:
    """Is this queued frame a download's data (a binary ``file-bytes``, or a JSON ``file-data``)?
    Each is queued alone (DownloadPacer.top_up), so a queue entry is one whole piece or none."""
    return len(frame) > HEADER_BYTES and (
        frame[HEADER_BYTES] == BINARY_MARK or frame.startswith(b'{"type":"file-data"', HEADER_BYTES))


def unsealed(to: tuple[int, ...], sealed: set[int]) -> tuple[int, ...]:
    """``to`` without the connections a fatal error has ended (``sealed``): nothing follows that error."""
    return tuple(cid for cid in to if cid not in sealed)


class Flush:
    """One pass's writing for the ``hub``: commit, broadcast, then each dirty queue's write."""

    # A queue may hold what its socket would not take since the guard last looked: the loop
    # must wake for its next look (Expiry.next_deadline), or a reader that stopped reading in a
    # quiet room was never found out (the not-reading rule ran only when something else woke the loop).
    backlog_unchecked = False

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        # the parts used once a pass or once a recipient (the hub's own, made before this)
        self.outbox, self.peers, self.files, self.pacer, self.guard = hub.outbox, hub.peers, hub.files, hub.pacer, hub.guard
        self.history = hub.history
        self.sealed = hub._sealed  # the hub's set (Hub._sealed), not a copy

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
                    sent = write(queue, writer.send, writer.pieces, writer.gather)
                    if queue.out:
                        self.backlog_unchecked = True
                        if sent:
                            self.guard.moved(cid)  # a backlog that drains (the not-reading rule)
                    if downloads or finishing:  # its link's pace (DownloadPace); a download's last piece out
                        self.pacer.wrote(cid, sent)
                except OSError:
                    self.hub.close(cid)
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
            self.hub.close(cid)

    def _commit_pass(self) -> None:
        """Store this pass's messages, then perform what waited for that. A message that could
        not be stored is not delivered: its sender is told (E_HISTORY, not fatal); everything
        else goes on as usual, and the next pass tries again (PROTOCOL.md, History replay)."""
        hub = self.hub
        held, hub._uncommitted = hub._uncommitted, None
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
                        then += hub.keeping.not_stored(ev.Message(sender=action.sender, text=text, time=time_))
                    continue
                if then:  # what was held before it goes first
                    hub.perform(then)
                    then = []
                self.outbox.broadcast_frames(unsealed(action.to, self.sealed) if self.sealed else action.to, action.frames)
            elif isinstance(action, Keep):  # kept already (perform)
                refused = None if stored else action
            elif refused is not None and isinstance(action, Broadcast):
                then += hub.keeping.not_stored(refused.event)  # instead of its delivery, the Broadcast after it
                refused = None
            else:
                then.append(action)
        if then:
            hub.perform(then)

    def _flushed_closing(self, queue: Queue, writer: Writer) -> None:
        """A closing connection has linger_seconds to read the rest; all out: the loop sends FIN.
        One that said bye has no rest: it is closed once all is out (a TLS client cannot send a
        FIN behind its bye, so waiting for one made both ends wait out their linger)."""
        self.hub.deadlines.linger(queue.cid)
        if bool(queue.out) is not writer.writing:
            writer.set_writing(bool(queue.out))
        if not queue.out:
            writer.finish()
            peer = self.peers.get(queue.cid)
            if peer is not None and peer.said_bye:
                self.hub.deadlines.linger(queue.cid, at_once=True)

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

    def shutdown(self, reason: str, *, final: bool = False) -> None:
        """Seed 003: everyone gets the shutdown notice first; the loop then flushes and closes.
        ``final``: the host ended the chat, it will not be back (PROTOCOL.md 8)."""
        hub = self.hub
        hub.shutting_down = True
        self.guard.log_refusals(math.inf)  # a storm still being counted is not left out of the log
        hub.log(f"shutting down: {reason}")
        self._commit_pass()  # this pass's messages go out (or are refused) before the notice
        self.history.stopping()  # a ban made on a full disk is saved if there is room now
        for cid, member in hub.room.members.items():  # they saw everything up to now
            if cid not in hub.room.service_cids:
                self.history.mark_seen(member.name)
        notice = ev.Shutdown(reason=reason, final=final)
        for peer in list(self.peers.values()):
            if peer.cid in self.pacer.started:  # the notice jumps a download's queued pieces
                self._drop_file_pieces(peer.cid)
            hub._send(peer, notice)
            hub._mark_closing(peer)
