"""textfold.py: messages folded at spaces to a terminal's width; what is copied stays whole."""

from __future__ import annotations

import re

from lanchat.textfold import cells, fold_line, fold_lines

FP = "SHA256:" + "Ab+/" * 10 + "xyz"


def words(rows: list[str]) -> list[str]:
    return " ".join(rows).split()


def test_a_long_line_folds_at_spaces_under_its_indent_and_a_short_one_is_left_alone():
    line = "  history: /home/teacher/.local/share/lanchat/history-3580.sqlite3 (the last 50 messages are replayed on joining)"
    rows = fold_line(line, 80)
    assert rows == [
        "  history: /home/teacher/.local/share/lanchat/history-3580.sqlite3 (the last 50",
        "    messages are replayed on joining)",
    ]
    assert fold_line("short", 80) == ["short"]
    assert fold_lines(["a " * 60, "b"], None) == ["a " * 60, "b"]  # a pipe: as they are


def test_a_fingerprint_to_copy_and_a_command_stay_whole_each_on_its_own_row():
    line = f"lanchat: the server is not the one seen before; only if they are the same, connect with --fingerprint {FP}."
    rows = fold_line(line, 80)
    assert rows[-1] == f"  --fingerprint {FP}."
    assert all(len(row) <= 80 for row in rows) and words(rows) == line.split()
    quoted = "lanchat: --fingerprint 'SHA256:abc' is not a SHA256 fingerprint (SHA256: and 43 base64 characters)"
    assert fold_line(quoted, 80) == [quoted[:79], "  " + quoted[80:]]  # its value kept with it, in the sentence
    help_line = "lanchat: ask the host for the address their screen shows: lanchat connect ADDRESS PORT; the room may be elsewhere"
    assert fold_line(help_line, 60) == [  # a command in a sentence stays in it, whole
        "lanchat: ask the host for the address their screen shows:",
        "  lanchat connect ADDRESS PORT; the room may be elsewhere",
    ]
    argparse_line = "lanchat history: error: argument --format: invalid choice: 'csv' (see lanchat history --help)"
    assert fold_line(argparse_line, 80) == [argparse_line[:69], "  lanchat history --help)"]
    board = "  or from the board: python -m lanchat connect 10.0.0.1 3580 and a few more words to fold"
    assert fold_line(board, 60) == [
        "  or from the board:", "    python -m lanchat connect 10.0.0.1 3580", "    and a few more words to fold",
    ]


def test_a_backquoted_command_and_nc_are_never_split_but_share_a_row():
    line = "lanchat: no lanchat server at 192.168.100.200:3580 (connection refused); is `lanchat serve --port 3580` running?"
    rows = fold_line(line, 80)
    assert rows == ["lanchat: no lanchat server at 192.168.100.200:3580 (connection refused); is", "  `lanchat serve --port 3580` running?"]
    nc = "  or type in any terminal: nc fe80::1234:5678:9abc:def0%eth0 3580 (then Enter, and your name)"
    assert any("nc fe80::1234:5678:9abc:def0%eth0 3580" in row for row in fold_line(nc, 60))


def test_a_command_longer_than_the_terminal_is_left_whole_on_its_row():
    """The terminal then wraps it itself, and copies its own wrapping as one line."""
    command = f"  python -m lanchat connect 192.168.100.200 3580 --fingerprint {FP}"
    assert fold_line(command, 80) == [command]
    joined = f"  join with: python -m lanchat connect --unix /run/lanchat/room.sock --fingerprint {FP}"
    assert fold_line(joined, 80) == ["  join with:", f"    python -m lanchat connect --unix /run/lanchat/room.sock --fingerprint {FP}"]


def test_a_lanchat_prefix_is_not_a_command_and_spacing_inside_a_row_is_kept():
    line = "lanchat doctor: checking port 3580 and the server at 192.168.1.20:3580, which took a long while to answer"
    assert fold_line(line, 80)[0] == "lanchat doctor: checking port 3580 and the server at 192.168.1.20:3580, which"
    table = "  WARN  firewall     " + "word " * 20
    rows = fold_line(table.rstrip(), 60, " " * 21)
    assert rows[0].startswith("  WARN  firewall     word") and all(row.startswith(" " * 21) for row in rows[1:])


def test_a_very_narrow_terminal_still_gives_each_row_some_words():
    rows = fold_line("    " + "word " * 30, 10)
    assert all(len(row) <= 6 + 20 for row in rows) and len(rows) > 1


def test_wide_characters_take_two_columns():
    """A room or a student named in CJK (or with an emoji) is twice as wide as its length."""
    line = "  1. " + "日本語の部屋 " * 8 + "on 192.168.1.20:3580"
    rows = fold_line(line, 40)
    assert all(cells(row) <= 40 for row in rows) and words(rows) == line.split()
    assert len(rows) == 5, rows  # counted by length: 3 rows, each near 80 columns wide on screen
    assert cells("e\u0301") == 1 and cells("👩") == 2 and cells("ann") == 3


def test_a_hang_too_deep_for_the_terminal_is_shortened_rows_never_pass_its_edge():
    """--plain hangs a message's further rows under its text: a direct message's head is 33
    columns, a replayed one from another day's 38. On a 50-column pane the rows were made
    53 and 58 wide (MIN_WIDTH past the hang), and the terminal cut them mid-word at column 0."""
    head = "[10:55:25] carl -> bob (direct): "
    rows = fold_line(head + "word " * 30, 50, " " * len(head))
    assert all(len(row) <= 50 for row in rows) and len(rows) > 1, rows
    assert all(row.startswith(" " * 30) and not row.startswith(" " * 31) for row in rows[1:]), rows  # 50 - MIN_WIDTH
    assert fold_line("x " * 40, 60, " " * 20)[1].startswith(" " * 20 + "x")  # room enough: the hang as asked


def test_a_backquoted_command_in_brackets_is_kept_whole():
    """The TLS question at a 64-column projector read "(`lanchat serve" / "  --tls`).": a
    backquoted command after an opening bracket or quote was taken as ordinary words."""
    line = "Compare it with the one the host printed (`lanchat serve --tls`)."
    assert fold_lines([line], 64) == ["Compare it with the one the host printed", "  (`lanchat serve --tls`)."]
    assert fold_lines(['say "`lanchat doctor --json`" to them'], 24) == ["say", '  "`lanchat doctor --json`"', "  to them"]


def test_a_link_too_long_for_the_hang_is_put_less_deep_whole_on_its_row():
    """--plain at 64 columns: the colour bot's link went under a 38-column hang and the terminal
    wrapped it, 'https://www.computerhope.c' / 'om/cgi-bin/htmlcolor.pl?c=9AB4B0' at column 0.
    It now starts less deep, whole on its row; the words after it go back under the hang."""
    link = "https://www.computerhope.com/cgi-bin/htmlcolor.pl?c=9AB4B0"
    prefix = "[17:05:13] colourbot -> ann (direct): "
    hang = " " * len(prefix)
    rows = fold_line(f"{prefix}For your calm mood, try #9AB4B0: {link} and more words after it", 64, hang)
    assert all(cells(row) <= 64 for row in rows), rows
    (row,) = [row for row in rows if link in row]
    assert row.strip() == link and row.startswith("  ")
    assert rows[-1].startswith(hang)


def test_a_fingerprints_short_form_stays_on_one_row_as_four_groups():
    """At 50 columns, serve's banner and the CHANGED refusal folded the short form for the board
    between its groups, '... is its short form 7bac 2a98' / '9472 0602? If not, do not join.':
    the four groups, compared at a glance, are now one unit, with what is stuck to them."""
    from lanchat.tls import short_form

    fp = "SHA256:e6wqmJRyBgK8tNf0SzmQ0Wl3nqVjJQm2pVwFv9Z4rYs"
    short = short_form(fp)
    assert len(short.split()) == 4
    lines = [
        f"  in short, for the board: {short} (a student's first join shows it to compare)",
        f"  Tell by the board: is its short form {short}? If not, do not join.",
        f"  Tell by the board: is its short form ({short}). If not, do not join.",
        f"[12:00] * the room's TLS fingerprint, in short {short}, as the host said",
    ]
    for columns in (40, 44, 50, 56):
        for line in lines:
            rows = fold_line(line, columns)
            assert any(short in row for row in rows), (columns, rows)
            assert all(cells(row) <= columns for row in rows), (columns, rows)
    assert fold_line(lines[1], 50) == ["  Tell by the board: is its short form", f"    {short}? If not, do not join."]
    # two groups of hex are words, folded as words
    assert fold_line("word " * 7 + "abcd 1234 more words to fold here", 44) == [
        "word word word word word word word abcd 1234", "  more words to fold here"]


def test_serve_at_a_narrow_terminal_shows_the_short_form_whole_on_one_row():
    """Once in a real terminal (a pty of 44 columns): serve --tls's banner line for the board
    showed '... for the board: 7bac 2a98 9472' / '    0602 (a student's first join ...'."""
    import io
    import sys

    import pexpect
    from helpers import DEFAULT_TIMEOUT, ROOT, child_env

    from lanchat.tls import short_form

    server = pexpect.spawn(
        sys.executable, ["-m", "lanchat", "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--tls"],
        env=child_env(), cwd=str(ROOT), encoding="utf-8", timeout=DEFAULT_TIMEOUT, dimensions=(24, 44),
    )
    server.logfile_read = shown = io.StringIO()
    try:
        server.expect(r"history: off")
        text = shown.getvalue().replace("\r\n", "\n")
        fingerprint = re.search(r"SHA256:\S+", text)
        assert fingerprint, text
        rows = text.split("\n")
        (board,) = [row for row in rows if short_form(fingerprint.group()) in row]
        assert board.strip().startswith(short_form(fingerprint.group())) and len(board) <= 44, rows
    finally:
        server.terminate(force=True)
        server.close()
