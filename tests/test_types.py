"""The package's annotations hold: mypy finds no error in lanchat/ (pyproject.toml, [tool.mypy])."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT


def test_mypy_finds_no_error_in_the_package(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "lanchat"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success: no issues found"), done.stdout
