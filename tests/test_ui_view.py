"""The chat screen's view model: scrollback, scrolling, the unread marker, the roster toggle."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from lanchat import events as ev
from lanchat.session import Line, Session
from lanchat.ui.view import MAX_KEPT_CHARS, ROSTER_MIN_COLS, SCROLLBACK_LINES, View


def line(number: int, text: str = "") -> Line:
    return Line(kind="message", time=0.0, sender="bob", text=text or f"message {number}")


def make_view(**kwargs) -> View:
    return View(Session(name="ann", members=["ann", "bob"]), **kwargs)


def test_scrollback_keeps_at_least_ten_thousand_lines():
    assert SCROLLBACK_LINES >= 10_000
    view = make_view()
    view.add(line(n) for n in range(SCROLLBACK_LINES + 50))
    assert len(view.lines) == SCROLLBACK_LINES
    assert view.lines[0].text == "message 50"
    assert view.first_seq == 50 and view.total == SCROLLBACK_LINES + 50


def test_a_line_longer_than_any_server_relays_is_kept_cut_saying_so():
    """A real server relays at most 4,000 characters of a message; a fake one fills a frame
    (65,000), and a scrollback of 10,000 such lines held 640 MB."""
    view = make_view()
    view.add([line(1, "x" * 65_000), line(2, "y" * MAX_KEPT_CHARS)])
    cut, whole = view.lines
    assert cut.text == "x" * MAX_KEPT_CHARS + f"... ({65_000 - MAX_KEPT_CHARS} more characters not kept)"
    assert whole.text == "y" * MAX_KEPT_CHARS  # as long as a real server's may be: as it came


def test_a_line_the_client_composed_is_kept_whole_over_several_lines():
    """/who of a big room is one line the client composes (``Line.composed``): it was cut at
    4,000 characters like a server's text; it is kept over several lines of at most that many,
    each ending after a name, and nothing of it is lost."""
    names = [f"student{n:03} (away: {'at the library ' * 12})" for n in range(160)]
    who = f"here ({len(names)}): {', '.join(names)}"
    view = make_view()
    view.add([Line(kind="notice", time=1.0, text=who, composed=True), line(2, "after it")])
    *kept, after = view.lines
    assert len(kept) > 1 and all(len(piece.text) <= MAX_KEPT_CHARS and piece.kind == "notice" for piece in kept)
    assert " ".join(piece.text for piece in kept) == who
    assert all(piece.text.endswith(",") for piece in kept[:-1]) and after.text == "after it"
    spaceless = Line(kind="notice", time=3.0, text="x" * (MAX_KEPT_CHARS * 2 + 1), composed=True)
    view.add([spaceless])
    assert [len(piece.text) for piece in list(view.lines)[-3:]] == [MAX_KEPT_CHARS, MAX_KEPT_CHARS, 1]


def test_new_lines_follow_at_the_bottom_unless_scrolled_up():
    view = make_view()
    view.add([line(1), line(2)])
    assert view.following and view.unread == 0
    view.page_rows = 10
    view.page_up()
    assert view.scroll == 9 and not view.following
    view.measure = lambda ln: 2  # each new line takes two rows at this width
    view.add([line(3), line(4)])
    assert view.scroll == 14  # the rows on screen stay the same: 2 + 2 rows and the "new" rule
    assert view.unread == 2 and view.marker_seq == 2
    view.to_bottom()
    assert view.following and view.unread == 0


def test_clamp_stops_scrolling_at_the_real_top():
    view = make_view()
    view.add(line(n) for n in range(5))
    view.scroll_by(1000)
    view.clamp(3)
    assert view.scroll == 3
    view.page_rows = 2
    view.page_down()
    assert view.scroll == 2


def test_home_anchors_at_the_top_until_the_bottom_is_reached():
    view = make_view()
    view.add(line(n) for n in range(5))
    view.to_top()
    assert view.top == 0 and not view.following
    view.page_rows = 3
    view.page_down()
    assert view.top == 2
    view.page_up()
    view.page_up()
    assert view.top == 0
    view.clamp(0, reached_bottom=True)
    assert view.following and view.top is None


def test_clear_and_seen():
    view = make_view()
    view.add([line(1)])
    view.page_up()
    view.add([line(2)])
    assert view.unread == 1
    view.seen()
    assert view.marker_seq is None and view.unread == 0
    view.clear()
    assert len(view.lines) == 0 and view.following


def test_clear_keeps_its_lines_for_save_bounded_as_the_scrollback():
    """/clear takes lines off the screen, not out of the session: /save writes them (ui/commands.py
    ScreenCommands.save), oldest first; what is kept stays bounded as the scrollback is."""
    view = make_view(scrollback=3)
    view.add([line(1), line(2)])
    view.clear()
    view.add([line(3)])
    assert [entry.text for entry in [*view.cleared, *view.lines]] == [line(1).text, line(2).text, line(3).text]
    view.add([line(4), line(5)])
    view.clear()
    assert len(view.cleared) == 3 and view.cleared[-1].text == line(5).text  # the newest kept


def test_roster_pane_needs_room_and_can_be_toggled():
    view = make_view()
    assert view.roster_visible(ROSTER_MIN_COLS)
    assert not view.roster_visible(ROSTER_MIN_COLS - 1)
    view.toggle_roster()
    assert not view.roster_visible(200)


def test_find_steps_to_older_matches_and_wraps_to_the_newest():
    from lanchat.ui.commands import line_matches

    view = View(Session(name="ann"), page_rows=2)
    view.add([Line(kind="message", time=0.0, sender="bob", text=text) for text in ["tea?", "no", "TEA please", "ok", "tea!"]])
    assert view.find("tea", line_matches)
    assert (view.found_seq, view.found_rank, view.found_count) == (4, 1, 3)
    view.find_next(line_matches)
    assert (view.found_seq, view.found_rank) == (2, 2)
    view.find_next(line_matches)
    assert view.found_seq == 0 and not view.following  # scrolled up to it
    view.find_next(line_matches)
    assert (view.found_seq, view.found_rank) == (4, 1)  # round again from the newest
    assert not view.find("coffee", line_matches) and view.found_seq is None
    view.stop_finding()
    assert view.finding is None and view.following


class CountedLines(deque):
    """The view's scrollback, counting each line looked up by its place."""

    looked_up = 0

    def __getitem__(self, index):  # noqa: ANN001, ANN204
        self.looked_up += 1
        return super().__getitem__(index)


def test_find_walks_a_long_transcript_once_without_looking_lines_up_one_by_one():
    """/find and Ctrl-F looked up every line by its number: a deque is slow to index in the
    middle, so a search of a long transcript grew with its length squared (bench/find_bench.py
    measures it). Now they walk the deque from its end, and land where they did: matches in a
    trimmed scrollback, newest first, round again past the oldest, the found line's rows below
    it counted for the scroll."""
    from lanchat.ui.commands import line_matches

    view = make_view(scrollback=1_000, page_rows=10)
    view.add(line(n, "needle" if n in (600, 1_200, 1_499) else "") for n in range(1_500))
    view.lines = CountedLines(view.lines, maxlen=view.scrollback)
    view.measure = lambda line: 2 if line.text.endswith("7") else 1
    assert view.first_seq == 500
    assert view.find("needle", line_matches) and (view.found_seq, view.found_count) == (1_499, 3)
    seen = []
    for _ in range(3):
        view.find_next(line_matches)
        seen.append((view.found_seq, view.found_rank, view.scroll))
    below = lambda seq: sum(2 if n % 10 == 7 else 1 for n in range(seq + 1, 1_500))  # noqa: E731
    assert seen == [(1_200, 2, below(1_200) - 5 + 1), (600, 3, below(600) - 5 + 1), (1_499, 1, 0)]
    assert view.lines.looked_up <= 4, view.lines.looked_up  # one for each landing's own height, not one a line


def test_an_earlier_history_page_goes_above_in_time_order():
    view = View(Session(name="ann"))
    day = 86_400.0
    view.add([Line(kind="history", time=10 * day + t, sender="bob", text=f"replayed {t}") for t in (5, 6)])
    view.add([Line(kind="notice", time=11 * day, text="welcome")])
    view.marker_seq = 2  # the welcome line
    view.add([Line(kind="history", time=9 * day + t, sender="bob", text=f"older {t}") for t in (1, 2, 3)])
    assert [line.text for line in view.lines] == ["older 1", "older 2", "older 3", "replayed 5", "replayed 6", "welcome"]
    assert view.marker_seq == 5 and view.total == 6  # the marker still points at the welcome line


def test_a_full_scrollback_takes_an_earlier_page_without_losing_its_place():
    view = View(Session(name="ann"), scrollback=3)
    view.add([Line(kind="message", time=float(t), sender="bob", text=str(t)) for t in (10, 20, 30)])
    view.add([Line(kind="history", time=15.0, sender="bob", text="15"), Line(kind="history", time=1.0, sender="bob", text="1")])
    assert [line.text for line in view.lines] == ["15", "20", "30"]  # "1" would fall off at once


def _hhmm(when: float) -> str:
    return time.strftime("%H:%M", time.localtime(when))


def test_a_newcomer_sees_since_when_someone_is_away_on_the_full_screen():
    """The room told a newcomer "ann is away: lunch" with the time it joined (PROTOCOL.md,
    away-status), and the screen stamps what the room says after a welcome with the welcome's
    time anyway (the replay stays one block): nothing on it said ann left an hour ago. The room
    now sends when ann went away, and a line told after the welcome, older than a minute, says
    since when (the topic: at what time it was set). One told as new (an older server's, stamped
    with the moment it was sent) says nothing more: it would only repeat the line's stamp."""
    from lanchat.ui import render as rd

    welcome_at = time.mktime((2023, 11, 15, 12, 0, 0, 0, 0, -1))  # local noon: the morning is the same day
    now = [welcome_at]
    session = Session(name="bob", clock=lambda: now[0])
    view = View(session)
    for event in (
        ev.Welcome(name="bob", mode="duplex", members=("teacher", "ann", "cy", "bob"), host="teacher"),
        ev.Topic(text="framing", by="teacher", time=welcome_at - 7_000.0),
        ev.Away(name="ann", reason="lunch", time=welcome_at - 3_600.0),
        ev.Away(name="cy", reason="brb", time=welcome_at - 1.0),  # as an older server stamps it
    ):
        view.add(session.on_event(event))
    shown = "\n".join(row.rstrip() for row in rd.render(view, rows=12, cols=80).text())
    stamp = _hhmm(welcome_at)
    assert f"{stamp} -!- topic: framing (set by teacher at {_hhmm(welcome_at - 7_000.0)})" in shown
    assert f"{stamp} -!- ann is away: lunch (since {_hhmm(welcome_at - 3_600.0)})" in shown
    assert f"{stamp} -!- cy is away: brb\n" in shown
    # a live change says nothing more: its own stamp is when
    now[0] = welcome_at + 90.0
    live = session.on_event(ev.Away(name="ann", reason="back at 2", time=welcome_at + 90.0))
    assert [(line.text, line.time) for line in live] == [("ann is away: back at 2", welcome_at + 90.0)]
    # the next day (a server left running overnight): the day too
    late = Session(name="dan", clock=lambda: welcome_at + 86_400.0)
    late.on_event(ev.Welcome(name="dan", mode="duplex", members=("ann", "dan")))
    (line,) = late.on_event(ev.Away(name="ann", reason="lunch", time=welcome_at))
    day = time.localtime(welcome_at)
    assert line.text == f"ann is away: lunch (since {day.tm_mday} {time.strftime('%b', day)} {_hhmm(welcome_at)})"


def test_the_replay_on_joining_sits_above_the_welcome_even_when_the_topic_was_set_in_between():
    """A lesson's late student, in a room whose topic was set at 10:03 and which said more after
    it: the topic came stamped with the time it was set and closed the transcript, so the replayed
    lines older than it went above the welcome and the newer ones below the topic, the [History]
    block cut in two around "welcome". What the room sends right after the welcome (the topic,
    who is away) is stamped with the welcome's time: the whole replay goes above, as without a topic."""
    session = Session(name="bob", clock=lambda: 500.0)
    view = View(session)
    for event in (
        ev.Welcome(name="bob", mode="duplex", members=("teacher", "bob"), host="teacher", keeps_history=True),
        ev.Topic(text="framing", by="teacher", time=200.0),
        ev.Away(name="teacher", reason="tea", time=250.0),
        ev.Message(sender="teacher", text="welcome everyone", time=100.0, history=True),
        ev.Message(sender="teacher", text="a length before each message", time=300.0, history=True),
        ev.HistoryEnd(shown=2, more=False, before=1),
    ):
        view.add(session.on_event(event))
    assert [line.text for line in view.lines] == [
        "welcome everyone",
        "a length before each message",
        "end of history (2 shown)",  # closes the replay above the welcome, not below who is away
        "welcome, bob: duplex mode; here: teacher. /help lists commands",
        "this room keeps history on the host's machine",
        f"topic: framing (set by teacher at {_hhmm(200.0)})",
        f"teacher is away: tea (since {_hhmm(250.0)})",
    ]
    # a topic set later, live, keeps the time it was set
    assert [line.time for line in session.on_event(ev.Topic(text="lab", by="teacher", time=510.0))] == [510.0]
    # and so in a room without history, where nothing may follow the welcome for minutes
    now = [500.0]
    session = Session(name="bob", clock=lambda: now[0])
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("teacher", "bob"), host="teacher"))
    now[0] = 800.0
    assert [line.time for line in session.on_event(ev.Topic(text="lab", by="teacher", time=799.0))] == [799.0]


def _long_transcript_at_80_columns(text_of: Callable[[int], str]) -> View:
    """A view of 300 lines (line ``n`` says ``text_of(n)``), no roster, measured at 80 columns,
    22 rows a page."""
    from lanchat.ui import render as rd

    view = make_view()
    view.show_roster = False
    view.add(line(n, text_of(n)) for n in range(300))
    view.measure = lambda each: rd.line_height(each, rd.transcript_width(view, 80))
    view.page_rows = 22
    return view


def _resizes_keep(view: View, edge_message: Callable[[View, int, int], str]) -> None:
    """Resized from 80 columns to 120, 50, 200 and back to 80, the message at the page's edge
    (``edge_message(view, rows, cols)``) is the one it showed before each time."""
    from lanchat.ui import render as rd

    before = edge_message(view, 24, 80)
    for cols in (120, 50, 200, 80):
        view.remeasure(lambda each, cols=cols: rd.line_height(each, rd.transcript_width(view, cols)))  # type: ignore[misc]
        assert edge_message(view, 24, cols) == before, cols


def test_a_resize_while_scrolled_up_keeps_the_page_on_the_lines_it_showed():
    """The teacher scrolled up to a question and widened the window (or F2 hid the roster):
    the page, counted in rows from the newest line, jumped back a screenful (narrower: forward),
    and the question was gone. The line at the page's bottom row stays there."""
    from lanchat.ui import render as rd

    def bottom_message(view: View, rows: int, cols: int) -> str:
        width = rd.transcript_width(view, cols)
        frame = rd.render(view, rows, cols)
        shown = [row for row in frame.text()[: frame.transcript_rows] if "bob:" in row]
        assert width > 0 and shown
        return shown[-1].split("bob: ")[1].split(" ")[0]

    view = _long_transcript_at_80_columns(lambda n: f"m{n} " + "word " * (n % 30))
    for _ in range(10):
        view.page_up()
    _resizes_keep(view, bottom_message)
    assert view.scroll > 0 and not view.following


def test_a_resize_after_home_keeps_the_page_on_the_lines_it_showed():
    """The same after Home and a few PgDn, where the page is counted from the oldest line:
    the line at its top row stays there."""
    from lanchat.ui import render as rd

    def top_message(view: View, rows: int, cols: int) -> str:
        frame = rd.render(view, rows, cols)
        return frame.text()[0].split()[-1]  # each of a line's rows ends in its own number

    view = _long_transcript_at_80_columns(lambda n: f"m{n} " * (1 + n % 40))
    view.to_top()
    for _ in range(10):
        view.page_down()
    _resizes_keep(view, top_message)
    assert view.top


def test_the_replay_goes_above_the_welcome_from_a_laptop_whose_clock_is_behind():
    """A student's laptop ten minutes behind the host's machine: its welcome line is stamped by
    the laptop, the replayed lines by the server, so by the times the whole replay is newer than
    the welcome and went below it, with its "end of history", under who is here and the topic.
    The replay goes above the welcome in the order the room sent it, whatever the clocks say;
    a welcome of many names (once kept in pieces, now one line that counts them: session_events.
    WELCOME_NAMED) keeps the replay above it."""
    server_now = 10_000.0
    session = Session(name="bob", clock=lambda: server_now - 600.0)
    view = View(session)
    many = tuple(f"student{n:03}" for n in range(400))  # a welcome longer than a kept line
    for event in (
        ev.Welcome(name="bob", mode="duplex", members=("teacher", "bob", *many), host="teacher", keeps_history=True),
        ev.Topic(text="framing", by="teacher", time=server_now - 60.0),
        ev.Message(sender="teacher", text="first", time=server_now - 30.0, history=True),
        ev.Message(sender="teacher", text="second", time=server_now - 20.0, history=True),
        ev.HistoryEnd(shown=2, more=False, before=1),
    ):
        view.add(session.on_event(event))
    texts = [line.text for line in view.lines]
    assert texts[:3] == ["first", "second", "end of history (2 shown)"], texts[:4]
    assert texts[3].startswith("welcome, bob: duplex mode; here: teacher, ") and "and 393 more (/who lists them)" in texts[3], texts
    assert texts[-1].startswith("topic: framing"), texts[-3:]


def test_help_taller_than_the_pane_opens_at_its_first_line_even_past_the_scrollback():
    """/help opens at its first line when taller than the pane (view._open_at); a scrollback
    shorter than /help itself (its first line already trimmed) leaves the view following, never
    raises (islice of a negative index)."""
    session = Session(name="bob")
    view = View(session, page_rows=5)
    view.add(session.help_lines())
    assert view.scroll > 0 and not view.following
    assert view.scroll + view.page_rows == sum(map(view.measure, view.lines))  # its first line on the top row
    small = View(session, scrollback=10, page_rows=5)
    small.add(session.help_lines())
    assert small.following
