"""A room whose server is stopped (SIGSTOP: Ctrl-Z) or whose link
stalls while nobody talks: the real server, started here and stopped by its PID, real --plain
clients and a full screen in a pty, and tests/badlink.py's stall (PROTOCOL.md, Liveness).

Before: nothing was said, for ever (the kernel answers TCP keepalive for a stopped process).
Now the client pings after a quiet spell (shortened here: test_liveness.quick_env), says the room
has not answered, counting on the full screen's status line, and that it answers again once it
does; the chat goes on on the same connection, no line lost, no rejoin.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from badlink import BadLink
from helpers import Proc, TermProc, network_namespace_or_skip, wait_for
from test_liveness import quick_env

pytestmark = pytest.mark.timeout(60)

NOT_ANSWERED = r"the room does not answer \(last heard \d+ s ago\)"
ANSWERS_AGAIN = r"the room answers again, after \d+ s of silence"
REJOINED = ("offline", "reconnect", "connection lost", "rejoin", "back in the room")


class Room:
    """A headless server with history on 127.0.0.1 (``pid``: to stop it), and the clients joined."""

    def __init__(self, tmp: Path, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.env = env or quick_env()
        self.procs: list[Proc] = []
        self.server = self._started(Proc(
            "serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-announce",
            "--history", str(tmp / "h.sqlite3"), env=self.env,
        ))  # fmt: skip
        self.port = int(self.server.expect(r"listening on port (\d+)").group(1))
        self.pid = self.server.popen.pid
        self.stopped = False

    def _started(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def join(self, name: str, port: int | None = None) -> Proc:
        proc = self._started(Proc("connect", "127.0.0.1", str(port or self.port), "--name", name, "--plain", env=self.env))
        proc.expect(rf"welcome, {name}")
        return proc

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.stopped = True

    def go_on(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.stopped = False

    def close(self) -> None:
        if self.stopped:
            self.go_on()
        for proc in reversed(self.procs):
            proc.stop()
        for proc in self.procs:
            assert "Traceback" not in proc.output, proc.output


@pytest.fixture
def room(tmp_path) -> Iterator[Room]:
    made = Room(tmp_path)
    try:
        yield made
    finally:
        made.close()


def said(proc: Proc, pattern: str) -> int:
    return sum(bool(re.search(pattern, line)) for line in proc.lines)


def test_a_stopped_server_is_said_silent_and_the_chat_goes_on_on_the_same_connection(room):
    ann = room.join("ann")
    bob = room.join("bob")
    room.stop()
    bob.expect(NOT_ANSWERED, timeout=15)
    ann.expect(NOT_ANSWERED, timeout=15)
    bob.send("typed while the room was stopped")  # into the stopped server's socket: kept
    room.go_on()
    bob.expect(ANSWERS_AGAIN)
    ann.expect(r"bob: typed while the room was stopped$")
    bob.expect(r"bob: typed while the room was stopped$")
    ann.send("and the chat goes on")
    bob.expect(r"ann: and the chat goes on$")
    for proc in (ann, bob):
        assert said(proc, NOT_ANSWERED) == 1, proc.output  # one line, not one a second
        assert said(proc, r": typed while the room was stopped$") == 1, proc.output
        assert not [line for line in proc.lines if any(word in line for word in REJOINED)], proc.output
    assert said(room.server, r"bob (joined|left|lost)") <= 1, room.server.output  # joined once, never again


def test_a_line_typed_into_a_stopped_room_is_said_unanswered_without_waiting_for_the_ping(room):
    """A lesson: a student typed into a quiet room whose host had just stopped and read nothing
    for ~18 s: the wait for an answer began only with the ping, a quiet spell after the room's
    last byte. The line's echo is an answer as the pong is, so the wait starts as the line goes.
    Here the ping would come after a minute: the silence is said within the answer's wait."""
    bob = room._started(Proc("connect", "127.0.0.1", str(room.port), "--name", "bob", "--plain", env=quick_env(60.0, 1.5)))
    bob.expect(r"welcome, bob")
    room.stop()
    typed = time.monotonic()
    bob.send("anyone there?")
    bob.expect(NOT_ANSWERED, timeout=15)
    assert time.monotonic() - typed < 15, bob.output  # not the minute of the ping's quiet spell
    room.go_on()
    bob.expect(ANSWERS_AGAIN)
    bob.expect(r"bob: anyone there\?$")
    assert said(bob, NOT_ANSWERED) == 1, bob.output
    assert not [line for line in bob.lines if any(word in line for word in REJOINED)], bob.output


def test_the_full_screen_counts_the_silence_on_its_status_line_and_says_when_it_answers(room):
    ann = room.join("ann")
    bob = TermProc("connect", "127.0.0.1", str(room.port), "--name", "bob", rows=20, cols=100,
                   env={"PYTHONPATH": room.env["PYTHONPATH"]})  # fmt: skip
    try:
        bob.expect(r"welcome, bob")
        room.stop()
        first = int(bob.expect(r"no answer from the room; last heard (\d+) s ago", timeout=15).group(1))
        bob.expect(rf"no answer from the room; last heard (?!{first} s)\d+ s ago")  # counting, on its own
        assert not re.search(NOT_ANSWERED, bob.text)  # the status line says it, not a line a second
        room.go_on()
        bob.expect_gone(r"no answer from the room")
        bob.expect(ANSWERS_AGAIN)
        ann.send("hello again")
        bob.expect(r"ann: hello again")
        assert not any(word in bob.text for word in REJOINED), bob.text
    finally:
        bob.stop()
    assert b"Traceback" not in bytes(bob.raw)


def test_a_link_that_stalls_while_nobody_talks_is_said_silent_and_carries_on(room):
    """tests/badlink.py's stall: the proxy's kernel answers for the server as a stopped one's does."""
    with BadLink(("127.0.0.1", room.port)) as link:
        ann = room.join("ann")
        bob = room.join("bob", port=link.port)
        link.stall()
        bob.expect(NOT_ANSWERED, timeout=15)
        ann.send("said during the stall")
        bob.send("typed during the stall")
        ann.expect(r"ann: said during the stall$")
        link.resume()
        bob.expect(ANSWERS_AGAIN)
        bob.expect(r"ann: said during the stall$")
        ann.expect(r"bob: typed during the stall$")
        assert said(bob, r"ann: said during the stall$") == 1, bob.output
        assert not [line for line in bob.lines if any(word in line for word in REJOINED)], bob.output
        assert link.connections == 1  # the same connection throughout
        with contextlib.suppress(Exception):
            bob.stop()


def test_an_idle_room_that_answers_is_asked_each_quiet_spell_and_never_said_silent(room):
    """The room's pong (or any byte) answers: pings go one per quiet spell (counted on the link),
    and nothing is shown for them, neither a silence nor an error."""
    with BadLink(("127.0.0.1", room.port)) as link:
        bob = room.join("bob", port=link.port)
        joined = link.up_bytes
        ping_frame = 4 + len(b'{"type":"ping"}')
        # one ping a quiet spell (1 s here), each answered: three of them, and a fourth, which
        # goes only once the third was answered (a ping unanswered is not followed by another)
        wait_for(lambda: link.up_bytes - joined >= 4 * ping_frame, timeout=20, what="four pings")
        assert (link.up_bytes - joined) % ping_frame == 0  # nothing else was sent meanwhile
        assert not re.search(NOT_ANSWERED, bob.output), bob.output
        assert not [line for line in bob.lines[1:] if "error" in line.lower() or "unexpected" in line], bob.output


def test_a_slow_upload_is_a_room_that_answers_not_a_silent_one(tmp_path):
    """The server says nothing while it takes an upload's pieces, and a ping waits behind them:
    over a slow link it is answered long after ANSWER_SECONDS. The link moves all the while (our
    bytes are taken), so the room is not said silent, nor the connection put in doubt.

    The link holds little of its own (as a real path does, where the server's kernel acknowledges
    what it has): a proxy reading 256 KiB ahead at 256 KiB/s held the upload's last second where
    our kernel counted it taken, and with a 1.5 s answer time the room was said silent under load
    just before the server, given those bytes, answered. Answer time 3 s; the upload takes ~8 s,
    so with liveness.sending's restart taken out the room is said silent several times over."""
    room = Room(tmp_path, env=quick_env(answer=3.0))
    try:
        with BadLink(("127.0.0.1", room.port), rate=256 * 1024, held_bytes=16 * 1024, buffer_bytes=16 * 1024) as link:
            ann = room.join("ann")
            bob = room.join("bob", port=link.port)
            source = tmp_path / "homework.bin"
            source.write_bytes(os.urandom(2 * 1024 * 1024))  # ~8 s at this rate: several quiet spells
            bob.send(f"/send {source}")
            ann.expect(r"bob offers homework\.bin", timeout=60)
            assert not re.search(NOT_ANSWERED, bob.output), bob.output
            assert link.connections == 1
    finally:
        room.close()


@pytest.fixture
def namespace():
    """helpers.network_namespace_or_skip, as a fixture."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a network namespace")
    with network_namespace_or_skip() as found:
        yield found


def test_a_link_that_died_under_a_quiet_chat_ends_within_seconds_and_the_client_rejoins(namespace):
    """bob's laptop in a network namespace of the test's own, its link taken down while nobody
    talks: no FIN, no reset, nothing typed. Before, TCP keepalive said so after about a minute
    (20 s idle, then 4 probes 10 s apart); now the ping goes unanswered, the connection is put
    in doubt, the quick keepalive ends it within seconds, and bob tries to rejoin."""
    name, our_address, _their_address, their_link = namespace
    env = quick_env()
    server = Proc("serve", "--headless", "--host", our_address, "--port", "0", "--no-announce", "--no-history", env=env)
    bob = None
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        bob = Proc("connect", our_address, port, "--name", "bob", "--plain", env=env,
                   program=["ip", "netns", "exec", name, sys.executable, "-m", "lanchat"])  # fmt: skip
        bob.expect(r"welcome, bob")
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", their_link, "down"], check=True, timeout=10)
        gone = time.monotonic()
        bob.expect(NOT_ANSWERED, timeout=10)
        bob.expect(r"connection lost; retrying", timeout=20)
        assert time.monotonic() - gone < 15, bob.output  # not TCP keepalive's minute
    finally:
        for proc in (bob, server):
            if proc is not None:
                proc.stop()
