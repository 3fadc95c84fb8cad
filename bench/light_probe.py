"""bench/light_probe.py: server CPU per delivery at light load, two versions alternating. Measures, never asserts.

    python bench/light_probe.py                               # this tree, N=2 and 10
    python bench/light_probe.py --trees ../lanchat-main . --rounds 3
    python bench/light_probe.py --trees . --extra=--no-history

A shared machine makes one timing worthless, so each tree given gets its own server
(``serve --headless --no-limits``, history on in a fresh folder, as bench/run.py starts it),
all started at once, and the rounds alternate between them: in each round, each tree in turn
gets ``--runs`` light runs (bench/loadgen.py: ``--rate`` messages a second for ``--seconds``)
per N. Reported per tree and N: every run's server CPU per delivery (schedstat, as loadgen
reads it), the median, the user/system split per message (/proc/PID/stat) and context switches
per message; and the load average before and after. JSON goes to bench/results/light_probe.json
(or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402

START_TIMEOUT = 15.0
TICKS = os.sysconf("SC_CLK_TCK")


def start(tree: Path, workdir: Path, extra: list[str]) -> tuple[subprocess.Popen, int]:
    """A server from ``tree``; returns it and its port."""
    log_path = workdir / "out"
    command = [
        sys.executable,
        "-m",
        "lanchat",
        "serve",
        "--headless",
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--no-limits",
        *extra,
    ]
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree), "XDG_DATA_HOME": str(workdir)},
        )  # fmt: skip
    try:
        return popen, loadgen.lanchat_port(popen, log_path, START_TIMEOUT)
    except loadgen.BenchError as exc:
        raise SystemExit(f"{exc}") from None


def user_system_ticks(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def one_run(pid: int, port: int, clients: int, rate: float, seconds: float) -> dict[str, float]:
    target = loadgen.Target("lanchat", ("127.0.0.1", port), pid)
    user0, system0 = user_system_ticks(pid)
    before = loadgen.sample(pid)
    result = loadgen.run("light", target, clients=clients, rate=rate, seconds=seconds)
    after = loadgen.sample(pid)
    user1, system1 = user_system_ticks(pid)
    messages = max(int(result.metrics["messages"]), 1)
    return {
        "cpu_us_per_delivery": float(result.metrics["cpu_us_per_delivery"]),
        "user_us_per_message": round((user1 - user0) / TICKS * 1e6 / messages, 1),
        "system_us_per_message": round((system1 - system0) / TICKS * 1e6 / messages, 1),
        "switches_per_message": round((after.switches - before.switches) / messages, 2),
        "messages": messages,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", nargs="+", type=Path, default=[HERE.parent])
    parser.add_argument("--clients", nargs="+", type=int, default=[2, 10])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="light runs per tree, N and round")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--extra", default="", help="more `serve` arguments, e.g. --extra=--no-history")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "light_probe.json")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10 or not 1 <= args.runs <= 10 or not 0 < args.seconds <= 30:
        parser.error("1-10 rounds of 1-10 runs of at most 30 s")
    if any(not 2 <= n <= 50 for n in args.clients):
        parser.error("2 to 50 clients")
    trees = [tree.resolve() for tree in args.trees]
    runs: dict[str, dict[int, list[dict[str, float]]]] = {str(t): {n: [] for n in args.clients} for t in trees}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-light-") as tmp:
        servers = []
        try:
            for number, tree in enumerate(trees):
                workdir = Path(tmp) / str(number)
                workdir.mkdir()
                servers.append((tree, *start(tree, workdir, args.extra.split())))
            for round_number in range(args.rounds):
                for tree, popen, port in servers if round_number % 2 == 0 else reversed(servers):
                    for clients in args.clients:
                        for _ in range(args.runs):
                            runs[str(tree)][clients].append(one_run(popen.pid, port, clients, args.rate, args.seconds))
                        values = [r["cpu_us_per_delivery"] for r in runs[str(tree)][clients][-args.runs :]]
                        print(f"round {round_number + 1} {tree} N={clients}: {values}", flush=True)
        finally:
            for _tree, popen, _port in servers:
                loadgen.stop(popen, grace=10)
    load_after = os.getloadavg()
    summary: dict[str, dict[str, dict[str, object]]] = {}
    for tree, by_n in runs.items():
        summary[tree] = {}
        for clients, results in by_n.items():
            summary[tree][f"N={clients}"] = {
                "median_cpu_us_per_delivery": round(statistics.median(r["cpu_us_per_delivery"] for r in results), 2),
                "median_user_us_per_message": round(statistics.median(r["user_us_per_message"] for r in results), 1),
                "median_system_us_per_message": round(
                    statistics.median(r["system_us_per_message"] for r in results), 1
                ),
                "median_switches_per_message": round(statistics.median(r["switches_per_message"] for r in results), 2),
                "cpu_us_per_delivery": [r["cpu_us_per_delivery"] for r in results],
            }
    report = {
        "workload": f"light @{args.rate:g}/s, {args.seconds:g} s a run, {args.runs} runs x {args.rounds} rounds, alternating",
        "extra_serve_args": args.extra,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "trees": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for tree, by_n in summary.items():
        for n, figures in by_n.items():
            print(f"{tree} {n}: median {figures['median_cpu_us_per_delivery']} us/delivery "
                  f"(user {figures['median_user_us_per_message']} + system {figures['median_system_us_per_message']} "
                  f"us/message, {figures['median_switches_per_message']} switches/message)")  # fmt: skip
    print(f"load average {report['load_average_before']} -> {report['load_average_after']}; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
