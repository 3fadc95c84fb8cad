"""A connection that never says hello is closed after the handshake time, telling it why;
people who joined are never affected, and the server does not wake up once nobody is pending."""

import socket
import sys

import pytest
from helpers import DEFAULT_TIMEOUT, ROOT, RawClient, child_env, running_server, wait_for

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


def test_a_student_slow_to_choose_another_name_at_the_prompt_still_joins():
    """`lanchat connect --name ann` where ann is here: the name prompt asks for another on the
    open connection, and the server gives a connection 20 s from connecting to join (1 s here; a
    refused name gives no more). A student who took longer to think of one was turned away with
    "the server refused to let us in: no hello within 20 s", though they had just typed a name,
    and had to run connect again. The name typed late now joins, on a new connection."""
    pexpect = pytest.importorskip("pexpect")
    with running_server(handshake_seconds=1.0) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        child = pexpect.spawn(sys.executable, ["-m", "lanchat", "connect", f"127.0.0.1:{endpoint.port}", "--name", "ann", "--plain"],
                              env=child_env(), cwd=str(ROOT), timeout=DEFAULT_TIMEOUT)
        try:
            child.expect(r"Another name( \(Enter: \S+\))?: ")
            # the person still thinking: the server has closed that connection, its time run out
            wait_for(lambda: len(server.hub.peers) == 1, what="the server to close the prompted connection")
            child.sendline("bob")
            child.expect(r"welcome, bob")
            ann.expect(ev.Joined, name="bob")
            child.sendline("/q")
            child.expect(pexpect.EOF)
            assert b"Traceback" not in (child.before or b"")
        finally:
            child.close(force=True)
            ann.close()
