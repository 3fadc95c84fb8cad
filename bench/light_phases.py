"""bench/light_phases.py: where one light-load loop pass spends its CPU, phase by phase. Measures, never asserts.

    python bench/light_phases.py                   # N=2 @100/s for 5 s, history on
    python bench/light_phases.py --clients 10 --no-history

Runs the real Server in this process (history on in a temporary folder, as `serve` runs it,
no limits as bench/run.py's) and drives it with bench/loadgen.py's ``light`` workload from a
separate process. Each phase of the loop is wrapped, on the instances only, with
``time.thread_time_ns`` (CPU of the server's thread, the kernel's work for its system calls
included): going to sleep in and waking from ``select()``, each read (``recv`` and the
per-message path: decode, room, encode, history keep), ``hub.expire``, the loop's timeout,
the history commit of the pass (``Flush._commit_pass``, hub_flush.py: the journal's write) and the rest of the
flush (the ``send()`` calls). Printed as us per message and written as JSON to
bench/results/light_phases-<N>.json. The wrappers cost a little each (well under 1 us a
phase), and this process also runs Python's import machinery at start: read the split, and
take the total from bench/light_probe.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from lanchat.gate import Gate  # noqa: E402
from lanchat.history import HistoryStore  # noqa: E402
from lanchat.protocol import Connection  # noqa: E402
from lanchat.room import Room  # noqa: E402
from lanchat.server import Server  # noqa: E402
from lanchat.transport import Endpoint, listen  # noqa: E402

LOADGEN_TIMEOUT = 60.0


def timed(spent: dict[str, int], counts: dict[str, int], name: str, call: Callable) -> Callable:
    clock = time.thread_time_ns

    def wrapper(*args: object, **kwargs: object) -> object:
        started = clock()
        try:
            return call(*args, **kwargs)
        finally:
            spent[name] += clock() - started
            counts[name] += 1

    return wrapper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-history", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not 2 <= args.clients <= 50 or not 0 < args.seconds <= 30:
        parser.error("2 to 50 clients, for at most 30 seconds")
    spent: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp:
        store = None if args.no_history else HistoryStore(Path(tmp) / "history.sqlite3")
        listener = listen(Endpoint(host="127.0.0.1", port=0))
        room = Room(history=store is not None, gate=Gate(clock=time.time))
        server = Server([listener], room, history=store)
        hub = server.hub
        server.poller.poll = timed(spent, counts, "select (sleep and wake up)", server.poller.poll)  # type: ignore[method-assign]
        server._read = timed(spent, counts, "read (recv, decode, room, encode, keep)", server._read)  # type: ignore[method-assign]
        hub.expire = timed(spent, counts, "hub.expire", hub.expire)  # type: ignore[method-assign]
        server._loop_timeout = timed(spent, counts, "loop timeout (next_deadline)", server._loop_timeout)  # type: ignore[method-assign]
        # inside a read: the hub's part, the say short path in it, and the room's and the store's parts in that
        hub.receive_data = timed(spent, counts, "hub.receive_data", hub.receive_data)  # type: ignore[method-assign]
        hub.say = timed(spent, counts, "hub.say", hub.say)  # type: ignore[method-assign]
        room.said_run = timed(spent, counts, "room.said_run", room.said_run)  # type: ignore[method-assign]
        hub.history.keep = timed(spent, counts, "history keep", hub.history.keep)  # type: ignore[method-assign]
        # the short path keeps a run of says with keep_said (Hub.say): the same bucket
        hub.history.keep_said = timed(spent, counts, "history keep", hub.history.keep_said)  # type: ignore[method-assign]
        # and inside hub.receive_data: the protocol's framing and the says' decoding (every
        # connection's: wrapped on the class for this run, put back afterwards)
        originals = {name: getattr(Connection, name) for name in ("receive_data", "next_says", "next_event")}
        for name, method in originals.items():
            setattr(Connection, name, timed(spent, counts, f"Connection.{name}", method))
        hub.flusher._commit_pass = timed(spent, counts, "history commit (journal write)", hub.flusher._commit_pass)  # type: ignore[method-assign]
        hub.flush = timed(spent, counts, "flush", hub.flush)  # type: ignore[method-assign]
        port = listener.getsockname()[1]
        command = [
            sys.executable, str(HERE / "loadgen.py"), "light", "--dialect", "lanchat", "--port", str(port),
            "--param", f"clients={args.clients}", "--param", f"rate={args.rate:g}", "--param", f"seconds={args.seconds:g}",
        ]  # fmt: skip
        outcome: dict[str, object] = {}

        def drive() -> None:
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=LOADGEN_TIMEOUT, cwd=ROOT)
                outcome["result"] = json.loads(done.stdout.strip().splitlines()[-1])
            except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
                outcome["error"] = repr(exc)
            finally:
                server.request_shutdown("measured")

        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        total_before = time.thread_time_ns()
        server.serve_forever()
        total = time.thread_time_ns() - total_before
        driver.join(LOADGEN_TIMEOUT)
        for name, method in originals.items():
            setattr(Connection, name, method)
        if store is not None:
            store.close()
    if "result" not in outcome:
        raise SystemExit(f"the load generator failed: {outcome.get('error')}")
    messages = int(outcome["result"]["metrics"]["messages"])  # type: ignore[index]
    read = "read (recv, decode, room, encode, keep)"
    phases = {
        "select (sleep and wake up)": spent["select (sleep and wake up)"],
        "loop timeout (next_deadline)": spent["loop timeout (next_deadline)"],
        read: spent[read],
        "  of which recv and the loop's read": spent[read] - spent["hub.receive_data"],
        "  of which hub.receive_data but hub.say (framing, decode, guard, deadlines)": spent["hub.receive_data"]
        - spent["hub.say"],
        "    of which Connection.receive_data (framing)": spent["Connection.receive_data"],
        "    of which Connection.next_says (decoding the says)": spent["Connection.next_says"],
        "    of which Connection.next_event (nothing left)": spent["Connection.next_event"],
        "  of which hub.say but room.said_run and history keep (broadcast)": spent["hub.say"]
        - spent["room.said_run"]
        - spent["history keep"],
        "  of which room.said_run (checks, stamp, encode)": spent["room.said_run"],
        "  of which history keep": spent["history keep"],
        "hub.expire": spent["hub.expire"],
        "history commit (journal write)": spent["history commit (journal write)"],
        "flush without the commit (the send() calls)": spent["flush"] - spent["history commit (journal write)"],
    }
    top = [name for name in phases if not name.startswith(" ")]
    phases["everything else in the loop (and the shutdown)"] = total - sum(phases[name] for name in top)
    report = {
        "workload": f"light N={args.clients} @{args.rate:g}/s for {args.seconds:g} s, history {'off' if args.no_history else 'on'}",
        "messages": messages,
        "passes": counts["select (sleep and wake up)"],
        "reads": counts["read (recv, decode, room, encode, keep)"],
        "server_thread_cpu_us_per_message": round(total / 1e3 / messages, 1),
        "us_per_message": {name: round(ns / 1e3 / messages, 1) for name, ns in phases.items()},
    }
    out = args.out or HERE / "results" / f"light_phases-{args.clients}{'-no-history' if args.no_history else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{report['workload']}: {messages} messages, {report['passes']} passes, "
          f"{report['server_thread_cpu_us_per_message']} us of the server thread's CPU a message")  # fmt: skip
    for name, value in report["us_per_message"].items():  # type: ignore[union-attr]
        print(f"  {value:7.1f} us  {name}")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
