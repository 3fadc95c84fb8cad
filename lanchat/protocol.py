"""protocol.py: one connection's state machine, for either side. Never touches a socket.

Bytes in, events out: ``conn.receive_data(data)`` then ``conn.next_event()`` until None (or
``conn.events()`` for all at once); ``conn.send(event)`` returns the bytes to write. ``b""``
means the peer closed. Frames are parsed one at a time, when asked for, so a frame is judged in
the state that the ones before it (and the answers to them) left: a ``hello`` and a ``say`` sent
in one write are a join and then a message, as IRC servers take pipelined commands. The rules of which side may send
what, in which state, are the TRANSITIONS table below; docs/PROTOCOL.md section 4 draws it.

Two error families, as in h11:
* LocalProtocolError: this program tried to send something the protocol does not allow.
* RemoteProtocolError: the peer broke the protocol so badly the stream cannot go on.
A peer's *recoverable* mistake (bad JSON inside a good frame, a message before hello) is
not an exception: it comes out of ``events()`` as an ``Invalid`` so the edge can answer it
with an error frame and carry on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import msgspec

from . import events as ev
from .wire import (
    FrameDecoder,
    FrameError,
    NotFinite,
    NotText,
    binary_frame,
    decode_refused_json,
    encode_json,
    frame,
    is_binary,
    looks_like_http,
    split_binary,
)


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"

    # Every frame looks up TRANSITIONS by (role, state). Enum's own __hash__ is a Python
    # function (the hash of the name); members are singletons that compare by identity, so the
    # identity hash means the same and costs nothing.
    __hash__ = object.__hash__


class State(Enum):
    HANDSHAKE = "handshake"  # before the server's welcome
    OPEN = "open"  # chatting
    # A client that sent bye: it sends nothing more, and reads what the server sent before the
    # bye reached it (the answers to its last frames) until the server closes. The server reads
    # nothing more from it: to the server, leaving is closed.
    LEAVING = "leaving"
    CLOSED = "closed"  # after shutdown, a fatal error or the peer closing

    __hash__ = object.__hash__  # as Role's


# The members the per-frame path compares with, as module globals: on Python 3.11 every
# attribute read on an Enum class goes through EnumType.__getattr__'s hook, several hundred
# instructions each (bench/README.md, "Round 2, seventh session"); a global is a dict lookup.
_OPEN, _LEAVING, _CLOSED = State.OPEN, State.LEAVING, State.CLOSED
_SERVER, _CLIENT = Role.SERVER, Role.CLIENT


class ProtocolError(Exception):
    """Base of both error families; ``code`` is a PROTOCOL.md section 6 error code."""

    request = b""  # not-lanchat: the start of the HTTP request read (JoinPage.reply reads its Host line)

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LocalProtocolError(ProtocolError):
    """You tried to send something the protocol does not allow in this state."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that cannot be understood as a lanchat stream."""


@dataclass(frozen=True, kw_only=True)
class Invalid:
    """Not a wire event: the peer sent a well-framed frame we must refuse (answer and go on)."""

    code: str
    message: str
    # the well-formed event refused for its state (hello-first: a `who` before hello), else None;
    # left out of comparisons, so an Invalid reads as its code and message
    refused: ev.Event | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ConnectionClosed:
    """Not a wire event: the peer closed its side of the stream."""


# The welcome comes once, in the handshake; after it everything the server sends keeps
# the connection open, but shutdown (PROTOCOL.md 4).
_SERVER_OPEN = {name: State.OPEN for name in ev.SERVER_EVENTS if name not in ("welcome", "challenge", "held")} | {
    ev.FileBytes.type: State.OPEN,  # a binary frame (file-data, raw)
    "shutdown": State.CLOSED,
}

# TRANSITIONS[(who sends, state)] = {event type: state after it}. What is not listed is refused.
TRANSITIONS: dict[tuple[Role, State], dict[str, State]] = {
    # auth answers a challenge (PROTOCOL.md, Identity and room password)
    (Role.CLIENT, State.HANDSHAKE): {"hello": State.HANDSHAKE, "auth": State.HANDSHAKE, "bye": State.CLOSED},
    (Role.CLIENT, State.OPEN): {
        "say": State.OPEN,
        "whisper": State.OPEN,
        "who": State.OPEN,
        **{cls.type: State.OPEN for cls in ev.HISTORY_CLIENT_EVENTS},  # history (/history N)
        **{cls.type: State.OPEN for cls in ev.IDENTITY_CLIENT_EVENTS},  # whois, release
        **{cls.type: State.OPEN for cls in ev.FILE_CLIENT_EVENTS},  # offer, chunk, upload-done, get, files, cancel
        **{cls.type: State.OPEN for cls in ev.MOD_CLIENT_EVENTS},  # moderate (/kick, /mute, /mode...)
        ev.UploadBytes.type: State.OPEN,  # a binary frame (chunk, raw)
        **{cls.type: State.OPEN for cls in ev.SCREEN_CLIENT_EVENTS},  # me, nick, away, topic, typing
        ev.Ping.type: State.OPEN,  # are you there? (PROTOCOL.md, Liveness)
        "bye": State.LEAVING,
    },
    (Role.SERVER, State.HANDSHAKE): {
        "welcome": State.OPEN,
        "challenge": State.HANDSHAKE,  # a hello with a key: sign this first
        "error": State.HANDSHAKE,  # a refused name: the client may try another
        "held": State.HANDSHAKE,  # the room is starting: the welcome comes once its host is in
        "shutdown": State.CLOSED,
    },
    (Role.SERVER, State.OPEN): _SERVER_OPEN,
    # what the server sent before the client's bye reached it: still read by the leaving client
    (Role.SERVER, State.LEAVING): {name: State.LEAVING if after is State.OPEN else after for name, after in _SERVER_OPEN.items()},
}
# Connection.next_says takes a say without touching the state: true while this holds.
assert TRANSITIONS[(Role.CLIENT, State.OPEN)]["say"] is State.OPEN


def encode(event: ev.Event) -> bytes:
    """One event -> one frame. Used directly for broadcasts: encode once, send to everyone."""
    if type(event) is ev.Message:
        return _message_frame(event)
    if isinstance(event, (ev.UploadBytes, ev.FileBytes)):
        return binary_frame(event.id, event.data)
    return encode_json(event.to_json())


def _message_frame(message: ev.Message) -> bytes:
    """A room message's frame, its JSON object built by hand: the bytes
    ``encode_json(message.to_json())`` gives (tests/test_protocol.py compares them), without
    the generic walk over the fields. A busy room encodes every message once (bench/README.md)."""
    if not (message.history or message.action):  # a live message (``action`` is a replay's: PROTOCOL.md, History replay)
        return message_frame(message.sender, message.text, message.time)
    obj: dict[str, object] = {"type": "message", "from": message.sender, "text": message.text, "time": message.time}
    if message.history:  # replayed from the history store (left out while false, as ``action``)
        obj["history"] = True
    if message.action:  # a /me replayed (PROTOCOL.md, History replay)
        obj["action"] = True
    return encode_json(obj)


class _MessageFrame(msgspec.Struct, tag_field="type", tag="message", rename={"sender": "from"}):
    """A live room message as msgspec writes it: the tag first, then the fields in this order,
    the keys and order of ``Message.to_json()``."""

    sender: str
    text: str
    time: float


_ENCODE_STRUCT = msgspec.json.Encoder().encode


def message_frame(sender: str, text: str, time: float) -> bytes:
    """The frame of a live ``Message(sender=, text=, time=)`` without building the event: the
    say short path's encoder (hub.py, ``Hub.say``), the same bytes as ``encode()``."""
    return frame(_ENCODE_STRUCT(_MessageFrame(sender, text, time)))


TLS_RECORD_TYPES = (0x14, 0x15, 0x16, 0x17)  # change-cipher-spec, alert, handshake, application data


def looks_like_tls(data: bytes) -> bool:
    """Do these first bytes of a stream start a TLS record (a ClientHello, an alert)?

    A lanchat frame starts with a 4-byte length of at most 64 KiB, so its first byte is 0; a TLS
    record starts with its type (20 to 23) and then 3, the major version. Never both."""
    return len(data) >= 2 and data[0] in TLS_RECORD_TYPES and data[1] == 3


def text_greeting(data: bytes, limit: int = 60) -> str | None:
    """The first line of a stream that opens with printable ASCII text (a web server's
    "HTTP/1.1 400 ...", an SSH or mail server's banner), cut to ``limit`` characters; None when
    the bytes are not text (a lanchat frame starts with 0). Safe to print: ASCII 32-126 only."""
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if len(line) < 3 or not all(32 <= byte < 127 for byte in line[:limit]):
        return None
    text = line[:limit].decode("ascii")
    return text + "..." if len(line) > limit else text


HTTP_HEAD = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
HTTP_REQUEST_KEPT = 2048  # of a browser's request: its Host line is near the top
# A Host header's value that reads as an address to type: a name or IPv4 address, or an IPv6 one
# in brackets (a zone, %25eth0, is left out: it names the browser's interface, not the joiner's),
# then maybe a port. Anything else (a forged header, odd bytes) is not repeated.
_HOST_VALUE = re.compile(rb"(?:([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}))|\[([0-9A-Fa-f:.]{2,45})\])(?::([0-9]{1,5}))?")


@dataclass(frozen=True)
class JoinPage:
    """The page a web browser pointed at the port gets (PROTOCOL.md 2): an HTTP 400 saying this is
    a chat room and the command that joins it from here: ``--tls`` on a TLS port, ``--unix PATH``
    for a socket file, and the host and port the browser used (its Host line), else the server's
    port and HOST. The server that listens says which (Server: hub.join_page)."""

    tls: bool = False
    port: int | None = None
    unix_path: str | None = None

    def reply(self, request: bytes = b"") -> bytes:
        if self.unix_path is not None:
            import shlex

            command = f"python -m lanchat connect {'--tls ' if self.tls else ''}--unix {shlex.quote(self.unix_path)}"
            typed = f"nc -U {shlex.quote(self.unix_path)}"
        else:
            host, port = host_of_request(request)
            where = f"{host or 'HOST'} {port or self.port or 'PORT'}"
            command = f"python -m lanchat connect {'--tls ' if self.tls else ''}{where}"
            typed = f"nc {where}"
        if self.tls:
            lines = (
                "This is a lanchat chat room, not a web page: a web browser cannot join it.",
                "It uses TLS. Join it with:",
                f"  {command}",
                "and check that the fingerprint it shows is the one the host's screen shows.",
            )
        else:
            lines = (
                "This is a lanchat chat room, not a web page: a web browser cannot join it.",
                "Join it with:",
                f"  {command}",
                f"or type in any terminal: {typed} (then Enter, and your name)",
            )
        return HTTP_HEAD + "".join(f"{line}\r\n" for line in lines).encode("utf-8", "replace")


def host_of_request(request: bytes) -> tuple[str | None, int | None]:
    """The host and port of an HTTP request's Host line, when they read as an address (else None)."""
    head = request[:HTTP_REQUEST_KEPT].split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"host":
            found = _HOST_VALUE.fullmatch(value.strip())
            if found is None:
                return None, None
            name_or_ip, ipv6, port = found.groups()
            number = int(port) if port is not None else None
            return (name_or_ip or ipv6).decode("ascii"), number if number is not None and 0 < number < 65536 else None
    return None, None


HTTP_REPLY = JoinPage().reply()  # what a server that says nothing of its ports answers


@functools.cache
def _client_say_reader() -> Callable[[bytes], str | None]:
    """Connection.next_says' reader of clients' frames, built on first use (not at import)."""
    return ev.say_reader(ev.CLIENT_EVENTS)


class Connection:
    """The protocol state of one connection, seen from ``our_role``'s side."""

    def __init__(self, our_role: Role) -> None:
        self.our_role = our_role
        self.their_role = Role.SERVER if our_role is Role.CLIENT else Role.CLIENT
        self.state = State.HANDSHAKE
        self._decoder = FrameDecoder()
        # Whole frames not parsed yet (bytes), and ConnectionClosed, in arrival order.
        # Kept as a list and a read position, not a deque: an empty deque costs about 600 bytes,
        # and a server holds two per connection (bench: RSS with 2,000 clients).
        self._pending: list[bytes | ConnectionClosed] = []
        self._pending_at = 0  # the next item of _pending to hand out
        self._table = ev.CLIENT_EVENTS if our_role is Role.SERVER else ev.SERVER_EVENTS
        self._opening = b""  # the stream's first 4 bytes, to recognise an HTTP request
        self._ready: list[object] = []  # parsed, not yet handed out (_parse_now)
        self.peer_closed = False
        # Bytes of the frames the typed fast path refused, handed to the plain path: about 50 ns
        # a byte there, ~100 times a usual frame's. The server's guard charges them to the sender
        # and sets this back to 0 (guard.Guard.charge_slow_bytes).
        self.slow_bytes = 0

    # ------------------------------------------------------------------ sending

    def send(self, event: ev.Event, frame: bytes | None = None) -> bytes:
        """Check that we may send ``event`` now, update the state, return its frame: ``frame``
        when given (``encode(event)`` made once for many: a download piece a class fetches)."""
        if event.sent_by != self.our_role.value:
            raise LocalProtocolError(ev.E_BAD_MESSAGE, f"a {self.our_role.value} cannot send {event.type!r}")
        allowed = TRANSITIONS.get((self.our_role, self.state), {})
        if event.type not in allowed:
            raise LocalProtocolError(
                ev.E_BAD_MESSAGE, f"cannot send {event.type!r} in state {self.state.value}"
            )
        self.state = allowed[event.type]
        if isinstance(event, ev.Error) and event.fatal:
            self.state = State.CLOSED
        return encode(event) if frame is None else frame

    @property
    def partial_frame_bytes(self) -> int:
        """Bytes received of a frame not yet whole (the per-frame deadline watches it)."""
        return len(self._decoder.buffer)  # FrameDecoder.pending_bytes, one call less a read

    # ---------------------------------------------------------------- receiving

    def note_reset(self) -> None:
        """The end about to be fed (``b""``) is a reset or a read error, not a close. A lanchat
        connection ends the same either way: without ``bye`` it is ``lost`` (PROTOCOL.md 8).
        (A text participant's is told apart: textline.py.)"""

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the peer; ``b""`` means the peer closed the stream.

        Raises RemoteProtocolError when the stream cannot be framed; after that the
        connection is CLOSED and the edge should answer (``fatal_reply``) and disconnect.
        """
        if not data:
            if not self.peer_closed:
                self.peer_closed = True
                self._pending.append(ConnectionClosed())  # the state closes when it is reached
                self._parse_now()
            return
        if self.state is _CLOSED or self.peer_closed:
            return  # nothing the peer says after the end matters
        if len(self._opening) < 4 and self.our_role is _SERVER:
            # The opening may arrive in pieces ("G", then "ET /"): wait for 4 bytes. Every
            # HTTP method's first 4 bytes read as an impossible frame length, so this never
            # mistakes a real lanchat frame for HTTP.
            already = len(self._opening)
            self._opening += data[: 4 - already]
            if looks_like_http(self._opening):
                self.state = State.CLOSED
                refused = RemoteProtocolError(ev.E_NOT_LANCHAT, "the peer spoke HTTP, not lanchat")
                refused.request = self._opening + data[len(self._opening) - already :][:HTTP_REQUEST_KEPT]
                raise refused
            if looks_like_tls(self._opening):
                self.state = State.CLOSED
                raise RemoteProtocolError(ev.E_BAD_FRAME, "a TLS client, but this server runs without --tls")
        try:
            payloads = self._decoder.feed(data)
        except FrameError as exc:
            # What came whole before the bad header still counts: parsed now, in this state,
            # since after it the connection is closed.
            self._pending.extend(exc.payloads)
            self._parse_now(everything=True)
            self.state = State.CLOSED
            raise RemoteProtocolError(ev.E_BAD_FRAME, str(exc)) from None
        self._pending.extend(payloads)
        if self.our_role is _CLIENT:
            self._parse_now()

    def _parse_now(self, *, everything: bool = False) -> None:
        """A client parses what the server sent at once, so a server that breaks the protocol
        is found in receive_data; a server parses a client's frames as they are asked for
        (next_event), each in the state the frames before it left."""
        if everything or self.our_role is Role.CLIENT:
            while (item := self._parse_next()) is not None:
                self._ready.append(item)  # kept even if a later frame raises

    def next_event(self) -> object | None:
        """The next thing received: an Event, an Invalid (answer it and go on) or
        ConnectionClosed; None when nothing whole is waiting."""
        if self._ready:
            return self._ready.pop(0)  # a client's, and a client drains them with events()
        return self._parse_next()

    def next_says(self, most: int) -> list[str]:
        """The short path (hub.py, ``Hub.say``): the texts of the well-formed ``say`` frames
        waiting next, up to ``most``, taken; it stops at the first frame that is anything else
        (or at once if the state table allows no ``say`` now) and leaves that one to
        ``next_event()``, the one place that decides. A ``say`` leaves an open connection open,
        so the state needs no update here."""
        texts: list[str] = []
        if self._ready or self.state is not _OPEN or self.our_role is not _SERVER:
            return texts
        pending = self._pending
        at = self._pending_at
        end = min(len(pending), at + most)
        read = _client_say_reader()
        while at < end:
            payload = pending[at]
            if payload.__class__ is not bytes or (text := read(payload)) is None:  # type: ignore[arg-type]
                break
            texts.append(text)
            at += 1
        self._pending_at = at
        return texts

    def _parse_next(self) -> object | None:
        pending = self._pending
        while self._pending_at < len(pending):
            item = pending[self._pending_at]
            self._pending_at += 1
            if item.__class__ is ConnectionClosed:
                self.state = _CLOSED
                return item
            if self.state is not _CLOSED:  # after bye, shutdown or a fatal error, the rest is not read
                return self._parse(item)  # type: ignore[arg-type]
        if pending:
            pending.clear()  # all handed out
            self._pending_at = 0
        return None

    def events(self) -> list[object]:
        """Everything received so far: Events, Invalid and ConnectionClosed, in order."""
        out, self._ready = self._ready, []  # a client's: parsed in receive_data already
        while (event := self._parse_next()) is not None:
            out.append(event)
        return out

    def _parse(self, payload: bytes) -> object:
        if is_binary(payload):
            return self._parse_binary(payload)
        event = ev.fast_event_from_payload(payload, self._table)  # the usual frame, in one step
        if event is not None:
            return self._received(event)
        self.slow_bytes += len(payload)
        try:  # the plain path: decides, and words, whatever the fast path would not take
            obj = decode_refused_json(payload)  # one made to be slow to read too (wire.py)
        except UnicodeDecodeError:
            return self._remote_mistake(ev.E_BAD_JSON, "the frame is not valid UTF-8")
        except NotText:  # PROTOCOL.md 2: JSON, but a string in it is not text
            return self._remote_mistake(ev.E_BAD_MESSAGE, "a string in the frame holds a lone surrogate")
        except NotFinite:  # PROTOCOL.md, Ranges of numbers: a client drops that one event
            problem = "the frame holds NaN, Infinity or a number too large, not a finite number"
            if self.our_role is Role.CLIENT:
                return Invalid(code=ev.E_OUT_OF_RANGE, message=problem)
            return self._remote_mistake(ev.E_OUT_OF_RANGE, problem)
        except ValueError:
            return self._remote_mistake(ev.E_BAD_JSON, "the frame is not valid JSON")
        except RecursionError:  # "[[[[..." 64 KiB deep: refuse it rather than crash the loop
            return self._remote_mistake(ev.E_BAD_JSON, "the frame's JSON is nested too deeply")
        try:
            event = ev.event_from_json(obj, self._table)
        except ev.EventShapeError as exc:
            if exc.code in (ev.E_UNKNOWN_TYPE, ev.E_OUT_OF_RANGE) and self.our_role is Role.CLIENT:
                # PROTOCOL.md 3: clients ignore types added by newer servers. A number out of
                # range costs that one event, not the chat (PROTOCOL.md, Ranges of numbers).
                return Invalid(code=exc.code, message=str(exc))
            return self._remote_mistake(exc.code, str(exc))
        return self._received(event)

    def _parse_binary(self, payload: bytes) -> object:
        """A binary frame (first byte 0): a raw file piece, named for the state table."""
        try:
            ident, data = split_binary(payload)
        except ValueError as exc:
            return self._remote_mistake(ev.E_BAD_MESSAGE, str(exc))
        cls = ev.BINARY_EVENTS[self.their_role.value]
        return self._received(cls(id=ident, data=data))  # type: ignore[call-arg]

    def _received(self, event: ev.Event) -> object:
        """Check a well-formed event against the state table and move the state on."""
        allowed = TRANSITIONS[(self.their_role, self.state)]
        if event.type not in allowed:
            if self.our_role is Role.SERVER:
                if self.state is State.HANDSHAKE:
                    return Invalid(code=ev.E_HELLO_FIRST, message='send "hello" before anything else', refused=event)
                return Invalid(code=ev.E_BAD_MESSAGE, message=f'"{event.type}" is not allowed now')
            state, self.state = self.state, State.CLOSED  # a server that breaks the order cannot be chatted with
            raise RemoteProtocolError(ev.E_BAD_MESSAGE, f"server sent {event.type!r} in state {state.value}")
        self.state = allowed[event.type]
        if self.state is _LEAVING and self.our_role is _SERVER:
            self.state = _CLOSED  # to the server, a client that said bye is closed: nothing more is read
        if isinstance(event, ev.Error) and event.fatal:
            self.state = State.CLOSED
        return event

    def _remote_mistake(self, code: str, message: str) -> Invalid:
        # A server that sends garbage is not one we can chat with; a client's garbage is
        # answered with an error frame and the connection goes on.
        if self.our_role is Role.CLIENT:
            self.state = State.CLOSED
            raise RemoteProtocolError(code, f"the server sent a bad frame: {message}")
        return Invalid(code=code, message=message)


def fatal_reply(error: ProtocolError, page: JoinPage = JoinPage()) -> bytes:
    """What a server writes before disconnecting a peer whose stream it cannot frame; a web
    browser's request gets ``page`` (JoinPage: the command that joins this server)."""
    if error.code == ev.E_NOT_LANCHAT:
        return page.reply(error.request)
    return encode(ev.Error(code=error.code, message=error.message, fatal=True))
