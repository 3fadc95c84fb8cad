"""bench/joins_bench.py: what a flood of join notices costs the full screen. Measures, never asserts.

    .venv/bin/python bench/joins_bench.py            # 5,000, 20,000 and 80,000 joins, a minute at most
    .venv/bin/python bench/joins_bench.py --quick    # 5,000 and 20,000

A fake server (tests/test_hostile_server.HostileServer) welcomes a full-screen client in a real
pseudo-terminal, sends N ``joined`` events in one write, then one message; the figure is the time
until that message is on the screen (pyte reading the pty). Each join must cost about the same
however many are here (the member list, lanchat/members.py; a burst's line, ui/fold.py): the
seconds should grow about as N does, not as its square (4.1 s for 20,000 when the members were a list).
Results print as a table and go to bench/results/joins.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers import TermProc  # noqa: E402
from test_hostile_server import HostileServer, frame_of, welcome  # noqa: E402


def seconds_for_joins(count: int) -> float:
    """From the first of ``count`` joins written to the message after them drawn."""
    server = HostileServer(welcome("ann"))
    term = TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--no-typing", rows=24, cols=100)
    try:
        term.expect(r"welcome, ann")
        joins = b"".join(frame_of({"type": "joined", "name": f"s{n}", "time": 1_700_000_000.0}) for n in range(count))
        after = frame_of({"type": "message", "from": "mallory", "text": "after the joins", "time": 1_700_000_001.0})
        started = time.monotonic()
        server.then(joins)
        server.then(after)
        term.expect(r"mallory: after the joins", timeout=300)
        return time.monotonic() - started
    finally:
        term.stop()
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 and 20,000 joins only")
    args = parser.parse_args()
    counts = (5_000, 20_000) if args.quick else (5_000, 20_000, 80_000)
    results = {f"joins_{count}_s": round(seconds_for_joins(count), 3) for count in counts}
    width = max(len(key) for key in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value:8.3f}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "joins.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
