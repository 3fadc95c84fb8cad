"""session_social.py: what IRC and WeeChat users reach for, on one participant's Session:
/me, /nick, /away, /topic, typing hints, /r, /ignore, /joins, /projector, the host's /q asking first, and
answering the colour bot. Pure functions of a Session; never does I/O.

Session keeps the state (its fields); these functions hold the rules, so session.py stays a
dispatcher. Each takes the session first, as ``social.on_event(session, event)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import events as ev
from .colourbot import BOT_NAME, START_COMMAND, is_farewell

if TYPE_CHECKING:
    from collections.abc import Collection

    from .session import InputResult, Line, Local, Session

SINCE_SHOWN_SECONDS = 60.0  # a topic or an away the room tells after a welcome says when, once older than this
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # not %b: the locale's
TYPING_SEND_SECONDS = 4.0  # a typing hint goes out at most this often (the server passes one on per 3 s)
TYPING_SHOWN_SECONDS = 6.0  # "bob is typing..." stays this long after bob's last hint
NOT_SOCIAL = object()  # parse(): the command is not one of these
MAX_ANSWERS_TYPED = 8  # /y and /n answers awaiting our copy (a refused one's never comes)


def _now(session: Session) -> float:
    return session.clock()  # type: ignore[operator, no-any-return]


def _line(text: str, when: float, kind: str = "notice", code: str | None = None) -> Line:
    from .session import Line

    return Line(kind=kind, time=when, text=text, code=code)


def _who_sets_the_topic(session: Session) -> str:
    """How a topic comes, for whoever asks: a student in a class (a room with a host or operators,
    or a turn-based one) read "/topic TEXT sets one", and theirs was refused (room_social._topic_refusal)."""
    if session.is_operator(session.name) or (session.host is None and not session.operators and session.mode != "turn"):
        return "/topic TEXT sets one"
    return "the host and operators set it"


def _local(session: Session, text: str, kind: str = "notice") -> InputResult:
    from .session import Local

    return Local((_line(text, _now(session), kind),))


def _kept(session: Session, text: str, typed: str) -> InputResult:
    """An error that gives what was ``typed`` back to the full screen's input line, to mend."""
    from dataclasses import replace

    from .session import Local

    return Local((replace(_line(text, _now(session), "error"), give_back=typed),))


def _out(event: ev.Event) -> InputResult:
    from .session import Outgoing

    return Outgoing(event)


# ---------------------------------------------------------------- server events


def hidden(session: Session, event: object) -> bool:
    """Before anything else: is this an ignored person's message? Also counts unread whispers."""
    if isinstance(event, (ev.Message, ev.Direct, ev.Emote)) and ev.name_key(event.sender) in session.ignored:
        return True  # /ignore: not shown here; nobody is told
    if isinstance(event, ev.Direct) and not event.history and not event.held:
        mine = ev.name_key(session.name)
        if ev.name_key(event.to) == mine and ev.name_key(event.sender) != mine:
            session.last_direct_from = event.sender
            if ev.name_key(event.sender) != ev.name_key(BOT_NAME):  # the bot's replies are not mail
                session.unread_directs += 1
    if isinstance(event, (ev.Message, ev.Emote, ev.Direct)):
        session.typing.pop(event.sender, None)  # they sent it: no longer typing
    return False


def on_event(session: Session, event: ev.Event, welcomed: float | None = None) -> list[Line]:
    """action, renamed, away-status, room-topic, typing-hint (PROTOCOL.md). ``welcomed``: the
    room told the topic or an away right after a welcome at that time (our clock), and the
    line will be stamped with it: an older one says when it was set ("since 10:02")."""
    from .session import Line

    if isinstance(event, ev.Emote):
        mine = ev.name_key(event.sender) == ev.name_key(session.name)
        mentions = not mine and session.mentions_me(event.text)
        return [Line(kind="action", time=event.time, sender=event.sender, text=event.text, mentions_me=mentions)]
    if isinstance(event, ev.Renamed):
        return [_renamed(session, event)]
    if isinstance(event, ev.Away):
        line = _away(session, event, welcomed)
        if ev.name_key(event.name) != ev.name_key(session.name) or event.answer:
            return [line]
        again, session.rejoin.away_again = session.rejoin.away_again, None
        return [] if again == event.reason else [line]  # the answer to a rejoin's asking again: no news
    if isinstance(event, ev.Topic):
        session.topic = event.text
        at = _since(event.time, welcomed, "at")
        said = f"topic: {event.text} (set by {event.by}{at})" if event.text else f"{event.by} cleared the topic"
        return [_line(said, event.time)]
    if isinstance(event, ev.TypingHint) and session.typing_hints and ev.name_key(event.name) not in session.ignored:
        session.typing[event.name] = _now(session)  # (an ignored person's would announce each message hidden here)
    return []


def _renamed(session: Session, event: ev.Renamed) -> Line:
    """Someone took another name: every place that holds a name learns the new one."""
    old = ev.name_key(event.old)
    session.members.renamed(lambda m: ev.name_key(m) == old, event.new)
    # an operator stays one under the new name (the room tells operators only when they change),
    # and the old name, free now, marks nobody who takes it
    session.operators.renamed(lambda m: ev.name_key(m) == old, event.new)
    rejoin = session.rejoin
    rejoin.operators_before = tuple(event.new if ev.name_key(m) == old else m for m in rejoin.operators_before)
    if session.turn is not None and ev.name_key(session.turn) == old:
        session.turn = event.new
    if session.host is not None and ev.name_key(session.host) == old:
        session.host = event.new
    if session.last_direct_from is not None and ev.name_key(session.last_direct_from) == old:
        session.last_direct_from = event.new
    if old in session.ignored:
        session.ignored = (session.ignored - {old}) | {ev.name_key(event.new)}
    if old in session.away:
        session.away[ev.name_key(event.new)] = session.away.pop(old)
    if old in session.bots:
        session.bots = (session.bots - {old}) | {ev.name_key(event.new)}
    if old in session.at_nc:  # (the room refuses /nick at nc; another server might not)
        session.at_nc = (session.at_nc - {old}) | {ev.name_key(event.new)}
    session.typing.pop(event.old, None)
    for file_id, fetched in session.fetched_by.items():  # who fetched our file still has it, by the new name (/files' "not yet")
        if old in fetched:
            new = ev.name_key(event.new)
            session.fetched_by[file_id] = {(new if key == old else key): (event.new if key == old else name) for key, name in fetched.items()}
    if old == ev.name_key(session.name):
        session.name, session.nick_asked = event.new, None  # our /nick answered
        return _line(f"you are now known as {event.new}", event.time)
    return _line(f"{event.old} is now known as {event.new}", event.time)


def wanted_away(session: Session) -> str:
    """The away we asked for last (its reason; "": back): one the room has not answered yet,
    else what the room says of us. What /away toggles from, and what a rejoin asks again."""
    if session.away_asked is not None:
        return session.away_asked
    return session.away.get(ev.name_key(session.name), "")


# What refuses a /nick (room_social._rename): any of them ends the wait for its answer; one
# that answered another command instead only means a rejoin does not ask it again, as before.
NICK_REFUSALS = frozenset({ev.E_MUTED, ev.E_NOT_OPERATOR, ev.E_BAD_NAME, ev.E_NAME_TAKEN, ev.E_NAME_OWNED})


def refused(session: Session, code: str) -> None:
    """A refusal came: a /nick or an away reason waiting for its answer is not asked again on
    rejoining (muted, a reason is text the room refuses; the person stays as they were)."""
    if code in NICK_REFUSALS:
        session.nick_asked = None
    if code == ev.E_MUTED and session.away_asked:
        session.away_asked = None


def _since(when: float, welcomed: float | None, word: str) -> str:
    """`` at 10:02`` (``word`` "at"), `` since 5 Dec 23:10`` (another day): when a topic or an
    away told after a welcome (at ``welcomed``) was set, the line being stamped with the welcome's
    time (session.Rejoin._after_welcome: it reads as said on joining, with the welcome; on the full
    screen the replay, older, and its end go above them). Nothing for one
    set within SINCE_SHOWN_SECONDS, or with no welcome: the line's own stamp says it. An older server
    stamped a newcomer's away-status with the moment it sent it: then nothing either."""
    import time

    if welcomed is None or welcomed - when < SINCE_SHOWN_SECONDS:
        return ""
    try:
        moment, today = time.localtime(when), time.localtime(welcomed)
    except (OverflowError, OSError, ValueError):
        return ""
    clock = time.strftime("%H:%M", moment)
    if moment[:3] != today[:3]:
        clock = f"{moment.tm_mday} {MONTHS[moment.tm_mon - 1]} {clock}"
    return f" {word} {clock}"


def _away(session: Session, event: ev.Away, welcomed: float | None = None) -> Line:
    key = ev.name_key(event.name)
    if event.answer:  # the answer to our whisper
        return _line(f"{event.name} is away: {event.reason} (they will see your message later)", event.time)
    asked = session.away_asked
    if key == ev.name_key(session.name) and asked is not None and " ".join(asked.split())[: ev.MAX_AWAY_CHARS] == event.reason:
        session.away_asked = None  # answered (the room collapses white space as here: room_social.away)
    if event.reason:
        session.away[key] = event.reason
    else:
        session.away.pop(key, None)
    # a bare /away sends "away", and it is all a turn room shows of a reason (PROTOCOL.md 7)
    reason = "" if event.reason == "away" else f": {event.reason}"
    if key == ev.name_key(session.name):
        return _line(f"you are away{reason} (/back when you are back)" if event.reason else "you are back", event.time)
    if not event.reason:
        return _line(f"{event.name} is back", event.time)
    since = _since(event.time, welcomed, "since")
    return _line(f"{event.name} is away{reason}{f' ({since.strip()})' if since else ''}", event.time)


def bot_direct(session: Session, event: ev.Direct, line: Line) -> list[Line] | None:
    """A direct message from the colour bot while you are talking to it: the exchange ends at
    its goodbye; its first question says how to answer. None: nothing special."""
    if ev.name_key(event.sender) != ev.name_key(BOT_NAME):
        return None
    if not session.bot_exchange:  # the bot asked unasked (its greeting): say how to answer it
        if event.text.rstrip().endswith("?") and others(session) and not session.bot_hint_shown:
            session.bot_hint_shown = True
            hint = f"to answer {BOT_NAME} privately: /mood YOUR MOOD (a plain line goes to the whole room)"
            return [line, _line(hint, _now(session))]
        return None
    if is_farewell(event.text) or event.text.startswith("Type /"):
        session.bot_exchange = False  # the exchange is over: plain lines go to the room again
        return [line, _line("your lines go to the room again", _now(session))]
    if event.text.rstrip().endswith(("?", "(Y/N)")) and answers_go_to_bot(session) and not session.bot_hint_shown:
        session.bot_hint_shown = True
        hint = f"just type your answer: it goes to {BOT_NAME} only, not the room (/say TEXT talks to the room)"
        return [line, _line(hint, _now(session))]
    return None


def to_colourbot(session: Session, word: str, rest: str) -> InputResult:
    """/mood [MOOD], /y and /n become direct messages to the colour bot (colourbot.py)."""
    if not any(ev.name_key(m) == ev.name_key(BOT_NAME) for m in session.members):
        return _local(session, f"{BOT_NAME} is not in this room (the host adds it with: lanchat serve --bot colour)", "error")
    if word == START_COMMAND:
        text = f"{START_COMMAND} {rest}".strip()
        session.bot_exchange = True  # you asked: until it says goodbye, your answers go to it
        session.bot_hint_shown = False
    else:
        text = word[1:].upper()  # "/y" -> "Y", the seed's answer (an older server's bot knows no other)
        # our copy then reads "/y", as typed, as "/mood sunny" does (it read "Y")
        session.bot_answers_typed = [*session.bot_answers_typed[-(MAX_ANSWERS_TYPED - 1):], (text, word)]
    return _out(ev.Whisper(to=BOT_NAME, text=text))


def as_typed(session: Session, event: ev.Direct) -> str:
    """The text of a live direct message as this transcript shows it: our own copy of a /y or /n
    answer to the bot reads as typed, "/y"; anything else as sent."""
    mine = ev.name_key(event.sender) == ev.name_key(session.name)
    if not mine or ev.name_key(event.to) != ev.name_key(BOT_NAME):
        return event.text
    for number, (sent, typed) in enumerate(session.bot_answers_typed):
        if sent == event.text:
            del session.bot_answers_typed[: number + 1]  # (those before it were refused: no copy comes)
            return typed
    return event.text


def answers_go_to_bot(session: Session) -> bool:
    """Plain lines go to colourbot: you asked it (/mood), it waits, and others would hear you
    (alone with it, the room already is the conversation, as in seed 000)."""
    return session.bot_exchange and bool(others(session))


def others(session: Session) -> list[str]:
    """The people here besides us (a bot is not a person)."""
    from .wording import is_bot

    me = ev.name_key(session.name)
    return [m for m in session.members if ev.name_key(m) != me and not is_bot(m, session.bots)]


# ---------------------------------------------------------------- typing hints


def typing_now(session: Session, now: float | None = None) -> list[str]:
    """Who has hinted they are typing within the last TYPING_SHOWN_SECONDS."""
    now = _now(session) if now is None else now
    return [name for name, when in session.typing.items() if now - when < TYPING_SHOWN_SECONDS]


def typing_expires(session: Session) -> float | None:
    """When the status line's "is typing" next changes by itself (a clock time), or None."""
    return min(session.typing.values()) + TYPING_SHOWN_SECONDS if session.typing else None


def note_typing(session: Session, text: str) -> None:
    """The user typed into a message (not a command): queue a hint, at most every few seconds."""
    if not session.typing_hints or not text.strip() or text.lstrip().startswith("/") or answers_go_to_bot(session):
        return
    now = _now(session)
    if now - session.typing_sent >= TYPING_SEND_SECONDS:
        session.typing_sent = now
        session.pending.append(ev.Typing())


# -------------------------------------------------------------------- commands


def parse(session: Session, word: str, rest: str) -> object:
    """/me, /nick, /away, /back, /topic, /r, /ignore, /unignore, /joins, /projector, /say, /q, /q!: what to do,
    or NOT_SOCIAL for any other command."""
    from .session import Quit

    if word == "/q!":
        return Quit(at_once=True)
    if word == "/q":
        return _quit(session)
    if word == "/say":
        return _out(ev.Say(text=rest)) if rest else _local(session, "usage: /say TEXT", "error")
    if word == "/me":
        return _out(ev.Me(text=rest)) if rest else _local(session, "usage: /me ACTION (/me waves)", "error")
    if word == "/r":
        if not session.last_direct_from:
            return _local(session, "nobody has sent you a direct message yet; /w NAME TEXT starts one", "error")
        if not rest:
            return _local(session, f"usage: /r TEXT (replies to {session.last_direct_from})", "error")
        return _out(ev.Whisper(to=session.last_direct_from, text=rest))
    if word == "/nick":
        problem = ev.name_problem(rest) if rest else "usage: /nick NEW"
        if problem and rest:  # given back, as a mistyped command is: the name to mend ("bob(op)"), not to type again
            return _kept(session, f"{rest!r} cannot be used: {problem}", f"{word} {rest}")
        if problem:
            return _local(session, problem, "error")
        if rest == session.name:  # the room takes it without a word (room_social._rename)
            return _local(session, f"you are already called {rest}")
        session.nick_asked = rest  # until the room answers (renamed, or a refusal): a rejoin asks it again
        return _out(ev.Nick(name=rest))
    if word == "/away":  # without a reason: away, or back if away already (or asked to be)
        reason = rest[: ev.MAX_AWAY_CHARS] if rest else ("" if wanted_away(session) else "away")
        session.away_asked = reason  # until the room answers (_away): a rejoin asks it again
        return _out(ev.SetAway(reason=reason))
    if word == "/back":  # back from /away, in the word a student coming back types (HexChat's too)
        if not wanted_away(session):
            return _local(session, "you are not away; /away [REASON] marks you away")
        session.away_asked = ""
        return _out(ev.SetAway(reason=""))
    if word == "/topic":
        if rest == "-" and not session.topic:  # was sent, and the room said "ann cleared the topic" of none
            return _local(session, f"there is no topic to clear; {_who_sets_the_topic(session)}")
        if rest:  # "-" alone clears it (PROTOCOL.md: an empty topic does); a restart keeps a topic
            return _out(ev.SetTopic(text="" if rest == "-" else rest))
        return _local(session, f"topic: {session.topic}" if session.topic else f"no topic; {_who_sets_the_topic(session)}")
    if word in ("/ignore", "/unignore"):
        return _ignore(session, word, rest)
    if word == "/joins":
        if rest.lower() not in ("on", "off"):
            return _local(session, "usage: /joins on|off", "error")
        session.show_joins = rest.lower() == "on"
        state = "shown" if session.show_joins else "hidden (the roster still shows who is here)"
        return _local(session, f"join and leave lines are {state}")
    if word == "/projector":
        return _projector(session, rest)
    return NOT_SOCIAL


def _projector(session: Session, rest: str) -> InputResult:
    """/projector toggles projector mode; /projector on|off sets it. Local only: what this screen
    draws (ui/projector.py), nobody is told."""
    wanted = rest.lower()
    if wanted not in ("", "on", "off"):
        return _local(session, "usage: /projector [on|off]", "error")
    session.projector = not session.projector if not wanted else wanted == "on"
    if session.projector:
        return _local(session, "projector mode on: direct messages show who wrote, not what (/projector again shows them)")
    return _local(session, "projector mode off: direct messages are shown")


def ctrl_c_question(session: Session, key: str = "Ctrl-C") -> Local | None:
    """Ctrl-C pressed at the host's terminal (or ``key``: --plain's Ctrl-D on an empty line): with
    others here it closes the chat for all of them, as /q does, so it asks /q's question, worded
    for the key (its answer: the key again, or /q: ``quit_armed``); None: leave now (a student's
    screen, the host alone, a script's pipe). The front end says which key is pressed next (CtrlCAnswer)."""
    if session.role != "host" or not session.confirm_quit or not others(session):
        return None
    from .session import Local

    session.quit_armed = False  # asked anew: a /q question asked before is answered by this one
    asked = _quit(session, key=key)
    return asked if isinstance(asked, Local) else None


def ctrl_z_question(session: Session) -> Local | None:
    """Ctrl-Z pressed at the host's full screen with others here: the server runs in this very
    program, so stopping it stops the room for all of them (their lines go nowhere until fg, and
    their screens say the room does not answer). Asked first, as Ctrl-C is (CtrlCAnswer); None: stop now."""
    if session.role != "host" or not session.confirm_quit or not (people := others(session)):
        return None
    from .session import Local

    who = ", ".join(people[:5]) + (f" and {len(people) - 5} more" if len(people) > 5 else "")
    text = f"Ctrl-Z stops the room too ({who}): no line goes through until you type fg; press Ctrl-Z again to stop anyway; any other key goes on"
    return Local((_line(text, _now(session)),))


# /help keys' row for leaving, on both front ends (the host's Ctrl-C and /q ask: CtrlCAnswer;
# its Ctrl-\\ is the stop-now key, a restart's shutdown)
LEAVE_KEYS_HELP = (
    "Ctrl-C, Ctrl-\\, /q",
    "leave (the host's Ctrl-C and /q ask first while others are here; its Ctrl-\\ stops at once, and the class waits for a restart)",
)


class CtrlCAnswer:
    """Which Ctrl-C answers the host's Ctrl-C question (ctrl_c_question), one rule for both front
    ends (ui/keys.py for the full screen, ui/plain.py), which tell it of each read of the keyboard and each key: the
    very next key, if it is Ctrl-C, closes; any other goes on (and does what it does). A Ctrl-C
    in the same read as the one that asked was pressed before the question was on the screen
    (a bounce, two presses a busy screen read at once, a paste without markers): it is dropped,
    and the question still waits for its answer."""

    def __init__(self) -> None:
        self.asked = ""  # the key whose question is out ("\x03"; --plain's Ctrl-D: "\x04"): the next key answers it
        self._in_this_read = False  # and it was asked in the read being handled

    def read(self) -> None:
        """A new read of the keyboard: what is in it was pressed after what came before."""
        self._in_this_read = False

    def key(self, key: object, untyped: Collection[object] = ()) -> None:
        """A key read: one that is not Ctrl-C (nor in ``untyped``: a resize, a mouse report, which
        nobody types) answers the question: the chat goes on."""
        if key != self.asked and key not in untyped:
            self.asked, self._in_this_read = "", False

    def ctrl_c(self, session: Session, key: str = "\x03") -> Local | bool:
        """Ctrl-C pressed (``key``: or --plain's Ctrl-D on an empty line; the full screen's Ctrl-Z,
        ctrl_z_question): the question to show; True: go ahead (leave, or stop); False: dropped
        (asked in this same read)."""
        if self.asked == key:
            if self._in_this_read:
                return False
            self.asked = ""  # answered: a Ctrl-Z after fg is asked about again
            return True
        asked = ctrl_z_question(session) if key == "\x1a" else ctrl_c_question(session, "Ctrl-C" if key == "\x03" else "Ctrl-D")
        self.asked, self._in_this_read = (key, True) if asked is not None else ("", False)
        return True if asked is None else asked


def _quit(session: Session, key: str = "/q") -> InputResult:
    """/q. The host's /q closes the chat for everyone, and so stops whatever others are downloading
    (the host's files or anyone's), and anyone's /q stops the files they are sending or receiving: a person
    at the screen is asked first, told of each (a script's pipe never is). A file offered to one
    person is not named in the form projector mode shows (``Line.private``). ``key``: what was
    pressed, "/q", "Ctrl-C" or "Ctrl-D" (ctrl_c_question)."""
    from dataclasses import replace

    from .session import Local, Quit

    people = others(session) if session.role == "host" else []
    if (not people and not moving_files(session)) or session.quit_armed or not session.confirm_quit:
        return Quit()
    session.quit_armed = True
    who = ", ".join(people[:5]) + (f" and {len(people) - 5} more" if len(people) > 5 else "")
    # asked of the server only now: a person is asked, and others are here
    fetching = session.fetching_here() if people and callable(session.fetching_here) else []

    def question(hide: bool) -> str:
        moving = moving_files(session, hide=hide)
        if not people:
            return f"/q stops {moving}: type /q again to leave (/q! leaves without asking)"
        still = f" while {fetched}" if (fetched := fetching_words(fetching, hide=hide)) else ""
        also = f" and stops {moving}" if moving else ""
        if key != "/q":  # the next key answers it: the same key closes, any other goes on (a /q typed closes too)
            return f"{key} closes the chat for everyone ({who}){still}{also}: press {key} again to close it; any other key goes on"
        return f"/q closes the chat for everyone ({who}){still}{also}: type /q again to close it (/q! closes without asking)"

    line = _line(question(hide=False), _now(session))
    private = question(hide=True)
    return Local((line if private == line.text else replace(line, private=private),))


def moving_files(session: Session, *, hide: bool = False) -> str:
    """The files on their way to or from us now, for /q's question: "receiving data.bin (40%)", and
    our /send files not on offer yet: "sending e.bin (checking)" (all sent, the server checking it),
    "sending e.bin (waiting)" (offered and not accepted yet, or waiting its turn); ``hide``: one offered to one person unnamed, as projector mode shows it."""
    from .session import HIDDEN_FILE

    moving = [
        (p.direction, p.label, bool(p.private), f"{p.percent}%") for key, p in session.progress.items() if key.startswith(("send:", "get:"))
    ]
    unsent = session.unsent_files() if callable(session.unsent_files) else []
    moving += [("send", name, to_one, state) for name, to_one, state in unsent]
    said = [
        f"{'sending' if direction == 'send' else 'receiving'} {f'a file {HIDDEN_FILE}' if hide and to_one else name} ({how_far})"
        for direction, name, to_one, how_far in moving[:2]
    ]
    more = f" and {len(moving) - 2} more file{'s' if len(moving) > 3 else ''}" if len(moving) > 2 else ""
    return ", ".join(said) + more


def fetching_words(fetching: list[tuple[str, str, int | None, bool, str | None]], *, hide: bool = False) -> str:
    """Who else is downloading what now (ServerFiles.fetching_but), for the host's /q's question,
    each person once: "bob is still downloading notes.pdf (40%) and b.pdf (waiting)", "... holiday.mp4
    from ann (40%)" (a file not the host's), "bob is about to download notes.pdf" (asked for, not
    begun), or "bob (a.pdf, 40%; b.pdf, 10%), cy (a.pdf, waiting) and 2 more are still downloading
    your files" ("files" when not all are the host's); "" for nobody. ``hide``: a file offered to
    one person unnamed, as projector mode shows it."""
    from .session import HIDDEN_FILE

    people: dict[str, list[tuple[str, int | None]]] = {}
    for who, name, percent, to_one, whose in fetching:
        shown = (f"a file {HIDDEN_FILE}" if hide and to_one else name) + (f" from {whose}" if whose else "")
        people.setdefault(who, []).append((shown, percent))
    if len(people) == 1:
        [(who, files)] = people.items()
        if all(percent is None for _, percent in files):
            return f"{who} is about to download {_and_more([name for name, _ in files], 'files')}"
        how_far = [f"{name} ({'waiting' if percent is None else f'{percent}%'})" for name, percent in files]
        return f"{who} is still downloading {_and_more(how_far, 'files')}"
    said = [
        f"{who} ({'; '.join(_few([f'{name}, ' + ('waiting' if percent is None else f'{percent}%') for name, percent in files]))})"
        for who, files in people.items()
    ]
    whose_files = "your files" if all(whose is None for *_, whose in fetching) else "files"
    return f"{_and_more(said, '')} are still downloading {whose_files}" if said else ""


SENDING_CHECK_SECONDS = 1.0  # the host's screen asks this often who fetches its files, while it offers one


def sending_now(session: Session) -> str:
    """The host's status line while others download the host's own files (ServerFiles.fetching_but,
    waiting or under way): "sending notes.pdf to 5", "sending 2 files to 6"; "" for none, and for
    anyone but the host. A teacher reads there when /q would cut nobody off. Projector mode: a
    file offered to one person unnamed."""
    if session.role != "host" or not callable(session.fetching_here):
        return ""
    files: dict[str, set[str]] = {}
    for who, name, _percent, to_one, whose in session.fetching_here():
        if whose is None:  # the host's own (others' files pass through the server, not from here)
            files.setdefault("a file" if session.projector and to_one else name, set()).add(ev.name_key(who))
    if len(files) == 1:
        [(name, people)] = files.items()
        return f"sending {name} to {len(people)}"
    return f"sending {len(files)} files to {len(set().union(*files.values()))}" if files else ""


def sending_check_due(session: Session) -> bool:
    """Whether the host's screen should look again in ``SENDING_CHECK_SECONDS``: while a file of
    the host's is on offer (a download starts with no event the host's screen sees), or one is
    still being fetched. Asked of the server by the host's connection (offering_here, fetching_here),
    never by name: after the host's /nick its earlier offers still count, and one that went (a
    private offer whose one recipient left) no longer does. An idle chat sleeps."""
    if session.role != "host" or not callable(session.fetching_here):
        return False
    if callable(session.offering_here) and session.offering_here():
        return True
    return any(whose is None for *_, whose in session.fetching_here())


def _few(items: list[str]) -> list[str]:
    """Up to three of ``items``; more: the first two and "N more"."""
    return items if len(items) <= 3 else [*items[:2], f"{len(items) - 2} more"]


def _and_more(items: list[str], noun: str) -> str:
    """``items`` said as a list: "a, b and c", "a, b and 2 more ``noun``" past three."""
    shown = _few(items)
    if len(items) > 3 and noun:
        shown[-1] += f" {noun}"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _ignore(session: Session, word: str, rest: str) -> InputResult:
    """/ignore NAME, /unignore NAME, /ignore alone lists. Local only: nobody is told."""
    if not rest:
        names = sorted(session.ignored)
        return _local(session, f"ignoring: {', '.join(names)}" if names else "ignoring nobody; /ignore NAME hides their messages here")
    if any(ch.isspace() for ch in rest):  # "/ignore bob he spams": no one has that name
        return _local(session, f"usage: {word} NAME (one name: a name has no spaces)", "error")
    key = ev.name_key(rest)
    if word == "/unignore":
        if key not in session.ignored:
            return _local(session, f"you are not ignoring {rest}; /ignore alone lists whom you ignore")
        session.ignored.discard(key)
        return _local(session, f"showing {rest}'s messages again")
    if key == ev.name_key(session.name):
        return _local(session, "you cannot ignore yourself", "error")
    session.ignored.add(key)
    session.typing = {name: when for name, when in session.typing.items() if ev.name_key(name) != key}  # nor "is typing"
    return _local(session, f"ignoring {rest} on this screen (they are not told); /unignore {rest} undoes it")
