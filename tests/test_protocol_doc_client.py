"""An independent client of docs/PROTOCOL.md, written from the document alone, against a real
``lanchat serve --headless``.

Nothing here imports lanchat: ``DocClient`` frames bytes (section 2), speaks TCP and AF_UNIX,
plain and TLS (the fingerprint checked as "TLS" says), joins as a guest or with a key (with
TLS's channel binding), chats, whispers, acts (/me), reads the history replay, downloads files
as JSON ``file-data`` and as binary frames (with request ids, from an offset), pings, rejoins
(resume, since) and hears what went while it was away, takes turns, moderates as an operator,
meets a host, the colour bot and the door's refusals, sends typing hints and reads the shutdown
notice. Where the document was silent or wrong while this was written, the document was fixed;
the tests hold the server to what it now says, and one checks that every type, field and error
code the document names is exercised here (or says why it cannot be). The second half is a
hostile but legal client: every field at its limit, unknown fields and types, frames out of order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import select
import signal
import socket
import ssl
import struct
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from helpers import Proc, child_env, network_namespace_or_skip, short_tmp_dir
from test_moderation_natban import _from_the_nat

TIMEOUT = 10.0
MAX_FRAME = 65536  # section 2


class Closed(Exception):
    """The server closed the stream (section 2: recv() returned no bytes)."""


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # section 2: NaN and Infinity are not JSON


def frame(obj: dict[str, object]) -> bytes:
    """Section 2: a 4-byte big-endian length, then compact UTF-8 JSON."""
    payload = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return struct.pack(">I", len(payload)) + payload


def binary_frame(file_id: str, data: bytes) -> bytes:
    """Binary file frames: 0, the id's length in bytes, the id, the raw bytes."""
    raw_id = file_id.encode("utf-8")
    payload = b"\x00" + bytes([len(raw_id)]) + raw_id + data
    return struct.pack(">I", len(payload)) + payload


def fingerprint_of(der: bytes) -> str:
    """TLS: `SHA256:` and the unpadded base64 of SHA-256 of the certificate's DER bytes."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(der).digest()).decode("ascii").rstrip("=")


class DocClient:
    """One connection to a lanchat server, as docs/PROTOCOL.md describes it."""

    def __init__(
        self, port: int | None = None, *, unix: str | None = None, fingerprint: str | None = None, sock: socket.socket | None = None
    ) -> None:
        if sock is not None:  # a connection made elsewhere (in another network namespace)
            raw = sock
            raw.settimeout(TIMEOUT)
        elif unix is not None:
            raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            raw.settimeout(TIMEOUT)
            raw.connect(unix)
        else:
            raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # section 1
        self.binding = b""  # Identity: the channel binding, empty without TLS
        if fingerprint is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.check_hostname = False  # no authority: the fingerprint is the trust (TLS)
            context.verify_mode = ssl.CERT_NONE
            raw = context.wrap_socket(raw)
            der = raw.getpeercert(binary_form=True)
            assert der is not None
            if fingerprint_of(der) != fingerprint:  # nothing is sent before it is accepted
                raw.close()
                raise ssl.SSLError(f"fingerprint {fingerprint_of(der)} is not {fingerprint}")
            self.binding = hashlib.sha256(der).digest()
        self.sock = raw
        self.buffer = b""
        self.closed = False

    # -- section 2: framing ------------------------------------------------------------
    def send(self, **obj: object) -> None:
        self.sock.sendall(frame(obj))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _cut(self) -> dict[str, object] | None:
        if len(self.buffer) < 4:
            return None
        (length,) = struct.unpack(">I", self.buffer[:4])
        if length > MAX_FRAME:  # section 2: a client disconnects from such a server
            raise AssertionError(f"the server announced a {length}-byte frame")
        if len(self.buffer) < 4 + length:
            return None
        payload, self.buffer = self.buffer[4 : 4 + length], self.buffer[4 + length :]
        if payload[:1] == b"\x00":  # Binary file frames
            n = payload[1]
            assert 1 <= n <= 64 and 2 + n <= len(payload), "a binary frame cut wrong"
            return {"type": "(binary)", "id": payload[2 : 2 + n].decode("utf-8"), "data": payload[2 + n :]}
        obj = json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
        assert isinstance(obj, dict) and isinstance(obj.get("type"), str), obj
        return obj

    def recv(self, timeout: float = TIMEOUT) -> dict[str, object]:
        """The next frame; ``Closed`` once the server closed; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            got = self._cut()
            if got is not None:
                return got
            if self.closed:
                raise Closed
            pending = self.sock.pending() if isinstance(self.sock, ssl.SSLSocket) else 0
            left = deadline - time.monotonic()
            if not pending and (left <= 0 or not select.select([self.sock], [], [], left)[0]):
                raise AssertionError(f"nothing from the server within {timeout} s")
            try:
                chunk = self.sock.recv(262144)
            except (ConnectionResetError, ssl.SSLEOFError):
                chunk = b""
            self.closed = not chunk
            self.buffer += chunk

    def until(self, kind: str, **fields: object) -> tuple[dict[str, object], list[dict[str, object]]]:
        """Read up to the first frame of type ``kind`` with ``fields``: it, and all read before it."""
        seen: list[dict[str, object]] = []
        while True:
            try:
                got = self.recv()
            except (Closed, AssertionError) as why:
                brief = [{k: (f"<{len(v)} bytes>" if isinstance(v, bytes) else v) for k, v in f.items()} for f in seen]
                raise AssertionError(f"no {kind} {fields} ({why!r}); got {brief}") from None
            seen.append(got)
            if got["type"] == kind and all(got.get(k) == v for k, v in fields.items()):
                return got, seen

    def quiet(self, seconds: float = 0.3) -> list[dict[str, object]]:
        """Everything that comes until nothing more does for ``seconds`` (to check an absence)."""
        got: list[dict[str, object]] = []
        while True:
            try:
                got.append(self.recv(seconds))
            except (AssertionError, Closed):
                return got

    def rest(self) -> list[dict[str, object]]:
        """Every frame up to the server's close."""
        got: list[dict[str, object]] = []
        while True:
            try:
                got.append(self.recv())
            except Closed:
                return got

    # -- section 4: the handshake --------------------------------------------------------
    def hello(
        self,
        name: str,
        key: Ed25519PrivateKey | None = None,
        password: str = "",
        *,
        sign_binding: bool = True,
        proof_binding: bool = True,
        behind: bytes = b"",
        **extra: object,
    ) -> dict[str, object]:
        """``hello`` (and the ``auth`` a key's challenge asks for, with the password's proof when
        its ``salt`` says the room has one); the server's decisive answer. ``sign_binding`` and
        ``proof_binding`` False leave the TLS channel binding out, as a relayed answer would.
        ``behind``: frames sent in the same write as the decisive ``hello`` or ``auth`` (section 4:
        pipelining)."""
        fields: dict[str, object] = {"name": name, "version": 2, "hold_notice": True, **extra}  # it reads held (below)
        if key is not None:
            public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            fields["key"] = base64.b64encode(public).decode("ascii")
        self.send_raw(frame({"type": "hello", **fields}) + (b"" if key is not None else behind))
        reply = self.recv()
        while reply["type"] == "held":  # Held while the room starts: its host is not in yet; the answer follows
            assert reply["reason"] == "starting", reply
            reply = self.recv()
        if reply["type"] == "challenge":
            assert key is not None
            nonce = base64.b64decode(str(reply["nonce"]))
            signed = b"lanchat identity v2\x00" + nonce + (self.binding if sign_binding else b"")
            answer = {"signature": base64.b64encode(key.sign(signed)).decode("ascii")}
            if reply.get("salt"):  # Identity and room password: scrypt, then an HMAC of the nonce
                salt = base64.b64decode(str(reply["salt"]))
                derived = hashlib.scrypt(password.encode(), salt=salt, n=2**15, r=8, p=1, maxmem=2**26, dklen=32)
                proved = b"lanchat password v2\x00" + nonce + (self.binding if proof_binding else b"")
                proof = hmac.new(derived, proved, hashlib.sha256).digest()
                answer["proof"] = base64.b64encode(proof).decode("ascii")
            self.send_raw(frame({"type": "auth", **answer}) + behind)
            reply = self.recv()
        return reply

    def join(self, name: str, key: Ed25519PrivateKey | None = None, **extra: object) -> dict[str, object]:
        """Join and read what a newcomer receives up to the end of its replay."""
        welcome = self.hello(name, key, **extra)
        assert welcome["type"] == "welcome", welcome
        if welcome.get("keeps_history"):  # History replay: it ends with history-end, always
            end, before = self.until("history-end")
            welcome["replay"] = before[:-1]
        return welcome

    def join_and_ping(self, name: str, key: Ed25519PrivateKey | None = None, **extra: object) -> list[dict[str, object]]:
        """Join with a ``ping`` right behind the decisive frame: everything up to its ``pong``
        (section 4: all a newcomer receives answers its ``hello``, so the ``pong`` comes last)."""
        welcome = self.hello(name, key, behind=frame({"type": "ping"}), **extra)
        assert welcome["type"] == "welcome", welcome
        return [welcome, *self.until("pong")[1]]

    def close(self) -> None:
        self.sock.close()


def serve(*extra: str, env: dict[str, str] | None = None, host: str = "127.0.0.1") -> tuple[Proc, int, str | None]:
    """``serve --headless`` on a free port of ``host``: the process, the port, the TLS fingerprint."""
    server = Proc("serve", "--headless", "--no-announce", "--host", host, "--port", "0", *extra, env=env)
    port = int(server.expect(r"listening on port (\d+)", timeout=30).group(1))  # a loaded machine starts slowly
    fingerprint = server.expect(r"fingerprint is (SHA256:\S+)").group(1) if "--tls" in extra else None
    return server, port, fingerprint


@pytest.fixture(scope="module")
def room() -> Iterator[int]:
    """One plain headless room for the tests that need nothing else (each uses its own names)."""
    server, port, _ = serve()
    try:
        yield port
    finally:
        server.stop()


# -- part 1: a client from the document -----------------------------------------------------


def test_join_chat_whisper_who_and_leave_over_tcp(room):
    ann, bob = DocClient(room), DocClient(room)
    try:
        welcome = ann.join("t1ann")
        assert welcome["name"] == "t1ann" and welcome["mode"] == "duplex"
        assert welcome.get("host") is None and welcome.get("turn") is None  # headless, duplex
        assert "t1ann" in welcome["members"]
        refused = bob.hello("T1ANN")  # taken, ignoring case: not fatal, try again (section 4)
        assert refused["type"] == "error" and refused["code"] == "name-taken" and not refused.get("fatal")
        welcome = bob.join("t1bob")
        assert welcome["members"][-2:] == ["t1ann", "t1bob"]  # join order
        ann.until("joined", name="t1bob")
        bob.send(type="say", text="café ☕")
        for side in (ann, bob):  # the sender gets its own message too
            message, _ = side.until("message")
            assert message["from"] == "t1bob" and message["text"] == "café ☕" and isinstance(message["time"], float)
        ann.send(type="whisper", to="T1BOB", text="psst")
        for side in (ann, bob):
            direct, _ = side.until("direct")
            assert (direct["from"], direct["to"], direct["text"]) == ("t1ann", "t1bob", "psst")
        bob.send(type="who")
        roster, _ = bob.until("roster")
        assert roster["members"][-2:] == ["t1ann", "t1bob"]
        bob.send(type="bye")
        assert bob.rest() == []  # section 3.1.5: nothing comes back; the server closes
        left, _ = ann.until("left", name="t1bob")
        assert left["reason"] == "quit"
    finally:
        ann.close()
        bob.close()


def test_errors_are_answered_and_the_connection_goes_on(room):
    ann = DocClient(room)
    try:
        ann.join("t2ann")
        ann.send(type="say", text=" \t\u3000")  # only white space (section 5)
        assert ann.until("error")[0]["code"] == "empty-message"
        ann.send(type="say", text="x" * 4001)
        assert ann.until("error")[0]["code"] == "too-long"
        ann.send(type="whisper", to="t2nobody", text="hi")
        assert ann.until("error")[0]["code"] == "no-such-user"
        ann.send(type="dance")
        assert ann.until("error")[0]["code"] == "unknown-type"
        ann.send_raw(b"\x00\x00\x00\x03{{{")
        assert ann.until("error")[0]["code"] == "bad-json"
        ann.send_raw(b"\x00\x00\x00\x02[]")
        assert ann.until("error")[0]["code"] == "bad-message"
        ann.send(type="say", text="still here")
        assert ann.until("message")[0]["text"] == "still here"
    finally:
        ann.close()


def test_history_replay_and_asking_for_more(room):
    ann = DocClient(room)
    try:
        ann.join("t3ann")
        for text in ("one", "two", "three"):
            ann.send(type="say", text=f"t3 {text}")
            ann.until("message", text=f"t3 {text}")
    finally:
        ann.close()
    bob = DocClient(room)
    try:
        welcome = bob.join("t3bob")
        assert welcome["keeps_history"] is True
        replayed = [f["text"] for f in welcome["replay"] if f["type"] == "message" and f.get("history")]
        assert replayed[-3:] == ["t3 one", "t3 two", "t3 three"]  # oldest first
        bob.send(type="history", limit=2)
        end, before = bob.until("history-end")
        assert [f["text"] for f in before[:-1]] == ["t3 two", "t3 three"] and end["shown"] == 2
        bob.send(type="history", limit=1, before=end["before"])
        end2, before2 = bob.until("history-end")
        assert [f["text"] for f in before2[:-1]] == ["t3 one"] and end2["shown"] == 1
    finally:
        bob.close()


def _offer(client: DocClient, name: str, content: bytes, *, binary: bool = False) -> str:
    """File transfer: offer, upload (chunks or binary frames), upload-done; the offered id."""
    client.send(type="offer", ref=7, name=name, size=len(content))
    ready, _ = client.until("upload-ready", ref=7)
    file_id = str(ready["id"])
    if binary:
        assert ready.get("binary") is True
        for at in range(0, len(content), 60 * 1024):
            client.send_raw(binary_frame(file_id, content[at : at + 60 * 1024]))
    else:
        for at in range(0, len(content), 32768):
            client.send(type="chunk", id=file_id, data=base64.b64encode(content[at : at + 32768]).decode("ascii"))
    client.send(type="upload-done", id=file_id, sha256=hashlib.sha256(content).hexdigest())
    return file_id


def _download(client: DocClient, file_id: str, *, binary: bool = False, **more: object) -> tuple[dict[str, object], bytes]:
    """``get`` (with ``more``: a ``req``, an ``offset``) and the whole file that answers it."""
    client.send(type="get", id=file_id, **({"binary": True} if binary else {}), **more)
    file_id = file_id.removeprefix("#")  # the server names the file by its id alone
    start, _ = client.until("file-start", id=file_id, **({"req": more["req"]} if "req" in more else {}))
    data = b""
    while len(data) < start["size"]:  # no end frame: complete when size bytes arrived
        piece = client.recv()
        if piece["type"] == "file-data" and piece["id"] == file_id:
            data += base64.b64decode(str(piece["data"]))
        elif piece["type"] == "(binary)" and piece["id"] == file_id:
            data += piece["data"]  # type: ignore[operator]
    assert hashlib.sha256(data).hexdigest() == start["sha256"]  # the sender's checksum
    return start, data


def test_a_file_offered_then_fetched_as_json_and_as_binary_frames(room):
    ann, bob = DocClient(room), DocClient(room)
    content = os.urandom(100_000)  # more than one chunk either way
    try:
        ann.join("t4ann")
        bob.join("t4bob")
        file_id = _offer(ann, "../notes\u202e.txt", content)
        offered, _ = bob.until("offered", id=file_id)
        assert offered["from"] == "t4ann" and offered["size"] == len(content)
        assert offered["name"] == "notes.txt"  # files.safe_name: no path, no bidi override
        assert ann.until("offered", id=file_id)[0]["from"] == "t4ann"  # the sender too
        start, data = _download(bob, file_id)
        assert data == content and start["name"] == "notes.txt"
        _, data = _download(bob, "#" + file_id, binary=True)  # a leading # is ignored
        assert data == content
        second = _offer(ann, "b.bin", content[:70_000], binary=True)
        assert _download(bob, second, binary=True)[1] == content[:70_000]
        bob.send(type="files")
        listing, _ = bob.until("file-list")
        offers = [bob.recv() for _ in range(int(listing["count"]))]  # type: ignore[call-overload]
        assert {o["id"] for o in offers} == {file_id, second} and all(o["listing"] for o in offers)
        bob.send(type="get", id="999999")
        assert bob.until("file-error")[0]["id"] == "999999"
    finally:
        ann.close()
        bob.close()


def test_typing_hints_reach_the_others_but_not_the_typist(room):
    ann, bob = DocClient(room), DocClient(room)
    try:
        ann.join("t5ann")
        bob.join("t5bob")
        ann.send(type="typing")
        ann.send(type="typing")  # within 3 s: dropped
        assert bob.until("typing-hint")[0]["name"] == "t5ann"
        assert [f for f in bob.quiet() + ann.quiet() if f["type"] == "typing-hint"] == []
    finally:
        ann.close()
        bob.close()


def test_a_rejoin_takes_over_the_stale_session_and_replays_only_what_was_missed(room):
    ann, bob = DocClient(room), DocClient(room)
    again = DocClient(room)
    try:
        welcome = ann.join("t8ann")
        bob.join("t8bob")
        ann.send(type="say", text="t8 seen")
        seen = ann.until("message", text="t8 seen")[0]["time"]
        bob.send(type="say", text="t8 missed")
        ann.until("message", text="t8 missed")  # as if it never arrived: the link died here
        back = again.join("t8ann", resume=welcome["resume"], since=seen)
        assert [f["text"] for f in back["replay"]] == ["t8 missed"]  # Rejoining: since
        taken = ann.rest()
        assert [(f["code"], f["fatal"]) for f in taken if f["type"] == "error"] == [("taken-over", True)]
        _, told = bob.until("joined", name="t8ann")
        about_ann = [(f["type"], f.get("reason"), f.get("rejoined")) for f in told if f.get("name") == "t8ann"]
        assert about_ann == [("left", "moved", True), ("joined", None, True)]  # Rejoining: moved, not lost; its own rejoin (the secret)
        stranger = DocClient(room)  # a wrong secret takes nothing over
        try:
            assert stranger.hello("t8ann", resume="A" * 24)["code"] == "name-taken"
        finally:
            stranger.close()
    finally:
        for client in (ann, bob, again):
            client.close()


def test_a_refused_frame_is_quoted_as_the_server_read_it(room):
    ann = DocClient(room)
    try:
        ann.join("t9ann")
        for _ in range(10):  # the whole burst (Abuse limits: 10 at once)
            ann.send(type="who")
        ann.send(type="say", text="t9 hi", mood="sunny")  # an unknown field
        ann.send(type="dance")  # refused unread: an unknown type
        ann.send(type="history", before=1.5)  # and a field of the wrong type
        ann.send(type="who")  # refused too: its quote marks the end
        _, seen = ann.until("error", refused='{"type":"who"}')
        refusals = [f for f in seen if f["type"] == "error"][:-1]
        assert [f["code"] for f in refusals] == ["slow-down"] * 3
        assert json.loads(str(refusals[0]["refused"])) == {"type": "say", "text": "t9 hi"}  # without mood
        assert "refused" not in refusals[1] and "refused" not in refusals[2]
    finally:
        ann.close()


def test_turns_refusals_and_passes_in_a_turn_based_room():
    server, port, _ = serve("--mode", "turn")
    ann, bob = DocClient(port), DocClient(port)
    try:
        assert ann.join("t10ann")["turn"] == "t10ann"  # headless: the first to join holds it
        ann.send(type="moderate", action="pass")  # alone: it would come straight back
        assert ann.until("error")[0]["code"] == "bad-message"
        bob.join("t10bob")
        ann.send(type="say", text="one")
        ann.send(type="say", text="two")  # pipelined: the turn has moved on by then
        _, seen = ann.until("error")
        answers = [(f["type"], f.get("holder"), f.get("code")) for f in seen if f["type"] != "joined"]
        assert answers == [("message", None, None), ("turn", "t10bob", None), ("error", None, "not-your-turn")]
        ann.send(type="me", text="waves")  # section 6: a `me` needs the turn too
        assert ann.until("error")[0]["code"] == "not-your-turn"
        bob.send(type="moderate", action="pass", reason="nothing to say")  # the holder's own pass
        assert ann.until("moderated")[0]["by"] == "t10bob"
        assert ann.until("turn")[0]["holder"] == "t10ann"
    finally:
        ann.close()
        bob.close()
        server.stop()


def test_serve_operator_takes_a_keys_fingerprint_in_each_documented_form():
    """Moderation, op: `serve --operator KEY` takes the 16 hex digits bare (capitals too), in fours
    split by spaces or tabs, in eights of 2 split by colons, or `SHA256:` and the unpadded base64 of
    the key's whole SHA-256; the first to join with that key, under any name, is made an operator."""
    keys = [Ed25519PrivateKey.generate() for _ in range(4)]
    digests = [hashlib.sha256(k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).digest() for k in keys]
    forms = [
        ":".join(f"{byte:02x}" for byte in digests[0][:8]),
        "SHA256:" + base64.b64encode(digests[1]).decode("ascii").rstrip("="),
        "{}\t{}  {} {}".format(*(digests[2][:8].hex()[i : i + 4] for i in range(0, 16, 4))),
        digests[3][:8].hex().upper(),
    ]
    server, port, _ = serve(*(arg for form in forms for arg in ("--operator", form)))
    clients = [DocClient(port) for _ in keys]
    try:
        for n, (client, key) in enumerate(zip(clients, keys, strict=True)):
            client.join(f"t27any{n}", key)
            made, _ = client.until("moderated", action="op")
            assert (made["name"], made["by"], made["reason"]) == (f"t27any{n}", "the server", "serve --operator"), forms[n]
    finally:
        for client in clients:
            client.close()
        server.stop()
    padded = Proc("serve", "--headless", "--no-announce", "--port", "0", "--operator", "SHA256:" + base64.b64encode(digests[1]).decode("ascii"))
    try:
        assert padded.wait() != 0 and "43 characters" in padded.output
    finally:
        padded.stop()


def test_over_af_unix_and_the_shutdown_notice():
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "room.sock")
        server = Proc("serve", "--headless", "--unix", path)
        try:
            server.expect("join with")
            assert os.stat(path).st_mode & 0o777 == 0o600  # section 1
            ann = DocClient(unix=path)
            try:
                ann.join("t6ann")
                ann.send(type="say", text="over a socket file")
                assert ann.until("message")[0]["text"] == "over a socket file"
                server.popen.send_signal(signal.SIGTERM)
                notice, _ = ann.until("shutdown")
                assert notice["reason"] == "the server was stopped" and not notice.get("final")
                assert ann.rest() == []  # nothing follows it (3.2.9)
            finally:
                ann.close()
            assert server.wait() == 0 and not os.path.exists(path)
        finally:
            server.stop()


def test_over_tls_with_a_key_and_the_channel_binding(tmp_path):
    server, port, fingerprint = serve("--tls", "--tls-dir", str(tmp_path))
    try:
        assert fingerprint is not None
        cert = (tmp_path / "tls-cert.pem").read_text()
        assert fingerprint_of(ssl.PEM_cert_to_DER_cert(cert)) == fingerprint  # as the banner says
        short = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert)).hexdigest()[:16]  # TLS: its short form, for the board
        assert server.expect(r"for the board: ([0-9a-f]{4}(?: [0-9a-f]{4}){3})").group(1) == " ".join(short[i : i + 4] for i in range(0, 16, 4))
        key = Ed25519PrivateKey.generate()
        ann = DocClient(port, fingerprint=fingerprint)
        try:
            welcome = ann.join("t7ann", key)
            assert welcome["name"] == "t7ann"
            ann.send(type="say", text="encrypted")
            assert ann.until("message")[0]["text"] == "encrypted"
            ann.send(type="whois", name="t7ann")
            reply, _ = ann.until("whois-reply")
            digest = hashlib.sha256(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()
            assert reply["fingerprint"] == " ".join(digest[i : i + 4] for i in range(0, 16, 4))
        finally:
            ann.close()
        plain = DocClient(port)  # Mixed ends: a plain lanchat client is told to use TLS
        try:
            plain.send(type="hello", name="t7bob", version=2)
            error, _ = plain.until("error")
            assert error["code"] == "use-tls" and error["fatal"] is True
        finally:
            plain.close()
        unbound = DocClient(port, fingerprint=fingerprint)  # a signature without the binding
        try:
            refused = unbound.hello("t7cat", Ed25519PrivateKey.generate(), sign_binding=False)
            assert refused["code"] == "bad-signature" and refused["fatal"] is True
        finally:
            unbound.close()
    finally:
        server.stop()


def test_a_room_password_proved_over_tls_never_sent(tmp_path):
    env = child_env(LANCHAT_PASSWORD="tea pot")
    server, port, fingerprint = serve("--password", "--tls", "--tls-dir", str(tmp_path), env=env)
    try:
        clients = [DocClient(port, fingerprint=fingerprint) for _ in range(5)]
        try:
            assert clients[0].hello("t11ann", Ed25519PrivateKey.generate(), "tea pot")["type"] == "welcome"
            unbound = clients[1].hello("t11bob", Ed25519PrivateKey.generate(), "tea pot", proof_binding=False)
            assert (unbound["code"], unbound["message"], unbound["fatal"]) == ("password", "wrong password", True)
            wrong = clients[2].hello("t11cy", Ed25519PrivateKey.generate(), "tea")
            assert (wrong["code"], wrong["message"], wrong["fatal"]) == ("password", "wrong password", True)
            key = Ed25519PrivateKey.generate()
            relayed = clients[3].hello("t11dan", key, "tea pot", sign_binding=False, proof_binding=False)
            assert (relayed["code"], relayed["fatal"]) == ("bad-signature", True)  # the signature is checked first
            guest = clients[4].hello("t11cat")  # no key: a guest cannot prove a password
            assert (guest["code"], guest["fatal"]) == ("password", True)
        finally:
            for client in clients:
                client.close()
    finally:
        server.stop()


def _kinds(frames: list[dict[str, object]]) -> list[str]:
    return [str(f["type"]) for f in frames]


def test_a_students_whole_journey_with_a_key_whisper_me_turns_a_file_a_ping_and_a_rejoin():
    """The journey a class makes, by the document alone: join with a key (the operator named by
    ``serve --operator``), whisper, /me, be pinged, fetch a file with a request id, the room made
    turn-based, a turn taken with /me, the link lost, and the rejoin's replay (the /me in it)."""
    server, port, _ = serve("--operator", "t12ann")
    ann_key, bob_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    ann, bob, back = DocClient(port), DocClient(port), DocClient(port)
    try:
        welcome = ann.join("t12ann", ann_key)
        assert welcome["ping"] is True and welcome["keeps_history"] is True  # Liveness, History replay
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,128}", str(welcome["resume"]))  # Rejoining: the secret
        operators, seen = ann.until("operators")  # Moderation: serve --operator, the moderated op first
        assert [(f["action"], f["by"], f["name"]) for f in seen if f["type"] == "moderated"] == [("op", "the server", "t12ann")]
        assert operators["names"] == ["t12ann"]
        welcome = bob.join("t12bob", bob_key)
        assert (welcome["flood_burst"], welcome["flood_rate"]) == (10, 3.0) and "flood_tokens" not in welcome
        assert bob.until("operators")[0]["names"] == ["t12ann"]  # operators besides the host (none here)
        ann.until("joined", name="t12bob")
        ann.send(type="whisper", to="T12BOB", text="psst")
        for side in (ann, bob):
            direct = side.until("direct")[0]
            assert (direct["from"], direct["to"], direct["text"], direct.get("held")) == ("t12ann", "t12bob", "psst", None)
        bob.send(type="me", text="waves")
        for side in (ann, bob):
            action = side.until("action")[0]
            assert (action["from"], action["text"]) == ("t12bob", "waves") and isinstance(action["time"], float)
        bob.send(type="who")
        bob.send(type="ping")  # answered in order with the frames before it (Liveness)
        assert _kinds([bob.recv(), bob.recv()]) == ["roster", "pong"]
        content = os.urandom(150_000)
        file_id = _offer(ann, "slides.pdf", content, binary=True)
        assert bob.until("offered", id=file_id)[0]["sha256"] == hashlib.sha256(content).hexdigest()
        start, data = _download(bob, file_id, binary=True, req=1)
        assert data == content and start["req"] == 1  # Request ids: echoed
        ann.send(type="moderate", action="mode", mode="turn")
        # the first in turn order who may speak: the students, then the operator serve --operator
        # named, in a room without a host (section 7, Order); moderated, then turn
        for side in (ann, bob):
            _, seen = side.until("turn", holder="t12bob")
            assert [(f["type"], f.get("mode")) for f in seen if f["type"] in ("moderated", "turn")] == [("moderated", "turn"), ("turn", None)]
        bob.send(type="say", text="my answer")
        ann.until("turn", holder="t12ann")
        bob.until("turn", holder="t12ann")
        bob.send(type="me", text="jumps in")
        assert bob.until("error")[0]["code"] == "not-your-turn"  # section 7: a me needs the turn
        ann.send(type="say", text="your go")
        last_seen = bob.until("message", text="your go")[0]["time"]
        bob.until("turn", holder="t12bob")
        bob.send(type="me", text="nods")
        bob.until("action", text="nods")
        bob.until("turn", holder="t12ann")
        bob.close()  # the link dies: no bye
        assert ann.until("left", name="t12bob")[0]["reason"] == "lost"
        ann.send(type="say", text="while you were out")
        ann.until("message", text="while you were out")
        got = back.join_and_ping("t12bob", bob_key, since=last_seen)
        assert (got[0]["mode"], got[0]["turn"]) == ("turn", "t12ann")
        replayed = [(f["type"], f["from"], f["text"], f.get("action")) for f in got if f.get("history")]
        assert replayed == [("message", "t12bob", "nods", True), ("message", "t12ann", "while you were out", None)]
        end = _kinds(got).index("history-end")
        assert _kinds(got)[end:] == ["history-end", "offered", "operators", "pong"]  # section 4's order
        assert ann.until("joined", name="t12bob")[0]["name"] == "t12bob"
        ann.send(type="say", text="welcome back")
        back.until("turn", holder="t12bob")
        back.send(type="say", text="thanks")
        assert ann.until("message", text="thanks")[0]["from"] == "t12bob"
    finally:
        for client in (ann, bob, back):
            client.close()
        server.stop()


def test_request_ids_say_which_get_a_file_start_answers_and_a_late_cancel_stops_nothing(room):
    """Request ids: get, cancel and get again within a round trip; the file-start of the second
    get is told by its req, and a cancel of the first that comes late leaves the second alone."""
    ann, bob = DocClient(room), DocClient(room)
    try:
        ann.join("t13ann")
        bob.join("t13bob")
        content = os.urandom(3_000_000)  # far more than the buffers hold: the first is under way
        file_id = _offer(ann, "data.bin", content, binary=True)
        bob.until("offered", id=file_id)
        bob.send(type="get", id=file_id, binary=True, req=1)
        bob.send(type="cancel", id=file_id, req=1)
        bob.send(type="get", id=file_id, binary=True, req=2)
        bob.send(type="cancel", id=file_id, req=1)  # late: it must not stop the second get
        req, data = None, b""
        while req != 2 or len(data) < len(content):
            piece = bob.recv()
            if piece["type"] == "file-start":
                assert piece["req"] in (1, 2) and req != 2, piece  # the first may have begun; never after the second
                req, data = piece["req"], b""
            elif piece["type"] == "(binary)" and req == 2:
                data += piece["data"]  # type: ignore[operator]
        assert hashlib.sha256(data).hexdigest() == hashlib.sha256(content).hexdigest()
        bob.send(type="get", id=file_id, binary=True, req=3)
        bob.send(type="get", id=file_id, binary=True, req=-4)  # any integer is the client's own
        refused, _ = bob.until("file-error")
        assert (refused["id"], refused["req"]) == (file_id, -4) and "already on its way" in str(refused["message"])
        bob.send(type="cancel", id=file_id)  # without req: every transfer of that id
        bob.send(type="get", id="424242", req=5)
        bob.send(type="get", id="424243")
        unknown = [f for f in bob.quiet(1.0) if f["type"] == "file-error"]
        assert [(f["id"], f.get("req", "absent")) for f in unknown] == [("424242", 5), ("424243", "absent")]
        ann.send(type="files")  # the offerer's listing counts who fetched the whole file, once each
        listing, _ = ann.until("file-list")
        offers = [ann.recv() for _ in range(int(listing["count"]))]  # type: ignore[call-overload]
        assert [o.get("fetched") for o in offers if o["id"] == file_id] == [1]
    finally:
        ann.close()
        bob.close()


def test_a_download_the_lost_link_cut_is_told_gone_after_the_rejoins_offers_before_its_pong():
    """Resuming a download, "Gone while away": a keyless session (its resume secret) whose link
    died mid-download, and whose file went with its sender meanwhile, hears so once after the
    rejoin's offers and before the operators; the ping behind its hello is answered last."""
    server, port, _ = serve("--operator", "t14op")
    op, ann, bob, back = (DocClient(port) for _ in range(4))
    try:
        op.join("t14op", Ed25519PrivateKey.generate())
        ann.join("t14ann")
        welcome = bob.join("t14bob")
        content = os.urandom(3_000_000)
        going = _offer(ann, "going.bin", content, binary=True)
        staying = _offer(op, "staying.txt", b"abc")
        offered: set[object] = set()
        while offered != {going, staying}:
            offered |= {f["id"] for f in [bob.recv()] if f["type"] == "offered"}
        bob.send(type="get", id=going, binary=True)
        bob.until("file-start", id=going)
        bob.close()  # mid-download: not read, so the server cannot have sent it all
        ann.until("left", name="t14bob")
        ann.send(type="bye")
        op.until("left", name="t14ann")
        got = back.join_and_ping("t14bob", resume=welcome["resume"])
        assert _kinds(got)[_kinds(got).index("history-end") :] == ["history-end", "offered", "file-error", "operators", "pong"]
        gone = got[_kinds(got).index("file-error")]
        assert gone["id"] == going and "ref" not in gone and "req" not in gone
        assert str(gone["message"]).startswith(f"going.bin (#{going}) went when t14ann left")
        assert got[_kinds(got).index("offered")]["id"] == staying
        again = DocClient(port)  # told once: the next session of that name hears nothing of it
        try:
            back.send(type="bye")
            op.until("left", name="t14bob")
            assert "file-error" not in _kinds(again.join_and_ping("t14bob"))
        finally:
            again.close()
    finally:
        for client in (op, ann, bob, back):
            client.close()
        server.stop()


def test_direct_messages_dropped_while_away_are_told_once_after_the_replay(tmp_path):
    """History replay, "Keeping": whispers kept for bob and dropped (here by ``lanchat history
    prune``) before he came back are counted in one notice after his replay's history-end."""
    history = str(tmp_path / "h.sqlite3")
    bob_key = Ed25519PrivateKey.generate()
    server, port, _ = serve("--history", history)
    try:
        ann, bob = DocClient(port), DocClient(port)
        try:
            ann.join("t15ann")
            bob.join("t15bob", bob_key)
            bob.send(type="bye")
            ann.until("left", name="t15bob")
            for text in ("one", "two"):
                ann.send(type="whisper", to="t15bob", text=text)
                assert ann.until("direct", text=text)[0]["held"] is True  # kept for the key
        finally:
            ann.close()
            bob.close()
    finally:
        server.stop()
    prune = Proc("history", "prune", history, "--before", "0h")
    assert prune.wait() == 0, prune.output
    server, port, _ = serve("--history", history)
    try:
        for times in (1, 0):  # told once: the count is forgotten once the name is here
            bob = DocClient(port)
            try:
                got = bob.join_and_ping("t15bob", bob_key)
                notices = [f for f in got if f["type"] == "notice"]
                told = [(f["code"], str(f["message"]).startswith("2 direct messages sent to you while you were away")) for f in notices]
                assert told == [("history", True)] * times, notices
                if times:
                    assert _kinds(got)[_kinds(got).index("history-end") :] == ["history-end", "notice", "pong"]
                bob.send(type="bye")
                assert bob.rest() == []
            finally:
                bob.close()
    finally:
        server.stop()


def test_pings_before_the_welcome_and_past_the_flood_limit(room):
    """Liveness: a ping is a known type (hello-first before the welcome) and flood control counts
    it as it counts who (Abuse limits): past the burst it is refused, quoted."""
    early, again = DocClient(room), DocClient(room)
    try:
        early.send(type="ping")
        assert early.recv()["code"] == "hello-first"
        welcome = early.join("t16ann")
        assert welcome["ping"] is True
        for _ in range(10):
            early.send(type="who")
        early.send(type="ping")
        refusal, seen = early.until("error")
        assert _kinds(seen) == ["roster"] * 10 + ["error"]
        assert (refusal["code"], refusal["refused"]) == ("slow-down", '{"type":"ping"}')
        assert isinstance(refusal["retry_after"], float) and 0 < refusal["retry_after"] <= 1  # a token: a third of a second
        assert "pong" not in _kinds(early.quiet())
        back = again.join("t16ann", resume=welcome["resume"])  # the bucket is the person's (Abuse limits)
        assert 0 <= back["flood_tokens"] < 10, back
    finally:
        early.close()
        again.close()


def test_an_operator_mutes_and_bans_and_a_turn_based_room_keeps_words_to_the_holder():
    """Section 7 and Moderation: out of turn a nick, a topic and an offer to the room are refused
    and an away reason reaches the others as "away"; a mute holds across a rejoin (its welcome
    says so), shows in the roster, lets a whisper to an operator through and keeps typing hints
    in; a banned key's hello is refused and the operator is told."""
    server, port, _ = serve("--operator", "t17op", "--mode", "turn")
    op, bob, cy, cy_again, bob_again = (DocClient(port) for _ in range(5))
    cy_key = Ed25519PrivateKey.generate()
    bob_key = Ed25519PrivateKey.generate()
    try:
        assert op.join("t17op", Ed25519PrivateKey.generate())["turn"] == "t17op"
        bob.join("t17bob", bob_key)
        cy.join("t17cy", cy_key)
        bob.until("joined", name="t17cy")
        cy.until("operators")  # the last of what a newcomer receives here (section 4)
        cy.send(type="nick", name="t17cyan")
        cy.send(type="topic", text="the answer is 42")
        cy.send(type="offer", ref=3, name="42.txt", size=2)
        answers = [(f["type"], f.get("code") or f.get("ref")) for f in (cy.recv(), cy.recv(), cy.recv())]
        assert answers == [("error", "not-operator"), ("error", "not-operator"), ("file-error", 3)]
        cy.send(type="away", reason="the answer is 42")
        assert cy.until("away-status")[0]["reason"] == "the answer is 42"
        assert bob.until("away-status", name="t17cy")[0]["reason"] == "away"
        op.send(type="moderate", action="mute", name="t17cy", minutes=5, reason="noise")
        muted = bob.until("moderated")[0]
        assert (muted["action"], muted["by"], muted["name"], muted["minutes"], muted["reason"]) == ("mute", "t17op", "t17cy", 5, "noise")
        cy.send(type="say", text="x")
        assert cy.until("error")[0]["code"] == "muted"
        cy.send(type="typing")  # silent: no error, no hint
        cy.send(type="whisper", to="t17op", text="why?")  # to an operator: let through
        assert op.until("direct")[0]["text"] == "why?"
        bob.send(type="who")
        roster, seen = bob.until("roster")
        assert (roster["muted"], roster["muted_minutes"]) == (["t17cy"], [5]) and "typing-hint" not in _kinds(seen)
        assert cy_again.hello("t17cyan", cy_key)["code"] == "muted"  # the muted key under another name
        welcome = cy_again.join("t17cy", cy_key)  # and under its own: in, and told
        assert welcome["muted"] == 5 and 290 <= welcome["muted_seconds"] <= 300
        assert cy.rest()[-1]["code"] == "taken-over"
        op.send(type="moderate", action="ban", name="t17bob", reason="spam")
        assert bob.rest()[-1]["code"] == "banned"
        assert (op.until("left", name="t17bob")[0]["reason"]) == "banned"
        refused = bob_again.hello("t17bobby", bob_key)  # the key, under another name
        assert (refused["code"], refused["fatal"]) == ("banned", True)
        told = op.until("refused")[0]
        assert (told["name"], told["code"], told["by"], told["reason"], told["of"]) == ("t17bobby", "banned", "t17op", "spam", "t17bob")
        assert told["holds"] == "t17bob's key" and "admit" not in told  # what the ban holds besides the name
    finally:
        for client in (op, bob, cy, cy_again, bob_again):
            client.close()
        server.stop()


def test_a_download_goes_on_from_an_offset_only_for_the_same_file(room):
    """Resuming a download: a get with offset and the file's sha256 starts there (file-start says
    the offset; size is the whole file's); a wrong sha256 or an offset past the end gets the whole
    file, without offset; an offset at the end gets a file-start and no bytes."""
    ann, bob = DocClient(room), DocClient(room)
    try:
        ann.join("t18ann")
        bob.join("t18bob")
        content = os.urandom(200_000)
        digest = hashlib.sha256(content).hexdigest()
        file_id = _offer(ann, "set.bin", content, binary=True)
        bob.until("offered", id=file_id)
        for req, offset, sha256, starts in ((1, 70_000, digest, 70_000), (2, 70_000, "0" * 64, None), (3, 300_000, digest, None)):
            bob.send(type="get", id=file_id, binary=True, offset=offset, sha256=sha256, req=req)
            start, _ = bob.until("file-start", req=req)
            assert (start.get("offset"), start["size"]) == (starts, len(content)), start
            data = b""
            while len(data) < len(content) - (starts or 0):
                data += bob.recv()["data"]  # type: ignore[operator]
            assert data == content[starts or 0 :]
        bob.send(type="get", id=file_id, binary=True, offset=len(content), sha256=digest.upper(), req=4)
        start, _ = bob.until("file-start", req=4)
        assert start["offset"] == len(content)  # capitals are the same digest; nothing follows
        bob.send(type="who")
        assert _kinds(bob.until("roster")[1]) == ["roster"]
    finally:
        ann.close()
        bob.close()


def test_uploads_refused_and_private_offers_kept_private(room):
    """File transfer: an offer over --max-file-mb is refused by its ref before any byte moves; a
    chunk over 32 KiB and a checksum that does not match stop the upload, never offered; a private
    offer reaches its recipient and sender only, and its id is unknown to anyone else."""
    ann, bob, cy = DocClient(room), DocClient(room), DocClient(room)
    try:
        for client, name in ((ann, "t26ann"), (bob, "t26bob"), (cy, "t26cy")):
            client.join(name)
        ann.send(type="offer", ref=1, name="huge.iso", size=51 * 1024 * 1024)
        refused = ann.until("file-error")[0]
        assert (refused["ref"], refused.get("id")) == (1, None) and "up to 50.0 MiB" in str(refused["message"])
        ann.send(type="offer", ref=2, name="big.bin", size=40_000)
        file_id = ann.until("upload-ready", ref=2)[0]["id"]
        ann.send(type="chunk", id=file_id, data=base64.b64encode(b"x" * 32769).decode("ascii"))
        assert ann.until("file-error")[0]["id"] == file_id
        ann.send(type="offer", ref=3, name="wrong.txt", size=3)
        file_id = ann.until("upload-ready", ref=3)[0]["id"]
        ann.send(type="chunk", id=file_id, data="Zm9v")
        ann.send(type="upload-done", id=file_id, sha256="0" * 64)
        assert ann.until("file-error")[0]["id"] == file_id
        ann.send(type="offer", ref=4, name="for-bob.txt", size=3, to="T26BOB")
        file_id = ann.until("upload-ready", ref=4)[0]["id"]
        ann.send(type="cancel", id=file_id, req=1)  # Request ids: a cancel with a req is about a download only
        ann.send(type="chunk", id=file_id, data="Zm9v")
        ann.send(type="upload-done", id=file_id, sha256=hashlib.sha256(b"foo").hexdigest().upper())
        for side in (ann, bob):
            offered = side.until("offered", id=file_id)[0]
            assert (offered["to"], offered["from"], offered["sha256"]) == ("t26bob", "t26ann", hashlib.sha256(b"foo").hexdigest())
        assert [f for f in cy.quiet() if f["type"] == "offered"] == []  # nothing of the three reached cy
        cy.send(type="get", id=file_id)
        assert "no file" in str(cy.until("file-error", id=file_id)[0]["message"])  # unknown to others
        assert _download(bob, file_id)[1] == b"foo"
    finally:
        for client in (ann, bob, cy):
            client.close()


def test_nick_away_and_whois_as_the_room_reads_them(room):
    """What IRC users reach for: a nick is renamed for everyone; the first whisper to someone away
    is answered to its sender alone with the away note (answer), once; whois says who is here."""
    ann, bob = DocClient(room), DocClient(room)
    try:
        ann.join("t19ann", Ed25519PrivateKey.generate())
        bob.join("t19bob")
        ann.until("joined", name="t19bob")
        bob.send(type="nick", name="t19bobby")
        for side in (ann, bob):
            renamed = side.until("renamed")[0]
            assert (renamed["old"], renamed["new"]) == ("t19bob", "t19bobby")
        assert _answer(bob, type="nick", name="t19bobby")["type"] == "(nothing)"  # the name it has
        assert _answer(bob, type="nick", name="T19ANN")["code"] == "name-taken"
        ann.send(type="away", reason="at   lunch")
        assert bob.until("away-status")[0]["reason"] == "at lunch"  # white space collapsed
        for _ in range(2):
            bob.send(type="whisper", to="t19ann", text="there?")
        _, seen = bob.until("direct")
        _, seen = bob.until("direct")
        answers = [f for f in seen + bob.quiet() if f["type"] == "away-status"]
        assert [(f["name"], f["reason"], f["answer"]) for f in answers] == [("t19ann", "at lunch", True)]  # once
        assert [f for f in ann.quiet() if f.get("answer")] == []  # to the sender alone
        ann.send(type="away")  # back
        assert bob.until("away-status")[0]["reason"] == ""
        ann.send(type="whois", name="t19bobby")
        reply = ann.until("whois-reply")[0]
        assert (reply["name"], reply["fingerprint"], reply["here"], reply.get("host")) == ("t19bobby", None, True, None)
        bob.send(type="bye")
        ann.until("left", name="t19bobby")
        ann.send(type="whois", name="T19BOBBY")
        assert ann.until("whois-reply")[0].get("here", False) is False  # seen, not here
        assert _answer(ann, type="release", name="t19ann")["code"] == "not-host"  # headless: nobody is
        guest = DocClient(room)
        try:  # section 4's order: taken while here; then, gone, still owned by its key
            assert guest.hello("t19ann")["code"] == "name-taken"
            ann.send(type="bye")
            assert ann.rest() == []
            refused = guest.hello("t19ann")
            assert (refused["code"], refused["fatal"]) == ("name-owned", False)
        finally:
            guest.close()
    finally:
        ann.close()
        bob.close()


def test_a_room_with_a_host_names_it_refuses_past_max_clients_and_ends_for_good_with_its_q():
    """A server with a host (serve --plain --name): every welcome names the host, whois says so,
    its name cannot be taken over, --max-clients turns the next away (room-full, fatal), and the
    host's /q is a final shutdown. Without history: no replay, a `history` is refused."""
    host = Proc("serve", "--plain", "--name", "t20hal", "--no-announce", "--host", "127.0.0.1", "--port", "0", "--max-clients", "1", "--no-history")
    try:
        port = int(host.expect(r"listening on port (\d+)", timeout=30).group(1))
        ann, bob = DocClient(port), DocClient(port)
        try:
            welcome = ann.join("t20ann")
            assert welcome["host"] == "t20hal" and welcome["members"] == ["t20hal", "t20ann"]
            assert "keeps_history" not in welcome and "replay" not in welcome  # --no-history: no history-end either
            assert _answer(ann, type="history")["code"] == "history"
            assert _answer(ann, type="whisper", to="t20gone", text="hi")["code"] == "no-such-user"
            ann.send(type="whois", name="t20hal")
            reply = ann.until("whois-reply")[0]
            assert (reply["here"], reply["host"]) == (True, True)
            assert bob.hello("T20HAL")["code"] == "name-taken"  # the host's session is never taken over
            full = bob.hello("t20bob")
            assert (full["code"], full["fatal"]) == ("room-full", True)
            host.expect(r"t20bob")  # told to the host (refused)
            host.send("/q!\n")
            notice, _ = ann.until("shutdown")
            assert (notice["reason"], notice["final"]) == ("the host closed the chat", True)
            assert ann.rest() == []
            assert host.wait() == 0
        finally:
            ann.close()
            bob.close()
    finally:
        host.stop()


def test_the_colour_bot_is_flagged_talks_in_whispers_and_a_once_server_ends_with_the_last_person():
    """The colour bot: welcome and roster flag it (bots), once says --once; alone with it, a
    plain line is the mood and the answers are whispers with a Computer Hope link; Y ends it and
    the --once server shuts down when the last person leaves."""
    server, port, _ = serve("--bot", "colour", "--bot-seed", "7", "--once")
    server.expect(r"colourbot joined")  # (a join before it waits for it: test_bot_flag)
    ann = DocClient(port)
    try:
        welcome = ann.join("t21ann")
        assert (welcome["once"], welcome["bots"], welcome["members"]) == (True, ["colourbot"], ["colourbot", "t21ann"])
        _, greeting = ann.until("direct", **{"from": "colourbot"}, text="What mood are you in?")
        assert {(f["type"], f["to"]) for f in greeting} == {("direct", "t21ann")}  # whispers only
        ann.send(type="who")
        assert ann.until("roster")[0]["bots"] == ["colourbot"]
        ann.send(type="say", text="cheerful")
        suggestion, _ = ann.until("direct", **{"from": "colourbot"})
        assert re.search(r"#[0-9A-F]{6}: https://www\.computerhope\.com/cgi-bin/htmlcolor\.pl\?c=[0-9A-F]{6}", str(suggestion["text"]))
        assert ann.until("direct", **{"from": "colourbot"})[0]["text"] == "Happy with it? (Y/N)"
        ann.send(type="whisper", to="colourbot", text="Y")
        closing = ""
        while not closing.startswith("Great choice"):
            closing = str(ann.until("direct", **{"from": "colourbot"})[0]["text"])
        assert closing.endswith("Goodbye.")  # the --once wording
        ann.send(type="bye")
        assert ann.rest() == []
        assert server.wait() == 0  # --once: the last person left
    finally:
        ann.close()
        server.stop()


def test_restrict_turns_off_students_whispers_and_files_but_not_the_operators():
    """Moderation: restrict. An operator's `moderate` `restrict` with `kinds`: everyone's `notice`
    (code `restricted`); a whisper between students is refused with `restricted`, one to the
    operator goes; a student's `offer` gets `file-error` with code `restricted`; a student's own
    `restrict` is `not-operator`; a newcomer is told; `unrestrict` lifts it."""
    server, port, _ = serve("--operator", "t18op")
    op, ann, bob, cat = (DocClient(port) for _ in range(4))
    try:
        op.join("t18op", Ed25519PrivateKey.generate())
        ann.join("t18ann")
        bob.join("t18bob")
        op.send(type="moderate", action="restrict", kinds=["dm", "files"])
        for person in (op, ann, bob):
            assert "turned off direct messages between students" in str(person.until("notice", code="restricted")[0]["message"])
        ann.send(type="whisper", to="t18bob", text="42")
        assert ann.until("error")[0]["code"] == "restricted"
        ann.send(type="whisper", to="t18op", text="may I?")
        assert op.until("direct")[0]["text"] == "may I?"
        ann.send(type="offer", ref=5, name="a.txt", size=2)
        refused = ann.until("file-error")[0]
        assert (refused["ref"], refused["code"]) == (5, "restricted")
        bob.send(type="moderate", action="unrestrict", kinds=["dm"])
        assert bob.until("error")[0]["code"] == "not-operator"
        before_replay = cat.join("t18cat")["replay"]  # after the welcome, with the topic and who is away
        assert [f["code"] for f in before_replay if f["type"] == "notice"] == ["restricted"]  # type: ignore[union-attr]
        op.send(type="moderate", action="unrestrict", kinds=["dm"])
        bob.until("notice", code="restricted")
        ann.send(type="whisper", to="t18bob", text="lunch?")
        assert bob.until("direct")[0]["text"] == "lunch?"
    finally:
        for client in (op, ann, bob, cat):
            client.close()
        server.stop()


def test_moderation_acts_and_refusals_as_the_document_lists_them():
    """Moderation: kick (fatal kicked, the act then left), ban and ban-list, unban by #ID, a
    mute replaced (was_until), op and deop (operators), and the refusals section 6 lists."""
    server, port, _ = serve("--operator", "t22op")
    op, bob, cy, dan, dan_again = (DocClient(port) for _ in range(5))
    bob_key, dan_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    try:
        op.join("t22op", Ed25519PrivateKey.generate())
        bob.join("t22bob", bob_key)
        cy.join("t22cy")
        dan.join("t22dan", dan_key)
        op.until("joined", name="t22dan")
        bob.until("joined", name="t22dan")
        assert _answer(bob, type="moderate", action="kick", name="t22cy")["code"] == "not-operator"
        refusals = [
            ({"action": "kick", "name": "t22op"}, "bad-message"),  # oneself
            ({"action": "mute", "name": "t22cy", "minutes": 0}, "bad-message"),
            ({"action": "mute", "name": "t22cy", "minutes": 10_081}, "bad-message"),
            ({"action": "dance", "name": "t22cy"}, "bad-message"),
            ({"action": "pass"}, "bad-message"),  # a duplex room
            ({"action": "mode", "mode": "duplex"}, "bad-message"),  # the room's mode already
            ({"action": "kick", "name": "t22nobody"}, "no-such-user"),
            ({"action": "kick", "name": "t22cy", "reason": "r" * 201}, "too-long"),
        ]
        for fields, code in refusals:
            assert _answer(op, type="moderate", **fields).get("code") == code, fields
        op.send(type="moderate", action="mute", name="t22cy", minutes=5)
        op.until("moderated", action="mute")
        op.send(type="moderate", action="mute", name="t22cy", minutes=10)
        again = op.until("moderated", action="mute", minutes=10)[0]
        assert 0 < float(again["was_until"]) - float(again["time"]) <= 300  # the mute it replaced
        op.send(type="moderate", action="kick", name="t22cy", reason="spam")
        kicked = cy.rest()[-1]
        assert (kicked["code"], kicked["fatal"]) == ("kicked", True)
        _, seen = op.until("left", name="t22cy")
        assert [(f["type"], f.get("action") or f.get("reason")) for f in seen[-2:]] == [("moderated", "kick"), ("left", "kicked")]
        op.send(type="moderate", action="ban", name="t22dan")
        assert dan.rest()[-1]["code"] == "banned"
        op.send(type="moderate", action="bans")
        bans = op.until("ban-list")[0]["bans"]
        assert len(bans) == 1 and bans[0].startswith("#1 t22dan (by name and key")  # type: ignore[index]
        op.send(type="moderate", action="unban", name="#1")
        assert op.until("moderated", action="unban")[0]["name"] == "t22dan"
        assert dan_again.join("t22dan", dan_key)["name"] == "t22dan"  # the ban is lifted
        op.send(type="moderate", action="op", name="t22bob")
        assert op.until("operators")[0]["names"] == ["t22op", "t22bob"]
        op.send(type="moderate", action="deop", name="t22bob")
        bob.until("moderated", action="deop")
        assert bob.until("operators")[0]["names"] == ["t22op"]  # after every change
    finally:
        for client in (op, bob, cy, dan, dan_again):
            client.close()
        server.stop()


def test_the_door_bad_keys_locks_too_many_connections_deadlines_and_a_browser(tmp_path):
    """What the handshake refuses, fatally: a key that is not 32 bytes (bad-key); a key after
    three wrong passwords within a minute (locked, without a challenge); connection 257 from this
    machine (too-many-connections); a frame begun and never finished (deadline); and a browser,
    answered with a plain HTTP 400 page (not-lanchat)."""
    env = child_env(LANCHAT_PASSWORD="tea pot")
    server, port, _ = serve("--password", env=env)
    try:
        bad = DocClient(port)
        try:
            bad.send(type="hello", name="t23bad", version=2, key="AAAA")
            assert [(f["code"], f["fatal"]) for f in bad.rest()] == [("bad-key", True)]
        finally:
            bad.close()
        key = Ed25519PrivateKey.generate()
        for attempt in range(4):
            guess = DocClient(port)
            try:
                answer = guess.hello("t23guess", key, "coffee")
                assert (answer["code"], answer["fatal"]) == (("password", True) if attempt < 3 else ("locked", True))
            finally:
                guess.close()
        assert "try again in" in str(answer["message"])
        slow = DocClient(port)
        crowd: list[socket.socket] = []
        try:
            slow.send_raw(b"\x00\x00")  # half a header: its frame's 10 s start now
            crowd = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(300)]
            over = 300 + 1 - 256  # this machine: 256 at once (Abuse limits, Connections)
            refused: set[socket.socket] = set()
            deadline = time.monotonic() + TIMEOUT
            while len(refused) < over and time.monotonic() < deadline:  # the refused get a frame; the rest nothing
                refused |= set(select.select([c for c in crowd if c not in refused], [], [], 0.2)[0])
            assert len(refused) == over and not select.select([c for c in crowd if c not in refused], [], [], 0.3)[0]
            told = DocClient(sock=refused.pop()).rest()
            assert [(f["code"], f["fatal"]) for f in told] == [("too-many-connections", True)]
            for connection in crowd:
                connection.close()
            crowd = []
            cut = slow.recv(timeout=2 * TIMEOUT)
            assert (cut["code"], cut["fatal"], slow.rest()) == ("deadline", True, [])
        finally:
            for sock in crowd:
                sock.close()
            slow.close()
        browser = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        try:
            browser.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            page = b""
            while chunk := browser.recv(65536):
                page += chunk
            assert page.startswith(b"HTTP/1.0 400 Bad Request") and f"connect 127.0.0.1 {port}".encode() in page
        finally:
            browser.close()
    finally:
        server.stop()


def test_the_handshake_checks_a_name_a_ban_a_mute_and_the_room_in_the_documented_order():
    """Section 4, step 4: bad-name, name-taken, name-owned, banned, muted, room-full; and step 5:
    after a refusal that is not fatal (muted among them) the same connection tries again."""
    server, port, _ = serve("--operator", "t25op", "--max-clients", "2")
    op, bob, cy, tries = (DocClient(port) for _ in range(4))
    cy_key = Ed25519PrivateKey.generate()
    try:
        op.join("t25op", Ed25519PrivateKey.generate())
        bob.join("t25bob", Ed25519PrivateKey.generate())  # his key owns the name
        bob.send(type="bye")
        op.until("left", name="t25bob")
        cy.join("t25cy", cy_key)  # the room is full now: two people
        op.send(type="moderate", action="ban", name="t25eve")  # a name nobody here has
        op.until("moderated", action="ban")
        op.send(type="moderate", action="mute", name="t25cy")
        op.until("moderated", action="mute")
        answers = [tries.hello(name, cy_key)["code"] for name in ("t25!", "T25OP", "t25bob", "t25cyan")]
        assert answers == ["bad-name", "name-taken", "name-owned", "muted"]  # each before room-full
        for name, code in (("t25eve", "banned"), ("t25zed", "room-full")):
            fresh = DocClient(port)
            try:
                refused = fresh.hello(name)
                assert (refused["code"], refused["fatal"], fresh.rest()) == (code, True, [])
            finally:
                fresh.close()
    finally:
        for client in (op, bob, cy, tries):
            client.close()
        server.stop()


def _code_of(key: Ed25519PrivateKey) -> str:
    """Identity, Fingerprints: the first 16 hex digits of SHA-256 of the public key, in fours."""
    digest = hashlib.sha256(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, 16, 4))


def test_a_ban_behind_a_shared_address_turns_a_new_key_away_with_its_code_until_admit():
    """Moderation, ban: behind one address (a network namespace of the test's own, as a school's
    NAT) where a classmate joined with a key of her own, a ban holds newcomers; a latecomer's new
    key is refused with its code, the operator's `refused` carries `admit` and `admit_code`, and
    `admit` lets exactly that key in."""
    keys = {name: Ed25519PrivateKey.generate() for name in ("t24cy", "t24mal", "t24dee")}
    with network_namespace_or_skip() as (namespace, our_address, _their_address, _link):
        server, port, _ = serve("--operator", "t24op", host=our_address)
        op = DocClient(sock=socket.create_connection((our_address, port), timeout=TIMEOUT))
        cy, mal, dee, dee_again = (DocClient(sock=sock) for sock in _from_the_nat(namespace, our_address, port, 4))
        try:
            op.join("t24op", Ed25519PrivateKey.generate())
            cy.join("t24cy", keys["t24cy"])
            mal.join("t24mal", keys["t24mal"])
            op.until("joined", name="t24mal")
            op.send(type="moderate", action="ban", name="t24mal", reason="spam")
            assert mal.rest()[-1]["code"] == "banned"
            refused = dee.hello("t24dee", keys["t24dee"])
            assert (refused["code"], refused["fatal"]) == ("banned", True)
            assert f"(/admit t24dee), then join again; your code, if asked: {_code_of(keys['t24dee'])}" in str(refused["message"])
            told = op.until("refused")[0]
            assert (told["name"], told["of"], told["admit"], told["admit_code"]) == ("t24dee", "t24mal", "t24dee", _code_of(keys["t24dee"]))
            assert "address" in str(told["holds"])
            op.send(type="moderate", action="admit", name="t24dee")
            answer = op.until("notice")[0]
            assert _code_of(keys["t24dee"]) in str(answer["message"])
            assert dee_again.join("t24dee", keys["t24dee"])["name"] == "t24dee"
        finally:
            for client in (op, cy, mal, dee, dee_again):
                client.close()
            server.stop()


# What no client of a real `serve` can be sent or send, and why (the coverage check below).
def test_the_eleventh_name_made_its_own_from_one_place_within_the_hour_is_told_it_is_not_kept():
    """Identity, names: a place (here this machine's account) makes at most ten names its own an
    hour; an eleventh key's name is used, not kept, and its welcome is followed by a ``notice``
    with code ``name-unowned`` saying so (the ten before it get none)."""
    server, port, _ = serve()
    clients: list[DocClient] = []
    try:
        for n in range(11):
            client = DocClient(port)
            clients.append(client)
            got = client.join_and_ping(f"owner{n}", Ed25519PrivateKey.generate())
            told = [f for f in got if f["type"] == "notice" and f.get("code") == "name-unowned"]
            assert len(told) == (1 if n == 10 else 0), got
        assert "owner10" in str(told[0]["message"]) and "not kept for you" in str(told[0]["message"]), told
    finally:
        for client in clients:
            client.close()
        server.stop()


BEYOND_A_CLIENT = {
    "released": "only the host may `release`, and lanchat's host runs inside `serve`: its screen shows the answer",
    "released.owned": "as `released`",
    "joined.bot": "the server's bots join as it starts, before any client is there to be told",
    "not-lanchat": "not a frame: the HTTP 400 page a browser gets (test_the_door_...)",
}


def test_every_type_field_and_error_code_of_the_document_is_exercised_from_outside():
    """Every message type, field and error code docs/PROTOCOL.md names is spoken or read by a
    client written from the document (this file, test_protocol_outsider.py) against a real server,
    or is in BEYOND_A_CLIENT with the reason: a feature documented later without such a test fails
    here. (A name counts as used when the test source quotes it, or passes it as a keyword.)"""
    here = os.path.dirname(os.path.abspath(__file__))
    doc = open(os.path.join(here, os.pardir, "docs", "PROTOCOL.md"), encoding="utf-8").read()
    source = "".join(open(os.path.join(here, name), encoding="utf-8").read() for name in (os.path.basename(__file__), "test_protocol_outsider.py"))
    named: set[str] = set()
    heading = None
    for line in doc.splitlines():
        if line.startswith("#"):
            spans = re.findall(r"`([^`]+)`", line)
            heading = spans[0] if spans else None
        elif (row := re.match(r"\| `([a-z_]+)` \| (?:string|integer|number|boolean|list)", line)) and heading:
            named.add(heading if row.group(1) == "type" else f"{heading}.{row.group(1)}")
        elif code := re.match(r"\| `([a-z-]+)` \| `E_[A-Z_]+` \|", line):
            named.add(code.group(1))
    assert len(named) > 150, "the document's tables were not read"
    unused = sorted(n for n in named - set(BEYOND_A_CLIENT) if f'"{n.rpartition(".")[2]}"' not in source and f"{n.rpartition('.')[2]}=" not in source)
    assert not unused, f"documented but never exercised against a real server: {unused}"
    assert set(BEYOND_A_CLIENT) <= named, "BEYOND_A_CLIENT names something the document no longer has"


# -- part 2: hostile but legal --------------------------------------------------------------


@pytest.fixture(scope="module")
def open_room() -> Iterator[int]:
    """A headless room with ``--no-limits``: the tests of limits below send many frames each."""
    server, port, _ = serve("--no-limits")
    try:
        yield port
    finally:
        server.stop()


def _answer(client: DocClient, handshake: bool = False, **obj: object) -> dict[str, object]:
    """Send one frame and read the one answer it gets (a ``who`` behind it marks its end;
    before the welcome, where a ``who`` is refused too, the one frame that answers it)."""
    client.send(**obj)
    if handshake:
        return client.recv()
    client.send(type="who")
    _, seen = client.until("roster")
    answers = seen[:-1]
    assert len(answers) <= 1, answers
    return answers[0] if answers else {"type": "(nothing)"}


def _answer_raw(client: DocClient, data: bytes, handshake: bool = False) -> dict[str, object]:
    client.send_raw(data)
    if handshake:
        return client.recv()
    client.send(type="who")
    _, seen = client.until("roster")
    assert len(seen) <= 2, seen
    return seen[0] if len(seen) == 2 else {"type": "(nothing)"}


def _raw(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def test_names_and_texts_at_their_limits(open_room):
    ann, bob = DocClient(open_room), DocClient(open_room)
    try:
        longest = "\U0001f600" * 31 + "a"  # 32 characters, 125 bytes of UTF-8
        assert ann.hello("\U0001f600" * 32 + "a")["code"] == "bad-name"  # 33
        ann.join(longest)
        bob.join("h1bob")
        ann.until("joined")
        text = "\U0001f600" * 4000  # characters, not bytes: 16,000 bytes
        ann.send(type="say", text=text)
        assert bob.until("message", text=text)[0]["from"] == longest
        ann.until("message")
        assert _answer(ann, type="say", text=text + "a")["code"] == "too-long"
        ann.send(type="whisper", to="h1BOB", text=text)
        assert bob.until("direct", text=text)[0]["to"] == "h1bob"
        ann.until("direct")
        assert _answer(ann, type="me", text=text + "a")["code"] == "too-long"
        topic = " ".join(["ab"] * 67)[:200]  # 200 characters once white space is collapsed
        ann.send(type="topic", text=topic.replace(" ", " \t\n "))
        assert bob.until("room-topic")[0]["text"] == topic
        ann.until("room-topic")
        assert _answer(ann, type="topic", text=topic + "x")["code"] == "too-long"
        ann.send(type="away", reason="r" * 250)  # cut, not refused
        assert bob.until("away-status")[0]["reason"] == "r" * 200
        ann.until("away-status")
        ann.send(type="history", limit=1000, before=None)
        assert ann.until("history-end")[0]["more"] is False
        for limit in (1001, 0, 5.0, -1):
            assert _answer(ann, type="history", limit=limit)["code"] == "bad-message", limit
        assert _answer(ann, type="history", before=0)["code"] == "bad-message"  # a cursor is 1 or more
        assert _answer(ann, type="nick", name=longest)["type"] == "(nothing)"  # the name it has
    finally:
        ann.close()
        bob.close()


def test_a_frame_of_exactly_64_kib_is_taken_and_one_byte_more_ends_the_connection(open_room):
    ann = DocClient(open_room)
    try:
        ann.join("h2ann")
        head = b'{"type":"say","text":"full frame","pad":"'
        payload = head + b"x" * (MAX_FRAME - len(head) - 2) + b'"}'
        assert len(payload) == MAX_FRAME
        ann.send_raw(_raw(payload))  # an unknown field: ignored (read by the slower path)
        assert ann.until("message")[0]["text"] == "full frame"
        ann.send_raw(struct.pack(">I", MAX_FRAME + 1))
        last = ann.rest()
        assert [(f["type"], f["code"], f["fatal"]) for f in last] == [("error", "bad-frame", True)]
    finally:
        ann.close()


def test_json_as_rfc_8259_allows_it_and_numbers_out_of_range(open_room):
    ann = DocClient(open_room)
    try:
        ann.join("h3ann")
        spaced = b' \t\r\n{ "text" : "\\u0073paced" ,\n "type":"say", "type" : "say" }'
        ann.send_raw(_raw(spaced))
        assert ann.until("message")[0]["text"] == "spaced"
        ann.send_raw(_raw(b'{"type":"say","text":"dup","text":"last wins"}'))
        assert ann.until("message")[0]["text"] == "last wins"
        ann.send_raw(_raw(b'{"type":"say","text":"long int","x":' + b"9" * 4300 + b"}"))
        assert ann.until("message")[0]["text"] == "long int"
        ann.send(type="say", text="a time nobody reads", time=-1)  # an unknown field: not checked
        assert ann.until("message")[0]["text"] == "a time nobody reads"
        cases = {
            b'{"type":"say","text":"x","x":' + b"9" * 4301 + b"}": "bad-json",
            b'{"type":"say","text":"x","x":NaN}': "out-of-range",
            b'{"type":"say","text":"x","x":-Infinity}': "out-of-range",
            b'{"type":"say","text":"x","x":1e400}': "out-of-range",
            b'{"type":"history","limit":9223372036854775808}': "out-of-range",
            b'{"type":"say","text":"\\ud800"}': "bad-message",
            b'{"type":"say","text":"x","x":"\\udc00"}': "bad-message",
            b"[" * 100_00 + b"]" * 100_00: "bad-json",
            b"": "bad-json",
            b"\xff\xfe": "bad-json",
            b'"say"': "bad-message",
            b'{"type":7}': "bad-message",
            b'{"type":"say"}': "bad-message",
            b'{"type":"say","text":5}': "bad-message",
        }
        for payload, code in cases.items():
            answer = _answer_raw(ann, _raw(payload[:MAX_FRAME]))
            assert answer.get("code") == code and not answer.get("fatal"), (payload[:60], answer)
    finally:
        ann.close()


def test_unknown_fields_types_and_frames_out_of_order(open_room):
    ann = DocClient(open_room)
    try:
        early = True
        assert _answer(ann, early, type="say", text="too soon")["code"] == "hello-first"
        assert _answer(ann, early, type="dance")["code"] == "unknown-type"
        forged = {"type": "message", "from": "x", "text": "forged", "time": 1.0}  # a type only servers send
        assert _answer(ann, early, **forged)["code"] == "unknown-type"
        assert _answer_raw(ann, binary_frame("7", b"data"), early)["code"] == "hello-first"
        assert _answer_raw(ann, _raw(b"\x00\x00x"), early)["code"] == "bad-message"  # n = 0
        assert _answer(ann, early, type="auth", signature="AAAA")["code"] == "bad-message"  # no challenge
        # pipelined: a hello with unknown fields, and a say behind it in the same write
        hello = frame({"type": "hello", "name": "h4ann", "version": 2, "colour": "red", "extra": [1, {}]})
        ann.send_raw(hello + frame({"type": "say", "text": "pipelined", "mood": None}))
        assert ann.until("welcome")[0]["name"] == "h4ann"
        ann.until("message", text="pipelined")
        assert _answer(ann, type="hello", name="h4ann", version=2)["code"] == "bad-message"
        assert _answer(ann, type="auth", signature="AAAA")["code"] == "bad-message"
        assert _answer(ann, type="dance", text="x")["code"] == "unknown-type"
        assert _answer_raw(ann, binary_frame("no-such-upload", b"data"))["type"] == "(nothing)"  # ignored
        assert _answer_raw(ann, binary_frame("x" * 64, b"data"))["type"] == "(nothing)"
        assert _answer_raw(ann, _raw(b"\x00\x41" + b"x" * 65 + b"data"))["code"] == "bad-message"  # n = 65
        assert _answer_raw(ann, _raw(b"\x00\x02\xff\xfedata"))["code"] == "bad-message"  # id not UTF-8
        assert _answer(ann, type="cancel", id="424242")["type"] == "(nothing)"  # never answered
        refused = _answer(ann, type="whisper", to="H4ANN", text="to myself")  # 3.1.3: to oneself, any case
        assert (refused["code"], refused["message"]) == ("no-such-user", "that is you: a whisper goes to someone else")
        assert [f for f in ann.quiet() if f["type"] == "direct"] == []
    finally:
        ann.close()


def test_pipelining_behind_a_keys_auth_and_the_answers_a_leaver_still_gets(open_room):
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")
    ann = DocClient(open_room)
    try:  # section 4: a frame right behind a keyed hello is too early; one behind the auth is not
        ann.send_raw(frame({"type": "hello", "name": "h6ann", "version": 2, "key": public}) + frame({"type": "who"}))
        challenge = ann.recv()
        assert challenge["type"] == "challenge" and ann.recv()["code"] == "hello-first"
        signed = key.sign(b"lanchat identity v2\x00" + base64.b64decode(str(challenge["nonce"])))
        auth = frame({"type": "auth", "signature": base64.b64encode(signed).decode("ascii")})
        ann.send_raw(auth + frame({"type": "say", "text": "behind the auth"}))
        assert ann.until("welcome")[0]["name"] == "h6ann"
        ann.until("message", text="behind the auth")
        # leaving: the answers to the frames before the bye come, nothing after it is read
        last = [{"type": "who"}, {"type": "say", "text": "last words"}, {"type": "bye"}, {"type": "who"}]
        ann.send_raw(b"".join(frame(obj) for obj in last))
        assert [(f["type"], f.get("text")) for f in ann.rest()] == [("roster", None), ("message", "last words")]
    finally:
        ann.close()


def test_versions_and_leaving_before_the_welcome(open_room):
    old = DocClient(open_room)
    try:
        assert old.hello("h5old", version=1)["type"] == "welcome"
    finally:
        old.close()
    future = DocClient(open_room)
    try:
        refused = future.hello("h5new", version=3)
        assert refused["code"] == "version" and refused["fatal"] is True
        assert future.rest() == []
    finally:
        future.close()
    shy = DocClient(open_room)
    try:
        shy.send(type="bye")
        assert shy.rest() == []
    finally:
        shy.close()


def test_past_500_offers_a_newcomer_and_a_listing_get_the_newest_500_and_the_rest_counted(open_room):
    """File transfer: a newcomer is sent the newest 500 offers (files.MAX_LISTED) after its replay,
    and `files` lists as many, counting the older ones in `unlisted`: 11 people, 46 empty files each
    (50 at once is a person's most; 4 uploads under way)."""
    people = [DocClient(open_room) for _ in range(11)]
    late = DocClient(open_room)
    empty = hashlib.sha256(b"").hexdigest()
    try:
        for n, person in enumerate(people):
            person.join(f"h7p{n}")
        ids: list[int] = []
        for ref in range(46):
            for person in people:
                person.send(type="offer", ref=ref, name=f"f{ref}.txt", size=0)
            for person in people:
                ready, _ = person.until("upload-ready", ref=ref)
                ids.append(int(str(ready["id"])))
                person.send(type="upload-done", id=ready["id"], sha256=empty)
        people[0].until("offered", id=str(max(ids)))
        got = late.join_and_ping("h7late")
        offered = [int(str(f["id"])) for f in got if f["type"] == "offered"]
        assert sorted(offered) == sorted(ids)[-500:]
        late.send(type="files")
        listing, _ = late.until("file-list")
        assert (listing["count"], listing["unlisted"]) == (500, 506 - 500)
        listed = [late.recv() for _ in range(500)]
        assert {int(str(f["id"])) for f in listed} == set(offered) and all(f["listing"] for f in listed)
    finally:
        for client in (*people, late):
            client.close()


def test_thirty_two_tries_without_joining_then_the_door_closes(room):
    ann = DocClient(room)
    try:
        answers = []
        for _ in range(33):
            ann.send(type="hello", name="!", version=2)
        answers = ann.rest()
        assert [a["code"] for a in answers[:32]] == ["bad-name"] * 32
        assert (answers[32]["code"], answers[32]["fatal"]) == ("slow-down", True) and len(answers) == 33
    finally:
        ann.close()
