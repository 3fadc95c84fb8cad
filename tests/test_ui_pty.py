"""End to end: the real ``python -m lanchat`` in a pseudo-terminal, its screen read by pyte.

Every wait is on a screen condition with a deadline (TermProc.expect / wait_screen), never a
sleep. Keys are sent one action at a time and each test waits for the screen to show the
result before the next, because keys that arrive together are treated as a paste.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
from pathlib import Path

import pytest
from helpers import RawClient, StandInServer, TermProc, identity_args, noon_tz, unfolded, wait_for
from wcwidth import wcswidth

from lanchat import events as ev
from lanchat.transport import Endpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

RESTORE = (b"\x1b[?1049l", b"\x1b[?2004l")  # leave the alternate screen; bracketed paste off


def host(terms, *extra: str, name: str = "ann", rows: int = 24, cols: int = 100, **kw) -> tuple[TermProc, int]:
    term = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", name, *extra, rows=rows, cols=cols, **kw)
    terms.append(term)
    match = wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(term.raw)), what="the port")
    term.expect(rf"{name} │ host")
    return term, int(match.group(1))  # type: ignore[union-attr]


def join(terms, port: int, name: str, *extra: str, rows: int = 24, cols: int = 100, shell_after: bool = False, **kw) -> TermProc:
    args = ["connect", "127.0.0.1", str(port), "--name", name, *extra]
    argv = None
    if shell_after:
        # what a shell would see after we exit: the terminal's settings, then a marker
        # trap: a Ctrl-C meant for lanchat must not end the shell before it reports (trap, not
        # ignore: an ignored SIGINT would be inherited and lanchat would never see Ctrl-C)
        argv = ["sh", "-c", f'trap : INT; "{sys.executable}" -m lanchat {" ".join(args)}; echo "exit=$?"; stty -a; echo STTY-DONE']
    term = TermProc(*args, rows=rows, cols=cols, argv=argv, **kw)
    terms.append(term)
    term.expect(rf"{name} │ client")
    return term


def bob_in_a_shell(terms, port: int, script: str) -> TermProc:
    """bob's lanchat (connect to ``port`` as bob) run by ``sh -c SCRIPT``, where ``{bob}`` stands
    for its command: what a shell does around it (job control, what it reports after), at 24x100."""
    command = f'"{sys.executable}" -m lanchat connect 127.0.0.1 {port} --name bob'
    term = TermProc(argv=["sh", "-c", script.replace("{bob}", command)], rows=24, cols=100)
    terms.append(term)
    return term


def say(term: TermProc, text: str, sender: str) -> None:
    """Type a line, press Enter, and wait until it shows in our own transcript."""
    term.send(text)
    term.wait_screen(lambda rows: text in rows[-1], what=f"{text!r} in the input line")
    term.send("\r")
    term.expect(re.escape(f"{sender}: {text}"))


def transcript_says(term: TermProc, text: str) -> None:
    """Wait until the transcript shows ``text``, wherever it was folded (the roster pane left out)."""
    term.wait_screen(lambda rows: text in " ".join(" ".join(row.split("│")[0] for row in rows[:-2]).split()), what=repr(text))


def assert_sane_terminal_after_exit(term: TermProc) -> str:
    """The program left the alternate screen, turned bracketed paste off, and the shell's
    terminal is back in cooked mode with echo and its signal keys (stty shows no -icanon,
    -echo, -isig, -ixon: the screen reads Ctrl-C, Ctrl-Z, Ctrl-S as keys)."""
    term.expect("STTY-DONE")
    raw = bytes(term.raw)
    last_draw = raw.rfind(b"\x1b[?1049h")
    for sequence in RESTORE:
        assert raw.rfind(sequence) > last_draw, f"{sequence!r} not sent after the last screen"
    stty = raw[raw.rfind(b"exit=") :].decode("utf-8", "replace")
    assert re.search(r"(?<![-\w])icanon\b", stty) and re.search(r"(?<![-\w])echo\b", stty), stty
    assert re.search(r"(?<![-\w])isig\b", stty) and re.search(r"(?<![-\w])ixon\b", stty), stty  # Ctrl-C a signal again
    assert "Traceback" not in term.text
    return stty


# ----------------------------------------------------------------------- chatting


def test_two_people_chat_in_both_roles(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob")
    ann.expect(r"bob joined \(2 here\)")
    say(bob, "hello ann", "bob")
    ann.expect(r"bob: hello ann")
    say(ann, "hi bob", "ann")
    bob.expect(r"ann: hi bob")
    assert re.search(rf"bob │ client │ 127\.0\.0\.1:{port} │ duplex │ 2 here", bob.lines[-2])
    assert re.search(r"ann │ host │ .* │ duplex │ 2 here", ann.lines[-2])
    bob.expect(r"│ Here \(2\)")  # the roster pane at 100 columns
    bob.expect(r"ann \(host\)")
    bob.send("\x1bOQ")  # F2 hides it
    bob.expect_gone(r"Here \(2\)")


def test_both_status_lines_say_when_the_chat_is_encrypted(terms):
    ann, port = host(terms, "--tls", "--no-history")
    found = wait_for(lambda: re.search(rb"fingerprint is\s+(SHA256:[A-Za-z0-9+/]{43})", bytes(ann.raw)), what="the fingerprint")
    bob = join(terms, port, "bob", "--fingerprint", found.group(1).decode())  # type: ignore[union-attr]
    bob.expect(rf"bob │ client │ 127\.0\.0\.1:{port} \(TLS\) │ duplex │ 2 here")
    ann.expect(r"ann │ host │ \S+ \(TLS\) │ duplex │ 2 here")
    plain = join(terms, host(terms, "--no-history")[1], "cat")
    assert "TLS" not in plain.lines[-2]


def test_the_hosts_screen_keeps_how_to_join_in_sight(terms):
    ann, port = host(terms)
    # the banner printed before the full screen is gone under it; the transcript repeats it
    ann.expect(rf"python -m lanchat connect 127\.0\.0\.1 {port}")
    ann.expect(rf"listening on port {port}; join with:")


def test_after_a_restart_how_to_join_is_below_the_replayed_history(terms, tmp_path: Path):
    """The host restarted the room: the lines that tell the class how to join sat above the
    welcome and the end of the replayed history. Now they come last, the newest lines on screen."""
    history = str(tmp_path / "h.sqlite3")
    ann, port = host(terms, "--history", history, rows=30)
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
    for number in range(3):
        bob.send(ev.Say(text=f"before the restart {number}"))
    ann.expect("bob: before the restart 2")
    bob.close()
    ann.send("/q!\r")  # closes the room without asking
    assert ann.wait() == 0
    ann, port = host(terms, "--history", history, rows=30)
    ann.expect(r"end of history \(3 shown\)")
    joining = rf"python -m lanchat connect 127\.0\.0\.1 {port}"
    ann.expect(joining)
    rows = [row.split("│")[0].rstrip() for row in ann.lines[:-2]]  # the transcript, without the roster
    rows = [row for row in rows if row]
    where = lambda pattern: max(i for i, row in enumerate(rows) if re.search(pattern, row))  # noqa: E731
    assert where(r"\[History\] bob: before the restart 2") < where(r"end of history") < where(r"welcome, ann"), rows
    after = rows[where(r"this room keeps history") + 1 :]  # the newest lines: how to join, and nothing else
    assert len(after) >= 2 and re.search(rf"listening on port {port}; join with:$", after[0]), rows
    assert re.search(joining, after[1]), rows
    assert all(re.search(r"^\d\d:\d\d   ", row) for row in after), rows  # each one a start-up line


def test_typing_survives_incoming_messages(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob", rows=12, cols=70)
    bob.send("half typ")
    bob.wait_screen(lambda rows: rows[-1].startswith("> half typ"))
    for number in range(12):  # more than a screenful arrives while bob is typing
        say(ann, f"interruption {number}", "ann")
        bob.expect(rf"ann: interruption {number}\b")
    assert bob.lines[-1].startswith("> half typ")
    assert bob.cursor == (11, len("> half typ"))
    bob.send("ed")
    bob.wait_screen(lambda rows: rows[-1].startswith("> half typed"))
    bob.send("\r")
    ann.expect(r"bob: half typed")


def test_enter_on_a_line_of_only_spaces_clears_it_and_sends_nothing(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob")
    ann.expect("bob joined")
    bob.send("   ")
    bob.wait_screen(lambda rows: rows[-1].rstrip() == ">" and bob.cursor == (len(rows) - 1, 5), what="three spaces typed")
    bob.send("\r")
    bob.wait_screen(lambda rows: bob.cursor == (len(rows) - 1, 2), what="the input line emptied")
    say(bob, "after the spaces", "bob")  # typed at the start of the line, not after three spaces
    ann.expect(r"bob: after the spaces")
    assert not re.search(r"bob: *$", ann.text, re.MULTILINE)  # nothing was sent for the spaces


def test_turn_based_a_line_typed_ahead_waits_for_your_turn(terms):
    """Typed out of turn, a line leaves the input line and waits for the turn (said with its text,
    counted in the status line), as --plain's does; it goes once the other has spoken."""
    ann, port = host(terms, "--mode", "turn")
    bob = join(terms, port, "bob")
    ann.expect(r"bob joined")
    terms_by_name = {"ann": ann, "bob": bob}
    holder = bob.wait_screen(lambda rows: re.search(r"turn │ (your turn|waiting for (\w+))", rows[-2]))
    first = "bob" if holder.group(1) == "your turn" else holder.group(2)  # type: ignore[union-attr]
    second = "ann" if first == "bob" else "bob"
    waiting, talking = terms_by_name[second], terms_by_name[first]
    waiting.expect(rf"\[waiting for {first}\]")
    waiting.send("typed ahead")
    waiting.wait_screen(lambda rows: rows[-1].startswith(f"[waiting for {first}] typed ahead"))
    waiting.send("\r")  # not sent yet: held for the turn, and the input line is free again
    waiting.wait_screen(lambda rows: rows[-1].rstrip() == f"[waiting for {first}]" and "1 line you typed waits for your turn" in rows[-2],
                        what="the line held, counted")
    transcript_says(waiting, f"not your turn yet (waiting for {first}): 'typed ahead' held until it is your turn")
    assert f"{second}: typed ahead" not in talking.text
    say(talking, "over to you", first)
    talking.expect(rf"{second}: typed ahead")
    waiting.wait_screen(lambda rows: "for your turn" not in rows[-2], what="the count gone")


def test_a_teacher_who_switches_to_turns_before_asking_is_told_how_to_ask_now(terms):
    """A quiz: the teacher typed /mode turn, then her question, and read only that it waits
    (the turn goes to the students first, in join order, and her question would go after the
    last answer). An operator's notice says how to say it now; a student's stays as it was."""
    ann, port = host(terms, cols=160)
    bob = join(terms, port, "bob", cols=120)
    cat = join(terms, port, "cat", cols=120)
    ann.expect(r"\(3 here\)")
    ann.send("/mode turn\r")
    ann.expect(r"\[waiting for bob\]")
    ann.send("Q1: how many bytes is the header?")
    ann.wait_screen(lambda rows: "Q1: how many" in rows[-1], what="the question typed")
    ann.send("\r")
    transcript_says(ann, "'Q1: how many bytes is the header?' held until it is your turn; /unsend drops it; to say it now: /mode duplex, then /mode turn")
    cat.expect(r"\[waiting for bob\]")
    cat.send("4")
    cat.wait_screen(lambda rows: rows[-1].rstrip().endswith("] 4"), what="cat's answer typed")
    cat.send("\r")
    transcript_says(cat, "-!- not your turn yet (waiting for bob): '4' held until it is your turn; /unsend drops it")
    assert "/mode duplex" not in cat.text and bob.proc.isalive()


def test_a_paste_of_several_lines_is_one_message_not_a_burst(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob")  # screen-256color: a terminal that may not mark pastes
    bob.send("one\rtwo\rthree")  # an unbracketed burst in one read: held back, a guessed paste
    bob.wait_screen(lambda rows: "one↵two↵three" in rows[-1])
    bob.send("\r")
    ann.expect(r"bob: one[^\n]*\n +two[^\n]*\n +three")
    assert "bob: two" not in ann.text
    bob.send("\x1b[200~first\tline\rsecond line\x1b[201~")  # a bracketed paste
    bob.wait_screen(lambda rows: "first line↵second line" in rows[-1])
    assert "bob: first line" not in ann.text
    bob.send("\r")
    ann.expect(r"bob: first line[^\n]*\n +second line")
    # from now on this terminal is known to mark pastes: a burst of typed lines is typing
    bob.send("four\rfive\r")
    ann.expect(r"bob: five")
    assert "bob: four" in ann.text and not re.search(r"\n +five", ann.text)


def test_a_paste_with_the_line_break_before_it_is_sent_without_it(terms):
    """Text copied from a terminal often takes the line break before it: the room read
    'bob: ↵Hello class', its first row empty."""
    ann, port = host(terms)
    bob = join(terms, port, "bob")
    bob.send("\x1b[200~\rHello class\r  \x1b[201~")
    bob.wait_screen(lambda rows: "Hello class" in rows[-1])
    bob.send("\r")
    ann.expect(r"bob: Hello class")
    bob.expect(r"bob: Hello class")


def test_a_paste_over_the_length_limit_is_kept_not_sent(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob")
    bob.send("\x1b[200~" + "z" * 4100 + "\x1b[201~")
    bob.wait_screen(lambda rows: rows[-1].rstrip().endswith("zzzz"), what="the paste in the input line")
    bob.send("\r")
    bob.expect(r"message is 4100 characters; the limit is 4000: not sent \(/send FILE")  # (wraps)
    bob.expect(r"shares a longer text\); what you typed is kept \(Ctrl-U clears it\)")  # what to do instead, and how to start again
    bob.wait_screen(lambda rows: rows[-1].rstrip().endswith("zzzz"), what="the paste still in the input line")
    assert "bob: zzz" not in ann.text
    bob.send("\x15")  # Ctrl-U, as the line says
    bob.wait_screen(lambda rows: rows[-1].rstrip() == ">", what="the input line empty")


def test_the_over_long_paste_hint_is_true_with_the_cursor_moved_left(terms):
    """The hint said "(Ctrl-U clears it)" wherever the cursor was: Ctrl-U clears from the cursor
    back, so with the cursor moved left first (to mend the paste), Ctrl-U left the rest of it in
    the line. With the cursor not at the end the hint now says what clears it all."""
    ann, port = host(terms)
    bob = join(terms, port, "bob")
    bob.send("\x1b[200~" + "z" * 4100 + "\x1b[201~x")  # (x: once it shows, the whole paste is in)
    bob.wait_screen(lambda rows: rows[-1].rstrip().endswith("zzzx"), what="the paste in the input line")
    bob.send("\x1b[D" * 3)  # Left three times
    wait_for(lambda: bob.cursor[1] < len(bob.lines[-1].rstrip()), what="the cursor moved left")
    bob.send("\r")
    bob.expect(r"what you typed is kept \(End, then Ctrl-U clears")  # (folded: "it)" below)
    bob.send("\x1b[F")  # End (screen-256color's)
    wait_for(lambda: bob.cursor[1] >= len(bob.lines[-1].rstrip()), what="the cursor at the end")
    bob.send("\x15")  # Ctrl-U, as the line says
    bob.wait_screen(lambda rows: rows[-1].rstrip() == ">", what="the input line empty")
    assert "bob: zzz" not in ann.text


def test_resize_relays_and_too_small_recovers(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob", rows=24, cols=80)
    say(bob, "before the resize", "bob")
    assert "Here (" not in bob.text  # 80 columns: no roster pane
    bob.resize(4, 20)
    bob.expect(r"too small")
    bob.resize(30, 110)
    bob.expect(r"│ Here \(2\)")
    bob.wait_screen(lambda rows: len(rows) == 30 and "bob │ client" in rows[-2] and "before the resize" in "\n".join(rows))
    say(bob, "after the resize", "bob")
    ann.expect("bob: after the resize")


def test_a_student_in_a_20x6_terminal_chats_on_the_full_screen(terms):
    """A 20x6 terminal (a small tmux pane, a phone's ssh app) showed only "window too small, need
    24x5": nothing of the chat, and lines typed blind were still sent. 20 columns hold the
    status line and the chat, folded (the renderer is checked at every width from 0)."""
    ann, port = host(terms)
    bob = TermProc("connect", "127.0.0.1", str(port), "--name", "bob", rows=6, cols=20)
    terms.append(bob)
    bob.expect(r"bob │ 2 here")  # the status line, shortened to fit
    assert "too small" not in bob.text
    bob.send("hi from a small one")
    bob.send("\r")
    ann.expect("bob: hi from a small one")
    bob.expect(r"bob: hi from a")  # folded in bob's own transcript, in sight
    ann.send("welcome bob\r")
    bob.expect(r"ann: welcome")


def test_too_small_fits_any_width_and_1x1_or_2x2_never_crash(terms):
    """Below 16 columns "window too small" was cut off; at 1x1 and 2x2 nothing may crash."""
    ann, port = host(terms)
    bob = join(terms, port, "bob", rows=24, cols=80)
    for rows, cols, shown in ((4, 12, ["too small", "need 20x5", "now 12x4"]), (3, 6, ["small", "20x5", "6x3"]), (2, 2, ["!"])):
        bob.resize(rows, cols)
        bob.wait_screen(lambda screen, shown=shown: [row.strip() for row in screen if row.strip()] == shown, what=f"{shown} at {cols}x{rows}")
        assert bob.proc.isalive()
    # 1x1: the only cell is the bottom-right corner, which ncurses paints by inserting it from
    # the column before (there is none), so the "!" it writes is overwritten: we check it was said
    before = len(bob.raw)
    bob.resize(1, 1)
    wait_for(lambda: b"!" in bytes(bob.raw[before:]), what="the 1x1 redraw")
    assert bob.proc.isalive()
    bob.resize(24, 80)
    bob.expect(r"bob │ client")
    say(bob, "still here after 1x1", "bob")
    ann.expect("bob: still here after 1x1")
    assert "Traceback" not in bytes(bob.raw).decode("utf-8", "replace")


def test_the_hosts_status_line_keeps_host_beside_a_long_topic_and_gives_the_topic_back_when_wider(terms):
    """At 80 columns a topic too long for the line took "host" with it and never gave it back:
    the least useful part went first (the role), then the topic, leaving room "host" never got.
    Each drawing now keeps what matters most that fits: at 80 and 40 columns the role and the
    head count stay; at 80 the topic is cut short (ahead of the mode), at 40 it goes; at 160 it
    is back whole."""
    topic = "fractions and decimals: bring the worksheet from Monday, page four"
    ann, port = host(terms, rows=24, cols=80)
    join(terms, port, "bob", rows=24, cols=80)
    ann.expect(r"bob joined")
    ann.send(f"/topic {topic}\r")
    ann.expect(r"topic")
    ann.wait_screen(lambda rows: re.fullmatch(rf" ann │ host │ 127\.0\.0\.1:{port} │ 2 here │ topic: fractions and decimals: b[^│]*…\s*", rows[-2]),
                    what="80 columns")  # fmt: skip
    ann.resize(24, 40)
    ann.wait_screen(lambda rows: len(rows[-2]) == 40 and re.fullmatch(rf" ann │ host │ 127\.0\.0\.1:{port} │ 2 here\s*", rows[-2]), what="40 columns")
    ann.resize(24, 160)
    ann.wait_screen(lambda rows: len(rows[-2]) == 160 and rows[-2].rstrip().endswith(f"│ 2 here │ topic: {topic}") and " host │" in rows[-2], what="160 columns")


def test_a_muted_students_status_line_says_until_when(terms):
    """The mute's line scrolls away; the status line keeps "muted until HH:MM" while it holds."""
    ann, port = host(terms, rows=24, cols=80)
    bob = join(terms, port, "bob", rows=24, cols=80)
    ann.expect(r"bob joined")
    ann.send("/mute bob 10 too loud\r")
    bob.expect(r"ann muted you for 10 minutes: too loud")
    bob.wait_screen(lambda rows: re.search(r"│ duplex │ muted until \d\d:\d\d │ 2 here", rows[-2]), what="muted in the status line")
    bob.send("the answer is 42\r")  # refused: kept in the input line for when the mute is over
    bob.expect(r"you are muted by ann for 10 more minutes: too loud; you can still read,")
    bob.expect(r"and /w the host or an operator \(here now: ann\); what you typed is kept")  # whom to ask why
    bob.wait_screen(lambda rows: rows[-1].startswith("> the answer is 42") and "what you typed is kept" in "".join(rows),
                    what="the refused line back in the input line")  # fmt: skip
    bob.send("\x15")  # Ctrl-U: the student lets it go
    ann.send("/unmute bob\r")
    bob.expect(r"ann unmuted you")
    bob.wait_screen(lambda rows: "muted" not in rows[-2] and "2 here" in rows[-2], what="the mute gone from the status line")


def test_unicode_is_typed_and_shown_at_its_width(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob")
    text = "héllo wörld 日本語 😀 done"
    bob.send(text)
    bob.wait_screen(lambda rows: text in rows[-1])
    assert bob.cursor[1] == 2 + wcswidth(text)  # after the prompt, at the text's width
    bob.send("\r")
    row_text = ann.expect(r".*bob: héllo wörld 日本語 😀 done.*").group(0)
    row = ann.lines.index(row_text)
    with ann._changed:
        cells = [ann.screen.buffer[row][x].data for x in range(100)]
    start = row_text.index("bob:")
    column = "".join(c or "\0" for c in cells).index("done")
    assert column == wcswidth(row_text[: row_text.index("done")]) and start < column
    japanese = cells.index("日")
    assert cells[japanese + 1] == "" and cells[japanese + 2] == "本"


def test_hostile_text_from_a_peer_is_shown_harmlessly(terms):
    ann, port = host(terms)
    mallory = RawClient(Endpoint(host="127.0.0.1", port=port), name="mallory")
    try:
        ann.expect("mallory joined")
        evil = "\x1b[2J\x1b[H\x1b]0;owned\x07X\rY\bZ\x00\u202eabc\x9b31m end"
        mallory.send(ev.Say(text=evil))
        ann.expect(re.escape("mallory: ^[[2J^[[H^[]0;owned^GX^MY^HZ^@<U+202E>abc<U+009B>31m end"))
        assert "welcome, ann" in ann.text  # nothing was cleared
        assert ann.screen.title == "lanchat: ann"  # and the window title is ours, not the peer's
        assert b"\x1b]0;owned" not in bytes(ann.raw) and b"\x1b[2J\x1b[H" not in bytes(ann.raw)
        mallory.send(ev.Say(text="x" * 3000))  # a huge message wraps, and the screen still works
        ann.expect(r"x{50}")
        assert ann.lines[-2].lstrip().startswith("ann │ host")
    finally:
        mallory.close()


# ------------------------------------------------------------------ ways out


def test_slash_q_restores_the_terminal(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob", shell_after=True)
    say(bob, "bye now", "bob")
    bob.send("/q\r")
    stty = assert_sane_terminal_after_exit(bob)
    assert "exit=0" in stty
    assert "you left the chat" in bob.text
    ann.expect("bob left")


def test_ctrl_c_restores_the_terminal(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob", shell_after=True)
    bob.send("\x03")
    assert_sane_terminal_after_exit(bob)
    ann.expect("bob (joined and )?left")  # (at once after the join: one line, ui/fold.py)


def test_a_lost_server_restores_the_terminal(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob", shell_after=True)
    ann.expect("bob joined")
    ann.proc.kill(9)  # the host vanishes without a word
    bob.expect(r"connection lost; retrying in 1 s \(/q to leave\)")  # the screen stays, retrying
    bob.send("/q\r")
    stty = assert_sane_terminal_after_exit(bob)
    assert "exit=0" in stty
    assert "you left the chat" in bob.text


@pytest.mark.parametrize("how", ["/q", "Ctrl-C"])
def test_the_host_ending_the_chat_ends_the_students_screen_without_waiting_for_a_restart(terms, how):
    """The teacher's confirmed /q (or Ctrl-C on the host's screen) at the end of the lesson: the
    notice is final, so a student's full screen does not wait up to 10 minutes for a server that
    is not coming back; it keeps the notice until a key, as --no-reconnect does, and exits 0.
    (A SIGTERM to the host's process is waited out: test_reconnect.py.)"""
    ann, port = host(terms)
    bob = join(terms, port, "bob", shell_after=True)
    ann.expect(r"bob joined")
    if how == "/q":
        ann.send("/q\r")
        ann.expect(r"/q closes the chat for everyone \(bob\): type /q again")
        ann.send("/q\r")
    else:
        ann.send("\x03")
        ann.expect(r"Ctrl-C closes the chat for everyone \(bob\): press Ctrl-C again")
        ann.send("\x03")
    assert ann.wait() == 0
    assert "the chat is closed" in ann.text
    bob.expect(r"the server shut down: the host closed the chat")  # still on the screen,
    status = bob.wait_screen(lambda rows: "chat over" in rows[-2] and rows[-2], what="the status line saying the chat is over")
    assert "waiting" not in status, status
    bob.expect(r"press any key to leave")  # until bob has read it, then the program ends
    assert "starts the server again" not in bob.text and "retrying" not in bob.text
    bob.send(" ")
    stty = assert_sane_terminal_after_exit(bob)
    assert "exit=0" in stty
    assert "lanchat: disconnected: the server shut down: the host closed the chat" in bob.text


def host_in_a_shell(terms, name: str = "ann") -> tuple[TermProc, int]:
    """``lanchat serve`` as ``name`` at 24x100, run by a shell that reports, after it, the exit
    status and the terminal's settings (assert_sane_terminal_after_exit)."""
    command = f'"{sys.executable}" -m lanchat serve --port 0 --host 127.0.0.1 --name {name} {" ".join(identity_args(name))}'
    term = TermProc(argv=["sh", "-c", f'trap : INT; {command}; echo "exit=$?"; stty -a; echo STTY-DONE'], rows=24, cols=100)
    terms.append(term)
    match = wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(term.raw)), what="the port")
    term.expect(rf"{name} │ host")
    return term, int(match.group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize("answer", ["Ctrl-C", "/q"])
def test_the_hosts_ctrl_c_with_students_here_asks_first_as_q_does(terms, answer):
    """Ctrl-C on the teacher's full screen closed the lesson for the whole class at once (a slip
    of the hand, or a habit from the shell), where /q asks first. Now it asks /q's question; any
    other key goes on (a Ctrl-C after it asks again); the very next Ctrl-C, or the /q typed as its
    confirmation, closes the chat, and the terminal is given back."""
    ann, port = host_in_a_shell(terms)
    bob = join(terms, port, "bob")
    ann.expect(r"bob joined")
    question = r"Ctrl-C closes the chat for everyone \(bob\): press Ctrl-C again to"  # (folded after it)
    ann.send("\x03")
    ann.expect(question)
    ann.expect(r"close it; any other key goes on")
    ann.send("x")  # another key: the chat goes on
    ann.wait_screen(lambda rows: rows[-1].startswith("> x"), what="x in the input line")
    ann.send("\x03")  # not the very next key: asked again, not closed
    ann.wait_screen(lambda rows: len(re.findall(question, "\n".join(rows))) == 2, what="the question asked again")
    ann.send("\x7fstill here\r")
    bob.expect(r"ann: still here")
    assert "closed" not in bob.text and ann.proc.isalive()
    ann.send("\x03")
    ann.wait_screen(lambda rows: len(re.findall(question, "\n".join(rows))) == 3, what="the question a third time")
    ann.send("\x03" if answer == "Ctrl-C" else "/q\r")
    bob.expect(r"the server shut down: the host closed the chat")
    stty = assert_sane_terminal_after_exit(ann)
    assert "exit=0" in stty


def test_the_teacher_answering_q_with_yes_or_no_sends_neither_to_the_class(terms):
    """The teacher typed /q, read "type /q again to close it", and answered as people answer a
    question: "y". It went to every student's screen and the lesson went on. Now a no right after
    the question goes on, a yes closes, and neither reaches the class."""
    ann, port = host_in_a_shell(terms)
    bob = join(terms, port, "bob")
    ann.expect(r"bob joined")
    ann.send("/q\r")
    ann.expect(r"/q closes the chat for everyone \(bob\): type /q again to close it")
    ann.send("no\r")
    ann.expect(r"'no' answered /q's question, not sent: the chat goes on")
    ann.send("still here\r")
    bob.expect(r"ann: still here")
    assert "ann: no" not in bob.text and ann.proc.isalive()
    ann.send("/q\r")
    ann.wait_screen(lambda rows: len(re.findall(r"type /q again to close it", "\n".join(rows))) == 2, what="asked again")
    ann.send("y\r")
    bob.expect(r"the server shut down: the host closed the chat")
    assert not re.search(r"ann: y$", bob.text, re.MULTILINE)
    assert "exit=0" in assert_sane_terminal_after_exit(ann)


def test_a_second_ctrl_c_in_the_read_that_asked_does_not_answer_the_question(terms):
    """Two Ctrl-Cs the screen read at once (a bounce, a busy screen over a slow link, a paste
    without markers) closed the lesson: the second answered a question that was not yet on the
    screen. It is dropped; the question still waits for the very next key."""
    ann, port = host_in_a_shell(terms)
    bob = join(terms, port, "bob")
    ann.expect(r"bob joined")
    question = r"Ctrl-C closes the chat for everyone \(bob\)"
    ann.send("\x03\x03")  # one write: one read
    ann.expect(question)
    ann.send("x")  # the keys are read in order: once x is in the input line, both Ctrl-Cs were read
    ann.wait_screen(lambda rows: rows[-1].startswith("> x"), what="x in the input line")
    assert ann.proc.isalive() and "closed" not in bob.text and len(re.findall(question, ann.text)) == 1, ann.text
    ann.send("\x7f\x03")
    ann.wait_screen(lambda rows: len(re.findall(question, "\n".join(rows))) == 2, what="the question asked again")
    ann.send("\x03")  # the next read's Ctrl-C answers it
    bob.expect(r"the server shut down: the host closed the chat")
    assert "exit=0" in assert_sane_terminal_after_exit(ann)


@pytest.mark.parametrize(("key", "name"), [("\x03", "Ctrl-C"), ("\x04", "Ctrl-D")])
def test_a_plain_hosts_ctrl_c_with_students_here_asks_first_too(terms, key, name):
    """serve --plain at a terminal asks before /q closes the lesson, but its Ctrl-C, and Ctrl-D on
    an empty line, closed it at once, for everyone. Each asks the full screen's question, answered
    the same way (social.CtrlCAnswer): another key goes on, the very next press of it closes."""
    command = f'"{sys.executable}" -m lanchat serve --plain --port 0 --host 127.0.0.1 --name ann {" ".join(identity_args("ann"))}'
    ann = TermProc(argv=["sh", "-c", f'trap : INT; {command}; echo "exit=$?"; stty -a; echo STTY-DONE'], rows=40, cols=100)
    terms.append(ann)
    port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(ann.raw)), what="the port").group(1))  # type: ignore[union-attr]
    bob = join(terms, port, "bob")
    ann.expect(r"bob joined")
    question = rf"{name} closes the chat for everyone \(bob\): press {name} again"
    ann.send(key)
    ann.expect(question)
    ann.send("x")  # another key: the chat goes on
    ann.wait_screen(lambda rows: any(row.rstrip() == "x" for row in rows), what="x echoed")
    ann.send("\x7f" + key)  # not the very next key: asked again
    ann.wait_screen(lambda rows: len(re.findall(question, "\n".join(rows))) == 2, what="the question asked again")
    assert ann.proc.isalive() and "closed" not in bob.text
    ann.send(key)
    bob.expect(r"the server shut down: the host closed the chat")
    ann.expect("STTY-DONE")
    stty = ann.text[ann.text.rfind("exit=") :]
    assert "exit=0" in stty and re.search(r"(?<![-\w])icanon\b", stty) and re.search(r"(?<![-\w])isig\b", stty), stty
    assert b"\x1b[?2004l" in bytes(ann.raw) and "Traceback" not in ann.text  # bracketed paste off again


def test_the_hosts_ctrl_c_alone_in_the_room_closes_at_once(terms):
    """With nobody else here there is nobody to ask for: the host's Ctrl-C closes at once, as a
    student's does (test_ctrl_c_restores_the_terminal)."""
    ann, _port = host_in_a_shell(terms)
    ann.send("\x03")
    stty = assert_sane_terminal_after_exit(ann)
    assert "exit=0" in stty and "closes the chat for everyone" not in ann.text


def test_with_no_reconnect_the_host_closing_stays_on_the_screen_until_a_key(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob", "--no-reconnect", shell_after=True)
    ann.send("/q\r")
    ann.expect(r"type /q again")
    ann.send("/q\r")
    bob.expect(r"the server shut down: the host closed the chat")  # still on the screen,
    bob.expect(r"press any key to leave")  # until bob has read it
    bob.send(" ")
    stty = assert_sane_terminal_after_exit(bob)
    assert "exit=0" in stty
    assert "lanchat: disconnected: the server shut down: the host closed the chat" in bob.text


def test_ctrl_z_at_press_any_key_stops_and_the_wait_goes_on_after_it(terms):
    """Ctrl-Z is a key now (the terminal's ISIG is off), so at "press any key" it was any key and
    ended the wait: it stops lanchat as before (the shell's terminal given back), and after fg
    the last lines stay until a key."""
    ann, port = host(terms)
    bob = bob_in_a_shell(terms, port, 'set -m; {bob} --no-reconnect; echo "stopped=$?"; read answer; fg; echo "exit=$?"; stty -a; echo STTY-DONE')
    bob.expect(r"bob │ client")
    ann.send("/q\r")
    ann.expect(r"type /q again")
    ann.send("/q\r")
    bob.expect(r"press any key to leave")
    bob.send("\x1a")
    bob.expect(r"stopped=148")  # stopped (128 + SIGTSTP), not ended
    bob.send("\r")  # `read` done: the shell runs fg
    bob.expect(r"press any key to leave")
    bob.send(" ")
    stty = assert_sane_terminal_after_exit(bob)
    assert "exit=0" in stty


def test_an_internal_error_is_logged_not_shown(terms, tmp_path: Path):
    ann, port = host(terms)
    broken = (
        "import sys, lanchat.ui.render as render\n"
        "def broken(*args, **kwargs): raise RuntimeError('drawing failed on purpose')\n"
        "render.render = broken\n"
        "from lanchat.__main__ import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["sh", "-c", f'"{sys.executable}" -c "$0" connect 127.0.0.1 {port} --name bob; echo "exit=$?"; stty -a; echo STTY-DONE', broken]
    bob = TermProc(argv=argv, env={"XDG_STATE_HOME": str(tmp_path), "HOME": str(tmp_path)})
    terms.append(bob)
    assert_sane_terminal_after_exit(bob)
    bob.expect(r"internal error \(RuntimeError\); the details are in")
    match = re.search(r"the details are in\s+(\S+)", bytes(bob.raw).decode("utf-8", "replace"))  # the path whole, maybe on the next row
    log = Path(match.group(1))
    assert log.is_relative_to(tmp_path)
    assert "drawing failed on purpose" in log.read_text() and "Traceback" in log.read_text()
    ann.expect("bob (joined and )?(lost connection|left)")


def test_help_lists_commands_and_keys_and_save_writes_the_transcript(terms, tmp_path: Path):
    ann, port = host(terms, rows=60, cols=120)
    say(ann, "something worth keeping", "ann")
    ann.send("/help\r")
    ann.expect(r"commands:")  # taller than the screen, it opens at its first line: PgDn reads on
    seen: set[str] = set()
    for _ in range(4):
        page = list(ann.lines)
        seen |= {shown for shown in ("/save FILE", "/clear", "PgUp/PgDn") if shown in "\n".join(page)}
        if len(seen) == 3:
            break
        ann.send("\x1b[6~")
        ann.wait_screen(lambda rows, page=page: rows != page, what="PgDn to show the next page")  # type: ignore[misc]
    assert seen == {"/save FILE", "/clear", "PgUp/PgDn"}, seen
    target = tmp_path / "chat.txt"
    ann.send(f"/save {target}\r")
    ann.expect(r"saved \d+ lines to")
    assert "ann: something worth keeping" in target.read_text(encoding="utf-8")
    # a pasted block: its further lines under its first, as `lanchat history` writes them (they
    # were one line with ↵ marks), so a student's saved code reads as it was pasted
    ann.send("\x1b[200~here is my code:\r    def f(x):\r\r        return x\x1b[201~\r")
    ann.expect(r"ann: here is my code:")
    again = tmp_path / "code.txt"
    ann.send(f"/save {again}\r")
    wait_for(lambda: again.exists(), what="/save to write code.txt")
    saved = again.read_text(encoding="utf-8").split("\n")
    at = next(i for i, row in enumerate(saved) if row.endswith("ann: here is my code:"))
    indent = " " * len(saved[at].removesuffix("here is my code:"))
    assert saved[at + 1 : at + 4] == [indent + "    def f(x):", indent, indent + "        return x"], saved
    ann.send("/clear\r")
    ann.expect_gone(r"something worth keeping")


def test_help_on_a_projector_wraps_each_description_under_its_column(terms):
    """/help at 64x18 (a projector with a large font) and at 80x24 wrapped a row's description
    back to column 8, under the commands: the table read as one stream of words. At 80 columns a
    description's further rows now start under its first word; at 64, where that left it a third
    of the row, the key goes alone on its row and the description under it, two columns in."""
    for rows, cols in ((18, 64), (24, 80)):
        ann, _port = host(terms, name=f"hal{cols}", rows=rows, cols=cols)
        ann.send("/help\r")
        ann.expect(r"scrolled up")  # opened at its first line (test_help_taller_than_the_screen_opens_at_its_first_line)
        ann.send("\x1b[4~")  # End with an empty input line: back to the bottom
        ann.expect(r"Ctrl-C, Ctrl-\\, /q\s+leave")
        # the transcript (the last rows of /help, the keys), read until a redraw is whole: the keys'
        # row can be drawn before the rows above it are
        with contextlib.suppress(AssertionError):
            ann.wait_screen(lambda rows: _help_columns(rows[:-2]) == (True, True), timeout=5)
        screen = ann.lines[:-2]
        under, wrapped = _help_columns(screen)
        assert under, f"{cols} columns:\n" + "\n".join(screen)
        assert wrapped, f"{cols} columns: no wrapped description seen\n" + "\n".join(screen)
        ann.stop()


def _help_columns(screen: list[str]) -> tuple[bool, bool]:
    """Whether every further row of a /help description starts under its column, and whether
    at least two such rows were seen."""
    checked = 0
    for at, row in enumerate(screen[:-1]):
        found = re.match(r"\d\d:\d\d {5}(\S.*?)(?:  +(\S)|$)", row.rstrip())
        following = screen[at + 1]
        if not found or not following.strip() or re.match(r"\d\d:\d\d ", following):
            continue
        column = found.start(2) if found.group(2) else found.start(1) + 2
        if len(following) - len(following.lstrip()) != column:
            return False, checked >= 2
        checked += 1
    return True, checked >= 2


def test_help_taller_than_the_screen_opens_at_its_first_line(terms):
    """A student at 80x24 typed /help and saw its last rows, the keys: the commands, what they
    had typed it for, were above the screen, and nothing said so. /help taller than the pane now
    opens at its first line, as a pager does ("scrolled up" in the status line); PgDn reads on,
    a line that arrives meanwhile is counted as new, the next line sent goes back to the newest.
    Where it fits (a tall window, 200x150), the screen follows as before."""
    ann, port = host(terms, rows=24, cols=80)
    bob = join(terms, port, "bob", rows=24, cols=80)
    bob.send("/help\r")
    bob.wait_screen(lambda rows: re.match(r"\d\d:\d\d   commands:", rows[0]), what="'commands:' on the top row")
    bob.expect(r"scrolled up \(End: back\)")
    assert not any("Ctrl-\\" in row for row in bob.lines), "\n".join(bob.lines)  # the keys are below
    ann.send("are you reading the help, bob?\r")
    bob.expect(r"\u25bc 1 new")
    bob.wait_screen(lambda rows: "commands:" in rows[0], what="the page held still")
    for _ in range(6):
        bob.send("\x1b[6~")  # PgDn
    bob.expect(r"ann: are you reading the help, bob\?")
    bob.expect_gone(r"\u25bc|scrolled up")
    bob.send("/help\r")
    bob.wait_screen(lambda rows: "commands:" in rows[0], what="'commands:' on the top row again")
    bob.send("yes\r")  # sent: back to the newest line
    bob.expect(r"bob: yes")
    bob.expect_gone(r"scrolled up")
    wide = join(terms, port, "cy", rows=150, cols=200)
    wide.send("hello\r")
    wide.expect(r"cy: hello")
    wide.send("/help\r")
    wide.expect(r"Ctrl-C, Ctrl-\\, /q\s+leave")  # it fits: the newest line stays in view
    assert "scrolled up" not in wide.lines[-2] and "cy: hello" in "\n".join(wide.lines)


def test_plain_at_a_terminal_folds_long_lines_at_spaces_under_the_text(terms):
    """A student with --plain at an 80-column terminal typed /help and read 'in --plain, the
    termi' / "nal's own clear does it": the terminal cut each long line mid-word, back at column
    0. At a terminal each line now folds at spaces, its further rows under its text; to a pipe
    (a script) each stays one line (test_cli's plain tests)."""
    ann, port = host(terms, cols=120)
    cat = TermProc("connect", "127.0.0.1", str(port), "--name", "cat", "--plain", rows=150, cols=80)
    terms.append(cat)
    cat.expect(r"welcome, cat")
    ann.send("a long line from the teacher, longer than a student's eighty columns, so that it has to be folded somewhere\r")
    cat.expect(r"ann: a long line")
    cat.send("/help\r")
    cat.expect(r"anything else is sent to the room")
    rows = [row.rstrip() for row in cat.lines if row.strip()]
    at = next(i for i, row in enumerate(rows) if "ann: a long line" in row)
    cut = [row for row in rows[at:] if not row.startswith(("[", " " * 11, "/help"))]  # /help: cat's own typing
    assert cut == [], "\n".join(rows)
    said = [rows[at]] + [row for row in rows[at + 1 :] if row.startswith(" ")][:1]
    assert " ".join(" ".join(said).split()).endswith("so that it has to be folded somewhere"), "\n".join(rows)


def test_save_to_a_bare_file_name_says_the_folder_it_went_to(terms, tmp_path: Path):
    """A teacher ending the lesson types `/save lesson2.txt` and read 'saved 114 lines to
    lesson2.txt': which folder that was (the one serve was started in) was anyone's guess, while
    /get says the whole path. The line now names the file's full path, as /get's does."""
    term = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "ann", rows=24, cols=160, cwd=tmp_path)
    terms.append(term)
    term.expect(r"ann │ host")
    term.send("/save lesson2.txt\r")
    term.expect_unfolded(r"saved\d+linesto" + re.escape(unfolded(str(tmp_path / "lesson2.txt"))))  # wherever the path's length folds it
    assert (tmp_path / "lesson2.txt").exists()


def shows_burst(term: TermProc, first: int, last: int) -> None:
    """Wait until the transcript pane (every row but the status and input lines) shows
    exactly burst lines ``first`` to ``last``, oldest at the top."""
    wanted = [f"bob: burst line {number}" for number in range(first, last + 1)]
    term.wait_screen(
        lambda rows: [row.split(" ", 1)[-1].rstrip() for row in rows[:-2]] == wanted,
        what=f"burst lines {first} to {last} filling the transcript",
    )


def test_scrollback_keys_and_the_new_messages_marker(terms):
    # 2,000 lines at once is a flood otherwise; at noon, no day rule can come between the rows counted
    ann, port = host(terms, "--no-limits", rows=12, cols=80, env={"TZ": noon_tz()})
    talker = RawClient(Endpoint(host="127.0.0.1", port=port), name="bob")
    try:
        for number in range(2000):  # a burst: drawn in batches, the screen keeps up
            talker.send(ev.Say(text=f"burst line {number}"))
        ann.expect(r"bob: burst line 1999\b", timeout=30)
        # 12 rows: 10 of transcript, the status line, the input line. A page is 9 rows, so
        # the row at one edge of a page is still there, at the other edge, after PgUp.
        shows_burst(ann, 1990, 1999)
        ann.wait_screen(lambda rows: all(row.startswith(("12:", "13:")) for row in rows[:-2]), what="noon's times")
        ann.send("\x1b[5~")  # PgUp
        shows_burst(ann, 1981, 1990)
        ann.expect(r"scrolled up")
        ann.send("\x1b[5~")
        # the whole pane, not one line: 1982 is on screen before this PgUp is drawn too
        shows_burst(ann, 1972, 1981)
        talker.send(ev.Say(text="while you were away"))
        ann.expect(r"▼ 1 new")
        shows_burst(ann, 1972, 1981)  # what arrives while scrolled up does not move the page
        ann.send("\x1b[4~")  # End with an empty input line: back to the bottom
        ann.expect(r"while you were away")
        ann.expect(r"── new ──")  # a rule above what arrived while scrolled up
        ann.expect_gone(r"▼ 1 new")
        ann.send("\x1b[1~")  # Home: the oldest line kept
        ann.expect(r"welcome, ann")
    finally:
        talker.close()


def test_tab_completion_and_a_bell_on_mention(terms):
    ann, port = host(terms)
    bob = join(terms, port, "bob")
    ann.expect("bob joined")
    ann.send("/he\t")
    ann.wait_screen(lambda rows: rows[-1].startswith("> /help "), what="/he completed")
    ann.send("\x15")  # Ctrl-U
    ann.send("/deo\t")  # named only inside /op's line of /help
    ann.wait_screen(lambda rows: rows[-1].startswith("> /deop "), what="/deo completed")
    ann.send("\x15")
    ann.send("hi b\t")
    ann.wait_screen(lambda rows: rows[-1].startswith("> hi bob "), what="bob completed")
    before = len(bob.raw)
    ann.send("\r")
    bob.expect(r"ann: hi bob")
    wait_for(lambda: b"\x07" in bytes(bob.raw[before:]), what="a bell for the mention")


def test_a_terminal_that_cannot_place_the_cursor_gets_line_mode(terms):
    ann = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "ann", cols=200, env={"TERM": "dumb"})
    terms.append(ann)
    ann.expect(r"full-screen interface is not available .*using line mode")
    ann.expect(r"-!- welcome, ann")
    ann.send("still works\r")
    ann.expect(r"\] ann: still works")


@pytest.mark.parametrize(("term", "why"), [("", r"TERM is not set"), ("nonesuch-term", r"TERM=nonesuch-term is a terminal type this machine does not know")])
def test_a_missing_or_unknown_term_is_named_and_line_mode_follows(terms, term, why):
    """No TERM said '(setupterm: could not find terminfo database)', an unknown one
    '(setupterm: could not find terminal)': curses' words, naming neither TERM nor its value."""
    ann = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "ann", cols=200, env={"TERM": term})
    terms.append(ann)
    ann.expect(rf"full-screen interface is not available \({why}.*\); using line mode")
    ann.expect(r"-!- welcome, ann")
    assert "setupterm" not in ann.text


def test_line_mode_at_an_unknown_term_never_moves_the_cursor_up(terms):
    """An unknown TERM (no terminfo entry: why lanchat chose line mode) names a terminal that may
    not take ANSI moves. A line arriving over a typed line that wrapped starts a fresh line below
    it, as at TERM=dumb; ESC [ 1 A (going over it from its first row) was written as if xterm."""
    ann = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "ann", cols=40, env={"TERM": "nonesuch-term"})
    terms.append(ann)
    ann.expect(r"-!- welcome, ann")
    listening = wait_for(lambda: re.search(rb"listening on\s+port (\d+)", bytes(ann.raw)), what="the port")  # folded at 40 columns
    port = int(listening.group(1))
    typed = "a typed line of more than forty columns, so it wraps"
    ann.send(typed)
    wait_for(lambda: bytes(ann.raw).endswith(typed[-20:].encode()), what="the typed line echoed")
    mark = len(ann.raw)
    bob = RawClient(Endpoint(host="127.0.0.1", port=port), name="bob")
    try:
        wait_for(lambda: b"bob joined" in ann.raw[mark:] and bytes(ann.raw).endswith(typed[-20:].encode()), what="typed again below")
        assert b"\x1b[" not in ann.raw[mark:], bytes(ann.raw[mark:])
    finally:
        bob.close()


# ----------------------------------------------------------------------- file transfers


def test_a_downloads_progress_reaches_the_status_line_even_when_nothing_else_changes(terms, tmp_path: Path):
    """A transfer's progress only changes the status line, which is redrawn at most ten times a
    second (a redraw per chunk would slow a download to a fifth). The last change must still be
    drawn when nothing else happens: a stand-in server sends 10% of a file, then, once that
    shows, 10% more and nothing after it."""
    more, finished = threading.Event(), threading.Event()
    tenth = [b"x" * 50_000, b"y" * 50_000]  # two frames, 100,000 bytes: a tenth of the file

    def on_event(server: StandInServer, event: object) -> bool:
        if not isinstance(event, ev.GetFile):
            return False
        start = ev.FileStart(id=event.id, name="big.bin", size=1_000_000, sha256="0" * 64)
        server.send(start, *(ev.FileBytes(id=event.id, data=d) for d in tenth))
        more.wait(10)
        server.send(*(ev.FileBytes(id=event.id, data=d) for d in tenth))
        finished.wait(10)
        return True

    server = StandInServer(on_event)
    try:
        bob = TermProc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--downloads", str(tmp_path), rows=24, cols=100)
        terms.append(bob)
        bob.expect("bob │ client")
        bob.send("/get 1")
        bob.wait_screen(lambda rows: "/get 1" in rows[-1], what="/get 1 typed")
        bob.send("\r")
        bob.wait_screen(lambda rows: "get #1 big.bin 10%" in rows[-2], what="10% in the status line")
        more.set()  # now only the status line changes, within moments of the last draw
        bob.wait_screen(lambda rows: "get #1 big.bin 20%" in rows[-2], what="20% in the status line")
    finally:
        finished.set()
        server.close()
