"""server.py: the server's event loop. Feeds bytes to protocol and room, flushes output.

One thread, one selector (epoll on Linux), no per-client threads or timers:
1) read what is readable and feed it to that connection's protocol state machine,
2) hand each event to the room, which returns actions,
3) queue the frames per recipient and flush each recipient once per pass.
Write interest is asked for only while a client has bytes queued (miniircd's habit),
so an idle server sleeps in select() and wakes for nothing.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable

from . import events as ev
from .history import HistoryStore, HistoryWriteError
from .protocol import Connection, LocalProtocolError, RemoteProtocolError, Role, encode, fatal_reply
from .room import Broadcast, Claim, Close, Keep, Log, Replay, Room, Seen, Send
from .tls import HANDSHAKE_SECONDS as TLS_HANDSHAKE_SECONDS
from .tls import PLAIN_CLIENT_MESSAGE, TlsAcceptor, TlsSender, tls_recv
from .transfer import ServerFiles
from .transport import remove_unix_path, tune

READ_BYTES = 256 * 1024
DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024  # per client; past it the client is dropped
# Download chunks are queued only while a client has less than this waiting, so a 50 MB file
# never sits in one queue, chat frames wait behind at most this much, and the slow-reader
# limit above is never reached by a download alone (PROTOCOL.md, File transfer).
FILE_LOW_WATER_BYTES = 256 * 1024
# The kernel's send buffer for a client that downloads, capped: left to autotune it grows to
# megabytes of file data that a chat line would wait behind (bench/files_bench.py: the median
# chat delay during a download drops from tens of milliseconds to a few).
FILE_SEND_BUFFER_BYTES = 128 * 1024
SHUTDOWN_FLUSH_SECONDS = 2.0
LINGER_SECONDS = 2.0  # how long a closing client may take to read its last frames and close
HANDSHAKE_SECONDS = 60.0  # a connection that says nothing for this long before joining is closed
HISTORY_BURST_ENTRIES = ev.MAX_HISTORY_REQUEST  # one full /history answer at once
HISTORY_ENTRIES_PER_SECOND = 2000  # then about a tenth of the loop's time, at most
FLUSH_BYTES = 256 * 1024  # at most this much is joined for one send(), so a long queue is not re-copied
FANOUT_CACHE_MIN = 8  # broadcasts to fewer (a whisper, a small room) just look each id up
# Join and leave notices wait at most this long to go out together (room.Broadcast.notice):
# a class of 500 joining at once then costs a few writes per person instead of one per join.
# Anything else sent to a person takes their waiting notices along at once, in order.
NOTICE_DELAY_SECONDS = 0.05


class Client:
    """One accepted connection: its socket, protocol state and output queue."""

    __slots__ = ("cid", "sock", "send", "proto", "out", "out_bytes", "head_partial", "writing", "closing", "closed", "peer")

    def __init__(self, cid: int, sock: socket.socket, peer: str) -> None:
        self.cid = cid
        self.sock = sock
        # a TLS socket's send() needs retries of the very same bytes (tls.TlsSender)
        self.send = TlsSender(sock) if isinstance(sock, ssl.SSLSocket) else sock.send
        self.proto = Connection(Role.SERVER)
        self.out: list[bytes] = []  # whole frames, but out[0] may be a frame's unsent tail
        self.out_bytes = 0
        self.head_partial = False  # out[0] is the rest of a frame already partly sent
        self.writing = False  # registered for EVENT_WRITE
        self.closing = False  # close once the queue is flushed
        self.closed = False
        self.peer = peer


_LISTENER = object()
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_WAKE = object()


class Server:
    """A lanchat server on one or more listening sockets.

    ``serve_forever()`` runs the loop in the calling thread until ``request_shutdown()``
    (safe to call from another thread or a signal handler).
    """

    def __init__(
        self,
        listeners: list[socket.socket],
        room: Room,
        *,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        log: Callable[[str], None] | None = None,
        unix_path: str | None = None,
        once: bool = False,
        linger_seconds: float = LINGER_SECONDS,
        handshake_seconds: float = HANDSHAKE_SECONDS,
        history: HistoryStore | None = None,
        files: ServerFiles | None = None,
        tls: ssl.SSLContext | None = None,
        tls_handshake_seconds: float = TLS_HANDSHAKE_SECONDS,
    ) -> None:
        self.room = room
        # TLS (PROTOCOL.md, TLS): accepted connections first finish a TLS handshake here, within
        # tls_handshake_seconds (in deadline order, like _handshaking), then join as usual.
        self.tls = tls
        self.tls_handshake_seconds = tls_handshake_seconds
        self._tls_pending: dict[TlsAcceptor, str] = {}  # -> the peer's address
        # The history store (PROTOCOL.md, History replay), used only from this loop's thread.
        # After a failed write we warn once and keep chatting; the next good write says so.
        self.history = history
        self.history_failing = history is not None and not history.writable
        self._history_pending = False  # appended this pass, committed before the flush
        # /history costs the loop time in proportion to the entries sent (bench/history_bench.py):
        # each client has a bucket of entries that refills with time, so paging through history
        # is never refused but a flood of big requests cannot stall the room.
        self._history_tokens: dict[int, tuple[float, float]] = {}  # cid -> (entries left, when)
        self.listeners = listeners
        self.max_queue_bytes = max_queue_bytes
        self.log = log or (lambda line: None)
        self.unix_path = unix_path
        self.once = once  # shut down when the last person leaves (seed 000)
        room.once = once  # and every welcome says so
        self.linger_seconds = linger_seconds
        self._lingering: dict[Client, float] = {}  # closing clients -> when to close them anyway
        # Connections that have not joined yet -> when to give up on them. A port probe or a
        # half-open connection must not hold a socket for ever. One deadline for everyone,
        # pushed back on every frame, so the dict stays in deadline order and the loop needs
        # no per-client timer: select() sleeps until the first deadline, or for ever when empty.
        self.handshake_seconds = handshake_seconds
        self._handshaking: dict[Client, float] = {}
        self.selector = selectors.DefaultSelector()
        self.clients: dict[int, Client] = {}
        self._next_cid = 1
        self._dirty: set[Client] = set()
        self._shutdown_reason: str | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, _WAKE)
        for listener in listeners:
            listener.setblocking(False)
            self.selector.register(listener, selectors.EVENT_READ, _LISTENER)
        self._accepting = True  # False while out of file descriptors (_accept)
        self.running = False
        self.stopped = threading.Event()
        self.deliveries = 0  # frames queued to clients, for benchmarks and tests
        self.internal_errors: list[str] = []  # tracebacks of bugs survived (_internal_error)
        # The clients behind the last big Broadcast's ``to`` tuple. The room hands out the same
        # tuple object until someone joins or leaves, so a chat message looks up 500 ids once
        # per membership change instead of once per message (bench/README.md, profile).
        self._fanout_key: tuple[int, ...] | None = None
        self._fanout_targets: tuple[Client, ...] = ()
        # Frames broadcast to all of _fanout_targets, in order, not yet in their queues. A busy
        # pass holds many; they are joined once and appended once per recipient (_materialize),
        # so a message costs nothing per recipient until the flush. Anything else queued to
        # anyone materializes them first, which keeps every queue in the order things happened.
        self._pending_frames: list[bytes] = []
        self._pending_urgent = False  # _pending_frames holds more than notices
        self._noticed: set[Client] = set()  # have notices queued that wait for _notice_deadline
        self._notice_deadline: float | None = None
        self.files = files if files is not None else ServerFiles(log=self.log)
        self._send_buffer_capped: set[int] = set()  # clients whose SO_SNDBUF a download capped

    # ------------------------------------------------------------ public API

    def add_local(self, sock: socket.socket, *, host: bool = False, service: bool = False) -> int:
        """Adopt an already-connected socket (the host's or a bot's end of a socketpair).

        ``service`` marks a bot: a member that is not a person (room.Room.service_cids).
        """
        client = self._adopt(sock, "local")
        if host:
            self.room.host_cid = client.cid
        if service:
            self.room.service_cids.add(client.cid)
        return client.cid

    def request_shutdown(self, reason: str = "the server is shutting down") -> None:
        """Ask the loop to tell everyone and stop. Thread- and signal-safe."""
        if self._shutdown_reason is None:
            self._shutdown_reason = reason
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def serve_forever(self) -> None:
        self.running = True
        try:
            while self._shutdown_reason is None:
                for key, mask in self.selector.select(self._loop_timeout()):
                    data = key.data
                    if data is _LISTENER:
                        self._accept(key.fileobj)  # type: ignore[arg-type]
                    elif data is _WAKE:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    elif isinstance(data, TlsAcceptor):
                        self._step_tls(data)
                        continue
                    elif mask & selectors.EVENT_READ and not data.closed:
                        try:
                            self._read(data)
                        except Exception as exc:  # noqa: BLE001 - see _internal_error
                            self._internal_error(data, exc)
                    if mask & selectors.EVENT_WRITE and isinstance(data, Client) and not data.closed:
                        self._dirty.add(data)
                self._expire_lingering()
                self._expire_handshakes()
                self._expire_tls()
                self._pump_files()
                self._flush_dirty()
                # Only people count: ever_joined and people grow on a completed handshake, so a
                # port probe that never says hello cannot end the chat, and a bot cannot keep it open.
                if self.once and self.room.ever_joined and not self.room.people:
                    self._shutdown_reason = "the last person left"
            self._shutdown()
        finally:
            self.running = False
            self._close_everything()
            self.stopped.set()

    # ------------------------------------------------------------ connections

    def _adopt(self, sock: socket.socket, peer: str) -> Client:
        sock.setblocking(False)
        tune(sock)
        client = Client(self._next_cid, sock, peer)
        self._next_cid += 1
        self.clients[client.cid] = client
        self.selector.register(sock, selectors.EVENT_READ, client)
        return client

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(64):  # take a burst of joiners, then let others speak
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    continue  # that one connection failed (reset before we took it): go on
                # Out of file descriptors: the connection stays in the backlog and the listener
                # stays readable, so trying again at once would spin at full speed. Stop
                # accepting until someone leaves (_close), keep serving everyone here.
                self.log(f"cannot accept a connection: {exc.strerror or exc}; waiting until someone leaves")
                self._set_accepting(False)
                return
            peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "local socket"
            if self.tls is not None:
                self._start_tls(sock, peer)
                continue
            client = self._adopt(sock, peer)
            if isinstance(address, tuple):
                self.room.addresses[client.cid] = address[0]  # wrong passwords are counted per address
            self._handshaking[client] = time.monotonic() + self.handshake_seconds

    # ------------------------------------------------------------------ TLS

    def _start_tls(self, sock: socket.socket, peer: str) -> None:
        sock.setblocking(False)
        reply = encode(ev.Error(code=ev.E_BAD_FRAME, message=PLAIN_CLIENT_MESSAGE, fatal=True))
        acceptor = TlsAcceptor(sock, self.tls, time.monotonic() + self.tls_handshake_seconds, reply)  # type: ignore[arg-type]
        self._tls_pending[acceptor] = peer
        self.selector.register(sock, selectors.EVENT_READ, acceptor)

    def _step_tls(self, acceptor: TlsAcceptor) -> None:
        """Move one TLS handshake on; a finished one joins like any plain connection."""
        peer = self._tls_pending.get(acceptor)
        if peer is None:
            return
        outcome = acceptor.step()
        if outcome in ("read", "write"):
            events = selectors.EVENT_READ if outcome == "read" else selectors.EVENT_WRITE
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.selector.modify(acceptor.sock, events, acceptor)
            return
        self._drop_tls(acceptor)
        if outcome == "done":
            client = self._adopt(acceptor.sock, peer)
            self.room.addresses[client.cid] = peer.rpartition(":")[0]
            self._handshaking[client] = time.monotonic() + self.handshake_seconds
            return
        if outcome == "plain":
            self.log(f"{peer}: a client without TLS on this TLS port; told to connect with --tls")
        elif outcome == "failed":
            self.log(f"{peer}: {acceptor.problem}; disconnecting")
        with contextlib.suppress(OSError):
            acceptor.sock.close()

    def _drop_tls(self, acceptor: TlsAcceptor) -> None:
        del self._tls_pending[acceptor]
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.selector.unregister(acceptor.sock)

    def _expire_tls(self) -> None:
        """Drop TLS handshakes that stalled (PROTOCOL.md, TLS: within 10 s)."""
        if not self._tls_pending:
            return
        now = time.monotonic()
        for acceptor in [a for a in self._tls_pending if a.deadline <= now]:
            peer = self._tls_pending[acceptor]
            self._drop_tls(acceptor)
            self.log(f"{peer}: TLS handshake not finished within {self.tls_handshake_seconds:g} s; disconnecting")
            with contextlib.suppress(OSError):
                acceptor.sock.close()

    def _set_accepting(self, accepting: bool) -> None:
        self._accepting = accepting
        for listener in self.listeners:
            with contextlib.suppress(KeyError, ValueError, OSError):
                if accepting:
                    self.selector.register(listener, selectors.EVENT_READ, _LISTENER)
                else:
                    self.selector.unregister(listener)

    def _read(self, client: Client) -> None:
        try:
            data = tls_recv(client.sock, READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        proto = client.proto
        broken: RemoteProtocolError | None = None
        try:
            proto.receive_data(data)
        except RemoteProtocolError as exc:
            broken = exc  # after what the peer said properly before it (proto.events())
        members = self.room.members
        cid = client.cid
        for event in proto.events():
            if isinstance(event, ev.FILE_CLIENT_ALL):  # offers, chunks, gets: transfer.py
                self._perform(self.files.handle(self.room, cid, event))
                continue
            before = members.get(cid)  # a dict lookup, not room.name_of: this runs per message
            self._perform(self.room.handle(cid, event))
            after = members.get(cid)
            if before is None and after is not None:
                self.log(f"{after.name} joined from {client.peer}")
            elif before is not None and after is None:
                self.log(f"{before.name} left")
        if broken is not None:
            self.log(f"{self._who(client)}: {broken.message}; disconnecting")
            self._perform(self.room.leave(client.cid, "lost"))
            self._discard_queue(client)
            self._queue(client, fatal_reply(broken))
            client.closing = True
            self._handshaking.pop(client, None)
            return
        if client in self._handshaking:
            del self._handshaking[client]  # re-inserted at the end: the dict stays in deadline order
            if client.cid not in self.room.members and not client.closing and not proto.peer_closed:
                self._handshaking[client] = time.monotonic() + self.handshake_seconds
        if proto.peer_closed:
            self._close(client)

    def _internal_error(self, client: Client, exc: Exception) -> None:
        """A bug met while serving one connection ends that connection, not the chat: the
        others carry on and are told it left. Tests fail on any (internal_errors)."""
        import traceback

        self.internal_errors.append("".join(traceback.format_exception(exc)))
        self.log(f"internal error while serving {self._who(client)} ({type(exc).__name__}: {exc}); disconnecting them")
        with contextlib.suppress(Exception):
            self._close(client)

    def _who(self, client: Client, fallback: str | None = None) -> str:
        return self.room.name_of(client.cid) or fallback or client.peer

    def _perform(self, actions: list) -> None:
        clients = self.clients
        for action in actions:
            if isinstance(action, Broadcast):
                self._broadcast(action.to, action.frame, notice=action.notice)
            elif isinstance(action, Keep):  # before the Broadcast that follows it is queued
                self._keep(action)
            elif isinstance(action, Send):
                client = clients.get(action.to)
                if client is None or client.closed:
                    continue
                try:
                    frame = client.proto.send(action.event)
                except LocalProtocolError:
                    continue  # the connection is already closing
                self._queue(client, frame)
            elif isinstance(action, Close):
                client = clients.get(action.who)
                if client is not None:
                    client.closing = True
                    self._dirty.add(client)
            elif isinstance(action, Replay):
                self._replay(action)
            elif isinstance(action, Seen):
                self._history_call(lambda store: store.mark_seen(action.name))  # noqa: B023
            elif isinstance(action, Claim):  # a name's owner, stored (PROTOCOL.md, Identity)
                self._history_call(lambda store: store.claim(action.name, action.owner, time=time.time()))  # noqa: B023
            elif isinstance(action, Log):
                self.log(action.text)

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
                    self._perform([Send(to=self.room.host_cid, event=ev.Error(code=ev.E_HISTORY, message=problem))])
            return None
        return result

    def _keep(self, action: Keep) -> None:
        if self.history is None:
            return
        event = action.event
        # Only held in memory: _commit_history stores the pass's messages, many rows per
        # INSERT, before the flush writes any of them (a failure is reported from there).
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
        """Commit this pass's messages: called before anything is written to a socket, so what
        anyone has received is already stored, with one commit per pass, not per message."""
        self._history_pending = False
        stored = self._history_call(lambda store: store.commit())
        if stored and self.history_failing:
            self.history_failing = False
            self.log(f"history: saving to {self.history.path} again")  # type: ignore[union-attr]

    def _replay(self, action: Replay) -> None:
        """Queue history to one client like any other output, within a byte budget so a long
        replay can never get the newcomer dropped as a slow reader."""
        client = self.clients.get(action.to)
        if client is None or client.closed or self.history is None:
            return
        now = time.monotonic()
        if not action.joining:
            left, when = self._history_tokens.get(client.cid, (HISTORY_BURST_ENTRIES, now))
            left = min(HISTORY_BURST_ENTRIES, left + (now - when) * HISTORY_ENTRIES_PER_SECOND)
            if left < action.limit:
                self._history_tokens[client.cid] = (left, now)
                busy = ev.Error(code=ev.E_HISTORY, message="too much /history at once; try again in a moment")
                self._perform([Send(to=client.cid, event=busy)])
                return
            if len(self._history_tokens) > 4 * len(self.clients) + 64:  # forget the departed
                self._history_tokens = {c: v for c, v in self._history_tokens.items() if c in self.clients}
            self._history_tokens[client.cid] = (left - action.limit, now)

        def read(store: HistoryStore) -> tuple[list, bool]:
            away = store.last_seen(action.name) if action.joining else None
            return store.replay_for(action.name, action.limit, owner=action.owner, before=action.before, away_since=away)

        found = self._history_call(read)
        if action.joining:
            self._history_call(lambda store: store.mark_seen(action.name))
        records, more = found if found is not None else ([], False)
        budget = max(self.max_queue_bytes // 2 - client.out_bytes, 0)
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
            self._queue(client, frame)
        oldest = records[len(records) - len(frames)].id if frames else action.before
        self._queue(client, encode(ev.HistoryEnd(shown=len(frames), more=more, before=oldest)))

    def _broadcast(self, to: tuple[int, ...], frame: bytes, *, notice: bool = False) -> None:
        """Queue one encoded frame to many: the hot path of a busy room, so it does nothing per
        recipient until the flush (_pending_frames). The slow-reader limit is checked at flush."""
        if len(to) < FANOUT_CACHE_MIN:
            for cid in to:
                client = self.clients.get(cid)
                if client is not None and not client.closed:
                    self._queue(client, frame)
            return
        if to is not self._fanout_key:
            self._materialize()
            # filter(None, ...) drops ids with no client, at C speed; a closed client is never
            # in self.clients (_close removes it), so there is nothing else to check
            self._fanout_targets = tuple(filter(None, map(self.clients.get, to)))
            self._fanout_key = to
        self._pending_frames.append(frame)
        if not notice:
            self._pending_urgent = True
        elif self._notice_deadline is None:
            self._notice_deadline = time.monotonic() + NOTICE_DELAY_SECONDS
        self.deliveries += len(self._fanout_targets)

    def _materialize(self) -> None:
        """Put the pending broadcast frames, joined once, at the end of each recipient's queue."""
        frames = self._pending_frames
        if not frames:
            return
        self._pending_frames = []
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        size = len(data)
        targets = self._fanout_targets
        for client in targets:
            client.out.append(data)
            client.out_bytes += size
        if self._pending_urgent:
            self._dirty.update(targets)
        else:
            self._noticed.update(targets)  # flushed at _notice_deadline, or with anything sooner
        self._pending_urgent = False

    def _queue(self, client: Client, frame: bytes) -> None:
        if self._pending_frames:
            self._materialize()  # what was broadcast before this frame goes out before it
        client.out.append(frame)
        client.out_bytes += len(frame)
        self.deliveries += 1
        self._dirty.add(client)
        if client.out_bytes > self.max_queue_bytes and not client.closing:
            self._drop_slow(client)

    def _drop_slow(self, client: Client) -> None:
        """A client that stops reading must not stall the room or eat the server's memory."""
        name = self._who(client)
        self.log(f"{name}: not reading ({client.out_bytes} bytes queued); dropping")
        self._discard_queue(client)
        client.closing = True
        with contextlib.suppress(LocalProtocolError):
            note = ev.Error(code=ev.E_TOO_SLOW, message="you were dropped: not reading fast enough", fatal=True)
            frame = client.proto.send(note)
            client.out.append(frame)
            client.out_bytes += len(frame)
        self._perform(self.room.leave(client.cid, "dropped"))

    def _discard_queue(self, client: Client) -> None:
        """Forget what is queued for ``client``, except the tail of a frame already begun:
        a frame cut short would garble every byte after it, the farewell notice included."""
        self._materialize()
        client.out = client.out[:1] if client.head_partial else []
        client.out_bytes = len(client.out[0]) if client.out else 0

    def _flush_dirty(self) -> None:
        if self._history_pending:
            self._commit_history()  # stored before sent (PROTOCOL.md, History replay)
        self._materialize()
        if self._notice_deadline is not None and time.monotonic() >= self._notice_deadline:
            self._dirty.update(self._noticed)
            self._noticed.clear()
            self._notice_deadline = None
        while self._dirty:
            dirty, self._dirty = self._dirty, set()
            for client in dirty:
                if not client.closed:
                    self._flush(client)
            self._materialize()  # a slow reader dropped while flushing is announced to the rest

    def _flush(self, client: Client) -> None:
        out = client.out
        if out:
            if client.out_bytes <= FLUSH_BYTES:
                batch = len(out)  # the usual case: everything queued goes in one send()
            else:
                batch = size = 0
                for chunk in out:  # one send() per pass, of up to FLUSH_BYTES of queued frames
                    batch += 1
                    size += len(chunk)
                    if size >= FLUSH_BYTES:
                        break
            data = out[0] if batch == 1 else b"".join(out[:batch])
            try:
                sent = client.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(client)
                return
            if sent == len(data) and batch == len(out):
                out.clear()  # no per-frame bookkeeping when everything went
                client.out_bytes = 0
                client.head_partial = False
            elif sent:
                self._sent_part(client, sent, batch)
        if client.out_bytes > self.max_queue_bytes and not client.closing:
            self._drop_slow(client)  # still this much unsent after a write: it is not reading
        if client.closing and client not in self._lingering:
            self._lingering[client] = time.monotonic() + self.linger_seconds
        if client.out or (not client.closing and self.files.wants_to_send(client.cid)):
            # a download in progress keeps write interest: writable means "top it up"
            if not client.writing:
                client.writing = True
                self.selector.modify(client.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
            return
        if client.writing:
            client.writing = False
            self.selector.modify(client.sock, selectors.EVENT_READ, client)
        if client.closing:
            # Everything, the last notice included, is out: send FIN behind it and close once
            # the client has closed too (its EOF in _read or _drain_after_shutdown), or when
            # its time is up. Closing now, with the client's last bytes unread, would make the
            # kernel send a reset that can destroy the notice before the client reads it.
            # (A TLS socket's shutdown() would end TLS itself: it just waits for the client.)
            if not isinstance(client.sock, ssl.SSLSocket):
                with contextlib.suppress(OSError):
                    client.sock.shutdown(socket.SHUT_WR)

    def _loop_timeout(self) -> float | None:
        """How long select() may sleep: until waiting notices are due, or the next closing
        client's or handshake's time is up; with none, for ever (an idle server wakes for nothing)."""
        deadlines = []
        if self._notice_deadline is not None:
            deadlines.append(self._notice_deadline)
        if self._lingering:
            deadlines.append(min(self._lingering.values()))
        if self._handshaking:
            deadlines.append(next(iter(self._handshaking.values())))
        if self._tls_pending:
            deadlines.append(next(iter(self._tls_pending)).deadline)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def _expire_handshakes(self) -> None:
        """Close connections that never joined within handshake_seconds, telling them why."""
        if not self._handshaking:
            return
        now = time.monotonic()
        expired = []
        for client, deadline in self._handshaking.items():
            if deadline > now:
                break  # in deadline order: the rest are later
            expired.append(client)
        for client in expired:
            del self._handshaking[client]
            if client.closed or client.closing:
                continue
            self.log(f"{client.peer}: no hello within {self.handshake_seconds:g} s; disconnecting")
            note = ev.Error(
                code=ev.E_HELLO_FIRST, message=f"no hello within {self.handshake_seconds:g} s", fatal=True
            )
            with contextlib.suppress(LocalProtocolError):
                self._queue(client, client.proto.send(note))
            client.closing = True
            self._dirty.add(client)

    def _expire_lingering(self) -> None:
        """Close the closing clients whose time is up: one that never reads (a laptop put to
        sleep) must not hold its socket and queue for ever."""
        if not self._lingering:
            return
        now = time.monotonic()
        for client in [c for c, deadline in self._lingering.items() if deadline <= now]:
            self._close(client)

    def _sent_part(self, client: Client, sent: int, batch: int) -> None:
        """``sent`` bytes of the first ``batch`` queued chunks went out: drop the frames that
        went out whole; keep the unsent tail of one cut short and remember that it is a tail,
        so _discard_queue never leaves half a frame behind."""
        out = client.out
        client.out_bytes -= sent
        done = 0
        while done < batch and sent >= len(out[done]):
            sent -= len(out[done])
            done += 1
        if done:
            del out[:done]
            client.head_partial = False
        if sent:
            out[0] = out[0][sent:]
            client.head_partial = True

    def _close(self, client: Client) -> None:
        if client.closed:
            return
        self._materialize()  # the pending frames were for the recipients as they were
        client.closed = True
        self._fanout_key = None  # the cached recipients include this client
        self._dirty.discard(client)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.selector.unregister(client.sock)
        with contextlib.suppress(OSError):
            client.sock.close()
        self.clients.pop(client.cid, None)
        self._lingering.pop(client, None)
        self._handshaking.pop(client, None)
        if not self._accepting and self._shutdown_reason is None:
            self._set_accepting(True)  # a file descriptor is free again
        self._perform(self.files.forget(client.cid))  # its uploads stop, its offers expire
        self._send_buffer_capped.discard(client.cid)
        if client.cid in self.room.members and self._shutdown_reason is None:
            name = self._who(client)
            self._perform(self.room.leave(client.cid, "lost"))
            self.log(f"{name} lost connection")

    # ---------------------------------------------------------------- shutdown

    def _shutdown(self) -> None:
        """Seed 003: every client first gets the shutdown notice, then the server closes."""
        reason = self._shutdown_reason or "the server is shutting down"
        self.log(f"shutting down: {reason}")
        for cid, member in self.room.members.items():  # they saw everything up to now
            if cid not in self.room.service_cids:
                self._history_call(lambda store, name=member.name: store.mark_seen(name))
        for listener in self.listeners:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(listener)
        notice = ev.Shutdown(reason=reason)
        for client in list(self.clients.values()):
            if client.closed:
                continue
            with contextlib.suppress(LocalProtocolError):
                self._queue(client, client.proto.send(notice))
            client.closing = True
        deadline = time.monotonic() + SHUTDOWN_FLUSH_SECONDS
        self._flush_dirty()
        while any(not c.closed for c in self.clients.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, mask in self.selector.select(timeout=left):
                data = key.data
                if isinstance(data, Client) and not data.closed:
                    if mask & selectors.EVENT_WRITE:
                        self._flush(data)
                    elif mask & selectors.EVENT_READ:
                        self._drain_after_shutdown(data)

    def _drain_after_shutdown(self, client: Client) -> None:
        try:
            data = tls_recv(client.sock, READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            client.closing = True
            client.out.clear()
            self._close(client)

    def _close_everything(self) -> None:
        for acceptor in list(self._tls_pending):
            with contextlib.suppress(OSError):
                acceptor.sock.close()
        self._tls_pending.clear()
        for client in list(self.clients.values()):
            client.closed = True
            with contextlib.suppress(OSError):
                client.sock.close()
        self.clients.clear()
        for listener in self.listeners:
            if self.unix_path and listener.family == socket.AF_UNIX:
                remove_unix_path(self.unix_path, listener)
            with contextlib.suppress(OSError):
                listener.close()
        with contextlib.suppress(OSError):
            self.selector.close()
        for sock in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()
        self.files.close()

    # ------------------------------------------------------------- file data

    def _pump_files(self) -> None:
        """Top up each downloading client's queue to FILE_LOW_WATER_BYTES, one chunk at a time."""
        self._materialize()  # so out_bytes below counts this pass's chat too
        for cid in self.files.downloading():
            client = self.clients.get(cid)
            if client is None or client.closed or client.closing:
                continue
            if cid not in self._send_buffer_capped:
                self._send_buffer_capped.add(cid)
                with contextlib.suppress(OSError):
                    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, FILE_SEND_BUFFER_BYTES)
            while client.out_bytes < FILE_LOW_WATER_BYTES:
                piece = self.files.next_chunk(cid)
                if piece is None:
                    break
                if isinstance(piece, bytes):
                    self._queue(client, piece)  # a ready file-data frame (files.chunk_frame)
                else:
                    self._perform([Send(to=cid, event=piece)])
                if client.closed or client.closing:
                    break
