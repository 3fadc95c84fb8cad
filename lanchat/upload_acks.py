"""upload_acks.py: how far each upload has gone, counted by what the server's end acknowledged. Pure.

A /send's pieces go into the client's own buffer, then the kernel's send buffer, then over the
link. Counted as each piece was handed over, the status line showed movement that never happened:
bob's link was cut mid /send, and his status line went from ``stalled 6 s`` back to
``37% 1019.9 KiB/s`` because his kernel's buffer took another piece. So each piece's place in
the stream of upload bytes is noted (``handed``), and an upload has gone as far as its last piece
wholly behind what the far end took: every upload byte handed over less the backlog the loop
reports (transport.unacknowledged_bytes plus its own unwritten buffer). The backlog may hold a
chat line or a frame's header too, so this never counts more than went, at most a little less.
"""

from __future__ import annotations

from collections import deque


class UploadAcks:
    """Pieces handed over, per upload id, as (upload bytes handed so far in all, that upload's
    file bytes sent with it); ``taken`` says how far each has gone by now."""

    def __init__(self) -> None:
        self.handed_bytes = 0  # upload bytes handed to the connection, all uploads together
        self.marks: dict[str, deque[tuple[int, int]]] = {}

    def handed(self, file_id: str, wire_bytes: int, sent: int) -> None:
        """A piece of upload ``file_id`` taking ``wire_bytes`` went out; ``sent``: its file bytes handed so far."""
        self.handed_bytes += wire_bytes
        self.marks.setdefault(file_id, deque()).append((self.handed_bytes, sent))

    def taken(self, backlog: int) -> dict[str, int]:
        """Upload id -> its file bytes the far end has taken, for those that moved since the last
        call; ``backlog``: the bytes written and not acknowledged yet (the newest ones)."""
        behind = self.handed_bytes - backlog
        moved: dict[str, int] = {}
        for file_id, marks in self.marks.items():
            while marks and marks[0][0] <= behind:
                moved[file_id] = marks.popleft()[1]
        return moved

    def forget(self, file_id: str) -> None:
        """Upload ``file_id`` is over (all handed over, cancelled, cut off)."""
        self.marks.pop(file_id, None)
