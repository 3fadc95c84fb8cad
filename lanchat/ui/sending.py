"""sending.py: what the input line sends on Enter, and what comes back to it. Pure.

Enter's rules (pasted commands go one by one; a line too long is refused here; a message out of
turn goes to the client, which holds it for our turn: client.send_typed) and the answers read for
a line we sent: refused while muted, or a direct message to nobody here, what was typed goes back
into the input line (``give_back``) instead of being lost. The full screen (screen.py) owns one
``Sending``.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import replace

from .. import events as ev
from ..session import ALIASES, TURN_CHANGED, TURN_OURS, Line, Session
from .view import View


def _is_command(text: str) -> bool:
    """Is a line typed a command (``/who``), not a message (``//path`` sends ``/path``)?"""
    start = text.lstrip()
    return start.startswith("/") and not start.startswith("//")


def _known_command(text: str, known: frozenset[str]) -> bool:
    """Is a line one of the commands ``known`` (``/send a.pdf``), not only a line starting with a
    slash (``/home/ann/a.pdf``)?"""
    word = text.lstrip().split(" ", 1)[0].lower()
    return _is_command(text) and ALIASES.get(word, word) in known


def _whispers(text: str) -> bool:
    """Is a line typed a direct message: /w NAME TEXT (also /msg, /whisper) or /r TEXT?"""
    word = text.lstrip().split(" ", 1)[0].lower()
    return ALIASES.get(word, word) in ("/w", "/r")


# A name as Python quotes it: 'bbo', "o'brein" (with an apostrophe), a backslash escaped
# (at most 400 characters inside: a name cut to 40, each at most \U0010ffff quoted; unbounded, a
# hostile server's refusal of 64 KiB of '\ froze the screen 8 s, every quote read to the end)
_QUOTED_NAME = re.compile(r"'(?:[^'\\]|\\.){0,400}+'" + r'|"(?:[^"\\]|\\.){0,400}+"')


def _names(refusal: str, name: str) -> bool:
    """Does a no-such-user refusal name ``name``? The server quotes the name it looked for as
    Python does (room.py, moderation.py: {name[:40]!r}, so 'bbo' but "o'brein"), cut to 40
    characters; the names are compared as the room compares them (events.name_key)."""
    wanted = ev.name_key(name[:40])
    for found in _QUOTED_NAME.finditer(refusal):
        try:
            with warnings.catch_warnings():  # an invalid escape ('\d') warns, and a warning printed lands on the screen
                warnings.simplefilter("ignore")
                quoted = ast.literal_eval(found.group(0))
        except (ValueError, SyntaxError):  # not a quoted name after all
            continue
        if isinstance(quoted, str) and ev.name_key(quoted) == wanted:
            return True
    return False


class Sending:
    """The input line's lines on their way: Enter's rules (``enter``), and a refused one given
    back (``answered``)."""

    def __init__(self, session: Session, view: View) -> None:
        self.session, self.view = session, view
        self._last_message: str | None = None  # the last chat line sent, until the server answers
        # the last /w (or /r) that went to the server, as typed, and whom to: until it is answered
        self._last_whisper: tuple[str, str] | None = None
        self._put_back_end = 0  # where the next line given back goes in the input line (editor.put_back)

    def _now(self) -> float:
        return self.session.clock()  # type: ignore[operator]

    def keys_read(self) -> None:
        """A new batch of keys: lines these keys submitted and not taken go back in front."""
        self._put_back_end = 0

    def enter(self) -> list[str]:
        """Enter outside a paste: the lines it submits. In turn-based mode a message typed out of
        turn goes too, and the client holds it for our turn (client.send_typed, as --plain's: one
        rule, one place), saying so with its text; kept in the input line, the next thing typed
        (/q) joined it: "me first/q". Offline, whose turn it is is not known: the client sends it
        on our turn once back.
        Lines that are each a known command (six /send lines pasted) go one by one, as --plain takes
        them; one command with more lines (a /w of two) stays one, and so do lines starting with a
        slash that are not all commands (paths): an unknown command, given back (session_input._unknown)."""
        editor = self.view.editor
        editor.accept_search()
        text = editor.text
        if not text.strip():
            editor.submit()  # only spaces: nothing to send, and nothing worth keeping (as a shell does)
            return []
        known = frozenset(self.session.command_words())
        if "\n" in text and all(_known_command(line, known) for line in text.split("\n") if line.strip()):
            self.view.seen()
            self.view.to_bottom()
            return [line for line in editor.submit().split("\n") if line.strip()]
        is_command = _is_command(text)
        problem = None if is_command else self.session.length_problem(text)
        if problem:
            # a long paste fills the line: how to be rid of it, for a student who wants to start again
            # (Ctrl-U clears from the cursor back: with the cursor moved left, End goes first)
            clears = "Ctrl-U clears it" if editor.cursor >= len(text) else "End, then Ctrl-U clears it"
            self.view.add([Line(kind="error", time=self._now(), text=f"{problem}; what you typed is kept ({clears})")])
            return []
        self.view.seen()
        self.view.to_bottom()
        self._last_message = None if is_command else text
        return [editor.submit()]

    def answered(self, lines: list[Line]) -> list[Line]:
        """The lines the client shows, read for what answers a line we sent: a refused one comes
        back to the input line. Returns the lines to show."""
        shown: list[Line] = []
        ours: int | None = None  # where in ``shown`` the last "turn: your turn" is: gone again in this batch, it goes
        for line in lines:
            # (A say refused because the turn moved on its way waits for our turn in the client,
            # client.held_again, as one typed out of turn does: it never comes here.)
            if line.kind == "own" and line.text == self._last_message:
                self._last_message = None  # it went through
            elif line.code == ev.E_MUTED and self._last_message:  # muted: to send once the mute is over
                if not self.view.editor.text:
                    self.view.editor.type(self._last_message)
                    line = replace(line, text=f"{line.text}; what you typed is kept")
                self._last_message = None
            line = self._whisper_answered(line)
            if line.give_back is not None:  # kept: in the order typed, before what was typed after it
                self._put_back_end = self.view.editor.put_back(line.give_back, self._put_back_end)
                line = replace(line, text=f"{line.text}; what you typed is kept")
            if line.code == TURN_CHANGED:  # another's turn (ours is TURN_OURS, shown), by the line, not by
                if ours is not None:  # whose turn it is at the batch's end: it shows in the status line and
                    del shown[ours]  # the prompt; and a turn of ours it ends before it was drawn is no news
                    ours = None
                continue
            if line.code == TURN_OURS:
                ours = len(shown)
            shown.append(line)
        return shown

    def whisper_sent(self, text: str, whisper: ev.Whisper) -> None:
        """The client sent ``whisper``, typed as ``text``: a /w or /r is waited for (_whisper_answered).
        Only one that went: a /r with nobody to reply to, or a /w refused here, has no answer to wait for."""
        if _whispers(text):
            self._last_whisper = (text, whisper.to)

    def _whisper_answered(self, line: Line) -> Line:
        """A direct message of ours refused as to nobody here (a mistyped name, a friend who left):
        what was typed comes back to the input line (``give_back``) instead of being gone. Its
        echo says it went, and any other refusal (muted, too long) that it will not come back;
        a no-such-user naming someone else answers another command (/kick zed pasted above it).
        (In projector mode too: it was on the screen as it was typed, a moment before, as a line
        refused for its length is given back; only Up, which can bring back any old one, passes over it.)"""
        if self._last_whisper is None:
            return line
        typed, to = self._last_whisper
        if line.kind == "direct" and line.sender is not None and ev.name_key(line.sender) == ev.name_key(self.session.name):
            self._last_whisper = None
        elif line.code == ev.E_NO_SUCH_USER:
            if _names(line.text, to):
                line, self._last_whisper = replace(line, give_back=typed), None
        elif line.kind == "error":
            self._last_whisper = None
        return line
