"""textfold.py: a message printed outside the chat screen, folded at spaces to the terminal's width. Pure.

A terminal cuts a line that is too long wherever the width ends, mid-word and back at column 0:
an error read on an 80-column projector came out as "is `lanchat serve` running on t" / "hat
machine". ``fold_lines`` folds each line at its spaces instead, the rest under the line's own
indent and two more. Some words must never be split, because someone copies them: a
`backquoted` command, ``--fingerprint SHA256:...`` with its value, an ``nc HOST PORT``, and a
``lanchat connect ...`` command with its arguments; and a TLS fingerprint's short form
(``7bac 2a98 9472 0602``), compared with the board at a glance. Those stay whole; a ``--fingerprint``
and a command to run as it is (``python -m lanchat connect 10.0.0.1 3580``, or one with a
fingerprint) go on a line of their own, so a triple click copies exactly them; a command in a
sentence (``lanchat connect ADDRESS PORT``) stays in the sentence. One longer
than the terminal is left long: a terminal copies its own wrapping of a line as one line, and a
command cut in two by us would paste as two. The original spacing inside a line (a table's
columns) is kept. Widths are counted in terminal columns: a CJK name or an emoji takes two.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_SUBCOMMANDS = "serve|connect|history|rooms|doctor|names|key"
# An argument of a command written in prose: an option, a PLACEHOLDER, or a word with a digit,
# a dot, a slash or a colon in it (an address, a port, a path, a fingerprint). A plain
# lowercase word ends the command: it is the sentence going on.
_ARGUMENT = r"(?:-[\w-]+|[A-Z][A-Z_]+\b|[\w+=~%\[\]-]*[\d./:][\w.:/+=~%\[\]-]*)"
# A TLS fingerprint's short form (tls.short_form, "7bac 2a98 9472 0602"), read off the board at a
# glance, or a key's (identity.short_fingerprint), with a bracket or quote before it: its four
# groups stay on one row, never "7bac 2a98" / "9472 0602" (here, and in ui/render's rows)
SHORT_FORM = r"[(\[{\"']?(?<![\w-])[0-9a-f]{4}(?: [0-9a-f]{4}){3}(?![\w-])"
_UNIT = re.compile(
    r"(?P<quoted>[(\[{\"']?`[^`]+`\S*)"  # with a bracket or quote before it: "(`lanchat serve --tls`)."
    r"|(?P<pin>--fingerprint +SHA256:\S+)"  # one to copy: a row of its own
    r"|(?P<option>--fingerprint +\S+)"  # one quoted back in an error: kept with its value
    rf"|(?P<command>(?:python3? -m )?lanchat (?:{_SUBCOMMANDS})\b(?!:)(?: +{_ARGUMENT})*\S*)"
    r"|(?P<nc>\bnc +\S+ +\d+\S*)"
    rf"|(?P<short>{SHORT_FORM}\S*)"  # with what is stuck to it after
    r"|\S+"
)
MIN_WIDTH = 20  # past the hanging indent, however narrow the terminal says it is


def fold_lines(lines: Iterable[str], columns: int | None) -> list[str]:
    """Each of ``lines`` folded to ``columns`` (None: a pipe or a file, left as they are)."""
    if columns is None:
        return list(lines)
    return [row for line in lines for row in fold_line(line, columns)]


def fold_line(line: str, columns: int, hang: str | None = None) -> list[str]:
    """``line`` as rows of at most ``columns`` characters, broken only at spaces, the rows after
    the first indented by ``hang`` (default: the line's own indent and two spaces)."""
    if cells(line) <= columns:
        return [line]
    indent = line[: len(line) - len(line.lstrip(" "))]
    hang = indent + "  " if hang is None else hang
    if len(hang) + MIN_WIDTH > columns:
        # a hang under a long name (--plain, 32 wide characters: 75 columns) made rows of 95 on an
        # 80-column terminal, which the terminal wraps back at column 0, where the tail of a
        # message could pass for a line of its own ("[12:00] teacher: the test is off")
        hang = " " * max(2, columns - MIN_WIDTH)
    width = max(columns, len(hang) + MIN_WIDTH)
    rows: list[str] = []
    row, used, fresh, end = indent, len(indent), True, len(indent)  # fresh: nothing on the row but its indent
    for unit in _UNIT.finditer(line, len(indent)):
        gap, text = line[end : unit.start()], unit.group()
        own = unit.lastgroup == "pin" or (unit.lastgroup == "command" and (text.startswith("python") or "--fingerprint" in text))
        end = unit.end()
        # a plain word wider than the terminal (a long link, a paste without spaces) fits no row:
        # the terminal wraps it wherever it starts, so it goes on after what is on the row (put
        # on a row of its own, it left "[12:00] ann:" alone above it, a message with no words)
        size = cells(text)  # (once a word: a plain message is folded as it comes)
        endless = unit.lastgroup is None and size > columns - 2
        if not fresh and not endless and (own or used + len(gap) + size > width):
            rows.append(row)
            # a word too long for the room under the hang (a link under a --plain sender's
            # prefix) is put less deep, whole on its row, rather than wrapped by the terminal
            # (one longer than the terminal keeps the hang: the terminal wraps it in any case)
            deep_enough = len(hang) + size <= width or size > columns - 2
            under = hang if deep_enough else " " * min(len(hang), columns - size)
            row, used, fresh = under, len(under), True
        row, used = (row + text, used + size) if fresh else (row + gap + text, used + len(gap) + size)
        fresh = False
        if own:
            rows.append(row)
            row, used, fresh = hang, len(hang), True
    if not fresh:
        rows.append(row)
    return rows


def cells(text: str) -> int:
    """The columns ``text`` takes at a terminal: two for a wide character (CJK, most emoji),
    none for a combining mark or a format character, one for the rest (unicodedata: loaded
    already by names.py, where wcwidth would cost every command's start 30 ms)."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf")
        else 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        for char in text
    )  # fmt: skip


def shell_word(text: str) -> str:
    """``text`` as one word to type in a shell, in a command to copy: as it is when the shell
    reads it so, else in double quotes (a room name's apostrophe kept readable: "ann's room-2"),
    or quoted by shlex where double quotes would not hold it."""
    import shlex

    quoted = shlex.quote(text)
    return text if quoted == text else f'"{text}"' if not set(text) & set('"$`\\!') else quoted
