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
        wait_for(lambda: bob.output.count(HELD) == 2, what="both held")
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
