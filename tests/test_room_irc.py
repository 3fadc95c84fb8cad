"""/me, /nick, /away, /topic and typing hints in the room: a conversation, no sockets."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_moderation import ModDriver
from test_room import room_with

from lanchat import events as ev


def send(room, name: str, event: ev.Event) -> None:
    room.perform(room.room.handle(room.cid[name], event))


def test_me_reaches_everyone_stamped_with_the_senders_name():
    room = room_with("ann", "bob")
    send(room, "ann", ev.Me(text="waves"))
    for name in ("ann", "bob"):
        (got,) = room.take(name)
        assert isinstance(got, ev.Emote) and (got.sender, got.text) == ("ann", "waves")


def test_a_first_release_client_reads_me_and_nick_as_messages_while_here_and_the_rest_read_them_new():
    """/me and /nick reach a version-1 client (lanchat's first release) as frames it knows, and
    everyone else as ``action`` and ``renamed``, each once, in join order; once it has left (or
    in a room that never had one: room.first_releases) everyone gets the one new frame."""
    room = room_with("ann", "bob")
    old = room.connect()
    room.perform(room.room.handle(old, ev.Hello(name="olly", version=ev.FIRST_RELEASE_VERSION)))
    room.cid["olly"] = old
    room.join("cat")
    room.take_all()
    send(room, "ann", ev.Me(text="waves"))
    send(room, "bob", ev.Nick(name="rob"))
    for name in ("ann", "bob", "cat"):
        assert [type(e) for e in room.take(name)] == [ev.Emote, ev.Renamed]
    got = room.take("olly")
    assert [type(e) for e in got] == [ev.Message, ev.Left, ev.Joined] and got[0].text == "*waves*"  # bob left, rob joined
    room.perform(room.room.handle(old, ev.Bye()))
    room.take_all()
    send(room, "cat", ev.Me(text="nods"))
    assert all([type(e) for e in room.take(name)] == [ev.Emote] for name in ("ann", "bob", "cat"))


def test_nick_renames_by_the_same_rules_as_a_hello():
    room = room_with("ann", "bob", host="hal")
    send(room, "ann", ev.Nick(name="BOB"))
    assert room.only_error("ann").code == ev.E_NAME_TAKEN
    send(room, "ann", ev.Nick(name="two words"))
    assert room.only_error("ann").code == ev.E_BAD_NAME
    send(room, "ann", ev.Nick(name="colourbot"))
    assert room.only_error("ann").code == ev.E_BAD_NAME
    send(room, "ann", ev.Nick(name="anna"))
    for name in ("ann", "bob", "hal"):
        (got,) = room.take(name)
        assert isinstance(got, ev.Renamed) and (got.old, got.new) == ("ann", "anna")
    assert room.room.names == ("hal", "anna", "bob") and room.room.find("ann") is None
    send(room, "bob", ev.Whisper(to="anna", text="hi"))
    assert [type(e) for e in room.take("ann")] == [ev.Direct]  # reached under the new name
    room.take_all()
    send(room, "ann", ev.Nick(name="ANNA"))  # a new spelling of one's own name is fine
    assert isinstance(room.take("bob")[0], ev.Renamed)


def test_away_is_told_to_all_and_answered_once_to_each_whisperer():
    room = room_with("ann", "bob", "cat")
    send(room, "ann", ev.SetAway(reason="  at   lunch "))
    for name in ("ann", "bob", "cat"):
        (got,) = room.take(name)
        assert isinstance(got, ev.Away) and (got.name, got.reason, got.answer) == ("ann", "at lunch", False)
    room.whisper("bob", "ann", "are you there?")
    answers = [e for e in room.take("bob") if isinstance(e, ev.Away)]
    assert len(answers) == 1 and answers[0].answer and answers[0].reason == "at lunch"
    room.whisper("bob", "ann", "hello?")
    assert not [e for e in room.take("bob") if isinstance(e, ev.Away)]  # once
    newcomer = room.join("dan")
    assert any(isinstance(e, ev.Away) and e.name == "ann" for e in room.take(newcomer))  # told on joining
    room.take_all()
    send(room, "ann", ev.SetAway(reason=""))
    (back,) = room.take("cat")
    assert isinstance(back, ev.Away) and back.reason == ""


def test_a_newcomer_hears_who_is_away_now_in_join_order_and_nothing_when_nobody_is():
    """After the welcome a newcomer is told who is away (room_social.after_welcome): those away
    now, in the order they joined, not the order they went away; not whoever came back or left.
    With nobody away it is told nothing, found without asking each member (room.shown_away)."""
    room = room_with("ann", "bob", "cat", "dan")
    assert not [e for e in room.take(room.join("eve")) if isinstance(e, ev.Away)]
    for name, reason in (("dan", "lunch"), ("ann", "call"), ("bob", "brb"), ("cat", "gone"), ("bob", "")):
        send(room, name, ev.SetAway(reason=reason))
    room.perform(room.room.handle(room.cid["cat"], ev.Bye()))
    room.take_all()
    told = [(e.name, e.reason) for e in room.take(room.join("fay")) if isinstance(e, ev.Away)]
    assert told == [("ann", "call"), ("dan", "lunch")]
    for name in ("ann", "dan"):
        send(room, name, ev.SetAway(reason=""))
    assert not [e for e in room.take(room.join("gus")) if isinstance(e, ev.Away)]


def test_away_and_topic_reach_exactly_who_is_here_after_people_came_and_went():
    """/away and /topic go to the room's own roster of who is here (room._everyone, the tuple the
    outbox has seen), not a copy made per event: whoever left is not told, whoever came since is,
    each once, the sender too."""
    room = room_with("ann", "bob", "cat", host="hal")
    room.leave("cat")
    room.join("dan")
    room.take_all()
    send(room, "ann", ev.SetAway(reason="lunch"))
    send(room, "hal", ev.SetTopic(text="fractions"))
    room.bye("bob")
    room.join("eve")
    send(room, "ann", ev.SetAway(reason=""))
    told = {name: [(type(e).__name__, getattr(e, "reason", getattr(e, "text", None))) for e in room.take(name)
                   if isinstance(e, (ev.Away, ev.Topic))] for name in ("hal", "ann", "dan", "eve")}
    assert told["hal"] == told["ann"] == told["dan"] == [("Away", "lunch"), ("Topic", "fractions"), ("Away", "")]
    assert told["eve"] == [("Topic", "fractions"), ("Away", "lunch"), ("Away", "")]  # as a newcomer, then the news
    assert not room.take("cat") and [type(e) for e in room.take("bob")] == [ev.Away, ev.Topic]  # not after the bye


def test_a_newcomer_reads_when_someone_went_away_not_when_it_joined():
    """The away-status a newcomer got after its welcome carried the time it joined, so "ann is
    away" read as news of that moment; a topic kept the time it was set. Now it carries when the
    others were told (PROTOCOL.md, away-status): the change of reason they read included, in a
    turn room the one "away" they read, not a reason they never saw. A whisper's answer is news
    of the moment it is sent, as before."""
    from test_room import START

    room = room_with("ann", "bob", host="hal")
    room.now = START + 10
    send(room, "ann", ev.SetAway(reason="lunch"))
    room.now = START + 600
    assert [(e.reason, e.time) for e in room.take(room.join("cat")) if isinstance(e, ev.Away)] == [("lunch", START + 10)]
    room.now = START + 700
    send(room, "ann", ev.SetAway(reason="back at two"))
    room.whisper("bob", "ann", "there?")
    answers = [(e.reason, e.time) for e in room.take("bob") if isinstance(e, ev.Away) and e.answer]
    assert answers == [("back at two", START + 700)]
    room.now = START + 900
    assert [(e.reason, e.time) for e in room.take(room.join("dan")) if isinstance(e, ev.Away)] == [("back at two", START + 700)]

    turn = room_with("ann", "bob", mode="turn", host="hal")  # ann holds no turn: the others read "away"
    turn.now = START + 10
    send(turn, "bob", ev.SetAway(reason="the answer is 42"))
    turn.now = START + 100
    send(turn, "bob", ev.SetAway(reason="the answer is 43"))  # the others are told nothing new
    turn.now = START + 600
    assert [(e.reason, e.time) for e in turn.take(turn.join("cat")) if isinstance(e, ev.Away)] == [("away", START + 10)]


def test_an_away_asked_again_by_a_rejoin_keeps_the_time_it_was_set():
    """ann went away at lunch; her Wi-Fi dropped and her client rejoined and asked it again
    (PROTOCOL.md, Rejoining): a newcomer then read she went away at the rejoin. The same reason,
    asked again soon after the session is taken back, keeps its time; another reason, or one
    asked long after (a client that does not ask again, then /away an hour later), is new."""
    from test_room import START, RoomDriver

    secrets = iter(f"s{i}" for i in range(100))
    room = RoomDriver(resume_tokens=lambda: next(secrets))
    room.join("bob")

    def drop_and_rejoin(away: str | None, after: float = 1.0) -> None:
        secret = room.room.members[room.cid["ann"]].resume
        room.now += 600.0
        room.leave("ann", "lost")
        room.now += 5.0
        room.cid["ann"] = back = room.connect()
        room.perform(room.room.handle(back, ev.Hello(name="ann", resume=secret)))
        room.now += after
        if away is not None:
            send(room, "ann", ev.SetAway(reason=away))

    def newcomer_reads() -> list[tuple[str, float]]:
        late = room.join(f"n{room.now:.0f}")
        said = [(e.reason, e.time) for e in room.take(late) if isinstance(e, ev.Away)]
        room.leave(room.room.name_of(late) or "", "quit")
        return said

    room.join("ann")
    room.now = START + 10
    send(room, "ann", ev.SetAway(reason="lunch"))
    drop_and_rejoin("lunch")
    assert newcomer_reads() == [("lunch", START + 10)]  # before: the rejoin's time
    drop_and_rejoin("tea")  # another reason: news of now
    assert newcomer_reads() == [("tea", room.now)]
    told = room.now
    drop_and_rejoin(None)  # not asked again (an older client), then the same reason an hour later
    room.now += 3_600.0
    send(room, "ann", ev.SetAway(reason="tea"))
    assert newcomer_reads() == [("tea", room.now)] and room.now != told


def test_the_topic_is_told_to_all_and_to_each_newcomer():
    room = room_with("ann", "bob")
    send(room, "ann", ev.SetTopic(text="lab 3: sockets"))
    (got,) = room.take("bob")
    assert isinstance(got, ev.Topic) and (got.text, got.by) == ("lab 3: sockets", "ann")
    newcomer = room.join("cat")
    assert [e.text for e in room.take(newcomer) if isinstance(e, ev.Topic)] == ["lab 3: sockets"]
    room.take_all()
    send(room, "ann", ev.SetTopic(text="x" * (ev.MAX_TOPIC_CHARS + 1)))
    assert room.only_error("ann").code == ev.E_TOO_LONG


def test_in_a_room_with_a_host_or_operators_only_they_set_or_clear_the_topic():
    """IRC's +t, in a class: a student's /topic went to everyone's status line under the teacher's nose."""
    room = ModDriver()
    for name in ("hal", "ann", "bob"):
        room.arrive(name, host=name == "hal")
    room.take_all()
    send(room, "bob", ev.SetTopic(text="no homework today"))
    assert room.only_error("bob") == ev.Error(
        code=ev.E_NOT_OPERATOR, message="only the host and operators change the topic in this room; hal (the host) is one"
    )
    room.nobody_else_got_anything("hal", "ann")
    send(room, "hal", ev.SetTopic(text="lab 3: sockets"))
    assert [e.text for e in room.take("bob") if isinstance(e, ev.Topic)] == ["lab 3: sockets"]
    send(room, "bob", ev.SetTopic(text=""))  # clearing it is setting it
    assert room.only_error("bob").code == ev.E_NOT_OPERATOR
    assert room.room.topic is not None and room.room.topic.text == "lab 3: sockets"
    send(room, "hal", ev.Moderate(action="op", name="ann"))
    room.take_all()
    send(room, "ann", ev.SetTopic(text=""))  # an operator may
    assert [(e.text, e.by) for e in room.take("bob") if isinstance(e, ev.Topic)] == [("", "ann")]


def test_a_headless_room_with_an_operator_to_come_keeps_the_topic_for_them():
    room = ModDriver(operators=("teach",))  # serve --operator teach; teach not here yet
    room.arrive("bob")
    room.take_all()
    send(room, "bob", ev.SetTopic(text="party"))
    assert "nobody here is an operator" in room.only_error("bob").message
    room.arrive_with_key("teach", Ed25519PrivateKey.generate())  # the operator --operator named
    room.take_all()
    send(room, "teach", ev.SetTopic(text="lab 3"))
    assert [e.text for e in room.take("bob") if isinstance(e, ev.Topic)] == ["lab 3"]


def test_in_a_room_without_any_operator_anyone_sets_the_topic():
    room = room_with("ann", "bob")  # friends on a LAN: a headless server, no --operator, no /op
    send(room, "bob", ev.SetTopic(text="pizza at 8"))
    assert [e.text for e in room.take("ann") if isinstance(e, ev.Topic)] == ["pizza at 8"]


def test_typing_hints_go_to_the_others_at_most_every_few_seconds():
    room = room_with("ann", "bob")
    send(room, "ann", ev.Typing())
    assert room.take("bob") == [ev.TypingHint(name="ann")] and room.take("ann") == []
    for _ in range(50):  # a flood of hints
        send(room, "ann", ev.Typing())
    assert room.take("bob") == []
    room.now += 3.0
    send(room, "ann", ev.Typing())
    assert room.take("bob") == [ev.TypingHint(name="ann")]


def test_a_message_resets_the_hint_limit_so_the_next_message_is_hinted_at_once():
    room = room_with("ann", "bob")
    send(room, "ann", ev.Typing())
    room.say("ann", "first")
    room.take_all()
    send(room, "ann", ev.Typing())  # within 3 s, but for a new message
    assert room.take("bob") == [ev.TypingHint(name="ann")]
