"""End to end, round 2 of the screen: what a new user tripped over, in a real pseudo-terminal
(pyte reads the screen; every wait is a screen condition with a deadline)."""

from __future__ import annotations

import re
import sys

import pytest
from helpers import TermProc
from test_ui_pty import host, join, say

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


@pytest.fixture
def terms():
    started: list[TermProc] = []
    yield started
    for term in started:
        term.stop()


def test_turn_changes_show_in_the_status_line_not_the_transcript(terms):
    ann, port = host(terms, "--mode", "turn")
    bob = join(terms, port, "bob")
    ann.expect("bob joined")
    first = "ann" if "your turn" in ann.lines[-2] else "bob"
    talkers = {"ann": ann, "bob": bob}
    order = [first, "bob" if first == "ann" else "ann"] * 2
    for number, name in enumerate(order):
        talker = talkers[name]
        talker.wait_screen(lambda rows: "your turn" in rows[-2], what=f"{name}'s turn")
        say(talker, f"turn {number}", name)
    for term in (ann, bob):
        term.expect(r"turn 3")
        assert "turn: waiting for" not in term.text  # the status line and the prompt say it
    waiting = talkers[order[-1]]
    assert re.search(r"\* turn: your turn", talkers[order[0]].text)  # yours is worth a line
    assert "waiting for" in waiting.lines[-2] and waiting.lines[-1].startswith("[waiting for")


def test_save_never_replaces_a_file_like_get(terms, tmp_path):
    ann, port = host(terms, rows=30, cols=120)
    say(ann, "worth keeping", "ann")
    target = tmp_path / "chat.txt"
    target.write_text("my notes\n", encoding="utf-8")
    ann.send(f"/save {target}\r")
    ann.expect(r"\(chat\.txt was already there: kept\)")
    assert target.read_text(encoding="utf-8") == "my notes\n"
    assert "ann: worth keeping" in (tmp_path / "chat (1).txt").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat (1).txt", "chat.txt"]  # no temp file left
