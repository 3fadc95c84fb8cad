"""The history journal (history_journal.py, history.py "Durability"): one write per pass beside the
SQLite file, moved in by count and by age; a killed server's journal is moved in at the next start,
a torn last line is ignored, a damaged journal is refused clearly, readers see the journal's rows,
and two servers never share one history. Real files, real `lanchat serve` processes, SIGKILL."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys

import pytest
from helpers import ROOT, RawClient, child_env, local_host, running_server, wait_for
from test_history_cli import run_lanchat, serve

from lanchat import events as ev
from lanchat.history import HistoryBusy, HistoryStore, HistoryUnusable, HistoryWriteError
from lanchat.history_journal import journal_path
from lanchat.transport import Endpoint

T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def in_sqlite(path) -> list[tuple[int, str]]:
    """(id, text) of the rows SQLite itself holds, the journal left aside."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT id, text FROM messages ORDER BY id").fetchall()


def in_journal(path) -> list[str]:
    journal = journal_path(path)
    return journal.read_text(encoding="utf-8").splitlines() if journal.exists() else []


def everything(path) -> list[tuple[int, str]]:
    """(id, text) of every message, as `lanchat history` reads them while a server runs."""
    reader = HistoryStore(path, create=False)
    try:
        return [(r.id, r.text) for r in reader.export()]
    finally:
        reader.close()


def say(store: HistoryStore, *textlist: str) -> None:
    """One loop pass: keep each message, then one commit."""
    for text in textlist:
        store.keep(time=T0, sender="ann", text=text)
    assert store.commit() == len(textlist)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ moving, with an injected clock


def test_the_journal_moves_into_sqlite_when_its_oldest_row_is_a_second_old(tmp_path):
    clock = Clock()
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path, clock=clock, move_rows=5, move_seconds=1.0)
    assert store.move_deadline() is None  # an empty journal: nothing to wake up for
    say(store, "one", "two")
    clock.now += 0.5
    say(store, "three")
    assert store.move_deadline() == 101.0  # the oldest row's time plus a second
    assert store.move_if_due() == 0
    assert in_sqlite(path) == [] and len(in_journal(path)) == 3
    assert everything(path) == [(1, "one"), (2, "two"), (3, "three")]  # readers see them already
    clock.now = 101.0
    assert store.move_if_due() == 3
    assert in_sqlite(path) == [(1, "one"), (2, "two"), (3, "three")]
    assert in_journal(path) == [] and store.move_deadline() is None
    store.close()


def test_the_journal_moves_when_it_holds_many_rows(tmp_path):
    clock = Clock()
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path, clock=clock, move_rows=5, move_seconds=1.0)
    say(store, "a", "b", "c")
    assert store.move_deadline() == 101.0
    say(store, "d", "e")  # five rows: this pass goes into SQLite with the journal's, however young
    assert in_sqlite(path) == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
    assert in_journal(path) == [] and store.move_deadline() is None
    store.close()


def test_a_busy_pass_goes_into_sqlite_with_the_journal_in_one_transaction(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    say(store, "before")  # in the journal
    say(store, *[f"busy {i}" for i in range(100)])  # a full-speed pass: straight into SQLite
    assert [text for _, text in in_sqlite(path)] == ["before", *[f"busy {i}" for i in range(100)]]
    assert in_journal(path) == []
    store.db.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text = 'lost 70' "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    say(store, "kept in the journal")
    for i in range(100):
        store.keep(time=T0, sender="ann", text=f"lost {i}")
    with pytest.raises(HistoryWriteError, match="full"):
        store.commit()  # none of the pass is stored; the journal's row stays where it was
    assert in_journal(path) and everything(path)[-1] == (102, "kept in the journal")
    store.db.execute("DROP TRIGGER refuse")
    say(store, "after")
    assert everything(path)[-2:] == [(102, "kept in the journal"), (103, "after")]
    store.close()


def test_any_other_statement_moves_the_journal_first_so_ids_stay_in_order(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    say(store, "one")
    store.mark_seen("bob")  # a join: the journal goes in first, then bob has seen id 1
    assert in_sqlite(path) == [(1, "one")] and in_journal(path) == []
    assert store.last_seen("bob") == 1
    say(store, "two")
    assert store.append(time=T0, sender="ann", text="three") == 3
    assert in_sqlite(path) == [(1, "one"), (2, "two"), (3, "three")]
    store.close()


def test_a_quiet_server_wakes_once_to_move_the_journal_then_sleeps_for_ever(tmp_path):
    # The loop's select() sleeps until the hub's next deadline: the journal's age is one, and
    # an empty journal is none (an idle server wakes for nothing).
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path, move_seconds=0.2)
    with running_server(history=store) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        ann.send(ev.Say(text="then silence"))
        ann.expect(ev.Message, text="then silence")
        wait_for(lambda: in_sqlite(path) == [(1, "then silence")], what="the move, with no traffic to wake the loop")
        assert in_journal(path) == []
        wait_for(lambda: server.hub.next_deadline() is None, what="nothing left to wake up for")
        ann.close()
    store.close()


def test_a_server_whose_moves_fail_still_delivers_warns_the_host_once_and_says_when_it_works(tmp_path):

    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path, move_seconds=0.05)
    logged: list[str] = []
    with running_server(history=store, log=logged.append) as (server, endpoint):
        host = local_host(server)
        ann = RawClient(endpoint, "ann")
        host.expect(ev.Joined, name="ann")
        store.db.execute("PRAGMA query_only = ON")  # SQLite refuses every write; the journal does not
        ann.send(ev.Say(text="one"))
        ann.send(ev.Say(text="two"))
        texts, warnings = [], []  # in whatever order they come: the move may fail between the two
        while len(texts) < 2 or not warnings:
            event = host.expect(object)
            if isinstance(event, ev.Message):
                texts.append(event.text)
            elif isinstance(event, ev.Error):
                warnings.append(event)
        assert texts == ["one", "two"]  # stored in the journal: delivered
        warning = warnings[0]
        assert warning.code == ev.E_HISTORY and "cannot move the newest messages" in warning.message
        assert in_sqlite(path) == []
        store.db.execute("PRAGMA query_only = OFF")
        wait_for(lambda: any("newest messages are in" in line for line in logged), what="the move working again")
        assert [line for line in logged if "cannot move" in line] == [warning.message]  # said once
        assert [text for _, text in in_sqlite(path)] == ["one", "two"]
        host.close()
        ann.close()
    store.close()


def test_a_failed_move_keeps_the_rows_in_the_journal_and_tries_again_later(tmp_path):
    clock = Clock()
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path, clock=clock, move_seconds=1.0)
    say(store, "one")
    clock.now += 1.0
    store.db.execute("PRAGMA query_only = ON")  # SQLite refuses every write
    with pytest.raises(HistoryWriteError, match="readonly"):
        store.move_if_due()
    assert store.move_deadline() == clock.now + 1.0  # not again at once: the loop would spin
    assert store.move_if_due() == 0
    say(store, "two")  # the journal still takes messages
    store.db.execute("PRAGMA query_only = OFF")
    clock.now += 1.0
    assert store.move_if_due() == 2
    assert in_sqlite(path) == [(1, "one"), (2, "two")]
    store.close()


# ------------------------------------------------------------------ crashes, at every step


def test_a_crash_after_the_move_committed_but_before_the_journal_was_emptied_duplicates_nothing(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    say(store, "one", "two")
    left = journal_path(path).read_bytes()
    store.close()  # moved in and emptied
    journal_path(path).write_bytes(left)  # as if killed between COMMIT and the truncation
    again = HistoryStore(path)
    assert in_sqlite(path) == [(1, "one"), (2, "two")] and in_journal(path) == []
    say(again, "three")  # numbering goes on after the newest id
    again.close()
    assert in_sqlite(path) == [(1, "one"), (2, "two"), (3, "three")]


def test_a_kill_in_the_middle_of_a_move_loses_nothing_and_duplicates_nothing(tmp_path):
    # A real SIGKILL while the move's transaction is open: the child's own connection runs a
    # trigger that says "moving" and waits, after the first of the moved rows went in.
    path = tmp_path / "h.sqlite3"
    script = (
        "import sys, time\n"
        "from lanchat.history import HistoryStore\n"
        "store = HistoryStore(sys.argv[1])\n"
        "for i in range(5):\n"
        "    store.keep(time=1.0, sender='ann', text=f'm{i}')\n"
        "store.commit()\n"
        "def stall():\n"
        "    print('moving', flush=True)\n"
        "    time.sleep(60)\n"
        "store.db.create_function('stall', 0, stall)\n"
        "store.db.execute('CREATE TEMP TRIGGER stall AFTER INSERT ON main.messages BEGIN SELECT stall(); END')\n"
        "store.count()\n"  # any read moves the journal first
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT
    )
    try:
        assert child.stdout.readline().strip() == "moving"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stdout.close()
    assert in_sqlite(path) == [] and len(in_journal(path)) == 5  # the move never committed
    again = HistoryStore(path)
    assert in_sqlite(path) == [(i + 1, f"m{i}") for i in range(5)] and in_journal(path) == []
    again.close()


def test_a_torn_last_line_is_ignored_and_cut_off(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    say(store, "one", "two")
    store.journal.close()  # the process dies: the lock goes, the rows stay in the journal
    store.journal = None
    store.db.close()
    whole = journal_path(path).read_bytes()
    journal_path(path).write_bytes(whole + b'[3,1700000000.0,"ann",null,"thr')  # a write cut short
    again = HistoryStore(path)
    assert in_sqlite(path) == [(1, "one"), (2, "two")]
    say(again, "three")  # id 3 again: the torn one was never delivered
    assert everything(path) == [(1, "one"), (2, "two"), (3, "three")]
    again.close()


def test_a_damaged_journal_is_refused_clearly_and_the_database_is_left_untouched(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    say(store, "one")
    store.close()
    killed = HistoryStore(path)
    say(killed, "two")
    killed.journal.close()  # killed: "two" is only in the journal
    killed.journal = None
    killed.db.close()
    lines = journal_path(path).read_bytes()
    journal_path(path).write_bytes(b"this is not a message\n" + lines)
    before = digest(path)
    with pytest.raises(HistoryUnusable, match=r"h\.sqlite3\.pending .*is damaged: line 1"):
        HistoryStore(path)
    assert digest(path) == before
    # from the command line: one clear message, no traceback, the file as it was
    proc = subprocess.run(
        [sys.executable, "-m", "lanchat", "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(path)],
        capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=30,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "h.sqlite3.pending" in proc.stderr + proc.stdout and "damaged" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    assert digest(path) == before
    # a reader skips what it cannot read and still shows the rest
    assert everything(path) == [(1, "one"), (2, "two")]


def test_a_torn_write_on_a_full_disk_is_cut_back_so_the_journal_stays_readable(tmp_path):
    # A real short write: the child may not grow any file past a few KiB (RLIMIT_FSIZE, and
    # Python ignores SIGXFSZ), so the big pass's write stops partway and fails with EFBIG.
    path = tmp_path / "h.sqlite3"
    script = (
        "import resource, sys\n"
        "from lanchat.history import HistoryStore, HistoryWriteError\n"
        "store = HistoryStore(sys.argv[1])\n"
        "store.keep(time=1.0, sender='ann', text='small')\n"
        "store.commit()\n"
        "size = store.journal.size\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (size + 3000, resource.RLIM_INFINITY))\n"
        "for i in range(20):\n"
        "    store.keep(time=1.0, sender='ann', text=f'big {i} ' + 'x' * 200)\n"
        "try:\n"
        "    store.commit()\n"
        "except HistoryWriteError as exc:\n"
        "    print('refused:', exc)\n"
        "import os\n"
        "print('size', os.path.getsize(store.journal_path), size)\n"
        "store.keep(time=1.0, sender='ann', text='after')\n"
        "store.commit()\n"
        "os._exit(0)\n"  # as if killed: no close, no move
    )
    done = subprocess.run(
        # (no .pyc written by a child whose files are cut short: a torn one in the shared
        # __pycache__ breaks every later import of that module, in every test)
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=child_env(PYTHONDONTWRITEBYTECODE="1"),
        cwd=ROOT, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "File too large" in done.stdout
    size_line = next(line for line in done.stdout.splitlines() if line.startswith("size"))
    _, now, before = size_line.split()
    assert now == before  # the part of the pass that was written was cut off again
    assert everything(path) == [(1, "small"), (2, "after")]


# ------------------------------------------------------------------ real servers


def join(port: int, name: str) -> RawClient:
    return RawClient(Endpoint(host="127.0.0.1", port=port), name)


def replayed(client: RawClient) -> list[str]:
    texts = []
    while not isinstance(event := client.expect(object), ev.HistoryEnd):
        if isinstance(event, ev.Message) and event.history:
            texts.append(event.text)
    return texts


def test_sigkill_right_after_delivery_loses_nothing_and_duplicates_nothing(tmp_path):
    db = tmp_path / "chat.sqlite3"
    caught_in_journal = False
    sent: list[str] = []
    for attempt in range(3):  # the server moves the journal a second after a write: be quicker
        server, port = serve(db)
        try:
            ann, bob = join(port, "ann"), join(port, "bob")
            ann.expect(ev.Joined, name="bob")
            texts = [f"a{attempt} m{i}" for i in range(3)]
            for text in texts:
                ann.send(ev.Say(text=text))
                bob.expect(ev.Message, text=text)
            sent += texts
            journal = "\n".join(in_journal(db))
            caught_in_journal = all(text in journal for text in texts)
            server.popen.send_signal(signal.SIGKILL)
            server.popen.wait(10)
            ann.close()
            bob.close()
        finally:
            server.stop()
        if caught_in_journal:
            break
    assert caught_in_journal, "the rows were always moved before the kill: nothing tested"
    assert in_journal(db)  # the killed server left them there
    server, port = serve(db)
    try:
        carol = join(port, "carol")
        assert replayed(carol) == sent  # every one, once, in order
        carol.send(ev.Say(text="after the restart"))
        carol.expect(ev.Message, text="after the restart")
        carol.close()
    finally:
        server.stop()
    stored = everything(db)
    assert [text for _, text in stored] == [*sent, "after the restart"]
    assert [i for i, _ in stored] == list(range(1, len(sent) + 2))  # ids go on across restarts


def test_lanchat_history_sees_the_newest_messages_while_the_server_runs(tmp_path):
    db = tmp_path / "chat.sqlite3"
    server, port = serve(db)
    try:
        ann, bob = join(port, "ann"), join(port, "bob")
        ann.expect(ev.Joined, name="bob")
        ann.send(ev.Say(text="just now"))
        bob.expect(ev.Message, text="just now")
        shown = run_lanchat("history", str(db), "--format", "jsonl")
        assert shown.returncode == 0, shown.stderr
        assert '"text": "just now"' in shown.stdout
        ann.close()
        bob.close()
    finally:
        server.stop()


def test_a_second_server_on_the_same_history_is_refused_clearly(tmp_path):
    db = tmp_path / "chat.sqlite3"
    first, port = serve(db)
    try:
        second = run_lanchat("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(db))
        said = second.stdout + second.stderr
        assert second.returncode != 0
        assert str(db) in said and "another lanchat server" in said
        assert "--history" in said and "--no-history" in said and "Traceback" not in said
        ann = join(port, "ann")  # the first one goes on
        ann.send(ev.Say(text="still here"))
        ann.expect(ev.Message, text="still here")
        ann.close()
    finally:
        first.stop()
    with pytest.raises(HistoryBusy):  # in one process too: each open of the journal is locked apart
        store = HistoryStore(db)
        try:
            HistoryStore(db)
        finally:
            store.close()


def test_a_clean_stop_leaves_everything_in_sqlite_and_no_journal_rows(tmp_path):
    db = tmp_path / "chat.sqlite3"
    server, port = serve(db)
    try:
        ann = join(port, "ann")
        ann.send(ev.Say(text="kept"))
        ann.expect(ev.Message, text="kept")
        ann.close()
    finally:
        server.stop()  # SIGTERM: a clean shutdown
    assert in_sqlite(db) == [(1, "kept")]
    assert in_journal(db) == []
