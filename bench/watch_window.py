"""watch_window.py: how long after a student's welcome his client's watch knows the room joined by address.

bob joins ann's room by address (`lanchat connect 198.18.0.1 PORT`); from his welcome on, his
client follows the room's announcements (discovery.RoomWatch) so that if ann's laptop gets a
new address he rejoins there. Until the watch has heard the room at the address joined, it
does not know the room (RoomWatch.identity is None), and a move meanwhile is not followed.
This measures that window: from the welcome to the moment the watch knows the room.

Everything runs between network namespaces made here (tests/netlab.Lab: a veth pair, nothing
leaves the machine); it needs root. ann's side is the real `lanchat serve --headless`; bob's
is a small script that joins (client.join) and starts a RoomWatch as the client does after
its welcome, then reports the times of what the watch heard (its browser's first news, each
look) until it knows the room. Each run starts a fresh server and joins as soon as it says
it is announced (as tests/test_discovery.py does), or, with --steady, one server announced
long before, joined again every few seconds. With --move, the join comes 0-3 s after the
announcement (any moment of the server's look at its addresses, every 3 s), ann's address
changes as soon as bob is welcomed, and the run also says when the watch found the room at
its new address (followed_after; null: never).

    sudo python bench/watch_window.py                    # the code of this tree, 10 runs
    sudo python bench/watch_window.py --code /tmp/old    # another tree's lanchat
    sudo python bench/watch_window.py --steady --runs 10
    sudo python bench/watch_window.py --loss 30 --runs 40   # 30 % of the mDNS packets to bob lost
    sudo python bench/watch_window.py --busy 2           # both CPUs kept busy meanwhile
    sudo python bench/watch_window.py --move --runs 60   # ann's laptop moves at once: followed?

Measured (results/watch-window-*.json, README "How soon a student's watch knows the room"):
median 0.1 s, worst 0.15-0.17 s, fresh or steady server, idle or busy machine; with 30 % of the
mDNS packets to bob lost, 6 runs in 40 took 1.1-1.25 s (the browser's second query). With
--move (ann's address changed within 30 ms of the welcome), 4 runs in 60 never knew the room
and so never followed it (the first announcement they heard came 1.5 s after the welcome, at
the new address only: the server had noticed the move before answering the watch).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers import Proc, child_env  # noqa: E402 - after the path is set
from netlab import Lab, unavailable  # noqa: E402

ANN, BOB, MOVED = "198.18.0.1", "198.18.0.2", "198.18.0.5"

# bob's client, as far as the watch goes: join, then a RoomWatch as _room_watch starts one
JOIN_AND_WATCH = r"""
import json, sys, time
from lanchat import discovery
from lanchat.client import join
from lanchat.netinfo import lan_addresses, local_networks
from lanchat.transport import Endpoint, connect

events = []
def note(what, **more):
    events.append({"what": what, "at": round(time.monotonic() - welcomed, 3), **more})

heard_news = discovery._Announced.on_change
def on_change(self, *args, **kwargs):
    if not any(e["what"] == "browser heard" for e in events):
        note("browser heard")
    return heard_news(self, *args, **kwargs)
discovery._Announced.on_change = on_change
looked = discovery.RoomWatch._look
def look(self, zeroconf, names):
    note("look", names=len(names))
    looked(self, zeroconf, names)
    note("looked", known=self.identity is not None)
discovery.RoomWatch._look = look

address, port = sys.argv[1], int(sys.argv[2])
sock = connect(Endpoint(host=address, port=port))
proto, welcome, early = join(sock, sys.argv[3])
welcomed = time.monotonic()
watch = discovery.RoomWatch(address=address, port=port, fingerprint=None, networks=local_networks,
                            own_addresses=lan_addresses, found=None)
watch.start()
moving = sys.argv[4] == "move"
if moving:
    print("welcomed", flush=True)  # ann's laptop gets a new address now
deadline = welcomed + 30
known = followed = None
while time.monotonic() < deadline and (known is None or (moving and followed is None)):
    if known is None and watch.identity is not None:
        known = round(time.monotonic() - welcomed, 3)
    if moving and followed is None and watch.moved_to(address) is not None:
        followed = round(time.monotonic() - welcomed, 3)
    time.sleep(0.005)
watch.close()
sock.close()
print(json.dumps({"known_after": known, "followed_after": followed, "events": events}), flush=True)
"""


def python_in(ns: str, code: str, *args: str, tree: Path) -> Proc:
    env = child_env()
    env["PYTHONPATH"] = str(tree) + os.pathsep + env["PYTHONPATH"]
    # -P: not the current folder (this tree) first on the path, but ``tree``'s lanchat
    return Proc(*args, env=env, program=["ip", "netns", "exec", ns, sys.executable, "-P", "-c", code])


def lanchat_in(lab: Lab, ns: str, *args: str, tree: Path) -> Proc:
    env = child_env()
    env["PYTHONPATH"] = str(tree) + os.pathsep + env["PYTHONPATH"]
    proc = Proc(*args, env=env, program=["ip", "netns", "exec", ns, sys.executable, "-P", "-m", "lanchat"])
    lab.procs.append(proc)
    return proc


def serve(lab: Lab, ns: str, tree: Path) -> tuple[Proc, int]:
    server = lanchat_in(lab, ns, "serve", "--headless", "--port", "0", "--no-history", "--room", "ann's room", tree=tree)
    port = int(server.expect(r"listening on port (\d+)").group(1))
    server.expect(r"announced as ", timeout=20)
    return server, port


def one_join(lab: Lab, ann: str, bob: str, port: int, number: int, tree: Path, *, move: bool) -> dict:
    watch = python_in(bob, JOIN_AND_WATCH, ANN, str(port), f"bob{number}", "move" if move else "stay", tree=tree)
    lab.procs.append(watch)
    if move:  # as tests/test_discovery.py's move_the_host, at once
        watch.expect(r"^welcomed$", timeout=30)
        lab.ip(ann, "addr", "del", f"{ANN}/24", "dev", "lan0")
        lab.ip(ann, "addr", "add", f"{MOVED}/24", "dev", "lan0")
    return json.loads(watch.expect(r'^\{"known_after"', timeout=60).string)


# multicast DNS over Wi-Fi loses packets: this share of those reaching bob's machine are dropped
LOSSY = "table inet lossy {{ chain input {{ type filter hook input priority 0; udp dport 5353 numgen random mod 100 < {} drop; }}; }}"


def measure(tree: Path, runs: int, steady: bool, loss: int, move: bool) -> list[dict]:
    results = []
    lab = Lab()
    try:
        ann, bob = lab.namespace("A"), lab.namespace("B")
        lab.link(ann, f"{ANN}/24", bob, f"{BOB}/24")
        if loss:
            subprocess.run(["ip", "netns", "exec", bob, "nft", "-f", "-"], input=LOSSY.format(loss), text=True,
                           check=True, timeout=10)  # fmt: skip
        server = None
        for number in range(runs):
            if server is None or not steady:
                if server is not None:
                    server.stop()
                server, port = serve(lab, ann, tree)
                if move:  # joined at any moment of the server's look at its addresses (each 3 s)
                    time.sleep(random.uniform(0.0, 3.0))
                if steady:
                    time.sleep(5)  # long past its own announcements
            result = one_join(lab, ann, bob, port, number, tree, move=move)
            print(json.dumps(result), flush=True)
            results.append(result)
            if move:  # the next run's server starts at ANN again
                server.stop()
                server = None
                lab.ip(ann, "addr", "del", f"{MOVED}/24", "dev", "lan0")
                lab.ip(ann, "addr", "add", f"{ANN}/24", "dev", "lan0")
            if steady:
                time.sleep(3)  # the answer to the last watch is not rate-limited for the next
    finally:
        lab.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="the lanchat tree whose RoomWatch is measured")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steady", action="store_true", help="one server, announced long before each join")
    parser.add_argument("--loss", type=int, default=0, help="percent of multicast DNS packets to bob dropped (nft)")
    parser.add_argument("--busy", type=int, default=0, help="this many busy loops run meanwhile (a loaded machine)")
    parser.add_argument("--move", action="store_true", help="ann's laptop gets a new address at bob's welcome")
    parser.add_argument("--out", type=Path, help="write every run and the summary here (JSON)")
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        sys.exit(f"watch_window: {reason}")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        results = measure(args.code.resolve(), args.runs, args.steady and not args.move, args.loss, args.move)
    finally:
        for loop in busy:
            loop.kill()
            loop.wait(10)
    known = [r["known_after"] for r in results if r["known_after"] is not None]
    summary = {"code": str(args.code.resolve()), "steady": args.steady, "loss_percent": args.loss, "busy": args.busy,
               "runs": len(results),
               "never_known": len(results) - len(known),
               "median_s": statistics.median(known) if known else None, "max_s": max(known) if known else None,
               "all_s": [r["known_after"] for r in results]}  # fmt: skip
    if args.move:
        summary["move"] = True
        summary["not_followed"] = sum(r["followed_after"] is None for r in results)
        summary["followed_s"] = [r["followed_after"] for r in results]
    print(json.dumps(summary))
    if args.out is not None:
        args.out.write_text(json.dumps({"summary": summary, "runs": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
