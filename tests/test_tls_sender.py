"""tls.TlsSender and tls.tls_recv: the server's send() and recv() for a TLS socket, over a real
TLS connection.

OpenSSL may take part of a write and then say "want write"; the next write must offer the very
same bytes. The sender hands the queue's own bytes to OpenSSL without copying them (pieces of
up to TLS_SEND_BYTES), so a stalled piece must be offered again unchanged, and everything must
arrive whole and in order once the reader reads again. A read takes every record that has
arrived and never leaves decrypted bytes where select() cannot see them.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading

import pytest

from lanchat.outbox import Outbox
from lanchat.tls import TLS_SEND_BYTES, TlsSender, client_context, ensure_certificate, server_context, tls_recv

TIMEOUT = 10.0


@pytest.fixture
def tls_pair(tmp_path):
    """(server side, non-blocking; client side, blocking with a timeout), TLS handshake done."""
    cert, key, _made = ensure_certificate(tmp_path)
    context, _fingerprint = server_context(cert, key)
    near, far = socket.socketpair()
    near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)  # fills quickly: "want write"
    for sock in (near, far):
        sock.settimeout(TIMEOUT)
    client = client_context().wrap_socket(far, do_handshake_on_connect=False)
    shaking = threading.Thread(target=client.do_handshake, daemon=True)
    shaking.start()
    server = context.wrap_socket(near, server_side=True)
    shaking.join(TIMEOUT)
    assert not shaking.is_alive()
    server.setblocking(False)
    yield server, client
    server.close()
    client.close()


def test_a_stalled_piece_is_offered_again_and_everything_arrives_whole_and_in_order(tls_pair):
    server, client = tls_pair
    send = TlsSender(server)
    queue = [os.urandom(3 * TLS_SEND_BYTES + 1000) for _ in range(4)]  # frames longer than a piece
    expected = b"".join(queue)
    stalled = 0
    received = bytearray()
    for _ in range(10_000):  # bounded: each pass sends or reads something
        if not queue:
            break
        try:
            sent = send(queue[0])  # the caller offers its queue's head, as the outbox does
        except BlockingIOError:
            stalled += 1
            received += client.recv(256 * 1024)  # the reader reads again: room for the retry
            continue
        assert 0 < sent <= TLS_SEND_BYTES
        queue[0] = queue[0][sent:]
        if not queue[0]:
            queue.pop(0)
    assert not queue
    while len(received) < len(expected):
        received += client.recv(256 * 1024)
    assert stalled > 0  # the retry path was taken
    assert bytes(received) == expected


def test_a_queue_that_changed_under_a_retry_breaks_the_connection_instead_of_the_stream(tls_pair):
    server, _client = tls_pair
    send = TlsSender(server)
    data = os.urandom(TLS_SEND_BYTES)
    for _ in range(1000):  # bounded: the 16 KiB buffer fills within a few pieces
        try:
            send(data)
        except BlockingIOError:
            break
    else:
        pytest.fail("the socket never filled")
    with pytest.raises(OSError, match="changed under a retry"):
        send(os.urandom(TLS_SEND_BYTES))


def test_the_outbox_hands_a_tls_socket_its_frames_as_queued_and_a_stalled_reader_gets_them_whole(tls_pair):
    """Outbox.flush with ``pieces`` (a TLS connection's): download-sized frames handed as they are,
    chat lines joined, a stall offered the same bytes again while new lines queue behind."""
    server, client = tls_pair
    send = TlsSender(server)
    outbox = Outbox(max_queue_bytes=1 << 30)
    queue = outbox.open(1)
    expected = bytearray()
    for n in range(24):  # a download's pieces, a chat line between some
        piece = os.urandom(60 * 1024)
        outbox.queue(1, piece)
        expected += piece
        if n % 3 == 0:
            line = b"line %d;" % n
            outbox.queue(1, line)
            expected += line
    received = bytearray()
    stalled = 0
    for n in range(10_000):  # bounded: each pass sends or reads something
        if not queue.out:
            break
        if outbox.flush(queue, send, pieces=TLS_SEND_BYTES) == 0:
            stalled += 1
            line = b"while stalled %d;" % n  # queued behind what OpenSSL holds to offer again
            outbox.queue(1, line)
            expected += line
            received += client.recv(256 * 1024)
    assert not queue.out and stalled > 0
    while len(received) < len(expected):
        received += client.recv(256 * 1024)
    assert bytes(received) == bytes(expected)


# ------------------------------------------------------------------ tls.tls_recv: the server's read


def test_a_read_takes_every_record_that_has_arrived_and_leaves_nothing_decrypted_unseen(tls_pair):
    server, client = tls_pair
    sent = b"".join(os.urandom(10_000) for _ in range(3))
    for start in range(0, len(sent), 10_000):
        client.sendall(sent[start : start + 10_000])  # three TLS records
    got = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(server, selectors.EVENT_READ)
        for _ in range(100):  # bounded: each pass waits for select() with a timeout
            if len(got) >= len(sent) or not selector.select(TIMEOUT):
                break
            try:
                data = tls_recv(server, 12_000)  # less than the three records, more than one
            except BlockingIOError:
                continue  # select() saw part of a record
            got += data
            assert server.pending() == 0  # nothing decrypted left where select() cannot see it
    assert bytes(got) == sent


def test_a_read_with_nothing_there_says_so_and_the_end_of_the_stream_reads_empty(tls_pair):
    server, client = tls_pair
    with pytest.raises(BlockingIOError):
        tls_recv(server, 4096)
    # The client reads all the server sent, as lanchat's does, before it leaves: TLS 1.3's session
    # tickets come after the handshake, and a socket closed with bytes unread is reset, not ended
    # (Python 3.13's ssl says ConnectionResetError for that, as a plain socket does; 3.11 said b"").
    server.sendall(b"welcome")
    assert client.recv(64) == b"welcome"
    client.sendall(b"last words")
    client.close()  # the connection ends (ssl reads an end without close_notify as the end too)
    got = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(server, selectors.EVENT_READ)
        for _ in range(100):
            assert selector.select(TIMEOUT)
            try:
                data = tls_recv(server, 4096)
            except BlockingIOError:
                continue
            if not data:
                break
            got += data
        else:
            pytest.fail("the end of the stream was never read")
    assert bytes(got) == b"last words"
