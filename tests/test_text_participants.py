"""Anyone can join with a plain socket: `nc HOST 3580`, telnet, a ten-line seed-001-style program.

A raw TCP socket that sends text instead of frames becomes a text participant: its first line is
its name, then each line is a message, and it reads plain sanitised lines. Real sockets on
loopback against an in-process server (and `lanchat serve` for the greeting of a silent nc).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import (
    DEFAULT_TIMEOUT,
    Endpoint,
    Proc,
    RawClient,
    first_release_history,
    local_host,
    running_server,
    wait_for,
)

from lanchat import events as ev
from lanchat.history import HistoryStore
from lanchat.identity import RoomPassword
from lanchat.textline import MAX_LINE_BYTES, LineEnds


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


@pytest.mark.parametrize("limits", [False, True], ids=["no-limits", "with-limits-as-serve-runs"])
def test_a_text_participant_chats_with_a_lanchat_client(limits):
    """With flood control on, as `lanchat serve` runs, too: its guard once read a field only
    lanchat connections had, and put every nc participant out at their first line."""
    with running_server(limits=limits) as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"Type your name")
            ann.expect(r"-!- welcome, ann! here: bob\. /help lists the commands\r\n")
            bob.expect(ev.Joined, name="ann")
            bob.send(ev.Say(text="hi ann"))
            ann.expect(r"\[\d\d:\d\d\] bob: hi ann\r\n")
            ann.line("hello bob")
            bob.expect(ev.Message, sender="ann", text="hello bob")
            ann.line("/w bob just you")
            bob.expect(ev.Direct, sender="ann", to="bob", text="just you")
            ann.expect(r"\] you -> bob: just you\r\n")
            ann.line("/who")
            ann.expect(r"-!- here: bob, ann \(you\)\r\n")
            ann.line("/q")
            ann.expect_closed()
            bob.expect(ev.Left, name="ann", reason="quit")
        finally:
            ann.close()
            bob.close()


def test_a_text_participant_late_to_a_class_of_twelve_reads_eight_names_and_a_count_as_lanchat_does():
    """A student at nc late to a class read every name in the welcome, where lanchat's welcome
    names the first eight and counts the rest (wording.here_words, one rule for both): a class
    of 25 filled an 80x24 terminal. /who still lists everyone."""
    with running_server() as (_server, endpoint):
        class_ = [RawClient(endpoint, f"s{n:02}") for n in range(1, 12)]
        zed = TextPeer(endpoint)
        try:
            zed.line("zed")
            zed.expect(r"-!- welcome, zed! here: s01, s02, s03, s04, s05, s06, s07, s08 and 3 more "
                       r"\(/who lists them\)\. /help lists the commands\r\n")
            zed.line("/who")
            zed.expect(r"-!- here: s01, .*s11, zed \(you\)\r\n")
        finally:
            zed.close()
            for student in class_:
                student.close()


def test_a_text_participants_who_marks_who_is_muted():
    """/who typed in nc marks the muted as lanchat's /who does (PROTOCOL.md, Moderation)."""
    with running_server() as (server, endpoint):
        hal = local_host(server, "hal")
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"-!- welcome, ann! here: hal, bob\.")
            hal.send(ev.Moderate(action="mute", name="bob", minutes=8))
            bob.expect(ev.Moderated, action="mute", name="bob")
            ann.line("/who")
            ann.expect(r"-!- here: hal \(host\), bob \(muted for [78] more minutes\), ann \(you\)\r\n")
        finally:
            ann.close()


def test_a_text_participants_who_marks_the_host_and_the_operators_as_lanchats_roster_does():
    """An nc student's /who read "here: hal, bob, ann": not who the teacher was, nor whom the
    teacher had made an operator, where lanchat's /who and roster pane read "hal (host)" and
    "bob (op)". Now it marks them (and "you", and who is away) the same way, in plain text,
    for one there when it happens and for one who joins after (what the welcome is followed
    by), under a new name too; a reason's escape arrives harmless."""
    with running_server() as (server, endpoint):
        hal = local_host(server, "hal")
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        cy = None
        try:
            ann.line("ann")
            ann.expect(r"-!- welcome, ann! here: hal, bob\.")
            hal.send(ev.Moderate(action="op", name="bob"))
            ann.expect(r"-!- hal made bob an operator\r\n")
            bob.send(ev.SetAway(reason="lunch \x1b[2J"))
            ann.expect(r"-!- bob is away: lunch")
            ann.line("/who")
            ann.expect(r"-!- here: hal \(host\), bob \(op, away: lunch \^\[\[2J\), ann \(you\)\r\n")
            cy = TextPeer(endpoint)
            cy.line("cy")
            cy.expect(r"-!- welcome, cy!")
            cy.expect(r"-!- bob is away")  # what holds now follows the welcome
            cy.line("/who")
            cy.expect(r"-!- here: hal \(host\), bob \(op, away: lunch \^\[\[2J\), ann, cy \(you\)\r\n")
            bob.send(ev.Nick(name="bobby"))
            bob.send(ev.SetAway(reason=""))
            cy.expect(r"-!- bobby is back\r\n")
            cy.line("/who")
            cy.expect(r"-!- here: hal \(host\), bobby \(op\), ann, cy \(you\)\r\n")
            hal.send(ev.Moderate(action="deop", name="bobby"))
            cy.expect(r"-!- hal took .*bobby")
            cy.line("/who")
            cy.expect(r"-!- here: hal \(host\), bobby, ann, cy \(you\)\r\n")
            assert b"\x1b" not in ann.received + cy.received
        finally:
            ann.close()
            if cy is not None:
                cy.close()
            bob.close()
            hal.close()


def reset(peer: TextPeer) -> None:
    """Close with a reset (RST), not a FIN: SO_LINGER with a zero timeout, as a crashed machine
    or a connection torn down mid-way looks to the server."""
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.sock.close()


def test_closing_after_a_whole_line_is_leaving_and_a_reset_or_a_cut_line_is_lost():
    """nc's Ctrl-C (the socket closed: FIN) and ncat's Ctrl-D (the write side shut: FIN) after a
    whole line are how a person at nc leaves: the room reads "ann left", as for lanchat's /q
    (bye, then FIN). A reset, or a FIN in the middle of a line, is a lost connection; so is a
    lanchat client's end without bye, as before. The server's log says the same."""
    log: list[str] = []
    with running_server(log=log.append) as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        watcher = TextPeer(endpoint)
        peers = {name: TextPeer(endpoint) for name in ("ann", "cy", "dee", "eve", "fay")}
        try:
            for name, peer in (("wes", watcher), *peers.items()):
                peer.line(name)
                peer.expect(rf"-!- welcome, {name}!")
            ann = peers["ann"]
            ann.line("bye all")
            ann.expect(r"\] ann: bye all\r\n")  # all read: nc's close is a FIN, not a reset
            ann.close()  # nc's Ctrl-C
            bob.expect(ev.Left, name="ann", reason="quit")
            watcher.expect(r"-!- ann left\r\n")
            peers["cy"].sock.shutdown(socket.SHUT_WR)  # ncat's Ctrl-D
            bob.expect(ev.Left, name="cy", reason="quit")
            watcher.expect(r"-!- cy left\r\n")
            peers["cy"].expect_closed()
            reset(peers["dee"])
            bob.expect(ev.Left, name="dee", reason="lost")
            watcher.expect(r"-!- dee left \(connection lost\)\r\n")
            peers["eve"].send("half a li")
            peers["eve"].sock.shutdown(socket.SHUT_WR)
            bob.expect(ev.Left, name="eve", reason="lost")
            watcher.expect(r"-!- eve left \(connection lost\)\r\n")
            peers["fay"].line("/q")
            peers["fay"].expect(r"-!- you left the chat \(the connection is closed\)\r\n")  # ncat stays open: say it
            peers["fay"].expect_closed()
            bob.expect(ev.Left, name="fay", reason="quit")
            gus = RawClient(endpoint, "gus")
            gus.sock.shutdown(socket.SHUT_WR)  # a lanchat client without bye: lost, as always
            bob.expect(ev.Left, name="gus", reason="lost")
            watcher.expect(r"-!- gus left \(connection lost\)\r\n")
            wait_for(lambda: "gus lost connection" in log)
            for name, how in (("ann", "left"), ("cy", "left"), ("dee", "lost connection"), ("eve", "lost connection"), ("fay", "left")):
                assert f"{name} {how}" in log
            assert "ann lost connection" not in log and "dee left" not in log
        finally:
            for peer in (*peers.values(), watcher):
                peer.close()
            bob.close()


def test_seed_004s_clients_and_lanchats_other_spellings_work_at_nc_as_on_lanchats_screen():
    """Seed 004's future work asked for a clients command: lanchat's screen takes /clients as
    /who, and so does nc now, where it read "! unknown command /clients; /help lists them" while
    /msg, /whisper and /exit, lanchat's other spellings, worked. Every one of them, in capitals too."""
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"-!- welcome, ann! here: bob\.")
            bob.expect(ev.Joined, name="ann")
            for spelling in ("/clients", "/CLIENTS"):
                ann.line(spelling)
            ann.expect(r"-!- here: bob, ann \(you\)\r\n(.|\r\n)*-!- here: bob, ann \(you\)\r\n")
            ann.line("/msg bob one")
            bob.expect(ev.Direct, sender="ann", to="bob", text="one")
            ann.line("/whisper bob two")
            bob.expect(ev.Direct, sender="ann", to="bob", text="two")
            ann.line("/Exit")
            ann.expect(r"-!- you left the chat \(the connection is closed\)\r\n")
            ann.expect_closed()
            bob.expect(ev.Left, name="ann", reason="quit")
            assert b"unknown command" not in ann.received, ann.received
        finally:
            ann.close()
            bob.close()


def test_seed_004s_backslash_commands_at_nc_are_the_commands_as_on_lanchats_screen():
    """A seed 004 student at nc typed its future work's \\quit: the whole class read 'ann: \\quit'
    and ann was still in the room (\\clients too went to everyone as a message), where lanchat's
    screen takes a line that is only one of those words as the command (README, "In the chat").
    Now nc does the same; any other line with a backslash is still a message, as typed."""
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"-!- welcome, ann! here: bob\.")
            bob.expect(ev.Joined, name="ann")
            ann.line("\\clients")
            ann.expect(r"-!- here: bob, ann \(you\)\r\n")
            ann.line("\\Help")
            ann.expect(r"/w NAME TEXT +a direct message only NAME sees\r\n")
            ann.line("\\clear")
            ann.expect(r"! /clear needs lanchat; at nc: ")
            for text in ("\\w is a word character", "C:\\quit", "\\quit now", "\\n"):
                ann.line(text)
                bob.expect(ev.Message, sender="ann", text=text)
            ann.line("\\quit")
            ann.expect(r"-!- you left the chat \(the connection is closed\)\r\n")
            ann.expect_closed()
            bob.expect(ev.Left, name="ann", reason="quit")
            assert b"ann: \\clients" not in ann.received and b"ann: \\Help" not in ann.received, ann.received
        finally:
            ann.close()
            bob.close()


def test_q_or_seed_004s_backslash_quit_at_the_name_question_leaves_without_joining():
    """At nc's "name: ", seed 004's \\quit joined the room as a person named '\\quit' (the class
    read '\\quit joined'), and seed 001's /q read "'/q' cannot be used: a name cannot start
    with /", and asked again. Either now leaves, as it does once joined; nobody reads a join."""
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        try:
            for typed in ("\\quit", "/q", "/QUIT"):
                peer = TextPeer(endpoint)
                try:
                    peer.line(typed)
                    peer.expect(r"-!- you left without joining \(the connection is closed\)\r\n")
                    peer.expect_closed()
                    assert b"welcome" not in peer.received and b"cannot be used" not in peer.received, peer.received
                finally:
                    peer.close()
            ann = TextPeer(endpoint)
            try:
                ann.line("ann")
                ann.expect(r"-!- welcome, ann! here: bob\.")
                assert bob.expect(ev.Joined).name == "ann"  # the first join bob reads: no '\\quit joined' before it
            finally:
                ann.close()
        finally:
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
    """A student typing ANN read "the name 'ANN' is taken" with no ANN in the room: it now says
    who has it and that capitals do not count (a look-alike already said whom it looks like)."""
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        other = TextPeer(endpoint)
        try:
            other.line("BOB")
            other.expect(r"! the name 'BOB' is taken \(bob is here; capitals do not count\); choose another\r\nname: ")
            other.line("bobby")
            other.expect(r"-!- welcome, bobby!")
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


def test_a_text_participant_joining_days_later_reads_which_day_the_replayed_lines_are_from(tmp_path):
    """nc joining on Monday morning read Friday's last line as "[History] [16:58] ann: ...", the
    time alone, as if said today; lanchat's screen says the day. It does for nc too now."""
    friday = time.time() - 3 * 86400
    store = HistoryStore(first_release_history(tmp_path / "h.sqlite3", [(friday, "ann", None, "have a good weekend")]))
    with running_server(history=store) as (_server, endpoint):
        nc = TextPeer(endpoint)
        try:
            nc.line("nc")
            moment = time.localtime(friday)
            month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[moment.tm_mon - 1]
            nc.expect(rf"\[History\] \[{moment.tm_mday} {month} {time.strftime('%H:%M', moment)}\] ann: have a good weekend\r\n")
        finally:
            nc.close()
    store.close()


def test_what_the_server_answers_by_itself_comes_after_the_lines_typed_before_it(tmp_path):
    """Lines pasted at once: a message, /help, a command nobody knows, a line too long, another
    message. The server's own answers (the help, the refusals) used to come before the echo of
    the message typed first; now each comes where its line was, with history (whose echoes wait
    for the commit) and without."""
    store = HistoryStore(tmp_path / "h.sqlite3")
    for history in (store, None):
        with running_server(history=history) as (_server, endpoint):
            ann = TextPeer(endpoint)
            try:
                ann.line("ann")
                ann.expect(r"welcome, ann")
                start = len(ann.received)
                long_line = b"x" * (MAX_LINE_BYTES + 1) + b"\n"
                ann.send(b"first\n/help\n/dance\n" + long_line + b"second\n")
                ann.expect(r"ann: second")
                said = ann.received[start:].decode()
                marks = ["ann: first", "/w NAME TEXT", "unknown command /dance", "longer than", "ann: second"]
                assert [said.index(mark) for mark in marks] == sorted(said.index(mark) for mark in marks), said
            finally:
                ann.close()
    store.close()


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
            ann.expect(r"-!- bob's turn\r\n")
            ann.line("again")
            ann.expect(r"! [^\r]*turn[^\r]*\r\n")  # refused, as for anyone out of turn
            bob.send(ev.Say(text="my turn"))
            ann.expect(r"bob: my turn\r\n")
            ann.expect(r"-!- your turn: type a line\r\n")
            heard = []  # all bob was sent before his own line: "again" was refused before it was read
            while not (isinstance(event := bob.expect(object), ev.Message) and event.text == "my turn"):
                heard.append(event)
            assert not any(isinstance(e, ev.Message) and e.text == "again" for e in heard)
            bob.close()
        finally:
            ann.close()


def test_a_text_participants_who_in_a_turn_room_marks_whose_turn_it_is():
    """/who typed in nc in a turn room marks the holder, as lanchat's /who does; after the turn
    moves on, the new holder (polish: the list alone never said whose turn it was)."""
    with running_server("turn") as (_server, endpoint):
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"turn-based, the turn is yours")
            bob = RawClient(endpoint, "bob")
            ann.line("/who")
            ann.expect(r"-!- here: ann \(you, turn\), bob\r\n")
            ann.line("over to you")
            ann.expect(r"-!- bob's turn\r\n")
            ann.line("/who")
            ann.expect(r"-!- here: ann \(you\), bob \(turn\)\r\n")
            bob.close()
        finally:
            ann.close()


def test_a_text_participant_holding_the_turn_gives_it_up_with_pass():
    """nc had no /pass: a student there holding the turn held up the room until an operator
    passed it."""
    with running_server("turn") as (_server, endpoint):
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"turn-based, the turn is yours")
            bob = RawClient(endpoint, "bob")
            ann.expect(r"-!- bob joined\r\n")
            ann.line("/pass")
            bob.expect(ev.Moderated, action="pass", by="ann", name="ann")
            bob.expect(ev.Turn, holder="bob")
            ann.expect(r"-!- bob's turn\r\n")
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


def test_telnets_cr_nul_ends_the_name_and_each_line_as_enter_does():
    """A telnet client in character mode sends Enter as CR NUL (RFC 854's carriage return
    alone): the name 'a' sent so was never taken as a line, and the student sat at the name
    question until the hello deadline. CR NUL ends a line as LF does, cut between two reads too
    (LineEnds); a CR alone still ends nothing, as its LF may come in the next read."""
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        try:
            ann.send(b"a\r\0")  # three bytes: too few to tell a person by length
            ann.expect(r"-!- welcome, a! here: bob")
            bob.expect(ev.Joined, name="a")
            ann.send(b"hello bob\r\0")
            bob.expect(ev.Message, sender="a", text="hello bob")
            ann.send(b"first\r\0second\r\0")
            bob.expect(ev.Message, sender="a", text="first")
            bob.expect(ev.Message, sender="a", text="second")
        finally:
            ann.close()
            bob.close()


def test_a_line_ends_at_lf_or_cr_nul_even_cut_between_reads_and_never_at_a_cr_alone():
    lines = LineEnds()
    assert lines.split(b"cut\r") == [] and lines.mid_line  # its LF or NUL may come next
    assert lines.split(b"\0next\r\n") == ["cut", "next"]
    assert lines.split(b"crlf\r") == [] and lines.split(b"\nlf\n") == ["crlf", "lf"]
    assert lines.split(b"a\r") == [] and lines.split(b"b\n") == ["a\rb"]  # a CR alone ends nothing
    assert lines.split(b"nul\0inside\n") == ["nul\0inside"] and not lines.mid_line  # (a NUL not after a CR: kept, then dropped as a control)


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


def test_a_password_room_asks_a_text_participant_for_it_after_the_name(tmp_path):
    """`serve --password` on a plain connection: nc is asked its name, then the password, and is
    told that it crosses the network unencrypted; the right one joins and chats."""
    from helpers import child_env

    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-history", "--no-announce",
                  "--password", env=child_env(LANCHAT_PASSWORD="s3cret enough"))
    try:
        port = int(server.expect(r"listening on port (\d+)").group(1))
        server.expect(r"or type in any terminal: nc 127\.0\.0\.1 " + str(port) + r" \(then Enter, and your name and "
                      r"the password, which nc sends unencrypted\)")
        ann = TextPeer(Endpoint(host="127.0.0.1", port=port))
        ann.line("ann")
        ann.expect(r"typed here, it crosses the network unencrypted:\r\nfor a real secret, join with the lanchat client or over TLS\r\n")
        ann.expect(r"password: $")
        ann.line("s3cret enough")  # exactly as typed, spaces and all
        ann.expect(r"-!- welcome, ann! nobody else is here yet")
        ann.line("/help")
        ann.expect(r"/q +leave\r\n")
        # nc at an 80-column terminal: the room's own lines each fit one row (the notice was 86
        # characters: its last word wrapped onto a row of its own, on a projector too)
        too_wide = [row for row in ann.received.decode().split("\r\n") if len(row) > 79]
        assert too_wide == [], too_wide
        ann.close()
    finally:
        server.stop()
    assert "Traceback" not in server.output


def password_room(tmp_path, log: list[str]):  # noqa: ANN201
    """A password room that keeps history and logs what the host would read."""
    store = HistoryStore(tmp_path / "h.sqlite3")
    return running_server(password=RoomPassword.create("tea", os.urandom(16)), history=store, log=log.append)


def test_the_right_typed_password_joins_and_chats_with_lanchat_clients(tmp_path):
    log: list[str] = []
    with password_room(tmp_path, log) as (_server, endpoint):
        bob = RawClient(endpoint, "bob", key=Ed25519PrivateKey.generate(), password="tea")
        bob.send(ev.Say(text="before ann came"))
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"password: $")
            ann.line("tea")
            ann.expect(r"-!- welcome, ann! here: bob\.")
            ann.expect(r"\[History\] \[\d\d:\d\d\] bob: before ann came\r\n")
            bob.expect(ev.Joined, name="ann")
            ann.line("hello bob")
            assert bob.expect(ev.Message, sender="ann").text == "hello bob"
        finally:
            ann.close()
        bob.close()
    assert not [line for line in log if "wrong room password" in line]


def test_a_text_participant_typing_the_password_slowly_is_let_in():
    """At nc the name is typed, then the room's password off the board: the hub's hello deadline
    (20 s; 1 s here) ran from connecting, so a slow typist was cut with 'no hello within' before
    the hello could come. Once "password: " is asked, the person has limits.PROMPT_SECONDS, as a
    lanchat client's person has after the challenge."""
    with running_server(handshake_seconds=1.0, password=RoomPassword.create("tea", os.urandom(16))) as (_server, endpoint):
        ann = TextPeer(endpoint)
        try:
            ann.line("ann")
            ann.expect(r"password: $")
            time.sleep(1.5)  # the person typing (not a synchronisation: the wait is what is tested)
            ann.line("tea")
            ann.expect(r"-!- welcome, ann!")
        finally:
            ann.close()


def test_a_student_at_nc_thinking_of_a_name_past_the_hello_deadline_still_joins():
    """`nc HOST 3580`, Enter, and the room asks "name: ": a student thinking of a name, or
    asking their neighbour how to spell it, was cut at 20 s from connecting (1 s here) with
    "! no hello within 20 s", and "hello" means nothing at nc. From the question they have the
    time a person at a prompt has (limits.PROMPT_SECONDS)."""
    with running_server(handshake_seconds=1.0) as (server, endpoint):
        ann = TextPeer(endpoint)
        try:
            ann.line("")  # Enter, as the host's banner says
            ann.expect(r"name: $")
            time.sleep(1.5)  # the person thinking (not a synchronisation: the wait is what is tested)
            ann.line("ann")
            ann.expect(r"-!- welcome, ann!")
            assert b"no hello" not in ann.received
            assert server.room.names == ("ann",)
        finally:
            ann.close()


def test_nc_left_at_the_name_question_is_told_in_its_words_and_a_silent_script_is_cut_as_before():
    """The name question's time (2 min; 1.5 s here) runs out in words a person at nc reads; a
    connection that never says a word is not asked anything and is cut at the hello deadline
    (0.5 s here) as before, with the frame a lanchat client reads."""
    with running_server(handshake_seconds=0.5, prompt_seconds=1.5) as (server, endpoint):
        silent = RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=DEFAULT_TIMEOUT))
        away = TextPeer(endpoint)
        try:
            away.line("")
            asked = time.monotonic()
            away.expect(r"name: $")
            error = silent.expect(ev.Error, timeout=DEFAULT_TIMEOUT)
            assert (error.code, error.message, error.fatal) == (ev.E_HELLO_FIRST, "no hello within 0.5 s", True)  # type: ignore[attr-defined]
            away.expect(r"name: ! no name given within 1\.5 s; connect again to join\r\n"
                        r"-!- disconnected: the room closed this connection \(Ctrl-C ends nc\)\r\n$")
            away.expect_closed()
            assert time.monotonic() - asked >= 1.4  # the question's time, not the hello deadline's
            assert b"hello" not in away.received
            wait_for(lambda: not server.hub.peers, what="both connections closed")
        finally:
            away.close()
            silent.close()


def test_nc_left_at_the_password_question_is_told_as_at_the_name_question():
    """At "name: " a person at nc whose time ran out read "! no name given within 2 min; connect
    again to join", but at "password: " "! not joined within 2 seconds of connecting: the room's
    password was not given in time; connect again": seconds from connecting, which they never saw
    start. The password's question now says it as the name's does (2 min; 1.5 s here)."""
    with running_server(handshake_seconds=0.5, prompt_seconds=1.5, password=RoomPassword.create("tea", os.urandom(16))) as (
        server, endpoint,
    ):
        away = TextPeer(endpoint)
        try:
            away.line("ann")
            away.expect(r"password: $")
            asked = time.monotonic()
            away.expect(r"password: ! no password given within 1\.5 s; connect again to join\r\n"
                        r"-!- disconnected: the room closed this connection \(Ctrl-C ends nc\)\r\n$")
            away.expect_closed()
            assert time.monotonic() - asked >= 1.4  # the question's time, not the hello deadline's
            assert b"not joined within" not in away.received
            wait_for(lambda: not server.hub.peers, what="the connection closed")
        finally:
            away.close()


def test_a_wrong_typed_password_is_refused_with_nothing_leaked_and_logged(tmp_path):
    log: list[str] = []
    with password_room(tmp_path, log) as (_server, endpoint):
        bob = RawClient(endpoint, "bob", key=Ed25519PrivateKey.generate(), password="tea")
        bob.send(ev.Say(text="the secret plan"))
        mallory = TextPeer(endpoint)
        try:
            mallory.line("mallory")
            mallory.expect(r"password: $")
            mallory.line("coffee")
            mallory.expect(r"password: ! wrong password\r\n-!- disconnected: the room closed this connection \(Ctrl-C ends nc\)\r\n$")
            mallory.expect_closed()
        finally:
            mallory.close()
        for secret in (b"bob", b"secret plan", b"here:", b"joined"):
            assert secret not in mallory.received  # no roster, no history, nobody's name
        bob.send(ev.Who())
        heard = []  # all bob was sent while mallory tried: queued ahead of the answer to who
        while not isinstance(event := bob.expect(object), ev.Roster):
            heard.append(event)
        assert event.members == ("bob",)  # mallory never joined; bob was never told
        assert not [e for e in heard if isinstance(e, (ev.Joined, ev.Left))]
        wait_for(lambda: any("wrong room password from 127.0.0.1" in line for line in log))
        bob.close()


def test_repeated_wrong_typed_passwords_lock_that_name_and_the_room_goes_on(tmp_path):
    log: list[str] = []
    with password_room(tmp_path, log) as (_server, endpoint):
        bob = RawClient(endpoint, "bob", key=Ed25519PrivateKey.generate(), password="tea")
        for attempt in range(3):
            guesser = TextPeer(endpoint)
            guesser.line("guesser")
            guesser.expect(r"password: $")
            guesser.line(f"guess {attempt}")
            guesser.expect(r"! wrong password\r\n")
            guesser.expect_closed()
            guesser.close()
        wait_for(lambda: any("3 within a minute from them: only they are locked out, for 60 s" in line for line in log))
        late = TextPeer(endpoint)  # even the right password is not looked at while locked
        late.line("Guesser")  # names compare as names do
        late.expect(r"password: $")
        late.line("tea")
        late.expect(r"! too many wrong passwords from you: 3 within a minute \(others at your address may still join\); "
                    r"try again in \d+ s\r\n")  # fmt: skip
        late.expect_closed()
        late.close()
        assert b"welcome" not in late.received
        classmate = TextPeer(endpoint)  # the same address, another name: not locked
        classmate.line("carol")
        classmate.expect(r"password: $")
        classmate.line("tea")
        classmate.expect(r"-!- welcome, carol!")
        classmate.close()
        bob.send(ev.Say(text="still here"))  # the room keeps serving those already in it
        assert bob.expect(ev.Message, sender="bob").text == "still here"
        bob.close()


def test_nc_at_a_tls_room_is_told_in_one_plain_line_and_the_room_goes_on(tmp_path):
    """nc cannot speak TLS: it reads one line saying so (not a frame), then the server closes."""
    from lanchat.tls import ensure_certificate, server_context

    cert, key, _ = ensure_certificate(tmp_path)
    context, _ = server_context(cert, key)
    logged: list[str] = []
    password = RoomPassword.create("tea", os.urandom(16))
    with running_server(tls=context, log=logged.append, password=password) as (server, endpoint):
        nc = TextPeer(endpoint)
        nc.line("ann")
        nc.expect(r"^! this room uses TLS, which nc and telnet cannot speak: join with lanchat connect --tls\r\n$")
        nc.expect_closed()
        nc.close()
        assert b"\x00" not in nc.received and b"password" not in nc.received
        wait_for(lambda: any("without TLS on this TLS port" in line for line in logged), what="the log line")
        assert not [line for line in logged if "wrong room password" in line]  # it never reached the gate
        assert server.room.names == ()


def test_a_text_participant_reads_every_moderation_act_as_a_plain_line():
    """nc read nothing when the host muted, unmuted, kicked or banned someone, passed the turn,
    switched the mode or set the topic (a pass showed only "bob's turn"), and with everyone but
    the host muted it read "waiting for someone else to join". Now each act is one plain line,
    worded as lanchat's screen words it, with every reason made harmless."""
    with running_server("turn") as (server, endpoint):
        hal = local_host(server, "hal")
        bob = RawClient(endpoint, "bob")
        ann = TextPeer(endpoint)
        dee = TextPeer(endpoint)
        try:
            for peer, name in ((ann, "ann"), (dee, "dee")):
                peer.line(name)
                peer.expect(rf"-!- welcome, {name}!")
            ann.expect(r"-!- dee joined\r\n")
            hal.send(ev.Moderate(action="mute", name="bob", minutes=8, reason="spam \x1b[2J"))
            ann.expect(r"-!- hal muted bob for 8 minutes: spam \^\[\[2J\r\n-!- your turn: type a line\r\n")  # bob held it
            hal.send(ev.Moderate(action="unmute", name="bob"))
            ann.expect(r"-!- hal unmuted bob\r\n")
            hal.send(ev.SetTopic(text="fractions \x1b]0;owned\x07"))
            ann.expect(r"-!- topic: fractions \^\[\]0;owned\^G \(set by hal\)\r\n")
            hal.send(ev.Moderate(action="pass", reason="too slow"))
            ann.expect(r"-!- hal passed the turn on from you: too slow\r\n-!- dee's turn\r\n")
            dee.expect(r"-!- hal passed the turn on from ann: too slow\r\n-!- your turn: type a line\r\n")
            for name in ("bob", "ann", "dee"):  # dee, who holds the turn, last: nobody but the host can take it
                hal.send(ev.Moderate(action="mute", name=name))
            ann.expect(r"-!- hal muted you until unmuted \(you can still read\)\r\n")
            ann.expect(r"-!- hal muted dee until unmuted\r\n-!- waiting for an unmute \(everyone but the host is muted\)\r\n")
            assert b"waiting for someone else to join" not in ann.received
            hal.send(ev.Moderate(action="mode", mode="duplex"))
            ann.expect(r"-!- hal switched the room to full-duplex mode\r\n")
            hal.send(ev.Moderate(action="kick", name="bob", reason="go home"))
            ann.expect(r"-!- hal removed bob from the room: go home\r\n")
            hal.send(ev.Moderate(action="ban", name="dee"))
            ann.expect(r"-!- hal banned dee\r\n")
            dee.expect(r"! hal banned you from the room\r\n")
            dee.expect_closed()
            hal.send(ev.Say(text="after"))
            ann.expect(r"\] hal: after\r\n")
            assert b"bob left" not in ann.received and b"dee left" not in ann.received  # the act said it
            assert b"hal banned dee" not in dee.received  # the fatal error says it, once
            assert b"\x1b" not in ann.received and b"\x07" not in ann.received
        finally:
            for peer in (ann, dee):
                peer.close()
            bob.close()


@pytest.mark.skipif(shutil.which("nc") is None, reason="no nc on this machine")
def test_the_real_nc_leaves_on_ctrl_c():
    """The user's case, with the nc installed here (ncat, OpenBSD's or the traditional one): a
    line, then Ctrl-C. The room read "ann lost connection"; it reads "ann left"."""
    with running_server() as (_server, endpoint):
        bob = RawClient(endpoint, "bob")
        nc = Proc(endpoint.host, str(endpoint.port), program=[shutil.which("nc") or "nc"])
        try:
            nc.send("ann")
            nc.expect(r"welcome, ann")
            nc.send("hi from nc")
            bob.expect(ev.Message, sender="ann", text="hi from nc")
            nc.expect(r"\] ann: hi from nc")  # nc has read everything: its close is a FIN
            nc.popen.send_signal(signal.SIGINT)  # Ctrl-C, to the process this test started
            bob.expect(ev.Left, name="ann", reason="quit")
        finally:
            nc.stop()
            bob.close()


def test_a_text_participant_removed_is_told_the_connection_is_closed_and_how_to_end_nc():
    """Kicked, a student at ncat read who removed him, and ncat sat there: it waits for its
    input before it notices the closed connection, so his next command went into it ('Ncat:
    Broken pipe'). The last line now says the room closed the connection and that Ctrl-C ends nc."""
    with running_server() as (server, endpoint):
        hal = local_host(server, "hal")
        dan = TextPeer(endpoint)
        try:
            dan.line("dan")
            dan.expect(r"-!- welcome, dan!")
            hal.send(ev.Moderate(action="kick", name="dan", reason="come and see me"))
            dan.expect(r"! hal removed you from the room: come and see me\r\n"
                       r"-!- disconnected: the room closed this connection \(Ctrl-C ends nc\)\r\n$")
            dan.expect_closed()
        finally:
            dan.close()


def test_a_student_at_nc_typing_lanchats_get_or_me_is_told_it_needs_lanchat_not_that_it_is_unknown(tmp_path):
    """A lesson's walk: the teacher /sent a worksheet; ned, at nc, read 'teacher offers a file,
    worksheet.txt: join with lanchat to get it' and typed the '/get 1' his classmates typed, then
    a '/me waves' as bob's '* bob waves': both read 'unknown command /get; /help lists them', as
    if he had mistyped. lanchat's own commands are now told as lanchat's (files: they do not come
    to nc); a real typo is still unknown, and nothing he typed reached the class."""
    worksheet = tmp_path / "worksheet.txt"
    worksheet.write_text("Q1. What does select() return?\n", encoding="utf-8")
    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-history", "--no-announce")
    teacher: Proc | None = None
    ned: TextPeer | None = None
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        teacher = Proc("connect", "127.0.0.1", port, "--name", "teacher")
        teacher.expect(r"welcome, teacher")
        ned = TextPeer(Endpoint(host="127.0.0.1", port=int(port)))
        ned.line("ned")
        ned.expect(r"welcome, ned!")
        teacher.expect(r"ned joined")
        teacher.send(f"/send {worksheet}")
        ned.expect(r"-!- teacher offers a file, worksheet\.txt: join with lanchat to get it\r\n")
        ned.line("/get 1")
        ned.expect(r"! /get needs lanchat: files do not come to nc \(join with lanchat connect\)\r\n")
        ned.line("/me waves")
        ned.expect(r"! /me needs lanchat; at nc: /w NAME TEXT, /who, /pass, /q and /help\r\n")
        ned.line("/dnace")
        ned.expect(r"! unknown command /dnace; /help lists them")
        ned.line("done")
        mark = teacher.expect(r"ned: done").start()
        assert "ned: /" not in teacher.output[:mark] and "waves" not in teacher.output, teacher.output
    finally:
        if ned is not None:
            ned.close()
        if teacher is not None:
            teacher.stop()
        server.stop()
    assert "Traceback" not in server.output


def test_every_lanchat_command_is_one_nc_has_or_one_it_is_told_needs_lanchat():
    """So a command added to lanchat's screen is never 'unknown command' at nc."""
    from lanchat.session import ALIASES, COMMANDS
    from lanchat.textline import LANCHAT_ONLY, TEXT_COMMANDS
    from lanchat.ui.plain import SCREEN_ONLY
    from lanchat.ui.screen import UI_COMMANDS

    lanchats = {word for command in (*COMMANDS, *UI_COMMANDS, *SCREEN_ONLY) for word in (command.name, *command.also)} | set(ALIASES)
    lanchats -= {"/q!"}  # (read at nc as a mistyped /q: "did you mean /q?")
    lanchats -= {alias for alias, meant in ALIASES.items() if meant in TEXT_COMMANDS}  # /clients: nc has /who
    assert lanchats - set(TEXT_COMMANDS) == set(LANCHAT_ONLY)
    assert not set(LANCHAT_ONLY) & set(TEXT_COMMANDS)
