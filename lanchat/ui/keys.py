"""keys.py: a batch of keys read from the terminal -> what each does. Pure: no curses here.

The one curses module (screen.py) reads the keys and decodes their bytes; what is left is a list
of characters (text) and the numbers curses gives the keys it knew (an arrow, F2, a resize:
``KeyCodes``, filled in by screen.py). Here they become text typed into the input line, a
paste's text (paste.py: never keys), or a key's name handed back to the screen (``on_key``:
scrolling, F2, the editor's keys; ``on_stop``: Ctrl-C, Ctrl-\\, Ctrl-Z; ``on_enter``: the
lines Enter sends). A terminal without paste markers gets a guess: an Enter with more text
behind it in the same read is a pasted line break, never around a /command.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import session_social as social
from ..session import Session
from .editor import typed_character
from .paste import ENTER_ALONE, HeldEscape, PastedText
from .view import View

# what /help keys lists (the session shows it: Session.ui_keys)
KEYS = (
    ("Enter", "send the line (in turn-based mode, typed out of turn it waits for your turn; /unsend drops it)"),
    ("Left/Right, Ctrl-Left/Right", "move the cursor by a character or a word"),
    ("Home/End, Ctrl-A/Ctrl-E", "start/end of the input line"),
    ("Alt-b/Alt-f", "back/forward a word"),
    ("Backspace, Delete", "delete the character before/under the cursor"),
    ("Ctrl-K, Ctrl-U, Ctrl-W", "delete to the end, to the start, the word before the cursor"),
    ("Alt-d, Alt-Backspace", "delete the word after/before the cursor"),
    ("Ctrl-Y", "put back what the last delete-to/word keys in a row removed"),
    ("Alt-Enter", "a line break inside the message"),
    ("Up/Down, Ctrl-R", "recall lines you sent; search them (Ctrl-R again: older; Ctrl-G: give up; /projector: not those to one person)"),
    ("Tab", "complete a name (NAME: at the start), a command, a /send path; several: listed"),
    ("Ctrl-F, /find TEXT", "find TEXT in the transcript (Ctrl-F again: the next older match)"),
    ("PgUp/PgDn, mouse wheel", "scroll the transcript (/mouse off gives the mouse back: Shift+drag selects meanwhile)"),
    ("Ctrl-Home/Ctrl-End", "oldest/newest line (Home too when the input line is empty; End when the cursor is at its end)"),
    ("F2", "show/hide who is here (at least 100 columns)"),
    ("Ctrl-L", "redraw the screen"),
    social.LEAVE_KEYS_HELP,
    ("Ctrl-Z", "stop for the shell (fg: back)"),
)

CONTROL_KEYS = {
    "\x01": "ctrl-a",
    "\x02": "ctrl-b",
    "\x04": "ctrl-d",
    "\x05": "ctrl-e",
    "\x06": "ctrl-f",
    "\x07": "ctrl-g",
    "\x12": "ctrl-r",
    "\x19": "ctrl-y",
    "\x0b": "ctrl-k",
    "\x15": "ctrl-u",
    "\x17": "ctrl-w",
    "\x08": "backspace",
    "\x7f": "backspace",
    "\t": "tab",
    "\x0c": "redraw",
    "\r": "enter",
    "\n": "enter",
    # keys, not signals, while the screen is up (curses.raw: no ISIG), so that in a paste they are
    # dropped like any control (paste.py); typed, each does what its signal did (screen.py: _stop_key)
    "\x03": "interrupt",
    "\x1c": "quit",
    "\x1a": "suspend",
}
STOP_NAMES = ("interrupt", "quit", "suspend")

# What terminals send for keys that their terminfo entry may not name, after ESC [ or ESC O:
# TERM=vt100 or ansi in a modern terminal names no Home, End, Delete, PgUp or PgDn, and a
# terminal that ignores the cursor-key mode sends ESC [ C where terminfo says ESC O C. Read by
# their VT220/xterm spelling rather than swallowed as an unknown sequence.
VT_KEYS = {
    "A": "up", "B": "down", "C": "right", "D": "left", "H": "home", "F": "end", "Q": "f2",
    "1~": "home", "7~": "home", "4~": "end", "8~": "end", "3~": "delete", "5~": "pgup", "6~": "pgdn", "12~": "f2",
    "1;5C": "ctrl-right", "1;5D": "ctrl-left", "1;5H": "ctrl-home", "1;5F": "ctrl-end",
}
PASTE_ON, PASTE_OFF = "[200~", "[201~"  # bracketed paste markers, after an ESC

# Alt+key arrives as ESC then the key (readline's meta keys)
ALT_KEYS: dict[str | int, str] = {
    "b": "alt-b",
    "f": "alt-f",
    "d": "alt-d",
    "\x7f": "alt-backspace",
    "\x08": "alt-backspace",
    "\r": "alt-enter",
    "\n": "alt-enter",
}
CURSOR_REPORT = re.compile(r"\[(\d+);(\d+)R")  # the terminal's answer to ESC [ 6 n (screen.py: probe_graphemes)


@dataclass(frozen=True)
class KeyCodes:
    """The numbers curses reads some keys as, and its name for any other (screen.py fills it in)."""

    resize: int
    backspace: int
    enter: int
    untyped: frozenset[int]  # keys the terminal sends on its own (a resize, a mouse report): one may come between any two bytes of a paste
    name: Callable[[int], str | None]  # a key curses read as a number -> its name (None: one lanchat does not use)


def _typed(key: str | int) -> bool:
    """A key that is text to put in the line (not a control or a curses key code)."""
    return isinstance(key, str) and typed_character(key)


def _last_where(keys: list[str | int], test: Callable[[str | int], bool]) -> int:
    """Where the last of ``keys`` that passes ``test`` is (-1: none), read from the end once a
    batch: asked afresh at each tab or Enter (is there text after it?), a paste ending in
    thousands of tabs or blank lines was quadratic (20,000 tabs: 29 s)."""
    return next((at for at in range(len(keys) - 1, -1, -1) if test(keys[at])), -1)


def _on_the_line(key: str | int) -> bool:
    """A character of a line: neither a line break nor a special key."""
    return isinstance(key, str) and key not in "\r\n"


def _starts_command(text: str) -> bool:
    """Does ``text`` start with a command (``/``, after any blanks)? Looks at its first
    non-blank character only, where ``text.lstrip()`` copies all of an indented text."""
    return next((char for char in text if not char.isspace()), "") == "/"


class KeyReader:
    """Batches of keys -> text in the input line, and the names of the keys the screen acts on
    (``on_key``), stops on (``on_stop``: True when leaving) and sends on (``on_enter``: the
    lines it submits). ``changed``: something to draw since the owner last looked."""

    def __init__(
        self,
        view: View,
        session: Session,
        codes: KeyCodes,
        *,
        on_key: Callable[[str], None],
        on_stop: Callable[[str], bool],
        on_enter: Callable[[], list[str]],
    ) -> None:
        self.view, self.session, self.codes = view, session, codes
        self.on_key, self.on_stop, self.on_enter = on_key, on_stop, on_enter
        self.changed = False
        self.ctrl_c = social.CtrlCAnswer()  # the host's Ctrl-C asks first (screen.py: _stop_key): which press answers
        self.paste = False  # inside a bracketed paste: Enter is a line break, not "send"
        self._pasted = PastedText()  # what the paste holds is text only, never keys (paste.py)
        self._after_cr = False  # the last key read was a CR outside a paste: a LF first in the next read is its line end
        self._held = HeldEscape()  # a batch's end that may begin a sequence whose rest is in the next (ESC [ 2 0 | 0 ~)
        self._lone_escape = False  # the last batch ended in an Esc curses timed alone: a paste's ESC if the next holds [200~
        self.marks_pastes = False  # the terminal brackets pastes: no guessing (set by screen.py once it asked terminfo)
        self.draws_joined = False  # the terminal drew screen.py's PROBE_CLUSTER in two columns

    def handle(self, keys: list[str | int]) -> list[str]:
        """One batch of keys -> submitted lines. Inside bracketed-paste markers all is text, an Enter
        a line break (_paste_keys). Outside, a terminal that marks pastes (``self.marks_pastes``) sends
        every Enter: keys typed ahead arrive together and are still lines. Only one without the markers
        gets the guess (an Enter with text behind it in the same read is pasted; never around a /command)."""
        submitted: list[str] = []
        keys, index = self._first_key(keys)
        # without paste markers, is there text after a tab, or on a line after an Enter (a paste)?
        last_typed = last_on_a_line = -1
        if not self.marks_pastes:
            last_typed, last_on_a_line = _last_where(keys, _typed), _last_where(keys, _on_the_line)
        while index < len(keys):
            self.ctrl_c.key(keys[index], self.codes.untyped)  # Ctrl-C's question (if asked): another key goes on
            if self.paste:
                index = self._paste_keys(keys, index)
                continue
            key = keys[index]
            index += 1
            if key == "\x1b":
                index, name = self._escape(keys, index)
            elif isinstance(key, int):
                name = self.codes.name(key)
            elif key in CONTROL_KEYS:
                name = CONTROL_KEYS[key]
            elif typed_character(key):
                # a run of typed characters (a paste, keys typed ahead) goes in at once: one insert
                end = index
                while end < len(keys) and _typed(keys[end]):
                    end += 1
                self.view.editor.type("".join(k for k in keys[index - 1 : end] if isinstance(k, str)))
                index = end
                social.note_typing(self.session, self.view.editor.text)  # a hint, never the text
                self.changed = True
                continue
            else:
                continue  # other control characters do nothing
            if name is None:
                continue
            if name == "enter":
                if not self.marks_pastes and self._guess_paste(keys, index, last_on_a_line):
                    if key == "\r" and index < len(keys) and keys[index] == "\n":
                        index += 1  # CR LF from a paste is one line break
                    self.view.editor.type("\n")
                else:
                    submitted += self.on_enter()
            elif name == "alt-enter":
                self.view.editor.type("\n")  # a deliberate line break in a multi-line message
            elif name == "tab" and not self.marks_pastes and last_typed >= index:
                # without paste markers, a tab with text behind it in the same read is pasted
                # (a person waits for the list): text, not a request to complete
                self.view.editor.type(" ")
            elif name in STOP_NAMES:
                if self.on_stop(name):
                    return submitted  # leaving: the keys after it are dropped, as the terminal did
            else:
                self.on_key(name)
            self.changed = True
        return submitted

    def _first_key(self, keys: list[str | int]) -> tuple[list[str | int], int]:
        """A batch of keys, after the start of a sequence the last one ended in (_escape), or the
        ESC of a paste's start marker the last one ended in alone, and where it starts: after a LF
        that ends the CR the last batch ended in (a pasted CR LF split between two reads, without
        paste markers, was two line breaks). A paste whose end never came is over when a person
        presses Ctrl-C alone (paste.py). A Ctrl-C after the one that asked (social.CtrlCAnswer) is a
        new read's."""
        self.ctrl_c.read()
        if self._held.text:
            head = "".join(itertools.takewhile(lambda key: isinstance(key, str), keys[: len(PASTE_ON) + 1]))  # type: ignore[arg-type]
            held = self._held.text
            if self._held.join(head, time.monotonic()) != head:
                keys = [*held, *keys]
        lone, self._lone_escape = self._lone_escape, self._lone_escape and not keys
        if lone and all(isinstance(key, str) for key in keys[: len(PASTE_ON)]) and "".join(map(str, keys[: len(PASTE_ON)])) == PASTE_ON:
            keys = ["\x1b", *keys]  # the marker's ESC came alone, past curses' ESCDELAY: its Esc was done, the paste still starts
        after_cr = self._after_cr
        if keys:  # (a wake-up with no key in between changes nothing)
            self._after_cr = keys[-1] == "\r"
        read = "".join(key for key in keys if isinstance(key, str))
        if self.paste and len(read) == len(keys) and self._pasted.given_up(read, time.monotonic()):
            self.paste = False
        return keys, 1 if after_cr and not self.paste and keys[:1] == ["\n"] else 0

    def _paste_keys(self, keys: list[str | int], index: int) -> int:
        """Keys inside bracketed-paste markers, from ``index``: text to put in the line, never
        keys (paste.py: a pasted Ctrl-U emptied the line, an ESC b moved the cursor, an OSC's
        body was typed). A key code is a sequence curses knew (ESC [ 3 ~, Delete) and goes too;
        a resize is no part of the paste. Returns where the keys go on."""
        end = index
        while end < len(keys) and isinstance(keys[end], str):
            end += 1
        if end == index:
            if keys[index] == self.codes.resize:
                self.on_key("resize")
            return index + 1
        text, ended = self._pasted.feed("".join(keys[index:end]), time.monotonic())  # type: ignore[arg-type]
        if text:
            self.view.editor.type(text)
            self.changed = True
        if ended is None:
            return end
        rest = keys[index + ended :]  # a paste holding ESC [ 201 ~: what follows in this read is text too
        if rest and "".join(key if isinstance(key, str) else "\0" for key in rest) not in ENTER_ALONE:
            self._pasted = PastedText(time.monotonic(), tail=True)
        else:
            self.paste = False
        return index + ended

    def _guess_paste(self, keys: list[str | int], index: int, last_on_a_line: int) -> bool:
        """For a terminal without paste markers: is the Enter before ``keys[index]`` inside a
        paste? Yes when more text follows in the same read (``last_on_a_line``: where the last
        key of a line is, _last_where), unless the line it ends or the line after it is a
        command: a command is never glued into a message."""
        # the input line and the rest of the read are looked at in place and only the next line
        # is copied: a copy of either per Enter made a paste of thousands of lines quadratic
        if _starts_command(self.view.editor.text):
            return False
        end = index
        while end < len(keys) and _on_the_line(keys[end]):
            end += 1
        following = "".join(str(key) for key in keys[index:end])  # the next line, up to its Enter
        if not following.strip():
            return last_on_a_line >= index
        return not _starts_command(following)

    def _escape(self, keys: list[str | int], index: int) -> tuple[int, str | None]:
        """An ESC that curses did not turn into a key: bracketed paste markers, Alt+key (ESC
        then the key), or an unknown sequence, which is swallowed rather than typed.
        Returns where the keys go on and the key's name (None: nothing to do)."""
        unread = keys[index - 1 :]  # a sequence's start at the batch's end is held for the next (not Esc alone: curses timed it)
        if len(unread) > 1 and all(isinstance(key, str) for key in unread) and self._held.hold("".join(unread), time.monotonic()):  # type: ignore[arg-type]
            return len(keys), None
        rest = "".join(k for k in keys[index : index + 5] if isinstance(k, str))
        if rest.startswith(PASTE_ON):
            self.paste = True
            self._pasted = PastedText(time.monotonic())
            self.marks_pastes = True  # seen once: this terminal marks every paste
            return index + len(PASTE_ON), None
        if rest.startswith(PASTE_OFF):
            self.paste = False
            return index + len(PASTE_OFF), None
        report = CURSOR_REPORT.match("".join(k for k in keys[index : index + 12] if isinstance(k, str)))
        if report:  # the answer to probe_graphemes: the family ended at column 3 (1-based)
            self.draws_joined = report.group(1, 2) == ("5", "3")
            self.changed = True
            return index + len(report.group(0)), None
        if index < len(keys) and keys[index] in ("[", "O"):
            start = index + 1
            index = start
            while index < len(keys) and isinstance(keys[index], str) and not ("@" <= keys[index] <= "~"):  # type: ignore[operator]
                index += 1
            body = "".join(k for k in keys[start : index + 1] if isinstance(k, str))
            return index + 1, VT_KEYS.get(body)  # (a pasted sequence is no key: _paste_keys)
        if index >= len(keys):
            self._lone_escape = True  # (or a paste's start marker cut after its ESC: _first_key)
            return index, "escape"  # Esc on its own
        if index < len(keys):
            follower = keys[index]
            name = ALT_KEYS.get(follower) if isinstance(follower, (str, int)) else None
            if name is None and follower in (self.codes.backspace, self.codes.enter):
                name = "alt-backspace" if follower == self.codes.backspace else "alt-enter"
            return index + 1, name
        return index, None

    def end_read(self) -> None:
        """The read whose keys were handled is over: what followed a paste's end in it is too (paste.py)."""
        if self.paste and self._pasted.tail:
            self.paste = False
            if held := self._pasted.finish():
                self.view.editor.type(held)
