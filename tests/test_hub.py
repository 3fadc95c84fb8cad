"""The hub (lanchat/hub.py) with no socket: bytes in through ``receive_data``, frames out of its
outbox, with a hand-turned clock, an in-memory history store and a stand-in file store. Every
test is a short conversation and runs in milliseconds; the same rules over real sockets are in
test_server.py, test_history.py and test_files_transfer.py."""

from __future__ import annotations

import itertools
import json
import random
import ssl
import time
from dataclasses import dataclass

import pytest

from lanchat import events as ev
from lanchat.guard import NOT_READING_SECONDS
from lanchat.history import Record
from lanchat.history_policy import HISTORY_BURST_ENTRIES, HISTORY_ENTRIES_PER_SECOND
from lanchat.hub import (
    FRAME_SECONDS,
    KEPT_INTERNAL_ERRORS,
    MEMBER_FRAME_SECONDS,
    Hub,
)
from lanchat.hub_downloads import (
    AHEAD_SECONDS,
    FILE_LOW_WATER_BYTES,
    FILE_LOW_WATER_FLOOR,
    FILE_SEND_BUFFER_BYTES,
    FILE_SEND_BUFFER_FLOOR,
    DownloadPace,
)
from lanchat.outbox import Outbox
from lanchat.protocol import Connection, LocalProtocolError, Role, encode
from lanchat.room import Room
from lanchat.tls import TlsSender


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class MemoryStore:
    """The parts of history.HistoryStore the hub calls, in memory; ``journal`` records the order
    of commits and socket writes (shared with the Lab's wire)."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.path = "memory"
        self.writable = True
        self.errors = (OSError,)
        self.rows: list[Record] = []
        self.kept: list[Record] = []
        self.seen: dict[str, int] = {}
        self.full = False  # a full disk: every commit fails, and what it held is lost

    def keep(self, *, time: float, sender: str, text: str, to: str | None = None, **owners: bytes | None) -> None:
        self.kept.append(Record(id=len(self.rows) + len(self.kept) + 1, time=time, sender=sender, to=to, text=text))

    def keep_said(self, sender: str, times: list[float], texts: list[str]) -> None:
        for when, text in zip(times, texts, strict=True):
            self.keep(time=when, sender=sender, text=text)

    def commit(self) -> int:
        stored, self.kept = self.kept, []
        if self.full:
            self.journal.append("commit failed")
            raise OSError(28, "No space left on device")
        self.rows += stored
        self.journal.append(f"commit {len(stored)}")
        return len(stored)

    def mark_seen(self, name: str) -> None:
        self.seen[name] = len(self.rows)

    def last_seen(self, name: str) -> int | None:
        return self.seen.get(name)

    def keep_action(self, *, time: float, sender: str, text: str) -> None:  # a /me
        self.kept.append(Record(id=len(self.rows) + len(self.kept) + 1, time=time, sender=sender, to=None, text=text, action=True))

    def held_dropped(self, name: str, owner: bytes | None) -> int:  # whispers kept for them and dropped: never here
        return 0

    def replay_for(  # noqa: ANN201
        self, name: str, limit: int, *, owner: bytes | None = None, before: int | None = None, away_since: int | None = None,
        max_bytes: int | None = None,
    ):
        older = [row for row in self.rows if before is None or row.id < before]
        return older[-limit:], len(older) > limit

    # history.HistoryStore moves its journal into SQLite when due; this store has nothing to move
    clock = staticmethod(time.monotonic)

    def file_gone(self) -> bool:  # (HistoryStore's: its file deleted while the room runs)
        return False

    def move_deadline(self) -> float | None:
        return None

    def move_if_due(self) -> int:
        return 0


class EndlessFiles:
    """A file store with one endless download for ``reader``: every chunk is CHUNK bytes."""

    CHUNK = 60 * 1024

    def __init__(self) -> None:
        self.reader: int | None = None
        self.chunks_given = 0
        self.uploads: dict = {}  # no uploads: nothing ever stalls (ServerFiles.drop_stalled)
        self.timed = False  # nor waits for a lost recipient
        self.clock = time.time
        self.handed: list = []  # an endless download never hands out its last piece

    def next_stall_check(self) -> float | None:
        return None

    def frame_of(self, piece: ev.Event) -> bytes | None:
        return None  # nothing kept: each piece is encoded as it goes (ServerFiles.frame_of)

    def drop_stalled(self) -> list:
        return []

    def downloading(self) -> list[int]:
        return [self.reader] if self.reader is not None else []

    @property
    def downloads(self) -> dict[int, list[str]]:  # who downloads (the hub asks before wants_to_send)
        return {self.reader: ["endless"]} if self.reader is not None else {}

    def wants_to_send(self, cid: int) -> bool:
        return cid == self.reader

    def next_chunk(self, cid: int) -> ev.Event | None:
        self.chunks_given += 1
        return ev.FileBytes(id="1", data=b"f" * self.CHUNK)

    def handle(self, room, cid, event):  # noqa: ANN001, ANN201
        return []

    def offers_for(self, cid: int, resumed: int | None = None, name: str | None = None) -> list:  # nothing on offer: the endless download is not one
        return []

    def forget(self, cid: int, *, away: bool = False) -> list:
        if cid == self.reader:
            self.reader = None
        return []

    def close(self) -> None:
        pass


@dataclass
class Person:
    """One participant: a client-side protocol connection talking to the hub."""

    lab: Lab
    cid: int
    proto: Connection

    def says(self, *events: ev.Event) -> None:
        self.lab.hub.receive_data(self.cid, b"".join(self.proto.send(event) for event in events))

    def hears(self) -> list[object]:
        """Everything the server has written to this person so far, as events."""
        self.lab.flush()
        data = bytes(self.lab.wire.pop(self.cid, b""))
        if data:
            self.proto.receive_data(data)
        return self.proto.events()

    def hears_one(self, kind: type) -> object:
        found = [event for event in self.hears() if isinstance(event, kind)]
        assert len(found) == 1, f"expected one {kind.__name__}, got {found}"
        return found[0]


class Lab:
    """A hub, a clock, what was logged and released, and each person's bytes on the wire."""

    def __init__(self, *, history: bool = False, files: object = None, **hub_args: object) -> None:
        files = files if files is not None else EndlessFiles()  # with no reader: no download
        self.clock = Clock()
        self.journal: list[str] = []
        self.store = MemoryStore(self.journal) if history else None
        self.log: list[str] = []
        self.released: list[int] = []
        self.room = Room(clock=lambda: 1.0e9, history=history)
        self.hub = Hub(
            self.room,
            files=files,  # type: ignore[arg-type]
            history=self.store,  # type: ignore[arg-type]
            clock=self.clock,
            log=self.log.append,
            release=self.released.append,
            **hub_args,  # type: ignore[arg-type]
        )
        self.wire: dict[int, bytearray] = {}
        self.writers: dict[int, Socket] = {}

    def connect(self, address: str = "127.0.0.1:40000", *, this_machine: bool = False) -> Person:
        person = Person(self, self.hub.open(address, this_machine=this_machine), Connection(Role.CLIENT))
        self.writers[person.cid] = Socket(self, person.cid)
        return person

    def join(self, name: str) -> Person:
        person = self.connect()
        person.says(ev.Hello(name=name))
        assert isinstance(person.hears()[0], ev.Welcome)
        return person

    def flush(self) -> None:
        """The writing half of one pass of the server loop."""
        for socket in self.writers.values():  # what the selector reports writable
            queue = self.hub.outbox.queues.get(socket.cid)
            if socket.writing and socket.reading and queue is not None:
                self.hub.outbox.dirty.add(queue)
        if self.hub.files.downloads:  # as server.py: the pacer has nothing to do without a download
            self.hub.pacer.top_up()
        self.hub.flush(self.writers)


class Socket:
    """Stands in for one connection's socket (a hub.Writer): ``reading`` False is a reader
    whose kernel buffers are full."""

    def __init__(self, lab: Lab, cid: int) -> None:
        self.lab = lab
        self.cid = cid
        self.reading = True
        self.writing = False
        self.finished = False

    pieces = 0  # a plain socket's (server.Client: TLS_SEND_BYTES for a TLS one)
    gather = None  # every write joined for send (server.Client: a plain socket's sendmsg)
    take: int | None = None  # at most this many bytes a send (a full kernel buffer's edge)
    broken: OSError | None = None  # what every send raises (a reset connection)

    def send(self, data: bytes) -> int:
        if self.broken is not None:
            raise self.broken
        if not self.reading:
            raise BlockingIOError
        data = data[: self.take] if self.take is not None else data
        self.lab.journal.append(f"write to {self.cid}")
        self.lab.wire.setdefault(self.cid, bytearray()).extend(data)
        return len(data)

    def set_writing(self, writing: bool) -> None:
        self.writing = writing

    def finish(self) -> None:
        self.finished = True


# ------------------------------------------------------------------ routing


def test_a_hello_and_a_message_reach_everyone_and_the_join_is_logged():
    lab = Lab()
    ann = lab.join("ann")
    bob = lab.join("bob")
    assert ann.hears_one(ev.Joined).name == "bob"
    ann.says(ev.Say(text="hi bob"))
    assert bob.hears_one(ev.Message).text == "hi bob"
    assert ann.hears_one(ev.Message).sender == "ann"
    assert "bob joined from 127.0.0.1:40000" in lab.log


def test_a_connection_that_closes_leaves_the_room_and_is_released_once():
    lab = Lab()
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.hub.receive_data(bob.cid, b"")
    assert lab.released == [bob.cid]
    left = ann.hears_one(ev.Left)
    assert (left.name, left.reason) == ("bob", "lost")
    lab.hub.close(bob.cid)  # the loop may say so again: nothing more happens
    assert lab.released == [bob.cid]


def test_garbage_gets_a_fatal_error_and_the_others_hear_the_sender_left():
    lab = Lab()
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.hub.receive_data(bob.cid, b"\xff\xff\xff\xffnot a frame")
    error = bob.hears_one(ev.Error)
    assert error.code == ev.E_BAD_FRAME and error.fatal
    assert ann.hears_one(ev.Left).name == "bob"
    lab.flush()
    assert lab.writers[bob.cid].finished  # FIN once its last frame is out


def test_a_bug_while_serving_one_person_ends_only_that_connection():
    lab = Lab()
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    try:
        raise RuntimeError("planted")
    except RuntimeError as exc:
        lab.hub.internal_error(bob.cid, exc)
    assert lab.released == [bob.cid] and "planted" in lab.hub.internal_errors[0]
    assert ann.hears_one(ev.Left).name == "bob"


def test_a_bug_met_again_and_again_keeps_the_first_tracebacks_and_counts_the_rest():
    """Every traceback of a bug survived was kept for the server's whole run: a student whose
    client trips the same bug all day grew them without bound. Now the first few are kept and
    all are counted; the log still has a line for each."""
    lab = Lab()
    times = KEPT_INTERNAL_ERRORS + 20
    for i in range(times):
        person = lab.join(f"p{i}")
        try:
            raise RuntimeError(f"planted {i}")
        except RuntimeError as exc:
            lab.hub.internal_error(person.cid, exc)
    kept = lab.hub.internal_errors
    assert len(kept) == KEPT_INTERNAL_ERRORS and lab.hub.internal_error_count == times
    assert [f"planted {i}" in tb for i, tb in enumerate(kept)] == [True] * KEPT_INTERNAL_ERRORS  # the first ones
    logged = [line for line in lab.log if line.startswith("internal error while serving")]
    assert len(logged) == times and logged[-1].endswith(f"(RuntimeError: planted {times - 1}); disconnecting them")


# ------------------------------------------------------------------ history


def test_each_message_is_committed_before_anyone_is_sent_it():
    lab = Lab(history=True)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.journal.clear()
    ann.says(ev.Say(text="one"), ev.Say(text="two"))
    assert bob.hears()  # flushed
    assert lab.journal[0] == "commit 2", lab.journal  # one commit for the pass, before any write
    assert [row.text for row in lab.store.rows] == ["one", "two"]


def test_history_requests_share_a_bucket_that_refills_with_time():
    lab = Lab(history=True)
    ann = lab.join("ann")
    ann.says(ev.Say(text="something to page through"))
    ann.hears()
    ann.says(ev.HistoryRequest(limit=HISTORY_BURST_ENTRIES))
    assert ann.hears_one(ev.HistoryEnd).shown == 1  # a full answer at once is allowed
    ann.says(ev.HistoryRequest(limit=HISTORY_BURST_ENTRIES))
    busy = ann.hears_one(ev.Error)
    assert busy.code == ev.E_HISTORY and "too much /history" in busy.message
    lab.clock.now += HISTORY_BURST_ENTRIES / HISTORY_ENTRIES_PER_SECOND  # refilled
    ann.says(ev.HistoryRequest(limit=HISTORY_BURST_ENTRIES))
    assert ann.hears_one(ev.HistoryEnd).shown == 1


def test_a_replay_keeps_within_half_the_queue_limit_and_says_there_is_more():
    lab = Lab(history=True, max_queue_bytes=64 * 1024)
    ann = lab.join("ann")
    for number in range(40):
        ann.says(ev.Say(text=f"{number:02d} " + "x" * 2000))
        ann.hears()
    ann.says(ev.HistoryRequest(limit=40))
    heard = ann.hears()
    replayed = [event for event in heard if isinstance(event, ev.Message)]
    end = heard[-1]
    assert isinstance(end, ev.HistoryEnd) and end.more
    assert 0 < len(replayed) < 40 and sum(len(m.text) for m in replayed) <= 32 * 1024
    assert replayed[-1].text.startswith("39 ")  # a cut drops the oldest, never the newest
    assert end.before == lab.store.rows[40 - len(replayed)].id


def test_a_message_the_history_cannot_store_is_not_sent_and_its_sender_is_told():
    lab = Lab(history=True)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.store.full = True
    ann.says(ev.Say(text="lost one"), ev.Say(text="lost two"))
    assert not [e for e in bob.hears() if isinstance(e, ev.Message)]  # nobody receives it
    told = ann.hears()
    assert not [e for e in told if isinstance(e, ev.Message)]  # not even the sender's own copy
    assert [(e.code, e.fatal) for e in told] == [(ev.E_HISTORY, False)] * 2
    assert "not sent: 'lost one'" in told[0].message and "'lost two'" in told[1].message
    assert sum("cannot use memory" in line for line in lab.log) == 1  # the host is warned once
    ann.says(ev.Say(text="still full"))
    assert ann.hears_one(ev.Error).code == ev.E_HISTORY
    assert sum("cannot use memory" in line for line in lab.log) == 1  # not once per message
    lab.store.full = False  # the disk frees up: the chat delivers again
    ann.says(ev.Say(text="stored"))
    assert bob.hears_one(ev.Message).text == "stored"
    assert ann.hears_one(ev.Message).text == "stored"
    assert [row.text for row in lab.store.rows] == ["stored"]
    assert any("saving to memory again" in line for line in lab.log)


def test_a_direct_message_the_history_cannot_store_is_not_sent_and_named_shortened():
    lab = Lab(history=True)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.store.full = True
    long_text = "psst " + "x" * 500
    ann.says(ev.Whisper(to="bob", text=long_text))
    assert not [e for e in bob.hears() if isinstance(e, ev.Direct)]
    error = ann.hears_one(ev.Error)
    assert error.code == ev.E_HISTORY and "not sent to bob: 'psst xxx" in error.message
    assert len(error.message) < 160  # the text is named, shortened


def test_what_else_happened_in_a_pass_whose_messages_were_refused_still_happens_in_order():
    lab = Lab(history=True)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.store.full = True
    ann.says(ev.Say(text="refused"))
    carl = lab.connect()
    carl.says(ev.Hello(name="carl"))  # the same pass, after the refused message
    ann.says(ev.Say(text="refused too"))
    heard = bob.hears()
    assert [type(e).__name__ for e in heard] == ["Joined"] and heard[0].name == "carl"
    assert isinstance(carl.hears()[0], ev.Welcome)
    assert [e.code for e in ann.hears() if isinstance(e, ev.Error)] == [ev.E_HISTORY] * 2


def test_with_no_history_a_message_is_delivered_with_nothing_to_commit():
    lab = Lab(history=False)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    ann.says(ev.Say(text="not kept, still sent"))
    assert bob.hears_one(ev.Message).text == "not kept, still sent"
    assert not [line for line in lab.journal if line.startswith("commit")]


# ------------------------------------------------------------------ pacing


def test_a_download_is_queued_only_up_to_the_low_water_mark():
    files = EndlessFiles()
    lab = Lab(files=files)
    bob = lab.join("bob")
    files.reader = bob.cid
    lab.writers[bob.cid].reading = False  # bob's kernel buffers are full: nothing can be written
    assert lab.hub.pacer.top_up() == [(bob.cid, FILE_SEND_BUFFER_BYTES)]  # the loop is told once, to cap the send buffer
    queued = lab.hub.outbox.queued_bytes(bob.cid)
    assert FILE_LOW_WATER_BYTES <= queued < FILE_LOW_WATER_BYTES + files.CHUNK + 64
    given = files.chunks_given
    assert lab.hub.pacer.top_up() == []
    assert files.chunks_given == given  # still full: nothing more is read from the file
    lab.flush()
    assert lab.writers[bob.cid].writing  # the loop watches for room to write the rest
    lab.writers[bob.cid].reading = True
    pieces = [event for event in bob.hears() if isinstance(event, ev.FileBytes)]
    assert len(pieces) >= given  # every chunk went through the state machine, whole


def test_what_waits_ahead_of_chat_follows_the_downloaders_measured_pace():
    """A fixed 256 KiB queue and 128 KiB send buffer (doubled by Linux) held ~640 KB ahead of
    every chat line: seconds on a slow Wi-Fi. Now a quarter second of the link's measured pace
    (DownloadPace), within floors and the old sizes as ceilings: a 250 KB/s link gets a small
    queue and buffer, and a fast one the ceilings again, within a window or two."""
    files = EndlessFiles()
    lab = Lab(files=files)
    bob = lab.join("bob")
    files.reader = bob.cid
    socket = lab.writers[bob.cid]
    assert lab.hub.pacer.top_up() == [(bob.cid, FILE_SEND_BUFFER_BYTES)]  # a download begins at the ceilings

    def run(rate: int, seconds: float) -> list[tuple[int, int]]:
        """Passes of the loop, 20 a second, with the link taking ``rate`` bytes a second."""
        told = []
        socket.take = rate // 20
        for _ in range(int(seconds * 20)):
            lab.clock.now += 0.05
            told += lab.hub.pacer.top_up()
            lab.hub.outbox.dirty.add(lab.hub.outbox.queues[bob.cid])
            lab.hub.flush(lab.writers)
            bob.hears()
        return told

    told = run(250_000, 1.0)
    assert told and told[-1] == (bob.cid, FILE_SEND_BUFFER_FLOOR)  # 62 KB ahead: the kernel's share at its floor
    assert FILE_LOW_WATER_FLOOR <= lab.hub.pacer.paces[bob.cid].low_water < 250_000 * AHEAD_SECONDS  # (was 256 KiB)
    assert lab.hub.outbox.queued_bytes(bob.cid) < 64 * 1024
    told = run(40_000_000, 0.6)  # the link is fast again (a crowd left the Wi-Fi)
    assert told[-1] == (bob.cid, FILE_SEND_BUFFER_BYTES)
    assert lab.hub.pacer.paces[bob.cid].low_water == FILE_LOW_WATER_BYTES
    run(250_000, 1.0)
    files.reader = None  # that download is over; the next, later, is measured afresh
    assert lab.hub.pacer.top_up() == [] and bob.cid not in lab.hub.pacer.paces
    files.reader = bob.cid
    assert lab.hub.pacer.top_up() == [(bob.cid, FILE_SEND_BUFFER_BYTES)]


def test_a_link_with_a_long_round_trip_is_not_held_below_its_pace():
    """The kernel's share of what waits ahead of chat (an eighth of a second of the pace, Linux
    doubling it) must also hold the bytes in flight: on a link with a 200 ms round trip (a
    class's Wi-Fi under load) the socket took less each window, the pace fell, the buffer was cut
    again, down to the floor (about 320 KB/s on a 1 MB/s link). The kernel's round trip now sets
    a floor of pace x round trip. Modelled: each 50 ms the link carries its 1 MB/s, at most the
    kernel's (doubled) send buffer per round trip, and DownloadPace measures it."""

    def carried(link_round_trip: float, known: bool) -> tuple[float, int]:
        """(bytes carried in the 4th second, the send buffer then)."""
        pace = DownloadPace(0.0)
        now, buffer, last_second = 0.0, pace.send_buffer, 0.0
        for step in range(80):  # 4 s
            took = min(1_000_000, 2 * buffer / link_round_trip) * 0.05
            pace.sent += int(took)
            last_second += took if step >= 60 else 0.0
            now += 0.05
            buffer = pace.measure(now, lambda: link_round_trip if known else None) or buffer
        return last_second, buffer

    assert carried(0.2, known=False)[0] < 400_000  # the round trip not known (not TCP, not Linux): the spiral, as before
    assert carried(0.2, known=True)[0] > 990_000  # known (TCP_INFO): the link's own 1 MB/s
    lan, lan_unknown = carried(0.001, known=True), carried(0.001, known=False)
    assert lan[0] > 990_000 and lan == lan_unknown  # a LAN's round trip changes nothing: little waits ahead of chat


def test_a_lone_downloaders_next_download_is_measured_afresh(tmp_path):
    """With nobody else downloading, the loop skips the pacer once a download is over (server.py:
    nothing to do), so the first download's pace stayed and the next, minutes later, began from it:
    the send buffer left at the slow link's floor, and its first window (the idle minutes counted
    in) halving the old pace. Each download of a connection now begins at the ceilings and is
    measured afresh."""
    import hashlib

    from lanchat.files import BINARY_CHUNK_BYTES
    from lanchat.server_files import ServerFiles

    lab = Lab(files=ServerFiles(tmp_path))
    ann, bob = lab.join("ann"), lab.join("bob")
    data = b"d" * (7 * BINARY_CHUNK_BYTES + 100)  # its last piece leaves the queue short: the pacer asks again, finds none
    ann.says(ev.OfferFile(ref=1, name="data.bin", size=len(data)))
    ready = ann.hears_one(ev.UploadReady)
    pieces = [ev.UploadBytes(id=ready.id, data=data[at : at + 50_000]) for at in range(0, len(data), 50_000)]
    ann.says(*pieces, ev.UploadDone(id=ready.id, sha256=hashlib.sha256(data).hexdigest()))
    ann.hears()
    socket, pacer = lab.writers[bob.cid], lab.hub.pacer

    def download() -> list[tuple[int, int]]:
        """bob fetches the file over a 250 KB/s link, 20 passes a second; what the loop was told."""
        bob.says(ev.GetFile(id=ready.id, binary=True))
        told, got = [], 0
        socket.take = 250_000 // 20
        while got < len(data):
            assert lab.clock.now < 1e6  # (a deadline)
            lab.clock.now += 0.05
            if lab.hub.files.downloads:  # as server.py
                told += pacer.top_up()
            lab.hub.flush(lab.writers)
            got += sum(len(event.data) for event in bob.hears() if isinstance(event, ev.FileBytes))
        return told

    assert download()[-1] == (bob.cid, FILE_SEND_BUFFER_FLOOR)  # the slow link, measured
    for _ in range(20):  # a quiet minute: nothing to send
        lab.clock.now += 3.0
        lab.flush()
    socket.take = None
    bob.says(ev.GetFile(id=ready.id, binary=True))  # the next download (the link may be fast now)
    lab.hub.flush(lab.writers)
    assert pacer.top_up()[:1] == [(bob.cid, FILE_SEND_BUFFER_BYTES)]  # it begins at the ceilings
    assert pacer.paces[bob.cid].rate < 0  # not measured yet: nothing of the first download's pace


def test_the_round_trip_the_pacer_reads_is_the_kernels_for_tcp_and_none_for_a_socket_file():
    """transport.round_trip_seconds, which the server gives the pacer (DownloadPacer.round_trip):
    TCP_INFO's smoothed round trip on a real loopback connection, None for AF_UNIX."""
    import socket as sockets

    from lanchat.transport import round_trip_seconds

    with sockets.create_server(("127.0.0.1", 0)) as listener:
        with sockets.create_connection(listener.getsockname(), timeout=5) as near:
            far, _ = listener.accept()
            with far:
                far.settimeout(5)
                for _ in range(3):  # a few exchanges: the kernel's estimate is from acknowledged data
                    near.sendall(b"x")
                    far.recv(1)
                    far.sendall(b"y")
                    near.recv(1)
                rtt = round_trip_seconds(near)
                if not hasattr(sockets, "TCP_INFO"):
                    assert rtt is None
                else:
                    assert rtt is not None and 0 < rtt < 1.0, rtt
    a, b = sockets.socketpair()
    with a, b:
        assert round_trip_seconds(a) is None


def test_the_shutdown_notice_jumps_a_downloads_queued_pieces_but_not_the_chat():
    """bob's laptop froze mid-download: his queue is full of pieces the flush cannot write, and
    the notice waited behind them until the server closed. Now the pieces go (useless once the
    server stops), the chat among them and the half-written head stay, and the notice follows."""
    files = EndlessFiles()
    lab = Lab(files=files)
    ann, bob = lab.join("ann"), lab.join("bob")
    files.reader = bob.cid
    lab.writers[bob.cid].take = 1000  # the first write takes part of a piece
    lab.flush()
    lab.writers[bob.cid].reading = False  # then his kernel buffers are full
    lab.hub.pacer.top_up()
    ann.says(ev.Say(text="among the pieces"))
    lab.hub.pacer.top_up()
    assert lab.hub.outbox.queued_bytes(bob.cid) > FILE_LOW_WATER_BYTES
    lab.hub.shutdown("the server was stopped")
    assert lab.hub.outbox.queued_bytes(bob.cid) < 2 * files.CHUNK  # what is left of the piece begun, the chat, the notice
    lab.writers[bob.cid].reading, lab.writers[bob.cid].take = True, None
    lab.hub.outbox.dirty.add(lab.hub.outbox.queues[bob.cid])
    lab.hub.flush(lab.writers)
    heard = bob.hears()  # whole frames: the piece begun was finished
    assert [type(e).__name__ for e in heard if not isinstance(e, ev.FileBytes)] == ["Message", "Shutdown"], heard
    assert sum(isinstance(e, ev.FileBytes) for e in heard) == 1


def test_a_closing_connection_gets_no_more_download_chunks():
    files = EndlessFiles()
    lab = Lab(files=files)
    bob = lab.join("bob")
    files.reader = bob.cid
    bob.says(ev.Bye())
    given = files.chunks_given
    lab.flush()
    assert lab.writers[bob.cid].finished
    assert files.chunks_given == given


# ------------------------------------------------------------------ deadlines


def test_a_connection_that_never_says_hello_is_told_and_closed():
    lab = Lab(handshake_seconds=5.0)
    probe = lab.connect("10.0.0.9:5555")
    assert lab.hub.next_deadline() == lab.clock.now + 5.0
    lab.clock.now += 4.9
    lab.hub.expire()
    assert probe.hears() == []
    lab.clock.now += 0.2
    lab.hub.expire()
    error = probe.hears_one(ev.Error)
    assert error.code == ev.E_HELLO_FIRST and error.fatal
    assert "10.0.0.9:5555: no hello within 5 s; disconnecting" in lab.log


def test_a_newcomer_held_past_the_hello_deadline_is_not_told_it_never_said_hello():
    """Held while the room started (its host slow to come in), bob's hello waited unread; at the
    hello deadline he was told 'no hello within 5 s', though his hello had come at once."""
    lab = Lab(handshake_seconds=5.0)
    lab.hub.open("local", host=True, handshake=False)  # and the host never says hello
    bob = lab.connect("10.0.0.9:5555")
    bob.says(ev.Hello(name="bob"))
    lab.clock.now += 5.1
    lab.hub.expire()
    error = bob.hears_one(ev.Error)
    assert (error.code, error.fatal) == (ev.E_HELLO_FIRST, True)
    assert error.message == "the room did not open within 5 s (its host is not in yet): try again in a moment"
    assert "10.0.0.9:5555: held 5 s while the room was starting; disconnecting" in lab.log


def test_a_newcomer_held_past_the_hello_deadline_for_the_rooms_bot_is_told_it_is_the_bot():
    """The host is in, the room's own bot (serve --bot) is not: the message said "its host is not in
    yet", and the student asked the teacher about a screen that was up all along."""
    lab = Lab(handshake_seconds=5.0)
    host = Person(lab, lab.hub.open("local", host=True, handshake=False), Connection(Role.CLIENT))
    lab.writers[host.cid] = Socket(lab, host.cid)
    lab.hub.open("local", service=True, handshake=False)  # and the bot never says hello
    host.says(ev.Hello(name="ann"))  # the host is in
    bob = lab.connect("10.0.0.9:5555")
    bob.says(ev.Hello(name="bob"))
    lab.clock.now += 5.1
    lab.hub.expire()
    error = bob.hears_one(ev.Error)
    assert error.message == "the room did not open within 5 s (its own bot is not in yet): try again in a moment"


def test_a_person_at_nc_held_while_the_room_starts_is_not_told_they_gave_no_name():
    """At nc the name question gives a person 2 min (textline.TextDoor.asked); bob typed his name
    at once, and it waited, held, for a host who never came in: he was told "no name given
    within 2 min", though he had given it. The room's not opening is said, as to a held hello."""
    from lanchat.textline import TextDoor

    lab = Lab(handshake_seconds=5.0)
    lab.hub.open("local", host=True, handshake=False)  # and the host never says hello
    bob = lab.connect("10.0.0.9:5555")
    door = TextDoor(lab.hub)
    door.open(bob.cid)
    door.receive_data(bob.cid, b"bob\n")
    assert lab.hub.next_deadline() == lab.clock.now + 120.0  # the name question's time
    lab.clock.now += 120.1
    lab.hub.expire()
    lab.flush()
    said = bytes(lab.wire[bob.cid])
    assert b"! the room did not open in time (its host is not in yet): try again in a moment\r\n" in said, said
    assert b"no name given" not in said and "10.0.0.9:5555: held while the room was starting; disconnecting" in lab.log


def test_a_connection_that_never_joins_leaves_nothing_behind_in_the_room():
    """A port probe timed out and released by its linger deadline: the room forgets where it
    came from, or every such connection would cost the server memory for good."""
    lab = Lab(handshake_seconds=5.0, linger_seconds=2.0)
    probe = lab.connect("10.0.0.9:5555")
    lab.room.gate.addresses[probe.cid] = "10.0.0.9:5555"  # as server.py records it
    assert probe.cid in lab.room.moderation.arrivals
    lab.writers[probe.cid].reading = False  # it never reads its refusal either
    lab.clock.now += 5.1
    lab.hub.expire()
    lab.flush()
    lab.clock.now += 2.1
    lab.hub.expire()
    assert lab.released == [probe.cid]
    assert probe.cid not in lab.room.moderation.arrivals
    assert probe.cid not in lab.room.gate.addresses


def test_frames_never_push_the_handshake_deadline_back_and_a_join_clears_it():
    """Issue 14: the deadline is per connection, not per read: a connection dripping frames
    (or bytes) cannot hold its socket for ever."""
    lab = Lab(handshake_seconds=5.0)
    ann = lab.connect()
    opened = lab.clock.now
    lab.clock.now += 4.0
    ann.says(ev.Hello(name="bad name with spaces"))  # refused; saying something does not help
    assert lab.hub.next_deadline() == opened + 5.0
    ann.says(ev.Hello(name="ann"))
    assert lab.hub.next_deadline() is None  # an idle server sleeps for ever


def test_a_members_half_frame_has_a_minute_not_the_slowloris_10_s():
    """A joined member's frame left half-sent (a Wi-Fi stall mid-upload) put the student out after
    the slowloris rule's 10 s (limits.FRAME_SECONDS); a member's frame has MEMBER_FRAME_SECONDS,
    whole or not, and then the fatal deadline error names that limit. Before the welcome: 10 s."""
    lab = Lab()
    bob = lab.join("bob")
    bob.hears()
    half = bob.proto.send(ev.Say(text="half across the stall"))
    lab.hub.receive_data(bob.cid, half[:7])
    assert lab.hub.next_deadline() == lab.clock.now + MEMBER_FRAME_SECONDS
    lab.clock.now += FRAME_SECONDS + 1
    lab.hub.expire()
    assert bob.hears() == [] and bob.cid in lab.room.members
    lab.clock.now += MEMBER_FRAME_SECONDS - FRAME_SECONDS
    lab.hub.expire()
    error = bob.hears_one(ev.Error)
    assert error.code == ev.E_DEADLINE and error.fatal
    assert error.message == f"a frame was started but not finished within {MEMBER_FRAME_SECONDS:g} seconds"
    probe = lab.connect("10.0.0.9:5555")  # not joined: the slowloris rule
    lab.hub.receive_data(probe.cid, probe.proto.send(ev.Hello(name="loris"))[:7])
    lab.clock.now += FRAME_SECONDS + 0.1
    lab.hub.expire()
    assert probe.hears_one(ev.Error).code == ev.E_DEADLINE


def test_a_reader_that_stops_in_a_quiet_room_is_dropped_without_anything_else_waking_the_loop():
    """The not-reading rule (guard.NOT_READING_SECONDS) ran only when the loop woke for
    something else: bob's laptop froze with frames queued for him, nobody spoke again, and
    next_deadline() said nothing was due: the loop slept, and bob was never dropped. Now a
    queue left with a backlog wakes the loop for the guard's next look, until bob is dropped."""
    lab = Lab()
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.writers[bob.cid].reading = False  # frozen
    ann.says(ev.Say(text="are you there?"))
    lab.flush()
    frozen_at = lab.clock.now
    wakes = 0
    while bob.cid not in lab.released and wakes < 10_000:
        due = lab.hub.next_deadline()  # the loop sleeps until then (None: for ever)
        assert due is not None, "the loop would sleep for ever"
        lab.clock.now = max(lab.clock.now, due)
        if lab.clock.now >= lab.hub.expire_from:
            lab.hub.expire()
        lab.flush()
        wakes += 1
        if bob.cid in lab.hub.peers and lab.hub.peers[bob.cid].closing:
            lab.clock.now += 2.5  # the linger: his socket is closed
    assert any("bob: not reading" in line for line in lab.log), lab.log
    assert lab.clock.now - frozen_at < NOT_READING_SECONDS + 5


def test_a_closing_connection_that_never_reads_is_released_when_its_time_is_up():
    lab = Lab(linger_seconds=2.0)
    ann, bob = lab.join("ann"), lab.join("bob")
    bob.says(ev.Bye())
    lab.writers[bob.cid].reading = False
    lab.flush()
    assert lab.released == []
    lab.clock.now += 2.0
    lab.hub.expire()
    assert lab.released == [bob.cid]
    assert ann.hears()[-1].name == "bob"


def test_a_reader_past_the_queue_limit_is_dropped_and_the_room_is_told():
    lab = Lab(max_queue_bytes=8 * 1024)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.writers[bob.cid].reading = False
    for number in range(10):
        ann.says(ev.Say(text=f"{number} " + "z" * 1000))
        lab.flush()
    left = ann.hears_one(ev.Left)
    assert (left.name, left.reason) == ("bob", "dropped")
    lab.writers[bob.cid].reading = True
    heard = bob.hears()
    assert isinstance(heard[-1], ev.Error) and heard[-1].code == ev.E_TOO_SLOW  # whole frames, notice last
    lab.flush()
    assert lab.writers[bob.cid].finished and not lab.writers[bob.cid].writing


def test_shutdown_tells_everyone_and_marks_the_people_seen():
    lab = Lab(history=True)
    ann = lab.join("ann")
    ann.hears()
    lab.hub.shutdown("lesson over")
    assert ann.hears_one(ev.Shutdown).reason == "lesson over"
    assert "ann" in lab.store.seen
    lab.flush()
    assert lab.writers[ann.cid].finished


def test_write_interest_is_asked_for_only_while_something_waits():
    lab = Lab()
    ann = lab.join("ann")
    lab.writers[ann.cid].reading = False
    ann.says(ev.Say(text="hi"))
    lab.flush()
    assert lab.writers[ann.cid].writing
    lab.writers[ann.cid].reading = True
    lab.flush()
    assert not lab.writers[ann.cid].writing and not lab.writers[ann.cid].finished


@pytest.mark.parametrize("once", [True, False])
def test_with_once_the_chat_ends_when_the_last_person_leaves(once):
    lab = Lab(once=once)
    ann = lab.join("ann")
    assert not lab.hub.last_person_left
    ann.says(ev.Bye())
    lab.hub.receive_data(ann.cid, b"")  # and closes
    assert lab.hub.last_person_left is once


# ------------------------------------------------------------------ the host first


def test_others_wait_for_the_host_and_then_go_in_in_order():
    lab = Lab()
    host = Person(lab, lab.hub.open("local", host=True, handshake=False), Connection(Role.CLIENT))
    lab.writers[host.cid] = Socket(lab, host.cid)
    bob = lab.connect()
    lab.hub.receive_data(bob.cid, encode(ev.Hello(name="bob", hold_notice=True)) + encode(ev.Say(text="am I in?")))  # pipelined
    assert bob.hears() == [ev.Held(reason="starting")]  # held until the host is in, and told so at once
    host.says(ev.Hello(name="ann"))
    heard = bob.hears()
    assert isinstance(heard[0], ev.Welcome) and heard[0].host == "ann"
    assert [e.text for e in heard if isinstance(e, ev.Message)] == ["am I in?"]


@pytest.mark.parametrize(
    ("opening", "told"),
    [
        (encode(ev.Hello(name="bob", hold_notice=True)), True),
        (encode(ev.Hello(name="bob")), False),  # a client written before `held` (PROTOCOL.md 10's): as before
        (encode(ev.Say(text="hi")), False),  # not a hello
        (encode(ev.Who(hold_notice=True)), True),  # `lanchat doctor`'s probe, before any hello
        (encode(ev.Who()), False),  # a doctor written before it: as before
    ],
)
def test_a_held_newcomer_is_told_at_once_only_if_its_hello_asks(opening, told):
    """And only once it is whole, however it drips in."""
    lab = Lab()
    lab.hub.open("local", host=True, handshake=False)
    bob = lab.connect()
    for byte in range(len(opening) - 1):
        lab.hub.receive_data(bob.cid, opening[byte : byte + 1])
        assert bob.hears() == [], byte
    lab.hub.receive_data(bob.cid, opening[-1:])
    assert bob.hears() == ([ev.Held(reason="starting")] if told else [])


def test_a_held_web_browser_is_not_sent_a_frame_before_its_page():
    """`held` goes to a connection whose first bytes start a lanchat frame only: a browser on the
    port gets its HTTP page once the host is in, with no frame before it."""
    lab = Lab()
    host = Person(lab, lab.hub.open("local", host=True, handshake=False), Connection(Role.CLIENT))
    lab.writers[host.cid] = Socket(lab, host.cid)
    browser = lab.connect()
    lab.hub.receive_data(browser.cid, b"GET / HTTP/1.1\r\nHost: 10.0.0.5:3580\r\n\r\n")
    lab.flush()
    assert bytes(lab.wire.get(browser.cid, b"")) == b""
    host.says(ev.Hello(name="ann"))
    lab.flush()
    assert bytes(lab.wire[browser.cid]).startswith(b"HTTP/1.0 400 Bad Request")


@pytest.mark.parametrize("first", ["host", "bot"])
def test_if_the_host_or_the_rooms_bot_never_makes_it_in_the_others_go_ahead(first: str):
    lab = Lab()
    cid = lab.hub.open("local", host=first == "host", service=first == "bot", handshake=False)
    bob = lab.connect()
    bob.says(ev.Hello(name="bob", hold_notice=True))
    assert bob.hears() == [ev.Held(reason="starting")]  # held until the host (or the bot) is in
    lab.hub.receive_data(cid, b"")  # its side closed before its hello (the bot's thread failed)
    welcome = bob.hears()[0]
    assert isinstance(welcome, ev.Welcome) and welcome.members == ("bob",)


def test_a_newcomer_who_says_too_much_before_the_host_is_in_is_disconnected():
    lab = Lab()
    lab.hub.open("local", host=True, handshake=False)
    bob = lab.connect("10.0.0.7:999")
    for _ in range(64):  # 64 KiB of anything, exactly HELD_BYTES_LIMIT: still kept
        lab.hub.receive_data(bob.cid, b"\x00" * 1024)
    assert bob.cid not in lab.released
    lab.hub.receive_data(bob.cid, b"\x00")  # one byte more is too much
    assert bob.cid in lab.released
    assert "10.0.0.7:999: said too much before the chat opened; disconnecting" in lab.log


def test_a_newcomer_who_leaves_before_the_host_is_in_is_let_go_at_once():
    lab = Lab()
    lab.hub.open("local", host=True, handshake=False)
    bob = lab.connect()
    bob.says(ev.Hello(name="bob"))
    lab.hub.receive_data(bob.cid, b"")  # its socket would stay readable for ever if kept
    assert lab.released == [bob.cid]


def test_a_newcomer_waits_for_the_host_and_then_the_rooms_bot_and_is_welcomed_with_both():
    """serve --bot: the bot's socket is adopted first, but its hello can come after a student's
    (its thread joins on the loop's first passes): the student was welcomed without the bot,
    then read 'colourbot joined'. Now the host goes in first, then the bot, then the others."""
    lab = Lab()
    bot = Person(lab, lab.hub.open("local", service=True, handshake=False), Connection(Role.CLIENT))
    host = Person(lab, lab.hub.open("local", host=True, handshake=False), Connection(Role.CLIENT))
    for local in (bot, host):
        lab.writers[local.cid] = Socket(lab, local.cid)
    bob = lab.connect()
    bob.says(ev.Hello(name="bob", hold_notice=True))  # first of all
    host.says(ev.Hello(name="ann"))
    assert isinstance(host.hears()[0], ev.Welcome)
    assert bob.hears() == [ev.Held(reason="starting")]  # the bot is not in yet: told once, not again as the host goes in
    bot.says(ev.Hello(name="colourbot"))
    assert isinstance(bot.hears()[0], ev.Welcome)
    welcome = bob.hears()[0]
    assert isinstance(welcome, ev.Welcome) and welcome.members == ("ann", "colourbot", "bob") and welcome.bots == ("colourbot",)
    lab2 = Lab()
    bot_cid = lab2.hub.open("local", service=True, handshake=False)
    host2 = Person(lab2, lab2.hub.open("local", host=True, handshake=False), Connection(Role.CLIENT))
    lab2.writers[bot_cid], lab2.writers[host2.cid] = Socket(lab2, bot_cid), Socket(lab2, host2.cid)
    lab2.hub.receive_data(bot_cid, encode(ev.Hello(name="colourbot")))  # before the host: waits for it
    host2.says(ev.Hello(name="ann"))
    welcome = host2.hears()[0]
    assert isinstance(welcome, ev.Welcome) and welcome.members == ("ann",)  # the host first, as ever


def test_with_no_host_a_newcomer_waits_for_the_bot():
    lab = Lab()
    bot = Person(lab, lab.hub.open("local", service=True, handshake=False), Connection(Role.CLIENT))
    lab.writers[bot.cid] = Socket(lab, bot.cid)
    bob = lab.connect()
    bob.says(ev.Hello(name="bob", hold_notice=True))
    assert bob.hears() == [ev.Held(reason="starting")]  # held until the bot is in
    bot.says(ev.Hello(name="colourbot"))
    welcome = bob.hears()[0]
    assert isinstance(welcome, ev.Welcome) and welcome.members == ("colourbot", "bob")


def test_a_bot_added_to_a_room_with_people_holds_nobody_up():
    lab = Lab()
    ann = lab.join("ann")
    lab.hub.open("local", service=True, handshake=False)  # its hello not come yet
    ann.says(ev.Say(text="still here"))
    assert [e.text for e in ann.hears() if isinstance(e, ev.Message)] == ["still here"]


def test_a_message_of_the_pass_in_which_the_server_shuts_down_comes_before_the_notice():
    lab = Lab(history=True)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    ann.says(ev.Say(text="last words"))
    lab.hub.shutdown("the server was stopped")
    heard = bob.hears()
    assert [type(e).__name__ for e in heard] == ["Message", "Shutdown"] and heard[0].text == "last words"
    assert [row.text for row in lab.store.rows] == ["last words"]


# ------------------------------------------------------------------ every timer the loop sleeps until
# The loop asks next_deadline() and expire() once a pass, and each asks a part only when that
# part has something timed; these pin the timers with no other test through the hub.


def test_an_upload_that_stalls_wakes_the_loop_and_is_dropped_then(tmp_path):
    from lanchat.server_files import STALLED_SECONDS, ServerFiles

    files_clock = Clock()  # the file store keeps time by its own clock (time.time in a server)
    lab = Lab(files=ServerFiles(tmp_path, clock=files_clock))
    ann = lab.join("ann")
    lab.join("bob")
    assert lab.hub.next_deadline() is None  # nothing timed: the loop would sleep for ever
    ann.says(ev.OfferFile(ref=1, name="notes.txt", size=1000))
    ready = ann.hears_one(ev.UploadReady)
    ann.says(ev.UploadBytes(id=ready.id, data=b"x" * 100))
    assert lab.hub.next_deadline() == lab.clock.now + STALLED_SECONDS
    for clock in (lab.clock, files_clock):
        clock.now += STALLED_SECONDS - 0.5
    lab.hub.expire()
    assert lab.hub.files.uploads  # not yet
    for clock in (lab.clock, files_clock):
        clock.now += 0.5
    lab.hub.expire()
    told = ann.hears_one(ev.FileError)
    assert told.id == ready.id and "nothing arrived" in told.message
    assert lab.hub.files.uploads == {}
    assert lab.hub.next_deadline() is None


def test_a_turn_nobody_takes_wakes_the_loop_and_moves_on_then():
    lab = Lab()
    lab.room.mode = "turn"  # as `serve --mode turn --turn-timeout 30` makes it
    lab.room.turn_timeout = 30.0
    ann = lab.join("ann")  # the first to join holds the turn
    bob = lab.join("bob")
    assert lab.room.turn_holder == ann.cid
    assert lab.hub.next_deadline() == lab.clock.now + 30.0  # the room's clock stands still here
    bob.hears()
    lab.hub.expire()
    assert lab.room.turn_holder == ann.cid  # the room's clock says it is not time yet
    lab.room.clock = lambda: 1.0e9 + 30.0
    lab.hub.expire()
    assert lab.room.turn_holder == bob.cid
    assert any(isinstance(event, ev.Turn) for event in bob.hears())


def test_the_loop_may_skip_expire_until_the_next_deadline_or_the_congestion_check():
    """server.py calls expire() only from hub.expire_from on: next_deadline() sets it to the next
    deadline, or to the guard's congestion check when that is sooner (which never wakes the loop)."""
    lab = Lab(handshake_seconds=5.0)
    hub = lab.hub
    hub.guard.next_congestion_check = lab.clock.now + 0.05
    assert hub.next_deadline() is None and hub.expire_from == lab.clock.now + 0.05
    lab.connect("10.0.0.9:5555")
    assert hub.next_deadline() == lab.clock.now + 5.0 and hub.expire_from == lab.clock.now + 0.05
    hub.guard.next_congestion_check = lab.clock.now + 60.0
    assert hub.next_deadline() == hub.expire_from == lab.clock.now + 5.0


def test_a_pass_with_nothing_timed_asks_no_part_but_the_history():
    """The idle-pass promise behind the light-load figures (bench/README.md, "Round 2, third
    session"): members joined, nothing due, so expire() and next_deadline() ask no part of the
    hub for its timers. A spy on every such method fails the test if one is asked."""
    lab = Lab()
    lab.join("ann")
    lab.join("bob")
    lab.hub.next_deadline()  # the joins' handshake deadlines, stale now, are dropped here
    asked: list[str] = []
    hub = lab.hub
    for owner, name in [
        (hub.deadlines, "next"), (hub.deadlines, "due"), (hub.guard, "next_due"), (hub.guard, "resume_due"),
        (hub.files, "next_stall_check"), (hub.files, "drop_stalled"),
    ]:  # fmt: skip
        original = getattr(owner, name)
        setattr(owner, name, lambda *a, _n=name, _o=original, **k: (asked.append(_n), _o(*a, **k))[1])
    hub.guard.next_congestion_check = lab.clock.now + 1.0  # checked last pass
    for _ in range(3):
        hub.expire()
        assert hub.next_deadline() is None
    assert asked == []


# ------------------------------------------------------------------ a banned person's tries


def test_a_banned_persons_tries_held_back_are_told_with_their_count_when_30_s_are_up():
    """The hub wakes for the tries the room held back (moderation.ban_tries_due_at) and tells
    the host their count then, though nobody tries again; then nothing is timed for them."""
    lab = Lab(linger_seconds=0.5)
    lab.room.clock = lab.clock  # the room's time moves with the hub's here
    host = lab.connect()
    lab.room.host_cid = host.cid
    host.says(ev.Hello(name="hal"))
    assert isinstance(host.hears()[0], ev.Welcome)
    mallory = lab.join("mallory")
    host.says(ev.Moderate(action="ban", name="mallory", reason="spam"))
    started = lab.clock.now
    for _ in range(3):
        lab.connect().says(ev.Hello(name="mallory"))
    told = [e for e in host.hears() if isinstance(e, ev.Refused)]
    assert told == [ev.Refused(name="mallory", code=ev.E_BANNED, time=started, by="hal", reason="spam")]
    lab.clock.now += 1.0
    lab.hub.expire()  # the refused connections linger out
    lab.flush()
    assert lab.hub.next_deadline() == started + 30
    lab.clock.now = started + 30
    lab.hub.expire()
    told = [e for e in host.hears() if isinstance(e, ev.Refused)]
    assert [(e.count, e.time) for e in told] == [(2, started + 30)]
    assert "mallory (banned by hal: spam) tried to join 2 more times and was turned away each time" in lab.log
    lab.clock.now += 30
    lab.hub.expire()
    assert lab.hub.next_deadline() is None and host.hears() == []
    assert mallory.cid in lab.released


def test_a_member_closed_by_a_deadline_hears_what_was_held_for_it_first_and_nothing_after():
    """PROTOCOL.md 4: a fatal error comes after what was sent before it and is the last frame.
    With history a message read in the same pass as a deadline waits for the commit; the
    deadline's fatal error used to go out at once, before that message, which then followed it."""
    lab = Lab(history=True)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    bob.hears()
    lab.hub.receive_data(bob.cid, encode(ev.Say(text="half"))[:7])  # a frame begun, never finished
    lab.clock.now += MEMBER_FRAME_SECONDS + 0.5  # past a member's frame deadline
    ann.says(ev.Say(text="hi"))  # the same pass: held for the commit, bob among its recipients
    lab.hub.expire()
    heard = bob.hears()
    assert [type(e).__name__ for e in heard] == ["Message", "Error"], heard
    assert heard[-1].code == ev.E_DEADLINE and heard[-1].fatal


# ------------------------------------------------------------- a message's short path
# Hub._send_broadcast: a chat message is written at once to every recipient with nothing
# waiting, one send each, back to back; anyone else gets it queued behind what waits.


def test_a_message_to_the_room_is_one_write_to_each_and_arrives_whole():
    lab = Lab()
    people = [lab.join(name) for name in ("ann", "bob", "cyd")]
    for person in people:
        person.hears()
    lab.journal.clear()
    people[0].says(ev.Say(text="one"))
    lab.flush()
    assert sorted(lab.journal) == sorted(f"write to {p.cid}" for p in people)
    for person in people:
        assert [e.text for e in person.hears() if isinstance(e, ev.Message)] == ["one"]


def test_a_socket_that_takes_part_of_a_message_gets_the_rest_next_and_whole_in_order():
    lab = Lab()
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears(), bob.hears()
    lab.writers[bob.cid].take = 7  # the message's frame is longer: 7 bytes go, the rest waits
    ann.says(ev.Say(text="first of two"))
    lab.flush()
    assert lab.writers[bob.cid].writing  # the loop is to say when bob can take more
    ann.says(ev.Say(text="second"))  # queued behind the rest of the first, not sent before it
    lab.writers[bob.cid].take = None
    assert [e.text for e in bob.hears() if isinstance(e, ev.Message)] == ["first of two", "second"]
    assert not lab.writers[bob.cid].writing
    assert [e.text for e in ann.hears() if isinstance(e, ev.Message)] == ["first of two", "second"]


def test_a_socket_that_takes_nothing_keeps_the_message_queued_for_later_in_order():
    lab = Lab()
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears(), bob.hears()
    lab.writers[bob.cid].reading = False  # would block
    ann.says(ev.Say(text="kept"))
    lab.flush()
    ann.says(ev.Say(text="behind it"))
    lab.flush()
    assert lab.hub.outbox.queues[bob.cid].out_bytes > 0 and lab.writers[bob.cid].writing
    lab.writers[bob.cid].reading = True
    assert [e.text for e in bob.hears() if isinstance(e, ev.Message)] == ["kept", "behind it"]


def test_a_reset_connection_met_while_sending_a_message_is_closed_and_the_rest_hear_it():
    lab = Lab()
    ann, bob, cyd = lab.join("ann"), lab.join("bob"), lab.join("cyd")
    ann.hears(), bob.hears(), cyd.hears()
    lab.writers[bob.cid].broken = ConnectionResetError(104, "reset by peer")
    ann.says(ev.Say(text="still here?"))
    lab.flush()
    assert lab.released == [bob.cid]
    for person in (ann, cyd):
        heard = person.hears()
        assert [e.text for e in heard if isinstance(e, ev.Message)] == ["still here?"]
        assert [e.name for e in heard if isinstance(e, ev.Left)] == ["bob"]


def test_two_readers_a_join_puts_past_the_limit_hear_nothing_after_their_fatal_error():
    """A small room's join notice is queued to each member in turn. bob's copy put him past the
    limit: he was dropped, and the room told "bob left" at once, which put cyd past it too. The
    join was then queued to cyd behind her fatal error (nothing may follow it, PROTOCOL.md 4),
    and ann read "bob left, cyd left" where dan read them the other way round."""
    lab = Lab(max_queue_bytes=1000)
    ann, bob, cyd, dan = lab.join("ann"), lab.join("bob"), lab.join("cyd"), lab.join("dan")
    for person in (ann, bob, cyd, dan):
        person.hears()
    for person in (bob, cyd):
        lab.writers[person.cid].reading = False
    ann.says(ev.Say(text="z" * 900))  # bob's and cyd's queues just under the limit
    lab.flush()
    assert all(900 < lab.hub.outbox.queues[p.cid].out_bytes <= 1000 for p in (bob, cyd))
    lab.join("eve")
    for person in (bob, cyd):
        lab.writers[person.cid].reading = True
        lab.flush()
        types = [json.loads(frame)["type"] for frame in frames_of(bytes(lab.wire.pop(person.cid, b"")))]
        assert types[-1:] == ["error"], types  # too-slow, fatal: the last frame, the rest discarded
    for person in (ann, dan):
        assert [e.name for e in person.hears() if isinstance(e, (ev.Left, ev.Joined))] == ["eve", "bob", "cyd"]


def frames_of(data: bytes) -> list[bytes]:
    """The whole frames in ``data`` as written to a socket (a 4-byte length before each)."""
    found = []
    while len(data) >= 4 and len(data) >= 4 + (size := int.from_bytes(data[:4], "big")):
        found.append(data[4 : 4 + size])
        data = data[4 + size :]
    return found


# ---------------------------------------------- random conversations, short path or not
# What a connection reads, whatever happens around it: whole frames, messages once and in
# the order they were said, nothing after a fatal error or after FIN. Both with the broadcast
# short path (Hub._send_broadcast) and without it (every broadcast appended to the queues).


class Watched(Socket):
    tls: TlsSender | None = None  # a stand-in TLS socket: a refused piece must be offered again

    def send(self, data: bytes) -> int:
        if self.tls is not None:
            try:
                return self.tls(data)
            except OSError as exc:
                if "changed under a retry" in str(exc):
                    self.lab.tls_broken.append(self.cid)  # type: ignore[attr-defined]
                raise
        return self.write(data)

    def write(self, data: bytes) -> int:
        if self.finished and self.broken is None:
            self.lab.after_finish.append(self.cid)  # type: ignore[attr-defined]
        try:
            return super().send(data)
        except BlockingIOError:
            if self.tls is None:
                raise
            raise ssl.SSLWantWriteError from None


class UnderTls:
    """What a TlsSender writes through: the Watched socket's own write."""

    def __init__(self, socket: Watched) -> None:
        self.send = socket.write


def random_conversation(seed: int, *, tls: bool = False) -> Lab:
    rng = random.Random(seed)
    lab = Lab(history=rng.random() < 0.5, max_queue_bytes=rng.choice([1500, 5000, 20000, 1 << 20]))
    lab.after_finish = []  # type: ignore[attr-defined]
    lab.tls_broken = []  # type: ignore[attr-defined]
    said = itertools.count()
    names = (f"p{n}" for n in itertools.count())

    def join() -> Person:
        person = lab.connect()
        socket = lab.writers[person.cid] = Watched(lab, person.cid)
        if tls:
            socket.tls = TlsSender(UnderTls(socket))  # type: ignore[arg-type]
        person.says(ev.Hello(name=next(names)))
        person.hears()  # its welcome: it may speak
        return person

    def says(person: Person, *events: ev.Event) -> None:
        try:
            data = b"".join(person.proto.send(event) for event in events)
        except LocalProtocolError:  # this person has already left
            return
        lab.hub.receive_data(person.cid, data)

    people = [join() for _ in range(rng.randint(2, 12))]
    for _ in range(rng.randint(5, 80)):
        live = [person for person in people if person.cid in lab.hub.peers]
        if not live:
            break
        person = rng.choice(live)
        socket, step = lab.writers[person.cid], rng.random()
        if step < 0.45:
            says(person, *(ev.Say(text=f"{next(said)}:" + "x" * rng.randint(1, 400)) for _ in range(rng.randint(1, 3))))
        elif step < 0.55:
            socket.take = rng.choice([None, 1, 7, 50, 500, 5000])
        elif step < 0.62:
            socket.reading = not socket.reading
        elif step < 0.64:
            socket.broken = ConnectionResetError(104, "reset by peer")
        elif step < 0.67:
            lab.hub.receive_data(person.cid, b"\xff\xff\xff\xffgarbage")
        elif step < 0.70:
            says(person, ev.Bye())
        elif step < 0.76:
            people.append(join())
        elif step < 0.82:
            lab.clock.now += rng.choice([0.01, 0.06, 5.0])
            lab.hub.expire()
        elif step < 0.86:
            lab.hub.receive_data(person.cid, b"")
        elif step < 0.89:
            says(person, ev.Nick(name=next(names)))
        if rng.random() < 0.8:
            lab.flush()
    for _ in range(3):
        for socket in lab.writers.values():
            socket.reading, socket.take = True, None
        lab.flush()
    return lab


@pytest.mark.parametrize(("short_path", "tls"), [(True, False), (False, False), (True, True)], ids=["short-path", "queued", "tls"])
def test_in_random_conversations_everyone_reads_whole_frames_in_order_and_nothing_after_the_end(monkeypatch, short_path, tls):
    if not short_path:
        monkeypatch.setattr(Outbox, "take_broadcast", lambda self: None)  # flush() materializes them instead
    for seed in range(100):
        lab = random_conversation(seed, tls=tls)
        assert lab.hub.internal_error_count == 0, seed
        assert lab.after_finish == [], seed  # type: ignore[attr-defined]
        assert lab.tls_broken == [], seed  # type: ignore[attr-defined]  # a piece OpenSSL held, dropped
        for cid, data in lab.wire.items():
            frames = frames_of(bytes(data))
            assert sum(len(frame) + 4 for frame in frames) == len(data) or cid in lab.released, (seed, cid)  # cut: closed
            events = [json.loads(frame) for frame in frames]
            fatal = [at for at, event in enumerate(events) if event["type"] == "error" and event.get("fatal")]
            assert fatal in ([], [len(events) - 1]), (seed, cid, [event["type"] for event in events])
            assert not fatal or cid in lab.released or lab.writers[cid].finished, (seed, cid)  # FIN once all is out
            said = [int(event["text"].split(":")[0]) for event in events if event["type"] == "message"]
            assert said == sorted(set(said)), (seed, cid, said)
