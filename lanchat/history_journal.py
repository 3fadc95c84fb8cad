"""history_journal.py: the history's journal, an append-only file of the newest messages beside the SQLite file.

An I/O edge of history.py (which owns the rules: see its docstring, "Durability"). The server
stores the messages of one loop pass with one ``os.write`` of one line per message to
``history.sqlite3.pending``, instead of one SQLite transaction per pass (70-97 us of CPU when a
message comes alone; bench/README.md, "Round 2, second session"); history.py moves the lines into
SQLite in batches and empties the file.

Format: one JSON array per line, ``[id, time, sender, to, text, sender_owner, recipient_owner]``
(``to`` and the owners null for a room message, the owners base64), in id order. A line is
complete when its newline is in the file: a write cut short (a SIGKILL in the middle of a
``write``, a full disk) leaves at most a last line with no newline, and that message was never
delivered (sockets are written only after the write returned), so it is ignored. Anything else
that does not read as such a line means the file was damaged by something else: the server
refuses to start with one message naming the file, and the database is left as it is.

One writer: the server holds an exclusive ``flock`` on the journal for as long as it runs, so a
second server on the same history file is refused instead of writing rows with the same ids.
Readers (``lanchat history``, a test) take no lock: see history.py for how they read.
The name is not ``-journal``, ``-wal`` or ``-shm``: those are SQLite's own files.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import msgspec

SUFFIX = ".pending"

# id, time, sender, to (None: a room message), text, sender_owner, recipient_owner
Row = tuple[int, float, str, str | None, str, bytes | None, bytes | None]

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Row)
_NOT_WRITABLE = {errno.EACCES, errno.EROFS, errno.EPERM}


class JournalBusy(Exception):
    """Another process (another server) holds the journal's lock."""


class JournalDamaged(Exception):
    """The journal holds something that is not a complete row: not ours to guess."""


def journal_path(database: Path) -> Path:
    """Where the journal of ``database`` lives: beside it, its name plus ``.pending``. A path
    with no name (``/``, ``.``: a folder, refused as one by the caller) gets one too."""
    return database.parent / (database.name + SUFFIX)


def parse(data: bytes, *, strict: bool) -> tuple[list[Row], int]:
    """The rows in ``data`` and the length of its complete lines (a torn last line is ignored).

    ``strict`` (the server at start): a line that is not a row, or ids out of order, raise
    JournalDamaged. Otherwise (a reader racing the server, history.py) such lines are skipped."""
    end = data.rfind(b"\n") + 1
    try:
        rows = _DECODER.decode_lines(data[:end])
    except msgspec.DecodeError:  # ValidationError is one too
        rows = None
    if rows is None or any(a[0] >= b[0] for a, b in zip(rows, rows[1:], strict=False)):
        rows = []
        for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
            try:
                row = _DECODER.decode(line)
            except msgspec.DecodeError as exc:
                if strict:
                    raise JournalDamaged(f"line {number} is not a message ({exc})") from None
                continue
            if rows and row[0] <= rows[-1][0]:
                if strict:
                    raise JournalDamaged(f"line {number} is out of order (id {row[0]} after {rows[-1][0]})")
                continue
            rows.append(row)
    return rows, end


def read_rows(path: Path) -> list[Row]:
    """What a reader finds in the journal at ``path`` now (none if there is no journal)."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return []
    return parse(data, strict=False)[0]


class Journal:
    """The server's end of the journal: opened and locked for as long as the store is open.

    ``rows`` mirrors what the file holds, for the move into SQLite; ``oldest`` is when (on
    ``clock``) the first of them was written, for the move by age."""

    def __init__(self, path: Path, *, clock: Callable[[], float], new: bool = False) -> None:
        """``new``: made here or not at all (FileExistsError), never another's file put at the
        path (history.py's _PutBack: a journal deleted mid-lesson). Never opened through a link."""
        self.path = path
        self.clock = clock
        # O_APPEND: every write goes at the end, whatever a failed one left behind; never through a
        # link (ELOOP): one put there would have the room's messages written where it leads
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
        try:  # made by this open, or there already (``created``: history.py looks at the owner of one that was)
            self.fd, self.created = os.open(path, flags | os.O_EXCL, 0o600), True
        except FileExistsError:
            if new:
                raise
            self.fd, self.created = os.open(path, flags, 0o600), False
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self.fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise JournalBusy(str(path)) from None
            raise
        self.rows: list[Row] = []
        self.oldest: float | None = None
        self.size = 0  # bytes of complete lines in the file
        self._cut = False  # the file may hold more than ``size`` bytes (a failed write): cut first

    @staticmethod
    def not_writable(exc: OSError) -> bool:
        """True if ``exc`` only means the folder or file is read-only (the store is an archive)."""
        return exc.errno in _NOT_WRITABLE

    def read_leftover(self) -> list[Row]:
        """What a server that was killed left here (history.py moves it in first). A torn last
        line is ignored and cut before the next write; damage raises JournalDamaged."""
        with open(self.fd, "rb", closefd=False) as file:
            file.seek(0)
            data = file.read()
        rows, self.size = parse(data, strict=True)
        self._cut = self.size != len(data)
        self.rows = rows
        if rows:
            self.oldest = self.clock()
        return rows

    def append(self, rows: list[Row]) -> None:
        """Write ``rows``, one line each, with one ``os.write``: once it returns they are in the
        kernel, and a SIGKILL of the server loses none of them. OSError: none of them is kept
        (a partial line is cut off again, or before the next write if even that fails)."""
        data = _ENCODER.encode_lines(rows)
        if self._cut:
            os.ftruncate(self.fd, self.size)
            self._cut = False
        try:
            written = os.write(self.fd, data)
            while written < len(data):  # a short write: the rest, or the error that cut it short
                written += os.write(self.fd, memoryview(data)[written:])
        except OSError:
            self._cut = True
            try:
                os.ftruncate(self.fd, self.size)
                self._cut = False
            except OSError:
                pass
            raise
        self.size += len(data)
        if not self.rows:
            self.oldest = self.clock()
        self.rows += rows

    def clear(self) -> None:
        """The rows are in SQLite now: empty the file."""
        os.ftruncate(self.fd, 0)
        self.size = 0
        self._cut = False
        self.rows = []
        self.oldest = None

    def close(self, *, remove_if_empty: bool = False) -> None:
        """Release the lock. ``remove_if_empty``: this store made the file and it holds nothing
        (a database it refused must not get a file beside it)."""
        if remove_if_empty and self.created and not self.rows and self.size == 0 and not self._cut:
            try:
                if os.fstat(self.fd).st_size == 0:
                    os.unlink(self.path)
            except OSError:
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass
