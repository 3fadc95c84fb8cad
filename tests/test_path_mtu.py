"""A student reaching the room through a smaller hop, behind a firewall that drops ICMP: a
path-MTU black hole (transport.no_path_mtu_black_hole).

The test builds the path in network namespaces of its own (tests/netlab.py): the server's
machine, two routers joined by a 1280-byte link (a school's tunnel), and the student's laptop,
each end link 1500 bytes as usual. Both routers drop the ICMP "fragmentation needed" they would
send. A full-size packet marked "do not fragment" dies at the small hop without a word, and
before the fix bob never saw his welcome: 'connected, but the server said nothing in time'.
Now the packets go unmarked, the router splits them, and the welcome, a history page, a file
each way arrive. (With the ICMP let through, Linux's path-MTU discovery works either way.)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from helpers import DEFAULT_TIMEOUT, identity_args
from netlab import Lab

pytestmark = pytest.mark.timeout(120)

MB = 1024 * 1024


def _cable(lab: Lab, a: str, a_address: str, b: str, b_address: str, mtu: int, number: int) -> None:
    """A veth pair between ``a`` and ``b``, each end named ``hopN`` (netlab's Lab.link gives
    every end lan0 and a multicast route, one per namespace: these routers have two links)."""
    ends = (f"{lab.end}h{number}a"[-15:], f"{lab.end}h{number}b"[-15:])
    subprocess.run(["ip", "link", "add", ends[0], "netns", a, "type", "veth", "peer", "name", ends[1], "netns", b],
                   check=True, capture_output=True, timeout=DEFAULT_TIMEOUT)  # fmt: skip
    for ns, end, address in ((a, ends[0], a_address), (b, ends[1], b_address)):
        lab.ip(ns, "link", "set", end, "name", f"hop{number}", "mtu", str(mtu))
        lab.ip(ns, "addr", "add", address, "dev", f"hop{number}")
        lab.ip(ns, "link", "set", f"hop{number}", "up")


def _black_hole_path(lab: Lab) -> tuple[str, str]:
    """server 198.18.1.1 - r1 =1280= r2 - laptop 198.18.3.2; the routers send no ICMP errors."""
    server, r1, r2, laptop = (lab.namespace(label) for label in ("srv", "r1", "r2", "pc"))
    _cable(lab, server, "198.18.1.1/24", r1, "198.18.1.2/24", 1500, 1)
    _cable(lab, r1, "198.18.2.1/24", r2, "198.18.2.2/24", 1280, 2)
    _cable(lab, r2, "198.18.3.1/24", laptop, "198.18.3.2/24", 1500, 3)
    lab.ip(server, "route", "add", "default", "via", "198.18.1.2")
    lab.ip(r1, "route", "add", "198.18.3.0/24", "via", "198.18.2.2")
    lab.ip(r2, "route", "add", "198.18.1.0/24", "via", "198.18.2.1")
    lab.ip(laptop, "route", "add", "default", "via", "198.18.3.1")
    for router in (r1, r2):
        for command in (
            ["sysctl", "-qw", "net.ipv4.ip_forward=1"],
            ["nft", "add", "table", "inet", "firewall"],
            ["nft", "add", "chain", "inet", "firewall", "out", "{ type filter hook output priority 0; policy accept; }"],
            ["nft", "add", "rule", "inet", "firewall", "out", "icmp", "type", "destination-unreachable", "drop"],
        ):
            done = lab.run_command(router, *command)
            if done.returncode != 0:
                pytest.skip(f"cannot set up the routers here ({' '.join(command[:2])}): {done.stderr.strip()}")
    return server, laptop


def test_a_student_behind_a_path_mtu_black_hole_gets_the_welcome_the_history_and_files(lab, tmp_path):
    server_ns, laptop = _black_hole_path(lab)
    server = lab.run(server_ns, "serve", "--headless", "--host", "198.18.1.1", "--port", "0", "--no-announce",
                     "--history", str(tmp_path / "h.sqlite3"), "--files-dir", str(tmp_path / "files"))  # fmt: skip
    port = server.expect(r"listening on port (\d+)").group(1)
    (tmp_path / "ann").mkdir()
    (tmp_path / "bob").mkdir()
    ann = lab.run(server_ns, "connect", "198.18.1.1", port, "--name", "ann", "--plain", "--downloads", str(tmp_path / "ann"), *identity_args("ann"))
    ann.expect("welcome, ann")
    for number in range(20):  # the replay bob gets on joining: ~8 KB, in full-size packets
        ann.send(f"line {number} " + "x" * 300)
    ann.expect("ann: line 19 ")
    notes = tmp_path / "notes.bin"
    notes.write_bytes(os.urandom(2 * MB))
    ann.send(f"/send {notes}")
    ann.expect("is on offer")
    bob = lab.run(laptop, "connect", "198.18.1.1", port, "--name", "bob", "--plain", "--downloads", str(tmp_path / "bob"), *identity_args("bob"))
    bob.expect("welcome, bob", timeout=30)  # before the fix: 'connected, but the server said nothing in time'
    bob.expect("ann: line 19 ")
    file_id = bob.expect(r"offers notes\.bin .*type /get (\d+)").group(1)
    bob.send(f"/get {file_id}")
    bob.expect(r"saved .*notes\.bin .*SHA-256 checked", timeout=30)
    assert hashlib.sha256((tmp_path / "bob" / "notes.bin").read_bytes()).digest() == hashlib.sha256(notes.read_bytes()).digest()
    # and the other way: bob's upload crosses the small hop from his side
    essay = Path(tmp_path / "essay.bin")
    essay.write_bytes(os.urandom(MB))
    bob.send(f"/send {essay}")
    essay_id = ann.expect(r"bob offers essay\.bin .*type /get (\d+)", timeout=30).group(1)
    ann.send(f"/get {essay_id}")
    ann.expect(r"saved .*essay\.bin .*SHA-256 checked", timeout=30)
