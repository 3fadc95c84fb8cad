"""commands.py: the full screen's own commands, /clear, /find (and Ctrl-F), /save and /mouse,
which never go to the server (the session hands them back as a UiCommand). No curses here:
/mouse asks the terminal through ``mouse`` (screen.py's Terminal); /save writes a file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..session import Command, Line, Session, UiCommand
from . import projector
from .plain import format_plain
from .view import View

UI_COMMANDS = (
    Command(name="/clear", usage="/clear", help="clear the transcript on this screen (the chat goes on; /save still writes it)"),
    Command(name="/mouse", usage="/mouse on|off", help="the mouse wheel scrolls the transcript (on), or the terminal keeps the mouse (off)"),
    Command(name="/find", usage="/find TEXT", help="find TEXT in the transcript (Ctrl-F: the next older match; Esc: done)"),
    Command(name="/save", usage="/save FILE", help="write the transcript to a text file (all of it: what /clear took off the screen too)"),
)
FIND_ANSWER = "find-answer"  # Line.code of /find's own answers: never a match of a later /find


def save_path_text(argument: str) -> str:
    """The path /save was given: a quoted one read as /send reads it (shlex, README: a path with
    spaces in quotes; and as lanchat quotes a path itself, files.path_as_typed), so ``/save "my
    chat.txt"`` writes my chat.txt, not a file named with the quotes. One not starting with a
    quote, or not one word once read, stays as typed (a bare ``bob's chat.txt``, a backslash in a
    Windows path)."""
    if argument[:1] in ("'", '"'):
        import shlex

        with contextlib.suppress(ValueError):  # a quote left open: as typed
            if len(words := shlex.split(argument)) == 1:
                return words[0]
    return argument


def _why_not_saved(path: Path, exc: OSError) -> str:
    """Why /save could not write ``path``, about its folder when that is the trouble: the
    system's "No such file or directory" reads as if the file had to exist already, and is all
    it says for a folder that cannot hold files at all (/proc)."""
    folder = path.parent
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        if not os.path.lexists(folder):
            return f"there is no folder {folder}"
        if not os.path.isdir(folder):
            return f"{folder} is not a folder"
        return f"no file can be made in {folder}"
    return exc.strerror or str(exc)


def _link_unique(source: Path, wanted: Path) -> Path:
    """Give ``source`` the name ``wanted``, or the first free ``wanted (N)``: a hard link fails
    when the name exists, so nothing there is ever replaced (where links are not supported:
    os.replace after a check)."""
    from ..files import unique_name

    tried: set[str] = set()
    for _ in range(1000):
        name = unique_name(wanted.name, tried)
        target = wanted.with_name(name)
        try:
            os.link(source, target)
            return target
        except FileExistsError:
            tried.add(name)
        except OSError:
            if target.exists():
                tried.add(name)
                continue
            os.replace(source, target)
            return target
    raise FileExistsError(f"no free name like {wanted.name}")


def line_matches(line: Line, text: str) -> bool:
    """/find: the text as the transcript shows it (names included), ignoring case: a /me, live or
    replayed, as "* ann waves"."""
    if line.kind == "action" or line.action:
        return text.casefold() in f"* {line.sender or ''} {line.text}".casefold()
    return text.casefold() in f"{line.sender or ''}: {line.text}".casefold()



class Mouse(Protocol):
    """The terminal's mouse (screen.py's Terminal): on, the wheel scrolls the transcript."""

    mouse: bool

    def set_mouse(self, on: bool) -> None: ...


class ScreenCommands:
    """The screen's own commands on its view. ``measure``: tell the view how many rows each line
    takes at the screen's width (before a /find moves to a match); ``changed``: something to
    draw since the owner last looked."""

    def __init__(self, view: View, session: Session, *, mouse: Mouse, measure: Callable[[], None]) -> None:
        self.view, self.session, self.mouse, self.measure = view, session, mouse, measure
        self.changed = False

    def _now(self) -> float:
        return self.session.clock()  # type: ignore[operator]

    def run(self, command: UiCommand) -> list[Line]:
        """One of UI_COMMANDS typed: the lines it answers with."""
        if command.name == "/clear":
            self.view.clear()
            self.changed = True
            return []
        if command.name == "/save":
            return [self.save(command.argument)]
        if command.name == "/mouse":
            if command.argument.lower() not in ("on", "off"):
                return [Line(kind="error", time=self._now(), text="usage: /mouse on|off")]
            self.mouse.set_mouse(command.argument.lower() == "on")
            said = "the wheel scrolls the transcript" if self.mouse.mouse else "the terminal has the mouse (select and copy as usual)"
            return [Line(kind="notice", time=self._now(), text=f"mouse {command.argument.lower()}: {said}")]
        if command.name == "/find":
            if not command.argument:
                return [Line(kind="error", time=self._now(), text="usage: /find TEXT (then Ctrl-F: the next older match)", code=FIND_ANSWER)]
            self.measure()
            if not self.view.find(command.argument, self._matches):
                return [Line(kind="notice", time=self._now(), text=f"{command.argument!r} is not in the transcript", code=FIND_ANSWER)]
            self.changed = True
            return []
        return []

    def find_next(self) -> None:
        """Ctrl-F: the next older match of the last /find."""
        if self.view.finding is None:
            self.view.add([Line(kind="error", time=self._now(), text="type /find TEXT first; then Ctrl-F goes to older matches", code=FIND_ANSWER)])
            return
        self.measure()
        self.view.find_next(self._matches)

    def _matches(self, line: Line, text: str) -> bool:
        """/find searches what the screen shows: in projector mode, not a hidden message's text;
        never /find's own answers ("'quokka' is not in the transcript" is not a quokka)."""
        return line.code != FIND_ANSWER and line_matches(projector.shown(line, self.session), text)

    def save(self, argument: str) -> Line:
        """/save FILE: the transcript as plain text, written whole or not at all. Like /get, it
        never replaces a file that is there: it takes the next free name, ``FILE (1)``, and
        says so."""
        now = self._now()
        argument = save_path_text(argument)
        if not argument:
            return Line(kind="error", time=now, text="usage: /save FILE")
        # absolute: "saved to lesson2.txt" left the folder (the one lanchat was started in) a guess
        # (os.path's expanduser and isdir: Path's raise for "~nobody_here/x", and in a folder
        # that may not be opened, which ended the chat with an internal error)
        path = Path(os.path.expanduser(argument)).absolute()
        if not path.name or os.path.isdir(path):  # ".", "/", "~", a folder: no file name to write to
            return Line(kind="error", time=now, text=f"{argument} is a folder; give a file name: /save {path / 'chat.txt'}")
        lines = [*self.view.cleared, *self.view.lines]  # the whole session's, what /clear took off the screen too
        text = "".join(format_plain(line, keep_lines=True) + "\n" for line in lines)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            temporary.write_text(text, encoding="utf-8")
            saved = _link_unique(temporary, path)
        except OSError as exc:
            return Line(kind="error", time=now, text=f"could not save to {path}: {_why_not_saved(path, exc)}; choose another path")
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink()
        kept = f" ({path.name} was already there: kept)" if saved != path else ""
        if self.session.projector and any(projector.hides(line) for line in lines):
            kept += " (the direct messages in full: the file is not on the projector)"
        if self.view.cleared:  # said: a /save after /clear wrote what was no longer on the screen
            kept += f" ({len(self.view.cleared)} of them cleared off the screen by /clear)"
        count = len(lines)
        return Line(kind="notice", time=now, text=f"saved {count} line{'' if count == 1 else 's'} to {saved}{kept}")
