"""Who a participant's Session believes is here, from the server's events alone: fast, with no
socket or terminal. A Session that forgets to drop someone who left (a bug once caught only by a
slow end-to-end test) fails here in microseconds."""

import pytest

from lanchat import events as ev
from lanchat.session import Outgoing, Session


def welcomed(name: str = "ann", members: tuple[str, ...] = ("ann", "bob", "cat")) -> Session:
    session = Session(name=name)
    session.on_event(ev.Welcome(name=name, mode="duplex", members=members))
    return session


@pytest.mark.parametrize("reason", ["quit", "lost", "dropped"])
def test_someone_who_leaves_is_no_longer_here(reason):
    session = welcomed()
    (line,) = session.on_event(ev.Left(name="bob", reason=reason, time=2.0))
    assert session.members == ["ann", "cat"]
    assert line.text.endswith("(2 here)")


def test_a_newcomer_is_added_once_and_dropped_when_gone():
    session = welcomed(members=("ann",))
    session.on_event(ev.Joined(name="dan", time=1.0))
    session.on_event(ev.Joined(name="dan", time=1.0))  # said twice: still one dan
    assert session.members == ["ann", "dan"]
    session.on_event(ev.Left(name="dan", reason="quit", time=2.0))
    assert session.members == ["ann"]


def test_someone_who_left_is_not_mentioned_as_here_in_a_later_notice():
    session = welcomed()
    session.on_event(ev.Left(name="cat", reason="quit", time=2.0))
    (line,) = session.on_event(ev.Joined(name="eve", time=3.0))
    assert session.members == ["ann", "bob", "eve"]
    assert line.text == "eve joined (3 here)"


def test_a_leave_for_someone_never_seen_changes_nothing():
    session = welcomed()
    session.on_event(ev.Left(name="zed", reason="lost", time=2.0))
    assert session.members == ["ann", "bob", "cat"]


def test_the_end_of_an_empty_replay_on_joining_says_nothing_but_an_asked_one_does():
    session = welcomed()
    assert session.on_event(ev.HistoryEnd(shown=0, more=False, before=None)) == []  # the join's replay
    (line,) = session.parse_input("/history").lines  # nothing kept before the join: said at once, nothing asked
    assert line.text == "no earlier history: the room kept nothing from before you joined"
    session = welcomed()
    session.on_event(ev.HistoryEnd(shown=0, more=True, before=None))  # a replay of 0 (serve --replay 0): older ones exist
    assert isinstance(session.parse_input("/history"), Outgoing)
    (line,) = session.on_event(ev.HistoryEnd(shown=0, more=False, before=7))
    assert line.text == "no earlier history"


def test_who_marks_who_is_away_as_the_roster_pane_does_with_the_reason():
    """The roster pane marked ann "(away)", but /who's answer did not: the teacher asking who
    is here could not tell who was at lunch."""
    session = Session(name="bob", host="hal")
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("hal", "ann", "bob", "cy"), host="hal"))
    session.on_event(ev.Away(name="ann", reason="lunch", time=1.0))
    session.on_event(ev.Away(name="HAL", reason="away", time=1.0))  # /away without a reason; any case
    session.on_event(ev.Away(name="cy", reason="brb", time=1.0))
    session.on_event(ev.Away(name="cy", reason="", time=2.0))  # cy is back
    (line,) = session.on_event(ev.Roster(members=("hal", "ann", "bob", "cy")))
    assert line.text == "here (4): hal (host, away), ann (away: lunch), bob (you), cy"


def test_who_marks_who_is_muted_and_for_how_long():
    """A teacher who muted two students could not see it in /who: the roster now says who is
    muted (PROTOCOL.md, Moderation); a server that sends too few minutes gets a plain "muted"."""
    session = Session(name="hal", host="hal")
    session.on_event(ev.Welcome(name="hal", mode="duplex", members=("hal", "ann", "bob", "cy"), host="hal"))
    session.on_event(ev.Away(name="cy", reason="lunch", time=1.0))
    roster = ev.Roster(members=("hal", "ann", "bob", "cy"), muted=("BOB", "cy", "ann"), muted_minutes=(1, 0))
    (line,) = session.on_event(roster)
    assert line.text == "here (4): hal (host, you), ann (muted), bob (muted for 1 more minute), cy (away: lunch, muted until unmuted)"


def test_who_does_not_repeat_a_hostile_servers_absurd_minutes():
    """A mute lasts at most a week (MAX_MUTE_MINUTES); another server's 2**53 minutes read "muted"."""
    session = Session(name="ann")
    session.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann", "bob", "cy")))
    roster = ev.Roster(members=("ann", "bob", "cy"), muted=("bob", "cy"), muted_minutes=(2**53, ev.MAX_MUTE_MINUTES))
    (line,) = session.on_event(roster)
    assert line.text == f"here (3): ann (you), bob (muted), cy (muted for {ev.MAX_MUTE_MINUTES} more minutes)"


def test_who_leaves_while_away_is_not_away_when_back():
    """The server forgets an away status when its member leaves; the client kept it, so /who
    and the roster pane showed the one who came back as '(away: lunch)'."""
    ann = Session(name="ann")
    ann.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann", "bob")))
    ann.on_event(ev.Away(name="bob", reason="lunch", time=1.0))
    ann.on_event(ev.Left(name="bob", reason="lost", time=2.0))
    ann.on_event(ev.Joined(name="bob", time=3.0))
    (line,) = ann.on_event(ev.Roster(members=("ann", "bob")))
    assert line.text == "here (2): ann (you), bob"


def test_names_reasons_and_topics_longer_than_a_server_sends_are_left_out_with_a_line():
    """A fake server's 60,000-character names and reasons were kept (who is here, who is away)."""
    from lanchat.session import too_long

    session = Session(name="ann", members=["ann"], clock=lambda: 1_700_000_000.0)
    long_name = "n" * (ev.MAX_NAME_CHARS + 1)
    for event in (
        ev.Joined(name=long_name, time=1.0),
        ev.Away(name="bob", reason="r" * (ev.MAX_AWAY_CHARS + 1), time=1.0),
        ev.Topic(text="t" * (ev.MAX_TOPIC_CHARS + 1), by="bob", time=1.0),
        ev.Message(sender=long_name, text="hi", time=1.0),
        ev.TypingHint(name=long_name),
    ):
        [line] = session.on_event(event)
        assert line.kind == "error" and line.text.startswith("a message from the server was not shown: "), line.text
    assert session.members == ["ann"] and session.away == {} and session.topic == "" and session.typing == {}
    assert too_long(ev.Joined(name="n" * ev.MAX_NAME_CHARS, time=1.0)) is None  # as long as a real one may be
    assert too_long(ev.Message(sender="bob", text="x" * 60_000, time=1.0)) is None  # cut where it is kept (ui/view.py)


class CountedName(str):
    """A name that counts how often it is hashed or compared: a member list walked at each join
    or leave (``name in members`` on a list) shows as comparisons growing with the room."""

    touches = 0

    def __eq__(self, other: object) -> bool:
        CountedName.touches += 1
        return str.__eq__(self, other)

    def __hash__(self) -> int:
        CountedName.touches += 1
        return str.__hash__(self)


def _touches_for_a_class_coming_and_going(count: int, reader: str) -> int:
    """How often names are hashed or compared while ``count`` people join one by one and then
    leave, the last to come first (a list scanned at each leave walks everyone)."""
    from lanchat.textview import TextView
    from lanchat.ui.view import View

    session = welcomed(members=("ann",))
    view, text = View(session), TextView()
    text.describe(ev.Welcome(name="ann", mode="duplex", members=("ann",)))
    names = [f"s{n}" for n in range(count)]
    CountedName.touches = 0
    for changes in ([ev.Joined(name=CountedName(name), time=1.0) for name in names],
                    [ev.Left(name=CountedName(name), reason="quit", time=2.0) for name in reversed(names)]):
        for event in changes:
            if reader == "screen":
                view.add(session.on_event(event))  # the full screen: the session, then its view (a burst folds)
            else:
                text.describe(event)  # a text participant's reading (nc, telnet: textview.py)
    assert list(session.members if reader == "screen" else text.members) == ["ann"]
    return CountedName.touches


@pytest.mark.parametrize("reader", ["screen", "text"])
def test_joins_and_leaves_cost_the_same_however_many_are_here(reader):
    """A fake server announcing 20,000 joins froze the full screen for 4.5 s: each join asked
    ``name in members`` of a list, each leave ``remove``d from it, a walk through everyone here.
    Counted, not timed: four times the joins and leaves may touch names about four times as
    often (a walk at each would be sixteen times)."""
    few, many = _touches_for_a_class_coming_and_going(500, reader), _touches_for_a_class_coming_and_going(2000, reader)
    assert many <= 6 * few, (few, many)
