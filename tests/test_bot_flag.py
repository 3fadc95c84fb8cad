"""The server flags its own bots in welcome, joined and roster (PROTOCOL.md, The colour bot: Which
members are bots), so a client tells a bot from a person by the flag, not by the name
"colourbot"; from an older server, which never flags one, the name still counts. A real server
on port 0, a bot on a socketpair the server adopts as a service (as `serve --bot` does)."""

from __future__ import annotations

import socket

from helpers import RawClient, local_host, running_server, wait_for

from lanchat import events as ev
from lanchat.session import Session
from lanchat.textline import TextConnection


def test_a_bot_is_flagged_to_everyone_and_the_hosts_screen_waits_for_someone_to_join():
    """Host plus a bot not named colourbot in a turn room: the host's screen read 'waiting for an
    unmute (everyone else is muted ...)', though nobody was muted: it took the bot for a person."""
    with running_server("turn") as (server, endpoint):
        hal = local_host(server, "hal")
        bot_end, server_end = socket.socketpair()
        server.add_local(server_end, service=True)
        helper = RawClient(bot_end, "helper")
        try:
            assert helper.welcome is not None and helper.welcome.bots == ("helper",)
            joined = hal.expect(ev.Joined, name="helper")
            assert joined.bot  # type: ignore[attr-defined]
            screen = Session(name="hal")
            screen.on_event(hal.welcome)
            screen.on_event(joined)
            assert screen.turn_text() == "waiting for someone to join"
            ann = RawClient(endpoint, "ann")
            assert ann.welcome is not None and ann.welcome.bots == ("helper",)
            assert not hal.expect(ev.Joined, name="ann").bot  # type: ignore[attr-defined]  # a person
            ann.send(ev.Who())
            roster = ann.expect(ev.Roster)
            assert roster.members == ("hal", "helper", "ann") and roster.bots == ("helper",)  # type: ignore[attr-defined]
            ann.close()
        finally:
            helper.close()
            hal.close()


def test_a_student_whose_hello_comes_before_the_bots_waits_for_the_bot_and_is_welcomed_with_it():
    """`serve --bot` adopts the bot's socket before anyone connects, but the bot's thread says
    hello on the loop's first passes: a student in the first instant was welcomed without the
    bot ('here: ann'), then read 'colourbot joined'. Here the bot's hello comes after ann's."""
    with running_server() as (server, endpoint):
        bot_end, server_end = socket.socketpair()
        server.add_local(server_end, service=True)  # as serve --bot, before anyone joined
        ann = RawClient(endpoint)
        ann.hello("ann")

        def read() -> bool:  # held for the bot (the fix), or welcomed without it (the race)
            return any(peer.held for peer in list(server.hub.peers.values())) or bool(server.room.members)

        wait_for(read, what="ann's hello read by the server")
        helper = RawClient(bot_end, "colourbot")
        try:
            welcome = ann.expect(ev.Welcome)
            assert welcome.members == ("colourbot", "ann") and welcome.bots == ("colourbot",)  # type: ignore[attr-defined]
            assert not [e for e in ann.drain() if isinstance(e, ev.Joined)]  # no 'colourbot joined' after it
        finally:
            helper.close()
            ann.close()


def test_without_the_flag_the_colour_bots_name_still_counts_and_no_other_name_does():
    """An older server sends no flag: the name colourbot (which only its bot may take) is a bot,
    any other member a person. Both on lanchat's screen and for a text participant."""
    old = {"mode": "turn", "turn": None, "host": "hal"}
    with_colourbot = Session(name="hal")
    with_colourbot.on_event(ev.Welcome(name="hal", members=("hal", "colourbot"), **old))
    assert with_colourbot.waiting_for() == "someone to join"
    with_a_person = Session(name="hal")
    with_a_person.on_event(ev.Welcome(name="hal", members=("hal", "helper"), **old))
    assert with_a_person.waiting_for() == "an unmute"
    flagged = Session(name="hal")
    flagged.on_event(ev.Welcome(name="hal", members=("hal", "helper"), bots=("helper",), **old))
    assert flagged.waiting_for() == "someone to join"
    flagged.on_event(ev.Renamed(old="helper", new="helper2", time=0.0))
    assert flagged.waiting_for() == "someone to join"  # the flag follows the name
    nc = TextConnection(stamp=lambda when: "12:00")
    nc.receive_data(b"nc\n")
    nc.events()
    nc.show(ev.Welcome(name="nc", members=("hal", "helper", "nc"), bots=("helper",), **old))
    nc.show(ev.Roster(members=("hal", "helper"), bots=("helper",)))  # (as the host would read it)
    assert nc.show(ev.Turn(holder=None)) == b"-!- waiting for someone else to join\r\n"
