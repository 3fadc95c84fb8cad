"""A class on a LAN whose IPv6 prefix is global, as the teacher meets it: a real headless
server in one network namespace, the students' machines in another, one veth pair between.

Every address of the class is in 2001:db8:1::/64 (the documentation prefix, RFC 3849), the
server's own network. Counted per /64, the class was one machine: the 17th student was
refused "too many connections" and a ban of one student's address banned the LAN. Each
student's socket is bound to an address of its own, as each laptop has one.
"""

from __future__ import annotations

import json
import re
import sys

import pytest
from helpers import Proc, identity_args, wait_for
from netlab import Lab

from lanchat.limits import MAX_PER_ADDRESS

SERVER = "2001:db8:1::1"
STUDENTS = MAX_PER_ADDRESS + 4  # more than one address may open at once


def student_address(number: int) -> str:
    return f"2001:db8:1::{0x100 + number:x}"


# One process plays the class: a line on its stdin opens or watches a connection, a line on its
# stdout says what came of it. "join NAME SOURCE": hello from SOURCE, then "NAME welcome" or
# "NAME error CODE". "gone NAME": read until the server closes it, then "NAME closed CODE".
# "offer NAME SIZE": offer a file of SIZE bytes, then "NAME upload-ready" or "NAME file-error MESSAGE".
# "keyjoin NAME SOURCE": as join, with a fresh identity key that answers the challenge.
# "leave NAME": close that connection, then "NAME left".
CLASS = r"""
import json, socket, struct, sys

def frame(obj):
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body

class Student:
    def __init__(self, name, source, keyed=False):
        self.name = name
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.bind((source, 0))
        self.sock.connect((sys.argv[1], int(sys.argv[2])))
        self.key = None
        hello = {"type": "hello", "name": name, "version": 1}
        if keyed:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            from lanchat import identity
            self.key = Ed25519PrivateKey.generate()
            hello.update(version=2, key=identity.b64(identity.public_bytes(self.key)))
        self.sock.sendall(frame(hello))
        self.data = b""

    def answer(self, challenge):
        from lanchat import identity
        nonce = identity.unb64(challenge["nonce"], identity.NONCE_BYTES, "nonce")
        self.sock.sendall(frame({"type": "auth", "signature": identity.b64(identity.sign_challenge(self.key, nonce))}))

    def next_frame(self):
        while len(self.data) < 4 or len(self.data) < 4 + struct.unpack(">I", self.data[:4])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.data += chunk
        size = struct.unpack(">I", self.data[:4])[0]
        body, self.data = self.data[4:4 + size], self.data[4 + size:]
        return json.loads(body)

students = {}
for line in sys.stdin:
    command, name, *rest = line.split()
    if command in ("join", "keyjoin"):
        student = students[name] = Student(name, rest[0], keyed=command == "keyjoin")
        while (obj := student.next_frame()) is not None:
            if obj["type"] == "challenge":
                student.answer(obj)
            elif obj["type"] in ("welcome", "error"):
                print(name, obj["type"], obj.get("code", ""), flush=True)
                break
    elif command == "gone":
        code = ""
        while (obj := students[name].next_frame()) is not None:
            if obj["type"] == "error":
                code = obj["code"]
        print(name, "closed", code, flush=True)
    elif command == "leave":
        students.pop(name).sock.close()
        print(name, "left", flush=True)
    elif command == "offer":
        student = students[name]
        student.sock.sendall(frame({"type": "offer", "ref": 1, "name": "big.bin", "size": int(rest[0])}))
        while (obj := student.next_frame()) is not None:
            if obj["type"] in ("upload-ready", "file-error"):
                print(name, obj["type"], obj.get("message", ""), flush=True)
                break
"""


def the_class_lan(lab: Lab, *, server_address_at_start: bool) -> tuple[str, str]:
    """The server's namespace and the class's, joined by a veth; the class's end holds an
    address for each student (nodad: usable at once, no duplicate detection to wait for)."""
    server_ns, class_ns = lab.namespace("S"), lab.namespace("C")
    lab.link(server_ns, "198.18.6.1/24", class_ns, "198.18.6.2/24")
    if server_address_at_start:
        lab.ip(server_ns, "addr", "add", f"{SERVER}/64", "dev", "lan0", "nodad")
    for number in range(1, STUDENTS + 3):
        lab.ip(class_ns, "addr", "add", f"{student_address(number)}/64", "dev", "lan0", "nodad")
    return server_ns, class_ns


def the_class(lab: Lab, class_ns: str, port: int) -> Proc:
    proc = Proc(SERVER, str(port), program=["ip", "netns", "exec", class_ns, sys.executable, "-c", CLASS])
    # ended by the fixture before the namespaces go, and before the server: its sockets never read
    # the server's shutdown notice, so a server stopped first would wait out its flush (2 s) for them
    lab.procs.insert(0, proc)
    return proc


def join(students: Proc, name: str, number: int) -> str:
    """What the server answered ``name``'s hello from student ``number``'s address."""
    mark = students.mark()
    students.send(f"join {name} {student_address(number)}")
    return students.expect(rf"^{name} (welcome|error \S+)", start=mark).group(1)


@pytest.mark.parametrize("server_address_at_start", [True, False], ids=["prefix-up-at-start", "prefix-up-later"])
def test_a_class_on_a_global_ipv6_lan_all_join_and_a_ban_holds_one_machine(lab, server_address_at_start):
    """Twenty students from twenty addresses of the server's own /64 all join; the teacher
    bans one, who cannot come back from that machine, and a classmate still can. Also when
    the prefix comes up after the server started (a slow router advertisement): the server
    looks at its networks again when the first address of a /64 it did not know arrives."""
    server_ns, class_ns = the_class_lan(lab, server_address_at_start=server_address_at_start)
    server = lab.run(server_ns, "serve", "--headless", "--port", "0", "--no-history", "--no-announce", "--operator", "teach")
    port = int(server.expect(r"listening on port (\d+)").group(1))
    if not server_address_at_start:
        lab.ip(server_ns, "addr", "add", f"{SERVER}/64", "dev", "lan0", "nodad")
    teach = lab.run(server_ns, "connect", "127.0.0.1", str(port), "--name", "teach", *identity_args("teach"))
    teach.expect(r"the server made you an operator")

    students = the_class(lab, class_ns, port)
    answers = {f"s{n}": join(students, f"s{n}", n) for n in range(1, STUDENTS + 1)}
    assert answers == {f"s{n}": "welcome" for n in range(1, STUDENTS + 1)}, server.output

    teach.send("/ban s3 spam")
    server.expect(r"teach banned s3: spam")
    students.send("gone s3")
    students.expect(r"^s3 closed banned$")
    assert join(students, "innocent", 3) == "error banned"  # s3's machine, under a new name
    assert join(students, "late", STUDENTS + 1) == "welcome"  # a classmate on the same LAN
    server.expect(r"late joined from \[?2001:db8:1::")


MACHINE_OFF_THE_LAN = "2001:db8:66::"  # a /64 the server is not on: one machine may hold all of it


def test_many_addresses_of_one_64_off_the_lan_share_one_file_quota(lab):
    """The upload quota counts what connection caps and bans count: a machine off the server's
    LAN that holds a whole /64 cannot take a fresh quota with each address of it; two
    classmates on the server's own IPv6 LAN each have their own."""
    server_ns, class_ns = the_class_lan(lab, server_address_at_start=True)
    lab.ip(server_ns, "-6", "route", "add", f"{MACHINE_OFF_THE_LAN}/64", "dev", "lan0")
    for number in (1, 2):
        lab.ip(class_ns, "addr", "add", f"{MACHINE_OFF_THE_LAN}{number}/64", "dev", "lan0", "nodad")
    server = lab.run(
        server_ns, "serve", "--headless", "--port", "0", "--no-history", "--no-announce", "--max-file-mb", "1", "--quota-mb", "1"
    )
    port = int(server.expect(r"listening on port (\d+)").group(1))
    students = the_class(lab, class_ns, port)

    def offer(name: str, size: int) -> str:
        mark = students.mark()
        students.send(f"offer {name} {size}")
        return students.expect(rf"^{name} (upload-ready|file-error .*?)\s*$", start=mark).group(1)

    for name, source in (("mal", f"{MACHINE_OFF_THE_LAN}1"), ("mal2", f"{MACHINE_OFF_THE_LAN}2")):
        mark = students.mark()
        students.send(f"join {name} {source}")
        assert students.expect(rf"^{name} (welcome|error \S+)", start=mark).group(1) == "welcome"
    assert join(students, "ann", 1) == "welcome"
    assert join(students, "bob", 2) == "welcome"
    assert offer("mal", 2**20) == "upload-ready"
    assert offer("mal2", 1000).startswith("file-error refused: big.bin (1000 bytes) would take you over your quota of 1.0 MiB"), server.output
    assert offer("ann", 2**20) == "upload-ready"  # the server's own LAN: one address, one machine
    assert offer("bob", 2**20) == "upload-ready"


def test_a_machine_holding_a_64_off_the_lan_cannot_hoard_names_with_an_address_per_key(lab):
    """From the attacker's side: a name is owned by the first key that uses it, and one machine
    makes at most ten names its own an hour (gate.py). A machine off the server's LAN may hold
    a whole /64; the cap counted each address as a machine, so a script taking a fresh address
    and a fresh key for each name could own every classmate's name before the lesson. Counted
    as connection caps count (limits.address_group), the /64 gets ten; the eleventh name stays
    free for the classmate who comes for it. On the server's own LAN each address is a machine."""
    server_ns, class_ns = the_class_lan(lab, server_address_at_start=True)
    lab.ip(server_ns, "-6", "route", "add", f"{MACHINE_OFF_THE_LAN}/64", "dev", "lan0")
    hoarded = [f"{MACHINE_OFF_THE_LAN}{number:x}" for number in range(1, 12)]
    for address in hoarded:
        lab.ip(class_ns, "addr", "add", f"{address}/64", "dev", "lan0", "nodad")
    server = lab.run(server_ns, "serve", "--headless", "--port", "0", "--no-announce")
    port = int(server.expect(r"listening on port (\d+)").group(1))
    students = the_class(lab, class_ns, port)

    def keyjoin(name: str, source: str) -> str:
        mark = students.mark()
        students.send(f"keyjoin {name} {source}")
        return students.expect(rf"^{name} (welcome|error \S+)", start=mark).group(1)

    for number, source in enumerate(hoarded, start=1):  # a fresh key from a fresh address, each name
        assert keyjoin(f"s{number}", source) == "welcome"
        mark = students.mark()
        students.send(f"leave s{number}")
        students.expect(rf"^s{number} left", start=mark)
    server.expect(r"2001:db8:66::/64 made 10 names its own within the hour: 's11' is used unowned")
    assert keyjoin("s11", student_address(11)) == "welcome", server.output  # the classmate called s11
    assert keyjoin("s10", student_address(10)) == "error name-owned"  # one of the ten it may own
    for number in range(1, 12):  # classmates on the server's own LAN: a machine each
        assert keyjoin(f"lan{number}", student_address(number)) == "welcome"
    assert "made 10 names its own within the hour: 'lan" not in server.output


def test_on_an_ipv6_only_lan_serve_prints_its_address_and_the_room_is_found(lab):
    """Friends on a LAN with IPv6 only (a unique local prefix, no IPv4): `serve` listened on
    every address but printed only 127.0.0.1 to join with and announced nothing (discovery
    spoke IPv4 only), so `connect` with no address found no room. Now the LAN's address is
    printed, the room announced over IPv6, found and joined."""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.link(ann, "fd42:198:18::1/64", bob, "fd42:198:18::2/64")
    server = lab.run(ann, "serve", "--headless", "--port", "0", "--no-history", "--room", "v6 room")
    port = int(server.expect(r"listening on port (\d+)").group(1))
    server.expect(rf"^  python -m lanchat connect fd42:198:18::1 {port}$")
    server.expect(r"announced as 'v6 room'")
    rooms = lab.run(bob, "rooms")
    assert rooms.wait(15) == 0, rooms.output
    rooms.expect(rf"1\. v6 room on \[fd42:198:18::1\]:{port}")
    bob_proc = lab.run(bob, "connect", "--name", "bob")
    bob_proc.expect(rf"joining v6 room on \[fd42:198:18::1\]:{port}")
    bob_proc.expect(r"welcome, bob")
    server.expect(r"bob joined from \[?fd42:198:18::2")


def test_on_a_link_local_only_lan_the_room_is_found_and_joined(lab):
    """Friends whose LAN gives no address at all (no DHCP, no router: two laptops and a cable or
    a bare switch) still have IPv6 link-local addresses. Nobody can type one (its zone is the
    joiner's own interface), so the room is announced with it, and `connect` joins it through the
    interface the announcement came in by."""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.ip(ann, "link", "add", "lan0", "type", "veth", "peer", "name", "lan0", "netns", bob)
    for ns in (ann, bob):  # a fixed link-local address each, usable at once (nodad)
        lab.ip(ns, "link", "set", "lan0", "addrgenmode", "none")
        lab.ip(ns, "link", "set", "lan0", "up")
    lab.ip(ann, "addr", "add", "fe80::a:1/64", "dev", "lan0", "nodad")
    lab.ip(bob, "addr", "add", "fe80::b:2/64", "dev", "lan0", "nodad")
    server = lab.run(ann, "serve", "--headless", "--port", "0", "--no-history", "--room", "cable room")
    port = int(server.expect(r"listening on port (\d+)").group(1))
    server.expect(r"announced as 'cable room'")
    bob_proc = lab.run(bob, "connect", "--name", "bob")
    bob_proc.expect(rf"joining cable room on \[fe80::a:1%lan0\]:{port}")
    bob_proc.expect(r"welcome, bob")
    server.expect(r"bob joined from \[?fe80::b:2")
    # and the doctor, asked on bob's machine, does not say "no network" where the chat works
    done = lab.run_command(bob, sys.executable, "-m", "lanchat", "doctor", "--json", "--wait", "2")
    report = json.loads(done.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["addresses"]["status"] == "info", checks["addresses"]
    assert "fe80::b:2%lan0" in checks["addresses"]["summary"]
    assert checks["discovery"]["status"] == "ok" and report["ok"], report


def test_a_host_on_a_cable_is_told_that_127_0_0_1_is_its_own_address(lab):
    """Two friends' laptops on a cable (session 44): no DHCP, so only IPv6 link-local addresses,
    which nobody types. The host's screen said "join with: python -m lanchat connect 127.0.0.1
    3580" and nothing else, and a friend typing that joins their own machine. Now the screen says
    127.0.0.1 is the host's own machine, above the line saying `lanchat connect` finds the room;
    once the laptop has an address others can type, the line is gone from /address."""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.ip(ann, "link", "add", "lan0", "type", "veth", "peer", "name", "lan0", "netns", bob)
    for ns in (ann, bob):
        lab.ip(ns, "link", "set", "lan0", "addrgenmode", "none")
        lab.ip(ns, "link", "set", "lan0", "up")
    lab.ip(ann, "addr", "add", "fe80::a:1/64", "dev", "lan0", "nodad")
    lab.ip(bob, "addr", "add", "fe80::b:2/64", "dev", "lan0", "nodad")
    own = r"127\.0\.0\.1 is this machine itself: another machine cannot join with it"
    host = lab.term(ann, "serve", "--port", "0", "--no-history", "--room", "cable room", "--name", "ann", rows=24, cols=80)
    host.expect(own)
    host.expect(r"announcing 'cable room' on the local network: `lanchat connect` finds it")
    def announced() -> bool:
        done = lab.run_command(bob, sys.executable, "-m", "lanchat", "rooms", "--json")
        return "cable room" in done.stdout

    wait_for(announced, timeout=20, what="the room announced on the cable")
    friend = lab.term(bob, "connect", "cable room", "--name", "bob", rows=20, cols=60)
    friend.expect(r"welcome, bob", timeout=20)
    host.expect(r"bob joined")
    lab.ip(ann, "addr", "add", "198.18.7.1/24", "dev", "lan0")  # a friend's phone hotspot comes up
    host.expect(r"this machine's address changed: others join with `lanchat connect\s+198\.18\.7\.1 \d+`")
    host.send("/clear\r")
    host.expect_gone(own)
    host.send("/address\r")
    host.expect(r"connect 198\.18\.7\.1 \d+")
    assert not re.search(own, host.text), host.text
