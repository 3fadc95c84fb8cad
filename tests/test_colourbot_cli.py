"""The colour bot in the real program: seed 000 over AF_UNIX with --max-clients 1 --once, and a
room of three over TCP where each person's exchange stays private."""

from __future__ import annotations

import os
import re
import socket

import pytest
from faker import Faker
from helpers import Proc, RawClient, TermProc, start_server, wait_for

from lanchat import events as ev
from lanchat.colourbot import BOT_NAME, colour_link, suggest_colour
from lanchat.transport import Endpoint

HEX = r"#([0-9A-F]{6})"
BOT_SAYS = rf"^\[\d\d:\d\d:\d\d\] {BOT_NAME} -> ann \(direct\): "


def seeded_colours(seed: int, count: int) -> list[str]:
    """What a bot started with --bot-seed SEED suggests, in order (within one exchange)."""
    fake = Faker()
    fake.seed_instance(seed)
    colours: list[str] = []
    for _ in range(count):
        colours.append(suggest_colour(fake, avoid=colours))
    return colours


def test_seed_000_over_af_unix_one_person_n_then_y_then_the_server_exits(sock_dir):
    path = os.path.join(sock_dir, "mood.sock")
    server, _ = start_server("--unix", path, "--bot", "colour", "--max-clients", "1", "--once", "--headless", "--bot-seed", "7")
    probes: list[socket.socket] = []
    ann = bob = None
    try:
        server.expect(rf"{BOT_NAME} joined")
        # A probe that connects and leaves without a hello must not trigger --once...
        quick = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        quick.connect(path)
        quick.close()
        # ...and one that stays connected without a hello must not fill the room of one.
        lingering = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lingering.connect(path)
        probes.append(lingering)

        ann = Proc("connect", "--unix", path, "--name", "ann")
        ann.expect(rf"welcome, ann: duplex mode; here: {BOT_NAME}")
        ann.expect(BOT_SAYS + r"What mood are you in\?$")
        server.expect(r"ann joined")

        bob = Proc("connect", "--unix", path, "--name", "bob")
        bob.expect(r"room is full \(1 person\)")
        assert bob.wait() == 1
        assert "Traceback" not in bob.output

        first, second = seeded_colours(7, 2)
        ann.send("cheerful")  # alone with the bot: a plain line is the answer, as in the seed
        ann.expect(BOT_SAYS + rf"For your cheerful mood, try #{first}: {re.escape(colour_link(first))}$")
        ann.expect(BOT_SAYS + r"Happy with it\? \(Y/N\)$")

        mark = ann.mark()
        ann.send("maybe")
        ann.expect(BOT_SAYS + rf"Please answer Y or N: are you happy with #{first}\? \(Y/N\)$", start=mark)

        mark = ann.mark()
        ann.send("N")
        match = ann.expect(BOT_SAYS + rf"Here is another suggestion: {HEX}: (\S+)$", start=mark)
        assert match.group(1) == second != first
        assert match.group(2) == f"https://www.computerhope.com/cgi-bin/htmlcolor.pl?c={second}"
        ann.expect(BOT_SAYS + r"Happy with it\? \(Y/N\)$", start=mark)

        mark = ann.mark()
        ann.send("/y")  # the command form of the same answer
        ann.expect(BOT_SAYS + rf"Great choice, ann! Enjoy #{second}\. Goodbye\.$", start=mark)
        # Seed 000: after Y the client closes its socket and ends, with no /q typed ...
        ann.expect(r"happy with the colour: leaving, as seed 000's client does", start=mark)
        assert ann.wait() == 0
        ann.expect(r"you left the chat", start=mark)
        # ... and the server, whose last person left, shuts down.
        server.expect(r"shutting down: the last person left")
        assert server.wait() == 0
        assert not os.path.exists(path)
        for proc in (ann, bob, server):
            assert "Traceback" not in proc.output
    finally:
        for sock in probes:
            sock.close()
        for proc in (ann, bob, server):
            if proc:
                proc.stop()


def test_a_room_of_three_over_tcp_keeps_each_exchange_private():
    server, port = start_server("--headless", "--bot", "color")
    endpoint = Endpoint(host="127.0.0.1", port=port)
    ann = bob = cat = None
    try:
        server.expect(rf"{BOT_NAME} joined")
        ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
        ann.expect(BOT_SAYS + r"What mood are you in\?$")
        bob = RawClient(endpoint, "bob")
        cat = RawClient(endpoint, "cat")
        assert bob.welcome.members == (BOT_NAME, "ann", "bob")
        for person in (bob, cat):  # one whisper each in a shared room, saying how to answer
            greeting = person.expect(ev.Direct, sender=BOT_NAME, to=person.welcome.name)
            assert "whisper me your mood (/mood MOOD)" in greeting.text
            assert not [e for e in person.drain(0.2) if isinstance(e, ev.Direct) and e.sender == BOT_NAME]

        # In a room of three, room chatter is for people: the bot stays quiet.
        ann.send("hello everyone")
        for person in (bob, cat):
            person.expect(ev.Message, sender="ann", text="hello everyone")

        # ann talks to the bot with /mood; bob answers it in a direct message.
        mark = ann.mark()
        ann.send("/mood sunny")
        ann.expect(BOT_SAYS + rf"For your sunny mood, try {HEX}: https://www\S+$", start=mark)
        ann.expect(BOT_SAYS + r"Happy with it\? \(Y/N\)$", start=mark)
        bob.send(ev.Whisper(to=BOT_NAME, text="grumpy"))
        suggestion = bob.expect(ev.Direct, sender=BOT_NAME, to="bob")
        assert suggestion.text.startswith("For your grumpy mood, try #")
        bob.expect(ev.Direct, sender=BOT_NAME, to="bob", text="Happy with it? (Y/N)")
        bob.send(ev.Whisper(to=BOT_NAME, text="N"))
        another = bob.expect(ev.Direct, sender=BOT_NAME, to="bob")
        assert another.text.startswith("Here is another suggestion: #")
        mark = ann.mark()
        ann.send("/n")
        ann.expect(BOT_SAYS + r"Here is another suggestion: #", start=mark)
        mark = ann.mark()
        ann.send("/y")
        # In a room that stays open, a Y ends the exchange, not the chat.
        ann.expect(BOT_SAYS + r"Great choice, ann! Enjoy #[0-9A-F]{6}\. Type /mood for another colour\.$", start=mark)

        # Everything cat saw after joining: ann's room message only. No whisper between
        # the bot and anyone else, no reply from the bot in the room.
        cat.send(ev.Who())
        cat.expect(ev.Roster)
        leftovers = cat.drain(0.3)
        assert not [e for e in leftovers if isinstance(e, (ev.Direct, ev.Message))], leftovers
        assert not [e for e in bob.drain(0.3) if isinstance(e, ev.Direct) and "ann" in (e.sender, e.to)]
        assert not re.search(rf"^\[[\d:]+\] {BOT_NAME}: ", ann.output, re.M)  # the bot never spoke in the room
        assert not re.search(r"leaving, as seed 000", ann.output)
        mark = ann.mark()
        ann.send("/q")
        assert ann.wait() == 0
        ann.expect(r"you left the chat", start=mark)  # she was still in the room until now
    finally:
        for raw in (bob, cat):
            if raw:
                raw.close()
        for proc in (ann, server):
            if proc:
                proc.stop()


def test_the_host_meets_the_bot_and_mood_needs_a_bot(sock_dir):
    path = os.path.join(sock_dir, "host.sock")
    host = Proc("serve", "--unix", path, "--bot", "colour", "--name", "hana", "--plain")
    plain = Proc("serve", "--unix", os.path.join(sock_dir, "plain.sock"), "--name", "otto", "--plain")
    try:
        host.expect(rf"{BOT_NAME} -> hana \(direct\): What mood are you in\?")
        host.send("/mood calm")
        host.expect(rf"{BOT_NAME} -> hana \(direct\): For your calm mood, try #[0-9A-F]{{6}}: https://")
        plain.expect(r"welcome, otto")
        plain.send("/mood")
        plain.expect(rf"! {BOT_NAME} is not in this room \(the host adds it with: lanchat serve --bot colour\)")
        for proc in (host, plain):
            proc.send("/q")
            assert proc.wait() == 0
            assert "Traceback" not in proc.output
    finally:
        host.stop()
        plain.stop()


@pytest.mark.parametrize("host", [("--headless",), ("--name", "hana", "--plain")], ids=["headless", "host"])
def test_a_student_who_joins_in_the_servers_first_instant_finds_the_bot_already_there(sock_dir, host):
    """The bot joins on the loop's first passes while the socket already accepts: a student whose
    hello came first was welcomed without it, then read 'colourbot joined'. Here the student
    connects the moment the socket file exists, with the hello at once."""
    path = os.path.join(sock_dir, "first.sock")
    server = Proc("serve", "--unix", path, "--bot", "colour", *host)
    first: socket.socket | None = None
    try:

        def connected() -> socket.socket | None:
            attempt = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                attempt.connect(path)
            except OSError:  # not listening yet
                attempt.close()
                return None
            return attempt

        first = wait_for(connected, what="the socket file")
        ann = RawClient(first, "ann")
        assert ann.welcome is not None
        assert BOT_NAME in ann.welcome.members and ann.welcome.bots == (BOT_NAME,), ann.welcome
        assert ann.expect(ev.Direct, sender=BOT_NAME).text.startswith("Hi ann, I am colourbot")  # type: ignore[attr-defined]
        ann.close()
    finally:
        if first is not None:
            first.close()
        server.stop()
    assert "Traceback" not in server.output


def test_bot_options_are_checked():
    wrong = Proc("serve", "--headless", "--bot", "parrot", stdin=False)
    assert wrong.wait() == 2
    assert re.search(r"invalid choice: 'parrot'", wrong.output)
    lone_seed = Proc("serve", "--headless", "--port", "0", "--bot-seed", "3", stdin=False)
    assert lone_seed.wait() == 2
    assert "--bot-seed needs --bot colour" in lone_seed.output


def test_the_bot_answers_only_live_messages_from_someone_alone_with_it():
    """BotRunner's reactions on a real socketpair; its thread is not started, _handle is fed.

    _handle writes with sendall before it returns, so whatever the bot said is already
    waiting on the other end: a non-blocking read collects it without any waiting."""
    import json

    from lanchat.bots import BotRunner
    from lanchat.colourbot import ColourBot
    from lanchat.protocol import Connection, ConnectionClosed, Role, encode
    from lanchat.wire import FrameDecoder

    bot_end, peer_end = socket.socketpair()
    peer_end.setblocking(False)
    decoder = FrameDecoder()

    def whispers() -> list[ev.Event]:
        data = b""
        while True:
            try:
                chunk = peer_end.recv(65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        return [ev.event_from_json(json.loads(p), ev.CLIENT_EVENTS) for p in decoder.feed(data)]

    try:
        runner = BotRunner(ColourBot(Faker(), seed=7), bot_end)
        runner.proto = Connection(Role.CLIENT)
        runner.proto.send(ev.Hello(name=BOT_NAME))
        runner.proto.receive_data(encode(ev.Welcome(name=BOT_NAME, mode="duplex", members=(BOT_NAME, "ann"))))
        (welcome,) = runner.proto.events()

        assert runner._handle([welcome])  # ann was here before the bot: greeted
        said = whispers()
        assert all(isinstance(w, ev.Whisper) and w.to == "ann" for w in said)
        assert said[-1].text == "What mood are you in?"
        replay = ev.Message(sender="ann", text="calm", time=1.0, history=True)
        assert runner._handle([replay]) and whispers() == []  # a replay is not an answer
        assert runner._handle([ev.Message(sender="ann", text="calm", time=2.0)])  # alone: heard
        assert [(w.to, w.text) for w in whispers()][-1] == ("ann", "Happy with it? (Y/N)")
        assert runner._handle([ev.Joined(name="bob", time=3.0)])
        assert {w.to for w in whispers()} == {"bob"}
        assert runner._handle([ev.Message(sender="ann", text="N", time=4.0)]) and whispers() == []  # not alone now
        assert runner._handle([ev.Direct(sender="ann", to=BOT_NAME, text="N", time=5.0)])
        assert whispers()[0].text.startswith("Here is another suggestion")
        assert runner._handle([ev.Left(name="ann", reason="quit", time=6.0)])
        assert runner.bot.state_of("ann") is None and runner.people == ["bob"]
        assert not runner._handle([ConnectionClosed()])
    finally:
        bot_end.close()
        peer_end.close()


def test_your_own_answers_to_the_bot_read_as_you_typed_them_on_the_split_screen():
    """ann's transcript showed `/mood sunny` as she typed it, but her `/n` and `/y` as `N` and `Y`
    (what they whisper, for any version of the bot). Her own copy of each now reads as typed; a
    plain answer stays what she typed too."""
    server, port = start_server("--headless", "--bot", "colour", "--bot-seed", "7")
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")  # a shared room: /mood talks to the bot
    ann = TermProc("connect", "127.0.0.1", str(port), "--name", "ann", cols=100)
    mine = rf"\d\d:\d\d \[direct\] ann → {BOT_NAME}: "
    try:
        ann.expect(r"welcome, ann")
        ann.send("/mood sunny\r")
        ann.expect(r"Happy with it\? \(Y/N\)")
        ann.send("/n\r")
        ann.expect(r"Here is another suggestion")
        ann.send("n\r")  # typed as a plain answer: it goes to the bot as it is
        ann.wait_screen(lambda rows: sum("another suggestion" in row for row in rows) == 2, what="a third colour")
        ann.send("/y\r")
        ann.expect(r"Great choice, ann!")
        said = [re.sub(mine, "", row.split("│")[0]).strip() for row in ann.lines if re.search(mine, row)]
        assert said == ["/mood sunny", "/n", "n", "/y"], ann.text
        assert not [e for e in bob.drain(0.2) if isinstance(e, ev.Direct | ev.Message) and "ann" in (e.sender, e.to)]
    finally:
        ann.stop()
        bob.close()
        server.stop()
