"""A fake server attacks the client where tests/test_hostile_server.py does not look: file names
a disk cannot hold, a handshake that never ends, and join notices by the ten thousand.

Each server here is a raw socket in the test (test_hostile_server.HostileServer) that writes the
bytes it is told to; the client runs as a user runs it, through pipes or in a real pseudo-terminal.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
from pathlib import Path

import pytest
from helpers import Proc, TermProc, child_env, wait_for
from test_hostile_server import HostileServer, asked_for_a_file, frame_of, welcome

from lanchat import wire

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("offered", ["\u6587" * 100 + ".txt", "\U0001F600" * 120])
def test_a_file_whose_name_is_too_long_in_bytes_for_the_disk_is_saved_under_a_shorter_one(tmp_path, offered):
    """100 CJK characters are 300 bytes of UTF-8, 120 emoji 480; ext4 takes 255. The names were
    cut to 120 characters only: the download arrived whole, its SHA-256 checked, and was then
    thrown away with "cannot save ...: file name too long"."""
    data = b"hello"
    sha256 = hashlib.sha256(data).hexdigest()
    with asked_for_a_file(tmp_path, offered, 5, sha256) as (server, client, downloads):
        server.then(frame_of({"type": "file-start", "id": "7", "name": offered, "size": 5, "sha256": sha256}))
        server.then(frame_of({"type": "file-data", "id": "7", "data": base64.b64encode(data).decode()}))
        client.expect(r"saved .* SHA-256 checked|cannot save")
        assert "cannot save" not in client.output, client.output
        [saved] = downloads.iterdir()
        assert saved.read_bytes() == data and saved.name[0] == offered[0]
        assert len(saved.name.encode("utf-8")) <= 255


def challenge(salt: bool = False) -> bytes:
    obj = {"type": "challenge", "nonce": base64.b64encode(os.urandom(32)).decode()}
    if salt:
        obj["salt"] = base64.b64encode(os.urandom(16)).decode()
    return frame_of(obj)


@pytest.mark.parametrize("salt", [False, True])
def test_a_server_that_challenges_every_answer_again_is_left_at_once(salt):
    """A real server challenges a hello once. Each challenge restarted the handshake's deadline
    (a password takes its time to type), and each new salt cost a 0.1 s scrypt: a fake server
    that answered every auth with a new challenge held the client in "connecting" for ever,
    working. The second challenge for one hello ends it, in one line."""
    server = HostileServer(challenge(salt))
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann", env=child_env(LANCHAT_PASSWORD="secret"))
    try:
        wait_for(lambda: b'"auth"' in server.heard, what="the answer to the first challenge")
        server.then(challenge(salt))
        assert client.wait() == 1
        assert client.output.endswith("the server asked to prove our key twice for one hello; that is not a lanchat server we can talk to")
        assert server.heard.count(b'"auth"') == 1
        assert "Traceback" not in client.output
    finally:
        client.stop()
        server.close()


def test_thousands_of_join_notices_leave_the_full_screen_responsive():
    """The full screen folds a burst of joins into one line, rebuilt from every name in it at
    each join: 8,000 joins from a fake server froze the screen for over a minute (keys unread,
    nothing drawn; 6,000 for over 20 s). A burst now names at most a hundred (ui/fold.py MAX_BURST_NAMES)."""
    server = HostileServer(welcome("ann"))
    term = TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--no-typing", rows=24, cols=100)
    try:
        term.expect(r"welcome, ann")
        server.then(b"".join(frame_of({"type": "joined", "name": f"s{n}", "time": 1_700_000_000.0}) for n in range(6000)))
        server.then(frame_of({"type": "message", "from": "mallory", "text": "after the joins", "time": 1_700_000_001.0}))
        term.expect(r"mallory: after the joins", timeout=20)
        term.send("still here\r")
        wait_for(lambda: b"still here" in server.heard, what="the line typed after the joins")
    finally:
        term.stop()
        server.close()


@pytest.mark.parametrize("screen", ["full", "plain"])
@pytest.mark.parametrize("ending", ["fatal", "bad-frame"])
def test_a_line_half_typed_when_the_server_ends_the_chat_is_not_lost(screen, ending):
    """A fatal error (a kick, or a fake server's) or a frame the client cannot read ends the
    chat at once. The full screen went with what was in its input line, unsaid; --plain left
    it on the terminal with the last words glued to its end ("...writinglanchat: disconnected")."""
    server = HostileServer(welcome("ann"))
    plain = ["--plain"] if screen == "plain" else []
    term = TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--no-typing", *plain, rows=24, cols=100)
    try:
        term.expect(r"welcome, ann")
        term.send("a paragraph I was writing")
        term.expect(r"a paragraph I was writing")
        if ending == "fatal":
            server.then(frame_of({"type": "error", "code": "kicked", "message": "out you go", "fatal": True}))
        else:
            server.then(struct.pack(">I", 2) + b"{x")
        assert term.wait() == 1
        said = term.text
        if screen == "full":
            assert "lanchat: what you were typing was not sent: a paragraph I was writing" in said, said
        else:
            assert re.search(r"^a paragraph I was writing *\nlanchat: disconnected", said, re.MULTILINE), said
    finally:
        term.stop()
        server.close()


def resident_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def test_long_lines_drawn_one_by_one_keep_the_full_screens_memory_bounded():
    """Each 60,000-character message (the frame limit allows them; a real server refuses over
    4,000) is drawn as it comes, and its layout was kept: 2.4 MB each, up to 16,384 of them.
    120 took the client from 40 MB to 570 MB; the layouts are now kept within a budget of cells.
    (Since a line's text is also kept to 4,000 characters, test_ui_render holds the budget itself.)"""
    server = HostileServer(welcome("ann"))
    term = TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--no-typing", rows=24, cols=100)
    try:
        term.expect(r"welcome, ann")
        for number in range(120):  # each waits until it is on the screen: each is laid out
            server.then(frame_of({"type": "message", "from": "mallory", "text": f"{number:04d}" * 15_000, "time": 1.7e9}))
            term.expect(f"{number:04d}" * 10)
        assert (used := resident_mb(term.proc.pid)) < 240, f"{used} MB"
    finally:
        term.stop()
        server.close()


def test_a_scrollback_of_frame_sized_messages_keeps_the_full_screens_memory_bounded():
    """A real server relays at most 4,000 characters of a message; a fake one fills each frame
    (60,000) and the scrollback keeps 10,000 lines: 2,000 took the client to 170 MB, 10,000 to
    640 MB. A line's text is now kept to 4,000 characters, the rest said as cut."""
    server = HostileServer(welcome("ann"))
    term = TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--no-typing", rows=24, cols=60)
    try:
        term.expect(r"welcome, ann")
        big = b"".join(frame_of({"type": "message", "from": "mallory", "text": "x" * 60_000, "time": 1.7e9}) for _ in range(100))
        for _ in range(20):
            server.then(big)
        server.then(frame_of({"type": "message", "from": "mallory", "text": "after the flood", "time": 1.7e9}))
        term.expect(r"mallory: after the flood", timeout=30)
        assert (used := resident_mb(term.proc.pid)) < 100, f"{used} MB"  # 48 MB now
        term.wait_screen(lambda rows: "56000morecharactersnotkept" in "".join(row.replace(" ", "") for row in rows), what="the cut said")
    finally:
        term.stop()
        server.close()


@pytest.mark.parametrize("how", ["json", "binary", "wrong-hash"])
def test_a_download_given_more_bytes_than_its_size_or_the_wrong_ones_is_stopped_and_nothing_kept(tmp_path, how):
    """The size and the SHA-256 are the server's word at file-start: a fake one sends more bytes
    than it said, in base64 (file-data) or raw (a binary frame), or the right count of wrong
    bytes. Each is one line, a cancel when more is coming, and nothing in the downloads folder."""
    data = b"hello"
    sha256 = hashlib.sha256(data).hexdigest()
    with asked_for_a_file(tmp_path, "a.txt", 5, sha256) as (server, client, downloads):
        server.then(frame_of({"type": "file-start", "id": "7", "name": "a.txt", "size": 5, "sha256": sha256}))
        if how == "json":
            server.then(frame_of({"type": "file-data", "id": "7", "data": base64.b64encode(b"x" * 3000).decode()}))
        elif how == "binary":
            server.then(wire.binary_frame("7", b"x" * 3000))
        else:
            server.then(frame_of({"type": "file-data", "id": "7", "data": base64.b64encode(b"HELLO").decode()}))
        if how == "wrong-hash":
            client.expect(r"! a\.txt arrived damaged \(SHA-256 mismatch\) and was discarded")
        else:
            client.expect(r"! download of a\.txt stopped: more bytes arrived than the file's size")
            wait_for(lambda: b'"cancel"' in server.heard, what="the client's cancel")
        client.send("still here")
        wait_for(lambda: b"still here" in server.heard, what="the chat going on")
        assert list(downloads.iterdir()) == []
        assert "Traceback" not in client.output


def test_file_names_from_a_fake_server_never_leave_the_downloads_folder(tmp_path):
    """The real server cleans offered names too (test_files_cli); a fake one does not. Whatever
    the file-start names, each download lands in the downloads folder, under a cleaned name."""
    downloads = tmp_path / "deep" / "downloads"
    downloads.mkdir(parents=True)
    names = ["../../escape.txt", "/tmp/absolute.txt", "C:\\Windows\\win.ini", "nul\x00byte.txt", "CON", "..", "\u202eevil\u200b.txt"]
    data = b"hello"
    sha256 = hashlib.sha256(data).hexdigest()
    server = HostileServer(welcome("ann"))
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--downloads", str(downloads))
    try:
        client.expect(r"welcome, ann")
        for number, name in enumerate(names, start=1):
            offer = {"type": "offered", "id": str(number), "name": name, "size": 5, "sha256": sha256, "from": "mallory", "time": 1.0}
            seen = client.mark()
            server.then(frame_of(offer))
            client.expect(rf"type /get {number} to download it")
            client.send(f"/get {number}")
            wait_for(lambda number=number: f'"id":"{number}"'.encode() in server.heard, what="the client's get")
            server.then(frame_of({"type": "file-start", "id": str(number), "name": name, "size": 5, "sha256": sha256}))
            server.then(frame_of({"type": "file-data", "id": str(number), "data": base64.b64encode(data).decode()}))
            client.expect(rf"saved {re.escape(str(downloads))}/\S", start=seen)
        saved = sorted(path.name for path in downloads.iterdir())
        assert saved == sorted(["escape.txt", "absolute.txt", "win.ini", "nulbyte.txt", "_CON", "file", "evil.txt"]), saved
        assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file()) == saved  # nothing anywhere else
    finally:
        client.stop()
        server.close()


def test_names_and_reasons_no_server_sends_cannot_grow_what_the_client_keeps():
    """A real server's names are at most 32 characters and its reasons 200. A fake one fills each
    frame with one, and the client kept them: who is here, who is away (4,000 such joins or away
    notes took it from 38 MB to 270 MB, in --plain too, with no scrollback). Each such event is
    left out with one line, as a number out of range is; the chat goes on."""
    server = HostileServer(welcome("ann"))
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--no-typing")
    try:
        client.expect(r"welcome, ann")
        before = resident_mb(client.popen.pid)
        for start in range(0, 1000, 100):
            server.then(b"".join(frame_of({"type": "joined", "name": f"u{n}" + "n" * 60_000, "time": 1.7e9}) for n in range(start, start + 100)))
            server.then(b"".join(frame_of({"type": "away-status", "name": f"u{n}", "reason": "r" * 60_000, "time": 1.7e9}) for n in range(start, start + 100)))
        server.then(frame_of({"type": "message", "from": "mallory", "text": "after them", "time": 1.7e9}))
        client.expect(r"mallory: after them", timeout=30)
        assert (grown := resident_mb(client.popen.pid) - before) < 40, f"{grown} MB more"
        shown = client.output
        assert len(re.findall(r'was not shown: "name" is 600\d\d characters long; a server sends at most 32\n', shown)) == 1000
        assert shown.count('was not shown: "reason" is 60000 characters long; a server sends at most 200\n') == 1000
        client.send("still here")
        wait_for(lambda: b"still here" in server.heard, what="the chat going on")
    finally:
        client.stop()
        server.close()


def test_joins_away_notes_and_typing_hints_under_ever_new_names_keep_at_most_a_rooms_worth():
    """A real room holds at most the people its welcome lists in one frame (16,384 names of one
    byte). A fake server sent joins, away notes and typing hints under ever new names, each
    within the limits of a name and a reason, and the client kept them all: who is here, who is
    away, who is typing grew with every frame (100,000 joins and away notes: 100 MB more). Past a
    room's worth, each such event is left out with one line; the chat goes on."""
    from lanchat.session import MOST_MEMBERS

    extra = 2_000
    names = [f"u{n}" for n in range(MOST_MEMBERS + extra)]
    server = HostileServer(welcome("ann"))
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann")

    def left_out() -> list[str]:
        return re.findall(r"was not shown: (\S+) would be one more than the 16,384 people a room can hold\n", client.output)

    try:
        client.expect(r"welcome, ann")
        for start in range(0, len(names), 2_000):
            server.then(b"".join(frame_of({"type": "joined", "name": name, "time": 1.7e9}) for name in names[start : start + 2_000]))
        for start in range(0, len(names), 2_000):
            server.then(b"".join(frame_of({"type": "away-status", "name": name, "reason": "r" * 200, "time": 1.7e9}) for name in names[start : start + 2_000]))
        server.then(frame_of({"type": "message", "from": "mallory", "text": "after them", "time": 1.7e9}))
        client.expect(r"mallory: after them", timeout=60)
        # ann is here: she and 16,383 joins fill the room; 16,384 away notes fill theirs
        assert left_out() == names[MOST_MEMBERS - 1 :] + names[MOST_MEMBERS:]
        # hints are forgotten 6 s after they come (bob stopped typing): all of them at once, then
        server.then(b"".join(frame_of({"type": "typing-hint", "name": name}) for name in names))
        server.then(frame_of({"type": "message", "from": "mallory", "text": "after the hints", "time": 1.7e9}))
        client.expect(r"mallory: after the hints", timeout=60)
        assert len(left_out()) > 2 * extra + 1, "no typing hint was left out"
        client.send("still here")
        wait_for(lambda: b"still here" in server.heard, what="the chat going on")
    finally:
        client.stop()
        server.close()
