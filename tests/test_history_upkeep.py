"""Dropping old history (history_upkeep.py, history.py's drop_oldest) on real SQLite files in
tmp_path: by age, by size (room messages first, then direct messages), what is never dropped, and
the server doing it off the message path."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import RawClient, local_host, running_server, wait_for
from hypothesis import given, settings
from hypothesis import strategies as st
from test_history import replayed

from lanchat import events as ev
from lanchat.history import HistoryStore
from lanchat.history_upkeep import (
    DAY_SECONDS,
    SIZE_CHECK_SECONDS,
    TELL_AGAIN_SECONDS,
    Upkeep,
    compact_refusal,
    compact_room_needed,
    describe_holdings,
    parse_days,
)
from lanchat.moderation import Ban, Mute

NOW = 1_790_000_000.0  # 2026-09-21
KEY = b"k" * 32


@pytest.fixture
def store(tmp_path):
    opened = HistoryStore(tmp_path / "history.sqlite3")
    yield opened
    opened.close()


def fill(store: HistoryStore, count: int, *, at: float, text: str = "hello", step: float = 1.0) -> None:
    """``count`` room messages from ``at`` on, ``step`` seconds apart, committed through the journal and moved in."""
    for i in range(count):
        store.keep(time=at + i * step, sender="ann", text=text)
    store.commit()
    store.count()  # a statement: the journal moves into SQLite first


def room_texts(store: HistoryStore) -> list[str]:
    return [record.text for record in store.export() if record.to is None]


_DROPS = st.one_of(
    st.tuples(st.just("room"), st.integers(0, 20), st.integers(0, 0)),  # a message, its time
    st.tuples(st.just("direct"), st.integers(0, 20), st.integers(0, 0)),
    st.tuples(st.just("age"), st.integers(0, 20), st.integers(1, 5)),  # before, rows
    st.tuples(st.just("size"), st.integers(0, 4), st.integers(1, 5)),  # keep_newest, rows
    st.tuples(st.just("directs"), st.integers(1, 5), st.integers(0, 0)),  # rows
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_DROPS, max_size=25))
def test_each_kind_of_drop_takes_what_it_should_whatever_came_before(steps):
    """By age, by size (room messages, the newest kept) and direct messages, mixed with new
    messages in any order: each batch drops exactly the oldest it should, so none of the three
    cursors (_drop_from, _room_drop_from, _direct_drop_from) skips a message or goes back."""
    with tempfile.TemporaryDirectory() as folder:
        store = HistoryStore(Path(folder) / "history.sqlite3")
        left: list[tuple[int, float, bool]] = []  # what should be left: (id, time, direct)
        try:
            for what, a, b in steps:
                if what in ("room", "direct"):
                    to = {"to": "bob", "sender_owner": KEY, "recipient_owner": KEY} if what == "direct" else {}
                    left.append((store.append(time=NOW + a, sender="ann", text="x", **to), NOW + a, what == "direct"))
                    continue
                if what == "age":
                    young = next((i for i, row in enumerate(left[:b]) if row[1] >= NOW + a), min(b, len(left)))
                    going = left[:young]
                    dropped, _ = store.drop_oldest(before=NOW + a, rows=b)
                elif what == "size":
                    room = [row for row in left if not row[2]]
                    upper = 2**62 if not a else room[-a][0] if len(room) >= a else 0
                    going = [row for row in room if row[0] < upper][:b]
                    dropped, _ = store.drop_oldest(before=None, rows=b, keep_newest=a)
                else:
                    going = [row for row in left if row[2]][:a]
                    dropped, _ = store.drop_oldest_directs(rows=a)
                left = [row for row in left if row not in going]
                assert dropped == len(going)
                stored = store.db.execute("SELECT id, time, recipient IS NOT NULL FROM messages ORDER BY id").fetchall()
                assert stored == [(id_, at, int(direct)) for id_, at, direct in left]
        finally:
            store.close()


def test_dropping_by_age_takes_old_room_and_direct_messages_and_keeps_everything_else(store):
    """--keep-days is a term's retention: old whispers go too (they were kept for ever, and a flood
    of them filled the disk); bans, mutes, owned names, the topic and the operators stay."""
    store.keep(time=NOW - 40 * DAY_SECONDS, sender="ann", text="old direct", to="bob", sender_owner=KEY, recipient_owner=KEY)
    store.keep(time=NOW - 40 * DAY_SECONDS, sender="ann", text="old room")
    store.keep(time=NOW - 35 * DAY_SECONDS, sender="ann", text="old to herself", to="ann", sender_owner=KEY, recipient_owner=KEY)
    store.keep(time=NOW - 20 * DAY_SECONDS, sender="ann", text="recent room")
    store.keep(time=NOW - 20 * DAY_SECONDS, sender="ann", text="recent direct", to="bob", sender_owner=KEY, recipient_owner=KEY)
    store.commit()
    store.add_ban(Ban(id=1, name="eve", name_key="eve", key=None, address=None, by="ann", reason="spam", time=NOW - 90 * DAY_SECONDS))
    store.add_mute(Mute(name_key="max", key=None, address=None, until=None, by="ann", reason="noise", id=1, name="max"), NOW)
    store.claim("ann", KEY, time=NOW - 90 * DAY_SECONDS)
    store.set_room_topic(ev.Topic(text="term 1", by="ann", time=NOW - 90 * DAY_SECONDS))
    store.add_operator("fingerprint", "ann")
    dropped, more = store.drop_oldest(before=NOW - 30 * DAY_SECONDS, rows=100)
    assert (dropped, more) == (3, False)
    assert [(r.text, r.to) for r in store.export()] == [("recent room", None), ("recent direct", "bob")]
    assert [b.name for b in store.bans()] == ["eve"] and [m.name for m in store.mutes(NOW)] == ["max"]
    assert store.owners() and store.room_topic().text == "term 1" and store.operator_keys() == [("fingerprint", "ann")]


def test_dropping_by_age_goes_in_batches_and_stops_at_the_first_young_message(store):
    fill(store, 250, at=NOW - 10 * DAY_SECONDS, step=60.0)  # 250 minutes of old chat
    fill(store, 5, at=NOW, text="today")
    batches = []
    while True:
        dropped, more = store.drop_oldest(before=NOW - DAY_SECONDS, rows=100)
        batches.append(dropped)
        if not more:
            break
    assert batches == [100, 100, 50]
    assert room_texts(store) == ["today"] * 5


def test_dropping_by_size_never_takes_the_newest(store):
    fill(store, 30, at=NOW)
    dropped, _ = store.drop_oldest(before=None, rows=100, keep_newest=10)
    assert dropped == 20 and store.count() == 10
    assert store.drop_oldest(before=None, rows=100, keep_newest=10) == (0, False)


def test_the_size_cap_drops_the_oldest_down_below_it_and_says_so(store):
    fill(store, 800, at=NOW, text="x" * 4000)  # about 3.5 MB
    assert store.used_bytes() > 3 << 20
    lines: list[str] = []
    now = [0.0]
    upkeep = Upkeep(store, keep_days=None, max_mb=1, clock=lambda: now[0], wall=lambda: NOW, log=lines.append)
    upkeep.batch_rows = upkeep.min_rows = upkeep.max_rows = 10
    upkeep.keep_newest = 20
    for _ in range(500):
        upkeep.step()
        if upkeep.due is None:
            break
        assert upkeep.due == now[0]  # a batch a pass while over the cap
    assert upkeep.due is None  # only a size cap: nothing to do until messages are stored
    assert store.used_bytes() <= 0.9 * (1 << 20)
    texts = [r.id for r in store.export()]
    assert texts == list(range(texts[0], 801))  # the newest stayed, in one piece
    assert len(lines) == 1 and "dropped the oldest" in lines[0] and "1 MiB" in lines[0]


def test_a_stored_pass_arms_the_size_check_and_an_idle_room_sleeps(store):
    from lanchat.history_policy import HistoryPolicy

    now = [100.0]
    policy = HistoryPolicy(store, clock=lambda: now[0])
    policy.keep_only(None, 5)
    assert policy.next_move() == 100.0  # at start: a first look
    policy.move_due()
    assert policy.next_move() is None  # under the cap, nothing stored: nothing to wake up for
    fill(store, 3, at=NOW)  # rows moved into SQLite
    assert policy.next_move() == 100.0 + SIZE_CHECK_SECONDS
    policy.keep_only(30, None)
    assert policy.next_move() == 100.0  # by age: at start, then every ten minutes
    policy.move_due()
    assert policy.next_move() == 700.0


def test_the_start_line_says_what_the_history_holds():
    line = describe_holdings(12_345_678, 40_211, time.mktime((2026, 9, 1, 12, 0, 0, 0, 0, -1)), keep_days=30, max_mb=1024)
    assert line == "11.8 MiB, 40,211 messages since 2026-09-01; keeping 30 days, at most 1,024 MiB"
    assert describe_holdings(4096, 0, None, keep_days=None, max_mb=None) == "4.0 KiB, 0 messages; keeping everything"
    assert parse_days("0.5") == 0.5
    for bad in ("0", "-1", "nan", "1e9"):
        with pytest.raises(ValueError):
            parse_days(bad)


def test_compacting_needs_free_space_for_a_copy_of_what_the_file_holds_and_says_how_much():
    """history compact's check, the free space handed in: a copy of what the file holds (in the
    WAL: 24 bytes a page more) and a MiB; less is refused with both figures, never a guess."""
    held = 38 * 2**20 + 200 * 2**10  # a 412 MiB file pruned to 38.2 MiB
    assert compact_room_needed(held) == held + held // 32 + 2**20
    assert compact_refusal("history.sqlite3", held=held, free=compact_room_needed(held)) is None
    assert compact_refusal("history.sqlite3", held=held, free=compact_room_needed(held) - 1) is not None
    assert compact_refusal("history.sqlite3", held=held, free=12 * 2**20) == (
        "not enough free disk space to compact history.sqlite3: that needs about 40.4 MiB free for a moment (a copy "
        "of the 38.2 MiB it holds), and the disk it is on has 12.0 MiB free"
    )
    assert compact_refusal("h.sqlite3", held=0, free=2**20) is None and compact_refusal("h.sqlite3", held=0, free=2**20 - 1)


def test_a_server_drops_old_history_at_start_and_the_chat_goes_on(store):
    fill(store, 3000, at=time.time() - 40 * DAY_SECONDS)
    fill(store, 3, at=time.time() - 60, text="this morning")
    with running_server(history=store, replay=10, keep_history=(30, None)) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        replayed(ann)
        ann.send(ev.Say(text="live"))
        assert ann.expect(ev.Message).text == "live"  # never held up by the prune
        upkeep = server.hub.history.upkeep
        wait_for(lambda: (due := upkeep.due) is not None and due > server.hub.clock() + 60, what="the first round over")
        ann.close()
    assert room_texts(store) == ["this morning"] * 3 + ["live"]



def test_a_server_over_its_size_cap_drops_only_old_messages_and_every_live_one_is_kept(store, monkeypatch):
    monkeypatch.setattr("lanchat.history_upkeep.KEEP_NEWEST", 20)  # (1,000 of these would be 4 MB)
    fill(store, 600, at=time.time() - 3600, text="y" * 4000)  # 2.5 MB of an hour ago, over a 1 MiB cap
    with running_server(history=store, replay=0, keep_history=(None, 1)) as (server, endpoint):
        upkeep = server.hub.history.upkeep
        ann = RawClient(endpoint, "ann")
        replayed(ann)
        for i in range(30):
            ann.send(ev.Say(text=f"live {i}"))
        for i in range(30):
            assert ann.expect(ev.Message).text == f"live {i}"
        wait_for(lambda: upkeep.due is None, what="the cap's round over")
        ann.close()
    texts = room_texts(store)
    assert texts[-30:] == [f"live {i}" for i in range(30)] and len(texts) < 400
    assert store.used_bytes() <= 1 << 20


def test_serve_caps_the_history_at_1024_mib_unless_told_otherwise():
    from lanchat.cli.args import build_parser

    parse = build_parser().parse_args
    assert parse(["serve"]).max_history_mb == 1024 and parse(["serve"]).keep_days is None
    assert parse(["serve", "--max-history-mb", "0"]).max_history_mb is None  # 0: no limit
    assert parse(["serve", "--max-history-mb", "50", "--keep-days", "30"]).max_history_mb == 50


def test_message_ids_go_on_after_a_restart_that_follows_dropping_the_newest(tmp_path):
    # a room stopped over the summer, started with --keep-days 30: every message goes, and the ids
    # after the restart must not start again below those already seen ("while away" is by id)
    path = tmp_path / "history.sqlite3"
    store = HistoryStore(path)
    store.keep(time=NOW - 90 * DAY_SECONDS, sender="ann", text="early direct", to="bob", sender_owner=KEY, recipient_owner=KEY)
    fill(store, 20, at=NOW - 90 * DAY_SECONDS)
    store.mark_seen("bob")  # bob was there for all 21
    seen = store.last_seen("bob")
    assert store.drop_oldest(before=NOW - 30 * DAY_SECONDS, rows=100) == (21, False)
    store.close()
    store = HistoryStore(path)
    store.keep(time=NOW, sender="ann", text="sent while bob was away", to="bob", sender_owner=KEY, recipient_owner=KEY)
    store.commit()
    missed = store.replay_for("bob", 0, owner=KEY, away_since=store.last_seen("bob"))[0]
    assert store.last_seen("bob") == seen and [r.text for r in missed] == ["sent while bob was away"]
    assert [r.id for r in store.export()][-1] > seen
    store.close()


def test_with_keep_days_too_a_stored_pass_still_has_the_size_looked_at_within_seconds(store):
    # --keep-days 30 with the default cap: a flood must not wait ten minutes for the size to be looked at
    from lanchat.history_policy import HistoryPolicy

    now = [100.0]
    policy = HistoryPolicy(store, clock=lambda: now[0])
    policy.keep_only(30, 5)
    policy.move_due()  # the first round: nothing too old, under the cap
    assert policy.next_move() == 100.0 + 600.0
    now[0] = 150.0
    fill(store, 3, at=NOW)
    assert policy.next_move() == 150.0 + SIZE_CHECK_SECONDS


def test_the_loops_deadline_follows_every_change_of_the_upkeeps_step_and_the_retry(store, monkeypatch):
    # next_move reads one kept attribute (timed_due): each way the upkeep's next step or the retry
    # of unsaved changes moves must reach it, or the loop sleeps through it
    from lanchat.history import HistoryWriteError
    from lanchat.history_policy import RETRY_SECONDS, HistoryPolicy

    now = [100.0]
    warned: list[str] = []
    policy = HistoryPolicy(store, clock=lambda: now[0], warn=warned.append)
    policy.keep_only(30, 5)
    assert policy.next_move() == 100.0

    def refused(**_: object) -> tuple[int, bool]:
        raise HistoryWriteError("database or disk is full")

    fill(store, 3, at=NOW - 40 * DAY_SECONDS)
    monkeypatch.setattr(store, "drop_oldest", refused)
    policy.move_due()  # the batch fails: tried again at the next check
    assert warned and policy.next_move() == 100.0 + 600.0
    full = [True]

    def topic(_store: object) -> None:
        if full[0]:
            refused()

    assert not policy.change(topic)  # a change that waits: retried within RETRY_SECONDS
    assert policy.next_move() == 100.0 + RETRY_SECONDS
    now[0] = 100.0 + RETRY_SECONDS
    policy.save_unsaved()  # (still refused: it waits on, retried later)
    assert policy.next_move() == 100.0 + 2 * RETRY_SECONDS
    full[0] = False
    policy.save_unsaved()  # saved: nothing waits now, back to the upkeep's next step
    assert not policy.unsaved and policy.next_move() == 100.0 + 600.0


def test_the_highest_id_dropped_is_kept_as_a_number_not_the_last_one_written(store):
    # (the settings table holds text: a lower id written later must not win a comparison of text with a number)
    fill(store, 5, at=NOW - 40 * DAY_SECONDS)
    assert store.drop_oldest(before=NOW, rows=100) == (5, False)
    store.db.execute("INSERT INTO settings (key, value) VALUES ('dropped_through', '100') ON CONFLICT(key) DO UPDATE SET value = '100'")
    fill(store, 2, at=NOW - 40 * DAY_SECONDS)  # ids 6 and 7 (numbered on in this run)
    assert store.drop_oldest(before=NOW, rows=100) == (2, False)
    assert store.db.execute("SELECT value FROM settings WHERE key = 'dropped_through'").fetchone()[0] == "100"


@pytest.mark.parametrize("damaged", ["\u00b2", "9" * 30])
def test_a_damaged_highest_id_dropped_opens_the_history_and_ids_go_on_from_the_messages(tmp_path, damaged):
    # '²' is a digit to str.isdigit but not to int(): the history would not open (ValueError, a
    # traceback from serve); a number past the wire's would number every new message out of range
    path = tmp_path / "history.sqlite3"
    store = HistoryStore(path)
    fill(store, 3, at=NOW)
    store.db.execute("INSERT INTO settings (key, value) VALUES ('dropped_through', ?)", (damaged,))
    store.close()
    store = HistoryStore(path)
    try:
        store.keep(time=NOW + 10, sender="ann", text="next")
        store.commit()
        assert [(record.id, record.text) for record in store.export()] == [(1, "hello"), (2, "hello"), (3, "hello"), (4, "next")]
    finally:
        store.close()


def a_round(upkeep: Upkeep) -> None:
    """Steps until the round is over (a batch a pass, on a clock that does not move meanwhile)."""
    for _ in range(500):
        upkeep.step()
        if upkeep.due is None or upkeep.due > upkeep.clock():
            return
    raise AssertionError("the round never ended")


def capped(store: HistoryStore, now: list[float], logged: list[str], told: list[str], host_here: list[bool] | None = None) -> Upkeep:
    """An Upkeep with a 1 MiB cap on ``now``, keeping the newest 20; ``told``: the host's lines."""
    here = host_here if host_here is not None else [True]

    def tell_host(line: str) -> bool:
        if here[0]:
            told.append(line)
        return here[0]

    upkeep = Upkeep(store, keep_days=None, max_mb=1, clock=lambda: now[0], wall=lambda: NOW, log=logged.append, tell_host=tell_host)
    upkeep.batch_rows = upkeep.min_rows = upkeep.max_rows = 50
    upkeep.keep_newest = 20
    return upkeep


def dropped_in(logged: list[str]) -> int:
    return sum(int(line.split()[4].replace(",", "")) for line in logged if "dropped the oldest" in line)


def starts_at(store: HistoryStore) -> str:
    oldest = store.oldest_room_time()
    assert oldest is not None
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(oldest))


def test_the_host_hears_that_the_size_cap_dropped_messages_at_most_once_an_hour_with_what_to_do(store):
    """A flood left running pushed the oldest messages out and only the server's log said so: a
    teacher hosting in the full screen never sees it. The host now hears it, once an hour at most,
    counting what went meanwhile; the log hears every round, as before."""
    now, logged, told = [0.0], [], []
    fill(store, 400, at=NOW, text="x" * 4000)  # 1.7 MB, over the 1 MiB cap
    upkeep = capped(store, now, logged, told)
    a_round(upkeep)
    first = dropped_in(logged)
    assert first > 0 and len(logged) == 1
    assert told == [
        f"history: the file passed its 1 MiB cap (--max-history-mb), so its oldest {first:,} room messages were dropped; "
        f"the room's history now starts at {starts_at(store)}. If someone is flooding, /mute or /ban them; "
        "to keep a copy: lanchat history > term.txt; to keep more, restart with a larger --max-history-mb"
    ]
    now[0] = TELL_AGAIN_SECONDS - 1 - SIZE_CHECK_SECONDS
    fill(store, 400, at=NOW + 1800, text="y" * 4000)  # the flood goes on: over the cap again
    now[0] += SIZE_CHECK_SECONDS  # (the size is looked at within SIZE_CHECK_SECONDS of storing)
    a_round(upkeep)
    assert len(logged) == 2 and len(told) == 1  # within the hour: the log alone
    now[0] = TELL_AGAIN_SECONDS
    fill(store, 400, at=NOW + 3600, text="z" * 4000)
    now[0] += SIZE_CHECK_SECONDS
    a_round(upkeep)
    assert len(logged) == 3 and len(told) == 2
    assert told[1].startswith(f"history: the file passed its 1 MiB cap (--max-history-mb), so its oldest "
                              f"{dropped_in(logged) - first:,} room messages were dropped since the last notice; "
                              f"the room's history now starts at {starts_at(store)}. ")  # fmt: skip


def test_the_host_hears_once_that_the_size_cap_cannot_be_met_and_each_kind_has_its_own_hour(store):
    """Over the cap with only the newest room messages left ("nothing more is dropped"): the log
    said it once and the host never heard. Now the host hears it, as soon as there is a host (at
    start there is none yet), once for as long as it lasts; that messages were dropped meanwhile
    is a notice of another kind, told in the same hour."""
    fill(store, 20, at=NOW, text="r" * 60_000)  # the newest 20 room messages, 1.2 MB: never dropped
    now, logged, told, host_here = [0.0], [], [], [False]
    upkeep = capped(store, now, logged, told, host_here)
    stuck = (f"history: {store.path} holds more than its 1 MiB cap (--max-history-mb), but nothing more can be dropped: "
             "what is left is the newest 20 room messages and the room's settings, which are never dropped. If someone "
             "is flooding, /mute or /ban them; or restart with a larger --max-history-mb")  # fmt: skip
    a_round(upkeep)  # at start: no host yet
    assert logged == [stuck] and told == []
    host_here[0] = True
    store.keep(time=NOW + 400, sender="ann", text="one more", to="bob", sender_owner=KEY, recipient_owner=KEY)
    fill(store, 0, at=NOW)  # (any rows stored: the size is looked at again)
    now[0] += SIZE_CHECK_SECONDS
    a_round(upkeep)  # the direct message went, and it is still stuck: the host hears both
    dropped_one = ("history: the file passed its 1 MiB cap (--max-history-mb), so its oldest 1 direct message was dropped; "
                   f"the room's history now starts at {starts_at(store)}. If someone is flooding, /mute or /ban them; to "
                   "keep a copy: lanchat history > term.txt; to keep more, restart with a larger --max-history-mb")  # fmt: skip
    assert told == [stuck, dropped_one] and logged == [stuck, "history: dropped the oldest 1 direct message: the file "
                                                       "held more than 1 MiB (--max-history-mb)"]  # fmt: skip
    fill(store, 1, at=NOW + 500, text="r" * 60_000)
    now[0] += SIZE_CHECK_SECONDS
    a_round(upkeep)  # still stuck: not said again; the drop of the hour was told already
    assert told == [stuck, dropped_one] and len(logged) == 3


def test_a_whisper_flood_past_the_cap_goes_after_the_old_room_messages_and_the_host_hears_it(store):
    """Whispers (to oneself too) were never dropped: at the flood limit 170 MB an hour a guest,
    2.7 GB for sixteen, until the disk was full. Past the cap the oldest room messages still go
    first, down to the newest; then the oldest direct messages, until the file is back under it."""
    fill(store, 50, at=NOW - 3600, text="r" * 4000)
    for i in range(400):  # 1.6 MB of ann whispering herself
        store.keep(time=NOW + i, sender="ann", text=f"{i} " + "d" * 3990, to="ann", sender_owner=KEY, recipient_owner=KEY)
    store.keep(time=NOW + 400, sender="bob", text="for ann", to="ann", sender_owner=b"b" * 32, recipient_owner=KEY)
    store.commit()
    fill(store, 0, at=NOW)
    now, logged, told = [0.0], [], []
    upkeep = capped(store, now, logged, told)
    a_round(upkeep)
    assert store.used_bytes() <= 0.9 * (1 << 20)
    records = list(store.export())
    room = [r.id for r in records if r.to is None]
    assert room == list(range(31, 51))  # the newest 20 room messages stayed, the 30 older went first
    directs = [r.text.split()[0] for r in records if r.to is not None]
    assert directs[-1] == "for" and directs[:-1] == [str(i) for i in range(400 - len(directs) + 1, 400)]  # the newest
    went = 401 - len(directs)
    assert 100 < went < 400
    assert logged == [f"history: dropped the oldest 30 room messages and {went:,} direct messages: the file held more "
                      "than 1 MiB (--max-history-mb)"]  # fmt: skip
    assert told == [f"history: the file passed its 1 MiB cap (--max-history-mb), so its oldest 30 room messages and "
                    f"{went:,} direct messages were dropped; the room's history now starts at {starts_at(store)}. If "
                    "someone is flooding, /mute or /ban them; to keep a copy: lanchat history > term.txt; to keep more, "
                    "restart with a larger --max-history-mb"]  # fmt: skip
    replay, _more = store.replay_for("ann", 5, owner=KEY, away_since=0)  # a missed whisper kept is still replayed
    assert replay[-1].text == "for ann" and [r.text for r in replay].count("for ann") == 1


def test_a_server_flooded_with_whispers_gets_its_history_back_under_the_cap_and_replays_what_it_kept(store, monkeypatch):
    """The flood over a real socket, a student whispering a friend as fast as the loopback takes it:
    the file gets back under its cap, the room's newest messages stay, and a whisper kept for
    someone away is still replayed when they come back."""
    monkeypatch.setattr("lanchat.history_upkeep.KEEP_NEWEST", 20)
    monkeypatch.setattr("lanchat.history_upkeep.SIZE_CHECK_SECONDS", 0.05)
    for name in ("BATCH_ROWS", "MIN_BATCH_ROWS", "MAX_BATCH_ROWS"):  # (a batch of 1,000 would take them all)
        monkeypatch.setattr(f"lanchat.history_upkeep.{name}", 20)
    fill(store, 30, at=time.time() - 3600, text="r" * 4000)
    keys = {name: Ed25519PrivateKey.generate() for name in ("ann", "bob", "cy")}
    with running_server(history=store, replay=5, keep_history=(None, 1)) as (server, endpoint):
        upkeep = server.hub.history.upkeep
        bob = RawClient(endpoint, "bob", key=keys["bob"])
        replayed(bob)
        bob.send(ev.Bye())
        bob.expect_closed()
        ann = RawClient(endpoint, "ann", key=keys["ann"])
        replayed(ann)
        cy = RawClient(endpoint, "cy", key=keys["cy"])  # (a whisper to oneself is refused: PROTOCOL.md 3.1.3)
        replayed(cy)
        for i in range(400):  # 1.6 MB, over the 1 MiB cap; cy reads as they come (her queue stays small)
            ann.send(ev.Whisper(to="cy", text=f"{i} " + "d" * 3990))
            cy.expect(ev.Direct)
        for _ in range(400):
            ann.expect(ev.Direct)
        ann.send(ev.Whisper(to="bob", text="kept for you"))
        assert ann.expect(ev.Direct).held
        journal = store.journal
        wait_for(lambda: upkeep.due is None and journal is not None and not journal.rows, timeout=20, what="the cap's round over")
        bob = RawClient(endpoint, "bob", key=keys["bob"])
        history, _end = replayed(bob)
        assert [e.text for e in history if isinstance(e, ev.Direct)] == ["kept for you"]
        ann.close()
        bob.close()
        cy.close()
    assert store.used_bytes() <= 1 << 20
    records = list(store.export())
    assert [r.to for r in records][-1] == "bob" and sum(r.to is None for r in records) == 20


def test_dropping_by_age_is_what_was_asked_for_the_log_alone_hears_it(store):
    fill(store, 30, at=NOW - 40 * DAY_SECONDS)
    logged: list[str] = []
    told: list[str] = []
    upkeep = Upkeep(store, keep_days=30, max_mb=None, clock=lambda: 0.0, wall=lambda: NOW, log=logged.append,
                    tell_host=lambda line: told.append(line) is None)  # fmt: skip
    a_round(upkeep)
    assert logged == ["history: dropped 30 messages older than 30 days"] and told == []


def test_a_hosting_teachers_screen_gets_the_size_caps_notice(store, monkeypatch):
    monkeypatch.setattr("lanchat.history_upkeep.KEEP_NEWEST", 20)
    monkeypatch.setattr("lanchat.history_upkeep.SIZE_CHECK_SECONDS", 0.05)
    fill(store, 300, at=time.time() - 3600, text="y" * 4000)  # 1.3 MB of an hour ago, over a 1 MiB cap
    with running_server(history=store, replay=0, keep_history=(None, 1)) as (server, _endpoint):
        host = local_host(server, "teach")
        host.send(ev.Say(text="good morning"))  # stored: the size is looked at again (at start the host may not be in yet)
        notice = host.expect(ev.Error, code=ev.E_HISTORY).message
        assert notice.startswith("history: the file passed its 1 MiB cap (--max-history-mb), so its oldest ")
        assert "room messages were dropped" in notice and "/mute or /ban" in notice
        host.close()


def test_whispers_kept_for_someone_away_and_dropped_are_counted_for_them_alone_until_they_are_back(store):
    """A whisper kept for someone away was promised to them ("they will see it when they come
    back"): one dropped before then (by age, or the size cap's second stage) is counted for that
    name under that key, and whoever comes back under it hears so once (held_dropped, then
    mark_seen forgets). One they had live, while here, is not theirs to miss."""
    bob, other = b"b" * 32, b"o" * 32
    store.mark_seen("bob")  # bob was here, and left
    store.keep(time=NOW - 10 * DAY_SECONDS, sender="ann", text="held 1", to="bob", sender_owner=KEY, recipient_owner=bob)
    store.keep(time=NOW - 9 * DAY_SECONDS, sender="cy", text="held 2", to="BOB", sender_owner=None, recipient_owner=bob)
    store.keep(time=NOW - 9 * DAY_SECONDS, sender="ann", text="room", sender_owner=None)
    store.keep(time=NOW, sender="ann", text="held, young", to="bob", sender_owner=KEY, recipient_owner=bob)
    store.commit()
    assert store.drop_oldest(before=NOW - DAY_SECONDS, rows=10) == (3, False)
    assert store.held_dropped("Bob", bob) == 2 and store.held_dropped("bob", other) == 0 and store.held_dropped("bob", None) == 0
    assert store.held_dropped("ann", KEY) == 0
    assert store.drop_oldest_directs(rows=10) == (1, False)  # the size cap's second stage counts too
    assert store.held_dropped("bob", bob) == 3
    store.mark_seen("bob")  # back (told on joining: the replay reads it first), or leaving after being here
    assert store.held_dropped("bob", bob) == 0
    store.keep(time=NOW + 1, sender="ann", text="live", to="bob", sender_owner=KEY, recipient_owner=bob)
    store.commit()
    store.mark_seen("bob")  # bob read it live, then left
    assert store.drop_oldest_directs(rows=10) == (1, False)
    assert store.held_dropped("bob", bob) == 0


def test_someone_back_after_their_kept_whispers_were_dropped_is_told_once_after_the_replay(tmp_path):
    """Through a real server: the notice comes after the replay's history-end (a rejoin's block of
    missed lines stays whole), once. The whispers are dropped between two runs, as `lanchat history
    prune` drops them from a stopped room."""
    path = tmp_path / "h.sqlite3"
    keys = {name: Ed25519PrivateKey.generate() for name in ("ann", "bob")}
    store = HistoryStore(path)
    with running_server(history=store) as (_server, endpoint):
        ann = RawClient(endpoint, "ann", key=keys["ann"])
        bob = RawClient(endpoint, "bob", key=keys["bob"])
        bob.send(ev.Bye())
        bob.expect_closed()
        ann.expect(ev.Left, name="bob")
        for text in ("one", "two"):
            ann.send(ev.Whisper(to="bob", text=text))
            assert ann.expect(ev.Direct).held
        ann.send(ev.Say(text="hello room"))
        ann.expect(ev.Message, text="hello room")
        ann.close()
    store.close()
    store = HistoryStore(path)
    assert store.drop_oldest_directs(rows=10) == (2, False)
    with running_server(history=store) as (_server, endpoint):
        bob = RawClient(endpoint, "bob", key=keys["bob"])
        history, end = replayed(bob)
        assert [e.text for e in history] == ["hello room"] and end.shown == 1
        assert bob.expect(object) == ev.Notice(code=ev.E_HISTORY, message="2 direct messages sent to you while you were "
                                               "away were dropped from the room's history before you came back (it keeps "
                                               "only so many days or megabytes)")  # fmt: skip
        bob.close()
        bob = RawClient(endpoint, "bob", key=keys["bob"])
        replayed(bob)
        bob.send(ev.Say(text="back again"))
        got = bob.expect(object)
        assert isinstance(got, ev.Message) and got.text == "back again"  # told once: no notice this time
        bob.close()
    store.close()


def test_a_direct_row_edited_to_have_no_recipient_key_is_dropped_uncounted_and_the_drops_go_on(store, tmp_path):
    """A file lanchat did not write (history_rows.py): a direct message whose recipient_key is
    NULL (no one's: directs_for never replays it) made the held count's INSERT fail its NOT NULL,
    and with it every drop by age, by the size cap and `lanchat history prune`, for good."""
    import sqlite3

    store.mark_seen("bob")
    store.keep(time=NOW - 10 * DAY_SECONDS, sender="ann", text="no key", to="bob", sender_owner=KEY, recipient_owner=b"b" * 32)
    store.keep(time=NOW - 10 * DAY_SECONDS, sender="ann", text="held", to="bob", sender_owner=KEY, recipient_owner=b"b" * 32)
    store.commit()
    store.count()  # a statement: the journal moves into SQLite first
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE messages SET recipient_key = NULL WHERE text = 'no key'")
    db.close()
    assert store.drop_oldest(before=NOW - DAY_SECONDS, rows=10) == (2, False)
    assert store.held_dropped("bob", b"b" * 32) == 1
