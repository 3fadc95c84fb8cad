"""pytest configuration shared by every test module."""

import atexit
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netlab import lab  # noqa: E402, F401 - the `lab` fixture: network namespaces a test creates (tests/netlab.py)


def _children_keep_their_bytecode() -> None:
    """Where the environment says PYTHONDONTWRITEBYTECODE (so nothing is written beside the
    sources), every child Python (hundreds of `python -m lanchat`, the notebook kernels, the
    benchmarks, a server under valgrind) compiled all of lanchat from source at each start:
    0.3 s instead of 0.14 s each, fifty times that under valgrind. The children cache their
    bytecode for this run in a temporary folder instead (PYTHONPYCACHEPREFIX): still nothing
    written into the repository, and what runs is the same code."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    cache = tempfile.mkdtemp(prefix="lanchat-test-pycache-")
    atexit.register(shutil.rmtree, cache, True)
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = cache


_children_keep_their_bytecode()


def _ctrl_c_as_at_a_terminal() -> None:
    """A suite started in the background by a shell without job control (`cmd &` in a script)
    inherits SIGINT and SIGQUIT ignored, and so did every program a test started: the real nc
    ignored the Ctrl-C its test sends it, and so would anything that keeps the default. Tests
    send these signals as a user's keys would, so the suite puts back what a terminal gives."""
    for signum, handler in ((signal.SIGINT, signal.default_int_handler), (signal.SIGQUIT, signal.SIG_DFL)):
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, handler)


_ctrl_c_as_at_a_terminal()


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder every account may enter (pytest's own are root's alone, 0700): for a
    test that runs lanchat as a second account (nobody, through setpriv)."""
    folder = Path(tempfile.mkdtemp(prefix="lanchat-open-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sock_dir() -> Iterator[str]:
    """A private folder with a short path, for socket files: an AF_UNIX path is at most 107
    bytes, and tmp_path (the test's name under pytest's base folder, which a long TMPDIR or
    --basetemp lengthens) can pass it: 'socket path is too long (119 bytes; the limit is 107)'."""
    from helpers import short_tmp_dir

    with short_tmp_dir() as folder:
        yield folder


@pytest.fixture
def terms() -> Iterator[list]:
    """The full-screen lanchats a test starts in a pseudo-terminal (it appends each
    helpers.TermProc it makes), stopped when the test ends, however it ends."""
    started: list = []
    yield started
    for term in started:
        term.stop()


@pytest.fixture
def stops() -> Iterator[object]:
    """A stopsignals.StopSignals installed in the pytest process (its handlers, its wake socket),
    given back as they were when the test ends."""
    from lanchat.stopsignals import StopSignals

    noted = StopSignals()
    noted.install()
    try:
        yield noted
    finally:
        noted.uninstall()


@pytest.fixture(autouse=True)
def _no_signal_left_blocked() -> Iterator[None]:
    """A test that leaves signals blocked in the pytest process (calling __main__.main(), whose
    way out holds the stop signals blocked for good) made every child forked after it deaf to
    Ctrl-C: a later pty test far away timed out. The mask is put back and the test that left it
    fails, naming the signals."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    after = signal.pthread_sigmask(signal.SIG_SETMASK, before)
    if after != before:
        pytest.fail(f"the test left signals blocked: {sorted(s.name for s in set(after) - set(before))}")
