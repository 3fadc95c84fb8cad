"""End to end, round 2 of the screen: what a new user tripped over, in a real pseudo-terminal
(pyte reads the screen; every wait is a screen condition with a deadline)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from helpers import RawClient, StandInServer, TermProc, second_account_or_skip, short_tmp_dir, unfolded, wait_for
from test_ui_pty import bob_in_a_shell, host, join, say

from lanchat import events as ev
from lanchat.transport import Endpoint
from lanchat.ui import render

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def test_turn_changes_show_in_the_status_line_not_the_transcript(terms):
    ann, port = host(terms, "--mode", "turn")
    bob = join(terms, port, "bob")
    ann.expect("bob joined")
    status = ann.wait_screen(lambda rows: re.search(r"your turn|waiting for", rows[-2]) and rows[-2], what="ann's turn state")
    first = "ann" if "your turn" in status else "bob"
    talkers = {"ann": ann, "bob": bob}
    order = [first, "bob" if first == "ann" else "ann"] * 2
    for number, name in enumerate(order):
        talker = talkers[name]
        talker.wait_screen(lambda rows: "your turn" in rows[-2], what=f"{name}'s turn")
        say(talker, f"turn {number}", name)
    for term in (ann, bob):
        term.expect(r"turn 3")
        assert "turn: waiting for" not in term.text  # the status line and the prompt say it
    waiting = talkers[order[-1]]
    assert re.search(r"-!- turn: your turn", talkers[order[0]].text)  # yours is worth a line
    # the status line and the prompt line are two writes: wait for the screen, not one read of it
    waiting.wait_screen(lambda rows: "waiting for" in rows[-2] and rows[-1].startswith("[waiting for"), what="the waiting prompt")


def test_save_never_replaces_a_file_like_get(terms, tmp_path):
    ann, port = host(terms, rows=30, cols=120)
    say(ann, "worth keeping", "ann")
    target = tmp_path / "chat.txt"
    target.write_text("my notes\n", encoding="utf-8")
    ann.send(f"/save {target}\r")
    ann.expect_unfolded(r"saved\d+linesto" + re.escape(unfolded(f"{tmp_path / 'chat (1).txt'} (chat.txt was already there: kept)")))
    assert target.read_text(encoding="utf-8") == "my notes\n"
    assert "ann: worth keeping" in (tmp_path / "chat (1).txt").read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat (1).txt", "chat.txt"]  # no temp file left


def test_save_takes_the_quotes_off_a_quoted_path_as_send_does(terms, tmp_path):
    """`/save "my chat.txt"` (quoted, as the README says for /send) wrote a file named
    `"my chat.txt"`, quotes and all. One pair of quotes around the path is taken off; nothing else
    is read as shell syntax (a backslash, a lone apostrophe stay as typed)."""
    from lanchat.ui.commands import save_path_text

    ann, _port = host(terms, rows=30, cols=120)
    say(ann, "kept", "ann")
    target = tmp_path / "my chat.txt"
    ann.send(f'/save "{target}"\r')
    ann.expect(r"saved \d+ lines? to ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my chat.txt"]  # not '"my chat.txt"'
    assert save_path_text("'week 3/notes.txt'") == "week 3/notes.txt" and save_path_text('""') == ""  # "": the usage
    assert save_path_text("'it'\"'\"'s.txt'") == "it's.txt" and save_path_text('"a\\"b.txt"') == 'a"b.txt'  # as lanchat quotes
    for kept in ("bob's chat.txt", "C:\\Users\\ann\\chat.txt", '"', "'it's'.txt"):
        assert save_path_text(kept) == kept


def test_save_to_a_path_typed_on_a_latin1_terminal_writes_a_file_of_that_name(terms, tmp_path):
    """`/save /tmp/tr\xe9.txt` typed on a terminal set to Latin-1 was refused as "not sent: ...
    not UTF-8", though /save sends nothing: the path's bytes are the file's name's, as /send's
    path is (os.fsencode). The file is written under that name."""
    from lanchat.client import not_utf8_problem

    ann, _port = host(terms, rows=30, cols=120)
    say(ann, "kept", "ann")
    ann.send(b"/save " + os.fsencode(tmp_path) + b"/tr\xe9s.txt\r")
    ann.expect(r"saved \d+ lines? to [\s\S]*tr\\xe9s\.txt")
    assert os.listdir(os.fsencode(tmp_path)) == [b"tr\xe9s.txt"]
    assert b"ann: kept" in (tmp_path / os.fsdecode(b"tr\xe9s.txt")).read_bytes()
    assert not_utf8_problem("/save 'caf\udce9 notes.txt'") is None and not_utf8_problem("/SAVE caf\udce9.txt") is None
    assert not_utf8_problem("/saved caf\udce9") is not None  # no command: a line to send


def test_save_after_clear_writes_the_whole_session_and_says_so(terms, tmp_path):
    """The teacher cleared the projector's screen mid-lesson (/clear), then at the end typed
    /save lesson.txt: it wrote only the lines since the /clear ("saved 1 line"), and nothing said
    the rest of the lesson was left out. /clear takes lines off the screen only: /save writes the
    whole session's transcript, says how many of its lines /clear had taken off the screen, and
    counts in words a person reads ("1 line", "2 lines")."""
    ann, _port = host(terms, rows=30, cols=120)
    say(ann, "before the clear", "ann")
    ann.send("/clear\r")
    ann.expect_gone(r"ann: before the clear")
    say(ann, "only this", "ann")
    ann.send(f"/save {tmp_path / 'lesson.txt'}\r")
    # the notice folds where the temporary path's length puts it: read the transcript's words
    # (left of the sidebar) as one line
    said = re.compile(r"saved (\d+) lines to .+? \((\d+) of them cleared off the screen by /clear\)")
    found = ann.wait_screen(lambda rows: said.search(" ".join(" ".join(row.split("│")[0].split()) for row in rows)),
                            what=said.pattern)  # fmt: skip
    count, cleared = int(found.group(1)), int(found.group(2))  # type: ignore[attr-defined]
    saved = (tmp_path / "lesson.txt").read_text(encoding="utf-8")
    assert "ann: before the clear" in saved and "ann: only this" in saved, saved
    assert saved.index("before the clear") < saved.index("only this")  # in the order said
    assert saved.count("\n") == count and 0 < cleared < count, (count, cleared)
    assert "welcome, ann" in saved  # the lesson's start too


def test_save_to_a_folder_says_so_and_the_chat_goes_on(terms):
    """`/save .` or `/save /` ended the program (an internal error); `/save FOLDER` wrote
    `FOLDER (1)` beside the folder. A folder now gets a message, and nothing is written."""
    ann, _port = host(terms, rows=30, cols=120)
    with short_tmp_dir() as tmp:  # a short path: each message fits on one row (pytest's grow with its runs)
        for folder in (".", "/", tmp):
            ann.send(f"/save {folder}\r")
        ann.wait_screen(lambda rows: "\n".join(rows).count(" is a folder; give a file") == 3, what="three folders refused")
        ann.expect(r"! / is a folder; give a file name: /save /chat\.txt")
        say(ann, "still here", "ann")
        assert os.listdir(tmp) == []
        assert not os.path.exists(f"{tmp} (1)")


def test_save_where_no_file_can_be_made_says_why_and_what_to_do(terms):
    """`/save /proc/x` said only "No such file or directory", as if the file had to exist."""
    ann, _port = host(terms, rows=30, cols=160)
    with short_tmp_dir() as folder:  # a short path: each message fits on one row
        Path(folder, "notes.txt").write_text("", encoding="utf-8")
        tries = [(f"{folder}/missing/chat.txt", f"there is no folder {folder}/missing"), (f"{folder}/notes.txt/chat.txt", f"{folder}/notes.txt is not a folder")]
        if sys.platform == "linux":
            tries.append(("/proc/chat.txt", "no file can be made in /proc"))
        for path, why in tries:
            ann.send(f"/save {path}\r")
            ann.expect(re.escape(f"! could not save to {path}: {why}; choose another path"))
        say(ann, "still here", "ann")
        assert os.listdir(folder) == ["notes.txt"]


def test_save_and_tab_where_a_folder_may_not_be_opened_or_a_user_is_unknown_keep_the_chat(terms, open_tmp):
    """A student typed `/save /home/amy/locked/chat.txt` (another user's folder, 0700): the full
    screen ended with "internal error (PermissionError)" (Path.is_dir raises there on Python
    3.11); `/save ~nobody_here/chat.txt` and Tab after `/send ~nobody_here/` did the same
    (RuntimeError: Path.expanduser, for a user that does not exist). Each is now an answer and
    the chat goes on. Run as nobody, so root's folder is closed to the program (setpriv)."""
    second_account_or_skip()  # root, setpriv, and a Python that nobody may run
    locked = open_tmp / "amy"
    (locked / "locked").mkdir(parents=True)
    locked.chmod(0o700)  # root's: nobody may not look inside
    home = open_tmp / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", sys.executable, "-m", "lanchat",
                 "serve", "--port", "0", "--host", "127.0.0.1", "--name", "ann", "--no-history"]
    folders = {"HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_STATE_HOME": str(home), "XDG_CONFIG_HOME": str(home)}
    ann = TermProc(argv=as_nobody, rows=30, cols=160, cwd=home, env=folders)
    terms.append(ann)
    ann.expect(r"ann │ host")
    target = locked / "locked" / "chat.txt"
    ann.send(f"/save {target}\r")
    ann.expect(re.escape(f"! could not save to {target}: Permission denied; choose another path"))
    ann.send("/save ~nobody_here/chat.txt\r")
    ann.expect(re.escape(f"! could not save to {home}/~nobody_here/chat.txt: there is no folder"))
    ann.send("/send ~nobody_here/\t")
    ann.expect(r"> /send ~nobody_here/")
    ann.send("\x15")  # Ctrl-U: the line typed goes
    ann.expect_gone(r"> /send")
    say(ann, "still here", "ann")
    assert "internal error" not in "\n".join(ann.lines)


def cells_of(term: TermProc) -> list:
    with term._changed:
        return [term.screen.buffer[y][x] for y in range(term.screen.lines) for x in range(term.screen.columns)]


def test_no_color_means_no_colour(terms):
    ann, _port = host(terms, env={"NO_COLOR": "1"})
    say(ann, "plain please", "ann")
    coloured = [cell for cell in cells_of(ann) if cell.fg != "default" or cell.bg != "default"]
    assert not coloured, coloured[:5]
    assert any(cell.reverse for cell in cells_of(ann))  # the status line stands out in reverse video


@pytest.mark.parametrize("term_type", ["xterm-256color", "xterm"])
def test_every_coloured_letter_reads_on_a_light_theme(terms, term_type):
    """At a projector with black text on white, the join address (the host's start-up lines),
    your own name and lines were #d0d0d0 to #ffffff, and on an 8-colour terminal white:
    invisible. Every letter drawn on the terminal's own background is now its own foreground or
    a mid-tone (3:1 or more against white); no white or black on an 8-colour one."""
    from test_ui_render import WHITE, contrast

    ann, port = host(terms, env={"TERM": term_type})
    bob = join(terms, port, "bob")
    say(bob, "hello ann", "bob")
    bob.send("/me waves\r")
    ann.expect(r"\* bob waves")
    say(ann, "hello bob", "ann")
    ann.send("/nosuch\r")
    ann.expect(r"! unknown command")
    letters = [cell for cell in cells_of(ann) if cell.data.strip() and cell.bg == "default" and cell.fg != "default"]
    assert letters  # times, names, notices, the prompt
    if term_type == "xterm":
        assert not [cell for cell in letters if cell.fg in ("white", "black")], "white or black text"
        return
    faint = {cell.fg for cell in letters if contrast(tuple(bytes.fromhex(cell.fg)), WHITE) < 3.0}  # type: ignore[arg-type]
    assert not faint, faint


def test_address_shows_again_how_to_join_at_a_small_screen(terms):
    """At a projector (60 columns) the join commands `serve` printed scrolled away after a few
    joins, and nothing showed them again: /address does (a client: where it is connected)."""
    ann, port = host(terms, rows=20, cols=60)
    bob = join(terms, port, "bob", rows=20, cols=60)
    ann.send("/clear\r")
    ann.wait_screen(lambda rows: "python -m lanchat connect" not in "\n".join(rows), what="the join lines gone")
    ann.send("/address\r")
    ann.expect(rf"python -m lanchat connect 127\.0\.0\.1 {port} *\n")
    ann.expect(rf"nc 127\.0\.0\.1 {port}")
    bob.send("/address\r")
    bob.expect(rf"connected to 127\.0\.0\.1:{port}")


def test_the_bots_swatch_in_its_exact_colour_and_a_clickable_link(terms):
    from test_colourbot_cli import seeded_colours

    ann, _port = host(terms, "--bot", "colour", "--bot-seed", "7", cols=160, env={"COLORTERM": "truecolor", "VTE_VERSION": "7600"})
    ann.expect(r"What mood are you in\?")
    ann.send("/mood cheerful\r")
    first = seeded_colours(7, 1)[0]
    ann.expect(rf"try #{first}")
    exact = first.lower()
    wait = lambda rows: any(c.data == "█" and c.fg == exact for c in cells_of(ann))  # noqa: E731
    ann.wait_screen(lambda rows: wait(rows), what=f"a swatch in #{first}")
    link = f"https://www.computerhope.com/cgi-bin/htmlcolor.pl?c={first}"
    assert f"\x1b]8;;{link}\x1b\\".encode() in bytes(ann.raw)


def test_links_are_plain_text_where_the_terminal_may_not_know_osc_8(terms):
    ann, _port = host(terms, "--bot", "colour", "--bot-seed", "7", cols=160)
    ann.send("/mood cheerful\r")
    ann.expect(r"try #")
    assert b"\x1b]8;;" not in bytes(ann.raw)


def test_plain_mode_at_a_terminal_keeps_what_you_type_below_incoming_lines(terms):
    ann, port = host(terms)
    bob = bob_in_a_shell(terms, port, '{bob} --plain; echo "exit=$?"; stty -a; echo STTY-DONE')
    bob.expect(r"welcome, bob")
    bob.send("half typ")
    bob.expect(r"half typ")
    say(ann, "an interruption", "ann")
    bob.expect(r"ann: an interruption")
    rows = bob.lines
    incoming = next(row for row in rows if "ann: an interruption" in row)
    assert "half typ" not in incoming  # the incoming line is whole
    assert rows.index(incoming) < next(i for i, row in enumerate(rows) if row.startswith("half typ"))  # typing below it
    bob.send("ed\x7f\x7fed")  # Backspace works on our own echo
    bob.send("\r")
    ann.expect(r"bob: half typed")
    bob.send("\x04")  # Ctrl-D on an empty line: leave, and the terminal is given back
    bob.expect("STTY-DONE")
    stty = bob.text[bob.text.rfind("exit=") :]
    assert "exit=0" in stty and re.search(r"(?<![-\w])icanon\b", stty) and re.search(r"(?<![-\w])echo\b", stty) and re.search(r"(?<![-\w])icrnl\b", stty), stty


def test_a_line_with_bytes_that_are_not_utf8_is_refused_alike_on_both_screens_not_sent_garbled(terms):
    """A terminal set to Latin-1 under a UTF-8 locale sends 'café' as caf\\xe9: each such byte was
    read as U+FFFD and the line went to the room as 'caf�' from --plain and from the full
    screen alike, without a word. Both refuse it now, saying why; the full screen keeps it in the
    input line to mend. (A /send path keeps it: it finds such a file, test_files_cli.)"""
    ann, port = host(terms)
    bob = TermProc("connect", "127.0.0.1", str(port), "--name", "bob", "--plain")
    terms.append(bob)
    bob.expect(r"welcome, bob")
    bob.send(b"caf\xe9 au lait\r")
    bob.expect(r"! not sent: \\xNN marks a byte that is not UTF-8 \(a terminal set to")
    ann.send(b"th\xe9\r")
    ann.expect(r"not sent: \\xNN marks a byte that is not UTF-8 \(a terminal[\s\S]*you typed is kept")
    ann.wait_screen(lambda rows: rows[-1].startswith("> th\\xe9"), what="the line kept in the input line, the byte as \\xe9")
    ann.send("\x15ok\r")  # Ctrl-U: mended
    bob.expect(r"ann: ok")
    assert "ann: th" not in bob.text and "bob: caf" not in ann.text


def test_send_lines_pasted_on_the_full_screen_go_as_the_commands_they_are(terms, tmp_path):
    """The teacher pasted three /send lines for three worksheets on the full screen: the paste was
    one input line of three, and Enter answered 'usage: /send PATH [NAME]', the three lost. A paste
    whose every line is a command goes as those commands, one by one, as --plain takes them; a
    multi-line message, and a command with lines after it (a /w of two lines), stay one line."""
    sheets = [tmp_path / f"sheet{n}.txt" for n in (1, 2, 3)]
    for sheet in sheets:
        sheet.write_text(sheet.name)
    ann, port = host(terms, cols=120)
    ann.send("\x1b[200~" + "\n".join(f"/send {sheet}" for sheet in sheets) + "\n\x1b[201~\r")
    for sheet in sheets:
        ann.expect(rf"your file {sheet.name} \(\d+ bytes\) is on offer to the room as #\d")
    assert "usage" not in ann.text
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")  # (a /w to herself says 'that is you')
    ann.send("\x1b[200~/w bob one\ntwo\x1b[201~\r")  # a /w of two lines: one whisper
    ann.expect(r"\[direct\] ann → bob: one\s*│[^\n]*\n\s+two\s")
    bob.close()


def test_a_real_replacement_character_pasted_from_a_web_page_is_sent_as_text_from_both_screens(terms):
    """A page showing a broken character has a real U+FFFD in it: pasted, both front ends read it
    as a byte that is not UTF-8 (they decoded the keyboard with errors='replace') and refused it,
    telling a user already on UTF-8 to set the terminal to UTF-8. It is text: it goes."""
    ann, port = host(terms)
    bob = TermProc("connect", "127.0.0.1", str(port), "--name", "bob", "--plain")
    terms.append(bob)
    bob.expect(r"welcome, bob")
    bob.send("the page says caf\N{REPLACEMENT CHARACTER} menu\r")
    ann.expect(r"bob: the page says caf\N{REPLACEMENT CHARACTER} menu")
    ann.send("\x1b[200~it shows \N{REPLACEMENT CHARACTER} here\x1b[201~\r")
    bob.expect(r"ann: it shows \N{REPLACEMENT CHARACTER} here")
    assert "not sent" not in ann.text + bob.text


def test_a_paste_of_paths_is_not_split_into_unknown_commands_and_comes_back_whole(terms):
    """ann pasted two paths, each line starting with '/': the full screen took them for a paste of
    commands, sent them one by one, and showed an 'unknown command' for each, the text gone. Only
    lines that are each a known command go one by one; these come back to the input line."""
    ann, _port = host(terms, cols=100)
    ann.send("\x1b[200~/home/ann/a.pdf\n/home/ann/b.pdf\x1b[201~\r")
    ann.expect(r"unknown command /home/ann/a\.pdf; /help lists them; what you typed is")
    ann.wait_screen(lambda rows: rows[-1].startswith("> /home/ann/a.pdf\u21b5/home/ann/b.pdf"), what="the paste back in the input line")
    assert ann.text.count("unknown command") == 1


def test_a_direct_message_to_a_mistyped_name_comes_back_to_the_input_line(terms):
    """ann wrote bob a long direct message and mistyped his name: 'nobody called bbo is here',
    and what she had typed was gone. It comes back to the input line, as a line refused as not
    her turn does; one that went is not given back by a later refusal (/whois nobody)."""
    ann, port = host(terms, cols=100)
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
    ann.expect(r"bob joined")
    ann.send("/w bbo the answer to question 3 is in chapter 2\r")
    ann.expect(r"nobody called 'bbo' is here; what you typed is kept")
    ann.wait_screen(lambda rows: rows[-1].startswith("> /w bbo the answer"), what="the whisper back in the input line")
    ann.send("\x15/w bob the answer to question 3 is in chapter 2\r")
    bob.expect(ev.Direct, text="the answer to question 3 is in chapter 2")
    ann.send("/whois nobody\r")
    ann.expect(r"nobody called 'nobody' is known here")
    assert ann.lines[-1].rstrip() == ">"
    bob.close()


def test_a_direct_message_is_given_back_only_for_the_refusal_that_names_its_recipient(terms):
    """A /r with nobody to reply to, or a /w with no text, never went to the server, yet each was
    kept as the whisper waiting for its answer: the next 'nobody called ...' (/kick zed) put the
    old /r back in the input line. And a paste of /kick zed then /w bbo ...: the kick's refusal
    took the whisper's give-back. Only a whisper sent is waited for, by the name it went to."""
    ann, _port = host(terms, cols=100)
    ann.send("/r hi\r")
    ann.expect(r"nobody has sent you a direct message yet")
    ann.send("/w zed\r")
    ann.expect(r"usage: /w NAME TEXT")
    ann.send("/kick zed\r")
    ann.expect(r"nobody called 'zed' is here")
    assert ann.lines[-1].rstrip() == ">"
    assert "what you typed is kept" not in ann.text
    ann.send("\x1b[200~/kick zed\n/w bbo the answer is in chapter 2\x1b[201~\r")
    ann.expect(r"nobody called 'bbo' is here; what you typed is kept")
    assert ann.text.count("what you typed is kept") == 1
    ann.wait_screen(lambda rows: rows[-1].startswith("> /w bbo the answer"), what="the whisper back in the input line")


@pytest.mark.parametrize("name", ["o'brein", "O'Brein", 'say "hi"', "back\\slash", "\u00e9l\u00e8ve", "x" * 50])
def test_the_refusal_naming_a_whisper_recipient_is_found_however_the_server_quotes_the_name(name):
    """The server writes the name in a refusal as Python quotes it ({name[:40]!r}): a name with
    an apostrophe reads "nobody called \"o'brein\" is here", which the screen did not read as
    naming o'brein, so the refused /w o'brein ... was lost, not given back."""
    from lanchat.ui.sending import _names

    for refusal in (f"nobody called {name[:40]!r} is here", f"nobody called {name[:40]!r} is muted"):
        assert _names(refusal, name), refusal
        assert _names(refusal, name.upper()), refusal  # as the room compares names
        assert not _names(refusal, "zed"), refusal
    assert not _names("nobody called 'zed' is here", name)


def test_a_hostile_refusal_full_of_quotes_and_backslashes_is_read_at_once():
    """A refusal from a hostile server of 64 KiB of '\\ (a frame's most): the quoted-name pattern
    read every quote to the text's end, so the screen froze for 8 s after a /w (quadratic: a slower
    machine, longer). A quoted name is at most 400 characters (40 cut, each at most \\U0010ffff): now 0.14 s.
    Decided by how the cost grows, not by a time: a frame's worth must cost about 10 times a tenth
    of it (linear), not 100 times (quadratic: 85 measured with the unbounded pattern). CPU time of
    this thread, so a loaded machine slows both alike."""
    import time

    from lanchat.ui.sending import _names

    def cpu_cost(text: str, runs: int) -> float:
        best = float("inf")
        for _ in range(runs):
            started = time.thread_time()
            assert not _names(text, "bob")
            best = min(best, time.thread_time() - started)
        return best

    for pair in ("'\\", '"\\'):
        tenth, whole = cpu_cost(pair * 3200, runs=3), cpu_cost(pair * 32000, runs=1)
        assert whole < 40 * max(tenth, 1e-4), f"{pair!r}: a frame's worth cost {whole / max(tenth, 1e-4):.0f} times a tenth of it"
    assert _names("nobody called " + repr("\U0010ffff" * 32) + " is here", "\U0010ffff" * 32)


def test_a_refusal_quoting_an_invalid_escape_is_read_without_a_warning_on_the_screen():
    """_names read a refusal's quoted words with ast.literal_eval, which warns of an invalid
    escape ('\\d': SyntaxWarning on Python 3.12+, DeprecationWarning before), and a warning
    printed goes onto the curses screen. Read quietly now, and still not taken for a name."""
    import warnings

    from lanchat.ui.sending import _names

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not _names("nobody called '\\d' is here", "d")
        assert _names("nobody called '\\\\d' is here", "\\d")
    assert caught == [], [str(warning.message) for warning in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as a test run with -W error has it: the same answer
        assert not _names("nobody called '\\d' is here", "d")


def test_a_returning_user_sees_history_in_time_order_with_days(terms, tmp_path):
    import time as _time

    from helpers import first_release_history

    now = _time.time()
    two_days_ago = now - 2 * 86_400
    rows = [(two_days_ago + n, "bob", None, f"old news {n}") for n in range(3)] + [(now - 60 + n, "bob", None, f"recent {n}") for n in range(2)]
    store = first_release_history(tmp_path / "history.db", rows)
    ann, _port = host(terms, "--history", str(store), "--replay", "2", rows=30)
    ann.expect(r"\[History\] bob: recent 1")
    assert "old news" not in ann.text
    ann.send("/history\r")
    wanted = ("old news 0", "old news 2", "recent 0", "recent 1")
    ann.wait_screen(lambda rows: all(any(text in row for row in rows) for text in wanted), what="both pages")
    screen = ann.lines
    order = [next(i for i, row in enumerate(screen) if text in row) for text in wanted]
    assert order == sorted(order), screen  # the earlier page went above, in time order
    day_rule = next(i for i, row in enumerate(screen) if re.search(r"── \w+day \d+ \w+ ──", row))
    assert order[1] < day_rule < order[2]  # a day-change line between two days ago and today
    moment = _time.localtime(two_days_ago)
    assert re.search(rf"{moment.tm_mday} {_time.strftime('%b', moment)} \d\d:\d\d \[History\] bob: old news 0", ann.text)


def test_a_file_transfer_is_one_line_in_the_transcript_and_progress_in_the_status_line(terms, tmp_path):
    with short_tmp_dir() as folder:  # a short path: "saved PATH (...)" on one row (pytest's paths grow with its runs)
        downloads = Path(folder) / "downloads"
        downloads.mkdir()
        _transfer_lines(terms, tmp_path, downloads)


def _transfer_lines(terms, tmp_path, downloads):  # noqa: ANN001, ANN202
    ann, port = host(terms, rows=30, cols=140)
    bob = TermProc("connect", "127.0.0.1", str(port), "--name", "bob", "--downloads", str(downloads), rows=30, cols=140)
    terms.append(bob)
    bob.expect("bob │ client")
    small = tmp_path / "tiny.txt"
    small.write_bytes(b"hello")
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (3 * 4096))  # 3 MiB
    ann.send(f"/send {small}\r")
    ann.expect(r"your file tiny\.txt \(5 bytes\) is on offer to the room as #1")
    ann.send(f"/send {big}\r")
    ann.expect(r"your file big\.bin \(3\.0 MiB\) is on offer to the room as #2")
    for line in ("sending", "sent tiny", "sent big", "25%", "50%"):
        assert line not in ann.text, line  # nothing but the offer's line
    bob.expect(r"ann offers big\.bin \(3\.0 MiB\); type /get 2")
    bob.send("/get 1\r")
    bob.expect(r"tiny\.txt \(5 bytes in \d+ ms;")  # no speed for five bytes
    bob.expect(r"SHA-256 checked\)")
    bob.send("/get 2\r")
    bob.expect(r"saved .*big\.bin \(3\.0 MiB in ")
    assert "receiving" not in bob.text and "%" not in "\n".join(bob.lines[:-2])
    assert (downloads / "big.bin").read_bytes() == big.read_bytes()


def test_max_clients_counts_people_besides_the_host_who_hears_of_refusals(terms):
    ann, port = host(terms, "--max-clients", "1")
    join(terms, port, "bob")  # the one client: in
    ann.expect("bob joined")
    cat = TermProc("connect", "127.0.0.1", str(port), "--name", "cat")
    terms.append(cat)
    assert cat.wait() == 1
    assert "the room is full (1 person)" in bytes(cat.raw).decode("utf-8", "replace")
    ann.expect(r"cat was turned away: the room is full")


def test_me_nick_away_topic_and_typing_between_two_screens(terms):
    ann, port = host(terms, cols=120)
    bob = join(terms, port, "bob", cols=120)
    ann.expect("bob joined")
    bob.send("/me waves\r")
    ann.expect(r"\* bob waves")
    bob.send("half a tho")  # typing: ann's status line says so, never what
    ann.wait_screen(lambda rows: "bob is typing…" in rows[-2], what="the typing hint")
    assert "half a tho" not in ann.text
    bob.send("\x15/nick bobby\r")
    ann.expect(r"bob is now known as bobby")
    ann.expect(r"bobby\s*│?$|bobby ")  # the roster pane too
    bob.expect(r"you are now known as bobby")
    bob.wait_screen(lambda rows: rows[-2].startswith(" bobby │ client"), what="bob's own status line")
    ann.send("/away at lunch\r")
    bob.expect(r"ann is away: at lunch")
    bob.expect(r"ann \(host, away\)")
    bob.send("/w ann are you there?\r")
    bob.expect(r"ann is away: at lunch \(they will see your message later\)")
    ann.send("/topic lab 3: sockets\r")
    bob.wait_screen(lambda rows: "topic: lab 3: sockets" in rows[-2], what="the topic in the status line")
    ann.wait_screen(lambda rows: "typing" not in rows[-2], timeout=15, what="the typing hint to run out")


def test_a_students_60_column_status_line_keeps_the_topic_cut_short_beside_a_long_name(terms):
    """A student with a long name in a 60-column window: the teacher's topic, too long to fit
    whole, was never shown (the line kept 'client' and the mode instead). It is cut short."""
    teacher, port = host(terms, name="teacher", cols=100)
    name = "Alexandra-Konstantinopoulou"
    student = join(terms, port, name, cols=60)
    teacher.send("/topic fractions and decimals, then the homework for Monday\r")
    student.expect(r"-!- topic: fractions and decimals")  # in the transcript, whole
    status = student.wait_screen(lambda rows: "topic: fractions" in rows[-2] and rows[-2], what="the topic on a 60-column status line")
    assert status == f" {name} │ 2 here │ topic: fractions a… ", status


def test_a_line_typed_and_sent_at_once_leaves_no_typing_hint_behind(terms):
    """Keys and Enter that arrive together (a fast typist, tmux send-keys, a line typed while
    the client was busy): the message ends the typing, so the others' status lines must not
    say "bob is typing…" for seconds after it (the hint used to go out after the message)."""
    ann, port = host(terms, cols=120)
    bob = join(terms, port, "bob", cols=120)
    ann.expect("bob joined")
    bob.send("a whole line at once\r")
    ann.expect(r"bob: a whole line at once")
    bob.send("/away brb\r")  # comes after anything bob sent before it, and clears no hint
    ann.expect(r"bob is away: brb")
    status = ann.lines[-2]
    assert "typing" not in status, status


@pytest.mark.parametrize("how", ["/q", "SIGTERM"])
def test_when_the_chat_is_over_the_status_line_says_so_not_the_old_turn_and_roster(terms, how):
    """The server shut down under a full-screen client: the screen stays until a key, and its
    status line, prompt and roster pane must not go on saying whose turn it was and who is here.
    (--no-reconnect: with rejoining on, the screen waits for the server to come back instead.)"""
    ann, port = host(terms, "--mode", "turn", cols=120)
    bob = join(terms, port, "bob", "--no-reconnect", cols=120)
    ann.expect("bob joined")
    bob.wait_screen(lambda rows: "2 here" in rows[-2] and ("turn" in rows[-2] or "waiting for" in rows[-2]), what="the live status")
    bob.expect(r"│ Here \(2\)")
    bob.expect(r"│▸(ann|bob) ")  # the roster pane marks whose turn it is
    if how == "/q":
        ann.send("/q\r")
        ann.expect(r"type /q again")
        ann.send("/q\r")
    else:
        ann.proc.kill(signal.SIGTERM)
    bob.expect(r"press any key to leave")
    status = bob.wait_screen(lambda rows: "chat over" in rows[-2] and rows[-2], what="the status line saying the chat is over")
    assert re.match(r" bob │ client │ 127\.0\.0\.1:\d+ │ chat over: press any key\s*$", status), status
    assert not bob.lines[-1].startswith("[waiting for"), bob.lines[-1]
    # the roster pane: who was there at the end, titled so, and no turn any more
    bob.expect(r"│ Was here \(2\)")
    assert not re.search(r"│ Here \(|▸", bob.text), bob.text
    bob.resize(24, 140)  # a resize while waiting for the key is not that key (it ended the program)
    border = 140 - render.roster_width(140) - 1
    bob.wait_screen(lambda rows: rows[0][border] == "│" and "chat over" in rows[-2], what="the screen redrawn at the new width")
    assert bob.proc.isalive()
    bob.send(" ")
    assert bob.wait() == 0


@pytest.mark.parametrize("mode", ["full screen", "--plain", "--no-history"])
def test_the_hosts_last_words_say_what_the_history_kept_and_how_to_read_it(terms, mode, tmp_path):
    """After /q the teacher's terminal ended with serve's start line 'history: 88.0 KiB, 0
    messages' and 'the chat is closed': as if the lesson had not been kept, and nothing said how
    to read it. The last words now count what the history keeps at the end and give the command
    that prints it, which does; with --no-history they say nothing of a history."""
    from helpers import Proc, child_env

    data = {"XDG_DATA_HOME": str(tmp_path / "data")}  # the default history's folder, for `lanchat history` after it
    ann = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "ann", *([] if mode == "full screen" else [mode]),
                   rows=24, cols=120, env=data)  # fmt: skip
    terms.append(ann)
    port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(ann.raw)), what="the port").group(1))  # type: ignore[union-attr]
    ann.expect(r"welcome, ann")
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
    bob.send(ev.Say(text="is this kept?"))
    bob.expect(ev.Message, text="is this kept?")
    bob.close()
    ann.expect(r"bob (left|lost connection)")
    ann.send("/q\r")
    assert ann.wait() == 0
    ending = bytes(ann.raw).decode("utf-8", "replace").split("the chat is closed", 1)[1]
    if mode == "--no-history":
        assert "history" not in ending, ending
        return
    told = re.search(r"lanchat: the history keeps 1 message; to read it:\r?\n  python -m lanchat history --port (\d+)\r?\n", ending)
    assert told and int(told.group(1)) == port, ending
    printed = Proc("history", "--port", told.group(1), env=child_env(**data))
    assert printed.wait() == 0
    assert re.search(r"bob: is this kept\?", printed.output), printed.output


# The full screen, its chat just over, held at the moment between the loop's end and the wait
# for a key: the test resizes the window then (the signal is handled, its wake-up left in the
# pipe), and only when told through the FIFO does the program go on to wait for the key.
RESIZED_AS_THE_CHAT_ENDS = """
import sys
from lanchat.session import Line, Session
from lanchat.ui.screen import CursesFrontend

screen = CursesFrontend(Session(name="bob"))
screen.show([Line(kind="system", time=0.0, text="the server shut down: the host closed the chat")])
screen.update()
with open(sys.argv[1]) as fifo:  # blocks here until the test has resized the window
    fifo.read()
screen.wait_for_key("the chat is over: press any key to leave")
screen.close()
print("left the wait")
"""


def _open_writer(fifo: Path) -> int | None:
    """The FIFO's writing end, or None while nobody has its reading end open."""
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader yet
        return None


def test_a_resize_just_before_the_wait_for_a_key_is_drawn_not_lost(terms, tmp_path):
    """The chat ended as the window was resized (under load a pty test saw it 1 run in a few):
    the resize's signal came after the loop's last look and before the wait for a key, whose
    read of the keyboard alone never saw it, so the screen stayed at the old width until a key."""
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    bob = TermProc(cols=100, argv=[sys.executable, "-c", RESIZED_AS_THE_CHAT_ENDS, str(fifo)])
    terms.append(bob)
    bob.expect("the host closed the chat")
    bob.resize(24, 140)
    # the program goes on to wait for a key only now (its end opened: ENXIO until then; a deadline, not a hang)
    go = wait_for(lambda: _open_writer(fifo) if bob.proc.isalive() else pytest.fail("the program ended"), what="the program at its FIFO")
    os.write(go, b"go")
    os.close(go)
    border = 140 - render.roster_width(140) - 1
    bob.wait_screen(lambda rows: "press any key to leave" in "\n".join(rows) and rows[0][border] == "│",
                    what="the screen redrawn at the new width while it waits for a key")  # fmt: skip
    assert bob.proc.isalive()  # the resize is not the key
    bob.send(" ")
    bob.expect("left the wait")
    assert bob.wait() == 0


BRACKETED_PASTE, MOUSE = 2004 << 5, 1000 << 5  # how pyte keeps a private mode (CSI ? N h) in screen.mode


def test_ctrl_z_gives_the_shell_a_sane_terminal_and_fg_takes_it_back(terms):
    """Ctrl-Z left bracketed paste on (a shell that does not use it then read pasted text
    wrapped in ESC [200~ ... ESC [201~) and our window title; after `fg` bash had turned
    bracketed paste off, so a paste of several lines became several messages."""
    ann, port = host(terms)
    # a shell with job control, as at a prompt: lanchat in its own process group; the test
    # answers `read` to run `fg`, after turning bracketed paste off as bash does
    script = 'set -m; {bob}; echo "stopped=$?"; stty -a; echo STTY-DONE; read answer; printf "\\033[?2004l"; fg; echo "exit=$?"'
    bob = bob_in_a_shell(terms, port, script)
    bob.expect(r"bob │ client")
    bob.wait_screen(lambda rows: BRACKETED_PASTE in bob.screen.mode and MOUSE in bob.screen.mode and bob.screen.title == "lanchat: bob", what="our modes and title")
    bob.send("\x1a")  # Ctrl-Z
    bob.wait_screen(lambda rows: b"STTY-DONE" in bytes(bob.raw), what="the shell's turn")
    stty = bytes(bob.raw)[bytes(bob.raw).rfind(b"stopped=") :].decode("utf-8", "replace")
    assert stty.startswith("stopped=148"), stty  # 128 + SIGTSTP: stopped, not ended
    assert re.search(r"(?<![-\w])icanon\b", stty) and re.search(r"(?<![-\w])echo\b", stty) and re.search(r"(?<![-\w])icrnl\b", stty), stty
    assert re.search(r"(?<![-\w])isig\b", stty), stty  # the shell's Ctrl-C is a signal (ours a key: curses.raw)
    assert BRACKETED_PASTE not in bob.screen.mode and MOUSE not in bob.screen.mode
    assert bob.screen.title == ""  # ours taken down (xterm then pops the window's own)
    bob.send("\r")  # `read` done: the shell runs fg
    bob.wait_screen(lambda rows: BRACKETED_PASTE in bob.screen.mode and MOUSE in bob.screen.mode and bob.screen.title == "lanchat: bob", what="our modes and title back")
    bob.expect(r"bob │ client")
    say(bob, "back again", "bob")
    ann.expect(r"bob: back again")
    bob.send("\x1b[200~pasted \x03Ctrl-C\x1b[201~\r")  # our modes after fg too: Ctrl-C a key, in a paste dropped
    ann.expect(r"bob: pasted Ctrl-C")
    bob.send("/q\r")
    bob.expect(r"exit=0")
    raw = bytes(bob.raw)  # the window's title pushed as often as popped: its own back at the end
    assert raw.count(b"\x1b[22;0t") == raw.count(b"\x1b[23;0t") == 2


@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_after_a_stop_that_was_not_ctrl_z_fg_takes_the_terminal_back(terms, plain):
    """`kill -STOP` (a debugger, a stop from elsewhere), then fg: the shell had put its own modes
    back meanwhile (bash does), and nothing took ours again, so each key was echoed where it was
    typed (--plain: twice) and reached the chat only with Enter, Ctrl-C a signal. Here the shell's
    turn does what bash does (stty sane, bracketed paste off); after fg our modes are back, and
    the full screen drawn again over the shell's lines."""
    import termios

    import psutil

    ann, port = host(terms)
    script = 'set -m; {bob}%s; echo "stopped=$?"; read answer; stty sane; printf "\\033[?2004l"; echo FG-NOW; fg; echo "exit=$?"'
    bob = bob_in_a_shell(terms, port, script % (" --plain" if plain else ""))
    bob.expect(r"welcome, bob" if plain else r"bob │ client")
    chat = psutil.Process(bob.proc.pid).children()[0]  # the shell's child: lanchat
    try:
        chat.send_signal(signal.SIGSTOP)
        bob.expect(r"stopped=147")  # 128 + SIGSTOP: stopped, not ended
        bob.send("\n")  # `read` done (the terminal in our modes still: no CR -> LF): stty sane, fg

        def taken_back(rows: list[str]) -> bool:  # bracketed paste asked for again, after the shell's fg
            raw = bytes(bob.raw)
            return "FG-NOW" in raw.decode("utf-8", "replace") and b"\x1b[?2004h" in raw[raw.find(b"FG-NOW") :]

        bob.wait_screen(taken_back, what="our modes back")
        if not plain:  # the screen drawn again over the shell's lines
            bob.wait_screen(lambda rows: "stopped=" not in "\n".join(rows), what="the screen drawn again")
        attrs = termios.tcgetattr(bob.proc.fd)
        assert not attrs[3] & (termios.ECHO | termios.ICANON | termios.ISIG), "the shell's modes kept"
        bob.send("back again\r")
        ann.expect(r"bob: back again")
        bob.send("/q\r")
        bob.expect(r"exit=0")
    finally:  # never left stopped or in the shell's modes, where the test's end waited for it
        with contextlib.suppress(psutil.NoSuchProcess):
            chat.kill()  # (by then it has exited, unless the test failed)


@pytest.mark.parametrize("plain", [False, True], ids=["full screen", "--plain"])
def test_a_ctrl_z_the_kernel_dropped_does_not_hide_the_next_stop_from_elsewhere(terms, plain):
    """lanchat leading its own session (tmux new-window, xterm -e: as this pty's child is) gets
    no stop from Ctrl-Z (the kernel drops a default SIGTSTP to an orphaned group) and so no
    SIGCONT; the mark "the next SIGCONT is our own stop's" stayed, and the next stop from
    elsewhere (kill -STOP, the shell's modes put back, kill -CONT) was not taken back."""
    import termios

    ann, port = host(terms)
    if plain:
        bob = TermProc("connect", "127.0.0.1", str(port), "--name", "bob", "--plain", rows=24, cols=100)
        terms.append(bob)
        bob.expect(r"welcome, bob")
    else:
        bob = join(terms, port, "bob")
        bob.expect(r"bob │ client")
    asked = bob.raw.count(b"\x1b[?2004h")
    bob.send("\x1a")  # Ctrl-Z: the terminal given back and taken again at once, no stop
    wait_for(lambda: bob.raw.count(b"\x1b[?2004h") > asked, what="the terminal taken again after the dropped stop")
    os.kill(bob.proc.pid, signal.SIGSTOP)  # the lanchat this test started, by its PID
    try:
        shells = termios.tcgetattr(bob.proc.fd)
        shells[3] |= termios.ECHO | termios.ICANON | termios.ISIG  # what bash puts back meanwhile
        termios.tcsetattr(bob.proc.fd, termios.TCSANOW, shells)
    finally:
        os.kill(bob.proc.pid, signal.SIGCONT)
    wait_for(lambda: not termios.tcgetattr(bob.proc.fd)[3] & (termios.ECHO | termios.ICANON | termios.ISIG),
             what="our modes taken back after the stop from elsewhere")  # fmt: skip
    if plain:
        bob.send("back again\r")
    else:
        say(bob, "back again", "bob")
    ann.expect(r"bob: back again")


def test_f2_on_a_narrow_screen_says_why_no_list_shows(terms):
    """F2 shows or hides who is here, but only from 100 columns: below that it did nothing at
    all. A press now says why, once: each press added another notice, and a few presses filled
    the transcript; pressed again after other lines, it says it again. The pane still toggles
    once the window is wide enough."""
    ann, _port = host(terms, rows=24, cols=80)
    notice = "the list of who is here needs at least 100 columns; /who lists them"
    ann.send("\x1bOQ")  # F2 (screen-256color's kf2)
    ann.expect(notice)
    for _ in range(3):
        ann.send("\x1bOQ")
    ann.send("x")  # the keys are read in order: once x is in the input line, the presses were too
    ann.wait_screen(lambda rows: rows[-1].startswith("> x"), what="x in the input line")
    assert ann.text.count(notice) == 1, ann.text
    ann.send("\x7f")
    say(ann, "now a line", "ann")
    ann.send("\x1bOQ")
    ann.wait_screen(lambda rows: "\n".join(rows).count(notice) == 2, what="the notice again, after a line")
    ann.resize(24, 120)
    ann.expect(r"│ Here \(1\)")
    ann.send("\x1bOQ")
    ann.expect_gone(r"│ Here \(1\)")
    assert ann.text.count(notice) == 2


def test_a_history_page_that_lands_above_the_screen_is_scrolled_into_view(terms, tmp_path):
    """In class a student's /history page goes above everything since the replay (30 joins,
    the lesson): it landed off screen and all the student saw was 'end of history (5 shown)'.
    The screen now scrolls up to the page, its newest line at the bottom; End comes back."""
    import time as _time

    from helpers import first_release_history

    now = _time.time()
    rows = [(now - 600 + n, "bob", None, f"earlier {n}") for n in range(8)] + [(now - 60, "bob", None, "recent")]
    store = first_release_history(tmp_path / "history.db", rows)
    ann, _port = host(terms, "--history", str(store), "--replay", "1", rows=12, cols=80)
    ann.expect(r"end of history \(1 shown")
    for number in range(12):  # the lesson goes on below the replay: it leaves the screen
        say(ann, f"lesson line {number}", "ann")
    ann.expect_gone(r"\[History\] bob: recent")
    ann.send("/history 3\r")
    # the page in view, and the status line saying how to get back (drawn after it: wait for both)
    page = ann.wait_screen(
        lambda rows: all(any(f"earlier {n}" in row for row in rows) for n in (5, 6, 7)) and "scrolled up" in rows[-2] and rows,
        what="the page and the status line",
    )
    assert "earlier 4" not in "\n".join(page)  # the page asked for, not more
    ann.send("\x1b[4~")  # End
    ann.expect(r"end of history \(3 shown")
    ann.expect_gone(r"earlier 7")


def test_a_class_joining_and_leaving_at_once_is_one_line_each_and_the_join_address_stays(terms, tmp_path):
    """26 students joining filled the teacher's projector (100x30) with 26 'joined' lines that
    pushed the join address off the screen; the same when they left. A burst is one line now,
    updated in place as it grows; /save keeps every name."""
    from test_ui_fold import CLASS

    ann, port = host(terms, rows=30, cols=100)
    pupils = ["abe", *CLASS[1:]]
    clients = []
    try:
        for name in pupils:  # one after another, as a class comes in: each waits for its welcome
            clients.append(RawClient(Endpoint(host="127.0.0.1", port=port), name=name))
        burst = ann.expect(r"-!- 26 joined: abe, bob, cat, dan, [a-z, ]+ and (\d+) more \(27 here\)")
        assert "zed joined" not in ann.text and ann.text.count(" joined") == 1, ann.text
        assert "python -m lanchat connect 127.0.0.1" in ann.text  # how to join is still on screen
        say(ann, "welcome, class", "ann")
        for client in clients:
            client.send(ev.Bye())
        ann.expect(r"-!- 26 left: abe, bob, cat, dan, [a-z, ]+ and \d+ more \(1 here\)")
        assert ann.text.count(" left") == 1 and "welcome, class" in ann.text, ann.text
    finally:
        for client in clients:
            client.close()
    assert 0 < int(burst.group(1)) < 26
    ann.send(f"/save {tmp_path / 'lesson.txt'}\r")
    ann.expect(r"saved \d+ lines to ")
    saved = (tmp_path / "lesson.txt").read_text(encoding="utf-8")
    assert f"-!- 26 joined: {', '.join(pupils[:-1])} and zed (27 here)\n" in saved  # each waited for its welcome
    left = re.search(r"-!- 26 left: (.+) and (\w+) \(1 here\)\n", saved)  # the byes may cross on their way
    assert left and sorted([*left.group(1).split(", "), left.group(2)]) == sorted(pupils), saved


def test_projector_mode_never_draws_a_students_direct_message_until_turned_off_even_replayed(terms, tmp_path):
    """The host's screen is on the projector: `/w teacher I'm stuck` showed to the class, and so
    did the replay of last lesson's direct messages after a restart. With --projector not one
    byte of the text reaches the host's terminal, /find does not find it, and /projector shows it
    where it was."""
    secret, word = "I'm stuck on the quokka exercise", b"quokka"
    history = str(tmp_path / "h.sqlite3")
    teacher, port = host(terms, "--projector", "--history", history, name="teacher", cols=64)
    teacher.wait_screen(lambda rows: rows[-2].rstrip().endswith("│ projector"), what="projector in the status line")
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
    bob.send(ev.Whisper(to="teacher", text=secret))
    bob.send(ev.Say(text="after it"))
    teacher.expect(r"\[direct\] bob → teacher: \(hidden: /projector to show\)\s*\n.*bob: after it")
    assert word not in bytes(teacher.raw)  # never drawn, not even for a moment
    teacher.send("/find quokka\r")
    teacher.expect(r"'quokka' is not in the transcript")
    with short_tmp_dir() as folder:  # a file is not on the projector: /save writes it all, and says so
        teacher.send(f"/save {folder}/lesson.txt\r")
        teacher.expect(r"the\s+direct\s+messages\s+in\s+full")
        assert f"bob -> teacher (direct): {secret}" in Path(folder, "lesson.txt").read_text(encoding="utf-8")
    teacher.send("/projector\r")
    teacher.expect(r"projector mode off")
    teacher.expect(re.escape(f"[direct] bob → teacher: {secret}") + r"\s*\n.*bob: after it")  # in place
    # the status line is drawn after the transcript: read it once it has been (it read 1 run in 5)
    teacher.wait_screen(lambda rows: "projector" not in rows[-2], what="the status line without 'projector'")
    bob.close()
    teacher.send("/q!\r")
    assert teacher.wait() == 0
    teacher, port = host(terms, "--projector", "--history", history, name="teacher", cols=64)
    teacher.expect(r"\[History\] bob → teacher: \(hidden: /projector to show\)")
    teacher.expect(r"end of history")
    assert word not in bytes(teacher.raw)
    teacher.send("/projector\r")
    teacher.expect(re.escape(f"[History] bob → teacher: {secret}"))


def test_on_the_projector_up_and_ctrl_r_never_bring_back_a_direct_message_sent(terms):
    """The teacher whispered bob his mark, then pressed Up for her last line to the class: the
    whisper came back into the input line on the projector. In projector mode recall passes over
    lines sent to one person; with it off they come back."""
    teacher, port = host(terms, "--projector", name="teacher", cols=64)
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
    teacher.expect(r"bob joined")
    for line in ("open page 12", "/w bob your mark is 12"):
        teacher.send(line + "\r")
        bob.expect(ev.Message if line == "open page 12" else ev.Direct)
    teacher.send("\x1b[A")  # Up
    teacher.wait_screen(lambda rows: rows[-1].startswith("> open page 12"), what="the line to the room recalled")
    teacher.send("\x15\x12mark")  # Ctrl-U, then Ctrl-R: search for "mark"
    teacher.wait_screen(lambda rows: "mark" in rows[-1], what="the search typed")
    assert "your mark" not in teacher.lines[-1]
    teacher.send("\x07/projector\r")  # Ctrl-G gives up the search
    teacher.expect(r"projector mode off")
    teacher.send("\x1b[A\x1b[A")  # past /projector
    teacher.wait_screen(lambda rows: "/w bob your mark is 12" in rows[-1], what="the whisper recalled, projector mode off")
    bob.close()


def test_who_in_a_room_of_160_with_long_away_reasons_is_kept_whole_on_the_full_screen(tmp_path):
    """/who's answer in a room of 160 people, many away with a long reason, is one line of some
    36,000 characters: the full screen cut it at 4,000 (as it cuts a fake server's message), so
    /who named a sixth of the room and /save kept no more. The client's own lines are kept whole,
    over several lines of the scrollback. The server here stands in for a real room of 160."""
    people = [f"student{n:03}" for n in range(160)]
    reason = "at the library until the end of the lesson, then at the bus stop; " * 3

    def on_event(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.Who):
            server.send(*(ev.Away(name=name, reason=reason[:200], time=1_700_000_000.0) for name in people))
            server.send(ev.Roster(members=("ann", *people)))

    server = StandInServer(on_event)
    ann = TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--no-typing", rows=24, cols=100)
    try:
        ann.expect(r"welcome, ann")
        ann.send("/who\r")
        ann.expect(r"Here \(161\)")  # the roster pane, drawn with /who's answer
        ann.send(f"/save {tmp_path / 'who.txt'}\r")
        ann.expect(r"saved \d+ lines to ")
        saved = (tmp_path / "who.txt").read_text(encoding="utf-8")
        assert "not kept" not in saved
        assert saved.count(f" (away: {reason[:200]})") == 160  # each kept line ends after a name's ", "
        for name in people:
            assert f"{name} (away: {reason[:200]})" in saved, name
    finally:
        ann.stop()
        server.close()


def test_projector_mode_hides_a_private_files_name_in_the_servers_words_about_it_too(tmp_path):
    """The host's screen is on the projector: a file offered to one person showed without its
    name, but the server's own lines about it ("cannot read NAME", "NAME arrived damaged", a
    refused offer) named it to the class. They hide it too, and /projector shows it again. The
    server here stands in for one whose store failed (a file gone, a damaged upload, a quota)."""
    (tmp_path / "grades_cy.pdf").write_bytes(b"marks for cy")
    (tmp_path / "grades_ann.pdf").write_bytes(b"marks for ann")

    def on_event(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.GetFile):
            server.send(ev.FileError(id=event.id, message="cannot read grades_dee.pdf (it is no longer on offer)"))
        elif isinstance(event, ev.OfferFile) and event.name == "grades_cy.pdf":
            server.send(ev.UploadReady(ref=event.ref, id="9", binary=True))
        elif isinstance(event, ev.OfferFile):
            server.send(ev.FileError(ref=event.ref, message=f"refused: {event.name} is 3.0 GB; this server takes files up to 2.0 GB"))
        elif isinstance(event, ev.UploadDone):
            server.send(ev.FileError(id=event.id, message="grades_cy.pdf arrived damaged (SHA-256 mismatch) and was discarded"))

    server = StandInServer(on_event)
    teacher = TermProc("connect", "127.0.0.1", str(server.port), "--name", "teacher", "--projector", "--no-typing",
                       "--downloads", str(tmp_path), rows=30, cols=160)  # fmt: skip
    try:
        teacher.expect(r"welcome, teacher")
        server.send(ev.Offered(id="7", name="grades_dee.pdf", size=10, sha256="0" * 64, sender="bob", to="teacher", time=1.0))
        teacher.expect(r"bob offers you a file \(name hidden")
        teacher.send("/get 7\r")
        teacher.expect(r"cannot read \(name hidden: /projector to show\) \(it is no longer on offer\)")
        teacher.send(f"/send {tmp_path / 'grades_cy.pdf'} bob\r")
        teacher.expect(r"\(name hidden: /projector to show\) arrived damaged \(SHA-256 mismatch\)")
        teacher.send(f"/send {tmp_path / 'grades_ann.pdf'} ann\r")
        teacher.expect(r"refused: \(name hidden: /projector to show\) is 3\.0 GB")
        assert "grades_" not in teacher.text  # (what was typed went with the input line)
        assert b"grades_dee" not in bytes(teacher.raw)  # never typed: not one byte of it was drawn
        teacher.send("/projector\r")
        teacher.expect(r"cannot read grades_dee\.pdf \(it is no longer on offer\)")
        teacher.expect(r"grades_cy\.pdf arrived damaged")
        teacher.expect(r"refused: grades_ann\.pdf is 3\.0 GB")
    finally:
        teacher.stop()
        server.close()


def test_on_the_projector_a_file_offered_to_one_student_is_hidden_in_the_words_of_every_hidden_line(terms, tmp_path):
    """The teacher sent amy her marks with the screen on the projector: the class read "your file
    (hidden) is on offer to amy as #1", where every other hidden line says how to show it. It says
    "(name hidden: /projector to show)" as they do, and /projector shows the name."""
    (tmp_path / "marks_amy.pdf").write_bytes(b"marks for amy")
    teacher, port = host(terms, "--projector", name="teacher", cols=120)
    amy = RawClient(Endpoint(host="127.0.0.1", port=port), "amy")
    try:
        teacher.expect(r"amy joined")
        teacher.send(f"/send {tmp_path / 'marks_amy.pdf'} amy\r")
        teacher.expect(r"your file \(name hidden: /projector to show\) is on offer to amy as #\d")
        assert "(hidden) is on offer" not in teacher.text
        assert "marks_amy" not in teacher.text  # (what was typed went with the input line)
        teacher.send("/projector\r")
        teacher.expect(r"your file marks_amy\.pdf \(13 bytes\) is on offer to amy as #\d")
    finally:
        amy.close()


def test_on_the_projector_up_never_brings_back_a_whisper_pasted_under_another_command(terms):
    """The teacher pasted `/who` and `/w bob your mark is 12`: they went one by one, but Up
    brought both back into the input line on the projector (the paste is one history entry)."""
    teacher, port = host(terms, "--projector", name="teacher", cols=64)
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
    teacher.expect(r"bob joined")
    teacher.send("open page 12\r")
    bob.expect(ev.Message)
    teacher.send("\x1b[200~/who\r/w bob your mark is 12\x1b[201~\r")
    bob.expect(ev.Direct)
    teacher.send("\x1b[A")  # Up
    teacher.wait_screen(lambda rows: rows[-1].startswith("> open page 12"), what="the line to the room recalled")
    assert "your mark" not in teacher.lines[-1]
    bob.close()


def test_the_roster_shows_the_host_and_you_whole_at_usual_widths(terms):
    """The teacher's own screen at 100 columns showed "teacher (host) (yo…" in the roster pane:
    the marks now share one bracket, whole at 100 and 120 columns; at 80 the pane gives way to
    the chat, as ever (F2 says why)."""
    teacher, port = host(terms, name="teacher", cols=100)
    join(terms, port, "bob")
    teacher.expect(r"│ Here \(2\)")
    for cols in (100, 120):
        teacher.resize(24, cols)
        width = render.roster_width(cols)
        edge = cols - width - 1  # the pane's edge, where the program draws it at this width
        # (curses redraws row by row: waited for until the row is there, or the screen is shown)
        pane = teacher.wait_screen(
            lambda rows, edge=edge, width=width: rows[0][edge:].startswith("│ Here (2)")
            and any(row[edge:] == "│" + " teacher (host, you)".ljust(width) for row in rows) and rows,
            what=f"the roster at {cols} columns, 'teacher (host, you)' whole",
        )
        assert "\u2026" not in "".join(row[-width:] for row in pane)  # type: ignore[union-attr]
    teacher.resize(24, 80)
    teacher.expect_gone(r"Here \(2\)")
    teacher.send("\x1bOQ")  # F2
    teacher.expect(r"the list of who is here needs at least 100 columns; /who lists them")
