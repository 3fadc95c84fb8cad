"""End to end, round 2 of the screen: keys that arrive together, in a real pseudo-terminal.

Keys typed faster than the program reads them arrive in one read. A terminal that brackets
pastes (xterm, tmux: terminfo's BE capability) marks a paste, so everything else is typing:
each Enter sends. Elsewhere a burst is still guessed to be a paste, but never a command.
"""

from __future__ import annotations

import re
import sys

import pytest
from helpers import TermProc, wait_for
from test_ui_pty import host, join, say


@pytest.fixture
def terms():
    started: list[TermProc] = []
    yield started
    for term in started:
        term.stop()


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

XTERM = {"TERM": "xterm-256color"}  # advertises bracketed paste


def test_type_ahead_of_a_line_and_q_sends_the_line_then_leaves(terms):
    ann, port = host(terms)
    dan = join(terms, port, "dan", env=XTERM)
    ann.expect("dan joined")
    dan.send("bye all\r/q\r")  # typed faster than the screen reads: one read
    ann.expect(r"dan: bye all")
    ann.expect(r"dan left")
    assert "/q" not in ann.text


def test_sixty_quick_lines_are_sixty_messages(terms):
    ann, port = host(terms, rows=80)
    bob = join(terms, port, "bob", env=XTERM)
    ann.expect("bob joined")
    bob.send("".join(f"quick {number}\r" for number in range(60)))
    ann.expect(r"bob: quick 59\b")
    for number in range(60):
        assert re.search(rf"bob: quick {number}\b", ann.text), f"quick {number} is not a message of its own"


def test_without_bracketed_paste_a_burst_is_a_paste_but_a_command_never_is(terms):
    ann, port = host(terms)
    dan = join(terms, port, "dan")  # screen-256color: no BE, so bursts are guessed
    ann.expect("dan joined")
    dan.send("bye all\r/q\r")
    ann.expect(r"dan: bye all")
    ann.expect(r"dan left")
    assert "/q" not in ann.text


def test_a_bracketed_paste_still_becomes_one_message(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob", env=XTERM)
    bob.send("\x1b[200~one\rtwo\x1b[201~")
    bob.wait_screen(lambda rows: "one↵two" in rows[-1])
    bob.send("\r")
    ann.expect(r"bob: one[^\n]*\n +two")


def test_alt_enter_puts_a_deliberate_line_break_in_a_message(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob", env=XTERM)
    bob.send("first")
    bob.wait_screen(lambda rows: "first" in rows[-1])
    bob.send("\x1b\r")
    bob.send("second")
    bob.wait_screen(lambda rows: "first↵second" in rows[-1])
    bob.send("\r")
    ann.expect(r"bob: first[^\n]*\n +second")
    wait_for(lambda: "bob: second" not in ann.text)
