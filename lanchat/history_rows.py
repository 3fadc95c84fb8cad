"""history_rows.py: which rows read from a history file lanchat can use. Pure: values in, yes or no out.

SQLite keeps whatever a column is given (a declared REAL takes 'abc', a TEXT takes a blob),
and a history file is only a file: edited by hand, written by another program, damaged. A row
lanchat never wrote would crash the reader (a time of 'abc' or 1e300 cannot be formatted) or
go out in a frame no client accepts (a 100,000-character name is over the frame limit, and a
time of infinity is JSON's null): the room could not be joined at all. So every row read is
held to what lanchat writes: the wire's types, times a clock can show (PROTOCOL.md, Ranges of
numbers), names and texts within the limits (PROTOCOL.md 5). The store (history.py) leaves out
a row that fails and counts it; what a row means stays the room's business.
"""

from __future__ import annotations

from . import events as ev
from .identity import PUBLIC_KEY_BYTES  # an Ed25519 public key: what the owners table holds

# A name key (names.name_key) or a key fingerprint: NFKC may make a name longer (U+FDFA is 18 letters).
MAX_KEY_CHARS = 1024


def is_text(value: object, limit: int, *, null: bool = False) -> bool:
    """A string of at most ``limit`` characters (None too, with ``null``)."""
    if value is None:
        return null
    return isinstance(value, str) and len(value) <= limit


def is_name(value: object, *, null: bool = False) -> bool:
    """A name as the room gives them: not empty, at most MAX_NAME_CHARS characters."""
    return is_text(value, ev.MAX_NAME_CHARS, null=null) and value != ""


def is_time(value: object, *, null: bool = False) -> bool:
    """Seconds since the epoch that a clock can show (NaN fails every comparison)."""
    if value is None:
        return null
    return isinstance(value, (int, float)) and 0.0 <= value <= ev.MAX_TIME


def is_id(value: object) -> bool:
    return isinstance(value, int) and 0 <= value <= ev.MAX_WIRE_INT


def message_ok(row: tuple) -> bool:
    """(id, time, sender, recipient, text) of the messages table (a row read may go on: whether it
    is a /me, which SQLite computes). Asked of every row a replay or an export reads, so the usual
    row (a float time, str names and text) is answered inline: 0.33 us a row instead of 0.89
    through the helpers above (200,000 rows of an export)."""
    id_, time, sender, to, text = row[:5]
    if type(time) is not float or type(sender) is not str or type(text) is not str:
        return is_id(id_) and is_time(time) and is_name(sender) and is_name(to, null=True) and is_text(text, ev.MAX_TEXT_CHARS)
    return (
        0.0 <= time <= ev.MAX_TIME and 0 < len(sender) <= ev.MAX_NAME_CHARS and len(text) <= ev.MAX_TEXT_CHARS
        and (to is None or (type(to) is str and 0 < len(to) <= ev.MAX_NAME_CHARS)) and type(id_) is int and 0 <= id_ <= ev.MAX_WIRE_INT
    )  # fmt: skip


def ban_ok(row: tuple) -> bool:
    """(id, name, name_key, key, address, by_name, reason, time) of the bans table."""
    id_, name, name_key, key, address, by, reason, time = row
    return (
        is_id(id_) and is_name(name) and is_text(name_key, MAX_KEY_CHARS)
        and is_text(key, MAX_KEY_CHARS, null=True) and is_text(address, MAX_KEY_CHARS, null=True)
        and is_name(by) and is_text(reason, ev.MAX_REASON_CHARS) and is_time(time)
    )  # fmt: skip


def mute_ok(row: tuple) -> bool:
    """(id, name, name_key, key, address, until, by_name, reason) of the mutes table."""
    id_, name, name_key, key, address, until, by, reason = row
    return ban_ok((id_, name, name_key, key, address, by, reason, 0.0)) and is_time(until, null=True)


def operator_ok(row: tuple) -> bool:
    """(key, name) of the operators table: a key fingerprint and the name it had."""
    key, name = row
    return is_text(key, MAX_KEY_CHARS) and key != "" and is_name(name)


def topic_from(value: object) -> ev.Topic | None:
    """The settings table's ``topic`` (JSON: text, by, time) as the room's topic; None if it is not
    as lanchat writes it (a topic over MAX_TOPIC_CHARS, a name that is none, a time no clock shows)."""
    import json

    try:
        fields = json.loads(value) if isinstance(value, str) else None
    except (ValueError, RecursionError):  # a hand edit, or nested past any sense
        return None
    if not isinstance(fields, dict):
        return None
    text, by, time = fields.get("text"), fields.get("by"), fields.get("time")
    if not (is_text(text, ev.MAX_TOPIC_CHARS) and text and is_name(by) and is_time(time)):
        return None
    return ev.Topic(text=text, by=by, time=float(time))  # type: ignore[arg-type]


def seen_ok(row: tuple) -> bool:
    """(name, last_seen) of the names table."""
    name, last_seen = row
    return is_name(name) and is_id(last_seen)


def owner_ok(row: tuple) -> bool:
    """(key or name, public_key) of the owners table."""
    name, public_key = row
    return is_text(name, MAX_KEY_CHARS) and isinstance(public_key, bytes) and len(public_key) == PUBLIC_KEY_BYTES


def act_ok(row: tuple) -> bool:
    """(time, action, by_name, name, reason, minutes, mode) of the acts table."""
    time, action, by, name, reason, minutes, mode = row
    return (
        is_time(time) and action in ev.MOD_ACTIONS and is_name(by) and is_name(name, null=True)
        and is_text(reason, ev.MAX_REASON_CHARS, null=True) and (minutes is None or is_id(minutes))
        and is_text(mode, 10, null=True)
    )  # fmt: skip
