"""File sharing as a user does it: real lanchat processes in plain mode, real files, loopback.

ann hosts (``serve``), bob and cat join (``connect``); they type /send, /files and /get and
read the notices. Every download is compared byte for byte with what was sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path

import pytest
from file_requests import sans_req
from helpers import DEFAULT_TIMEOUT, Proc, RawClient, StandInServer, TermProc, start_server, wait_for

from lanchat import events as ev
from lanchat.files import MB, path_as_typed
from lanchat.transport import Endpoint

pytestmark = pytest.mark.timeout(120)


class Room:
    """A host called ann and whoever joins, each with a downloads folder of their own."""

    def __init__(self, tmp: Path, *serve_args: str) -> None:
        self.tmp = tmp
        self.files_dir = tmp / "server-files"
        self.procs: list[Proc] = []
        self.ann, self.port = start_server(
            "--name", "ann", "--no-history", "--files-dir", str(self.files_dir),
            "--downloads", str(self.downloads("ann")), *serve_args,
        )  # fmt: skip
        self.procs.append(self.ann)
        self.ann.expect(r"welcome, ann")

    def downloads(self, name: str) -> Path:
        folder = self.tmp / f"{name}-downloads"
        folder.mkdir(exist_ok=True)
        return folder

    def join(self, name: str) -> Proc:
        proc = Proc("connect", "127.0.0.1", str(self.port), "--name", name, "--downloads", str(self.downloads(name)))
        self.procs.append(proc)
        proc.expect(rf"welcome, {name}")
        return proc

    def stored(self) -> list[Path]:
        if not self.files_dir.exists():
            return []
        return [p for p in self.files_dir.rglob("*") if p.is_file() and not p.name.endswith(".in-use")]  # not the run's lock

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


@pytest.fixture
def make_room(tmp_path):
    rooms: list[Room] = []

    def make(*serve_args: str) -> Room:
        room = Room(tmp_path, *serve_args)
        rooms.append(room)
        return room

    yield make
    for room in rooms:
        room.close()


def offer_id(proc: Proc, sender: str, name: str, start: int = 0) -> str:
    match = proc.expect(
        rf"-!- {sender} offers (?:you )?{re.escape(name)} \(.*\); type /get (\d+) to download it", start=start
    )
    return match.group(1)


def test_files_of_several_sizes_up_to_the_limit_arrive_byte_for_byte(make_room, tmp_path):
    room = make_room("--max-file-mb", "2")
    bob = room.join("bob")
    sizes = {"empty.txt": 0, "one.bin": 1, "small.bin": 100_000, "limit.bin": 2 * MB}
    for name, size in sizes.items():
        source = tmp_path / name
        source.write_bytes(os.urandom(size))
        mark = bob.mark()
        room.ann.send(f"/send {source}")
        file_id = offer_id(bob, "ann", name, start=mark)
        room.ann.expect(rf"your file {re.escape(name)} .* is on offer to the room as #{file_id}")
        bob.send(f"/get {file_id}")
        saved = room.downloads("bob") / name
        bob.expect(rf"saved {re.escape(str(saved))} \(.*SHA-256 checked\)", start=mark)
        assert saved.read_bytes() == source.read_bytes()
    # (the big one's quarters are said only once it has run a second: test_a_quick_download_...)
    bob.send("/files")
    bob.expect(r"files on offer \(4\):")
    bob.expect(rf"#\d+ limit\.bin 2\.0 MiB from ann: saved as {re.escape(path_as_typed(str(room.downloads('bob') / 'limit.bin')))}")  # (not "/get": he has it)
    assert sorted(os.listdir(room.downloads("bob"))) == sorted(sizes)  # nothing else, no temp files


def test_chat_flows_while_a_large_file_moves(make_room, tmp_path):
    room = make_room("--max-file-mb", "30")
    bob, cat = room.join("bob"), room.join("cat")
    source = tmp_path / "video.bin"
    source.write_bytes(os.urandom(30 * MB))
    room.ann.send(f"/send {source}")
    room.ann.send("uploading now")
    cat.expect(r"ann: uploading now$")
    file_id = offer_id(bob, "ann", "video.bin")
    bob.send(f"/get {file_id}")
    bob.expect(r"receiving video\.bin \(30\.0 MiB\)")
    cat.send("can you all still hear me?")
    room.ann.expect(r"cat: can you all still hear me\?$")
    bob.expect(r"cat: can you all still hear me\?$")
    bob.expect(r"saved .*video\.bin", timeout=60)
    assert (room.downloads("bob") / "video.bin").read_bytes() == source.read_bytes()


def test_an_over_limit_file_is_refused_before_any_bytes_move(make_room, tmp_path):
    """A student's: the cap is the host's on the room's guests (not on the host's own files)."""
    room = make_room("--max-file-mb", "1")
    bob = room.join("bob")
    source = tmp_path / "big.iso"
    source.write_bytes(b"\0" * (MB + 1))
    bob.send(f"/send {source}")
    bob.expect(r"! refused: big\.iso is 1\.0 MiB \(1,048,577 bytes\); this server takes files up to 1\.0 MiB \(1,048,576 bytes\)")
    bob.send("still here")
    room.ann.expect(r"bob: still here$")
    assert "bob offers" not in room.ann.output and "big.iso" not in room.ann.output
    assert room.stored() == []


def test_the_teachers_own_file_over_the_rooms_cap_goes_to_the_class_from_the_projector(tmp_path):
    """At a 64x18 projector the teacher's `/send lecture.mp4` (2 MiB, the room's cap 1 MiB: as a
    190 MiB video under the default 50) read `! refused: ... this server takes files up to 1.0 MiB`,
    the cap of the teacher's own `serve`: sending it meant stopping the lesson. The host's own
    file is offered now, and arrives whole."""
    source = tmp_path / "lecture.mp4"
    source.write_bytes(os.urandom(2 * MB))
    teacher = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "teacher", "--projector", "--no-history",
                       "--no-announce", "--max-file-mb", "1", "--files-dir", str(tmp_path / "files"), rows=18, cols=64)
    ann = None
    try:
        port = teacher.expect(r"listening on port (\d+)").group(1)
        downloads = tmp_path / "ann-downloads"
        downloads.mkdir()
        ann = Proc("connect", "127.0.0.1", port, "--name", "ann", "--downloads", str(downloads))
        ann.expect(r"welcome, ann")
        teacher.send(f"/send {source}\r")
        teacher.expect(r"your file lecture\.mp4 \(2\.0 MiB\) is on offer")
        file_id = offer_id(ann, "teacher", "lecture.mp4")
        ann.send(f"/get {file_id}")
        ann.expect(r"saved .*lecture\.mp4 \(.*SHA-256 checked\)", timeout=30)
        assert (downloads / "lecture.mp4").read_bytes() == source.read_bytes()
        assert "refused" not in teacher.text
    finally:
        if ann is not None:
            ann.stop()
        teacher.stop()


def test_a_download_never_overwrites_an_existing_file(make_room, tmp_path):
    room = make_room()
    bob = room.join("bob")
    (room.downloads("bob") / "report.txt").write_text("bob's own report")
    source = tmp_path / "report.txt"
    source.write_text("ann's report")
    room.ann.send(f"/send {source}")
    file_id = offer_id(bob, "ann", "report.txt")
    bob.send(f"/get {file_id}")
    bob.expect(r"saved '.*report \(1\)\.txt' ")  # quoted: the name is one, spaces and all
    folder = room.downloads("bob")
    (folder / "report (1).txt").rename(folder / "report (2).txt")  # (still there, a /get says where and fetches nothing)
    mark = bob.mark()
    bob.send(f"/get {file_id}")
    bob.expect(r"saved '.*report \(1\)\.txt' ", start=mark)
    assert (folder / "report.txt").read_text() == "bob's own report"
    assert (folder / "report (1).txt").read_text() == (folder / "report (2).txt").read_text() == "ann's report"


def test_hostile_names_are_cleaned_on_both_sides(make_room, tmp_path):
    room = make_room()
    bob = room.join("bob")
    hostile = {".bashrc": "bashrc", "nul.txt": "_nul.txt", "x\x1b]0;owned\x07.txt": "x]0;owned.txt"}
    for on_disk, cleaned in hostile.items():
        source = tmp_path / on_disk
        source.write_bytes(on_disk.encode())
        room.ann.send(f'/send "{source}"')
        file_id = offer_id(bob, "ann", cleaned)
        bob.send(f"/get {file_id}")
        bob.expect(rf"saved {re.escape(path_as_typed(str(room.downloads('bob') / cleaned)))} ")  # x]0;owned.txt quoted
        assert (room.downloads("bob") / cleaned).read_bytes() == on_disk.encode()
    assert "\x1b" not in bob.output
    assert all(p.name.endswith(".upload") for p in room.stored())  # the server's own names


def test_a_private_offer_reaches_only_its_recipient(make_room, tmp_path):
    room = make_room()
    bob, cat = room.join("bob"), room.join("cat")
    source = tmp_path / "secret.txt"
    source.write_text("for bob")
    room.ann.send(f"/send {source} bob")
    file_id = offer_id(bob, "ann", "secret.txt")
    assert "ann offers you secret.txt" in bob.output
    room.ann.expect(rf"your file secret\.txt .* is on offer to bob as #{file_id}")
    cat.send(f"/get {file_id}")
    cat.expect(rf"! no file #{file_id} is on offer")
    cat.send("/files")
    cat.expect(r"no files are on offer")
    assert "secret" not in cat.output
    # the offerer's /files said "fetched by 0" of it, as if the room had been asked: it speaks of bob
    mark = room.ann.mark()
    room.ann.send("/files")
    room.ann.expect(rf"-!- +#{file_id} secret\.txt .* from you \(only for bob, not fetched yet\)$", start=mark)
    bob.send(f"/get {file_id}")
    bob.expect(r"saved .*secret\.txt .*SHA-256 checked")
    room.ann.expect(r"your file secret\.txt \(#\d+\): fetched by bob$")
    mark = room.ann.mark()
    room.ann.send("/files")
    room.ann.expect(rf"-!- +#{file_id} secret\.txt .* from you \(only for bob, who has it\)$", start=mark)
    room.ann.send("/q")  # (what /files said, whole: no line under it, as a file for the room has)
    assert room.ann.wait() == 0
    assert "fetched by 0" not in room.ann.output and "bob has" not in room.ann.output, room.ann.output


def test_mistakes_are_one_clear_line_and_nobody_else_notices(make_room, tmp_path):
    room = make_room()
    bob = room.join("bob")
    bob.send("/get 99")
    bob.expect(r"! no file #99 is on offer \(/files lists them\)$")
    room.ann.send(f"/send {tmp_path / 'missing.txt'}")
    room.ann.expect(rf"! cannot send {re.escape(str(tmp_path / 'missing.txt'))}: no such file$")
    room.ann.send(f"/send {tmp_path}")
    room.ann.expect(r"! cannot send .*: it is a folder; /send takes one file$")
    room.ann.send("/send")
    room.ann.expect(r"! usage: /send PATH \[NAME\]")
    room.ann.send("/send my notes.txt")
    room.ann.expect(r'! cannot send my: no such file \(for a name with a space, use quotes: /send "my notes.txt"\)$')
    source = tmp_path / "a.txt"
    source.write_text("a")
    room.ann.send(f"/send {source} nobody")
    room.ann.expect(r"! nobody called 'nobody' is here to send a file to$")
    room.ann.send("all good")
    bob.expect(r"ann: all good$")
    assert not [line for line in bob.lines if "] ! " in line and "no file #99" not in line]  # no error line but his
    assert not [line for line in bob.lines + room.ann.lines if "Traceback" in line]


def test_a_file_the_system_makes_as_it_is_read_is_refused_and_an_empty_file_still_goes(make_room, tmp_path):
    """A sockets lesson: the teacher typed /send /proc/net/tcp to show the class its own
    connections. The file says it holds 0 bytes (the system makes it as it is read), so the room
    was offered an empty tcp, 'SHA-256 checked', and a student's /get saved nothing. Now it is
    refused with what to do; a file that really is empty is offered as before."""
    if not os.path.isfile("/proc/net/tcp"):
        pytest.skip("no /proc/net/tcp here (Linux's)")
    room = make_room()
    bob = room.join("bob")
    room.ann.send("/send /proc/net/tcp")
    room.ann.expect(r"! cannot send /proc/net/tcp: it says it is empty, but the system makes it as it is read "
                    r"\(as /proc's files are\): copy it to a file first and /send that$")  # fmt: skip
    empty = tmp_path / "blank.txt"
    empty.write_bytes(b"")
    room.ann.send(f"/send {empty}")
    file_id = offer_id(bob, "ann", "blank.txt")
    assert not [line for line in bob.lines if "tcp" in line]
    bob.send(f"/get {file_id}")
    bob.expect(r"saved .*blank\.txt")
    assert (room.downloads("bob") / "blank.txt").read_bytes() == b""


def partial_uploads(files_dir: Path) -> list[Path]:
    """The server's uploads under way that hold some bytes (one may finish as it is looked at)."""
    found = []
    for path in files_dir.rglob("*.upload"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size:
                found.append(path)
    return found


def test_a_sender_who_vanishes_midway_leaves_no_offer_and_no_stored_bytes(tmp_path):
    files_dir = tmp_path / "server-files"
    server, port = start_server("--headless", "--no-history", "--files-dir", str(files_dir))
    ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
    bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob", "--downloads", str(tmp_path))
    try:
        ann.expect("welcome, ann")
        bob.expect("welcome, bob")
        source = tmp_path / "huge.bin"
        source.write_bytes(os.urandom(48 * MB))
        ann.send(f"/send {source}")
        ann.expect(r"sending huge\.bin \(48\.0 MiB\) as #1")
        # (the whole goes up in well under a second, too soon for a progress line: once the server
        # has some of it, freeze ann's client mid-upload...)
        wait_for(lambda: partial_uploads(files_dir), what="the upload to be under way")
        os.kill(ann.popen.pid, signal.SIGSTOP)  # our own child: freeze it mid-upload...
        # the server has part of it (the chunks already in flight still arrive)
        stored = wait_for(lambda: partial_uploads(files_dir), what="a partial upload")
        assert stored[0].stat().st_size < 48 * MB
        ann.popen.kill()  # ...then it vanishes without a word
        ann.wait()
        bob.expect(r"ann lost connection")
        wait_for(lambda: not list(files_dir.rglob("*.upload")), what="the partial upload to be deleted")
        bob.send("/files")
        bob.expect(r"no files are on offer")
        bob.send("/get 1")
        bob.expect(r"! no file #1 is on offer")
        assert "ann offers" not in bob.output
    finally:
        for proc in (ann, bob, server):
            proc.stop()


# The half is here: --plain says so once no byte has come for files.STALLED_AFTER_SECONDS (the
# half comes at once, and a quarter passed in a download's first second is not said).
HALF_HERE = r"#\d+ half\.bin: stalled at 50%"


def half_a_file(half: bytes, *, then_drop: bool) -> StandInServer:
    """A stand-in server that answers /get with the first half of a file and sends no more;
    it drops the connection at once (``then_drop``) or listens on until the client goes."""

    def on_event(server: StandInServer, event: object) -> bool:
        if not isinstance(event, ev.GetFile):
            return False
        start = ev.FileStart(id=event.id, name="half.bin", size=2 * len(half), sha256="0" * 64)
        server.send(start, ev.FileBytes(id=event.id, data=half))
        return then_drop

    return StandInServer(on_event)


def bob_fetching_half_a_file(tmp_path: Path, *, then_drop: bool) -> tuple[StandInServer, Proc, Path]:
    """bob, joined to a half_a_file server, has typed /get 5 and is receiving half.bin."""
    server = half_a_file(b"x" * (30 * 1024), then_drop=then_drop)
    downloads = tmp_path / "dl"
    downloads.mkdir()
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--downloads", str(downloads), "--no-reconnect")
    bob.expect("welcome, bob")
    bob.send("/get 5")
    bob.expect(r"receiving half\.bin \(60\.0 KiB\)")
    return server, bob, downloads


def test_a_quick_download_says_no_quarter_only_that_it_is_saved(tmp_path):
    """--plain printed 'receiving big.bin: 25%', 50% and 75% for a 3 MB download over the LAN
    that took 52 ms, three lines just before its 'saved' line. A quarter is said only once a
    download has run a second (files.SAY_PROGRESS_AFTER_SECONDS). A stand-in server sends the
    whole file in one write, as a fast LAN does; the 'saved' line says how long it took."""
    data = os.urandom(3 * MB)

    def on_event(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.GetFile):
            start = ev.FileStart(id=event.id, name="big.bin", size=len(data), sha256=hashlib.sha256(data).hexdigest())
            pieces = [ev.FileBytes(id=event.id, data=data[at : at + 60 * 1024]) for at in range(0, len(data), 60 * 1024)]
            server.send(start, *pieces)

    server = StandInServer(on_event)
    downloads = tmp_path / "dl"
    downloads.mkdir()
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--plain", "--downloads", str(downloads), "--no-reconnect")
    try:
        bob.expect("welcome, bob")
        bob.send("/get 5")
        took = bob.expect(r"saved .*big\.bin \(3\.0 MiB in (\d+ ms|[\d.]+ s)").group(1)
        assert (downloads / "big.bin").read_bytes() == data
        quarters = [line for line in bob.lines if re.search(r"receiving big\.bin: \d+%", line)]
        if not took.endswith(" ms"):  # a machine too busy for a quick download: only after its first second
            pytest.skip(f"the download took {took} here")
        assert quarters == [], bob.output
    finally:
        bob.stop()
        server.close()


@pytest.mark.parametrize("how", ["connection lost", "SIGKILL"])
def test_a_download_cut_off_midway_leaves_no_partial_file(tmp_path, how):
    """Half a file arrives, then the server goes away, or bob's own process is killed outright
    (no clean-up code runs at all): bob's downloads folder holds nothing of it either way."""
    server, bob, downloads = bob_fetching_half_a_file(tmp_path, then_drop=how == "connection lost")
    try:
        if how == "SIGKILL":
            bob.expect(HALF_HERE)  # the half is written
            bob.popen.kill()
            assert bob.popen.wait(DEFAULT_TIMEOUT) == -signal.SIGKILL
        else:
            bob.expect(r"connection to the server was lost")
            assert bob.wait() == 1
        assert ev.GetFile(id="5", binary=True) in sans_req(server.heard)
        assert os.listdir(downloads) == []
    finally:
        bob.stop()
        server.close()


def test_a_download_the_host_ended_the_chat_under_is_said_stopped(tmp_path):
    """cy was fetching ann's file when ann typed /q: her screen said 'the server shut down: the
    host closed the chat' and nothing of the download, which had been at 28% (seen in
    tools/friends_run.py), so she could think it saved. The end of the chat now says what stopped,
    as a dropped connection does."""
    server, bob, downloads = bob_fetching_half_a_file(tmp_path, then_drop=False)
    try:
        bob.expect(HALF_HERE)
        server.send(ev.Shutdown(reason="the host closed the chat", final=True))
        bob.expect(r"the chat ended: stopped receiving half\.bin; nothing of it was kept")
        bob.expect(r"disconnected: the server shut down: the host closed the chat")
        assert os.listdir(downloads) == []
    finally:
        bob.stop()
        server.close()


def test_a_download_under_a_server_stopped_for_a_restart_is_said_stopped_by_it_not_by_a_lost_connection(tmp_path):
    """The teacher restarted the room (SIGTERM on `serve`) while ann was fetching the slides: her
    screen said "the server shut down: the server was stopped", then "connection lost: stopped
    receiving ..." though no connection was lost (seen in a class played for real). It now
    gives the notice's cause, as the host's /q does ("the chat ended: ...")."""
    server = half_a_file(b"x" * (30 * 1024), then_drop=False)
    downloads = tmp_path / "dl"
    downloads.mkdir()
    ann = TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--downloads", str(downloads), rows=20, cols=120)
    try:
        ann.expect(r"welcome, ann")
        ann.send("/get 5\r")
        ann.expect(r"get #5 half\.bin 50%")  # on the status line
        server.send(ev.Shutdown(reason="the server was stopped"))  # not final: the screen waits for it
        ann.expect(r"the server shut down: stopped receiving half\.bin; nothing of it was kept")
        ann.expect(r"if the host starts the server again, you will rejoin it")
        assert "connection lost" not in ann.text
        assert os.listdir(downloads) == []
    finally:
        ann.stop()
        server.close()


@pytest.mark.parametrize("command", ["connect", "serve"])
def test_a_downloads_folder_that_is_not_there_is_one_clear_line(command, tmp_path):
    proc = Proc(command, "--name", "ann", "--downloads", str(tmp_path / "nowhere"))
    try:
        assert proc.wait() == 2
        assert proc.lines == [
            f"lanchat {command}: error: argument --downloads: '{tmp_path / 'nowhere'}' does not exist "
            f"(create it first) (see lanchat {command} --help)"
        ]
    finally:
        proc.stop()


@pytest.mark.parametrize("under", ["", "files"])
def test_a_files_dir_that_is_a_file_is_refused_at_start_in_one_clear_line(under, tmp_path):
    """--files-dir FILE (or FILE/files) was taken without a word, and every /send failed later."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me")
    given = blocker / under if under else blocker
    proc = Proc("serve", "--headless", "--no-history", "--unix", str(tmp_path / "s"), "--files-dir", str(given))
    try:
        assert proc.wait() == 2
        problem = f"cannot be made: '{blocker}' is a file, not a folder" if under else "is a file, not a folder"
        assert proc.lines == [f"lanchat serve: error: argument --files-dir: '{given}' {problem} (see lanchat serve --help)"]
        assert blocker.read_text() == "keep me"
    finally:
        proc.stop()


def test_cancel_stops_a_download_midway_tells_the_server_and_keeps_nothing(tmp_path):
    server, bob, downloads = bob_fetching_half_a_file(tmp_path, then_drop=False)
    try:
        bob.expect(HALF_HERE)
        bob.send("/cancel 5")
        bob.expect(r"-!- stopped receiving half\.bin; nothing of it was kept")
        wait_for(lambda: ev.CancelFile(id="5") in sans_req(server.heard), what="the server to hear the cancel")
        bob.send("/cancel")
        bob.expect(r"! no file is being sent or received")
        assert os.listdir(downloads) == []
        assert bob.popen.poll() is None  # the chat goes on
    finally:
        bob.stop()
        server.close()


def test_q_during_a_download_asks_first_and_a_second_q_leaves_keeping_nothing(tmp_path):
    """A person at the screen who types /q while a file is coming is told what it stops; the
    download goes on until a second /q, which leaves, with no partial file. (A script's /q, or
    /q!, leaves at once, as test_cancel and the scripted tests show.)"""
    server = half_a_file(b"x" * (30 * 1024), then_drop=False)
    downloads = tmp_path / "dl"
    downloads.mkdir()
    bob = TermProc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--downloads", str(downloads),
                   "--no-reconnect", rows=20, cols=120)  # fmt: skip
    try:
        bob.expect(r"welcome, bob")
        bob.send("/get 5\r")
        bob.expect(r"get #5 half\.bin 50%")  # on the status line
        bob.send("/q\r")
        bob.expect(r"/q stops receiving half\.bin \(50%\): type /q again to leave \(/q! leaves without asking\)")
        assert bob.proc.isalive()  # still in the chat, still receiving
        bob.send("/q\r")
        assert bob.wait() == 0
        wait_for(lambda: ev.Bye() in server.heard, what="bob's bye")
        assert os.listdir(downloads) == []
    finally:
        bob.stop()
        server.close()


def test_the_hosts_q_says_who_is_still_downloading_her_file(tmp_path):
    """ann (the host, at her screen) typed /q while bob was fetching her notes: the question named
    only who was here, and she closed the room under his download without knowing. It now says
    who is still downloading which of her files, and how far they are; with none under way it
    asks as before. bob is a real client on loopback that reads the start of the file and then
    nothing (a slow reader, stalled); cy is there and fetches nothing."""
    source = tmp_path / "my notes.pdf"
    source.write_bytes(os.urandom(8 * MB))
    ann = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "ann", "--no-history",
                   "--files-dir", str(tmp_path / "server-files"), rows=20, cols=200)  # fmt: skip
    students: list[RawClient] = []
    try:
        port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(ann.raw)), what="the port").group(1))  # type: ignore[union-attr]
        ann.expect(r"ann │ host")
        bob, cy = (RawClient(Endpoint(host="127.0.0.1", port=port), name) for name in ("bob", "cy"))
        students += [bob, cy]
        ann.expect(r"\(3 here\)")
        ann.send(f'/send "{source}"\r')
        offered = bob.expect(ev.Offered)
        bob.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # a slow reader's small window
        bob.send(ev.GetFile(id=offered.id, binary=True))  # type: ignore[attr-defined]
        bob.expect(ev.FileStart)
        bob.expect(ev.FileBytes)  # and then reads no more
        ann.send("/q\r")
        ann.expect(r"/q closes the chat for everyone \(bob, cy\) while bob is still downloading my notes\.pdf \(\d+%\): "
                   r"type /q again to close it")  # fmt: skip
        ann.send("wait, bob is still downloading\r")  # not the second /q: ann stays
        ann.expect(r"ann: wait, bob is still downloading")
        bob.close()  # he gives up
        ann.expect(r"bob lost connection \(2 here\)")
        ann.send("/q\r")
        ann.expect(r"/q closes the chat for everyone \(cy\): type /q again to close it \(/q! closes without asking\)")
        ann.send("/q\r")
        assert ann.wait() == 0
    finally:
        for student in students:
            student.close()
        ann.stop()


def test_cancel_stops_an_upload_midway_and_it_is_never_offered(tmp_path):
    """bob's server takes the offer but reads nothing until bob cancels, so the upload is stuck
    midway (the socket full); after /cancel the server reads chunks, then the cancel, and never
    an upload-done."""
    cancelled = threading.Event()

    def on_event(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.OfferFile):
            server.send(ev.UploadReady(ref=event.ref, id="1", binary=True))
            cancelled.wait(DEFAULT_TIMEOUT)  # read nothing until bob has cancelled
        elif isinstance(event, ev.CancelFile) and server.conn is not None:
            server.conn.settimeout(0.5)  # anything after the cancel would arrive at once

    server = StandInServer(on_event)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(40 * MB))
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob")
    try:
        bob.expect("welcome, bob")
        bob.send(f"/send {source}")
        bob.expect(r"sending big\.bin \(40\.0 MiB\) as #1")
        bob.send("/cancel 1")
        bob.expect(r"-!- stopped sending big\.bin; it is not on offer")
        cancelled.set()
        wait_for(lambda: ev.CancelFile(id="1") in sans_req(server.heard), what="the server to hear the cancel")
        kinds = [type(event) for event in server.heard]
        assert ev.UploadDone not in kinds
        assert kinds.count(ev.UploadBytes) < 40 * MB // (60 * 1024)  # it stopped midway
        assert bob.popen.poll() is None
    finally:
        cancelled.set()
        bob.stop()
        server.close()


def test_a_student_who_joins_late_is_told_of_the_files_already_on_offer(make_room, tmp_path):
    """The teacher's slides went out before bob came in: his screen says how to fetch them, below
    what the room replays, as everyone else's did (it said nothing: only /files would show them)."""
    room = make_room()
    source = tmp_path / "slides week 2.pdf"
    source.write_bytes(os.urandom(70_000))
    room.ann.send(f'/send "{source}"')
    room.ann.expect(r"your file slides week 2\.pdf .* is on offer to the room as #\d+")
    bob = room.join("bob")
    file_id = offer_id(bob, "ann", "slides week 2.pdf")
    bob.send(f"/get {file_id}")
    bob.expect(r"saved '.*slides week 2\.pdf' \(.*SHA-256 checked\)")
    assert (room.downloads("bob") / "slides week 2.pdf").read_bytes() == source.read_bytes()


def test_the_offerer_reads_in_files_how_many_fetched_her_file_whole(make_room, tmp_path):
    """The teacher could not tell how many students had downloaded her slides. /files now says
    to her (and only to her) how many people were sent the whole file: each counted once, however
    often they fetch it."""
    room = make_room()
    source = tmp_path / "slides.pdf"
    source.write_bytes(os.urandom(20_000))
    bob, cat = room.join("bob"), room.join("cat")
    room.ann.send(f'/send "{source}"')
    room.ann.expect(r"your file slides\.pdf .* is on offer to the room as #\d+")
    file_id = offer_id(bob, "ann", "slides.pdf")
    offer_id(cat, "ann", "slides.pdf")
    room.ann.send("/files")
    room.ann.expect(rf"-!- +#{file_id} slides\.pdf .* from you, fetched by nobody yet$")
    for n, student in enumerate((bob, cat, bob)):  # bob twice: one person
        if n == 2:  # (his first still there, a /get says where it is and fetches nothing)
            (room.downloads("bob") / "slides.pdf").rename(room.downloads("bob") / "slides (1).pdf")
        mark = student.mark()
        student.send(f"/get {file_id}")
        student.expect(r"saved [^' ]*slides\.pdf \(.*SHA-256 checked\)", start=mark)
    mark = room.ann.mark()
    room.ann.send("/files")
    room.ann.expect(rf"-!- +#{file_id} slides\.pdf .* from you, fetched by 2$", start=mark)
    bob.send("/files")
    bob.expect(rf"-!- +#{file_id} slides\.pdf .* from ann: saved as {re.escape(path_as_typed(str(room.downloads('bob') / 'slides.pdf')))}$")
    assert "fetched by" not in bob.output


def test_a_file_that_changes_while_it_is_sent_is_stopped_and_never_offered(tmp_path):
    """bob typed /send notes.bin and saved it again in his editor while it went up: the client
    read the first part as it was and the rest as it became, hashed what it read, and the room
    was offered a file that never existed on any disk, 'SHA-256 checked'. The server here reads
    nothing until the file has changed (its receive buffer small, so most of the file is still
    unread); then bob's client must stop the upload, say why, and send no upload-done."""
    changed = threading.Event()

    def on_event(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.OfferFile):
            server.send(ev.UploadReady(ref=event.ref, id="1", binary=True))
            changed.wait(DEFAULT_TIMEOUT)  # read nothing until the file has changed

    server = StandInServer(on_event)
    server.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # (inherited: little in flight)
    source = tmp_path / "notes.bin"
    source.write_bytes(b"a" * (16 * MB))
    os.utime(source, (1_600_000_000, 1_600_000_000))  # saved long ago: the edit below is a later one
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob")
    try:
        bob.expect("welcome, bob")
        bob.send(f"/send {source}")
        bob.expect(r"sending notes\.bin \(16\.0 MiB\) as #1")
        with open(source, "r+b") as edited:  # saved in place, the same size
            edited.seek(15 * MB)
            edited.write(b"b" * MB)
        changed.set()
        bob.expect(r"! sending notes\.bin stopped: it changed while it was being sent; /send it again")
        wait_for(lambda: ev.CancelFile(id="1") in sans_req(server.heard), what="the server to hear the cancel")
        assert ev.UploadDone not in [type(event) for event in server.heard]
        assert bob.popen.poll() is None
    finally:
        changed.set()
        bob.stop()
        server.close()


def test_six_sends_pasted_at_once_are_all_offered_in_turn_not_refused(make_room, tmp_path):
    """The teacher pasted six /send lines for six worksheets: four were offered and two answered
    'refused: you are already sending 4 files; offer sheet5.txt once one of them is done' (the
    server takes four uploads of one person at once), though each took a millisecond, so she had
    to find and type those again. Her client now holds a fifth /send until one of the four is
    offered, says so, and then offers it by itself."""
    room = make_room()
    bob = room.join("bob")
    sheets = [tmp_path / f"sheet{n}.txt" for n in range(1, 7)]
    for n, sheet in enumerate(sheets, 1):
        sheet.write_bytes(b"exercise %d\n" % n)
    room.ann.send("\n".join(f"/send {sheet}" for sheet in sheets))  # one paste
    room.ann.expect(r"-!- sheet5\.txt waits its turn \(4 of your files are on their way up\); it goes when one of them is offered")
    for sheet in sheets:
        file_id = offer_id(bob, "ann", sheet.name)
        room.ann.expect(rf"your file {sheet.name} \(\d+ bytes\) is on offer to the room as #{file_id}")
    assert "refused" not in room.ann.output
    bob.send(f"/get {file_id}")
    bob.expect(r"saved .*sheet6\.txt")
    assert (room.downloads("bob") / "sheet6.txt").read_bytes() == sheets[-1].read_bytes()


def test_a_file_whose_name_is_not_utf8_can_be_sent_by_typing_it(make_room, tmp_path):
    """bob unzipped an old archive: its file is named café.txt in Latin-1 (the bytes caf\\xe9.txt),
    and ls shows it as 'caf'$'\\351''.txt'. He typed (or pasted) /send with those bytes and was
    told 'cannot send .../caf\N{REPLACEMENT CHARACTER}.txt: no such file', though it is there: the
    line was read as UTF-8, each byte that is not became U+FFFD, and no file has that name. The
    one file the typed name can only mean is sent now."""
    room = make_room()
    bob = room.join("bob")
    folder = tmp_path / "old archive"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb") as latin:
        latin.write(b"un caf\xe9")
    assert room.ann.popen.stdin is not None
    room.ann.popen.stdin.write(b"/send '" + os.fsencode(folder) + b"/caf\xe9.txt'\n")  # the bytes, as a terminal sends them
    room.ann.popen.stdin.flush()
    file_id = offer_id(bob, "ann", "caf\N{REPLACEMENT CHARACTER}.txt")
    assert "no such file" not in room.ann.output
    bob.send(f"/get {file_id}")
    bob.expect(r"saved .*\(7 bytes in .*SHA-256 checked\)")
    assert [path.read_bytes() for path in room.downloads("bob").iterdir()] == [b"un caf\xe9"]


def test_a_get_of_ones_own_file_still_going_up_is_answered_here_and_the_upload_goes_on(tmp_path):
    """ann read 'sending big.bin (30.0 MiB) as #1...' and typed /get 1 to check it: the server's
    answer, 'no file #1 is on offer', carried the id 1, her client took it for an error about
    her upload of #1 and stopped reading it, saying nothing: no 'stopped', no cancel, the file never
    offered, the server waiting a minute for the rest. Her client now answers such a /get itself,
    and the upload goes on. (The stand-in server reads nothing more until she has been answered,
    and answers a get as lanchat's does.)"""
    answered = threading.Event()

    def on_event(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.OfferFile):
            server.send(ev.UploadReady(ref=event.ref, id="1", binary=True))
            answered.wait(DEFAULT_TIMEOUT)
        elif isinstance(event, ev.GetFile):
            server.send(ev.FileError(id=event.id, message=f"no file #{event.id} is on offer (/files lists them)"))
            answered.set()

    server = StandInServer(on_event)
    server.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # (inherited: little in flight)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(12 * MB))
    ann = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann")
    try:
        ann.expect("welcome, ann")
        ann.send(f"/send {source}")
        ann.expect(r"sending big\.bin \(12\.0 MiB\) as #1")
        ann.send("/get 1")
        ann.expect(r"! #1 is big\.bin, which you are still sending: /get 1 once it is on offer")
        answered.set()
        wait_for(lambda: any(isinstance(event, ev.UploadDone) for event in server.heard), what="the whole upload")
        ann.expect(r"sent big\.bin \(12\.0 MiB.*\); the server is checking it")
        assert not any(isinstance(event, (ev.GetFile, ev.CancelFile)) for event in sans_req(server.heard))
    finally:
        answered.set()
        ann.stop()
        server.close()


def test_a_downloads_folder_removed_while_a_file_arrives_is_named_as_the_reason(tmp_path):
    """bob's downloads folder was removed (a clean-up, a USB stick pulled and put back under another
    name) while half.bin arrived: the end of the download said 'cannot save half.bin: no such file
    or directory', which reads as if the server had no such file. It now says the folder is gone."""
    rest = threading.Event()
    half = b"x" * (30 * 1024)

    def on_event(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.GetFile):
            data = half + half
            start = ev.FileStart(id=event.id, name="half.bin", size=len(data), sha256=hashlib.sha256(data).hexdigest())
            server.send(start, ev.FileBytes(id=event.id, data=half))
            rest.wait(DEFAULT_TIMEOUT)
            server.send(ev.FileBytes(id=event.id, data=half))

    server = StandInServer(on_event)
    downloads = tmp_path / "dl"
    downloads.mkdir()
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--downloads", str(downloads))
    try:
        bob.expect("welcome, bob")
        bob.send("/get 5")
        bob.expect(HALF_HERE)
        shutil.rmtree(downloads)  # (empty with O_TMPFILE; without it, the half under a part name is in it)
        rest.set()
        bob.expect(rf"! cannot save half\.bin: the folder {re.escape(str(downloads))} is not there any more; nothing of it was kept")
        assert not downloads.exists() and bob.popen.poll() is None
    finally:
        rest.set()
        bob.stop()
        server.close()


# lanchat as it runs where the system has no O_TMPFILE (macOS, a FAT USB stick or NFS on Linux):
# a download waits for its checksum under a hidden .lanchat-*.part name.
_WITHOUT_O_TMPFILE = [sys.executable, "-c", "import os, runpy; del os.O_TMPFILE; runpy.run_module('lanchat', run_name='__main__')"]


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="here every download is made without O_TMPFILE already")
def test_a_partial_download_left_by_a_killed_client_is_removed_by_the_next_download_there(tmp_path):
    """Where there is no O_TMPFILE, bob's client killed mid-download (a frozen laptop's power
    button) left its .lanchat-*.part file, half a download, in his downloads folder for good: no
    later lanchat ever removed it. A download into that folder now removes the parts no live
    lanchat holds (each holds a lock on its own) that have not grown for a minute."""
    server, downloads = half_a_file(b"x" * (30 * 1024), then_drop=False), tmp_path / "dl"
    downloads.mkdir()
    args = ("connect", "127.0.0.1", str(server.port), "--downloads", str(downloads), "--no-reconnect")
    bob = Proc(*args, "--name", "bob", program=_WITHOUT_O_TMPFILE)
    try:
        bob.expect("welcome, bob", timeout=30)  # (10 s ran out once on a CI machine's 2 busy cores)
        bob.send("/get 5")
        bob.expect(HALF_HERE)
        bob.popen.kill()
        bob.wait()
        [left] = os.listdir(downloads)
        assert re.fullmatch(r"\.lanchat-[0-9a-f]{12}\.part", left)
        os.utime(downloads / left, (1_600_000_000, 1_600_000_000))  # an hour later, or a day
    finally:
        bob.stop()
        server.close()
    server = half_a_file(b"y" * (30 * 1024), then_drop=False)  # (its second half never comes)
    cy = Proc("connect", "127.0.0.1", str(server.port), "--downloads", str(downloads), "--no-reconnect", "--name", "cy", program=_WITHOUT_O_TMPFILE)
    try:
        cy.expect("welcome, cy")
        cy.send("/get 6")
        cy.expect(HALF_HERE)
        [part] = os.listdir(downloads)  # cy's own: bob's is gone
        assert part != left
    finally:
        cy.stop()
        server.close()


def test_a_send_keeps_bytes_that_are_not_utf8_in_its_path_only():
    """A /send's path may hold bytes that are not UTF-8 (the file's name's own; both front ends
    keep them as lone surrogates); the name it goes to is sent on the wire, where such a byte
    cannot go: refused here, as in any message, not failed at the frame's encoding."""
    from lanchat.client import not_utf8_problem

    assert not_utf8_problem("/send 'old/caf\udce9.txt'") is None
    assert not_utf8_problem("/send caf\udce9.txt bob") is None
    assert not_utf8_problem("/send notes.txt b\udce9b") is not None
    assert not_utf8_problem("it shows \ufffd here") is None  # a real U+FFFD is text
    assert not_utf8_problem("caf\udce9") is not None


def test_a_guest_on_the_hosts_own_machine_with_the_hosts_key_is_held_to_the_cap(tmp_path):
    """The host's exemption from --max-file-mb is its connection's (the one `serve` opens inside
    itself), never a name, a key or an address: a second terminal on the host's machine, over
    loopback with the host's own identity key, is held to the cap (the disk never written to);
    a guest who asks for the host's name is not let in under it."""
    source = tmp_path / "big.iso"
    source.write_bytes(b"\0" * (MB + 1))
    files_dir = tmp_path / "files"
    teacher = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "teacher", "--plain", "--no-history",
                   "--no-announce", "--max-file-mb", "1", "--files-dir", str(files_dir))  # fmt: skip
    guests = []
    try:
        port = teacher.expect(r"listening on port (\d+)").group(1)
        twin = Proc("connect", "127.0.0.1", port, "--name", "teacher2", "--identity", same_key(teacher))
        guests.append(twin)
        twin.expect(r"welcome, teacher2")
        impostor = Proc("connect", "127.0.0.1", port, "--name", "teacher", "--identity", str(tmp_path / "other.key"))
        guests.append(impostor)
        impostor.expect(r"the name 'teacher' is the host's; choose another")  # no way in under it
        twin.send(f"/send {source}")
        twin.expect(r"! refused: big\.iso is 1\.0 MiB \(1,048,577 bytes\); this server takes files up to 1\.0 MiB")
        assert "is on offer" not in twin.output and "big.iso" not in teacher.output
        assert not list(files_dir.glob("**/*.upload"))
    finally:
        for guest in guests:
            guest.stop()
        teacher.stop()


def same_key(served: Proc) -> str:
    """The identity key the serve process ``served`` runs under (its --identity)."""
    return served.args[served.args.index("--identity") + 1]


def test_files_offers_no_download_of_a_file_to_whoever_offered_it_or_already_has_it(make_room, tmp_path):
    """In the first lesson /files offered "/get 1" to the teacher, of her own worksheet, and to
    bob, who had just downloaded it (a second /get then only says where it is). Now the
    offerer's line reads "from you" and offers nothing, and bob's says where his copy is while
    it is still there; moved away, it offers "/get 1" again, and a /get fetches it."""
    room = make_room()
    source = tmp_path / "worksheet.pdf"
    source.write_bytes(os.urandom(20_000))
    bob, cat = room.join("bob"), room.join("cat")
    room.ann.send(f'/send "{source}"')
    file_id = offer_id(bob, "ann", "worksheet.pdf")
    offer_id(cat, "ann", "worksheet.pdf")
    bob.send(f"/get {file_id}")
    bob.expect(r"saved [^' ]*worksheet\.pdf \(.*SHA-256 checked\)")
    room.ann.expect(r"your file worksheet\.pdf \(#\d+\): fetched by bob$")
    mark = room.ann.mark()
    room.ann.send("/files")
    room.ann.expect(rf"-!- +#{file_id} worksheet\.pdf \S+ \S+ from you, fetched by 1$", start=mark)
    saved = room.downloads("bob") / "worksheet.pdf"
    for who, said in ((bob, f"from ann: saved as {re.escape(path_as_typed(str(saved)))}"), (cat, f"from ann: /get {file_id}")):
        mark = who.mark()
        who.send("/files")
        who.expect(rf"-!- +#{file_id} worksheet\.pdf \S+ \S+ {said}$", start=mark)
    saved.rename(tmp_path / "elsewhere.pdf")  # moved away: no longer where it was saved
    mark = bob.mark()
    bob.send("/files")
    bob.expect(rf"-!- +#{file_id} worksheet\.pdf \S+ \S+ from ann: /get {file_id}$", start=mark)
    bob.send(f"/get {file_id}")
    bob.expect(r"saved [^' ]*worksheet\.pdf \(.*SHA-256 checked\)", start=mark)
    assert saved.read_bytes() == source.read_bytes()
    said = "\n".join(room.ann.lines)
    assert f"/get {file_id}" not in said.split("files on offer")[-1], said  # (her /files offered her nothing)
