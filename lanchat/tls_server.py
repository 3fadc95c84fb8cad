"""tls_server.py: the server's side of a connection, plain or TLS (an edge). No chat logic here.

Every connection's read (tls_recv) and send (TlsSender, for a TLS socket) and a TLS port's
handshakes (TlsHandshakes) live here, apart from tls.py (certificates, fingerprints, the
client's handshake and known servers), which a plain server never loads: is_tls tells a TLS
socket without ssl, and a TLS socket exists only where tls.py made its context. tls.py names
all of this too (tls.tls_recv).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl  # at run time only where TLS is used: a plain server never loads OpenSSL's libssl

    from .poller import Poller

from . import events as ev
from .limits import UNCOUNTED, Counted
from .protocol import HTTP_REQUEST_KEPT, TLS_RECORD_TYPES, encode, looks_like_http
from .transport import arrival

HANDSHAKE_SECONDS = 10.0  # a TLS handshake that stalls longer is dropped (either side)
# What `lanchat doctor` asks first, in plain bytes (doctor.probe_server): `who` before `hello`. A
# plain server answers it and logs nothing; on a TLS port it is no client without TLS to log either.
# Since session 45 it asks with hold_notice (a room still starting says `held`); a doctor before it, without.
DOCTORS_QUESTIONS = (encode(ev.Who(hold_notice=True)), encode(ev.Who()))


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


# Plaintext per TLS send: eight records at most, retried whole if the socket is full; and what a
# TLS connection is sent in one pass, in frames as queued (outbox.Outbox.flush's ``pieces``: no
# copy made only for OpenSSL to copy again; bench/README.md, "A file to the whole class over TLS").
TLS_SEND_BYTES = 128 * 1024
# (lanchat's first release has no --tls, and its users read this line: they are told to update)
PLAIN_CLIENT_MESSAGE = ("this server uses TLS: connect with --tls (and check its fingerprint); "
                        "a lanchat without --tls is too old for this room: update it first")
# What nc or telnet reads instead (a first byte that is not a frame header's zero): one plain line.
TEXT_CLIENT_LINE = b"! this room uses TLS, which nc and telnet cannot speak: join with lanchat connect --tls\r\n"


class TlsSender:
    """``send(data) -> int`` for a non-blocking TLS socket, with a plain socket's manners.

    OpenSSL may take part of a write into a record and then say "want write"; the next write must
    then offer the very same bytes. So a refused piece is remembered and offered again first, and
    the caller (whose queue still starts with it) hears "nothing sent" (BlockingIOError) until it
    goes. Reading's "want read" during a write (a TLS 1.3 key update) is the same wait.
    """

    def __init__(self, sock: ssl.SSLSocket) -> None:
        import ssl

        self.sock = sock
        self.retry: bytes | memoryview | None = None
        self.again = (ssl.SSLWantWriteError, ssl.SSLWantReadError)

    def __call__(self, data: bytes) -> int:
        piece = self.retry
        if piece is None:  # no copy: the queue's bytes are immutable, a view of them stays the same bytes
            piece = data if len(data) <= TLS_SEND_BYTES else memoryview(data)[:TLS_SEND_BYTES]
        elif bytes(data[: len(piece)]) != bytes(piece):
            raise OSError("the TLS write queue changed under a retry")  # the stream is broken: close it
        try:
            sent = self.sock.send(piece)
        except self.again:
            self.retry = piece
            raise BlockingIOError from None
        self.retry = None
        return sent


def is_tls(sock: socket.socket) -> bool:
    """Whether ``sock`` is a TLS socket, without loading ssl: a TLS socket exists only once
    something has imported it, so a plain server never does (tests/test_lazy_imports.py).
    Another thread (zeroconf's, announcing the room) may be importing ssl right now: the module
    is in sys.modules half run, without SSLSocket yet, and no socket can be one."""
    ssl = sys.modules.get("ssl")
    return ssl is not None and hasattr(ssl, "SSLSocket") and isinstance(sock, ssl.SSLSocket)


def tls_recv(sock: socket.socket, size: int) -> bytes:
    """One read, for a plain or TLS socket, of about ``size`` bytes. Raises BlockingIOError when
    there is nothing yet.

    A TLS socket's recv() returns one record (16 KiB at most), so this reads records until
    ``size``, the end of what has arrived (OpenSSL wants more bytes), or the end of the stream:
    like a plain recv(), one call takes what is there. It never leaves bytes decrypted in
    OpenSSL (``pending()``), where select() cannot see them: past ``size`` it takes those too. (One record per loop pass made a TLS upload cost the server twice
    the CPU of a download: bench/README.md, "What TLS costs".)"""
    ssl = sys.modules.get("ssl")  # is_tls(sock), inlined: this is every read's path
    if ssl is None or not hasattr(ssl, "SSLSocket") or not isinstance(sock, ssl.SSLSocket):  # (half imported: is_tls)
        return sock.recv(size)
    again = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
    try:
        data = sock.recv(size)
    except again:
        raise BlockingIOError from None
    if not data or len(data) >= size:
        return data
    pieces = [data]
    got = len(data)
    while True:
        # Past ``size``, still take what OpenSSL holds decrypted (the rest of a record, less than
        # 16 KiB): select() cannot see it, and the last frame of an upload would wait there.
        want = size - got if got < size else sock.pending()
        if want <= 0:
            break
        try:
            more = sock.recv(want)
        except again:
            break  # all that has arrived is read: select() will say when more comes
        if not more:
            break  # the end of the stream: the next read returns b"" again
        pieces.append(more)
        got += len(more)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class TlsAcceptor:
    """One accepted connection on a TLS port, until its handshake is done (non-blocking).

    ``step()`` says what to do next: ``"read"`` / ``"write"`` (wait for that, then step again),
    ``"done"`` (``sock`` is the TLS socket, ready to chat), ``"plain"`` (a lanchat client without
    TLS: it was told so in a plain lanchat error frame and should be closed), ``"closed"`` or
    ``"failed"`` (``problem`` says why): close it. ``deadline`` is when to give up on it.
    """

    def __init__(
        self, sock: socket.socket, context: ssl.SSLContext, deadline: float, plain_reply: bytes, text_reply: bytes = b"",
        http_reply: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.sock: socket.socket = sock
        self.context = context
        self.deadline = deadline
        self.plain_reply = plain_reply  # for a plain lanchat client: an error frame
        self.text_reply = text_reply or plain_reply  # for a person at nc or telnet: a line
        self.http_reply = http_reply  # for a web browser, given its request: a page (protocol.JoinPage)
        self.problem = ""
        self.probe = False  # a plain connection that was `lanchat doctor` asking (DOCTORS_QUESTIONS)
        self.browser = False  # a plain connection that was a web browser (http://): shown the page
        self._wrapped = False

    def step(self) -> str:
        if not self._wrapped:
            try:
                first = self.sock.recv(2, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                return "read"
            except OSError as exc:
                self.problem = exc.strerror or str(exc)
                return "failed"
            if not first:
                return "closed"
            if first[0] not in TLS_RECORD_TYPES or (len(first) > 1 and first[1] != 3):
                self._tell_plain_client(self.text_reply if first[0] != 0 else self.plain_reply)
                return "plain"
            # One byte of a record header so far: wrap now and let OpenSSL take it. Peeking again
            # would find the same byte waiting, and a level-triggered selector would wake the loop
            # for it at once, over and over, until the deadline (a busy loop per such peer).
            try:
                self.sock = self.context.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
            except (OSError, ValueError) as exc:
                self.problem = str(exc)
                return "failed"
            self._wrapped = True
        import ssl

        try:
            self.sock.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            return "read"
        except ssl.SSLWantWriteError:
            return "write"
        except ssl.SSLError as exc:
            self.problem = f"TLS handshake failed ({exc.reason or exc})"
            return "failed"
        except OSError as exc:
            self.problem = f"TLS handshake failed ({exc.strerror or exc})"
            return "failed"
        return "done"

    def _tell_plain_client(self, reply: bytes) -> None:
        """Read what the plain client said (unread bytes would turn our close into a reset that
        destroys the reply), answer in plain lanchat, and send FIN behind it."""
        said = b""
        with contextlib.suppress(OSError):
            for _ in range(16):
                if not (data := self.sock.recv(65536)):
                    break
                said += data[: HTTP_REQUEST_KEPT - len(said)]
        self.probe = said in DOCTORS_QUESTIONS
        if self.http_reply is not None and looks_like_http(said):  # http:// to a TLS port: a page, not a line
            reply, self.browser = self.http_reply(said), True
        with contextlib.suppress(OSError):
            self.sock.send(reply)
            self.sock.shutdown(socket.SHUT_WR)


class TlsHandshakes:
    """The accepted connections of a TLS port still in their handshake, for a poller loop (poller.py).

    ``start(sock, peer)`` takes a newly accepted socket; the loop hands each ready TlsAcceptor
    (the data it was registered with) to ``step()``, calls ``expire()`` once per pass and sleeps at most
    until ``next_deadline()``. A finished handshake goes to ``adopt(tls_sock, peer, counted)``; one that
    fails, stalls past ``seconds``, or turns out to be a plain lanchat client is closed and logged,
    and ``release(peer, counted)`` is told. ``reserve(peer)`` counts each against the connection
    limits at its accept (guard.Guard.reserve): how it was counted, carried through as ``counted``,
    or None to close it at once. Counted from the accept, not from the end of the handshake:
    connections that never finish it would otherwise pile up uncounted, a descriptor each.
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        selector: Poller,
        *,
        adopt: Callable[[socket.socket, str, Counted], object],
        log: Callable[[str], None],
        reserve: Callable[[str, bool, int | None], Counted | None] = lambda peer, this_machine, account: UNCOUNTED,
        release: Callable[[str, Counted], None] = lambda peer, counted: None,
        plain_reply: bytes,
        text_reply: bytes = b"",
        http_reply: Callable[[bytes], bytes] | None = None,
        seconds: float = HANDSHAKE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.context = context
        self.selector = selector
        self.adopt = adopt
        self.log = log
        self.reserve = reserve
        self.release = release
        self.plain_reply = plain_reply
        self.text_reply = text_reply
        self.http_reply = http_reply
        self.seconds = seconds
        self.clock = clock
        self.pending: dict[TlsAcceptor, str] = {}  # -> the peer's address; in deadline order
        self.counted: dict[TlsAcceptor, Counted] = {}  # -> how the connection limits counted it (start)

    def start(self, sock: socket.socket, peer: str) -> None:
        # a lab class by the LAN address: as loopback; a student's handshakes: their account's
        counted = self.reserve(peer, *arrival(sock))
        if counted is None:  # past the caps (logged there); no TLS yet to say so in
            _close(sock)
            return
        sock.setblocking(False)
        acceptor = TlsAcceptor(sock, self.context, self.clock() + self.seconds, self.plain_reply, self.text_reply, self.http_reply)
        self.pending[acceptor] = peer
        self.counted[acceptor] = counted
        self.selector.register(sock, selectors.EVENT_READ, acceptor)

    def step(self, acceptor: TlsAcceptor) -> None:
        peer = self.pending.get(acceptor)
        if peer is None:
            return
        outcome = acceptor.step()
        if outcome in ("read", "write"):
            events = selectors.EVENT_READ if outcome == "read" else selectors.EVENT_WRITE
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.selector.modify(acceptor.sock, events, acceptor)
            return
        counted = self._forget(acceptor)
        if outcome == "done":
            self.adopt(acceptor.sock, peer, counted)
            return
        self.release(peer, counted)
        if counted.credit is not None:
            pass  # over its address's new connections a minute: that refusal, logged once per storm (guard: unreserve)
        elif outcome == "plain" and acceptor.browser:
            self.log(f"{peer}: a web browser (http://) on this TLS port; shown a page saying how to join")
        elif outcome == "plain" and not acceptor.probe:
            self.log(f"{peer}: a client without TLS on this TLS port; told to use TLS (lanchat connect switches by itself)")
        elif outcome == "failed":
            self.log(f"{peer}: {acceptor.problem}; disconnecting")
        _close(acceptor.sock)

    def expire(self) -> None:
        now = self.clock()
        while self.pending:
            # in deadline order (start() adds each at now + seconds): only the oldest are looked at
            acceptor, peer = next(iter(self.pending.items()))
            if acceptor.deadline > now:
                return
            counted = self._forget(acceptor)
            self.release(peer, counted)
            if counted.credit is None:  # (one on credit: as step's)
                self.log(f"{peer}: TLS handshake not finished within {self.seconds:g} s; disconnecting")
            _close(acceptor.sock)

    def next_deadline(self) -> float | None:
        return next(iter(self.pending)).deadline if self.pending else None

    def drop(self, peer: str) -> bool:
        """Close the connection from ``peer`` still in its handshake, released as any (a newer one
        takes its place at its address's cap at once: guard.Guard._make_room); False: not here."""
        for acceptor, address in self.pending.items():
            if address == peer:
                self.release(peer, self._forget(acceptor))
                _close(acceptor.sock)
                return True
        return False

    def close_all(self) -> None:
        for acceptor, peer in list(self.pending.items()):
            self.release(peer, self._forget(acceptor))
            _close(acceptor.sock)

    def _forget(self, acceptor: TlsAcceptor) -> Counted:
        """No longer pending; how it was counted (start)."""
        del self.pending[acceptor]
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.selector.unregister(acceptor.sock)
        return self.counted.pop(acceptor, UNCOUNTED)
