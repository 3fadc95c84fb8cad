"""redraw.py: when the full screen draws. Pure: it decides, screen.py draws.

A change to the transcript or the input line is drawn at once, once per batch of events however
many lines came. A change to the status line alone (the turn, who is here, a transfer's progress)
is drawn at most STATUS_DRAWS_PER_SECOND times a second, and a status line that changes by itself
(a typing hint running out, a mute ending, a stalled transfer's count) tells the loop when to
come back (``next_due``): an idle chat never wakes up.
"""

from __future__ import annotations

import time

from .. import session_social as social
from ..files import Progress
from ..session import Session

STATUS_DRAWS_PER_SECOND = 10  # how often a status line that changes by itself is redrawn


class Redraws:
    """The status line last drawn, and when; ``due``: when a held-back status change must be drawn."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._last_status = ""
        self._last_draw = 0.0  # time.monotonic() of the last draw
        self.due: float | None = None  # when a held-back status change must be drawn

    def _now(self) -> float:
        return self.session.clock()  # type: ignore[operator]

    def draw_now(self, status: str, dirty: bool) -> bool:
        """Draw now? ``status``: the status line's text as it would be drawn; ``dirty``: more than
        the status line changed."""
        if status == self._last_status:
            self.due = None
        elif not dirty:
            # Only the status line changed (the turn, who is here, a transfer's progress). A
            # transfer's speed changes with every chunk, and a draw per chunk would slow a
            # download to a tenth: so status-only changes are drawn at most STATUS_DRAWS_PER_SECOND
            # times a second; next_due() tells the loop when to come back for the last one.
            now = time.monotonic()
            due = self._last_draw + 1.0 / STATUS_DRAWS_PER_SECOND
            if now < due:
                self.due = due
                return False
            dirty = True
        if dirty:
            self._last_status = status
            self.due = None
            self._last_draw = time.monotonic()
        return dirty

    def next_due(self) -> float | None:
        """Seconds until a held-back status line must be drawn (the loop's select timeout), or
        None when nothing waits: an idle chat never wakes up."""
        waits = []
        if self.due is not None:
            waits.append(self.due - time.monotonic())
        typing_ends = social.typing_expires(self.session)
        if typing_ends is not None:  # "bob is typing..." goes away by itself
            waits.append(typing_ends - self._now() + 0.05)
        mute_ends = self.session.mute_ends_at()
        if mute_ends is not None:  # so does "muted until 10:42"
            waits.append(mute_ends - self._now() + 0.05)
        if social.sending_check_due(self.session):  # "sending notes.pdf to 5" comes and goes by itself
            waits.append(social.SENDING_CHECK_SECONDS)
        for transfer in self.session.progress.values():  # a transfer no byte moves for says "stalled 4 s", counting
            if isinstance(transfer, Progress) and (redraw_in := transfer.redraw_in()) is not None:
                waits.append(redraw_in)
        if not waits:
            return None
        return max(0.0, min(waits))
