"""Anyone can join with a plain socket: `nc HOST 3580`, telnet, a ten-line seed-001-style program.

A raw TCP socket that sends text instead of frames becomes a text participant: its first line is
its name, then each line is a message, and it reads plain sanitised lines. Real sockets on
loopback against an in-process server (and `lanchat serve` for the greeting of a silent nc).
"""

from __future__ import annotations

import re
import socket
import time

from helpers import DEFAULT_TIMEOUT, Proc, RawClient, running_server

from lanchat import events as ev


class TextPeer:
    """What `nc` does: bytes typed in, lines read out."""

    def __init__(self, endpoint) -> None:  # noqa: ANN001
        self.sock = socket.create_connection((endpoint.host, endpoint.port), timeout=DEFAULT_TIMEOUT)
        self.received = b""

    def send(self, data: str | bytes) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self, text: str) -> None:
        self.send(text + "\n")

    def expect(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match[bytes]:
        """Wait until what arrived (from the start) matches; the match."""
        regex = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.received)
            if match:
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout}s; got {self.received!r}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise AssertionError(f"closed before {pattern!r}; got {self.received!r}")
            self.received += data

    def expect_closed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            self.received += data
        raise AssertionError(f"still open; got {self.received!r}")

    def close(self) -> None:
        self.sock.close()


def test_a_text_participant_chats_with_a_lanchat_client():
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"Type your name")
            ann.expect(r"\* welcome, ann! here: bob\. /help lists the commands\r\n")
            bob.expect(ev.Joined, name="ann")
            bob.send(ev.Say(text="hi ann"))
            ann.expect(r"\[\d\d:\d\d\] bob: hi ann\r\n")
            ann.line("hello bob")
            bob.expect(ev.Message, sender="ann", text="hello bob")
            ann.line("/w bob just you")
            bob.expect(ev.Direct, sender="ann", to="bob", text="just you")
            ann.expect(r"\] you -> bob: just you\r\n")
            ann.line("/who")
            ann.expect(r"\* here: bob, ann\r\n")
            ann.line("/q")
            ann.expect_closed()
            bob.expect(ev.Left, name="ann", reason="quit")
        finally:
            ann.close()
            bob.close()


def test_a_seed_001_program_sends_its_name_and_first_line_at_once():
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        program = TextPeer(endpoint)
        try:
            program.send("ann\nhello from my socket program\n")
            bob.expect(ev.Message, sender="ann", text="hello from my socket program")
        finally:
            program.close()
            bob.close()


def test_a_taken_name_is_asked_again():
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        other = TextPeer(endpoint)
        try:
            other.line("BOB")
            other.expect(r"! the name 'BOB' is taken; choose another\r\nname: ")
            other.line("bobby")
            other.expect(r"\* welcome, bobby!")
            bob.expect(ev.Joined, name="bobby")
        finally:
            other.close()
            bob.close()


def test_escapes_from_others_arrive_harmless_and_bad_bytes_cost_nothing():
    with running_server() as (server, endpoint):
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"welcome, ann")
            bob.send(ev.Say(text="\x1b[2J\x1b]0;owned\x07gotcha"))
            match = ann.expect(r"bob: (.*)\r\n")
            assert b"\x1b" not in match.group(1) and b"\x07" not in match.group(1)
            assert match.group(1) == b"^[[2J^[]0;owned^Ggotcha"
            ann.send(b"caf\xc3\xa9 \xc3\x28\x00\x1b[31m red\n")  # UTF-8, a broken byte pair, NUL, ESC
            said = bob.expect(ev.Message, sender="ann")
            assert said.text == "caf\u00e9 \ufffd([31m red"
            ann.line("still here")
            bob.expect(ev.Message, sender="ann", text="still here")
            assert not server.internal_errors
        finally:
            ann.close()
            bob.close()


def test_a_huge_line_is_refused_and_the_room_goes_on():
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"welcome, ann")
            ann.send(b"x" * 200_000 + b"\n")  # 12 times the line limit, in pieces as they come
            ann.expect(r"! that line is longer than \d+ bytes; it was not sent")
            ann.line("y" * (ev.MAX_TEXT_CHARS + 1))  # fits a line, but not a message: the room's limit
            ann.expect(r"! .*4000")
            ann.line("short and fine")
            said = bob.expect(ev.Message, sender="ann")
            assert said.text == "short and fine"  # nothing of the refused lines got through
        finally:
            ann.close()
            bob.close()


def test_turn_mode_applies_to_a_text_participant():
    with running_server("turn") as (_server, endpoint):
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"turn-based, the turn is yours")  # seed 001: the first to join speaks first
            bob = RawClient(endpoint, "bob")
            ann.line("first")
            bob.expect(ev.Message, sender="ann", text="first")
            ann.expect(r"\* bob's turn\r\n")
            ann.line("again")
            ann.expect(r"! [^\r]*turn[^\r]*\r\n")  # refused, as for anyone out of turn
            bob.send(ev.Say(text="my turn"))
            ann.expect(r"bob: my turn\r\n")
            ann.expect(r"\* your turn: type a line\r\n")
            assert not any(isinstance(e, ev.Message) and e.text == "again" for e in bob.drain(0.2))
            bob.close()
        finally:
            ann.close()


def test_telnet_negotiation_is_ignored():
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        try:
            ann.send(b"\xff\xfd\x03\xff\xfb\x18ann\r\n")  # IAC DO SGA, IAC WILL TTYPE, then the name
            ann.expect(r"welcome, ann")
            bob.expect(ev.Joined, name="ann")
        finally:
            ann.close()
            bob.close()


def test_lanchat_serve_asks_nc_for_a_name_when_enter_is_pressed():
    """The server never speaks first (a slow lanchat client would read a greeting as garbage):
    a person at nc who presses Enter is asked for a name, then joins."""
    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-history", "--no-announce")
    try:
        port = int(server.expect(r"listening on port (\d+)").group(1))
        server.expect(r"or type in any terminal: nc 127\.0\.0\.1 " + str(port))
        nc = socket.create_connection(("127.0.0.1", port), timeout=DEFAULT_TIMEOUT)
        peer = TextPeer.__new__(TextPeer)
        peer.sock, peer.received = nc, b""
        peer.send(b"\n")
        peer.expect(r"Type your name and press Enter\.\r\nname: $")  # asked once
        peer.line("ann")
        peer.expect(r"welcome, ann")
        server.expect(r"127\.0\.0\.1:\d+: typing lines, not lanchat frames: a text participant")
        server.expect(r"ann joined from 127\.0\.0\.1:\d+")
        peer.close()
    finally:
        server.stop()
    assert "Traceback" not in server.output


def test_a_room_with_a_password_turns_a_text_participant_away_clearly():
    """A password typed into nc would cross the network in the clear, and proving it needs
    lanchat's handshake: a text participant is told so, in a line, and the room goes on."""
    from helpers import child_env

    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-history", "--no-announce",
                  "--password", env=child_env(LANCHAT_PASSWORD="s3cret-enough"))
    try:
        port = int(server.expect(r"listening on port (\d+)").group(1))
        nc = socket.create_connection(("127.0.0.1", port), timeout=DEFAULT_TIMEOUT)
        peer = TextPeer.__new__(TextPeer)
        peer.sock, peer.received = nc, b""
        peer.line("ann")
        peer.expect(r"! this room needs a password[^\r]*\r\n")
        peer.expect_closed()
        peer.close()
    finally:
        server.stop()
    assert "Traceback" not in server.output
