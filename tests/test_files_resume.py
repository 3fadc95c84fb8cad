"""Resumable downloads (PROTOCOL.md, Resuming a download): a download cut short keeps what came in
a partial file beside where it will be saved, and a /get of the same file, typed or asked again
after a rejoin, asks the server to go on from there. The pure edges first (ClientTransfers and
ServerFiles with no socket), then the user's side: a real server, real clients, a cut link.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from badlink import BadLink
from file_requests import sans_req, store_and_room, stored_offer
from helpers import Proc, fill_disk, small_disk, start_server, wait_for

from lanchat import events as ev
from lanchat.actions import Send
from lanchat.client_files import (
    HASH_READ_BYTES,
    PARTIAL_SUFFIX,
    RESUMABLE_MIN_BYTES,
    STALE_PARTIAL_SECONDS,
    ClientTransfers,
    cut_off,
    hash_kept,
    hashing,
    not_back_on_offer,
    offers_came,
    partial_path,
)
from lanchat.files import BINARY_CHUNK_BYTES, MAX_DOWNLOADS_AT_ONCE, MAX_LISTED, MB, chunk_plan, human_size
from lanchat.room import Room
from lanchat.server_files import ServerFiles
from lanchat.session import OFFERS_REMEMBERED, FileCommand

SIZE = 2 * MB + 12345  # over RESUMABLE_MIN_BYTES, not a whole number of pieces


def _sum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def data() -> bytes:
    assert SIZE >= RESUMABLE_MIN_BYTES
    return os.urandom(SIZE)


def offered(data: bytes, file_id: str = "7", name: str = "dataset.bin") -> ev.Offered:
    return ev.Offered(id=file_id, name=name, size=len(data), sha256=_sum(data), sender="ann", time=1.0)


def pieces(data: bytes, start: int = 0, stop: int | None = None, file_id: str = "7") -> list[ev.FileBytes]:
    stop = len(data) if stop is None else stop
    return [ev.FileBytes(id=file_id, data=data[at : min(at + length, stop)]) for at, length in chunk_plan(len(data), BINARY_CHUNK_BYTES) if start <= at < stop]


def feed(transfers: ClientTransfers, events: list) -> tuple[list, list]:
    """``events`` taken as the client loop takes them: each followed by the loop's next pass, which
    reads a slice of a resumed download's kept part into its SHA-256 (hash_kept; here 1 MiB, so
    pieces come while it is behind), then passes until all of it is read."""
    replies: list = []
    lines: list = []
    for event in events:
        more, said = transfers.on_event(event)
        replies += more
        lines += said
        if hashing(transfers):
            more, said = hash_kept(transfers, 0.0)
            replies += more
            lines += said
    while hashing(transfers):
        more, said = hash_kept(transfers, 0.0)
        replies += more
        lines += said
    return replies, lines


def texts(lines: list) -> list[str]:
    return [line.text for line in lines]


def half_fetched(tmp_path: Path, data: bytes) -> tuple[ClientTransfers, int]:
    """A client that saw the offer, asked for it and got a little over half of it."""
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(offered(data))
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert sans_req(get) == ev.GetFile(id="7", binary=True)  # nothing kept yet: from the start
    feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data))])
    half = 18 * BINARY_CHUNK_BYTES
    feed(transfers, pieces(data, 0, half))
    return transfers, half


def asked_from_a_last_runs_part(tmp_path: Path, data: bytes) -> tuple[ClientTransfers, int]:
    """A new run of the client, where the last one (``half_fetched``) stopped: it saw the offer
    and asked for the file from the part that run left."""
    last_run, half = half_fetched(tmp_path, data)
    last_run.close()
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(offered(data))
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert get.offset == half
    return transfers, half


def test_a_client_open_all_day_remembers_the_newest_files_it_saved_not_every_one(tmp_path):
    """A student's client left open all day remembered where every file it fetched went (for
    "#7 is saved already"), one entry per /get for as long as it ran, long after the offers
    themselves were forgotten (OFFERS_REMEMBERED): that table grew without bound. It keeps the
    OFFERS_REMEMBERED newest now, as it keeps the offers, and the newest still answer."""
    transfers = ClientTransfers(tmp_path)
    for number in range(OFFERS_REMEMBERED + 40):
        data, file_id = f"sheet {number}".encode(), str(number)
        transfers.on_event(offered(data, file_id, f"sheet{number}.txt"))
        transfers.command(FileCommand(name="get", file_id=file_id))
        _, lines = feed(transfers, [ev.FileStart(id=file_id, name=f"sheet{number}.txt", size=len(data), sha256=_sum(data)),
                                    ev.FileBytes(id=file_id, data=data)])  # fmt: skip
        assert texts(lines)[-1].startswith("saved ")
    assert len(transfers.saved) == OFFERS_REMEMBERED
    newest = str(OFFERS_REMEMBERED + 39)
    _, lines = transfers.command(FileCommand(name="get", file_id=newest))
    assert texts(lines) == [f"#{newest} is saved already: {tmp_path}/sheet{newest}.txt (moved or deleted, /get fetches it again)"]


def test_a_cancelled_download_keeps_its_part_and_a_get_goes_on_from_there(tmp_path, data):
    """/cancel, then /get again, fetched the whole 200 MB again: for a class on Wi-Fi, the pain."""
    transfers, half = half_fetched(tmp_path, data)
    events, lines = transfers.command(FileCommand(name="cancel", file_id="7"))
    assert sans_req(events) == [ev.CancelFile(id="7")]
    assert texts(lines) == ["stopped receiving dataset.bin; kept 1.1 MiB of it: /get 7 goes on from there"]
    partial = partial_path(tmp_path, "dataset.bin", _sum(data))
    assert os.listdir(tmp_path) == [partial.name] and partial.name.startswith(".") and partial.name.endswith(PARTIAL_SUFFIX)
    assert partial.stat().st_size == half
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert sans_req(get) == ev.GetFile(id="7", binary=True, offset=half, sha256=_sum(data))
    late, _ = feed(transfers, pieces(data, half, half + BINARY_CHUNK_BYTES))  # the first asking's, still on their way
    assert late == []
    _, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half), *pieces(data, half)])
    assert texts(lines)[0] == f"resuming dataset.bin (2.0 MiB) from 52% (1.1 MiB were kept) into the folder {tmp_path}"
    assert re.fullmatch(rf"saved {re.escape(str(tmp_path))}/dataset\.bin \(2\.0 MiB, resumed at 1\.1 MiB: 980\.1 KiB in .*; SHA-256 checked\)", texts(lines)[-1])
    assert (tmp_path / "dataset.bin").read_bytes() == data
    assert os.listdir(tmp_path) == ["dataset.bin"] and transfers.progress == {} and not transfers.wanted


def test_get_cancel_get_before_the_first_start_keeps_the_part_and_takes_the_last_start(tmp_path, data):
    """/get, /cancel, /get typed within a round trip: the server had begun the first get and sent
    a little of it before it read the cancel, then began the second. The first file-start was
    taken as the second get's, the second refused, its pieces written after the first's: 'more
    bytes arrived than the file's size', and the 1.1 MiB kept were deleted."""
    transfers, half = half_fetched(tmp_path, data)
    transfers.command(FileCommand(name="cancel", file_id="7"))
    for typed in ("get", "cancel", "get"):
        transfers.command(FileCommand(name=typed, file_id="7"))
    start = ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half)
    replies, lines = feed(transfers, [start, *pieces(data, half, half + 2 * BINARY_CHUNK_BYTES), start, *pieces(data, half)])
    assert replies == [] and texts(lines)[-1].startswith("saved ")
    assert (tmp_path / "dataset.bin").read_bytes() == data and os.listdir(tmp_path) == ["dataset.bin"]
    assert not transfers.wanted and not transfers.reasked and not transfers.asked_from


def test_a_late_start_of_a_get_asked_before_a_cancel_is_passed_over_without_a_word(tmp_path, data):
    """Typed /get, /cancel, /get, then /cancel and /get again while the link was slow (a real run
    through tests/badlink.py): a file-start of the second get came after the last get, from the
    offset the second had asked for, and was refused as one the server 'was not asked to' go on
    from, with an error line and a cancel the server could take as the last get's."""
    transfers, half = half_fetched(tmp_path, data)
    transfers.command(FileCommand(name="cancel", file_id="7"))
    for typed in ("get", "cancel", "get"):
        transfers.command(FileCommand(name=typed, file_id="7"))
    start = ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half)
    feed(transfers, [start, *pieces(data, half, half + 2 * BINARY_CHUNK_BYTES)])
    transfers.command(FileCommand(name="cancel", file_id="7"))
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert get.offset == half + 2 * BINARY_CHUNK_BYTES
    late = [start, *pieces(data, half, half + BINARY_CHUNK_BYTES)]  # the second get's, sent before the server read the cancel
    replies, lines = feed(transfers, [*late, ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=get.offset), *pieces(data, get.offset)])
    assert replies == [] and [line.kind for line in lines if line.kind == "error"] == []
    assert texts(lines)[-1].startswith("saved ") and (tmp_path / "dataset.bin").read_bytes() == data


def test_a_get_after_a_cancel_that_cannot_be_saved_can_be_asked_for_again(tmp_path, data):
    """/cancel, /get, and the download could not be saved (here: the server gives a size no disk
    has): a /get once that was mended said '#7 is already on its way', for ever."""
    transfers, half = half_fetched(tmp_path, data)
    transfers.command(FileCommand(name="cancel", file_id="7"))
    transfers.command(FileCommand(name="get", file_id="7"))
    replies, lines = transfers.on_event(ev.FileStart(id="7", name="dataset.bin", size=2**62, sha256=_sum(data)))
    assert sans_req(replies) == [ev.CancelFile(id="7")] and texts(lines)[0].startswith("cannot save dataset.bin: it is ")
    (get,), lines = transfers.command(FileCommand(name="get", file_id="7"))
    assert sans_req(get) == ev.GetFile(id="7", binary=True, offset=half, sha256=_sum(data)) and lines == []


def test_a_server_that_does_not_resume_starts_it_again_cleanly_saying_so(tmp_path, data):
    """An older server ignores the offset: its file-start has none, and its bytes are the file's first."""
    transfers, half = half_fetched(tmp_path, data)
    transfers.command(FileCommand(name="cancel", file_id="7"))
    transfers.command(FileCommand(name="get", file_id="7"))
    _, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data)])
    assert texts(lines)[0] == "dataset.bin: the server sends it from the beginning (it does not resume downloads); the 1.1 MiB kept here are replaced"
    assert texts(lines)[-1].startswith("saved ") and "resumed" not in texts(lines)[-1]
    assert (tmp_path / "dataset.bin").read_bytes() == data and os.listdir(tmp_path) == ["dataset.bin"]


def test_a_part_that_does_not_match_is_fetched_again_whole_once(tmp_path, data):
    transfers, half = half_fetched(tmp_path, data)
    transfers.command(FileCommand(name="cancel", file_id="7"))
    partial = partial_path(tmp_path, "dataset.bin", _sum(data))
    with partial.open("r+b") as spoiled:  # (a disk's bad block, say)
        spoiled.write(b"\x00" * 100)
    transfers.command(FileCommand(name="get", file_id="7"))
    replies, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half), *pieces(data, half)])
    assert sans_req(replies) == [ev.GetFile(id="7", binary=True)]  # again, from the start
    assert texts(lines)[-1] == "dataset.bin did not match its SHA-256 after resuming at 1.1 MiB; fetching it again from the beginning"
    assert not partial.exists()
    replies, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data)])
    assert replies == [] and texts(lines)[-1].startswith("saved ")
    assert (tmp_path / "dataset.bin").read_bytes() == data
    # from the start, a mismatch is the file's own: said, and not fetched again
    (tmp_path / "dataset.bin").unlink()  # (still there, a /get says where it is and fetches nothing)
    transfers.command(FileCommand(name="get", file_id="7"))
    wrong = bytearray(data)
    wrong[-1] ^= 1
    replies, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(bytes(wrong))])
    assert replies == [] and "arrived damaged (SHA-256 mismatch)" in texts(lines)[-1]


def test_a_part_that_vanished_or_is_not_ours_is_never_a_traceback(tmp_path, data):
    transfers, half = half_fetched(tmp_path, data)
    transfers.command(FileCommand(name="cancel", file_id="7"))
    partial = partial_path(tmp_path, "dataset.bin", _sum(data))
    transfers.command(FileCommand(name="get", file_id="7"))  # from ``half``
    partial.unlink()  # gone before the server answered
    replies, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half)])
    assert sans_req(replies) == [ev.CancelFile(id="7"), ev.GetFile(id="7", binary=True)]
    assert texts(lines) == ["the part of dataset.bin kept here is shorter than when it was asked for; asking again"]
    feed(transfers, pieces(data, half))  # what the server sent before our cancel: no news
    _, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data)])
    assert texts(lines)[-1].startswith("saved ") and (tmp_path / "dataset.bin").read_bytes() == data
    # a link where the part would be, to a file of the user's: not followed, not written
    (tmp_path / "dataset.bin").unlink()
    mine = tmp_path / "mine.txt"
    mine.write_bytes(b"my notes")
    partial.symlink_to(mine)
    transfers.command(FileCommand(name="get", file_id="7"))
    _, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data)])
    assert texts(lines)[-1].startswith("saved ") and (tmp_path / "dataset.bin").read_bytes() == data
    assert mine.read_bytes() == b"my notes" and partial.is_symlink()
    # the part removed while it came: said, not saved as what the name holds now
    partial.unlink()
    (tmp_path / "dataset.bin").unlink()  # (still there, a /get says where it is and fetches nothing)
    transfers.command(FileCommand(name="get", file_id="7"))
    feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data, 0, half)])
    partial.unlink()
    partial.write_bytes(b"x" * half)
    _, lines = feed(transfers, pieces(data, half))
    assert texts(lines)[-1] == "cannot save dataset.bin: its partial file was removed or replaced while it came; fetch it again"
    assert partial.read_bytes() == b"x" * half  # what has its name now is not ours to delete


def test_a_part_that_cannot_be_written_is_not_gone_on_with(tmp_path, data):
    """A partial file made read-only (by a person, a sync tool): every /get asked from where it
    ends, and every file-start was refused ('no part of it is kept here to go on from'), for ever."""
    last_run, half = half_fetched(tmp_path, data)
    last_run.close()
    partial = partial_path(tmp_path, "dataset.bin", _sum(data))
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_root:  # (root writes a file whatever its mode: make it immutable instead)
        if subprocess.run(["chattr", "+i", str(partial)], capture_output=True, timeout=10).returncode != 0:
            pytest.skip("no chattr +i here")
    else:
        partial.chmod(0o444)
    try:
        transfers = ClientTransfers(tmp_path)
        transfers.on_event(offered(data))
        (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
        assert sans_req(get) == ev.GetFile(id="7", binary=True)  # from the start, into a file with no name
        _, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data)])
        assert texts(lines)[-1].startswith("saved ") and (tmp_path / "dataset.bin").read_bytes() == data
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(partial)], capture_output=True, timeout=10)


@pytest.mark.parametrize("how", ["ENOLCK", "no fcntl"])
def test_a_folder_that_takes_no_file_locks_says_once_that_downloads_there_cannot_be_resumed(tmp_path, data, monkeypatch, how):
    """A downloads folder on a file system that takes no file locks (some network and FUSE ones;
    or no fcntl at all): no partial file can be kept there, so a large download went on unnamed with
    no word of it, a /cancel or a cut said 'nothing of it was kept' to a student who counted on a
    resume, and each download left an empty hidden partial file behind."""
    if how == "no fcntl":
        monkeypatch.setitem(sys.modules, "fcntl", None)  # (an import of it raises ImportError)
    else:
        import fcntl

        def no_locks(fd: int, operation: int) -> None:
            raise OSError(errno.ENOLCK, "No locks available")

        monkeypatch.setattr(fcntl, "flock", no_locks)
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(offered(data))
    transfers.command(FileCommand(name="get", file_id="7"))
    start = ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data))
    replies, lines = feed(transfers, [start, *pieces(data, 0, SIZE // 2)])
    assert replies == []
    why = {
        "ENOLCK": "its file system takes no file locks (a network or FUSE one?), so one cut short starts again from the beginning (--downloads DIR on a local disk keeps what came)",
        "no fcntl": "this system has no file locks lanchat can use, so one cut short starts again from the beginning",
    }[how]
    assert texts(lines)[0] == f"downloads into {tmp_path} cannot be resumed: {why}"
    assert os.listdir(tmp_path) == []  # (it waits with no name)
    _, lines = transfers.command(FileCommand(name="cancel", file_id="7"))
    assert texts(lines) == ["stopped receiving dataset.bin; nothing of it was kept"]
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert get.offset is None
    _, lines = feed(transfers, [replace(start, req=get.req), *pieces(data)])
    assert not [text for text in texts(lines) if "cannot be resumed" in text]  # said once a run
    assert texts(lines)[-1].startswith("saved ") and os.listdir(tmp_path) == ["dataset.bin"]
    assert (tmp_path / "dataset.bin").read_bytes() == data


def test_a_crashed_clients_part_is_found_again_and_an_old_one_is_cleaned(tmp_path, data):
    killed, half = half_fetched(tmp_path, data)
    killed.receiving["7"].handle.close()  # killed outright: no stop, no discard; the kernel closes its file (and lock)
    next_run = ClientTransfers(tmp_path)
    next_run.on_event(offered(data, file_id="12"))  # offered again, under another id (a restart)
    (get,), _ = next_run.command(FileCommand(name="get", file_id="12"))
    assert sans_req(get) == ev.GetFile(id="12", binary=True, offset=half, sha256=_sum(data))
    # a partial of another file nobody came back for in a week goes with the next download here
    old = partial_path(tmp_path, "old.iso", "ab" * 32)
    old.write_bytes(b"half an iso")
    week_ago = time.time() - STALE_PARTIAL_SECONDS - 60
    os.utime(old, (week_ago, week_ago))
    _, lines = feed(next_run, [ev.FileStart(id="12", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half), *pieces(data, half, file_id="12")])
    assert texts(lines)[-1].startswith("saved ") and (tmp_path / "dataset.bin").read_bytes() == data
    assert os.listdir(tmp_path) == ["dataset.bin"]


def test_a_week_old_part_a_get_goes_on_with_is_not_cleaned_away_first(tmp_path, data):
    """bob came back to the data set after eight days and typed /get: it asked from his partial
    file, whose file-start then ran the week's cleanup, which removed that very file; the
    download started again from 0 ('the part kept here is shorter than when it was asked for')."""
    transfers, half = half_fetched(tmp_path, data)
    transfers.command(FileCommand(name="cancel", file_id="7"))
    week_ago = time.time() - STALE_PARTIAL_SECONDS - 24 * 3600
    os.utime(partial_path(tmp_path, "dataset.bin", _sum(data)), (week_ago, week_ago))
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert get.offset == half
    replies, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half), *pieces(data, half)])
    assert replies == [] and texts(lines)[-1].startswith("saved ") and "resumed at 1.1 MiB" in texts(lines)[-1]
    assert (tmp_path / "dataset.bin").read_bytes() == data


def test_the_weeks_cleanup_leaves_a_partial_name_that_is_not_its_own(tmp_path, data):
    """A week-old name of a partial file is removed by the next download into the folder, but only
    one lanchat wrote: not a second name a person gave a file of theirs, nor another user's."""
    mine = tmp_path / "notes.txt"
    mine.write_bytes(b"my notes")
    linked = partial_path(tmp_path, "notes.txt", "cd" * 32)
    os.link(mine, linked)
    theirs = partial_path(tmp_path, "theirs.iso", "ef" * 32)
    theirs.write_bytes(b"half of another user's iso")
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_root:
        os.chown(theirs, 65534, 65534)
    week_ago = time.time() - STALE_PARTIAL_SECONDS - 60
    for path in (mine, theirs):
        os.utime(path, (week_ago, week_ago))
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(offered(data))
    transfers.command(FileCommand(name="get", file_id="7"))
    _, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data)])
    assert texts(lines)[-1].startswith("saved ")
    assert linked.read_bytes() == b"my notes"
    assert theirs.exists() or not as_root


def test_a_lost_connection_keeps_the_part_and_the_rejoins_offer_asks_from_there(tmp_path, data):
    transfers, half = half_fetched(tmp_path, data)
    assert texts(cut_off(transfers)) == ["connection lost: stopped receiving dataset.bin at 52%; kept 1.1 MiB of it: it goes on from there once back, if still on offer"]
    replies, lines = transfers.on_event(offered(data))  # the rejoin's offers
    assert sans_req(replies) == [ev.GetFile(id="7", binary=True, offset=half, sha256=_sum(data))]
    assert texts(lines) == ["asking for dataset.bin again, from where it stopped"]
    assert transfers.on_event(offered(data)) == ([], [])  # asked once
    # after a restart without history, the id may be another file: not asked for
    feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half), *pieces(data, half, half + BINARY_CHUNK_BYTES)])
    cut_off(transfers)
    replies, lines = transfers.on_event(offered(b"another file" * 100_000))
    assert replies == [] and texts(lines) == ["the download of dataset.bin does not go on: #7 is another file now"]
    # the chat's end keeps it too, and says how a /get goes on (#7 dataset.bin again: the get asks from its part)
    transfers.on_event(offered(data))
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert get.offset == half + BINARY_CHUNK_BYTES
    feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=get.offset)])
    assert texts(cut_off(transfers, "the chat ended", for_good=True)) == [
        "the chat ended: stopped receiving dataset.bin at 55%; kept 1.1 MiB of it: a /get of it goes on from there"
    ]
    assert transfers.on_event(offered(data)) == ([], [])


def test_a_download_cut_with_nothing_kept_is_asked_for_again_from_the_start_once_back(tmp_path, data):
    """carl fetched the data set bob was fetching into the same folder (bob's lanchat held its
    partial file, so carl's waited unnamed): the drop cut both, bob's went on by itself after the
    rejoin, and carl's was never asked for again, though a /get not yet begun would have been."""
    bob, half = half_fetched(tmp_path, data)
    carl = ClientTransfers(tmp_path)
    carl.on_event(offered(data))
    (get,), _ = carl.command(FileCommand(name="get", file_id="7"))
    assert sans_req(get) == ev.GetFile(id="7", binary=True)
    feed(carl, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data, 0, half)])
    assert texts(cut_off(carl)) == ["connection lost: stopped receiving dataset.bin; nothing of it was kept; it is asked for again once back, if still on offer"]
    bob.close()  # (bob's part, let go, is carl's to go on with now)
    replies, lines = carl.on_event(offered(data))
    assert sans_req(replies) == [ev.GetFile(id="7", binary=True, offset=half, sha256=_sum(data))]
    assert texts(lines) == ["asking for dataset.bin again, from where it stopped"]


def test_a_cancel_while_offline_stops_the_get_once_back_and_keeps_the_part(tmp_path, data):
    """/cancel while the connection was down answered 'not connected': a student could not stop
    the download a lost connection cut short from being asked for again once back. Now it forgets
    that wish, says so, and the part kept stays for a /get."""
    transfers, half = half_fetched(tmp_path, data)
    cut_off(transfers)
    replies, lines = transfers.command(FileCommand(name="cancel", file_id="7"), offline=True)
    assert replies == []
    assert texts(lines) == ["the download of dataset.bin (#7) is not asked for again; kept 1.1 MiB of it: /get 7 goes on from there"]
    _, lines = transfers.command(FileCommand(name="cancel", file_id=""), offline=True)
    assert texts(lines) == ["not connected: no file is being sent or received, nor asked for again once back"]
    assert transfers.on_event(offered(data)) == ([], [])  # back, and it is on offer: not asked for
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert sans_req(get) == ev.GetFile(id="7", binary=True, offset=half, sha256=_sum(data))


def test_a_cancel_once_back_stops_a_get_waiting_for_its_offer(tmp_path, data):
    """Back, the file not (yet) offered again: /cancel said '#7 is not being sent or received',
    and it was still asked for whenever its offer came."""
    transfers, _half = half_fetched(tmp_path, data)
    cut_off(transfers)
    _, lines = transfers.command(FileCommand(name="cancel", file_id=""))
    assert texts(lines) == ["the download of dataset.bin (#7) is not asked for again; kept 1.1 MiB of it: /get 7 goes on from there"]
    assert transfers.on_event(offered(data)) == ([], [])


def test_a_download_promised_again_once_back_says_so_when_the_rejoin_says_its_offer_went(tmp_path, data):
    """'it goes on from there once back, if still on offer', and the offer had gone while bob was
    away (its sender left): no further line came, ever, and the promise stood."""
    transfers, half = half_fetched(tmp_path, data)
    cut_off(transfers)
    went = "dataset.bin (#7) went when ann left: a file is on offer only while its sender is here"
    replies, lines = transfers.on_event(ev.FileError(id="7", message=went))  # server_files: _gone_meanwhile
    assert replies == [] and texts(lines) == [f"{went}; kept 1.1 MiB of it: a /get of it goes on from there if it is offered again"]
    assert transfers.resume_on_offer == {}
    assert transfers.on_event(offered(data)) == ([], [])  # said once; not asked for again after all
    transfers.on_event(offered(data, file_id="9"))  # the same file offered again, under a new id
    (get,), _ = transfers.command(FileCommand(name="get", file_id="9"))
    assert get.offset == half


def test_a_download_promised_again_whose_offer_is_not_back_once_the_rejoin_settled_says_so_once(tmp_path, data):
    """A rejoin to a room that restarted (or no longer knew the session) hears nothing of the
    files its lost connection was fetching: the download promised to go on 'once back, if still on
    offer' got no further line, ever. Once the rejoin's replay and offers have settled, each such
    download says once that it is not on offer now, what is kept, and how to go on."""
    transfers, half = half_fetched(tmp_path, data)
    transfers.on_event(offered(b"small" * 10, file_id="8", name="notes.txt"))
    transfers.command(FileCommand(name="get", file_id="8"))  # asked, not begun
    cut_off(transfers)
    assert set(transfers.resume_on_offer) == {"7", "8"}
    assert texts(not_back_on_offer(transfers)) == [
        "the download of dataset.bin (#7) does not go on: it is not on offer now; kept 1.1 MiB of it: a /get of it goes on from there when it is offered again (/files)",
        "the download of notes.txt (#8) does not go on: it is not on offer now; /get it when it is offered again (/files)",
    ]
    assert not_back_on_offer(transfers) == [] and transfers.resume_on_offer == {}  # said once
    assert transfers.on_event(offered(data, file_id="12")) == ([], [])  # the teacher sends it again: no longer asked by itself
    (get,), _ = transfers.command(FileCommand(name="get", file_id="12"))
    assert get.offset == half  # a /get goes on from what was kept
    # one the rejoin did offer again is asked for, and not said to be gone
    (tmp_path / "again").mkdir()
    transfers, _ = half_fetched(tmp_path / "again", data)
    cut_off(transfers)
    replies, _ = transfers.on_event(offered(data))
    assert replies and not_back_on_offer(transfers) == []


def test_only_the_pong_of_a_rejoins_ping_says_what_was_not_offered_again(tmp_path, data):
    """client.welcomed pings on a rejoin's welcome while downloads wait for their offers: its pong,
    after the offers, says which did not come, once; another pong, or one of an earlier
    connection (cut off again before it came), says nothing."""
    transfers, _half = half_fetched(tmp_path, data)
    cut_off(transfers)
    assert offers_came(transfers) == []  # a pong nobody waited for (the liveness ping's)
    transfers.offers_awaited = True
    cut_off(transfers)  # lost again before the pong: it never comes
    assert not transfers.offers_awaited and offers_came(transfers) == []
    transfers.offers_awaited = True
    assert texts(offers_came(transfers)) == [
        "the download of dataset.bin (#7) does not go on: it is not on offer now; kept 1.1 MiB of it: a /get of it goes on from there when it is offered again (/files)"]
    assert offers_came(transfers) == [] and transfers.resume_on_offer == {}


def test_a_rejoins_welcome_pings_only_while_a_download_waits_and_counts_it_against_the_flood_limit(tmp_path, data):
    """client.welcomed: the rejoin's ping goes only on a rejoin's welcome (Reconnect.finished set
    its settle), from a server that answers pings, while a download waits for its offer; the room
    counts a ping as a request, so the pacer's mirror of its bucket spends a token for it too (else
    the pacer's next line over the allowance is refused: slow-down)."""
    from types import SimpleNamespace

    from lanchat.client import Paced, welcomed
    from lanchat.liveness import Liveness

    cases = ((1.0, True, True, True), (None, True, True, False), (1.0, False, True, False), (1.0, True, False, False))
    for number, (settle_at, promised, ping, asked) in enumerate(cases):  # a rejoin's, a first join's, nothing promised, no ping
        (tmp_path / str(number)).mkdir()
        transfers, _half = half_fetched(tmp_path / str(number), data)
        if promised:
            cut_off(transfers)
        written: list[ev.Event] = []
        loop = SimpleNamespace(paced=Paced(), liveness=Liveness(time.monotonic), reconnect=SimpleNamespace(settle_at=settle_at),
                               transfers=transfers, _write=written.append)
        welcomed(loop, ev.Welcome(name="bob", mode="duplex", members=("ann", "bob"), ping=ping, flood_burst=10, flood_rate=2.0))  # type: ignore[arg-type]
        assert written == ([ev.Ping()] if asked else []) and transfers.offers_awaited == asked, number
        bucket = loop.paced.pacer.bucket
        assert bucket.tokens == pytest.approx(bucket.capacity - 1 if asked else bucket.capacity, abs=0.01), number


def test_from_a_server_answering_no_ping_the_settle_waits_for_a_quiet_room_before_saying_what_was_not_offered(tmp_path, data):
    """A server that answers no ping (an older lanchat; PROTOCOL.md, Liveness): the rejoin's
    offers were taken to have come 2 s after the welcome, however slow the link, so a replay still
    coming then (8 KB/s: 3.5 s for 50 lines) had 'the download of dataset.bin (#7) does not go on:
    it is not on offer now' said of a file offered just after. The settle now waits until the room
    has been quiet for 2 s, up to 30 s after the welcome; a quiet room is settled at 2 s as before."""
    from types import SimpleNamespace

    from lanchat import client
    from lanchat.liveness import Liveness

    now = [1000.0]
    transfers, _half = half_fetched(tmp_path, data)
    cut_off(transfers)
    shown: list[str] = []
    liveness = Liveness(lambda: now[0])
    reconnect = SimpleNamespace(settle_at=now[0] + client.REPLAY_SETTLE_SECONDS, rejoined=(now[0], now[0] - 60.0))
    loop = SimpleNamespace(session=SimpleNamespace(rejoin=SimpleNamespace(settled=lambda: None)), transfers=transfers, liveness=liveness,
                           reconnect=reconnect, frontend=SimpleNamespace(show=lambda lines: shown.extend(line.text for line in lines)))
    liveness.welcomed(False)  # the welcome: no ping answered here
    for at in (1.0, 2.5, 3.4):  # the replay trickles in
        now[0] = 1000.0 + at
        liveness.heard()
    now[0] = 1002.0  # the first settle: bytes came 0.6 s ago
    client.rejoin_settled(loop)  # type: ignore[arg-type]
    assert shown == [] and reconnect.settle_at == pytest.approx(1005.4)
    transfers.on_event(offered(data))  # the offer comes at last: asked for again
    assert "7" in transfers.wanted and transfers.resume_on_offer == {}
    now[0] = 1005.4
    client.rejoin_settled(loop)  # type: ignore[arg-type]
    assert shown == []  # nothing said gone
    # one that never comes back: said once the room is quiet, or at the ceiling in a busy room
    for busy in (False, True):
        (tmp_path / f"busy{busy}").mkdir()
        transfers, _half = half_fetched(tmp_path / f"busy{busy}", data)
        cut_off(transfers)
        loop.transfers = transfers
        reconnect.rejoined, reconnect.settle_at = (now[0], now[0] - 60.0), now[0] + client.REPLAY_SETTLE_SECONDS
        liveness.welcomed(False)
        start = now[0]
        while not shown and now[0] < start + 40:
            now[0] += 1.0
            if busy:
                liveness.heard()  # live lines every second
            if now[0] >= reconnect.settle_at:
                client.rejoin_settled(loop)  # type: ignore[arg-type]
        assert shown == ["the download of dataset.bin (#7) does not go on: it is not on offer now; kept 1.1 MiB of it: "
                         "a /get of it goes on from there when it is offered again (/files)"], busy
        assert now[0] - start == pytest.approx(client.OFFERS_SETTLE_CEILING if busy else client.REPLAY_SETTLE_SECONDS), busy
        shown.clear()


def test_a_rejoins_ping_refused_as_a_flood_says_what_was_not_offered_again_at_once(tmp_path, data):
    """The room's flood limit refused the ping a rejoin's welcome sent (client.welcomed: another
    session of ours, or a class behind one address, spent the allowance): the refusal comes where
    its pong would, after the rejoin's offers, and answers it as the liveness ping takes it. The
    'does not go on' line waited for the next pong instead, 15 s of quiet at the least. A refusal
    of anything else (a line of ours, held to go again) is no such answer."""
    from lanchat.client import ClientLoop
    from lanchat.protocol import Connection, Role
    from lanchat.session import Session

    transfers, _half = half_fetched(tmp_path, data)
    cut_off(transfers)
    shown: list[str] = []
    near, far = socket.socketpair()
    loop = None
    frontend = type("Quiet", (), {"fileno": lambda self: far.fileno(), "show": lambda self, lines: shown.extend(line.text for line in lines),
                                  "update": lambda self: None})()  # fmt: skip
    try:
        loop = ClientLoop(near, Connection(Role.CLIENT), Session(name="bob"), frontend, transfers=transfers)  # type: ignore[arg-type]
        transfers.offers_awaited = True  # the rejoin's welcome pinged
        slow = "slow down: that was not sent (at most 10 at once, then 3 a second); try again in 0.3 s"
        loop._handle_events([ev.Error(code=ev.E_SLOW_DOWN, message=slow, refused='{"type":"say","text":"ping"}', retry_after=0.3)])
        assert not [text for text in shown if "does not go on" in text] and transfers.offers_awaited
        shown.clear()  # (that refusal, of no line held here, is shown as an error: not this test's matter)
        loop._handle_events([ev.Error(code=ev.E_SLOW_DOWN, message=slow, refused='{"type":"ping"}', retry_after=0.3)])
        assert shown[-1] == ("the download of dataset.bin (#7) does not go on: it is not on offer now; kept 1.1 MiB of it: "
                             "a /get of it goes on from there when it is offered again (/files)")
        assert not transfers.offers_awaited and transfers.resume_on_offer == {} and not [text for text in shown if "slow down" in text]
        loop._handle_events([ev.Pong()])  # the next pong: said once
        assert sum("does not go on" in text for text in shown) == 1
    finally:
        if loop is not None:
            loop.selector.close()
        near.close()
        far.close()


def test_a_download_cut_short_goes_on_when_the_same_file_is_offered_again_under_another_id(tmp_path, data):
    """The sender left while bob was away and, back, sent the data set again (or the server
    restarted and the teacher sent it again): the same file, by its SHA-256, as #12. The download
    promised to go on 'once back, if still on offer' waited for #7 for ever."""
    transfers, half = half_fetched(tmp_path, data)
    cut_off(transfers)
    replies, lines = transfers.on_event(offered(data, file_id="12"))
    assert sans_req(replies) == [ev.GetFile(id="12", binary=True, offset=half, sha256=_sum(data))]
    assert texts(lines) == ["asking for dataset.bin again as #12, from where it stopped"]
    assert transfers.resume_on_offer == {}
    assert transfers.on_event(offered(data, file_id="7")) == ([], [])  # asked once


def test_the_same_bytes_offered_under_another_name_are_not_taken_for_a_download_cut_short(tmp_path, data):
    """Someone else offered the same bytes as 'answers.bin' (#12): bob's client fetched it by
    itself, unasked, from the start (the part kept is dataset.bin's), saying 'asking for
    answers.bin again as #12', a file he never asked for, and left dataset.bin's part unused."""
    transfers, half = half_fetched(tmp_path, data)
    cut_off(transfers)
    assert transfers.on_event(offered(data, file_id="12", name="answers.bin")) == ([], [])
    assert transfers.resume_on_offer == {"7": _sum(data)}  # still waiting for dataset.bin
    replies, lines = transfers.on_event(offered(data, file_id="13"))
    assert sans_req(replies) == [ev.GetFile(id="13", binary=True, offset=half, sha256=_sum(data))]
    assert texts(lines) == ["asking for dataset.bin again as #13, from where it stopped"]


def test_a_download_gone_on_with_under_another_id_is_not_said_to_have_gone(tmp_path, data):
    """The rejoin's offers bring the same file as #12 (asked for: 'asking for dataset.bin again as
    #12, from where it stopped'), then its file-error for #7 ('dataset.bin (#7) went when ann
    left: ...'): read just after, it said the download was lost when it was going on."""
    transfers, _ = half_fetched(tmp_path, data)
    cut_off(transfers)
    transfers.on_event(offered(data, file_id="12"))
    went = "dataset.bin (#7) went when ann left: a file is on offer only while its sender is here"
    assert transfers.on_event(ev.FileError(id="7", message=went)) == ([], [])
    assert "12" in transfers.wanted
    # passed over once, that rejoin only: a file-error about #7 after the next one is said
    cut_off(transfers)
    assert texts(transfers.on_event(ev.FileError(id="7", message=went))[1]) == [went]


def test_a_download_cancelled_before_the_rejoin_is_not_said_to_have_gone(tmp_path, data):
    """bob stopped the download himself: /cancel typed as the link died (the cancel went into a
    dead connection, so the server still counted the download his), or typed offline. Back, the
    rejoin's word that the file went (server_files: _gone_meanwhile) said 'dataset.bin (#7) went
    when ann left: ...' of a download he had cancelled. No news to him now; a file-error about #7
    that answers a get of his is still said."""
    went = "dataset.bin (#7) went when ann left: a file is on offer only while its sender is here"
    for offline in (False, True):
        (tmp_path / str(offline)).mkdir()
        transfers, _half = half_fetched(tmp_path / str(offline), data)
        if offline:
            cut_off(transfers)
        replies, lines = transfers.command(FileCommand(name="cancel", file_id="7"), offline=offline)
        assert [type(reply) for reply in replies] == ([] if offline else [ev.CancelFile]) and len(lines) == 1
        cut_off(transfers)
        assert transfers.on_event(ev.FileError(id="7", message=went)) == ([], []), offline
        transfers.on_event(offered(data, file_id="7"))  # offered again later, asked for again: its errors are news
        transfers.command(FileCommand(name="get", file_id="7"))
        gone = "#7 is no longer on offer (/files lists what is)"
        assert texts(transfers.on_event(ev.FileError(id="7", message=gone))[1]) == [gone], offline


def test_a_rejoin_hears_which_of_the_files_its_lost_connection_was_fetching_went_meanwhile(tmp_path, data):
    with store_and_room(tmp_path / "store", ((1, "ann"), (2, "bob"), (4, "cat"))) as (store, room):
        ids = {}
        for owner, ref in ((1, 1), (4, 2)):
            ids[owner] = stored_offer(store, room, data, ref, "dataset.bin", owner)
        for file_id in ids.values():
            store.handle(room, 2, ev.GetFile(id=file_id, binary=True))
        store.forget(2, away=True)  # bob's link drops mid-download
        store.forget(1)  # ann leaves meanwhile: her file goes; cat's stays
        told = [a.event for a in store.offers_for(3, resumed=2, name="bob") if isinstance(a, Send)]
        assert [type(e) for e in told] == [ev.Offered, ev.FileError] and told[0].id == ids[4]
        assert told[1] == ev.FileError(id=ids[1], message=f"dataset.bin (#{ids[1]}) went when ann left: a file is on offer only while its sender is here")
        assert [type(a.event) for a in store.offers_for(3, resumed=2, name="bob") if isinstance(a, Send)] == [ev.Offered]  # said once
        store.handle(room, 5, ev.GetFile(id=ids[4], binary=True))
        store.forget(5, away=True)
        assert [type(a.event) for a in store.offers_for(6) if isinstance(a, Send)] == [ev.Offered]  # not to whoever joins


def _bob_fetching_the_data_set_behind_500_offers(store: ServerFiles, room: Room, data: bytes, *, dropped: bool) -> str:
    """ann, bob and 11 classmates each at a machine of their own; bob fetching ann's data set (his
    link dropped mid-download if ``dropped``), then MAX_LISTED newer offers (at most 50 each): the
    data set's id."""
    for cid in range(1, 14):  # 1 ann, 2 bob, 3-13 the class
        room.moderation.arrive(cid, f"192.168.1.{cid}")
        room.handle(cid, ev.Hello(name=f"p{cid}"))
    dataset = stored_offer(store, room, data, 1, "dataset.bin", 1)
    store.handle(room, 2, ev.GetFile(id=dataset, binary=True))
    if dropped:
        store.forget(2, away=True)  # bob's link drops mid-download
    for number in range(MAX_LISTED):
        stored_offer(store, room, b"work %d" % number, number + 2, f"work{number}.txt", 3 + number % 11)
    return dataset


def test_a_rejoin_is_offered_again_the_file_it_was_fetching_however_many_newer_offers_there_are(tmp_path, data):
    """More than 500 files offered since the data set (a class sharing its work): a rejoin's
    offers are the newest 500 (files.MAX_LISTED), so the data set bob was fetching, still on offer,
    was not among them, and no word came that it went: bob's client, promised to go on 'once
    back, if still on offer', said 'the download of dataset.bin (#1) does not go on: it is not on
    offer now' and did not ask for it. The files a lost connection was fetching come too, however old."""
    store, room = ServerFiles(tmp_path / "store"), Room()
    try:
        dataset = _bob_fetching_the_data_set_behind_500_offers(store, room, data, dropped=True)
        told = [a.event for a in store.offers_for(14, resumed=2, name="bob") if isinstance(a, Send)]
        assert [type(e) for e in told] == [ev.Offered] * (MAX_LISTED + 1) and told[0].id == dataset
        assert told[1:] == [a.event for a in store.offers_for(15) if isinstance(a, Send)]  # whoever joins: the newest 500 only
        transfers = ClientTransfers(tmp_path)  # bob's client takes the old one up again
        transfers.on_event(offered(data, file_id=dataset))
        transfers.command(FileCommand(name="get", file_id=dataset))
        cut_off(transfers)
        asked = [transfers.on_event(event)[0] for event in told]
        assert sans_req([get for gets in asked for get in gets]) == [ev.GetFile(id=dataset, binary=True)]
        assert not_back_on_offer(transfers) == []
    finally:
        store.close()


def test_a_takeover_is_offered_again_the_file_its_old_connection_is_still_fetching(tmp_path, data):
    """A takeover (bob's client, back after a blip the server never noticed, joins again: the old
    connection leaves 'moved'): the hub sends the newcomer's offers while the old connection is
    not closed yet, its download still live, not yet cut short (forget comes at its close). With
    500 newer offers the data set was not among them, and bob's client took it for gone."""
    store, room = ServerFiles(tmp_path / "store"), Room()
    try:
        dataset = _bob_fetching_the_data_set_behind_500_offers(store, room, data, dropped=False)
        told = [a.event for a in store.offers_for(14, resumed=2, name="bob") if isinstance(a, Send)]
        store.forget(2, away=True)  # the old connection closes after the newcomer's offers
        assert [type(e) for e in told] == [ev.Offered] * (MAX_LISTED + 1) and told[0].id == dataset
        # its downloads were offered again already: its close keeps nothing for a rejoin that
        # cannot come (the session was taken back once); it was kept, never read, until pushed out
        assert store.cut_short == {} and store.taken_over == set()
    finally:
        store.close()


def test_a_rejoin_is_offered_again_only_old_files_it_may_still_fetch(tmp_path, data):
    """The attacker's side of offers_for's older offers (a rejoin among more than 500): bob's
    lost connection had asked for an old file offered to dee alone (refused: not his to see) and
    for cat's old file, and cat has left since (the offer went). Back, bob is offered again only
    the data set he may still fetch, told cat's went, and never sent the private one. (A guard,
    passing on 7c24ba9: the refused get is never remembered as fetched, server_files.forget.)"""
    store, room = ServerFiles(tmp_path / "store"), Room()
    try:
        for cid in range(1, 15):  # 1 ann, 2 bob, 3 cat, 4 dee, 5-14 the class
            room.moderation.arrive(cid, f"192.168.1.{cid}")
            room.handle(cid, ev.Hello(name=f"p{cid}"))
        dataset = stored_offer(store, room, data, 1, "dataset.bin", 1)
        catfile = stored_offer(store, room, b"cat's", 2, "cat.txt", 3)
        (ready,) = [a.event for a in store.handle(room, 1, ev.OfferFile(ref=3, name="marks.csv", size=5, to="p4")) if isinstance(a, Send)]
        store.handle(room, 1, ev.UploadBytes(id=ready.id, data=b"marks"))
        store.handle(room, 1, ev.UploadDone(id=ready.id, sha256=hashlib.sha256(b"marks").hexdigest()))
        for file_id in (dataset, catfile, ready.id):
            store.handle(room, 2, ev.GetFile(id=file_id, binary=True))
        store.forget(2, away=True)  # bob's link drops
        store.forget(3)  # cat leaves: cat.txt goes
        for number in range(MAX_LISTED):
            stored_offer(store, room, b"work %d" % number, number + 4, f"work{number}.txt", 5 + number % 10)
        told = [a.event for a in store.offers_for(15, resumed=2, name="p2") if isinstance(a, Send)]
        offered_ids = [e.id for e in told if isinstance(e, ev.Offered)]
        assert len(offered_ids) == MAX_LISTED + 1 and offered_ids[0] == dataset and ready.id not in offered_ids and catfile not in offered_ids
        assert [e.id for e in told if isinstance(e, ev.FileError)] == [catfile]  # (the private one: never his, nothing said)
    finally:
        store.close()


def test_pieces_before_their_file_start_are_said_once_and_asked_for_again(tmp_path, data):
    """A server that sent a download's first pieces before its file-start (the ordering bug of
    tests/test_class_download_order.py): the client dropped them silently and waited for ever,
    the file short by what it dropped."""
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(offered(data))
    transfers.command(FileCommand(name="get", file_id="7"))
    early = pieces(data, 0, 3 * BINARY_CHUNK_BYTES)
    replies, lines = feed(transfers, early)
    assert sans_req(replies) == [ev.CancelFile(id="7"), ev.GetFile(id="7", binary=True)]
    assert texts(lines) == ["pieces of dataset.bin came before the server said it was starting it; asking for it again"]
    # the first asking's file-start after all, and its other pieces, then the second asking's
    start = ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data))
    replies, lines = feed(transfers, [start, *pieces(data, 3 * BINARY_CHUNK_BYTES, 6 * BINARY_CHUNK_BYTES), start, *pieces(data)])
    assert replies == [] and texts(lines)[-1].startswith("saved ")
    assert (tmp_path / "dataset.bin").read_bytes() == data and not transfers.wanted and not transfers.reasked


def test_the_server_goes_on_from_the_offset_of_the_same_file_only(tmp_path, data):
    with store_and_room(tmp_path / "store") as (store, room):
        offer_id = stored_offer(store, room, data, 1, "dataset.bin")

        def fetch(**asked: object) -> tuple[ev.FileStart, bytes]:
            (sent,) = store.handle(room, 2, ev.GetFile(id=offer_id, binary=True, **asked))  # type: ignore[arg-type]
            assert isinstance(sent, Send) and isinstance(sent.event, ev.FileStart)
            got = b""
            while (piece := store.next_chunk(2)) is not None:
                assert isinstance(piece, ev.FileBytes)
                got += piece.data
            for handed in store.handed:  # its last piece is out: what the hub's pacer does once it is written
                store.fetched_whole(*handed)
            store.handed.clear()
            return sent.event, got

        start, got = fetch(offset=1000, sha256=_sum(data))
        assert start.offset == 1000 and got == data[1000:] and start.size == len(data)
        assert ev.FileStart(id="1", name="x", size=1, sha256="0" * 64).to_json().get("offset") is None  # absent when 0
        for asked in ({"offset": 1000, "sha256": "0" * 64}, {"offset": len(data) + 1}, {"offset": -5}):  # another file's; past the end
            start, got = fetch(**asked)
            assert start.offset is None and got == data
        assert store.book.offers[offer_id].fetched_count(1) == 1  # bob, once however often
        store.book.offers[offer_id].fetched_by.clear()
        start, got = fetch(offset=len(data))  # all of it held: only the check is left
        assert start.offset == len(data) and got == b""
        assert store.book.offers[offer_id].fetched_count(1) == 1  # bob has all of it: counted as fetched


def test_gets_waiting_behind_downloads_with_nothing_left_to_send_still_start(tmp_path):
    """Five gets at once of files the client holds whole (resumes from their end: a file-start and
    nothing more): four start, the fifth waits for a place. The four, ending in one next_chunk, freed
    their places without starting it, and with no other download under way the server's loop (which
    asks the pacer only while ``downloads`` holds one) never asked again: its file-start never came."""
    with store_and_room(tmp_path / "store") as (store, room):
        content = b"abc"
        ids = [stored_offer(store, room, content, ref, f"f{ref}.txt") for ref in range(1, 6)]
        told = []
        for file_id in ids:
            asked = ev.GetFile(id=file_id, binary=True, offset=len(content), sha256=_sum(content))
            told += [a.event for a in store.handle(room, 2, asked) if isinstance(a, Send)]
        assert len(told) == MAX_DOWNLOADS_AT_ONCE
        while store.downloads and (piece := store.next_chunk(2)) is not None:  # as server.py asks
            told.append(piece)
        assert [(type(e), e.id, e.offset) for e in told] == [(ev.FileStart, i, len(content)) for i in ids]
        assert not store.wants_to_send(2)


# ------------------------------------------------------------- the user's side


def room_with_a_dataset(tmp_path: Path, size: int, *server_args: str, history: Path | None = None) -> tuple[bytes, Path, Path, Proc, int]:
    """A real server (ann; no history, or ``history``'s file) and a file of ``size`` random bytes
    for her to /send, and bob's downloads folder: (the bytes, the file, the folder, the server, its port)."""
    data = os.urandom(size)
    source = tmp_path / "dataset.bin"
    source.write_bytes(data)
    downloads = tmp_path / "bob-downloads"
    downloads.mkdir()
    keeping = ("--history", str(history)) if history is not None else ("--no-history",)
    ann, port = start_server("--name", "ann", *keeping, "--files-dir", str(tmp_path / "store"), "--downloads", str(tmp_path), *server_args)
    assert port is not None
    return data, source, downloads, ann, port


@dataclass
class CutMidway:
    """bob's download of an 8 MiB data set from a real room, cut with 3 MiB of it on its way: his
    link (``link``, a BadLink) now leads nowhere (the room's machine gone from the Wi-Fi) until
    ``back``. ``procs``: every process to end after the test (bob first), a test's own too."""

    data: bytes
    downloads: Path
    ann: Proc
    port: int
    bob: Proc
    offering: Proc  # who offered it: ann, or the student named
    link: BadLink
    file_id: str
    procs: list[Proc]

    def back(self, port: int | None = None, rate: int = 0) -> None:
        """bob's link leads to the room again (at ``port``: a server started anew), ``rate`` bytes a second (0: at once)."""
        self.link.target, self.link.rate = ("127.0.0.1", self.port if port is None else port), rate


@contextlib.contextmanager
def a_download_cut_midway(tmp_path: Path, *, sender: str = "ann", history: Path | None = None, cancelled: bool = False) -> Iterator[CutMidway]:
    """A real server (room_with_a_dataset), bob through a BadLink; ``sender`` (ann, the host, or a
    student joined before bob) offers the data set, bob /gets it, and with 3 MiB on its way the
    link is cut and leads to a bound socket that never listens (a connection to it is refused):
    bob has said the download goes on once back, if still on offer. ``cancelled``: the link dies
    as bob types /cancel (it carries nothing from then on: the room never reads the cancel), and
    bob has said what was kept instead. Ends every process after."""
    data, source, downloads, ann, port = room_with_a_dataset(tmp_path, 8 * MB, history=history)
    nowhere = socket.socket()  # bound, never listening: a connection to it is refused
    nowhere.bind(("127.0.0.1", 0))
    link = BadLink(("127.0.0.1", port), rate=8 * MB)
    procs = [ann]
    try:
        ann.expect(r"welcome, ann")
        offering = ann
        if sender != "ann":
            offering = Proc("connect", "127.0.0.1", str(port), "--name", sender)
            procs.insert(0, offering)
            offering.expect(rf"welcome, {sender}")
        bob = Proc("connect", "127.0.0.1", str(link.port), "--name", "bob", "--downloads", str(downloads))
        procs.insert(0, bob)
        bob.expect(r"welcome, bob")
        offering.send(f"/send {source}")
        file_id = bob.expect(rf"{sender} offers dataset\.bin .*/get (\d+) to download it").group(1)
        bob.send(f"/get {file_id}")
        wait_for(lambda: link.down_bytes >= 3 * MB, what="3 MiB of it on its way to bob")
        if cancelled:
            link.stall()
            bob.send(f"/cancel {file_id}")
            bob.expect(rf"stopped receiving dataset\.bin; kept [\d.]+ MiB of it: /get {file_id} goes on from there")
        link.target = nowhere.getsockname()
        link.cut()
        link.resume()
        bob.expect(r"connection lost; retrying" if cancelled else r"connection lost: stopped receiving dataset\.bin at \d+%; kept [\d.]+ MiB of it: "
                   r"it goes on from there once back, if still on offer")
        yield CutMidway(data=data, downloads=downloads, ann=ann, port=port, bob=bob, offering=offering, link=link, file_id=file_id, procs=procs)
    finally:
        for proc in procs:
            proc.stop()
        link.close()
        nowhere.close()


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_download_cut_midway_goes_on_after_the_rejoin_without_sending_again_what_came(tmp_path, tls):
    size = 8 * MB
    (tmp_path / "tls").mkdir()
    secure = ("--tls", "--tls-dir", str(tmp_path / "tls")) if tls else ()
    data, source, downloads, ann, port = room_with_a_dataset(tmp_path, size, *secure)
    link = BadLink(("127.0.0.1", port), rate=8 * MB)  # (slow enough to cut it midway)
    bob = None
    try:
        pin = ("--fingerprint", ann.expect(r"fingerprint is (SHA256:\S+)").group(1)) if tls else ()
        ann.expect(r"welcome, ann")
        bob = Proc("connect", "127.0.0.1", str(link.port), "--name", "bob", "--downloads", str(downloads), *pin)
        bob.expect(r"welcome, bob")
        ann.send(f"/send {source}")
        file_id = bob.expect(r"ann offers dataset\.bin .*/get (\d+) to download it").group(1)
        before = link.down_bytes
        bob.send(f"/get {file_id}")
        wait_for(lambda: link.down_bytes - before >= 3 * MB, what="3 MiB of it on its way to bob")
        link.cut()  # (a reset both ways, as ss -K gives)
        bob.expect(r"connection lost: stopped receiving dataset\.bin at \d+%; kept [\d.]+ MiB of it: it goes on from there once back, if still on offer")
        link.rate = 0
        bob.expect(r"asking for dataset\.bin again, from where it stopped")
        bob.expect(r"resuming dataset\.bin \(8\.0 MiB\) from \d+%")
        bob.expect(r"saved .*dataset\.bin \(8\.0 MiB, resumed at [\d.]+ MiB: [\d.]+ MiB in .*; SHA-256 checked\)")
        assert (downloads / "dataset.bin").read_bytes() == data
        assert os.listdir(downloads) == ["dataset.bin"]
        # beyond the file: the frames' own bytes (TLS records' too), the rejoin's handshake, welcome and
        # replay, and the piece cut in half (60 KiB at most); starting again would be 3 MiB more
        sent_again = link.down_bytes - before - size
        assert link.connections == 2 and sent_again < 256 * 1024, f"{sent_again:,} bytes more than the file went to bob"
    finally:
        for proc in (bob, ann):
            if proc is not None:
                proc.stop()
        link.close()


def test_a_student_offline_can_cancel_the_get_once_back_and_fetch_the_rest_later(tmp_path):
    """The user's side of /cancel while offline: a real server, bob through a link that is cut
    and leads nowhere for a while (the room's machine gone from the Wi-Fi), bob's /cancel said
    'not connected' and the download went on by itself once back. Now it is not asked for, and a
    /get later goes on from what was kept."""
    with a_download_cut_midway(tmp_path) as cut:
        bob, file_id = cut.bob, cut.file_id
        bob.send(f"/cancel {file_id}")
        kept = bob.expect(rf"the download of dataset\.bin \(#{file_id}\) is not asked for again; kept ([\d.]+) MiB of it: /get {file_id} goes on from there").group(1)
        cut.back()
        bob.expect(r"back in the room")
        bob.send("/files")  # answered after the rejoin's offers, which asked for nothing
        bob.expect(r"files on offer \(1\):")
        assert "asking for dataset.bin again" not in bob.output and "resuming" not in bob.output
        bob.send(f"/get {file_id}")
        bob.expect(rf"resuming dataset\.bin \(8\.0 MiB\) from \d+% \({kept} MiB were kept\)")
        bob.expect(r"saved .*dataset\.bin \(8\.0 MiB, resumed at [\d.]+ MiB: .*; SHA-256 checked\)")
        assert (cut.downloads / "dataset.bin").read_bytes() == cut.data


def test_a_student_back_after_the_sender_left_reads_that_the_download_does_not_go_on(tmp_path):
    """The user's side: bob's link leads nowhere for a while (cut mid-download), cat, who sent the
    file, leaves meanwhile; back, bob read nothing more of the download he was told would go on
    'if still on offer'."""
    with a_download_cut_midway(tmp_path, sender="cat") as cut:
        cat = cut.offering
        cat.send("/q")
        assert cat.wait() == 0
        cut.ann.expect(r"cat left")
        cut.back()
        cut.bob.expect(r"back in the room")
        cut.bob.expect(rf"dataset\.bin \(#{cut.file_id}\) went when cat left: a file is on offer only while its sender is here; kept [\d.]+ MiB of it: a /get of it goes on from there if it is offered again")


def test_a_student_who_cancelled_as_the_link_died_is_not_told_the_download_went_when_back(tmp_path):
    """The user's side: bob typed /cancel as his Wi-Fi died (the cancel never reached the room),
    cat, who sent the file, left while bob was away; back, bob read 'dataset.bin (#N) went when
    cat left: ...' of a download he had stopped himself, as if it were news."""
    with a_download_cut_midway(tmp_path, sender="cat", cancelled=True) as cut:
        cat = cut.offering
        cat.send("/q")
        assert cat.wait() == 0
        cut.ann.expect(r"cat left")
        cut.back()
        cut.bob.expect(r"back in the room")
        cut.bob.send("/files")  # answered after the rejoin's offers and its word on what went
        cut.bob.expect(r"no files are on offer")
        assert "went when cat left" not in cut.bob.output and "asking for dataset.bin again" not in cut.bob.output


def test_a_student_back_in_a_restarted_room_reads_that_the_download_does_not_go_on(tmp_path):
    """The user's side: bob's link leads nowhere for a while (cut mid-download) and the room's
    server is restarted meanwhile (its PID ended, a new one started): back in the new room, which
    knows nothing of the file, bob read nothing more of the download promised to go on 'if still
    on offer'. Now, once the rejoin has settled, he reads that it does not, once."""
    with a_download_cut_midway(tmp_path) as cut:
        bob = cut.bob
        cut.ann.stop()  # the room's server ends (by its PID) and is started again
        again, new_port = start_server("--name", "ann", "--no-history", "--files-dir", str(tmp_path / "store2"))
        cut.procs.append(again)
        assert new_port is not None
        cut.back(new_port)
        bob.expect(r"back in the room")
        said = bob.expect(rf"the download of dataset\.bin \(#{cut.file_id}\) does not go on: it is not on offer now; kept ([\d.]+) MiB of it: "
                          r"a /get of it goes on from there when it is offered again \(/files\)$")
        assert float(said.group(1)) >= 1.0
        mark = bob.mark()
        bob.send("/files")  # answered after all of the above: said once, nothing asked for
        bob.expect(r"no files are on offer", start=mark)
        assert bob.output.count("does not go on") == 1 and "asking for dataset.bin again" not in bob.output


def test_a_download_offered_again_after_a_slow_replay_goes_on_and_is_not_said_gone(tmp_path):
    """A room that keeps history, and a slow link back (8 KB/s: a classroom's Wi-Fi while everyone
    fetches the data set): the rejoin's replay of what bob missed took longer than the 2 s its
    settle waited, so bob read 'the download of dataset.bin (#1) does not go on: it is not on offer
    now' of a file offered just after, and it was not asked for again. Now the rejoin's ping is
    answered after its offers (PROTOCOL.md, Liveness), and only then is anything said."""
    with a_download_cut_midway(tmp_path, history=tmp_path / "history.sqlite3") as cut:
        ann, bob = cut.ann, cut.bob
        for number in range(60):  # what bob misses: a replay of some 16 KB
            ann.send(f"note {number} " + "x" * 300)
        ann.expect(r"note 59 ")
        cut.back(rate=5000)  # the replay alone takes over 3 s
        bob.expect(r"back in the room")
        bob.expect(r"asking for dataset\.bin again, from where it stopped", timeout=30)
        cut.link.rate = 0
        bob.expect(r"saved .*dataset\.bin \(8\.0 MiB, resumed at [\d.]+ MiB: .*; SHA-256 checked\)")
        assert (cut.downloads / "dataset.bin").read_bytes() == cut.data
        assert "does not go on" not in bob.output


def test_a_server_going_on_from_where_nothing_is_kept_is_refused_not_written(tmp_path):
    """A hostile (or confused) server's file-start with an offset for a download asked from the
    start: the bytes after it would be saved as the whole file, and checked against the wrong sum."""
    transfers = ClientTransfers(tmp_path)
    data = b"small file"
    transfers.on_event(offered(data))
    transfers.command(FileCommand(name="get", file_id="7"))
    replies, lines = transfers.on_event(ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=4))
    assert sans_req(replies) == [ev.CancelFile(id="7")]
    assert texts(lines) == ["cannot save dataset.bin: the server goes on from byte 4, and no part of it is kept here to go on from"]
    replies, lines = transfers.on_event(ev.FileStart(id="8", name="x.bin", size=5, sha256=_sum(data), offset=9))
    assert sans_req(replies) == [ev.CancelFile(id="8")] and os.listdir(tmp_path) == []


def test_a_server_going_on_from_an_offset_no_get_asked_for_is_refused_leaving_nothing(tmp_path, data):
    """A hostile server's file-start with an offset it was not asked for, on a large file: it was
    taken as a part that shrank, asked for again (the server could answer the same way for ever)
    and an empty partial file was left behind."""
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(offered(data))
    transfers.command(FileCommand(name="get", file_id="7"))  # nothing kept: from the start
    start = ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=MB)
    replies, lines = transfers.on_event(start)
    assert sans_req(replies) == [ev.CancelFile(id="7")]
    assert texts(lines) == [f"cannot save dataset.bin: the server goes on from byte {MB}, which it was not asked to"]
    assert os.listdir(tmp_path) == [] and not transfers.receiving
    # asked from ``half`` (a part the last run left), answered from elsewhere: refused too, and what was kept stays
    transfers, half = asked_from_a_last_runs_part(tmp_path, data)
    replies, _ = transfers.on_event(ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half // 2))
    assert sans_req(replies) == [ev.CancelFile(id="7")]
    assert partial_path(tmp_path, "dataset.bin", _sum(data)).stat().st_size == half


def test_a_get_not_begun_when_the_connection_dropped_is_asked_again_once_back(tmp_path, data):
    """A /get typed just before the Wi-Fi dropped: 'the download of #7 did not start', and then
    nothing; now asked again when the rejoin offers the same file under that id."""
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(offered(data))
    transfers.command(FileCommand(name="get", file_id="7"))
    assert texts(cut_off(transfers)) == ["connection lost: the download of #7 did not start; it is asked for again once back, if still on offer"]
    replies, lines = transfers.on_event(offered(data))
    assert sans_req(replies) == [ev.GetFile(id="7", binary=True)] and texts(lines) == ["asking for dataset.bin again"]


def test_a_clients_part_left_by_a_crash_is_found_again_by_the_next_run(tmp_path):
    """bob's laptop dies mid-download (SIGKILL: no stop, no cleanup); the next lanchat he starts,
    into the same folder, fetches the file from where the last one's partial file ends."""
    data, source, downloads, ann, port = room_with_a_dataset(tmp_path, 6 * MB)
    link = BadLink(("127.0.0.1", port), rate=8 * MB)
    procs = [ann]
    try:
        ann.expect(r"welcome, ann")
        bob = Proc("connect", "127.0.0.1", str(link.port), "--name", "bob", "--downloads", str(downloads))
        procs.append(bob)
        bob.expect(r"welcome, bob")
        ann.send(f"/send {source}")
        file_id = bob.expect(r"ann offers dataset\.bin .*/get (\d+) to download it").group(1)
        bob.send(f"/get {file_id}")
        wait_for(lambda: link.down_bytes >= 2 * MB, what="2 MiB of it on its way to bob")
        link.stall()  # (a frozen link: nothing more comes)
        partial = partial_path(downloads, "dataset.bin", _sum(data))
        wait_for(lambda: partial.exists() and partial.stat().st_size >= MB, what="bob's partial file")
        bob.popen.kill()
        bob.popen.wait(10)
        link.cut()  # (his connection goes with him, as the server's keepalive would find)
        held = partial.stat().st_size
        again = Proc("connect", "127.0.0.1", str(port), "--name", "bob2", "--downloads", str(downloads))
        procs.append(again)
        again.expect(r"welcome, bob2")
        again.expect(r"ann offers dataset\.bin .*/get (\d+) to download it")
        again.send(f"/get {file_id}")
        again.expect(rf"resuming dataset\.bin \(6\.0 MiB\) from \d+% \({held / MB:.1f} MiB were kept\)")
        again.expect(r"saved .*dataset\.bin \(6\.0 MiB, resumed at [\d.]+ MiB: [\d.]+ MiB in .*; SHA-256 checked\)")
        assert (downloads / "dataset.bin").read_bytes() == data and os.listdir(downloads) == ["dataset.bin"]
    finally:
        for proc in reversed(procs):
            proc.stop()
        link.close()


def test_a_full_disk_keeps_what_came_for_a_get_once_there_is_room(tmp_path, data):
    transfers, half = half_fetched(tmp_path, data)

    class FullDisk:
        def __init__(self, real):  # noqa: ANN001
            self.real = real

        def write(self, piece: bytes) -> int:
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str):  # noqa: ANN204
            return getattr(self.real, name)

    transfers.receiving["7"].handle = FullDisk(transfers.receiving["7"].handle)
    replies, lines = feed(transfers, pieces(data, half, half + BINARY_CHUNK_BYTES))
    assert sans_req(replies) == [ev.CancelFile(id="7")]
    assert texts(lines) == ["download of dataset.bin stopped: no space left on device; kept 1.1 MiB of it: /get 7 goes on from there"]
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert sans_req(get) == ev.GetFile(id="7", binary=True, offset=half, sha256=_sum(data))


@pytest.mark.parametrize("piece_bytes", [BINARY_CHUNK_BYTES, 1000], ids=["whole-pieces", "small-pieces"])
def test_a_download_that_fills_a_real_disk_says_what_it_kept_on_it(data, piece_bytes):
    """'kept N MiB' on a full disk counted what came, not what the disk took: bytes still in the
    write buffer (small pieces: '7.8 KiB kept' of a part of 0 bytes) or a piece's first part
    written before the disk said no (not counted). It says what the partial file holds, which a
    /get goes on from; and a part of nothing is not kept."""
    with small_disk("4m") as downloads:
        transfers = ClientTransfers(downloads)
        transfers.on_event(offered(data))
        transfers.command(FileCommand(name="get", file_id="7"))
        feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data))])
        filler = fill_disk(downloads, leave=100 * 1024 if piece_bytes == BINARY_CHUNK_BYTES else 0)
        lines: list = []
        for at in range(0, len(data), piece_bytes):
            _, said = feed(transfers, [ev.FileBytes(id="7", data=data[at : at + piece_bytes])])
            lines += said
            if "7" not in transfers.receiving:
                break
        partial = partial_path(downloads, "dataset.bin", _sum(data))
        held = partial.stat().st_size if partial.exists() else 0
        if held:
            assert texts(lines)[-1] == f"download of dataset.bin stopped: no space left on device; kept {human_size(held)} of it: /get 7 goes on from there"
        else:
            assert texts(lines)[-1] == "download of dataset.bin stopped: no space left on device"
        assert partial.read_bytes() == data[:held] if held else os.listdir(downloads) == [filler.name]
        filler.unlink()
        (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
        assert get.offset == (held or None)


def test_the_same_file_fetched_twice_at_once_does_not_share_a_part(tmp_path, data):
    """The teacher offered the same data set twice (#7 and #8) and both were fetched: the second
    asked from where the first's part (in use) ends, and was refused as having nothing to go on from."""
    transfers, half = half_fetched(tmp_path, data)
    transfers.on_event(offered(data, file_id="8"))
    (get,), _ = transfers.command(FileCommand(name="get", file_id="8"))
    assert sans_req(get) == ev.GetFile(id="8", binary=True)  # #7's part is being written: from the start, unnamed
    _, lines = feed(transfers, [ev.FileStart(id="8", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data, file_id="8")])
    assert not [text for text in texts(lines) if "cannot be resumed" in text]  # a lock held (_lock: False) is no folder without locks (None)
    assert texts(lines)[-1].startswith("saved ") and (tmp_path / "dataset.bin").read_bytes() == data
    _, lines = feed(transfers, pieces(data, half))
    assert texts(lines)[-1].startswith("saved ") and (tmp_path / "dataset (1).bin").read_bytes() == data


def test_a_part_taken_by_another_lanchat_after_the_get_is_asked_for_again_from_the_start(tmp_path, data):
    """Two lanchats downloading into one folder: one asked from the part left there, and the other
    took that part (and its lock) before the file-start came: refused, 'no part of it is kept
    here to go on from', and nothing more happened."""
    bob, half = asked_from_a_last_runs_part(tmp_path, data)
    carl = ClientTransfers(tmp_path)  # asks, and begins, first
    carl.on_event(offered(data))
    carl.command(FileCommand(name="get", file_id="7"))
    feed(carl, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half)])
    replies, lines = bob.on_event(ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half))
    assert sans_req(replies) == [ev.CancelFile(id="7"), ev.GetFile(id="7", binary=True)]
    assert texts(lines) == ["the part of dataset.bin kept here is in use by another lanchat now; asking for it from the start"]
    _, lines = feed(bob, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data)), *pieces(data)])
    assert texts(lines)[-1].startswith("saved ") and (tmp_path / "dataset.bin").read_bytes() == data
    carl.close()


def test_a_resumes_kept_part_is_read_a_slice_a_pass_not_all_when_it_starts(tmp_path, data):
    """The file-start of a resume read the whole kept part into the SHA-256 on the client's loop:
    0.11 s for 200 MiB from the page cache, longer from a slow disk, the screen and the chat frozen
    meanwhile. Now the loop reads it a slice a pass (hash_kept), the pieces coming meanwhile
    written and read back after it, in order; the whole file is still checked."""
    transfers, half = half_fetched(tmp_path, data)
    transfers.command(FileCommand(name="cancel", file_id="7"))
    transfers.command(FileCommand(name="get", file_id="7"))
    transfers.on_event(ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half))
    receiving = transfers.receiving["7"]
    assert hashing(transfers) and receiving.hashed == 0  # nothing of it read yet
    assert hash_kept(transfers, 0.0) == ([], []) and receiving.hashed == HASH_READ_BYTES  # one slice
    transfers.on_event(pieces(data, half)[0])  # a piece while it is behind: written, read back later
    assert receiving.hashed == HASH_READ_BYTES and receiving.received == half + BINARY_CHUNK_BYTES
    replies, lines = feed(transfers, pieces(data, half)[1:])
    assert replies == [] and texts(lines)[-1].startswith("saved ") and not hashing(transfers)
    assert (tmp_path / "dataset.bin").read_bytes() == data


def test_a_kept_part_read_slowly_is_said_as_being_checked_not_as_stalled(tmp_path, data):
    """Read a slice a pass, a kept part on a slow disk (a USB stick) takes seconds: the status line
    said 'stalled 3 s' meanwhile (no byte came), and of a part holding the whole file '100% -'."""
    now = [100.0]
    partial_path(tmp_path, "dataset.bin", _sum(data)).write_bytes(data)
    transfers = ClientTransfers(tmp_path, clock=lambda: now[0])
    transfers.on_event(offered(data))
    transfers.command(FileCommand(name="get", file_id="7"))
    transfers.on_event(ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=len(data)))
    progress = transfers.progress["get:7"]
    assert progress.text() == "get #7 dataset.bin 100% checking its SHA-256"
    now[0] += 3.0
    hash_kept(transfers, 0.0)  # 1 MiB in 3 s
    assert hashing(transfers) and progress.quiet_for() == 0.0


def test_a_kept_part_that_cannot_be_read_back_stops_its_download_and_keeps_what_is_there(tmp_path, data):
    """Read a slice a pass, the kept part may change meanwhile (a person cut it short): that
    download stops, said so, the server told, and a /get goes on from what is there."""
    transfers, half = half_fetched(tmp_path, data)
    transfers.command(FileCommand(name="cancel", file_id="7"))
    transfers.command(FileCommand(name="get", file_id="7"))
    transfers.on_event(ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=half))
    hash_kept(transfers, 0.0)
    os.truncate(partial_path(tmp_path, "dataset.bin", _sum(data)), HASH_READ_BYTES)
    replies, lines = hash_kept(transfers, 0.0)
    assert sans_req(replies) == [ev.CancelFile(id="7")] and not hashing(transfers) and "7" not in transfers.receiving
    assert texts(lines) == ["download of dataset.bin stopped: its partial file got shorter while it was read; kept 1.0 MiB of it: /get 7 goes on from there"]


def test_a_part_that_holds_the_whole_file_is_checked_and_saved_with_nothing_more_sent(tmp_path, data):
    """Killed between the last byte and the check: the next /get asks from the end, the server
    sends only its file-start, and the file is checked and named."""
    partial_path(tmp_path, "dataset.bin", _sum(data)).write_bytes(data)
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(offered(data))
    (get,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert get.offset == len(data)
    _, lines = feed(transfers, [ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=len(data))])
    assert texts(lines)[-1] == f"saved {tmp_path}/dataset.bin (2.0 MiB, all of it kept from before; SHA-256 checked)"
    assert (tmp_path / "dataset.bin").read_bytes() == data
    assert os.listdir(tmp_path) == ["dataset.bin"] and not transfers.wanted and transfers.progress == {}


def test_the_client_loop_reads_a_kept_part_with_nothing_else_waking_it(tmp_path, data, monkeypatch):
    """The loop itself, not hash_kept by hand: a resume whose kept part holds the whole file gets
    no more bytes, so nothing from the network or the keys wakes the loop again. Each pass must
    read a slice (one_pass) and not wait before the next (also_due), or the file was saved only
    at the next key or chat line (here, the 5 s a held-back status line would give)."""
    from lanchat.client import ClientLoop, one_pass
    from lanchat.protocol import Connection, Role
    from lanchat.session import Session

    monkeypatch.setattr("lanchat.client_files.HASH_SLICE_SECONDS", 0.0)  # a MiB a pass: several passes
    partial_path(tmp_path, "dataset.bin", _sum(data)).write_bytes(data)
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(offered(data))
    transfers.command(FileCommand(name="get", file_id="7"))
    shown: list[str] = []
    keys_r, keys_w = os.pipe()
    near, far = socket.socketpair()
    loop = None
    frontend = type("Quiet", (), {"fileno": lambda self: keys_r, "show": lambda self, lines: shown.extend(line.text for line in lines),
                                  "update": lambda self: None})()  # fmt: skip
    try:
        loop = ClientLoop(near, Connection(Role.CLIENT), Session(name="ann"), frontend, transfers=transfers)  # type: ignore[arg-type]
        loop.selector.register(keys_r, 1, "keys")
        loop._handle_events([ev.FileStart(id="7", name="dataset.bin", size=len(data), sha256=_sum(data), offset=len(data))])
        assert hashing(transfers)
        asked: list[float | None] = []  # each pass's wait (decided by these, not by a time a loaded machine stretches)
        select = loop.selector.select
        loop.selector.select = lambda timeout=None: asked.append(timeout) or select(timeout)  # type: ignore[method-assign]
        for _ in range(len(data) // HASH_READ_BYTES + 2):
            one_pass(loop, lambda: 5.0)
            if not hashing(transfers):
                break
        assert not hashing(transfers)
        assert asked and all(wait == 0 for wait in asked), f"a pass waited for the held-back status line: {asked}"
        assert shown[-1].startswith("saved ") and (tmp_path / "dataset.bin").read_bytes() == data
    finally:
        if loop is not None:
            loop.selector.close()
        for fd in (keys_r, keys_w):
            os.close(fd)
        near.close()
        far.close()
