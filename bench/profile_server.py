"""bench/profile_server.py: where the server's time goes in a small room at full speed. Measures, never asserts.

    python bench/profile_server.py                      # fan-out N=2 for 5 s under cProfile
    python bench/profile_server.py --clients 10 --seconds 3
    python bench/profile_server.py --workload light     # a fixed 100 messages/s instead

Starts ``python -m cProfile -m lanchat serve --headless`` on 127.0.0.1 (history on, in a
temporary folder, as bench/run.py runs it), drives it with bench/loadgen.py, stops it with
SIGTERM (a clean shutdown, so cProfile writes its file), and prints the functions that took the
most time of their own and the most time with what they call. The text goes to
bench/results/profile-<workload>-<N>.txt and the raw profile beside it (.prof, for snakeviz or
pstats). cProfile slows every Python call, so read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402

START_TIMEOUT = 10.0


def start_profiled(workdir: Path, profile: Path) -> tuple[subprocess.Popen, int]:
    log_path = workdir / "lanchat.out"
    command = [
        sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "lanchat", "serve", "--headless", "--no-limits",
        "--port", "0", "--host", "127.0.0.1",
        "--history", str(workdir / "history.sqlite3"), "--files-dir", str(workdir / "files"),
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    try:
        return popen, loadgen.lanchat_port(popen, log_path, START_TIMEOUT)
    except loadgen.BenchError as exc:
        raise SystemExit(f"{exc}") from None


def summary(profile: Path, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(profile), stream=out)
    stats.strip_dirs()
    out.write(f"== the {top} functions with the most time of their own (tottime)\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write(f"== the {top} functions with the most time including what they call (cumtime)\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=("fanout", "light"), default="fanout")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second for --workload light")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, help="the text summary (default bench/results/profile-WORKLOAD-N.txt)")
    args = parser.parse_args(argv)
    if not 2 <= args.clients <= 200 or not 0 < args.seconds <= 60:
        parser.error("2 to 200 clients, for at most 60 seconds")
    out = args.out or HERE / "results" / f"profile-{args.workload}-{args.clients}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    profile = out.with_suffix(".prof")
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        popen, port = start_profiled(Path(tmp), profile)
        try:
            target = loadgen.Target("lanchat", ("127.0.0.1", port), popen.pid)
            params: dict = {"clients": args.clients, "seconds": args.seconds}
            if args.workload == "light":
                params["rate"] = args.rate
            result = loadgen.run(args.workload, target, **params)
        finally:
            popen.terminate()  # SIGTERM: lanchat shuts down cleanly and cProfile writes the file
            try:
                popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=5)
    head = f"{args.workload} N={args.clients}, {args.seconds} s under cProfile: {result.metrics} {result.notes}\n"
    text = head + summary(profile, args.top)
    out.write_text(text)
    print(text)
    print(f"written to {out} and {profile}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
