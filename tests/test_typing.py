"""mypy over the pure core (tests/test_layering.py lists it), run as a test so CI keeps it typed.
Skipped only when mypy is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_layering import PURE

ROOT = Path(__file__).resolve().parent.parent
# Every pure module, wire.py included: it now uses msgspec and the json module's public API only.
NOT_YET: set[str] = set()


def test_the_pure_core_type_checks():
    pytest.importorskip("mypy")
    modules = [f"lanchat/{name}" for name in PURE if name not in NOT_YET]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary", *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
