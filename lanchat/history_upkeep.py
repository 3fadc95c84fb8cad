"""history_upkeep.py: when the server drops old history, and how much at a time. Never touches the file itself.

A room run for a whole term on a laptop must not fill its disk: at the flood limit one person
adds about 45 MB of history an hour (4,000-character messages), sixteen connections from one
machine about 2.9 GB. So the server can drop the oldest room messages (PROTOCOL.md, History
replay, "Keeping"):

* by age (``serve --keep-days N``): older than N days, at start and then every CHECK_SECONDS;
* by size (``serve --max-history-mb M``): when the file holds more than M MiB (looked at within
  SIZE_CHECK_SECONDS of rows going into SQLite, never while the room is idle), down to
  SHRINK_TO of it, never the newest KEEP_NEWEST.

Never per message and never in one long statement: one batch of about BATCH_SECONDS per loop
pass (history.py, ``drop_oldest``), then a rest as long, and not in a pass that has messages to deliver (unless
MAX_DEFERRED passes in a row had: a flood must not put it off for good), so chat goes on between
batches (bench/prune_bench.py measures the latency a prune of a million messages adds). Direct messages, bans, mutes, owned names, the
topic and the operators are never dropped. The store is handed in, with the clocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

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


def parse_days(text: str) -> float:
    """``--keep-days``: a positive number of days (fractions too: 0.5 is twelve hours)."""
    days = float(text)
    if not 0 < days <= 100 * 365:  # NaN fails too
        raise ValueError(f"days must be more than 0 and at most 36,500, not {text}")
    return days


def describe_bytes(count: int) -> str:
    """A size as people read it: 812 KB, 12.3 MB, 2.1 GB (decimal, as file managers show)."""
    if count < 1_000_000:
        return f"{max(count, 1) / 1000:.0f} KB"
    if count < 1_000_000_000:
        return f"{count / 1_000_000:.1f} MB"
    return f"{count / 1_000_000_000:.1f} GB"


def describe_holdings(used: int, messages: int, oldest: float | None, *, keep_days: float | None, max_mb: int | None) -> str:
    """serve's start line: ``12.3 MB, 40,211 messages since 2026-09-01; keeping 30 days``."""
    since = f" since {time.strftime('%Y-%m-%d', time.localtime(oldest))}" if oldest is not None and messages else ""
    noun = "message" if messages == 1 else "messages"
    rules = []
    if keep_days is not None:
        rules.append(f"{keep_days:g} day{'' if keep_days == 1 else 's'}")
    if max_mb is not None:
        rules.append(f"at most {max_mb:,} MiB")
    keeping = "; keeping " + ", ".join(rules) if rules else "; keeping everything"
    return f"{describe_bytes(used)}, {messages:,} {noun}{since}{keeping}"


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
    ) -> None:
        self.store = store
        self.keep_days = keep_days
        self.max_bytes = max_mb * MIB if max_mb is not None else None
        self.clock = clock
        self.wall = wall
        self.log = log or (lambda line: None)
        self.on_due: Callable[[], None] = lambda: None
        self._due: float | None = clock()  # at start: what is already too old or too much
        store.on_stored = self._stored  # rows went into SQLite: the size is looked at again soon
        self.by_age = keep_days is not None  # this round still drops by age (if age_due has come)
        self.age_due = self.due if keep_days is not None else None  # the next look by age: a round for the size alone skips it
        self.shrinking = False  # over the cap: dropping down to SHRINK_TO of it
        self.dropped_old = 0  # this round's drops, said when it ends
        self.dropped_big = 0
        self.stuck = False  # over the cap with nothing left to drop (said once)
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
        if self.max_bytes is not None and self._over(store.used_bytes()):
            dropped, _more = self._batch(before=None, keep_newest=self.keep_newest)
            self.dropped_big += dropped
            if dropped:
                self.due = now + self.rest
                return
            if not self.stuck:  # what is left is direct messages, the newest, and the rest
                self.stuck = True
                self.log(
                    f"history: {store.path} holds more than {self.max_bytes // MIB:,} MiB, but what is left is "
                    "the newest messages, direct messages and the room's settings: nothing more is dropped"
                )
        self._end_round()

    def _batch(self, *, before: float | None, keep_newest: int) -> tuple[int, bool]:
        """One drop_oldest; the next batch is sized to take about BATCH_SECONDS, as this one went."""
        if not self.in_round:
            self.in_round = True
            self.store.dropping(True)
        started = self.clock()
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
        if self.dropped_big:
            self.log(
                f"history: dropped the oldest {self.dropped_big:,} messages: the file held more than "
                f"{(self.max_bytes or 0) // MIB:,} MiB (--max-history-mb)"
            )
        if self.dropped_old or self.dropped_big:
            self.stuck = False
        self.dropped_old = self.dropped_big = 0
        if self.in_round:
            self.in_round = False
            self.store.dropping(False)
        self.shrinking = False
        self.by_age = self.keep_days is not None
        self.due = self.age_due
