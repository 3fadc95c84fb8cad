"""render(view, rows, cols) is a pure function: tested on plain data, no terminal needed."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanchat.session import Line, Session
from lanchat.textsafe import BIDI_CONTROLS
from lanchat.ui import render as rd
from lanchat.ui.view import View

T0 = 1_700_000_000.0


def make_view(name: str = "ann", **session_fields) -> View:
    session_fields.setdefault("members", ["ann", "bob"])
    return View(Session(name=name, role="host", where="127.0.0.1:3580", **session_fields))


def msg(text: str, sender: str = "bob", kind: str = "message", time: float = T0, **extra) -> Line:
    return Line(kind=kind, time=time, sender=sender, text=text, **extra)


def row_texts(frame: rd.Frame) -> list[str]:
    return frame.text()


def assert_well_formed(frame: rd.Frame, rows: int, cols: int) -> None:
    assert len(frame.rows) == rows
    for row in frame.rows:
        assert len(row) == cols
        for index, (chunk, style) in enumerate(row):
            assert isinstance(style, rd.Style)
            if chunk == "":  # the right half of a wide character, right after it
                assert index > 0 and rd.text_width(row[index - 1][0]) == 2
                continue
            for ch in chunk:
                category = unicodedata.category(ch)
                assert category not in ("Cc", "Cs"), f"control or surrogate {ch!r} reached the screen"
                assert ch not in BIDI_CONTROLS
            if rd.text_width(chunk) == 2:
                assert index + 1 < len(row) and row[index + 1][0] == "", "a wide character needs its second cell"


# ------------------------------------------------------------------ hostile input

hostile_text = st.lists(
    st.one_of(
        st.characters(),  # anything, lone surrogates included
        st.sampled_from(["\x1b[2J", "\x1b]0;owned\x07", "\r", "\b", "\x00", "\u202e", "\u200d", "日", "😀", "e\u0301", "\t", "\n", "\x9b"]),
    ),
    max_size=120,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(hostile_text, min_size=1, max_size=4),
    sender=hostile_text.filter(bool),
    typed=hostile_text,
    rows=st.integers(0, 40),
    cols=st.integers(0, 130),
    scroll=st.integers(0, 50),
    roster=st.booleans(),
)
def test_render_never_raises_and_every_row_has_exactly_cols_cells(texts, sender, typed, rows, cols, scroll, roster):
    view = make_view(members=["ann", sender], mode="turn", turn=sender)
    kinds = ["message", "own", "direct", "notice", "error", "history", "system"]
    view.add(msg(text, sender=sender, kind=kinds[i % len(kinds)], to=sender) for i, text in enumerate(texts))
    view.editor.type(typed)
    view.editor.key("left")
    view.scroll = scroll
    view.show_roster = roster
    frame = rd.render(view, rows, cols)
    assert_well_formed(frame, rows, cols)
    if frame.cursor is not None:
        assert 0 <= frame.cursor[0] < rows and 0 <= frame.cursor[1] < cols


def test_terminal_driving_text_is_shown_harmlessly():
    view = make_view()
    view.add([msg("\x1b[2J\x1b]0;title\x07ok\rfake\bX\x00\u202eevil")])
    frame = rd.render(view, 10, 80)
    assert_well_formed(frame, 10, 80)
    first = row_texts(frame)[0]
    assert "^[[2J^[]0;title^Gok^Mfake^HX^@<U+202E>evil" in first


# ----------------------------------------------------------------- layout rules


def test_long_messages_wrap_with_the_continuation_under_the_text():
    view = make_view()
    view.add([msg("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu")])
    rows = row_texts(rd.render(view, 10, 40))
    start = rows[0].index("alpha")
    assert rows[0].startswith(rd.clock(T0) + " bob: alpha")
    assert rows[1][:start].strip() == "" and rows[1][start] != " "  # indented under the text
    words = " ".join(r.strip() for r in rows[:3]).split()
    assert words[:3] == [rd.clock(T0), "bob:", "alpha"] and words[-1] == "mu"


def test_wide_characters_take_two_cells_and_wrap_whole():
    view = make_view()
    view.add([msg("日本語" * 10)])
    frame = rd.render(view, 10, 30)
    assert_well_formed(frame, 10, 30)
    first = frame.rows[0]
    prefix = len(rd.clock(T0) + " bob: ")
    assert first[prefix] == ("日", rd.PLAIN) and first[prefix + 1][0] == ""
    assert "".join(c for c, _ in frame.rows[1]).strip().startswith(("日", "本", "語"))


@pytest.mark.parametrize("text", ["\u6f22" * 4000, "\u0645\u0631\u062d\u0628\u0627" * 800, "\U0001f600" * 3999 + "x"])
def test_a_long_word_is_split_into_characters_once_a_layout_not_once_a_cell(monkeypatch, text):
    """A student's 4,000 characters of Han, Arabic or emoji without a space (at the room's flood
    limit, a line every third of a second): where the word broke across rows, the wrap measured
    each cell's width again, a grapheme split per character, 12-13 ms a line laid out (thread
    CPU, best of 7; a line of everyday words: 0.6). A classmate's full screen, scrolled up when
    the window was resized, lays out every line below the page again: a few hundred such lines
    froze it for seconds. The width is the cell's own now (a wide one is followed by its empty
    half): 3-4 ms. Counted, not timed: the text is split into characters once, and the rows
    are the ones the wrap gave before (a wide character never split, none lost)."""
    splits = []
    counting = rd.clusters

    def clusters(part: str) -> list[tuple[str, int]]:
        splits.append(part)
        return counting(part)

    monkeypatch.setattr(rd, "clusters", clusters)
    line = msg(text)
    rows = rd.layout_line(line, 80)
    assert len(splits) <= len(rows) + 2, len(splits)  # the text once; a row's last cell, cut to fit
    assert all(len(row) == 80 for row in rows)
    shown = "".join(chunk for row in rows for chunk, _ in row)
    assert shown.replace(" ", "").endswith(text.replace(" ", "")), "every character is drawn, in order"
    for row in rows:  # a wide character's empty half always beside it, on its row
        assert all(row[at - 1][0] not in ("", " ") for at, (chunk, _) in enumerate(row) if chunk == "" and at)
        assert row[0][0] != ""


FINGERPRINT = "SHA256:" + "Qx7v" * 10 + "abc"  # tls.fingerprint's shape: 43 base64 characters


def test_a_fingerprint_stays_with_its_option_in_the_transcript():
    """A TLS room's join line on a 64-column host screen (a projector's): `--fingerprint` ended
    one row and its value began the next, where README promises a `--fingerprint` with its
    value kept together (textfold does so in printed lines), and a triple click copied half.
    Too wide for the room under the time, it takes a row of its own, less deep (at 64 columns
    the whole row); in a message too. Wider than the whole row, it wraps as any words."""
    pin = f"--fingerprint {FINGERPRINT}"
    join = f"python -m lanchat connect 192.168.100.200 3580 --tls {pin}"
    view = make_view()
    view.add([Line(kind="system", time=T0, text=join), msg(f"if it asks, connect with {pin} and say yes")])
    command = f"{rd.clock(T0)}   python -m lanchat connect 192.168.100.200 3580 --tls"
    asks = f"{rd.clock(T0)} bob: if it asks, connect with"
    for cols, under in ((64, ""), (90, " " * 8)):
        frame = rd.render(view, 12, cols)
        assert_well_formed(frame, 12, cols)
        rows = [row.rstrip() for row in row_texts(frame)]
        if cols == 64:
            assert rows[:5] == [command, pin, asks, pin, "           and say yes"], rows
        else:
            assert rows[:4] == [command, under + pin, asks, f"{' ' * 11}{pin} and say yes"], rows
    narrow = rd.render(view, 12, 40)  # 64 wide: wrapped as before, the value broken where the row ends
    assert_well_formed(narrow, 12, 40)
    assert [row.strip() for row in row_texts(narrow)][1:3] == ["192.168.100.200 3580 --tls", "--fingerprint SHA256:Qx7vQx7vQx7"]


def test_a_fingerprints_short_form_stays_on_one_row_in_the_transcript():
    """A student joining a TLS room by name on a 50-column full screen read 'TLS fingerprint in
    short 7bac' / '2a98 9472 0602: compare it ...': the 16 digits to compare with the board, on
    two rows. Its four groups now go on one row, as textfold keeps them in printed lines; the
    height counted without a layout (line_height) agrees."""
    short = "7bac 2a98 9472 0602"
    view = make_view()
    lines = [Line(kind="notice", time=T0, text=f"TLS fingerprint in short {short}: compare it with the host's screen"),
             msg(f"is it ({short})? the board says so"), msg("abcd 1234 beef: two groups and a word fold as words")]
    view.add(lines)
    for cols in (36, 40, 50, 64):
        frame = rd.render(view, 16, cols)
        assert_well_formed(frame, 16, cols)
        rows = row_texts(frame)
        assert sum(short in row for row in rows) == 2, (cols, rows)
        assert [rd.line_height(line, cols) for line in lines] == [len(rd.layout_line(line, cols)) for line in lines]
    rows = [row.rstrip() for row in row_texts(rd.render(view, 16, 50))]
    assert rows[:2] == [f"{rd.clock(T0)} -!- TLS fingerprint in short", f"{' ' * 10}{short}: compare it with the"], rows


def test_each_sender_keeps_a_stable_colour():
    assert rd.sender_style("bob") == rd.sender_style("BOB")  # names are case-blind
    colours = {rd.sender_style(name).fg for name in ("ann", "bob", "carol", "dave", "erin", "frank")}
    assert len(colours) >= 4


def test_kinds_of_line_look_distinct():
    view = make_view()
    view.add(
        [
            msg("hi", kind="own", sender="ann"),
            msg("hi"),
            msg("psst", kind="direct", to="ann", mentions_me=True),
            Line(kind="notice", time=T0, text="bob joined"),
            msg("old", kind="history"),
            Line(kind="error", time=T0, text="nope"),
        ]
    )
    frame = rd.render(view, 10, 60)
    texts = row_texts(frame)
    assert "ann: hi" in texts[0] and "bob: hi" in texts[1]
    assert "[direct] bob → ann: psst" in texts[2]
    assert "-!- bob joined" in texts[3] and "[History] bob: old" in texts[4] and "! nope" in texts[5]

    def style_of(row: int, needle: str) -> rd.Style:
        return frame.rows[row][texts[row].index(needle)][1]

    styles = [style_of(0, "ann"), style_of(1, "bob"), style_of(2, "psst"), style_of(3, "bob"), style_of(4, "old"), style_of(5, "nope")]
    assert len(set(styles)) == len(styles)
    assert style_of(2, "psst") == rd.DIRECT_TO_ME  # a direct message to me stands out
    view.add([msg("hello ann", mentions_me=True)])
    frame = rd.render(view, 10, 60)
    assert frame.rows[6][frame.text()[6].index("hello")][1] == rd.MENTION


def test_a_long_name_in_the_waiting_prompt_is_shortened_inside_its_brackets():
    """At 64 columns a student read '[waiting for Bartholomew_Fitzge…' with no closing bracket,
    the typed text hard against the cut: the name is shortened, the brackets kept."""
    long_name = "Bartholomew_Fitzgerald_Okonkwo99"
    view = make_view(name="bob", mode="turn", turn=long_name, members=["bob", long_name])
    view.editor.type("early")
    prompt = row_texts(rd.render(view, 8, 64))[-1]
    assert prompt.startswith("[waiting for Bartholomew_Fitz…] early"), prompt
    assert prompt.index("] ") + 2 <= 64 // 2, prompt


def test_status_line_and_input_line():
    view = make_view(mode="turn", turn="bob")
    view.editor.type("typed ahead")
    texts = row_texts(rd.render(view, 8, 90))
    status, prompt = texts[-2], texts[-1]
    for part in ("ann", "host", "127.0.0.1:3580", "turn", "waiting for bob", "2 here"):
        assert part in status
    assert prompt.startswith("[waiting for bob] typed ahead")
    view.session.turn = "ann"
    assert row_texts(rd.render(view, 8, 90))[-1].startswith("> typed ahead")


def test_unread_marker_while_scrolled_up():
    view = make_view()
    view.add(msg(f"line {n}") for n in range(30))
    view.page_rows = 5
    view.page_up()
    view.add([msg("fresh")])
    frame = rd.render(view, 8, 60)
    texts = row_texts(frame)
    assert "1 new" in texts[-2]
    assert "fresh" not in "\n".join(texts)
    view.to_bottom()
    texts = row_texts(rd.render(view, 8, 60))
    assert "fresh" in texts[5] and "new" in "\n".join(texts[:5])  # the rule above the unread line


def test_paging_up_a_transcript_that_fits_never_says_scrolled_up():
    """At the start of a class the transcript fits on the screen: PgUp (or Ctrl-Home) moved
    nothing, yet the status line said "scrolled up (End: back)" and dropped the role and the
    mode for it, until the next message redrew it. It says so only when the page moved."""
    view = make_view()
    view.add(msg(f"line {n}") for n in range(3))
    view.page_rows = 10
    for scroll in (view.page_up, view.to_top):
        scroll()
        status = row_texts(rd.render(view, 12, 80))[-2]
        assert "scrolled up" not in status and "host" in status, status
        view.to_bottom()
    view.add(msg(f"more {n}") for n in range(20))
    view.page_up()  # now there is somewhere to go: it says so
    assert "scrolled up" in row_texts(rd.render(view, 12, 80))[-2]


def test_a_wide_character_under_the_cursor_at_the_right_edge_is_shown_whole():
    """Moving along a long Chinese line, the cursor reached the last column on a 中 that needed
    two: the character was drawn as a blank and the cursor blinked on nothing. The line now
    scrolls sideways so that the character under the cursor is shown whole."""
    view = make_view()
    for text, at in (("a" * 21 + "中文", 21), ("a" * 21 + "👍b", 21), ("中" * 30, 11)):
        view.editor.set(at, text)
        row, column = rd._input(view, 24)
        assert row[column][0] == text[at], (text, at, "".join(chunk for chunk, _ in row), column)
        assert column + 1 < 24 and row[column + 1][0] == ""  # its right half on screen too


def test_scrolling_up_from_the_bottom_clamps_at_the_oldest_line():
    view = make_view()
    view.add(msg(f"line {n}") for n in range(100))
    assert "line 99" in row_texts(rd.render(view, 12, 60))[9]
    view.page_rows = 10
    for _ in range(20):
        view.page_up()
    frame = rd.render(view, 12, 60)
    assert "line 0" in row_texts(frame)[0] and frame.max_scroll == 90
    view.clamp(frame.max_scroll, frame.reached_bottom)
    assert view.scroll == 90
    view.page_down()
    assert "line 9" in row_texts(rd.render(view, 12, 60))[0]


def test_home_lays_out_only_the_top_and_paging_down_returns_to_following():
    view = make_view()
    view.add(msg(f"line {n}") for n in range(30))
    view.page_rows = 10
    view.to_top()
    frame = rd.render(view, 12, 60)
    assert "line 0" in row_texts(frame)[0] and not frame.reached_bottom
    view.add([msg("newer")])  # anchored at the top, the picture does not move
    assert "line 0" in row_texts(rd.render(view, 12, 60))[0] and view.unread == 1
    for _ in range(3):
        view.page_down()
        frame = rd.render(view, 12, 60)
        view.clamp(frame.max_scroll, frame.reached_bottom)
    assert view.following and "newer" in row_texts(frame)[9]


def test_roster_pane_at_100_columns():
    view = make_view(members=["ann", "bob", "carol"], host="ann", mode="turn", turn="bob")
    texts = row_texts(rd.render(view, 10, 100))
    pane = [t[-rd.roster_width(100) :] for t in texts[:8]]
    assert "Here (3)" in pane[0]
    assert any("ann (host, you)" in p for p in pane) and any("▸bob" in p for p in pane) and any("carol" in p for p in pane)
    assert "Here" not in "\n".join(row_texts(rd.render(view, 10, 99)))


def test_the_roster_keeps_the_marks_whole_and_cuts_a_long_name_before_them():
    """At 100 columns "teacher (host) (you)" was cut to "teacher (host) (yo…": the marks, what a
    glance at the pane looks for, now share one bracket and stay whole; a name too long for the
    row is cut before them; only a name left shorter than a few columns gives way to them."""
    view = make_view(name="teacher", members=["teacher", "bob", "a_rather_long_name", "brunhilde_the_6th", "cy"], host="teacher",
                     operators=["brunhilde_the_6th"], away={"cy": "tea"})

    def pane(cols: int) -> list[str]:
        return [t[-rd.roster_width(cols) :].rstrip() for t in row_texts(rd.render(view, 10, cols))[2:7]]

    assert pane(100) == [" teacher (host, you)", " bob", " a_rather_long_name", " brunhilde_the… (op)", " cy (away)"]
    assert pane(120) == [" teacher (host, you)", " bob", " a_rather_long_name", " brunhilde_the_6th (op)", " cy (away)"]
    view.session.away["teacher"] = "back soon"  # three marks leave a name too little room: the row's end is cut
    assert pane(100)[0] == " teacher (host, you…"
    assert_well_formed(rd.render(view, 10, 100), 10, 100)


def test_too_small_says_so_and_recovers():
    view = make_view()
    view.add([msg("hello")])
    small = rd.render(view, 3, 20)
    assert_well_formed(small, 3, 20)
    assert "too small" in "\n".join(row_texts(small)) and small.cursor is None
    assert "hello" in row_texts(rd.render(view, 10, 40))[0]


def test_too_small_fits_whatever_width_there_is_and_never_cuts_a_word():
    """Below 16 columns "window too small" was cut ("window too sma"); now each line is
    a whole wording that fits, shorter at smaller sizes, down to "!" at 1x1."""
    view = make_view()
    for rows in range(rd.MIN_ROWS + 3):
        for cols in range(rd.MIN_COLS + 60):
            if rows >= rd.MIN_ROWS and cols >= rd.MIN_COLS:
                continue
            frame = rd.render(view, rows, cols)
            assert_well_formed(frame, rows, cols)
            shown = [text.strip() for text in row_texts(frame) if text.strip()]
            assert shown == rd.too_small_lines(rows, cols), (rows, cols, shown)
            assert all(len(text) <= cols for text in shown)
            if rows and cols:
                assert shown, (rows, cols)  # something is always said
    assert [text.rstrip() for text in row_texts(rd.render(view, 4, 12))] == [" too small", " need 20x5", "  now 12x4", ""]
    assert rd.too_small_lines(3, 16)[0] == "window too small"
    assert rd.too_small_lines(1, 1) == rd.too_small_lines(2, 2) == ["!"]
    assert rd.too_small_lines(1, 80) == ["window too small: need 20x5, now 80x1"]


def test_input_line_scrolls_to_keep_the_cursor_in_sight():
    view = make_view()
    view.editor.type("x" * 200 + "END")
    frame = rd.render(view, 6, 40)
    assert row_texts(frame)[-1].rstrip().endswith("END")
    assert frame.cursor[1] < 40
    view.editor.key("home")
    frame = rd.render(view, 6, 40)
    assert frame.cursor == (5, 2) and row_texts(frame)[-1].startswith("> xxx")


def test_colour_suggestion_gets_a_swatch_of_the_nearest_colour():
    if "colour" in {f.name for f in dataclasses.fields(Line)}:
        line = Line(kind="direct", time=T0, sender="colourbot", to="ann", text="try #FF0000", colour="#FF0000")
    else:  # the colour bot's Line field is not there: a subclass stands in for it
        line = dataclasses.make_dataclass("ColourLine", [("colour", str, dataclasses.field(default="#FF0000"))], bases=(Line,), frozen=True, kw_only=True)(kind="direct", time=T0, sender="colourbot", to="ann", text="try #FF0000")
    view = make_view()
    view.add([line])
    frame = rd.render(view, 6, 60)
    swatch = [cell for cell in frame.rows[0] if cell[0] == "█"]
    assert swatch and swatch[0][1].fg == rd.nearest_xterm((255, 0, 0)) == 196
    assert rd.nearest_basic(196) == 1  # red on an 8-colour terminal


def test_status_line_shows_transfers_under_way():
    class Transfer:
        def text(self) -> str:
            return "get notes.pdf 45% 1.2 MB/s"

    view = make_view()
    view.session.progress = {"get:1": Transfer()}  # type: ignore[attr-defined]
    assert "get notes.pdf 45% 1.2 MB/s" in row_texts(rd.render(view, 8, 100))[-2]


def test_status_line_says_offline_first_even_when_narrow():
    """The connection's state came last, after the topic and the turn: on an 80-column screen
    the line kept "waiting for bob | 2 here | topic: ..." (all stale) and cut "offline" off."""
    from lanchat.client import Offline

    view = make_view(mode="turn", turn="bob", topic="fractions and decimals, then the homework for Monday")
    view.session.progress = {"connection": Offline()}  # type: ignore[attr-defined]
    status = row_texts(rd.render(view, 8, 50))[-2]
    assert status.startswith(" ann │ offline: reconnecting… │ 127.0.0.1:3580"), status  # the host's address stays


def test_a_stopped_servers_status_on_a_narrow_screen_is_short_not_cut():
    """At 40 columns the status line read " bob │ server stopped: waiting for it", the rest of
    "...to come back; /q leaves" cut at the row's end. Where the whole does not fit, the short
    form; where it does, the whole, and the parts that fit beside it as ever."""
    from lanchat.client import Offline

    view = make_view(name="bob", mode="turn", turn="ann")
    offline = Offline()
    offline.stopped = True
    view.session.progress = {"connection": offline}  # type: ignore[attr-defined]
    narrow = row_texts(rd.render(view, 8, 40))[-2]
    assert narrow.startswith(" bob │ server stopped: waiting ") and "for it" not in narrow, narrow
    assert row_texts(rd.render(view, 8, 80))[-2].startswith(" bob │ server stopped: waiting for it to come back; /q leaves │ ")
    assert rd.status_text(view).startswith(" bob │ server stopped: waiting for it to come back; /q leaves │ host")


def test_a_download_on_a_narrow_screen_shows_its_short_form_not_nothing():
    """A student at a 60-column split screen, named bobby_the_student, fetching the teacher's
    chapter3_exercises.pdf: the status line's progress ('get #1 chapter3_exercises.pdf 7% 460.9
    KiB/s') did not fit whole, so it was left out, and nothing at all said the download was
    under way (the full screen prints no 'receiving' line: the status line has it) until 'saved'.
    Where the whole does not fit, its short form: 'get #1 7%'; where it does, the whole as ever."""
    from lanchat.files import Progress

    now = [10.0]
    view = View(Session(name="bobby_the_student", role="client", where="127.0.0.1:3580", mode="duplex", members=["ann", "bobby_the_student"]))
    progress = Progress(direction="get", label="chapter3_exercises.pdf", total=4_000_000, started=10.0, file_id="1", clock=lambda: now[0])
    progress.advance(280_000, 10.6)
    now[0] = 10.6
    view.session.progress = {"get:1": progress}  # type: ignore[attr-defined]
    assert rd.status_text(view, 60) == " bobby_the_student │ client │ duplex │ 2 here │ get #1 7% "
    assert rd.status_text(view, 40) == " bobby_the_student │ 2 here │ get #1 7% "  # (the head count first: README, The screen)
    assert rd.status_text(view, 100).endswith(" │ get #1 chapter3_exercises.pdf 7% 455.7 KiB/s ")
    assert "get #1 7%" not in rd.status_text(view)  # (no width: the whole only)
    now[0] = 13.0  # no byte for 2.4 s: stalled, in the short form too
    assert rd.status_text(view, 60).endswith(" │ get #1 7% stalled ")
    assert rd.status_text(view, 48) == " bobby_the_student │ 2 here │ get #1 7% stalled "


def test_offline_the_status_line_has_no_head_count_and_the_roster_is_who_was_here():
    """Reconnecting, the status line still said "3 here" and the pane "Here (3)", as if all were
    connected: both were only true before the connection went down."""
    from lanchat.client import Offline

    view = make_view(members=["ann", "bob", "carol"], host="bob")
    assert "3 here" in rd.status_text(view)
    view.session.progress = {"connection": Offline()}  # type: ignore[attr-defined]
    status = rd.status_text(view)
    assert status.startswith(" ann │ offline: reconnecting…") and "here" not in status, status
    pane = [t[-rd.roster_width(100) :] for t in row_texts(rd.render(view, 10, 100))[:8]]
    assert "Was here (3)" in pane[0] and any("bob (host)" in p for p in pane)
    view.session.progress = {}  # back: who is here again
    assert "3 here" in rd.status_text(view) and " Here (3)" in row_texts(rd.render(view, 10, 100))[0]


def test_offline_a_turn_room_does_not_say_whose_turn_it_was():
    """Through a server restart the status line kept "your turn" (or "waiting for bob"), which
    only held before: the restarted room gives the turn afresh (a student read it was theirs)."""
    from lanchat.client import Offline

    for turn in ("ann", "bob"):
        view = make_view(mode="turn", turn=turn)
        online = rd.status_text(view)
        assert ("your turn" if turn == "ann" else "waiting for bob") in online, online
        view.session.progress = {"connection": Offline()}  # type: ignore[attr-defined]
        status = rd.status_text(view)
        assert status.rstrip().endswith("│ turn") and "your turn" not in status and "waiting for" not in status, status
        view.session.progress = {}
        assert rd.status_text(view) == online


def test_offline_a_turn_rooms_prompt_waits_for_the_server_not_for_whose_turn_it_was():
    """The status line stopped saying whose turn it was while offline, but the prompt still said
    "[waiting for ann]" to bob, or "> " to ann, who held the turn: true only before (a restarted
    room gives the turn afresh, and a line ann typed was refused as not her turn)."""
    from lanchat.client import Offline

    for turn, online in (("ann", "> "), ("bob", "[waiting for bob] ")):
        view = make_view(mode="turn", turn=turn)
        assert rd.prompt_text(view)[0] == online
        view.session.progress = {"connection": Offline()}  # type: ignore[attr-defined]
        assert rd.prompt_text(view) == ("[waiting for the server] ", rd.PROMPT_WAIT)
        view.session.progress = {}
        assert rd.prompt_text(view)[0] == online
    view = make_view(mode="duplex")
    view.session.progress = {"connection": Offline()}  # type: ignore[attr-defined]
    assert rd.prompt_text(view)[0] == "> "  # no turn to wait for: a line typed goes once back


def test_offline_a_turn_rooms_prompt_on_a_narrow_screen_says_offline_not_a_cut_phrase():
    """At 40 columns the prompt, cut to half the row, read "[waiting for the …]", which said
    nothing of what it waits for. Where the whole does not fit, it reads "[offline]"."""
    from lanchat.client import Offline

    view = make_view(mode="turn", turn="bob")
    view.session.progress = {"connection": Offline()}  # type: ignore[attr-defined]
    assert row_texts(rd.render(view, 8, 40))[-1].rstrip() == "[offline]"
    assert row_texts(rd.render(view, 8, 60))[-1].rstrip() == "[waiting for the server]"


def test_offline_the_roster_pane_does_not_mark_whose_turn_it_was():
    """The pane, titled "Was here" while offline, still marked the old holder with ▸."""
    from lanchat.client import Offline

    view = make_view(mode="turn", turn="bob")
    assert any("▸bob" in row for row in row_texts(rd.render(view, 10, 100)))
    view.session.progress = {"connection": Offline()}  # type: ignore[attr-defined]
    rows = row_texts(rd.render(view, 10, 100))
    assert "Was here (2)" in rows[0] and not any("▸" in row for row in rows), rows


def busy_status_view(role: str) -> View:
    """A status line with everything at once: turn, typing, a topic, a file on its way."""

    class Transfer:
        def text(self) -> str:
            return "get notes.pdf 45%"

    session = Session(name="ann", role=role, where="192.168.1.20:3580", members=["ann", "bob", "cy"], mode="turn", turn="bob", topic="fractions")
    session.typing = {"cy": session.clock()}
    session.progress = {"get:1": Transfer()}  # type: ignore[attr-defined]
    return View(session)


def test_a_narrow_status_line_drops_what_matters_least_not_the_typing_topic_and_transfer():
    """At 60-80 columns the line was cut at the end: the typing hint, the topic and the transfer
    (what changes) went, while the client's own address and role (static) took the room. Whole
    parts now go, least useful first; the host keeps its address, which students read off it."""
    client, host = busy_status_view("client"), busy_status_view("host")
    assert rd.status_text(client) == (
        " ann │ client │ 192.168.1.20:3580 │ turn │ waiting for bob │ 3 here │ cy is typing… │ topic: fractions │ get notes.pdf 45% "
    )  # wide enough: all of it, in the same order
    assert row_texts(rd.render(client, 8, 80))[-2].rstrip() == " ann │ turn │ waiting for bob │ 3 here │ cy is typing… │ get notes.pdf 45%"
    assert row_texts(rd.render(client, 8, 60))[-2].rstrip() == " ann │ turn │ waiting for bob │ 3 here │ cy is typing…"
    assert row_texts(rd.render(host, 8, 80))[-2].rstrip() == " ann │ host │ 192.168.1.20:3580 │ waiting for bob │ 3 here │ cy is typing…"
    assert row_texts(rd.render(host, 8, 60))[-2].rstrip() == " ann │ host │ 192.168.1.20:3580 │ waiting for bob │ 3 here"
    client.session.topic = ""
    assert row_texts(rd.render(client, 8, 120))[-2].rstrip() == (
        " ann │ client │ 192.168.1.20:3580 │ turn │ waiting for bob │ 3 here │ cy is typing… │ get notes.pdf 45%"
    )
    client.page_rows = 2
    client.add(msg(f"line {n}") for n in range(10))
    client.page_up()  # the scrolled-up marker takes its room first, and whole parts still go
    status = row_texts(rd.render(client, 8, 80))[-2]
    assert status.startswith(" ann │ turn │ waiting for bob │ 3 here │ cy is typing… ") and status.endswith(" scrolled up (End: back) "), status


def test_a_room_found_by_its_name_keeps_its_place_on_the_status_line_as_a_hosts_address_is_kept():
    """bob joined "Networks 3B" by discovery (tools/class_run.py): at 80 columns his status line
    read " bob │ client │ duplex │ 5 here", neither the room's name nor its address, which he had
    not typed: his own place went first, and with the room's name it no longer fitted beside the
    mode. A room found by its name keeps its place as the host's address is kept; one joined by a
    typed address still gives its place up first."""
    where = "198.18.0.1:38539 (TLS), the room 'Networks 3B'"
    view = make_view(members=["teacher", "ann", "bob", "carl", "dan"])
    view.session.name, view.session.role, view.session.where = "bob", "client", where
    assert row_texts(rd.render(view, 8, 80))[-2].rstrip() == " bob │ client │ duplex │ 5 here"  # typed: his own
    view.session.found_by_name = True
    assert row_texts(rd.render(view, 8, 80))[-2].rstrip() == f" bob │ {where} │ duplex │ 5 here"
    assert row_texts(rd.render(view, 8, 64))[-2].rstrip() == f" bob │ {where} │ 5 here"


def test_a_narrow_status_line_keeps_what_matters_most_and_gives_parts_back_when_wider():
    """The line dropped the least useful part until the rest fitted, and never looked back: with
    a long topic the host lost "host" first, then the topic itself went too, and "host" stayed
    gone with room for it (at 40 columns even the head count went, for the host's address). It
    now chooses afresh at each width, what matters most first: the connection's state, whose
    turn it is, the head count, then the host's address and role; the topic goes before them, cut
    short where it does not fit whole, and ahead of the mode (whose turn it is says it already)."""
    topic = "fractions and decimals, then the homework for Monday"
    view = make_view(mode="turn", turn="bob", members=["ann", "bob", "cy"], topic=topic)
    assert row_texts(rd.render(view, 8, 80))[-2].rstrip() == " ann │ host │ 127.0.0.1:3580 │ waiting for bob │ 3 here │ topic: fractions and…"
    assert row_texts(rd.render(view, 8, 40))[-2].rstrip() == " ann │ host │ waiting for bob │ 3 here"
    assert row_texts(rd.render(view, 8, 140))[-2] == rd.status_text(view).ljust(140)  # wide enough: everything, back
    assert rd.status_text(view) == f" ann │ host │ 127.0.0.1:3580 │ turn │ waiting for bob │ 3 here │ topic: {topic} "
    view.session.turn = "ann"
    assert row_texts(rd.render(view, 8, 40))[-2].rstrip() == " ann │ host │ turn │ your turn │ 3 here"
    from lanchat.client import Offline

    view.session.progress = {"connection": Offline()}  # type: ignore[attr-defined]
    assert row_texts(rd.render(view, 8, 40))[-2].rstrip() == " ann │ offline: reconnecting… │ host"
    view.session.progress = {}
    assert row_texts(rd.render(view, 8, 80))[-2] == " ann │ host │ 127.0.0.1:3580 │ your turn │ 3 here │ topic: fractions and decim… "


def test_a_long_topic_is_cut_short_rather_than_dropped_for_the_mode_and_a_clients_own_parts():
    """A student with a long name at 60 columns: the topic did not fit whole, so it went, and
    the line showed 'client' and 'duplex' (which a student knows) in its room. It is cut to the
    room left at its turn, ahead of them; a wide character is never cut in two; with less than
    a few letters' room it goes, and the parts after it take the room as before."""
    name = "Alexandra-Konstantinopoulou"
    session = Session(name=name, role="client", where="192.168.1.20:3580", members=["teacher", name, "bob"],
                      topic="fractions and decimals, then the homework for Monday")  # fmt: skip
    view = View(session)
    assert rd.status_text(view, 60) == f" {name} │ 3 here │ topic: fractions a… "
    assert rd.status_text(view, 80) == f" {name} │ 3 here │ topic: fractions and decimals, then th… "
    assert rd.status_text(view, 200) == f" {name} │ client │ 192.168.1.20:3580 │ duplex │ 3 here │ topic: {session.topic} "
    assert rd.status_text(view, 50) == f" {name} │ duplex │ 3 here "  # 10 columns left: no "topic: f…"
    session.topic = "分数と小数、それから月曜日の宿題"
    assert rd.status_text(view, 60) == f" {name} │ 3 here │ topic: 分数と小数… "  # 59 columns: no half character
    session.topic = "fractions"  # short enough: whole, and the rest as before
    assert rd.status_text(view, 60) == f" {name} │ 3 here │ topic: fractions "
    assert rd.status_text(view, 70) == f" {name} │ duplex │ 3 here │ topic: fractions "


def test_only_screen_py_imports_curses_and_the_ui_core_does_no_io():
    import ast
    from pathlib import Path

    package = Path(rd.__file__).resolve().parent.parent
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 0}
        if path.name != "screen.py" or path.parent.name != "ui":
            assert "curses" not in imported and "_curses" not in imported, f"{path} imports curses"
        if path.parent.name == "ui" and path.stem in ("editor", "view", "render"):
            assert not imported & {"socket", "selectors", "threading", "asyncio", "os", "subprocess"}, path
            calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
            assert not calls & {"open", "print"}, path


# ------------------------------------------------------------------ counting instead of laying out

chatty_text = st.lists(
    st.sampled_from(["a", "b", "xyz", " ", "  ", ".", "-", "a" * 30, "b" * 90, "   ", "\n", "é", "日", "\t", "e\u0301"]),
    max_size=80,
).map("".join)
kinds = st.sampled_from(["message", "own", "notice", "error", "system", "history", "direct"])


@settings(max_examples=400, deadline=None)
@given(text=chatty_text, sender=st.sampled_from(["bob", "a" * 32, "Zoë"]), kind=kinds, width=st.integers(1, 160))
def test_a_lines_counted_height_is_its_laid_out_height(text, sender, kind, width):
    """line_height counts plain ASCII lines without laying them out; it must always agree."""
    line = msg(text, sender=sender, kind=kind, to="cat" if kind in ("direct", "history") else None)
    assert rd.line_height(line, width) == len(rd._layout(line, max(1, width)))


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("x\n   " + "a" * 15, 20),  # a paragraph's leading spaces are dropped on its new row
        ("a" * 9 + " " * 30 + "b", 20),  # spaces run to the edge, then the word wraps
        ("a" * 70, 20),  # a word longer than a row is broken inside
        ("word " * 3 + "a" * 9, 20),  # a word that exactly fills the row
        ("", 20),
        ("", 5),  # the prefix itself wraps
        ("tail   ", 16),
        ("one\n\ntwo\n", 30),
    ],
)
def test_tricky_wraps_count_as_they_lay_out(text, width):
    line = msg(text)
    assert rd.line_height(line, width) == len(rd._layout(line, width)) == len(rd.layout_line(line, width))


def slow_transcript(view: View, height: int, width: int) -> list[str]:
    """What the transcript pane shows, worked out the obvious way: every line laid out."""
    lines = list(view.lines)
    everything = [
        "".join(chunk for chunk, _ in row)
        for index, (seq, line) in enumerate(enumerate(lines, start=view.first_seq))
        for row in rd._block(view, line, seq, width, rd._day_changes(lines[index - 1] if index else None, line))
    ]
    if view.top is not None:
        start = min(view.top, max(0, len(everything) - height))
    else:
        end = len(everything) - min(view.scroll, max(0, len(everything) - height))
        start = max(0, end - height)
    shown = everything[start : start + height]
    return shown + [" " * width] * (height - len(shown))


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(chatty_text, min_size=1, max_size=30),
    unread=st.integers(0, 5),
    height=st.integers(1, 30),
    width=st.integers(10, 120),
    scroll=st.integers(0, 400),
    top=st.one_of(st.none(), st.integers(0, 400)),
    days=st.lists(st.integers(0, 2), max_size=30),
)
def test_the_transcript_shows_exactly_the_rows_a_full_layout_would(texts, unread, height, width, scroll, top, days):
    view = make_view()
    # some lines a day or two later than the one before: day-change rules between them
    later = [sum(days[: n + 1]) * 86_400.0 for n in range(len(days))] + [sum(days) * 86_400.0] * len(texts)
    view.add(msg(text, time=T0 + later[n]) for n, text in enumerate(texts))
    if unread:
        view.scroll = 1  # scrolled up: what arrives now is unread, with the "new" rule above it
        view.add(msg(f"unread {n}") for n in range(unread))
    view.scroll, view.top = scroll, top
    rows, _max_scroll, _reached = rd._transcript(view, height, width)
    assert ["".join(chunk for chunk, _ in row) for row in rows] == slow_transcript(view, height, width)


def test_a_view_scrolled_to_the_oldest_of_a_cold_scrollback_lays_out_only_the_screen():
    view = make_view()
    view.add(msg(f"line {n} " + "word " * (n % 40)) for n in range(10_000))
    view.scroll = 10**9
    rd.LAYOUTS.clear()
    rd._height_cached.cache_clear()
    frame = rd.render(view, 50, 200)
    assert "line 0 " in row_texts(frame)[0]
    assert len(rd.LAYOUTS) <= 50  # the lines on screen, not 10,000


def test_lines_laid_out_are_kept_within_a_budget_of_cells_not_a_count():
    """A server may send 60,000-character lines (the frame limit allows them): each laid out is
    60,000 cells, 2.4 MB, and 16,384 of them were kept. The cache holds a budget of cells."""
    layouts = rd.LayoutCache(most_cells=1_000_000)
    for n in range(40):
        line = msg(f"{n} " + "x" * 60_000)
        assert len(layouts.rows(line, 100)) > 600
        assert layouts.cells <= 1_000_000
    assert 0 < len(layouts) <= 15
    huge = msg("y" * 200_000)  # more than an eighth of the budget: laid out, not kept
    layouts.rows(huge, 100)
    assert (huge, 100) not in layouts._kept
    kept = next(iter(layouts._kept))
    assert layouts.rows(*kept) is layouts.rows(*kept)  # a line kept is not laid out again


def test_a_day_rule_between_days_and_a_date_on_lines_replayed_from_another_day():
    import time as _time

    now = _time.time()
    yesterday = now - 86_400
    view = make_view()
    view.add([Line(kind="history", time=yesterday, sender="bob", text="from yesterday"), Line(kind="message", time=now, sender="bob", text="today")])
    rows = rd.render(view, 10, 80).text()
    moment = _time.localtime(yesterday)
    assert any(row.startswith(f"{moment.tm_mday} {rd.MONTHS[moment.tm_mon - 1][:3]} ") and "from yesterday" in row for row in rows)
    rule = f"── {rd.day_text(now)} ──"
    assert rule in "\n".join(rows)
    assert [i for i, row in enumerate(rows) if "from yesterday" in row][0] < [i for i, row in enumerate(rows) if rule in row][0]


def draw_like_the_screen(view: View, rows: int, cols: int) -> list[str]:
    """What screen.draw does around render: tell the view how lines measure at this width,
    render, clamp the scroll; the transcript pane's rows."""
    width = rd.transcript_width(view, cols)
    view.measure = lambda line: rd.line_height(line, width)
    view.day_rule_rows = rd.day_rule_rows
    frame = rd.render(view, rows, cols)
    view.clamp(frame.max_scroll, frame.reached_bottom)
    view.page_rows = max(1, frame.transcript_rows)
    return frame.text()[: frame.transcript_rows]


def test_a_page_scrolled_up_stays_put_when_the_first_unread_line_brings_the_new_rule():
    view = make_view()
    view.add(msg(f"burst line {n}") for n in range(100))
    draw_like_the_screen(view, 12, 80)
    view.page_up()
    view.page_up()
    page = draw_like_the_screen(view, 12, 80)
    assert "burst line 81" in page[-1]
    view.add([msg("while you were away")])  # a line and the "── new ──" rule above it
    assert draw_like_the_screen(view, 12, 80) == page
    view.add([msg("and more")])
    assert draw_like_the_screen(view, 12, 80) == page
    view.to_bottom()
    assert "── new ──" in draw_like_the_screen(view, 12, 80)[-3]


def first_news_read_then(later: int) -> View:
    """ann was scrolled up when "first news" came (the "new" rule above it), pressed End, and
    ``later`` more lines came: the rule stays above "first news" until ann says something."""
    view = make_view()
    view.add(msg(f"line {n}") for n in range(100))
    draw_like_the_screen(view, 12, 80)
    view.page_up()
    view.add([msg("first news")])
    view.to_bottom()
    view.add(msg(f"later {n}") for n in range(later))
    draw_like_the_screen(view, 12, 80)
    return view


def test_a_page_scrolled_up_stays_put_when_the_new_rule_moves_from_below_it():
    view = first_news_read_then(20)
    view.page_up()
    view.page_up()
    view.page_up()  # "first news" and its rule are now below the page
    page = draw_like_the_screen(view, 12, 80)
    assert not any("first news" in row or "── new ──" in row for row in page)
    view.add([msg("second news")])  # the rule leaves "first news" for it
    assert draw_like_the_screen(view, 12, 80) == page


def test_a_page_scrolled_up_stays_put_when_a_line_from_the_next_day_brings_a_day_rule():
    view = make_view()
    view.add(msg(f"line {n}") for n in range(100))
    draw_like_the_screen(view, 12, 80)
    view.page_up()
    view.add([msg("news")])
    page = draw_like_the_screen(view, 12, 80)
    view.add([msg("tomorrow's news", time=T0 + 86_400)])  # a day rule above it, and the line
    assert draw_like_the_screen(view, 12, 80) == page


@settings(max_examples=150, deadline=None)
@given(
    before=st.lists(chatty_text, min_size=1, max_size=40),
    arriving=st.lists(st.tuples(chatty_text, st.sampled_from(["today", "next day", "/history"])), min_size=1, max_size=10),
    pages=st.integers(1, 6),
    back_to_bottom_first=st.booleans(),
    home_first=st.booleans(),
    rows=st.integers(5, 30),
    cols=st.integers(24, 120),
)
def test_whatever_arrives_a_page_scrolled_up_stays_put(before, arriving, pages, back_to_bottom_first, home_first, rows, cols):
    """Any text, any width, any page (counted up from the newest line, or down after Home),
    lines a day apart or not, earlier /history lines, with or without an old "new" rule
    somewhere: the rows on screen stay the same while the reader is scrolled up."""
    view = make_view()
    view.add(msg(text) for text in before)
    draw_like_the_screen(view, rows, cols)
    if back_to_bottom_first:  # an earlier "new" rule, left in place by End
        view.page_up()
        view.add([msg("earlier news")])
        view.to_bottom()
        view.add(msg(text) for text in before)
        draw_like_the_screen(view, rows, cols)
    if home_first:
        view.to_top()
        draw_like_the_screen(view, rows, cols)
        for _ in range(pages - 1):
            view.page_down()
    else:
        for _ in range(pages):
            view.page_up()
    page = draw_like_the_screen(view, rows, cols)
    if view.following:
        return  # all of it fits on one screen (or paging down reached the newest line)
    when = T0
    first_news = True
    for number, (text, kind) in enumerate(arriving):
        if kind == "/history":  # an earlier page: one of two days before everything shown
            view.add([msg(text, kind="history", time=T0 - 86_400.0 * (1 + number % 2) + number)])
            assert draw_like_the_screen(view, rows, cols) == page
            continue
        when += 86_400.0 if kind == "next day" else 0.0
        view.add([msg(text, time=when)])
        if first_news and any("── new ──" in row for row in page):
            page = draw_like_the_screen(view, rows, cols)  # the old rule on screen moved away
        else:
            assert draw_like_the_screen(view, rows, cols) == page
        first_news = False


def test_a_page_after_home_stays_put_when_the_new_rule_moves_from_above_it():
    view = first_news_read_then(100)
    view.to_top()  # Home, then down past the rule: it is above the page
    for _ in range(13):
        draw_like_the_screen(view, 12, 80)
        view.page_down()
    page = draw_like_the_screen(view, 12, 80)
    assert view.top is not None and "later 15" in page[0]
    view.add([msg("second news")])  # the rule leaves "first news" for it
    assert draw_like_the_screen(view, 12, 80) == page


def test_a_page_after_home_stays_put_when_an_earlier_history_page_arrives():
    view = make_view()
    view.add(msg(f"line {n}", time=T0 + n) for n in range(100))
    draw_like_the_screen(view, 12, 80)
    view.to_top()
    draw_like_the_screen(view, 12, 80)
    view.page_down()
    page = draw_like_the_screen(view, 12, 80)
    assert view.top is not None and "line 9" in page[0]
    view.add(msg(f"older {n}", kind="history", time=T0 - 86_400 + n) for n in range(5))  # /history: yesterday's, above
    assert draw_like_the_screen(view, 12, 80) == page


def test_a_page_scrolled_up_from_the_bottom_stays_put_when_an_earlier_history_page_arrives():
    view = make_view()
    view.add(msg(f"line {n}", time=T0 + n) for n in range(100))
    draw_like_the_screen(view, 12, 80)
    view.page_up()
    page = draw_like_the_screen(view, 12, 80)
    view.add(msg(f"older {n}", kind="history", time=T0 - 86_400 + n) for n in range(5))
    assert draw_like_the_screen(view, 12, 80) == page


def contrast(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (1 = none, 21 = black on white)."""

    def luminance(rgb: tuple[int, int, int]) -> float:
        linear = [v / 255 / 12.92 if v <= 10 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


WHITE, BLACK = (255, 255, 255), (0, 0, 0)
TEXT_STYLES = {name: style for name, style in vars(rd).items() if isinstance(style, rd.Style) and style.bg is None and name != "PANE_EDGE"}


def test_text_on_the_terminals_own_background_reads_on_light_and_dark_themes():
    """A projector with a light theme: white, pale grey, gold or pastel text on the terminal's own
    background vanished (the teacher's own lines and the join address were #d0d0d0 on white).
    Text there is the terminal's own foreground, or a mid-tone readable on white and on black."""
    assert rd.OWN_TEXT.fg is None and rd.SYSTEM.fg is None and rd.OWN_NAME.fg is None
    colours = {name: style.fg for name, style in TEXT_STYLES.items() if style.fg is not None}
    colours.update({f"sender {fg}": fg for fg in rd.SENDER_PALETTE})
    for name, fg in colours.items():
        rgb = rd.xterm_rgb(fg)
        assert contrast(rgb, WHITE) >= 3.0 and contrast(rgb, BLACK) >= 4.0, (name, fg, contrast(rgb, WHITE), contrast(rgb, BLACK))
    for style in (rd.STATUS, rd.STATUS_ALERT, rd.TOO_SMALL):
        assert contrast(rd.xterm_rgb(style.fg), rd.xterm_rgb(style.bg)) >= 4.5


def test_on_an_8_colour_terminal_text_is_never_black_white_or_grey_turned_yellow():
    """TERM=xterm: the timestamps (grey) came out yellow, and direct messages and half the
    senders white, invisible on a light theme. Greys, and colours nearest black or white, become
    the terminal's own foreground; the status line is white on blue, not white on cyan."""
    for name, style in TEXT_STYLES.items():
        if style.fg is not None:
            assert rd.basic_foreground(style.fg) not in (0, 7), name
    assert all(rd.basic_foreground(fg) not in (0, 7) for fg in rd.SENDER_PALETTE)
    assert rd.basic_foreground(rd.TIME.fg) == rd.basic_foreground(rd.HISTORY.fg) == -1  # greys
    assert rd.basic_foreground(rd.ERROR.fg) == 1
    assert (rd.nearest_basic(rd.STATUS.fg), rd.nearest_basic(rd.STATUS.bg)) == (7, 4)
    # and never yellow or cyan (1.6:1 and 1.7:1 on xterm's own white), green, blue (2.2:1 on black)
    for fg in (*(style.fg for style in TEXT_STYLES.values() if style.fg is not None), *rd.SENDER_PALETTE):
        basic = rd.basic_foreground(fg)
        assert basic == -1 or min(contrast(rd.BASIC_RGB[basic], WHITE), contrast(rd.BASIC_RGB[basic], BLACK)) >= 3.0, fg


def test_the_status_line_says_until_when_we_are_muted_and_forgets_it_when_the_mute_ends():
    """A muted student saw the mute once in the transcript, then nothing: they typed, were
    refused, and scrolled to find out for how long. The status line now says it while it holds
    (the welcome's ``muted``, a mute or unmute naming us; a timed mute ends by our own clock,
    since the server says nothing when it runs out)."""
    import time

    from lanchat import events as ev

    now = [T0]
    view = make_view(name="bob", clock=lambda: now[0])
    session = view.session
    session.role = "client"
    status = lambda: row_texts(rd.render(view, 8, 100))[-2]  # noqa: E731
    until = time.strftime("%H:%M", time.localtime(-(-(T0 + 8 * 60) // 60) * 60))  # its end's minute, rounded up
    assert session.mute_ends_at() is None
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob"), muted=8))
    assert f"│ muted until {until} │" in status(), status()
    assert session.mute_ends_at() == T0 + 8 * 60  # the full screen wakes up then to draw it away
    now[0] += 8 * 60  # the mute ran out: the server sends nothing
    assert "muted" not in status() and session.mute_ends_at() is None
    session.on_event(ev.Moderated(action="mute", by="ann", name="BOB", time=now[0]))  # until unmuted
    assert "│ muted │" in status() and session.mute_ends_at() is None  # nothing to wake up for
    session.on_event(ev.Moderated(action="mute", by="ann", name="cat", minutes=5, time=now[0]))  # someone else
    assert "│ muted │" in status()
    session.on_event(ev.Moderated(action="unmute", by="ann", name="bob", time=now[0]))
    assert "muted" not in status()
    session.on_event(ev.Moderated(action="mute", by="ann", name="bob", minutes=3, time=now[0]))
    assert "muted until" in rd.status_text(view, 30), rd.status_text(view, 30)  # kept when narrow, before the count
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))  # a rejoin's welcome: not muted now
    assert "muted" not in status()
    for minutes in (ev.MAX_WIRE_INT, -5):  # a hostile server's numbers: no end to show or to wake up for, no crash
        session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob"), muted=minutes))
        assert "│ muted │" in status() and session.mute_ends_at() is None
    session.on_event(ev.Moderated(action="mute", by="ann", name="bob", minutes=ev.MAX_WIRE_INT, time=now[0]))
    assert "│ muted │" in status() and session.mute_ends_at() is None


def test_a_64_column_projector_keeps_the_tls_address_beside_an_unread_direct_only_if_short():
    """What the teacher's guide says of the projector's status line in a TLS room (its checklist,
    "Before class"): a short address stays beside "1 direct", a long one gives way to it."""
    def line(where: str) -> str:
        session = Session(name="teacher", role="host", where=where, members=["teacher", "ann", "bob", "cy"], projector=True)
        session.unread_directs = 1
        return rd.status_text(View(session), 64)

    assert line("10.0.0.5:3580 (TLS)") == " teacher │ 10.0.0.5:3580 (TLS) │ 4 here │ projector │ 1 direct "
    assert line("192.168.1.20:3580 (TLS)") == " teacher │ 4 here │ projector │ 1 direct unread (/r answers) "
    assert line("192.168.1.20:3580") == " teacher │ 192.168.1.20:3580 │ 4 here │ projector │ 1 direct "


def test_the_unix_rooms_join_command_is_one_row_on_a_64_column_projector():
    """The host of README's colour room (`serve --unix /tmp/mood.sock --bot colour`) read on a
    64-column screen '17:07   join with: python -m lanchat connect --unix' and the path on the
    row below: a triple click copied a command without its socket. The command now has a line
    of its own, as a TCP room's, and fits."""
    from lanchat.cli.serve import _unix_banner

    view = make_view(name="hal")
    view.add([Line(kind="system", time=T0, text=text.strip()) for text in _unix_banner("/tmp/mood.sock", "full-duplex", "")])
    rows = row_texts(rd.render(view, 12, 64))
    assert any(row.rstrip().endswith("  python -m lanchat connect --unix /tmp/mood.sock") for row in rows), rows


def test_whose_turn_stays_in_the_status_line_when_both_names_are_long():
    """A host named Maximiliana_Vanderbilt_Ochoa waiting for Bartholomew_Fitzgerald_Okonkwo99 on a
    64-column projector read ' Maximiliana_Vanderbilt_Ochoa │ host │ 127.0.0.1:58009 │ 3 here ':
    the turn, which README says stays longest, did not fit whole, so it went and the address
    stayed. The holder's name is shortened instead; with room, it is whole."""
    long_name = "Bartholomew_Fitzgerald_Okonkwo99"
    view = make_view(name="Maximiliana_Vanderbilt_Ochoa", mode="turn", turn=long_name,
                     members=["Maximiliana_Vanderbilt_Ochoa", long_name, "bob"])
    narrow = rd.status_text(view, 64)
    assert "waiting for Bartholomew\u2026" in narrow, narrow
    assert text_fits(narrow, 64)
    assert f"waiting for {long_name}" in rd.status_text(view, 120)
    assert "\u2026" not in rd.status_text(view, 120)
    view.session.turn = "bob"  # a short name is never shortened
    assert "waiting for bob" in rd.status_text(view, 64)


def text_fits(text: str, width: int) -> bool:
    return rd.text_width(text) <= width


def test_the_unix_rooms_join_command_names_the_socket_from_any_folder(tmp_path, monkeypatch):
    """`serve --unix mood.sock` said 'python -m lanchat connect --unix mood.sock': pasted in a
    terminal in another folder, 'no lanchat server at mood.sock (the path does not exist)'."""
    from lanchat.cli.serve import _unix_banner

    monkeypatch.chdir(tmp_path)
    command = _unix_banner("mood.sock", "full-duplex", "")[1]
    assert command == f"  python -m lanchat connect --unix {tmp_path / 'mood.sock'}"


def test_a_narrow_status_line_keeps_the_name_whole_beside_a_find_or_the_scrolled_marker():
    """At 40 columns a /find's status line read " an find line: no match (^F older, Esc)": the
    name cut to make room for the keys. The keys go first now; where there is room, all of it."""
    view = make_view(mode="duplex", members=["ann", "bob"])
    view.finding = "line"
    assert row_texts(rd.render(view, 8, 40))[-2].startswith(" ann ")
    assert row_texts(rd.render(view, 8, 40))[-2].rstrip().endswith(" find line: no match")
    assert row_texts(rd.render(view, 8, 80))[-2].endswith(" find line: no match (^F older, Esc) ")
    view = make_view(name="bartholomew_the_third", mode="duplex", members=["ann", "bob"])
    view.page_rows = 2
    view.add(msg(f"line {n}") for n in range(10))
    view.page_up()
    status = row_texts(rd.render(view, 8, 36))[-2]
    assert status.startswith(" bartholomew_the_third ") and status.rstrip().endswith(" scrolled up"), status


def test_the_new_lines_marker_keeps_its_alert_colour_on_a_narrow_status_line():
    """Scrolled up with new lines below, on a window too narrow for the name and the marker:
    " \u25bc 3 new " lost its alert colour (the short form of the tail was drawn plain)."""
    view = make_view(name="bartholomew_the_third", mode="duplex", members=["ann", "bob"])
    view.page_rows = 2
    view.add(msg(f"line {n}") for n in range(10))
    view.page_up()
    view.add(msg(f"new {n}") for n in range(3))
    for cols in (30, 80):
        status = rd.render(view, 8, cols).rows[-2]
        assert "".join(chunk for chunk, _style in status).endswith(" \u25bc 3 new "), cols
        assert {style for _chunk, style in status[-len(" \u25bc 3 new ") :]} == {rd.STATUS_ALERT}, cols


def test_a_transfers_short_form_does_not_push_out_the_hosts_address():
    """The teacher at a narrow projector window (40-50 columns) sending the slides: the short
    form of the upload ('send #12 7%') was kept before the host's address, which students read
    off the screen to connect, so the address went while the file was on its way. A transfer
    ranks after the address (README, The screen), its short form as well."""
    from lanchat.files import Progress

    now = [10.0]
    members = ["teacher"] + [f"s{number}" for number in range(20)]
    view = View(Session(name="teacher", role="host", where="192.168.1.20:3580", mode="duplex", members=members))
    progress = Progress(direction="send", label="chapter3_exercises.pdf", total=40_000_000, started=10.0, file_id="12", clock=lambda: now[0])
    progress.advance(2_800_000, 10.6)
    now[0] = 10.6
    view.session.progress = {"send:12": progress}  # type: ignore[attr-defined]
    assert rd.status_text(view, 40) == " teacher │ 192.168.1.20:3580 │ 21 here "
    assert rd.status_text(view, 53) == " teacher │ 192.168.1.20:3580 │ 21 here │ send #12 7% "
    assert rd.status_text(view, 64) == " teacher │ host │ 192.168.1.20:3580 │ 21 here │ send #12 7% "
    assert rd.status_text(view, 100).endswith(" │ send #12 chapter3_exercises.pdf 7% 4.5 MiB/s ")


def test_the_hosts_sending_mark_does_not_push_out_the_hosts_address():
    """The teacher at a narrow projector window while students fetch the slides: 'sending
    slides.pdf to 2' is a transfer as any other, after the head count and the address students
    read off the screen to connect (README, The screen); where the whole does not fit, 'sending to 2'."""
    members = ["teacher"] + [f"s{number}" for number in range(20)]
    view = View(Session(name="teacher", role="host", where="192.168.1.20:3580", mode="duplex", members=members))
    fetching = [("s1", "slides.pdf", 40, False, None), ("s2", "slides.pdf", None, False, None)]
    view.session.fetching_here = lambda: fetching  # type: ignore[attr-defined]
    assert rd.status_text(view, 40) == " teacher │ 192.168.1.20:3580 │ 21 here "
    assert rd.status_text(view, 55) == " teacher │ 192.168.1.20:3580 │ 21 here │ sending to 2 "
    assert rd.status_text(view, 100).endswith(" │ 21 here │ sending slides.pdf to 2 ")


def test_a_narrow_status_line_still_counts_the_lines_held_for_the_turn():
    """A line typed out of turn leaves the input line and waits (client.send_typed); the status
    line counts them. On a 64-column projector the whole count did not fit and went: what bob
    typed was then nowhere on the screen. Its short form stays ("2 held")."""
    from lanchat import events as ev
    from lanchat.unconfirmed import HeldForTurn

    view = View(Session(name="bob", role="client", where="192.168.1.20:3580", mode="turn", turn="amy", members=["amy", "bob", "cy"], topic="fractions"))
    held = HeldForTurn()
    held.hold(ev.Say(text="me first"))
    view.session.progress = {"held": held}  # type: ignore[attr-defined]
    assert "1 line you typed waits for your turn" in rd.status_text(view, 80)
    held.hold(ev.Me(text="waves"))
    assert "2 lines you typed wait for your turn" in rd.status_text(view, 80)
    narrow = rd.status_text(view, 64)
    assert "2 held" in narrow and "waiting for amy" in narrow and text_fits(narrow, 64), narrow


@pytest.mark.parametrize("width", [40, 45, 50, 55, 60])
def test_a_40_to_60_column_status_line_still_counts_the_lines_held_for_the_turn(width):
    """Under 64 columns (a laptop's split window, a phone over ssh) the count went even in its
    short form: it ranked after the head count ("4 here") and the short form ("2 wait for your
    turn") took 23 columns, so at 40-60 columns the status line said whose turn it was and how
    many were here, and nothing of the two lines the student had typed, whose input line is
    empty. The count now ranks beside whose turn it is, its short form "2 held" (the notice's
    word: "held until it is your turn")."""
    from lanchat import events as ev
    from lanchat.unconfirmed import HeldForTurn

    session = Session(name="bobby", role="client", where="192.168.1.20:3580", mode="turn", turn="teach",
                      members=["amy", "bobby", "cy", "teach"], topic="fractions")
    view = View(session)
    held = HeldForTurn()
    held.hold(ev.Say(text="me first"))
    held.hold(ev.Me(text="waves"))
    session.progress = {"held": held}  # type: ignore[attr-defined]
    shown = rd.status_text(view, width)
    assert "waiting for teach" in shown and text_fits(shown, width), shown
    assert "2 held" in shown or "2 lines you typed wait for your turn" in shown, shown


def test_a_colour_is_named_in_everyday_words():
    """colour_words.py: the colour bot's swatch named for whoever cannot see its colour."""
    from lanchat.ui.colour_words import colour_words, suggestion_words

    named = {(0x2E, 0x8B, 0x57): "green", (0x00, 0x80, 0x80): "teal", (0x52, 0xE6, 0xB5): "light turquoise", (0x40, 0xE0, 0xD0): "turquoise", (0xFF, 0xC0, 0xCB): "pink", (0x8B, 0x45, 0x13): "brown",
             (0x80, 0x80, 0x00): "olive", (0x80, 0x80, 0x80): "grey", (0x00, 0x00, 0x80): "dark blue", (0xE6, 0xE6, 0xFA): "pale blue",
             (0x00, 0x00, 0x00): "black", (0xFF, 0xFF, 0xFF): "white", (0xFF, 0x45, 0x00): "orange", (0x80, 0x00, 0x80): "dark purple"}  # fmt: skip
    assert {rgb: colour_words(rgb) for rgb in named} == named
    assert suggestion_words("#2e8b57") == "green" and suggestion_words("no colour") is None and suggestion_words(None) is None
