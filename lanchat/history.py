"""history.py: the persistent chat history in one SQLite file. A file it cannot trust is refused, never replaced.

An I/O edge (it touches disk), kept small so the server loop can call it between reads:
``append()`` stores one room or direct message and returns its id, ``keep()`` holds one for
the next ``commit()`` (the server's way: one journal write per loop pass); ``replay_for()`` picks
what a person sees on joining or on ``/history``; ``export()`` walks everything for
``lanchat history PATH``. The room never calls this module: it returns ``Keep`` and
``Replay`` actions and the server performs them (docs/PROTOCOL.md, "History replay").

Durability. The server commits what one pass of its loop kept before it writes any of that
pass's output to a socket, and that commit is one ``os.write`` of one line per message to the
journal beside the file (``history.sqlite3.pending``, history_journal.py): no SQLite
transaction per pass (one cost 70-97 us of CPU when a message came alone; bench/README.md,
"Round 2, second session"). A SIGKILL ends the process, not the kernel: once ``write``
returned, the lines are in the page cache and reach the file, so nothing a client received
is lost. Each message gets its id when kept (the store numbers on from the newest id), so
moving the journal into SQLite is idempotent (INSERT OR IGNORE by id): a crash between the
move's COMMIT and emptying the journal stores nothing twice. The journal is moved when it
holds ``move_rows`` (500) rows or its oldest is ``move_seconds`` (5 s) old (the loop sleeps
until then: hub.next_deadline; an empty journal sets no deadline), before any other statement
(a replay, /history, mark_seen, a claim, a ban, an act: ids stay the order things happened
in), on ``close()``, and at start, when a killed server left rows there (after the newest, if a
lanchat older than the journal stored messages under their ids since: _after_an_older_lanchat). A last line with no
newline is a write the kill cut short, never delivered: ignored. Anything else unreadable
refuses the start with one message, and the database is not touched. A pass that reads the
store between ``keep()`` and ``commit()`` writes its rows into an SQLite transaction instead,
as before the journal, so its commit stays all or nothing; so does a busy pass (BUSY_PASS_ROWS
messages, or enough to fill the journal), in one transaction with the journal's rows: at full
speed that is cheaper per row than writing them twice. SQLite itself runs WAL with
``synchronous=NORMAL``: a killed writer never leaves a half-written database (and checkpoints
every 4,000 pages: the WAL file may grow to about 16 MB). Only a power cut
or kernel crash could lose the last few passes (neither file is fsynced per message:
``synchronous=FULL`` would cost milliseconds each, which a chat room on a laptop does not need).

One writer: the server's store holds an exclusive ``flock`` on the journal (HistoryBusy for a
second server on the same file: each needs its own, which the default path gives per endpoint).

Readers (``create=False``: ``lanchat history``, a test) take no lock and change nothing. Before
each read they load the journal into a temporary table and read through a temporary view
``messages`` that adds the journal's rows whose ids the file lacks. The journal is read first,
the database second, and that order makes the races with a concurrent move harmless:
* the move commits after the journal was read: those rows are then in both, united by id;
* the move commits and empties the journal before the reader reads it: the rows are already in
  the database, which the reader reads after;
* rows written after the journal was read are not shown: the reader sees the history as of a
  moment during its read, never a gap in it;
* a read racing an append can see a last line in the making (no newline: ignored), and one
  racing the emptying plus new appends can read a mixture: a reader skips any line that does not
  parse, keeps ids increasing and takes each id once, so it never shows a row twice or garbled.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import sqlite3
import stat
import time as _time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import events as ev
from . import history_rows as rows_ok
from .history_journal import Journal, JournalBusy, JournalDamaged, Row, journal_path, read_rows
from .moderation import SEEN_KEYS, Ban, Mute
from .textsafe import visible, visible_lines

_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL = 10, 11, 13  # SQLite's primary result codes (an error's code & 0xFF)
_SQLITE_MAGIC, _HEADER_BYTES = b"SQLite format 3\0", 100  # how every SQLite file begins, and its header's length
_NEARLY_FULL_BYTES = 1 << 20  # less free than this, and SQLite's I/O error is the disk's (HistoryDiskFull)

# "LANC": marks the file as ours, so pointing --history at another program's database is
# refused instead of adding tables to it.
APPLICATION_ID = 0x4C414E43
SCHEMA_VERSION = 1
FILE_NAME = "history.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id            INTEGER PRIMARY KEY,  -- the order things happened in the room
    time          REAL NOT NULL,        -- the server's clock, seconds since the epoch
    sender        TEXT NOT NULL,
    sender_key    TEXT NOT NULL,        -- events.name_key(sender): names ignore case
    recipient     TEXT,                 -- NULL for a room message
    recipient_key TEXT,
    text          TEXT NOT NULL,
    sender_owner    BLOB,               -- direct messages: the public keys that owned the two
    recipient_owner BLOB                -- names when it was sent (NULL: no key, never replayed),
);                                      -- a room row: both NULL, or sender_owner ACTION for a /me
-- Room messages by id: a replay reads the newest ones without walking past other people's direct
-- messages (1,000,000 of them newer than the room's made one take 73 ms of the loop: replay_for).
-- "recipient IS NULL", "recipient_key = ?" imply these partial indexes' conditions, so SQLite uses them.
CREATE INDEX IF NOT EXISTS room_messages ON messages(id) WHERE recipient IS NULL;
CREATE INDEX IF NOT EXISTS directs_to_key ON messages(recipient_key, id) WHERE recipient_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS directs_from_key ON messages(sender_key, id) WHERE recipient_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS names (
    key       TEXT PRIMARY KEY,         -- events.name_key(name)
    name      TEXT NOT NULL,            -- as last spelled
    last_seen INTEGER NOT NULL          -- the newest message id while they were here
);
CREATE TABLE IF NOT EXISTS owners (
    key        TEXT PRIMARY KEY,        -- identity.owned_name_key(name)
    name       TEXT NOT NULL,           -- as spelled when claimed
    public_key BLOB NOT NULL,           -- the Ed25519 key that owns it (PROTOCOL.md, Identity)
    since      REAL NOT NULL
);
"""
# Files written before names had owners lack these; added on opening, so their old direct
# messages have no owner and are never replayed to anyone (PROTOCOL.md, Identity).
_OWNER_COLUMNS = ("sender_owner", "recipient_owner")
_OWNERS_TABLE = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS owners") :]
# Files made between the first release and this one lack it (it was dropped to save a write per
# room message; a flood of direct messages then made every replay slow): made on opening.
_ROOM_INDEX = SCHEMA[SCHEMA.index("CREATE INDEX IF NOT EXISTS room_messages") :].split(";")[0]

# Moderation (PROTOCOL.md, Moderation): bans and mutes survive a restart, acts are kept for the record.
# Added with CREATE ... IF NOT EXISTS to files of any age; older lanchats ignore these tables.
# Run one statement at a time, split at each semicolon: the comments must have none.
MODERATION_SCHEMA = """
CREATE TABLE IF NOT EXISTS bans (
    id        INTEGER PRIMARY KEY,      -- the #ID /bans shows and /unban takes
    name      TEXT NOT NULL,
    name_key  TEXT NOT NULL,            -- names.name_key(name)
    key       TEXT,                     -- identity key fingerprint, if known
    address   TEXT,                     -- limits.address_group, NULL on loopback and AF_UNIX
    by_name   TEXT NOT NULL,
    reason    TEXT NOT NULL,
    time      REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS mutes (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,            -- as spelled when muted
    name_key  TEXT NOT NULL,            -- names.name_key(name)
    key       TEXT,                     -- identity key fingerprint, if known
    address   TEXT,                     -- limits.address_group, NULL on loopback and AF_UNIX
    until     REAL,                     -- its end in wall-clock time, or NULL until /unmute
    by_name   TEXT NOT NULL,
    reason    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS acts (
    id        INTEGER PRIMARY KEY,
    time      REAL NOT NULL,
    action    TEXT NOT NULL,            -- op, deop, kick, ban, unban, mute, unmute, mode, pass
    by_name   TEXT NOT NULL,
    name      TEXT,
    reason    TEXT,
    minutes   INTEGER,
    mode      TEXT
);
CREATE TABLE IF NOT EXISTS settings (
    key       TEXT PRIMARY KEY,
    value     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS operators (
    key       TEXT PRIMARY KEY,         -- identity key fingerprint (moderation.key_id) given /op
    name      TEXT NOT NULL             -- the name it had then (its key owns it), for the record
);
"""
# A ban at a shared place (moderation.Ban.newcomers: a school's NAT) keeps it and the keys the room
# knew then in columns of their own, added to a file of any age (_add_ban_columns); a lanchat
# without them reads such a ban as one by name and key, as it would have made it.
_BAN_COLUMNS = {"newcomers": "TEXT", "known_keys": "TEXT"}  # known_keys: fingerprints, space-separated
# A mute at a shared place (moderation.Mute.newcomers) keeps the same two, in the mutes table; a
# lanchat without them reads it as a mute by name and key.


# A /me kept in the history (PROTOCOL.md, History replay) is a room row whose sender_owner holds
# this mark: a room row has no owners, so no column is added and the journal's lines keep their
# seven values. So a file (and a journal a killed server left) written by this lanchat opens in an
# older one as before, which reads and replays the /me as a room message ("ann: waves").
ACTION = b"/me"
# 1 for a /me, 0 otherwise (a 32-byte key never is; a direct row so marked, by hand, is no /me)
_ACTION_COLUMN = f"(recipient IS NULL AND sender_owner IS x'{ACTION.hex()}')"

# Direct messages kept for someone away and dropped (by age, or the size cap) before they came back,
# counted per name and key, so that they hear of it once when they join (HistoryStore.held_dropped;
# PROTOCOL.md, History replay, "Keeping"). Added to files of any age; older lanchats ignore it.
DROPPED_HELD_TABLE = """
CREATE TABLE IF NOT EXISTS dropped_held (
    key       TEXT NOT NULL,            -- names.name_key of the recipient
    owner     BLOB NOT NULL,            -- the key they were kept for (recipient_owner)
    count     INTEGER NOT NULL,
    PRIMARY KEY (key, owner)
)"""
# Before a batch that may hold direct messages goes (_Dropping._drop): those sent while their
# recipient was away (an id above the name's last_seen, as directs_for reads it), counted. Only
# rows directs_for could replay (a key and an owner): a row edited by hand with no recipient_key
# would fail the NOT NULL, and with it every drop
_COUNT_HELD_DROPPED = (
    "INSERT INTO dropped_held (key, owner, count) SELECT recipient_key, recipient_owner, COUNT(*) FROM main.messages AS m "
    "WHERE recipient IS NOT NULL AND recipient_key IS NOT NULL AND recipient_owner IS NOT NULL AND id >= ?1 AND id <= ?2 "
    "AND id > IFNULL((SELECT last_seen FROM names WHERE names.key = m.recipient_key), 0) "
    "GROUP BY recipient_key, recipient_owner ON CONFLICT (key, owner) DO UPDATE SET count = count + excluded.count"
)

# The identity keys that passed the bans at a join (moderation.Moderation.seen), kept so that a ban
# at a shared place made after a restart still counts a classmate from an earlier run as known
# (moderation.Ban.known_keys): behind one NAT most keys own no name. The newest SEEN_KEYS are kept
# (HistoryStore.seen_keys prunes at start, and by the history's --keep-days); a key's row is
# written at its first join of a run and again after moderation.SEEN_KEY_REFRESH. Added to files of any
# age; older lanchats ignore it.
SEEN_KEYS_TABLE = """
CREATE TABLE IF NOT EXISTS seen_keys (
    key       TEXT PRIMARY KEY,         -- identity key fingerprint (moderation.key_id)
    place     TEXT NOT NULL,            -- limits.address_group it joined from last
    last_seen REAL NOT NULL             -- that join, wall-clock time
)"""

# Which rule the *_key columns were computed with: case folding alone before names.py; NFKC,
# case folding and the confusable skeleton since. A file keyed by another rule is re-keyed once.
NAME_RULE = "nfkc-casefold-skeleton-1"


def _at_shared_place(newcomers: object, known_keys: object) -> dict:
    """A stored ban's Ban.newcomers and known_keys, from its columns (_BAN_COLUMNS). A place that
    is not text reads as none (the ban holds by name and key); a known key not a fingerprint is
    left out (it could only keep a newcomer out, never let one in)."""
    if not rows_ok.is_text(newcomers, rows_ok.MAX_KEY_CHARS) or not newcomers:
        return {}
    keys = known_keys.split() if isinstance(known_keys, str) else []
    return {"newcomers": newcomers, "known_keys": frozenset(k for k in keys if len(k) == 64 and all(c in "0123456789abcdef" for c in k))}


def _seen_ok(row: tuple) -> bool:
    """A seen_keys row as keep_seen_key writes it: a fingerprint, a place, a time."""
    key, place, seen = row
    return (
        isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key)
        and isinstance(place, str) and len(place) <= 200 and isinstance(seen, (int, float)) and math.isfinite(seen)
    )  # fmt: skip  (an infinite time would keep its key from ever being pushed out or written again)


class HistoryUnusable(Exception):
    """The file cannot be used as a history at all (corrupt, not ours, unreadable)."""


class HistoryBusy(HistoryUnusable):
    """Another lanchat server is using this history file (it holds the journal's lock)."""


class HistoryDamaged(HistoryUnusable):
    """SQLite's own check found damage in the file (a crash of the machine, a disk failing)."""


class HistoryNotYours(HistoryUnusable):
    """The file, or one kept beside it (its journal, SQLite's -wal or -shm), may not be read by
    this user: another user's (a teacher's server run once with sudo). Nothing is wrong with the
    file: moving it aside would lose another's history. ``owner``: the user it belongs to."""

    def __init__(self, message: str, owner: str) -> None:
        super().__init__(message)
        self.owner = owner


class HistoryDiskFull(HistoryUnusable):
    """The disk the file is on has no room to open it: nothing is wrong with the file itself."""


class HistoryWriteError(Exception):
    """One write failed (disk full, read-only file); the chat should go on without it.
    ``disk_full``: the disk had no room (ENOSPC, a quota, SQLite's SQLITE_FULL), for the words
    a refused sender reads (hub.py); decided by the error's code, not its text."""

    disk_full = False


HIDDEN_BY_PROJECTOR = "(hidden by --projector)"  # a direct message's text in `lanchat history --projector`


@dataclass(frozen=True, kw_only=True)
class Record:
    """One stored message. ``to`` is None for a room message."""

    id: int
    time: float
    sender: str
    to: str | None
    text: str
    action: bool = False  # a /me: ``text`` is what ``sender`` did (a room entry only)

    def to_event(self, *, history: bool = True) -> ev.Message | ev.Direct:
        if self.to is None:
            return ev.Message(sender=self.sender, text=self.text, time=self.time, history=history, action=self.action)
        return ev.Direct(sender=self.sender, to=self.to, text=self.text, time=self.time, history=history)

    def screened(self) -> Record:
        """The entry as ``lanchat history --projector`` shows it: a direct message keeps who wrote
        to whom and loses what it says, as the chat's projector mode shows it (ui/projector.py):
        the teacher reviewing the lesson on the projector shows the class no student's whisper."""
        return self if self.to is None else replace(self, text=HIDDEN_BY_PROJECTOR)

    def to_json(self) -> dict[str, object]:
        entry: dict[str, object] = {"id": self.id, "time": self.time, "from": self.sender, "to": self.to, "text": self.text}
        if self.action:  # a /me; left out otherwise, so a line reads as before this was kept
            entry["action"] = True
        return entry

    def to_text(self, stamp: str, columns: int | None = None) -> str:
        """The entry as ``lanchat history`` writes it: ``[stamp] ann: hello``. A pasted block
        keeps its lines: each one after the first goes under the first's text, indented by the
        width of ``[stamp] ann: ``, so every entry still starts at column 0 with ``[`` and a
        reader (or a script, dropping that indent) gets the lines back as they were sent.
        ``columns`` (a terminal's width; None for a pipe or a file): a line longer than that is
        folded at spaces, the first under the text, a pasted line under itself and two more,
        where the terminal would cut it mid-word, back under the timestamps."""
        who = visible(self.sender) + (f" -> {visible(self.to)} (direct)" if self.to else "")
        head = f"[{stamp}] * {who} " if self.action else f"[{stamp}] {who}: "  # a /me as the room showed it
        first, *more = visible_lines(self.text)
        lines = [head + first, *(" " * len(head) + line for line in more)]
        if columns is not None:
            from .textfold import fold_line  # only `lanchat history` at a terminal: the server never needs it

            lines = [row for at, line in enumerate(lines) for row in fold_line(line, columns, " " * len(head) if at == 0 else None)]
        return "\n".join(lines)


_COLUMNS = "id, time, sender, recipient, text"
# What a person may see (replay_for), newest first: three parts, each read newest first from its own
# index (room_messages, directs_to_key, directs_from_key) and merged by SQLite as they come, so a
# replay reads about what it shows. One WHERE with ORs walked the table backwards past everyone
# else's direct messages: 1,000,000 of them newer than the room's made a replay take 73 ms of the
# loop (bench/README.md, "Direct messages and the size cap"). A direct message to oneself is in the
# second part, not again in the third; those two take only direct messages (recipient IS NOT NULL), so
# a room message with a recipient_key (a file edited by hand) is replayed once, as the one WHERE did.
# ({columns}: the store's _columns, _COLUMNS and whether the row is a /me)
_REPLAY = (
    "SELECT {columns} FROM messages WHERE recipient IS NULL AND id < ?1 "
    "UNION ALL SELECT {columns} FROM messages WHERE recipient_key = ?2 AND recipient_owner = ?3 AND recipient IS NOT NULL "
    "AND id < ?1 "
    "UNION ALL SELECT {columns} FROM messages WHERE recipient_key IS NOT NULL AND sender_key = ?2 AND sender_owner = ?3 "
    "AND recipient IS NOT NULL AND NOT (recipient_key = ?2 AND recipient_owner IS ?3) AND id < ?1 "
    "ORDER BY id DESC LIMIT ?4"
)


_MAX_ROWS_PER_INSERT = 64  # 9 values a row: 576 parameters, under the 999 of SQLite builds before 3.32
_MAX_ROOM_ROWS_PER_INSERT = 128  # 5 values a row: 640 parameters
MOVE_ROWS = 500  # the journal is moved into SQLite when it holds this many rows,
MOVE_SECONDS = 5.0  # or when its oldest row is this old (history_journal.py)
# (5 s, not 1: at 100 messages a second a move of 500 rows every 5 s instead of 100 every second
# costs ~15 us of CPU less per message; bench/README.md, "Round 2, third session")
# A pass with this many messages is committed straight into SQLite (with the journal's rows):
# one transaction costs ~1 us a room message plus 10-13 us once, less than writing the rows to
# the journal first and moving them later (a pass of 300 in process, expire included: 8.5 us a
# message through the journal, 8.0 straight into SQLite, as before the journal).
BUSY_PASS_ROWS = 64
WAL_CHECKPOINT_PAGES = 4000  # SQLite's default is 1000 (_check_and_prepare)
# While old messages are dropped (history_upkeep.py), the WAL is copied into the file every this many
# pages: a drop writes every freed page (SQLite's secure_delete, on in Debian's build, zeroes them), and
# copying 4,000 pages at once stalled the loop 50-90 ms (bench/README.md, "History upkeep")
DROP_CHECKPOINT_PAGES = 256
_ALL_COLUMNS = "id, time, sender, sender_key, recipient, recipient_key, text, sender_owner, recipient_owner"
# A room message binds only these: the other four are NULL, spelled in the statement. Python's
# sqlite3 adapts every bound None (a failed adapter lookup, ~0.25 us each on CPython 3.11), so
# four bound NULLs cost more than SQLite's whole insert of the row (2.1 -> 0.85 us a row in
# passes of 300, bench/README.md "Round 2, third session").
_ROOM_VALUES = "(?, ?, ?, ?, NULL, NULL, ?, NULL, NULL)"


@functools.cache
def _insert_rows(count: int, *, ignore: bool = False, room: bool = False) -> str:
    """An INSERT of ``count`` rows, ids given (HistoryStore._write_kept, _move: OR IGNORE, as a
    row moved before a crash may still be in the journal). ``room``: room messages, 5 values a
    row (_ROOM_VALUES); otherwise all 9 columns (_row)."""
    values = ", ".join([_ROOM_VALUES if room else "(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * count)
    return f"INSERT {'OR IGNORE ' if ignore else ''}INTO main.messages ({_ALL_COLUMNS}) VALUES {values}"


def _row(row: Row, key: Callable[[str], str] = ev.name_key) -> tuple:
    """A kept row's values for _insert_rows: the name keys added (``key``: events.name_key, or
    _name_keys' memo of it). Owners only for direct messages (a room row's mark: ACTION)."""
    id_, time, sender, to, text, sender_owner, recipient_owner = row
    if to is None:
        return (id_, time, sender, key(sender), None, None, text, sender_owner, None)
    return (id_, time, sender, key(sender), to, key(to), text, sender_owner, recipient_owner)


def _after_an_older_lanchat(db: sqlite3.Connection, rows: list[Row], newest: int) -> list[Row]:
    """A killed server's journal ``rows``, as they go in at start. A lanchat older than the journal
    (before 2026-12-03), run on the file meanwhile, read no journal and stored its own messages under
    the same ids: moved by id (OR IGNORE), the killed server's were dropped unsaid. From the first
    id another message holds on, they go after the newest (``newest``), in their order; one stored
    there already (a move that committed before the journal was emptied) is not stored twice."""
    clash = next((at for at, row in enumerate(rows) if _holds_another(db, row)), None)
    if clash is None:
        return rows
    # those stored already, in one pass over the rows since the clash (by id) within the journal's
    # times: a look-up per row scanned them all each time (500 rows over 100,000 since: 15.7 s)
    since, later = rows[clash][0], rows[clash:]
    times = (min(row[1] for row in later), max(row[1] for row in later))
    stored = set(db.execute("SELECT time, sender, text FROM main.messages WHERE id >= ? AND time BETWEEN ? AND ?", (since, *times)))
    moved = [row for row in later if (row[1], row[2], row[4]) not in stored]
    return rows[:clash] + [(newest + at, *row[1:]) for at, row in enumerate(moved, start=1)]


def _holds_another(db: sqlite3.Connection, row: Row) -> bool:
    """True if the file holds another message under ``row``'s id (not the same time, sender and text)."""
    try:
        held = db.execute("SELECT time, sender, text FROM main.messages WHERE id = ?", (row[0],)).fetchone()
    except sqlite3.OperationalError:  # (no messages table yet)
        return False
    return held is not None and tuple(held) != (row[1], row[2], row[4])


def _claim_sqlite_files(real: Path) -> list[Path]:
    """In a folder anyone may write (sticky, as /tmp), SQLite's -wal and -shm of the history
    ``real``, made ours before SQLite opens it (those made returned): a script of another user
    waiting for the history to appear planted its own (0666, kept open) between the look for
    planted files (_Opening._check_not_planted) and SQLite's open, and read every line from its
    -wal (h-attack5). Made with the history's mode, as SQLite makes them (the history is ours or
    root's here: another's was refused); in a sticky folder nobody else may then take them away.
    Those there already were looked at, and are looked at again (_Opening._looked_at_again)."""
    try:
        if not os.stat(real.parent).st_mode & stat.S_IWOTH:
            return []
        mode = stat.S_IMODE(os.stat(real).st_mode) & 0o666
    except OSError:  # (SQLite's open says what is there)
        return []
    made = []
    for file in (real.with_name(real.name + "-wal"), real.with_name(real.name + "-shm")):
        try:
            handle = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:  # there already (looked at again), or not to be made (SQLite says why)
            continue
        made.append(file)
        try:
            os.fchmod(handle, mode)
        finally:
            os.close(handle)
    return made


def _name_keys() -> Callable[[str], str]:
    """events.name_key remembered for one batch: a room's rows come from a few names, and a
    key (NFKC, case folding, the confusable skeleton) costs microseconds each."""
    known: dict[str, str] = {}

    def key(name: str) -> str:
        found = known.get(name)
        if found is None:
            found = known[name] = ev.name_key(name)
        return found

    return key


def _values(rows: list[Row]) -> tuple[list[object], list[tuple]]:
    """``rows`` for the INSERTs: the room messages' values in one flat list, 5 a row (id, time,
    sender, its key, text: _ROOM_VALUES), and the direct messages' rows (_row). Each name's key
    is computed once per batch (_name_keys)."""
    room: list[object] = []
    directs: list[tuple] = []
    add = room.extend
    key = _name_keys()
    sender = sender_key = None
    for row in rows:
        # a direct message (``to`` a name), or a /me (no ``to``, the ACTION mark): all 9 values. One
        # test for both: only a room message has neither (None is None), and it is the usual row
        if row[3] is not row[5]:
            directs.append(_row(row, key))
        else:
            if row[2] is not sender:  # not the same str as the row before (a run from one member)
                sender = row[2]
                sender_key = key(sender)
            add((row[0], row[1], sender, sender_key, row[4]))
    return room, directs


_MAX_RUN_ROWS_PER_INSERT = 256  # 2 values a row plus 3: 515 parameters
_MIN_RUN_ROWS = 32  # a shorter run goes in as rows (_values): fewer statements


@functools.cache
def _insert_run(count: int) -> str:
    """An INSERT of ``count`` room messages from one sender with consecutive ids: the sender, its
    key and the first id bound once (?1, ?2, ?3), then each row's time and text. Built from a
    ``Said`` run's lists by slice assignment, with no Python per row (HistoryStore._insert_runs)."""
    values = ", ".join(f"(?3 + {i}, ?{4 + 2 * i}, ?1, ?2, NULL, NULL, ?{5 + 2 * i}, NULL, NULL)" for i in range(count))
    return f"INSERT INTO main.messages ({_ALL_COLUMNS}) VALUES {values}"


# A run of one sender's room messages, ids from ``first`` on: (first, sender, times, texts)
Run = tuple[int, str, list[float], list[str]]


class _Held:
    """What keep() and keep_said() hold for the next statement or commit(): single rows, and runs
    of one sender's room messages as the short path made them (plain lists, no row per message
    unless the journal needs rows)."""

    __slots__ = ("rows", "runs", "count")

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.runs: list[Run] = []
        self.count = 0

    def first_id(self) -> int:
        return min([row[0] for row in self.rows[:1]] + [run[0] for run in self.runs[:1]])

    def all_rows(self) -> list[Row]:
        """Every held message as a row, in id order (the journal's lines)."""
        if not self.runs:
            return self.rows
        rows = list(self.rows)
        for first, sender, times, texts in self.runs:
            if len(texts) == 1:  # the usual run at light load: one message, one row
                rows.append((first, times[0], sender, None, texts[0], None, None))
                continue
            rows += [
                (id_, time, sender, None, text, None, None)
                for id_, time, text in zip(range(first, first + len(texts)), times, texts, strict=True)
            ]
        if self.rows:
            rows.sort(key=lambda row: row[0])
        return rows


def _record(row: tuple) -> Record:
    """A row read with the store's ``_columns``: _COLUMNS, then whether it is a /me."""
    return Record(id=row[0], time=row[1], sender=row[2], to=row[3], text=row[4], action=row[5] == 1)


def _name_key_of(name: object, kept: object = None) -> str | bytes | int | float | None:
    """A stored name's key by today's rule (re-keying, _prepare_moderation); a value that is no
    name (a blob, a number: history_rows.py leaves its row out on reading) keeps what it had."""
    if isinstance(name, str):
        return ev.name_key(name)
    value = kept if kept is not None else name
    return value if value is None or isinstance(value, (str, bytes, int, float)) else None


def _text(raw: bytes) -> str:
    """A TEXT value that is not UTF-8 (another program's, a damaged page) is read with its bad
    bytes replaced: sqlite3's default raised on it, and one such row made every replay fail."""
    return str(raw, "utf-8", "replace")


def default_path(*, port: int | None = None, unix: str | None = None) -> Path:
    """Where the history lives when --history is not given: the user's data directory, one
    file per endpoint (``history-3580.sqlite3``; an AF_UNIX path by a hash of it), so two
    rooms on one machine never replay each other's messages; on the default port, an older
    lanchat's one ``history.sqlite3`` while the room has no file of its own."""
    import hashlib

    import platformdirs  # imported here: only `serve` without --history needs it

    from .transport import DEFAULT_PORT

    folder = platformdirs.user_data_path("lanchat", appauthor=False)
    if unix is not None:
        tag = "unix-" + hashlib.sha256(os.path.abspath(unix).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    elif port is not None:
        tag = str(port)
    else:
        return folder / FILE_NAME
    own, shared = folder / f"history-{tag}.sqlite3", folder / FILE_NAME
    if port == DEFAULT_PORT and not os.path.lexists(own) and os.path.isfile(shared):  # (a link that leads nowhere: not it)
        # lanchat before per-endpoint files (2026-12-03) kept every room's history in FILE_NAME:
        # the room on the default port, where that lanchat served, goes on with it (its lessons
        # and when each name was last here), and that lanchat run again still finds it there.
        return shared
    return own


def _refuse_swappable_folders(path: Path, real: Path) -> None:
    """_check_not_planted's look up the path, as sshd's StrictModes looks: a history whose own
    folder is safe was not, when a folder above it (or above the link given for it) may be
    written by anyone and is not sticky: anyone may rename the folder in it away (or the link)
    and put one of their own in its place, with a file of theirs in it. Nor when a folder (or a link)
    on the way is another user's (not root's) in one anyone may write (sticky, as /tmp): they made
    it there first, so what is in it (where it leads) is theirs to swap. It stops at / (a folder we may not look at
    is left to the open, which says so)."""
    given = Path(os.path.abspath(path))
    for child in _on_the_way(given, real):
        parent = child.parent
        try:
            mode, info = os.stat(parent).st_mode, os.lstat(child)
        except OSError:
            continue
        if not mode & stat.S_IWOTH or (child == given and child == real):  # (its own folder: _check_not_planted's first look)
            continue
        what = "the link to the history" if stat.S_ISLNK(info.st_mode) else "the folder the history is in" if child != given else "the history"
        if not mode & stat.S_ISVTX:
            raise HistoryUnusable(
                f"{parent} may be written by anyone and is not sticky (as /tmp is): anyone may rename {child.name} there "
                f"({what}) away and put one of their own in its place, to read this room's messages (direct ones too) or to "
                f"add to them; nothing was written: keep the history in a folder of your own (--history PATH), or make that "
                f"one sticky (chmod +t {parent})"
            )
        if info.st_uid not in (0, os.geteuid()):  # (a link of hers too: realpath went where it leads, past protected_symlinks)
            raise HistoryUnusable(
                f"{child} ({what}) belongs to user {_user(info.st_uid)}, in {parent}, a folder anyone may write to: they may "
                f"have made it there to swap {path.name} in it for a file of their own, to read this room's messages (direct "
                "ones too) or to add to them; nothing was written: keep the history in a folder of your own (--history PATH)"
            )


def _on_the_way(given: Path, real: Path) -> Iterator[Path]:
    """Each name the history's path is found through, to /: the given path's, then where each
    link on the way leads (a link to a link in another folder), then the real path's folders;
    at most 40 links followed, as the kernel's own limit."""
    chains, links = deque([given, real.parent]), 0
    while chains:
        start = chains.popleft()
        for child in (start, *start.parents[:-1]):
            yield child
            if links < 40 and os.path.islink(child):
                links += 1
                with contextlib.suppress(OSError):
                    chains.append(Path(os.path.abspath(os.path.join(os.path.realpath(child.parent), os.readlink(child)))))


def _user(uid: int) -> str:
    """A user's name, as ls -l shows the owner (its number if the system has no name for it)."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _first_problem(problems: list[str]) -> str:
    """SQLite's check as one short line: its first finding, without its "*** in database main
    ***" heading and the newlines it puts inside one finding."""
    words = " ".join(" ".join(problems).replace("*** in database main ***", " ").split())
    return words if len(words) <= 120 else words[:120].rsplit(" ", 1)[0] + " ..."


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _cut_short(path: Path) -> str | None:
    """"cut short: 68 KiB of its 136 KiB are there" for a file shorter than its SQLite header
    says (the header's page count is valid only while its two change counters agree)."""
    try:
        with open(path, "rb") as file:
            header = file.read(_HEADER_BYTES)
        size = os.path.getsize(path)
    except OSError:
        return None
    if len(header) < _HEADER_BYTES or not header.startswith(_SQLITE_MAGIC) or header[24:28] != header[92:96]:
        return None
    page_size = int.from_bytes(header[16:18], "big")
    whole = int.from_bytes(header[28:32], "big") * (65536 if page_size == 1 else page_size)
    return f"cut short: {size // 1024} KiB of its {whole // 1024} KiB are there" if size < whole else None


# Past the newest id anything names (or the last read), ids tried one by one for rows after a
# damaged part (a failed seek costs microseconds: 10,000 are a few hundredths of a second).
PROBE_PAST_IDS = 10_000


def _readable_rows(
    db: sqlite3.Connection, since: float | None, unreadable: list[tuple[int, int | None]], *, beyond: int | None, columns: str
) -> Iterator[tuple]:
    """The rows of ``main.messages`` that can be read, by id, from time ``since`` on. Where a
    walk fails (a page cut off or garbled) the next id is looked up alone (a walk past a damaged
    page fails where a lookup still reads), then walked on from, and so on, each part skipped
    noted in ``unreadable``; up to ``beyond`` (the journal's first id, if any), and
    PROBE_PAST_IDS past the last id read."""
    walk = f"SELECT {columns} FROM main.messages WHERE id > ? ORDER BY id"
    lookup = f"SELECT {columns} FROM main.messages WHERE id = ?"
    floor = float("-inf") if since is None else since
    after, failed_from = 0, None
    while True:
        try:
            for row in db.execute(walk, (after,)):
                after = row[0]
                yield from _gap_closed(row, failed_from, unreadable, floor)
                failed_from = None
            break  # read to its end
        except sqlite3.DatabaseError:
            if failed_from is None:
                failed_from = after + 1
            limit = max(beyond or 0, failed_from + PROBE_PAST_IDS)
        while after < limit:  # each id alone, to one that reads
            after += 1
            with contextlib.suppress(sqlite3.DatabaseError):
                if (row := db.execute(lookup, (after,)).fetchone()) is not None:
                    yield from _gap_closed(row, failed_from, unreadable, floor)
                    failed_from = None
                    break
        else:
            break
    if failed_from is not None:  # to the journal's first row, or as far as anything says
        unreadable.append((failed_from, beyond if beyond is not None and beyond >= failed_from else None))


def _gap_closed(row: tuple, failed_from: int | None, unreadable: list[tuple[int, int | None]], floor: float) -> Iterator[tuple]:
    """``row``, read after the damaged part from ``failed_from`` (if any), which ends before it."""
    if failed_from is not None and row[0] > failed_from:
        unreadable.append((failed_from, row[0] - 1))
    if not isinstance(row[1], (int, float)) or row[1] >= floor:  # (a time that is no number: left out later)
        yield row


def _write_error(exc: BaseException, text: str | None = None) -> HistoryWriteError:
    """``exc`` (SQLite's or the journal's OSError) as the HistoryWriteError callers catch."""
    error = HistoryWriteError(text or _describe(exc))
    if isinstance(exc, sqlite3.Error):
        error.disk_full = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == _SQLITE_FULL
    else:
        error.disk_full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return error


class _Rows:
    """What every part of HistoryStore reads and writes with: the connection, reads that survive
    a row that is not UTF-8, rows lanchat cannot use left out and counted, and a write's errors
    said as HistoryWriteError."""

    db: sqlite3.Connection
    skipped = 0  # rows read and left out since opening: not as lanchat writes them (history_rows.py)

    def _settle(self) -> None: ...  # _Writing's: the journal and held rows come first

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One IMMEDIATE transaction: committed at the end, rolled back on any error."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write of the room's: the rows kept earlier go in first (their ids are the order things
        happened in), and SQLite's error (a full disk, a read-only file) comes out as HistoryWriteError."""
        self._settle()
        try:
            yield
        except sqlite3.Error as exc:
            raise _write_error(exc) from None

    def _read(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        """Every row ``sql`` selects. Text that is not UTF-8 (a damaged page, another program's
        row) makes sqlite3 refuse the whole read, and one such row made every replay fail; so a
        read that fails is tried once more reading bad bytes as U+FFFD (_text: a Python call per
        value, 25 us more on a replay of 50 if it were always on, so only then)."""
        try:
            return self.db.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError:
            self.db.text_factory = _text
            try:
                return self.db.execute(sql, parameters).fetchall()
            finally:
                self.db.text_factory = str

    def _read_newest(self, sql: str, parameters: tuple, max_bytes: int | None) -> tuple[list[tuple], bool]:
        """``_read``, but with ``max_bytes`` it stops once the rows' texts hold more than that
        (a row's frame is never smaller than its text in UTF-8, which is never fewer bytes than
        characters): a replay reads about what it can send. Whether it stopped there."""
        if max_bytes is None:
            return self._read(sql, parameters), False
        try:
            return self._rows_until(sql, parameters, max_bytes)
        except sqlite3.OperationalError:  # bad UTF-8 in a row: read again as _read does
            self.db.text_factory = _text
            try:
                return self._rows_until(sql, parameters, max_bytes)
            finally:
                self.db.text_factory = str

    def _rows_until(self, sql: str, parameters: tuple, max_bytes: int) -> tuple[list[tuple], bool]:
        rows: list[tuple] = []
        held = 0
        cursor = self.db.execute(sql, parameters)
        while batch := cursor.fetchmany(16):
            for row in batch:
                rows.append(row)
                held += len(row[4]) if isinstance(row[4], str) else 0  # _COLUMNS: the text is fifth
                if held > max_bytes:
                    cursor.close()
                    return rows, True
        return rows, False

    def _usable(self, rows: list[tuple], usable: Callable[[tuple], bool]) -> list[tuple]:
        """The rows lanchat can use (history_rows.py); the others are left out and counted."""
        kept = [row for row in rows if usable(row)]
        self.skipped += len(rows) - len(kept)
        return kept


class _NameOwners(_Rows):
    """The names' owners (PROTOCOL.md, Identity): which Ed25519 key owns which name here.
    Part of HistoryStore (the same file), kept apart so each reads in one screen."""

    def _add_owners(self) -> None:
        """Bring a file from before name ownership up to date (additive: older lanchats still read it)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(messages)")}
        missing = [name for name in _OWNER_COLUMNS if name not in columns]
        with self._transaction():
            for name in missing:
                self.db.execute(f"ALTER TABLE messages ADD COLUMN {name} BLOB")
            self.db.execute(_OWNERS_TABLE)

    def owners(self) -> dict[str, bytes]:
        """Every owned name: identity.owned_name_key(name) -> public key (Room(owners=...))."""
        self._settle()
        if not self._has_owners():
            return {}
        rows = self._read("SELECT key, public_key FROM owners ORDER BY since")  # oldest first: Gate.claim
        return {row[0]: row[1] for row in self._usable(rows, rows_ok.owner_ok)}

    def owner_names(self) -> list[tuple[str, bytes]]:
        """(name as claimed, public key) for every owned name, by name; rows left out are counted."""
        if not self._has_owners():
            return []
        rows = self._read("SELECT name, public_key FROM owners ORDER BY name")
        return [(row[0], row[1]) for row in self._usable(rows, rows_ok.owner_ok)]

    def owners_and_names(self) -> tuple[dict[str, bytes], list[str]]:
        """``owners()`` and the owned names as claimed, by name (Gate(owner_names=...)), from one
        read of the table (serve's start); a row left out is counted once, as ``owners`` counts."""
        self._settle()
        if not self._has_owners():
            return {}, []
        rows = self._read("SELECT key, public_key, name FROM owners ORDER BY since")  # oldest first: Gate.claim
        owned = {row[0]: row[1] for row in self._usable(rows, lambda row: rows_ok.owner_ok(row[:2]))}
        return owned, sorted(row[2] for row in rows if rows_ok.owner_ok((row[2], row[1])))

    def claim(self, name: str, owner: bytes | None, *, time: float = 0.0) -> bool:
        """Store that ``owner`` owns ``name`` (None: release it). True if something changed."""
        from .identity import owned_name_key

        with self._writing():
            if owner is None:
                cursor = self.db.execute("DELETE FROM owners WHERE key = ?", (owned_name_key(name),))
            else:
                cursor = self.db.execute(
                    "INSERT INTO owners (key, name, public_key, since) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET name = excluded.name, public_key = excluded.public_key, "
                    "since = excluded.since",
                    (owned_name_key(name), name, owner, time),
                )
        return cursor.rowcount > 0

    def _has_owners(self) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'owners'").fetchone() is not None



class _Dropping(_Rows):
    """Dropping the oldest messages, by age (serve --keep-days, lanchat history prune) or by size
    (serve --max-history-mb): history_upkeep.py decides when and how many; this is the SQL.
    With the room stopped, ``compact`` gives the space back to the disk (the server never does:
    SQLite reuses it for new messages, and a VACUUM would stop the room for as long as it takes).
    Part of HistoryStore (the same file), kept apart so each reads in one screen.

    Only messages already in SQLite go (the journal's rows are moved in first: they are among the
    newest), never bans, mutes, owned names, the topic, the operators or the names seen. By age:
    every message older than the time, room or direct (a term's retention is about all of them).
    By size: room messages first, never the newest ``keep_newest``; then direct messages
    (``drop_oldest_directs``): a flood of whispers, which no one else sees, must not fill the disk
    (PROTOCOL.md, History replay, "Keeping"). Oldest first by id, the order things happened in: a
    batch by age ends at the first message young enough to stay, so each batch reads at most
    ``rows`` rows past the last one dropped (a clock set back can keep a few older messages a
    while; never a newer one gone)."""

    path: Path
    # Below these ids every message, every room message, every direct message is gone already:
    # a batch starts there (a store's own: another process may have dropped more meanwhile)
    _drop_from = 0
    _room_drop_from = 0
    _direct_drop_from = 0

    def drop_oldest(self, *, before: float | None, rows: int, keep_newest: int = 0) -> tuple[int, bool]:
        """Drop up to ``rows`` of the oldest messages: every kind older than ``before`` (seconds
        since the epoch); with None the oldest room messages whatever their age, never the newest
        ``keep_newest``. Returns (how many went, whether a full batch went: more may follow).
        One short transaction (or the pass's own, when this pass has rows held: they are
        stored with it), so the room's loop can go on between batches."""
        if before is not None:
            kind, start = "", self._drop_from
        else:
            kind, start = "recipient IS NULL AND ", max(self._drop_from, self._room_drop_from)
        return self._drop(kind, start, before=before, rows=rows, keep_newest=keep_newest)

    def drop_oldest_directs(self, *, rows: int) -> tuple[int, bool]:
        """Drop up to ``rows`` of the oldest direct messages, whatever their age (the size cap,
        once only the newest room messages are left). As drop_oldest returns."""
        start = max(self._drop_from, self._direct_drop_from)
        return self._drop("recipient IS NOT NULL AND ", start, before=None, rows=rows, keep_newest=0)

    def _drop(self, kind: str, start: int, *, before: float | None, rows: int, keep_newest: int) -> tuple[int, bool]:
        """One batch: the oldest ``rows`` messages of ``kind`` (a condition and AND, or "") from
        id ``start`` on, up to the first one newer than ``before``, below the newest ``keep_newest``."""
        self._settle()
        db = self.db
        own = not db.in_transaction
        try:
            if own:
                db.execute("BEGIN IMMEDIATE")
            upper = 2**62
            if keep_newest > 0:  # (room messages only: the room_messages index)
                newest = db.execute(
                    "SELECT id FROM main.messages WHERE recipient IS NULL ORDER BY id DESC LIMIT 1 OFFSET ?", (keep_newest - 1,)
                ).fetchone()
                upper = newest[0] if newest is not None and isinstance(newest[0], int) else 0
            found = db.execute(
                f"SELECT id, time FROM main.messages WHERE {kind}id >= ? AND id < ? ORDER BY id LIMIT ?", (start, upper, rows)
            ).fetchall()
            last = None
            for id_, time in found:
                if before is not None and rows_ok.is_time(time) and time >= before:
                    break  # young enough to stay, and so is what came after it
                last = id_
            dropped = 0
            if last is not None and not kind.startswith("recipient IS NULL"):  # direct messages may go too
                db.execute(_COUNT_HELD_DROPPED, (start, last))  # held ones: their recipient hears (held_dropped)
            if last is not None:
                dropped = db.execute(f"DELETE FROM main.messages WHERE {kind}id >= ? AND id <= ?", (start, last)).rowcount
                # the newest id may go with them: a restart numbers on from here, never below an id
                # already given (names.last_seen decides which direct messages were sent while away)
                db.execute(
                    "INSERT INTO settings (key, value) VALUES ('dropped_through', ?) ON CONFLICT(key) DO UPDATE "
                    "SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))", (last,)
                )
            if own:
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            if own:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise _write_error(exc) from None  # (disk_full: `history prune` says what to do)
        if last is not None and own:  # (in the pass's transaction: only once its commit stands)
            if not kind:
                self._drop_from = last + 1
            elif kind.startswith("recipient IS NULL"):
                self._room_drop_from = last + 1
            else:
                self._direct_drop_from = last + 1
        return dropped, last is not None and len(found) == rows and last == found[-1][0]

    def oldest_room_time(self) -> float | None:
        """The oldest room message's time (None: none left): where the room's history now starts,
        for the size cap's notice to the host (history_upkeep.py; at most once an hour)."""
        row = self.db.execute(
            "SELECT time FROM main.messages WHERE recipient IS NULL AND id >= ? ORDER BY id LIMIT 1",
            (max(self._drop_from, self._room_drop_from),),
        ).fetchone()
        return row[0] if row is not None and rows_ok.is_time(row[0]) else None

    def dropping(self, now: bool) -> None:
        """A round of drops begins (True) or ends: the WAL is copied into the file in smaller
        pieces meanwhile (DROP_CHECKPOINT_PAGES), so no single commit waits for a long copy."""
        with contextlib.suppress(sqlite3.Error):
            self.db.execute(f"PRAGMA wal_autocheckpoint = {DROP_CHECKPOINT_PAGES if now else WAL_CHECKPOINT_PAGES}")

    def holding(self) -> bool:
        """Rows are held for this pass's commit: the pass has messages to deliver."""
        return self._kept.count > 0  # type: ignore[attr-defined, no-any-return]

    def used_bytes(self) -> int:
        """What the file holds, in bytes: its pages less the free ones (SQLite reuses a dropped
        message's pages for new ones, so the file itself does not shrink but stops growing)."""
        pages, free, size = self.db.execute(
            "SELECT * FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()"
        ).fetchone()
        return max(0, int(pages) - int(free)) * int(size)

    def file_sizes(self) -> tuple[int, int]:
        """(the file's size on disk, what it holds) in bytes, for ``lanchat history compact``: the
        WAL copied into the file and cut to nothing first, so the disk's free space that compact()
        needs is counted with that file's room given back (history_upkeep.compact_refusal)."""
        self._settle()
        with contextlib.suppress(sqlite3.Error):  # (a reader holding the WAL: it keeps its size)
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return os.path.getsize(self.path), self.used_bytes()

    def compact(self) -> int:
        """Give dropped messages' space back to the disk (the room stopped: the journal's lock
        held); returns the file's size after. SQLite's VACUUM writes what the file holds into a
        copy (in memory: temp_store, never a temporary folder's disk), then back through the WAL,
        and the WAL is copied in and cut. All or nothing: a disk that fills up meanwhile leaves
        the file as it was (HistoryWriteError, disk_full); damage found is HistoryDamaged."""
        self._settle()
        try:
            self.db.execute("VACUUM")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError as exc:
            if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == _SQLITE_CORRUPT:
                raise HistoryDamaged(f"{self.path} is damaged ({_describe(exc)})") from None
            raise _write_error(exc) from None
        return os.path.getsize(self.path)

    def holdings(self) -> tuple[int, int, float | None]:
        """(bytes used, messages, the oldest message's time): what serve's start says it holds.
        Counting walks the table once (about 0.1 s a million short messages)."""
        self._settle()
        count, oldest = self.db.execute(
            "SELECT COUNT(*), (SELECT time FROM main.messages ORDER BY id LIMIT 1) FROM main.messages"
        ).fetchone()
        return self.used_bytes(), int(count), oldest if rows_ok.is_time(oldest) else None


class _RoomState(_Rows):
    """What a room keeps besides its messages, so a restart resumes it: the identity keys seen
    (a ban behind a NAT lets those classmates in), bans, mutes and their numbers, the acts for
    the record, operators given with /op, the mode, the topic and the next file id. Part of
    HistoryStore (the same file), kept apart so each reads in one screen."""

    writable: bool

    def _add_seen_keys(self) -> None:
        """The seen_keys table (SEEN_KEYS_TABLE), in a file of any age that lacks it."""
        with self._transaction():
            self.db.execute(SEEN_KEYS_TABLE)

    _seen_rows = 0  # rows written since the table was last cut to SEEN_KEYS (keep_seen_key)

    def keep_seen_key(self, key: str, place: str, time: float) -> None:
        """Keep that identity ``key`` passed the bans at a join from ``place`` at ``time``
        (actions.KeepSeenKey). Every SEEN_KEYS rows written, all but the newest SEEN_KEYS go (the
        file holds twice that at most): a script making keys cannot grow it without end."""
        with self._writing():
            self.db.execute(
                "INSERT INTO seen_keys (key, place, last_seen) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET place = excluded.place, last_seen = excluded.last_seen",
                (key, place, time),
            )
            self._seen_rows += 1
            if self._seen_rows > SEEN_KEYS:
                self._cut_seen_keys(None)

    def _cut_seen_keys(self, before: float | None) -> None:
        """Drop the seen keys last seen before ``before`` (None: none by age) and all but the
        newest SEEN_KEYS."""
        if before is not None:
            self.db.execute("DELETE FROM seen_keys WHERE last_seen < ?", (before,))
        self.db.execute(
            "DELETE FROM seen_keys WHERE key NOT IN (SELECT key FROM seen_keys ORDER BY last_seen DESC LIMIT ?)", (SEEN_KEYS,)
        )
        self._seen_rows = 0

    def seen_keys(self, *, before: float | None = None) -> list[tuple[str, str, float]]:
        """(key, place, last seen) of the keys seen in earlier runs, the newest SEEN_KEYS, oldest
        first: what the room starts with (Moderation.remember_seen). Those last seen before
        ``before`` (serve --keep-days) are dropped from the file first (a read-only file keeps
        them, and they are not read). None in a file without the table."""
        with contextlib.suppress(sqlite3.Error, HistoryWriteError):
            self._settle()
            if self.writable:
                self._cut_seen_keys(before)
        try:
            rows = self._read(
                "SELECT key, place, last_seen FROM (SELECT key, place, last_seen FROM seen_keys WHERE last_seen >= ? "
                "ORDER BY last_seen DESC LIMIT ?) ORDER BY last_seen",
                (before if before is not None else float("-inf"), SEEN_KEYS),
            )
        except sqlite3.OperationalError:  # no such table: a file of an older lanchat, read-only
            return []
        return [(r[0], r[1], float(r[2])) for r in self._usable(rows, _seen_ok)]

    # ------------------------------------------------------------------ moderation

    def _add_ban_columns(self) -> None:
        """The bans and mutes tables' columns for a ban or mute at a shared place (_BAN_COLUMNS),
        where a file of an older release lacks them: added with defaults (NULL), so it still opens it."""
        for table in ("bans", "mutes"):
            have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            for column, kind in _BAN_COLUMNS.items():
                if column not in have:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _has_ban_columns(self, table: str = "bans") -> bool:
        """Does ``table`` have _BAN_COLUMNS (no: a read-only file of an older lanchat)?"""
        have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
        return all(column in have for column in _BAN_COLUMNS)

    def add_ban(self, ban: Ban) -> None:
        """Store a ban (room.StoreBan), so it holds after a restart."""
        with self._writing():
            self.db.execute(
                "INSERT OR REPLACE INTO bans (id, name, name_key, key, address, by_name, reason, time, newcomers, known_keys) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ban.id, ban.name, ban.name_key, ban.key, ban.address, ban.by, ban.reason, ban.time, ban.newcomers,
                 " ".join(sorted(ban.known_keys)) if ban.newcomers else None),
            )  # fmt: skip
            self._numbered("next_ban_id", ban.id + 1)

    def _numbered(self, setting: str, following: int) -> None:
        """Keep the number after the highest ban or mute number ever given (``setting``), so a
        restart never gives a lifted one's number again: a /bans screen of before the restart
        naming #3 would lift someone else's ban (next_moderation_ids)."""
        self.db.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
            "CASE WHEN CAST(value AS INTEGER) >= CAST(excluded.value AS INTEGER) THEN value ELSE excluded.value END",
            (setting, str(following)),
        )

    def next_moderation_ids(self) -> tuple[int, int]:
        """The numbers the next ban and the next mute may take at least (the room also starts
        above those in force): none lifted before a restart is given again. 1 when none was kept
        (a file of an older version, read-only or not; a value not a number, hand edited)."""
        try:
            rows = dict(self.db.execute("SELECT key, value FROM settings WHERE key IN ('next_ban_id', 'next_mute_id')").fetchall())
        except sqlite3.OperationalError:  # a read-only file from before moderation: no settings
            return 1, 1

        def number(value: object) -> int:
            text = str(value)
            return int(text) if text.isdecimal() and len(text) <= 18 else 1

        return number(rows.get("next_ban_id", 1)), number(rows.get("next_mute_id", 1))

    def drop_bans(self, ids: tuple[int, ...]) -> None:
        """Lift stored bans (room.DropBans)."""
        with self._writing():
            self.db.executemany("DELETE FROM bans WHERE id = ?", [(i,) for i in ids])

    def add_mute(self, mute: Mute, now: float) -> None:
        """Store a mute (room.StoreMute), so a restart does not lift it. The mutes over by
        ``now`` go too (the room drops each as it ends, DropMutes; this is a second sweep)."""
        with self._writing():
            self.db.execute("DELETE FROM mutes WHERE until IS NOT NULL AND until <= ?", (now,))
            self.db.execute(
                "INSERT OR REPLACE INTO mutes (id, name, name_key, key, address, until, by_name, reason, newcomers, known_keys) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (mute.id, mute.name, mute.name_key, mute.key, mute.address, mute.until, mute.by, mute.reason, mute.newcomers,
                 " ".join(sorted(mute.known_keys)) if mute.newcomers else None),
            )  # fmt: skip
            self._numbered("next_mute_id", mute.id + 1)

    def drop_mutes(self, ids: tuple[int, ...]) -> None:
        """Lift stored mutes (room.DropMutes)."""
        with self._writing():
            self.db.executemany("DELETE FROM mutes WHERE id = ?", [(i,) for i in ids])

    def mutes(self, now: float) -> list[Mute]:
        """The mutes still in force at ``now`` (wall-clock time), oldest first: what the room
        starts with. One that ended while the server was down is over, as if it had run, and
        leaves the file, which holds only mutes in force (a read-only file keeps it)."""
        with contextlib.suppress(sqlite3.Error, HistoryWriteError):
            self._settle()
            self.db.execute("DELETE FROM mutes WHERE until IS NOT NULL AND until <= ?", (now,))
        try:
            extra = ", newcomers, known_keys" if self._has_ban_columns("mutes") else ", NULL, NULL"
            rows = self._read(
                f"SELECT id, name, name_key, key, address, until, by_name, reason{extra} FROM mutes "
                "WHERE until IS NULL OR until > ? ORDER BY id",
                (now,),
            )
        except sqlite3.OperationalError:  # a read-only file from before mutes were kept: none
            return []
        return [
            Mute(id=r[0], name=r[1], name_key=r[2], key=r[3], address=r[4], until=r[5], by=r[6], reason=r[7], **_at_shared_place(r[8], r[9]))
            for r in self._usable(rows, lambda row: rows_ok.mute_ok(row[:8]))
        ]

    def next_file_id(self) -> int:
        """The id the next file offered gets (server_files.py): ids go on from the last run."""
        try:
            row = self.db.execute("SELECT value FROM settings WHERE key = 'next_file_id'").fetchone()
        except sqlite3.OperationalError:  # a read-only file from before moderation: no settings
            return 1
        from .files import id_number  # garbage (a hand edit, another program) starts again at 1

        return (id_number(str(row[0])) if row is not None else None) or 1

    def set_next_file_id(self, value: int) -> None:
        """Keep the next file id (actions.NextFileId), so an id is never given to two files."""
        with self._writing():
            self.db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('next_file_id', ?)", (str(value),))

    def room_mode(self) -> str | None:
        """The mode the room was last in (actions.KeepMode), or None if none was kept."""
        try:
            row = self.db.execute("SELECT value FROM settings WHERE key = 'mode'").fetchone()
        except sqlite3.OperationalError:  # a read-only file from before moderation: no settings
            return None
        return str(row[0]) if row is not None and row[0] in ("duplex", "turn") else None  # garbage: none

    def set_room_mode(self, mode: str) -> None:
        """Keep the room's mode (actions.KeepMode), so a restart resumes it."""
        with self._writing():
            self.db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('mode', ?)", (mode,))

    def restricted(self) -> tuple[str, ...]:
        """What /restrict last left turned off for students (actions.KeepRestrict): none kept, or garbage, is nothing."""
        try:
            row = self.db.execute("SELECT value FROM settings WHERE key = 'restrict'").fetchone()
        except sqlite3.OperationalError:  # a read-only file from before moderation: no settings
            return ()
        kept = str(row[0]).split(",") if row is not None else []
        return tuple(kind for kind in ev.RESTRICT_KINDS if kind in kept)

    def set_restricted(self, kinds: tuple[str, ...]) -> None:
        """Keep what is restricted (actions.KeepRestrict), so a restart holds it: "dm,files", or "" for nothing."""
        with self._writing():
            self.db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('restrict', ?)", (",".join(kinds),))

    def room_topic(self) -> ev.Topic | None:
        """The topic /topic last left (actions.KeepTopic), or None: none kept, or not as lanchat writes it."""
        try:
            row = self.db.execute("SELECT value FROM settings WHERE key = 'topic'").fetchone()
        except sqlite3.OperationalError:  # a read-only file from before moderation: no settings
            return None
        return rows_ok.topic_from(row[0]) if row is not None else None

    def set_room_topic(self, topic: ev.Topic | None) -> None:
        """Keep the room's topic (actions.KeepTopic; None: cleared), so a restart still has it."""
        with self._writing():
            if topic is None:
                self.db.execute("DELETE FROM settings WHERE key = 'topic'")
            else:
                value = json.dumps({"text": topic.text, "by": topic.by, "time": topic.time}, ensure_ascii=False)
                self.db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('topic', ?)", (value,))

    def operator_keys(self) -> list[tuple[str, str]]:
        """(key fingerprint, name) of each identity key given operator status with /op and not
        taken back (actions.StoreOperator): what the room starts with."""
        try:
            rows = self._read("SELECT key, name FROM operators ORDER BY rowid")
        except sqlite3.OperationalError:  # a read-only file from before operators were kept: none
            return []
        return [(row[0], row[1]) for row in self._usable(rows, rows_ok.operator_ok)]

    def add_operator(self, key: str, name: str) -> None:
        """Keep operator status given to ``key`` (actions.StoreOperator)."""
        with self._writing():
            self.db.execute("INSERT OR REPLACE INTO operators (key, name) VALUES (?, ?)", (key, name))

    def drop_operator(self, key: str) -> None:
        """Operator status taken from ``key`` (actions.DropOperator)."""
        with self._writing():
            self.db.execute("DELETE FROM operators WHERE key = ?", (key,))

    def bans(self) -> list[Ban]:
        """The bans in force, oldest first: what the room starts with."""
        try:
            extra = ", newcomers, known_keys" if self._has_ban_columns() else ", NULL, NULL"
            rows = self._read(f"SELECT id, name, name_key, key, address, by_name, reason, time{extra} FROM bans ORDER BY id")
        except sqlite3.OperationalError:  # a read-only file from before moderation: no bans
            return []
        return [
            Ban(id=r[0], name=r[1], name_key=r[2], key=r[3], address=r[4], by=r[5], reason=r[6], time=r[7], **_at_shared_place(r[8], r[9]))
            for r in self._usable(rows, lambda row: rows_ok.ban_ok(row[:8]))
        ]

    def keep_act(self, act: ev.Moderated) -> None:
        """Keep a moderation act for the record (room.Record)."""
        with self._writing():
            self.db.execute(
                "INSERT INTO acts (time, action, by_name, name, reason, minutes, mode) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (act.time, act.action, act.by, act.name, act.reason, act.minutes, act.mode or ",".join(act.kinds) or None),
            )  # (a restrict's kinds in the mode column: "dm,files"; _act_from reads them back)

    def acts(self) -> list[ev.Moderated]:
        """Every moderation act kept, oldest first."""
        try:
            rows = self._read("SELECT time, action, by_name, name, reason, minutes, mode FROM acts ORDER BY id")
        except sqlite3.OperationalError:
            return []
        return [_act_from(r) for r in self._usable(rows, rows_ok.act_ok)]


def _act_from(row: tuple) -> ev.Moderated:
    """One row of the acts table (time, action, by_name, name, reason, minutes, mode) as the act;
    a restrict's or unrestrict's kinds are kept in the mode column (keep_act)."""
    time, action, by, name, reason, minutes, mode = row
    if action in ("restrict", "unrestrict"):
        kinds = tuple(kind for kind in ev.RESTRICT_KINDS if kind in str(mode or "").split(","))
        return ev.Moderated(time=time, action=action, by=by, name=name, reason=reason, kinds=kinds)
    return ev.Moderated(time=time, action=action, by=by, name=name, reason=reason, minutes=minutes, mode=mode)


class _Reading(_Rows):
    """The reads a room and `lanchat history` make: the names seen, the newest messages, a
    person's direct messages, what a join replays, and the whole file for an export (or what
    can be saved of a damaged one). Part of HistoryStore (the same file), kept apart so each
    reads in one screen."""

    journal: Journal | None  # HistoryStore's (the server's; salvage reads a reader's journal file)
    journal_path: Path
    unreadable: list[tuple[int, int | None]]  # salvage's: the (first, last) id of each part that could not be read

    @functools.cached_property
    def _columns(self) -> str:
        """What reads of messages select: _COLUMNS, then whether the row is a /me (ACTION). A
        file from before names had owners, read without adding the column (a reader, an archive),
        has no /me in it: 0."""
        try:
            names = {row[1] for row in self.db.execute("PRAGMA main.table_info(messages)")}
        except sqlite3.DatabaseError:  # a damaged file's reader: as lanchat writes it
            names = set()
        return f"{_COLUMNS}, {_ACTION_COLUMN if 'sender_owner' in names or not names else '0'}"

    @functools.cached_property
    def _replay(self) -> str:
        """replay_for's statement (_REPLAY) with the store's ``_columns``."""
        return _REPLAY.format(columns=self._columns)

    def count(self) -> int:
        self._settle()
        return int(self.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    def recent(self, n: int, *, before: int | None = None) -> list[Record]:
        """The last ``n`` room messages (older than id ``before``), oldest first."""
        self._settle()
        rows = self._read(
            f"SELECT {self._columns} FROM messages WHERE recipient IS NULL AND id < ? ORDER BY id DESC LIMIT ?",
            (before if before is not None else 2**62, max(n, 0)),
        )
        return [_record(row) for row in reversed(self._usable(rows, rows_ok.message_ok))]

    def directs_for(self, name: str, owner: bytes | None, *, since: int = 0, limit: int = 1000) -> list[Record]:
        """Direct messages sent to ``name`` while ``owner``'s key owned it, with an id above
        ``since``, oldest first. No owner (a keyless guest): none."""
        self._settle()
        if owner is None:
            return []
        rows = self._read(
            f"SELECT {self._columns} FROM messages WHERE recipient_key = ? AND recipient_owner = ? AND id > ? ORDER BY id LIMIT ?",
            (ev.name_key(name), owner, since, limit),
        )
        return [_record(row) for row in self._usable(rows, rows_ok.message_ok)]

    def replay_for(
        self,
        name: str,
        limit: int,
        *,
        owner: bytes | None,
        before: int | None = None,
        away_since: int | None = None,
        max_bytes: int | None = None,
    ) -> tuple[list[Record], bool]:
        """What ``name``, holding key ``owner``, may see: the last ``limit`` entries among room
        messages and their own direct messages (sent or received under that key), older than id
        ``before``; with ``away_since`` (on joining) also every direct message sent to them after
        that id, however old the window. Oldest first, plus whether older entries remain.
        ``max_bytes``: the newest are read only until their texts hold more than that (the
        replay's frame budget): then fewer come back, with older ones remaining.

        A direct message is theirs only if this key owned the name when it was sent: never
        another's, never one sent to the name's earlier owner, none to a keyless guest.
        """
        self._settle()
        key = ev.name_key(name)
        upper = before if before is not None else 2**62
        rows, cut = self._read_newest(self._replay, (upper, key, owner, max(limit, 0) + 1), max_bytes)
        more = len(rows) > limit or cut
        window = [_record(row) for row in reversed(self._usable(rows[:limit], rows_ok.message_ok))]
        if away_since is not None:
            oldest = window[0].id if window else upper
            missed = [r for r in self.directs_for(name, owner, since=away_since) if r.id < oldest]
            window = missed + window
        return window, more

    def export(self, *, since: float | None = None) -> Iterator[Record]:
        """Every message in order (from time ``since`` on), for a transcript. Text that is not
        UTF-8 is read with U+FFFD (_read): a walk of the whole file cannot be tried again."""
        self._settle()
        self.db.text_factory = _text
        try:
            cursor = self.db.execute(
                f"SELECT {self._columns} FROM messages WHERE time >= ? ORDER BY id",
                (since if since is not None else float("-inf"),),
            )
            for row in cursor:
                if rows_ok.message_ok(row):
                    yield _record(row)
                else:
                    self.skipped += 1
        finally:
            self.db.text_factory = str

    def salvage(self, *, since: float | None = None) -> Iterator[Record]:
        """``export`` for a damaged file (opened with check=False): every message that can still
        be read, in order, going on past each damaged part, then the journal's newer rows;
        ``unreadable`` holds the (first, last) id of each part that could not be read (last
        None: from there on, as far as anything says). For ``lanchat history``."""
        self.unreadable = []
        self.db.text_factory = _text
        try:
            journal = read_rows(self.journal_path) if self.journal is None else []
        except (JournalDamaged, OSError):
            journal = []
        newest = 0
        try:
            beyond = journal[0][0] - 1 if journal else None
            for row in _readable_rows(self.db, since, self.unreadable, beyond=beyond, columns=self._columns):
                newest = row[0]
                yield from self._checked([row])
        finally:
            self.db.text_factory = str
        later = [(*row[:5], row[3] is None and row[5] == ACTION) for row in journal if row[0] > newest]
        yield from self._checked([row for row in later if since is None or (isinstance(row[1], (int, float)) and row[1] >= since)])

    def _checked(self, rows: list[tuple]) -> Iterator[Record]:
        for row in rows:
            if rows_ok.message_ok(row):
                yield _record(row)
            else:
                self.skipped += 1


class _Away(_Rows):
    """Who has been in the room and when: names.last_seen, the newest id while each name was here,
    decides which direct messages were sent while they were away (replay_for's ``away_since``),
    and dropped_held counts those dropped (by age, the size cap) before they came back, so they
    hear of it once. Part of HistoryStore (the same file), kept apart so each reads in one screen."""

    def known_names(self) -> list[str]:
        """Everyone who has ever been in the room, as last spelled, the most recently seen last
        (room.RecentNames keeps the newest when there are too many)."""
        self._settle()
        rows = self._read("SELECT name, last_seen FROM names ORDER BY last_seen, name")
        return [row[0] for row in self._usable(rows, rows_ok.seen_ok)]

    def last_seen(self, name: str) -> int | None:
        self._settle()
        row = self.db.execute("SELECT last_seen FROM names WHERE key = ?", (ev.name_key(name),)).fetchone()
        return row[0] if row is not None and rows_ok.is_id(row[0]) else None

    def mark_seen(self, name: str) -> None:
        """``name`` is here (joining) or was until now (leaving): direct messages up to the
        newest id are theirs already, so only later ones count as sent while away (and those
        dropped meanwhile were told on joining, or were theirs live: held_dropped starts again)."""
        with self._writing():
            self.db.execute(
                "INSERT INTO names (key, name, last_seen) VALUES (?, ?, (SELECT IFNULL(MAX(id), 0) FROM messages)) "
                "ON CONFLICT(key) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen",
                (ev.name_key(name), name),
            )
            self.db.execute("DELETE FROM dropped_held WHERE key = ?", (ev.name_key(name),))

    def _add_dropped_held(self) -> None:
        """The dropped_held table (DROPPED_HELD_TABLE), in a file of any age that lacks it."""
        with self._transaction():
            self.db.execute(DROPPED_HELD_TABLE)

    def held_dropped(self, name: str, owner: bytes | None) -> int:
        """How many direct messages kept for ``name`` under ``owner``'s key while they were away
        were dropped (by age or the size cap) before they came back; ``mark_seen`` forgets them.
        None to a keyless guest, none in a file without the table (an archive, a reader)."""
        self._settle()
        if owner is None:
            return 0
        try:
            row = self.db.execute("SELECT count FROM dropped_held WHERE key = ? AND owner = ?", (ev.name_key(name), owner)).fetchone()
        except sqlite3.OperationalError:  # no such table
            return 0
        return row[0] if row is not None and rows_ok.is_id(row[0]) else 0


def _free_bytes(folder: Path) -> int:
    """The free space on ``folder``'s disk; shutil imported only here, when the disk may be full
    (an idle server never loads it, nor zlib, bz2 and lzma with it: bench/idle_memory.py)."""
    import shutil

    return shutil.disk_usage(folder).free


class _Opening(_Rows):
    """Opening the file: what the path leads to checked before SQLite opens it (a folder, a pipe, a
    link in a loop), the new file made private, the connection, SQLite's check of the file, the
    schema made or brought up to date (each part's tables added to a file of any age, the name
    keys recomputed by today's rule), and a failure worded for the person who started it (the
    disk full, not the file bad). Part of HistoryStore (the same file), kept apart so each
    reads in one screen; HistoryStore.__init__ calls these in order."""

    path: Path
    _real: Path  # where the path leads (through a link)
    journal_path: Path
    writable: bool
    readonly_reason: str | None

    if TYPE_CHECKING:  # the other parts' own, called here
        def _unlock(self, *, refused: bool = False) -> None: ...
        def _add_owners(self) -> None: ...
        def _add_ban_columns(self) -> None: ...
        def _add_dropped_held(self) -> None: ...
        def _add_seen_keys(self) -> None: ...

    def _check_path(self, *, create: bool) -> None:
        """Refuse what cannot be a history file before SQLite opens it (HistoryUnusable); a path
        the system cannot even look at (a name too long, a folder we may not search) too; and one
        this user may not read (HistoryNotYours)."""
        try:
            self._check_kind(create=create)
        except PermissionError:
            raise  # (worded where it is opened: "cannot read PATH: Permission denied")
        except OSError as exc:
            raise HistoryUnusable(f"cannot use {self.path}: {(exc.strerror or str(exc)).lower()}") from None
        self._check_readable()
        if create:
            self._check_not_planted()
        self._check_not_a_start()

    def _check_kind(self, *, create: bool) -> None:
        for file in (self.path, self.journal_path):  # exists() says False for a link loop: it reached resolve()
            if os.path.islink(file) and not os.path.exists(file) and os.path.islink(os.path.realpath(file)):
                raise HistoryUnusable(f"{file} is a link that leads round in a loop, not a history file")
        if not create and not self.path.exists():
            raise HistoryUnusable(f"{self.path}: no such history file")
        if self.path.is_dir():
            raise HistoryUnusable(f"{self.path} is a folder, not a history file")
        for file in (self.path, self.journal_path):  # a pipe would block a reader's open for good
            if file.exists() and not file.is_file():
                what = "a folder" if file.is_dir() else "not a regular file (a pipe, a device, a socket)"
                raise HistoryUnusable(f"{file} is {what}, not a history file")
        for suffix in ("-wal", "-journal"):  # SQLite's own files beside it: one that is a folder was
            side = self._real.with_name(self._real.name + suffix)  # "not a usable history database"
            if side.is_dir():
                raise HistoryUnusable(
                    f"{side} is a folder where SQLite keeps a file of {self.path.name}'s own; move that folder aside "
                    f"({self.path.name} itself was left untouched)"
                )

    def _check_readable(self) -> None:
        """Refuse a history this user may not read, in those words (HistoryNotYours): the file,
        its journal or SQLite's files beside it another user's. SQLite said only "unable to open
        database file" (with "move it aside": another's history, lost), and a journal it may not
        read was a traceback at the first read (read_rows). A file not there yet is made."""
        sqlites = self._real.name
        beside = {
            self._real: "",
            self.journal_path: f" (the newest messages of {self.path.name}, kept beside it)",
            self._real.with_name(sqlites + "-wal"): f" (SQLite's file of {self.path.name}'s newest changes)",
            self._real.with_name(sqlites + "-shm"): f" (SQLite's file beside {self.path.name})",
        }
        for file, what in beside.items():
            if os.path.isfile(file) and not os.access(file, os.R_OK):
                try:
                    owner = _user(os.stat(file).st_uid)
                except OSError:  # (gone meanwhile: SQLite's open says what is there now)
                    continue
                me = _user(os.geteuid())
                whose = f"it belongs to user {owner}, not to you ({me})" if owner != me else "permission denied"
                raise HistoryNotYours(f"cannot read {file}{what}: {whose}", owner)

    def _check_not_planted(self) -> None:
        """Refuse, for the server, a history another user (not root) may have put where it is
        opened, as the kernel's protected_regular refuses such a file in /tmp: theirs and writable
        by anyone, or theirs in a folder anyone may write (sticky, as /tmp; one that is not sticky is
        refused whatever is in it: anyone may swap files there after any look). Another user made
        class.sqlite3 and its journal there, 0666, before a teacher's (or root's) serve: the room's
        messages, direct ones too, went into files they read. So too SQLite's -wal and -shm beside
        it, planted before the first start (the -wal got every line; the -shm indexes it). A class
        folder shared by a group, the history another teacher's, is not such a folder and stays
        theirs to share. (The journal has a rule of its own: Journal's owner, the history's.)"""
        folder = self._real.parent
        try:
            mode = os.stat(folder).st_mode
        except OSError:  # (SQLite's open says what is there)
            return
        open_folder = bool(mode & stat.S_IWOTH)  # sticky, as /tmp: nobody may take another's file away
        if open_folder and not mode & stat.S_ISVTX:
            # not sticky: anyone may rename this server's own files away and put theirs in their
            # place between any look and any open, so no check here can hold (h-attack5's list)
            raise HistoryUnusable(
                f"{folder} may be written by anyone and is not sticky (as /tmp is): anyone may swap {self.path.name} "
                "there for a file of their own, to read this room's messages (direct ones too) or to add to them; "
                f"nothing was written: keep the history in a folder of your own (--history PATH), or make that one "
                f"sticky (chmod +t {folder})"
            )
        sqlites = self._real.name
        for file, what in ((self._real, ""), (self._real.with_name(sqlites + "-wal"), f" (SQLite's file of {self.path.name}'s newest changes)"),
                           (self._real.with_name(sqlites + "-shm"), f" (SQLite's file beside {self.path.name})")):  # fmt: skip
            try:
                info = os.lstat(file)
            except OSError:  # (not there: made, ours)
                continue
            if info.st_uid in (0, os.geteuid()) or not (open_folder or info.st_mode & stat.S_IWOTH):
                continue
            where = f"in {folder}, a folder anyone may write to" if open_folder else "and anyone may write to it"
            raise HistoryUnusable(
                f"{file if what else self.path}{what} belongs to user {_user(info.st_uid)}, {where}: they may have put it "
                "there to read this room's messages (direct ones too) or to add to them; nothing was written: keep the "
                "history in a folder of your own (--history PATH)"
            )
        _refuse_swappable_folders(self.path, self._real)  # (a planted file is named first: the plainer news)

    def _looked_at_again(self, made: list[Path]) -> None:
        """_check_not_planted again, once _claim_sqlite_files ``made`` SQLite's files ours: any
        that appeared since the first look refuses the start, and ours go."""
        try:
            self._check_not_planted()
        except HistoryUnusable:
            for file in made:
                with contextlib.suppress(OSError):
                    os.unlink(file)
            self._unlock(refused=True)
            raise

    def _check_not_a_start(self) -> None:
        """Refuse a file too short to hold SQLite's header that does not begin as one: SQLite
        takes a file of one byte (`echo > class.sqlite3` leaves its newline) for an empty
        database, and serve made it a history, the byte gone; a longer one SQLite refuses itself."""
        try:
            size = os.path.getsize(self._real)
            if not 0 < size < _HEADER_BYTES:
                return
            with open(self._real, "rb") as file:
                start = file.read(len(_SQLITE_MAGIC))
        except OSError:  # (not there: made; gone meanwhile: SQLite's open says what is there now)
            return
        if start != _SQLITE_MAGIC[: len(start)]:
            raise HistoryUnusable(f"{self.path} is not a usable history database: file is not a database")

    def _make_private(self) -> None:
        """A new history file is its owner's only (-rw-------): it keeps direct messages, and
        SQLite gives its -wal and -shm the file's mode. Made empty here, before SQLite opens
        it, as the identity key is; a file there already keeps the mode its owner gave it. Made
        where the path leads: through a link, the open would find the link there already."""
        try:
            os.close(os.open(self._real, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        except OSError as exc:
            # A folder we may not write (a read-only stick, another's folder): said here, in the
            # system's words, where SQLite would say only "unable to open database file". A full
            # disk is left to SQLite's open, which says it as such (_disk_full).
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                self._unlock(refused=True)
                raise HistoryUnusable(f"cannot create {self.path}: {(exc.strerror or str(exc)).lower()}") from None

    def _connect(self, *, create: bool, existed: bool) -> sqlite3.Connection:
        """SQLite's connection to the file (HistoryUnusable if it cannot be made)."""
        if create:  # (in a folder anyone may write: SQLite's -wal and -shm made ours first, all three looked at again)
            self._looked_at_again(_claim_sqlite_files(self._real))
        uri = self.path.resolve().as_uri() + ("" if create else "?mode=ro")
        wal = self._real.with_name(self._real.name + "-wal")
        if existed and not os.access(self._real.parent, os.W_OK) and not wal.exists():
            # A read-only folder (a USB stick mounted read-only; root too: EROFS): SQLite cannot
            # make the -shm file a WAL file needs even to be read ("unable to open database
            # file"), so the file is read as immutable: an archive. Not with a -wal beside it
            # (power lost while a server ran; a server of another user writing): immutable
            # ignores the -wal, and the newest messages, in it, would be left out unsaid.
            uri = self.path.resolve().as_uri() + "?mode=ro&immutable=1"
        try:
            # isolation_level=None: autocommit, so every append is one committed transaction.
            # check_same_thread=False: the store is opened in the main thread and then used only
            # by the server loop's thread, never by two at once.
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=2.0)
            # temp.pending (the journal's rows, at most move_rows) in memory: never a file in a
            # temporary folder that may be on the full disk itself
            db.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.Error as exc:
            self._unlock(refused=True)
            raise self._disk_full(exc, existed) or HistoryUnusable(f"cannot open {self.path}: {_describe(exc)}") from None
        return db

    def _disk_full(self, exc: BaseException, existed: bool) -> HistoryDiskFull | None:
        """A failure to open that is the disk's, not the file's: SQLite says "disk I/O error" (it
        cannot make its shared-memory file) or "database or disk is full", and the folder has
        next to no room. Said as such: the advice for a bad file (move it aside) would be wrong. An
        empty file this open made is removed, so nothing is left that was not there."""
        code = getattr(exc, "sqlite_errorcode", None)
        if not isinstance(exc, sqlite3.Error) or code is None or code & 0xFF not in (_SQLITE_IOERR, _SQLITE_FULL):
            return None
        try:
            free = _free_bytes(self._real.parent)  # through a link: the disk the file is on
        except OSError:
            return None
        if free >= _NEARLY_FULL_BYTES:
            return None
        if not existed:
            with contextlib.suppress(OSError):
                if self._real.stat().st_size == 0:
                    self._real.unlink()  # the file this open made, never the user's link to it
        return HistoryDiskFull(f"cannot open {self.path}: the disk it is on is full ({free // 1024} KiB free)")

    def _check_and_prepare(self, *, fresh: bool, create: bool, check: bool) -> None:
        db = self.db
        if not create and not check:  # a reader of a damaged file: one cut short is read as far as it goes
            db.execute("PRAGMA writable_schema = ON")  # (SQLite refuses a file shorter than its header says, unless)
        # Reading the header and schema is what fails first on a file that is not SQLite.
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not fresh and app_id != APPLICATION_ID and (tables or app_id):
            raise HistoryUnusable(f"{self.path} is a database, but not a lanchat history; choose another file")
        if check:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise HistoryDamaged(f"{self.path} is damaged ({_first_problem(problems)})")
        if not create:
            return
        try:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            db.execute("PRAGMA synchronous = NORMAL")  # why: see the module docstring
            # A checkpoint (the WAL copied into the file, two fsyncs) every 4,000 pages instead of
            # 1,000: at full speed 0.08 us a message less, a WAL of up to 16 MB with 4 KiB pages.
            db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
            if app_id != APPLICATION_ID or "messages" not in tables:
                with self._transaction():
                    # one statement at a time: executescript() would commit halfway
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            else:
                # A write probe, rolled back: a read-only file opens and reads fine (even
                # BEGIN IMMEDIATE succeeds in WAL mode) and only refuses the first real write.
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO names (key, name, last_seen) VALUES ('', '', 0)")
                db.execute("ROLLBACK")
            if "messages" in tables:
                self._add_owners()
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch to WAL mode (still {mode})")
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if "messages" not in tables and app_id != APPLICATION_ID:
                raise HistoryUnusable(f"cannot create a history in {self.path}: {_describe(exc)}") from None
            self.writable = False
            self.readonly_reason = _describe(exc)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryUnusable(f"{self.path} was written by a newer lanchat (schema {version})")
        if self.writable:
            # Files made while SCHEMA had no room_messages index get it, once (about a second a
            # million messages). Older lanchats open the file as before (an index is never
            # required; the one before this drops it), so the schema version stays the same.
            with contextlib.suppress(sqlite3.Error):
                db.execute(_ROOM_INDEX)
            self._prepare_moderation()
            self._add_dropped_held()
            self._add_seen_keys()

    def _prepare_moderation(self) -> None:
        """The moderation tables, and name keys recomputed if an older rule made them
        (``Alice`` and ``аlice`` are one name now: their direct messages must meet)."""
        db = self.db
        with self._transaction():
            for statement in MODERATION_SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            self._add_ban_columns()
            row = db.execute("SELECT value FROM settings WHERE key = 'name_rule'").fetchone()
            if row is not None and row[0] == NAME_RULE:
                return
            db.create_function("lanchat_name_key", 1, _name_key_of, deterministic=True)
            db.execute(
                "UPDATE messages SET sender_key = lanchat_name_key(sender), "
                "recipient_key = CASE WHEN recipient IS NULL THEN NULL ELSE lanchat_name_key(recipient) END"
            )
            # Two old keys may now be one: keep the newest spelling and last_seen of each.
            names = self._read("SELECT key, name, last_seen FROM names ORDER BY last_seen")
            db.execute("DELETE FROM names")
            db.executemany(
                "INSERT OR REPLACE INTO names (key, name, last_seen) VALUES (?, ?, ?)",
                [(_name_key_of(name, key), name, seen) for key, name, seen in names],
            )
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "owners" in tables:  # name ownership (PROTOCOL.md, Identity): the first claim keeps a name
                owners = self._read("SELECT key, name, public_key, since FROM owners ORDER BY since DESC")
                db.execute("DELETE FROM owners")
                db.executemany(
                    "INSERT OR REPLACE INTO owners (key, name, public_key, since) VALUES (?, ?, ?, ?)",
                    [(_name_key_of(name, old), name, key, since) for old, name, key, since in owners],
                )
            db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('name_rule', ?)", (NAME_RULE,))


class _Journaled(_Rows):
    """The journal (history_journal.py, the module docstring's "Durability"): its lock (one server
    per file), what a killed server left in it moved in at start, then moved into SQLite when it
    is due (``move_rows``, ``move_seconds``) or before any other statement; the newest id given,
    which the next message numbers on from; and for a reader (or a move that failed), its rows
    shown through a temporary view. Knows nothing of the rows held for a commit (_Writing).
    Part of HistoryStore (the same file), kept apart so each reads in one screen."""

    path: Path
    _real: Path  # (what the path leads to: HistoryStore)
    journal: Journal | None  # the server's; None for a reader
    journal_path: Path
    writable: bool
    clock: Callable[[], float]
    move_rows: int
    move_seconds: float
    on_stored: Callable[[], None] | None
    _next_id: int
    _retry_at: float | None
    _pending_view: bool

    def _lock(self) -> None:
        """Open and lock the journal before touching the database: one server per history. Not one
        planted beside it (_planted_journal)."""
        try:
            self.journal = Journal(self.journal_path, clock=self.clock)
        except JournalBusy:
            raise HistoryBusy(
                f"{self.path} is in use by another lanchat server (each server needs its own history file); "
                "give this one another file with --history PATH, or start it with --no-history"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP or os.path.islink(self.journal_path):  # (another's link in /tmp: EACCES)
                raise HistoryUnusable(self._planted_journal("is a link, which a history's journal never is")) from None
            if not Journal.not_writable(exc):
                raise HistoryUnusable(f"cannot open {self.journal_path}: {exc.strerror or exc}") from None
            # a read-only folder: the store is an archive (writable False), readers' way below
        if self.journal is not None and not self.journal.created:
            owner, history_owner = os.fstat(self.journal.fd).st_uid, os.geteuid()
            with contextlib.suppress(OSError):
                history_owner = os.stat(self._real).st_uid  # (teachers sharing a class folder: the history's owner's is theirs too)
            if owner not in (os.geteuid(), history_owner):  # (one this user made: a start under sudo before)
                self._unlock()
                raise HistoryUnusable(self._planted_journal(f"belongs to user {_user(owner)}, not to the history's owner ({_user(history_owner)})"))

    def _planted_journal(self, what: str) -> str:
        """A journal another user may have put beside a history in a folder others may write (/tmp,
        a class folder): the server wrote every message, direct ones too, into a file of theirs (or
        where their link led) and moved in, at its next start, the rows they wrote there."""
        return (f"{self.journal_path} (the newest messages of {self.path.name}, kept beside it) {what}: another user "
                "may have put it there, to read the room's messages or add to them; nothing was written: move it "
                "aside and start again, or keep the history in a folder of your own")

    def _unlock(self, *, refused: bool = False) -> None:
        if self.journal is not None:
            self.journal.close(remove_if_empty=refused)
            self.journal = None

    def _start_journal(self) -> None:
        """Move in what a killed server left in the journal, then number on from the newest id."""
        if self.journal is not None and not self.writable:
            self._unlock(refused=True)  # an archive: its leftover journal is only read
        if self.journal is not None:
            try:
                leftover = self.journal.read_leftover()
            except (JournalDamaged, OSError) as exc:
                raise HistoryUnusable(
                    f"{self.journal_path} (the newest messages of {self.path.name}) is damaged: {exc}; "
                    f"{self.path.name} itself was left untouched: move the damaged file aside (its "
                    "messages are lost) and start again"
                ) from None
            if leftover:
                self.journal.rows = _after_an_older_lanchat(self.db, leftover, self._newest_id())
                try:
                    if self.journal.rows:
                        self._move()
                    else:
                        self._empty_journal()
                except HistoryWriteError:
                    pass  # still in the journal: moved later, and read from there until then
        if self.journal is not None:
            self._remember_file()  # type: ignore[attr-defined]  # (_PutBack's: the file deleted while the room runs)
        try:
            self._next_id = self._newest_id() + 1
        except sqlite3.DatabaseError:
            if self.journal is not None:
                raise
            # a reader of a damaged file (lanchat history, check=False) numbers nothing: it reads
            # what it can, and the newest page is often where the damage is

    def _newest_id(self) -> int:
        """The newest id given so far: in the table, the journal, or dropped (drop_oldest)."""
        newest = self.db.execute("SELECT IFNULL(MAX(id), 0) FROM main.messages").fetchone()[0] if self._has_messages() else 0
        rows = self.journal.rows if self.journal is not None else ()
        try:
            dropped = self.db.execute("SELECT value FROM main.settings WHERE key = 'dropped_through'").fetchone()
        except sqlite3.OperationalError:  # a file from before settings
            dropped = None
        value = str(dropped[0]) if dropped is not None else ""  # (damaged: "²" is a digit to isdigit, not to int)
        dropped_id = int(value) if value.isascii() and value.isdigit() and len(value) < 20 else 0
        dropped_id = dropped_id if rows_ok.is_id(dropped_id) else 0  # (nor past what the wire can carry)
        return max(int(newest), rows[-1][0] if rows else 0, dropped_id)

    def _empty_journal(self) -> None:
        """Every row the journal held is stored already (_after_an_older_lanchat): emptied, or
        read again, and found stored again, at the next start."""
        if self.journal is not None:
            with contextlib.suppress(OSError):
                self.journal.clear()

    def _has_messages(self) -> bool:
        return self.db.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'messages'").fetchone() is not None

    def _move(self) -> int:
        """Move the journal's rows into SQLite (one transaction) and empty it. Idempotent: rows
        keep their ids, so a row a crash left in both places is not stored twice."""
        journal = self.journal
        if journal is None or not journal.rows:
            return 0
        rows = journal.rows
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self._insert(rows, ignore=True)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise _write_error(exc) from None
        self._retry_at = None
        if self.on_stored is not None:
            self.on_stored()
        try:
            journal.clear()
        except OSError as exc:  # stored: moved again (and ignored) next time
            raise _write_error(exc, f"cannot empty {self.journal_path}: {exc.strerror or exc}") from None
        return len(rows)

    def _insert(self, rows: list[Row], *, ignore: bool = False) -> None:
        """INSERT ``rows`` in statements of many rows each (128, 64, ..., 1 room messages; 64, 32,
        ..., 1 direct messages): one INSERT per row pays the statement overhead per row (5.3 us a
        row one by one, 3.0 us many per statement, bench/history_bench.py), and a room message
        binds 5 values, not 9 (_ROOM_VALUES). At most 15 texts stay in SQLite's statement cache.
        Ids are given, so the room and direct messages of a batch may go in separately."""
        room, directs = _values(rows)
        execute = self.db.execute
        count = len(room) // 5
        at = 0
        size = _MAX_ROOM_ROWS_PER_INSERT
        while at < count:
            while count - at < size:
                size //= 2
            execute(_insert_rows(size, ignore=ignore, room=True), room[at * 5 : (at + size) * 5])
            at += size
        at = 0
        size = _MAX_ROWS_PER_INSERT
        while at < len(directs):
            while len(directs) - at < size:
                size //= 2
            execute(_insert_rows(size, ignore=ignore), [value for row in directs[at : at + size] for value in row])
            at += size

    def move_deadline(self) -> float | None:
        """When (on ``clock``) the journal must be moved into SQLite; None while it is empty,
        so an idle server has nothing to wake up for."""
        journal = self.journal
        if journal is None or journal.oldest is None:
            return None
        due = journal.oldest if len(journal.rows) >= self.move_rows else journal.oldest + self.move_seconds
        return due if self._retry_at is None else max(due, self._retry_at)

    def move_if_due(self) -> int:
        """Move the journal if it holds ``move_rows`` rows or its oldest is ``move_seconds`` old;
        returns the rows moved. The server calls it every pass (hub.expire)."""
        due = self.move_deadline()
        if due is None or due > self.clock() or self.db.in_transaction:
            return 0
        try:
            return self._move()
        except HistoryWriteError:
            self._retry_at = self.clock() + self.move_seconds  # not at every pass: the loop would spin
            raise

    def _move_or_show(self, journal: Journal) -> None:
        """Move the journal in before a statement; when that fails (a full disk: SQLite cannot
        grow, the journal could), the statement reads its rows through the view readers use, so
        a newcomer's replay and /history still show them (they showed nothing, not even the
        older history). A failed move is not tried again before ``_retry_at``."""
        if self._retry_at is None or self.clock() >= self._retry_at:
            try:
                self._move()
            except HistoryWriteError:
                self._retry_at = self.clock() + self.move_seconds
            else:
                if self._pending_view:
                    self._hide_journal()
                return
        try:
            self._read_journal(journal.rows)
        except sqlite3.Error as exc:
            raise _write_error(exc) from None

    def _hide_journal(self) -> None:
        """The journal's rows are in SQLite now: reads go to the table again, not the view."""
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("DROP VIEW IF EXISTS temp.messages")
            self.db.execute("DROP TABLE IF EXISTS temp.pending")
            self._pending_view = False

    def _read_journal(self, rows: list[Row] | None = None) -> None:
        """For a reader: the journal's rows, read now, in ``temp.pending``, and a temporary view
        ``messages`` (it hides the table for this connection) that adds those not in the file.
        Read the journal first, the file second: see the module docstring, "Readers". The
        server passes the ``rows`` it holds (a move that failed: _move_or_show)."""
        if rows is None:
            rows = read_rows(self.journal_path)
            with contextlib.suppress(sqlite3.DatabaseError):  # (a damaged file: its rows as they are)
                newest = self.db.execute("SELECT IFNULL(MAX(id), 0) FROM main.messages").fetchone()[0]
                rows = _after_an_older_lanchat(self.db, rows, max(newest, rows[-1][0])) if rows else rows
        if not rows and not self._pending_view:
            return
        db = self.db
        if not self._pending_view:
            db.execute(f"CREATE TEMP TABLE pending AS SELECT {_ALL_COLUMNS} FROM main.messages WHERE 0")
            db.execute(
                f"CREATE TEMP VIEW messages AS SELECT {_ALL_COLUMNS} FROM main.messages UNION ALL "
                f"SELECT {_ALL_COLUMNS} FROM temp.pending WHERE id NOT IN (SELECT id FROM main.messages)"
            )
            self._pending_view = True
        db.execute("DELETE FROM temp.pending")
        db.executemany(f"INSERT OR IGNORE INTO temp.pending ({_ALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", map(_row, rows))


class _Writing(_Journaled):
    """The messages' writes, on the message path: ``keep``, ``keep_said`` and ``keep_action`` hold a
    pass's messages (each numbered now), and ``commit`` stores them before the server writes a
    byte of that pass to any socket: one write to the journal, or one SQLite transaction for a
    busy pass; all or nothing. ``append`` stores one straight into SQLite. Rows held are written
    before any other statement (``_settle``), so ids stay the order things happened in. Part of
    HistoryStore (the same file), kept apart so each reads in one screen."""

    _kept: _Held  # what keep() and keep_said() hold for the next statement or commit()
    _uncommitted: int  # rows written into the open transaction since the last commit()

    def append(  # owners: as for keep()
        self, *, time: float, sender: str, text: str, to: str | None = None, commit: bool = True,
        sender_owner: bytes | None = None, recipient_owner: bytes | None = None,
    ) -> int:
        """Store one message (``to`` set for a direct message) straight into SQLite; committed
        before returning. With ``commit=False`` the row joins a transaction that ``commit()``
        ends. The server uses ``keep()`` and ``commit()`` instead (the journal)."""
        self._settle()  # rows kept earlier come first: ids are the order things happened in
        row = self._kept_row(time, sender, text, to, sender_owner, recipient_owner)
        try:
            if not commit and not self.db.in_transaction:
                self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(_insert_rows(1), _row(row))
        except sqlite3.Error as exc:
            self._renumber()
            raise _write_error(exc) from None
        if not commit:
            self._uncommitted += 1
        return row[0]

    def keep(  # owners: the keys that owned the two names of a direct message (PROTOCOL.md, Identity)
        self, *, time: float, sender: str, text: str, to: str | None = None,
        sender_owner: bytes | None = None, recipient_owner: bytes | None = None,
    ) -> None:
        """Hold one message (its id given now) for the next ``commit()``, which stores everything
        held in order with one write to the journal.

        The server keeps each message of a loop pass and commits once per pass, before it writes
        a byte of that pass to any socket: what anyone has received is already stored. Rows held
        here are written before any other statement of this store, so a read (a newcomer's
        replay, ``mark_seen``) sees them as it would have seen rows appended one by one.
        A failure to store them is raised by that statement or by ``commit()``.
        """
        kept = self._kept
        kept.rows.append(self._kept_row(time, sender, text, to, sender_owner, recipient_owner))
        kept.count += 1

    def keep_said(self, sender: str, times: list[float], texts: list[str]) -> None:
        """Hold room messages from one sender, ``times[i]`` and ``texts[i]`` each, as ``keep``
        would one by one (the server's short path: hub.py, ``Hub.say``). The lists are held as
        they are: a busy pass goes into SQLite with no Python per message (_insert_runs)."""
        first = self._next_id
        self._next_id = first + len(texts)
        self._kept.runs.append((first, sender, times, texts))
        self._kept.count += len(texts)

    def keep_action(self, *, time: float, sender: str, text: str) -> None:
        """Hold a /me for the next ``commit()``, as ``keep`` holds a room message: a room row
        marked ACTION, replayed as a /me (PROTOCOL.md, History replay)."""
        id_ = self._next_id
        self._next_id = id_ + 1
        self._kept.rows.append((id_, time, sender, None, text, ACTION, None))
        self._kept.count += 1

    def _kept_row(
        self, time: float, sender: str, text: str, to: str | None, sender_owner: bytes | None, recipient_owner: bytes | None
    ) -> Row:
        id_ = self._next_id
        self._next_id = id_ + 1
        if to is None:
            return (id_, time, sender, None, text, None, None)
        return (id_, time, sender, to, text, sender_owner, recipient_owner)

    def _renumber(self) -> None:
        """Rows were not stored after all: the next row takes the first free id again."""
        with contextlib.suppress(sqlite3.Error):
            self._next_id = self._newest_id() + 1

    def _settle(self) -> None:
        """Before any other statement: the journal moved in and the rows held by keep() written
        (into the transaction commit() ends), so everything reads as if stored one by one. A
        reader (not the server) sees the journal's rows through a temporary view instead."""
        journal = self.journal
        if journal is None:
            self._read_journal()
        elif journal.rows and not self.db.in_transaction:
            self._move_or_show(journal)
        elif self._pending_view and not journal.rows:
            self._hide_journal()
        self._write_kept()

    def _write_kept(self) -> None:
        """Insert the held rows into the open transaction (opening one), many rows per statement:
        a pass that reads the store between keep() and commit() stores in SQLite, as before the
        journal, so its commit stays all or nothing."""
        held = self._kept
        if not held.count:
            return
        self._kept = _Held()
        db = self.db
        try:
            if not db.in_transaction:
                db.execute("BEGIN IMMEDIATE")
            self._insert_held(held)
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")  # all or nothing: the transaction's earlier rows go too
            self._uncommitted = 0
            self._renumber()
            raise _write_error(exc) from None
        self._uncommitted += held.count

    def commit(self) -> int:
        """Store the rows ``keep()`` held and end the transaction that they or
        ``append(commit=False)`` opened; returns the rows it stored.

        Rows held since the last statement (the server's usual pass) go to the journal with one
        ``os.write`` (history_journal.py); ``move_if_due`` moves them into SQLite later.
        All or nothing: when a row cannot be written (a full disk), none of them is stored and
        HistoryWriteError is raised, so the server can refuse exactly the messages that were not
        stored (hub.py, PROTOCOL.md, History replay). They are not tried again."""
        journal = self.journal
        if journal is not None and self._kept.count and not self.db.in_transaction:
            held, self._kept = self._kept, _Held()
            if held.count >= BUSY_PASS_ROWS or held.count + len(journal.rows) >= self.move_rows:
                return self._commit_with_move(held)
            try:
                journal.append(held.all_rows())
            except OSError as exc:
                self._next_id = held.first_id()
                raise _write_error(exc, f"cannot write {self.journal_path}: {exc.strerror or exc}") from None
            return held.count
        self._write_kept()
        rows, self._uncommitted = self._uncommitted, 0
        if not self.db.in_transaction:
            return 0
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            self._renumber()
            raise _write_error(exc) from None
        return rows

    def _commit_with_move(self, held: _Held) -> int:
        """A busy pass (or one that fills the journal): the journal's rows and this pass's in one
        SQLite transaction, then the journal emptied. A failure stores none of the pass's rows
        and leaves the journal's where they were (HistoryWriteError, as for the journal)."""
        journal = self.journal
        assert journal is not None
        try:
            self.db.execute("BEGIN IMMEDIATE")
            if journal.rows:
                self._insert(journal.rows, ignore=True)
            self._insert_held(held)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            self._next_id = held.first_id()
            raise _write_error(exc) from None
        self._retry_at = None
        if self.on_stored is not None:
            self.on_stored()
        if journal.rows:
            with contextlib.suppress(OSError):  # stored: the journal's rows are moved (and ignored) again later
                journal.clear()
        return held.count

    def _insert_held(self, held: _Held) -> None:
        """INSERT what keep() and keep_said() held: long runs by _insert_runs, the rest as rows."""
        rows = list(held.rows)
        runs: list[Run] = []
        for run in held.runs:
            if len(run[3]) >= _MIN_RUN_ROWS:
                runs.append(run)
            else:
                first, sender, times, texts = run
                rows += [(first + i, times[i], sender, None, texts[i], None, None) for i in range(len(texts))]
        if rows:
            self._insert(rows)
        self._insert_runs(runs)

    def _insert_runs(self, runs: list[Run]) -> None:
        """INSERT runs of one sender's room messages, 256, 128, ..., 1 rows a statement: the sender,
        its key and the first id bound once, each row's time and text put in place by slice
        assignment (_insert_run): 0.85 -> 0.68 us a row in passes of 300 (bench/README.md,
        "Round 2, third session"). Ids are given, so the order of the INSERTs does not matter."""
        execute = self.db.execute
        for first, sender, times, texts in runs:
            sender_key = ev.name_key(sender)
            count = len(texts)
            at = 0
            size = _MAX_RUN_ROWS_PER_INSERT
            while at < count:
                while count - at < size:
                    size //= 2
                values: list[object] = [sender, sender_key, first + at, *([None] * (2 * size))]
                values[3::2] = times[at : at + size]
                values[4::2] = texts[at : at + size]
                execute(_insert_run(size), values)
                at += size


_SIDES = ("-wal", "-shm")  # the files SQLite keeps beside a database in WAL mode


class _PutBack(_Writing, _Opening):
    """The file deleted while the server runs (``rm class.sqlite3`` mid-lesson, a cleanup script):
    SQLite goes on writing into the deleted file, and at the stop everything was gone, its -wal and
    -shm left beside a path that held nothing, and the next start began empty. ``file_gone`` (after
    each move of the journal into SQLite, every few seconds at most and never per message; and at
    the stop: history_policy.DeletedFile) notices it by the path's inode, and ``put_back`` writes
    the whole history from the open database (SQLite's backup API) to a new file beside it, links
    that in at the path and goes on with it, so the stop loses nothing. A path that holds another
    file now is never overwritten: the history goes on in ``<name>.kept`` beside it, and it is said.
    Part of HistoryStore."""

    _file_id: tuple[int, int] | None = None  # the file SQLite has open (device, inode); None: not looked for
    _side_ids: tuple[tuple[int, int] | None, ...] = ()  # its -wal and -shm (device, inode), as _SIDES

    def _remember_file(self) -> None:
        """Which file the path leads to now (device, inode): the one SQLite has open; and its -wal
        and -shm, which SQLite keeps beside the path while it is open."""
        ids: list[tuple[int, int] | None] = []
        for path in (self._real, *(self._real.with_name(self._real.name + suffix) for suffix in _SIDES)):
            try:
                info = os.lstat(path) if path != self._real else os.stat(path)
            except OSError:
                ids.append(None)
            else:
                ids.append((info.st_dev, info.st_ino))
        self._file_id, self._side_ids = ids[0], tuple(ids[1:])

    def file_gone(self) -> bool:
        """The file SQLite writes is no longer at the path: deleted, or another put there (one stat)."""
        if self._file_id is None or self.journal is None:
            return False
        try:
            info = os.stat(self._real)
        except FileNotFoundError:
            return True
        except OSError:
            return False  # (a folder we may no longer search: SQLite's own errors say so)
        return (info.st_dev, info.st_ino) != self._file_id

    def put_back(self) -> str:
        """Write the history the open database holds to the path again and go on with that file;
        returns the line to say (HistoryWriteError: it could not be; nothing was changed, or the
        copy holds it all and the line says where)."""
        if self.db.in_transaction:
            raise HistoryWriteError("a transaction is open")
        self._move()  # the journal's rows too (a failure: HistoryWriteError, nothing changed)
        taken = os.path.lexists(self._real)
        copy = self._new_beside("kept" if taken else "putback")
        try:
            target = sqlite3.connect(copy)
            try:
                self.db.backup(target)
            finally:
                target.close()
        except sqlite3.Error as exc:
            with contextlib.suppress(OSError):
                os.unlink(copy)  # (made above, by this call)
            raise _write_error(exc, f"cannot write a copy of it beside it ({copy.name}): {_describe(exc)}") from None
        said = self.path
        try:
            self._switch_to(copy, into_path=not taken)
        except (HistoryUnusable, sqlite3.Error, OSError) as exc:  # (the copy holds it all: said, never lost)
            raise HistoryWriteError(f"its copy {self.path} holds the history so far, but cannot be opened: {exc}") from None
        if self.path != said:  # another file at the path: left alone; the copy is the history now
            return (f"history: {said} was replaced by another file while the room ran (left as it is); the room's "
                    f"history so far is kept in {self.path}, and the room goes on saving there (--history {self.path} "
                    "next time)")  # fmt: skip
        return (f"history: {self.path} was deleted while the room ran; the history so far (the messages of this "
                "run included) is written back to it, and the room goes on saving there")  # fmt: skip

    def _new_beside(self, kind: str) -> Path:
        """A new, empty, private file beside the path, ``NAME.kind`` (``NAME.kind-2``... if taken:
        never over a file there, nor through a link). HistoryWriteError if none can be made."""
        for number in range(1, 100):
            copy = self._real.with_name(f"{self._real.name}.{kind}" + (f"-{number}" if number > 1 else ""))
            try:
                os.close(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))
            except FileExistsError:
                continue
            except OSError as exc:
                raise _write_error(exc, f"cannot write a copy of it beside it ({copy.name}): {exc.strerror or exc}") from None
            return copy
        raise HistoryWriteError(f"cannot write a copy of it beside it: {self._real.name}.{kind} to .{kind}-99 are all taken")

    def _switch_to(self, copy: Path, *, into_path: bool) -> None:
        """Let go of the deleted file, put ``copy`` at the path (``into_path``) and open that. SQLite
        leaves its -wal and -shm beside a path whose file was deleted: they are the deleted file's
        (now copied), removed before the copy takes the path, or SQLite would read them as its own.
        Not ``into_path`` (another file is there): go on in the copy; the deleted file's -wal and -shm
        (known by their inodes: _remember_file) are removed, the other file's own would stay: left
        there, SQLite laid the room's pages over that file when it was next opened."""
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        if not into_path:  # another file there: the deleted file's -wal and -shm go, never that file's own
            for suffix, known in zip(_SIDES, self._side_ids, strict=False):
                side = self._real.with_name(self._real.name + suffix)
                with contextlib.suppress(OSError):
                    info = os.lstat(side)
                    if known == (info.st_dev, info.st_ino):
                        os.unlink(side)
        try:
            if not into_path:
                raise FileExistsError
            for suffix in _SIDES:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._real.with_name(self._real.name + suffix))
            os.link(copy, self._real)  # (never over a file put there meanwhile: EEXIST)
            os.unlink(copy)
        except OSError:
            self._real = self.path = copy  # the copy is the history: go on there
        self._pending_view = False  # (a temporary view was the old connection's)
        self.db = self._connect(create=True, existed=True)
        self._check_and_prepare(fresh=False, create=True, check=False)
        self._remember_file()
        journal = self.journal
        assert journal is not None
        try:
            on_disk = os.stat(self.journal_path)
            mine = os.fstat(journal.fd)
            same = (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)
        except OSError:
            same = False
        beside = journal_path(self._real)  # the copy's own when the room goes on there: where the next start looks
        if not same or beside != self.journal_path:  # deleted with it (rm class.sqlite3*), or the copy is the history
            try:  # (the old one is empty: moved)
                fresh = Journal(beside, clock=self.clock, new=True)
            except OSError:  # something put there since (another user's link to the teacher's ~/.bashrc):
                return  # never opened; the old one goes on, moved in as ever, and at the stop
            if same:  # ours, beside the other file now at the path, and empty: not left for it
                with contextlib.suppress(OSError):
                    os.unlink(self.journal_path)
            journal.close()
            self.journal, self.journal_path = fresh, beside


class HistoryStore(_PutBack, _Writing, _Opening, _Away, _Reading, _RoomState, _Dropping, _NameOwners):
    """The history file. Opening checks it thoroughly; a bad file is refused, never replaced.

    ``writable`` is False when the file can be read but not written (a read-only file or
    folder): earlier history is still replayed and ``append`` raises HistoryWriteError.

    Its parts, each a class above with one job: _Opening (the file checked, made, brought up to
    date), _Journaled (the journal and its moves into SQLite), _Writing (keep and commit: the
    message path), _Reading (replays, /history, export), _Away (who was here when), _RoomState
    (bans, mutes, mode, topic...), _Dropping (the oldest messages dropped) and _NameOwners. They
    share one connection and one journal, so they are parts of one object, not objects of their
    own: the hub's ``keep_said`` and ``commit`` stay one method call each, no layer in between.
    This class holds their state (set here) and opens and closes the file.
    """

    # What a failed call raises, for callers that warn and go on (hub.py) without knowing SQLite.
    errors: tuple[type[Exception], ...] = (HistoryWriteError, sqlite3.Error)

    def __init__(
        self, path: str | os.PathLike[str], *, create: bool = True, check: bool = True,
        clock: Callable[[], float] = _time.monotonic, move_rows: int = MOVE_ROWS, move_seconds: float = MOVE_SECONDS,
    ) -> None:  # fmt: skip
        """``create``: the server's store (or `names release`): makes the file, takes the
        journal's lock and moves a leftover journal in. Otherwise a reader that changes nothing.
        ``clock``, ``move_rows`` and ``move_seconds``: when the journal is moved (tests)."""
        self.path = Path(path)
        # What the path leads to (a link, maybe to a file not made yet): where the file is made
        # private, and its journal and SQLite's files go (beside the file, not the link)
        self._real = Path(os.path.realpath(self.path))
        self.writable = True
        self._uncommitted = 0  # rows written into the open transaction since the last commit()
        self._kept = _Held()  # what keep() and keep_said() hold for the next statement or commit()
        self.readonly_reason: str | None = None
        self.clock = clock
        self.move_rows = move_rows
        self.move_seconds = move_seconds
        self.journal: Journal | None = None  # the server's: see the module docstring
        self.journal_path = journal_path(self._real)
        self._pending_view = False  # a reader: temp.messages unites the journal and the file
        self._next_id = 1
        self._retry_at: float | None = None  # a move failed: not tried again before this
        self.unreadable: list[tuple[int, int | None]] = []  # salvage(): the damaged parts' ids
        # called when rows went into SQLite (a move, a busy pass): history_upkeep.py looks at the size after
        self.on_stored: Callable[[], None] | None = None
        try:  # (Python 3.11's exists() and is_dir() raise for a folder on the way we may not read)
            self._check_path(create=create)
        except PermissionError as exc:  # `--history /root/h.sqlite3` as a student: one line, no traceback
            raise HistoryUnusable(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if create:
            try:
                self._real.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryUnusable(f"cannot create the folder {self._real.parent}: {exc.strerror or exc}") from None
        existed = self.path.exists()
        fresh = not existed or self.path.stat().st_size == 0
        if create:
            self._lock()
            if not existed:
                self._make_private()
        self.db = self._connect(create=create, existed=existed)
        try:
            self._check_and_prepare(fresh=fresh, create=create, check=check)
            self._start_journal()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            self._unlock(refused=True)
            full = self._disk_full(exc, existed)
            if full is None and (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == _SQLITE_CORRUPT:
                # a file cut short (a copy stopped, a full disk outside SQLite's guarantees): damaged,
                # and what is left can be read (lanchat history: check=False), not "not a database"
                raise HistoryDamaged(f"{self.path} is damaged ({_cut_short(self.path) or _describe(exc)})") from None
            raise full or HistoryUnusable(f"{self.path} is not a usable history database: {_describe(exc)}") from None
        except HistoryUnusable as exc:
            self.db.close()
            self._unlock(refused=True)
            if exc.__context__ is not None and (full := self._disk_full(exc.__context__, existed)) is not None:
                raise full from None
            raise

    def close(self) -> None:
        """Move the journal in (if that fails, the next start does) and let go of the file; a file
        deleted meanwhile is written back first (the server's stop has said so: HistoryPolicy.stopping)."""
        gone = False
        if self.journal is not None and not self.db.in_transaction:
            with contextlib.suppress(HistoryWriteError):
                gone = self.file_gone()
                if gone:
                    self.put_back()
                    gone = False
                self._move()
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        if gone:  # could not be put back: SQLite leaves the deleted file's -wal and -shm; a new file there would take them for its own
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(self._real.with_name(self._real.name + suffix))
        self._unlock()
