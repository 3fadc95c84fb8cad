"""Laptops that sleep: a student's lid closed for the night, with the real serve and connect in
network namespaces of the test's own (tests/netlab.py).

A suspend freezes the process, takes the link down, and stops the monotonic clock while the wall
clock goes on. Here the sleeper's process is stopped (SIGSTOP) and its link taken down, and
libfaketime (Debian's faketime package; the test is skipped where it is missing) moves every
process's wall clock on by the night, as a suspend does, while their monotonic clocks keep only
the seconds the test took. The room's server drops the sleeper by TCP keepalive, as a real room
does within a minute (shortened here), while the sleeper's own kernel, frozen in a real suspend,
holds its end: on waking its connection looks alive and is not.
"""

from __future__ import annotations

import calendar
import glob
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import Proc, child_env, start_server
from platform_shims import shimmed_env

pytestmark = pytest.mark.timeout(60)

FAKETIME_LIBRARIES = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1",
                      "/usr/local/lib/faketime/libfaketime.so.1")  # fmt: skip

# The server notices a peer gone in ~4 s (a real one: within a minute, transport.set_keepalive).
SERVER_SHIM = """import lanchat.transport as quick
quick.KEEPALIVE_IDLE_SECONDS = 2
quick.KEEPALIVE_INTERVAL_SECONDS = 1
quick.KEEPALIVE_PROBES = 2
quick.USER_TIMEOUT_SECONDS = 4
"""
# The sleeper's keepalive stays the usual 20 s of quiet: its kernel must not end the connection
# while the test's short night lasts (a real suspend freezes that kernel's timers). Its quiet
# spell is a minute: the seconds the test's SIGSTOP took count on its monotonic clock, as they
# would not on a real suspend, and a minute leaves no doubt which of the two asked the room.
SLEEPER_SHIM = "import lanchat.liveness as quick\nquick.PING_AFTER_SECONDS = 60.0\n"

NIGHT = 8 * 3600


def faketime_library() -> str:
    for pattern in FAKETIME_LIBRARIES:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    pytest.skip("needs libfaketime (Debian: apt-get install faketime) to move a process's wall clock as a suspend does")


class WallClock:
    """The wall clock of every process started with ``env``: libfaketime reads its offset from a
    file each time the clock is read (FAKETIME_NO_CACHE); monotonic clocks are left alone."""

    def __init__(self, folder: str, library: str, starts_at: float) -> None:
        self.path = os.path.join(folder, "faketime-offset")
        self.set(starts_at - time.time())
        self.env = {"LD_PRELOAD": library, "FAKETIME_TIMESTAMP_FILE": self.path, "FAKETIME_NO_CACHE": "1",
                    "FAKETIME_DONT_FAKE_MONOTONIC": "1", "TZ": "UTC"}  # fmt: skip

    def set(self, offset: float) -> None:
        with open(self.path + ".new", "w", encoding="ascii") as file:
            file.write(f"{offset:+.0f}s\n")
        os.replace(self.path + ".new", self.path)  # a reader never sees half a line

    def forward(self, seconds: float, starts_at: float) -> None:
        self.set(starts_at + seconds - time.time())


def test_a_student_whose_lid_was_closed_all_night_is_back_within_seconds_of_opening_it(lab, tmp_path):
    """bob's laptop sleeps through the night (just before midnight to the morning) while ann
    talks. Before, on waking, his screen showed the old chat as if live for a whole quiet spell
    (PING_AFTER_SECONDS, 15 s; a minute here), the room having dropped him long before: the
    monotonic clock had stood still, and the room's last byte looked a moment old. Now the wall
    clock gone ahead says he slept: the room is asked at once, the dead connection ends, and he
    is back under his name within seconds, with what ann said in the night shown once. (Nothing
    is typed here: a line sent into the dead connection ends it at once, and did before.)"""
    starts_at = calendar.timegm((2026, 12, 7, 23, 58, 30, 0, 0, 0))  # the night crosses midnight
    clock = WallClock(str(tmp_path), faketime_library(), starts_at)
    host, laptop = lab.namespace("H"), lab.namespace("S")
    lab.link(host, "198.18.0.1/24", laptop, "198.18.0.2/24")

    def started(ns: str, shim: str, *args: str) -> Proc:
        proc = Proc(*args, env={**shimmed_env(shim), **clock.env}, program=lab.program(ns))
        lab.procs.append(proc)
        return proc

    server = started(host, SERVER_SHIM, "serve", "--headless", "--host", "198.18.0.1", "--port", "0", "--no-announce",
                     "--history", str(tmp_path / "h.sqlite3"))  # fmt: skip
    port = server.expect(r"listening on port (\d+)").group(1)
    ann = started(host, "", "connect", "198.18.0.1", port, "--name", "ann", "--plain")
    ann.expect(r"welcome, ann")
    bob = started(laptop, SLEEPER_SHIM, "connect", "198.18.0.1", port, "--name", "bob", "--plain")
    bob.expect(r"welcome, bob")
    ann.send("good night")
    bob.expect(r"ann: good night$")

    os.kill(bob.popen.pid, signal.SIGSTOP)  # the lid: frozen, and the link down
    lab.ip(laptop, "link", "set", "lan0", "down")
    server.expect(r"bob lost connection", timeout=20)  # the room's keepalive gave him up
    ann.send("still up")  # before midnight (the fake clock started 90 s before it)
    ann.expect(r"\[23:5\d:\d\d\] ann: still up$")
    clock.forward(NIGHT, starts_at)
    ann.send("good morning")
    ann.expect(r"ann: good morning$")

    lab.ip(laptop, "link", "set", "lan0", "up")  # the lid opens
    os.kill(bob.popen.pid, signal.SIGCONT)
    woke = bob.mark()
    bob.expect(r"back in the room as bob", start=woke)  # not after a minute's quiet spell
    # what he missed began last night: its header printed after the line naming Tuesday says so
    bob.expect(r"\[2026-12-07 23:5\d:\d\d\] -!- missed while you were away:$", start=woke)
    bob.expect(r"\[2026-12-07 23:5\d:\d\d\] \[History\] ann: still up$", start=woke)
    bob.expect(r"\[History\] ann: good morning$", start=woke)
    ann.send("welcome back")
    bob.expect(r"ann: welcome back$")
    assert sum(line.endswith("ann: good morning") for line in bob.lines) == 1, bob.output
    assert sum("Tuesday" in line for line in bob.lines) == 1, bob.output  # the new day, named once
    for proc in (ann, bob, server):
        proc.stop()


def test_the_hosts_laptop_sleeping_under_a_class_of_ten_brings_them_all_back_once_it_wakes(lab, tmp_path):
    """The teacher's laptop hosting the room sleeps (the server frozen, its link down) under ten
    students, each on a machine of their own on one switch. Each student's room goes silent, the
    connection is put in doubt and ends, and they retry; the host's kernel, frozen in a real
    suspend, still holds their old connections when it wakes (the usual keepalive's minute is
    not over here). Then all ten are back within seconds under their names, by taking their old
    sessions over, none refused by the server's own door limits, the line typed during the
    sleep said once to each, and the room's history whole."""
    from test_liveness import quick_env

    students = [lab.namespace(f"s{number}") for number in range(10)]
    host = lab.namespace("H")
    lab.switch((host, "198.18.0.1/24"), *((ns, f"198.18.0.{10 + number}/24") for number, ns in enumerate(students)))
    server = Proc("serve", "--headless", "--host", "198.18.0.1", "--port", "0", "--no-announce",
                  "--history", str(tmp_path / "h.sqlite3"), env=shimmed_env(""), program=lab.program(host))  # fmt: skip
    lab.procs.append(server)
    port = server.expect(r"listening on port (\d+)").group(1)
    class_ = []
    for number, ns in enumerate(students):
        proc = Proc("connect", "198.18.0.1", port, "--name", f"st{number}", "--plain", env=quick_env(), program=lab.program(ns))
        lab.procs.append(proc)
        class_.append(proc)
    for number, proc in enumerate(class_):
        proc.expect(rf"welcome, st{number}")
    class_[0].send("before the break")
    for proc in class_:
        proc.expect(r"st0: before the break$")

    os.kill(server.popen.pid, signal.SIGSTOP)  # the teacher walks away: the laptop sleeps
    lab.ip(host, "link", "set", "lan0", "down")
    class_[1].send("typed while the host slept")
    for proc in class_:
        proc.expect(r"connection lost; retrying", timeout=30)
    lab.ip(host, "link", "set", "lan0", "up")
    os.kill(server.popen.pid, signal.SIGCONT)

    for number, proc in enumerate(class_):
        proc.expect(rf"back in the room as st{number}", timeout=30)
    for proc in class_:
        proc.expect(r"st1: typed while the host slept$")
    class_[2].send("after the break")
    for proc in class_:
        proc.expect(r"st2: after the break$")
    for proc in class_:
        assert sum(line.endswith("st1: typed while the host slept") for line in proc.lines) == 1, proc.output
        assert sum(line.endswith("st0: before the break") for line in proc.lines) == 1, proc.output
    assert "refusing" not in server.output, server.output  # the door limits (limits.RefusalLog) let all ten back
    for proc in class_:
        proc.stop()
    server.stop()
    kept = subprocess.run([sys.executable, "-m", "lanchat", "history", str(tmp_path / "h.sqlite3")], env=child_env(),
                          capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    said = [line for line in kept.stdout.splitlines() if "before the break" in line or "host slept" in line or "after the break" in line]
    assert len(said) == 3, kept.stdout


def test_a_laptop_that_slept_while_the_room_was_down_tries_again_as_soon_as_it_wakes(tmp_path):
    """The room stopped (the host's laptop asleep over lunch, the server restarted), and bob's
    laptop slept while his chat waited to try again. The wait counted monotonic time, which a
    suspend stops: on waking he waited out the rest of it (on the full screen, up to 30 s once
    patient, the status line saying a "next try at" already past), the room back all along. Now
    the wall clock gone ahead says he slept, and he tries at once. The wait is made a minute
    here, so that only the sleep can end it within the test's deadline."""
    clock = WallClock(str(tmp_path), faketime_library(), time.time())
    server, port = start_server("--headless", "--no-announce")
    bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob", "--plain",
               env={**shimmed_env("import lanchat.client as slow\nslow.RETRY_DELAYS = (60.0,)\n"), **clock.env})  # fmt: skip
    try:
        bob.expect(r"welcome, bob")
        server.popen.kill()  # gone without a word, as a host's laptop that fell asleep is (a stop would say so, and end --plain)
        server.popen.wait(timeout=10)
        bob.expect(r"connection lost; retrying in 60 s")
        server = Proc("serve", "--headless", "--no-announce", "--host", "127.0.0.1", "--port", str(port))
        server.expect(r"listening on port")
        woke = bob.mark()
        clock.forward(3600.0, time.time())  # the lid opens an hour later (his monotonic clock stood still)
        bob.expect(r"back in the room as bob", start=woke)
        bob.send("after lunch")
        bob.expect(r"bob: after lunch$")
    finally:
        bob.stop()
        server.stop()
