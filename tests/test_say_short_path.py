"""The say short path (Connection.next_says -> Room.said_run -> Hub.say) against the general path.

Two hubs hear the same conversation, byte for byte: one takes a member's ``say`` the short way,
the other is forced onto the general path (``Hub(short_path=False)``). Random conversations mix
says (empty, blank, too long, at the limit, non-ASCII, invisible characters), whispers, broken and
unknown frames, frames with a field too many, operator commands (mute, unmute, turn mode, duplex,
op, deop, pass), typing hints, floods past the limit, reads cut anywhere (partial frames), time
passing and the hub's timers; with history and without, with flood control (a say at a time) and
without (says taken in runs). Every connection must receive exactly the same bytes from both, and
the two history files must hold the same rows and acts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lanchat import events as ev
from lanchat import limits as lim
from lanchat.history import HistoryStore
from lanchat.hub import Hub
from lanchat.protocol import encode
from lanchat.room import Room
from lanchat.server_files import ServerFiles
from lanchat.wire import HEADER, binary_frame

NAMES = ("host", "ann", "bob")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A socket that takes every byte and remembers them."""

    writing = False
    pieces = 0  # plain
    gather = None

    def __init__(self) -> None:
        self.received = bytearray()
        self.finished = False

    def send(self, data: bytes) -> int:
        self.received += data
        return len(data)

    def set_writing(self, writing: bool) -> None:
        self.writing = writing

    def finish(self) -> None:
        self.finished = True


class Side:
    """One hub with its room, clock, history file and one recorder per connection."""

    def __init__(self, folder: Path, *, short_path: bool, history: bool = True, limits: bool = True) -> None:
        self.clock = Clock()
        self.store = HistoryStore(folder / ("short.sqlite3" if short_path else "general.sqlite3"))
        room = Room(clock=self.clock, history=history)
        # limits: a small flood limit (a say at a time is counted); without: says taken in runs
        flood = lim.FloodControl(burst=4, rate=2.0, slow_downs_before_pause=1, pauses_before_disconnect=2) if limits else None
        self.hub = Hub(
            room, files=ServerFiles(), history=self.store if history else None, clock=self.clock, flood=flood,
            short_path=short_path,
        )  # fmt: skip
        self.writers: dict[int, Recorder] = {}
        self.result: tuple[list[bytes], list[tuple], list[ev.Moderated]] | None = None  # outcome() before the store closed
        self.cids = [self.hub.open("127.0.0.1:4000", host=True, handshake=False)]
        self.cids += [self.hub.open(f"127.0.0.1:{4001 + n}", handshake=False) for n in range(len(NAMES) - 1)]
        for cid in self.cids:
            self.writers[cid] = Recorder()

    def feed(self, who: int, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.hub.receive_data(self.cids[who], chunk)
        self.hub.flush(self.writers)

    def tick(self, seconds: float) -> None:
        self.clock.now += seconds
        self.hub.expire()
        self.hub.flush(self.writers)

    def outcome(self) -> tuple[list[bytes], list[tuple], list[ev.Moderated]]:
        rows = [(r.time, r.sender, r.to, r.text) for r in self.store.export()]
        return [bytes(self.writers[cid].received) for cid in self.cids], rows, self.store.acts()


def frame_of(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "\t\n", "hello", "é ü 漢字", "\u200b", "a\u200bb", "\U0001f600", "x" * 4000, "x" * 4001]),
)
RAW = st.sampled_from([
    b"{not json", b"[1, 2]", b'{"type": "say"}', b'{"type": "say", "text": 5}', b'{"type": "say", "text": "a", "x": 1}',
    b'{"type": "say", "text": "\\ud800"}', b'{"type": "say", "text": "a", "text": "b"}', b'{"type": "nope"}',
    b'{"type": "say", "text": "NaN", "n": NaN}', b'{"type":"say","text":"tight"}', b"\xff\xfe", b"",
])  # fmt: skip
MODERATION = st.sampled_from([
    ev.Moderate(action="mute", name="ann", minutes=1), ev.Moderate(action="mute", name="bob"),
    ev.Moderate(action="unmute", name="ann"), ev.Moderate(action="unmute", name="bob"),
    ev.Moderate(action="mode", mode="turn"), ev.Moderate(action="mode", mode="duplex"),
    ev.Moderate(action="op", name="bob"), ev.Moderate(action="deop", name="bob"), ev.Moderate(action="pass"),
])  # fmt: skip
FRAMES = st.one_of(
    st.builds(lambda text: encode(ev.Say(text=text)), TEXTS),
    st.builds(lambda to, text: encode(ev.Whisper(to=to, text=text)), st.sampled_from([*NAMES, "nobody"]), TEXTS),
    st.builds(frame_of, RAW),
    st.builds(encode, MODERATION),
    st.just(encode(ev.Typing())),
    st.just(encode(ev.Who())),
    st.just(binary_frame("f1", b"raw bytes")),
)
# A step: someone sends some frames in reads cut at random places; or time passes.
SENDS = st.tuples(st.integers(0, len(NAMES) - 1), st.lists(FRAMES, min_size=1, max_size=12), st.lists(st.integers(1, 200), max_size=6))
FLOODS = st.tuples(st.integers(1, len(NAMES) - 1), st.integers(5, 40), st.booleans())
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), SENDS),
        st.tuples(st.just("flood"), FLOODS),
        st.tuples(st.just("wait"), st.sampled_from([0.2, 1.0, 5.0, 61.0])),
    ),
    max_size=25,
)


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` in reads of these sizes (the rest in one), as a socket may return it."""
    chunks, at = [], 0
    for size in sizes:
        if at < len(data):
            chunks.append(data[at : at + size])
            at += size
    return chunks + ([data[at:]] if at < len(data) else [])


def play(side: Side, steps: list) -> None:
    for who, name in enumerate(NAMES):
        side.feed(who, [encode(ev.Hello(name=name))])
    for kind, step in steps:
        if kind == "send":
            who, frames, sizes = step
            side.feed(who, cut(b"".join(frames), sizes))
        elif kind == "flood":
            who, count, one_read = step
            frames = [encode(ev.Say(text=f"flood {n}")) for n in range(count)]
            side.feed(who, [b"".join(frames)] if one_read else frames)
        else:
            side.tick(step)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.booleans(), st.booleans())
def test_the_short_path_sends_the_same_bytes_and_keeps_the_same_rows_as_the_general_path(steps, history, limits):
    with tempfile.TemporaryDirectory(prefix="say-path-") as folder:
        short = Side(Path(folder), short_path=True, history=history, limits=limits)
        general = Side(Path(folder), short_path=False, history=history, limits=limits)
        try:
            play(short, steps)
            play(general, steps)
            assert short.outcome() == general.outcome()
            assert short.hub.internal_errors == general.hub.internal_errors == []
        finally:
            short.store.close()
            general.store.close()


def ann_says_in_one_read(texts: list[str], *, limits: bool = True) -> tuple[list[object], Side, Side]:
    """Everyone joins both sides; then ann's says, in one read, to each. Returns what the short
    side's Room.handle was asked meanwhile, and the two sides (stores closed)."""
    with tempfile.TemporaryDirectory(prefix="say-path-") as folder:
        short = Side(Path(folder), short_path=True, limits=limits)
        general = Side(Path(folder), short_path=False, limits=limits)
        try:
            for side in (short, general):
                for who, name in enumerate(NAMES):
                    side.feed(who, [encode(ev.Hello(name=name))])
            asked: list[object] = []
            handle = short.hub.room.handle
            short.hub.room.handle = lambda cid, event: asked.append(event) or handle(cid, event)  # type: ignore[method-assign]
            read = b"".join(encode(ev.Say(text=text)) for text in texts)
            for side in (short, general):
                side.feed(1, [read])
            short.result, general.result = short.outcome(), general.outcome()
        finally:
            short.store.close()
            general.store.close()
    return asked, short, general


def test_a_busy_read_of_says_takes_the_short_path_and_is_delivered_stored():
    """The usual case really takes the short way (Room.handle is never asked), and what it sends
    is what the general path sends: every message stored before anyone receives it."""
    asked, short, general = ann_says_in_one_read([f"line {n}" for n in range(3)])
    assert asked == []
    assert short.result == general.result
    sent, rows, _ = short.result
    assert [row[1:] for row in rows] == [("ann", None, f"line {n}") for n in range(3)]
    assert sent[2].endswith(b"".join(encode(ev.Message(sender="ann", text=f"line {n}", time=1000.0)) for n in range(3)))


def test_a_refused_say_inside_a_read_splits_the_run_and_the_rest_still_takes_the_short_path():
    """Says that fit, one that does not (empty, too long), then more that fit, in one read and
    without flood control (the says come as one run): only the refused ones go through
    Room.handle, each once and in place, and everything sent and stored matches the general path.
    It fails if said_run starts a run again from the first text or skips one."""
    too_long = "x" * (ev.MAX_TEXT_CHARS + 1)
    asked, short, general = ann_says_in_one_read(["one", "", "two", "three", too_long, "four"], limits=False)
    assert asked == [ev.Say(text=""), ev.Say(text=too_long)]
    assert short.result == general.result
    sent, rows, _ = short.result
    assert [row[1:] for row in rows] == [("ann", None, text) for text in ("one", "two", "three", "four")]
    assert sent[1].count(b'"code"') == 2  # ann heard of both refusals, and why
    assert ev.E_EMPTY.encode() in sent[1] and ev.E_TOO_LONG.encode() in sent[1]
