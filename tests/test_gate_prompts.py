"""Time to type a password room's password (gate.PromptTimes), from a script's side: one
address whose prompts keep ending unanswered (a script at a school's NAT holding its 16
connections at the prompt, 120 s each, again and again) gets no more than the hello deadline for
a while; a class there typing the password, and every other address, keep their time."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import RawClient, network_namespace_or_skip, running_server, wait_for
from test_identity import auth, hello
from test_moderation_natban import _from_the_nat

from lanchat import events as ev
from lanchat import gate as gate_module
from lanchat.gate import UNANSWERED_PROMPTS, UNANSWERED_WINDOW, Admit, Gate
from lanchat.identity import RoomPassword
from lanchat.limits import PROMPT_SECONDS

NAT = "203.0.113.7"
PASSWORD = "fractions"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _asked(gate: Gate, cid: int, address: str, name: str = "ann") -> tuple[Ed25519PrivateKey, ev.Challenge]:
    """Connection ``cid`` from ``address`` says hello with a key; the gate asks for the password."""
    key = Ed25519PrivateKey.generate()
    gate.arrived(cid, f"{address}:{40000 + cid}")
    (send,) = gate.hello(cid, hello(key, name))  # type: ignore[misc]
    assert isinstance(send.event, ev.Challenge) and send.event.salt is not None
    return key, send.event


def test_an_address_whose_prompts_go_unanswered_gets_the_hello_deadline_only_for_a_while():
    clock = Clock()
    gate = Gate(clock=clock, password=RoomPassword.create(PASSWORD, bytes(range(16))))
    cids = iter(range(1, 1000))
    # a class there answers: their prompts never count, however many
    for _ in range(2 * UNANSWERED_PROMPTS):
        cid = next(cids)
        key, challenge = _asked(gate, cid, NAT)
        assert gate.prompts.seconds(cid) == PROMPT_SECONDS
        assert isinstance(gate.auth(cid, auth(key, challenge, PASSWORD)), Admit)
        gate.forget(cid)
    # a script's prompts there time out (or close at the prompt): after UNANSWERED_PROMPTS, none
    for _ in range(UNANSWERED_PROMPTS):
        cid = next(cids)
        _asked(gate, cid, NAT, "m")
        assert gate.prompts.seconds(cid) == PROMPT_SECONDS
        clock.now += 10
        gate.forget(cid)
    cid = next(cids)
    _asked(gate, cid, NAT)
    assert gate.prompts.seconds(cid) == 0.0  # 20 s from connecting, as any hello
    assert gate.prompts.seconds(cid, typing=True) == 0.0  # a text participant there too
    other = next(cids)
    _asked(gate, other, "192.168.1.10")
    assert gate.prompts.seconds(other) == PROMPT_SECONDS  # another machine: untouched
    clock.now += UNANSWERED_WINDOW
    assert gate.prompts.seconds(cid) == PROMPT_SECONDS  # quiet for the window: time to type again


def test_text_participants_left_at_the_password_prompt_count_too():
    clock = Clock()
    gate = Gate(clock=clock, password=RoomPassword.create(PASSWORD, bytes(range(16))))
    for cid in range(1, UNANSWERED_PROMPTS + 1):
        gate.arrived(cid, f"{NAT}:{40000 + cid}")
        assert gate.prompts.seconds(cid, typing=True) == PROMPT_SECONDS
        gate.forget(cid)
    gate.arrived(99, f"{NAT}:40099")
    assert gate.prompts.seconds(99, typing=True) == 0.0


def test_a_script_at_a_nat_leaving_its_prompts_unanswered_is_cut_at_the_hello_deadline(monkeypatch):
    """A real server; the script in a network namespace (one address) opens connections, says
    hello with a key and leaves each prompt unanswered (closed here: a time-out counts the same,
    120 s each); its next prompt is cut at the hello deadline (1 s here) with the prompt's
    words. A student on another address (this machine) typing slowly still gets in."""
    with network_namespace_or_skip() as (namespace, our_address, _their_address, _link):
        monkeypatch.setattr(gate_module, "UNANSWERED_PROMPTS", 3)  # 3, not 8, to keep the test short
        password = RoomPassword.create(PASSWORD, bytes(range(16)))
        with running_server(host=our_address, handshake_seconds=1.0, password=password) as (server, endpoint):
            socks = _from_the_nat(namespace, our_address, endpoint.port, 4)  # type: ignore[arg-type]
            for sock in socks[:3]:
                script = RawClient(sock, key=Ed25519PrivateKey.generate())
                script.send(hello(script.key, "m"))  # type: ignore[arg-type]
                script.expect(ev.Challenge)
                script.close()
            unanswered = server.room.gate.prompts.times
            wait_for(lambda: sum(map(len, unanswered.values())) == 3, what="the script's closes read")
            last = RawClient(socks[3], key=Ed25519PrivateKey.generate())
            started = time.monotonic()
            last.send(hello(last.key, "m"))  # type: ignore[arg-type]
            last.expect(ev.Challenge)
            error = last.expect(ev.Error, timeout=15)
            assert error.code == ev.E_DEADLINE and "no password given within" in error.message, error  # type: ignore[attr-defined]
            assert time.monotonic() - started < 15  # before: PROMPT_SECONDS (120 s); 1 s now, room for a loaded machine
            key = Ed25519PrivateKey.generate()
            ann = RawClient(endpoint, key=key, password=PASSWORD)
            ann.send(hello(key, "ann"))
            challenge = ann.expect(ev.Challenge)
            time.sleep(1.5)  # ann typing (not a synchronisation: the wait is what is tested)
            ann.send(ann.answer(challenge))  # type: ignore[arg-type]
            assert ann.expect(ev.Welcome).name == "ann"  # type: ignore[attr-defined]
            ann.close()


def test_a_script_at_a_nat_leaving_nc_name_questions_unanswered_is_cut_at_the_hello_deadline(monkeypatch):
    """The name question a person at nc is asked ("name: ", then up to 2 min to answer) is a
    prompt as the password is: a script at a NAT pressing Enter and never naming itself held its
    16 connections 2 min each, again and again. Its unanswered questions count against its
    address, and past UNANSWERED_PROMPTS (3 here) the next one there gets the hello deadline
    only (1 s here). A student at nc on another address (this machine) still gets their time."""
    from test_text_participants import TextPeer

    with network_namespace_or_skip() as (namespace, our_address, _their_address, _link):
        monkeypatch.setattr(gate_module, "UNANSWERED_PROMPTS", 3)
        with running_server(host=our_address, handshake_seconds=1.0) as (server, endpoint):
            socks = _from_the_nat(namespace, our_address, endpoint.port, 4)  # type: ignore[arg-type]
            for sock in socks[:3]:
                sock.sendall(b"\n")
                _read_until(sock, b"name: ")
                sock.close()
            unanswered = server.room.gate.prompts.times
            wait_for(lambda: sum(map(len, unanswered.values())) == 3, what="the script's closes read")
            started = time.monotonic()
            socks[3].sendall(b"\n")
            said = _read_until(socks[3], b"connect again to join\r\n")
            assert b"no name given within" in said and time.monotonic() - started < 15  # 1 s, room for a loaded machine
            socks[3].close()
            ann = TextPeer(endpoint)  # this machine: time to think as before
            try:
                ann.line("")
                ann.expect(r"name: $")
                time.sleep(1.5)  # ann thinking (not a synchronisation: the wait is what is tested)
                ann.line("ann")
                ann.expect(r"-!- welcome, ann!")
            finally:
                ann.close()


def _read_until(sock, ending: bytes) -> bytes:  # noqa: ANN001 - a connected socket
    """What ``sock`` reads until it holds ``ending`` (DEFAULT_TIMEOUT at most)."""
    from helpers import DEFAULT_TIMEOUT

    sock.settimeout(DEFAULT_TIMEOUT)
    got = b""
    while ending not in got:
        data = sock.recv(4096)
        assert data, f"closed before {ending!r}; got {got!r}"
        got += data
    return got
