"""transport.py: TCP and AF_UNIX listen/connect, socketpairs and socket options. The only module that makes sockets.

Every socket lanchat opens is made here: listeners, connections, the socketpairs that put the
host and the bots in the room, and the server's wake-up pair; so are the buffer sizes and
TCP_NODELAY. The loops (server.py, client.py, bots.py) only read and write the sockets they are
given. Every failure a user can cause (a port in use, no server there, a bad path) becomes a
TransportError whose message is one clear line, ready to print.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import stat
import struct
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .limits import PEER_GONE
from .textsafe import quoted, visible

DEFAULT_PORT = 3580  # seed 001
LISTEN_BACKLOG = 512
# The socket files listen_unix() created, as path -> (device, inode): on exit we remove a file
# only if it is still the one we made, never one another server has since put at that path.
_OUR_SOCKET_FILES: dict[str, tuple[int, int]] = {}


class TransportError(Exception):
    """A socket operation failed for a reason worth one line to the user. ``refused``: a
    connection was refused (the machine answered: nothing listens there); ``timed_out``: the
    seconds a connect waited for an answer that never came (else None)."""

    def __init__(self, message: str, *, refused: bool = False, timed_out: float | None = None) -> None:
        super().__init__(message)
        self.refused = refused
        self.timed_out = timed_out


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens or a client connects: TCP host+port or an AF_UNIX path."""

    host: str = ""
    port: int = DEFAULT_PORT
    path: str | None = None
    # The addresses ``host`` was found at (lookup.py, bounded and said), connected to in turn
    # instead of asking the resolver again: a slow name server cost each connect (and the TLS
    # retry) its wait once more. The host is still what is shown and what certificates are known by.
    addresses: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    def describe(self) -> str:
        if self.path is not None:
            return self.path
        host = self.host or "*"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


# <linux/in.h>'s IP_MTU_DISCOVER and IP_PMTUDISC_DONT, which Python's socket module does not name.
IP_MTU_DISCOVER, IP_PMTUDISC_DONT = 10, 0


def tune(sock: socket.socket) -> None:
    """Per-connection options: no Nagle delay for TCP, so a short chat line leaves at once; and,
    over IPv4 on Linux, packets a router may split (no_path_mtu_black_hole)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        no_path_mtu_black_hole(sock)
        set_keepalive(sock)


def no_path_mtu_black_hole(sock: socket.socket) -> None:
    """A student whose network reaches the room through a smaller hop (a school's tunnel, a VLAN
    over a VPN: 1280 bytes) behind a firewall that drops ICMP "fragmentation needed" is behind a
    path-MTU black hole: Linux sends full-size packets marked "do not fragment", the router drops
    them and its message saying so never arrives. Small packets pass, so the connection is made,
    and then the welcome, a history page and a file never came ("connected, but the server said
    nothing in time"). Without the mark the router splits such a packet and it arrives; where no
    hop is smaller, nothing changes. macOS and Windows find a black hole by themselves; Linux only
    if the system is told to (net.ipv4.tcp_mtu_probing), hence this. IPv6 routers never split:
    there only that setting helps (README, Beyond one network)."""
    if sock.family == socket.AF_INET and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)


# A peer that vanished (a laptop closed, a cable pulled) sends no FIN: without these its
# connection, and its name, would be held for hours. Idle for 20 s, then a probe every 10 s,
# given up after 4 unanswered: noticed within a minute. TCP_USER_TIMEOUT covers the other
# case, data sent and never acknowledged, with the same minute.
KEEPALIVE_IDLE_SECONDS = 20
KEEPALIVE_INTERVAL_SECONDS = 10
KEEPALIVE_PROBES = 4
USER_TIMEOUT_SECONDS = 60


# A room announced at another address (its host got a new lease): is the connection still
# alive? Probed after 1 s of quiet, every second, given up after 2 unanswered, and data sent
# unacknowledged for 5 s ends it. A peer that is there answers (on a LAN, in milliseconds) and
# nothing changes, so a false announcement cannot end a chat.
QUICK_KEEPALIVE = (1, 1, 2, 5)
# The turn holder's connection, in a turn-based room (holder_watch.py): the class waits on it, so
# a vanished laptop is found within about 10 s, not a minute: probed after 2 s of quiet, every 2 s,
# and ended once nothing came back for 10 s (TCP_USER_TIMEOUT: Linux then ends a connection whose
# probes go unanswered that long after the last byte heard). A Wi-Fi hiccup shorter is ridden out.
HOLDER_KEEPALIVE = (2, 2, 3, 10)


def set_keepalive(sock: socket.socket, *, quick: bool = False, holder: bool = False) -> None:
    """TCP keepalive on ``sock`` so a half-open peer is noticed (where the platform allows),
    with the module's numbers (read at each call, so a test can shorten them); ``quick``: the
    connection is in doubt, find out within seconds (QUICK_KEEPALIVE); ``holder``: the turn
    holder's, which a room waits on (HOLDER_KEEPALIVE). Not on a socket file or a socketpair."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    idle, interval, probes, unacknowledged = (
        QUICK_KEEPALIVE if quick else HOLDER_KEEPALIVE if holder
        else (KEEPALIVE_IDLE_SECONDS, KEEPALIVE_INTERVAL_SECONDS, KEEPALIVE_PROBES, USER_TIMEOUT_SECONDS)
    )  # fmt: skip
    options = [
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        # macOS names the idle time TCP_KEEPALIVE (Python 3.10+); without it, two hours
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None)), idle),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPINTVL", None), interval),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPCNT", None), probes),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_USER_TIMEOUT", None), unacknowledged * 1000),
    ]
    for level, option, value in options:
        if option is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(level, option, value)


def peer_user(sock: socket.socket) -> int | None:
    """The user id of the process at the other end of ``sock``, a connection from this machine
    (a socket file, or TCP over loopback); None when the system does not say (not Linux, a peer
    elsewhere, a peer gone). A lab server's class all joins from this machine: each user is a
    person there (gate.py counts the names they claim by it, moderation.py holds bans by it)."""
    return peer_users([sock])[0]


def peer_users(socks: Sequence[socket.socket | None]) -> list[int | None]:
    """``peer_user`` of each of ``socks`` (None: a connection already closed). The kernel is
    asked for each peer's socket by its addresses (``sock_diag_users``: microseconds each); what
    it does not answer (no sock_diag here, a peer gone) is looked up in /proc/net/tcp and tcp6,
    each read at most once for them all (``users_in_tables``): a /ban that asks about a whole
    lab class reads them once, not once a student."""
    peers: dict[int, Peer] = {}
    answered = peer_users_at_once(socks, peers)
    answered.update(users_in_tables({at: peer for at, peer in peers.items() if at not in answered}))
    return [answered.get(at) for at in range(len(socks))]


def peer_users_at_once(socks: Sequence[socket.socket | None], peers: dict[int, Peer] | None = None) -> dict[int, int | None]:
    """What the kernel says at once of ``socks``' peers, by position: a socket file's user as it
    recorded it at connect (SO_PEERCRED), a TCP peer's as sock_diag answers (microseconds); a
    TCP peer it does not answer is left out, never looked up in /proc's tables, whose read costs
    milliseconds (a join on a lab server asks this: gate.Gate.joined). ``peers``, if given,
    receives the TCP peers asked about (for ``peer_users`` to look the rest up)."""
    answered: dict[int, int | None] = {}
    peers = {} if peers is None else peers
    for at, sock in enumerate(socks):
        if sock is None:
            continue
        if sock.family == socket.AF_UNIX:
            answered[at] = _socket_file_peer_user(sock)
        elif (peer := _peer_of(sock)) is not None:
            peers[at] = peer
    answered.update(sock_diag_users(peers))
    return answered


def account_at_once(sock: socket.socket) -> int | None:
    """The Unix user at the other end of ``sock`` if it is on this machine (the socket file,
    loopback, or this machine's own address) and the kernel says at once (SO_PEERCRED,
    sock_diag: microseconds, never /proc's tables); ``PEER_GONE`` for a TCP connection whose
    other end was closed or reset before the accept (no process holds it: its user is no longer
    said); None for a peer elsewhere, or not said (no sock_diag). Read at each accept (arrival),
    for the connection caps per account (guard.Guard.admit) and the gate's."""
    if sock.family == socket.AF_UNIX:
        return _socket_file_peer_user(sock)
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    peer = _peer_of(sock)
    if peer is None:
        return PEER_GONE  # reset before the accept (the guard counts it so only from this machine)
    # Asked of every peer, not only loopback's and our own address's: a student on a lab server
    # who dials one of its addresses from another of them (its second LAN address, docker0's,
    # an IPv6 one) is on this machine too; the kernel finds their socket here (arrival).
    said = sock_diag_users({0: peer})
    return None if not said else PEER_GONE if said[0] is None else said[0]


def arrival(sock: socket.socket) -> tuple[bool, int | None]:
    """At an accept, for the gate and the connection caps: is the peer on this machine by a
    network address (from_this_machine, or one of this machine's other addresses: the kernel
    knows its socket, account_at_once), and its account. A script on a lab server that dialled
    the room's address from each of the server's other addresses in turn (10.0.0.5 from
    10.0.1.5, 172.17.0.1, fd00::5...) was a machine on the network at each: fifteen wrong
    passwords more at each, never counted as its user."""
    account = account_at_once(sock)
    return from_this_machine(sock) or (account is not None and account >= 0), account


@dataclass(frozen=True)
class Peer:
    """A TCP connection from this machine as its peer's socket has it: its own address and port,
    and ours (an IPv4 peer of a dual-stack listener as IPv4)."""

    family: int
    host: str
    port: int
    our_host: str
    our_port: int


def _peer_of(sock: socket.socket) -> Peer | None:
    """``sock``'s peer, or None: not TCP, or not connected any more."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        peer, own = sock.getpeername(), sock.getsockname()
    except OSError:
        return None
    family, peer_host, own_host = sock.family, peer[0], own[0]
    if family == socket.AF_INET6 and peer_host.startswith("::ffff:") and own_host.startswith("::ffff:"):
        family, peer_host, own_host = socket.AF_INET, peer_host[7:], own_host[7:]  # an IPv4 peer of a dual-stack listener
    return Peer(family, peer_host.split("%", 1)[0], peer[1], own_host.split("%", 1)[0], own[1])


# sock_diag (netlink, Linux): the kernel finds the one socket asked for by its addresses and
# ports and says whose it is, as `ss` asks it; /proc/net/tcp instead writes out every socket of
# the machine at each read (2-4 ms with 2,000 of them). The structures of linux/netlink.h and
# linux/inet_diag.h: a request (inet_diag_req_v2) and its answer (inet_diag_msg), each after a
# netlink header; addresses and ports in network order, the rest in the machine's.
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NETLINK_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence number, port id
_DIAG_REQUEST = struct.Struct("=BBBxI")  # family, protocol, extensions asked, (pad), states
_DIAG_SOCKET = struct.Struct("!HH16s16s")  # the socket: its port, the remote port, its address, the remote
_DIAG_REST = struct.Struct("=III")  # the interface (0: any), and the cookie (none: all ones)
_DIAG_USER = struct.Struct("=II")  # the answer's uid and inode: after family, state, timer,
_DIAG_USER_AT = _NETLINK_HEADER.size + 4 + 48 + 12  # retransmits, the socket and three counters
_TCP_LISTEN = 10  # an answer's state (linux/tcp_states.h)


def sock_diag_users(peers: Mapping[int, Peer]) -> dict[int, int | None]:
    """The kernel's answer (sock_diag) for each of ``peers``, by key: the user of the peer's
    socket, or None for one no process holds (a TIME_WAIT's user 0, inode 0, as in
    ``users_in_table``). Those it does not answer (no sock_diag on this system, no such socket)
    are left out."""
    answered: dict[int, int | None] = {}
    if not peers or not hasattr(socket, "AF_NETLINK"):
        return answered
    try:
        netlink = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
    except OSError:
        return answered
    with netlink:
        netlink.setblocking(False)  # the kernel answers within send(); never wait for it
        for number, (at, peer) in enumerate(peers.items(), start=1):
            reply = _ask_sock_diag(netlink, number, peer)
            if reply is not None and len(reply) >= _DIAG_USER_AT + _DIAG_USER.size and _is_the_peers(reply, peer):
                uid, inode = _DIAG_USER.unpack_from(reply, _DIAG_USER_AT)
                answered[at] = None if (uid, inode) == (0, 0) else uid
    return answered


def _is_the_peers(reply: bytes, peer: Peer) -> bool:
    """Is sock_diag's answer the connection asked about, with our port as its remote? Where no
    connection has the asked addresses and ports, the kernel falls back to a listening socket on
    the peer's port (as a SYN would find it): a machine elsewhere that dialled from port 3580 (the
    room's own) or 22 was answered with the server's user, or root's, and counted as this machine."""
    state = reply[_NETLINK_HEADER.size + 1]
    port, remote_port, _address, _remote = _DIAG_SOCKET.unpack_from(reply, _NETLINK_HEADER.size + 4)  # (as asked: _ask_sock_diag)
    return state != _TCP_LISTEN and (port, remote_port) == (peer.port, peer.our_port)


def _ask_sock_diag(netlink: socket.socket, number: int, peer: Peer) -> bytes | None:
    """One sock_diag question, numbered ``number``: the answer about ``peer``'s socket, or None
    (an error: no such socket, or no sock_diag for TCP here)."""
    addresses = (socket.inet_pton(peer.family, peer.host), socket.inet_pton(peer.family, peer.our_host))
    body = (_DIAG_REQUEST.pack(peer.family, socket.IPPROTO_TCP, 0, 0xFFFFFFFF)
            + _DIAG_SOCKET.pack(peer.port, peer.our_port, *addresses) + _DIAG_REST.pack(0, 0xFFFFFFFF, 0xFFFFFFFF))  # fmt: skip
    try:
        netlink.send(_NETLINK_HEADER.pack(_NETLINK_HEADER.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, number, 0) + body)
        while True:  # an answer to an earlier question left unread is passed over
            reply = netlink.recv(8192)
            if len(reply) < _NETLINK_HEADER.size:
                return None
            _length, kind, _flags, answers, _port = _NETLINK_HEADER.unpack_from(reply)
            if answers == number:
                return reply if kind == _SOCK_DIAG_BY_FAMILY else None
    except OSError:  # BlockingIOError: no answer
        return None


def users_in_tables(peers: Mapping[int, Peer]) -> dict[int, int | None]:
    """Each of ``peers`` looked up in /proc/net/tcp (tcp6), each table read at most once for
    all, and only as far as the last row asked for: the user of the peer's socket, by key; a
    peer not found is None. Nothing when there is no /proc (not Linux)."""
    asked: dict[str, dict[tuple[str, str], list[int]]] = {}  # table -> the peer's row -> keys
    for at, peer in peers.items():
        table = "/proc/net/tcp6" if peer.family == socket.AF_INET6 else "/proc/net/tcp"
        row = (_proc_net_address(peer.family, peer.host, peer.port), _proc_net_address(peer.family, peer.our_host, peer.our_port))
        asked.setdefault(table, {}).setdefault(row, []).append(at)
    users: dict[int, int | None] = {}
    for table, rows in asked.items():
        try:
            with open(table, encoding="ascii") as lines:
                found = users_in_table(lines, rows)
        except (OSError, ValueError):
            continue  # no such table (IPv6 off, no /proc): not known
        users.update((at, found.get(row)) for row, keys in rows.items() for at in keys)
    return users


def users_in_table(lines: Iterable[str], wanted: Collection[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Of /proc/net/tcp's (or tcp6's) ``lines``, the user id of each ``wanted`` row, named by
    its (local address, remote address) as the table writes them (``_proc_net_address``).
    Reading stops once all are found. A socket its process closed stays a while: until it
    becomes a TIME_WAIT (or a FIN_WAIT2 left alone) its row keeps the user; after, the kernel
    writes user 0 and inode 0, which is not root but nobody: not counted, as a row not there
    or not readable is not."""
    found: dict[tuple[str, str], int] = {}
    for line in lines:
        fields = line.split(None, 3)  # number, local, remote, the rest: only a row asked for is split further
        if len(fields) < 4 or (row := (fields[1], fields[2])) not in wanted:
            continue
        rest = fields[3].split()  # state, queues, timer, retransmits, uid, timeout, inode, ...
        if len(rest) > 6 and rest[4].isdigit() and rest[6].isdigit() and (rest[4], rest[6]) != ("0", "0"):
            found[row] = int(rest[4])
            if len(found) == len(wanted):
                break
    return found


def _socket_file_peer_user(sock: socket.socket) -> int | None:
    """The user of an AF_UNIX peer, as the kernel recorded it at connect (SO_PEERCRED)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    except OSError:
        return None
    return uid


def _proc_net_address(family: int, host: str, port: int) -> str:
    """``127.0.0.1``, 50312 as /proc/net/tcp writes it: the address's 32-bit words each in this
    machine's byte order, in hex, then the port: ``0100007F:C4A8`` on a little-endian machine."""
    packed = socket.inet_pton(family, host)
    words = [int.from_bytes(packed[at : at + 4], "big") for at in range(0, len(packed), 4)]
    text = "".join(f"{int.from_bytes(word.to_bytes(4, 'big'), sys.byteorder):08X}" for word in words)
    return f"{text}:{port:04X}"


def from_this_machine(sock: socket.socket) -> bool:
    """Is ``sock`` a TCP connection from this machine to one of its own network addresses (a
    student on a lab server who joined by the room's announced LAN address, not loopback)? The
    peer's address is then the server's own, shared by everyone logged in there. (True over
    loopback too, which is this machine anyway.)"""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        return sock.getpeername()[0] == sock.getsockname()[0]
    except OSError:
        return False


def on_the_network(sock: socket.socket) -> bool:
    """Is ``sock`` a TCP connection through a network interface (not AF_UNIX, not loopback)?
    Only such a connection can be left behind by an address change."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        own = sock.getsockname()[0]
    except OSError:
        return False
    return not (own.startswith("127.") or own in ("::1", "::ffff:127.0.0.1") or own.startswith("::ffff:127."))


def left_behind(sock: socket.socket) -> bool:
    """Whether this machine no longer holds ``sock``'s own address, and holds another of its
    kind: a laptop back on the Wi-Fi with a new address. The old connection can never carry a
    byte again, yet TCP says so only after USER_TIMEOUT_SECONDS. False for AF_UNIX, for
    loopback, and while the machine has no network at all: the same address may come back,
    and with it the connection."""
    if not on_the_network(sock):
        return False
    try:
        own = sock.getsockname()
    except OSError:
        return False
    with socket.socket(sock.family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((own[0], 0, *own[2:]))  # binding to an address the machine lost fails
            return False
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                return False
    from .netinfo import local_addresses  # lazily: only a client whose address went needs it

    version = 4 if sock.family == socket.AF_INET else 6
    return any(a.version == version and a.kind != "loopback" for a in local_addresses())


def route_source(family: int) -> str | None:
    """The address this machine sends from to a far-away one, so the default route's own, or None
    without such a route: a UDP socket's connect() only picks the route and sends nothing. The
    far address is a documentation one (RFC 5737, RFC 3849), never a real peer."""
    far = "192.0.2.1" if family == socket.AF_INET else "2001:db8::1"
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((far, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return None


def set_send_buffer(sock: socket.socket, size: int) -> None:
    """Cap the kernel's send buffer (SO_SNDBUF): left to autotune, a download's buffer grows to
    megabytes of file data that a chat line would wait behind."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


_TCP_INFO_RTT = struct.Struct("=I")  # struct tcp_info's tcpi_rtt (microseconds), after 8 bytes and 15 u32s
_TCP_INFO_RTT_OFFSET = 68


def _tcp_info(sock: socket.socket, needed: int) -> bytes | None:
    """The kernel's struct tcp_info of a TCP connection (Linux TCP_INFO), at least ``needed``
    bytes of it, or None where there is none to read (AF_UNIX, another system, a closed socket)."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, option, 104)
    except OSError:
        return None
    return info if len(info) >= needed else None


def round_trip_seconds(sock: socket.socket) -> float | None:
    """The kernel's smoothed round-trip time of a TCP connection (_tcp_info), or None."""
    info = _tcp_info(sock, _TCP_INFO_RTT_OFFSET + 4)
    return None if info is None else _TCP_INFO_RTT.unpack_from(info, _TCP_INFO_RTT_OFFSET)[0] / 1e6


# struct tcp_info (Linux): tcpi_probes is its 4th byte; tcpi_unacked (segments sent, not yet
# acknowledged) a u32 at 24; tcpi_last_ack_recv (ms since the peer last acknowledged) at 56.
_TCP_INFO_PROBES, _TCP_INFO_UNACKED, _TCP_INFO_LAST_ACK = 3, 24, 56


def unacknowledged_seconds(sock: socket.socket) -> float | None:
    """Seconds since the peer last acknowledged anything while some of what it was sent is
    outstanding (0.0: nothing is), from the kernel (_tcp_info); None where it does not say.
    Growing while data waits: the link is gone."""
    info = _tcp_info(sock, _TCP_INFO_LAST_ACK + 4)
    if info is None:
        return None
    unacked = int.from_bytes(info[_TCP_INFO_UNACKED : _TCP_INFO_UNACKED + 4], sys.byteorder)
    if not unacked and not info[_TCP_INFO_PROBES]:  # a zero window's probes, unanswered, count too
        return 0.0
    return int.from_bytes(info[_TCP_INFO_LAST_ACK : _TCP_INFO_LAST_ACK + 4], sys.byteorder) / 1000


_SO_NWRITE = 0x1024  # macOS's getsockopt: the bytes of the send buffer not yet acknowledged


def unacknowledged_bytes(sock: socket.socket) -> int | None:
    """What this end wrote that the peer has not taken yet (TCP: not acknowledged, or not sent;
    AF_UNIX: not read), from the kernel (Linux's SIOCOUTQ, macOS's SO_NWRITE); None where it
    cannot tell. Falling, the link moves: a live room behind a slow upload (liveness.py)."""
    try:
        if sys.platform == "darwin":  # first: its termios has a TIOCOUTQ too, a tty's, which a socket refuses
            return int(sock.getsockopt(socket.SOL_SOCKET, _SO_NWRITE))
        import fcntl
        import termios

        request = getattr(termios, "TIOCOUTQ", None)  # Linux's SIOCOUTQ has the same number
        if request is not None:
            return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0"))[0])
    except (ImportError, OSError, ValueError):
        pass
    return None


def set_receive_buffer(sock: socket.socket, size: int) -> None:
    """Cap the kernel's receive buffer (SO_RCVBUF), for the same reason at the reading end."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def local_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected stream sockets in this process: one end for the host or a bot, the other
    adopted by the server (Server.add_local)."""
    return socket.socketpair()


def wake_pair() -> tuple[socket.socket, socket.socket]:
    """A non-blocking (read end, write end) pair: a byte written to the second wakes a select()
    waiting on the first, from another thread or a signal handler."""
    read_end, write_end = socket.socketpair()
    read_end.setblocking(False)
    write_end.setblocking(False)
    return read_end, write_end


# ------------------------------------------------------------------ listening


def _as_asked(host: str) -> str | bytes:
    """``host`` for getaddrinfo: an address as bytes, as a str is put through the idna codec first,
    even "127.0.0.1", which loads it and stringprep for good (0.1 MiB of an idle server started
    with --host ADDRESS: bench/idle_memory.py); a name as it is (the codec's checks and all)."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    return host.encode("ascii")


def listen_tcp(host: str, port: int, backlog: int = LISTEN_BACKLOG) -> socket.socket:
    """Listen on ``host``:``port``; ``host`` "" means every interface (IPv4 and IPv6), and so
    does "::" where one socket takes both (create_server alone makes it IPv6 only, while `serve`
    prints and announces a room on "::" at 127.0.0.1 and the IPv4 addresses: reachable_addresses)."""
    if not 0 <= port <= 65535:
        raise TransportError(f"port {port} is out of range (0-65535)")
    try:
        if host in ("", "*") or (host == "::" and socket.has_dualstack_ipv6()):
            if socket.has_dualstack_ipv6():
                return socket.create_server(
                    ("", port), family=socket.AF_INET6, backlog=backlog, dualstack_ipv6=True
                )
            return socket.create_server(("", port), family=socket.AF_INET, backlog=backlog)
        infos = socket.getaddrinfo(_as_asked(host), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        return socket.create_server(address, family=family, backlog=backlog)
    except (socket.gaierror, UnicodeError):  # UnicodeError: a name no resolver can be asked for (NOT_A_HOST_NAME)
        raise TransportError(f"cannot listen on {quoted(host)}: no such host or address") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise TransportError(_port_in_use(port)) from None
        if exc.errno == errno.EACCES:
            raise TransportError(f"not allowed to listen on port {port}; ports below 1024 need root") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise TransportError(f"{host} is not an address of this machine") from None
        raise TransportError(f"cannot listen on {host or '*'}:{port}: {exc.strerror or exc}") from None


def free_port_after(port: int, tries: int = 20) -> int | None:
    """The first of the ``tries`` ports after ``port`` that `serve` could listen on, on every
    interface as it does by default, or None. What to offer a second teacher on one machine: a
    port of its own that stays (a room restarted on it is rejoined; --port 0 picks another each
    time), and not ``port + 1`` blindly, which a third teacher found taken by the second."""
    family = socket.AF_INET6 if socket.has_dualstack_ipv6() else socket.AF_INET
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        try:
            socket.create_server(("", candidate), family=family, dualstack_ipv6=family == socket.AF_INET6).close()
        except OSError:
            continue
        return candidate
    return None


def another_port(port: int) -> str:
    """``--port N``, N the next port free after ``port`` (free_port_after), else ``--port`` alone."""
    free = free_port_after(port)
    return f"--port {free}" if free is not None else "--port"


def _port_in_use(port: int) -> str:
    """Why `serve` cannot have ``port``, naming who holds it where the system says (a student's
    Jupyter on 8888 was 'another lanchat server?'); a room already running is offered to join."""
    from .netinfo import port_holders

    holders = [holder for holder in port_holders(port) if holder.pid is not None]
    if not holders:
        return f"port {port} is already in use (another lanchat server?); choose another with {another_port(port)}"
    room = next((holder for holder in holders if holder.is_lanchat), None)
    if room is not None:
        return (f"port {port} is already in use by a lanchat server here (pid {room.pid}): join it with "
                f"`lanchat connect 127.0.0.1 {port}{' --tls' if room.tls else ''}`, or serve another room with {another_port(port)}")
    who = ", ".join(visible(holder.describe()) for holder in holders)
    return f"port {port} is already in use by {who}; choose another with {another_port(port)}"


def _unix_path_is_live(path: str) -> bool:
    """Only a refused connection proves nobody listens there. A full backlog (EAGAIN), a
    timeout or a permission error mean a server may well be there, so its path is left alone."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
        return True
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True
    finally:
        probe.close()


def unix_path_limit() -> int:
    """The longest socket file path, in bytes: a sockaddr_un holds 108 with its closing NUL on
    Linux, 104 on macOS and the BSDs."""
    return 107 if sys.platform.startswith("linux") else 103


def _refuse_a_path_too_long(path: str) -> None:
    """The same line from `serve --unix` and `connect --unix` (the kernel's own words, "AF_UNIX
    path too long", came after the whole path quoted back), with what to do about it."""
    size = len(os.fsencode(path))
    if size > unix_path_limit():
        raise TransportError(
            f"socket path is too long ({size} bytes; the limit is {unix_path_limit()}): use a shorter one, such as /tmp/chat.sock"
        )


def listen_unix(path: str, backlog: int = LISTEN_BACKLOG) -> socket.socket:
    """Listen on an AF_UNIX path, created private (0600).

    A socket file left by a dead server is removed (seed 000 unlinks it); a path where a
    live server answers is never taken over, and neither is anything that is not a socket.
    """
    _refuse_a_path_too_long(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except PermissionError:
        raise TransportError(_listen_denied(path)) from None
    except OSError as exc:
        raise TransportError(f"cannot use {path}: {exc.strerror}") from None
    if info is not None:
        if not stat.S_ISSOCK(info.st_mode):
            raise TransportError(f"{path} exists and is not a socket; refusing to replace it")
        if _unix_path_is_live(path):
            raise TransportError(f"a server is already listening on {path}")
        try:
            os.unlink(path)  # stale: its server is gone
        except FileNotFoundError:
            pass
        except OSError as exc:  # e.g. another user's file in a sticky /tmp
            raise TransportError(f"cannot remove the old socket file {path}: {exc.strerror}") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the file is born 0600: no window where others can connect
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.ENOENT:
            raise TransportError(f"cannot create {path}: its folder does not exist") from None
        if exc.errno == errno.EACCES:
            raise TransportError(_listen_denied(path)) from None
        raise TransportError(f"cannot listen on {path}: {exc.strerror or exc}") from None
    finally:
        os.umask(old_umask)
    with contextlib.suppress(OSError):
        info = os.stat(path)
        _OUR_SOCKET_FILES[os.path.abspath(path)] = (info.st_dev, info.st_ino)
    return sock


def listen(endpoint: Endpoint) -> socket.socket:
    sock = listen_unix(endpoint.path) if endpoint.path is not None else listen_tcp(endpoint.host, endpoint.port)
    sock.setblocking(False)
    return sock


def remove_unix_path(path: str, listener: socket.socket) -> None:
    """Remove our socket file on exit, but only if it is still ours (same inode)."""
    ours = _OUR_SOCKET_FILES.pop(os.path.abspath(path), None)
    with contextlib.suppress(OSError):
        info = os.lstat(path)
        if stat.S_ISSOCK(info.st_mode) and (info.st_dev, info.st_ino) == ours:
            os.unlink(path)


# ----------------------------------------------------------------- connecting


# A name with an empty part or one over 63 characters ("192.168..1.20", a typo) cannot be put
# in a DNS question: Python's resolver raises UnicodeError (its IDNA codec), not gaierror.
NOT_A_HOST_NAME = "not a host name (two dots in a row, or a part over 63 characters?)"


def _dial(endpoint: Endpoint, timeout: float) -> socket.socket:
    """A TCP connection to ``endpoint``: its addresses found already, each in turn (the last
    one's error raised), else its host, looked up by create_connection."""
    for at, address in enumerate(endpoint.addresses, 1):
        try:
            return socket.create_connection((address, endpoint.port), timeout=timeout)
        except OSError:
            if at == len(endpoint.addresses):
                raise
    return socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)


def why_no_host_name(host: str) -> str:
    """Why no resolver can be asked for ``host`` (it raised UnicodeError): for connect, and for
    serve --host and the doctor (lookup.look_up's NOT_A_NAME)."""
    if any("\udc80" <= ch <= "\udcff" for ch in host):  # (surrogateescape: a byte the terminal's character set typed)
        return "a host name cannot hold a byte that is not UTF-8 (a terminal set to another character set types them)"
    return NOT_A_HOST_NAME


def _this_machine(host: str) -> bool:
    """``host`` names this machine by its loopback (no firewall stands between)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_loopback
    except ValueError:
        pass
    try:  # the short forms the system reads too (127.1, 0x7f.1: inet_aton's), which dial loopback all the same
        return ipaddress.ip_address(socket.inet_aton(host)).is_loopback
    except (OSError, ValueError):
        return False


def connect(endpoint: Endpoint, timeout: float = 10.0) -> socket.socket:
    """Connect to a server; raise TransportError with one clear line if that fails."""
    if endpoint.path is not None:
        _refuse_a_path_too_long(endpoint.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(endpoint.path)
        except FileNotFoundError:
            sock.close()
            raise TransportError(f"no lanchat server at {endpoint.path} (the path does not exist)") from None
        except ConnectionRefusedError:
            sock.close()
            raise TransportError(f"no lanchat server is listening on {endpoint.path}{_not_a_socket(endpoint.path)}") from None
        except PermissionError:
            sock.close()
            raise TransportError(f"cannot connect to {endpoint.path}: permission denied{_why_denied(endpoint.path)}") from None
        except OSError as exc:
            sock.close()
            raise TransportError(f"cannot connect to {endpoint.path}: {exc.strerror or exc}") from None
        return sock
    try:
        sock = _dial(endpoint, timeout)
    except socket.gaierror:
        raise TransportError(_unknown_zone(endpoint.host) or f"cannot find host {quoted(endpoint.host)}") from None
    except UnicodeError:
        raise TransportError(f"cannot find host {quoted(endpoint.host)}: {why_no_host_name(endpoint.host)}") from None
    except ConnectionRefusedError:
        raise TransportError(
            f"no lanchat server at {endpoint.describe()} (connection refused); is `lanchat serve` running?"
            + ("" if _this_machine(endpoint.host) else " (a firewall on the way that refuses the port reads the same)"),
            refused=True,
        ) from None
    except TimeoutError:
        raise TransportError(f"timed out connecting to {endpoint.describe()}: {NO_ANSWER.format(seconds=timeout)}",
                             timed_out=timeout) from None
    except OSError as exc:
        why = UNREACHABLE.get((exc.errno or 0, ":" in endpoint.host), "")
        raise TransportError(f"cannot connect to {endpoint.describe()}: {exc.strerror or exc}{why}") from None
    tune(sock)
    return sock


# What the kernel's few words mean for a student, after them (they are what a search finds): a
# firewall refusing the port the firewalld way reads "No route to host" of a machine one hop
# away, or "Permission denied" over IPv6, and one that drops it answers nothing for the whole wait.
NO_ANSWER = "no answer in {seconds:g} s (a firewall on the way drops the packets, or the machine is off)"
UNREACHABLE = {  # (errno, an IPv6 address?) -> what to add
    **{(errno.EHOSTUNREACH, v6): " (the machine is off or not on this network, or a firewall there refuses the port)"
       for v6 in (False, True)},
    # an ICMPv6 "administratively prohibited" from a firewall on the way (or the host's) reads so
    **{(errno.EACCES, v6): " (a firewall on the way refuses the port)" for v6 in (False, True)},
    **{(errno.EPERM, v6): " (a firewall on this machine stops it going out)" for v6 in (False, True)},
    (errno.ENETUNREACH, False): " (this machine has no way to that network: is it connected?)",
    (errno.ENETUNREACH, True): " (this machine has no IPv6 way there: many networks have none; try its IPv4 address)",
}


def _not_a_socket(path: str) -> str:
    """What to add when connecting to ``path`` was refused: Linux refuses a regular file, a
    folder or a pipe as it refuses a socket file nobody listens on (a server that stopped)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ""
    if stat.S_ISSOCK(mode):
        return ""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISREG, "a regular file"), (stat.S_ISFIFO, "a pipe"))
    what = next((name for test, name in kinds if test(mode)), "a device")
    return f": it is {what}, not the socket file `lanchat serve --unix` made; give the path it printed"


def _closed_folder(path: str) -> str | None:
    """The first folder on the way to ``path`` that we may not pass through, or None."""
    walked = "/"
    for part in os.path.dirname(os.path.abspath(path)).split(os.sep)[1:]:
        walked = os.path.join(walked, part)
        if not os.access(walked, os.X_OK):
            return walked
    return None


def _listen_denied(path: str) -> str:
    """serve --unix PATH not permitted (EACCES): which folder is in the way, and what to do."""
    if (closed := _closed_folder(path)) is not None:
        why = f"the folder {closed} is not open to you"
    else:
        why = f"you may not make files in its folder {os.path.dirname(os.path.abspath(path))}"
    return f"cannot listen on {path}: permission denied: {why}; choose a path in a folder of your own, such as /tmp/chat.sock"


def _why_denied(path: str) -> str:
    """What to add when connecting to ``path`` was not permitted (EACCES), which said only
    "Permission denied": a folder on the way closed to us, a file that is not a socket anyway,
    or another user's server, whose socket file lanchat makes theirs alone (0600)."""
    if (closed := _closed_folder(path)) is not None:
        return f": the folder {closed} is not open to you (its permissions); ask the host to serve where you can reach it"
    try:
        info = os.stat(path)
    except OSError:
        return ""
    if not stat.S_ISSOCK(info.st_mode):
        return _not_a_socket(path)
    if info.st_uid != os.getuid():
        import pwd

        try:
            owner = pwd.getpwuid(info.st_uid).pw_name
        except KeyError:
            owner = f"uid {info.st_uid}"
        return (f": it is the socket file of {owner}'s server, which lanchat makes private to them (mode 0600); "
                "to let others on this machine join, the host serves over TCP (--host 127.0.0.1)")
    return ""


def _unknown_zone(host: str) -> str | None:
    """Why a link-local address's zone (``fe80::1%wlan0``) names no interface of this machine, or
    None. The zone is the joiner's own interface, not the host's: one copied from the host's
    screen or `ip addr` was "cannot find host", as if the address were wrong."""
    address, percent, zone = host.partition("%")
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return None
    if not percent or ":" not in address or any(zone in (name, str(index)) for index, name in interfaces):
        return None
    ours = ", ".join(name for _index, name in interfaces if name != "lo") or "none but loopback"
    return (f"cannot connect to {quoted(host)[1:-1]}: this machine has no network interface called {quoted(zone)}; after the % goes "
            f"your own interface that reaches that address, not the host's (here: {ours}; `ip -br addr` lists them)")


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end of an AF_UNIX socket (SO_PEERCRED: the
    kernel's word, set when the server called listen()), or None where it cannot be asked."""
    if sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = struct.Struct("3i")  # struct ucred: pid, uid, gid
    try:
        _pid, uid, _gid = creds.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, creds.size))
    except OSError:
        return None
    return uid


def reachable_addresses(listener: socket.socket, found: list | None = None) -> list[str]:
    """The addresses others can use to reach ``listener``, best first (``found``: this machine's
    addresses as netinfo.every_address read them, if read already).

    The interface with the default route comes first, then other LAN interfaces, then VPNs and
    container or VM bridges (docker0, virbr0, vboxnet0 ...), loopback last
    (addresses.rank_addresses); IPv6 addresses only when the listener takes IPv6, and only
    those of a network without IPv4 (addresses.addresses_to_offer).
    """
    if listener.family == socket.AF_UNIX:
        return [listener.getsockname()]
    host, port = listener.getsockname()[:2]
    if host not in ("::", "0.0.0.0"):
        return [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    from .addresses import addresses_to_offer, join_host_port, rank_addresses
    from .netinfo import every_address  # lazily: only `serve` needs it

    ipv6 = listener.family == socket.AF_INET6
    ranked = rank_addresses(every_address() if found is None else found)
    offered = [a.address for a in addresses_to_offer(ranked) if ipv6 or a.version == 4]
    if "127.0.0.1" not in offered:
        offered.append("127.0.0.1")
    return [join_host_port(a, port) for a in offered]
