"""State an older lanchat left on disk, opened by today's: files in tests/fixtures/, each made by
an older commit (tests/fixtures/make_old_state.py says how), copied into a test's own folders and
used by the real program, run as a subprocess. Nothing the older lanchat kept may be lost, and what
today's lanchat writes into it must still open in the older one (the format it reads kept)."""

from __future__ import annotations

import gzip
import re
import shutil
import sqlite3
from pathlib import Path

from helpers import ROOT, Proc, child_env, start_server

FIXTURES = ROOT / "tests" / "fixtures"
# 274fb31, the first release: `serve` with no --history kept every room in this one file
FIRST_RELEASE_HISTORY = FIXTURES / "first_release_history.sqlite3"
# that file, a lesson of 6d3b25a's serve killed on it (its last lines in the journal), then a
# lesson of 274fb31's, which reads no journal: its lines took the journal's ids
KILLED_THEN_FIRST_RELEASE = FIXTURES / "killed_then_first_release.sqlite3.gz"
KILLED_JOURNAL = FIXTURES / "killed_then_first_release.sqlite3.pending"


def data_folder_of_the_first_release() -> tuple[dict[str, str], Path]:
    """A child's environment whose data folder holds what the first release's `serve` left there."""
    env = child_env()
    folder = Path(env["XDG_DATA_HOME"]) / "lanchat"
    folder.mkdir()
    shutil.copyfile(FIRST_RELEASE_HISTORY, folder / "history.sqlite3")
    return env, folder


def test_lanchat_history_with_no_path_shows_the_lessons_the_first_release_kept() -> None:
    """A teacher's term of lessons, kept by the first release's `serve` in history.sqlite3, and
    today's `lanchat history` said 'history-3580.sqlite3: no such history file' with no word of it."""
    env, _folder = data_folder_of_the_first_release()
    shown = Proc("history", stdin=False, env=env)
    assert shown.wait() == 0, shown.output
    assert "ann: hello from old-274fb31" in shown.output


def test_serve_on_the_default_port_goes_on_with_the_first_releases_history(lab) -> None:
    """Updated, the teacher types `lanchat serve` as every week: the room started with an empty
    history-3580.sqlite3, last term's lessons left behind unsaid.
    It goes on with the first release's file, which that release can still read. Port 3580 is
    safe to use: it is inside a network namespace of this test's own."""
    env, folder = data_folder_of_the_first_release()
    ns = lab.namespace("U")
    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--no-announce", env=env, program=lab.program(ns))
    lab.procs.append(server)
    server.expect(r"listening on port 3580")
    server.expect(r"history: " + re.escape(str(folder / "history.sqlite3")) + " ")
    bob = Proc("connect", "127.0.0.1", "--name", "bob", "--plain", env=child_env(), program=lab.program(ns))
    lab.procs.append(bob)
    bob.expect(r"\[History\] ann: hello from old-274fb31")
    bob.send("a line for the old file")
    bob.expect(r"bob: a line for the old file")
    bob.stop()
    server.stop()
    assert not (folder / "history-3580.sqlite3").exists()
    with sqlite3.connect(folder / "history.sqlite3") as old:  # as the first release reads it
        assert old.execute("PRAGMA user_version").fetchone() == (1,)
        texts = [row[0] for row in old.execute("SELECT text FROM messages ORDER BY id")]
    assert texts == ["hello from old-274fb31", "a secret for bob", "another secret", "a line for the old file"]


def transcript(history: Path) -> list[str]:
    """`lanchat history PATH`, each line without its date and time."""
    shown = Proc("history", str(history), stdin=False)
    assert shown.wait() == 0, shown.output
    return [line.split("] ", 1)[1] for line in shown.lines]


def start_and_stop(history: Path) -> None:
    server, _port = start_server("--headless", "--history", str(history))
    server.stop()
    assert not history.with_name(history.name + ".pending").stat().st_size, server.output


def test_a_killed_servers_last_lines_are_kept_when_the_first_release_ran_on_the_file_since() -> None:
    """A lab machine's lanchat of today was killed mid-lesson (a power cut, a SIGKILL): its last
    lines waited in the journal. The next lesson ran the first release on the same file, which
    reads no journal and numbered its lines on from the file: the same ids. Today's serve moved
    the journal in by id, and the killed lesson's 'hello' went unsaid (its id taken). They go
    after the newest now, each once, even when a start is killed before it empties the journal."""
    folder = Path(child_env()["XDG_DATA_HOME"])
    history = folder / "class.sqlite3"
    history.write_bytes(gzip.decompress(KILLED_THEN_FIRST_RELEASE.read_bytes()))
    shutil.copyfile(KILLED_JOURNAL, folder / "class.sqlite3.pending")
    lesson = ["ann: hello from old-274fb31", "ann -> bob (direct): a secret for bob", "ann -> bob (direct): another secret"]
    killed = ["ann: hello from old-6d3b25a", "* ann waves", "ann -> bob (direct): a secret for bob", "ann -> bob (direct): another secret"]
    assert transcript(history) == lesson + lesson + killed  # read before a serve moves them in, as serve will store them
    start_and_stop(history)
    assert transcript(history) == lesson + lesson + killed
    shutil.copyfile(KILLED_JOURNAL, folder / "class.sqlite3.pending")  # as if that start stored them, then was killed
    start_and_stop(history)
    assert transcript(history) == lesson + lesson + killed


def test_on_port_3580_an_older_lanchats_file_is_taken_only_if_it_is_a_file(tmp_path, monkeypatch):
    """history.default_path takes an older lanchat's history.sqlite3 on port 3580 while the room has
    no file of its own. A link there that leads nowhere (a file moved away) was taken too, and serve
    made a history where it led (h-attack6); a folder is not one either."""
    from lanchat.history import default_path

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    folder = tmp_path / "lanchat"
    folder.mkdir()
    (folder / "history.sqlite3").symlink_to(tmp_path / "moved-away.sqlite3")
    assert default_path(port=3580) == folder / "history-3580.sqlite3"
    (folder / "history.sqlite3").unlink()
    (folder / "history.sqlite3").mkdir()
    assert default_path(port=3580) == folder / "history-3580.sqlite3"
    (folder / "history.sqlite3").rmdir()
    (folder / "history.sqlite3").write_bytes(b"")
    assert default_path(port=3580) == folder / "history.sqlite3" and default_path(port=4000) == folder / "history-4000.sqlite3"
