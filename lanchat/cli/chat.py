"""chat.py: both roles' chat loop, the host's and a student's.

The full screen or line mode, the join under stop signals, and the last words when it ends.
"""

from __future__ import annotations

import sys

from ..textfold import fold_lines
from .rejoin import Unreachable, join_under, rejoiner
from .terminal import (
    PROG,
    PromptCancelled,
    cancelled,
    fail,
    interactive,
    say,
    silence,
    stream_columns,
    terminal_safe,
)


def _make_frontend(session, plain: bool, stops=None, banner_rows=None, screen_reader=False):  # noqa: ANN001, ANN202
    """The full screen, else line mode; ``stops`` (stopsignals.py): line mode's writes to a reader
    that stopped reading give up when a signal insists on leaving; ``banner_rows`` (the host's):
    the rows serve's start lines took, still in sight below a short replay? (client.said_above);
    ``screen_reader``: --screen-reader (or LANCHAT_SCREEN_READER=1), line mode for one (ui/speech.py)"""
    import os

    from ..ui.plain import PlainFrontend
    from ..ui.speech import Speech, wanted

    speech = Speech(session) if wanted(screen_reader, os.environ) else None
    if not plain and speech is None:
        try:
            from ..ui.screen import CursesFrontend

            return CursesFrontend(session, stopping=stops)
        except Exception as exc:  # noqa: BLE001 - no curses here, or a terminal it cannot drive
            say(f"{PROG}: the full-screen interface is not available ({exc}); using line mode")
    frontend = PlainFrontend(session, speech=speech)
    frontend.stops, frontend.banner.rows = stops, banner_rows
    return frontend


def _log_crash(exc: BaseException) -> str:
    """Write an internal error's traceback to a log file; return where, for one line on screen."""
    import traceback

    from ..crash_log import write_crash  # (never another user's file, nor through a planted link)

    return write_crash("".join(traceback.format_exception(exc)) + "\n")


def _let_the_end_be_read(frontend, session, role: str, stops) -> None:  # noqa: ANN001
    """The server shut down (the host ended the chat, or with --no-reconnect: else the full
    screen waited for it to come back, client.Reconnect), or the bot said goodbye: on the full
    screen the last lines stay until a key is pressed, instead of vanishing with the screen.
    A Ctrl-C or a signal ends the wait too, and one that came unanswered before skips it."""
    wait = getattr(frontend, "wait_for_key", None)
    if wait is not None and role == "client" and (session.closed_reason or session.leave_requested):
        import contextlib

        with contextlib.suppress(KeyboardInterrupt), stops.interrupting():
            wait("the chat is over: press any key to leave")


def _name_owned_hint(key, key_path) -> str:  # noqa: ANN001 - an Ed25519 key or None, a Path or None
    """Session's name_owned_hint: how to bring the key that owns a name, naming the key file this
    participant joined with (identity.name_owned_hint); none without a key."""
    from ..identity import name_owned_hint

    return name_owned_hint(key_path) if key is not None else ""


def run_participant(  # noqa: ANN001
    sock, name, *, role, where, plain, on_quit=None, on_stop=None, after=None, downloads=None, intro=None, key=None, fetching=None, offering=None,
    password=None, binding=b"", no_typing=False, projector=False, rejoin=None, again_at=None, may_switch_to_tls=False, news=None, kept_topic="", banner_rows=None,
    found_by_name=False, screen_reader=False, key_path=None) -> int:
    """The host's ``on_quit`` (/q, Ctrl-C: final), ``on_stop`` (SIGTERM, SIGHUP, a crash), ``news`` (client.LocalNews: new addresses),
    ``fetching``, ``offering`` (Session's fetching_here, offering_here), ``kept_topic`` (Session's), ``key_path`` (the key file joined with, --identity, for Session's name_owned_hint; None: the data folder's), ``intro`` (how others join, for /address; the other start lines), ``banner_rows``
    (the terminal rows serve's start lines took: --plain says how to join again below a replay only once they are out of sight), ``found_by_name`` (Session's); others: _join_retrying."""
    from ..client import ClientLoop, JoinError
    from ..client_files import ClientTransfers
    from ..session import Session
    from ..stopsignals import StopSignals

    # Ctrl-C, SIGTERM and SIGHUP from here to the end of the process (but for a switch to TLS:
    # join_under): noted, and read by the loop, which says goodbye once; only the waits outside
    # it are interrupted (stopsignals.py)
    stops = StopSignals()
    stops.install()
    try:  # a hangup while joining: not in, exit 130 as Ctrl-C does
        sock, proto, welcome, early = join_under(
            stops, sock, name, key=key, password=password, binding=binding, again_at=again_at, may_switch_to_tls=may_switch_to_tls,
            key_path=key_path)
    except (PromptCancelled, JoinError, KeyboardInterrupt, Unreachable) as exc:  # not in: the server and the chat end
        if on_quit:
            on_quit()
        if isinstance(exc, PromptCancelled):
            return cancelled(exc)
        if isinstance(exc, Unreachable):
            return 1
        return fail(str(exc)) if isinstance(exc, JoinError) else 130
    joining, start_lines = intro or ((), ())
    session = Session(name=welcome.name, role=role, where=where, typing_hints=not no_typing, join_lines=tuple(joining), start_lines=tuple(start_lines),
                      projector=projector, fetching_here=fetching, offering_here=offering, kept_topic=kept_topic, found_by_name=found_by_name,
                      name_owned_hint=_name_owned_hint(key, key_path))
    frontend = _make_frontend(session, plain or not interactive(), stops, banner_rows, screen_reader)
    from ..ui.plain import PlainFrontend

    if intro:  # how to join, below the replay (the newest lines the host sees): the full screen hid what serve printed, --plain printed it above
        session.join_lines_when = "replay" if isinstance(frontend, PlainFrontend) else "welcome"
    again = rejoiner(rejoin, session, key=key, password=password, binding=binding, version=welcome.version) if rejoin is not None else None
    loop = ClientLoop(sock, proto, session, frontend, on_quit=on_quit, transfers=ClientTransfers(downloads), rejoin=again,
                      rejoin_after_shutdown=not isinstance(frontend, PlainFrontend), on_stop=on_stop, news=news)  # the full screen waits out a shutdown notice unless final
    loop.transfers.status_line = not isinstance(frontend, PlainFrontend)  # progress in place: one line at the end
    if again is not None and loop.reconnect is not None:
        again.note = loop.reconnect.note  # a slow look-up of the host's name, said from the rejoin's thread
    crash: Exception | None = None
    try:
        outcome = loop.run([welcome, *early], stops=stops)
        _let_the_end_be_read(frontend, session, role, stops)
    except Exception as exc:  # an internal error: restore the terminal first, then one line
        crash = exc
    finally:
        _close_screen(frontend)
    if crash is not None:
        if on_stop:
            on_stop()
        return fail(f"internal error ({type(crash).__name__}); the details are in {_log_crash(crash)}")
    kept = after() if after else None  # (the host's: what the history keeps now, and how to read it)
    message = _ending(outcome, frontend, session, role) + (f"\n{PROG}: {kept}" if kept else "")
    _how_it_ended(f"{PROG}: {terminal_safe(message)}", outcome.code, plain=isinstance(frontend, PlainFrontend), stops=stops)
    return outcome.code


# At most this many lines typed and never sent are quoted in the chat's last words (the count says the rest).
UNSENT_QUOTED = 10


def _ending(outcome, frontend, session, role: str) -> str:  # noqa: ANN001
    """The chat's last words: how it ended, the typed lines that never left (client.Outcome.unsent:
    held for the turn, typed while away), and what was left typed in the input line (the full
    screen's, or --plain's at a terminal) when the server ended the chat: a kick, a bad frame, or
    a shutdown notice a student's client does not wait out (the host's /q), alike."""
    message = outcome.message
    if role == "host" and outcome.code == 0:
        message = _host_ending(session, input_ended=getattr(frontend, "ended", False))
    elif getattr(frontend, "speech", None) is not None and session.closed_reason:
        message = _said_once(message, session.closed_reason)
    for text in outcome.unsent[:UNSENT_QUOTED]:
        message += f"\n{PROG}: not sent: {text}"
    if len(outcome.unsent) > UNSENT_QUOTED:
        message += f"\n{PROG}: and {len(outcome.unsent) - UNSENT_QUOTED} more lines not sent"
    draft = getattr(frontend, "draft", None)
    ended_by_server = outcome.code or (role == "client" and session.closed_reason)
    if ended_by_server and draft is not None and draft().strip():
        message += f"\n{PROG}: what you were typing was not sent: {draft()}"
    return message


def _said_once(message: str, reason: str) -> str:
    """--screen-reader: the shutdown notice ("lanchat: the server shut down: REASON") was just
    said, so the last line is "disconnected", not the reason heard a second time. --plain keeps
    "disconnected: REASON": scripts read it."""
    said_before = f"disconnected: {reason}"
    return "disconnected" + message[len(said_before):] if message.startswith(said_before) else message


def _host_ending(session, *, input_ended: bool) -> str:  # noqa: ANN001
    """The host's last line: a SIGTERM or SIGHUP is not final (the students wait for a restart)."""
    if not (session.closed_for_good or not session.closed_reason):
        return HOST_STOPPED
    if input_ended and not sys.stdin.isatty():  # `serve --name hal < /dev/null &`: not the host's choice
        return "the chat is closed: the host's input ended (it is not a terminal); `lanchat serve --headless` runs a room with no host"
    return "the chat is closed"


def _close_screen(frontend) -> None:  # noqa: ANN001
    """The chat is over: give the terminal back. A signal now is only noted (stopsignals.py):
    nothing can cut the restoring short."""
    close = getattr(frontend, "close", None)
    if close:
        close()


HOST_STOPPED = (
    "the server was stopped: students' screens wait up to 10 minutes for it to come back; "
    "start the same `lanchat serve` again to carry on the lesson"
)


def _how_it_ended(text: str, code: int, *, plain: bool, stops=None) -> None:  # noqa: ANN001
    """The exit line: an error to stderr, and with `connect --plain > log` to the saved
    transcript too, so it ends with why (where both are one terminal, it is said once).
    ``stops``: a reader that stopped reading is waited for until a signal insists (write_out)."""
    _last_words(text, sys.stderr if code else sys.stdout, stops)
    if code and plain and not _same_file(sys.stdout, sys.stderr):
        _last_words(text, sys.stdout, stops)


def _same_file(one, other) -> bool:  # noqa: ANN001 - two of sys.stdout, sys.stderr
    """Whether two streams write to the same place (one terminal, or `> log 2>&1`); when
    that cannot be told, True, so nothing is said twice."""
    import os

    try:
        a, b = os.fstat(one.fileno()), os.fstat(other.fileno())
    except (OSError, ValueError, AttributeError):
        return True
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _last_words(text: str, stream, stops=None) -> None:  # noqa: ANN001 - sys.stdout or sys.stderr, StopSignals
    """The line printed as the chat ends. Its reader may be gone (`connect --plain | head -1`,
    the terminal window closed): then there is nobody to tell, and no traceback either. A
    reader that is there but stopped reading is waited for until a signal insists."""

    from ..stopsignals import write_out

    try:
        write_out(stream, "\n".join(fold_lines(text.split("\n"), stream_columns(stream))) + "\n", stops)
    except OSError:  # BrokenPipeError, or EIO from a terminal that hung up
        silence(stream)
