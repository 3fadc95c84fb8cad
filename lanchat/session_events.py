"""session_events.py: what one participant's screen shows for each server event, and what the
session learns from it (who is here, the mode, whose turn). Pure functions of a Session; never
does I/O.

``Session.on_event`` first leaves out what must not be shown (a name longer than a server sends,
a replay line seen before a drop, an ignored person's message), then calls ``lines_for``: one
small function per event type, found in ``SHOWN`` at the end of this module. Moderation's events
are worded in session_moderation.py, /me, /nick, /away, /topic and typing hints in
session_social.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import PurePath
from typing import Any

from . import events as ev
from . import session_moderation as moderation
from . import session_social as social
from .colourbot import BOT_NAME, is_farewell, suggestion_colour
from .members import Members
from .session import (
    HIDDEN_FILE,
    HISTORY_PAGE,
    HISTORY_PAGE_END,
    JOIN_LEAVE,
    JOIN_REPLAY,
    OFFERS_REMEMBERED,
    REPLAY_END,
    TURN_CHANGED,
    TURN_OURS,
    WELCOME,
    Line,
    Presence,
    Session,
    muted_on_joining,
    wire_code,
)
from .wording import OLD_ROOM_NOTE, here_words, joined_words, member_marks, moved_words


def lines_for(session: Session, event: object) -> list[Line]:
    """The lines ``event`` shows, after updating ``session``; an event this client does not
    show (or does not know) shows nothing. Events are never subclassed: the exact type decides."""
    shown = SHOWN.get(type(event))
    return [] if shown is None else shown(session, event)


# ------------------------------------------------------------- joining the room


def _welcome(session: Session, event: ev.Welcome) -> list[Line]:
    session.name = event.name
    session.mode = event.mode
    session.members = Members(event.members)
    session.turn = event.turn
    session.host = event.host
    session.once = event.once
    session.bots = {ev.name_key(n) for n in event.bots}
    session.at_nc = {ev.name_key(n) for n in event.text}
    session.muted_until = session._welcome_mute_end(event)[0]
    others = [m for m in session.members if m != session.name]
    here = here_words(others) if others else "nobody else yet"
    lines = [replace(session._notice(f"welcome, {session.name}: {session.mode} mode; here: {here}. /help lists commands"), composed=True, code=WELCOME)]
    if event.version == ev.FIRST_RELEASE_VERSION:  # (on the full screen too: printed before it opens, it was hidden)
        lines.append(session._notice(OLD_ROOM_NOTE))
    if session.mode == "turn":
        lines.append(session._notice(f"turn-based: {session.turn_text()}"))
    lines += muted_on_joining(session, event)
    lines += session.rejoin.keep_secret(session, event)
    if event.keeps_history:
        lines.append(session._notice(f"this room keeps history on {_history_place(session)}"))
    elif session.join_lines_when == "welcome":  # no replay comes: how to join goes here
        lines += _join_lines_now(session)
    return lines


def _history_place(session: Session) -> str:
    """Where the room's history file is, as the one reading it would say: a headless room
    (serve --headless) has no host, only the machine it runs on (PROTOCOL.md, History replay)."""
    if session.role == "host":
        return "this machine"
    return "the host's machine" if session.host else "the server's machine"


def _join_lines_now(session: Session, *, replayed: bool = True) -> list[Line]:
    """How others join, once, below the replay that ended (``join_lines_when``)."""
    when, session.join_lines_when = session.join_lines_when, ""
    if when == "welcome" or (when == "replay" and replayed):
        return [session._notice(text.strip(), kind="system") for text in (*session.join_lines, *session.start_lines)]
    return []


def _whois(session: Session, event: ev.WhoIsReply) -> list[Line]:
    where = " (host)" if event.host else (" (here)" if event.here else " (not here now)")
    if event.fingerprint is None:
        return [session._notice(f"{event.name}{where}: no key owns this name")]
    return [session._notice(f"{event.name}{where}: key {event.fingerprint}")]


def _released(session: Session, event: ev.Released) -> list[Line]:
    if event.owned:
        return [session._notice(f"released {event.name}: the next key to join with it owns it")]
    return [session._notice(f"nobody owned {event.name}")]


# ---------------------------------------------------------- messages and history


def _replayed(session: Session, event: ev.Message | ev.Direct) -> list[Line]:
    # Replayed from the server's history: marked [History], never a fresh mention.
    to = event.to if isinstance(event, ev.Direct) else None
    page = HISTORY_PAGE if session.history_asked else JOIN_REPLAY
    acted = isinstance(event, ev.Message) and event.action  # a /me (PROTOCOL.md, History replay)
    return [Line(kind="history", time=event.time, sender=event.sender, to=to, text=event.text, code=page, action=acted)]


def _history_end(session: Session, event: ev.HistoryEnd) -> list[Line]:
    session.history_before = event.before
    asked, session.history_asked = session.history_asked, False
    shown, session.rejoin.skipped = event.shown - session.rejoin.skipped, 0  # less those on screen already
    if not event.shown:  # a first visit to an empty room stays quiet
        session.history_from_join = not asked and not event.more and event.before is None
        return [session._notice("no earlier history")] if asked else _join_lines_now(session, replayed=False)
    earlier = "; /history shows earlier ones" if event.more else ""
    end = session._notice(f"end of history ({shown} shown{earlier})")
    if asked:  # a /history page's end: the screen scrolls the page into view
        return [replace(end, code=HISTORY_PAGE_END)]
    return [replace(end, code=REPLAY_END), *_join_lines_now(session)]  # the join replay's: kept under it


def _message(session: Session, event: ev.Message) -> list[Line]:
    if event.history:
        return _replayed(session, event)
    mine = ev.name_key(event.sender) == ev.name_key(session.name)
    if mine:  # the room took a line of ours: not muted now (a rejoin's minutes are rounded up)
        session.muted_until = None
    return [
        Line(
            kind="own" if mine else "message",
            time=event.time,
            sender=event.sender,
            text=event.text,
            mentions_me=not mine and session.mentions_me(event.text),
        )
    ]


def _direct(session: Session, event: ev.Direct) -> list[Line]:
    if event.history:
        return _replayed(session, event)
    if event.held:
        # Our own copy of a direct message the server keeps for someone who is away.
        return [
            Line(kind="direct", time=event.time, sender=event.sender, to=event.to, text=event.text),
            session._notice(f"{event.to} is not here now; they will see it when they come back"),
        ]
    to_me = ev.name_key(event.to) == ev.name_key(session.name)
    lines = [_direct_line(session, event, to_me)]
    if session.once and to_me and session.role == "client" and event.sender == BOT_NAME and is_farewell(event.text):
        # Seed 000: the client closes its socket once the user is happy with the colour,
        # and a --once server then shuts down, whether or not they began with /mood.
        # Elsewhere a Y only ends the exchange.
        session.bot_exchange = False
        session.leave_requested = True
        return [*lines, session._notice("happy with the colour: leaving, as seed 000's client does")]
    exchange = social.bot_direct(session, event, lines[0]) if to_me else None
    return lines if exchange is None else exchange


def _direct_line(session: Session, event: ev.Direct, to_me: bool) -> Line:
    mentions_me = to_me and event.sender != session.name
    return Line(kind="direct", time=event.time, sender=event.sender, to=event.to, text=social.as_typed(session, event),
                mentions_me=mentions_me, colour=suggestion_colour(event.text))


# ------------------------------------------------------------- who is here


def _joined(session: Session, event: ev.Joined) -> list[Line]:
    session.members.add(event.name)
    if event.bot:
        session.bots.add(ev.name_key(event.name))
    if event.text:
        session.at_nc.add(ev.name_key(event.name))
    if not session.show_joins or _moved_back(session.moved, event.name):
        return []  # (moved: the left just before said it in one line)
    count = len(session.members)
    presence = Presence(name=event.name, change=joined_words(event), here=count)  # (reconnected: never folded)
    return [Line(kind="notice", time=event.time, text=f"{event.name} {presence.change} ({count} here)", code=JOIN_LEAVE, presence=presence)]


def _moved_back(moved: set[str], name: str) -> bool:
    """Whether ``name`` is the one whose "moved" left came just before (and forget it)."""
    if not moved or (key := ev.name_key(name)) not in moved:
        return False
    moved.discard(key)
    return True


def _left(session: Session, event: ev.Left) -> list[Line]:
    here = len(session.members)  # with them: a moved session's joined follows at once
    session.members.discard(event.name)
    session.away.pop(ev.name_key(event.name), None)  # whoever comes back is not away
    session.typing.pop(event.name, None)  # nor typing: the status line said so for seconds after they left
    session.bots.discard(ev.name_key(event.name))
    session.at_nc.discard(ev.name_key(event.name))
    session.operators.discard(event.name)
    if ev.name_key(event.name) == ev.name_key(BOT_NAME):
        session.bot_exchange = False
    if event.reason in ("kicked", "banned") or not session.show_joins:
        return []  # kicked, banned: the "moderated" line just before said who did it and why
    if event.reason == ev.LEFT_MOVED:  # their joined follows at once: one line, not two
        session.moved.add(ev.name_key(event.name))
        # back before the server noticed the cut: counted as when it had noticed ("reconnected (3 here)")
        counted = f" ({here} here)" if event.rejoined else ""
        return [Line(kind="notice", time=event.time, text=f"{event.name} {moved_words(event)}{counted}", code=JOIN_LEAVE)]
    why = {
        "quit": "left",
        "lost": "lost connection",
        "dropped": "was dropped (not reading fast enough)",
        "flooding": "was disconnected for flooding",
    }
    text = f"{event.name} {why.get(event.reason, 'left')} ({len(session.members)} here)"
    presence = Presence(name=event.name, change=event.reason, here=len(session.members))
    return [Line(kind="notice", time=event.time, text=text, code=JOIN_LEAVE, presence=presence)]


def _roster(session: Session, event: ev.Roster) -> list[Line]:
    session.members = Members(event.members)
    session.bots = {ev.name_key(n) for n in event.bots}
    session.at_nc = {ev.name_key(n) for n in event.text}
    muted = event.mute_notes()  # who is muted, and how long for (PROTOCOL.md, Moderation)
    who = f"here ({len(session.members)}): {', '.join(_marked(session, m, muted) for m in session.members)}"
    return [replace(session._notice(who), composed=True), *_still_fetching(session)]


def _still_fetching(session: Session) -> list[Line]:
    """Under the host's /who, who is downloading what now, in /q's words (fetching_words): the
    full screen's status line says "sending notes.pdf to 2", and --plain has no status line, so
    its host learnt it only from /q's question. Projector mode names no file offered to one."""
    if session.role != "host" or not callable(session.fetching_here):
        return []
    fetching = session.fetching_here()
    said = social.fetching_words(fetching)
    if not said:
        return []
    hidden = social.fetching_words(fetching, hide=True)
    return [replace(session._notice(f"    {said}"), composed=True, private=None if hidden == said else f"    {hidden}")]


def _marked(session: Session, name: str, muted: dict[str, str]) -> str:
    """A name in /who's answer, marked as the roster pane marks it (wording.member_marks): the
    host or an operator, you, then whose turn it is in a turn room (below 100 columns there is
    no roster pane, and the status line alone said it), away with the reason (``/away`` alone
    sends "away"), then muted (``muted``: Roster.mute_notes)."""
    key = ev.name_key(name)
    host = session.host is not None and key == ev.name_key(session.host)
    turn = session.mode == "turn" and session.turn is not None and key == ev.name_key(session.turn)
    return name + member_marks(host=host, op=not host and session.is_operator(name), nc=key in session.at_nc, you=key == ev.name_key(session.name), turn=turn,
                               away=session.away.get(key, ""), muted=muted.get(key, ""))  # fmt: skip


def _turn(session: Session, event: ev.Turn) -> list[Line]:
    # Ours again (alone in the room, or the others muted: the server names the holder after each
    # line said) is no news: 'turn: your turn' came twice in a row, under the line it followed.
    again = session.my_turn and event.holder is not None and ev.name_key(event.holder) == ev.name_key(session.name)
    session.turn = event.holder
    if session.mode != "turn" or again:  # after /mode duplex: nobody's turn, and the act said so
        return []
    # coded by whose it is now, not read at the screen: a batch may end on another turn (sending.py)
    code = TURN_OURS if session.my_turn else TURN_CHANGED
    return [Line(kind="notice", time=session._now(), text=f"turn: {session.turn_text()}", code=code)]


# ------------------------------------------------------- errors and notices


def _error(session: Session, event: ev.Error) -> list[Line]:
    if event.fatal:
        # the chat ends here, and its last line (client.py's exit: "disconnected by the
        # server: ...") says why: a flood, a deadline, who removed us. Said once, there.
        return []
    social.refused(session, event.code)
    text = event.message
    if event.code == ev.E_NAME_OWNED and session.name_owned_hint:  # a /nick's: how to bring the key that owns it
        text = f"{text} {session.name_owned_hint}"
    return [Line(kind="error", time=session._now(), text=text, code=wire_code(event.code))]


def _server_notice(session: Session, event: ev.Notice) -> list[Line]:
    # news for us alone, refusing nothing: shown as a notice, not an error
    return [Line(kind="notice", time=session._now(), text=event.message, code=wire_code(event.code))]


def _shutdown(session: Session, event: ev.Shutdown) -> list[Line]:
    session.closed_reason = f"the server shut down: {event.reason}"
    session.closed_for_good = event.final
    return [session._notice(session.closed_reason)]


# ---------------------------------------------------------------- file sharing


def _offered(session: Session, event: ev.Offered) -> list[Line]:
    if not event.listing and shown_before(session, event):  # told again on rejoining: said once
        return []
    if not event.listing:  # a new offer: who fetched an earlier file of that number (a server restarted) is not who fetched it
        session.fetched_by.pop(event.id, None)
    return [*renumbered_offer(session, event), offered_line(session, event), *who_has_it(session, event)]


def _file_list(session: Session, event: ev.FileList) -> list[Line]:
    text = f"files on offer ({event.count}):" if event.count else "no files are on offer; /send PATH offers one"
    if event.unlisted:  # the server lists the newest only
        text = f"files on offer ({event.count + event.unlisted:,}; the newest {event.count} listed):"
    return [session._notice(text)]


def renumbered_offer(session: Session, offered: ev.Offered) -> list[Line]:
    """Ids never repeat within a server's run (nor across runs with history), so an id seen
    before for another file means the server restarted without its history: said once, so a
    ``/get`` meant for the old file is not taken for the new one (PROTOCOL.md, File transfer)."""
    from .files import safe_name

    now = (safe_name(offered.name), offered.sender, bool(offered.to), offered.time)
    seen = session.offers_seen
    earlier = seen.pop(offered.id, None)
    seen[offered.id] = now  # the newest last: a server flooding offers holds at most OFFERS_REMEMBERED
    if len(seen) > OFFERS_REMEMBERED:
        del seen[next(iter(seen))]
    if earlier is None or earlier[:2] == now[:2]:
        return []
    (name, sender, private, _when), before = earlier, "had that number before the server restarted"
    line = session._notice(f"#{offered.id} is a new file: {name} from {sender} {before}")
    # the earlier file was offered to one person: projector mode shows the notice without its name
    return [replace(line, private=f"#{offered.id} is a new file: a file {HIDDEN_FILE} from {sender} {before}") if private else line]


def shown_before(session: Session, offered: ev.Offered) -> bool:
    """This very offer was on the screen already: the server tells whoever joins what is on
    offer (PROTOCOL.md, File transfer), and a rejoin after a drop shows it only if it is new. The
    time it was offered tells it from the same file offered again under its old number (a
    restart without history numbers from 1 again)."""
    from .files import safe_name

    return session.offers_seen.get(offered.id) == (safe_name(offered.name), offered.sender, bool(offered.to), offered.time)


def _fetched_by_them(offered: ev.Offered) -> str:
    """Whether the one person a file of ours is offered to has it, in our /files: the server's
    count ("fetched by 0" read as if a room had been asked), said of them; "" from a server that
    does not count."""
    if offered.fetched is None:
        return ""
    return ", who has it" if offered.fetched else ", not fetched yet"


def offered_line(session: Session, offered: ev.Offered) -> Line:
    """An offer as a notice, with the exact command to fetch it (PROTOCOL.md, File transfer)."""
    from .files import human_size, safe_name

    name = safe_name(offered.name)
    size = human_size(offered.size)
    mine = ev.name_key(offered.sender) == ev.name_key(session.name)
    if offered.listing:
        whom = f" (only for {offered.to}{_fetched_by_them(offered)})" if offered.to and mine else (
            " (only for you)" if offered.to else "")
        if offered.fetched is not None and not offered.to:  # the offerer's listing: how many have it ("fetched by 28")
            whom += f", fetched by {offered.fetched or 'nobody yet'}"
        sender, get, hidden_get = ("you", "", "") if mine else (offered.sender, *_get_words(session, offered))
        line = session._notice(f"  #{offered.id} {name} {size} from {sender}{whom}{get}")
        return _private_offer(line, offered, f"  #{offered.id} {HIDDEN_FILE} from {sender}{whom}{hidden_get}")
    if mine:
        whom = f"to {offered.to}" if offered.to else "to the room"
        line = session._notice(f"your file {name} ({size}) is on offer {whom} as #{offered.id}", when=offered.time)
        return _private_offer(line, offered, f"your file {HIDDEN_FILE} is on offer {whom} as #{offered.id}")
    whom = "offers you" if offered.to else "offers"
    line = session._notice(f"{offered.sender} {whom} {name} ({size}); type /get {offered.id} to download it", when=offered.time)
    return _private_offer(line, offered, f"{offered.sender} offers you a file {HIDDEN_FILE}; /get {offered.id} downloads it")


def _get_words(session: Session, offered: ev.Offered) -> tuple[str, str]:
    """How /files' line about someone else's file ends: ": /get 3", or where this client saved it
    while it is still there (/files offered "/get 3" to one who had it: a second /get says where
    it is and fetches no copy), or that it is on its way here (a download under way: a /get then
    only said "already on its way"), and the same for projector mode, without the file's name."""
    from .files import Progress, path_as_typed

    coming = session.progress.get(f"get:{offered.id}")  # (client_files.ClientTransfers keeps it there)
    if isinstance(coming, Progress):
        words = f": on its way here, {coming.percent}% (/cancel {offered.id} stops it)"
        return words, words
    saved = session.saved_files(offered.id) if callable(session.saved_files) else None
    if not isinstance(saved, PurePath):
        return f": /get {offered.id}", f": /get {offered.id}"
    return f": saved as {path_as_typed(str(saved))}", f": saved in {path_as_typed(str(saved.parent))}"


# A line of who fetched a file of ours names the newest few, then counts the rest: "bob, ann and
# 10 others (12)". Kept per file: this many names (the line's whole, once a fourth comes)
FETCHED_NAMED = 3
# Who fetched each of our files is kept whole, for /files to say who here has it and who not yet
# (who_has_it): a room's worth of names for each of the newest files. A server telling of more
# (a hostile one) costs no more memory: the oldest are forgotten, and /files then says so.
FETCHED_NAMES_KEPT = 1024
FETCHED_FILES_KEPT = 64


def _fetched(session: Session, event: ev.Fetched) -> list[Line]:
    """One more person has all of a file of ours (PROTOCOL.md, Who fetched it): a line that says
    everyone so far, marked with the file's id so the screen puts it in the place of the last one
    (``Line.fetched``): a class of 30 fetching the slides is one line that grows. Who it was is
    kept (``Session.fetched_by``): an offer goes with the connection that offered it, so this
    client was told of every fetch of it, and /files can say who in the room has not yet."""
    from .files import safe_name

    seen = session.fetched_by
    who = seen.pop(event.id, {})
    who.pop(ev.name_key(event.by), None)
    who[ev.name_key(event.by)] = event.by  # the newest last
    if len(who) > FETCHED_NAMES_KEPT:
        del who[next(iter(who))]
    seen[event.id] = who  # the newest file last
    if len(seen) > FETCHED_FILES_KEPT:
        del seen[next(iter(seen))]
    names = tuple(reversed(list(who.values())[-FETCHED_NAMED:]))
    count = max(event.count, len(names))
    line = replace(session._notice(fetched_words(safe_name(event.name), event.id, names, count)), fetched=event.id)
    offered = session.offers_seen.get(event.id)
    if offered is not None and offered[2]:  # offered to one person: projector mode hides its name
        return [replace(line, private=fetched_words(HIDDEN_FILE, event.id, names, count))]
    return [line]


def fetched_words(name: str, file_id: str, names: tuple[str, ...], count: int) -> str:
    """``your file notes.pdf (#7): fetched by bob, ann and 10 others (12)``: the newest first;
    three named while three have it, else two and the rest counted."""
    shown = list(names[: FETCHED_NAMED if count <= FETCHED_NAMED else FETCHED_NAMED - 1])
    if count > len(shown):
        shown.append(f"{count - len(shown)} other" + ("s" if count - len(shown) > 1 else ""))
    who = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
    return f"your file {name} (#{file_id}): fetched by {who}" + (f" ({count})" if count > 1 else "")


# /files names at most this many of those here who have not fetched a file of ours yet; the
# rest are counted ("not yet: dan, eve, ... and 12 others")
NOT_YET_NAMED = 8


def who_has_it(session: Session, offered: ev.Offered) -> list[Line]:
    """Under a file of ours in /files (the listing says how many fetched it: ``offered.fetched``,
    told to its offerer alone), who of those here has it and who not yet, so a teacher knows
    whom to help: ``    28 of the 30 here have it; not yet: dan, eve``. Here: the room's
    members less us and its bots. By name, as the
    server counts (one who fetched and then took another name still has it: session_social._renamed). Projector mode shows the counts only: who
    has not fetched the slides is not for the wall. Nothing while nobody else is here, nor for a
    file offered to one person (its line says whether they have it: _fetched_by_them)."""
    if not offered.listing or offered.fetched is None or offered.to:
        return []
    me, kept = ev.name_key(session.name), session.fetched_by.get(offered.id, {})
    others = [name for name in session.members if ev.name_key(name) != me and ev.name_key(name) not in session.bots]
    at_nc = [name for name in others if ev.name_key(name) in session.at_nc]  # never "not yet": they cannot fetch
    here = [name for name in others if ev.name_key(name) not in session.at_nc]
    if not here:
        return [replace(session._notice(at_nc_words(at_nc)), composed=True, private=at_nc_words(at_nc, hide=True))] if at_nc else []
    if len(kept) != offered.fetched:  # told of more than were kept (or a server that counts otherwise): no guess
        return [session._notice(f"    who of the {len(here)} here has it is not known: this client did not keep every name")]
    missing = [name for name in here if ev.name_key(name) not in kept]
    text, counts = who_has_it_words(here, missing)
    if at_nc:
        text, counts = f"{text}; {at_nc_words(at_nc).lstrip()}", f"{counts}; {at_nc_words(at_nc, hide=True).lstrip()}"
    return [replace(session._notice(text), composed=True, private=counts)]


def at_nc_words(at_nc: list[str], *, hide: bool = False) -> str:
    """Who here is at nc, said apart under a file of ours (who_has_it): they see no offers and
    cannot /get, so they are never "not yet". ``hide``: the projector's words, counted, not named."""
    if hide:
        return f"    {len(at_nc)} at nc cannot fetch files"
    shown = at_nc[:NOT_YET_NAMED]
    rest = len(at_nc) - len(shown)
    names = ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 and not rest else ", ".join(shown)
    names += f" and {rest} other" + ("s" if rest > 1 else "") if rest else ""
    return f"    {names} {'is' if len(at_nc) == 1 else 'are'} at nc and cannot fetch files"


def who_has_it_words(here: list[str], missing: list[str]) -> tuple[str, str]:
    """The words of ``who_has_it`` and, for the projector, the same without names:
    ``28 of the 30 here have it; not yet: dan, eve``, the first NOT_YET_NAMED named; one person
    here is named: ``bob has it``, ``bob has not fetched it yet``."""
    if len(here) == 1:
        has = "has not fetched it yet" if missing else "has it"
        return f"    {here[0]} {has}", f"    the one here {has}"
    if not missing:
        return (f"    all of the {len(here)} here have it",) * 2
    have = len(here) - len(missing)
    counts = f"    {have} of the {len(here)} here " + ("has it" if have == 1 else "have it")
    shown = missing[:NOT_YET_NAMED]
    rest = len(missing) - len(shown)
    names = ", ".join(shown) + (f" and {rest} other" + ("s" if rest > 1 else "") if rest else "")
    return f"{counts}; not yet: {names}", f"{counts}; {len(missing)} not yet"


def _private_offer(line: Line, offered: ev.Offered, private: str) -> Line:
    """A file offered to one person names it only on their screen: projector mode shows ``private``."""
    return replace(line, private=private) if offered.to else line


# What the screen shows for each server event type (lines_for). Events are never subclassed, so
# each finds exactly one function here, and the order of the rows decides nothing.
SHOWN: dict[type, Callable[[Session, Any], list[Line]]] = {
    ev.Welcome: _welcome,
    ev.WhoIsReply: _whois,
    ev.Released: _released,
    ev.HistoryEnd: _history_end,
    ev.Message: _message,  # a replayed one (history) as such
    ev.Direct: _direct,  # a replayed one (history) as such
    ev.Joined: _joined,
    ev.Left: _left,
    ev.Roster: _roster,
    ev.Moderated: moderation.moderated,
    ev.Operators: moderation.operators,
    ev.BanList: moderation.ban_list,
    ev.Turn: _turn,
    ev.Error: _error,
    ev.Notice: _server_notice,
    **dict.fromkeys(ev.SCREEN_SERVER_EVENTS, social.on_event),  # /me, /nick, /away, /topic, typing
    ev.Refused: moderation.refused,
    ev.Offered: _offered,
    ev.FileList: _file_list,
    ev.Fetched: _fetched,
    ev.Shutdown: _shutdown,
}
