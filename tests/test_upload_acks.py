"""An upload's progress is what the far end took, not what was handed to the kernel
(upload_acks.py, client_files.taken_up). bob's link was cut mid /send: his status line went
from "stalled 6 s" back to "37% 1019.9 KiB/s" because his kernel's buffer took another piece.

Real TCP on loopback: the receiving end stops reading, so once its buffer is full nothing more is
acknowledged, as over a dead link; what its kernel holds (FIONREAD) is the truth to compare with.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios
import threading
import time

import pytest
from helpers import Proc, StandInServer, identity_args, wait_for

from lanchat import events as ev
from lanchat.client_files import ClientTransfers, taken_up
from lanchat.session import FileCommand
from lanchat.transport import unacknowledged_bytes
from lanchat.upload_acks import UploadAcks

pytestmark = pytest.mark.timeout(30)

BUFFER = 64 * 1024


def _queued_at(sock: socket.socket) -> int:
    """The bytes waiting in ``sock``'s receive buffer, taken (acknowledged) by its kernel."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def _handed(transfers: ClientTransfers, out: bytearray, room: int) -> None:
    events, _ = transfers.next_chunks(room)
    for event in events:
        if isinstance(event, ev.UploadBytes):
            out += event.data


def test_a_stalled_upload_shows_what_the_far_end_took_and_says_it_is_stalled(tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(4 * 1024 * 1024))
    now = [100.0]
    transfers = ClientTransfers(tmp_path / "downloads", clock=lambda: now[0])
    transfers.status_line = True
    (offer,), _ = transfers.command(FileCommand(name="send", path=str(source)))
    transfers.on_event(ev.UploadReady(ref=offer.ref, id="1", binary=True))
    progress = transfers.progress["send:1"]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)  # (no autotuning: the far end holds little)
        sender = socket.socket()
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
        sender.connect(listener.getsockname())
        receiver, _ = listener.accept()
    with sender, receiver:
        sender.setblocking(False)
        out = bytearray()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # as the client loop: top up, write, count; until the far end is full
            now[0] += 0.01
            _handed(transfers, out, 256 * 1024 - len(out))
            try:
                del out[: sender.send(out)]
            except BlockingIOError:
                break
            taken_up(transfers, unacknowledged_bytes(sender) + len(out))
        else:
            pytest.fail("the far end never filled up")
        # what the far end's kernel took: acknowledged, on loopback at once (polled, with a deadline)
        deadline = time.monotonic() + 5
        while unacknowledged_bytes(sender) + _queued_at(receiver) != transfers.acks.handed_bytes - len(out):
            assert time.monotonic() < deadline, "the loopback never settled"
            time.sleep(0.01)
        taken_up(transfers, unacknowledged_bytes(sender) + len(out))
        took = _queued_at(receiver)
        handed = transfers.acks.handed_bytes
        assert handed > took + BUFFER  # much more handed over than taken: counting handed would show it
        assert took - 32 * 1024 <= progress.done <= took  # (whole pieces only: at most one short)
        # the link stays stalled: the kernel and the loop's buffer take no more, the line says so
        now[0] += 6.0
        _handed(transfers, out, 256 * 1024 - len(out))
        taken_up(transfers, unacknowledged_bytes(sender) + len(out))
        assert progress.done <= took
        assert "stalled 6 s" in progress.text(), progress.text()
        # the far end reads again: the upload moves on, and says so
        while _queued_at(receiver):
            receiver.recv(1024 * 1024)
        deadline = time.monotonic() + 5
        while progress.done <= took:
            assert time.monotonic() < deadline, "no progress once the far end read again"
            try:
                del out[: sender.send(out)]
            except BlockingIOError:
                pass
            taken_up(transfers, unacknowledged_bytes(sender) + len(out))
        assert "stalled" not in progress.text()


def test_pieces_count_once_wholly_behind_the_backlog():
    acks = UploadAcks()
    acks.handed("1", 100, 100)
    acks.handed("2", 50, 50)
    acks.handed("1", 100, 200)
    assert acks.taken(250) == {}  # nothing wholly taken
    assert acks.taken(150) == {"1": 100}
    assert acks.taken(0) == {"2": 50, "1": 200}
    assert acks.taken(0) == {}  # said once
    acks.handed("1", 100, 300)
    acks.forget("1")
    assert acks.taken(0) == {}


def _unacknowledged_by_port(port: int) -> int | None:
    """The bytes the socket of local ``port`` on this machine sent and has not had acknowledged
    (/proc/net/tcp's tx_queue): another process's socket, read from outside."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return int(fields[4].split(":")[0], 16)
    return None


def test_a_plain_send_says_sent_once_the_server_has_it_not_when_the_kernel_took_it(tmp_path):
    """bob's /send on a slow link read "sent big.bin (512.0 KiB, 80 MiB/s); the server is
    checking it" as soon as the last piece went into his kernel's buffer, with most of it still to
    cross (and a speed the link never had). A stand-in server takes the offer and then reads
    nothing, its buffer small: bob's client writes all of the file and says nothing of it sent;
    the server reads it all and bob reads "sent" (before any word from the server), then the offer."""
    data = os.urandom(512 * 1024)
    (tmp_path / "big.bin").write_bytes(data)
    reading = threading.Event()

    def on_event(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.OfferFile):
            server.send(ev.UploadReady(ref=event.ref, id="1", binary=True))
            reading.wait(20)  # the server's end reads nothing meanwhile: its kernel takes a little, no more

    server = StandInServer(on_event)
    server.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)  # (the accepted socket's, before the client connects)
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--plain", *identity_args("bob"))
    try:
        bob.expect(r"welcome, bob")
        bob.send(f"/send {tmp_path / 'big.bin'}")
        wait_for(lambda: server.conn is not None and any(isinstance(e, ev.OfferFile) for e in server.heard), what="the offer")
        assert server.conn is not None
        client_port = server.conn.getpeername()[1]
        # all of it written by bob's client: in flight (unacknowledged) or in the server's kernel, unread
        wait_for(lambda: (_unacknowledged_by_port(client_port) or 0) + _queued_at(server.conn) >= len(data), what="all of it written")  # type: ignore[arg-type]
        bob.send("/cancel #1")  # answered at once, in order: anything bob was told before it is above it
        bob.expect(r"big\.bin is all sent, on its way to the server: too late to stop it")  # (not 'is not being sent')
        assert "sent big.bin" not in bob.output and _queued_at(server.conn) < len(data) // 2, bob.output
        reading.set()
        # said by itself, the server silent (an acknowledgement wakes no program: the client looks)
        said = bob.expect(r"sent big\.bin \(512\.0 KiB.*\); the server is checking it").group(0)
        (done,) = [e for e in server.heard if isinstance(e, ev.UploadDone)]
        server.send(ev.Offered(id="1", name="big.bin", size=len(data), sha256=done.sha256, sender="bob", time=1.0))
        bob.expect(r"#1")  # then the offer
        assert not [e for e in server.heard if isinstance(e, ev.CancelFile)]  # (a cancel would say it was not offered)
        bob.send("/q")
        assert bob.wait() == 0, said
    finally:
        reading.set()
        bob.stop()
        server.close()
    assert "Traceback" not in bob.output
