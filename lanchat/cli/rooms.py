"""rooms.py: `lanchat rooms`, `doctor`, `names`, `key` and `forget`.

The rooms announced on the local network, what is in the way of joining, the names a room
keeps, and this person's identity key.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from ..textsafe import quoted, visible
from .history_file import entries, kept_history
from .terminal import (
    PROG,
    PromptCancelled,
    cancelled,
    fail,
    print_out,
    say,
    terminal_columns,
    terminal_safe,
    writes_utf8,
)


def room_said(room: str) -> str:
    """A room's name in quotes, as it was typed and is listed: repr() wrote a backslash twice
    (--room 'ann\\bob' was "announcing 'ann\\\\bob'"). A room name holds no control character
    (discovery.room_name_problem); a typed one that does is quoted with its escapes."""
    quote = next((mark for mark in "'\"" if mark not in room), None)
    return f"{quote}{room}{quote}" if quote and visible(room) == room else quoted(room)


NO_ROOM_HELP = """\
  ask the host for the address their screen shows, then:
  lanchat connect ADDRESS PORT (for example: lanchat connect 192.168.1.20 3580)
  (a room on another network, the class next door behind a router, is never
  announced here: its address still joins it)
  run `lanchat doctor` to see what is in the way (Wi-Fi that isolates devices
  hides every room)"""  # lines that fit 80 columns: the terminal cut words anywhere


def find_rooms(seconds: float, stopped: str = "not joining"):  # noqa: ANN202
    """Rooms on the local network, or an exit code after saying why none could be looked for;
    Ctrl-C while it looks: "interrupted: ``stopped``", 130, as at the prompts that follow it
    (it ended in a bare ^C)."""
    from ..discovery import DiscoveryError, browse
    from ..netinfo import local_networks

    try:
        return browse(seconds, local_networks())
    except DiscoveryError as exc:
        return fail(f"cannot look for rooms on the local network: {exc}\n{NO_ROOM_HELP}")
    except KeyboardInterrupt:
        print()
        return cancelled(PromptCancelled(interrupted=True), stopped)


class RoomSearch:
    """The rooms on the local network, looked for in a thread of its own while a name typed
    (`connect Friends`, `doctor Friends`) is looked up and the name server is slow
    (lookup.look_up's ``while_slow``): on a LAN whose name server never answers (a LAN party, a
    router's DNS forwarder timing out) the room of that name, answering within 2 s, waited 10 s
    for the name server to give up. ``found`` is set when a room is called ``typed`` (on
    ``port``, if given). The thread is a daemon that ends by itself (browse is bounded and closes
    its zeroconf); Ctrl-C is the main thread's."""

    def __init__(self, typed: str, port: int | None = None) -> None:
        self.typed, self.port = typed, port
        self.finished = threading.Event()
        self._rooms: list | None = None
        self._started = False

    def start(self, found: threading.Event) -> str:
        from ..stopsignals import start_thread

        self._started = True
        start_thread(lambda: self._run(found), "lanchat-room-search")
        return "looking for a room of that name on the local network meanwhile"

    def _run(self, found: threading.Event) -> None:
        from ..discovery import BROWSE_SECONDS, browse, rooms_called
        from ..netinfo import local_networks

        try:
            self._rooms = browse(BROWSE_SECONDS, local_networks())
        except Exception:  # noqa: BLE001 - DiscoveryError, or zeroconf's own: find_rooms, asked again, says why
            self._rooms = None
        finally:
            self.finished.set()
        if self._rooms and rooms_called(self._rooms, self.typed, self.port):
            found.set()

    def rooms(self) -> list | None:
        """The rooms found, once the search has ended (bounded: browse's own bound and a margin);
        None if it never started, could not look, or has not ended."""
        from ..discovery import BROWSE_SECONDS

        if not self._started or not self.finished.wait(3 * BROWSE_SECONDS + 5.0):
            return None
        return self._rooms


def cmd_rooms(args: argparse.Namespace) -> int:
    import json

    rooms = find_rooms(args.wait, "no rooms listed")
    if isinstance(rooms, int):
        return rooms
    if args.json:
        print_out(json.dumps([
            {"room": r.name, "host": r.host, "address": r.address, "addresses": list(r.addresses), "port": r.port,
             "mode": r.mode, "password": r.password, "fingerprint": r.fingerprint}
            for r in rooms
        ], ensure_ascii=not writes_utf8(sys.stdout)))
        return 0 if rooms else 1
    if not rooms:
        return fail(f"no lanchat room found on the local network within {args.wait:g} s\n{NO_ROOM_HELP}")
    print_out(f"{len(rooms)} room{'s' if len(rooms) > 1 else ''} on the local network:")
    for number, room in enumerate(rooms, 1):
        host, port = room.address, room.port
        say(f"  {number}. {room.describe()}{room_warning(room)}\n       join with: lanchat connect {host} {port}", sys.stdout)
    return 0


def trusted_by_name(rooms: list, typed: str, pin: str | None = None) -> list:
    """Those of ``rooms`` (all called ``typed``) announcing ``pin`` (--fingerprint, checked
    already), else the TLS fingerprints trusted for that name (tls.KnownRooms); none if none
    does, or the file cannot be read (connect says why)."""
    from ..tls import KNOWN_SERVERS_NAME, KnownServers, TlsError, default_folder, normalise_fingerprint

    try:  # a name may hold several (two teachers' rooms of one name): those announcing any of them
        trusted = [normalise_fingerprint(pin)] if pin else KnownServers(default_folder() / KNOWN_SERVERS_NAME).rooms.trusted(typed)
    except TlsError:
        return []
    return [room for room in rooms if room.fingerprint is not None and room.fingerprint in trusted]


def room_warning(room) -> str:  # noqa: ANN001 - a discovery.RoomInfo
    """A line to show under a room listed, when it announces a TLS fingerprint other than the
    one trusted for its name or address (tls.announced_doubt): `connect` refuses it; a calmer
    one when the address held a room of another name (tls.address_passed_on); else ""."""
    from ..tls import KNOWN_SERVERS_NAME, KnownServers, address_passed_on, announced_doubt, default_folder

    known = KnownServers(default_folder() / KNOWN_SERVERS_NAME)
    doubt = announced_doubt(known, room.name, room.where, room.fingerprint)
    if doubt:
        return f"\n       WARNING: {doubt} (`lanchat connect` refuses it)"
    passed_on = address_passed_on(known, room.name, room.where, room.fingerprint)
    return f"\n       note: {passed_on} (`lanchat connect` asks for its --fingerprint)" if passed_on else ""


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from ..addresses import DEFAULT_PORT, AddressProblem, Target, connect_target, may_be_a_room_name, meant_command
    from ..discovery import looks_like_a_room_name
    from ..doctor import as_json, as_text, judge_mistyped, run_checks

    room = hint = ""
    try:
        from ..netinfo import interface_names

        interfaces = tuple(sorted(interface_names()))
        target = connect_target(args.host, args.port_arg, args.port, interfaces=interfaces) if args.host else None
    except AddressProblem as exc:
        meant = meant_command(exc, "doctor")
        said = str(exc).replace("`lanchat connect ", "`lanchat doctor ") + (f"\n  did you mean: {meant}" if meant else "")
        if meant and may_be_a_room_name(exc, args.host):  # "team@lab": a room's name first, as connect looks for it
            hint = said.replace("\n ", ";")
        elif not looks_like_a_room_name(args.host):  # (its example is connect's: the doctor takes the same words)
            return fail(said, 2)
        # "ann's room", as connect takes it: the server check looks for a room of that name (judge_room_name)
        try:  # its ports by connect's rules: port 0 (it said "checking port 3580"), or two that differ, refused
            ports = connect_target(None, args.port_arg, args.port)
        except AddressProblem as problem:
            return fail(str(problem), 2)
        target = Target(" ".join(args.host.split()), ports.port if ports else DEFAULT_PORT, port_given=ports is not None)
        room = f" and a room called {room_said(target.host)}"
    if args.host is None and args.port_arg is not None:
        return fail("give the server's address before its port, e.g. lanchat doctor 192.168.1.20 3580", 2)
    port = target.port if target else (args.port if args.port is not None else DEFAULT_PORT)
    if port == 0:
        return fail("port 0 cannot be checked: give the port `lanchat serve` uses", 2)
    checks = run_checks(port=port, target=target, browse_seconds=args.wait)
    if hint:  # no room of that name seen: what it was likely meant as, the last word (connect's)
        checks = judge_mistyped(checks, hint)
    if args.json:
        print_out(json.dumps(as_json(checks), ensure_ascii=not writes_utf8(sys.stdout), indent=2))
    else:
        say(f"{PROG} doctor: checking port {port}" + (room or (f" and the server at {target}" if target else "")), sys.stdout)
        print_out(terminal_safe(as_text(checks, terminal_columns())))  # (it names folders: the user's bytes)
    return 1 if any(c.status == "fail" for c in checks) else 0


def cmd_names(args: argparse.Namespace) -> int:
    """List or release owned names in a history file (the server should be stopped)."""
    from ..history import HistoryBusy, HistoryStore, HistoryUnusable, HistoryWriteError
    from ..identity import short_fingerprint

    if args.action == "release" and not args.name:
        return fail("names release needs the NAME to release", 2)
    path, missing = kept_history(args.path, args, " (no names are owned there)")
    if missing is not None:
        return missing
    try:
        store = HistoryStore(path, create=args.action == "release")  # list never changes the file
    except HistoryBusy:  # (its own message is advice for a second `serve`)
        return fail(f"a lanchat server is using {path}: stop it first (/q in its window, Ctrl-C for a --headless one), "
                     f"or have its host type /release {visible(args.name)} in the chat (a --headless room has none)")
    except HistoryUnusable as exc:
        return fail(str(exc))
    try:
        if args.action == "list":
            from ..textfold import cells

            owned = [(visible(name), short_fingerprint(key)) for name, key in store.owner_names()]
            width = max((cells(name) for name, _key in owned), default=0)  # the keys in one column, to read down
            for name, key in owned:
                print_out(f"{name}{' ' * (width - cells(name))}  {key}")
            if store.skipped:  # as `lanchat history` says it (history_rows.py)
                say(f"{PROG}: left out {entries(store.skipped)} of {path}: not as lanchat writes them")
            return 0
        if not store.writable:
            return fail(f"cannot change {path}: {store.readonly_reason}")
        from ..identity import owned_name_key
        from ..moderation import key_id

        owner = store.owners().get(owned_name_key(args.name))
        try:
            changed = store.claim(args.name, None)
            if changed and owner is not None:  # its key, maybe in other hands, runs the room no more (/release alike)
                store.drop_operator(key_id(owner))  # type: ignore[arg-type]
        except HistoryWriteError as exc:
            return fail(f"cannot change {path}: {exc} (is the server still running?)")
        if not changed:
            say(f"{PROG}: nobody owns {visible(args.name)!r} in {path}; nothing to do", sys.stdout)
            return 0
        say(f"{PROG}: released {visible(args.name)!r}: the next key to join with it owns it", sys.stdout)
        return 0
    finally:
        store.close()


def cmd_key(args: argparse.Namespace) -> int:
    """``lanchat key``: the fingerprint of the user's identity key, as /whois shows it."""
    from ..identity import fingerprint, public_bytes, short_fingerprint

    key = load_identity(args)
    if key is None:
        return 1
    public = public_bytes(key)
    short = short_fingerprint(public)
    say(f"your identity key's fingerprint: {short} (as /whois shows it)\n  in full: {fingerprint(public)}\n"
         f"  to be the operator of a room: lanchat serve --operator {short.replace(' ', '')}", sys.stdout)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """``lanchat forget HOST[:PORT]`` or ``lanchat forget NAME``: the TLS fingerprints remembered
    for that address (and the same machine named otherwise) taken out of known_servers
    (tls.KnownServers.forget), and for the room of that name out of known_rooms (tls.KnownRooms:
    a single word may be either), then every line holding a certificate so forgotten, said one by
    one; a room there, or of that name, is then joined as one never met (a plain one in the
    clear). Nothing remembered is said, and is no error."""
    from ..addresses import AddressProblem, connect_target, may_be_a_room_name, meant_command
    from ..discovery import looks_like_a_room_name
    from ..tls import KNOWN_SERVERS_NAME, KnownServers, TlsError, default_folder, forget_command, same_machine
    from ..transport import Endpoint

    try:
        target, problem = connect_target(args.host, args.port_arg, None), None
    except AddressProblem as exc:  # "maths 3B": no address; maybe a room's name
        target, problem = None, exc
    known = KnownServers(default_folder() / KNOWN_SERVERS_NAME)

    def waiting() -> None:
        say(f"{PROG}: waiting for another lanchat (one stopped with Ctrl-Z? fg it)...", sys.stdout)

    where = Endpoint(host=target.host, port=target.port).describe() if target is not None else ""
    rooms: list[str] = []
    places: list[str] = []
    held: tuple[list[str], list[str]] = ([], [])
    try:
        rooms += known.rooms.forget(args.host, waiting=waiting) if args.port_arg is None else []
        if target is not None:  # and the same machine remembered by another name (localhost, 127.0.0.1)
            others = same_machine(target.host, known.hosts(target.port if target.port_given else None))
            places += known.forget(where, every_port=not target.port_given, hosts=others, waiting=waiting)
        # the certificates forgotten, wherever else they were trusted: the host made a new one, so a
        # room's name and its address are forgotten at once (else the next connect refused it again).
        # Not the names of a room's sister rooms: one teacher's rooms share one certificate, and
        # `forget maths` is about maths (as `ssh-keygen -R` is about one host); they are said instead
        by_name = {line.split()[0] for line in rooms}
        by_place = {line.split()[-1] for line in places}
        held[0].extend(known.rooms.forget_holding(by_place, waiting=waiting))
        held[1].extend(known.forget_holding(by_name | by_place, waiting=waiting))
        sisters = _each_room_once(known.rooms.names_holding(by_name))
    except TlsError as exc:  # one file could not be changed: what the other lost is said all the same
        _say_forgotten(known, rooms, places, target.host if target is not None else "")
        _say_forgotten(known, *held, "", also=", the same certificate")
        return fail(str(exc))
    if target is None and not rooms and not looks_like_a_room_name(args.host):  # no room remembered as typed: a mistyped address
        assert problem is not None  # (target is None)
        meant, said = meant_command(problem, "forget"), str(problem)
        if args.port_arg is None and may_be_a_room_name(problem, args.host):  # team@lab may be a room's (with a PORT: none read)
            said += f", and no room called {room_said(args.host)} is remembered in {known.rooms.path}"
        return fail(f"{said}\n  did you mean: {meant}" if meant else said, 2)
    if not rooms and not places:
        shown = f"a room called {quoted(args.host)} in {known.rooms.path}" if target is None else (
            f"{where if target.port_given else where.rpartition(':')[0] + ' (any port)'} in {known.path}")
        say(f"{PROG}: no TLS fingerprint is remembered for {shown}; nothing to forget", sys.stdout)
    _say_forgotten(known, rooms, places, target.host if target is not None else "")
    _say_forgotten(known, *held, "", also=", the same certificate")
    if sisters:  # after what was forgotten: what was not
        say(f"{PROG}: still trusted by their names, with the same certificate (the same host's rooms): "
             f"{', '.join(map(quoted, sisters))}; if their host made a new certificate, forget each too "
             f"({' '.join(forget_command(name) for name in sisters)})", sys.stdout)
    return 0


def _each_room_once(names: list[str]) -> list[str]:
    """``names`` of rooms (known_rooms' lines), each room once, as first written: a room may hold
    two of the certificates `lanchat forget` forgot, even under two spellings of its name that are
    one room to connect to and to forget ("Chess", "chess": tls.KnownRooms compares them so)."""
    from ..tls import room_trust_key

    rooms: dict[str, str] = {}
    for name in names:
        rooms.setdefault(room_trust_key(name), name)
    return list(rooms.values())


def _say_forgotten(known, rooms: list[str], places: list[str], typed: str, also: str = "") -> None:  # noqa: ANN001
    """`lanchat forget`'s lines, one for each line of known_rooms (``rooms``) and of known_servers
    (``places``) taken out; ``typed``: the host typed (another one is the same machine's)."""
    for line in rooms:
        fp, _, name = line.partition(" ")
        say(f"{PROG}: forgot the TLS fingerprint {fp} remembered for the room {quoted(name)}{also} (in "
             f"{known.rooms.path}); a room of that name is now joined as one never met (one without TLS, in the clear)",
             sys.stdout)
    for line in places:
        place, _, fp = line.partition(" ")
        other = typed and place.rpartition(":")[0].strip("[]").lower() != typed.lower()
        say(f"{PROG}: forgot the TLS fingerprint {fp} remembered for {place}{also}"
             f"{f', the same machine as {typed}' if other else ''} (in {known.path}); a room "
             "there is now joined as at an address never met (one without TLS, in the clear)", sys.stdout)


def load_identity(args: argparse.Namespace):  # noqa: ANN202
    """The user's Ed25519 key (identity.py), made on first use; None after printing why not."""
    from ..identity import IdentityError, default_key_path, load_or_create_key

    path = Path(args.identity) if args.identity else default_key_path()
    try:
        key, notes = load_or_create_key(path, make_folder=not args.identity)  # a folder given is never made
    except IdentityError as exc:
        fail(str(exc))
        return None
    for note in notes:  # a student's first line ever, on an 80-column terminal: folded, not cut
        say(f"{PROG}: {note}")
    return key
