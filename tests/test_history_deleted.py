"""The history file deleted while the room runs (``rm class.sqlite3`` mid-lesson, a cleanup
script): the server wrote on into the deleted file and said nothing, everything was gone at /q,
SQLite's -wal and -shm stayed behind, and the next start began empty. Now it is noticed after the
next move of the newest messages into SQLite, said to the host in one line, written back to the
path, and the room goes on saving there: /q loses nothing. Real serve subprocesses."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from helpers import Proc, short_tmp_dir

from lanchat.history import HistoryStore


def hosted(sock: str, history: Path) -> Proc:
    teach = Proc("serve", "--plain", "--name", "teach", "--unix", sock, "--history", str(history))
    teach.expect(r"welcome, teach")
    return teach


@contextlib.contextmanager
def lesson(*said: str) -> Iterator[tuple[Path, Path, Proc]]:
    """A room hosted with --history FOLDER/class.sqlite3, where teach has said ``said``: (the
    folder, the history, teach), stopped at the end."""
    with short_tmp_dir() as folder:
        history = Path(folder) / "class.sqlite3"
        teach = hosted(os.path.join(folder, "chat.sock"), history)
        try:
            for text in said:
                teach.send(text)
                teach.expect(rf"teach: {text}$")
            yield Path(folder), history, teach
        finally:
            teach.stop()


def texts_in(history: Path) -> list[str]:
    store = HistoryStore(history, create=False)
    try:
        return [record.text for record in store.export()]
    finally:
        store.close()


def lesson_with_the_file_deleted(*, delete: list[str]) -> None:
    """teach says two lines, ``delete`` (names beside the folder) are removed, two more lines, /q."""
    with lesson("one", "two") as (folder, history, teach):
        for name in delete:
            os.unlink(folder / name)
        teach.send("three")
        # the journal moves into SQLite within 5 s of its oldest row: then the file is looked for
        teach.expect(r"history: .*class\.sqlite3 was deleted while the room ran; the history so far .* is "
                     r"written back to it, and the room goes on saving there", timeout=20)
        assert history.exists()
        teach.send("four")
        teach.expect(r"teach: four$")
        teach.send("/q")
        assert teach.wait() == 0
        left = sorted(name for name in os.listdir(folder) if name.startswith("class.sqlite3"))
        assert left in (["class.sqlite3"], ["class.sqlite3", "class.sqlite3.pending"]), left  # (before a reader opens it)
        assert texts_in(history) == ["one", "two", "three", "four"]
        assert "Traceback" not in teach.output, teach.output
        # the next start begins with the lesson's messages
        again = hosted(str(folder / "chat.sock"), history)
        try:
            again.send("/history")
            again.expect(r"four")
        finally:
            again.stop()


def test_rm_of_the_history_file_mid_lesson_loses_nothing_at_q():
    lesson_with_the_file_deleted(delete=["class.sqlite3"])


def test_rm_of_the_history_file_and_its_companions_mid_lesson_loses_nothing_at_q():
    """``rm class.sqlite3*``: the journal, the -wal and the -shm go too."""
    lesson_with_the_file_deleted(delete=["class.sqlite3", "class.sqlite3-wal", "class.sqlite3-shm", "class.sqlite3.pending"])


def test_rm_of_the_history_file_just_before_q_loses_nothing():
    """Deleted, and the room ended at once (no move noticed it): the stop writes it back."""
    with lesson("one") as (folder, history, teach):
        os.unlink(history)
        teach.send("/q")
        assert teach.wait() == 0
        assert "was deleted while the room ran" in teach.output, teach.output
        left = sorted(name for name in os.listdir(folder) if name.startswith("class.sqlite3"))
        assert left in (["class.sqlite3"], ["class.sqlite3", "class.sqlite3.pending"]), left
        assert texts_in(history) == ["one"]


def test_a_history_file_replaced_mid_lesson_is_left_as_it_is_and_the_lesson_kept_beside_it():
    """Another file put at the path (a copy from last week moved over it): never overwritten; the
    room's history goes to ``class.sqlite3.kept``, said, and the room saves there."""
    with lesson("one") as (folder, history, teach):
        other = folder / "other"
        other.write_bytes(b"last week's notes\n")
        os.replace(other, history)
        teach.send("two")
        teach.expect(r"history: .*class\.sqlite3 was replaced by another file while the room ran \(left as it is\); "
                     r"the room's history so far is kept in .*class\.sqlite3\.kept, and the room goes on saving there",
                     timeout=20)  # fmt: skip
        teach.send("three")
        teach.expect(r"teach: three$")
        teach.send("/q")
        assert teach.wait() == 0
        assert history.read_bytes() == b"last week's notes\n"
        assert texts_in(folder / "class.sqlite3.kept") == ["one", "two", "three"]


def test_a_copy_kept_from_an_earlier_run_is_never_overwritten_or_removed(tmp_path):
    """The store's own part, on a real file: a ``class.sqlite3.kept`` already there (kept by an earlier
    run, not moved yet) stays as it is, whether the file was deleted or replaced."""
    history = tmp_path / "class.sqlite3"
    kept = tmp_path / "class.sqlite3.kept"
    kept.write_bytes(b"an earlier run's history")
    store = HistoryStore(history)
    try:
        store.keep(time=1.0, sender="ann", text="one")
        store.commit()
        os.unlink(history)
        assert store.file_gone()
        assert "was deleted while the room ran" in store.put_back()
        assert not store.file_gone() and store.path == history
        history.rename(tmp_path / "moved-aside.sqlite3")
        history.write_bytes(b"another file")
        assert store.file_gone()
        line = store.put_back()
        assert "was replaced by another file" in line and "class.sqlite3.kept-2" in line, line
        store.keep(time=2.0, sender="ann", text="two")
        store.commit()
    finally:
        store.close()
    assert kept.read_bytes() == b"an earlier run's history" and history.read_bytes() == b"another file"
    assert texts_in(tmp_path / "class.sqlite3.kept-2") == ["one", "two"]
    assert texts_in(tmp_path / "moved-aside.sqlite3") == ["one"]


def test_a_deleted_history_that_cannot_be_written_back_is_said_and_leaves_no_sqlite_files(sock_dir):
    """The disk full as well (the deleted file still holds its space while the server has it open):
    nothing can be written back; the stop says so, and SQLite's -wal and -shm of the deleted file
    are not left for a new file at that path to take as its own."""
    from helpers import fill_disk, small_disk

    with small_disk("2m") as disk:
        history = disk / "class.sqlite3"
        teach = hosted(os.path.join(sock_dir, "chat.sock"), history)
        try:
            teach.send("one")
            teach.expect(r"teach: one$")
            fill_disk(disk)
            os.unlink(history)
            teach.send("/q")
            assert teach.wait() == 0
        finally:
            teach.stop()
        teach.expect(r"history: .*class\.sqlite3 could not be written back before the server stopped \(.*\); "
                     r"the history it held \(this run's messages too\) is lost with it")  # fmt: skip
        assert "Traceback" not in teach.output, teach.output
        left = sorted(name for name in os.listdir(disk) if name.startswith("class.sqlite3"))
        assert left in ([], ["class.sqlite3.pending"]), left


def as_mallory(*argv: str) -> None:
    """Run ``argv`` as another user of the machine (nobody, through setpriv): a classmate with an
    account on the teacher's machine, or a lab's shared one."""
    import shutil
    import subprocess

    import pytest

    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("acting as a second account needs root and setpriv")
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *argv],
                          capture_output=True, text=True, timeout=10)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_link_planted_at_the_journal_while_the_history_is_written_back_is_not_written_through():
    """The history in a folder others may write (sticky, as /tmp), a cleanup's ``rm class.sqlite3*``
    mid-lesson, and mallory, another user of the machine, plants class.sqlite3.pending (the journal
    of the newest messages) as a link to a file of the teacher's (her ~/.bashrc) before the server
    writes the history back. The server made its new journal by opening the path, through the
    link: every later message, direct ones too, was appended to the .bashrc as a line of JSON (a
    '$(...)' in a message's text runs at her next shell). Now the new journal is made only where
    nothing is (never through a link, never another's file); else the one it had goes on, and at
    /q nothing is lost."""
    with lesson("one", "two") as (folder, history, teach):
        folder.chmod(0o1777)
        bashrc = folder / "teachers-bashrc"
        bashrc.write_text("alias ls='ls -F'\n")
        for name in ("class.sqlite3", "class.sqlite3-wal", "class.sqlite3-shm", "class.sqlite3.pending"):
            os.unlink(folder / name)
        as_mallory("ln", "-s", str(bashrc), str(folder / "class.sqlite3.pending"))
        teach.send("three")
        teach.expect(r"history: .*class\.sqlite3 was deleted while the room ran; the history so far .* is "
                     r"written back to it, and the room goes on saving there", timeout=20)  # fmt: skip
        teach.send("$(touch pwned)")
        teach.expect(r"teach: \$\(touch pwned\)$")
        teach.send("/q")
        assert teach.wait() == 0
        assert bashrc.read_text() == "alias ls='ls -F'\n"
        assert (folder / "class.sqlite3.pending").is_symlink()  # mallory's: left as it is
        assert texts_in(history) == ["one", "two", "three", "$(touch pwned)"]
        assert "Traceback" not in teach.output, teach.output


def test_another_history_moved_over_the_file_mid_lesson_is_not_given_the_rooms_sqlite_files():
    """Last week's history moved over the file mid-lesson (`mv last-week.sqlite3 class.sqlite3`):
    the room goes on in class.sqlite3.kept and said last week's was 'left as it is', but SQLite's
    -wal of the room's own (deleted) file stayed at the path, and the next open of last week's read
    it as its own: it held this lesson's messages instead (or was damaged, pages of another
    file laid over its own). Now the room's -wal and -shm go (known by their inodes); the other
    file's, had it any, would stay."""
    with lesson("one", "two") as (folder, history, teach):
        last_week = HistoryStore(folder / "last-week.sqlite3")
        last_week.append(time=1_700_000_000.0, sender="old", text="last week")
        last_week.close()
        os.replace(folder / "last-week.sqlite3", history)
        teach.send("three")
        teach.expect(r"history: .*class\.sqlite3 was replaced by another file while the room ran \(left as it is\)", timeout=20)
        teach.send("/q")
        assert teach.wait() == 0
        assert texts_in(history) == ["last week"]
        assert texts_in(folder / "class.sqlite3.kept") == ["one", "two", "three"]


def test_a_lesson_going_on_in_the_kept_copy_keeps_its_newest_messages_through_a_kill():
    """The room goes on in class.sqlite3.kept (another file moved over its own), but its journal,
    where each message is before it goes into the file (every few seconds), stayed
    class.sqlite3.pending, beside the other file: a server killed then (a power cut, kill -9) left
    the messages everyone had read where `serve --history class.sqlite3.kept`, as it says to
    start next time, never looks, and where the other file's next start would take them as its
    own. The journal now moves beside the copy with it."""
    with lesson("one") as (folder, history, teach):
        other = folder / "other"
        other.write_bytes(b"last week's notes\n")
        os.replace(other, history)
        teach.send("two")
        teach.expect(r"history: .*the room goes on saving there", timeout=20)
        teach.send("said just before the kill")
        teach.expect(r"teach: said just before the kill$")
        teach.popen.kill()  # (ours, by its PID) nothing moved into the file: the journal holds it
        teach.popen.wait(timeout=10)
        assert not os.path.exists(folder / "class.sqlite3.pending")  # (not left beside the other file)
        kept = folder / "class.sqlite3.kept"
        again = hosted(str(folder / "chat2.sock"), kept)
        try:
            again.send("/history")
            again.expect(r"said just before the kill")
        finally:
            again.stop()
        assert texts_in(kept) == ["one", "two", "said just before the kill"]
