"""wire.py: framing only, bytes <-> frames, and the size limits. Never does I/O.

A frame is a 4-byte big-endian unsigned length, then that many bytes of payload
(docs/PROTOCOL.md section 2). TCP and AF_UNIX stream sockets deliver a byte stream,
not messages: one recv() may hold half a frame or several frames, so the decoder
keeps whatever is left over until the rest arrives.
"""

from __future__ import annotations

import json
import struct
from typing import Any

HEADER = struct.Struct(">I")
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
    if len(payload) > MAX_FRAME_BYTES:
        raise FrameError(f"payload of {len(payload)} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    return HEADER.pack(len(payload)) + payload


# Compact separators keep broadcasts small; ensure_ascii=False keeps text as UTF-8 rather than
# \\u escapes. Built once: json.dumps() with options builds a new encoder on every call.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# JSONEncoder.encode() still builds a C encoder object on every call (json/encoder.py,
# iterencode), about half of its time for a chat message. This is the same C encoder with the
# same options, built once. Without circular-reference markers it keeps no state between
# calls (a frame is a small tree of dicts, lists and strings, never circular).
_C_ENCODE = (
    None
    if json.encoder.c_make_encoder is None  # a Python without the _json accelerator
    else json.encoder.c_make_encoder(
        None,
        _JSON_ENCODER.default,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,  # indent
        _JSON_ENCODER.key_separator,
        _JSON_ENCODER.item_separator,
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
)


def encode_json(obj: dict[str, Any]) -> bytes:
    """One JSON object -> one complete frame."""
    if _C_ENCODE is None:
        return frame(_JSON_ENCODER.encode(obj).encode("utf-8"))
    return frame("".join(_C_ENCODE(obj, 0)).encode("utf-8"))


# json.loads() wraps the C scanner in three Python calls and two regex matches, which cost
# more than scanning a short frame does. The scanner alone answers the usual case (a frame
# that is exactly one JSON value); anything else (surrounding whitespace, extra data, not
# JSON at all) goes to json.loads, which accepts or words the error exactly as before.
_SCAN_ONCE = json.JSONDecoder().scan_once


def decode_json(payload: bytes) -> Any:
    """One frame's payload -> the JSON value it holds, as ``json.loads(payload.decode())``.

    Raises UnicodeDecodeError (not UTF-8), ValueError (not JSON) or RecursionError (nested
    too deeply), like json.loads."""
    text = payload.decode("utf-8")
    try:
        value, end = _SCAN_ONCE(text, 0)
    except StopIteration:
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


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

    __slots__ = ("_buffer", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self.max_frame_bytes = max_frame_bytes

    @property
    def pending_bytes(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every payload now complete. Raises FrameError if the
        stream announces a frame over the limit (the stream cannot be resynchronised).

        Each byte is copied once on its way to a payload: whole frames are sliced straight out
        of ``data``, and a frame begun in an earlier read takes only the bytes it still needs.
        """
        payloads: list[bytes] = []
        offset = 0
        buffer = self._buffer
        if buffer:
            offset = self._finish_partial(data, payloads)
            if buffer:
                return payloads  # still waiting for the rest of that frame
        end = len(data)
        limit = self.max_frame_bytes
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
        buffer = self._buffer
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
