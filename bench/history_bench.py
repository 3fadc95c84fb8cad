"""bench/history_bench.py: what the history costs the server loop. Measures, never asserts.

    .venv/bin/python bench/history_bench.py            # about half a minute
    .venv/bin/python bench/history_bench.py --quick    # a few seconds

1) append: stored messages per second, one commit each (a quiet server: one message per pass)
   and one commit per 50 or 200 (a busy pass), with synchronous=NORMAL (lanchat's choice), and
   FULL (an fsync per commit) for comparison; "keep" is the server's way (many rows per INSERT);
2) replay: how long the server loop spends answering a join (query + encode) for --replay 50
   and 1000 in a large history: the time the room waits while a newcomer's replay is built;
3) join: hello -> history-end over a real loopback socket, while another client keeps chatting,
   and that chatter's round-trip time meanwhile (does a replay stall the room?);
4) lone: the CPU time (``thread_time``) of storing one message alone, 10 ms after the last, as
   at a chat's pace (the caches have gone cold): keep + commit + the journal's move when due,
   as the server does per pass; mean and median (the mean carries the moves, one a second).
   ``--lone`` runs only this, so it can be run against an older lanchat on PYTHONPATH.
Results print as a table and go to bench/results/history.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from helpers import RawClient, running_server  # noqa: E402
from lone_store import lone_store_costs  # noqa: E402

from lanchat import events as ev  # noqa: E402
from lanchat.history import HistoryStore  # noqa: E402
from lanchat.protocol import encode  # noqa: E402


def bench_append(folder: Path, count: int, synchronous: str, per_commit: int = 1, keep: bool = False) -> float:
    """Messages stored per second, committing every ``per_commit`` (the server commits once
    per loop pass, so under load one commit covers every message read in that pass).
    ``keep``: the server's way, HistoryStore.keep (many rows per INSERT at the commit);
    otherwise append(commit=False), one INSERT per row."""
    store = HistoryStore(folder / f"append-{synchronous}-{per_commit}-{keep}.sqlite3")
    store.db.execute(f"PRAGMA synchronous = {synchronous}")
    move = getattr(store, "move_if_due", lambda: 0)  # the journal, as the server moves it every pass
    start = time.perf_counter()
    for i in range(count):
        if keep:
            store.keep(time=time.time(), sender="ann", text=f"message {i} " + "x" * 60)
        else:
            store.append(time=time.time(), sender="ann", text=f"message {i} " + "x" * 60, commit=False)
        if (i + 1) % per_commit == 0:
            store.commit()
            move()
    store.commit()
    elapsed = time.perf_counter() - start
    store.close()
    return count / elapsed


def bench_lone(folder: Path, count: int, gap: float = 0.01) -> dict[str, float]:
    """CPU microseconds to store one message alone, ``gap`` seconds after the last."""
    store = HistoryStore(folder / "lone.sqlite3")
    costs = lone_store_costs(store, count, gap)
    store.close()
    return {"lone_store_cpu_us_mean": statistics.fmean(costs), "lone_store_cpu_us_median": statistics.median(costs)}


def fill(store: HistoryStore, count: int, text_chars: int) -> None:
    body = "y" * text_chars
    with store._transaction():  # one transaction: filling is set-up, not what is measured
        for i in range(count):
            to = "bob" if i % 50 == 0 else None
            store.db.execute(
                "INSERT INTO messages (time, sender, sender_key, recipient, recipient_key, text) VALUES (?,?,?,?,?,?)",
                (1_700_000_000 + i, "ann", "ann", to, to, f"{i} {body}"),
            )


def bench_replay(store: HistoryStore, limit: int, repeats: int) -> list[float]:
    times = []
    away_since = store.count() - 500  # bob was away for the last 500 messages
    for _ in range(repeats):
        start = time.perf_counter()
        records, _more = store.replay_for("bob", limit, owner=None, away_since=away_since)
        frames = [encode(r.to_event(history=True)) for r in records]
        times.append((time.perf_counter() - start) * 1000)
        assert frames
    return times


def bench_join(store: HistoryStore, replay: int, joins: int) -> dict[str, float]:
    join_ms: list[float] = []
    chat_ms: list[float] = []
    said: list[str] = []  # the server's log: why a message was not stored, should one not be
    with running_server(history=store, replay=replay, log=said.append) as (_server, endpoint):
        chatter = RawClient(endpoint, "chatter")
        stop = threading.Event()

        def chat() -> None:
            n = 0
            while not stop.is_set():
                start = time.perf_counter()
                chatter.send(ev.Say(text=f"ping {n}"))
                try:
                    chatter.expect(ev.Message, text=f"ping {n}")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}; the server's log: {said[-5:]}") from None
                chat_ms.append((time.perf_counter() - start) * 1000)
                n += 1

        thread = threading.Thread(target=chat, daemon=True)
        thread.start()
        for i in range(joins):
            start = time.perf_counter()
            newcomer = RawClient(endpoint, f"new{i}")
            newcomer.expect(ev.HistoryEnd, timeout=30)
            join_ms.append((time.perf_counter() - start) * 1000)
            newcomer.close()
        stop.set()
        thread.join(10)
        chatter.close()
    return {
        "join_to_history_end_ms_median": statistics.median(join_ms),
        "join_to_history_end_ms_max": max(join_ms),
        "chat_round_trip_ms_median": statistics.median(chat_ms),
        "chat_round_trip_ms_p99": sorted(chat_ms)[int(len(chat_ms) * 0.99) - 1] if len(chat_ms) > 1 else chat_ms[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--lone", action="store_true", help="only the lone-message cost (4)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "history.json", help="where the figures go")
    args = parser.parse_args()
    if args.lone:
        with tempfile.TemporaryDirectory() as tmp:
            for key, value in bench_lone(Path(tmp), 300).items():
                print(f"{key}  {value:.1f}")
        return
    appends = 2000 if args.quick else 10000
    history_size = 20000 if args.quick else 100000
    results: dict[str, object] = {"appends": appends, "history_size": history_size}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["append_per_s_normal"] = bench_append(folder, appends, "NORMAL")
        results["append_per_s_normal_50_per_commit"] = bench_append(folder, appends, "NORMAL", 50)
        results["append_per_s_normal_200_per_commit"] = bench_append(folder, appends, "NORMAL", 200)
        results["keep_per_s_normal_50_per_commit"] = bench_append(folder, appends, "NORMAL", 50, keep=True)
        results["keep_per_s_normal_200_per_commit"] = bench_append(folder, appends, "NORMAL", 200, keep=True)
        results["append_per_s_full"] = bench_append(folder, appends // 5, "FULL")
        store = HistoryStore(folder / "big.sqlite3")
        fill(store, history_size, 200)
        for limit in (50, 1000):
            times = bench_replay(store, limit, 20)
            results[f"replay_{limit}_build_ms_median"] = statistics.median(times)
        big = HistoryStore(folder / "long-messages.sqlite3")
        fill(big, 2000, 3900)  # messages near the 4,000-character limit: the byte budget cuts in
        results["replay_1000_long_build_ms_median"] = statistics.median(bench_replay(big, 1000, 10))
        for replay in (50, 1000):
            for key, value in bench_join(store, replay, 10 if args.quick else 30).items():
                results[f"replay_{replay}_{key}"] = value
        store.close()
        big.close()
        results.update(bench_lone(folder, 100 if args.quick else 300))
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value:,.2f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
