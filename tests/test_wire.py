"""Framing (wire.py): a length header, then the payload, however the stream is cut up."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanchat import wire
from lanchat.wire import (
    MAX_BINARY_ID_BYTES,
    MAX_FRAME_BYTES,
    FrameDecoder,
    FrameError,
    binary_frame,
    encode_json,
    frame,
    is_binary,
    looks_like_http,
    split_binary,
)

PAYLOADS = [b"", b"hi", "héllo wörld ✓".encode(), b"x" * 1000, bytes(range(256))]


def stream_of(payloads: list[bytes]) -> bytes:
    return b"".join(frame(p) for p in payloads)


def test_a_frame_is_a_big_endian_length_then_the_payload():
    assert frame(b"hello") == b"\x00\x00\x00\x05hello"
    assert frame(b"") == b"\x00\x00\x00\x00"
    assert struct.unpack(">I", frame(b"x" * 300)[:4]) == (300,)


def test_encode_json_is_compact_utf8_not_ascii_escapes():
    data = encode_json({"type": "say", "text": "café ✓"})
    payload = data[4:]
    assert payload == '{"type":"say","text":"café ✓"}'.encode()
    assert len(payload) == struct.unpack(">I", data[:4])[0]


def test_every_split_point_of_a_multi_frame_stream_gives_the_same_frames():
    stream = stream_of(PAYLOADS)
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder()
        got = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert got == PAYLOADS, f"cut at byte {cut}"
        assert decoder.pending_bytes == 0


def test_bytes_and_a_bytearray_read_give_the_same_frames_as_bytes_at_every_split_point():
    """recv() gives bytes (sliced straight); a TLS or test caller may hand a bytearray (the
    memoryview path): the same payloads either way, each one ``bytes``."""
    stream = stream_of(PAYLOADS)
    for cut in range(len(stream) + 1):
        for kind in (bytes, bytearray):
            decoder = FrameDecoder()
            got = decoder.feed(kind(stream[:cut])) + decoder.feed(kind(stream[cut:]))
            assert got == PAYLOADS and all(type(p) is bytes for p in got), (kind, cut)
            assert decoder.pending_bytes == 0


def test_one_byte_at_a_time():
    stream = stream_of(PAYLOADS)
    decoder = FrameDecoder()
    got: list[bytes] = []
    for index in range(len(stream)):
        got += decoder.feed(stream[index : index + 1])
    assert got == PAYLOADS


def test_many_frames_in_one_read_come_out_in_order():
    payloads = [f"message {n}".encode() for n in range(500)]
    assert FrameDecoder().feed(stream_of(payloads)) == payloads


def test_a_partial_frame_waits_for_the_rest():
    decoder = FrameDecoder()
    data = frame(b"abcdef")
    assert decoder.feed(data[:3]) == []  # not even the whole header
    assert decoder.pending_bytes == 3
    assert decoder.feed(data[3:7]) == []  # header and one payload byte
    assert decoder.pending_bytes == 7
    assert decoder.feed(data[7:] + data[:2]) == [b"abcdef"]
    assert decoder.pending_bytes == 2


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=10),
)
def test_any_chunking_of_any_frames_gives_them_back(payloads, cuts):
    stream = stream_of(payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    decoder = FrameDecoder()
    got: list[bytes] = []
    previous = 0
    for point in [*points, len(stream)]:
        got += decoder.feed(stream[previous:point])
        previous = point
    assert got == payloads
    assert decoder.pending_bytes == 0


def test_a_frame_of_exactly_the_limit_is_accepted():
    payload = b"a" * MAX_FRAME_BYTES
    assert FrameDecoder().feed(frame(payload)) == [payload]


def test_an_oversized_header_is_refused_at_once_without_waiting_for_the_payload():
    decoder = FrameDecoder()
    with pytest.raises(FrameError, match="limit"):
        decoder.feed(struct.pack(">I", MAX_FRAME_BYTES + 1))
    with pytest.raises(FrameError):
        FrameDecoder().feed(b"\xff\xff\xff\xff")


def test_an_oversized_header_after_good_frames_is_still_refused_and_keeps_them():
    decoder = FrameDecoder()
    with pytest.raises(FrameError) as caught:
        decoder.feed(frame(b"ok") + frame(b"fine") + struct.pack(">I", 10**9))
    assert caught.value.payloads == [b"ok", b"fine"]


def test_a_smaller_limit_can_be_chosen():
    decoder = FrameDecoder(max_frame_bytes=10)
    assert decoder.feed(frame(b"0123456789")) == [b"0123456789"]
    with pytest.raises(FrameError):
        decoder.feed(frame(b"0123456789a"))


def test_frame_refuses_to_build_an_oversized_frame():
    with pytest.raises(FrameError):
        frame(b"a" * (MAX_FRAME_BYTES + 1))
    with pytest.raises(FrameError):
        encode_json({"type": "say", "text": "a" * MAX_FRAME_BYTES})


@pytest.mark.parametrize(
    "opening", [b"GET / HTTP/1.1\r\n", b"POST /x HTTP/1.0", b"HEAD /", b"PUT /a", b"OPTIONS *", b"CONNECT a:1"]
)
def test_http_requests_are_recognised(opening):
    assert looks_like_http(opening)


@pytest.mark.parametrize("data", [frame(b'{"type":"hello"}'), b"\x00\x00\x00\x04GET ", b"get /", b"", b"GE"])
def test_lanchat_frames_and_other_bytes_are_not_http(data):
    assert not looks_like_http(data)


def test_every_http_method_opening_is_an_impossible_frame_length():
    # why sniffing is safe: no lanchat frame header can start like an HTTP request
    for method in (b"GET ", b"POST", b"HEAD", b"PUT ", b"OPTI", b"DELE", b"CONN", b"PATC"):
        assert struct.unpack(">I", method)[0] > wire.MAX_FRAME_BYTES


# ------------------------------------------------------------------ binary frames


@given(
    ident=st.text(min_size=1, max_size=16).filter(lambda t: len(t.encode()) <= MAX_BINARY_ID_BYTES),
    data=st.binary(max_size=300),
)
def test_a_binary_frame_gives_back_its_id_and_bytes(ident, data):
    framed = binary_frame(ident, data)
    (payload,) = FrameDecoder().feed(framed)
    assert is_binary(payload)
    assert split_binary(payload) == (ident, data)


def test_a_binary_frame_is_mark_length_id_data():
    assert binary_frame("7", b"foo") == b"\x00\x00\x00\x06" + b"\x00\x01" + b"7" + b"foo"
    assert not is_binary(b'{"type":"say"}') and not is_binary(b"")


def test_a_binary_frame_keeps_to_the_frame_limit():
    binary_frame("1", bytes(MAX_FRAME_BYTES - 3))  # 0, n, "1" and the data: exactly the limit
    with pytest.raises(FrameError):
        binary_frame("1", bytes(MAX_FRAME_BYTES - 2))
    with pytest.raises(FrameError):
        binary_frame("", b"x")
    with pytest.raises(FrameError):
        binary_frame("x" * (MAX_BINARY_ID_BYTES + 1), b"x")


@pytest.mark.parametrize(
    "payload",
    [b"\x00", b"\x00\x00", b"\x00\x00data", b"\x00\x05abc", b"\x00\x41" + b"x" * 80, b"\x00\x02\xff\xfedata"],
    ids=["mark-only", "no-id", "zero-length-id", "id-past-the-end", "id-over-64", "id-not-utf8"],
)
def test_a_badly_cut_binary_frame_is_refused_with_a_reason(payload):
    with pytest.raises(ValueError, match="binary frame"):
        split_binary(payload)


# ------------------------------------------------------------------ JSON: fast path and plain path
# encode_json/decode_json use msgspec; encode_json_plain/decode_json_plain use the json module.
# PROTOCOL.md section 2 gives the rules; these tests hold both paths to them and to each other.

# The floats lanchat sends are clock times; between 1e-4 and 1e16 both paths spell them alike.
TIMES = st.floats(min_value=1e-4, max_value=9.9e15) | st.just(0.0)
JSON_TREES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | TIMES | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
OBJECTS = st.dictionaries(st.text(max_size=8), JSON_TREES, max_size=5)


def _outcome(decode, payload: bytes):
    """What a decoder makes of a payload: ("ok", value) or ("refused", the error's class)."""
    try:
        return ("ok", decode(payload))
    except (ValueError, RecursionError) as exc:
        return ("refused", type(exc))


@given(OBJECTS)
@settings(max_examples=300, deadline=None)
def test_the_fast_and_plain_encoders_give_the_same_bytes(obj):
    try:
        expected = wire.encode_json_plain(obj)
    except UnicodeEncodeError:  # a lone surrogate in the text: not UTF-8, refused alike
        with pytest.raises(UnicodeEncodeError):
            encode_json(obj)
        return
    assert encode_json(obj) == expected


@given(OBJECTS)
@settings(max_examples=300, deadline=None)
def test_both_decoders_read_back_what_was_encoded(obj):
    try:
        payload = encode_json(obj)[4:]
    except UnicodeEncodeError:
        return
    assert wire.decode_json(payload) == wire.decode_json_plain(payload) == obj


def test_encode_json_writes_tuples_as_lists_and_refuses_what_is_not_json():
    assert encode_json({"t": (1, 2)}) == wire.encode_json_plain({"t": (1, 2)}) == frame(b'{"t":[1,2]}')
    for encode in (encode_json, wire.encode_json_plain):
        with pytest.raises(TypeError):
            encode({"type": "say", "text": object()})


def _escaped(text: str) -> str:
    """A str as a JSON string literal with every character outside printable ASCII escaped."""
    return '"' + "".join(ch if " " <= ch <= "~" and ch not in '"\\' else f"\\u{ord(ch):04x}" for ch in text) + '"'


# Frames a peer may send, good and bad, for the "same decision" tests.
HAND_WRITTEN = [
    '{"type":"say","text":"hi"}',
    ' {"type":"say"}\r\n\t',  # JSON's white space around the value is allowed
    '{"a":1,"b":2,"a":3}',  # a duplicate key: the last one wins
    '{"a":1}{"b":2}',  # extra data
    '{"a":1} x',
    "",
    "   ",
    "nope",
    '{"a":',
    "\ufeff{}",  # a byte order mark
    "\u00a0{}",  # white space JSON does not allow
    "[1, 2]",
    "3",
    '"text"',
    "NaN",
    '{"a":NaN}',
    '{"a":-Infinity}',
    '{"a":1e400}',  # too large for a double
    '{"a":-1e400}',
    '{"a":1e-400}',  # rounds to 0.0, like every JSON reader
    '{"a":123456789012345678901234567890}',  # past 64 bits: Python keeps it exact
    '{"a":' + "9" * 400 + "}",  # an integer no double can hold: still exact
    '{"a":' + "9" * 4300 + "}",  # the json module's limit
    '{"a":' + "9" * 4301 + "}",
    '{"a":' + "9" * 5000 + "}",
    '{"a":-' + "9" * 400 + ".5}",  # a float that is too large, spelled without an exponent
    '{"a":1.5E+3,"b":-0,"c":-0.0,"d":0.1}',
    '{"a":"\\ud800"}',  # a lone surrogate in a value
    '{"\\udc00":1}',  # in a key
    '{"type":"say","text":"hi","extra":["\\ud800x"]}',  # in a field nobody reads
    '{"a":"\\ud83d\\ude00"}',  # a real pair: one emoji
    '{"a":"\\uDC00\\uD800"}',  # a pair in the wrong order
    '{"a":"\\u0000\\"\\\\\\/\\b\\f\\n\\r\\t"}',
    '{"a":"\x01"}',  # a raw control character inside a string
    '{"a":[[[[[[[[[[]]]]]]]]]]}',
    "[" * 100_000,
    "[" * 900 + "]" * 900,
]


@pytest.mark.parametrize("text", HAND_WRITTEN, ids=[t[:24] for t in HAND_WRITTEN])
def test_the_fast_and_plain_decoders_make_the_same_decision(text):
    payload = text.encode("utf-8")
    assert _outcome(wire.decode_json, payload) == _outcome(wire.decode_json_plain, payload)


@given(st.text(max_size=20), st.sampled_from(["say", "who", "x"]))
@settings(max_examples=300, deadline=None)
def test_any_text_however_escaped_gets_the_same_decision_from_both(text, kind):
    # st.text() includes lone surrogates: spelled as \u escapes they reach the decoder
    for payload in (
        f'{{"type":"{kind}","text":{_escaped(text)}}}'.encode(),
        f'{{{_escaped(text)}:{_escaped(text)}}}'.encode(),
    ):
        assert _outcome(wire.decode_json, payload) == _outcome(wire.decode_json_plain, payload)


@given(st.binary(max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_bytes_get_the_same_decision_from_both(junk):
    for payload in (junk, b'{"a":"' + junk + b'"}', b'{"a":' + junk + b"}"):
        assert _outcome(wire.decode_json, payload) == _outcome(wire.decode_json_plain, payload)


def test_the_nesting_limit_is_the_same_for_both():
    for depth in range(800, 1200, 7):
        payload = b"[" * depth + b"]" * depth
        assert _outcome(wire.decode_json, payload)[0] == _outcome(wire.decode_json_plain, payload)[0], depth


@pytest.mark.parametrize("decode", [wire.decode_json, wire.decode_json_plain], ids=["fast", "plain"])
def test_the_json_rules(decode):
    assert decode(b'{"a":1,"b":2,"a":3}') == {"a": 3, "b": 2}  # the last duplicate wins
    assert decode(b'{"a":"\\ud83d\\ude00"}') == {"a": "\U0001f600"}
    for not_finite in (b'{"a":NaN}', b'{"a":Infinity}', b'{"a":-Infinity}', b'{"a":1e400}', b'{"a":[-1e400]}'):
        with pytest.raises(wire.NotFinite):
            decode(not_finite)
    with pytest.raises(ValueError) as refused:
        decode(b"\xef\xbb\xbf{}")
    assert type(refused.value) not in (wire.NotText, wire.NotFinite)
    with pytest.raises(UnicodeDecodeError):
        decode(b'{"text":"\xff"}')
    with pytest.raises(UnicodeDecodeError):
        decode(b'{"text":"\xed\xa0\x80"}')  # a surrogate written as UTF-8 bytes
    for lone in (b'{"a":"\\ud800"}', b'{"\\udc00":1}', b'{"type":"say","text":"hi","x":["\\ud800"]}'):
        with pytest.raises(wire.NotText):
            decode(lone)
    with pytest.raises(RecursionError):
        decode(b"[" * 100_000)


def test_a_refused_frame_with_a_large_exponent_is_not_read_by_msgspec(monkeypatch):
    # msgspec reads 1e300 some 300 times slower than json does: decode_refused_json must send a
    # payload where such an exponent may be written to the plain path. The timing test
    # (test_attack_frames) passed with that check taken out (20 hints at ~63 ms each: under 1.5 s).
    fast_reads: list[bytes] = []

    def fast(payload):
        fast_reads.append(payload)
        return wire.decode_json_plain(payload)

    monkeypatch.setattr(wire, "_FAST_DECODE", fast)
    for payload in (b'{"pad":[1e300,2]}', b'{"pad":1.5E+0300}', b'{"pad":[-3e0289]}', b'{"pad":1e100}'):
        assert wire.decode_refused_json(payload) == wire.decode_json_plain(payload), payload
    assert fast_reads == []
    assert wire.decode_refused_json(b'{"pad":[1e99,2e-300]}') == {"pad": [1e99, 2e-300]}
    assert fast_reads == [b'{"pad":[1e99,2e-300]}']  # any other: msgspec's, ~300 times quicker there
