"""A lesson at the projector walked through (session 46): what the teacher and a late student
read wrong, in a real pseudo-terminal read by pyte, against a real `serve`."""

from __future__ import annotations

import os
import re
import socket
import sys
import time

import pytest
from helpers import Proc, RawClient, TermProc, wait_for

from lanchat import events as ev
from lanchat.files import MB
from lanchat.transport import Endpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def _hosting(terms: list, *extra: str, rows: int = 24, cols: int = 80) -> tuple[TermProc, int]:
    teacher = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "teacher", "--no-announce", *extra,
                       rows=rows, cols=cols)  # fmt: skip
    terms.append(teacher)
    port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(teacher.raw)), what="the port").group(1))  # type: ignore[union-attr]
    teacher.expect(r"welcome, teacher" if "--plain" in extra else r"teacher │ host")
    return teacher, port


def test_a_late_student_reads_the_replay_closed_by_its_end_then_the_welcome(terms, tmp_path):
    """bob joins a lesson under way on the full screen: the replayed [History] lines stood above
    his welcome (in time order) but their 'end of history' below it, cut from them by the welcome
    and 'this room keeps history'. Now the replay and its end are one block above the welcome, which
    stays at the foot of his screen with who is here (a 50-line replay at 24 rows scrolled it off
    when the replay came under it). cy, in --plain, reads them as the room sends them: the
    welcome, the replay, its end."""
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
        bob.expect(r"this room keeps history")
        order = ("[History] teacher: good morning class", "[History] ann: morning!", "end of history", "welcome, bob", "this room keeps history")
        rows = bob.lines
        where = [next((n for n, row in enumerate(rows) if part in row), -1) for part in order]
        assert -1 not in where and where == sorted(where), "\n".join(rows)
        cy = Proc("connect", "127.0.0.1", str(port), "--plain", "--name", "cy")
        cy.expect(r"end of history")
        printed = [next((n for n, line in enumerate(cy.lines) if part in line), -1) for part in ("welcome, cy", *order[:3])]
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
        teacher.expect(r"keys:")  # taller than the screen: it opens at its first line
        teacher.send("\x1b[4~")  # End (the input line is empty): its last rows
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


def test_a_plain_hosts_who_says_who_is_still_downloading_its_file(terms, tmp_path):
    """The teacher at a --plain host (60 columns) sent the slides; two students were still
    fetching them, and nothing said so before /q's question: the full screen's status line says
    "sending slides.bin to 2", --plain has none, and /who listed the names alone. Now the host's
    /who says, under the names, who is still downloading what, in /q's words."""
    source = tmp_path / "slides.bin"
    source.write_bytes(os.urandom(8 * MB))
    teacher, port = _hosting(terms, "--plain", "--no-history", "--files-dir", str(tmp_path / "served"), rows=24, cols=60)
    students = [RawClient(Endpoint(host="127.0.0.1", port=port), name) for name in ("bob", "cy", "dan")]
    try:
        teacher.expect(r"3 joined: bob, cy and dan \(4 here\)")  # one line at a terminal (held_bursts.py)
        teacher.send(f'/send "{source}"\r')
        offered = students[0].expect(ev.Offered)
        for student in students[:2]:  # bob and cy fetch it and stall, slow readers; dan does not
            student.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            student.send(ev.GetFile(id=offered.id, binary=True))  # type: ignore[attr-defined]
            student.expect(ev.FileStart)
            student.expect(ev.FileBytes)  # and then reads no more
        teacher.send("/who\r")
        words = lambda rows: re.sub(r"\s+", " ", " ".join(rows))  # noqa: E731 - rows read as one text
        said = teacher.wait_screen(
            lambda rows: re.search(r"here \(4\): teacher \(host, you\), bob, cy, dan .{0,40}?bob \(slides\.bin, \d+%\) and cy \(slides\.bin, \d+%\) "
                                   r"are still downloading your files", words(rows)),
            what="who is still downloading under /who")  # fmt: skip
        assert "dan (" not in said.group(0), said.group(0)  # type: ignore[union-attr]
    finally:
        for student in students:
            student.close()


def test_the_hosts_who_names_no_file_offered_to_one_person_at_the_projector():
    """The downloading line under the host's /who in projector mode: a file offered to one
    person is not named on the wall, as /q's question does; without one, nothing under /who."""
    from lanchat.session import Session

    fetching: list[tuple[str, str, int | None, bool, str | None]] = [("bob", "bobs-marks.pdf", 40, True, None)]
    session = Session(name="teacher", role="host", fetching_here=lambda: list(fetching))
    session.on_event(ev.Welcome(name="teacher", mode="duplex", members=("teacher", "bob"), host="teacher"))
    who, still = session.on_event(ev.Roster(members=("teacher", "bob")))
    assert still.text == "    bob is still downloading bobs-marks.pdf (40%)", still
    assert still.private is not None and "bobs-marks" not in still.private, still
    fetching.clear()
    assert len(session.on_event(ev.Roster(members=("teacher", "bob")))) == 1


def test_a_teacher_who_passes_to_a_student_is_told_what_pass_does(terms):
    """In turn mode the teacher at a 60-column projector typed /pass cy to give cy the turn,
    which was ann's: the screen said only 'cy does not hold the turn; it is ann's turn', and
    nothing said how to get on. /pass moves the holder's turn on; now the refusal says so."""
    teacher, port = _hosting(terms, "--no-history", "--projector", rows=20, cols=60)
    students = [RawClient(Endpoint(host="127.0.0.1", port=port), name) for name in ("ann", "bob", "cy")]
    try:
        teacher.expect(r"\(4 here\)")
        teacher.send("/mode turn\r")
        teacher.expect(r"waiting for ann")
        teacher.send("/pass cy\r")
        words = lambda rows: re.sub(r"\s+", " ", " ".join(row.split("│")[0] for row in rows))  # noqa: E731 - rows read as one text
        teacher.wait_screen(lambda rows: "cy does not hold the turn; it is ann's turn (/pass alone moves it on to the next in "
                                         "turn order; it cannot hand it to someone)" in words(rows), what="what /pass does")  # fmt: skip
        teacher.send("/pass\r")
        teacher.expect(r"waiting for bob")
    finally:
        for student in students:
            student.close()


def test_a_student_past_the_tenth_name_reads_the_kept_topic_with_their_welcome_not_stamped_hours_ago(terms, tmp_path):
    """A lesson after a restart: the topic was kept from the morning ('topic kept from the last
    run'), and ten classmates had joined from the same place, so zoe, the eleventh, was told
    'the name 'zoe' is not kept for you'. That notice came between her welcome and the topic,
    and ended the welcome's moment: the topic line was stamped with the time it was set, two hours
    before, at the foot of her screen below lines of now (a stamp that lies, lines out of order). The
    room's notice no longer ends it: the topic reads as said with the welcome, and says when it was set."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat.gate import NEW_NAMES_PER_PLACE
    from lanchat.history import HistoryStore

    path = tmp_path / "lesson.db"
    store = HistoryStore(str(path))
    store.set_room_topic(ev.Topic(text="Sockets 5: select loops", by="teacher", time=time.time() - 2 * 3600))
    store.close()
    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-announce", "--history", str(path))
    classmates: list[RawClient] = []
    try:
        port = int(server.expect(r"listening on port (\d+)").group(1))
        server.expect(r"topic kept from the last run")
        endpoint = Endpoint(host="127.0.0.1", port=port)
        for number in range(NEW_NAMES_PER_PLACE):  # each makes a name its own, as a key's first join does
            classmates.append(RawClient(endpoint, f"s{number:02d}", key=Ed25519PrivateKey.generate()))
        zoe = TermProc("connect", "127.0.0.1", str(port), "--name", "zoe", rows=24, cols=80)
        terms.append(zoe)
        zoe.expect(r"is not kept for you")
        zoe.expect(r"topic: Sockets 5: select loops \(set by teacher at")
        rows = zoe.lines
        welcome = next(n for n, row in enumerate(rows) if "-!- welcome, zoe" in row)
        topic = next(n for n, row in enumerate(rows) if "-!- topic: Sockets 5" in row)
        assert welcome < topic and rows[topic][:5] == rows[welcome][:5], "\n".join(rows)  # stamped with the welcome
    finally:
        for classmate in classmates:
            classmate.close()
        server.stop()
    assert "Traceback" not in server.output


def test_a_student_late_to_a_class_of_25_reads_a_welcome_that_leaves_room_for_the_question(terms, tmp_path):
    """amy, late to a quiz in a class of 25, at 60x20: her welcome named all 25 others, 7 of her
    18 rows, and pushed the teacher's replayed question to the top of the window (with 30 in the
    class, off it). The welcome now names the first eight and counts the rest ('and 17 more (/who
    lists them)'): the question and the turn stay in sight, and /who still names everyone."""
    teacher, port = _hosting(terms, "--history", str(tmp_path / "lesson.db"))
    endpoint = Endpoint(host="127.0.0.1", port=port)
    teacher.send("Question 1: what does accept() return?\r")
    teacher.expect(r"teacher: Question 1")
    teacher.send("/mode turn\r")
    teacher.expect(r"switched the room to turn-based mode")
    classmates = [RawClient(endpoint, f"student{number:02d}") for number in range(24)]
    try:
        teacher.expect(r"25 here")
        amy = TermProc("connect", "127.0.0.1", str(port), "--name", "amy", rows=20, cols=60)
        terms.append(amy)
        amy.expect(r"turn-based: waiting for student00")
        amy.expect(r"and 17 more \(/who")
        text = " ".join(row.strip() for row in amy.lines)
        assert "here: teacher, student00, student01, student02, student03, student04, student05, student06 and 17 more" in text, text
        assert "[History] teacher: Question 1: what does accept() return?" in text, amy.text
        welcome = next(n for n, row in enumerate(amy.lines) if "-!- welcome, amy" in row)
        assert sum(1 for row in amy.lines[welcome:] if row.startswith(" " * 10) and row.strip()) <= 3, amy.text
        amy.send("/who\r")
        amy.expect(r"here \(26\):")
        amy.expect(r"student23")
    finally:
        for classmate in classmates:
            classmate.close()


def test_a_headless_rooms_log_says_the_teacher_joined_before_it_says_she_is_its_operator():
    """The teacher's room run headless on the lab server (serve --headless --operator KEY): its
    log read '[10:00:01] teach (key 19c8 ...) is an operator (serve --operator)', then '[10:00:01]
    teach joined from 10.0.0.7:49882', an operator before anyone had joined. The join is logged
    first now, then what it made the room log."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import identity

    key = Ed25519PrivateKey.generate()
    fingerprint = identity.short_fingerprint(identity.public_bytes(key)).replace(" ", "")
    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-history", "--no-announce", "--operator", fingerprint)
    teach: RawClient | None = None
    try:
        port = int(server.expect(r"listening on port (\d+)").group(1))
        teach = RawClient(Endpoint(host="127.0.0.1", port=port), "teach", key=key)
        server.expect(r"teach joined from 127\.0\.0\.1:\d+")
        server.expect(r"teach \(key [0-9a-f ]+\) is an operator \(serve --operator\)")
        said = [n for n, line in enumerate(server.lines) if "teach joined from" in line or "is an operator (serve" in line]
        assert len(said) == 2 and "teach joined from" in server.lines[said[0]], server.output
    finally:
        if teach is not None:
            teach.close()
        server.stop()
    assert "Traceback" not in server.output


def test_a_headless_quiz_gives_the_teacher_named_by_serve_operator_the_turn_after_the_students():
    """The lab server's room (serve --headless --operator KEY): amy came in, then the teacher, then
    ned. The teacher asked, typed /mode turn, amy answered, and the turn went to the teacher, not
    ned: turns followed join order. As the host is in a hosted room, the teacher named by
    --operator comes after the students, and after rejoining too; one made with /op keeps its
    place in join order."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import identity

    key = Ed25519PrivateKey.generate()
    fingerprint = identity.short_fingerprint(identity.public_bytes(key)).replace(" ", "")
    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-history", "--no-announce", "--operator", fingerprint)
    people: list[RawClient] = []

    def turns_go(*speakers: RawClient, watcher: RawClient) -> list[str | None]:
        """Each speaker answers in turn; whose turn the watcher reads after each."""
        went: list[str | None] = []
        for speaker in speakers:
            speaker.send(ev.Say(text="my answer"))
            went.append(watcher.expect(ev.Turn).holder)  # type: ignore[attr-defined]
        return went

    try:
        where = Endpoint(host="127.0.0.1", port=int(server.expect(r"listening on port (\d+)").group(1)))
        amy = RawClient(where, "amy")
        teach = RawClient(where, "teach", key=key)
        ned = RawClient(where, "ned")
        people += [amy, teach, ned]
        teach.expect(ev.Moderated, action="op", name="teach")
        teach.send(ev.Say(text="What is 6 x 7?"))
        teach.send(ev.Moderate(action="mode", mode="turn"))
        assert ned.expect(ev.Turn).holder == "amy"  # type: ignore[attr-defined]
        assert turns_go(amy, ned, teach, watcher=ned) == ["ned", "teach", "amy"]
        teach.close()  # the teacher's laptop slept: she comes back, and cy after her
        ned.expect(ev.Left, name="teach")
        teach = RawClient(where, "teach", key=key)
        people.append(teach)
        ned.expect(ev.Joined, name="teach")
        cy = RawClient(where, "cy")  # late, after the teacher came back
        people.append(cy)
        ned.expect(ev.Joined, name="cy")
        assert turns_go(amy, ned, cy, teach, watcher=ned) == ["ned", "cy", "teach", "amy"]
        teach.send(ev.Moderate(action="op", name="amy"))  # an operator by /op: a student still, in join order
        ned.expect(ev.Moderated, action="op", name="amy")
        assert turns_go(amy, ned, cy, teach, watcher=ned) == ["ned", "cy", "teach", "amy"]
    finally:
        for person in people:
            person.close()
        server.stop()
    assert "Traceback" not in server.output


def test_a_hosted_turn_room_gives_the_operator_named_by_serve_operator_the_turn_after_the_students():
    """A hosted room (the teacher's assistant at the host's screen, `serve --operator KEY` naming
    the teacher's key): amy, the teacher, ned joined; turns went amy, teacher, ned, host: join
    order, the host last, the operator between two students, as in a headless room before
    193e634d. She now comes after the students there too, and the host after her."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import identity

    key = Ed25519PrivateKey.generate()
    fingerprint = identity.short_fingerprint(identity.public_bytes(key)).replace(" ", "")
    host = Proc("serve", "--plain", "--name", "hana", "--mode", "turn", "--host", "127.0.0.1", "--port", "0", "--no-history",
                "--no-announce", "--operator", fingerprint)
    people: list[RawClient] = []
    try:
        where = Endpoint(host="127.0.0.1", port=int(host.expect(r"listening on port (\d+)").group(1)))
        amy = RawClient(where, "amy")
        teach = RawClient(where, "teach", key=key)
        ned = RawClient(where, "ned")
        people += [amy, teach, ned]
        teach.expect(ev.Moderated, action="op", name="teach")
        assert ned.welcome.turn == "amy"  # type: ignore[attr-defined]
        went = []
        for speaker in (amy, ned, teach, None, amy):  # None: the host, at her screen
            if speaker is None:
                host.send("my answer")
            else:
                speaker.send(ev.Say(text="my answer"))
            went.append(ned.expect(ev.Turn).holder)  # type: ignore[attr-defined]
        assert went == ["ned", "teach", "hana", "amy", "ned"]
        assert not [e for p in people for e in p.drain(0.1) if isinstance(e, ev.Error)]
    finally:
        for person in people:
            person.close()
        host.stop()
    assert "Traceback" not in host.output
