"""File sharing against abuse (server_files.py with a pure room and a hand-turned clock): the
upload quota is per person and per address, not per connection; a stalled upload is dropped and
its quota freed; a muted person offers nothing; a kicked person's offers vanish."""

from __future__ import annotations

import hashlib
import ipaddress

from lanchat import events as ev
from lanchat.actions import Send
from lanchat.files import MB
from lanchat.limits import AddressGroups
from lanchat.room import Room
from lanchat.server_files import STALLED_SECONDS, ServerFiles


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def setting(tmp_path, *people: tuple[str, str]) -> tuple[Room, ServerFiles, Clock, dict[str, int]]:
    clock = Clock()
    room = Room(clock=clock)
    files = ServerFiles(tmp_path, max_file_bytes=10 * MB, quota_bytes=10 * MB, clock=clock)
    cids = {}
    for cid, (name, address) in enumerate(people, start=1):
        room.moderation.arrive(cid, address)
        room.handle(cid, ev.Hello(name=name))
        cids[name] = cid
    room.host_cid = cids.get("hal")
    return room, files, clock, cids


def offer(files: ServerFiles, room: Room, cid: int, size: int, ref: int = 1) -> ev.Event:
    *kept, answer = files.handle(room, cid, ev.OfferFile(ref=ref, name="big.bin", size=size))
    assert isinstance(answer, Send)
    assert [type(action).__name__ for action in kept] in ([], ["NextFileId"])  # accepted: the next id is kept
    return answer.event


def test_a_second_connection_from_the_same_address_gets_no_fresh_quota(tmp_path):
    room, files, _clock, cid = setting(tmp_path, ("mallory", "192.168.1.66"), ("m2", "192.168.1.66"), ("ann", "192.168.1.10"))
    assert isinstance(offer(files, room, cid["mallory"], 8 * MB), ev.UploadReady)
    refused = offer(files, room, cid["m2"], 8 * MB)
    assert isinstance(refused, ev.FileError) and "over your quota of 10.0 MiB" in refused.message
    assert isinstance(offer(files, room, cid["m2"], 2 * MB), ev.UploadReady)  # just under
    assert isinstance(offer(files, room, cid["ann"], 8 * MB), ev.UploadReady)  # a classmate is unaffected
    files.close()


def test_many_addresses_of_one_ipv6_64_off_the_lan_get_one_quota(tmp_path):
    """The quota counts what connection caps and bans count (limits.AddressGroups): off the
    server's LAN one machine may hold a whole /64, so a second address of it is no fresh quota.
    On the server's own IPv6 LAN the /64 is the whole class: there each address has its own."""
    room, files, _clock, cid = setting(
        tmp_path, ("mallory", "2001:db8:66::1"), ("m2", "2001:db8:66::2"), ("m3", "2001:db8:66::3"), ("ann", "2001:db8:10::1")
    )
    assert isinstance(offer(files, room, cid["mallory"], 8 * MB), ev.UploadReady)
    refused = offer(files, room, cid["m2"], 8 * MB)
    assert isinstance(refused, ev.FileError) and "over your quota of 10.0 MiB" in refused.message
    assert isinstance(offer(files, room, cid["m3"], 2 * MB), ev.UploadReady)  # just under, shared
    assert isinstance(offer(files, room, cid["ann"], 8 * MB), ev.UploadReady)  # another /64 is another machine
    files.close()
    lan = AddressGroups([ipaddress.IPv6Network("2001:db8:1::/64")])  # the server's own network
    room = Room(clock=Clock(), address_groups=lan)
    files = ServerFiles(tmp_path / "lan", max_file_bytes=10 * MB, quota_bytes=10 * MB)
    for number, name in enumerate(("ann", "bob"), start=1):
        room.moderation.arrive(number, f"2001:db8:1::{number}")
        room.handle(number, ev.Hello(name=name))
        assert isinstance(offer(files, room, number, 8 * MB), ev.UploadReady)  # classmates: a quota each
    files.close()


def test_on_this_machine_the_quota_is_per_person(tmp_path):
    room, files, _clock, cid = setting(tmp_path, ("ann", "local"), ("bob", "local"))
    assert isinstance(offer(files, room, cid["ann"], 8 * MB), ev.UploadReady)
    assert isinstance(offer(files, room, cid["bob"], 8 * MB), ev.UploadReady)
    assert isinstance(offer(files, room, cid["ann"], 3 * MB, ref=2), ev.FileError)
    files.close()


def test_a_stalled_upload_is_dropped_its_sender_told_and_its_quota_freed(tmp_path):
    room, files, clock, cid = setting(tmp_path, ("ann", "192.168.1.10"))
    ready = offer(files, room, cid["ann"], 8 * MB)
    files.handle(room, cid["ann"], ev.UploadBytes(id=ready.id, data=b"x" * 1000))
    clock.now += STALLED_SECONDS - 1
    assert files.drop_stalled() == []
    clock.now += 1
    (told,) = files.drop_stalled()
    assert told.to == cid["ann"] and told.event == ev.FileError(
        id=ready.id, message=f"sending big.bin stopped: nothing arrived for {STALLED_SECONDS:g} s"
    )
    assert files.uploads == {} and files.book.offers == {}
    assert isinstance(offer(files, room, cid["ann"], 8 * MB, ref=2), ev.UploadReady)  # quota free again
    files.close()


def test_a_muted_person_offers_nothing(tmp_path):
    room, files, _clock, cid = setting(tmp_path, ("hal", "local"), ("bob", "192.168.1.11"))
    room.handle(cid["hal"], ev.Moderate(action="mute", name="bob", minutes=5))
    refused = offer(files, room, cid["bob"], 1 * MB)
    assert isinstance(refused, ev.FileError) and refused.message.startswith("you are muted by hal for 5 more minutes")
    assert files.book.offers == {}
    files.close()


def test_a_kicked_persons_offers_vanish(tmp_path):
    room, files, _clock, cid = setting(tmp_path, ("hal", "local"), ("mallory", "192.168.1.66"))
    ready = offer(files, room, cid["mallory"], 1 * MB)
    files.handle(room, cid["mallory"], ev.UploadBytes(id=ready.id, data=b"x" * MB))
    assert list(files.uploads) == [ready.id]  # there is something of hers to vanish
    room.handle(cid["hal"], ev.Moderate(action="kick", name="mallory"))
    files.forget(cid["mallory"])  # the hub does this when the kicked connection closes
    assert files.book.offers == {} and files.uploads == {}
    files.close()


def test_an_upload_begun_before_a_mute_is_not_offered_after_it(tmp_path):
    """From the attacker's side, on real sockets: mallory opens an upload whose name is her
    words, is muted, then finishes it. Her file is not offered to the room: its name would be
    the words the mute keeps out (an open upload can be held for a minute per piece)."""
    import hashlib

    from helpers import RawClient, local_host, running_server

    words = "the teacher cannot stop me.txt"
    store = ServerFiles(tmp_path / "files", max_file_bytes=MB, quota_bytes=MB)
    with running_server(files=store) as (server, endpoint):
        hal = local_host(server, "hal")
        mallory, ann = RawClient(endpoint, "mallory"), RawClient(endpoint, "ann")
        mallory.send(ev.OfferFile(ref=1, name=words, size=3))
        ready = mallory.expect(ev.UploadReady)
        mallory.send(ev.UploadBytes(id=ready.id, data=b"foo"))
        hal.send(ev.Moderate(action="mute", name="mallory", minutes=5))
        mallory.expect(ev.Moderated, action="mute")
        ann.expect(ev.Moderated, action="mute")
        mallory.send(ev.UploadDone(id=ready.id, sha256=hashlib.sha256(b"foo").hexdigest()))
        refused = mallory.expect(ev.FileError, id=ready.id)
        assert refused.message.startswith("you are muted by hal for 5 more minutes")
        mallory.send(ev.Say(text="still muted?"))
        mallory.expect(ev.Error, code=ev.E_MUTED)  # her frames are read in order: the done came first
        assert not [e for e in ann.drain(0.3) if isinstance(e, ev.Offered)]
        assert store.book.offers == {} and store.uploads == {}
        for client in (hal, mallory, ann):
            client.close()


def test_over_loopback_tcp_the_quota_is_per_person_as_on_a_unix_socket(tmp_path):
    """A one-machine demo joined over 127.0.0.1: everyone's address is the same, so counting the
    quota per address let one student's offers use up everyone's (PROTOCOL.md: from another machine)."""
    from helpers import RawClient, running_server

    store = ServerFiles(tmp_path / "files", max_file_bytes=MB, quota_bytes=MB)
    with running_server(files=store) as (_server, endpoint):
        mallory, ann = RawClient(endpoint, "mallory"), RawClient(endpoint, "ann")
        mallory.send(ev.OfferFile(ref=1, name="all.bin", size=MB))
        mallory.expect(ev.UploadReady)
        ann.send(ev.OfferFile(ref=1, name="homework.pdf", size=1000))
        assert isinstance(ann.expect(ev.UploadReady | ev.FileError, ref=1), ev.UploadReady)
        mallory.close()
        ann.close()


def test_one_person_cannot_hold_open_an_upload_file_per_offer(tmp_path):
    """From the attacker's side, on real sockets: each upload under way holds an open file on
    the server, and a byte every 59 s keeps it from being dropped as stalled. With no count, small
    offers (inside any quota) would take every file descriptor the server has, and then nobody
    could join. A second connection under another name from this machine counts on its own
    (per person), as the quota does."""
    from helpers import RawClient, running_server

    from lanchat.files import MAX_UPLOADS_AT_ONCE

    store = ServerFiles(tmp_path / "files", max_file_bytes=MB, quota_bytes=10 * MB)
    with running_server(files=store) as (_server, endpoint):
        mallory = RawClient(endpoint, "mallory")
        answers = []
        for ref in range(1, 3 * MAX_UPLOADS_AT_ONCE + 1):
            mallory.send(ev.OfferFile(ref=ref, name=f"{ref}.bin", size=1000))
            answers.append(mallory.expect(ev.UploadReady | ev.FileError, ref=ref))
        ready = [a for a in answers if isinstance(a, ev.UploadReady)]
        assert len(ready) == MAX_UPLOADS_AT_ONCE and len(store.uploads) == MAX_UPLOADS_AT_ONCE
        assert answers[-1].message.startswith(f"refused: you are already sending {MAX_UPLOADS_AT_ONCE} files")
        mallory.send(ev.UploadBytes(id=ready[0].id, data=b"x" * 1000))  # one finishes: room for one more
        mallory.send(ev.UploadDone(id=ready[0].id, sha256=hashlib.sha256(b"x" * 1000).hexdigest()))
        mallory.expect(ev.Offered, id=ready[0].id)
        mallory.send(ev.OfferFile(ref=99, name="next.bin", size=1000))
        assert isinstance(mallory.expect(ev.UploadReady | ev.FileError, ref=99), ev.UploadReady)
        ann = RawClient(endpoint, "ann")
        ann.send(ev.OfferFile(ref=1, name="homework.pdf", size=1000))
        assert isinstance(ann.expect(ev.UploadReady | ev.FileError, ref=1), ev.UploadReady)
        mallory.close()
        ann.close()


def _files_open_under(folder) -> int:  # noqa: ANN001 - a Path
    """File descriptors of this process (the in-process server's) open on a stored file in
    ``folder`` (not the run's lock file, ``run-XXXX.in-use``)."""
    import os

    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        count += target.startswith(str(folder)) and target.endswith(".upload")
    return count


def test_one_connection_asking_for_every_file_holds_few_open_and_still_gets_them_all(tmp_path):
    """From the attacker's side: each download being read holds an open file on the server, and a
    connection that asks for every file on offer and reads nothing kept one open per file (650
    small files fit the default quota), so two such connections could take every descriptor and
    nobody could join. Now at most MAX_DOWNLOADS_AT_ONCE are open per connection; the others wait
    unopened, and each still arrives whole when the reader reads."""
    from helpers import RawClient, running_server, wait_for

    from lanchat.files import MAX_DOWNLOADS_AT_ONCE

    count, size = 3 * MAX_DOWNLOADS_AT_ONCE, 600_000  # each more than the pacing lets through unread
    folder = tmp_path / "files"
    store = ServerFiles(folder, max_file_bytes=MB, quota_bytes=count * MB)
    contents = {}
    with running_server(files=store) as (_server, endpoint):
        ann, mallory = RawClient(endpoint, "ann"), RawClient(endpoint, "mallory")
        for ref in range(1, count + 1):
            data = hashlib.sha256(str(ref).encode()).digest() * (size // 32) + bytes(size % 32)
            ann.send(ev.OfferFile(ref=ref, name=f"{ref}.bin", size=size))
            ready = ann.expect(ev.UploadReady, ref=ref)
            for at in range(0, size, 60_000):
                ann.send(ev.UploadBytes(id=ready.id, data=data[at : at + 60_000]))
            ann.send(ev.UploadDone(id=ready.id, sha256=hashlib.sha256(data).hexdigest()))
            mallory.expect(ev.Offered, id=ready.id)
            contents[ready.id] = data
        for file_id in contents:
            mallory.send(ev.GetFile(id=file_id, binary=True))
        # the server has read every get (they are all either being read or waiting) ...
        wait_for(lambda: sum(map(len, list(store.downloads.values()) + list(store.gets_waiting.values()))) == count,
                 what="every get taken")  # fmt: skip
        # ... and holds no more files open than the limit, however long mallory does not read
        assert _files_open_under(folder) <= MAX_DOWNLOADS_AT_ONCE
        received: dict[str, bytearray] = {}
        total = 0
        while total < count * size:  # now mallory reads: every file starts in turn and arrives whole
            event = mallory.expect(ev.FileStart | ev.FileBytes | ev.FileError, timeout=30)
            assert not isinstance(event, ev.FileError), event
            if isinstance(event, ev.FileStart):
                assert event.id not in received and event.size == size
                received[event.id] = bytearray()
                assert len(received) - sum(len(b) == size for b in received.values()) <= MAX_DOWNLOADS_AT_ONCE
            else:
                received[event.id] += event.data  # a piece before its file-start would fail here
                total += len(event.data)
        assert received.keys() == contents.keys()
        assert all(bytes(received[file_id]) == data for file_id, data in contents.items())
        wait_for(lambda: _files_open_under(folder) == 0, what="every download's file closed")
        ann.close()
        mallory.close()


def test_in_a_turn_room_a_file_offered_out_of_turn_does_not_tell_the_class_its_name(tmp_path):
    """From the attacker's side, on real sockets: in a turn-based room nothing but the turn puts
    a student's words before the class (PROTOCOL.md 7: /me needs the turn, /topic and /nick are
    refused), but an offer did: 'the answer is 42.txt' reached everyone while ann held the turn.
    An offer to the room now needs the turn, as a /me does; one to a single person does not."""
    import hashlib

    from helpers import RawClient, local_host, running_server

    store = ServerFiles(tmp_path / "files", max_file_bytes=MB, quota_bytes=MB)
    with running_server("turn", files=store) as (server, endpoint):
        hal = local_host(server, "hal")
        ann = RawClient(endpoint, "ann")  # the first who is not the host: her turn
        bob = RawClient(endpoint, "bob")
        assert bob.welcome.turn == "ann"
        bob.send(ev.OfferFile(ref=1, name="the answer is 42.txt", size=3))
        refused = bob.expect(ev.FileError, ref=1)
        assert refused.message.startswith("in a turn-based room you can offer a file to the room when it is your turn")
        assert store.book.offers == {} and store.uploads == {}
        bob.send(ev.OfferFile(ref=2, name="for ann.txt", size=3, to="ann"))  # to one person: as a whisper
        ready = bob.expect(ev.UploadReady, ref=2)
        bob.send(ev.UploadBytes(id=ready.id, data=b"foo"))
        bob.send(ev.UploadDone(id=ready.id, sha256=hashlib.sha256(b"foo").hexdigest()))
        assert ann.expect(ev.Offered).name == "for ann.txt"
        ann.send(ev.OfferFile(ref=1, name="my answer.txt", size=3))  # the turn's holder may
        ann.expect(ev.UploadReady, ref=1)
        hal.send(ev.Who())  # answered after anything the offers above sent hal: no wait needed
        heard = []
        while not isinstance(event := hal.expect(object), ev.Roster):
            heard.append(event)
        assert [e.name for e in heard if isinstance(e, ev.Offered)] == []  # the host heard of neither of bob's files
        for client in (hal, ann, bob):
            client.close()


def test_empty_files_cannot_be_offered_without_end(tmp_path):
    """From the attacker's side, on real sockets: the quota counts bytes, so empty files passed it
    for ever. 6,000 of them (9 s on loopback) were 6,000 files in the server's folder and a
    /files answer over the 1 MiB queue limit: ann typed /files and was dropped as too slow.
    One person may now have MAX_OFFERS_AT_ONCE files on offer; the next is refused."""
    import hashlib

    from helpers import RawClient, running_server

    from lanchat.files import MAX_OFFERS_AT_ONCE, MAX_UPLOADS_AT_ONCE
    from lanchat.protocol import encode

    empty = hashlib.sha256(b"").hexdigest()
    store = ServerFiles(tmp_path / "files", max_file_bytes=MB, quota_bytes=MB)
    with running_server(files=store) as (_server, endpoint):
        ann, mallory = RawClient(endpoint, "ann"), RawClient(endpoint, "mallory")
        refused = None
        for first in range(0, MAX_OFFERS_AT_ONCE + MAX_UPLOADS_AT_ONCE, MAX_UPLOADS_AT_ONCE):  # bounded: a few more than the cap
            refs = range(first, first + MAX_UPLOADS_AT_ONCE)
            mallory.send_raw(b"".join(encode(ev.OfferFile(ref=ref, name=f"spam{ref}.txt", size=0)) for ref in refs))
            answers = [mallory.expect((ev.UploadReady, ev.FileError)) for _ in refs]
            ready = [a.id for a in answers if isinstance(a, ev.UploadReady)]
            mallory.send_raw(b"".join(encode(ev.UploadDone(id=file_id, sha256=empty)) for file_id in ready))
            refused = refused or next((a for a in answers if isinstance(a, ev.FileError)), None)
        assert refused is not None and refused.ref == MAX_OFFERS_AT_ONCE
        assert refused.message.startswith(f"refused: you have {MAX_OFFERS_AT_ONCE} files on offer already")
        mallory.send(ev.Who())
        mallory.expect(ev.Roster)  # every done before it was handled
        assert len(store.book.offers) == MAX_OFFERS_AT_ONCE
        assert len([p for p in (tmp_path / "files").rglob("*.upload")]) == MAX_OFFERS_AT_ONCE
        ann.send(ev.ListFiles())
        assert ann.expect(ev.FileList).count == MAX_OFFERS_AT_ONCE
        ann.close()
        mallory.close()


def test_a_newcomer_to_a_room_of_thousands_of_offers_is_told_of_the_newest_only(tmp_path):
    """What a newcomer is sent of the files on offer (after a replay of up to half the queue
    limit) is bounded as a /files answer is: 6,000 offers sent to whoever joined made 1.3 MB,
    past the 1 MiB queue, and the newcomer was dropped as too slow before reading a line."""
    from lanchat.files import MAX_LISTED, Offer
    from lanchat.hub import DEFAULT_MAX_QUEUE_BYTES
    from lanchat.protocol import encode

    room, files, _clock, cid = setting(tmp_path, ("hal", "local"), ("ann", "local"))
    for number in range(1, 6001):
        owner = 100 + number // 50
        files.book.offers[str(number)] = Offer(file_id=str(number), owner=owner, owner_name=f"m{owner}", name="x" * 120 + ".txt", size=0, ready=True)
    offered = [action.event for action in files.offers_for(cid["ann"])]
    assert [o.id for o in offered] == [str(n) for n in range(6000 - MAX_LISTED + 1, 6001)]  # the newest
    assert sum(len(encode(event)) for event in offered) < DEFAULT_MAX_QUEUE_BYTES // 2
    files.close()


def test_a_files_listing_of_thousands_of_offers_lists_the_newest_and_counts_the_rest(tmp_path):
    """Many people's offers (a class of 256 on one machine, 50 each) must not make a /files
    answer that drops the one who asked: at most MAX_LISTED are listed, within half the queue
    limit a replay gets (hub.DEFAULT_MAX_QUEUE_BYTES), and the file-list counts those left out."""
    from lanchat.files import MAX_LISTED
    from lanchat.hub import DEFAULT_MAX_QUEUE_BYTES
    from lanchat.protocol import encode

    room, files, _clock, cid = setting(tmp_path, ("hal", "local"), ("ann", "local"))
    from lanchat.files import Offer

    for number in range(1, 6001):  # as OfferBook.open makes them (without its per-person sums: quick)
        owner = 100 + number // 50
        files.book.offers[str(number)] = Offer(file_id=str(number), owner=owner, owner_name=f"m{owner}", name="x" * 120 + ".txt", size=0, ready=True)
    answer = files.handle(room, cid["ann"], ev.ListFiles())
    listing, *offered = [action.event for action in answer]
    assert listing == ev.FileList(count=MAX_LISTED, unlisted=6000 - MAX_LISTED)
    assert [o.id for o in offered] == [str(n) for n in range(6000 - MAX_LISTED + 1, 6001)]  # the newest
    assert sum(len(encode(event)) for event in [listing, *offered]) < DEFAULT_MAX_QUEUE_BYTES // 2
    files.close()
    from lanchat.session import Session

    (line,) = Session(name="ann").on_event(listing)
    assert line.text == f"files on offer (6,000; the newest {MAX_LISTED} listed):"


def test_the_hosts_own_file_is_not_held_to_the_size_cap_nor_the_quota_and_a_students_and_an_operators_are(tmp_path):
    """The teacher's 190 MiB lecture video was refused at the projector, 'this server takes files
    up to 50.0 MiB', by the cap of the teacher's own `serve`: sending it meant stopping the lesson
    to start the room again with a larger --max-file-mb. The cap and the quota keep the room's
    disk from its guests; the host's own offers are held only to the disk's room."""
    room, files, _clock, cid = setting(tmp_path, ("hal", "local"), ("ann", "192.168.1.10"), ("bob", "192.168.1.11"))
    assert isinstance(offer(files, room, cid["hal"], 30 * MB), ev.UploadReady)  # over the 10 MiB cap
    assert isinstance(offer(files, room, cid["hal"], 30 * MB, ref=2), ev.UploadReady)  # over the quota too
    refused = offer(files, room, cid["ann"], 11 * MB)
    assert isinstance(refused, ev.FileError) and "this server takes files up to 10.0 MiB" in refused.message
    room.moderation.operator_cids.add(cid["bob"])  # an operator is a guest too: the cap holds
    refused = offer(files, room, cid["bob"], 11 * MB)
    assert isinstance(refused, ev.FileError) and "this server takes files up to 10.0 MiB" in refused.message
    files.close()
