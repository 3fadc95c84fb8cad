"""What a teacher at the projector read wrong in a whole lesson (session 42), in a real
pseudo-terminal read by pyte at a big font's 60x20, 80x24 and 120x40: a student's second window,
whose turn it is in /who, and the host's own file going out."""

from __future__ import annotations

import re
import sys

import pytest
from helpers import Proc
from test_ui_pty import host, join

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
        marked = "teach (host) (turn)" if holder == "teach" else "bob (turn)"
        assert marked in shown, shown
        assert shown.count("(turn)") == 1, shown
        mark = bob.mark()
        bob.send("/who")
        said = bob.expect(r"here \(2\): .*", start=mark).group(0)
        assert marked in said and said.count("(turn)") == 1, said
        if cols >= 100:  # the roster pane: its ▸ before the holder
            teacher.expect(rf"\u25b8{holder}")
    finally:
        bob.stop()

