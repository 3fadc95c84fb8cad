"""What a teacher at the projector read wrong in a whole lesson (session 42), in a real
pseudo-terminal read by pyte at a big font's 60x20, 80x24 and 120x40: a student's second window,
whose turn it is in /who, and the host's own file going out."""

from __future__ import annotations

import os
import re
import socket
import sys

import pytest
from helpers import Proc, RawClient, TermProc, wait_for
from test_ui_pty import host, join

from lanchat import events as ev
from lanchat.files import MB
from lanchat.transport import Endpoint
from lanchat.ui import render

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

SIZES = [(20, 60), (24, 80), (40, 120)]


@pytest.mark.parametrize(("rows", "cols"), SIZES)
def test_a_students_second_window_reads_as_one_line_not_a_lost_connection_and_a_join(terms, rows, cols):
    """ann opens a second window (the same key): the room used to read "ann lost connection",
    then "ann joined", as if her Wi-Fi had gone. Now one line says what happened, on the
    projector's screen and in --plain; her first window is told and closes."""
    teacher, port = host(terms, name="teach", rows=rows, cols=cols)
    cat = Proc("connect", "127.0.0.1", str(port), "--name", "cat", "--plain")
    try:
        cat.expect(r"welcome, cat")
        first = join(terms, port, "ann", rows=24, cols=80)
        teacher.expect(r"ann \(3 here\)")  # "ann joined", or folded: "2 joined: cat and ann"
        cat.expect(r"-!- ann joined")
        mark = cat.mark()
        second = join(terms, port, "ann", rows=24, cols=80)
        teacher.expect(r"ann moved to another window")
        first.expect(r"you joined again from somewhere else")
        cat.expect(r"-!- ann moved to another window$", start=mark)
        second.send("/who\r")
        cat.send("/who")
        cat.expect(r"here.*ann", start=mark)
        teacher.send("/who\r")
        teacher.expect(r"here \(3\)")
        screen = teacher.text
        assert "lost connection" not in screen and "connection lost" not in screen
        assert len(re.findall(r"joined", screen)) == 1, screen  # no second "joined" after the move
        assert "(back)" not in screen and "(left)" not in screen
        said = "\n".join(cat.lines[mark:])
        assert "ann joined" not in said and "connection lost" not in said and "ann left" not in said, said
    finally:
        cat.stop()


@pytest.mark.parametrize(("rows", "cols"), SIZES)
def test_who_in_a_turn_room_marks_whose_turn_it_is(terms, rows, cols):
    """/who in a turn room listed the class in turn order but not whose turn it was: below 100
    columns (no roster pane) only the status line said it. Now /who marks the holder, on the
    screen, in --plain, and for a text participant (nc); the roster pane keeps its ▸."""
    teacher, port = host(terms, "--mode", "turn", name="teach", rows=rows, cols=cols)
    bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob", "--plain")
    try:
        bob.expect(r"welcome, bob")
        teacher.expect(r"bob \(2 here\)|bob joined")
        status = teacher.wait_screen(lambda screen: re.search(r"your turn|waiting for", screen[-2]) and screen[-2], what="the turn in the status line")
        holder = "teach" if "your turn" in status else "bob"
        teacher.send("/who\r")
        line = teacher.expect(r"here \(2\): [^\n]*")
        shown = line.group(0)
        # one bracket, as the roster pane's "(host, you)": "teach (host) (turn)" read otherwise
        marked = "teach (host, you, turn)" if holder == "teach" else "bob (turn)"
        assert marked in shown, shown
        assert shown.count("turn)") == 1, shown
        mark = bob.mark()
        bob.send("/who")
        said = bob.expect(r"here \(2\): .*", start=mark).group(0)
        marked = "teach (host, turn)" if holder == "teach" else "bob (you, turn)"
        assert marked in said and said.count("turn)") == 1, said
        if cols >= 100:  # the roster pane: its ▸ before the holder
            teacher.expect(rf"\u25b8{holder}")
    finally:
        bob.stop()


def test_who_marks_each_name_as_the_roster_pane_does(terms):
    """The teacher's /who read "teach (host)" and "bob (op) (away)" beside a roster pane that read
    "teach (host, you)": two ways of saying the same thing on one screen. /who now marks each
    name as the pane does, in one bracket, the same words in the same order (the reason for
    being away, and a mute, added: the pane has no room for them), on the screen and in --plain."""
    teacher, port = host(terms, name="teach", rows=40, cols=120)
    bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob", "--plain")
    ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann", "--plain")
    try:
        bob.expect(r"welcome, bob")
        ann.expect(r"welcome, ann")
        teacher.expect(r"Here \(3\)")
        teacher.send("/op bob\r")
        bob.expect(r"you are now an operator|made you an operator")
        bob.send("/away lunch")
        ann.expect(r"bob is away: lunch")
        teacher.send("/who\r")
        who = teacher.expect(r"here \(3\): [^\n]*").group(0).split("\u2502")[0].rstrip()  # (left of the pane)
        assert re.search(r"\bteach \(host, you\)", who) and re.search(r"\bbob \(op, away: lunch\)", who), who
        assert re.search(r"\bann(,|$)", who), who
        edge = 120 - render.roster_width(120)  # the pane, right of its edge
        pane = [row[edge:].strip() for row in teacher.wait_screen(lambda rows: "bob (op, away)" in "".join(rows) and rows, what="bob away in the pane")]  # type: ignore[union-attr]
        assert "teach (host, you)" in pane and "bob (op, away)" in pane and "ann" in pane, pane
        mark = ann.mark()
        ann.send("/who")
        said = ann.expect(r"here \(3\): .*", start=mark).group(0)
        assert re.search(r"\bteach \(host\)", said) and re.search(r"\bbob \(op, away: lunch\)", said) and "ann (you)" in said, said
    finally:
        bob.stop()
        ann.stop()


def test_a_student_made_an_operator_reads_op_on_the_status_line_as_the_roster_marks_them(terms):
    """bob, made an operator by the teacher (/op), still read "bob │ client" on his status line
    while the roster pane read "bob (op, you)". It now says "op" (the roster's word), kept on a
    narrow window as the host's role is (at 40 columns "client" gives way to the mode), and
    "client" again after /deop."""
    teacher, port = host(terms, name="teach", rows=24, cols=80)
    bob = join(terms, port, "bob", rows=24, cols=100)
    status = lambda screen: screen[-2]  # noqa: E731 - the status line, above the input line
    teacher.expect(r"bob joined")
    teacher.send("/op bob\r")
    bob.expect(r"teach made you an operator")
    shown = bob.wait_screen(lambda screen: status(screen).startswith(" bob │ op │ ") and status(screen), what="op on bob's status line")
    assert "client" not in shown, shown
    bob.wait_screen(lambda screen: "bob (op, you)" in "".join(screen), what="the roster pane's mark")
    bob.resize(24, 24)
    bob.wait_screen(lambda screen: status(screen).rstrip() == " bob │ op │ 2 here", what="op kept at 24 columns")
    bob.resize(24, 100)
    teacher.send("/deop bob\r")
    bob.expect(r"teach took operator status from you")
    bob.wait_screen(lambda screen: status(screen).startswith(" bob │ client │ "), what="client again after /deop")


@pytest.mark.parametrize(("rows", "cols"), SIZES)
def test_the_hosts_status_line_says_while_students_fetch_the_hosts_file(terms, tmp_path, rows, cols):
    """The teacher's /send went out, and nothing on the host's screen said students were still
    fetching it (only /files, "fetched by N"): when was /q safe? The status line now says
    "sending notes.pdf to 2" while downloads of the host's file are under way (or "sending to 2"
    where the whole does not fit), and the mark goes when they end; /q's question names them."""
    source = tmp_path / "notes.pdf"
    source.write_bytes(os.urandom(8 * MB))
    teacher = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "teach", "--no-history",
                       "--files-dir", str(tmp_path / "server-files"), rows=rows, cols=cols)  # fmt: skip
    terms.append(teacher)
    students: list[RawClient] = []
    try:
        port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(teacher.raw)), what="the port").group(1))  # type: ignore[union-attr]
        teacher.expect(r"teach │ host")
        students += [RawClient(Endpoint(host="127.0.0.1", port=port), name) for name in ("bob", "cy", "dan")]
        teacher.expect(r"\(4 here\)")
        teacher.send(f'/send "{source}"\r')
        offered = students[0].expect(ev.Offered)
        status = lambda screen: screen[-2]  # noqa: E731 - the status line, above the input line
        assert "sending" not in teacher.text
        for student in students[:2]:  # bob and cy fetch it and stall, slow readers; dan does not
            student.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            student.send(ev.GetFile(id=offered.id, binary=True))  # type: ignore[attr-defined]
            student.expect(ev.FileStart)
            student.expect(ev.FileBytes)  # and then reads no more
        whole = "sending notes.pdf to 2"
        shown = teacher.wait_screen(lambda screen: ("sending to 2" in status(screen) or whole in status(screen)) and status(screen),
                                    what="the sending mark in the status line")  # fmt: skip
        assert whole in shown or cols < 80, shown  # a big font's 60 columns: the short form where the whole would be cut
        assert "127.0.0.1:" in shown, shown  # the address students read stays
        teacher.send("/q\r")
        teacher.expect(r"/q closes the chat for everyone")
        teacher.expect(r"still downloading")
        teacher.send("not yet\r")
        teacher.expect(r"teach: not yet")
        for student in students[:2]:
            student.close()
        teacher.wait_screen(lambda screen: "sending" not in status(screen), what="the sending mark to go")
    finally:
        for student in students:
            student.close()


def test_the_hosts_sending_mark_comes_after_the_host_renamed(terms, tmp_path):
    """The teacher offered notes.pdf, then took another name (/nick): the screen matched the
    offers it looks after by the name they were offered under, so it stopped looking who fetches
    them, and "sending notes.pdf to 1" never came while bob downloaded it. Now the server is asked
    by the host's connection (ServerFiles.offers_of)."""
    source = tmp_path / "notes.pdf"
    source.write_bytes(os.urandom(8 * MB))
    teacher = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "teach", "--no-history",
                       "--files-dir", str(tmp_path / "server-files"), rows=24, cols=80)  # fmt: skip
    terms.append(teacher)
    port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(teacher.raw)), what="the port").group(1))  # type: ignore[union-attr]
    teacher.expect(r"teach │ host")
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
    try:
        teacher.expect(r"\(2 here\)")
        teacher.send(f'/send "{source}"\r')
        offered = bob.expect(ev.Offered)
        teacher.send("/nick teacher\r")
        bob.expect(ev.Renamed, new="teacher")
        teacher.expect(r"teacher │ host")
        bob.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        bob.send(ev.GetFile(id=offered.id, binary=True))  # type: ignore[attr-defined]
        bob.expect(ev.FileStart)
        bob.expect(ev.FileBytes)  # and then reads no more: a download under way
        teacher.wait_screen(lambda screen: "sending notes.pdf to 1" in screen[-2], what="the sending mark in the status line")
    finally:
        bob.close()



@pytest.mark.parametrize(("rows", "cols"), [(20, 60), (24, 80)])
def test_a_friends_wifi_coming_back_reads_as_reconnected_not_as_another_window(terms, rows, cols):
    """Four friends on one LAN (session 44, network namespaces): bob's link was cut for 15 s and his
    laptop rejoined before the server noticed the old connection was gone. The host's screen read
    "bob moved to another window", as if he had opened a second one. A rejoin brings the secret of
    its session's welcome (PROTOCOL.md, Rejoining), which a new window never has: now the room
    reads "bob reconnected", on the screen and in --plain; a new window still reads as one. With
    the head count, as when the server had noticed the cut ("reconnected (3 here)"): it read
    "bob reconnected" alone."""
    hal, cat, endpoint, key, first = bob_in_a_room(terms, rows, cols)
    try:
        mark = cat.mark()
        back = rejoin_with_secret(endpoint, key, first)  # what lanchat's client sends when it rejoins by itself
        first.expect(ev.Error, code=ev.E_TAKEN_OVER)
        hal.expect(r"bob reconnected \(3 here\)")
        cat.expect(r"-!- bob reconnected \(3 here\)$", start=mark)
        assert "another window" not in hal.text and "another window" not in cat.output
        window = RawClient(endpoint, "bob", key=key)  # bob opens a second window: no secret
        hal.expect(r"bob moved to another window")
        cat.expect(r"-!- bob moved to another window$", start=mark)
        for raw in (first, back, window):
            raw.close()
    finally:
        cat.stop()


def test_a_friend_back_after_the_server_noticed_the_drop_reads_as_reconnected(terms):
    """bob's laptop slept a minute (session 44, the link cut in a network namespace): the server
    noticed ("bob lost connection"), then his laptop rejoined and took his session back, and the
    room read "bob joined (3 here)", as if a newcomer. Now "bob reconnected (3 here)"; someone
    new still joins, and the host's screen and --plain read the same."""
    hal, cat, endpoint, key, first = bob_in_a_room(terms, 24, 80)
    try:
        mark = cat.mark()
        first.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        first.close()  # a reset: the server notices at once, as it does a minute into a dead link
        hal.expect(r"bob lost connection \(2 here\)|bob \(lost\) \(2 here\)")  # (cat joined just before: one line)
        back = rejoin_with_secret(endpoint, key, first)  # lanchat's client rejoining by itself: its session's secret
        hal.expect(r"bob reconnected \(3 here\)")
        cat.expect(r"-!- bob reconnected \(3 here\)$", start=mark)
        dan = RawClient(endpoint, "dan")
        hal.expect(r"dan joined \(4 here\)")
        cat.expect(r"-!- dan joined \(4 here\)$", start=mark)
        assert "bob joined" not in "\n".join(cat.lines[mark:])
        for raw in (back, dan):
            raw.close()
    finally:
        cat.stop()


def bob_in_a_room(terms, rows: int, cols: int):  # noqa: ANN001, ANN201
    """The host hal's full screen at ``rows`` x ``cols``, cat in --plain, and bob joined raw with a
    key: (hal, cat, endpoint, key, bob's RawClient, whose welcome has its resume secret)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    hal, port = host(terms, name="hal", rows=rows, cols=cols)
    cat = Proc("connect", "127.0.0.1", str(port), "--name", "cat", "--plain")
    endpoint = Endpoint(host="127.0.0.1", port=port)
    key = Ed25519PrivateKey.generate()
    try:
        cat.expect(r"welcome, cat")
        first = RawClient(endpoint, "bob", key=key)
        assert first.welcome is not None and first.welcome.resume
        hal.expect(r"bob \(3 here\)|bob joined")
        cat.expect(r"-!- bob joined \(3 here\)$")  # (a mark taken before cat said it counted it as later news)
    except BaseException:
        cat.stop()
        raise
    return hal, cat, endpoint, key, first


def rejoin_with_secret(endpoint: Endpoint, key: object, first: RawClient) -> RawClient:
    """bob back on a new connection as lanchat's client rejoins by itself: his key and the resume
    secret of ``first``'s welcome; welcomed."""
    from lanchat import identity

    assert first.welcome is not None
    back = RawClient(endpoint, key=key)
    back.send(ev.Hello(name="bob", key=identity.b64(identity.public_bytes(key)), resume=first.welcome.resume))  # type: ignore[arg-type]
    back.send(back.answer(back.expect(ev.Challenge)))  # type: ignore[arg-type]
    back.expect(ev.Welcome)
    return back
