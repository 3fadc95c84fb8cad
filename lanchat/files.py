"""files.py: the rules of file sharing (chunks, checksums, safe names, offers, progress). Never does I/O.

Everything here is a pure function or a small in-memory book-keeper; the edges that open
files and sockets (server_files.py, client_files.py, hub.py, client.py) call in with sizes, names and clocks.
A name chosen by a peer is never used as a path until ``safe_name`` has cleaned it
(docs/PROTOCOL.md, Extensions: File transfer).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
import struct
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .names import is_invisible, name_key
from .wire import MAX_BINARY_ID_BYTES, MAX_FRAME_BYTES

# Raw bytes per chunk. Base64 grows it by a third (43,692 bytes) and the JSON around it adds
# under 100, so a chunk frame stays well under wire.MAX_FRAME_BYTES (64 KiB) and a chat line
# queued behind one never waits long.
CHUNK_BYTES = 32 * 1024
# Raw bytes per binary chunk (PROTOCOL.md, Binary file frames): no base64, so nearly a whole
# frame of file data; 60 KiB is 15 pages, leaving room for the id inside the 64 KiB frame limit.
BINARY_CHUNK_BYTES = 60 * 1024
DEFAULT_MAX_FILE_MB = 50
QUOTA_FILES = 4  # per-person quota: this many maximum-size files on offer at once
# Uploads under way at once per person (counted as the quota is). Each holds an open file on the
# server, kept from the stalled-upload timeout by a byte a minute: without a count, small offers
# inside any quota would take every file descriptor the server has, and then nobody could join.
MAX_UPLOADS_AT_ONCE = 4
# Files on offer at once per person (counted as the quota is, finished or not). The quota counts
# bytes, so empty files passed it for ever: 6,000 of them were 6,000 files in the server's folder,
# and a /files listing of them (over the 1 MiB queue) dropped whoever asked as too slow.
MAX_OFFERS_AT_ONCE = 50
# Offers that went with their sender (or a private one's recipient), remembered by id so that a
# /get typed from an old offer line is told why, not "no file is on offer" as for a typo.
GONE_REMEMBERED = 1024
# A /files answer lists at most this many offers, the newest (file-list's "more" counts the rest):
# an offered frame is at most about 700 bytes, so a listing stays well inside half the queue limit.
MAX_LISTED = 500
# Downloads read at once per connection, for the same reason: each holds an open file. Further
# /gets wait their turn unopened (their file-start comes when it does), at most MAX_GETS_WAITING.
MAX_DOWNLOADS_AT_ONCE = 4
MAX_GETS_WAITING = 256
MAX_FILE_NAME_CHARS = 120
# The longest name an offer may give (server_files): longer than any path a file system takes
# (Linux's PATH_MAX), so no real file's; safe_name's pass over 64 KiB of one cost the server's
# loop 15 ms a frame, where the room waited.
MAX_OFFERED_NAME_CHARS = 4096
# ...and at most this many bytes of UTF-8: most file systems (ext4, btrfs, APFS as seen from
# Linux) refuse a name over 255 bytes, which 120 emoji (480) or 86 CJK characters exceed; the
# rest leaves room for the " (12345)" a download gets beside a file of the same name.
MAX_FILE_NAME_BYTES = 240
MB = 1024 * 1024

# Windows refuses these as file names whatever the extension ("nul.txt" is the null device).
WINDOWS_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"COM{n}" for n in "123456789¹²³"]
    + [f"LPT{n}" for n in "123456789¹²³"]
)
_RESERVED_CHARS = re.compile(r'[<>:"/\\|?*]')
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class ChunkError(ValueError):
    """A chunk's text is not valid base64."""


class OfferRefused(ValueError):
    """An offer breaks a limit or a rule; the message is said to the person who offered it."""


# ------------------------------------------------------------------- names


def safe_name(offered: str, fallback: str = "file") -> str:
    """A peer's file name made safe to create in a folder on any common system.

    Keeps only the last path component (no ``a/../b``, no ``C:\\x``), drops control and
    formatting characters (terminal escapes, bidi overrides), replaces characters Windows
    forbids, trims leading dots and spaces (no hidden files, no ``..``) and trailing dots
    and spaces (Windows drops them), defuses device names (``CON``, ``nul.txt``) and
    shortens long names while keeping the extension.
    """
    text = unicodedata.normalize("NFC", offered)
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(" " if ch.isspace() else ch for ch in text)  # tab, newline, odd spaces: a plain space
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    text = _RESERVED_CHARS.sub("_", text)
    text = " ".join(text.split())  # runs of spaces become one
    text = text.strip(" .")
    if not text:
        return fallback
    stem = text.split(".", 1)[0].rstrip(" ")
    if stem.upper() in WINDOWS_DEVICE_NAMES:
        text = "_" + text
    return _shortened(text) or fallback


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _shortened(text: str) -> str:
    """``text`` cut to MAX_FILE_NAME_CHARS characters and MAX_FILE_NAME_BYTES bytes of UTF-8,
    keeping an extension of 1 to 16 characters after the last dot."""
    if len(text) <= MAX_FILE_NAME_CHARS and _utf8_len(text) <= MAX_FILE_NAME_BYTES:
        return text
    base, dot, extension = text.rpartition(".")
    tail = "." + extension if dot and 0 < len(extension) <= 16 and base else ""
    if not tail:
        base = text
    base = base[: MAX_FILE_NAME_CHARS - len(tail)]
    room = MAX_FILE_NAME_BYTES - _utf8_len(tail)
    if _utf8_len(base) > room:  # at most 4 bytes a character: cut where the bytes run out
        base = base.encode("utf-8")[:room].decode("utf-8", "ignore")
    return base.rstrip(" .") + tail


# Read bare by a shell and by /send (shlex) as one word, a path's own: letters and digits of any
# script, and these. Anything else (a space, a bracket, ``#``, ``$``, ``'``, ``☀``) is quoted, and
# so is a letter that draws nothing or a blank (a Hangul filler): bare, it would read as a space.
_BARE_IN_A_PATH = frozenset("@%+=:,./-_")


def path_as_typed(path: str) -> str:
    """``path`` as /send and a shell read it back, whole and nothing else: bare when it can be,
    else in single quotes, or in double quotes when it holds an apostrophe and nothing a shell
    reads inside them (``"bob's notes.pdf"``, where ``shlex.quote`` says ``'bob'"'"'s notes.pdf'``).
    /send's Tab puts a path in this way (``week 3 slides.pdf`` went in bare, and /send took
    ``slides.pdf`` for a NAME), and a download's "saved" line names its file so (``saved /dl/my
    notes (1).pdf (70.0 KiB in ...)`` left where the name ends a guess, the more so broken across
    rows at one of its spaces)."""
    if all((char.isalnum() and not is_invisible(char)) or char in _BARE_IN_A_PATH for char in path):
        return path
    if "'" in path and not any(char in path for char in '"$`\\!'):
        return f'"{path}"'
    return shlex.quote(path)


def split_extension(name: str) -> tuple[str, str]:
    """``report.tar.gz`` -> (``report.tar``, ``.gz``); ``.bashrc``-like names have no extension."""
    base, dot, extension = name.rpartition(".")
    if not dot or not base:
        return name, ""
    return base, "." + extension


def unique_name(name: str, existing: Iterable[str]) -> str:
    """``name``, or ``name (1)``, ``name (2)``... : the first one not in ``existing``.

    Compared ignoring case, because macOS and Windows folders do, so a download never
    replaces a file that is already there.
    """
    taken = {entry.casefold() for entry in existing}
    if name.casefold() not in taken:
        return name
    base, extension = split_extension(name)
    number = 1
    while True:
        candidate = f"{base} ({number}){extension}"
        if candidate.casefold() not in taken:
            return candidate
        number += 1


# ------------------------------------------------------------ chunks, sums


def chunk_plan(size: int, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, int]]:
    """(offset, length) of every chunk of a ``size``-byte file, in order."""
    if size < 0 or chunk_bytes < 1:
        raise ValueError("size must be >= 0 and chunk_bytes >= 1")
    for offset in range(0, size, chunk_bytes):
        yield offset, min(chunk_bytes, size - offset)


def chunk_count(size: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    return -(-size // chunk_bytes)


def encode_chunk(data: bytes) -> str:
    """Raw bytes -> the text that travels in a JSON frame."""
    return base64.b64encode(data).decode("ascii")


def chunk_frame(kind: str, file_id: str, data: bytes) -> bytes:
    """The whole frame of a ``chunk`` or ``file-data`` event carrying ``data``, built directly.

    Byte for byte what ``protocol.encode(UploadChunk(id=..., data=encode_chunk(data)))`` gives,
    without running 44 KB of base64 through the JSON encoder: base64 needs no JSON escaping, so
    only the id goes through json.dumps. This halves the sender's work per chunk (bench/files_bench.py).
    """
    if kind not in ("chunk", "file-data"):
        raise ValueError(f"{kind!r} does not carry file data")
    head = f'{{"type":"{kind}","id":{json.dumps(file_id, ensure_ascii=False)},"data":"'.encode()
    body = binascii.b2a_base64(data, newline=False)
    length = len(head) + len(body) + 2
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"a chunk frame of {length} bytes is over the frame limit")
    return struct.pack(">I", length) + head + body + b'"}'


def decode_chunk(text: str) -> bytes:
    """The text of a chunk -> raw bytes; ChunkError if a peer sent something that is not base64."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ChunkError("a file chunk is not valid base64") from None


def is_sha256(text: str) -> bool:
    """A SHA-256 digest as lowercase hex (64 characters)."""
    return bool(_SHA256_HEX.fullmatch(text))


# -------------------------------------------------------------- words, speed


def human_size(size: float) -> str:
    """``1536`` -> ``1.5 KiB``. One convention everywhere lanchat shows a size or a speed:
    powers of 1024, with the IEC names that say so (KiB, MiB, GiB): 60,000,000 bytes is
    ``57.2 MiB``, and ``--max-file-mb 50`` means 50 MiB."""
    if size < 1024:
        return f"{int(size)} byte" + ("" if size == 1 else "s")
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def sizes_apart(size: int, limit: int) -> tuple[str, str]:
    """``size`` and the ``limit`` it is over, as words that do not contradict each other: when
    both round to one ``human_size`` ("1.0 MiB; up to 1.0 MiB") each adds its bytes."""
    said, most = human_size(size), human_size(limit)
    if said == most:
        return f"{said} ({size:,} bytes)", f"{most} ({limit:,} bytes)"
    return said, most


def duration_text(seconds: float) -> str:
    """``0.023`` -> ``23 ms``, ``4.56`` -> ``4.6 s``: a fast transfer does not read "0.0 s"."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def speed_text(byte_count: int, seconds: float) -> str:
    if seconds <= 0:
        return "-"
    return human_size(byte_count / seconds) + "/s"


# A speed is only worth saying for a transfer long enough to measure: a 5-byte file done in
# 88 microseconds is not "56.9 KiB/s" of anything.
MIN_SPEED_SECONDS = 0.2
MIN_SPEED_BYTES = 256 * 1024
# A transfer that has moved no byte for this long says so on the status line ("stalled 4 s")
# instead of its speed so far: through a stalled Wi-Fi that speed stayed on the screen, frozen,
# for as long as the stall lasted, as if bytes were still coming.
STALLED_AFTER_SECONDS = 2.0
# --plain says where a transfer is (Progress.advance) only once it has run this long: a 3 MB
# download over a LAN takes 50 ms, and printed three quarter lines just before "saved".
SAY_PROGRESS_AFTER_SECONDS = 1.0


def speed_clause(byte_count: int, seconds: float) -> str:
    """``", 12.3 MiB/s"`` for a transfer worth timing, else nothing."""
    if seconds < MIN_SPEED_SECONDS or byte_count < MIN_SPEED_BYTES:
        return ""
    return ", " + speed_text(byte_count, seconds)


@dataclass
class Progress:
    """One transfer as a status line or a notice can show it: ``send``/``get``, done of total.

    Updated in place by the client's transfer edge; a front end reads ``session.progress``.
    """

    direction: str  # "send" or "get"
    label: str  # the file's name as shown
    total: int
    started: float
    done: int = 0
    now: float = 0.0
    private: str | None = None  # the label projector mode shows (a file offered to one person: ui/projector.py)
    file_id: str = ""  # the server's id, which /cancel takes: the status line shows it
    resumed_from: int = 0  # a resumed download: the bytes kept from before, not counted in its speed
    # the edge's clock (the one ``started`` and ``now`` are read from): with it, ``text`` says how long
    # no byte has moved once that is STALLED_AFTER_SECONDS, and ``redraw_in`` when it says more
    clock: Callable[[], float] | None = field(default=None, repr=False, compare=False)
    _next_step: int = 25
    _last_said: float = field(default=0.0)

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else min(100, self.done * 100 // self.total)

    @property
    def seconds(self) -> float:
        return max(self.now - self.started, 0.0)

    def quiet_for(self, now: float | None = None) -> float:
        """Seconds since the last byte moved (or since it started, if none has), at ``now`` (by
        default its clock's time: 0 without a clock)."""
        if now is None:
            if self.clock is None:
                return 0.0
            now = self.clock()
        return max(now - max(self.now, self.started), 0.0)

    def text(self) -> str:
        """Short form for a status line: ``get #3 notes.pdf 45% 120.3 MiB/s`` (the id /cancel takes),
        or ``get #3 notes.pdf 45% stalled 4 s`` once no byte has moved for STALLED_AFTER_SECONDS."""
        named = f"#{self.file_id} {self.label}" if self.file_id else self.label
        if self.direction == "get" and self.total and self.done >= self.total:  # all here: its SHA-256 is being read (a resume's kept part)
            return f"{self.direction} {named} 100% checking its SHA-256"
        if (quiet := self.quiet_for()) >= STALLED_AFTER_SECONDS:
            return f"{self.direction} {named} {self.percent}% stalled {int(quiet)} s"
        return f"{self.direction} {named} {self.percent}% {speed_text(self.done - self.resumed_from, self.seconds)}"

    def short(self) -> str:
        """``text`` where a narrow status line has no room for it: ``get #3 45%`` (``stalled`` added
        once it is), the file's name and speed left out; a download was shown not at all there."""
        named = f"#{self.file_id}" if self.file_id else ""
        stalled = " stalled" if self.quiet_for() >= STALLED_AFTER_SECONDS and not (self.direction == "get" and self.total and self.done >= self.total) else ""
        return " ".join(part for part in (self.direction, named, f"{self.percent}%{stalled}") if part)

    def redraw_in(self) -> float | None:
        """Seconds until ``text`` changes by itself, no byte having moved (it says "stalled", then
        counts the seconds): when a status line must be drawn again while nothing else wakes the
        loop. None without a clock."""
        if self.clock is None:
            return None
        quiet = self.quiet_for()
        if quiet < STALLED_AFTER_SECONDS:
            return STALLED_AFTER_SECONDS - quiet
        return 1.0 - quiet % 1.0

    def advance(self, done: int, now: float) -> str | None:
        """Record progress; return a notice at each quarter (25, 50, 75%) or every 5 s, else None.
        Quarters passed in the first SAY_PROGRESS_AFTER_SECONDS go unsaid (a quick transfer's
        only word is its end; a slow one's next quarter is said).

        Completion is announced by the edge after the checksum, not here.
        """
        self.done = done
        self.now = now
        if done >= self.total:
            return None
        due = self.percent >= self._next_step or now - max(self._last_said, self.started) >= 5.0
        if not due:
            return None
        while self._next_step <= self.percent:
            self._next_step += 25
        if now - self.started < SAY_PROGRESS_AFTER_SECONDS:
            return None
        self._last_said = now
        return self.notice()

    def notice(self) -> str:
        """Where it is, as a notice: ``receiving notes.pdf: 50% (1.0 MiB of 2.0 MiB, 3.1 MiB/s)``."""
        verb = "sending" if self.direction == "send" else "receiving"
        return (
            f"{verb} {self.label}: {self.percent}% ({human_size(self.done)} of {human_size(self.total)}, "
            f"{speed_text(self.done - self.resumed_from, self.seconds)})"
        )


# ------------------------------------------------------------------ offers


@dataclass
class Offer:
    """A file on offer (or on its way up): who offered it, to whom, its size and checksum."""

    file_id: str
    owner: int  # the owner's connection id
    owner_name: str
    name: str  # already safe_name()d
    size: int
    sha256: str = ""  # the sender's checksum, known once the upload is done
    to: int | None = None  # one recipient's connection id, or None for the whole room
    to_name: str | None = None
    ready: bool = False  # False while the upload is still arriving
    address: str | None = None  # the owner's address group (limits.AddressGroups; None: this machine), for the quota
    offered_at: float | None = None  # when it was offered to the room (the server's clock)
    fetched_by: set[str] = field(default_factory=set)  # name keys of those sent it whole (``fetched``)

    def visible_to(self, cid: int) -> bool:
        return self.ready and (self.to is None or cid in (self.owner, self.to))

    def fetched(self, name: str, cid: int) -> bool:
        """``name`` (connection ``cid``) was sent the whole file: counted once a person, however
        often they fetch it; the offerer's own copy is not one (what /files tells the offerer:
        ``fetched_count``). True when that made one more (the offerer is told: ``fetched``)."""
        key = name_key(name)
        if cid == self.owner or key in self.fetched_by:
            return False
        self.fetched_by.add(key)
        return True

    def fetched_count(self, cid: int) -> int | None:
        """How many people were sent the whole file, for connection ``cid`` if it offered it (the
        offer goes with its connection: not whoever takes its name after a /nick); None for
        anyone else, whom it does not concern."""
        return len(self.fetched_by) if cid == self.owner else None


# A file id is a count that fits in 64 signed bits (PROTOCOL.md, Ranges of numbers): at most 18
# digits, so an id always fits a binary frame and int() is never asked for thousands of digits.
MAX_ID_DIGITS = 18


def id_number(text: str) -> int | None:
    """The positive number a file id spells in ASCII digits (leading zeros allowed), or None:
    what a peer's ``get`` asks for and what the history file keeps, either of which may be anything."""
    digits = text.lstrip("0")
    if not (len(text) <= MAX_BINARY_ID_BYTES and text.isascii() and text.isdigit() and 0 < len(digits) <= MAX_ID_DIGITS):
        return None
    return int(digits)


class OfferBook:
    """Which files are on offer, the limits on them, and who may fetch what.

    ``max_file_bytes`` caps one file; ``quota_bytes`` caps what one person has on offer
    (or uploading) at once; neither holds the host's own offers (``open(unlimited=True)``). Ids are short numbers, easy to type after ``/get``, counted from
    ``first_id``: a server with history starts where its last run stopped, so a ``/get 1`` typed
    from an old screen never fetches another file (PROTOCOL.md, File transfer).
    """

    def __init__(
        self, *, max_file_bytes: int = DEFAULT_MAX_FILE_MB * MB, quota_bytes: int | None = None, first_id: int = 1
    ) -> None:
        self.max_file_bytes = max_file_bytes
        self.quota_bytes = quota_bytes if quota_bytes is not None else QUOTA_FILES * max_file_bytes
        self.offers: dict[str, Offer] = {}
        self.gone: OrderedDict[str, tuple[Offer, bool]] = OrderedDict()  # id -> (offer, went with its sender), the newest
        self.first_id = first_id
        self.next_id = first_id

    def from_before(self, file_id: str) -> bool:
        """``file_id`` was given out by an earlier run of this server (it cannot be on offer now)."""
        number = id_number(file_id)
        return number is not None and number < self.first_id

    def used_by(self, cid: int, *, name: str | None = None, address: str | None = None) -> int:
        """What ``cid`` has on offer, counting every connection under the same name and, when
        ``address`` is given (not this machine), from the same address group (limits.AddressGroups:
        the caller groups it): a second connection, or a second address of one /64, gets no fresh
        quota (issue 14)."""
        return sum(o.size for o in self._of(cid, name=name, address=address))

    def _of(self, cid: int, *, name: str | None, address: str | None) -> list[Offer]:
        """The offers counted as one person's: ``cid``'s, under the same name, from the same address group."""
        key = name_key(name) if name is not None else None
        return [
            o for o in self.offers.values()
            if o.owner == cid
            or (key is not None and name_key(o.owner_name) == key)
            or (address is not None and o.address == address)
        ]  # fmt: skip

    def open(
        self,
        *,
        owner: int,
        owner_name: str,
        name: str,
        size: int,
        to: int | None = None,
        to_name: str | None = None,
        address: str | None = None,
        unlimited: bool = False,
    ) -> Offer:
        """Register an upload about to start; OfferRefused says why not, before any bytes move.
        ``unlimited``: the host's own (the teacher's video at the projector): the size cap and the
        quota keep the room's disk from its guests, and the room is the host's, whose `serve` the
        cap came from (a refusal meant stopping the lesson to start it again with a larger one);
        how many at once still holds, and the disk's free room (server_files)."""
        if size < 0:
            raise OfferRefused("a file cannot have a negative size")
        clean = safe_name(name)
        if size > self.max_file_bytes and not unlimited:
            said, limit = sizes_apart(size, self.max_file_bytes)  # a byte or a few over: not "1.0 MiB; up to 1.0 MiB"
            raise OfferRefused(f"{clean} is {said}; this server takes files up to {limit}")
        theirs = self._of(owner, name=owner_name, address=address)
        if sum(not o.ready for o in theirs) >= MAX_UPLOADS_AT_ONCE:
            raise OfferRefused(f"you are already sending {MAX_UPLOADS_AT_ONCE} files; offer {clean} once one of them is done")
        if len(theirs) >= MAX_OFFERS_AT_ONCE:
            raise OfferRefused(f"you have {len(theirs)} files on offer already; offer {clean} once one has gone (yours go when you leave)")
        used = sum(o.size for o in theirs)
        if used + size > self.quota_bytes and not unlimited:
            raise OfferRefused(
                f"{clean} ({human_size(size)}) would take you over your quota of {human_size(self.quota_bytes)} "
                f"on offer ({human_size(used)} in use); files you offered go when you leave"
            )
        offer = Offer(
            file_id=str(self.next_id),
            owner=owner,
            owner_name=owner_name,
            name=clean,
            size=size,
            to=to,
            to_name=to_name,
            address=address,
        )
        self.next_id += 1
        self.offers[offer.file_id] = offer
        return offer

    def find(self, file_id: str, cid: int) -> Offer | None:
        """The ready offer ``file_id`` if ``cid`` may fetch it (a private offer is invisible to others)."""
        offer = self.offers.get(file_id.lstrip("#"))
        return offer if offer is not None and offer.visible_to(cid) else None

    def visible_to(self, cid: int) -> list[Offer]:
        return [o for o in self.offers.values() if o.visible_to(cid)]

    def remove(self, file_id: str) -> Offer | None:
        return self.offers.pop(file_id, None)

    def expire_owner(self, cid: int) -> list[Offer]:
        """Someone left: everything they offered (ready or not) goes."""
        gone = [o for o in self.offers.values() if o.owner == cid]
        for offer in gone:
            self._went(offer, with_sender=True)
        return gone

    def recipient_left(self, cid: int) -> list[Offer]:
        """A private offer's only recipient left: nobody can fetch it any more."""
        gone = [o for o in self.offers.values() if o.to == cid]
        for offer in gone:
            self._went(offer, with_sender=False)
        return gone

    def _went(self, offer: Offer, *, with_sender: bool) -> None:
        del self.offers[offer.file_id]
        if offer.ready:  # one still arriving was never offered: nobody saw an id to ask for
            self.gone[offer.file_id] = (offer, with_sender)
            while len(self.gone) > GONE_REMEMBERED:
                self.gone.popitem(last=False)

    def went(self, file_id: str, cid: int) -> str | None:
        """Why ``file_id``, no longer on offer, went, for ``cid`` if it could see it (a private
        offer stays unknown to others): "slides.pdf (#7) went when ann left: ..."; else None."""
        offer, with_sender = self.gone.get(file_id.lstrip("#"), (None, False))
        if offer is None or not offer.visible_to(cid):  # (only ready offers are kept)
            return None
        if with_sender:
            return f"{offer.name} (#{offer.file_id}) went when {offer.owner_name} left: a file is on offer only while its sender is here"
        return f"{offer.name} (#{offer.file_id}) went when {offer.to_name} left: it was for them only"


def oserror_words(exc: BaseException) -> str:
    """An OSError as a few lower-case words for the end of a sentence: "no space left on device"."""
    return (exc.strerror or str(exc)).lower() if isinstance(exc, OSError) else str(exc)
