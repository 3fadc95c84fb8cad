"""Projector mode (ui/projector.py): a screen the class sees shows who sent a direct message,
never what it says, live or replayed; turning the mode off shows it again in place. The rule,
the status line and both front ends' drawing, on plain data (the pty test: test_ui_screen_pty)."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import time

import pytest

from lanchat import events as ev
from lanchat.client_files import ClientTransfers, cut_off, taken_up
from lanchat.colourbot import COMPUTER_HOPE_URL
from lanchat.session import FileCommand, Line, Local, Session
from lanchat.ui import render as rd
from lanchat.ui.plain import PlainFrontend
from lanchat.ui.projector import HIDDEN_OWN_TEXT, HIDDEN_TEXT, hidden, is_direct, shown, typed_privately
from lanchat.ui.view import View

T0 = 1_700_000_000.0
SECRET = "I'm stuck and my parents are splitting up"


def teacher(**fields) -> Session:
    fields.setdefault("members", ["teacher", "ann", "bob"])
    return Session(name="teacher", role="host", where="192.168.100.23:3580", **fields)


def lines_for(session: Session, *events: ev.Event) -> list[Line]:
    return [line for event in events for line in session.on_event(event)]


def direct(sender: str = "ann", to: str = "teacher", text: str = SECRET, **flags) -> ev.Direct:
    return ev.Direct(sender=sender, to=to, text=text, time=T0, **flags)


# ------------------------------------------------------------------------- the rule


def test_a_direct_message_live_or_replayed_keeps_its_names_and_loses_its_text():
    session = teacher()
    live, replayed, = lines_for(session, direct(), direct(history=True))
    mine, = lines_for(session, direct(sender="teacher", to="ann"))
    held, _notice = lines_for(session, direct(sender="teacher", to="bob", held=True))
    assert [is_direct(line) for line in (live, replayed, mine, held)] == [True] * 4
    for line, text in ((live, HIDDEN_TEXT), (replayed, HIDDEN_TEXT), (mine, HIDDEN_OWN_TEXT), (held, HIDDEN_OWN_TEXT)):
        screened = hidden(line, "teacher")
        assert screened.text == text
        assert (screened.kind, screened.time, screened.sender, screened.to) == (line.kind, line.time, line.sender, line.to)
    assert hidden(replayed, "TEACHER").text == HIDDEN_TEXT  # names compare as the room compares them
    assert hidden(mine, "TEACHER").text == HIDDEN_OWN_TEXT


def test_the_colour_bots_swatch_goes_with_the_text():
    session = teacher()
    (line,) = lines_for(session, direct(sender="colourbot", text=f"For your calm mood, try {COMPUTER_HOPE_URL}3366cc"))
    assert line.colour is not None
    assert hidden(line, "teacher").colour is None


def test_every_other_line_is_left_as_it_is():
    session = teacher()
    others = lines_for(
        session,
        ev.Message(sender="ann", text=SECRET, time=T0),
        ev.Message(sender="ann", text=SECRET, time=T0, history=True),  # a replayed room message: no `to`
        ev.Emote(sender="ann", text="waves", time=T0),
        ev.Joined(name="cy", time=T0),
    )
    others.append(Line(kind="notice", time=T0, text=SECRET))
    assert len(others) == 5
    for line in others:
        assert not is_direct(line)
        assert hidden(line, "teacher") is line


def test_a_file_offered_to_one_person_hides_its_name_and_one_to_the_room_does_not():
    """A private offer ("bob offers you grades_ann.pdf") names the file on one screen only: in
    projector mode the offer, the sender's own line and a /files listing show it without the name."""
    session = teacher()
    offer = {"size": 2048, "sha256": "0" * 64, "time": T0}
    to_me, = lines_for(session, ev.Offered(id="7", name="grades_ann.pdf", sender="bob", to="teacher", **offer))
    mine, = lines_for(session, ev.Offered(id="8", name="grades_ann.pdf", sender="teacher", to="ann", **offer))
    listed, = lines_for(session, ev.Offered(id="7", name="grades_ann.pdf", sender="bob", to="teacher", listing=True, **offer))
    to_room, = lines_for(session, ev.Offered(id="9", name="slides.pdf", sender="bob", **offer))
    for line, number in ((to_me, "7"), (mine, "8"), (listed, "7")):
        assert "grades_ann.pdf" in line.text  # the transcript keeps it (and /save writes it)
        screened = hidden(line, "teacher")
        assert "grades_ann.pdf" not in screened.text
        assert f"#{number}" in screened.text or f"/get {number}" in screened.text  # still says how to get it
    assert hidden(to_me, "teacher").text.startswith("bob offers you a file")
    assert hidden(to_room, "teacher") is to_room


def test_a_renumbered_offer_hides_the_earlier_files_name_only_if_it_went_to_one_person():
    """After a restart without history an id comes back for another file, and the notice names the
    earlier one: a file offered to one person is named only with projector mode off."""
    session = teacher()
    offer = {"size": 2048, "sha256": "0" * 64, "time": T0}
    lines_for(session, ev.Offered(id="7", name="grades_ann.pdf", sender="bob", to="teacher", **offer))
    lines_for(session, ev.Offered(id="9", name="slides.pdf", sender="bob", **offer))
    after_private, _offer = lines_for(session, ev.Offered(id="7", name="quiz.pdf", sender="carl", **offer))
    after_room, _offer = lines_for(session, ev.Offered(id="9", name="quiz2.pdf", sender="carl", **offer))
    assert "grades_ann.pdf from bob" in after_private.text  # the transcript keeps it
    screened = hidden(after_private, "teacher").text
    assert "grades_ann.pdf" not in screened and screened.startswith("#7 is a new file: a file (name hidden") and "from bob" in screened
    assert "slides.pdf from bob" in after_room.text and hidden(after_room, "teacher") is after_room


def _download(transfers: ClientTransfers, offered: ev.Offered, data: bytes, *, upto: int | None = None) -> list[Line]:
    """``/get`` of ``offered`` through the client's disk edge: the lines it says, ``upto`` bytes in."""
    transfers.on_event(offered)
    transfers.command(FileCommand(name="get", file_id=offered.id))
    _, lines = transfers.on_event(ev.FileStart(id=offered.id, name=offered.name, size=len(data), sha256=hashlib.sha256(data).hexdigest()))
    _, more = transfers.on_event(ev.FileBytes(id=offered.id, data=data[:upto]))
    return lines + more


def _offered(file_id: str, name: str, to: str | None = None) -> ev.Offered:
    return ev.Offered(id=file_id, name=name, size=0, sha256="0" * 64, sender="bob", to=to, time=T0)


def test_the_download_of_a_file_offered_to_one_person_shows_no_name_in_the_status_line(tmp_path):
    session = teacher(projector=True)
    transfers = ClientTransfers(tmp_path)
    transfers.progress, transfers.status_line = session.progress, True  # as client.py wires them
    view = View(session)
    _download(transfers, _offered("7", "grades_ann.pdf", to="teacher"), b"x" * 1000, upto=230)
    _download(transfers, _offered("8", "slides.pdf"), b"x" * 1000, upto=500)
    status = rd.status_text(view)
    assert "get #7 (name hidden) 23%" in status and "grades_ann" not in status
    assert "get #8 slides.pdf 50%" in status  # a room's file keeps its name
    session.projector = False
    assert "get #7 grades_ann.pdf 23%" in rd.status_text(view)


def test_the_lines_about_a_private_download_name_it_only_with_projector_mode_off(tmp_path):
    """"saved", "cannot save", the plain front end's "receiving ...: 25%", "stopped receiving"."""
    ticks = itertools.count(0.0, 1.0)  # a second a look: a download's quarters are said after its first
    transfers = ClientTransfers(tmp_path, clock=lambda: next(ticks))
    *_said, saved = _download(transfers, _offered("7", "grades_ann.pdf", to="teacher"), b"marks")
    *_said, room_saved = _download(transfers, _offered("8", "slides.pdf"), b"slides")
    huge = ev.FileStart(id="9", name="grades_bob.pdf", size=2**63, sha256="0" * 64)
    transfers.on_event(_offered("9", "grades_bob.pdf", to="teacher"))
    transfers.command(FileCommand(name="get", file_id="9"))
    _, (cannot,) = transfers.on_event(huge)
    receiving = _download(transfers, _offered("10", "grades_cy.pdf", to="teacher"), b"x" * 1000, upto=300)
    _, stopped = transfers.cancel("10")
    _download(transfers, _offered("11", "grades_dee.pdf", to="teacher"), b"x" * 1000, upto=100)
    stopped += cut_off(transfers)  # the connection dropped
    assert str(tmp_path / "grades_ann.pdf") in saved.text and cannot.text.startswith("cannot save grades_bob.pdf")
    for line in (saved, cannot, *receiving, *stopped):
        screened = hidden(line, "teacher")
        assert "grades_" not in screened.text and "(name hidden" in screened.text, screened.text
    assert hidden(saved, "teacher").text.startswith(f"saved (name hidden: /projector to show) in {tmp_path} (")
    assert hidden(receiving[-1], "teacher").text.startswith("receiving (name hidden: /projector to show): 30% (300 bytes of ")
    assert hidden(room_saved, "teacher") is room_saved


def test_a_file_the_host_sends_to_one_person_shows_no_name_while_it_goes_up(tmp_path):
    """``/send grades_ann.pdf ann``: its offer line hid the name already; its upload does too, in
    the status line and in the lines about it (--plain's "sending ... as #8", "sent", a drop)."""
    session = teacher(projector=True)
    ticks = itertools.count(0.0, 1.0)  # a second a look: an upload's quarters are said after its first
    transfers = ClientTransfers(tmp_path, clock=lambda: next(ticks))
    transfers.progress = session.progress
    for name, to in (("grades_ann.pdf", "ann"), ("slides.pdf", None), ("grades_bob.pdf", "bob")):
        (tmp_path / name).write_bytes(b"x" * 100_000)
        transfers.offer(str(tmp_path / name), to)
    lines = [line for ref, file_id in ((1, "8"), (2, "9"), (3, "10")) for line in transfers.on_event(ev.UploadReady(ref=ref, id=file_id))[1]]
    lines += transfers.next_chunks(150_000)[1]  # half of each
    lines += taken_up(transfers, 0)  # and the server's end has it all (nothing unacknowledged): progress said
    status = rd.status_text(View(session))
    assert "send #8 (name hidden) " in status and "send #10 (name hidden) " in status and "send #9 slides.pdf " in status and "grades_" not in status
    while transfers.has_chunks_to_send:
        lines += transfers.next_chunks(150_000)[1]
        lines += taken_up(transfers, 0)
    lines += cut_off(transfers)  # all sent, the server was checking them when the connection dropped
    private = [line for line in lines if "grades_" in line.text]
    for start in ("sending grades_ann.pdf (", "sending grades_ann.pdf: ", "sent grades_ann.pdf", "connection lost: your file grades_bob.pdf"):
        assert any(line.text.startswith(start) for line in private), start
    for line in private:
        assert "grades_" not in hidden(line, "teacher").text and "(name hidden" in hidden(line, "teacher").text
    assert all(hidden(line, "teacher") is line for line in lines if "slides.pdf" in line.text)


def test_the_servers_words_about_a_file_for_one_person_hide_its_name_too(tmp_path):
    """"upload of NAME failed", "NAME arrived damaged", "cannot read NAME", a refused offer: the
    server's own lines about a file offered to one person named it on the projector. They hide
    it as the client's lines do, whichever transfer they are about; a room's file keeps its name."""
    transfers = ClientTransfers(tmp_path)
    for name, size in (("grades_ann.pdf", 100_000), ("grades_bob.pdf", 1_000_000), ("grades_cy.pdf", 100_000), ("slides.pdf", 100_000)):
        (tmp_path / name).write_bytes(b"x" * size)
    transfers.offer(str(tmp_path / "grades_ann.pdf"), "ann")  # ref 1: refused
    transfers.offer(str(tmp_path / "grades_bob.pdf"), "bob")  # ref 2: #8, stops on its way up
    transfers.offer(str(tmp_path / "grades_cy.pdf"), "cy")  # ref 3: #9, all sent, found damaged
    transfers.offer(str(tmp_path / "slides.pdf"))  # ref 4: #10, the room's
    for ref, file_id in ((2, "8"), (3, "9"), (4, "10")):
        transfers.on_event(ev.UploadReady(ref=ref, id=file_id))
    while transfers.has_chunks_to_send and "9" not in transfers.checking:
        transfers.next_chunks(200_000)
    assert "8" in transfers.sending  # still going up
    transfers.on_event(_offered("7", "grades_dee.pdf", to="teacher"))  # to us: asked for, gone meanwhile
    transfers.command(FileCommand(name="get", file_id="7"))
    said = [transfers.on_event(error)[1][0] for error in (
        ev.FileError(ref=1, message="refused: grades_ann.pdf is 3.0 GB; this server takes files up to 2.0 GB"),
        ev.FileError(id="8", message="upload of grades_bob.pdf failed: the server could not store it (disk full)"),
        ev.FileError(id="9", message="grades_cy.pdf arrived damaged (SHA-256 mismatch) and was discarded"),
        ev.FileError(id="7", message="cannot read grades_dee.pdf (it is no longer on offer)"),
        ev.FileError(id="10", message="upload of slides.pdf failed: the server could not store it (disk full)"),
    )]  # fmt: skip
    *private, room = said
    for line in private:
        assert "grades_" in line.text and line.kind == "error"  # the transcript (and /save) keep it
        screened = hidden(line, "teacher").text
        assert "grades_" not in screened and "(name hidden: /projector to show)" in screened, screened
    assert hidden(said[2], "teacher").text == "(name hidden: /projector to show) arrived damaged (SHA-256 mismatch) and was discarded"
    assert hidden(room, "teacher") is room
    _, (missing,) = transfers.offer(str(tmp_path / "grades_eve.pdf"), "eve")  # the transfer code's own line
    assert hidden(missing, "teacher").text.startswith("cannot send (name hidden: /projector to show): no such file")
    _, (room_missing,) = transfers.offer(str(tmp_path / "notes.pdf"))
    assert hidden(room_missing, "teacher") is room_missing


def test_shown_hides_only_while_the_session_is_in_projector_mode():
    session = teacher()
    (line,) = lines_for(session, direct())
    assert shown(line, session) is line
    session.projector = True
    assert shown(line, session).text == HIDDEN_TEXT
    assert line.text == SECRET  # the transcript keeps it


# ------------------------------------------------------------------------- the command


def test_projector_toggles_and_takes_on_or_off_and_help_and_tab_know_it():
    session = teacher()
    said = session.parse_input("/projector")
    assert isinstance(said, Local) and session.projector and "projector mode on" in said.lines[0].text
    said = session.parse_input("/PROJECTOR")
    assert isinstance(said, Local) and not session.projector and "projector mode off" in said.lines[0].text
    session.parse_input("/projector on")
    session.parse_input("/projector on")
    assert session.projector
    session.parse_input("/projector off")
    assert not session.projector
    said = session.parse_input("/projector maybe")
    assert isinstance(said, Local) and said.lines[0].kind == "error" and "usage: /projector [on|off]" in said.lines[0].text
    assert not session.projector
    assert any("/projector [on|off]" in line.text for line in session.help_lines())
    assert "/projector" in session.command_words()


# ------------------------------------------------------------------------- the full screen


def test_the_screen_never_draws_the_text_and_draws_it_in_place_once_the_mode_is_off():
    now = time.time()  # today's: a replayed line from another day has a longer stamp, and wraps at 64
    direct = lambda **kw: ev.Direct(**{"sender": "ann", "to": "teacher", "text": SECRET, "time": now, **kw})  # noqa: E731
    session = teacher(projector=True)
    view = View(session)
    view.add(lines_for(session, direct(text="replayed from last lesson", history=True)))
    view.add([Line(kind="notice", time=now, text="end of history (1 shown)")])
    view.add(lines_for(session, direct(), ev.Message(sender="bob", text="in the room", time=now)))
    view.add(lines_for(session, direct(sender="teacher", to="ann", text="see me after class")))
    screen = "\n".join(rd.render(view, 12, 64).text())
    for text in (SECRET, "replayed from last lesson", "see me after class", "stuck"):
        assert text not in screen
    rows = rd.render(view, 12, 64).text()
    assert any(row.rstrip().endswith(f"[History] ann → teacher: {HIDDEN_TEXT}") for row in rows), rows
    assert any(row.rstrip().endswith(f"[direct] ann → teacher: {HIDDEN_TEXT}") for row in rows), rows
    assert any(row.rstrip().endswith(f"[direct] teacher → ann: {HIDDEN_OWN_TEXT}") for row in rows), rows
    assert "bob: in the room" in screen
    session.projector = False  # /projector: the same lines, drawn with their text, where they were
    rows_after = rd.render(view, 12, 64).text()
    where = lambda rows, text: next(i for i, row in enumerate(rows) if text in row)  # noqa: E731
    assert where(rows_after, "replayed from last lesson") < where(rows_after, "end of history") < where(rows_after, "I'm stuck")
    assert where(rows_after, "I'm stuck") < where(rows_after, "bob: in the room") < where(rows_after, "see me after class")
    assert HIDDEN_TEXT not in "\n".join(rows_after)


def test_a_hidden_message_is_measured_as_drawn():
    """The transcript counts rows with the line it draws: a long hidden message is one row."""
    session = teacher(projector=True)
    view = View(session)
    view.add(lines_for(session, direct(text="word " * 200)))
    rows = rd.render(view, 10, 64).text()
    assert sum(1 for row in rows[:-2] if row.strip()) == 1, rows
    session.projector = False
    rows = rd.render(view, 10, 64).text()
    assert sum(1 for row in rows[:-2] if row.strip()) == 8, rows  # the page is full of the real text


def test_an_unread_direct_message_does_not_push_whose_turn_it_is_out_of_a_narrow_status_line():
    """The unread count's short form ('3 direct', 5a4b9b3) was ranked above every part, the turn
    too: at 30-38 columns a turn room's 'your turn' gave way to it. It ranks as the whole count
    did, after the turn, and still before the host's address."""
    view = View(Session(name="annabelle", role="host", where="127.0.0.1:3580", members=["annabelle", "bob"], mode="turn", turn="bob"))
    view.session.unread_directs = 3
    assert rd.status_text(view, 34) == " annabelle │ waiting for bob "  # (before: " annabelle │ 2 here │ 3 direct ")
    assert rd.status_text(view, 42) == " annabelle │ waiting for bob │ 3 direct "
    view.session.mode = "duplex"  # and the count still goes before the address
    assert rd.status_text(view, 50) == " annabelle │ 127.0.0.1:3580 │ 2 here │ 3 direct "


def test_the_status_line_says_projector_and_keeps_it_on_a_64_column_projector():
    session = teacher(projector=True, members=[f"s{n}" for n in range(26)] + ["teacher"])
    view = View(session)
    assert rd.render(view, 10, 64).text()[-2].rstrip() == " teacher │ host │ 192.168.100.23:3580 │ 27 here │ projector"
    session.topic = "Sockets 2: framing"  # a busy line: the topic, the role, the mode, the address go first
    session.unread_directs = 1
    status = rd.render(view, 10, 64).text()[-2]
    # the address students join with stays beside the unread count (it pushed the address out)
    assert status.rstrip() == " teacher │ 192.168.100.23:3580 │ 27 here │ projector │ 1 direct", status
    wide = rd.render(view, 10, 120).text()[-2]
    assert "│ 1 direct unread (/r answers) │" in wide and "192.168.100.23:3580" in wide, wide
    session.projector = False
    assert "projector" not in rd.status_text(view)


def test_the_window_title_counts_direct_messages_and_never_says_them():
    session = teacher(projector=True)
    view = View(session)
    lines_for(session, direct())  # counted as unread (session_social.hidden)
    assert rd.title_text(view) == "(1) lanchat: teacher"


# ------------------------------------------------------------------------- --plain


@pytest.fixture
def plain():
    read_fd, write_fd = os.pipe()
    out = io.StringIO()
    front = PlainFrontend(teacher(), stdin_fd=read_fd, stdout=out)
    yield front, out
    os.close(read_fd)
    os.close(write_fd)


def test_plain_prints_the_placeholder_and_the_hidden_ones_below_once_the_mode_is_off(plain):
    """--plain cannot redraw what it printed: while the mode is on a direct message prints as the
    placeholder; turning it off prints the ones hidden, with their times, below a line that says so."""
    front, out = plain
    session = front.session
    local = session.parse_input("/projector")
    assert isinstance(local, Local)
    front.show(list(local.lines))
    front.show(lines_for(session, direct(history=True, text="old one")))
    front.show(lines_for(session, direct(), ev.Message(sender="bob", text="in the room", time=T0)))
    printed = out.getvalue()
    assert SECRET not in printed and "old one" not in printed
    assert f"[History] ann -> teacher (direct): {HIDDEN_TEXT}" in printed
    assert f"ann -> teacher (direct): {HIDDEN_TEXT}" in printed and "bob: in the room" in printed
    local = session.parse_input("/projector")
    assert isinstance(local, Local)
    front.show(list(local.lines))
    after = out.getvalue()[len(printed) :].splitlines()
    assert "projector mode off" in after[0]
    assert after[1].endswith("-!- the 2 direct messages hidden while /projector was on:")
    assert after[2].endswith("[History] ann -> teacher (direct): old one")
    assert after[3].endswith(f"ann -> teacher (direct): {SECRET}")
    assert len(after) == 4
    front.show(lines_for(session, direct(text="live again")))  # shown at once, nothing printed twice
    assert out.getvalue().count(SECRET) == 1 and "live again" in out.getvalue()


@pytest.mark.parametrize(
    ("typed", "private"),
    [
        ("/w bob your mark is 12", True),
        ("/W bob hi", True),
        ("  /msg bob hi", True),
        ("/whisper bob hi", True),
        ("/r see me after", True),
        ("/mood gloomy", True),
        ("/y", True),
        ('/send "grades bob.pdf" bob', True),
        ("/send slides.pdf", False),
        ("/who", False),
        ("/way out", False),
        ("hello /w bob", False),
        ("/wave", False),
    ],
)
def test_a_line_typed_privately_is_one_for_one_person(typed, private):
    """What projector mode keeps out of the input line's recall (screen.py): a direct message, a
    reply, the colour bot's private exchange, a file offered to one person."""
    assert typed_privately(typed) is private


def test_a_direct_message_never_sent_is_not_quoted_in_the_chats_last_words_in_projector_mode():
    """The teacher, offline, typed `/w bob your mark is 12`; the chat ended before it could go,
    and its last words, printed on the terminal the class sees, quoted it: 'lanchat: not sent:
    /w bob your mark is 12'. In projector mode they say whom it was for, not what it said."""
    import socket

    from lanchat.client import ClientLoop, note_unsent_texts
    from lanchat.protocol import Connection, Role

    ours, theirs = socket.socketpair()
    with ours, theirs:
        session = teacher(projector=True)
        loop = ClientLoop(ours, Connection(Role.CLIENT), session, None, rejoin=lambda: None)  # type: ignore[arg-type, return-value]
        assert loop.reconnect is not None
        loop.reconnect.queued += [ev.Whisper(to="bob", text="your mark is 12"), ev.Say(text="see you")]
        note_unsent_texts(loop)
        assert loop.paced.unsent_texts == ["/w bob (hidden: projector mode)", "see you"]
        session.projector = False
        loop.paced.unsent_texts.clear()
        note_unsent_texts(loop)
        assert loop.paced.unsent_texts == ["/w bob your mark is 12", "see you"]
        loop.selector.close()


def test_a_pasted_run_of_commands_is_kept_off_the_projector_if_any_line_of_it_is_private():
    """A teacher pasted `/who` and `/w bob your mark is 12` (or `/send a.pdf bob` under `/send
    b.pdf`): the lines went one by one, but the input line's history keeps the paste as one entry,
    and only its first word was looked at, so Up on the projector brought back the whisper."""
    from lanchat.ui.editor import LineEditor

    assert typed_privately("/who\n/w bob your mark is 12")
    assert typed_privately("/send b.pdf\n/send a.pdf bob")
    assert not typed_privately("/who\n/send b.pdf")
    editor = LineEditor()
    editor.keeps_off_screen = typed_privately
    for typed in ("open page 12", "/who\n/w bob your mark is 12", "/send b.pdf\n/send a.pdf bob"):
        editor.type(typed)
        editor.submit()
    editor.key("up")
    assert editor.text == "open page 12"
    editor.key("up")
    assert editor.text == "open page 12"


def test_the_hosts_sending_mark_counts_people_and_files_and_hides_a_private_files_name():
    """session_social.sending_now: the host's status line while others fetch the host's files
    (the pty test: test_polish_pty); another's file passing through is not the host's sending."""
    from lanchat.session_social import sending_now

    fetching = [("bob", "notes.pdf", 40, False, None), ("cy", "notes.pdf", None, False, None), ("BOB", "notes.pdf", 10, False, None),
                ("dan", "film.mp4", 5, False, "ann")]  # fmt: skip
    session = teacher(fetching_here=lambda: fetching)
    assert sending_now(session) == "sending notes.pdf to 2"
    fetching.append(("dan", "marks.csv", 1, True, None))
    assert sending_now(session) == "sending 2 files to 3"
    fetching[:] = [("dan", "marks.csv", 1, True, None)]
    assert sending_now(session) == "sending marks.csv to 1"
    session.projector = True
    assert sending_now(session) == "sending a file to 1"
    fetching.clear()
    assert sending_now(session) == ""
    student = Session(name="bob", role="client", fetching_here=lambda: [("cy", "x", 1, False, None)])
    assert sending_now(student) == ""
