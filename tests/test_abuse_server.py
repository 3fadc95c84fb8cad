"""Abuse limits on a real server, from the attacker's side: the flood, the connection storm,
the byte-a-second drip, the ban evaded under a new name. Real sockets on loopback and, for a
real non-loopback address, a network namespace the test creates. After each attack the room
still serves the others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from helpers import (
    DEFAULT_TIMEOUT,
    RawClient,
    child_env,
    flat_out_sender,
    network_namespace_or_skip,
    running_server,
    wait_for,
)

from lanchat import events as ev
from lanchat import limits as lim
from lanchat.protocol import ConnectionClosed, encode

pytestmark = pytest.mark.timeout(60)


def chats_on(*people: RawClient) -> None:
    """The first says something; everyone listed receives it."""
    marker = f"still here {time.monotonic()}"
    people[0].send(ev.Say(text=marker))
    for person in people:
        person.expect(ev.Message, text=marker)


def heard_before_own_marker(client: RawClient) -> list[object]:
    """Everything the server sent ``client`` before the echo of a line it says now: whatever the
    server did earlier was queued ahead of that echo, so nothing is missed by a short wait."""
    marker = f"marker {time.monotonic()}"
    client.send(ev.Say(text=marker))
    heard = []
    while not (isinstance(event := client.expect(object), ev.Message) and event.text == marker):
        heard.append(event)
    return heard


# ------------------------------------------------------------------ flood control


def test_ten_at_once_go_through_and_the_eleventh_is_told_to_slow_down():
    with running_server(limits=True) as (_server, endpoint):
        ann, mallory = RawClient(endpoint, "ann"), RawClient(endpoint, "mallory")
        ann.drain(0.1)
        mallory.send_raw(b"".join(encode(ev.Say(text=f"m{i}")) for i in range(11)))
        error = mallory.expect(ev.Error)
        assert error.code == ev.E_SLOW_DOWN and not error.fatal
        assert error.message.startswith("slow down: that was not sent (at most 10 at once, then 3 a second)")
        ann.expect(ev.Message, text="m9")
        assert "m10" not in [e.text for e in heard_before_own_marker(ann) if isinstance(e, ev.Message)]
        chats_on(ann, mallory)
        ann.close()
        mallory.close()


def test_a_flooder_is_no_longer_read_then_disconnected_and_the_room_goes_on():
    flood = lim.FloodControl(burst=3, rate=20.0)  # pauses of 3/20 s, so the test is quick
    with running_server(limits=True, flood=flood) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        mallory = flat_out_sender(endpoint)
        sent = 0
        deadline = time.monotonic() + 20
        # As fast as the kernel takes it: at most 1,000,000 lines (40 MB), far more than the
        # server's receive buffer holds, so a server that stops reading makes this block.
        pending = b""
        while time.monotonic() < deadline and sent < 1_000_000:
            if not pending:
                pending = encode(ev.Say(text=f"spam {sent}"))
                sent += 1
            try:
                pending = pending[mallory.sock.send(pending) :]  # never half a frame: the rest next
            except BlockingIOError:
                break  # the server stopped reading: mallory's own buffers are full
            except OSError:
                break
        assert sent < 1_000_000, "the server read everything: no back-pressure"
        mallory.sock.setblocking(True)
        got = []  # every message ann received before mallory was put out
        while not (isinstance(left := ann.expect(object, timeout=20), ev.Left) and left.name == "mallory"):
            got += [left] if isinstance(left, ev.Message) else []
        assert left.reason == "flooding"
        heard = mallory.until_closed()  # what mallory was sent, to the end
        last = heard[-1]  # the last word before the server closed: why
        assert isinstance(last, ev.Error) and last.fatal, heard[-3:]
        assert last.code == ev.E_SLOW_DOWN and "disconnected for flooding" in last.message
        got += [e for e in ann.inbox if isinstance(e, ev.Message)]
        assert 0 < len(got) < 100  # held to its limit, not 25,000 a second
        bob = RawClient(endpoint, "bob")
        chats_on(ann, bob)
        ann.close()
        bob.close()
        mallory.close()


def test_a_connection_put_out_cannot_keep_the_server_reading_what_it_sends():
    """Put out for a broken frame, mallory goes on sending as fast as the kernel takes it: the
    server read and threw away gigabytes until the connection's linger time ran out. Now it
    reads at most CLOSING_READ_BYTES more, then closes; the room goes on."""
    from lanchat import hub

    with running_server(limits=True) as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=DEFAULT_TIMEOUT)
        raw.sendall(b"\x00\x00\x00\x05{bad}")  # not JSON: a fatal bad-frame, then closing
        junk = b"x" * 65536
        sent = 0
        limit = 64 * hub.CLOSING_READ_BYTES  # what a server that reads on for its linger time takes in well under it
        with contextlib.suppress(OSError):  # the server closing mid-flood: a reset or a broken pipe
            while sent < limit:
                sent += raw.send(junk)
        raw.close()
        assert sent < limit, f"the server read {sent} bytes after putting the connection out"
        bob = RawClient(endpoint, "bob")
        chats_on(ann, bob)
        ann.close()
        bob.close()


def test_the_host_and_operators_are_not_flood_limited():
    with running_server(limits=True) as (server, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        server.room.moderation.operator_cids.add(next(c for c, m in server.room.members.items() if m.name == "ann"))
        ann.send_raw(b"".join(encode(ev.Say(text=f"a{i}")) for i in range(30)))
        bob.expect(ev.Message, text="a29")
        assert not [e for e in heard_before_own_marker(ann) if isinstance(e, ev.Error)]
        ann.close()
        bob.close()


# ------------------------------------------------------------------ connections


def test_connections_past_the_cap_get_one_clear_line_and_those_in_are_unharmed():
    caps = lim.ConnectionLimits(max_per_local=3, new_per_minute_local=1000)
    with running_server(limits=True, connection_limits=caps) as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        others = [RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10)) for _ in range(2)]
        refused = RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10))
        error = refused.expect(ev.Error)
        assert error.code == ev.E_TOO_MANY and error.fatal
        assert error.message == "too many connections from this machine (3 at once); close some and try again"
        refused.expect(ConnectionClosed)
        others[0].close()  # one leaves: one more may come
        wait_for(lambda: caps.open.get("local") == 2, what="the closed connection to be released")
        bob = RawClient(endpoint, "bob")
        chats_on(ann, bob)
        for client in (ann, bob, refused, *others):
            client.close()


def test_a_storm_of_refused_connections_gets_an_error_each_and_two_log_lines_not_one_each():
    caps = lim.ConnectionLimits(max_per_local=3, new_per_minute_local=1000)
    log: list[str] = []
    with running_server(limits=True, connection_limits=caps, refusal_log=lim.RefusalLog(seconds=2.0), log=log.append) as (
        _server, endpoint,
    ):  # fmt: skip
        held = [RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10)) for _ in range(3)]
        wait_for(lambda: caps.open.get("local") == 3, what="the three to be let in")
        storm = [RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10)) for _ in range(40)]
        for client in storm:  # the protocol is unchanged: every one is told, and closed
            error = client.expect(ev.Error)
            assert error.code == ev.E_TOO_MANY and error.fatal
            client.expect(ConnectionClosed)
        wait_for(lambda: any("more connections refused" in line for line in log), what="the storm's count in the log")
        refusing = [line for line in log if "refus" in line]
        assert len(refusing) == 2, refusing
        assert refusing[0].endswith("too many connections from this machine (3 at once); close some and try again; refusing")
        assert refusing[1] == "127.0.0.1: 39 more connections refused within 2 s of the first (too many connections from this machine (3 at once))"
        for client in held + storm:
            client.close()


def test_a_connection_storm_is_refused_per_minute_just_over_the_limit():
    caps = lim.ConnectionLimits(new_per_minute_local=5)
    with running_server(limits=True, connection_limits=caps) as (_server, endpoint):
        ann = RawClient(endpoint, "ann")  # the first of five this minute
        for _ in range(4):
            probe = socket.create_connection((endpoint.host, endpoint.port), timeout=10)
            probe.close()
        wait_for(lambda: caps.open.get("local") == 1, what="the four to be counted and closed")
        sixth = RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10))
        error = sixth.expect(ev.Error)
        assert error.code == ev.E_TOO_MANY and "5 a minute" in error.message and "try again in" in error.message
        chats_on(ann)
        ann.close()
        sixth.close()


# ------------------------------------------------------------------ a lab server's accounts


@contextlib.contextmanager
def lab_server(way: str, **kwargs: object):
    """A server with its limits on, as `serve` runs it on a lab machine (its own account is
    this test's), on loopback or on a socket file the class's accounts may reach; yields the
    server, its log, and where the class's sockets connect (sockets_of_accounts)."""
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="lc-lab-", dir="/tmp"))  # other accounts can reach it
    folder.chmod(0o755)
    path = str(folder / "lab.sock") if way == "socket file" else None
    log: list[str] = []
    try:
        with running_server(unix_path=path, limits=True, own_user=os.getuid(), log=log.append, **kwargs) as (server, endpoint):
            if path is not None:
                os.chmod(path, 0o666)
            yield server, log, path if path is not None else (endpoint.host, endpoint.port)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("way", ["loopback", "socket file"])
def test_one_account_holding_unfinished_connections_cannot_keep_a_classmate_out(way):
    """A lab server's class joins from the server's own machine, whose 256 connections at once
    are the whole class's. From the attacker's side: a student's script (its own account) opens
    300 connections that never say hello; then a classmate (another account) joins. The script
    held all 256 and the classmate was refused ('too many connections from this machine'). Now
    an account other than the server's own holds at most 64 not yet welcomed: the rest of the
    script's are refused with one clear line, logged once for the storm, and the classmate is in."""
    from helpers import sockets_of_accounts

    with lab_server(way) as (server, log, to):
        family = socket.AF_UNIX if way == "socket file" else socket.AF_INET
        script = sockets_of_accounts([21566] * 300, family, to)  # connected in this order, never a hello
        try:
            classmate = RawClient(sockets_of_accounts([21501], family, to)[0])
            classmate.hello("ann")
            welcome = classmate.expect(object)
            assert isinstance(welcome, ev.Welcome), welcome
            last = RawClient(script[-1])  # one the script opened after its 64
            refusal = last.expect(ev.Error)
            assert (refusal.code, refusal.fatal) == (ev.E_TOO_MANY, True)
            assert refusal.message == (
                "too many unfinished connections from user 21566 on this machine (64 at once); "
                "finish joining with one or close some, then try again"
            )
            refusing = [line for line in log if "refusing" in line]
            assert len(refusing) == 1 and "too many unfinished connections from user 21566" in refusing[0], refusing
        finally:
            for sock in script:
                sock.close()


def _connected(sock: socket.socket, to: tuple[str, int]) -> socket.socket:
    sock.connect(to)
    return sock


def test_one_account_opening_and_closing_connections_cannot_spend_the_class_new_ones():
    """Held to 64 unfinished, the script opens and closes connections instead, one after
    another: the machine's new connections a minute were the class's, so a classmate was
    refused ('too many new connections from this machine'). An account's are its own now:
    the script's 21st is refused, naming its account, and the classmate is in."""
    from helpers import sockets_of_accounts

    caps = lim.ConnectionLimits(new_per_minute_local=20)  # the machine's 600, made quick to spend
    with lab_server("loopback", connection_limits=caps) as (_server, _log, to):
        script = sockets_of_accounts([21566] * 21)  # the script's account made them: its connections
        for sock in script[:20]:
            sock.connect(to)
            wait_for(lambda: caps.open.get(lim.LOCAL) == 1, what="the script's connection counted")
            sock.close()
            wait_for(lambda: not caps.open, what="the script's connection closed")
        last = RawClient(_connected(script[20], to))
        refusal = last.expect(ev.Error)
        assert refusal.message.startswith("too many new connections from user 21566 on this machine (20 a minute); try again in ")
        classmate = RawClient(sockets_of_accounts([21501], socket.AF_INET, to)[0])
        classmate.hello("ann")
        welcome = classmate.expect(object)
        assert isinstance(welcome, ev.Welcome), welcome


def test_a_class_sharing_one_account_all_joins():
    """Many labs log every student in under one shared account: 24 students on ONE account
    join one after another, and once welcomed none of them counts toward the account's
    unfinished connections (a cap on all the account's connections would have refused the
    17th): with 15 more of it still unfinished, a 40th is let in and joins. The cap is made 16
    here (64 by default: a lesson's start puts a shared account's class at the prompts together),
    so the latecomer is the 16th unfinished, and a cap counting the welcomed would refuse it."""
    from helpers import sockets_of_accounts

    with lab_server("loopback", connection_limits=lim.ConnectionLimits(max_pending_per_account=16)) as (server, _log, to):
        socks = sockets_of_accounts([21600] * 40)  # made by the shared account, each connected as it joins
        class_ = [RawClient(_connected(sock, to), f"s{n:02d}") for n, sock in enumerate(socks[:24])]
        unfinished = [RawClient(_connected(sock, to)) for sock in socks[24:39]]  # fifteen still at a name prompt
        wait_for(lambda: server.hub.guard.connection_limits.pending == {21600: 15}, what="fifteen unfinished")
        latecomer = RawClient(_connected(socks[39], to), "late")  # the sixteenth unfinished, then welcomed
        assert latecomer.welcome is not None
        chats_on(class_[0], *class_[1:], latecomer)
        for client in (*class_, *unfinished, latecomer):
            client.close()


def test_the_servers_own_account_is_not_capped_for_unfinished_connections():
    """The teacher's demo runs under the server's own account (a terminal per pretend student):
    40 connections of it not yet welcomed are all let in, and a 41st joins."""
    with lab_server("loopback") as (server, _log, to):
        waiting = [RawClient(socket.create_connection(to, timeout=DEFAULT_TIMEOUT)) for _ in range(40)]
        wait_for(lambda: server.hub.guard.connection_limits.open.get(lim.LOCAL) == 40, what="the 40 to be let in")
        ann = RawClient(socket.create_connection(to, timeout=DEFAULT_TIMEOUT), "ann")
        assert ann.welcome is not None
        for client in (*waiting, ann):
            client.close()


# ------------------------------------------------------------------ deadlines


def test_a_hello_dripped_a_byte_at_a_time_is_closed_at_the_frame_deadline():
    with running_server(handshake_seconds=5.0, frame_seconds=0.5) as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        loris = RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10))
        frame = encode(ev.Hello(name="loris"))  # dripped whole, it would take about 4 s
        dripped = 0
        heard: list[object] = []
        with contextlib.suppress(OSError):
            for byte in frame[:-1]:  # never the last byte; one every 0.1 s (the attack's pace, not a wait)
                loris.send_raw(bytes([byte]))
                dripped += 1
                heard += loris.drain(0.1)
                if heard:
                    break
        if ConnectionClosed() not in heard:
            heard += [*loris.until_closed(), ConnectionClosed()]
        # the frame deadline ended it, mid-frame, while the drip went on: each byte reset nothing
        error, closed = heard
        assert closed == ConnectionClosed()
        assert error.code == ev.E_DEADLINE and error.fatal
        assert error.message == "a frame was started but not finished within 0.5 seconds"
        assert dripped < len(frame) - 1, "it was let drip to the end"
        chats_on(ann)
        ann.close()
        loris.close()


def test_a_script_trying_names_as_fast_as_it_can_is_closed_not_answered_for_ever():
    """Nothing before the welcome counted toward flood control, nor a hello at all: one
    connection sending hellos for names that are taken had each refused, 60,000 a second, and
    the room's lines took 40-100 ms instead of 0.4 (four such connections: 300 ms), with no join
    for the teacher to see. A person at the prompt tries a few names; past 32 frames before its
    welcome a connection is closed with a fatal slow-down."""
    with running_server(limits=True, flood=lim.FloodControl()) as (_server, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        script = RawClient(endpoint)
        script.send_raw(b"".join(script.proto.send(ev.Hello(name=("ann", "\u0430nn", "ANN")[i % 3])) for i in range(1000)))
        heard = script.until_closed()
        refused = [e for e in heard if isinstance(e, ev.Error) and e.code == ev.E_NAME_TAKEN]
        assert 3 <= len(refused) <= 32  # a person's few tries are answered as before
        assert heard[-1].code == ev.E_SLOW_DOWN and heard[-1].fatal and "connect again" in heard[-1].message
        chats_on(ann, bob)
        for client in (ann, bob, script):
            client.close()


def test_frames_that_never_say_hello_do_not_hold_the_socket():
    with running_server(handshake_seconds=1.0) as (_server, endpoint):
        probe = RawClient(socket.create_connection((endpoint.host, endpoint.port), timeout=10))
        heard: list[object] = []
        with contextlib.suppress(OSError):
            for _ in range(100):  # up to 20 s of refused hellos, far past the 1 s deadline
                probe.send(ev.Hello(name="bad name"))  # refused each time, but it is "activity"
                heard += probe.drain(0.2)  # the attack's pace, not a wait
                if any(isinstance(e, ConnectionClosed) or (isinstance(e, ev.Error) and e.fatal) for e in heard):
                    break  # put out (the close may be a read behind: a hello now would be sent on a closed protocol)
        if not any(isinstance(e, ConnectionClosed) for e in heard):  # a send failed first (the server had closed):
            heard += probe.drain(5.0)  # what it wrote before closing is still to be read, then the close
        *refusals, error, closed = heard
        assert isinstance(closed, ConnectionClosed), heard[-3:]  # closed while it kept on sending
        assert refusals and all(e.code == ev.E_BAD_NAME and not e.fatal for e in refusals)  # each one refused ...
        assert error.code == ev.E_HELLO_FIRST and error.fatal  # ... then, activity or not, put out
        probe.close()


def test_a_member_who_starts_a_frame_and_stalls_is_closed_and_the_room_told():
    # (a member's frame has hub.MEMBER_FRAME_SECONDS, 60 s: cut here as frame_seconds is)
    with running_server(frame_seconds=0.5, member_frame_seconds=0.5) as (_server, endpoint):
        ann, bob = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
        bob.send_raw(encode(ev.Say(text="half"))[:7])
        error = bob.expect(ev.Error, timeout=5)
        assert error.code == ev.E_DEADLINE and error.fatal
        ann.expect(ev.Left, name="bob", reason="lost")
        chats_on(ann)
        ann.close()
        bob.close()


# ------------------------------------------------- a ban evaded from a real address

MALLORY = """
import json, socket, struct, sys
def frame(obj):
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body
def read_frames(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return
        data += chunk
        while len(data) >= 4 and len(data) >= 4 + struct.unpack(">I", data[:4])[0]:
            size = struct.unpack(">I", data[:4])[0]
            yield json.loads(data[4:4 + size])
            data = data[4 + size:]
for name in sys.argv[3:]:
    sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    sock.sendall(frame({"type": "hello", "name": name, "version": 1}))
    for obj in read_frames(sock):
        print(name, obj["type"], obj.get("code", ""), flush=True)
        if obj["type"] in ("welcome", "error"):
            break
    if name == sys.argv[3]:
        for obj in read_frames(sock):  # until the ban closes the connection
            print(name, obj["type"], obj.get("code", ""), flush=True)
    sock.close()
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2")
def test_a_banned_student_cannot_come_back_under_a_new_name_from_the_same_address():
    """mallory joins from her own machine (a namespace with address .2), is banned, and tries
    again as 'innocent' from the same machine; a kick would have let her back."""
    with network_namespace_or_skip() as (name, our_address, their_address, _link):
        with running_server(host=our_address) as (server, endpoint):
            hal = RawClient(endpoint, "hal")
            server.room.host_cid = next(c for c, m in server.room.members.items() if m.name == "hal")
            mallory = subprocess.Popen(
                ["ip", "netns", "exec", name, sys.executable, "-c", MALLORY, our_address, str(endpoint.port), "mallory", "innocent"],
                stdout=subprocess.PIPE, env=child_env(), text=True,
            )  # fmt: skip
            try:
                assert mallory.stdout is not None
                assert mallory.stdout.readline().split() == ["mallory", "welcome"]
                hal.expect(ev.Joined, name="mallory")
                hal.send(ev.Moderate(action="ban", name="mallory", reason="spam"))
                act = hal.expect(ev.Moderated)
                assert (act.action, act.by, act.name, act.reason) == ("ban", "hal", "mallory", "spam")
                rest = mallory.communicate(timeout=DEFAULT_TIMEOUT)[0].split("\n")
                assert "mallory error banned" in rest
                assert "innocent error banned" in rest
                (ban,) = server.room.moderation.bans
                assert ban.address == their_address
                ann = RawClient(endpoint, "ann")  # from this machine: not banned
                chats_on(hal, ann)
                ann.close()
            finally:
                mallory.kill()
                mallory.wait(DEFAULT_TIMEOUT)
                hal.close()


def test_a_muted_student_cannot_rejoin_under_a_name_that_says_what_the_mute_keeps_out():
    """/nick is refused to someone muted, since a name is read too; leaving and joining again
    with the same key under a new name was not: 'teacher_is_unfair joined' reached everyone."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from helpers import local_host

    key = Ed25519PrivateKey.generate()
    with running_server() as (server, endpoint):
        hal = local_host(server, "hal")
        ann = RawClient(endpoint, "ann")
        mallory = RawClient(endpoint, "mallory", key=key)
        hal.send(ev.Moderate(action="mute", name="mallory", minutes=5, reason="calm down"))
        ann.expect(ev.Moderated, action="mute")
        mallory.send(ev.Bye())
        ann.expect(ev.Left, name="mallory")
        again = RawClient(endpoint, key=key)
        again.hello("teacher_is_unfair")
        refused = again.expect(ev.Error)
        assert refused.code == ev.E_MUTED and not refused.fatal
        assert refused.message.startswith("you are muted by hal for 5 more minutes: calm down")
        again.hello("mallory")  # under her own name she may come back and read
        again.expect(ev.Welcome, name="mallory")
        assert [e.name for e in heard_before_own_marker(ann) if isinstance(e, ev.Joined)] == ["mallory"]
        for client in (hal, ann, again):
            client.close()


def test_a_muted_student_cannot_keep_the_room_reading_that_she_is_typing():
    """A mute refuses everything a muted student's words could reach the room by, but her typing
    hints still went to everyone: 'mallory is typing…' in every status line all lesson long,
    for a line that could never be sent. A muted person's hints are now dropped (silently, as
    the hints over the limit are); the others' still arrive."""
    from helpers import local_host

    with running_server() as (server, endpoint):
        hal = local_host(server, "hal")
        ann, bob, mallory = RawClient(endpoint, "ann"), RawClient(endpoint, "bob"), RawClient(endpoint, "mallory")
        hal.send(ev.Moderate(action="mute", name="mallory", minutes=5, reason="calm down"))
        ann.expect(ev.Moderated, action="mute")
        mallory.expect(ev.Moderated, action="mute")
        answers: dict[str, list[object]] = {"mallory": [], "bob": []}
        for name, typist in (("mallory", mallory), ("bob", bob)):  # her first hint: no per-person pause holds it back
            typist.send(ev.Typing())
            typist.send(ev.Who())
            while not isinstance(event := typist.expect(object), ev.Roster):  # the server has handled the hint
                answers[name].append(event)  # (expect drops what comes before what it waits for)
        hints = [e.name for e in heard_before_own_marker(ann) if isinstance(e, ev.TypingHint)]
        assert hints == ["bob"]
        assert not [e for e in answers["mallory"] if isinstance(e, ev.Error)]  # and she is told nothing
        for client in (hal, ann, bob, mallory):
            client.close()


# Frames flood control does not count, each as a joined member may send it: a typing hint (one
# passed on per 3 s, the rest dropped), and upload pieces and ends for an id that is no upload
# of theirs (dropped: the error, if any, was said once).
# (All four kinds: test_hub_limits; here the two that go two ways, to the room and to the files.)
UNCOUNTED_FRAMES = {
    "typing": encode(ev.Typing()),
    "binary piece of no upload": encode(ev.UploadBytes(id="999", data=b"xxxx")),
}


@pytest.mark.parametrize("kind", list(UNCOUNTED_FRAMES))
def test_a_member_sending_frames_flood_control_does_not_count_is_read_slowly_not_for_ever(kind):
    """Typing hints and upload pieces for no upload cost the server a parse and a look each and
    were never counted: one member sending them as fast as the loopback took them had ~480,000
    a second read (bench/cheap_frames_probe.py), and the others' lines took 13-144 ms p90
    instead of 0.05. Past a per-connection budget of such frames (generous: an upload's chunks
    count too) the connection is read no faster than the budget refills: the sender's own writes
    block. Nothing is said to it (a hint dropped is harmless) and the room goes on."""
    with running_server(limits=True) as (server, endpoint):
        # The server's receive buffer capped (accepted sockets inherit the listener's), as
        # mallory's send buffer is: left to autotune on loopback it may grow to 32 MB, and
        # hold what a server reading slowly never read.
        server.listeners[0].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        ann = RawClient(endpoint, "ann")
        mallory = flat_out_sender(endpoint)
        batch = UNCOUNTED_FRAMES[kind] * 256
        most = 100_000 * len(UNCOUNTED_FRAMES[kind])  # 1-2 MB: far more than the kernel's buffers hold
        sent = 0
        pending = batch
        deadline = time.monotonic() + 5  # read at the budget's pace, that much takes 20 s
        while time.monotonic() < deadline and sent < most:
            try:
                taken = mallory.sock.send(pending)  # never half a frame: the rest next
            except BlockingIOError:
                if wait_for_writable(mallory.sock, 0.5):
                    continue
                break  # not read for half a second: the server holds her back
            sent += taken
            pending = pending[taken:] or batch
        assert sent < most, f"the server read all {sent:,} bytes of {kind} frames at once: no budget"
        mallory.sock.setblocking(True)
        chats_on(ann, RawClient(endpoint, "bob"))
        assert not [e for e in mallory.drain(0.2) if isinstance(e, ev.Error)]  # told nothing
        for client in (ann, mallory):
            client.close()


def wait_for_writable(sock: socket.socket, seconds: float) -> bool:
    import select

    return bool(select.select([], [sock], [], seconds)[1])
