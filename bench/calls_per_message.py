"""bench/calls_per_message.py: how many Python calls the server makes per message at light load. Measures, never asserts.

    python bench/calls_per_message.py                  # light N=2 @100/s, 2 s and 6 s runs
    python bench/calls_per_message.py --clients 10 --top 40

A count of calls does not depend on how busy the machine is, so it tells two versions of the
server apart where timings on a shared machine cannot. Start-up (imports, the first handshakes)
makes thousands of calls that have nothing to do with messages, so the server is profiled twice
under cProfile (bench/profile_server.py's way: history on, a fresh folder), for a short and a
long run, and the difference is divided by the difference in messages: what each further message
costs. Prints the total and each function's share, and writes them as JSON to
bench/results/calls-light-<N>.json.
"""

from __future__ import annotations

import argparse
import json
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
from profile_server import start_profiled  # noqa: E402


def profiled_run(clients: int, rate: float, seconds: float) -> tuple[dict[str, int], int]:
    """(calls per function, messages sent) of one light run under cProfile."""
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        profile = Path(tmp) / "server.prof"
        popen, port = start_profiled(Path(tmp), profile)
        try:
            target = loadgen.Target("lanchat", ("127.0.0.1", port), popen.pid)
            result = loadgen.run("light", target, clients=clients, rate=rate, seconds=seconds)
        finally:
            popen.terminate()  # SIGTERM: a clean shutdown, so cProfile writes its file
            try:
                popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=5)
        stats = pstats.Stats(str(profile))
        calls = {
            f"{Path(file).name}:{line}({name})": ncalls
            for (file, line, name), (_cc, ncalls, _tt, _ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
        }
    return calls, int(result.metrics["messages"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--short", type=float, default=2.0, help="seconds of the short run")
    parser.add_argument("--long", type=float, default=6.0, help="seconds of the long run")
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not 2 <= args.clients <= 50 or not 0 < args.short < args.long <= 30:
        parser.error("2 to 50 clients; 0 < --short < --long <= 30 seconds")
    short_calls, short_messages = profiled_run(args.clients, args.rate, args.short)
    long_calls, long_messages = profiled_run(args.clients, args.rate, args.long)
    messages = long_messages - short_messages
    if messages <= 0:
        raise SystemExit(f"the long run sent no more messages than the short one ({long_messages} vs {short_messages})")
    per_function = {
        name: round((count - short_calls.get(name, 0)) / messages, 2)
        for name, count in long_calls.items()
        if (count - short_calls.get(name, 0)) / messages >= 0.05
    }
    ranked = dict(sorted(per_function.items(), key=lambda item: -item[1]))
    total = round((sum(long_calls.values()) - sum(short_calls.values())) / messages, 1)
    report = {
        "workload": f"light N={args.clients} @{args.rate:g}/s",
        "messages": [short_messages, long_messages],
        "calls_per_message": total,
        "functions_called_per_message": len(ranked),
        "per_function": ranked,
    }
    out = args.out or HERE / "results" / f"calls-light-{args.clients}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{report['workload']}: {total} Python calls per message ({len(ranked)} functions at >= 0.05 a message)")
    for name, count in list(ranked.items())[: args.top]:
        print(f"  {count:7.2f}  {name}")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
