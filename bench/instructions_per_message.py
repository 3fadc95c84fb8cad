"""bench/instructions_per_message.py: machine instructions the server runs per message at light load. Measures, never asserts.

    python bench/instructions_per_message.py                 # light N=2 and N=10 @100/s, 2 s and 6 s runs
    python bench/instructions_per_message.py --clients 2 --repeat 3

Timings on a shared two-CPU machine move by +-20% between identical runs, so a change worth 2%
cannot be seen with a clock. Counting instructions can: the server (``python -m lanchat serve
--headless --no-limits``, as bench/run.py starts it, history on in a fresh temporary folder) runs
under valgrind's callgrind, which counts every instruction the process executes (``Ir``), and is
driven with bench/loadgen.py's ``light`` workload (clients, senders taking turns at a fixed rate),
paced by delivery: a message is sent at its time, but never before the one before it reached every
other client. Valgrind slows the server about fifty times, and at a fixed rate alone a slow pass (a
busy machine, the journal's move into SQLite) let two messages share a pass and cost less: the same
build read 160,506 and 169,525 instructions a message at N=10. Paced, every message has a pass of
its own, as at light load without valgrind. Start-up (valgrind's own, the imports, the handshakes)
costs far more than the messages, so each measurement is two runs, a short and a long one, and the
difference is divided by the difference in messages sent:

    instructions per message = (Ir_long - Ir_short) / (messages_long - messages_short)

Both runs end the same way: the clients hang up, the server logs each loss, then SIGTERM (a clean
shutdown, after which callgrind writes its count). ``late`` counts messages sent after their time
because the one before was still on its way (the server ran slower than the rate): a few are
harmless; many mean timed work (the guard's check every 50 ms) is spread over fewer messages.
Prints the figures and writes them as JSON to bench/results/instructions-light.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402

START_TIMEOUT = 180.0  # imports under valgrind take tens of seconds on a busy machine
HANGUP_TIMEOUT = 60.0  # for the server to log that every client has gone
DELIVERY_TIMEOUT = 30.0  # for one message to reach everyone
STOP_TIMEOUT = 120.0  # a clean shutdown under valgrind, then callgrind writes its file
TOTALS_RE = re.compile(rb"^(?:summary|totals):\s*(\d+)", re.MULTILINE)


def start_counted(workdir: Path, counts: Path | None) -> tuple[subprocess.Popen, int]:
    """Start the server under callgrind (or, with no ``counts`` file, without valgrind); (its
    Popen, the port it listens on)."""
    log_path = workdir / "lanchat.out"
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={counts}", "--dump-line=no"] if counts else []
    command = [
        *valgrind, sys.executable, "-m", "lanchat", "serve", "--headless", "--no-limits", "--port", "0", "--host", "127.0.0.1",
        "--history", str(workdir / "history.sqlite3"), "--files-dir", str(workdir / "files"),
    ]  # fmt: skip
    # A fixed hash seed: string hashes decide where a dict probes, and so a few instructions.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0", "XDG_DATA_HOME": str(workdir)}
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    try:
        return popen, loadgen.lanchat_port(popen, log_path, START_TIMEOUT)
    except loadgen.BenchError as exc:
        raise SystemExit(f"{exc}") from None


def wait_for_hangups(popen: subprocess.Popen, log_path: Path, clients: int) -> None:
    """Poll the server's log until it has noticed every client hang up (or the deadline)."""
    deadline = time.monotonic() + HANGUP_TIMEOUT
    while time.monotonic() < deadline and popen.poll() is None:
        if log_path.read_text(errors="replace").count(" lost connection") >= clients:
            return
        time.sleep(0.1)  # polling a condition with a deadline
    raise SystemExit(f"the server did not notice all {clients} clients leave within {HANGUP_TIMEOUT:g} s")


async def paced_light(address: tuple[str, int], clients: int, rate: float, seconds: float) -> dict:
    """loadgen's light workload, each message sent at its time on the rate's schedule but never
    before the one before it reached every other client (its sender's copy is not waited for)."""
    dialect = loadgen.DIALECTS["lanchat"]
    hub = loadgen.Hub(dialect, address)
    try:
        await hub.join_all(clients)
        await loadgen.settle(hub)
        for client in hub.clients:
            client.latencies = []  # each message from someone else adds one
            client.tail = b""
        expected = [0] * clients
        total = int(rate * seconds)
        late = 0
        started = time.monotonic()
        for number in range(total):
            delay = started + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late += 1
            sender = hub.clients[number % clients]
            stamp = time.monotonic_ns()
            sender.own_stamps.add(stamp)
            sender.write(dialect.say(loadgen.pad(f"~T{stamp:019d}~ latency ")))
            for index in range(clients):
                expected[index] += index != number % clients
            deadline = time.monotonic() + DELIVERY_TIMEOUT
            while any(len(client.latencies or ()) < want for client, want in zip(hub.clients, expected, strict=True)):
                if time.monotonic() > deadline:
                    raise loadgen.BenchError(f"message {number} did not reach everyone within {DELIVERY_TIMEOUT:g} s")
                await hub.wait_progress(deadline - time.monotonic())
        return {"messages": total, "late": late, "seconds": round(time.monotonic() - started, 2)}
    finally:
        hub.close_all()


def counted_run(clients: int, rate: float, seconds: float, *, counted: bool = True) -> tuple[int, int, dict]:
    """(instructions, messages sent, the load generator's metrics) of one light run; not
    ``counted``: the same run without valgrind, and 0 instructions."""
    with tempfile.TemporaryDirectory(prefix="bench-ir-") as tmp:
        workdir = Path(tmp)
        counts = workdir / "callgrind.out"
        popen, port = start_counted(workdir, counts if counted else None)
        try:
            try:
                metrics = asyncio.run(paced_light(("127.0.0.1", port), clients, rate, seconds))
            except (TimeoutError, OSError, loadgen.BenchError) as exc:
                raise SystemExit(f"the light run failed: {exc or type(exc).__name__}") from None
            wait_for_hangups(popen, workdir / "lanchat.out", clients)
        finally:
            loadgen.stop(popen, grace=STOP_TIMEOUT)  # SIGTERM by PID; SIGKILL only after the grace
        if not counted:
            return 0, metrics["messages"], metrics
        found = TOTALS_RE.search(counts.read_bytes()) if counts.exists() else None
        if found is None:
            raise SystemExit("callgrind wrote no totals (the server was killed?)")
    return int(found.group(1)), metrics["messages"], metrics


def warm_up(clients: int, rate: float) -> None:
    """One short light run without valgrind, counted nowhere. Python writes a module's bytecode
    the first time it loads it (unless PYTHONDONTWRITEBYTECODE): on a fresh checkout, or after
    an edit, the short run compiled what the long run then found compiled, and read more
    instructions than the long one. After this both runs load the same bytecode."""
    counted_run(clients, rate, 0.2, counted=False)


def per_message(clients: int, rate: float, short: float, long: float) -> dict:
    """One measurement: a short and a long run, and what each further message cost."""
    short_ir, short_messages, short_metrics = counted_run(clients, rate, short)
    long_ir, long_messages, long_metrics = counted_run(clients, rate, long)
    return {
        "ir": [short_ir, long_ir],
        "messages": [short_messages, long_messages],
        "ir_per_message": round((long_ir - short_ir) / (long_messages - short_messages)),
        "late": [short_metrics["late"], long_metrics["late"]],
        "seconds": [short_metrics["seconds"], long_metrics["seconds"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, action="append", help="participants (repeatable; default 2 and 10)")
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second in all")
    parser.add_argument("--short", type=float, default=2.0, help="seconds of the short run")
    parser.add_argument("--long", type=float, default=6.0, help="seconds of the long run")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per client count (1-5)")
    parser.add_argument("--label", default="", help="a note kept in the JSON (which build this is)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sizes = args.clients or [2, 10]
    if not all(2 <= n <= 50 for n in sizes) or not 0 < args.short < args.long <= 30 or not 1 <= args.repeat <= 5:
        parser.error("2 to 50 clients; 0 < --short < --long <= 30 seconds; 1 to 5 repeats")
    if not 1 <= args.rate <= 1000:
        parser.error("1 to 1000 messages per second")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    report: dict = {"label": args.label, "rate": args.rate, "seconds": [args.short, args.long], "python": sys.version}
    warm_up(sizes[0], args.rate)
    for clients in sizes:
        runs = [per_message(clients, args.rate, args.short, args.long) for _ in range(args.repeat)]
        figures = [run["ir_per_message"] for run in runs]
        spread = (max(figures) - min(figures)) / statistics.median(figures)
        report[f"N={clients}"] = {"ir_per_message": round(statistics.median(figures)), "spread": round(spread, 4), "runs": runs}
        late = max(max(run["late"]) for run in runs)
        print(f"light N={clients} @{args.rate:g}/s: {statistics.median(figures):,.0f} instructions per message "
              f"(runs: {', '.join(f'{f:,}' for f in figures)}; spread {spread:.1%}; late sends, at most {late})", flush=True)  # fmt: skip
    out = args.out or HERE / "results" / "instructions-light.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
