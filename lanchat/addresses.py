"""addresses.py: what a person types as an address, and which of this machine's addresses to offer first. Pure.

No sockets, no files: the interfaces and routes are read by netinfo.py and passed in, so the
rules here are tested with plain data (tests/test_addresses.py).
"""

from __future__ import annotations

import contextlib
import ipaddress
from dataclasses import dataclass, field

DEFAULT_PORT = 3580  # seed 001; transport.DEFAULT_PORT is this same number


class AddressProblem(ValueError):
    """What the person typed is not an address we can connect to; the message says why in one line.

    ``meant``: the place the words were likely meant for, when that is plain (a host and its port
    joined by a comma, ``ann@`` before the host, a web address), and ``name``: the chat name typed
    before an ``@``. The command line says them back as a command to run (cli/connect.py)."""

    def __init__(self, text: str, *, meant: Target | None = None, name: str | None = None) -> None:
        super().__init__(text)
        self.meant = meant
        self.name = name


@dataclass(frozen=True)
class Target:
    """A host and port to connect to."""

    host: str
    port: int
    port_given: bool = field(default=True, compare=False)  # False: DEFAULT_PORT, as nobody said which

    def __str__(self) -> str:
        return join_host_port(self.host, self.port)


def join_host_port(host: str, port: int) -> str:
    """``1.2.3.4:3580``, ``[::1]:3580``: the form lanchat prints and accepts back."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def peer_text(host: str, port: int) -> str:
    """A connected peer as lanchat shows it: ``127.0.0.1:50312``, ``[::1]:50312``. An IPv4
    client of a dual-stack listener arrives as ``::ffff:127.0.0.1``: shown as the IPv4 it is."""
    if host.startswith("::ffff:"):  # (only then: every accept comes here, a storm's too)
        with contextlib.suppress(ValueError):
            mapped = ipaddress.IPv6Address(host.split("%", 1)[0]).ipv4_mapped
            if mapped is not None:
                host = str(mapped)
    return join_host_port(host, port)


def _shown(text: str, most: int = 12) -> str:
    """``text`` quoted for a message, its start only when long (a port of 5,000 digits)."""
    from .textsafe import quoted  # (as the command line, cli/, quotes what was typed: a byte not in UTF-8 as \xe9)

    return quoted(text) if len(text) <= most else f"{quoted(text[:most])}... ({len(text)} characters)"


def port_digits(text: str) -> bool:
    """Is ``text`` a port as a person types one: ASCII digits only. int() also takes spaces
    around them, a sign, underscores and any script's digits ("８０", "٨٠"), none of which a
    port is written with anywhere else (a URL, ss, a firewall rule)."""
    return text.isascii() and text.isdigit()


def port_text_problem(text: str) -> str:
    """What to add to the line refusing ``text`` as a port (not port_digits): how it differs
    from one, where that helps (": use the digits 0-9"); else ""."""
    if text != text.strip() and port_digits(text.strip()):
        return ": it has spaces around it"
    if text.isdecimal() and not text.isascii():
        return ": use the digits 0-9"
    return ""


def _port_number(text: str, where: str) -> int:
    if not port_digits(text) or len(text) > 5:
        raise AddressProblem(f"{_shown(text)} {where} is not a port number (1-65535){port_text_problem(text)}")
    port = int(text)
    if port == 0:
        raise AddressProblem(
            "port 0 cannot be joined: it only asks `serve` to pick a free port; use the port `serve` printed"
        )
    if port > 65535:
        raise AddressProblem(f"port {port} is out of range (1-65535)")
    return port


def _is_ipv6(text: str) -> bool:
    """An IPv6 literal, with a zone (``fe80::1%eth0``) or without; a zone never holds a ':'."""
    address, _, zone = text.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return ":" not in zone


def meant_as_an_address(host: str) -> bool:
    """Is ``host`` typed as a numeric address, mistyped maybe? IPv6 (a colon, a zone), digits and
    dots ("192.168.1.256", "192.168..1.20"), or an IPv4 address with a typo in it. Such a host is
    never taken for a room's name (`lanchat connect friends`): a typo is said at once, no room is
    looked for."""
    return ":" in host or "%" in host or not host.strip("0123456789.") or looks_like_ipv4(host)


def looks_like_ipv4(text: str) -> bool:
    """Three parts or more, mostly digits, between dots or commas: an IPv4 address, mistyped
    maybe ("192.168.1.2O" with a letter O, "192,168,1,20"); not "pc12.lab3.school" nor "3.14"."""
    parts = text.replace(",", ".").split(".")
    digits = sum(character.isdigit() for character in text)
    return len(parts) >= 3 and 2 * digits >= len(text) - (len(parts) - 1)


def _zone_missing(host: str, interfaces: tuple[str, ...]) -> str:
    """What a link-local address typed without its %zone lacks, with this machine's own interfaces:
    the example was always ``%eth0``, which most machines (enp0s3, wlp2s0) have not."""
    names = [name for name in interfaces if name != "lo"]
    if len(names) == 1:  # (two laptops and a cable: the one there is)
        return (f"{host} is a link-local address: it needs this machine's interface it is reached by: "
                f"{host}%{names[0]} (`lanchat connect` with no address finds such a room by itself)")
    example, ours = (names[0], f"; this machine's: {', '.join(names)}") if names else ("eth0", "")
    return (f"{host} is a link-local address: it needs this machine's interface it is reached by, e.g. {host}%{example} "
            f"(the one on the host's network{ours}; `ip -br addr` lists them; `lanchat connect` with no address finds "
            "such a room by itself)")


def split_host_port(text: str) -> tuple[str, int | None]:
    """Split ``HOST``, ``HOST:PORT``, ``[IPV6]``, ``[IPV6]:PORT`` or a bare IPv6 literal.

    A bare IPv6 literal (two colons or more, no brackets) is all host: ``::1`` is never read
    as host ``:`` port 1. Raises AddressProblem with one clear line.
    """
    text = text.strip()
    if not text:
        raise AddressProblem("the address is empty")
    if (read := _wide_digits_read(text)) is not None:  # checked as the system will read it; taken as typed
        try:
            _written_otherwise(read)
        except AddressProblem as problem:
            raise AddressProblem(f"{text!r} is read as {read!r} (wide digits or dots, as an input method types them): {problem}",
                                 meant=problem.meant, name=problem.name) from None  # fmt: skip
    _written_otherwise(text)
    if any(char.isspace() for char in text):  # the port (or a whole nc line) pasted into one quoted word
        words = text.split()
        like = f"{words[-2]} {words[-1]}" if len(words) >= 2 and words[-1].isdecimal() else "192.168.1.20 3580"
        raise AddressProblem(f"{text!r} holds a space: the host and the port are two words, e.g. `lanchat connect {like}`")
    if text.endswith("/") and text.rstrip("/") and "/" not in text.rstrip("/") and not text.startswith((".", "~")):
        text = text.rstrip("/")  # 192.168.1.20:3580/ copied from a browser's address bar: no path there
    if "/" in text:  # no host name or address has one: a socket file's path
        raise AddressProblem(f"{text!r} is a path, not a host: a socket file is joined with `lanchat connect --unix {text}`")
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise AddressProblem(f"{text!r} has '[' without a closing ']'")
        host, rest = text[1:close], text[close + 1 :]
        if not host:
            raise AddressProblem(f"{text!r} has nothing between the brackets")
        if rest and (not rest.startswith(":") or rest == ":"):
            raise AddressProblem(f"{text!r}: after ']' comes ':PORT', e.g. [::1]:3580")
        if ":" not in host:  # an IPv4 address (or a name) in brackets: checked as written without them
            return split_host_port(host + rest)  # ([127.0.0.010]:3580 went past the checks to 127.0.0.8)
        return host, (_port_number(rest[1:], f"after {host!r}") if rest else None)
    if "]" in text:
        raise AddressProblem(f"{text!r} has ']' without an opening '['")
    if text.count(":") >= 2:
        if _is_ipv6(text):
            return text, None  # a bare IPv6 literal such as ::1 or fe80::1%eth0
        head, _, tail = text.rpartition(":")
        if tail.isdigit() and _is_ipv6(head):
            raise AddressProblem(f"{text!r}: an IPv6 address with a port goes in brackets: [{head}]:{tail}")
        raise AddressProblem(f"{text!r} is neither HOST:PORT nor an IPv6 address", **_meant_at(":".join(text.split(":")[:2])))
    if ":" in text:
        host, _, port_text = text.partition(":")
        if not host:
            raise AddressProblem(f"{text!r} has a port but no host")
        if not port_text:
            raise AddressProblem(f"{text!r} ends with ':' but no port")
        return host, _port_number(port_text, f"after {host!r}")
    return text, None


def _wide_digits_read(text: str) -> str | None:
    """``text`` as the name server reads it, if it is digits, dots and colons written wide
    (１９２.１６８.１.２０, or 192。168。1。20: a Chinese or Japanese input method's), else None.
    Python hands such a host to the system in its compatibility form (IDNA), so the checks for a
    number left out or a leading zero (_ipv4_problem, _zeros_left_out) never saw it:
    `connect １２７.０.０.０１０` joined the room at 127.0.0.8, and １９２.１６８.１ was 192.168.0.1."""
    if text.isascii():
        return None
    import unicodedata

    read = unicodedata.normalize("NFKC", text).replace("\u3002", ".")  # (IDNA's label dots: 。 ． ｡)
    return read if read.isascii() and set(read) <= set("0123456789.:") else None


def _written_otherwise(text: str) -> None:
    """AddressProblem, with the place likely meant, for an address written as another tool
    takes it: a link (``http://HOST:PORT/``), ``NAME@HOST``, ``HOST,PORT``, commas for dots
    (``192,168,1,20``), ``HOST:PORT/path`` (a trailing ``/`` alone is taken: split_host_port).
    Nothing for anything else."""
    if "://" in text:
        raise AddressProblem(f"{text!r} is a link: give only the host and the port, as two words",
                             **_meant_at(text.partition("://")[2].partition("/")[0]))
    if "@" in text:  # ssh's user@host: lanchat's name is an option
        user, _, place = text.rpartition("@")
        from .names import name_problem

        if name_problem(user) is None:
            # (no word of --name: doctor and forget have none; connect's "did you mean" puts it there)
            raise AddressProblem(f"{text!r} is no address: the name before '@' is no part of one", **_meant_at(place, user))
    for comma in ",;":  # 127.0.0.1,4000: a host and its port joined by the wrong mark
        head, _, tail = text.rpartition(comma)
        bracketed = f"[{head}]" if ":" in head and not head.startswith("[") else head  # ::1,4000
        if meant_as_an_address(head) and (refused := _port_refused(f"{bracketed}:{tail}")):  # 127.0.0.1,70000
            raise AddressProblem(f"{text!r} is no address: the host and the port are two words, and {refused}")
        if port_digits(tail) and (meant := _meant_at(f"{bracketed}:{tail}")).get("meant") and (
                meant_as_an_address(head) or int(tail) >= 1024):  # Room,2: a room's name, never a system port of host Room
            raise AddressProblem(f"{text!r} is no address: the host and the port are two words", **meant)
    parts = text.split(",")
    for dotted in (".".join(parts), ".".join(parts[:-1]) + ":" + parts[-1]) if len(parts) in (4, 5) else ():
        meant = _meant_at(dotted)
        if meant.get("meant") and looks_like_ipv4(meant["meant"].host) and meant["meant"].host.count(".") == 3:
            raise AddressProblem(f"{text!r} is no address: an address is written with dots, not commas", **meant)
    host = text.rpartition(":")[0] if text.count(":") == 1 else text
    if (unpadded := _zeros_left_out(host)) is not None:
        padded = [part for part in host.split(".") if len(part) > 1 and part[0] == "0" and set(part) <= set("01234567")]
        shown = next((part for part in padded if int(part, 8) != int(part.lstrip("0"))), None)  # (001 reads as 1 either way; int() of 4,300 zeros raised)
        octal = f" ({shown} as {int(shown, 8)})" if shown is not None else ""
        raise AddressProblem(f"{text!r} is no address as written: the system reads a number that begins with 0 as octal{octal}, "
                             "another machine's address; write the numbers without their leading zeros",
                             **_meant_at(unpadded + text[len(host):]))  # fmt: skip
    if (problem := _ipv4_problem(host)) is not None:
        raise AddressProblem(f"{text!r} is no address: {problem}")
    head, slash, path = text.partition("/")
    if path.strip("/") and ":" in head and (refused := _port_refused(head)):  # 127.0.0.1:0/chat: no socket file's path
        raise AddressProblem(f"{text!r} is no address: give only the host and the port, as two words; {refused}")
    if path.strip("/") and ":" in head and (meant := _meant_at(head)).get("meant") and meant["meant"].port_given:  # a link without its http://
        raise AddressProblem(f"{text!r} is no address: give only the host and the port, as two words", **meant)


LETTERS_FOR_DIGITS = {"O": "0", "o": "0", "I": "1", "l": "1"}  # typed for a digit: 192.168.1.2O


def _zeros_left_out(host: str) -> str | None:
    """``host``, four numbers of which one begins with 0 (192.168.001.020, as some routers'
    pages show an address), written without the zeros; else None. The system reads such a
    number as octal: `connect 192.168.001.020` joined 192.168.1.16, another machine's room."""
    parts = host.split(".")
    if len(parts) != 4 or not all(part.isascii() and part.isdigit() for part in parts):
        return None
    if not any(len(part) > 1 and part[0] == "0" for part in parts):
        return None
    numbers = [part.lstrip("0") or "0" for part in parts]
    return ".".join(numbers) if all(len(number) <= 3 and int(number) <= 255 for number in numbers) else None


def _ipv4_problem(host: str) -> str | None:
    """Why ``host``, written as an IPv4 address (three dots or more, digits), is none, or None.
    The name server was asked for "256.1.1.1" ("cannot find host"), and "192.168.1", a number
    left out, was taken as 192.168.0.1 (the C library's old shorthand): another machine joined."""
    if not looks_like_ipv4(host):
        return None
    letters = sorted({ch for ch in host if ch not in "0123456789."})
    if letters and not set(letters) <= set(LETTERS_FOR_DIGITS):
        return None  # a name with digits in it (pc12.lab3...): the name server's
    like = "an IPv4 address is four numbers from 0 to 255 between dots, like 192.168.1.20"
    if letters:
        return f"it holds the letter {' and '.join(letters)} where a digit goes ({like})"
    parts = host.split(".")
    if "" in parts:
        return f"two dots in a row, or a dot at an end ({like})"
    if len(parts) != 4:
        return f"it has {len(parts)} numbers ({like})"
    over = next((part for part in parts if len(part) > 3 or int(part) > 255), None)  # (int() refuses 4,300 digits)
    return f"{over[:12]}{'...' if len(over) > 12 else ''} is over 255 ({like})" if over is not None else None


def _port_refused(place: str) -> str | None:
    """Why the port of ``place``, a plain ``HOST:PORT`` (``[IPV6]:PORT``), cannot be joined
    (port 0, out of range), or None: for any other ``place`` too."""
    host, colon, port = place.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not port_digits(port) or not plain_host(host) or (":" in host and not _is_ipv6(host)):
        return None
    try:
        _port_number(port, "")
    except AddressProblem as problem:
        return str(problem)
    return None


def plain_host(text: str) -> bool:
    """An IPv4 or IPv6 literal, or a host name: letters, digits, '-' and '.' only. An IPv6 zone
    too (``eth0``, ``wlp2s0``, ``3``, '_' allowed): "did you mean" prints it, and a zone may hold
    anything, an escape sequence that would drive the terminal included."""
    if _is_ipv6(text):
        return all(char.isascii() and (char.isalnum() or char in "-._") for char in text.partition("%")[2])
    return bool(text) and text[0] not in "-." and all(char.isascii() and (char.isalnum() or char in "-.") for char in text)


def _meant_at(place: str, name: str | None = None) -> dict:
    """AddressProblem's ``meant`` (and ``name``): ``place`` (``HOST``, ``HOST:PORT``...) when it
    is a plain address, else nothing is guessed."""
    try:
        host, port = split_host_port(place)
    except AddressProblem as problem:  # http://ann@10.0.0.5:3580: the name as well
        return {"meant": problem.meant, "name": problem.name}
    if not plain_host(host):
        return {}
    return {"meant": Target(host, port or DEFAULT_PORT, port_given=port is not None), "name": name}


def connect_target(
    host: str | None, port_arg: str | int | None, port_option: int | None, *, interfaces: tuple[str, ...] = ()
) -> Target | None:
    """The place ``lanchat connect HOST PORT --port N`` means, or None when no place was given.

    Accepts ``HOST [PORT]``, ``HOST:PORT``, ``[IPV6]:PORT``, a bare IPv6 literal, and a lone
    number as a port on 127.0.0.1 (seed 001's ``client.py 4000``). Ports given twice must agree;
    port 0 is refused (only ``serve`` may ask for "any free port"). ``interfaces``: this
    machine's network interfaces (netinfo.interface_names), for what a link-local address lacks.
    """
    ports: list[int] = []
    if port_arg is not None:
        ports.append(_port_number(str(port_arg), "(the port)"))
    if port_option is not None:
        ports.append(_port_number(str(port_option), "(--port)"))
    if host is not None and host.strip().isdecimal() and port_arg is None:  # a port, maybe mistyped ("８０", " 80")
        ports.insert(0, _port_number(host, "(the port)"))
        host = "127.0.0.1"
    elif host is not None:
        try:
            host, inline_port = split_host_port(host)
        except AddressProblem as problem:  # the port given besides goes in what was meant
            if problem.meant is not None and not problem.meant.port_given and ports:
                problem.meant = Target(problem.meant.host, ports[0])
            raise
        if inline_port is not None:
            ports.insert(0, inline_port)
    if len(set(ports)) > 1:
        raise AddressProblem(f"two different ports given ({' and '.join(str(p) for p in dict.fromkeys(ports))})")
    if host is not None and _is_ipv6(host) and "%" not in host and ipaddress.IPv6Address(host).is_link_local:
        raise AddressProblem(_zone_missing(host, interfaces))  # the kernel would only say "Invalid argument"
    if host is None and not ports:
        return None
    return Target(host=host or "127.0.0.1", port=ports[0] if ports else DEFAULT_PORT, port_given=bool(ports))


def may_be_a_room_name(problem: AddressProblem, typed: str) -> bool:
    """Is ``typed``, refused as an address written another tool's way, maybe a room's one-word
    name as well (``team@lab``, ``Room,2``: a room may be called anything, and serve prints
    `lanchat connect team@lab-2` for one it renamed)? Only when what was meant is a host name,
    not an address (``ann@10.0.0.5``, ``192,168,1,20``), nor a link or a path."""
    from .discovery import room_name_problem

    meant = problem.meant
    return (meant is not None and not meant_as_an_address(meant.host) and "/" not in typed
            and room_name_problem(typed) is None)


def meant_command(problem: AddressProblem, command: str, name: str | None = None) -> str | None:
    """The command line the mistyped address was likely meant as (``python -m lanchat connect
    127.0.0.1 4000 --name ann``, as serve prints it), or None when nothing plain was meant.
    ``name``: the --name given, else the one typed before an ``@``; None for a command with no
    --name (doctor)."""
    import shlex

    if problem.meant is None:
        return None
    words = ["python", "-m", "lanchat", command, problem.meant.host]
    if problem.meant.port_given:
        words.append(str(problem.meant.port))
    if name is not None:
        words += ["--name", name]
    return " ".join(shlex.quote(word) for word in words)


# ----------------------------------------------------- which address to offer first

# Interfaces people in the room can rarely reach: container and VM bridges, and tunnels.
# Matched on the name's start, the way Linux (and Docker, libvirt, VirtualBox...) name them.
VIRTUAL_PREFIXES = ("docker", "br-", "veth", "virbr", "vboxnet", "vmnet", "lxcbr", "lxdbr", "cni", "flannel",
                    "podman", "cali", "weave", "kube")
VPN_PREFIXES = ("tun", "tap", "wg", "tailscale", "zt", "utun", "ppp", "ipsec", "nordlynx", "proton", "ham", "vpn")


@dataclass(frozen=True)
class LocalAddress:
    """One address of this machine: the interface it is on and what we know about that interface."""

    interface: str
    address: str
    version: int = 4  # 4 or 6
    default_route: bool = False  # the interface carries a default route (the way out)
    up: bool = True

    @property
    def kind(self) -> str:
        """loopback, virtual (a container or VM bridge), vpn, or lan."""
        if self.address.startswith("127.") or self.address == "::1" or self.interface == "lo":
            return "loopback"
        name = self.interface.lower()
        if name.startswith(VIRTUAL_PREFIXES):
            return "virtual"
        if name.startswith(VPN_PREFIXES):
            return "vpn"
        return "lan"

    @property
    def link_local(self) -> bool:
        return self.address.lower().startswith("fe80:") or self.address.startswith("169.254.")


_KIND_ORDER = {"lan": 0, "vpn": 1, "virtual": 2, "loopback": 3}


def rank_addresses(addresses: list[LocalAddress]) -> list[LocalAddress]:
    """This machine's addresses, the one people should type first.

    A LAN interface with the default route first (the way this machine reaches the network is
    the way the class reaches it), then other LAN interfaces, then VPNs, container and VM
    bridges, and loopback last; IPv4 before IPv6 within each; link-local and down interfaces
    are left out (nobody can type ``fe80::1%wlan0`` from another machine).
    """
    usable = [a for a in addresses if a.up and not a.link_local]
    return sorted(
        usable,
        key=lambda a: (_KIND_ORDER[a.kind], not a.default_route, a.version, a.interface, a.address),
    )


def addresses_to_offer(addresses: list[LocalAddress]) -> list[LocalAddress]:
    """Of this machine's addresses (best first), those to print and announce for others to join.

    IPv4 addresses, and the IPv6 addresses of an interface that has no IPv4 address: a LAN with
    IPv6 only is joined by its IPv6 address, while a dual-stack LAN's list stays short (its
    IPv4 address works, and a laptop holds several IPv6 addresses that change).
    """
    with_ipv4 = {a.interface for a in addresses if a.version == 4}
    return [a for a in addresses if a.version == 4 or a.interface not in with_ipv4]


def addresses_to_announce(addresses: list[LocalAddress]) -> list[LocalAddress]:
    """Of all this machine's addresses (link-local too, unranked), those a room is announced with.

    Those offered (addresses_to_offer, less loopback), and the IPv6 link-local address of a
    LAN interface that has no other (two laptops and a cable, a switch without a router): nobody can type one (its zone names the joiner's interface), but
    a joiner who hears the announcement knows the interface it came in by (PROTOCOL.md, Finding rooms).
    """
    offered = [a for a in addresses_to_offer(rank_addresses(addresses)) if a.kind != "loopback"]
    served = {a.interface for a in offered}
    link_local = [a for a in addresses if a.up and a.version == 6 and a.link_local and a.kind == "lan"
                  and a.interface not in served]  # not a container's veth, a VPN's tunnel
    return offered + link_local


def addresses_moved(before: list[str], now: list[str]) -> bool:
    """Did this machine move, from ``before`` to ``now`` (its addresses, as read a moment apart)?
    Compared as sets: the same addresses ranked anew (a cable plugged in beside the Wi-Fi takes
    the default route) are no move. No address at all is none either: between two networks the
    same address may come back, and until another comes nothing can be done there."""
    return bool(now) and set(now) != set(before)


def default_route_interfaces(route_table: str, ipv6_route_table: str = "") -> set[str]:
    """Interfaces with a default route, from the text of /proc/net/route and /proc/net/ipv6_route."""
    found: set[str] = set()
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        # Iface Destination Gateway Flags ... Mask: a default route has destination and mask 0
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            try:
                up = int(fields[3], 16) & 0x1  # RTF_UP
            except ValueError:
                continue
            if up:
                found.add(fields[0])
    for line in ipv6_route_table.splitlines():
        fields = line.split()
        # destination, prefix length, source, source length, next hop, metric, refs, use, flags, iface
        if len(fields) >= 10 and fields[0] == "0" * 32 and fields[1] == "00" and fields[9] != "lo":
            found.add(fields[9])
    return found


def interface_network(address: str, netmask: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The network of an interface address as psutil gives it: ``("2001:db8:1::1",
    "ffff:ffff:ffff:ffff::")`` -> 2001:db8:1::/64. ipaddress takes an IPv4 netmask but an IPv6
    one only as a prefix length (the mask of every IPv6 address was refused: no network was
    found); a scope (``%eth0``) is dropped; None for what is not an address."""
    host = address.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(host)
        if ip.version == 6:
            mask = int(ipaddress.IPv6Address(netmask.split("/", 1)[0]))
            prefix = 128 - ((~mask & (2**128 - 1)).bit_length())
            return ipaddress.ip_interface(f"{host}/{prefix}").network
        return ipaddress.ip_interface(f"{host}/{netmask}").network
    except ValueError:
        return None


def beyond_networks(host: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Is ``host`` an address on none of ``networks`` (this machine's, netinfo.local_networks), so
    reached through a router? Multicast DNS stops there: a room on another network (the class
    next door, behind the school's router) is never announced here. False for what is not an
    address (a name), for loopback and link-local ones (this machine's, or this link's)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
        return False
    return not any(ip.version == network.version and ip in network for network in networks)


def interface_addresses(name: str, addresses: list[LocalAddress], interfaces: set[str]) -> list[LocalAddress] | None:
    """``serve --host eth1``: the addresses of this machine's interface ``name``, best first
    (rank_addresses; an IPv6 link-local one, with its zone, only where it has no other), or None
    when no interface has that name (then it is a host name to look up); ``interfaces``: the
    names of all of them, those without an address too. A teacher with a lab LAN and a second
    network names the interface, as ``tcpdump -i`` takes one; the name server was asked for
    "eth1" instead, and the answer was that no machine has that name."""
    mine = [a for a in addresses if a.interface == name]
    if not mine and name not in interfaces:
        return None
    return rank_addresses(mine) or [a for a in mine if a.up and a.version == 6 and a.link_local]


def networks_note(hosts: list[str], addresses: list[LocalAddress]) -> str | None:
    """A machine on two networks (a lab's cable LAN and the Wi-Fi): which of the addresses ``hosts``
    (offered, best first) is on which interface, for the host to give each class the one on its
    network; None with fewer than two LAN interfaces among them (VPNs and container bridges are
    named as such where they are listed: doctor)."""
    on = {a.address.partition("%")[0]: a for a in addresses}
    shown = [(host, on[host]) for host in hosts if host in on and on[host].kind == "lan"]
    if len({a.interface for _host, a in shown}) < 2:
        return None
    said = ", ".join(f"{host} on {a.interface}{' (default route)' if a.default_route else ''}" for host, a in shown)
    return f"this machine is on {len(shown)} networks: {said}; each class joins by the address on its own network"
