"""Request ids (PROTOCOL.md, Request ids): a get carries the client's own number, echoed in the
file-start or file-error that answers it, so /get, /cancel, /get typed within a round trip never
take the first get's answer for the last's. The client's side with no socket, the server's on a
real one (the frames written at once), and an older peer on either side.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from file_requests import store_and_room, stored_offer
from helpers import RawClient, running_server

from lanchat import events as ev
from lanchat.actions import Send
from lanchat.client_files import ClientTransfers
from lanchat.files import BINARY_CHUNK_BYTES, MAX_DOWNLOADS_AT_ONCE, MB, chunk_plan
from lanchat.protocol import encode
from lanchat.server_files import ServerFiles
from lanchat.session import FileCommand


def _sum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pieces(data: bytes, file_id: str) -> list[ev.FileBytes]:
    return [ev.FileBytes(id=file_id, data=data[at : at + length]) for at, length in chunk_plan(len(data), BINARY_CHUNK_BYTES)]


def _feed(transfers: ClientTransfers, events: list[ev.Event]) -> tuple[list[ev.Event], list]:
    replies: list[ev.Event] = []
    lines: list = []
    for event in events:
        more, said = transfers.on_event(event)
        replies += more
        lines += said
    return replies, lines


def test_the_first_gets_start_and_failure_are_not_taken_for_the_last_gets(tmp_path: Path):
    """/get 7, /cancel 7, /get 7 typed within a round trip: the server had begun the first get,
    sent a piece of it, then failed it (a read error) before it read the cancel, and then began
    the second. Nothing in the first get's file-start or file-error said which get they answered:
    the file-error ended the second get's wait ('download of #7 failed'), its file-start was then
    cancelled as one nobody asked for, and the first's half download stayed open for ever."""
    data = os.urandom(3 * BINARY_CHUNK_BYTES + 7)  # (a small file: no partial file, nothing to resume)
    transfers = ClientTransfers(tmp_path)
    transfers.on_event(ev.Offered(id="7", name="notes.bin", size=len(data), sha256=_sum(data), sender="ann", time=1.0))
    (first,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    cancel, _ = transfers.command(FileCommand(name="cancel", file_id="7"))
    (last,), _ = transfers.command(FileCommand(name="get", file_id="7"))
    assert first.req is not None and last.req not in (None, first.req)
    assert cancel == [ev.CancelFile(id="7", req=first.req)]  # names the get it stops
    start = ev.FileStart(id="7", name="notes.bin", size=len(data), sha256=_sum(data))
    answers = [
        ev.FileStart(id="7", name="notes.bin", size=len(data), sha256=_sum(data), req=first.req),
        _pieces(data, "7")[0],
        ev.FileError(id="7", message="download of #7 failed: input/output error", req=first.req),
        ev.FileStart(id="7", name="notes.bin", size=len(data), sha256=_sum(data), req=last.req),
        *_pieces(data, "7"),
    ]
    replies, lines = _feed(transfers, answers)
    assert replies == []
    assert [line.text for line in lines if line.kind == "error"] == []
    assert lines[-1].text.startswith(f"saved {tmp_path}/notes.bin (")
    assert (tmp_path / "notes.bin").read_bytes() == data and os.listdir(tmp_path) == ["notes.bin"]
    assert not transfers.receiving and not transfers.wanted and not transfers.progress
    # and a server that echoes no req is still read by the order of things, as before
    (tmp_path / "notes.bin").rename(tmp_path / "notes (2).bin")  # (still there, a /get says where and fetches nothing)
    transfers.command(FileCommand(name="get", file_id="7"))
    replies, lines = _feed(transfers, [start, *_pieces(data, "7")])
    assert replies == [] and lines[-1].text.startswith(f"saved {tmp_path}/notes.bin (")


def test_a_start_that_echoes_a_cancelled_gets_req_is_passed_over_with_its_pieces(tmp_path: Path):
    """A file-start that answers a get we cancelled (its req is not our last's) is passed over,
    its pieces too, with no second cancel (its own went when /cancel was typed); one of a get we
    never sent is cancelled by its own req, which a server that knows request ids never takes for
    our last get's."""
    data = os.urandom(BINARY_CHUNK_BYTES + 1)
    transfers = ClientTransfers(tmp_path)
    (first,), _ = transfers.command(FileCommand(name="get", file_id="3"))
    transfers.command(FileCommand(name="cancel", file_id="3"))
    (last,), _ = transfers.command(FileCommand(name="get", file_id="3"))
    late = ev.FileStart(id="3", name="a.bin", size=len(data), sha256=_sum(data), req=first.req)
    replies, lines = _feed(transfers, [late, *_pieces(data, "3")])
    assert replies == [] and lines == []
    assert "3" in transfers.wanted and not transfers.receiving  # still waiting for the last get's start
    stranger = ev.FileStart(id="4", name="b.bin", size=1, sha256=_sum(b"x"), req=77)
    assert _feed(transfers, [stranger, ev.FileBytes(id="4", data=b"x")]) == ([ev.CancelFile(id="4", req=77)], [])
    replies, lines = _feed(transfers, [ev.FileStart(id="3", name="a.bin", size=len(data), sha256=_sum(data), req=last.req), *_pieces(data, "3")])
    assert replies == [] and (tmp_path / "a.bin").read_bytes() == data


def test_the_server_echoes_the_req_in_what_answers_a_get_even_when_its_turn_comes_later(tmp_path: Path):
    with store_and_room(tmp_path / "store") as (store, room):
        ids = [stored_offer(store, room, b"abc", ref, f"f{ref}.bin") for ref in range(1, MAX_DOWNLOADS_AT_ONCE + 2)]

        def answers(event: ev.Event) -> list[ev.Event]:
            return [a.event for a in store.handle(room, 2, event) if isinstance(a, Send)]

        started = [answers(ev.GetFile(id=file_id, binary=True, req=10 + n)) for n, file_id in enumerate(ids)]
        assert [[(type(e), e.req) for e in told] for told in started] == [[(ev.FileStart, 10 + n)] for n in range(MAX_DOWNLOADS_AT_ONCE)] + [[]]
        assert answers(ev.GetFile(id=ids[0], req=20)) == [ev.FileError(id=ids[0], message=f"#{ids[0]} is already on its way to you", req=20)]
        assert answers(ev.GetFile(id="99", req=21)) == [ev.FileError(id="99", message="no file #99 is on offer (/files lists them)", req=21)]
        assert answers(ev.CancelFile(id=ids[-1], req=99)) == []  # another get's req: the waiting one stays
        told = []
        while (piece := store.next_chunk(2)) is not None:
            told.append(piece)
        assert [(e.id, e.req) for e in told if isinstance(e, ev.FileStart)] == [(ids[-1], 10 + MAX_DOWNLOADS_AT_ONCE)]
        # an older client's get has no req, and nothing that answers it has one
        (start,) = answers(ev.GetFile(id=ids[0], binary=True))
        assert b'"req"' not in encode(start) and start.req is None


@pytest.fixture
def store(tmp_path: Path):
    files = ServerFiles(tmp_path / "server-files", max_file_bytes=4 * MB)
    yield files
    files.close()


def test_a_late_cancel_of_an_earlier_get_written_at_once_never_stops_the_last(store: ServerFiles):
    """get, cancel, get and a second cancel of the first get (a client cancelling a late file-start of
    it: _started) written in one go: the server read that cancel as one of file #1 whatever get
    it meant, and the last get, under way by then, stopped: its file never came whole."""
    data = os.urandom(2 * MB + 3)  # (more than the server sends before it reads the next frame)
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        ann.send(ev.OfferFile(ref=1, name="data.bin", size=len(data)))
        ready = ann.expect(ev.UploadReady, ref=1)
        for at, length in chunk_plan(len(data), BINARY_CHUNK_BYTES):
            ann.send(ev.UploadBytes(id=ready.id, data=data[at : at + length]))
        ann.send(ev.UploadDone(id=ready.id, sha256=_sum(data)))
        bob.expect(ev.Offered, id=ready.id)
        asked = [
            ev.GetFile(id=ready.id, binary=True, req=1),
            ev.CancelFile(id=ready.id, req=1),
            ev.GetFile(id=ready.id, binary=True, req=2),
            ev.CancelFile(id=ready.id, req=1),
        ]
        bob.send_raw(b"".join(bob.proto.send(event) for event in asked))
        assert bob.expect(ev.FileStart, id=ready.id).req == 1
        start = bob.expect(ev.FileStart, id=ready.id)  # (pieces of the first before it are passed over)
        assert start.req == 2 and start.offset is None
        received = bytearray()
        while len(received) < len(data):
            received += bob.expect(ev.FileBytes, id=ready.id).data
        assert bytes(received) == data
        ann.close()
        bob.close()


def test_the_server_echoes_the_req_when_a_download_cannot_be_read_or_fails_midway(tmp_path: Path):
    """The file-errors that matter most to /get, /cancel, /get typed at once: a stored file that
    cannot be opened when the get's turn comes, or ends short midway (the first get's failure
    was taken for the last get's)."""
    with store_and_room(tmp_path / "store") as (store, room):
        gone, short = (stored_offer(store, room, os.urandom(3 * BINARY_CHUNK_BYTES), ref, f"f{ref}.bin") for ref in (1, 2))
        store.stored[gone].unlink()
        (refused,) = [a.event for a in store.handle(room, 2, ev.GetFile(id=gone, binary=True, req=5)) if isinstance(a, Send)]
        assert isinstance(refused, ev.FileError) and refused.message.startswith("cannot read ") and refused.req == 5
        os.truncate(store.stored[short], BINARY_CHUNK_BYTES)
        (start,) = [a.event for a in store.handle(room, 2, ev.GetFile(id=short, binary=True, req=6)) if isinstance(a, Send)]
        assert isinstance(start, ev.FileStart) and start.req == 6
        told = []
        while (piece := store.next_chunk(2)) is not None:
            told.append(piece)
        assert [type(e) for e in told] == [ev.FileBytes, ev.FileError]
        assert told[-1] == ev.FileError(id=short, message=f"download of #{short} failed: the stored file is shorter than offered", req=6)
