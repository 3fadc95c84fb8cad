"""textview.py: what a text participant (nc, telnet) reads: each server event as one plain line,
every name and text passed through textsafe.visible, so no byte from another participant can
drive their terminal (docs/PROTOCOL.md, Text participants). Pure: never touches a socket.

textline.py turns their lines into events; this words the room's events for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from . import events as ev
from .textsafe import visible


def clock_stamp(when: float) -> str:
    """``12:00``: the server's local time of a message."""
    return time.strftime("%H:%M", time.localtime(when))


class TextView:
    """One text participant's reading of the room."""

    def __init__(self, stamp: Callable[[float], str] = clock_stamp) -> None:
        self.stamp = stamp
        self.name: str | None = None  # theirs, from the welcome

    def describe(self, event: ev.Event) -> str | None:
        """One server event as the line this participant reads (without its line end); None for
        what is not for them. Learns what later lines need from it (a welcome: their name)."""
        if isinstance(event, ev.Welcome):
            self.name = event.name
        me = self.name
        if isinstance(event, ev.Welcome):
            others = [visible(n) for n in event.members if n != event.name]
            here = f"here: {', '.join(others)}" if others else "nobody else is here yet"
            mode = ""
            if event.mode == "turn":
                whose = "yours" if event.turn == event.name else f"{visible(event.turn)}'s" if event.turn else "nobody's yet"
                mode = f"; turn-based, the turn is {whose}"
            return f"* welcome, {visible(event.name)}! {here}{mode}. /help lists the commands"
        if isinstance(event, ev.Message):
            earlier = "[History] " if event.history else ""
            return f"{earlier}[{self.stamp(event.time)}] {visible(event.sender)}: {visible(event.text)}"
        if isinstance(event, ev.Direct):
            earlier = "[History] " if event.history else ""
            sender = "you" if event.sender == me else visible(event.sender)
            to = "you" if event.to == me else visible(event.to)
            held = " (held until they join)" if event.held else ""
            return f"{earlier}[{self.stamp(event.time)}] {sender} -> {to}: {visible(event.text)}{held}"
        if isinstance(event, ev.Joined):
            return None if event.name == me else f"* {visible(event.name)} joined"
        if isinstance(event, ev.Left):
            why = {"lost": " (connection lost)", "dropped": " (too slow)"}.get(event.reason, "")
            return f"* {visible(event.name)} left{why}"
        if isinstance(event, ev.Roster):
            muted = event.mute_notes()  # who is muted, and how long for (PROTOCOL.md, Moderation)
            names = [visible(n) + (f" ({muted[ev.name_key(n)]})" if ev.name_key(n) in muted else "") for n in event.members]
            return f"* here: {', '.join(names)}"
        if isinstance(event, ev.Turn):
            if event.holder is None:
                return "* waiting for someone else to join"
            return "* your turn: type a line" if event.holder == me else f"* {visible(event.holder)}'s turn"
        if isinstance(event, ev.Error):
            return f"! {visible(event.message)}"
        if isinstance(event, ev.Shutdown):
            return f"* the chat is closing: {visible(event.reason)}"
        if isinstance(event, ev.Offered) and not event.listing:
            return f"* {visible(event.sender)} offers a file, {visible(event.name)}: join with lanchat to get it"
        return None
