"""paste.py: the text between bracketed-paste markers -> the text to put in the line. Pure.

A paste is text, never keys: a terminal that copied colour codes or a window title (ESC [ 31 m,
OSC ESC ] 0 ; ... BEL, an OSC 8 link), or a file with a stray Ctrl-U or backspace in it, must
neither edit the line nor drive the terminal. So every escape sequence is dropped whole (a
string one, OSC, DCS, APC, PM or SOS, up to its terminator), as is every other control
character; a line end (CR LF, CR, LF) is one "\\n", and a tab is a space, as typed ones are.
What arrives in one read may end inside a sequence or between a CR and its LF: that is held
for the next read, and a paste-end marker found there ends the paste.

Ctrl-C, Ctrl-Z and Ctrl-\\ are keys while the chat runs, not signals (the terminal's ISIG is off:
the kernel would turn a pasted one into SIGINT, markers or not), so in a paste they are dropped
like any control. A paste whose end marker never comes (lost; an ESC [ 200 ~ typed by hand)
would then keep the keyboard for good: ``given_up`` lets those keys through once it is quiet.
Outside a paste, a read can end inside a key's sequence too (``HeldEscape``).

A paste that holds the end marker itself (ESC [ 201 ~ copied from a terminal's output, or put
there on purpose) ends early, as the terminal says; what followed it in the same read became
keys: its Ctrl-U emptied the line, its Enter ran the /command after it. The rest of that read is
text too now (a ``tail`` PastedText, over with its read), unless it is an Enter alone: a paste and
then Enter (tmux's paste-buffer, then send-keys Enter) still sends. (A read that comes after
it is keys: what a person types after a paste is never held to a time.)
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
ENTER_ALONE = ("\r", "\n", "\r\n")  # all that follows a paste's end in its read: the Enter key, not a tail
STOP_KEYS = "\x03\x1a\x1c"  # Ctrl-C, Ctrl-Z, Ctrl-\: what the terminal's ISIG made signals of
# A paste comes in one burst (a terminal writes it at once): its pieces are milliseconds apart.
# A read of nothing but stop keys this long after the last piece is a person at a stuck paste.
QUIET_SECONDS = 0.5


class PastedText:
    """One paste, read by pieces: ``feed(chunk)`` -> (the text to insert, where in ``chunk``
    the paste ended, just after its end marker; None: it goes on)."""

    def __init__(self, now: float = 0.0, *, tail: bool = False) -> None:
        self.tail = tail  # what followed a paste's end in its read: text too, over with the read
        self._held = ""  # the end of the last piece: an unfinished sequence, or a CR
        self._in_string = False  # inside an OSC (or DCS, APC ...) string: dropped up to its end
        self.fed_at = now  # (time.monotonic()) when the paste started, then when its last piece came

    def given_up(self, read: str, now: float) -> bool:
        """Is ``read`` (all of one read, from the keyboard) a person's Ctrl-C, Ctrl-Z or Ctrl-\\ at a
        paste whose end never came? Only such keys, alone in their read, QUIET_SECONDS after
        the paste's last piece; then the paste is over and they do what they do outside one."""
        return bool(read) and now - self.fed_at >= QUIET_SECONDS and not read.strip(STOP_KEYS)

    def finish(self) -> str:
        """The paste is over with what was fed (a tail, with its read): what it still held, a CR
        kept for its LF, is a line end; an unfinished sequence is nothing."""
        held, self._held = self._held, ""
        return "\n" if held == "\r" else ""

    def feed(self, chunk: str, now: float = 0.0) -> tuple[str, int | None]:
        if chunk.strip(STOP_KEYS):  # (stop keys alone, dropped, do not keep a stuck paste alive)
            self.fed_at = now
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


PASTE_START = "\x1b[200~"  # what a terminal sends before a paste once asked to (ESC [ ? 2004 h)
# What could still become a key's sequence (an arrow, ESC [ 200 ~) with more characters
_KEY_UNFINISHED = re.compile(r"\x1b(\[[0-?]*[ -/]*|O)?")
# Keys a person types come further apart than this; the pieces of one sequence, much closer
KEYS_APART_SECONDS = 0.05


class HeldEscape:
    """Outside a paste, the end of one read that may begin an escape sequence whose rest is in
    the next read: a read can end anywhere (ESC [ 2 0 | 0 ~), and the paste-start marker read as
    an unknown key and the rest typed as text made the paste keys. ``hold`` keeps it; ``join``
    puts it before the next read. An ESC alone (or ESC [, ESC O) is also a key of its own (Esc,
    Alt-[, Alt-O), so it is joined only to a read that comes within KEYS_APART_SECONDS or that
    makes it the paste-start marker; a longer one (ESC [ 2 0) is no key: always joined."""

    def __init__(self) -> None:
        self.text = ""
        self._at = 0.0

    def hold(self, rest: str, now: float) -> bool:
        """Keep ``rest``, the end of a read from an ESC on, if more could finish it."""
        if len(rest) > HELD_MOST or not _KEY_UNFINISHED.fullmatch(rest):
            return False
        self.text, self._at = rest, now
        return True

    def join(self, read: str, now: float) -> str:
        """The next ``read``, after what was held when it finishes it (a lone key's, else dropped)."""
        held, self.text = self.text, ""
        if not held:
            return read
        if len(held) > 2 or now - self._at < KEYS_APART_SECONDS or (held + read).startswith(PASTE_START):
            return held + read
        return read  # Esc, Alt-[ or Alt-O typed alone: no key in line mode, as when read whole
