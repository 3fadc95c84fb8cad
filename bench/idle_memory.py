"""bench/idle_memory.py: where an idle server's memory goes. Measures, never asserts.

    python bench/idle_memory.py

1) The idle server as a user starts it (``python -m lanchat serve --headless``, history on, in
   a temporary folder): VmRSS, and what it is made of (/proc/PID/smaps_rollup: anonymous memory
   is the heap and the interpreter's objects; file-backed is code mapped from the interpreter,
   C extensions and shared libraries), and which modules it has imported.
2) The same modules imported one group at a time in a fresh interpreter, in the server's order,
   with VmRSS after each group: what each group adds; then what the first file offered adds
   (hashlib loads OpenSSL; the server imports it only then), the first key, the first name that
   is not ASCII (the look-alike table), and --tls (ssl, OpenSSL's libssl).
Both run with compiled bytecode, as an installed package does (pip compiles it): in a temporary
pycache folder, warmed by one run first. With --no-bytecode every module is compiled from
source in the process, whose compiler leaves about 3 MiB more heap behind (PYTHONDONTWRITEBYTECODE
with no __pycache__, as a fresh checkout may run).
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
    ("the interpreter, site, the command line (cli/serve.py)", "import lanchat.__main__, lanchat.cli.serve"),
    ("msgspec (JSON)", "import msgspec.json"),
    ("events, wire, protocol, room", "import lanchat.room"),
    ("sqlite3 and the history store", "import lanchat.history"),
    ("the file store and the hub", "import lanchat.server_files, lanchat.hub"),
    ("the server loop and tls_server.py (not tls.py nor ssl)", "import lanchat.server"),
]
ANNOUNCE = "from zeroconf import IPVersion, Zeroconf; z = Zeroconf(interfaces=['127.0.0.1'], ip_version=IPVersion.V4Only)"
# Loaded by the server only when needed, each step on top of the ones before: the first name
# or text that is not ASCII (names.py, textsafe.py), the first text participant (textline.py),
# serve --tls (tls.py), the first file offered (server_files.py), the first key or password met
# (identity.py).
LATER = [
    ("first name or text not in ASCII: look-alike, stand-ins",
     "import lanchat.names, lanchat.textsafe; lanchat.names.name_key('\\u0430nn'); lanchat.textsafe.visible('caf\\u00e9')"),
    ("on the first text participant (nc, telnet): textview", "import lanchat.textview"),
    ("with --tls: ssl (libssl, libcrypto) and tls.py", "import ssl, lanchat.tls"),
    ("on the first file: hashlib, tempfile, shutil", "import hashlib, tempfile"),
    ("on the first key: cryptography, hmac", "import hmac; from cryptography.hazmat.primitives.asymmetric import ed25519"),
    # The default `serve` (no --host) announces the room: zeroconf, with asyncio and its own thread
    # (started here on loopback only, so the measurement sends nothing to the network).
    ("announcing the room (serve without --host): zeroconf", ANNOUNCE),
]

PROBE = """
import re, sys, time
def rss():
    status = open("/proc/self/status").read()
    return tuple(int(re.search(key + r":\\s+(\\d+)", status).group(1)) for key in ("VmRSS", "RssAnon", "RssFile"))
steps = [("before any import", *rss(), len(sys.modules))]
for label, statement in GROUPS:
    exec(statement)
    steps.append((label, *rss(), len(sys.modules)))
print(repr(steps))
if "z" in globals():
    z.close()
"""


def env(pycache: Path | None) -> dict[str, str]:
    """The children's environment: bytecode written to and read from ``pycache`` (None: no bytecode)."""
    base = {key: value for key, value in os.environ.items() if key not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if pycache is None:
        return {**base, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}  # the standard library's own still loads
    return {**base, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(pycache)}


def import_steps(pycache: Path | None) -> list[tuple[str, int, int, int, int]]:
    code = f"GROUPS = {GROUPS + LATER!r}\n" + PROBE
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(pycache), timeout=60, check=True)
    return eval(done.stdout)  # noqa: S307 - our own repr of a list of tuples


def idle_server(pycache: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        folder = Path(tmp)
        log = folder / "out"
        command = [
            sys.executable, "-X", "importtime", "-m", "lanchat", "serve", "--headless", "--port", "0",
            "--host", "127.0.0.1", "--history", str(folder / "h.sqlite3"), "--files-dir", str(folder / "f"),
        ]  # fmt: skip
        with open(log, "wb") as out, open(folder / "imports", "wb") as imports:
            popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=imports, cwd=ROOT, env=env(pycache))
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
        "openssl_loaded": "_hashlib" in modules or "_ssl" in modules,
        "ssl_loaded": "ssl" in modules,
        "look_alike_table_loaded": "lanchat.skeleton_table" in modules,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "idle_memory.json")
    parser.add_argument("--no-bytecode", action="store_true", help="compile every module from source, as with PYTHONDONTWRITEBYTECODE")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-idle-pyc-") as tmp:
        pycache = None if args.no_bytecode else Path(tmp)
        if pycache is not None:
            import_steps(pycache)  # writes the bytecode of every module measured below
            idle_server(pycache)
        server = idle_server(pycache)
        steps = import_steps(pycache)
    server["bytecode"] = not args.no_bytecode
    print(f"idle server: VmRSS {server['rss_kb'] / 1024:.1f} MiB "
          f"({server['anonymous_kb'] / 1024:.1f} anonymous, {server['file_backed_kb'] / 1024:.1f} file-backed), "
          f"{server['modules_imported']} modules")  # fmt: skip
    print(f"| {'imported':<55} | {'RSS MiB':>8} | {'adds':>6} | {'anon':>6} | {'file':>6} | {'modules':>7} |")
    previous = None
    for label, rss_kb, anon_kb, file_kb, count in steps[: len(steps) - len(LATER)]:
        adds = ["", "", ""] if previous is None else [f"{(now - then) / 1024:+.1f}" for now, then in zip((rss_kb, anon_kb, file_kb), previous, strict=True)]
        print(f"| {label:<55} | {rss_kb / 1024:8.1f} | {adds[0]:>6} | {adds[1]:>6} | {adds[2]:>6} | {count:>7} |")
        previous = (rss_kb, anon_kb, file_kb)
    assert previous is not None
    print(f"| {'running, idle (sockets, SQLite, buffers)':<55} | {server['rss_kb'] / 1024:8.1f} | "
          f"{(server['rss_kb'] - previous[0]) / 1024:+6.1f} | {'':>6} | {'':>6} | {'':>7} |")  # fmt: skip
    for label, rss_kb, anon_kb, file_kb, count in steps[len(steps) - len(LATER) :]:
        adds = [f"{(now - then) / 1024:+.1f}" for now, then in zip((rss_kb, anon_kb, file_kb), previous, strict=True)]
        print(f"| {label:<55} | {'':>8} | {adds[0]:>6} | {adds[1]:>6} | {adds[2]:>6} | {count:>7} |")
        previous = (rss_kb, anon_kb, file_kb)
    report = {
        "server": server,
        "import_steps": [
            {"step": s, "rss_kb": r, "anonymous_kb": a, "file_backed_kb": f, "modules": c} for s, r, a, f, c in steps
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
