"""End to end: the full screen under the terminals and locales students bring, in a real
pseudo-terminal. A peer writes in three scripts; what the student types must reach the room.

Each test starts one in-process server (port 0) and one `lanchat connect` in a pty; every wait
is on a screen or a socket condition with a deadline.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import RawClient, TermProc, running_server, wait_for
from wcwidth import wcswidth

from lanchat import events as ev
from lanchat.identity import RoomPassword
from lanchat.transport import Endpoint
from lanchat.ui.paste import QUIET_SECONDS

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

WORLD = "café 😀 漢字 ok"  # a Latin letter, an emoji, two CJK characters: one, two, four columns
HEART = "\U0001fa77"  # 🩷, Unicode 15: newer than many a C library, so curses does not know it

# How many columns curses fills with sys.argv[1], measured as the full screen does
# (screen._curses_columns: written to a pad, in the locale screen.text_codec sets up)
CURSES_COLUMNS = """
import curses, sys
from lanchat.ui.screen import text_codec
text_codec()
def measure(screen):
    pad = curses.newpad(1, 8)
    try:
        pad.addstr(0, 0, sys.argv[1])
    except curses.error:
        return -1
    return pad.getyx()[1]
print(f"curses-columns={curses.wrapper(measure)}.")
"""


@functools.cache
def curses_counts_otherwise(text: str) -> bool:
    """Does curses here (the C library's tables) count ``text`` in other columns than wcwidth?
    Then the full screen draws it past curses (screen._put_cluster); else curses draws it, and a
    test of the drawing past curses would pass without testing anything. Asked in a pseudo-
    terminal with the environment the tests give lanchat."""
    probe = TermProc(argv=[sys.executable, "-c", CURSES_COLUMNS, text], rows=5, cols=40)
    try:
        found = wait_for(lambda: re.search(rb"curses-columns=(-?\d+)\.", bytes(probe.raw)), what="curses' count")
    finally:
        probe.stop()
    return int(found.group(1)) != wcswidth(text)  # type: ignore[union-attr]


def needs_curses_not_to_know_the_heart() -> None:
    if not curses_counts_otherwise(HEART):
        pytest.skip(f"the C library here knows {HEART} (U+{ord(HEART):04X}): curses draws it in wcwidth's {wcswidth(HEART)} "
                    "columns itself, so the drawing past curses this test is about is never used")


@contextlib.contextmanager
def student(env: dict[str, str], *extra: str) -> Iterator[tuple[TermProc, RawClient]]:
    """bob's full screen (``env`` over the usual TERM and locale; ``extra``: more arguments,
    --plain) and carl, a peer on a socket."""
    with running_server() as (_server, endpoint):
        carl = RawClient(endpoint, "carl")
        bob = TermProc("connect", "127.0.0.1", str(endpoint.port), "--name", "bob", *extra, rows=10, cols=60, env=env)
        try:
            bob.expect(r"welcome, bob" if extra else r"bob .* client")
            carl.expect(ev.Joined, name="bob")
            yield bob, carl
        finally:
            bob.stop()


@contextlib.contextmanager
def student_in_a_shell(script: str, *, plain: bool) -> Iterator[tuple[TermProc, RawClient]]:
    """bob's lanchat (``plain``: --plain) run by ``sh -c script``, where ``{command}`` stands for
    it, and carl, a peer on a socket. Nothing is awaited: the test reads what the shell says."""
    with running_server() as (_server, endpoint):
        carl = RawClient(endpoint, "carl")
        command = f'"{sys.executable}" -m lanchat connect 127.0.0.1 {endpoint.port} --name bob' + (" --plain" if plain else "")
        bob = TermProc("connect", argv=["sh", "-c", script.replace("{command}", command)], rows=10, cols=60)
        try:
            yield bob, carl
        finally:
            bob.stop()


@pytest.mark.parametrize("setting", [{"LC_ALL": "C"}, {"LC_ALL": "POSIX", "LANG": ""}])
def test_in_a_c_locale_others_accents_emoji_and_cjk_show_and_typed_ones_are_sent(setting):
    """LC_ALL=C (containers, ssh to a bare machine) was ASCII to curses: a peer's é went out as
    the Latin-1 byte E9 (a � on the UTF-8 terminal), the emoji and the CJK as blanks, and a typed
    é stalled the keyboard: "héllo 漢 ok" was sent as "h". Python reads such a locale as UTF-8
    (its UTF-8 mode), and the screen now does too."""
    with student({"LANG": "C", "PYTHONIOENCODING": "", **setting}) as (bob, carl):
        carl.send(ev.Say(text=WORLD))
        bob.expect(rf"carl: {WORLD}")
        bob.send("héllo 漢 ok")
        bob.wait_screen(lambda rows: rows[-1].startswith("> héllo 漢 ok"), what="the typed line")
        assert bob.cursor == (9, 2 + len("héllo ") + 2 + len(" ok"))  # 漢 takes two columns
        bob.send("\r")
        carl.expect(ev.Message, sender="bob", text="héllo 漢 ok")
        assert b"caf\xe9" not in bytes(bob.raw)


@pytest.fixture(scope="module")
def latin1_locale(tmp_path_factory) -> dict[str, str]:
    """A Latin-1 locale made for the test (LOCPATH), where the system can make one."""
    folder = tmp_path_factory.mktemp("locales")
    if not shutil.which("localedef"):
        pytest.skip("no localedef to make an ISO-8859-1 locale")
    made = subprocess.run(["localedef", "-i", "en_US", "-f", "ISO-8859-1", str(folder / "en_US.ISO-8859-1")],
                          capture_output=True, timeout=30, check=False)
    if not (folder / "en_US.ISO-8859-1").is_dir():
        pytest.skip(f"localedef could not make an ISO-8859-1 locale: {made.stderr[-200:]!r}")
    return {"LOCPATH": str(folder), "LC_ALL": "en_US.ISO-8859-1", "LANG": "en_US.ISO-8859-1", "PYTHONIOENCODING": ""}


def test_a_latin1_terminal_gets_latin1_and_a_question_mark_for_what_it_cannot_show(latin1_locale: dict[str, str]):
    """The terminal is Latin-1: é is the byte E9 there, and a combining accent on its e is é
    too; an emoji or a CJK character cannot be shown, so each column is a ? (blanks before,
    which looked like nothing was sent); the status line's │ is |, not a ?. No UTF-8 reaches
    the terminal: not the grapheme probe's family emoji (its bytes are C1 controls there)."""
    with student(latin1_locale) as (bob, carl):
        carl.send(ev.Say(text="caf\u00e9 😀 漢字 e\u0301 ok"))
        wait_for(lambda: b"carl" in bytes(bob.raw) and b" ok" in bytes(bob.raw)[bytes(bob.raw).rfind(b"carl") :],
                 what="carl's line drawn")
        raw = bytes(bob.raw)
        assert b"caf\xe9 ?? ???? \xe9 ok" in raw
        assert " bob | client | " in bob.text
        assert not re.search(rb"[\xc2-\xf4][\x80-\xbf]", raw.split(b"\x1b[?1049h", 1)[1]), "UTF-8 written to a Latin-1 terminal"
        bob.send("h\xe9llo".encode("latin-1") + b"\r")  # what a Latin-1 keyboard sends
        carl.expect(ev.Message, sender="bob", text="héllo")


def test_a_latin1_true_colour_terminal_gets_the_swatch_in_latin1_too(latin1_locale: dict[str, str]):
    """The colour swatch, written past curses in its exact colour on a true-colour terminal, was
    UTF-8 whatever the terminal: its \u2588 went to a Latin-1 one as E2 96 88, two of them C1
    controls there (0x88 sets a tab stop). A peer's direct message with a colour link draws one."""
    with student({**latin1_locale, "COLORTERM": "truecolor"}) as (bob, carl):
        carl.send(ev.Whisper(to="bob", text="try https://www.computerhope.com/cgi-bin/htmlcolor.pl?c=FF0000 ok"))
        wait_for(lambda: b"\x1b[38;2;255;0;0m" in bytes(bob.raw), what="the swatch in its exact colour")
        raw = bytes(bob.raw).split(b"\x1b[?1049h", 1)[1]
        assert not re.search(rb"[\xc2-\xf4][\x80-\xbf]", raw), "UTF-8 written to a Latin-1 terminal"
        assert b"\x1b[38;2;255;0;0m#\x1b[39m" in raw  # \u2588 as the screen's other symbols: ASCII


def test_plain_mode_at_a_latin1_terminal_sends_what_its_keyboard_types(latin1_locale: dict[str, str]):
    """--plain read the keyboard as UTF-8 whatever the terminal: a Latin-1 é (the byte E9) was
    sent as the replacement character. It prints in Latin-1 already (a ? for an emoji)."""
    with student(latin1_locale, "--plain") as (bob, carl):
        carl.send(ev.Say(text="caf\u00e9 😀"))
        wait_for(lambda: b"carl: caf\xe9 ?" in bytes(bob.raw), what="carl's line in Latin-1")
        bob.send("h\xe9llo".encode("latin-1") + b"\r")
        carl.expect(ev.Message, sender="bob", text="héllo")


def test_a_screen_of_its_own_locale_is_left_alone():
    """C.UTF-8 (the tests' usual) writes UTF-8 and the grapheme probe is asked, as before."""
    with student({}) as (bob, carl):
        carl.send(ev.Say(text=WORLD))
        bob.expect(rf"carl: {WORLD}")
        assert "😀".encode() in bytes(bob.raw)


def test_a_vt100_or_ansi_entry_still_gets_pgup_home_end_and_delete():
    """TERM=vt100 (or ansi) in a modern terminal: terminfo names no PgUp, PgDn, Home, End or
    Delete, so curses passed their ESC [ 5 ~ (and the rest) on as unknown sequences, which were
    swallowed: the transcript could not be scrolled and the keys did nothing. A sequence pasted
    inside bracketed-paste markers is still no key."""
    with student({"TERM": "vt100"}) as (bob, carl):
        for number in range(12):
            carl.send(ev.Say(text=f"line {number}"))
        bob.expect(r"carl: line 11")
        bob.send("\x1b[5~")
        bob.expect(r"scrolled up \(End: back\)")
        bob.send("\x1b[6~")
        bob.expect_gone(r"scrolled up")
        bob.send("abcdef")
        bob.wait_screen(lambda rows: rows[-1].startswith("> abcdef"), what="the typed line")
        bob.send("\x1b[1~")  # Home
        bob.wait_screen(lambda rows: bob.cursor == (9, 2), what="the cursor at the start")
        bob.send("\x1b[3~")  # Delete
        bob.wait_screen(lambda rows: rows[-1].startswith("> bcdef "), what="a deleted")
        bob.send("\x1b[4~X")  # End
        bob.wait_screen(lambda rows: rows[-1].startswith("> bcdefX "), what="X at the end")
        bob.send("\x1b[200~p\x1b[Dq\x1b[201~\r")
        carl.expect(ev.Message, sender="bob", text="bcdefXpq")


@pytest.mark.parametrize("key", ["\x1c", "\x03"], ids=["Ctrl-\\", "Ctrl-C"])
@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_ctrl_backslash_leaves_like_ctrl_c_and_gives_the_terminal_back(plain: bool, key: str):
    """Ctrl-\\ (SIGQUIT, next to Enter on many keyboards) ended the process on the spot: the shell
    got the alternate screen, mouse reports and bracketed paste (the full screen), or a terminal
    without echo (--plain at a terminal edits the line itself); and the room read "lost". Both
    are keys now (no ISIG while the chat runs), each raising its signal: the same goodbye."""
    # the shell after us: its traps keep it alive to report (an ignored signal would be inherited)
    shell = 'trap : INT QUIT; {command}; echo "exit=$?"; stty -a; echo STTY-DONE'
    with student_in_a_shell(shell, plain=plain) as (bob, carl):
        carl.expect(ev.Joined, name="bob")
        bob.expect(r"welcome, bob")
        bob.send(key)
        carl.expect(ev.Left, name="bob", reason="quit")
        bob.expect("STTY-DONE")
        raw = bytes(bob.raw)
        if not plain:
            assert raw.rfind(b"\x1b[?1049l") > raw.rfind(b"\x1b[?1049h"), "still in the alternate screen"
        assert raw.rfind(b"\x1b[?2004l") > raw.rfind(b"\x1b[?2004h") >= 0, "bracketed paste left on"
        stty = raw[raw.rfind(b"exit=") :].decode("utf-8", "replace")
        assert "exit=0" in stty and b"you left the chat" in raw
        for flag in ("isig", "icanon", "echo", "icrnl", "ixon"):  # Ctrl-C a signal again (ISIG is off in the chat)
            assert re.search(rf"(?<![-\w]){flag}\b", stty), (flag, stty)


@pytest.mark.parametrize("term", ["linux", "vt100", "screen-256color"])
def test_the_goodbye_starts_on_a_clean_row_where_there_is_no_alternate_screen(term: str):
    """The Linux console and vt100 have no alternate screen (no smcup), and GNU screen's is off
    unless asked for (pyte, which reads this test's screen, has none either): after the full
    screen ended, the cursor was at the start of the input row, and the goodbye was printed
    over the line typed there, its tail left showing: "lanchat: you left the chats is long"."""
    with student({"TERM": term}) as (bob, carl):
        bob.send("a line typed and not sent, longer than the goodbye")
        bob.wait_screen(lambda rows: rows[-1].rstrip().endswith("the goodbye"), what="the typed line")
        bob.send("\x03")
        carl.expect(ev.Left, name="bob", reason="quit")
        wait_for(lambda: b"you left the chat\r\n" in bytes(bob.raw), what="the goodbye")
        shown = [row for row in trimmed(bob.lines) if row]
        assert shown[-1] == "lanchat: you left the chat", shown


def trimmed(rows: list[str]) -> list[str]:
    return [row.rstrip() for row in rows]


def at_the_prompt(rows: list[str]) -> bool:
    """The shell's "$ " is the last thing on the screen."""
    shown = [row for row in trimmed(rows) if row]
    return bool(shown) and shown[-1] == "$"


def the_shell_has_its_echo_while_stopped(term: TermProc) -> None:
    """At the shell's prompt after Ctrl-Z stopped lanchat (keys typed before it would go ahead
    of it): stty says echo and icanon, the shell's line editing; then its prompt again."""
    term.wait_screen(at_the_prompt, what="the shell's prompt")
    term.send('stty -a | grep -o "[-a-z]*echo \\|[-a-z]*icanon"; echo "STOP""PED"\r')
    term.expect(r"(?m)^STOPPED")
    raw = bytes(term.raw)
    stty = raw[raw.rfind(b"Stopped") :].decode("utf-8", "replace")
    assert re.search(r"(?<![-\w])icanon\b", stty) and re.search(r"(?<![-\w])echo\b", stty), stty
    term.wait_screen(at_the_prompt, what="the shell's prompt")


def draft_after_fg(rows: list[str]) -> bool:
    """"draft" written again below the shell's "$ fg"."""
    rows = trimmed(rows)
    return "$ fg" in rows and "draft" in rows[rows.index("$ fg") :]


@contextlib.contextmanager
def job_in_a_shell(command: str, what: str, shell: str = "bash", rows: int = 16, cols: int = 80) -> Iterator[tuple[TermProc, psutil.Process]]:
    """``command`` typed at an interactive ``shell``'s prompt in a pty, as a job of its own: the
    pty and the job's process (``what`` it is). At the end the job is killed by its PID before
    the shell is: one left waiting (stopped, or on a read of the keyboard, where its SIGHUP only
    restarted the read) outlived its shell holding the pty, and closing the pty waited on it for
    good (ptyprocess's close waits for the reader thread's read), pytest's end with it."""
    if not shutil.which(shell):
        pytest.skip(f"no {shell} here")
    argv = [shell, "--norc", "--noprofile", "-i"] if shell == "bash" else [shell, "-i"]
    term = TermProc(what, argv=argv, rows=rows, cols=cols, env={"PS1": "$ ", "ENV": "/dev/null"})
    job = None
    try:
        term.wait_screen(at_the_prompt, what="the shell's prompt")
        term.send(f"{command}\r")
        job = wait_for(lambda: next(iter(psutil.Process(term.proc.pid).children()), None), what=f"the shell's child: {what}")
        yield term, job
    finally:
        if job is not None:
            with contextlib.suppress(psutil.Error):
                job.kill()  # (psutil checks it is still the process it found)
                job.wait(5)
        term.stop()


@contextlib.contextmanager
def plain_in_a_shell(endpoint, shell: str = "bash", program: str = "-m lanchat") -> Iterator[tuple[TermProc, psutil.Process]]:
    """bob's --plain chat (``program``: python's arguments before connect's), typed at an
    interactive ``shell``'s prompt in a pty (job_in_a_shell), and joined: the pty and the chat's process."""
    command = f'"{sys.executable}" {program} connect 127.0.0.1 {endpoint.port} --name bob --plain'
    with job_in_a_shell(command, "connect", shell) as (term, chat):
        term.expect(r"welcome, bob")
        yield term, chat


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_plain_mode_gives_the_shell_its_echo_on_ctrl_z_and_takes_its_own_back_after_fg(shell: str):
    """--plain at a terminal echoes what is typed itself (-icanon -echo). Ctrl-Z left that to
    the shell: dash does not reset the terminal, so its prompt echoed nothing; bash does, and
    after fg kept its own settings for us, so each key showed twice and the line typed was read
    only at Enter. Now the terminal goes back for the stop, ours comes back after fg, and the
    unfinished line is written again."""
    with running_server() as (_server, endpoint), plain_in_a_shell(endpoint, shell) as (term, _chat):
        carl = RawClient(endpoint, "carl")
        term.send("draft")
        term.wait_screen(lambda rows: "draft" in trimmed(rows), what="the draft")
        term.send("\x1a")
        term.expect(r"Stopped")
        the_shell_has_its_echo_while_stopped(term)
        term.send("fg\r")
        term.wait_screen(draft_after_fg, what="the draft again after fg")
        carl.send(ev.Say(text="while you were away"))
        term.expect(r"carl: while you were away *\n(.*\n)*draft\b")
        term.send("abc\r")
        carl.expect(ev.Message, sender="bob", text="draftabc")
        term.expect(r"bob: draftabc")
        assert "abc" not in trimmed(term.lines), "a key echoed twice: by the terminal and by lanchat"
        term.send("\x1b[200~pasted \x03Ctrl-C\x1b[201~\r")  # our modes after fg: Ctrl-C a key, in a paste dropped
        carl.expect(ev.Message, sender="bob", text="pasted Ctrl-C")


CTRL_Z_AS_ECHOED = """
import runpy, signal, sys
from lanchat.ui import plain

echo = plain.PlainFrontend._echo
pressed = []

def echo_then_ctrl_z(self, text):
    echo(self, text)
    if text == "draft" and not pressed:  # Ctrl-Z lands as the keys reach the screen, before they are kept
        pressed.append(True)
        signal.raise_signal(signal.SIGTSTP)

plain.PlainFrontend._echo = echo_then_ctrl_z
runpy.run_module("lanchat", run_name="__main__", alter_sys=True)
"""


def _fg_then_the_draft_goes_and_the_chat_goes_on(term, carl) -> None:  # noqa: ANN001
    """At the shell's prompt after a Ctrl-Z: fg writes the draft again, Enter sends it whole, and
    the loop goes on (a line from carl shows: not left reading the keyboard)."""
    term.wait_screen(at_the_prompt, what="the shell's prompt")
    term.send("fg\r")
    term.wait_screen(draft_after_fg, what="the draft again after fg")
    term.send("!\r")
    carl.expect(ev.Message, sender="bob", text="draft!")
    carl.send(ev.Say(text="still here"))
    term.expect(r"carl: still here")


def test_plain_mode_ctrl_z_just_as_keys_are_echoed_writes_them_again_after_fg(tmp_path):
    """A Ctrl-Z that landed between a key's echo and its being kept (a loaded machine, 1 run in
    3 of the test above): the handler stopped right there, and after fg wrote the unfinished
    line again without those keys; they were sent, but unseen. The stop is the loop's now, between
    two passes. Here the signal is raised at that very point, every run."""
    script = tmp_path / "ctrl_z_as_echoed.py"
    script.write_text(CTRL_Z_AS_ECHOED, encoding="utf-8")
    with running_server() as (_server, endpoint), plain_in_a_shell(endpoint, program=f'"{script}"') as (term, _chat):
        carl = RawClient(endpoint, "carl")
        term.send("draft")
        term.expect(r"Stopped")
        _fg_then_the_draft_goes_and_the_chat_goes_on(term, carl)


KEYS_WITH_THE_WAKE_BYTE = """
import runpy, select
from lanchat.ui import plain

suspend = plain.PlainFrontend._suspend

def suspend_then_keys(self, *args, **kwargs):
    suspend(self, *args, **kwargs)
    select.select([self.fd], [], [], 10)  # a loaded machine: the next pass finds the keys typed after fg waiting

plain.PlainFrontend._suspend = suspend_then_keys
runpy.run_module("lanchat", run_name="__main__", alter_sys=True)
"""


def test_plain_mode_keys_typed_as_fg_resumes_do_not_leave_the_chat_reading_the_keyboard(tmp_path):
    """After Ctrl-Z and fg, the loop's next pass found two things ready, the keys typed after fg
    and the wake pipe (the SIGCONT's byte), and read the keyboard for each: the second read found
    nothing and waited for a key, the whole chat with it (no message shown, SIGHUP answered by a
    retried read: a closed terminal left it running). Here the keys are waiting at that pass."""
    script = tmp_path / "keys_with_the_wake_byte.py"
    script.write_text(KEYS_WITH_THE_WAKE_BYTE, encoding="utf-8")
    with running_server() as (_server, endpoint), plain_in_a_shell(endpoint, program=f'"{script}"') as (term, _chat):
        carl = RawClient(endpoint, "carl")
        term.send("draft")
        term.wait_screen(lambda rows: "draft" in trimmed(rows), what="the draft")
        term.send("\x1a")
        term.expect(r"Stopped")
        _fg_then_the_draft_goes_and_the_chat_goes_on(term, carl)


def test_plain_mode_ctrl_z_then_bg_then_fg_takes_the_terminal_back(tmp_path):
    """After Ctrl-Z, `bg` resumes the chat in the background: setting the terminal stops it
    again (SIGTTOU) until fg, and after fg that call must go on. A SIGCONT handler without
    SA_RESTART made it fail (EINTR) instead, and the shell's modes stayed: each key echoed
    twice, the line read only at Enter."""
    with running_server() as (_server, endpoint), plain_in_a_shell(endpoint) as (term, chat):
        carl = RawClient(endpoint, "carl")
        term.send("draft")
        term.wait_screen(lambda rows: "draft" in trimmed(rows), what="the draft")
        term.send("\x1a")
        term.expect(r"Stopped")
        term.wait_screen(at_the_prompt, what="the shell's prompt")
        term.send("bg\r")
        term.wait_screen(lambda rows: "$ bg" in trimmed(rows) and at_the_prompt(rows), what="the job resumed in the background")
        wait_for(lambda: chat.status() == psutil.STATUS_STOPPED, what="stopped again setting the terminal (SIGTTOU)")
        term.send("fg\r")
        term.wait_screen(draft_after_fg, what="the draft again after fg")
        attrs = termios.tcgetattr(term.proc.fd)
        assert not attrs[3] & (termios.ECHO | termios.ICANON | termios.ISIG), "the shell's modes kept"
        term.send("!\r")
        carl.expect(ev.Message, sender="bob", text="draft!")


def test_tabs_in_a_paste_on_a_terminal_without_paste_markers_are_text_not_completions():
    """TERM=screen-256color names no bracketed paste, so a paste is guessed (an Enter with text
    behind it in the same read is a line break). Its tabs were still Tab keys: each listed the
    names ("bob  carl") into the transcript and completed one into the pasted code. A tab with
    text behind it in the same read is now a space, as in a marked paste; Tab alone completes."""
    with student({"TERM": "screen-256color"}) as (bob, carl):
        bob.send("def f():\r\tif x:\r\t\treturn 1\r")
        carl.expect(ev.Message, sender="bob", text="def f():\n if x:\n  return 1")
        bob.send("ca")
        bob.wait_screen(lambda rows: rows[-1].startswith("> ca "), what="the typed name's start")
        bob.send("\t")
        bob.wait_screen(lambda rows: rows[-1].startswith("> carl: "), what="the completed name")
        assert "bob  carl" not in bob.text


def test_emoji_newer_than_the_c_library_and_flags_keep_the_row_in_its_columns():
    """curses counts columns with the C library: 🩷 (Unicode 15) is unknown to it, and a flag's
    letter is one column to it, where wcwidth (and the terminal) say two. 🩷 was not drawn at
    all, and the rest of the row went one column off (what curses then moved over by relative
    steps landed in the wrong place). Each is now drawn at its own column, past curses."""
    needs_curses_not_to_know_the_heart()
    with student({}) as (bob, carl):
        carl.send(ev.Say(text="I \U0001fa77 you \U0001fae8 ok \U0001f1eb\U0001f1f7 end"))
        bob.expect(r"carl: I \U0001fa77 you \U0001fae8 ok .*end")  # the two drawn past curses come last
        row = next(row for row in bob.lines if "carl: I" in row)
        # 🩷, 🫨 and the flag (a blank two columns wide where the terminal did not say it draws flags)
        assert wcswidth(row[: row.index("end")]) == wcswidth("10:00 carl: I 🩷 you 🫨 ok 🇫🇷 "), row


@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_an_emoji_newer_than_python_or_an_icon_fonts_glyph_is_typed_not_dropped(plain: bool):
    """Python's Unicode tables are its release's: to 3.11 🩷 and 🫨 (Unicode 15) are unassigned,
    so not "printable", and the key was dropped without a word; so was a private-use glyph (an
    icon font's, U+E0A0). Both are typed text now, in both front ends, and reach the room."""
    text = "I \U0001fa77 you \U0001fae8 \ue0a0 ok"
    with student({}, *(["--plain"] if plain else [])) as (bob, carl):
        bob.send(text)
        if not plain:
            bob.wait_screen(lambda rows: rows[-1].startswith(f"> {text}"), what="the typed line")
        bob.send("\r")
        carl.expect(ev.Message, sender="bob", text=text)


def test_an_emoji_drawn_past_curses_goes_when_it_is_deleted():
    """🩷 is drawn past curses (over blanks curses holds), so curses did not know it was there:
    Backspace only moved the cursor back, the heart stayed, and the next key overwrote half of
    it. A row drawn past curses is written whole at the next draw."""
    needs_curses_not_to_know_the_heart()
    with student({}) as (bob, _carl):
        bob.send("ab\U0001fa77")
        bob.wait_screen(lambda rows: rows[-1].startswith("> ab\U0001fa77"), what="the heart typed")
        bob.send("\x7f")
        bob.wait_screen(lambda rows: rows[-1].rstrip() == "> ab", what="the heart gone")


@pytest.mark.parametrize("ignored", [False, True], ids=["default", "started-ignored"])
def test_ctrl_backslash_at_serves_password_prompt_gives_the_terminal_its_echo_back(ignored: bool):
    """`serve --password` asks with echo off. Ctrl-\\ (SIGQUIT) there ended the process on the
    spot ("Quit"), the terminal left without echo for the shell: what was typed next went unseen.
    It is like Ctrl-C now, as at `connect`'s prompts: interrupted, exit 130, echo back. Also when
    SIGQUIT came ignored (a background job of a non-interactive shell, a CI runner: Ctrl-\\ did
    nothing, the prompt waited on), as lanchat takes SIGINT back in that case."""
    shell = "dash"  # bash puts its own settings back while it has the terminal: no test of this
    if not shutil.which(shell):
        pytest.skip(f"no {shell} here")
    term = TermProc("serve", argv=[shell, "-i"], rows=16, cols=80, env={"PS1": "$ ", "ENV": "/dev/null"})
    try:
        term.wait_screen(at_the_prompt, what="the shell's prompt")
        ignore = "trap '' QUIT; " if ignored else "trap - QUIT; "  # the shell's children inherit an ignored QUIT
        term.send(f'{ignore}"{sys.executable}" -m lanchat serve --password --name teach --plain --port 0 --no-announce --no-history; echo "exit=$?"\r')
        term.expect(r"Room password:")
        term.send("\x1c")
        term.expect(r"exit=130")
        term.wait_screen(at_the_prompt, what="the shell's prompt")
        term.send('stty -a | grep -o "[-a-z]*echo \\|[-a-z]*icanon"; echo "STOP""PED"\r')
        term.expect(r"(?m)^STOPPED")
        raw = bytes(term.raw)
        stty = raw[raw.rfind(b"exit=130") :].decode("utf-8", "replace")
        assert re.search(r"(?<![-\w])echo\b", stty), stty
    finally:
        term.stop()


def test_ctrl_z_at_the_password_prompt_gives_the_shell_its_echo_and_fg_asks_again():
    """The room's password is asked with echo off. Ctrl-Z left it off for the shell (dash does
    not reset the terminal: what was typed at its prompt went unseen), and after fg nothing
    said a password was still awaited. Now echo is the shell's while stopped, and fg asks again."""
    with running_server(password=RoomPassword.create("sesame", bytes(16))) as (_server, endpoint):
        carl = RawClient(endpoint, "carl", password="sesame", key=Ed25519PrivateKey.generate())
        term = _dash_at_its_prompt()  # bash puts its own settings back while it has the terminal: no test of this
        try:
            term.send(f'"{sys.executable}" -m lanchat connect 127.0.0.1 {endpoint.port} --name bob\r')
            term.expect(r"This room needs a password:")
            term.send("\x1a")
            term.expect(r"Stopped")
            the_shell_has_its_echo_while_stopped(term)
            term.send("fg\r")
            term.wait_screen(lambda rows: "$ fg" in trimmed(rows) and any("needs a password" in row for row in trimmed(rows)[trimmed(rows).index("$ fg") :]),
                             what="the password asked again after fg")
            term.send("sesame\r")
            carl.expect(ev.Joined, name="bob")
            assert "sesame" not in term.text
        finally:
            term.stop()


def test_ctrl_backslash_at_the_name_prompt_is_like_ctrl_c():
    """Before the chat (the name asked, a fingerprint to trust, a room to pick) Ctrl-\\ ended the
    process with the shell's "Quit" (exit 131) and no word from lanchat."""
    with running_server() as (_server, endpoint):
        shell = f'trap : INT QUIT; "{sys.executable}" -m lanchat connect 127.0.0.1 {endpoint.port}; echo "exit=$?"'
        term = TermProc("connect", argv=["sh", "-c", shell], rows=10, cols=70)
        try:
            term.expect(r"Your name")
            # input() misses a signal that comes between writing its prompt and starting its read
            # (a window no person hits, a test on a loaded machine does; Ctrl-C alike): the key
            # is pressed again if nothing came of it
            for _ in range(3):
                term.send("\x1c")
                with contextlib.suppress(AssertionError):
                    term.expect(r"exit=\d+", timeout=2)
                    break
            term.expect(r"exit=\d+")
            assert "lanchat: interrupted: not joining" in term.text and "exit=130" in term.text, term.text
        finally:
            term.stop()


def test_plain_mode_keeps_a_typed_line_longer_than_the_terminal_whole():
    """--plain writes what you type again below a line that arrives, and Backspace takes it
    off. A typed line longer than the terminal wraps, and "\\r" and blanks reached only its last
    row: its first row stayed above the line that came, and a backspace never went up a row
    (the screen kept letters no longer in the line)."""
    typed = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"  # 46 on a 30-column terminal
    with running_server() as (_server, endpoint):
        carl = RawClient(endpoint, "carl")
        bob = TermProc("connect", "127.0.0.1", str(endpoint.port), "--name", "bob", "--plain", rows=12, cols=30)
        try:
            bob.expect(r"welcome, bob")
            bob.send(typed)
            bob.wait_screen(lambda rows: trimmed(rows)[-2:] == [typed[:30], typed[30:]] or typed[30:] in trimmed(rows), what="typed")
            carl.send(ev.Say(text="hello"))
            bob.expect(r"carl: hello *\n0123456789abcdefghijklmnopqrst\nuvwxyzABCDEFGHIJ")
            above = trimmed(bob.lines)[: next(i for i, row in enumerate(bob.lines) if "carl: hello" in row)]
            assert typed[:30] not in above, bob.text
            bob.send("\x7f" * 20)
            bob.wait_screen(lambda rows: "0123456789abcdefghijklmnop" in trimmed(rows), what="26 letters left")
            rows = trimmed(bob.lines)
            # below carl's line only what is left of the typed line (no "qrst" kept at the end of
            # its first row, no second row); the screen above holds the key's random path, which
            # can end in a "t" where it wraps
            below = [row for row in rows[next(i for i, row in enumerate(rows) if "carl: hello" in row) + 1 :] if row]
            assert below == [typed[:26]], bob.text
            assert not any("uvwxyz" in row for row in rows), bob.text
            bob.send("!\r")
            carl.expect(ev.Message, sender="bob", text=typed[:26] + "!")
        finally:
            bob.stop()


@pytest.mark.parametrize("marked", [True, False], ids=["bracketed", "unmarked"])
def test_a_paste_with_windows_line_ends_is_the_same_message_as_with_unix_ones(marked: bool):
    """Text copied from a Windows editor or a web page ends its lines in CR LF, which a terminal
    pastes as it is. The terminal driver turned the CR into a newline too (ICRNL), so each line
    break came twice: the message had an empty line after each of its lines. CR LF is one line
    break now, as LF is; Enter (a CR) still sends."""
    with student({}) as (bob, carl):
        pasted = "one\r\ntwo\r\nthree"
        bob.send(f"\x1b[200~{pasted}\x1b[201~" if marked else pasted)
        bob.wait_screen(lambda rows: rows[-1].startswith("> one") or rows[-1].startswith("> three"), what="the paste")
        bob.send("\r")
        carl.expect(ev.Message, sender="bob", text="one\ntwo\nthree")


def test_plain_mode_takes_a_paste_with_windows_line_ends_as_one_line_each():
    """--plain at a terminal: CR LF came as two Enters (the terminal driver makes a CR a newline),
    so an empty line was echoed under each pasted line. One Enter each now; nothing empty."""
    with student({}, "--plain") as (bob, carl):
        bob.send("one\r\ntwo\r\n")
        carl.expect(ev.Message, sender="bob", text="one")
        carl.expect(ev.Message, sender="bob", text="two")
        bob.expect(r"bob: two")
        rows = trimmed(bob.lines)
        at = rows.index("one")
        assert rows[at : at + 2] == ["one", "two"], bob.text


@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_a_paste_of_colour_codes_and_controls_is_its_text_only(plain: bool):
    """A paste from a terminal that copied its colours (ESC [ 31 m), a title or a link (OSC), or
    a file with stray controls: each was a key. A pasted Ctrl-U emptied the line, ESC b moved the
    cursor into the middle of the words, an OSC's body was typed, and --plain ignored the markers
    too. Now all that is dropped and the text goes out as it reads; --plain asks for the markers
    (and gives them back at the end)."""
    pasted = "red \x1b[31mtext\x1b[0m \x1b]0;pwned\x07an \x1b]8;;http://x.org/\x1b\\link\x1b]8;;\x1b\\ kill\x15word\x17 alt\x1bb end"
    with student({}, *(["--plain"] if plain else [])) as (bob, carl):
        if plain:
            wait_for(lambda: b"\x1b[?2004h" in bytes(bob.raw), what="bracketed paste asked for")
        mark = len(bob.raw)
        bob.send(f"\x1b[200~{pasted}\x1b[201~")
        bob.expect(r"alt end")
        bob.send("\r")
        carl.expect(ev.Message, sender="bob", text="red text an link killword alt end")
        assert b"pwned" not in bytes(bob.raw)[mark:] and b"x.org" not in bytes(bob.raw)[mark:]


def test_plain_mode_at_a_dumb_terminal_backspaces_over_a_line_that_wrapped():
    """TERM=dumb (an editor's shell buffer): no moving up, so each Backspace wrote "\\b \\b". Over
    a typed line longer than the terminal, a backspace at the start of its second row went
    nowhere (a terminal does not go back up a row): the first row kept letters no longer in the
    line, and the last rows' first letter was rubbed out again and again. Where a backspace
    would cross to the row above, the line is written again on a fresh row instead."""
    typed = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"  # 46 on a 30-column terminal
    with running_server() as (_server, endpoint):
        carl = RawClient(endpoint, "carl")
        bob = TermProc("connect", "127.0.0.1", str(endpoint.port), "--name", "bob", "--plain", rows=12, cols=30, env={"TERM": "dumb"})
        try:
            bob.expect(r"welcome, bob")
            bob.send(typed)
            bob.wait_screen(lambda rows: typed[30:] in trimmed(rows), what="typed")
            bob.send("\x7f" * 20)
            left = typed[:26]
            bob.wait_screen(lambda rows: [row for row in trimmed(rows) if row][-1] == left, what="26 letters, the last row")
            bob.send("!")
            bob.wait_screen(lambda rows: [row for row in trimmed(rows) if row][-1] == left + "!", what="the ! after them")
            bob.send("\r")
            carl.expect(ev.Message, sender="bob", text=left + "!")
        finally:
            bob.stop()


def _dash_at_its_prompt() -> TermProc:
    """An interactive dash (job control: Ctrl-Z stops its foreground job) at its prompt."""
    if not shutil.which("dash"):
        pytest.skip("no dash here")
    term = TermProc("connect", argv=["dash", "-i"], rows=16, cols=80, env={"PS1": "$ ", "ENV": "/dev/null"})
    try:
        term.wait_screen(at_the_prompt, what="the shell's prompt")
    except BaseException:
        term.stop()
        raise
    return term


def test_ctrl_z_at_the_name_prompt_asks_again_after_fg():
    """Ctrl-Z at "Your name:" with "bo" typed: the terminal throws a half-typed line away on a
    stop, but "bo" stayed on the screen and nothing was asked after fg, so "b" and Enter joined
    as "b". The prompt is written again after fg now: what shows is what is read."""
    with running_server() as (_server, endpoint):
        carl = RawClient(endpoint, "carl")
        term = _dash_at_its_prompt()
        try:
            term.send(f'"{sys.executable}" -m lanchat connect 127.0.0.1 {endpoint.port}\r')
            term.expect(r"Your name")
            term.send("bo")
            term.expect(r"Your name[^\n]*: bo")
            term.send("\x1a")
            term.expect(r"Stopped")
            term.wait_screen(at_the_prompt, what="the shell's prompt")
            term.send("fg\r")
            term.wait_screen(lambda rows: "$ fg" in trimmed(rows) and any("Your name" in row for row in trimmed(rows)[trimmed(rows).index("$ fg") :]),
                             what="the name asked again after fg")
            term.send("bob\r")
            carl.expect(ev.Joined, name="bob")
        finally:
            term.stop()


@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_a_paste_whose_end_never_comes_gives_the_keyboard_back_to_ctrl_z(plain: bool):
    """A paste whose end marker never comes (lost; an ESC [ 200 ~ typed by hand) makes every key
    text: Enter a line break, Backspace nothing. Ctrl-Z and Ctrl-C are keys now, and in a paste
    dropped (a pasted one quit the chat), so they alone could not end it: a Ctrl-Z alone in its
    read, once the paste has been quiet for paste.QUIET_SECONDS, ends the paste and stops us as
    it always did; after fg the line is edited and sent as usual."""
    script = 'set -m; {command}; echo "stopped=$?"; read answer; fg; echo "exit=$?"'
    with student_in_a_shell(script, plain=plain) as (bob, carl):
        bob.expect(r"welcome, bob" if plain else r"bob .* client")
        carl.expect(ev.Joined, name="bob")
        if plain:
            wait_for(lambda: b"\x1b[?2004h" in bytes(bob.raw), what="bracketed paste asked for")
        bob.send("\x1b[200~half a paste")
        bob.expect(r"half a paste")
        time.sleep(QUIET_SECONDS + 0.1)  # the quiet the rule asks for (not a wait for the program)
        bob.send("\x1a")
        bob.expect(r"stopped=148")
        bob.send("\r")  # `read` done: the shell runs fg
        wait_for(lambda: bytes(bob.raw).count(b"\x1b[?2004h") >= 2, what="back after fg")
        bob.send("\x7f, typed\r")
        carl.expect(ev.Message, sender="bob", text="half a past, typed")


@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_a_pasted_ctrl_c_ctrl_z_or_ctrl_backslash_is_dropped_not_a_signal(plain: bool):
    """The terminal made a pasted Ctrl-C a SIGINT (and Ctrl-Z a SIGTSTP, Ctrl-\\ a SIGQUIT) even
    between paste markers: a paste holding one left the chat (or stopped it) halfway. They are
    keys while the chat runs (ISIG off) and, in a paste, dropped like any other control."""
    with student({}, *(["--plain"] if plain else [])) as (bob, carl):
        if plain:
            wait_for(lambda: b"\x1b[?2004h" in bytes(bob.raw), what="bracketed paste asked for")
        bob.send("\x1b[200~a\x03b\x1ac\x1cd\x1b[201~\r")
        carl.expect(ev.Message, sender="bob", text="abcd")
        bob.send("still here\r")
        carl.expect(ev.Message, sender="bob", text="still here")
        assert bob.proc.isalive()


@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_a_pasted_ctrl_s_does_not_freeze_the_chat(plain: bool):
    """Ctrl-S is the terminal's "stop output" (IXON): pasted (or pressed out of habit, to save),
    it froze the screen until a Ctrl-Q nobody knows, and in --plain every write waited, the
    client's whole loop with it. While the chat runs it is a key: in a paste, dropped."""
    with student({}, *(["--plain"] if plain else [])) as (bob, carl):
        if plain:
            wait_for(lambda: b"\x1b[?2004h" in bytes(bob.raw), what="bracketed paste asked for")
        bob.send("\x1b[200~paused\x13 not\x1b[201~\r")
        carl.expect(ev.Message, sender="bob", text="paused not")
        carl.send(ev.Say(text="can you read this"))
        bob.expect(r"carl: can you read this")


@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_kill_gives_the_terminal_back_with_its_signal_keys(plain: bool, signum: int):
    """The chat turns the terminal's ISIG off (Ctrl-C is a key): ended by `kill` or a hangup, the
    shell gets its terminal back whole, Ctrl-C a signal again (isig), its echo and line editing."""
    # the inner sh says its process id, then becomes lanchat (exec): the one process to kill
    shell = """trap : INT TERM HUP; sh -c 'echo "pid=$$."; exec {command}'; echo "exit=$?"; stty -a; echo STTY-DONE"""
    with student_in_a_shell(shell, plain=plain) as (bob, carl):
        carl.expect(ev.Joined, name="bob")
        bob.expect(r"welcome, bob")
        lanchat = int(re.search(rb"pid=(\d+)\.", bytes(bob.raw)).group(1))  # type: ignore[union-attr]
        os.kill(lanchat, signum)
        carl.expect(ev.Left, name="bob")
        bob.expect("STTY-DONE")
        raw = bytes(bob.raw)
        assert raw.rfind(b"\x1b[?2004l") > raw.rfind(b"\x1b[?2004h") >= 0, "bracketed paste left on"
        stty = raw[raw.rfind(b"exit=") :].decode("utf-8", "replace")
        for flag in ("isig", "icanon", "echo", "icrnl", "ixon"):
            assert re.search(rf"(?<![-\w]){flag}\b", stty), (flag, stty)


def unread(term: TermProc) -> int:
    """How many bytes sent to ``term``'s program wait in its terminal, not read yet (FIONREAD on
    the pty's program side, which the test opens without reading)."""
    fd = os.open(os.readlink(f"/proc/{term.proc.pid}/fd/0"), os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    finally:
        os.close(fd)


def send_in_two_reads(term: TermProc, first: str, shown: Callable[[list[str]], object], second: str) -> None:
    """``first``, then ``second`` once the program has read all of ``first``: ``shown`` (the screen
    rows) says the read happened, and nothing of it waits in the terminal any more."""
    term.send(first)
    term.wait_screen(shown, what="the first part read")
    wait_for(lambda: unread(term) == 0, what="all of the first part read")
    term.send(second)


@pytest.mark.parametrize("split", [3, 5, 6], ids=["ESC [ 2|0 0 ~", "ESC [ 2 0 0|~", "ESC [ 2 0 0 ~|"])
@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_a_paste_start_marker_split_between_two_reads_still_starts_the_paste(plain: bool, split: int):
    """A read can end inside the marker a terminal sends before a paste: --plain took ESC [ 2 0
    for an unknown key and typed the rest, so the paste's Ctrl-U emptied the line and its end
    marker was dropped. The start is held for the next read now."""
    marker = "\x1b[200~"
    with student({}, *(["--plain"] if plain else [])) as (bob, carl):
        if plain:
            wait_for(lambda: b"\x1b[?2004h" in bytes(bob.raw), what="bracketed paste asked for")
        send_in_two_reads(bob, "typed " + marker[:split], lambda rows: "typed" in "\n".join(rows), marker[split:] + "a\x15b\x1b[201~")
        bob.wait_screen(lambda rows: "typed ab" in "\n".join(rows), what="the paste after the typed word")
        bob.send("\r")
        carl.expect(ev.Message, sender="bob", text="typed ab")


def test_a_paste_start_marker_cut_after_its_esc_still_starts_the_paste_on_the_full_screen():
    """A read can end right after the ESC of the marker a terminal sends before a paste: curses,
    no more of it within its ESCDELAY, gave a lone Esc (ending a /find), and the rest was typed:
    the paste's Ctrl-U emptied the line and its end marker was dropped. An Esc that ended its
    read is the paste's start still when the next read begins with the marker's rest."""
    with student({}) as (bob, carl):
        bob.send("/find welcome\r")
        bob.wait_screen(lambda rows: "find welcome:" in rows[-2], what="the find")
        bob.send("typed ")
        bob.wait_screen(lambda rows: rows[-1].startswith("> typed"), what="the typed word")
        bob.send("\x1b")  # alone in its read, as curses says once ESCDELAY is over: the find ends
        bob.wait_screen(lambda rows: "find welcome:" not in rows[-2], what="Esc taken alone")
        bob.send("[200~a\x15b\x1b[201~")
        bob.wait_screen(lambda rows: "typed ab" in rows[-1], what="the paste after the typed word")
        bob.send("\r")
        carl.expect(ev.Message, sender="bob", text="typed ab")


@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_what_follows_an_end_marker_inside_a_paste_is_still_text_not_keys(plain: bool):
    """A paste holding ESC [ 201 ~ (copied from a terminal's output, or put there on purpose) ends
    there, as the terminal says; what followed it in the same read became keys: its Ctrl-U
    emptied the line and its Enter ran the /command after it (an OSC in it never reached the
    terminal). The rest of the read is text now: the Ctrl-U dropped, the Enter a line break (the
    full screen; --plain sends each pasted line, as ever), the /me only words in a message."""
    with student({}, *(["--plain"] if plain else [])) as (bob, carl):
        if plain:
            wait_for(lambda: b"\x1b[?2004h" in bytes(bob.raw), what="bracketed paste asked for")
        mark = len(bob.raw)
        bob.send("\x1b[200~quoted\x1b[201~\x1b]0;pwned\x07\x15/me was here\r")
        if not plain:
            bob.wait_screen(lambda rows: "quoted/me was here" in "\n".join(rows), what="the paste's text in the input line")
            bob.send("\r")
        said = carl.expect(ev.Message, sender="bob")
        assert said.text.rstrip("\n") == "quoted/me was here", said  # type: ignore[attr-defined]
        assert b"pwned" not in bytes(bob.raw)[mark:]


def test_a_cr_and_its_lf_split_between_two_reads_are_one_line_end_without_paste_markers():
    """Without paste markers (TERM=screen-256color names none) a pasted CR LF split between two
    reads was two line ends: the CR sent the line, and the LF put a line break before the next."""
    with student({}) as (bob, carl):
        send_in_two_reads(bob, "one\r", lambda rows: "bob: one" in "\n".join(rows), "\ntwo")
        bob.wait_screen(lambda rows: rows[-1].startswith("> two"), what="the second line")
        bob.send("\r")
        carl.expect(ev.Message, sender="bob", text="one")
        carl.expect(ev.Message, sender="bob", text="two")


def test_ctrl_z_is_never_ignored_while_the_screen_draws():
    """ncurses, finding SIGTSTP at its default when it starts, sets it to SIG_IGN during every
    screen update: a Ctrl-Z pressed while the screen was drawing (a paste, a busy room, a
    resize) was thrown away by the kernel, and nothing happened. Here the screen redraws over
    and over (resizes, lines from carl) while SIGTSTP's disposition is read from /proc."""
    with student({}) as (bob, carl):
        status = Path(f"/proc/{bob.proc.pid}/status")
        tstp = 1 << (signal.SIGTSTP - 1)
        ignored = samples = 0
        for size in range(40):
            bob.resize(10 + size % 2, 60 + size % 3)
            if size % 4 == 0:
                carl.send(ev.Say(text=f"line {size} " + "x" * 40))
            for _ in range(50):
                fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
                ignored += bool(int(fields["SigIgn"], 16) & tstp)
                samples += 1
        assert ignored == 0, f"SIGTSTP ignored in {ignored} of {samples} samples"


def test_the_hosts_ctrl_z_with_students_here_asks_first_for_it_stops_the_room_too():
    """The server runs inside the host's `serve`: a teacher's Ctrl-Z (a vim habit) stopped the room
    for the whole class at once, their lines going nowhere until fg. With others here it now asks
    first, as the host's Ctrl-C does; the room goes on meanwhile, and a second Ctrl-Z stops it."""
    serve = f'"{sys.executable}" -m lanchat serve --host 127.0.0.1 --port 0 --name teach --no-history --no-announce'
    with job_in_a_shell(serve, "serve", rows=24, cols=100) as (term, _host):
        port = int(term.expect(r"connect 127\.0\.0\.1 (\d+)").group(1))
        ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
        term.expect(r"ann joined")
        term.send("\x1a")  # Ctrl-Z
        term.expect(r"Ctrl-Z stops the room too \(ann\): no line goes through until you type")  # (folded after it)
        ann.send(ev.Say(text="still here?"))
        ann.expect(ev.Message, sender="ann", text="still here?")  # the room went on
        term.expect(r"ann: still here\?")
        term.send("\x1a")  # again: stopped, as asked
        term.expect(r"Stopped")
        term.wait_screen(at_the_prompt, what="the shell's prompt")
        term.send("fg\r")
        ann.send(ev.Say(text="back from fg?"))  # drawn only once the chat runs again, in its own modes
        term.expect(r"ann: back from fg\?")  # (the status line of before the stop can still be on the screen)
        term.send("\x1a")  # after fg, with no key between: asked again, not stopped at once
        ann.send(ev.Say(text="after fg"))
        ann.expect(ev.Message, sender="ann", text="after fg")
        term.expect(r"ann: after fg")  # (stopped, the screen would be the shell's)
        ann.close()
