"""history_upkeep.py: when the server drops old history, and how much at a time. Never touches the file itself.

A room run for a whole term on a laptop must not fill its disk: at the flood limit one person
adds about 45 MB of history an hour (4,000-character messages), sixteen connections from one
machine about 2.9 GB; whispers, even to a name kept for when its owner is back, about 170 MB an hour each (no one else sees
them, so no one notices). So the server drops old messages (PROTOCOL.md, History replay, "Keeping"):

* by age (``serve --keep-days N``): room and direct messages older than N days, at start and then
  every CHECK_SECONDS;
* by size (``serve --max-history-mb M``): when the file holds more than M MiB (looked at within
  SIZE_CHECK_SECONDS of rows going into SQLite, never while the room is idle), down to
  SHRINK_TO of it: the oldest room messages first, never the newest KEEP_NEWEST; then, if that
  is not enough, the oldest direct messages (the cap holds: a whisper flood cannot fill the disk).

Never per message and never in one long statement: one batch of about BATCH_SECONDS per loop
pass (history.py, ``drop_oldest``), then a rest as long, and not in a pass that has messages to deliver (unless
MAX_DEFERRED passes in a row had: a flood must not put it off for good), so chat goes on between
batches (bench/prune_bench.py measures the latency a prune of a million messages adds). Bans, mutes,
owned names, the topic and the operators are never dropped. The store is handed in, with the clocks.

The log hears every round. The host hears of the size cap (a hosting teacher never sees the log),
each kind at most once in TELL_AGAIN_SECONDS, in one line that says what to do: that it dropped
messages (how many room and direct messages, where the room's history now starts), and that it
cannot be met (only the newest room messages and what is never dropped are left). Dropping by age is what was asked for: the log alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .files import human_size

if TYPE_CHECKING:  # the edge this policy is handed; it does not import it
    from .history import HistoryStore

DAY_SECONDS = 86400.0
MIB = 1 << 20
CHECK_SECONDS = 600.0  # by age: every ten minutes (days are what is asked; this keeps it within)
SIZE_CHECK_SECONDS = 30.0  # by size: at most this often, and only after messages were stored (a flood of
# 2.9 GB an hour passes the cap by 24 MB at most; at a chat's pace the look costs nothing per message)
BATCH_ROWS = 1000  # rows a batch, at first: then sized to take about BATCH_SECONDS (a 4,000-character
BATCH_SECONDS = 0.002  # message costs SQLite more than a short one); one batch a loop pass
MIN_BATCH_ROWS, MAX_BATCH_ROWS = 50, 10_000
MAX_DEFERRED = 20  # a pass with messages to deliver goes first, but not more than this many in a row
KEEP_NEWEST = 1000  # the size cap never drops the newest 1,000 room messages: one full /history
SHRINK_TO = 0.9  # over the cap: drop down to 90% of it, so the next check does not start again
# The cap dropping messages, and the cap that cannot be met, are told to the host (a hosting teacher
# never sees the log): each kind at most this often, on the upkeep's clock; the log hears every round.
TELL_AGAIN_SECONDS = 3600.0


def parse_days(text: str) -> float:
    """``--keep-days``: a positive number of days (fractions too: 0.5 is twelve hours)."""
    days = float(text)
    if not 0 < days <= 100 * 365:  # NaN fails too
        raise ValueError(f"days must be more than 0 and at most 36,500, not {text}")
    return days


def dropped_words(room: int, directs: int = 0) -> str:
    """``1 room message``, ``5 room messages and 2 direct messages``, ``2 direct messages``."""
    parts = [f"{count:,} {kind} message{'' if count == 1 else 's'}" for count, kind in ((room, "room"), (directs, "direct")) if count]
    return " and ".join(parts) or "0 room messages"


def cap_dropped_line(count: int, oldest: float | None, *, max_mb: int, since: str = "", directs: int = 0) -> str:
    """The host's line when the size cap dropped messages: how many room and ``directs`` direct
    messages (``since``: over more than one round, e.g. " since the last notice"), where the room's
    history now starts, and what to do."""
    were = dropped_words(count, directs) + (" was" if count + directs == 1 else " were")
    starts = f"starts at {time.strftime('%Y-%m-%d %H:%M', time.localtime(oldest))}" if oldest is not None else "is empty"
    return (f"history: the file passed its {max_mb:,} MiB cap (--max-history-mb), so its oldest {were} "
            f"dropped{since}; the room's history now {starts}. If someone is flooding, /mute or /ban them; "
            "to keep a copy: lanchat history > term.txt; to keep more, restart with a larger --max-history-mb")  # fmt: skip


def cap_stuck_line(path: object, *, max_mb: int, keep_newest: int) -> str:
    """The host's line when the size cap cannot be met: only what is never dropped is left."""
    return (f"history: {path} holds more than its {max_mb:,} MiB cap (--max-history-mb), but nothing more can be "
            f"dropped: what is left is the newest {keep_newest:,} room messages and the room's settings, which are "
            "never dropped. If someone is flooding, /mute or /ban them; or restart with a larger --max-history-mb")  # fmt: skip


def describe_holdings(used: int, messages: int, oldest: float | None, *, keep_days: float | None, max_mb: int | None) -> str:
    """serve's start line: ``11.8 MiB, 40,211 messages since 2026-09-01; keeping 30 days`` (sizes
    as lanchat shows them everywhere: files.human_size)."""
    since = f" since {time.strftime('%Y-%m-%d', time.localtime(oldest))}" if oldest is not None and messages else ""
    noun = "message" if messages == 1 else "messages"
    rules = []
    if keep_days is not None:
        rules.append(f"{keep_days:g} day{'' if keep_days == 1 else 's'}")
    if max_mb is not None:
        rules.append(f"at most {max_mb:,} MiB")
    keeping = "; keeping " + ", ".join(rules) if rules else "; keeping everything"
    return f"{human_size(used)}, {messages:,} {noun}{since}{keeping}"


# `lanchat history compact` (and `history prune` after its drops): SQLite's VACUUM writes what the
# file holds once more, into the WAL beside it (24 bytes of header a page: 0.6% of a 4 KiB page,
# 2.3% of a 1 KiB one), before copying it back and cutting the file (history.py, compact).
# (measured on a tmpfs: a file holding 4.4 MiB compacted with 64 KiB more than that free, not with 0)
COMPACT_SPARE = MIB  # on top of that: the WAL's index (-shm), the disk's blocks rounding up
WORTH_COMPACTING = MIB  # less free space inside the file than this: not worth rewriting it for


def compact_room_needed(held: int) -> int:
    """The free disk that compacting a file holding ``held`` bytes needs, for a moment."""
    return held + held // 32 + COMPACT_SPARE


def compact_refusal(name: str, *, held: int, free: int) -> str | None:
    """Why compacting ``name`` must not start (None: it may): ``free`` (bytes free on its disk,
    from shutil.disk_usage; handed in) is less than SQLite's copy of what it holds needs."""
    need = compact_room_needed(held)
    if free >= need:
        return None
    return (f"not enough free disk space to compact {name}: that needs about {human_size(need)} free for a moment "
            f"(a copy of the {human_size(held)} it holds), and the disk it is on has {human_size(free)} free")  # fmt: skip


class Upkeep:
    """The dropping of old history for one server run. ``due`` (on ``clock``) is when the next
    step is; None: nothing to do until messages are stored (``stored``). ``on_due`` is called
    whenever ``due`` changes (HistoryPolicy keeps the soonest of its timed work from it, so the
    loop's per-pass look at the deadline costs one attribute, not this object's state)."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        keep_days: float | None,
        max_mb: int | None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
        tell_host: Callable[[str], bool] | None = None,
    ) -> None:
        """``log``: the server's log; ``tell_host``: a line for the host's screen alone, True if
        a host is there to get it (hub.py, ``_tell_host``)."""
        self.store = store
        self.keep_days = keep_days
        self.max_bytes = max_mb * MIB if max_mb is not None else None
        self.clock = clock
        self.wall = wall
        self.log = log or (lambda line: None)
        self.tell_host = tell_host or (lambda line: False)
        self.told_at: dict[str, float] = {}  # "dropped", "stuck": when the host last heard that kind
        self.host_heard_stuck = False  # the host heard that the cap cannot be met, since it last could be
        self.untold_big = 0  # dropped by the cap since the host last heard of it
        self.on_due: Callable[[], None] = lambda: None
        self._due: float | None = clock()  # at start: what is already too old or too much
        store.on_stored = self._stored  # rows went into SQLite: the size is looked at again soon
        self.by_age = keep_days is not None  # this round still drops by age (if age_due has come)
        self.age_due = self.due if keep_days is not None else None  # the next look by age: a round for the size alone skips it
        self.shrinking = False  # over the cap: dropping down to SHRINK_TO of it
        self.dropped_old = 0  # this round's drops, said when it ends
        self.dropped_big = 0  # room messages, by size
        self.dropped_directs = 0  # direct messages, by size (once the room's are down to keep_newest)
        self.untold_directs = 0  # direct messages dropped by the cap since the host last heard of it
        self.stuck = False  # over the cap with nothing left to drop (said once, until a round gets under it)
        self.stuck_round = False  # this round found it so
        self.batch_rows = BATCH_ROWS
        self.min_rows, self.max_rows = MIN_BATCH_ROWS, MAX_BATCH_ROWS
        self.keep_newest = KEEP_NEWEST
        self.deferred = 0  # passes in a row that had messages to deliver, so no batch
        self.rest = 0.0  # how long the last batch took: the pause before the next
        self.in_round = False  # a batch ran this round: the store checkpoints in small pieces until it ends

    @property
    def due(self) -> float | None:
        return self._due

    @due.setter
    def due(self, when: float | None) -> None:
        self._due = when
        self.on_due()

    def _stored(self) -> None:
        """The store put rows into SQLite (a journal move, a busy pass; never per message): with a
        size cap, the size is looked at within SIZE_CHECK_SECONDS (sooner than the next look by
        age, ten minutes off: a flood passes the cap by 24 MB at most, not 480)."""
        if self.max_bytes is not None:
            soon = self.clock() + SIZE_CHECK_SECONDS
            if self.due is None or self.due > soon:
                self.due = soon

    def step(self) -> None:
        """One batch, if one is due (HistoryPolicy.move_due). Store errors go to the caller."""
        now = self.clock()
        if self.due is None or self.due > now:
            return
        store = self.store
        if store.holding() and self.deferred < MAX_DEFERRED:  # this pass delivers messages: they go first
            self.deferred += 1
            return
        self.deferred = 0
        if self.by_age and self.age_due is not None and self.age_due <= now:
            assert self.keep_days is not None
            dropped, more = self._batch(before=self.wall() - self.keep_days * DAY_SECONDS, keep_newest=0)
            self.dropped_old += dropped
            if more:
                self.due = now + self.rest  # a pass or a rest later: chat goes on in between
                return
            self.by_age = False
            self.age_due = now + CHECK_SECONDS
        used = store.used_bytes() if self.max_bytes is not None else 0
        if self.max_bytes is not None and self._over(used):
            dropped, _more = self._batch(before=None, keep_newest=self.keep_newest)
            self.dropped_big += dropped
            if not dropped:  # the room's are down to the newest: the oldest direct messages next
                dropped, _more = self._batch(before=None, keep_newest=0, directs=True)
                self.dropped_directs += dropped
            if dropped:
                self.due = now + self.rest
                return
            self.stuck_round = used > self.max_bytes  # (between 90% and the cap: within it, nothing to say)
            if self.stuck_round and not (self.stuck and self.host_heard_stuck):  # left: the newest room messages...
                line = cap_stuck_line(store.path, max_mb=self.max_bytes // MIB, keep_newest=self.keep_newest)
                if not self.stuck:
                    self.stuck = True
                    self.log(line)
                self.host_heard_stuck = self._told("stuck", line)  # (no host yet at start: next round)
        self._end_round()

    def _host_may_hear(self, kind: str) -> bool:
        """The host has not heard this kind of notice within TELL_AGAIN_SECONDS."""
        last = self.told_at.get(kind)
        return last is None or self.clock() - last >= TELL_AGAIN_SECONDS

    def _told(self, kind: str, line: str) -> bool:
        """Tell the host ``line`` if it may hear this kind now; True if a host heard it (then not
        again within TELL_AGAIN_SECONDS). The log has its own line, every time."""
        if not self._host_may_hear(kind) or not self.tell_host(line):
            return False
        self.told_at[kind] = self.clock()
        return True

    def _batch(self, *, before: float | None, keep_newest: int, directs: bool = False) -> tuple[int, bool]:
        """One drop_oldest (``directs``: drop_oldest_directs); the next batch is sized to take about
        BATCH_SECONDS, as this one went."""
        if not self.in_round:
            self.in_round = True
            self.store.dropping(True)
        started = self.clock()
        if directs:
            dropped, more = self.store.drop_oldest_directs(rows=self.batch_rows)
        else:
            dropped, more = self.store.drop_oldest(before=before, rows=self.batch_rows, keep_newest=keep_newest)
        took = self.clock() - started
        self.rest = took  # as long again before the next: the loop sleeps half the time, so a busy
        # machine's scheduler still wakes it at once for a message (a loop that never sleeps waits its turn)
        if took > 2 * BATCH_SECONDS:
            self.batch_rows = max(self.min_rows, self.batch_rows // 2)
        elif took < BATCH_SECONDS / 2 and more:
            self.batch_rows = min(self.max_rows, self.batch_rows * 2)
        return dropped, more

    def _over(self, used: int) -> bool:
        assert self.max_bytes is not None
        self.shrinking = used > (self.max_bytes * SHRINK_TO if self.shrinking else self.max_bytes)
        return self.shrinking

    def _end_round(self) -> None:
        """Say what this round dropped (if anything) and set the next one."""
        if self.dropped_old:
            self.log(f"history: dropped {self.dropped_old:,} messages older than {self.keep_days:g} days")
        if self.dropped_big or self.dropped_directs:  # (never without a cap)
            max_mb = (self.max_bytes or 0) // MIB
            untold = self.untold_big or self.untold_directs
            since = "" if not untold else " since the last notice" if "dropped" in self.told_at else " in this run"
            self.untold_big += self.dropped_big
            self.untold_directs += self.dropped_directs
            what = f"{self.dropped_big:,} messages" if not self.dropped_directs else dropped_words(self.dropped_big, self.dropped_directs)
            self.log(f"history: dropped the oldest {what}: the file held more than {max_mb:,} MiB (--max-history-mb)")
            if self._host_may_hear("dropped"):  # (the oldest's time: one indexed row, only then)
                line = cap_dropped_line(self.untold_big, self.store.oldest_room_time(), max_mb=max_mb, since=since,
                                        directs=self.untold_directs)  # fmt: skip
                if self._told("dropped", line):
                    self.untold_big = self.untold_directs = 0
        if not self.stuck_round:  # under the cap (or not looked at): said again next time it cannot be met
            self.stuck = self.host_heard_stuck = False
        self.stuck_round = False
        self.dropped_old = self.dropped_big = self.dropped_directs = 0
        if self.in_round:
            self.in_round = False
            self.store.dropping(False)
        self.shrinking = False
        self.by_age = self.keep_days is not None
        self.due = self.age_due
