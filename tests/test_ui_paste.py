"""paste.py: what a bracketed paste holds is text, never keys, and nothing in it drives the terminal."""

from __future__ import annotations

import pytest

from lanchat.ui.paste import HELD_MOST, PastedText

COLOURED = (
    "start \x1b]0;pwned\x07hello \x1b[01;31mred\x1b[0m \x1b]8;;http://x.org/\x1b\\link\x1b]8;;\x1b\\ "
    "tab\there\x15U \x17W \x0bK \x08B \x7fD \x1bbA \x9b31mC1 \x9d2;t\x9c\x04 \x1bPq#0\x1b\\\x1b_apc\x1b\\\x1b(B end\r\nnext\rlast\n"
)
CLEAN = "start hello red link tab hereU W K B D A 31mC1 2;t  end\nnext\nlast\n"  # a C1 control goes alone


def read_in(pieces: list[str]) -> tuple[str, str | None]:
    """The pieces fed in turn: the text, and what followed the end marker."""
    paste, text = PastedText(), []
    for number, piece in enumerate(pieces):
        got, ended = paste.feed(piece)
        text.append(got)
        if ended is not None:
            return "".join(text), "".join([piece[ended:], *pieces[number + 1 :]])
    return "".join(text), None


def test_escape_sequences_and_controls_go_line_ends_are_one_newline_tabs_a_space():
    assert read_in([COLOURED + "\x1b[201~after"]) == (CLEAN, "after")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_pieces_of_any_size_give_the_same_text(size: int):
    """A read may end inside a sequence, between a CR and its LF, or inside the end marker."""
    whole = COLOURED + "\x1b[201~after"
    assert read_in([whole[at : at + size] for at in range(0, len(whole), size)]) == (CLEAN, "after")


def test_mojibake_with_a_c1_control_in_it_keeps_the_rest_of_the_paste():
    """A right double quote's UTF-8 read as Latin-1 ends in U+009D, the C1 form of OSC: taken as
    a string's start it swallowed everything after it, up to a BEL or ESC that never came."""
    mojibake = "He said \u00e2\u20ac\u0153hi\u00e2\u20ac\x9d and left.\nNext line \x9bstays."
    assert read_in([mojibake + "\x1b[201~"]) == ("He said \u00e2\u20ac\u0153hi\u00e2\u20ac and left.\nNext line stays.", "")


def test_text_of_every_script_stays_as_it_is():
    text = "café e\u0301 漢字 😀 👨\u200d👩\u200d👧 \U0001fa77 \ue0a0 Ελληνικά"
    assert read_in([text + "\x1b[201~"]) == (text, "")


def test_an_osc_without_its_end_is_dropped_up_to_the_next_escape_not_past_the_paste():
    assert read_in(["a\x1b]0;never ended b", " c\x1b[201~d"]) == ("a", "d")


def test_an_unfinished_sequence_too_long_to_be_one_is_not_held():
    got, ended = PastedText().feed("a\x1b[" + "1;" * HELD_MOST)
    assert (got, ended) == ("a[" + "1;" * HELD_MOST, None)  # the ESC alone goes; all the rest is text


def test_nothing_but_escapes_is_nothing():
    assert read_in(["\x1b[31m\x1b[0m\x1b]2;x\x07\x07\x1b[201~"]) == ("", "")
