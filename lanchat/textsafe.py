"""textsafe.py: make text from a peer harmless to show in a terminal. Pure.

A peer controls every character of its messages and names. Control characters
(ESC starts CSI/OSC sequences that can move the cursor, retitle the window or worse;
CR and BS overwrite what is already shown), C1 controls, and bidirectional overrides
(which reorder what the reader sees) are replaced by visible stand-ins.
"""

from __future__ import annotations

# Bidi embedding/override/isolate controls and marks (Unicode TR 9).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
LINE_BREAK_MARK = "\u21b5"  # ↵ shows where a multi-line message broke


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = "^" + chr(code + 0x40)  # caret notation: ESC -> ^[, NUL -> ^@
    table[0x09] = " "  # a tab would jump columns unpredictably
    table[0x0A] = LINE_BREAK_MARK
    table[0x7F] = "^?"
    for code in range(0x80, 0xA0):
        table[code] = f"<U+{code:04X}>"
    for ch in BIDI_CONTROLS + "\u2028\u2029\ufeff":
        table[ord(ch)] = f"<U+{ord(ch):04X}>"
    return table


_TABLE = _build_table()


def visible(text: str) -> str:
    """``text`` with every terminal-driving character replaced by a visible stand-in."""
    return text.translate(_TABLE)


def visible_lines(text: str) -> list[str]:
    """Like ``visible`` but keeps the message's own line breaks as separate lines."""
    return [visible(part) for part in text.split("\n")]
