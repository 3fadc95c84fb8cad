"""bench/files_bench.py: how fast a file moves through lanchat, and whether chat keeps up. Measures, never asserts.

    .venv/bin/python bench/files_bench.py            # a 50 MB file, 3 rounds (about half a minute)
    .venv/bin/python bench/files_bench.py --quick    # a 10 MB file, 1 round
    .venv/bin/python bench/files_bench.py --tiny     # 1 MB: does it run at all (tests/test_bench_smoke.py)
    .venv/bin/python bench/files_bench.py --out /tmp/files.json   # keep bench/results/files.json as it is

Real programs on loopback, as a user runs them: a headless `serve`, ann and bob `connect`ed.
1) upload: ann types `/send FILE` -> bob sees the offer (hashing, chunks, the server's check);
2) download: bob types `/get ID` -> bob's "saved ... SHA-256 checked" line;
   (lanchat's clients send and fetch files in binary frames: PROTOCOL.md, Binary file frames);
3) chat during the download: cat says a line as often as the room's flood limit lets a person
   (its burst at once, then its steady rate) while bob downloads, and the time from cat's
   Enter to bob's screen is recorded (does a transfer stall the room?); a line refused or lost
   is counted (chat_lines_not_through), never waited for;
4) the same download into the curses split screen (bob in a pseudo-terminal), as people use it;
5) CPU seconds per program, so a busy machine's figures can be read (load average recorded);
6) for scale, the raw loopback bandwidth: one process pushing bytes through a TCP socket
   with no framing, JSON, base64 or checksum at all.
Results print as a table and go to bench/results/files.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import psutil  # noqa: E402
from helpers import Proc, TermProc, start_server  # noqa: E402

from lanchat.files import MB  # noqa: E402
from lanchat.limits import DEFAULT_BURST, DEFAULT_RATE  # noqa: E402

# cat chats as fast as the room lets one person (lanchat/limits.py): the first lines at once,
# keeping one of the burst spare, then a little under the steady rate. Faster, the 11th line
# is refused ("slow down: that was not sent") and would never reach bob.
CHAT_BURST = DEFAULT_BURST - 1
CHAT_INTERVAL_S = 1.25 / DEFAULT_RATE
CHAT_LINE_TIMEOUT_S = 30.0


def raw_loopback_mb_per_s(size: int) -> float:
    """Bytes through a TCP loopback connection, nothing else: the ceiling for this machine."""
    listener = socket.create_server(("127.0.0.1", 0))
    received = 0

    def sink() -> None:
        nonlocal received
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(256 * 1024):
                received += len(data)

    thread = threading.Thread(target=sink)
    thread.start()
    block = os.urandom(256 * 1024)
    start = time.perf_counter()
    with socket.create_connection(listener.getsockname()) as sender:
        sent = 0
        while sent < size:
            sender.sendall(block)
            sent += len(block)
    thread.join()
    elapsed = time.perf_counter() - start
    listener.close()
    return received / MB / elapsed


def cpu_seconds(proc: Proc) -> float:
    times = psutil.Process(proc.popen.pid).cpu_times()
    return times.user + times.system


TLS = False  # --tls: serve --tls, and every client pins the fingerprint it printed


def start_files_server(folder: Path) -> tuple[Proc, int, tuple[str, ...]]:
    """A headless server for the file rounds; returns it, its port and the options `connect` needs."""
    extra = ("--tls",) if TLS else ()
    server, port = start_server("--headless", "--no-history", "--files-dir", str(folder / "files"), "--max-file-mb", "100", *extra)
    if not TLS:
        return server, port, ()
    fingerprint = server.expect(r"the server's fingerprint is (SHA256:\S+)").group(1)
    return server, port, ("--fingerprint", fingerprint)


def wait_for_chat_line(bob: Proc, cat: Proc, number: int, bob_from: int, cat_from: int) -> str | None:
    """Wait until bob shows cat's ``ping NUMBER`` (None), or say why it will not come: the
    server refused it (cat was told to slow down), or it did not come in time."""
    deadline = time.monotonic() + CHAT_LINE_TIMEOUT_S
    while True:
        try:
            bob.expect(rf"cat: ping {number}$", timeout=0.25, start=bob_from)  # returns the moment it shows
            return None
        except AssertionError:
            pass
        refusal = next((line for line in cat.lines[cat_from:] if "slow down" in line), None)
        if refusal:
            return f"ping {number} was refused: {refusal}"
        if time.monotonic() > deadline:
            return f"ping {number} did not reach bob within {CHAT_LINE_TIMEOUT_S:.0f} s"


def one_round(folder: Path, size: int) -> dict[str, Any]:
    source = folder / "payload.bin"
    source.write_bytes(os.urandom(size))
    downloads = folder / "downloads"
    downloads.mkdir(exist_ok=True)
    for old in downloads.iterdir():
        old.unlink()
    server, port, pin = start_files_server(folder)
    procs = [server]
    try:
        ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann", *pin)
        bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob", "--downloads", str(downloads), *pin)
        cat = Proc("connect", "127.0.0.1", str(port), "--name", "cat", *pin)
        procs += [ann, bob, cat]
        for proc, name in ((ann, "ann"), (bob, "bob"), (cat, "cat")):
            proc.expect(f"welcome, {name}")

        cpu_before = {name: cpu_seconds(proc) for name, proc in (("server", server), ("ann", ann), ("bob", bob))}
        start = time.perf_counter()
        ann.send(f"/send {source}")
        match = bob.expect(r"type /get (\d+) to download it", timeout=120)
        upload_s = time.perf_counter() - start
        cpu_upload = {name: cpu_seconds(proc) - cpu_before[name] for name, proc in (("server", server), ("ann", ann))}
        cpu_before = {name: cpu_seconds(proc) for name, proc in (("server", server), ("bob", bob))}

        mark = bob.mark()
        start = time.perf_counter()
        bob.send(f"/get {match.group(1)}")
        delays: list[float] = []
        not_through: list[str] = []
        saved = threading.Event()

        def chatter() -> None:
            number = 0
            while not saved.is_set() and number < 200:
                if number >= CHAT_BURST and saved.wait(CHAT_INTERVAL_S):
                    break
                said = cat.mark()
                sent_at = time.perf_counter()
                cat.send(f"ping {number}")
                problem = wait_for_chat_line(bob, cat, number, mark, said)
                if problem:
                    not_through.append(problem)
                    return
                delays.append(time.perf_counter() - sent_at)
                number += 1

        thread = threading.Thread(target=chatter)
        thread.start()
        bob.expect(r"saved .*SHA-256 checked", timeout=120, start=mark)
        download_s = time.perf_counter() - start
        cpu_download = {name: cpu_seconds(proc) - cpu_before[name] for name, proc in (("server", server), ("bob", bob))}
        saved.set()
        thread.join(60)
        same = (downloads / "payload.bin").read_bytes() == source.read_bytes()
        return {
            "upload_s": upload_s,
            "download_s": download_s,
            "upload_mb_per_s": size / MB / upload_s,
            "download_mb_per_s": size / MB / download_s,
            "chat_lines_during_download": len(delays),
            "chat_lines_not_through": len(not_through),
            "chat_problems": not_through,
            "chat_delay_ms_median": statistics.median(delays) * 1000 if delays else float("nan"),
            "chat_delay_ms_max": max(delays) * 1000 if delays else float("nan"),
            "identical": same,
            # CPU seconds each program spent, and the speed if only the busiest one limited it:
            # a figure that other work on the machine does not drag down as much as wall time
            "upload_cpu_s": cpu_upload,
            "download_cpu_s": cpu_download,
            # (CPU time is counted in 10 ms ticks: a tiny file can read as none at all)
            "upload_cpu_bound_mb_per_s": size / MB / max(0.01, *cpu_upload.values()),
            "download_cpu_bound_mb_per_s": size / MB / max(0.01, *cpu_download.values()),
        }
    finally:
        for proc in reversed(procs):
            proc.stop()


def screen_round(folder: Path, size: int) -> float:
    """MB/s of a download into the split screen (curses in a pseudo-terminal), as a person sees it:
    from pressing Enter on /get to the "saved" line on bob's screen."""
    source = folder / "payload.bin"
    if not source.exists() or source.stat().st_size != size:
        source.write_bytes(os.urandom(size))
    downloads = folder / "screen-downloads"
    downloads.mkdir(exist_ok=True)
    for old in downloads.iterdir():
        old.unlink()
    server, port, pin = start_files_server(folder)
    ann = bob = None
    try:
        ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann", *pin)
        ann.expect("welcome, ann")
        bob = TermProc(
            "connect", "127.0.0.1", str(port), "--name", "bob", "--downloads", str(downloads), *pin, rows=24, cols=140
        )
        bob.expect("bob │ client")
        ann.send(f"/send {source}")
        file_id = bob.expect(r"type /get (\d+) to download it", timeout=120).group(1)
        bob.send(f"/get {file_id}")
        bob.wait_screen(lambda rows: f"/get {file_id}" in rows[-1], what="the command typed")
        start = time.perf_counter()
        bob.send("\r")
        bob.expect(r"-!- saved ", timeout=120)  # the start of the line: the end may wrap under the roster pane
        return size / MB / (time.perf_counter() - start)
    finally:
        for proc in (bob, ann, server):
            if proc is not None:
                proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 10 MB file, one round")
    parser.add_argument("--tiny", action="store_true", help="a 1 MB file, one round (the smoke test)")
    parser.add_argument("--out", type=Path, default=None, help="where the JSON goes (default results/files.json, files-tls.json)")
    parser.add_argument("--tls", action="store_true", help="the same rounds with serve --tls and TLS clients")
    args = parser.parse_args()
    global TLS
    TLS = args.tls
    if args.out is None:
        args.out = HERE / "results" / ("files-tls.json" if args.tls else "files.json")
    size = (1 if args.tiny else 10 if args.quick else 50) * MB
    rounds = 1 if args.quick or args.tiny else 3
    with tempfile.TemporaryDirectory(prefix="lanchat-files-bench-") as tmp:
        results = [one_round(Path(tmp), size) for _ in range(rounds)]
        screen = [screen_round(Path(tmp), size) for _ in range(rounds)]
    raw = raw_loopback_mb_per_s(size)
    summary: dict[str, object] = {
        "file_mb": size / MB,
        "tls": TLS,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "raw_loopback_mb_per_s": raw,
        "all_identical": all(r["identical"] for r in results),
    }
    summary["load_average_1min"] = os.getloadavg()[0]
    for key in (
        "upload_mb_per_s",
        "download_mb_per_s",
        "upload_cpu_bound_mb_per_s",
        "download_cpu_bound_mb_per_s",
        "upload_s",
        "download_s",
        "chat_delay_ms_median",
    ):
        summary[f"{key}_median"] = statistics.median(r[key] for r in results)
    summary["download_in_split_screen_mb_per_s_median"] = statistics.median(screen)
    summary["download_in_split_screen_mb_per_s"] = screen
    summary["chat_delay_ms_max"] = max(r["chat_delay_ms_max"] for r in results)
    summary["chat_lines_during_download_median"] = statistics.median(r["chat_lines_during_download"] for r in results)
    summary["chat_lines_not_through"] = sum(r["chat_lines_not_through"] for r in results)
    summary["download_share_of_raw_loopback"] = summary["download_mb_per_s_median"] / raw
    summary["rounds_detail"] = results
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if key != "rounds_detail":
            if isinstance(value, list):
                value = ", ".join(f"{v:.1f}" for v in value)
            print(f"{key:<{width}}  {value:.2f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    for problem in (p for r in results for p in r["chat_problems"]):
        print(f"chat: {problem}")
    out = args.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
