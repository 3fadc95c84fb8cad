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
