"""What irssi and WeeChat users reach for, on the pure Session: /r, /ignore, /joins, the host's
/q asking first, and the unread direct-message count."""

from __future__ import annotations

from lanchat import events as ev
from lanchat.session import Local, Outgoing, Quit, Session

T = 1_700_000_000.0


def room(name: str = "ann", role: str = "client", *members: str) -> Session:
    session = Session(name=name, role=role)
    session.on_event(ev.Welcome(name=name, mode="duplex", members=(name, *members)))
    return session


def test_r_replies_to_whoever_whispered_last_and_unread_counts_until_you_answer():
    ann = room("ann", "client", "bob", "cat")
    assert isinstance(ann.parse_input("/r hi"), Local)  # nobody yet: said, not sent
    ann.on_event(ev.Direct(sender="bob", to="ann", text="psst", time=T))
    ann.on_event(ev.Direct(sender="cat", to="ann", text="psst too", time=T))
    assert ann.unread_directs == 2
    assert ann.parse_input("/r yes?") == Outgoing(ev.Whisper(to="cat", text="yes?"))
    assert ann.unread_directs == 0
    ann.on_event(ev.Direct(sender="ann", to="bob", text="my own copy", time=T))
    assert ann.unread_directs == 0 and ann.last_direct_from == "cat"


def test_ignore_hides_messages_here_only_and_unignore_brings_them_back():
    ann = room("ann", "client", "bob")
    assert isinstance(ann.parse_input("/ignore BOB"), Local)  # names are case-blind
    assert ann.on_event(ev.Message(sender="bob", text="spam", time=T)) == []
    assert ann.on_event(ev.Direct(sender="bob", to="ann", text="spam", time=T)) == []
    assert ann.unread_directs == 0
    assert "bob" in ann.parse_input("/ignore").lines[0].text
    ann.parse_input("/unignore bob")
    assert ann.on_event(ev.Message(sender="bob", text="sorry", time=T))[0].text == "sorry"


def test_joins_off_hides_join_and_leave_lines_but_the_roster_still_changes():
    ann = room("ann", "client")
    ann.parse_input("/joins off")
    assert ann.on_event(ev.Joined(name="bob", time=T)) == [] and "bob" in ann.members
    assert ann.on_event(ev.Left(name="bob", reason="quit", time=T)) == [] and "bob" not in ann.members
    ann.parse_input("/joins on")
    assert "cat joined" in ann.on_event(ev.Joined(name="cat", time=T))[0].text


def test_the_hosts_q_asks_first_when_others_are_here():
    host = room("ann", "host", "bob", "colourbot")
    host.confirm_quit = True
    asked = host.parse_input("/q")
    assert isinstance(asked, Local) and "(bob)" in asked.lines[0].text  # the bot is not a person
    assert isinstance(host.parse_input("/q"), Quit)
    host._quit_armed = False
    host.parse_input("/q")
    host.parse_input("never mind")  # anything else: the question is off
    assert isinstance(host.parse_input("/q"), Local)
    assert isinstance(host.parse_input("/q!"), Quit)
    alone = room("ann", "host", "colourbot")
    alone.confirm_quit = True
    assert isinstance(alone.parse_input("/q"), Quit)
    scripted = room("ann", "host", "bob")  # a script's pipe: never asked
    assert isinstance(scripted.parse_input("/q"), Quit)
