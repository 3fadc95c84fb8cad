"""Frames made to be costly to read, from the attacker's side: a joined member sends frames the
server accepts (a typing hint ignores fields it does not know) but that cost it far more than
their size says. The room must go on at its usual pace. Real sockets on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import DEFAULT_TIMEOUT, RawClient, child_env, local_host, running_server, server_cpu_seconds, wait_for

from lanchat import events as ev
from lanchat.protocol import encode
from lanchat.wire import frame

pytestmark = pytest.mark.timeout(60)


def _typing_padded_with(values: list[object]) -> bytes:
    return frame(json.dumps({"type": "typing", "pad": values}, separators=(",", ":")).encode())


def test_typing_hints_padded_with_huge_numbers_do_not_stall_the_room():
    """A typing hint is not flood-counted and may carry fields the server does not know. msgspec
    reads a number written with an exponent of 289 or more (1e300) some 300 times slower than
    any other (7 us each): a hint padded with 8,000 of them (56 KiB) held the server's one loop
    for about 55 ms, and 20 guests sending one each held the room's lines for over a second.
    Such a frame is read by the json module now (2 ms), with the same values.
    Decided by the server's own CPU time (its thread's), not by a wall clock that a loaded machine
    stretches: ten hints of 1e300s may cost it a few times what ten hints of 8,000 plain numbers
    cost (6 measured), not the hundredfold msgspec took (140-190 measured with the check taken out)."""
    with running_server(limits=True) as (server, endpoint):
        ann = local_host(server, "ann")

        def server_cost(values: list[object], names: list[str]) -> float:
            already = set(server.hub.peers)
            guests = [RawClient(endpoint, name) for name in names]
            theirs = set(server.hub.peers) - already
            hint = _typing_padded_with(values)
            before = server_cpu_seconds(server)
            for guest in guests:
                guest.send_raw(hint)
            # each hint, once read, is the first spending of its sender's budget for uncounted frames
            read = lambda: [cid for cid, peer in list(server.hub.peers.items()) if cid in theirs and peer.budget is not None]  # noqa: E731
            wait_for(lambda: len(read()) == len(guests), what="every hint read")
            return server_cpu_seconds(server) - before

        plain = server_cost([12345] * 8000, [f"p{i}" for i in range(10)])
        huge = server_cost([1e300] * 8000, [f"g{i}" for i in range(10)])
        assert huge < 30 * plain, f"ten hints of 1e300s cost the server {huge * 1000:.0f} ms, plain ones {plain * 1000:.1f} ms"
        ann.send(ev.Say(text="still here"))
        ann.expect(ev.Message, text="still here")


# mallory's script: argv port; joins, then sends typing hints padded with 64 KiB of nested lists
# (32,000 of them, in a field nobody reads) as fast as the server reads them, until killed, and
# prints the count of hints sent after each one. Its send buffer is small (4 KiB, the kernel's
# least), so a hint counted is one the server took, give or take the two or three its receive
# buffer holds.
NESTED_HINTS = """
import json, socket, struct, sys
def frame(obj):
    body = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(body)) + body
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
sock.settimeout(10)
sock.connect(("127.0.0.1", int(sys.argv[1])))
sock.sendall(frame({"type": "hello", "name": "mallory", "version": 2}))
sock.recv(65536)  # the welcome
hint = frame({"type": "typing", "pad": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]] * 2000})
print("joined", flush=True)
sock.settimeout(None)  # a pause of the server's reading blocks it: it waits, as a real sender would
sent = 0
while True:
    sock.sendall(hint)
    sent += 1
    print(sent, flush=True)
"""


def test_typing_hints_padded_with_nested_junk_are_read_at_a_bytes_pace_not_a_frames():
    """The budget for frames flood control does not count (4,096 a second, 1,024 at once) is
    counted in frames, and a typing hint that carries 64 KiB of nested lists in a field nobody
    reads costs the plain JSON path about 3 ms: a script sending them flat out had 94 of the
    others' lines a second through (20,000 otherwise), some 100 ms late. A frame the typed fast
    path refuses now costs that budget a token per 16 of its bytes (4,096 for this one), so the
    server reads such frames at 64 KiB a second, about 3 ms of its time.
    Decided by counts, not by a time: while ann's 300 lines go round, one after the other's echo,
    the server takes a few of mallory's hints (one a second, and what the buffers hold) where,
    paced by frames, it took one or more with each of ann's lines."""
    with running_server(limits=True) as (server, endpoint):
        ann = local_host(server, "ann")  # the host: no flood limit of her own to meet
        mallory = subprocess.Popen(
            [sys.executable, "-c", NESTED_HINTS, str(endpoint.port)], stdout=subprocess.PIPE, text=True, env=child_env()
        )
        try:
            assert mallory.stdout is not None and mallory.stdout.readline() == "joined\n"
            ann.expect(ev.Joined, name="mallory")
            for line in range(300):
                ann.send(ev.Say(text=f"line {line}"))
                ann.expect(ev.Message, text=f"line {line}")
            assert mallory.poll() is None, "mallory's script ended before ann's 300 lines did"
        finally:
            mallory.kill()  # by its PID
            counted = mallory.communicate(timeout=DEFAULT_TIMEOUT)[0].split()
        taken = int(counted[-1]) if counted else 0
        assert taken < 100, f"the server took {taken} of mallory's 64 KiB hints while ann's 300 lines went round"


def test_a_sender_the_server_stopped_reading_is_not_cut_off_for_a_frame_it_did_not_read():
    """A frame's clock (limits.Deadlines: whole within frame_seconds of its first byte) ran on
    while the server itself did not read that connection (a pause: flood control, or the
    budget's debt after frames padded with junk), so the sender of six such frames and a line
    was put out with 'a frame was started but not finished', a frame she had sent whole and
    the server had left unread. The clock now stops for a pause and starts again at its end;
    her line arrives, late, and nothing is lost."""
    with running_server(limits=True, frame_seconds=1.0) as (server, endpoint):
        ann = local_host(server, "ann")
        mallory = RawClient(endpoint, "mallory")
        hint = _typing_padded_with([[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]] * 1900)  # 61 KiB: ~0.9 s of budget each
        mallory.send_raw(hint * 6 + encode(ev.Say(text="made it")))
        heard = []
        while not (isinstance(event := mallory.expect(object, timeout=15), ev.Message) and event.text == "made it"):
            heard.append(event)
            assert not isinstance(event, ev.Error), event
        ann.expect(ev.Message, text="made it")


def test_a_name_no_one_could_have_costs_a_lookup_nothing_however_it_folds():
    """A whisper, a /whois and a file offered to a "name" of 21,600 U+FDFA (one frame's worth,
    64 KiB): NFKC makes each of them 18 letters, and the server keyed the text, folding it five
    times over, two or three times per frame: 130 to 270 ms of its one loop each, while the room
    waited (ten such whois held a ping for 2 s). A text longer than any name can be spelled in is
    nobody's (names.could_be_a_name), unkeyed: the same answers, at an ASCII name's cost. Decided
    by the server thread's own CPU time against the same frames naming 64,000 ASCII letters."""
    with running_server() as (server, endpoint):
        mallory = RawClient(endpoint, "mallory")

        def server_cost(name: str) -> float:
            before = server_cpu_seconds(server)
            for _ in range(5):
                mallory.send(ev.Whisper(to=name, text="hi"))
                mallory.expect(ev.Error, code=ev.E_NO_SUCH_USER)
                mallory.send(ev.WhoIs(name=name))
                mallory.expect(ev.Error, code=ev.E_NO_SUCH_USER)
                mallory.send(ev.OfferFile(ref=1, name="notes.txt", size=10, to=name))
                mallory.expect(ev.FileError)
            return server_cpu_seconds(server) - before

        plain = server_cost("z" * 64_000)
        folding = server_cost("\ufdfa" * 21_600)
        assert folding < 0.05 + 20 * plain, f"15 frames naming U+FDFAs cost the server {folding * 1000:.0f} ms, ASCII ones {plain * 1000:.1f} ms"
        mallory.send(ev.Say(text="still here"))
        mallory.expect(ev.Message, text="still here")


def test_an_operator_command_naming_no_one_who_could_be_costs_a_lookup_nothing():
    """/kick, /op, /ban, /mute, /unmute, /unban, /admit, /deop and /release of a "name" of 21,600
    U+FDFA (one 64 KiB frame, 18 letters each under NFKC): the server asked whether it was the
    bot's name, or whose ban, mute or newcomer's try it was, by keying it: 80 to 270 ms of its one
    loop per frame while everyone's lines waited, from any operator (a headless room's --operator
    student, a key given /op). Each answers as before (no-such-user, or bad-name where a ban or
    mute of an absent name checks the name first), unkeyed: names.could_be_a_name. Decided by the
    server thread's own CPU time against the same frames naming 64,000 ASCII letters, with a ban
    and a mute held, so /unban and /unmute have some to look through."""
    with running_server() as (server, endpoint):
        teacher = local_host(server, "teacher")
        teacher.send(ev.Moderate(action="ban", name="dan"))
        teacher.expect(ev.Moderated, action="ban")
        teacher.send(ev.Moderate(action="mute", name="eve"))
        teacher.expect(ev.Moderated, action="mute")
        answers = {"ban": ev.E_BAD_NAME, "mute": ev.E_BAD_NAME}

        def server_cost(name: str) -> float:
            before = server_cpu_seconds(server)
            for action in ("kick", "op", "deop", "ban", "mute", "unmute", "unban", "admit"):
                teacher.send(ev.Moderate(action=action, name=name))
                teacher.expect(ev.Error, code=answers.get(action, ev.E_NO_SUCH_USER))
            teacher.send(ev.Release(name=name))
            teacher.expect(ev.Error, code=ev.E_BAD_NAME)
            return server_cpu_seconds(server) - before

        plain = server_cost("z" * 64_000)
        folding = server_cost("\ufdfa" * 21_600)
        assert folding < 0.05 + 20 * plain, f"9 commands naming U+FDFAs cost the server {folding * 1000:.0f} ms, ASCII ones {plain * 1000:.1f} ms"
        teacher.send(ev.Moderate(action="unban", name="dan"))  # the real ones still answer
        teacher.expect(ev.Moderated, action="unban", name="dan")
        teacher.send(ev.Moderate(action="unmute", name="eve"))
        teacher.expect(ev.Moderated, action="unmute", name="eve")


def test_a_pass_naming_no_one_who_could_be_costs_the_turns_holder_nothing_more():
    """/pass NAME checks that NAME holds the turn, so a teacher's '/pass s03' is not read as
    'give s03 the turn'. The one holding the turn may /pass, no operator needed: a student
    holding it who named 7,200 U+FDFA (each followed by two marks, no two pieces alike: nothing
    repeats for names.text_key to fold once)
    had the server key it, about 70 ms of its one loop a frame. Now answered unkeyed (names.
    could_be_a_name) with the same bad-message ('... does not hold the turn'), at an ASCII
    name's cost; server thread CPU time, as above."""
    with running_server("turn") as (server, endpoint):
        ann = RawClient(endpoint, "ann")  # first in: the turn is hers
        bob = RawClient(endpoint, "bob")
        ann.expect(ev.Joined, name="bob")
        pairs = [chr(0x300 + at // 0x70) + chr(0x300 + at % 0x70) for at in range(7_200)]  # no two alike

        def server_cost(name: str) -> float:
            before = server_cpu_seconds(server)
            for _ in range(5):
                ann.send(ev.Moderate(action="pass", name=name))
                ann.expect(ev.Error, code=ev.E_BAD_MESSAGE)
            return server_cpu_seconds(server) - before

        plain = server_cost("z" * 64_000)
        folding = server_cost("".join("\ufdfa" + pair for pair in pairs))
        assert folding < 0.05 + 20 * plain, f"5 /pass naming U+FDFAs cost the server {folding * 1000:.0f} ms, ASCII ones {plain * 1000:.1f} ms"
        ann.send(ev.Moderate(action="pass", name="ann"))  # her own name still passes it
        bob.expect(ev.Turn, holder="bob")


def test_a_file_offered_under_a_name_no_file_system_has_is_refused_before_it_costs_the_room():
    """A file offered under a 64 KiB name (no file system takes a path of more than 4,096
    characters) was made safe character by character on the server's one loop, 15 ms a frame,
    ASCII or not, while the room waited. Such an offer is now refused first, saying why; a name
    of 4,096 characters is still taken (made safe and shortened as ever). Decided by the server
    thread's own CPU time against the same offers under a short name."""
    with running_server() as (server, endpoint):
        mallory = RawClient(endpoint, "mallory")

        def server_cost(name: str) -> float:
            before = server_cpu_seconds(server)
            for ref in range(10):
                mallory.send(ev.OfferFile(ref=ref, name=name, size=10**12))  # over the size cap: refused either way
                mallory.expect(ev.FileError)
            return server_cpu_seconds(server) - before

        plain = server_cost("notes.txt")
        huge = server_cost("n" * 64_000)
        assert huge < 0.05 + 20 * plain, f"10 offers under a 64 KiB name cost the server {huge * 1000:.0f} ms, a short name's {plain * 1000:.1f} ms"
        mallory.send(ev.OfferFile(ref=1, name="n" * 64_000 + ".txt", size=10))
        refused = mallory.expect(ev.FileError)
        assert refused.message == "refused: a file name has at most 4,096 characters (this one has 64,004)", refused
        mallory.send(ev.OfferFile(ref=2, name="n" * 4092 + ".txt", size=10))  # the longest still taken
        mallory.expect(ev.UploadReady, ref=2)
