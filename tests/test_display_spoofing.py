"""Display spoofing from the attacker's side: text that passes textsafe's control-character rule
but would make the screen show something else than what was sent. A student picks a name or a
message that draws like another person's, like a server notice, or over other lines; the server
refuses what no honest name needs, and both front ends show the rest so it cannot pass for
something else (a hostile or older server may still send it).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import RawClient, running_server

from lanchat import events as ev
from lanchat.names import name_problem
from lanchat.session import Line, Session
from lanchat.textsafe import visible
from lanchat.transport import Endpoint
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


# ------------------------------------------------ a character drawn over other lines


def cells_on_screen(*lines: Line, cols: int = 80) -> list[str]:
    """Every cell the full screen draws for ``lines``, as the text curses is given for it."""
    view = View(Session(name="ann", role="host", where="127.0.0.1:3580", members=["ann", "bob"]))
    view.add(list(lines))
    return [chunk for row in rd.render(view, 8, cols).rows for chunk, _style in row]


@pytest.mark.parametrize("mark", ["\u0301", "\u0489", "\u0e49", "\ufe0f", "\u1161"])
def test_a_stack_of_marks_on_one_letter_is_cut_to_a_few_and_a_count(mark):
    """From the attacker's side: 'a' and 3,000 combining marks is one cell to the layout, and a
    terminal stacks every mark on it, over the rows above and below ('Zalgo' text hiding other
    people's lines). Both front ends now show four marks and say how many more there were."""
    zalgo = "look" + ("a" + mark * 3000) + " here"
    cells = cells_on_screen(Line(kind="message", time=T0, sender="bob", text=zalgo))
    assert max(len(chunk) for chunk in cells) == 5  # the letter and four marks
    assert "a" + mark * 4 in cells
    assert "<+2996 marks> here" in "".join(cells)
    assert format_plain(Line(kind="message", time=T0, sender="bob", text=zalgo)).endswith("bob: looka" + mark * 4 + "<+2996 marks> here")
    assert visible("ti\u1ebfng vi\u1ec7t e\u0323\u0302 \u05e9\u05bc\u05c1\u05b8\u0591") == "ti\u1ebfng vi\u1ec7t e\u0323\u0302 \u05e9\u05bc\u05c1\u05b8\u0591"  # real writing is untouched


def test_a_chain_of_joined_emoji_is_cut_into_characters_of_at_most_four():
    """From the attacker's side: 1,000 emoji joined by zero-width joiners were one character two
    columns wide to the layout; a terminal that does not know the sequence draws all of them,
    over the rest of the screen. Joiners past the third in a chain are now shown (<U+200D>)."""
    woman = "\U0001f469"
    chain = "\u200d".join([woman] * 1000)
    assert max(chunk.count(woman) for chunk in cells_on_screen(Line(kind="message", time=T0, sender="bob", text=chain))) <= 4
    twelve = "\u200d".join([woman] * 12)
    assert max(chunk.count(woman) for chunk in cells_on_screen(Line(kind="message", time=T0, sender="bob", text=twelve))) == 4
    assert visible(twelve) == "\u200d".join([woman] * 4) + "<U+200D>".join(["", *[woman] * 8])
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # a real one stays one character
    kiss = "\U0001f469\U0001f3fb\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f468\U0001f3fc"
    assert visible(f"{family} and {kiss} and \U0001f469\u200d\U0001f4bb") == f"{family} and {kiss} and \U0001f469\u200d\U0001f4bb"


def terminal_rows(text: str, columns: int) -> list[str]:
    """What a terminal of ``columns`` shows of ``text``: each line cut where the width ends,
    the rest back at column 0 (as --plain's output is drawn)."""
    from wcwidth import wcwidth

    rows: list[str] = []
    for line in text.split("\n"):
        row, used = "", 0
        for ch in line:
            width = max(0, wcwidth(ch))
            if used + width > columns:
                rows.append(row)
                row, used = "", 0
            row, used = row + ch, used + width
        rows.append(row)
    return rows


def test_in_plain_mode_a_long_name_cannot_put_the_tail_of_a_message_at_column_0():
    """From the attacker's side: --plain at a terminal folds a message under its text, but under
    a name of 32 wide characters that hang is 75 columns, and the rows were 95 wide on an
    80-column terminal: the terminal wrapped their ends back to column 0, where mallory's
    '[10:41:02] hal: no test' read as a line of the teacher's. Rows now fit the terminal."""
    from lanchat.ui.plain import folded_plain

    name = "\uff37" * 32  # ＷＷＷ...: 64 columns
    text = "ab [10:41:02] hal: no test today, go home and get some rest everyone"
    shown = terminal_rows(folded_plain(Line(kind="message", time=T0, sender=name, text=text), 80), 80)
    assert shown[0].startswith("[") and not [row for row in shown[1:] if not row.startswith(" ")]
    assert all(rd.text_width(row) <= 80 for row in folded_plain(Line(kind="message", time=T0, sender=name, text=text), 80).split("\n"))


def test_plain_echo_of_a_mark_typed_after_a_space_is_rubbed_out_as_it_was_drawn():
    """--plain at a terminal echoes typed keys itself. A combining mark typed on its own after a
    space sits on that space (no dotted circle: it continues the line); Ctrl-W rubbing it out
    must take back the columns it took (none), not those of '◌́', or the next key lands on the
    space and the screen reads 'hix' while 'hi x' is sent (as it did after the dotted circle came
    in, until _erase was told where the mark sat)."""
    import io
    import os
    import select

    import pyte

    from lanchat.ui.plain import PlainFrontend

    master, slave = os.openpty()
    out = io.StringIO()
    front = PlainFrontend(Session(name="ann"), stdin_fd=slave, stdout=out, interactive=True)
    try:
        for keys in ("hi ", "\u0301", "\x17", "x"):  # each its own read, as a person types
            os.write(master, keys.encode())
            assert select.select([slave], [], [], 2.0)[0]
            front.read_input()
        screen = pyte.Screen(40, 3)
        pyte.Stream(screen).feed(out.getvalue())
        # (the mark itself stays drawn on the space: rubbing out no columns writes nothing, as ever)
        assert front.typing == "hi x" and screen.display[0].replace("\u0301", "").rstrip() == "hi x"
    finally:
        front.close()
        os.close(master)
        os.close(slave)


def test_ascii_text_is_shown_as_the_general_path_shows_it():
    """visible() takes ASCII text by a short path (no mark, joiner or circle can be in it: the
    general path cost 30 times as much on a 4,000-character line); it gives the same text."""
    every = "".join(map(chr, range(128)))
    for text in (every, "hello, class", "", " ", "a" * 4000, "\x1b[2J\tbye\n"):
        assert visible(text) == visible(text + "\u00e9")[:-1]  # the accent sends it the general way


@pytest.mark.parametrize("extra", ["\ufe0f" * 3, "\U0001f3fd\ufe0f\ufe0f", "\U0001f3fb" * 3], ids=["selectors", "tone-and-selectors", "tones"])
def test_a_chain_of_joined_emoji_padded_to_four_code_points_each_is_cut_too(extra):
    """From the attacker's side: the chain's cut counted an emoji between two joiners by its
    length (3 code points at most), so 200 emoji each padded with three selectors or skin tones
    (still one character to the layout, as the selectors stack on it) were one cell again."""
    woman = "\U0001f469"
    chain = "\u200d".join([woman + extra] * 200)
    assert max(chunk.count(woman) for chunk in cells_on_screen(Line(kind="message", time=T0, sender="bob", text=chain))) <= 4
    assert visible(chain).count("<U+200D>") == 199 - 3


def test_a_stack_of_skin_tones_on_one_character_is_cut_to_a_few_and_a_count():
    """From the attacker's side: a skin tone is drawn in the cell of the character before it, as
    a mark is, but was not counted as one: 'a' and 500 of them were one cell to the full screen,
    which a terminal draws as 500 swatches over the rest of the screen. Cut as marks are."""
    tone = "\U0001f3fd"
    stack = "look a" + tone * 500 + " here"
    assert max(len(chunk) for chunk in cells_on_screen(Line(kind="message", time=T0, sender="bob", text=stack))) <= 5
    assert visible(stack) == "look a" + tone * 4 + "<+496 marks> here"
    assert visible("\U0001f44d\U0001f3fd thanks") == "\U0001f44d\U0001f3fd thanks"  # one tone on its emoji, as ever


@pytest.mark.parametrize(
    "text",
    ["\u1100" * 300, "a" + "\uff9e" * 300, "\u0e01" + "\u0e33" * 300, "\u0600" * 300 + "a", "\ua960" * 300],
    ids=["hangul-initials", "halfwidth-voiced-marks", "thai-sara-am", "arabic-prepended", "old-hangul-initials"],
)
def test_a_run_unicode_joins_into_one_character_is_not_drawn_over_the_screen_as_one(text):
    """From the attacker's side: Unicode joins some runs into one character however long (300
    Hangul initial consonants, a letter and 300 half-width voiced marks, 300 Thai SARA AM, 300
    Arabic number signs before a letter), none of them marks or joiners: the full screen laid
    each out as one cell of two columns, and a terminal drew it 300 or 600 columns wide, over
    the rows below. A cluster longer than any real character is laid out a character at a time."""
    cells = cells_on_screen(Line(kind="message", time=T0, sender="bob", text=text), cols=60)
    assert max(len(chunk) for chunk in cells) <= rd.MAX_CLUSTER_CHARS


def test_the_longest_real_characters_are_still_one_cell():
    """A kiss with two skin tones (10 code points), a family of four, a Devanagari conjunct with
    its vowel sign, a letter with four marks: each still one character on the full screen."""
    for real in ("\U0001f469\U0001f3fb\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f468\U0001f3fc",
                 "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
                 "\u0938\u094d\u0924\u094d\u0930\u094d\u092f\u094b\u0902", "e\u0323\u0302\u0301\u0300"):  # fmt: skip
        assert [chunk for chunk, _width in rd.clusters(real)] == [real]


# ------------------------------------------------ a /me or a message that reads as a notice

# What the room says, as one student's client and nc hear it: joins, leaves, the turn, every
# moderation act, the topic, renames, away, the end. The attacker picks any name the server
# lets them take and any /me or message text, to print one of these lines to the class.
ROOM_SAYS: list[ev.Event] = [
    ev.Welcome(name="ann", mode="turn", members=("hal", "ann", "bob"), turn="bob", host="hal"),
    ev.Joined(name="cy", time=T0),
    *(ev.Left(name="cy", reason=reason, time=T0) for reason in ("quit", "lost", "dropped", "flooding")),
    ev.Roster(members=("hal", "ann", "bob")),
    ev.Turn(holder="ann"),
    ev.Turn(holder="bob"),
    *(ev.Moderated(action=a, by="hal", name="bob", reason="calm down", minutes=5, time=T0) for a in ("op", "deop", "mute", "unmute", "kick", "ban", "pass")),
    ev.Moderated(action="mode", by="hal", mode="duplex", time=T0),
    ev.Topic(text="lab 3", by="hal", time=T0),
    ev.Topic(text="", by="hal", time=T0),
    ev.Renamed(old="bob", new="rob", time=T0),
    ev.Renamed(old="ann", new="anna", time=T0),
    ev.Away(name="rob", reason="lunch", time=T0),
    ev.Away(name="rob", reason="", time=T0),
    ev.Error(code=ev.E_NOT_OPERATOR, message="only an operator can use /kick"),
    ev.Notice(code=ev.E_HISTORY, message="saved now: the ban on bob holds after a restart too"),
    ev.Fetched(id="7", name="slides.pdf", by="bob", count=3),  # to the offerer alone: who has her file
    ev.Shutdown(reason="class is over"),
]


def _said_by_the_room() -> list[Line]:
    session = Session(name="ann", role="client", where="127.0.0.1:3580", members=["ann"])
    lines = [line for event in ROOM_SAYS for line in session.on_event(event)]
    lines += session.help_lines()  # system lines: lanchat's own answers
    return [replace(line, time=T0) for line in lines if line.kind in ("notice", "system", "error")]


def _forgeries(shown: str, draw) -> list[str]:
    """Every line the attacker can make of ``shown``'s words: each word as their name, with the
    rest as a /me, or, its colon dropped, as a message; ``draw`` renders a sender's Line."""
    words = shown.split(" ")
    made = []
    for at, word in enumerate(words):
        rest = " ".join(words[at + 1 :])
        for kind, name in (("action", word), ("message", word.removesuffix(":"))):
            if name and name_problem(name) is None and rest:
                made.append(draw(Line(kind=kind, time=T0, sender=name, text=rest)))
    return made


def _screen_text(line: Line) -> str:
    prefix, suffix, _style = rd.line_parts(line)
    return "".join(text for text, _ in prefix) + visible(line.text) + "".join(text for text, _ in suffix)


@pytest.mark.parametrize("draw", [format_plain, _screen_text], ids=["plain", "screen"])
def test_no_name_and_me_or_message_prints_a_line_the_room_or_lanchat_says(draw):
    """A student named "the" typing "/me server shut down: class is over" printed, in --plain,
    exactly the real shutdown line ("[12:00:01] * the server shut down: class is over"), and
    on the full screen the same but for colour. Notices are marked "-!-" now (IRC's), a /me
    "* NAME", and no name can hold "!"."""
    said = _said_by_the_room()
    assert {line.kind for line in said} == {"notice", "system", "error"}
    for line in said:
        real = draw(line)
        assert real not in _forgeries(real, draw), real
    the = draw(Line(kind="action", time=T0, sender="the", text="server shut down: class is over"))
    assert the != draw(Line(kind="notice", time=T0, text="the server shut down: class is over"))


def test_nc_reads_no_me_or_message_as_a_line_the_room_says():
    from lanchat.textview import TextView

    view = TextView(stamp=lambda when: "12:00")
    said = [line for event in ROOM_SAYS if (line := view.describe(event)) is not None]
    assert len(said) >= len(ROOM_SAYS) - 1  # (the welcome's own join is not said)

    def draw(line: Line) -> str | None:
        event = ev.Emote if line.kind == "action" else ev.Message
        return view.describe(event(sender=line.sender, text=line.text, time=T0))  # type: ignore[call-arg]

    for real in said:
        assert real not in _forgeries(real, draw), real
        assert not real.startswith(("[", "* ")), real  # a stamp, a /me's mark: a person's lines start so


@pytest.mark.parametrize("name", ["-!-", "!", "wow!", "-\u01c3-", "\uff0d\uff01\uff0d", "\u2d51", "\u203c", "\ufe57"])
def test_no_name_holds_the_notice_mark_nor_anything_drawn_like_it(name):
    """"-!-" first in a message line ("[12:00:01] -!-: the server shut down") would read as a
    notice: "!" and its look-alikes (U+01C3, fullwidth, Tifinagh, U+203C, small form) are refused."""
    from lanchat.names import NOTICE_CHAR
    from lanchat.wording import NOTICE_MARK

    assert name_problem(name) == "a name cannot contain ! (lanchat marks its own notices with -!-)"
    assert NOTICE_CHAR in NOTICE_MARK  # the one rule and the one mark agree
    for shown in (format_plain(Line(kind="notice", time=T0, text="x")), _screen_text(Line(kind="notice", time=T0, text="x"))):
        assert NOTICE_MARK in shown


# ------------------------------------------------ the fast path keeps every limit


def marks_counted_everywhere(text: str) -> str:
    """The plain path the fast one stands beside: every run of five or more non-ASCII characters
    gone over by textsafe's loop, as before the fast path."""
    import re

    from lanchat.textsafe import MAX_MARKS_SHOWN, _cut_marks

    return re.sub(f"[^\\x00-\\x7f]{{{MAX_MARKS_SHOWN + 1},}}", _cut_marks, text)


def test_the_runs_looked_at_hold_every_mark_and_skin_tone_and_every_replaced_character_is_found():
    """The fast path skips what its two searches do not find: each must find every character it
    is about, in the running Python's Unicode tables (a newer Python adds marks)."""
    from lanchat.names import joins_previous
    from lanchat.textsafe import _ASCII_TABLE, MAX_MARKS_SHOWN, _mark_runs, _non_ascii

    extending = [chr(code) for code in range(0x80, 0x110000) if joins_previous(chr(code))] + [chr(c) for c in range(0x1F3FB, 0x1F400)]
    assert all(_mark_runs().fullmatch(ch * (MAX_MARKS_SHOWN + 1)) for ch in extending)
    table, stood_in, _ = _non_ascii()
    assert all(stood_in.fullmatch(chr(code)) for code in table)
    assert _ASCII_TABLE == {code: shown for code, shown in table.items() if code < 128}  # what an ASCII text meets of it
    assert not stood_in.search("漢字 café 😀 e\u0301 \ufe0f")  # what is shown as it is


def test_the_fast_path_shows_what_the_plain_path_shows():
    """Random text of marks (in and past the BMP), skin tones, emoji, joiners, CJK and ASCII:
    visible() with the fast path is what the loop over every non-ASCII run made of it."""
    import random

    from lanchat.textsafe import _marks_counted

    alphabet = "a \u0301\u0302\u0903\u20e3\u1161\ufe0f漢字é😀🎉\U0001f3fd\u200d\U0001d167\U00011046\U000e0101\U00020000"
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        assert _marks_counted(text) == marks_counted_everywhere(text), ascii(text)
    for text in ("漢字" * 2000, "look a" + "\u0301" * 3000 + " here", "ok 🎉🎉🎉🎉🎉🎉 " * 50, "a" + "\U0001d167" * 9):
        assert _marks_counted(text) == marks_counted_everywhere(text)
    assert visible("漢字" * 2000) == "漢字" * 2000


def test_a_run_of_invisible_characters_is_cut_to_a_few_and_a_count():
    """Each invisible character is shown as its stand-in (8-9 columns): a message of 4,000 of
    them, within the room's length limit, filled about 450 rows of every screen in the room.
    Now at most MAX_INVISIBLE_SHOWN in a row are shown, then how many more; fewer, each as before."""
    from lanchat.textsafe import MAX_INVISIBLE_SHOWN

    assert visible("a" + "\u200b" * 100 + "b") == "a" + "<U+200B>" * MAX_INVISIBLE_SHOWN + "<+96 invisible>b"
    assert visible("one\u200btwo\u202e") == "one<U+200B>two<U+202E>"  # one at a time: each shown
    mixed = "\u202e\u2066\u200b\u2060\u00ad\ufeff" * 700  # 4,200 of six kinds in a row
    assert visible(mixed) == "<U+202E><U+2066><U+200B><U+2060><+4,196 invisible>"
    assert visible("x" + "\U000e0101" * 5) == "x" + "<U+E0101>" * 4 + "<+1 invisible>"  # (variation selectors supplement)


def test_tag_characters_are_read_out_and_a_flag_of_england_reads_as_one():
    """Tag characters (U+E0020-U+E007E) each stand for an ASCII character and draw nothing: the
    tail of a subdivision flag (🏴 + 'gbeng' + U+E007F is England's) showed as seven stand-ins,
    and a message of 4,000 as 36,000 columns. A run is now shown as the text it stands for,
    at most MAX_TAG_TEXT_SHOWN characters of it: text hidden in tags is there to read."""
    tags = lambda text: "".join(chr(0xE0000 + ord(ch)) for ch in text)  # noqa: E731
    england = "\U0001f3f4" + tags("gbeng") + "\U000e007f"
    assert visible(f"go {england}!") == "go \U0001f3f4<tags:gbeng>!"
    assert visible("hi" + tags("ignore the teacher and say yes")) == "hi<tags:ignore the teach... 14 more>"
    assert visible(tags("A") * 4000) == "<tags:AAAAAAAAAAAAAAAA... 3,984 more>"
    assert visible("one " + tags("x")) == "one <U+E0078>"  # one alone: its stand-in, as before


def test_a_message_of_4000_invisible_characters_takes_one_row_of_a_classmates_screen(terms):
    """From the attacker's side, on a real full screen: mallory's one message of 4,000 tag
    characters and one of 4,000 zero-width spaces, then ann's line: bob's 24-row screen shows
    all three, each mallory line on one row (it was about 450 rows each, ann's line far below)."""
    from test_ui_pty import host, join

    _ann, port = host(terms)
    bob = join(terms, port, "bob")
    mallory = RawClient(Endpoint(host="127.0.0.1", port=port), "mallory")
    mallory.send(ev.Say(text="".join(chr(0xE0041 + n % 26) for n in range(4000))))
    mallory.send(ev.Say(text="\u200b" * 4000))
    bob.expect("mallory joined")
    _ann.send("after them\r")
    bob.expect("ann: after them")
    rows = [row for row in bob.lines if "mallory:" in row]
    assert rows == [row for row in rows if "<tags:ABCDEFGHIJKLMNOP... 3,984 more>" in row or "<+3,996 invisible>" in row], bob.lines
    assert len(rows) == 2, bob.lines
    mallory.close()
