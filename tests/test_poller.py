"""poller.Poller, the server loop's selector: epoll called directly, and selectors' default as
the plain path beside it. Both are run through the same steps on real sockets and must report
the same (data, events)."""

from __future__ import annotations

import select
import socket
import time

import pytest

from lanchat.poller import EVENT_READ, EVENT_WRITE, Poller

KINDS = [pytest.param(False, id="selectors")]
if hasattr(select, "epoll"):
    KINDS.append(pytest.param(True, id="epoll"))
TIMEOUT = 5.0


@pytest.fixture(params=KINDS)
def poller(request):
    made = Poller(epoll=request.param)
    assert made.uses_epoll is request.param
    yield made
    made.close()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_a_quiet_socket_is_not_ready_and_the_timeout_is_kept(poller, pair):
    a, _ = pair
    poller.register(a, EVENT_READ, "a")
    started = time.monotonic()
    assert poller.poll(0.05) == []
    assert time.monotonic() - started >= 0.045  # rounded up to milliseconds, never down


def test_readable_and_writable_are_reported_with_the_data_registered(poller, pair):
    a, b = pair
    poller.register(a, EVENT_READ, "a")
    b.sendall(b"x")
    assert poller.poll(TIMEOUT) == [("a", EVENT_READ)]
    poller.modify(a, EVENT_READ | EVENT_WRITE, "a2")
    assert poller.poll(TIMEOUT) == [("a2", EVENT_READ | EVENT_WRITE)]
    a.recv(10)
    assert poller.poll(TIMEOUT) == [("a2", EVENT_WRITE)]
    poller.modify(a, EVENT_READ, "a3")  # the same events, new data
    assert poller.poll(0) == []
    b.sendall(b"y")
    assert poller.poll(TIMEOUT) == [("a3", EVENT_READ)]


def test_a_hang_up_is_readable(poller, pair):
    a, b = pair
    poller.register(a, EVENT_READ, "a")
    b.close()
    assert poller.poll(TIMEOUT) == [("a", EVENT_READ)]
    assert a.recv(10) == b""


def test_unregistered_sockets_are_not_reported_and_misuse_raises_key_error(poller, pair):
    a, b = pair
    poller.register(a, EVENT_READ, "a")
    assert poller.watching(a)
    with pytest.raises(KeyError):
        poller.register(a, EVENT_READ, "again")
    poller.unregister(a)
    assert not poller.watching(a)
    b.sendall(b"x")
    assert poller.poll(0.01) == []
    with pytest.raises(KeyError):
        poller.unregister(a)
    with pytest.raises(KeyError):
        poller.modify(a, EVENT_READ, "a")


def test_a_socket_closed_before_unregister_is_forgotten(poller):
    a, b = socket.socketpair()
    poller.register(a, EVENT_READ, "a")
    a.close()
    poller.unregister(a)  # as the server's shutdown may: no error for a closed socket
    assert not poller.watching(a)
    c, d = socket.socketpair()  # may reuse a's descriptor number
    try:
        poller.register(c, EVENT_READ, "c")
        d.sendall(b"x")
        assert poller.poll(TIMEOUT) == [("c", EVENT_READ)]
    finally:
        for sock in (b, c, d):
            sock.close()


def test_a_socket_handed_on_as_another_object_is_the_same_registration(poller, pair):
    """A TLS handshake turns the accepted socket into an SSLSocket with the same descriptor:
    the loop unregisters the one and registers the other (tls.TlsHandshakes, server._adopt)."""
    a, b = pair
    poller.register(a, EVENT_READ, "raw")
    handed_on = socket.socket(fileno=a.detach())  # the same descriptor, another object
    try:
        assert poller.watching(handed_on)
        poller.unregister(handed_on)
        poller.register(handed_on, EVENT_READ, "wrapped")
        b.sendall(b"x")
        assert poller.poll(TIMEOUT) == [("wrapped", EVENT_READ)]
    finally:
        handed_on.close()
