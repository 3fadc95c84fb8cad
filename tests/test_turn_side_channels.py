"""A student without the turn, in a turn-based room, against a real ``lanchat serve``: /topic
and /away must not put their text in front of the class (PROTOCOL.md 7). Raw frames, as an
attacker's script would send them (test_protocol_outsider.Outsider)."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import Proc, short_tmp_dir
from test_protocol_outsider import Outsider, serve

ANSWER = "the answer is 42"


def said_anywhere(frames: list[dict[str, object]]) -> bool:
    return any(ANSWER in str(value) for frame in frames for value in frame.values())


def what_a_newcomer_reads(port: int) -> list[dict[str, object]]:
    """The frames "cat", joining now, reads after the welcome."""
    late = Outsider(port)
    try:
        assert late.join("cat")["type"] == "welcome"
        return late.drain()
    finally:
        late.close()


def turn_room(*extra: str) -> tuple[Proc, int, list[Outsider]]:
    """ann (holds the turn), bob (does not), teach (an operator by serve --operator)."""
    server, port = serve("--no-history", "--mode", "turn", "--operator", "teach", *extra)
    ann, bob, teach = Outsider(port), Outsider(port), Outsider(port)
    assert ann.join("ann")["turn"] == "ann"
    assert bob.join("bob")["type"] == "welcome"
    assert teach.join("teach", key=Ed25519PrivateKey.generate())["type"] == "welcome"
    teach.until("operators")
    for person in (ann, bob):
        person.until("joined", name="teach")
    return server, port, [ann, bob, teach]


def test_a_student_without_the_turn_cannot_set_the_topic_in_a_turn_room():
    server, port, (ann, bob, teach) = turn_room()
    try:
        bob.send(type="topic", text=ANSWER)
        refusal, _ = bob.until("error")
        assert refusal["code"] == "not-operator"
        assert "only the host and operators change the topic" in str(refusal["message"])
        assert not said_anywhere(ann.drain() + teach.drain())
        assert not said_anywhere(what_a_newcomer_reads(port))
    finally:
        for person in (ann, bob, teach):
            person.close()
        server.stop()


def test_a_student_without_the_turn_cannot_rename_to_an_answer_in_a_turn_room():
    """/nick tells everyone "bob is now the answer is 42": it waits for the turn. The holder
    and an operator rename as before."""
    server, port, (ann, bob, teach) = turn_room()
    try:
        bob.send(type="nick", name="answer-is-42")
        refusal, _ = bob.until("error")
        assert refusal["code"] == "not-operator"
        assert "change your name when it is your turn" in str(refusal["message"])
        ann.send(type="nick", name="annie")  # the holder
        teach.send(type="nick", name="teacher")  # an operator without the turn
        for person in (ann, bob, teach):
            person.until("renamed", old="ann", new="annie")
            person.until("renamed", old="teach", new="teacher")
        assert not any("answer" in str(frame) for frame in ann.drain() + teach.drain())
        assert not any("answer" in str(frame) for frame in what_a_newcomer_reads(port))
    finally:
        for person in (ann, bob, teach):
            person.close()
        server.stop()


def test_an_operator_sets_the_topic_in_a_turn_room_without_the_turn():
    server, port, (ann, bob, teach) = turn_room()
    try:
        teach.send(type="topic", text="quiz: no answers aloud")
        for person in (ann, bob, teach):
            topic, _ = person.until("room-topic")
            assert (topic["text"], topic["by"]) == ("quiz: no answers aloud", "teach")
    finally:
        for person in (ann, bob, teach):
            person.close()
        server.stop()


def test_an_away_reason_from_a_student_without_the_turn_reaches_nobody_else():
    """bob is marked away, and others read only that; the reason goes to bob and, once, to
    whoever whispers him; a newcomer reads only that he is away too."""
    server, port, (ann, bob, teach) = turn_room()
    try:
        bob.send(type="away", reason=ANSWER)
        own, _ = bob.until("away-status")
        assert (own["name"], own["reason"]) == ("bob", ANSWER)
        for person in (ann, teach):
            told, before = person.until("away-status", name="bob")
            assert told["reason"] == "away" and not said_anywhere(before)
        bob.send(type="away", reason=ANSWER + "!")  # another reason: the others hear nothing more
        bob.until("away-status", reason=ANSWER + "!")
        assert not said_anywhere(ann.drain() + teach.drain())
        ann.send(type="whisper", to="bob", text="are you there?")
        answer, _ = ann.until("away-status", answer=True)
        assert answer["reason"] == ANSWER + "!"  # a whisper's answer, to ann alone, as before
        late = Outsider(port)
        try:
            assert late.join("cat")["type"] == "welcome"
            told, _ = late.until("away-status", name="bob")
            assert told["reason"] == "away"
        finally:
            late.close()
    finally:
        for person in (ann, bob, teach):
            person.close()
        server.stop()


def test_the_turns_holder_and_everyone_in_a_duplex_room_are_heard_as_before():
    server, port, (ann, bob, teach) = turn_room()
    try:
        ann.send(type="away", reason="back in five")  # ann holds the turn
        for person in (ann, bob, teach):
            person.until("away-status", name="ann", reason="back in five")
    finally:
        for person in (ann, bob, teach):
            person.close()
        server.stop()
    server, port = serve("--no-history")  # duplex
    ann, bob = Outsider(port), Outsider(port)
    try:
        assert ann.join("ann")["type"] == "welcome" and bob.join("bob")["type"] == "welcome"
        bob.send(type="topic", text=ANSWER)
        bob.send(type="away", reason=ANSWER)
        for person in (ann, bob):
            assert person.until("room-topic", text=ANSWER, by="bob")
            assert person.until("away-status", name="bob", reason=ANSWER)
    finally:
        ann.close()
        bob.close()
        server.stop()


def test_through_the_real_client_a_student_without_the_turn_reaches_nobody_by_topic_or_away():
    """teach hosts a turn room (serve --plain); ann holds the turn, bob types /topic and /away."""
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        teach = Proc("serve", "--plain", "--name", "teach", "--mode", "turn", "--unix", path, "--no-history")
        ann = bob = None
        try:
            teach.expect(r"welcome, teach")
            ann = Proc("connect", "--unix", path, "--name", "ann", "--plain")
            ann.expect(r"welcome, ann")
            bob = Proc("connect", "--unix", path, "--name", "bob", "--plain")
            bob.expect(r"welcome, bob")
            ann.expect(r"bob joined")
            bob.send(f"/topic {ANSWER}")
            bob.expect(r"in a turn-based room only the host and operators change the topic")
            bob.send(f"/away {ANSWER}")
            bob.expect(rf"you are away: {ANSWER}")
            for person in (ann, teach):
                person.expect(r"-!- bob is away$|bob is away$")
            teach.send("/topic quiz: no answers aloud")
            ann.expect(r"topic: quiz: no answers aloud \(set by teach\)")
            assert ANSWER not in ann.output and ANSWER not in teach.output
        finally:
            for proc in (bob, ann, teach):
                if proc is not None:
                    proc.stop()
