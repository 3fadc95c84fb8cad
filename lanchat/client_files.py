"""client_files.py: one participant's uploads and downloads, on their own disk. Never touches a socket.

``ClientTransfers`` reads files being sent and writes files being received; the client loop
(client.py) sends the events it returns through the protocol connection. The rule it keeps: a
download is only ever seen under its final name once its SHA-256 has been checked; until then
it has no name at all (O_TMPFILE on Linux) or a hidden temporary one, deleted if anything goes
wrong, or, from RESUMABLE_MIN_BYTES on, a hidden partial file (partial_path) kept when it stops
short, for a get that goes on from there (PROTOCOL.md, Resuming a download). The rules
themselves (limits, safe names, progress) are in files.py.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import itertools
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from . import events as ev
from .files import (
    BINARY_CHUNK_BYTES,
    CHUNK_BYTES,
    MAX_OFFERS_AT_ONCE,
    MAX_UPLOADS_AT_ONCE,
    MB,
    ChunkError,
    Progress,
    decode_chunk,
    duration_text,
    encode_chunk,
    human_size,
    is_sha256,
    oserror_words,
    path_as_typed,
    safe_name,
    speed_clause,
    unique_name,
)
from .session import HIDDEN_FILE, OFFERS_REMEMBERED, PROGRESS, FileCommand, Line, Session
from .upload_acks import UploadAcks

# A download this large is written to a named partial file (partial_path) that outlives a cut
# link, a /cancel and a crash, and a /get of the same file asks the server to go on from where
# it ends (PROTOCOL.md, Resuming a download). A smaller one is quicker fetched again than kept:
# it waits in a file with no name (O_TMPFILE), which nothing ever leaves behind.
RESUMABLE_MIN_BYTES = 1 * MB
PARTIAL_SUFFIX = ".lanchat-part"
# A partial nobody holds and nobody added to for this long is removed by the next download into
# its folder: a /get of that file a week later is not coming, and it may be hundreds of MiB.
STALE_PARTIAL_SECONDS = 7 * 24 * 3600.0

# A resumed download's kept part is read into its SHA-256 a slice at a time between the loop's
# passes (hash_kept), this long at most each: read at once, 200 MiB held the
# screen and the chat for 0.11 s from the page cache, and for seconds from a slow disk.
HASH_SLICE_SECONDS = 0.01
HASH_READ_BYTES = 1 * MB

HIDDEN_LABEL = "(name hidden)"  # a file offered to one person, in the status line in projector mode
_OWN_ID = re.compile(r"[sS][0-9]+")  # a /send's own id (_Sending.own_id), as /cancel takes it


def default_downloads_dir() -> Path:
    """The user's Downloads folder if it exists, else the current folder."""
    try:
        import platformdirs

        downloads = Path(platformdirs.user_downloads_dir())
        if downloads.is_dir():
            return downloads
    except (ImportError, OSError):
        pass
    return Path.cwd()



class _Unreadable(Exception):
    """An upload's file cannot give its next piece (the words say why)."""


@dataclass
class _Sending:
    """One upload on its way from the disk: its open file, what was read and hashed of it."""

    ref: int
    path: Path
    name: str
    handle: BinaryIO
    size: int
    hasher: hashlib._Hash
    file_id: str | None = None
    sent: int = 0
    progress: Progress | None = None
    binary: bool = False  # the server takes binary frames (its upload-ready said so)
    hidden: str | None = None  # offered to one person: what projector mode shows for its name
    stamp: tuple[int, int] = (0, 0)  # its size and modification time when /send opened it (_stamp)
    to: str | None = None  # offered to this one person (/send PATH NAME)
    handed_all: bool = False  # every piece written: it waits for the server's end to take them (taken_up)

    @property
    def own_id(self) -> str:
        """The id /cancel takes for it before the server gives one (and after): ``s3``, the third
        /send of this client (a fifth /send waits its turn with no id of the server's)."""
        return f"s{self.ref}"

    def named_by(self, typed: str) -> bool:
        """Does /cancel ``typed`` (its ``#`` off) mean this upload: the server's id, or its own?"""
        return typed == self.file_id or typed.casefold() == self.own_id

    def next_piece(self) -> tuple[ev.UploadBytes | ev.UploadChunk, int] | None:
        """The next piece, read and hashed, as the event that carries it (a binary frame, or
        base64) and the bytes it takes on the wire; None once all of it was read. _Unreadable
        if the file cannot give it (a read error, or it got shorter)."""
        left = self.size - self.sent
        if not left:
            return None
        try:
            data = self.handle.read(min(BINARY_CHUNK_BYTES if self.binary else CHUNK_BYTES, left))
        except OSError as exc:
            raise _Unreadable(oserror_words(exc)) from exc
        if not data:
            raise _Unreadable("it got shorter while it was being sent")
        # Saved again meanwhile (an editor, a download still arriving): what was read would be part
        # old, part new, a file that never was on any disk, offered "SHA-256 checked". Asked after
        # every read, the last included, so the file offered is the one /send opened, unchanged.
        if _stamp(self.handle) != self.stamp:
            raise _Unreadable("it changed while it was being sent; /send it again once it is saved")
        self.sent += len(data)
        self.hasher.update(data)
        assert self.file_id is not None  # (sending: the server gave it an id)
        if self.binary:
            return ev.UploadBytes(id=self.file_id, data=data), len(data)
        return ev.UploadChunk(id=self.file_id, data=encode_chunk(data)), (len(data) + 2) // 3 * 4


class _Damaged(Exception):
    """A download's SHA-256 is not the one offered."""


@dataclass
class _Receiving:
    """One download on its way to the disk: its file, with no name yet (or a hidden temporary
    one), and what came of it. The module's rule lives here: the file gets its final name only
    once its SHA-256 is the one offered (``finish``), and ``discard`` leaves nothing behind.
    ``hasher`` has had the file's first ``hashed`` bytes: all of ``received`` but while a resumed
    download's kept part is still being read into it (``catch_up``), what came meanwhile after it."""

    file_id: str
    name: str
    size: int
    sha256: str
    temp: Path | None  # None: the file has no name at all until it is checked (O_TMPFILE)
    handle: BinaryIO
    hasher: hashlib._Hash
    progress: Progress
    received: int = 0
    hidden: str | None = None  # offered to one person: what projector mode shows for its name
    hashed: int = 0  # the bytes read into ``hasher``, from the file's start
    partial: bool = False  # ``temp`` is its partial_path: kept when it stops short (``stop``), for a resume
    resumed_from: int = 0  # a resumed download: the bytes it started with, kept from before
    # a partial file's (st_dev, st_ino) as opened: its name is shared (partial_path), so another
    # file may have it later (a person's, another lanchat's), which is never ours to name or delete
    identity: tuple[int, int] | None = None

    def write(self, data: bytes) -> None:
        """The next piece: ChunkError if it goes past the size offered; OSError from the disk."""
        if self.received + len(data) > self.size:
            raise ChunkError("more bytes arrived than the file's size")
        self.handle.write(data)
        if self.hashed == self.received:  # (else catch_up reads it back from the disk, in order)
            self.hasher.update(data)
            self.hashed += len(data)
        self.received += len(data)

    @property
    def behind(self) -> bool:
        """Is some of what is written not in ``hasher`` yet (a resume's kept part: ``catch_up``)?"""
        return self.hashed < self.received

    def catch_up(self, seconds: float, clock: Callable[[], float]) -> bool:
        """Read what is written and not hashed yet back from the file into ``hasher``, for about
        ``seconds`` at most; True once all of it is. OSError if it cannot be read (or flushed)."""
        if self.behind:
            self.handle.flush()  # (pread reads the file, not our buffer)
        fd, until = self.handle.fileno(), clock() + seconds
        while self.behind:
            data = os.pread(fd, min(self.received - self.hashed, HASH_READ_BYTES), self.hashed)
            if not data:
                raise OSError(errno.EIO, "its partial file got shorter while it was read")
            self.hasher.update(data)
            self.hashed += len(data)
            if clock() >= until:
                break
        return not self.behind

    def finish(self, downloads: Path) -> Path:
        """All of it came: check its SHA-256 and give it its final name in ``downloads``, never
        replacing a file (_place). _Damaged: not the file offered; OSError: it cannot be saved."""
        assert not self.behind  # (hash_kept completes one whose kept part it read last)
        self.handle.flush()  # a full disk shows here, before the file has a name
        if self.partial:
            _still_ours(self)
        if self.temp is not None:
            self.handle.close()  # an unnamed file stays open: it is linked in by its descriptor
        if self.hasher.hexdigest() != self.sha256:
            raise _Damaged
        final = _place(self, downloads)
        with contextlib.suppress(OSError):
            self.handle.close()
        return final

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()  # an unnamed file is gone with its last descriptor
        if self.temp is not None and (self.identity is None or _names(self.temp, self.identity)):
            with contextlib.suppress(OSError):
                self.temp.unlink()

    def stop(self) -> int:
        """It stops short (/cancel, a lost connection, the chat's end): a partial file is kept for a
        resume, anything else discarded. Returns the bytes kept (0: nothing was): what the file
        holds, which a get goes on from (_held), not what came (on a full disk, a piece's start may
        be written before the disk said no, and bytes still in the write buffer never are)."""
        if not self.partial or not self.received:
            self.discard()
            return 0
        with contextlib.suppress(OSError):
            self.handle.flush()  # what is still buffered, if the disk takes it
        try:
            kept = os.fstat(self.handle.fileno()).st_size
        except (OSError, ValueError):
            kept = 0
        with contextlib.suppress(OSError):
            self.handle.close()
        if not kept:
            self.discard()  # (an empty partial is no part of anything)
        return kept


class ClientTransfers:
    """One participant's uploads and downloads. Every method returns ``(events, lines)``: events
    for the client loop to send, transcript lines for the front end. ``progress`` maps a key
    (``send:3``, ``get:3``) to a live files.Progress that a status line can show."""

    def __init__(
        self,
        downloads: Path | str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.downloads = Path(downloads) if downloads is not None else default_downloads_dir()
        self.clock = clock
        self.wall = wall
        self.progress: dict[str, Progress] = {}
        self.queued: list[_Sending] = []  # opened, not offered yet: MAX_UPLOADS_AT_ONCE are on their way (_offer_next)
        self.waiting: dict[int, _Sending] = {}  # offered, not yet accepted
        self.sending: dict[str, _Sending] = {}  # accepted, chunks going out
        self.checking: dict[str, str] = {}  # all sent, the server is checking: id -> name
        self.on_offer: dict[str, str] = {}  # ours, on offer: id -> name (they go with the connection)
        self.wanted: set[str] = set()
        self.private_offers: dict[str, str] = {}  # files offered to one person: id -> name as offered (the newest last)
        self.receiving: dict[str, _Receiving] = {}
        # Resuming (PROTOCOL.md, Resuming a download): the offers seen, id -> (SHA-256, size, name),
        # which say which partial file a /get of an id goes on with; the downloads a lost
        # connection cut short, id -> SHA-256, asked for again when the rejoin offers them again
        self.known: dict[str, tuple[str, int, str]] = {}
        self.resume_on_offer: dict[str, str] = {}
        self.saved: dict[str, tuple[Path, str]] = {}  # id -> where its file was saved, and its SHA-256 (_saved_already), the newest last
        self.moved: set[str] = set()  # ids of those asked for again under another id since the rejoin (_resume_offered)
        self.offers_awaited = False  # a rejoin's ping went: its pong follows the rejoin's offers (offers_came)
        # ids we sent a cancel for, whose pieces may still be on their way (until the next file-start
        # of that id), and those asked for again (_orphan, a /get after a /cancel) before the first
        # asking's file-start came, which may still come: the next one is then the one (_asked_for)
        self.draining: dict[str, None] = {}
        self.reasked: set[str] = set()
        self.asked_from: dict[str, int] = {}  # the offset each get we sent asked for (_ask): all a file-start may go on from
        self.asked_req: dict[str, int] = {}  # the req of our last get of each id (_numbered, _stale)
        self.said_no_locks = False  # the downloads folder takes no file locks: said once (_no_locks)
        self.reqs = itertools.count(1)
        self._next_ref = 1
        self.status_line = False  # progress shows in a status line: one transcript line per transfer
        self.acks = UploadAcks()  # how far each upload has gone, by what the server's end took (taken_up)
        self.me: Callable[[], str] = lambda: ""  # our name in the room, once shared (share_with)

    def _line(self, text: str, kind: str = "notice") -> Line:
        return Line(kind=kind, time=self.wall(), text=text)

    def _error(self, text: str, hiding: str = "") -> tuple[list[ev.Event], list[Line]]:
        """An error line; with ``hiding`` (a file for one person's path), projector mode shows it without that."""
        return [], [Line(kind="error", time=self.wall(), text=text, private=text.replace(hiding, HIDDEN_FILE) if hiding else None)]

    # ------------------------------------------------------------ commands

    def command(self, command: FileCommand, *, offline: bool = False) -> tuple[list[ev.Event], list[Line]]:
        if command.name == "send":
            return self.offer(command.path, command.to)
        if command.name == "cancel":
            return self.cancel(command.file_id, offline=offline)
        return self.get(command.file_id)

    def offer(self, path_text: str, to: str | None = None) -> tuple[list[ev.Event], list[Line]]:
        """``/send PATH [NAME]``: check the file and ask the server to take it.

        Only the size is needed now: the SHA-256 is computed while the chunks are read and
        sent at the end, so a file the server refuses is never read at all.
        """
        hiding = path_text if to else ""  # a file for one person: its name is not for the projector
        if to is not None and ev.name_key(to) == ev.name_key(self.me()):  # (the room would offer it to nobody else)
            return self._error(f"cannot send {path_text} to {to}: that is you; /send {path_as_typed(path_text)} offers it to the room", hiding)
        if len(self.queued) >= MAX_OFFERS_AT_ONCE:
            return self._error(f"cannot send {path_text}: {len(self.queued)} files wait to be offered already; /send it once some are", hiding)
        opened = _opened_to_send(path_text, to)
        if isinstance(opened, str):
            return self._error(f"cannot send {path_text}: {opened}", hiding)
        path, handle, stamp = opened
        ref = self._next_ref
        self._next_ref += 1
        name, hidden = _name_to_offer(path), HIDDEN_FILE if to else None
        self.queued.append(_Sending(ref=ref, path=path, name=name, handle=handle, size=stamp[0], hasher=hashlib.sha256(), hidden=hidden, stamp=stamp, to=to))
        # (the server refuses a fifth upload at once: a fifth /send waits here for one to be offered)
        if offers := self._offer_next():
            return offers, []
        after = f" ({MAX_UPLOADS_AT_ONCE} of your files are on their way up); it goes when one of them is offered, or /cancel s{ref} drops it"
        return [], [_named(self.wall(), "", name, f" waits its turn{after}", hidden)]

    def _offer_next(self) -> list[ev.Event]:
        """The offers of files /send queued, oldest first, while fewer than MAX_UPLOADS_AT_ONCE of
        ours are on their way up (offered, sent or being checked: what the server counts)."""
        offers: list[ev.Event] = []
        while self.queued and len(self.waiting) + len(self.sending) + len(self.checking) < MAX_UPLOADS_AT_ONCE:
            sending = self.queued.pop(0)
            self.waiting[sending.ref] = sending
            offers.append(ev.OfferFile(ref=sending.ref, name=sending.name, size=sending.size, to=sending.to))
        return offers

    def share_with(self, session: Session) -> None:
        """Our live progress is ``session``'s (a status line draws it), its /q asks us of the
        /send files not begun (unsent; session_social.moving_files), its /files where a file on
        offer was saved here (saved_where), and its name is ours (/send to it: refused)."""
        self.progress = session.progress
        session.unsent_files = functools.partial(unsent, self)
        session.saved_files = functools.partial(saved_where, self)
        self.me = lambda: session.name  # (it changes with /nick)

    def get(self, file_id: str) -> tuple[list[ev.Event], list[Line]]:
        """``/get ID``: check we can write where downloads go, then ask for the file."""
        file_id = file_id.strip().lstrip("#")
        if not file_id:
            return self._error("usage: /get ID (/files lists what is on offer)")
        if file_id in self.wanted or file_id in self.receiving:
            return self._error(f"#{file_id} is already on its way")
        if (ours := _going_up(self, file_id) or _saved_already(self, file_id)) is not None:  # (the server's "no file #1"
            return [], [ours]  # would read as about the upload)
        if not self.downloads.is_dir():
            return self._error(f"cannot download: the folder {self.downloads} does not exist")
        if not os.access(self.downloads, os.W_OK | os.X_OK):
            return self._error(f"cannot download: the folder {self.downloads} is not writable")
        self.wanted.add(file_id)
        if file_id in self.draining:  # (cancelled a moment ago: see reasked)
            self.reasked.add(file_id)
        self.resume_on_offer.pop(file_id, None)  # asked now: not again when offered
        return [self._ask(file_id)], []

    def _ask(self, file_id: str) -> ev.GetFile:
        """The ``get`` for ``file_id``: from where its partial file ends, if we hold one of the
        file it was offered as (PROTOCOL.md, Resuming a download)."""
        known = self.known.get(file_id)
        held = _held(self.downloads, known[2], known[0], known[1]) if known is not None else 0
        self.asked_from[file_id] = held
        req = _numbered(self, file_id)
        if held and known is not None:
            return ev.GetFile(id=file_id, binary=True, offset=held, sha256=known[0], req=req)
        return ev.GetFile(id=file_id, binary=True, req=req)

    def cancel(self, file_id: str = "", *, offline: bool = False) -> tuple[list[ev.Event], list[Line]]:
        """``/cancel [ID]``: stop sending or receiving ``file_id`` (every transfer when empty). The
        server is told (``cancel``) so it drops an upload or stops reading a download; pieces
        already on their way are ignored. A download's file is deleted, a partial one's kept; one a lost
        connection cut short is not asked for again once back (resume_on_offer), even typed ``offline``."""
        file_id = file_id.strip().lstrip("#")
        events: list[ev.Event] = []
        lines: list[Line] = []
        for sending in [*self.waiting.values(), *self.sending.values(), *self.queued]:
            if file_id and not sending.named_by(file_id):
                continue
            if sending.handed_all:  # all written: the server's to check and offer (it may have), as one it is checking
                lines.append(_named(self.wall(), "", sending.name, " is all sent, on its way to the server: too late to stop it", sending.hidden))
                continue
            self._stop_sending(sending)
            if sending.file_id is not None:
                events.append(ev.CancelFile(id=sending.file_id))
            lines.append(_named(self.wall(), "stopped sending ", sending.name, "; it is not on offer", sending.hidden))
        for receiving in list(self.receiving.values()):
            if file_id and receiving.file_id != file_id:
                continue
            kept = self._stop(receiving)
            events.append(_cancel_get(self, receiving.file_id))
            _drain(self, receiving.file_id)
            after = f"; kept {human_size(kept)} of it: /get {receiving.file_id} goes on from there" if kept else "; nothing of it was kept"
            lines.append(_named(self.wall(), "stopped receiving ", receiving.name, after, receiving.hidden))
        for wanted in sorted(self.wanted):
            if file_id and wanted != file_id:
                continue
            _unask(self, wanted)
            events.append(_cancel_get(self, wanted))
            _drain(self, wanted)
            lines.append(self._line(f"stopped the download of #{wanted}"))
        for again in list(self.resume_on_offer):
            if not file_id or again == file_id:
                lines.append(_not_asked_again(self, again))
        if not lines:
            return self._error(_nothing_to_cancel(file_id, offline))
        return events + self._offer_next(), lines

    # ------------------------------------------------------------ sending

    @property
    def has_chunks_to_send(self) -> bool:
        return any(not sending.handed_all for sending in self.sending.values())

    def next_chunks(self, room_bytes: int) -> tuple[list[ev.Event], list[Line]]:
        """Chunks for about ``room_bytes`` of output space, taking turns between uploads:
        ``chunk-bytes`` (or base64 ``chunk``) events for the client loop to send through its
        protocol connection, an ``upload-done`` with the SHA-256 after a file's last chunk, and
        a ``cancel`` for a file that could not be read."""
        events: list[ev.Event] = []
        lines: list[Line] = []
        while room_bytes > 0 and (going := [s for s in self.sending.values() if not s.handed_all]):
            sending = going[0]
            file_id = sending.file_id or ""
            try:
                piece = sending.next_piece()
            except _Unreadable as exc:
                self._stop_sending(sending)
                events.append(ev.CancelFile(id=file_id))
                lines.append(_named(self.wall(), "sending ", sending.name, f" stopped: {exc}", sending.hidden, "error"))
                events.extend(self._offer_next())  # (after the cancel that frees its place)
                continue
            if piece is not None:
                events.append(piece[0])
                room_bytes -= piece[1]
                self.acks.handed(file_id, piece[1], sending.sent)  # counted as taken once acknowledged (taken_up)
            assert sending.progress is not None
            # take turns: move this upload to the back
            del self.sending[file_id]
            self.sending[file_id] = sending
            if sending.sent >= sending.size:  # all written: sent once the server's end has taken it (taken_up)
                sending.handed_all = True
                with contextlib.suppress(OSError):
                    sending.handle.close()
                events.append(ev.UploadDone(id=file_id, sha256=sending.hasher.hexdigest()))
        return events, lines

    def _stop_sending(self, sending: _Sending) -> None:
        with contextlib.suppress(OSError):
            sending.handle.close()
        if sending.file_id is not None:
            self.sending.pop(sending.file_id, None)
            self.progress.pop(f"send:{sending.file_id}", None)
            self.acks.forget(sending.file_id)
        self.waiting.pop(sending.ref, None)
        self.queued = [queued for queued in self.queued if queued is not sending]

    # ------------------------------------------------------------ events

    def on_event(self, event: object) -> tuple[list[ev.Event], list[Line]]:
        if isinstance(event, ev.UploadReady):
            sending = self.waiting.pop(event.ref, None)
            if sending is None:
                return [ev.CancelFile(id=event.id)], []
            sending.file_id = event.id
            sending.binary = event.binary
            sending.progress = Progress(direction="send", label=sending.name, total=sending.size, started=self.clock(), private=HIDDEN_LABEL if sending.hidden else None, file_id=event.id, clock=self.clock)
            if sending.hidden:  # (a line about it before the server offers it: cut_off, a file-error)
                self.private_offers[event.id] = sending.name
            self.progress[f"send:{event.id}"] = sending.progress
            self.sending[event.id] = sending
            if self.status_line:
                return [], []  # the status line shows it from now on
            return [], [_named(self.wall(), "sending ", sending.name, f" ({human_size(sending.size)}) as #{event.id}...", sending.hidden)]
        if isinstance(event, ev.FileStart):
            return _started(self, event)
        if isinstance(event, (ev.FileData, ev.FileBytes)):
            return self._data(event.id, event.data)
        if isinstance(event, ev.Offered):
            remember_privacy(self.private_offers, event)
            sending = self.sending.get(event.id)
            sent = all_taken(self, sending) if sending is not None and sending.handed_all else []  # (taken before we looked)
            if (name := self.checking.pop(event.id, None)) is not None:
                self.on_offer[event.id] = name
            _know(self, event.id, event.sha256, event.size, event.name)
            asked, said = _resume_offered(self, event)
            return self._offer_next() + asked, sent + said
        if isinstance(event, ev.FileError):
            return _failed(self, event)
        return [], []

    def _data(self, file_id: str, piece: str | bytes) -> tuple[list[ev.Event], list[Line]]:
        """One piece of a download: base64 text from ``file-data``, raw bytes from a binary frame."""
        receiving = self.receiving.get(file_id)
        if receiving is None:
            return _orphan(self, file_id)
        try:
            receiving.write(piece if isinstance(piece, bytes) else decode_chunk(piece))
        except (ChunkError, OSError) as exc:
            return _not_written(self, receiving, exc)
        said = receiving.progress.advance(receiving.received, self.clock())
        lines = [_said(self.wall(), receiving.progress, said, receiving.hidden)] if said and not self.status_line else []
        if receiving.received == receiving.size and not receiving.behind:  # (else hash_kept completes it)
            return _completed(self, receiving, lines)
        return [], lines

    def _forget(self, receiving: _Receiving) -> None:
        self.receiving.pop(receiving.file_id, None)
        self.progress.pop(f"get:{receiving.file_id}", None)
        _unask(self, receiving.file_id)

    def _discard(self, receiving: _Receiving) -> None:
        self._forget(receiving)
        receiving.discard()

    def _stop(self, receiving: _Receiving) -> int:
        """Stop a download short, keeping its partial file if it has one (``_Receiving.stop``)."""
        self._forget(receiving)
        return receiving.stop()

    def close(self) -> None:
        """The chat is over: stop everything; a download cut short keeps only its partial file (for
        a resume: RESUMABLE_MIN_BYTES), nothing else."""
        for receiving in list(self.receiving.values()):
            self._stop(receiving)
        for sending in [*self.queued, *self.waiting.values(), *self.sending.values()]:
            self._stop_sending(sending)
        for kept in (self.wanted, self.on_offer, self.checking, self.moved):
            kept.clear()


def uploads_in_flight(transfers: ClientTransfers) -> bool:
    """Is an upload all written and not all taken by the server's end yet? (The loop then looks
    again soon: an acknowledgement wakes nobody.)"""
    return any(sending.handed_all for sending in transfers.sending.values())


def hashing(transfers: ClientTransfers) -> bool:
    """Is a resumed download's kept part still to be read into its SHA-256 (``hash_kept``)? The
    client loop then does not wait for the network or the keys before its next pass."""
    return any(receiving.behind for receiving in transfers.receiving.values())


def hash_kept(transfers: ClientTransfers, seconds: float = HASH_SLICE_SECONDS) -> tuple[list[ev.Event], list[Line]]:
    """Read the next slice of each resumed download's kept part into its SHA-256, about ``seconds``
    each (the client loop calls this once a pass while ``hashing``), and complete one all of whose
    bytes came meanwhile. A kept part that cannot be read stops its download as a full disk does
    (_not_written): the server is told, what is there stays."""
    events: list[ev.Event] = []
    lines: list[Line] = []
    for receiving in [receiving for receiving in transfers.receiving.values() if receiving.behind]:
        try:
            caught_up = receiving.catch_up(seconds, transfers.clock)
            receiving.progress.now = transfers.clock()  # (reading its kept part is not a stall: files.Progress.text)
        except OSError as exc:
            more, said = _not_written(transfers, receiving, exc)
        else:
            if not caught_up or receiving.received < receiving.size:
                continue
            more, said = _completed(transfers, receiving, [])
        events += more
        lines += said
    return events, lines


def _know(transfers: ClientTransfers, file_id: str, sha256: str, size: int, name: str) -> None:
    transfers.known.pop(file_id, None)
    transfers.known[file_id] = (sha256.lower(), size, name)  # the newest last
    if len(transfers.known) > OFFERS_REMEMBERED:  # a server flooding offers
        del transfers.known[next(iter(transfers.known))]


def _unask(transfers: ClientTransfers, file_id: str) -> None:
    """``file_id``'s download is over (or never to be): nothing more is asked of it."""
    transfers.wanted.discard(file_id)
    transfers.reasked.discard(file_id)
    transfers.asked_from.pop(file_id, None)


def _drain(transfers: ClientTransfers, file_id: str) -> None:
    """A cancel for ``file_id`` goes out: its pieces still on their way are no news (``_orphan``)."""
    transfers.draining[file_id] = None
    if len(transfers.draining) > OFFERS_REMEMBERED:
        del transfers.draining[next(iter(transfers.draining))]


def _refuse(transfers: ClientTransfers, file_id: str, name: str, why: str, hidden: str | None) -> tuple[list[ev.Event], list[Line]]:
    """A download that cannot be saved here: the server is told to stop it, the user why; a /get
    may ask for it again."""
    _drain(transfers, file_id)
    _unask(transfers, file_id)  # (one asked again still wanted it)
    return [_cancel_get(transfers, file_id)], [_named(transfers.wall(), "cannot save ", name, f": {why}", hidden, "error")]


def _resume_offered(transfers: ClientTransfers, offered: ev.Offered) -> tuple[list[ev.Event], list[Line]]:
    """A download a lost connection cut short is offered again (the rejoin's offers): ask for
    it from where its partial file ends, as a /get would; not if the id is another file now. The
    same file (its SHA-256 and name, its partial file's) offered under another id (its sender
    back, or the server restarted, and it sent again) is that download too."""
    sha256 = transfers.resume_on_offer.pop(offered.id, None)
    old = None if sha256 is not None else _same_file_cut_short(transfers, offered)
    moved = old is not None
    if old is not None:
        sha256 = transfers.resume_on_offer.pop(old)
        transfers.moved.add(old)  # (the rejoin's word that #old went is no news: _failed)
    if sha256 is None or offered.id in transfers.wanted or offered.id in transfers.receiving:
        return [], []
    name, hidden = safe_name(offered.name), HIDDEN_FILE if offered.id in transfers.private_offers else None
    if sha256 != offered.sha256.lower():  # a server that restarted without history counts ids from 1 again
        return [], [_named(transfers.wall(), "the download of ", name, f" does not go on: #{offered.id} is another file now", hidden, "error")]
    transfers.wanted.add(offered.id)
    get = transfers._ask(offered.id)
    again = (f" again as #{offered.id}" if moved else " again") + (", from where it stopped" if get.offset else "")
    return [get], [_named(transfers.wall(), "asking for ", name, again, hidden)]


def _same_file_cut_short(transfers: ClientTransfers, offered: ev.Offered) -> str | None:
    """The id of a download cut short (resume_on_offer) that ``offered`` is under another id: the
    same SHA-256 and name. (The same bytes offered under another name, by someone else say, are
    not it: its partial file goes by its name, and no file of that name was asked for.)"""
    sha256 = offered.sha256.lower()
    for old, same in transfers.resume_on_offer.items():
        if same == sha256 and (known := transfers.known.get(old)) is not None and known[2] == offered.name:
            return old
    return None


def _started(transfers: ClientTransfers, start: ev.FileStart) -> tuple[list[ev.Event], list[Line]]:
    """A download we asked for begins, from its ``offset`` when the server resumes it: into its
    partial file (a large one: partial_path), the bytes kept read into the checksum, or into a
    file with no name (_receiving_file). One we did not ask for is cancelled."""
    if _stale(transfers, start.id, start.req):  # a get's we cancelled (before our last), so said then
        _drain(transfers, start.id)  # its pieces follow it: ours begin with our file-start
        return [], []
    if not _asked_for(transfers, start):
        return [ev.CancelFile(id=start.id, req=start.req)], []
    name = safe_name(start.name)
    hidden = HIDDEN_FILE if start.id in transfers.private_offers else None
    offset = start.offset or 0
    if (problem := _size_problem(start.size, transfers.downloads, offset)) is not None:
        return _refuse(transfers, start.id, name, problem, hidden)
    if is_sha256(start.sha256.lower()):
        _know(transfers, start.id, start.sha256, start.size, start.name)
    identity: tuple[int, int] | None = None
    try:
        found = _opened_partial(transfers.downloads, start) if start.size >= RESUMABLE_MIN_BYTES else None
        opened = found if isinstance(found, tuple) else None
        if opened is None:
            handle, temp = _receiving_file(transfers.downloads)
            held = 0
        else:
            handle, temp, held, identity = opened
    except OSError as exc:
        return _refuse(transfers, start.id, name, oserror_words(exc), hidden)
    if opened is None and offset:  # (a small file, or its part held by another lanchat fetching it too)
        with contextlib.suppress(OSError):
            handle.close()
            if temp is not None:
                temp.unlink()
        if start.size >= RESUMABLE_MIN_BYTES and offset == transfers.asked_from.get(start.id):  # (taken since the get)
            return _ask_again(transfers, start.id, name, " kept here is in use by another lanchat now; asking for it from the start", hidden)
        return _refuse(transfers, start.id, name, f"the server goes on from byte {offset}, and no part of it is kept here to go on from", hidden)
    hasher = hashlib.sha256()  # (a resume's kept part is read into it later, a slice a pass: hash_kept)
    lines = _no_locks(transfers) if found == NO_LOCKS else []
    if opened is not None:
        if (not_now := _into_partial(transfers, start, opened, hidden)) is not None:
            return not_now
        if held and not offset:
            lines.append(_named(transfers.wall(), "", name, f": the server sends it from the beginning (it does not resume downloads); the {human_size(held)} kept here are replaced", hidden))
    progress = Progress(direction="get", label=name, total=start.size, started=transfers.clock(), private=HIDDEN_LABEL if hidden else None, file_id=start.id, done=offset, resumed_from=offset, clock=transfers.clock)
    receiving = _Receiving(start.id, name, start.size, start.sha256.lower(), temp, handle, hasher, progress, received=offset, hidden=hidden, partial=opened is not None, resumed_from=offset, identity=identity)
    transfers.receiving[start.id] = receiving
    transfers.progress[f"get:{start.id}"] = progress
    progress.advance(offset, transfers.clock())  # (its quarters kept from before are not said again)
    into = f" ({human_size(start.size)}) into the folder {transfers.downloads}"  # (dots after it read as a name cut short)
    if offset:
        into = f" ({human_size(start.size)}) from {progress.percent}% ({human_size(offset)} were kept) into the folder {transfers.downloads}"
    if offset or not transfers.status_line:
        lines.append(_named(transfers.wall(), "resuming " if offset else "receiving ", name, into, hidden))
    # all of it kept (a client killed before its check): complete once the kept part is read (hash_kept)
    return _completed(transfers, receiving, lines) if offset == start.size and not receiving.behind else ([], lines)


def _no_locks(transfers: ClientTransfers) -> list[Line]:
    """Once a run: the downloads folder takes no file locks (_opened_partial), so no download is
    kept to go on from when it stops short, which the user of a large one would count on."""
    if transfers.said_no_locks:
        return []
    transfers.said_no_locks = True
    try:
        import fcntl  # noqa: F401  (a system without it, Windows: no folder would do better)
    except ImportError:
        why, better = "this system has no file locks lanchat can use", ""
    else:
        why, better = "its file system takes no file locks (a network or FUSE one?)", " (--downloads DIR on a local disk keeps what came)"
    return [transfers._line(f"downloads into {transfers.downloads} cannot be resumed: {why}, so one cut short starts again from the beginning{better}")]


def _into_partial(
    transfers: ClientTransfers, start: ev.FileStart, opened: tuple[BinaryIO, Path, int, tuple[int, int]], hidden: str | None
) -> tuple[list[ev.Event], list[Line]] | None:
    """Make the partial file ``opened`` (_opened_partial) ready for the download ``start`` begins:
    cut to its ``offset``, to be written after it (_cut_to; its bytes are read into the SHA-256
    between the loop's passes: hash_kept). None: it goes ahead; else what to
    send and say instead: an offset no get of ours asked for is refused (PROTOCOL.md: a server never
    starts anywhere else), and one past what the partial holds now (it went or shrank meanwhile)
    asked for again from what is there. A partial made for it and left empty is removed."""
    handle, path, held, identity = opened
    offset, name = start.offset or 0, safe_name(start.name)

    def let_go() -> None:
        with contextlib.suppress(OSError):
            if not held and _names(path, identity):  # (unlinked while still locked: no one else took it)
                path.unlink()
            handle.close()

    if offset and offset != transfers.asked_from.get(start.id):
        let_go()
        if start.id in transfers.reasked:  # a late file-start of a get asked before the last (a /cancel came between): the next is ours
            _drain(transfers, start.id)
            return [], []
        return _refuse(transfers, start.id, name, f"the server goes on from byte {offset}, which it was not asked to", hidden)
    if offset > held:  # less of it here than the server goes on from: it changed meanwhile
        let_go()
        return _ask_again(transfers, start.id, name, " kept here is shorter than when it was asked for; asking again", hidden)
    try:
        _cut_to(handle, offset)
    except OSError as exc:
        let_go()
        return _refuse(transfers, start.id, name, oserror_words(exc), hidden)
    return None


def _ask_again(transfers: ClientTransfers, file_id: str, name: str, why: str, hidden: str | None) -> tuple[list[ev.Event], list[Line]]:
    """The part a get went on from changed before its file-start came: that download is cancelled
    and the file asked for again, from what there is now (_ask)."""
    transfers.wanted.add(file_id)
    _drain(transfers, file_id)
    said = _named(transfers.wall(), "the part of ", name, why, hidden, "error")
    return [_cancel_get(transfers, file_id), transfers._ask(file_id)], [said]


def _asked_for(transfers: ClientTransfers, start: ev.FileStart) -> bool:
    """Is ``start`` the file-start of a download we asked for? One asked for again (_orphan, or a
    /get just after a /cancel) may have a first, already under way: that was the first asking's,
    a false start, dropped now."""
    transfers.draining.pop(start.id, None)  # what was on its way of a download cancelled came before this
    if start.id not in transfers.wanted:
        return False
    if (first := transfers.receiving.get(start.id)) is not None:
        first.stop()  # (what it wrote past where we asked again from is cut off as this one starts)
        asked = transfers.asked_from.get(start.id, 0)
        transfers._forget(first)
        transfers.asked_from[start.id] = asked  # (this one's, the last get's)
    elif start.req is not None or start.id not in transfers.reasked:  # (an echoed req says it is the last get's)
        transfers.wanted.discard(start.id)
        transfers.reasked.discard(start.id)
    # else asked again: the first asking's file-start may come late, after its pieces, and
    # then the next is ours; both stay (wanted, reasked) until the download ends (_forget)
    return True


def _failed(transfers: ClientTransfers, error: ev.FileError) -> tuple[list[ev.Event], list[Line]]:
    """A ``file-error``: the transfer it is about stops (one answering a get before our last, or a
    rejoin's word that a download we had cancelled went: no news)."""
    if _stale(transfers, error.id, error.req):
        return [], []
    if error.ref is None and error.req is None and error.id in transfers.moved:  # "asking for it again as #12" said it
        transfers.moved.discard(error.id)
        return [], []
    if error.id in transfers.resume_on_offer and error.ref is None and error.req is None:
        return [], [_went_while_away(transfers, error.id, _said_by_server(transfers, error))]
    if error.ref is None and error.req is None and error.id in transfers.draining and error.id not in transfers.wanted:
        # a rejoin's word that a download we had stopped went meanwhile: the lost connection never
        # carried our cancel (typed as the link died, or offline), so the server still counted it ours
        del transfers.draining[error.id]
        return [], []
    said = _said_by_server(transfers, error)  # (before the transfer it is about is dropped)
    if error.ref is not None and error.ref in transfers.waiting:
        transfers._stop_sending(transfers.waiting[error.ref])
    if error.id in transfers.wanted:  # the answer to a /get: not about an upload of ours under that id
        transfers.wanted.discard(error.id)
    elif error.id is not None:
        if error.id in transfers.sending:
            transfers._stop_sending(transfers.sending[error.id])
        transfers.checking.pop(error.id, None)
        receiving = transfers.receiving.get(error.id)
        if receiving is not None:
            transfers._discard(receiving)
    return transfers._offer_next(), [said]


def _went_while_away(transfers: ClientTransfers, file_id: str, said: Line) -> Line:
    """A rejoin's word (server_files: _gone_meanwhile) that a download the lost connection cut
    short, promised again "if still on offer" (cut_off), is not: ``said``, the server's sentence
    ("slides.pdf (#7) went when ann left: ..."), with what of it is kept here, for its next offer."""
    del transfers.resume_on_offer[file_id]
    known = transfers.known.get(file_id)
    kept = _held(transfers.downloads, known[2], known[0], known[1]) if known is not None else 0
    if not kept:
        return said
    after = f"; kept {human_size(kept)} of it: a /get of it goes on from there if it is offered again"
    return replace(said, text=said.text + after, private=said.private and said.private + after)


def not_back_on_offer(transfers: ClientTransfers) -> list[Line]:
    """The rejoin's replay and offers have settled (client.Reconnect.tick): each download promised
    to go on "once back, if still on offer" (cut_off) whose offer did not come back is not on offer
    now. A room that restarted, or no longer knew the session, says nothing of it (no
    _went_while_away), and the promise stood unsaid: said once for each, with what of it is kept and
    how to go on, and dropped (a later offer of the same file waits for a /get)."""
    lines = []
    for file_id in list(transfers.resume_on_offer):
        del transfers.resume_on_offer[file_id]
        known = transfers.known.get(file_id)
        if known is None:  # (cut_off promises again only offers it saw)
            lines.append(transfers._line(f"the download of #{file_id} does not go on: it is not on offer now; /get it when it is offered again"))
            continue
        sha256, size, name = known
        kept = _held(transfers.downloads, name, sha256, size)
        after = f"kept {human_size(kept)} of it: a /get of it goes on from there" if kept else "/get it"
        hidden = HIDDEN_FILE if file_id in transfers.private_offers else None
        lines.append(_named(transfers.wall(), "the download of ", safe_name(name), f" (#{file_id}) does not go on: it is not on offer now; {after} when it is offered again (/files)", hidden))
    return lines


def offers_came(transfers: ClientTransfers) -> list[Line]:
    """A pong came, or a slow-down refusing a ping (the flood limit: it answers the ping as its
    pong would, in the same place): if it answers the ping a rejoin's welcome sent
    (client.welcomed), every offer of the rejoin came before it (PROTOCOL.md, Liveness: in order
    with the answers to the frames before it), however slow the link, and what was not offered
    again is said (not_back_on_offer). Any other answer: nothing."""
    if not transfers.offers_awaited:
        return []
    transfers.offers_awaited = False
    return not_back_on_offer(transfers)


def _numbered(transfers: ClientTransfers, file_id: str) -> int:
    """A new request id for a get of ``file_id`` (PROTOCOL.md, Request ids), kept as its last get's:
    counted up from 1 in each run, the newest ``OFFERS_REMEMBERED`` ids kept."""
    req = next(transfers.reqs)
    transfers.asked_req.pop(file_id, None)
    transfers.asked_req[file_id] = req  # the newest last
    if len(transfers.asked_req) > OFFERS_REMEMBERED:
        del transfers.asked_req[next(iter(transfers.asked_req))]
    return req


def _cancel_get(transfers: ClientTransfers, file_id: str) -> ev.CancelFile:
    """The ``cancel`` of our last get of ``file_id``, with its req: a server that knows request ids
    never takes it for a later get's (PROTOCOL.md, Request ids)."""
    return ev.CancelFile(id=file_id, req=transfers.asked_req.get(file_id))


def _stale(transfers: ClientTransfers, file_id: str | None, req: int | None) -> bool:
    """Does a file-start or file-error that echoes ``req`` answer a get of ``file_id`` asked
    before our last one (a /cancel, then a /get, typed within a round trip)? Then it is no news:
    that download was cancelled, and the last get's answer is still to come. A server that echoes
    no req leaves it to the order of things (_asked_for, _orphan)."""
    if req is None or file_id is None:
        return False
    last = transfers.asked_req.get(file_id)
    return last is not None and req != last


def _not_written(transfers: ClientTransfers, receiving: _Receiving, exc: ChunkError | OSError) -> tuple[list[ev.Event], list[Line]]:
    """A piece could not be written (a full disk) or is more than the file (a server's mistake):
    the download stops, the server told. What came of it is kept on a full disk (a /get once there is
    room goes on from there), never after too many bytes."""
    kept = transfers._stop(receiving) if isinstance(exc, OSError) else 0
    if not kept:
        transfers._discard(receiving)
    _drain(transfers, receiving.file_id)
    reason = oserror_words(exc) if isinstance(exc, OSError) else str(exc)
    after = f"; kept {human_size(kept)} of it: /get {receiving.file_id} goes on from there" if kept else ""
    stopped = _named(transfers.wall(), "download of ", receiving.name, f" stopped: {reason}{after}", receiving.hidden, "error")
    return [_cancel_get(transfers, receiving.file_id)], [stopped]


def _orphan(transfers: ClientTransfers, file_id: str) -> tuple[list[ev.Event], list[Line]]:
    """A piece of a download not under way. Of one we cancelled (draining), or never asked for:
    ignored. Of one asked for whose file-start has not come: the server began it without
    our seeing its start (a server that sent the pieces first, issue of lesson_bench), and
    waiting would wait for ever, the download short by what was dropped; so it is said once
    and asked for again (a cancel, then a get), the first asking's file-start, should it come
    after all, taken as a false start (_started)."""
    if file_id not in transfers.wanted or file_id in transfers.draining or file_id in transfers.reasked:
        return [], []
    transfers.reasked.add(file_id)
    known = transfers.known.get(file_id)
    name, hidden = (safe_name(known[2]), HIDDEN_FILE if file_id in transfers.private_offers else None) if known else (f"#{file_id}", None)
    said = _named(transfers.wall(), "pieces of ", name, " came before the server said it was starting it; asking for it again", hidden, "error")
    return [_cancel_get(transfers, file_id), transfers._ask(file_id)], [said]


def _completed(transfers: ClientTransfers, receiving: _Receiving, lines: list[Line]) -> tuple[list[ev.Event], list[Line]]:
    try:
        final = receiving.finish(transfers.downloads)
    except _Damaged:
        transfers._discard(receiving)
        if receiving.resumed_from:  # the part kept was not of this file after all: once more, whole
            transfers.wanted.add(receiving.file_id)
            after = f" did not match its SHA-256 after resuming at {human_size(receiving.resumed_from)}; fetching it again from the beginning"
            return [transfers._ask(receiving.file_id)], [*lines, _named(transfers.wall(), "", receiving.name, after, receiving.hidden, "error")]
        damaged = _named(transfers.wall(), "", receiving.name, " arrived damaged (SHA-256 mismatch) and was discarded", receiving.hidden, "error")
        return [], [*lines, damaged]
    except OSError as exc:
        transfers._discard(receiving)
        return [], [*lines, _cannot_save(transfers.wall(), receiving, exc, transfers.downloads)]
    transfers._forget(receiving)
    seconds = transfers.clock() - receiving.progress.started
    got = receiving.size - receiving.resumed_from  # (a resumed one's time is its rest's: "8.0 MiB in 11 ms" misled)
    resumed = f", resumed at {human_size(receiving.resumed_from)}: {human_size(got)}" if receiving.resumed_from else ""
    how = f" ({human_size(receiving.size)}{resumed} in {duration_text(seconds)}{speed_clause(got, seconds)}; SHA-256 checked)"
    if receiving.resumed_from and not got:  # all of it was kept (a client killed before its check)
        how = f" ({human_size(receiving.size)}, all of it kept from before; SHA-256 checked)"
    hidden = receiving.hidden and f"{receiving.hidden} in {path_as_typed(str(final.parent))}"
    lines.append(_named(transfers.wall(), "saved ", path_as_typed(str(final)), how, hidden))  # quoted if it must be: whole
    transfers.saved.pop(receiving.file_id, None)
    transfers.saved[receiving.file_id] = (final, receiving.sha256)  # the newest last: a client open all day keeps
    if len(transfers.saved) > OFFERS_REMEMBERED:  # as many as the offers it knows (known), which an answer needs too
        del transfers.saved[next(iter(transfers.saved))]
    return [], lines


def _said_by_server(transfers: ClientTransfers, error: ev.FileError) -> Line:
    """The server's words on a transfer of ours ("upload of NAME failed", "NAME arrived
    damaged"); about a file offered to one person, with a form that hides every name the file
    goes by here (``Line.private``), as the lines we make about it do (_named)."""
    file_id = error.id or ""
    sending = transfers.waiting.get(error.ref) if error.ref is not None else transfers.sending.get(file_id)
    receiving = transfers.receiving.get(file_id)
    ours = [transfer for transfer in (sending, receiving) if transfer is not None]
    if not (any(transfer.hidden for transfer in ours) or file_id in transfers.private_offers):
        return Line(kind="error", time=transfers.wall(), text=error.message)
    names = [transfers.private_offers.get(file_id), transfers.checking.get(file_id), transfers.on_offer.get(file_id)]
    private = hide_names(error.message, names + [transfer.name for transfer in ours])
    return Line(kind="error", time=transfers.wall(), text=error.message, private=private)


def _going_up(transfers: ClientTransfers, file_id: str) -> Line | None:
    """Why a /get of ``file_id`` is not asked: it is a file of ours still being sent, or checked,
    not on offer yet; None for any other."""
    sending = transfers.sending.get(file_id)
    name = sending.name if sending is not None else transfers.checking.get(file_id)
    if name is None:
        return None
    doing = "which you are still sending" if sending is not None else "which the server is still checking"
    hidden = HIDDEN_FILE if file_id in transfers.private_offers else None
    return _named(transfers.wall(), f"#{file_id} is ", name, f", {doing}: /get {file_id} once it is on offer", hidden, "error")


def saved_where(transfers: ClientTransfers, file_id: str) -> Path | None:
    """Where this client saved the file offered as ``file_id``, if it is still there (whole, the
    offer's size): /get's answer (_saved_already) and /files' line (Session.saved_files). None
    when it was moved, deleted or changed (then it is fetched again), or when the id is now
    another file's (a restarted server numbers its offers anew)."""
    saved = transfers.saved.get(file_id)
    known = transfers.known.get(file_id)
    if saved is None or known is None or known[0] != saved[1].lower():
        return None
    path, _sha256 = saved
    try:
        there = path.is_file() and path.stat().st_size == known[1]
    except OSError:
        there = False
    if not there:
        del transfers.saved[file_id]
        return None
    return path


def _saved_already(transfers: ClientTransfers, file_id: str) -> Line | None:
    """Where the file a /get asks for again was saved, if it is still there (saved_where): a
    student typing /get 1 once more to find where the worksheet went got a second copy
    ('worksheet (1).pdf') and no word that the first was there."""
    path = saved_where(transfers, file_id)
    if path is None:
        return None
    hidden = HIDDEN_FILE if file_id in transfers.private_offers else None
    return _named(transfers.wall(), f"#{file_id} is saved already: ", path_as_typed(str(path)), " (moved or deleted, /get fetches it again)", hidden and f"{hidden} in {path_as_typed(str(path.parent))}")


def all_taken(transfers: ClientTransfers, sending: _Sending) -> list[Line]:
    """An upload all written has all reached the server's end (taken_up), or its offer came
    first: the server is checking it, or has; --plain's line saying it was sent, how fast."""
    assert sending.progress is not None and sending.file_id is not None
    sending.progress.advance(sending.size, transfers.clock())
    transfers._stop_sending(sending)
    transfers.checking[sending.file_id] = sending.name
    if transfers.status_line:  # (the screen: the offer's line says it is done)
        return []
    speed = speed_clause(sending.size, sending.progress.seconds)
    return [_named(transfers.wall(), "sent ", sending.name, f" ({human_size(sending.size)}{speed}); the server is checking it", sending.hidden)]


def taken_up(transfers: ClientTransfers, backlog: int) -> list[Line]:
    """Each pass while uploading (client.py): each upload's progress by what the server's end has
    taken, ``backlog`` being the bytes written and not acknowledged yet (upload_acks.py); a stalled
    link shows as stalled, never as a piece more going into the kernel's buffer. --plain's notices."""
    lines: list[Line] = []
    for file_id, done in transfers.acks.taken(backlog).items():
        sending = transfers.sending.get(file_id)
        if sending is None or sending.progress is None or done <= sending.progress.done:
            continue
        if sending.handed_all and done >= sending.size:
            lines += all_taken(transfers, sending)
            continue
        said = sending.progress.advance(done, transfers.clock())
        if said and not transfers.status_line:
            lines.append(_said(transfers.wall(), sending.progress, said, sending.hidden))
    return lines


def stalled(transfers: ClientTransfers, seconds: float) -> bool:
    """Has a download under way received no byte (nor read a slice of its kept part: hash_kept) for
    ``seconds``? (A link that died under it: the client then asks its connection whether it
    lives, client.watch_address.) Not an upload: its
    bytes wait in the kernel when a live server reads slowly, and the quick check's 5 s limit on
    unacknowledged data would end such a connection; a dead link under one ends at TCP's minute."""
    now = transfers.clock()
    return any(  # (the dict is the session's: the full screen's status line keeps other parts in it too)
        isinstance(progress, Progress) and progress.direction == "get" and progress.quiet_for(now) >= seconds
        for progress in transfers.progress.values()
    )


def unsent(transfers: ClientTransfers) -> list[tuple[str, bool, str]]:
    """Our /send files not on offer and not on their way now, [(name, offered to one person,
    "checking" or "waiting")]: those all sent that the server is still checking (it drops them with
    our connection), then those offered and not accepted yet, then those waiting their turn
    (_offer_next); /q stops them too (Session.unsent_files, shared by ClientTransfers.share_with)."""
    checking = [(name, file_id in transfers.private_offers, "checking") for file_id, name in transfers.checking.items()]
    return checking + [(s.name, s.hidden is not None, "waiting") for s in [*transfers.waiting.values(), *transfers.queued]]


def cut_off(transfers: ClientTransfers, why: str = "connection lost", *, for_good: bool = False) -> list[Line]:
    """The connection dropped or the server stopped (``why``: "the server shut down"), and
    client.py retries; or the chat ended (``for_good``, ``why``: "the chat ended"): every
    transfer stops, as on ``close``, with one line for each, since none of them goes on after a
    rejoin; an ended chat has no rejoin to /send again after."""
    hidden = {file_id: HIDDEN_FILE for file_id in transfers.private_offers}  # ours, offered to one person
    transfers.offers_awaited = False  # (the pong of a rejoin before this one never comes)
    again = "" if for_good else "; /send it again when back"
    # each line as (before the name, the name, after it, what projector mode shows for the name)
    said = [_stopped_receiving(transfers, receiving, for_good) for receiving in list(transfers.receiving.values())]
    said += [("stopped sending ", s.name, again, s.hidden) for s in [*transfers.waiting.values(), *transfers.sending.values(), *transfers.queued]]
    said += [_not_started(transfers, wanted, for_good) for wanted in sorted(transfers.wanted)]
    said += [
        ("your file ", name, f" (#{file_id}) is no longer on offer{again}", hidden.get(file_id))
        for file_id, name in transfers.on_offer.items()
        if again  # the chat's end says that of every offer
    ]
    said += [  # all sent, not yet offered: the server drops a sender's files with their connection
        ("your file ", name, f" (#{file_id}) is not on offer (the connection dropped before the server confirmed it){again}", hidden.get(file_id))
        for file_id, name in transfers.checking.items()
    ]
    transfers.close()
    return [
        _named(transfers.wall(), f"{why}: {before}", name, after, private, "error")
        for before, name, after, private in said
    ]


def _not_started(transfers: ClientTransfers, file_id: str, for_good: bool) -> tuple[str, str, str, str | None]:
    """cut_off's line on a /get whose download had not begun: unless the chat ended, one whose
    offer we saw is asked for again once the rejoin offers it again (_resume_offered)."""
    known = transfers.known.get(file_id)
    if for_good or known is None:
        return (f"the download of #{file_id} did not start", "", "", None)
    _resume_later(transfers, file_id, known[0])
    return (f"the download of #{file_id} did not start; it is asked for again once back, if still on offer", "", "", None)


def _nothing_to_cancel(file_id: str, offline: bool) -> str:
    what = f"{file_id if _OWN_ID.fullmatch(file_id) else '#' + file_id} is not" if file_id else "no file is"
    if offline:
        return f"not connected: {what} being sent or received, nor asked for again once back"
    return f"{what} being sent or received (/files lists what is on offer)"


def _not_asked_again(transfers: ClientTransfers, file_id: str) -> Line:
    """/cancel of a download a lost connection cut short (cut_off): it is not asked for again once
    back; what of it is kept stays, for a /get."""
    del transfers.resume_on_offer[file_id]
    _drain(transfers, file_id)  # (the rejoin's word that it went is no news then: _failed)
    known = transfers.known.get(file_id)
    if known is None:  # (cut_off only remembers offers it saw)
        return transfers._line(f"the download of #{file_id} is not asked for again")
    sha256, size, name = known
    kept = _held(transfers.downloads, name, sha256, size)
    after = f"; kept {human_size(kept)} of it: /get {file_id} goes on from there" if kept else "; nothing of it was kept"
    hidden = HIDDEN_FILE if file_id in transfers.private_offers else None
    return _named(transfers.wall(), "the download of ", safe_name(name), f" (#{file_id}) is not asked for again{after}", hidden)


def _resume_later(transfers: ClientTransfers, file_id: str, sha256: str) -> None:
    transfers.resume_on_offer[file_id] = sha256
    while len(transfers.resume_on_offer) > OFFERS_REMEMBERED:
        del transfers.resume_on_offer[next(iter(transfers.resume_on_offer))]


def _stopped_receiving(transfers: ClientTransfers, receiving: _Receiving, for_good: bool) -> tuple[str, str, str, str | None]:
    """cut_off's line on a download it stops: what of it is kept, and, unless the chat ended,
    that it is asked for again by itself once the rejoin offers it again (_resume_offered): from
    its partial file, or from the start (a small one, or one whose partial another lanchat held)."""
    at = receiving.progress.percent
    kept = transfers._stop(receiving)
    if not for_good:
        _resume_later(transfers, receiving.file_id, receiving.sha256)
    if not kept:
        again = "" if for_good else "; it is asked for again once back, if still on offer"
        return ("stopped receiving ", receiving.name, "; nothing of it was kept" + again, receiving.hidden)
    if for_good:
        return ("stopped receiving ", receiving.name, f" at {at}%; kept {human_size(kept)} of it: a /get of it goes on from there", receiving.hidden)
    return ("stopped receiving ", receiving.name, f" at {at}%; kept {human_size(kept)} of it: it goes on from there once back, if still on offer", receiving.hidden)


def remember_privacy(private_offers: dict[str, str], offered: ev.Offered) -> None:
    """Is ``offered`` for one person (from us or to us)? Its transfer then has lines and a progress
    without its name, which projector mode shows. A room's file (new under an id after a restart)
    keeps its name."""
    private_offers.pop(offered.id, None)
    if offered.to:
        private_offers[offered.id] = offered.name
        if len(private_offers) > OFFERS_REMEMBERED:  # a server flooding offers
            del private_offers[next(iter(private_offers))]


def hide_names(text: str, names: Iterable[str | None]) -> str:
    """``text`` with each of ``names`` (the longest first) in it as a whole word, not inside
    another, replaced by HIDDEN_FILE: a server's words about a file offered to one person, as
    projector mode shows them (a name that is a common word hides that word too: better than
    showing a name)."""
    for name in sorted({name for name in names if name}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", lambda _: HIDDEN_FILE, text)
    return text


def _named(when: float, before: str, name: str, after: str, hidden: str | None, kind: str = "notice") -> Line:
    """A line that names a transfer's file (``before``, the name, ``after``); for a file offered to
    one person (``hidden``), with the form projector mode shows instead (``Line.private``, ui/projector.py)."""
    return Line(kind=kind, time=when, text=before + name + after, private=None if hidden is None else before + hidden + after)


def _cannot_save(when: float, receiving: _Receiving, exc: OSError, downloads: Path) -> Line:
    """The checked file could not be given its name; a folder removed meanwhile is said as such
    (its ENOENT, "no such file or directory", read as if the server had no such file)."""
    why = oserror_words(exc)
    if isinstance(exc, FileNotFoundError) and not downloads.is_dir():
        why = f"the folder {path_as_typed(str(downloads))} is not there any more; nothing of it was kept"
    return _named(when, "cannot save ", receiving.name, f": {why}", receiving.hidden, "error")


def _said(when: float, progress: Progress, said: str, hidden: str | None) -> Line:
    """A transfer's progress notice (no status line); its private form says it without the name."""
    private = None if hidden is None else replace(progress, label=hidden).notice()
    return Line(kind="notice", time=when, text=said, private=private, code=PROGRESS)


def _size_problem(size: int, downloads: Path, offset: int = 0) -> str | None:
    """Why a download of ``size`` bytes cannot be saved in ``downloads``, or None. The size is
    the server's word (a fake server's may be negative, or 8 EiB after an offer of 10 bytes):
    a file larger than the free space is refused before a byte is written, not after the
    disk is full. ``offset``: where the server goes on from (Resuming a download), also its word."""
    if size < 0:
        return f"the server gave its size as {size} bytes"
    if not 0 <= offset <= size:
        return f"the server started it at byte {offset} of {size}"
    try:
        free = shutil.disk_usage(downloads).free
    except OSError:
        return None  # the write itself will say what is wrong
    if size - offset > free:  # (a resumed one needs room for the rest only)
        return f"it is {human_size(size)} and {downloads} has {human_size(free)} free"
    return None


def _place(receiving: _Receiving, downloads: Path) -> Path:
    """Give the checked file its final name, never replacing a file already there.

    A link fails if the name exists, so even a file created a moment ago is safe. An
    unnamed (O_TMPFILE) file is linked in through /proc/self/fd; a named temp file by its
    name, or where links are not supported, os.replace after a check (a tiny window).
    """
    if receiving.temp is None:
        source = f"/proc/self/fd/{receiving.handle.fileno()}"
        folder = os.open(downloads, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            for _ in range(100):
                name = unique_name(receiving.name, os.listdir(downloads))
                try:
                    # dst_dir_fd makes Python call linkat(), which can follow the /proc link
                    os.link(source, name, dst_dir_fd=folder, follow_symlinks=True)
                except FileExistsError:
                    continue
                return downloads / name
        finally:
            os.close(folder)
        raise OSError(0, "no free name for it")
    for _ in range(100):
        existing = os.listdir(downloads)
        final = downloads / unique_name(receiving.name, existing)
        try:
            os.link(receiving.temp, final)
        except FileExistsError:
            continue
        except OSError:
            if final.exists():
                continue
            os.replace(receiving.temp, final)
            return final
        with contextlib.suppress(OSError):
            receiving.temp.unlink()
        return final
    raise OSError(0, "no free name for it")


def _opened_to_send(path_text: str, to: str | None) -> tuple[Path, BinaryIO, tuple[int, int]] | str:
    """/send's file: its path, open for reading, and its _stamp; or why it cannot be sent. A name
    typed with bytes that are not UTF-8 (``caf\\xe9.txt``, named on a Latin-1 system) holds them as
    lone surrogates (the front ends decode with surrogateescape): os.fsencode gives the file's own.
    One copied as shown elsewhere (``caf\ufffd.txt``) is looked for too (_not_utf8_path)."""
    path = Path(os.path.expanduser(path_text))
    try:
        return (path, *_open_to_send(path))
    except FileNotFoundError:
        if (meant := _not_utf8_path(path)) is not None:
            return _opened_to_send(str(meant), to)
        hint = f' (for a name with a space, use quotes: /send "{path_text} {to}")' if to else ""
        return f"no such file{hint}"
    except IsADirectoryError:
        return "it is a folder; /send takes one file"
    except OSError as exc:
        return oserror_words(exc)
    except ValueError:  # a NUL in it (a script's /send line): no file is so named; it raised out of the loop
        return "a file name cannot hold a NUL byte"


def _name_to_offer(path: Path) -> str:
    """The name /send offers ``path`` under: safe_name's, with a byte that is not UTF-8 shown as
    U+FFFD (``caf\ufffd.txt``, as a terminal shows it), not dropped."""
    return safe_name(os.fsencode(path.name).decode("utf-8", "replace"))


def _not_utf8_path(typed: Path) -> Path | None:
    """The one file ``typed`` can mean when its name has bytes that are not UTF-8 (``caf\\xe9.txt``,
    named on a Latin-1 system) and it was copied as a program shows it, each such byte as
    U+FFFD (typed, the bytes themselves come: _opened_to_send), and no file has that name. Each
    part of the path with a U+FFFD in it is matched against its folder's names read the same
    way; None when none, or more than one, matches."""
    if "\ufffd" not in str(typed):
        return None
    found = Path(typed.anchor or ".")
    for part in typed.parts[1 if typed.anchor else 0 :]:
        if "\ufffd" in part:
            try:
                names = [name for name in os.listdir(os.fsencode(found)) if name.decode("utf-8", "replace") == part]
            except OSError:
                return None
            if len(names) != 1:
                return None
            part = os.fsdecode(names[0])
        found /= part
    return found if os.path.exists(found) else None  # (False on any OSError: Path.exists() raised EACCES)


# A file the system makes as it is read (/proc's: /proc/net/tcp in a sockets lesson) says it holds
# 0 bytes: /send offered the room an empty file, "SHA-256 checked".
_MADE_AS_READ = "it says it is empty, but the system makes it as it is read (as /proc's files are): copy it to a file first and /send that"


def _open_to_send(path: Path) -> tuple[BinaryIO, tuple[int, int]]:
    """The file at ``path`` opened for reading, and its size and modification time (_stamp); IsADirectoryError for anything
    but a regular file (a folder, a device, a pipe)."""
    # O_NONBLOCK: opening a named pipe (or some devices) to read would wait for a writer for
    # ever, freezing the chat; the check below refuses it before any read.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not _is_regular(info.st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file")
        os.set_blocking(fd, True)
        if info.st_size == 0 and os.pread(fd, 1, 0):  # /proc/net/tcp: said empty, made as it is read
            raise OSError(errno.EINVAL, _MADE_AS_READ)
    except OSError:
        os.close(fd)
        raise
    return open(fd, "rb"), (info.st_size, info.st_mtime_ns)  # noqa: SIM115 - read chunk by chunk as the socket drains


def _stamp(handle: BinaryIO) -> tuple[int, int]:
    """A file's size and modification time (ns), from its open descriptor: any write changes one.
    (A file replaced by a rename, as many editors save, is not this one: the descriptor still
    reads the old file, whole and unchanged.) _Unreadable if the disk cannot say, as for a read."""
    try:
        info = os.fstat(handle.fileno())
    except OSError as exc:
        raise _Unreadable(oserror_words(exc)) from exc
    return info.st_size, info.st_mtime_ns


def partial_path(folder: Path, name: str, sha256: str) -> Path:
    """Where a download of the file ``sha256`` offered as ``name`` waits while it is incomplete:
    a hidden file beside where it will be saved, named after it and the start of its SHA-256,
    so a /get of the same file (even under another id, after a crash or a restart) finds it."""
    base = safe_name(name).encode("utf-8")[:200].decode("utf-8", "ignore")
    return folder / f".{base}.{sha256.lower()[:12]}{PARTIAL_SUFFIX}"


def _held(folder: Path, name: str, sha256: str, size: int) -> int:
    """How many bytes of the file ``sha256`` (``size`` bytes) a partial file in ``folder`` holds:
    what a get asks the server to go on from. 0 for none, and for anything that is not a partial of
    ours that fits (a link, a folder, another user's, one longer than the file)."""
    if size < RESUMABLE_MIN_BYTES or not is_sha256(sha256):
        return 0
    try:
        info = os.lstat(partial_path(folder, name, sha256))
    except (OSError, ValueError):
        return 0
    if not _ours(info) or not 0 < info.st_size <= size:
        return 0
    # one another download is writing (the same file offered twice, fetched at once) is not ours to go
    # on with, nor one we cannot write (made read-only): _opened_partial could not open it
    try:
        fd = os.open(partial_path(folder, name, sha256), os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return 0
    try:
        return info.st_size if _lock(fd) else 0
    finally:
        os.close(fd)  # (and its lock with it)


def _opened_partial(folder: Path, start: ev.FileStart) -> tuple[BinaryIO, Path, int, tuple[int, int]] | str | None:
    """The partial file for the download ``start`` begins, open to read and write and locked, with
    the bytes it holds and its (st_dev, st_ino); None where the one of that name is
    not ours to write (a link, a folder, a file with another name too, another user's) or is held
    by another lanchat fetching the same file, and NO_LOCKS where the folder takes no file locks
    (nothing could tell a live download's part from a dead one's, so none is kept: the empty one
    just made is removed): the download then waits unnamed (_receiving_file)."""
    if not is_sha256(start.sha256.lower()):
        return None
    path = partial_path(folder, start.name, start.sha256)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        locked = _ours(info) and _lock(fd)
        if locked is None and not info.st_size:
            with contextlib.suppress(OSError):
                path.unlink()  # (an empty one nobody can lock is no part of anything)
        if not locked:
            os.close(fd)
            return NO_LOCKS if locked is None else None
        os.set_blocking(fd, True)
    except OSError:
        os.close(fd)
        return None
    _remove_stale(folder, _PARTIAL_NAME, STALE_PARTIAL_SECONDS)  # (ours locked first: a week-old one /get goes on with stays)
    return os.fdopen(fd, "wb"), path, info.st_size, (info.st_dev, info.st_ino)  # (no truncation: the fd is open already; read with pread)


def _ours(info: os.stat_result) -> bool:
    """Is the file ``info`` describes one lanchat may write, cut or delete as its own temporary or
    partial file: a plain file of this user's, with no other name (a link a person made to a file
    of theirs, a file another user keeps in a shared folder: never)."""
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and info.st_uid == getattr(os, "getuid", lambda: info.st_uid)()


def _cut_to(handle: BinaryIO, offset: int) -> None:
    """Cut the partial file to ``offset`` bytes (where the server goes on from) and leave it ready
    to write after them."""
    if os.fstat(handle.fileno()).st_size != offset:  # (not a new one: ext4 writes back at close a file truncated to 0, 7 ms in 100 MiB)
        handle.truncate(offset)
    handle.seek(offset)


def _still_ours(receiving: _Receiving) -> None:
    """The partial file's name still names the file we wrote (a person may delete or replace it
    meanwhile: what has that name then is not what was checked): OSError if not."""
    assert receiving.temp is not None and receiving.identity is not None  # (a partial has its name)
    if not _names(receiving.temp, receiving.identity):
        raise OSError(errno.ENOENT, "its partial file was removed or replaced while it came; fetch it again")


def _names(path: Path, identity: tuple[int, int]) -> bool:
    """Does ``path`` still name the file whose (st_dev, st_ino) is ``identity``?"""
    try:
        named = os.lstat(path)
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == identity


def _receiving_file(folder: Path) -> tuple[BinaryIO, Path | None]:
    """A file in ``folder`` for a download on its way, and its temporary name (None: it has none).

    On Linux it is made with O_TMPFILE: it has no name until it is checked and linked in
    (_place), so even a SIGKILL or a power cut leaves nothing behind; the kernel frees it.
    Elsewhere, or on a file system without O_TMPFILE, it gets a hidden ``.lanchat-*.part``
    name, removed on every way out but a kill.
    """
    unnamed = getattr(os, "O_TMPFILE", 0)
    if unnamed and os.path.isdir("/proc/self/fd"):
        try:
            fd = os.open(folder, unnamed | os.O_WRONLY, 0o666)  # the umask applies, as to any new file
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
                raise  # no permission, no space: the same answer a named file would get
        else:
            return os.fdopen(fd, "wb"), None
    _remove_stale(folder, _PART_NAME, STALE_PART_SECONDS)
    fd, temp_name = _new_part_file(folder)
    return os.fdopen(fd, "wb"), temp_name


def _new_part_file(folder: Path) -> tuple[int, Path]:
    """A new hidden ``.lanchat-*.part`` file in ``folder``, never one already there (O_EXCL, which
    no link is followed through either), made as any new file of this user is: the umask applies.
    (tempfile.mkstemp makes it 0600, and the umask to give it after can only be read on Linux.)"""
    for _ in range(100):
        path = folder / f".lanchat-{os.urandom(6).hex()}.part"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        _lock(fd)  # held while it is open: a live download's part is never taken for a stale one
        return fd, path
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file", str(folder))


NO_LOCKS = "no file locks"  # _opened_partial: the folder's file system takes none (_lock)
_PART_NAME = re.compile(r"\.lanchat-[0-9a-f]{12}\.part")
_PARTIAL_NAME = re.compile(r"\..*\.[0-9a-f]{12}" + re.escape(PARTIAL_SUFFIX), re.DOTALL)
# A part file nobody holds that has not grown for this long is a killed client's (one being
# checked and named, its lock let go a moment before, was written a moment ago).
STALE_PART_SECONDS = 60.0


def _lock(fd: int) -> bool | None:
    """Take ``fd``'s file's lock without waiting (flock: the kernel lets go when the holder ends,
    however it ends): True; False if another holds it; None if there are no such locks here (no
    fcntl, or a file system that takes none: some network and FUSE ones say ENOLCK or EOPNOTSUPP)."""
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except (ImportError, OSError):
        return None
    return True


def _remove_stale(folder: Path, pattern: re.Pattern[str], seconds: float) -> None:
    """Remove the files in ``folder`` named as ``pattern`` says that no live lanchat holds, untouched
    for ``seconds``: the ``.lanchat-*.part`` files a client killed mid-download left (no O_TMPFILE
    here: nothing else ever would), after a minute; partial files (partial_path) nobody came back
    for, after a week. Anything else, anything that cannot be read and anything not _ours stays."""
    try:
        names = [name for name in os.listdir(folder) if pattern.fullmatch(name)]
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            fd = os.open(folder / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
            try:
                info = os.fstat(fd)
                if _ours(info) and time.time() - info.st_mtime >= seconds and _lock(fd):
                    os.unlink(folder / name)
            finally:
                os.close(fd)


def _is_regular(mode: int) -> bool:
    return stat.S_ISREG(mode)
