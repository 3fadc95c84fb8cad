"""time_notebooks.py: runs every teaching notebook headless, one at a time, and records how long each took.

This is the "dry run" the teacher's guide quotes: each notebook in a fresh kernel, top to bottom, in a
temporary copy of notebooks/ (nothing is written into the repository), with the test suite's settings
(port 0, short timeouts). The pairs run as two kernels at once with scripted answers. It measures the
machine's time only: how long a class spends on a notebook is the reading, predicting and typing on top.

    python notebooks/time_notebooks.py                   # writes notebooks/dry_run_timings.json
    python notebooks/time_notebooks.py --out FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(LANCHAT_PORT="0", LANCHAT_HOST="127.0.0.1", LANCHAT_TIMEOUT="20", PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.update(extra)
    return env


async def run(path: Path, env: dict[str, str]) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=120, startup_timeout=60, kernel_name="python3", shutdown_kernel="immediate",
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    await client.async_execute(env=env)
    return time.perf_counter() - started


async def main_async(out: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="lanchat-timing-")) / "notebooks"
    shutil.copytree(HERE, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    results: dict[str, float] = {}
    try:
        for path in sorted(work.glob("[0-9][0-9]_*.ipynb")):
            results[path.name] = round(await run(path, environment()), 2)
            print(f"{path.name:45} {results[path.name]:6.2f} s", flush=True)
        port_file = str(work / "port")
        pair_runs = {
            "001": (
                environment(LANCHAT_PORT_FILE=port_file, LANCHAT_SCRIPT=json.dumps(["Hi!", "Bye.", "/q"])),
                environment(LANCHAT_PORT_FILE=port_file, LANCHAT_SCRIPT=json.dumps(["Hello", "How are you?", "x"])),
            ),
            "000": (
                environment(LANCHAT_SOCKET=str(work / "c.sock")),
                environment(LANCHAT_SOCKET=str(work / "c.sock"), LANCHAT_SCRIPT=json.dumps(["sunny", "N", "Y"])),
            ),
        }
        for prefix, (server_env, client_env) in pair_runs.items():
            started = time.perf_counter()
            await asyncio.gather(
                run(work / "pairs" / f"{prefix}_server.ipynb", server_env),
                run(work / "pairs" / f"{prefix}_client.ipynb", client_env),
            )
            name = f"pairs/{prefix}_*.ipynb (both kernels)"
            results[name] = round(time.perf_counter() - started, 2)
            print(f"{name:45} {results[name]:6.2f} s", flush=True)
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)
    record = {
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "what": "seconds to run each notebook top to bottom headless (nbclient), one at a time, kernel start included",
        "machine": {"python": platform.python_version(), "system": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None},
        "seconds": results,
        "total_seconds": round(sum(results.values()), 2),
    }
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "dry_run_timings.json")
    args = parser.parse_args(argv)
    record = asyncio.run(main_async(args.out))
    print(f"total {record['total_seconds']} s; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
