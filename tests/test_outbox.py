"""The outbox (lanchat/outbox.py) with no socket: queues, one write per pass, the broadcast
fan-out, notice deadlines, partial sends and the slow-reader verdict. A "socket" here is a
function that takes as many bytes as the test allows, so every case runs in microseconds."""

from __future__ import annotations

import pytest

from lanchat.outbox import (
    FANOUT_CACHE_MIN,
    GATHER_FROM_BYTES,
    GATHER_MAX,
    JOIN_BELOW_BYTES,
    NOTICE_DELAY_SECONDS,
    Outbox,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Wire:
    """Stands in for one socket's send(): keeps what was written; ``room`` limits one write."""

    def __init__(self, room: int | None = None) -> None:
        self.room = room
        self.written = bytearray()
        self.writes = 0

    def send(self, data: bytes) -> int:
        if self.room == 0:
            raise BlockingIOError
        taken = len(data) if self.room is None else min(self.room, len(data))
        self.written += data[:taken]
        self.writes += 1
        return taken


def outbox_with(*cids: int, max_queue_bytes: int = 1 << 20, clock: Clock | None = None) -> tuple[Outbox, list[int]]:
    too_slow: list[int] = []
    outbox = Outbox(max_queue_bytes=max_queue_bytes, over_limit=too_slow.append, clock=clock or Clock())
    for cid in cids:
        outbox.open(cid)
    return outbox, too_slow


def flush_all(outbox: Outbox, wires: dict[int, Wire]) -> None:
    """What the server loop does once per pass."""
    outbox.release_notices()
    while outbox.dirty:
        for queue in outbox.take_dirty():
            outbox.flush(queue, wires[queue.cid].send)
        outbox.materialize()


def test_everything_queued_in_a_pass_goes_out_in_one_write():
    outbox, _ = outbox_with(1)
    wire = Wire()
    for number in range(5):
        outbox.queue(1, b"frame%d;" % number)
    flush_all(outbox, {1: wire})
    assert (bytes(wire.written), wire.writes) == (b"frame0;frame1;frame2;frame3;frame4;", 1)
    assert outbox.queued_bytes(1) == 0 and not outbox.dirty


def test_a_broadcast_to_a_big_room_is_joined_once_and_keeps_its_place_in_line():
    cids = list(range(1, FANOUT_CACHE_MIN + 3))
    outbox, _ = outbox_with(*cids)
    wires = {cid: Wire() for cid in cids}
    everyone = tuple(cids)
    outbox.broadcast(everyone, b"A;")
    outbox.broadcast(everyone, b"B;")
    outbox.queue(3, b"just-for-3;")  # after A and B, before C: the order things happened
    outbox.broadcast(everyone, b"C;")
    assert outbox.deliveries == 3 * len(cids) + 1
    flush_all(outbox, wires)
    assert bytes(wires[3].written) == b"A;B;just-for-3;C;"
    assert all(bytes(wires[cid].written) == b"A;B;C;" for cid in cids if cid != 3)
    assert all(wire.writes == 1 for wire in wires.values())


def test_a_broadcast_skips_connections_already_gone():
    cids = list(range(1, FANOUT_CACHE_MIN + 3))
    outbox, _ = outbox_with(*cids)
    everyone = tuple(cids)
    outbox.broadcast(everyone, b"hello;")
    outbox.close(2)  # the pending frame was for the room as it was; 2 gets nothing more
    outbox.broadcast(everyone, b"after;")
    wires = {cid: Wire() for cid in cids}
    flush_all(outbox, wires)
    assert bytes(wires[1].written) == b"hello;after;"
    assert wires[2].writes == 0


def test_join_notices_in_a_big_room_wait_for_their_deadline_or_for_anything_sooner():
    clock = Clock()
    cids = list(range(1, FANOUT_CACHE_MIN + 3))
    outbox, _ = outbox_with(*cids, clock=clock)
    wires = {cid: Wire() for cid in cids}
    outbox.broadcast(tuple(cids), b"joined:x;", notice=True)
    flush_all(outbox, wires)
    assert all(wire.writes == 0 for wire in wires.values())  # waiting to go out together
    assert outbox.notice_deadline == pytest.approx(clock.now + NOTICE_DELAY_SECONDS)
    outbox.queue(4, b"direct;")  # anything else sent to 4 takes 4's notices along, in order
    flush_all(outbox, wires)
    assert bytes(wires[4].written) == b"joined:x;direct;"
    assert wires[5].writes == 0
    clock.now += NOTICE_DELAY_SECONDS
    flush_all(outbox, wires)
    assert all(bytes(wires[cid].written) == b"joined:x;" for cid in cids if cid != 4)
    assert outbox.notice_deadline is None


def test_a_partial_send_keeps_the_unsent_tail_first_and_sends_it_next():
    outbox, _ = outbox_with(1)
    wire = Wire(room=7)
    outbox.queue(1, b"first-frame;")
    outbox.queue(1, b"second;")
    flush_all(outbox, {1: wire})
    assert bytes(wire.written) == b"first-f"
    queue = outbox.queues[1]
    assert queue.head_partial and queue.out[0] == b"rame;" and outbox.queued_bytes(1) == 12
    wire.room = None
    outbox.flush(queue, wire.send)
    assert bytes(wire.written) == b"first-frame;second;"
    assert not queue.head_partial and queue.out_bytes == 0


def test_discard_keeps_a_frame_already_begun_so_the_stream_stays_whole():
    outbox, _ = outbox_with(1)
    wire = Wire(room=3)
    outbox.queue(1, b"begun;")
    outbox.queue(1, b"never;")
    flush_all(outbox, {1: wire})
    outbox.discard(1)
    outbox.queue(1, b"farewell;")
    wire.room = None
    flush_all(outbox, {1: wire})
    assert bytes(wire.written) == b"begun;farewell;"


def test_discard_of_a_queue_with_no_frame_begun_forgets_everything():
    outbox, _ = outbox_with(1)
    outbox.queue(1, b"one;")
    outbox.queue(1, b"two;")
    outbox.discard(1)
    assert outbox.queues[1].out == [] and outbox.queued_bytes(1) == 0


def test_a_would_block_send_leaves_the_queue_as_it_was():
    outbox, _ = outbox_with(1)
    outbox.queue(1, b"waiting;")
    assert outbox.flush(outbox.queues[1], Wire(room=0).send) == 0
    assert outbox.queues[1].out == [b"waiting;"]


class Handed:
    """Stands in for a TLS socket's send (tls_server.TlsSender): keeps each object it is handed,
    takes it whole, or refuses the next ``refuse`` writes (OpenSSL's "want write")."""

    def __init__(self) -> None:
        self.handed: list[bytes] = []
        self.refuse = 0

    def send(self, data: bytes) -> int:
        self.handed.append(data)
        if self.refuse:
            self.refuse -= 1
            raise BlockingIOError
        return len(data)


def test_a_tls_socket_is_handed_a_downloads_pieces_as_queued_never_a_copy_made_for_it():
    outbox, _ = outbox_with(1)
    pieces = [bytes([n]) * (60 * 1024) for n in range(4)]  # four download pieces (a 60 KiB frame each)
    for piece in pieces:
        outbox.queue(1, piece)
    tls = Handed()
    sent = outbox.flush(outbox.queues[1], tls.send, pieces=128 * 1024)
    # what fits in the pass's 128 KiB, one piece a send, each the queue's own object (no join, no slice)
    assert sent == 2 * 60 * 1024 and [id(data) for data in tls.handed] == [id(piece) for piece in pieces[:2]]
    assert outbox.queues[1].out == pieces[2:] and outbox.queued_bytes(1) == 2 * 60 * 1024
    # a plain socket's flush joins what is queued into one send, as before
    plain = Wire()
    outbox.queue(1, b"line;")
    outbox.flush(outbox.queues[1], plain.send)
    assert plain.writes == 1 and bytes(plain.written) == pieces[2] + pieces[3] + b"line;"


def test_small_frames_to_a_tls_socket_share_a_send_up_to_a_records_worth_and_keep_their_order():
    outbox, _ = outbox_with(1)
    lines = [b"%05d;" % n for n in range(JOIN_BELOW_BYTES // 6 + 10)]  # a little over one record's worth
    big = b"B" * JOIN_BELOW_BYTES
    for line in lines[:5]:
        outbox.queue(1, line)
    outbox.queue(1, big)  # a frame of the record size goes alone, after the lines before it
    for line in lines[5:]:
        outbox.queue(1, line)
    tls = Handed()
    outbox.flush(outbox.queues[1], tls.send, pieces=1 << 20)
    assert tls.handed[0] == b"".join(lines[:5]) and tls.handed[1] is big
    assert all(len(data) <= JOIN_BELOW_BYTES for data in tls.handed[2:]) and len(tls.handed) == 4
    assert b"".join(tls.handed) == b"".join(lines[:5]) + big + b"".join(lines[5:])
    assert outbox.queued_bytes(1) == 0 and not outbox.queues[1].head_partial


def test_a_tls_send_that_took_nothing_is_offered_the_same_frames_first_with_more_behind():
    outbox, _ = outbox_with(1)
    outbox.queue(1, b"one;")
    outbox.queue(1, b"two;")
    tls = Handed()
    tls.refuse = 1
    assert outbox.flush(outbox.queues[1], tls.send, pieces=1 << 20) == 0
    queue = outbox.queues[1]
    assert queue.offered == 2 and queue.out == [b"one;", b"two;"]
    outbox.discard(1)  # a drop now keeps what OpenSSL holds to be offered again
    outbox.queue(1, b"bye;")
    outbox.flush(queue, tls.send, pieces=1 << 20)
    assert tls.handed == [b"one;two;", b"one;two;bye;"]  # the refused bytes again, first
    assert queue.offered == 0 and outbox.queued_bytes(1) == 0


class Gathered:
    """Stands in for a plain socket's sendmsg: keeps each list of buffers it is handed and takes
    up to ``room`` bytes of them (None: all)."""

    def __init__(self, room: int | None = None) -> None:
        self.calls: list[list[bytes]] = []
        self.room = room

    def sendmsg(self, buffers: list[bytes]) -> int:
        self.calls.append(list(buffers))
        total = sum(map(len, buffers))
        return total if self.room is None else min(self.room, total)


def test_a_plain_socket_writes_its_frames_from_where_they_are_queued_in_one_call():
    outbox, _ = outbox_with(1)
    frames = [bytes([n]) * 40_000 for n in range(3)] + [b"line;"]
    for frame in frames:
        outbox.queue(1, frame)
    gathered, wire = Gathered(room=100_000), Wire()
    assert outbox.flush(outbox.queues[1], wire.send, gather=gathered.sendmsg) == 100_000
    assert wire.writes == 0 and len(gathered.calls) == 1  # one write, nothing joined for it
    assert [id(b) for b in gathered.calls[0]] == [id(f) for f in frames]
    queue = outbox.queues[1]  # the kernel took 100,000 bytes: the third frame's tail waits first
    assert queue.head_partial and queue.out == [frames[2][20_000:], b"line;"] and outbox.queued_bytes(1) == 20_005
    gathered.room = None
    outbox.flush(queue, wire.send, gather=gathered.sendmsg)  # 20,005 bytes: joined, under GATHER_FROM_BYTES
    assert bytes(wire.written) == frames[2][20_000:] + b"line;" and outbox.queued_bytes(1) == 0
    wire.written.clear()
    # a frame alone goes to send as it is; a few chat lines are joined (cheaper than a list for
    # sendmsg); more frames than one call takes are joined too, however big
    outbox.queue(1, b"alone;")
    outbox.flush(queue, wire.send, gather=gathered.sendmsg)
    outbox.queue(1, b"one;")
    outbox.queue(1, b"two;")
    outbox.flush(queue, wire.send, gather=gathered.sendmsg)
    many = [b"%d;" % n + b"." * 1024 for n in range(GATHER_MAX + 1)]  # past GATHER_FROM_BYTES in all
    assert sum(map(len, many)) >= GATHER_FROM_BYTES
    for frame in many:
        outbox.queue(1, frame)
    outbox.flush(queue, wire.send, gather=gathered.sendmsg)
    assert len(gathered.calls) == 1 and wire.writes == 4
    assert bytes(wire.written) == b"alone;one;two;" + b"".join(many) and outbox.queued_bytes(1) == 0


def test_a_long_queue_is_written_a_flush_size_at_a_time():
    outbox, _ = outbox_with(1)
    outbox.flush_bytes = 10
    wire = Wire()
    for _ in range(5):
        outbox.queue(1, b"abcd;")
    outbox.flush(outbox.queues[1], wire.send)
    assert bytes(wire.written) == b"abcd;abcd;"  # whole frames up to the flush size, in one write
    assert outbox.queued_bytes(1) == 15


def test_the_slow_reader_verdict_comes_when_a_queue_passes_the_limit():
    outbox, too_slow = outbox_with(1, 2, max_queue_bytes=20)
    outbox.queue(1, b"x" * 20)
    assert too_slow == []  # at the limit is fine
    outbox.queue(1, b"y")
    assert too_slow == [1]


def test_the_limit_of_a_big_broadcast_is_judged_after_a_write_not_while_queueing():
    cids = list(range(1, FANOUT_CACHE_MIN + 2))
    outbox, too_slow = outbox_with(*cids, max_queue_bytes=10)
    outbox.broadcast(tuple(cids), b"z" * 12)
    assert too_slow == []
    wires = {cid: Wire() for cid in cids}
    wires[1].room = 1  # 1 reads next to nothing: 11 bytes still unsent after its write
    flush_all(outbox, wires)
    assert too_slow == [1]


def test_a_closed_connection_gets_nothing_more():
    outbox, _ = outbox_with(1)
    outbox.queue(1, b"late;")
    outbox.close(1)
    outbox.queue(1, b"later;")
    assert not outbox.dirty and 1 not in outbox.queues and outbox.queued_bytes(1) == 0


def test_a_text_participants_own_line_comes_after_the_broadcast_before_it_not_instead():
    """A line queued straight to a text participant (its prompt, an answer) in the same pass as
    a broadcast: the broadcast's rendered line goes out first, and is not lost."""
    outbox, _ = outbox_with(1, 2)
    outbox.speak_text(2, lambda frames: b"[rendered " + frames + b"]")
    outbox.broadcast((1, 2), b"hi;")
    outbox.queue_text(2, b"prompt> ")
    wires = {1: Wire(), 2: Wire()}
    flush_all(outbox, wires)
    assert bytes(wires[1].written) == b"hi;"
    assert bytes(wires[2].written) == b"[rendered hi;]prompt> "


def test_text_participants_coming_and_going_among_lanchat_clients_each_read_every_broadcast_rendered():
    """A room of lanchat clients looks for no text participant at each new recipient tuple
    (none connected: no pass over the queues); one who speaks text reads every broadcast as
    lines from then on, the others the frames, and after it has gone the next one does too."""
    clients = tuple(range(1, FANOUT_CACHE_MIN + 3))
    outbox, _ = outbox_with(*clients, 50, 60)
    wires = {cid: Wire() for cid in (*clients, 50, 60)}
    outbox.broadcast(clients, b"a;")
    flush_all(outbox, wires)
    outbox.speak_text(50, lambda frames: b"[" + frames + b"]")
    outbox.broadcast((*clients, 50), b"b;")
    flush_all(outbox, wires)
    outbox.close(50)
    outbox.broadcast(clients, b"c;")
    outbox.speak_text(60, lambda frames: b"<" + frames + b">")
    outbox.broadcast((*clients, 60), b"d;")
    flush_all(outbox, wires)
    assert all(bytes(wires[cid].written) == b"a;b;c;d;" for cid in clients)
    assert (bytes(wires[50].written), bytes(wires[60].written)) == (b"[b;]", b"<d;>")


@pytest.mark.parametrize("room", [2, FANOUT_CACHE_MIN + 2])
def test_a_run_of_frames_broadcast_in_one_call_is_what_a_broadcast_each_would_queue(room):
    # hub.py hands a run of one member's messages over in one call (broadcast_frames)
    cids = list(range(1, room + 1))
    each, one_call = outbox_with(*cids)[0], outbox_with(*cids)[0]
    gone = (room + 7,)  # an id with no queue (already gone) is skipped, and not counted
    for outbox in (each, one_call):
        outbox.broadcast(tuple(cids), b"before;")
    for frame in (b"A;", b"B;", b"C;"):
        each.broadcast(tuple(cids) + gone, frame)
    one_call.broadcast_frames(tuple(cids) + gone, [b"A;", b"B;", b"C;"])
    one_call.broadcast_frames(tuple(cids), [])
    assert one_call.deliveries == each.deliveries == 4 * room
    written = []
    for outbox in (each, one_call):
        wires = {cid: Wire() for cid in cids}
        flush_all(outbox, wires)
        written.append({cid: bytes(wire.written) for cid, wire in wires.items()})
    assert written[0] == written[1] == {cid: b"before;A;B;C;" for cid in cids}
