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
from lanchat.protocol import encode

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"),
]

# mallory's script: argv host port count; joins `count` guests (m0, m1...) each on a connection
# of its own, then each sends its own burst of 10 lines at once (within the person's limit: a
# person's bucket refuses none of them), then reads what each connection is told for a moment.
# Prints "joined N", then one line per error it was sent: "error CODE MESSAGE".
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
until = time.monotonic() + 0.5  # what each connection is told, all read at once
pending = {sock: b"" for sock in socks}
while time.monotonic() < until:
    for sock in select.select(socks, [], [], max(0.0, until - time.monotonic()))[0]:
        data = pending[sock] + sock.recv(65536)
        while len(data) >= 4 and len(data) >= 4 + struct.unpack(">I", data[:4])[0]:
            size = struct.unpack(">I", data[:4])[0]
            obj = json.loads(data[4:4 + size])
            data = data[4 + size:]
            if obj["type"] == "error":
                print("error", obj["code"], obj["message"], flush=True)
        pending[sock] = data
print("done", flush=True)
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
            began = time.monotonic()
            mallory = subprocess.run(
                ["ip", "netns", "exec", name, sys.executable, "-c", SIXTEEN_GUESTS, our_address, str(endpoint.port), "16"],
                capture_output=True, env=child_env(), text=True, timeout=30,
            )  # fmt: skip
            said = mallory.stdout.splitlines()
            assert said[0] == "joined 16" and said[-1] == "done", mallory.stdout + mallory.stderr
            marker = f"still here {time.monotonic()}"
            ann.send(ev.Say(text=marker))
            spam = []
            while not (isinstance(event := ann.expect(object), ev.Message) and event.text == marker):
                spam += [event.text] if isinstance(event, ev.Message) else []
            # two people's burst, and their rate for as long as mallory was at it (joins included)
            most = lim.ADDRESS_SHARE * (lim.DEFAULT_BURST + lim.DEFAULT_RATE * (time.monotonic() - began))
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


def test_sixteen_guests_from_one_account_of_a_lab_server_share_two_peoples_flood_limit():
    """On a lab server the class joins from the server's own machine, so its address is
    everyone's and is not the shared bucket; a student's account is. Her script's 16 guests
    (account 21566), each sending its own burst of 10 at once, put all 160 lines on the class's
    screens; now they share two people's allowance, the rest refused with the shared slow-down.
    A classmate under another account chats on, unlimited by it."""
    from helpers import local_host, sockets_of_accounts
    from test_abuse_server import lab_server

    with lab_server("loopback") as (server, _log, to):
        ann = local_host(server, "ann")  # the host: her own lines are not limited
        began = time.monotonic()
        guests = [RawClient(sock, f"m{i}") for i, sock in enumerate(sockets_of_accounts([21566] * 16, connect_to=to))]
        for guest in guests:
            guest.send_raw(b"".join(encode(ev.Say(text=f"spam {guest.welcome.name}.{n}")) for n in range(10)))  # type: ignore[union-attr]
        refusals = [event for guest in guests for event in guest.drain(0.3) if isinstance(event, ev.Error)]
        marker = f"still here {time.monotonic()}"
        ann.send(ev.Say(text=marker))
        spam = []
        while not (isinstance(event := ann.expect(object), ev.Message) and event.text == marker):
            spam += [event.text] if isinstance(event, ev.Message) else []
        most = lim.ADDRESS_SHARE * (lim.DEFAULT_BURST + lim.DEFAULT_RATE * (time.monotonic() - began))
        assert lim.ADDRESS_SHARE * lim.DEFAULT_BURST <= len(spam) <= most, f"{len(spam)} lines of the script's reached the class"
        assert refusals and all(e.code == ev.E_SLOW_DOWN and not e.fatal for e in refusals)  # type: ignore[attr-defined]
        assert "then 6 a second from one account on this machine, shared by everyone joined from it" in refusals[0].message  # type: ignore[attr-defined]
        classmate = RawClient(sockets_of_accounts([21501], connect_to=to)[0], "bob")
        classmate.send_raw(b"".join(encode(ev.Say(text=f"bob {n}")) for n in range(10)))  # her own burst, all of it
        for n in range(10):
            ann.expect(ev.Message, text=f"bob {n}")
