"""paste.py: the text between bracketed-paste markers -> the text to put in the line. Pure.

A paste is text, never keys: a terminal that copied colour codes or a window title (ESC [ 31 m,
OSC ESC ] 0 ; ... BEL, an OSC 8 link), or a file with a stray Ctrl-U or backspace in it, must
neither edit the line nor drive the terminal. So every escape sequence is dropped whole (a
string one, OSC, DCS, APC, PM or SOS, up to its terminator), as is every other control
character; a line end (CR LF, CR, LF) is one "\\n", and a tab is a space, as typed ones are.
What arrives in one read may end inside a sequence or between a CR and its LF: that is held
for the next read, and a paste-end marker found there ends the paste.
"""

from __future__ import annotations

import re

from .editor import typed_character

PASTE_END = "\x1b[201~"
# A run of characters that are neither C0 nor C1 controls nor DEL: the text itself
_TEXT = re.compile(r"[^\x00-\x1f\x7f-\x9f]+")
# A whole escape sequence: CSI (ESC [), a string's opening (ESC ] P X ^ _: its body is skipped
# after), or ESC with intermediates and a final character. A C1 control (U+0080 to U+009F) is
# dropped alone, never taken as a sequence's start: in a paste it is mojibake far more often
# (a right quote's UTF-8 read as Latin-1 ends in U+009D, the C1 form of OSC), and taken as a
# string it swallowed the rest of the paste; terminals copy their sequences in the ESC forms.
_SEQUENCE = re.compile(r"(?P<string>\x1b[\]PX^_])|\x1b\[[0-?]*[ -/]*[@-~]|\x1b(?!\[)[ -/]*[0-~]")
# What could still become one of those with more characters (held for the next read)
_UNFINISHED = re.compile(r"\x1b\[[0-?]*[ -/]*|\x1b[ -/]*")
# A string's body: anything up to BEL, ST (ESC \ or its C1 form) or another ESC
_STRING_BODY = re.compile(r"[^\x07\x1b\x9c]*")
HELD_MOST = 64  # an unfinished sequence longer than this is no sequence: dropped, not held


class PastedText:
    """One paste, read by pieces: ``feed(chunk)`` -> (the text to insert, where in ``chunk``
    the paste ended, just after its end marker; None: it goes on)."""

    def __init__(self) -> None:
        self._held = ""  # the end of the last piece: an unfinished sequence, or a CR
        self._in_string = False  # inside an OSC (or DCS, APC ...) string: dropped up to its end

    def feed(self, chunk: str) -> tuple[str, int | None]:
        data, offset = self._held + chunk, len(self._held)
        self._held = ""
        out: list[str] = []
        at = 0
        while at < len(data):
            if self._in_string:
                at = _STRING_BODY.match(data, at).end()  # type: ignore[union-attr]
                if at == len(data):
                    break
                if data[at] == "\x1b":
                    if at + 1 == len(data):
                        self._held = "\x1b"  # ESC \ (the end) or another sequence: the next read says
                        break
                    if data[at + 1] != "\\":
                        self._in_string = False  # an ESC that does not end it starts what comes next
                        continue
                    at += 1
                at += 1
                self._in_string = False
                continue
            text = _TEXT.match(data, at)
            if text:
                run = text.group()
                out.append(run if run.isprintable() else "".join(char for char in run if typed_character(char)))
                at = text.end()
                continue
            char = data[at]
            if char == "\r":
                if at + 1 == len(data):
                    self._held = "\r"  # its LF may be in the next read
                    break
                out.append("\n")
                at += 2 if data[at + 1] == "\n" else 1
            elif char in "\n\t":
                out.append(" " if char == "\t" else "\n")
                at += 1
            elif char == "\x1b":
                sequence = _SEQUENCE.match(data, at)
                if sequence is None:
                    if _UNFINISHED.fullmatch(data, at) and len(data) - at <= HELD_MOST:
                        self._held = data[at:]
                        break
                    at += 1  # an ESC that starts nothing: dropped alone
                    continue
                if sequence.group() == PASTE_END:
                    return "".join(out), sequence.end() - offset
                self._in_string = sequence.group("string") is not None
                at = sequence.end()
            else:
                at += 1  # any other control character: no key inside a paste
        return "".join(out), None
