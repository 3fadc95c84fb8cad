"""Attacks on flood control from one machine of the class, from the attacker's side: a real
server on a veth link, mallory's script in a network namespace of the test's own (her own
address, as a laptop on the LAN has), the class on this machine. After each attack the room
still serves the others.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from helpers import DEFAULT_TIMEOUT, RawClient, child_env, network_namespace, running_server

from lanchat import events as ev
from lanchat import limits as lim

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"),
]

# mallory's script: argv host port count; joins `count` guests (m0, m1...) each on a connection
# of its own, then each sends its own burst of 10 lines at once (within the person's limit: a
# person's bucket refuses none of them), then reads what each connection is told until each line
# is answered (its echo, or an error). Prints "joined N", then one line per error it was sent:
# "error CODE MESSAGE", then "done" and the number of lines answered.
SIXTEEN_GUESTS = """
import json, select, socket, struct, sys, time
def frame(obj):
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body
def frames(sock, until):
    data = b""
    while time.monotonic() < until:
        sock.settimeout(max(0.01, until - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        data += chunk
        while len(data) >= 4 and len(data) >= 4 + struct.unpack(">I", data[:4])[0]:
            size = struct.unpack(">I", data[:4])[0]
            yield json.loads(data[4:4 + size])
            data = data[4 + size:]
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
for i in range(count):
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(frame({"type": "hello", "name": f"m{i}", "version": 2}))
    for obj in frames(sock, time.monotonic() + 10):
        if obj["type"] == "welcome":
            socks.append(sock)
            break
print("joined", len(socks), flush=True)
for i, sock in enumerate(socks):
    sock.sendall(b"".join(frame({"type": "say", "text": f"spam {i}.{n}"}) for n in range(10)))
# each line is answered, by its echo or an error: read until all are (or 20 s have gone)
until, answers = time.monotonic() + 20, 0
pending = {sock: b"" for sock in socks}
names = {sock: f"m{i}" for i, sock in enumerate(socks)}
while answers < 10 * len(socks) and time.monotonic() < until:
    for sock in select.select(socks, [], [], max(0.0, until - time.monotonic()))[0]:
        data = pending[sock] + sock.recv(65536)
        while len(data) >= 4 and len(data) >= 4 + struct.unpack(">I", data[:4])[0]:
            size = struct.unpack(">I", data[:4])[0]
            obj = json.loads(data[4:4 + size])
            data = data[4 + size:]
            if obj["type"] == "error":
                answers += 1
                print("error", obj["code"], obj["message"], flush=True)
            elif obj["type"] == "message" and obj.get("from") == names[sock]:
                answers += 1
        pending[sock] = data
print("done", answers, flush=True)
"""


def test_sixteen_guests_from_one_laptop_get_no_more_than_two_peoples_flood_limit():
    """mallory opens the 16 connections one address may hold, as 16 guests, and each sends its
    own burst of 10 lines at once: each person's bucket let all 160 through to the class's
    screens (48 a second after that). One address now shares two people's allowance (a burst
    of 20, then 6 a second): the rest are refused with a slow-down that says why."""
    try:
        namespace_cm = network_namespace()
        name, our_address, _their_address, _link = namespace_cm.__enter__()
    except OSError as exc:
        pytest.skip(str(exc))
    try:
        with running_server(host=our_address, limits=True) as (_server, endpoint):
            ann = RawClient(endpoint, "ann")  # the class, on this machine
            mallory = subprocess.run(
                ["ip", "netns", "exec", name, sys.executable, "-c", SIXTEEN_GUESTS, our_address, str(endpoint.port), "16"],
                capture_output=True, env=child_env(), text=True, timeout=30,
            )  # fmt: skip
            said = mallory.stdout.splitlines()
            assert said[0] == "joined 16" and said[-1] == "done 160", mallory.stdout + mallory.stderr
            marker = f"still here {time.monotonic()}"
            ann.send(ev.Say(text=marker))
            spam = []
            while not (isinstance(event := ann.expect(object), ev.Message) and event.text == marker):
                spam += [event.text] if isinstance(event, ev.Message) else []
            # two people's burst, what light senders may borrow past it (limits.SHARED_DEBT: each
            # guest's first lines are light next to the one before), and 2 s of their rate: all
            # 160 lines are sent at once, after the 'joined 16' line, and answered at once
            most = lim.ADDRESS_SHARE * (lim.DEFAULT_BURST + lim.DEFAULT_RATE * 2) + lim.SHARED_DEBT
            assert lim.ADDRESS_SHARE * lim.DEFAULT_BURST <= len(spam) <= most, f"{len(spam)} lines of mallory's reached the class"
            refusals = [line for line in said if line.startswith("error ")]
            assert refusals and all(line.startswith("error slow-down slow down: that was not sent") for line in refusals), set(refusals)
            assert "at most 20 at once, then 6 a second from one address" in refusals[0], refusals[0]
            bob = RawClient(endpoint, "bob")
            marker = f"and on {time.monotonic()}"
            bob.send(ev.Say(text=marker))
            ann.expect(ev.Message, text=marker, timeout=DEFAULT_TIMEOUT)
            bob.expect(ev.Message, text=marker, timeout=DEFAULT_TIMEOUT)
    finally:
        namespace_cm.__exit__(None, None, None)
