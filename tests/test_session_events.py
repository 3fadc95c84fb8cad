"""session_events.py's table (SHOWN): what a participant's screen shows for each server event is
found by the event's exact type, where an isinstance chain used to decide (before 2eee482). These
tests keep the two assumptions that makes true: every event a server sends to the chat has its
row (or is some other edge's), and no event type is ever subclassed, or a subclass would find no
row and show nothing where the chain showed its parent's lines."""

from __future__ import annotations

import importlib
import pkgutil

import lanchat
from lanchat import events as ev
from lanchat.session import Session
from lanchat.session_events import SHOWN, lines_for

# Server events the chat's session never words: a transfer's own (client_files.py, which hands the
# session Offered and FileList only), a ping's answer (client.py), the key challenge and the
# room-starting notice (both before the chat: client.py's handshake).
NOT_THE_SESSIONS = {*ev.FILE_SERVER_ALL, ev.Pong, ev.Challenge, ev.Held} - {ev.Offered, ev.FileList}


def _every_module_loaded() -> None:
    for module in pkgutil.walk_packages(lanchat.__path__, "lanchat."):
        if module.name != "lanchat.__main__":
            importlib.import_module(module.name)


def test_every_event_a_server_sends_the_chat_has_its_row_in_shown():
    server_events = set(ev.SERVER_EVENTS.values())
    assert server_events - NOT_THE_SESSIONS <= set(SHOWN), sorted(c.__name__ for c in server_events - NOT_THE_SESSIONS - set(SHOWN))
    assert set(SHOWN) <= server_events  # nothing a server never sends


def test_no_event_type_in_shown_is_subclassed_anywhere_in_lanchat():
    _every_module_loaded()
    subclassed = {shown.__name__: [sub.__qualname__ for sub in shown.__subclasses__()] for shown in SHOWN}
    assert not {name: subs for name, subs in subclassed.items() if subs}


def test_an_event_the_client_does_not_know_shows_nothing_and_changes_nothing():
    session = Session(name="ann")
    before = dict(vars(session))
    assert lines_for(session, ev.Pong()) == [] and lines_for(session, object()) == []
    assert dict(vars(session)) == before
