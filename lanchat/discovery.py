"""discovery.py: announce a room and find rooms on the local network (DNS-SD over multicast DNS). The zeroconf edge.

A server announces one service of type ``_lanchat._tcp`` (docs/PROTOCOL.md, Finding rooms);
its TXT record carries the room's name, the host's name, the mode, whether a password is
needed and, when TLS is on, the certificate's fingerprint. Everything read from the network is
untrusted: it is cut to size and made harmless to show (textsafe.visible) before anyone sees it.
The record's shape (``txt_record`` / ``room_from_record``) is pure and tested without a network.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .addresses import addresses_moved, join_host_port, looks_like_ipv4
from .stopsignals import held_in_new_threads, start_thread
from .textsafe import KEPT_SELECTORS, visible

if TYPE_CHECKING:  # zeroconf itself is imported when a room is announced or looked for
    from zeroconf import ServiceInfo

SERVICE_TYPE = "_lanchat._tcp.local."
TXT_VERSION = "1"
MAX_ROOM_CHARS = 40  # a room's name, as announced and as shown
MAX_FIELD_CHARS = 64  # any other TXT value we show
MAX_ROOMS = 64  # a network that announces more is not a classroom; the rest are not looked up
MAX_NAMES_READ = 4096  # names whose heard records are read (no waiting), a flood's included
_DNS_PTR, _DNS_IN = 12, 1  # DNS's record type and class numbers (RFC 1035): a room's name is a PTR
_DNS_A, _DNS_AAAA, _DNS_TXT, _DNS_SRV = 1, 28, 16, 33  # (RFC 1035, 3596, 2782): its addresses and details
BROWSE_SECONDS = 2.0
RESOLVE_MS = 1000  # to ask one room for its details, if the announcement did not bring them
WATCH_SECONDS = 5.0  # a client in a room looks at its announcement again at least this often
# A room whose name is held but not its address (it went without a goodbye: zeroconf keeps a
# name 75 minutes, an address 2) is asked for at once, then after each of these waits, then no
# more: a room that comes back, or moves, announces its records and is read from them.
ASK_AGAIN_SECONDS = (5.0, 10.0, 20.0)
# What a watch keeps of where its room was announced (Sightings): a flood bounds it, whatever it sends.
MAX_ANNOUNCERS = 8  # instance names announcing the room besides its own, the latest heard
MAX_ADDRESSES_EACH = 8  # distinct addresses kept of each announcer, the latest heard
MAX_REFUTED = 64  # addresses found not to be the room, remembered ...
REFUTED_SECONDS = 60.0  # ... for this long: announced again meanwhile, they are not tried again
REFUSED_SECONDS = 5.0  # ... or this long where the machine refused (a server restarting there, or not it)
LOOK_GAP_SECONDS = 0.5  # a watch reads the announcements at most this often: a flood wakes it no more
# An announcer listens this long for the rooms already announced before it claims a name: they
# answer a first query within about 0.1 s on a LAN, over Wi-Fi in power saving a few tenths.
LISTEN_FIRST_SECONDS = 1.0
# After announcing, a room looks once more for another announced under its name at the same moment
# (Announcer._yielded_to_a_twin): zeroconf announces at once, and again a second later.
TWIN_SECONDS = 1.5
CLONE_RESOLVE_SECONDS = 2.0  # the clone watch asks the rooms it hears for their records this long at most


@dataclass(frozen=True)
class RoomInfo:
    """A room found on the network: where it is and what its announcement said."""

    name: str
    host: str
    addresses: tuple[str, ...]
    port: int
    mode: str | None = "duplex"  # None: not known (two machines' differing announcements, _each_machine)
    password: bool | None = False  # None: not known (as mode)
    fingerprint: str | None = None  # the TLS certificate's SHA-256 (SHA256:base64), to pin on connecting

    @property
    def address(self) -> str:
        """The address to connect to (the first; ``pick_address`` reorders for this machine)."""
        return self.addresses[0]

    @property
    def where(self) -> str:
        return join_host_port(self.address, self.port)

    def describe(self) -> str:
        """One line: ``ann's room on 192.168.1.20:3580 (full-duplex, host annlaptop)``; a TLS room's
        with its fingerprint's short form, as the host's screen shows it (``TLS 80a5 ce41 0942 0956``)."""
        details = ["turn-based" if self.mode == "turn" else "mode unknown" if self.mode is None else "full-duplex"]
        if self.password:
            details.append("password needed")
        elif self.password is None:
            details.append("password unknown")
        if self.fingerprint:  # its short form, to tell the room the board names from others of that name
            from .tls import short_form

            details.append(f"TLS {short_form(self.fingerprint)}")
        if self.host:
            details.append(f"host {self.host}")
        return f"{self.name} on {self.where} ({', '.join(details)})"


def clean_room_name(text: str) -> str:
    """A room name fit to announce and show: one line, no terminal-driving characters, at most 40 characters."""
    return visible(" ".join(text.split()))[:MAX_ROOM_CHARS]


def room_name_problem(text: str) -> str | None:
    """Why ``--room`` cannot be used, or None."""
    if not text.strip():
        return "it is empty"
    if len(text) > MAX_ROOM_CHARS:
        return f"it is longer than {MAX_ROOM_CHARS} characters"
    if any("\ud800" <= ch <= "\udfff" for ch in text):  # a byte not in UTF-8, as Python keeps it from argv
        return "it holds a byte that is not UTF-8 text, which cannot be announced"
    if visible(text) != text or "\t" in text:  # (after: visible shows such a byte as \xe9)
        return "it has control characters"
    return None


def room_key(name: str) -> str:
    """A room's name as compared: capitals and runs of spaces do not count, as a person types a
    name read off a list (rooms_called; the fingerprint trusted for a name, tls.KnownRooms); nor
    do the emoji selectors a shown name keeps (textsafe.KEPT_SELECTORS): after a letter they draw
    nothing, and eve's "maths 3B\ufe0f" was listed and joined as a room never met."""
    return " ".join(name.translate(_SELECTORS_DROPPED).split()).casefold()


_SELECTORS_DROPPED = dict.fromkeys(map(ord, KEPT_SELECTORS))


def rooms_called(rooms: Iterable[RoomInfo], typed: str, port: int | None = None) -> list[RoomInfo]:
    """The rooms whose name is ``typed`` (`lanchat connect "ann's room"`, room_key); on ``port``
    if one was given."""
    wanted = room_key(typed)
    return [room for room in rooms if room_key(room.name) == wanted and port in (None, room.port)]


def renamed_twins(rooms: Iterable[RoomInfo], typed: str, port: int | None = None) -> list[RoomInfo]:
    """The rooms called ``typed`` with ``-2``, ``-3``... added (free_label: announced when a room had
    the name already, the class next door's "teacher's room"); on ``port`` if one was given. A
    student told the name by the second teacher, before the screen said "-2", typed the first's."""
    wanted = room_key(typed)
    return [room for room in rooms if (first := renamed_from(room.name)) is not None and room_key(first) == wanted
            and port in (None, room.port)]


def renamed_from(name: str) -> str | None:
    """The name ``name`` was renamed from, if it has the ``-2``, ``-3``... free_label adds on a
    clash ("maths 3B-2": "maths 3B"), else None. Read as room_key reads it, without the emoji
    selectors, which draw nothing after a digit ("maths 3B-2\ufe0f" is drawn "maths 3B-2"), and
    its dash as drawn (names.look_key): "maths 3B\u20102", a Unicode hyphen, is "maths 3B-2" too."""
    from .names import look_key

    found = re.fullmatch(r"(.+)(\D)\d+", name.translate(_SELECTORS_DROPPED))
    return found.group(1) if found and look_key(found.group(2)) == "-" else None


def same_certificate_elsewhere(rooms: Iterable[RoomInfo], fingerprint: str, own: Iterable[str]) -> RoomInfo | None:
    """The first of ``rooms`` announcing the TLS ``fingerprint`` at no address of ``own`` (this
    machine's, as announced): another machine holds this room's certificate and key (machines
    installed from one cloned image, a key copied), and can pass for it. This machine's other
    rooms share the certificate, rightly: at its own addresses, they are not it."""
    mine = {address.partition("%")[0] for address in own}
    for room in rooms:
        if room.fingerprint == fingerprint and not mine & {address.partition("%")[0] for address in room.addresses}:
            return room
    return None


def on_our_networks(room: RoomInfo, networks: Iterable) -> RoomInfo | None:
    """``room`` with only its addresses on one of ``networks`` (this machine's), the one to
    connect to first (pick_address), or None if it has none: a room heard by multicast DNS is on
    this link, so an address elsewhere is one an announcement merely names (anyone's to write),
    never one to be sent to."""
    networks = list(networks)

    def ours(text: str) -> bool:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(address.version == net.version and address in net for net in networks)

    reachable = tuple(address for address in room.addresses if ours(address))
    return pick_address(dataclasses.replace(room, addresses=reachable), networks) if reachable else None


def looks_like_a_room_name(typed: str) -> bool:
    """Words that cannot be a host but can be a room's name ("ann's room", "maths 3B"); not a host
    and its port pasted as one word ("192.168.1.20 3580", "nc 10.0.0.5 4000"), which ends in a
    number, nor with a typo in the port ("192.168.1.20 358O"), which starts with an address."""
    words = typed.split()
    return len(words) > 1 and not words[-1].isdecimal() and "://" not in typed and not looks_like_ipv4(words[0])


def free_label(label: str, taken: Iterable[str]) -> str:
    """``label``, or ``label-2``, ``label-3``... : the first that no name in ``taken`` (instance
    names heard, ``NAME._lanchat._tcp.local.``) is, ignoring capitals. Names in multicast DNS are
    the same whatever their capitals (RFC 6762, 16), but zeroconf's probe compares them exactly:
    "Maths 3B" announced beside "maths 3B" was not renamed, and every browser's cache, which
    ignores capitals, kept one of the two rooms and lost the other. Capitals as that cache
    folds them, str.lower (casefold would also make "Straße" "Strasse", and rename it needlessly)."""
    held = {name.removesuffix("." + SERVICE_TYPE).lower() for name in taken}
    candidate, number = label, 2
    while candidate.lower() in held:
        suffix = f"-{number}"
        candidate, number = _dns_label(label, 63 - len(suffix)) + suffix, number + 1
    return candidate


def txt_record(*, room: str, host: str, mode: str, password: bool, fingerprint: str | None) -> dict[str, str]:
    """The TXT record a server announces (docs/PROTOCOL.md, Finding rooms)."""
    record = {"v": TXT_VERSION, "room": room, "host": host, "mode": mode, "pw": "1" if password else "0"}
    if fingerprint:
        record["fp"] = fingerprint
    return record


# A certificate's SHA-256 as ssh writes it (SHA256: and 43 characters of base64), or as 64 hex digits.
_FINGERPRINT = re.compile(r"^(SHA256:[A-Za-z0-9+/]{43}=?|[0-9a-f]{64})$")


def _field(properties: dict, key: str) -> str | None:
    value = properties.get(key.encode()) if key.encode() in properties else properties.get(key)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def room_from_record(instance: str, addresses: Iterable[str], port: int | None, properties: dict) -> RoomInfo | None:
    """A RoomInfo from what the network said, made safe; None when it cannot be joined.

    ``properties`` is the TXT record as zeroconf gives it (bytes keys and values, or None).
    A missing or odd field is replaced by a safe default; a record without an address or
    port is skipped, because nobody could connect to it.
    """
    good_addresses = []
    for text in addresses:
        try:
            good_addresses.append(str(ipaddress.ip_address(text)))
        except ValueError:
            continue
    if not good_addresses or not port or not 0 < port < 65536:
        return None
    label = instance.removesuffix("." + SERVICE_TYPE)
    room = clean_room_name(_field(properties, "room") or label) or "a lanchat room"
    host = visible(" ".join((_field(properties, "host") or "").split()))[:MAX_FIELD_CHARS]
    mode = "turn" if _field(properties, "mode") == "turn" else "duplex"
    fingerprint = (_field(properties, "fp") or "").strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", fingerprint):  # the same SHA-256 in hex (capitals too): as lanchat writes it, to pin and compare
        import base64

        fingerprint = "SHA256:" + base64.b64encode(bytes.fromhex(fingerprint)).decode("ascii").rstrip("=")
    return RoomInfo(
        name=room,
        host=host,
        addresses=tuple(dict.fromkeys(good_addresses)),
        port=port,
        mode=mode,
        password=_field(properties, "pw") == "1",
        fingerprint=fingerprint if _FINGERPRINT.match(fingerprint) else None,
    )


def pick_address(room: RoomInfo, networks: Iterable) -> RoomInfo:
    """The room with the address on one of our own networks first (then IPv4 before IPv6).

    A server on several networks announces all its addresses; the one that shares a network
    with us is the one that works (its Docker bridge, say, is not reachable from here).
    """
    networks = list(networks)

    def rank(text: str) -> tuple[bool, bool]:
        address = ipaddress.ip_address(text)
        shared = any(address.version == net.version and address in net for net in networks)
        return (not shared, address.version == 6)

    return RoomInfo(
        name=room.name,
        host=room.host,
        addresses=tuple(sorted(room.addresses, key=rank)),
        port=room.port,
        mode=room.mode,
        password=room.password,
        fingerprint=room.fingerprint,
    )


# ---------------------------------------------------------------- the network edge


class DiscoveryError(Exception):
    """Multicast DNS cannot be used here (no interface, no permission); one clear line."""


def _open_zeroconf(addresses: list[str] | None = None):  # noqa: ANN202
    # zeroconf reports network trouble through logging; with no handler Python would print it to
    # stderr, over the host's full screen. Our callers say what matters in their own words.
    quiet = logging.getLogger("zeroconf")
    if not any(isinstance(handler, logging.NullHandler) for handler in quiet.handlers):
        quiet.addHandler(logging.NullHandler())
    try:
        from zeroconf import InterfaceChoice, IPVersion, Zeroconf
    except ImportError as exc:
        raise DiscoveryError("the zeroconf package is missing: pip install zeroconf") from exc
    # IPv4 and IPv6 both: a LAN with IPv6 only is found too. A machine without IPv6 (disabled,
    # or no interface that has it) makes zeroconf fail to open IPv6 sockets: IPv4 alone, then.
    problem: Exception | None = None
    for version in (IPVersion.All, IPVersion.V4Only):
        try:
            with held_in_new_threads():  # (its thread: the stop signals are the main thread's)
                return Zeroconf(interfaces=addresses or InterfaceChoice.All, ip_version=version)
        except Exception as exc:  # noqa: BLE001 - zeroconf raises OSError and its own errors alike
            problem = problem or exc
    raise DiscoveryError(f"multicast DNS is not available here ({problem})") from None


def _dns_label(text: str, limit: int = 63) -> str:
    """``text`` cut to fit one DNS label (63 bytes of UTF-8), never mid-character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore").strip(" .") or "lanchat"


def _host_label(port: int, addresses: list[str]) -> str:
    """A DNS host name of this machine for the announcement, unique per port and per machine.

    Machines installed from one image share a host name (a school lab's, a class's Raspberry
    Pis): two serving on the same port would claim one name, and a browser would merge their
    addresses into one room. A digest of the addresses announced, which no two machines on a
    LAN share, keeps each apart."""
    import hashlib  # here: a server that announces nothing need not load OpenSSL

    base = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]).strip("-") or "lanchat"
    digest = hashlib.sha256(",".join(sorted(addresses)).encode()).hexdigest()[:8]
    return f"{base[:32]}-lanchat-{port}-{digest}.local."


def name_taken_by(label: str, taken: Iterable[str]) -> str | None:
    """The name in ``taken`` that ``label`` clashes with, as that room spells it ("Friends" for
    "friends": capitals ignored, as free_label ignores them), or None when it is free."""
    for name in taken:
        other = name.removesuffix("." + SERVICE_TYPE)
        if other.lower() == label.lower():
            return other
    return None


class Announcer:
    """Announces one room while a server runs. ``start()`` returns at once; ``close()`` says goodbye.

    Registering takes about a second and a half (it first listens for the rooms there, which is
    its probe that nobody else has the name: a room of the same name gets "-2" added), so it runs
    in a thread and reports through ``on_done(name or None, problem or None)``. A TLS room with
    ``on_clone`` then watches for its certificate held by another machine (_watch_clones).
    """

    def __init__(
        self,
        *,
        room: str,
        port: int,
        addresses: list[str],
        host: str,
        mode: str,
        password: bool = False,
        fingerprint: str | None = None,
        on_done: Callable[[str | None, str | None], None] | None = None,
        on_clone: Callable[[RoomInfo], None] | None = None,
    ) -> None:
        self.room = room
        self.fingerprint = fingerprint
        self.on_clone = on_clone  # once: another machine's room shows this room's certificate (_watch_clones)
        self._wake = threading.Event()  # the running thread's clone watch: something was heard, or it ends
        self._ended = threading.Event()  # the running thread's: set to end its clone watch (close, move)
        self.port = port
        self.addresses = addresses
        self.properties = txt_record(room=room, host=host, mode=mode, password=password, fingerprint=fingerprint)
        self.on_done = on_done
        self._zeroconf = None
        self._info: ServiceInfo | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._register, name="lanchat-announce", daemon=True)
        self.announced_as: str | None = None
        self.renamed = False  # announced under another name than ``room``: another room had it
        self.taken_by: str | None = None  # that room's name as it spells it ("Friends"), when the listen heard it

    def start(self) -> None:
        """Announce the room; with no address yet, nothing until ``move`` gives it one."""
        if self.addresses:
            start_thread(self._thread)

    def _register(self) -> None:
        problem = None
        try:
            from zeroconf import ServiceInfo

            zeroconf = _open_zeroconf()
            with self._lock:
                if self._closed or threading.current_thread() is not self._thread:  # closed, or moved meanwhile
                    zeroconf.close()
                    return
                self._zeroconf = zeroconf
            def service(instance: str) -> ServiceInfo:
                return ServiceInfo(SERVICE_TYPE, f"{instance}.{SERVICE_TYPE}", port=self.port, properties=self.properties,
                                   server=_host_label(self.port, self.addresses), parsed_addresses=self.addresses)

            taken = _names_announced(zeroconf, LISTEN_FIRST_SECONDS)
            info = service(free_label(_dns_label(self.room), taken))
            self.taken_by = name_taken_by(_dns_label(self.room), taken)
            # The listen above leaves a name taken, ignoring capitals as browsers do, for "-2";
            # zeroconf's own probe (about a second more) is kept: on a loaded machine or a busy
            # Wi-Fi an answer can miss the listen's second, and the probe still finds the room
            # of the name and renames this one (without it two rooms were announced as one name).
            zeroconf.register_service(info, allow_name_change=True)
            self.announced_as = info.name.removesuffix("." + SERVICE_TYPE)
            self.renamed = self.announced_as != _dns_label(self.room)
            if self.renamed:
                # another room had the name ("lab room" is now "lab room-2"): the record says so
                # too, so the lists show the name the host's screen shows, not two "lab room"s
                self.properties["room"] = clean_room_name(self.announced_as)
                info = service(self.announced_as)
                zeroconf.update_service(info)
            self._info = info
        except DiscoveryError as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - an announcement is a courtesy; the room works without it
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        # a problem caused by closing is no news, nor one caused by a move (its own thread reports)
        if self.on_done is not None and not self._closed and threading.current_thread() is self._thread:
            self.on_done(self.announced_as, problem)
        if problem is None and self._yielded_to_a_twin(service) and self.on_done is not None:
            self.on_done(self.announced_as, None)  # renamed after all: said, with the name to type
        if problem is None and self.fingerprint is not None and self.on_clone is not None:
            self._watch_clones()

    def _yielded_to_a_twin(self, service: Callable[[str], ServiceInfo]) -> bool:
        """Two rooms of one name (capitals aside) started within a second of each other: neither
        heard the other in its listen, and zeroconf's probe settles no such tie (RFC 6762 8.2), so
        both were announced under the one name for as long as they ran, each list showing them
        with the other's spelling, "mode unknown, password unknown", and `connect NAME` joining
        neither. Each looks once more, TWIN_SECONDS after: the room whose host label is the
        greater gives the name up and takes the next free one ("-2"), as the second of two rooms
        started apart does; the other keeps it. True when this one was renamed so."""
        with self._lock:
            zeroconf, info = self._zeroconf, self._info
        if self.renamed or zeroconf is None or info is None or self._ended.wait(TWIN_SECONDS):
            return False
        twins = _twins(zeroconf, info)
        if not twins or min(twins)[0] > (info.server or "").lower():
            return False  # none, or this one's label is the least: it keeps the name
        try:
            with self._lock:
                if self._closed or threading.current_thread() is not self._thread:
                    return False
            taken = [*_in_cache(zeroconf), info.name]
            zeroconf.unregister_service(info)
            renamed = service(free_label(_dns_label(self.room), taken))
            zeroconf.register_service(renamed, allow_name_change=True)
            self.announced_as = renamed.name.removesuffix("." + SERVICE_TYPE)
            self.renamed, self.taken_by = True, min(twins)[1]
            self.properties["room"] = clean_room_name(self.announced_as)
            self._info = service(self.announced_as)
            zeroconf.update_service(self._info)
        except Exception:  # noqa: BLE001 - a courtesy, as the announcement is; closed under us
            return False
        return not self._closed and threading.current_thread() is self._thread

    def _watch_clones(self) -> None:
        """Until closed or moved (its thread no longer the announcer's), the rooms announced on
        the network, read as each is heard (no timer: an idle room wakes nobody; a flood, at most
        every LOOK_GAP_SECONDS, names that never answer asked for as a RoomWatch asks), for one
        holding this room's certificate at another machine's address (same_certificate_elsewhere)
        whose server shows it in a TLS handshake at an address on this machine's networks
        (on_our_networks, tls.shows_certificate: anyone may announce a fingerprint, and any
        address; only its key's holder can show it); ``on_clone`` is told of the first, once,
        and the watch ends. One that does not show it is passed over. A courtesy: any trouble
        (zeroconf closed under it) ends it quietly."""
        from zeroconf import ServiceBrowser

        from .netinfo import local_networks
        from .tls import shows_certificate

        names, silent = _Announced(), SilentNames()
        passed: dict[str, None] = {}  # the announced addresses that did not show it (at most MAX_ROOMS, newest)
        try:
            with self._lock:
                zeroconf = self._zeroconf
                if zeroconf is None or self._closed or threading.current_thread() is not self._thread:
                    return
                wake, ended = self._wake, self._ended  # this thread's (a move makes new ones for the next)
                names.changed = wake
                with held_in_new_threads():  # (zeroconf's threads: the stop signals are the main thread's)
                    browser = ServiceBrowser(zeroconf, SERVICE_TYPE, handlers=[names.on_change])
            try:
                while not ended.is_set():
                    wake.wait()
                    wake.clear()
                    if ended.is_set():
                        return
                    deadline = time.monotonic() + CLONE_RESOLVE_SECONDS
                    rooms = [room for _name, room in _rooms(zeroconf, names.now(), deadline, silent) if room.where not in passed]
                    found = same_certificate_elsewhere(rooms, self.fingerprint or "", self.addresses)
                    clone = found and on_our_networks(found, local_networks())  # (none elsewhere is dialled)
                    if clone is not None and shows_certificate(clone.address, clone.port, self.fingerprint or ""):
                        if not ended.is_set() and self.on_clone is not None:
                            self.on_clone(clone)
                        return
                    if found is not None:
                        passed[found.where] = None
                        while len(passed) > MAX_ROOMS:
                            del passed[next(iter(passed))]
                        wake.set()  # (the rooms after it are read at the next look)
                    ended.wait(LOOK_GAP_SECONDS)  # a flood sets ``wake`` all the time: one look per gap reads it all
            finally:
                browser.cancel()
        except Exception:  # noqa: BLE001, S110 - a courtesy, as the announcement is
            return

    def move(self, addresses: list[str]) -> None:
        """Announce the room again at ``addresses``: this machine's changed (a laptop back on the
        Wi-Fi with another lease). zeroconf's sockets are bound to the old addresses, so it is
        closed and opened afresh, as at ``start()``; ``on_done`` reports the new announcement."""
        with self._lock:
            if self._closed:
                return
            zeroconf, self._zeroconf = self._zeroconf, None
            self.addresses, self._info, self.announced_as, self.renamed = addresses, None, None, False
            self.properties["room"] = self.room
            old_thread = self._thread
            self._thread = threading.Thread(target=self._register, name="lanchat-announce", daemon=True)
            old_wake, old_ended = self._wake, self._ended
            self._wake, self._ended = threading.Event(), threading.Event()
        old_ended.set()  # the old thread's clone watch ends
        old_wake.set()
        if zeroconf is not None:
            try:
                zeroconf.close()
            except Exception:  # noqa: BLE001, S110 - its old addresses are gone anyway
                pass
        if old_thread.is_alive():
            old_thread.join(5)
        start_thread(self._thread)

    def close(self) -> None:
        """Withdraw the announcement (goodbye packets) and stop; safe to call twice."""
        with self._lock:
            self._closed = True
            zeroconf, self._zeroconf = self._zeroconf, None
        self._ended.set()  # its clone watch ends
        self._wake.set()
        if zeroconf is not None:
            try:
                zeroconf.close()  # unregisters every service first: the rooms list forgets us at once
            except Exception:  # noqa: BLE001, S110 - leaving anyway
                pass
        if self._thread.is_alive() and self._info is not None:
            self._thread.join(5)
        # Still registering: zeroconf's close() above stopped its loop and said goodbye for
        # anything announced; register_service() then waits out its own timeout (about 11 s)
        # before it raises, and a closed announcer reports nothing. Waiting for that thread
        # (a daemon) held a server stopped in the first second, or just after a move, 6 s.


def _twins(zeroconf, info) -> list[tuple[str, str]]:  # noqa: ANN001 - a Zeroconf, a ServiceInfo
    """(host label, the room's name as it spells it) of each other machine announcing ``info``'s
    instance name (a cached SRV record of that name, capitals aside, with another host's label)."""
    own = (info.server or "").lower()
    try:
        records = zeroconf.cache.get_all_by_details(info.name, _DNS_SRV, _DNS_IN)
    except Exception:  # noqa: BLE001 - its cache changing under us (zeroconf's thread)
        return []
    return sorted({(record.server.lower(), record.name.removesuffix("." + SERVICE_TYPE)) for record in records
                   if record.server.lower() != own})


def _names_announced(zeroconf, seconds: float) -> list[str]:  # noqa: ANN001
    """The room names announced on the network, asked for and listened to for ``seconds`` (none
    if zeroconf cannot browse: zeroconf closed under us, or no network, where nothing is announced either)."""
    from zeroconf import ServiceBrowser

    try:
        browser = ServiceBrowser(zeroconf, SERVICE_TYPE, handlers=[lambda **_: None])
    except Exception:  # noqa: BLE001 - closed under us, or no network: the announcement goes on without
        return []
    try:
        time.sleep(seconds)  # every room answers the browser's first query within this
    finally:
        browser.cancel()
    return _in_cache(zeroconf)


def _zone_by_name(address: str) -> str:
    """``fe80::1%2`` as ``fe80::1%wlan0``: the zone zeroconf gives a link-local address is the
    index of the interface it was heard on; its name is what people read and type."""
    host, _, zone = address.partition("%")
    if zone.isdigit():
        try:
            return f"{host}%{socket.if_indextoname(int(zone))}"
        except OSError:
            return address
    return address


class _Announced:
    """The room names zeroconf's browser has heard, at most MAX_ROOMS: ``on_change`` runs on
    zeroconf's thread, ``now`` on the reader's."""

    def __init__(self) -> None:
        self._names: dict[str, None] = {}
        self._lock = threading.Lock()
        self.changed = threading.Event()

    def on_change(self, zeroconf, service_type: str, name: str, state_change) -> None:  # noqa: ANN001
        from zeroconf import ServiceStateChange

        with self._lock:
            if state_change is ServiceStateChange.Removed:
                self._names.pop(name, None)
            elif len(self._names) < MAX_ROOMS:
                self._names[name] = None
        self.changed.set()

    def now(self) -> list[str]:
        with self._lock:
            return list(self._names)


def _resolve(zeroconf, name: str, timeout_ms: int) -> RoomInfo | None:  # noqa: ANN001
    """The room announced as ``name`` (its addresses, port and TXT), asked for over the network,
    or None when it does not answer within ``timeout_ms`` or is not a lanchat room (room_from_record)."""
    info = zeroconf.get_service_info(SERVICE_TYPE, name, timeout=timeout_ms)
    return None if info is None else _room_of(name, info)


def _room_of(name: str, info) -> RoomInfo | None:  # noqa: ANN001
    addresses = [_zone_by_name(text) for text in info.parsed_scoped_addresses()]
    return room_from_record(name, addresses, info.port, info.properties or {})


def _each_machine(zeroconf, name: str, room: RoomInfo) -> list[RoomInfo]:  # noqa: ANN001
    """``room`` (read from the cache as one), or a room for each machine announcing ``name``.

    Two networks that each have a "lab room", heard by a laptop on both (Wi-Fi and a cable),
    were never on one link to be renamed: zeroconf's cache, keyed by name, holds both machines'
    records and read them as one room, so one of the two was never listed. Each SRV record
    (a machine's host name and port) is a room at that host's addresses; which TXT record is
    whose cannot be told when they differ, so such rooms then carry none of its details (no
    fingerprint pinned: a TLS room is joined as by its address, its certificate checked; its
    password and its mode unknown, not "none" and "full-duplex": one of them may need one, or take turns)."""
    try:
        services = zeroconf.cache.get_all_by_details(name, _DNS_SRV, _DNS_IN)
        texts = {record.text for record in zeroconf.cache.get_all_by_details(name, _DNS_TXT, _DNS_IN)}
        if len(services) < 2:
            return [room]
        rooms = []
        for service in services:
            addresses = [_zone_by_name(_address_text(record)) for kind in (_DNS_A, _DNS_AAAA)
                         for record in zeroconf.cache.get_all_by_details(service.server, kind, _DNS_IN)]  # fmt: skip
            details = room if len(texts) == 1 else RoomInfo(name=clean_room_name(name.removesuffix("." + SERVICE_TYPE)),
                                                            host="", addresses=(), port=0)  # fmt: skip
            found = room_from_record(name, addresses, service.port, {"room": details.name, "host": details.host,
                                     "mode": details.mode or "", "pw": "1" if details.password else "0",
                                     "fp": details.fingerprint or ""})  # fmt: skip
            if found is not None:  # whether a password is needed, or turns taken, is not known either: never "no"
                rooms.append(found if len(texts) == 1 else dataclasses.replace(found, password=None, mode=None))
    except Exception:  # noqa: BLE001 - its cache changing under us (zeroconf's thread): the room as read
        return [room]
    return rooms or [room]


def _address_text(record) -> str:  # noqa: ANN001
    """A cached A or AAAA record's address as text, a link-local one with its interface's index."""
    if len(record.address) == 4:
        return socket.inet_ntop(socket.AF_INET, record.address)
    text = socket.inet_ntop(socket.AF_INET6, record.address)
    return f"{text}%{record.scope_id}" if record.scope_id and text.lower().startswith("fe80") else text


def _in_cache(zeroconf) -> list[str]:  # noqa: ANN001
    """Every room name zeroconf holds an announcement of (PTR records of SERVICE_TYPE), however
    many were heard: the browser's callbacks stop at MAX_ROOMS, and a flood of names heard first
    must not keep the others from being read."""
    try:
        return [record.alias for record in zeroconf.cache.get_all_by_details(SERVICE_TYPE, _DNS_PTR, _DNS_IN)]
    except Exception:  # noqa: BLE001 - its cache changing under us (zeroconf's thread): the names heard do
        return []


class SilentNames:
    """Which room names, held without their records, a watch asks for over the network, and when.

    A room that went without a goodbye leaves its name in zeroconf's cache for 75 minutes and
    its address for 2: asked for every WATCH_SECONDS it cost the LAN queries from every student
    in a room for as long as they stayed. Each name is now asked for at once, then after each
    wait of ASK_AGAIN_SECONDS, then no more until its records are heard again (``heard``).
    Pure: the caller says what time it is."""

    def __init__(self, waits: tuple[float, ...] = ASK_AGAIN_SECONDS) -> None:
        self.waits = waits
        self._asked: dict[str, tuple[int, float]] = {}  # name -> (times asked unanswered, not again before)

    def due(self, name: str, now: float) -> bool:
        return now >= self._asked.get(name, (0, 0.0))[1]

    def unanswered(self, name: str, now: float) -> None:
        times = self._asked.get(name, (0, 0.0))[0]
        wait = self.waits[times] if times < len(self.waits) else math.inf
        self._asked[name] = (times + 1, now + wait)

    def heard(self, name: str) -> None:
        """Its records are held (it answered, or announced itself again): a fresh start if it goes."""
        self._asked.pop(name, None)

    def __len__(self) -> int:
        """How many names it keeps (at most those held)."""
        return len(self._asked)

    def keep_only(self, names: Iterable[str]) -> None:
        """Forget the names no longer held (at most MAX_NAMES_READ are kept)."""
        held = set(names)
        for name in [name for name in self._asked if name not in held]:
            del self._asked[name]


class Sightings:
    """Where the room followed has been announced: by announcer (its DNS-SD instance name),
    every distinct address heard, newest first, and which of them a rejoin found not to be the
    room. Pure: the caller says what time it is (RoomWatch holds one under its lock).

    Anyone on the LAN can announce the room anywhere (docs/PROTOCOL.md, Finding rooms). A watch
    that followed only the latest announcement let one repeated at a false address hide a real
    move. Now each address heard is tried once (``next_try``); one that proved not to be the room
    (``refuted``: nothing answered, another certificate, a refusal) is passed over for
    REFUTED_SECONDS however often it is announced again. The room's own announcer (``home``,
    the instance it was recognised by) is never pushed out and comes first; other announcers
    keep at most MAX_ANNOUNCERS places and each at most MAX_ADDRESSES_EACH addresses, at most
    MAX_REFUTED are remembered: a flood of names or addresses bounds what is kept."""

    def __init__(self) -> None:
        self.home: str | None = None
        self.home_now: tuple[str, ...] = ()  # the addresses of the room's own latest announcement
        # announcer -> its addresses; both oldest heard first (dict order; heard again: moved last)
        self._heard: dict[str, dict[tuple[str, int], None]] = {}
        self._refuted: dict[tuple[str, int], float] = {}  # (address, port) -> passed over until then

    def heard(self, announcer: str, room: RoomInfo) -> None:
        """``announcer`` announced the room at ``room``'s addresses (the first one best: pick_address)."""
        if announcer == self.home:
            self.home_now = room.addresses
        addresses = self._heard.pop(announcer, None) or {}
        self._heard[announcer] = addresses  # the latest heard, last
        for address in reversed(room.addresses):  # the best ranked, newest
            where = (address, room.port)
            addresses.pop(where, None)
            addresses[where] = None
        while len(addresses) > MAX_ADDRESSES_EACH:
            del addresses[next(iter(addresses))]
        others = [name for name in self._heard if name != self.home]
        for name in others[: max(0, len(others) - MAX_ANNOUNCERS)]:  # the least recently heard go
            del self._heard[name]

    def candidates(self, away_from: str, now: float) -> Iterator[tuple[str, int]]:
        """Where the room may be, elsewhere than ``away_from``, best first: the room's own
        announcer's addresses, then the others', the latest heard first; none refuted."""
        order = [self.home] if self.home in self._heard else []
        order += [name for name in reversed(self._heard) if name != self.home]
        for name in order:
            for where in reversed(self._heard[name]):
                if where[0] != away_from and self._refuted.get(where, now) <= now:
                    yield where

    def next_try(self, away_from: str, now: float) -> tuple[str, int] | None:
        return next(self.candidates(away_from, now), None)

    def still_at(self, address: str) -> bool:
        """Does the room's own latest announcement still name ``address``? Then its other
        addresses are its host's other networks, not a move: a rejoin tries there second."""
        return address in self.home_now

    def refuted(self, where: tuple[str, int], now: float, seconds: float = REFUTED_SECONDS) -> None:
        """A rejoin found that the room is not at ``where``: pass it over for ``seconds``."""
        self._refuted.pop(where, None)
        self._refuted[where] = now + seconds
        for old in [w for w, until in self._refuted.items() if until <= now]:
            del self._refuted[old]
        while len(self._refuted) > MAX_REFUTED:
            del self._refuted[next(iter(self._refuted))]

    def joined(self, where: tuple[str, int] | None = None) -> None:
        """The room was rejoined (at ``where``): what was heard before counts no more (the
        address it moved from among it); the next looks hear what is announced now. An announcer
        of ``where`` is the room's own from now on, unless its own announced it too (renamed by
        a clash as it moved, the room's instance name may be someone else's now)."""
        if where is not None and where not in self._heard.get(self.home or "", {}):
            self.home = next((name for name in reversed(self._heard) if where in self._heard[name]), self.home)
        self._heard.clear()
        self.home_now = ()

    def __len__(self) -> int:
        """How many addresses it keeps, refuted ones counted (bounded, whatever was announced)."""
        return sum(len(addresses) for addresses in self._heard.values()) + len(self._refuted)


def _rooms(zeroconf, names: list[str], deadline: float, silent: SilentNames | None = None,  # noqa: ANN001
           clock: Callable[[], float] = time.monotonic, first: str | None = None) -> Iterator[tuple[str, RoomInfo]]:  # fmt: skip
    """The rooms of ``names`` and of every announcement in zeroconf's cache, each with the
    instance name it was announced as: first each whose records were heard (read from the
    cache, no waiting), then the rest asked for over the network until ``deadline``
    (``clock``'s time), those of them ``silent`` says are due if it is given. Names that never
    answer (anyone on the LAN can send them) so cannot use up the time before a real room is read.
    The name ``first``, if held, comes before all others, read or asked for."""
    from zeroconf import ServiceInfo

    every = dict.fromkeys([*names, *_in_cache(zeroconf)])
    ahead = [first] if first in every else []
    held = ahead + [name for name in every if name != first][: MAX_NAMES_READ - len(ahead)]
    if silent is not None:
        silent.keep_only(held)
    quiet: list[str] = []
    for name in held:
        info = ServiceInfo(SERVICE_TYPE, name)
        if not info.load_from_cache(zeroconf):
            quiet.append(name)
            continue
        if silent is not None:
            silent.heard(name)
        if (read := _room_of(name, info)) is not None:
            for each in _each_machine(zeroconf, name, read):
                yield name, each
    if silent is not None:
        quiet = [name for name in quiet if silent.due(name, clock())]
    for name in quiet[:MAX_ROOMS]:
        remaining_ms = int((deadline - clock()) * 1000)
        if remaining_ms <= 0:
            return
        room = _resolve(zeroconf, name, min(RESOLVE_MS, remaining_ms))
        if room is None:
            if silent is not None:
                silent.unanswered(name, clock())
            continue
        if silent is not None:
            silent.heard(name)
        yield name, room


def browse(seconds: float = BROWSE_SECONDS, networks: Iterable | None = None) -> list[RoomInfo]:
    """The rooms announced on the local network, heard within ``seconds``; sorted by name.

    Raises DiscoveryError when multicast DNS cannot be used at all.
    """
    from zeroconf import ServiceBrowser

    zeroconf = _open_zeroconf()
    names = _Announced()
    rooms: dict[tuple[tuple[str, ...], int], RoomInfo] = {}
    try:
        with held_in_new_threads():  # (a thread too)
            browser = ServiceBrowser(zeroconf, SERVICE_TYPE, handlers=[names.on_change])
        try:
            end = time.monotonic() + seconds
            while time.monotonic() < end:  # listening is the point: rooms answer within this window
                time.sleep(min(0.1, max(0.0, end - time.monotonic())))
        finally:
            browser.cancel()
        deadline = time.monotonic() + seconds + 1.0  # a bound on looking up, whatever the network sends
        for _name, room in _rooms(zeroconf, names.now(), deadline):
            room = pick_address(room, networks or [])
            rooms.setdefault((tuple(sorted(room.addresses)), room.port), room)
    finally:
        zeroconf.close()
    return sorted(rooms.values(), key=lambda r: (r.name.lower(), r.where))


class _Listening:
    """One zeroconf instance and its browser of rooms: bound to this machine's addresses when it
    opened, so a watch opens another when they change (RoomWatch, as Announcer.move)."""

    def __init__(self, changed: threading.Event) -> None:
        from zeroconf import ServiceBrowser

        self.zeroconf = _open_zeroconf()
        self.names = _Announced()
        self.names.changed = changed  # a room heard, or the watch's close(): its wait ends
        try:
            self.browser = ServiceBrowser(self.zeroconf, SERVICE_TYPE, handlers=[self.names.on_change])
        except Exception:
            self.zeroconf.close()
            raise

    def close(self) -> None:
        for step in (self.browser.cancel, self.zeroconf.close):
            try:
                step()
            except Exception:  # noqa: BLE001, S110 - its sockets' addresses may be gone already
                pass


class RoomWatch:
    """Follows, while a client is in a room, the announcements of that room: where it may be now.

    The room is the one discovery ``found`` (if it was joined so), else the one announced at
    the address and port joined (and, over TLS, with the fingerprint pinned); from then on it is
    known by its announced name, host and port, and the announcer (instance name) heard
    announcing it where it was joined is its own (Sightings.home).
    Every address it is announced at is kept (Sightings, bounded): ``moved_to(address)`` says
    the best one to try elsewhere than ``address``, ``refuted`` drops one a rejoin found not to
    be the room, ``joined`` starts afresh once it was rejoined. Over TLS, until the room is known,
    an announcement of the fingerprint pinned on the port joined is kept too, never learnt from. It listens (a browser, woken by
    the room's own re-announcement, at most every LOOK_GAP_SECONDS) on a thread of its own, and
    never raises: without multicast DNS it just never knows anything.

    ``own_addresses`` reads this machine's addresses (netinfo.lan_addresses): when they change
    (the student's laptop moved to another Wi-Fi, or got a new lease) zeroconf, whose sockets
    are bound to the old ones, is opened afresh, and ``networks`` (the networks we are on, for
    pick_address) read again. Without it the watch listens where it started, for good."""

    def __init__(self, *, address: str, port: int, fingerprint: str | None, networks: Callable[[], Iterable] = tuple,
                 own_addresses: Callable[[], list[str]] | None = None, clock: Callable[[], float] = time.monotonic,
                 found: RoomInfo | None = None, learned: Callable[[RoomInfo], None] | None = None) -> None:  # fmt: skip
        self.address = address
        # told the room, once, when its first look recognises it (not when ``found``: joined by its
        # name already): over TLS, the name it is announced by, for the certificate pinned. Anyone
        # can announce another name at that address, port and certificate: a look that hears two
        # there tells neither (looked), else a name eve chose held the room's certificate
        # and the real room of that name was refused as changed.
        self.learned = learned
        self._learning: RoomInfo | None = None  # recognised in this look, told at its end
        self.port = port
        self.fingerprint = fingerprint
        self._read_networks, self._own_addresses, self._clock = networks, own_addresses, clock
        self.networks: list = []
        self.identity: tuple[str, str, int, str | None] | None = None  # (name, host, port, fingerprint)
        # The room as discovery found it (`lanchat connect` with no address, or a room's name):
        # known by its announcement from the start. Else the watch's own first look learns it,
        # and a room that moved before that look (its answer rate-limited, a second after the
        # browse's) was never recognised at its new address: the student stayed at the old one.
        if found is not None and found.port == port and found.fingerprint == fingerprint and address in found.addresses:
            self.identity = (found.name, found.host, found.port, found.fingerprint)
        self.sightings = Sightings()
        self._lock = threading.Lock()  # sightings: heard on the watch's thread, tried on the rejoin's
        self.silent = SilentNames()
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lanchat-roomwatch", daemon=True)

    def start(self) -> None:
        start_thread(self._thread)

    def matches(self, room: RoomInfo) -> bool:
        """Is ``room`` the one joined? Before it is known: announced at the address joined."""
        if room.port != self.port or room.fingerprint != self.fingerprint:
            return False
        if self.identity is None:
            return self.address in room.addresses
        name, host, port, fingerprint = self.identity
        if (room.host, room.port, room.fingerprint) != (host, port, fingerprint):
            return False
        # Announcing itself again (moved), a room whose name another announces meanwhile is
        # renamed "NAME-2" (multicast DNS's probe), and anyone can cause that. Over TLS the
        # certificate pinned proves the room on connecting, so that name is still it; without,
        # "lab room-2" may be another machine of one school image, on the same port.
        return room.name == name or (fingerprint is not None and re.fullmatch(re.escape(name) + r"-\d+", room.name) is not None)

    def heard(self, announcer: str, room: RoomInfo) -> None:
        """``announcer`` (an instance name) announces ``room``: kept if it is the room followed."""
        with self._lock:
            if not self.matches(room):
                if self._learning is not None and self.address in room.addresses and room.port == self.port \
                        and room.fingerprint == self.fingerprint:  # another name where it was joined: whose?
                    self.learned = self._learning = None
                if self.identity is None and self.fingerprint is not None and (room.port, room.fingerprint) == (self.port, self.fingerprint):
                    # Over TLS, before the room is known: a move right after joining (before the
                    # watch's first look heard it where it was joined) is still followed. Kept, never
                    # learnt from (anyone may announce the fingerprint under any name): the
                    # certificate pinned proves the room on rejoining, and a false one is refuted.
                    self.sightings.heard(announcer, pick_address(room, self.networks))
                return
            if self.identity is None:
                self.identity = (room.name, room.host, room.port, room.fingerprint)
                self._learning = room if self.learned is not None else None
            if self.sightings.home is None and self.address in room.addresses:  # its own: where it was joined
                self.sightings.home = announcer
            self.sightings.heard(announcer, pick_address(room, self.networks))

    def looked(self) -> None:
        """A look has heard all it holds: the room recognised in it, if no other name was announced
        where it was joined, is told to ``learned`` (outside the lock: it may write a file)."""
        with self._lock:
            room, self._learning = self._learning, None
            learned = self.learned
        if room is not None and learned is not None:
            learned(room)

    def moved_to(self, address: str) -> tuple[str, int] | None:
        """Where to look for the room elsewhere than ``address`` (address, port), or None."""
        with self._lock:
            return self.sightings.next_try(address, self._clock())

    def still_at(self, address: str) -> bool:
        """Is the room still announced at ``address`` by its own announcer (Sightings.still_at)?"""
        with self._lock:
            return self.sightings.still_at(address)

    def refuted(self, where: tuple[str, int], seconds: float = REFUTED_SECONDS) -> None:
        """A rejoin found that the room is not at ``where`` (Sightings.refuted)."""
        with self._lock:
            self.sightings.refuted(where, self._clock(), seconds)

    def joined(self, where: tuple[str, int]) -> None:
        """The room was rejoined at ``where`` (where it was, or where it moved): only what is
        announced from now on counts (Sightings.joined)."""
        with self._lock:
            self.sightings.joined(where)

    def _here(self) -> list[str]:
        return self._own_addresses() if self._own_addresses is not None else []

    def _listen(self) -> _Listening | None:
        """zeroconf opened where this machine is now, and what is known of the rooms started afresh."""
        self.networks = list(self._read_networks())
        self.silent = SilentNames()
        try:
            return _Listening(self._changed)
        except Exception:  # noqa: BLE001 - no multicast DNS here (now): the room is rejoined where it was
            return None

    def _run(self) -> None:
        listening: _Listening | None = None
        try:
            here = self._here()
            listening = self._listen()
            if listening is None and self._own_addresses is None:
                return  # no multicast DNS here, and no move will change that
            while not self._stop.is_set():
                self._changed.wait(WATCH_SECONDS)
                self._changed.clear()
                if self._stop.is_set():
                    break
                now = self._here()
                if addresses_moved(here, now):  # this machine moved: zeroconf's sockets are bound to the old addresses
                    here = now
                    if listening is not None:
                        listening.close()
                    listening = self._listen()
                if listening is not None:
                    self._look(listening.zeroconf, listening.names.now())
                # a flood of announcements (thousands a second) sets ``_changed`` all the time:
                # one look reads all that is held, so more than one per gap would only keep us busy
                self._stop.wait(LOOK_GAP_SECONDS)
        except Exception:  # noqa: BLE001, S110 - a courtesy: the rejoin goes on without it
            pass
        finally:
            if listening is not None:
                listening.close()

    def _look(self, zeroconf, names: list[str]) -> None:  # noqa: ANN001
        """Read every room held (names heard answering first) and keep where this one is announced.
        Its own announcer is read first, and asked for first when its records are gone (a flood
        of others' fills zeroconf's cache, which then drops the oldest): names by the thousand
        ahead of it use up neither the names read nor the time to ask."""
        deadline = self._clock() + WATCH_SECONDS
        for name, room in _rooms(zeroconf, names, deadline, self.silent, self._clock, first=self.sightings.home):
            self.heard(name, room)
        self.looked()

    def close(self) -> None:
        self._stop.set()
        self._changed.set()
