"""plain.py: the line-mode front end (``--plain``, or whenever stdin/stdout is not a terminal).

Each line read from stdin is what the user typed; each message or notice is printed as one
line, flushed at once, with a timestamp, the sender and the text, so scripts can drive it.
Everything a peer sent passes through textsafe.visible() first.
"""

from __future__ import annotations

import codecs
import contextlib
import locale
import os
import re
import select
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from types import FrameType
from typing import TextIO

from wcwidth import grapheme_boundary_before, iter_graphemes, wcswidth

from .. import events as ev
from .. import session_social as social
from ..files import STALLED_AFTER_SECONDS, Progress
from ..session import ALIASES, OFFERS_REMEMBERED, UNKNOWN_COMMAND, Command, Line, Session, UiCommand
from ..stopsignals import StopSignals, write_out
from ..textsafe import visible, visible_lines
from ..textview import day_of
from ..wording import ACTION_MARK, NOTICE_MARK
from . import projector
from .colour_words import suggestion_words
from .editor import kill_word_back, typed_character
from .held_bursts import HeldBursts
from .paste import ENTER_ALONE, PASTE_START, STOP_KEYS, HeldEscape, PastedText
from .speech import KEY_CHARS, KEYS, Speech

MARKS = {"notice": NOTICE_MARK, "error": "!", "system": NOTICE_MARK}  # wording.NOTICE_MARK: why
# A line still without its newline is kept up to this many characters (a paste of any sensible
# size is then refused with its exact length: events.MAX_TEXT_CHARS); past it the line is dropped
# up to its newline, with a notice, so a script piping gigabytes without a newline, or a paste of
# gigabytes at a terminal (--plain), cannot fill the client's memory.
MAX_LINE_CHARS = 1_000_000
# Projector mode prints a direct message as its placeholder (ui/projector.py) and keeps it, to
# print once the mode is turned off; at most this many, the newest (a printed line cannot change).
HIDDEN_KEPT = 1000

# The full screen's own commands (commands.UI_COMMANDS, README "In the chat"; seed 004's \clear is
# one): typed in line mode, each is answered with what to do here instead of "unknown command".
SCREEN_ONLY = (
    Command(name="/clear", usage="/clear", help="(full screen only) in --plain, the terminal's own clear does it"),
    Command(name="/save", usage="/save FILE", help="(full screen only) in --plain, keep what is printed: ... --plain | tee FILE"),
    Command(name="/find", usage="/find TEXT", help="(full screen only) in --plain, search what is printed"),
    Command(name="/mouse", usage="/mouse on|off", help="(full screen only) in --plain, the terminal keeps the mouse"),
)
# the keys --plain reads at a terminal (PlainFrontend._keys), for /help and /help keys
PLAIN_KEYS = (
    ("Enter", "send the line"),
    ("Backspace", "delete the last character"),
    ("Ctrl-U, Ctrl-W", "delete the line, the last word"),
    ("Ctrl-D", "on an empty line: leave (the host's asks first while others are here)"),
    social.LEAVE_KEYS_HELP,
    ("Ctrl-Z", "stop for the shell (fg: back)"),
    ("Up/Down, Tab, PgUp", "none here: the full screen has them"),
)


def terminal_columns(out: TextIO) -> int | None:
    """The width of the terminal ``out`` writes to; None when it has none."""
    try:
        return os.get_terminal_size(out.fileno()).columns or None
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is an OSError
        return None


def screen_only(command: UiCommand) -> list[Line]:
    """A command of the full screen's typed in line mode: what to do here instead."""
    for known in SCREEN_ONLY:
        if command.name == known.name:
            text = f"{known.name} works in the full screen; {known.help.removeprefix('(full screen only) ')}"
            return [Line(kind="error", time=time.time(), text=text)]
    return []


def not_commands_together(lines: list[str] | None, session: Session) -> list[str] | None:
    """``lines`` submitted together (a paste), each run of lines that start with '/' and are no
    command (paths: /home/ann/a.pdf) joined into one, as the full screen takes such a paste:
    Session then answers one "unknown command" for the run, not one for each of its lines."""
    if lines is None or len(lines) < 2:
        return lines
    known = frozenset(session.command_words())
    joined: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        start = line.lstrip()
        word = start.split(" ", 1)[0].lower()
        if start.startswith("/") and not start.startswith("//") and ALIASES.get(word, word) not in known:
            run.append(line)
            continue
        if run:
            joined.append("\n".join(run))
            run = []
        joined.append(line)
    return joined[:-1]


def not_a_command(line: Line) -> Line:
    """--plain's "unknown command" for a line (or a paste's run of lines) that is no command: in
    the full screen it goes back to the input line to mend; here it is gone, so it says so, and
    how to send such a line as text when it looks like one (a path, a paste of several)."""
    first, *more = (line.give_back or "").strip().split("\n")
    if not more and "/" not in first.split(" ", 1)[0][1:]:
        return line  # "/hlep": a command mistyped (did you mean /help?), nothing to send as text
    first = first.strip() if len(first.strip()) <= 60 else first.strip()[:57] + "..."
    if more:
        text = f"{len(more) + 1} lines starting with / are not commands ({first} and {len(more)} more), so none was sent"
    else:
        text = f"{first} is not a command, so it was not sent"
    return replace(line, text=f"{text}; to send a line starting with / as text, start it with //")


def output_refused(exc: OSError) -> str:
    """Say on stderr that the chat's output refused lines (a full disk); the reason, lowercase."""
    why = (exc.strerror or str(exc)).lower()
    with contextlib.suppress(OSError, ValueError):
        print(f"lanchat: cannot write the chat to its output ({why}); "
              "the chat goes on, and what is missed is counted where the output works again",
              file=sys.stderr, flush=True)  # fmt: skip
    return why


def unwritten_gap(count: int, why: str) -> Line:
    """The line marking where the output takes lines again after ``count`` it could not take."""
    return Line(kind="error", time=time.time(), text=f"{count} line{'s' if count != 1 else ''} could not be written here ({why})")


# A line stamped this far from now says nothing of today's date (a server whose clock is off, a
# line shown again): NewDays neither names its day nor counts it; older, of another
# day, it is printed with its date (_plain_head).
DAY_STAMP_SLACK_SECONDS = 600.0


def clock_text(when: float) -> str:
    try:
        return time.strftime("%H:%M:%S", time.localtime(when))
    except (OverflowError, OSError, ValueError):  # a peer's absurd time stamp (events.py refuses them)
        return "--:--:--"


def _day(when: float) -> tuple[int, int, int] | None:
    try:
        moment = time.localtime(when)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.tm_year, moment.tm_mon, moment.tm_mday


def _date_text(when: float) -> str:
    try:
        return time.strftime("%Y-%m-%d", time.localtime(when))
    except (OverflowError, OSError, ValueError):
        return "????-??-??"


def format_plain(line: Line, *, keep_lines: bool = False) -> str:
    """One transcript line as plain text: ``[12:00:01] ann: hello``. A pasted block's line breaks
    show as ↵ (--plain: one line a message, for scripts); with ``keep_lines`` (/save, a file to
    read) its further lines go under the first's text instead, as `lanchat history` writes them."""
    head = _plain_head(line)
    if not keep_lines:
        return head + visible(line.text)
    first, *more = visible_lines(line.text)
    return "\n".join([head + first, *(" " * len(head) + rest for rest in more)])


def folded_plain(line: Line, columns: int | None) -> str:
    """``format_plain`` folded at spaces to a terminal's ``columns``, the further rows under the
    text: the terminal itself would cut a long line mid-word, back at column 0 (None: a pipe, a
    line each, for scripts)."""
    text = format_plain(line)
    if columns is None:
        return text
    if line.colour and (words := suggestion_words(line.colour)):
        text += f" ({words})"  # the colour bot's, named for a person (colour_words.py); a script reads the room's words
    from ..textfold import fold_line

    under = max(0, wcswidth(_plain_head(line)))
    if 0 < line.hang < len(line.text) and columns - (under + line.hang) >= columns // 2:
        under += line.hang  # a /help row: under its description, as the full screen does
    rows = fold_line(text, columns, " " * under)
    # A command to copy goes on a row of its own, less deep than the text when too long for it
    # (textfold): the host's "address changed" had its first at 2 columns in and the next, longer
    # than the terminal, at 15. All rows go as deep as the least deep one, so they line up.
    shallow = min((_indent(row) for row in rows[1:] if _COPY_ROW.match(row)), default=under)
    if shallow < under:
        rows = fold_line(text, columns, " " * shallow)
    return "\n".join(rows)


_COPY_ROW = re.compile(r" *(?:`|(?:python3? -m )?lanchat \w)")  # a row a command to copy begins


def _indent(row: str) -> int:
    return len(row) - len(row.lstrip(" "))


def printed_as(line: Line, columns: int | None, join_lines: tuple[str, ...] = ()) -> str:
    """``line`` as --plain prints it: folded_plain, but for a line of serve's banner under its
    first (``join_lines``, the session's: a command to join, the nc one) said again (the host's
    join lines below a replay, /address), which at a terminal is printed as the banner printed
    it, two spaces in and no stamp, folded as the banner is. Stamped, a command too long for the
    row after '[12:00:00] -!- ' went on a row of its own under an empty stamped one. A script's
    pipe keeps one stamped line each."""
    if columns is None or line.kind != "system" or not any(row.startswith("  ") and row.strip() == line.text for row in join_lines):
        return folded_plain(line, columns)
    from ..textfold import fold_line

    return "\n".join(fold_line("  " + visible(line.text), columns))


class BannerAbove:
    """The host's: serve's start lines above the chat (``rows`` terminal rows, set by cli/chat.py;
    None: none, or asked already) and the rows printed under them since, until the first
    replay's end asks whether they are still in sight (``in_sight``)."""

    def __init__(self, out: TextIO, columns: Callable[[], int | None], session: Session) -> None:
        self.out, self.columns, self.session = out, columns, session
        self.rows: int | None = None
        self.below = 0

    def counted(self, text: str, columns: int | None) -> str:
        """``text``, printed under them: its rows counted while it matters."""
        if self.rows is not None:
            self.below += rows_on_screen(text, columns)
        return text

    def in_sight(self, pending: list[Line]) -> bool:
        """Are serve's start lines still on the terminal's screen above what was printed since and
        ``pending`` (to print)? Then how to join is not said again below the replay: it was, right
        under the banner it repeated. A long replay scrolled it away: said. In a pipe or a file
        nothing scrolls away, and it is said as before. Asked once."""
        rows, self.rows = self.rows, None
        columns = self.columns()
        try:
            height = os.get_terminal_size(self.out.fileno()).lines if columns is not None else 0
        except (AttributeError, ValueError, OSError):
            height = 0
        if rows is None or not height:
            return False
        text = "".join(printed_as(line, columns, self.session.join_lines) + "\n" for line in pending)
        return rows + self.below + rows_on_screen(text, columns) + 2 <= height  # 2: the replay's end, the input line


def rows_on_screen(text: str, columns: int | None) -> int:
    """The terminal rows ``text`` (lines ending in a newline) takes, a row longer than
    ``columns`` wrapped by the terminal; its lines when the width is not known."""
    if columns is None:
        return text.count("\n")
    from ..textfold import cells

    return sum(max(1, -(-cells(row) // columns)) for row in text.split("\n")[:-1])


def _plain_head(line: Line) -> str:
    """What comes before the text: ``[12:00:01] ann: ``."""
    stamp = f"[{clock_text(line.time)}]"
    now = time.time()
    # replayed from another day; or a line stamped then, as the header of what a night asleep
    # missed ("missed while you were away:", the first missed line's time), printed after the
    # line naming today (NewDays): it read as today's 23:59
    if (line.kind == "history" or line.time < now - DAY_STAMP_SLACK_SECONDS) and _day(line.time) != _day(now):
        stamp = f"[{_date_text(line.time)} {clock_text(line.time)}]"
    prefix = "[History] " if line.kind == "history" else ""
    if line.kind in MARKS:
        return f"{stamp} {MARKS[line.kind]} "
    if line.kind == "action" or line.action:  # /me, live or replayed ("[History] * ann ")
        return f"{stamp} {prefix}{ACTION_MARK} {visible(line.sender or '?')} "
    sender = visible(line.sender or "?")
    if line.kind == "direct" or (line.kind == "history" and line.to):  # a replayed DM keeps both names
        return f"{stamp} {prefix}{sender} -> {visible(line.to or '?')} (direct): "
    return f"{stamp} {prefix}{sender}: "


_KEY_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|O.|.)?", re.S)  # arrows, F-keys, Alt+key: ignored


def moves_up(environ: dict[str, str] | os._Environ[str]) -> bool:
    """Does the terminal take ANSI cursor moves (ESC [ A up, ESC [ J clear below)? One whose
    terminfo entry says so does; dumb (an editor's shell buffer) does not, nor a TERM this
    machine has no entry for (what made lanchat choose line mode: it may be anything), nor
    none at all."""
    term = environ.get("TERM", "")
    if term in ("", "dumb"):
        return False
    try:
        from .screen import terminfo_moves_up  # curses stays screen.py's: line mode at a terminal only
    except ImportError:
        return False  # a Python without curses cannot ask: a fresh line is safe anywhere
    return terminfo_moves_up(term)


def cursor_at(text: str, columns: int) -> tuple[int, int]:
    """The row and column (from 0) the cursor is at after ``text`` is written from a row's start,
    at ``columns`` wide: a wide character that does not fit in a row's last column goes to the
    next row whole, that column left blank (xterm, VTE), so the rows are not width // columns.
    At the edge, the cursor waits there: still that row, column ``columns``."""
    row = column = 0
    for cluster in iter_graphemes(text):
        width = max(0, wcswidth(cluster))
        if column + width > columns:
            row, column = row + 1, 0
        column += width
    return row, column


def cursor_row(text: str, columns: int) -> int:
    """The row of ``cursor_at``."""
    return cursor_at(text, columns)[0]


def paste_cut_short(fd: int) -> bool:
    """After a stop (Ctrl-Z, then fg) inside a bracketed paste: is that paste over? Ctrl-Z makes
    the terminal throw away what was not read yet, the paste's end marker with it, so a paste
    with nothing waiting to be read after fg would never end, and every key after it would be
    text for good (no Enter, no Backspace): it is over. Something waiting is the paste's rest (a
    stop by `kill -TSTP` throws nothing away, nor do bytes the terminal writes after Ctrl-Z)."""
    try:
        return not select.select([fd], [], [], 0)[0]
    except (OSError, ValueError):
        return True


def hidden_while_projecting(kept: list[Line], count: int) -> Line:
    """The notice above the ``kept`` lines of the ``count`` hidden while /projector was on."""
    which = f"the {count}" if count == len(kept) else f"the last {len(kept)} of {count}"
    noun = "direct message" if all(map(projector.is_direct, kept)) else "private line"  # or a file offered to you
    text = f"{which} {noun}{'s' if count != 1 else ''} hidden while /projector was on:"
    return Line(kind="notice", time=time.time(), text=text)


def too_long_line() -> Line:
    """The one notice for a line past MAX_LINE_CHARS (piped, or typed/pasted at a terminal)."""
    limit = f"{ev.MAX_TEXT_CHARS:,}"
    text = f"a line of over {MAX_LINE_CHARS:,} characters was not sent (a message holds at most {limit})"
    return Line(kind="error", time=time.time(), text=text)


def back_over(typing: str, columns: int | None) -> str:
    """What takes the cursor back to where the unfinished line ``typing`` starts, with it
    cleared. A line that wrapped (longer than the terminal is wide) is gone over row by row up (a
    carriage return and blanks reached only its last row: its first stayed above what came
    next); a terminal that cannot move up (TERM=dumb) starts a fresh line below it instead."""
    shown = visible(typing)
    width = max(0, wcswidth(shown))
    if columns is None or width <= columns:
        return "\r" + " " * width + "\r"
    if not moves_up(os.environ):
        return "\n"
    up = cursor_row(shown, columns)
    return (f"\x1b[{up}A" if up else "") + "\r\x1b[J"


def rubbed_out(typing: str, gone: str, columns: int | None, *, continues: bool) -> str:
    """What rubs out ``gone``, the end of ``typing`` (which still has it), echoed as it was at a
    terminal of ``columns`` (``continues``: after other typed text, so a mark at its start sat on
    the character before, with no dotted circle: textsafe.visible)."""
    width = max(0, wcswidth(visible(gone, continues=continues)))
    shown = visible(typing)
    if columns and wcswidth(shown) >= columns:
        # the line reaches the edge (or wraps): a backspace never goes up a row, nor back from
        # the edge where the cursor waits to wrap: the rest is written again, over the line
        # where the terminal moves up, else on a fresh row (TERM=dumb) unless what goes is
        # on the cursor's own row, away from the edge (a backspace then rubs it out)
        # (the cursor's column is read only where it decides: it goes over the whole line)
        if moves_up(os.environ) or not width <= cursor_at(shown, columns)[1] < columns:
            return back_over(typing, columns) + visible(typing[: len(typing) - len(gone)])
    return "\b" * width + " " * width + "\b" * width


def _typed(key: str) -> bool:
    """A character that is text, at a terminal (tabs become spaces; editor.typed_character)."""
    return key == "\t" or typed_character(key)


class OwnTerminal:
    """--plain at a terminal: keys one by one and no kernel echo (PlainFrontend echoes them
    itself); Ctrl-C, Ctrl-Z and Ctrl-\\ read as keys (no ISIG: a pasted one was a signal,
    paste.py), and Ctrl-S too (no IXON: it paused every write); a SIGTSTP from elsewhere only
    noted by its handler, for the loop (``fileno``), which stops between two passes (``stop``).
    A handler runs between any two bytecodes: one that stopped right there found keys echoed and
    not yet kept, and after ``fg`` wrote the unfinished line again without them. SIGCONT's, the
    same, for a stop that was not ours (``woken``). ``give_back`` undoes it all."""

    def __init__(self, fd: int, saved: list, own: list, *, echoes: bool = True) -> None:
        self.fd, self.echoes = fd, echoes  # echoes: we show what is typed (not what drives the terminal: take)
        self.saved, self.own = saved, own  # the terminal's modes as we found it, and as we set it
        self._wake_r, self._wake_w = os.pipe()
        for end in (self._wake_r, self._wake_w):
            os.set_blocking(end, False)
        self._old_stop: Callable[[int, FrameType | None], object] | int | None = None  # SIGTSTP's before ours
        self._old_cont: Callable[[int, FrameType | None], object] | int | None = None  # SIGCONT's before ours
        self._stopped_here = False  # stop() stopped us: the SIGCONT that follows is its own
        with contextlib.suppress(ValueError, AttributeError):  # not the main thread; no job control
            self._old_stop = signal.signal(signal.SIGTSTP, self._on_stop)
            self._old_cont = signal.signal(signal.SIGCONT, self._on_cont)
            # a call a stop caught goes on after it (SA_RESTART): after Ctrl-Z and `bg`, setting
            # the terminal stops us (SIGTTOU) until fg, and then failed (EINTR), the shell's modes kept
            signal.siginterrupt(signal.SIGCONT, False)

    @classmethod
    def take(cls, fd: int) -> OwnTerminal | None:
        """The terminal on ``fd`` set to our modes; None: no termios, or not a terminal after all.
        One whose echo is off as we find it does not ``echoes``: what drives it shows and edits
        what is typed itself and sends whole lines (Emacs's shell buffer, where Emacspeak reads;
        `stty -echo`): our echo wrote each line again under the one it showed, and a screen
        reader said it twice. Its keys are still ours (the host's Ctrl-C and Ctrl-D ask first)."""
        try:
            import termios
        except ImportError:
            return None
        try:
            saved = termios.tcgetattr(fd)
            own = termios.tcgetattr(fd)
            own[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG)  # Ctrl-C and Ctrl-Z: keys (_stop_key)
            own[0] &= ~termios.ICRNL  # Enter as the CR it is: a pasted CR LF is then one line end, not two
            own[0] &= ~termios.IXON  # a Ctrl-S (pasted too) paused our output, and every write, the whole loop with it
            own[6][termios.VMIN], own[6][termios.VTIME] = 1, 0
            termios.tcsetattr(fd, termios.TCSANOW, own)
        except (termios.error, OSError, ValueError):
            return None
        return cls(fd, saved, own, echoes=bool(saved[3] & termios.ECHO))

    def _on_stop(self, signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"z")

    def _on_cont(self, signum: int, frame: object) -> None:
        if not self._stopped_here:  # a stop not ours: the shell's line editing is the terminal's now
            import termios

            # ours again at once, not when the loop next asks (woken): a stop between its check
            # for a key and its read made that read, in line mode, wait for the next Enter
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self.own)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"c")

    def fileno(self) -> int:
        """Readable after Ctrl-Z, and after a stop."""
        return self._wake_r

    def woken(self) -> str:
        """What came (and is not yet acted on): "stop" (Ctrl-Z), "taken back" (going on after a
        stop that was not ours, kill -STOP: the terminal had the shell's modes meanwhile, bash puts
        them back, and has ours again now), or "" (nothing, or the end of a stop of our own)."""
        try:
            woke = os.read(self._wake_r, 4096)
        except OSError:  # BlockingIOError: nothing
            return ""
        if b"z" in woke:
            return "stop"
        if b"c" not in woke or self._stopped_here:
            self._stopped_here = False
            return ""
        import termios

        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.own)
        return "taken back"

    def readable(self) -> bool:
        """Is a key waiting? Asked before every read, which would otherwise wait for one, and
        the whole loop with it. The loop's select saying so is not enough: the loop reads once
        for each ready descriptor, the keyboard's and the wake pipe's (a SIGCONT's byte, with
        keys typed right after fg), and the first read took all; and what the keyboard had
        before a stop, the shell may have read meanwhile."""
        try:
            return bool(select.select([self.fd], [], [], 0)[0])
        except (OSError, ValueError):
            return True  # the read says what is wrong (a hang-up: the end)

    def stop(self) -> None:
        """The shell gets its own line editing and echo back while we are stopped (dash does not
        reset the terminal, and what was typed at its prompt went unseen), and after ``fg`` ours
        again (bash had left its own: each key was echoed twice, by the terminal and by us, and
        a line arriving cut the typed one in two). After ``bg`` instead, setting the terminal
        stops us again (SIGTTOU) until ``fg``: a chat at a terminal needs it."""
        import termios

        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        # the SIGCONT that follows is this stop's own (woken); leading our own session (xterm -e,
        # tmux new-window) the kernel drops the stop and no SIGCONT comes: the next is from elsewhere
        self._stopped_here = os.getsid(0) != os.getpid()
        try:
            os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until SIGCONT (fg)
        finally:
            signal.signal(signal.SIGTSTP, self._on_stop)
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.own)

    def give_back(self) -> None:
        """The terminal's modes and SIGTSTP's and SIGCONT's handlers as they were."""
        import termios

        with contextlib.suppress(termios.error, OSError, ValueError):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        for signum, old in ((signal.SIGTSTP, self._old_stop), (signal.SIGCONT, self._old_cont)):
            if old is not None:
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(signum, old)
        for end in (self._wake_r, self._wake_w):  # after the handler is gone: it writes to one
            with contextlib.suppress(OSError):
                os.close(end)


class HiddenWhileProjecting:
    """Projector mode in line mode: a direct message prints as its placeholder and is kept (the
    newest HIDDEN_KEPT); once the mode is off, the ones kept print below what came (a printed line
    cannot change)."""

    def __init__(self) -> None:
        self.kept: deque[Line] = deque(maxlen=HIDDEN_KEPT)
        self.count = 0  # how many, more than kept when over HIDDEN_KEPT

    def projected(self, lines: list[Line], session: Session) -> list[Line]:
        """``lines`` as they are printed now."""
        if session.projector:
            direct = [line for line in lines if projector.hides(line)]
            self.kept.extend(direct)
            self.count += len(direct)
            return [projector.shown(line, session) for line in lines]
        if not self.count:
            return lines
        kept, count = list(self.kept), self.count
        self.kept.clear()
        self.count = 0
        return [*lines, hidden_while_projecting(kept, count), *kept]


# A download that stalls again waits twice as long each time before --plain says so, up to this:
# a student on a lossy Wi-Fi (30% of packets lost) read 12 "stalled" and "moving again" lines in 50 s.
STALLED_AT_MOST_SECONDS = 32.0


class StalledDownloads:
    """--plain's word on a download no byte comes for: one line once it has been quiet for
    files.STALLED_AFTER_SECONDS (as the full screen's status line says "stalled"), one when bytes
    move again; never a line a second (the screen counts the seconds on its status line). Each
    stall of the same download is said after twice the quiet of the last (_quiet_enough)."""

    def __init__(self, session: Session, show: Callable[[list[Line]], None]) -> None:
        self.session = session
        self.show = show
        self.said: dict[str, tuple[Progress, float]] = {}  # session.progress key -> (the download, its last byte before)
        self.stalls: dict[str, tuple[Progress, int]] = {}  # session.progress key -> (the download, its stalls said)

    def _quiet_enough(self, key: str, p: Progress) -> float:
        """How long ``p`` is quiet before its stall is said: 2 s, then 4, 8... (STALLED_AT_MOST_SECONDS)."""
        said = self.stalls.get(key)
        return min(STALLED_AT_MOST_SECONDS, STALLED_AFTER_SECONDS * 2 ** (said[1] if said is not None and said[0] is p else 0))

    def update(self) -> None:
        """After each pass of the loop: what changed is said."""
        if lines := self.lines(self.session):
            self.show(lines)

    def lines(self, session: Session) -> list[Line]:
        downloads = {key: p for key, p in session.progress.items() if isinstance(p, Progress) and p.direction == "get"}
        lines = []
        for key in [key for key, (p, _) in self.said.items() if downloads.get(key) is not p]:
            del self.said[key]  # over (its own line says how), cut off, or asked again: nothing to add
        for key in [key for key, (p, _) in self.stalls.items() if downloads.get(key) is not p]:
            del self.stalls[key]
        for key, p in downloads.items():
            named = f"#{p.file_id} {visible(p.private if session.projector and p.private else p.label)}"
            if key in self.said and p.quiet_for() < STALLED_AFTER_SECONDS:
                stalled = max(p.now, p.started) - self.said.pop(key)[1]
                lines.append(f"{named}: moving again at {p.percent}%, after {stalled:.0f} s with no byte")
            elif key not in self.said and p.total > p.done and (quiet := p.quiet_for()) >= self._quiet_enough(key, p):
                self.said[key] = (p, max(p.now, p.started))
                self.stalls[key] = (p, self.stalls[key][1] + 1 if key in self.stalls else 1)
                lines.append(f"{named}: stalled at {p.percent}%, no byte for {quiet:.0f} s (it goes on if the link comes back; /cancel {p.file_id} stops it)")
        return [Line(kind="notice", time=time.time(), text=text) for text in lines]

    def due(self) -> float | None:
        """Seconds until a download not said stalled would be (the loop's wait): None if none."""
        waits = [self._quiet_enough(key, p) - p.quiet_for() for key, p in self.session.progress.items()
                 if isinstance(p, Progress) and p.direction == "get" and key not in self.said and p.total > p.done and p.clock is not None]  # fmt: skip
        return max(0.0, min(waits)) if waits else None


# --plain prints news of who fetched a file of ours at most once in this many seconds a file
# (HeldFetches): a printed line cannot change, and 30 students fetching the slides in a minute
# would be 30 lines. The line printed when they are up names the newest two (three while three
# have it) and counts the rest, as the full screen's line does: the names between are not printed.
FETCHED_EVERY_SECONDS = 30.0


class HeldFetches:
    """--plain's news of who fetched a file of ours (``Line.fetched``; each says all so far): the
    first of a file prints at once, what comes within FETCHED_EVERY_SECONDS of that file's last
    line printed waits, and its newest prints once they have passed (the full screen updates one
    line instead: ui/view.py). Runs, after each pass of the loop, the stalled-download lines too
    (``also``). A line that waited is stamped with the time it is printed (``wall``), not the
    newest fetch's: printed after the chat lines of the 30 s it waited, it would read as older
    than they are."""

    def __init__(self, show: Callable[[list[Line]], None], also: StalledDownloads, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.show = show
        self.also = also
        self.clock = clock
        self.wall = wall
        self.printed: dict[str, float] = {}  # file id -> when its last news was printed (the last FETCHED_EVERY_SECONDS')
        self.held: dict[str, Line] = {}  # file id -> its newest news, not printed yet

    def sort(self, lines: list[Line]) -> list[Line]:
        """``lines`` less the news that waits now."""
        if not (self.printed or any(line.fetched is not None for line in lines)):
            return lines
        now, shown = self.clock(), []
        for file_id in [f for f, when in self.printed.items() if now - when >= FETCHED_EVERY_SECONDS and f not in self.held]:
            del self.printed[file_id]  # (what it holds stays a few files at most)
        for line in lines:
            if line.fetched is not None and line.fetched in self.printed:
                self.held[line.fetched] = line  # said within the last FETCHED_EVERY_SECONDS: it waits
                continue
            if line.fetched is not None:
                self.held.pop(line.fetched, None)
                if len(self.printed) < OFFERS_REMEMBERED:  # a server telling of a million files: each printed, none kept
                    self.printed[line.fetched] = now
            shown.append(line)
        return shown

    def update(self) -> None:
        """After each pass of the loop: the news whose wait is over is printed."""
        self.also.update()
        now = self.clock()
        due = [file_id for file_id in self.held if now - self.printed[file_id] >= FETCHED_EVERY_SECONDS]
        for file_id in due:
            del self.printed[file_id]
        if due:
            self.show([replace(self.held.pop(file_id), time=self.wall()) for file_id in due])

    def last(self) -> list[Line]:
        """At the chat's end: the news still waiting, to print now (the wait would never end)."""
        held = [replace(line, time=self.wall()) for line in self.held.values()]
        self.held.clear()
        self.printed.clear()
        return held

    def due(self) -> float | None:
        """Seconds until the loop must come back (news waiting, a download to call stalled)."""
        now = self.clock()
        waits = [max(0.0, self.printed[f] + FETCHED_EVERY_SECONDS - now) for f in self.held]
        if (stalled := self.also.due()) is not None:
            waits.append(stalled)
        return min(waits) if waits else None



class NewDays:
    """--plain past midnight: ``[23:59:56]``, then ``[00:00:05]`` said nothing of a day gone by
    (the full screen rules the day off, the server's log and nc say it). Before the first live
    line of a later day than the last one's, a line naming it: ``-!- Tuesday 8 December``, as nc
    reads it (textview.day_of). Only lines stamped about now count (a skewed server's, a line
    shown again, do not), and only forward: two clocks either side of midnight never alternate.
    Lines replayed from history carry their own date (_plain_head)."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self.day: tuple[float, float] | None = None  # the last live line's day: when it began, when the next does

    def ruled(self, lines: list[Line]) -> list[Line]:
        out: list[Line] = []
        for line in lines:
            if line.kind != "history" and not (self.day and line.time < self.day[1]) and abs(line.time - self.now()) < DAY_STAMP_SLACK_SECONDS:
                found = day_of(line.time)
                if found is not None:
                    if self.day is not None:
                        out.append(Line(kind="notice", time=line.time, text=found[2]))
                    self.day = found[:2]
            out.append(line)
        return out


class PlainFrontend:
    """Reads stdin without blocking the loop; writes one flushed line per transcript line.

    At a terminal (``--plain`` by choice) it echoes what is typed itself, so that a line
    arriving while you type is printed above your unfinished text, which is then written again
    below it: the kernel's own echo would leave it cut in two (``speech``: never again, speech.py)."""

    def __init__(
        self, session: Session, stdin_fd: int | None = None, stdout: TextIO | None = None, *, interactive: bool | None = None,
        speech: Speech | None = None,
    ) -> None:
        self.session = session
        session.ui_commands = tuple(c for c in session.ui_commands if c.name not in {u.name for u in SCREEN_ONLY}) + SCREEN_ONLY
        self.fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
        self.out = stdout or sys.stdout
        self.stops: StopSignals | None = None  # stopsignals.py's, once the chat runs: a stalled write gives way to leaving
        self._partial = ""
        self._skipping = False  # dropping the rest of an over-long line, up to its newline
        self._after_cr = False  # at a terminal, the last key was a CR: a LF right after it is the same line end
        self._paste: PastedText | None = None  # inside a bracketed paste: text only, no keys (paste.py)
        self._held = HeldEscape()  # the end of a read that may begin a key's sequence (ESC [ 2 0 | 0 ~)
        self.marks_pastes = False  # we asked the terminal to bracket pastes, and give that back at the end
        self.ended = False
        self.typing = ""  # at a terminal: what is typed and not yet sent
        self._ctrl_c = social.CtrlCAnswer()  # the host's Ctrl-C asks first (_stop_key): which press answers
        self.hidden = HiddenWhileProjecting()  # direct messages printed as placeholders (projector mode)
        self.days = NewDays()  # a line naming the day before the first of a new one (a lesson past midnight)
        self.stalls = StalledDownloads(session, self.show)  # after each pass (update), and the loop's wait for it
        self.fetches = HeldFetches(self.show, also=self.stalls)  # who fetched our files: a line every 30 s a file at most
        self.terminal: OwnTerminal | None = None  # at a terminal: its modes and Ctrl-Z (own echo)
        self.unwritten = 0  # transcript lines the output could not take (a full disk), said where it resumes
        self.banner = BannerAbove(self.out, self._columns, session)  # the host's: serve's start lines, in sight? (client.said_above)
        self._unwritten_why = ""
        if interactive is None:
            interactive = os.isatty(self.fd) and bool(getattr(self.out, "isatty", lambda: False)())
        self.interactive = interactive  # a person at a terminal: long lines fold to its width
        self.bursts = HeldBursts(self.show, also=self.fetches, columns=self._columns, enabled=interactive)  # joins: 1 line
        self.update, self.next_update_due = self.bursts.update, self.bursts.due
        self.speech = speech if interactive else None  # --screen-reader (ui/speech.py); a script's pipe reads every line
        session.ui_keys = (*PLAIN_KEYS, *KEYS) if self.speech else PLAIN_KEYS if interactive else ()  # /help's; not the full screen's a failed start (TERM=dumb) set
        # A script's lines are UTF-8; a keyboard types in its terminal's character set, which the
        # locale names (UTF-8 too in a C locale: Python's UTF-8 mode), so a Latin-1 terminal's é is
        # é; a byte that is not text stays that byte (surrogateescape), so a real U+FFFD is text
        typed_in = locale.getpreferredencoding(False) if interactive else "utf-8"
        try:
            self._decoder = codecs.getincrementaldecoder(typed_in)(errors="surrogateescape")
        except LookupError:  # a character set Python has no codec for
            self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        if interactive:
            self.terminal = OwnTerminal.take(self.fd)
            session.confirm_quit = True  # a person, not a script: the host's /q asks first
        # a terminal that takes ANSI sequences (not dumb, not one terminfo does not know) brackets
        # pastes, as the full screen asks: a pasted Ctrl-U or colour code is then text, not keys
        self.marks_pastes = self.terminal is not None and self.terminal.echoes and moves_up(os.environ)
        _paste_mode(self, on=True)

    def wake_fileno(self) -> int | None:
        """A second fd for the loop to watch: readable after Ctrl-Z. None: not at a terminal."""
        return None if self.terminal is None else self.terminal.fileno()

    def _suspend(self, terminal: OwnTerminal, *, stop: bool = True) -> None:
        """Ctrl-Z, between two passes of the loop: stopped with the terminal given back, and
        after ``fg`` the unfinished line is written again, all of it (OwnTerminal.stop); the
        same after a stop not ours (``stop`` False: kill -STOP, then fg; the shell's lines came under it)."""
        if self.typing:
            self._echo("\n")
        if stop:
            _paste_mode(self, on=False)  # the shell's own again while stopped
            terminal.stop()
        if self._paste is not None and paste_cut_short(self.fd):  # before a key typed after fg can come
            self._paste = None
        _paste_mode(self, on=True)
        if self.typing:
            self._echo(visible(self.typing))
            if self.speech:
                self.speech.written_again()

    def close(self) -> None:
        """Give the terminal its own line editing and echo back. What is typed and not sent
        stays on its line, and the last words go on the next (not glued to its end). News of who
        fetched our files still waiting (HeldFetches), and a burst of joins held (HeldBursts), are printed first."""
        if held := self.bursts.last():
            self.show(held)
        if self.terminal is None:
            return
        if self.typing:
            self._echo("\n")  # a terminal hung up (EIO): its line editing is put back all the same
        _paste_mode(self, on=False)
        self.terminal.give_back()
        self.terminal = None

    def fileno(self) -> int:
        return self.fd

    def draft(self) -> str:
        """At a terminal, what is typed and not sent (a script's pipe has none): said in the chat's
        last words when the server ends it, as the full screen's input line is (cli/chat.py's _ending)."""
        return self.typing

    def _write(self, text: str) -> None:
        write_out(self.out, text, self.stops)

    def _echo(self, text: str) -> None:
        if self.terminal is not None and not self.terminal.echoes:
            return  # what drives this terminal shows what is typed (OwnTerminal.take)
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            self._write(text)

    def _typed_keys(self, text: str) -> list[str] | None:
        """Keys at a terminal without the kernel's line editing: echo, Backspace (a whole
        grapheme cluster), Ctrl-U, Ctrl-W, Enter; Ctrl-D on an empty line ends the input.
        Between bracketed-paste markers everything is text (paste.py): a pasted Ctrl-U, ESC or
        colour code was a key here too, and emptied the line or left its letters in it."""
        submitted: list[str] = []
        now = time.monotonic()
        self._ctrl_c.read()
        if self._paste is not None and self._paste.given_up(text, now):
            self._paste = None  # its end never came, and a person presses Ctrl-C (paste.py)
        text = self._held.join(text, now) if self._paste is None else text
        while text:
            if self._paste is not None:
                pasted, ended = self._paste.feed(text, now)
                submitted += self._keys(pasted)[0]  # text, spaces and line ends only
                if ended is None:
                    break
                text = text[ended:]  # a paste holding ESC [ 201 ~: the rest of this read is text too (paste.py)
                self._paste = PastedText(now, tail=True) if text and text not in ENTER_ALONE else None
                continue
            keys, paste_at = self._keys(text)
            submitted += keys
            if self.ended:
                return submitted or None
            if paste_at is None:
                break
            self._paste, text = PastedText(now), text[paste_at:]
        if self._paste is not None and self._paste.tail:  # over with its read
            submitted += self._keys(self._paste.finish())[0]
            self._paste = None
        return submitted

    def _keys(self, text: str) -> tuple[list[str], int | None]:
        """``_typed_keys`` outside a paste: the lines submitted, and where a paste starts (after
        its marker; None: none did), which stops the reading here."""
        submitted: list[str] = []
        index = 0
        while index < len(text):
            key, index = text[index], index + 1
            self._ctrl_c.key(key)  # Ctrl-C's question (if asked): another key goes on
            after_cr, self._after_cr = self._after_cr, key == "\r"
            if key == "\n" and after_cr:
                continue  # CR LF (a paste of Windows line ends, maybe split between two reads): one Enter
            if key in "\r\n":
                if self._skipping:  # the end of an over-long line: nothing of it is sent
                    self._skipping = False
                    continue
                self._echo(self.speech.entered(self.typing) if self.speech else "\n")
                submitted.append(self.typing)
                self.typing = ""
            elif key in "\x7f\x08":
                self._rub_to(grapheme_boundary_before(self.typing, len(self.typing)) if self.typing else 0)
            elif key in "\x15\x17":
                self._rub_to(0 if key == "\x15" else len(kill_word_back(len(self.typing), self.typing)[1]))
            elif key in KEY_CHARS and self.speech:  # Ctrl-R: what is typed, said again when asked; Ctrl-T: when (speech.py)
                self._echo(self.speech.key(key, self.typing))
            elif key == "\x04":
                if not self.typing and not self._skipping and self._stop_key(key):
                    return submitted, None  # the input ended (self.ended)
            elif key in STOP_KEYS:
                if self._stop_key(key):
                    return submitted, None  # leaving: what was typed after it is dropped, as ISIG did
            elif key == "\x1b":
                if self._held.hold(text[index - 1 :], time.monotonic()):
                    break  # its rest is in the next read
                match = _KEY_SEQUENCE.match(text, index - 1)
                if match and match.group() == PASTE_START:
                    return submitted, match.end()
                index = match.end() if match else index
            elif _typed(key):
                # the whole run of typed characters at once: one echo and one flush, not one each
                end = index
                while end < len(text) and _typed(text[end]):
                    end += 1
                run = text[index - 1 : end].replace("\t", " ")
                index = end
                if self._skipping:
                    continue  # the rest of an over-long line: neither kept nor echoed
                if len(self.typing) + len(run) > MAX_LINE_CHARS:  # a paste of gigabytes: memory stays flat
                    self.typing = ""
                    self._skipping = True
                    self._echo("\n")
                    self.show([too_long_line()])
                    continue
                self._echo(visible(run, continues=bool(self.typing)))  # a mark typed on the last letter stays on it
                self.typing += run
                social.note_typing(self.session, self.typing)  # a hint for the others, never the text
        return submitted, None

    def _rub_to(self, end: int) -> None:
        """Backspace, Ctrl-U, Ctrl-W: what is typed from ``end`` on is gone, rubbed out on screen."""
        shown, gone, continues = self.speech.cut(self.typing, end) if self.speech else (self.typing, self.typing[end:], end > 0)
        if gone:
            self._echo(rubbed_out(shown, gone, self._columns(), continues=continues))
        self.typing = self.typing[:end]

    def _stop_key(self, key: str) -> bool:
        """Ctrl-C, Ctrl-\\: the signal the terminal sent for it, raised (the loop says goodbye); True.
        Ctrl-D on an empty line: the input ends; True. But the host's Ctrl-C, and Ctrl-D, with others
        here ask first, as the full screen's Ctrl-C does (social.CtrlCAnswer).
        Ctrl-Z: stopped, as its SIGTSTP did."""
        if key == "\x1a":
            if self.terminal is not None:
                self._suspend(self.terminal)
            return False
        if key in "\x03\x04" and (asked := self._ctrl_c.ctrl_c(self.session, key)) is not True:
            if asked:  # (False: a second Ctrl-C in the read that asked, dropped)
                self.show(list(asked.lines))
            return False
        if key == "\x04":  # Ctrl-D on an empty line: the input ends
            self.ended = True
            return True
        signal.raise_signal(signal.SIGINT if key == "\x03" else signal.SIGQUIT)
        return True

    def read_input(self) -> list[str] | None:
        return not_commands_together(self._read_lines(), self.session)

    def _read_lines(self) -> list[str] | None:
        if self.terminal is not None:
            if woke := self.terminal.woken():  # Ctrl-Z; or the terminal ours again after kill -STOP and fg
                self._suspend(self.terminal, stop=woke == "stop")
                return []  # keys typed meanwhile come at the loop's next pass
            if not self.terminal.readable():
                return []
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            data = b""
        if self.terminal is not None and data:
            return self._typed_keys(self._decoder.decode(data))
        if not data:
            self.ended = True
            rest = self._partial + self._decoder.decode(b"", final=True)
            self._partial = ""
            if rest.strip() and not self._skipping:
                return [rest.rstrip("\r")]  # a last line without a newline still counts
            return None
        text = self._partial + self._decoder.decode(data)
        *complete, self._partial = text.split("\n")
        if self._skipping and complete:
            complete.pop(0)  # the end of the over-long line
            self._skipping = False
        if self._skipping:
            self._partial = ""
        elif len(self._partial) > MAX_LINE_CHARS:
            self._partial = ""
            self._skipping = True
            self.show([too_long_line()])
        return [line.rstrip("\r") for line in complete]

    def show(self, lines: list[Line]) -> None:
        if not (lines := self.bursts.sort(self.fetches.sort(self.speech.heard(lines) if self.speech else lines))):
            return
        lines = [not_a_command(line) if line.code == UNKNOWN_COMMAND else line for line in lines]
        lines = self.days.ruled(self.hidden.projected(lines, self.session))
        if self.unwritten:  # the output failed before: where it takes lines again, the gap is marked
            lines = [unwritten_gap(self.unwritten, self._unwritten_why), *lines]
        try:
            columns = self._columns()
            said = self.speech.said if self.speech else printed_as  # a screen reader's: in words (spoken.py)
            text = self.banner.counted("".join(said(line, columns, self.session.join_lines) + "\n" for line in lines), columns)
            if (self.typing or self.speech) and self.terminal is not None and self.terminal.echoes:
                # clear the unfinished line, print what came, and write it again below (a screen reader's: above it, speech.py)
                text = self.speech.above(text, self.typing) if self.speech else back_over(self.typing, columns) + text + visible(self.typing)
            self._write(text)
        except (BrokenPipeError, ValueError):
            pass  # nobody is reading our output any more; keep chatting regardless
        except OSError as exc:  # `--plain > lesson.log` on a full disk: it was an "internal error" that ended the chat
            _unwritable(self, exc, len(lines) - (1 if self.unwritten else 0))
        else:
            self.unwritten = 0

    def _columns(self) -> int | None:
        """The terminal's width, read at each write (it may be resized); None for a script's pipe."""
        return terminal_columns(self.out) if self.interactive else None

    def run_ui_command(self, command: UiCommand) -> list[Line]:
        return screen_only(command)

    def print(self, text: str) -> None:
        """A line about the program itself (start-up, exit), not from the chat."""
        try:
            self._write(text + "\n")
        except (BrokenPipeError, ValueError):
            pass
        except OSError as exc:
            _unwritable(self, exc, 1)


def _paste_mode(frontend: PlainFrontend, *, on: bool) -> None:
    """Ask the terminal to mark pastes (bracketed paste), or to stop, if it was asked."""
    if frontend.marks_pastes:
        frontend._echo("\x1b[?2004h" if on else "\x1b[?2004l")


def _unwritable(frontend: PlainFrontend, exc: OSError, count: int) -> None:
    """The output refused lines (no space left, a quota): the chat goes on; said once on
    stderr, and counted, for the line that marks the gap where the output works again."""
    if not frontend.unwritten:
        frontend._unwritten_why = output_refused(exc)
    frontend.unwritten += count
