"""actions.py: what the pure core asks the server loop to do. Plain data, never does I/O.

The room (room.py) and the server's file store (server_files.py) answer every event with a
list of these; the hub (hub.py) performs them, in order, into the outbox (outbox.py) and the
history store. Nothing here knows about sockets: a ``Send`` names a connection by the integer
id the loop chose for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from . import events as ev

if TYPE_CHECKING:
    from .limits import Refusal
    from .moderation import Ban, Mute

# The actions a chat message makes on the server's hot path (Keep and Broadcast, and Send, Close,
# Replay and Seen beside them) are NamedTuples, not frozen dataclasses: as immutable and as
# plain, and half the cost to make (a frozen dataclass sets each field through
# object.__setattr__; bench/hub_bench.py). The rare ones stay frozen dataclasses, which also
# keeps Log from comparing equal to a Seen with the same string.


class Send(NamedTuple):
    """Send one event to one connection (through its protocol state machine)."""

    to: int
    event: ev.Event


class Broadcast(NamedTuple):
    """Write the same already-encoded frame to every listed connection.

    A ``notice`` (someone joined or left) may wait a moment to go out with the next one: when a
    class joins at once, 500 notices then cost a few writes per person, not 500."""

    to: tuple[int, ...]
    frame: bytes
    notice: bool = False


class Close(NamedTuple):
    """Flush what is queued for this connection, then close it. ``bye``: it said bye, so it sends
    nothing more and is closed as soon as all is out (no waiting for it to hang up first)."""

    who: int
    bye: bool = False


class Keep(NamedTuple):
    """Store this message in the history before performing the actions after it
    (what anyone has received is already stored: PROTOCOL.md, History replay)."""

    event: ev.Message | ev.Direct | ev.Emote  # (an Emote: a /me, kept as a room message marked as one)
    # For a direct message, the keys that owned the sender's and the recipient's names when it
    # was sent: only those keys are ever shown it again (PROTOCOL.md, Identity). None: no key.
    sender_owner: bytes | None = None
    recipient_owner: bytes | None = None


class Replay(NamedTuple):
    """Queue history to ``to``, as ``name`` may see it: the last ``limit`` entries older
    than cursor ``before``; ``joining`` adds the direct messages sent while they were away."""

    to: int
    name: str
    limit: int
    before: int | None = None
    joining: bool = False
    # Rejoining (hello's ``since``): only entries newer than this server time, and a
    # history-end even when there are none, so the client knows the replay is over.
    since: float | None = None
    owner: bytes | None = None  # the key asking: direct messages kept for that key only


class Seen(NamedTuple):
    """``name`` just left: direct messages from now on count as sent while they were away."""

    name: str


@dataclass(frozen=True, kw_only=True)
class Record:
    """Keep a moderation act in the history (PROTOCOL.md, Moderation)."""

    event: ev.Moderated


@dataclass(frozen=True, kw_only=True)
class StoreBan:
    """Store a new ban, so it survives a restart."""

    ban: Ban


@dataclass(frozen=True, kw_only=True)
class DropBans:
    """Remove these stored bans (``/unban``)."""

    ids: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class StoreMute:
    """Store a new mute, so a restart does not lift it; ``now``: the room's time, by which the
    store drops the mutes that are over (nothing else tells it when one ends)."""

    mute: Mute
    now: float


@dataclass(frozen=True, kw_only=True)
class DropMutes:
    """Remove these stored mutes (``/unmute``)."""

    ids: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class NextFileId:
    """The file id the next offer gets, kept so that ids never repeat after a restart."""

    value: int


@dataclass(frozen=True, kw_only=True)
class KeepMode:
    """The mode ``/mode`` switched the room to, kept so that a restart resumes it."""

    mode: str


@dataclass(frozen=True, kw_only=True)
class KeepRestrict:
    """What /restrict left turned off for students (restrict.py; empty: nothing), kept so that a restart holds it."""

    kinds: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class KeepTopic:
    """The room's topic as /topic left it (None: cleared), kept so that a restart still has it."""

    topic: ev.Topic | None


@dataclass(frozen=True, kw_only=True)
class StoreOperator:
    """Operator status given with /op to the identity key ``key`` (moderation.key_id), kept so that
    a restart keeps it; ``name``: the name the key had then, for the record."""

    key: str
    name: str


@dataclass(frozen=True, kw_only=True)
class DropOperator:
    """Operator status taken from the key ``key`` (/deop): gone from the store too."""

    key: str


@dataclass(frozen=True, kw_only=True)
class KeepSeenKey:
    """The identity key ``key`` (moderation.key_id) passed the bans at a join from ``place`` (its
    address group) at ``time``: kept, so that a ban at a shared place after a restart still
    counts it known (moderation.Moderation.seen)."""

    key: str
    place: str
    time: float


@dataclass(frozen=True, kw_only=True)
class Claim:
    """Store that ``name`` now belongs to ``owner`` (None: a release, nobody owns it). ``by``: the
    connection that released it (the host's /release, or the key that took a newer name), told if
    the release cannot be saved yet (hub.py)."""

    name: str
    owner: bytes | None
    by: int | None = None


@dataclass(frozen=True, kw_only=True)
class Log:
    """A line for the server's log (a wrong password, a locked address, a released name)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class SayText:
    """Bytes for a text participant that no server event caused (its /help, a refusal made by
    its line reader), performed in order with what the lines before it caused."""

    to: int
    data: bytes


@dataclass(frozen=True, kw_only=True)
class ShowOffers:
    """Tell ``to``, who just joined, of the files on offer to them, as ``offered`` frames after
    the welcome and the replay: a student who comes late, or back, sees the slides sent before
    (the file store, server_files.py, answers; PROTOCOL.md, File transfer). ``resumed``: the
    connection whose session ``to`` took back (a rejoin after a drop, room.LostSessions): the
    files offered to that one alone are ``to``'s now."""

    to: int
    resumed: int | None = None


@dataclass(frozen=True, kw_only=True)
class LogRefusal:
    """Someone the room turned away (a full room), for the server's log: summed up per storm as
    refused connections are (limits.RefusalLog), so a class retrying a full room writes a line
    per machine, not per try. ``who``: the connection; ``name``: the name it asked for."""

    who: int
    name: str
    refusal: Refusal


class Said:
    """A run of one member's room messages on the short path (``Hub.say``), held for the pass's
    history commit: what a ``Keep`` and a ``Broadcast`` per message would do, as one held action
    of plain lists. Stored, the frames go to ``to`` in order; not stored, each message is refused
    to its sender (hub.py, ``_commit_pass``). The room never returns one.

    A plain class with slots, not a NamedTuple like the actions above: one is made for every
    message at light load, and a NamedTuple's ``__new__`` is a Python function that costs about
    1,000 instructions more (bench/README.md, "Round 2, seventh session"). Never changed once made."""

    __slots__ = ("sender", "to", "times", "texts", "frames")

    def __init__(self, sender: str, to: tuple[int, ...], times: list[float], texts: list[str], frames: list[bytes]) -> None:
        self.sender = sender
        self.to = to
        self.times = times
        self.texts = texts
        self.frames = frames


Action = (
    Send | Broadcast | Claim | Close | Keep | Log | LogRefusal | Replay | Seen | Record | StoreBan | DropBans | StoreMute | DropMutes
    | NextFileId | KeepMode | KeepRestrict | KeepTopic | StoreOperator | DropOperator | Said | SayText | ShowOffers | KeepSeenKey
)
