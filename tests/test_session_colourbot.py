"""Answering colourbot in a shared room: once you asked (/mood), your plain lines go to it,
not to everyone, until it says goodbye; the screen says so. Session is pure: no sockets."""

from __future__ import annotations

from lanchat import events as ev
from lanchat.colourbot import BOT_NAME
from lanchat.session import Outgoing, Session

T = 1_700_000_000.0


def bot_says(text: str, to: str = "ann") -> ev.Direct:
    return ev.Direct(sender=BOT_NAME, to=to, text=text, time=T)


def shared_room() -> Session:
    session = Session(name="ann")
    session.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann", BOT_NAME, "bob")))
    return session


def test_after_mood_the_answer_goes_to_the_bot_only_until_goodbye():
    session = shared_room()
    assert session.parse_input("hello all") == Outgoing(ev.Say(text="hello all"))
    assert session.parse_input("/mood") == Outgoing(ev.Whisper(to=BOT_NAME, text="/mood"))
    lines = session.on_event(bot_says("What mood are you in?"))
    assert "goes to colourbot only" in lines[-1].text  # the screen says how
    assert session.parse_input("sleepy") == Outgoing(ev.Whisper(to=BOT_NAME, text="sleepy"))
    assert session.parse_input("/say back soon") == Outgoing(ev.Say(text="back soon"))
    session.on_event(bot_says("Happy with it? (Y/N)"))
    assert session.parse_input("yes") == Outgoing(ev.Whisper(to=BOT_NAME, text="yes"))
    lines = session.on_event(bot_says("Great choice, ann! Enjoy #1E90FF. Type /mood for another colour."))
    assert lines[-1].text == "your lines go to the room again"
    assert session.parse_input("nice") == Outgoing(ev.Say(text="nice"))


def test_an_unasked_greeting_does_not_capture_what_you_type_but_says_how_to_answer():
    session = shared_room()
    lines = session.on_event(bot_says("What mood are you in?"))  # the greeting on joining
    assert "to answer colourbot privately: /mood YOUR MOOD" in lines[-1].text
    assert session.parse_input("hi bob") == Outgoing(ev.Say(text="hi bob"))
    assert len(session.on_event(bot_says("What mood are you in?"))) == 1  # said once


def test_alone_with_the_bot_the_room_is_the_conversation():
    session = Session(name="ann")
    session.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann", BOT_NAME)))
    session.parse_input("/mood")
    assert session.parse_input("sleepy") == Outgoing(ev.Say(text="sleepy"))  # seed 000's way


def test_seed_000_a_y_ends_the_client_also_after_mood():
    """README: 'As in the seed, a Y ends the client and the --once server then shuts down'. A
    user who began with /mood (as /help says) was told 'your lines go to the room again' and
    stayed, so the --once server never closed; the same goodbye now ends the client either way."""
    for first in ("/mood", "/mood happy", None):
        session = Session(name="ann")
        session.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann", BOT_NAME), once=True))
        if first:
            session.parse_input(first)
        lines = session.on_event(bot_says("Great choice, ann! Enjoy #1E90FF. Goodbye."))
        assert session.leave_requested, first
        assert lines[-1].text == "happy with the colour: leaving, as seed 000's client does"
        assert not session.bot_exchange
