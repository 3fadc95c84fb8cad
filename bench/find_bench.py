"""bench/find_bench.py: what /find and Ctrl-F cost on a long transcript. Measures, never asserts.

    .venv/bin/python bench/find_bench.py            # about a minute
    .venv/bin/python bench/find_bench.py --quick    # a few seconds

A view holding N lines (the scrollback made N long, so 20,000 and more stay), each "bob:
message number i ...", with the word looked for in the oldest line, in the middle and at 3/4.
Timed, pure and in process (no terminal): ``View.find`` (counts the matches, lands on the
newest one, scrolls it to the middle of the pane), then Ctrl-F twice (``find_next``: the
older matches), each followed by the ``render`` that draws the page. Line heights are cached
(render.line_height, 16,384 of them: above that many lines they are counted again at each draw,
a step in the figures that is the cache's size, not the walk). "walk" is the view's part
alone (every line one row, nothing drawn). Linear means the microseconds per line stay flat as
N doubles; a walk that indexes a deque (slow in the middle) grows with N per line. The client
keeps 10,000 lines (view.SCROLLBACK_LINES); larger N is for the shape of the curve. Results
print as a table and go to bench/results/find.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lanchat.session import Line, Session  # noqa: E402
from lanchat.ui import render  # noqa: E402
from lanchat.ui.commands import line_matches  # noqa: E402
from lanchat.ui.view import View  # noqa: E402

ROWS, COLS = 50, 200


def transcript(lines: int) -> View:
    view = View(session=Session(name="ann"), scrollback=lines)
    width = render.transcript_width(view, COLS)
    view.measure = lambda line: render.line_height(line, width)
    view.day_rule_rows = render.day_rule_rows
    wanted = {0, lines // 2, lines * 3 // 4}
    view.add(
        Line(kind="chat", time=1_000_000.0 + i, sender="bob", text=("needle " if i in wanted else "") + f"message number {i} about things")
        for i in range(lines)
    )
    render.render(view, ROWS, COLS)  # the first draw: every height counted once, as on screen
    return view


def one_search(view: View) -> float:
    """Seconds for /find needle, then Ctrl-F twice, each drawn."""
    started = time.perf_counter()
    view.find("needle", line_matches)
    render.render(view, ROWS, COLS)
    for _ in range(2):
        view.find_next(line_matches)
        render.render(view, ROWS, COLS)
    return time.perf_counter() - started


def walk_only(view: View) -> float:
    """Seconds for the view's own walk (/find, Ctrl-F twice), every line one row: no drawing."""
    view.measure = lambda line: 1
    started = time.perf_counter()
    view.find("needle", line_matches)
    for _ in range(2):
        view.find_next(line_matches)
    return time.perf_counter() - started


def bench(sizes: list[int], repeats: int) -> list[dict[str, float]]:
    results = []
    for lines in sizes:
        render._height_cached.cache_clear()
        view = transcript(lines)
        best = min(one_search(view) for _ in range(repeats))
        assert view.found_seq == 0, view.found_seq  # the third match is the oldest line
        walk = min(walk_only(view) for _ in range(repeats))
        results.append({
            "lines": lines, "seconds": round(best, 5), "us_per_line": round(best / lines * 1e6, 3),
            "walk_seconds": round(walk, 5), "walk_us_per_line": round(walk / lines * 1e6, 3),
        })  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [2_500, 5_000, 10_000, 20_000] if args.quick else [2_500, 5_000, 10_000, 20_000, 40_000, 80_000]
    results = bench(sizes, 3 if args.quick else 5)
    print(f"{'lines':>7} {'drawn s':>9} {'us/line':>8} {'walk s':>9} {'us/line':>8}")
    for row in results:
        print(f"{row['lines']:>7} {row['seconds']:>9.4f} {row['us_per_line']:>8.2f} {row['walk_seconds']:>9.4f} {row['walk_us_per_line']:>8.2f}")
    out = HERE / "results" / "find.json"
    out.write_text(json.dumps({"workload": "/find + 2 x Ctrl-F, each drawn at 200x50", "results": results}, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
