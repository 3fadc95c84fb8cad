"""What a person types as an address, and which of this machine's addresses comes first (pure rules),
then the same through `lanchat connect` on real sockets."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from helpers import Proc

from lanchat.addresses import (
    AddressProblem,
    LocalAddress,
    Target,
    addresses_to_announce,
    addresses_to_offer,
    beyond_networks,
    connect_target,
    default_route_interfaces,
    interface_addresses,
    interface_network,
    meant_command,
    networks_note,
    peer_text,
    rank_addresses,
    split_host_port,
)


@pytest.mark.parametrize(
    ("typed", "port_arg", "port_option", "expected"),
    [
        ("192.168.1.20", None, None, Target("192.168.1.20", 3580)),
        ("192.168.1.20", "4000", None, Target("192.168.1.20", 4000)),
        ("192.168.1.20:4000", None, None, Target("192.168.1.20", 4000)),
        ("192.168.1.20:4000", None, 4000, Target("192.168.1.20", 4000)),
        ("annlaptop.local:4000", None, None, Target("annlaptop.local", 4000)),
        ("[::1]:3580", None, None, Target("::1", 3580)),
        ("[::1]", "4000", None, Target("::1", 4000)),
        ("::1", None, None, Target("::1", 3580)),
        ("::1", "4000", None, Target("::1", 4000)),
        ("fe80::1%lan0", None, None, Target("fe80::1%lan0", 3580)),
        ("4000", None, None, Target("127.0.0.1", 4000)),  # seed 001: a lone number is a port
        ("192.168.1.20:4000/", None, None, Target("192.168.1.20", 4000)),  # from a browser's bar: was "a path"
        ("[::1]:4000/", None, None, Target("::1", 4000)),
        (None, None, 4000, Target("127.0.0.1", 4000)),
        (None, None, None, None),  # nothing given: look for a room
    ],
)
def test_the_forms_people_type_and_lanchat_prints(typed, port_arg, port_option, expected):
    assert connect_target(typed, port_arg, port_option) == expected


@pytest.mark.parametrize(
    ("typed", "port_arg", "port_option", "complaint"),
    [
        ("192.168.1.20:0", None, None, "port 0 cannot be joined"),
        ("192.168.1.20", "0", None, "port 0 cannot be joined"),
        (None, None, 0, "port 0 cannot be joined"),
        ("[::1]:0", None, None, "port 0 cannot be joined"),
        ("192.168.1.20:70000", None, None, "out of range"),
        ("192.168.1.20:http", None, None, "is not a port number"),
        ("192.168.1.20:", None, None, "ends with ':' but no port"),
        (":3580", None, None, "has a port but no host"),
        ("[::1", None, None, "without a closing ']'"),
        ("::1]", None, None, "without an opening '['"),
        ("[]:3580", None, None, "nothing between the brackets"),
        ("[::1]3580", None, None, "after ']' comes ':PORT'"),
        ("[::1]:3580", "4000", None, "two different ports given (3580 and 4000)"),
        ("192.168.1.20:3580", None, 4000, "two different ports given"),
        ("http://192.168.1.20:3580", None, None, "is a link: give only the host and the port, as two words"),
        ("  ", None, None, "the address is empty"),
        ("/", None, None, "is a path, not a host"),  # the browser-bar rule made it empty: 127.0.0.1 silently
        ("//", None, None, "is a path, not a host"),
        ("192.168.1.20:\u00b2", None, None, "is not a port number"),  # a digit to isdigit(), not to int()
        ("192.168.1.20", "\u00b2", None, "is not a port number"),
        ("192.168.1.20:" + "1" * 5000, None, None, "(5000 characters) after '192.168.1.20' is not a port number"),  # int() raised
        # int() takes spaces and any script's digits: "８０" and "٨٠" were port 80
        ("192.168.1.20:\uff18\uff10", None, None, "'\uff18\uff10' after '192.168.1.20' is not a port number (1-65535): use the digits 0-9"),
        ("[::1]:\u0668\u0660", None, None, "after '::1' is not a port number (1-65535): use the digits 0-9"),
        ("\uff18\uff10", None, None, "(the port) is not a port number (1-65535): use the digits 0-9"),
        (" 80", None, None, "' 80' (the port) is not a port number (1-65535): it has spaces around it"),
        ("192.168.1.20", " 80", None, "it has spaces around it"),
        ("192.168.1.20", "+80", None, "'+80' (the port) is not a port number"),
        # the form an old server log printed: it said "cannot find host '::1:46692'"
        ("::1:46692", None, None, "an IPv6 address with a port goes in brackets: [::1]:46692"),
        ("fe80::1%lan0:3580", None, None, "goes in brackets: [fe80::1%lan0]:3580"),
        ("192.168.1.20:3580:1", None, None, "is neither HOST:PORT nor an IPv6 address"),
        # a student who read "--unix /tmp/chat.sock" and typed the path alone
        ("/tmp/chat.sock", None, None, "is a path, not a host: a socket file is joined with `lanchat connect --unix /tmp/chat.sock`"),
        ("./chat.sock", None, None, "joined with `lanchat connect --unix ./chat.sock`"),
        # the host and port in one quoted word, or the nc line pasted: was "cannot find host '...'"
        ("192.168.1.20 3580", None, None, "holds a space: the host and the port are two words, e.g. `lanchat connect 192.168.1.20 3580`"),
        ("nc 10.0.0.5 4000", None, None, "e.g. `lanchat connect 10.0.0.5 4000`"),
        ("ann laptop", None, None, "e.g. `lanchat connect 192.168.1.20 3580`"),
        # a link-local address without its interface: the kernel said only "Invalid argument"
        ("fe80::1", None, None, "fe80::1 is a link-local address: it needs this machine's interface it is reached by, e.g. fe80::1%eth0"),
        ("[fe80::1]:3580", None, None, "e.g. fe80::1%eth0"),
        # a host and a port that cannot be joined, written another tool's way: the port's problem, not "cannot find host"
        ("127.0.0.1,70000", None, None, "two words, and port 70000 is out of range (1-65535)"),
        ("::1,0", None, None, "two words, and port 0 cannot be joined"),
        ("127.0.0.1:0/chat", None, None, "as two words; port 0 cannot be joined"),  # not "a path"
        ("[::1]:70000/chat", None, None, "as two words; port 70000 is out of range"),
    ],
)
def test_what_cannot_be_joined_is_one_clear_reason(typed, port_arg, port_option, complaint):
    with pytest.raises(AddressProblem) as refused:
        connect_target(typed, port_arg, port_option)
    assert complaint in str(refused.value)


def test_a_link_local_address_without_its_zone_names_this_machines_own_interfaces():
    with pytest.raises(AddressProblem) as one:  # two laptops and a cable: the one interface there is
        connect_target("fe80::1", None, None, interfaces=("lo", "enp0s3"))
    assert "reached by: fe80::1%enp0s3 (" in str(one.value)
    with pytest.raises(AddressProblem) as several:
        connect_target("[fe80::1]:3580", None, None, interfaces=("enp0s3", "lo", "wlp2s0"))
    assert "e.g. fe80::1%enp0s3 (the one on the host's network; this machine's: enp0s3, wlp2s0;" in str(several.value)


@pytest.mark.parametrize(
    ("typed", "port_arg", "name", "command"),
    [
        ("127.0.0.1,4000", None, None, "python -m lanchat connect 127.0.0.1 4000"),
        ("pc12.lab;4000", None, None, "python -m lanchat connect pc12.lab 4000"),
        ("ann@127.0.0.1", None, None, "python -m lanchat connect 127.0.0.1 --name ann"),
        ("ann@127.0.0.1:4000", None, None, "python -m lanchat connect 127.0.0.1 4000 --name ann"),
        ("ann@127.0.0.1", "4000", None, "python -m lanchat connect 127.0.0.1 4000 --name ann"),
        ("ann@127.0.0.1", None, "bob", "python -m lanchat connect 127.0.0.1 --name bob"),  # --name given: it is kept
        ("ann@[::1]:3580", None, None, "python -m lanchat connect ::1 3580 --name ann"),
        ("127.0.0.1:3580:x", None, None, "python -m lanchat connect 127.0.0.1 3580"),
        ("http://127.0.0.1:3580", None, None, "python -m lanchat connect 127.0.0.1 3580"),
        ("http://127.0.0.1:3580/chat", None, None, "python -m lanchat connect 127.0.0.1 3580"),
        ("lanchat://[fe80::1%eth0]:3580/", None, None, "python -m lanchat connect fe80::1%eth0 3580"),
        ("http://ann@10.0.0.5", None, None, "python -m lanchat connect 10.0.0.5 --name ann"),
        ("lanchat://10.0.0.5", "4000", None, "python -m lanchat connect 10.0.0.5 4000"),
        # commas for dots, a bare IPv6 address or one in brackets with a comma, a link without http://
        ("192,168,1,20", None, None, "python -m lanchat connect 192.168.1.20"),
        ("192,168,1,20:4000", None, None, "python -m lanchat connect 192.168.1.20 4000"),
        ("192,168,1,20,4000", None, None, "python -m lanchat connect 192.168.1.20 4000"),
        ("::1,4000", None, None, "python -m lanchat connect ::1 4000"),
        ("[::1],4000", None, None, "python -m lanchat connect ::1 4000"),
        ("fe80::1%eth0,4000", None, None, "python -m lanchat connect fe80::1%eth0 4000"),
        ("127.0.0.1:3580/chat", None, None, "python -m lanchat connect 127.0.0.1 3580"),
        # nothing plain was meant: the reason alone
        ("http://", None, None, None),
        ("a b@10.0.0.5", None, None, None),
        ("127.0.0.1:x:3580", None, None, None),
    ],
)
def test_a_mistyped_address_says_the_command_it_was_likely_meant_as(typed, port_arg, name, command):
    """`connect 127.0.0.1,4000`, `ann@127.0.0.1`, a link: "cannot find host" before, nothing on
    what to type instead."""
    with pytest.raises(AddressProblem) as refused:
        connect_target(typed, port_arg, None)
    assert meant_command(refused.value, "connect", name or refused.value.name) == command


@pytest.mark.parametrize("typed", ["fe80::1%\x1b[31mX,4000", "ann@[fe80::1%\x1b[2J]:4000", "http://[fe80::1%\x1b]0;x\x07]:3580",
                                   "fe80::1%\u202eX,4000"])
def test_a_zone_that_would_drive_the_terminal_is_never_said_back_as_a_command(typed):
    """"did you mean" printed an IPv6 zone as typed, shell-quoted but raw: an escape sequence in it
    reached the terminal (ESC [ 2 J cleared it). A zone is said back only when plain."""
    try:
        connect_target(typed, None, None)
    except AddressProblem as problem:
        assert meant_command(problem, "connect", problem.name) is None


@pytest.mark.parametrize("typed", ["::1", "[::1]:3580", "fe80::1%eth0", "127.0.0.1:3580", "annlaptop.local", "ann-laptop",
                                   "192.168.1.20:3580/", "[::1]:4000/", "pc,lab,school,x",
                                   "Room,2", "maths;10"])  # a room's name: no host name is given a system port so
def test_the_forms_that_join_are_no_mistake(typed):
    assert connect_target(typed, None, None) is not None


def test_the_printed_form_is_accepted_back():
    for target in (Target("::1", 3580), Target("198.18.0.1", 4000)):
        assert split_host_port(str(target)) == (target.host, target.port)


def test_a_peer_is_shown_in_the_form_lanchat_prints_and_accepts_back():
    # a dual-stack listener hands IPv4 clients over as ::ffff:a.b.c.d; the log said
    # "ann joined from ::ffff:127.0.0.1:50312" and, for IPv6, the ambiguous "::1:50312"
    assert peer_text("::ffff:127.0.0.1", 50312) == "127.0.0.1:50312"
    assert peer_text("::1", 50312) == "[::1]:50312"
    assert peer_text("192.168.1.7", 50312) == "192.168.1.7:50312"
    assert peer_text("fe80::1%lan0", 4) == "[fe80::1%lan0]:4"


def test_the_password_lockout_names_an_ipv6_host_without_the_brackets_of_its_port_form():
    from lanchat.gate import Gate

    gate = Gate(clock=lambda: 0.0)
    gate.addresses.update({1: peer_text("::1", 50312), 2: peer_text("::ffff:10.0.0.9", 4)})
    assert (gate.address(1), gate.address(2)) == ("::1", "10.0.0.9")  # "wrong room password from ::1"


def addr(interface: str, address: str, *, default: bool = False, version: int = 4, up: bool = True) -> LocalAddress:
    return LocalAddress(interface=interface, address=address, version=version, default_route=default, up=up)


def test_the_default_route_lan_comes_first_and_bridges_tunnels_and_loopback_last():
    found = [
        addr("docker0", "172.17.0.1"),
        addr("lo", "127.0.0.1"),
        addr("tun0", "10.8.0.2"),
        addr("vboxnet0", "192.168.56.1"),
        addr("wlan0", "192.168.1.20", default=True),
        addr("wlan0", "fe80::1", version=6, default=True),  # link-local: nobody can type it
        addr("eth1", "10.0.0.5"),
        addr("wlan0", "2001:db8::20", version=6, default=True),
        addr("eth2", "10.1.0.5", up=False),
    ]
    assert [a.address for a in rank_addresses(found)] == [
        "192.168.1.20", "2001:db8::20", "10.0.0.5", "10.8.0.2", "172.17.0.1", "192.168.56.1", "127.0.0.1",
    ]


def test_ipv6_is_offered_for_a_network_without_ipv4_only():
    """An IPv6-only LAN is joined by its IPv6 address; a dual-stack one by IPv4 alone (short list)."""
    found = rank_addresses([
        addr("wlan0", "192.168.1.20", default=True),
        addr("wlan0", "2001:db8::20", version=6, default=True),
        addr("eth0", "fd42:198:18::1", version=6),
        addr("lo", "127.0.0.1"),
        addr("lo", "::1", version=6),
    ])
    assert [a.address for a in addresses_to_offer(found)] == ["192.168.1.20", "fd42:198:18::1", "127.0.0.1"]


def test_a_lan_with_only_a_link_local_address_is_announced_with_it():
    """Nobody can type fe80::a:1%eth0 (the zone is the joiner's), but an announcement can carry it."""
    found = [
        addr("wlan0", "192.168.1.20", default=True),
        addr("wlan0", "fe80::1%wlan0", version=6, default=True),  # wlan0 has IPv4: its link-local is not needed
        addr("eth0", "fe80::a:1%eth0", version=6),  # a cable to a friend's laptop, nothing else
        addr("veth12ab", "fe80::c:3%veth12ab", version=6),  # a container's end: not a LAN
        addr("eth1", "fe80::d:4%eth1", version=6, up=False),
        addr("lo", "127.0.0.1"),
    ]
    assert [a.address for a in addresses_to_announce(found)] == ["192.168.1.20", "fe80::a:1%eth0"]


def test_a_vpn_holding_the_default_route_still_comes_after_the_lan():
    found = [addr("wg0", "10.6.0.2", default=True), addr("wlan0", "192.168.1.20")]
    assert [a.interface for a in rank_addresses(found)] == ["wlan0", "wg0"]


def test_default_routes_are_read_from_the_kernels_tables():
    route = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
        "wlan0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n"
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        "tun0\t00000000\t00000000\t0000\t0\t0\t50\t00000000\t0\t0\t0\n"  # not up
    )
    ipv6 = (
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fe800000000000000000000000000001 00000064 00000001 00000000 00000003 eth1\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n"
    )
    assert default_route_interfaces(route, ipv6) == {"wlan0", "eth1"}
    assert default_route_interfaces("", "") == set()


# ---------------------------------------------------------- through the command


@pytest.fixture
def server():
    proc = Proc("serve", "--headless", "--port", "0", "--no-history", "--no-announce")  # IPv4 and IPv6
    try:
        yield proc, proc.expect(r"listening on port (\d+)").group(1)
    finally:
        proc.stop()


def ipv6_loopback() -> bool:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        return False
    return True


V4_SHOWN, V6_SHOWN = r"127\.0\.0\.1:\d+", r"\[::1\]:\d+"  # how the server's log names the peer


@pytest.mark.parametrize(
    ("form", "shown"),
    [("127.0.0.1:{port}", V4_SHOWN), ("[::1]:{port}", V6_SHOWN), ("[::1] {port}", V6_SHOWN), ("::1 {port}", V6_SHOWN)],
)
def test_connect_takes_the_forms_lanchat_prints_and_the_log_shows_the_peer_so(server, form, shown):
    """Each form joins; and the server's log says where bob joined from in the form lanchat
    prints and accepts back (not ::ffff:127.0.0.1:PORT, nor the ambiguous ::1:PORT)."""
    if "::1" in form and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    proc, port = server
    bob = Proc("connect", *form.format(port=port).split(), "--name", "bob")
    try:
        bob.expect(r"welcome, bob")
        proc.expect(rf"bob joined from {shown}$")
        bob.send("/q")
        assert bob.wait() == 0
    finally:
        bob.stop()
    assert "Traceback" not in bob.output


def refused_dialling_nothing(listener: socket.socket, *args: str) -> Proc:
    """`lanchat connect ARGS`, which must end with the usage status (2) without connecting to
    ``listener`` (the room it would have reached): the finished process, to read."""
    proc = Proc("connect", *args, stdin=False)
    try:
        assert proc.wait() == 2
    finally:
        proc.stop()
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):
        listener.accept()
    return proc


@pytest.mark.parametrize(
    ("form", "name", "meant"),
    [
        ("127.0.0.1,{port}", ["--name", "bob"], "127.0.0.1 {port} --name bob"),
        ("bob@127.0.0.1:{port}", [], "127.0.0.1 {port} --name bob"),
        ("127.0.0.1:{port}:x", ["--name", "bob"], "127.0.0.1 {port} --name bob"),
        ("http://127.0.0.1:{port}/", ["--name", "bob"], "127.0.0.1 {port} --name bob"),
        ("lanchat://127.0.0.1:{port}", ["--name", "bob"], "127.0.0.1 {port} --name bob"),
    ],
)
def test_connect_to_a_mistyped_address_says_what_to_type_and_connects_nowhere(form, name, meant):
    """A student who typed the teacher's address the way another tool takes it was told only
    "cannot find host": now the command to type, and no connection is made."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        proc = refused_dialling_nothing(listener, form.format(port=port), *name)
    lines = [line for line in proc.lines if "a new identity key was made" not in line]
    assert lines[-1] == f"  did you mean: python -m lanchat connect {meant.format(port=port)}", proc.output
    assert len(lines) == 2 and "cannot find host" not in proc.output and "Traceback" not in proc.output


@pytest.mark.parametrize("typed", ["fe80::1%\x1b[2J", "fe80::1%\x1b[31mX,4000"])
def test_an_escape_typed_in_a_zone_never_reaches_the_terminal(typed):
    """`connect $'fe80::1%\\e[2J'` (a zone pasted with an escape in it): the first line quoted it,
    but the next, "`lanchat doctor fe80::1%<ESC>[2J 3580` says what is in the way", wrote it raw,
    and ESC [ 2 J cleared the screen. Real subprocess; no such interface, so nothing is dialled."""
    proc = Proc("connect", typed, "--name", "bob", stdin=False)
    try:
        assert proc.wait() == 1
    finally:
        proc.stop()
    assert "\x1b" not in proc.output and "lanchat doctor 'fe80::1%\\x1b[" in proc.output, proc.output
    assert "Traceback" not in proc.output


@pytest.mark.parametrize("args", [["127.0.0.1", "0"], ["127.0.0.1:0"], ["--port", "0"], ["[::1]:0"]])
def test_connect_refuses_port_0_in_one_line(args):
    proc = Proc("connect", *args, "--name", "bob")
    try:
        assert proc.wait() == 2
        assert proc.lines == [
            "lanchat: port 0 cannot be joined: it only asks `serve` to pick a free port; use the port `serve` printed"
        ]
    finally:
        proc.stop()


@pytest.mark.parametrize(
    ("address", "netmask", "network"),
    [
        ("192.168.1.20", "255.255.255.0", "192.168.1.0/24"),
        # psutil gives an IPv6 mask as an address, which ipaddress refused: no IPv6 network was found
        ("2001:db8:1::1", "ffff:ffff:ffff:ffff::", "2001:db8:1::/64"),
        ("fe80::1%eth0", "ffff:ffff:ffff:ffff::", "fe80::/64"),
        ("2001:db8:1::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:1::1/128"),
        ("2001:db8:1::1", "ffff:ffff:ffff:ff00::", "2001:db8:1::/56"),
        ("not an address", "255.0.0.0", None),
    ],
)
def test_an_interfaces_network_from_psutils_address_and_netmask(address, netmask, network):
    found = interface_network(address, netmask)
    assert (str(found) if found is not None else None) == network


@pytest.mark.parametrize(
    ("args", "said", "status"),
    [
        # an address, mistyped: said so before any name server is asked (addresses._ipv4_problem), exit 2 as a usage error
        (["connect", "192.168..1.20", "--name", "bob"], "'192.168..1.20' is no address: two dots in a row", 2),
        (["connect", "a" * 64 + ".lan", "--name", "bob"], "not a host name (two dots in a row, or a part over 63 characters?)", 1),
        (["connect", "lab..school.lan", "--name", "bob"], "lanchat: cannot find host 'lab..school.lan': not a host name (two dots in a row", 1),
        (["serve", "--headless", "--no-announce", "--host", "192.168..1.20"], "lanchat: --host '192.168..1.20' is not a host name (two dots in a row", 1),
        (["doctor", "192.168..1.20", "--json", "--wait", "0"], "'192.168..1.20' is no address: two dots in a row", 2),
    ],
    ids=["connect", "connect-long-label", "connect-name", "serve-host", "doctor"],
)
def test_an_address_typed_with_two_dots_in_a_row_is_one_clear_line_not_a_traceback(args, said, status):
    # Python's resolver raises UnicodeError, not gaierror, for a name with an empty or too long
    # part: `lanchat connect 192.168..1.20` (a typo) printed a traceback
    proc = Proc(*args)
    try:
        assert proc.wait() == status
        assert said in proc.output, proc.output
    finally:
        proc.stop()
    assert "Traceback" not in proc.output


def test_a_link_local_address_with_a_zone_this_machine_does_not_have_says_so():
    """`connect fe80::1%wlan0` copied from the host's screen (the zone is the host's interface)
    on a machine with no wlan0: it said "cannot find host", as if the address were wrong."""
    proc = Proc("connect", "fe80::1%nosuchif0", "4000", "--name", "bob", stdin=False)
    try:
        assert proc.wait() == 1
    finally:
        proc.stop()
    said = " ".join(proc.output.split())
    assert "this machine has no network interface called 'nosuchif0'; after the % goes your own interface" in said, said
    assert "(here: " in said and "cannot find host" not in said and "Traceback" not in said


@pytest.mark.parametrize(
    ("typed", "an_address"),
    [
        ("192.168.1.2O", True),  # a letter O for a zero
        ("1O.0.0.5", True),
        ("192.168.l.20", True),  # a small L for a one
        ("192,168,1,20", True),  # commas for dots
        ("192.168.1.20;", True),
        ("192.168.1.256", True),
        ("fe80::1%eth0", True),
        ("friends", False),
        ("pc12.lab3.school", False),  # a name with numbers in it: the resolver is asked
    ],
)
def test_a_mistyped_address_never_sends_connect_looking_for_a_room_of_that_name(monkeypatch, typed, an_address):
    """`lanchat connect friends` looks for a room called friends when no machine is; an address
    with a typo in it (a letter O for a zero) is no room's name: connect says it cannot find
    that host, at once, instead of asking the network for rooms for 2 s."""
    from lanchat.cli.connect import _no_address

    asked: list[str] = []

    def no_such_host(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202, ARG001
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    assert (_no_address(typed, 3580) == ()) is an_address
    assert asked == ([] if an_address else [typed])


def test_a_host_holding_a_byte_that_is_not_utf8_is_said_as_that_byte():
    """`connect caf\\xe9` (typed on a terminal set to Latin-1): "cannot find host 'caf\\udce9'",
    Python's name for the byte, and a reason about two dots in a row. The byte is said as it is
    everywhere else (textsafe.quoted), and why that is no host name."""
    from lanchat.transport import Endpoint, TransportError, connect, listen_tcp

    for host in ("caf\udce9", "caf\udce9.lan"):
        with pytest.raises(TransportError) as failed:
            connect(Endpoint(host=host, port=3580), timeout=2.0).close()
        said = str(failed.value)
        assert said.startswith(f"cannot find host 'caf\\xe9{host[4:]}': ") and "\\udc" not in said, said
        assert "not UTF-8" in said and "two dots" not in said, said
    with pytest.raises(TransportError) as failed:
        listen_tcp("caf\udce9", 0).close()
    assert "'caf\\xe9'" in str(failed.value) and "\\udc" not in str(failed.value)


def test_an_address_beyond_this_machines_networks_is_reached_through_a_router():
    ours = [ipaddress.ip_network("198.18.2.0/24"), ipaddress.ip_network("fd02::/64"), ipaddress.ip_network("127.0.0.0/8")]
    assert beyond_networks("198.18.1.10", ours) and beyond_networks("fd01::10", ours)  # the classroom next door
    assert not beyond_networks("198.18.2.7", ours) and not beyond_networks("fd02::7", ours)  # this one
    assert not beyond_networks("127.0.0.1", ours) and not beyond_networks("::1", ours)  # this machine
    assert not beyond_networks("fe80::1%lanB", ours)  # this link, whatever the networks say
    assert not beyond_networks("lab-server", ours)  # a name: where it is, is not known here


def test_an_interface_name_for_serve_host_gives_its_best_address():
    found = [
        LocalAddress("wlan0", "192.168.1.31", default_route=True),
        LocalAddress("eth1", "fd05::1", version=6),
        LocalAddress("eth1", "fe80::1%eth1", version=6),
        LocalAddress("eth1", "10.5.0.1"),
        LocalAddress("usb0", "fe80::2%usb0", version=6),
    ]
    names = {"lo", "wlan0", "eth1", "usb0", "eth2"}
    assert [a.address for a in interface_addresses("eth1", found, names) or []] == ["10.5.0.1", "fd05::1"]  # IPv4 first
    assert [a.address for a in interface_addresses("usb0", found, names) or []] == ["fe80::2%usb0"]  # a cable, nothing else
    assert interface_addresses("eth2", found, names) == []  # there, but no address: said so, not looked up
    assert interface_addresses("lab-server", found, names) is None  # a host name: the name server's


def test_a_machine_on_two_networks_says_which_address_is_on_which():
    found = [
        LocalAddress("wlan0", "192.168.1.31", default_route=True),
        LocalAddress("eth1", "10.5.0.1"),
        LocalAddress("docker0", "172.17.0.1"),
        LocalAddress("lo", "127.0.0.1"),
    ]
    hosts = ["192.168.1.31", "10.5.0.1", "172.17.0.1", "127.0.0.1"]
    assert networks_note(hosts, found) == ("this machine is on 2 networks: 192.168.1.31 on wlan0 (default route), "
                                           "10.5.0.1 on eth1; each class joins by the address on its own network")
    assert networks_note(["192.168.1.31", "172.17.0.1", "127.0.0.1"], found) is None  # one network and a container bridge


@pytest.mark.parametrize(("typed", "why"), [
    ("192.168.1", "it has 3 numbers"),  # the C library took it as 192.168.0.1: another machine joined
    ("192.168.1:3580", "it has 3 numbers"),
    ("256.1.1.1", "256 is over 255"),  # the name server was asked for it: "cannot find host"
    ("1.2.3.4.5", "it has 5 numbers"),
    ("192.168..1", "two dots in a row, or a dot at an end"),
    ("192.168.1.2O", "it holds the letter O where a digit goes"),
    ("l92.168.1.20", "it holds the letter l where a digit goes"),
    ("1" * 5000 + ".1.1.1", "111111111111... is over 255"),  # (int() raised ValueError past 4,300 digits: a traceback)
])
def test_a_mistyped_ipv4_address_is_said_to_be_none_not_looked_up_or_taken_for_another(typed, why):
    with pytest.raises(AddressProblem) as caught:
        split_host_port(typed)
    assert str(caught.value) == (f"{typed!r} is no address: {why} (an IPv4 address is four numbers from 0 to 255 "
                                 "between dots, like 192.168.1.20)")


@pytest.mark.parametrize(("typed", "octal", "meant"), [
    ("192.168.001.020", " (020 as 16)", Target("192.168.1.20", 3580, port_given=False)),  # as a router's page shows it
    ("192.168.001.020:4000", " (020 as 16)", Target("192.168.1.20", 4000)),
    ("0127.0.0.1", " (0127 as 87)", Target("127.0.0.1", 3580, port_given=False)),
    ("10.0.09.1", "", Target("10.0.9.1", 3580, port_given=False)),  # (not octal: no machine at all)
    ("127.0.0." + "0" * 5000 + "10", " (" + "0" * 5000 + "10 as 8)", Target("127.0.0.10", 3580, port_given=False)),  # int() raised: a traceback
])
def test_an_ipv4_address_with_leading_zeros_is_not_taken_for_the_machine_octal_names(typed, octal, meant):
    """`connect 192.168.001.020` joined 192.168.1.16: the C library reads 020 as octal. Said, with
    the address as meant (unit test of the real subprocess's below)."""
    with pytest.raises(AddressProblem) as caught:
        split_host_port(typed)
    assert str(caught.value) == (f"{typed!r} is no address as written: the system reads a number that begins with 0 as "
                                 f"octal{octal}, another machine's address; write the numbers without their leading zeros")
    assert caught.value.meant == meant and caught.value.meant.port_given == meant.port_given


@pytest.mark.parametrize(("typed", "read", "meant"), [
    ("１９２.１６８.１", "192.168.1", None),  # wide digits: 192.168.0.1, another machine
    ("192。168。001。020:4000", "192.168.001.020:4000", Target("192.168.1.20", 4000)),  # ideographic full stops
])
def test_wide_digits_and_dots_are_checked_as_the_system_reads_them(typed, read, meant):
    with pytest.raises(AddressProblem) as caught:
        split_host_port(typed)
    assert str(caught.value).startswith(f"{typed!r} is read as {read!r} (wide digits or dots, as an input method types them): {read!r} is no address")
    assert caught.value.meant == meant


def test_wide_digits_of_an_address_are_taken_as_typed():
    assert split_host_port("１２７.０.０.１") == ("１２７.０.０.１", None)  # (the system reads 127.0.0.1, as before)
    assert split_host_port("école.lan") == ("école.lan", None)  # a name: the name server's


@pytest.mark.parametrize("typed", ["127.0.0.010", "１２７.０.０.０１０", "127。0。0。010", "[127.0.0.010]", "[１２７.０.０.０１０]"])
def test_connect_to_an_address_with_leading_zeros_joins_no_other_machines_room(typed):
    """A student typed the teacher's address as the school router's page shows it, 127.0.0.010
    here: the C library read 010 as octal, 8, and she joined the room at 127.0.0.8, another
    machine's (all of 127/8 is this one, standing in for a classroom). Now: the address said to
    be none as written, the command meant, and nothing dialled. The same typed with an input
    method's wide digits or dots, which Python hands to the system as ASCII (IDNA): it went past
    the check and joined 127.0.0.8; and in brackets, as an IPv6 address is written, either went
    past it too."""
    with socket.create_server(("127.0.0.8", 0)) as other_room:
        port = other_room.getsockname()[1]
        proc = refused_dialling_nothing(other_room, typed, str(port), "--name", "bob")
    lines = [line for line in proc.lines if "a new identity key was made" not in line]
    assert lines[-1] == f"  did you mean: python -m lanchat connect 127.0.0.10 {port} --name bob", proc.output
    assert "(010 as 8)" in lines[-2] and "Traceback" not in proc.output


@pytest.mark.parametrize("typed", ["192.168.1.20", "10.0.0.255:3580", "127.1", "3.14", "pc12.lab3.school", "1.2.3.4.nip.io", "::1"])
def test_addresses_and_names_with_digits_are_still_taken(typed):
    assert split_host_port(typed)[0] == typed.rpartition(":")[0] if typed.count(":") == 1 else typed


def test_a_refusal_at_this_machine_written_short_names_no_firewall_on_the_way():
    """`connect 127.1 PORT` (or 0x7f.1: short forms the system reads as 127.0.0.1) with nothing
    listening: the refusal added "(a firewall on the way that refuses the port reads the same)",
    as for another machine, though nothing stands between a machine and its own loopback."""
    import socket as sockets

    from lanchat.transport import Endpoint, TransportError, connect

    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    for host in ("127.1", "0x7f.1", "127.0.0.1"):
        with pytest.raises(TransportError) as refused:
            connect(Endpoint(host=host, port=port), timeout=5).close()
        assert refused.value.refused and "firewall" not in str(refused.value), (host, str(refused.value))
