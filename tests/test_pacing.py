"""The client's pacing to the room's flood limit (pacing.py), on a hand-turned clock: what the
server's own bucket (limits.FloodControl) would refuse never leaves; nothing waiting is lost or
reordered; what the server does not count never waits."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from lanchat import events as ev
from lanchat import limits as lim
from lanchat.guard import quoted
from lanchat.pacing import HOLD_SECONDS, MAX_WAIT_SECONDS, SendPacer, without_muted


def welcome(burst: int | None = 10, rate: float | None = 3.0) -> ev.Welcome:
    return ev.Welcome(name="ann", mode="duplex", members=("ann",), flood_burst=burst, flood_rate=rate)


def test_a_paste_goes_out_at_the_rooms_pace_in_order_and_the_server_refuses_none():
    pacer, server = SendPacer(), lim.FloodControl()  # the server's default: 10 at once, then 3 a second
    now = 100.0
    pacer.allow(welcome(), now)
    lines = [ev.Say(text=f"line {n}") if n % 5 else ev.Whisper(to="bob", text=f"line {n}") for n in range(40)]
    sent = [line for line in lines if pacer.send(line, now)]
    assert len(sent) == 9  # the burst, less the token held back for jitter
    assert pacer.due(now) and 0.3 < pacer.due(now) < 0.4  # type: ignore[operator]
    for _line in sent:
        assert server.check("ann", now).allowed
    while pacer.waiting:
        now += pacer.due(now)  # type: ignore[operator]  # the loop's select timeout
        for line in pacer.release(now):
            sent.append(line)
            assert server.check("ann", now).allowed, f"{line} would be refused"
    assert sent == lines  # all of them, in order (the whisper stays where it was typed)
    assert pacer.due(now) is None


def test_what_the_server_does_not_count_never_waits():
    pacer = SendPacer()
    pacer.allow(welcome(burst=1, rate=1.0), 0.0)
    assert pacer.send(ev.Say(text="one"), 0.0)
    assert not pacer.send(ev.Say(text="two"), 0.0)
    assert pacer.send(ev.Typing(), 0.0) and pacer.send(ev.Bye(), 0.0)
    assert [e.text for e in pacer.waiting] == ["two"]  # type: ignore[attr-defined]


def test_no_allowance_means_no_pacing_and_releases_what_waited():
    pacer = SendPacer()
    pacer.allow(welcome(None, None), 0.0)  # limits off, or the host, a bot, an operator
    assert all(pacer.send(ev.Say(text=str(n)), 0.0) for n in range(100))
    pacer.allow(welcome(burst=1, rate=1.0), 0.0)
    pacer.send(ev.Say(text="a"), 0.0)
    pacer.send(ev.Say(text="b"), 0.0)
    pacer.allow(welcome(None, None), 0.0)  # a rejoin into a room without limits
    assert pacer.due(0.0) == 0.0 and [e.text for e in pacer.release(0.0)] == ["b"]  # type: ignore[attr-defined]
    for nonsense in ((0, 3.0), (10, 0.0), (-5, -1.0)):  # a server's nonsense never stalls the client
        pacer.allow(welcome(*nonsense), 0.0)
        assert pacer.send(ev.Say(text="c"), 0.0)
    for slow in (1e-9, 5e-324):  # a fake server's one line in 30 years: the loop still wakes
        pacer.allow(welcome(1, slow), 0.0)
        pacer.send(ev.Say(text="d"), 0.0)
        assert not pacer.send(ev.Say(text="e"), 0.0)
        assert pacer.due(0.0) == MAX_WAIT_SECONDS and pacer.release(MAX_WAIT_SECONDS) == []


def test_a_rejoin_takes_the_new_allowance_and_keeps_what_was_spent():
    pacer = SendPacer()
    pacer.allow(welcome(burst=10, rate=3.0), 0.0)
    assert sum(pacer.send(ev.Say(text=str(n)), 0.0) for n in range(9)) == 9  # all spent
    pacer.allow(welcome(burst=20, rate=10.0), 0.0)  # the server's bucket is not refilled by rejoining
    assert not pacer.send(ev.Say(text="x"), 0.0)
    assert 0.1 < pacer.due(0.0) < 0.11  # type: ignore[operator]  # at the new rate, with the margin
    assert pacer.text() == "sending 1 waiting line (10 a second)"
    assert pacer.drop() == 1 and pacer.due(0.0) is None


def test_a_mute_drops_only_what_it_refuses_and_the_rest_keeps_its_order():
    pacer = SendPacer()
    pacer.allow(welcome(burst=2, rate=1.0), 0.0)
    held = [ev.Say(text="a"), ev.Who(), ev.Whisper(to="bo", text="b"), ev.SetAway(reason=""), ev.SetAway(reason="lunch"), ev.Me(text="waves")]
    assert pacer.send(ev.Say(text="first"), 0.0)
    assert not any(pacer.send(event, 0.0) for event in held)
    assert pacer.drop_muted() == 4  # the say, the whisper, the away with a reason, the /me
    assert list(pacer.waiting) == [ev.Who(), ev.SetAway(reason="")]  # /who and coming back are allowed


def test_a_mute_keeps_a_whisper_to_the_host_or_an_operator_waiting_and_drops_the_rest():
    # A muted person may whisper the host and operators, to ask why (PROTOCOL.md, Moderation):
    # typed while offline, such a whisper goes at the rejoin instead of being dropped as muted.
    pacer = SendPacer()
    pacer.allow(welcome(burst=1, rate=1.0), 0.0)
    assert pacer.send(ev.Say(text="first"), 0.0)
    held = [ev.Whisper(to="Teacher", text="why?"), ev.Whisper(to="bo", text="psst"), ev.Say(text="hi")]
    assert not any(pacer.send(event, 0.0) for event in held)
    operators = {"teacher"}.__contains__  # as Session.is_operator: names compare folded
    assert pacer.drop_muted(lambda name: operators(name.lower())) == 2
    assert list(pacer.waiting) == [ev.Whisper(to="Teacher", text="why?")]
    assert without_muted(held, lambda name: operators(name.lower())) == ([held[0]], 2)
    assert without_muted(held) == ([], 3)  # nobody named: every whisper is refused


def test_a_welcome_that_finds_the_bucket_spent_starts_the_pacing_from_what_is_left():
    # A new process (or a second terminal) of someone whose server-side bucket is spent: the
    # welcome says how many tokens are left, and nothing it sends from then on is refused.
    server = lim.FloodControl()
    now = 100.0
    for _ in range(10):
        assert server.check("ann", now).allowed  # the first session's paste took the burst
    left = server.tokens_left("ann", now)
    assert left == 0
    pacer = SendPacer()
    pacer.allow(ev.Welcome(name="ann", mode="duplex", members=("ann",), flood_burst=10, flood_rate=3.0, flood_tokens=left), now)
    lines = [ev.Say(text=f"line {n}") for n in range(15)]
    sent = [line for line in lines if pacer.send(line, now)]
    assert sent == []  # not the burst a full bucket would send at once
    while pacer.waiting:
        now += pacer.due(now)  # type: ignore[operator]
        for line in pacer.release(now):
            sent.append(line)
            assert server.check("ann", now).allowed, f"{line} would be refused"
    assert sent == lines


def test_the_tokens_left_keep_the_same_margin_and_absent_means_all():
    for left, starts_with in ((None, 9), (10, 9), (4, 3), (1, 0), (0, 0), (99, 9), (-3, 0)):
        pacer = SendPacer()
        pacer.allow(ev.Welcome(name="ann", mode="duplex", members=("ann",), flood_burst=10, flood_rate=3.0, flood_tokens=left), 0.0)
        assert sum(pacer.send(ev.Say(text="x"), 0.0) for _ in range(20)) == starts_with, left


def send_and_release(pacers: list[SendPacer], typed: dict[int, list[ev.Event]], arrive: Callable[[int, ev.Event, float], None], now: float) -> None:
    """Each person's pacer sends what they typed at ``now``, then every pacer releases what it held,
    at the earliest time one is due, until none waits; ``arrive(who, frame, when)`` is the server."""
    for who, pacer in enumerate(pacers):
        for frame in typed[who]:
            if pacer.send(frame, now):
                arrive(who, frame, now)
    while any(pacer.waiting for pacer in pacers):
        now += min(due for pacer in pacers if (due := pacer.due(now)) is not None)
        for who, pacer in enumerate(pacers):
            for frame in pacer.release(now):
                arrive(who, frame, now)


def test_two_sessions_of_one_person_lose_nothing_the_shared_bucket_refuses():
    # Two names under one key share the server's bucket, and each pacer thinks it has it alone:
    # the server quotes each refused frame (guard.quoted) and its pacer sends it again, in its
    # place, after a token is back. Every line arrives once, each session's in order.
    server = lim.FloodControl()
    now = 100.0
    sessions = [SendPacer(), SendPacer()]
    typed = {0: [ev.Say(text=f"a{n}") for n in range(20)], 1: [ev.Say(text=f"b{n}") for n in range(19)] + [ev.Who()]}
    delivered: dict[int, list[ev.Event]] = {0: [], 1: []}
    refusals = 0

    def arrive(who: int, frame: ev.Event, now: float) -> None:
        nonlocal refusals
        verdict = server.check("ann's key", now)
        assert verdict.action in (lim.OK, lim.SLOW_DOWN), "the server would stop reading a paced client"
        if verdict.allowed:
            delivered[who].append(frame)
        else:
            refusals += 1
            assert sessions[who].refused(quoted(frame), now)

    for pacer in sessions:
        pacer.allow(welcome(), now)
    send_and_release(sessions, typed, arrive, now)
    assert delivered == typed
    assert refusals  # the case this is about: the two together went past the shared bucket


def test_a_refusal_that_quotes_nothing_of_ours_is_left_to_be_shown():
    pacer = SendPacer()
    pacer.allow(welcome(), 0.0)
    assert pacer.send(ev.Say(text="mine"), 0.0)
    assert not pacer.refused(None, 0.0)  # an older server quotes nothing
    assert not pacer.refused(quoted(ev.Say(text="not mine")), 0.0)
    assert not pacer.refused("{not json", 0.0)
    assert not pacer.refused(quoted(ev.Say(text="mine")), 31.0)  # too long ago to be this one
    assert pacer.refused(quoted(ev.Say(text="mine")), 0.5) is None  # forgotten once looked past
    assert pacer.send(ev.Say(text="again"), 1.0)
    assert pacer.refused(quoted(ev.Say(text="again")), 1.0)
    assert [e.text for e in pacer.waiting] == ["again"] and not pacer.refused(quoted(ev.Say(text="again")), 1.0)  # type: ignore[attr-defined]


def test_a_class_behind_one_address_pasting_at_once_is_never_paused_and_loses_nothing():
    # 16 students behind one school NAT, each pasting 3-9 lines at the same instant: the
    # address's shared bucket (two people's worth) refuses most of them. Each refusal says
    # when to try again (retry_after); each pacer holds its lines until then, so what it sends
    # again obeys it and is no step towards a pause: nobody is paused or cut, every line arrives
    # once, each student's in order. (Before retry_after: 3-4 of them were paused.)
    server = lim.FloodControl()
    now = 100.0
    shared = lim.SharedBucket(lim.DEFAULT_BURST * lim.ADDRESS_SHARE, lim.DEFAULT_RATE * lim.ADDRESS_SHARE, now)
    students = [SendPacer() for _ in range(16)]
    typed = {who: [ev.Say(text=f"s{who} line {n}") for n in range(3 + who % 7)] for who in range(16)}
    delivered: dict[int, list[ev.Event]] = {who: [] for who in range(16)}
    refusals = 0

    def arrive(who: int, frame: ev.Event, now: float) -> None:
        nonlocal refusals
        verdict = server.check(f"s{who}", now, 1.0, shared)
        assert verdict.action == lim.SLOW_DOWN or verdict.allowed, f"student {who} was {verdict.action}"
        if verdict.allowed:
            delivered[who].append(frame)
            return
        refusals += 1
        assert students[who].refused(quoted(frame), now)
        students[who].told_to_wait(verdict.retry_after, now)

    for pacer in students:
        pacer.allow(welcome(), now)
    send_and_release(students, typed, arrive, now)
    assert delivered == typed
    assert refusals > 16  # the case this is about: the shared bucket refused many


def test_a_class_behind_one_address_on_a_slow_link_keeps_each_students_order():
    # The same class, each student 0.2-0.5 s away one way (a loaded Wi-Fi): line k+1 went out
    # before k's refusal came back, was taken, and k, sent again, came after it. A refused line
    # sent again now goes alone: the lines after it wait for its answer (``unanswered``: the
    # client's lines written and not echoed or refused, unconfirmed.py). Every receiver sees
    # each student's lines in order; nobody is paused.
    server = lim.FloodControl()
    now = 100.0
    shared = lim.SharedBucket(lim.DEFAULT_BURST * lim.ADDRESS_SHARE, lim.DEFAULT_RATE * lim.ADDRESS_SHARE, now)
    latency = [0.2 + 0.3 * (who * 7 % 16) / 15 for who in range(16)]
    students = [SendPacer() for _ in range(16)]
    typed = {who: [ev.Say(text=f"s{who} line {n}") for n in range(3 + who % 7)] for who in range(16)}
    delivered: dict[int, list[ev.Event]] = {who: [] for who in range(16)}
    unanswered: list[list[ev.Event]] = [[] for _ in range(16)]
    events: list[tuple[float, int, str, int, ev.Event | None, float]] = []  # (when, tie, what, who, frame, retry_after)
    tie = itertools.count()

    def write(who: int, frame: ev.Event) -> None:
        unanswered[who].append(frame)
        heapq.heappush(events, (now + latency[who], next(tie), "arrives", who, frame, 0.0))

    def wake(who: int) -> None:  # the client's loop: what is due goes, and it sleeps until the next
        for frame in students[who].release(now, unanswered[who]):
            write(who, frame)
        if (due := students[who].due(now, unanswered[who])) is not None:
            heapq.heappush(events, (now + max(due, 1e-6), next(tie), "wakes", who, None, 0.0))

    for who, pacer in enumerate(students):
        pacer.allow(welcome(), now)
        for frame in typed[who]:
            if pacer.send(frame, now, unanswered[who]):
                write(who, frame)
        wake(who)
    refusals = 0
    while events:
        now, _, what, who, frame, retry_after = heapq.heappop(events)
        if what == "arrives":  # at the server: taken and echoed, or refused
            assert frame is not None
            verdict = server.check(f"s{who}", now, 1.0, shared)
            assert verdict.action == lim.SLOW_DOWN or verdict.allowed, f"student {who} was {verdict.action}"
            delivered[who] += [frame] if verdict.allowed else []
            refusals += not verdict.allowed
            answer = "echo" if verdict.allowed else "refusal"
            heapq.heappush(events, (now + latency[who], next(tie), answer, who, frame, verdict.retry_after))
        elif what == "wakes":
            wake(who)
        else:  # an answer, back at the student's
            assert unanswered[who].pop(0) is frame  # the server answers in order
            if what == "refusal":
                assert students[who].refused(quoted(frame), now)  # type: ignore[arg-type]
                students[who].told_to_wait(retry_after, now)
            wake(who)
    assert delivered == typed  # every line once, each student's in order (before: 2 of them out of order)
    assert refusals > 16


def test_a_refused_line_sent_again_goes_alone_until_it_is_answered():
    pacer = SendPacer()
    pacer.allow(welcome(), 0.0)
    a, b, c = ev.Say(text="a"), ev.Say(text="b"), ev.Say(text="c")
    assert pacer.send(a, 0.0) and pacer.send(b, 0.0, [a])  # no refusal yet: at the pace
    assert pacer.refused(quoted(a), 0.4) is a  # "b" is still on its way
    pacer.bucket.tokens = 5.0  # type: ignore[union-attr]
    assert not pacer.send(c, 0.4, [b])  # behind "a", in the queue
    assert pacer.release(0.5, [b]) == [a]  # alone, though tokens are there
    assert pacer.release(0.5, [b, a]) == [] and pacer.due(0.5, [b, a]) == HOLD_SECONDS
    assert pacer.release(0.6, [a]) == []  # "b" answered: not what "c" waits for
    assert pacer.refused(quoted(a), 0.9) is a and pacer.release(0.9, []) == []  # refused again: a token first
    assert pacer.release(1.3, []) == [a] and pacer.release(2.0, [a]) == []  # then alone again
    assert pacer.release(2.0, []) == [c]  # "a" taken: "c" goes, and the pace alone holds again
    d, e = ev.Say(text="d"), ev.Say(text="e")
    assert pacer.send(d, 2.5, [c]) and pacer.refused(quoted(d), 2.5) is d and pacer.release(3.0, [c]) == [d]
    assert not pacer.send(e, 4.0, [d]) and pacer.release(3.0 + HOLD_SECONDS, [d]) == [e]  # never answered: held this long at most


def test_a_retry_after_holds_the_next_token_until_it_is_up_and_a_fake_ones_is_bounded():
    pacer = SendPacer()
    pacer.allow(welcome(), 0.0)
    assert pacer.send(ev.Say(text="mine"), 0.0)
    assert pacer.refused(quoted(ev.Say(text="mine")), 0.0)
    pacer.told_to_wait(2.5, 0.0)
    assert pacer.due(0.0) == 2.5 or abs(pacer.due(0.0) - 2.5) < 1e-9  # type: ignore[operator]
    assert pacer.release(2.49) == [] and [e.text for e in pacer.release(2.5 + 1e-9)] == ["mine"]  # type: ignore[attr-defined]
    assert not pacer.send(ev.Say(text="next"), 2.6)  # a token at a time after it
    pacer.told_to_wait(None, 2.6)  # an older server's: nothing more than refused() did
    pacer.told_to_wait(-1.0, 2.6)
    pacer.told_to_wait(1e300, 2.6)  # a fake server's: a minute at most
    assert pacer.due(2.6) == MAX_WAIT_SECONDS
