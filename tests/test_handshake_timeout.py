"""A connection that never says hello is closed after the handshake time, telling it why;
people who joined are never affected, and the server does not wake up once nobody is pending."""

import socket

from helpers import RawClient, running_server

from lanchat import events as ev
from lanchat.protocol import ConnectionClosed


def test_a_silent_connection_is_told_and_closed_while_people_chat_on():
    with running_server(handshake_seconds=0.5) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        probe = RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10))
        error = probe.expect(ev.Error, timeout=10)
        assert error.code == ev.E_HELLO_FIRST and error.fatal
        assert "no hello within 0.5 s" in error.message
        probe.expect(ConnectionClosed, timeout=10)
        # ann joined long before the deadline passed and is still here
        ann.send(ev.Say(text="still here?"))
        ann.expect(ev.Message, text="still here?")
        assert server.room.names == ("ann",)
        ann.close()
        probe.close()


def test_a_refused_name_may_be_retried_within_the_deadline():
    with running_server(handshake_seconds=2.0) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        other = RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10))
        other.send(ev.Hello(name="ANN"))
        assert other.expect(ev.Error).code == ev.E_NAME_TAKEN
        other.send(ev.Hello(name="bob"))
        assert other.expect(ev.Welcome).name == "bob"
        ann.expect(ev.Joined, name="bob")
        ann.close()
        other.close()


def test_with_nobody_pending_the_loop_sleeps_without_a_deadline():
    with running_server(handshake_seconds=30.0) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        ann.send(ev.Who())
        ann.expect(ev.Roster)
        assert server._loop_timeout() is None  # noqa: SLF001 - the idle-CPU promise
        ann.close()
