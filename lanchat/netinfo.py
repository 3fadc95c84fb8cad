"""netinfo.py: what this machine's network looks like (interfaces, default routes, who holds a port). Never sends a byte.

An edge: it reads /proc and asks psutil; the rules about what to make of it are in
addresses.py (pure). Every reader here returns an empty answer rather than raising, because
these are courtesies for a banner or `lanchat doctor`, never a reason to stop.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from dataclasses import dataclass

from .addresses import LocalAddress, addresses_to_announce, default_route_interfaces, interface_network, rank_addresses


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def default_routes() -> set[str]:
    """Interfaces that carry a default route (Linux /proc; empty elsewhere, where every_address asks
    transport.route_source)."""
    return default_route_interfaces(_read("/proc/net/route"), _read("/proc/net/ipv6_route"))


def local_addresses() -> list[LocalAddress]:
    """This machine's IPv4 and IPv6 addresses, best first, none link-local (addresses.rank_addresses)."""
    return rank_addresses(every_address())


def lan_addresses() -> list[str]:
    """This machine's addresses on its networks, a link-local one with its zone: those a room is
    announced at (addresses.addresses_to_announce), and those a client listens for rooms from
    (discovery.RoomWatch, to notice when the laptop moved)."""
    return [a.address for a in addresses_to_announce(every_address())]


def every_address() -> list[LocalAddress]:
    """Every IPv4 and IPv6 address of this machine's interfaces, link-local and down ones too, unranked."""
    try:
        import psutil

        interfaces = psutil.net_if_addrs()
        stats = psutil.net_if_stats()
    except Exception:  # noqa: BLE001 - no psutil or no permission: say nothing rather than fail
        return []
    ipv4_table = _read("/proc/net/route")  # Linux's has its header line even with no route at all
    routes = default_route_interfaces(ipv4_table, _read("/proc/net/ipv6_route"))
    if not ipv4_table:  # no /proc (macOS): the interfaces that hold the address the default route sends from
        from .transport import route_source

        sources = {route_source(socket.AF_INET), route_source(socket.AF_INET6)} - {None}
        routes = {name for name, addrs in interfaces.items() if any(a.address.partition("%")[0] in sources for a in addrs)}
    found = []
    for name, addrs in interfaces.items():
        up = stats[name].isup if name in stats else True
        for addr in addrs:
            if addr.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            version = 4 if addr.family == socket.AF_INET else 6
            found.append(
                LocalAddress(interface=name, address=addr.address, version=version, default_route=name in routes, up=up)
            )
    return found


def interface_names() -> set[str]:
    """The names of this machine's network interfaces, those without an address too."""
    try:
        return {name for _index, name in socket.if_nameindex()}
    except OSError:  # (not every system has it)
        return set()


def local_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks this machine's interfaces are on: to pick the announced address we can reach,
    and for limits.AddressGroups (a class on the server's own IPv6 network counts per address)."""
    networks = []
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            for addr in addrs:
                if addr.family in (socket.AF_INET, socket.AF_INET6) and addr.netmask:
                    network = interface_network(addr.address, addr.netmask)
                    if network is not None:
                        networks.append(network)
    except Exception:  # noqa: BLE001 - a courtesy, as above
        return []
    return networks


_LANCHAT_PROGRAMS = frozenset({"lanchat", "lanchat.exe", "lanchat-script.py"})  # its console script


@dataclass(frozen=True)
class PortHolder:
    """A process listening on a TCP port, as far as we may see it."""

    pid: int | None
    name: str | None
    command: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another program (run as root to see which)"
        what = self.name or "a program"
        return f"{what} (pid {self.pid})"

    @property
    def is_lanchat(self) -> bool:
        """A lanchat server (by its command line): a room already running, most likely. The
        program run must be lanchat (``lanchat ...``, ``python -m lanchat ...``), not any command
        that mentions it: a Jupyter started in a lanchat checkout (for its notebooks/) is no room."""
        words = (self.command or "").split()
        if not words or os.path.basename(words[0]) in _LANCHAT_PROGRAMS:
            return bool(words)
        if not os.path.basename(words[0]).startswith("python"):
            return False
        for at, word in enumerate(words[1:], 1):  # the interpreter's options, then what it runs
            if word == "-m":
                return at + 1 < len(words) and words[at + 1].split(".")[0] == "lanchat"
            if not word.startswith("-"):
                return os.path.basename(word) in _LANCHAT_PROGRAMS  # the console script
        return False

    @property
    def tls(self) -> bool:
        """A lanchat server started with --tls: joining it takes `connect --tls`."""
        return "--tls" in (self.command or "").split()


def port_holders(port: int) -> list[PortHolder]:
    """Who listens on TCP ``port`` here; pid None when the system does not tell us."""
    try:
        import psutil

        connections = psutil.net_connections(kind="tcp")
    except Exception:  # noqa: BLE001 - psutil.AccessDenied on some systems
        return []
    holders: dict[int | None, PortHolder] = {}
    for conn in connections:
        if conn.status != "LISTEN" or not conn.laddr or conn.laddr.port != port:
            continue
        name = command = None
        if conn.pid is not None:
            with contextlib.suppress(Exception):
                process = psutil.Process(conn.pid)
                name = process.name()
                command = " ".join(process.cmdline())
        holders[conn.pid] = PortHolder(pid=conn.pid, name=name, command=command)
    return list(holders.values())
