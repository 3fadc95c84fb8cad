"""bench/hub_bench.py: the server's own work per message, with no socket and no other process. Measures, never asserts.

    python bench/hub_bench.py            # a few seconds
    python bench/hub_bench.py --quick    # under a second (the smoke test's size)

The loop's Python work (what bench/run.py cannot separate from the kernel's and the load
generator's) for a room of N: ``hub.receive_data`` of a read holding M ``say`` frames from one
member, then ``hub.flush`` through writers that take every byte and ``hub.expire()``, as one
pass of the loop (``expire`` moves the history journal into SQLite when it is due, so the
moves are counted).
History on (a SQLite file in a temporary folder, as users run it) and off. CPU time per
message (``time.thread_time``), the best of 5 rounds:

* ``busy``: 300 messages a pass (a full-speed room), N = 2 and 10: each pass straight into
  SQLite (history.BUSY_PASS_ROWS);
* ``mid``: 30 messages a pass, N = 2 and 10: each pass one write to the journal, moved into
  SQLite 500 rows at a time (history.MOVE_ROWS);
* ``lone``: 1 message a pass (a chat's pace), N = 2 and 10, back to back: the caches stay warm
  here, so this is the floor of the per-pass cost, not what a pass costs after 10 ms asleep;
* ``busy_n2_history_limits``: busy, N=2, with flood control on as ``serve`` runs it (a bucket
  too large to refuse anything): what the guard adds per message;
* ``busy_n2_history_general_path``: busy, N=2, with the say short path off
  (``Hub(short_path=False)``): every say through Room.handle and perform.

Results print as a table and go to bench/results/hub.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lanchat import events as ev  # noqa: E402
from lanchat.history import HistoryStore  # noqa: E402
from lanchat.hub import Hub  # noqa: E402
from lanchat.limits import FloodControl  # noqa: E402
from lanchat.protocol import encode  # noqa: E402
from lanchat.room import Room  # noqa: E402
from lanchat.server_files import ServerFiles  # noqa: E402

TEXT = "the quick brown fox jumps over the lazy dog, twice: 0123456789abc"  # 64 bytes, as loadgen's


class Sink:
    """A writer that takes every byte at once, as a fast reader's socket would."""

    writing = False
    pieces = 0  # plain
    gather = None

    def __init__(self) -> None:
        self.bytes = 0

    def send(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)

    def set_writing(self, writing: bool) -> None:
        self.writing = writing

    def finish(self) -> None:
        pass


def room_of(
    members: int, history: HistoryStore | None, *, limits: bool = False, short_path: bool = True
) -> tuple[Hub, dict[int, Sink], list[int]]:
    # limits: flood control as `serve` runs it, with a bucket too large to refuse anything here
    flood = FloodControl(burst=10**9, rate=1e9) if limits else None
    hub = Hub(Room(history=history is not None), files=ServerFiles(), history=history, flood=flood, short_path=short_path)
    writers: dict[int, Sink] = {}
    cids = []
    for n in range(members):
        cid = hub.open("bench", handshake=False)
        writers[cid] = Sink()
        hub.receive_data(cid, encode(ev.Hello(name=f"u{n}")))
        cids.append(cid)
    hub.flush(writers)
    time.sleep(0.06)  # join notices wait NOTICE_DELAY_SECONDS in big rooms; let them go
    hub.outbox.release_notices()
    hub.flush(writers)
    return hub, writers, cids


def per_message_us(
    members: int, per_pass: int, passes: int, history: HistoryStore | None, *, limits: bool = False, short_path: bool = True
) -> float:
    hub, writers, cids = room_of(members, history, limits=limits, short_path=short_path)
    read = encode(ev.Say(text=TEXT)) * per_pass
    sender = cids[0]
    best = float("inf")
    for _ in range(5):
        started = time.thread_time()
        for _ in range(passes):
            hub.receive_data(sender, read)
            hub.flush(writers)
            hub.expire()
        best = min(best, time.thread_time() - started)
    expected = 5 * passes * per_pass * members * len(encode(ev.Message(sender="u0", text=TEXT, time=time.time())))
    if sum(w.bytes for w in writers.values()) < expected * 0.9:
        raise SystemExit("the writers did not get the messages: the benchmark is broken")
    return best / (passes * per_pass) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few passes: checks that it runs")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "hub.json")
    args = parser.parse_args(argv)
    scale = 0.05 if args.quick else 1.0
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        for kept in (True, False):
            for members in (2, 10):
                for label, per_pass, passes in (("busy", 300, 20), ("mid", 30, 200), ("lone", 1, 3000)):
                    store = HistoryStore(Path(tmp) / f"h-{members}-{label}.sqlite3") if kept else None
                    key = f"{label}_n{members}_{'history' if kept else 'no_history'}_us_per_message"
                    results[key] = round(per_message_us(members, per_pass, max(1, int(passes * scale)), store), 2)
                    if store is not None:
                        store.close()
        # what the flood control adds per message (serve's default), and the general path for a say
        for limits, short_path, label in ((True, True, "limits"), (False, False, "general_path")):
            store = HistoryStore(Path(tmp) / f"h-2-{label}.sqlite3")
            passes = max(1, int(20 * scale))
            value = per_message_us(2, 300, passes, store, limits=limits, short_path=short_path)
            results[f"busy_n2_history_{label}_us_per_message"] = round(value, 2)
            store.close()
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value:8.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"python": sys.version.split()[0], **results}, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
