"""A connection that never says hello is closed after the handshake time, telling it why;
people who joined are never affected, and the server does not wake up once nobody is pending."""

import contextlib
import io
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


def test_a_student_slow_to_type_the_rooms_password_at_connect_still_joins():
    """`lanchat connect` asks for the room's password when the challenge comes, and the server
    gives that question limits.PROMPT_SECONDS (2 min; 1 s here). A student who took longer to
    find the password on the board typed it and read "the server refused to let us in: not
    joined within ... the room's password was not given in time", and connect ended. The
    password typed late now joins on a new connection, asked once only; one typed wrong late is
    refused as a wrong one always is (asked again, a try spent)."""
    pexpect = pytest.importorskip("pexpect")
    from lanchat.identity import RoomPassword

    env = child_env()
    env.pop("LANCHAT_PASSWORD", None)
    password = RoomPassword.create("fractions", bytes(range(16)))
    with running_server(handshake_seconds=1.0, prompt_seconds=1.0, password=password) as (server, endpoint):
        for name, typed_first, asked in (("ann", "fractions", 1), ("bob", "fractoins", 2)):
            child = pexpect.spawn(sys.executable, ["-m", "lanchat", "connect", f"127.0.0.1:{endpoint.port}", "--name", name, "--plain"],
                                  env=env, cwd=str(ROOT), timeout=DEFAULT_TIMEOUT)
            child.logfile_read = transcript = io.BytesIO()
            try:
                child.expect("This room needs a password: ")
                # the student still looking for it: the server has closed that connection, its time run out
                wait_for(lambda: not server.hub.peers, what="the server to close the prompted connection")
                child.sendline(typed_first)
                if typed_first != "fractions":
                    child.expect("wrong password; try again")  # on the new connection: a wrong one, as ever
                    child.expect("This room needs a password: ")
                    child.sendline("fractions")
                child.expect(rf"welcome, {name}")
                child.sendline("/q")
                child.expect(pexpect.EOF)
            finally:
                child.close(force=True)
            said = transcript.getvalue()
            assert b"Traceback" not in said and b"refused" not in said and b"not given in time" not in said, said
            assert said.count(b"This room needs a password: ") == asked, said  # the late one typed once, sent on a new connection


def test_a_password_sent_late_is_sent_again_once_not_for_ever():
    """A room (here a fake one) that answers every password with its deadline: connect sends the
    password typed once more on a new connection (its first's time ran out), then gives up
    with the room's words; a server closing every connection is not dialled for ever."""
    pexpect = pytest.importorskip("pexpect")
    import base64
    import threading

    from lanchat.protocol import encode
    from lanchat.wire import FrameDecoder

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # (how soon the room notices the test is over)
    answered: list[int] = []
    over = threading.Event()

    def fake_room() -> None:
        with contextlib.suppress(OSError):
            while not over.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.settimeout(DEFAULT_TIMEOUT)
                    frames = FrameDecoder()
                    while not frames.feed(conn.recv(4096)):  # its hello
                        pass
                    conn.sendall(encode(ev.Challenge(nonce=base64.b64encode(bytes(32)).decode(), salt=base64.b64encode(bytes(16)).decode())))
                    while not frames.feed(conn.recv(4096)):  # its auth, with the password's proof
                        pass
                    answered.append(1)
                    conn.sendall(encode(ev.Error(code=ev.E_DEADLINE, fatal=True, message="the room's password was not given in time")))

    room = threading.Thread(target=fake_room, daemon=True)
    room.start()
    env = child_env()
    env.pop("LANCHAT_PASSWORD", None)
    child = pexpect.spawn(sys.executable, ["-m", "lanchat", "connect", f"127.0.0.1:{listener.getsockname()[1]}", "--name", "ann", "--plain",
                                           "--no-reconnect"], env=env, cwd=str(ROOT), timeout=DEFAULT_TIMEOUT)  # fmt: skip
    child.logfile_read = transcript = io.BytesIO()
    try:
        child.expect("This room needs a password: ")
        child.sendline("fractions")
        child.expect(r"the server refused to let us in: the room's password")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        over.set()
        room.join(DEFAULT_TIMEOUT)
        listener.close()
    assert child.exitstatus == 1 and len(answered) == 2, (child.exitstatus, answered)
    assert transcript.getvalue().count(b"This room needs a password: ") == 1 and b"Traceback" not in transcript.getvalue()
