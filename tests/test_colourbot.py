"""The colour bot's pure parts: links, suggestions, the per-person conversation, and how
Session and Room treat the bot. No sockets here; the real program is in test_colourbot_cli.py."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from faker import Faker

from lanchat import events as ev
from lanchat import session as session_module
from lanchat.colourbot import (
    ASK_HAPPY,
    ASK_MOOD,
    BOT_NAME,
    COMPUTER_HOPE_URL,
    DONE,
    ColourBot,
    colour_link,
    suggest_colour,
    suggestion_colour,
)
from lanchat.protocol import encode
from lanchat.room import TURN, Broadcast, Room, Send
from lanchat.session import Local, Outgoing, Session

ROOT = Path(__file__).resolve().parent.parent
HEX = re.compile(r"#([0-9A-F]{6})\b")


def seeded(seed: int = 7) -> Faker:
    fake = Faker()
    fake.seed_instance(seed)
    return fake


class RepeatingFake:
    """A stand-in Faker that always offers the same colours, to test ``avoid``."""

    def __init__(self, *colours: str) -> None:
        self.colours = list(colours)

    def hex_color(self) -> str:
        return self.colours.pop(0) if len(self.colours) > 1 else self.colours[0]


# ------------------------------------------------------------------- links


@pytest.mark.parametrize("given", ["a1b2c3", "#a1b2c3", "A1B2C3", "#A1b2C3", "  #a1b2c3 "])
def test_colour_link_accepts_any_case_with_or_without_hash(given):
    assert colour_link(given) == "https://www.computerhope.com/cgi-bin/htmlcolor.pl?c=A1B2C3"
    assert colour_link(given).startswith(COMPUTER_HOPE_URL)


@pytest.mark.parametrize("given", ["", "#12345", "1234567", "#12345G", "##123456", "red"])
def test_colour_link_refuses_what_is_not_six_hex_digits(given):
    with pytest.raises(ValueError, match="six hex digits"):
        colour_link(given)


def test_suggestion_colour_is_found_only_through_the_link():
    assert suggestion_colour(f"try #A1B2C3: {COMPUTER_HOPE_URL}a1b2c3") == "#A1B2C3"
    assert suggestion_colour("my favourite is #A1B2C3") is None
    assert suggestion_colour(f"{COMPUTER_HOPE_URL}A1B2") is None


# ------------------------------------------------------------- suggestions


def test_suggest_colour_is_six_uppercase_hex_digits_and_reproducible_with_a_seed():
    first = [suggest_colour(seeded(7)) for _ in range(2)]
    assert first[0] == first[1]  # same seed, same colour
    fake_a, fake_b = seeded(7), seeded(7)
    run_a = [suggest_colour(fake_a) for _ in range(20)]
    run_b = [suggest_colour(fake_b) for _ in range(20)]
    assert run_a == run_b
    assert all(re.fullmatch(r"[0-9A-F]{6}", colour) for colour in run_a)
    assert len(set(run_a)) > 15  # random, not one colour repeated
    assert [suggest_colour(seeded(8)) for _ in range(1)] != run_a[:1]


def test_suggest_colour_never_returns_an_avoided_colour():
    assert suggest_colour(RepeatingFake("#abcdef", "#123456"), avoid=["ABCDEF"]) == "123456"
    # avoid entries may carry '#' and any case
    assert suggest_colour(RepeatingFake("#abcdef", "#123456"), avoid=["#abcDEF"]) == "123456"
    # a fake stuck on one colour still yields a different one
    stuck = RepeatingFake("#ffffff")
    assert suggest_colour(stuck, avoid={"FFFFFF", "000000"}) not in {"FFFFFF", "000000"}
    fake = seeded(3)
    seen: list[str] = []
    for _ in range(50):
        seen.append(suggest_colour(fake, avoid=seen))
    assert len(set(seen)) == 50


# ------------------------------------------------------------ conversation


def test_the_seed_000_exchange_mood_then_n_then_y():
    bot = ColourBot(seeded(7))
    expected = [suggest_colour(f) for f in [seeded(7)]]  # the seeded bot's first colour
    hello = bot.greet("ann")
    assert "ann" in hello[0] and hello[-1] == "What mood are you in?"
    assert bot.state_of("ann") == ASK_MOOD

    first = bot.hear("ann", "cheerful")
    assert first[-1] == "Happy with it? (Y/N)"
    assert "cheerful" in first[0]
    colour = HEX.search(first[0]).group(1)
    assert colour == expected[0]
    assert colour_link(colour) in first[0]
    assert bot.state_of("ann") == ASK_HAPPY

    again = bot.hear("ann", "N")
    assert again[0].startswith("Here is another suggestion: #")
    assert again[-1] == "Happy with it? (Y/N)"
    second = HEX.search(again[0]).group(1)
    assert second != colour and colour_link(second) in again[0]
    assert bot.colour_of("ann") == second

    done = bot.hear("ann", "y")
    assert len(done) == 1 and second in done[0] and "/mood" in done[0]
    assert bot.state_of("ann") == DONE


@pytest.mark.parametrize("answer", ["maybe", "", "yes please", "ok"])
def test_any_other_answer_repeats_the_question_naming_y_and_n(answer):
    bot = ColourBot(seeded(7))
    bot.greet("ann")
    colour = HEX.search(bot.hear("ann", "calm")[0]).group(1)
    replies = bot.hear("ann", answer)
    assert replies == [f"Please answer Y or N: are you happy with #{colour}? (Y/N)"]
    assert bot.state_of("ann") == ASK_HAPPY and bot.colour_of("ann") == colour


@pytest.mark.parametrize("early", ["Y", "n", "Yes!", "/mood no"])
def test_a_y_or_n_before_any_colour_is_not_taken_for_a_mood(early):
    """Seed 000's Y and N answer a suggestion: a /y typed at "What mood are you in?" read "For
    your Y mood, try #17EAB5", a colour nobody asked for. Now the question is asked again, saying
    why, and the next word is the mood."""
    bot = ColourBot(seeded(7))
    bot.greet("ann")
    replies = bot.hear("ann", early)
    assert replies == ["Y and N answer a colour I suggest, and I have not suggested one yet. "
                       "What mood are you in? (any word will do: happy, sleepy, curious...)"]  # fmt: skip
    assert bot.state_of("ann") == ASK_MOOD and bot.colour_of("ann") is None
    assert "For your sunny mood, try #" in bot.hear("ann", "sunny")[0]
    assert bot.hear("ann", "yes", direct=False)[0].startswith("Great choice, ann!")


@pytest.mark.parametrize("answer,state", [("Yes!", DONE), ("  y ", DONE), ("NO.", ASK_HAPPY), ("nope", ASK_HAPPY)])
def test_answers_ignore_case_spaces_and_punctuation(answer, state):
    bot = ColourBot(seeded(7))
    bot.start("ann")
    first = bot.hear("ann", "calm")
    replies = bot.hear("ann", answer)
    assert bot.state_of("ann") == state
    assert "Please answer" not in replies[0]
    if state == ASK_HAPPY:
        assert HEX.search(replies[0]).group(1) != HEX.search(first[0]).group(1)


def test_n_never_repeats_a_colour_in_one_exchange():
    bot = ColourBot(RepeatingFake("#111111", "#111111", "#222222", "#111111", "#222222", "#333333"))
    bot.start("ann")
    colours = [HEX.search(bot.hear("ann", "odd")[0]).group(1)]
    for _ in range(2):
        colours.append(HEX.search(bot.hear("ann", "n")[0]).group(1))
    assert len(set(colours)) == 3


def test_mood_restarts_and_can_carry_the_mood():
    bot = ColourBot(seeded(7))
    bot.start("ann")
    bot.hear("ann", "calm")
    assert bot.hear("ann", "/mood") == ["What mood are you in?"]
    assert bot.state_of("ann") == ASK_MOOD
    replies = bot.hear("ann", "/MOOD very sleepy")
    assert "very sleepy" in replies[0] and replies[-1] == "Happy with it? (Y/N)"


def test_after_the_exchange_room_chatter_is_ignored_and_a_direct_message_gets_a_hint():
    bot = ColourBot(seeded(7))
    bot.start("ann")
    bot.hear("ann", "calm")
    bot.hear("ann", "Y")
    assert bot.hear("ann", "thanks!", direct=False) == []
    assert bot.hear("ann", "thanks!") == ["Type /mood when you would like a colour for your mood."]
    assert bot.hear("zed", "hello") == ["Type /mood when you would like a colour for your mood."]
    assert bot.hear("zed", "hello", direct=False) == []


def test_each_person_has_their_own_exchange_and_names_ignore_case():
    bot = ColourBot(seeded(7))
    bot.greet("ann")
    bot.greet("bob")
    bot.hear("ANN", "happy")
    assert bot.state_of("ann") == ASK_HAPPY and bot.state_of("bob") == ASK_MOOD
    bot.hear("bob", "grumpy")
    bot.hear("ann", "y")
    assert bot.state_of("ann") == DONE and bot.state_of("bob") == ASK_HAPPY
    bot.forget("Bob")
    assert bot.state_of("bob") is None


def test_a_long_mood_is_shortened_and_replies_fit_the_protocol_limit():
    bot = ColourBot(seeded(7))
    bot.start("ann")
    replies = bot.hear("ann", "x" * ev.MAX_TEXT_CHARS)
    assert "..." in replies[0] and len(replies[0]) < 200
    assert all(0 < len(reply) <= ev.MAX_TEXT_CHARS for reply in replies)


def test_seed_argument_seeds_the_injected_faker():
    a, b = ColourBot(Faker(), seed=11), ColourBot(Faker(), seed=11)
    for bot in (a, b):
        bot.start("ann")
    assert a.hear("ann", "calm") == b.hear("ann", "calm")


# ------------------------------------------------------- the pure core stays pure


def test_colourbot_imports_no_io_modules():
    tree = ast.parse((ROOT / "lanchat" / "colourbot.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"socket", "selectors", "asyncio", "threading", "curses", "os", "subprocess"}


def test_faker_is_imported_only_when_a_bot_is_made():
    code = (
        "import sys, lanchat.colourbot, lanchat.session, lanchat.__main__, lanchat.cli.serve\n"
        "assert 'faker' not in sys.modules, 'faker imported too early'\n"
        "lanchat.colourbot.ColourBot(seed=1)\n"
        "assert 'faker' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


# ----------------------------------------------------------- Session and Room


def session_with_bot(bot_here: bool = True) -> Session:
    session = Session(name="ann", clock=lambda: 100.0)
    members = ("ann", BOT_NAME) if bot_here else ("ann",)
    session.on_event(ev.Welcome(name="ann", mode="duplex", members=members))
    return session


@pytest.mark.parametrize(
    "typed,text",
    [("/mood", "/mood"), ("/mood  sleepy cat ", "/mood sleepy cat"), ("/y", "Y"), ("/N", "N"), ("/Mood", "/mood")],
)
def test_session_commands_whisper_the_bot(typed, text):
    assert session_with_bot().parse_input(typed) == Outgoing(ev.Whisper(to=BOT_NAME, text=text))


def test_session_commands_explain_when_there_is_no_bot():
    result = session_with_bot(bot_here=False).parse_input("/mood")
    assert isinstance(result, Local)
    assert result.lines[0].kind == "error" and "--bot colour" in result.lines[0].text


def test_help_lists_the_bot_commands():
    text = "\n".join(line.text for line in session_with_bot().help_lines())
    assert "/mood [MOOD]" in text and "/y  /n" in text and "/w colourbot TEXT" in text


def test_a_direct_suggestion_carries_its_colour_for_the_swatch():
    session = session_with_bot()
    suggestion = f"For your calm mood, try #1E90FF: {COMPUTER_HOPE_URL}1E90FF"
    (line,) = session.on_event(ev.Direct(sender=BOT_NAME, to="ann", text=suggestion, time=1.0))
    assert line.kind == "direct" and line.colour == "#1E90FF" and line.text == suggestion
    (plain,) = session.on_event(ev.Direct(sender=BOT_NAME, to="ann", text="Happy with it? (Y/N)", time=2.0))
    assert plain.colour is None
    assert "colour" in {f.name for f in session_module.Line.__dataclass_fields__.values()}


def hello(room: Room, cid: int, name: str) -> list:
    return room.handle(cid, ev.Hello(name=name))


def test_a_bot_is_a_member_but_not_a_person():
    room = Room(max_members=1, clock=lambda: 1.0)
    room.service_cids.add(1)
    assert isinstance(hello(room, 1, BOT_NAME)[0].event, ev.Welcome)
    assert room.ever_joined == 0 and room.people == 0  # the bot alone does not start --once
    assert isinstance(hello(room, 2, "ann")[0].event, ev.Welcome)  # the bot does not fill the room
    assert room.people == 1 and room.ever_joined == 1
    refused = hello(room, 3, "bob")
    assert refused[0].event.code == ev.E_ROOM_FULL
    assert refused[0].event.message == "the room is full (1 person); try later"
    room.leave(2, "quit")
    assert room.people == 0 and room.names == (BOT_NAME,)


def test_turn_based_mode_never_gives_the_bot_the_turn():
    room = Room(mode=TURN, clock=lambda: 1.0)
    room.service_cids.add(1)
    hello(room, 1, BOT_NAME)
    assert room.turn_holder is None
    hello(room, 2, "ann")
    assert room.turn_holder == 2
    room.handle(2, ev.Say(text="hi"))
    assert room.turn_holder == 2  # alone with the bot: ann keeps the turn
    hello(room, 3, "bob")
    room.handle(2, ev.Say(text="hi bob"))
    assert room.turn_holder == 3
    actions = room.handle(3, ev.Say(text="hi ann"))
    assert room.turn_holder == 2  # round the people, skipping the bot
    turn_frame = encode(ev.Turn(holder="ann"))
    assert any(isinstance(a, Broadcast) and a.frame == turn_frame for a in actions)
    room.leave(2, "quit")
    assert room.turn_holder == 3
    room.leave(3, "quit")
    assert room.turn_holder is None
    # the bot's whispers are not turns: it may answer whenever
    hello(room, 4, "cat")
    whisper = room.handle(1, ev.Whisper(to="cat", text="What mood are you in?"))
    assert isinstance(whisper[0], Broadcast) and room.turn_holder == 4
    assert not any(isinstance(a, Send) and isinstance(a.event, ev.Error) for a in whisper)


def test_the_host_never_holds_the_turn_alone_with_a_bot():
    room = Room(mode=TURN, clock=lambda: 1.0)
    room.host_cid = 1
    room.service_cids.add(2)
    hello(room, 1, "host")
    hello(room, 2, BOT_NAME)
    hello(room, 3, "ann")
    room.handle(3, ev.Say(text="over to you"))
    assert room.turn_holder == 1
    room.leave(3, "lost")
    assert room.turn_holder is None


def test_in_a_shared_room_the_greeting_is_one_whisper_and_the_exchange_is_open():
    bot = ColourBot(seeded(7))
    (hello,) = bot.greet("bob", alone=False)
    assert "bob" in hello and "/mood" in hello
    assert bot.state_of("bob") == ASK_MOOD  # a whispered mood is still the answer
    assert bot.hear("bob", "grumpy")[-1] == "Happy with it? (Y/N)"


@pytest.mark.parametrize("mood", ["angry", "excited", "Énervé", "upbeat", "anxious", "happy", "😀"])
def test_the_suggestion_names_the_mood_without_a_wrong_article(mood):
    """'For a angry mood' read as a slip on the projector: the article before a mood the student
    typed (any word, any language) cannot be chosen right, so the suggestion uses none."""
    bot = ColourBot(seeded(7))
    bot.start("ann")
    first = bot.hear("ann", mood)[0]
    assert first.startswith(f"For your {mood} mood, try #")
    assert not re.search(r"\bFor an? ", first)
