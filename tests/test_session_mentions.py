"""A mention is the name as a whole word, ignoring case; replays and your own lines never ring."""

import pytest

from lanchat import events as ev
from lanchat.session import Session


@pytest.mark.parametrize(
    ("text", "mentioned"),
    [
        ("hi al!", True),
        ("AL, are you there?", True),
        ("@al look", True),
        ("totally", False),
        ("alice and albert", False),
        ("sal", False),
    ],
)
def test_a_mention_is_the_name_as_a_whole_word(text, mentioned):
    session = Session(name="al")
    (line,) = session.on_event(ev.Message(sender="bo", text=text, time=1.0))
    assert line.mentions_me is mentioned


def test_names_with_punctuation_are_matched_literally():
    session = Session(name="j.r")
    (hit,) = session.on_event(ev.Message(sender="bo", text="thanks j.r", time=1.0))
    (miss,) = session.on_event(ev.Message(sender="bo", text="thanks jxr", time=1.0))
    assert hit.mentions_me and not miss.mentions_me


def test_your_own_message_is_never_a_mention():
    session = Session(name="al")
    (line,) = session.on_event(ev.Message(sender="AL", text="al here", time=1.0))
    assert line.kind == "own" and not line.mentions_me
