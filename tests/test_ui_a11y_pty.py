"""Students who read the chat differently (session 51), in a real pseudo-terminal read by pyte
against a real room: a teacher at a projector on a light theme with an 8-colour TERM, a blind
student whose screen reader speaks every byte `--plain` writes."""

from __future__ import annotations

import sys

import pytest
from helpers import RawClient, TermProc, running_server

from lanchat import events as ev

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

# pyte's names of the basic colours (SGR 30-37) that vanish on one of the two themes, in xterm's
# own palette: yellow ("brown"), cyan and green on white (xterm's default), blue on black
UNREADABLE_ON_ONE_THEME = {"brown", "cyan", "green", "blue"}


def test_an_8_colour_terminal_on_a_light_theme_shows_no_yellow_or_cyan_text(terms):
    """The teacher's projector through tmux or ssh says TERM=xterm (or screen): 8 colours, and
    xterm's own default is black on white. A message naming the teacher, every /me and two
    senders' names in eight came out yellow (1.6:1 on white), the room's notices, the prompt and
    four senders' names cyan (1.7:1): unreadable from the back of the class. Text on the
    terminal's own background is now red, magenta or the terminal's own colour; what the colour
    said, the marks and bold say too."""
    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        teacher = TermProc("connect", "127.0.0.1", str(endpoint.port), "--name", "teacher", rows=16, cols=60, env={"TERM": "xterm"})
        terms.append(teacher)
        teacher.expect(r"welcome, teacher")
        ann.send(ev.Say(text="hello teacher"))
        ann.send(ev.Me(text="waves"))
        ann.send(ev.Whisper(to="teacher", text="psst"))
        teacher.expect(r"\[direct\] ann → teacher: psst")
        teacher.send("/nosuch\r")
        teacher.expect(r"unknown command")
        with teacher._changed:
            cells = [(cell.data, cell.fg) for row in teacher.screen.buffer.values() for cell in row.values()
                     if cell.bg == "default" and cell.data.strip()]  # fmt: skip
        coloured = {fg for _data, fg in cells}
        assert "red" in coloured and "magenta" in coloured, coloured  # an error, a direct message: still in colour
        unreadable = "".join(data for data, fg in cells if fg in UNREADABLE_ON_ONE_THEME)
        assert not unreadable, f"text in a colour one theme hides: {unreadable!r}\n" + teacher.text
        ann.close()
