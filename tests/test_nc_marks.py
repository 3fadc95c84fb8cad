"""The room flags who is at nc (text participants) in welcome, joined and roster, as it flags its
bots (PROTOCOL.md, Which members are at nc), and lanchat's /files, /who and roster pane use it: a
student at nc can never fetch a file, and the teacher's /files listed them as "not yet" for ever.
A real server on loopback, lanchat clients (RawClient, or `lanchat connect` in a real pty) and a
plain socket typing lines, as nc does."""

from __future__ import annotations

import os
import re
import socket
import time

import pytest
from helpers import DEFAULT_TIMEOUT, Proc, RawClient, TermProc, local_host, running_server, start_server

from lanchat import events as ev


class AtNc:
    """A person at nc: a plain TCP socket that types its name, then lines."""

    def __init__(self, host: str, port: int, name: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=DEFAULT_TIMEOUT)
        self.received = b""
        self.sock.sendall(f"{name}\n".encode())
        self.expect(rf"-!- welcome, {name}!")

    def line(self, text: str) -> None:
        self.sock.sendall(f"{text}\n".encode())

    def expect(self, pattern: str) -> None:
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while not re.search(pattern.encode(), self.received):
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                data = None
            assert data != b"" and time.monotonic() < deadline, f"no {pattern!r}; got {self.received!r}"
            self.received += data or b""

    def close(self) -> None:
        self.sock.close()


def test_welcome_joined_and_roster_say_who_is_at_nc_and_nothing_while_nobody_is():
    """hal and bob use lanchat, dan and eve join at nc: hal and bob read dan's joined flagged
    text, ann joining later is welcomed with both named, /who's roster names them (with a mute
    in the room too, the roster's other way), and once they are gone no field is sent at all."""
    with running_server() as (server, endpoint):
        hal = local_host(server, "hal")
        bob = RawClient(endpoint, "bob")
        assert bob.welcome is not None and bob.welcome.text == ()  # type: ignore[attr-defined]
        assert b'"text"' not in ev_bytes(bob.welcome)  # a room without nc sends the frames it did
        dan = AtNc(endpoint.host, endpoint.port, "dan")
        eve = None
        ann = None
        try:
            assert hal.expect(ev.Joined, name="dan").text  # type: ignore[attr-defined]
            assert bob.expect(ev.Joined, name="dan").text  # type: ignore[attr-defined]
            eve = AtNc(endpoint.host, endpoint.port, "eve")
            ann = RawClient(endpoint, "ann")
            assert ann.welcome is not None and ann.welcome.text == ("dan", "eve")  # type: ignore[attr-defined]
            assert not bob.expect(ev.Joined, name="ann").text  # type: ignore[attr-defined]  # a lanchat client
            ann.send(ev.Who())
            roster = ann.expect(ev.Roster)
            assert roster.members == ("hal", "bob", "dan", "eve", "ann") and roster.text == ("dan", "eve")  # type: ignore[attr-defined]
            hal.send(ev.Moderate(action="mute", name="bob", minutes=5))
            ann.expect(ev.Moderated, action="mute")
            ann.send(ev.Who())
            roster = ann.expect(ev.Roster)
            assert roster.muted == ("bob",) and roster.text == ("dan", "eve")  # type: ignore[attr-defined]
            dan.line("/q")
            eve.line("/q")
            ann.expect(ev.Left, name="dan")
            ann.expect(ev.Left, name="eve")
            ann.send(ev.Who())
            roster = ann.expect(ev.Roster)
            assert roster.members == ("hal", "bob", "ann") and roster.text == ()  # type: ignore[attr-defined]
            assert not server.room.text_cids  # nothing kept of who has gone
        finally:
            for closing in (dan, eve, ann, bob, hal):
                if closing is not None:
                    closing.close()


def ev_bytes(event: object) -> bytes:
    from lanchat.protocol import encode

    return encode(event)  # type: ignore[arg-type]


@pytest.mark.timeout(120)
def test_the_teachers_files_and_who_say_who_is_at_nc_not_that_they_have_not_fetched_yet(tmp_path):
    """The teacher (the full screen in a real pty) shares slides; bob fetches them, eve (there
    before the teacher came: the welcome) and dan (after: joined) are at nc. /files read "1 of
    the 3 here has it; not yet: eve, dan" for ever; now it reads that bob has it and that eve and
    dan are at nc and cannot fetch files. /who and the roster pane mark them "(nc)"."""
    slides = tmp_path / "slides.pdf"
    slides.write_bytes(os.urandom(20_000))
    server, port = start_server("--headless", "--no-history", "--no-announce", "--files-dir", str(tmp_path / "server-files"))
    started: list[Proc | TermProc] = [server]
    typing: list[AtNc] = []
    try:
        assert port is not None
        typing.append(AtNc("127.0.0.1", port, "eve"))
        (tmp_path / "ann").mkdir()
        (tmp_path / "bob").mkdir()
        ann = TermProc("connect", "127.0.0.1", str(port), "--name", "ann", "--downloads", str(tmp_path / "ann"), "--no-typing", rows=30, cols=110)
        started.append(ann)
        ann.expect(r"welcome, ann")
        bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob", "--downloads", str(tmp_path / "bob"), "--no-typing")
        started.append(bob)
        bob.expect(r"welcome, bob")
        typing.append(AtNc("127.0.0.1", port, "dan"))
        ann.wait_screen(lambda rows: any(re.search(r"│ ?dan \(nc\)\s*$", row) for row in rows), what="dan (nc) in the roster pane")
        ann.send(f'/send "{slides}"\r')
        ann.expect(r"your file slides\.pdf .* is on offer to the room as #1")
        bob.expect(r"ann offers slides\.pdf .*/get 1")
        bob.send("/get 1")
        bob.expect(r"saved .*slides.* \(.*SHA-256 checked\)")
        ann.expect(r"fetched by bob")
        ann.send("/files\r")
        ann.expect(r"#1 slides\.pdf .* from you, fetched by 1")
        ann.expect(r"bob has it; eve and dan are at nc and cannot fetch files")
        assert "not yet" not in ann.text, ann.text
        ann.send("/who\r")
        ann.expect(r"here \(4\): eve \(nc\), ann \(you\), bob, dan \(nc\)")
    finally:
        for person in typing:
            person.close()
        for proc in reversed(started):
            proc.stop()
