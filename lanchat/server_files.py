"""server_files.py: the server's file store: offers, uploads arriving, downloads leaving. Never touches a socket.

Uploads are kept in the server's own folder under names it generates (never a peer's name);
a file is offered to others only once its size and SHA-256 have been checked, and until then
it lives under a temporary name that is deleted if anything goes wrong. The hub (hub.py)
hands file events in (``handle``) and asks for download pieces (``next_chunk``) while a
reader keeps up; the rules themselves (limits, safe names, the offer book) are in files.py.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from . import events as ev
from . import limits as lim
from .actions import Action, Broadcast, NextFileId, Send
from .files import (
    BINARY_CHUNK_BYTES,
    CHUNK_BYTES,
    MAX_DOWNLOADS_AT_ONCE,
    MAX_GETS_WAITING,
    MAX_LISTED,
    MAX_OFFERED_NAME_CHARS,
    MAX_OFFERS_AT_ONCE,
    MAX_UPLOADS_AT_ONCE,
    ChunkError,
    Offer,
    OfferBook,
    OfferRefused,
    decode_chunk,
    encode_chunk,
    human_size,
    is_sha256,
    oserror_words,
    safe_name,
    sizes_apart,
)
from .moderation import LOCAL, muted_words
from .protocol import encode
from .restrict import FILES, get_refusal, offer_refusal
from .room import REJOIN_SECONDS, Member, Room
from .room_social import addresses_the_class

# An upload that sends no piece for this long is dropped and its quota freed (issue 14): a
# stalled sender must not hold a quarter of someone's quota, and a file on disk, for ever.
STALLED_SECONDS = 60.0
# Lost connections whose cut-short downloads a rejoin is told about (ServerFiles.cut_short): as
# many as room.LostSessions remembers sessions to take back.
CUT_SHORT_REMEMBERED = 4096

# A class fetching one file at once reads the same pieces within moments of each other: the
# pieces read last are kept, up to this much, so 30 downloads of one file read each piece from
# the disk about once (bench/class_bench.py), and the server never holds more of a file than this.
PIECES_KEPT_BYTES = 12 * 1024 * 1024  # 6 MiB of pieces (each held twice: _held); 4 MiB caught every share in --quick

# hashlib (OpenSSL's libcrypto, 3.7 MiB of an idle server's 25: bench/idle_memory.py) and
# tempfile are imported when the first file arrives: most chats never send one.
if TYPE_CHECKING:
    import hashlib


def default_files_base() -> Path:
    """Where a server keeps uploads when not told: the user's data folder, else the temp folder."""
    try:
        import platformdirs

        base = Path(platformdirs.user_data_dir("lanchat")) / "files"
        base.mkdir(parents=True, exist_ok=True)
        return base
    except (ImportError, OSError):
        import tempfile

        return Path(tempfile.gettempdir())



@dataclass
class _Upload:
    file_id: str
    owner: int
    path: Path
    handle: BinaryIO
    hasher: hashlib._Hash
    size: int
    received: int = 0
    last_chunk: float = 0.0  # when a piece last arrived: a stalled upload is dropped (STALLED_SECONDS)


class Piece(NamedTuple):
    """One piece of a download as handed out: the raw bytes it carries, its event (file-bytes or
    file-data) and, kept, its frame made once for every download of it."""

    size: int
    event: ev.Event
    frame: bytes | None = None


class RecentPieces:
    """The pieces of stored files read last, by (file id, offset, size, binary), up to ``limit``
    bytes held (``_held``: a frame and its event's bytes), the first read the first dropped:
    downloads of one file moving together (a class's /get) share each read, each piece's event
    and its frame. A stored file is written once, checked, and then only read under its id (ids
    are never used twice in a run), so a kept piece is what a read would give; a short read (a
    file cut short) is never kept."""

    __slots__ = ("kept", "size", "limit")

    def __init__(self, limit: int = PIECES_KEPT_BYTES) -> None:
        self.kept: dict[tuple[str, int, int, bool], Piece] = {}
        self.size = 0
        self.limit = limit

    def take(self, file_id: str, handle: BinaryIO, offset: int, size: int, *, binary: bool) -> Piece:
        """``size`` bytes of ``file_id`` from ``offset`` (fewer at its end, none past it), kept
        or read from ``handle``: raw in a file-bytes event (``binary``), else in base64."""
        key = (file_id, offset, size, binary)
        piece = self.kept.get(key)
        if piece is not None:
            return piece
        data = _read_at(handle, offset, size)
        event = ev.FileBytes(id=file_id, data=data) if binary else ev.FileData(id=file_id, data=encode_chunk(data))
        if len(data) != size or not data:
            return Piece(len(data), event)
        frame = encode(event)
        if _held(frame) > self.limit:
            return Piece(size, event, frame)
        kept = self.kept
        kept[key] = piece = Piece(size, event, frame)
        self.size += _held(frame)
        while self.size > self.limit:
            self.size -= _held(kept.pop(next(iter(kept))).frame)
        return piece

    def forget(self, file_id: str) -> None:
        """The stored file went: its pieces too (the downloads under way read from their handles)."""
        for key in [key for key in self.kept if key[0] == file_id]:
            self.size -= _held(self.kept.pop(key).frame)


def _held(frame: bytes | None) -> int:
    """What a kept piece holds: its frame and its event's own copy of the bytes (raw, or base64
    text), about as much again."""
    return 2 * len(frame or b"")


def _read_at(handle: BinaryIO, offset: int, size: int) -> bytes:
    """One read of ``size`` bytes at ``offset``, whatever ``handle``'s position (pread: one call)."""
    if hasattr(os, "pread"):
        return os.pread(handle.fileno(), size, offset)
    handle.seek(offset)  # (Windows has no pread)
    return handle.read(size)


@dataclass
class _Download:
    file_id: str
    handle: BinaryIO
    left: int
    at: int  # the offset of its next piece
    binary: bool = False  # the client asked for binary frames
    who: str = ""  # the name it goes to: counted once it has all of it (files.Offer.fetched)
    offer: Offer | None = None  # what it is: kept after its sender left and the offer went (fetching_but)
    req: int | None = None  # its get's request id, echoed in what answers it (PROTOCOL.md, Request ids)


class WaitingGet(NamedTuple):
    """A get waiting its turn (MAX_DOWNLOADS_AT_ONCE): what its download will be."""

    file_id: str
    binary: bool
    who: str
    offset: int
    req: int | None = None


class _FilesPart:
    """What every part of ServerFiles works with: the offer book (files.py: the offers, the
    quotas, the ids), the clock, the log, and an offer said as an ``offered`` event."""

    book: OfferBook
    clock: Callable[[], float]
    log: Callable[[str], None]
    uploads: dict[str, _Upload]  # arriving, by file id
    stored: dict[str, Path]  # whole and checked, by file id: what downloads read
    downloads: dict[int, deque[_Download]]
    gets_waiting: dict[int, deque[WaitingGet]]

    def _offered(self, offer, *, listing: bool = False, fetched: int | None = None) -> ev.Offered:  # noqa: ANN001
        return ev.Offered(
            id=offer.file_id,
            name=offer.name,
            size=offer.size,
            sha256=offer.sha256,
            sender=offer.owner_name,
            to=offer.to_name,
            time=offer.offered_at if offer.offered_at is not None else self.clock(),
            listing=listing,
            fetched=fetched,
        )


def _refused_first(room: Room, cid: int, offer_event: ev.OfferFile) -> tuple[ev.FileError | None, Member | None]:
    """The offer's one recipient (None: the class), or why it is refused before anything else is
    looked at: a name no file system has (made safe, 64 KiB of one cost the loop 15 ms), nobody of
    that name here, the sender muted, or /restrict files."""

    def refused(message: str, code: str | None = None) -> tuple[ev.FileError, None]:
        return ev.FileError(ref=offer_event.ref, message=message, code=code), None

    if len(offer_event.name) > MAX_OFFERED_NAME_CHARS:
        return refused(f"refused: a file name has at most {MAX_OFFERED_NAME_CHARS:,} characters (this one has {len(offer_event.name):,})")
    target = None
    if offer_event.to is not None and (target := room.find(offer_event.to)) is None:
        return refused(f"nobody called {offer_event.to[:40]!r} is here to send a file to")
    if (muted := _muted(room, cid)) is not None:  # a muted person reads, and offers nothing (PROTOCOL.md, Moderation)
        return refused(muted)
    if (restricted := offer_refusal(room, cid, to_one=offer_event.to is not None)) is not None:  # /restrict files (PROTOCOL.md, Moderation: restrict)
        return refused(restricted, ev.E_RESTRICTED)
    return None, target


class _Uploads(_FilesPart):
    """Uploads arriving: an offer taken (the upload rules: a muted person offers nothing, the
    per-person quota is the offer book's, the per-address total ``_address_over``'s, the disk's
    free space), its pieces written to a file under a name this run makes, the size and SHA-256
    checked before the file is offered to anyone, and an upload that stalls for STALLED_SECONDS
    dropped with its quota freed. Anything wrong deletes the partial file. Part of ServerFiles
    (the same offers and files), kept apart so each reads in one screen."""

    base: Path | None
    _folder: Path | None
    _run_lock: BinaryIO | None

    @property
    def folder(self) -> Path:
        """Created on the first upload, so a server nobody sends files to leaves no trace."""
        if self._folder is None:
            base = self.base if self.base is not None else default_files_base()
            base.mkdir(parents=True, exist_ok=True)
            import tempfile  # see the imports at the top

            removed = remove_stale_runs(base)
            if removed:
                self.log(f"removed {removed} folder(s) of files left by a server that did not stop cleanly")
            self._folder = Path(tempfile.mkdtemp(prefix="run-", dir=base))
            self._run_lock = hold_run(self._folder)
        return self._folder

    def _offer(self, room: Room, cid: int, owner_name: str, offer_event: ev.OfferFile) -> list[Action]:
        def refuse(message: str) -> list[Action]:
            return [Send(to=cid, event=ev.FileError(ref=offer_event.ref, message=message))]

        refused, target = _refused_first(room, cid, offer_event)
        if refused is not None:
            return [Send(to=cid, event=refused)]
        member = room.members.get(cid)
        if target is None and member is not None and not addresses_the_class(room, member):
            # its name is words for the whole class, as a /me or a topic is (PROTOCOL.md 7)
            return refuse(f"in a turn-based room you can offer a file to the room when it is your turn; {_ONE_PERSON}")
        address, group = _quota_holder(room, member)
        host = cid == room.host_cid  # the room's own: no size cap nor quota (OfferBook.open)
        if group is not None and not host and (over := self._address_over(group, offer_event.name, offer_event.size)):
            return refuse(f"refused: {over}")
        try:
            offer = self.book.open(
                owner=cid,
                owner_name=owner_name,
                name=offer_event.name,
                size=offer_event.size,
                to=target.cid if target else None,
                to_name=target.name if target else None,
                address=address,  # the quota is per person and per address group, not per connection
                unlimited=host,
            )
        except OfferRefused as exc:
            return refuse(f"refused: {exc}")
        path = None
        try:
            import hashlib  # see the imports at the top; out of file descriptors, an OSError
            import shutil  # (the first offer's: an idle server never loads it, nor its compression modules)

            path = self.folder / f"{offer.file_id}-{os.urandom(8).hex()}.upload"
            # the bytes still to come of the uploads under way are taken already: two of the host's
            # videos (no cap on them) that fit the disk one at a time do not both start and fill it
            coming = sum(u.size - u.received for u in self.uploads.values())
            free = max(0, shutil.disk_usage(self.folder).free - coming)
            if offer.size > free:  # refused now, not after the whole file has crossed the network
                self.book.remove(offer.file_id)
                besides = f" besides the {human_size(coming)} still on their way to it" if coming else ""
                self.log(f"refused {offer.name} ({human_size(offer.size)}): {human_size(free)} free in {self.folder}{besides}")
                said, room_for = sizes_apart(offer.size, free)  # a byte or a few over: not "2.8 MiB, and the file is 2.8 MiB"
                return refuse(f"refused: the server has room for {room_for}{besides}, and the file is {said}")
            handle = open(path, "xb")  # noqa: SIM115 - kept open across many loop passes
        except OSError as exc:
            self.book.remove(offer.file_id)
            self.log(f"cannot store an upload in {path or self.base}: {oserror_words(exc)}")
            return refuse(f"the server cannot store files right now ({oserror_words(exc)})")
        upload = _Upload(offer.file_id, cid, path, handle, hashlib.sha256(), offer.size, last_chunk=self.clock())
        self.uploads[offer.file_id] = upload
        # binary: the chunks may come as binary frames, which cost no base64 and no JSON
        ready = Send(to=cid, event=ev.UploadReady(ref=offer_event.ref, id=offer.file_id, binary=True))
        return [NextFileId(value=self.book.next_id), ready]  # kept with the history: no id twice

    def _address_over(self, group: str, name: str, size: int) -> str | None:
        """Why an offer of ``size`` from address group ``group`` would take that address over what
        all its people together may have (limits.ADDRESS_UPLOAD_QUOTAS people's quota, offers and
        uploads at once); None: it would not (each person's own quota is OfferBook's)."""
        book = self.book
        there = [o for o in book.offers.values() if o.address is not None and (o.address == group or o.address.startswith(f"{group} key "))]
        share = lim.ADDRESS_UPLOAD_QUOTAS
        clean = safe_name(name)
        if sum(not o.ready for o in there) >= share * MAX_UPLOADS_AT_ONCE or len(there) >= share * MAX_OFFERS_AT_ONCE:
            return f"your address has {len(there)} files on offer or on their way already; offer {clean} once some have gone"
        used, total = sum(o.size for o in there), share * book.quota_bytes
        if used + max(size, 0) > total:
            return (f"{clean} ({human_size(size)}) would take your address over what all there may have on offer together, "
                    f"{human_size(total)} ({human_size(used)} in use); files go when their senders leave")  # fmt: skip
        return None

    def _chunk(self, cid: int, file_id: str, piece: str | bytes) -> list[Action]:
        """One piece of an upload: base64 text from a ``chunk``, raw bytes from a binary frame."""
        upload = self.uploads.get(file_id)
        if upload is None or upload.owner != cid:
            return []  # late chunks of an upload already refused or cancelled: the error was said once
        upload.last_chunk = self.clock()
        offer = self.book.offers.get(upload.file_id)
        if offer is None:  # pragma: no cover - forget() drops an upload with its offer
            self._drop_upload(upload)
            return []
        name = offer.name
        try:
            data = piece if isinstance(piece, bytes) else decode_chunk(piece)
        except ChunkError as exc:
            return self._fail_upload(upload, f"upload of {name} stopped: {exc}")
        if not isinstance(piece, bytes) and len(data) > CHUNK_BYTES:  # PROTOCOL.md: 32 KiB raw per chunk
            return self._fail_upload(upload, f"upload of {name} stopped: a chunk of {len(data)} bytes is over {CHUNK_BYTES}")
        if upload.received + len(data) > upload.size:
            return self._fail_upload(upload, f"upload of {name} stopped: more bytes than the {upload.size} offered")
        try:
            upload.handle.write(data)
        except OSError as exc:
            self.log(f"cannot store upload #{upload.file_id}: {oserror_words(exc)}")
            return self._fail_upload(upload, f"upload of {name} stopped: the server could not store it ({oserror_words(exc)})")
        upload.hasher.update(data)
        upload.received += len(data)
        return []

    def _done(self, room: Room, cid: int, done: ev.UploadDone) -> list[Action]:
        """The sender says it sent everything: check the size and the SHA-256, then offer the file."""
        upload = self.uploads.get(done.id)
        if upload is None or upload.owner != cid:
            return []
        offer = self.book.offers[upload.file_id]
        if upload.received != upload.size:
            return self._fail_upload(
                upload, f"upload of {offer.name} ended after {upload.received} of {upload.size} bytes"
            )
        digest = done.sha256.lower()  # PROTOCOL.md asks for lowercase; capitals mean the same digest
        if not is_sha256(digest):
            return self._fail_upload(upload, f"upload of {offer.name} ended without a SHA-256 (64 hex digits)")
        try:
            upload.handle.close()
        except OSError as exc:
            return self._fail_upload(
                upload, f"upload of {offer.name} failed: the server could not store it ({oserror_words(exc)})"
            )
        if upload.hasher.hexdigest() != digest:
            return self._fail_upload(upload, f"{offer.name} arrived damaged (SHA-256 mismatch) and was discarded")
        if (muted := _muted(room, cid)) is not None:  # muted since the offer: its name is words too
            return self._fail_upload(upload, muted)
        del self.uploads[upload.file_id]
        offer.sha256 = digest
        offer.ready = True
        offer.offered_at = self.clock()  # a listing says when it was offered, not when it was listed
        self.stored[offer.file_id] = upload.path
        to_whom = f" to {offer.to_name}" if offer.to_name else ""
        self.log(f"{offer.owner_name} offered {offer.name} ({human_size(offer.size)}){to_whom} as #{offer.file_id}")
        recipients = room._everyone if offer.to is None else tuple(dict.fromkeys((offer.to, offer.owner)))
        return [Broadcast(to=recipients, frame=encode(self._offered(offer)))]

    def _fail_upload(self, upload: _Upload, message: str) -> list[Action]:
        self._drop_upload(upload)
        return [Send(to=upload.owner, event=ev.FileError(id=upload.file_id, message=message))]

    def _drop_upload(self, upload: _Upload) -> None:
        self.uploads.pop(upload.file_id, None)
        self.book.remove(upload.file_id)
        with contextlib.suppress(OSError):
            upload.handle.close()
        with contextlib.suppress(OSError):
            upload.path.unlink()

    def _drop_stalled_uploads(self, now: float) -> list[Action]:
        """The uploads that sent no piece for STALLED_SECONDS (by ``now``) dropped, their quota
        freed and their senders told (drop_stalled)."""
        actions: list[Action] = []
        for upload in [u for u in self.uploads.values() if now - u.last_chunk >= STALLED_SECONDS]:
            offer = self.book.offers.get(upload.file_id)
            name = offer.name if offer is not None else f"file #{upload.file_id}"
            self._drop_upload(upload)
            self.log(f"upload of {name} stalled for {STALLED_SECONDS:g} s; dropped")
            message = f"sending {name} stopped: nothing arrived for {STALLED_SECONDS:g} s"
            actions.append(Send(to=upload.owner, event=ev.FileError(id=upload.file_id, message=message)))
        return actions


class _Downloads(_FilesPart):
    """Downloads leaving: a get checked and queued (MAX_GETS_WAITING asked, MAX_DOWNLOADS_AT_ONCE
    open at once), opened where a resumed copy ends, read out piece by piece as the hub asks
    (``next_chunk``, the chunk path), the last piece handed to the hub's pacer, and the offerer
    told who has the whole file. ``fetching_but`` is what the host's /q reads, from its own
    thread. Part of ServerFiles (the same offers and files), kept apart so each reads in one screen."""

    handed: list[tuple[int, str, str]]
    news: list[Send]
    pieces: RecentPieces
    _framed: tuple[ev.Event, bytes] | None  # next_chunk's last kept piece and its frame (frame_of)

    def wants_to_send(self, cid: int) -> bool:
        return bool(self.downloads.get(cid)) or bool(self.gets_waiting.get(cid))

    def downloading(self) -> list[int]:
        return [cid for cid in {*self.downloads, *self.gets_waiting} if self.wants_to_send(cid)]

    def fetching_but(self, host: int) -> list[tuple[str, str, int | None, bool, str | None]]:
        """The downloads under way by others than ``host``, of any file, as (who, file name,
        percent read out so far (None: asked for, not begun), offered to one person, whose: None for
        the host's own, else its sender's name): what the host's /q stops (the host's own
        downloads its session knows). Asked from the host's thread while the server's runs
        (cli/serve.py wires it): it reads copies of the dicts and queues, each made in one call, and
        changes nothing."""
        # The waits first: one becomes a download (_start_next) by joining ``downloads`` before it
        # leaves ``gets_waiting``, so read in this order it is never missed, and is counted once.
        waits = [(cid, asked) for cid, waiting in self.gets_waiting.copy().items() for asked in waiting.copy()]
        reading = [(cid, download) for cid, queue in self.downloads.copy().items() for download in queue.copy()]
        fetching: list[tuple[str, str, int | None, bool, str | None]] = []
        seen = set()

        def add(who: str, offer: Offer | None, left: int | None) -> None:
            if offer is not None:
                done = None if left is None else (offer.size - left) * 100 // offer.size if offer.size else 100
                fetching.append((who, offer.name, done, offer.to is not None, None if offer.owner == host else offer.owner_name))

        for cid, download in reading:
            if cid != host:
                seen.add((cid, download.file_id))
                add(download.who, download.offer, download.left)
        for cid, asked in waits:
            if cid != host and (cid, asked.file_id) not in seen and (offer := self.book.offers.get(asked.file_id)) is not None:
                add(asked.who, offer, None)
        return fetching

    def _get(self, cid: int, get: ev.GetFile, who: str) -> list[Action]:
        file_id = get.id.strip().lstrip("#")
        offer = self.book.find(file_id, cid)

        def refuse(about: str, message: str) -> list[Action]:
            return [Send(to=cid, event=ev.FileError(id=about, message=message, req=get.req))]

        if offer is None:
            message = f"no file #{file_id[:40]} is on offer (/files lists them)"  # "#9" asked: "#9", not "##9"
            if self.book.from_before(file_id):  # a /get from a screen older than this run
                message = f"#{file_id} was offered before the server restarted, and went then (/files lists what is on offer)"
            message = self.book.went(file_id, cid) or message  # from an offer line whose sender has left
            return refuse(get.id[:40], message)
        waiting = self.gets_waiting.get(cid, ())
        if any(d.file_id == offer.file_id for d in self.downloads.get(cid, ())) or any(w.file_id == offer.file_id for w in waiting):
            # asked again while it is still coming (a client never asks twice)
            return refuse(offer.file_id, f"#{offer.file_id} is already on its way to you")
        if len(waiting) >= MAX_GETS_WAITING:
            return refuse(offer.file_id, f"you have asked for {MAX_GETS_WAITING} files already; /get #{offer.file_id} once some have come")
        asked = WaitingGet(offer.file_id, get.binary, who, resume_offset(get, offer), get.req)
        self.gets_waiting.setdefault(cid, deque()).append(asked)  # none kept for a refused get
        if len(self.downloads.get(cid, ())) >= MAX_DOWNLOADS_AT_ONCE:
            return []  # its turn comes as one of those ends (next_chunk): one open file per download
        started = self._start_next(cid)
        return [Send(to=cid, event=started)] if started is not None else []

    def _restricted_get(self, room: Room, cid: int, get: ev.GetFile) -> list[Action]:
        """A student's /get of a classmate's file while /restrict files holds: refused (restrict.get_refusal)."""
        if FILES not in room.moderation.restricted or (offer := self.book.find(get.id.strip().lstrip("#"), cid)) is None:
            return []
        why = get_refusal(room, cid, offer.owner, offer.owner_name, offer.file_id)
        return [Send(to=cid, event=ev.FileError(id=offer.file_id, message=why, req=get.req, code=ev.E_RESTRICTED))] if why else []

    def _start_next(self, cid: int) -> ev.Event | None:
        """Open the next download ``cid`` asked for: its ``file-start`` (or a ``file-error``
        if it went meanwhile or cannot be read); None when none waits."""
        waiting = self.gets_waiting.get(cid)
        if not waiting:
            self.gets_waiting.pop(cid, None)
            return None
        # Taken off the waits only once it is a download: fetching_but, read from the host's thread
        # while this one waits on the disk (the open), sees it all along.
        file_id, binary, who, offset, req = waiting[0]
        offer = self.book.find(file_id, cid)
        try:
            if offer is None:
                raise KeyError(file_id)
            handle = open(self.stored[offer.file_id], "rb")  # noqa: SIM115 - read chunk by chunk
        except (OSError, KeyError) as exc:
            waiting.popleft()
            reason = oserror_words(exc) if isinstance(exc, OSError) else "it is no longer on offer"
            return ev.FileError(id=file_id, message=f"cannot read {offer.name if offer else '#' + file_id} ({reason})", req=req)
        self.downloads.setdefault(cid, deque()).append(_Download(offer.file_id, handle, offer.size - offset, offset, binary, who, offer, req))  # (a resumed one starts where the copy ends)
        waiting.popleft()
        return ev.FileStart(id=offer.file_id, name=offer.name, size=offer.size, sha256=offer.sha256, offset=offset or None, req=req)

    def next_chunk(self, cid: int) -> ev.Event | None:
        """The next piece for ``cid``'s downloads (``file-bytes``, or base64 ``file-data``),
        taking turns between them; a ``file-error`` if the stored file cannot be read; None
        when none are left.

        The hub sends each through the connection's protocol state machine, and asks only while
        that reader's queue is short (hub_downloads.FILE_LOW_WATER_BYTES, the one pacing rule), so a
        large download goes as fast as the reader takes it and chat frames slip in between.
        """
        queue = self.downloads.get(cid)
        if len(queue or ()) < MAX_DOWNLOADS_AT_ONCE and self.gets_waiting.get(cid):
            return self._start_next(cid)  # one ended: the next asked for starts
        while queue:
            # Read while still in the queue, then moved to its end in one step (rotate): fetching_but,
            # read from the host's thread while this one waits on the disk, sees it all along.
            download = queue[0]
            if download.left <= 0:  # nothing to send: an empty file, or a resume from its end
                queue.popleft()
                with contextlib.suppress(OSError):
                    download.handle.close()
                self.handed.append((cid, download.file_id, download.who))  # (its file-start went: that was all)
                if self.gets_waiting.get(cid):  # its place is free: the next asked for starts now, or,
                    return self._start_next(cid)  # the queue emptied with no download left, never (server.py)
                continue
            try:
                piece = self.pieces.take(download.file_id, download.handle, download.at,
                                         min(BINARY_CHUNK_BYTES if download.binary else CHUNK_BYTES, download.left),
                                         binary=download.binary)  # fmt: skip
            except OSError as exc:
                piece = None
                reason = oserror_words(exc)
            else:
                reason = "the stored file is shorter than offered"
            if piece is None or not piece.size:
                queue.popleft()
                with contextlib.suppress(OSError):
                    download.handle.close()
                return ev.FileError(id=download.file_id, message=f"download of #{download.file_id} failed: {reason}", req=download.req)
            download.left -= piece.size
            download.at += piece.size
            if download.left > 0:
                queue.rotate(-1)
            else:
                queue.popleft()
                with contextlib.suppress(OSError):
                    download.handle.close()
                self.handed.append((cid, download.file_id, download.who))  # its last piece goes now
            if piece.frame is not None:
                self._framed = (piece.event, piece.frame)
            return piece.event
        self.downloads.pop(cid, None)
        return None

    def frame_of(self, event: ev.Event) -> bytes | None:
        """``event``'s frame if it is the last piece next_chunk handed out and that one was kept
        (RecentPieces: made once for every download of it), else None: the protocol encodes it."""
        framed = self._framed
        return framed[1] if framed is not None and framed[0] is event else None

    def fetched_whole(self, cid: int, file_id: str, who: str) -> None:
        """The last of ``cid``'s download of ``file_id`` (``handed``) was written to its socket:
        counted once a person, and the offerer, while on offer (its connection is here), told of
        each new one (PROTOCOL.md, Who fetched it). Nobody else: who fetched what is the offerer's."""
        offer = self.book.offers.get(file_id)
        if offer is not None and offer.fetched(who, cid):
            told = ev.Fetched(id=offer.file_id, name=offer.name, by=who, count=len(offer.fetched_by))
            self.news.append(Send(to=offer.owner, event=told))

    def take_news(self) -> list[Send]:
        """What offerers are to be told (``news``), once."""
        news, self.news = self.news, []
        return news


class ServerFiles(_Uploads, _Downloads):
    """Offers, uploads arriving and downloads leaving, for one server run.

    Files live in a folder this run creates (``run-XXXX`` inside ``base``, by default the
    user's data folder) and removes on ``close()``; stored names are ``<id>-<random>.upload``,
    so nothing a peer says becomes a path.

    The offers' table is this class: file events handed in (``handle``), what a newcomer or a
    rejoin may fetch (``offers_for``), a cancel, the timers, and what goes when someone leaves
    (``forget``). Uploads arriving are _Uploads', downloads leaving _Downloads'; the three share
    the offer book and the files, so they are parts of one object, and the hub's ``next_chunk``
    is one method call, no layer in between.
    """

    def __init__(
        self,
        base: Path | str | None = None,
        *,
        max_file_bytes: int | None = None,
        quota_bytes: int | None = None,
        first_id: int = 1,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
    ) -> None:
        book_args = {} if max_file_bytes is None else {"max_file_bytes": max_file_bytes}
        self.book = OfferBook(quota_bytes=quota_bytes, first_id=first_id, **book_args)
        self.base = Path(base) if base is not None else None
        self.clock = clock
        self.log = log or (lambda line: None)
        self._folder: Path | None = None
        self._run_lock: BinaryIO | None = None  # held while this run's folder is in use
        self.uploads: dict[str, _Upload] = {}
        self.stored: dict[str, Path] = {}
        self.downloads: dict[int, deque[_Download]] = {}  # being read, files open, taking turns
        self.pieces = RecentPieces()  # what they read last, shared (a class fetching one file)
        self._framed = None
        self.gets_waiting: dict[int, deque[WaitingGet]] = {}  # asked, not yet opened
        # A recipient whose connection was lost (room.LostSessions) -> until when the files offered
        # to it alone wait for its rejoin (ShowOffers.resumed), as its other state does
        self.away: dict[int, float] = {}
        # A connection lost while it fetched files -> their ids: a rejoin that takes its session back
        # hears which of them went meanwhile (offers_for), as lanchat's client said it would ask
        # again for them "if still on offer" (the newest CUT_SHORT_REMEMBERED connections)
        self.cut_short: dict[int, list[str]] = {}
        # A connection whose session was taken over while it still fetched (left 'moved'): its
        # downloads were offered again to the session's new connection (offers_for), so its close
        # (forget) writes no cut_short entry that nothing could ever take back
        self.taken_over: set[int] = set()
        # Downloads whose last piece next_chunk handed out, as (connection, file id, to whom): the
        # hub's pacer counts each as fetched once that piece is written to its socket (fetched_whole)
        self.handed: list[tuple[int, str, str]] = []
        # Told to an offerer, who has one more person with the whole of a file of theirs (ev.Fetched),
        # for the hub's pacer to send
        self.news: list[Send] = []

    def offers_of(self, owner: int) -> int:
        """How many files connection ``owner`` has on offer now (whole and checked): the host's
        screen looks who fetches them while any is (session_social.sending_check_due). Asked
        from the host's thread, as fetching_but is: it reads a copy made in one call."""
        return sum(offer.owner == owner and offer.ready for offer in self.book.offers.copy().values())

    def handle(self, room: Room, cid: int, event: ev.Event) -> list[Action]:
        """One file event from connection ``cid`` -> the actions that answer it."""
        member = room.members.get(cid)
        if member is None:
            return [Send(to=cid, event=ev.Error(code=ev.E_HELLO_FIRST, message='send "hello" first'))]
        if isinstance(event, ev.OfferFile):
            return self._offer(room, cid, member.name, event)
        if isinstance(event, ev.UploadBytes):
            return self._chunk(cid, event.id, event.data)
        if isinstance(event, ev.UploadChunk):
            return self._chunk(cid, event.id, event.data)
        if isinstance(event, ev.UploadDone):
            return self._done(room, cid, event)
        if isinstance(event, ev.GetFile):
            return self._restricted_get(room, cid, event) or self._get(cid, event, member.name)
        if isinstance(event, ev.ListFiles):
            offers = self.book.visible_to(cid)
            listed = offers[-MAX_LISTED:]  # the newest: a listing of thousands would get the asker dropped as too slow
            listing: list[Action] = [Send(to=cid, event=ev.FileList(count=len(listed), unlisted=len(offers) - len(listed)))]
            # the offerer reads how many have fetched each of theirs ("fetched by 28")
            return listing + [Send(to=cid, event=self._offered(o, listing=True, fetched=o.fetched_count(cid))) for o in listed]
        if isinstance(event, ev.CancelFile):
            return self._cancel(cid, event.id, event.req)
        return []

    def offers_for(self, cid: int, resumed: int | None = None, name: str | None = None) -> list[Action]:
        """What ``cid``, who just joined, may fetch: each file on offer as it was offered, stamped
        with when it was (a rejoining client shows only those it had not seen). The newest
        MAX_LISTED, as /files lists them: all of thousands, after a replay, would get the newcomer
        dropped as too slow before a line was read. ``resumed``: the lost connection whose session
        ``cid`` (called ``name``) took back: the files offered to it alone are ``cid``'s now, and
        those it was fetching are offered again however old (its client asks for them again
        when they are: with more than MAX_LISTED newer ones, it took them for gone)."""
        fetching: set[str] = set()
        if resumed is not None:
            self.away.pop(resumed, None)
            for offer in self.book.offers.values():
                if offer.to == resumed:
                    offer.to, offer.to_name = cid, name or offer.to_name
            # a takeover (left 'moved'): the old connection is not closed yet, its downloads still live
            live = [d.file_id for d in self.downloads.get(resumed, ())] + [w.file_id for w in self.gets_waiting.get(resumed, ())]
            fetching = {*self.cut_short.get(resumed, ()), *live}
            if live:
                self.taken_over.add(resumed)
        visible = self.book.visible_to(cid)
        older = [offer for offer in visible[:-MAX_LISTED] if offer.file_id in fetching] if fetching else []
        offers: list[Action] = [Send(to=cid, event=self._offered(offer)) for offer in older + visible[-MAX_LISTED:]]
        return offers + self._gone_meanwhile(cid, resumed)

    def _gone_meanwhile(self, cid: int, resumed: int | None) -> list[Action]:
        """For a rejoin that took back the session of the lost connection ``resumed``: a
        ``file-error`` for each file that connection was fetching (or had asked for) and that is
        no longer on offer to it, with the words a get of it would get (PROTOCOL.md, Resuming a
        download). None for a file still on offer: its ``offered`` came, and the client asks again."""
        if resumed is None:
            return []
        errors: list[Action] = []
        for file_id in self.cut_short.pop(resumed, ()):
            if self.book.find(file_id, cid) is None:  # (a private one to it is cid's by now, above)
                message = self.book.went(file_id, resumed) or f"#{file_id} is no longer on offer (/files lists what is)"
                errors.append(Send(to=cid, event=ev.FileError(id=file_id, message=message)))
        return errors

    def _cancel(self, cid: int, file_id: str, req: int | None = None) -> list[Action]:
        """Stop ``cid``'s upload or download of ``file_id``; with ``req``, only a download its get
        with that req began (a cancel of an earlier get never stops a later one: Request ids)."""
        upload = self.uploads.get(file_id)
        if upload is not None and upload.owner == cid and req is None:
            self._drop_upload(upload)
        queue = self.downloads.get(cid)
        if queue:
            for download in [d for d in queue if d.file_id == file_id and req in (None, d.req)]:
                queue.remove(download)
                with contextlib.suppress(OSError):
                    download.handle.close()
        waiting = self.gets_waiting.get(cid)
        if waiting:
            for asked in [w for w in waiting if w.file_id == file_id and req in (None, w.req)]:
                waiting.remove(asked)
        return []

    def drop_stalled(self, now: float | None = None) -> list[Action]:
        """Uploads that sent no piece for STALLED_SECONDS are dropped, and their quota freed;
        the sender is told (the hub calls this now and then). Files offered to one person lost
        and not back in time go, as if they had left."""
        now = self.clock() if now is None else now
        actions: list[Action] = []
        for cid in [cid for cid, until in self.away.items() if until <= now]:
            del self.away[cid]
            actions += self._recipient_left(cid)
        return actions + self._drop_stalled_uploads(now)

    @property
    def timed(self) -> bool:
        """Is anything here waiting for a time (``next_stall_check``)?"""
        return bool(self.uploads or self.away)

    def next_stall_check(self) -> float | None:
        """When the oldest upload in progress would count as stalled, or the files of a lost
        recipient stop waiting for it (by ``clock``); None: nothing waits."""
        times = [u.last_chunk + STALLED_SECONDS for u in self.uploads.values()] + list(self.away.values())
        return min(times, default=None)

    # ------------------------------------------------------------ leaving

    def forget(self, cid: int, *, away: bool = False) -> list[Action]:
        """Connection ``cid`` is gone: its uploads stop, its offers expire, its downloads end,
        and a private upload to it stops (its sender is told); ``away``, its connection was lost
        and its session may come back (room.LostSessions): what is offered to it alone waits
        REJOIN_SECONDS for that (``offers_for``), still uploading if it was."""
        for upload in [u for u in self.uploads.values() if u.owner == cid]:
            self._drop_upload(upload)
        fetching = [d.file_id for d in self.downloads.get(cid, ())] + [w.file_id for w in self.gets_waiting.get(cid, ())]
        if away and fetching and cid not in self.taken_over:
            self.cut_short[cid] = list(dict.fromkeys(fetching))
            if len(self.cut_short) > CUT_SHORT_REMEMBERED:
                del self.cut_short[next(iter(self.cut_short))]
        self.taken_over.discard(cid)
        for download in self.downloads.pop(cid, ()):
            with contextlib.suppress(OSError):
                download.handle.close()
        self.gets_waiting.pop(cid, None)
        actions: list[Action] = []
        if not away:
            actions = self._recipient_left(cid)
        elif any(offer.to == cid for offer in self.book.offers.values()):
            self.away[cid] = self.clock() + REJOIN_SECONDS
        gone = self.book.expire_owner(cid)
        for offer in gone:
            self._unlink_stored(offer.file_id)
        if gone:
            self.log(f"{len(gone)} file(s) offered by {gone[0].owner_name} expired")
        return actions

    def _recipient_left(self, cid: int) -> list[Action]:
        """The files offered to ``cid`` alone go; one still uploading stops, its sender told."""
        actions: list[Action] = []
        for offer in self.book.recipient_left(cid):
            stopped = self.uploads.get(offer.file_id)
            if stopped is not None:
                self._drop_upload(stopped)
                message = f"sending {offer.name} stopped: {offer.to_name} left"
                actions.append(Send(to=offer.owner, event=ev.FileError(id=offer.file_id, message=message)))
            self._unlink_stored(offer.file_id)
        return actions

    def _unlink_stored(self, file_id: str) -> None:
        path = self.stored.pop(file_id, None)
        self.pieces.forget(file_id)
        if path is not None:
            # A download already under way keeps its open handle (POSIX) and finishes.
            with contextlib.suppress(OSError):
                path.unlink()

    def close(self) -> None:
        """The server is stopping: close every file and remove this run's folder."""
        for upload in list(self.uploads.values()):
            self._drop_upload(upload)
        for queue in self.downloads.values():
            for download in queue:
                with contextlib.suppress(OSError):
                    download.handle.close()
        self.downloads.clear()
        self.gets_waiting.clear()
        self.stored.clear()
        self.pieces = RecentPieces()
        self._framed = None
        if self._folder is not None:
            import shutil

            shutil.rmtree(self._folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                _lock_path(self._folder).unlink()
            self._folder = None
        if self._run_lock is not None:
            self._run_lock.close()
            self._run_lock = None


def resume_offset(get: ev.GetFile, offer: Offer) -> int:
    """Where a download asked for by ``get`` starts: the client's ``offset`` when it holds that
    many bytes of this very file (its ``sha256``, when given, is the offer's), else 0: a copy of
    another file, or an offset past the end, starts from the beginning (PROTOCOL.md, Resuming a
    download). The client checks the whole file's SHA-256 at the end either way."""
    offset = get.offset or 0
    if not 0 < offset <= offer.size or (get.sha256 is not None and get.sha256.lower() != offer.sha256):
        return 0
    return offset


_ONE_PERSON = "a file offered to one person needs no turn (/send PATH NAME), as a whisper does"


def _quota_holder(room: Room, member: Member | None) -> tuple[str | None, str | None]:
    """Whose upload quota an offer of ``member``'s counts in (OfferBook's ``address``), and the
    address group whose total it counts in too (None: none). The quota counts by address group, as
    connection caps and bans do (limits.AddressGroups): a machine off the LAN holding a whole IPv6
    /64 gets one quota, not one per address; but there a member with an identity key has one of
    their own ("GROUP key FINGERPRINT"): behind a school's NAT the class shares one address, and
    one quota was 200 MB for all of them (their total: ``_address_over``). Only from another
    machine: over 127.0.0.1 everyone shares one group (and a lab account one key file), so there
    it is per person, as ever."""
    group = room.moderation.groups.group(member.address) if member is not None else LOCAL
    if member is None or group == LOCAL:
        return None, None
    key = room.moderation.identity_of(member)
    return (group if key is None else f"{group} key {key}"), group


def _muted(room: Room, cid: int) -> str | None:
    """Why ``cid`` may not offer a file now (a mute holds against them), or None."""
    member = room.members.get(cid)
    return None if member is None else muted_words(room, member)


def _lock_path(folder: Path) -> Path:
    return folder.with_name(folder.name + ".in-use")  # beside the folder: it holds only uploads


def hold_run(folder: Path) -> BinaryIO | None:
    """Lock ``folder``'s lock file for as long as the returned file stays open: the kernel lets
    go when this process ends however it ends, so a folder nobody holds is a dead server's."""
    try:
        import fcntl
    except ImportError:  # no flock here: nothing is swept either
        return None
    # Locked under another name, then renamed into place: a sweeping server that finds the lock
    # file finds it held (between an open and its flock it would have looked like a dead one's).
    making = folder.with_name(folder.name + ".locking")
    try:
        handle = open(making, "wb")  # noqa: SIM115 - held open until close()
    except OSError:
        return None  # no lock file: this folder is never swept, as before
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(making, _lock_path(folder))
    except OSError:  # a file system without flock: leave no lock file that would look unheld
        handle.close()
        with contextlib.suppress(OSError):
            making.unlink()
        return None
    return handle


def remove_stale_runs(base: Path) -> int:
    """Remove the run folders in ``base`` that no live server holds (one killed outright never
    ran its close(): its uploads stayed on disk for good). Servers on other ports share ``base``:
    a folder that is held, or has no lock file (still being made, or an older lanchat's), stays."""
    try:
        import fcntl
    except ImportError:
        return 0
    removed = 0
    for run in base.glob("run-*"):
        if not run.is_dir():
            continue
        try:
            handle = open(_lock_path(run), "rb")  # noqa: SIM115 - closed below
        except OSError:
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live server's
            import shutil  # (a folder to remove: an idle server never loads it otherwise)

            shutil.rmtree(run, ignore_errors=True)
            with contextlib.suppress(OSError):
                _lock_path(run).unlink()
            removed += 1
    return removed
