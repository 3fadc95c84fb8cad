"""Who fetched it, as the offerer reads it: real lanchat processes on loopback, the offerer's full
screen in a real pseudo-terminal (read by pyte), the others in --plain, and a client older than
the ``fetched`` event (PROTOCOL.md, File transfer, "Who fetched it")."""

from __future__ import annotations

import os
import re
import sys

import pytest
from helpers import Proc, TermProc, start_server

pytestmark = pytest.mark.timeout(120)

# lanchat as a client from before the fetched event: its table of server types lacks it, so the
# frame reaches the code path an older client takes for any type it does not know (PROTOCOL.md 3)
_OLDER_CLIENT = [
    sys.executable, "-c",
    "import runpy; from lanchat import events; del events.SERVER_EVENTS['fetched']; runpy.run_module('lanchat', run_name='__main__')",
]  # fmt: skip


@pytest.fixture
def room(tmp_path):
    """A headless room on loopback, and everyone started in it, stopped at the end."""
    started: list[Proc | TermProc] = []
    server, port = start_server("--headless", "--no-history", "--no-announce", "--files-dir", str(tmp_path / "server-files"))
    started.append(server)

    def join(name: str, *, screen: bool = False, program: list[str] | None = None) -> Proc | TermProc:
        downloads = tmp_path / f"{name}-downloads"
        downloads.mkdir()
        args = ("connect", "127.0.0.1", str(port), "--name", name, "--downloads", str(downloads), "--no-typing")
        if screen:
            proc: Proc | TermProc = TermProc(*args, rows=30, cols=110)
        else:
            proc = Proc(*args, program=program)
        started.append(proc)
        proc.expect(rf"welcome, {name}")
        return proc

    yield join
    for proc in reversed(started):
        proc.stop()


def _fetch(student: Proc, file_id: str, name: str) -> None:
    mark = student.mark()
    student.send(f"/get {file_id}")
    student.expect(rf"saved .*{re.escape(name)}.* \(.*SHA-256 checked\)", start=mark)


def test_the_offerers_screen_shows_a_class_fetching_her_file_as_one_line_that_grows(room, tmp_path):
    """ann shared her slides with the class and never learnt who had them. Now, while the class
    fetches them and chats, her screen shows one line that grows: who fetched it last and how many
    in all; a student who fetches it twice counts once, and the students read nothing of it."""
    slides = tmp_path / "slides.pdf"
    slides.write_bytes(os.urandom(200_000))
    ann = room("ann", screen=True)
    students = [room(name) for name in ("bob", "cy", "dee", "eve")]
    ann.send(f'/send "{slides}"\r')
    ann.expect(r"your file slides\.pdf .* is on offer to the room as #1")
    for student in students:
        student.expect(r"ann offers slides\.pdf .*/get 1")
    for n, student in enumerate(students):
        _fetch(student, "1", "slides")
        student.send(f"got it {n}")
        ann.expect(rf"got it {n}")
    (tmp_path / "bob-downloads" / "slides.pdf").unlink()  # (his copy still there, a /get says where it is and fetches nothing)
    _fetch(students[0], "1", "slides")  # bob again: still one person
    students[0].send("twice")
    ann.expect(r"bob: twice")
    ann.expect(r"your file slides\.pdf \(#1\): fetched by eve, dee and 2 others \(4\)")
    assert sum("fetched by" in row for row in ann.lines) == 1, ann.text
    ann.send("/files\r")
    ann.expect(r"#1 slides\.pdf .* from you, fetched by 4")
    ann.expect(r"all of the 4 here have it")  # and who here has it, on the full screen too
    for student in students:
        assert "fetched by" not in student.output


def test_a_client_older_than_the_fetched_news_shares_files_as_before(room, tmp_path):
    """An older lanchat offering a file hears of each fetch in a type it does not know: it shows
    nothing of it, no error, and chats on. The newer --plain offerer prints its first fetch at
    once; the next, within 30 s, waits, and is printed as the chat ends, not lost."""
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"n" * 5000)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(os.urandom(9000))
    old = room("old", program=_OLDER_CLIENT)
    new = room("new")
    bob, cy = room("bob"), room("cy")
    old.send(f'/send "{notes}"')
    old.expect(r"your file notes\.txt .* on offer to the room as #1")
    new.send(f'/send "{photo}"')
    new.expect(r"your file photo\.jpg .* on offer to the room as #2")
    bob.expect(r"new offers photo\.jpg")
    _fetch(bob, "1", "notes")
    _fetch(bob, "2", "photo")
    new.expect(r"-!- your file photo\.jpg \(#2\): fetched by bob$")
    bob.send("still chatting")
    old.expect(r"bob: still chatting")
    assert "fetched" not in old.output and "unknown" not in old.output
    assert not [line for line in old.lines if re.match(r"\S+ ! ", line)], old.output  # no error line
    old.send("and I am here")
    bob.expect(r"old: and I am here")
    _fetch(cy, "2", "photo")
    cy.send("thanks")
    new.expect(r"cy: thanks")
    assert "fetched by cy" not in new.output  # within 30 s of bob's: it waits
    new.send("/q")
    assert new.wait() == 0
    new.expect(r"-!- your file photo\.jpg \(#2\): fetched by cy and bob \(2\)$")


def test_files_tells_the_offerer_who_in_the_room_has_not_fetched_her_file_yet(room, tmp_path):
    """The teacher's /files said how many had her slides, not who had not, to help those. Now
    it names who here has not fetched them yet, then says all have; a student's /files names
    nobody (who fetched what is the offerer's to know)."""
    slides = tmp_path / "week3.pdf"
    slides.write_bytes(os.urandom(50_000))
    ann = room("ann")
    bob, cy, dee = (room(name) for name in ("bob", "cy", "dee"))
    ann.send(f'/send "{slides}"')
    ann.expect(r"your file week3\.pdf .* is on offer to the room as #1")
    for student in (bob, cy, dee):
        student.expect(r"ann offers week3\.pdf .*/get 1")
    _fetch(bob, "1", "week3")
    _fetch(cy, "1", "week3")
    ann.expect(r"fetched by bob$")  # cy's, within 30 s, waits (--plain)
    mark = ann.mark()
    ann.send("/files")
    ann.expect(r"#1 week3\.pdf .* from you, fetched by 2$", start=mark)
    ann.expect(r"2 of the 3 here have it; not yet: dee$", start=mark)
    _fetch(dee, "1", "week3")
    dee.send("got it")
    ann.expect(r"dee: got it")
    mark = ann.mark()
    ann.send("/files")
    ann.expect(r"all of the 3 here have it$", start=mark)
    mark = bob.mark()
    bob.send("/files")
    bob.expect(r"#1 week3\.pdf .* from ann: saved as .*week3\.pdf$", start=mark)
    bob.send("/me is done")
    bob.expect(r"bob is done")
    assert "here have it" not in bob.output and "not yet" not in bob.output
