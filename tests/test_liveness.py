"""Is the room still there? The client's ping after a quiet spell (lanchat/liveness.py), the
server's pong, flood control from the pinger's side, and what a real client says to a room that
stops answering (PROTOCOL.md, Liveness). The stopped real server, the stalled link and the full
screen are in test_liveness_stop.py.
"""

from __future__ import annotations

import os
import socket
import time

import pytest
from helpers import Proc, RawClient, StandInServer, flat_out_sender, running_server, wait_for
from platform_shims import shimmed_env

from lanchat import events as ev
from lanchat import limits as lim
from lanchat import liveness
from lanchat.liveness import Liveness, refuses_a_ping
from lanchat.protocol import Connection, LocalProtocolError, Role, encode

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- the client's side, pure


def test_no_ping_to_a_server_whose_welcome_does_not_say_it_answers_one():
    clock = Clock()
    watch = Liveness(clock)
    watch.welcomed(False)  # an older server: it would answer unknown-type
    clock.now += 3600
    assert not watch.ping_due()
    assert watch.due() is None  # and an idle client does not wake for it


def test_one_ping_after_a_quiet_spell_then_none_until_the_room_is_heard():
    clock = Clock()
    watch = Liveness(clock)
    watch.welcomed(True)
    assert watch.due() == liveness.PING_AFTER_SECONDS  # the idle client's one wake-up
    clock.now += liveness.PING_AFTER_SECONDS - 0.1
    assert not watch.ping_due()
    clock.now += 0.1
    assert watch.ping_due()
    assert not watch.ping_due()  # asked once: not again while no byte came
    clock.now += 1.0
    assert watch.heard() is None  # answered in time: nothing was said, nothing to say
    assert not watch.newly_silent()
    assert watch.due() == liveness.PING_AFTER_SECONDS  # the next quiet spell counts from the answer


def test_a_machine_that_slept_asks_at_once_on_waking_however_recent_the_last_byte_looks():
    """A suspend stops the monotonic clock, not the wall's: on waking, the room's last byte looked
    a moment ago, and a room that had dropped us long before was asked only after a quiet spell
    (test_sleep.py, with the real program). The wall clock gone ahead says the machine slept."""
    clock, wall = Clock(), Clock()
    wall.now = 1_800_000_000.0
    watch = Liveness(clock, wall)
    watch.welcomed(True)
    clock.now += 2.0
    wall.now += 2.0
    assert not watch.ping_due()  # awake: the two clocks go on together
    wall.now += 8 * 3600  # the night: the monotonic clock stood still
    clock.now += 0.5
    wall.now += 0.5
    assert watch.ping_due()  # at once, not PING_AFTER_SECONDS after the last byte
    assert not watch.ping_due()  # once
    clock.now += 0.1
    assert watch.heard() is None  # a room that is there answers: nothing to say
    wall.now -= 3600  # a clock set back is no sleep
    wall.now += liveness.SLEPT_SECONDS - 0.5  # nor a small step forward (NTP's)
    assert not watch.ping_due()
    assert watch.due() == pytest.approx(liveness.PING_AFTER_SECONDS)


def test_a_night_spent_offline_is_not_a_sleep_on_the_next_connection():
    """The wall clock's lead is taken again at each welcome: a machine that slept while offline
    (its rejoin came after) does not ask the new connection the moment it is welcomed."""
    clock, wall = Clock(), Clock()
    watch = Liveness(clock, wall)
    watch.welcomed(True)
    watch.forget()  # the connection lost (the lid closed)
    wall.now += 3600
    clock.now += 1.0
    wall.now += 1.0
    watch.welcomed(True)  # the rejoin's welcome
    assert not watch.ping_due()
    assert Liveness(clock).slept() is False  # no wall clock given: never a sleep


def test_no_answer_in_time_is_said_once_counted_and_its_end_said_with_its_length():
    clock = Clock()
    watch = Liveness(clock)
    watch.welcomed(True)
    clock.now += liveness.PING_AFTER_SECONDS
    assert watch.ping_due()
    assert watch.due() == liveness.ANSWER_SECONDS
    clock.now += liveness.ANSWER_SECONDS - 0.01
    assert not watch.newly_silent()
    clock.now += 0.01
    assert watch.newly_silent()
    assert not watch.newly_silent()  # once
    assert watch.due(counting=False) is None  # --plain said it in its line: no wake-up a second
    clock.now += 7.25
    assert watch.text() == "no answer from the room; last heard 27 s ago"  # since its last byte (PING_AFTER_SECONDS + 12.25)
    assert watch.short() == "no answer; 27 s quiet"
    assert watch.due(counting=True) == pytest.approx(0.75)  # the status line's next second
    assert watch.unanswered_for() == pytest.approx(27.25)
    clock.now += 30
    assert watch.heard() == pytest.approx(57.25)  # it answers again: said, with how long it was silent
    assert watch.unanswered_for() is None
    assert watch.heard() is None



def test_the_silence_is_counted_from_the_rooms_last_byte_as_a_downloads_stall_is():
    """A lesson: the host was stopped 25 s during a download. The student read 'the room answers
    again, after 10 s without an answer' beside '#1 big.bin: moving again at 42%, after 25 s with
    no byte', and a line typed as the host stopped went 26 s unanswered, said as 13: the count ran
    from the ping, 15 s into the silence. It runs from the room's last byte now."""
    clock = Clock()
    watch = Liveness(clock)
    watch.welcomed(True)  # the last byte: the download's piece, at 0
    clock.now += liveness.PING_AFTER_SECONDS
    assert watch.ping_due()
    clock.now += liveness.ANSWER_SECONDS
    assert watch.newly_silent()
    assert watch.unanswered_for() == pytest.approx(20.0)
    assert liveness.silent_line(watch.unanswered_for() or 0.0).startswith("the room does not answer (last heard 20 s ago)")
    assert watch.text() == "no answer from the room; last heard 20 s ago"
    clock.now += 4.6
    assert watch.due(counting=True) == pytest.approx(0.4)  # the count's next second, from the last byte
    clock.now += 0.4
    assert liveness.answers_again_line(watch.heard() or 0.0) == "the room answers again, after 25 s of silence"


def test_a_quiet_room_is_said_last_heard_so_long_ago_not_unanswered_so_long():
    """A room only quiet for 15 s (nobody talking), then a ping unanswered for 6: the status line
    read 'no answer from the room for 21 s' and --plain 'the room has not answered for 21 s', as
    if it had been out for 21 s. The 21 s are since it was last heard; every form says that."""
    clock = Clock()
    watch = Liveness(clock)
    watch.welcomed(True)
    clock.now += liveness.PING_AFTER_SECONDS  # quiet: nothing was asked yet
    assert watch.ping_due()
    clock.now += 6.0
    assert watch.newly_silent()
    seconds = watch.unanswered_for() or 0.0
    said = [watch.text(), watch.short(), liveness.silent_line(seconds), liveness.answers_again_line(watch.heard() or 0.0)]
    assert said[:3] == ["no answer from the room; last heard 21 s ago", "no answer; 21 s quiet", liveness.silent_line(seconds)]
    assert said[2].startswith("the room does not answer (last heard 21 s ago): "), said[2]
    assert said[3] == "the room answers again, after 21 s of silence"
    assert not [text for text in said if " for 21 s" in text or "without an answer" in text], said


def test_a_line_typed_starts_the_wait_for_an_answer_at_once_as_a_ping_does():
    """A line typed into a quiet room waited for the ping (PING_AFTER_SECONDS after the room's
    last byte) before the wait for an answer began: ~18 s before --plain said a stopped host
    had not answered. Its echo answers as a pong does: the wait starts when it goes."""
    clock = Clock()
    watch = Liveness(clock)
    watch.welcomed(True)
    clock.now += 2.0
    watch.asked()  # a say went
    assert watch.due() == liveness.ANSWER_SECONDS
    assert not watch.ping_due()  # it asks already: no ping behind it
    clock.now += liveness.ANSWER_SECONDS
    assert watch.newly_silent()
    assert watch.unanswered_for() == pytest.approx(7.0)  # counted from the room's last byte, as ever
    clock.now += 1.0
    watch.asked()  # another line while silent: the count goes on, from the same last byte
    assert watch.unanswered_for() == pytest.approx(8.0)
    assert watch.heard() == pytest.approx(8.0)
    clock.now += 1.0
    watch.asked()
    assert watch.heard() is None  # answered in time: nothing to say
    older = Liveness(clock)
    older.welcomed(False)  # an older server: nothing is said of it, a line typed or not
    older.asked()
    clock.now += 3600
    assert not older.newly_silent() and older.due() is None


def test_a_ping_behind_our_own_moving_output_waits_for_it_and_a_small_backlog_does_not():
    """An upload's pieces, which the server takes without a word, hold a ping back: while they
    are being taken the wait for its answer starts again; once they stop moving, it counts."""
    clock = Clock()
    watch = Liveness(clock)
    watch.welcomed(True)
    clock.now += liveness.PING_AFTER_SECONDS
    assert watch.ping_due()
    watch.sending(3_000_000)
    assert watch.behind_our_output
    assert watch.due() == liveness.MOVING_CHECK_SECONDS  # looked at each second meanwhile
    for backlog in (2_000_000, 1_000_000, 100_000):  # taken, a second at a time
        clock.now += 1.0
        watch.sending(backlog)
        assert not watch.newly_silent()
    clock.now += liveness.ANSWER_SECONDS - 0.5
    watch.sending(100_000)  # stuck: the link stopped moving
    assert not watch.newly_silent()
    clock.now += 0.5
    assert watch.newly_silent() and watch.unanswered_for() == liveness.ANSWER_SECONDS

    quiet = Liveness(clock)  # a stopped host: our 15-byte ping was taken at once, then nothing
    quiet.welcomed(True)
    clock.now += liveness.PING_AFTER_SECONDS
    assert quiet.ping_due()
    quiet.sending(19)
    clock.now += 1.0
    quiet.sending(0)  # the few bytes of a ping falling to 0 are no sign the room is there
    assert not quiet.behind_our_output and quiet.due() == liveness.ANSWER_SECONDS - 1.0
    clock.now += liveness.ANSWER_SECONDS - 1.0
    assert quiet.newly_silent()


def test_on_macos_the_backlog_is_read_from_so_nwrite_not_a_tty_ioctl(monkeypatch):
    """macOS's termios has a TIOCOUTQ too, for terminals: on a socket it fails (ENOTTY), and its
    socket's unacknowledged bytes are SO_NWRITE's. Asked first, the tty's ioctl said "not known"
    there, and every upload long enough for a ping was said silent. (A pipe stands in for the
    socket's descriptor: the ioctl fails on it as on macOS's socket.)"""
    from lanchat import transport

    class MacSocket:
        def __init__(self, fd: int) -> None:
            self.fd = fd

        def fileno(self) -> int:
            return self.fd

        def getsockopt(self, level: int, option: int) -> int:
            assert (level, option) == (socket.SOL_SOCKET, 0x1024)  # SO_NWRITE
            return 123_456

    monkeypatch.setattr(transport.sys, "platform", "darwin")
    read_end, write_end = os.pipe()
    try:
        assert transport.unacknowledged_bytes(MacSocket(write_end)) == 123_456  # type: ignore[arg-type]
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_lost_connection_forgets_what_was_asked_and_the_next_welcome_decides_again():
    clock = Clock()
    watch = Liveness(clock)
    watch.welcomed(True)
    clock.now += liveness.PING_AFTER_SECONDS + liveness.ANSWER_SECONDS
    assert watch.ping_due()
    watch.forget()
    assert not watch.newly_silent() and watch.due() is None and not watch.ping_due()
    watch.welcomed(False)  # the rejoin found a server (restarted older) that does not answer pings
    clock.now += 3600
    assert not watch.ping_due()


def test_a_slow_down_quoting_a_ping_is_an_answer_and_nothing_else_is():
    assert refuses_a_ping('{"type":"ping"}')
    assert not refuses_a_ping('{"type":"say","text":"ping"}')
    assert not refuses_a_ping(None)
    assert not refuses_a_ping("[[[[")
    assert not refuses_a_ping("[" * 100_000)  # a fake server's quote is not parsed at any length


def test_the_silent_line_names_a_busy_host_and_promises_nothing_a_dead_link_breaks():
    """Five seconds without an answer is most often a host under load, and a link that died ends
    within seconds (the silence puts it in doubt) and the client rejoins: the line said the
    connection was kept, and a 'connection lost; retrying' came 3 s after it."""
    line = liveness.silent_line(5.2)
    assert line.startswith("the room does not answer (last heard 5 s ago): its host may be busy, "), line
    assert "kept" not in line, line
    assert line.endswith("the chat goes on when it answers (/q leaves)"), line


# ---------------------------------------------------------------- the protocol


def test_a_ping_goes_only_once_welcomed_and_a_pong_only_answers_an_open_connection():
    client = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError):
        client.send(ev.Ping())  # before the welcome a server would answer hello-first
    server = Connection(Role.SERVER)
    server.receive_data(encode(ev.Hello(name="ann")))
    assert isinstance(server.next_event(), ev.Hello)
    client.receive_data(server.send(ev.Welcome(name="ann", mode="duplex", members=("ann",), ping=True)))
    (welcome,) = client.events()
    assert welcome.ping
    server.receive_data(client.send(ev.Ping()))
    assert server.next_event() == ev.Ping()
    client.receive_data(server.send(ev.Pong()))
    assert client.events() == [ev.Pong()]


def test_the_welcome_says_ping_only_when_the_room_answers_pings():
    """An older client ignores the flag (an unknown field); a bare room (section 9's) leaves it
    out, so its welcome is the frame it always was."""
    from lanchat.room import Room

    for answers in (False, True):
        room = Room()
        room.answers_pings = answers
        (welcome,) = [a.event for a in room.handle(1, ev.Hello(name="ann")) if isinstance(getattr(a, "event", None), ev.Welcome)]
        assert welcome.ping is answers
        assert (b'"ping":true' in encode(welcome)) is answers


# ---------------------------------------------------------------- the server's side


def test_the_server_answers_a_ping_at_once_in_order_with_the_answers_before_it():
    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        ann.drain(0.1)
        ann.send_raw(encode(ev.Say(text="first")) + encode(ev.Ping()) + encode(ev.Who()))
        heard = [ann.expect(object) for _ in range(3)]
        assert [type(event) for event in heard] == [ev.Message, ev.Pong, ev.Roster], heard
        ann.close()


def test_a_script_pinging_flat_out_is_slowed_paused_and_dropped_and_the_room_goes_on():
    """From the attacker's side: pings as fast as the kernel takes them. Each would cost the
    server an answer; counted as requests, a few are answered, then slow-down, no reading, and
    the connection goes as any flooder's. ann's lines go on meanwhile: her line goes round within
    mallory's first pause, decided by the server's own state, not by a time that a loaded machine
    stretches."""
    flood = lim.FloodControl(burst=3, rate=1.0)  # pauses of 3 s (its burst's refill): her line has that long
    with running_server(limits=True, flood=flood) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        mallory = flat_out_sender(endpoint)
        ping = encode(ev.Ping())
        sent, pending = 0, b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sent < 1_000_000:
            if not pending:
                pending, sent = ping, sent + 1
            try:
                pending = pending[mallory.sock.send(pending) :]
            except OSError:  # BlockingIOError: the server stopped reading; or it hung up
                break
        assert sent < 1_000_000, "the server read every ping: no back-pressure"
        paused = lambda: {cid: peer.paused_until for cid, peer in list(server.hub.peers.items()) if peer.paused_until}  # noqa: E731
        # the send above stops when the kernel's buffers are full: the server has paused mallory,
        # or (a loaded machine) not read them yet; what is buffered is thousands of pings, far
        # past the burst, so the pause comes once it reads them (CI saw {} here, asked at once)
        wait_for(lambda: len(paused()) == 1, timeout=10, what="mallory's pause")
        first_pause = paused()
        assert len(first_pause) == 1, first_pause  # mallory's
        ann.send(ev.Say(text="still here"))  # while mallory's pings wait unread
        ann.expect(ev.Message, text="still here")
        assert paused() == first_pause, "ann's line went round only once mallory's pause was over"
        mallory.sock.setblocking(True)
        left = ann.expect(ev.Left, name="mallory", timeout=20)
        assert left.reason == "flooding"
        heard = mallory.until_closed()
        pongs = sum(isinstance(event, ev.Pong) for event in heard)
        assert 0 < pongs < 200, pongs  # held to the flood limit, not thousands a second
        assert any(isinstance(e, ev.Error) and e.code == ev.E_SLOW_DOWN and not e.fatal for e in heard)
        last = heard[-1]
        assert isinstance(last, ev.Error) and last.fatal and last.code == ev.E_SLOW_DOWN, heard[-3:]
        ann.close()
        mallory.close()


# ---------------------------------------------------------------- a real client


def quick_env(ping_after: float = 1.0, answer: float = 1.5) -> dict[str, str]:
    """A child's environment in which lanchat pings after ``ping_after`` s of quiet and calls
    the room silent ``answer`` s after that (liveness.py's own numbers, set at start-up by a
    sitecustomize: platform_shims.shimmed_env), so a test waits seconds, not 20."""
    return shimmed_env(f"import lanchat.liveness as quick\nquick.PING_AFTER_SECONDS = {ping_after}\nquick.ANSWER_SECONDS = {answer}\n")


def test_an_older_server_never_sees_a_ping():
    """A server whose welcome has no ``ping`` (one older than PROTOCOL.md's Liveness) would answer
    one with unknown-type, shown as an error line: the client never sends it, however quiet."""
    server = StandInServer(lambda stand_in, event: None, timeout=30)
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--plain", env=quick_env(0.2, 0.3))
    try:
        bob.expect(r"welcome, bob")
        welcomed = time.monotonic()
        # what is tested is what does not happen meanwhile: ten quiet spells, each one a ping's
        wait_for(lambda: time.monotonic() - welcomed > 2.0, timeout=5, what="ten quiet spells")
        bob.send("/who")  # the server hears it after anything the client sent before it
        wait_for(lambda: any(isinstance(e, ev.Who) for e in server.heard), what="the who")
        assert not any(isinstance(event, ev.Ping) for event in server.heard), server.heard
        assert "the room does not answer" not in bob.output
    finally:
        bob.stop()
        server.close()
    assert not any(isinstance(event, ev.Ping) for event in server.heard), server.heard


def test_a_room_that_stops_answering_is_said_silent_and_its_return_is_said():
    """A server whose welcome says ``ping`` and then answers nothing: --plain says so in one
    line, once; the first byte it sends again is said to be its answer."""
    answered = {"now": False}

    def on_event(stand_in: StandInServer, event: object) -> None:
        if isinstance(event, ev.Ping) and answered["now"]:
            stand_in.send(ev.Pong())

    server = StandInServer(on_event, timeout=30, ping=True)
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--plain", env=quick_env(0.5, 1.0))
    try:
        bob.expect(r"welcome, bob")
        bob.expect(r"the room does not answer \(last heard \d+ s ago\): .*the chat goes on when it answers", timeout=10)
        pings = sum(isinstance(event, ev.Ping) for event in server.heard)
        assert pings == 1, server.heard  # one ping per quiet spell, not one a pass
        answered["now"] = True  # from now on each ping is answered: the next quiet spell's, and the one after it
        server.send(ev.Message(sender="ann", text="back", time=time.time()))
        bob.expect(r"the room answers again, after \d+ s of silence")
        bob.expect(r"ann: back$")
        wait_for(lambda: sum(isinstance(event, ev.Ping) for event in server.heard) >= 3, what="a ping after an answered one")
        assert sum("the room does not answer" in line for line in bob.lines) == 1, bob.output
        assert sum("answers again" in line for line in bob.lines) == 1, bob.output
    finally:
        bob.stop()
        server.close()


def test_a_ping_stuck_behind_our_own_output_is_said_but_puts_the_connection_in_no_doubt():
    """Behind an upload's pieces that stopped moving, the silence is said all the same, but the
    connection is not put in doubt (client.unanswered_ping): the quick keepalive's 5 s limit on
    unacknowledged data would end it under a live server that reads slowly. A ping with no such
    backlog, unanswered, is the doubt."""
    from types import SimpleNamespace

    from lanchat.client import unanswered_ping

    clock = Clock()
    for backlog, in_doubt in ((liveness.MOVING_BYTES, False), (liveness.MOVING_BYTES - 1, True)):
        loop = SimpleNamespace(liveness=Liveness(clock))
        loop.liveness.welcomed(True)
        clock.now += liveness.PING_AFTER_SECONDS
        assert loop.liveness.ping_due()
        loop.liveness.sending(backlog)
        clock.now += liveness.ANSWER_SECONDS
        loop.liveness.sending(backlog)  # stuck
        assert loop.liveness.newly_silent()
        assert unanswered_ping(loop) is in_doubt, backlog  # type: ignore[arg-type]


def test_an_unanswered_ping_asks_the_connection_whether_it_lives(monkeypatch):
    """A link that really died under a quiet chat: TCP's keepalive took a minute to say so. Once
    a ping goes unanswered the connection is in doubt, so TCP is asked within seconds (quick
    keepalive, 5 s for unacknowledged data: the ping's own bytes), and the client rejoins; a
    stopped host's kernel acknowledges them, so its connection stays. An answer ends the doubt."""
    from types import SimpleNamespace

    import lanchat.client
    from lanchat.client import watch_address
    from lanchat.client_files import ClientTransfers
    from lanchat.unconfirmed import Unconfirmed

    monkeypatch.setattr(lanchat.client, "on_the_network", lambda sock: True)  # a LAN connection, as far as the check goes
    clock = Clock()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client_sock = socket.create_connection(listener.getsockname(), timeout=5)
        server_sock, _ = listener.accept()
        with client_sock, server_sock:
            reconnect = SimpleNamespace(offline=False, rejoin=SimpleNamespace(), lost=lambda *a: None)
            loop = SimpleNamespace(reconnect=reconnect, quitting=False, outcome=None, address_check_at=0.0, sock=client_sock,
                                   in_doubt=False, transfers=ClientTransfers(), unconfirmed=Unconfirmed(), liveness=Liveness(clock))  # fmt: skip
            loop.liveness.welcomed(True)
            clock.now += liveness.PING_AFTER_SECONDS
            assert loop.liveness.ping_due()
            for waited, in_doubt in ((liveness.ANSWER_SECONDS - 1, False), (1, True)):  # its pong may well be on its way
                clock.now += waited
                loop.address_check_at = 0.0
                watch_address(loop)  # type: ignore[arg-type]
                assert loop.in_doubt is in_doubt
            if hasattr(socket, "TCP_USER_TIMEOUT"):
                assert client_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000
            loop.liveness.heard()
            loop.address_check_at = 0.0
            watch_address(loop)  # type: ignore[arg-type]
            assert not loop.in_doubt
            if hasattr(socket, "TCP_USER_TIMEOUT"):
                assert client_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 60000


def test_the_status_line_keeps_the_silence_first_and_short_on_a_narrow_screen():
    """The silence is the connection's state: kept at any width (after the name), short where the
    whole would be cut, and the rest of the line as usual."""
    from lanchat.session import Session
    from lanchat.ui import render
    from lanchat.ui.view import View

    clock = Clock()
    watch = Liveness(clock)
    watch.welcomed(True)
    clock.now += liveness.PING_AFTER_SECONDS
    assert watch.ping_due()
    clock.now += 12.5
    assert watch.newly_silent()
    view = View(Session(name="bob", role="client", where="10.0.0.5:3580", mode="turn", turn="ann", members=["ann", "bob"],
                        topic="fractions and decimals, then the homework for Monday"))  # fmt: skip
    view.session.progress = {"silent": watch}
    wide = render.status_text(view, 120)
    assert wide.startswith(" bob │ no answer from the room; last heard 27 s ago │ "), wide  # since its last byte
    assert "waiting for ann" in wide  # the rest as usual
    narrow = render.status_text(view, 30)
    assert narrow.startswith(" bob │ no answer; 27 s quiet"), narrow


def test_a_ping_refused_as_a_flood_is_an_answer_and_shows_nothing():
    """Another session of ours (or a class behind one address) spent the flood allowance: the
    room refuses our ping with slow-down. That is the room answering: nothing shown for it, no
    silence said, and the next quiet spell pings again."""

    def on_event(stand_in: StandInServer, event: object) -> None:
        if isinstance(event, ev.Ping):
            stand_in.send(ev.Error(code=ev.E_SLOW_DOWN, message="slow down: that was not sent (at most 10 at once, then 3 a second)",
                                   refused='{"type":"ping"}', retry_after=0.2))  # fmt: skip
        elif isinstance(event, ev.Who):
            stand_in.send(ev.Roster(members=("bob", "zed")))

    server = StandInServer(on_event, timeout=30, ping=True, flood_burst=10, flood_rate=3.0)
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--plain", env=quick_env(0.3, 1.0))
    try:
        bob.expect(r"welcome, bob")
        wait_for(lambda: sum(isinstance(event, ev.Ping) for event in server.heard) >= 3, what="three pings, each refused")
        bob.send("/who")  # its answer comes after the refusals: anything shown for them is shown by then
        bob.expect(r"zed")
        assert not [line for line in bob.lines[1:] if "slow down" in line or "the room does not answer" in line], bob.output
    finally:
        bob.stop()
        server.close()


# ---------------------------------------------------------------- a class behind one NAT


def test_a_class_behind_one_nat_pinging_together_for_an_hour_is_never_paused_or_cut():
    """Each client pings after PING_AFTER_SECONDS of quiet, so in a quiet room a whole class's
    pings go together (the last broadcast started every one's quiet spell), out of the flood
    allowance their address shares (guard.py: ADDRESS_SHARE people's). Measured for an hour with
    the server's numbers: 30 (and 64, serve --max-per-address 64) at once, and spread over half
    a second: the first 20 are answered, the rest refused (slow-down: an answer all the same to
    the client, liveness.refuses_a_ping), and nobody's ladder climbs to a pause or a hang-up,
    as each ping comes long after the wait its last refusal told."""
    import random

    for size in (30, 64):
        for spread in (0.0, 0.5):
            flood, now = lim.FloodControl(), 1000.0
            shared = lim.SharedBucket(flood.burst * lim.ADDRESS_SHARE, flood.rate * lim.ADDRESS_SHARE, now)
            jitter = random.Random(size)
            verdicts: dict[str, int] = {}
            for _spell in range(int(3600 / liveness.PING_AFTER_SECONDS)):
                for n in sorted(range(size), key=lambda _n: jitter.random()):
                    verdict = flood.check(f"s{n}", now + jitter.random() * spread, 1.0, shared)
                    verdicts[verdict.action] = verdicts.get(verdict.action, 0) + 1
                now += liveness.PING_AFTER_SECONDS + spread
            assert set(verdicts) <= {lim.OK, lim.SLOW_DOWN}, (size, spread, verdicts)
            assert verdicts[lim.OK] >= 240 * lim.DEFAULT_BURST * lim.ADDRESS_SHARE, (size, spread, verdicts)


def test_a_real_class_of_30_behind_one_nat_pinging_together_is_answered_and_nobody_is_paused_or_cut():
    """A real `serve --max-per-address 30`, 30 students in a network namespace (one address)
    each with a key. Three times, all 30 ping at once (as their quiet spells end together), the
    next time once the longest wait a refusal told is over (as a client's next ping comes 15 s
    later): every ping gets a pong or a slow-down that is not fatal, never a pause; then a line
    from one reaches all 30 at once, and nobody left."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from test_moderation_natban import _real_nat

    with _real_nat() as nat:
        teach, port = nat.hosted("--max-per-address", "30")
        socks = nat.connections(port, 30)
        students = [RawClient(sock, f"s{n}", key=Ed25519PrivateKey.generate()) for n, sock in enumerate(socks)]
        for student in students:
            student.drain(0.0)  # the joins of those after them
        answers: list[str] = []
        for _spell in range(spells := 3):  # (an hour's ladder: the test above; 11 spells here took 37 s of told waits)
            for student in students:
                student.send(ev.Ping())
            waits = [0.0]
            for student in students:
                answer = student.expect(object)
                while isinstance(answer, ev.Joined):
                    answer = student.expect(object)
                assert isinstance(answer, (ev.Pong, ev.Error)), answer
                if isinstance(answer, ev.Error):
                    assert answer.code == ev.E_SLOW_DOWN and not answer.fatal and refuses_a_ping(answer.refused), answer
                    waits.append(answer.retry_after or 0.0)
                answers.append(type(answer).__name__)
            ready = time.monotonic() + max(waits)
            wait_for(lambda ready=ready: time.monotonic() >= ready, timeout=max(waits) + 5)  # the told wait: a client's 15 s is longer
        assert answers.count("Pong") >= spells * lim.DEFAULT_BURST * lim.ADDRESS_SHARE, answers
        students[0].send(ev.Say(text="still all here"))
        for student in students:
            assert student.expect(ev.Message, text="still all here").sender == "s0"  # type: ignore[attr-defined]
            assert not [e for e in student.drain(0.0) if isinstance(e, (ev.Left, ev.Error))]
        for student in students:
            student.close()
        teach.send("/q")
        assert teach.wait() == 0
