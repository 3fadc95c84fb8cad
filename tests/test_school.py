"""A school with many rooms on one LAN: several teachers' TLS rooms, addresses handed around
between lessons by the school's DHCP, and students who move from one class's room to another's
in a day. Real servers and clients in network namespaces joined by a switch (tests/netlab.py),
each student with a data folder of their own that lasts the whole day (its trust files)."""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Proc, child_env
from netlab import Lab

from lanchat.tls import (
    KnownServers,
    TlsError,
    address_passed_on,
    announced_doubt,
    check_fingerprint,
    fingerprint,
    short_form,
)

MATHS_PC, PHYSICS_PC, EVE_PC, STUDENT = "198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.100"


def school(lab: Lab) -> tuple[str, str, str, str]:
    """The maths teacher's laptop, the physics teacher's, eve's and a student's, on one switch."""
    maths, physics, eve, student = (lab.namespace(label) for label in ("M", "Q", "E", "P"))
    lab.switch((maths, f"{MATHS_PC}/24"), (physics, f"{PHYSICS_PC}/24"), (eve, f"{EVE_PC}/24"), (student, f"{STUDENT}/24"))
    return maths, physics, eve, student


def tls_room(lab: Lab, ns: str, name: str) -> tuple[Proc, str]:
    """`serve --tls --room NAME` in ``ns``, announced; returns it and its fingerprint (the board's)."""
    server = Proc("serve", "--headless", "--no-history", "--tls", "--room", name, program=lab.program(ns), env=child_env())
    lab.procs.append(server)
    fp = server.expect(r"fingerprint is (SHA256:\S+)", timeout=20).group(1)
    server.expect(r"announced as ", timeout=20)
    return server, fp


def join(lab: Lab, ns: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`lanchat connect ARGS --plain` by the student, who leaves at once (stdin at its end)."""
    done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "lanchat", "connect", *args, "--name", "stu",
                           "--plain"], input="", capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def trusted_on_monday(lab: Lab, maths_pc: str, student: str, env: dict[str, str]) -> None:
    """Monday: the student joins "maths 3B" (TLS) by its name at the maths laptop and trusts it;
    then the maths room stops."""
    maths, _ = tls_room(lab, maths_pc, "maths 3B")
    monday = join(lab, student, env, "maths 3B")
    said = monday.stdout + monday.stderr
    assert monday.returncode == 0 and f"joining maths 3B on {MATHS_PC}:3580" in said and "welcome, stu" in said, monday
    maths.stop()


def test_joining_another_class_at_the_maths_rooms_old_address_keeps_the_maths_room_trusted(lab):
    """Monday: the student joins "maths 3B" by its name, at 198.18.0.1. Tuesday the physics
    teacher's laptop has that address; the student joins "physics 2A" by its name with the board's
    --fingerprint, as the refusal says. That forgot the maths room's certificate everywhere (its
    name too), so eve announcing "maths 3B" with her own key was joined as a room never met. Now
    the address alone goes to the physics room: eve's "maths 3B" is refused as changed."""
    maths_pc, physics_pc, eve_pc, student = school(lab)
    env = child_env()
    trusted_on_monday(lab, maths_pc, student, env)
    lab.ip(maths_pc, "addr", "flush", "dev", "lan0")  # the maths laptop is off; its lease goes to the physics one
    lab.ip(physics_pc, "addr", "flush", "dev", "lan0")
    lab.ip(physics_pc, "addr", "add", f"{MATHS_PC}/24", "dev", "lan0")
    _, physics_fp = tls_room(lab, physics_pc, "physics 2A")
    listed = subprocess.run(["ip", "netns", "exec", student, sys.executable, "-m", "lanchat", "rooms"],
                            capture_output=True, text=True, timeout=30, env=env).stdout  # fmt: skip
    assert "note: at this address you trusted the room 'maths 3B' before" in listed and "WARNING" not in listed, listed
    refused = join(lab, student, env, "physics 2A")  # first without the board's fingerprint: refused, calmly
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "welcome" not in said, said
    assert f"{MATHS_PC}:3580 is the room 'physics 2A' now, with a certificate you have not trusted" in said, said
    assert "WARNING" not in said and f"connect with --fingerprint {physics_fp}" in said, said
    tuesday = join(lab, student, env, "physics 2A", "--fingerprint", physics_fp)
    said = tuesday.stdout + tuesday.stderr
    assert tuesday.returncode == 0 and "welcome, stu" in said, said
    assert "stays trusted for the room 'maths 3B'" in said, said
    tls_room(lab, eve_pc, "maths 3B")  # the real maths room is not on: eve's takes the name as it is
    fake = join(lab, student, env, "maths 3B")
    said = fake.stdout + fake.stderr
    assert fake.returncode != 0 and "welcome" not in said, said
    assert "the TLS fingerprint of the room 'maths 3B' has CHANGED" in said, said


@pytest.mark.parametrize("look_alike", ["maths 3\u0412", "maths 3B\ufe0f"], ids=["cyrillic-capital", "emoji-selector"])
def test_eves_room_named_with_a_cyrillic_capital_is_held_to_the_certificate_trusted_for_the_name(lab, look_alike):
    """The student trusted "maths 3B" on Monday. Tuesday, before the maths teacher is in, eve
    announces "maths 3\u0412" (a Cyrillic capital Ve, drawn as B) with her own key: `lanchat rooms`
    listed it with no word, and `lanchat connect` joined it as a room never met (the trust's key
    folded capitals first: "maths 3\u0299", not "maths 3b"). Now it is the name trusted, drawn so:
    warned of, and refused as changed. So is "maths 3B\ufe0f": the emoji selector U+FE0F, kept in
    a shown name (it only picks how an emoji before it is drawn), draws nothing after a B."""
    maths_pc, _physics_pc, eve_pc, student = school(lab)
    env = child_env()
    trusted_on_monday(lab, maths_pc, student, env)
    tls_room(lab, eve_pc, look_alike)
    listed = subprocess.run(["ip", "netns", "exec", student, sys.executable, "-m", "lanchat", "rooms"],
                            capture_output=True, text=True, timeout=30, env=env).stdout  # fmt: skip
    assert f"{look_alike} on {EVE_PC}:3580" in listed and "WARNING: its TLS fingerprint is not the one you trusted" in listed, listed
    fake = join(lab, student, env)  # the only room announced: joined without a question
    said = fake.stdout + fake.stderr
    assert fake.returncode != 0 and "welcome" not in said, said
    assert "has CHANGED" in said, said


def test_eve_at_the_maths_rooms_address_announcing_it_with_2_added_is_refused_loudly(lab):
    """The student trusted "maths 3B" at 198.18.0.1. eve takes that address (the maths laptop is
    off, or her ARP replies win) and announces "maths 3B-2", the name a room gets when its own is
    held (connect tells students so). The refusal read "198.18.0.1:3580 is the room 'maths 3B-2'
    now ... another teacher's room most likely has this one now", with the --fingerprint to give,
    and `lanchat rooms` a calm note. The maths room renamed with another certificate is what the
    loud refusal is for: now it says CHANGED and WARNING."""
    maths_pc, _physics_pc, eve_pc, student = school(lab)
    env = child_env()
    trusted_on_monday(lab, maths_pc, student, env)
    lab.ip(maths_pc, "addr", "flush", "dev", "lan0")
    lab.ip(eve_pc, "addr", "flush", "dev", "lan0")
    lab.ip(eve_pc, "addr", "add", f"{MATHS_PC}/24", "dev", "lan0")
    tls_room(lab, eve_pc, "maths 3B-2")
    listed = subprocess.run(["ip", "netns", "exec", student, sys.executable, "-m", "lanchat", "rooms"],
                            capture_output=True, text=True, timeout=30, env=env).stdout  # fmt: skip
    assert f"maths 3B-2 on {MATHS_PC}:3580" in listed and "WARNING" in listed and "note:" not in listed, listed
    fake = join(lab, student, env, "maths 3B-2")
    said = fake.stdout + fake.stderr
    assert fake.returncode != 0 and "welcome" not in said, said
    assert f"the TLS fingerprint of {MATHS_PC}:3580 has CHANGED" in said and "another teacher's room" not in said, said


def test_a_room_of_another_name_at_a_remembered_address_is_refused_calmly_and_the_same_name_loudly(tmp_path):
    """The refusal of "physics 2A" at the address where "maths 3B" was trusted read "WARNING: the TLS
    fingerprint of 198.18.0.1:3580 has CHANGED ... Someone may be pretending to be the server", and
    `lanchat rooms` warned the same: the DHCP lease handed on between lessons, read as an attack.
    Now both say the address most likely went to another teacher's room, and what to give; the
    same name with another certificate there (a real impostor, or the maths host's new one) is
    still the loud refusal, and so is a room whose own name holds another certificate."""
    known = KnownServers(tmp_path / "known_servers")
    maths, physics, eve = fingerprint(b"maths"), fingerprint(b"physics"), fingerprint(b"eve")
    where = f"{MATHS_PC}:3580"
    check_fingerprint(where, maths, known=known, pinned=maths, announced=True, room="maths 3B")
    with pytest.raises(TlsError) as refused:
        check_fingerprint(where, physics, known=known, pinned=physics, announced=True, room="physics 2A")
    text = str(refused.value)
    assert text.startswith(f"{where} is the room 'physics 2A' now, with a certificate you have not trusted; "
                           "you trusted another one at this address, for the room 'maths 3B'."), text
    assert f"remembered: {short_form(maths)}, {maths} (the room 'maths 3B')" in text, text
    assert f"Tell by the board: is the short form of 'physics 2A' {short_form(physics)}? If not, do not join." in text
    assert "WARNING" not in text and "pretending" not in text, text
    assert announced_doubt(known, "physics 2A", where, physics) is None
    assert "you trusted the room 'maths 3B' before" in (address_passed_on(known, "physics 2A", where, physics) or "")
    # the same name, a renamed twin of it (drawn as "maths 3B-2": U+FE0F draws nothing; a Unicode
    # hyphen, non-breaking hyphen or minus sign draws as the dash), or none told (a typed address): loud
    for name, fp in (("Maths 3B", eve), ("maths 3B-2\ufe0f", eve), ("maths 3B\u20102", eve), ("maths 3B\u20112", eve),
                     ("maths 3B\u22122", eve), (None, eve)):  # fmt: skip
        with pytest.raises(TlsError, match=rf"^WARNING: the TLS fingerprint of {re.escape(where)} has CHANGED\."):
            check_fingerprint(where, fp, known=known, pinned=fp if name else None, announced=name is not None, room=name)
    assert "someone may be pretending" in (announced_doubt(known, "maths 3B", where, eve) or "")
    assert address_passed_on(known, "maths 3B", where, eve) is None
    known.rooms.remember("physics 2A", eve)  # the name of the room found holds another: that refusal, loud
    with pytest.raises(TlsError, match="WARNING"):
        check_fingerprint(where, physics, known=known, pinned=physics, announced=True, room="physics 2A")


def _free_run_below_the_ephemeral_ports(length: int = 4) -> int:
    """A port P with P .. P + length - 1 free, below the kernel's ephemeral range: there no other
    test's connection or port-0 listener can take P + 2 between two offers of "the next free
    port" (serve's, then doctor's), which made them differ by chance."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for candidate in random.sample(range(max(1024, low - 12_000), low - length), 300):
        try:
            with contextlib.ExitStack() as held:
                for port in range(candidate, candidate + length):
                    held.enter_context(socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True))
        except OSError:
            continue
        return candidate
    pytest.skip(f"no {length} free ports in a row below {low}")


def test_a_second_and_a_third_teacher_on_one_machine_are_offered_a_port_that_is_free(tmp_path):
    """Two classes on one machine: the second `serve` on 3580 read "or choose another port with
    --port" (which? --port 0 picks another at each restart, where students do not follow), and
    `lanchat doctor` offered 3581 blindly, which the third teacher found taken by the second. Both
    now name the next port free after it."""
    port = _free_run_below_the_ephemeral_ports()
    first = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", str(port), "--no-announce", "--no-history")
    second_room = None
    try:
        assert int(first.expect(r"listening on port (\d+)").group(1)) == port
        with contextlib.suppress(OSError):  # the second teacher's room on the port after (or someone else's there already)
            second_room = socket.create_server(("", port + 1), family=socket.AF_INET6, dualstack_ipv6=True)
        third = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", str(port), "--no-announce", "--no-history")
        assert third.wait() == 1, third.output
        said = re.search(rf"is already in use by a lanchat server here \(pid \d+\): join it with `lanchat connect 127\.0\.0\.1 "
                         rf"{port}`, or serve another room with --port (\d+)$", third.output)  # fmt: skip
        assert said is not None, third.output
        doctor = subprocess.run([sys.executable, "-m", "lanchat", "doctor", "--port", str(port), "--wait", "0", "--json"],
                                capture_output=True, text=True, timeout=60, env=child_env())  # fmt: skip
        fix = next(check["fix"] for check in json.loads(doctor.stdout)["checks"] if check["name"] == "port")
        offered = {int(said.group(1)), int(fix.rpartition("--port ")[2])}
        assert len(offered) == 1 and port + 1 not in offered, (third.output, fix)
        with socket.create_server(("", offered.pop()), family=socket.AF_INET6, dualstack_ipv6=True):
            pass  # free indeed
    finally:
        first.stop()
        if second_room is not None:
            second_room.close()


def test_a_room_renamed_with_2_beside_the_one_called_as_typed_is_offered_not_passed_over(lab):
    """Two teachers called their rooms "maths 3B"; the second was announced as "maths 3B-2", its
    screen said so, but its students had been told "maths 3B": `connect "maths 3B"` joined the
    other class's room at once, with no word of the second. Now both are listed, to pick by the
    teacher's screen (without a terminal: the one of that very name, the other said)."""
    first_pc, second_pc, _eve_pc, student = school(lab)
    first = lab.run(first_pc, "serve", "--headless", "--no-history", "--room", "maths 3B")
    first.expect(r"announced as 'maths 3B' ", timeout=20)
    second = lab.run(second_pc, "serve", "--headless", "--no-history", "--room", "maths 3B")
    second.expect(r"announced as 'maths 3B-2' ", timeout=20)
    term = lab.term(student, "connect", "maths 3B", "--name", "stu", "--plain")
    term.expect(r"2 rooms go by 'maths 3B'", timeout=20)
    term.expect(rf"1\. maths 3B on {MATHS_PC}:3580")
    term.expect(rf"2\. maths 3B-2 on {PHYSICS_PC}:3580")
    term.expect(r"join which room\? \[1-2, Enter for none\]")
    term.send("2\r")
    term.expect(r"welcome, stu")
    second.expect(r"stu joined")
    script = join(lab, student, child_env(), "maths 3B")
    said = script.stdout + script.stderr
    assert script.returncode == 0 and "2. maths 3B-2 on" in said and "joining maths 3B, the one of that very name" in said, said
    first.expect(r"stu joined")


def test_a_room_that_stops_as_a_student_joins_it_is_a_clear_line_not_a_traceback():
    """A student picked "maths 3B" from the list `connect` showed; its server was killed that moment,
    after the kernel had taken the connection: the hello met a reset connection and `connect` ended
    in a traceback (ConnectionResetError from client.join's sendall). Lost while sending, as while
    reading, the handshake now ends in JoinError's one line. (The kernel's timing of a real server's
    death is a race; a socket whose other end is gone, here, fails the send every time.)"""
    from lanchat.client import JoinError
    from lanchat.client import join as handshake

    student_end, room_end = socket.socketpair()
    room_end.close()
    with student_end, pytest.raises(JoinError, match=r"^connection lost during the handshake: "):
        handshake(student_end, "stu", timeout=5)
