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


FDFA = "\ufdfa"  # one character NFKC makes 18 letters and three spaces: the costliest to key


@pytest.mark.parametrize(
    ("name", "text", "mentioned"),
    [
        ("ann", FDFA * 2000 + " ann? " + FDFA * 1990, True),
        ("ann", FDFA * 3995 + " ａｎｎ", True),  # full width
        ("ann", "\u0430nn, " + FDFA * 3990, True),  # a Cyrillic а
        ("ann", FDFA * 3990 + " ANN!", True),
        ("josé", FDFA * 3990 + " jose\u0301!", True),  # the accent typed as a mark, composed by NFKC
        ("ann", FDFA * 2000 + "annie " + FDFA * 1990, False),
        ("ann", (FDFA + "\u0301") * 1990 + "joann", False),
        ("ann", FDFA * 4000, False),
        ("\u1100\u1161", FDFA * 3990 + " \u1100\u314f", True),  # a Hangul syllable, its vowel as compatibility jamo
    ],
)
def test_a_mention_in_a_long_text_of_costly_characters_is_found(name, text, mentioned):
    """A message of 4,000 U+FDFA took each screen 22 ms to search for its reader's name, as its
    key was folded whole (72,000 letters, twice over): 30 of them took 0.6 s to show. Its key is
    folded a piece at a time now, a piece repeated once (names.text_key), and must find every
    mention folding it whole found: in any case, width or look-alike, after much else."""
    session = Session(name=name)
    (line,) = session.on_event(ev.Message(sender="bo", text=text, time=1.0))
    assert line.mentions_me is mentioned
