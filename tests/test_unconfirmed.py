"""Typed lines the kernel took but the server never got: sent again after the rejoin, once.

Pure tests of unconfirmed.Unconfirmed (retire by echo, refusals, the bound) and pacing's
``ahead``; then the real programs through a relay (test_reconnect.Blip) that swallows what bob
sends, or what the server sends him, before the link dies (PROTOCOL.md, Rejoining).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Proc, TermProc, wait_for
from test_reconnect import Blip, serve_tcp

from lanchat import events as ev
from lanchat.pacing import SendPacer
from lanchat.unconfirmed import HeldForTurn, Unconfirmed


def said(unconfirmed: Unconfirmed) -> list[str]:
    return [line.text for line in unconfirmed.lines]  # type: ignore[attr-defined]


def echo(text: str) -> ev.Message:
    return ev.Message(sender="bob", text=text, time=1.0)


def test_an_echo_retires_its_line_and_every_line_before_it():
    unconfirmed = Unconfirmed()
    for text in ("a", "b", "c", "d"):
        unconfirmed.sent(ev.Say(text=text))
    assert unconfirmed.echoed(echo("a")) and said(unconfirmed) == ["b", "c", "d"]
    assert unconfirmed.echoed(echo("c")) and said(unconfirmed) == ["d"]  # b was refused: answered too
    assert not unconfirmed.echoed(echo("zzz")) and said(unconfirmed) == ["d"]  # not one of these
    assert not unconfirmed.echoed(ev.Emote(sender="bob", text="d", time=1.0))  # a /me is not a say
    assert unconfirmed.take() == [ev.Say(text="d")] and len(unconfirmed) == 0


def test_the_same_text_twice_is_retired_once_per_echo():
    unconfirmed = Unconfirmed()
    for _ in range(2):
        unconfirmed.sent(ev.Say(text="ok"))
    unconfirmed.echoed(echo("ok"))
    assert said(unconfirmed) == ["ok"]


def test_whispers_and_actions_are_matched_by_their_own_echo():
    unconfirmed = Unconfirmed()
    unconfirmed.sent(ev.Whisper(to="ANN", text="psst"))
    unconfirmed.sent(ev.Me(text="waves"))
    unconfirmed.sent(ev.Whisper(to="cat", text="psst"))
    assert not unconfirmed.echoed(ev.Direct(sender="bob", to="dan", text="psst", time=1.0))  # another's
    assert unconfirmed.echoed(ev.Direct(sender="bob", to="ann", text="psst", time=1.0))  # as the server writes the name
    assert unconfirmed.echoed(ev.Emote(sender="bob", text="waves", time=1.0))
    assert unconfirmed.echoed(ev.Direct(sender="bob", to="cat", text="psst", time=1.0, held=True))
    assert len(unconfirmed) == 0


def test_refusals_answer_the_oldest_line_and_a_mute_answers_all():
    unconfirmed = Unconfirmed()
    for text in ("a", "b", "c"):
        unconfirmed.sent(ev.Say(text=text))
    unconfirmed.refused()  # not your turn: the oldest was refused
    assert said(unconfirmed) == ["b", "c"]
    unconfirmed.muted()  # each in flight is refused too
    assert len(unconfirmed) == 0
    unconfirmed.refused()  # nothing waits: nothing to do


def test_lines_held_for_the_turn_go_one_per_turn_of_ours_and_a_refused_one_waits_again():
    """After a rejoin in a turn room (client.Reconnect.resend), the lines that need the turn wait
    for it: one goes on our turn, the next only once a ``turn`` frame has come (the turn has not
    moved yet when the echo comes), and one refused all the same waits again, first."""
    held = HeldForTurn()
    held.hold(ev.Say(text="typed while away"))
    held.ahead([ev.Say(text="sent before"), ev.Me(text="waves")])  # written before, unanswered: they go first
    assert held.text() == "3 lines you typed wait for your turn"
    assert held.due("turn", my_turn=False) == []
    first = held.due("turn", my_turn=True)
    assert first == [ev.Say(text="sent before")] and held.due("turn", my_turn=True) == []  # the turn has not moved
    assert not held.refused(ev.Say(text="sent before"))  # an equal line, not the one sent from here
    assert held.refused(first[0]) and held.text() == "3 lines you typed wait for your turn"  # not your turn after all
    assert held.due("turn", my_turn=True) == first
    held.turn_moved()  # a turn frame: the next may go, on our turn
    assert held.due("turn", my_turn=True) == [ev.Me(text="waves")] and held.text() == "1 line you typed waits for your turn"
    held.turn_moved()
    assert held.due("duplex", my_turn=True) == [ev.Say(text="typed while away")]  # the host made it duplex: all go
    assert not held and held.text() == ""
    held.hold(ev.Say(text="x"))
    assert held.drop() == 1 and not held and held.due("turn", my_turn=True) == []


def test_a_line_the_flood_limit_refused_is_tracked_once_as_sent_again():
    unconfirmed = Unconfirmed()
    for text in ("a", "b", "a"):
        unconfirmed.sent(ev.Say(text=text))
    unconfirmed.waits_again(ev.Say(text="a"))  # the first "a" waits in the pacer
    assert said(unconfirmed) == ["b", "a"]
    unconfirmed.waits_again(ev.Say(text="gone"))
    assert said(unconfirmed) == ["b", "a"]


def test_at_most_the_limit_waits_the_oldest_going_first():
    unconfirmed = Unconfirmed(limit=3)
    for number in range(5):
        unconfirmed.sent(ev.Say(text=str(number)))
    assert said(unconfirmed) == ["2", "3", "4"]
    assert unconfirmed.forgotten == 2  # said on rejoining: they cannot be checked nor sent again
    unconfirmed.echoed(ev.Message(sender="bob", text="3", time=1.0))
    assert unconfirmed.forgotten == 0 and said(unconfirmed) == ["4"]  # the server had them all
    for number in range(5, 9):
        unconfirmed.sent(ev.Say(text=str(number)))
    assert unconfirmed.take_forgotten() == 2 and unconfirmed.forgotten == 0


def test_lines_sent_again_go_before_every_waiting_line_in_order():
    pacer = SendPacer()
    pacer.allow(ev.Welcome(name="bob", mode="duplex", members=("bob",), flood_burst=2, flood_rate=10.0), 0.0)  # 1 at once
    assert pacer.send(ev.Say(text="sent"), 0.0)  # one token held back: the next ones wait
    assert not pacer.send(ev.Say(text="w1"), 0.0) and not pacer.send(ev.Say(text="w2"), 0.0)
    pacer.ahead([ev.Say(text="again1"), ev.Say(text="again2")])
    assert [e.text for e in pacer.waiting] == ["again1", "again2", "w1", "w2"]  # type: ignore[attr-defined]
    assert list(pacer.order) == sorted(pacer.order)  # places stay in order: a refusal finds its own
    released = [e.text for second in range(10, 14) for e in pacer.release(float(second))]  # type: ignore[attr-defined]
    assert released == ["again1", "again2", "w1", "w2"] and not pacer.waiting
    pacer.ahead([ev.Say(text="alone")])  # nothing waits: it simply waits first
    assert [e.text for e in pacer.release(20.0)] == ["alone"]  # type: ignore[attr-defined]


# ------------------------------------------------------------- the real programs, a dying link


@contextlib.contextmanager
def a_room(tmp_path: Path, *extra: str) -> Iterator[tuple[Proc, Blip]]:
    """A server with history, ann on it directly, and a relay for bob."""
    server, port = serve_tcp("--history", str(tmp_path / "h.sqlite3"), *extra)
    blip = Blip(("127.0.0.1", port))
    ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
    try:
        ann.expect(r"welcome, ann")
        yield ann, blip
    finally:
        for proc in (ann, server):
            proc.stop()
        blip.close()
    for proc in (ann, server):
        assert "Traceback" not in proc.output


@pytest.fixture
def room(tmp_path: Path) -> Iterator[tuple[Proc, Blip]]:
    with a_room(tmp_path) as ann_and_relay:
        yield ann_and_relay


class Bob:
    """bob through the relay: a script (plain, stdin piped) or the full screen."""

    def __init__(self, how: str, port: int) -> None:
        args = ("connect", "127.0.0.1", str(port), "--name", "bob")
        self.proc: Proc | TermProc = Proc(*args) if how == "script" else TermProc(*args, rows=30, cols=120)

    def say(self, text: str) -> None:
        self.proc.send(text + ("\n" if isinstance(self.proc, Proc) else "\r"))

    def expect(self, pattern: str, timeout: float = 10.0) -> None:
        self.proc.expect(pattern, timeout=timeout)

    @property
    def text(self) -> str:
        return self.proc.output if isinstance(self.proc, Proc) else self.proc.text


def count(proc: Proc, line: str) -> int:
    return sum(text.endswith(line) for text in proc.lines)


@pytest.mark.parametrize("how", ["script", "full screen"])
def test_lines_the_kernel_took_but_the_server_never_got_are_sent_again_once(room, how):
    """The Wi-Fi dies silently while bob types: his lines go into the socket, never to the
    server, then the link breaks. Once he is back they arrive, once each, in order, and he is
    told they were sent again."""
    ann, blip = room
    bob = Bob(how, blip.port)
    try:
        bob.expect(r"welcome, bob")
        ann.send("hello bob")
        bob.expect(r"ann: hello bob")
        blip.swallow("up")
        bob.say("typing into the void")
        wait_for(lambda: blip.has_swallowed("typing into the void"), what="the line in the dying link")
        bob.say("and a second line")  # typed after (two at once are one pasted message on the full screen)
        wait_for(lambda: blip.has_swallowed("and a second line"), what="both lines in the dying link")
        blip.cut()
        bob.expect(r"connection lost; retrying")
        blip.restore()
        bob.expect(r"2 lines you typed did not reach the server: sent again", timeout=20)
        ann.expect(r"bob: typing into the void$")
        ann.expect(r"bob: and a second line$")
        bob.say("after the rejoin")
        ann.expect(r"bob: after the rejoin$")
        assert [count(ann, ": typing into the void"), count(ann, ": and a second line")] == [1, 1], ann.output
        lines = ann.output.splitlines()
        assert next(i for i, t in enumerate(lines) if t.endswith("void")) < next(i for i, t in enumerate(lines) if t.endswith("second line"))
    finally:
        bob.proc.stop()
    assert "Traceback" not in bob.text


def test_a_line_the_server_got_whose_echo_was_lost_is_not_sent_again(room):
    """The server took bob's line and the link died with its echo: the rejoin's replay shows it
    arrived, so it is not sent again (it would show twice to everyone)."""
    ann, blip = room
    bob = Proc("connect", "127.0.0.1", str(blip.port), "--name", "bob")
    try:
        bob.expect(r"welcome, bob")
        ann.send("hello bob")
        bob.expect(r"ann: hello bob")
        blip.swallow("down")
        bob.send("heard, but its echo was lost")
        ann.expect(r"bob: heard, but its echo was lost$")
        wait_for(lambda: blip.has_swallowed("heard, but its echo was lost"), what="the echo in the dying link")
        blip.cut()
        bob.expect(r"connection lost; retrying")
        blip.restore()
        bob.expect(r"you missed nothing while away", timeout=20)  # its own line, replayed: shown as his, not missed
        bob.send("after the rejoin")
        ann.expect(r"bob: after the rejoin$")
        assert count(ann, ": heard, but its echo was lost") == 1, ann.output
        assert "reached the server" not in bob.output, bob.output
    finally:
        bob.stop()
    assert "Traceback" not in bob.output


def test_a_line_held_for_the_turn_before_the_drop_is_sent_once_on_the_turn(tmp_path):
    """In a turn-based room bob types out of turn: the line is held here for his turn (it was
    sent, refused and lost), never sent; the link then drops. Back, it is not taken for a line
    that may not have reached the server: it goes once, on his turn, after ann's."""
    with a_room(tmp_path, "--mode", "turn") as (ann, blip):
        bob = Proc("connect", "127.0.0.1", str(blip.port), "--name", "bob")
        try:
            bob.expect(r"welcome, bob")
            bob.send("out of turn")
            bob.expect(r"not your turn yet \(waiting for ann\): held until it is your turn")
            blip.cut()
            bob.expect(r"connection lost; retrying")
            blip.restore()
            bob.expect(r"you missed nothing while away", timeout=20)
            ann.send("ann speaking")
            ann.expect(r"bob: out of turn$")
            bob.expect(r"bob: out of turn$")
            assert "reached the server" not in bob.output and "not your turn:" not in bob.output, bob.output
            assert bob.output.index("ann: ann speaking") < bob.output.index("bob: out of turn")
            assert ann.output.count("bob: out of turn") == 1, ann.output
        finally:
            bob.stop()
        assert "Traceback" not in bob.output


def test_lines_held_during_a_rejoins_replay_do_not_make_the_loop_spin():
    """While the replay is under way the held lines do not go out (Reconnect.resend sends them
    after it): the loop's select must not be told one is due now, over and over."""
    from types import SimpleNamespace

    from lanchat.client import also_due

    pacer = SendPacer()
    pacer.ahead([ev.Say(text="held")])
    assert pacer.due(0.0) == 0.0  # with no limit, due at once once sending may go on
    reconnect = SimpleNamespace(offline=False, replaying=True, due=lambda: None)
    # the loop's own address check (watch_address) is due in 2 s, as ClientLoop starts it
    loop = SimpleNamespace(reconnect=reconnect, paced=SimpleNamespace(pacer=pacer), address_check_at=time.monotonic() + 2.0,
                           unconfirmed=Unconfirmed(), transfers=SimpleNamespace(receiving={}, sending={}))
    assert also_due(loop, None) > 1.0  # type: ignore[arg-type,operator]  # not at once: the address check's time
    reconnect.replaying = False
    assert also_due(loop, None) == 0.0  # type: ignore[arg-type]


def test_an_unanswered_line_whose_wait_woke_a_moment_early_is_still_said():
    """The wait for "sending 1 line you typed..." woke a few microseconds before the 2 s were up
    (epoll rounds): note_unanswered judged it not due, then also_due, a moment later, judged it
    past and asked for no wake at all, so the status line never said it (test_reconnect's
    full-screen test failed 1 run in 3). The loop comes round once more instead."""
    from types import SimpleNamespace

    from lanchat.client import also_due, note_unanswered
    from lanchat.unconfirmed import SHOW_UNANSWERED_AFTER

    pacer = SendPacer()
    reconnect = SimpleNamespace(offline=False, replaying=False, due=lambda: None)
    loop = SimpleNamespace(reconnect=reconnect, paced=SimpleNamespace(pacer=pacer, leave_when_sent=False), address_check_at=math.inf,
                           unconfirmed=Unconfirmed(), transfers=SimpleNamespace(status_line=True, receiving={}, sending={}),
                           session=SimpleNamespace(progress={}))  # fmt: skip
    loop.unconfirmed.sent(ev.Say(text="are you getting this?"))
    since = loop.unconfirmed.waiting_since(time.monotonic() - SHOW_UNANSWERED_AFTER - 0.001)  # written 2.001 s ago
    note_unanswered(loop, since + SHOW_UNANSWERED_AFTER - 1e-6)  # type: ignore[arg-type]  # the early wake: not yet
    assert "unanswered" not in loop.session.progress
    assert also_due(loop, None) == 0.0  # type: ignore[arg-type]  # past due by now: come round at once
    note_unanswered(loop, time.monotonic())  # type: ignore[arg-type]
    assert loop.session.progress["unanswered"].count == 1
    assert also_due(loop, None) is None  # type: ignore[arg-type]  # said: nothing more to wake for (an idle chat sleeps)


def test_a_held_line_refused_after_the_turn_moved_on_waits_again():
    """An operator's /pass (or a mute) moves the turn on just as our held line goes: the server
    handles the pass first, so its ``turn`` frame comes before the refusal. The line was shown
    refused ('not your turn: waiting for cat') and lost; it waits for our turn again, first."""
    held = HeldForTurn()
    held.hold(ev.Say(text="one"))
    held.hold(ev.Say(text="two"))
    first = held.due("turn", my_turn=True)
    held.turn_moved()  # the pass's turn frame
    assert held.refused(first[0]) and held.text() == "2 lines you typed wait for your turn"
    assert held.due("turn", my_turn=True) == first
    assert not held.refused(ev.Say(text="one"))  # an equal line, not the one sent from here


def test_held_lines_let_go_in_a_duplex_room_and_refused_once_it_is_turn_based_again_wait_in_order():
    """The host made the room duplex (every held line let go), then turn-based again before the
    server had them all: those it got after the switch come back refused as not-your-turn, and
    they were shown and lost. They wait for our turn again, before the ones the flood limit still
    held (put back when the mode changed, client.held_lines_after), in the order typed."""
    held = HeldForTurn()
    a, b, c = ev.Say(text="a"), ev.Say(text="b"), ev.Say(text="c")
    for line in (a, b, c):
        held.hold(line)
    assert held.due("duplex", my_turn=False) == [a, b, c]
    held.ahead([c])  # c still waited at the room's pace when the mode turned back
    held.turn_moved()
    assert held.refused(a) and held.refused(b)
    assert list(held.lines) == [a, b, c]
    assert held.due("turn", my_turn=True) == [a]
    held.turn_moved()
    assert held.refused(a) and list(held.lines) == [a, b, c]  # a /pass on its way: first again
    assert held.due("turn", my_turn=True) == [a]
    held.turn_moved()
    assert held.due("turn", my_turn=True) == [b]
    assert not held.refused(ev.Say(text="c"))  # an equal line, never let go from here


def test_lines_refused_before_the_room_went_duplex_do_not_skew_where_later_refusals_wait():
    """A line refused on our turn (it waits again, first), then the room made duplex (all let go)
    and turn-based again, and a line typed since waits: the let-go lines the room refuses come
    back before it, oldest first. The count of lines waiting again at the front outlived the
    duplex switch, so the first went in after the newer line."""
    held = HeldForTurn()
    a, b, c = ev.Say(text="a"), ev.Say(text="b"), ev.Say(text="c")
    held.hold(a)
    held.hold(b)
    (sent,) = held.due("turn", my_turn=True)
    assert held.refused(sent)  # a waits again, first
    assert held.due("duplex", my_turn=False) == [a, b]  # all let go
    held.hold(c)  # typed once the room was turn-based again
    assert held.refused(a) and held.refused(b)
    assert list(held.lines) == [a, b, c]


def test_a_q_typed_while_the_last_line_awaits_its_answer_says_why_it_waits():
    """A /q right after a line, while a flood limit holds, waits for the line's answer (a
    slow-down may send it back to wait: Paced.answers_awaited), up to 10 s when the room answers
    nothing (its link down, its machine asleep): it said nothing, and the person saw /q do
    nothing for 10 s, not told that /q again leaves now."""
    from types import SimpleNamespace

    from lanchat.client import Paced

    shown: list = []
    paced = Paced()
    paced.pacer.allow(ev.Welcome(name="ann", mode="duplex", members=("ann",), flood_burst=10, flood_rate=3.0), time.monotonic())
    loop = SimpleNamespace(paced=paced, quitting=False, outcome=None, unconfirmed=Unconfirmed(),
                           reconnect=SimpleNamespace(offline=False, replaying=False),
                           frontend=SimpleNamespace(show=shown.extend), session=SimpleNamespace(progress={}))  # fmt: skip
    loop.unconfirmed.sent(ev.Say(text="see you"))
    assert paced.wait_before_leaving(loop, typed=True, when_sent=False)  # type: ignore[arg-type]
    assert [line.text for line in shown] == ["leaving once the room answers your last line; /q again leaves now"]
    shown.clear()
    assert paced.wait_before_leaving(loop, typed=False, when_sent=True)  # type: ignore[arg-type]  # a script's end of input: silent
    assert shown == []


def test_a_leave_waiting_for_answers_does_not_spin_while_offline_or_while_the_pacer_holds_lines():
    """A leave waits for the answers of the lines written (Paced.answers_awaited) at most 10 s:
    past that, also_due asked for a wake at once, over and over, while the leave could not go
    yet: offline (the link dropped as too slow; the lines are sent again once back) or with
    lines the flood limit still holds (a slow-down's retry_after). The loop spun a CPU."""
    from types import SimpleNamespace

    from lanchat.client import ANSWERS_AWAITED_SECONDS, also_due

    pacer = SendPacer()
    now = time.monotonic()
    pacer.allow(ev.Welcome(name="ann", mode="duplex", members=("ann",), flood_burst=1, flood_rate=0.2), now)
    reconnect = SimpleNamespace(offline=True, replaying=False, due=lambda: now + 30.0)
    loop = SimpleNamespace(reconnect=reconnect, paced=SimpleNamespace(pacer=pacer, leave_when_sent=True), address_check_at=math.inf,
                           unconfirmed=Unconfirmed(), transfers=SimpleNamespace(status_line=False, receiving={}, sending={}),
                           session=SimpleNamespace(progress={}))  # fmt: skip
    loop.unconfirmed.sent(ev.Say(text="bye all"))
    loop.unconfirmed.waiting_since(now - ANSWERS_AWAITED_SECONDS - 1)  # written 11 s ago, never answered
    assert also_due(loop, None) > 20.0  # type: ignore[arg-type,operator]  # offline: the next try, not at once
    reconnect.offline = False
    pacer.ahead([ev.Say(text="one"), ev.Say(text="two")])
    pacer.release(time.monotonic())  # the burst's one token spent: the next in about 5 s
    assert also_due(loop, None) > 1.0  # type: ignore[arg-type,operator]  # the pacer's time, not at once


def test_a_line_refused_by_a_slow_down_waits_as_long_as_its_retry_after_says():
    """The client's side of a slow-down's retry_after (Paced.refused): the line it sends back to
    wait goes once the server's count ends, not a token later (1/3 s at 3 a second), which the
    server refused again and counted as a step towards a pause (SendPacer.told_to_wait)."""
    import json
    from types import SimpleNamespace

    from lanchat.client import Paced

    paced = Paced()
    paced.pacer.allow(ev.Welcome(name="ann", mode="duplex", members=("ann",), flood_burst=10, flood_rate=3.0), time.monotonic())
    written: list = []
    loop = SimpleNamespace(paced=paced, unconfirmed=Unconfirmed(), reconnect=None, _write=written.append, frontend=SimpleNamespace(),
                           transfers=SimpleNamespace(status_line=True), session=SimpleNamespace(progress={}))  # fmt: skip
    line = ev.Say(text="hello all")
    paced.send(loop, line)  # type: ignore[arg-type]
    assert written == [line]
    loop.unconfirmed.sent(line)
    refusal = ev.Error(code=ev.E_SLOW_DOWN, message="slow down", refused=json.dumps(line.to_json()), retry_after=2.0)
    before = time.monotonic()
    assert paced.refused(loop, refusal)  # type: ignore[arg-type]
    after = time.monotonic()
    assert list(paced.pacer.waiting) == [line]
    # read at some moment between before and after: 2 s from then, however long this process waited for a CPU
    due = paced.pacer.due(after, loop.unconfirmed.lines)
    assert due is not None and 2.0 - (after - before) - 0.001 <= due <= 2.0 + 0.001, (due, after - before)
