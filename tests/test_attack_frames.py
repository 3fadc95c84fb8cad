"""Frames made to be costly to read, from the attacker's side: a joined member sends frames the
server accepts (a typing hint ignores fields it does not know) but that cost it far more than
their size says. The room must go on at its usual pace. Real sockets on loopback.
"""

from __future__ import annotations

import json
import time

import pytest
from helpers import RawClient, running_server

from lanchat import events as ev
from lanchat.wire import frame

pytestmark = pytest.mark.timeout(60)


def _typing_padded_with(values: list[object]) -> bytes:
    return frame(json.dumps({"type": "typing", "pad": values}, separators=(",", ":")).encode())


def test_typing_hints_padded_with_huge_numbers_do_not_stall_the_room():
    """A typing hint is not flood-counted and may carry fields the server does not know. msgspec
    reads a number written with an exponent of 289 or more (1e300) some 300 times slower than
    any other (7 us each): 60 hints padded with 8,000 of them (56 KiB each, 3.4 MB in all) held
    the server's one loop for about 3 s, the whole room's lines with it. Such a frame is read by
    the json module now (2 ms), with the same values."""
    with running_server(limits=True) as (_server, endpoint):
        ann, mallory = RawClient(endpoint, "ann"), RawClient(endpoint, "mallory")
        hint = _typing_padded_with([1e300] * 8000)
        began = time.monotonic()
        mallory.send_raw(hint * 60)
        mallory.send(ev.Say(text="done"))
        mallory.expect(ev.Message, text="done")
        held = time.monotonic() - began
        assert held < 1.0, f"60 padded typing hints held the room for {held:.2f} s"
        ann.expect(ev.Message, text="done")
        ann.send(ev.Say(text="still here"))
        mallory.expect(ev.Message, text="still here")
