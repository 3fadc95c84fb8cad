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


# encode_json and decode_json call json's C encoder and scanner directly (wire.py says why);
# they must give exactly what json.dumps and json.loads give, errors included.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5))
@settings(max_examples=300)
def test_encode_json_gives_the_bytes_json_dumps_gives(obj):
    import json

    try:
        expected = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in the text: not UTF-8, refused alike
        with pytest.raises(UnicodeEncodeError):
            encode_json(obj)
        return
    assert encode_json(obj) == frame(expected)


def test_encode_json_refuses_what_json_dumps_refuses():
    with pytest.raises(TypeError):
        encode_json({"type": "say", "text": object()})
    assert encode_json({"t": (1, 2)}) == frame(b'{"t":[1,2]}')  # tuples are lists, as in json.dumps


def _loads_or_error(text: str):
    import json

    try:
        return ("ok", json.loads(text))
    except ValueError as exc:
        return ("error", type(exc), str(exc))


def _decoded_or_error(payload: bytes):
    try:
        return ("ok", wire.decode_json(payload))
    except ValueError as exc:
        return ("error", type(exc), str(exc))


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"say","text":"hi"}',
        ' {"type":"say"}',  # whitespace around the value is allowed
        '{"type":"say"}\n',
        '{"a":1}{"b":2}',  # extra data
        '{"a":1} x',
        "",
        "   ",
        "nope",
        '{"a":',
        "\ufeff{}",  # a byte order mark: json.loads refuses it with its own message
        "[1, 2]",
        "3",
        '"text"',
        "NaN",
        '{"a":"\\ud800"}',  # a lone surrogate spelled in JSON decodes (events.py refuses it later)
    ],
)
def test_decode_json_accepts_and_refuses_as_json_loads_does(text):
    got = _decoded_or_error(text.encode("utf-8"))
    expected = _loads_or_error(text)
    if expected[0] == "ok" and expected[1] != expected[1]:  # NaN != NaN
        assert got[0] == "ok" and got[1] != got[1]
    else:
        assert got == expected


def test_decode_json_refuses_bytes_that_are_not_utf8_and_deep_nesting():
    with pytest.raises(UnicodeDecodeError):
        wire.decode_json(b'{"text":"\xff"}')
    with pytest.raises(RecursionError):
        wire.decode_json(b"[" * 100_000)


@given(JSON_VALUES)
@settings(max_examples=300)
def test_decode_json_reads_back_what_encode_json_wrote(value):
    import json
    import math

    try:
        payload = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return
    got = wire.decode_json(payload)
    expected = json.loads(payload.decode("utf-8"))
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == expected or json.dumps(got) == json.dumps(expected)  # NaN inside lists
