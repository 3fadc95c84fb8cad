"""bench/room_scale_bench.py: the server's work per event in a room of 50, 500 and 2,000 members. Measures, never asserts.

    python bench/room_scale_bench.py                    # under a minute
    python bench/room_scale_bench.py --quick            # N = 50 and 200, few events (checks it runs)
    python bench/room_scale_bench.py --profile who:2000 # a cProfile of one kind at one size

A lab server of 500 (issue 18): one event (a join, a /nick, a kick...) should cost the
server work that grows with the room only where it must: a notice told to N people is N
deliveries, a welcome carries N names. This drives a real ``Hub`` (no socket: writers that take
every byte, as bench/hub_bench.py) with history off, the host first (an operator), then N-1
members (``fill``: those N joins one after another, per join), and times each kind of event: CPU time (``time.thread_time``) per event, including the
flush of what it sends, the best of 5 rounds. ``per_member_ns`` is that divided by N: flat across
N means the work is the inherent one per member; growing means a candidate (bench/README.md,
"A lab server of 500: work per event").

Results print as a table and go to bench/results/room_scale.json (or --out).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lanchat import events as ev  # noqa: E402
from lanchat.hub import Hub  # noqa: E402
from lanchat.protocol import encode  # noqa: E402
from lanchat.room import Room  # noqa: E402
from lanchat.server_files import ServerFiles  # noqa: E402


class Sink:
    """A writer that takes every byte at once, as a fast reader's socket would."""

    writing = False
    pieces = 0  # plain
    gather = None

    def send(self, data: bytes) -> int:
        return len(data)

    def set_writing(self, writing: bool) -> None:
        self.writing = writing

    def finish(self) -> None:
        pass


class Lab:
    """A Hub with the host and N-1 members in; events in by name, as bytes, each pass flushed."""

    def __init__(self, members: int) -> None:
        self.hub = Hub(Room(history=False), files=ServerFiles())
        self.writers: dict[int, Sink] = {}
        self.cid: dict[str, int] = {}
        self.fresh = 0  # names for newcomers
        self.join("host", host=True)
        for n in range(1, members):
            self.join(f"u{n}")
        self.settle()

    def settle(self) -> None:
        """Let held join notices go (big rooms wait NOTICE_DELAY_SECONDS to batch them)."""
        self.hub.flush(self.writers)
        self.hub.outbox.release_notices()
        self.hub.flush(self.writers)

    def join(self, name: str, *, host: bool = False, resume: str | None = None) -> int:
        cid = self.hub.open("bench", host=host, handshake=False)
        self.writers[cid] = Sink()
        self.hub.receive_data(cid, encode(ev.Hello(name=name, resume=resume)))
        self.hub.flush(self.writers)
        self.cid[name] = cid
        return cid

    def send(self, name: str, event: ev.Event) -> None:
        self.hub.receive_data(self.cid[name], encode(event))
        self.hub.flush(self.writers)

    def drop(self, name: str) -> None:
        """The connection ends (a lost link, or after a kick): closed, gone from the writers."""
        cid = self.cid.pop(name)
        self.hub.receive_data(cid, b"")
        self.hub.close(cid)
        self.writers.pop(cid, None)
        self.hub.flush(self.writers)

    def newcomer(self) -> str:
        self.fresh += 1
        return f"new{self.fresh}"


def _kinds(lab: Lab, k: int) -> dict[str, tuple[Callable[[int], Callable[[], None]], Callable[[int], None]]]:
    """kind -> (prepare(i), untimed, which returns the event to time; undo(i), untimed). Event i
    is about member "u{i+1}" or a newcomer of its own; the host (an operator) moderates."""
    joined: list[str] = []

    def join(i: int) -> Callable[[], None]:
        name = lab.newcomer()
        joined.append(name)
        return lambda: (lab.join(name), None)[1]

    def leave_undo(i: int) -> None:
        lab.drop(joined.pop())

    def leave(i: int) -> Callable[[], None]:
        name = lab.newcomer()
        lab.join(name)
        return lambda: lab.send(name, ev.Bye())

    def lost(i: int) -> Callable[[], None]:
        name = lab.newcomer()
        lab.join(name)
        return lambda: lab.drop(name)

    def rejoin(i: int) -> Callable[[], None]:
        name = lab.newcomer()
        lab.join(name)
        token = lab.hub.room.members[lab.cid[name]].resume
        lab.drop(name)  # a lost link: the session is kept for a rejoin
        return lambda: (lab.join(name, resume=token), None)[1]

    def moderate(action: str, **fields: object) -> Callable[[int], Callable[[], None]]:
        return lambda i: (lambda: lab.send("host", ev.Moderate(action=action, name=f"u{i + 1}", **fields)))  # type: ignore[arg-type]

    def kick(i: int) -> Callable[[], None]:
        name = lab.newcomer()
        lab.join(name)
        return lambda: lab.send("host", ev.Moderate(action="kick", name=name, reason="bench"))

    def ban(i: int) -> Callable[[], None]:
        name = lab.newcomer()
        lab.join(name)
        return lambda: lab.send("host", ev.Moderate(action="ban", name=name, reason="bench"))

    def unban(i: int) -> None:
        lab.send("host", ev.Moderate(action="unban", name=f"new{lab.fresh}"))

    def offer(i: int) -> Callable[[], None]:
        return lambda: lab.send(f"u{i + 1}", ev.OfferFile(ref=i + 1, name=f"notes{i}.txt", size=1000))

    def say_turn(i: int) -> Callable[[], None]:
        room = lab.hub.room
        holder = room.name_of(room.turn_holder) if room.turn_holder is not None else "host"
        return lambda: lab.send(holder or "host", ev.Say(text="my turn"))

    def nothing(i: int) -> None:
        pass

    def drop_kicked(i: int) -> None:
        name = f"new{lab.fresh}"
        if name in lab.cid:
            lab.drop(name)

    return {
        "join": (join, leave_undo),
        "leave": (leave, drop_kicked),
        "lost": (lost, nothing),
        "rejoin": (rejoin, leave_undo_by(lab)),
        "nick": (lambda i: (lambda: lab.send(f"u{i + 1}", ev.Nick(name=f"v{i + 1}"))), lambda i: lab.send(f"u{i + 1}", ev.Nick(name=f"u{i + 1}"))),
        "away": (lambda i: (lambda: lab.send(f"u{i + 1}", ev.SetAway(reason="lunch"))), lambda i: lab.send(f"u{i + 1}", ev.SetAway(reason=""))),
        "who": (lambda i: (lambda: lab.send(f"u{i + 1}", ev.Who())), nothing),
        "typing": (lambda i: (lambda: lab.send(f"u{i + 1}", ev.Typing())), nothing),
        "say": (lambda i: (lambda: lab.send(f"u{i + 1}", ev.Say(text="hello all"))), nothing),
        "me": (lambda i: (lambda: lab.send(f"u{i + 1}", ev.Me(text="waves"))), nothing),
        "whisper": (lambda i: (lambda: lab.send(f"u{i + 1}", ev.Whisper(to="host", text="psst"))), nothing),
        "topic": (lambda i: (lambda: lab.send("host", ev.SetTopic(text=f"lesson {i}"))), nothing),
        "kick": (kick, drop_kicked),
        "ban": (ban, lambda i: (drop_kicked(i), unban(i), None)[2]),
        "mute": (moderate("mute", minutes=5), lambda i: lab.send("host", ev.Moderate(action="unmute", name=f"u{i + 1}"))),
        "op": (moderate("op"), lambda i: lab.send("host", ev.Moderate(action="deop", name=f"u{i + 1}"))),
        "ping": (lambda i: (lambda: lab.send(f"u{i + 1}", ev.Ping())), nothing),
        "offer": (offer, nothing),
        "turn_pass": (say_turn, nothing),
    }


def leave_undo_by(lab: Lab) -> Callable[[int], None]:
    def undo(i: int) -> None:
        name = f"new{lab.fresh}"
        if name in lab.cid:
            lab.send(name, ev.Bye())
            lab.drop(name)
    return undo


def measure(members: int, kinds: list[str], k: int, rounds: int = 5) -> dict[str, float]:
    """Microseconds of CPU per event, each kind the best of ``rounds`` rounds of ``k`` events."""
    result: dict[str, float] = {}
    started = time.thread_time()
    lab = Lab(members)  # the whole class joining one by one: every join's work, summed
    result["fill"] = (time.thread_time() - started) * 1e6 / members
    table = _kinds(lab, k)
    for kind in kinds:
        if kind == "turn_pass":
            lab.send("host", ev.Moderate(action="mode", mode="turn"))
        prepare, undo = table[kind]
        best = float("inf")
        for _ in range(rounds):
            spent = 0.0
            for i in range(k):
                event = prepare(i)
                started = time.thread_time()
                event()
                lab.settle()  # held join notices too: their cost is the event's
                spent += time.thread_time() - started
                undo(i)
                lab.settle()
            best = min(best, spent)
        if kind == "turn_pass":
            lab.send("host", ev.Moderate(action="mode", mode="duplex"))
            lab.settle()
        result[kind] = best / k * 1e6
    return result


KINDS = ["join", "leave", "lost", "rejoin", "nick", "away", "who", "typing", "say", "me", "whisper", "topic",
         "kick", "ban", "mute", "op", "ping", "offer", "turn_pass"]


def profile(spec: str) -> None:
    kind, _, size = spec.partition(":")
    lab = Lab(int(size or 500))
    prepare, undo = _kinds(lab, 20)[kind]
    if kind == "turn_pass":
        lab.send("host", ev.Moderate(action="mode", mode="turn"))
    prof = cProfile.Profile()
    for i in range(20):
        event = prepare(i)
        prof.enable()
        event()
        lab.settle()
        prof.disable()
        undo(i)
        lab.settle()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small rooms, few events: checks that it runs")
    parser.add_argument("--only", default="", help="comma-separated kinds (default: all)")
    parser.add_argument("--profile", default="", metavar="KIND:N", help="print a cProfile of one kind at one size")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "room_scale.json")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile)
        return 0
    kinds = [k for k in args.only.split(",") if k] or KINDS
    sizes, k = ((50, 200), 5) if args.quick else ((50, 500, 2000), 20)
    results: dict[str, dict[str, float]] = {}
    for members in sizes:
        for kind, us in measure(members, kinds, k).items():
            results.setdefault(kind, {})[f"n{members}_us"] = round(us, 1)
            results[kind][f"n{members}_per_member_ns"] = round(us * 1000 / members, 1)
    print(f"{'event':<10}" + "".join(f"{f'N={n} us':>12}{'ns/member':>11}" for n in sizes))
    for kind, row in results.items():
        print(f"{kind:<10}" + "".join(f"{row[f'n{n}_us']:>12.1f}{row[f'n{n}_per_member_ns']:>11.1f}" for n in sizes))
    if not args.quick or args.out != HERE / "results" / "room_scale.json":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"python": sys.version.split()[0], **results}, indent=2) + "\n")
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
