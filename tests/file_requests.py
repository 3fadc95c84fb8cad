"""file_requests.py: what the file-transfer tests share: request ids (PROTOCOL.md, Request ids) and
a server-side file store with people in a room, driven with no socket."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from lanchat import events as ev
from lanchat.actions import Send
from lanchat.room import Room
from lanchat.server_files import ServerFiles


def sans_req(found: object) -> object:
    """An event (or a list of them) with its request id left out: what a test that is not about
    request ids compares (test_files_requests checks them)."""
    if isinstance(found, list):
        return [sans_req(one) for one in found]
    return replace(found, req=None) if hasattr(found, "req") else found  # type: ignore[type-var]


@contextlib.contextmanager
def store_and_room(folder: Path, people: tuple[tuple[int, str], ...] = ((1, "ann"), (2, "bob"))) -> Iterator[tuple[ServerFiles, Room]]:
    """A file store in ``folder`` and a room where each (connection id, name) has said hello from
    one address; the store is closed after."""
    store = ServerFiles(folder)
    room = Room()
    for cid, name in people:
        room.moderation.arrive(cid, "192.168.1.10")
        room.handle(cid, ev.Hello(name=name))
    try:
        yield store, room
    finally:
        store.close()


def stored_offer(store: ServerFiles, room: Room, data: bytes, ref: int, name: str, owner: int = 1) -> str:
    """``owner`` offers ``data`` as ``name`` and uploads it whole: the offer's id."""
    (ready,) = [a.event for a in store.handle(room, owner, ev.OfferFile(ref=ref, name=name, size=len(data))) if isinstance(a, Send)]
    assert isinstance(ready, ev.UploadReady)
    store.handle(room, owner, ev.UploadBytes(id=ready.id, data=data))
    store.handle(room, owner, ev.UploadDone(id=ready.id, sha256=hashlib.sha256(data).hexdigest()))
    return ready.id
