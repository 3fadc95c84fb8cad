"""textsafe.py: make text from a peer harmless to show in a terminal. Pure.

A peer controls every character of its messages and names. Control characters
(ESC starts CSI/OSC sequences that can move the cursor, retitle the window or worse;
CR and BS overwrite what is already shown), C1 controls, and bidirectional overrides
(which reorder what the reader sees) are replaced by visible stand-ins. So are the
invisible characters (zero-width spaces, tag characters, fillers: names.INVISIBLE_RANGES),
which would hide a difference between two lines that look the same; two are kept where
they do their everyday job: a zero-width joiner between two symbols (the joined emoji 👩‍💻)
and the emoji/text variation selectors U+FE0E and U+FE0F, which only pick how the
character before them is drawn. A text that starts with a combining mark (or another character
drawn onto the one before it, names.joins_previous) is shown on a dotted circle, as Unicode's
charts show a lone mark: drawn after a name's colon, or as a name, it would otherwise sit on
what came before it or vanish, and ``\u0301ann`` would read as ``ann``. What one character may
carry is bounded, as a terminal draws it all in one or two cells, over the rows around: at most
MAX_MARKS_SHOWN marks or skin tones (the rest counted, ``<+46 marks>``) and MAX_JOINS_KEPT joiners in a chain;
so is a run of invisible characters (MAX_INVISIBLE_SHOWN, then ``<+3,996 invisible>``), and tag
characters are read out (``<tags:gbeng>``, the tail of England's flag).
A lone surrogate is no character at all: one from U+DC80 to U+DCFF is how Python keeps a byte
that is not UTF-8 (in a file's name, an argument: surrogateescape), shown as that byte, ``\\xe9``,
as git and Python's bytes write one (an encoder made it '?', so two names differing there looked
the same); any other as ``<U+D800>``.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import NamedTuple

from .names import INVISIBLE_RANGES, joins_previous

# Bidi embedding/override/isolate controls and marks (Unicode TR 9).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
LINE_BREAK_MARK = "\u21b5"  # ↵ shows where a multi-line message broke
ZERO_WIDTH_JOINER = "\u200d"
DOTTED_CIRCLE = "\u25cc"  # the base a lone combining mark is drawn on
KEPT_SELECTORS = "\ufe0e\ufe0f"


def _stand_in(code: int) -> str:
    return f"<U+{code:04X}>"


def _ascii_table() -> dict[int, str]:
    """What an ASCII text can hold of the table: the C0 controls and DEL."""
    table = {code: "^" + chr(code + 0x40) for code in range(0x20)}  # caret notation: ESC -> ^[, NUL -> ^@
    table[0x09] = " "  # a tab would jump columns unpredictably
    table[0x0A] = LINE_BREAK_MARK
    table[0x7F] = "^?"
    return table


def _build_table() -> dict[int, str]:
    table = _ascii_table()
    for code in range(0x80, 0xA0):
        table[code] = _stand_in(code)
    for low, high in INVISIBLE_RANGES:
        for code in range(low, high + 1):
            table[code] = _stand_in(code)
    for ch in BIDI_CONTROLS + "\u2028\u2029\ufeff":
        table[ord(ch)] = _stand_in(ord(ch))
    for code in range(0xD800, 0xE000):  # lone surrogates: never text, and an encoder writes each as '?'
        table[code] = f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else _stand_in(code)
    for ch in KEPT_SELECTORS:
        del table[ord(ch)]
    return table


# Every line shown goes through the ASCII part; the whole table (2,500 stand-ins, 0.8 MiB with
# the two searches made of it, below) waits for the first text that is not ASCII: a server no
# one sends such a text to never builds it (bench/idle_memory.py).
_ASCII_TABLE = _ascii_table()


def _table_class(codes: list[int], gap: int = 1) -> str:
    """A regular expression's character class body for ``codes`` (sorted), as ranges; with a
    ``gap`` over 1, the ranges less than that apart are one (more, but fewer ranges)."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and code - ranges[-1][1] <= gap:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges)


# Invisible characters in a row: at most this many are shown, each as its stand-in, the rest
# counted ("<+3,996 invisible>"): each stand-in is 8 or 9 columns, and a message of 4,000 of them
# (one line, within the room's length limit) filled 450 rows of every screen in the room.
MAX_INVISIBLE_SHOWN = 4
# A run of tag characters (U+E0000-U+E007F) is shown as the ASCII each stands for, "<tags:gbeng>":
# the tail of a subdivision flag (🏴 and gbeng is England's) reads as one, and text hidden in tags
# (which some tools read and people do not see) is there to read, at most this much of it.
MAX_TAG_TEXT_SHOWN = 16
_TAG_RUN = re.compile("[\U000e0000-\U000e007f]{2,}")


def _invisible_runs_cut(text: str) -> str:
    """``text`` with each run of tag characters shown as the text it stands for, and each other
    run of more than MAX_INVISIBLE_SHOWN invisible characters cut to that many and a count."""
    if _TAG_RUN.search(text):
        text = _TAG_RUN.sub(_tags_read, text)
    return _non_ascii().invisible_run.sub(_invisible_counted, text)


def _tags_read(run: re.Match[str]) -> str:
    said = "".join(chr(ord(ch) - 0xE0000) for ch in run.group(0) if 0xE0020 <= ord(ch) < 0xE007F)  # (U+E007F ends a flag)
    more = len(said) - MAX_TAG_TEXT_SHOWN
    return f"<tags:{said[:MAX_TAG_TEXT_SHOWN]}" + (f"... {more:,} more>" if more > 0 else ">")


def _invisible_counted(run: re.Match[str]) -> str:
    return run.group(0)[:MAX_INVISIBLE_SHOWN] + f"<+{len(run.group(0)) - MAX_INVISIBLE_SHOWN:,} invisible>"


class _Tables(NamedTuple):
    """The whole table, and the two searches made of it, built on the first text not in ASCII."""

    table: dict[int, str]
    # Any character the table replaces: a text without one is shown as it is, not copied through
    # the table (str.translate looks every non-ASCII character up in it: 0.36 ms a 4,000-character CJK line)
    stood_in: re.Pattern[str]
    invisible_run: re.Pattern[str]  # more than MAX_INVISIBLE_SHOWN invisible characters in a row


@functools.cache
def _non_ascii() -> _Tables:
    table = _build_table()
    invisible = _table_class(sorted(code for code, shown in table.items() if shown.startswith("<U+")))
    return _Tables(
        table,
        re.compile(f"[{_table_class(sorted(table))}]"),
        re.compile(f"[{invisible}]{{{MAX_INVISIBLE_SHOWN + 1},}}"),
    )


# A joiner with a symbol (or a selector/skin tone after one) before it and a symbol after it.
_JOINED = re.compile("(?<=[\\u2000-\\u2bff\\U0001F000-\\U0001FAFF\\ufe0f])\\u200d(?=[\\u2000-\\u2bff\\U0001F000-\\U0001FAFF])")


# Marks drawn on one character: at most this many are shown, the rest as a count ("<+46 marks>").
# A terminal draws every mark on the same cell, stacked, so a few hundred of them ("Zalgo" text)
# climb over the rows above and below: over other people's lines. Real writing needs fewer:
# Vietnamese 2, pointed Hebrew with a cantillation mark 4, a Tibetan stack 3.
MAX_MARKS_SHOWN = 4
# Emoji joined into one character: at most this many joiners in a row are kept (a family of four,
# a kiss with skin tones: 3); a chain of 2,000 joined emoji is one character two columns wide to
# the screen's layout, and a terminal that does not know it draws 2,000 emoji over the rows below.
MAX_JOINS_KEPT = 3


@functools.cache
def _mark_runs() -> re.Pattern[str]:
    """Runs that may hold more than MAX_MARKS_SHOWN marks on one character: of the marks (and
    skin tones) of the running Python's Unicode tables, found once, on the first text that
    needs them (about 40 ms). The BMP's exactly (the search is then a table lookup a
    character); past it, where the regular expression tries each range in turn, a few wide
    ranges that hold them all (the emoji block apart from its skin tones is outside), and all
    of planes 2 to 16. Any run of marks lies inside one such run, so CJK, accented Latin and
    emoji text is never gone over by _cut_marks' loop (1.2 ms a 4,000-character CJK line)."""
    bmp = _table_class([code for code in range(0x80, 0x10000) if _extends(chr(code))])
    astral = _table_class([code for code in range(0x10000, 0x20000) if _extends(chr(code))], gap=0x400)
    return re.compile(f"[{bmp}{astral}\U00020000-\U0010ffff]{{{MAX_MARKS_SHOWN + 1},}}")


def _extends(ch: str) -> bool:
    """Whether ``ch`` is drawn on the character before it, in its cell: a mark (a variation
    selector among them: names.joins_previous) or an emoji skin tone (U+1F3FB-U+1F3FF)."""
    return joins_previous(ch) or "\U0001f3fb" <= ch <= "\U0001f3ff"


def _marks_counted(text: str) -> str:
    """``text`` with each run of more than MAX_MARKS_SHOWN marks on one character cut to that
    many and a count of the rest: _cut_marks goes over the runs that may hold that many only
    (_mark_runs), and any marks before or after one are not on the same character."""
    runs = _mark_runs()
    return runs.sub(_cut_marks, text) if runs.search(text) else text


def _cut_marks(run: re.Match[str]) -> str:
    out: list[str] = []
    marks = hidden = 0
    for ch in run.group(0):
        if _extends(ch):  # (the selectors U+FE0E and U+FE0F are marks; a skin tone is counted as one)
            marks += 1
            if marks > MAX_MARKS_SHOWN:
                hidden += 1
                continue
        else:
            marks = 0
            if hidden:
                out.append(f"<+{hidden} marks>")
                hidden = 0
        out.append(ch)
    if hidden:
        out.append(f"<+{hidden} marks>")
    return "".join(out)


def visible(text: str, *, continues: bool = False) -> str:
    """``text`` with every terminal-driving or invisible character replaced by a visible stand-in.
    ``continues``: ``text`` goes on from what is drawn just before it (the echo of keys typed after
    others), so a combining mark at its start is that character's own and gets no dotted circle."""
    if text.isascii():  # most text, on every line shown: no mark, no joiner, nothing to put on a circle
        return text.translate(_ASCII_TABLE)
    if text and not continues and text[0] >= "\u0300" and joins_previous(text[0]):
        text = DOTTED_CIRCLE + text  # (no combining mark comes before U+0300)
    table, stood_in, _ = _non_ascii()
    if ZERO_WIDTH_JOINER not in text:
        return _marks_counted(_invisible_runs_cut(text).translate(table) if stood_in.search(text) else text)
    # Split at the joiners that join emoji, show every other one (and those past MAX_JOINS_KEPT
    # in one chain: what lies between two joiners of a chain is one emoji and what is drawn on
    # it, however many code points: 3 selectors made 200 emoji one cell), and join them again.
    parts = _JOINED.split(_invisible_runs_cut(text))
    out = [parts[0].translate(table)]
    chain = 0
    for before, part in itertools.pairwise(parts):
        chain = chain + 1 if chain and all(map(_extends, before[1:])) else 1  # the first joiner starts a chain
        out.append(ZERO_WIDTH_JOINER if chain <= MAX_JOINS_KEPT else table[ord(ZERO_WIDTH_JOINER)])
        out.append(part.translate(table))
    return _marks_counted("".join(out))


def visible_lines(text: str) -> list[str]:
    """Like ``visible`` but keeps the message's own line breaks as separate lines."""
    return [visible(part) for part in text.split("\n")]


def quoted(text: str) -> str:
    """``text`` quoted for a message, as repr() quotes it (every control and invisible character
    escaped, so it is safe to show), but a byte that is not UTF-8 (a lone surrogate U+DC80-U+DCFF:
    surrogateescape) written as that byte, ``'caf\\xe9'``, as ``visible`` shows it, not as
    Python's ``'caf\\udce9'``: a value typed is shown the same way in every message."""
    shown = repr(text)
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return shown
    quote = shown[0]
    body = (
        f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else "\\" + ch if ch == quote else repr(ch)[1:-1]
        for ch in text
    )
    return quote + "".join(body) + quote
