"""--screen-reader's rules (ui/speech.py), pure, with a clock of our own: which lines a screen
reader is spared (the room's copy of a line that went at once, progress too often) and which it
still hears (a copy that is news, another's line, a refusal); the end-to-end tests in a real
terminal are tests/test_ui_a11y_pty.py's."""

from __future__ import annotations

from lanchat import events as ev
from lanchat.session import PROGRESS, Line, Session
from lanchat.ui.speech import ECHO_WITHIN_SECONDS, PROGRESS_EVERY_SECONDS, Speech, wanted


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _speech() -> tuple[Speech, Clock]:
    clock = Clock()
    return Speech(Session(name="sam"), clock=clock), clock


def _texts(lines: list[Line]) -> list[str]:
    return [line.text for line in lines]


def test_the_rooms_copy_of_a_line_sent_at_once_is_left_out_and_nothing_else():
    speech, clock = _speech()
    speech.sent_at_once(ev.Say(text="hello"))
    speech.sent_at_once(ev.Me(text="waves"))
    speech.sent_at_once(ev.Whisper(to="Ann", text="psst"))
    came = [
        Line(kind="message", time=1.0, sender="ann", text="hello"),  # another's line, the same words: said
        Line(kind="own", time=1.0, sender="sam", text="hello"),
        Line(kind="action", time=1.0, sender="sam", text="waves"),
        Line(kind="direct", time=1.0, sender="sam", to="bob", text="psst"),  # to another: not that copy
        Line(kind="direct", time=1.0, sender="sam", to="ann", text="psst"),
        Line(kind="own", time=1.0, sender="sam", text="hello"),  # a second copy: none was sent for it
        Line(kind="error", time=1.0, text="slow down: that was not sent"),
    ]
    assert _texts(speech.heard(came)) == ["hello", "psst", "hello", "slow down: that was not sent"]


def test_a_copy_that_comes_late_or_after_a_refusal_is_said():
    speech, clock = _speech()
    speech.sent_at_once(ev.Say(text="late"))
    speech.sent_at_once(ev.Say(text="refused, then held"))
    speech.held_back(ev.Say(text="refused, then held"))  # not our turn after all: held, sent later
    clock.now += ECHO_WITHIN_SECONDS + 1
    came = [Line(kind="own", time=1.0, sender="sam", text="late"), Line(kind="own", time=1.0, sender="sam", text="refused, then held")]
    assert _texts(speech.heard(came)) == ["late", "refused, then held"]


def test_progress_is_said_at_most_every_so_often_all_transfers_together():
    speech, clock = _speech()

    def progress(text: str) -> Line:
        return Line(kind="notice", time=1.0, text=text, code=PROGRESS)

    saved = Line(kind="notice", time=1.0, text="saved a.pdf")
    assert _texts(speech.heard([progress("a 25%"), progress("b 25%"), saved])) == ["a 25%", "saved a.pdf"]
    clock.now += PROGRESS_EVERY_SECONDS - 1
    assert speech.heard([progress("b 50%")]) == []
    clock.now += 1
    assert _texts(speech.heard([progress("b 75%")])) == ["b 75%"]


def test_typing_is_never_written_again_and_backspace_rubs_out_only_what_shows():
    speech, _clock = _speech()
    assert speech.above("ann: hi\n", "half") == "\nann: hi\n"  # on a row of its own
    assert speech.above("ann: again\n", "half") == "ann: again\n"  # the row is empty: no blank line
    assert speech.cut("half", 3) == ("", "", False)  # above: gone from the line, nothing on screen to rub out
    assert speech.cut("halXY", 4) == ("XY", "Y", True)  # typed since: rubbed out where it shows
    assert speech.again("halX") == "\nhalX"  # Ctrl-R: asked for, written again
    assert speech.entered("halX") == "\n"


def test_the_mode_is_on_by_option_or_environment():
    assert wanted(True, {}) and wanted(False, {"LANCHAT_SCREEN_READER": "1"})
    assert not wanted(False, {}) and not wanted(False, {"LANCHAT_SCREEN_READER": "0"})
    assert not any(wanted(False, {"LANCHAT_SCREEN_READER": off}) for off in ("no", "False", "OFF", " "))  # a word for off is off


def test_a_scripts_pipe_with_the_mode_on_reads_every_line_and_has_no_keys(tmp_path):
    """LANCHAT_SCREEN_READER=1 in a profile reaches scripts too: piped, lanchat stays --plain for
    them (every line, its own copies too) and /help keys says a script has none, not Ctrl-R."""
    import io
    import os

    from lanchat.ui.plain import PlainFrontend

    read_fd, write_fd = os.pipe()
    try:
        session = Session(name="sam")
        front = PlainFrontend(session, stdin_fd=read_fd, stdout=io.StringIO(), interactive=False, speech=Speech(session))
        assert front.speech is None and session.ui_keys == ()
    finally:
        os.close(read_fd)
        os.close(write_fd)
