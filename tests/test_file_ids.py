"""File ids across a server restart: a ``/get 1`` typed from an old screen never fetches another file.

With history (as `serve` runs by default) the next file id is kept in the history file, so a
restarted server goes on numbering where it stopped and says what happened to an old id. Without
history the numbers start again at 1, and the client says so when a number comes back for
another file. The person whose offer went with the connection is told, too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from helpers import Proc, short_tmp_dir

from lanchat.files import OfferBook
from lanchat.history import HistoryStore

pytestmark = pytest.mark.timeout(120)


def test_the_offer_book_counts_from_its_first_id_and_knows_older_ids():
    book = OfferBook(first_id=7)
    assert book.open(owner=1, owner_name="ann", name="a.txt", size=1).file_id == "7"
    assert book.open(owner=1, owner_name="ann", name="b.txt", size=1).file_id == "8"
    assert book.next_id == 9
    assert book.from_before("6") and book.from_before("1")
    assert not book.from_before("7") and not book.from_before("9") and not book.from_before("x")
    assert not book.from_before("٣")  # an Arabic-Indic digit is no id of ours


def test_the_history_keeps_the_next_file_id_across_opening_it_again(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path)
    assert store.next_file_id() == 1  # a new file: ids start at 1
    store.set_next_file_id(12)
    store.close()
    again = HistoryStore(path)
    try:
        assert again.next_file_id() == 12
    finally:
        again.close()


def test_a_get_for_an_id_of_thousands_of_digits_is_answered_and_the_connection_goes_on(tmp_path):
    """From the attacker's side: int() refuses over 4,300 digits, and the 'before the restart'
    check read the id with it: the server met a bug and dropped the asker (a traceback kept in
    memory and a log line each time, as often as the connection limits allow)."""
    from helpers import RawClient, running_server

    from lanchat import events as ev
    from lanchat.server_files import ServerFiles

    store = ServerFiles(tmp_path / "files", max_file_bytes=1024, quota_bytes=1024, first_id=5)
    with running_server(files=store) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        for asked in ("9" * 5000, "0" * 5000 + "3"):
            ann.send(ev.GetFile(id=asked))
            assert ann.expect(ev.FileError).message.startswith("no file #")
        ann.send(ev.GetFile(id="00003"))  # an id from before, however it is spelled
        assert "before the server restarted" in ann.expect(ev.FileError).message
        ann.close()
    assert not server.internal_errors


@pytest.mark.parametrize("garbage", ["\u00b2", "\u0663", "9" * 5000, "1" + "0" * 40, "-3", "0", "seven", ""])
def test_a_next_file_id_that_is_garbage_in_the_history_file_starts_again_at_1(tmp_path, garbage):
    """The history file is the server's own, but a hand edit or another program may have put
    anything in it: '\u00b2' passed str.isdigit() and int() refused it, so serve could not start."""
    import sqlite3

    path = tmp_path / "h.sqlite3"
    HistoryStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('next_file_id', ?)", (garbage,))
    db.close()
    store = HistoryStore(path)
    try:
        assert store.next_file_id() == 1
    finally:
        store.close()


class Restart:
    """A headless server on an AF_UNIX path that can be killed and started again in place;
    ann and bob join with plain clients, each with a downloads folder."""

    def __init__(self, folder: str, *serve_args: str) -> None:
        self.folder = Path(folder)
        self.path = str(self.folder / "chat.sock")
        self.serve_args = ("--headless", "--unix", self.path, "--files-dir", str(self.folder / "files"), *serve_args)
        self.server = self.start()
        self.people: dict[str, Proc] = {}

    def start(self) -> Proc:
        server = Proc("serve", *self.serve_args)
        server.expect(r"join with")
        return server

    def join(self, name: str) -> Proc:
        downloads = self.folder / f"{name}-downloads"
        downloads.mkdir()
        proc = Proc("connect", "--unix", self.path, "--name", name, "--downloads", str(downloads))
        self.people[name] = proc
        proc.expect(rf"welcome, {name}")
        return proc

    def offer(self, name: str, filename: str, data: bytes, watcher: Proc) -> str:
        """``name`` offers a file; returns its id as ``watcher`` reads it."""
        source = self.folder / filename
        source.write_bytes(data)
        mark, sender = watcher.mark(), self.people[name]
        sent_from = sender.mark()
        sender.send(f"/send {source}")
        match = watcher.expect(rf"{name} offers {re.escape(filename)} .*; type /get (\d+) to download it", start=mark)
        # the sender knows it is on offer too (its confirmation may come after the watcher's line)
        sender.expect(rf"your file {re.escape(filename)} .* is on offer .*as #{match.group(1)}", start=sent_from)
        return match.group(1)

    def kill_and_start_again(self) -> dict[str, int]:
        """SIGKILL, as when the host's laptop crashes; returns each person's mark from before."""
        marks = {name: proc.mark() for name, proc in self.people.items()}
        self.server.popen.kill()
        self.server.wait()
        for proc in self.people.values():
            proc.expect(r"connection lost; retrying in")
        self.server = self.start()
        for name, proc in self.people.items():
            proc.expect(rf"back in the room as {name}", timeout=20, start=marks[name])
        return marks

    def stop(self) -> None:
        for proc in (*self.people.values(), self.server):
            proc.stop()
        for proc in (*self.people.values(), self.server):
            assert "Traceback" not in proc.output


def test_with_history_ids_go_on_after_a_crash_and_an_old_id_says_what_became_of_it():
    with short_tmp_dir() as folder:
        room = Restart(folder, "--history", os.path.join(folder, "h.sqlite3"))
        try:
            ann, bob = room.join("ann"), room.join("bob")
            assert room.offer("ann", "notes.txt", b"old notes\n", bob) == "1"
            marks = room.kill_and_start_again()
            # ann's offer went with her connection, and she is told, with what to do
            ann.expect(r"your file notes\.txt \(#1\) is no longer on offer; /send it again when back", start=marks["ann"])
            fresh = os.urandom(3000)
            assert room.offer("ann", "data.bin", fresh, bob) == "2"  # not 1 again
            mark = bob.mark()
            bob.send("/get 1")  # typed from the old screen
            bob.expect(r"#1 was offered before the server restarted, and went then", start=mark)
            bob.send("/get 2")
            saved = Path(folder) / "bob-downloads" / "data.bin"
            bob.expect(rf"saved {re.escape(str(saved))} .*SHA-256 checked", start=mark)
            assert saved.read_bytes() == fresh
            assert os.listdir(saved.parent) == ["data.bin"]  # /get 1 fetched nothing
        finally:
            room.stop()


def test_without_history_a_number_that_comes_back_for_another_file_is_pointed_out():
    with short_tmp_dir() as folder:
        room = Restart(folder, "--no-history")
        try:
            ann, bob = room.join("ann"), room.join("bob")
            assert room.offer("ann", "notes.txt", b"old notes\n", bob) == "1"
            marks = room.kill_and_start_again()
            ann.expect(r"your file notes\.txt \(#1\) is no longer on offer", start=marks["ann"])
            mark = bob.mark()
            assert room.offer("ann", "data.bin", b"new data", bob) == "1"  # no history: numbering starts again
            bob.expect(r"#1 is a new file: notes\.txt from ann had that number before the server restarted", start=mark)
            # the same file offered again under its old number is no news
            mark = bob.mark()
            ann.send(f"/send {Path(folder) / 'data.bin'}")
            bob.expect(r"ann offers data\.bin .*; type /get 2 to download it", start=mark)
            assert not any("is a new file" in line for line in bob.lines[mark:])
        finally:
            room.stop()


def test_without_history_the_same_file_offered_again_under_its_old_number_is_shown_again():
    """A reader back from a restart is told of each file on offer once (not again for a rejoin),
    but the host's slides sent again after it, under the number they had, are a new offer."""
    with short_tmp_dir() as folder:
        room = Restart(folder, "--no-history")
        try:
            room.join("ann")
            bob = room.join("bob")
            assert room.offer("ann", "slides.pdf", b"week 2\n", bob) == "1"
            room.kill_and_start_again()
            assert room.offer("ann", "slides.pdf", b"week 2\n", bob) == "1"  # shown, under its old number
            assert sum("ann offers slides.pdf" in line for line in bob.lines) == 2
        finally:
            room.stop()


def test_a_server_flooding_offers_cannot_grow_what_the_client_remembers_of_them():
    """A fake server may send offers for ever: the ids kept to spot a renumbered one are bounded."""
    from lanchat import events as ev
    from lanchat.session import OFFERS_REMEMBERED, Session

    bob = Session(name="bob")
    for number in range(OFFERS_REMEMBERED + 500):
        bob.on_event(ev.Offered(id=str(number), name="x.bin", size=1, sha256="0" * 64, sender="eve", time=1.0))
    assert len(bob.offers_seen) == OFFERS_REMEMBERED
    lines = bob.on_event(ev.Offered(id=str(OFFERS_REMEMBERED + 499), name="y.bin", size=1, sha256="0" * 64, sender="eve", time=2.0))
    assert lines[0].text.startswith(f"#{OFFERS_REMEMBERED + 499} is a new file: x.bin from eve")  # the newest are kept
