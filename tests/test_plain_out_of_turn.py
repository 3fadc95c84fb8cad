"""A line typed out of turn in --plain (no input line to keep it in, as the full screen has) waits
for the turn, said once, and goes on it; the chat's end says what never went. And the end of a
chat the server ended (the host's /q, a kick) says what was left typed, alike."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from helpers import Proc, TermProc, wait_for
from test_reconnect import Blip, serve_tcp

HELD = "not your turn yet (waiting for ann): held until it is your turn; /unsend drops it"


@contextlib.contextmanager
def turn_room(*bob_args: str) -> Iterator[tuple[Proc, Proc, Proc, Blip]]:
    """A turn room (no history): ann joins first and holds the turn; bob (--plain, through a
    relay that can cut his link) waits for her."""
    server, port = serve_tcp("--mode", "turn", "--no-history")
    blip = Blip(("127.0.0.1", port))
    ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann", "--plain")
    bob: Proc | None = None
    try:
        ann.expect(r"turn-based: your turn")
        bob = Proc("connect", "127.0.0.1", str(blip.port), "--name", "bob", "--plain", *bob_args)
        bob.expect(r"turn-based: waiting for ann")
        yield server, ann, bob, blip
    finally:
        for proc in (bob, ann, server):
            if proc is not None:
                proc.stop()
        blip.close()


def test_in_plain_a_line_typed_out_of_turn_is_held_and_goes_on_the_turn():
    """bob's line typed while ann held the turn was sent, refused ('not your turn: waiting for
    ann') and lost. Now it is held, said so in one line, and said on his turn, after ann's."""
    with turn_room() as (_server, ann, bob, _blip):
        bob.send("typed too soon")
        bob.expect(re.escape(HELD))
        ann.send("ann speaks")
        ann.expect(r"bob: typed too soon$")
        bob.expect(r"bob: typed too soon$")
        bob.expect(r"turn: waiting for ann")
        bob.send("/q")
        assert bob.wait() == 0
    assert ann.output.index("ann: ann speaks") < ann.output.index("bob: typed too soon")
    assert "not your turn:" not in bob.output, bob.output


def test_in_plain_a_teacher_who_switches_to_turns_before_asking_is_told_how_to_ask_now():
    """A quiz in --plain: teach typed /mode turn, then her question, and read only 'not your turn
    yet (waiting for mallory): held ...': the turn goes to the students first, and her question
    would go after the last answer. The full screen's refusal says how to say it now (0371732);
    --plain's now does too, for an operator only, and doing as it says sends the question first."""
    teach = Proc("serve", "--plain", "--name", "teach", "--host", "127.0.0.1", "--port", "0", "--no-announce", "--no-history")
    procs = [teach]
    try:
        port = teach.expect(r"listening on port (\d+)").group(1)
        for name in ("mallory", "bob"):
            procs.append(Proc("connect", "127.0.0.1", port, "--name", name, "--plain"))
            procs[-1].expect(rf"welcome, {name}")
        mallory, bob = procs[1:]
        teach.expect(r"bob joined \(3 here\)")
        teach.send("/mode turn")
        teach.expect(r"turn: waiting for mallory$")
        bob.expect(r"turn: waiting for mallory$")
        teach.send("Q1: how many bytes is the header?")
        teach.expect(re.escape("-!- not your turn yet (waiting for mallory): held until it is your turn; /unsend drops it"
                               "; to say it now: /mode duplex, then /mode turn") + "$")
        bob.send("4")
        bob.expect(re.escape("-!- not your turn yet (waiting for mallory): held until it is your turn; /unsend drops it") + "$")
        teach.send("/mode duplex")  # as the line says: the question goes at once
        mallory.expect(r"teach: Q1: how many bytes is the header\?$")
        teach.send("/mode turn")
        mallory.expect(r"turn: your turn$")
        mallory.send("8")
        bob.expect(r"mallory: 8$")
    finally:
        for proc in reversed(procs):
            proc.stop()
    assert mallory.output.index("teach: Q1") < mallory.output.index("mallory: 8"), mallory.output
    assert "/mode duplex" not in bob.output, bob.output  # a student's line is as it was


def test_in_plain_a_paste_of_lines_out_of_turn_is_said_in_full_once_and_counted_once():
    """A paste of three lines out of turn was three notices: the first in full, then 'held too:
    2 lines ...' and 'held too: 3 lines ...'. The lines typed together are counted once, after
    them; the first goes on the turn."""
    with turn_room() as (_server, ann, bob, _blip):
        bob.send("one\ntwo\nthree")  # one write: one read, as a paste is
        bob.expect(r"-!- held too: 3 lines wait for your turn; /unsend drops them$")
        ann.send("ann speaks")
        bob.expect(r"bob: one$")
        bob.send("/q")
        bob.wait()
    assert bob.output.count(HELD) == 1 and bob.output.count("held too:") == 1, bob.output


def test_in_plain_leaving_with_a_line_held_for_the_turn_says_what_was_not_sent():
    with turn_room() as (_server, ann, bob, _blip):
        bob.send("/me waves")
        bob.expect(re.escape(HELD))
        bob.send("/q")
        assert bob.wait() == 0
    assert "lanchat: you left the chat (1 line you typed was not sent)" in bob.lines, bob.output
    assert "lanchat: not sent: /me waves" in bob.lines, bob.output
    assert "bob waves" not in ann.output


def test_in_plain_a_dropped_link_without_reconnecting_says_the_held_lines_were_not_sent():
    """--no-reconnect: the held lines were not even counted when the connection was lost."""
    with turn_room("--no-reconnect") as (_server, _ann, bob, blip):
        bob.send("one")
        bob.send("two")
        wait_for(lambda: "held too: 2 lines wait for your turn; /unsend drops them" in bob.output, what="both held")
        assert bob.output.count(HELD) == 1  # the second only counted
        blip.cut()
        assert bob.wait() == 1
    assert "lanchat: disconnected: the connection to the server was lost (2 lines you typed were not sent)" in bob.lines, bob.output
    assert bob.lines[-2:] == ["lanchat: not sent: one", "lanchat: not sent: two"], bob.output


def _ends_with_a_draft(*plain: str) -> bytes:
    """teach (--plain) hosts; ann, at a real terminal, has typed 'half typed' when teach ends the chat."""
    teach = Proc("serve", "--plain", "--name", "teach", "--host", "127.0.0.1", "--port", "0", "--no-announce", "--no-history")
    ann: TermProc | None = None
    try:
        port = teach.expect(r"listening on port (\d+)").group(1)
        teach.expect(r"welcome, teach")
        ann = TermProc("connect", "127.0.0.1", port, "--name", "ann", *plain, rows=24, cols=80)
        ann.expect(r"welcome, ann" if plain else r"ann │ client")
        ann.send("half typed")
        ann.wait_screen(lambda rows: any(row.rstrip().endswith("half typed") for row in rows), what="typed")
        teach.send("/q")
        if not plain:
            ann.expect(r"press any key to leave")
            ann.send("x")
        assert ann.wait() == 0
        return bytes(ann.raw)
    finally:
        if ann is not None:
            ann.stop()
        teach.stop()


def test_on_the_full_screen_the_hosts_q_says_what_was_left_typed_as_a_kick_does():
    """After a kick the line left typed was printed back; after the host's /q it vanished with the screen."""
    raw = _ends_with_a_draft()
    assert b"lanchat: disconnected: the server shut down: the host closed the chat\r\nlanchat: what you were typing was not sent: half typed" in raw


def test_in_plain_at_a_terminal_the_hosts_q_says_what_was_left_typed():
    raw = _ends_with_a_draft("--plain")
    assert b"lanchat: disconnected: the server shut down: the host closed the chat\r\nlanchat: what you were typing was not sent: half typed" in raw


def test_in_plain_a_line_refused_because_the_turn_moved_on_its_way_waits_for_the_turn():
    """bob's line left on his turn, but the turn moved first (a /pass, the turn timeout): the
    room refused it ('not your turn: waiting for cat') and --plain lost it. It waits for his turn
    again, said so, and goes on it. A fake server (a real socket) plays the room."""
    from test_hostile_server import HostileServer, frame_of

    def said() -> int:
        return bytes(server.heard).count(b'"text":"my answer"')

    welcome = {"type": "welcome", "version": 1, "name": "bob", "mode": "turn", "members": ["cat", "bob"], "turn": "bob"}
    server = HostileServer(frame_of(welcome))
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--plain", "--no-typing", "--no-reconnect")
    try:
        bob.expect(r"turn-based: your turn")
        bob.send("my answer")
        wait_for(lambda: said() == 1, what="the line sent on his turn")
        server.then(frame_of({"type": "turn", "holder": "cat"}))
        server.then(frame_of({"type": "error", "code": "not-your-turn", "message": "not your turn: waiting for cat"}))
        bob.expect(r"-!- not your turn yet \(waiting for cat\): held until it is your turn; /unsend drops it$")
        assert said() == 1
        server.then(frame_of({"type": "turn", "holder": "bob"}))
        wait_for(lambda: said() == 2, what="the line sent again on his turn")
    finally:
        server.close()  # first: bob then ends at once, not after waiting for a server's goodbye
        bob.stop()
    assert "! not your turn: waiting for cat" not in bob.output, bob.output


def test_on_the_full_screen_a_me_typed_out_of_turn_waits_for_the_turn():
    """A /me typed out of turn on the full screen went through, was refused and lost. It waits
    for the turn now, said so with its text, as a message does and as in --plain."""
    from helpers import RawClient, running_server

    from lanchat import events as ev

    with running_server("turn") as (_server, endpoint):
        ann = RawClient(endpoint, "ann")  # first in: the turn is hers
        bob = TermProc("connect", endpoint.host, str(endpoint.port), "--name", "bob", rows=24, cols=100)
        try:
            bob.expect(r"bob │ client")
            bob.send("/me waves\r")
            bob.expect(r"not your turn yet \(waiting for ann\): '/me waves' held until it is")
            ann.send(ev.Say(text="ann speaks"))
            ann.expect(ev.Emote, sender="bob", text="waves")
            bob.send("/q\r")
            assert bob.wait() == 0
        finally:
            bob.stop()
    assert "not your turn:" not in bob.text
