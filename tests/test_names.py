"""The name rule (names.py): which names may be used and when two names are one person's.

Pure tests first (the key, the refusals), then the rule from the attacker's side on a real
server: a second student tries the teacher's name with a Cyrillic letter, in full width,
with a zero-width space or a tag character, and the room still serves the others.
"""

from __future__ import annotations

import importlib.util
import unicodedata

import pytest
from helpers import ROOT, RawClient, running_server
from hypothesis import given
from hypothesis import strategies as st

from lanchat import events as ev
from lanchat.names import ASCII_SKELETON, build_skeleton_table, name_key, name_problem
from lanchat.skeleton_table import PROTOTYPES, SOURCES
from lanchat.textsafe import visible

CYRILLIC_A = "\u0430"
CYRILLIC_IE = "\u0435"

_spec = importlib.util.spec_from_file_location("make_skeleton_table", ROOT / "tools" / "make_skeleton_table.py")
skeleton_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(skeleton_tool)


@pytest.mark.parametrize("same", ["Alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45", CYRILLIC_A + "lice", "A1ice", "\u0391lice"])
def test_look_alike_spellings_of_alice_are_one_name(same):
    assert name_key(same) == name_key("alice")


@pytest.mark.parametrize(("one", "other"), [("alice", "alicia"), ("ian", "jan"), ("tom", "torn"), ("zoe", "zoë"), ("李雷", "李電")])
def test_names_that_look_different_stay_different(one, other):
    assert name_key(one) != name_key(other)


def test_the_key_of_a_key_is_itself():
    for name in ["Alice", "TEACHER", "t" + CYRILLIC_IE + "acher", "Straße", "ὈΔΥΣΣΕΎΣ", "B0B", "ﬁsh"]:
        assert name_key(name_key(name)) == name_key(name)


@given(st.text(max_size=40))
def test_the_key_is_stable_for_any_text(text):
    key = name_key(text)
    assert name_key(key) == key



# ------------------------------------------------------------------ the shipped look-alike table

FULL_TABLE = build_skeleton_table()  # the rule, from confusable_homoglyphs' JSON (slow: once)
LOOK_ALIKES = sorted({chr(code) for code in FULL_TABLE} | set(FULL_TABLE.values()))


def key_from_the_full_table(name: str) -> str:
    """The key as names.py computed it before the table was shipped: NFKC, case fold, skeleton
    from the table built out of the Unicode data, repeated until it settles."""

    def fold(text: str) -> str:
        return unicodedata.normalize("NFKC", text).casefold().translate(FULL_TABLE)

    key = fold(name)
    for _ in range(4):
        if fold(key) == key:
            break
        key = fold(key)
    return key


def test_the_shipped_table_is_what_the_generator_makes_from_the_unicode_data():
    assert len(SOURCES) == len(PROTOTYPES) == len(FULL_TABLE) > 3000
    assert dict(zip(map(ord, SOURCES), PROTOTYPES, strict=True)) == FULL_TABLE
    assert skeleton_tool.render() == (ROOT / "lanchat" / "skeleton_table.py").read_text(encoding="ascii")


def test_the_ascii_table_is_the_full_tables_ascii_part():
    ascii_part = {code: ord(proto) for code, proto in FULL_TABLE.items() if code < 128}
    assert {code: ord(proto) for code, proto in ASCII_SKELETON.items()} == ascii_part
    assert all(proto.isascii() for code, proto in FULL_TABLE.items() if code < 128)  # why ASCII names need no more


@given(st.text(max_size=40) | st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_every_text_gets_the_key_the_full_table_gives(text):
    assert name_key(text) == key_from_the_full_table(text)


# Characters that fold in odd ways: 18 letters with spaces (U+FDFA), marks that compose onto
# the letter before, Hangul jamo that join a syllable (also as compatibility and halfwidth jamo),
# a Bengali vowel sign that composes, Greek that case-folds further, ligatures, look-alikes.
ODD_PIECES = [
    "\ufdfa", "\ufdfb", "\u3300", "e", "\u0301", "\u0308", "\u0345", "\u0399", "\u03a3", "\u1100", "\u1161",
    "\u11a8", "\u314f", "\uffc2", "\uac00", "\u09c7", "\u09be", "\u1f88", "\u00df", "\ufb01", "\uff41",
    CYRILLIC_A, "I", "1", " ", "!", "\u2028", "\u00a0", "\u02d8", "\u1fed", "\u0f73", "\u0000",
]  # fmt: skip


@given(st.lists(st.sampled_from(ODD_PIECES), min_size=1, max_size=12), st.integers(min_value=12, max_value=400))
def test_a_long_text_is_keyed_in_pieces_as_it_is_whole(unit, times):
    """A long text (a message searched for a mention) is folded a piece at a time, each piece
    repeated folded once (names.text_key: 4,000 U+FDFA took 15 ms whole): the key must be the
    one folding it whole gives, however its pieces compose, join or fold further."""
    text = "".join(unit) * times
    assert name_key(text) == key_from_the_full_table(text)


def test_no_character_that_joins_the_one_before_starts_a_piece():
    """names.text_key cuts a text before each character that starts afresh: it must never cut
    before one that NFKC composes onto the character before it (the second of a composition,
    Hangul vowels and finals), nor before one whose compatibility form begins with such."""
    from lanchat.names import _starts_afresh

    joining = {chr(code) for code in (*range(0x1161, 0x1176), *range(0x11A8, 0x11C3))}  # Hangul's, by rule
    for code in range(0x110000):
        ch = chr(code)
        parts = unicodedata.decomposition(ch).split()
        if unicodedata.combining(ch):
            joining.add(ch)
        if len(parts) == 2 and not parts[0].startswith("<") and unicodedata.normalize("NFC", ch) == ch:
            joining.add(chr(int(parts[1], 16)))
    assert not any(_starts_afresh(ch) for ch in joining)
    assert not any(_starts_afresh(ch) for ch in map(chr, range(0x110000)) if unicodedata.normalize("NFKD", ch)[0] in joining)


@given(st.text(alphabet=st.sampled_from(LOOK_ALIKES) | st.characters(max_codepoint=127), min_size=1, max_size=12))
def test_names_made_of_look_alikes_get_the_key_the_full_table_gives(name):
    assert name_key(name) == key_from_the_full_table(name)


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("a\u200bb", "U+200B ZERO WIDTH SPACE"),
        ("ann\u200d", "U+200D ZERO WIDTH JOINER"),
        ("ann\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A"),
        ("\u202eann", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("ann\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("\u3164", "U+3164 HANGUL FILLER"),
        ("ann\ufe0f", "U+FE0F VARIATION SELECTOR-16"),
        ("so\u00adft", "U+00AD SOFT HYPHEN"),
    ],
)
def test_invisible_characters_are_refused_in_names_and_named(name, named):
    problem = name_problem(name)
    assert problem is not None and "invisible" in problem and named in problem


def test_ordinary_names_have_no_problem():
    for name in ["ann", "Zoë", "李雷", "x_y-z.9", "🙂", "a" * 32]:
        assert name_problem(name) is None


def test_a_byte_that_is_not_utf8_is_shown_as_that_byte_and_any_other_lone_surrogate_as_its_code():
    """Python keeps a file name's byte that is not UTF-8 as a lone surrogate (surrogateescape):
    passed through, the terminal's encoder made every one '?', so 'caf\xe9' and 'caf\xe8' looked alike."""
    import os

    assert visible(os.fsdecode(b"/tmp/caf\xe9.sqlite3")) == "/tmp/caf\\xe9.sqlite3"
    assert visible(os.fsdecode(b"\xff\x80 \x1b[2J ann")) == "\\xff\\x80 ^[[2J ann"
    assert visible("\ud800 \udfff \udc7f") == "<U+D800> <U+DFFF> <U+DC7F>"  # no byte: never a file name's
    from lanchat.textsafe import quoted  # a value quoted in a message: repr's, but such a byte as visible shows it

    assert quoted(os.fsdecode(b"caf\xe9")) == "'caf\\xe9'" and quoted(os.fsdecode(b"it's\xe9\x1b\\")) == '"it\'s\\xe9\\x1b\\\\"'
    assert quoted("ann's room") == repr("ann's room") and quoted(os.fsdecode(b"'\"\xe9")) == "'\\'\"\\xe9'"


def test_invisible_characters_in_messages_are_shown_not_passed_through():
    assert visible("pay\u200bpal") == "pay<U+200B>pal"
    assert visible("hi\U000e0041\U000e0042") == "hi<tags:AB>"  # tag characters: read out (test_display_spoofing)
    assert visible("a\u2060b\u3164c") == "a<U+2060>b<U+3164>c"
    # ...but an emoji joined by a zero-width joiner, or drawn as emoji, keeps its look
    assert visible("\U0001f469\u200d\U0001f4bb") == "\U0001f469\u200d\U0001f4bb"
    assert visible("\u2764\ufe0f") == "\u2764\ufe0f"
    assert visible("x\u200dy") == "x<U+200D>y"


# ------------------------------------------------------------ on a real server


@pytest.mark.parametrize(
    "impostor",
    ["t" + CYRILLIC_IE + "acher", "TEACHER", "\uff54\uff45\uff41\uff43\uff48\uff45\uff52", "Teacher"],
)
def test_nobody_can_take_the_teachers_name_with_look_alike_letters(impostor):
    with running_server() as (_server, endpoint):
        teacher = RawClient(endpoint, "teacher")
        student = RawClient(endpoint)
        student.send(ev.Hello(name=impostor))
        error = student.expect(ev.Error)
        assert error.code == ev.E_NAME_TAKEN and not error.fatal
        # the same connection can still join under a name of its own, and the room goes on
        student.send(ev.Hello(name="student"))
        student.expect(ev.Welcome)
        assert teacher.expect(ev.Joined).name == "student"  # the first to join after the teacher: no impostor
        student.send(ev.Say(text="hello"))
        teacher.expect(ev.Message, sender="student", text="hello")
        teacher.close()
        student.close()


GREEK_CAPITALS = str.maketrans("TEAHBOKMINPXYZ", "ΤΕΑΗΒΟΚΜΙΝΡΧΥΖ")  # each drawn as the Latin capital


@pytest.mark.parametrize(("teacher", "impostor"), [("hal", "haI"), ("Bill", "BiII"), ("Olga", "0lga"), ("mila", "miIa"),
                                                   ("Teacher", "TEACHER".translate(GREEK_CAPITALS)),
                                                   ("mike", "MIKE".translate(GREEK_CAPITALS)), ("bob", "BOB".translate(GREEK_CAPITALS)),
                                                   ("Teacher", "ΤΕΑ\u03f9ΗΕR"), ("class", "\u03f2lass")])
def test_a_capital_that_looks_like_another_letter_cannot_take_the_teachers_name(teacher, impostor):
    """From the attacker's side: the key folds case before it looks for look-alikes, so a capital
    I (which draws as an l) became an i, and 'haI' was a name of its own beside the teacher's
    'hal'; so was '0lga' beside 'Olga'. The names are now also compared as drawn, case kept:
    refused while the teacher is here, and, once the teacher's key owns the name, when not.
    'ΤΕΑCΗΕR' in Greek capitals (a Latin C) (and 'ΜΙΚΕ', 'ΒΟΒ') escaped both keys: the key folds them to small
    Greek letters, and as drawn 'Teacher' keeps its small Latin ones. In capitals they meet.
    'ΤΕΑϹΗΕR' with a lunate sigma (U+03F9, drawn as C) and 'ϲlass' (U+03F2) escaped even that:
    NFKC makes the lunate sigma a plain sigma before the look-alike table sees it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with running_server() as (_server, endpoint):
        owner = RawClient(endpoint, teacher, key=Ed25519PrivateKey.generate())
        ann = RawClient(endpoint, "ann")
        student = RawClient(endpoint)
        student.send(ev.Hello(name=impostor))
        error = student.expect(ev.Error)
        assert error.code == ev.E_NAME_TAKEN and f"it looks like {teacher!r}" in error.message
        owner.close()
        ann.expect(ev.Left, name=teacher)
        thief = RawClient(endpoint, key=Ed25519PrivateKey.generate())
        thief.hello(impostor)
        error = thief.expect(ev.Error)
        assert error.code == ev.E_NAME_OWNED and f"it looks like {teacher!r}" in error.message
        student.send(ev.Hello(name="student"))  # the room goes on
        student.expect(ev.Welcome)
        for client in (ann, student, thief):
            client.close()


def test_nobody_takes_the_colour_bots_name_with_a_capital_i():
    with running_server() as (_server, endpoint):
        for name in ("coIourbot", "COLOURBOT".translate(GREEK_CAPITALS)):  # each reads as the bot's name
            student = RawClient(endpoint)
            student.send(ev.Hello(name=name))
            assert student.expect(ev.Error).code == ev.E_BAD_NAME, name
            student.close()


def test_names_that_differ_only_in_case_are_still_one_name_and_others_still_differ():
    from lanchat.names import look_key

    assert name_key("Ian") == name_key("ian") and look_key("haI") == look_key("hal")
    assert look_key("ian") != look_key("jan") and look_key("Ian") != look_key("ian")  # one name by name_key


@pytest.mark.parametrize("hidden", ["\u200b", "\U000e0074", "\u202e", "\u2060"])
def test_a_name_with_an_invisible_character_is_refused_with_the_reason(hidden):
    with running_server() as (_server, endpoint):
        teacher = RawClient(endpoint, "teacher")
        student = RawClient(endpoint)
        student.send(ev.Hello(name="teach" + hidden + "er"))
        error = student.expect(ev.Error)
        assert error.code == ev.E_BAD_NAME and "invisible" in error.message
        assert f"U+{ord(hidden):04X}" in error.message
        teacher.send(ev.Say(text="still here"))
        heard = []  # what the refused name caused for the teacher was queued before this echo
        while not (isinstance(event := teacher.expect(ev.Event), ev.Message) and event.text == "still here"):
            heard.append(event)
        assert not [e for e in heard if isinstance(e, ev.Joined)]
        teacher.close()
        student.close()


def test_a_whisper_to_a_look_alike_spelling_reaches_the_one_person():
    with running_server() as (_server, endpoint):
        alice = RawClient(endpoint, "alice")
        bob = RawClient(endpoint, "bob")
        bob.send(ev.Whisper(to=CYRILLIC_A + "LICE", text="psst"))
        alice.expect(ev.Direct, sender="bob", to="alice", text="psst")
        alice.close()
        bob.close()


def test_a_look_alike_with_a_capital_follows_renames_and_leaves():
    """The room finds a name as drawn through an index kept with joins, renames and leaves
    (Room.find_look), not by drawing every member's name at each join."""
    from lanchat.room import Room

    room = Room()
    room.handle(1, ev.Hello(name="ann"))
    room.handle(1, ev.Nick(name="hal"))
    (refused,) = room.handle(2, ev.Hello(name="haI"))  # a capital i: draws as the new name
    assert refused.event.code == ev.E_NAME_TAKEN and "it looks like 'hal'" in refused.event.message
    room.handle(3, ev.Hello(name="anI"))  # the old name's look is free again
    assert room.members[3].name == "anI"
    room.leave(1, "quit")
    room.handle(2, ev.Hello(name="haI"))  # and the new one's once it left
    assert room.members[2].name == "haI"
    room.handle(4, ev.Hello(name="Teacher"))  # in capitals too: Greek ones drawn as the Latin
    greek = "TEACHER".translate(GREEK_CAPITALS)
    (refused,) = room.handle(5, ev.Hello(name=greek))
    assert refused.event.code == ev.E_NAME_TAKEN and "it looks like 'Teacher'" in refused.event.message
    room.handle(4, ev.Nick(name="Prof"))
    room.handle(5, ev.Hello(name=greek))  # free once renamed
    assert room.members[5].name == greek


def test_a_name_that_reads_as_a_ban_number_is_refused():
    """/unban #1 means the ban /bans numbers 1, and a student named "#1" (or "#١", "＃12", "#l")
    made it mean two things: the teacher lifting his ban by name lifted someone else's. A name
    that reads as # and a number is refused; other names with # stay fine."""
    for name in ["#1", "#007", "＃12", "#١٢", "#l", "#I0"]:
        problem = name_problem(name)
        assert problem is not None and "/unban #" in problem, name
    for name in ["#", "#ann", "#1a", "a#1", "#lol", "1", "♯1"]:
        assert name_problem(name) is None, name


# ------------------------------------------------- names that read as the room's marks

# Each reads, in the roster and in /who, as "bob (op)", the room's mark of an operator: full-width
# brackets (U+FF08/U+FF09) carry their own space; small, superscript, subscript ones; ornaments
# drawn round that neither NFKC nor the confusables data make "(" (U+276A); ASCII; a square bracket.
MARK_LOOK_ALIKES = ["bob\uff08op\uff09", "bob\ufe59op\ufe5a", "bob\u207dop\u207e", "bob\u208dop\u208e",
                    "bob\u276aop\u276b", "bob(op)", "ann(host)", "bob[op]", "ann\u2474", "\u2768op\u2769"]  # fmt: skip
OTHER_SCRIPTS = ["Zo\u00eb", "\u674e\u96f7", "\u00d6mer", "\u0416\u0435\u043d\u044f", "\u0905\u092e\u093f\u0924", "ann-2", "<3", "x.y"]


def _first_bracket(name: str) -> str:
    return next(ch for ch in name if not (ch.isascii() and ch.isalpha()))  # the names above: ASCII letters and brackets


@pytest.mark.parametrize("name", MARK_LOOK_ALIKES)
def test_a_name_cannot_hold_a_bracket_of_any_form_and_the_reason_names_it(name):
    from lanchat.names import describe

    problem = name_problem(name)
    assert problem is not None and "brackets" in problem and describe(_first_bracket(name)) in problem, problem
    assert "'ann (host)'" in problem  # why: what the room marks names with


def test_names_in_other_scripts_with_no_bracket_still_have_no_problem():
    for name in OTHER_SCRIPTS:
        assert name_problem(name) is None, name


def test_nobody_joins_or_renames_as_a_name_that_reads_as_an_operators_or_the_hosts():
    """From the attacker's side: a student joined as 'bob（op）' (full-width brackets, which carry
    their own space), and the whole class's roster read 'bob（op）', an operator. Every such
    hello is refused with bad-name, the character named; so is a /nick to one; names in other
    scripts still join, and nobody heard of a join or a rename."""
    from lanchat.names import describe

    with running_server() as (_server, endpoint):
        teacher = RawClient(endpoint, "teacher")
        for name in MARK_LOOK_ALIKES:
            student = RawClient(endpoint)
            student.send(ev.Hello(name=name))
            error = student.expect(ev.Error)
            assert error.code == ev.E_BAD_NAME and not error.fatal, error
            assert "brackets" in error.message and describe(_first_bracket(name)) in error.message, error.message
            student.close()
        joined = [RawClient(endpoint, name) for name in OTHER_SCRIPTS[:3]]
        omer = joined[2]
        assert omer.welcome.name == "\u00d6mer"
        for name in MARK_LOOK_ALIKES[:6]:  # the round ones: /nick is refused as the hello was
            omer.send(ev.Nick(name=name))
            error = omer.expect(ev.Error)
            assert error.code == ev.E_BAD_NAME and describe(_first_bracket(name)) in error.message, error.message
        omer.send(ev.Say(text="still \u00d6mer"))
        heard = []
        while not (isinstance(event := teacher.expect(ev.Event), ev.Message) and event.text == "still \u00d6mer"):
            heard.append(event)
        assert event.sender == "\u00d6mer"
        assert [e.name for e in heard if isinstance(e, ev.Joined)] == OTHER_SCRIPTS[:3]
        assert not [e for e in heard if isinstance(e, ev.Renamed)]
        for client in (teacher, *joined):
            client.close()


def test_a_name_kept_from_before_the_rule_is_shown_as_it_was_and_refused_on_rejoin(tmp_path):
    """A history file from before the rule: 'bob（op）' owned by a key, and lines said under it.
    The room still starts, replays the lines with the sender as stored (a newcomer's screen
    draws them and the roster as before, nothing raised), and the key joining again as
    'bob（op）' is refused with bad-name: the same connection then joins as 'bob'."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import identity
    from lanchat.history import HistoryStore
    from lanchat.session import Session
    from lanchat.ui import render
    from lanchat.ui.view import View

    old, key = "bob\uff08op\uff09", Ed25519PrivateKey.generate()
    store = HistoryStore(tmp_path / "chat.sqlite3")
    store.claim(old, identity.public_bytes(key), time=1.0)
    store.append(time=1_700_000_000.0, sender=old, text="I am an operator")
    store.append(time=1_700_000_001.0, sender="bob(op)", text="me too")
    try:
        with running_server(history=store) as (_server, endpoint):
            ann = RawClient(endpoint, "ann")
            replayed = [ann.expect(ev.Message) for _ in range(2)]
            assert [(m.sender, m.text) for m in replayed] == [(old, "I am an operator"), ("bob(op)", "me too")]
            bob = RawClient(endpoint, key=key)
            bob.hello(old)
            error = bob.expect(ev.Error)
            assert error.code == ev.E_BAD_NAME and not error.fatal and "U+FF08 FULLWIDTH LEFT PARENTHESIS" in error.message
            bob.hello("bob")
            assert bob.expect(ev.Welcome).name == "bob"
            ann.expect(ev.Joined, name="bob")
            session = Session(name="ann", role="client", members=["ann", old, "bob"], host="hal", clock=lambda: 1_700_000_002.0)
            view = View(session)
            for event in replayed:
                view.add(session.on_event(event))
            view.show_roster = True
            screen = "\n".join(render.render(view, 24, 120).text())
            assert "I am an operator" in screen and old in screen
            ann.close()
            bob.close()
    finally:
        store.close()


def test_the_client_refuses_such_a_name_before_sending_it(capsys):
    """The client's own early checks are the same rule: `connect --name` and `/nick` say why at
    once, naming the character, and send nothing."""
    from lanchat.cli.args import build_parser
    from lanchat.session import Local, Outgoing, Session

    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["connect", "127.0.0.1:3580", "--name", "bob\uff08op\uff09"])
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "cannot be used: a name cannot hold brackets such as '（' (U+FF08 FULLWIDTH LEFT PARENTHESIS)" in line, line
    session = Session(name="bob", role="client", members=["bob"])
    done = session.parse_input("/nick bob\u207dop\u207e")
    assert isinstance(done, Local), done
    assert "a name cannot hold brackets such as '⁽' (U+207D SUPERSCRIPT LEFT PARENTHESIS)" in done.lines[0].text
    assert session.parse_input("/nick \u00d6mer") == Outgoing(ev.Nick(name="\u00d6mer"))


def test_a_nick_refused_for_its_brackets_comes_back_to_the_input_line_to_mend():
    """On the full screen `/nick bob(op)` was refused (brackets) and the line was gone: the student
    typed the whole command again, as a mistyped command (given back) never made them. Now it
    comes back to the input line, said so; mended there, it renames."""
    import re
    import sys

    if sys.platform == "win32":
        pytest.skip("needs a POSIX pseudo-terminal")
    from helpers import TermProc

    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        bob = TermProc("connect", f"127.0.0.1:{endpoint.port}", "--name", "bob", "--no-reconnect", rows=24, cols=80)
        try:
            bob.expect(r"bob │ client")
            bob.send("/nick bob(op)")
            bob.wait_screen(lambda rows: rows[-1].rstrip().endswith("/nick bob(op)"), what="the /nick typed")
            bob.send("\r")
            bob.expect_unfolded(re.escape("'bob(op)'cannotbeused:anamecannotholdbrackets") + r".*whatyoutypediskept")
            bob.wait_screen(lambda rows: rows[-1].rstrip() == "> /nick bob(op)", what="the /nick given back")
            bob.send("\x7f" * 4 + "_op\r")  # Backspace over "(op)", then the name it should be
            ann.expect(ev.Renamed, old="bob", new="bob_op")
        finally:
            bob.stop()
            ann.close()
