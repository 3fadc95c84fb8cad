"""Machines on different networks: two classrooms joined by a router, a class behind a NAT.

Each test builds its own routed network out of namespaces (tests/netlab.py): a router namespace
with forwarding on between two subnets, and a NAT box (nftables masquerade) that makes a whole
class one address, as a school's router does. Nothing leaves the namespaces the test made.
"""

from __future__ import annotations

import json
import re
import shutil
import sys

import pytest
from helpers import Proc
from netlab import Lab
from test_attack_flood import A_CLASS_AT_ONE_ADDRESS

# the class's script: argv host port count; joins `count` guests (c0, c1...) each on a connection
# of its own, prints what each was answered ("welcome", or "error CODE"; test_attack_flood's), then
# holds them all open until its stdin closes (the test's end)
HOLDS_A_CLASS = A_CLASS_AT_ONE_ADDRESS + """print("holding", flush=True)
sys.stdin.read()
"""


def behind_a_nat(lab: Lab) -> tuple[str, str]:
    """(the server's namespace, the class's): the class on 10.9.0.0/24 behind a NAT box that
    masquerades it as 198.18.10.2 on the server's network, 198.18.10.0/24 (server .1)."""
    if shutil.which("nft") is None:
        pytest.skip("needs nft (nftables) for the NAT")
    server, nat, room = lab.namespace("S"), lab.namespace("N"), lab.namespace("C")
    lab.link(server, "198.18.10.1/24", nat, "198.18.10.2/24", name="wan0")
    lab.link(nat, "10.9.0.1/24", room, "10.9.0.2/24", name="lan0", multicast=False)
    lab.ip(room, "route", "add", "default", "via", "10.9.0.1")
    for command in (
        ["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        ["nft", "add", "table", "ip", "school"],
        ["nft", "add", "chain", "ip", "school", "out", "{ type nat hook postrouting priority 100; }"],
        ["nft", "add", "rule", "ip", "school", "out", "oifname", "wan0", "masquerade"],
    ):
        done = lab.run_command(nat, *command)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"
    return server, room


def test_the_seventeenth_student_behind_a_schools_nat_is_told_to_ask_for_max_per_address(lab):
    """25 students behind one school router are one address to the server: past 16 at once the
    rest were refused with "close some and try again", and a student with one connection, none
    to close, had nothing to do; the teacher's screen said nothing (the log only, in a
    --headless room). The refused student now reads that the host lets a class sharing an
    address in, and how: serve --max-per-address N."""
    server_ns, class_ns = behind_a_nat(lab)
    server = lab.run(server_ns, "serve", "--headless", "--no-announce", "--no-history", "--host", "198.18.10.1", "--port", "0")
    port = server.expect(r"listening on port (\d+)").group(1)
    holding = Proc("-c", HOLDS_A_CLASS, "198.18.10.1", port, "16", program=["ip", "netns", "exec", class_ns, sys.executable])
    lab.procs.append(holding)
    holding.expect("holding")
    assert holding.output.split() == ["welcome"] * 16 + ["holding"], holding.output
    server.expect(r"c15 joined from 198\.18\.10\.2:")  # the NAT's address: the class is one address to the server
    student = lab.run(class_ns, "connect", "198.18.10.1", port, "--name", "dee", "--plain")
    said = student.expect(r"lanchat: the server refused to let us in: .*").group(0)
    assert "too many connections from address 198.18.10.2 (16 at once)" in said, said
    assert "ask the host to raise the cap: serve --max-per-address N" in said, said
    assert student.wait() == 1


def test_the_teachers_screen_says_students_behind_a_nat_were_turned_away_once_a_minute(lab):
    """The same class, a teacher at the full screen: the 17th and 18th students were refused at
    the door, and the teacher's screen said nothing (only a --headless room's log did), so she
    saw a class of sixteen and could not know why two students could not join. Her screen now
    says so, with what lets them in, once for the first refusal (and then at most a line a
    minute for that address, counting the rest: a script trying again and again is not a flood)."""
    server_ns, class_ns = behind_a_nat(lab)
    teacher = lab.term(server_ns, "serve", "--no-announce", "--no-history", "--host", "198.18.10.1", "--port", "0",
                       "--name", "teacher", rows=30, cols=160)
    teacher.expect(r"teacher │ host")
    port = re.search(r"listening on port (\d+)", "\n".join(teacher.lines)).group(1)  # type: ignore[union-attr]
    holding = Proc("-c", HOLDS_A_CLASS, "198.18.10.1", port, "16", program=["ip", "netns", "exec", class_ns, sys.executable])
    lab.procs.append(holding)
    holding.expect("holding")
    for name in ("dee", "eve"):
        student = lab.run(class_ns, "connect", "198.18.10.1", port, "--name", name, "--plain")
        student.expect(r"too many connections from address 198\.18\.10\.2 \(16 at once\)")
        assert student.wait() == 1
    said = ("-!- a connection was turned away: too many connections from address 198.18.10.2 (16 at once) "
            "(a class behind one address? serve --max-per-address N raises the cap)")
    words = lambda rows: " ".join(" ".join(row.split("│")[0] for row in rows).split())  # noqa: E731 - as one text, the roster left out
    teacher.wait_screen(lambda rows: said in words(rows), what="the refusal told")
    teacher.send("/who\r")
    teacher.expect(r"here \(17\)")  # answered after anything the room sent her before it
    assert words(teacher.lines).count("turned away") == 1, "\n".join(teacher.lines)
    # stamped with the time of day: it read '── Thursday 1 January 1970 ──' and '19:17' (the loop's clock)
    assert "1970" not in teacher.text and not re.search(r"── \w+day \d", teacher.text), teacher.text


def two_classrooms(lab: Lab) -> tuple[str, str, str]:
    """(room A's machine, room B's machine, the router): 198.18.1.10 and fd01::10 on one network,
    198.18.2.20 and fd02::20 on another, a router between them forwarding IPv4 and IPv6. Each
    network keeps its multicast DNS to itself, as a school's router does."""
    a, router, b = lab.namespace("A"), lab.namespace("R"), lab.namespace("B")
    lab.link(a, "198.18.1.10/24", router, "198.18.1.1/24", name="lanA")
    lab.link(b, "198.18.2.20/24", router, "198.18.2.1/24", name="lanB", multicast=False)
    lab.ip(b, "route", "add", "224.0.0.0/4", "dev", "lanB")
    for ns, dev, mine, gateway4, gateway6 in ((a, "lanA", "fd01::10", "198.18.1.1", "fd01::1"),
                                              (b, "lanB", "fd02::20", "198.18.2.1", "fd02::1")):  # fmt: skip
        lab.ip(ns, "addr", "add", f"{mine}/64", "dev", dev, "nodad")
        lab.ip(router, "addr", "add", f"{gateway6}/64", "dev", dev, "nodad")
        lab.ip(ns, "route", "add", "default", "via", gateway4)
        lab.ip(ns, "-6", "route", "add", "default", "via", gateway6)
    for setting in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"):
        done = lab.run_command(router, "sysctl", "-qw", setting)
        assert done.returncode == 0, done.stderr
    return a, b, router


def test_doctor_from_the_next_classroom_does_not_blame_the_wifi_for_a_room_it_reached(lab):
    """`lanchat doctor ADDRESS` from another network, the server answering through the router:
    its discovery check warned 'no room announced on this network' with 'on Wi-Fi that isolates
    devices ... even a right address times out', under the server check that had just reached
    the right address. No room is announced across a router: that is expected, and said so."""
    room_a, room_b, _router = two_classrooms(lab)
    server = lab.run(room_a, "serve", "--headless", "--no-history", "--port", "0", "--room", "maths 3B")
    port = server.expect(r"listening on port (\d+)").group(1)
    server.expect("announcing")
    for address in ("198.18.1.10", "fd01::10"):
        done = lab.run_command(room_b, sys.executable, "-m", "lanchat", "doctor", address, port, "--json", "--wait", "1")
        checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
        assert checks["server"]["status"] == "ok", checks["server"]
        discovery = checks["discovery"]
        assert discovery["status"] == "info", discovery
        assert "answered from another network" in discovery["summary"], discovery
        assert discovery["fix"] == f"join it by its address: lanchat connect {address} {port}", discovery
        assert not any("isolates" in detail for detail in discovery["details"]), discovery


def test_serve_host_takes_an_interface_name_and_listens_on_that_network_only(lab):
    """A teacher's machine on the Wi-Fi and on the lab's cable LAN, serving the lab only, named
    the interface as other tools take it: `serve --host lab1`. The name server was asked for
    'lab1' (waiting up to 10 s where it does not answer) and the room did not start: "not known
    to the network's name server". Now the interface's address is listened on, and said."""
    teacher, lab_pc, wifi_pc = lab.namespace("T"), lab.namespace("P"), lab.namespace("W")
    lab.link(teacher, "198.18.5.1/24", wifi_pc, "198.18.5.2/24", name="wifi0")
    lab.link(teacher, "198.18.6.1/24", lab_pc, "198.18.6.2/24", name="lab1", multicast=False)
    server = lab.run(teacher, "serve", "--headless", "--no-history", "--no-announce", "--host", "lab1", "--port", "0")
    server.expect(r"--host lab1 is this machine's network interface: listening on its address 198\.18\.6\.1$")
    port = server.expect(r"listening on port (\d+)").group(1)
    server.expect(r"or type in any terminal")
    assert f"join with:\n  python -m lanchat connect 198.18.6.1 {port}\n  or type" in server.output  # that address only
    student = lab.run(lab_pc, "connect", "198.18.6.1", port, "--name", "ann", "--plain")
    student.expect("welcome, ann")
    outside = lab.run(wifi_pc, "connect", "198.18.5.1", port, "--name", "bob", "--plain")
    outside.expect(r"no lanchat server at 198\.18\.5\.1:\d+ \(connection refused\)")  # not on the Wi-Fi


def test_a_link_local_address_typed_without_its_zone_is_told_the_interface_to_add(lab):
    """Two laptops and a cable: `connect fe80::...` without %zone was told 'e.g. fe80::...%eth0',
    an interface most machines have not (enp0s3, wlp2s0; here lan0). The one this machine has
    is named, and the line it gives joins."""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.link(ann, "fe80::a/64", bob, "fe80::b/64", name="lan0")
    server = lab.run(ann, "serve", "--headless", "--no-history", "--no-announce", "--port", "0")
    port = server.expect(r"listening on port (\d+)").group(1)
    bare = lab.run(bob, "connect", "fe80::a", port, "--name", "bob", "--plain")
    said = bare.expect(r"lanchat: fe80::a is a link-local address: .*").group(0)
    assert "it is reached by: fe80::a%lan0 (" in said, said
    assert bare.wait() == 2
    zoned = lab.run(bob, "connect", "fe80::a%lan0", port, "--name", "bob", "--plain")
    zoned.expect("welcome, bob")


def test_no_room_found_from_the_next_classroom_says_rooms_are_not_announced_across_a_router(lab):
    """`lanchat rooms` and `connect "maths 3B"` from another network than the room's: 'no lanchat
    room found on the local network', then the address to ask for and Wi-Fi isolation, nothing on
    why a room that runs is not there. It says rooms are not announced across a router, and the
    address the host gives then joins."""
    room_a, room_b, _router = two_classrooms(lab)
    server = lab.run(room_a, "serve", "--headless", "--no-history", "--port", "0", "--room", "maths 3B")
    port = server.expect(r"listening on port (\d+)").group(1)
    server.expect("announcing")
    for command, code in ((["rooms", "--wait", "1"], 1), (["connect", "maths 3B", "--name", "bob", "--plain"], 1)):
        looked = lab.run(room_b, *command)
        assert looked.wait(30) == code, looked.output
        looked.expect(r"a room on another network, the class next door behind a router, is never")
        too_wide = [line for line in looked.lines if len(line) > 80 and line.startswith("  ")]  # the help, under its first line
        assert not too_wide, too_wide
    joined = lab.run(room_b, "connect", "fd01::10", port, "--name", "bob", "--plain")
    joined.expect("welcome, bob")


def test_connect_across_a_router_says_what_the_kernels_few_words_mean(lab):
    """From the next classroom, four ways of not getting there: the school's router drops the
    port (no answer), refuses it over IPv6 (ICMPv6 admin-prohibited: 'Permission denied'), the
    machine is off (the router answers 'No route to host'), and an IPv6 address from a network
    without IPv6 ('Network is unreachable'). connect said the kernel's words alone ('timed out
    connecting to X'; 'cannot connect to X: Permission denied'), none saying what to think of."""
    room_a, room_b, router = two_classrooms(lab)
    server = lab.run(room_a, "serve", "--headless", "--no-history", "--no-announce", "--port", "0")
    port = server.expect(r"listening on port (\d+)").group(1)
    if shutil.which("nft") is None:
        pytest.skip("needs nft (nftables) for the router's firewall")
    for command in (
        ["add", "table", "inet", "school"],
        ["add", "chain", "inet", "school", "between", "{ type filter hook forward priority 0; }"],
        ["add", "rule", "inet", "school", "between", "ip", "daddr", "198.18.1.10", "tcp", "dport", port, "drop"],
        ["add", "rule", "inet", "school", "between", "ip6", "daddr", "fd01::10", "tcp", "dport", port, "reject", "with", "icmpx", "admin-prohibited"],
        ["add", "rule", "inet", "school", "between", "ip", "daddr", "198.18.1.98", "tcp", "dport", port, "reject", "with", "tcp", "reset"],
    ):  # fmt: skip
        done = lab.run_command(router, "nft", *command)
        assert done.returncode == 0, done.stderr
    dropped = lab.run(room_b, "connect", "198.18.1.10", port, "--name", "bob", "--plain")
    switched_off = lab.run(room_b, "connect", "198.18.1.99", port, "--name", "bob", "--plain")  # nobody has it
    refused = lab.run(room_b, "connect", "fd01::10", port, "--name", "bob", "--plain")
    reset = lab.run(room_b, "connect", "198.18.1.98", port, "--name", "bob", "--plain")  # the router answers with a reset
    reset.expect(r"no lanchat server at 198\.18\.1\.98:\d+ \(connection refused\); is `lanchat serve` running\? "
                 r"\(a firewall on the way that refuses the port reads the same\)$")
    assert reset.wait() == 1
    refused.expect(r"cannot connect to \[fd01::10\]:\d+: Permission denied \(a firewall on the way refuses the port\)$")
    assert refused.wait() == 1
    lab.ip(room_b, "-6", "route", "del", "default")  # this network without IPv6 now
    no_ipv6 = lab.run(room_b, "connect", "fd01::10", port, "--name", "bob", "--plain")
    no_ipv6.expect(r"cannot connect to \[fd01::10\]:\d+: Network is unreachable \(this machine has no IPv6 way there: "
                   r"many networks have none; try its IPv4 address\)$")
    switched_off.expect(r"cannot connect to 198\.18\.1\.99:\d+: No route to host \(the machine is off or not on this "
                        r"network, or a firewall there refuses the port\)$", timeout=30)
    dropped.expect(r"timed out connecting to 198\.18\.1\.10:\d+: no answer in 10 s \(a firewall on the way drops the "
                   r"packets, or the machine is off\)$", timeout=30)
    for proc in (dropped, switched_off, refused, no_ipv6):
        assert proc.wait() == 1
        proc.expect(r"^  `lanchat doctor .* says what is in the way$")
    # and the doctor's words for the two IPv6 ones ("no route there: are both on the same network?"),
    # and for a reset from the router, which reads as nothing listening ("nothing listens there")
    for said, fix in (("connection refused", "a firewall that refuses the port with a reset"),
                      ("Network is unreachable", "no IPv6 route there (many networks have no IPv6): try its IPv4 address"),
                      ("Permission denied", f"a firewall refuses port {port}, on that machine")):  # fmt: skip
        if said == "Permission denied":
            lab.ip(room_b, "-6", "route", "add", "default", "via", "fd02::1")
        address = "198.18.1.98" if said == "connection refused" else "fd01::10"
        done = lab.run_command(room_b, sys.executable, "-m", "lanchat", "doctor", address, port, "--json", "--wait", "0")
        found = {check["name"]: check for check in json.loads(done.stdout)["checks"]}["server"]
        assert found["status"] == "fail" and said in found["summary"] and fix in found["fix"], found


def test_serve_on_two_networks_says_which_address_is_on_which(lab):
    """A teacher's laptop on the Wi-Fi (its way out) and on the lab's cable LAN: `serve` listed
    the Wi-Fi's address first and the lab's second, and nothing said which was which: the lab's
    students, told the first line, could not reach it. The banner now names each one's network."""
    teacher, lab_pc, wifi_pc = lab.namespace("T"), lab.namespace("P"), lab.namespace("W")
    lab.link(teacher, "198.18.5.1/24", wifi_pc, "198.18.5.2/24", name="wifi0")
    lab.link(teacher, "198.18.6.1/24", lab_pc, "198.18.6.2/24", name="lab1", multicast=False)
    lab.ip(teacher, "route", "add", "default", "via", "198.18.5.2")
    server = lab.run(teacher, "serve", "--headless", "--no-history", "--no-announce", "--port", "0")
    port = server.expect(r"listening on port (\d+)").group(1)
    server.expect(r"^  \(this machine is on 2 networks: 198\.18\.5\.1 on wifi0 \(default route\), 198\.18\.6\.1 on lab1; "
                  r"each class joins by the address on its own network\)$")
    assert server.output.index(f"connect 198.18.5.1 {port}") < server.output.index(f"connect 198.18.6.1 {port}")
    student = lab.run(lab_pc, "connect", "198.18.6.1", port, "--name", "ann", "--plain")
    student.expect("welcome, ann")
