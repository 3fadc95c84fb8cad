"""connect.py: `lanchat connect`: where the room is, its TLS fingerprint, then the chat loop.

The room may be an address, a machine's name, a room's name announced on the local network,
or none (the rooms found are listed to choose from).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..textsafe import quoted, visible
from ..ui.speech import wanted
from .chat import run_participant
from .rejoin import Remembered, ServerUsesTls, connect_again, found_at, room_where
from .rooms import NO_ROOM_HELP, find_rooms, load_identity, room_said, room_warning, trusted_by_name
from .terminal import PROG, PromptCancelled, cancelled, fail, interactive, password_from_user, resolve_name, say


def cmd_connect(args: argparse.Namespace) -> int:
    from ..transport import TransportError, connect

    if args.server_owner is not None and not args.unix:  # nothing would check it: a TCP port has no owner to see
        return fail("--server-owner is checked only with --unix (who runs the server behind a socket file)", 2)
    typed = _typed_pin(args.fingerprint) if args.fingerprint is not None else None
    if isinstance(typed, int):
        return typed
    pinned = typed
    found = _where_to(args)
    if isinstance(found, int):
        return found
    sock, endpoint, announced = found
    if announced is not None:  # a TLS room's announced fingerprint is pinned (Finding rooms)
        pinned = pinned or announced.fingerprint
    try:
        asked_at = time.monotonic()
        name = resolve_name(args, "connect")
    except PromptCancelled as exc:
        if sock is not None:
            sock.close()
        return cancelled(exc)
    if sock is not None and _outwaited(sock, time.monotonic() - asked_at):  # "Your name:" asked on it, for long
        sock.close()
        sock = None  # (connected again below, as to an address typed)
    key = load_identity(args) if name is not None else None
    if name is None or key is None:
        if sock is not None:
            sock.close()
        return 2 if name is None else 1
    if sock is None:
        try:
            sock = connect(endpoint)
        except TransportError as exc:
            return _not_connected(args, endpoint, exc, announced)
    if endpoint.is_unix:
        warning = _unix_owner_warning(sock, endpoint.path, args.server_owner)
        if warning:
            say(f"{PROG}: warning: {warning}")
    tls = bool(args.tls or pinned is not None)
    try:
        return _join_room(args, sock, endpoint, name, key, pinned, tls=tls, found=announced)
    except ServerUsesTls:
        # `lanchat connect 192.168.1.20 3580` copied from the board, to a TLS room: go on over TLS,
        # its certificate trusted only as with --tls (asked at the terminal, or remembered; a changed
        # one refused). Nothing but the plain hello (a name and a public key) went out before.
        say(f"{PROG}: {endpoint.describe()} uses TLS: connecting with TLS")
        try:
            sock = connect(endpoint)
        except TransportError as exc:
            return fail(str(exc))
        return _join_room(args, sock, endpoint, name, key, None, tls=True, found=announced)


def _not_connected(args: argparse.Namespace, endpoint, exc, announced) -> int:  # noqa: ANN001 - transport's Endpoint, TransportError
    """`connect`'s last words when the connection could not be made (``announced``: the room as discovery
    found it, or None), and its exit status."""
    # the host as typed, in a command to copy: an escape in an IPv6 zone is quoted, never sent raw
    host = endpoint.host if visible(endpoint.host or "") == endpoint.host else quoted(endpoint.host or "")
    if exc.refused and not _port_given(args):  # `connect 10.0.0.5` to a room on another port
        return fail(f"{exc} No port was given, so {endpoint.port} was tried: give the one `serve` printed, "
                    f"`lanchat connect {host} PORT`")
    if endpoint.is_unix or exc.refused:  # a refusal is plain: nothing listens there (one line)
        return fail(str(exc))
    if announced is not None and exc.timed_out is not None:  # "or the machine is off", of one just heard
        return fail(_announced_but_silent(endpoint, host, exc.timed_out))
    # no answer, no route: the doctor checks what stands between here and there
    return fail(f"{exc}\n  `lanchat doctor {host} {endpoint.port}` says what is in the way")


def _announced_but_silent(endpoint, host: str, seconds: float) -> str:  # noqa: ANN001 - a transport.Endpoint
    """A room found on the network whose port then gave no answer: bob read "a firewall on the way drops
    the packets, or the machine is off" of the machine whose announcement had just come in. The cause, as
    `lanchat doctor` words it for such a room, and the doctor for each end."""
    return (f"timed out connecting to {endpoint.describe()}: no answer in {seconds:g} s, though the room was announced "
            f"from there a moment ago: its machine is on and on this network, but a firewall on it most likely drops "
            f"TCP port {endpoint.port} (or the Wi-Fi isolates devices)\n"
            f"  the host's own `lanchat doctor` names the rule; `lanchat doctor {host} {endpoint.port}` here says "
            "what is in the way")


def _typed_pin(text: str) -> str | int:
    """--fingerprint as typed: the fingerprint it names, or an exit code after saying why it names none."""
    import re

    from ..tls import normalise_fingerprint

    pinned = normalise_fingerprint(text)
    if pinned is None and re.fullmatch(r"(?:[0-9a-fA-F]{4}[\s:-]?){3}[0-9a-fA-F]{4}", text.strip()):
        return fail(  # the board's short form (tls.short_form): for the eye, not a pin
            f"--fingerprint {quoted(text)} is the short form of a fingerprint, to compare by eye: give the "
            "whole one (SHA256: and 43 characters, as the host's screen shows it), or connect without --fingerprint "
            "and compare the short form it shows with the board's", 2
        )
    if pinned is None:
        return fail(
            f"--fingerprint {quoted(text)} is not a SHA256 fingerprint (SHA256: and 43 base64 characters, "
            "capitals count): check it against the one the host printed", 2
        )
    return pinned


def _join_room(args: argparse.Namespace, sock, endpoint, name: str, key, pinned: str | None, *, tls: bool, found=None) -> int:  # noqa: ANN001
    """`connect`'s chat on ``sock``: with ``tls``, or to an address whose fingerprint is
    remembered, TLS started first and its fingerprint checked (``pinned``, else known or asked);
    without, ServerUsesTls if the server turns out to use it. ``found``: the room as discovery
    found it, if it was (a rejoin follows it from the start)."""
    binding, remembered, intro = b"", None, None
    room = found.name if found is not None else _trusted_room_typed(endpoint)  # its fingerprint is remembered by name too (tls.KnownRooms)
    if not tls and not endpoint.is_unix:
        from ..tls import remembered_as_tls

        remembered = remembered_as_tls(endpoint.describe(), room)
    if tls or remembered is not None:
        try:
            announced = pinned is not None and args.fingerprint is None  # discovery's, not typed
            hint = _tls_hint(args, pinned, remembered, endpoint.describe(), room)
            asked_at = time.monotonic()
            started = _start_tls(sock, endpoint.describe(), pinned, hint=hint, announced=announced, room=room)
        except PromptCancelled as exc:  # Ctrl-C at "Trust it and connect?" (the socket is closed)
            return cancelled(exc)
        if started is not None and _outwaited(started[0], time.monotonic() - asked_at):
            started = _afresh(started, endpoint)
        if started is None:
            return 1
        from ..tls import SHORT_LABEL, channel_binding, short_form

        (sock, pinned, note), binding = started, channel_binding(started[1])  # a rejoin insists on this certificate
        if SHORT_LABEL in note and not (args.plain or wanted(args.screen_reader, os.environ) or not interactive()):
            # a fingerprint to compare, said above the chat: the full screen, opening, hid it at once
            # (the short form first: a narrow screen folds the line's end, never the 16 digits)
            intro = ((), (f"TLS fingerprint in short {short_form(started[1])}: compare it with the host's screen",
                          f"(the whole one, as the room announced it: {started[1]})"))
    password = Remembered(lambda: password_from_user("This room needs a password: "))
    return run_participant(
        sock,
        name,
        role="client",
        where=room_where(endpoint.describe() + (" (TLS)" if binding else ""), found.name if found is not None else None),
        plain=args.plain,
        screen_reader=args.screen_reader,
        downloads=args.downloads,
        key=key,
        key_path=Path(args.identity) if args.identity else None,
        password=password,
        binding=binding,
        rejoin=None if args.no_reconnect else (endpoint, pinned, found),
        again_at=(endpoint, pinned),
        no_typing=args.no_typing,
        projector=args.projector,
        may_switch_to_tls=not binding and not endpoint.is_unix,
        intro=intro,
        found_by_name=found is not None,
    )


def _trusted_room_typed(endpoint) -> str | None:  # noqa: ANN001 - a transport.Endpoint
    """The name typed (`lanchat connect maths`) when the name server found a machine called so and
    it is also the name of a TLS room trusted before (tls.KnownRooms), else None. That machine is
    then held to the room's certificate, TLS and all, as the room announced under the name is: a
    laptop a student called "maths", which a school router's name server knows by the name its DHCP
    was told, had `connect maths` join it in the clear (or ask about its certificate as a first
    meeting), the class's own room, trusted by that name, passed over without a word."""
    import ipaddress

    host = endpoint.host
    if endpoint.is_unix or not host:
        return None
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host.partition("%")[0])
        return None  # an address typed: trusted by address (KnownServers), never a room's name
    from ..tls import KNOWN_SERVERS_NAME, KnownServers, TlsError, default_folder

    try:
        return host if KnownServers(default_folder() / KNOWN_SERVERS_NAME).rooms.lookup(host) is not None else None
    except TlsError:  # unreadable: as remembered_as_tls, a plain room is joined as before
        return None


def _port_given(args: argparse.Namespace) -> bool:
    """Did `connect` say which port (PORT, --port, HOST:PORT), or take the default?"""
    from ..addresses import connect_target

    target = None if args.unix else connect_target(args.host, args.port_arg, args.port)
    return target is None or target.port_given


def _where_to(args: argparse.Namespace):  # noqa: ANN202
    """Where `connect` goes: (a socket already open there or None, the endpoint, the room as
    discovery found it (its TLS fingerprint pinned) or None), or an exit code after saying why not."""
    from ..addresses import AddressProblem, connect_target, may_be_a_room_name, meant_command
    from ..transport import Endpoint

    if args.unix:
        if args.host is not None or args.port is not None or args.port_arg is not None:
            return fail("--unix cannot be combined with a host or port", 2)
        return None, Endpoint(path=args.unix), None
    from ..discovery import looks_like_a_room_name
    from ..netinfo import interface_names

    try:
        target = connect_target(args.host, args.port_arg, args.port, interfaces=tuple(sorted(interface_names())))
    except AddressProblem as exc:
        if looks_like_a_room_name(args.host or ""):  # "ann's room", the name `lanchat rooms` lists
            # said and ended as `connect pizza` is when no room has the name (it exited 2, a usage error's)
            return _room_called(args.host, None, f"no machine is called {quoted(' '.join(args.host.split()))}",
                                pin=args.fingerprint)
        meant = meant_command(exc, "connect", args.name or exc.name)
        if meant and may_be_a_room_name(exc, args.host):  # "team@lab": a room may be called so (it joined, until session 45)
            return _room_called(args.host, None, str(exc), exit_code=2, pin=args.fingerprint, hint=f"did you mean: {meant}")
        return fail(f"{exc}\n  did you mean: {meant}" if meant else str(exc), 2)
    if target is None:  # no address at all: this machine's server, else a room on the network
        return _connect_somewhere()
    try:
        found = _no_address(target.host, target.port, target.port if target.port_given else None)
    except KeyboardInterrupt:  # said, as Ctrl-C while the rooms are looked for is (it ended in a bare 130)
        print()
        return cancelled(PromptCancelled(interrupted=True))
    if isinstance(found, NoMachine):  # `lanchat connect friends`: no machine, maybe a room
        return _room_called(target.host, target.port if target.port_given else None, found.problem, pin=args.fingerprint,
                            said_first=found.certain, rooms=found.rooms)
    return None, Endpoint(host=target.host, port=target.port, addresses=found), None  # (connected to as found)


@dataclass(frozen=True)
class NoMachine:
    """Why a host typed is no machine found (it may be a room's name): ``problem``; ``certain``
    when the name server said so. When it could not say (not reached, no answer), the room of
    that name is looked for first and the name server is spoken of only if there is none:
    `connect Friends` on a LAN whose name server was down said "(is the network up?)" and then
    joined the room on that very network. ``rooms``: those found on the local network while the
    name server was slow (cli/rooms.RoomSearch), or None: none looked for yet."""

    problem: str
    certain: bool = True
    rooms: list | None = None


def _no_address(host: str, port: int, room_port: int | None = None) -> NoMachine | tuple[str, ...]:
    """Why ``host`` is no machine (it may be a room's name), or the addresses the resolver found
    it at, which `connect` connects (and switches to TLS) to without asking again (a rejoin, later,
    asks again: _Rejoin):
    a resolver taking 3 s made it take 6 and more. None found, ``()``, for an address (or one
    meant as one: "192.168.1.256", "192.168..1.20", which `connect` then refuses in one line).
    The look-up is bounded and said (lookup.look_up): a name server that did not answer held
    `connect NAME` 20 s and more without a word.
    A name server slow to answer (after lookup.SAY_AFTER_SECONDS) has the room called ``host``
    (on ``room_port``, if typed) looked for meanwhile: one found while the name server is still
    silent is it (the name server, which never answers on a LAN with no internet, is not waited
    for); a machine the name server names first is it, as before."""
    from ..addresses import meant_as_an_address
    from ..discovery import room_name_problem
    from ..lookup import FOUND, NOT_A_NAME, UNKNOWN, look_up
    from .rooms import RoomSearch

    if meant_as_an_address(host):  # maybe mistyped ("192.168.1.2O"): never a room's name
        return ()
    search = RoomSearch(host, room_port) if room_name_problem(host) is None else None
    found = look_up(host, port, say=lambda text: say(f"{PROG}: {text}", sys.stdout),
                    while_slow=search.start if search is not None else None)
    if found.outcome == FOUND:  # (a search started goes on in its thread, a few seconds at most, and ends itself)
        return found_at(found.addresses)
    if found.outcome == NOT_A_NAME:  # connect says so (transport.NOT_A_HOST_NAME)
        return ()
    rooms = search.rooms() if search is not None else None
    if found.outcome == UNKNOWN:
        return NoMachine(f"no machine is called {quoted(host)}", rooms=rooms)
    return NoMachine(f"{quoted(host)} {found.problem}", certain=False, rooms=rooms)  # NO_ANSWER, FAILED, ELSEWHERE


def _room_called(typed: str, port: int | None, problem: str, *, exit_code: int = 1, pin: str | None = None,  # noqa: ANN202
                 hint: str = "", said_first: bool = True, rooms: list | None = None):
    """`lanchat connect friends` (or `"ann's room"`): what was typed is no machine, so the room of
    that name announced on the local network is joined, as `connect` with no address joins one
    (its TLS fingerprint pinned). (None, endpoint, the room found), or an exit code after saying
    why not: ``problem`` (why ``typed`` is not a machine), ``hint`` (what it was likely meant as)
    and the rooms that are announced (``problem`` said first, or, not ``said_first``, only if no
    room is called so: NoMachine.certain). Of several of that name, the one announcing ``pin`` (--fingerprint), else the certificate trusted
    for the name, is it. ``rooms``: those found already (while the name server was slow), else
    they are looked for now."""
    from ..discovery import BROWSE_SECONDS, renamed_twins, rooms_called
    from ..transport import Endpoint

    named = room_said(" ".join(typed.split()))
    if said_first or rooms is None:  # (found already: "looking up" said it was looking for one)
        # (on a line of its own, as with no address at all: one line was 84 columns for "maths 3B")
        say(f"{PROG}: {problem};\n  looking for a room of that name on the local network..." if said_first
            else f"{PROG}: looking for a room called {named} on the local network...", sys.stdout)
    if rooms is None:
        rooms = find_rooms(BROWSE_SECONDS)
        if isinstance(rooms, int):
            return rooms
    called = rooms_called(rooms, typed, port)
    if len(called) == 1 and pin is None and not trusted_by_name(called, typed) and (twins := renamed_twins(rooms, typed, port)):
        room = _one_of_the_twins(named, called + twins)
        if isinstance(room, int):
            return room
        called = [room]
    if len(called) > 1 and len(trusted := trusted_by_name(called, typed, pin)) == 1:
        # anyone can announce the name too: the one holding the certificate trusted for it is the room
        say(f"{PROG}: {len(called) - 1} other room(s) called {named} announce a TLS "
             f"fingerprint other than {'--fingerprint' if pin else 'the one you trusted for it'}: not joined "
             "(someone may be pretending to be it)", sys.stdout)
        called = trusted
    if len(called) == 1:
        say(f"{PROG}: joining {called[0].name} on {called[0].where}", sys.stdout)
        return None, Endpoint(host=called[0].address, port=called[0].port), called[0]
    for number, room in enumerate(called or rooms, 1):
        say(f"  {number}. {room.describe()}{room_warning(room)}", sys.stdout)
    if called:
        return fail(f"{len(called)} rooms have that name: choose one with lanchat connect ADDRESS PORT")
    hint = f"\n  {hint}" if hint else ""
    if rooms:
        either = " either" if said_first else ""
        return fail(f"{'' if said_first else problem + ', and '}no room is called {named}{either}; join one of those above "
                    f"by its name or address{hint}", exit_code)
    return fail(f"{problem}, and no room is announced on the local network{hint}\n{NO_ROOM_HELP}", exit_code)


def _one_of_the_twins(named: str, rooms: list):  # noqa: ANN202
    """The room called ``named`` (``rooms[0]``) and those renamed from it (discovery.renamed_twins):
    which is the student's only their teacher's screen says, so at a terminal they pick, and
    without one the room of the very name is joined, the others said. A room, or an exit code."""
    say(f"{PROG}: {len(rooms)} rooms go by {named}: a room announced where one had that name already gets -2 added "
        "(its host's screen says which name to type)", sys.stdout)
    for number, room in enumerate(rooms, 1):
        say(f"  {number}. {room.describe()}{room_warning(room)}", sys.stdout)
    if not sys.stdin.isatty():
        say(f"{PROG}: joining {rooms[0].name}, the one of that very name", sys.stdout)
        return rooms[0]
    return _which_room(rooms)


def _connect_somewhere():  # noqa: ANN202
    """`lanchat connect` with no address: a server on this machine at the default port if one
    answers (as before discovery existed), else a room announced on the local network.
    (socket, endpoint, the room as announced (discovery.RoomInfo) or None), or an exit code."""
    from ..addresses import DEFAULT_PORT
    from ..transport import Endpoint, TransportError, connect

    local = Endpoint(host="127.0.0.1", port=DEFAULT_PORT)
    try:
        sock = connect(local, timeout=2.0)
    except TransportError:
        sock = None
    if sock is not None:
        say(f"{PROG}: no address given: joining the server on this machine, {local.describe()}", sys.stdout)
        return sock, local, None
    room = _choose_room()
    if isinstance(room, int):
        return room
    endpoint = Endpoint(host=room.address, port=room.port)
    try:
        sock = connect(endpoint)
    except TransportError as exc:
        return fail(f"{exc}\n  the room was announced, but it cannot be reached from here:\n{NO_ROOM_HELP}")
    return sock, endpoint, room


def _unix_owner_warning(sock, path: str, expected: str | None) -> str | None:  # noqa: ANN001
    """A squatted AF_UNIX path (another user's program listening where the class's server
    should be) reads everything typed into it: say so when the server's owner, as the kernel
    reports it (SO_PEERCRED), is not the expected user (``--server-owner``, default: us)."""
    import os
    import pwd

    from ..transport import peer_uid

    uid = peer_uid(sock)
    if uid is None:  # macOS and the BSDs: Python cannot ask them (SO_PEERCRED is Linux's)
        return None if expected is None else f"this system does not say who runs the server at {path}: --server-owner was not checked"
    if expected is None:
        wanted = os.getuid()
    elif expected.isdecimal() and len(expected) <= 10:  # isdigit() lets "²" through to int()
        wanted = int(expected)
    else:
        try:
            wanted = pwd.getpwnam(expected).pw_uid
        except KeyError:
            return f"there is no user called {quoted(expected)}; the server at {path} is run by {_user_name(uid)}"
    if uid == wanted:
        return None
    return (
        f"the server at {path} is run by {_user_name(uid)}, not by {_user_name(wanted)}: "
        "anything you type goes to their program"
    )


def _user_name(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _tls_hint(args: argparse.Namespace, pinned: str | None, remembered: Path | None = None, where: str = "",
              room: str | None = None) -> str:
    """What to try when the TLS handshake fails, for why this connection used TLS: the student
    who never typed --tls must not be told to leave it out."""
    from ..tls import NOT_TLS_HINT, remembered_hint

    if remembered is not None:
        return remembered_hint(where, remembered, room)
    if args.tls:
        return NOT_TLS_HINT
    if args.fingerprint is not None:
        return "is it a lanchat server started without --tls? Then connect without --fingerprint"
    if pinned is not None:
        return "it was announced on the local network as a TLS room; is it still running? Try `lanchat connect` again"
    return "it had just answered that it uses TLS; try `lanchat connect` again in a moment"


# The server closes a connection not joined within limits.HELLO_SECONDS of connecting (PROTOCOL.md
# 4): one that sat at "Trust it and connect?" or "Your name:" this near it is replaced before its hello is sent
HELLO_MARGIN_SECONDS = 3.0


def _outwaited(sock, waited: float) -> bool:  # noqa: ANN001 - a socket, or TLS's
    """Did the connection sit too long at a question (``waited`` s) for its hello to come in time?
    A student comparing the fingerprint with the board, or asking the teacher, took more than 20 s
    and was turned away with "no hello within 20 s" once they said yes; so was one slow to type
    their name at `lanchat connect` with no address (asked on the connection to the room found).
    So: the server has written to it (its hello-first error, its close), or the wait came near
    the server's time."""
    import select

    from ..limits import HELLO_SECONDS

    if waited >= HELLO_SECONDS - HELLO_MARGIN_SECONDS or getattr(sock, "pending", lambda: 0)():  # (the room's bytes, decrypted)
        return True
    try:
        if not select.select([sock], [], [], 0)[0]:
            return False
    except (OSError, ValueError):
        return True
    return _room_wrote(sock) if hasattr(sock, "pending") else True  # plain: a byte, or its end, before our hello


def _room_wrote(sock) -> bool:  # noqa: ANN001 - a TLS socket that select() found readable
    """Did the room write to this TLS connection (its error, its close) before our hello? Readable
    alone does not say: a TLS 1.3 server sends its session tickets after the handshake, TLS's own
    records, and every connection was replaced. One read without waiting: what the room said is
    not needed, the connection is replaced if it said anything."""
    import ssl

    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        sock.recv(1)
        return True  # its error, or b"": its close
    except (ssl.SSLWantReadError, BlockingIOError):
        return False  # TLS's records only: nothing from the room
    except (OSError, ValueError):
        return True
    finally:
        with contextlib.suppress(OSError, ValueError):
            sock.settimeout(timeout)


def _afresh(started, endpoint):  # noqa: ANN001, ANN202 - _start_tls's (socket, fingerprint, note); None after saying why
    """_start_tls's answer on a new connection to ``endpoint``, pinned to the fingerprint just
    trusted (nothing asked again): the first sat at the question too long (_outwaited)."""
    sock, fingerprint, note = started
    sock.close()
    again = connect_again(endpoint, fingerprint)
    return None if again is None else (again, fingerprint, note)


def _start_tls(sock, where: str, pinned: str | None, *, hint: str | None = None, announced: bool = False,  # noqa: ANN001, ANN202
               room: str | None = None):
    """TLS on a connected socket, trusted by fingerprint (tls.py), and by the name ``room`` was
    found by, if it was; None after saying why not."""
    from ..tls import (
        KNOWN_SERVERS_NAME,
        NOT_TLS_HINT,
        KnownServers,
        TlsError,
        check_fingerprint,
        client_handshake,
        default_folder,
        with_short_form,
    )

    def ask(fingerprint: str) -> bool:
        from ..askpass import ask_line

        say(f"{where} is a TLS server not seen before. Its fingerprint is\n{with_short_form(fingerprint)}", sys.stdout)
        say("Compare it with the one the host shows (`lanchat serve --tls`; the short form is enough).", sys.stdout)
        try:
            return ask_line("Trust it and connect? [y/N] ").strip().lower() in ("y", "yes")
        except EOFError:  # Ctrl-D: the N of [y/N]
            print()
            return False
        except KeyboardInterrupt:  # Ctrl-C: stopping, as at every other prompt (130, "interrupted")
            print()
            raise PromptCancelled(interrupted=True) from None

    try:
        tls_sock, fingerprint = client_handshake(sock, where, hint=hint or NOT_TLS_HINT)
    except TlsError as exc:
        fail(str(exc))
        return None
    try:
        note = check_fingerprint(
            where,
            fingerprint,
            known=KnownServers(default_folder() / KNOWN_SERVERS_NAME),
            pinned=pinned,
            ask=ask if interactive() else None,
            announced=announced,
            room=room,
        )
    except TlsError as exc:
        tls_sock.close()
        fail(str(exc))
        return None
    except PromptCancelled:
        tls_sock.close()
        raise
    say(f"{PROG}: {note}")
    return tls_sock, fingerprint, note


def _choose_room():  # noqa: ANN202
    """Browse, then: one room -> ask to join it; several -> a numbered list to pick from; none -> help.

    Without a terminal to ask at, one room is joined and several are listed for the person to choose."""
    from ..discovery import BROWSE_SECONDS

    say(f"{PROG}: no address given and no server on this machine;\n  looking for rooms on the local network...", sys.stdout)
    rooms = find_rooms(BROWSE_SECONDS)
    if isinstance(rooms, int):
        return rooms
    if not rooms:
        return fail(f"no lanchat room found on the local network within {BROWSE_SECONDS:g} s\n{NO_ROOM_HELP}")
    from ..askpass import ask_line

    ask = sys.stdin.isatty()
    if len(rooms) == 1:
        room = rooms[0]
        if not ask:
            say(f"{PROG}: joining {room.name} on {room.where}", sys.stdout)
            return room
        code = 0  # n typed: what was asked for
        if warning := room_warning(room):
            say(f"  {room.describe()}{warning}", sys.stdout)
        try:
            answer = ask_line(f"join {room.name} on {room.where}? [Y/n] ").strip().lower()
        except KeyboardInterrupt:  # as at every prompt: "interrupted", 130
            print()
            return cancelled(PromptCancelled(interrupted=True))
        except EOFError:  # Ctrl-D: the n, as at "Trust it and connect? [y/N]"; 1, as at every prompt (cancelled)
            print()
            answer, code = "n", 1
        if answer in ("", "y", "yes"):
            return room
        say(f"{PROG}: not joining; `lanchat connect ADDRESS PORT` joins another room", sys.stdout)
        return code
    print(f"{len(rooms)} rooms on the local network:")
    for number, room in enumerate(rooms, 1):
        say(f"  {number}. {room.describe()}{room_warning(room)}", sys.stdout)
    if not ask:
        return fail("several rooms: choose one with lanchat connect ADDRESS PORT", 1)
    return _which_room(rooms)


def _which_room(rooms: list):  # noqa: ANN202
    """The room picked by its number from ``rooms``, listed above; an exit code for none."""
    from ..askpass import ask_line

    while True:
        try:
            answer = ask_line(f"join which room? [1-{len(rooms)}, Enter for none] ").strip()
        except KeyboardInterrupt:
            print()
            return cancelled(PromptCancelled(interrupted=True))
        except EOFError:  # Ctrl-D: none; 1, as at every prompt (cancelled), where Enter for none is 0
            print()
            say(f"{PROG}: not joining", sys.stdout)
            return 1
        if not answer or answer.lower() in ("q", "n", "none"):
            say(f"{PROG}: not joining", sys.stdout)
            return 0
        if answer.isdecimal() and len(answer) <= 6 and 1 <= int(answer) <= len(rooms):  # isdigit() lets "²" through to int()
            return rooms[int(answer) - 1]
        say(f"  type a number from 1 to {len(rooms)}, or press Enter to join none", sys.stdout)
