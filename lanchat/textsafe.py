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
MAX_MARKS_SHOWN marks or skin tones (the rest counted, ``<+46 marks>``) and MAX_JOINS_KEPT joiners in a chain.
"""

from __future__ import annotations

import itertools
import re

from .names import INVISIBLE_RANGES, joins_previous

# Bidi embedding/override/isolate controls and marks (Unicode TR 9).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
LINE_BREAK_MARK = "\u21b5"  # ↵ shows where a multi-line message broke
ZERO_WIDTH_JOINER = "\u200d"
DOTTED_CIRCLE = "\u25cc"  # the base a lone combining mark is drawn on
KEPT_SELECTORS = "\ufe0e\ufe0f"


def _stand_in(code: int) -> str:
    return f"<U+{code:04X}>"


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = "^" + chr(code + 0x40)  # caret notation: ESC -> ^[, NUL -> ^@
    table[0x09] = " "  # a tab would jump columns unpredictably
    table[0x0A] = LINE_BREAK_MARK
    table[0x7F] = "^?"
    for code in range(0x80, 0xA0):
        table[code] = _stand_in(code)
    for low, high in INVISIBLE_RANGES:
        for code in range(low, high + 1):
            table[code] = _stand_in(code)
    for ch in BIDI_CONTROLS + "\u2028\u2029\ufeff":
        table[ord(ch)] = _stand_in(ord(ch))
    for ch in KEPT_SELECTORS:
        del table[ord(ch)]
    return table


_TABLE = _build_table()
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
_MARK_RUN = re.compile(f"[^\\x00-\\x7f]{{{MAX_MARKS_SHOWN + 1},}}")  # long enough to hold too many marks


def _extends(ch: str) -> bool:
    """Whether ``ch`` is drawn on the character before it, in its cell: a mark (a variation
    selector among them: names.joins_previous) or an emoji skin tone (U+1F3FB-U+1F3FF)."""
    return joins_previous(ch) or "\U0001f3fb" <= ch <= "\U0001f3ff"


def _marks_counted(text: str) -> str:
    """``text`` with each run of more than MAX_MARKS_SHOWN marks on one character cut to that
    many and a count of the rest (the run is found first: most text has none)."""
    return _MARK_RUN.sub(_cut_marks, text) if _MARK_RUN.search(text) else text


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
        return text.translate(_TABLE)
    if text and not continues and text[0] >= "\u0300" and joins_previous(text[0]):
        text = DOTTED_CIRCLE + text  # (no combining mark comes before U+0300)
    if ZERO_WIDTH_JOINER not in text:
        return _marks_counted(text.translate(_TABLE))
    # Split at the joiners that join emoji, show every other one (and those past MAX_JOINS_KEPT
    # in one chain: what lies between two joiners of a chain is one emoji and what is drawn on
    # it, however many code points: 3 selectors made 200 emoji one cell), and join them again.
    parts = _JOINED.split(text)
    out = [parts[0].translate(_TABLE)]
    chain = 0
    for before, part in itertools.pairwise(parts):
        chain = chain + 1 if chain and all(map(_extends, before[1:])) else 1  # the first joiner starts a chain
        out.append(ZERO_WIDTH_JOINER if chain <= MAX_JOINS_KEPT else _TABLE[ord(ZERO_WIDTH_JOINER)])
        out.append(part.translate(_TABLE))
    return _marks_counted("".join(out))


def visible_lines(text: str) -> list[str]:
    """Like ``visible`` but keeps the message's own line breaks as separate lines."""
    return [visible(part) for part in text.split("\n")]
