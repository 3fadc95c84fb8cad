"""Who fetched it: the offerer of a file is told when one more person has all of it, and nobody
else is (PROTOCOL.md, File transfer, "Who fetched it").

The server's side over real sockets (an in-process server, protocol-level clients, real files);
the offerer's screen folds the news into one line per file (ui/view.py) and --plain holds it to
a line every few seconds per file (ui/plain.py), both checked here without a terminal, and in a
real pseudo-terminal in tests/test_files_fetched_cli.py.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import PurePosixPath

import pytest
from helpers import RawClient, running_server, wait_for

from lanchat import events as ev
from lanchat.files import MB, Progress, decode_chunk
from lanchat.server_files import ServerFiles
from lanchat.session import Line, Session, too_long
from lanchat.ui.view import View

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def store(tmp_path):
    files = ServerFiles(tmp_path / "server-files", max_file_bytes=8 * MB, quota_bytes=16 * MB)
    yield files
    files.close()


def _upload(client: RawClient, data: bytes, name: str) -> str:
    client.send(ev.OfferFile(ref=1, name=name, size=len(data)))
    ready = client.expect(ev.UploadReady, ref=1)
    client.send(ev.UploadBytes(id=ready.id, data=data[: 60 * 1024]))
    for offset in range(60 * 1024, len(data), 60 * 1024):
        client.send(ev.UploadBytes(id=ready.id, data=data[offset : offset + 60 * 1024]))
    client.send(ev.UploadDone(id=ready.id, sha256=hashlib.sha256(data).hexdigest()))
    client.expect(ev.Offered, id=ready.id)
    return ready.id


def _fetch(client: RawClient, file_id: str) -> bytes:
    client.send(ev.GetFile(id=file_id, binary=True))
    start = client.expect(ev.FileStart, id=file_id)
    got = bytearray()
    while len(got) < start.size:
        got += client.expect(ev.FileBytes, id=file_id).data
    return bytes(got)


def _news(client: RawClient, said_by: RawClient, marker: str = "marker") -> list[ev.Fetched]:
    """What ``client`` was told of fetches, up to a chat line ``said_by`` says now (the server
    sends in order, so the line says every earlier news has come)."""
    said_by.send(ev.Say(text=marker))
    heard = []
    while True:
        event = client.expect(object)
        if isinstance(event, ev.Fetched):
            heard.append(event)
        elif isinstance(event, ev.Message) and event.text == marker:
            return heard


def test_only_the_offerer_is_told_once_a_person_who_fetched_all_of_her_file(store, sock_dir):
    """The teacher could not learn who had her slides but by asking /files now and then. She is
    now told as each student gets the last byte: once a person however often they fetch it, not
    for a download cancelled or cut off midway, not for her own copy; and only she is told."""
    data = os.urandom(3 * MB)
    with running_server(files=store, unix_path=os.path.join(sock_dir, "chat.sock")) as (server, endpoint):
        ann, bob, cat, dan = (RawClient(endpoint, name) for name in ("ann", "bob", "cat", "dan"))
        file_id = _upload(ann, data, "slides.pdf")
        for student in (bob, cat, dan):
            student.expect(ev.Offered, id=file_id)
        assert _fetch(bob, file_id) == data
        assert _fetch(bob, file_id) == data  # twice: one person
        assert _news(ann, ann, "one") == [ev.Fetched(id=file_id, name="slides.pdf", by="bob", count=1)]
        # cat stops midway; dan's link goes midway (the server sends only as they read)
        cat.send(ev.GetFile(id=file_id, binary=True))
        cat.expect(ev.FileBytes, id=file_id)
        cat.send(ev.CancelFile(id=file_id))
        dan.send(ev.GetFile(id=file_id, binary=True))
        dan.expect(ev.FileBytes, id=file_id)
        dan_cid = max(server.clients)
        dan.close()
        ann.expect(ev.Left, name="dan")
        wait_for(lambda: dan_cid not in store.downloads, what="dan's download to be dropped")
        assert _fetch(ann, file_id) == data  # her own copy is not a fetch
        assert _fetch(cat, file_id) == data  # cat, whole this time
        assert _news(ann, ann, "two") == [ev.Fetched(id=file_id, name="slides.pdf", by="cat", count=2)]
        for student in (bob, cat):  # who fetched what is the offerer's to know
            assert _news(student, student) == []
        ann.send(ev.ListFiles())  # /files says the same count
        assert ann.expect(ev.Offered, id=file_id, listing=True).fetched == 2


def test_an_empty_file_and_a_resume_from_its_end_are_fetches_too(store, sock_dir):
    """A download with nothing to send (an empty file; a client that held it all) ends with its
    file-start: it is counted, and told, there."""
    with running_server(files=store, unix_path=os.path.join(sock_dir, "chat.sock")) as (_, endpoint):
        ann, bob, cat = RawClient(endpoint, "ann"), RawClient(endpoint, "bob"), RawClient(endpoint, "cat")
        empty = _upload(ann, b"", "empty.txt")
        ann.send(ev.OfferFile(ref=2, name="tiny.txt", size=3))
        tiny = ann.expect(ev.UploadReady, ref=2).id
        ann.send(ev.UploadBytes(id=tiny, data=b"abc"))
        ann.send(ev.UploadDone(id=tiny, sha256=hashlib.sha256(b"abc").hexdigest()))
        ann.expect(ev.Offered, id=tiny)
        bob.expect(ev.Offered, id=tiny)
        assert _fetch(bob, empty) == b""
        cat.send(ev.GetFile(id=tiny, offset=3, sha256=hashlib.sha256(b"abc").hexdigest()))
        assert cat.expect(ev.FileStart, id=tiny).offset == 3
        assert [(n.id, n.by, n.count) for n in _news(ann, ann)] == [(empty, "bob", 1), (tiny, "cat", 1)]


def test_a_download_in_base64_frames_is_counted_at_its_last_piece(store, sock_dir):
    data = os.urandom(100_000)
    with running_server(files=store, unix_path=os.path.join(sock_dir, "chat.sock")) as (_, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        file_id = _upload(ann, data, "notes.bin")
        bob.expect(ev.Offered, id=file_id)
        bob.send(ev.GetFile(id=file_id))
        start = bob.expect(ev.FileStart, id=file_id)
        got = bytearray()
        while len(got) < start.size:
            got += decode_chunk(bob.expect(ev.FileData, id=file_id).data)
        assert bytes(got) == data
        assert ann.expect(ev.Fetched, id=file_id) == ev.Fetched(id=file_id, name="notes.bin", by="bob", count=1)


# ------------------------------------------------------------- the offerer's screen, without a terminal


def _offered(session: Session, file_id: str = "7", name: str = "slides.pdf", to: str | None = None) -> None:
    session.on_event(ev.Offered(id=file_id, name=name, size=10, sha256="0" * 64, sender="ann", to=to, time=1.0))


def _class_fetches(session: Session, view: View, count: int, *, chat: bool = True) -> None:
    """``count`` students fetch file #7 one after another, each saying something after."""
    for n in range(count):
        view.add(session.on_event(ev.Fetched(id="7", name="slides.pdf", by=f"s{n}", count=n + 1)))
        if chat:
            view.add(session.on_event(ev.Message(sender=f"s{n}", text="got it", time=2.0 + n)))


def test_a_class_fetching_the_slides_while_chatting_is_one_line_on_the_offerers_screen():
    """30 students fetched the teacher's slides in a minute, each saying 'got it': her screen
    shows one line about it, where the first fetch put it, naming the newest and counting all."""
    session = Session(name="ann")
    view = View(session, page_rows=80)
    _offered(session)
    _class_fetches(session, view, 30)
    news = [line for line in view.lines if line.fetched == "7"]
    assert [line.text for line in news] == ["your file slides.pdf (#7): fetched by s29, s28 and 28 others (30)"]
    assert sum(line.text == "got it" for line in view.lines) == 30
    assert view.lines[0] is news[0]  # in the first fetch's place, above the chat that came since


def test_the_fetched_line_names_up_to_three_then_counts():
    session = Session(name="ann")
    view = View(session)
    texts = []
    for n, name in enumerate(("bob", "cy", "dee", "eve"), 1):
        view.add(session.on_event(ev.Fetched(id="7", name="slides.pdf", by=name, count=n)))
        texts.append(view.lines[-1].text)
    assert texts == [
        "your file slides.pdf (#7): fetched by bob",
        "your file slides.pdf (#7): fetched by cy and bob (2)",
        "your file slides.pdf (#7): fetched by dee, cy and bob (3)",
        "your file slides.pdf (#7): fetched by eve, dee and 2 others (4)",
    ]
    assert len(view.lines) == 1


def test_a_fetched_line_off_the_page_is_not_changed_unseen_a_new_one_says_all():
    """The last line about the file went off the top of the page (a lesson's chat since): the
    next fetch is a new line at the bottom, with the whole count, where the teacher looks."""
    session = Session(name="ann")
    view = View(session, page_rows=10)
    _class_fetches(session, view, 2, chat=False)
    for n in range(12):
        view.add(session.on_event(ev.Message(sender="bob", text=f"line {n}", time=3.0 + n)))
    view.add(session.on_event(ev.Fetched(id="7", name="slides.pdf", by="cy", count=3)))
    news = [line.text for line in view.lines if line.fetched == "7"]
    assert news == ["your file slides.pdf (#7): fetched by s1 and s0 (2)", "your file slides.pdf (#7): fetched by cy, s1 and s0 (3)"]


def test_scrolled_up_a_fetched_line_that_grows_on_the_page_does_not_move_the_page():
    """The teacher scrolled up, then down until the news (unread) is on the page, two lines below
    its bottom: a fetch makes that line a row longer. The page stays where she put it (its bottom
    row the same line); it moved up a row, and the line she read at the bottom went below.
    Wholly below the page, the line's new rows still move the count (the page stays too)."""
    session = Session(name="ann")

    def rows(line: Line) -> int:
        return 1 if len(line.text) < 45 else 2  # the second fetch's line wraps

    def bottom(view: View) -> str:
        """The line on the page's bottom row (counted from the newest, past ``scroll`` rows)."""
        counted = 0
        for line in reversed(view.lines):
            counted += rows(line)
            if counted > view.scroll:
                return line.text
        return ""

    for scroll in (2, 5):  # the news on the page; wholly below it
        view = View(session, page_rows=10, measure=rows)
        for n in range(30):
            view.add([Line(kind="message", time=1.0 + n, text=f"line {n}", sender="bob")])
        view.scroll_by(5)
        view.add(session.on_event(ev.Fetched(id="7", name="a.pdf", by="s0", count=1)))
        view.add([Line(kind="message", time=40.0 + n, text=f"after {n}", sender="bob") for n in range(3)])
        view.scroll = scroll
        was = bottom(view)
        view.add(session.on_event(ev.Fetched(id="7", name="a.pdf", by="somebody", count=2)))
        assert [line.text for line in view.lines if line.fetched] == ["your file a.pdf (#7): fetched by somebody and s0 (2)"]
        assert bottom(view) == was, scroll
        session.fetched_by.clear()


def test_two_files_fold_apart_and_a_file_offered_to_one_person_hides_its_name_on_the_projector():
    session = Session(name="ann")
    view = View(session)
    _offered(session, "8", "answers.pdf", to="bob")
    view.add(session.on_event(ev.Fetched(id="7", name="slides.pdf", by="bob", count=1)))
    view.add(session.on_event(ev.Fetched(id="8", name="answers.pdf", by="bob", count=1)))
    view.add(session.on_event(ev.Fetched(id="7", name="slides.pdf", by="cy", count=2)))
    news = [line for line in view.lines if line.fetched is not None]
    assert [line.text for line in news] == ["your file slides.pdf (#7): fetched by cy and bob (2)", "your file answers.pdf (#8): fetched by bob"]
    assert news[0].private is None
    assert news[1].private == "your file (name hidden: /projector to show) (#8): fetched by bob"


def test_a_fetch_told_by_a_hostile_server_with_an_overlong_name_is_left_out_said_so():
    session = Session(name="ann")
    lines = session.on_event(ev.Fetched(id="7", name="x", by="b" * 5000, count=1))
    assert [line.kind for line in lines] == ["error"] and "5000 characters long" in lines[0].text
    assert session.fetched_by == {}
    # one rule, in one place (session.too_long, as for any other name); a file's name is no person's
    assert too_long(ev.Fetched(id="7", name="x", by="b" * 5000, count=1)) == lines[0].text.split(": ", 1)[1]
    assert too_long(ev.Fetched(id="7", name="n" * 200 + ".pdf", by="bob", count=1)) is None
    assert session.on_event(ev.Fetched(id="7", name="n" * 200 + ".pdf", by="bob", count=1))[0].kind == "notice"


def _listed(session: Session, file_id: str, fetched: int | None, *, sender: str = "ann", to: str | None = None) -> list[Line]:
    """What /files shows of one file: the listing's ``offered`` as the server sends it."""
    offered = ev.Offered(id=file_id, name="week3.pdf", size=3000, sha256="a" * 64, sender=sender, to=to, time=1.0, listing=True, fetched=fetched)
    return session.on_event(offered)


def test_files_tells_the_offerer_who_here_has_her_file_and_who_not_yet():
    """A teacher who shared the slides knew how many had them (/files: 'fetched by 28'), not who
    had not, to help those. /files now says, under each file of hers, how many of those here have
    it and names who not yet (the first 8, the rest counted); the projector shows counts only;
    the room's bot and she are not counted; a file offered to one person speaks of that person."""
    session = Session(name="Ann", members=["Ann", "bob", "cy", "dee", "eve", "colourbot"])
    session.bots = {"colourbot"}
    for n, who in enumerate(("Bob", "cy", "zed")):  # zed fetched it and left; Bob is bob
        session.on_event(ev.Fetched(id="1", name="week3.pdf", by=who, count=n + 1))
    line, here = _listed(session, "1", 3)
    assert line.text == "  #1 week3.pdf 2.9 KiB from you, fetched by 3"
    assert (here.text, here.private) == ("    2 of the 4 here have it; not yet: dee, eve", "    2 of the 4 here have it; 2 not yet")
    session.on_event(ev.Fetched(id="1", name="week3.pdf", by="bob", count=3))  # again: nothing changes
    assert _listed(session, "1", 3)[1].text == "    2 of the 4 here have it; not yet: dee, eve"
    for n, who in enumerate(("dee", "eve")):
        session.on_event(ev.Fetched(id="1", name="week3.pdf", by=who, count=4 + n))
    assert _listed(session, "1", 5)[1].text == "    all of the 4 here have it"
    session.on_event(ev.Offered(id="2", name="week3.pdf", size=3000, sha256="a" * 64, sender="ann", to="dee", time=1.0))
    # a file offered to one person: its line says whether they have it ("fetched by 0" read as if the room had been asked)
    assert [line.text for line in _listed(session, "2", 0, to="dee")] == ["  #2 week3.pdf 2.9 KiB from you (only for dee, not fetched yet)"]
    assert [line.text for line in _listed(session, "2", 1, to="dee")] == ["  #2 week3.pdf 2.9 KiB from you (only for dee, who has it)"]
    assert _listed(session, "2", 1, to="dee")[0].private == "  #2 (name hidden: /projector to show) from you (only for dee, who has it)"
    assert [line.text for line in _listed(session, "2", None, to="dee")] == ["  #2 week3.pdf 2.9 KiB from you (only for dee)"]
    assert _listed(session, "4", 0)[0].text == "  #4 week3.pdf 2.9 KiB from you, fetched by nobody yet"
    class_of_30 = Session(name="ann", members=["ann", *(f"s{n:02}" for n in range(30))])
    class_of_30.on_event(ev.Fetched(id="1", name="week3.pdf", by="s29", count=1))
    assert _listed(class_of_30, "1", 1)[1].text == "    1 of the 30 here has it; not yet: s00, s01, s02, s03, s04, s05, s06, s07 and 21 others"
    assert _listed(Session(name="ann", members=["ann"]), "1", 0)[1:] == []  # nobody else here: nothing to say
    # someone else's file, or the listing of a server that does not count: no names, as before
    assert [line.text for line in _listed(session, "3", None, sender="bob")] == ["  #3 week3.pdf 2.9 KiB from bob: /get 3"]
    assert len(_listed(session, "1", None)) == 1
    # told of more fetches than this client kept (a hostile server's count): it says so, guesses no names
    assert _listed(session, "1", 99)[1].text == "    who of the 4 here has it is not known: this client did not keep every name"


def test_files_says_those_at_nc_apart_never_as_not_yet_and_the_projector_counts_them():
    """Students at nc can never fetch a file, and the teacher's /files named them "not yet" for
    ever. The welcome's, joined's and roster's ``text`` say who they are: /files says them apart,
    alone too, and the projector counts them without names."""
    session = Session(name="ann")
    session.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann", "bob", "dan"), text=("dan",)))
    session.on_event(ev.Fetched(id="1", name="week3.pdf", by="bob", count=1))
    here = _listed(session, "1", 1)[1]
    assert (here.text, here.private) == ("    bob has it; dan is at nc and cannot fetch files", "    the one here has it; 1 at nc cannot fetch files")
    session.on_event(ev.Left(name="bob", reason="quit", time=2.0))
    session.on_event(ev.Joined(name="eve", time=3.0, text=True))
    alone = _listed(session, "1", 1)[1]
    assert (alone.text, alone.private) == ("    dan and eve are at nc and cannot fetch files", "    2 at nc cannot fetch files")
    session.on_event(ev.Roster(members=("ann", "dan", "eve")))  # a roster from a server that does not flag them
    assert _listed(session, "1", 1)[1].text == "    0 of the 2 here have it; not yet: dan, eve"


def test_files_names_nobody_from_an_earlier_file_of_that_number_nor_escapes():
    """A server restarted without history numbers files from 1 again: who fetched the old #1
    does not have the new one. And names from a server that is not lanchat print as visible
    characters, never as bytes the terminal obeys."""
    from lanchat.ui.plain import format_plain

    session = Session(name="ann", members=["ann", "bob", "c\x1b[2Jy"])
    session.on_event(ev.Fetched(id="1", name="week3.pdf", by="bob", count=1))
    session.on_event(ev.Offered(id="1", name="week3.pdf", size=3000, sha256="a" * 64, sender="ann", time=2.0))  # the new #1
    here = _listed(session, "1", 0)[-1]
    assert here.text == "    0 of the 2 here have it; not yet: bob, c\x1b[2Jy"
    assert "\x1b" not in format_plain(here) and "not yet: bob, c" in format_plain(here)
    assert _listed(session, "1", 1)[-1].text.endswith("is not known: this client did not keep every name")  # a count it was not told of


def test_someone_who_fetched_and_then_took_another_name_still_has_it():
    """bob fetched the slides, then typed /nick robert: /files named robert among those who had
    not fetched them yet, and the teacher went to help someone who had them."""
    session = Session(name="ann", members=["ann", "bob", "cy"])
    session.on_event(ev.Fetched(id="1", name="week3.pdf", by="bob", count=1))
    session.on_event(ev.Renamed(old="bob", new="robert", time=2.0))
    assert _listed(session, "1", 1)[-1].text == "    1 of the 2 here has it; not yet: cy"
    session.on_event(ev.Joined(name="Bob", time=3.0))  # someone else takes the name: not one who has it
    assert _listed(session, "1", 1)[-1].text == "    1 of the 3 here has it; not yet: cy, Bob"


def test_who_fetched_is_kept_bounded_against_a_server_telling_of_millions():
    from lanchat.session_events import FETCHED_FILES_KEPT, FETCHED_NAMES_KEPT

    session = Session(name="ann")
    for n in range(FETCHED_NAMES_KEPT + 10):
        session.on_event(ev.Fetched(id="1", name="x", by=f"p{n}", count=n + 1))
    for n in range(FETCHED_FILES_KEPT + 10):
        session.on_event(ev.Fetched(id=str(n + 2), name="x", by="bob", count=1))
    assert len(session.fetched_by) == FETCHED_FILES_KEPT and "1" not in session.fetched_by
    assert max(len(who) for who in session.fetched_by.values()) == 1


def test_plain_prints_a_fetch_at_once_and_folds_the_next_30_seconds_into_one_line():
    """--plain cannot change a printed line: the first fetch of a file prints at once, those in
    the next 30 s wait and print as one line (the newest, which says all) when the 30 s are up."""
    from lanchat.ui.plain import FETCHED_EVERY_SECONDS, HeldFetches, StalledDownloads

    now = [100.0]
    printed: list[list[Line]] = []
    session = Session(name="ann")
    fetches = HeldFetches(printed.append, StalledDownloads(session, printed.append), clock=lambda: now[0])
    shown = []
    for n in range(30):  # one a second
        now[0] = 100.0 + n
        shown += fetches.sort(session.on_event(ev.Fetched(id="7", name="slides.pdf", by=f"s{n}", count=n + 1)))
        shown += fetches.sort([Line(kind="message", time=now[0], text="got it", sender=f"s{n}")])
        fetches.update()
    assert [line.text for line in shown if line.fetched] == ["your file slides.pdf (#7): fetched by s0"]
    assert printed == [] and fetches.due() == pytest.approx(FETCHED_EVERY_SECONDS - 29)
    now[0] = 100.0 + FETCHED_EVERY_SECONDS
    fetches.update()
    assert [[line.text for line in batch] for batch in printed] == [["your file slides.pdf (#7): fetched by s29, s28 and 28 others (30)"]]
    assert fetches.due() is None


def test_plain_stamps_a_fetched_line_that_waited_with_the_time_it_is_printed():
    """The line that waited up to 30 s was stamped with the newest fetch's time, so in --plain it
    printed after chat lines it claimed to be older than ([10:00:29] after [10:00:58]). It is now
    stamped when printed: the times in the scrollback only ever go forward. At the chat's end too."""
    from lanchat.ui.plain import FETCHED_EVERY_SECONDS, HeldFetches, StalledDownloads

    now = [1000.0]
    printed: list[Line] = []
    session = Session(name="ann", clock=lambda: now[0])
    fetches = HeldFetches(printed.extend, StalledDownloads(session, printed.extend), clock=lambda: now[0], wall=lambda: now[0])
    for n, at in enumerate((0.0, 1.0, 29.0)):  # the first prints at once; the next two wait
        now[0] = 1000.0 + at
        printed += fetches.sort(session.on_event(ev.Fetched(id="7", name="slides.pdf", by=f"s{n}", count=n + 1)))
    now[0] = 1000.0 + 29.5
    printed += fetches.sort([Line(kind="message", time=now[0], text="got it", sender="s2")])
    now[0] = 1000.0 + FETCHED_EVERY_SECONDS
    fetches.update()
    assert [line.text for line in printed][-1] == "your file slides.pdf (#7): fetched by s2, s1 and s0 (3)"
    assert [line.time for line in printed] == [1000.0, 1029.5, 1000.0 + FETCHED_EVERY_SECONDS]
    now[0] = 1031.0  # another file: its first prints at once, the next waits; the chat ends at 1040
    assert len(fetches.sort(session.on_event(ev.Fetched(id="8", name="notes.pdf", by="s0", count=1)))) == 1
    now[0] = 1032.0
    assert fetches.sort(session.on_event(ev.Fetched(id="8", name="notes.pdf", by="s1", count=2))) == []
    now[0] = 1040.0  # printed then, stamped then
    assert [line.time for line in fetches.last()] == [1040.0]


def test_a_download_counts_once_its_last_byte_is_written_not_when_it_is_queued(tmp_path):
    """The server queues a download's last pieces ahead of the socket (up to a quarter second of
    the link): a student whose link went with the end of the slides still queued was counted as
    having them. The hub's loop, with sockets that take what a test says (tests/test_hub.py's Lab):
    a download counts once the bytes up to its last piece are written, not before, and never for
    a connection gone first."""
    from test_hub import Lab

    lab = Lab(files=ServerFiles(tmp_path / "files"))
    ann, bob, cy = lab.join("ann"), lab.join("bob"), lab.join("cy")
    data = os.urandom(150_000)
    ann.says(ev.OfferFile(ref=1, name="slides.pdf", size=len(data)))
    file_id = ann.hears_one(ev.UploadReady).id
    pieces = [ev.UploadBytes(id=file_id, data=data[at : at + 60_000]) for at in range(0, len(data), 60_000)]
    ann.says(*pieces, ev.UploadDone(id=file_id, sha256=hashlib.sha256(data).hexdigest()))
    ann.hears()
    for student in (bob, cy):
        student.hears()
        lab.writers[student.cid].reading = False  # their kernel buffers are full: nothing is written
        student.says(ev.GetFile(id=file_id, binary=True))
    for _ in range(3):
        lab.flush()
    assert not lab.hub.files.downloads and set(lab.hub.pacer.finishing) == {bob.cid, cy.cid}  # all queued, none written
    assert not [event for event in ann.hears() if isinstance(event, ev.Fetched)]
    lab.hub.close(bob.cid)  # bob's link goes with the end of the file still queued
    socket = lab.writers[cy.cid]
    socket.reading, socket.take = True, 40_000  # cy's link takes part of it (a write a pass)
    lab.flush()
    assert not [event for event in ann.hears() if isinstance(event, ev.Fetched)]  # (a second pass)
    assert 0 < lab.hub.pacer.finishing[cy.cid][0][0] <= lab.hub.outbox.queues[cy.cid].out_bytes  # (bob's leaving behind it)
    socket.take = None
    lab.flush()
    assert [event for event in ann.hears() if isinstance(event, ev.Fetched)] == [ev.Fetched(id=file_id, name="slides.pdf", by="cy", count=1)]
    assert lab.hub.files.book.offers[file_id].fetched_count(ann.cid) == 1 and not lab.hub.pacer.finishing


def test_a_hostile_servers_fetched_news_cannot_drive_the_terminal():
    """Names and a file name full of escapes, from a server that is not lanchat: printed as
    visible characters in --plain and on the screen, never as bytes the terminal obeys."""
    from lanchat.textsafe import visible
    from lanchat.ui import render as rd
    from lanchat.ui.plain import format_plain

    session = Session(name="ann")
    (line,) = session.on_event(ev.Fetched(id="7\x1b[2J", name="\x1b]0;owned\x07x.pdf", by="b\x1b[31mob", count=2))
    prefix, suffix, _style = rd.line_parts(line)
    screen = "".join(text for text, _ in prefix) + visible(line.text) + "".join(text for text, _ in suffix)  # as render draws it
    for shown in (format_plain(line), screen):
        assert "\x1b" not in shown and "\x07" not in shown and "fetched by b" in shown


def test_plain_says_a_download_stalling_again_and_again_less_and_less_often():
    """A student on a lossy Wi-Fi (30% of packets lost) fetching a file with --plain read twelve
    "stalled" and "moving again" lines in 50 s: each quiet of 2 s said so, and each byte after it.
    The first stall is still said after 2 s; each next one of the same download after twice the
    quiet of the last (4, 8, 16, then 32 s at most), so a link that keeps stalling says so a few
    times, not once every few seconds. A new download starts again at 2 s."""
    from lanchat.ui.plain import STALLED_AT_MOST_SECONDS, StalledDownloads

    now = [0.0]
    session = Session(name="bob")
    printed: list[str] = []
    stalls = StalledDownloads(session, lambda lines: printed.extend(line.text for line in lines))
    get = Progress(direction="get", label="big.bin", total=100, started=0.0, file_id="1", clock=lambda: now[0])
    session.progress["get 1"] = get
    for second in range(1, 121):  # a byte each 3 s of the first two minutes: 2 s quiet, then a byte
        now[0] = float(second)
        if second % 3 == 0:
            get.done, get.now = min(get.done + 1, 99), now[0]
        stalls.update()
    said = [text for text in printed if "stalled at" in text]
    assert len(said) == 1 and said[0].startswith("#1 big.bin: stalled at 0%, no byte for 2 s"), printed  # 4 s never came
    get.now = 121.0  # then quiet for a minute: said after 4 s, and once only
    for second in range(122, 182):
        now[0] = float(second)
        stalls.update()
    assert [text.split(", no byte")[0] for text in printed if "stalled at" in text][1:] == ["#1 big.bin: stalled at 40%"], printed
    assert stalls.due() is None  # said: nothing waits to be said
    again = Progress(direction="get", label="big.bin", total=100, started=now[0], file_id="2", clock=lambda: now[0])
    session.progress["get 1"] = again  # asked again (a new download): 2 s again
    stalls.update()
    assert stalls.due() == pytest.approx(2.0) and STALLED_AT_MOST_SECONDS == 32.0


def test_files_says_where_a_file_offered_to_you_was_saved_and_projector_mode_hides_its_name():
    """bob's /files offered "/get 2" of a file he had saved; it says where it is now (what
    ClientTransfers.saved_where finds still there), and on the projector the folder alone, as
    /get's own answer does: the name of a file offered to one person is not for the wall."""
    where = {"2": PurePosixPath("/home/bob/Downloads/marks for bob.pdf")}
    bob = Session(name="bob", members=["ann", "bob"])
    bob.saved_files = where.get
    (line,) = _listed(bob, "2", None, to="bob")
    assert line.text == "  #2 week3.pdf 2.9 KiB from ann (only for you): saved as '/home/bob/Downloads/marks for bob.pdf'"
    assert line.private == "  #2 (name hidden: /projector to show) from ann (only for you): saved in /home/bob/Downloads"
    assert [line.text for line in _listed(bob, "3", None)] == ["  #3 week3.pdf 2.9 KiB from ann: /get 3"]  # not saved here


def test_files_says_a_file_on_its_way_here_is_coming_rather_than_offer_get_again():
    """bob's /files, while his /get of #3 was under way, still offered "/get 3" (and a /get only
    said "already on its way"): it says the file is coming, how far along, and how to stop it."""
    bob = Session(name="bob", members=["ann", "bob"])
    coming = Progress(direction="get", label="week3.pdf", total=3000, started=0.0, file_id="3", clock=lambda: 1.0)
    coming.done = 1200
    bob.progress["get:3"] = coming  # as client_files keeps a download's progress
    (line,) = _listed(bob, "3", None)
    assert line.text == "  #3 week3.pdf 2.9 KiB from ann: on its way here, 40% (/cancel 3 stops it)"
    assert [line.text for line in _listed(bob, "4", None)] == ["  #4 week3.pdf 2.9 KiB from ann: /get 4"]  # another file
