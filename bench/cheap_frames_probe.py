"""bench/cheap_frames_probe.py: what one member's stream of one kind of frame costs the others. Loopback only, bounded.

For each kind of frame a joined member may send (a typing hint, an upload piece for an id that is
no upload, an ``upload-done`` for one, a ``hello`` after the welcome, a frame of an unknown type,
...), a fresh ``lanchat serve --headless`` (abuse limits on, as by default) gets two members:
*ann*, an operator (so flood control leaves her alone), says a line, waits for its echo, and says
the next, measuring each echo's latency; *mallory*, in a process of her own, sends that one frame
as fast as the loopback takes it for ``--seconds`` (reading and dropping what she is sent). The
report per kind: how many frames mallory got out and how her connection ended, ann's echo
latency (p50, p90, max) and the server's CPU time over the window. ``none`` is the baseline.
The rows print as a table and go to bench/results/cheap_frames.json (or ``--json FILE``).

    python bench/cheap_frames_probe.py                    # every kind, 2 s each (about 40 s)
    python bench/cheap_frames_probe.py --kinds typing,chunk-unknown --seconds 1
    python bench/cheap_frames_probe.py --kinds none,typing --attackers 8   # eight members at once
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from headless import start_server, stop_server  # noqa: E402

from lanchat import events as ev  # noqa: E402
from lanchat import identity  # noqa: E402
from lanchat.protocol import Connection, ConnectionClosed, Role, encode  # noqa: E402
from lanchat.wire import binary_frame, frame  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "cheap_frames.json"
MAX_FRAMES = 5_000_000  # mallory stops here whatever the time (bounded)
BATCH = 256  # frames per send() call


def _json(obj: dict) -> bytes:
    return frame(json.dumps(obj, separators=(",", ":")).encode())


# What mallory sends, by kind: one frame, repeated
KINDS: dict[str, bytes] = {
    "none": b"",
    "say": encode(ev.Say(text="spam")),
    "unknown-type": _json({"type": "zzzzz"}),
    "typing": encode(ev.Typing()),
    "chunk-unknown": _json({"type": "chunk", "id": "999", "data": "AAAA"}),
    "chunk-unknown-32k": _json({"type": "chunk", "id": "999", "data": base64.b64encode(b"x" * 32768).decode()}),
    "binary-unknown": binary_frame("999", b"xxxx"),
    "binary-unknown-32k": binary_frame("999", b"x" * 32768),
    "done-unknown": _json({"type": "upload-done", "id": "999", "sha256": "0" * 64}),
    "hello-again": encode(ev.Hello(name="mallory2")),
    "auth-again": _json({"type": "auth", "signature": "AAAA"}),
    "typing-bytewise": encode(ev.Typing()),  # a byte a send (TCP_NODELAY): a read per byte, at most
    # typing hints padded, in a field nobody reads, to cost far more to read than their size says
    # (tests/test_attack_frames.py decides by counts and CPU; the room's pace is measured here)
    "typing-huge-numbers": _json({"type": "typing", "pad": [1e300] * 8000}),  # 56 KiB: msgspec's slowest numbers
    "typing-nested-64k": _json({"type": "typing", "pad": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]] * 2000}),  # the plain path
}
BYTEWISE = {"typing-bytewise"}


# ------------------------------------------------------------------ the server


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ the members


class Member:
    """A member on a blocking socket, framing with lanchat's own state machine."""

    def __init__(self, port: int, name: str, key: Ed25519PrivateKey | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.proto = Connection(Role.CLIENT)
        self.inbox: list[object] = []
        if key is None:
            self.send(ev.Hello(name=name))
        else:
            self.send(ev.Hello(name=name, key=identity.b64(identity.public_bytes(key))))
            challenge = self.expect(ev.Challenge)
            nonce = identity.unb64(challenge.nonce, identity.NONCE_BYTES, "nonce")  # type: ignore[attr-defined]
            self.send(ev.Auth(signature=identity.b64(identity.sign_challenge(key, nonce))))
        self.welcome = self.expect(ev.Welcome)

    def send(self, event: ev.Event) -> None:
        self.sock.sendall(self.proto.send(event))

    def expect(self, kind: type, **fields: object) -> object:
        while True:
            for at, event in enumerate(self.inbox):
                if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
                    del self.inbox[: at + 1]
                    return event
                if isinstance(event, ConnectionClosed):
                    raise ConnectionError("closed")
            data = self.sock.recv(65536)
            self.proto.receive_data(data)
            self.inbox.extend(self.proto.events())


def attacker(port: int, kind: str, seconds: float, ready: multiprocessing.Event, go: multiprocessing.Event,
             report: multiprocessing.Queue, name: str = "mallory") -> None:  # fmt: skip
    """mallory: joins, then sends KINDS[kind] as fast as the loopback takes it for ``seconds``."""
    mallory = Member(port, name)
    ready.set()
    go.wait(30)
    heard = {"bytes": 0, "closed": False}

    def drain() -> None:  # whatever the server answers, read and dropped (she is no slow reader)
        while True:
            try:
                data = mallory.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            heard["bytes"] += len(data)
        heard["closed"] = True

    threading.Thread(target=drain, daemon=True).start()
    at_once = BATCH if len(KINDS[kind]) < 4096 else 1  # (a padded hint: one a send, counted one by one)
    batch = KINDS[kind] * at_once
    if kind in BYTEWISE:
        mallory.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent = 0
    ended = "time up"
    mallory.sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    pending = batch
    while batch and time.monotonic() < deadline and sent < MAX_FRAMES:
        try:
            pending = pending[mallory.sock.send(pending[:1] if kind in BYTEWISE else pending) :]  # never half a frame: the rest next
        except TimeoutError:
            ended = "blocked (not read)"
            continue
        except OSError as exc:
            ended = f"closed ({type(exc).__name__})"
            break
        if not pending:
            sent += at_once
            pending = batch
    if batch and not heard["closed"]:
        time.sleep(0.3)  # what the server says last
    if heard["closed"] and ended == "time up":
        ended = "closed by the server"
    report.put({"sent": sent, "ended": ended, "heard_bytes": heard["bytes"]})
    with contextlib.suppress(OSError):
        mallory.sock.close()


def probe(kind: str, seconds: float, log: list[str], attackers: int = 1) -> dict:
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(prefix="cheapframes-") as tmp:
        popen, port = start_server(Path(tmp), "--no-announce", "--operator", identity.fingerprint(identity.public_bytes(key)), log=log)
        try:
            ann = Member(port, "ann", key)
            context = multiprocessing.get_context("spawn")
            go, report = context.Event(), context.Queue()
            processes = []
            for n in range(attackers):  # each a member of her own (a name each, as guests may)
                ready = context.Event()
                processes.append(context.Process(target=attacker, args=(port, kind, seconds, ready, go, report, f"mallory{n}"), daemon=True))
                processes[-1].start()
                ready.wait(30)
            for i in range(20):  # warm up
                ann.send(ev.Say(text=f"warm {i}"))
                ann.expect(ev.Message, text=f"warm {i}")
            cpu0 = cpu_seconds(popen.pid)
            go.set()
            start = time.monotonic()
            latencies: list[float] = []
            while time.monotonic() - start < seconds:
                text = f"line {len(latencies)}"
                sent = time.perf_counter()
                ann.send(ev.Say(text=text))
                ann.expect(ev.Message, text=text)
                latencies.append((time.perf_counter() - sent) * 1000)
            cpu = cpu_seconds(popen.pid) - cpu0
            gots = [report.get(timeout=30) for _ in processes]
            got = {"sent": sum(g["sent"] for g in gots), "ended": ", ".join(sorted({g["ended"] for g in gots}))}
            for process in processes:
                process.join(10)
        finally:
            stop_server(popen)
    latencies.sort()
    return {
        "kind": kind, "frames_sent": got["sent"], "mallory": got["ended"], "lines": len(latencies),
        "p50_ms": statistics.median(latencies), "p90_ms": latencies[int(len(latencies) * 0.9)],
        "max_ms": latencies[-1], "server_cpu_s": round(cpu, 2),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of: {', '.join(KINDS)}")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--attackers", type=int, default=1, help="members sending at once, each on a connection of her own")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"write the rows here (default {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--log", action="store_true", help="print each server's log after its row")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'kind':<20} {'frames sent':>12} {'mallory':<22} {'lines':>6} {'p50 ms':>7} {'p90 ms':>7} {'max ms':>7} {'cpu s':>6}")
    for kind in args.kinds.split(","):
        log: list[str] = []
        row = probe(kind, args.seconds, log, args.attackers)
        rows.append(row)
        print(f"{kind:<20} {row['frames_sent']:>12,} {row['mallory']:<22} {row['lines']:>6} {row['p50_ms']:>7.2f} "
              f"{row['p90_ms']:>7.2f} {row['max_ms']:>7.1f} {row['server_cpu_s']:>6.2f}", flush=True)  # fmt: skip
        if args.log:
            print("".join("    | " + line for line in log[-8:]), end="")
    args.json.write_text(json.dumps({"attackers": args.attackers, "seconds": args.seconds, "rows": rows}, indent=1) + "\n")
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
