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


def test_a_person_typing_the_rooms_password_slowly_is_let_in():
    """The client asks for the room's password when the server's challenge comes, on the open
    connection: a student taking longer than the hello deadline (20 s; 1 s here) to type it
    off the board was cut with 'no hello within 20 s' though the hello had come. Once the room
    has asked something, the person has PROMPT_SECONDS to answer."""
    import time

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import identity
    from lanchat.identity import RoomPassword

    with running_server(handshake_seconds=1.0, password=RoomPassword.create("fractions", bytes(range(16)))) as (_server, endpoint):
        key = Ed25519PrivateKey.generate()
        ann = RawClient(endpoint, None, key=key, password="fractions")
        ann.send(ev.Hello(name="ann", key=identity.b64(identity.public_bytes(key))))
        challenge = ann.expect(ev.Challenge)
        time.sleep(1.5)  # the person typing (not a synchronisation: the wait is what is tested)
        ann.send(ann.answer(challenge))  # type: ignore[arg-type]
        assert ann.expect(ev.Welcome).name == "ann"  # type: ignore[attr-defined]
        ann.close()
