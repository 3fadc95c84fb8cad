"""tls.py: TLS for lanchat, trusted the way SSH trusts hosts. No chat logic here.

The server makes a self-signed certificate on its first ``serve --tls`` and prints its SHA-256
fingerprint (the teacher writes it on the board). A client checks that fingerprint itself, not a
certificate authority: pinned with ``--fingerprint``, or remembered in a known-servers file the first
time the user says yes (trust on first use), and a changed one is refused loudly. The fingerprint
is SHA-256 of the certificate's DER bytes, written ``SHA256:`` and unpadded base64, as ssh does.

The pure helpers (fingerprints, recognising TLS bytes, the known-servers rule) take no socket; the
edges (making the certificate, the client's handshake) are small and say what went wrong in one line.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl  # at run time only where TLS is used: a plain server never loads OpenSSL's libssl

from .protocol import TLS_RECORD_TYPES, encode, looks_like_tls  # noqa: F401 - the rule lives with the framing

# The server's side of a connection, in a module of its own: a plain server reads and sends
# through it without loading this one (an idle server's memory: bench/idle_memory.py).
from .tls_server import (  # noqa: F401 - named here too, as tls.X
    DOCTORS_QUESTIONS,
    HANDSHAKE_SECONDS,
    PLAIN_CLIENT_MESSAGE,
    TEXT_CLIENT_LINE,
    TLS_SEND_BYTES,
    TlsAcceptor,
    TlsHandshakes,
    TlsSender,
    is_tls,
    tls_recv,
)

CERT_NAME = "tls-cert.pem"
KEY_NAME = "tls-key.pem"
KNOWN_SERVERS_NAME = "known_servers"
KNOWN_ROOMS_NAME = "known_rooms"  # beside it: the fingerprint trusted for each room's announced name
LOCK_NAME = ".tls.lock"  # held while the pair is checked and made (ensure_certificate)
LOCK_SECONDS = 30.0  # waited for another start making the pair before saying so
SAY_WAITING_SECONDS = 1.0  # `lanchat forget` says it waits for the lock after this


class TlsError(Exception):
    """A TLS problem worth one clear line (or a few, for a changed fingerprint) to the user."""


class FolderBusy(TlsError):
    """Another lanchat held the data folder's lock (_folder_lock) for LOCK_SECONDS: each caller
    says it for what it was doing (a certificate made, a fingerprint saved or forgotten)."""

    def __init__(self, lock: Path) -> None:
        super().__init__(f"another lanchat has held its lock, {lock}, for {LOCK_SECONDS:g} s")


# ------------------------------------------------------------------ pure helpers


def fingerprint(der: bytes) -> str:
    """``SHA256:`` and the unpadded base64 of the SHA-256 of a certificate's DER bytes."""
    import hashlib  # only with --tls: a plain server never needs it (bench/idle_memory.py)

    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode("ascii").rstrip("=")


def channel_binding(fp: str) -> bytes:
    """The 32 bytes a fingerprint spells: what signatures and password proofs cover on a TLS
    connection (identity.sign_challenge), so an answer is good for this server only."""
    value = fp[7:] if fp.startswith("SHA256:") else fp
    return base64.b64decode(value + "=" * (-len(value) % 4))


def short_form(fp: str) -> str:
    """A fingerprint's first 64 bits as 16 hex digits in four groups, ``80a5 ce41 0942 0956``: what
    the teacher writes on the board and a student's first join shows to compare at a glance (the
    whole ``SHA256:`` one is 43 characters of mixed case; a certificate with the same 64 bits is
    out of a classroom's reach). Hex in groups of four, as /whois shows a key (identity.short_fingerprint)."""
    try:  # (a known_servers line edited by hand may hold anything: shown, never a traceback)
        digits = channel_binding(fp)[:8].hex()
    except ValueError:
        digits = ""
    if len(digits) < 16:
        return "(none: not a SHA256 fingerprint)"
    return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


SHORT_LABEL = "in short: "  # before a short form shown to compare (with_short_form)


def with_short_form(fp: str) -> str:
    """``fp`` and, on the line below it, its short form (short_form), both indented: how a
    fingerprint to compare is shown."""
    return f"  {fp}\n  {SHORT_LABEL}{short_form(fp)}"


def normalise_fingerprint(text: str) -> str | None:
    """A fingerprint typed by a person (``SHA256:...``, or just the base64), or None if it is not one."""
    value = text.strip()
    if value[:7].upper() == "SHA256:":
        value = value[7:]
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except ValueError:
        return None
    if len(raw) != 32:
        return None
    canonical = base64.b64encode(raw).decode("ascii").rstrip("=")
    # The 43rd character carries 4 bits and 2 spare ones, which a server's fingerprint leaves at 0:
    # with them set it is a typo (an m for the M on the board), which would otherwise decode as
    # another last character and be quoted back as one the person never typed.
    return "SHA256:" + canonical if canonical == value.rstrip("=") else None


def changed_message(where: str, known: str, got: str, known_file: Path) -> str:
    """The loud refusal when a server's fingerprint is not the one remembered for it."""
    return (
        f"WARNING: the TLS fingerprint of {where} has CHANGED.\n"
        f"  remembered: {short_form(known)}, {known}\n"
        f"  presented:  {short_form(got)}, {got}\n"
        "  Someone may be pretending to be the server, or the host made a new certificate.\n"
        f"  Tell by the host's screen (`lanchat serve --tls` shows it): is its short form {short_form(got)}? If it "
        f"is, forget the old one ({known_file}) with {forget_command(where)}, or connect with --fingerprint {got}."
    )


def address_passed_on_message(where: str, known: str, got: str, was: str, room: str) -> str:
    """The refusal when the room found by its name ``room`` at ``where`` presents a certificate
    other than the one remembered there, which is trusted for the room ``was`` only (other_rooms_at):
    addresses are handed around between lessons, so it is most likely another teacher's room, not
    someone pretending to be ``was`` (that room, announced anywhere, is still held to its certificate).
    Refused all the same: a name is only announced, and the board tells."""
    from .textsafe import quoted

    return (
        f"{where} is the room {quoted(room)} now, with a certificate you have not trusted; you trusted another "
        f"one at this address, for the room {quoted(was)}.\n"
        f"  remembered: {short_form(known)}, {known} (the room {quoted(was)})\n"
        f"  presented:  {short_form(got)}, {got} (the room {quoted(room)})\n"
        "  Addresses are handed around between lessons, so another teacher's room most likely has this one now "
        "(yet anyone on the network can announce a room's name).\n"
        f"  Tell by the board: is the short form of {quoted(room)} {short_form(got)}? If not, do not join.\n"
        f"  If it is, connect with --fingerprint {got}: this address is then the new room's, and {quoted(was)} "
        "stays trusted by its name, wherever it is."
    )


def room_changed_message(room: str, where: str, known: Iterable[str], got: str, known_file: Path) -> str:
    """The loud refusal when a room found by its name presents a certificate other than those
    remembered for that name (``known``, each on a line: two teachers' rooms of the name, met
    before; as changed_message, for an address). Their short forms, to tell by the board which
    it is: anyone may announce a name, and two teachers may both use one."""
    from .textsafe import quoted

    return (
        f"WARNING: the TLS fingerprint of the room {quoted(room)} has CHANGED.\n"
        + "".join(f"  remembered: {short_form(fp)}, {fp}\n" for fp in known)
        + f"  presented:  {short_form(got)}, {got} (at {where})\n"
        "  Anyone on the network can announce a room of that name: another teacher's room may have it, someone "
        "may be pretending to be the room, or its host made a new certificate.\n"
        f"  Tell by the board: is its short form {short_form(got)}? If not, do not join.\n"
        f"  If it is, connect with --fingerprint {got} (the room you trusted before keeps its trust too); if its "
        f"host made a new certificate, you may also forget the old one ({known_file}) with {forget_command(room)}."
    )


def forget_command(where: str) -> str:
    """The command that forgets what is remembered for ``where`` (`lanchat forget`, as ssh names
    `ssh-keygen -R`), backquoted, ``where`` one word as a shell reads it (an IPv6 address's brackets
    are a pattern) and as a person reads it: a room's name "ann's room" (textfold.shell_word)."""
    from .textfold import shell_word

    return f"`lanchat forget {shell_word(where)}`"


# ------------------------------------------------------------------ the known-servers file


class _LineFile:
    """A file of one-line records in the user's data folder, read whole and changed under the data
    folder's lock (``_rewrite``); ``what`` names it in what is said when it cannot be read."""

    what = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _write(self, drop: Callable[[str], bool], line: str, *, unless: Callable[[str], bool] | None = None) -> str | None:
        """``line`` put in place of those ``drop`` names (nothing written if a line ``unless`` names
        is there, read under the lock). None, or why it could not be written (a full disk, a
        read-only data folder): the file is then as it was, and no temporary file is left beside it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._rewrite(drop, line, unless=unless)
        except OSError as exc:
            return f"could not remember it in {self.path} ({(exc.strerror or str(exc)).lower()})"
        except FolderBusy as exc:  # only a fingerprint not saved: the connection goes on (check_fingerprint)
            return f"could not remember it in {self.path} ({exc})"
        return None

    def _drop(self, drop: Callable[[str], bool], waiting: Callable[[], None] | None) -> list[str]:
        """The lines ``drop`` names taken out (TlsError if the file could not be read or changed:
        it is then as it was). With nothing to take out, the lock is not waited for."""
        try:
            if not any(drop(line) for line in self._lines()):  # (read unlocked: a rename puts it in place whole)
                return []
            return self._rewrite(drop, waiting=waiting)
        except (OSError, FolderBusy) as exc:
            raise TlsError(f"cannot change {self.path}: {getattr(exc, 'strerror', None) or exc}") from None

    def _rewrite(self, drop: Callable[[str], bool], add: str | None = None, *, waiting: Callable[[], None] | None = None,
                 unless: Callable[[str], bool] | None = None) -> list[str]:
        """Under the data folder's lock: the lines ``drop`` names taken out, ``add``
        put last, written to a temporary file of this process's own and renamed into place
        (nothing written when nothing changes, or a line ``unless`` names is there). Returns
        the lines taken out; OSError, TlsError."""
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.new")
        try:
            with _folder_lock(self.path.parent, waiting=waiting):
                lines = self._lines()
                dropped = [line for line in lines if drop(line)]
                if (not dropped and add is None) or (unless is not None and any(map(unless, lines))):
                    return []
                kept = [line for line in lines if line not in dropped] + ([add] if add is not None else [])
                with open(temporary, "w", encoding="utf-8") as out:
                    out.write("".join(line + "\n" for line in kept))
                os.replace(temporary, self.path)
                return dropped
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def _lines(self) -> list[str]:
        try:  # a data folder that cannot be searched (left root's by a sudo lanchat) raises in exists()
            odd = self.path.exists() and not self.path.is_file()  # a pipe would block the read for good
            if odd:
                what = "a folder" if self.path.is_dir() else "not a regular file (a pipe, a device)"
                raise TlsError(f"the {self.what} {self.path} is {what}; move it aside")
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except UnicodeDecodeError:  # a disk's damage: a fingerprint in it can no longer be trusted to be checked
            raise TlsError(
                f"the {self.what} {self.path} is not text (damaged?); move it aside "
                "(each TLS room's fingerprint is then asked about again)"
            ) from None
        except OSError as exc:
            raise TlsError(f"cannot read the {self.what} {self.path}: {exc.strerror or exc}") from None
        return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


class KnownServers(_LineFile):
    """``host:port fingerprint`` lines in the user's data folder, like ssh's known_hosts; and,
    beside it, the fingerprints trusted for rooms' names (``rooms``, KnownRooms)."""

    what = "known-servers file"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.rooms = KnownRooms(path.with_name(KNOWN_ROOMS_NAME))

    def lookup(self, where: str) -> str | None:
        """The fingerprint remembered for ``where`` (its host in any case, as forget reads it), or None."""
        where = _place_key(where)
        for line in self._lines():
            parts = line.split()
            if len(parts) == 2 and _place_key(parts[0]) == where:
                return parts[1]
        return None

    def trusted_at(self, fp: str) -> list[str]:
        """The places ``fp`` is remembered for, oldest first."""
        return [parts[0] for parts in map(str.split, self._lines()) if len(parts) == 2 and parts[1] == fp]

    def remember(self, where: str, fp: str) -> str | None:
        """Add or replace ``where``'s line (written to a temporary file, then renamed into place).
        Returns None, or why it could not be written (a full disk, a read-only data folder): the
        file is then as it was, and no temporary file is left beside it. Read, changed and put
        in place under the data folder's lock, each writer with a temporary file of its own: two
        connects trusting a server at once each wrote their own list over the other's."""
        return self._write(lambda line: _place_key(line.split()[0]) == _place_key(where), f"{where} {fp}")

    def forget(self, where: str, *, every_port: bool = False, hosts: Collection[str] = (),
               waiting: Callable[[], None] | None = None) -> list[str]:
        """Remove ``where``'s line (``lanchat forget``; with ``every_port``, those of every port of
        its host, named in any case), and those of ``hosts`` (as ``hosts()`` gives them: the same
        machine, named otherwise) on that port, or every port, under the same lock as remember.
        Returns the lines removed; TlsError if the file could not be read or changed (it is then
        as it was). With nothing to forget, the lock is not waited for; ``waiting`` is called
        once if it is held a while."""
        where = _place_key(where)
        host, _, port = where.rpartition(":")
        also = {_place_key(other) for other in hosts}

        def drop(line: str) -> bool:
            place_host, _, place_port = _place_key(line.split()[0]).rpartition(":")
            if every_port or place_port == port:
                return place_host == host or place_host.strip("[]") in also
            return False

        return self._drop(drop, waiting)

    def forget_holding(self, fps: Collection[str], *, waiting: Callable[[], None] | None = None) -> list[str]:
        """Remove every line that holds one of ``fps`` (a certificate forgotten for a room's name
        or address, forgotten wherever it was trusted: `lanchat forget`). The lines removed."""
        return self._drop(lambda line: line.split()[-1] in fps, waiting) if fps else []

    def hosts(self, port: int | None = None) -> list[str]:
        """The hosts remembered (on ``port``, or any), as written, an IPv6 one without brackets;
        no socket path."""
        places = [line.split()[0] for line in self._lines()]
        return list(dict.fromkeys(place.rpartition(":")[0].strip("[]") for place in places
                                  if "/" not in place and (port is None or place.rpartition(":")[2] == str(port))))


class KnownRooms(_LineFile):
    """``fingerprint room name`` lines: the certificates trusted for a room found by its announced
    name (discovery). The name is what a student knows the room by, wherever it is announced: a
    certificate announced under it that none of its lines holds, at any address, is refused as
    changed (check_fingerprint). A name may hold several, as ssh's known_hosts may hold several
    keys for one host: two teachers' rooms called "maths" (in rooms next door, in two lessons) are
    both the room a student met, each once trusted with its own --fingerprint. A name is compared as `lanchat connect NAME` reads
    it (discovery.room_key: capitals and runs of spaces do not count), and look-alike letters
    as one (same_room_name: eve's "mаths", a Cyrillic а, or "MATHS 3В", a Cyrillic capital, is the
    "maths 3B" trusted, not a new room)."""

    what = "known-rooms file"

    def lookup(self, room: str) -> str | None:
        """The fingerprint remembered last for the room called ``room``, or None."""
        trusted = self.trusted(room)
        return trusted[-1] if trusted else None

    def trusted(self, room: str) -> list[str]:
        """The fingerprints remembered for the room called ``room``, oldest first (one read)."""
        return [line.split()[0] for line in self._lines() if self._names(line, room)]

    def remember(self, room: str, fp: str) -> str | None:
        """``fp`` trusted for ``room``, beside any other it holds (as KnownServers.remember: None,
        or why not). A last release reads the name's first line only: a room of the name with
        another certificate is refused there as changed, as it was."""
        return self._write(lambda line: self._names(line, room) and line.split()[0] == fp, f"{fp} {' '.join(room.split())}")

    def learn(self, room: str, fp: str) -> None:
        """``fp`` remembered for ``room`` unless the name holds a fingerprint already: a room joined
        over TLS by its address, then recognised in its announcement (discovery.RoomWatch), so that
        a later join by its name holds to the certificate trusted. Never replaces one (that takes
        a person: check_fingerprint), never raises (a courtesy: the chat goes on without it)."""
        with contextlib.suppress(TlsError):
            if self.lookup(room) is None:  # (read again under the lock: another lanchat may have written it since)
                self._write(lambda line: False, f"{fp} {' '.join(room.split())}", unless=lambda line: self._names(line, room))

    def forget(self, room: str, *, waiting: Callable[[], None] | None = None) -> list[str]:
        """Remove ``room``'s line (``lanchat forget NAME``); the lines removed (as KnownServers.forget)."""
        return self._drop(lambda line: self._names(line, room), waiting)

    def names_holding(self, fps: Collection[str]) -> list[str]:
        """The rooms' names that hold one of ``fps``, as written, oldest first."""
        return [line.partition(" ")[2] for line in self._lines() if line.split()[0] in fps] if fps else []

    def forget_holding(self, fps: Collection[str], *, waiting: Callable[[], None] | None = None) -> list[str]:
        """Remove every room's line that holds one of ``fps`` (KnownServers.forget_holding)."""
        return self._drop(lambda line: line.split()[0] in fps, waiting) if fps else []

    @staticmethod
    def _names(line: str, room: str) -> bool:
        fp, _, name = line.partition(" ")
        return fp.startswith("SHA256:") and same_room_name(name, room)


def room_trust_key(name: str) -> str:
    """A room's name as KnownRooms compares it: as typed (discovery.room_key), look-alikes as one."""
    from .discovery import room_key
    from .names import name_key

    return name_key(room_key(name))


def same_room_name(one: str, other: str) -> bool:
    """Are ``one`` and ``other`` one room's name to trust (KnownRooms)? As typed (room_trust_key),
    or as drawn (names.look_keys, as two people's names are told apart: only when both keys differ).
    room_trust_key folds capitals first, so a capital drawn as a Latin one escaped it: eve's
    "maths 3В" (a Cyrillic capital Ve) keyed as "maths 3ʙ", not the "maths 3B" trusted, and her
    room, with her own certificate, was joined as a room never met."""
    from .discovery import room_key
    from .names import look_keys

    if room_trust_key(one) == room_trust_key(other):
        return True
    return not set(look_keys(room_key(one))).isdisjoint(look_keys(room_key(other)))


SAME_MACHINE_SECONDS = 2.0  # `lanchat forget` looks names up this long to find a machine's other names


def same_machine(typed: str, hosts: Iterable[str], *, resolve: Callable[..., list] | None = None,
                 seconds: float = SAME_MACHINE_SECONDS) -> list[str]:
    """Those of ``hosts`` that name the machine ``typed`` names, written otherwise (localhost and
    127.0.0.1, a laptop's name and its address): each looked up, all at once, and the addresses
    compared; a name not found within ``seconds`` matches nothing. Every loopback address is this
    machine. ``resolve``: getaddrinfo, or a test's stand-in (lookup.look_up)."""
    from concurrent.futures import ThreadPoolExecutor

    from .lookup import FOUND, look_up

    others = [host for host in dict.fromkeys(hosts) if _place_key(host) != _place_key(typed)]
    if not others:
        return []

    def machine(host: str) -> set[str]:
        found = look_up(host, 0, resolve=resolve, say_after=seconds, give_up_after=seconds)
        return {_machine_address(info[4][0]) for info in found.addresses} if found.outcome == FOUND else set()

    from .stopsignals import held_in_new_threads

    with ThreadPoolExecutor(max_workers=min(32, len(others) + 1)) as pool:
        with held_in_new_threads():  # its threads, started as each is asked for: the stop signals are the main thread's
            asked = [pool.submit(machine, host) for host in [typed, *others]]
        typed_at, *found_at = [question.result() for question in asked]  # (waited for unblocked: Ctrl-C is heard)
    return [host for host, addresses in zip(others, found_at, strict=True) if typed_at & addresses]


def _machine_address(address: str) -> str:
    """An address as machines are compared (same_machine): without its zone, an IPv4-mapped one as
    IPv4, any loopback one as this machine."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return "loopback" if ip.is_loopback else str(ip)


def _place_key(place: str) -> str:
    """``host:port`` as compared: a host name in any case (Teacher-Laptop is teacher-laptop), an
    IPv6 address's zone (``%eth0``, an interface's name) as written; an AF_UNIX room's socket
    path (``connect --unix PATH --tls``) as written, for a file system's names have case."""
    if "/" in place:  # never in a host:port
        return place
    host, zone, rest = place.partition("%")
    return host.lower() + zone + rest


def remembered_as_tls(where: str, room: str | None = None) -> Path | None:
    """The known-servers file, if it remembers a fingerprint for ``where``, or the known-rooms
    file, if it does for ``room`` (the name the room was found by, announced at any address).
    Such a room is joined with TLS from the start, --tls or not: a server there without TLS is
    refused, never joined in the clear (a fake room had only to leave TLS out)."""
    known = KnownServers(default_folder() / KNOWN_SERVERS_NAME)
    try:
        if known.lookup(where) is not None:
            return known.path
        return known.rooms.path if room is not None and known.rooms.lookup(room) is not None else None
    except TlsError:  # unreadable: a plain room is joined as before; a TLS room says what is wrong with it
        return None


def remembered_hint(where: str, known_file: Path, room: str | None = None) -> str:
    """What a server not speaking TLS at a remembered TLS room's address, or under a remembered
    TLS room's name, means (remembered_as_tls)."""
    if room is not None and known_file.name == KNOWN_ROOMS_NAME:
        from .textsafe import quoted

        return (f"yet the room {quoted(room)} used TLS when you joined it before (its fingerprint is remembered in "
                f"{known_file}): someone may be pretending to be the room, or its host started it without --tls; ask "
                f"the host, and only if so run {forget_command(room)}, which forgets its fingerprint, and connect again"
                + (f"; if you meant another room on a machine called {quoted(room)}, connect to it by the machine's "
                   "address (a name that is a trusted room's is held to that room's certificate)"
                   if where.rpartition(":")[0].lower() == room.lower() else ""))  # the name typed found a machine
    return (f"yet it was a TLS room when you joined it before (its fingerprint is remembered in {known_file}): "
            "someone may be pretending to be the room, or its host started it without --tls; ask the host, and "
            f"only if so run {forget_command(where)}, which forgets its fingerprint, and connect again")


def announced_doubt(known: KnownServers, room: str, where: str, announced: str | None) -> str | None:
    """Why a room listed by discovery (`lanchat rooms`), announced at ``where`` with the fingerprint
    ``announced``, is not the one trusted before under its name or at that address, or None: a
    different fingerprint there is refused by `lanchat connect` (check_fingerprint), and should be
    seen so on the list, before anyone picks it."""
    if announced is None:
        return None
    try:
        by_address, by_name = known.lookup(where), known.rooms.trusted(room)
    except TlsError:  # unreadable: connect says what is wrong with it
        return None
    if by_name and announced not in by_name:
        return ("its TLS fingerprint is not the one you trusted for a room of this name: another teacher's room may have "
                "the name, or someone may be pretending to be it; compare its short form with the board")
    if by_address is not None and by_address != announced and not other_rooms_at(known, {by_address}, room):
        return "its TLS fingerprint is not the one you trusted at this address: someone may be pretending to be the room there"
    return None


def address_passed_on(known: KnownServers, room: str, where: str, announced: str | None) -> str | None:
    """What to say under a room listed by discovery whose address held another room's certificate
    (other_rooms_at: its name is none of the names that certificate is trusted for), when
    announced_doubt has nothing to say of it: most likely the address was handed on; or None."""
    from .textsafe import quoted

    if announced is None or announced_doubt(known, room, where, announced) is not None:
        return None
    try:
        by_address = known.lookup(where)
    except TlsError:
        return None
    was = other_rooms_at(known, {by_address}, room) if by_address not in (None, announced) else []
    return (f"at this address you trusted the room {quoted(was[-1])} before: another teacher's room most likely has "
            "it now; compare its short form with the board") if was else None


def default_folder() -> Path:
    import platformdirs

    return platformdirs.user_data_path("lanchat", appauthor=False)


def check_fingerprint(
    where: str,
    got: str,
    *,
    known: KnownServers,
    pinned: str | None = None,
    ask: Callable[[str], bool] | None = None,
    announced: bool = False,
    room: str | None = None,
) -> str:
    """Decide whether to trust ``got`` for ``where``; raise TlsError if not. Returns a note to show.
    ``announced``: the pin came from the room's announcement (discovery), not --fingerprint.
    ``room``: the name the room was found by (discovery), whose fingerprint is remembered too.

    A pin typed must match exactly, and replaces what was remembered. Otherwise a fingerprint
    remembered for ``where``, or for ``room``, must match (anyone on the LAN can announce a room's
    name, at an address of their own, with their own certificate's fingerprint: only a pin typed by
    a person replaces a remembered one); an announced pin must match too; with none remembered,
    one trusted at another address is known, else ``ask(fingerprint)`` decides (trust on first
    use) and a yes is remembered.
    """
    by_name = known.rooms.trusted(room) if room is not None else []  # read once per join
    replaced = None
    if pinned is None or announced:
        _refuse_a_changed_one(where, got, known, room, by_name)
    elif got == pinned:  # typed, and presented: the certificate it replaces is forgotten wherever trusted
        replaced = _replaced_by_a_typed_pin(where, got, known, room)
    if pinned is not None:
        note = _check_pin(where, got, pinned, known, announced=announced, by_name=got in by_name)
    else:
        note = _check_unpinned(where, got, known, ask)
    if replaced is not None:
        note = f"{note}\n  ({replaced})"
    if room is not None and got not in by_name:
        unsaved = known.rooms.remember(room, got)
        if unsaved is not None:
            note = f"{note}\n  ({unsaved})"
    return note


def _refuse_a_changed_one(where: str, got: str, known: KnownServers, room: str | None, by_name: list[str]) -> None:
    """TlsError if ``where`` is remembered with another fingerprint, or the room called ``room``
    with others only (``by_name``)."""
    remembered = known.lookup(where)
    if remembered is not None and remembered != got:
        if room is not None and not (by_name and got not in by_name) and (was := other_rooms_at(known, {remembered}, room)):
            raise TlsError(address_passed_on_message(where, remembered, got, was[-1], room))
        raise TlsError(changed_message(where, remembered, got, known.path))
    if room is not None and by_name and got not in by_name:
        raise TlsError(room_changed_message(room, where, by_name, got, known.rooms.path))


def _replaced_by_a_typed_pin(where: str, got: str, known: KnownServers, room: str | None) -> str | None:
    """A --fingerprint typed from the host's screen, where another was remembered for ``where``:
    the host made a new certificate (the refusal as CHANGED says to type it). The old one is
    forgotten at every address and name that held it, as `lanchat forget` does: else the room's
    name, or another of its addresses, refused the new one next time. Said where (None: nowhere
    else). Where the room was found by its name, and the certificate replaced is trusted only for
    rooms of other names (other_rooms_at), another room has the address now: only the address is
    given to the new one, and the room met there before keeps its trust (a student joining the
    physics room at the maths room's address of yesterday lost the maths room's, and an impostor
    announcing "maths" was then joined as a room never met). Another certificate held
    only by the room's name is kept beside the new one (KnownRooms): it may be another teacher's
    room of that name, which nothing here can tell from a new certificate."""
    from .textsafe import quoted

    try:
        old = {fp for fp in (known.lookup(where),) if fp is not None and fp != got}
        if not old:
            return None
        if room is not None and (others := other_rooms_at(known, old, room)):
            return (f"{where} holds the room {quoted(room)} now; the certificate it replaces stays trusted for "
                    f"the room {quoted(others[-1])}, wherever it is")  # (remember(where) in _check_pin replaces the line)
        places = [line.partition(" ")[0] for line in known.forget_holding(old)]
        names = [line.partition(" ")[2] for line in known.rooms.forget_holding(old)]
    except TlsError:  # not changed: the pin is checked all the same
        return None
    said = [place for place in places if _place_key(place) != _place_key(where)] + [
        f"the room {quoted(name)}" for name in names if room is None or not same_room_name(name, room)]
    return (f"the certificate it replaces, {', '.join(sorted(old))}, is forgotten where else it was trusted too: "
            f"{', '.join(said)}") if said else None


def other_rooms_at(known: KnownServers, old: Collection[str], room: str | None) -> list[str]:
    """The names the certificates ``old``, remembered at an address, are trusted for, when the room
    found there by its announced name, ``room``, is none of them: as far as names tell, another room
    has the address now (a lease handed on between lessons, another teacher's laptop), not its host
    a new certificate. Empty when no name is known on either side (TlsError: unreadable)."""
    if room is None:
        return []
    try:
        names = known.rooms.names_holding(old)
    except TlsError:
        return []
    return names if names and not any(same_room_name(name, room) or _renamed_twins(name, room) for name in names) else []


def _renamed_twins(one: str, other: str) -> bool:
    """Is either name the other with -2, -3... added (discovery.renamed_from)? What a room of the
    name trusted is announced as when its name was held already (anyone can make it so): not
    another room as far as names tell. eve at the address trusted for "maths 3B" announcing
    "maths 3B-2" got the calm 'another teacher's room most likely has it now', and --fingerprint."""
    from .discovery import renamed_from

    return any(first is not None and same_room_name(first, name)
               for first, name in ((renamed_from(one), other), (renamed_from(other), one)))


def _check_pin(where: str, got: str, pinned: str, known: KnownServers, *, announced: bool, by_name: bool = False) -> str:
    given = "the room's announcement gave" if announced else "given with --fingerprint"
    if got != pinned:
        raise TlsError(
            f"the TLS fingerprint of {where} is {got}, not the {pinned} {given}; "
            "not connecting (check the fingerprint the host printed)"
        )
    here = known.lookup(where) == got
    elsewhere = [place for place in known.trusted_at(got) if _place_key(place) != _place_key(where)]
    # not remembered (a full disk, a read-only data folder): the pin is checked all the same
    unsaved = known.remember(where, got) if not here else None
    if announced and (here or elsewhere or by_name):  # trusted before (at an address, or for the name): nothing to compare
        note = f"TLS fingerprint {got} (known" + (f": the server you trusted at {elsewhere[-1]})" if elsewhere else ")")
    elif announced:  # nobody typed it: README asks to compare it with the host's screen
        note = f"the room announced its TLS fingerprint (compare it with the host's):\n{with_short_form(got)}"
    else:
        note = f"TLS fingerprint {got} matches --fingerprint"
    return note if unsaved is None else f"{note}\n  ({unsaved})"


def _check_unpinned(where: str, got: str, known: KnownServers, ask: Callable[[str], bool] | None) -> str:
    from .textsafe import quoted

    if known.lookup(where) == got:
        return f"TLS fingerprint {got} (known)"
    elsewhere = [f"the server you trusted at {place}" for place in known.trusted_at(got)] or [
        f"the room {quoted(name)} you trusted by its name" for name in known.rooms.names_holding({got})]
    if elsewhere:
        # the certificate proves the server, wherever it is: the room trusted before, at a new
        # address (the host's laptop got another lease, or joined another network)
        unsaved = known.remember(where, got)
        note = f"TLS fingerprint {got} (known: {elsewhere[-1]})"
        return note if unsaved is None else f"{note}\n  ({unsaved})"
    if ask is None:
        raise TlsError(
            f"{where} is a TLS server not seen before, with fingerprint {got}; "
            "compare it with the fingerprint the host's `lanchat serve --tls` printed; only if they are "
            f"the same, connect with --fingerprint {got}"
        )
    if not ask(got):
        raise TlsError(f"not connecting: you did not trust {where} ({got})")
    unsaved = known.remember(where, got)
    if unsaved is not None:  # trusted all the same: the person said yes
        return f"TLS fingerprint {got} trusted for this connection; {unsaved}, so you will be asked again next time"
    return f"TLS fingerprint {got} trusted and remembered in {known.path}"


# ------------------------------------------------------------------ the server's certificate (an edge)


def ensure_certificate(folder: Path) -> tuple[Path, Path, str]:
    """The server's certificate and key in ``folder``, made on first use. Returns (cert, key, made):
    ``made`` is the line that says a new pair was made (and, before it, what was moved aside), ""
    when the pair was there. Made under a lock on the folder: every room uses the same default
    folder, and two first starts at once (two rooms, two terminals) left a key and a certificate
    that were not a pair, or moved aside the key the other was writing."""
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    if _exists(cert_path) and _exists(key_path):  # the certificate is written last: a whole pair
        return cert_path, key_path, ""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise TlsError(f"cannot write the TLS certificate in {folder}: {exc.strerror or exc}") from None
    try:
        with _folder_lock(folder):
            return _make_certificate(cert_path, key_path)
    except FolderBusy:
        raise TlsError(f"another lanchat has been making the TLS certificate in {folder} for "
                       f"{LOCK_SECONDS:.0f} s; start again when it has finished") from None  # fmt: skip


@contextlib.contextmanager
def _folder_lock(folder: Path, *, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """An exclusive flock on ``folder``/.tls.lock while the pair is checked and made, or known_servers
    changed (the kernel lets go if the holder dies); FolderBusy after LOCK_SECONDS of waiting,
    ``waiting`` called once after SAY_WAITING_SECONDS of it. A
    folder we may not write in, or one without locks, goes on unlocked: there the pair is either
    there already or cannot be written (said as before)."""
    try:
        import fcntl

        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o600)  # never a link's target
    except (ImportError, OSError):
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_SECONDS
        say_at = time.monotonic() + SAY_WAITING_SECONDS if waiting is not None else None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if say_at is not None and waiting is not None and time.monotonic() > say_at:
                    say_at = None
                    waiting()
                if time.monotonic() > deadline:
                    raise FolderBusy(folder / LOCK_NAME) from None
                time.sleep(0.02)  # another start making the pair: a few milliseconds
                continue
            except OSError:
                pass  # a file system without locks (some network ones): as before
            break
        yield
    finally:
        os.close(fd)


def _make_certificate(cert_path: Path, key_path: Path) -> tuple[Path, Path, str]:
    """ensure_certificate's work under its lock: the pair checked again (another start may have made
    it meanwhile: outside the lock a certificate could be seen alone, its key just renamed), a
    certificate alone refused, a key alone moved aside, a new pair written."""
    folder = cert_path.parent
    if _exists(cert_path) and _exists(key_path):
        return cert_path, key_path, ""
    # A certificate alone is never written over: a new pair is a new fingerprint for the class (and it
    # is never a start cut short: the certificate is written last)
    if os.path.lexists(cert_path):
        raise TlsError(
            f"{cert_path} is there but not {key_path}; a new pair would change the fingerprint your students "
            f"trust: put {key_path.name} back, or move {cert_path} aside to make a new certificate"
        )
    # A key alone: the key is written first, so a start killed before the certificate leaves one
    # whose certificate never existed, and no fingerprint is lost (it is the certificate's)
    aside = _move_aside(key_path) if os.path.lexists(key_path) else None
    key_pem, cert_pem = _new_pair()
    # Each written whole under a temporary name of its own, then renamed into place: a full disk used
    # to leave an empty certificate that every later start refused ("[SSL] PEM lib").
    import tempfile  # (here: connect and a started room never make one)

    written: list[str] = []
    try:
        for path, data, mode in ((key_path, key_pem, 0o600), (cert_path, cert_pem, 0o644)):
            fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".new")  # 0600
            written.append(temporary)
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), mode)
                out.write(data)
        for temporary, path in zip(written, (key_path, cert_path), strict=True):
            os.replace(temporary, path)
    except OSError as exc:
        for temporary in written:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise TlsError(f"cannot write the TLS certificate in {folder}: {exc.strerror or exc}") from None
    made = f"made a TLS certificate in {cert_path}"
    if aside is not None:
        made = f"{key_path} was there without its certificate (a start cut short): moved to {aside.name}; {made}"
    return cert_path, key_path, made


def _new_pair() -> tuple[bytes, bytes]:
    """A new server key and its self-signed certificate, as PEM: (key, certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lanchat server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))  # trusted by fingerprint, not by date
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _exists(path: Path) -> bool:
    """Whether ``path`` is there (followed to what a link names). A path that cannot be looked at
    (a key linked into a folder we may not search, /etc/ssl/private 0710) is a TlsError saying so,
    not a traceback: Path.exists() raises PermissionError there."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise TlsError(
            f"cannot use the TLS certificate: {path} cannot be looked at ({exc.strerror or exc}); "
            "give --tls-dir a folder of your own, or make it readable"
        ) from None
    return True


def _move_aside(key_path: Path) -> Path:
    """A server key without its certificate, renamed ``tls-key.pem.orphan-TIME`` beside it (never
    deleted: it is a private key someone may want)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = key_path.with_name(f"{key_path.name}.orphan-{stamp}")
    n = 1
    while os.path.lexists(aside):  # (two in one second: never one over the other)
        n += 1
        aside = key_path.with_name(f"{key_path.name}.orphan-{stamp}-{n}")
    try:
        os.rename(key_path, aside)
    except OSError as exc:
        raise TlsError(
            f"{key_path} is there without its certificate (a start cut short?) and cannot be moved aside "
            f"({exc.strerror or exc}): move it aside to make a new certificate"
        ) from None
    return aside


def make_key_private(key_path: Path) -> str | None:
    """A server key everyone could read (0644: copied with cp -r, unpacked from an archive) is made
    0600, as an identity key is (identity.py): whoever copies it can pass for the room, fingerprint
    and all. Returns the line that says so, or a warning where it is left as it is: a key shared
    with a group (0640: a class folder an admin set up for several teachers), one not ours (root's,
    under sudo), one on a file system that takes no modes (a FAT stick) serve as before, said.
    None: nothing to say."""
    import stat

    try:
        info = os.stat(key_path)
    except OSError:
        return None  # server_context says what is wrong with it
    if not stat.S_ISREG(info.st_mode) or not info.st_mode & 0o077:
        return None
    mode = f"(mode {stat.S_IMODE(info.st_mode):04o})"
    if not info.st_mode & 0o007:
        return f"note: the TLS key {key_path} can be read by its group {mode}; chmod 600 it unless they share the room's certificate"
    why = "it is not yours" if info.st_uid != os.geteuid() else None
    if why is None:
        try:
            os.chmod(key_path, 0o600)
            if os.stat(key_path).st_mode & 0o077:  # a file system that ignores modes (vfat with quiet)
                why = "its file system keeps no modes"
        except OSError as exc:
            why = exc.strerror or str(exc)
    if why is not None:
        return (f"warning: the TLS key {key_path} can be read by anyone here {mode}, and was left so ({why}): "
                f"whoever copies it can pass for this room; chmod 600 it, or give --tls-dir a folder of your own")
    return f"the TLS key {key_path} could be read by others {mode}; it is now 0600 (only you)"


def server_context(cert_path: Path, key_path: Path) -> tuple[ssl.SSLContext, str]:
    """The server's TLS context and its certificate's fingerprint."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in (cert_path, key_path):  # a pipe would block OpenSSL's read for good
        if _exists(path) and not path.is_file():
            raise TlsError(f"cannot use the TLS certificate: {path} is not a regular file (a pipe, a device); "
                           f"move {cert_path} and {key_path} aside to make new ones")  # fmt: skip
    try:
        context.load_cert_chain(cert_path, key_path)
        der = ssl.PEM_cert_to_DER_cert(cert_path.read_text(encoding="ascii"))
    except PermissionError:
        raise TlsError(_not_readable(cert_path, key_path)) from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        why = _what_is_wrong(cert_path, key_path) or str(exc)  # OpenSSL says only "[SSL] PEM lib (_ssl.c:3905)"
        if isinstance(exc, ssl.SSLError) and exc.reason == "KEY_VALUES_MISMATCH":  # both whole, not a pair
            why = f"{key_path} is not the key of {cert_path} (one of the two was replaced)"
        raise TlsError(
            f"cannot use the TLS certificate {cert_path}: {why}; move {cert_path} and {key_path} aside to make new ones"
        ) from None
    return context, fingerprint(der)


def _not_readable(cert_path: Path, key_path: Path) -> str:
    """The room's certificate or key may not be read (another user's: a room first served with
    sudo, then as oneself). It read "[Errno 13] Permission denied; move ... aside to make new
    ones": another user's files, and the room's identity, which students trust by its fingerprint."""
    import pwd

    path = next((p for p in (cert_path, key_path) if not os.access(p, os.R_OK)), key_path)
    try:
        owner_id = path.stat().st_uid
        owner = pwd.getpwuid(owner_id).pw_name
    except (OSError, KeyError):
        owner_id, owner = -1, "another user"
    try:
        me = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        me = f"uid {os.getuid()}"
    whose = f"it belongs to user {owner}, not to you ({me})" if owner_id not in (-1, os.getuid()) else "you may not read it"
    return (f"cannot read the room's TLS {'key' if path == key_path else 'certificate'} {path}: {whose}; run serve as "
            f"{owner if owner_id >= 0 else 'its owner'} to keep the room's fingerprint (what students trusted), or give a "
            "folder of your own with --tls-dir DIR (a new certificate there: everyone is asked to trust it again)")


def _what_is_wrong(cert_path: Path, key_path: Path) -> str | None:
    """Which of the two files is not whole, in words: empty, or its PEM armour (BEGIN ... END)
    not all there (cut short, or garbage); None if both look whole."""
    for path, armour in ((cert_path, "CERTIFICATE"), (key_path, "PRIVATE KEY")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if not data:
            return f"{path} is empty (cut short when it was written?)"
        begin, end = f"-----BEGIN {armour}-----".encode(), f"-----END {armour}-----".encode()
        if begin not in data or end not in data[data.find(begin) :]:
            return f"{path} is damaged (cut short, or not the PEM file lanchat wrote)"
    return None


# ------------------------------------------------------------------ the client's handshake (an edge)


def client_context() -> ssl.SSLContext:
    """No certificate authority and no host name: the fingerprint is checked instead (check_fingerprint)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


NOT_TLS_HINT = "is it a lanchat server started without --tls? Then connect without --tls"
# A TLS room turning a connection away at its door (too many from one address: guard.py) closes it
# before any TLS, as a plain server would never do (it answers in plain bytes, which TLS reads as
# "wrong version number"): said first, so a closed handshake does not read as "use no TLS".
TURNED_AWAY = ("a room closes new connections so for a while when too many came from one address "
               "(try again in a minute)")


def shows_certificate(host: str, port: int, fp: str, timeout: float = 2.0) -> bool:
    """Does the server at ``host`` ``port`` complete a TLS handshake with the certificate ``fp``?
    Only the holder of its key can (the server signs the handshake with it): an announcement
    naming a fingerprint proves nothing, anyone may copy one. Any failure is a no; never raises."""
    from .addresses import join_host_port
    from .transport import Endpoint, TransportError, connect

    try:
        sock = connect(Endpoint(host=host, port=port), timeout=timeout)
        tls, got = client_handshake(sock, join_host_port(host, port), timeout)
    except (TransportError, TlsError, OSError, ValueError):
        return False
    _close(tls)
    return got == fp


def client_handshake(
    sock: socket.socket, where: str, timeout: float = HANDSHAKE_SECONDS, *, hint: str = NOT_TLS_HINT
) -> tuple[ssl.SSLSocket, str]:
    """Wrap a connected socket in TLS; returns the TLS socket and the server's fingerprint.
    ``hint``: what to try when the server does not speak TLS, worded for why TLS was used (the
    user's --tls, or the client's own choice: a rejoin, a room that said it uses TLS)."""
    import ssl

    sock.settimeout(timeout)
    try:
        tls = client_context().wrap_socket(sock, do_handshake_on_connect=False)
    except (OSError, ValueError) as exc:
        sock.close()
        raise TlsError(f"cannot start TLS with {where}: {exc}") from None
    try:
        tls.do_handshake()
        der = tls.getpeercert(binary_form=True)
    except TimeoutError:
        _close(tls)
        raise TlsError(f"{where} did not finish the TLS handshake within {timeout:g} s") from None
    except ssl.SSLError as exc:
        _close(tls)
        if isinstance(exc, ssl.SSLEOFError):  # closed without a word: not a plain server's answer
            raise TlsError(f"{where} closed the connection during the TLS handshake; {TURNED_AWAY}; else, {hint}") from None
        raise TlsError(f"{where} does not speak TLS ({exc.reason or exc}); {hint}") from None
    except OSError as exc:
        _close(tls)
        raise TlsError(f"{where} closed the connection during the TLS handshake ({exc.strerror or exc}); {TURNED_AWAY}; else, {hint}") from None
    if not der:
        _close(tls)
        raise TlsError(f"{where} sent no certificate")
    return tls, fingerprint(der)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
