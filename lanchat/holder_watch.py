"""holder_watch.py: whose link the server watches closely: the turn holder's. Pure; the loop sets the sockets.

In a turn-based room the whole class waits on the holder. A holder whose laptop lid closed, or
whose Wi-Fi went, sends no FIN: TCP's usual keepalive (transport.set_keepalive) gives such a
peer a minute, and for that minute everyone read 'not your turn yet (waiting for bob)' and /who
said 'bob (turn)' of a laptop that was gone. The holder's connection is watched with
transport.HOLDER_KEEPALIVE instead: a link that carries nothing for HOLDER_KEEPALIVE's seconds
is ended and the turn moves on as after any lost connection (room.py). A holder who is there,
thinking or typing, costs one small probe every 2 s of quiet, which their kernel answers in
milliseconds; a Wi-Fi hiccup shorter than the limit costs nothing. When the turn moves on,
the previous holder's connection goes back to the usual keepalive.
"""

from __future__ import annotations


class HolderWatch:
    """The connection watched as the turn holder's. Each pass the loop gives ``changes`` the
    holder now (None: nobody holds it, or the room is not turn-based) and sets each socket it
    names: (cid, True) to the holder's keepalive, (cid, False) back to the usual one."""

    def __init__(self) -> None:
        self.watched: int | None = None

    def changes(self, holder: int | None) -> list[tuple[int, bool]]:
        if holder == self.watched:
            return []
        was, self.watched = self.watched, holder
        return [*([(was, False)] if was is not None else []), *([(holder, True)] if holder is not None else [])]
