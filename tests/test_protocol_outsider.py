"""A client written from docs/PROTOCOL.md alone, against a real ``lanchat serve``.

These tests speak raw frames (a 4-byte big-endian length, then compact JSON) as the document
describes them, without lanchat's own encoder or state machine, so that what they check is the
document's promise to an outside implementer, not lanchat's agreement with itself.
"""

from __future__ import annotations

import base64
import json
import select
import socket
import struct
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from helpers import Proc

TIMEOUT = 10.0


def frame(obj: dict[str, object]) -> bytes:
    payload = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return struct.pack(">I", len(payload)) + payload


class Outsider:
    """One connection, framed by hand (PROTOCOL.md 2)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""
        self.closed = False

    def send(self, **obj: object) -> None:
        self.sock.sendall(frame(obj))

    def recv(self, timeout: float = TIMEOUT) -> dict[str, object] | None:
        """The next frame, or None when none comes within ``timeout`` or the server closed."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 4:
                (length,) = struct.unpack(">I", self.buffer[:4])
                if len(self.buffer) >= 4 + length:
                    payload, self.buffer = self.buffer[4 : 4 + length], self.buffer[4 + length :]
                    return json.loads(payload)  # type: ignore[no-any-return]
            left = deadline - time.monotonic()
            if self.closed or left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            chunk = self.sock.recv(65536)
            self.closed = not chunk
            self.buffer += chunk

    def until(self, kind: str, **fields: object) -> tuple[dict[str, object], list[dict[str, object]]]:
        """Read up to the first frame of type ``kind`` with ``fields``; it and what came before."""
        seen: list[dict[str, object]] = []
        while (got := self.recv()) is not None:
            seen.append(got)
            if got.get("type") == kind and all(got.get(k) == v for k, v in fields.items()):
                return got, seen
        raise AssertionError(f"no {kind} {fields}; got {seen}")

    def drain(self, quiet: float = 0.3) -> list[dict[str, object]]:
        """What arrives until nothing more comes for ``quiet`` seconds (only to check absence)."""
        frames = []
        while (got := self.recv(quiet)) is not None:
            frames.append(got)
        return frames

    def join(self, name: str, key: Ed25519PrivateKey | None = None, **extra: object) -> dict[str, object]:
        """hello (and, with a key, the challenge's answer); the server's decisive answer."""
        hello: dict[str, object] = {"type": "hello", "name": name, "version": 2, **extra}
        if key is not None:
            public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            hello["key"] = base64.b64encode(public).decode("ascii")
        self.sock.sendall(frame(hello))
        reply = self.recv()
        assert reply is not None
        if reply["type"] == "challenge":
            assert key is not None
            nonce = base64.b64decode(str(reply["nonce"]))
            signature = key.sign(b"lanchat identity v2\x00" + nonce)  # no TLS: no channel binding
            self.send(type="auth", signature=base64.b64encode(signature).decode("ascii"))
            reply = self.recv()
            assert reply is not None
        return reply

    def close(self) -> None:
        self.sock.close()


def serve(*extra: str) -> tuple[Proc, int]:
    server = Proc("serve", "--headless", "--no-announce", "--host", "127.0.0.1", "--port", "0", *extra)
    return server, int(server.expect(r"listening on port (\d+)").group(1))


def test_each_say_is_answered_in_the_order_sent_even_when_the_flood_limit_refuses_some(tmp_path):
    """PROTOCOL.md, Rejoining ("the server handles one connection's frames in order and answers
    each say either with its echo or with an error") and Abuse limits: 12 says in one write are
    10 echoes then 2 slow-downs, in that order. With history the echoes wait for the pass's
    commit; the slow-downs used to be queued at once and so came first."""
    server, port = serve("--history", str(tmp_path / "h.sqlite3"))
    ann = Outsider(port)
    try:
        assert ann.join("ann")["type"] == "welcome"
        ann.until("history-end")
        ann.sock.sendall(b"".join(frame({"type": "say", "text": f"m{i}"}) for i in range(12)))
        answers = [ann.recv() for _ in range(12)]
        said = [
            (a["type"], a["text"] if a["type"] == "message" else json.loads(str(a["refused"]))["text"])
            for a in answers
            if a is not None
        ]
        assert said == [("message", f"m{i}") for i in range(10)] + [("error", "m10"), ("error", "m11")]
        assert all(a["code"] == "slow-down" for a in answers[10:] if a is not None)
    finally:
        ann.close()
        server.stop()


def test_a_rejoin_refused_for_its_name_leaves_the_session_it_named_in_the_room(tmp_path):
    """PROTOCOL.md, Rejoining: a hello with a session's resume secret takes over that session;
    Identity: a name a key owns is refused (name-owned) to a hello without that key. A hello
    with the secret but without the key is refused; it used to end the session all the same
    (taken-over, the room told it was lost), leaving nobody under the name."""
    server, port = serve("--no-history", "--no-limits")
    key = Ed25519PrivateKey.generate()
    ann, bob, other = Outsider(port), Outsider(port), Outsider(port)
    try:
        welcome = ann.join("ann", key=key)
        assert welcome["type"] == "welcome" and welcome["resume"]
        assert bob.join("bob")["type"] == "welcome"
        ann.until("joined", name="bob")
        for hello in ({}, {"key": Ed25519PrivateKey.generate()}):  # no key, then another key
            refusal = other.join("ann", resume=welcome["resume"], **hello)
            assert (refusal["type"], refusal["code"]) == ("error", "name-owned")
        assert ann.drain() == [] and not ann.closed  # no taken-over
        assert [f for f in bob.drain() if f["type"] == "left"] == []
        bob.send(type="who")
        assert bob.until("roster")[0]["members"] == ["ann", "bob"]
        ann.send(type="say", text="still here")
        bob.until("message", text="still here")
    finally:
        for one in (ann, bob, other):
            one.close()
        server.stop()


def test_a_fatal_bad_frame_is_the_last_frame_and_comes_after_the_answers_to_the_frames_before_it(tmp_path):
    """PROTOCOL.md 2 and 4: a header over 64 KiB is answered with a fatal bad-frame and the
    connection closes; "an error with fatal: true closes the connection" and frames are
    answered in order. A say in the same write before the broken header used to be echoed
    after the fatal error with history (the echo waits for the commit), and not at all without."""
    for history in (("--history", str(tmp_path / "h.sqlite3")), ("--no-history",)):
        server, port = serve(*history)
        ann = Outsider(port)
        try:
            assert ann.join("ann")["type"] == "welcome"
            if "--no-history" not in history:
                ann.until("history-end")
            ann.sock.sendall(frame({"type": "say", "text": "hi"}) + struct.pack(">I", 65537))
            frames = []
            while (got := ann.recv()) is not None:
                frames.append(got)
            assert ann.closed
            assert [(f["type"], f.get("text") or f.get("code")) for f in frames] == [("message", "hi"), ("error", "bad-frame")]
            assert frames[-1]["fatal"] is True
        finally:
            ann.close()
            server.stop()


def test_a_reader_dropped_as_too_slow_gets_nothing_after_its_fatal_error(tmp_path):
    """PROTOCOL.md 5: past its queue limit a client gets a fatal too-slow and is closed; 4: a
    fatal error ends the connection. With history a say's echo waits for the pass's commit, so
    a say, answers that overflow the queue and a second say in one write used to end with the
    second echo after the fatal error."""
    from helpers import running_server

    from lanchat.history import HistoryStore

    store = HistoryStore(tmp_path / "h.sqlite3")
    with running_server(history=store, max_queue_bytes=4096) as (_server, endpoint):
        ann = Outsider(endpoint.port)
        try:
            assert ann.join("ann")["type"] == "welcome"
            ann.until("history-end")
            whos = frame({"type": "who"}) * 200  # 200 rosters: past 4 KiB queued in one pass
            ann.sock.sendall(frame({"type": "say", "text": "x"}) + whos + frame({"type": "say", "text": "y"}))
            frames = []
            while (got := ann.recv()) is not None:
                frames.append(got)
            assert ann.closed
            assert (frames[-1]["type"], frames[-1].get("code"), frames[-1].get("fatal")) == ("error", "too-slow", True), frames[-3:]
        finally:
            ann.close()
    store.close()


def test_what_a_newcomer_receives_and_in_what_order(tmp_path):
    """PROTOCOL.md 4, "What a newcomer receives, in order": welcome, the topic, one away note
    per member away, the replay and history-end (only with history), then operators."""
    for history in (("--history", str(tmp_path / "h.sqlite3")), ("--no-history",)):
        server, port = serve("--no-limits", "--operator", "hal", *history)
        hal, cy = Outsider(port), Outsider(port)
        try:
            assert hal.join("hal", key=Ed25519PrivateKey.generate())["type"] == "welcome"
            hal.until("operators")
            hal.send(type="topic", text="lab 3")
            hal.send(type="say", text="earlier")
            hal.send(type="away", reason="at lunch")
            hal.until("away-status")
            assert cy.join("cy")["type"] == "welcome"
            got = [(f["type"], f.get("text") or f.get("reason") or f.get("names")) for f in cy.until("operators")[1]]
            replay = [("message", "earlier"), ("history-end", None)] if "--no-history" not in history else []
            assert got == [("room-topic", "lab 3"), ("away-status", "at lunch"), *replay, ("operators", ["hal"])]
        finally:
            for one in (hal, cy):
                one.close()
            server.stop()
