"""bench/prune_bench.py: does dropping old history stall the room? Measures, never asserts.

    .venv/bin/python bench/prune_bench.py            # 1,000,000 old messages, about two minutes
    .venv/bin/python bench/prune_bench.py --quick    # 100,000, about twenty seconds
    .venv/bin/python bench/prune_bench.py --rows 100000 --chars 4000 --out bench/results/prune-4000.json

A history file gets ROWS room messages from 40 days ago (--chars: 80 characters each) and 1,000
of today. A headless server (a real process, loopback only, --no-limits) runs on it twice:
1) "keep all": --max-history-mb 0, no --keep-days: nothing to drop (the baseline);
2) "prune": --keep-days 30: every old message goes, in batches (history_upkeep.py).
In each, a client says one line every 20 ms and times the echo of its own line (send -> the
server's broadcast back), for as long as the prune runs (its log line "dropped N messages" ends
it; at most --limit seconds) or --seconds in the baseline. Also timed: the start, from launch to
listening (serve counts what the history holds for its start line). Results print and go to
bench/results/prune.json (or --out).
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
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers import Proc, RawClient  # noqa: E402

from lanchat import events as ev  # noqa: E402
from lanchat.history import HistoryStore  # noqa: E402
from lanchat.transport import Endpoint  # noqa: E402

DAY = 86400.0


def make_history(path: Path, rows: int, chars: int) -> float:
    """``rows`` old room messages of about ``chars`` characters and 1,000 of today; the seconds it took."""
    start = time.perf_counter()
    store = HistoryStore(path)
    old = time.time() - 40 * DAY
    for first in range(0, rows, 10_000):
        for i in range(first, min(first + 10_000, rows)):
            store.keep(time=old + i * 0.001, sender="ann", text=f"old message {i:07d} " + "x" * (chars - 20))
        store.commit()  # a busy pass: straight into SQLite
    for i in range(1000):
        store.keep(time=time.time(), sender="bob", text=f"today {i}")
    store.commit()
    store.close()
    return time.perf_counter() - start


def serve(path: Path, *extra: str) -> tuple[Proc, int, float]:
    started = time.perf_counter()
    proc = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-limits", "--no-announce",
                "--history", str(path), *extra)  # fmt: skip
    port = int(proc.expect(r"listening on port (\d+)", timeout=120).group(1))
    return proc, port, time.perf_counter() - started


def chat(port: int, *, until: float, done: callable, slow: list | None = None) -> list[float]:  # type: ignore[valid-type]
    """Say a line every 20 ms until ``until`` (perf_counter) or ``done()``; each echo's delay in
    ms. ``slow`` gets (seconds since the first line, delay) of each echo over 20 ms."""
    client = RawClient(Endpoint(host="127.0.0.1", port=port), "timer", timeout=30)
    delays: list[float] = []
    first = time.perf_counter()
    number = 0
    try:
        while time.perf_counter() < until and not (delays and done()):  # one line at least
            number += 1
            sent = time.perf_counter()
            client.send(ev.Say(text=f"tick {number}"))
            client.expect(ev.Message, sender="timer", text=f"tick {number}")
            delays.append((time.perf_counter() - sent) * 1000)
            if slow is not None and delays[-1] > 20:
                slow.append((round(sent - first, 3), round(delays[-1], 1)))
            time.sleep(max(0.0, 0.02 - (time.perf_counter() - sent)))
    finally:
        client.close()
    return delays


def summary(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"lines": len(delays), "median_ms": statistics.median(delays), "p99_ms": at(0.99), "max_ms": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--chars", type=int, default=80, help="characters an old message (4000: a flood's)")
    parser.add_argument("--seconds", type=float, default=5.0, help="the baseline's length")
    parser.add_argument("--limit", type=float, default=300.0, help="the prune's run, at most")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "prune.json")
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.sqlite3"
        made = make_history(path, rows, args.chars)
        size = path.stat().st_size
        print(f"history: {rows:,} old messages + 1,000 of today, {size / 1e6:.1f} MB, made in {made:.1f} s")
        proc, port, start_all = serve(path, "--max-history-mb", "0")
        try:
            baseline = chat(port, until=time.perf_counter() + args.seconds, done=lambda: False)
        finally:
            proc.popen.terminate()
            proc.popen.wait(30)
        proc, port, start_prune = serve(path, "--keep-days", "30", "--max-history-mb", "0")
        began = time.perf_counter()
        finished: list[float] = []

        def pruned() -> bool:
            if not finished and any("older than 30 days" in line for line in proc.lines):
                finished.append(time.perf_counter())
            return bool(finished)

        try:
            slow: list[tuple[float, float]] = []
            during = chat(port, until=began + args.limit, done=pruned, slow=slow)
            line = next((line for line in proc.lines if "older than 30 days" in line), "(not finished)")
        finally:
            proc.popen.terminate()
            proc.popen.wait(30)
        left = HistoryStore(path, create=False)
        remaining = left.count()
        left.close()
    result = {
        "rows": rows, "chars": args.chars, "file_mb": round(size / 1e6, 1),
        "start_s": {"keep all": round(start_all, 2), "prune": round(start_prune, 2)},
        "keep all": summary(baseline), "during prune": summary(during),
        "prune_s": round(finished[0] - began, 2) if finished else None, "log": line.strip(), "remaining": remaining,
        "slow_echoes": slow,  # (seconds into the prune, ms) of each echo over 20 ms
    }  # fmt: skip
    for name in ("keep all", "during prune"):
        s = result[name]
        print(f"{name:>12}: {s['lines']:5} lines, echo median {s['median_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, max {s['max_ms']:.2f} ms")  # type: ignore[index]
    print(f"prune: {result['prune_s']} s ({result['log']}); {remaining:,} messages left; "
          f"start {start_all:.2f} s (keep all), {start_prune:.2f} s (prune); echoes over 20 ms: {slow}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
