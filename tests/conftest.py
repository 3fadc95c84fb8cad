"""pytest configuration shared by every test module."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netlab import lab  # noqa: E402, F401 - the `lab` fixture: network namespaces a test creates (tests/netlab.py)
