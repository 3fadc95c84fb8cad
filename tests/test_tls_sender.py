"""tls.TlsSender: the server's send() for a TLS socket, over a real TLS connection.

OpenSSL may take part of a write and then say "want write"; the next write must offer the very
same bytes. The sender hands the queue's own bytes to OpenSSL without copying them (pieces of
up to TLS_SEND_BYTES), so a stalled piece must be offered again unchanged, and everything must
arrive whole and in order once the reader reads again.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from lanchat.tls import TLS_SEND_BYTES, TlsSender, client_context, ensure_certificate, server_context

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
