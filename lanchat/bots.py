"""bots.py: runs a bot as an ordinary room member over a socketpair. The bot speaks only the real protocol.

A bot is a client like any other: the server adopts one end of a socketpair (marked as a
service, so the room does not count it as a person: docs/PROTOCOL.md, Extensions) and the
bot's thread speaks the protocol on the other end with its own ``Connection``. The thread
owns only I/O: what to say comes from the pure ``ColourBot`` (colourbot.py).

The bot never floods the room: every reply is a direct message (``whisper``) to the one
person it concerns. Room messages are heard only from someone alone with the bot, which
is how seed 000's single client talks to it without any command.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

from . import events as ev
from .client import JoinError, join
from .colourbot import ColourBot
from .protocol import Connection, ConnectionClosed, LocalProtocolError, RemoteProtocolError
from .stopsignals import start_thread
from .transport import local_pair

READ_BYTES = 64 * 1024
JOIN_TIMEOUT = 15.0


class BotRunner:
    """One bot's connection and thread. ``start()`` joins in the background; ``stop()`` waits."""

    def __init__(self, bot: ColourBot, sock: socket.socket, *, log: Callable[[str], None] | None = None) -> None:
        self.bot = bot
        self.sock = sock
        self.log = log or (lambda line: None)
        self.name = bot.name  # the room may hand back a different name if ours was taken
        self.people: list[str] = []  # everyone here but the bot, in join order
        self.proto: Connection | None = None
        self.joined = threading.Event()
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._run, name=bot.name, daemon=True)

    def start(self) -> BotRunner:
        start_thread(self.thread)  # with the stop signals blocked in it: they are the main thread's
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close our end (the server sees the bot leave) and wait for the thread."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout)

    # ---------------------------------------------------------------- the loop

    def _run(self) -> None:
        try:
            self._join_and_serve()
        except Exception as exc:  # noqa: BLE001 - a broken bot must not take the server down
            self.log(f"{self.name} stopped: {exc}")
        finally:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.finished.set()

    def _join_and_serve(self) -> None:
        try:
            proto, welcome, early = join(self.sock, self.bot.name, ask_name=self._another_name(), timeout=JOIN_TIMEOUT)
        except JoinError as exc:
            self.log(f"{self.bot.name} could not join: {exc}")
            return
        self.proto = proto
        self.sock.settimeout(None)  # blocking reads: this thread has nothing else to do
        self.joined.set()
        if not self._handle([welcome, *early]):
            return
        while True:
            try:
                data = self.sock.recv(READ_BYTES)
            except OSError:
                data = b""
            try:
                proto.receive_data(data)
            except RemoteProtocolError as exc:
                self.log(f"{self.name}: {exc.message}")
                return
            if not self._handle(proto.events()):
                return

    def _another_name(self) -> Callable[[str], str | None]:
        """If a person already took our name: colourbot2, colourbot3, ... then give up."""
        numbers = iter(range(2, 10))

        def ask(reason: str) -> str | None:
            number = next(numbers, None)
            return f"{self.bot.name}{number}" if number is not None else None

        return ask

    def _handle(self, events: list[object]) -> bool:
        """React to server events; False once the connection is over."""
        for event in events:
            if isinstance(event, (ConnectionClosed, ev.Shutdown)):
                return False
            if getattr(event, "history", False):
                continue  # a replay of what was said before the bot came: nothing to answer now
            if isinstance(event, ev.Welcome):
                self.name = event.name
                self.bot.room_closes = event.once
                self.people = [m for m in event.members if m != event.name]
                for person in self.people:  # whoever was here before the bot (the host, say)
                    self._reply(person, self.bot.greet(person, alone=len(self.people) == 1))
            elif isinstance(event, ev.Joined):
                self.people.append(event.name)
                self._reply(event.name, self.bot.greet(event.name, alone=len(self.people) == 1))
            elif isinstance(event, ev.Left):
                if event.name in self.people:
                    self.people.remove(event.name)
                self.bot.forget(event.name)
            elif isinstance(event, ev.Direct):
                if event.sender != self.name and ev.name_key(event.to) == ev.name_key(self.name):
                    self._reply(event.sender, self.bot.hear(event.sender, event.text))
            elif isinstance(event, ev.Message):
                # A room message reaches the bot only from someone alone with it; with more
                # people the room is theirs, and they talk to the bot with /mood, /y, /n.
                if event.sender != self.name and self.people == [event.sender]:
                    self._reply(event.sender, self.bot.hear(event.sender, event.text, direct=False))
            elif isinstance(event, ev.Error) and event.fatal:
                return False
        return True

    def _reply(self, person: str, replies: list[str]) -> None:
        if not replies or self.proto is None:
            return
        data = bytearray()
        try:
            for text in replies:
                data += self.proto.send(ev.Whisper(to=person, text=text))
        except LocalProtocolError:
            return  # closing: nothing more can be said
        with contextlib.suppress(OSError):  # the server went away; the next read ends the loop
            self.sock.sendall(data)


def start_colour_bot(
    add_local: Callable[..., int],
    *,
    seed: int | None = None,
    fake: object = None,
    log: Callable[[str], None] | None = None,
) -> BotRunner:
    """Make a colour bot and put it in the room through ``add_local`` (``Server.add_local``).

    Raises ImportError when faker is missing; the caller turns that into one clear line.
    """
    bot = ColourBot(fake, seed=seed)
    bot_end, server_end = local_pair()
    add_local(server_end, service=True)
    return BotRunner(bot, bot_end, log=log).start()
