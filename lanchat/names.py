"""names.py: the one rule for names: which names may be used, and when two names are one. Pure.

Two names are the same person's when their keys are equal (docs/PROTOCOL.md 5.2). The key is
built in the spirit of Unicode TR39 (Security Mechanisms), section 4, "confusable detection":

1. NFKC: compatibility forms fold to plain ones (``ａｌｉｃｅ`` -> ``alice``, ``ﬁ`` -> ``fi``);
2. case folding: ``Alice`` -> ``alice``;
3. a confusable skeleton: each character that looks like another is replaced by one chosen
   member of its look-alike set (Cyrillic ``а`` -> Latin ``a``, ``1`` and ``I`` -> ``l``).

So ``Alice``, ``ａｌｉｃｅ`` and ``аlice`` (Cyrillic а) are one name and only one of them can be
in the room. Case folding before the skeleton lets a capital that draws as another letter escape
(``haI``, a capital i, keys as ``hai``), so names are also compared as drawn (``look_key``: the
skeleton with the case kept, and in capitals: ``look_keys``, so ``ΤΕΑCΗΕR`` in Greek capitals is
``Teacher``); the room and the gate refuse a name equal to another by any. The look-alike sets come from the Unicode confusables data as shipped by the
``confusable_homoglyphs`` package (its ``confusables.json``). Only one-character look-alikes are
used: TR39 also maps ``m`` to ``rn``, which would make ``tom`` and ``torn`` one name.
The table built from it ships as ``skeleton_table.py`` (tools/make_skeleton_table.py writes it;
a test checks it is current) and is loaded on the first name that is not ASCII: ASCII names need
only its five ASCII entries, so a server whose room is all ASCII never holds the rest.

Invisible characters (zero-width spaces and joiners, bidi controls, tag characters
U+E0000-U+E007F, variation selectors, Hangul fillers...) are refused in names outright, with
the character named in the reason: two names that differ only by one would look the same.
So are brackets of every kind (``holds_bracket``): the room marks a name with words in
brackets after it (``ann (host)``, ``bob (op)``, ``(away)``), and ``bob（op）`` in full width
read as an operator to the whole class.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

MAX_NAME_CHARS = 32
NOTICE_CHAR = "!"  # in wording.NOTICE_MARK ("-!-"), and so in no name: see name_problem

# Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt), which
# unicodedata does not expose, plus characters that draw as blank space (U+2800 BRAILLE
# PATTERN BLANK, U+3000 is whitespace already). These draw nothing, so a name holding one
# would look exactly like the name without it.
INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x115F, 0x1160),  # Hangul choseong/jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero width space, non-joiner, joiner; LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated formats
    (0x2800, 0x2800),  # braille pattern blank
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero width no-break space (byte order mark)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned specials
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE0FFF),  # tag characters (U+E0000-E007F), variation selectors supplement
)


def joins_previous(ch: str) -> bool:
    """Whether the one character ``ch`` is drawn onto the character before it instead of in a
    column of its own: a combining mark (category M: an accent, a Devanagari vowel sign) or a
    Hangul vowel or final jamo (U+1160-U+11FF, U+D7B0-U+D7FF: each joins the syllable before
    it). First in a name it would sit on whatever is drawn before the name, and the name would
    look like the rest of it (U+0301 then ``ann`` draws as ``ann``)."""
    return unicodedata.category(ch)[0] == "M" or "\u1160" <= ch <= "\u11ff" or "\ud7b0" <= ch <= "\ud7ff"


def is_invisible(ch: str) -> bool:
    """Whether the one character ``ch`` draws nothing at all (see INVISIBLE_RANGES)."""
    code = ord(ch)
    return any(low <= code <= high for low, high in INVISIBLE_RANGES)


def describe(ch: str) -> str:
    """``U+200B ZERO WIDTH SPACE``: a character named so a reader can tell which it was."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be used (docs/PROTOCOL.md 5.2), or None when it is fine.

    1 to 32 printable characters, no whitespace, nothing invisible, not starting with ``/``,
    no ``!`` nor anything drawn like it (``！``, ``ǃ``: by the key), no bracket of any kind
    (``holds_bracket``); whether it is taken is the room's business (compared by ``name_key``).
    """
    if not name:
        return "a name needs at least one character"
    if len(name) > MAX_NAME_CHARS:
        return f"a name has at most {MAX_NAME_CHARS} characters"
    if any(ch.isspace() for ch in name):
        return "a name cannot contain spaces"
    if not name.isascii():
        hidden = next((ch for ch in name if is_invisible(ch)), None)
        if hidden is not None:
            return f"a name cannot hold invisible characters ({describe(hidden)})"
        if joins_previous(name[0]):
            return f"a name cannot start with a character that joins the one before it ({describe(name[0])})"
    if not name.isprintable():
        return "a name can only hold printable characters"
    if name.startswith("/"):
        return "a name cannot start with /"
    key = name_key(name)
    if not key:
        return "a name needs at least one visible character"
    if NOTICE_CHAR in key:
        # IRC nicknames hold no "!" either. lanchat marks what the room says with "-!-"
        # (wording.NOTICE_MARK): a name holding it would start a line that reads as one.
        return "a name cannot contain ! (lanchat marks its own notices with -!-)"
    if reads_as_ban_number(name):
        return "a name cannot be # and a number (/unban #N means the ban /bans numbers N)"
    bracket = holds_bracket(name)
    if bracket is not None:
        # the character itself first (a screen reader reads "U+0029" as digits), then its name
        return f"a name cannot hold brackets such as '{bracket}' ({describe(bracket)}): lanchat marks names with them, as in 'ann (host)'"
    return None


# ASCII's open and close punctuation (Unicode categories Ps and Pe): the brackets of a name
# that is all ASCII, answered without Unicode's tables
ASCII_BRACKETS = frozenset("()[]{}")
BRACKET_CATEGORIES = ("Ps", "Pe")


def holds_bracket(name: str) -> str | None:
    """The first character of ``name`` that is a bracket, or None (docs/PROTOCOL.md 5.2).

    The roster and /who mark a name with words in brackets after it (``bob (op)``, ``ann
    (host)``, ``(away)``, ``(turn)``), and names hold no spaces, so ``bob(op)`` differs from an
    operator's row by one blank column: on a projector, none. Refused with it: every character
    that is Unicode's open or close punctuation (categories Ps and Pe: ``[``, ``{``, ``「``,
    ``⟮``), is one in its compatibility form (NFKC: ``（`` full width, ``﹙`` small, ``⁽``
    superscript, ``₍`` subscript, ``⑴`` parenthesized digit one) or is drawn like one (the
    look-alike keys: ``❨``). A category, not a list of look-alikes: Unicode holds some 300 of
    them, a dozen drawn round that neither NFKC nor the confusables data folds to ``(``."""
    if name.isascii():
        return next((ch for ch in name if ch in ASCII_BRACKETS), None)
    return next((ch for ch in name if _is_bracket(ch)), None)


@lru_cache(maxsize=1024)
def _is_bracket(ch: str) -> bool:
    if ch.isascii():
        return ch in ASCII_BRACKETS
    forms = (ch, unicodedata.normalize("NFKC", ch), name_key(ch), *look_keys(ch))
    return any(unicodedata.category(part) in BRACKET_CATEGORIES for form in forms for part in form)


def reads_as_ban_number(name: str) -> bool:
    """Does ``name`` read as ``#`` and a number, as ``/unban #N`` names a ban by its number:
    digits of any script, or characters drawn like digits (``#l``, ``＃12``, ``#I0``)?"""
    drawn = look_key(name)
    if len(drawn) < 2 or drawn[0] != "#":
        return False
    return name[1:].isdecimal() or all(ch in _DIGITS_DRAWN for ch in drawn[1:])


_DIGITS_DRAWN = frozenset("0l23456789")  # look_key of each ASCII digit ("1" draws as "l")


def _prototype_rank(ch: str) -> tuple[int, int]:
    """Which member of a look-alike set stands for the set: a lower-case ASCII letter if there
    is one, then an ASCII digit, other ASCII, a letter, anything; ties go to the lowest code
    point. So keys of Latin look-alikes read like the plain Latin name."""
    if ch.isascii():
        order = 0 if ch.islower() else 1 if ch.isdigit() else 2
    else:
        order = 3 if ch.isalpha() else 4
    return (order, ord(ch))


def build_skeleton_table() -> dict[int, str]:
    """Every character of a look-alike set -> the set's chosen member, from the Unicode data.

    The data lists, for each character, the characters it can be mistaken for. Sets are
    joined transitively (union-find), which is how TR39 builds them (one prototype each).
    The server does not run this: it reads the same table, generated from it by
    tools/make_skeleton_table.py, from ``skeleton_table.py`` (tests/test_names.py checks the
    two agree, so the shipped table cannot drift from this rule)."""
    import json
    from importlib import resources

    text = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    data: dict[str, list[dict[str, str]]] = json.loads(text)
    parent: dict[str, str] = {}

    def root(ch: str) -> str:
        while parent.get(ch, ch) != ch:
            parent[ch] = parent.get(parent[ch], parent[ch])  # halve the path
            ch = parent[ch]
        return ch

    for source, glyphs in data.items():
        if len(source) != 1:
            continue
        for glyph in glyphs:
            # right-to-left glyphs are wrapped in U+200E marks in this data; strip them
            other = glyph["c"].replace("\u200e", "")
            if len(other) != 1:
                continue  # many-character look-alikes (m -> rn) are left out: see the docstring
            a, b = root(source), root(other)
            if a != b:
                if _prototype_rank(a) <= _prototype_rank(b):
                    parent[b] = a
                else:
                    parent[a] = b
    return {ord(ch): root(ch) for ch in sorted(parent) if root(ch) != ch}


# The part of the table an ASCII name can meet (an ASCII look-alike set's prototype is ASCII,
# see _prototype_rank), so ASCII names never load the rest; tests/test_names.py checks it is
# exactly the full table's ASCII part.
ASCII_SKELETON = str.maketrans({"1": "l", "I": "l", "|": "l", "O": "0", "`": "'"})


@lru_cache(maxsize=1)
def _skeleton_table() -> dict[int, int]:
    """The whole look-alike table, loaded on the first name or text that is not ASCII (about
    0.6 MiB; building it from the Unicode data at start left 7 MiB of heap behind)."""
    from .skeleton_table import PROTOTYPES, SOURCES

    return str.maketrans(SOURCES, PROTOTYPES)


def _fold(name: str) -> str:
    if name.isascii():  # NFKC leaves ASCII alone and its case fold is lower()
        return name.lower().translate(ASCII_SKELETON)
    return unicodedata.normalize("NFKC", name).casefold().translate(_skeleton_table())


def _settled(name: str) -> str:
    # Folding can produce a character that folds further (a capital prototype that case-folds,
    # a case fold that has a look-alike): repeat until nothing changes, so keys are stable.
    key = _fold(name)
    for _ in range(4):
        again = _fold(key)
        if again == key:
            break
        key = again
    return key


_key = lru_cache(maxsize=4096)(_settled)  # bounded: a flood of new names evicts old ones


def look_key(name: str) -> str:
    """The form two names are compared in as drawn, case kept: NFKC and the look-alike skeleton
    without case folding. ``name_key`` folds case first, so a capital that draws as another
    letter escapes it (``haI``, a capital i, keys as ``hai``; ``Olga`` as ``olga`` but ``0lga``
    as ``0lga``); here ``haI`` and ``hal`` meet, as ``Olga`` and ``0lga`` do. Two names are kept
    apart only when both keys differ (room.name_refused, gate.Gate.refusal)."""
    if name.isascii():
        return name.translate(ASCII_SKELETON)
    table = _skeleton_table()
    # The skeleton before NFKC too: NFKC turns a character into the one it stands for, not the
    # one it draws as (the lunate sigma "Ϲ" draws as C, and NFKC makes it "Σ").
    return unicodedata.normalize("NFKC", name.translate(table)).translate(table)


def look_keys(name: str) -> tuple[str, ...]:
    """The forms a name is compared in as drawn (``look_key``): as typed, and in capitals. A name
    of Greek capitals (``ΤΕΑCΗΕR``) draws as ``TEACHER``, which is ``Teacher`` in capitals, yet
    neither key meets it: ``name_key`` folds the Greek to small Greek letters, which draw as no
    Latin ones, and ``look_key`` keeps ``Teacher``'s small letters. In capitals the two meet.
    Capitals alone would not do: ``haI`` and ``hal`` differ there (``HAI``, ``HAL``)."""
    drawn, capitals = look_key(name), look_key(name.upper())
    return (drawn,) if capitals == drawn else (drawn, capitals)


# The most code points a name can be spelled in: NFKC composes at most four into one (U+1F8F,
# a Greek capital alpha with three marks), and folding drops none. Longer text is nobody's name,
# and keying it costs the server: a frame of U+FDFA, which NFKC makes 18 letters each, took
# 150 ms to key, and a whisper to it (or a /whois, a file offered to it) keyed it three times,
# while the whole room waited. A lookup answers "nobody" for it unkeyed (``could_be_a_name``).
LONGEST_SPELLING = 4 * MAX_NAME_CHARS


def could_be_a_name(text: str) -> bool:
    """Whether some name could be spelled ``text`` (``LONGEST_SPELLING``): what a lookup asks first."""
    return len(text) <= LONGEST_SPELLING


def name_key(name: str) -> str:
    """The form names are compared in: ``Alice``, ``ａｌｉｃｅ`` and ``аlice`` give one key."""
    if len(name) > LONGEST_SPELLING:
        return text_key(name)  # long text (a message searched for mentions) is not cached
    return _key(name)


# A long text's key, folded a piece at a time. A client keys every message to find its own name
# in it (session.mentions_me): 4,000 U+FDFA, 72,000 letters under NFKC, took 15 ms to fold twice
# over, per message, per screen, and 30 of them 0.6 s to show. Folding is done one character at
# a time (case folding and the skeleton are; NFKC too, except that it joins a mark, or a Hangul
# vowel, onto what comes before), so a text cut before each character that starts afresh (its
# NFKD's first character joins nothing: names.joins_previous) folds as its pieces do, and a
# piece repeated is folded once: all distinct pieces in one string, split again after each fold.
_PIECES_APART = "\x00"  # folds to itself, joins nothing, joins onto nothing


@lru_cache(maxsize=4096)  # bounded: a text's distinct characters, each asked once
def _starts_afresh(ch: str) -> bool:
    return not joins_previous(unicodedata.normalize("NFKD", ch)[0])


def _apart(key: str, count: int) -> list[str] | None:
    """The ``count`` pieces of ``key`` folded together, if each still starts afresh (else the
    next fold could join one onto the piece before it, as it would not in the text)."""
    apart = key.split(_PIECES_APART)
    firsts = {part[:1] for part in apart} - {""}
    return apart if len(apart) == count and all(map(_starts_afresh, firsts)) else None


def text_key(text: str) -> str:
    """``_settled(text)``, the same key (tests/test_names.py proves it on odd texts), at the cost
    of its distinct pieces: a text of one character repeated is folded as one character is."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text) or 4 * len(set(text)) > len(text):
        # nothing NFKC lengthens (ASCII folds by lower() and a small table), or little repeated
        # to save folding again: the plain way costs no more
        return _settled(text)
    afresh = {ch for ch in set(text) if _starts_afresh(ch)}
    if text[0] not in afresh or _PIECES_APART in text:
        return _settled(text)  # a mark first (nothing before it to join), or our separator: the plain way
    if len(afresh) == len(set(text)):
        pieces = list(text)  # every character a piece of its own
    else:
        cuts = [at for at, ch in enumerate(text) if ch in afresh]
        pieces = [text[start:end] for start, end in zip(cuts, [*cuts[1:], len(text)], strict=True)]
    distinct = list(dict.fromkeys(pieces))
    if 2 * len(distinct) > len(pieces):
        return _settled(text)  # few pieces repeated: folding them apart would save nothing
    key = _fold(_PIECES_APART.join(distinct))
    for _ in range(4):  # as _settled: until nothing changes
        if _apart(key, len(distinct)) is None:
            return _settled(text)  # a piece folded into one that joins the one before: the plain way
        again = _fold(key)
        if again == key:
            break
        key = again
    apart = _apart(key, len(distinct))
    if apart is None:
        return _settled(text)
    folded = dict(zip(distinct, apart, strict=True))
    return "".join(map(folded.__getitem__, pieces))

