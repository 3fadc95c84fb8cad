"""Grapheme clusters: what a reader sees as one character is edited, moved over and drawn as
one, in the input line and the transcript. The cells render gives are checked against a
terminal emulator (pyte): written one after the other, every cluster lands in the column
render said, so nothing after it is shifted."""

from __future__ import annotations

import unicodedata

import pyte
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from wcwidth import iter_graphemes, wcswidth

from lanchat.session import Line, Session
from lanchat.ui import editor as ed
from lanchat.ui import render as rd
from lanchat.ui.view import View

ACUTE, DIAERESIS, ZWJ = "\u0301", "\u0308", "\u200d"
FAMILY = f"\U0001f468{ZWJ}\U0001f469{ZWJ}\U0001f467"
FRANCE = "\U0001f1eb\U0001f1f7"

# pieces a terminal emulator and wcwidth agree on: letters, letters with combining accents,
# wide CJK and a single emoji, spaces (ZWJ sequences and flags are checked against wcwidth)
pieces = st.sampled_from(["a", "e", "Z", " ", "e" + ACUTE, "i" + DIAERESIS, "o" + ACUTE + DIAERESIS, "日", "本", "\U0001f600", "é"])
terminal_text = st.lists(pieces, min_size=1, max_size=40).map("".join)


def on_pyte(rows: list[list[rd.Cell]], cols: int) -> pyte.Screen:
    """Write each row's cells in order, as a terminal would receive them, each row placed by
    its own cursor move. Autowrap is off (DECAWM, ESC [ ? 7 l): pyte wraps before an accent
    that follows a character in the last column, which terminals do not, and on the bottom
    row that wrap scrolled the whole screen up a row. Composing first (NFC) only hid it where
    the accents compose into one character (not o + acute + diaeresis). A row too wide still
    shows: without wrapping, its extra character overwrites the last cell."""
    screen = pyte.Screen(cols, len(rows))
    stream = pyte.Stream(screen)
    stream.feed("\x1b[?7l")
    for y, row in enumerate(rows):
        stream.feed(f"\x1b[{y + 1};1H" + unicodedata.normalize("NFC", "".join(chunk for chunk, _ in row)))
    return screen


def assert_cells_agree(rows: list[list[rd.Cell]], screen: pyte.Screen) -> None:
    for y, row in enumerate(rows):
        for x, (chunk, _) in enumerate(row):
            if chunk:  # the empty right half of a wide character has nothing of its own
                # (pyte composes a letter and its accent, as NFC does)
                assert screen.buffer[y][x].data == unicodedata.normalize("NFC", chunk), (y, x, chunk, screen.display[y])


def make_view(**session_fields) -> View:
    return View(Session(name="ann", role="host", where="127.0.0.1:3580", members=["ann", "bob"], **session_fields))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=terminal_text, cols=st.integers(24, 90))
def test_a_transcript_line_lands_where_render_says_on_a_terminal(text, cols):
    view = make_view()
    view.add([Line(kind="message", time=1_700_000_000.0, sender="bob", text=text)])
    frame = rd.render(view, 8, cols)
    assert_cells_agree(frame.rows, on_pyte(frame.rows, cols))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=terminal_text, cols=st.integers(24, 90), moves=st.lists(st.sampled_from(["left", "right", "home", "end"]), max_size=12))
# the input line fills the last row exactly and ends in a letter with two accents (found by hypothesis)
@example(text="a" * 17 + "日" * 4 + "o" + ACUTE + DIAERESIS, cols=28, moves=["left"])
def test_the_input_line_and_its_cursor_agree_with_a_terminal(text, cols, moves):
    view = make_view()
    view.editor.type(text)
    for move in moves:
        view.editor.key(move)
    frame = rd.render(view, 6, cols)
    screen = on_pyte(frame.rows, cols)
    assert_cells_agree(frame.rows, screen)
    # the cursor sits after exactly the clusters before it
    y, x = frame.cursor
    before = view.editor.text[: view.editor.cursor]
    if 2 + wcswidth(view.editor.text) < cols:  # no sideways scrolling
        assert (y, x) == (5, 2 + wcswidth(before))


@given(text=st.lists(st.sampled_from(["a", " ", "e" + ACUTE, FAMILY, FRANCE, "日", "x" + ACUTE + DIAERESIS]), max_size=20).map("".join),
       keys=st.lists(st.sampled_from(["left", "right", "backspace", "delete", "ctrl-w", "alt-d", "alt-b", "alt-f"]), max_size=20))
def test_editing_never_leaves_the_cursor_or_a_cut_inside_a_cluster(text, keys):
    editor = ed.LineEditor()
    editor.type(text)
    for key in keys:
        clusters_before = list(iter_graphemes(editor.text))
        editor.key(key)
        boundaries = {0}
        for cluster in iter_graphemes(editor.text):
            boundaries.add(max(boundaries) + len(cluster))
        assert editor.cursor in boundaries
        # what is left is whole clusters of what was there
        left = list(iter_graphemes(editor.text))
        assert all(cluster in clusters_before for cluster in left)


def test_backspace_takes_a_letter_with_its_accent():
    editor = ed.LineEditor()
    editor.type("cafe" + ACUTE)
    editor.key("backspace")
    assert editor.text == "caf"
    editor.type("e" + ACUTE + " na" + "i" + DIAERESIS + "ve")
    editor.key("home")
    for _ in range(4):
        editor.key("right")
    assert editor.text[: editor.cursor] == "cafe" + ACUTE


def test_a_family_and_a_flag_are_one_character_two_columns_wide():
    text = f"{FAMILY} {FRANCE}"
    assert rd.clusters(text) == [(FAMILY, 2), (" ", 1), (FRANCE, 2)]
    editor = ed.LineEditor()
    editor.type(text)
    editor.key("backspace")
    assert editor.text == f"{FAMILY} "
    editor.key("home")
    editor.key("delete")
    assert editor.text == " "
    view = make_view()
    view.editor.type(text)
    frame = rd.render(view, 6, 40)
    assert frame.text()[-1].startswith(f"> {FAMILY} {FRANCE}")
    assert frame.cursor == (5, 2 + 2 + 1 + 2)
