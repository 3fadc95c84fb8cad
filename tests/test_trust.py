"""Trust on a LAN, as a class meets it: the short form of a TLS room's fingerprint that the
teacher writes on the board and a student's first join shows to compare (tls.short_form), two
teachers' rooms of one name, one teacher's rooms sharing one certificate, and cloned machines
sharing one. Real servers, real TLS, real terminals (pyte), network namespaces for discovery."""

from __future__ import annotations

import io
import json
import re
import sys

import pexpect
import pytest
from helpers import DEFAULT_TIMEOUT, ROOT, Proc, child_env, wait_for

from lanchat.tls import (
    KNOWN_SERVERS_NAME,
    KnownServers,
    TlsError,
    announced_doubt,
    channel_binding,
    check_fingerprint,
    ensure_certificate,
    fingerprint,
    server_context,
    short_form,
    with_short_form,
)

ANN = "198.18.0.1"
BOB = "198.18.0.2"


# ------------------------------------------------------------------ the short form


def test_the_short_form_is_the_fingerprints_first_64_bits_as_four_groups_of_hex(tmp_path):
    cert, key, _made = ensure_certificate(tmp_path)
    _context, fp = server_context(cert, key)
    short = short_form(fp)
    assert re.fullmatch(r"[0-9a-f]{4}( [0-9a-f]{4}){3}", short), short
    assert short.replace(" ", "") == channel_binding(fp)[:8].hex()  # the SHA-256's own first bytes
    assert short_form("SHA256:" + "A" * 43) == "0000 0000 0000 0000"
    assert with_short_form(fp) == f"  {fp}\n  in short: {short}"


def test_serve_prints_the_short_form_and_a_students_first_join_asks_with_the_same():
    """The teacher's banner (and so the board) has the short form; the student's question
    shows the same 16 digits beside the whole fingerprint, so comparing is a glance."""
    env = child_env()
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--tls", env=env)
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        fp = server.expect(r"the server's fingerprint is (SHA256:\S+)").group(1)
        server.expect(rf"in short, for the board: {short_form(fp)} \(a student's first join shows it")
        student = pexpect.spawn(
            sys.executable, ["-m", "lanchat", "connect", "127.0.0.1", port, "--tls", "--name", "ann", "--plain"],
            env=child_env(), cwd=str(ROOT), encoding="utf-8", timeout=DEFAULT_TIMEOUT, dimensions=(24, 100),
        )
        student.logfile_read = shown = io.StringIO()
        student.expect("is a TLS server not seen before")
        student.expect_exact(f"in short: {short_form(fp)}")
        student.expect_exact("Trust it and connect? [y/N] ")
        student.sendline("y")
        student.expect("welcome, ann")
        student.sendline("/q")
        student.expect(pexpect.EOF)
        student.close()
        assert student.exitstatus == 0 and "Traceback" not in shown.getvalue()
    finally:
        server.stop()


def test_a_tls_room_joined_by_name_shows_the_short_form_on_both_full_screens(lab):
    """The host's full screen says the short form among the lines on how to join; a student
    joining by the room's name at the full screen is asked nothing (the announcement pins the
    certificate) and saw the fingerprint to compare only in a line printed above the chat,
    which the full screen, opening, hid at once: it is now in the chat, once."""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.link(ann, f"{ANN}/24", bob, f"{BOB}/24")
    host = lab.term(ann, "serve", "--port", "0", "--name", "ann", "--no-history", "--room", "safe room", "--tls", cols=120)
    short = host.expect(r"in short, for the board: ([0-9a-f ]{19})").group(1)
    host.expect(r"announcing 'safe room' on the local network")
    wait_for(lambda: json.loads(lab.run_command(bob, sys.executable, "-m", "lanchat", "rooms", "--json").stdout or "[]"),
             timeout=30, what="the room to be announced")
    student = lab.term(bob, "connect", "safe room", "--name", "bob", cols=120)
    student.expect(r"welcome, bob", timeout=30)
    student.expect(rf"TLS fingerprint in short {short}: compare it with the host's screen")
    assert len(re.findall(re.escape(short), student.text)) == 1, student.text
    student.send("/q\r")
    assert student.wait() == 0
    host.send("/q\r")
    assert host.wait() == 0


def test_the_short_form_given_as_a_pin_is_refused_with_what_to_give_instead():
    """The board's 16 digits are for the eye (64 bits): typed as --fingerprint, they were called
    "not a SHA256 fingerprint" with no word of the short form the student had copied."""
    student = Proc("connect", "127.0.0.1", "9", "--name", "ann", "--fingerprint", "80a5 ce41 0942 0956", stdin=False)
    assert student.wait() == 2
    assert "is the short form of a fingerprint, to compare by eye: give the whole one" in student.output, student.output


# ------------------------------------------------------------------ one name, two teachers; one teacher, many rooms


def test_two_teachers_rooms_of_one_name_are_both_trusted_once_each_is_checked_against_the_board(tmp_path):
    """bob met Ms A's "maths" (joined by its name); next door Mr B also calls his room "maths",
    with his own certificate. bob was refused as CHANGED, told only that someone may pretend to be
    the room; typing B's fingerprint then replaced A's, and A's "maths" was refused as CHANGED next
    lesson, and so on, turn about. Now the refusal says another teacher's room may have the name
    and gives both short forms to tell by the board; the name holds both once B's is typed, as
    ssh's known_hosts holds several keys for one host; a third certificate is still refused."""
    known = KnownServers(tmp_path / "known_servers")
    a, b, eve = fingerprint(b"Ms A's"), fingerprint(b"Mr B's"), fingerprint(b"eve's")
    check_fingerprint("10.0.0.5:3580", a, known=known, pinned=a, announced=True, room="maths")
    with pytest.raises(TlsError) as changed:
        check_fingerprint("10.0.0.6:3580", b, known=known, pinned=b, announced=True, room="Maths")
    text = str(changed.value)
    assert "another teacher's room may have it" in text, text
    assert f"remembered: {short_form(a)}, {a}\n" in text and f"presented:  {short_form(b)}, {b} (at 10.0.0.6:3580)\n" in text
    assert f"Tell by the board: is its short form {short_form(b)}? If not, do not join." in text
    assert f"connect with --fingerprint {b} (the room you trusted before keeps its trust too)" in text
    # the board says b: typed, it is trusted beside a
    assert "matches --fingerprint" in check_fingerprint("10.0.0.6:3580", b, known=known, pinned=b, room="maths")
    assert known.rooms.trusted("maths") == [a, b]
    for where, fp in (("10.0.0.5:3580", a), ("10.0.0.6:3580", b)):  # each room, found by its name again: known
        note = check_fingerprint(where, fp, known=known, pinned=fp, announced=True, room="maths")
        assert "(known" in note, note
    with pytest.raises(TlsError, match="has CHANGED"):  # anyone else announcing the name: refused as before
        check_fingerprint("10.0.0.66:3580", eve, known=known, pinned=eve, announced=True, room="maths")
    assert announced_doubt(known, "maths", "10.0.0.6:3580", b) is None
    assert "another teacher's room may have the name" in (announced_doubt(known, "maths", "10.0.0.66:3580", eve) or "")


def test_a_room_trusted_by_its_name_only_is_known_at_a_new_address_not_shown_to_compare(tmp_path):
    """A certificate trusted by the room's name alone (its address lines forgotten: a typed pin
    replaced another there, tls._replaced_by_a_typed_pin, and the name kept it): the room, found
    by its name at a new address, is known (tls._check_pin), not shown again as new to compare."""
    known = KnownServers(tmp_path / "known_servers")
    a = fingerprint(b"Ms A's")
    assert known.rooms.remember("maths", a) is None and known.lookup("10.0.0.7:3580") is None
    note = check_fingerprint("10.0.0.7:3580", a, known=known, pinned=a, announced=True, room="maths")
    assert note == f"TLS fingerprint {a} (known)", note


def test_connect_by_a_name_two_rooms_announce_picks_the_one_trusted_whichever_of_the_names_certificates_it_is(tmp_path, monkeypatch):
    """A room called "maths" announced twice, Ms A's and eve's, and the name trusted with Ms A's and Mr B's
    certificates (tls.KnownRooms): connect picks Ms A's room (cli/rooms.py's trusted_by_name), as it
    picks the one room trusted under a name holding one; eve's is not it, nor is either trusted
    under another name."""
    from lanchat import tls as tls_module
    from lanchat.cli.rooms import trusted_by_name
    from lanchat.discovery import RoomInfo

    monkeypatch.setattr(tls_module, "default_folder", lambda: tmp_path)
    known = KnownServers(tmp_path / KNOWN_SERVERS_NAME)
    a, b, eve = fingerprint(b"Ms A's"), fingerprint(b"Mr B's"), fingerprint(b"eve's")
    assert known.rooms.remember("maths", a) is None and known.rooms.remember("maths", b) is None
    ms_a = RoomInfo(name="maths", host="a", addresses=(ANN,), port=3580, fingerprint=a)
    evil = RoomInfo(name="maths", host="e", addresses=(BOB,), port=3580, fingerprint=eve)
    assert trusted_by_name([evil, ms_a], "maths") == [ms_a]
    assert trusted_by_name([evil, ms_a], "physics") == []


def test_a_name_holding_two_teachers_certificates_refuses_a_third_showing_both_remembered(tmp_path):
    """A name holding Ms A's and Mr B's certificates refused eve's with 'remembered:' B's only,
    though the board bob compares may well show A's: each remembered one has its line now."""
    known = KnownServers(tmp_path / "known_servers")
    a, b, eve = fingerprint(b"Ms A's"), fingerprint(b"Mr B's"), fingerprint(b"eve's")
    check_fingerprint("10.0.0.5:3580", a, known=known, pinned=a, announced=True, room="maths")
    check_fingerprint("10.0.0.6:3580", b, known=known, pinned=b, room="maths")
    with pytest.raises(TlsError) as changed:
        check_fingerprint("10.0.0.66:3580", eve, known=known, pinned=eve, announced=True, room="maths")
    text = str(changed.value)
    assert f"\n  remembered: {short_form(a)}, {a}\n  remembered: {short_form(b)}, {b}\n  presented:  {short_form(eve)}" in text, text


def test_forget_a_room_forgets_that_room_not_its_hosts_other_rooms_and_says_them(tmp_path, monkeypatch, capsys):
    """One teacher's rooms share one certificate (one data folder): `lanchat forget maths` forgot
    "chess" and "art" as well, each said as "the same certificate", and an impostor's "chess"
    was then trusted on first use. Now it forgets maths (and the addresses that held its
    certificate, else the room there was refused), keeps the sister rooms' names and says them,
    with the command that forgets each; chess found at its address next is known by its name."""
    from lanchat import tls as tls_module
    from lanchat.__main__ import parse_command_line
    from lanchat.cli.rooms import cmd_forget

    monkeypatch.setattr(tls_module, "default_folder", lambda: tmp_path)
    known = KnownServers(tmp_path / KNOWN_SERVERS_NAME)
    shared, other = fingerprint(b"the teacher's"), fingerprint(b"another host's")
    for where in ("10.0.0.5:3580", "10.0.0.5:3581"):
        known.remember(where, shared)
    known.remember("10.0.0.9:3580", other)
    for room in ("maths", "chess", "art"):
        known.rooms.remember(room, shared)
    known.rooms.remember("music", other)
    assert cmd_forget(parse_command_line(["forget", "maths"])) == 0
    out = capsys.readouterr().out
    assert "remembered for the room 'maths' (in" in out and "'chess', the same certificate" not in out, out
    assert ("still trusted by their names, with the same certificate (the same host's rooms): 'chess', 'art'; if their "
            "host made a new certificate, forget each too (`lanchat forget chess` `lanchat forget art`)") in " ".join(
                line.strip() for line in out.splitlines()), out
    assert known.rooms.lookup("maths") is None and known.rooms.lookup("chess") == shared == known.rooms.lookup("art")
    assert known.rooms.lookup("music") == other and known.hosts() == ["10.0.0.9"]
    # chess, met at its address (its line went with maths's certificate): known by its sisters' names, nobody asked
    assert check_fingerprint("10.0.0.5:3581", shared, known=known, ask=lambda fp: pytest.fail("asked")) == (
        f"TLS fingerprint {shared} (known: the room 'art' you trusted by its name)")
    # an impostor's chess is still refused
    with pytest.raises(TlsError, match="has CHANGED"):
        check_fingerprint("10.0.0.66:3580", fingerprint(b"eve's"), known=known, pinned=fingerprint(b"eve's"),
                          announced=True, room="chess")


def test_forget_a_room_says_what_it_forgot_before_what_it_kept(tmp_path, monkeypatch, capsys):
    """`lanchat forget maths` printed 'still trusted by their names ...: chess' first, before any
    line said what was forgotten: what was kept is said last now."""
    from lanchat import tls as tls_module
    from lanchat.__main__ import parse_command_line
    from lanchat.cli.rooms import cmd_forget

    monkeypatch.setattr(tls_module, "default_folder", lambda: tmp_path)
    known = KnownServers(tmp_path / KNOWN_SERVERS_NAME)
    shared = fingerprint(b"the teacher's")
    known.remember("10.0.0.5:3580", shared)
    for room in ("maths", "chess"):
        known.rooms.remember(room, shared)
    assert cmd_forget(parse_command_line(["forget", "maths"])) == 0
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("lanchat")]
    assert "remembered for the room 'maths'" in said[0] and "still trusted by their names" in said[-1], said


# ------------------------------------------------------------------ small ones


@pytest.mark.skipif(not hasattr(__import__("signal"), "pthread_sigmask"), reason="POSIX signal masks")
def test_forget_and_doctor_ask_from_threads_born_with_the_stop_signals_blocked(monkeypatch):
    """`lanchat forget`'s look-ups of a machine's names (tls.same_machine) and the doctor's probes
    of the rooms seen (doctor.probe_rooms) ran in a thread pool started with the stop signals open
    in its threads: a Ctrl-C could land in one of them instead of the main thread, which waits on
    them. Every thread lanchat starts is born with them blocked (stopsignals.held_in_new_threads);
    the starter's mask is as it was."""
    import signal

    from test_stop_signals import Masks, blocked_in_this_thread

    from lanchat import doctor
    from lanchat.discovery import RoomInfo
    from lanchat.stopsignals import STOP_SIGNALS
    from lanchat.tls import same_machine

    masks = Masks()
    held = signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # as lanchat's main thread has them
    try:
        before = blocked_in_this_thread()

        def resolve(host: str, *_args: object, **_kwargs: object) -> list:
            masks.note(f"forget {host}")
            return [(2, 1, 6, "", ("127.0.0.1", 0))]

        # the look-up's own thread (tested in test_stop_signals): asked inline, in the pool's thread
        monkeypatch.setattr("lanchat.stopsignals.start_thread", lambda target, name="": target())
        assert same_machine("localhost", ["127.0.0.1", "laptop"], resolve=resolve) == ["127.0.0.1", "laptop"]
        monkeypatch.setattr(doctor, "probe_server", lambda target: masks.note(f"probe {target.host}") or ("ok", ""))
        rooms = [RoomInfo(name=f"r{n}", host="h", addresses=(f"198.18.0.{n}",), port=3580) for n in (1, 2)]
        assert set(doctor.probe_rooms(rooms, {})) == {"198.18.0.1:3580", "198.18.0.2:3580"}
        assert len(masks.seen) == 5, masks.seen
        for kind, blocked in masks.seen.items():
            assert set(STOP_SIGNALS) <= blocked, f"{kind}'s thread can take a stop signal"
        assert blocked_in_this_thread() == before
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


# ------------------------------------------------------------------ cloned machines, one certificate


def test_a_room_announcing_this_rooms_certificate_from_another_machine_is_a_clone_and_this_machines_are_not():
    from lanchat.discovery import RoomInfo, same_certificate_elsewhere

    ours, other = fingerprint(b"the image's"), fingerprint(b"another")
    sister = RoomInfo(name="chess", host="lab1", addresses=("198.18.0.1", "fe80::1%lan0"), port=3581, fingerprint=ours)
    plain = RoomInfo(name="plain", host="lab2", addresses=("198.18.0.2",), port=3580)
    stranger = RoomInfo(name="art", host="lab3", addresses=("198.18.0.3",), port=3580, fingerprint=other)
    clone = RoomInfo(name="maths", host="lab1", addresses=("198.18.0.4",), port=3580, fingerprint=ours)
    own = ["198.18.0.1", "fe80::1"]
    assert same_certificate_elsewhere([sister, plain, stranger], ours, own) is None
    assert same_certificate_elsewhere([sister, plain, stranger, clone], ours, own) is clone


def test_two_machines_cloned_from_one_image_each_say_once_that_the_other_has_their_certificate(lab, tmp_path):
    """Two lab machines installed from one school image hold one TLS certificate and key: either
    can pass for the other's room, fingerprint and all, and nothing said so. Each now says it once
    (the host's full screen, a headless room's log), naming the other; this machine's other room,
    sharing the certificate rightly, is never taken for a clone."""
    one, two = lab.namespace("A"), lab.namespace("B")
    lab.link(one, f"{ANN}/24", two, f"{BOB}/24")
    image = tmp_path / "tls"  # the cloned image's certificate and key, as both machines have them
    ensure_certificate(image)
    host = lab.term(one, "serve", "--port", "0", "--name", "ann", "--no-history", "--room", "lab A", "--tls",
                    "--tls-dir", str(image), cols=200, rows=30)
    host.expect(r"announcing 'lab A' on the local network")
    sister = lab.run(one, "serve", "--headless", "--port", "0", "--no-history", "--room", "lab A2", "--tls", "--tls-dir", str(image))
    sister.expect(r"announced as 'lab A2'")
    clone = lab.run(two, "serve", "--headless", "--port", "0", "--no-history", "--room", "lab B", "--tls", "--tls-dir", str(image))
    port = clone.expect(r"listening on port (\d+)").group(1)
    clone.expect(rf"warning: another machine announces a room with this room's TLS certificate: 'lab A2?' at {ANN}:\d+ ",
                 timeout=20)
    host.expect(rf"another machine announces a room with this room's TLS certificate: 'lab B' at {BOB}:{port} ", timeout=20)
    sister.expect(rf"another machine announces a room with this room's TLS certificate: 'lab B' at {BOB}:{port} ", timeout=20)
    assert clone.output.count("this room's TLS certificate") == 1
    assert sister.output.count("this room's TLS certificate") == 1
    host.send("/q\r")
    assert host.wait() == 0


_FORGER = """
import sys, threading
from lanchat.discovery import Announcer
fingerprint, port, address = sys.argv[1], int(sys.argv[2]), sys.argv[3]
said = lambda name, problem: print("forged as", name, problem, flush=True)
forged = Announcer(room="lab A copy", port=port, addresses=[address], host="eve", mode="duplex",
                   fingerprint=fingerprint, on_done=said)
forged.start()
sys.stdin.read()
forged.close()
"""


def test_an_announcement_of_this_rooms_fingerprint_is_no_clone_until_its_server_shows_the_certificate(lab, tmp_path):
    """A room's fingerprint is in its announcement for anyone to copy: eve announced it at her
    machine (her own TLS server there, or nothing at all) and the host was told 'another machine
    announces a room with this room's TLS certificate ... move tls-cert.pem and tls-key.pem aside
    and start again; give the class its new short form', untrue, and a new certificate is what
    teaches a class to type past a refusal as CHANGED. Now only a server that completes a TLS
    handshake with this certificate (so holds its key) is said, once: the real clone that comes
    after eve's forgeries."""
    one, two = lab.namespace("A"), lab.namespace("B")
    lab.link(one, f"{ANN}/24", two, f"{BOB}/24")
    image = tmp_path / "tls"
    ensure_certificate(image)
    ensure_certificate(tmp_path / "eve")
    host = lab.run(one, "serve", "--headless", "--port", "0", "--no-history", "--room", "lab A", "--tls", "--tls-dir", str(image))
    fp = host.expect(r"the server's fingerprint is (SHA256:\S+)").group(1)
    host.expect(r"announced as 'lab A'")
    hers = lab.run(two, "serve", "--headless", "--port", "0", "--no-history", "--no-announce", "--tls",
                   "--tls-dir", str(tmp_path / "eve"))
    her_port = hers.expect(r"listening on port (\d+)").group(1)
    forged = []
    for port in (her_port, "9"):  # her own certificate there; nothing listening there
        forger = Proc(fp, port, BOB, program=["ip", "netns", "exec", two, sys.executable, "-c", _FORGER])
        lab.procs.append(forger)
        forger.expect(r"forged as lab A copy(-\d+)? None")
        forged.append(forger)
    clone = lab.run(two, "serve", "--headless", "--port", "0", "--no-history", "--room", "lab B", "--tls", "--tls-dir", str(image))
    port = clone.expect(r"listening on port (\d+)").group(1)
    host.expect(rf"another machine announces a room with this room's TLS certificate: 'lab B' at {BOB}:{port} ", timeout=20)
    assert host.output.count("this room's TLS certificate") == 1, host.output
    assert "lab A copy" not in host.output, host.output
    for forger in forged:
        forger.stop()


def test_a_changed_address_shows_both_short_forms_too(tmp_path):
    """The refusal as CHANGED at an address gave two 43-character fingerprints to tell apart: the
    host's screen shows the short form, so it is beside each now, as for a room's name."""
    known = KnownServers(tmp_path / "known_servers")
    old, new = fingerprint(b"old"), fingerprint(b"new")
    check_fingerprint("10.0.0.5:3580", old, known=known, pinned=old)
    with pytest.raises(TlsError) as changed:
        check_fingerprint("10.0.0.5:3580", new, known=known)
    assert f"remembered: {short_form(old)}, {old}\n" in str(changed.value)
    assert f"presented:  {short_form(new)}, {new}\n" in str(changed.value)


def test_the_listen_before_announcing_keeps_zeroconfs_probe_after_it(monkeypatch):
    """An announcement listens a second for the rooms there (a name taken, ignoring capitals,
    gets "-2"), then zeroconf probes the name chosen (about a second more). Skipping that probe
    announced each room ~1.2 s sooner, but on a loaded machine an answer could miss the listen's
    second and two rooms were announced under one name (test_discovery's host screen test, in a
    full run): the probe stays, and may rename the room."""
    import threading

    from helpers import wait_for

    from lanchat import discovery

    registered: list[tuple[str, dict]] = []

    class RecordingZeroconf:
        def register_service(self, info, **how) -> None:  # noqa: ANN001, ANN003
            registered.append((info.name, how))

        def update_service(self, info) -> None:  # noqa: ANN001
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(discovery, "_open_zeroconf", lambda addresses=None: RecordingZeroconf())
    monkeypatch.setattr(discovery, "_names_announced", lambda zeroconf, seconds: [f"Lab Room.{discovery.SERVICE_TYPE}"])
    said: list[tuple[object, object]] = []
    done = threading.Event()
    announcer = discovery.Announcer(room="lab room", port=3580, addresses=["10.0.0.5"], host="lab", mode="duplex",
                                    on_done=lambda name, problem: said.append((name, problem)) or done.set())
    announcer.start()
    wait_for(done.is_set, what="the announcement")
    announcer.close()
    assert said == [("lab room-2", None)], said
    assert registered == [(f"lab room-2.{discovery.SERVICE_TYPE}", {"allow_name_change": True})], registered


def test_the_clone_watch_reads_a_flood_of_announcements_at_most_once_a_gap(monkeypatch):
    """The clone watch read every room held (up to 4,096 names, and two seconds of asking those
    that never answer) each time one was heard, as fast as they came: a flood of announcements
    (anyone on the LAN can send thousands a second) kept the host's machine reading, and asking,
    for as long as it lasted. Now at most once each LOOK_GAP_SECONDS, as a RoomWatch reads, and
    names that never answer asked as a RoomWatch asks them (one SilentNames, kept)."""
    import time

    import zeroconf as zeroconf_module

    from lanchat import discovery

    class QuietZeroconf:
        def register_service(self, info, **how) -> None:  # noqa: ANN001, ANN003
            pass

        def close(self) -> None:
            pass

    heard: list = []  # the watch's handler

    class Browser:  # a room heard at once
        def __init__(self, zc, kind, handlers) -> None:  # noqa: ANN001
            heard.extend(handlers)
            self.heard()

        @staticmethod
        def heard() -> None:
            heard[0](None, discovery.SERVICE_TYPE, f"flood.{discovery.SERVICE_TYPE}", None)

        def cancel(self) -> None:
            pass

    looks: list[tuple[float, object]] = []

    def read(zeroconf, names, deadline, silent=None, clock=None, first=None):  # noqa: ANN001, ANN202
        looks.append((time.monotonic(), silent))
        Browser.heard()  # another announcement, heard while reading: a flood never stops
        return iter([])

    monkeypatch.setattr(discovery, "_open_zeroconf", lambda addresses=None: QuietZeroconf())
    monkeypatch.setattr(discovery, "_names_announced", lambda zeroconf, seconds: [])
    monkeypatch.setattr(discovery, "_rooms", read)
    monkeypatch.setattr(discovery, "LOOK_GAP_SECONDS", 0.2)
    monkeypatch.setattr(zeroconf_module, "ServiceBrowser", Browser)
    announcer = discovery.Announcer(room="lab", port=3580, addresses=["10.0.0.5"], host="lab", mode="duplex",
                                    fingerprint=fingerprint(b"ours"), on_clone=lambda room: None)
    announcer.start()
    try:
        wait_for(lambda: len(looks) >= 4, what="four looks")
    finally:
        announcer.close()
    thread = announcer._thread  # noqa: SLF001 - its end, once closed
    thread.join(5)
    assert not thread.is_alive()
    first, fourth = looks[0][0], looks[3][0]
    assert fourth - first >= 3 * 0.2, f"four looks in {fourth - first:.3f} s"
    assert looks[0][1] is not None and all(silent is looks[0][1] for _at, silent in looks)


def test_the_clone_watch_dials_only_an_announced_address_on_this_machines_networks(monkeypatch):
    """The watch proved a room announcing this room's fingerprint at the first address its
    announcement named: eve's, naming an address anywhere (203.0.113.5), had the host's machine
    connect there for her; a real clone announcing its Docker bridge's address first was dialled
    there, found nothing, and was never said. Now only an address on one of this machine's
    networks is dialled, the one that shares it first (as a rejoin picks one)."""
    import ipaddress
    import threading

    import zeroconf as zeroconf_module

    from lanchat import discovery, netinfo
    from lanchat import tls as tls_module
    from lanchat.discovery import RoomInfo

    ours = fingerprint(b"the image's")
    eve = RoomInfo(name="lab A copy", host="eve", addresses=("203.0.113.5",), port=3580, fingerprint=ours)
    clone = RoomInfo(name="lab B", host="lab2", addresses=("172.17.0.9", "198.18.0.2"), port=3580, fingerprint=ours)

    class QuietZeroconf:
        def register_service(self, info, **how) -> None:  # noqa: ANN001, ANN003
            pass

        def close(self) -> None:
            pass

    class Browser:  # both rooms heard at once
        def __init__(self, zc, kind, handlers) -> None:  # noqa: ANN001
            handlers[0](None, discovery.SERVICE_TYPE, f"lab B.{discovery.SERVICE_TYPE}", None)

        def cancel(self) -> None:
            pass

    dialled: list[tuple[str, int]] = []
    told: list[RoomInfo] = []
    done = threading.Event()
    monkeypatch.setattr(discovery, "_open_zeroconf", lambda addresses=None: QuietZeroconf())
    monkeypatch.setattr(discovery, "_names_announced", lambda zeroconf, seconds: [])
    monkeypatch.setattr(discovery, "_rooms", lambda *args, **kwargs: iter([("a", eve), ("b", clone)]))
    monkeypatch.setattr(discovery, "LOOK_GAP_SECONDS", 0.01)
    monkeypatch.setattr(zeroconf_module, "ServiceBrowser", Browser)
    monkeypatch.setattr(netinfo, "local_networks", lambda: [ipaddress.ip_network("198.18.0.0/24")])
    monkeypatch.setattr(tls_module, "shows_certificate",
                        lambda host, port, fp: dialled.append((host, port)) or (host == "198.18.0.2" and fp == ours))
    announcer = discovery.Announcer(room="lab A", port=3580, addresses=["198.18.0.1"], host="lab1", mode="duplex",
                                    fingerprint=ours, on_clone=lambda room: told.append(room) or done.set())
    announcer.start()
    try:
        wait_for(done.is_set, what="the clone said")
    finally:
        announcer.close()
    assert dialled == [("198.18.0.2", 3580)], dialled
    assert [room.where for room in told] == ["198.18.0.2:3580"], told


def test_a_hand_edited_fingerprint_has_no_short_form_and_no_traceback(tmp_path):
    """A known_servers line edited by hand ("SHA256:oops") reached the refusal as CHANGED, whose
    short form of it raised (base64): said as none, the refusal whole."""
    assert short_form("SHA256:oops!") == short_form("SHA256:abcde") == "(none: not a SHA256 fingerprint)"
    (tmp_path / "known_servers").write_text("10.0.0.5:3580 SHA256:abcde\n")
    known = KnownServers(tmp_path / "known_servers")
    with pytest.raises(TlsError, match=r"remembered: \(none: not a SHA256 fingerprint\), SHA256:abcde"):
        check_fingerprint("10.0.0.5:3580", fingerprint(b"real"), known=known)


def test_a_fingerprint_announced_in_hex_is_read_as_the_same_sha256_and_pins():
    """PROTOCOL.md lets an announcement's `fp` be the SHA-256 in 64 hex digits: it was kept as
    hex, so the pin never matched the certificate's SHA256:base64 (the room refused as "not the
    one the announcement gave") and its short form was the base64 decoding of hex text. Read as
    the SHA256: form of the same bytes now."""
    from lanchat.discovery import SERVICE_TYPE, room_from_record

    fp = fingerprint(b"a certificate")
    digest = channel_binding(fp)
    room = room_from_record(f"lab.{SERVICE_TYPE}", ["198.18.0.1"], 3580, {b"fp": digest.hex().encode()})
    assert room is not None and room.fingerprint == fp
    assert f"TLS {short_form(fp)}" in room.describe() and short_form(fp).replace(" ", "") == digest.hex()[:16]


def test_a_fingerprint_announced_in_capital_hex_is_the_same_sha256_too():
    """PROTOCOL.md says "64 hex digits", capitals not ruled out (and a file's `sha256` takes them
    as the same digest): an announcement in capitals was kept as text, never matched, and showed
    the base64 decoding of hex text as its short form."""
    from lanchat.discovery import SERVICE_TYPE, room_from_record

    fp = fingerprint(b"a certificate")
    room = room_from_record(f"lab.{SERVICE_TYPE}", ["198.18.0.1"], 3580, {b"fp": channel_binding(fp).hex().upper().encode()})
    assert room is not None and room.fingerprint == fp
