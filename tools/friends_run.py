"""tools/friends_run.py: three friends on one LAN, each in a network namespace of their own.

ann hosts a full-duplex room (`lanchat serve`), bob joins by discovery (`lanchat connect` with no
address, after `lanchat rooms`), cy by the address ann's screen shows (IPv4, then the IPv6
link-local one with its zone). Each program runs in a real pseudo-terminal (80x24) read by pyte.
They chat fast all at once, /nick, /away, /w, /me, share a big file (a name with spaces and
unicode, one already in downloads, a download cancelled midway), /save, lose the link for a few
seconds and for a minute, ann's address changes, and ann quits with /q while a file is fetched.

Needs root (ip netns, a bridge, veth pairs, tc netem); everything made is removed at the end, even
on failure. Each step's screens go to OUT/NN-step.txt; the last lines say what looked wrong.
Not a test: about three minutes (--short: without the minute-long cut, about one and a half).
Usage: sudo python tools/friends_run.py [OUT] [--short]. Without netem in the kernel, the lossy
step drops a fifth of what cy sends with nftables instead; big files go at 40 Mbit/s (tbf on
the switch port) so a download can be cancelled midway and the host can quit under one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from _lab import Screens  # noqa: E402

ADDR = {"ann": "198.18.0.1", "bob": "198.18.0.2", "cy": "198.18.0.3"}


class Friends(Screens):
    settle = 0.3
    never_showed = "step {step}: {who} never showed {pattern!r}"

    def __init__(self, out: Path) -> None:
        from netlab import Lab

        super().__init__(out, "lanchat-friends-")
        self.lab = Lab()
        self.lab.tag = f"lcf{os.getpid()}"
        self.ns: dict[str, str] = {}

    def build(self) -> None:
        for who in ADDR:
            self.ns[who] = self.lab.namespace(who[0].upper())
        self.lab.switch(*((self.ns[w], ADDR[w] + "/24") for w in ADDR))
        for n, who in enumerate(ADDR):
            self.lab.ip(self.ns[who], "addr", "add", f"fd42::{n + 1}/64", "dev", "lan0", "nodad")
            self.lab.ip(self.ns[who], "route", "add", "default", "via", "198.18.0.254", "dev", "lan0")

    def sh(self, who: str, *argv: str) -> str:
        done = subprocess.run(["ip", "netns", "exec", self.ns[who], *argv], capture_output=True, text=True,
                              timeout=30, check=False)
        return done.stdout + done.stderr

    def slow(self, who: str, on: bool = True) -> None:
        """What reaches ``who`` from the switch comes at 40 Mbit/s (a big file takes seconds), or as fast as it can."""
        port = f"port{list(ADDR).index(who)}"
        tc = ["tc", "qdisc", "add", "dev", port, "root", "tbf", "rate", "40mbit", "burst", "32kbit",
                                                                        "latency", "400ms"] if on else ["tc", "qdisc", "del", "dev", port, "root"]
        subprocess.run(["ip", "netns", "exec", f"{self.lab.tag}S", *tc], check=False, timeout=10)

    def cable(self, who: str, plugged: bool) -> None:
        """``who``'s cable out, or back in (with the multicast and default routes the link took with it)."""
        self.sh(who, "ip", "link", "set", "lan0", "up" if plugged else "down")
        if plugged:
            self.sh(who, "ip", "route", "add", "224.0.0.0/4", "dev", "lan0")
            self.sh(who, "ip", "route", "add", "default", "via", "198.18.0.254", "dev", "lan0")

    def home(self, who: str) -> Path:
        home = super().home(who)
        (home / "Downloads").mkdir(exist_ok=True)
        return home

    def start(self, key: str, who: str, *args: str, rows: int = 24, cols: int = 80):  # noqa: ANN201
        term = self.terminal(key, self.home(who), args, self.lab.program(self.ns[who]), rows, cols)
        self.lab.procs.append(term)
        return term

    def snap(self, name: str) -> None:
        super().snap(name)
        print(f"-- {self.step:02d} {name}", flush=True)

    def close(self) -> None:
        self.lab.close()  # ends every terminal's lanchat (by PID), then removes the namespaces
        shutil.rmtree(self.homes, ignore_errors=True)


def plan(f: Friends, short: bool) -> None:
    f.build()
    f.start("ann", "ann", "serve", "--name", "ann", "--room", "ann's flat")
    f.wait("ann", r"ann's flat|others join")
    time.sleep(1)
    f.snap("ann-serves")
    rooms = f.start("rooms", "bob", "rooms")
    f.wait("rooms", r"ann's flat")
    time.sleep(2)
    f.snap("rooms")
    f.start("bob", "bob", "connect", "--name", "bob")
    f.wait("bob", r"join ann's flat.*\?")
    f.type("bob", "\r")
    f.wait("bob", r"welcome, bob")
    found = re.search(r"inet6 (fe80::[0-9a-f:]+)/64", f.sh("ann", "ip", "-6", "addr", "show", "dev", "lan0"))
    if found:  # cy tries ann's link-local address first, with her own interface as its zone
        f.start("cy6", "cy", "connect", f"[{found.group(1)}%lan0]:3580", "--name", "cy")
        f.wait("cy6", r"welcome, cy")
        f.snap("cy-by-link-local")
        f.type("cy6", "/q\r", 2)
        f.snap("cy-link-local-left")
    f.start("cy", "cy", "connect", "ANN'S FLAT", "--name", "cy")  # by the name `lanchat rooms` lists (capitals do not count)
    f.wait("cy", r"welcome, cy")
    f.snap("three-joined")
    del rooms
    # fast chat, all three at once
    for n in range(15):
        for who in ("ann", "bob", "cy"):
            f.type(who, f"{who} fast {n}\r", 0.01)
    for who in ("ann", "bob", "cy"):
        f.wait(who, r"cy fast 14\b", 30)
    time.sleep(1)
    f.snap("fast-chat")
    f.type("bob", "/nick bobby\r")
    f.type("cy", "/away lunch\r")
    f.type("ann", "/w cy are you there?\r")
    f.type("bob", "/me waves\r")
    f.type("bob", "/w cy psst\r", 1)
    f.snap("nick-away-w-me")
    f.type("cy", "/away\r", 0.5)
    big = f.home("ann") / "holiday vidéo ☀.bin"
    big.write_bytes(os.urandom(40_000_000))
    (f.home("cy") / "Downloads" / "holiday vidéo ☀.bin").write_bytes(b"old one")
    f.type("ann", f'/send "{big}"\r', 1)
    f.snap("offered")
    f.slow("bob")
    f.type("bob", "/get 1\r", 0)
    f.type("cy", "/get 1\r", 3)
    f.snap("fetching")
    f.type("bob", "/cancel 1\r", 1)
    f.snap("bob-cancels")
    f.slow("bob", on=False)
    print(sorted(p.name for p in (f.home("bob") / "Downloads").iterdir()), flush=True)
    f.wait("cy", r"saved", 60)
    f.snap("cy-saved")
    print(sorted(p.name for p in (f.home("cy") / "Downloads").iterdir()), flush=True)
    f.type("bob", "/get 1\r", 0)
    f.wait("bob", r"saved", 60)
    f.snap("bob-saved")
    f.type("cy", f"/save {f.home('cy')}/chat log.txt\r", 1)
    f.snap("save")
    saved = f.home("cy") / "chat log.txt"
    text = saved.read_text(encoding="utf-8") if saved.exists() else ""
    (f.out / "cy-chat-log.txt").write_text(text, encoding="utf-8")
    for who in ("ann", "bob", "cy"):  # every fast line once, in the order its sender typed it
        numbers = [int(n) for n in re.findall(rf"\b{who}: {who} fast (\d+)$", text, re.MULTILINE)]
        if numbers != list(range(15)):
            f.problems.append(f"cy's transcript has {who}'s fast lines as {numbers}")
    # cut bob's link for a few seconds
    f.cable("bob", plugged=False)
    f.type("bob", "typed while down\r", 0.3)
    f.type("ann", "did bob go?\r", 4)
    f.snap("bob-link-down")
    f.cable("bob", plugged=True)
    time.sleep(8)
    f.snap("bob-link-up")
    # netem loss / delay on cy
    lossy = f.sh("cy", "tc", "qdisc", "add", "dev", "lan0", "root", "netem", "delay", "300ms", "loss", "20%")
    if lossy:  # no netem in this kernel: a fifth of what cy sends is dropped by nftables instead
        print("no netem:", lossy.strip(), flush=True)
        f.sh("cy", "nft", "add", "table", "inet", "lcf")
        f.sh("cy", "nft", "add", "chain", "inet", "lcf", "out", "{ type filter hook output priority 0; }")
        f.sh("cy", "nft", "add", "rule", "inet", "lcf", "out", "numgen", "random", "mod", "5", "==", "0", "drop")
    for n in range(5):
        f.type("cy", f"laggy {n}\r", 0.1)
    time.sleep(6)
    f.sh("cy", "tc", "qdisc", "del", "dev", "lan0", "root")
    f.sh("cy", "nft", "delete", "table", "inet", "lcf")
    time.sleep(2)
    f.snap("cy-netem")
    if not short:
        f.cable("cy", plugged=False)
        f.type("cy", "a minute away\r", 0.3)
        f.type("ann", "cy gone a minute\r", 60)
        f.snap("cy-minute-down")
        f.cable("cy", plugged=True)
        f.wait("cy", r"back in the room", 40)
        time.sleep(2)
        f.snap("cy-minute-up")
    # ann's laptop changes address
    f.sh("ann", "ip", "addr", "del", "198.18.0.1/24", "dev", "lan0")
    f.sh("ann", "ip", "addr", "add", "198.18.0.11/24", "dev", "lan0")
    f.sh("ann", "ip", "route", "add", "default", "via", "198.18.0.254", "dev", "lan0")
    f.type("ann", "my address changed?\r", 6)
    f.type("bob", "still here\r", 6)
    f.snap("ann-new-address")
    # ann quits while cy fetches
    f.slow("cy")
    f.type("cy", "/get 1\r", 2)
    f.type("ann", "/q\r", 0.5)
    f.snap("ann-q-asks")
    f.type("ann", "/q\r", 3)
    f.snap("ann-quit")
    f.the_end("bob", "cy", wait=2)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="friends-run", help="the folder for the screens (default: friends-run)")
    parser.add_argument("--short", action="store_true", help="without the minute-long cut")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    f = Friends(out)
    try:
        plan(f, args.short)
    finally:
        for key, term in f.people.items():
            (out / f"raw-{key}.bin").write_bytes(bytes(term.raw))
        f.close()
    return f.report()


if __name__ == "__main__":
    sys.exit(main())
