"""wording.py: facts about the room said alike to every participant: on lanchat's screen
(session.py) and to a person at nc (textview.py). Pure, and small, so a server that words
lines for text participants does not load the client's session to do it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from . import events as ev
from .colourbot import BOT_NAME

# How alike a mistyped command must be to a real one to be suggested (difflib's ratio): /hlep
# and /quti (0.75) are, /dance and /cancel (0.73) are not.
SUGGEST_CUTOFF = 0.75

# What starts a line the room or lanchat itself says (a join, the turn, a moderation act, the
# topic, an answer to /help), in --plain, to nc and on the screen: irssi's "-!-". A /me is IRC's
# action, "* NAME text". The two never meet: "-!-" holds "!", which no name may hold
# (names.name_problem), so no name, no /me and no message can start a line with it, nor make
# a notice of "* the server shut down: ..." (a /me by "the"), which is an action's look now.
NOTICE_MARK = "-!-"
ACTION_MARK = "*"
# a left with reason "moved" (a takeover: the same person joined again): one line, no "joined" after it
MOVED = "moved to another window"
# ... and when it was their own connection coming back (a Wi-Fi blip, a laptop woken up): the
# server had not yet noticed the old one was gone (left's ``rejoined``, PROTOCOL.md Rejoining)
RECONNECTED = "reconnected"
# Said under the welcome of a room of the first release (protocol version 1), which refused our
# version 2 so that we joined as a version-1 client does (cli/rejoin._join_retrying): what differs.
OLD_ROOM_NOTE = ("this room runs an older lanchat (protocol version 1): you joined it as a guest, without your key, "
                 "so your name is not kept for you there, and newer commands get 'unknown'; the host can update lanchat")


def moved_words(left: ev.Left) -> str:
    """What a ``moved`` left says after the name: a rejoin of the same session is no new window."""
    return RECONNECTED if left.rejoined else MOVED


def joined_words(joined: ev.Joined) -> str:
    """What a joined says after the name: the session's own rejoin, after "lost connection", is no newcomer."""
    return RECONNECTED if joined.rejoined else "joined"

# A whisper to one's own name: refused by the client before it goes, and by the server (code
# no-such-user, PROTOCOL.md 3.1.3: a whisper's own refusal) for any other client; it used to come back as a direct to oneself.
WHISPER_TO_ONESELF = "that is you: a whisper goes to someone else"

REMOVALS = frozenset({"kick", "ban"})  # moderation acts that take someone out of the room

_BOT_KEY = ev.name_key(BOT_NAME)


def is_bot(name: str, bots: Collection[str] = ()) -> bool:
    """One of the server's own bots, not a person: flagged so by the server (``bots``: name keys,
    from welcome, joined and roster; PROTOCOL.md, The colour bot), or, from a server that does
    not flag them, named as the colour bot (a name no person may take there either)."""
    key = ev.name_key(name)
    return key in bots or key == _BOT_KEY


def nobody_holds_the_turn(members: Iterable[str], host: str | None, bots: Collection[str] = ()) -> str:
    """Whom a turn room that nobody holds waits for: someone to join while only the host and
    bots are here; otherwise everyone here who could hold it is muted (PROTOCOL.md 7), and it
    waits for an unmute. Said alike by lanchat's screen and to a text participant (textview.py)."""
    host_key = ev.name_key(host) if host else None
    if all(ev.name_key(m) == host_key or is_bot(m, bots) for m in members):
        return "someone to join"
    return "an unmute"


def everyone_muted_note(host: str | None, me: str | None) -> str:
    """Why a turn room with people in it waits for an unmute, said for ``me``: the host is told
    what to do about it."""
    if host and me and ev.name_key(host) == ev.name_key(me):
        return "everyone else is muted: /unmute NAME, or /mode duplex"
    return f"everyone{' but the host' if host else ''} is muted"


# Other spellings of lanchat's commands, the same on lanchat's screen (session_input.py) and to a
# person at nc (textline.py): /clients, seed 004's word for /who, was "unknown command" at nc.
ALIASES = {"/msg": "/w", "/whisper": "/w", "/quit": "/q", "/exit": "/q", "/clients": "/who"}
# Seed 004's future work spells commands with a backslash (\quit, \clients, \clear): a line that
# is only one of these words is that command, on either side. Only whole one-word lines: "\w is a word
# character" stays a message about regular expressions.
BACKSLASH_COMMANDS = frozenset({"q", "quit", "exit", "clients", "who", "clear", "help"})


def as_command(line: str) -> str:
    """A whole line that is one of seed 004's backslash commands (``\\quit``, ``\\Clients``), spelled
    with a slash; any other line as it is."""
    if line[:1] == "\\" and line[1:].lower() in BACKSLASH_COMMANDS:
        return "/" + line[1:]
    return line


def is_quit(line: str) -> bool:
    """Whether a line typed is a way to leave: /q, /q!, /quit, /exit, seed 004's \\quit. At a name
    prompt it leaves too (cli/terminal.py, textline.py): seed 004's \\quit was taken for a name."""
    word = as_command(line.strip()).lower()
    return ALIASES.get(word, word) in ("/q", "/q!")


# What other chats and file tools call some commands, never close in spelling to lanchat's own:
# a newcomer's /share was "unknown command /share; /help lists them", with no word of /send.
OTHER_NAMES = {"share": "send", "offer": "send", "upload": "send", "download": "get", "fetch": "get", "dm": "w",
               "users": "who", "names": "who", "list": "who", "leave": "q", "part": "q", "bye": "q"}


def closest_command(word: str, commands: Iterable[str]) -> str | None:
    """The real command a mistyped ``word`` (``/hlep``) most likely meant (``/help``), or what
    another chat's word (``/share``) is here (``/send``), or None when none is close. Compared
    without the slash, which every command shares. Said alike on lanchat's screen (session_input.py)
    and to a person at nc (textline.py), where only the commands it has are offered."""
    import difflib  # only once someone mistypes: an idle server need not load it

    by_bare = {command.lstrip("/"): command for command in commands}
    if (ours := OTHER_NAMES.get(word.lstrip("/").lower())) in by_bare:
        return by_bare[ours]
    found = difflib.get_close_matches(word.lstrip("/").lower(), list(by_bare), n=1, cutoff=SUGGEST_CUTOFF)
    return by_bare[found[0]] if found else None


def member_marks(*, host: bool = False, op: bool = False, nc: bool = False, you: bool = False, turn: bool = False, away: str = "",
                 muted: str = "") -> str:
    """What the room says of one member after the name, in one bracket, the same words in the same
    order in the roster pane (ui/render.py), /who's answer (session_events.py) and a person's at nc
    (textview.py): " (host, you, turn, away: lunch, muted for 8 more minutes)", or "" for none.
    ``nc``: a text participant (welcome, joined and roster say who), who sees no offers and cannot /get.
    /who read "teach (host) (turn)" where the roster read "teach (host, you)". ``away`` is the
    reason ("away": /away alone, said as "away"); ``muted``, how long (Roster.mute_notes)."""
    marks = ("host" if host else "op" if op else "", "nc" if nc else "", "you" if you else "", "turn" if turn else "",
             ("away" if away == "away" else f"away: {away}") if away else "", muted)  # fmt: skip
    said = ", ".join(mark for mark in marks if mark)
    return f" ({said})" if said else ""


# The welcome names at most this many of the others here (in join order), then counts the rest,
# on lanchat's screen and at nc alike. A student late to a class of 25 read all 24 names: 7 rows
# of a 60x20 window, the replayed question pushed to its top (with 30, off it), and a screen
# reader said every name. /who lists all, in lanchat and at nc.
WELCOME_NAMED = 8


def here_words(others: list[str]) -> str:
    """Who the welcome says is here (``others`` not empty): ``teacher, amy, ... and 16 more (/who lists them)``."""
    if len(others) <= WELCOME_NAMED + 1:  # ("and 1 more" would say no less than the name)
        return ", ".join(others)
    return f"{', '.join(others[:WELCOME_NAMED])} and {len(others) - WELCOME_NAMED} more (/who lists them)"
