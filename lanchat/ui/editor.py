"""editor.py: the input line's editing, history and Tab completion. Pure: no terminal, no I/O.

Every edit is a function ``(cursor, text) -> (cursor, text)`` (the shape bpython uses), so
each key can be tested with two strings and a number. ``LineEditor`` strings them together
with the sent-lines history and Tab completion; keys arrive as names (``"left"``,
``"ctrl-w"``) or as the characters typed, never as curses codes: screen.py translates those.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wcwidth import grapheme_boundary_before, iter_graphemes

from ..files import path_as_typed

Edit = tuple[int, str]  # (cursor, text); the cursor is an index into text, 0..len(text)

# Not "printable" to Python but part of what people type: a space, and the zero-width joiner and
# non-joiner that build emoji sequences (👨‍👩‍👧) and Persian or Indic words
TYPED_JOINERS = frozenset(" \u200c\u200d")
# Python's Unicode tables are those of its release: an emoji newer than them (🩷, 🫨 on 3.11) is
# "unassigned" (Cn) to it, and a private-use character (Co) is an icon font's glyph. Both are
# typed text, not controls, and never drive a terminal.
TYPED_UNKNOWN = frozenset(("Cn", "Co"))


def typed_character(key: str) -> bool:
    """Is this one character, from the keyboard, text to put in the line (not a control key)?
    A byte that is not UTF-8 (U+DC80-U+DCFF: both front ends decode with surrogateescape) is
    kept too: shown as \\xe9 (textsafe.visible), refused in a message (client.not_utf8_problem), the real byte
    of a file's name in a /send path."""
    return key.isprintable() or key in TYPED_JOINERS or (len(key) == 1 and (unicodedata.category(key) in TYPED_UNKNOWN or "\udc80" <= key <= "\udcff"))

# The cursor moves, and Backspace and Delete remove, one grapheme cluster at a time (what a
# reader sees as one character: "é" made of e + a combining accent, a flag, a family emoji
# joined by ZWJ), found by wcwidth's Unicode segmentation (UAX #29), never one code point.


def previous_boundary(text: str, cursor: int) -> int:
    """Where the grapheme cluster before ``cursor`` starts."""
    if cursor <= 0:
        return 0
    return grapheme_boundary_before(text, cursor)


def next_boundary(text: str, cursor: int) -> int:
    """Where the grapheme cluster at ``cursor`` ends."""
    if cursor >= len(text):
        return len(text)
    return cursor + len(next(iter_graphemes(text, cursor)))


def _clamp(cursor: int, text: str) -> int:
    return max(0, min(cursor, len(text)))


def insert(cursor: int, text: str, typed: str) -> Edit:
    """Put ``typed`` at the cursor and move the cursor after it."""
    cursor = _clamp(cursor, text)
    return cursor + len(typed), text[:cursor] + typed + text[cursor:]


def left(cursor: int, text: str) -> Edit:
    return previous_boundary(text, _clamp(cursor, text)), text


def right(cursor: int, text: str) -> Edit:
    return next_boundary(text, _clamp(cursor, text)), text


def home(cursor: int, text: str) -> Edit:
    return 0, text


def end(cursor: int, text: str) -> Edit:
    return len(text), text


def backspace(cursor: int, text: str) -> Edit:
    """Delete the character (grapheme cluster) before the cursor."""
    cursor = _clamp(cursor, text)
    start = previous_boundary(text, cursor)
    return start, text[:start] + text[cursor:]


def delete(cursor: int, text: str) -> Edit:
    """Delete the character (grapheme cluster) under the cursor."""
    cursor = _clamp(cursor, text)
    return cursor, text[:cursor] + text[next_boundary(text, cursor) :]


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


def kill_word_forward(cursor: int, text: str) -> Edit:
    """Alt-d: delete from the cursor to the end of the word."""
    cursor = _clamp(cursor, text)
    end_of_word, _ = word_right(cursor, text)
    return cursor, text[:cursor] + text[end_of_word:]


EDITS: dict[str, Callable[[int, str], Edit]] = {
    "left": left,
    "right": right,
    "home": home,
    "end": end,
    "ctrl-a": home,
    "ctrl-e": end,
    "ctrl-b": left,
    "backspace": backspace,
    "delete": delete,
    "ctrl-d": delete,
    "ctrl-k": kill_to_end,
    "ctrl-u": kill_to_start,
    "ctrl-w": kill_word_back,
    "alt-backspace": kill_word_back,
    "alt-d": kill_word_forward,
    "ctrl-left": word_left,
    "ctrl-right": word_right,
    "alt-b": word_left,
    "alt-f": word_right,
}
# Keys whose deleted text Ctrl-Y can put back (readline's kill and yank)
KILLS = frozenset({"ctrl-k", "ctrl-u", "ctrl-w", "alt-backspace", "alt-d"})


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


PathLister = Callable[[str], Iterable[str]]  # a partial path -> the paths it could become


def send_path_at(cursor: int, text: str) -> tuple[int, str] | None:
    """After ``/send``: where the path starts and the path typed so far, its quotes and
    backslashes read as /send reads them (shlex); None when the cursor is past the path (a
    space outside quotes ended it: the NAME comes next) or the line is not a /send."""
    head = text[: _clamp(cursor, text)]
    command = head.lstrip()
    if command[:6].lower() != "/send ":
        return None
    start = len(head) - len(command) + 6
    while start < len(head) and head[start] == " ":
        start += 1
    typed: list[str] = []
    quote, escaped = "", False
    for char in head[start:]:
        if escaped:
            typed.append(char)
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
            else:
                typed.append(char)
        elif char in "'\"":
            quote = char
        elif char.isspace():
            return None
        else:
            typed.append(char)
    return start, "".join(typed)


def completions(
    cursor: int, text: str, names: Iterable[str], commands: Iterable[str], paths: PathLister | None = None
) -> tuple[int, list[str]]:
    """What the word before the cursor could become: commands at the start of the line, a
    path after /send (from ``paths``, which the screen lists from the disk), otherwise the
    names of people here. Returns the word's start and the sorted matches."""
    start, matches, _site = _candidates(cursor, text, names, commands, paths)
    return start, matches


def _candidates(
    cursor: int, text: str, names: Iterable[str], commands: Iterable[str], paths: PathLister | None
) -> tuple[int, list[str], tuple[int, str] | None]:
    """``completions``, and the path site after /send (send_path_at; None: a word), found once."""
    if paths is not None and (site := send_path_at(cursor, text)) is not None:
        start, partial = site
        return start, sorted(paths(partial)), site
    start, partial = word_at(cursor, text)
    at_line_start = not text[:start].strip()
    key = partial.casefold()
    if text[:start].strip().casefold() == "/help":  # /help NAME: a command's name, with or without its slash
        pool, key = commands, "/" + key.lstrip("/")
    else:
        pool = commands if (at_line_start and partial.startswith("/")) else names
    matches = sorted({c for c in pool if c.casefold().startswith(key)}, key=str.casefold)
    return start, matches, None


def complete(
    cursor: int, text: str, names: Iterable[str], commands: Iterable[str], paths: PathLister | None = None
) -> tuple[int, str, list[str]]:
    """Tab: one match is filled in with a space after it (a name at the start of the line
    gets ``": "``, as IRC clients address someone; a folder gets nothing, to go on into it;
    a path with a space goes in quotes); several extend the word to their longest shared
    prefix. Returns the new (cursor, text) and every match."""
    start, matches, site = _candidates(cursor, text, names, commands, paths)
    return (*_filled(cursor, text, names, start, matches, site), matches)


def _filled(
    cursor: int, text: str, names: Iterable[str], start: int, matches: list[str], site: tuple[int, str] | None
) -> Edit:
    """The line with ``matches`` (of the word or path from ``start``) filled in, as ``complete`` says."""
    if not matches:
        return cursor, text
    cursor = _clamp(cursor, text)
    if len(matches) == 1:
        filled = as_typed(matches[0], text[:start], names, path=site is not None)
    else:
        shared = common_prefix(matches)
        typed = site[1] if site is not None else text[start:cursor]
        keep = len(shared) < len(typed) or (site is not None and shared == typed)
        filled = text[start:cursor] if keep else (path_as_typed(shared) if site is not None else shared)
    return start + len(filled), text[:start] + filled + text[cursor:]


def as_typed(word: str, before: str, names: Iterable[str], *, path: bool = False) -> str:
    """One completion as it goes into the line, with what follows it."""
    if path:
        return path_as_typed(word) + ("" if word.endswith("/") else " ")
    return word + _after_completion(word, before, names)


def _after_completion(word: str, before: str, names: Iterable[str]) -> str:
    if word.endswith("/"):
        return ""  # a folder: Tab again goes on inside it
    if not before.strip() and not word.startswith("/") and word in set(names):
        return ": "
    return " "


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
    _cycle_paths: bool = False  # the matches are paths after /send (quoted as needed)
    _cycle_left: tuple[int, str] | None = None  # (cursor, text) as the last Tab left them
    killed: str = ""  # what the last Ctrl-K/U/W, Alt-d or Alt-Backspace (a run of them) removed (Ctrl-Y)
    _killed_at: tuple[int, str] | None = None  # (cursor, text) as the last of them left them
    search: str | None = None  # Ctrl-R: what is being searched for in the lines sent, or None
    found: int | None = None  # the index in history of the line the search shows
    last_matches: list[str] = field(default_factory=list)  # the candidates of the last Tab
    # lines sent that Up, Down and Ctrl-R pass over, as if never sent: on a screen the class sees,
    # a direct message (screen.py sets it from projector.typed_privately while projector mode is on)
    keeps_off_screen: Callable[[str], bool] = field(default=lambda _text: False)

    def set(self, cursor: int, text: str) -> None:
        self.cursor, self.text = _clamp(cursor, text), text

    def key(
        self, name: str, names: Iterable[str] = (), commands: Iterable[str] = (), paths: PathLister | None = None
    ) -> bool:
        """Apply a named key; False when this editor has no use for it."""
        if name != "tab":
            self._cycle = []
            self.last_matches = []
        if self.search is not None and self.search_key(name):
            return True
        if name in EDITS:
            before, was_at = self.text, self.cursor
            self.set(*EDITS[name](self.cursor, self.text))
            if name in KILLS and len(self.text) < len(before):
                # a delete key cuts next to the cursor: before it (the cursor moves back) or after it
                backward = self.cursor < was_at
                piece = before[self.cursor : was_at] if backward else before[was_at : was_at + len(before) - len(self.text)]
                self._kill(piece, backward, in_a_run=self._killed_at == (was_at, before))
            return True
        if name == "ctrl-y":
            if self.killed:
                self.set(*insert(self.cursor, self.text, self.killed))
            return True
        if name == "ctrl-r":
            self.start_search()
            return True
        if name == "up":
            self.recall_older()
            return True
        if name == "down":
            self.recall_newer()
            return True
        if name == "tab":
            self.tab(names, commands, paths)
            return True
        return False

    def _kill(self, piece: str, backward: bool, in_a_run: bool) -> None:
        """Keep what a delete key cut for Ctrl-Y. Deletes in a row (nothing else done between)
        cut one piece, as readline's do: three Ctrl-W, one Ctrl-Y puts the three words back."""
        if in_a_run:
            piece = piece + self.killed if backward else self.killed + piece
        self.killed = piece
        self._killed_at = (self.cursor, self.text)

    def type(self, typed: str) -> None:
        """Characters the user typed (or pasted) go in at the cursor."""
        self._cycle = []
        self.last_matches = []
        if self.search is not None:
            self.search += typed
            self._find_sent(self.found + 1 if self.found is not None else len(self.history))
            return
        self.set(*insert(self.cursor, self.text, typed))

    # --------------------------------------------- Ctrl-R: search the lines sent

    def start_search(self) -> None:
        """Ctrl-R: the first time, start searching the lines sent; again, the next older match."""
        if self.search is None:
            self.search, self.found = "", None
            return
        self._find_sent(self.found if self.found is not None else len(self.history))

    def _find_sent(self, before: int) -> None:
        """The newest line sent, older than index ``before``, that contains the search."""
        wanted = (self.search or "").casefold()
        for index in range(min(before, len(self.history)) - 1, -1, -1):
            if wanted in self.history[index].casefold() and not self.keeps_off_screen(self.history[index]):
                self.found = index
                return
        # nothing (older) matches: keep what is shown, as readline does

    @property
    def search_match(self) -> str:
        return self.history[self.found] if self.found is not None and self.found < len(self.history) else ""

    def search_key(self, name: str) -> bool:
        """A key while searching. Backspace shortens the search, Ctrl-R goes on, Ctrl-G or Esc
        gives up (the line is left as it was); any other key takes the match into the line
        and then does what it does (Enter sends it). True when the key was used up here."""
        if name == "ctrl-r":
            self.start_search()
            return True
        if name == "backspace":
            self.search = (self.search or "")[:-1]
            self.found = None
            if self.search:
                self._find_sent(len(self.history))
            return True
        if name in ("ctrl-g", "escape"):
            self.search, self.found = None, None
            return True
        self.accept_search()
        return False

    def accept_search(self) -> None:
        """Leave the search with the match in the input line."""
        if self.search is None:
            return
        if self.found is not None:
            self.text = self.search_match
            self.cursor = len(self.text)
        self.search, self.found = None, None

    def tab(self, names: Iterable[str], commands: Iterable[str], paths: PathLister | None = None) -> None:
        if self._cycle and self._cycle_left == (self.cursor, self.text):
            # a second Tab with several matches steps through them, as shells and IRC clients do
            # (only on the line as the last Tab left it: Enter, Up or a kept line put back since
            # give another line, whose Tab starts over)
            self._cycle_index = (self._cycle_index + 1) % len(self._cycle)
            word = self._cycle[self._cycle_index]
            start = self._cycle_start
            choice = as_typed(word, self.text[:start], names, path=self._cycle_paths)
            rest = self.text[self.cursor :]
            self.text = self.text[:start] + choice + rest
            self.cursor = start + len(choice)
            self._cycle_left = (self.cursor, self.text)
            return
        self._cycle = []
        before = self.text
        start, matches, site = _candidates(self.cursor, self.text, names, commands, paths)
        cursor, text = _filled(self.cursor, self.text, names, start, matches, site)
        self.set(cursor, text)
        self.last_matches = matches if len(matches) > 1 else []
        if len(matches) > 1 and text == before:
            self._cycle, self._cycle_index, self._cycle_start = matches, -1, start
            self._cycle_paths = site is not None
            self._cycle_left = (self.cursor, self.text)

    def put_back(self, kept: str, at: int = 0) -> int:
        """Put lines that were not taken (offline, too many kept) back in the line, at ``at``:
        the end of those put back before them from the same keys (0 for the first), so they
        come back in the order typed and before what was typed after them. Returns where the
        next ones go; the cursor goes to the end."""
        if not 0 < at <= len(self.text) or self.text[at:][:1] not in ("", "\n"):
            at = 0  # the first of a batch, or the line changed since: in front of everything
        block = f"{self.text[:at]}\n{kept}" if at else kept
        after = self.text[at:] if at else (f"\n{self.text}" if self.text else "")
        self.set(len(block + after), block + after)
        return len(block)

    def submit(self) -> str:
        """Enter: hand back the text, remember it for Up, and empty the line."""
        text = self.text
        if text.strip() and (not self.history or self.history[-1] != text):
            self.history.append(text)
            del self.history[: -self.history_limit]
        self.text, self.cursor, self._recall, self._draft = "", 0, None, ""
        self.search, self.found = None, None
        return text

    def _recallable(self, indexes: Iterable[int]) -> int | None:
        """The first of ``indexes`` whose line may come back (keeps_off_screen), or None."""
        return next((index for index in indexes if not self.keeps_off_screen(self.history[index])), None)

    def recall_older(self) -> None:
        older = self._recallable(range((len(self.history) if self._recall is None else self._recall) - 1, -1, -1))
        if older is None:
            return  # the oldest shown already (or none to show): as it is
        if self._recall is None:
            self._draft = self.text
        self._recall = older
        self.text = self.history[older]
        self.cursor = len(self.text)

    def recall_newer(self) -> None:
        if self._recall is None:
            return
        self._recall = self._recallable(range(self._recall + 1, len(self.history)))
        self.text = self._draft if self._recall is None else self.history[self._recall]
        self.cursor = len(self.text)
