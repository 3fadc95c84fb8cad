"""The hub's abuse limits without a socket (test_hub.Lab: a hand-turned clock, sockets that
stop reading on request): the flooder paused with nothing lost, the slow reader that slows its
senders before anyone is dropped, the reader that takes nothing for 30 s.
"""

from __future__ import annotations

import json
import struct

import pytest
from test_hub import Lab

from lanchat import events as ev
from lanchat import guard as hub_module
from lanchat import limits as lim
from lanchat.moderation import Mute
from lanchat.pacing import SendPacer
from lanchat.protocol import encode


def lab_with_reading(**hub_args: object) -> tuple[Lab, list[tuple[int, bool]]]:
    calls: list[tuple[int, bool]] = []
    lab = Lab(set_reading=lambda cid, reading: calls.append((cid, reading)), **hub_args)
    return lab, calls


def last_for(calls: list[tuple[int, bool]], cid: int) -> bool | None:
    """Whether ``cid`` is being read, after the calls so far."""
    return next((reading for who, reading in reversed(calls) if who == cid), None)


def texts(events: list[object]) -> list[str]:
    return [e.text for e in events if isinstance(e, ev.Message)]


def test_a_flooder_is_paused_mid_read_and_what_it_sent_waits_not_lost():
    flood = lim.FloodControl(burst=2, rate=1.0, slow_downs_before_pause=1)
    lab, reading = lab_with_reading(limits=True, flood=flood)
    ann, mallory = lab.join("ann"), lab.join("mallory")
    ann.hears()
    mallory.says(*(ev.Say(text=f"m{i}") for i in range(6)))  # one read
    assert texts(ann.hears()) == ["m0", "m1"]
    errors = [e for e in mallory.hears() if isinstance(e, ev.Error)]
    assert [e.code for e in errors] == [ev.E_SLOW_DOWN, ev.E_SLOW_DOWN]
    assert "nothing you send is read for 2 s" in errors[1].message
    assert reading == [(mallory.cid, False)]
    assert lab.hub.next_deadline() == lab.clock.now + 2.0
    lab.clock.now += 2.0
    lab.hub.expire()  # read again: m4 and m5 were held, and go out now that the bucket is full
    assert reading[-1] == (mallory.cid, True)
    assert texts(ann.hears()) == ["m4", "m5"]


def test_me_nick_away_and_topic_count_toward_the_flood_limit_like_messages():
    # Each of these is broadcast to the whole room: left uncounted, a script could flood with /me.
    flood = lim.FloodControl(burst=2, rate=1.0, slow_downs_before_pause=10)
    lab, _reading = lab_with_reading(limits=True, flood=flood)
    ann, mallory = lab.join("ann"), lab.join("mallory")
    ann.hears()
    mallory.says(ev.Me(text="waves"), ev.SetAway(reason="tea"), ev.SetTopic(text="spam"), ev.Nick(name="mal2"))
    codes = [e.code for e in mallory.hears() if isinstance(e, ev.Error)]
    assert codes == [ev.E_SLOW_DOWN, ev.E_SLOW_DOWN]  # the third and fourth were over the burst of 2
    heard = ann.hears()
    assert not any(isinstance(e, ev.Topic) for e in heard)  # the topic was refused, not set
    assert not any(isinstance(e, ev.Renamed) for e in heard)


def test_a_guest_cannot_refill_the_flood_limit_by_taking_a_new_name():
    """A guest's bucket is their name's (no key to follow): a script sent 9 lines, /nick, 9 more
    under the new name's full bucket, and so on, 180 lines in 2 s with no refusal. The bucket
    goes with the rename; a name used a moment ago keeps the emptier of the two."""
    flood = lim.FloodControl(burst=3, rate=1.0, slow_downs_before_pause=10)
    lab, _reading = lab_with_reading(limits=True, flood=flood)
    ann, mallory = lab.join("ann"), lab.join("mallory")
    ann.hears()
    mallory.says(ev.Say(text="a"), ev.Nick(name="mal2"), ev.Say(text="b"), ev.Say(text="c"))
    assert texts(ann.hears()) == ["a", "b"]  # three at once, the nick among them
    assert [e.code for e in mallory.hears() if isinstance(e, ev.Error)] == [ev.E_SLOW_DOWN]
    lab.clock.now += 2.0  # two tokens back, under the new name
    mallory.says(ev.Nick(name="mallory"), ev.Say(text="d"), ev.Say(text="e"))  # and back again: no fresh burst either
    assert texts(ann.hears()) == ["d"]
    assert [e.code for e in mallory.hears() if isinstance(e, ev.Error)] == [ev.E_SLOW_DOWN]


def test_a_name_given_up_with_nick_is_fresh_for_whoever_takes_it_next():
    """mallory spent her bucket and renamed to mal2; the bucket went along only at her next
    counted frame, so bob, taking "mallory" before that, met her empty bucket and was told to
    slow down on his first line. It goes along at the nick itself now: bob's own comes with him."""
    flood = lim.FloodControl(burst=3, rate=1.0, slow_downs_before_pause=10)
    lab, _reading = lab_with_reading(limits=True, flood=flood)
    ann, mallory, bob = lab.join("ann"), lab.join("mallory"), lab.join("bob")
    mallory.says(ev.Say(text="a"), ev.Say(text="b"), ev.Nick(name="mal2"))  # her three
    ann.hears()
    bob.says(ev.Nick(name="mallory"), ev.Say(text="hi"))
    assert texts(ann.hears()) == ["hi"]
    assert not [e for e in bob.hears() if isinstance(e, ev.Error)]
    mallory.says(ev.Say(text="c"))  # hers stays empty under mal2
    assert [e.code for e in mallory.hears() if isinstance(e, ev.Error)] == [ev.E_SLOW_DOWN]


def test_frames_the_room_refuses_unread_count_toward_the_flood_limit():
    """A frame that is no event (an unknown type, not JSON, a field missing) was answered with its
    error and never counted: a member sending them as fast as the loopback took them had ~50,000
    errors a second written back, and the others' lines took 4 ms median, 20 ms p90, instead of
    0.4. They count now as a say does; a client that sends none is not affected."""
    flood = lim.FloodControl(burst=3, rate=1.0, slow_downs_before_pause=10)
    lab, _reading = lab_with_reading(limits=True, flood=flood)
    ann, mallory = lab.join("ann"), lab.join("mallory")
    ann.hears()
    frame = b'\x00\x00\x00\x10{"type":"zzzzz"}'
    lab.hub.receive_data(mallory.cid, frame * 6)
    codes = [e.code for e in mallory.hears() if isinstance(e, ev.Error)]
    assert codes == [ev.E_UNKNOWN_TYPE] * 3 + [ev.E_SLOW_DOWN] * 3


def test_a_hello_or_auth_after_the_welcome_is_refused_unread_and_counts_as_such_a_frame_does():
    """PROTOCOL.md (Abuse limits) said hello and auth are never flood-counted: that holds before
    the welcome (the 32-frame cap instead); after it each is refused as not allowed now and counts."""
    flood = lim.FloodControl(burst=3, rate=1.0, slow_downs_before_pause=10)
    lab, _reading = lab_with_reading(limits=True, flood=flood)
    ann, mallory = lab.join("ann"), lab.join("mallory")
    ann.hears()
    lab.hub.receive_data(mallory.cid, b"".join([encode(ev.Hello(name="m2")), encode(ev.Auth(signature="AAAA"))] * 3))
    codes = [e.code for e in mallory.hears() if isinstance(e, ev.Error)]
    assert codes == [ev.E_BAD_MESSAGE] * 3 + [ev.E_SLOW_DOWN] * 3


@pytest.mark.parametrize(
    "frame", [ev.Typing(), ev.UploadChunk(id="999", data="AAAA"), ev.UploadBytes(id="999", data=b"x"), ev.UploadDone(id="999", sha256="0" * 64)],
    ids=["typing", "chunk of no upload", "binary piece of no upload", "upload-done of no upload"],
)  # fmt: skip
def test_frames_flood_control_does_not_count_are_read_within_a_budget_and_none_is_lost(monkeypatch, frame):
    """Typing hints and upload pieces are not flood-counted (none is answered), but each costs a
    parse: a member sending them as fast as the loopback took them had ~480,000 a second read.
    Past a per-connection budget the connection is not read until some of it is back: no error,
    and what it sent waits in order (a say behind the hints goes out after the pauses)."""
    monkeypatch.setattr(hub_module, "UNCOUNTED_BURST", 4)
    monkeypatch.setattr(hub_module, "UNCOUNTED_RATE", 1.0)
    monkeypatch.setattr(hub_module, "UNCOUNTED_RESUME", 4)
    lab, reading = lab_with_reading(limits=True)
    ann, mallory = lab.join("ann"), lab.join("mallory")
    ann.says(ev.Say(text="hi"))
    assert lab.hub.peers[ann.cid].budget is None  # says never touch it
    ann.hears()
    mallory.says(*[frame] * 10, ev.Say(text="after the hints"))  # one read
    assert reading == [(mallory.cid, False)]  # the fifth spent the budget: not read for now
    assert lab.hub.next_deadline() == lab.clock.now + 4.0
    pauses = 1
    while not texts(heard := ann.hears()) and pauses < 10:
        lab.clock.now = lab.hub.next_deadline()
        lab.hub.expire()
        pauses += 1
    assert texts(heard) == ["after the hints"] and pauses == 3  # 4 + 4 + 2 hints, then the say
    assert last_for(reading, mallory.cid) is True
    assert not [e for e in mallory.hears() if isinstance(e, ev.Error)]  # told nothing: a hint is harmless when dropped


def test_an_upload_past_the_budget_is_read_more_slowly_and_arrives_whole(monkeypatch, tmp_path):
    # An upload's pieces spend the same budget (a piece of no upload looks like one until looked
    # up): past it the uploader is read more slowly, not refused, and the file arrives intact.
    import hashlib

    from lanchat.server_files import ServerFiles

    monkeypatch.setattr(hub_module, "UNCOUNTED_BURST", 4)
    monkeypatch.setattr(hub_module, "UNCOUNTED_RATE", 1.0)
    monkeypatch.setattr(hub_module, "UNCOUNTED_RESUME", 4)
    lab, reading = lab_with_reading(limits=True, files=ServerFiles(tmp_path))
    ann, bob = lab.join("ann"), lab.join("bob")
    data = bytes(range(200)) * 50  # 10,000 bytes in 10 pieces
    ann.says(ev.OfferFile(ref=1, name="notes.txt", size=len(data)))
    ready = ann.hears_one(ev.UploadReady)
    pieces = [ev.UploadBytes(id=ready.id, data=data[at : at + 1000]) for at in range(0, len(data), 1000)]
    ann.says(*pieces, ev.UploadDone(id=ready.id, sha256=hashlib.sha256(data).hexdigest()))
    assert reading == [(ann.cid, False)]
    for _ in range(10):
        if (offered := [e for e in bob.hears() if isinstance(e, ev.Offered)]) or lab.hub.next_deadline() is None:
            break
        lab.clock.now = lab.hub.next_deadline()
        lab.hub.expire()
    assert [o.name for o in offered] == ["notes.txt"]
    assert not [e for e in ann.hears() if isinstance(e, ev.FileError)]


def test_every_frame_a_member_may_send_is_flood_counted_or_budgeted():
    # A new client event added to the state table must be put in one of the two (or be bye).
    from lanchat.protocol import TRANSITIONS, Role, State

    limited = {cls.type for cls in (*hub_module.FLOOD_COUNTED, *hub_module.BUDGETED)}
    assert set(TRANSITIONS[(Role.CLIENT, State.OPEN)]) - limited == {"bye"}


def test_a_muted_students_whispers_to_an_operator_still_count_toward_the_flood_limit():
    # A mute leaves whispers to operators open (moderation.muted_whisper_refusal): not a way past the limit.
    flood = lim.FloodControl(burst=2, rate=1.0, slow_downs_before_pause=10)
    lab, _reading = lab_with_reading(limits=True, flood=flood)
    teacher, mallory = lab.join("teacher"), lab.join("mallory")
    lab.room.moderation.operator_cids.add(teacher.cid)
    lab.room.moderation.mutes.append(Mute(name_key="mallory", key=None, address=None, until=None, by="teacher", reason=""))
    teacher.hears()
    mallory.says(*(ev.Whisper(to="teacher", text=f"why {i}?") for i in range(4)))
    assert [e.text for e in teacher.hears() if isinstance(e, ev.Direct)] == ["why 0?", "why 1?"]
    assert [e.code for e in mallory.hears() if isinstance(e, ev.Error)] == [ev.E_SLOW_DOWN, ev.E_SLOW_DOWN]


def test_a_slow_reader_slows_the_senders_feeding_it_before_anyone_is_dropped():
    lab, reading = lab_with_reading(max_queue_bytes=16 * 1024)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears(), bob.hears()
    lab.writers[bob.cid].reading = False  # bob's kernel buffers are full for now
    for i in range(9):
        ann.says(ev.Say(text=f"{i} " + "x" * 1000))
        lab.flush()
    assert lab.hub.outbox.queued_bytes(bob.cid) > 8 * 1024  # over half the limit: congested
    lab.clock.now += hub_module.THROTTLE_SECONDS
    lab.hub.expire()
    assert (ann.cid, False) in reading  # ann, who fed bob's queue, is read more slowly
    lab.writers[bob.cid].reading = True  # bob reads again
    lab.flush()
    lab.clock.now += hub_module.THROTTLE_SECONDS
    lab.hub.expire()
    assert last_for(reading, ann.cid) is True
    assert len(texts(bob.hears())) == 9  # bob was never dropped
    assert bob.cid in lab.room.members


def test_one_still_congested_after_the_grace_time_is_dropped_and_the_senders_freed():
    lab, reading = lab_with_reading(max_queue_bytes=16 * 1024)
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.writers[bob.cid].reading = False
    for i in range(9):
        ann.says(ev.Say(text=f"{i} " + "x" * 1000))
        lab.flush()
    for _ in range(int(hub_module.CONGESTION_GRACE_SECONDS / hub_module.THROTTLE_SECONDS) + 2):
        lab.clock.now += hub_module.THROTTLE_SECONDS
        lab.hub.expire()
    left = [e for e in ann.hears() if isinstance(e, ev.Left)]
    assert [(e.name, e.reason) for e in left] == [("bob", "dropped")]
    assert last_for(reading, ann.cid) is True


def test_a_reader_that_takes_nothing_for_thirty_seconds_is_dropped():
    lab = Lab()
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.writers[bob.cid].reading = False
    ann.says(ev.Say(text="anyone?"))
    lab.flush()
    lab.hub.expire()  # the loop's pass: bob's backlog took nothing; the 30 s start now
    lab.clock.now += 29.9
    lab.hub.expire()
    lab.clock.now += 0.05
    lab.hub.expire()
    assert bob.cid in lab.room.members
    lab.clock.now += 0.2
    lab.hub.expire()
    assert [(e.name, e.reason) for e in ann.hears() if isinstance(e, ev.Left)] == [("bob", "dropped")]


def test_a_connection_storm_is_logged_as_its_first_refusal_and_one_count_not_a_line_each():
    """400 connections from one machine with 256 allowed at once wrote 145 identical log lines
    (a 2,000-connection storm: 1,800). Each refused connection still gets its fatal error; the
    log says the first, then how many more once the storm's 5 s are up, and an idle server then
    has nothing to wake for."""
    lab = Lab(limits=True, connection_limits=lim.ConnectionLimits(max_per_local=2, new_per_minute_local=1000))
    ann, bob = lab.join("ann"), lab.join("bob")
    refused = [lab.connect(f"127.0.0.1:{41000 + n}") for n in range(30)]
    for person in refused:
        error = person.hears_one(ev.Error)
        assert error.code == ev.E_TOO_MANY and error.fatal
        lab.hub.close(person.cid)  # it read the error and closed, as the loop sees
    refusing = [line for line in lab.log if "refus" in line]
    assert refusing == ["127.0.0.1:41000: too many connections from this machine (2 at once); close some and try again; refusing"]
    assert lab.hub.next_deadline() == lab.clock.now + lim.REFUSALS_SUMMED_SECONDS
    lab.clock.now += lim.REFUSALS_SUMMED_SECONDS - 0.01
    lab.hub.expire()
    assert [line for line in lab.log if "refus" in line] == refusing  # still counting
    lab.clock.now += 0.01
    lab.hub.expire()
    assert [line for line in lab.log if "refus" in line][1:] == [
        "127.0.0.1: 29 more connections refused within 5 s of the first (too many connections from this machine (2 at once))"
    ]
    assert lab.hub.next_deadline() is None  # nothing pending: the loop sleeps until something happens
    lab.connect("127.0.0.1:42000").hears_one(ev.Error)  # a new storm begins with a line of its own
    assert lab.log[-1] == "127.0.0.1:42000: too many connections from this machine (2 at once); close some and try again; refusing"
    assert ann.cid in lab.room.members and bob.cid in lab.room.members


def test_a_lab_class_joining_by_the_servers_own_lan_address_is_capped_as_this_machine_not_as_one_address():
    """A lab server's class joins by the room's announced LAN address (the server's own): every
    student's connection comes from that address, so the per-address cap (16) refused the 17th
    student of the lesson. A connection that dialled this machine's own address (transport.
    from_this_machine) counts as this machine's, as loopback does; another machine's still by address."""
    lab = Lab(limits=True, connection_limits=lim.ConnectionLimits(max_per_address=2, max_per_local=40))
    for n in range(5):
        student = lab.connect(f"192.0.2.2:{41000 + n}", this_machine=True)
        student.says(ev.Hello(name=f"student{n}"))
        assert isinstance(student.hears()[0], ev.Welcome)
    others = [lab.connect(f"192.0.2.9:{42000 + n}") for n in range(3)]
    assert [p.hears()[0].code for p in others[2:]] == [ev.E_TOO_MANY]  # the third from one other machine
    assert "too many connections from address 192.0.2.9 (2 at once)" in lab.log[-1]


def test_a_storm_still_being_counted_when_the_server_stops_is_counted_in_the_log():
    lab = Lab(limits=True, connection_limits=lim.ConnectionLimits(max_per_local=1, new_per_minute_local=1000))
    lab.join("ann")
    for n in range(3):
        lab.connect(f"127.0.0.1:{41000 + n}")
    lab.hub.shutdown("the host closed the chat")
    assert lab.log[-2:] == [
        "127.0.0.1: 2 more connections refused within 5 s of the first (too many connections from this machine (1 at once))",
        "shutting down: the host closed the chat",
    ]


def test_each_welcome_tells_the_flood_limit_that_holds_for_that_participant():
    # PROTOCOL.md, Abuse limits: a client paces itself to its welcome's allowance
    flood = lim.FloodControl(burst=4, rate=2.0)
    flood.allow(ev.name_key("teacher"), burst=50, rate=20.0)
    flood.allow(ev.name_key("bench"), unlimited=True)
    lab, _reading = lab_with_reading(limits=True, flood=flood)
    allowances = {}
    for name in ("ann", "teacher", "bench"):
        person = lab.connect()
        person.says(ev.Hello(name=name))
        welcome = person.hears()[0]
        allowances[name] = (welcome.flood_burst, welcome.flood_rate)
    assert allowances == {"ann": (4, 2.0), "teacher": (50, 20.0), "bench": (None, None)}
    host = lab.connect()
    lab.room.host_cid = host.cid  # the host is never counted: told no limit
    host.says(ev.Hello(name="host"))
    assert host.hears()[0].flood_burst is None
    unlimited = Lab()  # limits off (serve --no-limits): no welcome carries one
    person = unlimited.connect()
    person.says(ev.Hello(name="bob"))
    assert "flood_burst" not in person.hears()[0].to_json()


def test_a_welcome_says_how_much_of_the_burst_is_left_and_nothing_when_all_of_it_is():
    # A new session of someone who spent their burst (a rejoin, a new process, a second terminal)
    # is told so, and paces from there (PROTOCOL.md, Abuse limits: flood_tokens).
    flood = lim.FloodControl(burst=4, rate=2.0)
    lab, _reading = lab_with_reading(limits=True, flood=flood)
    ann = lab.join("ann")
    ann.says(*(ev.Say(text=f"a{i}") for i in range(3)))
    lab.hub.close(ann.cid)  # the Wi-Fi went
    again = lab.connect()
    again.says(ev.Hello(name="ann"))
    assert again.hears()[0].flood_tokens == 1  # the bucket is the name's, not the connection's
    lab.hub.close(again.cid)
    lab.clock.now += 10.0  # refilled
    late = lab.connect()
    late.says(ev.Hello(name="ann"))
    welcome = late.hears()[0]
    assert welcome.flood_tokens is None and "flood_tokens" not in welcome.to_json()  # all of it: as before


def test_a_slow_down_quotes_the_frame_it_refused_unless_too_big_to_quote():
    flood = lim.FloodControl(burst=1, rate=1.0)
    lab, _reading = lab_with_reading(limits=True, flood=flood)
    lab.join("ann")
    bob = lab.join("bob")
    bob.says(ev.Say(text="one"), ev.Say(text="two"), ev.Whisper(to="ann", text="psst"), ev.Say(text="é" * 4000))
    errors = [e for e in bob.hears() if isinstance(e, ev.Error)]
    assert [e.code for e in errors] == [ev.E_SLOW_DOWN] * 3
    assert [e.refused for e in errors[:2]] == ['{"type":"say","text":"two"}', '{"type":"whisper","to":"ann","text":"psst"}']
    assert errors[2].refused is not None and len(errors[2].refused) == 4000 + len('{"type":"say","text":""}')
    assert hub_module.quoted(ev.Say(text='"' * 4000)) is not None
    assert hub_module.quoted(ev.Whisper(to="ann", text="😀" * 6200)) is None  # over 24 KiB of JSON: not quoted


LAPTOP = "192.168.1.50:4%04d"  # one address: a laptop, or a school's NAT


def join_from(lab: Lab, name: str, address: str) -> object:
    person = lab.connect(address)
    person.says(ev.Hello(name=name))
    assert isinstance(person.hears()[0], ev.Welcome)
    return person


def share_an_address(seconds: int, *, guests: int, each_every: int, eve_every: int = 20) -> dict[str, object]:
    """``guests`` of a script's each send a line every ``each_every`` tenths of a second (within a
    person's limit), Eve one every ``eve_every``, all from one address; obs, elsewhere, reads."""
    lab = Lab(limits=True)
    script = [join_from(lab, f"g{i}", LAPTOP % i) for i in range(guests)]
    eve = join_from(lab, "eve", LAPTOP % 99)
    obs = join_from(lab, "obs", "192.168.1.77:40000")
    for person in [*script, eve, obs]:
        person.hears()  # type: ignore[attr-defined]
    eve_refused: list[str] = []
    script_refused = 0
    early: list[str] = []
    for tick in range(seconds * 10):
        lab.clock.now += 0.1
        lab.hub.expire()
        if tick == 100:
            early = texts(obs.hears())  # type: ignore[attr-defined]  # the first 10 s
        for i, guest in enumerate(script):
            if (tick + i) % each_every == 0 and guest.cid in lab.room.members:  # type: ignore[attr-defined]
                guest.says(ev.Say(text="spam"))  # type: ignore[attr-defined]
            script_refused += sum(isinstance(e, ev.Error) for e in guest.hears())  # type: ignore[attr-defined]
        if tick % eve_every == 0:
            eve.says(ev.Say(text=f"eve {tick}"))  # type: ignore[attr-defined]
        eve_refused += [e.message for e in eve.hears() if isinstance(e, ev.Error)]  # type: ignore[attr-defined]
    late = texts(obs.hears())  # type: ignore[attr-defined]  # after the first 10 s
    got = early + late
    return {
        "eve_sent": len(range(0, seconds * 10, eve_every)), "eve_got": sum(t.startswith("eve") for t in got),
        "eve_refused": eve_refused, "spam": got.count("spam"), "spam_late": late.count("spam"), "script_refused": script_refused,
        "script_joined": sum(g.cid in lab.room.members for g in script), "log": lab.log,  # type: ignore[attr-defined]
    }  # fmt: skip


def test_a_classmate_behind_a_flooders_address_is_not_silenced_by_the_shared_limit():
    # 15 guests of a script each at 2 lines a second (a person may send 3), Eve on the same
    # address at one line every 2 s: the address's shared bucket (20, then 6 a second) refuses
    # the heavy senders only. Before: 2 of Eve's 10 lines got through and she was paused.
    seen = share_an_address(20, guests=15, each_every=5)
    assert seen["eve_refused"] == [] and seen["eve_got"] == seen["eve_sent"] == 10
    rate = 2 * lim.DEFAULT_RATE  # the shared rate: once each guest is past LIGHT_LINES, it is cut to it
    assert 0.6 * rate * 10 <= seen["spam_late"] <= rate * 10, seen["spam_late"]  # less Eve's, the last 10 s
    assert seen["spam"] <= 2 * lim.DEFAULT_BURST + rate * 20 + 15 * lim.LIGHT_LINES, seen["spam"]
    assert seen["script_refused"] > 200


def test_a_script_taking_turns_or_persisting_on_one_address_gets_the_shared_rate_and_is_put_out():
    # 15 guests taking turns (each 2.5 a second, within their own limit; the one whose turn it
    # is has sent least lately) share 20 then 6 a second once past a person's burst; their
    # refusals climb each one's own ladder (pauses, then disconnect) as a person's own limit does.
    seen = share_an_address(60, guests=15, each_every=4, eve_every=10**6)
    assert seen["spam_late"] <= 2 * lim.DEFAULT_RATE * 50 + 1, seen["spam_late"]
    assert seen["script_joined"] < 15 and any("disconnecting" in line for line in seen["log"])  # type: ignore[attr-defined]


def test_a_pause_met_during_a_read_stops_the_clock_of_the_half_frame_that_read_left():
    # A flood and then half a frame in one read: the flood pauses the connection (nothing more
    # is read), and the half frame's 1 s must not run while it is not read. Before: the read's
    # own deadline check started it again and she was put out with a fatal deadline error.
    lab = Lab(limits=True, frame_seconds=1.0, member_frame_seconds=1.0)  # (a member's limit: hub.MEMBER_FRAME_SECONDS)
    mallory = lab.join("mallory")
    mallory.hears()
    whole = b"".join(mallory.proto.send(ev.Say(text=f"l{i}")) for i in range(25))
    tail = mallory.proto.send(ev.Say(text="the last one"))
    lab.hub.receive_data(mallory.cid, whole + tail[:5])
    assert mallory.cid in lab.hub.guard.paused
    lab.clock.now += 1.5
    lab.hub.expire()
    assert not [e.message for e in mallory.hears() if isinstance(e, ev.Error) and e.fatal]
    assert mallory.cid in lab.room.members
    lab.clock.now = lab.hub.guard.paused[mallory.cid]
    lab.hub.expire()  # read again: the half frame's clock runs from here, and a dripper is still put out
    lab.clock.now += 1.5
    lab.hub.expire()
    assert any(isinstance(e, ev.Error) and e.fatal and "not finished" in e.message for e in mallory.hears())


def padded_say(text: str, padding: object) -> bytes:
    """A say with a field this server does not know: read by the slow, general JSON path."""
    body = json.dumps({"type": "say", "text": text, "x-newer": padding}).encode()
    return struct.pack(">I", len(body)) + body


def test_frames_read_the_slow_way_are_charged_even_when_flood_control_refuses_them():
    # mallory's flood bucket is spent, and it never pauses her: her says padded with 60 KiB of
    # nested lists are refused, but each was parsed (~3 ms): they cost her budget all the same.
    # Before: only a frame handled was charged, so refused ones were read at any pace.
    flood = lim.FloodControl(burst=1, rate=0.001, slow_downs_before_pause=10**6)
    lab, reading = lab_with_reading(limits=True, flood=flood)
    mallory = lab.join("mallory")
    mallory.says(ev.Say(text="the one she may send"))
    junk = [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]] * 1900
    lab.hub.receive_data(mallory.cid, padded_say("refused", junk) * 3)
    assert [e.code for e in mallory.hears() if isinstance(e, ev.Error)][-1] == ev.E_SLOW_DOWN
    assert last_for(reading, mallory.cid) is False and mallory.cid in lab.hub.guard.paused


def test_a_line_with_a_small_field_this_server_does_not_know_costs_no_budget():
    # A newer client's lines with a field of their own (PROTOCOL.md: unknown fields are ignored)
    # are read the slow way, but a frame's first KiB is free: 40 such lines at once (a flood
    # limit that takes them) all go. Before: ~57 of the budget's 1,024 each, paused after 18.
    lab, reading = lab_with_reading(limits=True, flood=lim.FloodControl(burst=100))
    ann, bob = lab.join("ann"), lab.join("bob")
    ann.hears()
    lab.hub.receive_data(bob.cid, b"".join(padded_say(f"hi {i}", {"colour": "x" * 900}) for i in range(40)))
    assert len(texts(ann.hears())) == 40
    assert bob.cid not in lab.hub.guard.paused and last_for(reading, bob.cid) is None


def test_a_laptop_that_speaks_again_two_hours_later_is_heard():
    # Its address's shared counts grew by exp(t / 10 s) and overflowed past ~7,098 s: the server
    # took the OverflowError for a bug and ended the connection, at each later line as well.
    lab = Lab(limits=True)
    eve, bob = join_from(lab, "eve", LAPTOP % 1), join_from(lab, "bob", LAPTOP % 2)
    obs = join_from(lab, "obs", "192.168.1.77:40000")
    eve.says(ev.Say(text="at nine"))  # type: ignore[attr-defined]
    lab.clock.now += 2 * 3600
    lab.hub.expire()
    eve.says(ev.Say(text="at eleven"))  # type: ignore[attr-defined]
    bob.says(ev.Say(text="me too"))  # type: ignore[attr-defined]
    assert texts(obs.hears())[-3:] == ["at nine", "at eleven", "me too"]  # type: ignore[attr-defined]
    assert eve.cid in lab.room.members and bob.cid in lab.room.members  # type: ignore[attr-defined]


class PacedClient:
    """A participant as the real client sends (pacing.SendPacer): what its welcome allows goes
    at once, the rest at the allowed pace, and each line refused as a flood waits its turn again."""

    def __init__(self, lab: Lab, name: str, address: str) -> None:
        self.lab, self.person = lab, lab.connect(address)
        self.person.says(ev.Hello(name=name))
        welcome = self.person.hears()[0]
        assert isinstance(welcome, ev.Welcome)
        self.pacer = SendPacer()
        self.pacer.allow(welcome, lab.clock.now)
        self.out: list[ev.Event] = []
        self.refusals = self.pauses = 0

    def types(self, text: str) -> None:
        if self.pacer.send(event := ev.Say(text=text), self.lab.clock.now):
            self.out.append(event)

    def tick(self) -> None:
        lab, person = self.lab, self.person
        if person.cid not in lab.room.members:
            return
        self.out += self.pacer.release(lab.clock.now)
        while self.out and person.cid not in lab.hub.guard.paused:  # paused: it waits in the kernel's buffers
            person.says(self.out.pop(0))
        for event in person.hears():
            if isinstance(event, ev.Error) and event.code == ev.E_SLOW_DOWN:
                self.refusals += 1
                self.pauses += "nothing you send is read" in event.message or event.fatal
                self.pacer.refused(event.refused, lab.clock.now)


def test_light_senders_with_the_real_client_behind_a_shaped_script_are_never_paused():
    # A script on one address: a decoy at 3 lines a second and 13 guests at 1.4 (each within a
    # person's limit); Ann pastes 6 lines at 5 s and Eve types one every 2 s there too, with the
    # real client, which sends each refused line again (~2.85 a second). Before: each resend
    # counted as use, made Ann look heavy and climbed her own ladder: refused 21 times, paused,
    # at times disconnected. Now a light sender's line goes into the shared bucket's debt, and
    # past what it may borrow waits uncounted, no step of her ladder: all of it arrives.
    lab = Lab(limits=True)
    ann, eve = PacedClient(lab, "ann", LAPTOP % 98), PacedClient(lab, "eve", LAPTOP % 99)
    script = [join_from(lab, f"g{i}", LAPTOP % i) for i in range(14)]  # with Ann and Eve, the 16 an address may hold
    obs = join_from(lab, "obs", "192.168.1.77:40000")
    every = [10 / 3] + [10 / 1.4] * 13  # tenths of a second between each guest's lines
    due = [i * 0.3 for i in range(14)]
    for tick in range(400):
        lab.clock.now += 0.1
        lab.hub.expire()
        for i, guest in enumerate(script):
            while due[i] <= tick:
                due[i] += every[i]
                if guest.cid in lab.room.members:  # type: ignore[attr-defined]
                    guest.says(ev.Say(text="spam"))  # type: ignore[attr-defined]
            guest.hears()  # type: ignore[attr-defined]
        if tick == 50:
            for line in range(6):
                ann.types(f"ann {line}")
        if tick % 20 == 0:
            eve.types(f"eve {tick}")
        ann.tick()
        eve.tick()
    got = texts(obs.hears())  # type: ignore[attr-defined]
    assert ann.pauses == eve.pauses == 0 and ann.person.cid in lab.room.members and eve.person.cid in lab.room.members
    assert sum(t.startswith("ann") for t in got) == 6 and sum(t.startswith("eve") for t in got) == 20
    assert script[0].cid not in lab.room.members  # type: ignore[attr-defined]  # the decoy: put out


def test_a_light_senders_lines_sent_before_a_refusal_came_back_still_arrive_in_order():
    # Eve pastes two lines behind a school NAT whose shared bucket is owed all it may lend (a
    # heavy script, two classmates' bursts). The first waits (refused, retry_after); the second
    # left her client before that refusal came back and reached the server once a little of the
    # debt was paid. Before, it went through, and her client sent the first again after it.
    lab = Lab(limits=True)
    mallory = join_from(lab, "mallory", LAPTOP % 1)
    pals = [join_from(lab, f"pal{'abcdefghij'[i]}", LAPTOP % (2 + i)) for i in range(10)]
    eve = PacedClient(lab, "eve", LAPTOP % 99)
    obs = join_from(lab, "obs", "192.168.1.77:40000")
    for _ in range(lim.DEFAULT_BURST):
        mallory.says(ev.Say(text="spam"))  # type: ignore[attr-defined]  # the busiest there
    for pal in pals:
        for n in range(3):
            pal.says(ev.Say(text=f"{n}"))  # type: ignore[attr-defined]  # the bucket's 20, then light: its debt
    assert lab.hub.peers[mallory.cid].shared.bucket.tokens == -lim.SHARED_DEBT  # type: ignore[attr-defined, union-attr]
    eve.types("eve 0")
    eve.person.says(*eve.out)  # sent; its refusal is on its way back
    eve.out.clear()
    lab.clock.now += 0.2  # more than a token of the shared bucket's paid back
    eve.types("eve 1")
    eve.tick()  # sent before reading the refusal, which it reads now (the line waits again)
    for _ in range(100):
        lab.clock.now += 0.1
        lab.hub.expire()
        eve.tick()
    assert eve.refusals >= 1 and eve.pauses == 0
    assert [t for t in texts(obs.hears()) if t.startswith("eve")] == ["eve 0", "eve 1"]  # type: ignore[attr-defined]


def test_a_script_pushing_behind_its_own_waiting_lines_is_still_put_out_and_eve_unharmed():
    # 12 guests of a script on one address, each pushing 40 lines a second into a shared bucket
    # at the end of its debt. Each guest's line the bucket made wait let ten more be refused free
    # (the rule that keeps a pasting student's lines in order), and a line among the next that
    # waited too let ten more: never counted, never heavy, no step of any ladder. 7 of the 12
    # were still in after a minute, each refusal still read and answered. Eve, with the real
    # client on the same address, still gets every line through, in order, never paused.
    lab = Lab(limits=True)
    script = [join_from(lab, f"g{i:02d}", LAPTOP % i) for i in range(12)]
    eve = PacedClient(lab, "eve", LAPTOP % 99)
    obs = join_from(lab, "obs", "192.168.1.77:40000")
    for tick in range(2400):  # 60 s
        lab.clock.now += 0.025
        lab.hub.expire()
        for guest in script:
            if guest.cid in lab.room.members and guest.cid not in lab.hub.guard.paused:  # type: ignore[attr-defined]
                guest.says(ev.Say(text="spam"))  # type: ignore[attr-defined]
            guest.hears()  # type: ignore[attr-defined]
        if tick % 200 == 100:
            eve.types(f"eve {tick // 200}")
        eve.tick()
    assert [i for i, guest in enumerate(script) if guest.cid in lab.room.members] == []  # type: ignore[attr-defined]
    assert eve.pauses == 0 and eve.person.cid in lab.room.members
    assert [t for t in texts(obs.hears()) if t.startswith("eve")] == [f"eve {n}" for n in range(12)]  # type: ignore[attr-defined]


def test_typing_hints_padded_to_a_kib_pay_for_their_slow_bytes_from_the_first():
    # The free first KiB of a frame read the slow way covered typing hints too (uncounted, 1,024
    # at once): ~1 KiB of nested lists in each cost one token but 61-98 us to read, so 1,000 of
    # them held the loop for ~0.1 s at no cost. Now only flood-counted frames read their first
    # KiB free: she is paused long before the thousandth.
    lab, reading = lab_with_reading(limits=True)
    mallory = lab.join("mallory")
    mallory.hears()
    body = json.dumps({"type": "typing", "pad": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]] * 29}).encode()
    assert 900 < len(body) < 1024
    lab.hub.receive_data(mallory.cid, (struct.pack(">I", len(body)) + body) * 1000)
    assert last_for(reading, mallory.cid) is False and mallory.cid in lab.hub.guard.paused


def test_a_connection_refused_at_the_door_does_not_make_the_one_joined_from_its_address_share():
    # Refused connections (over the address's cap) joined the address's shares as they closed:
    # the one person joined from there paid for a shared bucket at each line, and each refused
    # one, in a storm of them, went over every connection from there again.
    lab = Lab(limits=True, connection_limits=lim.ConnectionLimits(max_per_address=1))
    ann = join_from(lab, "ann", LAPTOP % 1)
    for port in range(2, 6):
        lab.connect(LAPTOP % port)  # refused: one connection from this address at most
    assert lab.hub.peers[ann.cid].shared is None  # type: ignore[attr-defined]
    assert lab.hub.guard.shares.peers[LAPTOP.split(":")[0]] == [lab.hub.peers[ann.cid]]  # type: ignore[attr-defined]


def test_the_shared_bucket_holds_only_while_two_or_more_are_joined_from_one_address():
    # On a LAN where each laptop is its own address, a line paid ~0.6 us for a shared bucket
    # that cannot refuse one person alone (their own limit is half of it): it is left out until
    # a second connection comes from that address, and again once one is alone.
    lab = Lab(limits=True)
    ann = join_from(lab, "ann", LAPTOP % 1)
    peers = lab.hub.peers
    assert peers[ann.cid].shared is None  # type: ignore[attr-defined]
    bob = join_from(lab, "bob", LAPTOP % 2)
    shared = peers[bob.cid].shared  # type: ignore[attr-defined]
    assert shared is not None and peers[ann.cid].shared is shared  # type: ignore[attr-defined]
    ann.says(ev.Say(text="counted there"))  # type: ignore[attr-defined]
    assert lab.hub.guard.shares.buckets[LAPTOP.split(":")[0]].bucket.tokens < 2 * lim.DEFAULT_BURST
    lab.hub.receive_data(bob.cid, b"")  # type: ignore[attr-defined]  # bob leaves
    assert peers[ann.cid].shared is None  # type: ignore[attr-defined]


def test_a_guests_nick_takes_their_recent_lines_along_in_the_bucket_their_address_shares():
    # Their own bucket goes with a /nick; so must their count in the address's shared bucket, or
    # a heavy sender there, renamed, looks light and borrows past the empty bucket at once.
    lab = Lab(limits=True)
    mallory, eve = join_from(lab, "mallory", LAPTOP % 1), join_from(lab, "eve", LAPTOP % 2)
    obs = join_from(lab, "obs", "192.168.1.77:40000")
    mallory.says(*[ev.Say(text=f"spam {n}") for n in range(5)], ev.Nick(name="mal2"))  # type: ignore[attr-defined]
    obs.hears()  # type: ignore[attr-defined]
    mallory.hears()  # type: ignore[attr-defined]
    lab.hub.guard.shares.buckets[LAPTOP.split(":")[0]].bucket.tokens = 0.0  # the others there spent the rest
    mallory.says(ev.Say(text="as mal2"))  # type: ignore[attr-defined]
    assert [e.code for e in mallory.hears() if isinstance(e, ev.Error)] == [ev.E_SLOW_DOWN]  # type: ignore[attr-defined]
    assert "as mal2" not in texts(obs.hears())  # type: ignore[attr-defined]
    eve.says(ev.Say(text="light"))  # type: ignore[attr-defined]  # a light sender's still goes (into debt)
    assert texts(obs.hears()) == ["light"]  # type: ignore[attr-defined]
