"""A participant whose laptop vanished (no FIN, no RST) is noticed and their name freed.

The test builds its own little network: a network namespace joined to this one by a veth
pair. bob runs in the namespace and joins a real server; then the test takes bob's link down,
so the server's packets go unanswered, exactly as for a laptop that was shut. TCP keepalive
(transport.set_keepalive) must notice. Its times are shortened for the test (20 s idle, 10 s
between 4 probes in real use: about a minute).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from helpers import DEFAULT_TIMEOUT, RawClient, child_env, network_namespace_or_skip, running_server

from lanchat import events as ev
from lanchat import transport

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 for a network namespace"),
]

BOB = """
import socket, struct, sys, json, time
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
body = json.dumps({"type": "hello", "name": "bob", "version": 1}).encode()
sock.sendall(struct.pack(">I", len(body)) + body)
sock.recv(65536)
print("joined", flush=True)
time.sleep(60)  # stays, but its link will go down: nothing it does reaches the server
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=DEFAULT_TIMEOUT)


@pytest.fixture
def namespace():
    """helpers.network_namespace_or_skip, as a fixture."""
    with network_namespace_or_skip() as found:
        yield found


def test_a_vanished_laptop_is_noticed_and_its_name_freed(namespace, monkeypatch):
    name, our_address, _their_address, their_link = namespace
    monkeypatch.setattr(transport, "KEEPALIVE_IDLE_SECONDS", 1)
    monkeypatch.setattr(transport, "KEEPALIVE_INTERVAL_SECONDS", 1)
    monkeypatch.setattr(transport, "KEEPALIVE_PROBES", 2)
    monkeypatch.setattr(transport, "USER_TIMEOUT_SECONDS", 3)
    with running_server(host=our_address) as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        bob = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", BOB, our_address, str(endpoint.port)],
            stdout=subprocess.PIPE, env=child_env(),
        )  # fmt: skip
        try:
            assert bob.stdout is not None and bob.stdout.readline() == b"joined\n"
            ann.expect(ev.Joined, name="bob")
            ip("netns", "exec", name, "ip", "link", "set", their_link, "down")  # the laptop is gone
            ann.expect(ev.Left, timeout=20, name="bob", reason="lost")
            # the name is free again, and the room goes on
            again = RawClient(endpoint, "bob")
            ann.expect(ev.Joined, name="bob")
            again.send(ev.Say(text="back"))
            ann.expect(ev.Message, sender="bob", text="back")
            again.close()
        finally:
            bob.kill()
            bob.wait(DEFAULT_TIMEOUT)
            ann.close()
