"""File transfer over real sockets: an in-process server, protocol-level clients, real files.

Each test reads like the conversation it checks: ann offers, the server answers, bob fetches.
The client side's disk edge (ClientTransfers) is tested here too, on files in a tmp folder.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections import deque
from pathlib import Path

import pytest
from file_requests import sans_req
from helpers import DEFAULT_TIMEOUT, RawClient, running_server, wait_for

from lanchat import events as ev
from lanchat.client_files import ClientTransfers, cut_off, taken_up, unsent
from lanchat.files import BINARY_CHUNK_BYTES, CHUNK_BYTES, MB, chunk_plan, decode_chunk, encode_chunk
from lanchat.hub import DEFAULT_MAX_QUEUE_BYTES
from lanchat.hub_downloads import FILE_LOW_WATER_BYTES
from lanchat.protocol import Connection, Role, State, encode
from lanchat.server_files import ServerFiles, WaitingGet
from lanchat.session import FileCommand


def _sum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path):
    files = ServerFiles(tmp_path / "server-files", max_file_bytes=4 * MB, quota_bytes=6 * MB)
    yield files
    files.close()


def _stored(store: ServerFiles) -> list[str]:
    folder = store.base
    if not folder or not folder.exists():
        return []
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".in-use"))  # not the run's lock


def _left_to_send(store: ServerFiles, cid: int) -> int:
    """Bytes of ``cid``'s downloads the server has not read from disk yet (read from another
    thread: list() copies the queue at once; a moment between turns reads as 0)."""
    return sum(d.left for d in list(store.downloads.get(cid, ())))


def upload(
    client: RawClient,
    data: bytes,
    name: str = "data.bin",
    ref: int = 1,
    to: str | None = None,
    *,
    binary: bool = False,
) -> str:
    """Offer and send ``data``: as base64 ``chunk`` frames, or as binary frames (``binary``)."""
    client.send(ev.OfferFile(ref=ref, name=name, size=len(data), to=to))
    ready = client.expect(ev.UploadReady, ref=ref)
    assert ready.binary  # a lanchat server always takes binary chunks
    for offset, length in chunk_plan(len(data), BINARY_CHUNK_BYTES if binary else CHUNK_BYTES):
        piece = data[offset : offset + length]
        client.send(
            ev.UploadBytes(id=ready.id, data=piece) if binary else ev.UploadChunk(id=ready.id, data=encode_chunk(piece))
        )
    client.send(ev.UploadDone(id=ready.id, sha256=_sum(data)))
    return ready.id


def download(
    client: RawClient, file_id: str, timeout: float = 20, *, binary: bool = False
) -> tuple[ev.FileStart, bytes]:
    """Fetch ``file_id``; a ``binary`` get must be answered with binary frames only, a plain one with ``file-data``."""
    client.send(ev.GetFile(id=file_id, binary=binary))
    start = client.expect(ev.FileStart, id=file_id)
    received = bytearray()
    while len(received) < start.size:
        if binary:
            received += client.expect(ev.FileBytes, timeout=timeout, id=file_id).data
        else:
            received += decode_chunk(client.expect(ev.FileData, timeout=timeout, id=file_id).data)
    return start, bytes(received)


@pytest.mark.parametrize("binary", [False, True], ids=["base64", "binary"])
@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES, CHUNK_BYTES + 1, BINARY_CHUNK_BYTES + 1, 3 * MB + 17, 4 * MB])
def test_a_file_goes_up_and_comes_down_byte_for_byte(store, size, binary):
    data = os.urandom(size)
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        file_id = upload(ann, data, name="notes.bin", binary=binary)
        offered = bob.expect(ev.Offered, id=file_id)
        assert (offered.name, offered.size, offered.sender, offered.to) == ("notes.bin", size, "ann", None)
        assert offered.sha256 == _sum(data)
        ann.expect(ev.Offered, id=file_id)  # the sender hears it is on offer too
        start, received = download(bob, file_id, binary=binary)
        assert start.sha256 == _sum(data)
        assert received == data
        ann.close()
        bob.close()


def test_chat_keeps_flowing_while_a_large_file_moves(store):
    data = os.urandom(4 * MB)
    with running_server(files=store) as (_, endpoint):
        ann, bob, cat = RawClient(endpoint, "ann"), RawClient(endpoint, "bob"), RawClient(endpoint, "cat")
        file_id = upload(ann, data)
        bob.expect(ev.Offered, id=file_id)
        bob.send(ev.GetFile(id=file_id))
        bob.expect(ev.FileStart)
        cat.send(ev.Say(text="still here?"))
        # bob's chat line arrives among the chunks, long before the last one
        seen_data = 0
        while True:
            event = bob.expect(object)
            if isinstance(event, ev.FileData):
                seen_data += 1
            elif isinstance(event, ev.Message):
                break
        assert event.text == "still here?"
        assert seen_data < len(data) // CHUNK_BYTES // 2
        cat.expect(ev.Message, text="still here?")


def test_a_reader_that_stalls_is_paced_not_dropped(store, sock_dir):
    """The server queues a download chunk by chunk as the reader drains it: a client that
    stops reading for a while keeps a short queue and is not dropped as too slow (queuing
    the whole 4 MB at once would pass the 1 MiB slow-reader limit and drop bob)."""
    data = os.urandom(4 * MB)
    # AF_UNIX: the kernel buffers only a few hundred KB, so the server's own queue must fill
    with running_server(files=store, unix_path=os.path.join(sock_dir, "chat.sock")) as (server, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        bob_cid = max(server.clients)
        file_id = upload(ann, data)
        bob.expect(ev.Offered, id=file_id)
        bob.send(ev.GetFile(id=file_id))
        # bob reads nothing now: the kernel buffers fill, then the server stops reading the file.
        # Each line ann says is a pass of the server loop, and a chance to queue more.
        for number in range(20):
            ann.send(ev.Say(text=f"chat while bob is busy {number}"))
            ann.expect(ev.Message, text=f"chat while bob is busy {number}")
        wait_for(
            lambda: server.hub.outbox.queues[bob_cid].out_bytes > 0 and _left_to_send(store, bob_cid) > 2 * MB,
            what="the kernel buffers to fill while most of the file is still on disk, not queued",
        )
        assert server.hub.outbox.queues[bob_cid].out_bytes < FILE_LOW_WATER_BYTES + DEFAULT_MAX_QUEUE_BYTES // 8
        # ann's first line may reach the server before bob's get: it can come before file-start
        start: ev.FileStart | None = None
        received = bytearray()
        chat: list[str] = []
        while start is None or len(received) < start.size or len(chat) < 20:
            event = bob.expect(object)
            if isinstance(event, ev.FileStart):
                start = event
            elif isinstance(event, ev.FileData):
                received += decode_chunk(event.data)
            elif isinstance(event, ev.Message):
                chat.append(event.text)
        assert bytes(received) == data
        assert chat == [f"chat while bob is busy {number}" for number in range(20)]
        assert bob_cid in server.clients  # never dropped


def test_the_server_says_who_is_fetching_what_and_how_far(store, sock_dir):
    """What the host's /q asks about (ServerFiles.fetching_but): bob's download of ann's file,
    stalled part way, as the host's file when ann is the host and as ann's when another is; never
    the host's own downloads (her session knows those). And still after ann left: her offer
    went, but bob's download goes on, and the host's /q would stop it (it was left unsaid)."""
    data = os.urandom(3 * MB)
    with running_server(files=store, unix_path=os.path.join(sock_dir, "chat.sock")) as (server, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        ann_cid, bob_cid = sorted(server.clients)
        teacher_cid = bob_cid + 100  # a host who fetches nothing
        first = upload(ann, data, name="week 1.bin")
        bob.expect(ev.Offered, id=first)
        bob_own = upload(bob, b"y" * 10, name="bob's.bin", ref=2)
        ann.expect(ev.Offered, id=bob_own)
        assert server.hub.files.fetching_but(ann_cid) == []
        download(ann, bob_own)  # done: nothing under way
        bob.send(ev.GetFile(id=first))  # and reads nothing now: the kernel buffers fill
        download(ann, first)  # her own copy, done
        wait_for(lambda: 0 < _left_to_send(store, bob_cid) < len(data), what="bob's download to start and stall")
        fetching = server.hub.files.fetching_but(ann_cid)
        assert [(who, name, to_one, whose) for who, name, _, to_one, whose in fetching] == [("bob", "week 1.bin", False, None)]
        assert 0 <= fetching[0][2] < 100
        assert server.hub.files.fetching_but(bob_cid) == []  # the host's own download: not asked here
        assert [(who, name, whose) for who, name, _, _, whose in server.hub.files.fetching_but(teacher_cid)] == [
            ("bob", "week 1.bin", "ann")
        ]
        ann.close()  # her offer goes; bob's download does not
        wait_for(lambda: first not in store.book.offers, what="ann's offer to go with her")
        assert [(who, name, whose) for who, name, _, _, whose in server.hub.files.fetching_but(teacher_cid)] == [
            ("bob", "week 1.bin", "ann")
        ]
        bob.close()


def test_the_hosts_screen_looks_who_fetches_its_files_by_its_connection_not_its_name(store, sock_dir):
    """The host's screen wakes each second to redraw "sending notes.pdf to 2" while a file of the
    host's is on offer (session_social.sending_check_due). It matched offers by the name they were
    offered under, from every offer ever seen: a private offer whose one recipient left kept it
    waking for the rest of the lesson, and after the host's /nick its offers no longer counted
    (the mark never came). Now it asks the server, by the host's connection (ServerFiles.offers_of)."""
    import socket

    from lanchat.session import Session
    from lanchat.session_social import sending_check_due

    with running_server(files=store, unix_path=os.path.join(sock_dir, "chat.sock")) as (server, endpoint):
        host_end, server_end = socket.socketpair()
        host_cid = server.add_local(server_end, host=True)
        teach = RawClient(host_end, "teach")  # type: ignore[arg-type]
        bob = RawClient(endpoint, "bob")
        session = Session(name="teach", role="host", fetching_here=lambda: server.hub.files.fetching_but(host_cid),
                          offering_here=lambda: server.hub.files.offers_of(host_cid))  # as cli/serve.py wires them  # fmt: skip
        session.on_event(ev.Welcome(name="teach", mode="duplex", members=("teach", "bob")))
        assert not sending_check_due(session)  # nothing on offer: an idle chat sleeps
        marks = upload(teach, b"m" * 1000, name="marks.csv", to="bob")
        session.on_event(teach.expect(ev.Offered, id=marks))
        assert sending_check_due(session)
        bob.close()  # the one it was for left: it went
        wait_for(lambda: server.hub.files.offers_of(host_cid) == 0, what="the private offer to go with bob")
        assert not sending_check_due(session)
        notes = upload(teach, b"n" * 1000, name="notes.pdf", ref=2)
        session.on_event(teach.expect(ev.Offered, id=notes))
        teach.send(ev.Nick(name="teacher"))
        session.on_event(teach.expect(ev.Renamed, new="teacher"))
        assert session.name == "teacher"
        assert sending_check_due(session)  # offered as teach, still the host's
        teach.close()


def test_a_download_asked_for_and_not_begun_counts_as_fetching_not_begun(store):
    """bob's get waits behind his other downloads (MAX_DOWNLOADS_AT_ONCE): it is one the host's /q
    stops too, said as not begun (None), not as 0% read."""
    offer = store.book.open(owner=1, owner_name="ann", name="notes.pdf", size=100)
    offer.ready = True
    store.gets_waiting[2] = deque([WaitingGet(offer.file_id, True, "bob", 0)])
    assert store.fetching_but(1) == [("bob", "notes.pdf", None, False, None)]
    assert store.fetching_but(2) == []
    assert store.fetching_but(3) == [("bob", "notes.pdf", None, False, "ann")]


def test_a_download_is_seen_as_fetching_while_the_server_opens_and_reads_it(store, tmp_path, monkeypatch):
    """The host's thread asks fetching_but while the server's thread runs, and the server's
    thread lets it run whenever it waits on the disk: as it opened a download, and as it read each
    chunk. The download was out of every queue then (popped, put back after the read), so a /q
    asked at that moment said nobody was downloading, and closed the room under bob's download."""
    import io

    from lanchat import server_files
    from lanchat.files import CHUNK_BYTES

    path = tmp_path / "notes.pdf"
    path.write_bytes(b"n" * (3 * CHUNK_BYTES))
    offer = store.book.open(owner=1, owner_name="ann", name="notes.pdf", size=3 * CHUNK_BYTES)
    offer.ready = True
    store.stored[offer.file_id] = path
    seen: list[list[tuple[str, str, int | None, bool, str | None]]] = []

    read_at = server_files._read_at

    def watched(handle: io.FileIO, offset: int, size: int) -> bytes:
        seen.append(store.fetching_but(1))  # what the host's thread sees during the read
        return read_at(handle, offset, size)

    def opened(where: object, mode: str) -> io.FileIO:
        seen.append(store.fetching_but(1))  # and while the file is opened
        return io.FileIO(where, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(server_files, "open", opened, raising=False)
    monkeypatch.setattr(server_files, "_read_at", watched)
    store.gets_waiting[2] = deque([WaitingGet(offer.file_id, False, "bob", 0)])
    while store.next_chunk(2) is not None:
        pass
    assert len(seen) == 4  # the open, and three chunks read
    assert [[who for who, *_ in fetching] for fetching in seen] == [["bob"]] * 4, seen


def test_a_reader_who_leaves_midway_costs_the_server_nothing(store, sock_dir):
    data = os.urandom(4 * MB)
    with running_server(files=store, unix_path=os.path.join(sock_dir, "chat.sock")) as (server, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        bob_cid = max(server.clients)
        file_id = upload(ann, data)
        bob.expect(ev.Offered, id=file_id)
        bob.send(ev.GetFile(id=file_id))
        bob.expect(ev.FileData)
        bob.close()
        ann.expect(ev.Left, name="bob")
        wait_for(lambda: bob_cid not in store.downloads, what="bob's download to be dropped")
        assert download(ann, file_id)[1] == data  # the file is still on offer for everyone else


def test_asking_for_one_file_again_and_again_opens_it_once(store):
    """From the attacker's side: 50 get-file for one file in one write. Each used to open the
    stored file again and queue another copy (a file descriptor each); now one download, 49
    refusals, and the file arrives whole once."""
    data = os.urandom(2 * MB)
    with running_server(files=store) as (server, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        bob_cid = max(server.clients)
        file_id = upload(ann, data)
        bob.expect(ev.Offered, id=file_id)
        bob.sock.sendall(b"".join(bob.proto.send(ev.GetFile(id=file_id)) for _ in range(50)))
        starts, refusals, received = [], [], bytearray()
        while len(refusals) < 49 or len(received) < len(data):  # each expect has its own timeout
            event = bob.expect(object)
            assert len(list(store.downloads.get(bob_cid, ()))) <= 1
            if isinstance(event, ev.FileStart):
                starts.append(event)
            elif isinstance(event, ev.FileError):
                refusals.append(event)
            elif isinstance(event, ev.FileData):
                received += decode_chunk(event.data)
        assert len(starts) == 1 and len(refusals) == 49 and bytes(received) == data
        assert all(error.message == f"#{file_id} is already on its way to you" for error in refusals)
        assert download(bob, file_id)[1] == data  # done: it may be asked for again
        ann.close()
        bob.close()


def test_an_offer_over_the_limit_is_refused_before_any_bytes_move(store):
    with running_server(files=store) as (_, endpoint):
        ann = RawClient(endpoint, "ann")
        ann.send(ev.OfferFile(ref=5, name="huge.iso", size=4 * MB + 1))
        refused = ann.expect(ev.FileError, ref=5)
        assert "huge.iso is 4.0 MiB" in refused.message and "up to 4.0 MiB" in refused.message
        upload(ann, os.urandom(3 * MB), ref=6)
        ann.expect(ev.Offered)
        ann.send(ev.OfferFile(ref=7, name="more.bin", size=3 * MB + 1))
        assert "quota" in ann.expect(ev.FileError, ref=7).message
        assert len(_stored(store)) == 1


def test_a_server_that_cannot_store_files_says_so_and_chats_on(tmp_path):
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_text("in the way")
    files = ServerFiles(not_a_folder)
    with running_server(files=files) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        ann.send(ev.OfferFile(ref=1, name="a.txt", size=1))
        refused = ann.expect(ev.FileError, ref=1)
        assert refused.message.startswith("the server cannot store files right now (")
        ann.send(ev.Say(text="oh well"))
        bob.expect(ev.Message, text="oh well")


def _upload_claiming(client: RawClient, ref: int, name: str, size: int, data: bytes, sha256: str) -> str:
    """Offer ``name`` as ``size`` bytes, send ``data`` in one base64 chunk and end it claiming
    ``sha256``: the upload's id (what a client that damaged its upload sends)."""
    client.send(ev.OfferFile(ref=ref, name=name, size=size))
    ready = client.expect(ev.UploadReady)
    client.send(ev.UploadChunk(id=ready.id, data=encode_chunk(data)))
    client.send(ev.UploadDone(id=ready.id, sha256=sha256))
    return ready.id


def test_an_upload_whose_sha256_is_in_capitals_is_taken_as_the_same_digest(store):
    # PROTOCOL.md asks for lowercase hex; an independent client writing capitals means the same
    # digest, and was refused as 'ended without a SHA-256 in hex', which it had sent.
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        _upload_claiming(ann, 1, "x.bin", 3, b"abc", _sum(b"abc").upper())
        assert bob.expect(ev.Offered, name="x.bin").sha256 == _sum(b"abc")
        file_id = _upload_claiming(ann, 2, "y.bin", 3, b"abc", "Z" * 64)
        assert "64 hex digits" in ann.expect(ev.FileError, id=file_id).message


def test_a_damaged_upload_is_discarded_and_never_offered(store):
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        file_id = _upload_claiming(ann, 1, "x.bin", 3, b"abd", _sum(b"abc"))
        assert "SHA-256 mismatch" in ann.expect(ev.FileError, id=file_id).message
        assert not [e for e in bob.drain(0.3) if isinstance(e, ev.Offered)]
        assert _stored(store) == []
        ann.send(ev.OfferFile(ref=2, name="y.bin", size=3))
        ready = ann.expect(ev.UploadReady)
        ann.send(ev.UploadChunk(id=ready.id, data="***not base64***"))
        assert "base64" in ann.expect(ev.FileError, id=ready.id).message
        file_id = _upload_claiming(ann, 3, "z.bin", 3, b"ab", _sum(b"ab"))
        assert "ended after 2 of 3 bytes" in ann.expect(ev.FileError, id=file_id).message
        file_id = _upload_claiming(ann, 4, "w.bin", 1, b"a", "not a checksum")
        assert "without a SHA-256" in ann.expect(ev.FileError, id=file_id).message
        ann.send(ev.Say(text="still fine"))
        bob.expect(ev.Message, text="still fine")


def test_a_sender_who_disconnects_midway_leaves_nothing_behind(store):
    data = os.urandom(2 * MB)
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        ann.send(ev.OfferFile(ref=1, name="half.bin", size=len(data)))
        ready = ann.expect(ev.UploadReady)
        ann.send(ev.UploadChunk(id=ready.id, data=encode_chunk(data[:CHUNK_BYTES])))
        wait_for(lambda: _stored(store), what="the upload to start")
        ann.close()
        bob.expect(ev.Left, name="ann")
        wait_for(lambda: _stored(store) == [], what="the partial upload to be removed")
        bob.send(ev.ListFiles())
        assert bob.expect(ev.FileList).count == 0
        bob.send(ev.GetFile(id=ready.id))
        assert "no file" in bob.expect(ev.FileError).message


def test_offers_expire_when_the_sender_leaves(store):
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        file_id = upload(ann, b"hello")
        bob.expect(ev.Offered)
        ann.send(ev.Bye())
        bob.expect(ev.Left, name="ann")
        assert _stored(store) == []  # at once, as the sender leaves (not when its socket closes)
        bob.send(ev.ListFiles())
        assert bob.expect(ev.FileList).count == 0
        bob.send(ev.GetFile(id=file_id))
        message = f"data.bin (#{file_id}) went when ann left: a file is on offer only while its sender is here"
        assert bob.expect(ev.FileError, id=file_id).message == message


def test_a_get_of_an_offer_that_went_with_its_sender_says_so_and_a_private_one_stays_unknown(store):
    """The teacher offered slides.pdf to the room and answers.txt to bob alone, then her laptop
    dropped. ann, reading 'teach offers slides.pdf; type /get 1', typed /get 1 and was told
    'no file #1 is on offer (/files lists them)', as for an id she had mistyped: now she reads
    that it went when teach left. A private offer stays unknown to anyone it was not for."""
    with running_server(files=store) as (_, endpoint):
        teach, ann, bob = (RawClient(endpoint, n) for n in ("teach", "ann", "bob"))
        slides = upload(teach, b"slides", name="slides.pdf")
        answers = upload(teach, b"42", name="answers.txt", ref=2, to="bob")
        bob.expect(ev.Offered, id=answers)
        ann.expect(ev.Offered, id=slides)
        teach.close()
        for person in (ann, bob):
            person.expect(ev.Left, name="teach")
        ann.send(ev.GetFile(id=f"#{slides}"))
        went = ann.expect(ev.FileError).message  # type: ignore[attr-defined]
        assert went == f"slides.pdf (#{slides}) went when teach left: a file is on offer only while its sender is here"
        bob.send(ev.GetFile(id=answers))
        assert bob.expect(ev.FileError).message.startswith(f"answers.txt (#{answers}) went when teach left")  # type: ignore[attr-defined]
        ann.send(ev.GetFile(id=answers))  # not hers: nothing said of it, as before
        assert ann.expect(ev.FileError).message == f"no file #{answers} is on offer (/files lists them)"  # type: ignore[attr-defined]
        for_bob = upload(ann, b"notes", name="notes.txt", ref=3, to="bob")  # and one whose recipient left
        bob.expect(ev.Offered, id=for_bob)
        bob.close()
        ann.expect(ev.Left, name="bob")
        ann.send(ev.GetFile(id=for_bob))
        assert ann.expect(ev.FileError).message == f"notes.txt (#{for_bob}) went when bob left: it was for them only"  # type: ignore[attr-defined]


def test_a_private_offer_is_only_for_its_recipient(store):
    with running_server(files=store) as (_, endpoint):
        ann, bob, cat = (RawClient(endpoint, n) for n in ("ann", "bob", "cat"))
        file_id = upload(ann, b"for bob only", to="BOB")
        assert bob.expect(ev.Offered, id=file_id).to == "bob"
        ann.expect(ev.Offered, id=file_id)
        cat.send(ev.ListFiles())
        assert cat.expect(ev.FileList).count == 0
        cat.send(ev.GetFile(id=file_id))
        cat.expect(ev.FileError, id=file_id)
        assert not [e for e in cat.drain(0.2) if isinstance(e, ev.Offered)]
        bob.send(ev.ListFiles())
        assert bob.expect(ev.FileList).count == 1
        assert bob.expect(ev.Offered, listing=True).id == file_id
        assert download(bob, file_id)[1] == b"for bob only"
        ann.send(ev.OfferFile(ref=9, name="x", size=1, to="nobody"))
        assert "nobody called 'nobody'" in ann.expect(ev.FileError, ref=9).message


def test_a_private_upload_stops_when_its_recipient_leaves(store):
    data = os.urandom(CHUNK_BYTES * 4)
    with running_server(files=store) as (_, endpoint):
        ann, bob, cat = (RawClient(endpoint, n) for n in ("ann", "bob", "cat"))
        ann.send(ev.OfferFile(ref=1, name="for-bob.bin", size=len(data), to="bob"))
        ready = ann.expect(ev.UploadReady)
        ann.send(ev.UploadChunk(id=ready.id, data=encode_chunk(data[:CHUNK_BYTES])))
        bob.close()
        assert ann.expect(ev.FileError, id=ready.id).message == "sending for-bob.bin stopped: bob left"
        ann.send(ev.UploadChunk(id=ready.id, data=encode_chunk(data[CHUNK_BYTES : 2 * CHUNK_BYTES])))
        ann.send(ev.Say(text="and the room goes on"))
        cat.expect(ev.Message, text="and the room goes on")
        wait_for(lambda: _stored(store) == [], what="the partial upload to be removed")


def test_hostile_names_are_cleaned_and_stored_under_the_servers_own_names(store):
    hostile = "../../\x1b]0;pwned\x07/..\\CON.txt"
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        file_id = upload(ann, b"boo", name=hostile)
        assert bob.expect(ev.Offered, id=file_id).name == "_CON.txt"
        (stored,) = _stored(store)
        assert stored.startswith(f"{file_id}-") and stored.endswith(".upload")
        assert not (store.base.parent / "CON.txt").exists()


def test_unknown_ids_and_stray_chunks_affect_nobody(store):
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        ann.send(ev.GetFile(id="42"))
        assert "no file #42" in ann.expect(ev.FileError, id="42").message
        ann.send(ev.UploadChunk(id="42", data=encode_chunk(b"stray")))
        ann.send(ev.UploadBytes(id="42", data=b"stray, raw"))
        ann.send(ev.CancelFile(id="42"))
        ann.send(ev.Say(text="ok"))
        bob.expect(ev.Message, text="ok")
        ann.expect(ev.Message, text="ok")


# ------------------------------------------------------- the client's disk edge


def _offer_through(transfers: ClientTransfers, data: bytes, file_id: str = "1", name: str = "a.bin") -> tuple:
    (get,), _ = transfers.command(FileCommand(name="get", file_id=file_id))
    assert sans_req(get) == ev.GetFile(id=file_id, binary=True)  # lanchat asks for binary frames
    replies, lines = transfers.on_event(ev.FileStart(id=file_id, name=name, size=len(data), sha256=_sum(data)))
    for offset, length in chunk_plan(len(data), BINARY_CHUNK_BYTES):
        more_replies, more = transfers.on_event(ev.FileBytes(id=file_id, data=data[offset : offset + length]))
        replies += more_replies
        lines += more
    return replies, lines


def test_a_download_never_overwrites_and_never_leaves_a_temp_file(tmp_path, temp_kind):
    (tmp_path / "a.bin").write_bytes(b"keep me")
    transfers = ClientTransfers(tmp_path)
    data = os.urandom(CHUNK_BYTES * 3)
    _, lines = _offer_through(transfers, data)
    assert lines[-1].text.startswith(f"saved '{tmp_path / 'a (1).bin'}' (96.0 KiB in ")  # quoted: one name
    assert (tmp_path / "a.bin").read_bytes() == b"keep me"
    assert (tmp_path / "a (1).bin").read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["a (1).bin", "a.bin"]
    assert transfers.progress == {}


def test_a_send_path_holding_a_nul_byte_is_refused_not_raised(tmp_path):
    """A script's line '/send a<NUL>b' (--plain reads it as typed): os.open raised ValueError
    ("embedded null byte"), which nothing caught, and the client ended in a traceback."""
    events, lines = ClientTransfers(tmp_path).command(FileCommand(name="send", path="a\x00b"))
    assert events == []
    assert [(line.kind, line.text) for line in lines] == [("error", "cannot send a\x00b: a file name cannot hold a NUL byte")]


def test_a_download_gets_the_usual_file_mode_not_the_temp_files(tmp_path, temp_kind):
    transfers = ClientTransfers(tmp_path)
    _offer_through(transfers, b"hello", name="hello.txt")
    old_umask = os.umask(0o022)  # read it back (the test process is single-threaded here)
    os.umask(old_umask)
    assert (tmp_path / "hello.txt").stat().st_mode & 0o777 == 0o666 & ~old_umask


def test_a_damaged_download_is_reported_and_discarded(tmp_path, temp_kind):
    transfers = ClientTransfers(tmp_path)
    transfers.command(FileCommand(name="get", file_id="1"))
    transfers.on_event(ev.FileStart(id="1", name="a.bin", size=3, sha256=_sum(b"abc")))
    _, lines = transfers.on_event(ev.FileData(id="1", data=encode_chunk(b"abd")))
    assert lines[-1].kind == "error" and "SHA-256 mismatch" in lines[-1].text
    assert os.listdir(tmp_path) == []



@pytest.mark.parametrize(("name", "shown"), [
    ("notes.pdf", "{folder}/notes.pdf"),
    ("vidéo_中文.txt", "{folder}/vidéo_中文.txt"),  # letters of any script need no quotes
    ("holiday vidéo ☀ (1).bin", "'{folder}/holiday vidéo ☀ (1).bin'"),
    ("bob's notes #2 [final] & more.pdf", '"{folder}/bob\'s notes #2 [final] & more.pdf"'),
    ("it's $5; `ls`!.txt", "'{folder}/it'\"'\"'s $5; `ls`!.txt'"),
])  # fmt: skip
def test_a_saved_line_names_the_file_whole_however_it_is_called(tmp_path, name, shown):
    """cy's screen said "saved .../Downloads/holiday vidéo ☀" and, on the next row, "(1).bin (38.1 MiB
    in 101 ms; SHA-256 checked)" (tools/friends_run.py): where the name ended was a guess. A path
    that is not one plain word is now quoted, as /send and a shell read it back."""
    transfers = ClientTransfers(tmp_path)
    data = b"some bytes"
    _, lines = _offer_through(transfers, data, name=name)
    saved = lines[-1].text
    assert saved.startswith(f"saved {shown.format(folder=tmp_path)} (10 bytes in ")
    assert shlex.split(saved.removeprefix("saved ").rsplit(" (10 bytes in ", 1)[0]) == [str(tmp_path / name)]
    assert (tmp_path / name).read_bytes() == data


def test_the_line_a_download_starts_with_names_its_folder_whole(tmp_path):
    """--plain said "receiving slides.pdf (293.0 KiB) into /home/carl...": the dots, meant as
    "under way", read as a folder's name cut short."""
    transfers = ClientTransfers(tmp_path)
    transfers.command(FileCommand(name="get", file_id="1"))
    _, lines = transfers.on_event(ev.FileStart(id="1", name="a.bin", size=2048, sha256=_sum(b"")))
    assert [line.text for line in lines] == [f"receiving a.bin (2.0 KiB) into the folder {tmp_path}"]

HAS_O_TMPFILE = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")


@pytest.fixture(params=["unnamed", "named"])
def temp_kind(request, monkeypatch):
    """Both ways a download waits for its checksum: an unnamed O_TMPFILE file (Linux), and the
    hidden .lanchat-*.part name used where the system has no O_TMPFILE (forced here)."""
    if request.param == "unnamed" and not HAS_O_TMPFILE:
        pytest.skip("no O_TMPFILE on this system")
    if request.param == "named":
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    return request.param


def test_a_download_cut_off_midway_leaves_no_partial_file(tmp_path, temp_kind):
    transfers = ClientTransfers(tmp_path)
    transfers.command(FileCommand(name="get", file_id="1"))
    transfers.on_event(ev.FileStart(id="1", name="a.bin", size=CHUNK_BYTES * 2, sha256=_sum(b"")))
    transfers.on_event(ev.FileData(id="1", data=encode_chunk(b"x" * CHUNK_BYTES)))
    waiting = os.listdir(tmp_path)  # never the final name; with O_TMPFILE no name at all
    if temp_kind == "unnamed":
        assert waiting == []
    else:
        assert len(waiting) == 1 and waiting[0].startswith(".lanchat-") and waiting[0].endswith(".part")
    assert "get:1" in transfers.progress and transfers.progress["get:1"].percent == 50
    transfers.close()
    assert os.listdir(tmp_path) == []


def test_a_lost_connection_says_which_transfers_stopped_and_leaves_no_partial_file(tmp_path, temp_kind):
    # the reconnecting client dropped a download at 85% without a word: no "saved", no error
    transfers = ClientTransfers(tmp_path)
    transfers.command(FileCommand(name="get", file_id="1"))
    transfers.on_event(ev.FileStart(id="1", name="a.bin", size=CHUNK_BYTES * 2, sha256=_sum(b"")))
    transfers.on_event(ev.FileData(id="1", data=encode_chunk(b"x" * CHUNK_BYTES)))
    transfers.command(FileCommand(name="get", file_id="2"))
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "b.txt").write_bytes(b"offered")
    transfers.offer(str(tmp_path / "up" / "b.txt"))
    lines = cut_off(transfers)
    assert [(line.kind, line.text) for line in lines] == [
        ("error", "connection lost: stopped receiving a.bin; nothing of it was kept; it is asked for again once back, if still on offer"),
        ("error", "connection lost: stopped sending b.txt; /send it again when back"),
        ("error", "connection lost: the download of #2 did not start"),
    ]
    (tmp_path / "up" / "b.txt").unlink()
    (tmp_path / "up").rmdir()
    assert os.listdir(tmp_path) == [] and transfers.progress == {} and not transfers.wanted
    assert cut_off(transfers) == []  # nothing left under way: nothing more to say


def test_a_file_the_server_was_still_checking_when_the_connection_dropped_is_said_not_offered(tmp_path):
    """All of it sent, the server checking its SHA-256, then the connection dropped: the server
    drops a sender's files with their connection, but the client said nothing, so the sender
    (told "the server is checking it") waited for an offer that never came."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"old notes\n")
    transfers = ClientTransfers(tmp_path)
    (offer,), _ = transfers.command(FileCommand(name="send", path=str(path)))
    transfers.on_event(ev.UploadReady(ref=offer.ref, id="1"))
    events, lines = transfers.next_chunks(10**6)
    assert isinstance(events[-1], ev.UploadDone) and lines == []  # all written: not sent until the server's end took it
    lines = taken_up(transfers, 0)  # (nothing left unacknowledged)
    assert "the server is checking it" in lines[-1].text
    assert [line.text for line in cut_off(transfers)] == [
        "connection lost: your file notes.txt (#1) is not on offer (the connection dropped before the server confirmed it); /send it again when back"
    ]
    assert cut_off(transfers) == []  # said once
    transfers.on_event(ev.Offered(id="1", name="notes.txt", size=10, sha256="0" * 64, sender="ann", time=1.0))
    assert not transfers.on_offer  # a late offer of the old connection is not ours to keep


def test_q_counts_a_file_all_sent_that_the_server_is_still_checking(tmp_path):
    """A /send all sent, its SHA-256 being checked by the server (ClientTransfers.checking), was
    neither in progress nor unsent: /q left without asking and the server dropped it with the
    connection. client_files.unsent lists it as "checking" (one for one person as such) until it is offered
    or refused."""
    for name in ("notes.txt", "grades.txt"):
        (tmp_path / name).write_bytes(b"some notes\n")
    transfers = ClientTransfers(tmp_path)
    (offer,), _ = transfers.command(FileCommand(name="send", path=str(tmp_path / "notes.txt")))
    (private,), _ = transfers.command(FileCommand(name="send", path=str(tmp_path / "grades.txt"), to="cy"))
    transfers.on_event(ev.UploadReady(ref=offer.ref, id="1"))
    transfers.on_event(ev.UploadReady(ref=private.ref, id="2"))
    events, _ = transfers.next_chunks(10**6)
    assert [event.id for event in events if isinstance(event, ev.UploadDone)] == ["1", "2"]
    assert unsent(transfers) == [] and set(transfers.progress) == {"send:1", "send:2"}  # still on their way: /q says how far
    taken_up(transfers, 0)
    assert not transfers.progress
    assert unsent(transfers) == [("notes.txt", False, "checking"), ("grades.txt", True, "checking")]
    transfers.on_event(ev.Offered(id="1", name="notes.txt", size=11, sha256="0" * 64, sender="ann", time=1.0))
    transfers.on_event(ev.FileError(id="2", message="refused: the room is full"))
    assert unsent(transfers) == []  # on offer, or refused: nothing for /q to stop


def test_a_full_disk_stops_the_download_with_one_line(tmp_path):
    transfers = ClientTransfers(tmp_path)
    transfers.command(FileCommand(name="get", file_id="1"))
    transfers.on_event(ev.FileStart(id="1", name="a.bin", size=10, sha256=_sum(b"")))

    class FullDisk:
        def write(self, data):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    transfers.receiving["1"].handle = FullDisk()
    replies, lines = transfers.on_event(ev.FileData(id="1", data=encode_chunk(b"abc")))
    assert sans_req(replies) == [ev.CancelFile(id="1")]
    assert [line.text for line in lines] == ["download of a.bin stopped: no space left on device"]
    assert os.listdir(tmp_path) == []


def test_a_download_nobody_asked_for_is_refused(tmp_path):
    transfers = ClientTransfers(tmp_path)
    replies, _ = transfers.on_event(ev.FileStart(id="9", name="gift.exe", size=1, sha256=_sum(b"x")))
    assert sans_req(replies) == [ev.CancelFile(id="9")]
    assert os.listdir(tmp_path) == []


def test_sending_problems_are_one_clear_line(tmp_path):
    transfers = ClientTransfers(tmp_path)
    cases = {
        str(tmp_path / "missing.txt"): "no such file",
        str(tmp_path): "it is a folder",
    }
    if os.geteuid() != 0:  # root reads everything
        locked = tmp_path / "locked.txt"
        locked.write_text("secret")
        locked.chmod(0)
        cases[str(locked)] = "permission denied"
    for path, why in cases.items():
        events, lines = transfers.command(FileCommand(name="send", path=path))
        assert events == [] and len(lines) == 1 and lines[0].kind == "error"
        assert lines[0].text == f"cannot send {path}: {why}" + (
            "; /send takes one file" if why == "it is a folder" else ""
        )
    events, lines = ClientTransfers(tmp_path / "nowhere").command(FileCommand(name="get", file_id="1"))
    assert events == [] and "does not exist" in lines[0].text


def test_uploads_are_read_only_as_fast_as_the_socket_takes_them(tmp_path):
    path = tmp_path / "big.bin"
    data = os.urandom(CHUNK_BYTES * 10 + 5)
    path.write_bytes(data)
    transfers = ClientTransfers(tmp_path)
    (offer,), _ = transfers.command(FileCommand(name="send", path=str(path), to="bob"))
    assert (offer.name, offer.size, offer.to) == ("big.bin", len(data), "bob")
    transfers.on_event(ev.UploadReady(ref=offer.ref, id="4"))
    client_side, server_side = Connection(Role.CLIENT), Connection(Role.SERVER)
    client_side.state = server_side.state = State.OPEN

    def chunks(pieces: list) -> bytes:
        """The pieces sent as the client loop sends them (through its state machine), read back."""
        server_side.receive_data(b"".join(client_side.send(piece) for piece in pieces))
        events = server_side.events()
        assert all(isinstance(e, ev.UploadChunk) and e.id == "4" for e in events)
        return b"".join(decode_chunk(e.data) for e in events)

    first, _ = transfers.next_chunks(CHUNK_BYTES * 2)  # room for about one chunk frame
    assert len(first) == 2  # one frame fits in the room, the next one overflows it
    sent = chunks(first)
    while transfers.has_chunks_to_send:
        more, lines = transfers.next_chunks(10**9)
        done = [e for e in more if isinstance(e, ev.UploadDone)]
        sent += chunks([e for e in more if isinstance(e, ev.UploadChunk)])
    assert done == [ev.UploadDone(id="4", sha256=_sum(data))]  # the checksum of what was read, at the end
    assert sent == data
    lines = taken_up(transfers, 0)  # and the server's end took it all
    assert lines[-1].text.startswith("sent big.bin (320.0 KiB") and lines[-1].text.endswith("the server is checking it")
    assert Path(path).read_bytes() == data  # untouched


def test_pieces_sent_into_someone_elses_upload_are_ignored(store):
    """bob guesses the id of ann's upload and pushes bytes into it, raw and base64: ann's file
    arrives exactly as she sent it."""
    data = os.urandom(BINARY_CHUNK_BYTES + 5)
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        ann.send(ev.OfferFile(ref=1, name="mine.bin", size=len(data)))
        ready = ann.expect(ev.UploadReady, ref=1)
        ann.send(ev.UploadBytes(id=ready.id, data=data[:100]))
        bob.send(ev.UploadBytes(id=ready.id, data=b"intruder"))
        bob.send(ev.UploadChunk(id=ready.id, data=encode_chunk(b"intruder")))
        bob.send(ev.Say(text="done meddling"))
        ann.expect(ev.Message, text="done meddling")  # bob's pieces reached the server first
        ann.send(ev.UploadBytes(id=ready.id, data=data[100:]))
        ann.send(ev.UploadDone(id=ready.id, sha256=_sum(data)))
        assert bob.expect(ev.Offered, id=ready.id).sha256 == _sum(data)
        _, received = download(bob, ready.id, binary=True)
        assert received == data


def test_an_upload_the_server_accepts_as_binary_goes_out_in_binary_frames(tmp_path):
    path = tmp_path / "raw.bin"
    data = os.urandom(BINARY_CHUNK_BYTES * 2 + 9)
    path.write_bytes(data)
    transfers = ClientTransfers(tmp_path)
    (offer,), _ = transfers.command(FileCommand(name="send", path=str(path)))
    transfers.on_event(ev.UploadReady(ref=offer.ref, id="5", binary=True))
    server_side = Connection(Role.SERVER)
    server_side.state = State.OPEN
    received = []
    while transfers.has_chunks_to_send:
        pieces, _ = transfers.next_chunks(10**9)
        server_side.receive_data(b"".join(p if isinstance(p, bytes) else encode(p) for p in pieces))
        received += server_side.events()
    *chunks, done = received
    assert [len(c.data) for c in chunks] == [BINARY_CHUNK_BYTES, BINARY_CHUNK_BYTES, 9]
    assert all(isinstance(c, ev.UploadBytes) and c.id == "5" for c in chunks)
    assert b"".join(c.data for c in chunks) == data and done == ev.UploadDone(id="5", sha256=_sum(data))


# ------------------------------------------------------------------ /cancel


def test_cancel_stops_an_upload_and_tells_the_server(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(BINARY_CHUNK_BYTES * 4))
    transfers = ClientTransfers(tmp_path)
    (offer,), _ = transfers.command(FileCommand(name="send", path=str(path)))
    transfers.on_event(ev.UploadReady(ref=offer.ref, id="8", binary=True))
    transfers.next_chunks(BINARY_CHUNK_BYTES)  # a piece is out
    events, lines = transfers.command(FileCommand(name="cancel", file_id="8"))
    assert sans_req(events) == [ev.CancelFile(id="8")]
    assert lines[0].text == "stopped sending big.bin; it is not on offer"
    assert not transfers.has_chunks_to_send and transfers.progress == {}


def test_cancel_before_the_server_accepted_cancels_when_it_does(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"abc")
    transfers = ClientTransfers(tmp_path)
    (offer,), _ = transfers.command(FileCommand(name="send", path=str(path)))
    events, lines = transfers.command(FileCommand(name="cancel"))
    assert events == [] and "stopped sending a.txt" in lines[0].text
    replies, _ = transfers.on_event(ev.UploadReady(ref=offer.ref, id="9", binary=True))
    assert sans_req(replies) == [ev.CancelFile(id="9")] and not transfers.has_chunks_to_send


def test_cancel_stops_a_download_and_keeps_nothing(tmp_path, temp_kind):
    transfers = ClientTransfers(tmp_path)
    transfers.command(FileCommand(name="get", file_id="3"))
    transfers.on_event(ev.FileStart(id="3", name="b.bin", size=10, sha256=_sum(b"0123456789")))
    transfers.on_event(ev.FileBytes(id="3", data=b"01234"))
    events, lines = transfers.command(FileCommand(name="cancel", file_id="#3"))
    assert sans_req(events) == [ev.CancelFile(id="3")]
    assert lines[0].text == "stopped receiving b.bin; nothing of it was kept"
    assert transfers.on_event(ev.FileBytes(id="3", data=b"56789")) == ([], [])  # late pieces: ignored
    assert os.listdir(tmp_path) == [] and transfers.progress == {}


def test_cancel_with_nothing_under_way_says_so(tmp_path):
    transfers = ClientTransfers(tmp_path)
    assert transfers.command(FileCommand(name="cancel"))[1][0].text.startswith("no file is being sent or received")
    transfers.command(FileCommand(name="get", file_id="4"))
    events, lines = transfers.command(FileCommand(name="cancel", file_id="5"))
    assert events == [] and lines[0].kind == "error" and "#5 is not being sent" in lines[0].text
    events, _ = transfers.command(FileCommand(name="cancel", file_id="4"))  # asked for, not started yet
    assert sans_req(events) == [ev.CancelFile(id="4")]
    replies, _ = transfers.on_event(ev.FileStart(id="4", name="c.bin", size=1, sha256="0" * 64))
    assert sans_req(replies) == [ev.CancelFile(id="4")] and os.listdir(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
def test_sending_a_named_pipe_is_refused_at_once_not_waited_on(tmp_path):
    """/send of a FIFO nobody writes to: opening it to read would wait for a writer for ever."""
    import threading

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    transfers = ClientTransfers(tmp_path)
    answer: list[tuple] = []
    worker = threading.Thread(
        target=lambda: answer.append(transfers.command(FileCommand(name="send", path=str(pipe)))), daemon=True
    )
    worker.start()
    worker.join(10)
    if worker.is_alive():  # free the stuck open() so the thread ends, then fail
        with open(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
        pytest.fail("/send of a named pipe waited for a writer")
    ((events, lines),) = answer
    assert events == [] and [line.kind for line in lines] == ["error"]
    assert lines[0].text.startswith(f"cannot send {pipe}: ")


HOLD_A_RUN = """
import sys
from lanchat.server_files import ServerFiles
files = ServerFiles(sys.argv[1])
(files.folder / "1-x.upload").write_bytes(b"an offer")
print(files.folder, flush=True)
sys.stdin.read()  # holds the folder until its stdin closes, or until it is killed
"""


def test_a_server_killed_outright_leaves_its_files_only_until_the_next_one_uses_the_folder(tmp_path):
    # serve killed with SIGKILL never ran close(): each run's run-XXXX folder, uploads and all
    # (4 GiB in one afternoon's testing), stayed in the data folder for good
    import subprocess
    import sys

    from helpers import ROOT, child_env

    def hold() -> tuple[subprocess.Popen[str], Path]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD_A_RUN, str(tmp_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT,
        )  # fmt: skip
        assert proc.stdout is not None
        return proc, Path(proc.stdout.readline().strip())

    live, live_folder = hold()  # another room's server (another port), still running
    killed, killed_folder = hold()
    killed.kill()
    killed.wait(timeout=10)
    logged: list[str] = []
    files = ServerFiles(tmp_path, log=logged.append)
    try:
        mine = files.folder
        assert not killed_folder.exists()
        assert (live_folder / "1-x.upload").read_bytes() == b"an offer"
        assert logged == ["removed 1 folder(s) of files left by a server that did not stop cleanly"]
    finally:
        files.close()
        live.communicate(timeout=DEFAULT_TIMEOUT)  # its stdin closes: it ends
    assert not mine.exists()
    # the one that ended without close() stays until a server next finds it unheld
    assert sorted(p.name for p in tmp_path.iterdir()) == [live_folder.name, live_folder.name + ".in-use"]


def test_the_fetched_count_follows_the_offerer_not_her_old_name(store):
    """'fetched by N' is for the offerer's listing. It went by name: after ann's /nick annie,
    a newcomer who took the free name "ann" read how many had fetched her file, she no longer
    did, and her own copy under the new name counted as someone's. Her offer stays hers (its
    connection), so the count does too."""
    with running_server(files=store) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        file_id = upload(ann, b"slides")
        bob.expect(ev.Offered, id=file_id)
        assert download(bob, file_id)[1] == b"slides"
        ann.send(ev.Nick(name="annie"))
        ann.expect(ev.Renamed, new="annie")
        assert download(ann, file_id)[1] == b"slides"  # her own copy: not someone's fetch
        other = RawClient(endpoint, "ann")
        other.send(ev.ListFiles())
        other.expect(ev.FileList)
        assert other.expect(ev.Offered, listing=True, id=file_id).fetched is None
        ann.send(ev.ListFiles())
        ann.expect(ev.FileList)
        assert ann.expect(ev.Offered, listing=True, id=file_id).fetched == 1


def test_a_send_that_waits_its_turn_can_be_cancelled_and_is_said_stopped_when_the_connection_drops(tmp_path):
    """A fifth /send waits for one of four on their way up (test_files_cli's pasted sends); one
    that waits is stopped by /cancel as any upload is, and a lost connection says it stopped."""
    sheets = [tmp_path / f"s{n}.txt" for n in range(6)]
    for sheet in sheets:
        sheet.write_bytes(b"x")
    transfers = ClientTransfers(tmp_path)
    offers = [transfers.command(FileCommand(name="send", path=str(sheet))) for sheet in sheets]
    assert [len(events) for events, _ in offers] == [1, 1, 1, 1, 0, 0]
    assert offers[4][1][0].text.startswith("s4.txt waits its turn")
    # /q's question counts them (Session.unsent_files): four offered, not accepted, then two waiting
    assert unsent(transfers) == [(f"s{n}.txt", False, "waiting") for n in range(6)]
    replies, _ = transfers.on_event(ev.FileError(ref=1, message="refused: no"))  # one place frees
    assert replies == [ev.OfferFile(ref=5, name="s4.txt", size=1)]
    transfers.on_event(ev.UploadReady(ref=2, id="7", binary=False))  # accepted: on its way, in progress now
    assert unsent(transfers) == [(f"s{n}.txt", False, "waiting") for n in range(2, 6)]
    assert "send:7" in transfers.progress
    events, lines = transfers.command(FileCommand(name="cancel", file_id=""))
    assert [line.text for line in lines][-1] == "stopped sending s5.txt; it is not on offer"
    assert not transfers.queued and not any(isinstance(event, ev.OfferFile) for event in events)
    transfers.command(FileCommand(name="send", path=str(sheets[0])))
    for sheet in sheets[1:5]:
        transfers.command(FileCommand(name="send", path=str(sheet)))
    said = [line.text for line in cut_off(transfers)]
    assert "connection lost: stopped sending s4.txt; /send it again when back" in said
    assert not transfers.queued and unsent(transfers) == []


def test_the_client_loops_q_asks_about_a_send_offered_and_not_accepted_yet(tmp_path):
    """The client loop hands its transfers' unsent to the session (Session.unsent_files): a /send
    the server has not accepted yet made /q leave at once, dropping it without a word."""
    import socket

    from lanchat.client import ClientLoop
    from lanchat.session import Local, Session

    (tmp_path / "e.bin").write_bytes(b"x")
    ours, theirs = socket.socketpair()
    with ours, theirs:
        session = Session(name="ann", role="client", confirm_quit=True)
        loop = ClientLoop(ours, Connection(Role.CLIENT), session, None, transfers=ClientTransfers(tmp_path))  # type: ignore[arg-type]
        events, _ = loop.transfers.command(FileCommand(name="send", path=str(tmp_path / "e.bin")))
        assert [type(event) for event in events] == [ev.OfferFile]
        asked = session.parse_input("/q")
        assert isinstance(asked, Local)
        assert asked.lines[0].text == "/q stops sending e.bin (waiting): type /q again to leave (/q! leaves without asking)"
        loop.selector.close()


def test_a_typed_name_with_bytes_that_are_not_utf8_finds_the_one_file_it_can_mean(tmp_path):
    """(test_files_cli sends one.) Two names that read the same once their odd bytes are U+FFFD
    are not guessed between: 'no such file', as before."""
    from lanchat.client_files import _not_utf8_path

    folder = os.fsencode(tmp_path)
    for name in (b"caf\xe9.txt", b"na\xefve.txt", b"na\xeeve.txt"):
        with open(folder + b"/" + name, "wb"):
            pass
    assert _not_utf8_path(tmp_path / "caf\ufffd.txt") == Path(os.fsdecode(folder + b"/caf\xe9.txt"))
    assert _not_utf8_path(tmp_path / "na\ufffdve.txt") is None  # two can be meant
    assert _not_utf8_path(tmp_path / "caf\ufffd.pdf") is None
    assert _not_utf8_path(tmp_path / "cafe.txt") is None
    transfers = ClientTransfers(tmp_path)
    _, lines = transfers.command(FileCommand(name="send", path=str(tmp_path / "na\ufffdve.txt")))
    assert lines[0].text.endswith("na\ufffdve.txt: no such file")


def test_a_stale_part_is_removed_but_one_a_live_download_holds_stays(tmp_path, monkeypatch):
    """(test_files_cli kills a client.) A part file a download under way holds stays however old
    it looks (a download stalled on a slow link), and so do one nobody holds that changed less
    than STALE_PART_SECONDS ago (one being checked and named), a symlink with a part's name, and
    anything not named as lanchat's."""
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    first = ClientTransfers(tmp_path)
    second = ClientTransfers(tmp_path)
    try:
        first.command(FileCommand(name="get", file_id="1"))
        first.on_event(ev.FileStart(id="1", name="a.bin", size=3, sha256=_sum(b"abc")))
        [held] = os.listdir(tmp_path)
        stale, other = tmp_path / ".lanchat-0123456789ab.part", tmp_path / ".lanchat-mine.part"
        fresh, link = tmp_path / ".lanchat-fedcba987654.part", tmp_path / ".lanchat-00000000000f.part"
        target = tmp_path / "notes.txt"
        for path, data in ((stale, b"half"), (other, b"kept"), (fresh, b"new"), (target, b"mine")):
            path.write_bytes(data)
        link.symlink_to(target)
        for path in (tmp_path / held, stale, other, target):
            os.utime(path, (1_600_000_000, 1_600_000_000))
        second.command(FileCommand(name="get", file_id="2"))
        second.on_event(ev.FileStart(id="2", name="b.bin", size=3, sha256=_sum(b"abc")))
        left = set(os.listdir(tmp_path))
        assert stale.name not in left
        assert {held, other.name, fresh.name, link.name, target.name} <= left and len(left) == 6
        assert link.is_symlink() and target.read_bytes() == b"mine"
    finally:
        first.close(), second.close()


def test_a_non_utf8_folder_we_may_not_look_into_is_no_such_file_not_a_traceback(tmp_path, monkeypatch):
    """/send 'caf\ufffd/locked/f.txt' through a folder we may not enter (root is let in everywhere,
    so the refusal is made to order): Path.exists() raised PermissionError out of the /send and
    the chat ended in a traceback; the file is just not one we can mean."""
    from lanchat.client_files import _not_utf8_path

    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    os.makedirs(folder + b"/locked")
    real_stat = os.stat

    def no_entry(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if os.fsencode(path).startswith(folder + b"/locked/"):
            raise PermissionError(13, "Permission denied", path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", no_entry)
    assert _not_utf8_path(tmp_path / "caf\ufffd" / "locked" / "f.txt") is None


def test_a_private_offer_waits_for_its_recipients_rejoin_after_a_drop(store):
    """ann sent bob a file; bob's Wi-Fi dropped and his client rejoined with its session's secret.
    His missed messages and whispers came back, but the file was gone ('it was for them only'), and
    ann had to send it again. It waits for the rejoin now, whether the server noticed the drop
    first or the rejoin took the stale session over, and nobody else under his name gets it."""
    from lanchat.room import resume_token

    with running_server(files=store, resume_tokens=resume_token) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        file_id = upload(ann, b"for bob only", to="bob")
        bob.expect(ev.Offered, id=file_id)
        secret = bob.welcome.resume
        bob.close()  # the server notices the drop first
        ann.expect(ev.Left, name="bob", reason="lost")
        stranger = RawClient(endpoint, "bob")  # someone else takes the free name: no secret, no file
        stranger.send(ev.Say(text="marker"))  # answered in order: what its join brought comes first
        seen: list[object] = []
        while not (isinstance(event := stranger.expect(object), ev.Message) and event.text == "marker"):
            seen.append(event)
        assert not [e for e in seen if isinstance(e, ev.Offered)]
        stranger.close()
        ann.expect(ev.Left, name="bob")
        back = RawClient(endpoint)
        back.send(ev.Hello(name="bob", resume=secret))
        welcome = back.expect(ev.Welcome)
        assert welcome.name == "bob"
        assert back.expect(ev.Offered, id=file_id).to == "bob"
        assert download(back, file_id)[1] == b"for bob only"
        again = RawClient(endpoint)  # the rejoin comes before the server noticed: it takes the session over
        again.send(ev.Hello(name="bob", resume=welcome.resume))
        assert again.expect(ev.Welcome).name == "bob"
        assert again.expect(ev.Offered, id=file_id).to == "bob"
        assert download(again, file_id)[1] == b"for bob only"
        for client in (ann, back, again):
            client.close()


def test_a_private_offer_to_a_recipient_lost_and_not_back_in_time_goes(tmp_path):
    """What waits for a lost recipient waits as long as lanchat's client tries to rejoin
    (room.REJOIN_SECONDS), then goes as if they had left; the hub is woken for it."""
    from lanchat.room import REJOIN_SECONDS

    now = [1000.0]
    files = ServerFiles(tmp_path / "f", clock=lambda: now[0])
    try:
        offer = files.book.open(owner=1, owner_name="ann", name="a.txt", size=1, to=2, to_name="bob")
        offer.ready = True
        files.forget(2, away=True)
        assert files.timed and files.next_stall_check() == 1000.0 + REJOIN_SECONDS
        assert files.drop_stalled(1000.0 + REJOIN_SECONDS - 1) == [] and offer.file_id in files.book.offers
        files.drop_stalled(1000.0 + REJOIN_SECONDS)
        assert offer.file_id not in files.book.offers and not files.timed
        assert "went when bob left" in (files.book.went(offer.file_id, 1) or "")
        kept = files.book.open(owner=1, owner_name="ann", name="b.txt", size=1, to=3, to_name="cy")
        kept.ready = True
        files.forget(3)  # cy quit (or was never lost): it goes at once, as before
        assert kept.file_id not in files.book.offers and not files.timed
        # the old connection's close and the rejoin's ShowOffers, in either order: it is the rejoin's
        for close_first in (True, False):
            back = files.book.open(owner=1, owner_name="ann", name="c.txt", size=1, to=4, to_name="dan")
            back.ready = True
            if close_first:
                files.forget(4, away=True)
            shown = files.offers_for(5, resumed=4, name="dan")
            if not close_first:
                files.forget(4, away=True)
            assert (back.to, back.to_name) == (5, "dan") and not files.timed, close_first
            assert [a.event.id for a in shown] == [back.file_id]  # type: ignore[attr-defined]
            files.book.remove(back.file_id)
    finally:
        files.close()


def test_cancel_names_a_send_that_waits_its_turn_by_the_id_its_line_gave(tmp_path):
    """A fifth /send waits for one of four on its way up, and /cancel ID could not name it (it has
    no id of the server's yet): only a bare /cancel, which stopped every transfer, took it off.
    Its line gives it an id of its own (s5: the fifth /send) that /cancel takes, before and after
    the server's; the status line shows each transfer's id."""
    sheets = [tmp_path / f"s{n}.txt" for n in range(1, 7)]
    for sheet in sheets:
        sheet.write_bytes(b"x")
    transfers = ClientTransfers(tmp_path)
    offers = [transfers.command(FileCommand(name="send", path=str(sheet))) for sheet in sheets]
    assert offers[4][1][0].text == "s5.txt waits its turn (4 of your files are on their way up); it goes when one of them is offered, or /cancel s5 drops it"
    events, lines = transfers.command(FileCommand(name="cancel", file_id="s5"))
    assert (events, [line.text for line in lines]) == ([], ["stopped sending s5.txt; it is not on offer"])
    assert [sending.name for sending in transfers.queued] == ["s6.txt"]  # the other one waits on
    transfers.on_event(ev.UploadReady(ref=1, id="7", binary=True))
    assert transfers.progress["send:7"].text().startswith("send #7 s1.txt 0% ")
    events, lines = transfers.command(FileCommand(name="cancel", file_id="S1"))  # its own id, once the server's is given too
    assert events[0] == ev.CancelFile(id="7") and [line.text for line in lines] == ["stopped sending s1.txt; it is not on offer"]
    assert events[1:] == [ev.OfferFile(ref=6, name="s6.txt", size=1)]  # its place went to the one waiting
    _, lines = transfers.command(FileCommand(name="cancel", file_id="s5"))
    assert lines[0].text == "s5 is not being sent or received (/files lists what is on offer)"


def test_a_send_to_oneself_is_refused_with_the_reason_not_offered_without_a_word(tmp_path):
    """`/send notes.pdf ann` typed by ann (meaning the room, or a classmate of a like name) offered
    the file to her alone, without a word: nobody else saw it. It is refused here, saying how to
    offer it to the room; to anyone else it goes as before."""
    from lanchat.session import Session

    (tmp_path / "notes.pdf").write_bytes(b"x")
    transfers = ClientTransfers(tmp_path)
    transfers.share_with(Session(name="Ann"))
    events, lines = transfers.command(FileCommand(name="send", path=str(tmp_path / "notes.pdf"), to="ann"))
    assert events == [] and [(line.kind, line.text) for line in lines] == [
        ("error", f"cannot send {tmp_path / 'notes.pdf'} to ann: that is you; /send {tmp_path / 'notes.pdf'} offers it to the room")
    ]
    events, _ = transfers.command(FileCommand(name="send", path=str(tmp_path / "notes.pdf"), to="bob"))
    assert events == [ev.OfferFile(ref=1, name="notes.pdf", size=1, to="bob")]


def test_the_pacer_measures_each_downloaders_link_by_its_own_round_trip():
    """hub.DownloadPacer gives each download's pace (DownloadPace) the round trip of its own
    connection, asked at a window's end: no test held it to that (one that asked another's, or
    none, held a long Wi-Fi link below its pace: test_hub's long round trip test)."""
    from types import SimpleNamespace

    from lanchat.hub_downloads import PACE_WINDOW_SECONDS, DownloadPacer

    now = [10.0]
    queues = {cid: SimpleNamespace(out_bytes=10**9) for cid in (4, 5)}  # full: nothing is read for them
    files = SimpleNamespace(downloading=lambda: [4, 5], next_chunk=lambda cid: None)
    outbox = SimpleNamespace(materialize=lambda: None, queues=queues)
    peers = {cid: SimpleNamespace(closing=False, closed=False) for cid in (4, 5)}
    pacer = DownloadPacer(files, outbox, peers, send=lambda peer, event, frame: None, clock=lambda: now[0])  # type: ignore[arg-type]
    asked: list[int] = []
    pacer.round_trip = lambda cid: asked.append(cid) or 0.2  # type: ignore[func-returns-value]
    pacer.top_up()  # the paces begin
    assert asked == []
    now[0] += PACE_WINDOW_SECONDS
    pacer.top_up()
    assert sorted(asked) == [4, 5]


# ------------------------------------------------------------------ a class fetching one file at once

def _offered_file(store: ServerFiles, tmp_path: Path, data: bytes) -> str:
    """``data`` stored and on offer from connection 1, as an upload would leave it: its id."""
    path = tmp_path / "class-notes.bin"
    path.write_bytes(data)
    offer = store.book.open(owner=1, owner_name="ann", name="class-notes.bin", size=len(data))
    offer.ready = True
    store.stored[offer.file_id] = path
    return offer.file_id


def _reads_counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every read of a stored file from now on, as (offset, size)."""
    from lanchat import server_files

    read_at = server_files._read_at
    reads: list[tuple[int, int]] = []

    def counted(handle, offset: int, size: int) -> bytes:  # noqa: ANN001
        reads.append((offset, size))
        return read_at(handle, offset, size)

    monkeypatch.setattr(server_files, "_read_at", counted)
    return reads


def _fetched(store: ServerFiles, cid: int, limit: int | None = None) -> bytes:
    """What ``cid``'s download hands out, piece by piece (at most ``limit`` pieces), the kept
    pieces never more than their limit."""
    received = bytearray()
    pieces = 0
    while (limit is None or pieces < limit) and (piece := store.next_chunk(cid)) is not None:
        assert store.pieces.size <= store.pieces.limit
        if isinstance(piece, ev.FileBytes):
            received += piece.data
            pieces += 1
    return bytes(received)


def test_a_class_fetching_one_file_at_once_reads_each_piece_from_the_disk_once(store, monkeypatch):
    """Thirty students /get the teacher's file at once: the server reads and frames each piece
    once and hands the same frame to each (bench/class_bench.py), over real sockets, every copy whole."""
    import threading

    data = os.urandom(2 * MB + 17)
    names = ["bob", "cy", "dee", "eve"]
    with running_server(files=store) as (_, endpoint):
        ann = RawClient(endpoint, "ann")
        students = [RawClient(endpoint, name) for name in names]
        file_id = upload(ann, data, name="notes.bin", binary=True)
        for student in students:
            student.expect(ev.Offered, id=file_id)
        reads = _reads_counted(monkeypatch)
        from lanchat import protocol

        framed: list[str] = []  # each download piece framed (protocol.encode's binary_frame), by file id
        binary_frame = protocol.binary_frame

        def counted_frame(ident: str, piece: bytes) -> bytes:
            framed.append(ident)
            return binary_frame(ident, piece)

        monkeypatch.setattr(protocol, "binary_frame", counted_frame)
        got: dict[str, bytes] = {}

        def fetch(student: RawClient, name: str) -> None:
            got[name] = download(student, file_id, binary=True)[1]

        threads = [threading.Thread(target=fetch, args=(s, n), daemon=True) for s, n in zip(students, names, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEFAULT_TIMEOUT * 3)
        assert not any(thread.is_alive() for thread in threads)
        assert all(got.get(name) == data for name in names)
        pieces = -(-len(data) // BINARY_CHUNK_BYTES)
        assert sorted(set(reads)) == sorted(reads) and len(reads) == pieces  # each piece read once, for all four
        assert framed.count(file_id) == pieces  # and framed once: the pacer sends the kept frame to each (frame_of)
        for client in (ann, *students):
            client.close()


def _frame_bytes(file_id: str) -> int:
    """What RecentPieces counts for a whole binary piece of ``file_id`` (server_files._held)."""
    return 2 * len(encode(ev.FileBytes(id=file_id, data=bytes(BINARY_CHUNK_BYTES))))  # its frame and its event's bytes


def test_downloads_further_apart_than_the_kept_pieces_read_again_and_never_hold_more(store, tmp_path, monkeypatch):
    from lanchat.server_files import RecentPieces

    data = os.urandom(10 * BINARY_CHUNK_BYTES)
    file_id = _offered_file(store, tmp_path, data)
    store.pieces = RecentPieces(limit=3 * _frame_bytes(file_id))
    reads = _reads_counted(monkeypatch)
    for cid in (2, 3):
        store.gets_waiting[cid] = deque([WaitingGet(file_id, True, f"s{cid}", 0)])
    assert _fetched(store, 2) == data  # one student all the way first
    assert _fetched(store, 3) == data  # the other far behind: each of its reads drops one of the last three kept
    assert len(reads) == 10 + 10
    assert store.pieces.size == 3 * _frame_bytes(file_id)


def test_a_resumed_download_reads_from_where_its_copy_ends_beside_one_from_the_start(store, tmp_path):
    data = os.urandom(4 * BINARY_CHUNK_BYTES + 5)
    file_id = _offered_file(store, tmp_path, data)
    store.gets_waiting[2] = deque([WaitingGet(file_id, True, "bob", 0)])
    store.gets_waiting[3] = deque([WaitingGet(file_id, True, "cy", 1000)])  # bob's copy ended at 1000 bytes
    first, resumed = bytearray(), bytearray()
    for _ in range(50):  # bounded: taking turns, a piece each
        a, b = store.next_chunk(2), store.next_chunk(3)
        if a is None and b is None:
            break
        first += a.data if isinstance(a, ev.FileBytes) else b""
        resumed += b.data if isinstance(b, ev.FileBytes) else b""
    assert bytes(first) == data and bytes(resumed) == data[1000:]


def test_a_file_taken_off_offer_leaves_none_of_its_pieces_kept_and_a_cut_short_one_keeps_none(store, tmp_path):
    data = os.urandom(3 * BINARY_CHUNK_BYTES)
    file_id = _offered_file(store, tmp_path, data)
    store.gets_waiting[2] = deque([WaitingGet(file_id, True, "bob", 0)])
    assert _fetched(store, 2, limit=2) == data[: 2 * BINARY_CHUNK_BYTES]
    assert store.pieces.size == 2 * _frame_bytes(file_id)
    store.forget(1)  # ann leaves: her offer and its stored file go; bob's download keeps its handle
    assert store.pieces.size == 0 and not store.pieces.kept
    assert _fetched(store, 2) == data[2 * BINARY_CHUNK_BYTES :]  # and finishes from it
    # a stored file shorter than offered: its short piece is handed out (then the error), never kept
    short = _offered_file(store, tmp_path, data)
    (tmp_path / "class-notes.bin").write_bytes(data[:100])
    store.gets_waiting[4] = deque([WaitingGet(short, True, "cy", 0)])
    start = store.next_chunk(4)
    assert isinstance(start, ev.FileStart)
    piece = store.next_chunk(4)
    assert piece == ev.FileBytes(id=short, data=data[:100]) and store.frame_of(piece) is None
    assert isinstance(store.next_chunk(4), ev.FileError)
    assert not any(key[0] == short for key in store.pieces.kept)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "base64"])
def test_a_kept_piece_is_one_event_and_one_frame_for_every_download_of_it(store, tmp_path, binary):
    """The frame made once for a piece 30 students fetch is the very frame the protocol would
    make (encode), handed with that piece only (a short one, never kept, has none: below)."""
    chunk = BINARY_CHUNK_BYTES if binary else CHUNK_BYTES
    data = os.urandom(2 * chunk + 7)
    file_id = _offered_file(store, tmp_path, data)
    handed: dict[int, list[tuple[ev.Event, bytes | None]]] = {2: [], 3: []}
    for cid in handed:
        store.gets_waiting[cid] = deque([WaitingGet(file_id, binary, f"s{cid}", 0)])
    for _ in range(20):  # bounded: a piece each in turn
        pieces = [(cid, store.next_chunk(cid)) for cid in handed]
        if all(piece is None for _, piece in pieces):
            break
        for cid, piece in pieces:
            if piece is not None and not isinstance(piece, ev.FileStart):
                handed[cid].append((piece, store.frame_of(piece)))
    (a1, fa1), (a2, fa2), (a3, fa3) = handed[2]
    (b1, fb1), (b2, fb2), (b3, fb3) = handed[3]
    assert a1 is b1 and a2 is b2 and a3 is b3  # one event and one frame for both, the 7-byte tail too
    assert fa1 is fb1 and fa2 is fb2 and fa3 is fb3
    assert (fa1, fa2, fa3) == (encode(a1), encode(a2), encode(a3))
    assert store.frame_of(a1) is None  # only the last piece handed out has its frame given
    received = b"".join(piece.data if binary else decode_chunk(piece.data) for piece, _ in handed[2])
    assert received == data


def test_a_frame_made_already_still_goes_through_the_state_machine():
    from lanchat.protocol import LocalProtocolError

    piece = ev.FileBytes(id="7", data=b"abc")
    frame = encode(piece)
    server = Connection(Role.SERVER)
    with pytest.raises(LocalProtocolError):  # not before the hello and welcome
        server.send(piece, frame)
    server.receive_data(encode(ev.Hello(name="ann")))
    assert isinstance(server.next_event(), ev.Hello)
    server.send(ev.Welcome(name="ann", members=["ann"], mode="duplex"))
    assert server.send(piece, frame) is frame
