"""projector.py: what a screen the class can see shows of a direct message: who wrote to whom,
never what. Pure: a rule on transcript lines; no terminal, no I/O, and the lines keep their text.

The host's screen is usually on the projector, so ``/w teacher I'm stuck`` would show to the whole
class, and so would last lesson's direct messages in the replay after a restart. Projector mode
(``/projector``, ``serve --projector``, ``connect --projector``: ``Session.projector``) draws each
transcript line through ``shown``: a direct message, live or replayed, becomes a placeholder with
its time and names, and its text stays in the transcript, so turning the mode off shows it again
in place. A file offered to one person shows without its name (``Line.private``), in the lines
about its transfer too, the server's among them ("NAME arrived damaged": client_files.hide_names),
and so does its transfer in the status line (``shown_progress``). ``/save``
writes the real lines (a file is not on the projector); ``/find`` searches what is shown. The bell
and the window title never carried a message's text (a count at most).
"""

from __future__ import annotations

from dataclasses import replace

from ..events import name_key
from ..files import Progress
from ..session import ALIASES, Line, Session

HIDDEN_TEXT = "(hidden: /projector to show)"  # in place of a direct message to you (or between others)
HIDDEN_OWN_TEXT = "(hidden)"  # in place of one you sent: you know how to show it


def is_direct(line: Line) -> bool:
    """A direct message: live (kind "direct", our own copies included) or replayed from the
    history (kind "history" with the name it went ``to``)."""
    return line.kind == "direct" or (line.kind == "history" and line.to is not None)


def hides(line: Line) -> bool:
    """Does projector mode draw ``line`` otherwise than it is (``hidden``)?"""
    return line.private is not None or is_direct(line)


def hidden(line: Line, me: str) -> Line:
    """``line`` as projector mode shows it: a direct message keeps its kind, time and names and
    loses its text (and the colour bot's swatch, which is part of it); a line with a ``private``
    form (a file offered to one person: its name) shows that; any other line as it is."""
    if line.private is not None:
        return replace(line, text=line.private)
    if not is_direct(line):
        return line
    mine = line.sender is not None and name_key(line.sender) == name_key(me)
    return replace(line, text=HIDDEN_OWN_TEXT if mine else HIDDEN_TEXT, colour=None)


def shown(line: Line, session: Session) -> Line:
    """What a screen shows of ``line`` now: hidden while ``session.projector`` is on."""
    return hidden(line, session.name) if session.projector else line


# What a typed line starting with one of these says is for one person: a direct message, a reply,
# the colour bot's private exchange (its answers are direct messages); /send PATH NAME too.
PRIVATE_COMMANDS = frozenset({"/w", "/r", "/mood", "/y", "/n"})


def typed_privately(text: str) -> bool:
    """Is a line typed (or sent) for one person? The input line's recall (Up, Ctrl-R) passes over
    such lines in projector mode (screen.py): a teacher's `/w bob your mark is 12` came back on
    the projector with a press of Up. A paste of commands goes line by line but is recalled as
    one, so any of its lines for one person (`/who` above `/w bob ...`) keeps all of it off."""
    return any(_one_line_private(line) for line in text.split("\n"))


def _one_line_private(text: str) -> bool:
    """Does one line typed start with a command for one person?"""
    word, _, rest = text.strip().partition(" ")
    word = ALIASES.get(word.lower(), word.lower())
    if word == "/send":
        import shlex

        try:
            return len(shlex.split(rest)) == 2
        except ValueError:
            return False  # an open quote: the session sends it as one path, to the room
    return word in PRIVATE_COMMANDS


def shown_progress(progress: object, session: Session) -> object:
    """A transfer as the status line shows it now: one of a file offered to one person with its
    ``private`` label (not its name) while ``session.projector`` is on; any other as it is."""
    if session.projector and isinstance(progress, Progress) and progress.private is not None:
        return replace(progress, label=progress.private)
    return progress
