"""Attacks on flood control from one machine of the class, from the attacker's side: a real
server on a veth link, mallory's script in a network namespace of the test's own (her own
address, as a laptop on the LAN has), the class on this machine. After each attack the room
still serves the others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from helpers import DEFAULT_TIMEOUT, Proc, RawClient, child_env, local_host, network_namespace_or_skip, running_server

from lanchat import events as ev
from lanchat import limits as lim

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"),
]


@contextlib.contextmanager
def _her_address() -> Iterator[tuple[str, str]]:
    """(namespace, our address): a network namespace of the test's own, an address of its own
    on a veth link to this machine (helpers.network_namespace_or_skip); skips where the system allows none."""
    with network_namespace_or_skip() as (namespace, our_address, _their_address, _link):
        yield namespace, our_address


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
    with _her_address() as (name, our_address), running_server(host=our_address, limits=True) as (_server, endpoint):
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


# mallory's other script: argv host port; joins as "mallory" and sends 30 lines at once, then
# sends each refused line again the moment its slow-down comes, ignoring its retry_after, until
# the server hangs up. Prints each error's code and whether it was fatal, then "closed".
IGNORES_RETRY_AFTER = """
import json, socket, struct, sys, time
def frame(obj):
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
sock.sendall(frame({"type": "hello", "name": "mallory", "version": 2}))
data, joined = b"", False
sock.settimeout(30)
while True:
    try:
        chunk = sock.recv(65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
    while len(data) >= 4 and len(data) >= 4 + struct.unpack(">I", data[:4])[0]:
        size = struct.unpack(">I", data[:4])[0]
        obj, data = json.loads(data[4:4 + size]), data[4 + size:]
        if obj["type"] == "welcome" and not joined:
            joined = True
            sock.sendall(b"".join(frame({"type": "say", "text": f"spam {n}"}) for n in range(30)))
        elif obj["type"] == "error":
            print("error", obj["code"], obj.get("fatal", False), "retry_after" in obj, flush=True)
            if obj.get("refused") and not obj.get("fatal"):
                try:
                    sock.sendall(frame(json.loads(obj["refused"])))
                except OSError:
                    pass
print("closed", flush=True)
"""


@pytest.mark.timeout(120)  # 16 client processes start on a shared machine: ~10 s of it, ~12 s of lines at 6 a second
def test_a_class_behind_one_address_pasting_at_once_is_never_paused_and_a_script_ignoring_retry_after_is_cut():
    """16 students behind one address (a school's NAT: a network namespace here) each paste
    3-9 lines into the real client at the same moment, while mallory's script at the same
    address sends each refused line again at once. The shared bucket of their address refuses
    most lines; each refusal says when to try again (retry_after), the real client's pacer waits
    that long, and a line sent then obeys it: no student is paused or disconnected and every
    line arrives once, in order. Before, 3-4 of them were paused. mallory climbs the ladder and
    is cut."""
    with _her_address() as (name, our_address):
        log: list[str] = []
        students: list[subprocess.Popen[bytes]] = []
        try:
            caps = lim.ConnectionLimits(max_per_address=17)  # the class and mallory: one over the default
            with running_server(host=our_address, limits=True, connection_limits=caps, log=log.append) as (_server, endpoint):
                ann = RawClient(endpoint, "ann")  # the teacher, on this machine
                netns = ["ip", "netns", "exec", name, sys.executable]
                for who in range(16):
                    students.append(subprocess.Popen(
                        [*netns, "-m", "lanchat", "connect", our_address, str(endpoint.port), "--name", f"s{who}", "--plain", "--no-typing"],
                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env(),
                    ))  # fmt: skip
                joined: set[str] = set()
                while len(joined) < 16:
                    event = ann.expect(ev.Joined, timeout=30)
                    joined.add(event.name)
                typed = {f"s{who}": [f"s{who} line {n}" for n in range(3 + who % 7)] for who in range(16)}
                mallory = subprocess.Popen([*netns, "-c", IGNORES_RETRY_AFTER, our_address, str(endpoint.port)],
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env(), text=True)  # fmt: skip
                ann.expect(ev.Joined, name="mallory", timeout=30)
                for who, student in enumerate(students):  # the pastes, all at once; the end of input leaves once they are sent
                    assert student.stdin is not None
                    student.stdin.write("".join(f"{line}\n" for line in typed[f"s{who}"]).encode())
                    student.stdin.close()
                said: dict[str, list[str]] = {who: [] for who in typed}
                left: dict[str, str] = {}
                while len(left) < 17:
                    event = ann.expect(object, timeout=60)
                    if isinstance(event, ev.Message) and event.sender in said:
                        said[event.sender].append(event.text)
                    elif isinstance(event, ev.Left):
                        left[event.name] = event.reason
                assert said == typed  # every line once, each student's in order
                assert left == {**{who: "quit" for who in typed}, "mallory": "flooding"}, left
                for student in students:
                    assert student.stdout is not None
                    out = student.stdout.read().decode()
                    assert student.wait(timeout=30) == 0 and "slow down" not in out and "not sent" not in out, out
                told = mallory.communicate(timeout=30)[0].splitlines()
                # each refusal said when to try again; cut (left: flooding, above): the fatal error is
                # read unless the close came as a reset first (her unread resends in the server's buffer)
                assert "error slow-down False True" in told and told[-1] == "closed", told
                assert all(line in ("error slow-down False True", "error slow-down True False") for line in told[:-1]), told
                paused = [line for line in log if "flooding" in line]
                assert paused and all("mallory" in line for line in paused), paused
        finally:
            for student in students:
                if student.poll() is None:
                    student.kill()
                    student.wait(timeout=10)


# The start of the scripts below, run in a namespace with `python -c`: frame(obj) is a frame of the
# protocol; first(sock) the server's first answer as a word: "welcome", "error CODE" or "closed".
FIRST_ANSWER = """
import json, socket, struct, sys
def frame(obj):
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body
def first(sock):
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            return "closed"
        data += chunk
    said = json.loads(data[4:4 + struct.unpack(">I", data[:4])[0]])
    return said["type"] if said["type"] != "error" else "error " + said["code"]
"""

# A class at one address: argv host port count; each joins as a guest of its own (c0, c1...) on a
# connection of its own, all kept open; prints "welcome" or "error CODE" for each, in order.
A_CLASS_AT_ONE_ADDRESS = FIRST_ANSWER + """
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kept = []
for i in range(count):
    sock = socket.create_connection((host, port), timeout=10)
    kept.append(sock)
    sock.sendall(frame({"type": "hello", "name": f"c{i}", "version": 2}))
    print(first(sock), flush=True)
"""


def test_serve_max_per_address_lets_a_class_of_25_behind_one_address_in():
    """A class of 25 behind a school's NAT: the cap of 16 connections at once from one address
    kept 9 of them at the door, and no serve option raised it. `serve --max-per-address 25`
    lets all 25 in; the 26th is refused as before, saying the cap."""
    with _her_address() as (name, our_address):
        server = Proc("serve", "--headless", "--no-announce", "--no-history", "--host", our_address, "--port", "0", "--max-per-address", "25")
        try:
            port = server.expect(r"listening on port (\d+)").group(1)
            joined = subprocess.run(
                ["ip", "netns", "exec", name, sys.executable, "-c", A_CLASS_AT_ONE_ADDRESS, our_address, port, "26"],
                capture_output=True, env=child_env(), text=True, timeout=30,
            )  # fmt: skip
            said = joined.stdout.splitlines()
            assert said == ["welcome"] * 25 + ["error too-many-connections"], joined.stdout + joined.stderr
            logged = server.expect(r"too many connections from address [\d.]+ \(25 at once\).*").group(0)
            assert logged.endswith("refusing (a class behind one address? serve --max-per-address N raises the cap)"), logged
        finally:
            server.stop()


# mallory's script and her classmates, behind one address: argv host port. ann joins with her key
# and leaves; mallory opens connections until the address's new ones a minute are spent, each
# closed by the server before the next (as a script looping on `nc` would); then ann comes back with her key, cat comes with
# a key the room never saw, dee as a keyless guest. Prints what each is answered first.
CLASS_BEHIND_A_SCRIPT = """
import socket, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lanchat import events as ev, identity
from lanchat.protocol import Connection, Role
host, port = sys.argv[1], int(sys.argv[2])
def first_answer(name, key):
    sock = socket.create_connection((host, port), timeout=10)
    proto = Connection(Role.CLIENT)
    public = None if key is None else identity.b64(identity.public_bytes(key))
    sock.sendall(proto.send(ev.Hello(name=name, key=public)))
    while True:
        data = sock.recv(65536)
        proto.receive_data(data)
        for event in proto.events():
            if isinstance(event, ev.Challenge):
                nonce = identity.unb64(event.nonce, identity.NONCE_BYTES, "nonce")
                sock.sendall(proto.send(ev.Auth(signature=identity.b64(identity.sign_challenge(key, nonce)))))
                continue
            sock.close()
            if isinstance(event, ev.Error):
                return f"{name} {event.code} {event.message}"
            return f"{name} {event.type}"
        if not data:
            return f"{name} closed"
def known_then_keyless(name, key):  # her own key, seen, to get past the door; then a keyless guest
    sock = socket.create_connection((host, port), timeout=10)
    proto = Connection(Role.CLIENT)
    sock.sendall(proto.send(ev.Hello(name=name, key=identity.b64(identity.public_bytes(key)))))
    while True:
        data = sock.recv(65536)
        proto.receive_data(data)
        for event in proto.events():
            if isinstance(event, ev.Challenge):
                sock.sendall(proto.send(ev.Hello(name="guest")))
                continue
            sock.close()
            return f"guest {event.code} {event.message}" if isinstance(event, ev.Error) else f"guest {event.type}"
        if not data:
            return "guest closed"
ann, mallory = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
print(first_answer("ann", ann), flush=True)
print(first_answer("mallory", mallory), flush=True)
for _ in range(40):  # each told off and closed by the server (a hello of no version it speaks) before the next
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(Connection(Role.CLIENT).send(ev.Hello(name="m", version=99)))
    while sock.recv(65536):
        pass
    sock.close()
held = [socket.create_connection((host, port), timeout=10) for _ in range(16)]  # on credit, silent: the cap at once
print(first_answer("ann", ann), flush=True)
print(first_answer("cat", Ed25519PrivateKey.generate()), flush=True)
print(first_answer("dee", None), flush=True)
print(known_then_keyless("m2", mallory), flush=True)
proto, told = Connection(Role.CLIENT), []  # the oldest held gave its place to ann: what was it told?
while not told and (data := held[0].recv(65536)):
    proto.receive_data(data)
    told = [event for event in proto.events() if isinstance(event, ev.Error)]
print("held " + (f"{told[0].code} {told[0].message}" if told else "nothing"), flush=True)
joins = [first_answer("mallory", mallory) for _ in range(40)]  # her own key, seen, joining in a loop
print("mallory", sum(said == "mallory welcome" for said in joins), "of 40", flush=True)
def unproven(name, public):  # ann's key, which mallory's script cannot prove: a wrong signature
    sock, proto = socket.create_connection((host, port), timeout=10), Connection(Role.CLIENT)
    sock.sendall(proto.send(ev.Hello(name=name, key=public)))
    while data := sock.recv(65536):
        proto.receive_data(data)
        for event in proto.events():
            if isinstance(event, ev.Challenge):
                sock.sendall(proto.send(ev.Auth(signature=identity.b64(bytes(64)))))
            elif isinstance(event, ev.Error):
                sock.close()
                return event.code
    return "closed"
print("unproven", *sorted({unproven("ann", identity.b64(identity.public_bytes(ann))) for _ in range(40)}), flush=True)
print(first_answer("ann", ann), flush=True)
"""


def test_a_script_spending_its_addresss_new_connections_keeps_out_no_one_the_room_knows():
    """mallory, behind the school's NAT with her class, looped a script opening connections: 30 a
    minute is all one address may open (PROTOCOL.md, Abuse limits), and once her script had spent
    them every classmate there was refused ('too many new connections ... try again in 1 s'),
    ann coming back after a Wi-Fi blip too, for as long as it ran. A connection over that count is
    now let in on credit: its hello with an identity key the room has seen join goes on to the
    challenge (ann is back); one with a key never seen, or none, is refused as before, and so
    is mallory's own key, seen, that asks for a keyless guest once past the door. Nor can the
    script keep ann out by holding the 16 at once on credit, saying nothing (the oldest gives its
    place), join in a loop with its own key (a key's 30 a minute), or spend ann's by showing her
    key unproven (given back)."""
    with _her_address() as (name, our_address):
        server = Proc("serve", "--headless", "--no-announce", "--no-history", "--host", our_address, "--port", "0")
        try:
            port = server.expect(r"listening on port (\d+)").group(1)
            done = subprocess.run(
                ["ip", "netns", "exec", name, sys.executable, "-c", CLASS_BEHIND_A_SCRIPT, our_address, port],
                capture_output=True, env=child_env(), text=True, timeout=60,
            )  # fmt: skip
            said = done.stdout.splitlines()
            assert said[:3] == ["ann welcome", "mallory welcome", "ann welcome"], done.stdout + done.stderr
            refused = "too-many-connections too many new connections from "
            assert [line.split(" ", 1)[0] for line in said[3:7]] == ["cat", "dee", "guest", "held"], said
            assert all(line.split(" ", 1)[1].startswith(refused) for line in said[3:7]), said
            # her own key has its 30 a minute (a few more as they refill), not 600 joins a second
            assert said[7].startswith("mallory ") and 30 <= int(said[7].split()[1]) < 35, said
            assert said[8:] == ["unproven bad-signature", "ann welcome"], said  # ann's, shown unproven, spent none of hers
            assert "(30 a minute); try again in" in said[3], said
            server.expect(r"ann joined .*\n?", timeout=10)
            server.expect(r"too many new connections from [\d.]+ \(30 a minute\)")
            assert "cat joined" not in server.output and "dee joined" not in server.output
        finally:
            server.stop()


# mallory's laptop with many addresses: argv host port address... For each address, a guest
# (a0, a1...) joins from it and stays, and a second connection from it is refused at the door
# (the server's cap is one at once). Prints "welcome" / "error CODE" for each try, then "done".
MANY_ADDRESSES = FIRST_ANSWER + """
host, port, kept = sys.argv[1], int(sys.argv[2]), []
for number, address in enumerate(sys.argv[3:]):
    for again in (False, True):
        sock = socket.create_connection((host, port), timeout=10, source_address=(address, 0))
        kept.append(sock)
        sock.sendall(frame({"type": "hello", "name": f"a{number}", "version": 2}))
        print(first(sock), flush=True)
print("done", flush=True)
"""


@contextlib.contextmanager
def _many_addresses(spread: str, count: int) -> Iterator[tuple[str, str, list[str]]]:
    """(namespace, our IPv6 address, ``count`` of hers): mallory's laptop in a namespace of the
    test's own with ``count`` IPv6 addresses, ``spread`` "one /64" (unique local: each counted as
    an address of its own) or "many /64s" (a /48 routed to the link, each in a /64 of its own)."""
    tag = f"{os.getpid() % 0xFFFF:x}:{time.monotonic_ns() % 0xFFFF:x}"
    with network_namespace_or_skip() as (name, our_v4, _their_v4, their_link):
        ours_dev = subprocess.run(["ip", "-o", "addr", "show", "to", our_v4], capture_output=True, text=True,
                                  timeout=DEFAULT_TIMEOUT).stdout.split()[1]  # fmt: skip
        if spread == "one /64":
            ours, prefix = f"fd7a:{tag}::1", 64
            theirs = [f"fd7a:{tag}::{100 + n:x}" for n in range(count)]
        else:
            ours, prefix = f"2001:db8:{tag.split(':')[1]}::1", 48
            theirs = [f"2001:db8:{tag.split(':')[1]}:{n + 1:x}::2" for n in range(count)]
        added = subprocess.run(["ip", "addr", "add", f"{ours}/{prefix}", "dev", ours_dev, "nodad"], capture_output=True, text=True,
                               timeout=DEFAULT_TIMEOUT)  # fmt: skip
        if added.returncode != 0:
            pytest.skip(f"no IPv6 address can be given to the link here: {added.stderr.strip()}")
        for address in theirs:
            subprocess.run(["ip", "netns", "exec", name, "ip", "addr", "add", f"{address}/{prefix}", "dev", their_link, "nodad"],
                           check=True, timeout=DEFAULT_TIMEOUT)  # fmt: skip
        yield name, ours, theirs


@pytest.mark.parametrize("spread", ["one /64", "many /64s"])
def test_refusals_from_many_addresses_of_one_laptop_are_a_few_lines_on_the_hosts_screen(spread):
    """mallory gives her laptop 24 IPv6 addresses (of the LAN's /64, each its own address group
    there; or of 24 /64s, as a whole prefix routed to her) and from each one is refused at the
    door. The host's screen was told of each address's first refusal at once: 24 notices in a
    second pushed the lesson off the projector, and a script with more addresses wrote more. Now
    at most lim.HOST_TOLD_GROUPS addresses a minute are named on it; the refusals from the others
    are summed up in the next notice, with how many addresses they came from."""
    count = 24
    with _many_addresses(spread, count) as (name, ours, theirs):
        caps = lim.ConnectionLimits(max_per_address=1)
        with running_server(host=ours, limits=True, connection_limits=caps) as (server, endpoint):
            host = local_host(server, "teacher")
            mallory = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c", MANY_ADDRESSES, ours, str(endpoint.port), *theirs],
                                     capture_output=True, env=child_env(), text=True, timeout=60)  # fmt: skip
            assert mallory.stdout.splitlines() == ["welcome", "error too-many-connections"] * count + ["done"], mallory.stdout + mallory.stderr
            host.send(ev.Who())  # answered after every notice the refusals above sent the host
            notices = []
            while not isinstance(event := host.expect(object, timeout=30), ev.Roster):
                notices += [event] if isinstance(event, ev.Refused) else []
            assert 1 <= len(notices) <= lim.HOST_TOLD_GROUPS, [notice.reason for notice in notices]
            assert all(notice.code == ev.E_TOO_MANY for notice in notices)


# mallory guessing a room's password from many addresses: argv host port address...; from each,
# two guesses typed as at nc (a new name each). Prints "wrong" or "locked" for each, then "done".
GUESSES_FROM_MANY_ADDRESSES = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
for number, address in enumerate(sys.argv[3:]):
    for guess in range(2):
        sock = socket.create_connection((host, port), timeout=10, source_address=(address, 0))
        sock.sendall(f"\\nm{number}x{guess}\\ncoffee {guess}\\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        sock.close()
        print("locked" if b"too many wrong" in answer else "wrong" if b"wrong password" in answer else answer[-60:], flush=True)
print("done", flush=True)
"""


@pytest.mark.parametrize("spread", ["one /64", "many /64s"])
def test_wrong_passwords_from_many_addresses_of_one_laptop_are_a_few_lines_on_the_hosts_screen(spread):
    """mallory guesses the room's password from 24 addresses of her laptop, two guesses at each
    (each address its own count: a class behind one NAT address shares one). The host's screen
    was told of every wrong password: 48 lines in a second on the projector, and more with more
    addresses. As for refusals at the door, at most lim.HOST_TOLD_GROUPS addresses a minute are
    named on it now, the others summed up in the next; the server's log still has every one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat.identity import RoomPassword

    count = 24
    with _many_addresses(spread, count) as (name, ours, theirs):
        logged: list[str] = []
        with running_server(host=ours, password=RoomPassword.create("pw", bytes(range(16))), log=logged.append) as (server, endpoint):
            host = local_host(server, "teacher", key=Ed25519PrivateKey.generate(), password="pw")
            mallory = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c", GUESSES_FROM_MANY_ADDRESSES, ours,
                                      str(endpoint.port), *theirs], capture_output=True, env=child_env(), text=True, timeout=60)  # fmt: skip
            assert mallory.stdout.splitlines() == ["wrong"] * 2 * count + ["done"], mallory.stdout + mallory.stderr
            host.send(ev.Who())  # answered after every notice the guesses above sent the host
            notices = []
            while not isinstance(event := host.expect(object, timeout=30), ev.Roster):
                notices += [event] if isinstance(event, ev.Error) and event.code == ev.E_PASSWORD else []
            assert 1 <= len(notices) <= lim.HOST_TOLD_GROUPS, [notice.message for notice in notices]
            assert notices[0].message.startswith("wrong room password from "), notices[0].message
            assert sum("wrong room password" in line for line in logged) == 2 * count
