"""bench/wire_bench.py: what one message costs to encode and decode. Measures, never asserts.

    python bench/wire_bench.py            # a few seconds
    python bench/wire_bench.py --quick    # under a second (the smoke test's size)

Per message, in microseconds (the best of 5 rounds, to leave out the other processes' noise):
1) encode: a room message as the server broadcasts it (``protocol.encode(Message)``), a ``say``
   as a client sends it, a ``who`` answer with 10 names, and the JSON layer alone
   (``wire.encode_json`` on a message's dict);
2) decode: the JSON layer alone (``wire.decode_json``) on a ``say`` and a ``message``, and a
   ``say`` all the way from the frame's payload to a checked event, as the server receives it
   (``Connection.receive_data`` + ``events()``), ASCII and non-ASCII text;
3) the say short path (hub.py, ``Hub.say``): a ``say`` frame to its text (``receive_data`` +
   ``next_says``) and a live message's frame from its three fields (``message_frame``).
Results print as a table and go to bench/results/wire.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lanchat import events as ev  # noqa: E402
from lanchat import wire  # noqa: E402
from lanchat.protocol import Connection, Role, encode, message_frame  # noqa: E402

TEXT = "the quick brown fox jumps over the lazy dog, twice: 0123456789abc"  # 64 bytes, as loadgen's
TEXT_UTF8 = "café über naïve façade — ünïcödé ✓ 0123456789"


def per_call_us(fn, number: int) -> float:
    """Microseconds per call: the best of 5 rounds of ``number`` calls."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def joined_connection() -> Connection:
    """A server-side connection past its handshake."""
    conn = Connection(Role.SERVER)
    conn.receive_data(wire.encode_json({"type": "hello", "name": "ann", "version": 1}))
    conn.events()
    conn.send(ev.Welcome(name="ann", mode="free", members=("ann",), host="ann"))
    return conn


def receive_say(payload_frame: bytes):
    """A joined connection fed one ``say`` frame per call."""
    conn = joined_connection()

    def one() -> None:
        conn.receive_data(payload_frame)
        (event,) = conn.events()
        assert type(event) is ev.Say

    return one


def receive_say_short(payload_frame: bytes):
    """As ``receive_say``, taken by the short path: the text only, no event."""
    conn = joined_connection()

    def one() -> None:
        conn.receive_data(payload_frame)
        (text,) = conn.next_says(1)
        conn.next_event()  # nothing left: the taken frames are let go, as the guard's loop does
        assert type(text) is str

    return one


def measure(number: int) -> dict[str, float]:
    message = ev.Message(sender="alice", text=TEXT, time=1764784547.123456)
    message_utf8 = ev.Message(sender="zoë", text=TEXT_UTF8, time=1764784547.123456)
    say = ev.Say(text=TEXT)
    who = ev.Roster(members=tuple(f"student{n}" for n in range(10)))
    message_dict = message.to_json()
    say_payload = wire.encode_json(say.to_json())[wire.HEADER_BYTES :]
    message_payload = encode(message)[wire.HEADER_BYTES :]
    results = {
        "encode_message_us": per_call_us(lambda: encode(message), number),
        "encode_message_utf8_us": per_call_us(lambda: encode(message_utf8), number),
        "encode_say_us": per_call_us(lambda: encode(say), number),
        "encode_who_10_us": per_call_us(lambda: encode(who), number),
        "encode_json_message_dict_us": per_call_us(lambda: wire.encode_json(message_dict), number),
        "decode_json_say_us": per_call_us(lambda: wire.decode_json(say_payload), number),
        "decode_json_message_us": per_call_us(lambda: wire.decode_json(message_payload), number),
        "receive_say_us": per_call_us(receive_say(encode(say)), number),
        "receive_say_utf8_us": per_call_us(receive_say(encode(ev.Say(text=TEXT_UTF8))), number),
        "receive_say_short_path_us": per_call_us(receive_say_short(encode(say)), number),
        "message_frame_us": per_call_us(lambda: message_frame(message.sender, message.text, message.time), number),
    }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few calls: checks that it runs")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "wire.json")
    args = parser.parse_args(argv)
    results = measure(2_000 if args.quick else 50_000)
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value:8.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"python": sys.version.split()[0], **results}, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
