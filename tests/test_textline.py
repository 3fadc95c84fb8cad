"""A text participant as the server sees it (textline.TextConnection): lines in, the room's events out;
the room's events in, plain lines out. Pure: no socket, a fixed clock."""

from __future__ import annotations

import time

from lanchat import events as ev
from lanchat.gate import TypedHello
from lanchat.protocol import ConnectionClosed, State, encode
from lanchat.textline import HELP, MAX_LINE_BYTES, TEXT_COMMANDS, TextConnection, opening_kind


def person(today: float = 0.0) -> TextConnection:
    return TextConnection(stamp=lambda when: "12:00", today=lambda: today, room="maths 3B")


def welcomed(name: str = "nc", mode: str = "duplex", host: str | None = None, today: float = 0.0) -> TextConnection:
    conn = person(today)
    conn.receive_data(f"{name}\n".encode())
    assert conn.events() == [ev.Hello(name=name)]
    conn.show(ev.Welcome(name=name, mode=mode, members=("ann", name), host=host))
    return conn


def test_what_a_connection_opens_with_decides_what_it_is():
    assert opening_kind(b"\x00\x00\x00\x10{") == "frame"
    assert opening_kind(b"GET / HTTP/1.1\r\n") == "http"
    assert opening_kind(b"ann\n") == "text"
    assert opening_kind(b"hi\n") == "text"  # shorter than a frame header, but a whole line
    assert opening_kind(b"GE") is None  # wait: it may be GET
    assert opening_kind(b"") is None
    assert opening_kind("héllo".encode()) == "text"
    assert opening_kind("éa\n".encode()) == "text"
    assert opening_kind(b"\xff\xfd\x03ann") == "text"  # telnet negotiates first
    assert opening_kind(b"\x80\x00\x00\x00") == "frame"  # an oversized header: a bad frame, not text
    assert opening_kind(b"\x01\x02\x03\x04") == "frame"


def test_the_first_line_is_the_name_then_lines_are_messages():
    conn = person()
    assert b"Type your name" in conn.greeting() and b"maths 3B" in conn.greeting()
    conn.receive_data(b"ann\r\n")  # telnet ends lines with CRLF
    assert conn.events() == [ev.Hello(name="ann")]
    welcome = conn.show(ev.Welcome(name="ann", mode="duplex", members=("bob", "ann")))
    assert welcome == b"-!- welcome, ann! here: bob. /help lists the commands\r\n"
    conn.receive_data(b"hello all\n/w bob psst\n/who\n\n/q\n")
    assert conn.events() == [ev.Say(text="hello all"), ev.Whisper(to="bob", text="psst"), ev.Who(), ev.Bye()]


def test_a_refused_name_asks_again_and_lines_typed_ahead_wait_for_the_welcome():
    conn = person()
    conn.receive_data(b"bob\nhello\n")  # a script sends its name and its first message at once
    assert conn.events() == [ev.Hello(name="bob")]
    assert conn.show(ev.Error(code=ev.E_NAME_TAKEN, message="the name 'bob' is taken")) == (
        b"! the name 'bob' is taken\r\nname: "
    )
    conn.receive_data(b"bob2\nhello again\n")
    assert conn.events() == [ev.Hello(name="bob2")]
    conn.show(ev.Welcome(name="bob2", mode="duplex", members=("bob", "bob2")))
    assert conn.events() == [ev.Say(text="hello again")]


def test_room_events_are_plain_sanitised_lines():
    conn = welcomed("nc", mode="turn")
    said = ev.Message(sender="ann", text="hi \x1b[2Jthere", time=0.0)
    assert conn.show(said) == b"[12:00] ann: hi ^[[2Jthere\r\n"
    assert conn.show(ev.Direct(sender="ann", to="nc", text="psst", time=0.0)) == b"[12:00] ann -> you: psst\r\n"
    assert conn.show(ev.Direct(sender="nc", to="ann", text="ok", time=0.0)) == b"[12:00] you -> ann: ok\r\n"
    assert conn.show(ev.Joined(name="cat", time=0.0)) == b"-!- cat joined\r\n"
    assert conn.show(ev.Left(name="cat", reason="lost", time=0.0)) == b"-!- cat left (connection lost)\r\n"
    assert conn.show(ev.Roster(members=("ann", "nc"))) == b"-!- here: ann, nc (you)\r\n"
    assert conn.show(ev.Turn(holder="nc")) == b"-!- your turn: type a line\r\n"
    assert conn.show(ev.Turn(holder="ann")) == b"-!- ann's turn\r\n"
    assert conn.show(ev.Error(code=ev.E_NOT_YOUR_TURN, message="not your turn")) == b"! not your turn\r\n"
    assert conn.show(ev.Message(sender="ann", text="old", time=0.0, history=True)) == b"[History] [12:00] ann: old\r\n"
    assert conn.show(ev.Shutdown(reason="bye")) == b"-!- the chat is closing: bye\r\n-!- disconnected: the room closed this connection (Ctrl-C ends nc)\r\n"
    assert conn.state is State.CLOSED


def test_a_line_replayed_from_another_day_says_which_day_as_lanchats_screen_does():
    """nc joining the morning after read yesterday evening's last lines as "[History] [12:00] ann: ...",
    the time alone, as if said today (a lesson past midnight read the same). A line replayed from
    another day says which now, as lanchat's screen stamps it; today's, and live lines, the time alone."""
    evening = time.mktime((2026, 12, 6, 23, 59, 56, 0, 0, -1))  # local time, whatever the TZ
    conn = welcomed(today=time.mktime((2026, 12, 7, 8, 30, 0, 0, 0, -1)))
    assert conn.show(ev.Message(sender="ann", text="good night", time=evening, history=True)) == b"[History] [6 Dec 12:00] ann: good night\r\n"
    assert conn.show(ev.Direct(sender="ann", to="nc", text="see you", time=evening, history=True)) == (
        b"[History] [6 Dec 12:00] ann -> you: see you\r\n"
    )
    assert conn.show(ev.Message(sender="ann", text="waves", time=evening, history=True, action=True)) == b"[History] [6 Dec 12:00] * ann waves\r\n"
    assert conn.show(ev.Message(sender="ann", text="morning", time=evening + 60, history=True)) == (
        b"-!- Monday 7 December\r\n[History] [12:00] ann: morning\r\n"  # today's: the day's name before it, no date
    )
    assert conn.show(ev.Message(sender="ann", text="now", time=evening + 61)) == b"[12:00] ann: now\r\n"  # live
    last_year = time.mktime((2025, 12, 6, 23, 59, 56, 0, 0, -1))  # last school year's lesson: its year said
    assert welcomed(today=time.mktime((2026, 9, 7, 8, 30, 0, 0, 0, -1))).show(ev.Message(sender="ann", text="old", time=last_year, history=True)) == (
        b"[History] [6 Dec 2025 12:00] ann: old\r\n"
    )


def test_a_lesson_past_midnight_reads_the_new_day_before_its_first_line():
    """nc in a lesson that went past midnight read "[23:59] ann: ..." then "[00:00] ann: ...": the
    times alone did not say a day had passed (lanchat's screen rules the day off, the server's log
    writes a day line). The first stamped line of another day now comes after the day's name."""
    late = time.mktime((2026, 12, 6, 23, 59, 56, 0, 0, -1))  # local time, whatever the TZ
    conn = welcomed(today=late)
    assert conn.show(ev.Message(sender="ann", text="good night", time=late)) == b"[12:00] ann: good night\r\n"  # the first: no day
    assert conn.show(ev.Message(sender="bob", text="still here", time=late + 1)) == b"[12:00] bob: still here\r\n"
    assert conn.show(ev.Emote(sender="ann", text="yawns", time=late + 9)) == b"-!- Monday 7 December\r\n[12:00] * ann yawns\r\n"
    assert conn.show(ev.Direct(sender="ann", to="nc", text="psst", time=late + 10)) == b"[12:00] ann -> you: psst\r\n"
    assert conn.show(ev.Joined(name="cat", time=late + 11)) == b"-!- cat joined\r\n"  # an unstamped line says no day


def test_broadcast_frames_are_rendered_too_even_cut_anywhere():
    conn = welcomed("nc")
    frames = encode(ev.Message(sender="ann", text="one", time=0.0)) + encode(ev.Joined(name="cat", time=0.0))
    out = b"".join(conn.render_frames(frames[i : i + 3]) for i in range(0, len(frames), 3))
    assert out == b"[12:00] ann: one\r\n-!- cat joined\r\n"


def test_bad_bytes_become_replacement_characters_not_trouble():
    conn = welcomed()
    conn.receive_data(b"caf\xc3\xa9 \xc3\x28 \x00\x07ok\n")  # UTF-8, a broken sequence, a NUL and a bell
    assert conn.events() == [ev.Say(text="caf\u00e9 \ufffd( ok")]


def test_telnet_negotiation_is_not_text():
    conn = person()
    conn.receive_data(b"\xff\xfd\x03\xff\xfb\x18\xff\xfa\x18\x00xterm\xff\xf0ann\r\n")
    assert conn.events() == [ev.Hello(name="ann")]


def test_a_huge_line_is_refused_whole_and_the_next_line_goes_through():
    conn = welcomed()
    conn.receive_data(b"x" * (MAX_LINE_BYTES + 10))
    assert conn.events() == []
    assert b"longer than" in conn.take_output()
    conn.receive_data(b"y" * 5000 + b"\nafter\n")  # the rest of the huge line, then a good one
    assert conn.events() == [ev.Say(text="after")]
    assert conn.take_output() == b""


def test_commands_answered_here():
    conn = welcomed()
    conn.receive_data(b"/help\n/w bob\n/dance\n//slash stays\n")
    assert conn.events() == [ev.Say(text="/slash stays")]
    said = conn.take_output().decode()
    assert "/w NAME TEXT" in said and "usage: /w NAME TEXT" in said and "unknown command /dance" in said


def test_a_close_after_a_whole_line_is_a_goodbye_and_a_reset_or_a_cut_line_is_lost():
    """nc's Ctrl-C or Ctrl-D, or a program that ends, closes after a whole line: it leaves as
    lanchat's /q (bye, then FIN) does. A reset, or a close in the middle of a line, is lost."""
    conn = welcomed()
    conn.receive_data(b"last words\n")
    conn.receive_data(b"")
    assert conn.events() == [ev.Say(text="last words"), ev.Bye()]
    assert conn.peer_closed and conn.state is State.CLOSED
    cut = welcomed()
    cut.receive_data(b"half a li")
    cut.receive_data(b"")  # inside a line: the connection was lost
    assert cut.events() == [ConnectionClosed()]
    reset = welcomed()
    reset.note_reset()  # the server's read failed (ECONNRESET): the end that follows is no goodbye
    reset.receive_data(b"")
    assert reset.events() == [ConnectionClosed()]
    shy = person()
    shy.receive_data(b"")  # gone before giving a name: nothing to tell, a bye changes nothing
    assert shy.events() == [ev.Bye()]


def test_lines_typed_before_the_welcome_come_out_before_the_close():
    program = person()
    program.receive_data(b"ann\nhello\n")  # a seed-001 program: name, message, then it ends
    program.receive_data(b"")
    assert program.next_event() == ev.Hello(name="ann")
    program.show(ev.Welcome(name="ann", mode="duplex", members=("ann",)))
    assert program.events() == [ev.Say(text="hello"), ev.Bye()]


def test_what_the_hub_sends_is_a_frame_and_reads_as_the_same_line():
    conn = welcomed()
    said = ev.Message(sender="ann", text="hi", time=0.0)
    assert conn.send(said) == encode(said)  # the outbox renders it, like a broadcast
    assert conn.render_frames(conn.send(said)) == conn.show(said) == b"[12:00] ann: hi\r\n"


def test_a_password_room_asks_for_it_after_the_name_and_says_it_is_in_the_clear():
    conn = TextConnection(stamp=lambda when: "12:00", password=True)
    conn.greeting()
    conn.receive_data(b"ann\r\n")
    assert conn.events() == []
    asked = conn.take_output()
    assert b"crosses the network unencrypted" in asked and b"lanchat client or over TLS" in asked
    assert asked.endswith(b"password: ")
    conn.receive_data(b"\r\n")  # Enter alone asks again
    assert conn.take_output() == b"password: " and conn.events() == []
    conn.receive_data(b" tea for two \r\nhello\n")  # exactly as typed; the next line waits
    assert conn.events() == [TypedHello(name="ann", password=" tea for two ")]
    conn.show(ev.Error(code=ev.E_NAME_TAKEN, message="the name 'ann' is taken"))
    assert conn.take_output() == b""  # the refusal comes back through the outbox
    conn.receive_data(b"ann2\n")  # asked once: the password goes again with the new name
    assert conn.events() == [TypedHello(name="ann2", password=" tea for two ")]
    conn.show(ev.Welcome(name="ann2", mode="duplex", members=("ann2",)))
    assert conn.events() == []  # "hello" typed ahead was dropped with the refusal, as before


def test_over_tls_the_password_prompt_has_no_warning():
    conn = TextConnection(password=True, encrypted=True)
    conn.receive_data(b"ann\n")
    assert conn.take_output() == b"this room has a password\r\npassword: "


def test_a_broadcast_is_decoded_once_for_all_text_participants_and_reads_as_decoded_apart():
    """TextDoor hands every text participant one DecodedFrames: a broadcast (the same bytes
    object for each) is decoded once, and each still reads it its own way, exactly as a
    participant decoding alone reads it (the plain path beside the fast one)."""
    from lanchat.textline import DecodedFrames

    shared = DecodedFrames()

    def sharing(name: str) -> TextConnection:
        conn = TextConnection(stamp=lambda when: "12:00", decoded=shared)
        conn.receive_data(f"{name}\n".encode())
        conn.events()
        conn.show(ev.Welcome(name=name, mode="turn", members=("ann", name)))
        return conn

    people = [sharing(f"nc{n}") for n in range(5)]
    alone = [welcomed(f"nc{n}", mode="turn") for n in range(5)]
    broadcast = b"".join(encode(e) for e in (
        ev.Message(sender="ann", text="to everyone", time=0.0),
        ev.Direct(sender="ann", to="nc3", text="just you", time=0.0),
        ev.Turn(holder="nc1"),
    ))
    before = shared.decodes
    shared_lines = [conn.render_frames(broadcast) for conn in people]
    assert shared.decodes == before + 1  # once for five participants
    assert shared_lines == [conn.render_frames(broadcast) for conn in alone]
    assert shared_lines[1].endswith(b"-!- your turn: type a line\r\n") and b"ann -> you" in shared_lines[3]
    # a run cut inside a frame goes each connection's own way, and still reads right
    half = len(broadcast) - 5
    assert [c.render_frames(broadcast[:half]) + c.render_frames(broadcast[half:]) for c in people] == shared_lines


def test_acts_and_the_rooms_courtesies_read_as_lanchats_screen_says_them():
    """Each moderation act, /me, /nick, /away and /topic: one plain line with the same facts as
    lanchat's screen (session.py), names and reasons made harmless."""
    conn = welcomed("nc", mode="turn", host="hal")
    act = ev.Moderated(action="mute", by="hal", name="nc", minutes=1, reason="\x1b[31mred", time=0.0)
    assert conn.show(act) == b"-!- hal muted you for 1 minute: ^[[31mred (you can still read)\r\n"
    assert conn.show(ev.Moderated(action="op", by="hal", name="ann", time=0.0)) == b"-!- hal made ann an operator\r\n"
    assert conn.show(ev.Moderated(action="kick", by="hal", name="nc", time=0.0)) == b""  # the fatal error says it
    assert conn.show(ev.Left(name="ann", reason="kicked", time=0.0)) == b""  # the act before it said it
    assert conn.show(ev.Left(name="cy", reason="flooding", time=0.0)) == b"-!- cy left (disconnected for flooding)\r\n"
    assert conn.show(ev.Moderated(action="mode", by="hal", mode="duplex", time=0.0)) == (
        b"-!- hal switched the room to full-duplex mode\r\n"
    )
    assert conn.show(ev.Turn(holder=None)) == b""  # duplex now: nobody's turn, and the act said so
    assert conn.show(ev.Emote(sender="ann", text="waves \x07", time=0.0)) == b"[12:00] * ann waves ^G\r\n"
    assert conn.show(ev.Renamed(old="ann", new="anna", time=0.0)) == b"-!- ann is now known as anna\r\n"
    assert conn.show(ev.Away(name="anna", reason="lunch", time=0.0)) == b"-!- anna is away: lunch\r\n"
    assert conn.show(ev.Away(name="anna", reason="", time=0.0)) == b"-!- anna is back\r\n"
    assert conn.show(ev.Topic(text="", by="hal", time=0.0)) == b"-!- hal cleared the topic\r\n"


def test_a_turn_nobody_holds_says_what_the_room_waits_for():
    """With people here, a turn nobody holds means all of them are muted: said as lanchat's
    screen says it, not "waiting for someone else to join"."""
    muted = welcomed("nc", mode="turn", host="hal")  # ann, nc and the host
    muted.show(ev.Joined(name="hal", time=0.0))
    assert muted.show(ev.Turn(holder=None)) == b"-!- waiting for an unmute (everyone but the host is muted)\r\n"
    muted.show(ev.Left(name="ann", reason="quit", time=0.0))
    muted.show(ev.Roster(members=("hal", "colourbot")))  # (as the host and a bot would read it)
    assert muted.show(ev.Turn(holder=None)) == b"-!- waiting for someone else to join\r\n"


def test_a_mistyped_command_is_told_the_closest_real_one_and_a_far_one_is_not():
    conn = welcomed()
    conn.receive_data(b"/hlep\n/WHO0\n/dance\n")
    assert conn.events() == []
    said = conn.take_output().decode().splitlines()
    assert "unknown command /hlep; did you mean /help?" in said[0] and len(said[0]) <= 80
    assert "did you mean /who?" in said[1]
    assert "did you mean" not in said[2] and "/help lists them" in said[2]
    for line in HELP:  # every command /help shows is one a mistype can be told about
        assert all(word in TEXT_COMMANDS for word in line.split() if word.startswith("/")), line
