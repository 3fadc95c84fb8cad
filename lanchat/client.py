"""client.py: the client loop. Network and keyboard on one selector, never blocking.

Used by both roles: a remote client's socket goes to the server over TCP or AF_UNIX;
the host's socket is one end of a socketpair whose other end the server adopted.
The front end (plain lines or curses) is handed in; this module never draws.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import re
import selectors
import shlex
import signal
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import events as ev
from . import identity
from .client_files import (
    ClientTransfers,
    cut_off,
    hash_kept,
    hashing,
    not_back_on_offer,
    offers_came,
    stalled,
    taken_up,
    uploads_in_flight,
)
from .limits import HELLO_SECONDS
from .liveness import Liveness, SleepWatch, answers_again_line, refuses_a_ping, silent_line
from .pacing import ANSWERS_AWAITED_SECONDS, SendPacer, without_muted
from .protocol import (
    Connection,
    ConnectionClosed,
    Invalid,
    LocalProtocolError,
    RemoteProtocolError,
    Role,
    text_greeting,
)
from .session import FileCommand, InputResult, Line, Local, MachineMoved, Outgoing, Quit, Session, UiCommand, Unsend
from .stopsignals import StopSignals, start_thread
from .textsafe import quoted, visible
from .tls import looks_like_tls
from .transport import (
    TransportError,
    left_behind,
    on_the_network,
    set_keepalive,
    set_receive_buffer,
    unacknowledged_bytes,
    wake_pair,
)
from .unconfirmed import (
    ECHOES,
    NEEDS_THE_TURN,
    SHOW_UNANSWERED_AFTER,
    TYPED_ONLY_REFUSALS,
    HeldForTurn,
    Unanswered,
    Unconfirmed,
    typed_as,
)

READ_BYTES = 256 * 1024
# Held while the room starts (PROTOCOL.md): the server answers within its hello deadline, the
# welcome or its error; waited a little longer than that, so its word comes first
HELD_WAIT_SECONDS = HELLO_SECONDS + 5.0
HELD, ANSWERED = "held", "answered"  # what the server has said in a handshake (join)
# A lanchat server answers a hello at once: silent this long, the port is likelier another
# program's (a web server, Jupyter: they wait for a request line that never comes) than lanchat's
SILENT_SERVER_SECONDS = 3.0
UPLOAD_LOW_WATER_BYTES = 256 * 1024
# A download caps this socket's receive buffer, so that at most this much file data sits in
# the kernel ahead of a chat line (hub_downloads.FILE_SEND_BUFFER_BYTES caps the other end).
DOWNLOAD_RECEIVE_BUFFER_BYTES = 256 * 1024
LINGER_SECONDS = 2.0  # after the bye, how long to wait for the server to close its side
# Reconnecting after a lost connection: growing waits, then every RETRY_DELAYS[-1] seconds, for
# at most GIVE_UP_SECONDS; a server restart is back within the first few. The last is short: a
# class whose teacher restarted the room, or friends whose Wi-Fi came back, waited up to 15 s
# more for it (a try is one connection attempt on the LAN: 120 in 10 minutes cost nothing).
RETRY_DELAYS = (1.0, 2.0, 4.0, 5.0)
GIVE_UP_SECONDS = 600.0
# ... after which --plain and scripts give up (exit), while the full screen, where a person reads
# the status line and can /q, goes on trying every this many seconds: the host's laptop asleep
# over lunch, or the server restarted late, found the class's chats ended and their transcripts
# gone from the screen, each to be joined again by hand.
PATIENT_RETRY_SECONDS = 30.0
REPLAY_SETTLE_SECONDS = 2.0  # a rejoin's replay comes at once; after this, anything is live
OFFERS_SETTLE_CEILING = 30.0  # from a server answering no ping: a rejoin's offers are taken to have come by then, however busy the room
MAX_QUEUED_WHILE_AWAY = 50  # lines typed while disconnected, sent on rejoining
# A rejoin that is lost again within this long did not hold (a server that welcomes and then
# shuts down or drops at once, over and over): the waits go on growing from where they were,
# and GIVE_UP_SECONDS counts from the first loss, instead of trying again every second forever.
HELD_SECONDS = 30.0
# The exit status of a chat the server ended (the host closed it for good, say) while lines typed
# were still held (for our turn, typed while away, at the room's pace): 1, as when they are lost
# with a server that never came back (Reconnect.gives_up), so a script notices (README; PROTOCOL.md 8).
# Leaving by choice (/q, Ctrl-C) stays 0: its last line counts them all the same.
LINES_NOT_SENT = 1


# While a rejoin waits, how often it asks whether the room was announced at a new address,
# and, where none can be, whether this machine slept meanwhile (Patience.woke): a student's
# laptop closed while the room was down waited up to PATIENT_RETRY_SECONDS more on waking, its
# status line saying a "next try at" already past (a wait counts monotonic time, which a
# suspend stops).
NEWS_CHECK_SECONDS = 0.5
WAKE_CHECK_SECONDS = 2.0
# How often a connected client checks that its own address is still this machine's (a laptop
# back on the Wi-Fi with a new one rejoins then, not when TCP gives up a minute later).
ADDRESS_CHECK_SECONDS = 2.0
# A transfer under way that moved no byte for this long puts its connection in doubt (watch_address).
TRANSFER_QUIET_SECONDS = 3.0
# An upload all written: how often its progress is read from the kernel until the server's end took it all.
IN_FLIGHT_LOOK_SECONDS = 0.2


# Fatal errors that end a connection for the link's sake, not the person's (PROTOCOL.md 5, Slow
# readers): a reader the server gave up on (a Wi-Fi that stalled under a download), a frame a
# stall left half-sent. No kick: the client rejoins as after a lost connection, and the status
# line says why it is offline (Offline.why).
LINK_DROPS = {ev.E_TOO_SLOW: "the link was too slow", ev.E_DEADLINE: "the link stalled"}


class NotTheRoom(TransportError):
    """A rejoin's try at an address the room was announced at, where it was not (cli/rejoin.py's _Rejoin).
    Not said on screen: anyone can announce the room, and a flood of false announcements would
    fill the transcript with a line a try; the tries at the room's own address still say theirs."""


def retry_delay(attempt: int) -> float:
    """The wait before reconnect attempt ``attempt`` (0 first): 1, 2, 4, then 5 s each."""
    return RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]


# connect + join again as the same person: (socket, protocol, welcome, events after it)
Rejoin = Callable[[], tuple[socket.socket, Connection, ev.Welcome, list]]
TYPED = frozenset({ev.Say, ev.Whisper, ev.Me})  # what a person typed: never lost with a connection
MAY_ANSWER = ECHOES | {ev.Error, ev.HistoryEnd}  # events that may answer a typed line (``answered``)


@dataclass(frozen=True)
class RejoinNote:
    """What a rejoin's worker waits for, slow (Reconnect.note): for the status line, and a line."""

    doing: str
    line: str


class Offline:
    """The status line's word on the connection while it is down (shown with the transfers'
    progress, session.progress; the address is already on that line): what is happening now."""

    def __init__(self) -> None:
        self.next_try: float | None = None  # wall-clock time of the next attempt; None: one is under way
        self.stopped = False  # the server said it shut down (not a drop): waiting for it to come back
        self.doing = ""  # what the attempt under way waits for, when slow (a host's name looked up)
        self.told: set[str] = set()  # the lines saying so in this outage (said_slow)
        self.why = ""  # the server dropped us for the link's sake (LINK_DROPS): said until back

    def text(self) -> str:
        if self.stopped:  # the attempts' rhythm does not matter here: it comes back when it is restarted
            return "server stopped: waiting for it to come back; /q leaves"
        offline = f"offline ({self.why})" if self.why else "offline"
        if self.next_try is None:
            return f"{offline}: {self.doing}\u2026" if self.doing else f"{offline}: reconnecting\u2026"
        return f"{offline}: next try at " + time.strftime("%H:%M:%S", time.localtime(self.next_try))

    def short(self) -> str:
        """The same where the whole would be cut (a 40-column window): what matters first."""
        return "server stopped: waiting" if self.stopped else self.text()


def said_slow(status: Offline, loop: ClientLoop, note: RejoinNote) -> None:
    """A rejoin's attempt is slow (Reconnect.note): a host typed by name was looked up silently
    for up to 10 s each try, the status line on "reconnecting..." and --plain without a word. The
    status line says what it waits for; a line says it, once an outage."""
    if status.next_try is not None or loop.outcome is not None:  # its attempt is over already
        return
    status.doing = note.doing
    loop.session.progress["connection"] = status
    if note.line not in status.told:
        status.told.add(note.line)
        loop.frontend.show([Line(kind="notice", time=time.time(), text=note.line)])


def lost_because(failed: object) -> str:
    """Why a rejoin's try failed, as its line says (still_lost). Refused: the room's server is
    not running there now (the host restarting it, most likely); a first connect's hint, "no
    lanchat server at ADDRESS (connection refused); is `lanchat serve` running? (a firewall...)",
    read as asides within asides of a room the student had been in a moment ago."""
    if isinstance(failed, TransportError) and failed.refused:
        return "the room's server is not running at the moment: connection refused"
    return str(failed).split("\n")[0]


def not_taken(reconnect: Reconnect, submitted: list[str], index: int) -> int:
    """How many of the lines submitted together from ``index`` on (a paste, keys typed ahead)
    are messages that cannot be kept: offline with MAX_QUEUED_WHILE_AWAY waiting already,
    the run of them up to the next command (which is handled as typed)."""
    if not reconnect.offline or len(reconnect.queued) < MAX_QUEUED_WHILE_AWAY:
        return 0
    run = 0
    for text in submitted[index:]:
        stripped = text.lstrip()
        if stripped.startswith("/") and not stripped.startswith("//"):
            break
        run += 1
    return run


class Patience:
    """How long a lost connection is tried for: the growing waits (retry_delay) for GIVE_UP_SECONDS;
    then --plain and scripts give up (``ends``), while the full screen (``person``: someone reads
    its status line and can /q) goes on every PATIENT_RETRY_SECONDS, saying so once (``said``)."""

    def __init__(self, *, person: bool) -> None:
        self.person = person
        self.patient = False  # past GIVE_UP_SECONDS, on the full screen
        self.told = False
        self.sleep = SleepWatch(time.monotonic, time.time)  # (woke)

    def ends(self, offline_for: float) -> bool:
        """Offline this long: give up (True), or try again (turning patient past the limit)."""
        if offline_for <= GIVE_UP_SECONDS:
            return False
        self.patient = self.person
        return not self.person

    def delay(self, attempt: int) -> float:
        """The wait before the next try, from now (a sleep during it ends it: ``woke``)."""
        self.sleep.look()
        return PATIENT_RETRY_SECONDS if self.patient else retry_delay(attempt)

    def woke(self) -> bool:
        """This machine slept during the wait: it is over (the room may be back, or the link)."""
        return self.sleep.slept()

    def said(self, *, stopped: bool) -> list[Line]:
        """Once, when it turns patient: that it does (after a shutdown notice: the server is not back)."""
        if not self.patient or self.told:
            return []
        self.told = True
        what = "the server has not been back" if stopped else "no connection"
        text = f"{what} for {GIVE_UP_SECONDS / 60:g} minutes; still trying, every {PATIENT_RETRY_SECONDS:g} s (/q to leave)"
        return [Line(kind="error", time=time.time(), text=text)]


def gave_up(shutdown_reason: str | None) -> str:
    """The last words of a chat that gave up (Patience.ends); lines never sent are counted by
    ClientLoop._finish (Paced.never_sent)."""
    minutes = f"{GIVE_UP_SECONDS / 60:g} minutes"
    if shutdown_reason is not None:
        return f"disconnected: {shutdown_reason}, and it was not back within {minutes}"
    return f"disconnected: the server could not be reached for {minutes}"


class Reconnect:
    """A client's way back after a lost connection: growing waits between attempts, the lines
    typed meanwhile, and the moment a rejoin's replay is surely over. The loop (ClientLoop) keeps
    its screen, transcript and typed line throughout. With ``after_shutdown`` (the full screen:
    a person who can read the status line and type /q) a shutdown notice is waited out the same
    way, since a host restarting the server mid-lesson sends one too (PROTOCOL.md 8); without it
    (a plain client, a script), and after a final notice (the host ended the chat), the notice
    ends the chat.

    An attempt (connect, TLS, handshake: up to ~13 s against a peer that does not answer) runs
    on a worker thread, so the person can type, scroll and /q meanwhile; the worker hands its
    result over through a queue and wakes the loop's selector through a socketpair
    (``fileno``). The worker only calls ``rejoin``; everything else stays on the loop's thread."""

    def __init__(self, rejoin: Rejoin, *, after_shutdown: bool = False) -> None:
        self.rejoin = rejoin
        self.after_shutdown = after_shutdown
        self.shutdown_reason: str | None = None  # while waiting after a notice: what it said
        self.offline_since: float | None = None
        self.retry_at: float | None = None
        self.news_at: float | None = None  # while an attempt waits: when to ask for the room's news (``tick``)
        self.attempt = 0
        self.patience = Patience(person=after_shutdown)  # how long, and how often, it tries
        self.settle_at: float | None = None
        self.rejoined: tuple[float, float] | None = None  # the last rejoin: (when, when the loss before it began)
        self.queued: list[ev.Event] = []
        # a rejoin's replay is under way: our own lines in it were received (unconfirmed.py);
        # what it ends with (its history-end) is kept until the batch it came in is shown
        self.replaying = False
        self.replay_end: ev.HistoryEnd | None = None
        self.muted = False  # the rejoin's welcome said we are muted (its ``muted``): resend drops held lines
        self.status = Offline()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._closed = False
        self._lock = threading.Lock()

    @property
    def offline(self) -> bool:
        return self.offline_since is not None

    def fileno(self) -> int:
        """Readable when an attempt has finished (the loop then calls ``finished``)."""
        return self._wake_read.fileno()

    def due(self) -> float | None:
        """When the loop must come back to ``tick``: the next attempt, or the replay's end."""
        times = [t for t in (self.retry_at, self.news_at, self.settle_at) if t is not None]
        return min(times) if times else None

    def lost(self, loop: ClientLoop, pending: list[Line], why: str = "") -> None:
        """Keep everything on screen, drop the dead socket, and try again after a wait (``why``:
        for the status line, LINK_DROPS). After a shutdown notice (session.closed_reason) only
        with ``after_shutdown`` and a notice that was not final; else the chat ends."""
        reason = loop.session.closed_reason
        if reason is not None and not self.waits_out_the_notice(loop):
            loop._finish(0, f"disconnected: {reason}", pending)
            return
        with contextlib.suppress(KeyError, ValueError):
            loop.selector.unregister(loop.sock)
        with contextlib.suppress(OSError):
            loop.sock.close()
        stopped = cut_off(loop.transfers, "connection lost" if reason is None else "the server shut down")  # partials kept for a resume
        loop.out.clear()  # the typed lines in it are still unconfirmed: sent again once back (resend)
        loop.held.turn_moved()  # a held line sent and unanswered is unconfirmed too: held again then
        self.replaying, self.replay_end = False, None
        now = time.monotonic()
        held = self.rejoined is None or now - self.rejoined[0] >= HELD_SECONDS
        self.offline_since, self.attempt = (now, 0) if held else (self.rejoined[1], self.attempt + 1)  # type: ignore[index]
        if held:  # a rejoin that did not hold goes on patiently, if it was (said once)
            self.patience = Patience(person=self.after_shutdown)
        self.rejoined = None
        self.settle_at = None
        self.shutdown_reason = reason
        self.status.stopped = reason is not None
        self.status.why = why
        if self.gives_up(loop, [*pending, *stopped]):
            return
        delay = self.patience.delay(self.attempt)
        self._wait(delay, loop)
        rejoin = loop.session.rejoin
        said = rejoin.stopped(loop.session) if reason is not None else rejoin.lost(loop.session, delay)
        loop.frontend.show([*pending, *stopped, *said, *self.patience.said(stopped=reason is not None)])

    def gives_up(self, loop: ClientLoop, lines: list[Line]) -> bool:
        """Offline too long for --plain and scripts (Patience.ends): the chat ends after ``lines``,
        as the server left it (0), unless lines typed were lost (1)."""
        assert self.offline_since is not None
        if not self.patience.ends(time.monotonic() - self.offline_since):
            return False
        lost_lines = bool(self.queued or loop.paced.pacer.waiting or loop.unconfirmed or loop.held)
        loop._finish(0 if self.shutdown_reason is not None and not lost_lines else 1, gave_up(self.shutdown_reason), lines)
        return True

    def stopped_now(self, loop: ClientLoop, lines: list[Line]) -> bool:
        """The shutdown notice (the server's last frame) came: unless we are leaving or it ends
        the chat, hang up now and wait, rather than when the server does (for up to 2 s the
        screen said "chat over", and the server waited for us to go)."""
        if not self.waits_out_the_notice(loop) or loop.quitting or loop.outcome is not None:
            return False
        self.lost(loop, lines)
        return True

    def waits_out_the_notice(self, loop: ClientLoop) -> bool:
        """Whether the shutdown notice received is waited out: on the full screen, unless it
        said the host ended the chat for good (``final``, PROTOCOL.md 8)."""
        return self.after_shutdown and not loop.session.closed_for_good

    def _wait(self, delay: float, loop: ClientLoop) -> None:
        self.retry_at = time.monotonic() + delay  # (tick looks for the room's news, or a sleep, meanwhile)
        self.news_at = time.monotonic() + (NEWS_CHECK_SECONDS if hasattr(self.rejoin, "news") else WAKE_CHECK_SECONDS)
        self.status.next_try = time.time() + delay
        loop.session.progress["connection"] = self.status

    def tick(self, loop: ClientLoop) -> None:
        now = time.monotonic()
        if self.settle_at is not None and now >= self.settle_at:
            self.settle_at = None
            rejoin_settled(loop)
            self.resend(loop)  # no end of the replay came: what is left may have arrived or not
        if self.retry_at is not None and self.news_at is not None and now >= self.news_at:
            # the room announced at a new address while we wait (the host's laptop got another
            # lease): try there now, not after the wait (up to 5 s) that tries elsewhere earned
            news = getattr(self.rejoin, "news", None)
            self.news_at = now + (WAKE_CHECK_SECONDS if news is None else NEWS_CHECK_SECONDS)
            if self.patience.woke() or (news is not None and news()):
                self.retry_at = now
        if self.retry_at is not None and now >= self.retry_at and loop.outcome is None and not loop.quitting:
            self.retry_at = self.news_at = None
            self._attempt(loop)

    def note(self, doing: str, line: str) -> None:
        """From the attempt's worker: what it waits for, slow (``said_slow`` shows it)."""
        self._hand_over(RejoinNote(doing, line))

    def _attempt(self, loop: ClientLoop) -> None:
        """Start one attempt on a worker thread; ``finished`` takes its result."""
        self.status.next_try, self.status.doing = None, ""  # the status line: "reconnecting..."
        start_thread(self._work, "lanchat-rejoin")  # (the stop signals blocked in it: they are the main thread's)

    def _work(self) -> None:
        try:
            result: object = self.rejoin()
        except Exception as exc:  # noqa: BLE001 - TransportError, JoinError, OSError: all mean "not yet"
            result = exc
        self._hand_over(result)

    def _hand_over(self, result: object) -> None:
        """From the worker's thread to the loop's: ``result`` queued, the loop woken (``finished``)."""
        with self._lock:
            if self._closed:  # the chat ended while we tried: nobody will take this socket
                if isinstance(result, tuple):
                    with contextlib.suppress(OSError):
                        result[0].close()
                return
            self._results.put(result)
            with contextlib.suppress(OSError):
                self._wake_write.send(b"!")

    def finished(self, loop: ClientLoop) -> None:
        """The worker is done (its wake-up byte arrived): rejoin, or wait and try again."""
        with contextlib.suppress(OSError):
            self._wake_read.recv(64)
        while not self._results.empty():
            self._take(loop, self._results.get())

    def _take(self, loop: ClientLoop, result: object) -> None:
        if isinstance(result, RejoinNote):
            said_slow(self.status, loop, result)
            return
        self.status.doing = ""
        if not isinstance(result, tuple):
            if loop.outcome is not None or loop.quitting:
                return
            if isinstance(result, JoinError) and result.code in STOP_REJOINING:
                loop.session.progress.pop("connection", None)
                loop._finish(1, stop_rejoining_message(result))
                return
            self.attempt += 1
            if self.gives_up(loop, []):
                return
            delay = self.patience.delay(self.attempt)
            self._wait(delay, loop)
            # expected, so not said: a stopped server is not there; a false address of the room (NotTheRoom)
            if not isinstance(result, NotTheRoom) and not (self.status.stopped and isinstance(result, TransportError)):
                loop.frontend.show(loop.session.rejoin.still_lost(loop.session, lost_because(result), delay))
            loop.frontend.show(self.patience.said(stopped=self.shutdown_reason is not None))
            return
        sock, proto, welcome, early = result
        if loop.outcome is not None or loop.quitting:
            with contextlib.suppress(OSError):
                sock.close()
            return
        loop.sock, loop.proto, loop.in_doubt = sock, proto, False  # a new connection, with the usual keepalive
        self.status.told.clear()  # a slow look-up in the next outage is said again
        assert self.offline_since is not None
        self.rejoined = (time.monotonic(), self.offline_since)
        self.offline_since = self.shutdown_reason = None
        self.status.stopped, self.status.why = False, ""
        loop.session.progress.pop("connection", None)
        sock.setblocking(False)
        loop.selector.register(sock, selectors.EVENT_READ, "net")
        self.settle_at = time.monotonic() + REPLAY_SETTLE_SECONDS
        self.replaying = True  # typed lines wait until the replay has said which of ours arrived
        self.muted = welcome.muted is not None
        loop._handle_events([welcome, *early])
        loop.frontend.show(loop.session.rejoined_at(*getattr(self.rejoin, "joined_at", lambda: ("", True))()))  # elsewhere?
        for event in loop.session.take_pending():  # what the session asks again of the new room (our away)
            loop._send(event)
        if not welcome.keeps_history:  # no replay comes: nothing tells which lines arrived
            self.resend(loop)

    def resend(self, loop: ClientLoop) -> None:
        """The rejoin's replay is over: the typed lines it did not show (still unconfirmed) go
        again, first and in order, said once; then those typed while away (PROTOCOL.md, Rejoining).
        Without the replay's end (a server without history) a line may have arrived and show twice:
        a line lost unsaid is worse than one said twice after a server restart."""
        end, self.replay_end = self.replay_end, None
        if not self.replaying:
            return
        self.replaying = False
        again, forgotten = loop.unconfirmed.take(), loop.unconfirmed.take_forgotten()
        queued, self.queued = self.queued, []
        (again, dropped), (queued, more) = (without_muted(again, loop.session.may_ask_why), without_muted(queued, loop.session.may_ask_why)) if self.muted else ((again, 0), (queued, 0))
        session = loop.session
        # in a turn room whose turn it is was not known while away: a line that needs it waits for it
        waits = (lambda event: type(event) in NEEDS_THE_TURN) if session.mode == "turn" else (lambda event: False)
        on_your_turn = f" on your turn ({session.turn_text()})" if session.mode == "turn" and not session.my_turn else ""
        if again:
            count = f"{len(again)} line{'s' if len(again) != 1 else ''} you typed"
            how = "did not reach the server" if end is not None and not end.more else "may not have reached the server"
            when = on_your_turn if any(waits(event) for event in again) else ""
            loop.frontend.show([Line(kind="error", time=time.time(), text=f"{count} {how}: sent again{when}")])
            loop.held.ahead([event for event in again if waits(event)])
            loop.paced.pacer.ahead([event for event in again if not waits(event)])
        if forgotten:  # more than MAX_UNCONFIRMED went unanswered: the oldest cannot be checked
            text = f"{forgotten} earlier line{'s' if forgotten != 1 else ''} you typed may not have reached the server (too many to keep)"
            loop.frontend.show([Line(kind="error", time=time.time(), text=text)])
        typed_away = [event for event in queued if waits(event)]
        if typed_away and on_your_turn and not self.muted:  # it was told, when typed, that it waits for the connection
            text = f"{len(typed_away)} line{'s' if len(typed_away) != 1 else ''} you typed while away will be sent{on_your_turn}; /unsend drops them"
            loop.frontend.show([Line(kind="error", time=time.time(), text=text)])
        for event in queued:
            if waits(event):
                loop.held.hold(event)
            else:
                loop._send(event)
        loop.paced.send_waiting(loop)
        if self.muted and (said := loop.paced.muted(loop, dropped + more)):  # what waits goes, counted with those left out
            loop.frontend.show(said)
        send_held(loop, asking=True)  # a welcome without ``muted``: not muted, or an older server (ask)

    def close(self) -> None:
        """The chat is over: an attempt still under way closes what it opens, when it ends."""
        with self._lock:
            self._closed = True
            while not self._results.empty():
                result = self._results.get()
                if isinstance(result, tuple):
                    with contextlib.suppress(OSError):
                        result[0].close()
        for end in (self._wake_read, self._wake_write):
            end.close()
        close_rejoin = getattr(self.rejoin, "close", None)  # what it watches (cli/rejoin.py's _Rejoin: the room's announcement)
        if close_rejoin is not None:
            close_rejoin()

    def drop_queued(self, loop: ClientLoop) -> int:
        """Forget what was typed while away and what was to be sent again (the chat ends);
        returns how many that was."""
        count = len(self.queued) + (len(loop.unconfirmed.take()) if self.offline or self.replaying else 0) + loop.held.drop()
        self.queued.clear()
        loop.session.progress.pop("held", None)
        return count

    def away(self, loop: ClientLoop, result: object, typed: str) -> None:
        """A line typed while disconnected: kept and sent on rejoining (files wait for a
        connection). One not kept (``typed``) is given back: the full screen puts it back in
        the input line (Line.give_back)."""
        full = len(self.queued) >= MAX_QUEUED_WHILE_AWAY
        if isinstance(result, Outgoing) and not full:
            self.queued.append(result.event)
            loop.frontend.show([Line(kind="error", time=time.time(), text=kept_while_away(loop, result.event))])
            return
        why = f", and {MAX_QUEUED_WHILE_AWAY} lines you typed already wait" if isinstance(result, Outgoing) else ""
        note = f"not connected{why}: try again when the connection is back"
        loop.frontend.show([Line(kind="error", time=time.time(), text=note, give_back=typed)])

    def give_back(self, loop: ClientLoop, lines: list[str]) -> None:
        """Several lines typed together and not kept (client.not_taken): all of them are given back
        at once, counted; the full screen puts them back in the input line (Line.give_back),
        where before only the first went back and the rest were lost."""
        note = (f"not connected, and {MAX_QUEUED_WHILE_AWAY} lines you typed already wait: these {len(lines)} lines"
                " were not taken; try again when the connection is back")
        loop.frontend.show([Line(kind="error", time=time.time(), text=note, give_back="\n".join(lines))])


class LocalNews:
    """What this machine tells a participant's loop from another thread, never from the network:
    the host's `serve` watches the machine's addresses on a thread of its own (cli/serve.py) and
    hands the new ones over here (session.MachineMoved). ``post`` (any thread) queues the news
    and wakes the loop's selector through a socketpair (``fileno``), as Reconnect's worker does;
    the loop ``take``s it on its own thread, so only the loop ever touches the session and the
    screen. Posting after ``close`` (the chat is over) is a no-op."""

    def __init__(self) -> None:
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_read, self._wake_write = wake_pair()
        self._lock = threading.Lock()
        self._closed = False

    def fileno(self) -> int:
        """Readable when news was posted (the loop then calls ``take``)."""
        return self._wake_read.fileno()

    def post(self, news: MachineMoved) -> None:
        with self._lock:
            if self._closed:
                return
            self._items.put(news)
            with contextlib.suppress(OSError):  # full: a wake-up byte is already waiting
                self._wake_write.send(b"!")

    def take(self) -> list[MachineMoved]:
        """Everything posted so far, oldest first (on the loop's thread)."""
        with contextlib.suppress(OSError):
            while self._wake_read.recv(64):
                pass
        taken = []
        while not self._items.empty():
            taken.append(self._items.get())
        return taken

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for end in (self._wake_read, self._wake_write):
                end.close()


class Paced:
    """The loop's side of pacing.SendPacer: lines over the room's flood limit wait in order and
    go out as it allows, told once (or on the status line); leaving waits for them or says how
    many were not sent."""

    def __init__(self) -> None:
        self.pacer = SendPacer()  # its allowance comes with each welcome (ClientLoop._handle_events)
        self.leave_when_sent = False  # /q or the end of input while lines wait: bye once they are out
        self.told = False  # the pacing notice was shown (no status line): a refused line is not told again
        self.unsent_texts: list[str] = []  # typed lines dropped as the chat ends, for its last words (Outcome.unsent)

    def send(self, loop: ClientLoop, event: ev.Event) -> None:
        if loop.reconnect is not None and loop.reconnect.replaying and type(event) in TYPED:
            loop.reconnect.queued.append(event)  # after the lines sent again (Reconnect.resend)
            return
        if self.pacer.send(event, time.monotonic(), loop.unconfirmed.lines):
            loop._write(event)
        elif len(self.pacer.waiting) == 1:
            self._pacing_starts(loop)

    def _pacing_starts(self, loop: ClientLoop) -> None:
        """The first line waits: kept on the status line, or said once."""
        if loop.transfers.status_line:
            loop.session.progress["pacing"] = self.pacer
        else:
            self.told = True
            loop.frontend.show([Line(kind="notice", time=time.time(), text=self.pacer.starting())])

    def never_sent(self, loop: ClientLoop) -> str:
        """Lines still held (the flood limit, or typed while away) die with the chat: said in its
        last words, which outlive the full screen (taken over by another session, say)."""
        note_unsent_texts(loop)
        unsent = self.pacer.drop() + (loop.reconnect.drop_queued(loop) if loop.reconnect is not None else loop.held.drop())
        if not unsent:
            return ""
        return f" ({unsent} line{'s' if unsent != 1 else ''} you typed {'were' if unsent != 1 else 'was'} not sent)"

    def refused(self, loop: ClientLoop, error: ev.Error, lines: list[Line] | None = None) -> bool:
        """A slow-down quoting a line of ours (the same person's other session spent the
        bucket): it waits again in its place, shown as any held line is. False: not ours. One
        quoting a ping answers it all the same (liveness.py), nothing shown for it; a rejoin's
        ping's (welcomed) as its pong would: what was not offered again goes to ``lines``."""
        now = time.monotonic()
        event = self.pacer.refused(error.refused, now)
        self.pacer.told_to_wait(error.retry_after, now)  # after refused, which empties the bucket
        if event is None:
            if not refuses_a_ping(error.refused):
                return False
            if lines is not None:  # in the place of its pong, after the rejoin's offers: offers_came
                lines.extend(offers_came(loop.transfers))
            return True
        loop.unconfirmed.waits_again(event)  # the copy sent again is the one to track
        _tell_speech(loop, "held_back", event)  # (sent later: its copy is news)
        if len(self.pacer.waiting) == 1 and (loop.transfers.status_line or not self.told):
            self._pacing_starts(loop)
        return True

    def send_waiting(self, loop: ClientLoop) -> None:
        """The held lines whose turn has come; once none is left (nor unanswered), a pending leave goes ahead."""
        reconnect = loop.reconnect
        if loop.outcome is not None or (reconnect is not None and (reconnect.offline or reconnect.replaying)):
            return
        if self.pacer.waiting:
            for event in self.pacer.release(time.monotonic(), loop.unconfirmed.lines):
                loop._write(event)
        elif not self.leave_when_sent:
            return
        self._leave_if_drained(loop)

    def _leave_if_drained(self, loop: ClientLoop) -> None:
        """Nothing waits any more: off the status line, and a leave that waited goes ahead once
        the lines written are answered too (answers_awaited)."""
        if not self.pacer.waiting:
            loop.session.progress.pop("pacing", None)
            if self.leave_when_sent and not loop.quitting and loop.outcome is None and not self.answers_awaited(loop):
                loop._quit()

    def answers_awaited(self, loop: ClientLoop) -> bool:
        """Lines written and not answered yet while a flood limit holds: a slow-down may still
        send one back here to wait (behind a school's NAT the address's shared bucket refuses
        lines within the person's own allowance), so a leave waits for their answers. A bye
        sent at once came after them and the room took it: a script's last lines, refused,
        were lost. At most ANSWERS_AWAITED_SECONDS with no answer at all (a room that answers
        nothing does not hold a leave)."""
        if self.pacer.bucket is None:
            return False
        now = time.monotonic()
        since = loop.unconfirmed.waiting_since(now)
        return since is not None and now - since < ANSWERS_AWAITED_SECONDS

    def muted(self, loop: ClientLoop, dropped: int = 0) -> list[Line]:
        """Refused as muted: the held lines a mute refuses go (each would be refused in turn),
        said once with the count (``dropped``: those a rejoin left out already, Reconnect.resend)."""
        # a held line would be refused too, and the one sent on our turn (or to ask, send_held) was
        count = dropped + self.pacer.drop_muted(loop.session.may_ask_why) + (loop.held.in_flight is not None) + loop.held.drop()
        loop.session.progress.pop("held", None)
        loop.unconfirmed.muted()  # each line in flight is refused as well: none to send again
        self._leave_if_drained(loop)  # the leave waited for those lines: maybe none is left to send
        if not count:
            return []
        lines = f"{count} lines you typed were" if count != 1 else "1 line you typed was"
        return [Line(kind="error", time=time.time(), text=f"{lines} not sent: you are muted")]

    def wait_before_leaving(self, loop: ClientLoop, *, typed: bool, when_sent: bool) -> bool:
        """With lines held, the end of input and a first /q leave once they are sent (True: wait);
        a second /q, /q!, Ctrl-C, a signal or no connection leave at once, saying how many were lost."""
        if not (self.pacer.waiting or self.answers_awaited(loop)) or loop.quitting:
            return False
        offline = loop.reconnect is not None and loop.reconnect.offline
        count = len(self.pacer.waiting)
        if not offline and (when_sent or (typed and not self.leave_when_sent)):
            if typed:  # lines only on their way: up to ANSWERS_AWAITED_SECONDS for a room that answers nothing
                sent = len(loop.unconfirmed.lines)
                waits = (f"the {count} waiting line{'s are' if count != 1 else ' is'} sent" if count
                         else f"the room answers your last {f'{sent} lines' if sent != 1 else 'line'}")  # fmt: skip
                loop.frontend.show([Line(kind="notice", time=time.time(), text=f"leaving once {waits}; /q again leaves now")])
            self.leave_when_sent = True
            return True
        self.pacer.drop()
        note_unsent_texts(loop)
        if loop.reconnect is not None:  # and what was typed while away, told in the same count
            count += loop.reconnect.drop_queued(loop)
        else:
            count += loop.held.drop()
        loop.session.progress.pop("pacing", None)
        if count:
            loop.frontend.show([Line(kind="error", time=time.time(), text=f"{count} line{'s' if count != 1 else ''} not sent")])
        return False


def watching_keys(selector: selectors.BaseSelector, keys: int) -> selectors.BaseSelector:
    """``selector`` watching the keyboard (or the script on stdin) as "keys". epoll, Linux's
    default selector, refuses a regular file and /dev/null (`lanchat connect --name bob <
    lines.txt`, EPERM): both are always ready to read, as poll() says, so then a poll()
    selector takes its place. kqueue, macOS's, refuses /dev/null and /dev/tty (EINVAL), and
    poll() there takes no device at all: select() takes its place, as libuv does there.
    kqueue takes a regular file but calls it readable only before its end (kqueue(2),
    EVFILT_READ on a vnode): the end of a script would never be read, so poll() from the start."""
    if _is_regular_file(keys):
        selector.close()
        selector = getattr(selectors, "PollSelector", selectors.SelectSelector)()
    try:
        selector.register(keys, selectors.EVENT_READ, "keys")
    except PermissionError:
        selector.close()
        selector = getattr(selectors, "PollSelector", selectors.SelectSelector)()
        selector.register(keys, selectors.EVENT_READ, "keys")
    except OSError:
        selector.close()
        selector = selectors.SelectSelector()  # a client's few descriptors are far below select()'s 1024
        selector.register(keys, selectors.EVENT_READ, "keys")
    return selector


def _is_regular_file(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


class Frontend(Protocol):
    """What the client loop needs from a user interface."""

    def fileno(self) -> int: ...  # readable when the user typed something

    def read_input(self) -> list[str] | None: ...  # submitted lines; None when input ended

    def show(self, lines: list[Line]) -> None: ...

    def update(self) -> None: ...  # redraw after a batch (status line, roster)

    def run_ui_command(self, command: UiCommand) -> list[Line]: ...


class JoinError(Exception):
    """The server refused us (name taken and no way to ask for another, room full, ...).
    ``code``: the server's error code (events.E_*), or one of the local ones below, or None."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


# Local reasons a join fails, for deciding by code (never by English):
PASSWORD_NEEDED = "password-needed"  # the room asks for a password and we have none to give
FINGERPRINT_CHANGED = "fingerprint-changed"  # over TLS, not the certificate first trusted
LOST_IN_HANDSHAKE = "lost-in-handshake"  # the connection ended (closed, reset) before the welcome
NAME_OUTLIVED = "name-outlived"  # NameOutlived: the name prompt outlasted the connection


class NameOutlived(JoinError):
    """A name typed at the prompt after a refusal came too late for the connection it was asked
    on: the server gives a connection 20 s from connecting to join, and a refused name gives no
    more (PROTOCOL.md 4, 6 Deadlines), but a person choosing another name takes the time they
    take. ``name`` is the one typed: the caller joins with it on a new connection."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message, NAME_OUTLIVED)
        self.name = name


PASSWORD_OUTLIVED = "password-outlived"  # PasswordOutlived: the password prompt outlasted the connection


class PasswordOutlived(JoinError):
    """The room's password was asked for on a connection whose time to answer ran out before
    it was typed: the server gives that question limits.PROMPT_SECONDS (PROTOCOL.md, Abuse
    limits: Deadlines), and a student finding the password on the board takes the time they take.
    The caller joins again as ``name`` on a new connection, with the password already typed
    (never asked twice: cli/rejoin.Remembered)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message, PASSWORD_OUTLIVED)
        self.name = name


# What ends a connection whose time to join ran out while its person chose a name: the server's
# fatal hello-first ("no hello within 20 s"), its deadline after a password was asked, or the
# connection closed or reset (a hello sent after the server's close)
_RAN_OUT = (ev.E_HELLO_FIRST, ev.E_DEADLINE, LOST_IN_HANDSHAKE)

# A rejoin refused for one of these does not get better by waiting: the person decides what to
# do (run connect again with the password, ask the host), so the client stops retrying at once.
# A password prompt is never opened over the full screen, where a password could be typed as a
# chat line, or a chat line sent as a guess that counts toward the address's lockout.
# A room now using TLS is one too: a rejoin never goes over to TLS, whose fingerprint is asked.
# A rejoin answered taken-over is a machine left behind: its person joined from another since.
STOP_REJOINING = frozenset(
    {PASSWORD_NEEDED, FINGERPRINT_CHANGED, ev.E_PASSWORD, ev.E_LOCKED, ev.E_BANNED, ev.E_USE_TLS, ev.E_TAKEN_OVER}
)


def rejoin_settled(loop: ClientLoop) -> None:
    """REPLAY_SETTLE_SECONDS after a rejoin's welcome (Reconnect.tick): the session's rejoin is
    over; from a server that answers no ping (welcomed), its replay and offers have come once
    the room has been quiet that long (else the settle is looked at again then, up to
    OFFERS_SETTLE_CEILING after the welcome: over a slow link the replay alone takes longer), and a
    download promised to go on once back whose file was not offered again is said not to
    (client_files.not_back_on_offer). One that answers pings has it said by its pong."""
    loop.session.rejoin.settled()
    if loop.transfers.offers_awaited or not loop.transfers.resume_on_offer:
        return
    reconnect, now = loop.reconnect, loop.liveness.clock()  # (time.monotonic, as Reconnect's)
    if reconnect is not None and reconnect.rejoined is not None and now < (ceiling := reconnect.rejoined[0] + OFFERS_SETTLE_CEILING):
        if (quiet_at := loop.liveness.heard_at + REPLAY_SETTLE_SECONDS) > now:  # bytes came in the last 2 s: offers may still be on their way
            reconnect.settle_at = min(quiet_at, ceiling)
            return
    if gone := not_back_on_offer(loop.transfers):
        loop.frontend.show(gone)


def welcomed(loop: ClientLoop, welcome: ev.Welcome) -> None:
    """A welcome, a rejoin's too: its flood allowance applies from now, and it says whether to
    ping the room. A rejoin's (Reconnect.finished) while downloads wait to be offered again
    (cut_off), from a server that answers ``ping``: one goes now, and its pong, which comes after
    the rejoin's replay and offers however slow the link (PROTOCOL.md, Liveness), says which were
    not offered again (client_files.offers_came). At 8 KB/s a 50-line replay took 3.5 s: the
    2 s settle (rejoin_settled) said "not on offer" of a file offered just after, not resumed."""
    loop.paced.pacer.allow(welcome, time.monotonic())
    loop.liveness.welcomed(welcome.ping)
    reconnect = loop.reconnect
    if welcome.ping and reconnect is not None and reconnect.settle_at is not None and loop.transfers.resume_on_offer:
        if (bucket := loop.paced.pacer.bucket) is not None:
            bucket.take(time.monotonic())  # counted by the room as a request is: the pacer's mirror too (ask_the_room)
        loop._write(ev.Ping())
        loop.transfers.offers_awaited = True


def stop_rejoining_message(error: JoinError) -> str:
    """What the person reads when a rejoin is refused for good (one of STOP_REJOINING)."""
    if error.code == PASSWORD_NEEDED:
        return ("disconnected: the room now needs a password; run the same `lanchat connect` again "
                "and type it when asked (or set LANCHAT_PASSWORD)")
    if error.code in (ev.E_PASSWORD, ev.E_LOCKED):
        return (f"disconnected: {error}; the room's password may have changed: run the same "
                "`lanchat connect` again and type the new one when asked (or set LANCHAT_PASSWORD to it)")
    if error.code == FINGERPRINT_CHANGED:
        return (f"disconnected: {error}: someone may be pretending to be the room, or its host made a new certificate; "
                "compare it with the one the host's screen shows; if it is that one, run `lanchat connect` again "
                "(with --fingerprint, give the new one)")
    if error.code == ev.E_TAKEN_OVER:
        return ("disconnected: you joined the room again from somewhere else, so this one does not rejoin; "
                "run `lanchat connect` again here to take the chat back")
    if error.code == ev.E_USE_TLS:
        return ("disconnected: the room now uses TLS; run the same `lanchat connect` again "
                "to check its fingerprint and join over TLS")
    return f"disconnected: {error}; not trying again"


@dataclass
class Outcome:
    """How the chat ended, for the caller to print after the terminal is restored."""

    code: int
    message: str
    # what was typed and never left this machine (held for our turn, typed while away), each
    # line's text, to print after the count: a line typed out of turn is not lost unseen
    unsent: tuple[str, ...] = ()


def join(
    sock: socket.socket, name: str, *, ask_name: Callable[[str], str | None] | None = None,
    password: Callable[[], str | None] | None = None, **how: Any,
) -> tuple[Connection, ev.Welcome, list[object]]:
    """The handshake (_join: its arguments). A name typed at ``ask_name``'s prompt after a refusal,
    sent once the connection's time to join had run out (the server closed it meanwhile), raises
    NameOutlived with that name, to join with on a new connection: a student who took 20 s to
    think of another name was turned away with "no hello within 20 s", though they had said one.
    So does the room's ``password``, asked for and sent too late: PasswordOutlived."""
    typed: list[str] = []  # the names typed at the prompt, the last one sent
    passwords: list[str | None] = []  # what ``password()`` gave on this connection

    def asked(reason: str) -> str | None:
        answer = ask_name(reason) if ask_name is not None else None  # (passed on only with ask_name)
        if answer:
            typed.append(answer)
        return answer

    def given() -> str | None:
        passwords.append(password() if password is not None else None)  # (passed on only with password)
        return passwords[-1]

    try:
        return _join(sock, name, ask_name=asked if ask_name is not None else None, password=given if password is not None else None, **how)
    except JoinError as exc:
        if typed and exc.code in _RAN_OUT:
            raise NameOutlived(str(exc), typed[-1]) from None
        if any(passwords) and exc.code in _RAN_OUT:
            raise PasswordOutlived(str(exc), name) from None
        raise


def _join(
    sock: socket.socket,
    name: str,
    *,
    ask_name: Callable[[str], str | None] | None = None,
    timeout: float = 15.0,
    key: Ed25519PrivateKey | None = None,
    password: Callable[[], str | None] | None = None, binding: bytes = b"",
    resume: str | None = None, since: float | None = None,
    silent: Callable[[], None] | None = None,
    held: Callable[[], None] | None = None, version: int = ev.PROTOCOL_VERSION, key_path: Path | None = None,
) -> tuple[Connection, ev.Welcome, list[object]]:
    """The handshake: hello -> (challenge -> auth) -> welcome. Blocking, with a deadline.

    With ``key`` the hello carries its public half and the challenge is signed with it
    (PROTOCOL.md, Identity and room password); a room that needs a password gets one from
    ``password()`` (asked once, however many names are tried); ``binding`` is the SHA-256 of
    the server's TLS certificate (identity.sign_challenge), empty without TLS; ``resume`` and
    ``since`` come back after a lost connection (PROTOCOL.md, Rejoining). On a refused name,
    ``ask_name(reason)`` may offer another, else JoinError. ``silent()`` is called once if no byte
    came SILENT_SERVER_SECONDS after the hello; ``held()`` instead, then, if the server said the
    room is starting (``held``: it waits longer); ``version`` 1: keyless (a first-release server); ``key_path``: the file
    ``key`` came from (--identity), named by a name-owned refusal (None: the data folder's). Returns (protocol, welcome, ...)."""
    proto = Connection(Role.CLIENT)
    deadline, key = time.monotonic() + timeout, None if version == ev.FIRST_RELEASE_VERSION else key  # version 1 had no keys
    public = identity.b64(identity.public_bytes(key)) if key is not None else None
    derived: dict[bytes, bytes] = {}  # salt -> the scrypt key: derived once, it is slow on purpose
    _handshake_send(sock, proto.send(ev.Hello(name=name, key=public, resume=resume, since=since, hold_notice=True, version=version)))
    # A server challenges a hello once (PROTOCOL.md, Identity): each challenge restarts the deadline
    # (a password takes its time) and a new salt costs a scrypt; challenged again and again, we waited for ever.
    challenged = False
    said = ""  # what the server has said yet: nothing, HELD (the room is starting), or ANSWERED
    while True:
        events = _handshake_events(sock, proto, deadline, silent, said=said)
        silent, said = None, said or ANSWERED  # the server answered: nothing more to note
        for index, event in enumerate(events):
            if isinstance(event, ev.Welcome):
                return proto, event, events[index + 1 :]
            if isinstance(event, ev.Held):  # the room is starting (PROTOCOL.md, Held while...): the note, if due, says so
                if said != HELD:  # once: a server saying it again and again held us in the handshake for ever
                    silent, said, deadline = held, HELD, max(deadline, time.monotonic() + HELD_WAIT_SECONDS)
                continue
            if isinstance(event, (ConnectionClosed, ev.Shutdown)):
                raise (JoinError(f"the server is shutting down: {visible(event.reason)}") if isinstance(event, ev.Shutdown)
                       else JoinError("the server closed the connection during the handshake", LOST_IN_HANDSHAKE))
            if isinstance(event, ev.Challenge):
                if challenged:
                    raise JoinError("the server asked to prove our key twice for one hello; that is not a lanchat server we can talk to")
                challenged = True
                _handshake_send(sock, proto.send(_answer(event, key, password, derived, binding)))
                deadline = time.monotonic() + timeout  # typing a password takes the time it takes
                continue
            if isinstance(event, ev.Error):  # a wrong password is fatal; visible(): printed after the screen
                retry = event.code in (ev.E_NAME_TAKEN, ev.E_BAD_NAME, ev.E_NAME_OWNED) and not event.fatal
                new_name = ask_name(_refusal_words(event, key_path)) if (retry and ask_name) else None
                if not new_name:
                    raise JoinError(f"the server refused to let us in: {_refusal_words(event, key_path)}", event.code)
                _handshake_send(sock, proto.send(ev.Hello(name=new_name, key=public, version=version)))
                challenged = False
                deadline = time.monotonic() + timeout


def _refusal_words(event: ev.Error, key_path: Path | None = None) -> str:
    """The server's refusal in the handshake as said here; a name another key owns, with how to
    make it one's own on a second computer (identity.name_owned_hint, naming ``key_path``)."""
    owned = event.code == ev.E_NAME_OWNED
    return visible(event.message) + (f" {identity.name_owned_hint(key_path)}" if owned else "")


def _handshake_send(sock: socket.socket, data: bytes) -> None:
    """``data`` sent in the handshake; the connection lost meanwhile is a JoinError, said as one lost
    while reading the answer is (_handshake_events): a room that stopped as a student joined it
    (picked from the list `connect` showed, its server killed a moment before) ended in a traceback."""
    try:
        sock.sendall(data)
    except OSError as exc:
        raise JoinError(f"connection lost during the handshake: {exc.strerror or exc}", LOST_IN_HANDSHAKE) from None


def _handshake_events(sock: socket.socket, proto: Connection, deadline: float, silent: Callable[[], None] | None = None,
                      *, said: str = "") -> list[object]:
    """What the server says next during the handshake (blocking, until ``deadline``); JoinError
    with one clear line when it says nothing, goes away, or is not a lanchat server. ``silent``:
    called once, if nothing came within SILENT_SERVER_SECONDS (join). ``said``: what the server
    said before on this connection (join)."""
    started = time.monotonic()
    silent_at = started + SILENT_SERVER_SECONDS
    heard = False  # a byte came in this call
    while True:
        now = time.monotonic()
        if silent is not None and now >= silent_at:
            silent()
            silent = None
        remaining = deadline - now
        if remaining <= 0:
            if proto.partial_frame_bytes:
                raise JoinError("the server's answer began but stopped arriving: the network seems stalled (a weak Wi-Fi?)")
            if said == HELD:
                raise JoinError("the room did not open in time: it said it was starting, and its host (or its bot) has not "
                                "come in; try again in a moment")
            if not said and not heard:  # not a byte since the connection was made: the network did its part
                where, question = silent_peer(sock)
                raise JoinError(f"connected to {where}, but nothing answered there in {deadline - started:.0f} s, and a "
                                f"lanchat server answers at once: another program is there, or a server that is "
                                f"stopped or stuck; {question}")
            raise JoinError("connected, but the server said nothing in time: the network may be stalled or its machine "
                            "asleep (or it is not a lanchat server)")
        sock.settimeout(min(remaining, silent_at - now) if silent is not None else remaining)
        try:
            data = sock.recv(READ_BYTES)
        except TimeoutError:
            continue
        except OSError as exc:
            raise JoinError(f"connection lost during the handshake: {exc.strerror or exc}", LOST_IN_HANDSHAKE) from None
        silent, heard = None, True  # something came: the server is not silent
        try:
            proto.receive_data(data)
        except RemoteProtocolError as exc:
            if looks_like_tls(data):
                raise JoinError("the server speaks TLS: connect with --tls (and check its fingerprint)", ev.E_USE_TLS) from None
            greeting = text_greeting(data)
            if greeting is not None:
                raise JoinError(f"that is not a lanchat server: another program answered {greeting!r}") from None
            raise JoinError(f"that is not a lanchat server ({visible(exc.message)})") from None
        events = proto.events()
        if events:
            return events


def silent_peer(sock: socket.socket) -> tuple[str, str]:
    """Where ``sock`` is connected, as lanchat shows it, and what to ask someone whose server
    there has not answered (the note at SILENT_SERVER_SECONDS and the handshake's last word):
    another program on that port (a web server, Jupyter) answers nothing."""
    from .addresses import peer_text

    try:
        peer = sock.getpeername()
    except OSError:
        peer = None
    if isinstance(peer, tuple):
        return peer_text(peer[0], peer[1]), f"is {peer[1]} the port `lanchat serve` printed?"
    return (peer or "the server"), "is it the path `lanchat serve --unix` printed?"


def _answer(
    challenge: ev.Challenge,
    key: Ed25519PrivateKey | None,
    password: Callable[[], str | None] | None,
    derived: dict[bytes, bytes],
    binding: bytes,
) -> ev.Auth:
    """Sign the nonce; for a password room, also prove the password (never sent itself)."""
    if key is None:
        raise JoinError("the server sent a challenge we did not ask for")
    try:
        nonce = identity.unb64(challenge.nonce, identity.NONCE_BYTES, "the challenge's nonce")
        salt = identity.unb64(challenge.salt, identity.SALT_BYTES, "the challenge's salt") if challenge.salt else None
    except identity.IdentityError as exc:
        raise JoinError(f"that is not a lanchat server we can talk to ({exc})") from None
    signature = identity.b64(identity.sign_challenge(key, nonce, binding))
    if salt is None:
        return ev.Auth(signature=signature)
    if salt not in derived:
        text = password() if password is not None else None
        if not text:
            raise JoinError("this room needs a password: give it when asked, or set LANCHAT_PASSWORD", PASSWORD_NEEDED)
        derived[salt] = identity.derive_password_key(text, salt)
    return ev.Auth(signature=signature, proof=identity.b64(identity.password_proof(derived[salt], nonce, binding)))


class ClientLoop:
    """Runs one participant's chat until they quit or the server goes away."""

    def __init__(
        self,
        sock: socket.socket,
        proto: Connection,
        session: Session,
        frontend: Frontend,
        *,
        on_quit: Callable[[], None] | None = None,
        transfers: ClientTransfers | None = None,
        rejoin: Rejoin | None = None,
        rejoin_after_shutdown: bool = False,
        on_stop: Callable[[], None] | None = None,
        news: LocalNews | None = None,
    ) -> None:
        self.sock = sock
        self.news = news  # the host's: this machine's new addresses, from serve's watch (LocalNews)
        self.proto = proto
        self.session = session
        self.frontend = frontend
        self.on_quit = on_quit  # the host's /q shuts the server down instead of leaving
        self.out = bytearray()
        self.unconfirmed = Unconfirmed()  # typed lines written and not yet answered: sent again on rejoining
        self.held = HeldForTurn()  # in a turn room, lines typed out of turn or before a rejoin: they wait for it
        self.selector: selectors.BaseSelector = selectors.DefaultSelector()
        self.outcome: Outcome | None = None
        self.quitting = False
        self.said_bye = False  # _quit got as far as the bye: a second _quit only stops waiting for the server
        self.on_stop = on_stop  # the host's SIGTERM or SIGHUP: the server stops (not final), instead of _quit
        self.stop_answered = False  # a stop signal made us leave (answer_stops): the ones after it change nothing
        self.linger_deadline: float | None = None  # set once the bye is out (_half_close)
        # /send and /get (client_files.py); its live progress is the session's, for a status line (and /q: share_with)
        self.transfers = transfers if transfers is not None else ClientTransfers()
        self.transfers.share_with(session)
        # else a drop ends it; rejoin_after_shutdown: a shutdown notice is waited out too (Reconnect)
        self.reconnect = Reconnect(rejoin, after_shutdown=rejoin_after_shutdown) if rejoin is not None else None
        self.paced = Paced()  # lines held to the room's flood limit (pacing.py)
        self.address_check_at = time.monotonic() + ADDRESS_CHECK_SECONDS  # watch_address
        self.in_doubt = False  # the room announced elsewhere: keepalive asks quickly (watch_address)
        self.liveness = Liveness(time.monotonic, time.time)  # a ping after a quiet spell; silence said (ask_the_room)

    # ---------------------------------------------------------------- the loop

    def run(self, early_events: list[object] = (), stops: StopSignals | None = None) -> Outcome:  # type: ignore[assignment]
        """``stops``: Ctrl-C, SIGTERM and SIGHUP, noted by their handlers and read here, between
        two passes: the first makes us leave (answer_stops), once; no handler ever interrupts
        the loop, so nothing can cut the goodbye short."""
        self.sock.setblocking(False)
        self.selector = watching_keys(self.selector, self.frontend.fileno())
        self.selector.register(self.sock, selectors.EVENT_READ, "net")
        wake = getattr(self.frontend, "wake_fileno", None)
        if wake is not None and wake() is not None:  # e.g. a resize or Ctrl-Z, through a self-pipe
            self.selector.register(wake(), selectors.EVENT_READ, "keys")
        if self.reconnect is not None:  # an attempt to reconnect, finished on its worker thread
            self.selector.register(self.reconnect.fileno(), selectors.EVENT_READ, "rejoin")
        if stops is not None:  # readable once a signal came: wakes the wait, answered just below
            self.selector.register(stops.fileno(), selectors.EVENT_READ, "stop")
        if self.news is not None:
            self.selector.register(self.news.fileno(), selectors.EVENT_READ, "news")
        drawing_due = getattr(self.frontend, "next_update_due", None)
        try:
            self._handle_events(list(early_events))
            self.frontend.update()
            while True:
                if stops is not None:
                    answer_stops(self, stops)
                if self.outcome is not None:
                    return self.outcome
                one_pass(self, drawing_due)
        finally:
            with contextlib.suppress(Exception):
                self.selector.close()
            self.transfers.close()  # a download cut off here keeps only its partial file, for a resume
            if self.reconnect is not None:
                self.reconnect.close()
            with contextlib.suppress(OSError):
                self.sock.close()

    def _read_network(self) -> None:
        # A TLS socket hands over one record per recv() and may hold the rest of what it
        # decrypted (pending()), which select() cannot see: read until it holds nothing more.
        if self.reconnect is not None and self.reconnect.offline:
            return  # hung up already (a shutdown notice, Reconnect.stopped_now): nothing to read
        for _ in range(64):
            try:
                data = self.sock.recv(READ_BYTES)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError:
                data = b""
            try:
                self.proto.receive_data(data)
            except RemoteProtocolError as exc:
                self._handle_events(self.proto.events())  # what came whole before the bad bytes
                if self.outcome is None:
                    self._finish(1, f"disconnected: {exc.message}")
                return
            self._handle_events(self.proto.events())
            if not data or self.outcome is not None or not isinstance(self.sock, ssl.SSLSocket) or not self.sock.pending():
                return

    def _handle_events(self, events: list[object]) -> None:
        lines: list[Line] = []
        for event in events:
            if type(event) in MAY_ANSWER and answered(self, event, lines):  # a line of ours answered? (unconfirmed.py)
                continue  # a line refused as not-your-turn: it waits for our turn again (said in ``lines``, or not news)
            if isinstance(event, ev.Turn):
                self.held.turn_moved()
            if isinstance(event, Invalid):
                if event.code == ev.E_OUT_OF_RANGE:  # that one event is left out, said so
                    lines.append(Line(kind="error", time=time.time(), text=f"a message from the server was not shown: {event.message}"))
                continue  # a message type from a newer server: ignore it (PROTOCOL.md 3)
            if isinstance(event, ConnectionClosed):
                if self.outcome is None:
                    if self.session.closed_reason and (self.quitting or self.reconnect is None):
                        self._finish(0, f"disconnected: {self.session.closed_reason}", lines)
                    elif self.quitting and self.on_quit is None:
                        self._finish(0, "you left the chat", lines)
                    elif self.reconnect is not None:  # after a shutdown notice: ends it or waits (Reconnect.lost)
                        self.reconnect.lost(self, lines)
                    else:
                        self._finish(1, "disconnected: the connection to the server was lost", lines)
                return
            if isinstance(event, ev.Welcome):  # a rejoin's too
                welcomed(self, event)
            if event.__class__ is ev.Pong:  # its byte said the room is there (heard_from_room); a rejoin's: offers_came
                lines.extend(offers_came(self.transfers))
                continue
            if isinstance(event, ev.Error) and event.code == ev.E_MUTED:
                lines.extend(self.paced.muted(self))
            if isinstance(event, ev.Error) and event.code == ev.E_SLOW_DOWN and not event.fatal and self.paced.refused(self, event, lines):
                continue  # it waits its turn again: held, not refused (or a ping's refusal: answered)
            if isinstance(event, ev.FileStart):
                set_receive_buffer(self.sock, DOWNLOAD_RECEIVE_BUFFER_BYTES)
            if isinstance(event, ev.FILE_SERVER_ALL):
                replies, said = self.transfers.on_event(event)
                lines.extend(said)
                for reply in replies:
                    self._send(reply)
                if self.transfers.has_chunks_to_send:
                    if lines:  # what was said so far goes first: "sending" before "sent"
                        self.frontend.show(lines)
                        lines = []
                    self._flush()  # an upload was accepted: start sending it
                if not isinstance(event, (ev.Offered, ev.FileList)):
                    continue
            lines.extend(self.session.on_event(event))
            lines.extend(held_lines_after(self, event))  # a mute, a mode change: what becomes of the lines held
            if isinstance(event, ev.Error) and event.fatal:
                ended_by(self, event, lines)  # or no kick at all: a link too slow (LINK_DROPS)
                return
            if isinstance(event, ev.Shutdown) and notice_ends_it(self, lines):
                return
        if lines:
            self.frontend.show(lines)
        if self.reconnect is not None and self.reconnect.replay_end is not None:
            self.reconnect.resend(self)  # below what the replay showed
        send_held(self)
        if self.session.leave_requested and not self.quitting and self.outcome is None:
            self._quit(when_sent=True)

    def _read_keys(self) -> None:
        submitted = self.frontend.read_input()
        if submitted is None:  # end of input (Ctrl-D, or a script's stdin closed): its lines go first
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.frontend.fileno())  # an ended input stays readable
            self._quit(when_sent=True)
            return
        if take_submitted(self, submitted):  # False: the chat ended, or we quit, on one of them
            for event in self.session.take_pending():  # typing hints the front end noted
                self._send(event)

    def submit(self, text: str) -> None:
        """Act on one line the user entered."""
        result = typed_input(self.session, text, self.frontend)
        if result is None:
            return
        reconnect = self.reconnect
        offline = reconnect is not None and reconnect.offline
        cancel = isinstance(result, FileCommand) and result.name == "cancel"  # (offline: the re-get once back stops)
        if reconnect is not None and offline and not isinstance(result, (Quit, Local, Unsend, UiCommand)) and not cancel:
            reconnect.away(self, result, text)
            return
        if isinstance(result, Quit):
            self._quit(typed=not result.at_once)
        elif isinstance(result, Local):
            self.frontend.show(list(result.lines))
        elif isinstance(result, UiCommand):
            self.frontend.show(self.frontend.run_ui_command(result))
        elif isinstance(result, FileCommand):
            events, lines = self.transfers.command(result, offline=offline)
            if lines:
                self.frontend.show(lines)
            for event in events if not offline else ():  # (offline, every transfer stopped with the connection)
                self._send(event)
        elif isinstance(result, Unsend):
            self.frontend.show([unsend(self)])
        elif isinstance(result, Outgoing):
            send_typed(self, result.event)

    def _send(self, event: ev.Event) -> None:
        """Send ``event``, or hold it in order while the room's flood limit is spent (pacing.py)."""
        self.paced.send(self, event)

    def _write(self, event: ev.Event) -> None:
        try:
            self.out += self.proto.send(event)
            if type(event) in TYPED:
                self.unconfirmed.sent(event)  # until the server answers it
                self.liveness.asked()  # its echo answers as a pong does: no answer in time is said
        except LocalProtocolError:
            return  # the connection is closing; nothing more can be said
        except ValueError as exc:  # wire.FrameError: too big for one frame; nothing was sent
            self.frontend.show([Line(kind="error", time=time.time(), text=f"not sent: {exc}")])
            return
        self._flush()

    def _flush(self) -> None:
        if self.transfers.has_chunks_to_send and not self.quitting:
            self._top_up_uploads()
        if self.out:
            try:
                sent = self.sock.send(self.out)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                sent = 0  # TLS: the same bytes are offered again when the socket is writable
            except OSError:
                closed_on_write(self)
                return
            del self.out[:sent]
        # an upload in progress keeps write interest: writable means "read the next chunks"
        wanted = self.out or (self.transfers.has_chunks_to_send and not self.quitting)
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(self.sock, events, "net")
        if self.quitting and not self.out and self.on_quit is None:
            self._half_close()

    def _half_close(self) -> None:
        """The bye is out: send FIN behind it, then read until the server closes.

        Closing at once, with the server's last frames still unread, makes the kernel answer
        with a reset that throws away whatever we sent that has not left yet: a script's last
        lines and the bye itself (the others would see "lost connection", not "left")."""
        if self.linger_deadline is not None:
            return
        if not isinstance(self.sock, ssl.SSLSocket):  # a TLS socket's shutdown() would drop TLS itself
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
        self.linger_deadline = time.monotonic() + LINGER_SECONDS

    def _top_up_uploads(self) -> None:
        """Queue upload chunks only while little is waiting, so chat lines typed during a
        large upload leave promptly and memory stays flat (PROTOCOL.md, File transfer)."""
        room = UPLOAD_LOW_WATER_BYTES - len(self.out)
        if room <= 0:
            return
        pieces, lines = self.transfers.next_chunks(room)
        for piece in pieces:  # chunks too go through the state machine, like every frame
            try:
                self.out += self.proto.send(piece)
            except LocalProtocolError:
                break
        if lines:
            self.frontend.show(lines)

    def _quit(self, *, typed: bool = False, when_sent: bool = False) -> None:
        """Leave: with lines held by the flood limit, the end of input and a first /q wait for
        them (told so); a second /q, Ctrl-C or a signal leave at once, saying how many were lost."""
        if self.paced.wait_before_leaving(self, typed=typed, when_sent=when_sent):
            return
        if self.reconnect is not None and self.reconnect.offline:  # nobody to say bye to
            self.quitting = True
            self._finish(0, "you left the chat")
            return
        if self.quitting and self.said_bye:  # not when_sent: a hung-up keyboard ends its input again at each wake-up
            if self.on_quit is None and self.linger_deadline is not None and not when_sent:
                self._finish(0, "you left the chat")  # a second Ctrl-C: stop waiting for the server
            return
        self.quitting = True
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.frontend.fileno())  # nothing typed now can be sent
        if self.on_quit is not None:
            self.on_quit()  # the host: the server tells everyone, then closes our socket too
        else:
            self._send(ev.Bye())  # once it is flushed, _half_close waits for the server to close
        self.said_bye = True

    def _finish(self, code: int, message: str, pending: list[Line] | None = None) -> None:
        if pending:
            self.frontend.show(pending)
        if self.outcome is None:
            unsent = self.paced.never_sent(self)
            if unsent and not (code or self.quitting or self.on_quit):  # the server ended it, not our /q or Ctrl-C
                code = LINES_NOT_SENT
            message += unsent
            # printed after the terminal is restored, and it may quote the server: made harmless
            self.outcome = Outcome(code, visible(message), tuple(self.paced.unsent_texts))


def one_pass(loop: ClientLoop, drawing_due: Callable[[], float | None] | None) -> None:
    """One turn of ClientLoop.run: wait for the network, the keys or a due time, and handle them."""
    timeout = None
    if loop.linger_deadline is not None:
        timeout = loop.linger_deadline - time.monotonic()
        if timeout <= 0:
            loop._finish(0, "you left the chat")  # the server never closed: go anyway
            return
    if drawing_due is not None and (due := drawing_due()) is not None:
        timeout = due if timeout is None else min(timeout, due)  # a held-back status line
    ready = loop.selector.select(also_due(loop, timeout))
    if loop.reconnect is not None:
        loop.reconnect.tick(loop)
        watch_address(loop)
    loop.paced.send_waiting(loop)
    for key, mask in ready:
        if key.data == "net":
            if mask & selectors.EVENT_READ:
                loop._read_network()
                heard_from_room(loop)
            if mask & selectors.EVENT_WRITE:
                loop._flush()
        elif key.data == "keys" and loop.outcome is None:
            loop._read_keys()
        elif key.data == "rejoin" and loop.reconnect is not None and loop.outcome is None:
            loop.reconnect.finished(loop)
        elif key.data == "news" and loop.news is not None and loop.outcome is None:
            if lines := [line for news in loop.news.take() for line in loop.session.machine_moved(news)]:
                loop.frontend.show(lines)
    if loop.outcome is None and hashing(loop.transfers):
        read_kept_parts(loop)
    if loop.outcome is None and loop.transfers.sending:
        uploads_taken(loop)
    if loop.outcome is None:
        if loop.paced.leave_when_sent:  # a leave waiting for the answers to our lines: they may have come
            loop.paced.send_waiting(loop)
        note_unanswered(loop, time.monotonic())
        ask_the_room(loop)
        loop.frontend.update()


def uploads_taken(loop: ClientLoop) -> None:
    """Each pass while uploading: progress by what the server's end acknowledged (upload_acks.py),
    the backlog being the kernel's unacknowledged bytes (none known: none) and the loop's unwritten."""
    backlog = (unacknowledged_bytes(loop.sock) or 0) + len(loop.out)
    if lines := taken_up(loop.transfers, backlog):
        loop.frontend.show(lines)


def read_kept_parts(loop: ClientLoop) -> None:
    """A slice of a resumed download's kept part read into its SHA-256 (client_files.hash_kept),
    one a pass: the screen and the chat go on meanwhile (also_due does not wait while it lasts)."""
    replies, lines = hash_kept(loop.transfers)
    if lines:
        loop.frontend.show(lines)
    for reply in replies:
        loop._send(reply)


def ended_by(loop: ClientLoop, error: ev.Error, lines: list[Line]) -> None:
    """A fatal error ends the chat, unless the server ended the connection for the link's sake
    (LINK_DROPS: too slow to read, a frame left half-sent by a stall) and we rejoin: then it is
    said once, and we rejoin as after a lost connection, the status line saying why until back
    (PROTOCOL.md 5, Slow readers)."""
    if error.code not in LINK_DROPS or loop.reconnect is None or loop.quitting:
        loop._finish(1, f"disconnected by the server: {error.message}", lines)
        return
    why = LINK_DROPS[error.code]
    said = Line(kind="error", time=time.time(), text=f"the server dropped this connection ({why}): {error.message}")
    loop.reconnect.lost(loop, [*lines, said], why=why)


def typed_input(session: Session, text: str, frontend: object = None) -> InputResult | None:
    """What a line typed means (Session.parse_input), unless it is refused here (not_utf8_problem):
    then the line that says why, which the full screen puts back in its input line (give_back).
    A direct message that goes is told to a front end that waits for its answer (the full screen's
    ``whisper_sent``: a refused one comes back to the input line); one refused here is not."""
    if (problem := not_utf8_problem(text)) is not None:
        return Local((Line(kind="error", time=time.time(), text=problem, give_back=text),))
    result = session.parse_input(text)
    if isinstance(result, Outgoing) and isinstance(result.event, ev.Whisper):
        sent = getattr(frontend, "whisper_sent", None)
        if sent is not None:
            sent(text, result.event)
    return result


def not_utf8_problem(text: str) -> str | None:
    """Why a typed line is not sent: it holds a byte that is not text in the terminal's character
    set (a Latin-1 terminal under a UTF-8 locale types 'café' as caf\\xe9), which both front ends
    keep as its lone surrogate (surrogateescape; shown as \\xe9: textsafe.visible). Sent as U+FFFD,
    the room read 'caf\ufffd'. A real U+FFFD (pasted from a web page) is text and goes. A /send path
    keeps the bytes: they are the file's name's own (os.fsencode); the NAME it goes to is sent and
    may not. A /save path (the full screen's: nothing is sent) keeps them alike. None: it may go."""
    if _NOT_UTF8.search(text) is None:
        return None
    if text.lstrip().split(" ", 1)[0].lower() == "/save":
        return None
    if text.lstrip()[:6].lower() in ("/send", "/send "):
        try:
            words = shlex.split(text.lstrip()[5:])  # as Session reads /send PATH [NAME]
        except ValueError:
            return None  # an open quote: all of it is the path
        if len(words) != 2 or _NOT_UTF8.search(words[1]) is None:
            return None
    return "not sent: \\xNN marks a byte that is not UTF-8 (a terminal set to another character set sends them: set it to UTF-8, or LANG to match it)"


_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # a byte the keyboard's decoder could not read (surrogateescape)


def note_unanswered(loop: ClientLoop, now: float) -> None:
    """The status line says when typed lines have gone unanswered for a while (unconfirmed.py:
    a link that died silently; also_due wakes the loop for it). Offline, and while a rejoin's
    replay is under way, the reconnection speaks for them instead."""
    since = loop.unconfirmed.waiting_since(now)
    if since is None or now - since < SHOW_UNANSWERED_AFTER or not may_say_unanswered(loop):
        loop.session.progress.pop("unanswered", None)
    else:
        loop.session.progress["unanswered"] = Unanswered(len(loop.unconfirmed))


def may_say_unanswered(loop: ClientLoop) -> bool:
    """Would the status line say lines wait for their answer, once they have waited long enough
    (note_unanswered)? Not without a status line, nor while the reconnection speaks for them."""
    reconnect = loop.reconnect
    return loop.transfers.status_line and not (reconnect is not None and (reconnect.offline or reconnect.replaying))


def answer_stops(loop: ClientLoop, stops: StopSignals) -> None:
    """Ctrl-C, SIGTERM or SIGHUP came (stopsignals.py): leave, once. The ones after the first, a
    closing terminal's second hangup or a storm of them, change nothing: the goodbye goes on in
    its own time (after a typed /q, the first one stops waiting for the server, as a second /q).
    Decided on what is unanswered, not on what this call read: a line written meanwhile may have
    read the signal from the socket (stopsignals.write_out)."""
    stops.take()
    if not stops.insisting or loop.stop_answered or loop.outcome is not None:
        return
    came = stops.unanswered
    loop.stop_answered = True
    if not loop.quitting:  # it starts the goodbye: answered. Any other insists (and a write to a
        stops.answered += 1  # reader that stopped reading gives up: stopsignals.write_out)
    if loop.on_stop is not None and signal.SIGINT not in came:
        loop.on_stop()  # the host's server tells everyone it stopped, then closes our socket too
    else:
        loop._quit()


def notice_ends_it(loop: ClientLoop, lines: list[Line]) -> bool:
    """The shutdown notice came, the server's last frame: the full screen waits out a restart
    (Reconnect.stopped_now); else (final, --plain, --no-reconnect) the chat ends now, not when
    the server hangs up: a TLS room's took 2 s, and a key pressed at "chat over: press any key"
    meanwhile went into the input line. The host's own screen ends as its server does."""
    if loop.reconnect is not None and loop.reconnect.stopped_now(loop, lines):
        return True
    if loop.on_quit is not None or loop.quitting or loop.outcome is not None:
        return False
    lines.extend(cut_off(loop.transfers, "the chat ended", for_good=True))  # a download under way is not left unsaid
    loop._finish(0, f"disconnected: {loop.session.closed_reason}", lines)
    return True


def send_typed(loop: ClientLoop, event: ev.Event) -> None:
    """What the person typed goes, or waits behind the lines held for our turn, in the order typed.
    A say or /me typed out of turn waits for our turn too (said once, here): sent, the room would
    refuse it and it would be lost. --plain says the first in full (the terminal shows each line
    typed); the full screen, whose input line empties on Enter, says each one with its text
    (``quotes_held_lines``). Muted, it goes: the room's refusal says why."""
    session = loop.session
    reconnect = loop.reconnect
    if session.mode != "turn" or type(event) not in NEEDS_THE_TURN or (
        not loop.held and (session.my_turn or session.muted_text() or (reconnect is not None and reconnect.replaying))
    ):
        loop._send(event)  # during a rejoin's replay it waits after those typed while away (Paced.send)
        _tell_speech(loop, "sent_at_once", event)
        return
    quoting = _quotes_held_lines(loop)
    if not session.my_turn and not loop.held:  # the first said in full; the next counted (take_submitted)
        loop.frontend.show([Line(kind="notice", time=time.time(), text=held_until_our_turn(session, event if quoting else None))])
    elif quoting:  # the full screen: each line held is said, with its text (its input line is empty again)
        loop.frontend.show([Line(kind="notice", time=time.time(), text=held_too(len(loop.held) + 1, event))])
    loop.held.hold(event)
    send_held(loop)


def _tell_speech(loop: ClientLoop, what: str, event: ev.Event | None) -> None:
    """--screen-reader leaves out the room's copy of a line sent at once (ui/speech.py): it hears
    which went at once (``sent_at_once``), and which of them the room refused (``held_back``: held
    for our turn again, its copy when it comes is news)."""
    told = getattr(getattr(loop.frontend, "speech", None), what, None)
    if told is not None and event is not None:
        told(event)


def take_submitted(loop: ClientLoop, submitted: list[str]) -> bool:
    """The lines submitted together (a paste, keys typed ahead), each as typed; those held for our
    turn counted once, after them, past the first (send_typed said it in full): a paste of five
    lines out of turn was five notices. False when the chat ended, or we quit, on one of them."""
    index, held = 0, len(loop.held)
    while index < len(submitted):
        reconnect = loop.reconnect
        if reconnect is not None and (run := not_taken(reconnect, submitted, index)) > 1:
            reconnect.give_back(loop, submitted[index : index + run])  # a paste past the most kept
            index += run
            continue
        loop.submit(submitted[index])
        index += 1
        if loop.outcome is not None or loop.quitting:
            return False
    if len(loop.held) > max(held, 1) and not loop.session.my_turn and not _quotes_held_lines(loop):
        loop.frontend.show([Line(kind="notice", time=time.time(), text=held_too(len(loop.held)))])
    return True


def held_again(loop: ClientLoop, line: ev.Event | None, lines: list[Line]) -> bool:
    """A say or /me sent on our turn and refused as not our turn: the turn moved on its way (a
    /pass, the turn timeout). It waits for our turn, first, said so, on both screens alike (the
    full screen put a refused say back into its input line, where the next line typed joined it)."""
    if line is None or type(line) not in NEEDS_THE_TURN:
        return False
    loop.held.ahead([line])
    lines.append(Line(kind="notice", time=time.time(), text=held_until_our_turn(loop.session, line if _quotes_held_lines(loop) else None)))
    return True


def note_unsent_texts(loop: ClientLoop) -> None:
    """The chat ends with typed lines that never left (held for our turn, typed while away): their
    texts go into its last words (Outcome.unsent), as the full screen's unsent input line does;
    in projector mode a direct message's without its text (the last words show on that screen)."""
    queued = loop.reconnect.queued if loop.reconnect is not None else []
    for event in [*queued, *loop.held.lines]:
        if isinstance(event, (ev.Say, ev.Me)):  # as typed, so it can be typed again
            loop.paced.unsent_texts.append(typed_as(event))
        elif isinstance(event, ev.Whisper):
            loop.paced.unsent_texts.append(f"/w {event.to} {'(hidden: projector mode)' if loop.session.projector else event.text}")


def kept_while_away(loop: ClientLoop, event: ev.Event) -> str:
    """The line said when a line typed while disconnected is kept (Reconnect.away): the full
    screen, whose input line is empty again, quotes which one, as a held line's notice does; in a
    turn-based room a say or /me waits for our turn too (whose turn is not known till then)."""
    said = type(event) in NEEDS_THE_TURN
    it = _quoted_held(event) if said and _quotes_held_lines(loop) else "it "
    when = "on your turn, once" if said and loop.session.mode == "turn" else "when"
    return f"not connected: {it}will be sent {when} the connection is back"


def _quotes_held_lines(loop: ClientLoop) -> bool:
    """Does the front end want each held line quoted? The full screen's input line empties on
    Enter, so its notice must say which line waits; --plain's terminal shows what was typed."""
    return bool(getattr(loop.frontend, "quotes_held_lines", False))


def held_until_our_turn(session: Session, line: ev.Event | None = None) -> str:
    """The line said when a line typed out of turn is kept for it (send_typed), quoting ``line``
    on the full screen (_quotes_held_lines). An operator's says how to say it now: a teacher who
    switched to turns before asking would have her question go after the students' answers
    (/mode turn gives them the turn first); made duplex, the room lets it go at once
    (HeldForTurn.due), then turns again."""
    now = "; to say it now: /mode duplex, then /mode turn" if session.is_operator(session.name) else ""
    return f"not your turn yet ({session.turn_text()}): {_quoted_held(line)}held until it is your turn; /unsend drops it{now}"


def held_too(count: int, line: ev.Event | None = None) -> str:
    """The line said for lines held behind others (``count`` in all): once for lines typed or
    pasted together in --plain (take_submitted), for each one with its text on the full screen."""
    return f"{_quoted_held(line)}held too: {count} lines wait for your turn; /unsend drops them"


# A held line quoted in its notice is cut to this many characters (the rest is in the status
# line's count and, sent, in its echo): the notice says which line waits, not all of it again.
HELD_QUOTED_CHARACTERS = 60


def _quoted_held(line: ev.Event | None) -> str:
    """``line`` as typed, quoted for a held line's notice ("'me first' "), or "" (--plain's)."""
    if line is None:
        return ""
    text = typed_as(line)
    return quoted(text if len(text) <= HELD_QUOTED_CHARACTERS else text[: HELD_QUOTED_CHARACTERS - 1] + "\u2026") + " "


def unsend(loop: ClientLoop) -> Line:
    """/unsend: drop the typed lines still held back here (typed while offline, to be sent again
    once back, held for our turn, waiting at the room's pace), said with the count. Online, a
    line already written is on its way and is not taken back."""
    count = len(loop.paced.pacer.take(lambda event: type(event) in TYPED))
    count += loop.reconnect.drop_queued(loop) if loop.reconnect is not None else loop.held.drop()
    loop.session.progress.pop("held", None)
    loop.paced._leave_if_drained(loop)  # off the status line; a /q that waited for them leaves
    if not count:
        return Line(kind="notice", time=time.time(), text="no line you typed waits to be sent")
    lines = f"{count} lines you typed were" if count != 1 else "1 line you typed was"
    return Line(kind="notice", time=time.time(), text=f"{lines} dropped, not sent (/unsend)")


def held_lines_after(loop: ClientLoop, event: object) -> list[Line]:
    """What a moderation act does to the lines held for our turn (HeldForTurn), said after it.

    A mute of ours drops them, with the count (Paced.muted, as the lines the flood limit holds):
    a muted member is passed over, so a held line would go on its own once the mute ended, long
    after and unknown to us. The room made turn-based again: a say or me the flood limit still
    holds (the room was duplex) would be refused as not our turn; it waits for it with them."""
    if not isinstance(event, ev.Moderated):
        return []
    if event.action == "mute" and event.name is not None and ev.name_key(event.name) == ev.name_key(loop.session.name):
        held = [loop.held.in_flight, *loop.held.lines]  # (before the mute drops them)
        return _which_went(loop, loop.paced.muted(loop), held)
    if event.action != "mode" or loop.session.mode != "turn":
        return []
    paced = loop.paced.pacer.take(lambda line: type(line) in NEEDS_THE_TURN)
    if not paced:
        return []
    if not loop.paced.pacer.waiting:  # off the status line: they are counted as held there now
        loop.session.progress.pop("pacing", None)
    loop.held.ahead(paced)  # typed before the lines still held, if any
    count = f"{len(paced)} line{'s' if len(paced) != 1 else ''} you typed"
    return [Line(kind="error", time=time.time(), text=f"{count} will be sent on your turn; /unsend drops them")]


# How many of the lines a mute dropped its notice quotes (the rest counted): a few to recognise.
MUTE_QUOTES_HELD = 3


def _which_went(loop: ClientLoop, said: list[Line], held: list[ev.Event | None]) -> list[Line]:
    """The full screen's input line let the held lines go (send_typed): the mute's "2 lines you
    typed were not sent: you are muted" quotes which they were, else their text was nowhere."""
    quoted_held = [_quoted_held(line).rstrip() for line in held if line is not None]
    if not said or not quoted_held or not _quotes_held_lines(loop):
        return said
    more = len(quoted_held) - MUTE_QUOTES_HELD
    which = ", ".join(quoted_held[:MUTE_QUOTES_HELD]) + (f" and {more} more" if more > 0 else "")
    return [*said[:-1], replace(said[-1], text=f"{said[-1].text} ({which})")]


def send_held(loop: ClientLoop, *, asking: bool = False) -> None:
    """The lines held for our turn whose time has come (HeldForTurn); none while offline or
    while a rejoin's replay is under way (Reconnect.resend hands them over at its end).

    ``asking`` (the rejoin's end): the oldest goes even out of turn. A mute survives a restart;
    a welcome that says so (``muted``) had them dropped already (Reconnect.resend), but one from
    a server older than that field tells nothing (the room refuses ``muted`` before it looks at
    the turn, PROTOCOL.md 7): muted, they all go (Paced.muted); else it waits again, unshown."""
    reconnect = loop.reconnect
    held = loop.held
    if not held or loop.outcome is not None or (reconnect is not None and (reconnect.offline or reconnect.replaying)):
        if not held:
            loop.session.progress.pop("held", None)
        return
    for event in held.due(loop.session.mode, loop.session.my_turn or asking):
        loop._send(event)
    if held and loop.transfers.status_line:
        loop.session.progress["held"] = held  # the status line: "1 line you typed waits for your turn"
    else:
        loop.session.progress.pop("held", None)


def answered(loop: ClientLoop, event: object, lines: list[Line]) -> bool:
    """``event`` may answer typed lines of ours (MAY_ANSWER): our own echo, live or in a rejoin's
    replay (never an old line on a /history page), or a refusal only a typed line gets, retires
    them; a rejoin's history-end is kept for Reconnect.resend (unconfirmed.py). True: it refused
    a line as not our turn, which waits for it again (HeldForTurn.refused: not news to show;
    held_again: said in ``lines``)."""
    reconnect = loop.reconnect
    if isinstance(event, ev.Error):
        if event.code in TYPED_ONLY_REFUSALS:
            line = loop.unconfirmed.refused()
            _tell_speech(loop, "held_back", line)
            return event.code == ev.E_NOT_YOUR_TURN and (loop.held.refused(line) or held_again(loop, line, lines))
        if event.code in (ev.E_NO_SUCH_USER, ev.E_RESTRICTED):  # a whisper to nobody here, or a command naming nobody
            loop.unconfirmed.no_such_user()  # (restricted: a whisper /restrict dm refused, never sent again)
        elif event.code == ev.E_UNKNOWN_TYPE and (line := loop.unconfirmed.unknown_type()) is not None:
            lines.append(Line(kind="notice", time=time.time(), text=f"not sent: {typed_as(line)} (this room runs an older lanchat, without /me)"))
    elif isinstance(event, ev.HistoryEnd):
        if reconnect is not None and reconnect.replaying:
            reconnect.replay_end = event
        said_above(loop, lines)
    elif event.sender == loop.session.name and (  # type: ignore[attr-defined]
        not getattr(event, "history", False) or (reconnect is not None and reconnect.replaying)
    ):
        if loop.unconfirmed.echoed(event) and reconnect is not None and reconnect.replaying:  # type: ignore[arg-type]  # one of ECHOES
            loop.session.rejoin.ours = event  # a line we typed: shown as ours (Rejoining._replayed)
    return False


def said_above(loop: ClientLoop, lines: list[Line]) -> None:
    """The first replay ends (``lines``: what it shows and is not printed yet): how others join is
    said below it (Session.join_lines_when, the --plain host's), unless serve's banner, which says
    the same, is still in sight just above (ui.plain.BannerAbove): a restarted host with a short
    history read the join lines twice, one under the other."""
    session = loop.session
    banner = getattr(loop.frontend, "banner", None)
    if session.join_lines_when == "replay" and not session.history_asked and banner is not None and banner.in_sight(lines):
        session.join_lines_when = ""


def watch_address(loop: ClientLoop) -> None:
    """Every ADDRESS_CHECK_SECONDS while connected: if this machine lost the address the
    connection was made from and has another (transport.left_behind), the connection is lost:
    rejoin now, from the new address."""
    now = time.monotonic()
    reconnect = loop.reconnect
    if reconnect is None or reconnect.offline or loop.quitting or loop.outcome is not None or now < loop.address_check_at:
        return
    if not on_the_network(loop.sock):  # a socket file or loopback: never left behind, never announced elsewhere
        loop.address_check_at = math.inf  # (the loop's wait no longer wakes for it)
        return
    loop.address_check_at = now + ADDRESS_CHECK_SECONDS
    if left_behind(loop.sock):
        reconnect.lost(loop, [])
        return
    # The room's announcement says it moved (the host's laptop got another address: the
    # rejoin's ``moved``, cli/rejoin.py's _Rejoin, a discovery.RoomWatch): an announcement is no
    # proof (anyone on the LAN can send one), so the connection is only asked whether it is
    # alive, by TCP keepalive within seconds; a dead one ends and the rejoin goes there.
    # So is a line typed and unanswered for a while (unconfirmed.py), and a file transfer that
    # stopped moving: over a link that died without a word TCP took a minute to say so (the
    # download's speed frozen on the status line); asked, it says within seconds, and the line
    # goes again once back (Reconnect.resend). A live but slow server answers the probes.
    moved = getattr(reconnect.rejoin, "moved", None)
    since = loop.unconfirmed.waiting_since(now)
    in_doubt = ((moved is not None and moved()) or (since is not None and now - since >= SHOW_UNANSWERED_AFTER)
                or stalled(loop.transfers, TRANSFER_QUIET_SECONDS) or unanswered_ping(loop))
    if in_doubt is not loop.in_doubt:
        loop.in_doubt = in_doubt
        set_keepalive(loop.sock, quick=in_doubt)


def also_due(loop: ClientLoop, timeout: float | None) -> float | None:
    """``timeout``, or less when a reconnect attempt, a paced line or an address check is due sooner."""
    now = time.monotonic()
    # held lines wait while offline, and during a rejoin's replay (Reconnect.resend sends them)
    held = loop.reconnect is not None and (loop.reconnect.offline or loop.reconnect.replaying)
    if loop.reconnect is not None and (when := loop.reconnect.due()) is not None:
        wait = max(0.0, when - now)
        timeout = wait if timeout is None else min(timeout, wait)
    if loop.reconnect is not None and not loop.reconnect.offline and loop.address_check_at != math.inf:
        wait = max(0.0, loop.address_check_at - now)
        timeout = wait if timeout is None else min(timeout, wait)
    if not held and (paced := loop.paced.pacer.due(now, loop.unconfirmed.lines)) is not None:
        timeout = paced if timeout is None else min(timeout, paced)
    since = loop.unconfirmed.waiting_since(now)
    # a leave waits for their answers, this long at most; not while it cannot go anyway (offline, a
    # replay, lines the pacer holds: their own wake comes above), where a past due time spun the loop
    if since is not None and loop.paced.leave_when_sent and not held and not loop.paced.pacer.waiting:
        wait = max(0.0, since + ANSWERS_AWAITED_SECONDS - now)
        timeout = wait if timeout is None else min(timeout, wait)
    if since is not None and now - since < SHOW_UNANSWERED_AFTER:  # then the status line says a line waits for its answer
        wait = since + SHOW_UNANSWERED_AFTER - now
        timeout = wait if timeout is None else min(timeout, wait)
    elif since is not None and "unanswered" not in loop.session.progress and may_say_unanswered(loop):
        # due, and not said yet: the wait woke a few microseconds early, note_unanswered judged it
        # not due, and by now it is past; come round once more, or it waited for the next event
        timeout = 0.0
    liveness: Liveness | None = getattr(loop, "liveness", None)  # (a test's stand-in loop may have none)
    if liveness is not None and (asking := liveness.due(counting="silent" in loop.session.progress)) is not None:
        timeout = asking if timeout is None else min(timeout, asking)  # a ping, its answer's deadline, the count
    if hashing(loop.transfers):  # a resume's kept part is read a slice a pass (hash_kept): look, don't wait
        timeout = 0.0
    elif uploads_in_flight(loop.transfers):  # the server's end taking an upload's last pieces: look again soon (uploads_taken)
        timeout = IN_FLIGHT_LOOK_SECONDS if timeout is None else min(timeout, IN_FLIGHT_LOOK_SECONDS)
    return timeout


def ask_the_room(loop: ClientLoop) -> None:
    """Each pass (liveness.py): after a quiet spell, a ping; no answer in time, the silence is said,
    on the status line (it counts) or in one --plain line. Offline or leaving, nothing is asked."""
    liveness = loop.liveness
    if loop.quitting or (loop.reconnect is not None and loop.reconnect.offline):
        liveness.forget()  # the next welcome says whether to ask again
        loop.session.progress.pop("silent", None)
        return
    if liveness.ping_due():
        if (bucket := loop.paced.pacer.bucket) is not None:
            bucket.take(time.monotonic())  # counted by the room as a request is: the pacer's mirror too
        loop._write(ev.Ping())  # never behind lines the pacer holds: it asks whether anything moves
    if liveness.asked_at is not None and not liveness.said:  # behind an upload's pieces, still moving?
        unacknowledged = unacknowledged_bytes(loop.sock)
        liveness.sending(None if unacknowledged is None else unacknowledged + len(loop.out))
    if liveness.newly_silent():
        if loop.transfers.status_line:
            loop.session.progress["silent"] = liveness
        else:
            loop.frontend.show([Line(kind="error", time=time.time(), text=silent_line(liveness.unanswered_for() or 0.0))])


def unanswered_ping(loop: ClientLoop) -> bool:
    """A ping went unanswered (liveness.ANSWER_SECONDS): the connection is in doubt (watch_address)."""
    liveness: Liveness | None = getattr(loop, "liveness", None)  # (a test's stand-in loop may have none)
    return liveness is not None and liveness.unanswered_for() is not None and not liveness.behind_our_output


def heard_from_room(loop: ClientLoop) -> None:
    """Bytes came (or the end): the room answers. If its silence was said, that it answers again."""
    if loop.outcome is not None or (loop.reconnect is not None and loop.reconnect.offline):
        return  # the connection ended: ask_the_room forgets what was asked
    silent = loop.liveness.heard()
    if silent is not None:
        loop.session.progress.pop("silent", None)
        loop.frontend.show([Line(kind="notice", time=time.time(), text=answers_again_line(silent))])


def closed_on_write(loop: ClientLoop) -> None:
    """A write failed: the server has closed. What it sent first (a shutdown notice, a kick's
    reason) may still wait unread: read it, so that is what ends or pauses the chat, not
    "connection lost"."""

    def settled() -> bool:
        return loop.outcome is not None or (loop.reconnect is not None and loop.reconnect.offline)

    for _ in range(4):  # the notice, then the end of the stream
        if settled():
            return
        loop._read_network()
    if settled():
        return
    if loop.reconnect is not None and not loop.quitting:
        loop.reconnect.lost(loop, [])
    else:
        loop._finish(1, "disconnected: the connection to the server was lost")
