"""The upload quota behind one address (a school's NAT, a class sharing one address): each student
with an identity key has a quota of their own, keyless guests there share one, and the address
as a whole is capped at limits.ADDRESS_UPLOAD_QUOTAS people's quota, so a script making keys gets
no more than that (server_files.py with a pure room)."""

from __future__ import annotations

from test_files_abuse import Clock, offer

from lanchat import events as ev
from lanchat import limits as lim
from lanchat.files import MB
from lanchat.room import Room
from lanchat.server_files import ServerFiles

NAT = "203.0.113.7"


def _class(tmp_path, people: list[tuple[str, str, str | None]]) -> tuple[Room, ServerFiles, dict[str, int]]:
    """A room and its file store (a quota of 10 MiB a person); ``people``: (name, address, key)."""
    room = Room(clock=Clock())
    files = ServerFiles(tmp_path, max_file_bytes=10 * MB, quota_bytes=10 * MB, clock=room.clock)
    cids = {}
    for cid, (name, address, key) in enumerate(people, start=1):
        room.moderation.arrive(cid, address, key)
        room.handle(cid, ev.Hello(name=name))
        cids[name] = cid
    return room, files, cids


def test_behind_one_address_each_key_has_its_own_quota_and_guests_share_one(tmp_path):
    room, files, cid = _class(tmp_path, [("ann", NAT, "anns-key"), ("ben", NAT, "bens-key"), ("cy", NAT, "cys-key"),
                                         ("g1", NAT, None), ("g2", NAT, None)])  # fmt: skip
    for name in ("ann", "ben", "cy"):  # before: ben's was over 'your quota' (ann's 8 MiB counted)
        assert isinstance(offer(files, room, cid[name], 8 * MB), ev.UploadReady), name
    refused = offer(files, room, cid["ann"], 3 * MB, ref=2)  # her own quota still holds
    assert isinstance(refused, ev.FileError) and "over your quota of 10.0 MiB" in refused.message, refused
    assert isinstance(offer(files, room, cid["g1"], 8 * MB), ev.UploadReady)
    refused = offer(files, room, cid["g2"], 8 * MB)  # keyless guests there: one quota, as before
    assert isinstance(refused, ev.FileError) and "over your quota" in refused.message, refused
    files.close()


def test_a_script_making_keys_behind_one_address_gets_no_more_than_the_address_total(tmp_path):
    people = [(f"k{n}", NAT, f"key-{n}") for n in range(16)] + [("ann", "192.168.1.10", "anns-key")]
    room, files, cid = _class(tmp_path, people)
    answers = [offer(files, room, cid[f"k{n}"], 8 * MB) for n in range(16)]
    taken = sum(isinstance(answer, ev.UploadReady) for answer in answers)
    assert taken == lim.ADDRESS_UPLOAD_QUOTAS * 10 // 8, answers  # 40 MiB: five 8 MiB files
    refusal = next(a for a in answers if isinstance(a, ev.FileError))
    assert "would take your address over what all there may have on offer together, 40.0 MiB" in refusal.message, refusal
    assert isinstance(offer(files, room, cid["ann"], 8 * MB), ev.UploadReady)  # a classmate elsewhere: unaffected
    files.close()


def test_on_this_machine_a_key_does_not_change_the_quota(tmp_path):
    """Over loopback everyone is one group (and a lab's shared account one key file): per person."""
    room, files, cid = _class(tmp_path, [("ann", "local", "lab-key"), ("bob", "local", "lab-key")])
    assert isinstance(offer(files, room, cid["ann"], 8 * MB), ev.UploadReady)
    assert isinstance(offer(files, room, cid["bob"], 8 * MB), ev.UploadReady)
    assert isinstance(offer(files, room, cid["ann"], 3 * MB, ref=2), ev.FileError)
    files.close()


def test_the_keyless_guests_offers_count_in_the_address_total_too(tmp_path):
    """A script behind the NAT offers as a keyless guest first (one quota there), then with keys:
    the address's total holds what the guest has on offer, so it never gets past that total."""
    people = [("g1", NAT, None)] + [(f"k{n}", NAT, f"key-{n}") for n in range(8)]
    room, files, cid = _class(tmp_path, people)
    assert isinstance(offer(files, room, cid["g1"], 8 * MB), ev.UploadReady)
    answers = [offer(files, room, cid[f"k{n}"], 8 * MB) for n in range(8)]
    taken = sum(isinstance(answer, ev.UploadReady) for answer in answers)
    assert taken == lim.ADDRESS_UPLOAD_QUOTAS * 10 // 8 - 1, answers  # 40 MiB in all: the guest's 8 and four more
    files.close()


def test_a_script_making_keys_behind_one_address_has_no_more_uploads_at_once_than_the_address_may(tmp_path):
    """Small files, so no total of bytes stops it: the address may be sending
    ADDRESS_UPLOAD_QUOTAS people's MAX_UPLOADS_AT_ONCE files at once, however many keys it makes."""
    from lanchat.files import MAX_UPLOADS_AT_ONCE

    people = [(f"k{n}", NAT, f"key-{n}") for n in range(lim.ADDRESS_UPLOAD_QUOTAS + 2)]
    room, files, cid = _class(tmp_path, people)
    answers = [offer(files, room, cid[name], 1, ref=ref) for name, _a, _k in people for ref in range(MAX_UPLOADS_AT_ONCE)]
    taken = sum(isinstance(answer, ev.UploadReady) for answer in answers)
    assert taken == lim.ADDRESS_UPLOAD_QUOTAS * MAX_UPLOADS_AT_ONCE, answers
    refusal = next(a for a in answers if isinstance(a, ev.FileError))
    assert f"your address has {taken} files on offer or on their way already" in refusal.message, refusal
    files.close()
