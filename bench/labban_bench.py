"""bench/labban_bench.py: what a /ban costs a lab server's room of students on loopback. Measures, never asserts.

    python bench/labban_bench.py                       # 256 students, 3 rooms, about 20 s
    python bench/labban_bench.py --students 40 --runs 1
    python bench/labban_bench.py --code /tmp/old --label before   # another checkout's server
    python bench/labban_bench.py --against /tmp/old               # and one join's lookup, both in turns

On a lab server the class logs in to the teacher's machine and joins over loopback, each student
under a Unix account of their own; a ban holds the account, which the kernel says (transport.
peer_user: sock_diag, else /proc/net/tcp). Each run starts a real ``lanchat serve --headless --operator hal --no-limits`` (the
limits' caps would refuse the 257th connection from this machine, and the flood limit the
chatter; neither touches the lookup), joins N keyless students over loopback, each on a socket
made by its own account (tests/helpers.sockets_of_accounts: root only), then:

* ``ban_ms``: hal's ``/ban`` of one of them, from sent to the ``moderated`` back (the first ban
  of the room: the one that looks up every member's account);
* ``echo_gap_ms``: meanwhile ann says a line and waits for its echo, again and again; the
  longest round trip in the ban's window, against ``echo_median_ms`` outside it;
* ``class_join_ms``: the median of the class's joins, one after another, before any ban (from
  connect to welcome): each student's account is kept at the join when the kernel says it at
  once (sock_diag; gate.Gate.joined), so a ban after they quit still holds it;
* ``join_ms``: the median of 40 joins (the first left out) after the ban, each of a new account, from connect to
  welcome: a ban by account is in force, so each hello looks its own account up once;
* ``storm_ms`` / ``storm_echo_gap_ms``: then 100 students of new accounts say hello at once (a
  class's clients coming back to a restarted server): until the last is welcome, and ann's
  longest echo meanwhile; each hello is one lookup, in whichever loop pass it arrives;
* ``one_lookup_us`` / ``all_lookups_us``: in this process, ``transport.peer_user`` of one
  student's socket, and ``peer_users`` of all of them (when the code has it), best of 50, with
  the table as the room leaves it (2 rows a student);
* with ``--against DIR``, ``one_lookup_here_us`` / ``one_lookup_there_us``: a join's lookup with
  this code and DIR's, taken in turns on random students' sockets (medians of 400 each).

Figures print as a table and go to bench/results/labban.json, under ``--label``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

FIRST_UID = 20000  # the students' accounts: 20000, 20001, ... (they need not exist)
TIMEOUT = 30.0
STORM = 100  # students who join at once after the ban


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3, help="rooms started afresh (each has its first ban)")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose lanchat runs (default: this one)")
    parser.add_argument("--label", default="this", help="the key the figures are kept under in labban.json")
    parser.add_argument("--against", type=Path, help="another checkout: its peer_user and this one's, taken in turns")
    return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
sys.path.insert(0, str((ARGS.code if ARGS else ROOT).resolve()))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from helpers import RawClient, sockets_of_accounts  # noqa: E402

from lanchat import events as ev  # noqa: E402
from lanchat import transport  # noqa: E402
from lanchat.transport import Endpoint  # noqa: E402


def start_server(code: Path, workdir: Path) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONPATH=str(code), XDG_DATA_HOME=str(workdir), HOME=str(workdir))
    server = subprocess.Popen(
        [sys.executable, "-m", "lanchat", "serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-limits",
         "--operator", "hal", "--history", str(workdir / "history.sqlite3"), "--files-dir", str(workdir / "files")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=workdir, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    for line in server.stdout:
        if "listening on port" in line:
            threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()  # type: ignore[union-attr]
            return server, int(line.split("listening on port", 1)[1].split()[0].strip(":,;"))
    raise RuntimeError("the server did not start")


def join(sock: socket.socket, port: int, name: str) -> RawClient:
    sock.connect(("127.0.0.1", port))
    return RawClient(sock, name, timeout=TIMEOUT)


class Drain(threading.Thread):
    """Reads and drops whatever the server sends the students, so their sockets never fill."""

    def __init__(self, socks: list[socket.socket]) -> None:
        super().__init__(daemon=True)
        self.selector = selectors.DefaultSelector()
        for sock in socks:
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            for key, _ in self.selector.select(0.05):
                try:
                    if not key.fileobj.recv(1 << 16):  # type: ignore[union-attr]
                        self.selector.unregister(key.fileobj)
                except OSError:
                    self.selector.unregister(key.fileobj)


class Chatter(threading.Thread):
    """ann: says a line, waits for its echo, says the next: (sent, echoed) for each."""

    def __init__(self, ann: RawClient) -> None:
        super().__init__(daemon=True)
        self.ann = ann
        self.trips: list[tuple[float, float]] = []
        self.stopping = False

    def run(self) -> None:
        number = 0
        while not self.stopping:
            number += 1
            sent = time.perf_counter()
            self.ann.send(ev.Say(text=f"line {number}"))
            self.ann.expect(ev.Message, text=f"line {number}")
            self.trips.append((sent, time.perf_counter()))


def wait_for_trips(chatter: Chatter, count: int) -> None:
    """Until ann has made ``count`` round trips; bounded: her thread ends on an error (a
    timeout, the server gone), and the wait with it."""
    deadline = time.monotonic() + TIMEOUT
    while len(chatter.trips) < count:
        if not chatter.is_alive() or time.monotonic() > deadline:
            raise SystemExit(f"ann's echoes stopped after {len(chatter.trips)} round trips")
        time.sleep(0.01)


def best_us(call, repeats: int = 50) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times) * 1e6


def lookups_in_turns(other: Path, peers: list[socket.socket], rounds: int = 400) -> dict[str, float]:
    """The median time of one lookup (a join's) with this code's peer_user and ``other``'s, in
    turns, on the same sockets and table, in random order: the machine's noise falls on both."""
    spec = importlib.util.spec_from_file_location("other_transport", other / "lanchat" / "transport.py")
    assert spec is not None and spec.loader is not None
    theirs = sys.modules["other_transport"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(theirs)
    times: dict[str, list[float]] = {"one_lookup_here_us": [], "one_lookup_there_us": []}
    chance = random.Random(7)
    for _ in range(rounds):
        peer = chance.choice(peers)
        turns = [("one_lookup_here_us", transport.peer_user), ("one_lookup_there_us", theirs.peer_user)]
        chance.shuffle(turns)
        for key, lookup in turns:
            started = time.perf_counter()
            lookup(peer)
            times[key].append(time.perf_counter() - started)
    return {key: round(statistics.median(spent) * 1e6, 1) for key, spent in times.items()}


def join_storm(socks: list[socket.socket], port: int, ann: RawClient) -> tuple[float, float, list[RawClient]]:
    """STORM students of new accounts say hello at once (a class's clients rejoining a restarted
    server): ms until the last is welcome, and the longest echo of ann's meanwhile."""
    chatter = Chatter(ann)
    chatter.start()
    wait_for_trips(chatter, 50)
    for sock in socks:
        sock.connect(("127.0.0.1", port))
    comers = [RawClient(sock, timeout=TIMEOUT) for sock in socks]
    started = time.perf_counter()
    for n, comer in enumerate(comers):
        comer.send(ev.Hello(name=f"storm{n:03d}"))
    for comer in comers:
        comer.expect(ev.Welcome)
    done = time.perf_counter()
    chatter.stopping = True
    chatter.join(TIMEOUT)
    during = [end - start for start, end in chatter.trips if end >= started and start <= done]
    return (done - started) * 1000, max(during, default=0.0) * 1000, comers


def one_room(code: Path, students: int) -> dict[str, float]:
    """One fresh room: its first /ban timed, the chat's echo meanwhile, then joins and lookups."""
    with tempfile.TemporaryDirectory(prefix="lc-labban-") as folder:
        server, port = start_server(code, Path(folder))
        clients: list[RawClient] = []
        try:
            hal = RawClient(Endpoint(host="127.0.0.1", port=port), "hal", timeout=TIMEOUT, key=Ed25519PrivateKey.generate())
            hal.expect(ev.Operators)
            ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann", timeout=TIMEOUT)
            clients += [hal, ann]
            socks = sockets_of_accounts([FIRST_UID + n for n in range(students + 41 + STORM)])
            pupils, class_join_times = [], []
            for n, sock in enumerate(socks[:students]):  # no ban yet: a join asks the kernel at most (sock_diag)
                started = time.perf_counter()
                pupils.append(join(sock, port, f"s{n:03d}"))
                class_join_times.append((time.perf_counter() - started) * 1000)
            clients += pupils
            drain = Drain([c.sock for c in pupils])
            drain.start()
            chatter = Chatter(ann)
            chatter.start()
            wait_for_trips(chatter, 200)  # the room settled: the join notices are out
            hal.drain(0.05)
            banned = f"s{students // 2:03d}"
            asked = time.perf_counter()
            hal.send(ev.Moderate(action="ban", name=banned, reason="bench"))
            hal.expect(ev.Moderated, action="ban", name=banned)
            answered = time.perf_counter()
            wait_after = time.perf_counter() + 0.2
            while time.perf_counter() < wait_after:
                time.sleep(0.01)
            chatter.stopping = True
            chatter.join(TIMEOUT)
            trips = chatter.trips
            during = [end - start for start, end in trips if end >= asked and start <= answered]
            outside = [end - start for start, end in trips if end < asked or start > answered]
            join_times = []
            for n, sock in enumerate(socks[students : students + 41]):
                started = time.perf_counter()
                late = join(sock, port, f"late{n:02d}")
                join_times.append((time.perf_counter() - started) * 1000)
                clients.append(late)
            storm_ms, storm_gap_ms, comers = join_storm(socks[students + 41 :], port, ann)
            clients += comers
            peers = [c.sock for c in pupils]
            figures = {
                "ban_ms": round((answered - asked) * 1000, 1),
                "echo_gap_ms": round(max(during, default=0.0) * 1000, 1),
                "echo_median_ms": round(statistics.median(outside) * 1000, 2),
                "join_ms": round(statistics.median(join_times[1:]), 2),
                "class_join_ms": round(statistics.median(class_join_times[1:]), 3),
                "storm_ms": round(storm_ms, 1),
                "storm_echo_gap_ms": round(storm_gap_ms, 1),
                "one_lookup_us": round(best_us(lambda: transport.peer_user(peers[len(peers) // 2])), 1),
                "table_rows": sum(1 for _ in open("/proc/net/tcp")) - 1,  # noqa: SIM115
            }
            if ARGS is not None and ARGS.against is not None:
                figures.update(lookups_in_turns(ARGS.against, peers))
            if hasattr(transport, "peer_users"):
                figures["all_lookups_us"] = round(best_us(lambda: transport.peer_users(peers), 10), 1)
            drain.stopping = True
            return figures
        finally:
            for client in clients:  # reset, not closed: no TIME_WAIT rows left to swell the next run's table
                with contextlib.suppress(OSError):
                    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
            server.terminate()
            server.wait(TIMEOUT)


def main() -> int:
    assert ARGS is not None
    if os.geteuid() != 0:
        print("labban_bench needs root: each student's socket is made by an account of its own")
        return 1
    runs = [one_room(ARGS.code, ARGS.students) for _ in range(ARGS.runs)]
    summary: dict[str, object] = {"students": ARGS.students, "runs": runs}
    for key in runs[0]:
        summary[f"median_{key}"] = statistics.median(run[key] for run in runs)
    for key, value in summary.items():
        if key != "runs":
            print(f"{key:<24} {value}")
    out = HERE / "results" / "labban.json"
    kept = json.loads(out.read_text()) if out.exists() else {}
    kept[ARGS.label] = summary
    out.write_text(json.dumps(kept, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
