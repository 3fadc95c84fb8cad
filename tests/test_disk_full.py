"""A student's laptop: a disk that fills up, a folder that is read-only, a file that was cut
short, is garbage, or is a link to nowhere. Each on a real small file system of its own
(helpers.small_disk: a tmpfs, so ENOSPC and EROFS come from the kernel); each says one clear
line, never a traceback, and loses nothing anyone saw."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    ROOT,
    Proc,
    RawClient,
    child_env,
    fill_disk,
    local_host,
    remount,
    running_server,
    small_disk,
    wait_for,
)
from test_ui_pty import host, say

from lanchat import events as ev
from lanchat import history_policy
from lanchat.files import human_size
from lanchat.history import HistoryStore, HistoryWriteError
from lanchat.history_policy import HistoryPolicy
from lanchat.history_upkeep import compact_room_needed
from lanchat.log_output import LogOutput
from lanchat.server_files import ServerFiles
from lanchat.session import Line, Session
from lanchat.tls import (
    CERT_NAME,
    KEY_NAME,
    KNOWN_SERVERS_NAME,
    LOCK_NAME,
    KnownServers,
    TlsError,
    check_fingerprint,
    ensure_certificate,
)
from lanchat.transport import Endpoint
from lanchat.ui.plain import PlainFrontend
from lanchat.wording import NOTICE_MARK


@pytest.fixture(scope="module")
def tls_room():
    """A headless TLS room for the clients below: (port, fingerprint)."""
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--tls")
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        fingerprint = server.expect(r"the server's fingerprint is (SHA256:\S+)").group(1)
        yield port, fingerprint
    finally:
        server.stop()


@pytest.mark.parametrize("disk", ["read-only", "full"])
def test_a_pinned_tls_room_is_joined_when_its_fingerprint_cannot_be_remembered(tls_room, tmp_path, disk):
    """`connect --fingerprint` writes the fingerprint it checked into the data folder's
    known-servers file. A data folder on a full or read-only disk made that write end the client
    with a traceback, after the fingerprint had matched; and the full disk kept an empty
    `known_servers.new`. Now the client joins (the pin was checked) and says it was not kept."""
    port, fingerprint = tls_room
    with small_disk() as data:
        (data / "lanchat").mkdir()
        if disk == "full":
            fill_disk(data)
        else:
            remount(data, "ro")
        env = child_env(XDG_DATA_HOME=str(data))
        name = "ann" if disk == "full" else "bob"  # one room: a name per key
        ann = Proc("connect", "127.0.0.1", port, "--name", name, "--fingerprint", fingerprint,
                   "--identity", str(tmp_path / "own.key"), env=env)  # fmt: skip
        try:
            ann.expect(r"matches --fingerprint")
            ann.expect(r"could not remember it in .*known_servers \((no space left on device|read-only file system)\)")
            ann.expect(rf"welcome, {name}")
            ann.send("/q")
            assert ann.wait() == 0
        finally:
            ann.stop()
        assert "Traceback" not in ann.output
        # no half-written file left behind (the data folder's lock file, empty, may be made: tls._folder_lock)
        assert sorted(os.listdir(data / "lanchat")) in ([], [".tls.lock"])


def test_a_fingerprint_trusted_at_the_question_is_used_once_when_it_cannot_be_remembered():
    """Trust on first use with a read-only data folder: the yes holds for this connection, and
    the note says it will be asked again (it raised OSError, a traceback at `connect --tls`)."""
    with small_disk(read_only=True) as data:
        known = KnownServers(data / "lanchat" / KNOWN_SERVERS_NAME)
        note = check_fingerprint("10.0.0.5:3580", "SHA256:abc", known=known, ask=lambda fingerprint: True)
        assert note.startswith("TLS fingerprint SHA256:abc trusted for this connection; could not remember it in")
        assert note.endswith("(read-only file system), so you will be asked again next time")
        assert known.lookup("10.0.0.5:3580") is None


def test_an_identity_key_that_is_a_link_to_nowhere_is_one_line(tmp_path):
    """identity.key a link to a file on a USB stick not plugged in: `lanchat key` (and every
    connect, serve) died of a RecursionError after a thousand tries to make the key there."""
    data = tmp_path / "data"
    (data / "lanchat").mkdir(parents=True)
    (data / "lanchat" / "identity.key").symlink_to(tmp_path / "usb-stick" / "identity.key")
    done = subprocess.run([sys.executable, "-m", "lanchat", "key"], capture_output=True, text=True,
                          env=child_env(XDG_DATA_HOME=str(data)), cwd=ROOT, timeout=20)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip() == (
        f"lanchat: {data / 'lanchat' / 'identity.key'} is a link to {tmp_path / 'usb-stick' / 'identity.key'}, which is "
        "not there (a drive not plugged in?); give an existing key with --identity PATH, or remove the link to get a new key"
    )


def test_a_history_file_that_is_a_link_loop_is_one_line_and_nothing_is_made_beside_it(tmp_path):
    """--history chat.sqlite3 where chat.sqlite3 is a link to itself (a script's `ln -s` gone
    wrong): serve died of "RuntimeError: Symlink loop" after making chat.sqlite3.pending beside it."""
    loop = tmp_path / "chat.sqlite3"
    loop.symlink_to("chat.sqlite3")
    for args in (("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(loop)), ("history", str(loop))):
        done = subprocess.run([sys.executable, "-m", "lanchat", *args], capture_output=True, text=True,
                              env=child_env(), cwd=ROOT, timeout=20)  # fmt: skip
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
        assert done.stderr.startswith(f"lanchat: {loop} is a link that leads round in a loop, not a history file")
    assert os.listdir(tmp_path) == ["chat.sqlite3"]


def serve_tls(data: Path) -> subprocess.CompletedProcess[str]:
    """`serve --tls` with ``data`` as its data folder, for a start that fails (it ends at once)."""
    return subprocess.run(
        [sys.executable, "-m", "lanchat", "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--tls"],
        capture_output=True, text=True, env=child_env(XDG_DATA_HOME=str(data)), cwd=ROOT, timeout=20,
    )  # fmt: skip


def test_a_tls_certificate_cut_short_by_a_full_disk_is_made_whole_once_there_is_room():
    """`serve --tls` on a disk with room for the key but not the certificate: it said so, but
    left an empty tls-cert.pem, and every start after the disk had room again was refused with
    "[SSL] PEM lib (_ssl.c:3905)". Now nothing is left, and the next start makes both."""
    with small_disk() as data:
        filler = fill_disk(data, leave=4096)  # one page: the key fits, the certificate does not
        full = serve_tls(data)
        assert full.returncode == 1 and "Traceback" not in full.stderr, full.stderr
        assert full.stderr == f"lanchat: cannot write the TLS certificate in {data / 'lanchat'}: No space left on device\n"
        assert os.listdir(data / "lanchat") == [LOCK_NAME]  # (the lock is kept: never removed under a waiter)
        filler.unlink()
        server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--tls",
                      env=child_env(XDG_DATA_HOME=str(data)))  # fmt: skip
        try:
            server.expect(r"made a TLS certificate in")
            server.expect(r"the server's fingerprint is SHA256:")
        finally:
            server.stop()
        assert "Traceback" not in server.output
        assert sorted(os.listdir(data / "lanchat")) == [LOCK_NAME, CERT_NAME, KEY_NAME]


def test_an_empty_tls_certificate_left_by_an_older_lanchat_is_named_as_empty(tmp_path):
    (tmp_path / "lanchat").mkdir()
    (tmp_path / "lanchat" / KEY_NAME).write_bytes(b"")
    (tmp_path / "lanchat" / CERT_NAME).write_bytes(b"")
    done = serve_tls(tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    cert, key = tmp_path / "lanchat" / CERT_NAME, tmp_path / "lanchat" / KEY_NAME
    assert done.stderr == (
        f"lanchat: cannot use the TLS certificate {cert}: {cert} is empty (cut short when it was written?); "
        f"move {cert} and {key} aside to make new ones\n"
    )


def test_a_newcomer_sees_the_history_while_the_disk_is_too_full_to_move_the_newest_messages_in():
    """The disk fills up while the newest messages wait in the journal (history.py, Durability):
    SQLite cannot take them, so every read first tried to move them, failed, and read nothing. A
    newcomer's replay and /history showed no message at all, not even yesterday's. Now they read
    the journal's rows beside the file; and once there is room, the move and new messages work."""
    with small_disk() as disk:
        db = disk / "chat.sqlite3"
        yesterday = HistoryStore(db)
        yesterday.append(time=time.time() - 86400, sender="old", text="from yesterday")
        yesterday.close()
        store = HistoryStore(db)
        try:
            with running_server(history=store) as (_server, endpoint):
                ann = RawClient(endpoint, "ann")
                for i in range(3):
                    ann.send(ev.Say(text=f"today {i}"))
                    ann.expect(ev.Message, text=f"today {i}")
                filler = fill_disk(disk)
                carl = RawClient(endpoint, "carl")
                replay = [carl.expect(ev.Message).text for _ in range(4)]
                assert replay == ["from yesterday", "today 0", "today 1", "today 2"]
                assert carl.expect(ev.HistoryEnd).shown == 4
                carl.send(ev.HistoryRequest(limit=2))
                assert [carl.expect(ev.Message).text for _ in range(2)] == ["today 1", "today 2"]
                filler.unlink()
                ann.send(ev.Say(text="with room again"))
                assert carl.expect(ev.Message).text == "with room again"
                dave = RawClient(endpoint, "dave")
                assert [dave.expect(ev.Message).text for _ in range(5)][-2:] == ["today 2", "with room again"]
        finally:
            store.close()
        reader = HistoryStore(db, create=False)
        try:
            assert [record.text for record in reader.export()] == [
                "from yesterday", "today 0", "today 1", "today 2", "with room again"
            ]
        finally:
            reader.close()


def serve_history(db: Path) -> subprocess.CompletedProcess[str]:
    """`serve --history DB`, for a start that fails (it ends at once)."""
    return subprocess.run(
        [sys.executable, "-m", "lanchat", "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(db)],
        capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=20,
    )  # fmt: skip


@pytest.mark.parametrize("history", ["yesterday's", "a new one"])
def test_a_history_on_a_full_disk_at_start_is_not_called_damaged(history):
    """serve with its history on a disk that is already full: yesterday's file was "not a
    usable history database: disk I/O error" (SQLite cannot make its shared-memory file), and
    the advice was to move it aside, as if it were damaged; a new one was left as an empty file.
    Now both say the disk is full and what to do; the file is as it was, and opens once there is room."""
    with small_disk() as disk:
        db = disk / "chat.sqlite3"
        if history == "yesterday's":
            store = HistoryStore(db)
            store.append(time=time.time(), sender="old", text="from yesterday")
            store.close()
        before = sorted(os.listdir(disk))
        kept = db.read_bytes() if db.exists() else None
        filler = fill_disk(disk, leave=0 if history == "yesterday's" else 4096)
        done = serve_history(db)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert re.fullmatch(
            rf"lanchat: cannot open {re.escape(str(db))}: the disk it is on is full \(\d KiB free\)\n"
            r"  free some space there, or choose another file with --history PATH, or start with --no-history\n",
            done.stderr,
        ), done.stderr
        filler.unlink()
        assert (db.read_bytes() if db.exists() else None) == kept
        if kept is None:
            assert sorted(os.listdir(disk)) == before  # no empty file where there was none
        store = HistoryStore(db)
        try:
            assert [r.text for r in store.export()] == (["from yesterday"] if kept else [])
        finally:
            store.close()
        if kept is not None:  # (SQLite's own -wal and -shm, if it left any, are gone with its close)
            assert sorted(os.listdir(disk)) == before


def test_a_transcript_written_to_a_full_disk_says_it_stops_short(tmp_path):
    """`lanchat history > lesson.txt` with lesson.txt on a full disk ended in an OSError traceback."""
    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    for i in range(50):  # 150 KB of transcript
        store.append(time=time.time(), sender="ann", text=f"line {i} " + "x" * 3000)
    store.close()
    with small_disk("64k") as disk, open(disk / "lesson.txt", "w") as out:
        done = subprocess.run([sys.executable, "-m", "lanchat", "history", str(db)], stdout=out, stderr=subprocess.PIPE,
                              text=True, env=child_env(), cwd=ROOT, timeout=20)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr == f"lanchat: cannot write the transcript of {db}: no space left on device; what was written stops short\n"


def test_a_plain_client_writing_its_chat_to_a_full_disk_chats_on_and_marks_the_gap(tmp_path):
    """`lanchat connect --plain > lesson.log` with lesson.log on a disk that fills up: the first
    line it could not write ended the client ("internal error (OSError)"), leaving the room.
    Now it chats on, says so once on stderr, and where the output works again a line says how
    many lines are missing there."""
    with running_server() as (_server, endpoint), small_disk() as disk:
        log, errors = disk / "lesson.log", tmp_path / "stderr.txt"
        with open(log, "w") as out, open(errors, "w") as err:
            ann = subprocess.Popen([sys.executable, "-m", "lanchat", "connect", endpoint.host, str(endpoint.port),
                                    "--name", "ann", "--plain"], stdin=subprocess.PIPE, stdout=out, stderr=err,
                                   env=child_env(), cwd=ROOT)  # fmt: skip
        try:
            wait_for(lambda: "welcome, ann" in log.read_text(), what="ann's welcome in the log")
            bob = RawClient(endpoint, "bob")
            filler = fill_disk(disk)
            for i in range(40):  # more than the log's last page has room for
                bob.send(ev.Say(text=f"while full {i} " + "x" * 200))
            wait_for(lambda: "cannot write the chat to its output" in errors.read_text(), what="the note on stderr")
            assert ann.stdin is not None
            ann.stdin.write(b"ann is still here\n")
            ann.stdin.flush()
            assert bob.expect(ev.Message, sender="ann").text == "ann is still here"
            filler.unlink()
            bob.send(ev.Say(text="with room again"))
            wait_for(lambda: "with room again" in log.read_text(), what="the chat in the log again")
            assert re.search(r"(?s)\] ! \d+ lines? could not be written here \(no space left on device\)\n.*with room again",
                             log.read_text())  # fmt: skip
            ann.stdin.write(b"/q\n")
            ann.stdin.flush()
            assert ann.wait(10) == 0
        finally:
            if ann.poll() is None:
                ann.kill()
                ann.wait(10)
    # (the log was read before the disk went away with its mount)
    stderr = errors.read_text()
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert stderr.count("cannot write the chat to its output (no space left on device); the chat goes on") == 1


class FillsUp(io.StringIO):
    """An output on a disk that is full until ``full`` is set False."""

    full = True

    def write(self, text: str) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(text)


def test_the_gap_line_is_written_where_the_output_works_again():
    """The plain front end's side of the test above, without a disk: the count is exact."""
    out = FillsUp()
    front = PlainFrontend(Session(name="ann"), stdin_fd=0, stdout=out, interactive=False)
    front.show([Line(kind="message", time=0.0, sender="bob", text=f"lost {i}") for i in range(3)])
    front.show([Line(kind="message", time=0.0, sender="bob", text="lost 3")])
    out.full = False
    front.show([Line(kind="message", time=0.0, sender="bob", text="kept")])
    written = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in written] == [
        "! 4 lines could not be written here (no space left on device)", "bob: kept"
    ]
    front.show([Line(kind="message", time=0.0, sender="bob", text="and on")])
    assert out.getvalue().splitlines()[2].endswith("bob: and on")



def test_the_logs_gap_line_counts_every_line_refused_and_is_said_once():
    """The log's side of the test above, without a disk: a refused banner of three lines and a
    log line are four lines missed, said once on stderr; then the gap line and the log go on."""
    out, err = FillsUp(), io.StringIO()
    log = LogOutput(out, err)
    log.write("lanchat: banner\n  join with: ...\n  history: off")
    log.write("[12:00:01] ann joined")
    out.full = False
    log.write("[12:00:02] bob joined")
    log.write("[12:00:03] bob left")
    assert [line.split("] ", 1)[-1] for line in out.getvalue().splitlines()] == [
        "! 4 lines could not be written here (no space left on device)", "bob joined", "bob left"
    ]
    assert err.getvalue().count("the log's output cannot be written (no space left on device)") == 1


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts the open descriptors in /proc/self/fd (Linux)")
def test_a_log_whose_reader_is_gone_goes_to_dev_null_and_leaves_no_descriptor_open():
    """`serve --headless | grep ...` ended: the log's output is pointed at /dev/null, said once,
    and the /dev/null opened for that is closed again (it stayed open for the process's life)."""
    reader, writer = os.pipe()
    os.close(reader)
    err = io.StringIO()
    with open(writer, "w", encoding="utf-8") as out:
        before = set(os.listdir("/proc/self/fd"))
        log = LogOutput(out, err)
        log.write("[12:00:01] ann joined")  # EPIPE (Python ignores SIGPIPE)
        log.write("[12:00:02] bob joined")  # into /dev/null
        assert set(os.listdir("/proc/self/fd")) == before
        assert os.readlink(f"/proc/self/fd/{writer}") == os.devnull
    assert err.getvalue() == "lanchat: the log's output was closed; the room goes on without a log\n"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc/self/fd (Linux)")
def test_a_log_whose_descriptor_was_closed_keeps_that_number_on_dev_null_never_free_for_a_socket():
    """The log's descriptor closed under it (EBADF): /dev/null, opened for it, gets that very
    number (the lowest free), so dup2 is a no-op; closing it then freed the number for the next
    accept, and the log's lines would have gone into a student's connection. It stays /dev/null."""
    lowest = os.open(os.devnull, os.O_RDONLY)  # the lowest free number now
    os.close(lowest)
    reader, writer = os.pipe()
    os.close(reader)
    os.dup2(writer, lowest)
    os.close(writer)
    err = io.StringIO()
    out = open(lowest, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - the descriptor is closed by hand
    os.close(lowest)  # closed under the log: the lowest free number again
    try:
        LogOutput(out, err).write("[12:00:01] ann joined")  # EBADF
        assert os.readlink(f"/proc/self/fd/{lowest}") == os.devnull
    finally:
        with contextlib.suppress(OSError):
            os.close(lowest)
    assert "the log's output cannot be written (bad file descriptor)" in err.getvalue()


class NearlyFullStore:
    """A history store on a disk so nearly full that a pass fits or not by its size: commit()
    fails while ``full`` (the way history.py says it, HistoryWriteError)."""

    writable = True
    errors = (HistoryWriteError,)
    path = Path("chat.sqlite3")
    full = False

    def keep(self, **message: object) -> None:
        pass

    def commit(self) -> int:
        if self.full:
            raise HistoryWriteError("database or disk is full")
        return 1


def test_a_disk_so_nearly_full_that_saving_comes_and_goes_warns_the_host_once_a_minute():
    """On a real nearly full disk (a tmpfs with a page or two free) short passes fit and long
    ones do not: the host's screen got a "cannot use ... / saving ... again" pair for every
    switch, dozens a second. Each refused sender is still told (hub.py); the host hears of it
    once a minute at most, and of its end only when it heard of the failure."""
    now = [0.0]
    said: list[str] = []
    store = NearlyFullStore()
    policy = HistoryPolicy(store, clock=lambda: now[0], log=said.append)  # type: ignore[arg-type]
    message = ev.Message(sender="ann", text="hi", time=0.0)
    results = []
    for step in range(40):  # 20 s of saving coming and going, two switches a second
        now[0] = step / 2
        store.full = step % 2 == 0
        policy.keep(message)
        results.append(policy.commit())
    assert results == [False, True] * 20  # every message that was not saved is refused
    assert [line.split(":")[0] + (": again" if "again" in line else ": cannot") for line in said] == [
        "history: cannot", "history: again"
    ]
    now[0] = 61.0  # a minute after the warning: a new run of failures is said again
    store.full = True
    policy.keep(message)
    assert policy.commit() is False
    store.full = False
    policy.keep(message)
    assert policy.commit() is True
    assert len(said) == 4 and "cannot use chat.sqlite3: database or disk is full" in said[2] and "again" in said[3]


def test_a_history_damaged_at_its_end_is_one_line_and_its_transcript_gives_what_can_be_read(tmp_path):
    """The newest pages of a history zeroed (a machine that lost power as the disk filled up):
    serve and `lanchat history` printed SQLite's check over several lines, cut mid-word, and the
    transcript gave nothing, though most messages were intact. Now the damage is one line, serve
    still refuses the file, and the transcript has every message up to the damage."""
    db = a_history_of_300(tmp_path / "chat.sqlite3")
    data = db.read_bytes()
    kept = newest_pages_from(data)
    db.write_bytes(data[:kept] + bytes(len(data) - kept))  # the newest pages zeroed
    served = serve_history(db)
    assert served.returncode == 1 and "Traceback" not in served.stderr
    first, advice = served.stderr.splitlines()
    assert first.startswith(f"lanchat: {db} is damaged (Page ") and first.endswith(")")
    assert len(first) - len(str(db)) < 165, first  # lanchat's words, SQLite's cut short (145); the path's length is the temp folder's
    assert advice.startswith("  the file was left untouched: move it aside")
    done = subprocess.run([sys.executable, "-m", "lanchat", "history", str(db)], capture_output=True, text=True,
                          env=child_env(), cwd=ROOT, timeout=20)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    read = [line.split("ann: ")[1][:11] for line in done.stdout.splitlines()]
    assert len(read) > 20 and read == [f"message {i:03d}" for i in range(len(read))]
    assert done.stderr == (
        f"{first}: the messages from #{len(read) + 1} on could not be read; the transcript has the {len(read)} messages that could\n"
    )


def newest_pages_from(data: bytes) -> int:
    """Where the newest pages of ``a_history_of_300`` begin, on a page's edge: past six tenths of the
    file (the tables' and indexes' first pages come first, then the messages' pages in order; a cut
    inside a page would leave its last rows readable, after a gap)."""
    return len(data) * 6 // 10 // 4096 * 4096


def a_history_of_300(db: Path) -> Path:
    """A history of 300 messages of 210 characters ("message 000 zzz..."), 34 pages of 4 KiB."""
    store = HistoryStore(db)
    for i in range(300):
        store.append(time=time.time(), sender="ann", text=f"message {i:03d} " + "z" * 200, commit=False)
    store.commit()
    store.close()
    return db


def test_a_history_cut_short_or_damaged_inside_exports_every_message_left_and_says_which_are_not(tmp_path):
    """A history cut short (a copy stopped halfway, a full disk outside SQLite's guarantees):
    SQLite refuses a file shorter than its header says, so `lanchat history` said "not a usable
    history database: database disk image is malformed" and wrote out nothing, and serve advised
    moving it aside as if it were not a history at all. Now it is damaged, cut short, and its
    transcript has every message left; one damaged inside (pages zeroed) has the messages after
    the damage too, and the messages that could not be read are named."""
    db = a_history_of_300(tmp_path / "chat.sqlite3")
    data = db.read_bytes()
    cut = tmp_path / "cut.sqlite3"
    cut.write_bytes(data[: newest_pages_from(data)])
    served = serve_history(cut)
    assert served.returncode == 1 and "Traceback" not in served.stderr
    damaged = f"lanchat: {cut} is damaged (cut short: {newest_pages_from(data) // 1024} KiB of its {len(data) // 1024} KiB are there)"
    assert served.stderr.splitlines()[0] == damaged
    done = subprocess.run([sys.executable, "-m", "lanchat", "history", str(cut)], capture_output=True, text=True,
                          env=child_env(), cwd=ROOT, timeout=20)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    read = [line.split("ann: ")[1][:11] for line in done.stdout.splitlines()]
    assert len(read) > 20 and read == [f"message {i:03d}" for i in range(len(read))]
    assert done.stderr == (f"{damaged}: the messages from #{len(read) + 1} on could not be read; the transcript "
                           f"has the {len(read)} messages that could\n")  # fmt: skip
    inside = bytearray(data)
    middle = data.index(b"message 150 ") // 4096 * 4096  # a page of messages, wherever the schema's pages lie
    inside[middle : middle + 4 * 4096] = bytes(4 * 4096)  # four pages in the middle zeroed
    db.write_bytes(bytes(inside))
    done = subprocess.run([sys.executable, "-m", "lanchat", "history", str(db)], capture_output=True, text=True,
                          env=child_env(), cwd=ROOT, timeout=20)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    said = re.fullmatch(rf"lanchat: {re.escape(str(db))} is damaged \(.*\): messages #(\d+) to #(\d+) \((\d+)\) could not "
                        r"be read; the transcript has the (\d+) messages that could\n", done.stderr)  # fmt: skip
    assert said, done.stderr
    first, last, lost, kept = map(int, said.groups())
    read = [int(line.split("ann: message ")[1][:3]) for line in done.stdout.splitlines()]
    assert lost == last - first + 1 and kept == len(read) and kept + lost == 300
    assert read == [i for i in range(300) if not first - 1 <= i <= last - 1]  # ids start at 1, messages at 000


@pytest.mark.parametrize("side", ["-wal", "-journal", ".pending"])
def test_a_folder_in_place_of_a_file_beside_the_history_names_that_folder(tmp_path, side):
    """A folder where SQLite's -wal or -journal file goes (a sync tool, a student's mkdir) made
    serve and lanchat history call the history itself "not a usable history database: unable to
    open database file" (or "disk I/O error") and advise moving it aside, though it was sound."""
    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    store.append(time=time.time(), sender="ann", text="kept")
    store.close()
    before = db.read_bytes()
    folder = tmp_path / f"chat.sqlite3{side}"
    if folder.exists():  # the journal, empty once closed
        assert folder.stat().st_size == 0
        folder.unlink()
    folder.mkdir()
    served = serve_history(db)
    assert served.returncode == 1 and "Traceback" not in served.stderr
    first = served.stderr.splitlines()[0]
    if side == ".pending":
        assert first == f"lanchat: {folder} is a folder, not a history file"
    else:
        assert first == (f"lanchat: {folder} is a folder where SQLite keeps a file of chat.sqlite3's own; "
                         "move that folder aside (chat.sqlite3 itself was left untouched)")  # fmt: skip
    assert db.read_bytes() == before
    folder.rmdir()
    reader = HistoryStore(db, create=False)
    try:
        assert [record.text for record in reader.export()] == ["kept"]
    finally:
        reader.close()


def test_a_ban_or_mute_that_cannot_be_saved_is_said_to_the_one_who_made_it(tmp_path):
    """Bans and mutes survive a restart (they are kept in the history file). On a full disk the
    ban held for this run, the host heard "history: cannot use" at most, and a restart lifted it
    without a word. Now the operator is told it holds only until the server stops."""
    with small_disk() as disk:
        store = HistoryStore(disk / "chat.sqlite3")
        try:
            with running_server(history=store) as (server, endpoint):
                host = local_host(server, "teach")
                bob = RawClient(endpoint, "bob")
                RawClient(endpoint, "carl")  # closed with the server (running_server)
                host.expect(ev.Joined, name="carl")
                fill_disk(disk)
                host.send(ev.Moderate(action="ban", name="bob", reason="spam"))
                bob.expect_closed()
                host.send(ev.Moderate(action="mute", name="carl", minutes=10))
                wanted = [f"the {what} is not saved yet: the history cannot be written; it is saved as soon as it can be, "
                          "and a restart before then lifts it" for what in ("ban on bob", "mute on carl")]  # fmt: skip
                told: list[str] = []
                while not all(line in told for line in wanted):  # (the host's warning is one too)
                    told.append(host.expect(ev.Error, code=ev.E_HISTORY).message)  # in its time, or fails
        finally:
            store.close()


def test_a_headless_servers_log_on_a_full_disk_says_so_the_room_goes_on_and_the_log_resumes(tmp_path):
    """`serve --headless > server.log` with server.log on a disk that fills up: the room goes on,
    as for a reader gone (it said "the log's output was closed"); but the log was then pointed
    at /dev/null for good, and stayed silent once there was room again. Now it writes again
    where it can (after ending the line the disk cut short), first saying how many lines are
    missing there, and stops with no traceback."""
    with small_disk() as disk:
        log, errors = disk / "server.log", tmp_path / "stderr.txt"
        with open(log, "a") as out, open(errors, "w") as err:  # O_APPEND: each line at the end
            server = subprocess.Popen([sys.executable, "-m", "lanchat", "serve", "--port", "0", "--host", "127.0.0.1",
                                       "--headless", "--no-history"], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                      env=child_env(), cwd=ROOT)  # fmt: skip
        try:
            port = int(wait_for(lambda: re.search(r"listening on port (\d+)", log.read_text()), what="the banner").group(1))
            wait_for(lambda: "history: off" in log.read_text(), what="the whole banner")
            with open(log, "a") as pad:  # room for 20 bytes in the log's last page: the next line is cut there
                pad.write(" " * ((-log.stat().st_size - 20) % 4096))
            filler = fill_disk(disk)
            endpoint = Endpoint(host="127.0.0.1", port=port)
            ann = RawClient(endpoint, "ann")  # "ann joined from ...": the line the disk refuses
            wait_for(lambda: "the room goes on" in errors.read_text(), what="the note on stderr")
            bob = RawClient(endpoint, "bob")  # a second line lost
            ann.send(ev.Say(text="still a room"))
            assert bob.expect(ev.Message).text == "still a room"
            filler.unlink()
            carl = RawClient(endpoint, "carl")
            wait_for(lambda: "carl joined" in log.read_text(), what="the log going on")
            for client in (ann, bob, carl):
                client.close()
        finally:
            server.terminate()
            server.wait(10)
        written = log.read_text()
    said = errors.read_text()
    assert "Traceback" not in said
    assert said == ("lanchat: the log's output cannot be written (no space left on device); the room goes on, "
                    "and the log says how many lines it missed once it can be written again\n")  # fmt: skip
    after = [line.strip().split("] ", 1)[-1] for line in written.splitlines()]  # (the padding: spaces)
    gap = after.index("! 2 lines could not be written here (no space left on device)")  # ann's and bob's joins
    assert re.fullmatch(r"\[[\d:]{8}\] ann joine", written.splitlines()[gap - 1].lstrip(" "))  # cut at 20 bytes, then ended
    assert after[gap + 1].startswith("carl joined"), written[-600:]
    assert after[-1] == "lanchat: server stopped"


@pytest.mark.parametrize("damage", ["garbage", "a folder"])
def test_a_damaged_known_servers_file_says_what_it_is_and_what_to_do(tmp_path, damage):
    """Bytes that are not text where the known-servers file is said "'utf-8' codec can't decode
    byte 0xd3 in position 0: invalid continuation byte"; a folder there was "a pipe, a device"."""
    path = tmp_path / KNOWN_SERVERS_NAME
    if damage == "garbage":
        path.write_bytes(b"\xd3\x9c\x00" + bytes(range(128, 256)))
    else:
        path.mkdir()
    with pytest.raises(TlsError) as refused:
        KnownServers(path).lookup("10.0.0.5:3580")
    if damage == "garbage":
        assert str(refused.value) == (f"the known-servers file {path} is not text (damaged?); move it aside "
                                      "(each TLS room's fingerprint is then asked about again)")  # fmt: skip
    else:
        assert str(refused.value) == f"the known-servers file {path} is a folder; move it aside"


@pytest.mark.parametrize("damage", ["certificate cut short", "key garbage"])
def test_a_damaged_tls_certificate_or_key_names_the_file(tmp_path, damage):
    """OpenSSL says only "[SSL] PEM lib (_ssl.c:3905)" for a certificate cut short or a key
    that is garbage: now the file and what is wrong with it are named."""
    folder = tmp_path / "lanchat"
    cert, key, _ = ensure_certificate(folder)
    bad = cert if damage.startswith("certificate") else key
    bad.write_bytes(cert.read_bytes()[:200] if bad is cert else bytes(range(256)))
    done = serve_tls(tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == (
        f"lanchat: cannot use the TLS certificate {cert}: {bad} is damaged (cut short, or not the PEM file lanchat "
        f"wrote); move {cert} and {key} aside to make new ones\n"
    )


def test_a_download_that_fills_the_disk_stops_alone_and_leaves_nothing(tmp_path):
    """(Held before; not covered.) Two downloads into a folder on a small disk, each fitting
    alone, not both: the one that cannot fit stops (or is refused) with one line, no part of it
    is left, the other is saved whole, and the chat goes on."""
    for name in ("a.bin", "b.bin"):
        (tmp_path / name).write_bytes(os.urandom(150_000))
    procs: list[Proc] = []
    with running_server(files=ServerFiles(tmp_path / "files")) as (_server, endpoint), small_disk() as downloads:
        port = str(endpoint.port)
        try:
            ann = Proc("connect", "127.0.0.1", port, "--name", "ann")
            bob = Proc("connect", "127.0.0.1", port, "--name", "bob", "--downloads", str(downloads))
            procs += [ann, bob]
            bob.expect(r"welcome, bob")
            ann.send(f"/send {tmp_path / 'a.bin'}")
            ann.send(f"/send {tmp_path / 'b.bin'}")
            bob.expect(r"type /get 2 to download it")
            bob.send("/get 1")
            bob.send("/get 2")
            # together, the second runs out of room on the way; one after the other (the first was
            # quick), the second is refused before it starts, for the room it would need
            stopped = bob.expect(r"! (?:download of (\w\.bin) stopped: no space left on device|"
                                 r"cannot save (\w\.bin): it is 146\.5 KiB and .* has [\d.]+ KiB free)")  # fmt: skip
            kept = "b.bin" if (stopped.group(1) or stopped.group(2)) == "a.bin" else "a.bin"
            bob.expect(rf"saved {re.escape(str(downloads / kept))} \(146\.5 KiB")
            bob.send("still here")
            ann.expect(r"bob: still here")
            assert os.listdir(downloads) == [kept]
            assert (downloads / kept).read_bytes() == (tmp_path / kept).read_bytes()
        finally:
            for proc in procs:
                proc.stop()
    assert "Traceback" not in "".join(proc.output for proc in procs)


def test_a_history_on_a_read_only_disk_is_replayed_and_exported():
    """A history on a disk mounted read-only (a USB stick, a read-only bind mount; root too):
    SQLite cannot make the -shm file a WAL file needs even to be read, and serve and lanchat
    history both said "not a usable history database: unable to open database file; move it
    aside". README promises a read-only history is replayed and nothing new saved: now it is,
    and it exports."""
    with small_disk() as disk:
        db = disk / "chat.sqlite3"
        store = HistoryStore(db)
        store.append(time=time.time(), sender="old", text="from before")
        store.close()
        remount(disk, "ro")
        server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(db))
        try:
            port = server.expect(r"listening on port (\d+)").group(1)
            server.expect(r"warning: cannot write the history \(.*readonly.*\): earlier messages are replayed")
            ann = RawClient(Endpoint(host="127.0.0.1", port=int(port)), "ann")
            assert ann.expect(ev.Message).text == "from before"
            ann.close()
        finally:
            server.stop()
        assert "Traceback" not in server.output
        done = subprocess.run([sys.executable, "-m", "lanchat", "history", str(db)], capture_output=True, text=True,
                              env=child_env(), cwd=ROOT, timeout=20)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.endswith("] old: from before\n")


def test_a_read_only_history_whose_newest_messages_are_in_sqlites_wal_exports_them_too():
    """A USB stick unplugged (or the power lost) while a server ran keeps the newest messages in
    SQLite's -wal file beside the history; mounted read-only later, it was read as immutable,
    which ignores the -wal: lanchat history printed the older messages only, said nothing of
    the others and ended with 0. A -wal there is read as SQLite reads it."""
    with small_disk() as disk, small_disk() as stick:
        store = HistoryStore(disk / "chat.sqlite3")
        store.append(time=time.time(), sender="old", text="from before")
        store.close()
        store = HistoryStore(disk / "chat.sqlite3")
        try:
            store.append(time=time.time(), sender="new", text="said last")
            store._move()  # into SQLite, whose -wal holds it until a checkpoint
            for name in os.listdir(disk):  # the stick as the power cut left it
                shutil.copy2(disk / name, stick / name)
        finally:
            store.close()
        assert (stick / "chat.sqlite3-wal").stat().st_size > 0
        remount(stick, "ro")
        done = subprocess.run([sys.executable, "-m", "lanchat", "history", str(stick / "chat.sqlite3")], capture_output=True,
                              text=True, env=child_env(), cwd=ROOT, timeout=20)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [line.split("] ", 1)[1] for line in done.stdout.splitlines()] == ["old: from before", "new: said last"]


def test_an_identity_key_others_can_read_on_a_read_only_disk_says_to_copy_it(tmp_path):
    """A key carried on a USB stick that is read-only (or FAT, where chmod is refused): lanchat
    refuses a key others can read, and said "run: chmod 600 PATH", which cannot work there."""
    with small_disk() as stick:
        key = stick / "identity.key"
        done = subprocess.run([sys.executable, "-m", "lanchat", "key", "--identity", str(key)], capture_output=True,
                              text=True, env=child_env(), cwd=ROOT, timeout=20)  # fmt: skip
        assert done.returncode == 0, done.stderr
        key.chmod(0o644)
        remount(stick, "ro")
        done = subprocess.run([sys.executable, "-m", "lanchat", "key", "--identity", str(key)], capture_output=True,
                              text=True, env=child_env(), cwd=ROOT, timeout=20)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == (
        f"lanchat: the identity key {key} can be read by others (mode 0644) and cannot be made private there "
        "(read-only file system); copy it to a folder of your own, run chmod 600 on the copy, and give that with --identity PATH\n"
    )


def test_an_upload_the_servers_disk_has_no_room_for_is_refused_before_it_is_sent(tmp_path):
    """The server keeps uploads on a disk with 100 KiB free: a file of 200 KB crossed the whole
    network and was then dropped ("upload of big.bin stopped: the server could not store it (no
    space left on device)"). Now the offer is refused before a byte is sent, in one line that
    says why; a small file after it is offered as usual."""
    big, small = tmp_path / "big.bin", tmp_path / "small.bin"
    big.write_bytes(os.urandom(200_000))
    small.write_bytes(b"notes")
    with small_disk() as disk:
        fill_disk(disk, leave=100 * 1024)
        with running_server(files=ServerFiles(disk)) as (_server, endpoint):
            ann = Proc("connect", endpoint.host, str(endpoint.port), "--name", "ann")
            try:
                ann.expect(r"welcome, ann")
                ann.send(f"/send {big}")
                ann.expect(r"! .*refused: the server has room for 100\.0 KiB, and the file is 195\.3 KiB")
                ann.send(f"/send {small}")
                ann.expect(r"your file small\.bin \(5 bytes\) is on offer to the room as #2")
            finally:
                ann.stop()
        assert "Traceback" not in ann.output
        assert "sending big.bin" not in ann.output  # not a byte of it went


@contextlib.contextmanager
def bob_and_another_in_a_room_on(disk: Path, first: Callable[[Any, Endpoint], Any]) -> Iterator[tuple[Any, RawClient]]:
    """A server whose history is ``disk``'s chat.sqlite3, with ``first(server, endpoint)`` in it
    and then bob, whose join the first has seen; the store is closed at the end."""
    store = HistoryStore(disk / "chat.sqlite3")
    try:
        with running_server(history=store) as (server, endpoint):
            one = first(server, endpoint)
            bob = RawClient(endpoint, "bob")
            one.expect(ev.Joined, name="bob")
            yield one, bob
    finally:
        store.close()


def test_a_message_said_while_the_disk_is_full_reaches_nobody_and_its_sender_is_told():
    """(Held before: tested with /dev/full and a file size limit; here on a real full disk.)
    Stored before anyone receives it: a message the history cannot take is refused to its
    sender with one line, nobody else gets it, and the room goes on once there is room."""
    with small_disk() as disk:
        with bob_and_another_in_a_room_on(disk, lambda _server, endpoint: RawClient(endpoint, "ann")) as (ann, bob):
            filler = fill_disk(disk)  # the journal is empty: its first line needs a page
            ann.send(ev.Say(text="said on a full disk"))
            refused = ann.expect(ev.Error, code=ev.E_HISTORY)
            assert refused.message == (
                "not sent: 'said on a full disk': the server's disk is full, so the history cannot save it "
                "(nobody got it); try again in a moment"
            )
            assert not refused.fatal
            assert not [e for e in bob.drain(0.3) if isinstance(e, ev.Message)]
            filler.unlink()
            ann.send(ev.Say(text="with room again"))
            assert bob.expect(ev.Message).text == "with room again"
            assert ann.expect(ev.Message).text == "with room again"
        reader = HistoryStore(disk / "chat.sqlite3", create=False)
        try:
            assert [record.text for record in reader.export()] == ["with room again"]
        finally:
            reader.close()


def test_save_to_a_full_or_read_only_disk_says_why_and_leaves_nothing(terms):
    """(Held before; not covered.) /save in the full screen onto a disk that is full, then one
    that is read-only: one line each, no temporary file left, and the chat goes on."""
    ann, _port = host(terms, rows=30, cols=160)
    say(ann, "worth keeping", "ann")  # (a new file needs a page of its own, which a full disk has not)
    with small_disk() as disk:
        fill_disk(disk)
        ann.send(f"/save {disk / 'lesson.txt'}\r")
        ann.expect(re.escape(f"! could not save to {disk / 'lesson.txt'}: No space left on device; choose another path"))
        assert os.listdir(disk) == [".filler"]
    with small_disk(read_only=True) as disk:
        ann.send(f"/save {disk / 'lesson.txt'}\r")
        ann.expect(re.escape(f"! could not save to {disk / 'lesson.txt'}: Read-only file system; choose another path"))
    say(ann, "still here", "ann")


def test_two_uploads_that_fit_alone_but_not_together_end_with_one_line_and_the_room_goes_on(tmp_path):
    """(Held before; not covered.) Two uploads to a server disk with room for one: the one that
    finds no room stops on the way (together) or is refused at its offer (one after the other),
    with one line to its sender; the other is offered, and its part does not linger."""
    for name in ("a.bin", "b.bin"):
        (tmp_path / name).write_bytes(os.urandom(80_000))
    with small_disk() as disk:
        fill_disk(disk, leave=120 * 1024)
        with running_server(files=ServerFiles(disk)) as (_server, endpoint):
            ann = Proc("connect", endpoint.host, str(endpoint.port), "--name", "ann")
            try:
                ann.expect(r"welcome, ann")
                ann.send(f"/send {tmp_path / 'a.bin'}")
                ann.send(f"/send {tmp_path / 'b.bin'}")
                ann.expect(r"! (?:upload of \w\.bin stopped: the server could not store it \(no space left on device\)|"
                           r".*refused: the server has room for [\d.]+ KiB(?: besides the [\d.]+ KiB still on their way to it)?, and the file is 78\.1 KiB)")  # fmt: skip
                ann.expect(r"your file \w\.bin \(78\.1 KiB\) is on offer to the room")
                ann.send("still here")
                ann.expect(r"ann: still here")
                assert len(list(disk.glob("run-*/*.upload"))) == 1  # the offered one; no part of the other
            finally:
                ann.stop()
        assert "Traceback" not in ann.output


def test_the_hosts_two_files_that_fit_the_disk_one_at_a_time_do_not_both_start():
    """The host's own files are held to the disk's room alone (no --max-file-mb), and that room
    was read as if nothing were on its way: the teacher's two videos, each 60% of what the disk
    had free, both started, and the second stopped half-way on a full disk (the history, on the
    same disk, could save nothing meanwhile). The bytes still to come of the uploads under way
    are counted as taken: the second is refused before a byte moves, in one line saying why."""
    from test_files_abuse import offer, setting

    with small_disk("1m") as disk:
        room, files, _clock, cid = setting(disk, ("hal", "local"), ("ann", "192.168.1.10"))
        try:
            part = shutil.disk_usage(disk).free * 6 // 10
            assert isinstance(offer(files, room, cid["hal"], part), ev.UploadReady)
            refused = offer(files, room, cid["hal"], part, ref=2)
            assert isinstance(refused, ev.FileError), refused
            assert re.fullmatch(r"refused: the server has room for [\d.]+ KiB besides the [\d.]+ KiB still on their way to it, "
                                r"and the file is [\d.]+ KiB", refused.message), refused.message  # fmt: skip
            assert isinstance(offer(files, room, cid["ann"], 4096, ref=3), ev.UploadReady)  # what still fits, fits
        finally:
            files.close()


def test_a_file_a_byte_over_the_disks_room_is_refused_in_words_that_do_not_contradict_themselves():
    """The teacher's own video, held only to the disk's room, a few bytes over it: `! refused:
    the server has room for 2.8 MiB, and the file is 2.8 MiB`, which reads as a fault. As the
    size cap's refusal does, each size says its bytes when both round to the same."""
    from test_files_abuse import offer, setting

    with small_disk("1m") as disk:
        room, files, _clock, cid = setting(disk, ("hal", "local"))
        try:
            free = shutil.disk_usage(disk).free
            refused = offer(files, room, cid["hal"], free + 1)
            assert isinstance(refused, ev.FileError), refused
            assert refused.message == (
                f"refused: the server has room for {human_size(free)} ({free:,} bytes), "
                f"and the file is {human_size(free + 1)} ({free + 1:,} bytes)"
            )
        finally:
            files.close()


def test_a_journal_of_500_rows_sqlite_cannot_take_refuses_each_message_clearly_and_recovers_at_once():
    """The journal holds its MOVE_ROWS (500) messages and the disk fills up: SQLite cannot take
    them, and the journal takes no more (its bound keeps what each read reloads small), so each
    further message is refused to its sender and reaches nobody (stored before anyone receives
    it). That is right; the refusal said only "the history cannot be written", which a student
    cannot act on: it now says the server's disk is full and that nobody got it. Once there is
    room, the very next message is stored with the 500 and delivered: no restart."""
    with small_disk() as disk:
        store = HistoryStore(disk / "chat.sqlite3", move_seconds=3600)  # moved by its size only
        try:
            for i in range(store.move_rows - 1):  # as passes of one message each leave them
                store.keep(time=time.time(), sender="ann", text=f"before {i}")
                store.commit()
            assert store.journal is not None and len(store.journal.rows) == store.move_rows - 1
            with running_server(history=store) as (_server, endpoint):
                ann = RawClient(endpoint, "ann")
                bob = RawClient(endpoint, "bob")
                ann.expect(ev.Joined, name="bob")
                filler = fill_disk(disk)
                for i in range(3):
                    ann.send(ev.Say(text=f"while full {i}"))
                    assert ann.expect(ev.Error, code=ev.E_HISTORY).message == (
                        f"not sent: 'while full {i}': the server's disk is full, so the history cannot save it "
                        "(nobody got it); try again in a moment"
                    )
                assert not [e for e in bob.drain(0.3) if isinstance(e, ev.Message) and not e.history]
                filler.unlink()
                ann.send(ev.Say(text="with room again"))
                bob.expect(ev.Message, text="with room again")
                ann.expect(ev.Message, text="with room again")
        finally:
            store.close()
        reader = HistoryStore(disk / "chat.sqlite3", create=False)
        try:
            texts = [record.text for record in reader.export()]
        finally:
            reader.close()
        assert len(texts) == store.move_rows and texts[-2:] == [f"before {store.move_rows - 2}", "with room again"]


def test_a_name_claimed_while_the_disk_is_full_is_said_to_hold_only_until_the_server_stops():
    """A key joining under a name nobody owns owns it from then on, across restarts (the history
    keeps it: PROTOCOL.md, Identity). On a full disk the claim held for this run and a restart
    freed the name for anyone, without a word to its owner (the host heard "history: cannot use"
    at most). Now the owner is told, after the welcome, as for a ban or mute not saved."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with small_disk() as disk:
        store = HistoryStore(disk / "chat.sqlite3")
        try:
            with running_server(history=store) as (_server, endpoint):
                RawClient(endpoint, "bob")  # (a room with someone in it: the join is a usual one)
                fill_disk(disk)
                ann = RawClient(endpoint, "ann", key=Ed25519PrivateKey.generate())
                told = ann.expect(ev.Error, code=ev.E_HISTORY)
                assert told.message == ("your key owns the name ann, but that is not saved yet: the history cannot be "
                                        "written; it is saved as soon as it can be, and a restart before then frees the "
                                        "name for anyone")  # fmt: skip
                assert not told.fatal
                ann.send(ev.Say(text="hi"))  # (refused too: the disk is full; the chat goes on)
                ann.expect(ev.Error, code=ev.E_HISTORY)
        finally:
            store.close()
        reader = HistoryStore(disk / "chat.sqlite3", create=False)
        try:
            assert reader.owners() == {}  # not saved: as said
        finally:
            reader.close()


def test_serve_tls_making_its_certificate_with_its_log_on_a_full_disk_runs_without_a_traceback(tmp_path):
    """`serve --headless --tls > server.log` on a full disk, its first start (a certificate made
    elsewhere): the line saying so was a print, and the full disk made it a traceback before
    the room opened. It goes the log's way: said once on stderr, and the room runs."""
    (tmp_path / "tls").mkdir()
    with small_disk("64k") as disk:
        fill_disk(disk)
        errors = tmp_path / "stderr.txt"
        with open(disk / "server.log", "a") as out, open(errors, "w") as err:
            server = subprocess.Popen([sys.executable, "-m", "lanchat", "serve", "--port", "0", "--host", "127.0.0.1",
                                       "--headless", "--no-history", "--tls", "--tls-dir", str(tmp_path / "tls")],
                                      stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env(), cwd=ROOT)  # fmt: skip
        try:
            wait_for(lambda: "the room goes on" in errors.read_text() or server.poll() is not None, what="the note")
            assert server.poll() is None, errors.read_text()
        finally:
            server.terminate()
            server.wait(10)
    assert errors.read_text() == ("lanchat: the log's output cannot be written (no space left on device); the room goes "
                                  "on, and the log says how many lines it missed once it can be written again\n")  # fmt: skip


@pytest.mark.parametrize("room_returns", ["a message is said", "the server stops"])
def test_a_ban_made_while_the_disk_is_full_is_saved_once_there_is_room_and_holds_after_a_restart(room_returns):
    """A ban made on a full disk was said to hold only until the server stops, and was never
    saved later: once the disk had room again, a restart (the teacher's laptop) still let the
    banned student back in. Now it waits, in order, and is saved as soon as the history can be
    written (the first message stored, or the server's stop at the latest); the teacher is told
    once it is. From the banned side: bob comes back after the restart and is refused."""
    with small_disk() as disk:
        with bob_and_another_in_a_room_on(disk, lambda server, _endpoint: local_host(server, "teach")) as (host, bob):
            filler = fill_disk(disk)
            host.send(ev.Moderate(action="ban", name="bob", reason="spam"))
            bob.expect_closed()
            while "the ban on bob is not saved yet" not in host.expect(ev.Error, code=ev.E_HISTORY).message:
                pass  # (the host's warning that the history cannot be used comes first)
            filler.unlink()
            if room_returns == "a message is said":
                host.send(ev.Say(text="room again"))
                saved = host.expect(ev.Notice, code=ev.E_HISTORY)  # good news: not an error (it was one)
                assert saved.message == "saved now: the ban on bob holds after a restart too"
                host.expect(ev.Message, text="room again")
                shown = io.StringIO()  # as the teacher's client shows it: a notice line, not an error's "!"
                PlainFrontend(Session(name="teach"), stdin_fd=0, stdout=shown, interactive=False).show(Session(name="teach").on_event(saved))
                assert shown.getvalue().split("] ", 1)[1] == f"{NOTICE_MARK} saved now: the ban on bob holds after a restart too\n"
        store = HistoryStore(disk / "chat.sqlite3")
        try:
            assert [ban.name for ban in store.bans()] == ["bob"]
            with running_server(history=store) as (_server, endpoint):
                bob = RawClient(endpoint)
                bob.hello("bob")
                refused = bob.expect(ev.Error)
                assert (refused.code, refused.fatal) == (ev.E_BANNED, True)
                bob.expect_closed()
        finally:
            store.close()


class FillingStore:
    """A store whose writes fail while ``full`` (as history.py says it: HistoryWriteError) and
    otherwise are listed in order, for HistoryPolicy.change without a disk."""

    writable = True
    errors = (HistoryWriteError,)
    path = Path("chat.sqlite3")
    full = False

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, what: str) -> None:
        if self.full:
            raise HistoryWriteError("database or disk is full")
        self.written.append(what)

    def file_gone(self) -> bool:  # (HistoryStore's: its file deleted while the room runs)
        return False

    def move_deadline(self) -> None:
        return None


def test_changes_not_saved_wait_in_order_and_are_saved_when_their_retry_is_due_in_a_quiet_room():
    """No message is said after the disk has room again (a quiet room): the waiting changes are
    tried RETRY_SECONDS later, not at every pass, in the order they were made; a setting changed
    twice while waiting is saved once, its last value; whoever was told hears it once."""
    now = [0.0]
    store = FillingStore()
    said: list[str] = []
    policy = HistoryPolicy(store, clock=lambda: now[0], log=said.append)  # type: ignore[arg-type]
    told: list[list[int | None]] = []
    policy.on_saved = lambda saved: told.append([entry.told for entry in saved])
    store.full = True
    assert not policy.change(lambda s: s.write("ban bob"), told=7, saved_note="the ban on bob holds after a restart too")
    assert not policy.change(lambda s: s.write("topic one"), slot="topic")
    assert not policy.change(lambda s: s.write("unban bob"))
    assert not policy.change(lambda s: s.write("topic two"), slot="topic")
    store.full = False
    assert policy.next_move() == history_policy.RETRY_SECONDS  # the loop wakes for it, no sooner
    now[0] = history_policy.RETRY_SECONDS - 0.1
    policy.move_due()
    assert store.written == []
    now[0] = history_policy.RETRY_SECONDS
    policy.move_due()
    assert store.written == ["ban bob", "unban bob", "topic two"]
    assert told == [[7, None, None]] and policy.next_move() is None
    assert said[-1] == "history: saved 3 changes made while it could not be written"
    assert policy.change(lambda s: s.write("mute carl"))  # nothing waits: saved at once
    assert store.written[-1] == "mute carl" and told == [[7, None, None]]


def test_an_unban_not_saved_when_the_server_stops_is_logged_as_undone_by_the_restart():
    """A teacher lifts a ban on a full disk and stops the room: the log said the next run "starts
    without" the unsaved changes, which reads as no ban; but the ban saved earlier is back."""
    store = FillingStore()
    said: list[str] = []
    policy = HistoryPolicy(store, clock=lambda: 0.0, log=said.append)  # type: ignore[arg-type]
    store.full = True
    assert not policy.change(lambda s: s.write("unban bob"))
    policy.stopping()
    assert said[-1] == ("history: 1 change (bans, mutes, names' owners, operators, the topic) could not be saved before the "
                        "server stopped; the next run starts from what was saved before it: a ban or mute lifted "
                        "meanwhile is back, one made meanwhile is gone")  # fmt: skip

def test_a_name_released_while_the_disk_is_full_is_said_to_the_host_and_saved_once_there_is_room():
    """/release of a name whose owner lost their key, on a full disk: the name was free for this
    run, and a restart gave it back to the lost key without a word to anyone (a claim, a ban and
    a mute that cannot be saved are said). Now the host is told it waits, and once it is saved."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import identity

    with small_disk() as disk:
        store = HistoryStore(disk / "chat.sqlite3")
        try:
            store.claim("ann", identity.public_bytes(Ed25519PrivateKey.generate()))  # the key ann lost
            with running_server(history=store) as (server, endpoint):
                host = local_host(server, "teach")
                filler = fill_disk(disk)
                host.send(ev.Release(name="ann"))
                assert host.expect(ev.Released).owned
                while "the name ann is free" not in (told := host.expect(ev.Error, code=ev.E_HISTORY).message):
                    pass  # (the host's warning that the history cannot be used comes first)
                assert told == ("the name ann is free, but that is not saved yet: the history cannot be written; it is "
                                "saved as soon as it can be, and a restart before then gives it back to the key that owned it")  # fmt: skip
                filler.unlink()
                host.send(ev.Say(text="room again"))
                assert host.expect(ev.Notice, code=ev.E_HISTORY).message == "saved now: the name ann stays free after a restart too"
        finally:
            store.close()
        reader = HistoryStore(disk / "chat.sqlite3", create=False)
        try:
            assert reader.owners() == {}
        finally:
            reader.close()


def test_a_ban_in_a_room_whose_history_was_read_only_from_the_start_is_said_to_hold_until_the_server_stops():
    """A history read-only when the server started is an archive: nothing new is ever saved. A
    ban there is not "saved as soon as it can be" (nor tried every few seconds): its maker is told
    it holds until the server stops, as before changes waited to be saved."""
    with small_disk() as disk:
        HistoryStore(disk / "chat.sqlite3").close()
        remount(disk, "ro")
        store = HistoryStore(disk / "chat.sqlite3")
        try:
            assert not store.writable
            with running_server(history=store) as (server, endpoint):
                host = local_host(server, "teach")
                bob = RawClient(endpoint, "bob")
                host.expect(ev.Joined, name="bob")
                host.send(ev.Moderate(action="ban", name="bob", reason="spam"))
                bob.expect_closed()
                while "the ban on bob" not in (told := host.expect(ev.Error, code=ev.E_HISTORY).message):
                    pass
                assert told == "the ban on bob holds only until the server stops: the history file is read-only, so a restart lifts it"
                assert not server.hub.history.unsaved
        finally:
            store.close()


def test_history_prune_on_a_full_disk_says_the_disk_is_full_and_what_to_do():
    """A teacher whose laptop filled up runs `history prune` to make room: dropping writes too
    (SQLite's WAL), so it fails; the line says the disk is full and that a few MB free lets it run."""
    with small_disk("2m") as disk:
        store = HistoryStore(disk / "chat.sqlite3")
        try:
            for i in range(800):
                store.keep(time=1e9 + i, sender="ann", text="x" * 1000)
            store.commit()
            store.count()  # moved into SQLite
        finally:
            store.close()
        fill_disk(disk)
        done = subprocess.run([sys.executable, "-m", "lanchat", "history", "prune", str(disk / "chat.sqlite3"), "--keep-days", "1"],
                              capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=30)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("the disk is full, and dropping messages needs a little room to write: free a few MB "
                                        "(another file on that disk) and run it again; nothing was dropped")  # fmt: skip


def _twelve_thousand_kept(db: Path, *, drop_half: bool) -> tuple[int, int]:
    """A history of 12,000 messages of 400 bytes (the older half dropped if ``drop_half``): the
    file's size and what it holds (HistoryStore.file_sizes)."""
    store = HistoryStore(db)
    try:
        for i in range(12_000):
            store.keep(time=1e9 + i, sender="ann", text=f"{i} " + "x" * 400)
        store.commit()
        if drop_half:
            store.drop_oldest(before=1e9 + 6000, rows=6000)
        return store.file_sizes()
    finally:
        store.close()


def test_history_compact_with_too_little_room_for_its_copy_says_how_much_it_needs_and_leaves_the_file():
    """Compacting writes what the file holds once more before giving the rest back: on a disk
    with less free than that it is refused before it starts, with how much it needs and has
    (without the check, SQLite's VACUUM failed halfway as "the disk filled up"), and the file is
    as it was; a VACUUM run all the same (a disk filled after the check) fails whole, the file
    sound and every message there; with the room freed, it runs."""
    with small_disk("16m") as disk:
        db = disk / "chat.sqlite3"
        size, held = _twelve_thousand_kept(db, drop_half=True)
        filler = fill_disk(disk, leave=held // 2 + (1 << 16))  # (not a round figure: the -shm compact makes takes 32 KiB of it)
        before, free = db.read_bytes(), shutil.disk_usage(disk).free
        lanchat = lambda *args: subprocess.run([sys.executable, "-m", "lanchat", "history", *args], capture_output=True,  # noqa: E731
                                               text=True, env=child_env(), cwd=ROOT, timeout=30)  # fmt: skip
        refused = lanchat("compact", str(db))
        assert refused.returncode == 1 and refused.stdout == "" and db.read_bytes() == before
        assert refused.stderr == (
            f"lanchat: not enough free disk space to compact chat.sqlite3: that needs about "
            f"{human_size(compact_room_needed(held))} free for a moment (a copy of the {human_size(held)} it holds), and "
            f"the disk it is on has {human_size(free)} free; chat.sqlite3 was left as it was: free some space there and "
            f"run 'lanchat history compact {db}'\n"
        )
        store = HistoryStore(db)  # past the check (a disk filled after it): VACUUM fails, all or nothing
        try:
            with pytest.raises(HistoryWriteError) as failed:
                store.compact()
            assert failed.value.disk_full and os.path.getsize(db) == size
            assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok" and store.count() == 6000
        finally:
            store.close()
        filler.unlink()
        done = lanchat("compact", str(db))
        after = os.path.getsize(db)  # what it held, or less: VACUUM packs the indexes' pages too
        assert done.returncode == 0 and done.stdout == f"lanchat: chat.sqlite3: {human_size(size)} -> {human_size(after)}\n"
        assert after <= held


def test_history_prune_whose_compacting_has_no_room_says_the_drops_are_done_and_the_file_keeps_its_size():
    """`history prune` drops, then compacts; with no room for the copy the compacting is refused,
    but the drops are done (and said): the refusal must not say the file was left as it was."""
    with small_disk("16m") as disk:
        db = disk / "chat.sqlite3"
        size, held = _twelve_thousand_kept(db, drop_half=False)
        fill_disk(disk, leave=held * 2 // 3)  # room for the drops (in the WAL), not for a copy of the half kept
        pruned = subprocess.run([sys.executable, "-m", "lanchat", "history", "prune", str(db), "--before", "2001-09-09T03:26:40"],
                                capture_output=True, text=True, env=child_env(TZ="UTC"), cwd=ROOT, timeout=30)  # fmt: skip
        assert pruned.returncode == 1 and "Traceback" not in pruned.stderr, pruned.stderr
        assert "dropped 6,000 messages (room and direct)" in pruned.stdout and os.path.getsize(db) == size
        assert "not enough free disk space to compact chat.sqlite3" in pruned.stderr
        assert "left as it was" not in pruned.stderr
        assert pruned.stderr.rstrip().endswith(
            f"the drops are done, but chat.sqlite3 keeps its size ({human_size(size)}): free some space there and run "
            f"'lanchat history compact {db}'"
        )
        store = HistoryStore(db)
        try:
            assert store.count() == 6000
        finally:
            store.close()


def test_a_commands_output_to_a_full_disk_or_a_reader_gone_is_one_line_never_a_traceback(tmp_path):
    """`lanchat key > key.txt`, `names list > names.txt` or `history prune ... > log.txt` on a full
    disk ended in a Python traceback (OSError: No space left on device), as did `lanchat doctor |
    head -3` or `lanchat key | true` (BrokenPipeError) once the reader had gone. Now a full disk is
    one line on stderr, exit 1, and a reader gone is left in peace, the command's own exit status."""
    history = tmp_path / "room.sqlite3"
    store = HistoryStore(history)
    store.append(time=time.time() - 10 * 86400, sender="ann", text="old")
    store.claim("bob", bytes(32), time=time.time())
    store.close()
    key = tmp_path / "me.key"
    commands = {
        "key": ("key", "--identity", str(key)),
        "names list": ("names", "list", str(history)),
        "history prune": ("history", "prune", "--keep-days", "3", "--no-compact", str(history)),
    }

    def run(args: tuple[str, ...], stdout: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lanchat", *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                              env=child_env(), cwd=ROOT, timeout=60)  # fmt: skip

    with small_disk() as disk:
        fill_disk(disk)
        for what, args in commands.items():
            with open(disk / "out.txt", "w") as out:
                result = run(args, out)
            assert result.returncode == 1 and "Traceback" not in result.stderr, (what, result.stderr)
            assert result.stderr.splitlines()[-1] == (
                "lanchat: cannot write the output (no space left on device); what was written stops short"
            ), (what, result.stderr)
    left = HistoryStore(history, create=False)
    assert [record.text for record in left.export()] == []  # (the prune was done)
    left.close()
    for what, args in commands.items():
        reader, writer = os.pipe()
        os.close(reader)  # the reader gone before a byte was written
        try:
            result = run(args, writer)
        finally:
            os.close(writer)
        assert (result.returncode, result.stderr) == (0, ""), (what, result.stderr)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_help_and_version_to_a_full_disk_is_one_line_and_exit_1():
    """`lanchat --help > /dev/full` exited 0 and said nothing (argparse drops a failed write; the
    commands' writer did not cover it): the help a student meant to save was silently lost. Now
    one line on stderr, exit 1; and a reader gone (`lanchat --help | true`) is left in peace."""
    for args in (("--help",), ("serve", "--help"), ("history", "prune", "--help"), ("--version",)):
        with open("/dev/full", "w") as full:
            result = subprocess.run([sys.executable, "-m", "lanchat", *args], stdout=full, stderr=subprocess.PIPE, text=True,
                                    env=child_env(), cwd=ROOT, timeout=60)  # fmt: skip
        assert result.returncode == 1, (args, result.returncode, result.stderr)
        assert result.stderr == "lanchat: cannot write the output (no space left on device); what was written stops short\n", args
        reader, writer = os.pipe()
        os.close(reader)
        try:
            gone = subprocess.run([sys.executable, "-m", "lanchat", *args], stdout=writer, stderr=subprocess.PIPE, text=True,
                                  env=child_env(), cwd=ROOT, timeout=60)  # fmt: skip
        finally:
            os.close(writer)
        assert (gone.returncode, gone.stderr) == (0, ""), (args, gone.stderr)
