"""poller.py: which sockets the server loop watches, and which are ready. Never reads or writes one.

``Poller`` is the server's selector: ``register(sock, events, data)``, ``modify``,
``unregister``, and ``poll(timeout)``, which returns ``(data, events)`` for each ready socket,
with the selectors module's EVENT_READ and EVENT_WRITE bits. Where the system has epoll
(Linux) it calls ``select.epoll`` directly: one C call a pass and a dict lookup a ready socket,
where ``selectors.EpollSelector`` adds a layer of Python calls and a key object per socket
(2-3% of a light-load message's instructions, bench/README.md "Round 2, seventh session").
Elsewhere it wraps ``selectors.DefaultSelector``, the plain path; tests/test_poller.py runs both
the same way.
"""

from __future__ import annotations

import select
import selectors
import socket
from typing import Any

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE
_EPOLL = getattr(select, "epoll", None)
_EPOLLIN = getattr(select, "EPOLLIN", 1)
_EPOLLOUT = getattr(select, "EPOLLOUT", 4)


class Poller:
    """The sockets a loop watches, each with its events and the loop's ``data`` for it."""

    def __init__(self, *, epoll: bool | None = None) -> None:
        """``epoll``: use select.epoll (default: where it exists) or, False, selectors' default."""
        use_epoll = _EPOLL is not None if epoll is None else epoll
        self._epoll = _EPOLL() if use_epoll else None  # type: ignore[misc]
        self._selector = None if use_epoll else selectors.DefaultSelector()
        self._watched: dict[int, tuple[object, int]] = {}  # fd -> (data, events)
        # fd -> the socket registered: by number, as selectors does, since a socket may be
        # handed on as another object with the same descriptor (a TLS socket after its handshake)
        self._socks: dict[int, socket.socket] = {}

    @property
    def uses_epoll(self) -> bool:
        return self._epoll is not None

    def watching(self, sock: socket.socket) -> bool:
        try:
            return self._fd_of(sock) in self._watched
        except KeyError:
            return False

    def _fd_of(self, sock: socket.socket) -> int:
        fd = sock.fileno()
        if fd >= 0:
            return fd
        for fd, known in self._socks.items():  # closed: its number is gone, so look it up
            if known is sock:
                return fd
        raise KeyError(f"{sock!r} is not registered")

    def register(self, sock: socket.socket, events: int, data: object) -> None:
        """Watch ``sock`` for ``events`` (EVENT_READ, EVENT_WRITE or both). KeyError if it is already."""
        fd = sock.fileno()
        if fd in self._watched:
            raise KeyError(f"{sock!r} is already registered")
        if self._epoll is not None:
            self._epoll.register(fd, _to_epoll(events))
        else:
            self._selector.register(sock, events, data)  # type: ignore[union-attr]
        self._socks[fd] = sock
        self._watched[fd] = (data, events)

    def modify(self, sock: socket.socket, events: int, data: object) -> None:
        """Watch ``sock`` for other ``events``, or with other ``data``. KeyError if it is not watched."""
        fd = self._fd_of(sock)
        if fd not in self._watched:
            raise KeyError(f"{sock!r} is not registered")
        if self._epoll is None:
            self._selector.modify(sock, events, data)  # type: ignore[union-attr]
        elif events != self._watched[fd][1]:
            self._epoll.modify(fd, _to_epoll(events))
        self._watched[fd] = (data, events)

    def unregister(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (it may be closed already). KeyError if it is not watched."""
        fd = self._fd_of(sock)
        del self._watched[fd]  # KeyError if it is not watched
        del self._socks[fd]
        if self._epoll is not None:
            try:
                self._epoll.unregister(fd)
            except OSError:  # closed already: the kernel dropped it from the set itself
                pass
        else:
            self._selector.unregister(sock)  # type: ignore[union-attr]

    def poll(self, timeout: float | None) -> list[tuple[Any, int]]:
        """Wait up to ``timeout`` seconds (None: for ever) for a watched socket to be ready;
        (data, events) for each that is, events within those it is watched for. An error or a
        hang-up counts as both readable and writable, as with selectors."""
        if self._epoll is None:
            return [(key.data, events) for key, events in self._selector.select(timeout)]  # type: ignore[union-attr]
        watched = self._watched
        ready: list[tuple[Any, int]] = []
        try:
            # epoll counts milliseconds and rounds a timeout up: never woken before a deadline
            happened = self._epoll.poll(-1 if timeout is None else timeout, len(watched) or 1)
        except InterruptedError:
            return ready
        for fd, flags in happened:
            found = watched.get(fd)
            if found is not None:
                events = (EVENT_READ if flags & ~_EPOLLOUT else 0) | (EVENT_WRITE if flags & ~_EPOLLIN else 0)
                ready.append((found[0], events & found[1]))
        return ready

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        else:
            self._selector.close()  # type: ignore[union-attr]
        self._watched.clear()
        self._socks.clear()


def _to_epoll(events: int) -> int:
    return (_EPOLLIN if events & EVENT_READ else 0) | (_EPOLLOUT if events & EVENT_WRITE else 0)
