"""screen.py: the curses front end. The ONLY module that imports curses; it never leaves the
terminal in a broken state.

It turns keys into editor calls and chat lines, asks render.py for a frame and paints it;
what to draw is decided elsewhere (view.py, render.py), so this file is only about the
terminal: raw keys (get_wch, escape sequences, bracketed paste), colours, the resize
signal, bells, and putting the terminal back the way it was on every way out.
"""

from __future__ import annotations

import contextlib
import curses
import locale
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from .. import session as session_module
from ..session import Command, Line, Session, UiCommand
from . import render
from .plain import format_plain
from .view import View

UI_COMMANDS = (
    Command(name="/clear", usage="/clear", help="clear the transcript on this screen (the chat goes on)"),
    Command(name="/save", usage="/save FILE", help="write the transcript to a text file"),
)

KEYS = (
    ("Enter", "send the line (in turn-based mode only on your turn; what you typed is kept)"),
    ("Left/Right, Ctrl-Left/Right", "move the cursor by a character or a word"),
    ("Home/End, Ctrl-A/Ctrl-E", "start/end of the input line"),
    ("Backspace, Delete", "delete before/under the cursor"),
    ("Ctrl-K, Ctrl-U, Ctrl-W", "delete to the end, to the start, the word before the cursor"),
    ("Up/Down", "recall lines you sent"),
    ("Tab", "complete a name or a command (again: the next match)"),
    ("PgUp/PgDn", "scroll the transcript"),
    ("Ctrl-Home/Ctrl-End", "oldest/newest line (Home/End too when the input line is empty)"),
    ("F2", "show/hide who is here (at least 100 columns)"),
    ("Ctrl-L", "redraw the screen"),
    ("Ctrl-C or /q", "leave"),
)

CONTROL_KEYS = {
    "\x01": "ctrl-a",
    "\x02": "ctrl-b",
    "\x04": "ctrl-d",
    "\x05": "ctrl-e",
    "\x06": "ctrl-f",
    "\x0b": "ctrl-k",
    "\x15": "ctrl-u",
    "\x17": "ctrl-w",
    "\x08": "backspace",
    "\x7f": "backspace",
    "\t": "tab",
    "\x0c": "redraw",
    "\r": "enter",
    "\n": "enter",
}

CURSES_KEYS = {
    curses.KEY_LEFT: "left",
    curses.KEY_RIGHT: "right",
    curses.KEY_UP: "up",
    curses.KEY_DOWN: "down",
    curses.KEY_HOME: "home",
    curses.KEY_END: "end",
    curses.KEY_BACKSPACE: "backspace",
    curses.KEY_DC: "delete",
    curses.KEY_PPAGE: "pgup",
    curses.KEY_NPAGE: "pgdn",
    curses.KEY_ENTER: "enter",
    curses.KEY_F2: "f2",
    curses.KEY_RESIZE: "resize",
    curses.KEY_BTAB: "tab",
}
# Keys terminfo names but the curses module has no constant for (modified arrows, Home, End)
NAMED_KEYS = {b"kLFT5": "ctrl-left", b"kRIT5": "ctrl-right", b"kHOM5": "ctrl-home", b"kEND5": "ctrl-end"}

PASTE_ON, PASTE_OFF = "[200~", "[201~"  # bracketed paste markers, after an ESC


def crash_log_path() -> Path:
    """Where an internal error's details go: the user's log folder, or the temp folder."""
    try:
        import platformdirs

        folder = platformdirs.user_log_path("lanchat", ensure_exists=True)
    except Exception:  # noqa: BLE001 - any trouble finding the folder: fall back
        folder = Path(tempfile.gettempdir())
    return folder / "lanchat-crash.log"


STATUS_DRAWS_PER_SECOND = 10  # how often a status line that changes by itself is redrawn


class CursesFrontend:
    """The split screen: transcript (and who is here), status line, input line."""

    def __init__(self, session: Session, *, fd: int | None = None) -> None:
        self.session = session
        session.ui_commands = tuple(c for c in session.ui_commands if c.name not in {u.name for u in UI_COMMANDS}) + UI_COMMANDS
        if hasattr(session, "ui_keys"):
            session.ui_keys = KEYS  # type: ignore[attr-defined]
        self.view = View(session)
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.out_fd = sys.stdout.fileno()
        self.dirty = True
        self.alert = False
        self.paste = False  # inside a bracketed paste: Enter is a line break, not "send"
        self._last_status = ""
        self._last_draw = 0.0  # time.monotonic() of the last draw
        self._status_due: float | None = None  # when a held-back status change must be drawn
        self._last_message: str | None = None  # the last chat line sent, until the server answers
        self.closed = False
        self._pairs: dict[tuple[int, int], int] = {}
        self._attrs: dict[render.Style, int] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._old_winch = None
        self._open()

    # -------------------------------------------------------------- terminal

    def _open(self) -> None:
        with contextlib.suppress(locale.Error):
            locale.setlocale(locale.LC_ALL, "")
        # LINES/COLUMNS in the environment would freeze the size ncurses sees, and a resize
        # would never be noticed: the terminal's own size is the truth. (curses.use_env(False)
        # is no help: it makes ncurses use terminfo's fixed 80x24.)
        os.environ.pop("LINES", None)
        os.environ.pop("COLUMNS", None)
        os.environ.setdefault("ESCDELAY", "25")  # a lone Esc should not stall the keyboard
        curses.setupterm(fd=self.out_fd)  # raises for an unknown TERM: the caller falls back to lines
        if not curses.tigetstr("cup"):
            raise RuntimeError("this terminal cannot place the cursor (TERM=dumb?)")
        self.screen = curses.initscr()
        try:
            curses.noecho()
            curses.cbreak()  # keys arrive one by one; Ctrl-C still interrupts
            self.screen.keypad(True)
            self.screen.nodelay(True)
            with contextlib.suppress(curses.error):
                curses.set_escdelay(25)
            self.colours = 0
            if curses.has_colors():
                with contextlib.suppress(curses.error):
                    curses.start_color()
                    curses.use_default_colors()
                    self.colours = curses.COLORS
            # Our own SIGWINCH handler only wakes the loop through a pipe (the selector
            # watches it); the redraw happens in the loop, never inside a signal handler.
            self._old_winch = signal.signal(signal.SIGWINCH, self._on_winch)
            self._write_terminal(b"\x1b[?2004h")  # ask for bracketed paste
        except BaseException:
            self.close()
            raise

    def _write_terminal(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.out_fd, data)

    def _on_winch(self, signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"w")

    def wait_for_key(self, text: str) -> None:
        """The chat is over: keep the last lines on screen with ``text`` under them until a key
        (or Ctrl-C, or a signal) comes, so a shutdown notice or a goodbye is read, not lost."""
        if self.closed:
            return
        self.show([Line(kind="system", time=self._now(), text=text)])
        self.update()
        with contextlib.suppress(curses.error, KeyboardInterrupt):
            self.screen.nodelay(False)
            while self.screen.get_wch() == curses.KEY_RESIZE:
                self._resize()
                self.update()

    def close(self) -> None:
        """Give the terminal back: safe to call twice, and from any way out."""
        if self.closed:
            return
        self.closed = True
        self._write_terminal(b"\x1b[?2004l")
        with contextlib.suppress(curses.error):
            curses.endwin()
        if self._old_winch is not None:
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signal.SIGWINCH, self._old_winch)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _resize(self) -> None:
        try:
            size = os.get_terminal_size(self.out_fd)
            curses.resizeterm(size.lines, size.columns)
        except (OSError, curses.error, ValueError):
            pass
        self.screen.clear()  # the old picture is wrong at the new size: repaint everything
        self.dirty = True

    # --------------------------------------------------------- loop interface

    def fileno(self) -> int:
        return self.fd

    def wake_fileno(self) -> int:
        """A second fd for the loop to watch: readable after a resize."""
        return self._wake_r

    def read_input(self) -> list[str] | None:
        """Everything typed since the last call; returns the lines submitted with Enter."""
        try:
            woke = os.read(self._wake_r, 4096)
        except (BlockingIOError, OSError):
            woke = b""
        if woke:
            self._resize()
        keys: list[str | int] = []
        while True:
            try:
                keys.append(self.screen.get_wch())
            except curses.error:
                break  # nothing more waiting
            except KeyboardInterrupt:
                raise
        return self.handle_keys(keys)

    def handle_keys(self, keys: list[str | int]) -> list[str]:
        """One batch of keys -> submitted lines. A batch is what arrived together: an Enter
        with more text behind it in the same batch is a paste, so it becomes a line break
        instead of firing off a message per line."""
        submitted: list[str] = []
        index = 0
        while index < len(keys):
            key = keys[index]
            index += 1
            if key == "\x1b":
                index = self._escape(keys, index)
                continue
            if isinstance(key, int):
                name = CURSES_KEYS.get(key)
                if name is None:
                    with contextlib.suppress(curses.error, ValueError):
                        name = NAMED_KEYS.get(curses.keyname(key))
                if name is None:
                    continue
            elif key in CONTROL_KEYS:
                name = CONTROL_KEYS[key]
            elif key.isprintable() or key == " ":
                self.view.editor.type(key)
                self.dirty = True
                continue
            else:
                continue  # other control characters do nothing
            if name == "enter":
                more_follows = any(isinstance(k, str) and k not in "\r\n" for k in keys[index:])
                if self.paste or more_follows:
                    if key == "\r" and index < len(keys) and keys[index] == "\n":
                        index += 1  # CR LF from a paste is one line break
                    self.view.editor.type("\n")
                else:
                    line = self._enter()
                    if line is not None:
                        submitted.append(line)
            elif name == "tab" and self.paste:
                self.view.editor.type(" ")  # a pasted tab is text, not a request to complete
            else:
                self._key(name)
            self.dirty = True
        return submitted

    def _escape(self, keys: list[str | int], index: int) -> int:
        """An ESC that curses did not turn into a key: bracketed paste markers, or an
        unknown sequence (or Alt+key) that is swallowed rather than typed."""
        rest = "".join(k for k in keys[index : index + 5] if isinstance(k, str))
        if rest.startswith(PASTE_ON):
            self.paste = True
            return index + len(PASTE_ON)
        if rest.startswith(PASTE_OFF):
            self.paste = False
            return index + len(PASTE_OFF)
        if index < len(keys) and keys[index] in ("[", "O"):
            index += 1
            while index < len(keys) and isinstance(keys[index], str) and not ("@" <= keys[index] <= "~"):  # type: ignore[operator]
                index += 1
            return index + 1
        return index + 1 if index < len(keys) and isinstance(keys[index], str) else index

    def _key(self, name: str) -> None:
        view = self.view
        editor = view.editor
        if name == "pgup":
            view.page_up()
        elif name == "pgdn":
            view.page_down()
        elif name == "ctrl-home" or (name == "home" and not editor.text):
            view.to_top()
        elif name == "ctrl-end" or (name == "end" and not editor.text):
            view.to_bottom()
        elif name == "f2":
            view.toggle_roster()
        elif name == "resize":
            self._resize()
        elif name == "redraw":
            self.screen.clear()
        else:
            names = list(self.session.members)
            commands = [c.name for c in (*session_module.COMMANDS, *self.session.ui_commands)]
            commands += list(session_module.ALIASES)
            editor.key(name, names=names, commands=commands)

    def _enter(self) -> str | None:
        """Enter outside a paste. In turn-based mode a message typed out of turn stays in
        the input line (type-ahead); commands always go through."""
        editor = self.view.editor
        text = editor.text
        if not text.strip():
            return None
        is_command = text.lstrip().startswith("/") and not text.lstrip().startswith("//")
        problem = None if is_command else self.session.length_problem(text)
        if problem:
            self.view.add([Line(kind="error", time=self._now(), text=f"{problem}; what you typed is kept")])
            return None
        if not is_command and not self.session.my_turn:
            who = self.session.turn or "someone to join"
            self.view.add([Line(kind="error", time=self._now(), text=f"not your turn yet (waiting for {who}); what you typed is kept")])
            return None
        self.view.seen()
        self.view.to_bottom()
        self._last_message = None if is_command else text
        return editor.submit()

    def _now(self) -> float:
        return self.session.clock()  # type: ignore[operator]

    def show(self, lines: list[Line]) -> None:
        for line in lines:
            # The turn moved while our message was on its way and the server refused it
            # (PROTOCOL.md, turn-based mode): put it back in the input line, nothing is lost.
            if line.kind == "own" and line.text == self._last_message:
                self._last_message = None  # it went through
            elif line.kind == "error" and line.text.startswith("not your turn") and self._last_message:
                if not self.view.editor.text:
                    self.view.editor.type(self._last_message)
                self._last_message = None
        self.view.add(lines)
        if any(line.mentions_me for line in lines):
            self.alert = True
        self.dirty = True

    def update(self) -> None:
        """Draw once per batch of events, however many lines arrived."""
        if self.closed:
            return
        if self.alert:
            self.alert = False
            with contextlib.suppress(curses.error):
                curses.beep()
        status = render.status_text(self.view)
        if status == self._last_status:
            self._status_due = None
        elif not self.dirty:
            # Only the status line changed (the turn, who is here, a transfer's progress). A
            # transfer's speed changes with every chunk, and a draw per chunk would slow a
            # download to a tenth: so status-only changes are drawn at most STATUS_DRAWS_PER_SECOND
            # times a second; next_update_due() tells the loop when to come back for the last one.
            now = time.monotonic()
            due = self._last_draw + 1.0 / STATUS_DRAWS_PER_SECOND
            if now < due:
                self._status_due = due
                return
            self.dirty = True
        else:
            self.dirty = True
        if self.dirty:
            self.dirty = False
            self._last_status = status
            self._status_due = None
            self._last_draw = time.monotonic()
            self.draw()

    def next_update_due(self) -> float | None:
        """Seconds until a held-back status line must be drawn (the loop's select timeout), or
        None when nothing waits: an idle chat never wakes up."""
        if self._status_due is None:
            return None
        return max(0.0, self._status_due - time.monotonic())

    def run_ui_command(self, command: UiCommand) -> list[Line]:
        if command.name == "/clear":
            self.view.clear()
            self.dirty = True
            return []
        if command.name == "/save":
            return [self.save(command.argument)]
        return []

    def save(self, argument: str) -> Line:
        """/save FILE: the transcript as plain text, written whole or not at all."""
        now = self._now()
        if not argument:
            return Line(kind="error", time=now, text="usage: /save FILE")
        path = Path(argument).expanduser()
        text = "".join(format_plain(line) + "\n" for line in self.view.lines)
        temporary = path.with_name(path.name + ".part")
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            return Line(kind="error", time=now, text=f"could not save to {path}: {exc.strerror or exc}")
        return Line(kind="notice", time=now, text=f"saved {len(self.view.lines)} lines to {path}")

    # ------------------------------------------------------------------ paint

    def draw(self) -> None:
        rows, cols = self.screen.getmaxyx()
        width = render.transcript_width(self.view, cols)
        self.view.measure = lambda line: render.line_height(line, width)
        frame = render.render(self.view, rows, cols)
        self.view.clamp(frame.max_scroll, frame.reached_bottom)
        self.view.page_rows = max(1, frame.transcript_rows)
        self.screen.erase()
        for y, row in enumerate(frame.rows):
            self._paint_row(y, row)
        if frame.cursor is not None:
            with contextlib.suppress(curses.error):
                curses.curs_set(1)
                self.screen.move(*frame.cursor)
        else:
            with contextlib.suppress(curses.error):
                curses.curs_set(0)
        self.screen.noutrefresh()
        curses.doupdate()

    def _paint_row(self, y: int, row: list[render.Cell]) -> None:
        x = 0
        while x < len(row):
            chunk, style = row[x]
            if chunk == "":
                x += 1
                continue
            if len(chunk) == 1 and chunk.isascii():
                # a run of plain ASCII in one style goes out in one call
                end = x
                while end < len(row) and row[end][1] == style and len(row[end][0]) == 1 and row[end][0].isascii():
                    end += 1
                self._put(y, x, "".join(c for c, _ in row[x:end]), style)
                x = end
            else:
                # anything wider is placed at its own column, so a width disagreement between
                # wcwidth and the C library cannot shift the rest of the row
                self._put(y, x, chunk, style)
                x += 1

    def _put(self, y: int, x: int, text: str, style: render.Style) -> None:
        try:
            self.screen.addstr(y, x, text, self._attr(style))
        except curses.error:
            pass  # writing the bottom-right cell "fails" after drawing it: a curses quirk

    def _attr(self, style: render.Style) -> int:
        attr = self._attrs.get(style)
        if attr is not None:
            return attr
        attr = 0
        if style.bold:
            attr |= curses.A_BOLD
        if style.dim:
            attr |= curses.A_DIM
        if style.reverse:
            attr |= curses.A_REVERSE
        if style.underline:
            attr |= curses.A_UNDERLINE
        if self.colours:
            attr |= self._pair(self._colour(style.fg), self._colour(style.bg))
        elif style.bg is not None:
            attr |= curses.A_REVERSE  # no colours: a background becomes reverse video
        self._attrs[style] = attr
        return attr

    def _colour(self, index: int | None) -> int:
        if index is None:
            return -1
        if self.colours >= 256:
            return index
        return render.nearest_basic(index)

    def _pair(self, fg: int, bg: int) -> int:
        if (fg, bg) == (-1, -1):
            return 0
        number = self._pairs.get((fg, bg))
        if number is None:
            number = len(self._pairs) + 1
            try:
                if number >= curses.COLOR_PAIRS:
                    return 0
                curses.init_pair(number, fg, bg)
            except (curses.error, ValueError, OverflowError):
                return 0
            self._pairs[(fg, bg)] = number
        return curses.color_pair(number)
