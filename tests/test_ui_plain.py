"""The plain front end's input side, on a real pipe: what a script piping into lanchat gets."""

from __future__ import annotations

import io
import os
import re

import pytest

from lanchat.session import Session, UiCommand
from lanchat.ui.plain import MAX_LINE_CHARS, PlainFrontend


class Piped:
    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.out = io.StringIO()
        self.front = PlainFrontend(Session(name="ann"), stdin_fd=self.read_fd, stdout=self.out)

    def close_input(self) -> None:
        os.close(self.write_fd)
        self.write_fd = -1


@pytest.fixture
def piped():
    pipe = Piped()
    yield pipe.front, pipe.write_fd, pipe.out, pipe
    os.close(pipe.read_fd)
    if pipe.write_fd >= 0:
        os.close(pipe.write_fd)


def feed(front: PlainFrontend, write_fd: int, data: bytes) -> list[str]:
    """Write ``data`` in pieces a pipe holds, letting the front end read after each."""
    got: list[str] = []
    for start in range(0, len(data), 60_000):
        os.write(write_fd, data[start : start + 60_000])
        got += front.read_input() or []
    return got


def test_lines_split_across_reads_come_out_whole(piped):
    front, write_fd, _, _ = piped
    assert feed(front, write_fd, b"hel") == []
    assert feed(front, write_fd, "lo\r\nZoë\n".encode()) == ["hello", "Zoë"]


def test_a_line_without_end_is_dropped_past_the_cap_with_one_notice(piped):
    front, write_fd, out, _ = piped
    got: list[str] = []
    for _ in range(MAX_LINE_CHARS // 60_000 + 3):  # over the cap in 60,000-character reads, never a newline
        got += feed(front, write_fd, b"a" * 60_000)
        assert len(front._partial) <= MAX_LINE_CHARS + 60_000  # memory stays bounded
    got += feed(front, write_fd, b"tail of it\nhello\n")
    assert got == ["hello"]  # nothing of the over-long line was sent, the next line was
    notices = out.getvalue().splitlines()
    assert len(notices) == 1 and "was not sent" in notices[0]


@pytest.mark.parametrize("size", [3, MAX_LINE_CHARS + 10])
def test_a_last_line_without_a_newline_still_counts_unless_it_was_too_long(piped, size):
    front, write_fd, _, pipe = piped
    assert feed(front, write_fd, b"b" * size) == []
    pipe.close_input()
    assert front.read_input() == (["bbb"] if size == 3 else None)
    assert front.ended


def test_a_paste_past_the_cap_at_a_terminal_is_dropped_with_one_notice_and_typing_goes_on():
    """--plain at a terminal (a real pseudo-terminal here) keeps what is typed itself: a paste of
    more than MAX_LINE_CHARS without an Enter is dropped, said once, and never grows memory."""
    import select

    master, slave = os.openpty()
    out = io.StringIO()
    front = PlainFrontend(Session(name="ann"), stdin_fd=slave, stdout=out, interactive=True)
    os.set_blocking(master, False)

    def type_keys(data: bytes) -> list[str]:
        """Type ``data`` as fast as the terminal takes it, reading whenever it is readable; at the
        end, reading until nothing more comes."""
        got: list[str] = []
        while True:
            try:
                data = data[os.write(master, data) :] if data else data
            except BlockingIOError:
                pass  # the terminal's input queue is full: read some first
            wait = 0.05  # for what was typed to reach the terminal's side; then what is there now
            while select.select([slave], [], [], wait)[0]:
                got += front.read_input() or []
                assert len(front.typing) <= MAX_LINE_CHARS  # memory stays bounded all along
                wait = 0.0 if data else 0.05  # more to type: type it, rather than wait for quiet
            if not data:
                return got

    try:
        got = type_keys(b"x" * (MAX_LINE_CHARS + 200_000))
        got += type_keys(b"more of the same paste" * 1000 + b"\r")
        got += type_keys("still typing, Zoë\r".encode())
        assert got == ["still typing, Zoë"]  # nothing of the paste was sent; the next line was
        said = out.getvalue()
        assert said.count("was not sent") == 1
        assert said.count("x") <= MAX_LINE_CHARS + 10  # the rest was not echoed either
    finally:
        front.close()
        os.close(master)
        os.close(slave)


def test_the_full_screens_commands_say_what_to_do_in_plain_mode_not_unknown_command(piped):
    """README's /clear and /save (and seed 004's \\clear) typed in --plain: once "unknown command
    /clear; /help lists them", which /help did not explain; now one line that says what to do."""
    front, _, _, _ = piped
    session = front.session
    for typed, word in (("\\clear", "/clear"), ("/clear", "/clear"), ("/save chat.txt", "/save"), ("/find x", "/find")):
        result = session.parse_input(typed)
        assert isinstance(result, UiCommand) and result.name == word, typed
        (line,) = front.run_ui_command(result)
        assert line.text.startswith(f"{word} works in the full screen; in --plain"), line.text
    assert any("/save FILE" in line.text and "full screen only" in line.text for line in session.help_lines())


def test_help_keys_in_plain_mode_lists_the_keys_it_reads_or_says_a_script_has_none(piped):
    """README's `/help keys` in --plain said "no command /keys; /help lists them": only the full
    screen gave the session its keys; and at TERM=dumb, where line mode takes over from a full
    screen that could not start, it listed the full screen's (F2, PgUp, Ctrl-L...). At a terminal
    --plain lists the keys it reads (each row checked here against what the key does), and /help
    ends with them, as on the full screen; a script's /help keys says it has none, never "no command"."""
    from lanchat.ui.keys import KEYS
    from lanchat.ui.plain import PLAIN_KEYS

    master, slave = os.openpty()
    left = Session(name="ann")
    left.ui_keys = KEYS  # what CursesFrontend set before TERM=dumb stopped it (cli/chat.py's _make_frontend)
    front = PlainFrontend(left, stdin_fd=slave, stdout=io.StringIO(), interactive=True)
    try:
        session = front.session
        shown = [line.text for line in session.parse_input("/help keys").lines]  # type: ignore[union-attr]
        assert shown[0] == "keys:" and len(shown) == 1 + len(PLAIN_KEYS), shown
        for (key, what), text in zip(PLAIN_KEYS, shown[1:], strict=True):
            assert text.split() == [*key.split(), *what.split()], text
        assert [line.text for line in session.help_lines()][-len(shown) :] == shown
        assert front._typed_keys("hello wor\x17ld\x7f\r") == ["hello l"]  # Ctrl-W, Backspace, Enter
        assert front._typed_keys("gone\x15\r") == [""] and not front.ended  # Ctrl-U
        front._typed_keys("\x04")  # Ctrl-D on an empty line
        assert front.ended
    finally:
        front.close()
        os.close(master)
        os.close(slave)
    script_session = Session(name="ann")
    script_session.ui_keys = KEYS
    PlainFrontend(script_session, stdin_fd=piped[3].read_fd, stdout=io.StringIO())
    script = script_session.parse_input("/help keys").lines  # type: ignore[union-attr]
    assert [(line.kind, line.text) for line in script] == [
        ("system", "no keys here: the input is not a terminal, and each line read is one message or command")
    ]


def test_closing_with_a_half_typed_line_on_a_terminal_gone_restores_it_without_a_traceback():
    """The terminal hung up (its window closed) while a line was half typed: close()'s newline
    after it raised EIO out of the chat's end, before the terminal's own line editing was put back."""
    import errno
    import termios

    class HungUp(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.EIO, "Input/output error")

    master, slave = os.openpty()
    try:
        front = PlainFrontend(Session(name="ann"), stdin_fd=slave, stdout=HungUp(), interactive=True)
        assert not termios.tcgetattr(slave)[3] & termios.ICANON
        front.typing = "half a li"
        front.close()
        assert termios.tcgetattr(slave)[3] & termios.ICANON  # line editing back
    finally:
        os.close(master)
        os.close(slave)


def test_a_typed_line_whose_wide_character_wraps_early_is_gone_over_from_its_first_row(monkeypatch):
    """A terminal wraps a wide character that does not fit in a row's last column to the next
    row, leaving that column blank (xterm, VTE): 9 letters and 5 CJK characters on 10 columns take
    three rows, not the two their 19 columns would fill. Going up (width - 1) // columns rows
    from the typed line's end left its first row above a line that arrived."""
    import fcntl
    import select
    import struct
    import termios

    from lanchat.session import Line

    monkeypatch.setenv("TERM", "xterm")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 10, 0, 0))

    class AtTheTerminal(io.StringIO):
        def fileno(self) -> int:
            return slave

    out = AtTheTerminal()
    front = PlainFrontend(Session(name="ann"), stdin_fd=slave, stdout=out, interactive=True)
    try:
        typed = "x" * 9 + "漢" * 5 + "y"  # rows: 9 x (漢 wraps early) | 5 漢 | y
        os.write(master, typed.encode())
        while front.typing != typed and select.select([slave], [], [], 5)[0]:
            front.read_input()
        assert front.typing == typed
        mark = len(out.getvalue())
        front.show([Line(kind="notice", time=0.0, text="hi")])
        assert out.getvalue()[mark:].startswith("\x1b[2A\r\x1b[J"), repr(out.getvalue()[mark:])
    finally:
        front.close()
        os.close(master)
        os.close(slave)


def test_after_a_stop_that_was_not_ours_our_modes_are_back_before_the_next_read():
    """kill -STOP, then fg: bash gives the terminal its line editing back while we are stopped.
    Our modes came back only when the loop next asked (OwnTerminal.woken); a stop that landed
    between its check for a key and its read (a key waiting) made that read, in line mode, wait
    for the next Enter. SIGCONT's handler puts them back at once now."""
    import signal
    import termios

    master, slave = os.openpty()
    front = PlainFrontend(Session(name="ann"), stdin_fd=slave, stdout=io.StringIO(), interactive=True)
    try:
        assert front.terminal is not None
        shells = termios.tcgetattr(slave)
        shells[3] |= termios.ICANON | termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, shells)  # bash's part, while we were stopped
        signal.raise_signal(signal.SIGCONT)  # fg (its handler runs before this returns)
        assert not termios.tcgetattr(slave)[3] & termios.ICANON  # ours, before any read
        assert front.terminal.woken() == "taken back"  # and the loop is told, to write the line again
    finally:
        front.close()
        os.close(master)
        os.close(slave)


def test_a_word_wider_than_the_terminal_goes_on_after_the_name_not_under_an_empty_one():
    """--plain at 60 columns: a link of 100 characters went on a row of its own, under the hang,
    and left "[12:00:00] ann:" alone above it, a message with no words. A word no row can hold is
    wrapped by the terminal wherever it starts: it starts after the name; the words after it fold
    under the hang as before."""
    from lanchat.session import Line
    from lanchat.ui.plain import folded_plain

    link = "https://example.org/" + "a" * 80
    rows = folded_plain(Line(kind="message", time=0.0, sender="ann", text=f"{link} and the words after it"), 60).split("\n")
    assert rows[0].endswith(f"ann: {link}"), rows
    assert rows[1].strip() == "and the words after it" and rows[1].startswith(" " * 10)


def test_a_paste_of_paths_is_one_line_saying_how_to_send_them_not_an_unknown_command_each(piped):
    """A paste of three paths in --plain gave three 'unknown command /home/...; /help lists them',
    and no word of how to send a line starting with /. The run of lines that are no command is
    taken whole, as the full screen takes such a paste: one line, naming the first, saying none
    was sent and how to send one (//). Commands among them still run; a typo keeps its guess."""
    front, write_fd, out, _ = piped
    got = feed(front, write_fd, b"/home/ann/a.pdf\n/home/ann/b.pdf\n/etc/x\n/who\n//ok\n/hlep\n")
    assert got == ["/home/ann/a.pdf\n/home/ann/b.pdf\n/etc/x", "/who", "//ok", "/hlep"]
    for typed in got[:1] + got[3:]:
        front.show(list(front.session.parse_input(typed).lines))  # type: ignore[union-attr]
    said = out.getvalue().splitlines()
    assert len(said) == 2, said
    assert said[0].endswith("! 3 lines starting with / are not commands (/home/ann/a.pdf and 2 more), so none was sent;"
                            " to send a line starting with / as text, start it with //"), said[0]  # fmt: skip
    assert "did you mean /help?" in said[1] and "//" not in said[1]
    front.show(list(front.session.parse_input("/home/ann/c.pdf").lines))  # type: ignore[union-attr]
    assert out.getvalue().splitlines()[-1].endswith("/home/ann/c.pdf is not a command, so it was not sent; to send a line starting with / as text, start it with //")


# ------------------------------------------------- the host's start lines and address notice

PIN = " --fingerprint SHA256:wdDyl7OoI2MQWmcH0jxtSDVxZnh/6LQ1bASkMh3GWRg"  # a real one's length


def _address_changed_notice(where: list[str]) -> str:
    """The notice the host's screen reads when this machine's addresses change, as serve words it."""
    from lanchat.cli.serve import _tell_the_host

    class News:
        posted: list = []

        def post(self, item: object) -> None:
            self.posted.append(item)

    news = News()
    _tell_the_host(news, [], "full-duplex", PIN, tls=True, password=False)(where)
    return news.posted[0].notice


@pytest.mark.parametrize("columns", [100, 120, 160])
def test_the_address_changed_notices_commands_line_up_under_one_another(columns):
    """A TLS room's host at 100 columns: the first command, too long for the text's column, went
    2 columns in, the next (longer than the terminal, IPv6) 15 in. Every row of the notice after
    its first is as deep as the others: the commands line up, each still whole on its row."""
    from lanchat.session import Line
    from lanchat.ui.plain import folded_plain

    notice = _address_changed_notice(["10.0.0.7:39221", "[fd00:1234:5678::7]:39221", "127.0.0.1:39221"])
    rows = folded_plain(Line(kind="notice", time=0.0, text=notice), columns).split("\n")
    commands = [row for row in rows if "lanchat connect" in row]
    assert len(commands) == 2 and all(row.strip().startswith("`lanchat connect") and row.strip().removesuffix(" or").endswith("`") for row in commands), rows
    assert len({len(row) - len(row.lstrip(" ")) for row in rows[1:]}) == 1, rows
    assert rows[0].startswith("[") and "address changed" in rows[0], rows


def test_a_message_with_a_link_too_long_for_the_hang_keeps_its_words_under_the_hang():
    """The rows line up only for commands to copy: a message's words after a long link go back
    under its text, as before (test_textfold's link test)."""
    from lanchat.session import Line
    from lanchat.ui.plain import folded_plain

    link = "https://www.computerhope.com/cgi-bin/htmlcolor.pl?c=9AB4B0"
    line = Line(kind="direct", time=0.0, sender="colourbot", to="ann", text=f"try this colour {link} and see how it reads")
    rows = folded_plain(line, 64).split("\n")
    assert any(row.strip() == link for row in rows), rows
    assert rows[-1].startswith(" " * 30), rows


def test_a_restarted_plain_host_reads_how_to_join_once_and_each_command_whole(tmp_path):
    """A --plain host restarted with history at 100 columns (TLS: a join command is ~100 long):
    below a short replay the banner's join lines came again, right under the banner itself, and
    each command left an empty '[12:00:00] -!-' row above it. Now they are said again only once a
    long replay has scrolled the banner away, and then (as by /address) as the banner prints
    them: two spaces in, no stamp, never under an empty stamped row."""
    from helpers import TermProc

    history = str(tmp_path / "h.sqlite3")
    empty_stamp = re.compile(r"^\[\d\d:\d\d:\d\d\] -!-\s*$")

    def hosting(rows: int) -> TermProc:
        return TermProc("serve", "--plain", "--tls", "--host", "127.0.0.1", "--port", "0", "--name", "teach",
                        "--no-announce", "--history", history, rows=rows, cols=100)  # fmt: skip

    def leave(teach: TermProc) -> None:
        teach.send("/q\r")
        assert teach.wait() == 0

    teach = hosting(rows=40)
    try:
        teach.expect(r"welcome, teach")
        teach.send("hello class\r")
        teach.expect(r"teach: hello class")
        leave(teach)
        teach = hosting(rows=40)
        teach.expect(r"-!- end of history \(1 shown\)")
        teach.send("/address\r")  # asked: said, as the banner says it
        teach.send("/unsend\r")  # (its answer: all before it is printed)
        teach.expect(r"-!- no line you typed waits to be sent")
        printed = bytes(teach.raw).decode(errors="replace")
        assert printed.count("join with:") == 2, printed  # the banner's, /address's: none below the replay
        assert printed.count("\n  python -m lanchat connect 127.0.0.1 ") == 2, printed  # /address's as the banner's
        assert not [row for row in teach.lines if empty_stamp.match(row)], teach.text
        for number in range(30):  # a replay longer than the screen
            teach.send(f"line {number}\r")
            teach.expect(rf"teach: line {number} ")
        leave(teach)
        teach = hosting(rows=24)
        end = teach.expect(r"-!- end of history \(31 shown\)\s*\n(.*)\n(.*)")
        assert "join with:" in end.group(1) and end.group(2).startswith("  python -m lanchat connect 127.0.0.1 "), teach.text
        assert not [row for row in teach.lines if empty_stamp.match(row)], teach.text
        leave(teach)
    finally:
        teach.stop()
    assert b"Traceback" not in bytes(teach.raw)


def test_the_rows_shown_under_the_banner_before_the_replays_last_read_count_and_the_height_is_read_when_asked():
    """Whether serve's start lines are still in sight below a replay (client.said_above) counts
    the rows shown under them since (BannerAbove.counted): a long replay comes in several reads,
    each shown as it comes, and only the last one's lines were still to print when its end was
    read. Counted as the rows they take at the terminal's width (one wider than it wraps), and
    against the terminal's height when asked (a window made taller shows the banner again)."""
    import fcntl
    import struct
    import termios
    import time
    from types import SimpleNamespace

    from lanchat.client import said_above
    from lanchat.session import Line

    master, slave = os.openpty()

    def sized(rows: int, cols: int) -> None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    class AtTheTerminal(io.StringIO):
        def fileno(self) -> int:
            return slave

    def replayed(count: int, text: str = "a line") -> list[Line]:
        return [Line(kind="history", time=time.time(), sender="teach", text=text) for _ in range(count)]

    def asked(rows: int, *, shown: list[Line], pending: list[Line], height: int, cols: int = 80) -> bool:
        """Shown first, then the replay's end read with ``pending`` still to print: said again?"""
        sized(24, cols)
        session = Session(name="teach", join_lines=("lanchat: listening on port 5; join with:", "  lanchat connect 10.0.0.7 5"))
        session.join_lines_when = "replay"
        front = PlainFrontend(session, stdin_fd=slave, stdout=AtTheTerminal(), interactive=True)
        try:
            front.banner.rows = rows
            front.show(shown)
            sized(height, cols)
            said_above(SimpleNamespace(session=session, frontend=front), pending)  # type: ignore[arg-type]
            return session.join_lines_when == "replay"
        finally:
            front.close()

    try:
        assert not asked(8, shown=replayed(10), pending=replayed(4), height=24)  # 8 + 10 + 4 + 2: in sight
        assert asked(8, shown=replayed(11), pending=replayed(4), height=24)  # a row more: the banner's first is gone
        link = "https://example.org/" + "a" * 130  # kept whole on its row: the terminal wraps it, 3 rows at 80 columns
        assert asked(8, shown=replayed(4, link), pending=replayed(4), height=24)  # 8 + 12 + 4 + 2
        assert not asked(8, shown=replayed(4, link), pending=replayed(4), height=26)  # a taller window
    finally:
        os.close(master)
        os.close(slave)


def test_a_lesson_past_midnight_names_the_new_day_before_its_first_line():
    """--plain in a lesson past midnight read '[23:59:56] ann: good night' then '[00:00:05] bob:
    still here': the times alone did not say a day had passed (the full screen rules the day off,
    nc and the server's log name it). Before the first live line of a new day, its name."""
    import time

    from lanchat.session import Line
    from lanchat.ui.plain import NewDays, format_plain

    late = time.mktime((2026, 12, 7, 23, 59, 56, 0, 0, -1))  # local time, whatever the TZ
    now = [late]
    days = NewDays(now=lambda: now[0])
    first = days.ruled([Line(kind="message", time=late, sender="ann", text="good night")])
    assert [line.text for line in first] == ["good night"]  # the first line read: no day named
    replayed = Line(kind="history", time=late - 3 * 86_400, sender="cy", text="from the weekend")  # dated by itself
    now[0] = late + 10
    after = days.ruled([replayed, Line(kind="message", time=late + 9, sender="bob", text="still here"),
                        Line(kind="message", time=late + 10, sender="ann", text="go to bed")])  # fmt: skip
    assert [format_plain(line).split("] ", 1)[1] for line in after] == [
        "[History] cy: from the weekend", "-!- Tuesday 8 December", "bob: still here", "ann: go to bed"
    ]
    # a server whose clock is a minute behind, either side of midnight, and a line shown again (an
    # old direct message after /projector off): no day named again, nor yesterday's
    skewed = days.ruled([Line(kind="message", time=late + 2, sender="ann", text="late clock"),
                         Line(kind="direct", time=late - 86_400, sender="cy", text="shown again"),
                         Line(kind="notice", time=late + 12, text="ours")])  # fmt: skip
    assert [line.text for line in skewed] == ["late clock", "shown again", "ours"]


def test_a_real_plain_client_past_its_midnight_names_the_new_day(tmp_path):
    """The same with real processes: `connect --plain` in a time zone whose midnight comes three
    seconds after the start (POSIX TZ with seconds: the machine's clock is left alone); ann says
    a line before it and one after it."""
    import math
    import time

    from helpers import DEFAULT_TIMEOUT, Proc, RawClient, child_env, start_server

    from lanchat import events as ev
    from lanchat.transport import Endpoint

    midnight = math.ceil(time.time()) + 3  # (UTC seconds)
    offset = midnight % 86_400  # local = UTC - offset: 00:00:00 at ``midnight``
    tz = f"LATE{offset // 3600}:{offset // 60 % 60:02d}:{offset % 60:02d}"
    server, port = start_server("--headless", "--no-history", "--no-announce")
    bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob", "--plain", env=child_env(TZ=tz))
    try:
        bob.expect(r"welcome, bob")
        ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
        ann.send(ev.Say(text="good night"))
        bob.expect(r"\[23:59:5\d\] ann: good night")
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while time.time() < midnight + 0.2:  # the clock passing its midnight: the condition itself
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ann.send(ev.Say(text="still here"))
        bob.expect(r"\[00:00:0\d\] ann: still here")
        day = bob.lines.index(next(line for line in bob.lines if "ann: still here" in line)) - 1
        assert re.fullmatch(r"\[00:00:0\d\] -!- \w+day \d+ \w+", bob.lines[day]), bob.lines[-4:]
        ann.close()
        bob.send("/q")
        assert bob.wait() == 0
    finally:
        bob.stop()
        server.stop()
    assert "Traceback" not in bob.output


def test_a_burst_of_joins_is_held_while_it_grows_at_a_terminal_and_never_for_a_script():
    """held_bursts.py with its clock in hand: a class trickling in, a join every second, is
    printed every HELD_AT_MOST_SECONDS, not held for good; a script's pipe (``enabled`` False)
    gets each join at once; what is held at the chat's end is printed (``last``)."""
    from lanchat.session import Line, Presence
    from lanchat.ui import held_bursts as hb

    class Nothing:
        def update(self) -> None: ...
        def due(self) -> None: ...
        def last(self) -> list[Line]:
            return []

    def join(n: int) -> Line:
        return Line(kind="notice", time=1e9 + n, text=f"kid{n} joined ({n + 2} here)", presence=Presence(f"kid{n}", "joined", n + 2))

    now, shown = [0.0], []
    held = hb.HeldBursts(shown.extend, Nothing(), lambda: 80, enabled=True, clock=lambda: now[0])
    for n in range(12):
        now[0] = float(n)
        assert held.sort([join(n)]) == []
        held.update()
        assert (held.due() is None) == (n == hb.HELD_AT_MOST_SECONDS) and len(shown) == (n >= hb.HELD_AT_MOST_SECONDS), n
    assert [line.text for line in shown] == ["11 joined: kid0, kid1, kid2, kid3, kid4 and 6 more (12 here)"]
    assert [line.text for line in held.last()] == ["kid11 joined (13 here)"] and held.due() is None
    script = hb.HeldBursts(shown.extend, Nothing(), lambda: None, enabled=False)
    assert [line.text for line in script.sort([join(0), join(1)])] == ["kid0 joined (2 here)", "kid1 joined (3 here)"]
