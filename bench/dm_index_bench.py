"""bench/dm_index_bench.py: what the room_messages index costs a stored message and saves a replay. Measures, never asserts.

    .venv/bin/python bench/dm_index_bench.py            # about a minute
    .venv/bin/python bench/dm_index_bench.py --quick    # a few seconds

A replay (a join, /history) reads the room's newest messages and the person's own direct messages
(history.py, replay_for). Without an index on room messages it walked the table backwards past
every direct message between others newer than the room's; with the room_messages partial index
it reads three indexes merged. Both are run here on the same files: "without" drops the index and
runs the single-WHERE query the store ran before (kept below as it was).

1) replay: milliseconds of the loop for ``replay_for("bob", 50)`` with 100,000 and 1,000,000
   direct messages between others newer than 2,000 room messages (the mean of the repeats);
2) full speed: CPU microseconds a room message to store passes of 300 through keep_said + commit,
   as the hub's short path does under a flood (one SQLite transaction a pass: BUSY_PASS_ROWS); the
   median pass;
3) light load: CPU microseconds (thread_time) to store one message alone, 10 ms after the last:
   keep + commit + the journal's move when due (history_bench.py's "lone"; mean carries the moves).
Results print and go to bench/results/dm_index.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from lone_store import lone_store_costs  # noqa: E402

from lanchat.history import _COLUMNS, HistoryStore  # noqa: E402

# replay_for's query before the room_messages index came back (one WHERE with ORs)
OLD_REPLAY = (
    f"SELECT {_COLUMNS} FROM messages WHERE id < ? AND "
    "(recipient IS NULL OR (recipient_key = ? AND recipient_owner = ?) "
    "OR (recipient_key IS NOT NULL AND sender_key = ? AND sender_owner = ?)) "
    "ORDER BY id DESC LIMIT ?"
)
KEY = b"b" * 32


def open_store(path: Path, *, index: bool) -> HistoryStore:
    store = HistoryStore(path)
    if not index:
        store.db.execute("DROP INDEX IF EXISTS room_messages")
    return store


def fill(store: HistoryStore, directs: int) -> None:
    """2,000 room messages, then ``directs`` whispers between two others (set-up, one transaction)."""
    with store._transaction():
        store.db.executemany(
            "INSERT INTO messages (id, time, sender, sender_key, text) VALUES (?, ?, 'ann', 'ann', ?)",
            ((i, 1e9 + i, f"room {i} " + "x" * 60) for i in range(1, 2001)),
        )
        store.db.executemany(
            "INSERT INTO messages (id, time, sender, sender_key, recipient, recipient_key, text, sender_owner, recipient_owner) "
            "VALUES (?, ?, 'eve', 'eve', 'mallory', 'mallory', ?, ?, ?)",
            ((i, 1e9 + i, f"whisper {i} " + "y" * 60, b"e" * 32, b"m" * 32) for i in range(2001, 2001 + directs)),
        )


def bench_replay(folder: Path, directs: int, repeats: int) -> dict[str, float]:
    store = open_store(folder / f"replay-{directs}.sqlite3", index=True)
    fill(store, directs)
    results = {}
    for label in ("with_index", "without_index"):
        if label == "without_index":
            store.db.execute("DROP INDEX room_messages")
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            if label == "with_index":
                records, _more = store.replay_for("bob", 50, owner=KEY)
                count = len(records)
            else:
                count = len(store.db.execute(OLD_REPLAY, (2**62, "bob", KEY, "bob", KEY, 51)).fetchall()) - 1
            times.append((time.perf_counter() - started) * 1000)
            assert count == 50
        results[f"replay_ms_{label}"] = statistics.fmean(times)
    store.close()
    return results


def bench_full_speed(folder: Path, passes: int, index: bool) -> float:
    """CPU microseconds a message, the median pass (thread_time: another process on the machine
    does not count; a pass that checkpoints the WAL is one of many)."""
    store = open_store(folder / f"full-{index}.sqlite3", index=index)
    texts = [f"message {i} " + "x" * 60 for i in range(300)]
    times = [1e9 + i for i in range(300)]
    costs = []
    for _ in range(passes):
        started = time.thread_time()
        store.keep_said("ann", times, texts)
        store.commit()
        costs.append((time.thread_time() - started) / 300 * 1e6)
    store.close()
    return statistics.median(costs)


def bench_lone(folder: Path, count: int, index: bool, gap: float = 0.01) -> dict[str, float]:
    store = open_store(folder / f"lone-{index}.sqlite3", index=index)
    costs = lone_store_costs(store, count, gap)
    store.close()
    return {"mean": statistics.fmean(costs), "median": statistics.median(costs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dm_index.json")
    args = parser.parse_args()
    sizes = (100_000,) if args.quick else (100_000, 1_000_000)
    repeats, passes, lone = (5, 20, 200) if args.quick else (20, 200, 1000)
    out: dict[str, object] = {"python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="dm-index-") as name:
        folder = Path(name)
        for directs in sizes:
            out[f"replay_{directs}_directs_ahead"] = found = bench_replay(folder, directs, repeats)
            print(f"replay of 50 with {directs:,} others' whispers ahead: {found['replay_ms_without_index']:.2f} ms before, "
                  f"{found['replay_ms_with_index']:.3f} ms with the index")  # fmt: skip
        for index in (False, True) * 3:  # interleaved: a busy machine's drift shows as a spread
            label = "with_index" if index else "without_index"
            full = bench_full_speed(folder, passes, index)
            alone = bench_lone(folder, lone, index)
            out.setdefault(f"full_speed_us_per_message_{label}", []).append(round(full, 3))  # type: ignore[union-attr]
            out.setdefault(f"lone_cpu_us_mean_{label}", []).append(round(alone["mean"], 1))  # type: ignore[union-attr]
            out.setdefault(f"lone_cpu_us_median_{label}", []).append(round(alone["median"], 1))  # type: ignore[union-attr]
            print(f"{label}: full speed {full:.3f} us a message; alone {alone['mean']:.1f} us mean, {alone['median']:.1f} median")
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
