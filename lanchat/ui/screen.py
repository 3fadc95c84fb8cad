"""screen.py: the curses front end. The ONLY module that imports curses; it never leaves the
terminal in a broken state.

What to draw is decided elsewhere (view.py, render.py, redraw.py), what the keys do too
(keys.py: escape sequences, bracketed paste, Enter's guess; sending.py: what Enter sends and what
comes back to the input line; commands.py: /clear, /find, /save, /mouse), so this file is only
about the terminal, in three parts the ``CursesFrontend`` owns: ``Terminal`` (its modes, the
resize and stop signals, the mouse, the title, and putting the terminal back the way it was on
every way out), ``Painter`` (a frame's cells in their colours, and what curses cannot hold
written over them) and the raw keys (bytes read with getch and decoded here: ``KeyDecoder``).
"""

from __future__ import annotations

import codecs
import contextlib
import curses
import functools
import locale
import os
import re
import select
import signal
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from wcwidth import wcswidth, wcwidth

from .. import events as ev
from .. import session_social as social
from ..session import Line, Session, UiCommand
from . import projector, render
from .commands import UI_COMMANDS, ScreenCommands
from .keys import KEYS, KeyCodes, KeyReader
from .plain import paste_cut_short
from .redraw import Redraws
from .sending import Sending
from .stall import Signals, StallWatcher
from .view import ROSTER_MIN_COLS, View

ROSTER_TOO_NARROW = "roster-too-narrow"  # the code of F2's line on a narrow screen (a local one: never on the wire)

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
    curses.KEY_MOUSE: "mouse",
}
WHEEL_UP = curses.BUTTON4_PRESSED
WHEEL_DOWN = getattr(curses, "BUTTON5_PRESSED", 0)  # ncurses' mouse version 2 (6.0 and newer)
WHEEL_ROWS = 3  # rows one notch of the wheel scrolls, as most terminals do
# Keys terminfo names but the curses module has no constant for (modified arrows, Home, End)
NAMED_KEYS = {b"kLFT5": "ctrl-left", b"kRIT5": "ctrl-right", b"kHOM5": "ctrl-home", b"kEND5": "ctrl-end"}

@functools.cache
def terminfo_moves_up(term: str) -> bool:
    """terminfo's word on ``term`` for --plain (plain.moves_up): known, and its cursor up by N
    (cuu) and clear below (ed) are the ANSI ones lanchat writes (vt52's are not). Asked once:
    curses reads the entry of one TERM a process (setupterm), and lanchat's TERM does not change
    while it runs."""
    null = os.open(os.devnull, os.O_WRONLY)  # setupterm wants a descriptor; nothing is written
    try:
        curses.setupterm(term, null)  # an unknown TERM raises curses.error, printing nothing
        up, clear_below = curses.tigetstr("cuu") or b"", curses.tigetstr("ed") or b""
        return up.startswith(b"\x1b[%p1%dA") and clear_below.startswith(b"\x1b[J")  # vt100's ed ends in a delay
    except curses.error:
        return False
    finally:
        os.close(null)


def terminal_marks_pastes() -> bool:
    """Does this terminal bracket pastes? terminfo says so (its BE capability: xterm, tmux's
    own entries), or we run inside tmux, which always does whatever TERM claims."""
    with contextlib.suppress(curses.error):
        if curses.tigetstr("BE"):
            return True
    return bool(os.environ.get("TMUX"))


PROBE_CLUSTER = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # a family: two columns where ZWJ is understood
TERMINFO_DELAY = re.compile(rb"\$<[0-9.]+[*/]*>")  # padding in a terminfo string, for tputs: never written


TITLED_TERMS = ("xterm", "screen", "tmux", "rxvt", "alacritty", "foot", "kitty", "wezterm", "vte", "gnome", "konsole", "st-")


def osc8_link(url: str, text: str) -> bytes:
    """``text`` as a clickable link (OSC 8), underlined. ``url`` matched render.LINK, so it
    holds no byte that could end the sequence or drive the terminal."""
    if not render.LINK.fullmatch(url):
        return text.encode("utf-8", "replace")
    return f"\x1b]8;;{url}\x1b\\\x1b[4m{text}\x1b[24m\x1b]8;;\x1b\\".encode("utf-8", "replace")


def terminal_features(environ: dict[str, str] | os._Environ[str]) -> dict[str, bool]:
    """What the environment says the terminal can do: colours at all (NO_COLOR, no-color.org,
    says no), true colour (COLORTERM=truecolor or 24bit), and OSC 8 links (terminals that say
    who they are: VTE, kitty, WezTerm, iTerm2, Windows Terminal, tmux 3.4 and newer; others
    may print the sequence, so they get plain text)."""
    no_color = bool(environ.get("NO_COLOR"))
    truecolor = environ.get("COLORTERM", "").lower() in ("truecolor", "24bit") and not no_color
    program = environ.get("TERM_PROGRAM", "")
    links = bool(
        environ.get("VTE_VERSION")
        or environ.get("KITTY_WINDOW_ID")
        or environ.get("WT_SESSION")
        or program in ("WezTerm", "iTerm.app", "vscode", "ghostty", "tmux")
        or environ.get("LANCHAT_LINKS") == "1"
    ) and environ.get("LANCHAT_LINKS") != "0"
    return {"colour": not no_color, "truecolor": truecolor, "links": links}


def _joined(cluster: str) -> bool:
    """More than one code point that takes room on its own (flags, ZWJ sequences)."""
    return len(cluster) > 1 and sum(1 for ch in cluster if wcwidth(ch) > 0) > 1


# The screen's own symbols (rules, the status line's separators, arrows, the ellipsis) in ASCII,
# for a terminal whose character set has none of them: one column each, as the symbols take
ASCII_SYMBOLS = str.maketrans({"\u2500": "-", "\u2502": "|", "\u2192": ">", "\u25b8": ">", "\u25bc": "v", "\u2026": ".", "\u2588": "#", "\u21b5": "/"})


def in_charset(cluster: str, codec: str) -> str:
    """``cluster`` (one cell's) as a terminal in ``codec`` can show it: as it is, composed (an e and
    a combining acute are é in Latin-1), the screen's own symbols in ASCII, else a ? for each
    column it takes, as `lanchat doctor` warns of such a locale. Never bytes the terminal
    would read as another character."""
    for candidate in (cluster, unicodedata.normalize("NFC", cluster), cluster.translate(ASCII_SYMBOLS)):
        try:
            candidate.encode(codec)
        except UnicodeEncodeError:
            continue
        return candidate
    return "?" * max(1, wcswidth(cluster))


def list_paths(partial: str, limit: int = 200) -> list[str]:
    """Tab after /send: the files and folders (with a trailing /) that ``partial`` could name,
    as typed (``~`` kept). Hidden ones only when the partial name starts with a dot."""
    folder_part, _, start = partial.rpartition("/")
    # (os.path's: Path.expanduser raises for "~nobody_here/", a name no user has)
    folder = Path(os.path.expanduser(folder_part or ("/" if partial.startswith("/") else ".")))
    prefix = folder_part + "/" if (folder_part or partial.startswith("/")) else ""
    found: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.startswith(start) or (entry.name.startswith(".") and not start.startswith(".")):
                    continue
                with contextlib.suppress(OSError):
                    found.append(prefix + entry.name + ("/" if entry.is_dir() else ""))
                if len(found) >= limit:
                    break
    except OSError:
        return []
    return found


UTF8_LOCALES = ("C.UTF-8", "C.utf8", "en_US.UTF-8")  # tried in turn when the locale is C or POSIX


def text_codec() -> str | None:
    """Take the character set (LC_CTYPE) from the environment, as curses needs, and say which
    codec the terminal is written in: None for UTF-8, else the Python codec's name.

    A C or POSIX locale (LC_ALL=C: containers, ssh to a bare machine) is ASCII to ncurses: a
    typed é stalls get_wch and the rest of the keys in that read are lost, and a peer's é goes
    out as a Latin-1 byte. Python itself takes such a locale as UTF-8 (PEP 538 and 540: UTF-8
    mode, so --plain writes UTF-8 there), and so does this screen: LC_CTYPE becomes a UTF-8
    locale where the system has one. A locale that names another character set (ISO-8859-1)
    is the terminal's own and is kept."""
    with contextlib.suppress(locale.Error):
        locale.setlocale(locale.LC_ALL, "")
    codec = _codec_name(locale.nl_langinfo(locale.CODESET))
    if codec == "ascii" and sys.flags.utf8_mode:
        for name in UTF8_LOCALES:
            try:
                locale.setlocale(locale.LC_CTYPE, name)
            except locale.Error:
                continue
            codec = _codec_name(locale.nl_langinfo(locale.CODESET))
            break
    return None if codec == "utf-8" else codec


def _codec_name(codeset: str) -> str:
    """Python's name for the C library's character set (ANSI_X3.4-1968 is ascii)."""
    try:
        return codecs.lookup(codeset).name
    except LookupError:  # a set Python has no codec for (or none named): ASCII is safe
        return "ascii"


MEASURED_KEPT = 4096  # clusters whose curses width is remembered (Painter._curses_columns)


def _curses_key_name(key: int) -> str | None:
    """A key curses read as a number (KEY_UP ...): its name, or None for one lanchat does not use."""
    name = CURSES_KEYS.get(key)
    if name is None:
        with contextlib.suppress(curses.error, ValueError):
            name = NAMED_KEYS.get(curses.keyname(key))
    return name


# Keys the terminal sends on its own, not typed: one may come between any two bytes of a paste.
_UNTYPED_KEYS = frozenset((curses.KEY_RESIZE, curses.KEY_MOUSE))
# the numbers curses gives the keys keys.py looks at, and its names for the rest
KEY_CODES = KeyCodes(curses.KEY_RESIZE, curses.KEY_BACKSPACE, curses.KEY_ENTER, _UNTYPED_KEYS, _curses_key_name)


class KeyDecoder:
    """The codes getch read -> keys: the terminal's bytes decoded in its character set (None:
    UTF-8), the first bytes of a character whose rest has not come yet kept for the next read;
    curses' KEY_ codes as they are. A typed key (an arrow, F2) ends a character cut short, as
    a byte that is not text; a resize or a mouse report, which can come between any two bytes of a paste, does not.
    A byte that is not text in the character set is kept as its lone surrogate (surrogateescape,
    U+DC80-U+DCFF, shown as \\xe9: textsafe.visible), so a real U+FFFD typed or pasted stays text.
    A paste is mostly ASCII: such a byte, with nothing held, is its character at once (a fifth
    of the time of a byte through the decoder)."""

    def __init__(self, codec: str | None = None) -> None:
        name = codec or "utf-8"
        self._decoder = codecs.getincrementaldecoder(name)(errors="surrogateescape")
        # (every character set a terminal uses reads the bytes below 0x80 as ASCII; checked all the same)
        self._ascii = bytes(range(0x80)).decode(name, "replace") == "".join(map(chr, range(0x80)))
        self._held = False

    def decode(self, codes: list[int]) -> list[str | int]:
        keys: list[str | int] = []
        append, decoder, ascii_ok = keys.append, self._decoder, self._ascii
        fast = ascii_ok and not self._held
        for code in codes:
            if code < 0x80 and fast:
                append(chr(code))
            elif code > 0xFF:
                if not fast and code not in _UNTYPED_KEYS:  # a typed key ends a character cut short
                    keys.extend(decoder.decode(b"", final=True))
                    decoder.reset()
                    fast = ascii_ok
                append(code)
            else:
                keys.extend(decoder.decode(bytes((code,))))
                fast = ascii_ok and decoder.getstate() == (b"", 0)
        self._held = decoder.getstate() != (b"", 0)
        return keys


class Terminal:
    """The terminal under curses: its modes taken on the way in and given back on every way out
    (and around a stop: Ctrl-Z), the signals that wake the loop through a pipe (a resize, a stop,
    going on after one), the mouse, the window's title, and a hang-up noticed."""

    def __init__(self, fd: int, out_fd: int, features: dict[str, bool], *, stopping: Signals | None, after_stop: Callable[[], None]) -> None:
        self.fd, self.out_fd, self.features = fd, out_fd, features
        self.after_stop = after_stop  # back after fg, in our modes: the owner's paste a stop cut short is over
        self._hangup_sent = False  # the terminal hung up and we said so with its signal (hung_up)
        self._stopped_here = False  # suspend stopped us: the SIGCONT that follows is its own
        self.wake_r, self._wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self._wake_w, False)
        # the SIGWINCH handler before ours (signal.signal's answer), put back on exit
        self._old_winch: Callable[[int, FrameType | None], object] | int | None = None
        self._old_stop: Callable[[int, FrameType | None], object] | int | None = None  # SIGTSTP's, likewise
        self._old_cont: Callable[[int, FrameType | None], object] | int | None = None  # SIGCONT's, likewise
        self.mouse = False
        self._title = ""
        self.titles = os.environ.get("TERM", "").startswith(TITLED_TERMS)
        self.marks_pastes = False  # the terminal brackets pastes: no guessing (set in _open)
        self._stall: StallWatcher | None = None  # watches the terminal once a stop signal came
        self._open()
        if stopping is not None:  # a stop signal never waits on a terminal that stopped reading (stall.py)
            self._stall = StallWatcher(self.out_fd, stopping)
            self._stall.start()

    def _open(self) -> None:
        self.codec = text_codec()  # None: UTF-8; else what the terminal cannot show becomes ?
        # LINES/COLUMNS in the environment would freeze the size ncurses sees, and a resize
        # would never be noticed: the terminal's own size is the truth. (curses.use_env(False)
        # is no help: it makes ncurses use terminfo's fixed 80x24.)
        os.environ.pop("LINES", None)
        os.environ.pop("COLUMNS", None)
        os.environ.setdefault("ESCDELAY", "25")  # a lone Esc should not stall the keyboard
        # each refusal is said in words a user can act on (the caller falls back to lines);
        # curses' own ("setupterm: could not find terminfo database") named neither TERM nor a fix
        term = os.environ.get("TERM", "")
        if not term:
            raise RuntimeError("TERM is not set, so the terminal's abilities are unknown")
        try:
            curses.setupterm(fd=self.out_fd)
        except curses.error:
            raise RuntimeError(f"TERM={term} is a terminal type this machine does not know (no terminfo entry)") from None
        if not curses.tigetstr("cup"):
            raise RuntimeError("this terminal cannot place the cursor (TERM=dumb?)")
        # SIGTSTP's handler goes in before curses starts: ncurses, finding SIGTSTP at its default,
        # takes it and sets it to SIG_IGN during every screen update, so a stop (a Ctrl-Z, when it
        # was a signal; `kill -TSTP` still) while the screen was drawing was thrown away; finding
        # a handler, it leaves SIGTSTP alone for good. Ours only asks the loop to give the terminal
        # back (suspend). A typed Ctrl-Z is a key now (curses.raw below): CursesFrontend._stop_key
        self._old_stop = signal.signal(signal.SIGTSTP, self._on_stop)
        try:
            self.screen = curses.initscr()
        except BaseException:
            signal.signal(signal.SIGTSTP, self._old_stop)
            raise
        self.pad = curses.newpad(1, 8)  # where Painter._curses_columns measures, never shown
        try:
            curses.noecho()
            # keys arrive one by one, and Ctrl-C, Ctrl-Z, Ctrl-\ (and Ctrl-S, Ctrl-Q: no flow
            # control) among them: the terminal made a pasted ^C a SIGINT even between paste
            # markers. curses keeps this mode across a stop and gives the shell its own on endwin
            curses.raw()
            # Enter is CR as the terminal sends it: the driver's CR -> LF (ICRNL) made a pasted
            # CR LF (Windows line ends) two line breaks, and the paste code could not tell
            curses.nonl()
            self.screen.keypad(True)
            self.screen.nodelay(True)
            with contextlib.suppress(curses.error):
                curses.set_escdelay(25)
            self.colours = 0
            if curses.has_colors() and self.features["colour"]:
                with contextlib.suppress(curses.error):
                    curses.start_color()
                    curses.use_default_colors()
                    self.colours = curses.COLORS
            # SIGWINCH's and SIGCONT's (_take_back) handlers only wake the loop (a pipe); a stopped write goes on (SA_RESTART)
            self._old_winch, self._old_cont = signal.signal(signal.SIGWINCH, self._on_winch), signal.signal(signal.SIGCONT, self._on_cont)
            signal.siginterrupt(signal.SIGCONT, False)
            self._take_terminal(mouse=True)
            self.marks_pastes = terminal_marks_pastes()
            if self.codec is None:  # the probe is UTF-8: another character set would show junk
                self.probe_graphemes()
        except BaseException:
            self.close()
            raise

    def _take_terminal(self, *, mouse: bool) -> None:
        """The terminal modes curses does not set: bracketed paste, the mouse wheel, and the
        window's title kept to be put back (xterm's title stack)."""
        self.write(b"\x1b[?2004h")  # ask for bracketed paste
        self.set_mouse(mouse)
        if self.titles:
            self.write(b"\x1b[22;0t")
            self._title = ""  # the next draw sets ours

    def _release_terminal(self) -> None:
        """The terminal as we found it: on exit, and while stopped by Ctrl-Z, for the shell."""
        self.write(b"\x1b[?2004l")
        if self.titles and self._title:
            self.write(b"\x1b]2;\x07\x1b[23;0t")  # the window's own title back
        with contextlib.suppress(curses.error):
            self.set_mouse(False)
            curses.endwin()

    def _clear_the_last_row(self) -> None:
        """After endwin the cursor is at the start of the bottom row, and where there is no
        alternate screen (TERM=linux, vt100; GNU screen, whose altscreen is off by default) that
        row still held the input line: the goodbye printed next over it kept the line's tail
        ("you left the chats is long"). It is cleared, so what comes next starts on a clean row;
        with an alternate screen the row the shell gets back is cleared, as blank as it was."""
        with contextlib.suppress(curses.error):
            clear = TERMINFO_DELAY.sub(b"", curses.tigetstr("el") or b"")  # vt100's is ESC [ K $<3>
            self.write(b"\r" + clear if clear else b"\r\n")  # no clear-to-end: a fresh row

    def await_room(self) -> None:
        """Wait until the terminal takes bytes, the interpreter's lock let go. curses' beep,
        curs_set and mousemask write holding that lock: blocked on a terminal that stopped
        reading (a stalled ssh link), they froze every thread, the host's room (its server is
        one) and the stall watcher (stall.py) that would unblock a stop signal's way out."""
        with contextlib.suppress(OSError, ValueError):
            poller = select.poll()
            poller.register(self.out_fd, select.POLLOUT)
            poller.poll()

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self.out_fd, data)

    def _on_winch(self, signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"w")

    def _on_stop(self, signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"z")

    def _on_cont(self, signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"c")

    def suspend(self) -> None:
        """Ctrl-Z (SIGTSTP): give the terminal back as on exit, so the shell does not get
        bracketed paste, mouse reports or our title; stop; after ``fg``, take it again (a shell
        turns bracketed paste off before it resumes us), and a paste Ctrl-Z cut short ends
        (plain.paste_cut_short). The caller then repaints everything."""
        mouse = self.mouse
        self._release_terminal()
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        # the SIGCONT that follows is this stop's own (woken); leading our own session (tmux new-window,
        # xterm -e) the kernel drops the stop and no SIGCONT comes: the next is from elsewhere
        self._stopped_here = os.getsid(0) != os.getpid()
        try:
            os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until SIGCONT
        finally:
            signal.signal(signal.SIGTSTP, self._on_stop)
        with contextlib.suppress(curses.error):
            self.screen.refresh()  # back in curses' mode now: until then, get_wch() only fails
        self.after_stop()  # in our modes, before a key typed after fg can come
        self._take_terminal(mouse=mouse)

    def _take_back(self) -> None:
        """Going on after a stop that was not ours (kill -STOP, a debugger): a shell that had the
        terminal meanwhile put its own modes back (bash does), so each key was echoed where it
        was typed and came only with Enter, over the shell's lines. Our modes and the terminal's
        are set again (the mouse and the title stack the shell never touched); the caller
        repaints everything, the window's title with it."""
        with contextlib.suppress(curses.error):
            curses.reset_prog_mode()  # raw, no echo, no CR -> LF: as set in _open
            self.screen.keypad(True)  # the terminal sends its keys' sequences again
        self.write(b"\x1b[?2004h")  # bracketed paste: bash turns it off to run fg
        self._title = ""

    def close(self) -> None:
        """Give the terminal back (once: the screen's close says when)."""
        if self._stall is not None:  # endwin writes holding the interpreter's lock: not into a full terminal
            self._stall.wait_for_room()
        self._release_terminal()
        self._clear_the_last_row()
        for signum, old in ((signal.SIGWINCH, self._old_winch), (signal.SIGTSTP, self._old_stop), (signal.SIGCONT, self._old_cont)):
            if old is not None:
                with contextlib.suppress(ValueError, OSError, TypeError):
                    signal.signal(signum, old)
        for fd in (self.wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def resize(self) -> None:
        try:
            size = os.get_terminal_size(self.out_fd)
            if (size.lines, size.columns) != self.screen.getmaxyx():
                # only then: resizeterm queues a KEY_RESIZE even at the same size, and that
                # key's own resize would queue the next, for ever (a busy wait_for_key)
                curses.resizeterm(size.lines, size.columns)
        except (OSError, curses.error, ValueError):
            pass
        self.screen.clear()  # the old picture is wrong at the new size: repaint everything

    def woken(self) -> bool:
        """Do what the signal handlers asked for through the pipe: stop for Ctrl-Z, take the
        terminal back after a stop that was not ours. True: something came, and the caller
        repaints at the new size (after a stop too: the window may have changed meanwhile)."""
        try:
            woke = os.read(self.wake_r, 4096)
        except OSError:  # BlockingIOError: nothing
            woke = b""
        if b"z" in woke:
            self.suspend()
        elif b"c" in woke and self._stopped_here:  # the end of our own stop: done in suspend
            self._stopped_here = False
        elif b"c" in woke:  # going on after a stop we did not make (kill -STOP, then fg): take the terminal again
            self._take_back()
        return bool(woke)

    def hung_up(self) -> bool:
        """No key came: has the terminal hung up? One that did stays ready to read for ever, and
        the loop watching it went round at full speed, never ending, where its hang-up signal had
        not reached us (a program in a session of its own: setsid, some launchers). The first
        time, the signal is sent here, so the chat ends as when its window closes (the goodbye;
        the host's room may restart: client.answer_stops); after that, its input has ended."""
        if self._hangup_sent:
            return True
        if not hasattr(select, "poll"):
            return False
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        try:
            hung_up = any(happened & select.POLLHUP for _, happened in poller.poll(0))
        except OSError:
            return False
        if hung_up:
            self._hangup_sent = True
            os.kill(os.getpid(), signal.SIGHUP)  # (a second one, if the kernel's came too, changes nothing)
        return False

    def set_mouse(self, on: bool) -> None:
        """Wheel events on (the terminal then sends clicks too: Shift+drag still selects)."""
        self.await_room()
        with contextlib.suppress(curses.error, AttributeError):
            curses.mousemask(WHEEL_UP | WHEEL_DOWN if on else 0)
            self.mouse = on

    def wheel(self) -> int:
        """The rows a mouse report scrolls the transcript by (up: more than 0), 0 for none."""
        try:
            _id, _x, _y, _z, state = curses.getmouse()
        except curses.error:
            return 0
        if state & WHEEL_UP:
            return WHEEL_ROWS
        elif WHEEL_DOWN and state & WHEEL_DOWN:
            return -WHEEL_ROWS
        return 0

    def probe_graphemes(self) -> None:
        """Ask the terminal where its cursor ends after a family emoji (a DSR query): the
        answer comes back among the keys (keys.py: KeyReader._escape reads it). Drawn over by the first draw."""
        cup = curses.tigetstr("cup")
        if cup:
            # row 5, not 1: "ESC [ 1 ; 3 R" is also how xterm spells Alt-F3, and curses would eat it
            self.write(curses.tparm(cup, 4, 0) + PROBE_CLUSTER.encode("utf-8") + b"\x1b[6n")
        self.screen.clear()  # curses never saw the probe: the first draw repaints everything

    def set_title(self, title: str) -> None:
        """The window's title, written when it changed (a terminal that has titles only)."""
        if self.titles and title != self._title:
            self._title = title
            safe = "".join(ch for ch in title if ch.isprintable())  # our name and a count: no escapes
            self.write(f"\x1b]2;{safe}\x07".encode(self.codec or "utf-8", "replace"))


class Painter:
    """A frame (render.py) onto the screen through curses: its rows of cells in their styles and
    colours, and what curses cannot hold written straight to the terminal over it (overlays)."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal, self.screen = terminal, terminal.screen
        self.codec, self.colours, self._pad = terminal.codec, terminal.colours, terminal.pad
        self.truecolor = terminal.features["truecolor"]
        self.links = terminal.features["links"]
        self.draws_joined = False  # the terminal drew PROBE_CLUSTER in two columns (keys.py reads its answer)
        self._pairs: dict[tuple[int, int], int] = {}
        self._attrs: dict[render.Style, int] = {}
        self._measured: dict[str, int] = {}  # cluster -> the columns curses gives it (_curses_columns)
        self._overlays: list[tuple[int, int, bytes]] = []  # (row, col, bytes) written after a draw

    def paint(self, frame: render.Frame) -> None:
        """Everything on the screen anew, as ``frame`` has it."""
        self.screen.erase()
        # what the last draw wrote past curses, curses does not know is there: a row that had it
        # is written whole again, or a deleted 🩷 stayed on the screen over blanks curses kept
        for y in {y for y, _x, _data in self._overlays}:
            with contextlib.suppress(curses.error):
                self.screen.redrawln(y, 1)
        self._overlays = []
        for y, row in enumerate(frame.rows):
            self._paint_row(y, row)
        self.terminal.await_room()  # (curs_set writes at once when the cursor shows or hides)
        if frame.cursor is not None:
            with contextlib.suppress(curses.error):
                curses.curs_set(1)
                self.screen.move(*frame.cursor)
        else:
            with contextlib.suppress(curses.error):
                curses.curs_set(0)
        # refresh, not noutrefresh + doupdate: Python's doupdate holds the interpreter's lock while
        # it writes, and on a terminal that stopped reading that write blocks: the host's room
        # (its server is a thread of this process) froze with the screen. refresh lets go of it.
        self.screen.refresh()
        self._overlay(frame.cursor)

    def _overlay(self, cursor: tuple[int, int] | None) -> None:
        """What curses cannot hold, written straight to the terminal over what curses drew
        (again after every draw, so it never goes stale): clusters of several visible code
        points (a flag, a family joined by ZWJ) on a terminal that showed (probe_graphemes) it
        draws them in two columns; the colour bot's swatch in its exact colour on a true-colour
        terminal; web addresses made clickable with OSC 8. Saved and restored around it (ESC 7
        / ESC 8 keep the cursor and the attributes curses expects)."""
        if not self._overlays:
            return
        cup = curses.tigetstr("cup")
        if not cup:
            return
        out = bytearray(b"\x1b7")
        for y, x, data in self._overlays:
            out += curses.tparm(cup, y, x) + data
        out += b"\x1b8"
        if cursor is not None:
            out += curses.tparm(cup, *cursor)
        self.terminal.write(bytes(out))

    def _paint_row(self, y: int, row: list[render.Cell]) -> None:
        x = 0
        while x < len(row):
            chunk, style = row[x]
            if chunk == "":
                x += 1
                continue
            if style.link is not None and self.links:
                end = x
                while end < len(row) and row[end][1].link == style.link:
                    end += 1
                self._overlays.append((y, x, osc8_link(style.link, "".join(c for c, _ in row[x:end]))))
            if style.rgb is not None and self.truecolor:
                r, g, b = style.rgb
                # in the terminal's own character set: UTF-8 to a Latin-1 one holds C1 controls
                shown = chunk if self.codec is None else in_charset(chunk, self.codec)
                self._overlays.append((y, x, f"\x1b[38;2;{r};{g};{b}m{shown}\x1b[39m".encode(self.codec or "utf-8", "replace")))
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
                if self.codec is not None:
                    self._put(y, x, in_charset(chunk, self.codec), style)
                else:
                    self._put_cluster(y, x, chunk, style, 2 if x + 1 < len(row) and row[x + 1][0] == "" else 1)
                x += 1

    def _put_cluster(self, y: int, x: int, chunk: str, style: render.Style, columns: int) -> None:
        """One grapheme cluster that takes ``columns`` (as wcwidth, render and most terminals
        count). curses counts with the C library, which may know the character as narrower or
        not at all (a flag's letters; emoji newer than the C library: 🩷 was not written at all,
        and the row after it shifted). It must never be given a character it counts otherwise:
        such a one goes straight to the terminal at its column after the draw, over blanks."""
        if _joined(chunk):
            if self.draws_joined:
                self._overlays.append((y, x, chunk.encode("utf-8", "replace")))
            first = chunk[0]
            self._put(y, x, first if self._curses_columns(first) == columns else " " * columns, style)
        elif self._curses_columns(chunk) == columns:
            self._put(y, x, chunk, style)
        else:
            self._overlays.append((y, x, chunk.encode("utf-8", "replace")))
            self._put(y, x, " " * columns, style)

    def _curses_columns(self, text: str) -> int:
        """How many columns curses takes ``text`` to fill (written once to a pad to see), or -1."""
        columns = self._measured.get(text)
        if columns is None:
            if len(self._measured) > MEASURED_KEPT:  # every cluster a peer can send is a new key
                self._measured.clear()
            try:
                self._pad.erase()
                self._pad.addstr(0, 0, text)
                columns = self._pad.getyx()[1]
            except curses.error:
                columns = -1
            self._measured[text] = columns
        return columns

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
            text = style.bg is None and style.rgb is None  # text, not the colour bot's swatch
            attr |= self._pair(self._colour(style.fg, on_own_background=text), self._colour(style.bg))
        elif style.bg is not None:
            attr |= curses.A_REVERSE  # no colours: a background becomes reverse video
        self._attrs[style] = attr
        return attr

    def _colour(self, index: int | None, *, on_own_background: bool = False) -> int:
        if index is None:
            return -1
        if self.colours >= 256:
            return index
        return render.basic_foreground(index) if on_own_background else render.nearest_basic(index)

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


class CursesFrontend:
    """The split screen: transcript (and who is here), status line, input line. It owns the
    terminal (Terminal), the painting (Painter), what the keys do (keys.KeyReader) and what the
    input line sends (sending.Sending); here: the loop's side, the screen's own keys and commands."""

    def __init__(self, session: Session, *, fd: int | None = None, stopping: Signals | None = None) -> None:
        self.session = session
        session.ui_commands = tuple(c for c in session.ui_commands if c.name not in {u.name for u in UI_COMMANDS}) + UI_COMMANDS
        if hasattr(session, "ui_keys"):
            session.ui_keys = KEYS  # type: ignore[attr-defined]
        session.confirm_quit = True  # a person is at this screen: the host's /q asks first
        self.view = View(session)
        # on the projector, Up and Ctrl-R never bring back a line sent to one person
        self.view.editor.keeps_off_screen = lambda text: session.projector and projector.typed_privately(text)
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.out_fd = sys.stdout.fileno()
        self.dirty, self.alert = True, False
        self.redraws = Redraws(session)  # when a status line that changes by itself is drawn
        self.sending = Sending(session, self.view)
        # a line held for our turn (client.send_typed) leaves the input line: its notice quotes it
        self.quotes_held_lines = True
        self._projector = session.projector  # as last drawn: a change ends a /find (show)
        self.closed = False
        self._measured_width: int | None = None  # the transcript's width at the last _measure_at
        self.keys = KeyReader(self.view, session, KEY_CODES, on_key=self._key, on_stop=self._stop_key, on_enter=self.sending.enter)
        self.terminal = Terminal(self.fd, self.out_fd, terminal_features(os.environ), stopping=stopping, after_stop=self._back_from_stop)
        self.screen = self.terminal.screen
        self.keys.marks_pastes = self.terminal.marks_pastes
        self.painter = Painter(self.terminal)
        self.commands = ScreenCommands(self.view, session, mouse=self.terminal, measure=self._measure)
        # keys are read as bytes (getch) and decoded here: a character whose bytes come in two
        # reads keeps its first part until the rest comes (read_keys)
        self._decoder = KeyDecoder(self.terminal.codec)

    # -------------------------------------------------------------- terminal

    def wait_for_key(self, text: str) -> None:
        """The chat is over: keep the last lines on screen with ``text`` under them until a key
        (or Ctrl-C, or a signal) comes, so a shutdown notice or a goodbye is read, not lost."""
        if self.closed:
            return
        self.show([Line(kind="system", time=self._now(), text=text)])
        self.update()
        # The terminal and the signals' pipe are watched together, as the loop does: a resize
        # whose signal was handled just before the wait (the chat ended as the window changed)
        # left its wake-up in the pipe, where a read of the keyboard alone never saw it.
        with contextlib.suppress(curses.error, KeyboardInterrupt):
            self.screen.nodelay(True)
            said_readable = False
            while True:
                if self._woken():  # a resize, or kill -TSTP: redrawn, and still waiting
                    self.update()
                    said_readable = False
                    continue
                try:
                    key = self.screen.get_wch()
                except curses.error:  # nothing typed yet
                    if said_readable:  # readable and no key: the terminal hung up
                        return
                    said_readable = self.fd in select.select([self.fd, self.terminal.wake_r], [], [])[0]
                    continue
                said_readable = False
                if key == "\x1a":  # Ctrl-Z: stopped as ever, then back to waiting
                    self.terminal.suspend()
                    key = curses.KEY_RESIZE
                if key != curses.KEY_RESIZE:
                    return
                self._resize()
                self.update()

    def draft(self) -> str:
        """What is typed in the input line and not sent: said after the screen is gone when
        the server ends the chat under it (a kick, a bad frame), else it would vanish with it."""
        return self.view.editor.text

    def close(self) -> None:
        """Give the terminal back: safe to call twice, and from any way out."""
        if self.closed:
            return
        self.closed = True
        self.terminal.close()

    def _resize(self) -> None:
        self.terminal.resize()
        self.dirty = True

    # --------------------------------------------------------- loop interface

    def fileno(self) -> int:
        return self.fd

    def wake_fileno(self) -> int:
        """A second fd for the loop to watch: readable after a resize."""
        return self.terminal.wake_r

    def _woken(self) -> bool:
        """Do what the signal handlers asked for through the pipe (Terminal.woken: a stop for
        Ctrl-Z...), then repaint at the new size (after a stop too: the window may have changed
        meanwhile). False: nothing."""
        woke = self.terminal.woken()
        if woke:
            self._resize()
        return woke

    def read_input(self) -> list[str] | None:
        """Everything typed since the last call; returns the lines submitted with Enter."""
        self._woken()
        keys = self.read_keys()
        if not keys and self.terminal.hung_up():
            return None  # (once its hang-up is answered: the keyboard is then watched no more)
        self.sending.keys_read()
        submitted = self.keys.handle(keys)
        self._take_changes()
        self.keys.end_read()  # what followed a paste's end is over with its read (paste.py)
        return submitted

    def read_keys(self) -> list[str | int]:
        """The keys waiting: characters as text, what curses decoded (arrows, F2, a resize) as
        its KEY_ codes. Read a byte at a time (getch) and decoded here (KeyDecoder), not by
        get_wch: a character split across two reads (a paste bigger than the terminal writes at
        once, a slow ssh link) lost its first bytes to get_wch, which gives up on a character when
        the rest has not come yet, and the paste's end marker after it went too (Enter then only a
        line break). A partial character is kept for the next read."""
        codes: list[int] = []
        getch = self.screen.getch
        while (code := getch()) != -1:  # -1: nothing more waiting
            codes.append(code)
        return self._decoder.decode(codes)

    def _stop_key(self, name: str) -> bool:
        """Ctrl-C or Ctrl-\\ typed: the signal the terminal sent for it, raised (stopsignals.py:
        the loop says goodbye), so it does what it always did; True. But the host's Ctrl-C with
        others here would close the lesson for all of them at a slip of the hand: it asks first,
        as /q does (social.ctrl_c_question), and only a second Ctrl-C, the very next key, raises
        it, read after the question (social.CtrlCAnswer). Ctrl-Z: stopped, as its SIGTSTP did (Terminal.suspend), and the keys after it go on after fg;
        the host's with others here stops the room too: asked first, alike."""
        if name != "quit" and (asked := self.keys.ctrl_c.ctrl_c(self.session, "\x1a" if name == "suspend" else "\x03")) is not True:
            if asked:  # (False: a second Ctrl-C in the read that asked, dropped: social.CtrlCAnswer)
                self.show(list(asked.lines))
                self.view.to_bottom()  # (scrolled back, the question would be below the screen)
            return False
        if name == "suspend":  # (the host's, with others here, asked first: social.ctrl_z_question)
            self.terminal.suspend()
            self._resize()
            return False
        signal.raise_signal(signal.SIGINT if name == "interrupt" else signal.SIGQUIT)
        return True

    def _back_from_stop(self) -> None:
        """Back after fg (Terminal.suspend), in our modes: a paste the stop cut short is over
        (plain.paste_cut_short), before a key typed after fg can come."""
        if self.keys.paste and paste_cut_short(self.fd):
            self.keys.paste = False

    def _key(self, name: str) -> None:
        view = self.view
        editor = view.editor
        if name == "pgup":
            view.page_up()
        elif name == "pgdn":
            view.page_down()
        elif name == "ctrl-home" or (name == "home" and not editor.text):
            view.to_top()
        elif name == "ctrl-end" or (name == "end" and editor.cursor == len(editor.text) and not view.following):
            view.to_bottom()  # End already at the end of the line: the status line's "End: back"
        elif name == "f2":
            self._toggle_roster()
        elif name == "resize":
            self._resize()
        elif name == "redraw":
            self.screen.clear()
        elif name == "ctrl-f":
            self.commands.find_next()
        elif name == "mouse":
            if rows := self.terminal.wheel():  # (a click scrolls nothing: 0)
                self.view.scroll_by(rows)
        elif name == "escape" and self.view.finding is not None:
            self.view.stop_finding()
        else:
            names = list(self.session.members)
            editor.key(name, names=names, commands=self.session.command_words(), paths=list_paths)
            if name == "tab" and len(editor.last_matches) > 1:
                # several fit: list them once, as a shell does (Tab again steps through them)
                shown = editor.last_matches[:40]
                more = f"  (+{len(editor.last_matches) - len(shown)} more)" if len(shown) < len(editor.last_matches) else ""
                self.view.add([Line(kind="system", time=self._now(), text="  ".join(shown) + more)])
                editor.last_matches = []

    def _toggle_roster(self) -> None:
        """F2: show or hide who is here. Too narrow for the pane, say so rather than do nothing;
        once: pressed again while that is still the newest line, it is not said again (each press
        added another, and a few presses filled the transcript)."""
        _rows, cols = self.screen.getmaxyx()
        if cols < ROSTER_MIN_COLS:
            if not (self.view.lines and self.view.lines[-1].code == ROSTER_TOO_NARROW):
                text = f"the list of who is here needs at least {ROSTER_MIN_COLS} columns; /who lists them"
                self.view.add([Line(kind="system", time=self._now(), text=text, code=ROSTER_TOO_NARROW)])
            return
        self.view.toggle_roster()

    def _now(self) -> float:
        return self.session.clock()  # type: ignore[operator]

    def show(self, lines: list[Line]) -> None:
        lines = self.sending.answered(lines)
        if self.session.projector != self._projector:  # /projector: every line is drawn anew (render)
            self._projector = self.session.projector
            if self.view.finding is not None:
                self.view.stop_finding()  # its count and match were of what was shown before
        self.view.add(lines)
        if any(line.mentions_me for line in lines):
            self.alert = True
        self.dirty = True

    def whisper_sent(self, text: str, whisper: ev.Whisper) -> None:
        """The client sent ``whisper``, typed as ``text``: a refused one comes back (Sending.whisper_sent)."""
        self.sending.whisper_sent(text, whisper)

    def update(self) -> None:
        """Draw once per batch of events, however many lines arrived."""
        if self.closed:
            return
        now = self._now()
        for name, when in list(self.session.typing.items()):
            if now - when >= social.TYPING_SHOWN_SECONDS:
                del self.session.typing[name]  # its hint has run out: the status line changes
        if self.alert:
            self.alert = False
            self.terminal.await_room()
            with contextlib.suppress(curses.error):
                curses.beep()
        status = render.status_text(self.view)
        if self.redraws.draw_now(status, self.dirty):
            self.dirty = False
            self.draw()

    def run_ui_command(self, command: UiCommand) -> list[Line]:
        """/clear, /find, /save, /mouse: this screen's own commands (commands.py)."""
        lines = self.commands.run(command)
        self._take_changes()
        return lines

    def _take_changes(self) -> None:
        """What the keys or the screen's commands changed: drawn at the next update."""
        for part in (self.keys, self.commands):
            if part.changed:
                part.changed, self.dirty = False, True

    def next_update_due(self) -> float | None:
        """Seconds until a held-back status line must be drawn (the loop's select timeout), or
        None when nothing waits: an idle chat never wakes up (Redraws.next_due)."""
        return self.redraws.next_due()

    def _measure(self) -> None:
        rows, cols = self.screen.getmaxyx()
        self._measure_at(render.transcript_width(self.view, cols))

    def _measure_at(self, width: int) -> None:
        """Tell the view how many rows a line and a day rule take at this width; at a new width
        (a resize, F2) a page scrolled up stays on the lines it showed (View.remeasure)."""
        measure = lambda line: render.line_height(projector.shown(line, self.session), width)  # noqa: E731
        self.view.day_rule_rows = render.day_rule_rows
        if width != self._measured_width:
            self._measured_width = width
            self.view.remeasure(measure)
        else:
            self.view.measure = measure

    # ------------------------------------------------------------------ paint

    def draw(self) -> None:
        rows, cols = self.screen.getmaxyx()
        self._measure_at(render.transcript_width(self.view, cols))
        frame = render.render(self.view, rows, cols)
        self.view.clamp(frame.max_scroll, frame.reached_bottom)
        self.view.page_rows = max(1, frame.transcript_rows)
        self.painter.draws_joined = self.keys.draws_joined  # (the terminal's answer to probe_graphemes)
        self.painter.paint(frame)
        self.terminal.set_title(render.title_text(self.view))
