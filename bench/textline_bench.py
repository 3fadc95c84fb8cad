"""bench/textline_bench.py: what a room's broadcasts cost to render for text participants (nc,
telnet). Measures, never asserts.

    python bench/textline_bench.py            # a few seconds
    python bench/textline_bench.py --quick    # well under a second (the smoke test's size)

A pass's broadcast (one run of ``--frames`` chat messages, the very bytes object outbox.py hands
to each text participant) is rendered for ``--people`` text participants, ``--passes`` times:
1) shared: as the server does it (textline.TextDoor gives them one DecodedFrames), decoded once
   per pass, rendered per participant;
2) apart: each participant with its own DecodedFrames, decoded once per participant (what every
   pass cost before the decode was shared).
CPU time of this thread (time.thread_time), the best of 5 rounds. Results print and go to
bench/results/textline.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lanchat import events as ev  # noqa: E402
from lanchat.protocol import encode  # noqa: E402
from lanchat.textline import DecodedFrames, TextConnection  # noqa: E402

TEXT = "the quick brown fox jumps over the lazy dog, twice: 0123456789abc"  # 64 bytes, as loadgen's
# --text: the same message in other scripts (not ASCII: textsafe.visible's longer path)
TEXTS = {"ascii": TEXT, "cjk": "敏捷的棕色狐狸跳过了懒狗两次：零一二三四五六七八九", "latin": "le vif renard brun saute par-dessus le chien paresseux, deux fois: à é"}


def participants(count: int, shared: DecodedFrames | None) -> list[TextConnection]:
    people = []
    for n in range(count):
        conn = TextConnection(stamp=lambda when: "12:00", decoded=shared)
        conn.receive_data(f"nc{n}\n".encode())
        conn.events()
        conn.show(ev.Welcome(name=f"nc{n}", mode="duplex", members=("ann", f"nc{n}")))
        people.append(conn)
    return people


def one_round(people: list[TextConnection], frames: int, passes: int, text: str = TEXT) -> float:
    """CPU seconds to render ``passes`` broadcasts of ``frames`` messages for everyone."""
    broadcasts = [b"".join(encode(ev.Message(sender="ann", text=text, time=1764784547.0 + index + n / 1000))
                           for n in range(frames)) for index in range(passes)]  # a new bytes object each pass
    started = time.thread_time()
    for broadcast in broadcasts:
        for conn in people:
            conn.render_frames(broadcast)
    return time.thread_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--passes", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="a tenth of the passes")
    parser.add_argument("--text", choices=sorted(TEXTS), default="ascii", help="the messages' script (default ascii)")
    parser.add_argument("--out", type=Path, help="default results/textline.json (textline-TEXT.json for another --text)")
    args = parser.parse_args()
    args.out = args.out or HERE / "results" / ("textline.json" if args.text == "ascii" else f"textline-{args.text}.json")
    passes = max(1, args.passes // 10) if args.quick else args.passes
    result: dict[str, object] = {"people": args.people, "frames_per_pass": args.frames, "passes": passes,
                                 "text": args.text, "loadavg": os.getloadavg()[0]}
    for label, shared in (("shared", True), ("apart", False)):
        best = min(one_round(participants(args.people, DecodedFrames() if shared else None), args.frames, passes, TEXTS[args.text])
                   for _ in range(5))
        result[f"{label}_cpu_s"] = round(best, 4)
        result[f"{label}_us_per_frame_per_person"] = round(best / (passes * args.frames * args.people) * 1e6, 3)
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
