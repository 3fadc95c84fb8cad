"""The outbox's writes through real sockets: a plain socket's frames gathered by the kernel
from where they are queued (sendmsg), partial writes and all, arrive whole and in order."""

from __future__ import annotations

import os
import socket

from lanchat.outbox import Outbox

TIMEOUT = 10.0


def test_frames_gathered_by_a_plain_socket_arrive_whole_and_in_order_through_partial_writes(tmp_path):
    near, far = socket.socketpair()
    with near, far:
        near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)  # fills at once: partial writes
        near.setblocking(False)
        far.settimeout(TIMEOUT)
        outbox = Outbox(max_queue_bytes=1 << 30)
        queue = outbox.open(1)
        expected = bytearray()
        for n in range(40):  # download-sized frames with chat lines among them
            frame = os.urandom(61_000) if n % 4 else b"line %d;" % n
            outbox.queue(1, frame)
            expected += frame
        received = bytearray()
        partial = 0
        for _ in range(100_000):  # bounded: each turn writes or reads something
            if not queue.out:
                break
            before = outbox.queued_bytes(1)
            sent = outbox.flush(queue, near.send, gather=near.sendmsg)
            partial += 0 < sent < before
            received += far.recv(256 * 1024)
        assert not queue.out and partial > 0
        while len(received) < len(expected):
            received += far.recv(256 * 1024)
        assert bytes(received) == bytes(expected)
