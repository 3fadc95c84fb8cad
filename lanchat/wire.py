"""wire.py: framing only, bytes <-> frames, and the size limits. Never does I/O.

A frame is a 4-byte big-endian unsigned length, then that many bytes of payload
(docs/PROTOCOL.md section 2). TCP and AF_UNIX stream sockets deliver a byte stream,
not messages: one recv() may hold half a frame or several frames, so the decoder
keeps whatever is left over until the rest arrives.
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

import msgspec

HEADER = struct.Struct(">I")
_PACK_HEADER = HEADER.pack
HEADER_BYTES = HEADER.size
MAX_FRAME_BYTES = 64 * 1024  # payload limit; a larger header means the stream is not lanchat


class FrameError(ValueError):
    """The byte stream cannot be framed (the header announces an impossible length).

    ``payloads`` holds the whole frames that arrived before the bad header, in the same read:
    they were sent properly and are still the peer's words.
    """

    def __init__(self, message: str, payloads: list[bytes] | None = None) -> None:
        super().__init__(message)
        self.payloads = payloads or []


def frame(payload: bytes) -> bytes:
    """Put a length header in front of ``payload``."""
    size = len(payload)
    if size > MAX_FRAME_BYTES:
        raise FrameError(f"payload of {size} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    return _PACK_HEADER(size) + payload


# JSON (docs/PROTOCOL.md section 2, "JSON rules"). Every frame is encoded and decoded by msgspec,
# a library built for fast JSON; the plain json module is the reference beside it. The rules:
# * Strict JSON (RFC 8259): NaN, Infinity and numbers too large for a double (1e400) are refused
#   (NotFinite: out-of-range in PROTOCOL.md, "Ranges of numbers").
# * Text is UTF-8 and a \u escape must spell a real character: a lone surrogate anywhere in the
#   frame (a value or a key, a field the receiver uses or one it ignores) is refused (NotText).
# * Duplicate keys: the last one wins.
# * Nesting deeper than the interpreter's recursion limit is refused with RecursionError.
# msgspec answers every frame that keeps these rules. Whatever it refuses goes to the plain path,
# which decides alone which rule the frame breaks, so a refusal is always the plain path's
# (tests/test_wire.py checks that both accept the same frames with the same values).
_FAST_ENCODE = msgspec.json.Encoder().encode
_FAST_DECODE = msgspec.json.Decoder().decode
# msgspec reads a number whose written exponent is 289 or more (1e300, 1.5E+0300) about 300
# times slower than any other, 7 us each (the json module: 0.2): a frame of 8,000 of them, which
# a typing hint may carry in a field nobody reads, cost 55 ms, and 60 held the room for 3 s. A
# payload where an exponent of three digits or more may be written goes to the plain path, which
# reads it at the json module's pace (2 ms) with the same values (decode_refused_json).
# (The typed decoders in events.py refuse such a frame before reading the number: they stay.)
_LARGE_EXPONENT = re.compile(rb"[eE][+]?0*[1-9][0-9][0-9]")


class NotText(ValueError):
    """The frame is JSON, but a string in it holds a lone surrogate (\\ud800), which is not text."""


class NotFinite(ValueError):
    """The frame holds NaN, Infinity or a number too large for a double (1e400): no finite value."""


def encode_json(obj: dict[str, Any]) -> bytes:
    """One JSON object -> one complete frame: compact, text as raw UTF-8 (no \\u escapes).

    ``obj`` is a tree of dicts with str keys, lists, tuples, str, int, bool, None and finite
    floats, as every event's ``to_json()`` is. For those the bytes are exactly
    ``encode_json_plain``'s (floats from 1e-4 to 1e16 are the only floats lanchat sends:
    clock times; outside that range the two spell the same number differently, 1e+22 or 1e22).
    A lone surrogate raises UnicodeEncodeError, like the plain path."""
    return frame(_FAST_ENCODE(obj))


def encode_json_plain(obj: dict[str, Any]) -> bytes:
    """The reference for ``encode_json``, with the json module: the same bytes, slower."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return frame(text.encode("utf-8"))


def decode_json(payload: bytes) -> Any:
    """One frame's payload -> the JSON value it holds, under the rules above.

    Raises UnicodeDecodeError (not UTF-8), NotText (a lone surrogate), NotFinite (NaN, Infinity
    or too large a number), another ValueError (not JSON) or RecursionError (nested too deeply)."""
    try:
        return _FAST_DECODE(payload)
    except (msgspec.DecodeError, RecursionError):  # msgspec's ValidationError is a DecodeError
        return decode_json_plain(payload)


def decode_refused_json(payload: bytes) -> Any:
    """``decode_json`` for a frame the typed fast path refused (events.fast_event_from_payload):
    one a peer may have made to be slow to read. The same values and refusals; a payload where a
    large exponent may be written takes the plain path (see _LARGE_EXPONENT). The check costs
    about a microsecond, so it is made here, off the usual frame's path, not in decode_json."""
    if _LARGE_EXPONENT.search(payload) is not None:
        return decode_json_plain(payload)
    return decode_json(payload)


def _refuse_constant(name: str) -> Any:
    raise NotFinite(f"{name} is not a JSON number")


def _finite_float(spelled: str) -> float:
    number = float(spelled)
    if math.isinf(number):
        raise NotFinite(f"the number {spelled[:20]} is too large")
    return number


def decode_json_plain(payload: bytes) -> Any:
    """The reference for ``decode_json``, with the json module: the same values, the same
    refusals, slower. The fast path hands it every frame msgspec refuses."""
    text = payload.decode("utf-8")
    value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    if "\\u" in text:  # UTF-8 holds no surrogates: only a \u escape can spell one
        _refuse_lone_surrogates(value)
    return value


def _refuse_lone_surrogates(value: Any) -> None:
    """Raise NotText if any string in a decoded JSON value, keys included, is not valid text."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise NotText("a string holds a lone surrogate, which is not valid text") from None
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


# Binary frames (PROTOCOL.md, Extensions: Binary file frames). A JSON payload always starts
# with "{", so a first byte of 0 marks a payload that is not JSON: then one byte gives the
# length of an id (UTF-8), the id follows, and every byte after it is raw data. File chunks
# travel this way, with no base64 and no JSON to parse, when both sides have said they can.
BINARY_MARK = 0
MAX_BINARY_ID_BYTES = 64


def is_binary(payload: bytes) -> bool:
    """True for a binary frame's payload (its first byte is 0), False for JSON."""
    return payload[:1] == b"\x00"


def binary_frame(ident: str, data: bytes) -> bytes:
    """A complete binary frame carrying ``data`` under ``ident``: header, mark, id, bytes."""
    raw_id = ident.encode("utf-8")
    if not 0 < len(raw_id) <= MAX_BINARY_ID_BYTES:
        raise FrameError(f"a binary frame's id must be 1 to {MAX_BINARY_ID_BYTES} bytes, not {len(raw_id)}")
    length = 2 + len(raw_id) + len(data)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"payload of {length} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    return HEADER.pack(length) + bytes((BINARY_MARK, len(raw_id))) + raw_id + data


def split_binary(payload: bytes) -> tuple[str, bytes]:
    """A binary frame's payload -> (id, data). ValueError says what is wrong with a bad one."""
    if len(payload) < 3 or payload[0] != BINARY_MARK:
        raise ValueError("a binary frame needs a 0 byte, an id length and an id")
    id_length = payload[1]
    if id_length == 0 or id_length > MAX_BINARY_ID_BYTES or len(payload) < 2 + id_length:
        raise ValueError("a binary frame's id length is wrong")
    try:
        ident = payload[2 : 2 + id_length].decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("a binary frame's id is not valid UTF-8") from None
    return ident, payload[2 + id_length :]


def looks_like_http(data: bytes) -> bool:
    """True when a stream opens like an HTTP request: someone pointed a browser at us."""
    return data[:4] in HTTP_OPENINGS


# The first 4 bytes of every HTTP/1 method in RFC 9110 and 5789, and of HTTP/2's connection
# preface ("PRI * HTTP/2.0"). As a frame header each is a length over 1 GiB, never a real frame.
HTTP_OPENINGS = frozenset(
    (b"GET ", b"HEAD", b"POST", b"PUT ", b"DELE", b"CONN", b"OPTI", b"TRAC", b"PATC", b"PRI ")
)


class FrameDecoder:
    """Collects bytes and hands out whole payloads, in order.

    >>> d = FrameDecoder()
    >>> d.feed(b"\\x00\\x00\\x00\\x02h")
    []
    >>> d.feed(b"i\\x00\\x00")
    [b'hi']
    """

    __slots__ = ("buffer", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        # The start of a frame still arriving; others may read its length (protocol.py, once a read)
        self.buffer = bytearray()
        self.max_frame_bytes = max_frame_bytes

    @property
    def pending_bytes(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self.buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every payload now complete. Raises FrameError if the
        stream announces a frame over the limit (the stream cannot be resynchronised).

        Each byte is copied once on its way to a payload: whole frames are sliced straight out
        of ``data``, and a frame begun in an earlier read takes only the bytes it still needs.
        """
        payloads: list[bytes] = []
        offset = 0
        buffer = self.buffer
        if buffer:
            offset = self._finish_partial(data, payloads)
            if buffer:
                return payloads  # still waiting for the rest of that frame
        end = len(data)
        limit = self.max_frame_bytes
        if data.__class__ is bytes:  # what recv() returns: a slice of bytes is the one copy
            unpack = HEADER.unpack_from
            while end - offset >= HEADER_BYTES:
                (length,) = unpack(data, offset)
                if length > limit:
                    raise FrameError(f"frame header announces {length} bytes; the limit is {limit}", payloads)
                start = offset + HEADER_BYTES
                if end - start < length:
                    break
                offset = start + length
                payloads.append(data[start:offset])
            if offset < end:
                with memoryview(data) as view:
                    buffer += view[offset:]  # the start of a frame still arriving
            return payloads
        with memoryview(data) as view:
            while end - offset >= HEADER_BYTES:
                (length,) = HEADER.unpack_from(data, offset)
                if length > limit:
                    raise FrameError(f"frame header announces {length} bytes; the limit is {limit}", payloads)
                start = offset + HEADER_BYTES
                if end - start < length:
                    break
                payloads.append(view[start : start + length].tobytes())
                offset = start + length
            if offset < end:
                buffer += view[offset:]  # the start of a frame still arriving
        return payloads

    def _finish_partial(self, data: bytes, payloads: list[bytes]) -> int:
        """Complete the frame kept from earlier reads with the start of ``data``; return how
        many bytes of ``data`` that used. The buffer is empty afterwards unless it still waits."""
        buffer = self.buffer
        used = 0
        if len(buffer) < HEADER_BYTES:
            used = min(HEADER_BYTES - len(buffer), len(data))
            buffer += data[:used]
            if len(buffer) < HEADER_BYTES:
                return used
        (length,) = HEADER.unpack_from(buffer)
        if length > self.max_frame_bytes:
            raise FrameError(f"frame header announces {length} bytes; the limit is {self.max_frame_bytes}")
        missing = HEADER_BYTES + length - len(buffer)
        with memoryview(data) as view:
            buffer += view[used : used + missing]
        if len(buffer) < HEADER_BYTES + length:
            return len(data)
        with memoryview(buffer) as view:
            payloads.append(view[HEADER_BYTES:].tobytes())
        buffer.clear()
        return used + missing
