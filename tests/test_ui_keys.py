"""keys.py and redraw.py without a terminal: a batch of keys -> text in the input line and the
names handed back to the screen; when the screen draws. The full screen's own pty tests
(test_ui_keys_pty.py, test_ui_screen_pty.py) drive the same objects through curses."""

from __future__ import annotations

import pytest

from lanchat.session import Session
from lanchat.ui.keys import KeyCodes, KeyReader
from lanchat.ui.redraw import STATUS_DRAWS_PER_SECOND, Redraws
from lanchat.ui.view import View

RESIZE, MOUSE, BACKSPACE, ENTER, LEFT = 1001, 1002, 1003, 1004, 1005  # as curses would number them
CODES = KeyCodes(RESIZE, BACKSPACE, ENTER, frozenset((RESIZE, MOUSE)), {LEFT: "left", RESIZE: "resize"}.get)


class Clock:
    """time.monotonic for keys.py and redraw.py, moved on by the test alone: a loaded machine's
    pause between two calls is then no gap between two reads of the terminal, nor a draw
    that is due (both tests below failed when a call waited 50 or 100 ms for the CPU)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from lanchat.ui import keys, redraw

    fake = Clock()
    monkeypatch.setattr(keys, "time", fake)
    monkeypatch.setattr(redraw, "time", fake)
    return fake


class Screen:
    """What the full screen does with the names: written down, and Enter submits the line."""

    def __init__(self) -> None:
        self.session = Session(name="ann")
        self.view = View(self.session)
        self.named: list[str] = []
        self.reader = KeyReader(self.view, self.session, CODES, on_key=self.named.append, on_stop=self.stop, on_enter=self.enter)

    def stop(self, name: str) -> bool:
        self.named.append(name)
        return True

    def enter(self) -> list[str]:
        return [self.view.editor.submit()]

    def read(self, keys: str | list[str | int]) -> list[str]:
        submitted = self.reader.handle(list(keys))
        self.reader.end_read()
        return submitted


def test_a_bracketed_paste_is_text_and_only_the_enter_after_it_sends():
    screen = Screen()
    assert screen.read("\x1b[200~one\x15\rtwo\x1bb\x1b[201~") == []
    assert screen.view.editor.text == "one\ntwo" and screen.named == []
    assert screen.read("\r") == ["one\ntwo"]


def test_without_paste_markers_an_enter_with_text_behind_it_in_the_read_is_a_line_break():
    screen = Screen()
    assert screen.read("first\r\nsecond") == [] and screen.view.editor.text == "first\nsecond"
    assert screen.read("\r") == ["first\nsecond"]
    assert screen.read("/who\rhello\r") == ["/who", "hello"]  # a command is never glued to a message
    assert screen.read("hello\r/who\r") == ["hello", "/who"]


def test_a_sequence_cut_between_two_reads_is_one_key_and_a_key_code_is_named(clock):
    screen = Screen()
    screen.read("ab\x1b[")
    clock.now += 0.01  # the rest of the sequence, a moment later (paste.KEYS_APART_SECONDS)
    screen.read(["D", LEFT, "x"])
    assert screen.named == ["left", "left"] and screen.view.editor.text == "abx"  # (the screen moves the cursor)
    screen.read("\x03more")  # Ctrl-C: the screen leaves (on_stop says so), the keys after it dropped
    assert screen.named[-1] == "interrupt" and screen.view.editor.text == "abx"


def test_the_terminals_answer_to_the_probe_says_how_it_draws_a_joined_emoji_and_is_no_key():
    screen = Screen()
    screen.read("\x1b[5;3R")
    assert screen.reader.draws_joined and screen.reader.changed and screen.view.editor.text == "" and screen.named == []
    screen.read("\x1b[5;5R")
    assert not screen.reader.draws_joined


def test_a_status_line_changing_alone_is_drawn_a_few_times_a_second_and_the_loop_told_when(clock):
    redraws = Redraws(Session(name="ann"))
    assert redraws.draw_now("2 here", dirty=True) and redraws.due is None
    clock.now += 0.01
    assert not redraws.draw_now("2 here", dirty=False)  # nothing changed
    assert not redraws.draw_now("3 here", dirty=False)  # the status alone, just after a draw: held back
    wait = redraws.next_due()
    assert wait is not None and 0 < wait <= 1.0 / STATUS_DRAWS_PER_SECOND
    assert redraws.draw_now("3 here", dirty=True) and redraws.due is None and redraws.next_due() is None
    assert not redraws.draw_now("4 here", dirty=False)  # held back again, until it is due
    clock.now += 1.0 / STATUS_DRAWS_PER_SECOND
    assert redraws.draw_now("4 here", dirty=False) and redraws.next_due() is None
