"""A history file lanchat did not write (edited by hand, another program's rows, a damaged page)
is a hostile input to `lanchat history` and `lanchat serve`: it may hold a time of 'abc', 1e300 or
infinity, a blob where a name goes, a 100,000-character name or reason, bytes that are not
UTF-8. Such rows are left out and counted; the good ones are shown and replayed; nothing ends in
a traceback, and the room can still be joined (history_rows.py).
"""

from __future__ import annotations

import os
import sqlite3

import pytest
from helpers import Proc
from test_history_cli import connect, run_lanchat, serve, stop_all

from lanchat.history import HistoryStore
from lanchat.names import name_key

pytestmark = pytest.mark.timeout(60)

# Each sets one column of one stored message to what lanchat never writes.
HOSTILE_MESSAGES = [
    ("time", "abc"),
    ("time", 1e300),
    ("time", float("inf")),  # JSON's null once encoded: no client accepted the frame
    ("sender", b"\xff"),
    ("sender", "N" * 100_000),  # over the frame limit: the replay ended the newcomer's connection
    ("text", b"\x00\xffA"),
]


def hostile_history(path) -> None:
    """Good rows 'before' and 'still here' around rows with one hostile column each; the
    text 'bad utf-8' is stored as bytes that are not UTF-8 (read with U+FFFD in their place)."""
    store = HistoryStore(path)
    store.append(time=1_700_000_000.0, sender="ann", text="before")
    ids = [store.append(time=1_700_000_001.0, sender="ann", text=f"hostile {i}") for i in range(len(HOSTILE_MESSAGES))]
    store.append(time=1_700_000_002.0, sender="ann", text="bad utf-8")
    store.append(time=1_700_000_003.0, sender="ann", text="still here")
    store.close()
    db = sqlite3.connect(path)
    for id_, (column, value) in zip(ids, HOSTILE_MESSAGES, strict=True):
        db.execute(f"UPDATE messages SET {column} = ? WHERE id = ?", (value, id_))
    db.execute("UPDATE messages SET text = CAST(X'626164EDA080' AS TEXT) WHERE text = 'bad utf-8'")  # 'bad' + a surrogate
    db.commit()
    db.close()


def test_history_export_leaves_out_rows_lanchat_never_wrote_and_says_how_many(tmp_path):
    db = tmp_path / "chat.sqlite3"
    hostile_history(db)
    for fmt in ("txt", "jsonl"):
        shown = run_lanchat("history", str(db), "--format", fmt)
        assert "Traceback" not in shown.stderr and shown.returncode == 0, shown.stderr
        assert "before" in shown.stdout and "still here" in shown.stdout and "bad\ufffd" in shown.stdout
        assert "hostile" not in shown.stdout
        assert f"left out {len(HOSTILE_MESSAGES)} entries of {db}: not as lanchat writes them" in shown.stderr


def test_a_room_whose_history_holds_hostile_rows_starts_and_can_be_joined(tmp_path):
    """Besides the messages: a mute lasting until 'abc' and one until 1e300 (the server's loop
    could not start), a ban of zed with a 100,000-character reason (zed's refusal was over the
    frame limit), a names row and an owner of the wrong types (the server could not start)."""
    db = tmp_path / "chat.sqlite3"
    hostile_history(db)
    store = HistoryStore(db)  # the moderation tables are made on the first start
    store.close()
    conn = sqlite3.connect(db)
    zed_key = name_key("zed")
    mute = "INSERT INTO mutes (name, name_key, until, by_name, reason) VALUES ('zed', ?, ?, 'op', 'r')"
    conn.execute(mute, (zed_key, "abc"))
    conn.execute(mute, (zed_key, 1e300))
    ban = "INSERT INTO bans (name, name_key, by_name, reason, time) VALUES ('zed', ?, 'op', ?, 1.0)"
    conn.execute(ban, (zed_key, "R" * 100_000))
    conn.execute("INSERT INTO names (key, name, last_seen) VALUES ('zed', ?, 'abc')", (b"\xff",))
    conn.execute("INSERT INTO owners (key, name, public_key, since) VALUES ('zed', 'zed', 'not a key', 'x')")
    conn.commit()
    conn.close()
    server, port = serve(db)
    zed: Proc | None = None
    try:
        server.expect(r"history: left out 5 entries of .*: not as lanchat writes them")
        zed = connect(port, "zed")
        zed.expect(r"\[History\] ann: before")
        zed.expect(r"\[History\] ann: bad\ufffd")
        zed.expect(r"\[History\] ann: still here")
        zed.send("hello")  # neither muted nor banned by rows that make no sense
        zed.expect(r"zed: hello")
        assert "hostile" not in zed.output and "not shown" not in zed.output, zed.output
        assert "Traceback" not in server.output and "internal error" not in server.output, server.output
    finally:
        stop_all(zed, server)


def test_a_file_re_keyed_on_opening_keeps_rows_that_are_no_names_and_starts(tmp_path):
    """A file whose names were keyed by an older rule (no name_rule setting) is re-keyed on
    the first start. A blob for a sender, a names row or an owner's name ended that start with
    a traceback (or refused the file as 'not usable'); they keep their keys and are left out."""
    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    store.append(time=1_700_000_000.0, sender="ann", text="kept")
    store.append(time=1_700_000_001.0, sender="ann", text="a blob's")
    store.close()
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM settings WHERE key = 'name_rule'")  # as an older lanchat left it
    conn.execute("UPDATE messages SET sender = ? WHERE text = ?", (b"\xff", "a blob's"))
    conn.execute("INSERT INTO names (key, name, last_seen) VALUES ('x', ?, 1)", (b"\xff",))
    conn.execute("INSERT INTO owners (key, name, public_key, since) VALUES ('y', 5, ?, 1.0)", (b"k" * 32,))
    conn.commit()
    conn.close()
    server, port = serve(db)
    zed: Proc | None = None
    try:
        server.expect(r"history: left out 1 entry of .*: not as lanchat writes them")  # the names row
        zed = connect(port, "zed")
        zed.expect(r"\[History\] ann: kept")
        zed.expect(r"end of history \(1 shown\)")
        assert "Traceback" not in server.output, server.output
    finally:
        stop_all(zed, server)


def test_serve_reads_the_owners_once_and_counts_a_row_left_out_once(tmp_path):
    """serve read the owners table twice at start (the keys, then the names as claimed) and had
    to take the second read's count back. One read now gives both, and the count is unchanged:
    a row whose key cannot be used is left out once; one whose name alone cannot be is kept as
    an owner (its look-alikes are not guarded) and not counted, as before."""
    import sys

    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    store.claim("zed", b"z" * 32, time=3.0)
    store.claim("amy", b"a" * 32, time=2.0)
    store.close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO owners (key, name, public_key, since) VALUES ('bad', 'bad', 'not a key', 1.0)")
    conn.execute("INSERT INTO owners (key, name, public_key, since) VALUES ('y', ?, ?, 4.0)", (b"\xff", b"k" * 32))
    conn.commit()
    conn.close()
    store = HistoryStore(db)
    assert store.owners_and_names() == ({"amy": b"a" * 32, "zed": b"z" * 32, "y": b"k" * 32}, ["amy", "zed"])
    assert list(store.owners_and_names()[0]) == ["amy", "zed", "y"] and store.skipped == 2  # oldest first; 1 a read
    store.close()
    traced = (  # the real serve, every statement that reads the owners table said on stderr
        "import sys, lanchat.history as history\n"
        "opened = history.HistoryStore.__init__\n"
        "def traced(self, *args, **kwargs):\n"
        "    opened(self, *args, **kwargs)\n"
        "    say = lambda sql: print('OWNERS-READ', file=sys.stderr) if 'FROM owners' in sql else None\n"
        "    self.db.set_trace_callback(say)\n"
        "history.HistoryStore.__init__ = traced\n"
        "from lanchat.__main__ import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(db),
                  program=[sys.executable, "-c", traced])  # fmt: skip
    try:
        server.expect(r"history: left out 1 entry of .*: not as lanchat writes them")
        server.expect(r"listening on port \d+")
    finally:
        stop_all(server)
    assert server.output.count("OWNERS-READ") == 1, server.output
    assert "Traceback" not in server.output, server.output


def test_names_list_says_how_many_owner_rows_it_left_out(tmp_path):
    """`lanchat names list` showed the good owners and silently dropped the others: the host,
    looking for a student's name, could not tell it was in the file but unreadable."""
    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    store.claim("ann", b"a" * 32, time=1.0)
    store.close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO owners (key, name, public_key, since) VALUES ('y', ?, ?, 1.0)", (b"\xff", b"k" * 32))
    conn.execute("INSERT INTO owners (key, name, public_key, since) VALUES ('z', 'zed', ?, 1.0)", (b"short",))
    conn.commit()
    conn.close()
    shown = run_lanchat("names", "list", "--history", str(db))
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    assert shown.stdout.splitlines()[0].startswith("ann  ") and len(shown.stdout.splitlines()) == 1
    assert f"left out 2 entries of {db}: not as lanchat writes them" in " ".join(shown.stderr.split())


def test_a_pipe_or_a_device_given_as_the_history_is_refused_at_once(tmp_path):
    """`lanchat history` opened a named pipe read-only and waited for a writer for good, saying
    nothing; a device read as an empty database ('no such table: messages')."""
    pipe = tmp_path / "chat.sqlite3"
    os.mkfifo(pipe)
    for path in (pipe, "/dev/null"):
        shown = run_lanchat("history", str(path))
        assert shown.returncode == 1 and "Traceback" not in shown.stderr, shown.stderr
        assert f"{path} is not a regular file (a pipe, a device, a socket), not a history file" in shown.stderr
    served = run_lanchat("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(pipe))
    assert served.returncode == 1 and "is not a regular file" in served.stderr and "Traceback" not in served.stderr
    good = tmp_path / "good.sqlite3"  # a sound file, and a pipe where its journal goes
    HistoryStore(good).close()
    journal = tmp_path / "good.sqlite3.pending"
    journal.unlink()
    os.mkfifo(journal)
    shown = run_lanchat("history", str(good))
    assert shown.returncode == 1 and f"{journal} is not a regular file" in shown.stderr, shown.stderr


def test_the_usual_rows_short_check_agrees_with_the_full_one():
    """history_rows.message_ok answers a row of the usual types inline (a replay and an export
    ask it of every row): it must judge every row as the helpers it stands in for do."""
    from lanchat import events as ev
    from lanchat import history_rows as ok

    def full(row: tuple) -> bool:
        id_, time, sender, to, text = row
        return ok.is_id(id_) and ok.is_time(time) and ok.is_name(sender) and ok.is_name(to, null=True) and ok.is_text(text, ev.MAX_TEXT_CHARS)

    good = (1, 1.0, "ann", None, "hi")
    variants = [
        ("id", [-1, 0, 2**63 - 1, 2**63, "1", None, 1.0]),
        ("time", [0.0, -0.5, ev.MAX_TIME, ev.MAX_TIME + 1, float("nan"), float("inf"), 1e300, 1, "abc", None]),
        ("sender", ["", "a" * ev.MAX_NAME_CHARS, "a" * (ev.MAX_NAME_CHARS + 1), b"ann", 5, None]),
        ("to", [None, "", "bob", "b" * (ev.MAX_NAME_CHARS + 1), b"bob", 5]),
        ("text", ["", "t" * ev.MAX_TEXT_CHARS, "t" * (ev.MAX_TEXT_CHARS + 1), b"hi", 12345, None]),
    ]
    columns = ("id", "time", "sender", "to", "text")
    for column, values in variants:
        for value in values:
            row = tuple(value if name == column else kept for name, kept in zip(columns, good, strict=True))
            assert ok.message_ok(row) == full(row), (column, value)


@pytest.mark.parametrize("planted", ["her own file", "a link"])
def test_a_journal_another_user_planted_beside_the_history_is_refused_and_never_written(planted):
    """The history in a folder others may write (sticky, as /tmp), and mallory, another user of the
    machine, puts its journal there first: class.sqlite3.pending, the newest messages before they
    go into the file. Her own empty file, writable by all: the teacher's server used it, every
    message went into it, direct ones too (she reads them), and rows she wrote there were moved into
    the history at the next start as the room's. A link (to where a file of the teacher's would
    be): the server made that file. Now either is refused, in words that say what it may be, and
    nothing is written into it or where it leads."""
    from helpers import short_tmp_dir
    from test_history_deleted import as_mallory

    with short_tmp_dir() as folder:
        os.chmod(folder, 0o1777)
        journal, target = os.path.join(folder, "class.sqlite3.pending"), os.path.join(folder, "teachers-file")
        if planted == "her own file":
            as_mallory("sh", "-c", f"umask 0; : > {journal}")
        else:
            as_mallory("ln", "-s", target, journal)
        server = Proc("serve", "--headless", "--no-announce", "--host", "127.0.0.1", "--port", "0",
                      "--history", os.path.join(folder, "class.sqlite3"))  # fmt: skip
        try:
            assert server.wait(timeout=20) == 1
        finally:
            server.stop()
        what = "belongs to user nobody, not to the history's owner" if planted == "her own file" else "is a link"
        assert f"{journal} (the newest messages of class.sqlite3, kept beside it) {what}" in server.output, server.output
        assert "another user may have put it there" in server.output and "Traceback" not in server.output
        assert not os.path.exists(target) and os.lstat(journal).st_size in (0, len(target))


@pytest.mark.parametrize("where", ["sticky folder", "open folder, her file private", "writable by all", "her -wal and -shm",
                                   "open folder, not sticky"])
def test_a_history_another_user_planted_is_refused_before_a_message_is_written_into_it(where):
    """mallory, another user of the lab machine, makes class.sqlite3 and its journal first, both
    -rw-rw-rw- (umask 0): in a folder others may write (sticky, as /tmp), or hers anywhere
    writable by all. The teacher's (here root's) serve took both, and wrote the room's messages,
    direct ones too, into files she reads (h-attack3). So too SQLite's -wal and -shm planted
    before the first start (h-attack4: a teacher's serve wrote every line into her -wal). Now it is
    refused, saying whose and why, and nothing is written; root's or this user's own are taken."""
    from helpers import short_tmp_dir
    from test_history_deleted import as_mallory

    with short_tmp_dir() as folder:
        os.chmod(folder, 0o1777)
        room = os.path.join(folder, "room")
        planted = "class.sqlite3-wal class.sqlite3-shm" if where.endswith("-shm") else "class.sqlite3 class.sqlite3.pending"
        as_mallory("sh", "-c", f"umask 0; mkdir {room}; cd {room}; for f in {planted}; do : > $f; done")
        os.chmod(room, {"writable by all": 0o755, "open folder, not sticky": 0o777}.get(where, 0o1777))  # (root may: it stands for the folder's owner)
        if where.endswith("private"):  # root writes it all the same, and she may swap it for another in that folder
            os.chmod(os.path.join(room, "class.sqlite3"), 0o600)
        history = os.path.join(room, "class.sqlite3")
        server = Proc("serve", "--headless", "--no-announce", "--host", "127.0.0.1", "--port", "0", "--history", history)
        try:
            assert server.wait(timeout=20) == 1
        finally:
            server.stop()
        why = "and anyone may write to it" if where == "writable by all" else f"in {room}, a folder anyone may write to"
        whose = f"{history}-wal (SQLite's file of class.sqlite3's newest changes)" if where.endswith("-shm") else history
        if where == "open folder, not sticky":  # anyone may swap files there after any look: refused for what it is
            assert f"{room} may be written by anyone and is not sticky (as /tmp is)" in server.output, server.output
        else:
            assert f"{whose} belongs to user nobody, {why}: they may have put it there" in server.output, server.output
        assert "Traceback" not in server.output
        assert all(os.path.getsize(os.path.join(room, name)) == 0 for name in planted.split()), planted  # nothing written
        assert not os.path.exists(history + ("" if where.endswith("-shm") else "-wal"))


def test_a_journal_this_user_made_beside_another_owners_history_is_taken(tmp_path):
    """The teacher's history served once with sudo: the journal that run made is root's, the file
    the teacher's. Served with sudo again, it is this user's own journal, not a planted one (the
    rule above refuses only a journal neither this user's nor the history's owner's)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("giving the history to another user needs root")
    history = tmp_path / "class.sqlite3"
    store = HistoryStore(history)
    store.append(time=1_700_000_000.0, sender="ann", text="kept")
    store.close()
    os.chown(history, 65534, 65534)
    again = HistoryStore(history)
    try:
        assert [record.text for record in again.export()] == ["kept"]
    finally:
        again.close()


@pytest.mark.parametrize("first_start", [True, False])
def test_a_wal_planted_between_the_check_and_sqlites_open_is_refused_not_written(monkeypatch, first_start):
    """The history in a folder others may write (sticky, as /tmp). mallory's script waits for the
    history to appear (or for the server to start again) and, the moment it does, makes
    class.sqlite3-wal and -shm herself, 0666, and keeps them open: after the look for planted
    files, before SQLite's open. The server used both, and she read every line from her -wal
    (h-attack5). Now the server makes both its own before SQLite opens the file and looks again:
    hers, there first, refuse the start, and nothing is written."""
    from helpers import short_tmp_dir
    from test_history_deleted import as_mallory

    from lanchat.history import HistoryStore, HistoryUnusable

    with short_tmp_dir() as folder:
        os.chmod(folder, 0o1777)
        history = os.path.join(folder, "class.sqlite3")
        if not first_start:
            HistoryStore(history).close()  # last week's lesson: the -wal and -shm went with its close
            assert not os.path.exists(history + "-wal")
        locked = HistoryStore._lock

        def the_moment_it_appears(store: HistoryStore) -> None:  # (her script's turn: between the look and the open)
            locked(store)
            as_mallory("sh", "-c", f"umask 0; : > {history}-wal; : > {history}-shm")

        monkeypatch.setattr(HistoryStore, "_lock", the_moment_it_appears)
        with pytest.raises(HistoryUnusable, match=r"class\.sqlite3-wal \(SQLite's file of class\.sqlite3's newest changes\) belongs to user nobody"):
            HistoryStore(history)
        assert os.path.getsize(history + "-wal") == 0 and os.path.getsize(history + "-shm") == 0  # nothing written into hers
        monkeypatch.setattr(HistoryStore, "_lock", locked)
        os.unlink(history + "-wal")  # (as root: her files gone, the room starts, its own -wal and -shm made first)
        os.unlink(history + "-shm")
        store = HistoryStore(history)
        try:
            store.append(time=1.0, sender="ann", text="hello")
            assert os.stat(history + "-wal").st_uid == os.geteuid() and os.stat(history + "-wal").st_mode & 0o777 == 0o600
        finally:
            store.close()


def test_a_history_in_a_folder_anyone_may_write_and_that_is_not_sticky_is_refused_until_it_is():
    """A lab's shared folder, /srv/class, made 0777 without the sticky bit /tmp has: anyone may
    rename the teacher's class.sqlite3 (or its -wal) away and put a file of their own in its place
    after any check the server makes, then read the room's messages, direct ones too. serve refuses
    it, saying how to make it safe, and writes nothing; made sticky (chmod +t), it serves."""
    from helpers import short_tmp_dir

    with short_tmp_dir() as folder:
        room = os.path.join(folder, "class")
        os.mkdir(room)
        os.chmod(room, 0o777)
        history = os.path.join(room, "class.sqlite3")
        args = ("serve", "--headless", "--no-announce", "--host", "127.0.0.1", "--port", "0", "--history", history)
        refused = Proc(*args)
        try:
            assert refused.wait(timeout=20) == 1
        finally:
            refused.stop()
        assert f"{room} may be written by anyone and is not sticky (as /tmp is)" in refused.output, refused.output
        assert f"make that one sticky (chmod +t {room})" in refused.output and "Traceback" not in refused.output
        assert os.listdir(room) == []  # nothing written
        os.chmod(room, 0o1777)
        server = Proc(*args)
        try:
            server.expect(r"listening on port \d+")
        finally:
            server.stop()
        assert os.path.exists(history)


@pytest.mark.parametrize("way", ["her folder in place of his", "the link in an open folder", "her folder in a sticky one",
                                 "her link in a sticky one", "his link to a link in an open folder"])
def test_a_history_whose_folder_another_user_may_swap_higher_up_is_refused(way):
    """The teacher's class.sqlite3 in a folder of his own (0755), safe by the last check, but inside
    /srv/lab, 0777 and not sticky: mallory renames his folder away and makes her own of that name,
    with her class.sqlite3 in it (0644, hers: not writable by anyone else, so it passed), and his
    next serve wrote the room's messages, direct ones too, into her file. So too a link given as
    --history in such a folder (she points it at her file), or a link of his leading through one
    (~/class.sqlite3 -> /srv/lab/current), and her folder made first in a sticky one (/tmp/class:
    what is in it is hers to swap), or her link there to a folder of hers. serve looks up the whole
    path now, as sshd's StrictModes does, and refuses, saying which folder and why; nothing is
    written into hers."""
    from helpers import short_tmp_dir
    from test_history_deleted import as_mallory

    with short_tmp_dir() as lab, short_tmp_dir() as safe:  # (safe: his own, 0700, where the link leads)
        os.chmod(lab, 0o1777 if way.endswith("sticky one") else 0o777)
        room = os.path.join(lab, "class")
        history = os.path.join(room, "class.sqlite3")
        given, her = history, "her folder"
        if way == "her folder in place of his":
            os.mkdir(room, 0o755)
            as_mallory("sh", "-c", f"umask 022; mv {room} {lab}/his; mkdir {room}; : > {history}")
        elif way == "the link in an open folder":
            given, her = os.path.join(lab, "class.sqlite3"), "the link to the history"
            os.symlink(os.path.join(safe, "class.sqlite3"), given)
        elif way == "his link to a link in an open folder":  # ~/class.sqlite3 -> /srv/lab/current -> his file: she repoints current
            os.mkdir(os.path.join(safe, "store"))
            given, her = os.path.join(safe, "class.sqlite3"), "the link to the history"
            os.symlink(os.path.join(lab, "current"), given)
            os.symlink(os.path.join(safe, "store", "class.sqlite3"), os.path.join(lab, "current"))
        elif way == "her folder in a sticky one":
            as_mallory("sh", "-c", f"umask 022; mkdir {room}; : > {history}")
        else:  # /tmp/class, a link of hers to a folder of hers elsewhere, in her home (realpath went past protected_symlinks)
            os.chmod(safe, 0o755)
            os.mkdir(os.path.join(safe, "home"))
            os.chown(os.path.join(safe, "home"), 65534, 65534)
            as_mallory("sh", "-c", f"umask 022; : > {safe}/home/class.sqlite3; ln -s {safe}/home {room}")
        server = Proc("serve", "--headless", "--no-announce", "--host", "127.0.0.1", "--port", "0", "--history", given)
        try:
            assert server.wait(timeout=20) == 1
        finally:
            server.stop()
        if way.endswith("sticky one"):
            what = "the link to the history" if way.startswith("her link") else "the folder the history is in"
            assert f"{room} ({what}) belongs to user nobody, in {lab}, a folder anyone may write to" in server.output, server.output
        else:
            what = "the link to the history" if her.startswith("the link") else "the folder the history is in"
            assert f"{lab} may be written by anyone and is not sticky (as /tmp is): anyone may rename" in server.output, server.output
            assert f"rename {'current' if way.startswith('his link') else os.path.basename(given) if her.startswith('the link') else 'class'} there" in server.output
            assert f"({what}) away" in server.output and f"chmod +t {lab}" in server.output, server.output
        assert "Traceback" not in server.output
        if way == "the link in an open folder":
            assert os.listdir(safe) == []  # nothing written
        elif way.startswith("his link"):
            assert os.listdir(os.path.join(safe, "store")) == []
        else:
            assert os.path.getsize(history) == 0 and not os.path.exists(history + "-wal")  # nothing written into hers
