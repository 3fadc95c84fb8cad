"""The server does exactly what docs/PROTOCOL.md says where an independent client, written from the
document alone, found them apart (issue 12, "The protocol, exactly as documented"). Real sockets
on loopback; each test is one rule."""

from __future__ import annotations

import contextlib
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from helpers import RawClient, running_server

from lanchat import events as ev
from lanchat.protocol import encode
from lanchat.room import Room
from lanchat.server import Server
from lanchat.transport import Endpoint, listen, local_pair

DOC = (Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")


def test_a_hello_and_a_say_in_one_write_are_a_join_and_then_a_message():
    with running_server() as (_, endpoint):
        ann = RawClient(endpoint, "ann")
        bob = RawClient(endpoint)
        bob.send_raw(encode(ev.Hello(name="bob")) + encode(ev.Say(text="hi, I type fast")))
        assert bob.expect(ev.Welcome).name == "bob"
        assert bob.expect(ev.Message).text == "hi, I type fast"
        assert ann.expect(ev.Message).sender == "bob"
        assert not [e for e in bob.drain(0.2) if isinstance(e, ev.Error)]


def test_a_second_hello_in_the_same_write_is_refused_after_the_welcome():
    with running_server() as (_, endpoint):
        bob = RawClient(endpoint)
        bob.send_raw(encode(ev.Hello(name="bob")) + encode(ev.Hello(name="bobby")))
        assert bob.expect(ev.Welcome).name == "bob"
        error = bob.expect(ev.Error)
        assert error.code == ev.E_BAD_MESSAGE and not error.fatal


@contextlib.contextmanager
def server_with_a_host() -> Iterator[tuple[Server, Endpoint, RawClient]]:
    """A server as `serve` starts one: listening, with the host's socketpair adopted, before the
    host has said hello."""
    listener = listen(Endpoint(host="127.0.0.1", port=0))
    endpoint = Endpoint(host="127.0.0.1", port=listener.getsockname()[1])
    server = Server([listener], Room())
    host_end, server_end = local_pair()
    server.add_local(server_end, host=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = RawClient(host_end)
    try:
        yield server, endpoint, host
    finally:
        host.close()
        server.request_shutdown("test over")
        thread.join(10)
    assert not server.internal_errors


def test_the_host_is_admitted_before_anyone_else():
    with server_with_a_host() as (_, endpoint, host):
        bob = RawClient(endpoint)
        bob.send(ev.Hello(name="bob"))  # before the host's hello
        assert bob.drain(0.3) == []  # bob waits for the host (his hello asks for no held: told nothing, as before)
        host.send(ev.Hello(name="ann"))
        assert host.expect(ev.Welcome).members == ("ann",)
        welcome = bob.expect(ev.Welcome)
        assert (welcome.host, welcome.members) == ("ann", ("ann", "bob"))
        bob.close()


def test_a_student_held_behind_a_slow_host_start_is_told_the_room_is_starting_not_asked_for_the_port():
    """A student who connected while the host's screen was still starting was held (PROTOCOL.md 4)
    and, after 3 s of silence, asked "is PORT the port `lanchat serve` printed?": the right port,
    so they quit and tried others. The server now says `held` at once; the real client says the
    room is starting, then joins when the host is in."""
    from helpers import Proc

    with server_with_a_host() as (_, endpoint, host):
        bob = Proc("connect", "127.0.0.1", str(endpoint.port), "--name", "bob", "--plain")
        try:
            bob.expect(r"^lanchat: connected; the room is still starting: you are let in as soon as it opens \(still waiting\)$")
            host.send(ev.Hello(name="ann"))
            bob.expect(r"welcome, bob")
            assert "the port `lanchat serve` printed" not in bob.output
            bob.send("/q")
            assert bob.wait() == 0
        finally:
            bob.stop()
        assert "Traceback" not in bob.output


def test_an_older_client_ignores_held_and_joins_as_before():
    """`held` goes only to a hello that asks (hold_notice); were one sent to a client that does not
    know the type (the table of an older lanchat), it reads it as one to ignore, stays in the
    handshake, and takes the welcome that follows (PROTOCOL.md 3)."""
    from lanchat.protocol import Connection, Invalid, Role, State

    older = Connection(Role.CLIENT)
    older._table = {name: cls for name, cls in ev.SERVER_EVENTS.items() if name != ev.Held.type}  # noqa: SLF001 - an older lanchat's table
    older.send(ev.Hello(name="bob"))
    older.receive_data(encode(ev.Held(reason="starting")))
    (ignored,) = older.events()
    assert isinstance(ignored, Invalid) and ignored.code == ev.E_UNKNOWN_TYPE and older.state is State.HANDSHAKE
    older.receive_data(encode(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob"), turn=None, host="ann")))
    (welcome,) = older.events()
    assert isinstance(welcome, ev.Welcome) and older.state is State.OPEN


def test_a_server_that_says_held_again_and_again_does_not_keep_the_client_waiting_for_ever(monkeypatch):
    """Each `held` pushed the handshake's deadline on (HELD_WAIT_SECONDS from it): a server (or
    anything on the port) repeating it kept connect in the handshake for as long as it went on.
    The first extends the wait, once; the client gives up while the helds still come. Real loopback
    sockets; the wait made short (1 s) so that the test is."""
    import socket

    import pytest

    from lanchat import client
    from lanchat.client import JoinError, join

    monkeypatch.setattr(client, "HELD_WAIT_SECONDS", 1.0)
    gone = threading.Event()  # the client closed its end: it gave up
    sent = []

    def say_held_again_and_again(conn: socket.socket) -> None:
        with conn:
            for _ in range(300):  # 30 s at most, far past the 1 s the client may wait
                try:
                    conn.sendall(encode(ev.Held(reason="starting")))
                except OSError:
                    break
                sent.append(1)
                if gone.wait(0.1):
                    break

    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname(), timeout=5)
        theirs, _ = listener.accept()
        server = threading.Thread(target=say_held_again_and_again, args=(theirs,), daemon=True)
        server.start()
        try:
            with pytest.raises(JoinError) as refused:
                join(ours, "bob", timeout=0.5)
            still_sending = server.is_alive()
        finally:
            gone.set()
            ours.close()
            server.join(timeout=10)
    assert still_sending, f"the client waited until the server stopped, after {len(sent)} helds"
    assert "the room did not open in time" in str(refused.value)


def test_a_replay_on_joining_ends_with_history_end_even_when_empty(tmp_path):
    from lanchat.history import HistoryStore

    store = HistoryStore(tmp_path / "h.sqlite3")
    try:
        with running_server(history=store) as (_, endpoint):
            ann = RawClient(endpoint, "ann")
            end = ann.expect(ev.HistoryEnd)
            assert (end.shown, end.more) == (0, False)
    finally:
        store.close()


def _server_reads(payload: bytes) -> object:
    """What a server-side Connection, already open, makes of one frame."""
    import struct

    from lanchat.protocol import Connection, Role, State

    conn = Connection(Role.SERVER)
    conn.state = State.OPEN
    conn.receive_data(struct.pack(">I", len(payload)) + payload)
    (event,) = conn.events()
    return event


def test_nan_and_infinity_are_out_of_range_anywhere_in_a_frame():
    from lanchat.protocol import Invalid

    for payload in (
        b'{"type":"say","text":"hi","extra":NaN}',
        b'{"type":"say","text":"hi","extra":[1,-Infinity]}',
        b'{"type":"history","limit":Infinity}',
        b'{"type":"say","text":NaN}',
    ):
        event = _server_reads(payload)
        assert isinstance(event, Invalid) and event.code == ev.E_OUT_OF_RANGE, payload


def test_a_long_integer_is_out_of_range_where_it_is_read_and_ignored_where_it_is_not():
    """Ranges of numbers: the 64-bit rule holds for the numbers a receiver reads; an unknown field's
    integer is ignored with it (the document once said every number was checked)."""
    from lanchat.protocol import Invalid

    long_integer = b"9" * 30
    ignored = _server_reads(b'{"type":"say","text":"hi","extra":' + long_integer + b"}")
    assert ignored == ev.Say(text="hi")
    refused = _server_reads(b'{"type":"history","limit":' + long_integer + b"}")
    assert isinstance(refused, Invalid) and refused.code == ev.E_OUT_OF_RANGE
    ranges = DOC[DOC.index("**Ranges of numbers.**") :].split("\n\n", 1)[0]
    assert "Every received number is checked" not in ranges
    assert "in a field nobody reads is ignored" in ranges


def test_a_lone_surrogate_is_refused_even_in_a_field_nobody_reads():
    from lanchat.protocol import Invalid

    for payload in (
        b'{"type":"say","text":"hi","extra":"\\ud800"}',
        b'{"type":"say","text":"hi","\\udc00":1}',
        b'{"type":"say","text":"\\ud800 in the text"}',
        b'{"type":"who","text":"\\ud800"}',
    ):
        event = _server_reads(payload)
        assert isinstance(event, Invalid) and event.code == ev.E_BAD_MESSAGE, payload


def test_words_that_look_like_those_and_proper_escapes_are_fine():
    assert _server_reads(b'{"type":"say","text":"NaN and Infinity"}') == ev.Say(text="NaN and Infinity")
    assert _server_reads(b'{"type":"say","text":"\\u00e9t\\u00e9 \\ud83d\\ude00"}') == ev.Say(text="été 😀")


def test_a_key_given_twice_counts_once_the_last_time():
    assert _server_reads(b'{"type":"say","text":"first","text":"second"}') == ev.Say(text="second")


# ------------------------------------------------------------- documentation gaps, now rules


def test_every_http_method_and_the_http2_preface_get_the_web_page_not_bad_frame():
    import socket

    for opening in (b"TRACE / HTTP/1.1\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"PATCH / HTTP/1.1\r\n\r\n"):
        with running_server() as (_, endpoint), socket.create_connection((endpoint.host, endpoint.port), timeout=10) as sock:
            sock.sendall(opening)
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
            assert reply.startswith(b"HTTP/1.0 400 Bad Request"), (opening, reply[:40])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _offer(client: RawClient, data: bytes) -> str:
    from lanchat.files import encode_chunk

    client.send(ev.OfferFile(ref=1, name="notes.txt", size=len(data)))
    file_id = client.expect(ev.UploadReady).id
    client.send(ev.UploadChunk(id=file_id, data=encode_chunk(data)))
    import hashlib

    client.send(ev.UploadDone(id=file_id, sha256=hashlib.sha256(data).hexdigest()))
    return file_id


def test_a_listing_says_when_a_file_was_offered_not_when_it_was_listed(tmp_path):
    from lanchat.server_files import ServerFiles

    clock = Clock()
    files = ServerFiles(tmp_path, clock=clock)
    try:
        with running_server(files=files) as (_, endpoint):
            ann = RawClient(endpoint, "ann")
            file_id = _offer(ann, b"hello")
            assert ann.expect(ev.Offered, id=file_id).time == 1000.0
            clock.now = 2000.0
            ann.send(ev.ListFiles())
            assert ann.expect(ev.Offered, listing=True).time == 1000.0
    finally:
        files.close()


def test_a_get_of_hash_nine_that_is_not_on_offer_says_hash_nine_once():
    with running_server() as (_, endpoint):
        ann = RawClient(endpoint, "ann")
        ann.send(ev.GetFile(id="#9"))
        assert ann.expect(ev.FileError).message == "no file #9 is on offer (/files lists them)"


def test_a_base64_chunk_over_32_kib_stops_the_upload(tmp_path):
    from lanchat.files import CHUNK_BYTES, encode_chunk
    from lanchat.server_files import ServerFiles

    files = ServerFiles(tmp_path)
    try:
        with running_server(files=files) as (_, endpoint):
            ann = RawClient(endpoint, "ann")
            size = CHUNK_BYTES + 1
            ann.send(ev.OfferFile(ref=1, name="big.bin", size=size))
            file_id = ann.expect(ev.UploadReady).id
            ann.send(ev.UploadChunk(id=file_id, data=encode_chunk(b"x" * size)))
            error = ann.expect(ev.FileError, id=file_id)
            assert f"over {CHUNK_BYTES}" in error.message
            ann.send(ev.ListFiles())
            assert ann.expect(ev.FileList).count == 0
    finally:
        files.close()


def test_white_space_as_documented_is_what_the_server_uses():
    import re
    import sys
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    paragraph = doc[doc.index("**White space**") :].split("A text", 1)[0]
    documented: set[int] = set()
    for first, last in re.findall(r"U\+([0-9A-F]{4})(?: to U\+([0-9A-F]{4}))?", paragraph):
        documented.update(range(int(first, 16), int(last or first, 16) + 1))
    assert documented == {c for c in range(sys.maxunicode + 1) if chr(c).isspace()}


def test_file_names_are_cleaned_as_documented():
    from lanchat.files import safe_name, unique_name

    assert safe_name("../../etc/pass\twd") == "pass wd"
    assert safe_name('a<b>c:d"e|f?g*h') == "a_b_c_d_e_f_g_h"
    assert safe_name("\x1b[31mred\u202e.txt") == "[31mred.txt"
    assert safe_name(" ..hidden.. ") == "hidden"
    assert safe_name("nul.txt") == "_nul.txt" and safe_name("...") == "file"
    long = safe_name("x" * 200 + ".tar.gz")
    assert len(long) == 120 and long.endswith("x.gz")
    assert unique_name("report.tar.gz", ["REPORT.TAR.GZ"]) == "report.tar (1).gz"
    assert unique_name("notes", ["notes", "notes (1)"]) == "notes (2)"


def test_a_binary_frame_before_the_hello_is_hello_first_if_cut_right_and_bad_message_if_not():
    """Binary file frames: a frame cut wrong is bad-message in every state, as bad JSON is bad-json;
    only a well-formed one before the welcome is hello-first (the document once said hello-first
    for both)."""
    with running_server() as (_, endpoint):
        early = RawClient(endpoint)
        for payload, code in ((b"\x00\x01" + b"7" + b"data", ev.E_HELLO_FIRST), (b"\x00\x00", ev.E_BAD_MESSAGE)):
            early.send_raw(struct.pack(">I", len(payload)) + payload)
            error = early.expect(ev.Error)
            assert (error.code, error.fatal) == (code, False), payload
        early.send(ev.Hello(name="early"))
        assert early.expect(ev.Welcome).name == "early"
        early.close()
    paragraph = DOC[DOC.index("* A binary frame that is cut wrong") :].split("\n* ", 1)[0].split("\n\n", 1)[0]
    assert "cut right is answered with `hello-first`" in paragraph, paragraph
    assert "answers it with `hello-first`" not in paragraph, paragraph
