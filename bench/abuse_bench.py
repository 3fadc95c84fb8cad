"""bench/abuse_bench.py: does one student spoil the room for the others? Loopback only, bounded in count and time.

Two runs against a real `lanchat serve` (abuse limits on, as by default):

1. **alone**: N ordinary participants (default 50) each say one line a second, at random
   offsets; every participant measures the latency of every line it receives (the send time
   travels in the text) and checks, per sender, that nothing is lost or reordered;
2. **attacked**: the same, while at once a *flooder* sends as fast as the kernel takes it, a
   *never-reader* joins and never reads, a *slowloris* drips hellos a byte a second on 20
   connections, and a *connection storm* opens as many connections as it can from the same
   address (bounded: 2,000 attempts).

Reported: the ordinary participants' p50/p99 latency in both runs, lines lost or reordered
among them, how many of the flooder's lines reached the room and when it was held and
disconnected, when the never-reader and the slowloris were dropped, what the storm got, and
the server's memory. Figures go to bench/results/abuse.json (and the table to stdout).

    python bench/abuse_bench.py            # about a minute
    python bench/abuse_bench.py --tiny     # a few seconds, for the smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from headless import start_server, stop_server  # noqa: E402

from lanchat import events as ev  # noqa: E402
from lanchat.protocol import Connection, ConnectionClosed, Role, encode  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "abuse.json"
CONNECT_TIMEOUT = 10.0


# ------------------------------------------------------------------ the server


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MiB."""
    found = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", 0.0), found.get("VmHWM", 0.0)


# ------------------------------------------------------------------ ordinary participants


@dataclass
class Participant:
    name: str
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    proto: Connection = field(default_factory=lambda: Connection(Role.CLIENT))
    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    last_seq: dict[str, int] = field(default_factory=dict)
    reordered: int = 0
    received: dict[str, int] = field(default_factory=dict)
    flooder_lines: int = 0
    left_at: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


async def join(name: str, port: int) -> Participant:
    person = Participant(name)
    person.reader, person.writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT)
    person.writer.write(person.proto.send(ev.Hello(name=name)))
    while True:
        data = await asyncio.wait_for(person.reader.read(65536), CONNECT_TIMEOUT)
        if not data:
            raise SystemExit(f"{name}: the server closed during the handshake")
        person.proto.receive_data(data)
        if any(isinstance(e, ev.Welcome) for e in person.proto.events()):
            return person


def on_event(person: Participant, event: object, t0: float) -> None:
    if isinstance(event, ev.Message) and not event.history:
        sender = event.sender
        if sender.startswith("p"):
            seq_text, _, sent_ns = event.text.partition(" ")
            seq = int(seq_text)
            person.latencies_ms.append((time.monotonic_ns() - int(sent_ns)) / 1e6)
            if seq <= person.last_seq.get(sender, -1):
                person.reordered += 1
            person.last_seq[sender] = seq
            person.received[sender] = person.received.get(sender, 0) + 1
        elif sender == "flooder":
            person.flooder_lines += 1
    elif isinstance(event, ev.Left):
        person.left_at.setdefault(f"{event.name} ({event.reason})", time.monotonic() - t0)
    elif isinstance(event, ev.Error):
        person.errors.append(event.code)


async def read_loop(person: Participant, t0: float, stop: asyncio.Event) -> None:
    assert person.reader is not None
    while not stop.is_set():
        try:
            data = await asyncio.wait_for(person.reader.read(65536), 0.5)
        except TimeoutError:
            continue
        person.proto.receive_data(data)
        for event in person.proto.events():
            if isinstance(event, ConnectionClosed):
                person.errors.append("closed")
                return
            on_event(person, event, t0)


async def say_loop(person: Participant, rate: float, until: float) -> None:
    assert person.writer is not None
    await asyncio.sleep(random.random() / rate)  # everyone at a different offset
    while time.monotonic() < until:
        text = f"{person.sent} {time.monotonic_ns()}"
        person.writer.write(person.proto.send(ev.Say(text=text)))
        person.sent += 1
        await asyncio.sleep(1 / rate)


IN_FLIGHT_SECONDS = 1.5  # after the last line sent: one that has not reached everyone by then counts as lost


async def in_flight(people: list[Participant], seconds: float) -> None:
    """Until every line sent has reached every participant (its sender too: the echo), or
    ``seconds``: what is in flight arrives. All in, there is nothing more to wait for."""
    sent = {person.name: person.sent for person in people}
    deadline = time.monotonic() + seconds
    while any(person.received.get(name, 0) < count for person in people for name, count in sent.items()):
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.01)  # polling a condition with a deadline


async def chat(port: int, participants: int, rate: float, seconds: float, *, started: object = None) -> dict:
    random.seed(7)
    people = [await join(f"p{i:02d}", port) for i in range(participants)]
    if started is not None:
        started.set()  # type: ignore[attr-defined]
    t0 = time.monotonic()
    stop = asyncio.Event()
    readers = [asyncio.create_task(read_loop(p, t0, stop)) for p in people]
    await asyncio.gather(*(say_loop(p, rate, t0 + seconds) for p in people))
    await in_flight(people, IN_FLIGHT_SECONDS)
    stop.set()
    for reader in readers:  # each waits in a read (up to 0.5 s before it looks at stop): nothing half done
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for person in people:
        with contextlib.suppress(Exception):
            assert person.writer is not None
            person.writer.close()
    sent = {p.name: p.sent for p in people}
    lost = sum(
        max(0, sent[sender] - person.received.get(sender, 0))
        for person in people for sender in sent if sender != person.name
    )  # fmt: skip
    latencies = sorted(x for p in people for x in p.latencies_ms)
    left: dict[str, float] = {}
    for person in people:
        for who, when in person.left_at.items():
            left[who] = min(when, left.get(who, when))
    return {
        "participants": participants,
        "lines_sent": sum(sent.values()),
        "deliveries": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2) if latencies else None,
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "lost": lost,
        "reordered": sum(p.reordered for p in people),
        "ordinary_errors": sorted({code for p in people for code in p.errors}),
        "flooder_lines_seen_by_each": max((p.flooder_lines for p in people), default=0),
        "left": {who: round(when, 2) for who, when in sorted(left.items(), key=lambda kv: kv[1])},
    }


# ------------------------------------------------------------------ the attackers (own processes)


def frame_of(event: ev.Event) -> bytes:
    return encode(event)


def flooder(port: int, seconds: float, report: multiprocessing.Queue) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT)
    proto = Connection(Role.CLIENT)
    sock.sendall(proto.send(ev.Hello(name="flooder")))
    sock.setblocking(False)
    t0 = time.monotonic()
    held_at: float | None = None
    ended_at: float | None = None
    written = 0
    told_slow_down = 0
    line = frame_of(ev.Say(text="FLOOD " + "x" * 50))
    pending = b""
    while time.monotonic() - t0 < seconds and ended_at is None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            data = sock.recv(262144)
            if not data:
                ended_at = time.monotonic() - t0
                break
            proto.receive_data(data)
            for event in proto.events():
                if isinstance(event, ev.Error):
                    told_slow_down += event.code == ev.E_SLOW_DOWN
                    if event.fatal:
                        ended_at = time.monotonic() - t0
        try:
            if not pending:
                pending = line * 64
            sent = sock.send(pending)
            pending = pending[sent:]
            written += sent // len(line)
        except (BlockingIOError, InterruptedError):
            if held_at is None:
                held_at = time.monotonic() - t0  # the server stopped reading: our buffers are full
            time.sleep(0.01)
        except OSError:
            ended_at = time.monotonic() - t0
    sock.close()
    report.put(("flooder", {"lines_written_to_kernel": written, "slow_down_errors": told_slow_down,
                            "held_after_s": held_at, "disconnected_after_s": ended_at}))  # fmt: skip


def never_reader(port: int, seconds: float, report: multiprocessing.Queue) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(CONNECT_TIMEOUT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(Connection(Role.CLIENT).send(ev.Hello(name="never")))
    time.sleep(seconds)  # never reads: the server must drop it, not stall for it
    sock.close()
    report.put(("never-reader", {"joined": True}))


def slowloris(port: int, seconds: float, report: multiprocessing.Queue, connections: int = 20) -> None:
    hello = Connection(Role.CLIENT).send(ev.Hello(name="loris"))
    socks = []
    for _ in range(connections):
        with contextlib.suppress(OSError):
            s = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT)
            s.setblocking(False)
            socks.append(s)
    t0 = time.monotonic()
    closed_at: list[float] = []
    alive = list(socks)
    index = 0
    while alive and time.monotonic() - t0 < seconds and index < len(hello) - 1:
        for s in list(alive):
            try:
                s.send(hello[index : index + 1])  # a byte a second, never the last one
                data = s.recv(4096)
                if data == b"" or b"deadline" in data:
                    closed_at.append(time.monotonic() - t0)
                    alive.remove(s)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed_at.append(time.monotonic() - t0)
                alive.remove(s)
        index += 1
        time.sleep(1.0)
    for s in socks:
        s.close()
    report.put(("slowloris", {"connections": len(socks), "closed": len(closed_at),
                              "closed_after_s_max": round(max(closed_at), 1) if closed_at else None}))  # fmt: skip


def storm(port: int, seconds: float, report: multiprocessing.Queue, attempts: int = 2000) -> None:
    """As many connections as it can from this address, as fast as it can (bounded), none of
    which says hello; then what each got: held open, or refused with a line."""
    import selectors

    t0 = time.monotonic()
    opened: list[socket.socket] = []
    failed = 0
    for _ in range(attempts):
        if time.monotonic() - t0 > seconds / 2:
            break
        try:
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            failed += 1
    time.sleep(1.0)  # bench pacing: refusals are written at once; give them a second to arrive
    selector = selectors.DefaultSelector()
    for s in opened:
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
    answered = {key.fileobj for key, _ in selector.select(0.5)}
    refusal = ""
    refused = 0
    for s in answered:
        with contextlib.suppress(OSError):
            data = s.recv(4096)  # type: ignore[union-attr]
            if data:
                refused += 1
                refusal = refusal or data[4:].decode("utf-8", "replace")
    selector.close()
    for s in opened:
        s.close()
    report.put(("storm", {"opened": len(opened), "held_open": len(opened) - refused, "refused_with_a_line": refused,
                          "connect_failed": failed, "refusal": refusal[:160]}))  # fmt: skip


# ------------------------------------------------------------------ the runs


def run(participants: int, rate: float, seconds: float, attacked: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="lanchat-abuse-") as folder:
        server, port = start_server(Path(folder))
        try:
            time.sleep(0.2)  # bench pacing, not synchronisation: let the server settle
            before = rss_mb(server.pid)[0]
            attackers: list[multiprocessing.Process] = []
            report: multiprocessing.Queue = multiprocessing.Queue()
            result: dict = {}

            async def main() -> dict:
                started = asyncio.Event()
                task = asyncio.create_task(chat(port, participants, rate, seconds, started=started))
                await started.wait()
                joined = rss_mb(server.pid)[0]
                result["server_rss_mb_after_joins"] = round(joined, 1)
                if attacked:
                    for target in (flooder, never_reader, slowloris, storm):
                        proc = multiprocessing.Process(target=target, args=(port, seconds, report), daemon=True)
                        proc.start()
                        attackers.append(proc)
                return await task

            result.update(asyncio.run(main()))
            for proc in attackers:
                proc.join(seconds + 15)
                if proc.is_alive():
                    proc.kill()
            while not report.empty():
                who, figures = report.get_nowait()
                result[who] = figures
            rss, hwm = rss_mb(server.pid)
            result["server_rss_mb_before"] = round(before, 1)
            result["server_rss_mb_end"] = round(rss, 1)
            result["server_peak_rss_mb"] = round(hwm, 1)
            result["server_alive"] = server.poll() is None
            return result
        finally:
            stop_server(server)


def table(alone: dict, attacked: dict) -> str:
    def row(name: str, a: object, b: object) -> str:
        return f"| {name} | {a} | {b} |"

    lines = [
        "| measure | alone | with attackers |",
        "|---|---|---|",
        row("ordinary participants, lines a second each", f"{alone['participants']}, 1", f"{attacked['participants']}, 1"),
        row("deliveries measured", alone["deliveries"], attacked["deliveries"]),
        row("p50 latency (ms)", alone["p50_ms"], attacked["p50_ms"]),
        row("p99 latency (ms)", alone["p99_ms"], attacked["p99_ms"]),
        row("lost / reordered", f"{alone['lost']} / {alone['reordered']}", f"{attacked['lost']} / {attacked['reordered']}"),
        row("server memory after joins, peak (MiB)",
            f"{alone['server_rss_mb_after_joins']}, {alone['server_peak_rss_mb']}",
            f"{attacked['server_rss_mb_after_joins']}, {attacked['server_peak_rss_mb']}"),
    ]  # fmt: skip
    flood = attacked.get("flooder", {})
    lines.append(row("flooder: lines each participant saw", "", attacked["flooder_lines_seen_by_each"]))
    lines.append(row("flooder: its writes blocked after, disconnected after (s)", "",
                     f"{_s(flood.get('held_after_s'))}, {_s(flood.get('disconnected_after_s'))}"))  # fmt: skip
    left = attacked.get("left", {})
    never = next((f"{when} s" for who, when in left.items() if who == "never (dropped)"), "not within the run")
    lines.append(row("never-reader dropped after", "", never))
    loris = attacked.get("slowloris", {})
    lines.append(row("slowloris: connections closed, last after (s)", "",
                     f"{loris.get('closed')}/{loris.get('connections')}, {loris.get('closed_after_s_max')}"))  # fmt: skip
    storm_figures = attacked.get("storm", {})
    lines.append(row("connection storm: held open / refused with a line / failed", "",
                     f"{storm_figures.get('held_open')} / {storm_figures.get('refused_with_a_line')} / {storm_figures.get('connect_failed')}"))  # fmt: skip
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each run (the slowloris needs > 12, the never-reader > 30)")
    parser.add_argument("--tiny", action="store_true", help="5 participants for 2 s: does it run at all")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    participants, seconds = (5, 2.0) if args.tiny else (args.participants, args.seconds)
    alone = run(participants, 1.0, seconds, attacked=False)
    attacked = run(participants, 1.0, seconds, attacked=True)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "alone": alone,
        "attacked": attacked,
        "goals": {
            "p99_attacked_at_most_2x_alone": attacked["p99_ms"] is not None and alone["p99_ms"] is not None
            and attacked["p99_ms"] <= 2 * max(alone["p99_ms"], 1.0),
            "p99_attacked_under_50_ms": attacked["p99_ms"] is not None and attacked["p99_ms"] < 50,
            "nothing_lost_or_reordered": attacked["lost"] == 0 and attacked["reordered"] == 0 and alone["lost"] == 0,
            "memory_at_most_64_mib_above_baseline": attacked["server_peak_rss_mb"] - alone["server_rss_mb_after_joins"] <= 64,
        },
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(alone, attacked))
    print(json.dumps(report["goals"]))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
