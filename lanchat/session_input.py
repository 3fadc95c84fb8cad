"""session_input.py: what one participant typed -> what to do: a message or a command for the
server (``Outgoing``), leaving (``Quit``), lines shown here only (``Local``), a command for the
front end (``UiCommand``: /clear, /save) or for the client's transfer edge (``FileCommand``).
Pure functions of a Session; never does I/O.

``Session.parse_input(text)`` comes here. The commands of IRC habit (/me, /nick, /away, /topic,
/r, /ignore, /joins, /projector, /q) are read in session_social.py, the moderation commands
(/kick, /ban, /mute, /op, /mode, /pass ...) in session_moderation.py; the /help rows are
session.COMMANDS.
"""

from __future__ import annotations

import re
from dataclasses import replace

from . import events as ev
from . import session_moderation as moderation
from . import session_social as social
from .colourbot import BOT_NAME, START_COMMAND
from .session import (
    ALIASES,
    COMMANDS,
    HELP,
    UNKNOWN_COMMAND,
    FileCommand,
    InputResult,
    Line,
    Local,
    Outgoing,
    Session,
    UiCommand,
    Unsend,
)
from .wording import WHISPER_TO_ONESELF, as_command, closest_command

# A line that answers /q's question ("type /q again to close it") as people answer a question:
# sent, a teacher's "y" went to the whole class and the chat went on. Yes closes, as /q again
# would (they typed /q a moment ago); no goes on. Neither is sent. Only the very next line.
ANSWER_YES = frozenset({"y", "yes"})
ANSWER_NO = frozenset({"n", "no"})


def parse_input(session: Session, text: str) -> InputResult:
    """What the user typed -> what to do. Empty input does nothing (seed 001)."""
    armed = session.quit_armed
    answer = text.strip().rstrip("!.").lower() if armed else ""
    if answer in ANSWER_NO:
        session.quit_armed = False
        return Local((session._notice(f"{text.strip()!r} answered /q's question, not sent: the chat goes on"),))
    result = _parse_input(session, "/q" if answer in ANSWER_YES else text)
    if armed:
        session.quit_armed = False  # the confirmation is for the very next line only
    if isinstance(result, Outgoing) and isinstance(result.event, (ev.Say, ev.Whisper)):
        session.unread_directs = 0  # you answered: what came before has been seen
        session.typing_sent = float("-inf")  # and the next message's first hint goes at once
        # a hint noted while this line was typed would reach the others after it, and
        # show "is typing" for seconds after the message: the message ends the typing
        session.pending = [event for event in session.pending if not isinstance(event, ev.Typing)]
    if isinstance(result, Outgoing) and isinstance(result.event, (ev.Say, ev.Whisper, ev.Me)):
        problem = session.length_problem(result.event.text)
        if problem:  # every message, /w and /mood included, is checked here once
            return Local((replace(session._notice(problem, kind="error"), give_back=text),))  # the full screen keeps it
    return result


# A paste copied with the line break before it (or an empty, indented line after it) sent those
# blank lines too: the room read "ann: ↵hello". Whole blank lines go; the first line's own indent
# (a pasted code block's) stays, and a paste of nothing but blank lines is no message (seed 001).
_BLANK_LINES_BEFORE = re.compile(r"\A(?:[ \t]*\r?\n)+")
_BLANK_LINES_AFTER = re.compile(r"(?:\r?\n[ \t]*)+\Z")


def _parse_input(session: Session, text: str) -> InputResult:
    text = _BLANK_LINES_AFTER.sub("", _BLANK_LINES_BEFORE.sub("", text))
    stripped = text.strip()
    if not stripped:
        return None
    stripped = as_command(stripped)
    if not stripped.startswith("/") or stripped.startswith("//"):
        # "//text" sends "/text" literally, for the rare message that starts with a slash
        body = text[1:] if stripped.startswith("//") else text
        if social.answers_go_to_bot(session):
            return Outgoing(ev.Whisper(to=BOT_NAME, text=body.strip()))
        return Outgoing(ev.Say(text=body.rstrip("\r\n")))
    word, _, rest = stripped.partition(" ")
    word = ALIASES.get(word.lower(), word.lower())
    rest = rest.strip()
    done = social.parse(session, word, rest)
    if done is not social.NOT_SOCIAL:
        return done  # type: ignore[return-value]
    if word == "/who":  # "/who ann" listed everyone, the name unread: /whois is the one about a person
        return Outgoing(ev.Who()) if not rest else session._usage("/who (everyone here); /whois NAME tells who one person is")
    if word == "/unsend":
        return Unsend() if not rest else Local((session._notice("usage: /unsend", kind="error"),))
    if word == "/help":
        return Local(tuple(help_lines(session, rest)))
    if word == "/address":
        if rest:  # "/address ann" printed ours as if it answered for ann
            return session._usage("/address (how others join this room)")
        lines = session.join_lines or (f"connected to {session.where or '?'}",)
        return Local(tuple(session._notice(line.strip(), kind="system") for line in lines))
    if word == "/history":
        return _history_request(session, rest)
    if word in ("/whois", "/release"):
        if not rest or " " in rest:
            return Local((session._notice(f"usage: {word} NAME", kind="error"),))
        return Outgoing(ev.WhoIs(name=rest) if word == "/whois" else ev.Release(name=rest))
    if word in ("/send", "/get", "/files", "/cancel"):
        return _file_command(session, word, rest)
    if word == "/w":
        target, _, message = rest.partition(" ")
        if not target or not message.strip():
            return Local((session._notice("usage: /w NAME TEXT", kind="error"),))
        if ev.name_key(target) == ev.name_key(session.name):  # given back: the name to mend, the text kept
            return Local((replace(session._notice(WHISPER_TO_ONESELF, kind="error"), give_back=text),))
        return Outgoing(ev.Whisper(to=target, text=message.strip()))
    if word in (START_COMMAND, "/y", "/n"):
        return social.to_colourbot(session, word, rest)
    if word[1:] in ev.MOD_ACTIONS:
        return moderation.parse_moderation(session, word[1:], rest)
    for command in session.ui_commands:
        if word == command.name:
            return UiCommand(name=word, argument=rest)
    # given back, as a line too long is: a mistyped command to mend, or a paste of lines that
    # start with '/' and are not all commands (paths, a poem), whole (the full screen keeps it)
    return Local((replace(session._notice(_unknown(session, word), kind="error"), give_back=text, code=UNKNOWN_COMMAND),))


def _unknown(session: Session, word: str) -> str:
    """What a mistyped command is told: the closest real one, when one is close. A paste's
    first word runs to its first space, over line breaks: the first of its words that is no
    command is named, not all of them."""
    known = set(session.command_words())
    word = next((part for part in word.split() if ALIASES.get(part, part) not in known), word.split()[0])
    guess = closest_command(word, session.command_words())
    return f"unknown command {word}; {f'did you mean {guess}? ' if guess else ''}/help lists them"


def _history_request(session: Session, rest: str) -> InputResult:
    """/history [N]: the N entries before the oldest one shown so far."""
    if rest and (not rest.isdecimal() or len(rest) > 6 or not 1 <= int(rest) <= ev.MAX_HISTORY_REQUEST):
        return Local((session._notice(f"usage: /history [N], N from 1 to {ev.MAX_HISTORY_REQUEST}", kind="error"),))
    if session.history_before is None and session.history_from_join:
        return Local((session._notice("no earlier history: the room kept nothing from before you joined"),))
    session.history_asked = True
    return Outgoing(ev.HistoryRequest(limit=int(rest) if rest else 50, before=session.history_before))


def help_lines(session: Session, asked: str = "") -> list[Line]:
    """/help: every command and key; ``asked`` (``/help send``, ``/help keys``): that one's row,
    as /help shows it, or the keys."""
    rows = [*COMMANDS, *session.ui_commands]
    width = max(len(c.usage) for c in rows)
    lines = [replace(session._notice("commands:", kind="system"), code=HELP)]
    lines += [replace(session._notice(f"  {c.usage:<{width}}  {c.help}", kind="system"), hang=width + 4) for c in rows]
    lines.append(session._notice("  anything else is sent to the room", kind="system"))
    if session.ui_keys:
        key_width = max(len(key) for key, _ in session.ui_keys)
        lines.append(replace(session._notice("keys:", kind="system"), code=HELP))
        lines += [replace(session._notice(f"  {key:<{key_width}}  {what}", kind="system"), hang=key_width + 4) for key, what in session.ui_keys]
    asked = (asked.split() or [""])[0]
    if not asked:
        return lines
    if asked.lower() == "keys":  # a script's lines are no keys: say so, not "no command /keys"
        return lines[len(rows) + 2 :] if session.ui_keys else [
            session._notice("no keys here: the input is not a terminal, and each line read is one message or command", kind="system")
        ]
    word = "/" + asked.lstrip("/\\").lower()
    word = ALIASES.get(word, word)
    for index, row in enumerate(rows):
        if word in (row.name, *row.also):
            return [lines[index + 1]]
    guess = closest_command(word, session.command_words())
    return [session._notice(f"no command {word}; {f'did you mean {guess}? ' if guess else ''}/help lists them", kind="error")]


# ----------------------------------------------------------------- file sharing


def _file_command(session: Session, word: str, rest: str) -> InputResult:
    """/send PATH [NAME], /get ID, /files. Paths with spaces go in quotes."""
    if word == "/files":
        return Outgoing(ev.ListFiles())
    if word == "/cancel":
        file_id = rest.strip().lstrip("#")
        if " " in file_id:
            return Local((session._notice("usage: /cancel [ID] (without ID: every transfer of yours)", kind="error"),))
        return FileCommand(name="cancel", file_id=file_id)
    if word == "/get":
        file_id = rest.lstrip("#")
        if not file_id or " " in file_id:
            return Local((session._notice("usage: /get ID (/files lists what is on offer)", kind="error"),))
        return FileCommand(name="get", file_id=file_id)
    import shlex

    try:
        words = shlex.split(rest)
    except ValueError:
        words = [rest] if rest else []
    if not words or len(words) > 2 or not all(words):  # '/send ""': no path, not the current folder
        return Local((session._notice('usage: /send PATH [NAME]  (put a path with spaces in quotes: /send "my file.txt")', kind="error"),))
    return FileCommand(name="send", path=words[0], to=words[1] if len(words) == 2 else None)
