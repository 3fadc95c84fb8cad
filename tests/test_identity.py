"""Identity keys, owned names, private messages that stay private, and the room password,
tried from the attacker's side: a second key, a forged or replayed signature, a wrong key
length, wrong passwords in a row, a key file others can read (docs/PROTOCOL.md, Identity)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pexpect
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import (
    DEFAULT_TIMEOUT,
    ROOT,
    Proc,
    RawClient,
    TermProc,
    child_env,
    identity_args,
    local_host,
    network_namespace_or_skip,
    running_server,
    second_account_or_skip,
    start_server,
    unfolded,
    wait_for,
)

from lanchat import events as ev
from lanchat import identity
from lanchat.gate import Gate
from lanchat.history import HistoryStore
from lanchat.identity import IdentityError, RoomPassword, load_or_create_key
from lanchat.room import Claim, Close, Log, Room, Send
from lanchat.transport import Endpoint

T0 = 1_700_000_000.0
SALT = bytes(range(16))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def counter_bytes():
    """Reproducible nonces: 32 bytes that differ on every call."""
    state = {"n": 0}

    def random_bytes(size: int) -> bytes:
        state["n"] += 1
        return state["n"].to_bytes(size, "big")

    return random_bytes


def gated_room(clock: Clock | None = None, **gate: object) -> Room:
    """A room whose gate (gate.py) draws reproducible nonces."""
    clock = clock or Clock()
    return Room(clock=clock, gate=Gate(clock=clock, random_bytes=counter_bytes(), **gate))  # type: ignore[arg-type]


def hello(key: Ed25519PrivateKey | None, name: str) -> ev.Hello:
    return ev.Hello(name=name, key=identity.b64(identity.public_bytes(key)) if key else None)


def auth(key: Ed25519PrivateKey, challenge: ev.Challenge, password: str | None = None) -> ev.Auth:
    nonce = identity.unb64(challenge.nonce, 32, "nonce")
    signature = identity.b64(identity.sign_challenge(key, nonce))
    if password is None:
        return ev.Auth(signature=signature)
    derived = identity.derive_password_key(password, identity.unb64(challenge.salt or "", 16, "salt"))
    return ev.Auth(signature=signature, proof=identity.b64(identity.password_proof(derived, nonce)))


def join(room: Room, cid: int, key: Ed25519PrivateKey, name: str, password: str | None = None) -> list:
    (send,) = room.handle(cid, hello(key, name))
    assert isinstance(send.event, ev.Challenge)
    return room.handle(cid, auth(key, send.event, password))


def events_to(actions: list, cid: int) -> list[ev.Event]:
    return [a.event for a in actions if isinstance(a, Send) and a.to == cid]


def error_code(actions: list, cid: int) -> str | None:
    errors = [e for e in events_to(actions, cid) if isinstance(e, ev.Error)]
    return errors[0].code if errors else None


# ------------------------------------------------------------------ keys and signatures


def test_a_signature_proves_the_key_for_this_nonce_only():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    public = identity.public_bytes(key)
    nonce = os.urandom(32)
    signature = identity.sign_challenge(key, nonce)
    assert identity.signature_ok(public, nonce, signature)
    assert not identity.signature_ok(public, os.urandom(32), signature)  # replayed for another challenge
    assert not identity.signature_ok(public, nonce, identity.sign_challenge(other, nonce))  # forged by another key
    assert not identity.signature_ok(public, nonce, bytes(64))
    assert not identity.signature_ok(public, nonce, signature[:-1] + bytes([signature[-1] ^ 1]))


def test_fingerprints_are_stable_and_short_enough_to_read_out_loud():
    public = bytes(32)
    assert identity.fingerprint(public).startswith("SHA256:") and len(identity.fingerprint(public)) == 50
    short = identity.short_fingerprint(public)
    assert short == identity.short_fingerprint(bytes(32)) and len(short.split()) == 4
    assert short != identity.short_fingerprint(bytes(31) + b"\x01")


def test_the_password_proof_needs_the_password_and_is_bound_to_the_nonce():
    room_password = RoomPassword.create("correct horse", SALT)
    nonce = os.urandom(32)
    right = identity.password_proof(identity.derive_password_key("correct horse", SALT), nonce)
    wrong = identity.password_proof(identity.derive_password_key("correct hors", SALT), nonce)
    assert room_password.accepts(nonce, right)
    assert not room_password.accepts(nonce, wrong)
    assert not room_password.accepts(os.urandom(32), right)  # an overheard proof is worth nothing later
    assert b"correct horse" not in right + room_password.derived


# ------------------------------------------------------------------ the key file


def test_the_key_file_is_made_private_on_first_use_and_read_back(tmp_path):
    path = tmp_path / "data" / "identity.key"
    key, notes = load_or_create_key(path)
    assert "new identity key" in notes[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, notes = load_or_create_key(path)
    assert notes == [] and identity.public_bytes(again) == identity.public_bytes(key)


def test_a_key_file_others_can_read_is_fixed_and_the_user_is_told(tmp_path):
    path = tmp_path / "identity.key"
    key, _ = load_or_create_key(path)
    os.chmod(path, 0o644)
    again, notes = load_or_create_key(path)
    assert identity.public_bytes(again) == identity.public_bytes(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(notes) == 1 and "0644" in notes[0] and "0600" in notes[0]


def test_a_file_that_is_not_a_key_is_refused_never_replaced(tmp_path):
    path = tmp_path / "identity.key"
    path.write_bytes(b"not a key")
    os.chmod(path, 0o600)
    with pytest.raises(IdentityError, match="not a lanchat identity key"):
        load_or_create_key(path)
    assert path.read_bytes() == b"not a key"


def test_identity_given_a_file_that_is_not_a_key_leaves_it_as_it_was(tmp_path):
    """`lanchat key --identity /etc/passwd` (a slip, or a wrong Tab): the loose-mode fix ran before
    the file was read as a key and made it 0600, which on /etc/passwd locks every user out of
    their name lookups. A file that is not a key is never changed, and the line says to give
    the key file rather than to move this one aside."""
    path = tmp_path / "passwd"
    path.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    os.chmod(path, 0o644)
    proc = Proc("key", "--identity", str(path), stdin=False)
    assert proc.wait() == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert proc.lines == [f"lanchat: {path} is not a lanchat identity key: give yours with --identity PATH "
                          "(if this is where yours belongs, move the file aside to get a new one)"]


def test_identity_in_a_folder_that_is_not_there_is_refused_and_no_folder_is_made(tmp_path):
    """`--identity ~/usb/identity.key` with the stick not plugged in made ~/usb/ and a new key
    there: the student then joined as someone new, refused their own name. A folder the user
    names is never made; the default data folder still is, on first use."""
    path = tmp_path / "usb" / "identity.key"
    proc = Proc("key", "--identity", str(path), stdin=False)
    assert proc.wait() == 1
    assert not (tmp_path / "usb").exists()
    assert proc.lines == [f"lanchat: there is no folder {tmp_path / 'usb'} for the identity key identity.key (a drive "
                                     "not plugged in? a typo?); give an existing key file, or a file name in an existing folder "
                          "for a new key"]
    first_use = Proc("key", stdin=False)  # the default key: its folder is made, as on every first run
    assert first_use.wait() == 0 and "a new identity key was made" in first_use.output


def test_a_disk_too_full_for_the_new_key_says_so_and_leaves_no_empty_key_behind(tmp_path):
    # A real write failure: the child may write at most 64 bytes per file (RLIMIT_FSIZE), so the
    # ~119-byte PEM fails with EFBIG (SIGXFSZ ignored) as it would on a full disk.
    path = tmp_path / "identity.key"
    program = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n"
        "from lanchat.identity import IdentityError, load_or_create_key\n"
        "try:\n"
        "    load_or_create_key(__import__('pathlib').Path(sys.argv[1]))\n"
        "except IdentityError as exc:\n"
        "    print('refused:', exc)\n"
    )
    result = subprocess.run(
        # (no .pyc written under a 64-byte file limit: a torn one in the shared __pycache__
        # breaks every later import of that module, in every test)
        [sys.executable, "-c", program, str(path)], env=child_env(PYTHONDONTWRITEBYTECODE="1"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith(f"refused: cannot write the identity key {path}"), result.stdout
    assert not path.exists()  # the next start makes a key, rather than refusing an empty file
    key, _notes = load_or_create_key(path)
    assert isinstance(key, Ed25519PrivateKey) and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_connect_with_a_loose_key_file_fixes_it_and_says_so_without_a_traceback(tmp_path):
    path = tmp_path / "me.key"
    load_or_create_key(path)
    os.chmod(path, 0o666)
    with running_server() as (_server, endpoint):
        proc = Proc("connect", "127.0.0.1", str(endpoint.port), "--name", "ann", "--identity", str(path))
        try:
            proc.expect(r"could be read by others \(mode 0666\); it is now 0600")
            proc.expect(r"welcome, ann")
            proc.send("/q")
            assert proc.wait() == 0
        finally:
            proc.stop()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "Traceback" not in proc.output


# ------------------------------------------------------------------ names belong to keys (pure room)


def test_a_second_key_cannot_take_an_owned_name_in_any_case():
    room = gated_room()
    cat, mallory = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    first = join(room, 1, cat, "cat")
    assert Claim(name="cat", owner=identity.public_bytes(cat)) in first
    room.leave(1, "quit")
    refused = join(room, 2, mallory, "CAT")
    assert error_code(refused, 2) == ev.E_NAME_OWNED
    assert "the name 'CAT' belongs to someone else on this server" in events_to(refused, 2)[0].message
    assert 2 not in room.members and not [a for a in refused if isinstance(a, Claim)]
    (guest,) = room.handle(3, ev.Hello(name="Cat"))  # a keyless (version 1) client cannot have it either
    assert guest.event.code == ev.E_NAME_OWNED
    again = join(room, 4, cat, "Cat")  # the owner can, in any case, from any terminal holding the key
    assert isinstance(events_to(again, 4)[0], ev.Welcome)


def test_passing_through_names_with_nick_does_not_hoard_them():
    """An attacker's key /nicks through names its classmates will want: it keeps only its newest three."""
    room = gated_room()
    mallory, bob = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    join(room, 1, mallory, "mal")
    released = []
    for number in range(6):
        actions = room.handle(1, ev.Nick(name=f"student{number}"))
        assert Claim(name=f"student{number}", owner=identity.public_bytes(mallory)) in actions
        released += [a.name for a in actions if isinstance(a, Claim) and a.owner is None]
        assert {a.by for a in actions if isinstance(a, Claim) and a.owner is None} <= {1}  # told if it cannot be saved (hub.py)
    keys = [identity.owned_name_key(name) for name in ("mal", *(f"student{n}" for n in range(6)))]  # "studentl": confusables
    assert released == keys[:4]  # oldest first
    assert sorted(room.gate.owners) == sorted(keys[4:])
    assert isinstance(events_to(join(room, 2, bob, "Student0"), 2)[0], ev.Welcome)  # free again for its owner-to-be
    assert error_code(join(room, 3, bob, "student3"), 3) == ev.E_NAME_OWNED  # one of the three it keeps


def test_one_machine_makes_at_most_ten_names_its_own_an_hour_however_many_keys_it_makes():
    clock = Clock()
    room = gated_room(clock)
    for cid in range(1, 13):
        room.gate.addresses[cid] = f"10.0.0.9:{50000 + cid}"  # one laptop, a fresh key each time
    claimed = [bool([a for a in join(room, cid, Ed25519PrivateKey.generate(), f"s{cid}") if isinstance(a, Claim)]) for cid in range(1, 12)]
    assert claimed == [True] * 10 + [False]
    assert 11 in room.members and "s11" not in room.gate.owners  # in the room, the name unowned
    room.gate.addresses[20] = "10.0.0.20:40000"  # another machine is not held back
    assert Claim(name="ann", owner=identity.public_bytes(ann := Ed25519PrivateKey.generate())) in join(room, 20, ann, "ann")
    clock.now += 3600
    assert [a for a in join(room, 12, Ed25519PrivateKey.generate(), "s12") if isinstance(a, Claim)]  # an hour later
    for cid in range(30, 42):  # everyone on the server's own machine is not one machine (a lab server)
        room.gate.addresses[cid] = "local socket" if cid % 2 else f"127.0.0.1:{cid}"
        assert [a for a in join(room, cid, Ed25519PrivateKey.generate(), f"u{cid}") if isinstance(a, Claim)]


# A student's script on a lab server: a fresh key for each name, straight to the server over
# loopback, each name taken and the connection closed. Prints "NAME welcome" or "NAME error CODE".
HOARDER = r"""
import socket, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lanchat import events as ev, identity
from lanchat.protocol import Connection, Role
where, names = sys.argv[1], sys.argv[2:]
for name in names:
    key = Ed25519PrivateKey.generate()
    if where.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(where)
    else:
        sock = socket.create_connection(("127.0.0.1", int(where)), timeout=10)
    sock.settimeout(10)
    proto = Connection(Role.CLIENT)
    sock.sendall(proto.send(ev.Hello(name=name, key=identity.b64(identity.public_bytes(key)))))
    answer = None
    while answer is None:
        proto.receive_data(sock.recv(65536))
        for event in proto.events():
            if isinstance(event, ev.Challenge):
                nonce = identity.unb64(event.nonce, identity.NONCE_BYTES, "nonce")
                sock.sendall(proto.send(ev.Auth(signature=identity.b64(identity.sign_challenge(key, nonce)))))
            elif isinstance(event, (ev.Welcome, ev.Error)):
                answer = "welcome" if isinstance(event, ev.Welcome) else f"error {event.code}"
    print(name, answer, flush=True)
    sock.sendall(proto.send(ev.Bye()))
    sock.close()
"""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to run the student's script as another user")
@pytest.mark.parametrize("over", ["loopback", "socket-file"])
def test_a_student_on_the_lab_server_cannot_hoard_names_with_a_key_per_name(tmp_path, over):
    """From the attacker's side: on a lab server, where the class logs in and joins over loopback
    or the socket file, every user there was exempt from the ten-names-an-hour cap (one machine,
    many people), so one student's script could own every classmate's name before the lesson.
    Now each user of the machine (their user id, from the socket) counts as one machine does:
    ten names an hour; the eleventh stays free for the classmate who comes for it."""
    second_account_or_skip()  # nobody must be able to run this Python
    folder = Path(tempfile.mkdtemp(prefix="lanchat-lab-", dir="/tmp"))  # short, and open to every user of the machine
    folder.chmod(0o755)
    args = ("--unix", str(folder / "room.sock")) if over == "socket-file" else ()
    server, port = start_server_for(*args)
    if over == "socket-file":
        (folder / "room.sock").chmod(0o666)  # born the host's alone: the teacher opened it to the class
    try:
        where = str(folder / "room.sock") if over == "socket-file" else str(port)
        names = [f"student{n}" for n in range(1, 12)]
        script = subprocess.run(
            ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable, "-c", HOARDER, where, *names],
            capture_output=True, text=True, timeout=60, env=child_env(), cwd=ROOT, check=False,
        )  # fmt: skip
        assert script.stdout.split("\n")[:11] == [f"{name} welcome" for name in names], script.stdout + script.stderr
        server.expect(r"user 65534 on this machine made 10 names its own within the hour: 'student11' is used unowned")
        classmate = RawClient(Endpoint(path=where) if over == "socket-file" else Endpoint(host="127.0.0.1", port=port),
                              key=Ed25519PrivateKey.generate())  # fmt: skip
        classmate.hello("student11")
        assert isinstance(classmate.expect(object), ev.Welcome), server.output
        classmate.close()
        teacher = RawClient(Endpoint(path=where) if over == "socket-file" else Endpoint(host="127.0.0.1", port=port),
                            key=Ed25519PrivateKey.generate())  # fmt: skip
        teacher.hello("student10")  # one of the ten the script may own
        assert teacher.expect(ev.Error).code == ev.E_NAME_OWNED
        teacher.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def start_server_for(*args: str) -> tuple[Proc, int | None]:
    if args:
        proc = Proc("serve", "--headless", "--no-announce", *args)
        proc.expect(r"join with")
        return proc, None
    proc = Proc("serve", "--headless", "--no-announce", "--port", "0", "--host", "127.0.0.1")
    return proc, int(proc.expect(r"listening on port (\d+)").group(1))


def test_a_key_owns_its_newest_names_across_a_restart(tmp_path):
    """The store gives the owners back oldest first, so the next claim after a restart releases the oldest."""
    store = HistoryStore(tmp_path / "h.sqlite3")
    key = identity.public_bytes(Ed25519PrivateKey.generate())
    for at, name in enumerate(["zed", "amy", "kim"]):  # claimed in this order; not alphabetical
        store.claim(name, key, time=1000.0 + at)
    owners = store.owners()
    store.close()
    clock = Clock()
    gate = Gate(clock=clock, owners=owners)
    actions = gate.claim("new", key)
    assert [a.name for a in actions if isinstance(a, Claim) and a.owner is None] == ["zed"]


def test_a_look_alike_of_an_owned_name_with_its_case_kept_is_refused_after_a_restart(tmp_path):
    """The store's spellings of the owned names come back at start: 'haI' (a capital i) is
    still refused as the look-alike of the teacher's 'hal' a restart later."""
    store = HistoryStore(tmp_path / "h.sqlite3")
    teacher = identity.public_bytes(Ed25519PrivateKey.generate())
    store.claim("hal", teacher, time=1000.0)
    gate = Gate(clock=Clock(), owners=store.owners(), owner_names=[name for name, _key in store.owner_names()])
    store.close()
    (refused,) = gate.refusal(1, "haI", identity.public_bytes(Ed25519PrivateKey.generate()))
    assert refused.event.code == ev.E_NAME_OWNED and "it looks like 'hal'" in refused.event.message
    assert gate.refusal(2, "haI", teacher) == []  # the owner's own key may spell it so
    assert gate.refusal(3, "hai", None) == []  # a name of its own: it looks like neither


def test_a_replayed_signature_from_an_earlier_challenge_is_refused():
    room = gated_room()
    cat = Ed25519PrivateKey.generate()
    (first,) = room.handle(1, hello(cat, "cat"))
    overheard = auth(cat, first.event)
    room.handle(1, overheard)
    room.leave(1, "quit")
    # the eavesdropper sends cat's public key and the overheard signature: a new nonce, no match
    (challenge,) = room.handle(2, hello(cat, "cat"))
    assert challenge.event.nonce != first.event.nonce
    refused = room.handle(2, overheard)
    assert error_code(refused, 2) == ev.E_BAD_SIGNATURE and Close(who=2) in refused
    assert 2 not in room.members


def test_a_forged_signature_or_a_wrong_key_length_is_refused_and_closes():
    room = gated_room()
    cat, mallory = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    (challenge,) = room.handle(1, hello(cat, "cat"))
    forged = auth(mallory, challenge.event)  # signed, but not by the key in hello
    refused = room.handle(1, forged)
    assert error_code(refused, 1) == ev.E_BAD_SIGNATURE and 1 not in room.members
    for bad in (identity.b64(bytes(31)), identity.b64(bytes(33)), "not base64!", ""):
        refused = room.handle(2, ev.Hello(name="eve", key=bad))
        assert error_code(refused, 2) == ev.E_BAD_KEY and Close(who=2) in refused
    (challenge,) = room.handle(3, hello(cat, "cat"))
    refused = room.handle(3, ev.Auth(signature=identity.b64(bytes(63))))
    assert error_code(refused, 3) == ev.E_BAD_SIGNATURE
    stray = room.handle(4, ev.Auth(signature=identity.b64(bytes(64))))  # no challenge was sent
    assert error_code(stray, 4) == ev.E_BAD_MESSAGE and not room.members


def test_an_answer_relayed_from_another_server_is_refused():
    # A rogue server relays this room's challenge to cat and hands her answer back; but cat,
    # talking TLS to the rogue, signed the rogue's certificate (the channel binding), not ours.
    ours, rogue = bytes([1]) * 32, bytes([2]) * 32
    room = gated_room(binding=ours, password=RoomPassword.create("pw", SALT))
    cat = Ed25519PrivateKey.generate()
    (challenge,) = room.handle(1, hello(cat, "cat"))
    nonce = identity.unb64(challenge.event.nonce, 32, "nonce")
    derived = identity.derive_password_key("pw", SALT)
    relayed = ev.Auth(
        signature=identity.b64(identity.sign_challenge(cat, nonce, rogue)),
        proof=identity.b64(identity.password_proof(derived, nonce, rogue)),
    )
    assert error_code(room.handle(1, relayed), 1) == ev.E_BAD_SIGNATURE and not room.members
    (challenge,) = room.handle(2, hello(cat, "cat"))
    nonce = identity.unb64(challenge.event.nonce, 32, "nonce")
    half_relayed = ev.Auth(  # the signature for us, the password proof for the rogue: still no
        signature=identity.b64(identity.sign_challenge(cat, nonce, ours)),
        proof=identity.b64(identity.password_proof(derived, nonce, rogue)),
    )
    assert error_code(room.handle(2, half_relayed), 2) == ev.E_PASSWORD and not room.members
    (challenge,) = room.handle(3, hello(cat, "cat"))
    nonce = identity.unb64(challenge.event.nonce, 32, "nonce")
    honest = ev.Auth(
        signature=identity.b64(identity.sign_challenge(cat, nonce, ours)),
        proof=identity.b64(identity.password_proof(derived, nonce, ours)),
    )
    assert isinstance(events_to(room.handle(3, honest), 3)[0], ev.Welcome)


# ------------------------------------------------------------------ the room password (pure room)


def test_a_wrong_password_gets_one_generic_error_and_nothing_about_the_room():
    room = gated_room(password=RoomPassword.create("s3cret", SALT))
    ann = Ed25519PrivateKey.generate()
    assert isinstance(events_to(join(room, 1, ann, "ann", "s3cret"), 1)[0], ev.Welcome)
    mallory = Ed25519PrivateKey.generate()
    (challenge,) = room.handle(2, hello(mallory, "ann2"))
    assert challenge.event.salt == identity.b64(SALT)
    refused = room.handle(2, auth(mallory, challenge.event, "guess"))
    (error,) = events_to(refused, 2)
    assert error == ev.Error(code=ev.E_PASSWORD, message="wrong password", fatal=True)
    assert Close(who=2) in refused and 2 not in room.members
    assert not [a for a in refused if not isinstance(a, (Send, Close, Log))]  # no replay, no broadcast, no claim
    assert "ann" not in repr(events_to(refused, 2))  # not even who is here
    (no_proof,) = room.handle(3, hello(mallory, "x"))
    assert error_code(room.handle(3, auth(mallory, no_proof.event)), 3) == ev.E_PASSWORD
    (v1,) = [a for a in room.handle(4, ev.Hello(name="old", version=1)) if isinstance(a, Send)]
    assert v1.event.code == ev.E_PASSWORD and v1.event.fatal  # a version-1 client cannot prove it


def banned_password_room(**ban: object) -> tuple[Room, Clock]:
    """A password room with one ban (by name "mallory", and ``ban``: a key or an address)."""
    from lanchat.moderation import Ban, key_id

    clock = Clock()
    key = ban.pop("key", None)
    fields = {"key": key_id(identity.public_bytes(key)) if key else None, "address": None, **ban}
    banned = Ban(id=1, name="mallory", name_key=ev.name_key("mallory"), by="hal", reason="spam", time=T0, **fields)  # type: ignore[arg-type]
    room = Room(clock=clock, bans=[banned], gate=Gate(clock=clock, random_bytes=counter_bytes(), password=RoomPassword.create("s3cret", SALT)))
    return room, clock


def test_a_banned_key_or_address_is_told_before_the_password_is_asked():
    """A banned student typed the room password and only then read that they were banned. A ban
    on their key or address concerns them alone: they are told before the password is asked."""
    mallory = Ed25519PrivateKey.generate()
    room, _ = banned_password_room(key=mallory)
    (challenge,) = room.handle(1, hello(mallory, "innocent"))  # another name: the key is what is banned
    assert challenge.event.salt is None  # no password asked: proving the key is enough to be told
    refused = room.handle(1, auth(mallory, challenge.event))
    assert events_to(refused, 1) == [ev.Error(code=ev.E_BANNED, message="you are banned from this room by hal: spam", fatal=True)]
    assert Close(who=1) in refused and 1 not in room.members
    # someone who copied mallory's public key cannot sign for it: nothing more than the challenge
    (copied,) = room.handle(2, hello(mallory, "copycat"))
    stranger = Ed25519PrivateKey.generate()
    assert error_code(room.handle(2, auth(stranger, copied.event)), 2) == ev.E_BAD_SIGNATURE
    # a banned address: refused at its hello, before any challenge
    room, _ = banned_password_room(address="192.168.1.66")
    room.moderation.arrive(3, "192.168.1.66")
    refused = room.handle(3, hello(Ed25519PrivateKey.generate(), "someone"))
    assert events_to(refused, 3) == [ev.Error(code=ev.E_BANNED, message="you are banned from this room by hal: spam", fatal=True)]


def test_a_banned_student_cannot_put_words_in_the_hosts_ban_notice_with_the_name_they_give():
    """A ban is told before the password (and so before the name is checked): the name in the
    host's "tried to join" notice was whatever the hello said, spaces and escapes included."""
    forged = "hal \x1b[2J: the ban is lifted, everyone may go home"
    mallory = Ed25519PrivateKey.generate()
    for ban in ({"address": "192.168.1.66"}, {"key": mallory}):
        room, _ = banned_password_room(**ban)
        room.moderation.arrive(1, "192.168.1.66")
        actions = room.handle(1, hello(mallory, forged))
        if not any(isinstance(e, ev.Error) for e in events_to(actions, 1)):  # the key: proved first
            actions = room.handle(1, auth(mallory, events_to(actions, 1)[0]))
        assert error_code(actions, 1) == ev.E_BANNED
        told = repr([a for a in actions if not (isinstance(a, Send) and a.to == 1)])
        assert "tried" in told and "(an invalid name) (mallory's ban" in told, told
        assert "the ban is lifted" not in told


def test_a_banned_name_is_only_told_after_the_password():
    """Whether a NAME is banned is the room's business: a stranger who asks for it with a key of
    their own gets the usual challenge, and "wrong password" without the password."""
    room, _ = banned_password_room()
    guesser = Ed25519PrivateKey.generate()
    (challenge,) = room.handle(1, hello(guesser, "mallory"))
    assert challenge.event.salt == identity.b64(SALT)
    assert error_code(room.handle(1, auth(guesser, challenge.event, "guess")), 1) == ev.E_PASSWORD
    assert error_code(join(room, 2, guesser, "mallory", "s3cret"), 2) == ev.E_BANNED


def test_a_ban_lifted_between_the_challenge_and_the_answer_lets_nobody_in_without_the_password():
    mallory = Ed25519PrivateKey.generate()
    room, _ = banned_password_room(key=mallory)
    (challenge,) = room.handle(1, hello(mallory, "mal"))
    assert challenge.event.salt is None
    room.moderation.bans.clear()  # an /unban meanwhile
    answered = room.handle(1, auth(mallory, challenge.event))
    assert error_code(answered, 1) == ev.E_PASSWORD and 1 not in room.members and Close(who=1) in answered
    assert isinstance(events_to(join(room, 2, mallory, "mal", "s3cret"), 2)[0], ev.Welcome)  # again, with the password


def test_three_wrong_passwords_lock_that_person_for_a_minute_and_the_host_log_says_so():
    """One key's three wrong passwords within a minute lock that key at that address for a
    minute, whichever port each came from; a classmate at the same address is not locked. The
    host is told of the first and of the lock (the one between summed up in it: lim.HostNotices)."""
    clock = Clock()
    room = gated_room(clock, password=RoomPassword.create("s3cret", SALT))
    room.host_cid = 9  # the teacher, hosting in the chat, is told as the log is
    assert isinstance(events_to(join(room, 9, Ed25519PrivateKey.generate(), "teacher", "s3cret"), 9)[0], ev.Welcome)
    mallory = Ed25519PrivateKey.generate()
    logs: list[str] = []
    heard: list[str] = []
    for cid in (1, 2, 3):
        room.gate.addresses[cid] = "10.0.0.9:5000" if cid == 1 else f"10.0.0.9:{5000 + cid}"  # one machine, any port
        actions = join(room, cid, mallory, "m", "wrong")
        logs += [a.text for a in actions if isinstance(a, Log)]
        told = events_to(actions, 9)
        assert all(each.code == ev.E_PASSWORD and not each.fatal for each in told)
        heard += [each.message for each in told]
        clock.now += 5
    assert len(logs) == 3 and all("wrong room password from 10.0.0.9" in line for line in logs)
    assert logs[-1].endswith("; 3 within a minute from them: only they are locked out, for 60 s")
    assert heard == [logs[0], logs[2] + " (and 1 more wrong password since the last said)"]
    room.gate.addresses[4] = "10.0.0.9"
    locked = room.handle(4, hello(mallory, "m"))  # even the right password is not asked for now
    assert error_code(locked, 4) == ev.E_LOCKED and Close(who=4) in locked
    assert events_to(locked, 4)[0].message == (
        "too many wrong passwords from you: 3 within a minute (others at your address may still join); try again in 55 s"
    )
    room.gate.addresses[7] = "10.0.0.9:6000"  # a classmate behind the same address
    assert isinstance(events_to(join(room, 7, Ed25519PrivateKey.generate(), "bo", "s3cret"), 7)[0], ev.Welcome)
    room.gate.addresses[5] = "10.0.0.7"  # another machine is not locked out
    assert isinstance(events_to(join(room, 5, Ed25519PrivateKey.generate(), "ann", "s3cret"), 5)[0], ev.Welcome)
    clock.now += 61
    room.gate.addresses[6] = "10.0.0.9"
    assert isinstance(events_to(join(room, 6, mallory, "m", "s3cret"), 6)[0], ev.Welcome)


def test_wrong_passwords_from_a_64_off_the_lan_lock_the_64_and_a_classmate_on_the_lan_keeps_his_own_count():
    """From the attacker's side: three wrong passwords lock an address for a minute; a machine
    off the server's LAN holding a /64 took a fresh address for every three guesses. Counted as
    connection caps and bans count (limits.AddressGroups), the /64 is one place; on the server's
    own IPv6 LAN each address is a machine, as before."""
    import ipaddress

    from lanchat.limits import AddressGroups

    clock = Clock()
    lan = AddressGroups([ipaddress.IPv6Network("2001:db8:1::/64")])
    gate = Gate(clock=clock, random_bytes=counter_bytes(), password=RoomPassword.create("s3cret", SALT))
    room = Room(clock=clock, gate=gate, address_groups=lan)
    mallory = Ed25519PrivateKey.generate()
    logs: list[str] = []
    for cid in (1, 2, 3):  # a fresh address of the /64 for each guess
        room.gate.addresses[cid] = f"[2001:db8:66::{cid}]:5000"
        actions = join(room, cid, mallory, "m", "wrong")
        assert error_code(actions, cid) == ev.E_PASSWORD
        logs += [a.text for a in actions if isinstance(a, Log)]
    assert logs[-1] == "wrong room password from 2001:db8:66::3 (as m); 3 within a minute from them: only they are locked out, for 60 s"
    room.gate.addresses[4] = "[2001:db8:66::ffff]:5000"
    assert error_code(room.handle(4, hello(mallory, "m")), 4) == ev.E_LOCKED
    for cid in (11, 12):  # classmates on the server's own LAN, one slip each
        room.gate.addresses[cid] = f"[2001:db8:1::{cid}]:5000"
        assert error_code(join(room, cid, Ed25519PrivateKey.generate(), f"c{cid}", "wrong"), cid) == ev.E_PASSWORD
    room.gate.addresses[13] = "[2001:db8:1::13]:5000"
    assert error_code(join(room, 13, Ed25519PrivateKey.generate(), "c13", "wrong"), 13) == ev.E_PASSWORD
    room.gate.addresses[14] = "[2001:db8:1::14]:5000"
    assert isinstance(events_to(join(room, 14, Ed25519PrivateKey.generate(), "ann", "s3cret"), 14)[0], ev.Welcome)


def test_a_password_typed_at_nc_is_checked_cheaply_and_wrong_ones_count_toward_the_same_lockout():
    """A text participant types the password (textline.py -> gate.TypedHello): checked against a
    verifier made once at start, never by scrypt per try; a wrong one is the same refusal, log
    line and lockout as a wrong proof: a guest without a key is counted by the name typed, as
    names compare ("M" is "m"), and toward the address's ceiling."""
    from lanchat.gate import TypedHello

    clock = Clock()
    room_password = RoomPassword.create("s3cret tea", SALT)
    assert room_password.accepts_typed("s3cret tea")
    assert not room_password.accepts_typed("s3cret tea ") and not room_password.accepts_typed("S3CRET TEA")
    assert b"s3cret" not in repr(vars(room_password)).encode()
    room = gated_room(clock, password=room_password)
    room.host_cid = 9
    assert isinstance(events_to(join(room, 9, Ed25519PrivateKey.generate(), "teacher", "s3cret tea"), 9)[0], ev.Welcome)
    assert "coffee" not in repr(TypedHello(name="m", password="coffee"))  # never in a log line or traceback
    for cid in (1, 2, 3, 4, 5):
        room.gate.addresses[cid] = f"10.0.0.9:{5000 + cid}"
    refused = room.handle(1, TypedHello(name="m", password="coffee"))
    assert events_to(refused, 1) == [ev.Error(code=ev.E_PASSWORD, message="wrong password", fatal=True)]
    assert Close(who=1) in refused and 1 not in room.members
    assert not [a for a in refused if not isinstance(a, (Send, Close, Log))]  # no replay, no broadcast, no claim
    assert [a.text for a in refused if isinstance(a, Log)] == ["wrong room password from 10.0.0.9 (as m)"]  # who to help
    assert events_to(refused, 9)[0].code == ev.E_PASSWORD  # the host is told
    assert error_code(room.handle(2, TypedHello(name="M", password="guess")), 2) == ev.E_PASSWORD
    third = room.handle(3, TypedHello(name="m", password=""))
    assert "only they are locked out, for 60 s" in [a.text for a in third if isinstance(a, Log)][0]
    locked = room.handle(4, TypedHello(name="m", password="s3cret tea"))  # the right one waits, too
    assert error_code(locked, 4) == ev.E_LOCKED and 4 not in room.members
    clock.now += 61
    (welcome, *_) = events_to(room.handle(5, TypedHello(name="m", password="s3cret tea")), 5)
    assert isinstance(welcome, ev.Welcome) and room.members[5].key is None  # a keyless guest
    made_from_a_key = gated_room(password=RoomPassword(SALT, room_password.derived))  # no text at start: as before
    assert not made_from_a_key.gate.asks_typed_password
    assert error_code(made_from_a_key.handle(1, TypedHello(name="m", password="s3cret tea")), 1) == ev.E_PASSWORD


# ------------------------------------------------------------------ the issue's story, on a real server


def test_a_dm_to_an_absent_name_never_reaches_someone_else_who_takes_it(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3")
    cat_key, bob_key, mallory_key = (Ed25519PrivateKey.generate() for _ in range(3))
    with running_server(history=store) as (_server, endpoint):
        cat = RawClient(endpoint, "cat", key=cat_key)
        bob = RawClient(endpoint, "bob", key=bob_key)
        cat.send(ev.Say(text="bye all"))
        cat.send(ev.Bye())
        cat.expect_closed()
        bob.expect(ev.Left, name="cat")
        bob.send(ev.Whisper(to="cat", text="my secret password is hunter2"))
        assert bob.expect(ev.Direct).held
        # someone else asks for CAT: with another key, and with none (a version-1 client)
        for attempt, key in enumerate((mallory_key, None)):
            mallory = RawClient(endpoint, key=key)
            mallory.hello("CAT")
            refused = mallory.expect(ev.Error)
            assert refused.code == ev.E_NAME_OWNED and "belongs to someone else" in refused.message
            # the same connection may go on under a name of its own
            key_field = None if key is None else identity.b64(identity.public_bytes(key))
            mallory.send(ev.Hello(name=f"mallory{attempt}", key=key_field))
            seen = []  # all it is sent from the refusal on, up to the end of a history it asks for
            while not isinstance(event := mallory.expect(object), ev.Welcome):
                if isinstance(event, ev.Challenge):
                    mallory.send(mallory.answer(event))
                seen.append(event)
            mallory.send(ev.HistoryRequest(limit=1000))
            while not isinstance(event := mallory.expect(object), ev.HistoryEnd):
                seen.append(event)
            assert "hunter2" not in repr(seen)
            mallory.send(ev.Bye())
            mallory.close()
        cat = RawClient(endpoint, "Cat", key=cat_key)  # the real cat, back
        replay = []
        while not isinstance(event := cat.expect(object), ev.HistoryEnd):
            replay.append(event)
        assert [e.text for e in replay if isinstance(e, ev.Direct)] == ["my secret password is hunter2"]
        cat.send(ev.WhoIs(name="bob"))
        whois = cat.expect(ev.WhoIsReply)
        assert whois.fingerprint == identity.short_fingerprint(identity.public_bytes(bob_key)) and whois.here
        for client in (cat, bob):
            client.close()
    assert store.owners()["cat"] == identity.public_bytes(cat_key)  # kept for the next start
    store.close()


def test_the_host_releases_a_name_and_others_may_not(tmp_path):

    store = HistoryStore(tmp_path / "h.sqlite3")
    old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with running_server(history=store) as (server, endpoint):
        host = local_host(server, "teacher", key=Ed25519PrivateKey.generate())
        cat = RawClient(endpoint, "cat", key=old_key)
        cat.send(ev.Release(name="teacher"))
        assert cat.expect(ev.Error).code == ev.E_NOT_HOST
        cat.send(ev.Bye())
        cat.close()
        host.send(ev.Release(name="CAT"))
        assert host.expect(ev.Released) == ev.Released(name="CAT", owned=True)
        newcomer = RawClient(endpoint, "cat", key=new_key)  # a lost key file: the name is claimed again
        assert newcomer.welcome.name == "cat"
        for client in (host, newcomer):
            client.close()
    assert store.owners()["cat"] == identity.public_bytes(new_key)
    store.close()


def test_releasing_a_name_too_long_to_be_one_is_refused_not_echoed_past_the_frame_limit():
    """/release NAME echoed NAME in its answer: a name of 65,507 characters filled the request's
    frame, and the answer, 15 bytes longer, broke the server's pass (FrameError) and cut the
    host's own screen off. No name is over 32 characters: such a release is refused."""
    with running_server() as (server, _endpoint):
        host = local_host(server, "teacher")
        host.send(ev.Release(name="a" * 65_507))
        refused = host.expect(ev.Error)
        assert refused.code == ev.E_BAD_NAME and not refused.fatal
        host.send(ev.Release(name="cat"))
        assert host.expect(ev.Released) == ev.Released(name="cat", owned=False)  # the connection goes on
        host.close()


def test_names_can_be_listed_and_released_while_the_server_is_stopped(tmp_path):
    db = tmp_path / "h.sqlite3"
    store = HistoryStore(db)
    store.claim("Cat", identity.public_bytes(Ed25519PrivateKey.generate()))
    store.close()
    listed = Proc("names", "list", "--history", str(db))
    assert listed.wait() == 0 and listed.output.startswith("Cat  ")
    released = Proc("names", "release", "cat", "--history", str(db))
    assert released.wait() == 0 and "released 'cat'" in released.output
    again = Proc("names", "release", "cat", "--history", str(db))
    assert again.wait() == 0 and "nobody owns 'cat'" in again.output
    store = HistoryStore(db)
    assert store.owners() == {}
    store.close()


def test_identity_given_a_folder_says_to_name_the_key_file_not_to_move_the_folder(tmp_path):
    for args in (("connect", "127.0.0.1", "1", "--name", "ann"), ("serve", "--port", "0", "--host", "127.0.0.1", "--name", "hal", "--no-history")):
        proc = Proc(*args, "--identity", str(tmp_path), stdin=False)
        assert proc.wait() == 1, proc.output
        assert f"{tmp_path} is a folder, not an identity key file" in proc.output, proc.output
        assert f"--identity {tmp_path / 'identity.key'}" in proc.output and "move it aside" not in proc.output


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_identity_given_a_device_is_refused_without_advice_to_move_it_aside(device):
    """`--identity /dev/null` (a careless or copied command) was told "is not a file; move it aside
    to get a new identity key": advice that, followed as root, breaks the machine."""
    from lanchat.identity import IdentityError, load_or_create_key

    with pytest.raises(IdentityError) as refused:
        load_or_create_key(Path(device), make_folder=False)
    assert str(refused.value) == f"{device} is a device, not an identity key file: give yours with --identity PATH"


def test_names_release_while_the_server_runs_says_to_stop_it_or_use_release_in_the_chat(tmp_path):
    db = tmp_path / "h.sqlite3"
    running = HistoryStore(db)  # holds the history's lock, as a running `serve` does
    try:
        running.claim("cat", identity.public_bytes(Ed25519PrivateKey.generate()))
        released = Proc("names", "release", "cat", "--history", str(db))
        assert released.wait() == 1
        assert "a lanchat server is using" in released.output and "/release cat" in released.output
        assert "Ctrl-C for a --headless one" in released.output and "a --headless room has none" in released.output
        assert "--no-history" not in released.output  # serve's advice, not this command's
        assert "Traceback" not in released.output
    finally:
        running.close()


def test_the_issue_story_from_the_command_line_an_impostor_gets_no_secret(tmp_path):
    db = tmp_path / "h.sqlite3"
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(db))
    procs = [server]
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        cat = Proc("connect", "127.0.0.1", port, "--name", "cat")  # helpers: one key per name
        bob = Proc("connect", "127.0.0.1", port, "--name", "bob")
        procs += [cat, bob]
        cat.expect(r"this room keeps history on the server's machine")
        cat.send("bye for now")
        bob.expect(r"cat: bye for now")
        cat.send("/q")
        assert cat.wait() == 0
        bob.expect(r"cat left")
        bob.send("/w cat my secret password is hunter2")
        bob.expect(r"cat is not here now; they will see it when they come back")
        impostor = Proc("connect", "127.0.0.1", port, "--name", "CAT", "--identity", str(tmp_path / "other.key"), stdin=False)
        procs.append(impostor)
        assert impostor.wait() == 1
        assert "the name 'CAT' belongs to someone else on this server" in impostor.output
        assert "hunter2" not in impostor.output and "Traceback" not in impostor.output
        cat = Proc("connect", "127.0.0.1", port, "--name", "cat")  # the real cat, with her key
        procs.append(cat)
        cat.expect(r"\[History\] bob -> cat \(direct\): my secret password is hunter2")
        cat.send("/whois bob")
        cat.expect(r"bob \(here\): key [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4}$")
    finally:
        for proc in procs:
            proc.stop()


def test_a_friend_on_a_second_laptop_is_told_how_to_bring_the_key_that_owns_their_name(tmp_path):
    """bob joined ann's room from his laptop, then from his second one: lanchat made it a key of
    its own, and he read "the name 'bob' belongs to someone else on this server; choose another",
    someone else being himself, and nothing of README's fix (copy the key file). The refusal now
    says so, with this machine's key file; done as it says, he is bob there."""
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history")
    procs: list = [server]
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        first = Proc("connect", "127.0.0.1", port, "--name", "bob")  # helpers: bob's one key, his first laptop
        procs.append(first)
        first.expect(r"welcome, bob")
        first.send("/q")
        assert first.wait() == 0
        second_laptop = tmp_path / "data"  # its data folder: a key of its own is made there
        argv = [sys.executable, "-m", "lanchat", "connect", "127.0.0.1", port, "--plain", "--name", "bob"]  # (no helpers' key)
        second = TermProc(argv=argv, env={"XDG_DATA_HOME": str(second_laptop)})
        procs.append(second)
        own_key = second_laptop / "lanchat" / "identity.key"
        second.expect_unfolded(re.escape(unfolded(
            f"the name 'bob' belongs to someone else on this server; choose another (yours, from another computer? "
            f"This one has an identity key of its own: copy that computer's identity.key (in its lanchat data folder) "
            f"to this one and join with --identity PATH-OF-THE-COPY, or put it in place of {own_key})")))
        second.expect(r"Another name")
        second.send("\x03")  # Ctrl-C: he will bring his key instead
        second.wait()
        shutil.copyfile(identity_args("bob")[1], own_key)  # as the line says
        again = TermProc(argv=argv, env={"XDG_DATA_HOME": str(second_laptop)})
        procs.append(again)
        again.expect(r"welcome, bob")
        assert "belongs to someone else" not in again.text
    finally:
        for proc in procs:
            proc.stop()


def test_a_nick_to_a_name_another_key_owns_says_how_to_bring_that_key_as_a_join_does():
    """bob, on his second laptop as "ann" there (a key of its own), typed `/nick bob`: he read the
    bare "the name 'bob' belongs to someone else on this server; choose another", while a join
    as bob from there says how to bring the key that owns it. /nick says the same now, naming
    the key file this client joined with (--identity: the one it would be put in place of)."""
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history")
    procs: list = [server]
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        first = Proc("connect", "127.0.0.1", port, "--name", "bob")  # helpers: bob's key owns "bob"
        procs.append(first)
        first.expect(r"welcome, bob")
        first.send("/q")
        assert first.wait() == 0
        second = Proc("connect", "127.0.0.1", port, "--name", "ann")  # helpers: another key, ann's
        procs.append(second)
        second.expect(r"welcome, ann")
        second.send("/nick bob")
        second.expect(re.escape(
            "the name 'bob' belongs to someone else on this server; choose another (yours, from another computer? "
            "This one has an identity key of its own: copy that computer's identity.key (in its lanchat data folder) "
            f"to this one and join with --identity PATH-OF-THE-COPY, or put it in place of {identity_args('ann')[1]})") + "$")
        second.send("/nick ann2")  # still in, as ann: another name is hers to take
        second.expect(r"you are now known as ann2")
        assert "Traceback" not in second.output
        # joining as bob with that key says the same, naming the same file: the one --identity gave
        # (it named the data folder's key, which a client joined with --identity does not read)
        joining = Proc("connect", "127.0.0.1", port, "--name", "bob", "--identity", identity_args("ann")[1], stdin=False)
        procs.append(joining)
        assert joining.wait() == 1
        assert f"or put it in place of {identity_args('ann')[1]})" in joining.output, joining.output
    finally:
        for proc in procs:
            proc.stop()


def test_serve_password_taken_from_lanchat_password_says_so_in_the_start_lines():
    """LANCHAT_PASSWORD left set in the teacher's shell (from a script, or from joining a room
    earlier): `serve --password` took it without asking, and the start lines said only that a
    password is needed, so the teacher, never asked, did not know what to write on the board."""
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--no-announce",
                  "--password", env=child_env(LANCHAT_PASSWORD="left over"))  # fmt: skip
    try:
        server.expect(r"listening on port")
        server.expect(r"^  the password is the one in LANCHAT_PASSWORD \(so it was not asked for\); unset it to be asked")
    finally:
        server.stop()
    assert "left over" not in server.output


def test_serve_password_is_typed_twice_without_echo_and_a_mismatch_is_asked_again_three_times():
    env = child_env()
    env.pop("LANCHAT_PASSWORD", None)
    import io

    mismatch = spawn("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--password", env=env)
    mismatch.logfile_read = screen = io.StringIO()  # everything the terminal showed
    for attempt in range(3):  # as passwd does: asked again, three tries in all
        mismatch.expect_exact("Room password: ")
        mismatch.sendline(f"first-try-{attempt}")
        mismatch.expect_exact("Again, to be sure: ")
        mismatch.sendline(f"second-try-{attempt}")
        mismatch.expect("the two passwords differ")
    mismatch.expect("the two passwords differed 3 times; no room was started")
    mismatch.expect(pexpect.EOF)
    mismatch.close()
    assert mismatch.exitstatus == 2
    assert screen.getvalue().count("Room password: ") == 3
    assert "first-try" not in screen.getvalue() and "second-try" not in screen.getvalue()  # never echoed
    assert "needs a password" not in screen.getvalue()  # it had one: they differed
    served = spawn("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--password", env=env)
    served.logfile_read = screen = io.StringIO()
    try:
        served.expect_exact("Room password: ")
        served.sendline("tea and biscuits")
        served.expect_exact("Again, to be sure: ")
        served.sendline("tea and biscults")  # a slip: asked again, not ended
        served.expect("the two passwords differ; type it again")
        served.expect_exact("Room password: ")
        served.sendline("tea and biscuits")
        served.expect_exact("Again, to be sure: ")
        served.sendline("tea and biscuits")
        served.expect(r"a password is needed to join")
    finally:
        served.terminate(force=True)  # the server we started, by its pid
    assert "tea and biscuits" not in screen.getvalue()


# ------------------------------------------------------------------ password prompts, in a terminal


def typed_before_start(typed: bytes, *args: str, env: dict[str, str]) -> tuple[int, int]:
    """`lanchat ARGS` in a new pseudo-terminal (its controlling terminal) whose keyboard already
    holds ``typed``: the child waits on a pipe until the parent has typed, so the keys are there
    before any prompt can appear. Returns the child's pid and the terminal's master end."""
    import pty

    go_read, go_write = os.pipe()
    pid, master = pty.fork()
    if pid == 0:  # the child: only os calls until exec
        try:
            os.close(go_write)
            os.read(go_read, 1)  # EOF: the parent has typed
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "lanchat", *args], env)
        finally:
            os._exit(127)
    os.close(go_read)
    os.write(master, typed)
    os.close(go_write)
    return pid, master


def read_terminal_until(master: int, pattern: str, seen: list[str], timeout: float = 15) -> re.Match[str]:
    """What the terminal shows, read until ``pattern`` appears (``seen`` keeps all of it)."""
    import select
    import time

    deadline = time.monotonic() + timeout
    while (found := re.search(pattern, "".join(seen))) is None:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([master], [], [], max(0.0, min(left, 0.5)))
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the program ended
                chunk = b""
            if not chunk:
                break
            seen.append(chunk.decode("utf-8", "replace"))
        elif left <= 0:
            break
    assert found is not None, f"no {pattern!r} within {timeout}s; the terminal showed:\n{''.join(seen)}"
    return found


def end_child(pid: int, master: int) -> None:
    """End the child we started, by its pid, and close its terminal."""
    import signal

    reaped: list[int] = []
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_for(lambda: reaped.append(os.waitpid(pid, os.WNOHANG)[0]) or reaped[-1], timeout=10, what="the child to end")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    finally:
        os.close(master)


def test_a_password_typed_before_the_prompt_appears_is_kept_and_the_room_starts_with_it():
    """getpass turns echo off with TCSAFLUSH, throwing away what was typed ahead: a teacher who
    typed the password (twice) while the program started was left at an empty prompt. The keys
    here are in the terminal before the program runs; the room starts, and that password lets in."""
    env = child_env()
    env.pop("LANCHAT_PASSWORD", None)
    typed = b"tea and biscuits\ntea and biscuits\n"
    pid, master = typed_before_start(
        typed, "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--password", env=env
    )
    seen: list[str] = []
    try:
        port = read_terminal_until(master, r"listening on port (\d+)", seen).group(1)
        read_terminal_until(master, r"a password is needed to join", seen)
        shown = "".join(seen)
        assert shown.count("Room password: ") == 1 and "differ" not in shown, shown
        ann = Proc("connect", "127.0.0.1", port, "--name", "ann", env=child_env(LANCHAT_PASSWORD="tea and biscuits"))
        try:
            ann.expect(r"welcome, ann")
            ann.send("/q")
            assert ann.wait() == 0
        finally:
            ann.stop()
    finally:
        end_child(pid, master)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sighup"])
def test_leaving_at_the_password_prompt_gives_the_terminal_its_echo_back(how):
    """The prompt turns echo off; Ctrl-C, a SIGTERM or a SIGHUP (`kill -HUP`, a terminal
    multiplexer's window killed from another) while it waits must turn it on again, or the
    teacher's shell stays blind. SIGHUP at its default ended serve on the spot, echo still off."""
    import signal
    import termios

    env = child_env()
    env.pop("LANCHAT_PASSWORD", None)
    child = spawn("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--password", env=env)
    try:
        child.expect_exact("Room password: ")
        wait_for(lambda: not termios.tcgetattr(child.child_fd)[3] & termios.ECHO)  # off while it waits
        if how == "ctrl-c":
            child.sendintr()
        else:
            child.kill(signal.SIGTERM if how == "sigterm" else signal.SIGHUP)
        child.expect(pexpect.EOF)
        assert termios.tcgetattr(child.child_fd)[3] & termios.ECHO
        said = child.before or ""
        assert "Traceback" not in said
    finally:
        child.close(force=True)
    if how == "ctrl-c":  # the user chose to stop: said as the name prompt says it, 130 as shells report Ctrl-C
        assert "interrupted: no room was started" in said and "needs a password" not in said, said
        assert child.exitstatus == 130
    elif how == "sigterm":
        assert child.exitstatus == 143 or child.signalstatus == signal.SIGTERM
    else:  # as a shell reports a process its SIGHUP ended
        assert child.exitstatus == 129


# The password prompt, held just before it gives the terminal its echo back (termios.tcsetattr
# asked for echo on): it says "restoring" and waits for a line, so a test can send a second
# signal exactly while the first one's exit is under way.
HELD_AT_THE_RESTORE = """
import os, sys, termios
from lanchat.askpass import ask_password

real = termios.tcsetattr
def held(fd, when, attrs):
    if attrs[3] & termios.ECHO:
        print("restoring", flush=True)
        os.read(0, 100)  # until the test's line: the second signal comes meanwhile
    real(fd, when, attrs)
termios.tcsetattr = held
try:
    ask_password("Room password: ")
except KeyboardInterrupt:  # as password_from_user takes Ctrl-C: 130, as shells report it
    sys.exit(130)
"""


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("SIGTERM", "SIGHUP"), ("SIGTERM", "SIGTERM"), ("SIGHUP", "SIGTERM"), ("SIGTERM", "SIGINT"),
        ("SIGINT", "SIGINT"), ("SIGINT", "SIGTERM"), ("SIGINT", "SIGHUP"), ("SIGQUIT", "SIGTERM"),
        ("Enter", "SIGTERM"), ("Enter", "SIGINT"),
    ],
)  # fmt: skip
def test_a_second_signal_while_the_prompt_is_left_cannot_keep_echo_off(first, second):
    """SIGTERM (or SIGHUP) at the password prompt ends it with the echo back and 143 (129), Ctrl-C
    (or Ctrl-\\) with 130. A second signal that came during that exit (the window closed too;
    another kill; Ctrl-C) ran its handler in the middle of the unwinding and raised before the
    echo was back: the shell was left blind, with the second's exit code. Held at that moment,
    the exit now ends as the first's. And a signal just after Enter, while the prompt puts the
    echo back, ends it as at the prompt, but once the echo is back."""
    import signal
    import termios

    child = pexpect.spawn(sys.executable, ["-c", HELD_AT_THE_RESTORE], env=child_env(), cwd=str(ROOT), encoding="utf-8", timeout=DEFAULT_TIMEOUT)
    try:
        child.expect_exact("Room password: ")
        wait_for(lambda: not termios.tcgetattr(child.child_fd)[3] & termios.ECHO)
        if first == "Enter":
            child.send("tea and biscuits\n")
        else:
            child.kill(getattr(signal, first))
        child.expect_exact("restoring")
        child.kill(getattr(signal, second))  # (pending, or discarded as ignored, once kill returns)
        if child.isalive():
            child.send("\n")
        child.expect(pexpect.EOF)
        assert termios.tcgetattr(child.child_fd)[3] & termios.ECHO, "echo left off"
        said = child.before or ""
    finally:
        child.close(force=True)
    assert "Traceback" not in said, said
    leaving_on = second if first == "Enter" else first
    expected = 130 if leaving_on in ("SIGINT", "SIGQUIT") else 128 + getattr(signal, leaving_on)
    assert child.exitstatus == expected, (child.exitstatus, child.signalstatus, said)


# The password prompt with a finalizer running while it waits (an object's __del__, reached as
# the prompt opens its wake-up pipe): it says "finalizing" and reads a line, so a test can send a
# signal whose handler runs inside the finalizer, where an exception is only printed.
IN_A_FINALIZER = """
import os, sys
from lanchat.askpass import ask_password

class Finalized:
    def __del__(self):
        print("finalizing", flush=True)
        os.read(0, 100)  # until the test's line: the signal comes meanwhile

held = [Finalized()]
real = os.pipe
def pipe():
    held.clear()
    return real()
os.pipe = pipe
try:
    ask_password("Room password: ")
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_whose_handler_runs_inside_a_finalizer_still_ends_the_password_prompt(signame):
    """A signal's handler runs wherever Python is; at the password prompt that can be a
    finalizer (a __del__, a generator closed by the garbage collector), where a raised exception
    is only printed. The prompt's handler raised: CI saw "SystemExit: 143" in a traceback, and
    the prompt then waited for ever, every later signal taken as the exit under way. The handler
    now only notes the signal, and the prompt's wait answers it: 143, 130 or 129, echo back, no
    traceback."""
    import signal
    import termios

    child = pexpect.spawn(sys.executable, ["-c", IN_A_FINALIZER], env=child_env(), cwd=str(ROOT), encoding="utf-8", timeout=DEFAULT_TIMEOUT)
    try:
        child.expect_exact("finalizing")
        child.kill(getattr(signal, signame))
        child.send("\n")  # the finalizer's line: it returns, and the prompt waits
        child.expect(pexpect.EOF)
        assert termios.tcgetattr(child.child_fd)[3] & termios.ECHO, "echo left off"
        said = child.before or ""
    finally:
        child.close(force=True)
    assert "Traceback" not in said and "Exception ignored" not in said, said
    expected = 130 if signame == "SIGINT" else 128 + getattr(signal, signame)
    assert child.exitstatus == expected, (child.exitstatus, child.signalstatus, said)


def test_after_a_stop_that_was_not_ctrl_z_the_password_prompt_turns_echo_off_again():
    """kill -STOP at the password prompt (a stop from elsewhere), then fg: bash puts its echo
    back when a job stops, and the password typed after fg was shown on the screen (on the
    projector). Now echo goes off again and the prompt is asked again. The test does bash's part:
    echo on while the program is stopped."""
    import signal
    import termios

    env = child_env()
    env.pop("LANCHAT_PASSWORD", None)
    child = spawn("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--password", env=env)
    try:
        child.expect_exact("Room password: ")
        wait_for(lambda: not termios.tcgetattr(child.child_fd)[3] & termios.ECHO)
        child.kill(signal.SIGSTOP)
        wait_for(lambda: _state(child.pid) == "T", what="the prompt stopped")  # else the SIGCONT below ends no stop
        shells = termios.tcgetattr(child.child_fd)
        shells[3] |= termios.ECHO
        termios.tcsetattr(child.child_fd, termios.TCSANOW, shells)
        child.kill(signal.SIGCONT)  # fg
        child.expect_exact("Room password: ", timeout=5)  # asked again
        wait_for(lambda: not termios.tcgetattr(child.child_fd)[3] & termios.ECHO, what="echo off again")
        child.sendline("tea and biscuits")
        child.expect_exact("Again, to be sure: ")
        assert "tea and biscuits" not in (child.before or "")  # the first one, typed after fg: never shown
        child.sendline("tea and biscuits")
        child.expect("a password is needed to join")
        assert "tea and biscuits" not in (child.before or "")  # nor the second
    finally:
        child.close(force=True)


def test_serve_password_started_in_the_background_asks_after_fg():
    """`serve --password &`, then `fg`, as a teacher who forgot the prompt would: in the background
    the prompt's echo-off stops it (SIGTTOU), and after fg that call failed (EINTR: the prompt's
    SIGCONT handler was set without SA_RESTART) and serve ended at the prompt. It asks now."""
    import signal

    if not shutil.which("bash"):
        pytest.skip("no bash here")
    env = child_env(PS1="$ ")
    env.pop("LANCHAT_PASSWORD", None)
    shell = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], env=env, cwd=str(ROOT), encoding="utf-8", timeout=DEFAULT_TIMEOUT)
    serve_pid = None
    try:
        shell.expect_exact("$ ")
        shell.sendline(f'"{sys.executable}" -m lanchat serve --port 0 --host 127.0.0.1 --headless --no-history --password & echo "pid=$!"')
        shell.expect(r"pid=(\d+)")
        serve_pid = int(shell.match.group(1))
        assert serve_pid > 1
        wait_for(lambda: _state(serve_pid) == "T", what="serve stopped in the background (SIGTTOU)")
        shell.sendline("fg")
        shell.expect_exact("Room password: ")
        shell.sendline("tea and biscuits")
        shell.expect_exact("Again, to be sure: ")
        assert "tea and biscuits" not in (shell.before or "")  # typed after fg, echo off again
        shell.sendline("tea and biscuits")
        shell.expect("listening on port")
        assert "Traceback" not in (shell.before or "") and "tea and biscuits" not in (shell.before or "")
    finally:
        if serve_pid is not None and serve_pid > 1:
            with contextlib.suppress(ProcessLookupError):
                os.kill(serve_pid, signal.SIGKILL)  # the serve this test started, by its PID
        shell.close(force=True)


def _state(pid: int) -> str:
    """A process's state letter from /proc (T: stopped), or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def test_a_terminal_that_goes_away_at_the_password_prompt_ends_serve_without_a_traceback(tmp_path):
    """The terminal closes while `serve --password` waits (a window closed, its hang-up not
    delivered or ignored): reading it fails with EIO, and so does giving it its settings back.
    That was a traceback (OSError, then termios.error); it is the end of input, as Ctrl-D is:
    serve says it needs a password and exits 2."""
    import pty

    env = child_env()
    env.pop("LANCHAT_PASSWORD", None)
    master, slave = pty.openpty()
    errors = tmp_path / "stderr.txt"
    with open(errors, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lanchat", "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--password"],
            stdin=slave, stdout=err, stderr=err, env=env, cwd=str(ROOT), start_new_session=True,
        )  # fmt: skip
    os.close(slave)
    try:
        wait_for(lambda: "Room password: " in errors.read_text(), what="the prompt")
        os.close(master)  # the terminal goes away mid-prompt
        master = -1
        assert proc.wait(timeout=DEFAULT_TIMEOUT) == 2
    finally:
        if master != -1:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)
    text = errors.read_text()
    assert "Traceback" not in text, text
    assert "--password needs a password" in text


def spawn(*args: str, env: dict[str, str]) -> pexpect.spawn:
    import sys

    return pexpect.spawn(sys.executable, ["-m", "lanchat", *args], env=env, cwd=str(ROOT), encoding="utf-8", timeout=DEFAULT_TIMEOUT)


def password_room() -> tuple[Proc, str, dict[str, str]]:
    """A headless room with the password "tea and biscuits": the server, its port, and an
    environment for clients with no LANCHAT_PASSWORD (they are asked at the terminal)."""
    server = Proc(
        "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--password",
        env=child_env(LANCHAT_PASSWORD="tea and biscuits"),
    )
    port = server.expect(r"listening on port (\d+)").group(1)
    server.expect(r"a password is needed to join")
    env = child_env()
    env.pop("LANCHAT_PASSWORD", None)
    return server, port, env


def test_the_password_is_asked_for_wrong_ones_are_refused_and_the_right_one_joins():
    server, port, env = password_room()
    try:
        # a typo: asked again on a new connection, as ssh and sudo do, and the right one joins
        right = spawn("connect", "127.0.0.1", port, "--name", "ann", "--plain", env=env)
        right.expect("This room needs a password: ")
        right.sendline("tea and biscuts")
        right.expect("wrong password; try again")
        right.expect("This room needs a password: ")
        server.expect(r"wrong room password from 127\.0\.0\.1")
        right.sendline("tea and biscuits")
        right.expect("welcome, ann")
        right.sendline("/q")
        right.expect(pexpect.EOF)
        right.close()
        assert right.exitstatus == 0 and "Traceback" not in (right.before or "")
        # a wrong LANCHAT_PASSWORD is not tried again: it would be just as wrong
        mistaken = Proc("connect", "127.0.0.1", port, "--name", "cal", env=child_env(LANCHAT_PASSWORD="tea"))
        mistaken.expect(r"the server refused to let us in: wrong password")
        assert mistaken.wait() == 1 and "wrong password; try again" not in mistaken.output
        scripted = Proc("connect", "127.0.0.1", port, "--name", "bob", env=child_env(LANCHAT_PASSWORD="tea and biscuits"))
        scripted.expect(r"welcome, bob")
        scripted.send("/q")
        assert scripted.wait() == 0
    finally:
        server.stop()
    assert "tea and biscuits" not in server.output


def test_enter_alone_at_a_password_prompt_asks_again_rather_than_ending():
    """A student who pressed Enter at "This room needs a password: " before typing it read "this
    room needs a password: give it when asked" and was out (a class played for real), and a
    teacher who did so at serve's "Room password: " read "--password needs a password: type one
    when asked": both had been asked. Nothing typed is asked again (no guess spent, one of the
    three tries); Ctrl-D or Ctrl-C still stops."""
    server, port, env = password_room()
    try:
        child = spawn("connect", "127.0.0.1", port, "--name", "ann", "--plain", env=env)
        try:
            child.expect("This room needs a password: ")
            child.sendline("")
            child.expect("nothing was typed; type the password")
            child.expect("This room needs a password: ")
            child.sendline("tea and biscuits")
            child.expect("welcome, ann")
            child.sendline("/q")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
        assert "wrong room password" not in server.output
    finally:
        server.stop()
    teacher = spawn("serve", "--port", "0", "--host", "127.0.0.1", "--name", "teach", "--no-history", "--plain", "--password", env=env)
    try:
        teacher.expect("Room password: ")
        teacher.sendline("")
        teacher.expect("nothing was typed; type the password")
        teacher.expect("Room password: ")
        teacher.sendline("tea")
        teacher.expect("Again, to be sure: ")
        teacher.sendline("tea")
        teacher.expect("a password is needed to join")
    finally:
        teacher.close(force=True)


def test_ctrl_c_at_connects_password_prompt_says_interrupted_and_exits_130():
    """Ctrl-C at "This room needs a password: " is the student choosing to stop: it read "this
    room needs a password: give it when asked" and exited 1, as if nothing had been asked."""
    import termios

    server, port, env = password_room()
    try:
        child = spawn("connect", "127.0.0.1", port, "--name", "ann", "--plain", env=env)
        try:
            child.expect("This room needs a password: ")
            wait_for(lambda: not termios.tcgetattr(child.child_fd)[3] & termios.ECHO)
            child.sendintr()
            child.expect(pexpect.EOF)
            assert termios.tcgetattr(child.child_fd)[3] & termios.ECHO  # echo is back for the shell
            said = child.before or ""
        finally:
            child.close(force=True)
        assert "interrupted: not joining" in said and "needs a password" not in said, said
        assert "Traceback" not in said
        assert child.exitstatus == 130
    finally:
        server.stop()


def test_a_banned_student_is_told_so_before_the_password_prompt():
    """malvolio, banned by the teacher, came back and typed the room password at the prompt, only
    to read then that he was banned. His key is banned: he reads it before any prompt."""
    server = Proc(
        "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--password", "--operator", "teach",
        env=child_env(LANCHAT_PASSWORD="tea and biscuits"),
    )  # fmt: skip
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        teach = Proc("connect", "127.0.0.1", port, "--name", "teach", env=child_env(LANCHAT_PASSWORD="tea and biscuits"))
        teach.expect(r"welcome, teach")
        server.expect(r"is an operator \(serve --operator\)$")
        malvolio = Proc("connect", "127.0.0.1", port, "--name", "malvolio", env=child_env(LANCHAT_PASSWORD="tea and biscuits"))
        malvolio.expect(r"welcome, malvolio")
        teach.send("/ban malvolio spam")
        teach.expect(r"teach banned malvolio: spam")
        assert malvolio.wait() == 1
        env = child_env()
        env.pop("LANCHAT_PASSWORD", None)
        again = spawn("connect", "127.0.0.1", port, "--name", "malvolio2", "--plain", *identity_args("malvolio"), env=env)
        try:
            again.expect(pexpect.EOF)
            said = " ".join((again.before or "").split())  # pexpect's pty is 80 columns: the line is folded
        finally:
            again.close(force=True)
        assert "you are banned from this room by teach: spam" in said and "password" not in said, said
        assert again.exitstatus == 1
        teach.send("/q")
        assert teach.wait() == 0
    finally:
        server.stop()


def test_three_wrong_passwords_at_the_terminal_end_the_attempt_with_the_reason():
    server, port, env = password_room()
    try:
        wrong = spawn("connect", "127.0.0.1", port, "--name", "ann", "--plain", env=env)
        wrong.logfile_read = transcript = io.StringIO()
        for guess in ("coffee", "cocoa"):
            wrong.expect("This room needs a password: ")
            wrong.sendline(guess)
            wrong.expect("wrong password; try again")
        wrong.expect("This room needs a password: ")
        wrong.sendline("milk")
        wrong.expect(r"the server refused to let us in: wrong password, 3 times;\s+ask the host\s+for it")  # folded at 80
        wrong.expect(pexpect.EOF)
        wrong.close()
        assert wrong.exitstatus == 1
        said = transcript.getvalue()
        assert said.count("This room needs a password: ") == 3 and said.count("try again") == 2, said
        assert "Traceback" not in said
        # what the room does now, as the next attempt's refusal says it: this person, for a
        # minute; not "a machine ... for a while" (classmates at the address still join)
        assert "keeps a machine out" not in said
        assert "3 wrong ones within a minute keep you out for a minute (others at your address may still join)" in " ".join(said.split())
        server.expect(r"wrong room password from 127\.0\.0\.1.*locked", timeout=10)
        assert sum("wrong room password" in line for line in server.lines) == 3
    finally:
        server.stop()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to type as another user")
def test_on_a_lab_server_one_students_wrong_passwords_do_not_lock_the_class_out():
    """From the attacker's side: on a lab server the whole class joins from 127.0.0.1, and wrong
    passwords under many names lock an address (the ceiling, 15 within 5 minutes); a student
    typing them at nc, a new name each time, kept every classmate from joining (or rejoining)
    all lesson. The ceiling holds against that user of the machine, not against everyone on it."""
    second_account_or_skip()  # nobody must be able to run this Python
    server, port, _env = password_room()
    try:
        guesses = r"""
import socket, sys
for n in range(15):
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    sock.sendall(b"\n")
    sock.sendall(f"mallory{n}\ncoffee {n}\n".encode())
    while sock.recv(65536):
        pass
    sock.close()
"""
        script = subprocess.run(
            ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable, "-c", guesses, port],
            capture_output=True, text=True, timeout=60, env=child_env(), cwd=ROOT, check=False,
        )  # fmt: skip
        assert script.returncode == 0, script.stderr
        server.expect(r"wrong room password from 127\.0\.0\.1 \(as mallory14\); 15 within 5 minutes from user 65534 on this machine")
        classmate = RawClient(Endpoint(host="127.0.0.1", port=int(port)), key=Ed25519PrivateKey.generate(), password="tea and biscuits")
        classmate.hello("ann")
        assert isinstance(classmate.expect(object), ev.Welcome), server.output
        classmate.close()
        locks = [line.partition("] ")[2] for line in server.lines if "locked" in line]  # after the log's time
        assert locks == ["wrong room password from 127.0.0.1 (as mallory14); 15 within 5 minutes from user 65534 on "
                         "this machine, whoever typed them: all there are locked out for 5 min"]  # fmt: skip
    finally:
        server.stop()


# The end of a student's guessing script's loop (tests below): one wrong password, and what came back.
ONE_WRONG_GUESS = r"""    sock.sendall(f"\nmallory{n}\ncoffee {n}\n".encode())
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    print("locked" if b"too many wrong passwords" in answer else "guessed")
"""


def mallorys_guesses(script: str, *args: str, namespace: str | None = None) -> list[str]:
    """Run a guessing script (ONE_WRONG_GUESS a loop) as user nobody, in ``namespace`` if given:
    what it printed, a word a guess."""
    done = subprocess.run([*(["ip", "netns", "exec", namespace] if namespace else []), "setpriv", "--reuid", "65534", "--regid",
                           "65534", "--clear-groups", sys.executable, "-c", script, *args],
                          capture_output=True, text=True, timeout=60, env=child_env(), cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to type as another user")
def test_a_students_guesses_from_other_loopback_addresses_meet_the_same_ceiling():
    """From the attacker's side: on a lab server a student's script binds each connection to
    another of loopback's addresses (127.0.0.2, 127.0.0.3, ...: all this machine, 16 million of
    them) and types a guess at each. The ceiling was counted per user and address, so each
    address gave fifteen guesses more: 80 guesses in a tenth of a second, never locked."""
    second_account_or_skip()  # nobody must be able to run this Python
    server, port, _env = password_room()
    try:
        guesses = r"""
import socket, sys
for n in range(16):
    sock = socket.socket()
    sock.settimeout(10)
    sock.bind((f"127.0.0.{n + 2}", 0))
    sock.connect(("127.0.0.1", int(sys.argv[1])))
""" + ONE_WRONG_GUESS
        assert mallorys_guesses(guesses, port) == ["guessed"] * 15 + ["locked"], server.output
        server.expect(r"wrong room password from 127\.0\.0\.16 \(as mallory14\); 15 within 5 minutes from user 65534 on this machine")
    finally:
        server.stop()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to type as another user")
def test_a_students_guesses_from_the_servers_other_addresses_meet_the_same_ceiling():
    """From the attacker's side: a lab server has more than one address (a second LAN, docker0's,
    an IPv6 one). A student's script on it dials the room from each of them in turn: each was a
    machine on the network of its own (only its own address dialled from itself, or loopback,
    counted as this machine), so four addresses gave 60 guesses in five minutes, not 15."""
    second_account_or_skip()  # nobody must be able to run this Python
    extra = ["198.51.100.11", "198.51.100.12", "fd51::12"]
    with network_namespace_or_skip() as (namespace, _ours, theirs, link):
        subprocess.run(["ip", "-n", namespace, "link", "set", "lo", "up"], check=True, timeout=10)  # (one's own addresses go by it)
        for address in extra:
            subprocess.run(["ip", "-n", namespace, "addr", "add", f"{address}/{128 if ':' in address else 32}", "dev", link,
                            *(["nodad"] if ":" in address else [])], check=True, timeout=10)  # fmt: skip
        subprocess.run(["ip", "-n", namespace, "addr", "add", "fd51::11/128", "dev", link, "nodad"], check=True, timeout=10)
        server = Proc("serve", "--port", "0", "--host", "::", "--headless", "--no-history", "--no-announce", "--password",
                      env=child_env(LANCHAT_PASSWORD="tea and biscuits"), program=["ip", "netns", "exec", namespace, sys.executable,
                                                                                  "-m", "lanchat"])  # fmt: skip
        try:
            port = server.expect(r"listening on port (\d+)").group(1)
            guesses = r"""
import socket, sys
port, primary, extra = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
for n in range(16):
    source = extra[n % len(extra)]
    sock = socket.socket(socket.AF_INET6 if ":" in source else socket.AF_INET)
    sock.settimeout(10)
    sock.bind((source, 0))
    sock.connect(("fd51::11" if ":" in source else primary, port))
""" + ONE_WRONG_GUESS
            assert mallorys_guesses(guesses, port, theirs, *extra, theirs, namespace=namespace) == ["guessed"] * 15 + ["locked"], server.output
            server.expect(r"\(as mallory14\); 15 within 5 minutes from user 65534 on this machine")
        finally:
            server.stop()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root for a network namespace")
def test_a_machine_elsewhere_dialling_from_the_rooms_port_is_not_this_machine():
    """From the attacker's side: eve, on another machine, binds her end to the room's own port
    number. The kernel asked whose socket she dialled from (sock_diag) found none with her
    addresses and fell back to the server's listening socket on that port: she was the server's
    own user on this machine, and her 15 wrong passwords locked the machine out (the teacher at
    the projector, the lab's students), not her address."""
    with network_namespace_or_skip() as (namespace, ours, theirs, _link):
        subprocess.run(["ip", "-n", namespace, "link", "set", "lo", "up"], check=True, timeout=10)
        server = Proc("serve", "--port", "0", "--host", "::", "--headless", "--no-history", "--no-announce", "--password",
                      env=child_env(LANCHAT_PASSWORD="tea and biscuits"), program=["ip", "netns", "exec", namespace, sys.executable,
                                                                                  "-m", "lanchat"])  # fmt: skip
        try:
            port = int(server.expect(r"listening on port (\d+)").group(1))
            for n in range(16):  # eve's script, from the test's own namespace: another machine
                with socket.socket() as sock:
                    sock.settimeout(10)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((ours, port))
                    sock.connect((theirs, port))
                    sock.sendall(f"\neve{n}\ncoffee {n}\n".encode())
                    answer = b""
                    while chunk := sock.recv(65536):
                        answer += chunk
                assert (b"too many wrong passwords" in answer) == (n == 15), answer
            server.expect(rf"wrong room password from {re.escape(ours)} \(as eve14\); 15 within 5 minutes from that address")
            teacher = subprocess.run(  # on the server, by loopback, with the password: let in
                ["ip", "netns", "exec", namespace, sys.executable, "-c",
                 "import socket, sys\n"
                 "sock = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)\n"
                 "sock.sendall(b'\\nteacher\\ntea and biscuits\\n')\n"
                 "answer = b''\n"
                 "while b'teacher' not in answer and b'too many' not in answer and (chunk := sock.recv(65536)):\n"
                 "    answer += chunk\n"
                 "print('locked' if b'too many' in answer else 'in')\n", str(port)],
                capture_output=True, text=True, timeout=30, env=child_env(), check=False,
            )  # fmt: skip
            assert teacher.stdout.split() == ["in"], (teacher.stdout, teacher.stderr, server.output)
        finally:
            server.stop()


def test_the_room_keeps_working_while_wrong_passwords_pile_up():
    room_password = RoomPassword.create("pw", SALT)
    logged: list[str] = []
    with running_server(password=room_password, log=logged.append) as (server, endpoint):
        ann = RawClient(endpoint, "ann", key=Ed25519PrivateKey.generate(), password="pw")
        mallorys_key = Ed25519PrivateKey.generate()
        for attempt in range(4):
            mallory = RawClient(endpoint, key=mallorys_key, password=f"guess{attempt}")
            if attempt < 3:
                mallory.hello("mallory")  # signed, with a wrong password's proof
            else:  # locked: not even a challenge
                mallory.send(ev.Hello(name="mallory", key=identity.b64(identity.public_bytes(mallorys_key))))
            heard = mallory.until_closed()  # everything it is sent, in order, until the server closes
            (refused,) = heard  # one error, then the server closes: no roster, no history
            assert refused.code == (ev.E_PASSWORD if attempt < 3 else ev.E_LOCKED) and refused.fatal
            mallory.close()
        ann.send(ev.Say(text="still here"))
        heard = []  # all ann was sent while mallory tried: it is queued ahead of her own echo
        while not (isinstance(event := ann.expect(object), ev.Message) and event.text == "still here"):
            heard.append(event)
        assert not [e for e in heard if isinstance(e, (ev.Joined, ev.Left))]  # nobody got in
        wait_for(lambda: any("locked" in line for line in logged), what="the lockout in the host's log")
        assert list(server.room.names) == ["ann"]
        ann.close()


# ------------------------------------------------------------------ the document's client with a key


def key_client_source() -> str:
    text = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    after = text.split("<!-- key-client -->\n```python\n", 1)[1]
    return after.split("\n```", 1)[0] + "\n"


def test_the_documents_client_with_a_key_joins_a_password_room_and_owns_its_name(tmp_path):
    import sys

    script = tmp_path / "key_lanchat.py"
    script.write_text(key_client_source(), encoding="utf-8")
    program = [sys.executable, str(script)]
    with running_server(password=RoomPassword.create("tea", SALT)) as (_server, endpoint):
        ann = RawClient(endpoint, "ann", key=Ed25519PrivateKey.generate(), password="tea")
        args = (endpoint.host, str(endpoint.port), "dora", str(tmp_path / "dora.key"))
        dora = Proc(*args, program=program, env=child_env(LANCHAT_PASSWORD="tea"))
        dora.expect(r"^joined as dora with key [0-9a-f]{16}$")
        dora.send("written from the document")
        assert ann.expect(ev.Message, sender="dora").text == "written from the document"
        assert dora.wait() == 0
        assert stat.S_IMODE((tmp_path / "dora.key").stat().st_mode) == 0o600
        wrong = Proc(*args, program=program, env=child_env(LANCHAT_PASSWORD="coffee"))
        assert wrong.wait() != 0 and "refused: wrong password" in wrong.output
        other = Proc(endpoint.host, str(endpoint.port), "DORA", str(tmp_path / "other.key"),
                     program=program, env=child_env(LANCHAT_PASSWORD="tea"))
        assert other.wait() != 0 and "refused: the name 'DORA' belongs to someone else" in other.output
        ann.close()


# ------------------------------------------------------------------ history from before keys


def test_an_old_history_name_is_claimed_once_and_its_old_dms_go_to_nobody(tmp_path):
    import sqlite3

    from helpers import first_release_history

    path = first_release_history(
        tmp_path / "old.sqlite3",
        [(T0, "ann", None, "hello room"), (T0 + 1, "ann", "bob", "old secret for bob"), (T0 + 2, "bob", "ann", "old reply")],
    )
    with sqlite3.connect(path) as db:  # the first release knew bob and ann by name only
        db.executemany("INSERT INTO names (key, name, last_seen) VALUES (?, ?, 0)", [("bob", "bob"), ("ann", "ann")])
    store = HistoryStore(path)
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with running_server(history=store) as (_server, endpoint):
        cy = RawClient(endpoint, "cy", key=Ed25519PrivateKey.generate())
        cy.send(ev.Whisper(to="bob", text="for whoever is bob next"))  # bob is known, but no key owns the name
        refused = cy.expect(ev.Error)
        assert refused.code == ev.E_NO_SUCH_USER and "no key" in refused.message
        bob = RawClient(endpoint, "bob", key=first)  # the first key to come claims "bob"
        replay = []
        while not isinstance(event := bob.expect(object), ev.HistoryEnd):
            replay.append(event)
        assert [e.text for e in replay] == ["hello room"]  # the old direct messages: to nobody
        bob.send(ev.HistoryRequest(limit=1000))
        asked = []
        while not isinstance(event := bob.expect(object), ev.HistoryEnd):
            asked.append(event)
        assert "old secret" not in repr(asked)
        bob.send(ev.Bye())
        bob.expect_closed()
        again = RawClient(endpoint, key=second)  # and only once
        again.hello("BOB")
        assert again.expect(ev.Error).code == ev.E_NAME_OWNED
        for client in (cy, again):
            client.close()
    assert store.owners() == {"bob": identity.public_bytes(first), "cy": store.owners()["cy"]}
    assert [r.text for r in store.export()][:3] == ["hello room", "old secret for bob", "old reply"]  # kept, for the host
    store.close()


def test_a_students_script_that_nicks_through_the_class_list_keeps_only_three_of_them(tmp_path):
    """From the attacker's side, a real server with history: one key /nicks through five names;
    a classmate arriving later gets the older ones, and the server restarted remembers the rest."""
    db = tmp_path / "h.sqlite3"
    args = ("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(db))
    server = Proc(*args)
    procs = [server]
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        mallory = Proc("connect", "127.0.0.1", port, "--name", "mal", "--plain")
        procs.append(mallory)
        mallory.expect(r"welcome, mal")
        for number in range(5):
            mallory.send(f"/nick s{number}")
            mallory.expect(rf"you are now known as s{number}")
        mallory.send("/q")
        assert mallory.wait() == 0
        server.stop()  # the owners come back from the history file
        server = Proc(*args)
        procs.append(server)
        port = server.expect(r"listening on port (\d+)").group(1)
        for name, owned in (("s0", False), ("mal", False), ("s2", True), ("s4", True)):
            bob = Proc("connect", "127.0.0.1", port, "--name", name, "--identity", str(tmp_path / "bob.key"), stdin=False)
            procs.append(bob)
            if owned:
                assert bob.wait() == 1
                assert f"the name '{name}' belongs to someone else on this server" in bob.output
            else:
                bob.expect(rf"welcome, {name}")
                bob.stop()
    finally:
        for proc in procs:
            proc.stop()


def test_whois_and_release_are_typed_as_commands():
    from lanchat.session import Local, Outgoing, Session

    session = Session(name="ann", clock=lambda: T0)
    assert session.parse_input("/whois cat") == Outgoing(ev.WhoIs(name="cat"))
    assert session.parse_input("/release Cat") == Outgoing(ev.Release(name="Cat"))
    assert isinstance(session.parse_input("/whois"), Local) and isinstance(session.parse_input("/release a b"), Local)
    (line,) = session.on_event(ev.WhoIsReply(name="cat", fingerprint="5647 5aa7 5463 474c", here=True))
    assert line.text == "cat (here): key 5647 5aa7 5463 474c"
    (line,) = session.on_event(ev.WhoIsReply(name="dot", fingerprint=None, here=False))
    assert line.text == "dot (not here now): no key owns this name"
    (line,) = session.on_event(ev.Released(name="cat", owned=True))
    assert "the next key to join with it owns it" in line.text


def test_the_colour_bot_joins_a_password_room_through_its_socketpair():
    room = gated_room(password=RoomPassword.create("s3cret", SALT))
    room.service_cids.add(1)  # what Server.add_local(service=True) marks
    (welcome,) = [a.event for a in room.handle(1, ev.Hello(name="colourbot")) if isinstance(a, Send)]
    assert isinstance(welcome, ev.Welcome) and welcome.name == "colourbot"
    (refused,) = [a.event for a in room.handle(2, ev.Hello(name="bob")) if isinstance(a, Send)]
    assert refused.code == ev.E_PASSWORD  # the same keyless hello from anyone else


# ------------------------------------------------ the lockout's memory is bounded


def test_expired_locks_are_forgotten_so_cycling_addresses_cannot_grow_the_table():
    from lanchat.identity import PasswordAttempts

    clock = Clock()
    attempts = PasswordAttempts(clock, limit=3, window=60.0, lock=60.0, max_addresses=100)
    for n in range(1000):  # an attacker on a fresh address every few seconds, each locked in turn
        address = f"10.9.{n // 256}.{n % 256}"
        assert [attempts.failed(address) for _ in range(3)] == [False, False, True]
        assert attempts.locked_for(address) == 60.0
        clock.now += 2.0
    assert attempts.tracked <= 31  # only the locks of the last minute (30) are kept, not 1000
    assert attempts.locked_for("10.9.3.231") > 0  # the newest is still locked
    assert attempts.locked_for("10.9.0.0") == 0  # the first one's minute is long over


def test_a_full_lock_table_never_unlocks_an_address_early_and_locks_newcomers_until_a_place_frees():
    from lanchat.identity import PasswordAttempts

    clock = Clock()
    attempts = PasswordAttempts(clock, limit=3, window=60.0, lock=60.0, max_addresses=4)
    for n in range(4):
        for _ in range(3):
            attempts.failed(f"10.0.0.{n}")
        clock.now += 1.0
    assert attempts.locked_for("10.0.0.4") == 56.0  # full: a newcomer waits for the oldest lock to end
    for _ in range(3):
        locked = attempts.failed("10.0.0.5")  # a fifth attacker, already past a challenge
    assert locked and attempts.tracked <= 8
    for n in range(4):  # nobody locked was let go to make room
        assert attempts.locked_for(f"10.0.0.{n}") == 60.0 - (4 - n)
    clock.now += 56.0  # 10.0.0.0's lock ends: one place frees
    assert attempts.locked_for("10.0.0.0") == 0 and attempts.locked_for("10.0.0.1") == 1.0
    assert attempts.failed("10.0.0.5")  # its count was kept: one more wrong password locks it at once
    assert attempts.locked_for("10.0.0.5") == 60.0 and attempts.locked_for("10.0.0.6") > 0


def test_failure_counts_are_capped_oldest_first():
    from lanchat.identity import PasswordAttempts

    clock = Clock()
    attempts = PasswordAttempts(clock, limit=3, max_addresses=50)
    for n in range(5000):  # one wrong password from each of 5000 addresses: none locked
        assert not attempts.failed(f"fd00::{n:x}")
    assert attempts.tracked == 50
    assert attempts.failed("fd00::1387") is False  # the newest's count survived: two now
    assert attempts.failed("fd00::1387") is True


def test_an_attacker_cycling_source_addresses_is_held_by_a_full_lock_table_from_its_own_side():
    """Guessing from 127.0.0.2, .3, ... (any 127/8 address is this machine): each address is
    locked after three wrong proofs (here the address's ceiling is three: each guess comes with
    a fresh key, so no one person's count does it); once the (here small) table is full, every
    further address is refused `locked` on its first hello, without a challenge, and the
    addresses locked first stay locked. The table never grows past its cap. The price, documented: a
    newcomer with the right password waits too, until the oldest lock ends. (Loopback's addresses
    are all one machine, counted as one place: here each stands for a machine on the network.)"""
    import socket
    import time

    from lanchat.identity import WrongPasswords

    def guess(source: str) -> ev.Error:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=10, source_address=(source, 0))
        mallory = RawClient(sock, key=Ed25519PrivateKey.generate())
        mallory.send(ev.Hello(name="mallory", key=identity.b64(identity.public_bytes(mallory.key))))
        said = mallory.expect(object)
        if isinstance(said, ev.Challenge):  # a wrong proof: 32 random bytes, never the password's
            answer = mallory.answer(said)
            mallory.send(ev.Auth(signature=answer.signature, proof=identity.b64(os.urandom(32))))
            (said,) = mallory.until_closed()
        else:
            assert mallory.until_closed() == []
        mallory.close()
        return said

    room_password = RoomPassword.create("pw", SALT)
    with running_server(password=room_password) as (server, endpoint):
        attempts = server.room.gate.attempts = WrongPasswords(time.time, address_tries=3, max_addresses=4)
        server.room.gate.place = server.room.gate.address  # type: ignore[method-assign]  # each address a machine
        for n in range(2, 6):  # four attackers fill the table
            codes = [guess(f"127.0.0.{n}").code for _ in range(3)]
            assert codes == [ev.E_PASSWORD] * 3
        for n in range(6, 30):  # the next ones are not even challenged
            assert guess(f"127.0.0.{n}").code == ev.E_LOCKED
            assert attempts.addresses.tracked <= 8 and attempts.people.tracked <= 8
        assert guess("127.0.0.2").code == ev.E_LOCKED  # the first one was not let go to make room
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=10, source_address=("127.0.0.99", 0))
        newcomer = RawClient(sock, key=Ed25519PrivateKey.generate(), password="pw")
        newcomer.send(ev.Hello(name="ann", key=identity.b64(identity.public_bytes(newcomer.key))))
        assert newcomer.expect(ev.Error).code == ev.E_LOCKED  # the documented price, for at most a minute
        newcomer.close()


# ------------------------------------------------------------------ a class behind one address (NAT)


def try_password(endpoint: Endpoint, key: Ed25519PrivateKey, name: str, password: str | None = None) -> ev.Event:
    """One attempt at joining from ``key`` as ``name``: with ``password`` its proof (scrypt, as a
    client's), else a wrong one (32 random bytes: a slip, as the server sees it). What the server
    answered first: a Welcome, or the refusal (``password``, ``locked``)."""
    student = RawClient(endpoint, key=key, password=password)
    try:
        student.send(ev.Hello(name=name, key=identity.b64(identity.public_bytes(key))))
        said = student.expect(object)
        if isinstance(said, ev.Challenge):
            answer = student.answer(said)
            student.send(answer if password else ev.Auth(signature=answer.signature, proof=identity.b64(os.urandom(32))))
            said = student.expect(object)
        return said  # type: ignore[return-value]
    finally:
        student.close()


def test_three_students_behind_one_address_who_each_mistype_twice_still_join():
    """A classroom reaches the server from one address (a school's NAT; here 127.0.0.1 and one
    user): three students slip twice each, six wrong passwords from the address within the minute,
    and each then joins with the right one. Three wrong ones from the address locked them all."""
    clock = Clock()
    with running_server(password=RoomPassword.create("tea", SALT), clock=clock) as (_server, endpoint):
        students = {name: Ed25519PrivateKey.generate() for name in ("ann", "bo", "cy")}
        for _slip in range(2):
            for name, key in students.items():
                refused = try_password(endpoint, key, name)
                assert isinstance(refused, ev.Error) and refused.code == ev.E_PASSWORD, refused
                clock.now += 3
        for name, key in students.items():
            assert isinstance(try_password(endpoint, key, name, "tea"), ev.Welcome), name


def test_a_guesser_under_one_name_is_locked_told_why_and_for_how_long_and_the_lock_ends():
    """From the guesser's side: three wrong passwords under one name and key, and the fourth
    hello (even with the right password) gets `locked`, saying why and how long, without a
    challenge; a classmate at the same address still joins; a minute later the guesser may try
    again (the server's clock, turned by hand)."""
    clock = Clock()
    logged: list[str] = []
    with running_server(password=RoomPassword.create("tea", SALT), clock=clock, log=logged.append) as (_server, endpoint):
        mallory = Ed25519PrivateKey.generate()
        assert [try_password(endpoint, mallory, "mallory").code for _ in range(3)] == [ev.E_PASSWORD] * 3  # type: ignore[attr-defined]
        locked = try_password(endpoint, mallory, "mallory", "tea")
        assert locked == ev.Error(code=ev.E_LOCKED, fatal=True, message=(
            "too many wrong passwords from you: 3 within a minute (others at your address may still join); try again in 60 s"))
        wait_for(lambda: any("3 within a minute from them: only they are locked out, for 60 s" in line for line in logged))
        assert isinstance(try_password(endpoint, Ed25519PrivateKey.generate(), "ann", "tea"), ev.Welcome)
        clock.now += 59.5
        assert try_password(endpoint, mallory, "mallory", "tea").message.endswith("try again in 1 s")  # type: ignore[attr-defined]
        clock.now += 0.5
        assert isinstance(try_password(endpoint, mallory, "mallory", "tea"), ev.Welcome)


def test_a_guesser_taking_a_new_name_and_key_for_every_guess_meets_the_addresss_ceiling():
    """From the guesser's side: a fresh key and name for every guess dodges each person's count,
    so the address has a ceiling: 15 wrong passwords within 5 minutes, whoever typed them, lock
    everyone at it for 5 minutes (the price a class pays for a guesser among it), said in the
    refusal; then the address may try again."""
    clock = Clock()
    with running_server(password=RoomPassword.create("tea", SALT), clock=clock) as (_server, endpoint):
        for n in range(15):
            refused = try_password(endpoint, Ed25519PrivateKey.generate(), f"guess{n}")
            assert isinstance(refused, ev.Error) and refused.code == ev.E_PASSWORD, (n, refused)
            clock.now += 10
        locked = try_password(endpoint, Ed25519PrivateKey.generate(), "guess15")
        assert locked == ev.Error(code=ev.E_LOCKED, fatal=True, message=(
            "too many wrong passwords from your address: 15 within 5 minutes, by anyone there, so everyone there "
            "waits; try again in 4 min 50 s"))  # fmt: skip
        assert try_password(endpoint, Ed25519PrivateKey.generate(), "ann", "tea").code == ev.E_LOCKED  # type: ignore[attr-defined]
        clock.now += 290
        assert isinstance(try_password(endpoint, Ed25519PrivateKey.generate(), "ann", "tea"), ev.Welcome)


def test_wrong_passwords_are_counted_per_person_and_per_address_within_their_windows():
    """identity.WrongPasswords with its numbers: 3 a minute lock one person (their key, or a
    guest's name, at a place) for a minute; 15 in 5 minutes from a place lock it for 5 minutes;
    slips older than the window are forgotten."""
    from lanchat.identity import WrongPasswords

    clock = Clock()
    wrong = WrongPasswords(clock)
    assert [wrong.failed("10.0.0.9", "key A") for _ in range(2)] == [None, None]
    lock = wrong.failed("10.0.0.9", "key A")
    assert lock is not None and (lock.tries, lock.window, lock.lock, lock.whole_address) == (3, 60.0, 60.0, False)
    assert wrong.locked_for("10.0.0.9", "key A") == lock and wrong.locked_for("10.0.0.9", "key B") is None
    assert wrong.locked_for("10.0.0.7", "key A") is None  # the same key elsewhere is another count
    for n in range(11):  # 14 from the address now, under as many names
        assert wrong.failed("10.0.0.9", f"name guess{n}") is None
    clock.now += 299  # the first three (key A's) are still within the 5 minutes
    ceiling = wrong.failed("10.0.0.9", "name guess11")
    assert ceiling is not None and (ceiling.tries, ceiling.window, ceiling.lock, ceiling.whole_address) == (15, 300.0, 300.0, True)
    locked = wrong.locked_for("10.0.0.9", "key C")
    assert locked is not None and locked.whole_address and locked.wait == 300.0
    clock.now += 300
    assert wrong.locked_for("10.0.0.9", "key C") is None
    for n in range(14):  # a slow guesser: 14 in any 5 minutes never reach the ceiling
        assert wrong.failed("10.0.0.8", f"name slow{n}") is None
    clock.now += 300
    assert wrong.failed("10.0.0.8", "name slow14") is None


def test_a_fingerprint_copied_from_whois_or_lanchat_key_reads_as_the_start_of_the_keys_sha256():
    """serve --operator KEY: the short form with or without spaces, or the full SHA256: form;
    a name is never one (no spaces, at most 32 characters), unless it is 16 bare hex digits."""
    import hashlib

    public = identity.public_bytes(Ed25519PrivateKey.generate())
    digest = hashlib.sha256(public).hexdigest()
    short = identity.short_fingerprint(public)
    assert identity.fingerprint_hex(short) == digest[:16]
    assert identity.fingerprint_hex(short.replace(" ", "").upper()) == digest[:16]
    assert identity.fingerprint_hex(identity.fingerprint(public)) == digest
    for not_one in ("teach", "3f2a 9c1b 77d0", "3f2a9c1b77d0e4a5x", "SHA256:" + "!" * 43, "SHA256:abc", ""):
        assert identity.fingerprint_hex(not_one) is None


def test_the_first_run_note_about_the_new_key_fits_80_columns():
    """The first line every student reads, on the first `connect`: 'a new identity key was made in
    PATH (keep it private; ...)' was cut mid-word by an 80-column terminal ('identity.ke' / 'y').
    It is folded at spaces now, the path whole."""
    from helpers import TermProc, short_tmp_dir

    with short_tmp_dir() as folder:
        path = os.path.join(folder, "a-folder-with-a-fairly-long-name", "identity.key")
        os.mkdir(os.path.dirname(path))  # a folder given with --identity is never made
        term = TermProc("key", "--identity", path, rows=24, cols=80)
        try:
            assert term.wait() == 0
        finally:
            term.stop()
    lines = bytes(term.raw).decode("utf-8", "replace").replace("\r", "").split("\n")
    assert any(path in line for line in lines), lines  # whole, to copy
    assert "keep it private; copy it to use your name elsewhere" in " ".join(line.strip() for line in lines), lines
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, too_wide


def test_releasing_a_name_while_the_server_is_stopped_drops_its_keys_operator_status(tmp_path):
    """`names release` frees a name whose key was lost (maybe taken): the operator status /op
    stored for that key stayed, so the next start made whoever holds the key an operator again,
    under any name. It goes with the release, as the host's /release does."""
    from lanchat.moderation import key_id

    db = tmp_path / "h.sqlite3"
    store = HistoryStore(db)
    public = identity.public_bytes(Ed25519PrivateKey.generate())
    store.claim("Cat", public)
    store.add_operator(key_id(public), "Cat")
    store.add_operator("f" * 64, "dan")
    store.close()
    released = Proc("names", "release", "cat", "--history", str(db))
    assert released.wait() == 0 and "released 'cat'" in released.output
    store = HistoryStore(db)
    assert store.operator_keys() == [("f" * 64, "dan")]
    store.close()


CTRL_Z_JUST_AFTER_ENTER = """
import os, pty, signal, termios
from lanchat import askpass

window, terminal = pty.openpty()
out = open(os.ttyname(terminal), "w")
os.write(window, b"secret\\n")
real_set, sets = termios.tcsetattr, []

def set_then_ctrl_z(fd, when, attrs):
    real_set(fd, when, attrs)
    sets.append(attrs)
    if len(sets) == 2:  # the prompt's restore, just after Enter
        signal.raise_signal(signal.SIGTSTP)

termios.tcsetattr = set_then_ctrl_z
signal.signal(signal.SIGTSTP, lambda *_: None)  # a handler of before: the Ctrl-Z goes to it once all is back (a stop would stop the test)
real_kill = os.kill
os.kill = lambda pid, sig: None if sig == signal.SIGTSTP else real_kill(pid, sig)  # stopped, then fg at once
print("got", askpass.ask_password("pw: ", fd=terminal, out=out))
print("echo after", bool(termios.tcgetattr(terminal)[3] & termios.ECHO))
"""


def test_a_ctrl_z_just_after_enter_at_the_password_prompt_leaves_echo_on():
    """Ctrl-Z landing just after Enter, as the prompt put the terminal back: the prompt's stop
    handler (still set, SIGCONT's being put back first) turned echo off again after fg and asked
    again for a line already read, so ask_password returned with echo off, and serve's screen
    then kept that as the shell's. The line is read: after fg echo stays on."""
    done = subprocess.run([sys.executable, "-c", CTRL_Z_JUST_AFTER_ENTER], env=child_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["got secret", "echo after True"], done.stdout


def test_a_key_file_another_user_owns_is_refused_in_one_line_and_left_as_it_was(tmp_path, monkeypatch):
    """`--identity` given a key another user owns was used (and, if loose, made 0600 where chmod
    could): whoever ran it spoke under the owner's names. ssh refuses a private key others can
    read, and its owner always can: refused now, whatever its mode, the file untouched. A key
    root owns in your own folder (made by `sudo lanchat`) says how to make it yours."""
    path = tmp_path / "identity.key"
    load_or_create_key(path)
    os.chmod(path, 0o644)
    before = path.read_bytes()
    owner = path.stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 4242)  # as another user would run it
    with pytest.raises(IdentityError) as refused:
        load_or_create_key(path, make_folder=False)  # given with --identity
    said = str(refused.value)
    assert "\n" not in said and f"the identity key {path} belongs to " in said and "not to you (uid " in said, said
    if owner == 0:
        assert f"`sudo chown {owner + 4242} {path}` makes it yours" in said, said
    else:
        assert "give your own with --identity PATH" in said, said
    assert "ssh refuses a key others can read" not in said and "a key must be your own file" in said, said
    assert path.read_bytes() == before and stat.S_IMODE(path.stat().st_mode) == 0o644
    monkeypatch.setattr(os, "geteuid", lambda: owner)  # its owner: used, and made private
    _key, notes = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and "0644" in notes[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="a file another user owns is made with chown, which needs root")
def test_lanchats_own_key_in_another_users_home_says_run_without_sudo_not_leave_it_out(tmp_path, monkeypatch):
    """`sudo -E lanchat` (root, HOME kept): the default key is ann's; it said 'give your own with
    --identity PATH, or leave it out for yours', but it was left out. It says whose HOME it is in."""
    folder = tmp_path / "share" / "lanchat"
    folder.mkdir(parents=True)
    path = folder / "identity.key"
    load_or_create_key(path)
    os.chown(path, 4242, 4242)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(IdentityError) as refused:
        load_or_create_key(path)  # lanchat's own path (make_folder: not given with --identity)
    said = str(refused.value)
    assert f"is lanchat's own key in HOME={tmp_path}" in said and "run lanchat without sudo" in said, said
    assert "give root's own with --identity PATH" in said and "leave it out" not in said, said
    assert "a key must be your own file" in said and "\n" not in said, said


@pytest.mark.parametrize("own_path", [True, False])
def test_a_key_root_owns_offers_a_copy_as_well_as_chown_and_the_folder_when_it_is_roots(tmp_path, monkeypatch, own_path):
    """A key `sudo lanchat` made: chown alone fails on vfat or NFS with root_squash, so copying it
    to a file of one's own is offered too; lanchat's own folder made by root is chowned whole."""
    path = tmp_path / "identity.key"
    load_or_create_key(path)
    if path.stat().st_uid != 0 or tmp_path.stat().st_uid != 0:
        pytest.skip("needs files root owns")
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    with pytest.raises(IdentityError) as refused:
        load_or_create_key(path, make_folder=own_path)
    said = str(refused.value)
    assert "belongs to user root, not to you (uid 4242)" in said and "a key must be your own file" in said, said
    assert f"`sudo cat {path} > FILE`" in said, said
    if own_path:
        assert f"`sudo chown -R 4242 {tmp_path}`" in said, said
    else:
        assert f"`sudo chown 4242 {path}`" in said and "chown -R" not in said, said


def test_identity_given_a_pipe_says_to_give_the_key_file_not_to_move_the_pipe_aside(tmp_path):
    """`--identity FIFO` (a slip, a wrong Tab) was told "move it aside to get a new identity key",
    advice for lanchat's own key file, not for a path the person named."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(IdentityError) as named:
        load_or_create_key(fifo, make_folder=False)  # a path given with --identity
    assert str(named.value) == f"{fifo} is not a file; give your key file with --identity PATH"
    with pytest.raises(IdentityError) as own:
        load_or_create_key(fifo)  # where lanchat keeps its own
    assert str(own.value) == f"{fifo} is not a file; move it aside to get a new identity key"


def test_a_home_that_may_not_be_written_says_where_a_key_can_be_made_and_that_way_joins(tmp_path):
    """A student whose HOME may not be written (a guest account, a live USB, a service user's
    /nonexistent) typed `lanchat connect ...` and read only 'cannot create the identity key
    ~/.local/share/lanchat/identity.key: Permission denied', with no way into any room. Now the
    line says to give a key in a folder they may write with --identity, and that joins."""
    second_account_or_skip()  # root, setpriv, and a Python that nobody may run
    shared = Path(tempfile.mkdtemp(prefix="lanchat-home-"))
    try:
        shared.chmod(0o755)
        home = shared / "home"  # root's: the student may read it, not write it
        home.mkdir(mode=0o755)
        own = shared / "own"  # a folder of the student's own
        own.mkdir()
        os.chown(own, 65534, 65534)
        env = child_env(HOME=str(home), XDG_STATE_HOME=str(home), XDG_CONFIG_HOME=str(home))
        del env["XDG_DATA_HOME"]  # lanchat's own data folder: HOME's
        student = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", sys.executable, "-m", "lanchat"]
        with running_server() as (_server, endpoint):
            port = str(endpoint.port)
            refused = Proc("connect", "127.0.0.1", port, "--name", "bob", stdin=False, env=env, program=student)
            assert refused.wait() == 1
            key = home / ".local" / "share" / "lanchat" / "identity.key"
            assert refused.lines == [
                f"lanchat: cannot create the identity key {key} (lanchat's data folder): Permission denied; give one in a "
                "folder you may write with --identity PATH (a new key is made there)"
            ], refused.output
            joined = Proc("connect", "127.0.0.1", port, "--name", "bob", "--identity", str(own / "bob.key"), env=env, program=student)
            try:
                joined.expect(r"welcome, bob")
            finally:
                joined.stop()
        assert (own / "bob.key").exists() and not list(home.iterdir())
    finally:
        shutil.rmtree(shared, ignore_errors=True)


SIGNAL_WHILE_HANDLERS_GO_BACK = """
import os, pty, signal, termios
from lanchat import askpass

signal.signal(signal.SIGQUIT, signal.default_int_handler)  # as connect and serve set it
window, terminal = pty.openpty()
out = open(os.ttyname(terminal), "w")
os.write(window, b"secret\\n")
real_signal, sets = signal.signal, []
HOW = {how!r}

def put_back_then_a_signal(signum, handler):
    done = real_signal(signum, handler)
    sets.append(signum)
    if HOW == "ctrl-c" and signum == signal.SIGINT and handler is signal.default_int_handler:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C, after SIGINT's handler is back, before SIGQUIT's
    return done

real_set = termios.tcsetattr

def put_back_then_ctrl_z(fd, when, attrs):
    real_set(fd, when, attrs)
    if HOW == "ctrl-z" and attrs[3] & termios.ECHO and not stops:
        stops.append("pressed")
        signal.raise_signal(signal.SIGTSTP)  # Ctrl-Z, once the terminal is put back

termios.tcsetattr = put_back_then_ctrl_z
real_kill = os.kill
os.kill = lambda pid, sig: None if sig == signal.SIGTSTP else real_kill(pid, sig)  # stopped, then fg at once
stops = []
real_signal(signal.SIGTSTP, lambda *_: stops.append(bool(termios.tcgetattr(terminal)[3] & termios.ECHO)))  # the shell's Ctrl-Z
signal.signal = put_back_then_a_signal
try:
    print("got", askpass.ask_password("pw: ", fd=terminal, out=out))
except KeyboardInterrupt:
    print("interrupted")
signal.signal = real_signal
print("quit", signal.getsignal(signal.SIGQUIT) is signal.default_int_handler, "stops", stops)
print("echo after", bool(termios.tcgetattr(terminal)[3] & termios.ECHO))
"""


@pytest.mark.parametrize(("how", "said"), [("ctrl-c", "interrupted"), ("ctrl-z", "got secret")])
def test_a_signal_while_the_prompts_handlers_go_back_finds_them_all_back(how, said):
    """A Ctrl-C just after Enter, landing once SIGINT's handler was back but before SIGQUIT's,
    raised there: SIGQUIT kept the prompt's handler, which only notes, and Ctrl-\\ did nothing for
    the rest of an exiting serve. A Ctrl-Z as the terminal was put back ran the prompt's stop
    handler. The signals wait (blocked) while the terminal and the handlers go back, then come
    to the handlers that were there before: all of them back, the echo on."""
    done = subprocess.run([sys.executable, "-c", SIGNAL_WHILE_HANDLERS_GO_BACK.format(how=how)], env=child_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    stops = "['pressed', True]" if how == "ctrl-z" else "[]"
    assert done.stdout.splitlines() == [said, f"quit True stops {stops}", "echo after True"], done.stdout


def test_lanchat_password_without_the_password_option_is_said_to_leave_the_room_open():
    """`LANCHAT_PASSWORD=fractions lanchat serve` (the guide names the variable beside --password):
    the room started with no password at all, anyone joined, and the start lines said nothing of
    it, so the teacher believed the room was closed to the class. They now say it is open."""
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--no-announce",
                  env=child_env(LANCHAT_PASSWORD="fractions"))  # fmt: skip
    try:
        port = int(server.expect(r"listening on port (\d+)").group(1))
        server.expect(r"^  no password: anyone can join; LANCHAT_PASSWORD is set, but only --password makes the room ask for it$")
        guest = RawClient(Endpoint(host="127.0.0.1", port=port), "guest")  # what the line says: no password asked
        guest.close()
    finally:
        server.stop()
    assert "fractions" not in server.output


def _small_order_keys() -> list[bytes]:
    """The encodings of Ed25519's points of order 1, 2, 4 and 8 (either sign of x): y = 1, -1,
    0, and the roots of d*y**4 + 2*y**2 - 1 (identity.weak_key), square roots mod p = 5 mod 8."""
    p, d = 2**255 - 19, identity._D

    def roots(a: int) -> list[int]:
        x = pow(a, (p + 3) // 8, p)
        x = x if x * x % p == a % p else x * pow(2, (p - 1) // 4, p) % p
        return [x, p - x] if x * x % p == a % p else []

    ys = [1, p - 1, 0]
    for y2 in ((-1 + r) * pow(d, -1, p) % p for r in roots(1 + d)):
        ys += roots(y2)
    return [(y | sign << 255).to_bytes(32, "little") for y in ys for sign in (0, 1)]


def test_a_key_of_small_order_is_refused_at_the_door_so_no_signature_can_pass_for_its_name():
    """A student sends as `key` Ed25519's neutral point (01 00 .. 00) and answers the challenge
    with the signature that matches any message for it (that point, then 32 zero bytes): the
    server checked the signature, as the document says, and let them in. The key's name was then
    anyone's who saw the key, with a signature replayed from another connection too; the seven
    other points of small order are as weak (one of eight such signatures matches). Each is now
    refused at the hello with a fatal bad-key, before any challenge; a real key still joins."""
    weak = _small_order_keys()
    assert len(weak) == 10 and all(identity.weak_key(key) for key in weak)  # 8 points; x = 0 twice, as +0 and -0
    assert not any(identity.weak_key(identity.public_bytes(Ed25519PrivateKey.generate())) for _ in range(200))
    server, port = start_server("--headless", "--no-history", "--no-announce")
    try:
        for public in weak:
            with socket.create_connection(("127.0.0.1", port), timeout=DEFAULT_TIMEOUT) as sock:
                client = RawClient(sock)
                client.send(ev.Hello(name="ann", key=identity.b64(public)))
                answer = client.expect(object)
                if isinstance(answer, ev.Challenge) and public == weak[0]:  # the neutral point: the forgery works
                    client.send(ev.Auth(signature=identity.b64(public + bytes(32))))
                    answer = client.expect(object)
                assert isinstance(answer, ev.Error), f"{public.hex()}: {answer}"
                assert (answer.code, answer.fatal) == (ev.E_BAD_KEY, True), answer
                assert "small order" in answer.message
        real = Ed25519PrivateKey.generate()
        with socket.create_connection(("127.0.0.1", port), timeout=DEFAULT_TIMEOUT) as sock:
            client = RawClient(sock)
            client.send(ev.Hello(name="ann", key=identity.b64(identity.public_bytes(real))))
            challenge = client.expect(object)
            assert isinstance(challenge, ev.Challenge)
            client.send(ev.Auth(signature=identity.b64(identity.sign_challenge(real, identity.unb64(challenge.nonce, 32, "nonce")))))
            client.expect(ev.Welcome)
    finally:
        server.stop()
