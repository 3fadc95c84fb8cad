"""A school with many rooms on one LAN: several teachers' TLS rooms, addresses handed around
between lessons by the school's DHCP, and students who move from one class's room to another's
in a day. Real servers and clients in network namespaces joined by a switch (tests/netlab.py),
each student with a data folder of their own that lasts the whole day (its trust files)."""

from __future__ import annotations

import subprocess
import sys

from helpers import Proc, child_env
from netlab import Lab

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


def test_joining_another_class_at_the_maths_rooms_old_address_keeps_the_maths_room_trusted(lab):
    """Monday: the student joins "maths 3B" by its name, at 198.18.0.1. Tuesday the physics
    teacher's laptop has that address; the student joins "physics 2A" by its name with the board's
    --fingerprint, as the refusal says. That forgot the maths room's certificate everywhere (its
    name too), so eve announcing "maths 3B" with her own key was joined as a room never met. Now
    the address alone goes to the physics room: eve's "maths 3B" is refused as changed."""
    maths_pc, physics_pc, eve_pc, student = school(lab)
    env = child_env()
    maths, _ = tls_room(lab, maths_pc, "maths 3B")
    monday = join(lab, student, env, "maths 3B")
    assert monday.returncode == 0 and f"joining maths 3B on {MATHS_PC}:3580" in monday.stderr + monday.stdout, monday
    maths.stop()
    lab.ip(maths_pc, "addr", "flush", "dev", "lan0")  # the maths laptop is off; its lease goes to the physics one
    lab.ip(physics_pc, "addr", "flush", "dev", "lan0")
    lab.ip(physics_pc, "addr", "add", f"{MATHS_PC}/24", "dev", "lan0")
    _, physics_fp = tls_room(lab, physics_pc, "physics 2A")
    tuesday = join(lab, student, env, "physics 2A", "--fingerprint", physics_fp)
    said = tuesday.stdout + tuesday.stderr
    assert tuesday.returncode == 0 and "welcome, stu" in said, said
    assert "stays trusted for the room 'maths 3B'" in said, said
    tls_room(lab, eve_pc, "maths 3B")  # the real maths room is not on: eve's takes the name as it is
    fake = join(lab, student, env, "maths 3B")
    said = fake.stdout + fake.stderr
    assert fake.returncode != 0 and "welcome" not in said, said
    assert "the TLS fingerprint of the room 'maths 3B' has CHANGED" in said, said
