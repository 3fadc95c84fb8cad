"""roomwatch_cost.py: what a room that vanished costs the LAN, in multicast DNS queries, from one student's watch.

A student is in ann's room (discovery.RoomWatch follows its announcement); ann's laptop goes
without a goodbye (killed, lid shut, out of the Wi-Fi). zeroconf keeps the room's name (PTR,
75 minutes) long after its address and port (SRV, A: 2 minutes). This counts the queries the
student's machine sends about that room, minute by minute, from the moment it went.

Everything runs between network namespaces made here (tests/netlab.Lab: a veth pair, nothing
leaves the machine); it needs root. The room is announced by a small zeroconf script with short
host records (HOST_TTL s), so they expire in seconds rather than two minutes: the same state.

    sudo python bench/roomwatch_cost.py                        # the code of this tree, 3 minutes
    sudo python bench/roomwatch_cost.py --code /tmp/old --minutes 2   # another tree's lanchat

Measured (results/roomwatch-cost-*.json; 2 queries each time the watch asks, the QU then the QM
question of zeroconf's get_service_info): before, 20 queries a minute for as long as the name
is held (75 minutes: about 1,500 per student, 45,000 from a class of 30); after, 8 queries in
all, in the first minute (asked 4 times: when its records expired, then 6, 17 and 38 s later,
each wait counted from the end of a 1 s ask), then none.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import Proc, child_env  # noqa: E402 - after the path is set
from netlab import Lab, unavailable  # noqa: E402

ANN, BOB = "198.18.0.1", "198.18.0.2"
PORT = 3580
HOST_TTL = 5  # seconds the dead room's address and port stay in the student's cache

# ann's laptop, as far as the LAN can tell: the room announced with lanchat's own TXT record
ANNOUNCE = r"""
import sys, time
from zeroconf import ServiceInfo, Zeroconf
from lanchat.discovery import SERVICE_TYPE, txt_record
zeroconf = Zeroconf(interfaces=[sys.argv[1]])
info = ServiceInfo(SERVICE_TYPE, "ann's room." + SERVICE_TYPE, port=int(sys.argv[2]), server="annlaptop.local.",
                   parsed_addresses=[sys.argv[1]], host_ttl=int(sys.argv[3]),
                   properties=txt_record(room="ann's room", host="annlaptop", mode="duplex", password=False, fingerprint=None))
zeroconf.register_service(info)
print("announced", flush=True)
time.sleep(3600)
"""

# bob's client, as far as discovery goes: one RoomWatch of the room joined at ANN
WATCH = r"""
import sys, time
from lanchat.discovery import RoomWatch
watch = RoomWatch(address=sys.argv[1], port=int(sys.argv[2]), fingerprint=None)
watch.start()
while watch.identity is None:  # (name, host, port, fingerprint): set once the room is recognised
    time.sleep(0.1)
print("found", watch.identity, flush=True)
time.sleep(3600)
"""

# a listener on ann's side of the cable: every query bob's machine sends, as JSON lines
COUNT = r"""
import json, socket, struct, sys, time
from zeroconf import DNSIncoming
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
sock.bind(("", 5353))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton("224.0.0.251") + socket.inet_aton(sys.argv[1]))
print(json.dumps({"listening": True}), flush=True)
while True:
    data, (source, _port) = sock.recvfrom(9000)
    message = DNSIncoming(data)
    if source == sys.argv[2] and message.is_query():
        print(json.dumps({"at": time.monotonic(), "questions": [[q.name, q.type] for q in message.questions]}), flush=True)
"""


def python_in(ns: str, code: str, *args: str, tree: Path) -> Proc:
    env = child_env()
    env["PYTHONPATH"] = str(tree) + os.pathsep + env["PYTHONPATH"]
    # -P: not the current folder (this tree) first on the path, but ``tree``'s lanchat
    return Proc(*args, env=env, program=["ip", "netns", "exec", ns, sys.executable, "-P", "-c", code])


def measure(tree: Path, minutes: float) -> dict:
    lab = Lab()
    try:
        ann, bob = lab.namespace("A"), lab.namespace("B")
        lab.link(ann, f"{ANN}/24", bob, f"{BOB}/24")
        room = python_in(ann, ANNOUNCE, ANN, str(PORT), str(HOST_TTL), tree=tree)
        lab.procs.append(room)
        room.expect("announced", timeout=20)
        counter = python_in(ann, COUNT, ANN, BOB, tree=tree)
        lab.procs.append(counter)
        counter.expect("listening")
        watch = python_in(bob, WATCH, ANN, str(PORT), tree=tree)
        lab.procs.append(watch)
        watch.expect("found", timeout=30)
        mark = counter.mark()
        os.kill(room.popen.pid, signal.SIGKILL)  # no goodbye: the room just vanishes
        room.popen.wait(10)
        start = time.monotonic()  # (its address and port expire in bob's cache HOST_TTL s after they came)
        time.sleep(minutes * 60)
        queries = [json.loads(line) for line in counter.lines[mark:] if line.startswith('{"at"')]
    finally:
        lab.close()
    about_room = [q for q in queries if any("ann" in name for name, _type in q["questions"])]
    per_minute = [sum(1 for q in about_room if start + 60 * m <= q["at"] < start + 60 * (m + 1)) for m in range(int(minutes))]
    return {"code": str(tree), "minutes": minutes, "queries": len(queries), "about_the_dead_room": len(about_room),
            "per_minute": per_minute,
            "first_seconds": [round(q["at"] - start, 1) for q in about_room[:12]]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="the lanchat tree whose RoomWatch is measured")
    parser.add_argument("--minutes", type=float, default=3.0)
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        sys.exit(f"roomwatch_cost: {reason}")
    print(json.dumps(measure(args.code.resolve(), args.minutes)))


if __name__ == "__main__":
    main()
