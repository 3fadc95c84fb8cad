"""render.py: the chat screen as rows of cells, a pure function of the view and the size.

``render(view, rows, cols)`` returns a ``Frame``: exactly ``rows`` rows of exactly ``cols``
cells, each cell a character (or a character plus its combining marks) and a ``Style``. A
wide character (CJK, most emoji) fills its cell and the empty cell after it. Widths come
from wcwidth, and every string a peer controls passes through ``textsafe.visible`` first,
so nothing in a frame can move the cursor or recolour the terminal. It never raises for
any text or size; screen.py is the only module that draws.
"""

from __future__ import annotations

import functools
import re
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass

from wcwidth import iter_graphemes, wcswidth, wcwidth

from .. import session_social as social
from ..events import name_key
from ..session import Line, Session
from ..textfold import SHORT_FORM
from ..textsafe import visible, visible_lines
from ..wording import ACTION_MARK, NOTICE_MARK, member_marks
from . import projector
from .colour_words import colour_words, parse_hex
from .fold import Burst, found_first, shown_text
from .view import MARKER_ROWS, View

MIN_ROWS = 5
MIN_COLS = 20  # a small tmux pane, a phone's ssh app: the status line shortens, the chat folds


@dataclass(frozen=True)
class Style:
    """How a cell looks. Colours are xterm-256 indices; screen.py maps them to what the
    terminal has (8 colours, or none)."""

    fg: int | None = None
    bg: int | None = None
    bold: bool = False
    dim: bool = False
    reverse: bool = False
    underline: bool = False
    rgb: tuple[int, int, int] | None = None  # the exact colour, for a terminal with true colour
    link: str | None = None  # a web address the cell is part of (OSC 8, where the terminal has it)


Cell = tuple[str, Style]  # ("", style) is the right half of a wide character

PLAIN = Style()
# Text on the terminal's own background is either the terminal's own foreground (fg=None: what
# you type, your name, the program's own lines) or a mid-tone colour readable on a white
# background (a light theme, a projector) as on a black one: no white, no pale yellow, no
# pastel. tests/test_ui_render.py measures each one's contrast against both.
TIME = Style(fg=244)
OWN_NAME = Style(bold=True)
OWN_TEXT = PLAIN
NOTICE = Style(fg=30)
ERROR = Style(fg=196, bold=True)
DIRECT = Style(fg=170)
DIRECT_TAG = Style(fg=170, bold=True)
HISTORY = Style(fg=243)
HISTORY_TAG = Style(fg=243, underline=True)
SYSTEM = PLAIN
MENTION = Style(fg=136, bold=True)  # your name in someone's message
DIRECT_TO_ME = Style(fg=170, bold=True)
STATUS = Style(fg=231, bg=25)  # white on blue, also on an 8-colour terminal (not on cyan)
STATUS_ALERT = Style(fg=232, bg=214, bold=True)
PROMPT = Style(fg=33, bold=True)
PROMPT_WAIT = Style(fg=166, bold=True)
SEARCH_PROMPT = Style(fg=98, bold=True)
RULE = Style(fg=166)
DAY_RULE = Style(fg=244, bold=True)
ACTION = Style(fg=137)
PANE_EDGE = Style(fg=240)  # a line, not text: stays in the background
PANE_HEAD = Style(bold=True)
TOO_SMALL = Style(fg=231, bg=88, bold=True)

# Sender colours: mid-tones readable on dark and light backgrounds, far apart from each other.
SENDER_PALETTE = (33, 202, 64, 171, 100, 32, 168, 104, 29, 134, 136, 68, 65, 167, 30, 99)


def sender_style(name: str) -> Style:
    """A colour per person that stays the same across runs and machines (crc32, not hash())."""
    digest = zlib.crc32(name_key(name).encode("utf-8", "surrogatepass"))
    return Style(fg=SENDER_PALETTE[digest % len(SENDER_PALETTE)], bold=True)


# ---------------------------------------------------------------- colour maths

_CUBE = (0, 95, 135, 175, 215, 255)
BASIC_RGB = ((0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229))
_SYSTEM16 = BASIC_RGB + ((127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255))


def xterm_rgb(index: int) -> tuple[int, int, int]:
    """The usual RGB value of an xterm-256 colour index."""
    if index < 16:
        return _SYSTEM16[index]
    if index < 232:
        index -= 16
        return _CUBE[index // 36], _CUBE[(index // 6) % 6], _CUBE[index % 6]
    grey = 8 + 10 * (index - 232)
    return grey, grey, grey


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> int:
    return sum((x - y) * (x - y) for x, y in zip(a, b, strict=True))


def nearest_xterm(rgb: tuple[int, int, int]) -> int:
    """The xterm-256 index (16..255, the fixed part of the palette) closest to ``rgb``."""
    return min(range(16, 256), key=lambda i: _distance(xterm_rgb(i), rgb))


def nearest_basic(index: int) -> int:
    """An xterm-256 index brought down to one of the 8 colours every colour terminal has."""
    rgb = xterm_rgb(index)
    return min(range(8), key=lambda i: _distance(BASIC_RGB[i], rgb))


# The basic colours whose text reads on a white background and on a black one alike, in
# xterm's own palette (BASIC_RGB; WCAG contrast 3:1 or more against both): red and magenta.
# Yellow (1.6:1 on white), cyan (1.7:1) and green (2.2:1) vanish on a light theme, as xterm's
# own default is (TERM=xterm, or screen: 8 colours), blue (2.2:1) on a dark one.
READABLE_BASIC = (1, 5)


def basic_foreground(index: int) -> int:
    """Text in xterm-256 colour ``index`` on the terminal's own background of an 8-colour
    terminal: the nearest of its hues readable on either theme (READABLE_BASIC), or -1 (the
    terminal's own foreground) where the nearest is another (black or white vanish on a dark
    or a light theme, yellow and cyan on white, blue on black), and for a grey, which has no
    basic colour of its own (nearest_basic turns mid-grey into yellow). What the colour told
    is said by words and marks too (``-!-``, ``*``, a name), so nothing is lost with it."""
    red, green, blue = xterm_rgb(index)
    if max(red, green, blue) - min(red, green, blue) < 16:
        return -1
    basic = nearest_basic(index)
    return basic if basic in READABLE_BASIC else -1


# ------------------------------------------------------------------ text cells

# The most code points one cell may hold: the longest real characters are a kiss with two skin
# tones (10) and a Devanagari conjunct with its signs (9). Unicode also joins runs of any length
# that are no marks (300 Hangul initial consonants, a letter and 300 half-width voiced marks,
# Arabic number signs before a letter): one cell of two columns to the layout, and a terminal
# draws them 300 or 600 columns wide, over other rows. Those are laid out a character at a time.
MAX_CLUSTER_CHARS = 12


_SURROGATE = re.compile("[\ud800-\udfff]").search


def clusters(text: str) -> list[tuple[str, int]]:
    """Split text into (what goes in one cell, its width 1 or 2), one grapheme cluster per
    cell (Unicode's extended grapheme clusters, UAX #29, by wcwidth): an accent typed as a
    combining mark stays on its letter, a flag's two regional indicators and a family emoji
    joined by ZWJ are one character two columns wide. Lone surrogates, which no terminal can
    print, become U+FFFD; a zero-width cluster with nothing before it is dropped."""
    if text.isascii() and text.isprintable():
        return [(ch, 1) for ch in text]  # the common case, without a wcwidth call per character
    out: list[tuple[str, int]] = []
    surrogates = _SURROGATE(text) is not None  # looked for once, not in each cluster
    for cluster in iter_graphemes(text):
        if surrogates and _SURROGATE(cluster):
            out.append(("\ufffd", 1))
            continue
        width = wcswidth(cluster)
        if width < 0:  # a control character that slipped past visible(): show it, never send it
            for ch in cluster:
                if wcwidth(ch) < 0:
                    stand_in = visible(ch)
                    out.extend((part, 1) for part in (stand_in if stand_in != ch else "?"))
                elif wcwidth(ch) > 0:
                    out.append((ch, min(wcwidth(ch), 2)))
            continue
        if len(cluster) > MAX_CLUSTER_CHARS:
            _apart(cluster, out)
            continue
        if width == 0:
            if out:
                out[-1] = (out[-1][0] + cluster, out[-1][1])
            continue
        out.append((cluster, min(width, 2)))
    return out


def _apart(cluster: str, out: list[tuple[str, int]]) -> None:
    """A cluster too long to be a real character, a cell for each of its characters that takes
    columns (as a terminal that does not join them draws it), one that takes none on the cell
    before it (the marks on it are few: textsafe.visible)."""
    for ch in cluster:
        width = wcwidth(ch)
        if width > 0:
            out.append((ch, min(width, 2)))
        elif width == 0 and out:
            out[-1] = (out[-1][0] + ch, out[-1][1])


def text_width(text: str) -> int:
    if text.isascii() and text.isprintable():
        return len(text)  # one column each, as clusters() says, without building its list
    return sum(width for _, width in clusters(text))


def cells(text: str, style: Style) -> list[Cell]:
    """Text as cells: a wide character is its cell plus an empty one."""
    if text.isascii() and text.isprintable():
        return [(ch, style) for ch in text]  # the common case (clusters' own shortcut, one list fewer)
    row: list[Cell] = []
    for chunk, width in clusters(text):
        row.append((chunk, style))
        if width == 2:
            row.append(("", style))
    return row


def fit(row: list[Cell], width: int, fill: Style = PLAIN) -> list[Cell]:
    """Cut or pad a row of cells to exactly ``width``, never splitting a wide character."""
    if width <= 0:
        return []
    row = row[:width]
    # a wide character whose right half was cut off becomes a space
    if row and len(row) == width and row[-1][0] != "" and _is_wide_start(row, width - 1):
        row[-1] = (" ", row[-1][1])
    return row + [(" ", fill)] * (width - len(row))


def _is_wide_start(row: list[Cell], index: int) -> bool:
    """True when the cell at ``index`` holds a wide character (its right half would follow)."""
    chunk = row[index][0]
    return bool(chunk) and text_width(chunk) == 2


def text_row(text: str, style: Style, width: int, fill: Style | None = None) -> list[Cell]:
    return fit(cells(text, style), width, fill if fill is not None else style)


# ----------------------------------------------------------- transcript lines


def clock(when: float) -> str:
    try:
        return time.strftime("%H:%M", time.localtime(when))
    except (OverflowError, OSError, ValueError):  # a peer's absurd timestamp
        return "--:--"


DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


@functools.lru_cache(maxsize=32768)  # two widths of a full scrollback: a resize storm between two sizes hits it (View.remeasure walks it too)
def day_of(when: float) -> tuple[int, int, int] | None:
    """The local calendar day of a time, (year, month, day); None for an absurd time."""
    try:
        moment = time.localtime(when)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.tm_year, moment.tm_mon, moment.tm_mday


def day_text(when: float, today: float | None = None) -> str:
    """``Tuesday 1 December`` (with the year when it is not this year's)."""
    try:
        moment = time.localtime(when)
        this_year = time.localtime(time.time() if today is None else today).tm_year
    except (OverflowError, OSError, ValueError):
        return "some other day"
    year = f" {moment.tm_year}" if moment.tm_year != this_year else ""
    return f"{DAYS[moment.tm_wday]} {moment.tm_mday} {MONTHS[moment.tm_mon - 1]}{year}"


def stamp_text(line: Line) -> str:
    """A line's time; a replayed line from another day also says which (``1 Dec 14:03``)."""
    if line.kind == "history" and day_of(line.time) != day_of(time.time()):
        try:
            moment = time.localtime(line.time)
            return f"{moment.tm_mday} {MONTHS[moment.tm_mon - 1][:3]} {clock(line.time)}"
        except (OverflowError, OSError, ValueError):
            return clock(line.time)
    return clock(line.time)


def _swatch(line: Line) -> list[tuple[str, Style]]:
    """The colour bot's suggestion drawn as a block of the nearest colour we can show, and
    named in words beside it (colour_words.py): the block alone told a colour-blind student
    nothing, nor a monochrome terminal."""
    rgb = parse_hex(getattr(line, "colour", None))
    if rgb is None:
        return []
    return [(" ", PLAIN), ("\u2588\u2588", Style(fg=nearest_xterm(rgb), rgb=rgb)), (f" {colour_words(rgb)}", PLAIN)]


def line_parts(line: Line) -> tuple[list[tuple[str, Style]], list[tuple[str, Style]], Style]:
    """A transcript line as (prefix segments, suffix segments, text style)."""
    stamp = (stamp_text(line) + " ", TIME)
    sender = visible(line.sender or "?")
    text_style = MENTION if line.mentions_me else PLAIN
    if line.kind == "notice":
        return [stamp, (NOTICE_MARK + " ", NOTICE)], [], NOTICE  # wording.NOTICE_MARK: colour alone is weak
    if line.kind == "error":
        return [stamp, ("! ", ERROR)], [], ERROR
    if line.kind == "system":
        return [stamp, ("  ", SYSTEM)], [], SYSTEM
    if line.kind == "history":
        if line.action:  # a replayed /me: "[History] * ann waves"
            return [stamp, ("[History]", HISTORY_TAG), (f" {ACTION_MARK} {sender} ", HISTORY)], [], HISTORY
        if line.to:  # a replayed direct message keeps both names
            sender += f" \u2192 {visible(line.to)}"
        return [stamp, ("[History]", HISTORY_TAG), (" ", HISTORY), (sender + ": ", HISTORY)], [], HISTORY
    if line.kind == "direct":
        prefix = [stamp, ("[direct] ", DIRECT_TAG), (sender, sender_style(line.sender or "?"))]
        prefix += [(" \u2192 ", DIRECT), (visible(line.to or "?"), sender_style(line.to or "?")), (": ", DIRECT)]
        return prefix, _swatch(line), DIRECT_TO_ME if line.mentions_me else DIRECT
    if line.kind == "action":  # /me: "* ann waves"
        return [stamp, (ACTION_MARK + " ", ACTION), (sender, sender_style(line.sender or "?")), (" ", ACTION)], [], MENTION if line.mentions_me else ACTION
    if line.kind == "own":
        return [stamp, (sender, OWN_NAME), (": ", OWN_TEXT)], _swatch(line), OWN_TEXT
    return [stamp, (sender, sender_style(line.sender or "?")), (": ", PLAIN)], _swatch(line), text_style


_WORDS = re.compile(r" +|[^ ]+")
# A word and what must stay on its row with it: a --fingerprint and its value, which someone
# copies (a row of its own if need be, as textfold keeps it in printed lines; README). Wider
# than the row, it goes apart at its spaces like any words.
# And a fingerprint's short form (textfold.SHORT_FORM), its four groups on one row, as textfold keeps them.
_KEPT_WORDS = re.compile(rf"--fingerprint +[^ ]+|{SHORT_FORM}[^ ]*| +|[^ ]+")
_HAS_SHORT_FORM = re.compile(r"[0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4}").search  # a cheap test (0.5 us, SHORT_FORM's 1.3): never no where one is
BLANK: Cell = (" ", PLAIN)
# A web address a terminal may make clickable: http(s) and only the characters RFC 3986 allows,
# so nothing in it can end the OSC 8 sequence that carries it (no ESC, no BEL, no space).
LINK = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


@functools.lru_cache(maxsize=256)
def _linked(style: Style, url: str) -> Style:
    return Style(fg=style.fg, bg=style.bg, bold=style.bold, dim=style.dim, reverse=style.reverse, underline=True, link=url)


def _wrap_into(rows: list[list[Cell]], text: str, style: Style, width: int, indent: int, *, words: re.Pattern[str] = _KEPT_WORDS) -> None:
    """Word-wrap text onto rows (the last row is continued); new rows start at ``indent``.
    A word that fits goes in whole; only a word wider than a row is broken inside."""
    for word in words.findall(text):
        row = rows[-1]
        used = len(row)
        if word[0] == " ":
            if used == indent and len(rows) > 1:
                continue  # no leading spaces on a continuation row
            row.extend([(" ", style)] * max(0, min(len(word), width - used)))
            continue
        link = LINK.fullmatch(word.rstrip(".,;:!?)"))
        if link:  # the address, not a full stop after it
            word_cells = cells(link.group(0), _linked(style, link.group(0))) + cells(word[link.end() :], style)
        else:
            word_cells = cells(word, style)
        if used + len(word_cells) <= width:
            row.extend(word_cells)
            continue
        if used > indent and len(word_cells) <= width - indent:
            rows.append([(" ", PLAIN)] * indent)
            rows[-1].extend(word_cells)
            continue
        if " " in word:  # kept together: on a row of its own, less deep than the indent; or apart
            if len(word_cells) > width:
                _wrap_into(rows, word, style, width, indent, words=_WORDS)
                continue
            if len(rows) == 1 or any(cell != BLANK for cell in row):  # else a row with nothing on it yet
                rows.append([])
            rows[-1][:] = [BLANK] * (width - len(word_cells)) + word_cells
            continue
        last = len(word_cells) - 1
        for at, cell in enumerate(word_cells):  # longer than a row: break it, never between a wide pair
            # a wide character's cell is followed by its empty right half (cells()): no width to measure again,
            # which cost a grapheme split per cell (a 4,000-character word of Arabic or Han took 40 ms a layout)
            if cell[0] != "" and len(rows[-1]) + (2 if at < last and word_cells[at + 1][0] == "" else 1) > width:
                rows.append([(" ", PLAIN)] * indent)
            rows[-1].append(cell)


class LayoutCache:
    """Lines laid out for the last draws, ``(line, width) -> rows``, the least recently used
    dropped first once they hold more than ``most_cells`` cells. Bounded by cells, not by
    count: a count of 16,384 let a server's 60,000-character lines (2.4 MB each laid out,
    the frame limit allows them) take gigabytes. A line over an eighth of it is not kept."""

    def __init__(self, most_cells: int) -> None:
        self.most_cells = most_cells
        self.cells = 0  # held now, all rows counted
        self._kept: OrderedDict[tuple[Line, int], tuple[tuple[Cell, ...], ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def rows(self, line: Line, width: int) -> tuple[tuple[Cell, ...], ...]:
        key = (line, width)
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        laid = tuple(tuple(row) for row in _layout(line, width))
        size = sum(map(len, laid))
        if size <= self.most_cells // 8:
            self._kept[key] = laid
            self.cells += size
            while self.cells > self.most_cells:
                _, dropped = self._kept.popitem(last=False)
                self.cells -= sum(map(len, dropped))
        return laid

    def clear(self) -> None:
        self._kept.clear()
        self.cells = 0


# A quarter of a million cells (about 50 bytes each, some 12 MB): ten full screens of 250 x 100,
# or 1,800 everyday lines at one width. A draw lays out only the lines on screen (heights are
# counted apart, _height_cached), so more bought nothing: at two million, a client left open all
# day held 67 MB of a 10,000-line scrollback laid out, with paging through it no quicker.
LAYOUTS = LayoutCache(most_cells=250_000)


def _help_row(line: Line, prefix_width: int, width: int) -> tuple[int | None, tuple[str, str] | None]:
    """A /help row (``line.hang``): where its description's further rows start, under its first
    word; with under half the row left there, the command alone on its row and the description
    on rows of its own under it (then also the two parts). (None, None): wrap as any line."""
    column = prefix_width + line.hang
    if width - column >= width // 2:
        return column, None
    usage = line.text[: line.hang].rstrip()
    below = prefix_width + len(usage) - len(usage.lstrip()) + 2
    if below > width // 3:
        return None, None
    return below, (usage, line.text[line.hang :])


def _layout(line: Line, width: int) -> list[list[Cell]]:
    prefix, suffix, text_style = line_parts(line)
    prefix_cells: list[Cell] = []
    for part, style in prefix:
        prefix_cells += cells(part, style)
    # continuation rows start under the text, unless the prefix eats too much of the width
    indent = len(prefix_cells) if len(prefix_cells) <= width // 3 else min(6, width // 4)
    parts = None
    if 0 < line.hang < len(line.text):
        hang, parts = _help_row(line, len(prefix_cells), width)
        indent = indent if hang is None else hang
    # the prefix itself wraps like any text (a long name on a narrow screen)
    rows: list[list[Cell]] = [[]]
    for cell in prefix_cells:
        if len(rows[-1]) >= width or (cell[0] != "" and text_width(cell[0]) == 2 and len(rows[-1]) + 2 > width):
            rows.append([])
        rows[-1].append(cell)
    if parts is not None:  # the command alone on its row, the description under it
        _wrap_into(rows, parts[0], text_style, width, indent)
        rows.append([(" ", PLAIN)] * indent)
        shown = parts[1]
    else:
        room = width - len(prefix_cells)  # a burst of joins shows the names that fit this row (fold.py)
        shown = shown_text(line, lambda text: sum(map(text_width, visible_lines(text))) <= room)
    for number, paragraph in enumerate(visible_lines(shown)):
        if number > 0:
            rows.append([(" ", PLAIN)] * indent)
        _wrap_into(rows, paragraph, text_style, width, indent)
    for text, style in suffix:
        _wrap_into(rows, text, style, width, indent)
    return [fit(row, width) for row in rows]


def layout_line(line: Line, width: int) -> tuple[tuple[Cell, ...], ...]:
    """The rows one transcript line takes at ``width`` columns (cached: lines never change)."""
    width = max(1, width)
    try:
        return LAYOUTS.rows(line, width)
    except TypeError:  # an unhashable field: lay it out without the cache
        return tuple(tuple(row) for row in _layout(line, width))


def line_height(line: Line, width: int) -> int:
    """How many rows ``layout_line`` gives, counted without building a cell where the line
    is plain ASCII (most of a scrollback): a view scrolled far up needs the height of every
    line below it, and only the lines on screen laid out."""
    width = max(1, width)
    try:
        return _height_cached(line, width)
    except TypeError:  # an unhashable field
        return len(_layout(line, width))


@functools.lru_cache(maxsize=32768)  # two widths of a full scrollback: a resize storm between two sizes hits it (View.remeasure walks it too)
def _height_cached(line: Line, width: int) -> int:
    found = _ascii_height(line, width)
    return found if found is not None else len(layout_line(line, width))


def _ascii_height(line: Line, width: int) -> int | None:
    """``len(_layout(line, width))`` for a line whose every part is printable ASCII (one
    column a character), following _layout and _wrap_into step for step on counts; None
    for anything else (wide or zero-width characters, a colour swatch), which is laid out."""
    prefix, suffix, _style = line_parts(line)
    if suffix or width < 4 or isinstance(line, Burst) or line.hang:  # a burst's text depends on the width
        return None
    if "--fingerprint" in line.text:  # kept with its value (_KEPT_WORDS): laid out, not counted
        return None
    prefix_text = "".join(text for text, _ in prefix)
    paragraphs = visible_lines(line.text)
    if not (prefix_text.isascii() and prefix_text.isprintable()):
        return None
    if not all(part.isascii() and part.isprintable() for part in paragraphs):
        return None
    length = len(prefix_text)
    indent = length if length <= width // 3 else min(6, width // 4)
    rows = max(1, -(-length // width))  # the prefix wraps at the width like any text
    used = length - (rows - 1) * width
    for number, paragraph in enumerate(paragraphs):
        if number > 0:
            rows += 1
            used = indent
        if used + len(paragraph) <= width and not (paragraph[:1] == " " and used == indent and rows > 1):
            used += len(paragraph)  # the whole paragraph fits on this row: no word can wrap
            continue
        if _HAS_SHORT_FORM(paragraph):  # a short form kept whole (_KEPT_WORDS) where it wraps: laid out
            return None
        for word in _WORDS.findall(paragraph):
            size = len(word)
            if word[0] == " ":
                if used == indent and rows > 1:
                    continue
                used += max(0, min(size, width - used))
            elif used + size <= width:
                used += size
            elif used > indent and size <= width - indent:
                rows += 1
                used = indent + size
            else:  # longer than a row: broken one character at a time
                for _ in range(size):
                    if used + 1 > width:
                        rows += 1
                        used = indent
                    used += 1
    return rows


# -------------------------------------------------------------------- the frame


@dataclass(frozen=True)
class Frame:
    rows: list[list[Cell]]
    cursor: tuple[int, int] | None  # (row, col) of the input cursor
    max_scroll: int  # how far up the transcript can scroll at this size
    transcript_rows: int
    reached_bottom: bool = False  # a view anchored at the top now shows the newest line

    def text(self) -> list[str]:
        """Each row as a string, for tests and logs."""
        return ["".join(chunk for chunk, _ in row) for row in self.rows]


def roster_width(cols: int) -> int:
    return max(16, min(26, cols // 5))


def _day_changes(before: Line | None, line: Line) -> bool:
    """Is ``line`` on another day than the line before it? (Then a day rule goes above it.)"""
    if before is None:
        return False
    day = day_of(before.time)
    return day is not None and day_of(line.time) not in (day, None)


def day_rule_rows(before: Line | None, line: Line) -> int:
    """The rows of the day rule drawn above ``line`` when ``before`` is the line above it."""
    return 1 if _day_changes(before, line) else 0


Span = tuple[int, Line, int, bool]  # (seq, line, rows, a day rule above it)


@functools.lru_cache(maxsize=64)
def _found(style: Style) -> Style:
    return Style(fg=style.fg, bg=style.bg, bold=style.bold, dim=style.dim, reverse=not style.reverse, underline=style.underline)


def _block_height(view: View, line: Line, seq: int, width: int, day_rule: bool) -> int:
    """len(_block(...)), without laying the line out where it can be counted."""
    extra = (MARKER_ROWS if view.marker_seq is not None and seq == view.marker_seq else 0) + (1 if day_rule else 0)
    line = projector.shown(line, view.session)  # projector mode: a direct message without its text
    if view.found_seq is not None and seq == view.found_seq and view.finding is not None:
        line = found_first(line, view.finding)
    return line_height(line, width) + extra


def _block(view: View, line: Line, seq: int, width: int, day_rule: bool) -> tuple[tuple[Cell, ...], ...]:
    """A line's rows, with the 'new' rule above it when it is the first unread one, and the
    day-change rule above that when the day changed."""
    line = projector.shown(line, view.session)  # projector mode: a direct message without its text
    if view.found_seq is not None and seq == view.found_seq:  # /find's match: shown reversed
        if view.finding is not None:  # a burst of joins shows the name found (fold.py)
            line = found_first(line, view.finding)
        block = tuple(tuple((chunk, _found(style)) for chunk, style in row) for row in layout_line(line, width))
    else:
        block = layout_line(line, width)
    if view.marker_seq is not None and seq == view.marker_seq:
        rule = fit(cells("\u2500\u2500 new \u2500\u2500", RULE), width)
        block = (tuple(rule),) + block
    if day_rule:
        rule = fit(cells(f"\u2500\u2500 {day_text(line.time)} \u2500\u2500", DAY_RULE), width)
        block = (tuple(rule),) + block
    return block


def _transcript(view: View, height: int, width: int) -> tuple[list[list[Cell]], int, bool]:
    """The transcript pane's rows (oldest first), the largest useful scroll, and whether a
    top-anchored view reached the newest line. Lines off screen are only counted
    (line_height); only the lines on screen are laid out. The lines are walked in order, each
    compared with its neighbour for the day rule: a deque is slow to index in the middle."""
    blank = [(" ", PLAIN)] * width
    if view.top is not None:
        spans: list[Span] = []  # oldest first
        total = 0
        reached_bottom = True
        before: Line | None = None
        for seq, line in enumerate(view.lines, start=view.first_seq):
            rule = _day_changes(before, line)
            rows = _block_height(view, line, seq, width, rule)
            spans.append((seq, line, rows, rule))
            before = line
            total += rows
            if total > view.top + height:
                reached_bottom = False
                break
        start = min(view.top, max(0, total - height)) if reached_bottom else view.top
        shown = _rows_between(view, spans, start, start + height, width)
        shown += [list(blank) for _ in range(height - len(shown))]
        return shown, 0, reached_bottom
    wanted = view.scroll + height
    newest_first: list[Span] = []
    total = 0
    exhausted = True
    seq = view.total
    for line in reversed(view.lines):
        seq -= 1
        if newest_first and _day_changes(line, newest_first[-1][1]):  # the newer one starts a day
            newer = newest_first[-1]
            newest_first[-1] = (newer[0], newer[1], newer[2] + 1, True)
            total += 1
        rows = _block_height(view, line, seq, width, False)
        newest_first.append((seq, line, rows, False))
        total += rows
        if total >= wanted:
            exhausted = False
            break
    if not exhausted:  # the oldest line counted: one look at the line before it
        oldest = newest_first[-1]
        index = oldest[0] - view.first_seq
        if index > 0 and _day_changes(view.lines[index - 1], oldest[1]):
            newest_first[-1] = (oldest[0], oldest[1], oldest[2] + 1, True)
            total += 1
    max_scroll = max(0, total - height) if exhausted else max(view.scroll, total - height)
    scroll = min(view.scroll, max_scroll)
    end = total - scroll
    visible_rows = _rows_between(view, newest_first[::-1], max(0, end - height), end, width)
    visible_rows += [list(blank) for _ in range(height - len(visible_rows))]
    return visible_rows, max_scroll, False


def _rows_between(view: View, spans: list[Span], start: int, end: int, width: int) -> list[list[Cell]]:
    """Rows ``start`` to ``end`` of the lines in ``spans`` (oldest first, with their heights),
    laying out only the lines those rows fall in."""
    out: list[list[Cell]] = []
    at = 0
    for seq, line, rows, rule in spans:
        if at >= end:
            break
        if at + rows > start:
            block = _block(view, line, seq, width, rule)
            out.extend(list(row) for row in block[max(0, start - at) : end - at])
        at += rows
    return out


def _roster(view: View, height: int, width: int) -> list[list[Cell]]:
    session = view.session
    members = session.members
    over = chat_over(session)  # then who was here at the end, no longer who is here; no turn
    title = f" {'Was here' if over or offline(session) else 'Here'} ({len(members)})"  # offline: who was, before
    rows = [text_row(title, PANE_HEAD, width, PLAIN), fit(cells("\u2500" * width, PANE_EDGE), width)]
    room = height - len(rows)
    shown = members.first(room if len(members) <= room else room - 1)  # not a copy of 20,000 for 20 rows
    for member in shown:
        # offline, whose turn it was is no longer known (a restarted room gives it afresh): no mark, as the status line
        is_turn = not over and not offline(session) and session.mode == "turn" and session.turn is not None and name_key(session.turn) == name_key(member)
        mark = "\u25b8" if is_turn else " "
        rows.append(_roster_row(cells(mark, PROMPT_WAIT), cells(visible(member), sender_style(member)), _roster_marks(session, member), width))
    if len(shown) < len(members):
        rows.append(text_row(f" +{len(members) - len(shown)} more", TIME, width, PLAIN))
    rows = rows[:height]
    rows += [[(" ", PLAIN)] * width for _ in range(height - len(rows))]
    return rows


ROSTER_NAME_KEPT = 5  # a name cut to make room for its marks keeps at least this many columns, "…" included


def _roster_marks(session: Session, member: str) -> str:
    """What the roster says of ``member`` after the name, in one bracket, as /who does
    (wording.member_marks): " (host, you)". Whose turn it is has its ▸ instead, and a reason
    for being away (/who gives it) would crowd a narrow pane."""
    key = name_key(member)
    host = session.host is not None and name_key(session.host) == key
    away = "away" if key in getattr(session, "away", {}) else ""
    return member_marks(host=host, op=not host and member in session.operators, nc=key in getattr(session, "at_nc", ()),
                        you=key == name_key(session.name), away=away)


def _roster_row(turn: list[Cell], name: list[Cell], marks: str, width: int) -> list[Cell]:
    """A roster row of ``width``: at 100 columns, "teacher (host) (you)" lost its end, "(yo…",
    the marks being what a glance looks for. They are kept whole, the name cut before them
    ("▸longername… (host, you)"), as long as the name keeps ``ROSTER_NAME_KEPT`` columns; past
    that (a host away, on a narrow pane) the row's end is cut, as any row's."""
    tail = cells(marks, TIME)
    if len(turn) + len(name) + len(tail) <= width:
        return fit(turn + name + tail, width)
    room = width - len(turn) - len(tail)
    if marks and name and room >= min(ROSTER_NAME_KEPT, len(name)):  # (an empty name fits whenever its marks do: never here)
        return fit(turn + fit(name, room - 1) + [("\u2026", name[0][1])] + tail, width)
    return fit(turn + name + tail, width - 1) + [("\u2026", TIME)]


def offline(session: Session) -> bool:
    """The connection is down and being retried (client.py, Reconnect): who is here is not known."""
    return "connection" in getattr(session, "progress", {})


def chat_over(session: Session) -> bool:
    """The server shut down, or we are leaving (a bot's goodbye): mode, turn and who is here
    describe a chat that no longer exists, so the status line and prompt stop showing them."""
    return bool(session.closed_reason or session.leave_requested)


# What a narrow status line keeps (docs: README "The screen"): the lower the number, the more it
# matters. Your name and the connection's state always stay; then whose turn it is (and unread
# direct messages), the head count, the host's address (students read it off the screen), what
# is under way (who is typing, a transfer), the host's role (which window is the server's; an
# operator's with it: _role_part), the topic (cut short where it does not fit whole:
# SHORT_TOPIC_COLUMNS), the mode (in a turn room whose turn it is says it already), and last a
# client's own role and address (it typed `lanchat connect ADDRESS`; a room found by its name
# keeps its place as the host's address).
_KEEP, _NOW, _COUNT, _HOST_ADDRESS, _LIVE, _HOST_ROLE, _TOPIC, _MODE, _CLIENT_OWN = range(9)
# A _NOW part's short form, following it: kept as a _NOW part (before the host's address, which
# students read off a 64-column projector; after whose turn it is), the whole part then taking
# its place where it still fits.
_NOW_SHORT = -1
# A _LIVE part's short form (a transfer's, files.Progress.short), following it: kept as a _LIVE
# part, after the host's address as its whole was; the whole then takes its place where it fits.
_LIVE_SHORT = -3
# The connection's state in short, following it (client.Offline.short): shown instead where the
# whole would be cut at the row's end ("server stopped: waiting for it" at 40 columns).
_KEEP_SHORT = -2
SHORT_HOLDER_COLUMNS = 12  # the turn holder's name in the status line's short form, "…" included
# A topic too long for the room left at its turn is cut to that room ("topic: fractions and…"),
# ahead of the mode and a client's own parts, if at least this much is left for it.
SHORT_TOPIC_COLUMNS = len("topic: ") + 6


def _status_parts(view: View) -> list[tuple[int, str]]:
    """The status line's parts in the order shown, each with how soon it goes when narrow."""
    session = view.session
    progress = dict(getattr(session, "progress", {}))
    # while the connection is down (client.py, Reconnect), that comes first: the rest of the
    # line is what was true before
    connection = progress.pop("connection", None)
    parts = [(_KEEP, visible(session.name)), *_connection_parts(connection), *_connection_parts(progress.pop("silent", None))]
    client = session.role == "client"
    # (a client's own place, unless the room was found by its name: 80 columns had no room for
    # "198.18.0.1:3580 (TLS), the room 'Networks 3B'" beside the mode, and showed neither)
    place = _HOST_ADDRESS if not client or session.found_by_name else _CLIENT_OWN
    parts += [_role_part(session), (place, visible(session.where or "?"))]
    if chat_over(session):  # a client's screen then waits for a key (cli/chat.py's _let_the_end_be_read)
        parts.append((_KEEP, "chat over: press any key" if session.role == "client" else "chat over"))
        return parts
    parts.append((_MODE, session.mode))
    if session.mode == "turn" and connection is None:  # offline, whose turn it was is no longer known
        parts.append((_NOW, visible(session.turn_text())))
        holder = visible(session.turn or "")
        if not session.my_turn and text_width(holder) > SHORT_HOLDER_COLUMNS:
            # a long name, a narrow screen: "waiting for Bartholomew…" rather than nothing at all
            parts.append((_NOW_SHORT, "waiting for " + "".join(c for c, _s in fit(cells(holder, PLAIN), SHORT_HOLDER_COLUMNS - 1)) + "\u2026"))
    if connection is None and (muted := session.muted_text()):  # (offline, the mute is as it was)
        parts.append((_NOW, muted))
    if held := progress.pop("held", None):  # lines typed out of turn (client.send_held): the input
        # line is empty again, so this is the one place they show; ahead of the head count, as
        # whose turn it is ("2 held" where the whole does not fit: 40 columns showed nothing of it)
        parts += [(_NOW, _progress_text(held)), (_NOW_SHORT, _progress_text(held, "short"))]
    if connection is None:  # offline, the count is of who was here before
        parts.append((_COUNT, f"{len(session.members)} here"))
    if session.projector:  # direct messages are hidden here: why one reads "(hidden: ...)"
        parts.append((_NOW, "projector"))
    unread = getattr(session, "unread_directs", 0)
    if unread:
        parts.append((_NOW, f"{unread} direct unread (/r answers)"))
        parts.append((_NOW_SHORT, f"{unread} direct"))  # the same, when only this fits (status_text)
    typing = social.typing_now(session)
    if typing:
        who = ", ".join(visible(name) for name in typing[:3]) + (" and others" if len(typing) > 3 else "")
        parts.append((_LIVE, f"{who} {'is' if len(typing) == 1 else 'are'} typing\u2026"))
    if getattr(session, "topic", ""):
        parts.append((_TOPIC, "topic: " + visible(session.topic)))
    # file transfers under way (projector mode: a file offered to one person without its name), each
    # with its short form where the whole does not fit (a 60-column window showed no download at all)
    for transfer in progress.values():
        if whole := _progress_text(shown := projector.shown_progress(transfer, session)):
            parts.append((_LIVE, whole))
            if short := _progress_text(shown, "short"):
                parts.append((_LIVE_SHORT, short))
    if session.role == "host" and (sending := visible(social.sending_now(session))):
        # others fetching the host's files: "sending notes.pdf to 5" (gone: /q cuts nobody off), a
        # transfer as any other (after the head count and the address students read to join, as
        # README's "The screen" orders them), "sending to 5" where the whole is cut
        parts += [(_LIVE, sending), (_LIVE_SHORT, "sending to " + sending.rsplit(" to ", 1)[-1])]
    return [(rank, text) for rank, text in parts if text]


def _role_part(session: Session) -> tuple[int, str]:
    """Your standing in the room, in the roster's word for it (_roster_marks): "host", "op" once
    made an operator (it said "client" while the roster read "ann (op, you)"), or "client". An
    operator's, as the host's, is kept ahead of a client's own parts: it says what /kick and
    /mute will do."""
    if session.role == "client" and session.is_operator(session.name):
        return (_HOST_ROLE, "op")
    return (_CLIENT_OWN if session.role == "client" else _HOST_ROLE, session.role)


def _connection_parts(state: object) -> list[tuple[int, str]]:
    """The connection's state, kept whatever the width, and its short form where the whole would
    be cut: offline (client.Offline), or a room that has not answered a ping (liveness.Liveness)."""
    if state is None:
        return []
    parts = [(_KEEP, _progress_text(state))]
    if callable(short := getattr(state, "short", None)):
        parts.append((_KEEP_SHORT, visible(short())))
    return parts


def _joined(parts: list[tuple[int, str]]) -> str:
    return " " + " \u2502 ".join(text for _rank, text in parts) + " "


def status_text(view: View, width: int | None = None) -> str:
    """The status line; given a ``width``, only the parts that fit are shown, whole (rather than
    a word cut off at the end), in their usual order. They are chosen afresh at each drawing, the
    one that matters most first: each is kept if it still fits beside those kept already, so a
    long topic left out leaves its room to shorter parts (the host's role), and all come back
    when the terminal widens. A part with a short form (the unread direct messages) is kept
    short first and shown whole only where that still fits after the host's address. The topic,
    cut to the room left at its turn, goes ahead of the mode and a client's own parts (a long
    student's name at 60 columns showed their role and the mode, and no topic at all). The name and the connection's state always stay (fit() cuts them at the edge)."""
    parts = _status_parts(view)
    if width is None:
        return _joined([part for part in parts if part[0] not in (_NOW_SHORT, _LIVE_SHORT, _KEEP_SHORT)])
    widths = [text_width(text) + 3 for _rank, text in parts]  # each with its " | " (or the ends' spaces)
    kept = {index for index, (rank, _text) in enumerate(parts) if rank == _KEEP}
    used = sum(widths[index] for index in kept) - 1  # the joined line: each part, 3 between, 1 at each end
    keep_shorts = {index for index, (rank, _text) in enumerate(parts) if rank == _KEEP_SHORT}
    for index in keep_shorts:  # the whole one (just before) would be cut: the short one instead
        if used > width:
            kept.symmetric_difference_update((index - 1, index))
            used += widths[index] - widths[index - 1]
    shorts = {index: _NOW if rank == _NOW_SHORT else _LIVE for index, (rank, _text) in enumerate(parts) if rank in (_NOW_SHORT, _LIVE_SHORT)}  # each after its whole part

    def order(index: int) -> tuple[int, int, int]:  # a short form among the other parts of its whole's rank, after them
        if index in shorts:  # (whose turn it is stays); its whole after the host's address (a _NOW one), or after
            return (shorts[index], 0, index)  # the other _LIVE parts (a transfer's: its short form goes first)
        if (rank := shorts.get(index + 1)) is not None:
            return (_HOST_ADDRESS, 0, index) if rank == _NOW else (_LIVE, 1, index)
        return (parts[index][0], 0, index)

    for index in sorted(set(range(len(parts))) - kept - keep_shorts - {index - 1 for index in keep_shorts}, key=order):
        if index + 1 in kept and index + 1 in shorts:  # its short form is shown: the whole part instead, if it fits
            grown = widths[index] - widths[index + 1]
            if used + grown <= width:
                kept.symmetric_difference_update((index, index + 1))
                used += grown
        elif used + widths[index] <= width:
            kept.add(index)
            used += widths[index]
        elif parts[index][0] == _TOPIC and width - used - 3 >= SHORT_TOPIC_COLUMNS:
            parts[index] = (_TOPIC, shortened(parts[index][1], width - used - 3))
            kept.add(index)
            used += text_width(parts[index][1]) + 3
    return _joined([part for index, part in enumerate(parts) if index in kept])


def shortened(text: str, columns: int) -> str:
    """``text`` cut to ``columns`` at most, "…" included (a wide character is not cut in two)."""
    return "".join(c for c, _s in fit(cells(text, PLAIN), columns - 1)).rstrip() + "\u2026"


def _progress_text(progress: object, form: str = "text") -> str:
    """``progress``'s text for the status line (``form``: "short", its short form; "" if it has none)."""
    try:
        return visible(getattr(progress, form)()) if form == "text" or hasattr(progress, form) else ""
    except Exception:  # noqa: BLE001 - a status line must never stop the drawing
        return ""


def _status(view: View, width: int, moved: bool = True) -> list[Cell]:
    """``moved``: the page is off the newest line (a PgUp on a transcript that fits moves nothing:
    View.clamp only learns that after this draw)."""
    tails: list[list[Cell]] = [[]]  # the tail, then its short form (the keys left out)
    if view.finding is not None:
        where = "no match" if view.found_seq is None else f"{view.found_rank}/{view.found_count}"
        found = f" find {visible(view.finding)}: {where} "
        tails = [cells(found + "(^F older, Esc) ", STATUS_ALERT), cells(found, STATUS_ALERT)]
    elif not view.following and moved:
        marker = f" \u25bc {view.unread} new " if view.unread else " scrolled up (End: back) "
        style = STATUS_ALERT if view.unread else STATUS
        tails = [cells(marker, style), cells(marker.replace(" (End: back)", ""), style)]
        if view.unread and (naming := view.naming_me):  # "sam, can you read question 5?" below the page
            tails.insert(0, cells(f"{marker}({naming} name{'s' if naming == 1 else ''} you) ", style))
    # On a narrow screen (40 columns) the whole tail left the name cut to " an": the short form
    # then, so the name stays whole beside it. (No tail, the usual draw: no status laid out for it.)
    tail = tails[0]
    if len(tails) > 1:
        least = text_width(status_text(view, 0))  # the parts always kept (the name), alone
        tail = next((tail for tail in tails if width - len(tail) >= least), tails[-1])
    space = width - len(tail)
    if space < 0:
        return fit(cells(status_text(view, width), STATUS), width, STATUS)
    return fit(fit(cells(status_text(view, space), STATUS), space, STATUS) + tail, width, STATUS)


def title_text(view: View) -> str:
    """The terminal window's title: the unread direct messages first, so they show in a tab."""
    session = view.session
    unread = getattr(session, "unread_directs", 0)
    title = f"lanchat: {session.name}"
    return f"({unread}) {title}" if unread else title


# A turn-based room's prompt while the connection is down, and its short form where it would take
# more than half the row (a 40-column window read "[waiting for the …]", which said nothing).
OFFLINE_PROMPT, OFFLINE_PROMPT_SHORT = "[waiting for the server] ", "[offline] "


def prompt_text(view: View) -> tuple[str, Style]:
    session = view.session
    if chat_over(session):
        return "> ", PROMPT
    if session.mode == "turn" and offline(session):  # whose turn it is comes with the connection (as the status line)
        return OFFLINE_PROMPT, PROMPT_WAIT
    if session.mode == "turn" and not session.my_turn:
        return f"[waiting for {visible(session.waiting_for())}] ", PROMPT_WAIT
    if social.answers_go_to_bot(session):
        return "[to colourbot] ", DIRECT_TAG
    return "> ", PROMPT


def _input(view: View, width: int) -> tuple[list[Cell], int]:
    """The input row and the cursor's column on it; the text scrolls sideways to keep the
    cursor in sight, by half a width at a time so it does not jitter."""
    prompt, prompt_style = prompt_text(view)
    editor = view.editor
    text, cursor = editor.text, editor.cursor
    if editor.search is not None:  # Ctrl-R: what is searched for, then the line sent it found
        prompt, prompt_style = f"(sent, search: {visible(editor.search)}) ", SEARCH_PROMPT
        text = editor.search_match
        cursor = len(text)
    if prompt == OFFLINE_PROMPT and len(prompt) > width // 2:
        prompt = OFFLINE_PROMPT_SHORT
    prompt_cells = cells(prompt, prompt_style)
    if len(prompt_cells) > width // 2:
        # "[waiting for Bartholo…] ": a bracketed prompt keeps its closing bracket, so the
        # typed text does not run on from a name cut short
        tail = cells("] ", prompt_style) if prompt.endswith("] ") else []
        cut = fit(prompt_cells[: len(prompt_cells) - len(tail)], max(0, width // 2 - 1 - len(tail)), prompt_style)
        prompt_cells = cut + [("\u2026", prompt_style)] + tail
    text_cells: list[Cell] = []
    cursor_col = 0
    under_cursor = 1  # the columns the character under the cursor takes (the end: one)
    index = 0
    for cluster in iter_graphemes(text):  # the cursor only ever sits between clusters
        if index <= cursor:
            cursor_col = len(text_cells)
        shown_cells = cells(visible(cluster), PLAIN)
        if index == cursor:
            under_cursor = min(2, len(shown_cells))
        text_cells += shown_cells
        index += len(cluster)
    if cursor >= len(text):
        cursor_col = len(text_cells)
    room = width - len(prompt_cells)
    if room <= 1:
        return fit(prompt_cells, width), min(width - 1, len(prompt_cells))
    offset = 0
    last = cursor_col + under_cursor - 1  # a wide character under the cursor is shown whole
    if last >= room:
        step = max(1, room // 2)
        offset = ((last - room) // step + 1) * step
    shown = text_cells[offset : offset + room]
    if shown and shown[0][0] == "":  # we cut a wide character in half
        shown[0] = ("<", TIME)
    if offset > 0 and shown:
        shown[0] = ("<", TIME)
        if len(shown) > 1 and shown[1][0] == "":  # the marker replaced a wide character's left half
            shown[1] = (" ", PLAIN)
    row = fit(prompt_cells + shown, width)
    return row, min(width - 1, len(prompt_cells) + cursor_col - offset)


def too_small_lines(rows: int, cols: int) -> list[str]:
    """What a window too small for the chat says, each line whole within ``cols``: the longest
    wording that fits ("window too small", down to "small" and "!"), what is needed, what there
    is; on fewer rows, in one line if it fits, else the most useful lines first."""
    wordings = (
        ("window too small", "too small", "small", "!"),
        (f"need {MIN_COLS}x{MIN_ROWS}", f"{MIN_COLS}x{MIN_ROWS}"),
        (f"now {cols}x{rows}", f"{cols}x{rows}"),
    )
    lines = []
    for choices in wordings:
        fitting = next((text for text in choices if len(text) <= cols), None)
        if fitting:
            lines.append(fitting)
    if rows < len(lines):
        one_line = f"{lines[0]}: {', '.join(lines[1:])}"
        return [one_line] if rows >= 1 and len(one_line) <= cols else lines[: max(0, rows)]
    return lines


def _too_small(rows: int, cols: int) -> Frame:
    message = too_small_lines(rows, cols)
    out = []
    top = max(0, (rows - len(message)) // 2)
    for index in range(rows):
        text = message[index - top] if 0 <= index - top < len(message) else ""
        pad = max(0, (cols - len(text)) // 2)
        out.append(text_row(" " * pad + text, TOO_SMALL, cols))
    return Frame(rows=out, cursor=None, max_scroll=0, transcript_rows=0)


def render(view: View, rows: int, cols: int) -> Frame:
    """The whole screen: transcript (and roster pane), status line, input line."""
    rows, cols = max(0, rows), max(0, cols)
    if rows < MIN_ROWS or cols < MIN_COLS:
        return _too_small(rows, cols)
    height = rows - 2
    if view.roster_visible(cols):
        pane = roster_width(cols)
        main_width = cols - pane - 1
        transcript, max_scroll, reached_bottom = _transcript(view, height, main_width)
        roster = _roster(view, height, pane)
        body = [t + [("\u2502", PANE_EDGE)] + r for t, r in zip(transcript, roster, strict=True)]
    else:
        body, max_scroll, reached_bottom = _transcript(view, height, cols)
    input_row, cursor_col = _input(view, cols)
    # as View.clamp will take it: scrolled up only as far as the transcript goes
    moved = not reached_bottom if view.top is not None else min(view.scroll, max_scroll) > 0
    return Frame(
        rows=[*body, _status(view, cols, moved), input_row],
        cursor=(rows - 1, cursor_col),
        max_scroll=max_scroll,
        transcript_rows=height,
        reached_bottom=reached_bottom,
    )


def transcript_width(view: View, cols: int) -> int:
    """How wide the transcript pane is at ``cols`` (the screen uses it to measure lines)."""
    return cols - roster_width(cols) - 1 if view.roster_visible(cols) else cols
