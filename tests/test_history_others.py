"""A history file another user's: a teacher's room run once with sudo, then as herself; a
student's `lanchat history` of the teacher's room. Real processes run as a second account
(nobody, through setpriv), on files root made."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, child_env, second_account_or_skip

from lanchat.history import HistoryStore

OTHER_UID = 65534  # nobody: the second account
AS_OTHER = ["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_UID}", "--clear-groups", "--", sys.executable, "-m", "lanchat"]

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def shared_folder(open_tmp: Path) -> Path:
    """A folder both accounts may write, as /tmp is (conftest's open_tmp, sticky and writable)."""
    second_account_or_skip()  # root, setpriv, and a Python that nobody may run
    open_tmp.chmod(0o1777)
    return open_tmp


def as_other(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home = folder / "other-home"
    home.mkdir(exist_ok=True)
    os.chown(home, OTHER_UID, OTHER_UID)
    env = child_env(HOME=str(home), XDG_DATA_HOME=str(home), XDG_STATE_HOME=str(home), XDG_CONFIG_HOME=str(home))
    return subprocess.run([*AS_OTHER, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=30, stdin=subprocess.DEVNULL)


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_a_history_whose_files_beside_it_are_another_users_is_refused_in_those_words(shared_folder, running):
    """The teacher ran `sudo lanchat serve --history class.sqlite3` once and made the file readable
    to herself (chmod 644); the journal beside it, class.sqlite3.pending, stayed root's, 0600.
    `serve` as herself died with a traceback (PermissionError from the journal's first read) and
    `lanchat history` said 'cannot write the transcript: permission denied'. With root's server
    running, SQLite's -wal beside it is root's too: a student's `lanchat history` said 'is not a
    usable history database: unable to open database file', and serve added 'move it aside'. Each
    now names the file and its owner, and serve says what to do that loses nobody's history."""
    history = shared_folder / "class.sqlite3"
    store = HistoryStore(history)
    store.append(time=time.time(), sender="teacher", text="from the root run")
    if not running:
        store.close()
    history.chmod(0o644)
    if running:  # (the journal readable too: the -wal is the file in the way)
        store.journal_path.chmod(0o644)
    in_the_way = store.journal_path if not running else shared_folder / "class.sqlite3-wal"
    what = "the newest messages of class.sqlite3, kept beside it" if not running else "SQLite's file of class.sqlite3's newest changes"
    said = f"lanchat: cannot read {in_the_way} ({what}): it belongs to user root, not to you (nobody)"
    before = digests(shared_folder)
    try:
        serve = as_other(shared_folder, "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(history))
        export = as_other(shared_folder, "history", str(history))
    finally:
        if running:
            store.close()
    assert (serve.returncode, export.returncode) == (1, 1), (serve, export)
    assert serve.stderr.splitlines() == [
        said, "  run serve as root to go on with it, choose another file with --history PATH, or start with --no-history"
    ], serve.stderr  # fmt: skip
    assert export.stderr.splitlines() == [said], export.stderr
    assert "Traceback" not in serve.stderr + export.stderr
    if not running:  # nothing of root's was changed or made beside it
        assert digests(shared_folder) == before
