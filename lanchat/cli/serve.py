"""serve.py: `lanchat serve`: its wiring, and the banner that tells the class how to join.

The checks before anything is made, the history, TLS, the room and the server, the
announcement on the local network, and the host's own chat (or a --headless log).
"""

from __future__ import annotations

import argparse
import sys
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..textfold import fold_line, fold_lines, shell_word
from ..textsafe import quoted, visible
from .terminal import (
    PROG,
    PasswordsDiffer,
    PromptCancelled,
    cancelled,
    env_password,
    fail,
    password_from_user,
    resolve_name,
    say,
    terminal_columns,
    terminal_safe,
)

if TYPE_CHECKING:  # only for annotations: --help imports none of them
    import socket
    import ssl

    from ..history import HistoryStore
    from ..identity import RoomPassword
    from ..limits import ConnectionLimits
    from ..room import Room
    from ..server import Server


def _connection_limits(max_per_address: int | None, room: Room) -> ConnectionLimits | None:
    """serve --max-per-address N: the connection caps with N at once from one address and
    2 x N new a minute (at least the defaults); None: the server's own defaults."""
    if max_per_address is None:
        return None
    from .. import limits as lim

    return lim.ConnectionLimits(
        groups=room.moderation.groups,  # one rule for caps and bans
        max_per_address=max_per_address,
        new_per_minute=max(lim.NEW_PER_MINUTE, 2 * max_per_address),
    )


def _install_signals(handler) -> None:  # noqa: ANN001
    """The headless server's SIGTERM and SIGHUP: ``handler``, a request to shut down (signal-safe)."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: handler())
    signal.signal(signal.SIGHUP, lambda *_: handler())


@dataclass
class _Start:
    """What `serve` has gathered so far, step by step (cmd_serve): each step reads it, adds to it,
    and returns None to go on or the exit status to end with (its refusal already said)."""

    args: argparse.Namespace
    port: int = 0
    named: str = ""  # what a refusal to listen adds: ('printer' is 192.0.2.99)
    name: str | None = None  # the host's, on its own screen (None: --headless)
    key: object = None  # the host's identity key (rooms.load_identity)
    room_password: RoomPassword | None = None  # with --password
    password_text: str | None = None
    password_from_env: bool = False
    store: HistoryStore | None = None  # None: --no-history
    listener: socket.socket | None = None  # listening already (--port 0 names the history file by its port)
    tls_context: ssl.SSLContext | None = None
    tls_fingerprint: str | None = None
    binding: bytes = b""  # with TLS: what every signature must cover (identity.sign_challenge)


def cmd_serve(args: argparse.Namespace) -> int:
    """`lanchat serve`: the steps below in order, each able to refuse with nothing to undo (the
    port is listened on for real only once all are through), then the room, its server, the
    start lines, and the host's own chat or the --headless log."""
    start = _Start(args)
    for step in (_check_options, _check_port, _host_name, _ask_password, _open_history, _host_key, _set_up_tls):
        if (status := step(start)) is not None:
            if start.store is not None:
                start.store.close()
            return status
    from ..transport import Endpoint, TransportError, listen

    args.mode, mode_lines = _room_mode(args.mode, start.store)  # (the announcer reads args.mode too)
    turn_timeout, timeout_lines = _turn_timeout(args)
    try:
        start.listener = listener = start.listener or listen(Endpoint(host=args.host, port=start.port, path=args.unix))
    except TransportError as exc:
        return fail(str(exc) + start.named)
    room, kept = _make_room(start, turn_timeout)
    server = _make_server(start, listener, room)
    banner, marks, announcer, news = _start_lines(start, listener, room, kept, mode_lines + timeout_lines)
    if args.headless:
        code = _run_headless(start, server, announcer, marks)
    else:
        code = _run_host(start, server, room, banner, marks, announcer, news)
    return _crash_said(server) or code


def _crash_said(server: Server) -> int | None:
    """A bug ended the server's loop (Server.crashed: everyone got the shutdown notice first, as
    seed 003's server told its clients) or its goodbye: one line says where the details went,
    never a traceback. 1 then; None when the server stopped as asked."""
    if server.crashed is None:
        return None
    import traceback

    from ..crash_log import write_crash

    where = write_crash("".join(traceback.format_exception(server.crashed)) + "\n")
    return fail(f"internal error ({type(server.crashed).__name__}): the server stopped; "
                f"the details are in {where}")  # fmt: skip


def _check_options(start: _Start) -> int | None:
    """Options that cannot go together, or that need what is missing: refused before anything."""
    args = start.args
    if args.port is not None and args.port_arg is not None and args.port != args.port_arg:
        return fail(f"two different ports given ({args.port_arg} and --port {args.port})", 2)
    if args.unix and (args.port is not None or args.port_arg is not None or args.host):
        return fail("--unix cannot be combined with a TCP port or --host", 2)
    if args.bot_seed is not None and not args.bot:
        return fail("--bot-seed needs --bot colour", 2)
    if args.headless and (refused := _for_the_host(args)):
        return fail(refused, 2)
    if args.once and not args.headless:  # with a host there, the last person never leaves
        return fail("--once needs --headless: the host is always in the room, so the last person never leaves", 2)
    if args.bot:
        import importlib.util

        if importlib.util.find_spec("faker") is None:  # checked before listening: fail with nothing to undo
            return fail("the colour bot needs the faker package: pip install faker")
    if args.no_history and (refused := _with_no_history(args)):  # the teacher would think them in effect
        return fail(refused, 2)
    if args.tls_dir and not args.tls:
        return fail("--tls-dir is where --tls keeps its certificate: add --tls", 2)
    if args.max_per_address is not None and args.no_limits:  # the teacher would think a cap in effect
        return fail("--max-per-address sets a connection cap that --no-limits lifts: give one or the other", 2)
    return None


def _check_port(start: _Start) -> int | None:
    """The port (and --host's address, looked up once): free, or refused now."""
    from ..transport import DEFAULT_PORT, Endpoint, TransportError, listen

    args = start.args
    start.port = port = args.port if args.port is not None else (args.port_arg if args.port_arg is not None else DEFAULT_PORT)
    typed_host = args.host
    if args.host and not args.unix:  # a name is looked up once, bounded and said (lookup.py); listen() takes its address
        address = _listen_address(args.host, port)
        if isinstance(address, int):
            return address
        args.host = address
    # what a refusal to listen adds, whichever port: ('printer' is 192.0.2.99)
    start.named = f" ({quoted(typed_host)} is {args.host})" if typed_host != args.host else ""
    if not args.unix and port != 0:
        # The port first, before anything is asked or made: a port in use (the room already
        # running in another window) was said only after a name and the password typed twice,
        # and left an empty history-PORT file behind. Listening for real waits until the end:
        # students connecting while the teacher types are refused and retry, never left waiting.
        try:
            listen(Endpoint(host=args.host, port=port)).close()
        except TransportError as exc:
            return fail(str(exc) + start.named)
    return None


def _host_name(start: _Start) -> int | None:
    """The host's name (none for --headless)."""
    if start.args.headless:
        return None
    try:
        start.name = resolve_name(start.args, "serve")
    except PromptCancelled as exc:
        return cancelled(exc, "no room was started")
    return 2 if start.name is None else None


def _host_key(start: _Start) -> int | None:
    """The host's identity key (none for --headless), after the history file: a --history that is
    refused made no new key first (it was made, said, and the room never started)."""
    if start.args.headless:
        return None
    from .rooms import load_identity

    start.key = load_identity(start.args)
    return 1 if start.key is None else None


def _ask_password(start: _Start) -> int | None:
    """--password: typed twice (or LANCHAT_PASSWORD), and its slow KDF run once, here."""
    if not start.args.password:
        return None
    import os

    from ..identity import SALT_BYTES, RoomPassword

    start.password_from_env = bool(env_password())  # (as password_from_user reads it)
    try:
        start.password_text = password_text = password_from_user("Room password: ", confirm=True)
    except PasswordsDiffer as exc:
        return fail(str(exc), 2)
    except PromptCancelled as exc:
        return cancelled(exc, "no room was started")
    if not password_text:
        empty = "LANCHAT_PASSWORD is set but empty" if env_password() == "" else None
        if sys.stdin.isatty():
            asked = f"type one when asked ({empty})" if empty else "type one when asked, or set LANCHAT_PASSWORD"
        else:
            asked = f"input is not a terminal, so none could be asked for; {empty or 'set LANCHAT_PASSWORD'}"
        return fail(f"--password needs a password: {asked}", 2)
    # The slow KDF runs here, once, before the loop: each join then costs one HMAC.
    start.room_password = RoomPassword.create(password_text, os.urandom(SALT_BYTES))
    return None


def _open_history(start: _Start) -> int | None:
    """The history file, opened before listening: a damaged file is refused with nothing to
    undo, and it is never replaced by a new, empty one (PROTOCOL.md, History replay)."""
    args = start.args
    if args.no_history:
        return None
    from ..history import HistoryBusy, HistoryDiskFull, HistoryNotYours, HistoryStore, HistoryUnusable, default_path
    from ..transport import Endpoint, TransportError, listen

    if start.port == 0 and not args.unix and not args.history:
        # `--port 0`: the file is named by the port the system picks, the one the banner
        # prints and a restart on it finds; not one history-0 file that every such room
        # shares (a second one at once refused, a later one replaying another's lesson)
        try:
            start.listener = listen(Endpoint(host=args.host, port=0))
        except TransportError as exc:
            return fail(str(exc) + start.named)
        start.port = start.listener.getsockname()[1]
    history_at = {"unix": args.unix} if args.unix else {"port": start.port}
    history_path = Path(args.history) if args.history else default_path(**history_at)
    if args.history and (missing := _no_folder_for(history_path, "the history file")):
        return fail(f"{missing}\n  plug the drive in or create the folder, choose another file with --history PATH, or start with --no-history")
    try:
        start.store = HistoryStore(history_path)
    except HistoryBusy as exc:  # another server on this file: it says what to do instead
        if not args.unix and start.listener is None:  # a second `serve` on the same port (the default file is per port):
            try:  # name the port, where another --history would only lead to "port in use"
                listen(Endpoint(host=args.host, port=start.port)).close()
            except TransportError as taken:
                return fail(str(taken) + start.named)
        return fail(str(exc))
    except HistoryNotYours as exc:  # another user's history: moving it aside would lose theirs
        return fail(f"{exc}\n  run serve as {exc.owner} to go on with it, choose another file with --history PATH, "
                    "or start with --no-history")  # fmt: skip
    except HistoryDiskFull as exc:  # nothing wrong with the file: moving it aside would not help
        return fail(f"{exc}\n  free some space there, or choose another file with --history PATH, or start with --no-history")
    except HistoryUnusable as exc:
        return fail(f"{exc}\n  {_history_advice(history_path)}")
    return None


def _set_up_tls(start: _Start) -> int | None:
    """--tls: the room's certificate (made on first use, its key kept private) and its context."""
    if not start.args.tls:
        return None
    from ..tls import TlsError, channel_binding, default_folder, ensure_certificate, make_key_private, server_context

    try:
        cert, cert_key, made = ensure_certificate(Path(start.args.tls_dir) if start.args.tls_dir else default_folder())
        made_private = make_key_private(cert_key)
        start.tls_context, start.tls_fingerprint = server_context(cert, cert_key)
    except TlsError as exc:
        return fail(str(exc))
    if made_private:
        _log_out("\n".join(fold_lines([terminal_safe(f"{PROG}: {made_private}")], terminal_columns())))
    start.binding = channel_binding(start.tls_fingerprint)
    if made:
        # (as the banner after it: a log on a full disk says so and goes on, never a traceback)
        _log_out("\n".join(fold_lines([terminal_safe(f"{PROG}: {made}")], terminal_columns())))
    return None


@dataclass
class _Kept:
    """What the history brought back for the start lines: operators, bans, mutes, and when."""

    operators: list = field(default_factory=list)
    bans: list = field(default_factory=list)
    mutes: list = field(default_factory=list)
    started: float = 0.0


def _make_room(start: _Start, turn_timeout: float | None) -> tuple[Room, _Kept]:
    """The room, with what the history keeps of earlier runs."""
    import os

    from ..gate import Gate
    from ..room import Room, resume_token

    args, store = start.args, start.store
    owners, owner_names = store.owners_and_names() if store else (None, [])
    kept = _Kept(operators=store.operator_keys() if store else [], started=_time.time())
    kept.bans, kept.mutes = (store.bans(), store.mutes(kept.started)) if store else ([], [])
    room = Room(
        resume_tokens=resume_token,
        operators=args.operator,
        mode=args.mode,
        max_members=args.max_clients,
        history=store is not None,
        replay=args.replay,
        known_names=store.known_names() if store else (),
        bans=kept.bans,  # bans survive a restart (PROTOCOL.md, Moderation)
        mutes=kept.mutes,  # and so do mutes, less the time the server was down
        operator_keys=[key for key, _name in kept.operators],  # and operators given with /op (by key), and the topic
        topic=store.room_topic() if store else None,
        turn_timeout=turn_timeout,
        gate=Gate(clock=_time.time, owners=owners, owner_names=owner_names, password=start.room_password, binding=start.binding),
        address_groups=_address_groups(),
        own_user=os.getuid() if hasattr(os, "getuid") else None,  # bans on this machine hold by user, but ours
    )
    room.moderation.restricted = frozenset(_restricted(args.restrict, store))  # what /restrict or --restrict turned off
    room.answers_pings = True  # a client asks, after a quiet spell, whether the room is there (PROTOCOL.md, Liveness)
    if args.max_per_address is not None:  # a class behind one NAT: each may own their name (gate.py)
        room.gate.names_per_address = max(room.gate.names_per_address, args.max_per_address)
    if store is not None:  # keys seen in earlier runs: a ban behind a NAT lets those classmates in (moderation.py)
        from ..history_upkeep import DAY_SECONDS

        forget = kept.started - args.keep_days * DAY_SECONDS if args.keep_days is not None else None
        room.moderation.seen_keys.remember(store.seen_keys(before=forget))
    return room, kept


def _make_server(start: _Start, listener: socket.socket, room: Room) -> Server:
    """The server around the room (and the colour bot, with --bot)."""
    args, store = start.args, start.store
    from ..server import Server

    log = _headless_log if args.headless else None
    files = _server_files(args, log, first_id=store.next_file_id() if store else 1)
    server = Server(
        [listener], room, log=log, unix_path=args.unix, once=args.once, history=store, files=files, tls=start.tls_context,
        limits=not args.no_limits, keep_history=(args.keep_days, args.max_history_mb),
        connection_limits=_connection_limits(args.max_per_address, room),
    )  # fmt: skip
    if args.bot:
        from ..bots import start_colour_bot

        start_colour_bot(server.add_local, seed=args.bot_seed, log=log)  # joins on the loop's first passes; anyone else waits for it (hub.py)
    return server


@dataclass
class _Marks:
    """Where the start lines were printed for, and which of them say how to join."""

    where: list[str]  # the addresses others reach the room at (transport.reachable_addresses)
    mode_text: str
    pin: str  # ' --fingerprint SHA256:...' with TLS, for the join lines
    joins: int  # the banner's lines that name addresses (a new one rewrites them: _tell_the_host)
    how_to_join: int  # the lines /address says again; the rest are said at start only
    shown: str  # the banner as printed, folded to the terminal
    columns: int | None  # (None: not a terminal)


def _start_lines(start: _Start, listener: socket.socket, room: Room, kept: _Kept, room_lines: list[str]):  # noqa: ANN202 - (banner, _Marks, announcer, _HostNews)
    """The start lines (how to join, TLS, password, the room's kept state, the history), printed
    (or logged, --headless), with the room's announcement on the local network made ready."""
    from ..moderation import bans_serve_operator_lifts
    from ..transport import reachable_addresses

    args, store = start.args, start.store
    where = reachable_addresses(listener)
    mode_text = "turn-based" if args.mode == "turn" else "full-duplex"
    pin = f" --fingerprint {start.tls_fingerprint}" if start.tls_fingerprint else ""
    password = start.room_password is not None
    if args.unix:
        banner = _unix_banner(args.unix, mode_text, pin)
    else:
        everywhere = listener.getsockname()[0] in ("::", "0.0.0.0")
        banner = _join_banner(where, mode_text, listener.getsockname()[1], pin, password=password, everywhere=everywhere)
    joins = len(banner)
    banner += _tls_and_password_lines(start.tls_fingerprint, password)
    how_to_join = len(banner)
    banner += room_lines
    if start.password_from_env:  # left set in the shell, it was taken without a prompt: the teacher must know whose
        banner.append("  the password is the one in LANCHAT_PASSWORD (so it was not asked for); unset it to be asked")
    elif not password and env_password():  # set for this room, or left from a `connect`: only --password reads it
        banner.append("  no password: anyone can join; LANCHAT_PASSWORD is set, but only --password makes the room ask for it")
    if store is not None and store.skipped:  # its bans, mutes, owners or names (history_rows.py)
        from .history_file import entries

        banner.append(f"  history: left out {entries(store.skipped)} of {store.path}: not as lanchat writes them")
    if args.bot:
        banner.append("  colourbot is here: it asks each person's mood and suggests a colour (/mood, /y, /n)")
    host_news = None if args.headless else _HostNews()  # the host's screen: new addresses, a renamed room
    announcer, announce_line = _announcer(
        args, listener, start.name, _headless_log if args.headless else None, password=password, fingerprint=start.tls_fingerprint,
        renamed=host_news.renamed if host_news is not None else None, news=host_news.say if host_news is not None else None,
    )  # fmt: skip
    if announce_line:
        banner.insert(how_to_join, announce_line)
        how_to_join += 1
    banner += _operator_lines(
        args.operator, room.gate.owner_of, kept=store is not None, host=None if args.headless else start.name, host_key=start.key
    )
    lifted = bans_serve_operator_lifts(room)
    banner += _kept_lines(kept.operators, room.topic) + _kept_moderation_lines(kept.bans, kept.mutes, kept.started, lifted)
    banner += _restrict_lines(room, given=args.restrict is not None) + _history_lines(store, args)
    # (the paths in it are the user's: a byte that is not UTF-8 shown as \xe9, an escape as ^[, never sent raw)
    columns = terminal_columns()
    shown = "\n".join(fold_lines([terminal_safe(line) for line in banner], columns))
    if args.headless:  # the log's first day line after it (_headless_log)
        from ..log_output import LOG

        LOG.write_dated(lambda now: shown, day_after=True)
    else:
        _log_out(shown)
    return banner, _Marks(where, mode_text, pin, joins, how_to_join, shown, columns), announcer, host_news


def _tls_and_password_lines(fingerprint: str | None, password: bool) -> list[str]:
    """The start lines a student needs besides the address: TLS's fingerprint, and the password."""
    lines = []
    if fingerprint:
        from ..tls import short_form

        lines.append(f"  TLS: every connection is encrypted; the server's fingerprint is {fingerprint}")
        lines.append(f"  in short, for the board: {short_form(fingerprint)} (a student's first join shows it to compare)")
    if password:
        lines.append("  a password is needed to join (people are asked for it, or set LANCHAT_PASSWORD)")
    return lines


def _history_lines(store, args: argparse.Namespace) -> list[str]:  # noqa: ANN001 - a HistoryStore or None
    """The start lines about the history: off, or where it is kept and what it replays."""
    if store is None:
        return ["  history: off (--no-history): nothing is saved"]
    lines = [f"  history: {store.path} (the last {args.replay} messages are replayed on joining)"]
    lines += _holdings_line(store, args)
    if not store.writable:
        lines.append(
            f"  warning: cannot write the history ({store.readonly_reason}): earlier messages are replayed, "
            "new ones are not saved"
        )
    return lines


def _run_headless(start: _Start, server: Server, announcer, marks: _Marks) -> int:  # noqa: ANN001
    """--headless: the server alone, its log on standard output, until a stop signal (or --once)."""
    import signal

    _install_signals(lambda: server.request_shutdown("the server was stopped"))
    for stop in (signal.SIGINT, getattr(signal, "SIGQUIT", signal.SIGINT)):  # Ctrl-C and Ctrl-\ alike
        signal.signal(stop, lambda *_: server.request_shutdown("the server was stopped"))
    if announcer is not None:
        announcer.start()
    _follow_addresses(start.listener, marks.where, server.stopped, announcer=announcer, log=_headless_log, pin=marks.pin)
    try:
        server.serve_forever()
    finally:
        if announcer is not None:
            announcer.close()
    if start.store is not None:
        start.store.close()
    _log_out(f"{PROG}: server stopped")
    return 0


def _run_host(start: _Start, server: Server, room: Room, banner: list[str], marks: _Marks, announcer, host_news) -> int:  # noqa: ANN001
    """The host's own chat, joined over a socketpair, with the server on a thread of its own."""
    from ..stopsignals import start_thread
    from ..transport import local_pair
    from ..ui.plain import rows_on_screen
    from .chat import run_participant

    args, store = start.args, start.store
    host_end, server_end = local_pair()
    host_cid = server.add_local(server_end, host=True)
    start_thread(server.serve_forever, "lanchat-server")  # stop signals are the host's screen's (main thread)
    where_text = (args.unix or (marks.where[0] if marks.where else f"port {start.port}")) + (" (TLS)" if start.tls_context is not None else "")
    intro = [line for line in banner[marks.how_to_join:] if not line.lstrip().startswith("history:")]
    address_lines = banner[: marks.how_to_join]  # (/address: how others join, for the projector)
    news = host_news or _HostNews()  # the host's screen is told when this machine's addresses change
    news.shown(where_text, address_lines)
    if announcer is not None:
        announcer.start()
    password = start.room_password is not None
    moved = _tell_the_host(news, address_lines[marks.joins:], marks.mode_text, marks.pin, tls=start.tls_context is not None, password=password)
    _follow_addresses(start.listener, marks.where, server.stopped, announcer=announcer, moved=moved)
    try:
        return run_participant(
            host_end,
            start.name,
            role="host",
            where=where_text,
            plain=args.plain,
            screen_reader=args.screen_reader,
            downloads=args.downloads,
            # the host's /q, /q! and Ctrl-C end the lesson: students stop waiting (PROTOCOL.md 8);
            # a SIGTERM or SIGHUP (a closed window, a reboot) may be followed by a restart
            on_quit=lambda: server.request_shutdown("the host closed the chat", final=True),
            on_stop=lambda: server.request_shutdown("the server was stopped"),
            fetching=lambda: server.hub.files.fetching_but(host_cid),  # /q's question: who is downloading what
            offering=lambda: server.hub.files.offers_of(host_cid),  # the host's own files on offer, by connection
            key=start.key,
            key_path=Path(args.identity) if args.identity else None,
            password=(lambda: start.password_text),
            binding=start.binding,  # the host's socketpair has no TLS, but the room expects its certificate
            after=lambda: _close_history(server, store, _history_command(start)),
            intro=(address_lines, intro),
            banner_rows=rows_on_screen(marks.shown + "\n", marks.columns) if store is not None else None,  # (--plain: in sight below the replay? none without history)
            kept_topic=room.topic.text if room.topic is not None else "",  # said in the start lines (_kept_lines)
            no_typing=args.no_typing,
            projector=args.projector,
            news=news,
        )
    finally:
        news.close()
        if announcer is not None:
            announcer.close()


def _listen_address(host: str, port: int) -> str | int:
    """serve --host NAME: the address it names, looked up once (lookup.look_up: said after a
    second, given up after ten, where the resolver alone waited 20 s and more without a word), or
    an exit code after one line. An address is taken as it is."""
    from ..lookup import is_address, look_up

    if host == "*" or is_address(host):  # ("*": every interface, as "" is: transport.listen_tcp)
        return host
    from ..addresses import interface_addresses
    from ..netinfo import every_address, interface_names

    on = interface_addresses(host, every_address(), interface_names())
    if on is not None:  # (before the name server: "eth1" was looked up there, and not found)
        if not on:
            return fail(f"--host {quoted(host)} is a network interface of this machine, but it has no address to listen "
                        "on (is it connected?); give another one, or leave --host out to listen on every one")  # fmt: skip
        say(f"{PROG}: --host {host} is this machine's network interface: listening on its address {on[0].address}")
        return on[0].address
    try:
        found = look_up(host, port, passive=True, say=lambda text: say(f"{PROG}: {text}"))
    except KeyboardInterrupt:  # said, as Ctrl-C while the rooms are looked for is (it ended in a bare 130)
        print()
        return cancelled(PromptCancelled(interrupted=True), "no room was started")
    if not found.addresses:
        return fail(f"--host {quoted(host)} {found.problem}; give one of this machine's addresses "
                     "(`lanchat doctor` lists them), or leave --host out to listen on every one")  # fmt: skip
    from .rejoin import found_at

    return found_at(found.addresses)[0]  # (a link-local one with its zone, as connect takes it)


# serve's options for the host, the person at the terminal, and what to use in a --headless room,
# which has none: each was taken and ignored there, so a teacher believed it in effect.
FOR_THE_HOST = (
    ("name", "--name", "is the host's name in the chat", "the room is named with --room NAME"),
    ("identity", "--identity", "is the host's key", "operators are named with --operator KEY"),
    ("plain", "--plain", "is the host's line mode", "the server writes its log one line each"),
    ("screen_reader", "--screen-reader", "is the host's line mode", "the server writes its log one line each"),
    ("no_typing", "--no-typing", "is for the host's screen", "each person chooses with connect --no-typing"),
    ("projector", "--projector", "is for the host's screen", "join it with connect --projector"),
    ("downloads", "--downloads", "is where the host's /get saves", "each person chooses with connect --downloads"),
)


def _for_the_host(args: argparse.Namespace) -> str | None:
    """Why ``serve --headless`` refuses the host's options it was given (FOR_THE_HOST), or None."""
    given = [(option, what, instead) for dest, option, what, instead in FOR_THE_HOST if getattr(args, dest)]
    if not given:
        return None
    option, what, instead = given[0]
    also = f" (nor {', '.join(o for o, _w, _i in given[1:])})" if len(given) > 1 else ""
    return f"{option} {what}, and a --headless room has no host{also}: leave {'them' if also else 'it'} out ({instead})"


# serve's options that work on the history, and what each does, which --no-history (no history at
# all) would silently undo: the teacher would think a term's messages kept, or replayed.
ON_THE_HISTORY = (
    ("--history", "keeps the history in that file"),
    ("--keep-days", "drops old messages from the history"),
    ("--max-history-mb", "caps the history's size"),
    ("--replay", "replays the history to each person joining"),
)


def _with_no_history(args: argparse.Namespace) -> str | None:
    """Why ``serve --no-history`` refuses the history's options it was given (typed, even as
    their default: _Given), or None."""
    typed = getattr(args, "given", ())
    given = [(option, what) for option, what in ON_THE_HISTORY if option.removeprefix("--").replace("-", "_") in typed]
    if not given:
        return None
    option, what = given[0]
    also = f" (nor {', '.join(o for o, _w in given[1:])})" if len(given) > 1 else ""
    return f"{option} {what}, and --no-history keeps none{also}: leave out one or the other"


# A headless room with no --operator has nobody who can /pass a turn: without a timeout, the first
# student to join could hold the turn (and the room) silently until the server is restarted.
HEADLESS_TURN_SECONDS = 120.0


def _turn_timeout(args: argparse.Namespace) -> tuple[float | None, list[str]]:
    """--turn-timeout, or HEADLESS_TURN_SECONDS for a headless room that names no operator, and
    the start line that says so in a turn-based room (None: a turn waits for the host's /pass)."""
    if args.turn_timeout is not None or not args.headless or args.operator:
        return args.turn_timeout, []
    lines = []
    if args.mode == "turn":
        lines.append(f"  a turn nobody takes moves on after {HEADLESS_TURN_SECONDS:g} s: nobody here can /pass it "
                     "(--turn-timeout SECONDS to choose, --operator NAME|KEY for someone who can)")  # fmt: skip
    return HEADLESS_TURN_SECONDS, lines


def _restricted(asked: tuple[str, ...] | None, store) -> tuple[str, ...]:  # noqa: ANN001
    """What students may not do (restrict.py): --restrict if given (kept, so the next start holds
    it too), else what /restrict left off when the room last ran with this history, else nothing."""
    if asked is None:
        return store.restricted() if store is not None else ()
    if store is not None and store.writable:
        import contextlib

        from ..history import HistoryWriteError

        with contextlib.suppress(HistoryWriteError):
            store.set_restricted(asked)
    return asked


def _room_mode(asked: str | None, store) -> tuple[str, list[str]]:  # noqa: ANN001
    """The room's mode and what the host's start lines say of it: --mode if given, else the
    mode /mode left the room in when it last ran with this history (kept by actions.KeepMode),
    else duplex. The mode chosen is kept, so the next start without --mode resumes it."""
    kept = store.room_mode() if store is not None else None
    mode = asked or kept or "duplex"
    lines = []
    texts = {"turn": "turn-based", "duplex": "full-duplex"}
    if asked is None and kept == "turn":  # not the default: say why, and how to start otherwise
        lines.append("  mode: turn-based, as /mode left this room when it last ran (serve --mode duplex starts full-duplex)")
    elif asked is not None and kept is not None and kept != asked:
        lines.append(f"  mode: {texts[asked]} as --mode {asked} asks; /mode had left this room {texts[kept]}")
    if store is not None and store.writable and asked is not None and asked != kept:  # the room's mode now
        import contextlib

        from ..history import HistoryWriteError

        with contextlib.suppress(HistoryWriteError):
            store.set_room_mode(mode)
    return mode, lines


def _announcer(args: argparse.Namespace, listener, name: str | None, log, *, password: bool = False,  # noqa: ANN001, ANN202
               fingerprint: str | None = None, renamed: Callable[[str, str, str], None] | None = None,
               news: Callable[[str], None] | None = None):
    """The room's announcement on the local network (discovery.py), not started yet, and its banner line.

    Nothing is announced for an AF_UNIX socket, for a server only this machine can reach
    (--host 127.0.0.1), or with --no-announce. A room on every address of a machine that has no
    address yet but loopback (the laptop not on the Wi-Fi yet) is announced once it has one
    (_follow_addresses moves the announcer there; ``start`` waits for it). ``password``: joining
    needs one; ``fingerprint``: the TLS certificate's, for clients to pin (docs/PROTOCOL.md, Finding rooms);
    ``renamed(asked, announced_as, notice)``: the host's screen told that another room had the name;
    ``news(notice)``: the host's screen told something else (another machine with this room's certificate)."""
    if args.unix or args.no_announce:
        return None, _unannounced_name(args, "an AF_UNIX socket is a file on this machine" if args.unix else "")
    import ipaddress
    import socket

    host = listener.getsockname()[0]
    every = host in ("::", "0.0.0.0")
    addresses = _to_announce(listener) if every else [] if ipaddress.ip_address(host.split("%")[0]).is_loopback else [host]
    if not addresses and not every:  # (discovery, zeroconf and their imports are left out: an idle server's memory)
        return None, _unannounced_name(args, f"--host {host} is reachable from this machine only")
    from ..discovery import Announcer, clean_room_name
    from .rooms import room_said

    machine = clean_room_name(socket.gethostname().split(".")[0]) or "lanchat"
    room = args.room or clean_room_name(f"{name or machine}'s room")

    said: set[str] = set()  # a renamed room is said once per name (a move announces it again)

    def done(announced_as: str | None, problem: str | None) -> None:
        # Another room had the name (the class next door's, a prank): multicast DNS added "-2", and
        # students typing the name from the board joined the other room. Said, with the name to type.
        if announced_as is not None and announcer.renamed and announced_as not in said:
            said.add(announced_as)
            _say_renamed(room, announced_as, log, renamed, other=announcer.taken_by or room)
            return
        if log is None:
            return  # the host's full screen is up by now; the banner said what to expect
        if problem:
            log(f"could not announce the room on the local network ({problem}); people join with the address")
        else:
            log(f"announced as {room_said(announced_as or room)} on the local network")

    announcer = Announcer(
        room=room,
        port=listener.getsockname()[1],
        addresses=addresses,
        host=machine,
        mode=args.mode,
        password=password,
        fingerprint=fingerprint,
        on_done=done,
        on_clone=_clone_said(args.tls_dir, log, news) if fingerprint else None,
    )
    if not addresses:
        return announcer, (f"  this machine has no network address yet: {room_said(room)} is announced on the local network once "
                           "it has one (--no-announce to stay quiet)")
    return announcer, f"  announcing {room_said(room)} on the local network: `lanchat connect` finds it (--no-announce to stay quiet)"


def _unannounced_name(args: argparse.Namespace, why: str) -> str | None:
    """The banner's line for a --room that is never announced (``why``; none for --no-announce, which
    asked for it): ann typed `serve --room "pizza night" --host 127.0.0.1`, nothing said the name was
    not announced, and `lanchat connect "pizza night"` found no room of that name."""
    if not args.room or not why:
        return None
    from .rooms import room_said

    return f"  {room_said(args.room)} is not announced on the local network ({why}): `lanchat connect` by its name does not find it"


def _clone_said(tls_dir: str | None, log, news) -> Callable:  # noqa: ANN001 - _announcer's
    """Announcer.on_clone for a TLS room: machines installed from one school image share its TLS
    certificate and key, and each can pass for the other's room, fingerprint and all. Said once
    (a move watches again), in the headless ``log`` or on the host's screen (``news``)."""
    said: list[str] = []

    def clone(other) -> None:  # noqa: ANN001 - a discovery.RoomInfo
        if said:
            return
        from ..tls import default_folder
        from .rooms import room_said

        said.append(other.where)
        warning = (f"warning: another machine announces a room with this room's TLS certificate: {room_said(other.name)} "
                   f"at {other.where} (host {other.host or '?'}); a cloned school image, or a copied tls-key.pem? Either can "
                   f"pass for the other's room. On one of them, move tls-cert.pem and tls-key.pem aside (in "
                   f"{tls_dir or default_folder()}) and start again: a new certificate is made; give the class its new short form")
        if log is not None:
            log(warning)
        elif news is not None:
            news(warning)

    return clone


def _say_renamed(room: str, announced_as: str, log, renamed, *, other: str | None = None) -> None:  # noqa: ANN001 - _announcer's
    """The room is announced as ``announced_as``, not ``room``: said in the headless log, or on
    the host's screen (``renamed``), with the name students type to join it by name. ``other``:
    the other room's name as it spells it ("Friends" beside "friends"), else taken as ``room``'s."""
    from .rooms import room_said

    join = f"`lanchat connect {shell_word(announced_as)}`"
    other = other or room
    if log is not None:
        log(f"announced as {room_said(announced_as)} on the local network: another room here is called {room_said(other)} "
            f"already, so {join} joins this one by name (choose another name with --room NAME)")
    elif renamed is not None:
        renamed(room, announced_as, f"another room on this network is called {room_said(other)} already: this one is "
                f"announced as {room_said(announced_as)}; {join} joins it by name (or choose another name with --room NAME)")


class _HostNews:
    """client.LocalNews for the host's screen (serve's threads post, the host's loop takes), which
    also says that the room is announced under another name than --room's (``renamed``): the
    notice, and /address's announce line with the name announced, kept in later news too."""

    def __init__(self) -> None:
        import threading

        from ..client import LocalNews

        self._news = LocalNews()
        self._guard = threading.Lock()
        self._shown: tuple[str, tuple[str, ...]] = ("", ())  # the status line's address, /address's lines
        self._names: tuple[str, str] | None = None  # (asked, announced as), once renamed

    def shown(self, where: str, join_lines: list[str]) -> None:
        """What the host's screen starts with (before any news is posted)."""
        with self._guard:
            self._shown = (where, tuple(join_lines))

    def fileno(self) -> int:
        return self._news.fileno()

    def take(self) -> list:
        return self._news.take()

    def close(self) -> None:
        self._news.close()

    def post(self, news) -> None:  # noqa: ANN001 - a session.MachineMoved
        import dataclasses

        with self._guard:
            if self._names is not None:
                asked, announced = (repr(name) for name in self._names)
                lines = tuple(line.replace(asked, announced) if "on the local network" in line else line
                              for line in news.join_lines)  # fmt: skip
                news = dataclasses.replace(news, join_lines=lines)
            self._shown = (news.where, news.join_lines)
        self._news.post(news)

    def renamed(self, asked: str, announced_as: str, notice: str) -> None:
        with self._guard:
            self._names = (asked, announced_as)
        self.say(notice)  # (the join lines then say the name announced: post)

    def say(self, notice: str) -> None:
        """A line for the host's screen, the address and join lines as they are."""
        from ..session import MachineMoved

        with self._guard:
            where, lines = self._shown
        self.post(MachineMoved(where=where, join_lines=lines, notice=notice))


def _to_announce(listener, found: list | None = None) -> list[str]:  # noqa: ANN001
    """The addresses a room listening on every address is announced at now (addresses_to_announce;
    ``found``: this machine's addresses as netinfo.every_address read them, if read already)."""
    import socket

    from ..addresses import addresses_to_announce
    from ..netinfo import every_address

    ipv6 = listener.family == socket.AF_INET6
    found = every_address() if found is None else found
    # a link-local address is announced without its zone: each joiner has its own (discovery.browse)
    return [a.address.partition("%")[0] for a in addresses_to_announce(found) if ipv6 or a.version == 4]


def _unix_banner(path: str, mode_text: str, pin: str) -> list[str]:
    """`serve --unix`'s first lines: the command to join on a line of its own, as a TCP room's,
    so a 64-column screen does not fold it between `--unix` and the path; the path absolute, so
    the command joins from any folder (`serve --unix mood.sock` said `connect --unix mood.sock`),
    and quoted as a shell reads it (a space in it made the pasted command two words)."""
    import os.path
    import shlex

    path = os.path.abspath(path)
    return [f"lanchat: {mode_text} chat on {path}; join with:", f"  python -m lanchat connect --unix {shlex.quote(path)}{pin}"]


def _join_banner(where: list[str], mode_text: str, port: int, pin: str, *, password: bool, everywhere: bool = True) -> list[str]:
    """`serve`'s first lines for a TCP room: how to join it at each address of ``where``
    (transport.reachable_addresses), and with nc (a text participant, PROTOCOL.md; nc cannot speak TLS).
    A room on every address (``everywhere``, not --host) of a machine that has none but loopback to
    offer (two laptops on a cable: link-local only, which nobody types) says that one is its own."""
    from ..addresses import split_host_port

    lines = [f"lanchat: {mode_text} chat listening on port {port}; join with:"]
    for address in where:
        host, port_of = split_host_port(address)
        lines.append(f"  python -m lanchat connect {host} {port_of}{pin}")
    if where and not pin:
        host, port_of = split_host_port(where[0])
        then = "your name and the password, which nc sends unencrypted" if password else "your name"
        lines.append(f"  or type in any terminal: nc {host} {port_of} (then Enter, and {then})")
    if everywhere and where and not _others_reach(where):
        lines.append(f"  ({split_host_port(where[0])[0]} is this machine itself: another machine cannot join with it)")
    if everywhere and len(where) > 2:  # (two besides loopback, at least)
        from ..addresses import networks_note
        from ..netinfo import every_address

        note = networks_note([split_host_port(address)[0] for address in where], every_address())
        lines += [f"  ({note})"] if note else []
    return lines


def _others_reach(where: list[str], pin: str = "") -> list[str]:
    """Of ``where`` (host:port, as reachable_addresses says them), the commands that join from
    another machine (loopback left out), with ``pin`` (`` --fingerprint ...``, a TLS room's)."""
    import contextlib
    import ipaddress

    from ..addresses import split_host_port

    commands = []
    for address in where:
        host, port = split_host_port(address)
        with contextlib.suppress(ValueError):  # (reachable_addresses gives addresses, never names)
            if ipaddress.ip_address(host.partition("%")[0]).is_loopback:
                continue
        commands.append(f"lanchat connect {host} {port}{pin}")
    return commands


def _tell_the_host(news, rest: list[str], mode_text: str, pin: str, *, tls: bool, password: bool) -> Callable[[list[str]], None]:  # noqa: ANN001
    """What the host's screen is handed when this machine's addresses change (``where``, as
    reachable_addresses says them): the status line's address, /address's lines (the join lines
    of the banner written afresh, then ``rest`` as they were) and the notice to read out."""
    from ..addresses import split_host_port
    from ..session import MachineMoved

    def moved(where: list[str]) -> None:
        port = split_host_port(where[0])[1] or 0  # (reachable_addresses always says the port)
        commands = " or ".join(f"`{command}`" for command in _others_reach(where, pin))
        news.post(MachineMoved(
            where=where[0] + (" (TLS)" if tls else ""),
            join_lines=(*_join_banner(where, mode_text, port, pin, password=password), *rest),
            notice=f"this machine's address changed: others join with {commands}",
        ))  # fmt: skip

    return moved


ADDRESS_POLL_SECONDS = 3.0  # how often a server looks whether this machine's addresses changed


def _follow_addresses(listener, where: list[str], stopped, *, announcer=None, log=None, moved=None, pin: str = ""):  # noqa: ANN001, ANN202
    """Watch this machine's addresses while the server runs (until ``stopped``), for a room that
    listens on every address (a thread: netinfo reads are cheap, every ADDRESS_POLL_SECONDS).
    When they change (the host's laptop left the Wi-Fi and came back with another lease): the
    room is announced again at the new ones (``announcer``), so the clients following its
    announcement (discovery.RoomWatch) rejoin there; and the new join lines are said, to the
    headless log (``log``) or to the host's screen (``moved(where)``, _tell_the_host), with or
    without an announcement (--no-announce: nobody else can tell the late students).
    ``where``: the addresses the banner said (reachable_addresses); ``pin``: a TLS room's
    `` --fingerprint ...``, as its banner's join lines have it. While the machine has no
    address but loopback nothing is said: the same address may come back."""
    import socket

    from ..addresses import addresses_moved
    from ..netinfo import every_address
    from ..transport import reachable_addresses

    if listener.family == socket.AF_UNIX or listener.getsockname()[0] not in ("::", "0.0.0.0"):
        return None  # a socket file, or bound to one address: the room cannot move

    def run() -> None:
        offered = _others_reach(where, pin)
        announced = list(announcer.addresses) if announcer is not None else []
        first_announced = bool(announced)  # (none yet: the machine had no address when the room started)
        while not stopped.wait(ADDRESS_POLL_SECONDS):
            found = every_address()  # read once a tick, for both lists
            try:
                current = reachable_addresses(listener, found)
                now = _to_announce(listener, found) if announcer is not None else []
            except OSError:  # the listener closed as the server stopped: nothing left to watch
                return
            again = addresses_moved(announced, now)  # (the default route moved to the cable: no move)
            if again:
                announced = now
                announcer.move(now)
            others = _others_reach(current, pin)
            news = addresses_moved(offered, others)
            if news:
                offered = others
            if log is not None and (news or again):
                joins = "; ".join(offered if news else (f"lanchat connect {a} {announcer.port}{pin}" for a in announced))
                announcing = ("announcing the room again; " if first_announced else "announcing the room; ") if again else ""
                log(f"this machine's address changed: {announcing}join with: {joins}")
            first_announced = first_announced or bool(again)
            if news and moved is not None:
                moved(current)

    from ..stopsignals import start_thread

    return start_thread(run, "lanchat-addresses")  # (returned for tests)


def _restrict_lines(room: Room, *, given: bool) -> list[str]:
    """What students may not do from the start (--restrict, or kept from /restrict), and how to lift it."""
    from ..events import RESTRICT_KINDS
    from ..restrict import described

    off = room.moderation.restricted
    if not off:
        return []
    why = "--restrict" if given else "kept from the last run"
    typed = " ".join(kind for kind in RESTRICT_KINDS if kind in off)  # (restrict.py's order)
    return [f"  restricted ({why}): {described(off)} are off; /unrestrict {typed} turns them back on"]


def _kept_lines(operators: list[tuple[str, str]], topic) -> list[str]:  # noqa: ANN001 - an events.Topic or None
    """What the history kept from the room's last run besides bans, mutes and the mode: the
    operators made with /op (by key; named as they were then) and the topic."""
    lines = []
    if operators:
        names = ", ".join(visible(name) for _key, name in operators)
        lines.append(f"  operators kept from the last run (their keys; /deop NAME takes it back): {names}")
    if topic is not None:
        lines.append(f"  topic kept from the last run (/topic - clears it): {visible(topic.text)}")
    return lines


def _kept_moderation_lines(bans, mutes, now: float, lifted=()) -> list[str]:  # noqa: ANN001 - moderation.Ban and Mute
    """Who is still banned or muted from the room's last run (history.py keeps them), for the
    start lines: the teacher restarting mid-lesson sees what holds and how to lift it. ``lifted``:
    the bans serve --operator lifts as its operator joins (moderation.bans_serve_operator_lifts),
    said apart: listed as kept, the teacher who restarted to get her room back read her own ban
    as holding."""
    import math

    lines = []
    kept = [ban for ban in bans if ban not in lifted]
    if kept:
        names = ", ".join(visible(ban.name or f"#{ban.id}") for ban in kept)
        lines.append(f"  bans kept from the last run (/bans lists them; /unban NAME lifts one): {names}")
    if lifted:
        names = ", ".join(visible(ban.name or f"#{ban.id}") for ban in lifted)
        lines.append(f"  bans from the last run that --operator lifts as its operator joins: {names}")
    if mutes:
        def left(mute) -> str:  # noqa: ANN001
            if mute.until is None:
                return "until /unmute"
            minutes = max(1, math.ceil((mute.until - now) / 60))
            return f"{minutes} more minute{'s' if minutes != 1 else ''}"

        names = ", ".join(f"{visible(mute.name or mute.name_key)} ({left(mute)})" for mute in mutes)
        lines.append(f"  mutes kept from the last run (/unmute NAME lifts one): {names}")
    return lines


def _operator_lines(names: list[str], owner_of, *, kept: bool, host: str | None = None, host_key=None) -> list[str]:  # noqa: ANN001
    """What serve says about each --operator NAME: whose key it needs, or that nobody owns the
    name yet, so the first to join under it will (and become an operator): the teacher, if first.
    The host's own name needs neither: the host joins first and is the operator. A fingerprint
    needs no name at all; the host's own key's (``lanchat key``'s line, passed to the serve she
    hosts) is said to be hers."""
    from ..events import name_key
    from ..identity import fingerprint_hex, public_bytes, short_fingerprint
    from ..moderation import key_id

    own = key_id(public_bytes(host_key)) if host_key is not None else None
    lines = []
    for name in names:
        wanted = fingerprint_hex(name)
        if wanted is not None and own is not None and own.startswith(wanted):
            lines.append(f"  --operator {name}: that is your own key, the host's: you run the room already")
            continue
        if wanted is not None:
            # (16 digits and no letter: a fingerprint, by the one rule, but more likely a student number)
            number = " (16 digits are read as a key's fingerprint: for a student of that number, give their key's)" if wanted.isdecimal() else ""
            lines.append(f"  --operator {name}: whoever joins with the key of that fingerprint, under any name, "
                         f"becomes an operator{number}")
            continue
        if host is not None and name_key(name) == name_key(host):
            lines.append(f"  --operator {name}: that is you, the host: you run the room already")
            continue
        owner = owner_of(name)
        if owner is not None:
            lines.append(
                f"  --operator {name}: whoever joins as {name} with the key that owns it "
                f"({short_fingerprint(owner)}) becomes an operator"
            )
            continue
        forgets = "" if kept else " (with --no-history the server forgets it when it stops)"
        lines.append(
            f"  warning: --operator {name}: nobody owns that name yet; the first to join as {name} "
            f"with an identity key becomes its owner and an operator: join first{forgets}, "
            "or give your key's fingerprint instead (`lanchat key` prints it)"
        )
    return lines


def _address_groups():  # noqa: ANN202
    """What counts as one place for connection caps and bans by address: the networks this
    machine is on now (a class on the server's own IPv6 LAN counts per address, not per /64),
    read when the first stranger's /64 arrives and again at most once a minute after
    (limits.AddressGroups): a server only IPv4 or loopback peers reach never loads psutil."""
    from ..limits import AddressGroups
    from ..netinfo import local_networks

    return AddressGroups((), refresh=local_networks, clock=_time.monotonic)


def _holdings_line(store, args: argparse.Namespace) -> list[str]:  # noqa: ANN001
    """What the history holds and keeps: ``history: 11.8 MiB, 40,211 messages since 2026-09-01;
    keeping 30 days, at most 1,024 MiB`` (history_upkeep.py drops the rest once the room runs)."""
    import sqlite3

    from ..history import HistoryWriteError
    from ..history_upkeep import describe_holdings

    try:
        used, count, oldest = store.holdings()
    except (sqlite3.Error, HistoryWriteError):
        return []
    if not store.writable:  # an archive keeps all it has
        return [f"  history: {describe_holdings(used, count, oldest, keep_days=None, max_mb=None)}"]
    return [f"  history: {describe_holdings(used, count, oldest, keep_days=args.keep_days, max_mb=args.max_history_mb)}"]


def _no_folder_for(path: Path, what: str) -> str | None:
    """Why a file the user named cannot be made where they said: its folder is not there, or it is
    a link into a folder that is not (SQLite said only "unable to open database file"). A folder
    the user names is never made (identity.load_or_create_key's rule, for --identity): `--history
    /media/usb/term.sqlite3` with the stick not plugged in made /media/usb on this disk and began
    an empty history there. Only lanchat's own data folder is made, on first use. A link to a file
    not made yet, in a folder that is there, is fine: the file is made through it. None: there is
    something there (a folder, or a file or a folder we may not read, which opening the file names)."""
    import os

    try:
        os.stat(path.parent)
    except FileNotFoundError:
        return f"there is no folder {path.parent} for {what} {path.name} (a drive not plugged in? a typo?)"
    except OSError:  # (a file on the way, a folder we may not search: HistoryStore says which)
        return None
    if not os.path.islink(path):
        return None
    target = Path(os.path.realpath(path))  # (non-strict: follows every link there is, relative ones too)
    try:
        os.stat(target.parent)
    except FileNotFoundError:
        try:
            shown = os.readlink(path)
        except OSError:  # (the link gone meanwhile)
            shown = str(target)
        return f"{path} is a link to {shown}, and there is no folder {target.parent} for it (a drive not plugged in? a typo?)"
    except OSError:  # a link loop, a folder we may not search: HistoryStore says which
        pass
    return None


def _history_advice(history_path: Path) -> str:
    """What to do about a history file serve cannot use: a folder given is not a file to move aside."""
    from os.path import exists, isdir  # (never raise, unlike Path's on a folder we may not read)

    if isdir(history_path):
        return f"give a file inside it, e.g. --history {history_path / 'history.sqlite3'}, or start with --no-history"
    there = "the file was left untouched: move it aside, " if exists(history_path) else ""
    return f"{there}choose another file with --history PATH, or start with --no-history"


def _server_files(args: argparse.Namespace, log, *, first_id: int = 1):  # noqa: ANN001, ANN202
    """The server's file store (server_files.py): limits from the command line, a folder of its own,
    ids going on from the last run's (``first_id``, kept in the history)."""
    from ..files import MB
    from ..server_files import ServerFiles

    base = Path(args.files_dir) if args.files_dir else None  # None: the data folder, on first use
    quota = args.quota_mb * MB if args.quota_mb else None
    return ServerFiles(base, max_file_bytes=args.max_file_mb * MB, quota_bytes=quota, first_id=first_id, log=log)


def _close_history(server, store, read_with: str) -> str | None:  # noqa: ANN001
    """After the host's chat: close the history once the server thread no longer uses it, and
    say what it keeps now and how to read it (the host's last words; None: --no-history). The
    start line's count ("history: 88.0 KiB, 0 messages") was the last said of it: still on the
    terminal after /q, it read as if the lesson had not been kept."""
    if store is None or not server.stopped.wait(5):
        return None
    import sqlite3

    from ..history import HistoryWriteError

    try:
        count = store.holdings()[1]
    except (sqlite3.Error, HistoryWriteError):
        count = None
    store.close()
    if count == 0:
        return f"the history keeps no messages yet ({store.path})"
    kept = "the history is kept" if count is None else f"the history keeps {count:,} message{'' if count == 1 else 's'}"
    return f"{kept}; to read {'them' if count is not None and count > 1 else 'it'}:\n  {read_with}"  # (a line of its own, to copy, as the start's join line)


def _history_command(start: _Start) -> str:
    """How to read this room's history once it has stopped, as `lanchat history --help` takes
    it: the file given, or the room's default one by its port or AF_UNIX path."""
    from ..transport import DEFAULT_PORT

    args = start.args
    if args.history:
        return f"python -m lanchat history {shell_word(args.history)}"
    if args.unix:
        return f"python -m lanchat history --unix {shell_word(args.unix)}"
    command = "python -m lanchat history"  # (to copy, as the start lines' `python -m lanchat connect`)
    return command if start.port == DEFAULT_PORT else f"{command} --port {start.port}"


def _headless_log(text: str) -> None:
    """A headless server's log line, ``[12:00:01] ...``: at a terminal (the Pi on the projector)
    folded under its text; to a pipe or a file one line each, for grep. Its first line, and the
    first of each new day, come after a day line, ``-- Monday 2026-12-07 --`` (log_output.py,
    write_dated: one per day, whichever thread logs first): a school server's log runs for
    weeks, and a ban at ``[10:02:11]`` was said on no day in particular."""
    from ..log_output import LOG

    columns = terminal_columns()

    def stamped(now: _time.struct_time) -> str:
        line = f"[{_time.strftime('%H:%M:%S', now)}] {visible(text)}"
        return "\n".join([line] if columns is None else fold_line(line, columns, " " * 11))

    LOG.write_dated(stamped)


def _log_out(text: str) -> None:
    """``serve``'s banner and a headless server's log, on stdout (log_output.py): a reader gone
    or a full disk never ends the room; lines a full disk refused are counted where it takes
    lines again."""
    from ..log_output import LOG

    LOG.write(text)
