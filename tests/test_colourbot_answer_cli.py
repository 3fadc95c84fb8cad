"""The real program: in a room of three, ann asks colourbot for a colour and just types her
answer; it reaches the bot, and bob never sees it."""

from __future__ import annotations

from helpers import Proc, start_server

from lanchat.colourbot import BOT_NAME

STAMP = r"^\[\d\d:\d\d:\d\d\] "


def test_a_plain_answer_to_the_bot_stays_between_ann_and_the_bot():
    server, port = start_server("--headless", "--bot", "colour", "--bot-seed", "7")
    people: list[Proc] = []
    try:
        ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
        people.append(ann)
        ann.expect(r"welcome, ann")
        bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob")
        people.append(bob)
        ann.expect(r"bob joined")
        ann.send("/mood")
        ann.expect(STAMP + rf"{BOT_NAME} -> ann \(direct\): What mood are you in\?$")
        ann.expect(r"just type your answer: it goes to colourbot only")
        ann.send("sleepy")
        ann.expect(STAMP + rf"{BOT_NAME} -> ann \(direct\): For your sleepy mood, try #")
        ann.send("y")
        ann.expect(r"your lines go to the room again")
        ann.send("hello bob")
        bob.expect(STAMP + r"ann: hello bob$")
        assert "sleepy" not in bob.output and "ann: y" not in bob.output
    finally:
        for person in people:
            person.close_stdin()
            person.stop()
        server.stop()
