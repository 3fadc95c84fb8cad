"""Display spoofing from the attacker's side: text that passes textsafe's control-character rule
but would make the screen show something else than what was sent. A student picks a name or a
message that draws like another person's, like a server notice, or over other lines; the server
refuses what no honest name needs, and both front ends show the rest so it cannot pass for
something else (a hostile or older server may still send it).
"""

from __future__ import annotations

import pytest
from helpers import RawClient, running_server

from lanchat import events as ev
from lanchat.names import name_problem
from lanchat.session import Line, Session
from lanchat.textsafe import visible
from lanchat.ui import render as rd
from lanchat.ui.plain import format_plain
from lanchat.ui.view import View

T0 = 1_700_000_000.0
# First in a name each sits on whatever is drawn before the name, and the name reads as "ann":
# a combining accent, a Devanagari sign (a spacing mark), an enclosing keycap, a Hangul vowel jamo.
JOINS_THE_ONE_BEFORE = ["\u0301", "\u0903", "\u20e3", "\u1161"]


def screen_rows(*lines: Line, cols: int = 80) -> list[str]:
    """The full screen's rows for ann, with ``lines`` in its transcript."""
    view = View(Session(name="ann", role="host", where="127.0.0.1:3580", members=["ann", "bob"]))
    view.add(list(lines))
    return rd.render(view, 8, cols).text()


# ------------------------------------------------ a name that draws as someone else's


@pytest.mark.parametrize("mark", JOINS_THE_ONE_BEFORE)
def test_a_student_cannot_join_as_ann_behind_a_mark_that_joins_the_character_before(mark):
    """From the attacker's side: U+0301 then 'ann' was a name of its own (its key is not ann's),
    and the full screen drops a zero-width cluster with nothing before it, so every line the
    impostor sent read 'ann: ...'. The server now refuses a name that starts with such a mark."""
    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        mallory = RawClient(endpoint)
        mallory.send(ev.Hello(name=mark + "ann"))
        error = mallory.expect(ev.Error)
        assert error.code == ev.E_BAD_NAME and not error.fatal
        assert "cannot start with a character that joins the one before it" in error.message
        mallory.send(ev.Hello(name="mallory"))  # the same connection may join under a name of its own
        mallory.expect(ev.Welcome)
        assert ann.expect(ev.Joined).name == "mallory"
        ann.close()
        mallory.close()


def test_a_mark_inside_or_after_a_name_is_still_a_name():
    assert name_problem("zoe\u0308") is None and name_problem("Ad\u0101") is None  # zoë, Adā spelt with marks
    assert name_problem("\ud55c\uae00") is None  # Hangul syllables
    assert name_problem("\u1112\u1161\u11ab") is None  # and the same syllable spelt in jamo


@pytest.mark.parametrize("mark", JOINS_THE_ONE_BEFORE)
def test_a_name_that_starts_with_a_mark_never_draws_as_the_name_without_it(mark):
    """A server that lets such a name in (older, or hostile): both front ends show the mark on a
    dotted circle, so the impostor's lines never read as ann's."""
    impostor = mark + "ann"
    full = screen_rows(Line(kind="message", time=T0, sender="ann", text="hi"), Line(kind="message", time=T0, sender=impostor, text="hi"))
    assert full[0].split(" ", 1)[1].startswith("ann: hi")
    assert full[1].split(" ", 1)[1].startswith("\u25cc" + mark + "ann: hi")
    plain = format_plain(Line(kind="message", time=T0, sender=impostor, text="hi"))
    assert plain.endswith(" \u25cc" + mark + "ann: hi")
    assert visible(mark) == "\u25cc" + mark and visible("e\u0301") == "e\u0301"  # an accent on its letter stays as it is
