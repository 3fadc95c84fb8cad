"""pytest configuration shared by every test module."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netlab import lab  # noqa: E402, F401 - the `lab` fixture: network namespaces a test creates (tests/netlab.py)


def _children_keep_their_bytecode() -> None:
    """Where the environment says PYTHONDONTWRITEBYTECODE (so nothing is written beside the
    sources), every child Python (hundreds of `python -m lanchat`, the notebook kernels, the
    benchmarks, a server under valgrind) compiled all of lanchat from source at each start:
    0.3 s instead of 0.14 s each, fifty times that under valgrind. The children keep their
    bytecode in a cache folder of the tests' own instead (PYTHONPYCACHEPREFIX), outside the
    repository and kept from run to run: a folder made per run would have every kernel compile
    IPython again (the prefix replaces the __pycache__ folders pip filled). What runs is the
    same code: Python checks each cached file against its source's time and size."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lanchat-tests" / "pycache"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # as before: compiled at each start
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)


_children_keep_their_bytecode()
