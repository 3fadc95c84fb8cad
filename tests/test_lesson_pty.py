"""A lesson at the projector walked through (session 46): what the teacher and a late student
read wrong, in a real pseudo-terminal read by pyte, against a real `serve`."""

from __future__ import annotations

import re
import sys

import pytest
from helpers import Proc, RawClient, TermProc, wait_for

from lanchat import events as ev
from lanchat.transport import Endpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def _hosting(terms: list, *extra: str, rows: int = 24, cols: int = 80) -> tuple[TermProc, int]:
    teacher = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "teacher", "--no-announce", *extra,
                       rows=rows, cols=cols)  # fmt: skip
    terms.append(teacher)
    port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(teacher.raw)), what="the port").group(1))  # type: ignore[union-attr]
    teacher.expect(r"teacher │ host")
    return teacher, port


def test_a_late_student_reads_the_welcome_then_the_replay_then_its_end_on_both_screens(terms, tmp_path):
    """bob joins a lesson under way on the full screen: the replayed [History] lines stood above
    his welcome (in time order) and their 'end of history' below it, cut from them by the welcome
    and 'this room keeps history'; cy, in --plain, read the welcome first. Both now read the
    welcome, then the replay, then its end, as the room sends them."""
    teacher, port = _hosting(terms, "--history", str(tmp_path / "lesson.db"))
    ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
    cy: Proc | None = None
    try:
        teacher.send("good morning class\r")
        teacher.expect(r"teacher: good morning class")
        ann.send(ev.Say(text="morning!"))
        teacher.expect(r"ann: morning!")
        bob = TermProc("connect", "127.0.0.1", str(port), "--name", "bob", rows=24, cols=80)
        terms.append(bob)
        bob.expect(r"end of history \(2 shown\)")
        order = ("welcome, bob", "[History] teacher: good morning class", "[History] ann: morning!", "end of history")
        rows = bob.lines
        where = [next((n for n, row in enumerate(rows) if part in row), -1) for part in order]
        assert -1 not in where and where == sorted(where), "\n".join(rows)
        cy = Proc("connect", "127.0.0.1", str(port), "--plain", "--name", "cy")
        cy.expect(r"end of history")
        printed = [next((n for n, line in enumerate(cy.lines) if part.replace("welcome, bob", "welcome, cy") in line), -1) for part in order]
        assert -1 not in printed and printed == sorted(printed), cy.output
    finally:
        ann.close()
        if cy is not None:
            cy.stop()


def test_the_hosts_ctrl_backslash_is_the_stop_now_key_and_help_says_so(terms):
    """Ctrl-\\ on the teacher's screen stopped the room at once while Ctrl-C and /q asked, and
    nothing said so (/help: 'the host's Ctrl-C and /q ask first'). It stays the stop-now key, as
    by convention, and stops the room as a restart would: the class is told it may come back and
    waits (not 'the host closed the chat'), the teacher how to carry on. /help now says it."""
    teacher, port = _hosting(terms, "--no-history")
    ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
    try:
        teacher.expect(r"ann joined")
        teacher.send("/help keys\r")
        words = lambda rows: re.sub(r"\s+", " ", " ".join(row.split("│")[0] for row in rows))  # noqa: E731 - rows read as one text
        teacher.wait_screen(lambda rows: "its Ctrl-\\ stops at once, and the class waits for a restart" in words(rows), what="/help's Ctrl-\\ line")
        teacher.send("\x1c")
        heard = ann.until_closed()
        stops = [event for event in heard if isinstance(event, ev.Shutdown)]
        assert len(stops) == 1 and not stops[0].final, heard
        assert teacher.wait() == 0
        assert b"closes the chat for everyone" not in bytes(teacher.raw)  # no question was asked
        assert b"start the same `lanchat serve` again to carry on the lesson" in bytes(teacher.raw)
    finally:
        ann.close()
