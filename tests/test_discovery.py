"""Finding the room: a server announces it, `rooms` lists it, `connect` with no address offers it.

The real thing, between network namespaces the tests create (tests/netlab.py): ann's server
runs in one, bob's commands in another, joined by a veth pair, so multicast DNS travels as on
a classroom LAN and nothing leaves the machine. Without root they skip, with the reason.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
from collections.abc import Iterator

import pytest
from helpers import Proc, SerialServer
from netlab import Lab

from lanchat.client_files import ClientTransfers
from lanchat.discovery import (
    SERVICE_TYPE,
    RoomInfo,
    free_label,
    name_taken_by,
    pick_address,
    room_from_record,
    txt_record,
)
from lanchat.unconfirmed import Unconfirmed

ANN = "198.18.0.1"
BOB = "198.18.0.2"


def classroom(lab: Lab, suffix: str = "") -> tuple[str, str]:
    """Two machines on one LAN: ann's (the server) and bob's (``suffix`` tells apart several such LANs)."""
    ann, bob = lab.namespace(f"A{suffix}"), lab.namespace(f"B{suffix}")
    lab.link(ann, f"{ANN}/24", bob, f"{BOB}/24")
    return ann, bob


def serve_room(lab: Lab, ns: str, *extra: str) -> tuple[object, int]:
    """`lanchat serve --headless` in ``ns``; waits until the room is announced; returns it and its port."""
    server = lab.run(ns, "serve", "--headless", "--port", "0", "--no-history", *extra)
    port = int(server.expect(r"listening on port (\d+)").group(1))
    if "--no-announce" not in extra:
        server.expect(r"announced as ")
    return server, port


def rooms_seen(lab: Lab, ns: str) -> list[dict]:
    done = lab.run_command(ns, sys.executable, "-m", "lanchat", "rooms", "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


# ------------------------------------------------------------ across the LAN


def test_a_room_announced_on_one_machine_is_listed_on_another(lab):
    ann, bob = classroom(lab)
    _server, port = serve_room(lab, ann, "--room", "ann's room", "--mode", "turn")
    rooms = rooms_seen(lab, bob)
    assert [(r["room"], r["address"], r["port"], r["mode"], r["password"]) for r in rooms] == [
        ("ann's room", ANN, port, "turn", False)
    ]
    listing = lab.run(bob, "rooms")
    assert listing.wait(15) == 0
    listing.expect(rf"1\. ann's room on {ANN}:{port} \(turn-based")
    listing.expect(rf"join with: lanchat connect {ANN} {port}$")


# A student's script: names of rooms that do not exist (PTR records alone, nothing to look
# them up by), sent to the LAN every 10 ms, so every browser hears them before the real room.
JUNK_ROOMS = r"""
import sys, time
from zeroconf import DNSOutgoing, DNSPointer, Zeroconf
SERVICE, PTR, IN, RESPONSE = "_lanchat._tcp.local.", 12, 1, 0x8400  # DNS's numbers (RFC 1035, 6762)
zeroconf = Zeroconf(interfaces=[sys.argv[1]])
print("sending", flush=True)
while True:
    out = DNSOutgoing(RESPONSE)
    for number in range(int(sys.argv[2])):
        out.add_answer_at_time(DNSPointer(SERVICE, PTR, IN, 4500, f"aaa junk {number:03d}.{SERVICE}"), 0)
    zeroconf.send(out)
    time.sleep(0.01)
"""


@pytest.mark.parametrize("junk", [5, 70], ids=["a-few-that-never-answer", "more-than-a-classroom"])
def test_names_of_rooms_that_do_not_exist_cannot_hide_the_real_room(lab, junk):
    """From the attacker's side: a script on the LAN announces names of rooms that never answer.
    `rooms` (and `connect` with no address) looked each name up in the order heard, up to 1 s
    each within 3 s, and kept the first 64 names: five such names, or seventy, and the class
    found no room at all. Every name whose records were heard is now read from what was heard
    first, however many others came, and only then are the silent ones asked for."""
    from helpers import Proc

    ann, bob = classroom(lab)
    _server, port = serve_room(lab, ann, "--room", "ann's room")
    flood = Proc(ANN, str(junk), program=["ip", "netns", "exec", ann, sys.executable, "-c", JUNK_ROOMS])
    lab.procs.append(flood)  # ended by the fixture
    flood.expect("sending")
    rooms = rooms_seen(lab, bob)
    assert [(r["room"], r["address"], r["port"]) for r in rooms] == [("ann's room", ANN, port)]


def test_connect_with_no_address_asks_to_join_the_only_room(lab):
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "ann's room")
    term = lab.term(bob, "connect", "--name", "bob", "--plain")
    term.expect(rf"join ann's room on {ANN}:{port}\? \[Y/n\]")
    term.send("\r")
    term.expect(r"welcome, bob")
    server.expect(r"bob joined")


def test_ctrl_c_at_the_join_question_says_interrupted_and_exits_130(lab):
    """Ctrl-C at "join ann's room? [Y/n]" exited 130 without a word, where every other prompt
    says "interrupted: not joining"."""
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "ann's room")
    term = lab.term(bob, "connect", "--name", "bob", "--plain")
    term.expect(rf"join ann's room on {ANN}:{port}\? \[Y/n\]")
    term.send("\x03")
    term.expect(r"lanchat: interrupted: not joining")
    assert term.wait() == 130
    assert "bob joined" not in server.output


def test_several_rooms_are_a_numbered_list_to_pick_from(lab):
    ann, bob = classroom(lab)
    _first, first_port = serve_room(lab, ann, "--room", "ann's room")
    second, second_port = serve_room(lab, ann, "--room", "zed's room")
    term = lab.term(bob, "connect", "--name", "bob", "--plain")
    term.expect(rf"1\. ann's room on {ANN}:{first_port}")
    term.expect(rf"2\. zed's room on {ANN}:{second_port}")
    term.expect(r"join which room\? \[1-2, Enter for none\]")
    term.send("7\r")
    term.expect(r"type a number from 1 to 2")
    term.send("2\r")
    term.expect(r"welcome, bob")
    second.expect(r"bob joined")


def test_without_a_terminal_the_only_room_is_joined_and_several_are_listed(lab):
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "ann's room")
    bob_proc = lab.run(bob, "connect", "--name", "bob")
    bob_proc.expect(rf"joining ann's room on {ANN}:{port}")
    bob_proc.expect(r"welcome, bob")
    bob_proc.send("/q")
    assert bob_proc.wait() == 0
    serve_room(lab, ann, "--room", "zed's room")
    cat = lab.run(bob, "connect", "--name", "cat")
    assert cat.wait(15) == 1
    cat.expect(r"2 rooms on the local network")
    cat.expect(r"several rooms: choose one with lanchat connect ADDRESS PORT")
    assert "welcome" not in cat.output  # complete: wait() read all cat wrote before it exited
    assert "cat joined" not in server.output


def test_a_room_named_like_an_address_and_tls_cannot_make_the_status_line_lie(lab):
    """eve's plain room on her laptop announces the name "maths at 198.51.100.7:3580 (TLS)": a
    student joining it read /address (the status line's part) "maths at 198.51.100.7:3580 (TLS)
    at EVE:PORT", an encrypted room at the teacher's address as far as its start told."""
    ann, bob = classroom(lab)
    lie = "maths at 198.51.100.7:3580 (TLS)"
    server, port = serve_room(lab, ann, "--room", lie)
    joined = lab.run(bob, "connect", "--name", "bob")
    joined.expect(rf"joining {re.escape(lie)} on {ANN}:{port}")
    joined.expect(r"welcome, bob")
    server.expect(r"bob joined")
    seen = joined.mark()
    joined.send("/address")
    said = joined.expect(r"connected to (.*)$", start=seen).group(1)
    assert said == f"{ANN}:{port}, the room {lie!r}", said  # the address first, the name quoted after it
    # the room lost and back at the same address: the rejoin took the bare address for another of
    # the room's ("back in the room, at another of its addresses: ..."), and the name went
    server.popen.kill()
    server.wait()
    back, _port = serve_room(lab, ann, "--room", lie, "--port", str(port))
    joined.expect(r"back in the room as bob", timeout=20, start=seen)
    seen = joined.mark()
    joined.send("/address")
    assert joined.expect(r"connected to (.*)$", start=seen).group(1) == said
    assert "another of its addresses" not in joined.output, joined.output
    joined.send("/q")
    assert joined.wait(15) == 0


def test_a_room_is_joined_by_the_name_rooms_lists_and_a_wrong_name_shows_those_there_are(lab):
    """`lanchat rooms` lists "friends on 198.18.0.1:3580"; a friend types `lanchat connect Friends`:
    it said "cannot find host 'Friends'" (and `connect "ann's room"`: that a host and its port are
    two words), then sent them to the doctor, which listed the very room."""
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "friends")
    wrong = lab.run(bob, "connect", "friendz", "--name", "cat")
    joined = lab.run(bob, "connect", "Friends", "--name", "bob")
    # how the name is not a machine depends on the namespace's resolver: none answering, or no such name
    joined.expect(r"looking for a room (of that name|called 'Friends') on the local network")
    joined.expect(rf"joining friends on {ANN}:{port}$")
    joined.expect(r"welcome, bob")
    server.expect(r"bob joined")
    joined.send("/address")  # which room this is (the status line's part): its name, not the address alone
    joined.expect(rf"connected to {ANN}:{port}, the room 'friends'$")
    assert wrong.wait(15) == 1
    wrong.expect(rf"1\. friends on {ANN}:{port}")
    wrong.expect(r"(no room is called 'friendz' either|'friendz' was not found: .*, and no room is called 'friendz'); join one "
                 r"of those above by its name or address$")
    assert "cat joined" not in server.output


def test_a_room_name_found_nowhere_says_the_same_and_exits_1_with_a_space_in_it_or_not(lab):
    """`connect "pizza nite"` on a LAN with no room exited 2 (a usage error's code) with "'pizza nite'
    is no address", and `connect pizza` 1 with "no machine is called 'pizza'": the same situation,
    a room not there. Both now say it alike and exit 1. The machine's resolver knows only its
    hosts file, so "no machine is called" is certain, as on a LAN whose name server says so."""
    ann, bob = classroom(lab)  # a LAN, but nobody serves on it
    lab.etc(bob, "nsswitch.conf", "hosts: files\n")
    lab.etc(bob, "hosts", "127.0.0.1 localhost\n")
    said = {}
    for typed in ("pizza nite", "pizza"):
        proc = lab.run(bob, "connect", typed, "--name", "bob", stdin=False)
        assert proc.wait(20) == 1, proc.output
        said[typed] = proc.output.replace(typed, "NAME")
        assert f"lanchat: no machine is called '{typed}', and no room is announced on the local network" in proc.output
        assert "Traceback" not in proc.output
    assert said["pizza nite"] == said["pizza"]


# The system's resolver with its name server out of reach (unplugged, a dead router's): every
# name fails at once with EAI_AGAIN, as getaddrinfo says it; an address is still no look-up.
NAME_SERVER_UNREACHABLE = """\
import socket, sys
real = socket.getaddrinfo
def unreachable(host, *args, **kwargs):
    if host is None or host.replace(".", "").isdigit() or ":" in host:
        return real(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
socket.getaddrinfo = unreachable
from lanchat.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_room_joined_by_name_with_the_name_server_out_of_reach_is_looked_for_first(lab):
    """`connect Friends` with the LAN's name server out of reach said "'Friends' was not found:
    the network's name server cannot be reached (is the network up?)" and then joined the room
    on that very network. The room is looked for first; the name server is spoken of only when
    no room is called so either."""
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "friends")
    program = ["ip", "netns", "exec", bob, sys.executable, "-c", NAME_SERVER_UNREACHABLE]
    joined = Proc("connect", "Friends", "--name", "bob", program=program)
    wrong = Proc("connect", "friendz", "--name", "cat", program=program)
    lab.procs += [joined, wrong]
    joined.expect(r"^lanchat: looking for a room called 'Friends' on the local network\.\.\.$")
    joined.expect(rf"joining friends on {ANN}:{port}$")
    joined.expect(r"welcome, bob")
    server.expect(r"bob joined")
    joined.send("/address")  # which room this is (the status line's part): its name, not the address alone
    joined.expect(rf"connected to {ANN}:{port}, the room 'friends'$")
    assert "name server" not in joined.output
    assert wrong.wait(15) == 1
    wrong.expect(r"^lanchat: looking for a room called 'friendz' on the local network\.\.\.$")
    wrong.expect(rf"1\. friends on {ANN}:{port}")
    wrong.expect(r"^lanchat: 'friendz' was not found: the network's name server cannot be reached \(is the network up\?\), "
                 r"and no room is called 'friendz'; join one of those above by its name or address$")
    assert "cat joined" not in server.output
    # the doctor alike: it failed 'cannot find host', fix 'use the numeric address', the room listed below
    doctor = Proc("doctor", "--json", "Friends", str(port), "--wait", "3", stdin=False, program=program)
    lab.procs.append(doctor)
    code = doctor.wait(30)
    checks = {check["name"]: check for check in json.loads(doctor.output)["checks"]}
    assert code == (1 if any(check["status"] == "fail" for check in checks.values()) else 0), checks
    assert checks["server"]["status"] == "info", checks["server"]
    assert checks["server"]["summary"] == ("the network's name server cannot say whether a machine is called 'Friends', but a "
                                           f"room announced here is ({ANN}:{port})"), checks["server"]
    assert "`lanchat connect Friends` joins it" in checks["server"]["fix"]


# A name server that never answers (a LAN party's router whose DNS forwarder has no internet to
# ask): it reads every query and says nothing, for a bounded time. The machine's resolver is
# pointed at it by the namespace's own resolv.conf (`ip netns exec` binds /etc/netns/NS/ over /etc/).
SILENT_NAME_SERVER = """\
import socket, sys, time
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))
sock.settimeout(1.0)
print("listening", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    try:
        sock.recv(4096)
    except socket.timeout:
        pass
"""


@contextlib.contextmanager
def silent_name_server(lab: Lab, ns: str) -> Iterator[None]:
    """``ns``'s resolver asks a name server in ``ns`` that reads and never answers; removed after."""
    import os
    import shutil

    folder = f"/etc/netns/{ns}"
    try:
        os.makedirs(folder)
    except OSError as exc:  # (a read-only /etc: the namespace cannot have a resolver of its own)
        pytest.skip(f"cannot give the namespace its own resolv.conf: {exc}")
    try:
        with open(f"{folder}/resolv.conf", "w") as conf:
            # glibc gives up on a silent name server after its own 5 s x 2 tries, racing lanchat's 10 s
            # (it said "cannot be reached" then): its own wait is made longer, so lanchat's is the one met
            conf.write("nameserver 127.0.0.1\noptions timeout:30 attempts:1\n")
        silent = Proc("60", program=["ip", "netns", "exec", ns, sys.executable, "-c", SILENT_NAME_SERVER], stdin=False)
        lab.procs.append(silent)  # ended by the fixture, and by itself after 60 s
        silent.expect("listening")
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir("/etc/netns")  # only if no one else's is there


def test_a_room_joined_by_name_is_not_kept_waiting_by_a_name_server_that_never_answers(lab):
    """`connect Friends` on a LAN whose name server reads queries and never answers waited the
    look-up's whole 10 s ("looking up 'Friends' (the network's name server is slow to answer;
    Ctrl-C stops)..."), then looked for the room and joined it. The room is looked for as soon
    as the name server is slow, and joined when found: the name server is not waited for. A
    name no room has still waits for it, and the rooms found meanwhile are listed."""
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "friends")
    with silent_name_server(lab, bob):
        joined = lab.run(bob, "connect", "Friends", "--name", "bob")
        wrong = lab.run(bob, "connect", "friendz", "--name", "cat")
        joined.expect(r"^lanchat: looking up 'Friends' \(the network's name server is slow to answer; looking for a room of "
                      r"that name on the local network meanwhile; Ctrl-C stops\)\.\.\.$", timeout=15)
        joined.expect(rf"^lanchat: joining friends on {ANN}:{port}$")
        joined.expect(r"welcome, bob")
        server.expect(r"bob joined")
        # the name server's 10 s were not waited out: its giving up, and the search after it, were never said
        assert "did not answer" not in joined.output and "looking for a room called" not in joined.output, joined.output
        assert wrong.wait(30) == 1
    wrong.expect(rf"1\. friends on {ANN}:{port}")
    wrong.expect(r"^lanchat: 'friendz' was not found: the network's name server did not answer in 10 s \(is the network "
                 r"up\?\), and no room is called 'friendz'; join one of those above by its name or address$")
    assert "looking for a room called" not in wrong.output, wrong.output  # (looked for once, while the name server was silent)
    assert "cat joined" not in server.output


def test_a_room_whose_one_word_name_reads_as_a_mistyped_address_is_still_joined_by_it(lab):
    """A room may be called 'team@lab' (and serve prints `lanchat connect team@lab-2` for one it
    renamed): `connect team@lab` looked for it and joined, until 'NAME@HOST' became a mistyped
    address ('did you mean: ... connect lab --name team'), refused at once. Now the room of that
    name is looked for first; the suggestion is the last word only when there is none."""
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "team@lab")
    joined = lab.run(bob, "connect", "team@lab", "--name", "bob")
    joined.expect(rf"joining team@lab on {ANN}:{port}$")
    joined.expect(r"welcome, bob")
    server.expect(r"bob joined")
    wrong = lab.run(bob, "connect", "cat@lab", "--name", "cat")
    assert wrong.wait(15) == 2
    wrong.expect(r"no room is called 'cat@lab' either; join one of those above by its name or address$")
    wrong.expect(r"^  did you mean: python -m lanchat connect lab --name cat$")
    assert "cat joined" not in server.output
    # Room,2 is a room's name, never host Room's port 2 (a system port, which `serve` takes only as
    # root): after the search, "did you mean: python -m lanchat connect Room 2" was the last word
    room = lab.run(bob, "connect", "Room,2", "--name", "dan")
    assert room.wait(15) == 1
    room.expect(r"no room is called 'Room,2'.*; join one of those above by its name or address$")
    assert "did you mean" not in room.output and "two words" not in room.output, room.output


@pytest.mark.parametrize(
    ("typed", "port", "found"),
    [("ann's room", None, ["ann's room"]), ("ANN'S   Room", None, ["ann's room"]), ("maths 3b", 4000, ["maths 3B"]),
     ("maths 3B", 3580, []), ("ann", None, [])],
)
def test_a_room_called_as_typed_ignores_capitals_and_spaces(typed, port, found):
    from lanchat.discovery import rooms_called

    rooms = [RoomInfo(name="ann's room", host="a", addresses=(ANN,), port=3580), RoomInfo(name="maths 3B", host="b", addresses=(BOB,), port=4000)]
    assert [room.name for room in rooms_called(rooms, typed, port)] == found


@pytest.mark.parametrize(
    ("typed", "room"),
    [("ann's room", True), ("maths 3B", True), ("192.168.1.20 3580", False), ("nc 10.0.0.5 4000", False), ("friends", False),
     ("192.168.1.20 358O", False), ("192.168.1.2O 3580", False)],  # a letter O for a zero: a typo, never a room's name
)
def test_what_looks_like_a_room_name_and_not_a_host_with_its_port(typed, room):
    from lanchat.discovery import looks_like_a_room_name

    assert looks_like_a_room_name(typed) is room


def test_no_room_anywhere_says_what_to_try(lab):
    _ann, bob = classroom(lab)
    proc = lab.run(bob, "connect", "--name", "bob")
    assert proc.wait(15) == 1
    proc.expect(r"no lanchat room found on the local network")
    proc.expect(r"lanchat connect ADDRESS PORT")
    proc.expect(r"lanchat doctor")
    # what a student reads first, on an 80-column terminal: it cut 'hi' / 'des every room'
    too_wide = [line for line in proc.lines if len(line) > 80 and "a new identity key" not in line]
    assert not too_wide, too_wide
    rooms = lab.run(bob, "rooms")
    assert rooms.wait(15) == 1
    rooms.expect(r"no lanchat room found")


def test_two_machines_with_the_same_name_on_the_default_port_are_two_rooms(lab):
    """A school lab's machines come from one image, all called the same (as these namespaces
    are): two of them serving on port 3580 announced the same mDNS host name, so bob's list
    merged them into one room with both addresses, and `connect` joined either. The fixed port
    is safe: each server is inside a namespace of this test's own."""
    ann, bob, cat = lab.namespace("A"), lab.namespace("B"), lab.namespace("C")
    lab.switch((ann, f"{ANN}/24"), (bob, f"{BOB}/24"), (cat, "198.18.0.3/24"))
    announced = {}
    for ns, address in ((ann, ANN), (cat, "198.18.0.3")):
        server = lab.run(ns, "serve", "--headless", "--no-history", "--room", "lab room")
        server.expect(r"listening on port 3580")
        announced[address] = server.expect(r"announced as '(.*)' on the local network").group(1)
    assert sorted(announced.values()) == ["lab room", "lab room-2"]  # multicast DNS renamed the second
    # and the second's log says why, and the name its students type: not only "announced as 'lab room-2'"
    renamed = next(ns_server for ns_server in lab.procs if "'lab room-2'" in ns_server.output)
    renamed.expect(r"announced as 'lab room-2' on the local network: another room here is called 'lab room' already, "
                   r"so `lanchat connect \"lab room-2\"` joins this one by name")
    rooms = rooms_seen(lab, bob)
    assert sorted((r["address"], r["addresses"]) for r in rooms) == [(ANN, [ANN]), ("198.18.0.3", ["198.18.0.3"])], rooms
    # and each is listed under the name its host's screen shows, not as two "lab room"s
    assert {r["address"]: r["room"] for r in rooms} == announced


def test_two_rooms_whose_names_differ_only_in_capitals_are_both_listed(lab):
    """The class next door's teacher called her room "Maths 3B", ours "maths 3B": multicast DNS
    names ignore capitals, zeroconf's probe did not, so the second was announced unrenamed and
    bob's list (its cache ignores capitals) showed only one of the two rooms."""
    ann, bob, cat = lab.namespace("A"), lab.namespace("B"), lab.namespace("C")
    lab.switch((ann, f"{ANN}/24"), (bob, f"{BOB}/24"), (cat, "198.18.0.3/24"))
    first, first_port = serve_room(lab, ann, "--room", "Maths 3B")
    second, second_port = serve_room(lab, cat, "--room", "maths 3B")
    first.expect(r"announced as 'Maths 3B' on the local network")
    # the other room named as it spells itself: it read "another room here is called 'maths 3B'"
    second.expect(r"announced as 'maths 3B-2' on the local network: another room here is called 'Maths 3B' already")
    rooms = rooms_seen(lab, bob)
    assert sorted((r["room"], r["address"], r["port"]) for r in rooms) == [
        ("Maths 3B", ANN, first_port), ("maths 3B-2", "198.18.0.3", second_port)], rooms


def test_two_rooms_of_one_name_started_at_the_same_moment_are_still_told_apart(lab):
    """Two friends each started a room, "pizza night" and "Pizza Night", within a second of each
    other: neither heard the other in its listen, zeroconf's probe settles no such tie, and both
    were announced under the one name for as long as they ran. Each one's log said "announced as"
    its own name; bob's `lanchat rooms` listed both with one spelling, "mode unknown, password
    unknown", and `connect "pizza night"` joined neither. Now the one whose host label is the
    greater takes the next free name once it hears the other, and says so, as a second room started
    later does. (Started at the same moment the two tie most times, not always: when they do not,
    the listen renames the second, and the end is the same.)"""
    ann, bob, cat = lab.namespace("A"), lab.namespace("B"), lab.namespace("C")
    lab.switch((ann, f"{ANN}/24"), (bob, f"{BOB}/24"), (cat, "198.18.0.3/24"))
    from helpers import wait_for

    servers = {address: lab.run(ns, "serve", "--headless", "--no-history", "--room", room)
               for ns, address, room in ((ann, ANN, "pizza night"), (cat, "198.18.0.3", "Pizza Night"))}
    for server in servers.values():
        server.expect(r"announced as ")

    def names() -> dict[str, str]:  # each room's address: the name its log last said it is announced as
        return {address: ([""] + re.findall(r"announced as '(.*?)' on the local network", server.output))[-1]
                for address, server in servers.items()}

    wait_for(lambda: sorted(names().values()) in (["Pizza Night", "pizza night-2"], ["Pizza Night-2", "pizza night"]),
             what="one of the two renamed")
    second = next(server for server in servers.values() if "-2' on the local network" in server.output)
    second.expect(r"announced as '(pizza night|Pizza Night)-2' on the local network: another room here is called "
                  r"'(Pizza Night|pizza night)' already")
    announced = names()
    rooms = wait_for(lambda: (seen := rooms_seen(lab, bob)) and {r["address"]: r["room"] for r in seen} == announced and seen,
                     what="bob's list to show each room under its own name")
    assert all(r["mode"] == "duplex" for r in rooms), rooms  # each one's own record, not "mode unknown"


@pytest.mark.parametrize(("label", "taken", "free"), [
    ("lab room", [], "lab room"),
    ("lab room", [f"LAB Room.{SERVICE_TYPE}"], "lab room-2"),
    ("lab room", [f"lab room.{SERVICE_TYPE}", f"Lab Room-2.{SERVICE_TYPE}", f"other.{SERVICE_TYPE}"], "lab room-3"),
    ("lab room", [f"lab room-2.{SERVICE_TYPE}"], "lab room"),
    ("é" * 31 + "x", ["É" * 31 + "X." + SERVICE_TYPE], "é" * 30 + "-2"),  # still one DNS label (63 bytes)
    # capitals as zeroconf's cache folds them (str.lower), not casefold: "Straße" and "Strasse"
    # are two names there, both kept, so "Straße" needs no "-2"
    ("Straße", [f"Strasse.{SERVICE_TYPE}"], "Straße"),
    ("Strasse", [f"STRASSE.{SERVICE_TYPE}"], "Strasse-2"),
    ("ΣΟΦΙΑ", [f"σοφια.{SERVICE_TYPE}"], "ΣΟΦΙΑ-2"),
])
def test_an_announced_name_is_free_ignoring_capitals_and_stays_one_dns_label(label, taken, free):
    assert free_label(label, taken) == free


@pytest.mark.parametrize(("label", "taken", "other"), [
    ("friends", [], None),
    ("friends", [f"Friends.{SERVICE_TYPE}"], "Friends"),
    ("friends", [f"other.{SERVICE_TYPE}", f"FRIENDS.{SERVICE_TYPE}"], "FRIENDS"),
    ("friends", [f"friends-2.{SERVICE_TYPE}"], None),
])
def test_the_room_that_took_a_name_is_named_as_it_spells_itself(label, taken, other):
    assert name_taken_by(label, taken) == other


def test_a_laptop_on_two_networks_each_with_a_lab_room_lists_both(lab):
    """bob's laptop is on two networks (Wi-Fi and a cable), each with its own "lab room" on port
    3580: the two servers never share a link, so neither is renamed, and zeroconf's cache (keyed
    by the name) read both machines' records as one room: one of them was never listed. Each
    machine is a room now; their details (one has TLS) cannot be told apart, so none is pinned.
    The fixed port is safe: each server is inside a namespace of this test's own."""
    ann, bob, eve = lab.namespace("A"), lab.namespace("B"), lab.namespace("E")
    lab.link(ann, f"{ANN}/24", bob, f"{BOB}/24")
    lab.ip(bob, "link", "add", "lan1", "type", "veth", "peer", "name", "lan0", "netns", eve)
    for ns, address, end in ((bob, "198.19.0.2/24", "lan1"), (eve, "198.19.0.1/24", "lan0")):
        lab.ip(ns, "addr", "add", address, "dev", end)
        lab.ip(ns, "link", "set", end, "up")
    lab.ip(eve, "route", "add", "224.0.0.0/4", "dev", "lan0")
    servers = [lab.run(ns, "serve", "--headless", "--no-history", "--room", "lab room", *extra)
               for ns, extra in ((ann, ["--tls"]), (eve, []))]  # fmt: skip
    for server in servers:
        server.expect(r"announced as 'lab room' on the local network")
    rooms = rooms_seen(lab, bob)
    assert sorted((r["room"], r["address"], r["port"], r["fingerprint"]) for r in rooms) == [
        ("lab room", ANN, 3580, None), ("lab room", "198.19.0.1", 3580, None)], rooms


def test_no_announce_keeps_a_room_off_the_list(lab):
    ann, bob = classroom(lab)
    serve_room(lab, ann, "--room", "quiet room", "--no-announce")
    _loud, port = serve_room(lab, ann, "--room", "loud room")  # proves the browse itself works
    assert [(r["room"], r["port"]) for r in rooms_seen(lab, bob)] == [("loud room", port)]


def test_a_stopped_server_says_goodbye_and_leaves_the_list(lab):
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "ann's room")
    assert [r["port"] for r in rooms_seen(lab, bob)] == [port]
    server.popen.terminate()
    assert server.wait(15) == 0
    assert rooms_seen(lab, bob) == []


def test_with_a_server_on_this_machine_connect_joins_it_and_says_so(lab):
    """Before discovery, `connect` alone meant 127.0.0.1:3580; it still does when a server answers there.
    The fixed port is safe: it is inside a namespace of this test's own."""
    ns = lab.namespace("L")
    server = lab.run(ns, "serve", "--headless", "--host", "127.0.0.1", "--port", "3580", "--no-history")
    server.expect(r"listening on port 3580")
    bob = lab.run(ns, "connect", "--name", "bob")
    bob.expect(r"no address given: joining the server on this machine, 127\.0\.0\.1:3580")
    bob.expect(r"welcome, bob")
    bob.stop()
    server.stop()  # its whole log, late lines of a background announcement included
    assert "announc" not in server.output  # a loopback-only server is not announced


def test_with_no_address_a_student_slow_to_type_their_name_still_joins(lab):
    """`lanchat connect` alone, the Quick start's command: the server on this machine answered,
    and "Your name:" was asked on that open connection, which the server closes 20 s after
    connecting when no hello came. A student who took longer (a lab's first lesson: a name to
    choose) typed it and read "the server refused to let us in: no hello within 20 s". The
    connection that sat too long is replaced. Port 3580 is safe: the namespace is this test's own."""
    ns = lab.namespace("L")
    server = lab.run(ns, "serve", "--headless", "--host", "127.0.0.1", "--port", "3580", "--no-history")
    server.expect(r"listening on port 3580")
    bob = lab.term(ns, "connect", rows=24, cols=80)
    bob.expect(r"Your name")
    server.expect(r"no hello within 20 s", timeout=40)  # the person still thinking: that connection is gone
    bob.send("bob\r")
    bob.expect(r"welcome, bob")
    server.expect(r"bob joined")
    bob.stop()
    server.stop()


def test_serve_prints_the_default_route_interface_before_a_docker_bridge(lab):
    ann, bob = classroom(lab)
    lab.ip(ann, "link", "add", "docker0", "type", "veth", "peer", "name", "dockerpeer")  # a bridge-like extra
    lab.ip(ann, "addr", "add", "172.17.0.1/16", "dev", "docker0")
    lab.ip(ann, "link", "set", "docker0", "up")
    lab.ip(ann, "link", "set", "dockerpeer", "up")
    lab.ip(ann, "route", "add", "default", "via", BOB)
    server = lab.run(ann, "serve", "--headless", "--port", "0", "--no-history", "--no-announce")
    port = server.expect(r"listening on port (\d+)").group(1)
    server.expect(r"127\.0\.0\.1")  # the whole list is out
    joins = [line.split()[-2] for line in server.lines if "lanchat connect" in line]
    assert joins == [ANN, "172.17.0.1", "127.0.0.1"], server.output
    assert port


# ------------------------------------------------ what an announcement may say


def test_the_txt_record_round_trips():
    pin = "SHA256:TL2x6B3Hy/Zzhuw1ilRxwsaouihEqk4EjcGEaFhSaNg"
    record = txt_record(room="ann's room", host="annlaptop", mode="turn", password=True, fingerprint=pin)
    raw = {k.encode(): v.encode() for k, v in record.items()}
    room = room_from_record(f"ann's room.{SERVICE_TYPE}", ["198.18.0.1"], 3580, raw)
    assert room == RoomInfo(name="ann's room", host="annlaptop", addresses=("198.18.0.1",), port=3580, mode="turn",
                            password=True, fingerprint=pin)
    assert room.describe() == "ann's room on 198.18.0.1:3580 (turn-based, password needed, TLS 4cbd b1e8 1dc7 cbf6, host annlaptop)"


def _txt(**fields: str) -> bytes:
    """A TXT record's bytes as on the wire: each ``key=value`` after its length."""
    return b"".join(bytes([len(item)]) + item for item in (f"{key}={value}".encode() for key, value in fields.items()))


def test_rooms_of_one_name_on_two_machines_whose_details_differ_say_their_password_and_mode_are_unknown():
    """A laptop on two networks hears a "lab room" on each (discovery._each_machine): which TXT
    record is whose cannot be told when they differ, so each room was listed with pw "0", and
    the room that needs a password showed as one that does not. Its password is unknown now
    (None: "password unknown" in the list, null in `rooms --json`). So is its mode: both were
    listed as full-duplex where one is turn-based ("mode unknown", null). Read from a real
    zeroconf cache holding both machines' records, as a browse leaves it; no network."""
    import socket
    import types

    from zeroconf import DNSAddress, DNSCache, DNSService, DNSText

    from lanchat import discovery

    name = f"lab room.{SERVICE_TYPE}"
    cache = DNSCache()
    for server, address, fields in (
        ("ann.local.", "198.18.0.1", {"v": "1", "room": "lab room", "host": "ann", "mode": "turn", "pw": "1"}),
        ("eve.local.", "198.19.0.1", {"v": "1", "room": "lab room", "host": "eve", "mode": "duplex", "pw": "0"}),
    ):
        cache.async_add_records([
            DNSService(name, discovery._DNS_SRV, discovery._DNS_IN, 120, 0, 0, 3580, server),
            DNSText(name, discovery._DNS_TXT, discovery._DNS_IN, 4500, _txt(**fields)),
            DNSAddress(server, discovery._DNS_A, discovery._DNS_IN, 120, socket.inet_aton(address)),
        ])  # fmt: skip
    as_read = room_from_record(name, ["198.19.0.1"], 3580, {b"room": b"lab room", b"pw": b"0"})  # one of the two
    assert as_read is not None
    rooms = discovery._each_machine(types.SimpleNamespace(cache=cache), name, as_read)
    assert sorted((room.address, room.password, room.mode) for room in rooms) == [("198.18.0.1", None, None),
                                                                                   ("198.19.0.1", None, None)]
    assert rooms[0].describe() == f"lab room on {rooms[0].address}:3580 (mode unknown, password unknown)"
    same = DNSCache()  # one TXT record for both: its details are theirs, as before
    for server, address in (("ann.local.", "198.18.0.1"), ("eve.local.", "198.19.0.1")):
        same.async_add_records([
            DNSService(name, discovery._DNS_SRV, discovery._DNS_IN, 120, 0, 0, 3580, server),
            DNSText(name, discovery._DNS_TXT, discovery._DNS_IN, 4500, _txt(v="1", room="lab room", pw="1")),
            DNSAddress(server, discovery._DNS_A, discovery._DNS_IN, 120, socket.inet_aton(address)),
        ])  # fmt: skip
    told = room_from_record(name, ["198.19.0.1"], 3580, {b"room": b"lab room", b"pw": b"1"})
    assert told is not None
    assert [(room.password, room.mode) for room in discovery._each_machine(types.SimpleNamespace(cache=same), name, told)] == [
        (True, "duplex"), (True, "duplex")]


def test_a_hostile_announcement_is_cut_down_and_made_harmless():
    raw = {
        b"room": b"\x1b]0;pwned\x07evil\x1b[2J" + b"x" * 500,
        b"host": b"\xff\xfe\x1b[31m",
        b"mode": b"chaos",
        b"fp": b"not a fingerprint",
        b"pw": None,
    }
    room = room_from_record(f"x.{SERVICE_TYPE}", ["198.18.0.1", "not an address"], 3580, raw)
    assert room is not None
    assert "\x1b" not in room.name + room.host and "\x07" not in room.name
    assert len(room.name) <= 40
    assert room.mode == "duplex" and room.fingerprint is None and room.password is False
    assert room.addresses == ("198.18.0.1",)


@pytest.mark.parametrize(("addresses", "port"), [([], 3580), (["bogus"], 3580), (["198.18.0.1"], 0), (["198.18.0.1"], None)])
def test_an_announcement_nobody_could_join_is_skipped(addresses, port):
    assert room_from_record(f"x.{SERVICE_TYPE}", addresses, port, {}) is None


def test_the_address_on_our_own_network_is_tried_first():
    import ipaddress

    room = RoomInfo(name="r", host="h", addresses=("172.17.0.1", "fd00::5", "198.18.0.1"), port=1)
    mine = pick_address(room, [ipaddress.ip_network("198.18.0.0/24")])
    assert mine.address == "198.18.0.1"
    assert pick_address(room, []).addresses == ("172.17.0.1", "198.18.0.1", "fd00::5")


def test_a_host_at_the_full_screen_is_announced_and_its_screen_stays_clean(lab):
    from helpers import wait_for

    ann, bob = classroom(lab)
    host = lab.term(ann, "serve", "--port", "0", "--name", "ann", "--no-history", "--room", "ann's room")
    host.expect(r"announcing .ann's room. on the local network")
    found = wait_for(lambda: rooms_seen(lab, bob), timeout=30, what="the host's room to be announced")
    assert [(r["room"], r["address"]) for r in found] == [("ann's room", ANN)]
    assert "zeroconf" not in host.text.lower() and "Traceback" not in host.text
    host.send("/q\r")
    assert host.wait() == 0


def test_the_hosts_screen_says_when_its_room_is_announced_under_another_name(lab):
    """Another room on the network already had the name (the class next door's teacher, also
    'teacher's room'; a student's prank room): multicast DNS announced the host's as "... -2" and
    her full screen never said so, still saying "announcing 'lab room'", so students typing
    `lanchat connect "lab room"` from the board joined the other room."""
    ann, _bob = classroom(lab)
    serve_room(lab, ann, "--room", "lab room")
    host = lab.term(ann, "serve", "--port", "0", "--name", "ann", "--no-history", "--room", "lab room", cols=200)
    host.expect(r"-!- another room on this network is called 'lab room' already: this one is announced as 'lab room-2'; "
                r"`lanchat connect \"lab room-2\"` joins it by name", timeout=15)
    host.send("/address\r")
    host.expect(r"announcing 'lab room-2' on the local network")
    host.send("/q\r")
    assert host.wait() == 0


def test_the_hosts_screen_names_the_other_room_as_it_is_spelt(lab):
    """A renamed host's screen said "another room on this network is called 'friends' already"
    when the other was 'Friends' (names clash ignoring capitals): the host looked for a room of
    her own spelling, and found none."""
    ann, _bob = classroom(lab)
    serve_room(lab, ann, "--room", "Friends")
    host = lab.term(ann, "serve", "--port", "0", "--name", "ann", "--no-history", "--room", "friends", cols=200)
    host.expect(r"-!- another room on this network is called 'Friends' already: this one is announced as 'friends-2'; ",
                timeout=15)
    host.send("/q\r")
    assert host.wait() == 0


def test_a_tls_room_is_announced_with_its_fingerprint_and_joined_pinned_to_it(lab):
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "safe room", "--tls")
    pin = server.expect(r"fingerprint is (SHA256:\S+)").group(1)
    [room] = rooms_seen(lab, bob)
    assert (room["room"], room["fingerprint"]) == ("safe room", pin)
    bob_proc = lab.run(bob, "connect", "--name", "bob")  # no address, no --fingerprint: the announcement's
    bob_proc.expect(rf"joining safe room on {ANN}:{port}")
    bob_proc.expect(r"welcome, bob")
    assert "not seen before" not in bob_proc.output  # pinned, so nobody is asked to trust it
    # the fingerprint to compare with the teacher's board (README), and no --fingerprint bob never typed
    bob_proc.expect(r"the room announced its TLS fingerprint \(compare it with the host's\):$")
    bob_proc.expect(rf"^  {re.escape(pin)}$")
    assert "--fingerprint" not in bob_proc.output, bob_proc.output


# ------------------------------------------------------------ the host's laptop moves

MOVED = "198.18.0.5"


def move_the_host(lab: Lab, ns: str) -> None:
    """ann's laptop leaves the Wi-Fi and comes back with another lease (its multicast route stays)."""
    lab.ip(ns, "addr", "del", f"{ANN}/24", "dev", "lan0")
    lab.ip(ns, "addr", "add", f"{MOVED}/24", "dev", "lan0")


def test_an_impostor_announcing_the_room_where_it_was_with_another_certificate_is_refused(lab):
    """bob had joined the TLS room "safe room" at ann's address (its fingerprint remembered); it
    stopped, and a classmate served "safe room" with TLS of their own at that address and port.
    `connect "safe room"` pinned the impostor's announced fingerprint, joined, and wrote it over
    the one bob had trusted. Refused now, loudly, and the trusted one kept."""
    from pathlib import Path

    from helpers import Proc, child_env

    from lanchat.tls import KnownServers, fingerprint

    ann, bob = classroom(lab)
    impostor, port = serve_room(lab, ann, "--room", "safe room", "--tls")
    fake_pin = impostor.expect(r"fingerprint is (SHA256:\S+)").group(1)
    env = child_env()
    known_file = Path(env["XDG_DATA_HOME"]) / "lanchat" / "known_servers"
    real_pin = fingerprint(b"the real room's certificate")
    KnownServers(known_file).remember(f"{ANN}:{port}", real_pin)  # as bob's join of the real room left it
    bob_proc = Proc("connect", "safe room", "--name", "bob", stdin=False, env=env, program=lab.program(bob))
    lab.procs.append(bob_proc)
    assert bob_proc.wait(20) == 1
    output = bob_proc.output
    assert "has CHANGED" in output and real_pin in output and fake_pin in output and "welcome" not in output, output
    assert known_file.read_text().split() == [f"{ANN}:{port}", real_pin]
    assert "bob joined" not in impostor.output


def test_an_impostor_announcing_the_room_at_a_new_address_is_refused_with_or_without_tls(lab):
    """bob had joined the TLS room "safe room" by its name; it stopped, and eve, on the same LAN,
    served "safe room" at her own address with her own certificate. Nothing was remembered for
    her address, so `connect "safe room"` pinned her announced fingerprint, trusted it without a
    question and joined her room; served without TLS, it was joined in the clear. The room's
    name now remembers the fingerprint bob trusted (known_rooms, as his join left it): her
    certificate is refused as changed, both fingerprints shown, and her plain room refused as a
    TLS room without TLS. Nothing of bob's reaches her room either way."""
    from pathlib import Path

    from helpers import Proc, child_env

    from lanchat.tls import KnownServers, fingerprint

    eve, bob = classroom(lab)
    env = child_env()  # bob's data folder, the same for both connects
    real_pin = fingerprint(b"the real room's certificate")
    known = KnownServers(Path(env["XDG_DATA_HOME"]) / "lanchat" / "known_servers")
    known.remember("198.18.0.9:3580", real_pin)  # as bob's join of the real room, elsewhere, left them
    known.rooms.remember("safe room", real_pin)

    def bob_connects(port: int) -> str:
        proc = Proc("connect", "Safe Room", "--name", "bob", stdin=False, env=env, program=lab.program(bob))
        lab.procs.append(proc)
        proc.expect(rf"joining safe room on {ANN}:{port}", timeout=20)
        assert proc.wait(20) == 1
        assert "welcome" not in proc.output, proc.output
        return proc.output

    impostor, port = serve_room(lab, eve, "--room", "safe room", "--tls")
    fake_pin = impostor.expect(r"fingerprint is (SHA256:\S+)").group(1)
    output = bob_connects(port)
    assert "the room 'safe room' has CHANGED" in output and real_pin in output and fake_pin in output, output
    impostor.stop()
    plain, port = serve_room(lab, eve, "--room", "safe room")
    output = bob_connects(port)
    assert "yet the room 'safe room' used TLS when you joined it before" in output, output
    plain.stop()
    assert "bob" not in impostor.output + plain.output, impostor.output + plain.output
    assert known.rooms.lookup("safe room") == real_pin and known.lookup(f"{ANN}:{port}") is None


def test_a_tls_room_joined_by_the_boards_address_and_fingerprint_is_remembered_by_its_name(lab):
    """The README's class set-up, `connect ADDRESS --tls --fingerprint SHA256:...` from the board:
    bob's client recognises the room in its announcement and remembers its name with the
    certificate pinned (known_rooms), so a later `connect "maths"` holds to it (refused as
    changed elsewhere: test_an_impostor_announcing_the_room_at_a_new_address_is_refused...)."""
    from pathlib import Path

    from helpers import Proc, child_env, wait_for

    from lanchat.tls import KnownServers

    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "maths", "--tls")
    pin = server.expect(r"fingerprint is (SHA256:\S+)").group(1)
    env = child_env()
    known = KnownServers(Path(env["XDG_DATA_HOME"]) / "lanchat" / "known_servers").rooms
    student = Proc("connect", ANN, str(port), "--tls", "--fingerprint", pin, "--name", "bob", env=env,
                   program=lab.program(bob))
    lab.procs.append(student)
    student.expect("welcome, bob", timeout=20)
    wait_for(lambda: known.lookup("maths") == pin, timeout=20, what="the room's name remembered with its fingerprint")
    student.send("/quit")
    assert student.wait(10) == 0


def test_a_server_whose_address_changes_announces_the_room_again_there(lab):
    from helpers import wait_for

    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "ann's room")
    assert [r["address"] for r in rooms_seen(lab, bob)] == [ANN]
    move_the_host(lab, ann)
    server.expect(rf"this machine's address changed: announcing the room again; join with: lanchat connect "
                  rf"{re.escape(MOVED)} {port}$", timeout=10)
    server.expect(r'announced as .ann.s room. on the local network')
    found = wait_for(lambda: [r for r in rooms_seen(lab, bob) if r["address"] == MOVED], timeout=20,
                     what="the room announced at its new address")
    assert [(r["room"], r["port"]) for r in found] == [("ann's room", port)]



def test_a_room_started_before_the_machine_has_an_address_is_announced_once_it_has_one(lab):
    """The teacher starts `serve` as the laptop wakes, before the Wi-Fi has given it an address:
    with nothing but loopback to announce at, the room was never announced, even once the
    address came (the screen then said how to join by address, but `lanchat connect` and
    `lanchat rooms` found nothing all lesson). It is announced as soon as there is an address."""
    from helpers import wait_for

    ann, bob = classroom(lab)
    lab.ip(ann, "addr", "del", f"{ANN}/24", "dev", "lan0")  # the Wi-Fi not joined yet: no address at all,
    lab.ip(ann, "link", "set", "lan0", "down")  # not even IPv6's link-local one
    server = lab.run(ann, "serve", "--headless", "--port", "0", "--no-history", "--room", "ann's room")
    port = int(server.expect(r"listening on port (\d+)").group(1))
    server.expect(r"no network address yet: .ann's room. is announced on the local network once it has one")
    lab.ip(ann, "addr", "add", f"{ANN}/24", "dev", "lan0")
    lab.ip(ann, "link", "set", "lan0", "up")
    lab.ip(ann, "route", "replace", "224.0.0.0/4", "dev", "lan0")
    server.expect(rf"this machine's address changed: announcing the room; join with: lanchat connect {ANN} {port}$", timeout=10)
    server.expect(r"announced as .ann.s room. on the local network")
    found = wait_for(lambda: rooms_seen(lab, bob), timeout=20, what="the room announced")
    assert [(r["room"], r["address"], r["port"]) for r in found] == [("ann's room", ANN, port)]

FOLLOWS = ("found", "by address", "tls")


def test_a_client_follows_a_room_whose_host_got_a_new_address_and_nothing_typed_is_lost(lab):
    """bob is in ann's room (found by discovery, joined by address, or over TLS pinned to the
    announced fingerprint) when ann's laptop gets another address: the room is announced there,
    bob's client sees it, rejoins there, and the line he typed meanwhile arrives once.

    The three ways run side by side, each on a LAN of its own (two namespaces apiece, nothing
    shared): the same steps as three separate runs, but the seconds spent waiting for the
    server to notice the move, announce again and for bob's connection to be found dead are
    waited once, not three times."""
    lans = {how: classroom(lab, suffix=str(number)) for number, how in enumerate(FOLLOWS)}
    servers = {how: lab.run(lans[how][0], "serve", "--headless", "--port", "0", "--no-history", "--room", "ann's room",
                            *(["--tls"] if how == "tls" else []))
               for how in FOLLOWS}  # fmt: skip
    ports, anns, bobs = {}, {}, {}
    for how, server in servers.items():
        with _joined(how):
            ports[how] = int(server.expect(r"listening on port (\d+)").group(1))
            pin = ["--fingerprint", server.expect(r"fingerprint is (SHA256:\S+)").group(1)] if how == "tls" else []
            anns[how] = lab.run(lans[how][0], "connect", "127.0.0.1", str(ports[how]), "--name", "ann", *pin)
    for how, server in servers.items():
        with _joined(how):
            server.expect(r"announced as ")
            anns[how].expect(r"welcome, ann")
    for how in FOLLOWS:
        where = [ANN, str(ports[how])] if how == "by address" else []
        bobs[how] = lab.run(lans[how][1], "connect", *where, "--name", "bob")
    for how in FOLLOWS:
        with _joined(how):
            bobs[how].expect(r"welcome, bob")
    for how in FOLLOWS:
        move_the_host(lab, lans[how][0])
        bobs[how].send("typed while the host moved")
    for how in FOLLOWS:
        with _joined(how, bobs[how], servers[how]):  # a rare failure in a whole-suite run: bob's side too
            anns[how].expect(r"bob: typed while the host moved$", timeout=30)
        bobs[how].send("typed once back")
    for how in FOLLOWS:
        with _joined(how):
            ann = anns[how]
            ann.expect(r"bob: typed once back$", timeout=10)
            for text in ("typed while the host moved", "typed once back"):
                assert sum(line.endswith(f"bob: {text}") for line in ann.lines) == 1, ann.output


NEW_ANN, NEW_BOB = "198.18.1.1", "198.18.1.2"


def test_a_student_who_moves_to_another_wifi_with_the_room_finds_it_there(lab):
    """The class moves to another Wi-Fi: ann's laptop and bob's leave the old one (its interface
    gone) and join a new one (another interface, other addresses). ann's room is announced again
    there; bob's watch opened zeroconf where he was, never listened from the new interface, and
    so never saw the room again: his client tried the old address for good. It now listens
    from where bob is, finds the room at its new address and rejoins there."""
    ann, bob = classroom(lab)
    server, port = serve_room(lab, ann, "--room", "ann's room")
    host = lab.run(ann, "connect", "127.0.0.1", str(port), "--name", "ann")
    host.expect(r"welcome, ann")
    student = lab.run(bob, "connect", ANN, str(port), "--name", "bob")
    student.expect(r"welcome, bob")
    # bob's machine hears the room answer (his watch knows it by its name from then on; one that
    # never heard it follows only the address joined, and cannot know the room at a new one)
    assert [r["address"] for r in rooms_seen(lab, bob)] == [ANN]
    lab.ip(ann, "link", "del", "lan0")  # the old Wi-Fi is gone (bob's end of it with it)
    lab.link(ann, f"{NEW_ANN}/24", bob, f"{NEW_BOB}/24", name="wlan1")
    server.expect(rf"this machine's address changed: announcing the room again; join with: lanchat connect "
                  rf"{re.escape(NEW_ANN)} {port}$", timeout=15)
    student.send("typed after the move")
    host.expect(r"bob: typed after the move$", timeout=45)


@contextlib.contextmanager
def _joined(how: str, *others) -> Iterator[None]:  # noqa: ANN002 - the lab's processes
    """A failure says which of the side-by-side follow runs it was, and what ``others`` wrote."""
    try:
        yield
    except AssertionError as exc:
        written = "".join(f"\n--- lanchat {' '.join(other.args)}:\n{other.output[-3000:]}" for other in others)
        raise AssertionError(f"(bob joined {how}) {exc}{written}") from None


def _status_line(rows: list[str]) -> str:
    return next((row for row in rows if "ann │ host │" in row), "")


@pytest.mark.parametrize("how", ["announced", "no-announce", "tls"])
def test_the_hosts_full_screen_says_the_new_address_when_this_machine_gets_one(lab, how):
    """ann's laptop gets another address mid-lesson: her full screen (the projector) says how the
    late students join now, her status line names the new address, and /address says the new
    join lines; with the room announced or not (--no-announce: nobody else can tell them), and
    over TLS with the fingerprint the banner gave."""
    ann_ns, _bob_ns = classroom(lab)
    extra = {"announced": [], "no-announce": ["--no-announce"], "tls": ["--tls"]}[how]
    host = lab.term(ann_ns, "serve", "--port", "0", "--name", "ann", "--no-history", "--room", "ann's room", *extra,
                    cols=230)
    port = host.wait_screen(lambda rows: re.search(rf"ann │ host │ {re.escape(ANN)}:(\d+)( \(TLS\))? │", _status_line(rows)),
                            what="the status line with ann's address").group(1)  # type: ignore[attr-defined]
    pin = re.search(r"--fingerprint SHA256:\S+", host.text).group(0) if how == "tls" else ""  # type: ignore[union-attr]
    command = f"lanchat connect {MOVED} {port}" + (f" {pin}" if pin else "")
    move_the_host(lab, ann_ns)
    host.expect(rf"-!- this machine's address changed: others join with `{re.escape(command)}`")
    status = f"ann │ host │ {MOVED}:{port}{' (TLS)' if pin else ''} │"
    host.wait_screen(lambda rows: status in _status_line(rows), what="the new address on the status line")
    host.send("/address\r")

    def said_again(rows: list[str]) -> list[str]:
        """The rows from /address's heading on, once its last line is drawn too: the screen is
        read as it is drawn, and the heading alone may be there before the lines under it."""
        starts = [n for n, row in enumerate(rows) if "chat listening on port" in row]
        if len(starts) != 2:
            return []
        moved = next(n for n, row in enumerate(rows) if "this machine's address changed" in row)
        last = re.sub(r"^\d\d:\d\d ", "", rows[moved - 1]).rstrip().replace(ANN, MOVED)  # the start-up lines' last
        again = rows[starts[1]:]
        return again if any(re.sub(r"^\d\d:\d\d ", "", row).rstrip() == last for row in again) else []

    joins = "\n".join(host.wait_screen(said_again, what="/address's lines"))  # type: ignore[arg-type]
    assert f"python -m {command}" in joins, joins
    assert (f"nc {MOVED} {port} " in joins) is not bool(pin), joins  # nc cannot speak TLS
    assert ANN not in joins, joins
    host.send("/q\r")
    assert host.wait() == 0


def test_news_of_this_machine_posted_from_another_thread_wakes_the_loop_and_is_taken_in_order():
    """client.LocalNews: serve's address watch posts on its own thread; the host's loop wakes
    (its selector sees ``fileno`` readable) and takes the news on its own; after ``close`` (the
    chat is over) a late post is dropped, never raised."""
    import selectors
    import threading

    from lanchat.client import LocalNews
    from lanchat.session import MachineMoved, Session

    news = LocalNews()
    moves = [MachineMoved(where=f"198.18.0.{n}:3580", join_lines=(f"join at {n}",), notice=f"moved to {n}") for n in (5, 6)]
    with selectors.DefaultSelector() as selector:
        selector.register(news.fileno(), selectors.EVENT_READ)
        assert selector.select(0) == []
        poster = threading.Thread(target=lambda: [news.post(move) for move in moves])
        poster.start()
        poster.join(5)
        assert selector.select(5)
        assert news.take() == moves
        assert selector.select(0) == []  # the wake-up bytes were read with it
    session = Session(name="ann", role="host", where=f"{ANN}:3580", join_lines=("join at old",))
    shown = [line.text for move in moves for line in session.machine_moved(move)]
    assert shown == ["moved to 5", "moved to 6"]
    assert (session.where, session.join_lines) == ("198.18.0.6:3580", ("join at 6",))
    news.close()
    news.post(moves[0])  # the watch may outlive the chat by one poll
    assert news.take() == []


def test_the_join_commands_said_when_the_address_changes_leave_out_loopback_and_keep_the_pin():
    from lanchat.cli.serve import _others_reach

    where = [f"{MOVED}:3580", "[fd00::5]:3580", "127.0.0.1:3580", "[::1]:3580", "annlaptop:3580"]
    assert _others_reach(where, " --fingerprint SHA256:x") == [
        f"lanchat connect {MOVED} 3580 --fingerprint SHA256:x",
        "lanchat connect fd00::5 3580 --fingerprint SHA256:x",
        "lanchat connect annlaptop 3580 --fingerprint SHA256:x",  # a name (never given today) is no crash of the watch
    ]


def test_the_join_lines_read_each_address_with_the_one_parser_brackets_and_zones_kept_whole():
    """The banner, the join commands said on a move and the host's new join lines take each
    host:port apart with addresses.split_host_port: '[::1]:3580' is host ::1, a link-local
    '[fe80::1%eth0]:3580' keeps its zone, and the port is the one after the brackets."""
    from lanchat.cli.serve import _join_banner, _others_reach, _tell_the_host

    where = ["[fe80::1%eth0]:3580", f"{MOVED}:3580", "[::1]:3580", "127.0.0.1:3580"]
    assert _join_banner(where, "turn-based", 3580, "", password=False) == [
        "lanchat: turn-based chat listening on port 3580; join with:",
        "  python -m lanchat connect fe80::1%eth0 3580",
        f"  python -m lanchat connect {MOVED} 3580",
        "  python -m lanchat connect ::1 3580",
        "  python -m lanchat connect 127.0.0.1 3580",
        "  or type in any terminal: nc fe80::1%eth0 3580 (then Enter, and your name)",
    ]
    assert _others_reach(where) == ["lanchat connect fe80::1%eth0 3580", f"lanchat connect {MOVED} 3580"]

    class News:
        posted: list = []

        def post(self, item: object) -> None:
            self.posted.append(item)

    news = News()
    _tell_the_host(news, ["  rest"], "full-duplex", " --fingerprint SHA256:x", tls=True, password=False)(["[fd00::5]:41000", "[::1]:41000"])
    (move,) = news.posted
    assert move.where == "[fd00::5]:41000 (TLS)"
    assert move.join_lines == (
        "lanchat: full-duplex chat listening on port 41000; join with:",
        "  python -m lanchat connect fd00::5 41000 --fingerprint SHA256:x",
        "  python -m lanchat connect ::1 41000 --fingerprint SHA256:x",
        "  rest",
    )
    assert move.notice == "this machine's address changed: others join with `lanchat connect fd00::5 41000 --fingerprint SHA256:x`"


def test_the_address_watch_ends_quietly_when_the_listener_closes_under_it(monkeypatch):
    """The server closes its listener as it stops, and the watch may be mid-poll then: it
    ended with a traceback from its thread (onto the host's terminal), instead of quietly."""
    import errno
    import socket
    import threading

    from lanchat.cli import serve as cli_serve
    from lanchat.cli.serve import _follow_addresses

    class ClosingListener:  # a wildcard listener that is closed after the first look
        family = socket.AF_INET
        looks = 0

        def getsockname(self) -> tuple[str, int]:
            self.looks += 1
            if self.looks > 1:
                raise OSError(errno.EBADF, "Bad file descriptor")
            return ("0.0.0.0", 3580)

    crashes: list[object] = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    monkeypatch.setattr(cli_serve, "ADDRESS_POLL_SECONDS", 0.01)
    watch = _follow_addresses(ClosingListener(), [f"{ANN}:3580"], threading.Event(), moved=lambda where: None)
    watch.join(5)
    assert not watch.is_alive() and not crashes, crashes


def test_the_same_addresses_ranked_anew_are_no_move_and_a_tick_reads_the_interfaces_once(monkeypatch):
    """A cable plugged in beside the Wi-Fi moves the default route: the same addresses, ranked
    the other way round. The watch took that for a move (lists compared in order): the room was
    announced again (off the list for a moment) and the host told of a new address. Each tick
    also read the interfaces twice (for the join lines and for the announcement)."""
    import socket
    import threading
    import types

    import lanchat.netinfo as netinfo
    from lanchat.addresses import LocalAddress
    from lanchat.cli import serve as cli_serve
    from lanchat.cli.serve import _follow_addresses

    reads: list[int] = []
    route_on_wifi = [True]

    def every_address() -> list[LocalAddress]:
        reads.append(1)
        wifi = route_on_wifi[0] = not route_on_wifi[0]  # the default route flips at every read
        return [LocalAddress("wlan0", "192.168.1.5", default_route=wifi), LocalAddress("eth0", "10.0.0.5", default_route=not wifi),
                LocalAddress("lo", "127.0.0.1")]  # fmt: skip

    from helpers import wait_for

    import lanchat.transport as transport

    ticks: list[int] = []
    reachable = transport.reachable_addresses

    def counted(listener, *found):  # noqa: ANN001, ANN202
        ticks.append(1)
        return reachable(listener, *found)

    monkeypatch.setattr(netinfo, "every_address", every_address)
    monkeypatch.setattr(transport, "reachable_addresses", counted)
    monkeypatch.setattr(cli_serve, "ADDRESS_POLL_SECONDS", 0.01)
    moves: list[object] = []
    announcer = types.SimpleNamespace(addresses=["10.0.0.5", "192.168.1.5"], port=3580, move=moves.append)
    logged: list[str] = []
    stopped = threading.Event()
    with socket.create_server(("0.0.0.0", 0)) as listener:
        port = listener.getsockname()[1]
        where = [f"192.168.1.5:{port}", f"10.0.0.5:{port}", f"127.0.0.1:{port}"]
        watch = _follow_addresses(listener, where, stopped, announcer=announcer, log=logged.append, moved=moves.append)
        wait_for(lambda: len(reads) >= 10, what="ten looks at the interfaces")
        stopped.set()
        watch.join(5)
    assert not watch.is_alive()
    assert not moves and not logged, (moves, logged)
    assert len(reads) == len(ticks) >= 10  # one read of the interfaces a tick


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_headless_server_not_announced_logs_the_new_join_line_when_its_address_changes(lab, tls):
    ann, _bob = classroom(lab)
    server, port = serve_room(lab, ann, "--no-announce", *(["--tls"] if tls else []))
    pin = " --fingerprint " + server.expect(r"fingerprint is (SHA256:\S+)").group(1) if tls else ""
    move_the_host(lab, ann)
    server.expect(rf"this machine's address changed: join with: lanchat connect {re.escape(MOVED)} {port}{re.escape(pin)}$",
                  timeout=15)


def test_a_room_is_followed_only_under_its_own_name_host_port_and_fingerprint():
    """discovery.RoomWatch: the room joined is the one announced at the address joined (with the
    fingerprint pinned); after that, another room (name, host, port or fingerprint) is never it."""
    from lanchat.discovery import RoomWatch

    pin = "SHA256:" + "A" * 43
    watch = RoomWatch(address=ANN, port=3580, fingerprint=pin)
    room = RoomInfo(name="ann's room", host="annlaptop", addresses=(ANN,), port=3580, fingerprint=pin)
    assert not watch.matches(RoomInfo(name="ann's room", host="annlaptop", addresses=(ANN,), port=3580))  # no TLS
    assert not watch.matches(RoomInfo(name="ann's room", host="annlaptop", addresses=(BOB,), port=3580, fingerprint=pin))
    assert watch.matches(room)
    watch.heard(HOME, room)
    assert watch.identity == ("ann's room", "annlaptop", 3580, pin) and watch.sightings.home == HOME
    assert watch.moved_to(ANN) is None
    moved = RoomInfo(name="ann's room", host="annlaptop", addresses=("198.18.0.5",), port=3580, fingerprint=pin)
    assert watch.matches(moved)
    for other in (
        RoomInfo(name="cat's room", host="annlaptop", addresses=("198.18.0.6",), port=3580, fingerprint=pin),
        RoomInfo(name="ann's room", host="catlaptop", addresses=("198.18.0.6",), port=3580, fingerprint=pin),
        RoomInfo(name="ann's room", host="annlaptop", addresses=("198.18.0.6",), port=3581, fingerprint=pin),
        RoomInfo(name="ann's room", host="annlaptop", addresses=("198.18.0.6",), port=3580, fingerprint="SHA256:" + "B" * 43),
    ):
        assert not watch.matches(other), other
        watch.heard(HOME, other)
    assert watch.moved_to(ANN) is None  # none of them was kept
    watch.heard(HOME, moved)
    assert watch.moved_to(ANN) == ("198.18.0.5", 3580) and watch.moved_to("198.18.0.5") == (ANN, 3580)  # both heard
    watch.joined(("198.18.0.5", 3580))  # rejoined at .5: what was heard before counts no more, until announced again
    assert watch.moved_to("198.18.0.5") is None


def test_a_tls_room_joined_by_its_address_is_learnt_by_its_announced_name_once(tmp_path):
    """A class joins with the board's `connect 10.0.0.5 --tls --fingerprint SHA256:...`; next
    lesson, `connect "maths"` pinned whatever a room of that name announced (an impostor's own
    certificate at a new address, trusted without a question): the name was never remembered.
    The watch (RoomWatch.learned) tells the room's announced name, once, when it recognises it
    where it was joined with the certificate pinned; KnownRooms.learn keeps it, never over
    another fingerprint. A room found by its name (remembered at the join) is not told again."""
    from lanchat.discovery import RoomWatch
    from lanchat.tls import KnownServers

    pin, other = "SHA256:" + "A" * 43, "SHA256:" + "B" * 43
    told: list[RoomInfo] = []
    watch = RoomWatch(address=ANN, port=3580, fingerprint=pin, learned=told.append)
    impostor = RoomInfo(name="maths", host="eve", addresses=(BOB,), port=3580, fingerprint=other)
    room = RoomInfo(name="maths", host="annlaptop", addresses=(ANN,), port=3580, fingerprint=pin)
    watch.heard("eve", impostor)  # not where it was joined, nor its certificate: nothing learnt
    watch.heard(HOME, room)
    watch.heard(HOME, room)
    watch.looked()
    watch.heard(HOME, room)
    watch.looked()
    assert told == [room]
    found = RoomWatch(address=ANN, port=3580, fingerprint=pin, found=room, learned=told.append)
    found.heard(HOME, room)
    found.looked()
    assert told == [room]
    # eve announces "history" (another teacher's room, another certificate) at ann's address, port
    # and certificate: learnt, the real "history" was refused as changed. Two names where the room
    # was joined, heard in one look, in either order: neither is learnt, nor later
    history = RoomInfo(name="history", host="eve", addresses=(ANN,), port=3580, fingerprint=pin)
    for first, then in ((history, room), (room, history)):
        doubted = RoomWatch(address=ANN, port=3580, fingerprint=pin, learned=told.append)
        doubted.heard("eve", first)
        doubted.heard(HOME, then)
        doubted.looked()
        doubted.heard(HOME, room)
        doubted.looked()
        assert told == [room]
    known = KnownServers(tmp_path / "known_servers").rooms
    known.learn("maths", pin)
    known.learn("Maths", other)  # never over the one it holds
    assert known.lookup("maths") == pin and known.path.read_text() == f"{pin} maths\n"
    # nor over one another lanchat wrote after it looked (a --fingerprint typed meanwhile)
    looked = KnownServers(tmp_path / "known_servers").rooms
    looked.lookup = lambda room: None  # type: ignore[method-assign] - what it read before that write
    looked.learn("maths", other)
    assert known.path.read_text() == f"{pin} maths\n"


def test_a_room_found_by_discovery_is_followed_even_if_it_moves_before_the_watch_hears_it():
    """`lanchat connect` with no address found ann's room; her laptop got a new address before
    bob's watch had heard the room (its answer to the watch rate-limited, a second after the one
    to the browse): the watch only ever heard it at the new address, did not know it there, and
    bob's client tried the old one for good (a CI failure, 1 run in 3 alone). The room found is
    known from the start; one found that is not what was joined (another port, address or
    certificate) is not taken for it."""
    from lanchat.discovery import RoomWatch

    pin = "SHA256:" + "A" * 43
    found = RoomInfo(name="ann's room", host="annlaptop", addresses=(ANN,), port=3580, fingerprint=pin)
    moved = RoomInfo(name="ann's room", host="annlaptop", addresses=(MOVED,), port=3580, fingerprint=pin)
    watch = RoomWatch(address=ANN, port=3580, fingerprint=pin, found=found)
    watch.heard(HOME, moved)
    assert watch.moved_to(ANN) == (MOVED, 3580)
    unknown = RoomWatch(address=ANN, port=3580, fingerprint=None)  # joined by address, plain: learnt from a look
    unknown.heard(HOME, RoomInfo(name="ann's room", host="annlaptop", addresses=(MOVED,), port=3580))
    assert unknown.moved_to(ANN) is None
    for joined in (dict(address=BOB, port=3580, fingerprint=pin), dict(address=ANN, port=3581, fingerprint=pin),
                   dict(address=ANN, port=3580, fingerprint=None)):
        other = RoomWatch(**joined, found=found)
        assert other.identity is None, joined  # learnt, if ever, from its own first look


@pytest.mark.parametrize("pin", [None, "SHA256:" + "A" * 43], ids=["plain", "tls"])
def test_a_room_joined_over_tls_by_address_that_moves_before_the_watch_hears_it_is_still_followed(pin):
    """bob joined by address; ann's laptop got a new address before his watch's first look heard
    the room where he joined (bench/watch_window.py --move: about 1 run in 15 when it moves within
    0.2 s of the welcome). Over TLS the room is announced with the fingerprint pinned: that is
    worth a try (the certificate proves it on rejoining), but what it says is never learnt, so a
    false announcement of the fingerprint under another name cannot make the real room unknown.
    Without TLS nothing proves it: a room on the same port is not followed."""
    from lanchat.discovery import RoomWatch

    watch = RoomWatch(address=ANN, port=3580, fingerprint=pin)
    watch.heard(f"mallory.{SERVICE_TYPE}", RoomInfo(name="mallory's", host="m", addresses=("198.18.0.9",), port=3580, fingerprint=pin))
    watch.heard(HOME, RoomInfo(name="ann's room", host="annlaptop", addresses=(MOVED,), port=3580, fingerprint=pin))
    watch.heard(f"other.{SERVICE_TYPE}", RoomInfo(name="ann's room", host="annlaptop", addresses=("198.18.0.8",), port=3581, fingerprint=pin))
    assert watch.identity is None
    assert watch.moved_to(ANN) == ((MOVED, 3580) if pin else None)
    if pin:
        watch.refuted((MOVED, 3580))
        assert watch.moved_to(ANN) == ("198.18.0.9", 3580)  # tried in turn; one not the room is refuted
        watch.heard(HOME, RoomInfo(name="ann's room", host="annlaptop", addresses=(ANN,), port=3580, fingerprint=pin))
        assert watch.identity == ("ann's room", "annlaptop", 3580, pin)  # learnt only where it was joined


@pytest.mark.parametrize("pin", [None, "SHA256:" + "A" * 43], ids=["plain", "tls"])
def test_a_room_renamed_by_a_clash_as_it_moved_is_followed_over_tls_only(pin):
    """mallory announces "ann's room" while ann's laptop, moved, announces the room again:
    multicast DNS's probe finds the name taken and the room comes back as "ann's room-2" (its
    TXT says so too), which the watch did not take for the room, so bob never followed it. Over
    TLS the certificate pinned proves the room on connecting: that name is it. Without TLS,
    "ann's room-2" on the same host name and port may be another machine of one school image."""
    from lanchat.discovery import RoomWatch

    watch = RoomWatch(address=ANN, port=3580, fingerprint=pin)
    watch.heard(HOME, RoomInfo(name="ann's room", host="annlaptop", addresses=(ANN,), port=3580, fingerprint=pin))
    for name in ("ann's room-", "ann's room-x", "ann's roomy-2", "ann's-2"):  # not a clash's rename of it
        watch.heard(f"{name}.{SERVICE_TYPE}", RoomInfo(name=name, host="annlaptop", addresses=("198.18.0.9",), port=3580, fingerprint=pin))
    assert watch.moved_to(ANN) is None
    renamed = RoomInfo(name="ann's room-2", host="annlaptop", addresses=(MOVED,), port=3580, fingerprint=pin)
    watch.heard(f"ann's room-2.{SERVICE_TYPE}", renamed)
    assert watch.moved_to(ANN) == ((MOVED, 3580) if pin else None)
    if pin:  # rejoined there: the room's own announcer is the one that announced it there
        watch.joined((MOVED, 3580))
        assert watch.sightings.home == f"ann's room-2.{SERVICE_TYPE}"


def test_a_false_announcement_that_the_room_moved_cannot_end_a_live_chat(monkeypatch):
    """From the attacker's side: anyone on the LAN can announce "ann's room" at another address.
    The client only asks its connection whether it is alive (TCP keepalive within seconds); a
    server that is there answers, so the chat goes on and nothing is rejoined."""
    import socket
    import time
    from types import SimpleNamespace

    import lanchat.client
    from lanchat.client import watch_address

    # a LAN connection, as far as the check is concerned (the socket itself is on loopback here)
    monkeypatch.setattr(lanchat.client, "on_the_network", lambda sock: True)
    lost: list[object] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
        with client, server:
            reconnect = SimpleNamespace(offline=False, rejoin=SimpleNamespace(moved=lambda: True), lost=lambda *a: lost.append(a))
            loop = SimpleNamespace(reconnect=reconnect, quitting=False, outcome=None, address_check_at=0.0, sock=client, in_doubt=False,
                                   unconfirmed=Unconfirmed(), transfers=ClientTransfers())
            watch_address(loop)  # type: ignore[arg-type]
            assert loop.in_doubt and not lost
            if hasattr(socket, "TCP_KEEPIDLE"):
                assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 1
                assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000
            time.sleep(3.5)  # longer than a dead connection takes to be noticed now: the outage that is not
            client.sendall(b"still here?")
            server.settimeout(5)
            assert server.recv(100) == b"still here?"
            server.sendall(b"yes")
            assert client.recv(100) == b"yes"
            reconnect.rejoin.moved = lambda: False  # the announcement is gone: the usual keepalive again
            loop.address_check_at = 0.0
            watch_address(loop)  # type: ignore[arg-type]
            assert not loop.in_doubt and not lost
            if hasattr(socket, "TCP_KEEPIDLE"):
                assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 20


HOME = f"ann's room.{SERVICE_TYPE}"  # the instance name ann's room is announced as


def _refused_rejoin(monkeypatch) -> tuple[object, object, list[str]]:  # noqa: ANN001
    """connect's rejoin (cli/rejoin.py's _Rejoin) to ANN, with a RoomWatch (not listening: the test says
    what it hears) that knows the room there, every dial refused and noted: (the rejoin, the
    watch, the hosts dialled)."""
    from types import SimpleNamespace

    from lanchat.cli import rejoin as cli_rejoin
    from lanchat.cli.rejoin import _Rejoin
    from lanchat.discovery import RoomWatch
    from lanchat.transport import Endpoint, TransportError

    tried: list[str] = []

    def refuse(endpoint, pinned):  # noqa: ANN001, ANN202 - stands in for the real dial
        tried.append(endpoint.host)
        raise TransportError("refused")

    monkeypatch.setattr(cli_rejoin, "_reconnect", refuse)
    monkeypatch.setattr(cli_rejoin, "_room_watch", lambda endpoint, pinned, found: None)
    rejoin = _Rejoin((Endpoint(host=ANN, port=3580), None, None), SimpleNamespace(), key=None, password=None, binding=b"")
    rejoin.watch = watch = RoomWatch(address=ANN, port=3580, fingerprint=None)
    watch.heard(HOME, announced_at(ANN))
    return rejoin, watch, tried


def announced_at(*addresses: str) -> RoomInfo:
    return RoomInfo(name="ann's room", host="annlaptop", addresses=addresses, port=3580)


def test_a_rejoin_alternates_between_the_announced_address_and_the_old_one(monkeypatch):
    """A false announcement must not keep a student from a server that only restarted: the
    rejoin's tries go to the announced address and the old one in turn; one where the room
    was not is dropped (RoomWatch.refuted), and the old one is tried from then on."""
    from lanchat.transport import TransportError

    rejoin, watch, tried = _refused_rejoin(monkeypatch)
    watch.heard(HOME, announced_at("198.18.0.66"))  # type: ignore[attr-defined]
    for _ in range(4):
        with pytest.raises(TransportError):
            rejoin()  # type: ignore[operator]
    assert tried == ["198.18.0.66", ANN, ANN, ANN]
    assert not rejoin.moved()  # type: ignore[attr-defined]  # nowhere else to look: a live chat is no longer in doubt


def test_a_rejoin_goes_to_the_new_address_first_once_the_announcement_comes(monkeypatch):
    """Tries made before the room was announced elsewhere went to the old address and counted in
    the alternation: the first try after the announcement came went to the old address again
    (a dead one, seconds to fail), and the student waited a further growing delay. Those tries
    no longer count, and each new address is news once (Reconnect.tick then tries at once)."""
    from lanchat.transport import TransportError

    rejoin, watch, tried = _refused_rejoin(monkeypatch)
    for _ in range(3):  # nothing announced yet: the old address each time
        with pytest.raises(TransportError):
            rejoin()  # type: ignore[operator]
    assert not rejoin.news()  # type: ignore[attr-defined]
    watch.heard(HOME, announced_at("198.18.0.66"))  # type: ignore[attr-defined]
    assert rejoin.news() and not rejoin.news()  # type: ignore[attr-defined]  # news once
    for _ in range(3):
        with pytest.raises(TransportError):
            rejoin()  # type: ignore[operator]
    assert tried == [ANN, ANN, ANN, "198.18.0.66", ANN, ANN]
    watch.heard(HOME, announced_at("198.18.0.67"))  # type: ignore[attr-defined]
    assert rejoin.news() and not rejoin.news()  # type: ignore[attr-defined]  # another address: news again


def test_a_try_at_a_false_address_of_the_room_is_not_said_and_one_at_the_rooms_own_is():
    """Each false address of the room a rejoin tries fails with its own line ("still no
    connection (the room was announced at 198.18.0.66:3580, but ...)"): mallory announcing a new
    one every half second wrote a line every half second on bob's screen. Those tries are not
    said now (client.NotTheRoom); a try at the room's own address still is, when its reason is new."""
    import time
    from types import SimpleNamespace

    from lanchat.client import NotTheRoom, Reconnect
    from lanchat.transport import TransportError

    shown: list[object] = []
    told = SimpleNamespace(still_lost=lambda session, problem, delay: [problem])
    loop = SimpleNamespace(outcome=None, quitting=False, session=SimpleNamespace(progress={}, rejoin=told),
                           frontend=SimpleNamespace(show=shown.extend))  # fmt: skip
    reconnect = Reconnect(lambda: None)
    try:
        reconnect.offline_since = time.monotonic()
        for n in range(50):
            reconnect._take(loop, NotTheRoom(f"the room was announced at 198.18.1.{n}:3580, but it is not there"))  # type: ignore[arg-type]
        assert shown == [] and reconnect.retry_at is not None  # quiet, and the next try is on its way
        reconnect._take(loop, TransportError(f"{ANN}:3580: connection refused"))  # type: ignore[arg-type]
        assert shown == [f"{ANN}:3580: connection refused"]
    finally:
        reconnect.close()


def test_a_waiting_rejoin_tries_at_once_when_the_room_is_announced_elsewhere():
    """After a few failed tries the wait before the next grows to 15 s; the room announced at a
    new address meanwhile cuts it short: the loop is woken within NEWS_CHECK_SECONDS and tries."""
    import threading
    import time
    from types import SimpleNamespace

    from lanchat.client import NEWS_CHECK_SECONDS, Reconnect

    news = [False]
    tried = threading.Event()

    class Rejoin:
        def news(self) -> bool:
            return news[0]

        def __call__(self):  # noqa: ANN204
            tried.set()
            raise OSError("refused")

    reconnect = Reconnect(Rejoin())
    loop = SimpleNamespace(outcome=None, quitting=False, session=SimpleNamespace(progress={}))
    try:
        reconnect._wait(15.0, loop)  # type: ignore[arg-type]
        assert reconnect.due() is not None and reconnect.due() - time.monotonic() <= NEWS_CHECK_SECONDS
        reconnect.news_at = time.monotonic()
        reconnect.tick(loop)  # type: ignore[arg-type]
        assert not tried.is_set() and reconnect.retry_at is not None  # nothing new: the wait goes on
        news[0] = True
        reconnect.news_at = time.monotonic()
        reconnect.tick(loop)  # type: ignore[arg-type]
        assert tried.wait(5) and reconnect.retry_at is None
    finally:
        reconnect.close()


def test_a_client_on_loopback_or_a_socket_file_stops_waking_for_the_address_check(sock_dir):
    """Only a connection through a network interface can be left behind or announced elsewhere:
    over loopback or a socket file the check runs once, then the loop's wait no longer wakes
    every 2 s for it (a laptop on battery, idle)."""
    import socket
    from types import SimpleNamespace

    from lanchat.client import also_due, watch_address

    pairs = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        pairs.append(socket.create_connection(listener.getsockname(), timeout=5))
        pairs.append(listener.accept()[0])
    path = f"{sock_dir}/s.sock"
    with socket.socket(socket.AF_UNIX) as unix_listener:
        unix_listener.bind(path)
        unix_listener.listen()
        pairs.append(socket.socket(socket.AF_UNIX))
        pairs[-1].connect(path)
        pairs.append(unix_listener.accept()[0])
    try:
        for sock in (pairs[0], pairs[2]):
            reconnect = SimpleNamespace(offline=False, replaying=False, due=lambda: None, rejoin=SimpleNamespace(moved=lambda: False))
            pacer = SimpleNamespace(due=lambda now, unanswered=(): None)
            loop = SimpleNamespace(reconnect=reconnect, quitting=False, outcome=None, address_check_at=0.0, sock=sock,
                                   in_doubt=False, paced=SimpleNamespace(pacer=pacer), unconfirmed=Unconfirmed(),
                                   transfers=SimpleNamespace(receiving={}, sending={}))
            assert also_due(loop, None) == 0.0  # type: ignore[arg-type]  # the first check is due
            watch_address(loop)  # type: ignore[arg-type]
            assert also_due(loop, None) is None  # type: ignore[arg-type]  # and none after it
            assert also_due(loop, 30.0) == 30.0  # type: ignore[arg-type]
    finally:
        for sock in pairs:
            sock.close()


def test_a_move_during_the_announcements_registration_leaves_one_zeroconf_and_no_false_failure(monkeypatch):
    """Two moves in a row (a link-local address, then DHCP's a moment later): a move while the
    previous announcement was still opening zeroconf left that instance announcing the old
    addresses for good (the new thread took its place unclosed), and one while it was
    registering reported 'could not announce the room' before the real success."""
    import threading

    from helpers import wait_for

    from lanchat import discovery

    opened: list[FakeZeroconf] = []
    let_open = threading.Event()

    class FakeZeroconf:
        def __init__(self) -> None:
            self.closed = threading.Event()

        def register_service(self, info, allow_name_change=False) -> None:  # noqa: ANN001, ARG002
            if len(opened) == 2:  # the second registration is the one moved under: it waits to be closed
                self.closed.wait(10)
                raise RuntimeError("zeroconf closed")

        def update_service(self, info) -> None:  # noqa: ANN001
            pass

        def close(self) -> None:
            self.closed.set()

    def open_zeroconf(addresses=None):  # noqa: ANN001, ANN202, ARG001
        if not opened:
            let_open.wait(10)  # the first is still opening when the first move comes
        opened.append(FakeZeroconf())
        return opened[-1]

    monkeypatch.setattr(discovery, "_open_zeroconf", open_zeroconf)
    said: list[tuple[object, object]] = []
    announcer = discovery.Announcer(room="lab room", port=3580, addresses=["10.0.0.5"], host="lab", mode="duplex",
                                    on_done=lambda name, problem: said.append((name, problem)))  # fmt: skip
    announcer.start()
    first_move = threading.Thread(target=announcer.move, args=(["fe80::5"],))
    first_move.start()  # it waits for the first thread, still opening
    let_open.set()
    first_move.join(10)
    wait_for(lambda: len(opened) == 2, what="the first move's registration")
    announcer.move(["10.0.0.7"])  # while the first move's registration runs
    wait_for(lambda: said, what="the announcement's report")
    announcer.close()
    assert len(opened) == 3 and all(z.closed.is_set() for z in opened), [z.closed.is_set() for z in opened]
    assert said == [("lab room", None)], said


def test_a_server_stopped_while_its_announcement_registers_stops_at_once(monkeypatch):
    """Registering takes about two seconds (probes first). A server stopped meanwhile (Ctrl-C
    right after starting, /q just after the laptop's address changed) closed zeroconf, whose
    register_service then waited out its own timeout, and waited 5 s for that thread: the host's
    /q took 6 s. Nothing is announced yet and zeroconf is closed: close() returns at once."""
    import threading
    import time

    from helpers import wait_for

    from lanchat import discovery

    registering = threading.Event()

    class StuckZeroconf:  # as zeroconf's: once closed, register_service waits out its timeout
        def __init__(self) -> None:
            self.closed = threading.Event()

        def register_service(self, info, allow_name_change=False) -> None:  # noqa: ANN001, ARG002
            registering.set()
            time.sleep(10)
            raise RuntimeError("EventLoopBlocked")

        def close(self) -> None:
            self.closed.set()

    opened: list[StuckZeroconf] = []
    monkeypatch.setattr(discovery, "_open_zeroconf", lambda addresses=None: opened.append(StuckZeroconf()) or opened[-1])
    said: list[tuple[object, object]] = []
    announcer = discovery.Announcer(room="lab room", port=3580, addresses=["10.0.0.5"], host="lab", mode="duplex",
                                    on_done=lambda name, problem: said.append((name, problem)))  # fmt: skip
    announcer.start()
    wait_for(registering.is_set, what="the registration under way")
    started = time.monotonic()
    announcer.close()
    # the old close() joined the registering thread, stuck 10 s here, for 5 s: at least 5 s by
    # construction, so a bound under it fails that code always and a loaded machine never (close()
    # itself takes microseconds)
    assert time.monotonic() - started < 4, f"close() took {time.monotonic() - started:.1f} s"
    assert opened[0].closed.is_set() and said == [] and announcer.announced_as is None


# ------------------------------------------------------------ the student's watch of the room


class CacheOnlyZeroconf:
    """zeroconf as a RoomWatch uses it, with no network: zeroconf's own cache, filled by the
    test, and a get_service_info that notes each time it would have asked the LAN (at
    ``clock``'s time) and hears no answer."""

    def __init__(self, clock=lambda: 0.0) -> None:  # noqa: ANN001
        from zeroconf import DNSCache

        self.cache = DNSCache()
        self.clock = clock
        self.asked: list[float] = []
        self.closed = threading.Event()

    def get_service_info(self, service_type: str, name: str, timeout: int = 3000) -> None:  # noqa: ARG002
        self.asked.append(self.clock())

    def close(self) -> None:
        self.closed.set()


def test_a_room_that_vanished_is_asked_for_a_few_times_then_no_more():
    """ann's laptop goes without a goodbye: zeroconf keeps the room's name for 75 minutes, its
    address for 2. The watch asked the LAN for it every 5 s for as long as bob stayed (a class of
    30 = 30 students asking every 5 s for a dead room); now at once, then after 5, 10 and 20 s,
    then no more, until its records are heard again (the room back, or moved): then it is
    followed, and if it goes again it is asked for again as few times."""
    from zeroconf import DNSPointer, ServiceInfo

    from lanchat.discovery import WATCH_SECONDS, RoomWatch

    now = [1000.0]
    zc = CacheOnlyZeroconf(clock=lambda: now[0])
    name = f"ann's room.{SERVICE_TYPE}"

    def records(address: str) -> list:
        info = ServiceInfo(SERVICE_TYPE, name, port=3580, server="annlaptop.local.", parsed_addresses=[address],
                           properties=txt_record(room="ann's room", host="annlaptop", mode="duplex", password=False, fingerprint=None))  # fmt: skip
        return [info.dns_service(), info.dns_text(), *info.dns_addresses()]

    def looks(minutes: float) -> list[float]:
        """The watch's looks for ``minutes``, every WATCH_SECONDS; when it asked, from the first look."""
        start, mark = now[0], len(zc.asked)
        for _ in range(int(minutes * 60 / WATCH_SECONDS)):
            watch._look(zc, [name])
            now[0] += WATCH_SECONDS
        return [at - start for at in zc.asked[mark:]]

    watch = RoomWatch(address=ANN, port=3580, fingerprint=None, clock=lambda: now[0])
    zc.cache.async_add_records([DNSPointer(SERVICE_TYPE, 12, 1, 4500, name), *records(ANN)])
    assert looks(1) == [] and watch.identity is not None and watch.moved_to(ANN) is None  # held: read, never asked
    zc.cache.async_remove_records(records(ANN))  # its address expired, its name stays
    assert looks(10) == [0, 5, 15, 35]  # (before: 120 times in these ten minutes, once a look)
    zc.cache.async_add_records(records(MOVED))  # ann's laptop back, at another address
    assert looks(1) == [] and watch.moved_to(ANN) == (MOVED, 3580)
    zc.cache.async_remove_records(records(MOVED))
    assert looks(10) == [0, 5, 15, 35]
    zc.cache.async_remove_records([DNSPointer(SERVICE_TYPE, 12, 1, 4500, name)])  # its name expired too
    watch._look(zc, [])
    assert len(watch.silent) == 0  # and is forgotten: what the watch keeps is bounded by what is held


def test_a_watch_listens_again_from_this_machines_new_addresses(monkeypatch):
    """bob's laptop moves to another Wi-Fi (or gets another lease): the watch's zeroconf had its
    sockets bound to the old addresses and never saw a room again. It is opened afresh, as a
    moved server's announcement is (Announcer.move), and the networks read again; the same
    addresses ranked anew, or none for a while (between two networks), are no move."""
    import zeroconf as zeroconf_module
    from helpers import wait_for

    from lanchat import discovery

    opened: list[CacheOnlyZeroconf] = []
    browsers: list[object] = []

    class Browser:  # zeroconf's ServiceBrowser, without the network
        def __init__(self, zc, service_type: str, handlers: list) -> None:  # noqa: ANN001, ARG002
            self.cancelled = False
            browsers.append(self)

        def cancel(self) -> None:
            self.cancelled = True

    def open_zeroconf(addresses=None):  # noqa: ANN001, ANN202, ARG001
        opened.append(CacheOnlyZeroconf())
        return opened[-1]

    monkeypatch.setattr(discovery, "_open_zeroconf", open_zeroconf)
    monkeypatch.setattr(zeroconf_module, "ServiceBrowser", Browser)
    monkeypatch.setattr(discovery, "WATCH_SECONDS", 0.01)
    here = [[BOB, "fe80::2%lan0"]]
    reads: list[int] = []
    networks_read: list[int] = []

    def own_addresses() -> list[str]:
        reads.append(1)
        return list(here[0])

    def ticks(count: int) -> None:
        mark = len(reads)
        wait_for(lambda: len(reads) >= mark + count, what=f"{count} looks at this machine's addresses")

    watch = discovery.RoomWatch(address=ANN, port=3580, fingerprint=None, own_addresses=own_addresses,
                                networks=lambda: networks_read.append(1) or [])  # fmt: skip
    watch.start()
    try:
        ticks(5)
        assert len(opened) == 1
        here[0] = ["198.18.1.2", "fe80::2%wlan1"]  # the new Wi-Fi
        wait_for(lambda: len(opened) == 2, what="zeroconf opened again")
        assert opened[0].closed.is_set() and browsers[0].cancelled  # type: ignore[attr-defined]
        assert len(networks_read) == 2
        here[0] = ["fe80::2%wlan1", "198.18.1.2"]  # the same, ranked anew
        ticks(5)
        here[0] = []  # out of the Wi-Fi's reach a moment: nothing to listen from, nothing done
        ticks(5)
        here[0] = ["198.18.1.2", "fe80::2%wlan1"]  # back, as before
        ticks(5)
        assert len(opened) == 2 and not opened[1].closed.is_set()
    finally:
        watch.close()
    wait_for(lambda: opened[-1].closed.is_set(), what="the watch's zeroconf closed")


# ------------------------------------------------------------ false announcements of the room


def test_a_flood_of_announcements_keeps_a_bounded_few_and_never_pushes_out_the_rooms_own():
    """discovery.Sightings from the attacker's side: mallory announces "ann's room" under
    thousands of instance names, each at another address, and at addresses a rejoin already found
    empty. What a watch keeps stays bounded, the room's own announcer (the instance it was
    recognised by) keeps its place and is offered first, and an address found not to be the
    room is not offered again, however often announced, until REFUTED_SECONDS have passed.
    (How long a flood takes is bench/'s to say, never a test's: the size, bounded after every
    announcement, is what keeps each one's work small.)"""
    from lanchat.discovery import MAX_ADDRESSES_EACH, MAX_ANNOUNCERS, MAX_REFUTED, REFUTED_SECONDS, Sightings

    sightings = Sightings()
    sightings.home = HOME
    sightings.heard(HOME, announced_at(ANN))
    sightings.heard(HOME, announced_at(MOVED))  # ann's laptop got another address
    bound = (MAX_ANNOUNCERS + 1) * MAX_ADDRESSES_EACH + MAX_REFUTED
    for n in range(20_000):
        sightings.heard(f"ann's room-{n}.{SERVICE_TYPE}", announced_at(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"))
        sightings.heard("ann's room-2." + SERVICE_TYPE, announced_at(f"10.99.{n >> 8 & 255}.{n & 255}"))
        assert len(sightings) <= bound
    offered = list(sightings.candidates(ANN, now=0.0))
    assert offered[0] == (MOVED, 3580) and len(offered) <= bound
    assert (ANN, 3580) not in offered  # where we are is not somewhere else to go
    for n in range(1000):  # a rejoin tried a thousand false ones: the room's own was first all along
        sightings.refuted((f"10.0.{n >> 8 & 255}.{n & 255}", 3580), now=float(n))
    assert len(sightings) <= bound
    sightings.heard(HOME, announced_at("198.18.0.66"))  # mallory, under the room's own name too
    sightings.refuted(("198.18.0.66", 3580), now=1000.0)  # nobody there
    for _ in range(100):
        sightings.heard(HOME, announced_at("198.18.0.66"))  # announced again, and again
        assert sightings.next_try(ANN, now=1001.0) == (MOVED, 3580)
    assert sightings.next_try(ANN, now=1000.0 + REFUTED_SECONDS) == ("198.18.0.66", 3580)  # tried again, in a minute
    sightings.joined()  # rejoined: what was heard before counts no more
    assert sightings.next_try(ANN, now=0.0) is None and sightings.home == HOME


def test_a_watch_flooded_with_announcements_looks_at_most_once_a_gap(monkeypatch):
    """Thousands of announcements a second each wake the watch (zeroconf's browser sets its
    event): it looked again at once each time, reading every room held, a core kept busy for as
    long as the flood lasted. One look reads all that is held: at most one per LOOK_GAP_SECONDS."""
    import time

    import zeroconf as zeroconf_module
    from helpers import wait_for

    from lanchat import discovery

    class Browser:  # zeroconf's ServiceBrowser, without the network
        def __init__(self, zc, service_type: str, handlers: list) -> None:  # noqa: ANN001, ARG002
            pass

        def cancel(self) -> None:
            pass

    monkeypatch.setattr(discovery, "_open_zeroconf", lambda addresses=None: CacheOnlyZeroconf())
    monkeypatch.setattr(zeroconf_module, "ServiceBrowser", Browser)
    monkeypatch.setattr(discovery, "LOOK_GAP_SECONDS", 0.2)
    looked: list[float] = []
    monkeypatch.setattr(discovery.RoomWatch, "_look", lambda self, zc, names: looked.append(time.monotonic()))
    watch = discovery.RoomWatch(address=ANN, port=3580, fingerprint=None)
    watch.start()
    woken = 0
    try:
        wait_for(watch._thread.is_alive, what="the watch listening")
        started = time.monotonic()
        while time.monotonic() - started < 1.0:  # the flood: every announcement wakes it
            watch._changed.set()
            woken += 1
    finally:
        watch.close()
    assert woken > 1000
    assert 2 <= len(looked) <= 1.0 / 0.2 + 2, f"{len(looked)} looks in 1 s of {woken} wake-ups"


class Impostor(SerialServer):
    """mallory's server at a false address of the room, on its port: over TLS it shows its own
    certificate; without, it answers each hello with the refusal that ends a rejoin (banned)."""

    def __init__(self, host: str, port: int, context: object = None) -> None:
        super().__init__(host, port, context=context, read_timeout=5)

    def answer(self, conn: object) -> None:
        from lanchat import events as ev
        from lanchat.protocol import Connection, Role

        proto = Connection(Role.SERVER)
        while data := conn.recv(65536):  # type: ignore[attr-defined]
            proto.receive_data(data)
            if any(isinstance(event, ev.Hello) for event in proto.events()):
                conn.sendall(proto.send(ev.Error(code=ev.E_BANNED, message="banned by mallory", fatal=True)))  # type: ignore[attr-defined]
                return


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_rejoin_reaches_the_room_that_moved_through_a_flood_of_false_announcements(monkeypatch, tmp_path, tls):
    """From the attacker's side, on real sockets: bob's link is down, ann's room moves (her
    laptop got another address) and mallory announces "ann's room" without pause, thousands of
    times a second: under the room's own instance name at an address where nothing listens and
    at one where her own server answers (over TLS with her own certificate, else refusing bob as
    banned), and under a thousand other names at as many addresses. The watch followed the latest
    announcement, so the rejoin went to hers, again and again; and her refusal (or certificate)
    ended the rejoin as the room's own would. Now bob's rejoin tries each address once, drops
    hers, and is back in ann's room at its new address within a few tries."""
    import time

    from helpers import running_server, wait_for

    from lanchat.cli import rejoin as cli_rejoin
    from lanchat.cli.rejoin import _Rejoin
    from lanchat.client import STOP_REJOINING, JoinError
    from lanchat.discovery import RoomWatch
    from lanchat.session import Session
    from lanchat.transport import Endpoint

    old, new, nobody, impostor_at = "127.0.0.4", "127.0.0.3", "127.0.0.5", "127.0.0.6"
    context = pin = impostor_context = None
    if tls:
        from lanchat.tls import ensure_certificate, server_context

        context, pin = server_context(*ensure_certificate(tmp_path / "ann")[:2])
        impostor_context, _ = server_context(*ensure_certificate(tmp_path / "mallory")[:2])
    monkeypatch.setattr(cli_rejoin, "_room_watch", lambda endpoint, pinned, found: None)
    with running_server(host=new, tls=context) as (_server, endpoint):
        port = endpoint.port

        def room_at(address: str) -> RoomInfo:
            return RoomInfo(name="ann's room", host="annlaptop", addresses=(address,), port=port, fingerprint=pin)

        impostor = Impostor(impostor_at, port, impostor_context)
        watch = RoomWatch(address=old, port=port, fingerprint=pin)  # not listening: the test is the LAN
        watch.heard(HOME, room_at(old))  # bob joined ann's room there
        rejoin = _Rejoin((Endpoint(host=old, port=port), pin, None), Session(name="bob"), key=None, password=None, binding=b"")
        rejoin.watch = watch
        stop, made = threading.Event(), [0]

        def mallory() -> None:
            while not stop.is_set():
                n = made[0]
                watch.heard(HOME, room_at(impostor_at))
                watch.heard(HOME, room_at(nobody))
                watch.heard(f"ann's room-{n % 1000}.{SERVICE_TYPE}", room_at(f"127.1.{n >> 8 & 255}.{n & 255 or 1}"))
                made[0] = n + 3

        flood = threading.Thread(target=mallory, daemon=True)
        flood.start()
        tries: list[str] = []
        joined: list[object] = []

        def one_try() -> bool:  # as client.Reconnect does: a try, and a refusal that ends the chat is fatal here
            try:
                joined.append(rejoin())
            except JoinError as exc:
                assert exc.code not in STOP_REJOINING, f"the rejoin would have ended: {exc}"
            except Exception:  # noqa: BLE001, S110 - not there (yet): the next try
                pass
            tries.append(rejoin.endpoint.host)
            return bool(joined)

        try:
            wait_for(lambda: made[0] > 3000, what="mallory's flood under way")
            watch.heard(HOME, room_at(new))  # ann's laptop announces the room once at its new address
            mark = made[0]
            wait_for(lambda: made[0] > mark + 3000, what="mallory announcing on, hers the latest")
            started = time.monotonic()
            wait_for(one_try, timeout=20, what="bob back in ann's room at its new address")
            took = time.monotonic() - started
        finally:
            stop.set()
            flood.join(10)
            impostor.close()
            for sock, *_ in joined:  # type: ignore[misc]
                sock.close()
    assert rejoin.endpoint.host == new and made[0] > 3000
    assert len(tries) <= 5 and impostor.taken == 1, (tries, impostor.taken)  # hers, old, nobody's, old, ann's
    assert took < 10, f"{took:.1f} s"
    rejoin.close()  # the chat over: the watch stops listening
    assert watch._stop.is_set()


def test_the_rooms_own_announcer_is_asked_for_first_whatever_names_came_before_it():
    """mallory floods the LAN with room names that never answer: zeroconf's cache (at most
    10,000 records, the oldest dropped) loses ann's room's address records, its name held. A
    watch asked for the names in the order heard, at most 64 of them a look and within 5 s:
    ann's room, after hundreds of mallory's, was never asked for. It is asked for first now."""
    from zeroconf import DNSPointer

    from lanchat.discovery import RoomWatch

    class Asked(CacheOnlyZeroconf):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def get_service_info(self, service_type: str, name: str, timeout: int = 3000) -> None:  # noqa: ARG002
            self.names.append(name)

    zc = Asked()
    flood = [f"ann's room-{n}.{SERVICE_TYPE}" for n in range(500)]
    zc.cache.async_add_records([DNSPointer(SERVICE_TYPE, 12, 1, 4500, name) for name in [*flood, HOME]])
    watch = RoomWatch(address=ANN, port=3580, fingerprint=None)
    watch.heard(HOME, announced_at(ANN))  # bob joined it there, before the flood
    watch._look(zc, flood[:64])  # the browser's names: the first 64 heard, all mallory's
    assert zc.names[0] == HOME and len(zc.names) <= 64


def test_a_rejoin_that_followed_the_room_to_its_new_address_says_so_in_the_status_line(monkeypatch):
    """The host's laptop got a new address; the client followed the announcement and rejoined
    there, but its status line (and /address: 'connected to ...') still named the old address
    for the rest of the chat. The rejoin now says where it joined: the status line takes it,
    with one line that the room moved; a rejoin at the same address says nothing."""
    import selectors
    import socket
    import time
    from types import SimpleNamespace

    import lanchat.client
    from lanchat.client import Reconnect
    from lanchat.session import Session

    rejoin, watch, tried = _refused_rejoin(monkeypatch)
    ends: list[socket.socket] = []

    def dial(endpoint, pinned):  # noqa: ANN001, ANN202
        tried.append(endpoint.host)
        ends.extend(socket.socketpair())
        return ends[-2]

    from lanchat.cli import rejoin as cli_rejoin

    monkeypatch.setattr(cli_rejoin, "_reconnect", dial)
    welcome = SimpleNamespace(muted=None, keeps_history=True)
    monkeypatch.setattr(lanchat.client, "join", lambda sock, name, **kw: (object(), welcome, []))
    rejoin.session = SimpleNamespace(name="bob", rejoin=SimpleNamespace(resume=None, last_seen=None))  # type: ignore[attr-defined]
    watch.heard(HOME, announced_at("198.18.0.11"))  # type: ignore[attr-defined]
    session = Session(name="bob", where=f"{ANN}:3580", clock=lambda: 100.0)
    shown: list[object] = []
    loop = SimpleNamespace(outcome=None, quitting=False, session=session, selector=selectors.DefaultSelector(),
                           frontend=SimpleNamespace(show=shown.extend), _handle_events=lambda events: None,
                           _send=lambda event: None, sock=None, proto=None, in_doubt=False)  # fmt: skip
    reconnect = Reconnect(rejoin)  # type: ignore[arg-type]
    try:
        for expected in ("198.18.0.11:3580", "198.18.0.11:3580"):  # followed, then a rejoin there again
            reconnect.offline_since = time.monotonic()
            reconnect._take(loop, rejoin())  # type: ignore[arg-type, operator]
            loop.selector.unregister(loop.sock)
            assert session.where == expected
        assert tried == ["198.18.0.11", "198.18.0.11"]
        assert [line.text for line in shown] == ["its host's address changed; the room is now at 198.18.0.11:3580"]  # type: ignore[attr-defined]
    finally:
        reconnect.close()
        loop.selector.close()
        for end in ends:
            end.close()


def test_false_announcements_naming_where_a_student_was_cost_one_try_each_after_the_real_one(monkeypatch):
    """From the attacker's side: mallory announces ann's room under its own instance name at the
    address bob was at and at one of hers, again and again, a new one each time, one of them her
    server that refuses bob as banned. While the room restarts (nothing answers at its address),
    each rejoin try goes where bob was first and to one of mallory's addresses second, each
    of hers once; her refusal does not end the rejoin, and what each failed try says is the
    room's own address's problem. Back, the room is rejoined where bob was, at the first try."""
    import socket
    from types import SimpleNamespace

    from lanchat.cli import rejoin as cli_rejoin
    from lanchat.client import STOP_REJOINING, JoinError, NotTheRoom
    from lanchat.transport import TransportError

    rejoin, watch, tried = _refused_rejoin(monkeypatch)
    ends: list[socket.socket] = []
    answering = {"198.18.7.1"}  # mallory's own server, which refuses bob as banned

    def dial(endpoint, pinned):  # noqa: ANN001, ANN202
        tried.append(endpoint.host)
        if endpoint.host not in answering:
            raise TransportError("refused", refused=True)
        ends.extend(socket.socketpair())
        return ends[-2]

    def join(sock, name, **kw):  # noqa: ANN001, ANN003, ANN202
        if tried[-1] != ANN:
            raise JoinError("banned by mallory", "banned")
        return object(), SimpleNamespace(), []

    monkeypatch.setattr(cli_rejoin, "_reconnect", dial)
    monkeypatch.setattr("lanchat.client.join", join)
    rejoin.session = SimpleNamespace(name="bob", rejoin=SimpleNamespace(resume=None, last_seen=None))  # type: ignore[attr-defined]
    assert "banned" in STOP_REJOINING
    tries: list[list[str]] = []
    try:
        for n in range(8):
            watch.heard(HOME, announced_at(ANN, f"198.18.7.{n % 4 + 1}"))  # type: ignore[attr-defined]  # mallory's, as the room's
            mark = len(tried)
            with pytest.raises(TransportError) as failed:
                rejoin()  # type: ignore[operator]
            assert not isinstance(failed.value, NotTheRoom), failed.value
            tries.append(tried[mark:])
        answering.add(ANN)  # the room is back
        mark = len(tried)
        rejoin()  # type: ignore[operator]
        assert tried[mark:] == [ANN] and rejoin.endpoint.host == ANN  # type: ignore[attr-defined]
    finally:
        for end in ends:
            end.close()
    assert all(one[0] == ANN and len(one) <= 2 for one in tries), tries  # where bob was, first, every time
    assert [one[1] for one in tries if len(one) == 2] == ["198.18.7.1", "198.18.7.2", "198.18.7.3", "198.18.7.4"], tries  # each once


def test_a_room_announced_at_two_addresses_is_not_taken_for_one_that_moved(monkeypatch):
    """The teacher's machine announces the room at both its addresses: bob's client took the other
    one for a move and kept his live connection in doubt (TCP keepalive quick: a few seconds of
    Wi-Fi trouble ended it) for as long as he stayed. Only when the room's own announcement no
    longer names his address is it a move; another announcer naming other addresses is, as before,
    a reason to ask the connection whether it is alive (and never more)."""
    rejoin, watch, _tried = _refused_rejoin(monkeypatch)
    watch.heard(HOME, announced_at(ANN, "198.18.0.12"))  # type: ignore[attr-defined]
    assert not rejoin.moved()  # type: ignore[attr-defined]
    watch.heard(f"mallory.{SERVICE_TYPE}", announced_at("198.18.0.9"))  # type: ignore[attr-defined]
    assert not rejoin.moved()  # type: ignore[attr-defined]  # the room's own says it is still here
    watch.heard(HOME, announced_at("198.18.0.12"))  # type: ignore[attr-defined]  # left this network
    assert rejoin.moved()  # type: ignore[attr-defined]


def test_a_rejoin_to_a_room_announced_at_several_addresses_goes_back_where_it_was_first(monkeypatch):
    """The teacher's machine announces the room at each of its addresses (Wi-Fi and a wired
    lab network; in tools/class_run.py an IPv4 address and a link-local one). ann's link went
    for a moment: her rejoin went first to the room's other address, and her screen said "the
    room is at [fe80::...%lan0]:59243 (TLS) now: its host's address changed", which it had not
    (and the status line named an address nobody can type). While the room's own announcement
    still names where she was, she goes back there first; if she ends up at another of its
    addresses all the same (nothing answers her where she was), that is what the line says.
    And a restart (nothing answers at either address for a while) brings her back where she
    was: a rejoin that found nobody there went to the other address next, and landed there."""
    import socket
    from types import SimpleNamespace

    from lanchat.cli import rejoin as cli_rejoin
    from lanchat.client import NotTheRoom
    from lanchat.session import Session
    from lanchat.transport import TransportError

    rejoin, watch, tried = _refused_rejoin(monkeypatch)
    watch.heard(HOME, announced_at(ANN, "198.18.0.12"))  # type: ignore[attr-defined]  # one machine, two networks
    ends: list[socket.socket] = []
    answering = {ANN}

    def dial(endpoint, pinned):  # noqa: ANN001, ANN202
        tried.append(endpoint.host)
        if endpoint.host not in answering:
            raise TransportError("refused")
        ends.extend(socket.socketpair())
        return ends[-2]

    monkeypatch.setattr(cli_rejoin, "_reconnect", dial)
    monkeypatch.setattr("lanchat.client.join", lambda sock, name, **kw: (object(), SimpleNamespace(), []))
    rejoin.session = SimpleNamespace(name="ann", rejoin=SimpleNamespace(resume=None, last_seen=None))  # type: ignore[attr-defined]
    session = Session(name="ann", where=f"{ANN}:3580", clock=lambda: 100.0)
    try:
        rejoin()  # type: ignore[operator]
        assert tried == [ANN]  # where she was, first
        assert session.rejoined_at(*rejoin.joined_at()) == []  # type: ignore[attr-defined]
        watch.heard(HOME, announced_at(ANN, "198.18.0.12"))  # type: ignore[attr-defined]
        answering.clear()  # the server restarting: not answering yet
        with pytest.raises(TransportError) as failed:
            rejoin()  # type: ignore[operator]
        assert tried == [ANN, ANN, "198.18.0.12"]  # one try: where she was, then the other address
        assert not isinstance(failed.value, NotTheRoom)  # what is said is the room's own address's problem
        answering.update({ANN, "198.18.0.12"})  # back at both
        rejoin()  # type: ignore[operator]
        assert tried[3:] == [ANN] and rejoin.endpoint.host == ANN  # type: ignore[attr-defined]  # back where she was
        assert session.rejoined_at(*rejoin.joined_at()) == []  # type: ignore[attr-defined]
        watch.heard(HOME, announced_at(ANN, "198.18.0.14"))  # type: ignore[attr-defined]
        answering.symmetric_difference_update({ANN, "198.18.0.14"})  # nothing answers her where she was now
        rejoin()  # type: ignore[operator]
        assert tried[4:] == [ANN, "198.18.0.14"]  # in the same try
        assert [line.text for line in session.rejoined_at(*rejoin.joined_at())] == [  # type: ignore[attr-defined]
            "back in the room, at another of its addresses: 198.18.0.14:3580"
        ]
        assert session.where == "198.18.0.14:3580"
        watch.heard(HOME, announced_at("198.18.0.13"))  # type: ignore[attr-defined]  # it moved: there first, said so
        answering.add("198.18.0.13")
        rejoin()  # type: ignore[operator]
        assert tried[-1] == "198.18.0.13"
        assert [line.text for line in session.rejoined_at(*rejoin.joined_at())] == [  # type: ignore[attr-defined]
            "its host's address changed; the room is now at 198.18.0.13:3580"
        ]
    finally:
        for end in ends:
            end.close()


def test_a_rooms_name_that_is_never_announced_says_so_at_the_start():
    """ann tried her room on her own laptop first: `serve --room "pizza night" --host 127.0.0.1`.
    The start said nothing of the name, and `lanchat connect "pizza night"` found no room called
    so: nothing is announced for a server only this machine reaches, nor for a socket file
    (README, Finding the room). The start says it now; --no-announce, which asked for it, does not."""
    from helpers import short_tmp_dir

    with short_tmp_dir() as folder:
        for how, why in ((("--port", "0", "--host", "127.0.0.1"), r"--host 127\.0\.0\.1 is reachable from this machine only"),
                         (("--unix", f"{folder}/p.sock"), r"an AF_UNIX socket is a file on this machine"),
                         (("--port", "0", "--host", "127.0.0.1", "--no-announce"), None)):
            server = Proc("serve", *how, "--headless", "--no-history", "--room", "pizza night")
            try:
                server.expect(r"^-- ")  # the start's lines are all out
                said = [line for line in server.lines if "not announced" in line]
                if why is None:
                    assert said == [], said
                else:
                    assert len(said) == 1 and re.fullmatch(rf"  'pizza night' is not announced on the local network \({why}\): "
                                                           r"`lanchat connect` by its name does not find it", said[0]), said
            finally:
                server.stop()
