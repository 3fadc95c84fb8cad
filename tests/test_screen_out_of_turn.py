"""A line typed out of turn on the full screen waits for the turn, as --plain's does
(client.send_typed): the input line empties, the transcript says which line waits, the status
line counts them, and each goes on a turn of ours, in order, once. Kept in the input line (as
it was), the next thing typed joined it: a student who then typed /q sent "me first/q".

A real headless turn room, amy (--plain) first in it, bob at the full screen in a pseudo-terminal."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator

import pytest
from helpers import Proc, TermProc, wait_for
from test_reconnect import serve_tcp

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

PROMPT = "[waiting for amy]"


@contextlib.contextmanager
def turn_room(*server_args: str) -> Iterator[tuple[Proc, Proc, TermProc]]:
    """A turn room: amy (--plain) joins first and holds the turn; bob's full screen waits for her."""
    server, port = serve_tcp("--mode", "turn", "--no-history", *server_args)
    amy = Proc("connect", "127.0.0.1", str(port), "--name", "amy", "--plain")
    bob: TermProc | None = None
    try:
        amy.expect(r"turn-based: your turn")
        bob = TermProc("connect", "127.0.0.1", str(port), "--name", "bob", rows=24, cols=80)
        bob_is_op = any(a == "--operator" and b == "bob" for a, b in zip(server_args, server_args[1:], strict=False))
        bob.expect(r"bob │ op" if bob_is_op else r"bob │ client")  # (an operator's role reads "op")
        amy.expect(r"bob joined")
        bob.wait_screen(lambda rows: rows[-1].startswith(PROMPT), what="bob waiting for amy")
        yield server, amy, bob
    finally:
        for proc in (bob, amy, server):
            if proc is not None:
                proc.stop()


def said(term: TermProc, text: str) -> None:
    """Wait until the screen shows ``text``, wherever the transcript folded it."""
    term.wait_screen(lambda rows: text in " ".join(" ".join(rows).split()), what=repr(text))


def enter(term: TermProc, text: str) -> None:
    """Type ``text``, wait until the input line shows it, press Enter."""
    term.send(text)
    term.wait_screen(lambda rows: rows[-1].rstrip().endswith(text), what=f"{text!r} typed")
    term.send("\r")


def test_a_held_lines_notice_quotes_it_as_typed_and_cut_short():
    """The full screen's notice says which line waits, as it was typed (a /me, a say starting
    with a slash as //path, escapes shown), cut when long; --plain's quotes nothing."""
    from lanchat import events as ev
    from lanchat.client import held_too, held_until_our_turn
    from lanchat.session import Session

    session = Session(name="bob")
    session.on_event(ev.Welcome(name="bob", mode="turn", members=("amy", "bob"), turn="amy"))
    assert held_until_our_turn(session) == "not your turn yet (waiting for amy): held until it is your turn; /unsend drops it"
    assert held_until_our_turn(session, ev.Me(text="waves")) == (
        "not your turn yet (waiting for amy): '/me waves' held until it is your turn; /unsend drops it")
    assert held_too(2, ev.Say(text="/etc/hosts")) == "'//etc/hosts' held too: 2 lines wait for your turn; /unsend drops them"
    assert held_too(3, ev.Say(text="one\ntwo\x1b[2J")).startswith("'one\\ntwo\\x1b[2J' held too")
    long = held_too(2, ev.Say(text="z" * 500))
    assert long.startswith("'" + "z" * 59 + "\u2026' held too") and len(long) < 120, long


def test_a_line_typed_out_of_turn_waits_for_the_turn_and_the_input_line_is_free_again():
    """bob types two lines out of turn: each leaves the input line, said with its text, and the
    status line counts them. What he types next is only itself (a /who, a /w, which go at once:
    a direct message never needed the turn), not glued to a line kept in the input line. Each
    held line goes on a turn of his, after amy has spoken, in order, once."""
    with turn_room() as (_server, amy, bob):
        enter(bob, "me first")
        bob.wait_screen(lambda rows: rows[-1].rstrip() == PROMPT and "1 line you typed waits for your turn" in rows[-2],
                        what="the input line empty, the line counted")
        said(bob, "not your turn yet (waiting for amy): 'me first' held until it is your turn; /unsend drops it")
        enter(bob, "and then this")
        bob.wait_screen(lambda rows: rows[-1].rstrip() == PROMPT and "2 lines you typed wait for your turn" in rows[-2],
                        what="two counted")
        said(bob, "'and then this' held too: 2 lines wait for your turn; /unsend drops them")
        bob.send("/w amy psst")  # the trap: this was "me first/w amy psst"
        bob.wait_screen(lambda rows: rows[-1].rstrip() == f"{PROMPT} /w amy psst", what="only the whisper typed")
        bob.send("\r")
        amy.expect(r"bob -> amy \(direct\): psst$")
        assert "me first" not in amy.output  # the whisper went at once; the held lines wait
        amy.send("amy one")
        amy.expect(r"bob: me first$")
        amy.expect(r"turn: your turn$")
        amy.send("amy two")
        amy.expect(r"bob: and then this$")
        bob.wait_screen(lambda rows: "for your turn" not in rows[-2], what="the count gone")
        bob.expect(r"bob: and then this")
        bob.send("/q\r")
        assert bob.wait() == 0
    out = amy.output
    assert out.index("amy: amy one") < out.index("bob: me first") < out.index("amy: amy two") < out.index("bob: and then this"), out
    assert out.count("bob: me first") == 1 and out.count("bob: and then this") == 1, out
    assert "/q" not in out and "/w" not in out, out
    assert "Traceback" not in bob.text


def test_leaving_with_a_line_held_says_it_was_not_sent_and_unsend_drops_them():
    """/unsend drops the lines held (the count said); Up brings a held line back as any line sent;
    /q with one held leaves at once (it goes on no turn) and the last words quote it, as --plain's do."""
    with turn_room() as (_server, amy, bob):
        enter(bob, "dropped one")
        said(bob, "'dropped one' held until it is your turn")
        enter(bob, "/unsend")
        said(bob, "1 line you typed was dropped, not sent (/unsend)")
        bob.wait_screen(lambda rows: "for your turn" not in rows[-2], what="the count gone")
        enter(bob, "never said")
        said(bob, "'never said' held until it is your turn")
        bob.send("\x1b[A")  # Up brings it back, as any line sent
        bob.wait_screen(lambda rows: rows[-1].rstrip() == f"{PROMPT} never said", what="Up")
        bob.send("\x15")  # Ctrl-U: and it is gone from the input line again (it still waits)
        bob.wait_screen(lambda rows: rows[-1].rstrip() == PROMPT and "1 line you typed waits" in rows[-2], what="Ctrl-U")
        enter(bob, "/q")
        assert bob.wait() == 0
        amy.send("amy speaks")
        amy.expect(r"bob left")
    last = bytes(bob.raw).replace(b"\r\n  ", b" ")
    assert b"lanchat: you left the chat (1 line you typed was not sent)" in last, last[-400:]
    assert b"lanchat: not sent: never said" in last, last[-400:]
    assert "never said" not in amy.output and "dropped one" not in amy.output, amy.output


def test_a_teacher_who_switches_to_turns_before_asking_is_told_how_to_say_it_now():
    """An operator's line held is told how to say it now (the turn goes to the students first),
    a student's is not; doing as it says sends the question first."""
    with turn_room("--operator", "bob") as (_server, amy, bob):
        enter(bob, "Q1: how many bytes is the header?")
        said(bob, "'Q1: how many bytes is the header?' held until it is your turn; /unsend drops it; to say it now: /mode duplex, then /mode turn")
        enter(bob, "/mode duplex")
        amy.expect(r"bob: Q1: how many bytes is the header\?$")
        enter(bob, "/mode turn")
        amy.expect(r"turn: your turn$")
        amy.send("8")
        bob.expect(r"amy: 8")
        bob.send("/q\r")
        assert bob.wait() == 0
    assert amy.output.index("bob: Q1") < amy.output.index("amy: 8"), amy.output


def test_a_line_refused_because_the_turn_moved_on_its_way_waits_for_the_turn_in_its_place():
    """bob's line left on his turn, but the turn moved first (a /pass, the turn timeout): the
    room refused it. The full screen put it back into the input line, where what he typed next
    joined it; now it waits for his turn, said so, first, and a line typed after it goes on the
    turn after. A fake server (a real socket) plays the room."""
    from test_hostile_server import HostileServer, frame_of

    def heard() -> list[str]:
        return re.findall(r'"text":"([^"]*)"', bytes(server.heard).decode("utf-8", "replace"))

    welcome = {"type": "welcome", "version": 1, "name": "bob", "mode": "turn", "members": ["cat", "bob"], "turn": "bob"}
    server = HostileServer(frame_of(welcome))
    bob = TermProc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--no-typing", "--no-reconnect", rows=24, cols=80)
    try:
        bob.expect(r"bob │ client")
        bob.wait_screen(lambda rows: rows[-1].startswith(">"), what="bob's turn")
        enter(bob, "my answer")
        wait_for(lambda: heard() == ["my answer"], what="the line sent on his turn")
        server.then(frame_of({"type": "turn", "holder": "cat"}))
        server.then(frame_of({"type": "error", "code": "not-your-turn", "message": "not your turn: waiting for cat"}))
        said(bob, "not your turn yet (waiting for cat): 'my answer' held until it is your turn; /unsend drops it")
        bob.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for cat]" and "1 line you typed waits" in rows[-2],
                        what="the input line empty, the line counted")
        enter(bob, "then this")
        bob.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for cat]" and "2 lines you typed wait" in rows[-2], what="two")
        server.then(frame_of({"type": "turn", "holder": "bob"}))
        wait_for(lambda: heard() == ["my answer", "my answer"], what="the refused line sent again, first")
        server.then(frame_of({"type": "turn", "holder": "cat"}))
        server.then(frame_of({"type": "turn", "holder": "bob"}))
        wait_for(lambda: heard() == ["my answer", "my answer", "then this"], what="the next on the next turn")
    finally:
        server.close()  # first: bob then ends at once, not after waiting for a server's goodbye
        bob.stop()
    assert "not your turn: waiting for cat" not in bob.text


def test_a_batch_that_ends_on_our_turn_does_not_show_the_turn_that_went_to_someone_else():
    """The screen shows "turn: your turn" and leaves others' turns to its status line. A held line
    goes the moment the turn is ours, so its echo, the turn passing to amy, amy's quick answer
    and the turn back came in one read; the filter read whose turn it was at the end of it (ours)
    and showed "turn: waiting for amy" in the transcript. Decided by each line's code now."""
    from lanchat import events as ev

    shown = screen_shows(ev.Welcome(name="bob", mode="turn", members=("amy", "bob"), turn="bob"),
                         [ev.Message(sender="bob", text="me first", time=1.0), ev.Turn(holder="amy"),
                          ev.Message(sender="amy", text="amy two", time=2.0), ev.Turn(holder="bob")])
    assert shown == [["me first", "amy two", "turn: your turn"]], shown


def screen_shows(welcome: object, *batches: list[object]) -> list[list[str]]:
    """What the full screen's transcript shows of each batch of events read together (a pure
    Session and Sending.answered, which decides which turn notices are news)."""
    from lanchat.session import Session
    from lanchat.ui.sending import Sending
    from lanchat.ui.view import View

    session = Session(name="bob")
    session.on_event(welcome)  # type: ignore[arg-type]
    sending = Sending(session, View(session))
    return [[line.text for line in sending.answered([line for event in batch for line in session.on_event(event)])]  # type: ignore[arg-type]
            for batch in batches]


def test_a_mute_that_drops_the_lines_held_says_which_they_were():
    """bob's lines typed out of turn left his input line (held for his turn); the operator mutes
    him, which drops them (client.held_lines_after: a muted member is passed over). The notice
    counted them only ("2 lines you typed were not sent: you are muted"): their text was nowhere
    on his screen. It quotes them now, as the notice that held them did."""
    with turn_room("--operator", "amy") as (_server, amy, bob):
        enter(bob, "first thought")
        said(bob, "'first thought' held until it is your turn")
        enter(bob, "/me waves")
        said(bob, "'/me waves' held too")
        amy.send("/mute bob")
        said(bob, "2 lines you typed were not sent: you are muted ('first thought', '/me waves')")
        bob.wait_screen(lambda rows: "held" not in rows[-2], what="the count gone")
        bob.send("/q\r")
        assert bob.wait() == 0
    assert "first thought" not in amy.output, amy.output


def test_a_turn_of_ours_gone_again_within_the_same_batch_is_not_announced():
    """The other side of the batch above: the turn came to bob and left again before the screen
    drew (an operator's /pass pressed twice, a pass over someone). deb1af3 showed each "turn: your
    turn" by its own code, so the transcript said "turn: your turn" while it was cy's: bob typed,
    and his line was held, "not your turn yet". Before deb1af3 the batch's end decided and hid it.
    A "turn: your turn" is shown unless another's turn follows it in the same batch."""
    from lanchat import events as ev

    shown = screen_shows(ev.Welcome(name="bob", mode="turn", members=("amy", "bob", "cy"), turn="amy"),
                         [ev.Message(sender="amy", text="amy one", time=1.0), ev.Turn(holder="bob"),
                          ev.Message(sender="amy", text="amy again", time=2.0), ev.Turn(holder="cy")],
                         [ev.Turn(holder="bob"), ev.Turn(holder="amy"), ev.Turn(holder="bob")])
    assert shown == [["amy one", "amy again"], ["turn: your turn"]], shown  # ours at the end: said once
