"""In a turn-based room, the holder's laptop vanishes (lid closed, Wi-Fi gone: no FIN, no RST).

The class waits on the holder, so the server watches that one link closely (holder_watch.py,
transport.HOLDER_KEEPALIVE) and the turn moves on within seconds; before, the usual keepalive's
minute held it, and everyone read 'not your turn yet (waiting for bob)' of a laptop long gone.
A holder who is there but quiet (thinking) keeps the turn: their kernel answers the probes.

Real sockets through a network namespace of the test's own (helpers.network_namespace_or_skip);
bob's link is taken down there, so the server's packets to him go unanswered. The holder's
numbers are shortened for the test (1 s idle, 1 s apart, 3 s without an answer); the usual
ones stay as they are (a minute), so only the holder's watch can end his connection in time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from helpers import DEFAULT_TIMEOUT, RawClient, child_env, network_namespace_or_skip, running_server
from test_half_open import BOB

from lanchat import events as ev
from lanchat import transport
from lanchat.holder_watch import HolderWatch
from lanchat.session import Session

# BOB (test_half_open's script): joins, holds the turn (the first to join a turn room), says nothing

needs_namespace = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 for a network namespace")


def test_the_watch_names_the_new_holder_and_hands_the_last_one_back():
    watch = HolderWatch()
    assert watch.changes(None) == []
    assert watch.changes(3) == [(3, True)]
    assert watch.changes(3) == []  # each pass: nothing new, nothing to set
    assert watch.changes(5) == [(3, False), (5, True)]
    assert watch.changes(None) == [(5, False)]  # the room went duplex, or the holder left


def _turn_lines(session: Session, holder: str | None) -> list[str]:
    return [line.text for line in session.on_event(ev.Turn(holder=holder)) if line.text.startswith("turn:")]


def test_the_turn_coming_back_to_whoever_holds_it_is_said_once():
    """Once bob was gone ann was alone: the server names the holder after each line said, and
    ann read 'turn: your turn' twice in a row, under her line (--plain and the full screen).
    Reverted (session_events._turn's ``again``), the second assert fails."""
    ann = Session(name="ann")
    ann.on_event(ev.Welcome(name="ann", mode="turn", members=("bob", "ann"), turn="bob"))
    assert _turn_lines(ann, "ann") == ["turn: your turn"]  # bob lost: ann's turn
    assert _turn_lines(ann, "ann") == []  # after her line, hers again: no news
    assert _turn_lines(ann, "cy") == ["turn: waiting for cy"]  # (the full screen shows it in its status line)
    assert _turn_lines(ann, "ann") == ["turn: your turn"]
    # /mode duplex, then turn again: her turn, whoever held it before the switch, is news
    for mode in ("duplex", "turn"):
        ann.on_event(ev.Moderated(action="mode", by="hal", mode=mode, time=0.0))
    assert _turn_lines(ann, "ann") == ["turn: your turn"]


def _holding_bob(namespace: tuple[str, str, str, str], endpoint: transport.Endpoint) -> subprocess.Popen:
    name, our_address, _theirs, _link = namespace
    bob = subprocess.Popen(
        ["ip", "netns", "exec", name, sys.executable, "-c", BOB, our_address, str(endpoint.port)],
        stdout=subprocess.PIPE, env=child_env(),
    )  # fmt: skip
    assert bob.stdout is not None and bob.stdout.readline() == b"joined\n"
    return bob


@pytest.fixture
def namespace():
    with network_namespace_or_skip() as found:
        yield found


@needs_namespace
@pytest.mark.timeout(60)
def test_a_vanished_turn_holder_loses_the_turn_within_seconds_not_a_minute(namespace, monkeypatch):
    """bob holds the turn; his link goes down. ann's line, held for her turn, goes out once the
    server finds him gone: within the holder's watch (3 s here), where it took the usual
    keepalive's minute (USER_TIMEOUT_SECONDS, 60 s). Reverted (holder_watch's changes always
    []), ann waits the minute and this fails at 20 s."""
    name, our_address, _theirs, their_link = namespace
    monkeypatch.setattr(transport, "HOLDER_KEEPALIVE", (1, 1, 2, 3))
    with running_server("turn", host=our_address) as (_server, endpoint):
        bob = _holding_bob(namespace, endpoint)
        try:
            ann = RawClient(endpoint, "ann")
            assert ann.welcome is not None and ann.welcome.turn == "bob"
            subprocess.run(["ip", "-n", name, "link", "set", their_link, "down"], check=True, timeout=DEFAULT_TIMEOUT)
            ann.expect(ev.Left, timeout=20, name="bob", reason="lost")
            ann.expect(ev.Turn, holder="ann")
            ann.send(ev.Say(text="my answer"))
            ann.expect(ev.Message, sender="ann", text="my answer")
        finally:
            bob.kill()
            bob.wait(DEFAULT_TIMEOUT)


@needs_namespace
@pytest.mark.timeout(60)
def test_a_turn_holder_who_is_there_but_quiet_keeps_the_turn(namespace, monkeypatch):
    """The same close watch on a holder whose link is up: his kernel answers the probes, so
    three times the watch's limit of silence from him ends nothing."""
    monkeypatch.setattr(transport, "HOLDER_KEEPALIVE", (1, 1, 2, 3))
    with running_server("turn", host=namespace[1]) as (_server, endpoint):
        bob = _holding_bob(namespace, endpoint)
        try:
            ann = RawClient(endpoint, "ann")
            heard = ann.drain(timeout=9)  # bob says nothing all this while
            assert not [e for e in heard if isinstance(e, (ev.Left, ev.Turn))], heard
            ann.send(ev.Who())
            assert "bob" in ann.expect(ev.Roster).members  # type: ignore[attr-defined]
        finally:
            bob.kill()
            bob.wait(DEFAULT_TIMEOUT)
