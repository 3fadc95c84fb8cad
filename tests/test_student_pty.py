"""A class hour from a student's seat (session 48): what a student at a laptop read wrong, in a
real pseudo-terminal read by pyte, against a real `serve` with a password and a history."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import RawClient, TermProc, short_tmp_dir, wait_for

from lanchat import events as ev
from lanchat.transport import Endpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

PASSWORD = "fractions-7"


def _teacher(terms: list, tmp_path, *extra: str) -> tuple[TermProc, int]:
    """`serve --room maths --password --history` at the projector, as a teacher starts a lesson."""
    teacher = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "teacher", "--room", "maths", "--password",
                       "--history", str(tmp_path / "lesson.db"), "--no-announce", *extra, rows=30, cols=100,
                       env={"LANCHAT_PASSWORD": PASSWORD})  # fmt: skip
    terms.append(teacher)
    port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(teacher.raw)), what="the port").group(1))  # type: ignore[union-attr]
    teacher.expect(r"teacher │ host")
    return teacher, port


def _student(terms: list, port: int, name: str, *extra: str, rows: int = 24, cols: int = 80) -> TermProc:
    student = TermProc("connect", "127.0.0.1", str(port), "--name", name, *extra, rows=rows, cols=cols,
                       env={"LANCHAT_PASSWORD": PASSWORD})  # fmt: skip
    terms.append(student)
    student.expect(rf"welcome, {name}")
    return student


def _classmate(port: int, name: str) -> RawClient:
    mate = RawClient(Endpoint(host="127.0.0.1", port=port), key=Ed25519PrivateKey.generate(), password=PASSWORD)
    mate.hello(name)
    mate.expect(ev.Welcome)
    return mate


def test_history_in_a_lesson_joined_from_its_start_says_nothing_came_before(terms, tmp_path):
    """sam joined before anyone spoke (the join replay: nothing), then the lesson ran. His /history
    said 'end of history (0 shown; /history shows earlier ones)': the room's newest page, all of it
    on his screen already, and a promise of earlier ones that were his screen's too; each /history
    after walked back through what he had read. Now it says at once there is nothing earlier."""
    teacher, port = _teacher(terms, tmp_path)
    sam = _student(terms, port, "sam")
    fatima = _classmate(port, "fatima")
    try:
        teacher.send("open page 42, exercise 3\r")
        for n in range(3):
            fatima.send(ev.Say(text=f"question {n}?"))
        sam.expect(r"fatima: question 2\?")
        sam.send("/history\r")
        sam.expect(r"no earlier history: the room kept nothing from before you joined")
        assert "0 shown" not in sam.text, sam.text
        assert sam.text.count("question 0?") == 1, sam.text  # nothing shown twice either
    finally:
        fatima.close()


def test_a_student_asking_for_the_topic_is_not_told_to_set_one_the_room_refuses(terms, tmp_path):
    """sam typed /topic to see what the lesson was about and read 'no topic; /topic TEXT sets one';
    his /topic TEXT then met 'only the host and operators change the topic in this room'. In a
    room with a host he reads who sets it; the teacher, who may, is still told how."""
    teacher, port = _teacher(terms, tmp_path)
    sam = _student(terms, port, "sam")
    sam.send("/topic\r")
    sam.expect(r"no topic; the host and operators set it")
    assert "/topic TEXT sets one" not in sam.text, sam.text
    teacher.send("/topic\r")
    teacher.expect(r"no topic; /topic TEXT sets one")
    teacher.send("/topic fractions, exercises 3 to 7\r")
    sam.expect(r"topic: fractions, exercises 3 to 7")
    sam.send("/topic\r")
    sam.wait_screen(lambda rows: sum("-!- topic: fractions, exercises 3 to 7" in row for row in rows) == 2, what="/topic's answer")


def test_a_second_get_of_the_worksheet_says_where_it_was_saved_and_makes_no_copy(terms, tmp_path):
    """sam fetched the teacher's worksheet, lost track of where it went and typed /get 1 again: a
    second copy came, 'worksheet 3 (1).pdf', and no word that the first was there all along. Now
    the second /get says where the first is and fetches nothing; once that file is moved away,
    /get fetches it again."""
    teacher, port = _teacher(terms, tmp_path)
    with short_tmp_dir() as short:  # the saved line's path on one row at 80 columns
        downloads = Path(short)
        _fetch_twice(teacher, _student(terms, port, "sam", "--downloads", short), downloads, tmp_path)


def _fetch_twice(teacher: TermProc, sam: TermProc, downloads: Path, tmp_path: Path) -> None:
    worksheet = tmp_path / "worksheet 3.pdf"
    worksheet.write_bytes(bytes(range(256)) * 400)
    teacher.send(f'/send "{worksheet}"\r')
    sam.expect(r"type /get 1 to download it")
    sam.send("/get 1\r")
    sam.expect(r"saved '.*worksheet 3\.pdf'")
    sam.send("/get 1\r")
    sam.expect(r"#1 is saved already: '.*worksheet 3\.pdf'")
    assert sorted(path.name for path in downloads.iterdir()) == ["worksheet 3.pdf"]
    (downloads / "worksheet 3.pdf").rename(tmp_path / "moved.pdf")
    sam.send("/get 1\r")
    sam.wait_screen(lambda rows: sum("saved '" in row for row in rows) == 2, what="the worksheet saved again")
    assert sorted(path.name for path in downloads.iterdir()) == ["worksheet 3.pdf"]


def test_back_from_the_toilet_a_student_types_back_and_is_back(terms, tmp_path):
    """sam went /away toilet and, back, typed /back: 'unknown command /back; /help lists them',
    and he stayed away, his whisperers told 'toilet', until he read that /away again was the way.
    /back now brings him back; typed when not away, it says so and sends nothing."""
    teacher, port = _teacher(terms, tmp_path)
    sam = _student(terms, port, "sam")
    sam.send("/away toilet\r")
    sam.expect(r"you are away: toilet")
    teacher.expect(r"sam is away: toilet")
    sam.send("/back\r")
    sam.expect(r"-!- you are back")
    teacher.expect(r"sam is back")
    sam.send("/back\r")
    sam.expect(r"you are not away; /away \[REASON\] marks you away")
    assert "unknown command" not in sam.text, sam.text
