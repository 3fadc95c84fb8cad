"""End to end, round 2 of the screen: keys that arrive together, in a real pseudo-terminal.

Keys typed faster than the program reads them arrive in one read. A terminal that brackets
pastes (xterm, tmux: terminfo's BE capability) marks a paste, so everything else is typing:
each Enter sends. Elsewhere a burst is still guessed to be a paste, but never a command.
"""

from __future__ import annotations

import re
import sys

import pytest
from helpers import RawClient, wait_for
from test_ui_pty import host, join, say

from lanchat import events as ev
from lanchat.transport import Endpoint

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
    ann, port = host(terms, "--no-limits", rows=80)  # (sixty lines at once is a flood to the limits)
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


def test_a_character_split_between_two_reads_is_kept_whole(terms):
    """A paste bigger than the terminal writes at once (or typing over a slow ssh link) can
    arrive cut inside a character: get_wch dropped the first bytes of that ü, and the paste's end
    marker after it went too, so Enter only made line breaks and nothing could be sent. The
    screen now decodes the bytes itself and keeps a cut character for the next read."""
    ann, port = host(terms)
    bob = join(terms, port, "bob", env=XTERM)
    u_umlaut = "ü".encode()
    bob.send(b"\x1b[200~" + "ça va, ".encode() + u_umlaut[:1])  # the paste, cut inside its ü
    bob.wait_screen(lambda rows: rows[-1].startswith("> ça va,"), what="the paste's first part read")
    bob.send(u_umlaut[1:] + b"ber alles\x1b[201~")
    bob.wait_screen(lambda rows: rows[-1].startswith("> ça va, über alles"), what="ü whole, and the paste's end")
    bob.send("\r")
    ann.expect(r"bob: ça va, über alles")


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


def test_accents_typed_as_combining_marks_stay_on_their_letters(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob")
    bob.send("cafe\u0301 nai\u0308ve")
    bob.wait_screen(lambda rows: rows[-1].startswith("> café naïve"), what="the accents drawn on their letters")
    assert bob.cursor == (23, len("> café naïve"))
    bob.send("\x7f\x7f\x7f")  # three Backspaces: v, e and ï with its accent
    bob.wait_screen(lambda rows: rows[-1].startswith("> café na "), what="ï deleted whole")
    bob.send("\r")
    ann.expect(r"bob: café na\s")
    assert "\u0308" not in ann.text


def test_readline_keys_yank_search_and_words(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob", env=XTERM)
    say(bob, "the first line", "bob")
    say(bob, "another one", "bob")
    bob.send("\x12")  # Ctrl-R searches what bob sent
    bob.send("firs")
    bob.wait_screen(lambda rows: rows[-1].startswith("(sent, search: firs) the first line"), what="the match shown")
    bob.send("\x1bb")  # Alt-b takes the match and moves back a word
    bob.wait_screen(lambda rows: rows[-1].startswith("> the first line"))
    bob.send("\x0b")  # Ctrl-K cuts "line"
    bob.wait_screen(lambda rows: rows[-1].rstrip() == "> the first")
    bob.send("\x01\x19")  # Ctrl-A, Ctrl-Y puts it back at the start
    bob.wait_screen(lambda rows: rows[-1].rstrip() == "> linethe first")
    bob.send("\x1b\x7f")  # Alt-Backspace at the start deletes nothing; Alt-d deletes a word
    bob.send("\x1bd")
    bob.wait_screen(lambda rows: rows[-1].rstrip() == ">  first")


def test_find_jumps_to_older_matches_and_tab_lists_candidates(terms):
    ann, port = host(terms, rows=12, cols=80)
    for number in range(30):
        say(ann, f"filler {number}" if number != 3 else "the needle is here", "ann")
    ann.send("/find needle\r")
    ann.expect(r"the needle is here")
    ann.expect(r"find needle: 1/1")
    ann.send("\x1b")  # Esc: done, back to the newest line
    ann.expect_gone(r"find needle")
    ann.expect(r"filler 29")
    bob = join(terms, port, "bob")
    join(terms, port, "bobby")
    bob.expect("bobby joined")  # bob knows bobby is here (ann's screen folds both joins into one line)
    bob.send("bo\t")
    bob.expect(r"bob  bobby")  # both listed
    bob.send("\x15b\t")
    bob.wait_screen(lambda rows: "> bob" in rows[-1])
    bob.send("\x15an\t")
    bob.wait_screen(lambda rows: rows[-1].startswith("> ann: "), what="NAME: at the start of a line")


def test_find_never_counts_its_own_answers_as_matches(terms):
    """/find quokka said "'quokka' is not in the transcript"; after bob's quokka a second /find
    read "1/2", the first of them its own notice, and Ctrl-F went to it."""
    ann, port = host(terms, rows=12, cols=80)
    ann.send("/find quokka\r")
    ann.expect(r"'quokka' is not in the transcript")
    ann.send("/find\r")  # its usage line, and Ctrl-F's hint, hold no quokka but are answers too
    ann.expect(r"usage: /find TEXT")
    bob = join(terms, port, "bob")
    say(bob, "a quokka on the beach", "bob")
    ann.expect(r"bob: a quokka on the beach")
    ann.send("/find quokka\r")
    ann.expect(r"find quokka: 1/1")
    ann.send("\x06")  # Ctrl-F: round again to the one match, never the notice
    ann.expect(r"find quokka: 1/1")
    ann.send("\x1b")
    ann.expect_gone(r"find quokka")


def test_the_mouse_wheel_scrolls_the_transcript(terms):
    # screen-256color: the mouse reports in the X10 form, ESC [ M and three bytes (button, x, y
    # plus 32); pyte cannot follow how ncurses scrolls an xterm-256color screen
    ann, port = host(terms, rows=12, cols=80)
    for number in range(25):
        say(ann, f"line {number}", "ann")
    ann.send("\x1b[M" + chr(32 + 64) + chr(32 + 10) + chr(32 + 5))  # wheel up
    ann.expect(r"scrolled up")
    ann.expect_gone(r"line 24\b")
    ann.send("\x1b[M" + chr(32 + 65) + chr(32 + 10) + chr(32 + 5))  # wheel down
    ann.expect(r"line 24\b")
    ann.expect_gone(r"scrolled up")
    ann.send("/mouse off\r")
    ann.expect(r"mouse off: the terminal has the mouse")


def test_unread_direct_messages_in_the_status_line_and_the_title(terms):
    ann, port = host(terms, env=XTERM)
    bob = join(terms, port, "bob", env=XTERM)
    ann.expect("bob joined")
    bob.send("/w ann are you there?\r")
    ann.expect(r"1 direct unread \(/r answers\)")
    ann.wait_screen(lambda rows: ann.screen.title == "(1) lanchat: ann", what="the count in the title")
    ann.send("/r yes\r")
    bob.expect(r"ann → bob: yes")
    ann.expect_gone(r"direct unread")
    ann.wait_screen(lambda rows: ann.screen.title == "lanchat: ann", what="the title without a count")


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"


@pytest.mark.parametrize("answer", [b"\x1b[5;3R", b"\x1b[5;7R", None])
def test_a_family_emoji_is_written_whole_only_where_the_terminal_draws_it_in_two_columns(terms, answer):
    """The screen asks where the cursor ends after a family emoji (ESC [ 6 n). A terminal that
    says column 3 draws ZWJ sequences in two columns: the cluster is written whole, over the
    stand-in curses holds; elsewhere (column 7, or no answer) curses' stand-in stays."""
    ann, port = host(terms)
    if answer is not None:
        ann.send(answer)  # what the terminal would answer
    say(ann, "ready", "ann")
    before = len(ann.raw)
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), name="bob")
    try:
        ann.send(f"family {FAMILY} here\r")
        ann.expect(r"ann: family .* here")
        bob.expect(ev.Message, sender="ann", text=f"family {FAMILY} here")  # typed with its joiners (they used to be dropped)
    finally:
        bob.close()
    say(ann, "after", "ann")  # everything the family's draw wrote is in by now (the overlay follows curses)
    written = bytes(ann.raw[before:])
    assert (FAMILY.encode() in written) == (answer == b"\x1b[5;3R")
    assert "\U0001f468".encode() in written  # elsewhere curses' stand-in: the family's first person


def test_end_takes_a_scrolled_transcript_back_with_a_draft_in_the_input_line(terms):
    """The status line says "scrolled up (End: back)"; with a half-typed line End did nothing
    (it was already at the end of that line). End at the end of the line now goes back too."""
    ann, port = host(terms, "--no-limits", rows=8, cols=80)
    talker = RawClient(Endpoint(host="127.0.0.1", port=port), name="bob")
    try:
        for number in range(20):
            talker.send(ev.Say(text=f"line {number}"))
        ann.expect(r"bob: line 19\b")
        ann.send("my draft")
        ann.wait_screen(lambda rows: rows[-1].startswith("> my draft"), what="the draft")
        ann.send("\x1b[5~")  # PgUp
        ann.expect(r"scrolled up \(End: back\)")
        ann.expect_gone(r"bob: line 19\b")
        ann.send("\x1bOD")  # Left (screen-256color's kcub1): off the end, so the next wait sees End handled
        ann.wait_screen(lambda rows: ann.cursor[1] == len("> my draft") - 1, what="the cursor one back")
        ann.send("\x1b[4~")  # End: only to the end of the line
        ann.wait_screen(lambda rows: ann.cursor[1] == len("> my draft"), what="the cursor at the end of the draft")
        assert "scrolled up" in ann.text
        ann.send("\x1b[4~")  # End again, at the end of the line: back to the newest line
        ann.expect(r"bob: line 19\b")
        ann.expect_gone(r"scrolled up")
        assert ann.lines[-1].startswith("> my draft")  # the draft is untouched
    finally:
        talker.close()


def test_scrolled_up_the_status_line_says_when_a_new_line_names_you(terms):
    """h-student's lesson: sam scrolled up to reread the teacher's instructions while the class
    chatted; the teacher asked "sam, can you read question 5 aloud?" below the page, and the status
    line said only "▼ 3 new" (the bell rang, nothing said it was for him). It now says how many
    of the new lines name him; lines that do not name him say nothing more."""
    ann, port = host(terms, "--no-limits", rows=24, cols=100, name="teacher")
    sam = join(terms, port, "sam", rows=8, cols=80)
    talker = RawClient(Endpoint(host="127.0.0.1", port=port), name="bob")
    try:
        for number in range(12):
            talker.send(ev.Say(text=f"line {number}"))
        sam.expect(r"bob: line 11\b")
        sam.send("\x1b[5~")  # PgUp
        sam.expect(r"scrolled up \(End: back\)")
        talker.send(ev.Say(text="more chat"))
        sam.expect("\u25bc 1 new ")
        assert "names you" not in sam.lines[-2], sam.lines[-2]
        say(ann, "sam, can you read question 5 aloud?", "teacher")
        sam.expect(r"\u25bc 2 new \(1 names you\)")
        sam.send("\x1b[4~")  # End: back to the newest line, which is read now
        sam.expect(r"teacher: sam, can you read question 5 aloud\?")
        sam.expect_gone("names you")
    finally:
        talker.close()
