"""A class joining at once is one line on the full screen (ui/fold.py), without a terminal:
the session's real join and leave lines fed to the view, the frame rendered at a projector's size."""

from __future__ import annotations

import re

import pytest

from lanchat import events as ev
from lanchat.session import Line, Session
from lanchat.ui import fold, render
from lanchat.ui.commands import line_matches
from lanchat.ui.fold import BURST_SECONDS, Burst
from lanchat.ui.plain import format_plain
from lanchat.ui.view import View

T0 = 1_700_000_000.0
CLASS = ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hil", "ivy", "jon", "kim", "lou", "max",
         "ned", "oli", "pam", "quin", "ray", "sue", "tom", "uma", "vic", "wes", "xia", "yan", "zed")  # fmt: skip


def teacher() -> tuple[Session, View]:
    session = Session(name="hal", role="host", members=["hal"], host="hal", clock=lambda: T0)
    view = View(session)
    view.add([Line(kind="system", time=T0, text="others join with: lanchat connect 192.168.1.20 7777")])
    return session, view


def feed(session: Session, view: View, *events: object) -> None:
    for event in events:
        view.add(session.on_event(event))


def joins(names, start: float = T0, step: float = 0.3) -> list[ev.Joined]:
    return [ev.Joined(name=name, time=start + number * step) for number, name in enumerate(names)]


def texts(view: View) -> list[str]:
    return [line.text for line in view.lines]


def transcript_rows(view: View, rows: int = 30, cols: int = 100) -> list[str]:
    width = render.transcript_width(view, cols)
    return [row[:width].rstrip() for row in render.render(view, rows, cols).text()[: rows - 2]]


def test_a_class_of_26_joining_is_one_line_and_the_join_instructions_stay_on_screen():
    session, view = teacher()
    feed(session, view, *joins(CLASS))
    assert len(view.lines) == 2  # the instructions and one line, not 26
    assert view.lines[-1].text == f"26 joined: {', '.join(CLASS[:-1])} and zed (27 here)"  # every name kept
    shown = [row for row in transcript_rows(view) if row]
    assert shown[0].endswith("others join with: lanchat connect 192.168.1.20 7777")
    assert len(shown) == 2
    assert re.fullmatch(r"\d\d:\d\d -!- 26 joined: ann, bob, cat, dan, (\w+, )*\w+ and (\d+) more \(27 here\)", shown[1]), shown[1]
    listed = shown[1].split(": ", 1)[1].split(" and ")[0].split(", ")
    more = int(re.search(r"and (\d+) more", shown[1]).group(1))  # type: ignore[union-attr]
    assert listed == list(CLASS[: len(listed)]) and len(listed) + more == 26
    assert session.members == ["hal", *CLASS]  # the roster pane and /who are as they were


def test_one_join_reads_as_it_always_did():
    session, view = teacher()
    feed(session, view, ev.Joined(name="ann", time=T0))
    assert texts(view)[-1] == "ann joined (2 here)"
    assert "-!- ann joined (2 here)" in transcript_rows(view)[1]
    feed(session, view, ev.Joined(name="bob", time=T0 + 1))
    assert texts(view)[-1] == "2 joined: ann and bob (3 here)"


def test_a_message_or_a_pause_ends_the_burst_and_the_next_join_starts_a_line():
    session, view = teacher()
    feed(session, view, *joins(CLASS[:3]))
    feed(session, view, ev.Message(sender="ann", text="hello", time=T0 + 2))
    feed(session, view, *joins(CLASS[3:5], start=T0 + 3))
    feed(session, view, ev.Joined(name="fay", time=T0 + 3.3 + BURST_SECONDS + 0.1))  # eve came more than 10 s before
    assert texts(view)[1:] == ["3 joined: ann, bob and cat (4 here)", "hello", "2 joined: dan and eve (6 here)", "fay joined (7 here)"]


def test_the_class_leaving_is_one_line_too_and_a_leave_ends_a_burst_of_joins():
    session, view = teacher()
    feed(session, view, *joins(CLASS[:4]))
    feed(session, view, *[ev.Left(name=name, reason="quit", time=T0 + 60 + n) for n, name in enumerate(("cat", "ann", "dan"))])
    assert texts(view)[1:] == ["4 joined: ann, bob, cat and dan (5 here)", "3 left: cat, ann and dan (2 here)"]


def test_who_joins_and_leaves_within_a_burst_reads_sensibly():
    session, view = teacher()
    feed(session, view, *joins(CLASS[:3]), ev.Left(name="bob", reason="quit", time=T0 + 1))
    assert texts(view)[1:] == ["3 joined: ann, bob (left) and cat (3 here)"]
    feed(session, view, ev.Joined(name="bob", time=T0 + 2), ev.Joined(name="dan", time=T0 + 3))  # back: simply joined
    assert texts(view)[1:] == ["4 joined: ann, bob, cat and dan (5 here)"]
    feed(session, view, *[ev.Left(name=name, reason="quit", time=T0 + 60 + n) for n, name in enumerate(("ann", "cat"))])
    feed(session, view, ev.Joined(name="cat", time=T0 + 62))
    assert texts(view)[-1] == "2 left: ann and cat (back) (4 here)"


def test_one_who_joins_alone_and_goes_again_at_once_is_one_line():
    session, view = teacher()
    feed(session, view, ev.Joined(name="bob", time=T0), ev.Left(name="bob", reason="quit", time=T0 + 1))
    assert texts(view)[1:] == ["bob joined and left (1 here)"]
    feed(session, view, ev.Joined(name="cy", time=T0 + 1.5), ev.Left(name="cy", reason="lost", time=T0 + 1.6))
    assert texts(view)[1:] == ["2 joined: bob (left) and cy (lost) (1 here)"]
    assert fold.burst_text(view.lines[-1], 1) == "2 joined: bob (left) and 1 more (1 lost) (1 here)"  # type: ignore[arg-type]
    feed(session, view, ev.Joined(name="bob", time=T0 + 2))  # back: here again, no mark
    assert texts(view)[1:] == ["2 joined: bob and cy (lost) (2 here)"]
    feed(session, view, ev.Message(sender="bob", text="hi", time=T0 + 3), ev.Left(name="bob", reason="quit", time=T0 + 4))
    assert texts(view)[-1] == "bob left (1 here)"  # after a line between: a leave of its own


def test_someone_else_leaving_is_a_line_of_its_own_and_one_who_came_and_went_is_marked():
    session, view = teacher()
    feed(session, view, *joins(CLASS[:3]))
    feed(session, view, ev.Left(name="bob", reason="lost", time=T0 + 1), ev.Left(name="zed", reason="quit", time=T0 + 2))
    assert texts(view)[1:] == ["3 joined: ann, bob (lost) and cat (3 here)", "zed left (3 here)"]


def test_a_script_joining_and_dropping_from_many_addresses_is_a_few_lines_not_one_each():
    """24 addresses of one laptop, 30 new connections a minute each (the door's limits): 637
    joins, each lost at once, wrote 1,274 lines on every screen within four seconds, the lesson
    pushed off the projector. They fold a hundred names a line."""
    session, view = teacher()
    before = len(texts(view))
    for n in range(640):
        feed(session, view, ev.Joined(name=f"bot{n}", time=T0 + n / 200), ev.Left(name=f"bot{n}", reason="lost", time=T0 + n / 200))
    lines = texts(view)[before:]
    assert len(lines) == 7, lines
    assert lines[0].startswith("100 joined: bot0 (lost), bot1 (lost)") and lines[-1].startswith("40 joined: bot600 (lost)"), lines
    assert all(line.endswith("(1 here)") for line in lines), lines


def test_the_rooms_wifi_going_is_one_line_of_lost_connections_and_who_came_back_is_marked():
    session, view = teacher()
    feed(session, view, *joins(CLASS[:5]), ev.Message(sender="hal", text="slide 1", time=T0 + 30))
    feed(session, view, *[ev.Left(name=name, reason="lost", time=T0 + 40 + n / 10) for n, name in enumerate(CLASS[:5])])
    assert texts(view)[-1] == "5 lost connection: ann, bob, cat, dan and eve (1 here)"
    feed(session, view, ev.Joined(name="bob", time=T0 + 45))
    assert texts(view)[-1] == "5 lost connection: ann, bob (back), cat, dan and eve (2 here)"
    feed(session, view, ev.Left(name="bob", reason="quit", time=T0 + 46))  # a plain leave: its own line
    assert texts(view)[-1] == "bob left (1 here)"


@pytest.mark.parametrize("cols", [30, 60, 99, 100, 160])
def test_the_folded_line_fits_its_row_at_any_width(cols):
    session, view = teacher()
    feed(session, view, *joins(CLASS))
    width = render.transcript_width(view, cols)
    rows = render.layout_line(view.lines[-1], width)
    assert len(rows) == 1 or cols < 40  # a very narrow screen wraps its one name and count
    text = "".join("".join(cell[0] for cell in row) for row in rows)
    assert "26 joined: ann" in text and "(27 here)" in text
    assert render.line_height(view.lines[-1], width) == len(rows)
    if "more" in text:
        listed = text.split(": ", 1)[1].split(" and ")[0].split(", ")
        assert len(listed) + int(text.split(" and ")[1].split()[0]) == 26


def test_the_folded_line_has_the_join_lines_colours_and_names_shown_safely():
    session, view = teacher()
    feed(session, view, ev.Joined(name="ann", time=T0), ev.Joined(name="b\x1b[2Job", time=T0 + 1))
    row = render.layout_line(view.lines[-1], 80)[0]
    text = "".join(cell[0] for cell in row)
    assert "\x1b" not in text and "2 joined: ann and b" in text
    single = render.layout_line(Line(kind="notice", time=T0, text="ann joined (2 here)"), 80)[0]
    drawn = lambda cells: {cell[1] for cell in cells[6 : len("".join(c[0] for c in cells).rstrip())]}  # noqa: E731
    assert drawn(row) == drawn(single) == {render.NOTICE}  # "-!- " and the words as a join line's


def test_save_and_find_see_every_name_in_the_folded_line():
    session, view = teacher()
    feed(session, view, *joins(CLASS))
    saved = format_plain(view.lines[-1])
    assert saved.endswith(f"-!- 26 joined: {', '.join(CLASS[:-1])} and zed (27 here)")
    assert line_matches(view.lines[-1], "ZED") and isinstance(view.lines[-1], Burst)


def test_scrolled_up_the_page_stays_still_and_a_read_line_is_not_folded_into():
    session, view = teacher()
    feed(session, view, ev.Message(sender="ann", text="hi", time=T0), *joins(CLASS[:2], start=T0 + 1))
    view.page_rows = 5
    view.scroll_by(1)  # reading a little way up: the burst was read
    feed(session, view, ev.Joined(name="cat", time=T0 + 2))
    assert texts(view)[-2:] == ["2 joined: ann and bob (3 here)", "cat joined (4 here)"]
    assert view.unread == 1 and view.marker_seq == view.total - 1
    scroll = view.scroll
    view.measure = lambda line: 2 if isinstance(line, Burst) else 1  # the folded line wraps at this width
    feed(session, view, ev.Joined(name="dan", time=T0 + 3))  # folds into the unread line
    assert texts(view)[-1] == "2 joined: cat and dan (5 here)" and view.unread == 1
    assert view.scroll == scroll + 1  # it grew by a row below the page: the page stays where it was


def test_joins_off_still_shows_nothing():
    session, view = teacher()
    session.show_joins = False
    feed(session, view, *joins(CLASS))
    assert texts(view) == ["others join with: lanchat connect 192.168.1.20 7777"]


def test_who_of_the_hidden_names_left_again_is_counted_not_hidden():
    """A class that joined and left within 10 s read "5 joined: ann (left), bob (left), cat
    (left) and 2 more (1 here)" on a narrow row: the 2 more had left too, and nothing said so."""
    session, view = teacher()
    five = CLASS[:5]
    feed(session, view, *joins(five), *[ev.Left(name=name, reason="quit", time=T0 + 2 + n / 10) for n, name in enumerate(five)])
    burst = view.lines[-1]
    assert burst.text == "5 joined: ann (left), bob (left), cat (left), dan (left) and eve (left) (1 here)"
    assert fold.burst_text(burst, 3) == "5 joined: ann (left), bob (left), cat (left) and 2 more (2 left) (1 here)"  # type: ignore[arg-type]
    feed(session, view, ev.Joined(name="eve", time=T0 + 3))  # eve came back: one of the 2 more left
    assert fold.burst_text(view.lines[-1], 3).endswith("and 2 more (1 left) (2 here)")  # type: ignore[arg-type]
    session, view = teacher()
    feed(session, view, *joins(five))
    assert fold.burst_text(view.lines[-1], 3) == "5 joined: ann, bob, cat and 2 more (6 here)"  # type: ignore[arg-type]
    width = render.transcript_width(view, 60)  # on a narrow screen the row says it too
    feed(session, view, *[ev.Left(name=name, reason="quit", time=T0 + 2 + n / 10) for n, name in enumerate(five)])
    (row,) = render.layout_line(view.lines[-1], width)
    assert re.search(r"and (\d) more \(\1 left\) \(1 here\)$", "".join(cell[0] for cell in row).rstrip())


def test_find_shows_the_name_it_found_in_a_folded_line():
    """/find zed highlighted the class's join line while zed hid in "and 20 more": the teacher
    could not see what matched. The line found now lists the names it matched first; /save
    (and the line's text) keep every name in order, and the line keeps its height."""
    session, view = teacher()
    feed(session, view, *joins(CLASS), ev.Message(sender="ann", text="hi", time=T0 + 20))
    rows = lambda: transcript_rows(view, rows=30, cols=100)  # noqa: E731
    assert not any("zed" in row for row in rows())
    assert view.find("zed", line_matches)
    (found,) = [row for row in rows() if "joined" in row]
    assert re.search(r"-!- 26 joined: zed, ann, bob, (\w+, )*\w+ and \d+ more \(27 here\)$", found), found
    assert format_plain(view.lines[1]).endswith(f"-!- 26 joined: {', '.join(CLASS[:-1])} and zed (27 here)")
    assert len(rows()) == len(transcript_rows(view, rows=30, cols=100))
    view.stop_finding()
    assert not any("zed" in row for row in rows())


def test_a_burst_names_at_most_a_hundred_and_the_next_newcomer_begins_another_line():
    """A fake server announcing 20,000 joins: each fold rebuilt the line from every name in it,
    so the screen froze for minutes (tests/test_fake_server.py drives it for real)."""
    session, view = teacher()
    names = [f"s{number}" for number in range(fold.MAX_BURST_NAMES + 5)]
    feed(session, view, *joins(names, step=0.01))
    first, second = list(view.lines)[-2:]
    assert isinstance(first, Burst) and first.names == tuple(names[: fold.MAX_BURST_NAMES])
    assert isinstance(second, Burst) and second.names == tuple(names[fold.MAX_BURST_NAMES :])
    assert second.text.endswith(f"({len(names) + 1} here)")


def test_who_came_back_by_a_rejoin_is_marked_in_the_lost_burst_not_a_line_each():
    """The room's Wi-Fi went and came back (review of session 44): a server that marks a lost
    session taken back (joined's ``rejoined``) made each return a line of its own, "bob
    reconnected (2 here)", 26 lines after the one folded "26 lost connection"; a join marked them
    "(back)" in it. A rejoin marks them so too, and still never folds into a burst of joins."""
    session, view = teacher()
    feed(session, view, *joins(CLASS[:5]), ev.Message(sender="hal", text="slide 1", time=T0 + 30))
    feed(session, view, *[ev.Left(name=name, reason="lost", time=T0 + 40 + n / 10) for n, name in enumerate(CLASS[:5])])
    feed(session, view, ev.Joined(name="bob", time=T0 + 45, rejoined=True), ev.Joined(name="cat", time=T0 + 46, rejoined=True))
    assert texts(view)[-1] == "5 lost connection: ann, bob (back), cat (back), dan and eve (3 here)"
    feed(session, view, ev.Joined(name="zed", time=T0 + 47), ev.Joined(name="dan", time=T0 + 48, rejoined=True))
    assert texts(view)[-2:] == ["zed joined (4 here)", "dan reconnected (5 here)"]  # not "2 joined: zed and dan"
