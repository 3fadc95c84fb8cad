"""bench/idle_memory.py: where an idle server's memory goes. Measures, never asserts.

    python bench/idle_memory.py

1) The idle server as a user starts it (``python -m lanchat serve --headless``, history on, in
   a temporary folder): VmRSS, and what it is made of (/proc/PID/smaps_rollup: anonymous memory
   is the heap and the interpreter's objects; file-backed is code mapped from the interpreter,
   C extensions and shared libraries), and which modules it has imported.
2) The same modules imported one group at a time in a fresh interpreter, in the server's order,
   with VmRSS after each group: what each group adds; then what the first file offered adds
   (hashlib loads OpenSSL; the server imports it only then).
Results print as a table and go to bench/results/idle_memory.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START_TIMEOUT = 15.0

# What the server needs, in the order it imports it; each line's RSS step is measured in turn.
GROUPS = [
    ("the interpreter, site and the command line", "import lanchat.__main__"),
    ("msgspec (JSON)", "import msgspec.json"),
    ("events, wire, protocol, room", "import lanchat.room"),
    ("sqlite3 and the history store", "import lanchat.history"),
    ("the file store and the hub", "import lanchat.server_files, lanchat.hub"),
    ("the server loop, and ssl for tls.py", "import lanchat.server"),
]
# Imported by the server only when needed: the first file offered (server_files.py), the first
# key or password met (identity.py).
LATER = [
    ("on the first file: hashlib, tempfile", "import hashlib, tempfile"),
    ("on the first key: cryptography, hmac", "import hmac; from cryptography.hazmat.primitives.asymmetric import ed25519"),
]

PROBE = """
import re, sys, time
def rss():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
steps = [("before any import", rss(), len(sys.modules))]
for label, statement in GROUPS:
    exec(statement)
    steps.append((label, rss(), len(sys.modules)))
print(repr(steps))
"""


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def import_steps() -> list[tuple[str, int, int]]:
    code = f"GROUPS = {GROUPS + LATER!r}\n" + PROBE
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(), timeout=60, check=True)
    return eval(done.stdout)  # noqa: S307 - our own repr of a list of tuples


def idle_server() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        folder = Path(tmp)
        log = folder / "out"
        command = [
            sys.executable, "-X", "importtime", "-m", "lanchat", "serve", "--headless", "--port", "0",
            "--host", "127.0.0.1", "--history", str(folder / "h.sqlite3"), "--files-dir", str(folder / "f"),
        ]  # fmt: skip
        with open(log, "wb") as out, open(folder / "imports", "wb") as imports:
            popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=imports, cwd=ROOT, env=env())
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while "listening on port" not in log.read_text(errors="replace"):
                if popen.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start: {log.read_text()[-300:]}")
                time.sleep(0.02)  # polling a condition with a deadline
            time.sleep(0.3)  # let it settle into select(): an idle server, not one starting
            status = Path(f"/proc/{popen.pid}/status").read_text()
            rollup = Path(f"/proc/{popen.pid}/smaps_rollup").read_text()
        finally:
            popen.terminate()
            popen.wait(timeout=10)
        modules = re.findall(r"\|\s+\d+\s+\|\s*(\S+)", (folder / "imports").read_text())

    def kb(text: str, key: str) -> int:
        found = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
        return int(found.group(1)) if found else 0

    return {
        "rss_kb": kb(status, "VmRSS"),
        "anonymous_kb": kb(rollup, "Anonymous"),
        "file_backed_kb": kb(status, "RssFile"),
        "modules_imported": len(modules),
        "top_level_packages": sorted({m.split(".")[0] for m in modules}),
        "openssl_loaded": "_hashlib" in modules,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "idle_memory.json")
    args = parser.parse_args(argv)
    server = idle_server()
    steps = import_steps()
    print(f"idle server: VmRSS {server['rss_kb'] / 1024:.1f} MiB "
          f"({server['anonymous_kb'] / 1024:.1f} anonymous, {server['file_backed_kb'] / 1024:.1f} file-backed), "
          f"{server['modules_imported']} modules")  # fmt: skip
    print(f"| {'imported':<45} | {'RSS MiB':>8} | {'adds':>6} | {'modules':>7} |")
    previous = None
    for label, rss_kb, count in steps[: len(steps) - len(LATER)]:
        step = "" if previous is None else f"{(rss_kb - previous) / 1024:+.1f}"
        print(f"| {label:<45} | {rss_kb / 1024:8.1f} | {step:>6} | {count:>7} |")
        previous = rss_kb
    print(f"| {'running, idle (sockets, SQLite, buffers)':<45} | {server['rss_kb'] / 1024:8.1f} | "
          f"{(server['rss_kb'] - previous) / 1024:+6.1f} | {'':>7} |")  # fmt: skip
    for label, rss_kb, count in steps[len(steps) - len(LATER) :]:
        print(f"| {label:<45} | {'':>8} | {(rss_kb - previous) / 1024:+6.1f} | {count:>7} |")
        previous = rss_kb
    report = {"server": server, "import_steps": [{"step": s, "rss_kb": r, "modules": c} for s, r, c in steps]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
