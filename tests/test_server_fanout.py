"""The server's big-room paths: a room of more than FANOUT_CACHE_MIN people, where broadcasts of
one pass are joined before they are queued and join/leave notices may wait NOTICE_DELAY_SECONDS.

Small rooms (most other tests) never take these paths, so they get their own tests: everyone
still receives everything, exactly once, in the order it happened.
"""

from __future__ import annotations

import contextlib

from helpers import RawClient, running_server

from lanchat import events as ev
from lanchat.outbox import FANOUT_CACHE_MIN


def texts(client: RawClient, count: int) -> list[str]:
    return [client.expect(ev.Message).text for _ in range(count)]  # type: ignore[attr-defined]


def test_a_big_room_gets_every_message_once_and_in_order():
    size = FANOUT_CACHE_MIN + 4
    with running_server() as (_server, endpoint), contextlib.ExitStack() as stack:
        people = []
        for n in range(size):
            person = RawClient(endpoint, f"p{n}")
            stack.callback(person.close)
            people.append(person)
        # a burst from three people, so one server pass holds several broadcasts
        burst = [(people[n % 3], f"m{n}") for n in range(30)]
        for sender, text in burst:
            sender.send(ev.Say(text=text))
        for person in people:
            got = texts(person, len(burst))
            assert sorted(got) == sorted(text for _, text in burst)  # all of them, once
            for sender in people[:3]:  # and each sender's messages in the order they were said
                said = [text for who, text in burst if who is sender]
                assert [t for t in got if t in said] == said


def test_a_join_notice_in_a_big_room_arrives_before_what_the_newcomer_says():
    size = FANOUT_CACHE_MIN + 2
    with running_server() as (_server, endpoint), contextlib.ExitStack() as stack:
        people = []
        for n in range(size):
            person = RawClient(endpoint, f"p{n}")
            stack.callback(person.close)
            people.append(person)
        newcomer = RawClient(endpoint, "late")
        stack.callback(newcomer.close)
        newcomer.send(ev.Say(text="hello all"))  # sent at once: the notice may still be waiting
        for person in people:
            seen = []
            while True:
                event = person.expect(ev.Event)
                seen.append(type(event).__name__)
                if isinstance(event, ev.Message) and event.text == "hello all":
                    break
            assert "Joined" in seen and seen.index("Joined") < seen.index("Message"), seen
        # and a notice with nothing after it still goes out on its own, soon
        newcomer.send(ev.Bye())
        for person in people:
            assert person.expect(ev.Left, name="late").reason == "quit"  # type: ignore[attr-defined]
