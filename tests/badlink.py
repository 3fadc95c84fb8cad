"""badlink.py: a loopback TCP proxy that plays a bad Wi-Fi link between a client and a server.

``BadLink(("127.0.0.1", port))`` listens on 127.0.0.1 port 0 (``link.port``) and forwards each
connection made to it to the target, both ways, on one thread. Each way can be made worse while
it runs, as a student's link is:

* ``delay``: every read is forwarded only that many seconds after it arrived (order kept);
* ``trickle``: bytes are forwarded one at a time, ``trickle`` seconds apart;
* ``rate``: at most that many bytes a second each way (a slow link; 0: as fast as it goes);
* ``stall(seconds)``: nothing is read or written for that long (``stall()``: until ``resume()``).
  The proxy stops reading, so the kernel's buffers fill up behind it and the writer at either
  end is held back (its sends block), as behind a link that no longer carries packets;
* ``cut(reset=True)``: every connection through it is ended at once, with a reset both ways as
  ``ss -K`` gives, or (``reset=False``) with a FIN.

``down_bytes`` and ``up_bytes`` count what was forwarded from the server and from the client;
``down_read`` what was read from the server. ``mark(b"...")`` notes where those bytes first come
from the server (``marked_at``: the bytes read from it before them), to count what was ahead.
Small socket buffers on the proxy's side (``buffer_bytes``) make a stall bite after little
data, as on a real link, instead of after the megabytes loopback takes by default.
"""

from __future__ import annotations

import collections
import contextlib
import selectors
import socket
import struct
import threading
import time

READ_BYTES = 65536
HELD_BYTES = 256 * 1024  # read no further ahead than this in one direction (a delayed link's queue)


class _Way:
    """One direction of one connection: what was read from ``source`` and waits for ``sink``."""

    def __init__(self, source: socket.socket, sink: socket.socket, down: bool) -> None:
        self.source, self.sink, self.down = source, sink, down
        self.chunks: collections.deque[tuple[float, bytes]] = collections.deque()  # (due, data)
        self.held = 0
        self.ended = False  # the source sent its FIN
        self.shut = False  # and it was passed on
        self.next_byte_at = 0.0  # trickle: when the next byte may go

    def wants_read(self, held_bytes: int) -> bool:
        return not self.ended and self.held < held_bytes

    def due(self, now: float) -> float | None:
        """When this way has a write to make (None: nothing waits)."""
        if not self.chunks:
            return now if self.ended and not self.shut else None
        return max(self.chunks[0][0], self.next_byte_at)


class BadLink:
    """The proxy; see the module docstring."""

    def __init__(self, target: tuple[str, int], *, delay: float = 0.0, trickle: float = 0.0, rate: float = 0.0,
                 buffer_bytes: int | None = 64 * 1024, held_bytes: int = HELD_BYTES) -> None:
        self.target = target
        self.delay = delay
        self.trickle = trickle
        self.rate = rate
        self.held_bytes = held_bytes  # read no further ahead than this, each way
        self.buffer_bytes = buffer_bytes
        self.down_bytes = 0
        self.up_bytes = 0
        self.down_read = 0
        self._marker = b""
        self._seen = b""  # the last bytes read from the server, for a marker cut across two reads
        self.marked_at: int | None = None
        self.connections = 0  # made through it so far
        self._stalled_until: float | None = None
        self._lock = threading.Lock()
        self._commands: list[tuple[str, bool]] = []
        self._ways: list[_Way] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="badlink", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- control (any thread)

    def stall(self, seconds: float | None = None) -> None:
        """Carry nothing for ``seconds`` (None: until ``resume``)."""
        with self._lock:
            self._stalled_until = float("inf") if seconds is None else time.monotonic() + seconds
        self._wake()

    def resume(self) -> None:
        with self._lock:
            self._stalled_until = None
        self._wake()

    def mark(self, marker: bytes) -> None:
        """Note where ``marker`` next comes from the server: ``marked_at``, the bytes read from it before."""
        with self._lock:
            self._marker, self.marked_at = marker, None

    @property
    def stalled(self) -> bool:
        with self._lock:
            return self._stalled_until is not None and time.monotonic() < self._stalled_until

    def cut(self, *, reset: bool = True) -> None:
        """End every connection through the link now (new ones are still let through)."""
        with self._lock:
            self._commands.append(("cut", reset))
        self._wake()

    def close(self) -> None:
        self._stopping = True
        self._wake()
        self._thread.join(5)
        for sock in {way.source for way in self._ways} | {self.listener, self._wake_r, self._wake_w}:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> BadLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    # ---------------------------------------------------------------- the loop (its thread)

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._loop_once(self._selector)
        finally:
            self._selector.close()

    def _loop_once(self, selector: selectors.BaseSelector) -> None:
        now = time.monotonic()
        with self._lock:
            until, commands, self._commands = self._stalled_until, self._commands, []
        for _command, reset in commands:
            self._cut_all(reset)
        stalled = until is not None and now < until
        timeout: float | None = None if until is None or until == float("inf") else max(0.0, until - now)
        wanted: dict[socket.socket, int] = {self.listener: selectors.EVENT_READ, self._wake_r: selectors.EVENT_READ}
        if not stalled:
            for way in self._ways:
                if way.wants_read(self.held_bytes):
                    wanted[way.source] = wanted.get(way.source, 0) | selectors.EVENT_READ
                due = way.due(now)
                if due is not None and due <= now:
                    wanted[way.sink] = wanted.get(way.sink, 0) | selectors.EVENT_WRITE
                elif due is not None:
                    timeout = due - now if timeout is None else min(timeout, due - now)
        for key in list(selector.get_map().values()):
            if key.fileobj not in wanted:
                selector.unregister(key.fileobj)
        for sock, events in wanted.items():
            try:
                selector.modify(sock, events)
            except KeyError:
                selector.register(sock, events)
        ready = selector.select(timeout)
        if stalled or (until is not None and time.monotonic() < until):
            ready = [(key, mask) for key, mask in ready if key.fileobj in (self.listener, self._wake_r)]
        for key, mask in ready:
            sock = key.fileobj
            if sock is self.listener:
                self._accept()
            elif sock is self._wake_r:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            else:
                self._service(sock, mask)  # type: ignore[arg-type]

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            conn.close()  # nothing there: as a link to a machine that is off
            return
        for sock in (conn, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.buffer_bytes:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buffer_bytes)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.buffer_bytes)
        self.connections += 1
        self._ways += [_Way(conn, upstream, down=False), _Way(upstream, conn, down=True)]

    def _service(self, sock: socket.socket, mask: int) -> None:
        for way in list(self._ways):
            if way not in self._ways:
                continue  # ended by an error on its other way, this pass
            try:
                if way.source is sock and mask & selectors.EVENT_READ and way.wants_read(self.held_bytes):
                    self._read(way)
                if way.sink is sock and mask & selectors.EVENT_WRITE:
                    self._write(way)
            except OSError:
                self._end(way.source, reset=True)

    def _read(self, way: _Way) -> None:
        try:
            data = way.source.recv(READ_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            way.ended = True
            return
        way.chunks.append((time.monotonic() + self.delay, data))
        way.held += len(data)
        if way.down:
            self._look_for_marker(data)
            self.down_read += len(data)

    def _look_for_marker(self, data: bytes) -> None:
        with self._lock:
            marker = self._marker
        if not marker or self.marked_at is not None:
            return
        seen = self._seen[-(len(marker) - 1) :] + data if len(marker) > 1 else data
        if (at := seen.find(marker)) >= 0:
            self.marked_at = self.down_read - (len(seen) - len(data)) + at
        self._seen = seen

    def _write(self, way: _Way) -> None:
        now = time.monotonic()
        if not way.chunks:
            if way.ended and not way.shut:
                way.shut = True
                with contextlib.suppress(OSError):
                    way.sink.shutdown(socket.SHUT_WR)
                if all(w.shut for w in self._ways if w.source in (way.source, way.sink)):
                    self._end(way.source, reset=False)
            return
        due, data = way.chunks[0]
        if due > now or way.next_byte_at > now:
            return
        rate = self.rate
        piece = data[:1] if self.trickle else data[: max(1, int(rate / 50))] if rate else data  # (a rate: 50 writes a second)
        try:
            sent = way.sink.send(piece)
        except (BlockingIOError, InterruptedError):
            return
        if self.trickle:
            way.next_byte_at = now + self.trickle
        elif rate:
            way.next_byte_at = now + sent / rate
        if sent == len(data):
            way.chunks.popleft()
        else:
            way.chunks[0] = (due, data[sent:])
        way.held -= sent
        if way.down:
            self.down_bytes += sent
        else:
            self.up_bytes += sent

    def _end(self, sock: socket.socket, *, reset: bool) -> None:
        """Close the connection ``sock`` belongs to, both of its sockets."""
        ways = [way for way in self._ways if sock in (way.source, way.sink)]
        for way in ways:
            self._ways.remove(way)
        for end in {way.source for way in ways}:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(end)
            if reset:  # a reset, not a FIN: what ss -K (tcp_abort) gives the other side
                with contextlib.suppress(OSError):
                    end.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                end.close()

    def _cut_all(self, reset: bool) -> None:
        for way in list(self._ways):
            if way in self._ways:
                self._end(way.source, reset=reset)
