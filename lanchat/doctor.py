"""doctor.py: `lanchat doctor`, what stands between this machine and a chat, each with a plain fix. Reads; never changes anything.

Each check gathers facts at the edge (a bind, a connect, a browse, a read-only firewall
query) and turns them into a Check by a pure function of those facts, so the judgements are
tested with plain data and the gathering is tested for real (tests/test_doctor.py).
Statuses: ok, info (worth knowing, not wrong), warn (likely to bite), fail (cannot work);
the command exits 1 when any check fails.
"""

from __future__ import annotations

import errno
import locale
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .addresses import LocalAddress, Target
from .files import human_size  # sizes in lanchat's one convention: KiB, MiB, GiB (README)
from .textfold import fold_line, shell_word
from .textsafe import visible

STATUSES = ("ok", "info", "warn", "fail")
PROBE_SECONDS = 3.0
COMMAND_SECONDS = 3.0
ANSWERED = ("lanchat", "lanchat-tls", "starting", "starting-tls")  # probe_server's outcomes from a lanchat server
# ... over TLS, the detail its certificate's fingerprint: checked against the one trusted or
# announced whether its room is open or still starting (a pretender can hold as well as answer)
TLS_ANSWERED = ("lanchat-tls", "starting-tls")


@dataclass(frozen=True)
class Check:
    """One finding: what was looked at, how it stands, what it means, and what to do."""

    name: str
    status: str
    summary: str
    fix: str = ""
    details: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------ addresses


def _describe_address(a: LocalAddress) -> str:
    notes = {"virtual": "a container or VM bridge: others cannot use it", "vpn": "a VPN: only its members reach it",
             "loopback": "this machine only"}
    extra = ["default route"] if a.default_route and a.kind == "lan" else []
    if a.kind in notes:
        extra.append(notes[a.kind])
    return f"{a.address} ({a.interface}{', ' + ', '.join(extra) if extra else ''})"


def judge_addresses(addresses: list[LocalAddress], link_local: list[LocalAddress] | None = None) -> Check:
    """Addresses best first (addresses.rank_addresses did the ordering); ``link_local``: the IPv6
    link-local addresses of LAN interfaces that have no other (addresses.addresses_to_announce)."""
    details = tuple(_describe_address(a) for a in addresses)
    lan = [a for a in addresses if a.kind == "lan"]
    if not lan and link_local:  # a cable or a bare switch: nothing gives addresses out, discovery still works
        shown = ", ".join(a.address for a in link_local)
        return Check("addresses", "info", f"no address given out on this network, only IPv6 link-local {shown}",
                     "`lanchat connect` with no address finds and joins a room here, and a room served here is "
                     "found the same way; nobody can type a link-local address", details)
    if not addresses:
        return Check("addresses", "fail", "no network: this machine has no address at all (not even 127.0.0.1)",
                     "connect to the Wi-Fi or plug in the cable; `ip addr` lists the interfaces", details)
    if not lan and all(a.kind == "loopback" for a in addresses):
        return Check("addresses", "fail", "no network: only this machine itself (loopback) is reachable",
                     "connect to the Wi-Fi or plug in the cable; others cannot join until then "
                     "(`lanchat connect 127.0.0.1` still works on this machine)", details)
    if not lan:
        return Check("addresses", "warn", f"no LAN address; only {addresses[0].address} ({addresses[0].interface})",
                     "join the class's Wi-Fi or network: a VPN or container address is rarely reachable by others",
                     details)
    best = lan[0]
    return Check("addresses", "ok", f"others reach this machine at {best.address} ({best.interface})", "", details)


# ------------------------------------------------------------------------ port


def judge_port(port: int, bind_errno: int | None, holders: list, free: int | None = None) -> Check:
    """Whether ``lanchat serve`` could listen on ``port``; ``holders`` are netinfo.PortHolder;
    ``free``: the next port free after it (transport.free_port_after), to offer instead."""
    instead = f"--port {free}" if free is not None else "--port PORT"
    if bind_errno is None:
        return Check("port", "ok", f"port {port} is free: `lanchat serve` can use it")
    if bind_errno == errno.EACCES:
        return Check("port", "fail", f"port {port} needs root (ports below 1024 are reserved)",
                     "use a port from 1024 up, e.g. lanchat serve --port 3580")
    if bind_errno != errno.EADDRINUSE:
        return Check("port", "fail", f"cannot listen on port {port}: {os.strerror(bind_errno)}",
                     "check the network settings; `lanchat serve --port 0` picks any free port")
    names = [visible(h.describe()) for h in holders]
    if any(h.is_lanchat for h in holders):
        # a TLS room refuses a plain connect: the command offered must be one that joins
        tls = " --tls" if any(h.tls for h in holders) else ""
        return Check("port", "info", f"port {port} is used by a lanchat server here ({', '.join(names)})",
                     f"join it with `lanchat connect 127.0.0.1 {port}{tls}`, or serve another room with {instead}",
                     tuple(names) if len(names) > 1 else ())  # one is in the summary already (said twice, it was)
    who = ", ".join(names) if names else "another program (run as root to see which)"
    return Check("port", "fail", f"port {port} is already in use by {who}",
                 f"stop that program, or serve on another port: lanchat serve {instead}",
                 tuple(names) if len(names) > 1 else ())


def try_bind(port: int) -> int | None:
    """errno of listening on every interface at ``port`` (as `serve` would), None if it works."""
    family = socket.AF_INET6 if socket.has_dualstack_ipv6() else socket.AF_INET
    try:
        sock = socket.create_server(("", port), family=family, dualstack_ipv6=family == socket.AF_INET6)
    except OSError as exc:
        if exc.errno == errno.EAFNOSUPPORT and family == socket.AF_INET6:
            try:
                socket.create_server(("", port)).close()
            except OSError as inner:
                return inner.errno or errno.EINVAL
            return None
        return exc.errno or errno.EINVAL
    sock.close()
    return None


# ---------------------------------------------------------------------- server


def probe_server(target: Target, timeout: float = PROBE_SECONDS) -> tuple[str, str]:
    """Does a lanchat server answer at ``target``? (outcome, detail) without joining the room.

    It sends ``who`` before ``hello``: a lanchat server answers that with a ``hello-first``
    error and keeps the connection (docs/PROTOCOL.md 4), so nobody sees a join; then ``bye``.
    A room still starting (its host, or a bot of its own, not in yet) holds that ``who``; it
    asks with ``hold_notice`` to be told so, and a server that says ``held`` is waited for
    until the probe's time is up: ``starting`` if it did not open by then (PROTOCOL.md, Held
    while the room starts; an older server says nothing, as before).
    A TLS room answers plain bytes with a fatal ``use-tls`` (``bad-frame`` from older servers;
    PROTOCOL.md, TLS: mixed ends):
    then the same question is asked again over TLS, and the detail is its fingerprint.
    Outcomes: lanchat, lanchat-tls, starting, starting-tls (the detail: its fingerprint), stopped-starting (held, then
    closed: its server stopped before its room opened), other, refused, timeout, unreachable, host-unreachable, unknown-host,
    no-answer (the name server did not answer: the name may well be right).
    """
    from .lookup import FOUND, NO_ANSWER, NOT_A_NAME, look_up

    # The name first, bounded (lookup.py): create_connection's timeout does not cover the
    # resolver, and a name server that did not answer held the doctor 20 s and more. Only
    # once: the addresses found are the ones connected to (plain, then over TLS).
    named = look_up(target.host, target.port, give_up_after=timeout)
    if named.outcome == NO_ANSWER:
        return "no-answer", f"cannot find host {target.host!r}: {named.problem.removeprefix('was not found: ')}"
    if named.outcome == NOT_A_NAME:  # "192.168..1.20": no resolver can be asked
        return "unknown-host", f"cannot find host {target.host!r}: {named.problem.removeprefix('is ')}"
    if named.outcome != FOUND:  # UNKNOWN; FAILED says why
        return "unknown-host", f"cannot find host {target.host!r}" + (f": {named.problem}" if named.problem.startswith("could") else "")
    try:
        sock = _dial(named.addresses, timeout)
    except ConnectionRefusedError:
        return "refused", "connection refused"
    except TimeoutError:
        return "timeout", f"no answer within {timeout:g} s"
    except OSError as exc:
        # "No route to host" is a machine that did not answer on this network, or a firewall
        # that refused with an ICMP "prohibited" (firewalld's way); "Network is unreachable":
        # no route from here at all
        # "Permission denied": over IPv6, a firewall's ICMPv6 "administratively prohibited"
        outcomes = {errno.EHOSTUNREACH: "host-unreachable", errno.EACCES: "prohibited"}
        return outcomes.get(exc.errno or 0, "unreachable"), exc.strerror or str(exc)
    with sock:
        outcome, detail = _ask_who(sock, timeout)
    if outcome == "tls?":
        return _probe_tls(target, named.addresses, timeout)
    return outcome, detail


def _dial(addresses: list, timeout: float) -> socket.socket:
    """A connection to the first of ``addresses`` (getaddrinfo's, found already) that takes one,
    as create_connection tries them, without asking the resolver again; the last one's error."""
    error: OSError = OSError("no address")
    for family, kind, proto, _name, sockaddr in addresses:
        try:  # (a family this machine cannot make, IPv6 on a kernel without it: the next address)
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            error = exc
            continue
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


def _ask_who(sock: socket.socket, timeout: float) -> tuple[str, str]:
    """``who`` before ``hello`` on a connected socket (plain or TLS): what answered."""
    from . import events as ev
    from .protocol import Connection, RemoteProtocolError, Role, encode
    from .tls import DOCTORS_QUESTIONS  # the one place it is written: a TLS port knows it by its bytes

    proto = Connection(Role.CLIENT)
    # One deadline for the whole answer: the socket's timeout is per recv(), and a server
    # dripping a byte a second held the doctor for as long as it dripped.
    deadline = time.monotonic() + timeout
    heard = 0
    held = False
    try:
        sock.sendall(DOCTORS_QUESTIONS[0])  # `who` with hold_notice: a room still starting says `held`
        while True:
            if (left := deadline - time.monotonic()) <= 0:
                raise TimeoutError
            sock.settimeout(left)
            data = sock.recv(65536)
            heard += len(data)
            proto.receive_data(data)
            for event in proto.events():
                if isinstance(event, ev.Held) and not held:  # the room is there, starting: its answer may follow
                    held = True
                    continue
                if isinstance(event, ev.Error) and event.code == ev.E_HELLO_FIRST:
                    sock.sendall(encode(ev.Bye()))
                    return "lanchat", "a lanchat server answered"
                if isinstance(event, ev.Error) and event.code in (ev.E_USE_TLS, ev.E_BAD_FRAME) and event.fatal:
                    return "tls?", "a lanchat frame refused: a TLS room says use-tls to plain bytes (bad-frame before)"
                if held and isinstance(event, ev.Shutdown):  # it was lanchat's: its room stopped before it opened
                    # (a reason as a room's moderation keeps one: a server's 60,000 characters are not the doctor's to print)
                    said = visible(" ".join(event.reason[:ev.MAX_REASON_CHARS].split()))  # (none: no empty "()")
                    return STOPPED_STARTING, f"its room was starting, then its server stopped{f' ({said})' if said else ''}"
                return "other", "something answered, but not as a lanchat server does"
            if not data:
                return _held_then(held, "something accepted the connection and closed it without a word")
    except RemoteProtocolError:
        return "other", "something answered, but not in lanchat's protocol"
    except TimeoutError:
        if held:
            return "starting", f"its room did not open within {timeout:g} s"
        if heard:
            return "other", f"something accepted the connection but did not finish an answer within {timeout:g} s"
        return "other", f"something accepted the connection but said nothing within {timeout:g} s"
    except OSError as exc:
        return _held_then(held, f"the connection broke: {exc.strerror or exc}")


STOPPED_STARTING = "stopped-starting"  # held (a lanchat room, starting), then closed: its server stopped


def _held_then(held: bool, otherwise: str) -> tuple[str, str]:
    """The connection closed (or broke) before any answer: a server that had said ``held`` was
    lanchat's, and stopped while its room was starting (it read "another program"); else
    ``otherwise``, of whatever holds the port."""
    if held:
        return STOPPED_STARTING, "its room was starting, then its server closed the connection"
    return "other", otherwise


def _probe_tls(target: Target, addresses: list, timeout: float) -> tuple[str, str]:
    """The question of probe_server over TLS, to ``addresses`` (where ``target`` was found); on
    success the detail is the server's fingerprint."""
    from .tls import TlsError, client_handshake

    try:
        sock = _dial(addresses, timeout)
        tls, fingerprint = client_handshake(sock, str(target), timeout)
    except (OSError, TlsError):
        return "other", "something answered, but not as a lanchat server does"
    with tls:
        outcome, detail = _ask_who(tls, timeout)
    if outcome in ("lanchat", "starting"):  # the detail: its fingerprint
        return f"{outcome}-tls", fingerprint
    return outcome, detail


def judge_server(target: Target, outcome: str, detail: str, *, asked: bool, remembered: str | None = None,
                 here: str | None = None) -> Check:
    """``asked``: the person named this address (else it is this machine's default, and silence is fine);
    ``remembered``: the TLS fingerprint known_servers holds for it, if any (remembered_fingerprint);
    ``here``: the lanchat server the port check found holding the port on this machine ("python (pid 812)"),
    if any: its silence is no "no server runs here" (_judge_silent_here)."""
    where = str(target)
    if outcome == "lanchat":
        return Check("server", "ok", f"a lanchat server answers at {where}")
    if outcome in TLS_ANSWERED and remembered is not None and remembered != detail:  # connect refuses it
        from .tls import forget_command, short_form

        return Check("server", "fail", f"a lanchat server with TLS answers at {where}, but its fingerprint is not "
                     "the one you trusted there: `lanchat connect` refuses it as CHANGED",
                     "someone may be pretending to be the room, or its host made a new certificate: tell by the host's "
                     f"screen (`lanchat serve --tls` shows it): is its short form {short_form(detail)}? Only if it is, "
                     f"forget the old one with {forget_command(where)} and connect again",
                     (f"remembered: {short_form(remembered)}, {remembered}", f"presented:  {short_form(detail)}, {detail}"))
    if outcome == "lanchat-tls":  # the detail is its fingerprint
        from .tls import short_form

        trusted = ", the one you trusted" if remembered == detail else ""
        return Check("server", "ok", f"a lanchat server with TLS answers at {where}: join with "
                     f"`lanchat connect {where} --tls` (its fingerprint: {detail}, in short {short_form(detail)}{trusted})")
    if outcome in ("starting", "starting-tls"):
        return _judge_starting(where, outcome, detail)
    if outcome == STOPPED_STARTING:  # asked about or not: a room was there a moment ago
        return Check("server", "fail", f"a lanchat server answered at {where}, but {detail}",
                     "it was stopped, or it could not start its room: ask the host to look at the screen of "
                     "`lanchat serve` (and start it again), then run the doctor again")
    if here is not None and (not asked or _this_machine(target.host)):
        return _judge_silent_here(target, outcome, detail, here)
    if not asked:  # this machine's own port: the port check has said who holds it, if anyone
        return Check("server", "info", f"no lanchat server runs on this machine at port {target.port}",
                     f"start one with `lanchat serve`, or check another machine with `lanchat doctor ADDRESS {target.port}`")
    fixes = {
        "refused": "nothing listens there: is `lanchat serve` running on that machine, and on this port? (a firewall "
                   "that refuses the port with a reset, iptables' REJECT among them, reads the same)",
        "timeout": "the packets get no answer: a firewall drops them, the machine is off or on another network, "
                   "or the Wi-Fi isolates devices from each other (guest networks do): try a cable, a phone hotspot, "
                   "or ask for the network to allow it",
        "unreachable": "this machine has no route there: are both on the same network?" if ":" not in target.host else
                       "this machine has no IPv6 route there (many networks have no IPv6): try its IPv4 address",
        "prohibited": f"a firewall refuses port {target.port}, on that machine (firewalld does so by default: there, "
                      f"`sudo firewall-cmd --add-port={target.port}/tcp`) or on the way (the school's router)",
        "host-unreachable": f"a firewall on that machine refuses port {target.port} (firewalld does so by default: "
                            f"there, `sudo firewall-cmd --add-port={target.port}/tcp`), or the machine is off or not "
                            "on this network",
        "unknown-host": "check the spelling, or use the numeric address `lanchat serve` prints",
        "no-answer": "the name cannot be looked up here now: use the numeric address `lanchat serve` prints "
                     "(e.g. `lanchat connect 192.168.1.20 3580`)",
        "other": "that port belongs to another program: ask the host which port `lanchat serve` printed",
    }
    return Check("server", "fail", f"no lanchat server at {where}: {detail}", fixes.get(outcome, ""))


def _this_machine(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def _judge_silent_here(target: Target, outcome: str, detail: str, here: str) -> Check:
    """The lanchat server on this machine holds the port but gave no answer at ``target``: the
    host's own doctor said "no lanchat server runs on this machine ... start one with `lanchat
    serve`" of the room it was running, beside the port check naming that very server."""
    port = target.port
    fixes = {
        "refused": f"it listens on another address only (started with --host?): check it at the address its start "
                   f"lines printed, `lanchat doctor ADDRESS {port}`",
        "timeout": f"a firewall on this machine drops port {port}, even from the machine itself (the firewall check "
                   "below looks for the rule): nobody can join until it allows the port",
        "other": "it accepted the connection but said nothing: is it stopped (Ctrl-Z in its terminal: `fg` goes on) "
                 "or stuck? Its screen or log says more",
    }
    fix = fixes.get(outcome, f"check it at the address its start lines printed, `lanchat doctor ADDRESS {port}`")
    return Check("server", "fail", f"a lanchat server holds port {port} here ({here}), but it does not answer at "
                 f"{target}: {detail}", fix)


def _judge_starting(where: str, outcome: str, detail: str) -> Check:
    """A lanchat server that held the probe with ``held``: its room is there but lets nobody in
    until its host, then its own bots, are in (PROTOCOL.md 4); a join waits, it is not refused."""
    tls = " --tls" if outcome == "starting-tls" else ""
    known = ""
    if tls:
        from .tls import short_form

        known = f" (its fingerprint: {detail}, in short {short_form(detail)})"
    return Check("server", "warn", f"a lanchat server answers at {where}, but its room is still starting: "
                 f"nobody is let in until its host, and any bot of the room's own (serve --bot), are in{known}",
                 f"wait a moment: `lanchat connect {where}{tls}` waits for it too; if it stays so, its host "
                 "or its bot has not come in: ask the host to look at the screen of `lanchat serve`")


# -------------------------------------------------------------------- firewall

_NFT_CHAIN = re.compile(r"chain\s+(\S+)\s*\{(.*?)\n\s*\}", re.S)
_NFT_TABLE = re.compile(r"^\s*table\s+(\S+)\s+(\S+)\s*\{", re.M)  # `nft list ruleset`: "table inet filter {"


def _mentions_port(rule: str, port: int) -> bool:
    match = re.search(r"dport\s+(\{[^}]*\}|\S+)", rule)
    if not match:
        return False
    spec = match.group(1).strip("{} ")
    for part in re.split(r"[,\s]+", spec):
        if part.isdigit() and int(part) == port:
            return True
        low, _, high = part.partition("-")
        if low.isdigit() and high.isdigit() and int(low) <= port <= int(high):
            return True
    return False


def judge_nftables(ruleset: str, port: int) -> Check | None:
    """A verdict from ``nft list ruleset`` text for TCP ``port`` coming in; None when nothing bears on it.

    Looks at input-hook chains: a drop/reject rule naming the port blocks it; a drop policy
    with no accept rule naming the port (or accepting everything new) likely blocks it. The
    fix names the chain's table as nft takes it (``inet filter``), not ``<family> <table>``.
    """
    tables = [(found.start(), f"{found.group(1)} {found.group(2)}") for found in _NFT_TABLE.finditer(ruleset)]
    for chain in _NFT_CHAIN.finditer(ruleset):
        name, body = chain.group(1), chain.group(2)
        if not re.search(r"hook\s+input\b", body):
            continue
        table = next((named for start, named in reversed(tables) if start < chain.start()), "<family> <table>")
        allow = f"allow it (as root): nft insert rule {visible(table)} {visible(name)} tcp dport {port} accept"
        rules = [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("type ")]
        for rule in rules:
            if _mentions_port(rule, port) and re.search(r"\b(drop|reject)\b", rule):
                return Check("firewall", "fail", f"nftables chain {visible(name)!r} drops TCP port {port}: {visible(rule)}", allow)
            if _mentions_port(rule, port) and re.search(r"\baccept\b", rule):
                return Check("firewall", "ok", f"nftables accepts TCP port {port} (chain {visible(name)!r})")
        policy = re.search(r"policy\s+(drop|reject)", body)
        if policy:
            return Check("firewall", "warn", f"nftables chain {visible(name)!r} drops incoming connections by default "
                         f"and no rule names port {port}", allow)
    return None


def judge_ufw(status: str, port: int) -> Check | None:
    if "Status: active" not in status:
        return None
    for line in status.splitlines():
        if re.match(rf"^\s*{port}(/tcp)?\b", line) and "ALLOW" in line:
            return Check("firewall", "ok", f"ufw allows port {port}")
        if re.match(rf"^\s*{port}(/tcp)?\b", line) and ("DENY" in line or "REJECT" in line):
            return Check("firewall", "fail", f"ufw denies port {port}", f"sudo ufw allow {port}/tcp")
    return Check("firewall", "warn", f"ufw is active and has no rule for port {port} (it blocks by default)",
                 f"sudo ufw allow {port}/tcp")


def judge_firewalld(state: str, ports: str, port: int) -> Check | None:
    if state.strip() != "running":
        return None
    if re.search(rf"\b{port}/tcp\b", ports):
        return Check("firewall", "ok", f"firewalld allows port {port}/tcp")
    return Check("firewall", "warn", f"firewalld is running and port {port}/tcp is not open",
                 f"sudo firewall-cmd --add-port={port}/tcp (add --permanent to keep it)")


# macOS's own firewall (the application firewall) asks, the first time Python listens, whether it
# may accept incoming connections: "Deny", or no one there to answer, and the class cannot join.
MACOS_FIREWALL = "/usr/libexec/ApplicationFirewall/socketfilterfw"


def judge_macos_firewall(state: str, port: int) -> Check | None:
    """A verdict from ``socketfilterfw --getglobalstate`` ("Firewall is enabled. (State = 1)");
    None when it is off. State 2 blocks every incoming connection, allowed programs too."""
    match = re.search(r"State = (\d)", state)
    if match is None or match.group(1) == "0":
        return None
    settings = "System Settings > Network > Firewall > Options"
    if match.group(1) == "2":
        return Check("firewall", "fail", f"the macOS firewall blocks all incoming connections, port {port} too",
                     f"turn off 'Block all incoming connections' in {settings}")
    return Check("firewall", "warn", "the macOS firewall is on: Python accepts connections only once it is allowed",
                 f"when macOS asks whether Python may accept incoming network connections, click Allow (or add it in {settings})")


def _run(command: list[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, str(exc)
    return done.returncode, done.stdout + done.stderr


def check_firewall(port: int) -> Check:
    """Read-only looks at nftables, ufw, firewalld and macOS's firewall (each only if there)."""
    looked, unreadable = [], []
    verdicts: list[Check] = []
    if shutil.which("nft"):
        looked.append("nftables")
        code, text = _run(["nft", "list", "ruleset"])
        if code == 0:
            verdicts.append(judge_nftables(text, port) or Check("firewall", "ok", ""))
        else:
            unreadable.append("nftables")
    if shutil.which("ufw"):
        looked.append("ufw")
        code, text = _run(["ufw", "status"])
        if code == 0:
            verdicts.append(judge_ufw(text, port) or Check("firewall", "ok", ""))
        else:
            unreadable.append("ufw")
    if shutil.which("firewall-cmd"):
        looked.append("firewalld")
        _code, state = _run(["firewall-cmd", "--state"])
        _code, ports = _run(["firewall-cmd", "--list-ports"])
        verdicts.append(judge_firewalld(state, ports, port) or Check("firewall", "ok", ""))
    if os.access(MACOS_FIREWALL, os.X_OK):
        looked.append("the macOS firewall")
        _code, state = _run([MACOS_FIREWALL, "--getglobalstate"])
        verdicts.append(judge_macos_firewall(state, port) or Check("firewall", "ok", ""))
    worst = max(verdicts, key=lambda c: STATUSES.index(c.status), default=None)
    if worst is not None and worst.status != "ok":
        return worst
    if unreadable:
        return Check("firewall", "info", f"cannot read the {' and '.join(unreadable)} rules without root",
                     f"run `sudo lanchat doctor` to check whether port {port} is blocked")
    if not looked:
        return Check("firewall", "ok", "no nftables, ufw or firewalld here to block the port")
    return Check("firewall", "ok", f"{', '.join(looked)}: nothing found that blocks port {port}")


# ------------------------------------------------------------------- discovery


def judge_room_name(server: Check, target: Target, outcome: str, rooms: list) -> Check:
    """`lanchat doctor friends`, where friends is no machine (or the name server cannot be
    asked) but a room `lanchat rooms` lists: said so, with the `connect` that joins it, as a shell reads it (`lanchat connect "ann's room"`;
    ``server``, "cannot find host", is kept otherwise)."""
    from .addresses import meant_as_an_address
    from .discovery import room_name_problem, rooms_called

    called = rooms_called(rooms, target.host) if outcome in ("unknown-host", "no-answer") else []
    if not called:
        if outcome != "unknown-host" or meant_as_an_address(target.host) or room_name_problem(target.host) is not None:
            return server
        # no machine, no room: as `connect` says it (it looks for the room too), with the rooms there are
        names = ", ".join(sorted({shell_word(room.name) for room in rooms}, key=str.lower)[:5])
        return replace(server, summary=f"no machine is called {target.host!r}, and no room of that name is announced here",
                       fix=f"check the spelling (rooms announced here: {names}), or ask the host for the address their screen shows" if names
                       else "check the spelling, or ask the host for the address their screen shows")
    where = ", ".join(room.where for room in called)
    # the name server out of reach (connect's NoMachine, not certain): the room is the finding, as connect joins it
    machine = f"no machine is called {target.host!r}" if outcome == "unknown-host" else (
        f"the network's name server cannot say whether a machine is called {target.host!r}")
    return Check("server", "info", f"{machine}, but a room announced here is ({where})",
                 f"`lanchat connect {shell_word(target.host)}` joins it; the discovery check below says whether it answers")


def judge_mistyped(checks: list[Check], hint: str) -> list[Check]:
    """`lanchat doctor team@lab`, a one-word room's name that reads as a mistyped address (addresses.
    may_be_a_room_name), checked as a room's name, as `connect` looks for it: unless a room of
    that name was seen (judge_room_name), the server check's fix is ``hint``, what it was likely
    meant as ("did you mean: python -m lanchat doctor lab"), as connect's last word is."""
    return [replace(check, fix=hint) if check.name == "server" and check.status == "fail" else check
            for check in checks]


def remembered_fingerprint(where: str, room: str | None = None, presented: str | None = None) -> str | None:
    """The TLS fingerprint `lanchat connect` holds a server at ``where`` to (known_servers), and
    the room called ``room`` to (known_rooms): the one of them ``presented`` is not (connect
    refuses it for that one, even if the other is it), else the one it is; None: none, or not
    readable."""
    from .tls import KNOWN_SERVERS_NAME, KnownServers, TlsError, default_folder

    known = KnownServers(default_folder() / KNOWN_SERVERS_NAME)
    try:
        by_address, by_name = known.lookup(where), known.rooms.trusted(room) if room is not None else []
    except TlsError:  # unreadable: the data folder check is not about it; connect says what is wrong
        return None
    if by_address is not None and by_address != presented:
        return by_address
    if by_name and presented not in by_name:  # a name may hold several (tls.KnownRooms): refused if none is it
        return by_name[-1]
    return by_address or (presented if presented in by_name else None)


def fingerprint_doubts(rooms: list, answers: dict[str, tuple[str, str]], remembered: dict[str, str]) -> list[str]:
    """A line for each TLS room seen whose certificate, as it answered (``answers``' detail), is not
    the one it announces, or not the one remembered for it (``remembered``, by ``room.where``):
    `lanchat connect` refuses it, and it may be someone pretending to be the room."""
    doubts = []
    for room in rooms:
        outcome, presented = answers.get(room.where, ("", ""))
        if outcome not in TLS_ANSWERED:
            continue
        trusted = remembered.get(room.where)
        if trusted is not None and trusted != presented:
            doubts.append(f"{room.describe()}: presents {presented}, not the {trusted} you trusted for it")
        elif room.fingerprint is not None and room.fingerprint != presented:
            doubts.append(f"{room.describe()}: announces {room.fingerprint} but presents {presented}")
    return doubts


def judge_discovery(rooms: list | None, problem: str | None, seconds: float,
                    answers: dict[str, tuple[str, str]] | None = None, remembered: dict[str, str] | None = None,
                    *, elsewhere: Target | None = None) -> Check:
    """``rooms``: discovery.RoomInfo found by browsing; ``problem``: why browsing was impossible;
    ``answers``: probe_server's (outcome, detail) for each room tried, by ``room.where``;
    ``remembered``: the TLS fingerprint remembered for a room, by ``room.where`` (fingerprint_doubts);
    ``elsewhere``: the server asked about, which answered from another network (addresses.beyond_networks)."""
    isolation = ("on Wi-Fi that isolates devices (guest networks, many school and café networks), machines cannot "
                 "see each other at all: no room is found and even a right address times out")
    if not rooms and elsewhere is not None:  # (a warning about isolated Wi-Fi, under a server that answered, was wrong)
        return Check("discovery", "info", f"no room announced on this network within {seconds:g} s, as expected: "
                     f"the server at {elsewhere} answered from another network, and a room is announced only on its own",
                     f"join it by its address: lanchat connect {elsewhere.host} {elsewhere.port}")
    if problem is not None:
        return Check("discovery", "warn", f"cannot look for rooms: {problem}",
                     "join with the address instead: lanchat connect ADDRESS PORT", (isolation,))
    if not rooms:
        return Check("discovery", "warn", f"no room announced on this network within {seconds:g} s",
                     "ask the host for the address their screen shows: lanchat connect ADDRESS PORT; the room may be "
                     "on another network, started with --no-announce, or hidden by the Wi-Fi", (isolation,))
    answers = answers or {}
    unreachable = [(room, answers[room.where]) for room in rooms
                   if room.where in answers and answers[room.where][0] not in ANSWERED]
    doubts = fingerprint_doubts(rooms, answers, remembered or {})
    if doubts and not unreachable:
        return Check("discovery", "fail", f"{len(rooms)} room(s) seen on this network, {len(doubts)} with a TLS "
                     "certificate that is not the one expected: `lanchat connect` refuses it",
                     "someone on this network may be pretending to be the room, or its host made a new certificate: "
                     "ask the host for the fingerprint `lanchat serve --tls` printed before joining", tuple(doubts))
    if not unreachable:  # (a room still starting is reached: the server check says what it waits for)
        starting = {"starting": ": still starting", "starting-tls": ": still starting"}
        return Check("discovery", "ok", f"{len(rooms)} room(s) seen on this network", "",
                     tuple(room.describe() + starting.get(answers.get(room.where, ("",))[0], "") for room in rooms))
    # The announcement arrived, so the room's machine is on this network: what stops the join is on
    # that machine (a firewall that drops its port), or the room is gone since it was announced.
    outcomes = {outcome for _room, (outcome, _detail) in unreachable}
    port = unreachable[0][0].port
    if outcomes == {"refused"}:
        fix = ("nothing listens on the announced port any more: the server may have stopped; ask the host to start "
               "it again")
    elif outcomes <= {"refused", STOPPED_STARTING}:  # its server answered, then stopped: no firewall (the server check)
        fix = ("the room's server stopped while its room was starting (or nothing listens there any more): ask the host "
               "to look at the screen of `lanchat serve` and start it again")
    else:
        fix = (f"the room's machine is on this network (its announcement arrived), but its port gets no answer: a "
               f"firewall on the host's machine most likely drops or refuses TCP port {port}; the host can run `lanchat doctor` "
               "there to find it, and allow the port (or the Wi-Fi isolates devices; try a cable or a phone hotspot)")
    return Check("discovery", "fail",
                 f"{len(rooms)} room(s) seen on this network, {len(unreachable)} not reachable from here", fix,
                 tuple(f"{room.describe()}: {detail}" for room, (_outcome, detail) in unreachable) + tuple(doubts))


def probe_rooms(rooms: list, known: dict[str, tuple[str, str]], limit: int = 8) -> dict[str, tuple[str, str]]:
    """probe_server for each room seen (the first ``limit``), at once: (outcome, detail) by ``room.where``.
    ``known``: answers already had (the server the person named), not asked twice."""
    from concurrent.futures import ThreadPoolExecutor

    answers = dict(known)
    todo = [room for room in rooms[:limit] if room.where not in answers]
    if todo:
        from .stopsignals import held_in_new_threads

        with ThreadPoolExecutor(max_workers=len(todo)) as pool:
            with held_in_new_threads():  # its threads, started as each is asked for: the stop signals are the main thread's
                asked = [pool.submit(probe_server, Target(room.address, room.port)) for room in todo]
            for room, question in zip(todo, asked, strict=True):  # (waited for unblocked: Ctrl-C is heard)
                answers[room.where] = question.result()
    return answers


# ------------------------------------------------------ locale, terminal, data


def judge_locale(encoding: str, environ: dict[str, str]) -> Check:
    setting = environ.get("LC_ALL") or environ.get("LC_CTYPE") or environ.get("LANG") or "(not set)"
    if encoding.replace("-", "").lower() == "utf8":
        return Check("locale", "ok", f"text is UTF-8 ({visible(setting)})")
    return Check("locale", "warn", f"text is {visible(encoding)}, not UTF-8 ({visible(setting)}): accents and emoji "
                 "may show as ?", "export LANG=C.UTF-8 (or en_US.UTF-8), then start lanchat again")


def judge_terminal(*, is_tty: bool, term: str, size: tuple[int, int] | None, colours: int | None) -> Check:
    from .ui.render import MIN_COLS, MIN_ROWS  # render is pure; it draws nothing

    if not is_tty:
        return Check("terminal", "info", "not a terminal (output goes to a pipe or file): chat here with --plain")
    if not term or term == "dumb":
        return Check("terminal", "warn", f"TERM is {term or 'not set'}: the full screen cannot be drawn",
                     "set TERM (e.g. export TERM=xterm-256color) or use --plain")
    details = []
    status = "ok"
    if size is not None:
        cols, rows = size
        details.append(f"{cols}x{rows}")
        if cols < MIN_COLS or rows < MIN_ROWS:
            status = "warn"
    if colours is not None:
        details.append(f"{colours} colours")
    summary = f"{visible(term)}, {', '.join(details)}" if details else visible(term)
    fix = f"make the window at least {MIN_COLS}x{MIN_ROWS}" if status == "warn" else ""
    return Check("terminal", status, summary, fix)


def terminal_colours(term: str) -> int | None:
    """How many colours the terminal has, from terminfo via `tput` (None if unknown)."""
    if not term or not shutil.which("tput"):
        return None
    code, text = _run(["tput", "-T", term, "colors"])
    return int(text.strip()) if code == 0 and text.strip().lstrip("-").isdigit() else None


def judge_data_folder(folder: Path) -> Check:
    """The folder lanchat keeps its identity key and `serve` its history in: there (or creatable)
    and writable, with some room. Where it is not, both go elsewhere (--identity, --history)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe != folder and not os.access(probe, os.W_OK):
        return Check("data folder", "fail", f"{folder} does not exist and cannot be created",
                     "give your key and serve's history in a folder you may write: --identity PATH, "
                     "lanchat serve --history PATH (or --no-history)")
    if probe == folder and (not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK)):
        return Check("data folder", "fail", f"{folder} is not a writable folder",
                     "fix its permissions, or give your key and serve's history elsewhere: --identity PATH, "
                     "lanchat serve --history PATH (or --no-history)")
    free = shutil.disk_usage(probe).free
    if free < 50 * 1024 * 1024:
        return Check("data folder", "warn", f"{folder}: only {human_size(free)} free",
                     "free some disk space: history and files on offer need room")
    state = "" if probe == folder else " (created on first use)"
    return Check("data folder", "ok", f"{folder}{state}, {human_size(free)} free")


# ---------------------------------------------------------------- the command


def run_checks(*, port: int, target: Target | None, browse_seconds: float) -> list[Check]:
    """Every check, in the order a person would fix things."""
    from .addresses import addresses_to_announce, beyond_networks
    from .netinfo import every_address, local_addresses, port_holders
    from .transport import free_port_after

    checks = [judge_addresses(local_addresses(), [a for a in addresses_to_announce(every_address()) if a.link_local])]
    bind_errno = try_bind(port)
    in_use = bind_errno == errno.EADDRINUSE
    holders = port_holders(port) if in_use else []
    checks.append(judge_port(port, bind_errno, holders, free_port_after(port) if in_use else None))
    here = next((visible(holder.describe()) for holder in holders if holder.is_lanchat), None)
    asked = target is not None
    target = target or Target("127.0.0.1", port)
    outcome, detail = probe_server(target)
    server_check = len(checks)
    remembered = remembered_fingerprint(str(target)) if outcome in TLS_ANSWERED else None
    checks.append(judge_server(target, outcome, detail, asked=asked, remembered=remembered,
                               here=here if target.port == port else None))
    checks.append(check_firewall(port))
    if browse_seconds > 0:
        from .discovery import DiscoveryError, browse
        from .netinfo import local_networks

        try:
            rooms = browse(browse_seconds, local_networks())
            checks[server_check] = judge_room_name(checks[server_check], target, outcome, rooms)
            answers = probe_rooms(rooms, {str(target): (outcome, detail)} if asked else {})
            trusted = {room.where: fp for room in rooms if answers.get(room.where, ("",))[0] in TLS_ANSWERED
                       and (fp := remembered_fingerprint(room.where, room.name, answers[room.where][1])) is not None}
            elsewhere = target if outcome in ANSWERED and beyond_networks(target.host, local_networks()) else None
            checks.append(judge_discovery(rooms, None, browse_seconds, answers, trusted, elsewhere=elsewhere))
        except DiscoveryError as exc:
            checks.append(judge_discovery(None, str(exc), browse_seconds))
    checks.append(judge_locale(locale.getpreferredencoding(False), dict(os.environ)))
    term = os.environ.get("TERM", "")
    is_tty = os.isatty(1)
    size = None
    if is_tty:
        try:
            columns, lines = os.get_terminal_size(1)
            size = (columns, lines)
        except OSError:
            size = None
    checks.append(judge_terminal(is_tty=is_tty, term=term, size=size, colours=terminal_colours(term) if is_tty else None))
    from .history import default_path

    checks.append(judge_data_folder(default_path().parent))
    return checks


def as_json(checks: list[Check]) -> dict:
    return {"ok": not any(c.status == "fail" for c in checks), "checks": [asdict(c) for c in checks]}


def as_text(checks: list[Check], columns: int | None = None) -> str:
    """The report for people; ``columns``: a terminal's width, each finding folded to it under
    its own indent (the terminal cut words anywhere: "is `lanchat serve` running on t" / "hat
    machine"). None (a pipe, a file): one line each, for grep."""
    width = max(len(c.name) for c in checks)
    pad = " " * (8 + width + 2)
    lines: list[str] = []

    def say(first: str, text: str, hang: str) -> None:  # commands in a fix stay whole (textfold.py)
        lines.extend([first + text] if columns is None else fold_line(first + text, columns, hang))

    for check in checks:
        label = check.status.upper() if check.status in ("warn", "fail") else check.status
        say(f"  {label:<5} {check.name:<{width}}  ", check.summary, pad)
        for detail in check.details:
            say(f"{pad}- ", detail, pad + "  ")
        if check.fix:
            say(f"{pad}fix: ", check.fix, pad + "     ")
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    lines.append(
        "all good." if not failed and not warned
        else f"{failed} problem(s), {warned} warning(s)." if failed else f"no problem; {warned} warning(s)."
    )
    return "\n".join(lines)

