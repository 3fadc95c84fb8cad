"""editor.py: the input line's editing, history and Tab completion. Pure: no terminal, no I/O.

Every edit is a function ``(cursor, text) -> (cursor, text)`` (the shape bpython uses), so
each key can be tested with two strings and a number. ``LineEditor`` strings them together
with the sent-lines history and Tab completion; keys arrive as names (``"left"``,
``"ctrl-w"``) or as the characters typed, never as curses codes: screen.py translates those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Edit = tuple[int, str]  # (cursor, text); the cursor is an index into text, 0..len(text)


def _clamp(cursor: int, text: str) -> int:
    return max(0, min(cursor, len(text)))


def insert(cursor: int, text: str, typed: str) -> Edit:
    """Put ``typed`` at the cursor and move the cursor after it."""
    cursor = _clamp(cursor, text)
    return cursor + len(typed), text[:cursor] + typed + text[cursor:]


def left(cursor: int, text: str) -> Edit:
    return _clamp(cursor - 1, text), text


def right(cursor: int, text: str) -> Edit:
    return _clamp(cursor + 1, text), text


def home(cursor: int, text: str) -> Edit:
    return 0, text


def end(cursor: int, text: str) -> Edit:
    return len(text), text


def backspace(cursor: int, text: str) -> Edit:
    """Delete the character before the cursor."""
    cursor = _clamp(cursor, text)
    if cursor == 0:
        return cursor, text
    return cursor - 1, text[: cursor - 1] + text[cursor:]


def delete(cursor: int, text: str) -> Edit:
    """Delete the character under the cursor."""
    cursor = _clamp(cursor, text)
    return cursor, text[:cursor] + text[cursor + 1 :]


def kill_to_end(cursor: int, text: str) -> Edit:
    """Ctrl-K: delete from the cursor to the end of the line."""
    cursor = _clamp(cursor, text)
    return cursor, text[:cursor]


def kill_to_start(cursor: int, text: str) -> Edit:
    """Ctrl-U: delete from the start of the line to the cursor."""
    cursor = _clamp(cursor, text)
    return 0, text[cursor:]


def kill_word_back(cursor: int, text: str) -> Edit:
    """Ctrl-W: delete the word before the cursor (and the spaces after it), as shells do."""
    cursor = _clamp(cursor, text)
    start = cursor
    while start > 0 and text[start - 1].isspace():
        start -= 1
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return start, text[:start] + text[cursor:]


def word_left(cursor: int, text: str) -> Edit:
    cursor = _clamp(cursor, text)
    while cursor > 0 and text[cursor - 1].isspace():
        cursor -= 1
    while cursor > 0 and not text[cursor - 1].isspace():
        cursor -= 1
    return cursor, text


def word_right(cursor: int, text: str) -> Edit:
    cursor = _clamp(cursor, text)
    while cursor < len(text) and text[cursor].isspace():
        cursor += 1
    while cursor < len(text) and not text[cursor].isspace():
        cursor += 1
    return cursor, text


EDITS: dict[str, Callable[[int, str], Edit]] = {
    "left": left,
    "right": right,
    "home": home,
    "end": end,
    "ctrl-a": home,
    "ctrl-e": end,
    "ctrl-b": left,
    "ctrl-f": right,
    "backspace": backspace,
    "delete": delete,
    "ctrl-d": delete,
    "ctrl-k": kill_to_end,
    "ctrl-u": kill_to_start,
    "ctrl-w": kill_word_back,
    "ctrl-left": word_left,
    "ctrl-right": word_right,
}


# ------------------------------------------------------------------ completion


def word_at(cursor: int, text: str) -> tuple[int, str]:
    """The start index and the partial word that ends at the cursor."""
    cursor = _clamp(cursor, text)
    start = cursor
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return start, text[start:cursor]


def common_prefix(words: list[str]) -> str:
    """The longest prefix every word shares, compared ignoring case (names are case-blind)."""
    if not words:
        return ""
    folded = [w.casefold() for w in words]
    shortest, longest = min(folded), max(folded)  # the sorted extremes differ first
    length = 0
    while length < min(len(shortest), len(longest)) and shortest[length] == longest[length]:
        length += 1
    return words[0][:length]


def completions(cursor: int, text: str, names: Iterable[str], commands: Iterable[str]) -> tuple[int, list[str]]:
    """What the word before the cursor could become: commands at the start of the line,
    otherwise the names of people here. Returns the word's start and the sorted matches."""
    start, partial = word_at(cursor, text)
    at_line_start = not text[:start].strip()
    pool = commands if (at_line_start and partial.startswith("/")) else names
    key = partial.casefold()
    matches = sorted({c for c in pool if c.casefold().startswith(key)}, key=str.casefold)
    return start, matches


def complete(cursor: int, text: str, names: Iterable[str], commands: Iterable[str]) -> tuple[int, str, list[str]]:
    """Tab: one match is filled in with a space after it; several extend the word to their
    longest shared prefix. Returns the new (cursor, text) and every match."""
    start, matches = completions(cursor, text, names, commands)
    if not matches:
        return cursor, text, matches
    cursor = _clamp(cursor, text)
    if len(matches) == 1:
        filled = matches[0] + " "
    else:
        shared = common_prefix(matches)
        filled = shared if len(shared) >= cursor - start else text[start:cursor]
    new_text = text[:start] + filled + text[cursor:]
    return start + len(filled), new_text, matches


# --------------------------------------------------------------------- editor


@dataclass
class LineEditor:
    """The input line: text, cursor, what was sent before, and the state of Tab cycling."""

    text: str = ""
    cursor: int = 0
    history: list[str] = field(default_factory=list)
    history_limit: int = 500
    _recall: int | None = None  # index into history while recalling, None when editing fresh
    _draft: str = ""  # what was being typed before Up was pressed
    _cycle: list[str] = field(default_factory=list)  # Tab matches being cycled through
    _cycle_index: int = 0
    _cycle_start: int = 0

    def set(self, cursor: int, text: str) -> None:
        self.cursor, self.text = _clamp(cursor, text), text

    def key(self, name: str, names: Iterable[str] = (), commands: Iterable[str] = ()) -> bool:
        """Apply a named key; False when this editor has no use for it."""
        if name != "tab":
            self._cycle = []
        if name in EDITS:
            self.set(*EDITS[name](self.cursor, self.text))
            return True
        if name == "up":
            self.recall_older()
            return True
        if name == "down":
            self.recall_newer()
            return True
        if name == "tab":
            self.tab(names, commands)
            return True
        return False

    def type(self, typed: str) -> None:
        """Characters the user typed (or pasted) go in at the cursor."""
        self._cycle = []
        self.set(*insert(self.cursor, self.text, typed))

    def tab(self, names: Iterable[str], commands: Iterable[str]) -> None:
        if self._cycle:
            # a second Tab with several matches steps through them, as shells and IRC clients do
            self._cycle_index = (self._cycle_index + 1) % len(self._cycle)
            choice = self._cycle[self._cycle_index] + " "
            start = self._cycle_start
            rest = self.text[self.cursor :]
            self.text = self.text[:start] + choice + rest
            self.cursor = start + len(choice)
            return
        before = self.text
        start, _ = word_at(self.cursor, self.text)
        cursor, text, matches = complete(self.cursor, self.text, names, commands)
        self.set(cursor, text)
        if len(matches) > 1 and text == before:
            self._cycle, self._cycle_index, self._cycle_start = matches, -1, start

    def submit(self) -> str:
        """Enter: hand back the text, remember it for Up, and empty the line."""
        text = self.text
        if text.strip() and (not self.history or self.history[-1] != text):
            self.history.append(text)
            del self.history[: -self.history_limit]
        self.text, self.cursor, self._recall, self._draft = "", 0, None, ""
        return text

    def recall_older(self) -> None:
        if not self.history:
            return
        if self._recall is None:
            self._draft = self.text
            self._recall = len(self.history) - 1
        elif self._recall > 0:
            self._recall -= 1
        self.text = self.history[self._recall]
        self.cursor = len(self.text)

    def recall_newer(self) -> None:
        if self._recall is None:
            return
        if self._recall < len(self.history) - 1:
            self._recall += 1
            self.text = self.history[self._recall]
        else:
            self._recall = None
            self.text = self._draft
        self.cursor = len(self.text)
