"""A /me in the history (PROTOCOL.md, History replay, "Actions"): kept before anyone receives it,
replayed in its place as a ``message`` marked ``action``, exported, shown as a /me, and written so
that an older lanchat still opens the file and its journal."""

from __future__ import annotations

import json
import sqlite3

from helpers import RawClient, running_server
from test_history import T0, FullDisk, replayed, texts
from test_history_cli import serve

from lanchat import events as ev
from lanchat.actions import Broadcast, Keep
from lanchat.history import ACTION, HistoryStore
from lanchat.history_journal import read_rows
from lanchat.protocol import encode
from lanchat.room import Room
from lanchat.session import Session
from lanchat.textview import TextView
from lanchat.transport import Endpoint
from lanchat.ui.plain import format_plain
from lanchat.ui.render import line_parts
from lanchat.unconfirmed import Unconfirmed
from lanchat.wire import decode_json


def test_a_me_is_kept_before_it_is_broadcast_and_only_with_history():
    room = Room(clock=lambda: T0, history=True)
    room.handle(1, ev.Hello(name="ann"))
    keep, broadcast = room.handle(1, ev.Me(text="waves"))
    assert keep == Keep(event=ev.Emote(sender="ann", text="waves", time=T0)) and isinstance(broadcast, Broadcast)
    plain = Room(clock=lambda: T0)
    plain.handle(1, ev.Hello(name="ann"))
    assert [type(a) for a in plain.handle(1, ev.Me(text="waves"))] == [Broadcast]


def test_a_kept_me_comes_back_in_its_place_as_a_me_from_the_journal_and_from_sqlite(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    store.keep(time=T0, sender="ann", text="my turn")
    store.keep_action(time=T0 + 1, sender="ann", text="waves")
    store.keep_said("bob", [T0 + 2], ["hi ann"])
    assert store.commit() == 3
    (line,) = [row for row in read_rows(store.journal_path) if row[4] == "waves"]
    # the journal's line keeps the seven values an older lanchat decodes (history_journal.Row)
    assert len(json.loads(json.dumps(list(line), default=str))) == 7 and line[3] is None and line[5] == ACTION
    salvaging = HistoryStore(path, create=False, check=False)  # `lanchat history` of a damaged file: the journal's rows too
    assert [(r.text, r.action) for r in salvaging.salvage()] == [("my turn", False), ("waves", True), ("hi ann", False)]
    salvaging.close()
    reader = HistoryStore(path, create=False)  # `lanchat history` while the server runs: from the journal
    for seen in (reader, store):  # the reader first: the server store moves the journal in
        records, _ = seen.replay_for("cy", 10, owner=None)
        assert [(r.text, r.action) for r in records] == [("my turn", False), ("waves", True), ("hi ann", False)]
    reader.close()
    store.close()  # the journal moved into SQLite
    again = HistoryStore(path, create=False)
    records = list(again.export())
    assert [(r.text, r.action) for r in records] == [("my turn", False), ("waves", True), ("hi ann", False)]
    assert records[1].to_text("12:00:01") == "[12:00:01] * ann waves"
    assert records[1].to_json()["action"] is True and "action" not in records[0].to_json()
    assert [(r.text, r.action) for r in again.recent(5)] == [("my turn", False), ("waves", True), ("hi ann", False)]
    again.close()


def test_an_older_lanchat_reads_a_kept_me_as_a_room_message(tmp_path):
    # What an older lanchat selects (id, time, sender, recipient, text, room rows by recipient
    # IS NULL): the /me is a room message there, and the file needs no new column.
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    store.keep_action(time=T0, sender="ann", text="waves")
    store.commit()
    store.close()
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(messages)")]
        rows = db.execute("SELECT id, time, sender, recipient, text FROM messages WHERE recipient IS NULL").fetchall()
    assert columns == ["id", "time", "sender", "sender_key", "recipient", "recipient_key", "text", "sender_owner", "recipient_owner"]
    assert rows == [(1, T0, "ann", None, "waves")]


def test_the_replayed_frame_is_a_message_marked_action():
    frame = encode(ev.Message(sender="ann", text="waves", time=T0, history=True, action=True))
    assert b'"history":true,"action":true' in frame
    wanted = ev.Message(sender="ann", text="waves", time=T0, history=True, action=True)
    assert ev.fast_event_from_payload(frame[4:], ev.SERVER_EVENTS) == wanted
    assert ev.event_from_json(decode_json(frame[4:]), ev.SERVER_EVENTS) == wanted


def test_a_replayed_me_is_shown_as_a_me_marked_history_everywhere():
    session = Session(name="bob", clock=lambda: T0)
    (line,) = session.on_event(ev.Message(sender="ann", text="waves at bob", time=T0, history=True, action=True))
    assert line.kind == "history" and line.action and not line.mentions_me
    assert format_plain(line).endswith("] [History] * ann waves at bob")
    assert "".join(text for text, _style in line_parts(line)[0]).endswith("[History] * ann ")
    view = TextView(stamp=lambda _when: "12:00", today=lambda: T0)
    assert view.describe(ev.Message(sender="ann", text="waves", time=T0, history=True, action=True)) == "[History] [12:00] * ann waves"


def test_a_rejoins_replay_of_our_own_me_answers_it_so_it_is_not_sent_twice():
    waiting = Unconfirmed()
    waiting.sent(ev.Say(text="waves"))
    waiting.sent(ev.Me(text="waves"))
    assert waiting.echoed(ev.Message(sender="ann", text="waves", time=T0, history=True, action=True))
    assert not waiting.lines  # the say before it was answered too (the server handles lines in order)
    waiting.sent(ev.Me(text="waves"))
    assert not waiting.echoed(ev.Message(sender="ann", text="waves", time=T0, history=True))  # a say's echo is not a /me's


def test_a_turn_based_rooms_replay_shows_the_me_that_took_a_turn_stored_before_anyone_got_it(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    reader = HistoryStore(path, create=False)  # reads the journal too, as `lanchat history` does
    with running_server("turn", history=store) as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        bob = RawClient(endpoint, "bob")
        ann.expect(ev.Joined, name="bob")
        ann.send(ev.Say(text="my turn"))
        bob.expect(ev.Turn, holder="bob")
        bob.send(ev.Me(text="passes the chalk"))
        live = ann.expect(ev.Emote)
        assert [(r.text, r.action) for r in reader.export(since=live.time)] == [("passes the chalk", True)]
        ann.expect(ev.Turn, holder="ann")
        ann.send(ev.Say(text="thanks"))
        bob.expect(ev.Message, text="thanks")
        cy = RawClient(endpoint, "cy")
        history, end = replayed(cy)
        assert [(e.sender, e.text, e.action) for e in history] == [
            ("ann", "my turn", False), ("bob", "passes the chalk", True), ("ann", "thanks", False)
        ]  # fmt: skip
        assert end.shown == 3
        for client in (ann, bob, cy):
            client.close()
    reader.close()
    assert texts(store.export()) == ["my turn", "passes the chalk", "thanks"]
    store.close()


def test_a_rejoin_does_not_show_again_a_me_seen_live_before_the_drop():
    """A /me is replayed now, so it counts as seen like a message: the rejoin asks from after it
    (hello's ``since``), and its replay, if it comes, is no missed line."""
    session = Session(name="bob", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    session.on_event(ev.Message(sender="ann", text="seen", time=10.0))
    session.on_event(ev.Emote(sender="ann", text="waves", time=11.0))
    assert session.rejoin.last_seen == 11.0  # what the rejoin's hello says it has seen up to
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    assert session.on_event(ev.Message(sender="ann", text="waves", time=11.0, history=True, action=True)) == []
    missed = session.on_event(ev.Message(sender="ann", text="grins", time=12.0, history=True, action=True))
    assert [(line.kind, line.action, line.text) for line in missed] == [("notice", False, "missed while you were away:"),
                                                                          ("history", True, "grins")]  # fmt: skip
    assert [line.text for line in session.on_event(ev.HistoryEnd(shown=2, more=False, before=1))] == ["end of what you missed (1 message)"]


def test_a_me_the_history_cannot_store_reaches_nobody_and_its_sender_is_told(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3")
    with running_server(history=store) as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        bob = RawClient(endpoint, "bob")
        ann.expect(ev.Joined, name="bob")
        disk = FullDisk(store)  # every write of the journal refused by the kernel
        ann.send(ev.Me(text="waves unsaved"))
        told = ann.expect(ev.Error, code=ev.E_HISTORY)
        assert "not sent: '/me waves unsaved'" in told.message and "nobody got it" in told.message  # as typed
        disk.free()
        ann.send(ev.Me(text="waves saved"))
        assert bob.expect(ev.Emote).text == "waves saved"  # the first action bob receives
        for client in (ann, bob):
            client.close()
    assert [(r.text, r.action) for r in store.export()] == [("waves saved", True)]
    store.close()


def test_sigkill_loses_no_me_anyone_received_and_the_next_run_replays_them(tmp_path):
    """A real server, killed with a burst of says and /me in flight: every /me the listener got is
    in the file as a /me, and the next run's replay brings it back as one."""
    db = tmp_path / "chat.sqlite3"
    server, port = serve(db)
    endpoint = Endpoint(host="127.0.0.1", port=port)
    listener, talker = RawClient(endpoint, "listener"), RawClient(endpoint, "talker")
    try:
        burst = b"".join(talker.proto.send(ev.Me(text=f"m{i}") if i % 2 else ev.Say(text=f"s{i}")) for i in range(300))
        talker.send_raw(burst)  # in flight while the server is killed
        got: list[ev.Event] = []
        while len(got) < 60:
            event = listener.expect(object, timeout=10)
            got += [event] if isinstance(event, (ev.Message, ev.Emote)) else []
        server.popen.kill()  # SIGKILL: no shutdown, no checkpoint
        server.popen.wait(10)
        got += [e for e in listener.until_closed() if isinstance(e, (ev.Message, ev.Emote))]
    finally:
        listener.close()
        talker.close()
        server.stop()
    reader = HistoryStore(db, create=False)  # the journal the kill left, as `lanchat history` reads it
    stored = {r.text: r.action for r in reader.export()}
    reader.close()
    assert all(stored.get(e.text) == isinstance(e, ev.Emote) for e in got), "a received line is missing or of the wrong kind"
    server, port = serve(db)  # the next run moves the journal in and replays
    try:
        cy = RawClient(Endpoint(host="127.0.0.1", port=port), "cy")
        history, _end = replayed(cy)
        assert history and all(e.action == e.text.startswith("m") for e in history)
        cy.close()
    finally:
        server.stop()


def test_find_finds_a_me_as_the_transcript_shows_it_live_or_replayed():
    """/find matches the text as the transcript shows it, names included: "* ann waves", not "ann: waves"."""
    from lanchat.ui.commands import line_matches

    session = Session(name="bob", clock=lambda: T0)
    (replay,) = session.on_event(ev.Message(sender="ann", text="waves", time=T0, history=True, action=True))
    (live,) = session.on_event(ev.Emote(sender="ann", text="grins", time=T0 + 1))
    assert line_matches(replay, "ANN WAVES") and line_matches(live, "ann grins")
    assert not line_matches(replay, "ann: waves")
    (said,) = session.on_event(ev.Message(sender="ann", text="hi", time=T0 + 2))
    assert line_matches(said, "ann: hi")


def test_a_direct_row_marked_as_a_me_by_hand_is_exported_as_the_direct_message_it_is(tmp_path):
    """Only a room row is a /me (a room row has no owners): a direct message whose sender_owner
    was set to the mark by hand (a file lanchat did not write) was exported as '* ann -> bob
    (direct) waves' and with "action": true, though replayed as a direct message."""
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    store.keep(time=T0, sender="ann", text="psst", to="bob", sender_owner=b"a" * 32, recipient_owner=b"b" * 32)
    store.commit()
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE messages SET sender_owner = ?", (ACTION,))
    db.close()
    again = HistoryStore(path, create=False)
    (record,) = again.export()
    assert not record.action and record.to_text("12:00") == "[12:00] ann -> bob (direct): psst"
    assert "action" not in record.to_json()
    again.close()
