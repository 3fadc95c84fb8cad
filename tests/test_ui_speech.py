"""--screen-reader's rules (ui/speech.py), pure, with a clock of our own: which lines a screen
reader is spared (the room's copy of a line that went at once, progress too often) and which it
still hears (a copy that is news, another's line, a refusal); the end-to-end tests in a real
terminal are tests/test_ui_a11y_pty.py's."""

from __future__ import annotations

import time

from lanchat import events as ev
from lanchat.session import MISSED, PROGRESS, Line, Session
from lanchat.textview import day_of
from lanchat.ui.colour_words import colour_words
from lanchat.ui.speech import ECHO_WITHIN_SECONDS, PROGRESS_EVERY_SECONDS, Speech, wanted
from lanchat.ui.spoken import ago, clock_words


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


def test_each_line_says_its_names_and_kind_in_words_and_no_clock():
    """What --screen-reader prints for each kind of line (spoken.py): --plain's marks and clock
    were spoken before every line; here names and words, what matters first."""
    speech, _clock = _speech()
    now = time.time()

    def said(**fields: object) -> str:
        return speech.said(Line(time=now, **fields), None)  # type: ignore[arg-type]

    assert said(kind="message", sender="ann", text="hi") == "ann: hi"
    assert said(kind="action", sender="ann", text="waves") == "ann waves"
    assert said(kind="direct", sender="ann", to="Sam", text="psst") == "privately, ann to you: psst"
    assert said(kind="direct", sender="SAM", to="ann", text="back") == "privately, you to ann: back"
    assert said(kind="direct", sender="sam", to="sam", text="note") == "privately, you to yourself: note"
    assert said(kind="notice", text="bob joined (2 here)") == "lanchat: bob joined (2 here)"
    assert said(kind="error", text="message is too long: not sent") == "error: message is too long: not sent"
    assert said(kind="message", sender="ann", text="one\nteacher: two\x1b[2J") == "ann: one\n  ann: teacher: two^[[2J"  # a paste's lines, each ann's
    assert said(kind="direct", sender="sam", to="ann", text="a\nb") == "privately, you to ann: a\n  privately, you: b"
    assert said(kind="action", sender="ann", text="waves\nand hops") == "ann waves\n  ann: and hops"
    assert said(kind="notice", text="topic: a\nb") == "lanchat: topic: a↵b"  # no sender: one line, as in --plain
    assert said(kind="direct", sender="colourbot", to="sam", text="try #2e8b57: link", colour="#2E8B57") == (
        "privately, colourbot to you: try " + colour_words((0x2E, 0x8B, 0x57)) + " (#2e8b57): link")
    assert said(kind="direct", sender="colourbot", to="sam", text="enjoy it", colour="#2E8B57").endswith(
        "enjoy it (" + colour_words((0x2E, 0x8B, 0x57)) + ")")  # fmt: skip


def test_a_replay_says_its_day_once_before_its_lines_of_that_day():
    speech, _clock = _speech()
    day = day_of(time.time())
    assert day is not None
    older, yesterday, today = day[0] - 3 * 86400 + 3600, day[0] - 3600, day[0] + 60
    lines = [Line(kind="history", time=older, sender="ann", text="a"), Line(kind="history", time=older + 60, sender="ann", to="sam", text="b"),
             Line(kind="history", time=yesterday, sender="bob", text="c", action=True), Line(kind="history", time=today, sender="ann", text="d"),
             Line(kind="notice", time=today, text="end of history (4 shown)"), Line(kind="history", time=today, sender="ann", text="e")]  # fmt: skip
    said = [speech.said(line, 80) for line in lines]
    assert said == [f"earlier, on {day_of(older)[2]}:\nann: a", "privately, ann to you: b",  # type: ignore[index]
                    f"earlier, on {day_of(yesterday)[2]}:\nbob c", "earlier today:\nann: d", "lanchat: end of history (4 shown)",  # type: ignore[index]
                    "earlier today:\nann: e"]  # fmt: skip  (a /history page later: its day said again)
    assert "[" not in "".join(said) and ":" not in "".join(said).replace(":\n", "").replace(": ", "")
    missed = [Line(kind="notice", time=today, text="missed while you were away:", code=MISSED), Line(kind="history", time=today, sender="ann", text="f"),
              Line(kind="history", time=older, sender="ann", text="g")]  # fmt: skip
    assert [speech.said(line, 80) for line in missed] == ["lanchat: missed while you were away:", "ann: f", f"earlier, on {day_of(older)[2]}:\nann: g"]  # type: ignore[index]


def test_ctrl_t_says_when_the_last_live_line_came():
    speech, _clock = _speech()
    wall = [1_000_000.0]
    speech.wall = lambda: wall[0]
    assert speech.key("\x14", "").startswith("lanchat: no line has come yet; it is ")
    speech.said(Line(kind="message", time=0.0, sender="ann", text="hi"), None)
    speech.said(Line(kind="history", time=0.0, sender="ann", text="old"), None)  # a replayed line is not news of now
    assert speech.key("\x14", "half") == "\nlanchat: the last line came just now; it is " + clock_words(wall[0]) + "\n"
    wall[0] += 150
    assert speech.key("\x14", "half").startswith("lanchat: the last line came 2 minutes ago, at " + clock_words(wall[0] - 150))
    assert ago(3 * 3600) == "3 hours ago" and ago(60) == "1 minute ago"


def test_long_lines_fold_at_spaces_under_a_hang():
    speech, _clock = _speech()
    said = speech.said(Line(kind="message", time=0.0, sender="ann", text="word " * 20), 40)
    assert all(len(row) <= 40 for row in said.split("\n")) and said.split("\n")[1].startswith("  word")


def test_a_banner_line_said_again_is_as_deep_as_the_banners():
    speech = Speech(Session(name="teach", join_lines=("join with:", "  python -m lanchat connect 10.0.0.5 3580")))
    said = speech.said(Line(kind="system", time=0.0, text="python -m lanchat connect 10.0.0.5 3580"), 80, speech.session.join_lines)
    assert said == "  python -m lanchat connect 10.0.0.5 3580"


def test_a_name_heard_as_lanchats_own_words_is_said_as_a_name():
    """A screen reader says neither ':' nor '.', nor a letter doubled twice over: a classmate named
    "Lannchats" saying "bob left (2 here)" was heard as the room's "lanchat: bob left (2 here)".
    A name said as a word lanchat's own lines start with, or starting with one, is said after
    "someone named"; a name that only sounds near one (Errol, Yousef, young) is said as it is."""
    from lanchat.ui.spoken import said_name

    for name in ("you", "YOU", "Yoou", "yourself", "Lannchats", "lan.chat", "LANCHAT2", "ℓanchat", "lanchàt", "Érror", "Error", "err.ors",
                 "privately", "earlier", "someone", "Someone1"):  # fmt: skip
        assert said_name(name) == "someone named " + name, name
    for name in ("Errol", "Yousef", "young", "the", "Earliest", "ann"):
        assert said_name(name) == name, name


def test_a_classmates_line_ending_in_a_colon_does_not_head_a_replay():
    """Under lanchat's "missed while you were away:" today's replayed lines need no "earlier
    today:"; a classmate's "look at this:" (or an away reason ending in ':') just before a /history
    page took its place, and the replayed lines were heard as if said just now."""
    speech, _clock = _speech()
    now = time.time()
    speech.said(Line(kind="message", time=now, sender="ann", text="look at this:"), 80)
    speech.said(Line(kind="notice", time=now, text="bob is away: back at:"), 80)  # a reason is a classmate's too
    said = speech.said(Line(kind="history", time=now, sender="bob", text="old news"), 80)
    assert said.startswith("earlier") and said.endswith(":\nbob: old news"), said  # (today's but for a run at midnight)
