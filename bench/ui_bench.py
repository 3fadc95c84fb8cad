"""bench/ui_bench.py: what the curses screen costs. Measures, never asserts.

    .venv/bin/python bench/ui_bench.py            # about twenty seconds
    .venv/bin/python bench/ui_bench.py --quick    # a few seconds

1) idle: a host screen and a client screen in real pseudo-terminals, left alone; CPU seconds
   each process used meanwhile (the loop waits on one selector: it should be ~0);
2) burst: a peer sends N messages as fast as it can; how long until the last one is on the
   host's screen (pyte reading the pty), and how many bytes of drawing that took (drawn in
   batches, so far fewer than N full screens);
3) render: the pure render() of a full 10,000-line scrollback at 200x50: following the bottom,
   after Home (anchored at the top: only the lines on screen are laid out), and scrolled up to
   the oldest line from the bottom with cold caches, as after a resize (every line's height
   counted, only the lines on screen laid out; 1.8 s when every line was laid out);
4) keys: the per-keystroke path in a real pseudo-terminal, a key at a time: the CPU time of the
   keys' handling (keys.py through the full screen) and of the draw after each, as a person
   typing gets them (every 60th key a Ctrl-U, so the input line stays short);
5) scrollback memory: a full-screen client at 200x50 hears N lines (through a --no-limits
   headless serve), then pages up to the oldest: its RSS at the start, after the lines, after
   the paging (what the laid-out lines it keeps cost: render.LAYOUTS' budget).
Results print as a table and go to bench/results/ui.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import psutil  # noqa: E402
from helpers import RawClient, TermProc, wait_for  # noqa: E402

from lanchat import events as ev  # noqa: E402
from lanchat.session import Line, Session  # noqa: E402
from lanchat.transport import Endpoint  # noqa: E402
from lanchat.ui import render  # noqa: E402
from lanchat.ui.view import View  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children, so far."""
    process = psutil.Process(pid)
    total = sum(process.cpu_times()[:2])
    for child in process.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def bench_idle_and_burst(idle_seconds: float, burst: int) -> dict[str, float]:
    host = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "ann", "--no-limits", rows=40, cols=120)  # a burst on purpose
    client = None
    talker = None
    try:
        port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(host.raw)), what="port").group(1))  # type: ignore[union-attr]
        client = TermProc("connect", "127.0.0.1", str(port), "--name", "bob", rows=40, cols=120)
        client.expect("bob │ client")
        host.expect("bob joined")
        before = (cpu_seconds(host.proc.pid), cpu_seconds(client.proc.pid))
        started = time.monotonic()
        # the measurement itself: the two screens are left alone for idle_seconds
        time.sleep(idle_seconds)
        elapsed = time.monotonic() - started
        after = (cpu_seconds(host.proc.pid), cpu_seconds(client.proc.pid))
        talker = RawClient(Endpoint(host="127.0.0.1", port=port), name="cat")
        # within 10 s of bob's join, the full screen folds cat's into the same line ("2 joined:
        # bob and cat (3 here)", lanchat/ui/fold.py); after a longer idle it is its own line
        host.expect(r"cat joined|joined: .*\bcat\b")
        drawn_before = len(host.raw)
        cpu_before = cpu_seconds(host.proc.pid)
        started = time.monotonic()
        for number in range(burst):
            talker.send(ev.Say(text=f"burst message number {number} with some ordinary text in it"))
        host.expect(rf"burst message number {burst - 1}\b", timeout=120)
        burst_seconds = time.monotonic() - started
        return {
            "idle_seconds": round(elapsed, 2),
            "idle_cpu_host_ms": round((after[0] - before[0]) * 1000, 1),
            "idle_cpu_client_ms": round((after[1] - before[1]) * 1000, 1),
            "burst_messages": burst,
            "burst_to_screen_s": round(burst_seconds, 3),
            "burst_host_cpu_s": round(cpu_seconds(host.proc.pid) - cpu_before, 3),
            "burst_bytes_drawn": len(host.raw) - drawn_before,
            "one_full_screen_bytes_estimate": 40 * 120,
        }
    finally:
        if talker:
            talker.close()
        if client:
            client.stop()
        host.stop()


def bench_render(lines: int) -> dict[str, float]:
    view = View(Session(name="ann", members=["ann", "bob", "cat"]))
    view.add(
        Line(kind="message", time=1_700_000_000 + n, sender=("bob", "cat")[n % 2], text=f"message {n} " + "word " * (n % 40))
        for n in range(lines)
    )
    started = time.perf_counter()
    for _ in range(20):
        render.render(view, 50, 200)
    follow_ms = (time.perf_counter() - started) / 20 * 1000
    view.to_top()
    started = time.perf_counter()
    frame = render.render(view, 50, 200)
    home_first_ms = (time.perf_counter() - started) * 1000
    view.clamp(frame.max_scroll)
    started = time.perf_counter()
    render.render(view, 50, 200)
    home_again_ms = (time.perf_counter() - started) * 1000
    render.LAYOUTS.clear()
    render._height_cached.cache_clear()
    view.to_bottom()
    view.scroll = 10**9  # scrolled to the very top with cold caches (as after a resize): every line measured
    started = time.perf_counter()
    render.render(view, 50, 200)
    scroll_all_ms = (time.perf_counter() - started) * 1000
    return {
        "scrollback_lines": lines,
        "render_scrolled_to_oldest_uncached_ms": round(scroll_all_ms, 1),
        "render_following_ms": round(follow_ms, 2),
        "render_home_first_ms": round(home_first_ms, 1),
        "render_home_cached_ms": round(home_again_ms, 1),
    }


# The full screen alone in a pty: N keys handled one at a time, each followed by its draw.
KEYSTROKES = """
import json, sys, time
from lanchat.session import Session
from lanchat.ui.screen import CursesFrontend

count = int(sys.argv[1])
screen = CursesFrontend(Session(name="bob"))
screen.update()
keys = ["\\x15" if n % 60 == 59 else "abcdefghij klmnopqrst"[n % 21] for n in range(count)]
started = time.process_time()  # CPU time: the draws' waits on the terminal's reader are not the screen's cost
for key in keys:
    screen.keys.handle([key])
handled = time.process_time() - started
started = time.process_time()
for key in keys:
    screen.keys.handle([key])
    screen.dirty = True
    screen.update()
drawn = time.process_time() - started
screen.close()
with open(sys.argv[2], "w") as out:
    json.dump({"handled": handled, "drawn": drawn}, out)
"""


def bench_keystrokes(count: int) -> dict[str, float]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "keys.json"
        term = TermProc(argv=[sys.executable, "-c", KEYSTROKES, str(count), str(out)], rows=40, cols=120)
        try:
            assert term.wait(timeout=120) == 0, bytes(term.raw[-2000:])
        finally:
            term.stop()
        times = json.loads(out.read_text())
    return {
        "keystrokes": count,
        "key_handled_cpu_us": round(times["handled"] / count * 1e6, 1),
        "key_handled_and_drawn_cpu_us": round(times["drawn"] / count * 1e6, 1),
    }


def rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def bench_scrollback_memory(lines: int) -> dict[str, float]:
    server = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--no-announce", "--no-limits")
    client = talker = None
    try:
        port = int(wait_for(lambda: re.search(rb"port (\d+)", bytes(server.raw)), what="port").group(1))  # type: ignore[union-attr]
        client = TermProc("connect", "127.0.0.1", str(port), "--name", "sam", rows=50, cols=200)
        client.expect("welcome, sam")
        started = rss_mb(client.proc.pid)
        talker = RawClient(Endpoint(host="127.0.0.1", port=port), name="bob")
        for number in range(lines):  # a day in a busy room: lines of all lengths, not all ASCII
            talker.send(ev.Say(text=f"message {number} λ " + "word " * (number % 40)))
            if number % 500 == 0:
                talker.drain(0.01)  # (read what the server says back: its buffer never fills)
        client.expect(rf"message {lines - 1} ", timeout=300)
        heard = rss_mb(client.proc.pid)
        for _ in range(lines // 30):
            client.send("\x1b[5~")  # PgUp, a page at a time, as a student reading back
        client.expect(r"message 0 ", timeout=300)
        return {"memory_scrollback_lines": lines, "client_rss_start_mb": started, "client_rss_after_lines_mb": heard, "client_rss_after_paging_mb": rss_mb(client.proc.pid)}
    finally:
        for proc in (client, server):
            if proc is not None:
                proc.stop()
        if talker is not None:
            talker.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter idle time, smaller burst")
    args = parser.parse_args()
    results = {}
    results.update(bench_idle_and_burst(idle_seconds=2 if args.quick else 10, burst=1000 if args.quick else 5000))
    results.update(bench_render(10_000))
    results.update(bench_keystrokes(500 if args.quick else 3000))
    results.update(bench_scrollback_memory(2_000 if args.quick else 10_000))
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "ui.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
