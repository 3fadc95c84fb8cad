"""events.py: every message that crosses the wire, as a frozen dataclass. Never does I/O.

Each event maps to one JSON object with a ``type`` field (docs/PROTOCOL.md, section 3).
``to_json()`` gives the object, ``event_from_json()`` checks and builds an event from one.
Validation here is about *shape* (fields present, right types); rules that need the room
(names taken, whose turn it is) live in room.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Annotated, Any, ClassVar, NamedTuple, Union

import msgspec

# The name rule lives in names.py (NFKC, case fold, confusable skeleton, invisible characters, brackets);
# it is re-exported here because every module already asks events for it.
from .names import MAX_NAME_CHARS, name_key, name_problem  # noqa: F401

PROTOCOL_VERSION = 2
# Versions a server accepts in ``hello``: 1 joins as a keyless guest (PROTOCOL.md, Identity).
SUPPORTED_VERSIONS = (1, 2)
# lanchat's first release spoke version 1 and knows none of the types added since: a /me and a
# /nick reach its clients as frames it reads (room_social.to_each_age; PROTOCOL.md, What IRC users reach for).
FIRST_RELEASE_VERSION = 1

# docs/PROTOCOL.md section 5: limits
MAX_TEXT_CHARS = 4000
MAX_REASON_CHARS = 200
# A welcome's ``resume`` secret (PROTOCOL.md, Rejoining): lanchat's server makes 24 characters of
# URL-safe base64; a client takes one of at most this many from that alphabet, or goes without.
MAX_RESUME_CHARS = 128
_RESUME_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def is_resume_secret(secret: str) -> bool:
    """Could ``secret`` be a server's resume secret? A fake one's 65 KB secret made every rejoin
    hello too big to be taken: the client said "still no connection" for ten minutes."""
    return 0 < len(secret) <= MAX_RESUME_CHARS and _RESUME_ALPHABET.issuperset(secret)


class Event:
    """Base class: every event knows its wire ``type`` and which side may send it."""

    type: ClassVar[str] = ""
    sent_by: ClassVar[str] = ""  # "client", "server"

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"type": self.type}
        for wired in _wire_fields(type(self)):
            value = getattr(self, wired.name)
            if wired.omit_default and value == wired.default:
                continue  # an optional extension field: old peers never see it
            if isinstance(value, tuple):
                value = list(value)
            obj[wired.key] = value
        return obj


class _WireField(NamedTuple):
    name: str  # the Python attribute
    key: str  # the JSON key
    omit_default: bool
    default: Any
    required: bool
    annotation: str
    where: str  # how an error message names it
    check: Callable[[Any, str], Any]  # _checker(annotation)


_WIRE_FIELDS: dict[type, tuple[_WireField, ...]] = {}


def _wire_fields(cls: type) -> tuple[_WireField, ...]:
    """``cls``'s fields as the wire sees them, worked out once per class: dataclasses.fields()
    rebuilds its answer on every call, and a busy server encodes and decodes every message."""
    found = _WIRE_FIELDS.get(cls)
    if found is None:
        found = tuple(
            _WireField(
                name=f.name,
                key=f.metadata.get("wire", f.name),
                omit_default=bool(f.metadata.get("omit_default")),
                default=f.default,
                required=f.default is MISSING and f.default_factory is MISSING,
                annotation=str(f.type),
                where=f'"{f.metadata.get("wire", f.name)}"',
                # every field called "time" is a time stamp (Message, Direct, Joined, Left, Offered)
                check=_checker("time" if f.name == "time" else str(f.type)),
            )
            for f in fields(cls)
        )
        _WIRE_FIELDS[cls] = found
    return found


def _wire(name: str) -> Any:
    """A required field whose JSON key differs from its Python name (``from`` is a keyword)."""
    return field(metadata={"wire": name})


def _flag() -> Any:
    """An optional true/false field left out of the JSON while false, so the frames of
    peers that do not use it stay exactly as they were (PROTOCOL.md, History replay)."""
    return field(default=False, metadata={"omit_default": True})


# ---------------------------------------------------------------- client -> server


@dataclass(frozen=True, kw_only=True)
class Hello(Event):
    """First frame a client sends: which protocol it speaks and the name it wants."""

    type: ClassVar[str] = "hello"
    sent_by: ClassVar[str] = "client"
    name: str
    version: int = PROTOCOL_VERSION
    # Rejoining after a lost connection (PROTOCOL.md, Rejoining): the token from the last
    # welcome, which takes over a stale session of the same name at once, and the time of the
    # newest message seen, so the replay brings only what was missed. Left out when null.
    resume: str | None = field(default=None, metadata={"omit_default": True})
    since: float | None = field(default=None, metadata={"omit_default": True})
    # Version 2: the client's Ed25519 public key, base64 (PROTOCOL.md, Identity). Absent: a
    # keyless guest, who owns no name and is given no stored direct messages.
    key: str | None = field(default=None, metadata={"omit_default": True})
    # The client reads ``held`` (PROTOCOL.md, Held while the room starts): the server may say
    # at once that this hello waits for the room's host. Left out while false.
    hold_notice: bool = _flag()


@dataclass(frozen=True, kw_only=True)
class Say(Event):
    """A message for everyone in the room."""

    type: ClassVar[str] = "say"
    sent_by: ClassVar[str] = "client"
    text: str


@dataclass(frozen=True, kw_only=True)
class Whisper(Event):
    """A direct message to one person."""

    type: ClassVar[str] = "whisper"
    sent_by: ClassVar[str] = "client"
    to: str
    text: str


@dataclass(frozen=True, kw_only=True)
class Who(Event):
    """Ask for the roster."""

    type: ClassVar[str] = "who"
    sent_by: ClassVar[str] = "client"
    # Sent before hello by `lanchat doctor`'s probe, which reads ``held`` (PROTOCOL.md, Held while
    # the room starts): a room still starting says so at once. Left out while false.
    hold_notice: bool = _flag()


@dataclass(frozen=True, kw_only=True)
class Bye(Event):
    """The client is leaving on purpose (``/q``)."""

    type: ClassVar[str] = "bye"
    sent_by: ClassVar[str] = "client"


# ---------------------------------------------------------------- server -> client


@dataclass(frozen=True, kw_only=True)
class Welcome(Event):
    """The handshake succeeded: your (exact) name, the room's mode, who is here, whose turn."""

    type: ClassVar[str] = "welcome"
    sent_by: ClassVar[str] = "server"
    name: str
    mode: str
    members: tuple[str, ...]
    turn: str | None = None
    host: str | None = None
    version: int = PROTOCOL_VERSION
    # The server closes when the last person leaves (serve --once, seed 000): left out while false.
    once: bool = _flag()
    # A secret for this session, sent back in ``hello`` on rejoining (PROTOCOL.md, Rejoining).
    resume: str | None = field(default=None, metadata={"omit_default": True})
    # The room keeps history on the server's machine (PROTOCOL.md, History replay): said on joining.
    keeps_history: bool = _flag()
    # The flood limit this participant's frames count against (PROTOCOL.md, Abuse limits): at
    # most ``flood_burst`` at once, then ``flood_rate`` a second. Left out when none holds for them.
    flood_burst: int | None = field(default=None, metadata={"omit_default": True})
    flood_rate: float | None = field(default=None, metadata={"omit_default": True})
    # How many of ``flood_burst`` are left now (someone who spent them and joins again: a rejoin,
    # a second terminal). Left out when all of them are, so an old client loses nothing.
    flood_tokens: int | None = field(default=None, metadata={"omit_default": True})
    # Which of ``members`` are the server's own bots, not people (PROTOCOL.md, The colour bot).
    # Left out while none is here; an older client ignores it.
    bots: tuple[str, ...] = field(default=(), metadata={"omit_default": True})
    # Which of ``members`` are text participants, at nc or telnet (PROTOCOL.md, Text participants):
    # they cannot fetch files. Left out while none is here; an older client ignores it.
    text: tuple[str, ...] = field(default=(), metadata={"omit_default": True})
    # This participant is muted (PROTOCOL.md, Moderation; a mute survives a restart): the minutes
    # left, 0 until unmuted. Left out when they are not, so every other welcome is as it was.
    muted: int | None = field(default=None, metadata={"omit_default": True})
    # ... and for a timed mute the seconds left, rounded up: the minutes alone put the end up to a
    # minute late, and could not tell a mute replaced while away from the one known before. Left
    # out with ``muted`` and for a mute until unmuted; an older client ignores it.
    muted_seconds: int | None = field(default=None, metadata={"omit_default": True})
    # The server answers ``ping`` with ``pong`` (PROTOCOL.md, Liveness): a client pings only a
    # server that says so. Left out while false, so an older client sees the welcome it knew.
    ping: bool = _flag()


@dataclass(frozen=True, kw_only=True)
class Message(Event):
    """A room message, stamped by the server with the sender's name and the time."""

    type: ClassVar[str] = "message"
    sent_by: ClassVar[str] = "server"
    sender: str = _wire("from")
    text: str
    time: float
    history: bool = _flag()  # replayed from the history store, not said just now
    # A /me replayed from the history (PROTOCOL.md, History replay): ``text`` is what ``sender``
    # did, as in an ``action``. Only on replayed messages; an older client shows it as a message.
    action: bool = _flag()


@dataclass(frozen=True, kw_only=True)
class Direct(Event):
    """A direct message; the sender gets a copy so both sides see the same stamped line."""

    type: ClassVar[str] = "direct"
    sent_by: ClassVar[str] = "server"
    sender: str = _wire("from")
    to: str
    text: str
    time: float
    history: bool = _flag()  # replayed from the history store, not said just now
    held: bool = _flag()  # the sender's copy: ``to`` is away and will get it on joining


@dataclass(frozen=True, kw_only=True)
class Joined(Event):
    """Someone joined. Carries the new name only, never the whole roster."""

    type: ClassVar[str] = "joined"
    sent_by: ClassVar[str] = "server"
    name: str
    time: float
    bot: bool = _flag()  # the newcomer is one of the server's own bots (PROTOCOL.md, The colour bot)
    text: bool = _flag()  # the newcomer is a text participant, at nc (PROTOCOL.md, Text participants)
    rejoined: bool = _flag()  # their session's own rejoin, back after the server noticed the drop (PROTOCOL.md, Rejoining)


# A left reason (additive): the same person joined again from another window or machine (a
# takeover, PROTOCOL.md Rejoining); their joined follows at once. An older client shows "left".
LEFT_MOVED = "moved"
# A left reason (additive), sent only to a client whose hello said version 1: the person took
# another name (/nick), and a joined under the new one follows (room_social.to_each_age).
LEFT_RENAMED = "renamed"


@dataclass(frozen=True, kw_only=True)
class Left(Event):
    """Someone left: ``quit`` (said /q), ``lost`` (connection dropped), ``dropped`` (too slow),
    ``moved`` (``LEFT_MOVED``: they joined again elsewhere, a ``joined`` follows), ``kicked`` or
    ``banned`` (by an operator), ``flooding`` (disconnected by flood control)."""

    type: ClassVar[str] = "left"
    sent_by: ClassVar[str] = "server"
    name: str
    reason: str
    time: float
    # with ``moved``: the session came back by its own rejoin (its resume secret), not a new window
    rejoined: bool = _flag()


@dataclass(frozen=True, kw_only=True)
class Roster(Event):
    """Who is here, in join order (the turn order in turn-based mode)."""

    type: ClassVar[str] = "roster"
    sent_by: ClassVar[str] = "server"
    members: tuple[str, ...]
    # Moderation (PROTOCOL.md): who here is muted, and each one's minutes left in the same order
    # (0: until unmuted). Left out while nobody here is, so the frames of a room without mutes
    # stay exactly as they were; older clients ignore them.
    muted: tuple[str, ...] = field(default=(), metadata={"omit_default": True})
    muted_minutes: tuple[int, ...] = field(default=(), metadata={"omit_default": True})
    # Which of ``members`` are the server's own bots (PROTOCOL.md, The colour bot); left out while none is.
    bots: tuple[str, ...] = field(default=(), metadata={"omit_default": True})
    # Which of ``members`` are text participants, at nc (PROTOCOL.md, Text participants); left out while none is.
    text: tuple[str, ...] = field(default=(), metadata={"omit_default": True})

    def mute_notes(self) -> dict[str, str]:
        """name_key -> how /who marks a muted member: "muted for 8 more minutes", "muted until
        unmuted", or "muted" when the minutes are missing or make no sense (another server)."""
        return {
            name_key(name): mute_note(self.muted_minutes[i] if i < len(self.muted_minutes) else -1)
            for i, name in enumerate(self.muted)
        }


def mute_note(minutes: int) -> str:
    """A mute's minutes left as said: "muted for 8 more minutes", "muted until unmuted" (0), or
    "muted" when they are missing (-1) or make no sense (another server's number)."""
    if 0 < minutes <= MAX_MUTE_MINUTES:  # more than a mute can be: another server's number
        return f"muted for {minutes} more minute{'s' if minutes != 1 else ''}"
    return "muted until unmuted" if minutes == 0 else "muted"


@dataclass(frozen=True, kw_only=True)
class Turn(Event):
    """Whose turn it is now (turn-based mode); ``None`` while waiting for someone to join."""

    type: ClassVar[str] = "turn"
    sent_by: ClassVar[str] = "server"
    holder: str | None


@dataclass(frozen=True, kw_only=True)
class Error(Event):
    """Something the client sent was refused. ``fatal`` means the server closes next."""

    type: ClassVar[str] = "error"
    sent_by: ClassVar[str] = "server"
    code: str
    message: str
    fatal: bool = False
    # slow-down: the frame refused, as JSON text, so a pacing client can send it again in its
    # place (PROTOCOL.md, Abuse limits). Left out elsewhere, and for a frame too big to quote.
    refused: str | None = field(default=None, metadata={"omit_default": True})
    # slow-down (not fatal): seconds to wait before sending a counted frame again. One sent once
    # they are up obeys it and is no step towards a pause (PROTOCOL.md, Abuse limits). Left out elsewhere.
    retry_after: float | None = field(default=None, metadata={"omit_default": True})


@dataclass(frozen=True, kw_only=True)
class Shutdown(Event):
    """The server is closing; it sends nothing after this."""

    type: ClassVar[str] = "shutdown"
    sent_by: ClassVar[str] = "server"
    reason: str = "the server is shutting down"
    # the host ended the chat on purpose (its /q, Ctrl-C): it will not be back, so a client that
    # would wait for a restart ends instead. Left out while false (PROTOCOL.md 8, Shutdown).
    final: bool = _flag()


CLIENT_EVENTS: dict[str, type[Event]] = {cls.type: cls for cls in (Hello, Say, Whisper, Who, Bye)}
SERVER_EVENTS: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (Welcome, Message, Direct, Joined, Left, Roster, Turn, Error, Shutdown)
}

# ------------------------------------------- file transfer (PROTOCOL.md, Extensions: File transfer)


def _absent() -> Any:
    """An optional field left out of the JSON while it is null, so frames stay short."""
    return field(default=None, metadata={"omit_default": True})


@dataclass(frozen=True, kw_only=True)
class OfferFile(Event):
    """Ask to offer a file: the server answers ``upload-ready`` (with the file's id) or ``file-error``.

    ``ref`` is the client's own number for the offer, echoed back so it knows which file to send.
    The checksum comes at the end (``upload-done``): the sender hashes as it reads, so offering a
    file too large for the server costs nothing and never freezes the sender's chat.
    """

    type: ClassVar[str] = "offer"
    sent_by: ClassVar[str] = "client"
    ref: int
    name: str
    size: int
    to: str | None = _absent()


@dataclass(frozen=True, kw_only=True)
class UploadChunk(Event):
    """The next piece of an upload, base64 (files.CHUNK_BYTES raw bytes at most)."""

    type: ClassVar[str] = "chunk"
    sent_by: ClassVar[str] = "client"
    id: str
    data: str


@dataclass(frozen=True, kw_only=True)
class UploadDone(Event):
    """All ``size`` bytes of upload ``id`` were sent; ``sha256`` is what the sender read."""

    type: ClassVar[str] = "upload-done"
    sent_by: ClassVar[str] = "client"
    id: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class GetFile(Event):
    """Download file ``id``: the server answers ``file-start``, ``file-data``... or ``file-error``.

    ``binary``: send the bytes as binary frames (``FileBytes``), not base64 ``file-data``.
    """

    type: ClassVar[str] = "get"
    sent_by: ClassVar[str] = "client"
    id: str
    binary: bool = _flag()
    # Resuming (PROTOCOL.md, Resuming a download): the bytes the client holds already, and the
    # SHA-256 of the whole file they belong to; the server starts there when it is that file.
    offset: int | None = _absent()
    sha256: str | None = _absent()
    # Request ids (PROTOCOL.md, Request ids): the client's own number for this get, echoed in the
    # file-start or file-error that answers it, so a late answer to an earlier get is told apart.
    req: int | None = _absent()


@dataclass(frozen=True, kw_only=True)
class ListFiles(Event):
    """Ask what is on offer."""

    type: ClassVar[str] = "files"
    sent_by: ClassVar[str] = "client"


@dataclass(frozen=True, kw_only=True)
class CancelFile(Event):
    """Stop the upload or download of file ``id`` (the file could not be read or written)."""

    type: ClassVar[str] = "cancel"
    sent_by: ClassVar[str] = "client"
    id: str
    req: int | None = _absent()  # a download: only the one its get with this req began (absent: any of ``id``)


@dataclass(frozen=True, kw_only=True)
class UploadReady(Event):
    """The offer ``ref`` is within limits: send its chunks under ``id``."""

    type: ClassVar[str] = "upload-ready"
    sent_by: ClassVar[str] = "server"
    ref: int
    id: str
    binary: bool = _flag()  # the server takes the chunks as binary frames (UploadBytes)


@dataclass(frozen=True, kw_only=True)
class Offered(Event):
    """A file arrived whole and checked, and is on offer: fetch it with ``get``.

    ``to`` names the one recipient of a private offer. ``listing`` marks the copies sent in
    answer to ``files`` (after a ``file-list`` header) rather than a new offer.
    """

    type: ClassVar[str] = "offered"
    sent_by: ClassVar[str] = "server"
    id: str
    name: str
    size: int
    sha256: str
    sender: str = _wire("from")
    to: str | None = _absent()
    time: float
    listing: bool = _flag()
    # in a listing sent to the file's offerer: how many people were sent it whole (else absent)
    fetched: int | None = _absent()


@dataclass(frozen=True, kw_only=True)
class FileList(Event):
    """Answer to ``files``: ``count`` ``offered`` events with ``listing`` true follow (the newest
    files.MAX_LISTED); ``unlisted`` older offers are not listed."""

    type: ClassVar[str] = "file-list"
    sent_by: ClassVar[str] = "server"
    count: int
    unlisted: int = field(default=0, metadata={"omit_default": True})


@dataclass(frozen=True, kw_only=True)
class FileStart(Event):
    """A download begins: ``size`` bytes (``size - offset`` when resumed) follow in ``file-data`` events, then check ``sha256``."""

    type: ClassVar[str] = "file-start"
    sent_by: ClassVar[str] = "server"
    id: str
    name: str
    size: int  # the whole file's
    sha256: str
    offset: int | None = _absent()  # a resumed download: the first byte that follows (absent: 0)
    req: int | None = _absent()  # the req of the get it answers, when that get gave one


@dataclass(frozen=True, kw_only=True)
class FileData(Event):
    """The next piece of a download, base64."""

    type: ClassVar[str] = "file-data"
    sent_by: ClassVar[str] = "server"
    id: str
    data: str


@dataclass(frozen=True, kw_only=True)
class FileError(Event):
    """An offer, upload or download failed or was refused; only the person concerned hears it."""

    type: ClassVar[str] = "file-error"
    sent_by: ClassVar[str] = "server"
    message: str
    id: str | None = _absent()
    ref: int | None = _absent()
    req: int | None = _absent()  # the req of the get it answers, when that get gave one
    code: str | None = _absent()  # why, when a code says it: "restricted" (an operator's /restrict files)


# Binary frames (PROTOCOL.md, Extensions: Binary file frames): the same pieces as ``chunk`` and
# ``file-data``, raw. They are not JSON, so they are in no JSON table; protocol.py recognises
# them by their first byte and gives them these names for its state table.


@dataclass(frozen=True, kw_only=True)
class UploadBytes(Event):
    """The next piece of an upload in a binary frame: raw bytes, no base64, no JSON."""

    type: ClassVar[str] = "chunk-bytes"
    sent_by: ClassVar[str] = "client"
    id: str
    data: bytes


@dataclass(frozen=True, kw_only=True)
class FileBytes(Event):
    """The next piece of a download in a binary frame (for a ``get`` that asked for ``binary``)."""

    type: ClassVar[str] = "file-bytes"
    sent_by: ClassVar[str] = "server"
    id: str
    data: bytes


@dataclass(frozen=True, kw_only=True)
class Fetched(Event):
    """To a file's offerer alone: one more person was sent the whole file (PROTOCOL.md, File
    transfer, "Who fetched it"). ``by`` is who, ``count`` how many people have been sent it whole
    so far, each counted once, the offerer not. Told once a person; an older client ignores the
    type (PROTOCOL.md 3). Not a file-sharing event to the client's transfers: only its screen shows it."""

    type: ClassVar[str] = "fetched"
    sent_by: ClassVar[str] = "server"
    id: str
    name: str  # the file's, as offered
    by: str
    count: int


FILE_CLIENT_EVENTS: tuple[type[Event], ...] = (
    OfferFile,
    UploadChunk,
    UploadDone,
    GetFile,
    ListFiles,
    CancelFile,
)
FILE_SERVER_EVENTS: tuple[type[Event], ...] = (UploadReady, Offered, FileList, FileStart, FileData, FileError)
CLIENT_EVENTS.update({cls.type: cls for cls in FILE_CLIENT_EVENTS})
SERVER_EVENTS.update({cls.type: cls for cls in FILE_SERVER_EVENTS})
SERVER_EVENTS[Fetched.type] = Fetched  # the offerer's news (not in FILE_SERVER_EVENTS: no transfer of theirs moves)
BINARY_EVENTS: dict[str, type[Event]] = {"client": UploadBytes, "server": FileBytes}  # by sender
# Everything file sharing sends, JSON or binary: what the hub hands to server_files.py, and the client to client_files.py.
FILE_CLIENT_ALL: tuple[type[Event], ...] = (*FILE_CLIENT_EVENTS, UploadBytes)
FILE_SERVER_ALL: tuple[type[Event], ...] = (*FILE_SERVER_EVENTS, FileBytes)

# --------------------------------------- history (PROTOCOL.md, Extensions: History replay)


@dataclass(frozen=True, kw_only=True)
class HistoryRequest(Event):
    """``/history [N]``: up to ``limit`` earlier entries, older than the cursor ``before``."""

    type: ClassVar[str] = "history"
    sent_by: ClassVar[str] = "client"
    limit: int = 50
    before: int | None = None


@dataclass(frozen=True, kw_only=True)
class HistoryEnd(Event):
    """Closes a replay: ``shown`` entries (message/direct with ``history`` true) came before it.

    ``before`` is the cursor for asking for older ones; ``more`` says whether any exist.
    """

    type: ClassVar[str] = "history-end"
    sent_by: ClassVar[str] = "server"
    shown: int
    more: bool
    before: int | None = None


@dataclass(frozen=True, kw_only=True)
class Notice(Event):
    """News for one person that refuses nothing, where an ``error`` would say something went
    wrong: a ban, mute or name of theirs that waited for a full disk is saved now (PROTOCOL.md,
    History replay, "When the file fails"), or whispers kept for them while away were dropped
    before they came back ("Keeping"). ``code``: what it is about, as an error code would say
    (``history``); ``message``: for people. Older clients ignore the type (PROTOCOL.md 3)."""

    type: ClassVar[str] = "notice"
    sent_by: ClassVar[str] = "server"
    code: str
    message: str


HISTORY_CLIENT_EVENTS: tuple[type[Event], ...] = (HistoryRequest,)
CLIENT_EVENTS.update({cls.type: cls for cls in HISTORY_CLIENT_EVENTS})
SERVER_EVENTS.update({cls.type: cls for cls in (HistoryEnd, Notice)})
MAX_HISTORY_REQUEST = 1000  # entries per /history answer; a frame budget bounds it too

# Error codes (docs/PROTOCOL.md section 6). Kept as plain strings so they read well in JSON.
E_BAD_FRAME = "bad-frame"
E_BAD_JSON = "bad-json"
E_BAD_MESSAGE = "bad-message"
E_UNKNOWN_TYPE = "unknown-type"
E_NOT_LANCHAT = "not-lanchat"
E_VERSION = "version"
E_HELLO_FIRST = "hello-first"
E_BAD_NAME = "bad-name"
E_NAME_TAKEN = "name-taken"
E_TAKEN_OVER = "taken-over"  # the same person joined again (key or resume secret): this session ends
E_EMPTY = "empty-message"
E_TOO_LONG = "too-long"
E_NOT_YOUR_TURN = "not-your-turn"
E_NO_SUCH_USER = "no-such-user"
E_ROOM_FULL = "room-full"
E_TOO_SLOW = "too-slow"
E_HISTORY = "history"  # the history store cannot be written, or is switched off
E_OUT_OF_RANGE = "out-of-range"  # a number no sane peer sends (PROTOCOL.md, Ranges of numbers)

# Ranges every received number is checked against (PROTOCOL.md, Ranges of numbers): a
# malicious peer's 1e300 or NaN must not reach code that formats a clock or allocates a size.
MAX_WIRE_INT = 2**63 - 1  # what SQLite and every JSON library hold exactly
MAX_TIME = 253_402_300_799.0  # 9999-12-31 23:59:59 UTC: the last second a clock can show


class EventShapeError(ValueError):
    """A JSON object is not a valid event: carries the error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _check_text(value: str, where: str) -> str:
    """JSON may spell a lone surrogate (\\ud800), which is not text: it could not be encoded
    again, so one such message would crash every broadcast of it. Refuse it on the way in."""
    if value.isascii():
        return value  # the usual case, answered without copying the text
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EventShapeError(E_BAD_MESSAGE, f"{where} holds a lone surrogate, which is not valid text") from None
    return value


def _check_names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EventShapeError(E_BAD_MESSAGE, f"{where} must be a list of strings")
    for item in value:
        _check_text(item, where)
    return tuple(value)


def _check_ints(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise EventShapeError(E_BAD_MESSAGE, f"{where} must be a list of integers")
    return tuple(_check_int(v, where) for v in value)


def _check_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise EventShapeError(E_BAD_MESSAGE, f"{where} must be a string")
    return value if value.isascii() else _check_text(value, where)


def _check_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise EventShapeError(E_BAD_MESSAGE, f"{where} must be true or false")
    return value


def _check_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventShapeError(E_BAD_MESSAGE, f"{where} must be an integer")
    if not -MAX_WIRE_INT - 1 <= value <= MAX_WIRE_INT:
        raise EventShapeError(E_OUT_OF_RANGE, f"{where} is out of range (more than 64 bits)")
    return value


def _check_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EventShapeError(E_BAD_MESSAGE, f"{where} must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        raise EventShapeError(E_OUT_OF_RANGE, f"{where} is out of range") from None
    if not math.isfinite(number):  # JSON as Python reads it allows NaN, Infinity and 1e400
        raise EventShapeError(E_OUT_OF_RANGE, f"{where} must be a finite number")
    return number


def _check_time(value: Any, where: str) -> float:
    """A time stamp: seconds since the epoch that a clock can show (1e20 overflows localtime)."""
    number = _check_float(value, where)
    if not 0.0 <= number <= MAX_TIME:
        raise EventShapeError(E_OUT_OF_RANGE, f"{where} is not a time between 1970 and 9999")
    return number


def _check_not_json(value: Any, where: str) -> Any:
    """Raw bytes travel only in binary frames (UploadBytes, FileBytes), never in JSON."""
    raise EventShapeError(E_BAD_MESSAGE, f"{where} cannot be sent in JSON")


_CHECKS: tuple[tuple[str, Callable[[Any, str], Any]], ...] = (
    ("tuple[int", _check_ints),
    ("tuple", _check_names),
    ("str", _check_str),
    ("bool", _check_bool),
    ("int", _check_int),
    ("float", _check_float),
    ("time", _check_time),
    ("bytes", _check_not_json),
)


def _checker(expected: str) -> Callable[[Any, str], Any]:
    """The check for one dataclass annotation string, chosen once per field (_wire_fields):
    ``check(value, where)`` returns the Python value or raises EventShapeError."""
    check = next((found for prefix, found in _CHECKS if expected.startswith(prefix)), None)
    if check is None:
        raise AssertionError(f"unhandled annotation {expected}")  # pragma: no cover
    if "None" in expected:

        def optional(value: Any, where: str) -> Any:
            return None if value is None else check(value, where)

        return optional

    def required(value: Any, where: str) -> Any:
        if value is None:
            raise EventShapeError(E_BAD_MESSAGE, f"{where} must not be null")
        return check(value, where)

    return required


def _check(value: Any, expected: str, where: str) -> Any:
    """Check one JSON value against a dataclass annotation string; return the Python value."""
    return _checker(expected)(value, where)


def event_from_json(obj: Any, table: dict[str, type[Event]]) -> Event:
    """Build an event from a decoded JSON object, using ``table`` (CLIENT_ or SERVER_EVENTS).

    Unknown extra keys are ignored so that later protocol versions can add fields.
    Raises EventShapeError with a machine-readable code when the object is not valid.
    """
    if not isinstance(obj, dict):
        raise EventShapeError(E_BAD_MESSAGE, "a frame must hold a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise EventShapeError(E_BAD_MESSAGE, 'the object has no "type" string')
    cls = table.get(kind)
    if cls is None:
        raise EventShapeError(E_UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}")
    kwargs: dict[str, Any] = {}
    for wired in _wire_fields(cls):
        if wired.key not in obj:
            if not wired.required:
                continue
            raise EventShapeError(E_BAD_MESSAGE, f'"{kind}" needs a "{wired.key}" field')
        kwargs[wired.name] = wired.check(obj[wired.key], wired.where)
    return cls(**kwargs)



# ----------------------- moderation (PROTOCOL.md, Extensions: Moderation and abuse limits)

# What an operator may do; "bans" only asks for the list. The room checks who may (room.py and
# moderation.py); here only the shape.
MOD_ACTIONS = ("op", "deop", "kick", "ban", "unban", "bans", "mute", "unmute", "mode", "pass", "admit", "restrict", "unrestrict")
# What /restrict may turn off for students (restrict.py; PROTOCOL.md, Moderation: restrict): direct
# messages between two who are neither operators nor the host, and files offered by a non-operator
RESTRICT_KINDS = ("dm", "files")
MAX_MUTE_MINUTES = 7 * 24 * 60


@dataclass(frozen=True, kw_only=True)
class Moderate(Event):
    """An operator's command: ``/kick NAME [reason]``, ``/mute NAME [minutes]``, ``/mode turn``..."""

    type: ClassVar[str] = "moderate"
    sent_by: ClassVar[str] = "client"
    action: str
    name: str | None = _absent()  # whom it is about (op, deop, kick, ban, unban, mute, unmute)
    reason: str | None = _absent()
    minutes: int | None = _absent()  # mute: how long (absent: until /unmute or the server stops)
    mode: str | None = _absent()  # mode: "turn" or "duplex"
    # restrict, unrestrict: which of RESTRICT_KINDS ("dm", "files"); restrict with none asks what is restricted now
    kinds: tuple[str, ...] = field(default=(), metadata={"omit_default": True})


@dataclass(frozen=True, kw_only=True)
class Moderated(Event):
    """A moderation act, told to everyone: who (``by``) did what to whom, and why."""

    type: ClassVar[str] = "moderated"
    sent_by: ClassVar[str] = "server"
    action: str
    by: str
    name: str | None = _absent()
    reason: str | None = _absent()
    minutes: int | None = _absent()
    mode: str | None = _absent()
    # mute: it replaced a mute of the same person still in force, which would have ended at
    # this wall-clock time, or 0 if it lasted until unmute (one mute per person, PROTOCOL.md)
    was_until: float | None = _absent()
    kinds: tuple[str, ...] = field(default=(), metadata={"omit_default": True})  # restrict, unrestrict: the kinds it changed
    time: float


@dataclass(frozen=True, kw_only=True)
class BanList(Event):
    """Answer to ``/bans``: one line per ban in force."""

    type: ClassVar[str] = "ban-list"
    sent_by: ClassVar[str] = "server"
    bans: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Operators(Event):
    """Who the operators are (sent to everyone when it changes, and after each welcome)."""

    type: ClassVar[str] = "operators"
    sent_by: ClassVar[str] = "server"
    names: tuple[str, ...]


MOD_CLIENT_EVENTS: tuple[type[Event], ...] = (Moderate,)
MOD_SERVER_EVENTS: tuple[type[Event], ...] = (Moderated, BanList, Operators)
CLIENT_EVENTS.update({cls.type: cls for cls in MOD_CLIENT_EVENTS})
SERVER_EVENTS.update({cls.type: cls for cls in MOD_SERVER_EVENTS})

E_NOT_OPERATOR = "not-operator"  # a moderation command from someone who is not an operator
E_MUTED = "muted"  # say or whisper while muted
E_RESTRICTED = "restricted"  # a whisper or file offer an operator's /restrict turned off for students
E_KICKED = "kicked"  # you were removed by an operator (fatal)
E_BANNED = "banned"  # you were banned, or are banned and tried to join (fatal)
E_SLOW_DOWN = "slow-down"  # over the flood limit: this one was not delivered
E_TOO_MANY = "too-many-connections"  # connection caps per address (fatal, then closed)
E_DEADLINE = "deadline"  # a frame not finished within 10 s (fatal); no hello within 20 s is E_HELLO_FIRST


# ------------------------------ identity and room password (PROTOCOL.md, Identity and room password)


@dataclass(frozen=True, kw_only=True)
class Challenge(Event):
    """Answer to a ``hello`` that carries a key: sign ``nonce``; with ``salt``, prove the password too."""

    type: ClassVar[str] = "challenge"
    sent_by: ClassVar[str] = "server"
    nonce: str
    salt: str | None = field(default=None, metadata={"omit_default": True})


@dataclass(frozen=True, kw_only=True)
class Auth(Event):
    """The client's answer to ``challenge``: its signature of the nonce, and the password proof."""

    type: ClassVar[str] = "auth"
    sent_by: ClassVar[str] = "client"
    signature: str
    proof: str | None = field(default=None, metadata={"omit_default": True})


@dataclass(frozen=True, kw_only=True)
class WhoIs(Event):
    """``/whois NAME``: whose key holds that name here."""

    type: ClassVar[str] = "whois"
    sent_by: ClassVar[str] = "client"
    name: str


@dataclass(frozen=True, kw_only=True)
class WhoIsReply(Event):
    """Answer to ``whois``: the short fingerprint of the name's owner (null: nobody owns it)."""

    type: ClassVar[str] = "whois-reply"
    sent_by: ClassVar[str] = "server"
    name: str
    fingerprint: str | None = None
    here: bool = False
    host: bool = _flag()


@dataclass(frozen=True, kw_only=True)
class Release(Event):
    """``/release NAME`` (the host only): the name's key no longer owns it; the next key to join takes it."""

    type: ClassVar[str] = "release"
    sent_by: ClassVar[str] = "client"
    name: str


@dataclass(frozen=True, kw_only=True)
class Released(Event):
    """Answer to ``release``: ``owned`` says whether anyone owned the name before."""

    type: ClassVar[str] = "released"
    sent_by: ClassVar[str] = "server"
    name: str
    owned: bool


IDENTITY_CLIENT_EVENTS: tuple[type[Event], ...] = (WhoIs, Release)
_IDENTITY_CLIENT_ALL: tuple[type[Event], ...] = (Auth, *IDENTITY_CLIENT_EVENTS)
CLIENT_EVENTS.update({cls.type: cls for cls in _IDENTITY_CLIENT_ALL})
SERVER_EVENTS.update({cls.type: cls for cls in (Challenge, WhoIsReply, Released)})

E_BAD_KEY = "bad-key"  # the key in hello is not base64 of 32 bytes
E_BAD_SIGNATURE = "bad-signature"  # the signature does not match the key and this nonce
E_NAME_OWNED = "name-owned"  # another key owns the name; try another
# A notice's code, not an error's: the name joined under (or taken with nick) is used but not kept for
# the key: its address made too many names its own this hour (PROTOCOL.md, Identity, "Names are not hoarded")
E_NAME_UNOWNED = "name-unowned"
E_PASSWORD = "password"  # the password proof is missing or wrong (one generic error)
E_LOCKED = "locked"  # too many wrong passwords from this person at this address, or from the address; wait
E_NOT_HOST = "not-host"  # only the host may do that
E_USE_TLS = "use-tls"  # a plain client on a TLS port (fatal): lanchat's connect switches to TLS and asks to trust it


# ------------------------------------------------ the screen, round 2 (server -> host)


@dataclass(frozen=True, kw_only=True)
class Refused(Event):
    """To the host (and, for a ban, the operators): someone was turned away (``code``: why,
    ``room-full`` or ``banned``), so the host knows that --max-clients is turning people away,
    or that a banned student keeps trying (PROTOCOL.md, Refusals told to the host). A ban's
    ``by`` and ``reason`` say whose ban it is; ``count``, when more than one, how many tries
    this one notice stands for (at most one a banned person every 30 s). Under another name
    than the ban's: ``of``, the name it was made on, and ``holds``, what else it holds besides
    that name (their key, an address, an account on this machine), not only what a try came with."""

    type: ClassVar[str] = "refused"
    sent_by: ClassVar[str] = "server"
    name: str
    code: str
    time: float
    by: str | None = _absent()
    reason: str | None = _absent()
    count: int | None = _absent()
    of: str | None = _absent()
    holds: str | None = _absent()
    # a ban's: the last try was a newcomer's with a key, which ``/admit`` this name lets in
    admit: str | None = _absent()
    # ... and that key's code (moderation.key_code), to compare with the newcomer's screen first
    admit_code: str | None = _absent()


SERVER_EVENTS[Refused.type] = Refused


# ----------------------------------- the screen, round 2: /me, /nick, /away, /topic, typing
# (PROTOCOL.md, "What IRC users reach for"). Old clients ignore the server's new types.

MAX_TOPIC_CHARS = 200
MAX_AWAY_CHARS = MAX_REASON_CHARS


@dataclass(frozen=True, kw_only=True)
class Me(Event):
    """``/me waves``: an action, said about yourself to the room."""

    type: ClassVar[str] = "me"
    sent_by: ClassVar[str] = "client"
    text: str


@dataclass(frozen=True, kw_only=True)
class Nick(Event):
    """``/nick NEW``: take another name without leaving (the rules of ``hello`` apply)."""

    type: ClassVar[str] = "nick"
    sent_by: ClassVar[str] = "client"
    name: str


@dataclass(frozen=True, kw_only=True)
class SetAway(Event):
    """``/away [REASON]``: away with a reason, or back with an empty one."""

    type: ClassVar[str] = "away"
    sent_by: ClassVar[str] = "client"
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class SetTopic(Event):
    """``/topic TEXT``: the room's topic (empty: none)."""

    type: ClassVar[str] = "topic"
    sent_by: ClassVar[str] = "client"
    text: str


@dataclass(frozen=True, kw_only=True)
class Typing(Event):
    """A hint that the sender is typing a message: never the text. At most every few seconds."""

    type: ClassVar[str] = "typing"
    sent_by: ClassVar[str] = "client"


@dataclass(frozen=True, kw_only=True)
class Emote(Event):
    """Someone's ``/me``, stamped like a message."""

    type: ClassVar[str] = "action"
    sent_by: ClassVar[str] = "server"
    sender: str = _wire("from")
    text: str
    time: float


@dataclass(frozen=True, kw_only=True)
class Renamed(Event):
    """Someone is now called ``new`` (was ``old``); sent to everyone, the person included."""

    type: ClassVar[str] = "renamed"
    sent_by: ClassVar[str] = "server"
    old: str
    new: str
    time: float


@dataclass(frozen=True, kw_only=True)
class Away(Event):
    """``name`` is away (``reason``) or back (empty ``reason``). Broadcast when it changes;
    also sent once to someone who whispers an away person, with ``answer`` true."""

    type: ClassVar[str] = "away-status"
    sent_by: ClassVar[str] = "server"
    name: str
    reason: str
    time: float
    answer: bool = _flag()


@dataclass(frozen=True, kw_only=True)
class Topic(Event):
    """The room's topic, set by ``by``; sent to everyone when it changes and after a welcome."""

    type: ClassVar[str] = "room-topic"
    sent_by: ClassVar[str] = "server"
    text: str
    by: str
    time: float


@dataclass(frozen=True, kw_only=True)
class TypingHint(Event):
    """``name`` is typing (the hint only: never the text)."""

    type: ClassVar[str] = "typing-hint"
    sent_by: ClassVar[str] = "server"
    name: str


# ------------------------------------------------- liveness (PROTOCOL.md, Extensions: Liveness)


@dataclass(frozen=True, kw_only=True)
class Ping(Event):
    """Are you there? Sent by a client that heard nothing for a while, only to a server whose
    welcome has ``ping``; answered at once with ``pong``."""

    type: ClassVar[str] = "ping"
    sent_by: ClassVar[str] = "client"


@dataclass(frozen=True, kw_only=True)
class Pong(Event):
    """The answer to ``ping``: the room is there (any byte from it says as much)."""

    type: ClassVar[str] = "pong"
    sent_by: ClassVar[str] = "server"


CLIENT_EVENTS[Ping.type] = Ping
SERVER_EVENTS[Pong.type] = Pong


@dataclass(frozen=True, kw_only=True)
class Held(Event):
    """The newcomer's hello waits: the room is starting (its host, then its own bots, are let in
    first: PROTOCOL.md 4). Its welcome, or an error, follows once they are in. Sent once, in the
    handshake, at once, so that a client does not take the wait for a program that never answers;
    only to a hello with ``hold_notice`` (a client written before it may take any answer for the
    welcome). ``reason``: why (``starting``, the one so far)."""

    type: ClassVar[str] = "held"
    sent_by: ClassVar[str] = "server"
    reason: str = "starting"


HELD_STARTING = "starting"  # Held.reason: the host, or a bot of the room's own, is not in yet
SERVER_EVENTS[Held.type] = Held


SCREEN_CLIENT_EVENTS: tuple[type[Event], ...] = (Me, Nick, SetAway, SetTopic, Typing)
SCREEN_SERVER_EVENTS: tuple[type[Event], ...] = (Emote, Renamed, Away, Topic, TypingHint)
CLIENT_EVENTS.update({cls.type: cls for cls in SCREEN_CLIENT_EVENTS})
SERVER_EVENTS.update({cls.type: cls for cls in SCREEN_SERVER_EVENTS})


# ------------------------------------------- the fast path: decode and check in one step
# event_from_json checks a decoded dict field by field in Python, about a microsecond per frame.
# msgspec can decode a frame straight into a Struct built from the same wire fields, checking
# each type as it reads. This is that fast path; the plain path (wire.decode_json, then
# event_from_json) stays the rule: the fast path answers only frames it accepts whole, with no
# field it does not know, and anything else goes to the plain path, which decides (and words)
# every refusal and ignores unknown fields (PROTOCOL.md 3).
# tests/test_protocol.py checks that both build the same event from the same frame.
_WIRE_INT = Annotated[int, msgspec.Meta(ge=-MAX_WIRE_INT - 1, le=MAX_WIRE_INT)]  # as _check_int
# What each check of _CHECKS accepts, as msgspec types; keyed like _wire_fields chooses the check
# ("time" for a field called time, else the annotation). A check not listed here (or one whose
# rule changes without this table) is caught by the equivalence test in tests/test_protocol.py.
_STRUCT_TYPES: dict[str, Any] = {
    "str": str,
    "str | None": str | None,
    "int": _WIRE_INT,
    "int | None": _WIRE_INT | None,
    "bool": bool,
    "float": float,  # an integer is taken too, as a float; 1e400 is refused (out of range)
    "float | None": float | None,  # hello's since
    "time": Annotated[float, msgspec.Meta(ge=0.0, le=MAX_TIME)],  # as _check_time
    "tuple[str, ...]": tuple[str, ...],
    "tuple[int, ...]": tuple[_WIRE_INT, ...],  # roster's muted_minutes, as _check_ints
}


def _frame_struct(cls: type[Event]) -> type | None:
    """A msgspec Struct for ``cls``'s JSON frame (tagged by ``type``), or None for a class
    whose fields the fast path does not know (the plain path handles its frames)."""
    spec: list[tuple[Any, ...]] = []
    rename: dict[str, str] = {}
    for wired in _wire_fields(cls):
        kind = _STRUCT_TYPES.get("time" if wired.name == "time" else wired.annotation)
        if kind is None or (not wired.required and wired.default is MISSING):
            return None  # an unknown annotation, or a default_factory
        spec.append((wired.name, kind) if wired.required else (wired.name, kind, wired.default))
        if wired.key != wired.name:
            rename[wired.name] = wired.key
    # forbid_unknown_fields: msgspec would skip an unknown field's value without the JSON rules'
    # checks (a number too large for a double, say); such a frame takes the plain path instead.
    return msgspec.defstruct(
        f"{cls.__name__}Frame",
        spec,
        tag_field="type",
        tag=cls.type,
        rename=rename or None,
        kw_only=True,
        forbid_unknown_fields=True,
    )


# id(table) -> (len(table) when built, the decoder, Struct class -> event class)
_FAST_DECODERS: dict[int, tuple[int, Any, dict[type, type[Event]]]] = {}


def _fast_decoder(table: dict[str, type[Event]]) -> tuple[int, Any, dict[type, type[Event]]]:
    built = _FAST_DECODERS.get(id(table))
    if built is None or built[0] != len(table):  # built once; again if a module added events
        events_of: dict[type, type[Event]] = {}
        for cls in table.values():
            struct = _frame_struct(cls)
            if struct is not None:
                events_of[struct] = cls
        decoder = msgspec.json.Decoder(Union[tuple(events_of)])  # noqa: UP007 - a runtime union of classes
        built = _FAST_DECODERS[id(table)] = (len(table), decoder, events_of)
    return built


def fast_event_from_payload(payload: bytes, table: dict[str, type[Event]]) -> Event | None:
    """A frame's payload -> its event, when msgspec accepts it whole; None otherwise (then
    ``event_from_json(wire.decode_json(payload), table)`` decides, and words any error)."""
    _, decoder, events_of = _fast_decoder(table)
    try:
        struct = decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
    return events_of[type(struct)](**msgspec.structs.asdict(struct))


def say_reader(table: dict[str, type[Event]]) -> Callable[[bytes], str | None]:
    """The short path for the usual frame (hub.py, ``Hub.say``): a function from a frame's
    payload to its text when it is a ``say`` that the fast path above would build
    ``Say(text=...)`` from; None for anything else (another event, or a frame the fast path
    leaves to the plain path), which then goes the usual way. Built once per table: an event
    type added to the table later cannot change how a ``say`` frame decodes."""
    _, decoder, events_of = _fast_decoder(table)
    say_struct: Any = next(struct for struct, cls in events_of.items() if cls is Say)
    decode = decoder.decode

    def say_text(payload: bytes) -> str | None:
        try:
            struct: Any = decode(payload)
        except (msgspec.DecodeError, RecursionError):
            return None
        return struct.text if struct.__class__ is say_struct else None  # type: ignore[no-any-return]

    return say_text
