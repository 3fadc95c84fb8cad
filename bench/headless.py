"""bench/headless.py: a real `lanchat serve --headless` on loopback for the probes, started and stopped by PID.

Shared by abuse_bench.py and cheap_frames_probe.py: the server listens on 127.0.0.1 at a port the
kernel picks, keeps its history and files in the probe's own folder, and its log is read for as
long as it runs, so it never blocks on a full pipe.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def start_server(workdir: Path, *options: str, log: list[str] | None = None) -> tuple[subprocess.Popen, int]:
    """``lanchat serve --headless OPTIONS`` with its data in ``workdir``: (the process, its port)
    once it says it listens. The log's later lines go to ``log`` when given, else are dropped."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(workdir))
    popen = subprocess.Popen(
        [sys.executable, "-m", "lanchat", "serve", "--headless", "--host", "127.0.0.1", "--port", "0", *options,
         "--history", str(workdir / "history.sqlite3"), "--files-dir", str(workdir / "files")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=workdir, text=True,
    )  # fmt: skip
    assert popen.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = popen.stdout.readline()
        if found := re.search(r"listening on port (\d+)", line):
            threading.Thread(target=_drain, args=(popen.stdout, log), daemon=True).start()  # never blocks on a full pipe
            return popen, int(found.group(1))
        if not line and popen.poll() is not None:
            break
    popen.kill()
    raise SystemExit("the server did not start")


def _drain(stdout: IO[str], log: list[str] | None) -> None:
    for line in stdout:
        if log is not None:
            log.append(line)


def stop_server(popen: subprocess.Popen) -> None:
    """End the server we started, by its PID: SIGTERM, then SIGKILL after 10 s."""
    popen.terminate()
    try:
        popen.wait(10)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(10)
