"""screen.py: the curses front end. The ONLY module that imports curses; it never leaves the
terminal in a broken state.

It turns keys into editor calls and chat lines, asks render.py for a frame and paints it;
what to draw is decided elsewhere (view.py, render.py), so this file is only about the
terminal: raw keys (bytes read with getch and decoded here, escape sequences, bracketed paste), colours, the resize
signal, bells, and putting the terminal back the way it was on every way out.
"""

from __future__ import annotations

import ast
import codecs
import contextlib
import curses
import functools
import itertools
import locale
import os
import re
import select
import signal
import sys
import tempfile
import time
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType

from wcwidth import wcswidth, wcwidth

from .. import events as ev
from .. import session_social as social
from ..files import Progress
from ..session import ALIASES, TURN_CHANGED, Command, Line, Session, UiCommand
from . import projector, render
from .editor import typed_character
from .paste import ENTER_ALONE, HeldEscape, PastedText
from .plain import format_plain, paste_cut_short
from .stall import Signals, StallWatcher
from .view import ROSTER_MIN_COLS, View

UI_COMMANDS = (
    Command(name="/clear", usage="/clear", help="clear the transcript on this screen (the chat goes on; /save still writes it)"),
    Command(name="/mouse", usage="/mouse on|off", help="the mouse wheel scrolls the transcript (on), or the terminal keeps the mouse (off)"),
    Command(name="/find", usage="/find TEXT", help="find TEXT in the transcript (Ctrl-F: the next older match; Esc: done)"),
    Command(name="/save", usage="/save FILE", help="write the transcript to a text file (all of it: what /clear took off the screen too)"),
)

KEYS = (
    ("Enter", "send the line (in turn-based mode only on your turn; what you typed is kept)"),
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
    ("Ctrl-C, Ctrl-\\, /q", "leave (the host's Ctrl-C and /q ask first while others are here)"),
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
    # dropped like any control (paste.py); typed, each does what its signal did (_stop_key)
    "\x03": "interrupt",
    "\x1c": "quit",
    "\x1a": "suspend",
}
STOP_NAMES = ("interrupt", "quit", "suspend")
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


def _starts_command(text: str) -> bool:
    """Does ``text`` start with a command (``/``, after any blanks)? Looks at its first
    non-blank character only, where ``text.lstrip()`` copies all of an indented text."""
    return next((char for char in text if not char.isspace()), "") == "/"


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
CURSOR_REPORT = re.compile(r"\[(\d+);(\d+)R")  # the terminal's answer to ESC [ 6 n


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


def list_paths(partial: str, limit: int = 200) -> list[str]:
    """Tab after /send: the files and folders (with a trailing /) that ``partial`` could name,
    as typed (``~`` kept). Hidden ones only when the partial name starts with a dot."""
    folder_part, _, start = partial.rpartition("/")
    folder = Path(folder_part or ("/" if partial.startswith("/") else ".")).expanduser()
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


def crash_log_path() -> Path:
    """Where an internal error's details go: the user's log folder, or the temp folder."""
    try:
        import platformdirs

        folder = platformdirs.user_log_path("lanchat", ensure_exists=True)
    except Exception:  # noqa: BLE001 - any trouble finding the folder: fall back
        folder = Path(tempfile.gettempdir())
    return folder / "lanchat-crash.log"


MEASURED_KEPT = 4096  # clusters whose curses width is remembered (_curses_columns)
STATUS_DRAWS_PER_SECOND = 10  # how often a status line that changes by itself is redrawn


def _curses_key_name(key: int) -> str | None:
    """A key curses read as a number (KEY_UP ...): its name, or None for one lanchat does not use."""
    name = CURSES_KEYS.get(key)
    if name is None:
        with contextlib.suppress(curses.error, ValueError):
            name = NAMED_KEYS.get(curses.keyname(key))
    return name


# Keys the terminal sends on its own, not typed: one may come between any two bytes of a paste.
_UNTYPED_KEYS = frozenset((curses.KEY_RESIZE, curses.KEY_MOUSE))


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


class CursesFrontend:
    """The split screen: transcript (and who is here), status line, input line."""

    def __init__(self, session: Session, *, fd: int | None = None, stopping: Signals | None = None) -> None:
        self.session = session
        session.ui_commands = tuple(c for c in session.ui_commands if c.name not in {u.name for u in UI_COMMANDS}) + UI_COMMANDS
        self._ctrl_c = social.CtrlCAnswer()  # the host's Ctrl-C asks first (_stop_key): which press answers
        if hasattr(session, "ui_keys"):
            session.ui_keys = KEYS  # type: ignore[attr-defined]
        session.confirm_quit = True  # a person is at this screen: the host's /q asks first
        self.view = View(session)
        # on the projector, Up and Ctrl-R never bring back a line sent to one person
        self.view.editor.keeps_off_screen = lambda text: session.projector and projector.typed_privately(text)
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.out_fd = sys.stdout.fileno()
        self.dirty, self.alert = True, False
        self.paste = False  # inside a bracketed paste: Enter is a line break, not "send"
        self._pasted = PastedText()  # what the paste holds is text only, never keys (paste.py)
        self._after_cr = False  # the last key read was a CR outside a paste: a LF first in the next read is its line end
        self._held = HeldEscape()  # a batch's end that may begin a sequence whose rest is in the next (ESC [ 2 0 | 0 ~)
        self._lone_escape = False  # the last batch ended in an Esc curses timed alone: a paste's ESC if the next holds [200~
        self.marks_pastes = False  # the terminal brackets pastes: no guessing (set in _open)
        self._last_status = ""
        self._last_draw = 0.0  # time.monotonic() of the last draw
        self._status_due: float | None = None  # when a held-back status change must be drawn
        self._last_message: str | None = None  # the last chat line sent, until the server answers
        # the last /w (or /r) that went to the server, as typed, and whom to: until it is answered
        self._last_whisper: tuple[str, str] | None = None
        # a say refused as not our turn goes back into the input line here (show), not to the
        # client's lines held for the turn (client.held_again)
        self.gives_back_refused_says = True
        self._put_back_end = 0  # where the next line given back goes in the input line (editor.put_back)
        self._projector = session.projector  # as last drawn: a change ends a /find (show)
        self.closed = False
        self._hangup_sent = False  # the terminal hung up and we said so with its signal (_hung_up)
        self._stopped_here = False  # _suspend stopped us: the SIGCONT that follows is its own
        self._pairs: dict[tuple[int, int], int] = {}
        self._attrs: dict[render.Style, int] = {}
        self._measured: dict[str, int] = {}  # cluster -> the columns curses gives it (_curses_columns)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        # the SIGWINCH handler before ours (signal.signal's answer), put back on exit
        self._old_winch: Callable[[int, FrameType | None], object] | int | None = None
        self._old_stop: Callable[[int, FrameType | None], object] | int | None = None  # SIGTSTP's, likewise
        self._old_cont: Callable[[int, FrameType | None], object] | int | None = None  # SIGCONT's, likewise
        self._overlays: list[tuple[int, int, bytes]] = []  # (row, col, bytes) written after a draw
        self.draws_joined = False  # the terminal drew PROBE_CLUSTER in two columns
        self.features = terminal_features(os.environ)
        self.mouse = False
        self._title = ""
        self.titles = os.environ.get("TERM", "").startswith(TITLED_TERMS)
        self.truecolor = self.features["truecolor"]
        self.links = self.features["links"]
        self._stall: StallWatcher | None = None  # watches the terminal once a stop signal came
        self._measured_width: int | None = None  # the transcript's width at the last _measure_at
        self._open()
        if stopping is not None:  # a stop signal never waits on a terminal that stopped reading (stall.py)
            self._stall = StallWatcher(self.out_fd, stopping)
            self._stall.start()
        # keys are read as bytes (getch) and decoded here: a character whose bytes come in two
        # reads keeps its first part until the rest comes (read_keys)
        self._keys = KeyDecoder(self.codec)

    # -------------------------------------------------------------- terminal

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
        # back (_suspend). A typed Ctrl-Z is a key now (curses.raw below): _stop_key
        self._old_stop = signal.signal(signal.SIGTSTP, self._on_stop)
        try:
            self.screen = curses.initscr()
        except BaseException:
            signal.signal(signal.SIGTSTP, self._old_stop)
            raise
        self._pad = curses.newpad(1, 8)  # where _curses_columns measures, never shown
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
        self._write_terminal(b"\x1b[?2004h")  # ask for bracketed paste
        self.set_mouse(mouse)
        if self.titles:
            self._write_terminal(b"\x1b[22;0t")
            self._title = ""  # the next draw sets ours

    def _release_terminal(self) -> None:
        """The terminal as we found it: on exit, and while stopped by Ctrl-Z, for the shell."""
        self._write_terminal(b"\x1b[?2004l")
        if self.titles and self._title:
            self._write_terminal(b"\x1b]2;\x07\x1b[23;0t")  # the window's own title back
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
            self._write_terminal(b"\r" + clear if clear else b"\r\n")  # no clear-to-end: a fresh row

    def _await_room(self) -> None:
        """Wait until the terminal takes bytes, the interpreter's lock let go. curses' beep,
        curs_set and mousemask write holding that lock: blocked on a terminal that stopped
        reading (a stalled ssh link), they froze every thread, the host's room (its server is
        one) and the stall watcher (stall.py) that would unblock a stop signal's way out."""
        with contextlib.suppress(OSError, ValueError):
            poller = select.poll()
            poller.register(self.out_fd, select.POLLOUT)
            poller.poll()

    def _write_terminal(self, data: bytes) -> None:
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

    def _suspend(self) -> None:
        """Ctrl-Z (SIGTSTP): give the terminal back as on exit, so the shell does not get
        bracketed paste, mouse reports or our title; stop; after ``fg``, take it again (a shell
        turns bracketed paste off before it resumes us), and a paste Ctrl-Z cut short ends
        (plain.paste_cut_short). The caller then repaints everything."""
        mouse = self.mouse
        self._release_terminal()
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        # the SIGCONT that follows is this stop's own (_woken); leading our own session (tmux new-window,
        # xterm -e) the kernel drops the stop and no SIGCONT comes: the next is from elsewhere
        self._stopped_here = os.getsid(0) != os.getpid()
        try:
            os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until SIGCONT
        finally:
            signal.signal(signal.SIGTSTP, self._on_stop)
        with contextlib.suppress(curses.error):
            self.screen.refresh()  # back in curses' mode now: until then, get_wch() only fails
        if self.paste and paste_cut_short(self.fd):  # in our modes, before a key typed after fg can come
            self.paste = False
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
        self._write_terminal(b"\x1b[?2004h")  # bracketed paste: bash turns it off to run fg
        self._title = ""

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
                    said_readable = self.fd in select.select([self.fd, self._wake_r], [], [])[0]
                    continue
                said_readable = False
                if key == "\x1a":  # Ctrl-Z: stopped as ever, then back to waiting
                    self._suspend()
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
        if self._stall is not None:  # endwin writes holding the interpreter's lock: not into a full terminal
            self._stall.wait_for_room()
        self._release_terminal()
        self._clear_the_last_row()
        for signum, old in ((signal.SIGWINCH, self._old_winch), (signal.SIGTSTP, self._old_stop), (signal.SIGCONT, self._old_cont)):
            if old is not None:
                with contextlib.suppress(ValueError, OSError, TypeError):
                    signal.signal(signum, old)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _resize(self) -> None:
        try:
            size = os.get_terminal_size(self.out_fd)
            if (size.lines, size.columns) != self.screen.getmaxyx():
                # only then: resizeterm queues a KEY_RESIZE even at the same size, and that
                # key's own _resize would queue the next, for ever (a busy wait_for_key)
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

    def _woken(self) -> bool:
        """Do what the signal handlers asked for through the pipe: stop for Ctrl-Z, repaint at
        the new size (after a stop too: the window may have changed meanwhile). False: nothing."""
        try:
            woke = os.read(self._wake_r, 4096)
        except OSError:  # BlockingIOError: nothing
            woke = b""
        if b"z" in woke:
            self._suspend()
        elif b"c" in woke and self._stopped_here:  # the end of our own stop: done in _suspend
            self._stopped_here = False
        elif b"c" in woke:  # going on after a stop we did not make (kill -STOP, then fg): take the terminal again
            self._take_back()
        if woke:
            self._resize()
        return bool(woke)

    def read_input(self) -> list[str] | None:
        """Everything typed since the last call; returns the lines submitted with Enter."""
        self._woken()
        keys = self.read_keys()
        if not keys and self._hung_up():
            return None  # (once its hang-up is answered: the keyboard is then watched no more)
        submitted = self.handle_keys(keys)
        if self.paste and self._pasted.tail:  # what followed a paste's end is over with its read (paste.py)
            self.paste = False
            if held := self._pasted.finish():
                self.view.editor.type(held)
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
        return self._keys.decode(codes)

    def _hung_up(self) -> bool:
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

    def handle_keys(self, keys: list[str | int]) -> list[str]:
        """One batch of keys -> submitted lines. Inside bracketed-paste markers all is text, an Enter
        a line break (_paste_keys). Outside, a terminal that marks pastes (``self.marks_pastes``) sends
        every Enter: keys typed ahead arrive together and are still lines. Only one without the markers
        gets the guess (an Enter with text behind it in the same read is pasted; never around a /command)."""
        submitted: list[str] = []
        self._put_back_end = 0  # lines these keys submitted and not taken go back in front
        keys, index = self._first_key(keys)
        # without paste markers, is there text after a tab, or on a line after an Enter (a paste)?
        last_typed = last_on_a_line = -1
        if not self.marks_pastes:
            last_typed, last_on_a_line = _last_where(keys, _typed), _last_where(keys, _on_the_line)
        while index < len(keys):
            self._ctrl_c.key(keys[index], _UNTYPED_KEYS)  # Ctrl-C's question (if asked): another key goes on
            if self.paste:
                index = self._paste_keys(keys, index)
                continue
            key = keys[index]
            index += 1
            if key == "\x1b":
                index, name = self._escape(keys, index)
            elif isinstance(key, int):
                name = _curses_key_name(key)
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
                self.dirty = True
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
                    submitted += self._enter()
            elif name == "alt-enter":
                self.view.editor.type("\n")  # a deliberate line break in a multi-line message
            elif name == "tab" and not self.marks_pastes and last_typed >= index:
                # without paste markers, a tab with text behind it in the same read is pasted
                # (a person waits for the list): text, not a request to complete
                self.view.editor.type(" ")
            elif name in STOP_NAMES:
                if self._stop_key(name):
                    return submitted  # leaving: the keys after it are dropped, as the terminal did
            else:
                self._key(name)
            self.dirty = True
        return submitted

    def _first_key(self, keys: list[str | int]) -> tuple[list[str | int], int]:
        """A batch of keys, after the start of a sequence the last one ended in (_escape), or the
        ESC of a paste's start marker the last one ended in alone, and where it starts: after a LF
        that ends the CR the last batch ended in (a pasted CR LF split between two reads, without
        paste markers, was two line breaks). A paste whose end never came is over when a person
        presses Ctrl-C alone (paste.py). A Ctrl-C after the one that asked (social.CtrlCAnswer) is a
        new read's."""
        self._ctrl_c.read()
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

    def _stop_key(self, name: str) -> bool:
        """Ctrl-C or Ctrl-\\ typed: the signal the terminal sent for it, raised (stopsignals.py:
        the loop says goodbye), so it does what it always did; True. But the host's Ctrl-C with
        others here would close the lesson for all of them at a slip of the hand: it asks first,
        as /q does (social.ctrl_c_question), and only a second Ctrl-C, the very next key, raises
        it, read after the question (social.CtrlCAnswer). Ctrl-Z: stopped, as its SIGTSTP did (_suspend), and the keys after it go on after fg."""
        if name == "suspend":
            self._suspend()
            self._resize()
            return False
        if name == "interrupt" and (asked := self._ctrl_c.ctrl_c(self.session)) is not True:
            if asked:  # (False: a second Ctrl-C in the read that asked, dropped: social.CtrlCAnswer)
                self.show(list(asked.lines))
                self.view.to_bottom()  # (scrolled back, the question would be below the screen)
            return False
        signal.raise_signal(signal.SIGINT if name == "interrupt" else signal.SIGQUIT)
        return True

    def _paste_keys(self, keys: list[str | int], index: int) -> int:
        """Keys inside bracketed-paste markers, from ``index``: text to put in the line, never
        keys (paste.py: a pasted Ctrl-U emptied the line, an ESC b moved the cursor, an OSC's
        body was typed). A key code is a sequence curses knew (ESC [ 3 ~, Delete) and goes too;
        a resize is no part of the paste. Returns where the keys go on."""
        end = index
        while end < len(keys) and isinstance(keys[end], str):
            end += 1
        if end == index:
            if keys[index] == curses.KEY_RESIZE:
                self._key("resize")
            return index + 1
        text, ended = self._pasted.feed("".join(keys[index:end]), time.monotonic())  # type: ignore[arg-type]
        if text:
            self.view.editor.type(text)
            self.dirty = True
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
            self.dirty = True
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
            if name is None and follower in (curses.KEY_BACKSPACE, curses.KEY_ENTER):
                name = "alt-backspace" if follower == curses.KEY_BACKSPACE else "alt-enter"
            return index + 1, name
        return index, None

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
            self.find_next()
        elif name == "mouse":
            self._mouse_event()
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

    def _enter(self) -> list[str]:
        """Enter outside a paste: the lines it submits. In turn-based mode a message typed out of
        turn stays in the input line (type-ahead); commands always go through. Offline, whose turn
        it is is not known: the message goes to the client, which sends it on our turn once back.
        Lines that are each a known command (six /send lines pasted) go one by one, as --plain takes
        them; one command with more lines (a /w of two) stays one, and so do lines starting with a
        slash that are not all commands (paths): an unknown command, given back (Session._unknown)."""
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
        offline = render.offline(self.session)
        if not is_command and not self.session.my_turn and not offline:
            who = self.session.waiting_for()
            # a teacher who switched to turns before asking: her line would go after the last answer
            now = "; to say it now: /mode duplex, then /mode turn" if self.session.is_operator(self.session.name) else ""
            self.view.add([Line(kind="error", time=self._now(), text=f"not your turn yet (waiting for {who}); what you typed is kept{now}")])
            return []
        self.view.seen()
        self.view.to_bottom()
        self._last_message = None if is_command else text
        return [editor.submit()]

    def _now(self) -> float:
        return self.session.clock()  # type: ignore[operator]

    def show(self, lines: list[Line]) -> None:
        shown = []
        for line in lines:
            # The turn moved while our message was on its way and the server refused it
            # (PROTOCOL.md, turn-based mode): put it back in the input line, nothing is lost.
            if line.kind == "own" and line.text == self._last_message:
                self._last_message = None  # it went through
            elif line.code == ev.E_NOT_YOUR_TURN and self._last_message:
                if not self.view.editor.text:
                    self.view.editor.type(self._last_message)
                self._last_message = None
            elif line.code == ev.E_MUTED and self._last_message:  # muted: to send once the mute is over
                if not self.view.editor.text:
                    self.view.editor.type(self._last_message)
                    line = replace(line, text=f"{line.text}; what you typed is kept")
                self._last_message = None
            line = self._whisper_answered(line)
            if line.give_back is not None:  # kept: in the order typed, before what was typed after it
                self._put_back_end = self.view.editor.put_back(line.give_back, self._put_back_end)
                line = replace(line, text=f"{line.text}; what you typed is kept")
            if line.code == TURN_CHANGED and not self.session.my_turn:
                continue  # whose turn it is shows in the status line and the prompt
            shown.append(line)
        lines = shown
        if self.session.projector != self._projector:  # /projector: every line is drawn anew (render)
            self._projector = self.session.projector
            if self.view.finding is not None:
                self.view.stop_finding()  # its count and match were of what was shown before
        self.view.add(lines)
        if any(line.mentions_me for line in lines):
            self.alert = True
        self.dirty = True

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
            self._await_room()
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
        waits = []
        if self._status_due is not None:
            waits.append(self._status_due - time.monotonic())
        typing_ends = social.typing_expires(self.session)
        if typing_ends is not None:  # "bob is typing..." goes away by itself
            waits.append(typing_ends - self._now() + 0.05)
        mute_ends = self.session.mute_ends_at()
        if mute_ends is not None:  # so does "muted until 10:42"
            waits.append(mute_ends - self._now() + 0.05)
        if social.sending_check_due(self.session):  # "sending notes.pdf to 5" comes and goes by itself
            waits.append(social.SENDING_CHECK_SECONDS)
        for transfer in self.session.progress.values():  # a transfer no byte moves for says "stalled 4 s", counting
            if isinstance(transfer, Progress) and (redraw_in := transfer.redraw_in()) is not None:
                waits.append(redraw_in)
        if not waits:
            return None
        return max(0.0, min(waits))

    def run_ui_command(self, command: UiCommand) -> list[Line]:
        if command.name == "/clear":
            self.view.clear()
            self.dirty = True
            return []
        if command.name == "/save":
            return [self.save(command.argument)]
        if command.name == "/mouse":
            if command.argument.lower() not in ("on", "off"):
                return [Line(kind="error", time=self._now(), text="usage: /mouse on|off")]
            self.set_mouse(command.argument.lower() == "on")
            said = "the wheel scrolls the transcript" if self.mouse else "the terminal has the mouse (select and copy as usual)"
            return [Line(kind="notice", time=self._now(), text=f"mouse {command.argument.lower()}: {said}")]
        if command.name == "/find":
            if not command.argument:
                return [Line(kind="error", time=self._now(), text="usage: /find TEXT (then Ctrl-F: the next older match)")]
            self._measure()
            if not self.view.find(command.argument, self._matches):
                return [Line(kind="notice", time=self._now(), text=f"{command.argument!r} is not in the transcript")]
            self.dirty = True
            return []
        return []

    def set_mouse(self, on: bool) -> None:
        """Wheel events on (the terminal then sends clicks too: Shift+drag still selects)."""
        self._await_room()
        with contextlib.suppress(curses.error, AttributeError):
            curses.mousemask(WHEEL_UP | WHEEL_DOWN if on else 0)
            self.mouse = on

    def _mouse_event(self) -> None:
        try:
            _id, _x, _y, _z, state = curses.getmouse()
        except curses.error:
            return
        if state & WHEEL_UP:
            self.view.scroll_by(WHEEL_ROWS)
        elif WHEEL_DOWN and state & WHEEL_DOWN:
            self.view.scroll_by(-WHEEL_ROWS)

    def find_next(self) -> None:
        """Ctrl-F: the next older match of the last /find."""
        if self.view.finding is None:
            self.view.add([Line(kind="error", time=self._now(), text="type /find TEXT first; then Ctrl-F goes to older matches")])
            return
        self._measure()
        self.view.find_next(self._matches)

    def _matches(self, line: Line, text: str) -> bool:
        """/find searches what the screen shows: in projector mode, not a hidden message's text."""
        return line_matches(projector.shown(line, self.session), text)

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

    def save(self, argument: str) -> Line:
        """/save FILE: the transcript as plain text, written whole or not at all. Like /get, it
        never replaces a file that is there: it takes the next free name, ``FILE (1)``, and
        says so."""
        now = self._now()
        argument = save_path_text(argument)
        if not argument:
            return Line(kind="error", time=now, text="usage: /save FILE")
        # absolute: "saved to lesson2.txt" left the folder (the one lanchat was started in) a guess
        path = Path(argument).expanduser().absolute()
        if not path.name or path.is_dir():  # ".", "/", "~", a folder: no file name to write to
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

    # ------------------------------------------------------------------ paint

    def draw(self) -> None:
        rows, cols = self.screen.getmaxyx()
        self._measure_at(render.transcript_width(self.view, cols))
        frame = render.render(self.view, rows, cols)
        self.view.clamp(frame.max_scroll, frame.reached_bottom)
        self.view.page_rows = max(1, frame.transcript_rows)
        self.screen.erase()
        # what the last draw wrote past curses, curses does not know is there: a row that had it
        # is written whole again, or a deleted 🩷 stayed on the screen over blanks curses kept
        for y in {y for y, _x, _data in self._overlays}:
            with contextlib.suppress(curses.error):
                self.screen.redrawln(y, 1)
        self._overlays = []
        for y, row in enumerate(frame.rows):
            self._paint_row(y, row)
        self._await_room()  # (curs_set writes at once when the cursor shows or hides)
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
        title = render.title_text(self.view)
        if self.titles and title != self._title:
            self._title = title
            safe = "".join(ch for ch in title if ch.isprintable())  # our name and a count: no escapes
            self._write_terminal(f"\x1b]2;{safe}\x07".encode(self.codec or "utf-8", "replace"))

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
        self._write_terminal(bytes(out))

    def probe_graphemes(self) -> None:
        """Ask the terminal where its cursor ends after a family emoji (a DSR query): the
        answer comes back among the keys (``_escape`` reads it). Drawn over by the first draw."""
        cup = curses.tigetstr("cup")
        if cup:
            # row 5, not 1: "ESC [ 1 ; 3 R" is also how xterm spells Alt-F3, and curses would eat it
            self._write_terminal(curses.tparm(cup, 4, 0) + PROBE_CLUSTER.encode("utf-8") + b"\x1b[6n")
        self.screen.clear()  # curses never saw the probe: the first draw repaints everything

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
