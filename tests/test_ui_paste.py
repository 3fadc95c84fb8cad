"""paste.py: what a bracketed paste holds is text, never keys, and nothing in it drives the terminal."""

from __future__ import annotations

import pytest

from lanchat.ui.paste import HELD_MOST, KEYS_APART_SECONDS, QUIET_SECONDS, HeldEscape, PastedText

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


def test_ctrl_c_ctrl_z_and_ctrl_backslash_in_a_paste_are_dropped():
    """They are keys while the chat runs (no ISIG): in a paste, controls like any other."""
    assert read_in(["a\x03b\x1ac\x1cd\x1b[201~"]) == ("abcd", "")


def test_a_stuck_paste_is_given_up_only_to_stop_keys_alone_after_a_quiet_time():
    """A paste whose end never came would keep the keyboard for good (Ctrl-C in it is text):
    Ctrl-C, Ctrl-Z or Ctrl-\\ alone in a read, QUIET_SECONDS after its last piece, ends it.
    A piece of the paste itself never does: it comes within milliseconds, or holds text."""
    paste = PastedText(now=100.0)
    assert not paste.given_up("\x03", 100.0 + QUIET_SECONDS / 2)  # the paste's own next piece
    paste.feed("text", now=101.0)
    assert not paste.given_up("\x03b", 101.0 + 10 * QUIET_SECONDS)  # text with it: still the paste
    assert not paste.given_up("", 101.0 + 10 * QUIET_SECONDS)
    paste.feed("\x03", now=101.0 + QUIET_SECONDS / 2)  # pressed too soon: dropped, and no piece of the paste
    for keys in ("\x03", "\x1a", "\x1c", "\x03\x03"):
        assert paste.given_up(keys, 101.0 + QUIET_SECONDS), keys


@pytest.mark.parametrize("at", range(1, len("\x1b[200~")))
def test_a_key_sequence_split_between_two_reads_is_joined(at: int):
    """A read can end inside ESC [ 2 0 0 ~ (the paste-start marker), or an arrow's sequence: the
    start is held for the next read, however late a piece of it that no key ends with comes."""
    held = HeldEscape()
    first, second = "ab\x1b[200~"[: 2 + at], "ab\x1b[200~"[2 + at :] + "text"
    assert held.hold(first[2:], now=5.0)
    assert held.join(second, now=5.0 + (1.0 if at > 2 else KEYS_APART_SECONDS / 2)) == "\x1b[200~text"
    assert held.join("more", now=9.0) == "more"  # held once


@pytest.mark.parametrize("alone", ["\x1b", "\x1b[", "\x1bO"])
def test_esc_pressed_alone_does_not_swallow_the_next_typed_key(alone: str):
    """Esc (or Alt-[, Alt-O) alone in a read may be the key itself: a person's next key, later,
    is not glued to it (ESC a is Alt-a, ignored: the a was lost); a marker's rest still is."""
    held = HeldEscape()
    assert held.hold(alone, now=1.0)
    assert held.join("a", now=1.0 + 2 * KEYS_APART_SECONDS) == "a"
    if alone != "\x1bO":
        assert held.hold(alone, now=1.0)
        assert held.join("\x1b[200~"[len(alone) :] + "x", now=3.0) == "\x1b[200~x"


def test_only_what_could_still_be_a_sequence_is_held():
    held = HeldEscape()
    assert not held.hold("\x1b[A", now=0.0) and not held.hold("\x1bb", now=0.0) and not held.hold("x", now=0.0)
    assert not held.hold("\x1b[" + "1;" * HELD_MOST, now=0.0)
    assert held.join("y", now=0.0) == "y"


def test_a_tail_over_with_its_read_gives_back_the_cr_it_held_not_a_half_sequence():
    """What followed a paste's end in its read is over with the read (no end marker comes): a
    CR held for its LF is a line end then, an unfinished sequence nothing."""
    tail = PastedText(tail=True)
    assert tail.feed("a\r") == ("a", None) and tail.finish() == "\n" and tail.finish() == ""
    assert tail.feed("b\x1b[1;") == ("b", None) and tail.finish() == ""


def test_a_resize_or_mouse_report_between_a_characters_bytes_keeps_them_a_typed_key_ends_them():
    """Keys are read a byte at a time and decoded by ui/screen.py's KeyDecoder, a character's
    first bytes kept until the rest comes. Any KEY_ code between them made the kept bytes U+FFFD:
    a window resized, or the mouse moved, at a read boundary mid-paste lost a character of it.
    Only a typed key (an arrow, F2) ends a character cut short."""
    import curses

    from lanchat.ui.screen import KeyDecoder

    keys = KeyDecoder()
    assert keys.decode([*b"caf", 0xC3]) == ["c", "a", "f"]
    assert keys.decode([curses.KEY_RESIZE, 0xA9, *b"!"]) == [curses.KEY_RESIZE, "\u00e9", "!"]
    assert keys.decode([0xE2, 0x82, curses.KEY_MOUSE]) == [curses.KEY_MOUSE]
    assert keys.decode([0xAC, *b"5"]) == ["\u20ac", "5"]
    assert keys.decode([0xC3, curses.KEY_LEFT, *b"a"]) == ["\udcc3", curses.KEY_LEFT, "a"]  # the byte, kept
    assert keys.decode([0xFF, *b"b", 0xC3]) == ["\udcff", "b"]
    assert keys.decode([curses.KEY_F2]) == ["\udcc3", curses.KEY_F2]
    assert keys.decode([*"\ufffd".encode()]) == ["\ufffd"]  # a real U+FFFD (from a web page) is text
    text = "a\u00e9\u20ac\U0001f600z"  # bytes of one to four, resized at every cut between reads
    data = text.encode()
    for cut in range(len(data) + 1):
        decoded = keys.decode([*data[:cut], curses.KEY_RESIZE]) + keys.decode([*data[cut:]])
        assert "".join(k for k in decoded if isinstance(k, str)) == text and decoded.count(curses.KEY_RESIZE) == 1, cut
    assert KeyDecoder("iso8859-1").decode([0xE9, curses.KEY_RESIZE, *b"t"]) == ["\u00e9", curses.KEY_RESIZE, "t"]
