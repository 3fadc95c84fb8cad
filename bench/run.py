"""bench/run.py: one command that benchmarks lanchat against ncat --chat and ngIRCd, side by side.

    .venv/bin/python bench/run.py            # the full run: 3 repetitions (several minutes)
    .venv/bin/python bench/run.py --quick    # one short repetition, about two minutes

Each workload runs on a fresh server, lanchat first and the references right after it, so they
see the same machine state; a light step (a chat's pace, where the machine's state moves the
figures most) starts every server at once and lets them take turns in short rounds instead
(light_interleaved). The ratios lanchat/reference are taken within each repetition and then
summarised. Servers listen on 127.0.0.1 only. Results go to bench/results/*.json.
A reference that is not installed is skipped with a note (apt-get install ncat ngircd).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402

START_TIMEOUT = 10.0


# ------------------------------------------------------------------ the servers


@dataclass
class Running:
    name: str
    dialect: str
    popen: subprocess.Popen
    address: tuple[str, int]


def _wait_listening(popen: subprocess.Popen, port: int, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if popen.poll() is not None:
            raise loadgen.BenchError(f"{what} exited at start (status {popen.returncode})")
        # A bare TCP connect would be a chat participant for ncat; asking the kernel is silent.
        if _port_listening(port):
            return
        if time.monotonic() > deadline:
            raise loadgen.BenchError(f"{what} did not start listening within {START_TIMEOUT}s")
        time.sleep(0.02)  # polling a condition with a deadline


def _port_listening(port: int) -> bool:
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[1].endswith(wanted) and parts[3] == "0A":  # 0A: LISTEN
                    return True
    return False


_SERVE_HELP: list[str] = []


def _lanchat_private_state(workdir: Path) -> list[str]:
    """Options that keep a benchmark's history and files in its temp folder, never the user's."""
    if not _SERVE_HELP:
        _SERVE_HELP.append(
            subprocess.run(
                [sys.executable, "-m", "lanchat", "serve", "--help"],
                capture_output=True, text=True, cwd=ROOT, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)},
            ).stdout
        )
    extra = []
    if "--history" in _SERVE_HELP[0]:
        extra += ["--history", str(workdir / "history.sqlite3")]
    if "--files-dir" in _SERVE_HELP[0]:
        extra += ["--files-dir", str(workdir / "files")]
    return extra


LANCHAT_EXTRA_ARGS: list[str] = []  # --lanchat-args, e.g. "--no-history" to see what history costs


def start_lanchat(workdir: Path) -> Running:
    log = open(workdir / "lanchat.out", "w+b")  # a file, not a pipe: a full pipe would stall the server
    # --no-limits: the benchmark lifts the flood limit and connection caps, as ngIRCd's
    # penalties are lifted for its benchmark (PROTOCOL.md, Abuse limits)
    command = [sys.executable, "-m", "lanchat", "serve", "--headless", "--port", "0", "--host", "127.0.0.1", "--no-limits"]
    private = _lanchat_private_state(workdir)
    if "--no-history" in LANCHAT_EXTRA_ARGS and "--history" in private:
        at = private.index("--history")
        del private[at : at + 2]  # the two options cannot be combined
    command += LANCHAT_EXTRA_ARGS + private
    popen = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        # XDG_DATA_HOME: a --tls server makes its certificate in the benchmark's temp folder
        env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(workdir)},
    )
    port = loadgen.lanchat_port(popen, workdir / "lanchat.out", START_TIMEOUT)
    return Running("lanchat", "lanchat", popen, ("127.0.0.1", port))


def start_ncat(workdir: Path) -> Running:
    port = loadgen.free_port()
    popen = subprocess.Popen(
        ["ncat", "--chat", "--listen", "--max-conns", "100000", "127.0.0.1", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "ncat.err", "wb"),
    )
    _wait_listening(popen, port, "ncat")
    return Running("ncat", "lines", popen, ("127.0.0.1", port))


NGIRCD_CONF = """\
[Global]
Name = bench.lanchat.invalid
Info = lanchat benchmark reference
AdminInfo1 = lanchat bench
AdminInfo2 = loopback only
AdminEMail = bench@localhost
Listen = 127.0.0.1
Ports = {port}
PidFile = {workdir}/ngircd.pid
MotdPhrase = bench
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 31
MaxPenaltyTime = 0
PingTimeout = 600
PongTimeout = 600
[Options]
IncludeDir = {workdir}/conf.d
DNS = no
Ident = no
PAM = no
"""


def start_ngircd(workdir: Path) -> Running:
    port = loadgen.free_port()
    (workdir / "conf.d").mkdir(exist_ok=True)
    conf = workdir / "ngircd.conf"
    conf.write_text(NGIRCD_CONF.format(port=port, workdir=workdir))
    popen = subprocess.Popen(
        ["ngircd", "--nodaemon", "--config", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "ngircd.err", "wb"),
    )
    _wait_listening(popen, port, "ngircd")
    return Running("ngircd", "irc", popen, ("127.0.0.1", port))


def start_pyrelay(workdir: Path, *, echo: bool = False, store: bool = False) -> Running:
    """bench/pyrelay.py: ncat --chat's job in a bare CPython selector loop (the CPython floor);
    ``echo``: each line back to its sender too, as lanchat's stamped copy (pyrelay-echo);
    ``store``: and each stamped and appended to a journal file first (pyrelay-store)."""
    port = loadgen.free_port()
    mode = ["--store", str(workdir / "pyrelay.journal")] if store else ["--echo"] if echo else []
    popen = subprocess.Popen(
        [sys.executable, str(HERE / "pyrelay.py"), str(port), *mode],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "pyrelay.err", "wb"),
    )
    _wait_listening(popen, port, "pyrelay")
    name = "pyrelay-store" if store else "pyrelay-echo" if echo else "pyrelay"
    return Running(name, "lines", popen, ("127.0.0.1", port))


SERVERS = {
    "lanchat": start_lanchat, "ncat": start_ncat, "ngircd": start_ngircd, "pyrelay": start_pyrelay,
    # not run unless named in --servers
    "pyrelay-echo": lambda workdir: start_pyrelay(workdir, echo=True),
    "pyrelay-store": lambda workdir: start_pyrelay(workdir, store=True),
}
BINARIES = {"ncat": "ncat", "ngircd": "ngircd"}
# The CPython floor is a reference for what one message costs a loop that wakes for it: the
# light workload only. At full speed it relays whole reads of many messages without looking at
# them (as ncat does), so a fan-out figure would compare framing with no framing.
ONLY_WORKLOADS = {"pyrelay": {"light"}, "pyrelay-echo": {"light"}, "pyrelay-store": {"light"}}


@contextlib.contextmanager
def server(name: str) -> Iterator[Running]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        running = SERVERS[name](Path(tmp))
        try:
            yield running
        finally:
            stop(running.popen)


stop = loadgen.stop  # SIGTERM, then SIGKILL after 5 s


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


@contextlib.contextmanager
def own_cpu(pid: int) -> Iterator[None]:
    """The server ``pid`` (every thread of it) on a CPU of its own, this process (the load
    generator) on the others, until the block ends: as on a LAN, where the clients are other
    machines. Sharing CPUs, each send() that wakes a client on the server's CPU lets that client
    preempt the server at the end of the call (bench/README.md, "Round 2, fourth session")."""
    cpus = _cpus()
    if len(cpus) < 2:
        raise loadgen.BenchError("a CPU of its own needs two CPUs")
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task.name), {cpus[-1]})
    os.sched_setaffinity(0, set(cpus[:-1]))
    try:
        yield
    finally:
        os.sched_setaffinity(0, set(cpus))


# ------------------------------------------------------------------ the plan


def plan(quick: bool, tiny: bool = False) -> list[tuple[str, str, dict]]:
    """(label, workload, parameters) in the order they run. A ``once`` parameter runs that
    step in the first repetition only (the 6,000-connection run takes minutes per server)."""
    if tiny:  # the smoke test's: every workload, a few clients, a fraction of a second each (5 messages a light round)
        return [
            ("fanout N=2", "fanout", {"clients": 2, "seconds": 0.15}),
            ("fanout N=5", "fanout", {"clients": 5, "seconds": 0.15}),
            ("latency N=3 @50/s", "latency", {"clients": 3, "rate": 50.0, "seconds": 0.2}),
            ("light N=2 @50/s", "light", {"clients": 2, "rate": 50.0, "seconds": 0.2, "segments": 2}),
            *([("light N=2 @50/s, own CPU", "light", {"clients": 2, "rate": 50.0, "seconds": 0.2, "segments": 2, "pinned": True})]
              if len(_cpus()) >= 2 else []),
            ("join N=10, 8 at once", "join", {"clients": 10, "concurrency": 8}),
            ("idle N=3", "idle", {"clients": 3, "seconds": 0.2}),
            ("maxconn 20 in 10 s", "maxconn", {"attempt": 20, "seconds": 10.0, "memory_at": 20}),
        ]
    fan_s = 1.0 if quick else 3.0
    lat_s = 1.5 if quick else 4.0
    segments = 2 if quick else 4  # light steps: the servers take turns (light_interleaved)
    steps: list[tuple[str, str, dict]] = []
    for n in (2, 10, 100, 500):
        steps.append((f"fanout N={n}", "fanout", {"clients": n, "seconds": fan_s}))
    for n in (2, 10):  # small rooms at a chat's pace: what each delivery costs a server at rest
        steps.append((f"light N={n} @100/s", "light", {"clients": n, "rate": 100.0, "seconds": lat_s, "segments": segments}))
    if len(_cpus()) >= 2:  # the same with the server on a CPU of its own, as on a LAN (own_cpu)
        for n in (2, 10):
            steps.append((f"light N={n} @100/s, own CPU", "light",
                          {"clients": n, "rate": 100.0, "seconds": lat_s, "segments": segments, "pinned": True}))
    steps.append(("latency N=10 @200/s", "latency", {"clients": 10, "rate": 200.0, "seconds": lat_s}))
    steps.append(("latency N=100 @100/s", "latency", {"clients": 100, "rate": 100.0, "seconds": lat_s}))
    if not quick:
        steps.append(("join N=500, 8 at once", "join", {"clients": 500, "concurrency": 8}))
    steps.append(("join N=500, 64 at once", "join", {"clients": 500, "concurrency": 64}))
    steps.append(("idle N=100", "idle", {"clients": 100, "seconds": 2.0 if quick else 10.0}))
    if quick:
        steps.append(("maxconn 2000 in 12 s", "maxconn", {"attempt": 2000, "seconds": 12.0}))
    else:
        steps.append(("maxconn 6000 in 90 s", "maxconn", {"attempt": 6000, "seconds": 90.0, "once": True}))
    return steps


# Which metrics the table shows for each workload, and whether bigger is better.
SHOWN = {
    "fanout": [("deliveries_per_s", True), ("cpu_us_per_delivery", False), ("server_peak_rss_mb", False)],
    "latency": [("p50_ms", False), ("p99_ms", False), ("server_peak_rss_mb", False)],
    "light": [("cpu_us_per_delivery", False), ("p99_ms", False), ("preempted_per_message", False)],
    "join": [("join_s", False), ("server_cpu_s", False)],
    "idle": [("wakeups", False), ("server_cpu_ms", False), ("server_rss_mb", False)],
    "maxconn": [("held", True), ("server_peak_rss_mb", False)],  # plus rss_mb_at_<N>, see _shown
}


def help_time(runs: int) -> dict:
    """Wall time of `python -m lanchat --help`, the way a user starts it."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "lanchat", "--help"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            check=True,
            timeout=30,
        )
        times.append(time.perf_counter() - started)
    return {"min_s": round(min(times), 4), "median_s": round(statistics.median(times), 4), "runs": runs}


def execute(servers: list[str], repeats: int, quick: bool, only: set[str] | None, log, tiny: bool = False) -> dict:  # noqa: ANN001
    steps = [s for s in plan(quick, tiny) if not only or s[1] in only]
    runs: list[dict] = []
    for rep in range(repeats):
        for label, workload, params in steps:
            params = dict(params)
            if params.pop("once", False) and rep > 0:
                continue
            pinned = params.pop("pinned", False)
            names = [n for n in servers if n not in ONLY_WORKLOADS or workload in ONLY_WORKLOADS[n]]
            if workload == "light":
                records = light_interleaved(names, params, pinned=pinned)
            else:
                records = [one_server(name, workload, params) for name in names]
            for name, result, wall_s in records:
                record = {
                    "rep": rep,
                    "label": label,
                    "workload": workload,
                    "server": name,
                    "params": {**params, "pinned": True} if pinned else params,
                    "metrics": result.metrics,
                    "notes": result.notes,
                    "wall_s": round(wall_s, 2),
                    "loadavg": [round(x, 2) for x in os.getloadavg()],
                }
                runs.append(record)
                log(_one_line(record))
    return {"runs": runs, "steps": [s[0] for s in steps]}


def one_server(name: str, workload: str, params: dict) -> tuple[str, loadgen.Result, float]:
    """One workload against a freshly started server: (its name, the result, wall seconds)."""
    started = time.monotonic()
    try:
        with server(name) as running:
            target = loadgen.Target(running.dialect, running.address, running.popen.pid)
            result = loadgen.run(workload, target, **params)
    except loadgen.BenchError as exc:
        result = loadgen.Result(workload, name, {"failed": 1}, [f"failed: {exc}"])
    return name, result, time.monotonic() - started


def light_interleaved(names: list[str], params: dict, *, pinned: bool) -> list[tuple[str, loadgen.Result, float]]:
    """A light step, the servers taking turns: all started at once, then ``segments`` rounds in
    which each runs ``seconds / segments`` of the workload, the order rotating from round to round.
    A light figure moves with the machine's state (the CPUs' sleep states: the same build read 75
    and 125 us an hour apart), so servers measured one after the other for the whole step compare
    different moments; in turns, a drift reaches every server alike (bench/README.md, "Round 2,
    fifth session"). A server's figures are its rounds summed: CPU and deliveries, preemptions,
    messages; p50 the median of its rounds', p99 and max the worst round's."""
    params = dict(params)
    segments = int(params.pop("segments", 1))
    params["seconds"] = params["seconds"] / segments
    parts: dict[str, list[loadgen.Result]] = {name: [] for name in names}
    wall: dict[str, float] = dict.fromkeys(names, 0.0)
    failed: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        running: dict[str, Running] = {}
        for name in names:
            started = time.monotonic()
            try:
                running[name] = stack.enter_context(server(name))
            except loadgen.BenchError as exc:
                failed[name] = f"failed: {exc}"
            wall[name] += time.monotonic() - started
        for segment in range(segments):
            turn = [n for n in names if n in running]
            turn = turn[segment % len(turn) :] + turn[: segment % len(turn)] if turn else []
            for name in turn:
                if name in failed:
                    continue
                one = running[name]
                started = time.monotonic()
                with own_cpu(one.popen.pid) if pinned else contextlib.nullcontext():
                    target = loadgen.Target(one.dialect, one.address, one.popen.pid)
                    result = loadgen.run("light", target, **params)
                    if pinned:  # read back while it runs: the smoke test checks the server had one
                        result.metrics["server_cpus"] = len(os.sched_getaffinity(one.popen.pid))
                wall[name] += time.monotonic() - started
                if "failed" in result.metrics:
                    failed[name] = "; ".join(result.notes) or "failed"
                parts[name].append(result)
    out = []
    for name in names:
        if name in failed:
            out.append((name, loadgen.Result("light", name, {"failed": 1}, [failed[name]]), wall[name]))
        else:
            out.append((name, _summed(parts[name], segments), wall[name]))
    return out


def _summed(parts: list[loadgen.Result], segments: int) -> loadgen.Result:
    """One server's light rounds as one result (light_interleaved)."""
    metrics = [part.metrics for part in parts]
    messages = sum(m["messages"] for m in metrics)
    deliveries = sum(m["deliveries"] for m in metrics)
    cpu_s = sum(m["server_cpu_s"] for m in metrics)
    preempted = sum(m["preempted"] for m in metrics)
    last = metrics[-1]
    summed: dict[str, float] = {
        **last,  # clients, rate, probes; RSS as the last round read it
        "messages": messages,
        "deliveries": deliveries,
        "samples": sum(m["samples"] for m in metrics),
        "expected": sum(m["expected"] for m in metrics),
        "server_cpu_s": round(cpu_s, 6),
        "cpu_us_per_delivery": round(cpu_s * 1e6 / max(deliveries, 1), 3),
        "preempted": preempted,
        "preempted_per_message": round(preempted / max(messages, 1), 2),
        "p50_ms": statistics.median(m["p50_ms"] for m in metrics),
        "p99_ms": max(m["p99_ms"] for m in metrics),
        "max_ms": max(m["max_ms"] for m in metrics),
        "server_peak_rss_mb": max(m["server_peak_rss_mb"] for m in metrics),
        "segments": segments,
        "cpu_us_per_delivery_per_segment": [m["cpu_us_per_delivery"] for m in metrics],
    }
    summed.pop("mean_ms", None)  # not the mean of the whole step
    notes = [note for part in parts for note in part.notes]
    return loadgen.Result("light", parts[-1].server, summed, notes)


def _one_line(record: dict) -> str:
    shown = [m for m, _ in _shown([record])]
    values = ", ".join(f"{m}={record['metrics'][m]}" for m in shown if m in record["metrics"])
    notes = ("  [" + "; ".join(record["notes"]) + "]") if record["notes"] else ""
    return f"  rep {record['rep']} {record['label']:<22} {record['server']:<8} {values}{notes}"


# ------------------------------------------------------------------ the table


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return _fmt(values[0])
    return f"{_fmt(min(values))} / {_fmt(statistics.median(values))} / {_fmt(max(values))}"


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _shown(runs: list[dict]) -> list[tuple[str, bool]]:
    """The metrics to show for one step: SHOWN's, and the memory reading at a client count."""
    shown = list(SHOWN[runs[0]["workload"]])
    marks = sorted({m for r in runs for m in r["metrics"] if m.startswith("rss_mb_at_")})
    return shown[:1] + [(m, False) for m in marks] + shown[1:]


def summarise(data: dict, servers: list[str]) -> list[dict]:
    """One row per (step, metric): each server's values, and lanchat/reference ratios per repetition."""
    rows = []
    by_key: dict[tuple, dict] = {}
    for run in data["runs"]:
        by_key[(run["label"], run["server"], run["rep"])] = run
    reps = sorted({r["rep"] for r in data["runs"]})
    for label in data["steps"]:
        runs = [r for r in data["runs"] if r["label"] == label]
        if not runs:
            continue
        for metric, bigger_better in _shown(runs):
            row = {"step": label, "metric": metric, "bigger_is_better": bigger_better, "values": {}, "ratios": {}}
            for name in servers:
                row["values"][name] = [
                    by_key[(label, name, rep)]["metrics"][metric]
                    for rep in reps
                    if (label, name, rep) in by_key and metric in by_key[(label, name, rep)]["metrics"]
                ]
            for ref in servers:
                if ref == "lanchat":
                    continue
                ratios = []
                for rep in reps:
                    mine = by_key.get((label, "lanchat", rep), {}).get("metrics", {}).get(metric)
                    theirs = by_key.get((label, ref, rep), {}).get("metrics", {}).get(metric)
                    if mine is not None and theirs:
                        ratios.append(mine / theirs)
                row["ratios"][ref] = ratios
            rows.append(row)
    return rows


def table(rows: list[dict], servers: list[str]) -> str:
    headers = ["step", "metric"] + [f"{s} min/med/max" for s in servers]
    headers += [f"lanchat/{s}" for s in servers if s != "lanchat"]
    lines = []
    for row in rows:
        cells = [row["step"], row["metric"] + (" (+)" if row["bigger_is_better"] else "")]
        cells += [_spread(row["values"].get(s, [])) for s in servers]
        cells += [_spread(row["ratios"].get(s, [])) for s in servers if s != "lanchat"]
        lines.append(cells)
    widths = [max(len(str(r[i])) for r in [headers, *lines]) for i in range(len(headers))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for cells in lines:
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")
    return "\n".join(out)


def goals(rows: list[dict], help_s: dict | None) -> list[tuple[str, bool | None, str]]:
    """The issue's goals, judged on the medians of the per-repetition ratios."""

    def matches(row: dict, step: str, metric: str) -> bool:
        # a step is named exactly, except "maxconn", which stands for any connection-count run
        named = row["step"].startswith("maxconn") if step == "maxconn" else row["step"] == step
        return named and row["metric"] == metric

    def ratio(step: str, metric: str, ref: str) -> float | None:
        for row in rows:
            if matches(row, step, metric) and row["ratios"].get(ref):
                return statistics.median(row["ratios"][ref])
        return None

    def value(step: str, metric: str, name: str = "lanchat") -> float | None:
        for row in rows:
            if matches(row, step, metric) and row["values"].get(name):
                return statistics.median(row["values"][name])
        return None

    out: list[tuple[str, bool | None, str]] = []

    def check(text: str, got: float | None, ok) -> None:  # noqa: ANN001
        out.append((text, None if got is None else bool(ok(got)), "n/a" if got is None else _fmt(got)))

    for n in (100, 500):
        check(
            f"CPU per delivery at N={n} <= ngIRCd's (ratio <= 1)",
            ratio(f"fanout N={n}", "cpu_us_per_delivery", "ngircd"),
            lambda r: r <= 1,
        )
        for ref in ("ngircd", "ncat"):
            check(
                f"fan-out N={n} throughput >= {ref}'s (ratio >= 1)",
                ratio(f"fanout N={n}", "deliveries_per_s", ref),
                lambda r: r >= 1,
            )
    for n in (2, 10):  # issue 18: small rooms
        for ref in ("ncat", "ngircd"):
            check(
                f"fan-out N={n} throughput >= {ref}'s (ratio >= 1)",
                ratio(f"fanout N={n}", "deliveries_per_s", ref),
                lambda r: r >= 1,
            )
        for step in (f"fanout N={n}", f"light N={n} @100/s", f"light N={n} @100/s, own CPU"):
            check(
                f"CPU per delivery, {step}, <= 2x ngIRCd's",
                ratio(step, "cpu_us_per_delivery", "ngircd"),
                lambda r: r <= 2,
            )
    for ref in ("ncat", "ngircd"):
        check(f"p99 latency N=10 <= 1/10 of {ref}'s", ratio("latency N=10 @200/s", "p99_ms", ref), lambda r: r <= 0.1)
        check(
            f"p99 latency N=100 <= 1/3 of {ref}'s", ratio("latency N=100 @100/s", "p99_ms", ref), lambda r: r <= 1 / 3
        )
    for burst in (64, 8):
        check(
            f"500 joined in < 1/2 of ngIRCd's time ({burst} at once)",
            ratio(f"join N=500, {burst} at once", "join_s", "ngircd"),
            lambda r: r < 0.5,
        )
    check("concurrent connections held >= 5,000", value("maxconn", "held"), lambda v: v >= 5000)
    check("100 idle clients: 0 wake-ups", value("idle N=100", "wakeups"), lambda v: v == 0)
    check("RSS with 2,000 clients < 40 MB", value("maxconn", "rss_mb_at_2000"), lambda v: v < 40)
    check("`python -m lanchat --help` < 0.15 s (median)", help_s["median_s"] if help_s else None, lambda v: v < 0.15)
    return out


def machine() -> dict[str, object]:
    """What the figures were taken on, the interpreter included: Debian's python3.11 runs
    bench/hub_bench.py's loop work 8-14% faster than this project's first machine's pyenv build
    (plain ./configure, no profile-guided or link-time optimisation; bench/README.md, "Round 2,
    fifth session"), so a figure says which one ran lanchat and the CPython relay."""
    return {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": os.path.realpath(sys.executable),  # a venv's python is a link to it
        "python_configure": sysconfig.get_config_var("CONFIG_ARGS") or "",
        "python_compiler": platform.python_compiler(),
    }


def markdown(report: dict) -> str:
    """A results JSON as the README shows it: how it was run, the table, the goals."""
    rows = report["summary"]
    lines = [
        f"`bench/run.py{' --quick' if report.get('quick') else ''}`: {report['repeats']} repetition(s), "
        f"{report['started']}, {report['seconds'] / 60:.0f} minutes, {report['machine']['cpus']} CPUs, load average "
        f"{report['loadavg_before'][0]:.2f} before and {report['loadavg_after'][0]:.2f} after"
        + (
            f", Python {report['machine']['python']} from {report['machine']['python_executable']}."
            if "python_executable" in report["machine"]
            else "."
        ),
        "",
        table(rows, report["servers"]),
        "",
    ]
    if report.get("help"):
        lines.append(
            f"`python -m lanchat --help`: median {report['help']['median_s'] * 1000:.0f} ms "
            f"over {report['help']['runs']} runs."
        )
        lines.append("")
    if "lanchat" in report["servers"] and not report.get("tiny"):
        lines.append("The issue's goals, judged on the medians of the per-repetition ratios:")
        lines.append("")
        for text, ok, got in goals(rows, report.get("help")):
            lines.append(f"- {({True: 'met', False: '**missed**', None: 'n/a'})[ok]}: {text} ({got})")
    return "\n".join(lines)


def tls_beside_plain(tls: dict, plain: dict) -> str:
    """lanchat over TLS beside a plain run, as markdown: each shown metric's median in both and
    TLS/plain (two runs, one after the other: ratios of medians, not of paired repetitions)."""
    if not tls.get("tls") or plain.get("tls"):
        raise ValueError("give a --tls run to --report and a plain run to --plain")
    plain_rows = {(row["step"], row["metric"]): row for row in plain["summary"]}
    header = (
        f"lanchat over TLS ({tls['started']}, load average {tls['loadavg_before'][0]:.2f} to {tls['loadavg_after'][0]:.2f}) "
        f"beside plain ({plain['started']}, load average {plain['loadavg_before'][0]:.2f} to "
        f"{plain['loadavg_after'][0]:.2f}); medians of {tls['repeats']} and {plain['repeats']} repetition(s)."
    )
    lines = [header, "", "| step | metric | plain | TLS | TLS/plain |", "|---|---|---|---|---|"]
    for row in tls["summary"]:
        mine = row["values"].get("lanchat") or []
        other = (plain_rows.get((row["step"], row["metric"])) or {}).get("values", {}).get("lanchat") or []
        if not mine:
            continue
        ours = statistics.median(mine)
        theirs = statistics.median(other) if other else None
        ratio = _fmt(ours / theirs) if theirs else "-"
        metric = row["metric"] + (" (+)" if row["bigger_is_better"] else "")
        lines.append(
            f"| {row['step']} | {metric} | {_fmt(theirs) if theirs is not None else '-'} | {_fmt(ours)} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark lanchat against ncat --chat and ngIRCd.")
    parser.add_argument("--quick", action="store_true", help="one short repetition (about two minutes)")
    parser.add_argument("--tiny", action="store_true", help="a few clients for a fraction of a second (the smoke test)")
    parser.add_argument("--repeats", type=int, help="repetitions (default 3, or 1 with --quick)")
    parser.add_argument("--servers", default="lanchat,ncat,ngircd,pyrelay", help="comma-separated subset")
    parser.add_argument("--only", help="comma-separated workloads: fanout,light,latency,join,idle,maxconn")
    parser.add_argument("--out", help="where to write the JSON (default bench/results/<time>.json)")
    parser.add_argument("--lanchat-args", default="", help='extra options for lanchat serve, e.g. "--no-history"')
    parser.add_argument(
        "--tls",
        action="store_true",
        help="lanchat with serve --tls and TLS clients (lanchat only: the references have no TLS)",
    )
    parser.add_argument(
        "--report", metavar="JSON", help="print an earlier run's table and goals as markdown, run nothing"
    )
    parser.add_argument(
        "--plain",
        metavar="JSON",
        help="with --report TLS.json: lanchat's figures over TLS beside this plain run's, and TLS/plain",
    )
    args = parser.parse_args(argv)
    if args.plain and not args.report:
        parser.error("--plain goes with --report (a --tls run's JSON)")
    if args.report:
        try:
            report = json.loads(Path(args.report).read_text())
            if args.plain:
                print(tls_beside_plain(report, json.loads(Path(args.plain).read_text())))
            else:
                print(markdown(report))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error(f"cannot read {args.report}{' or ' + args.plain if args.plain else ''}: {exc}")
        return 0

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s): {', '.join(unknown)}")
    skipped = [s for s in servers if s in BINARIES and shutil.which(BINARIES[s]) is None]
    servers = [s for s in servers if s not in skipped]
    only = {w.strip() for w in args.only.split(",")} if args.only else None
    if only and only - set(SHOWN):
        parser.error(f"unknown workload(s): {', '.join(sorted(only - set(SHOWN)))}")
    repeats = args.repeats or (1 if args.quick or args.tiny else 3)
    LANCHAT_EXTRA_ARGS[:] = args.lanchat_args.split()
    if args.tls:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # what lanchat's client uses (tls.client_context)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        LANCHAT_EXTRA_ARGS.append("--tls")
        loadgen.TLS_CONTEXT = context
        servers = [s for s in servers if s == "lanchat"]
    fd_limit = loadgen.raise_fd_limit()  # servers started from here inherit it

    def log(line: str) -> None:
        print(line, flush=True)

    for name in skipped:
        log(f"skipping {name}: not installed (apt-get install {BINARIES[name]})")
    started = time.time()
    load_before = os.getloadavg()
    log(
        f"lanchat bench: {', '.join(servers)}; {repeats} repetition(s){' (quick)' if args.quick else ''}; "
        f"load average {load_before[0]:.2f}; open-file limit {fd_limit}"
    )
    data = execute(servers, repeats, args.quick, only, log, tiny=args.tiny)
    help_s = help_time(2 if args.tiny else 5 if args.quick else 15) if not only and "lanchat" in servers else None
    rows = summarise(data, servers)
    load_after = os.getloadavg()
    text = table(rows, servers)
    judged = goals(rows, help_s) if "lanchat" in servers and not args.tiny else []
    log("")
    log(text)
    if help_s:
        log(
            f"\n`python -m lanchat --help`: median {help_s['median_s']} s, min {help_s['min_s']} s ({help_s['runs']} runs)"
        )
    log(f"load average: {load_before[0]:.2f} before, {load_after[0]:.2f} after; {os.cpu_count()} CPUs")
    if judged:
        log("\ngoals (median of per-repetition ratios):")
        for text_, ok, got in judged:
            mark = {True: "met ", False: "MISS", None: "n/a "}[ok]
            log(f"  [{mark}] {text_}: {got}")
    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "quick": args.quick,
        "tiny": args.tiny,
        "repeats": repeats,
        "servers": servers,
        "tls": args.tls,  # lanchat ran with serve --tls and TLS clients
        "skipped": skipped,
        "machine": machine(),
        "loadavg_before": list(load_before),
        "loadavg_after": list(load_after),
        "help": help_s,
        "runs": data["runs"],
        "summary": rows,
        "goals": [{"goal": g, "met": ok, "value": v} for g, ok, v in judged],
        "table": text,
    }
    default_name = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started)) + ("-tls" if args.tls else "") + ".json"
    out = Path(args.out) if args.out else HERE / "results" / default_name  # a TLS run's file says so
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    log(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
