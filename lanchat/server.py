"""server.py: the server's event loop, and only the loop: sockets in, bytes to the hub, bytes out.

One thread, one poller (poller.py: epoll on Linux), no per-client threads or timers. Each pass:
1) accept newcomers, and hand what each readable socket says to ``hub.receive_data``
   (hub.py decides everything: protocol, room, files, history);
2) let the hub expire what ran out of time (when anything can have: ``Hub.expire_from``) and
   top up downloads;
3) write each connection's queue (outbox.py) with one ``send()``.
Write interest is asked for only while a connection has bytes queued (miniircd's habit),
so an idle server sleeps in select() and wakes for nothing.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from . import events as ev
from .addresses import peer_text
from .history import HistoryStore
from .hub import DEFAULT_MAX_QUEUE_BYTES, HANDSHAKE_SECONDS, LINGER_SECONDS, Hub
from .limits import Counted
from .poller import EVENT_READ, EVENT_WRITE, Poller
from .protocol import JoinPage, encode
from .room import TURN, Room
from .server_files import ServerFiles
from .textline import TextDoor
from .tls_server import HANDSHAKE_SECONDS as TLS_HANDSHAKE_SECONDS
from .tls_server import (
    PLAIN_CLIENT_MESSAGE,
    TEXT_CLIENT_LINE,
    TLS_SEND_BYTES,
    TlsAcceptor,
    TlsHandshakes,
    TlsSender,
    is_tls,
    tls_recv,
)
from .transport import (
    arrival,
    peer_users,
    peer_users_at_once,
    remove_unix_path,
    round_trip_seconds,
    set_keepalive,
    set_send_buffer,
    tune,
    unacknowledged_seconds,
    wake_pair,
)

if TYPE_CHECKING:
    import ssl  # a plain server never loads it (tls_server.is_tls, tests/test_lazy_imports.py)

    from .outbox import Outbox

READ_BYTES = 256 * 1024
# The kernel's send buffer for a client that downloads is capped (hub_downloads.FILE_SEND_BUFFER_BYTES, and
# below that the link's pace: hub_downloads.DownloadPace): left to autotune it grows to megabytes of file
# data that a chat line would wait behind (bench/files_bench.py: the median chat delay during a
# download drops from tens of milliseconds to a few).
SHUTDOWN_FLUSH_SECONDS = 2.0  # how long everyone has to read the shutdown notice and close

_WAKE = object()
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Client:
    """One accepted connection's socket, as the loop sees it (the hub keeps the rest): the
    hub_flush.Writer the hub flushes through."""

    __slots__ = ("cid", "sock", "send", "pieces", "gather", "recv", "writing", "reading", "poller")

    def __init__(self, cid: int, sock: socket.socket, poller: Poller) -> None:
        self.cid = cid
        self.sock = sock
        # a TLS socket's send() needs retries of the very same bytes (tls.TlsSender)
        tls = is_tls(sock)
        self.send = TlsSender(cast("ssl.SSLSocket", sock)) if tls else sock.send
        self.pieces = TLS_SEND_BYTES if tls else 0  # handed frames as queued, no copy for OpenSSL (Outbox.flush)
        # frames written from where they are queued, no join (Outbox.flush; Windows has no sendmsg)
        self.gather: Callable[[list[bytes]], int] | None = None if tls else getattr(sock, "sendmsg", None)
        # one read: a TLS socket's reads whole records until what has arrived is taken (tls_recv)
        self.recv: Callable[[int], bytes] = functools.partial(tls_recv, sock) if tls else sock.recv
        self.poller = poller
        self.writing = False  # registered for EVENT_WRITE
        self.reading = True  # registered for EVENT_READ (not while the hub paused it: a flooder)

    def set_writing(self, writing: bool) -> None:
        self.writing = writing
        self._register()

    def set_reading(self, reading: bool) -> None:
        self.reading = reading
        self._register()

    def _register(self) -> None:
        events = (EVENT_READ if self.reading else 0) | (EVENT_WRITE if self.writing else 0)
        registered = self.poller.watching(self.sock)
        if events and registered:
            self.poller.modify(self.sock, events, self)
        elif events:
            self.poller.register(self.sock, events, self)
        elif registered:
            self.poller.unregister(self.sock)  # neither: poll() must not report it at all

    def finish(self) -> None:
        """Everything, the last notice included, is out: send FIN behind it and close once the
        client has closed too (its EOF in _read or _drain_after_shutdown), or when its time is
        up. Closing now, with the client's last bytes unread, would make the kernel send a
        reset that can destroy the notice before the client reads it. (A TLS socket's
        shutdown() would end TLS itself: that one just waits for the client to close.)"""
        if is_tls(self.sock):
            return
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)


def _on_this_machine(sock: socket.socket, how: dict[str, bool]) -> tuple[bool, bool, int | None]:
    """For gate.arrived and the connection caps: can a peer's Unix user be read (_peer_users),
    is it on this machine by a network address (a lab student by the room's announced address,
    or from another of the machine's addresses), and its user if the kernel says it at once
    (transport.arrival: microseconds); an in-process peer (``how``) has none of them."""
    return (False, False, None) if how else (True, *arrival(sock))


def _peer_users(clients: dict[int, Client], cids: list[int]) -> dict[int, int | None]:
    """For gate.read_users: the Unix users of these connections' peers on this machine, read
    together (transport.peer_users: the kernel, else /proc's tables once for all); None for one
    closed since."""
    open_now = [clients.get(cid) for cid in cids]
    return dict(zip(cids, peer_users([c.sock if c is not None else None for c in open_now]), strict=True))


def _peer_users_at_once(clients: dict[int, Client], cids: list[int]) -> dict[int, int | None]:
    """For gate.peek_users, at a join: what the kernel says at once of these peers' users
    (transport.peer_users_at_once: SO_PEERCRED, sock_diag), never a read of /proc's tables."""
    said = peer_users_at_once([c.sock if (c := clients.get(cid)) is not None else None for cid in cids])
    return {cids[at]: user for at, user in said.items()}


def _socket_readers(room: Room, hub: Hub, clients: dict[int, Client]) -> None:
    """What the pure parts ask of the loop's open sockets: the gate's read_users (a name claimed,
    a ban: the kernel, else /proc's tables) and peek_users (a join: the kernel's answer only),
    and the download pacer's round trip of a link (hub_downloads.DownloadPace)."""
    room.gate.read_users = functools.partial(_peer_users, clients)
    room.gate.peek_users = functools.partial(_peer_users_at_once, clients)
    hub.pacer.round_trip = functools.partial(_round_trip, clients)
    hub.connections.unacknowledged_for = functools.partial(_unacknowledged_for, clients)


def _round_trip(clients: dict[int, Client], cid: int) -> float | None:
    client = clients.get(cid)
    return None if client is None else round_trip_seconds(client.sock)


def _unacknowledged_for(clients: dict[int, Client], cid: int) -> float | None:
    """transport.unacknowledged_seconds of ``cid``'s socket (hub_connections.LINK_GONE_SECONDS)."""
    client = clients.get(cid)
    return None if client is None else unacknowledged_seconds(client.sock)


def socket_options(hub: Hub, clients: dict[int, Client]) -> None:
    """Once a pass, the socket options the pure parts ask for: a download began or its pace
    changed, so cap what the kernel holds of it (hub_downloads.DownloadPacer); the turn moved,
    so watch the new holder's link closely and the last one's as usual (holder_watch.py)."""
    if hub.files.downloads:  # the pacer has nothing to do without a download
        for cid, size in hub.pacer.top_up():
            if (client := clients.get(cid)) is not None:
                set_send_buffer(client.sock, size)
    room = hub.room
    for cid, holder in hub.holder_watch.changes(room.turn_holder if room.mode == TURN else None):
        if (client := clients.get(cid)) is not None:
            set_keepalive(client.sock, holder=holder)


def numbered_from_history(room: Room, history: HistoryStore | None) -> None:
    """Ban and mute numbers go on from the last run's (HistoryStore.next_moderation_ids), those
    lifted before it too: an /unban #3 read off an old /bans screen never lifts another's ban."""
    if history is not None:
        room.moderation.numbered_from(*history.next_moderation_ids())


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
        limits: bool = False,
        **hub_limits: object,
    ) -> None:
        """``limits`` turns on flood control and connection caps (hub.py); ``hub_limits`` go to the Hub (``flood``, ``connection_limits``, ``refusal_log``, ``frame_seconds``, ``member_frame_seconds``, ``keep_history``)."""
        self.log = log or (lambda line: None)
        # TLS (PROTOCOL.md, TLS): an accepted connection first finishes its TLS handshake here,
        # within tls_handshake_seconds (a dict in deadline order), then joins the hub as usual.
        self.tls: TlsHandshakes | None = None
        self.hub = Hub(
            room,
            files=files if files is not None else ServerFiles(log=self.log),
            history=history,
            max_queue_bytes=max_queue_bytes,
            linger_seconds=linger_seconds,
            handshake_seconds=handshake_seconds,
            once=once,
            log=self.log,
            release=self._release,
            limits=limits,
            set_reading=self._set_reading,
            **hub_limits,  # type: ignore[arg-type]
        )
        numbered_from_history(room, history)
        self.door = TextDoor(self.hub)  # text participants (nc, telnet): told apart from lanchat clients before the hub
        self.listeners, self.unix_path = listeners, unix_path
        self.hub.join_page = join_page(listeners, tls=tls is not None)  # for a web browser (PROTOCOL.md 2)
        self.poller = Poller()
        self.clients: dict[int, Client] = {}  # open sockets by connection id
        _socket_readers(self.room, self.hub, self.clients)  # for a ban, at a join, for a download's pace
        self._stopping: ev.Shutdown | None = None  # the notice asked for (request_shutdown)
        self._wake_r, self._wake_w = wake_pair()
        self.poller.register(self._wake_r, EVENT_READ, _WAKE)
        for listener in listeners:
            listener.setblocking(False)
            self.poller.register(listener, EVENT_READ, listener)  # its data: the listener itself
        self._accepting = True  # False while out of file descriptors (_accept)
        self._short_of_descriptors = False  # from a failed accept until the backlog is empty
        if tls is not None:
            self.tls = self.hub.guard.handshakes = self._tls_handshakes(tls, tls_handshake_seconds)  # (guard: _make_room)
        self.running = False
        self.crashed: Exception | None = None  # the bug that ended the loop, if one did (serve_forever)
        self.stopped = threading.Event()

    def _tls_handshakes(self, tls: ssl.SSLContext, seconds: float) -> TlsHandshakes:
        """Where a TLS port's connections wait for their handshake, and what a peer without TLS is told."""
        plain_reply = encode(ev.Error(code=ev.E_USE_TLS, message=PLAIN_CLIENT_MESSAGE, fatal=True))
        return TlsHandshakes(
            tls, self.poller, adopt=self._adopt, log=self.log, plain_reply=plain_reply, text_reply=TEXT_CLIENT_LINE,
            http_reply=self.hub.join_page.reply,  # http:// to this port: the page https:// gets
            seconds=seconds, reserve=self.hub.guard.reserve, release=self.hub.guard.unreserve,
        )  # fmt: skip

    @property
    def room(self) -> Room:
        return self.hub.room

    @property
    def internal_errors(self) -> list[str]:
        """Tracebacks of bugs survived (hub.internal_error), the first few; tests fail on any."""
        return self.hub.internal_errors

    @property
    def internal_error_count(self) -> int:
        """How many bugs were survived, those whose tracebacks were not kept too."""
        return self.hub.internal_error_count

    # ------------------------------------------------------------ public API

    def add_local(self, sock: socket.socket, *, host: bool = False, service: bool = False) -> int:
        """Adopt an already-connected socket (the host's or a bot's end of a socketpair);
        ``service`` marks a bot: a member that is not a person (room.Room.service_cids)."""
        return self._adopt(sock, "local", host=host, service=service, handshake=False)

    def request_shutdown(self, reason: str = "the server is shutting down", *, final: bool = False) -> None:
        """Ask the loop to tell everyone and stop. Thread- and signal-safe: the first request
        wins, in one assignment. ``final``: the host ended the chat on purpose, so the notice
        says the server will not be back (PROTOCOL.md 8, Shutdown)."""
        if self._stopping is None:
            self._stopping = ev.Shutdown(reason=reason, final=final)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def serve_forever(self) -> None:
        self.running = True
        try:
            try:
                self._loop()
            except Exception as exc:  # noqa: BLE001 - a bug in the loop itself (one connection's ends only it: Hub.internal_error)
                self.crashed, self._stopping = exc, self.hub.loop_crashed(exc)  # seed 003: everyone is told first
            self._shutdown()
        except Exception as exc:  # noqa: BLE001 - a bug in the goodbye itself: the sockets still close, serve says where it is kept
            self.crashed = self.crashed or exc
        finally:
            self.running = False
            close_everything(self)
            self.stopped.set()

    def _loop(self) -> None:
        """Read, hand to the hub, flush, until a shutdown is asked for."""
        hub = self.hub
        while self._stopping is None:
            for data, mask in self.poller.poll(self._loop_timeout()):
                if data.__class__ is Client:  # the usual: a connection to read or write
                    if data.cid in self.clients:
                        if mask & EVENT_READ:
                            self._read(data)
                        if mask & EVENT_WRITE:
                            queue = hub.outbox.queues.get(data.cid)
                            if queue is not None:
                                hub.outbox.dirty.add(queue)
                elif data is _WAKE:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                elif isinstance(data, TlsAcceptor):
                    self.tls.step(data)  # type: ignore[union-attr]
                else:
                    self._accept(data)  # a listener: its data is the listening socket
            if hub.clock() >= hub.expire_from:  # else nothing can be due (Hub.next_deadline)
                hub.expire()
            if self.tls is not None:
                self.tls.expire()
            socket_options(hub, self.clients)  # a download's send buffer, the turn holder's keepalive
            hub.flush(self.clients)
            # Only people count: a port probe that never says hello cannot end the chat,
            # and a bot cannot keep it open.
            if hub.once and hub.last_person_left:
                self._stopping = ev.Shutdown(reason="the last person left")

    # ------------------------------------------------------------ connections

    def _adopt(self, sock: socket.socket, peer: str, counted: Counted | None = None, **how: bool) -> int:
        """``counted``: a TLS connection, counted by the caps at its accept (TlsHandshakes)."""
        sock.setblocking(False)
        tune(sock)
        user, this_machine, account = _on_this_machine(sock, how)
        cid = self.hub.open(peer, counted=counted, this_machine=this_machine, account=account, **how)
        if not how:  # from the network: frames, or a person typing lines
            self.door.open(cid)
        self.room.gate.arrived(cid, peer, user, this_machine, account)  # per host, or user (gate.py)
        client = self.clients[cid] = Client(cid, sock, self.poller)
        self.poller.register(sock, EVENT_READ, client)
        return cid

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(64):  # take a burst of joiners, then let others speak
            try:
                sock, address = listener.accept()
            except BlockingIOError:
                if self._short_of_descriptors:  # everyone who waited in the backlog is in
                    self._short_of_descriptors = False
                    self.log("accepting connections again")
                return
            except InterruptedError:
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    continue  # that one connection failed (reset before we took it): go on
                # Out of file descriptors: the connection stays in the backlog and the listener
                # stays readable, so trying again at once would spin at full speed. Stop
                # accepting until someone leaves (_release), keep serving everyone here. Said
                # once per shortage: each leaver lets one waiting connection in and the next
                # accept fails again, which is the same shortage, not news.
                if not self._short_of_descriptors:
                    self._short_of_descriptors = True
                    self.log(f"cannot accept a connection: {exc.strerror or exc}; waiting until someone leaves")
                self._set_accepting(False)
                return
            peer = peer_text(address[0], address[1]) if isinstance(address, tuple) else "local socket"
            if self.tls is not None:
                self.tls.start(sock, peer)  # counted from now; it joins the hub once its TLS handshake is done
            else:
                self._adopt(sock, peer)

    def _set_accepting(self, accepting: bool) -> None:
        self._accepting = accepting
        for listener in self.listeners:
            with contextlib.suppress(KeyError, ValueError, OSError):
                if accepting:
                    self.poller.register(listener, EVENT_READ, listener)
                else:
                    self.poller.unregister(listener)

    def _read(self, client: Client) -> None:
        try:
            data: bytes | None = client.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # a reset or a timeout: an end, but never a goodbye (hub.receive_reset)
            data = None
        door = self.door  # only while a connection has not shown what it speaks (textline.py)
        try:
            if data is None:
                self.hub.receive_reset(client.cid)
            else:
                (door.receive_data if door.opening else self.hub.receive_data)(client.cid, data)
        except Exception as exc:  # noqa: BLE001 - a bug ends that connection, not the chat
            self.hub.internal_error(client.cid, exc)

    def _set_reading(self, cid: int, reading: bool) -> None:
        """The hub paused or resumed reading a connection (a flooder, a congested room)."""
        client = self.clients.get(cid)
        if client is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                client.set_reading(reading)

    def _release(self, cid: int) -> None:
        """The hub is done with ``cid``: close its socket (called once, from hub.close)."""
        client = self.clients.pop(cid, None)
        self.door.forget(cid)
        if client is None:
            return
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(client.sock)
        with contextlib.suppress(OSError):
            client.sock.close()
        if not self._accepting and self._stopping is None:
            self._set_accepting(True)  # a file descriptor is free again

    # ---------------------------------------------------------------- writing

    def _flush_dirty(self) -> None:
        self.hub.flush(self.clients)

    def _loop_timeout(self) -> float | None:
        """How long select() may sleep: until the hub's next deadline; with none, for ever
        (an idle server wakes for nothing)."""
        deadline = self.hub.next_deadline()
        tls_deadline = self.tls.next_deadline() if self.tls is not None else None
        if tls_deadline is not None:  # a TLS handshake's limit, on the tls clock (monotonic)
            tls_deadline += self.hub.clock() - self.tls.clock()  # type: ignore[union-attr]
            deadline = tls_deadline if deadline is None else min(deadline, tls_deadline)
        if deadline is None:
            return None
        return max(0.0, deadline - self.hub.clock())

    # ---------------------------------------------------------------- shutdown

    def _shutdown(self) -> None:
        """Seed 003: every client first gets the shutdown notice, then the server closes."""
        self.listeners = close_listeners(self.listeners, self.poller, self.unix_path)
        notice = self._stopping or ev.Shutdown()
        self.hub.shutdown(notice.reason, final=notice.final)
        deadline = self.hub.clock() + SHUTDOWN_FLUSH_SECONDS
        self._flush_dirty()
        room_for_the_notice(self.clients, self.hub.outbox)
        self._flush_dirty()
        while self.clients:
            left = deadline - self.hub.clock()
            if left <= 0:
                break
            for client, mask in self.poller.poll(left):
                if not isinstance(client, Client) or client.cid not in self.clients:
                    continue
                if mask & EVENT_WRITE:
                    queue = self.hub.outbox.queues.get(client.cid)
                    if queue is not None:
                        self.hub.outbox.dirty.add(queue)
                elif mask & EVENT_READ:
                    self._drain_after_shutdown(client)
            self._flush_dirty()

    def _drain_after_shutdown(self, client: Client) -> None:
        try:
            data = tls_recv(client.sock, READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.hub.close(client.cid)

def close_everything(server: Server) -> None:
    """Close every socket the server holds, its listeners (and socket file) and its files."""
    if server.tls is not None:
        server.tls.close_all()
    for client in list(server.clients.values()):
        with contextlib.suppress(OSError):
            client.sock.close()
    server.clients.clear()
    server.listeners = close_listeners(server.listeners, server.poller, server.unix_path)
    with contextlib.suppress(OSError):
        server.poller.close()
    for sock in (server._wake_r, server._wake_w):
        with contextlib.suppress(OSError):
            sock.close()
    server.hub.files.close()


def join_page(listeners: list[socket.socket], *, tls: bool) -> JoinPage:
    """What the page a web browser gets says to type: ``--tls`` on a TLS server, the TCP port it
    listens on (a browser's Host line may say another), or the socket file's path."""
    port, path = None, None
    for listener in listeners:
        with contextlib.suppress(OSError):
            address = listener.getsockname()
            if listener.family == socket.AF_UNIX:
                path = address if isinstance(address, str) and address else path
            elif isinstance(address, tuple):
                port = address[1]
    return JoinPage(tls=tls, port=port, unix_path=path if port is None else None)


def room_for_the_notice(clients: dict[int, Client], outbox: Outbox) -> None:
    """At a shutdown, a connection whose notice the first flush could not write (a frozen
    laptop: its receive window shut, the send buffer full of a download) gets a send buffer
    bigger by what waits, so the kernel takes the notice behind the bytes in flight and delivers
    it when the laptop wakes, after the server is gone (PROTOCOL.md 8). Only ever grown: the
    kernel keeps what it already holds. The caller flushes next."""
    for cid, client in clients.items():
        queue = outbox.queues.get(cid)
        if queue is None or not queue.out:
            continue
        with contextlib.suppress(OSError):
            size = client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)  # (Linux: twice what was set)
            set_send_buffer(client.sock, size + queue.out_bytes)
        outbox.dirty.add(queue)


def close_listeners(listeners: list[socket.socket], poller: Poller, unix_path: str | None) -> list[socket.socket]:
    """Close the listeners (and remove our socket file), as a shutdown's goodbye begins: one left
    open while the goodbye waits for a slow reader took the class's first retry into its backlog,
    unaccepted, and reset it on closing (over TLS, read as a room restarted without --tls).
    Closed, a retry is refused at once, as by a server not there (yet). Returns none left."""
    for listener in listeners:
        with contextlib.suppress(KeyError, ValueError):
            poller.unregister(listener)
        if unix_path and listener.family == socket.AF_UNIX:
            remove_unix_path(unix_path, listener)
        with contextlib.suppress(OSError):
            listener.close()
    return []
