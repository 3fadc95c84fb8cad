"""session.py: one participant's view of the chat, shared by every front end. Never does I/O.

``Session.on_event(event)`` turns what the server sends into transcript ``Line``s and keeps
track of who is here, the mode and whose turn it is. ``Session.parse_input(text)`` turns
what the user typed into an ``Outgoing`` event, a ``Quit``, local lines, or a ``UiCommand``
for the front end (``/clear``, ``/save``).

Session keeps the state (its fields) and answers questions about it; the rules live in pure
functions of a Session, each module named for what it covers: session_events.py (what each
server event shows), session_input.py (what a typed line does), session_moderation.py (the
moderation commands and acts) and session_social.py (/me, /nick, /away, /topic, typing hints,
/r, /ignore, the host's /q). Rejoining, below, is what a session keeps across a lost connection.
"""

from __future__ import annotations

import functools
import math
import re
import time as _time
from dataclasses import dataclass, field, replace

from . import events as ev
from . import session_social as social
from .members import Members
from .wire import MAX_FRAME_BYTES
from .wording import ALIASES, everyone_muted_note, nobody_holds_the_turn


@dataclass(frozen=True, kw_only=True)
class Line:
    """One transcript entry. ``kind`` decides how it looks:
    message, own, direct, notice, error, history, system."""

    kind: str
    time: float
    text: str
    sender: str | None = None
    to: str | None = None
    mentions_me: bool = False
    colour: str | None = None  # "#RRGGBB" when a direct message carries a colour suggestion (colourbot)
    code: str | None = None  # an error's code (events.E_*), or TURN_CHANGED: front ends decide by it
    presence: Presence | None = None  # a join or leave notice: whom it is about (the screen folds bursts)
    give_back: str | None = None  # what was typed and not taken (offline, too many kept): back into the input line
    hang: int = 0  # a /help row: its description starts this many columns into text; the screen wraps it under there
    private: str | None = None  # what projector mode shows instead of text (a file offered to one person: ui/projector.py)
    # Composed by this client from many short parts (/who's answer, the welcome's "here:"): the
    # screen keeps it all, over several lines when long, where a server's text is cut (ui/view.py).
    composed: bool = False
    action: bool = False  # a replayed /me (kind "history"): "* ann waves", as the room showed it
    # The file id whose news of who fetched it this line is (ours, offered: PROTOCOL.md, Who fetched
    # it): each such line says all so far, so the screen updates the last one (ui/view.py) and
    # --plain prints at most one every few seconds a file (ui/plain.py), never a line a fetch
    fetched: str | None = None


@dataclass(frozen=True)
class Presence:
    """Who a join or leave notice is about, as data, so a front end can fold a burst of them
    into one line (ui/fold.py) without reading the English."""

    name: str
    change: str  # "joined", or why they went: a left event's reason ("quit", "lost", ...)
    here: int  # how many are here after it


TURN_CHANGED = "turn-changed"  # Line.code of "turn: waiting for ..." notices (the screen shows them in its status line only)
TURN_OURS = "turn-ours"  # Line.code of "turn: your turn" (news on every screen)
UNKNOWN_COMMAND = "unknown-command"  # Line.code of "unknown command ...": --plain adds how to send such a line as text
HISTORY_PAGE = "history-page"  # Line.code of the lines a /history request brought (they go above)
HISTORY_PAGE_END = "history-page-end"  # and of its end line: the screen scrolls the page into view
WELCOME = "welcome"  # Line.code of "welcome, NAME: ...": the join replay goes above it, on the full screen
JOIN_REPLAY = "join-replay"  # Line.code of the lines replayed on joining (a rejoin's missed ones have none)
REPLAY_END = "replay-end"  # and of their "end of history": the screen keeps it under them
HELP = "help"  # Line.code of /help's "commands:" and "keys:": taller than the screen, it opens at its first line
JOIN_LEAVE = "join-leave"  # Line.code of "NAME joined" / "NAME left" notices (/joins off hides them)
PROGRESS = "progress"  # Line.code of a transfer's "receiving NAME: 50% ..." (--screen-reader says fewer: ui/speech.py)
MISSED = "missed"  # Line.code of "missed while you were away:" (--screen-reader says no "earlier today:" under it)
# This client's own codes above, which an error's or a notice's code from the server must never be
# read as (wire_code): a server's "progress" error was a transfer's progress line, which
# --screen-reader says at most every 30 s, so a refusal went unsaid; its "join-leave" one hidden by /joins off
OWN_CODES = frozenset({TURN_CHANGED, TURN_OURS, UNKNOWN_COMMAND, HISTORY_PAGE, HISTORY_PAGE_END, WELCOME, JOIN_REPLAY, REPLAY_END, HELP,
                       JOIN_LEAVE, PROGRESS, MISSED})  # fmt: skip
OFFERS_REMEMBERED = 1000  # file ids whose offers renumbered_offer compares with (session_events.py)
HIDDEN_FILE = "(name hidden: /projector to show)"  # what projector mode shows for a file offered to one person


@dataclass(frozen=True, kw_only=True)
class Command:
    name: str
    usage: str
    help: str
    also: tuple[str, ...] = ()  # the other commands this row of /help describes (/unban beside /ban)


COMMANDS: tuple[Command, ...] = (
    Command(name="/w", usage="/w NAME TEXT", help="send a direct message only NAME sees (also /msg)"),
    Command(name="/who", usage="/who", help="list who is here, in turn order: the host, operators, whose turn it is, who is away and who is muted marked"),
    Command(name="/help", usage="/help", help="show this list"),
    Command(name="/address", usage="/address", help="how others join: the addresses and commands serve printed (a client: where it is connected)"),
    Command(name="/whois", usage="/whois NAME", help="the short fingerprint of NAME's key, to compare out loud"),
    Command(name="/release", usage="/release NAME", help="(host only) free a name whose owner lost their key"),
    Command(name="/history", usage="/history [N]", help="show N more earlier messages (default 50) from the server's history"),
    Command(name="/mood", usage="/mood [MOOD]", help="ask colourbot (serve --bot colour) for a colour that suits your mood"),
    Command(name="/y", usage="/y  /n", help="answer colourbot's \"Happy with it? (Y/N)\"; /w colourbot TEXT says anything else", also=("/n",)),
    Command(name="/say", usage="/say TEXT", help="send TEXT to the room (while colourbot waits for your answer, plain lines go to it)"),
    Command(name="/send", usage="/send PATH [NAME]", help="offer a file to the room, or only to NAME (quote a PATH with spaces)"),
    Command(name="/files", usage="/files", help="list the files on offer (yours: who here has fetched each, who not yet)"),
    Command(name="/get", usage="/get ID", help="download file ID (shown in the offer) into your downloads folder"),
    Command(name="/cancel", usage="/cancel [ID]", help="stop sending or receiving file ID (without ID: every transfer of yours)"),
    Command(name="/unsend", usage="/unsend", help="drop the lines you typed that still wait to be sent (offline, for your turn, at the room's pace)"),
    Command(name="/me", usage="/me ACTION", help="say what you do: /me waves shows as * ann waves"),
    Command(name="/nick", usage="/nick NEW", help="take another name without leaving (the name rules of joining apply)"),
    Command(name="/away", usage="/away [REASON]", help="mark yourself away (shown by your name; whispers get the reason once); /away again: back"),
    Command(name="/back", usage="/back", help="back from /away (as /away again)"),
    Command(name="/topic", usage="/topic [TEXT]", help="set the room's topic, shown in everyone's status line (no TEXT: show it; -: clear it); the host and operators only, in a room that has any or takes turns"),
    Command(name="/r", usage="/r TEXT", help="reply with a direct message to whoever sent you the last one"),
    Command(name="/ignore", usage="/ignore [NAME]", help="hide NAME's messages on this screen only (no NAME: list); /unignore NAME", also=("/unignore",)),
    Command(name="/joins", usage="/joins on|off", help="show or hide the lines about people joining and leaving"),
    Command(name="/projector", usage="/projector [on|off]", help="on a screen the class sees: show who sent each direct message (replayed ones too), not what it says; again: show them"),
    Command(name="/q", usage="/q  /q!", help="leave (the host's /q closes the chat for everyone, and a /q with files on their way stops them: both ask first; /q! does not ask, nor wait for lines still being paced; also /quit, \\quit)", also=("/q!",)),
    # operators only (the host, and whom an operator made one), but /pass is the turn holder's
    # too: PROTOCOL.md, Moderation
    Command(name="/kick", usage="/kick NAME [WHY]", help="operators: remove NAME from the room"),
    Command(name="/ban", usage="/ban NAME [WHY]", help="operators: remove NAME and keep them out (/unban NAME|#ID, /bans lists)", also=("/unban", "/bans")),
    Command(name="/admit", usage="/admit NAME [CODE]", help="operators: let in NAME, turned away as a newcomer by a ban behind a shared address (a school's NAT); CODE (their refusal shows it) picks one when two keys tried as NAME"),
    Command(name="/mute", usage="/mute NAME [TIME] [WHY]", help="operators: NAME reads but cannot speak, for TIME (10 or 10m, 2h, 1h30m) or until /unmute NAME", also=("/unmute",)),
    Command(name="/op", usage="/op NAME", help="operators: make NAME an operator too (/deop NAME takes it back)", also=("/deop",)),
    Command(name="/mode", usage="/mode turn|duplex", help="operators: switch the room to turn-based or full-duplex"),
    Command(name="/restrict", usage="/restrict [dm] [files]", help="operators: turn off direct messages between students (dm; to or from an operator they still go) or files from students (files), as in an exam; /unrestrict dm|files turns them back on; /restrict alone: what is off", also=("/unrestrict",)),
    Command(name="/pass", usage="/pass [WHY]", help="turn mode: give up your turn; operators: move it on from someone who went quiet"),
)


@dataclass(frozen=True)
class Outgoing:
    event: ev.Event


@dataclass(frozen=True)
class Quit:
    at_once: bool = False  # /q!: lines still held by the flood limit are not waited for (client.Paced)


@dataclass(frozen=True)
class Local:
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Unsend:
    """``/unsend``: the client drops the typed lines it still holds back (client.unsend)."""


@dataclass(frozen=True)
class UiCommand:
    """A command only the front end can carry out (``/clear``, ``/save FILE``)."""

    name: str
    argument: str


@dataclass(frozen=True, kw_only=True)
class MachineMoved:
    """The host's machine got other addresses mid-lesson (its laptop back on the Wi-Fi with
    another lease): what `serve` (cli/serve.py) hands the host's screen, from this machine, never
    from the network (client.LocalNews). Applied by ``Session.machine_moved``."""

    where: str  # the status line's address now
    join_lines: tuple[str, ...]  # how others join now (/address), as `serve` would print them
    notice: str  # the line the teacher reads out: "this machine's address changed: others join with ..."


@dataclass(frozen=True, kw_only=True)
class FileCommand:
    """``/send PATH [NAME]`` or ``/get ID``: the client's transfer edge (client_files.py) touches the disk."""

    name: str  # "send", "get" or "cancel"
    path: str = ""
    to: str | None = None
    file_id: str = ""


InputResult = Outgoing | Quit | Local | Unsend | UiCommand | FileCommand | None


@functools.lru_cache(maxsize=8)
def _mention_pattern(name_key: str) -> re.Pattern[str]:
    """The name as a whole word: "al" is mentioned in "hi al!" but not in "totally"."""
    return re.compile(r"(?<!\w)" + re.escape(name_key) + r"(?!\w)")


# What a real server never sends longer (PROTOCOL.md 5 and Extensions): a name, a reason, a
# topic. A fake one fills a 64 KiB frame with one, and each is kept (who is here, who is away,
# the sender of every line in the scrollback): 4,000 joins of 60,000-character names took the
# client from 38 MB to 270 MB. Such an event is left out, said in one line, as a number out of
# range is (PROTOCOL.md, Ranges of numbers). A message's text is cut where it is kept (ui/view.py).
# (attribute, its name on the wire, the most a server sends), made once: too_long runs per event
_LIMITS = (
    *((field, key, ev.MAX_NAME_CHARS) for field, key in
      {"sender": "from", "to": "to", "name": "name", "by": "by", "old": "old", "new": "new"}.items()),
    ("reason", "reason", ev.MAX_REASON_CHARS),
)  # fmt: skip
# The events whose fields differ: a topic's text; a fetched's "name" is a file's, its "by" a person's
_LIMITS_OF: dict[type, tuple[tuple[str, str, int], ...]] = {
    ev.Topic: (*_LIMITS, ("text", "text", ev.MAX_TOPIC_CHARS)),
    ev.Fetched: (("by", "by", ev.MAX_NAME_CHARS),),
}
_CHECKED_EVENTS = (ev.Message, ev.Direct, ev.Emote, ev.Joined, ev.Left, ev.Away, ev.TypingHint, ev.Renamed, ev.Topic,
                   ev.Moderated, ev.Refused, ev.Fetched)  # fmt: skip


# The most people a real server's room holds: its welcome lists them all in one frame
# (PROTOCOL.md 5, Room size), and a name takes at least 4 bytes there (`"a",`). Who is here,
# who is away and who is typing are people here, so none of them grows past it: a fake server
# sending joins, away notes or typing hints under ever new names grew each without end (100,000
# joins and away notes of 32-character names and 200-character reasons: 100 MB more).
MOST_MEMBERS = MAX_FRAME_BYTES // 4


def beyond_a_room(session: Session, event: object) -> str | None:
    """Why ``event`` would make who is here (away, typing) more people than a room holds; None if not."""
    kept: Members | dict[str, str] | dict[str, float]
    if isinstance(event, ev.Joined):
        kept, key = session.members, event.name
    elif isinstance(event, ev.Away) and event.reason and not event.answer:
        kept, key = session.away, ev.name_key(event.name)
    elif isinstance(event, ev.TypingHint):
        kept, key = session.typing, event.name
    else:
        return None
    if len(kept) < MOST_MEMBERS or key in kept:
        return None
    return f"{event.name} would be one more than the {MOST_MEMBERS:,} people a room can hold"


def wire_code(code: str) -> str | None:
    """An error's or notice's code as the server sent it, for its Line; None for one of this
    client's own (OWN_CODES): those say what kind of line the client made, which no server may claim."""
    return None if code in OWN_CODES else code


def too_long(event: object) -> str | None:
    """Why ``event`` holds a name, reason or topic longer than a server sends; None if it does not."""
    if not isinstance(event, _CHECKED_EVENTS):
        return None
    for attribute, key, most in _LIMITS_OF.get(type(event), _LIMITS):
        value = getattr(event, attribute, None)
        if isinstance(value, str) and len(value) > most:
            return f'"{key}" is {len(value)} characters long; a server sends at most {most}'
    return None


@dataclass
class Session:
    """What one participant knows: their name, the room's mode, members and turn."""

    name: str
    role: str = "client"  # or "host"
    where: str = ""  # the address or socket path, for the status line
    # A client's room found by its name (discovery): ``where`` names it (cli/rejoin.room_where),
    # and the student typed no address, so a narrow status line keeps it ahead of the mode
    found_by_name: bool = False
    # Said after a /nick refused for a name another key owns (identity.name_owned_hint, with the
    # key file this one joined with), as after a join refused so; "": nothing (a test's session)
    name_owned_hint: str = ""
    join_lines: tuple[str, ...] = ()  # the host's: how others join, as `serve` printed it (/address)
    start_lines: tuple[str, ...] = ()  # the host's: what else `serve` said at start (shown with join_lines, not by /address)
    # The host's: the topic kept from the last run, which start_lines say ("topic kept from the last
    # run"): the room's telling of it right after the welcome is not said a second time.
    kept_topic: str = ""
    # When the host's screen shows join_lines on joining: "" never; "welcome" below the welcome
    # and the replay (the full screen hides what `serve` printed); "replay" only below a replay
    # that showed lines (--plain printed them above it). Either way, the newest lines it sees.
    join_lines_when: str = ""
    mode: str = "duplex"
    members: Members = field(default_factory=Members)  # a list given is made one (__post_init__)
    turn: str | None = None
    host: str | None = None
    clock: object = _time.time
    ui_commands: tuple[Command, ...] = ()
    ui_keys: tuple[tuple[str, str], ...] = ()  # (key, what it does), from a front end with keys
    closed_reason: str | None = None
    closed_for_good: bool = False  # the shutdown notice was final: the host ended the chat (not a restart)
    once: bool = False  # the server closes when the last person leaves (welcome.once)
    leave_requested: bool = False  # the client loop should leave, as if /q were typed
    # Live transfers ("send:3", "get:3" -> files.Progress), kept up to date by the client's
    # transfer edge; a status line can show each one's .text().
    progress: dict = field(default_factory=dict)
    history_before: int | None = None  # cursor: /history asks for entries older than this id
    operators: Members = field(default_factory=Members)  # besides the host (PROTOCOL.md, Moderation)
    history_asked: bool = False  # a /history is on its way (the replay on joining is not asked for)
    # The join replay was empty and said nothing older exists: all the room keeps is what came since,
    # on screen already, so /history says so at once (a page of it said '0 shown; /history shows earlier ones')
    history_from_join: bool = False
    rejoin: Rejoining = field(default_factory=lambda: Rejoining())  # after a lost connection (client.py)
    # You asked colourbot (/mood) and it waits for your answer: plain lines go to it, not the
    # room, until it says goodbye (answering a question in a shared room must not broadcast it).
    bot_exchange: bool = False
    bot_hint_shown: bool = False  # the "just type your answer" notice, once per exchange
    # /y and /n whisper Y and N (PROTOCOL.md, The colour bot): (sent, typed), oldest first, until
    # our copy of each comes back, shown as typed (session_social.as_typed)
    bot_answers_typed: list[tuple[str, str]] = field(default_factory=list)
    ignored: set[str] = field(default_factory=set)  # /ignore: name keys whose messages are not shown here
    show_joins: bool = True  # /joins off hides join and leave lines (who is here still updates)
    projector: bool = False  # /projector: direct messages are drawn without their text (ui/projector.py)
    last_direct_from: str | None = None  # who sent the last direct message to us (/r answers them)
    unread_directs: int = 0  # direct messages to us since we last sent something
    quit_armed: bool = False  # the host typed /q with others here: the next /q closes the chat
    confirm_quit: bool = False  # set by a front end with a person at it (never for a script's pipe)
    # The host's: who else is downloading what now, [(who, file name, percent (None: not begun), to one
    # person, whose: None for ours)], asked of the server this process runs (cli/serve.py: ServerFiles.fetching_but) for /q's
    # question; None: not known here.
    fetching_here: object = None
    # The host's: how many of its own files are on offer now, by its connection, not its name (a
    # /nick changes the name they were offered under), asked of that server (ServerFiles.offers_of);
    # while any is, its screen looks each second who fetches them (session_social.sending_check_due).
    offering_here: object = None
    # Our /send files not on offer and not on their way now, [(name, to one person, "checking" or
    # "waiting")]: all sent and still checked by the server, offered and not yet accepted, or waiting
    # their turn (client_files.unsent, set by ClientTransfers.share_with) for /q's question;
    # None: not known here. (Not in ``progress``: the status line draws every entry there.)
    unsent_files: object = None
    # Where a file on offer was saved by this client, if it is still there (a Path, or None), by its
    # id (client_files.saved_where, set by ClientTransfers.share_with): /files says so rather than
    # offer "/get 1" again; None: not known here.
    saved_files: object = None
    topic: str = ""  # the room's topic (/topic), for the status line
    away: dict[str, str] = field(default_factory=dict)  # name key -> reason, for whoever is away
    # The last /away we asked for that the room has not answered: its reason, "" for back; None:
    # none waits. A rejoin asks it again (the drop may have taken it, or its answer).
    away_asked: str | None = None
    nick_asked: str | None = None  # the same for the last /nick (the rejoin's hello goes under our name)
    typing_hints: bool = True  # send and show "is typing" hints (connect/serve --no-typing: off)
    typing: dict[str, float] = field(default_factory=dict)  # name -> when their last hint came
    pending: list[ev.Event] = field(default_factory=list)  # events for the client loop to send (hints)
    typing_sent: float = float("-inf")  # when we last sent a typing hint
    offers_seen: dict[str, tuple[str, str, bool, float]] = field(default_factory=dict)  # file id -> (name, from, to one person, when offered)
    # Our files' ids -> who fetched each (name key -> name as told, the newest last), from the
    # fetched news (session_events._fetched): the growing line names the newest, /files who here
    # has it and who not yet. Bounded: FETCHED_FILES_KEPT files, FETCHED_NAMES_KEPT names each
    fetched_by: dict[str, dict[str, str]] = field(default_factory=dict)
    bots: set[str] = field(default_factory=set)  # name keys of the members the server flags as its bots
    at_nc: set[str] = field(default_factory=set)  # name keys of the text participants, at nc (welcome, joined, roster)
    moved: set[str] = field(default_factory=set)  # name keys that left as "moved": their joined is not news
    # We are muted until this time (our clock; inf: until an operator unmutes us), for the status
    # line; None: not muted. From the welcome's ``muted`` and the mute and unmute acts naming us.
    muted_until: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.members, Members):  # Session(members=["ann", "bob"]): made one
            self.members = Members(self.members)
        if not isinstance(self.operators, Members):
            self.operators = Members(self.operators)

    # ----------------------------------------------------------------- queries

    @property
    def my_turn(self) -> bool:
        return self.mode != "turn" or (self.turn is not None and ev.name_key(self.turn) == ev.name_key(self.name))

    def waiting_for(self) -> str:
        """Whom a turn room waits for, when it is not our turn: the holder, or with nobody
        holding it, someone to join or an unmute (``nobody_holds_the_turn``)."""
        return self.turn if self.turn is not None else nobody_holds_the_turn(self.members, self.host, self.bots)

    def turn_text(self) -> str:
        """Whose turn it is, said for this person."""
        if self.mode != "turn":
            return ""
        if self.my_turn:
            return "your turn"
        waiting = f"waiting for {self.waiting_for()}"
        if self.turn is not None or waiting.endswith("someone to join"):
            return waiting
        return f"{waiting} ({everyone_muted_note(self.host, self.name)})"

    # ----------------------------------------------------------- server events

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator]

    def _mute_ends(self, minutes: int | None) -> float | None:
        """When a mute of ``minutes`` (0: until unmuted; None: no mute) ends, by our clock."""
        if minutes is None:
            return None
        # 0: until unmuted; past a week (or below 0) another server's number: "muted", no end
        return self._now() + minutes * 60 if 0 < minutes <= ev.MAX_MUTE_MINUTES else float("inf")

    def _welcome_mute_end(self, welcome: ev.Welcome) -> tuple[float | None, bool]:
        """When the mute a welcome tells of ends, by our clock, and whether to the second: from
        its ``muted_seconds`` where they make sense, else (an older server) from its minutes."""
        seconds = welcome.muted_seconds
        if welcome.muted is not None and seconds is not None and 0 < seconds <= ev.MAX_MUTE_MINUTES * 60:
            return self._now() + seconds, True
        return self._mute_ends(welcome.muted), False

    def mute_ends_at(self) -> float | None:
        """When "muted until" must leave the status line (a screen wakes up for it); None: never."""
        until = self.muted_until
        return until if until is not None and until != float("inf") and until > self._now() else None

    def muted_text(self) -> str:
        """For the status line: "muted until 10:42", "muted" (until an operator unmutes us), or
        "" (not muted, or the time has passed: a timed mute ends without a word from the server)."""
        until = self.muted_until
        if until is None or until <= self._now():
            return ""
        return "muted" if until == float("inf") else "muted until " + minute_at_or_after(until)

    def _notice(self, text: str, kind: str = "notice", when: float | None = None) -> Line:
        return Line(kind=kind, time=self._now() if when is None else when, text=text)

    def machine_moved(self, news: MachineMoved) -> list[Line]:
        """The host's machine has other addresses now: the status line and /address say the
        new ones; the notice says how others join, for the students who come late."""
        self.where, self.join_lines = news.where, news.join_lines
        return [self._notice(news.notice)]

    def rejoined_at(self, where: str, moved: bool = True) -> list[Line]:
        """A rejoin went to ``where`` (the room announced there: its host's machine got a new
        address, ``moved``, or it has several): the status line and /address say it, and one line says why."""
        if not where or where == self.where:
            return []
        self.where = where
        if not moved:
            return [self._notice(f"back in the room, at another of its addresses: {where}")]
        # (``where`` last, whole: "the room is at ADDRESS, the room 'maths 3B' now: ..." read badly)
        return [self._notice(f"its host's address changed; the room is now at {where}")]

    def on_event(self, event: object) -> list[Line]:
        """Update what we know from one server event; return the lines to show."""
        from .session_events import lines_for  # here: session_events imports this module

        if (problem := too_long(event) or beyond_a_room(self, event)) is not None:
            return [self._notice(f"a message from the server was not shown: {problem}", kind="error", when=self._now())]
        if (rejoined := self.rejoin.on_event(self, event)) is not None:
            return rejoined
        if social.hidden(self, event):
            return []
        return lines_for(self, event)

    def is_operator(self, name: str) -> bool:
        key = ev.name_key(name)
        return (self.host is not None and ev.name_key(self.host) == key) or any(ev.name_key(op) == key for op in self.operators)

    def may_ask_why(self, name: str) -> bool:
        """May we, muted, whisper ``name``: the host or an operator (PROTOCOL.md, Moderation). After a
        rejoin the room says its operators after its replay, once the lines typed away are sorted
        (client.Reconnect.resend): until then, those of before the drop count too (one that is no
        longer gets the whisper refused, as the server decides)."""
        key = ev.name_key(name)
        return self.is_operator(name) or any(ev.name_key(op) == key for op in self.rejoin.operators_before)

    # -------------------------------------- /me, /nick, /away, /topic, typing hints

    def take_pending(self) -> list[ev.Event]:
        pending, self.pending = self.pending, []
        return pending

    def mentions_me(self, text: str) -> bool:
        return _mention_pattern(ev.name_key(self.name)).search(ev.name_key(text)) is not None

    # -------------------------------------------------------------- user input

    def length_problem(self, text: str) -> str | None:
        """Why a message this long would be refused (PROTOCOL.md 5), or None. Checked here so
        an enormous paste is never sent: the server would refuse it, and past the frame
        limit it could not even be framed."""
        if len(text) > ev.MAX_TEXT_CHARS:
            # a student pasting a whole program: what to do instead, not only what went wrong
            return f"message is {len(text)} characters; the limit is {ev.MAX_TEXT_CHARS}: not sent (/send FILE shares a longer text)"
        return None

    def help_lines(self, asked: str = "") -> list[Line]:
        """/help: every command and key; ``asked`` (``/help send``, ``/help keys``): that one's row,
        as /help shows it, or the keys."""
        from .session_input import help_lines  # here: session_input imports this module

        return help_lines(self, asked)

    def command_words(self) -> list[str]:
        """Every command /help names, and the aliases: what Tab completes at the start of a line.
        The same rows as /help, so a command cannot be listed there and be missing here."""
        rows = [*COMMANDS, *self.ui_commands]
        return [word for c in rows for word in (c.name, *c.also)] + list(ALIASES)

    def parse_input(self, text: str) -> InputResult:
        """What the user typed -> what to do. Empty input does nothing (seed 001)."""
        from .session_input import parse_input  # here: session_input imports this module

        return parse_input(self, text)

    def _usage(self, usage: str) -> InputResult:
        return Local((self._notice(f"usage: {usage}", kind="error"),))


# The room sends the topic and who is away in the same pass as the welcome; in a room without
# history nothing may follow them for minutes, so a topic set later is said as a change.
AFTER_WELCOME_SECONDS = 2.0


@dataclass
class Rejoining:
    """What a session keeps for coming back after a lost connection (client.py retries): the
    server time of the newest message seen, the welcome's secret (a rejoin with it takes over our
    stale session), and while a rejoin's replay is under way, how many replayed messages were new
    to us (``missed``; None: not rejoining). Replayed messages up to ``last_seen`` are ones we
    have: they are left out, and the rest are marked as missed (PROTOCOL.md, Rejoining)."""

    last_seen: float | None = None
    resume: str | None = None
    missed: int | None = None
    # server times of the messages received, one [oldest, newest] span per stretch of
    # connection: a /history page leaves out what lies inside one (already on screen); the gap
    # a rejoin's replay could not fill (more missed than it holds) lies between two
    seen: list[list[float]] = field(default_factory=list)
    skipped: int = 0  # lines of the /history page under way left out as seen
    told_problem: str | None = None  # why the last attempt failed, as said (said again only when it changes)
    secret_refused: bool = False  # a welcome's resume secret was no server's: said once, rejoins go without
    # While what the room sends right after a welcome comes (the topic, who is away: PROTOCOL.md,
    # "What a newcomer receives"), the welcome's time: those lines are stamped with it, not with
    # when the topic was set, which put them after the replay's older lines and cut the replay in
    # two around the welcome. None: that part is over.
    welcomed: float | None = None
    # On a rejoin, the topic and the away marks the screen showed before the drop: what the room
    # says again after the welcome is taken, and said only where it differs.
    before: tuple[str, dict[str, str]] | None = None
    away_again: str | None = None  # our away, asked again by a rejoin: its answer is no news to us
    # The operators of before the drop, until the rejoined room says its own (``operators``, sent
    # after the replay: Session.may_ask_why)
    operators_before: tuple[str, ...] = ()
    back_at: float | None = None  # when the last rejoin's welcome came (our clock)
    # The replayed message just matched to a line we typed whose echo the drop took
    # (client.answered, unconfirmed.py): ours, shown as our own. Not the name alone, which
    # someone else may have held while we were away.
    ours: object = None

    @property
    def under_way(self) -> bool:
        return self.missed is not None

    def was_operator(self, name: str, now: float) -> bool:
        """Was ``name`` an operator before the drop, the rejoined room not having said its own yet,
        as it joined us (a room with no operator but its host never says them: a /op later is news)?"""
        if self.back_at is None or now - self.back_at > AFTER_WELCOME_SECONDS:
            return False
        return any(ev.name_key(op) == ev.name_key(name) for op in self.operators_before)

    def settled(self) -> None:
        """The rejoin's replay is over (or none is coming: a server without history)."""
        self.missed = None

    def lost(self, session: Session, retry_in: float) -> list[Line]:
        self._apart()
        return [session._notice(f"connection lost; retrying in {retry_in:g} s (/q to leave)", kind="error")]

    def stopped(self, session: Session) -> list[Line]:
        """The server shut down (its notice is on screen) and the full screen waits for it to
        come back (client.Reconnect): the chat is not over, so ``closed_reason`` goes."""
        self._apart()
        session.closed_reason = None
        return [session._notice("if the host starts the server again, you will rejoin it (/q to leave)")]

    def _apart(self) -> None:
        self.missed = 0
        self.told_problem = None
        if self.seen and self.seen[-1]:
            self.seen.append([])  # what comes after the rejoin is another stretch

    def still_lost(self, session: Session, problem: str, retry_in: float) -> list[Line]:
        """A failed attempt, said when its reason is new: the same one every 5 s for 10 minutes
        filled the transcript (the status line says when the next try is)."""
        if problem == self.told_problem:
            return []
        self.told_problem = problem
        text = f"still no connection ({problem}); retrying in {retry_in:g} s (/q to leave)"
        return [session._notice(text, kind="error")]

    def on_event(self, session: Session, event: object) -> list[Line] | None:
        """The lines for ``event`` while rejoining; None: the session shows it as usual."""
        if self.welcomed is not None and session._now() - self.welcomed > AFTER_WELCOME_SECONDS:
            self.welcomed = self.before = None  # a room without history may send nothing more for long
        if isinstance(event, (ev.Topic, ev.Away)) and self.welcomed is not None and not getattr(event, "answer", False):
            return self._after_welcome(session, event, self.welcomed)
        if not isinstance(event, ev.Notice):  # (the room's word on our join, "the name 'zoe' is not kept
            self.welcomed = self.before = None  # for you", comes before the topic: it is still the welcome's)
        if isinstance(event, ev.Operators):
            self.operators_before = ()  # the room said who they are now
        if isinstance(event, ev.Welcome):
            self.welcomed = session._now()
        if isinstance(event, (ev.Message, ev.Direct)):
            if event.history and session.history_asked and self.missed is None:  # a /history page
                seen = any(span and span[0] <= event.time <= span[-1] for span in self.seen)
                self.skipped += seen
                return [] if seen else None
            self._saw(event.time)
        if isinstance(event, (ev.Message, ev.Direct)) and (self.last_seen is None or event.time > self.last_seen):
            if self.missed is None or not event.history:
                self.last_seen = event.time
        elif isinstance(event, ev.Emote):  # a /me seen live: replayed now like a message (PROTOCOL.md, History replay)
            self._saw(event.time)
            self.last_seen = event.time if self.last_seen is None else max(self.last_seen, event.time)
        if self.missed is None:
            return None
        if isinstance(event, ev.Welcome):
            return self._back(session, event)
        if isinstance(event, (ev.Message, ev.Direct)) and event.history:
            return self._replayed(session, event)
        if isinstance(event, ev.HistoryEnd):
            if event.more or session.history_before is None:  # more: the gap is where /history goes on
                session.history_before = event.before  # else it goes on from where it was
            return self._end(session, event.more)
        if self.missed == 0 and isinstance(event, (ev.Topic, ev.Away)) and not getattr(event, "answer", False):
            return None  # what a newcomer hears between the welcome and the replay (the topic, who is away)
        self.settled()  # anything live ends the replay, which comes first as a block
        return None

    def keep_secret(self, session: Session, welcome: ev.Welcome) -> list[Line]:
        """Keep the welcome's resume secret for a rejoin, unless no server would make it (over
        ev.MAX_RESUME_CHARS, or outside URL-safe base64): then rejoins go without one (the server
        then takes them as any hello), said once per chat."""
        secret = welcome.resume
        if secret is None or ev.is_resume_secret(secret):
            self.resume = secret
            return []
        self.resume = None
        if self.secret_refused:
            return []
        self.secret_refused = True
        what = f"{len(secret)} characters" if len(secret) > ev.MAX_RESUME_CHARS else "characters no server uses"
        text = f"the server's resume secret is not one a server makes ({what}): a rejoin after a drop will go without it"
        return [session._notice(text, kind="error")]

    def _saw(self, time: float) -> None:
        if not self.seen:
            self.seen.append([])
        span = self.seen[-1]
        span[:] = [min(span[0], time), max(span[-1], time)] if span else [time, time]

    def _after_welcome(self, session: Session, event: ev.Topic | ev.Away, welcomed: float) -> list[Line]:
        """The topic or an away mark the room tells right after a welcome: taken, stamped with the
        welcome's time, and on a rejoin not said again if the screen showed it before the drop."""
        if self.before is None:  # the first welcome: the host's start lines may have said the topic
            same = isinstance(event, ev.Topic) and bool(session.kept_topic) and event.text == session.kept_topic
        elif isinstance(event, ev.Topic):
            same = event.text == self.before[0]
        else:
            same = self.before[1].get(ev.name_key(event.name), "") == event.reason
        lines = social.on_event(session, event, welcomed)  # (an older one says when it was set)
        return [] if same else [replace(line, time=welcomed) for line in lines]

    def _back(self, session: Session, event: ev.Welcome) -> list[Line]:
        session.members = Members(event.members)
        session.turn = event.turn
        session.mode = event.mode
        session.host = event.host
        session.bots = {ev.name_key(n) for n in event.bots}
        session.at_nc = {ev.name_key(n) for n in event.text}
        told, exact = session._welcome_mute_end(event)
        session.muted_until = told if exact else kept_mute_end(session.muted_until, told, session._now())
        # What the room told us before is the old room's: a restarted server has no topic, nobody
        # away and no operators but those named at start, and our new session is not away. It
        # tells what holds now right after this welcome (the topic, who is away, the operators:
        # PROTOCOL.md, Rejoining). Our own away was our choice, not the connection's: asked again.
        # So is one asked and never answered, and a "back" asked and never answered is not undone.
        own_away = social.wanted_away(session)
        self.before = (session.topic, session.away)
        self.operators_before = tuple(dict.fromkeys((*self.operators_before, *session.operators)))  # (dropped again before the room said)
        self.back_at = session._now()
        session.topic, session.away, session.operators, session.typing = "", {}, Members(), {}
        session.moved = set()  # a "moved" whose joined the drop took: this welcome says who is here, a later joined is news
        session.away_asked = None  # the new session is not away: "back" needs no asking
        if own_away and event.muted is None:  # (muted, an away is text the room would refuse)
            session.pending.append(ev.SetAway(reason=own_away))
            session.away_asked = own_away  # until this room answers: a second drop asks it again
            # its answer is news only if the screen had not said it before the drop
            self.away_again = own_away if self.before[1].get(ev.name_key(session.name)) == own_away else None
        if session.nick_asked and ev.name_key(session.nick_asked) != ev.name_key(event.name) and event.muted is None:
            session.pending.append(ev.Nick(name=session.nick_asked))  # a /nick the drop took, or its answer
        else:
            session.nick_asked = None
        lines = [session._notice(f"back in the room as {event.name} ({len(session.members)} here)")]
        if not event.keeps_history and event.version != ev.FIRST_RELEASE_VERSION:  # (whose welcome never says: it keeps one)
            # no replay comes: "back in the room" alone read as if nothing was missed
            lines.append(session._notice("what was said while you were away is not shown: this room keeps no history"))
        if session.mode == "turn":
            lines.append(session._notice(f"turn-based: {session.turn_text()}"))
        return lines + muted_on_joining(session, event) + self.keep_secret(session, event)

    def _replayed(self, session: Session, event: ev.Message | ev.Direct) -> list[Line]:
        """A message replayed on rejoining: shown only if we had not seen it, marked missed."""
        if self.last_seen is not None and event.time <= self.last_seen:
            return []  # seen before the connection dropped: no duplicate
        self.last_seen = event.time
        ours, self.ours = self.ours is event, None
        if ours and isinstance(event, ev.Message) and not event.action:
            return [Line(kind="own", time=event.time, sender=event.sender, text=event.text)]  # ours, its echo lost: not missed
        self.missed = (self.missed or 0) + 1
        to = event.to if isinstance(event, ev.Direct) else None
        # stamped with the first missed message's time: the screen puts a replayed line older
        # than the newest one in time order, and so keeps the missed ones under this header
        header = replace(session._notice("missed while you were away:", when=event.time), code=MISSED)
        lines = [header] if self.missed == 1 else []
        acted = isinstance(event, ev.Message) and event.action  # a /me
        return [*lines, Line(kind="history", time=event.time, sender=event.sender, to=to, text=event.text, action=acted)]

    def _end(self, session: Session, more: bool) -> list[Line]:
        missed, self.missed = self.missed or 0, None
        if not missed:
            return [session._notice("you missed nothing while away")]
        earlier = "; /history shows earlier ones" if more else ""
        return [session._notice(f"end of what you missed ({missed} message{'s' if missed != 1 else ''}{earlier})")]


def minute_at_or_after(when: float) -> str:
    """``when`` on the local clock as HH:MM, rounded up to the minute: a mute ending at 10:42:20 is
    "muted until 10:43". Cut to the minute it said 10:42, a time at which the mute was still on."""
    into = _time.localtime(when).tm_sec + (when - math.floor(when))  # seconds into its minute
    if into > 0.001:  # (a float's last bit is no second)
        when += 60 - into
    return _time.strftime("%H:%M", _time.localtime(when))


# how far our two reads of a mute's end (the act's, the rejoin's) may differ for one mute: the
# two frames' trips to us, and the moment each was sent in the second
MUTE_END_SLACK_SECONDS = 5.0


def kept_mute_end(known: float | None, told: float | None, now: float) -> float | None:
    """Our mute's end after a rejoin: ``told`` by its welcome (now plus the minutes left, rounded
    up: never before the real end, up to a minute after it), or the end we knew to the second
    (``known``: now plus the minutes of the act that muted us, as it came) where that fits the
    minutes: the same mute. Taken from the minutes alone, the end moved at each rejoin, and
    "muted until" with it. For a welcome without ``muted_seconds`` (an older server): the minutes
    cannot tell one mute from another, so a mute replaced while we were away by one ending within
    about a minute of the old end keeps the old end here, up to 65 s early or late on the status
    line (the room still refuses our lines to the real end). With them, the end is taken as told."""
    if known is None or told is None or float("inf") in (known, told):
        return told
    return known if max(now, told - 60 - MUTE_END_SLACK_SECONDS) < known <= told + MUTE_END_SLACK_SECONDS else told


def muted_on_joining(session: Session, welcome: ev.Welcome) -> list[Line]:
    """A welcome that says we are muted (a mute survives a restart and a reconnection; PROTOCOL.md,
    Moderation): said at once, not at the first line refused."""
    if welcome.muted is None:
        return []
    return [session._notice(f"you are {ev.mute_note(welcome.muted)} (you can still read)", kind="error")]


