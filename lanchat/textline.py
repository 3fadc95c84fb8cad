"""textline.py: a text participant (nc, telnet, a ten-line socket program) as a lanchat connection. Never touches a socket.

A connection whose first byte is not 0 cannot be a lanchat frame (every frame header starts
with a zero byte: frames are at most 64 KiB) and is not HTTP, so it is a person typing lines
(docs/PROTOCOL.md, Text participants). ``TextConnection`` has protocol.Connection's shape for the
server's side: bytes in, the same events out (``hello`` from the first line, then ``say``,
``whisper``, ``who``, ``bye``), and each server event rendered as one plain, sanitised line such
as ``[12:00] ann: hello``. Frames already encoded for everyone (a broadcast) are rendered by
``render_frames``. The room cannot tell a text participant from any other: turn mode and every
limit apply as they are.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from . import events as ev
from .actions import SayText
from .gate import TypedHello
from .limits import NAME_ASKED, PASSWORD_ASKED
from .protocol import ConnectionClosed, LocalProtocolError, State, encode
from .textsafe import visible
from .wire import FrameDecoder, FrameError, is_binary, looks_like_http
from .wording import ALIASES, NOTICE_MARK, as_command, closest_command, is_quit

if TYPE_CHECKING:  # handed in, never imported to use
    from .hub import Hub
    from .textview import TextView

class _Reply(NamedTuple):
    """What a text participant's line reader answers by itself, queued among the lines' events."""

    data: bytes


MAX_LINE_BYTES = 4 * ev.MAX_TEXT_CHARS + 64  # a whole message in any UTF-8, plus "/w NAME "
MAX_HELD_LINES = 64  # lines typed ahead while the name is being checked
IAC, SB, SE = 0xFF, 0xFA, 0xF0  # telnet's "interpret as command", subnegotiation begin and end

HELP = (
    "type a line and press Enter to send it to everyone",
    "/w NAME TEXT   a direct message only NAME sees",
    "/who           who is here",
    "/pass          in turn mode: give up your turn, with nothing to say",
    "/q             leave",
)

# every command a text participant may type (_line), what a mistyped one is compared with; and
# their other spellings, as lanchat's screen takes them (wording.ALIASES: /msg, /quit, /clients)
_OWN_COMMANDS = ("/w", "/who", "/pass", "/help", "/q")
TEXT_COMMANDS = (*_OWN_COMMANDS, *(alias for alias, meant in ALIASES.items() if meant in _OWN_COMMANDS))

# lanchat's commands that have no line at nc (the lanchat program's screen, or a frame only it
# sends): an nc student who typed the /get the room's offer named, or the /me a classmate used,
# read "unknown command /get; /help lists them", as if it were a typo. They are told it is
# lanchat's instead (not_here_words); the files ones, that files do not come to nc.
FILE_COMMANDS = ("/send", "/files", "/get", "/cancel")
LANCHAT_ONLY = (*FILE_COMMANDS, "/me", "/nick", "/away", "/back", "/topic", "/r", "/whois", "/address",
                "/release", "/history", "/mood", "/y", "/n", "/say", "/unsend", "/ignore", "/unignore", "/joins",
                "/projector", "/kick", "/ban", "/unban", "/bans", "/admit", "/mute", "/unmute", "/op", "/deop",
                "/mode", "/restrict", "/unrestrict", "/clear", "/mouse", "/find", "/save")  # fmt: skip

# The last line before the room closes a text participant's connection: ncat notices the close
# only when it next reads its input, so without it a student removed or at the end of the
# lesson sits at a silent nc, and the next command typed goes into it ("Ncat: Broken pipe").
CLOSED = f"{NOTICE_MARK} disconnected: the room closed this connection (Ctrl-C ends nc)"


def not_here_words(command: str) -> str:
    """What a text participant reads for a command nc has not: one of lanchat's (LANCHAT_ONLY),
    the program it needs and what nc has; else unknown, with the closest real one. Within nc's
    80 columns with the ``! `` before it."""
    if command in FILE_COMMANDS:
        return f"{command} needs lanchat: files do not come to nc (join with lanchat connect)"
    if command in LANCHAT_ONLY:
        return f"{command} needs lanchat; at nc: /w NAME TEXT, /who, /pass, /q and /help"
    guess = closest_command(command, TEXT_COMMANDS)
    # "did you mean" in place of "/help lists them": the line stays within nc's 80 columns
    hint = f"did you mean {guess}?" if guess else "/help lists them"
    return f"unknown command {command}; {hint} (start a line with // to send a /)"


def opening_kind(first: bytes) -> str | None:
    """What a stream's first bytes are: "frame" (lanchat), "http" (a browser), "text" (a person:
    it opens with a printable character, a line end, a UTF-8 lead byte or telnet's IAC), or
    None while too few have come to tell (under 4 bytes and no line end yet)."""
    if not first:
        return None
    lead = first[0]
    if lead == 0:
        return "frame"  # a frame header: lengths are below 64 KiB, so its first byte is 0
    if not (lead in b"\t\r\n" or 0x20 <= lead <= 0x7E or 0xC2 <= lead <= 0xF4 or lead == IAC):
        return "frame"  # neither text nor telnet: a broken frame header, refused as one
    if len(first) >= 4:
        return "http" if looks_like_http(first[:4]) else "text"
    return "text" if b"\n" in first or b"\r\0" in first else None  # a line's end (LineEnds)


class TextDoor:
    """Puts text participants into a running server: between the loop's reads and the hub, it
    tells each newcomer's first bytes apart and, for a person, swaps the connection's protocol
    for a TextConnection whose frames the outbox renders as lines. The hub and the room are
    unchanged: they see the same events from everyone.

    It never speaks first: a lanchat client (or a student's hand-written one) may take its time
    to send ``hello``, and a greeting would be garbage to it. A person at nc is asked their name
    as soon as they press Enter (docs/PROTOCOL.md, Text participants)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.opening: dict[int, bytes] = {}  # undecided connections -> their first bytes so far
        self.decoded = DecodedFrames()  # shared by every text participant: a broadcast decoded once

    def open(self, cid: int) -> None:
        """A connection from the network (the host's and the bots' sockets speak frames)."""
        self.opening[cid] = b""

    def receive_data(self, cid: int, data: bytes) -> None:
        """The loop's bytes from ``cid``, on their way to ``hub.receive_data``."""
        if cid in self.opening and data:
            first = self.opening[cid] + data
            kind = opening_kind(first)
            if kind is None:
                self.opening[cid] = first  # under 4 bytes and no line end yet: wait
                return
            del self.opening[cid]
            data = first
            if kind == "text":
                self.let_in(cid)
        self.hub.receive_data(cid, data)

    def let_in(self, cid: int) -> None:
        """From now on ``cid`` is a person typing lines."""
        peer = self.hub.peers.get(cid)
        if peer is None or peer.closing or isinstance(peer.proto, TextConnection):
            return
        outbox = self.hub.outbox
        gate = self.hub.room.gate
        # a password room asks for it after the name; with TLS (gate.binding) it is not in the clear
        text = TextConnection(
            say=lambda data: self.hub.perform([SayText(to=cid, data=data)]),  # after what earlier lines caused
            password=gate.asks_typed_password, encrypted=bool(gate.binding),
            decoded=self.decoded,
            prompted=lambda: self.asked(cid, PASSWORD_ASKED),  # time to type it
        )
        peer.proto = text  # type: ignore[assignment]
        self.hub.room.text_cids.add(cid)  # welcome, joined and roster say so (PROTOCOL.md, Text participants)
        outbox.speak_text(cid, text.render_frames)
        outbox.queue_text(cid, text.greeting())
        self.asked(cid, NAME_ASKED)
        self.hub.log(f"{peer.address}: typing lines, not lanchat frames: a text participant")

    def asked(self, cid: int, question: str) -> None:
        """``cid``'s person was asked ``question`` ("name: ", "password: "): they have a person's
        time to answer it from now, as one asked for the room's password has (limits.Deadlines.prompted;
        gate.PromptTimes, which counts the prompts left unanswered against their address). The 20 s
        from connecting ran out while a student at nc thought of a name, and a script that never
        presses Enter is still cut then (docs/PROTOCOL.md, Abuse limits: Deadlines)."""
        seconds = self.hub.room.gate.prompts.seconds(cid, typing=True)
        self.hub.deadlines.per_connection.prompted(cid, self.hub.clock(), seconds, question=question)

    def forget(self, cid: int) -> None:
        self.opening.pop(cid, None)


class DecodedFrames:
    """The events in the last run of whole frames decoded for text participants.

    A broadcast reaches every text participant as the very same bytes object (outbox.py joins
    a pass's broadcasts once and hands that object to each one's ``render_frames``), so it is
    decoded (JSON, then an event) once and each participant only renders the events its own
    way. Keyed by identity: the bytes object is held here, so it cannot be freed and another
    take its place, and bytes never change, so an identical object always decodes the same.
    Only whole frames are cached; a run that ends inside a frame goes the per-connection way."""

    def __init__(self) -> None:
        self._data: bytes | None = None
        self._events: list[ev.Event] = []
        self.decodes = 0  # how many runs were decoded (for tests and bench/textline_bench.py)

    def whole(self, data: bytes) -> list[ev.Event] | None:
        """The server events in ``data``, or None when it does not hold whole frames only."""
        if data is self._data:
            return self._events
        frames = FrameDecoder()
        try:
            payloads = frames.feed(data)
        except FrameError:
            return None
        if frames.pending_bytes:
            return None
        self.decodes += 1
        self._data, self._events = data, [e for e in map(_server_event, payloads) if e is not None]
        return self._events


def _server_event(payload: bytes) -> ev.Event | None:
    """One frame's payload as a server event; None for a piece of a file (only lanchat clients
    download) or anything that does not decode."""
    if is_binary(payload):
        return None
    try:
        return ev.event_from_json(json.loads(payload), ev.SERVER_EVENTS)
    except (ValueError, ev.EventShapeError, RecursionError):
        return None


def _text_view(stamp: Callable[[float], str] | None, today: Callable[[], float]) -> TextView:
    """What a text participant reads (textview.py, its words as lanchat's screen words them),
    imported with the first one: an idle server does not load it (bench/idle_memory.py)."""
    from .textview import TextView, clock_stamp

    return TextView(stamp or clock_stamp, today)


class LineEnds:
    """A person's bytes cut into whole lines (PROTOCOL.md, Text participants): a line ends at LF,
    a CR before it dropped, or at CR NUL, telnet's carriage return alone (RFC 854's NVT: some
    telnet clients send it for Enter); a CR by itself ends nothing, as its LF may come in the
    next read. A line over MAX_LINE_BYTES is dropped up to its end (None in its place)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skipping = False  # inside a line that grew past MAX_LINE_BYTES: dropped up to its end
        self._cr_last = False  # the last read ended in CR: a NUL first in the next ends the line

    @property
    def mid_line(self) -> bool:
        """Some of a line has come, not its end (a close now is not a clean goodbye)."""
        return bool(self._buffer) or self._skipping

    def split(self, data: bytes) -> list[str | None]:
        """The whole lines in ``data`` (with what came before), None where a line too long was dropped."""
        if self._cr_last and data.startswith(b"\0"):
            data = b"\n" + data[1:]  # CR NUL cut between two reads
        self._cr_last = data.endswith(b"\r")
        data = data.replace(b"\r\0", b"\r\n")  # the CR is dropped with the line's end, as before an LF
        lines: list[str | None] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            if self._skipping:
                if end >= 0:
                    self._skipping = False
            elif len(self._buffer) + len(piece) > MAX_LINE_BYTES:
                self._buffer.clear()
                self._skipping = end < 0
                lines.append(None)
            else:
                self._buffer += piece
                if end >= 0:
                    raw = bytes(self._buffer).rstrip(b"\r")
                    self._buffer.clear()
                    lines.append(raw.decode("utf-8", "replace"))
            if end < 0:
                return lines
            start = end + 1


class TextConnection:
    """One text participant, seen from the server. Same calls as protocol.Connection(Role.SERVER),
    plus ``take_output()`` for what it answers by itself (prompts, /help, a line too long)."""

    def __init__(
        self,
        *,
        stamp: Callable[[float], str] | None = None,  # (textview.clock_stamp)
        today: Callable[[], float] = time.time,
        room: str | None = None,
        say: Callable[[bytes], None] | None = None,
        password: bool = False,
        encrypted: bool = False,
        decoded: DecodedFrames | None = None,
        prompted: Callable[[], None] | None = None,
    ) -> None:
        # ``prompted`` is called when "password: " is asked (the hub gives a person time to type it);
        # ``decoded`` is shared with the other text participants (TextDoor's): one decode per broadcast
        self._decoded = decoded if decoded is not None else DecodedFrames()
        # ``say`` writes what it answers by itself (prompts, /help, a line too long); else kept for take_output()
        self._say = say or self._output_append
        self.state = State.HANDSHAKE
        self.peer_closed = False
        self.slow_bytes = 0  # what the guard charges for frames read the slow way (protocol.Connection's): lines never are
        self.view = _text_view(stamp, today)  # what they read, worded as lanchat's screen words it
        self._room = room
        self._lines = LineEnds()  # their bytes, cut into lines
        self._pending: list[object] = []
        self._held: deque[str] = deque()  # lines typed while the server checks the name
        self._asked_name = False  # a hello is out and unanswered
        self._output = bytearray()
        self._telnet = 0  # where we are in a telnet command being skipped
        self._prompted = False  # "name: " is on their screen, unanswered
        self._frames = FrameDecoder()
        self._password_room = password  # ask for the room password after the name
        self._encrypted = encrypted  # TLS: the password is not in the clear (no warning)
        self._name_typed: str | None = None  # the name, while "password: " waits for its answer
        self._password: str | None = None  # as typed; kept for another name after a refused one
        self._on_prompt = prompted or (lambda: None)
        self._reset = False  # the end about to come is a reset or a read error, not a close
        self._end: object | None = None  # how the stream ended (Bye or ConnectionClosed), once the rest is out

    # ------------------------------------------------------------ what it says itself

    def greeting(self) -> bytes:
        """The first thing a text participant sees: what this is and what to type."""
        where = f" ({visible(self._room)})" if self._room else ""
        self._prompted = True  # an Enter pressed to wake us needs no second "name: "
        return _lines(f"lanchat{where}: a chat room. Type your name and press Enter.", prompt="name: ")

    def _output_append(self, data: bytes) -> None:
        self._output += data

    def take_output(self) -> bytes:
        """Bytes to write that no server event caused (prompts, /help, refusals made here)."""
        out, self._output = bytes(self._output), bytearray()
        return out

    # ------------------------------------------------------------------ receiving

    def note_reset(self) -> None:
        """The end about to be fed (``b""``) is a reset or a read error: ``lost``, not a goodbye."""
        self._reset = True

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means it closed.

        A close (FIN) right after a whole line is how nc leaves (Ctrl-C, Ctrl-D, a program that
        ends): a goodbye, as a lanchat client's ``bye`` then FIN is (PROTOCOL.md, Text
        participants). A reset, or a close in the middle of a line, is a lost connection."""
        if not data:
            if not self.peer_closed:
                self.peer_closed = True
                broken = self._reset or self._lines.mid_line
                self._end = ConnectionClosed() if broken or self.state is State.CLOSED else ev.Bye()
                self.state = State.CLOSED
            return
        if self.state is State.CLOSED:
            return
        for line in self._lines.split(self._strip_telnet(data)):
            if line is None:
                self._reply_here(f"that line is longer than {MAX_LINE_BYTES} bytes; it was not sent")
            else:
                self._line(line)

    @property
    def partial_frame_bytes(self) -> int:
        """0: the hub's deadline for a frame half sent is for machines. A person's half-typed
        line (telnet sends each key) may take its time; MAX_LINE_BYTES bounds what it holds."""
        return 0

    def next_event(self) -> object | None:
        """The next thing the peer said (ev.Hello, ev.Say, ev.Whisper, ev.Who, ev.Bye or
        ConnectionClosed); None when nothing is waiting. Asked one at a time, as
        protocol.Connection is: lines typed ahead of the welcome come out once it is sent."""
        while True:
            if self.state is State.OPEN:
                while self._held and not self._pending:
                    self._line(self._held.popleft())
            if not self._pending:
                break
            item = self._pending.pop(0)
            if type(item) is not _Reply:
                return item
            self._say(item.data)  # its own answer, after what the lines before it caused
        end, self._end = self._end, None  # the end comes after every line said before it
        return end

    def next_says(self, most: int) -> list[str]:
        """protocol.Connection's short path for ``say`` frames (hub.py, ``Hub.say``): a text
        participant's lines come out of ``next_event`` instead, so this takes nothing."""
        return []

    def events(self) -> list[object]:
        """Everything waiting, in order."""
        out = []
        while (event := self.next_event()) is not None:
            out.append(event)
        return out

    def _strip_telnet(self, data: bytes) -> bytes:
        """Drop telnet's negotiation (IAC ...): telnet may send it before the first line."""
        if IAC not in data and not self._telnet:
            return data
        kept = bytearray()
        for byte in data:
            state = self._telnet
            if state == 0:
                if byte == IAC:
                    self._telnet = 1
                else:
                    kept.append(byte)
            elif state == 1:  # the byte after IAC
                self._telnet = 2 if 0xFB <= byte <= 0xFE else 3 if byte == SB else 0
            elif state == 2:  # the option of WILL/WONT/DO/DONT
                self._telnet = 0
            elif state == 3:  # inside a subnegotiation, up to IAC SE
                self._telnet = 4 if byte == IAC else 3
            else:  # state 4: IAC inside a subnegotiation
                self._telnet = 0 if byte == SE else 3
        return bytes(kept)

    def _line(self, raw: str) -> None:
        line = "".join(ch for ch in raw if ch >= " " or ch == "\t").strip()
        if self.state is State.HANDSHAKE:
            self._handshake_line(raw, line)
            return
        if self.state is State.CLOSED or not line:
            return
        line = as_command(line)  # seed 004's \quit, \clients: as lanchat's screen takes them
        if not line.startswith("/") or line.startswith("//"):
            self._pending.append(ev.Say(text=line[1:] if line.startswith("//") else line))
            return
        command, _, rest = line.partition(" ")
        command = ALIASES.get(command.lower(), command.lower())
        if command == "/q":
            # said before the close: ncat at a terminal stays open after the server closes,
            # and without this line the person is left wondering whether /q did anything
            self._reply(_lines(f"{NOTICE_MARK} you left the chat (the connection is closed)"))
            self._pending.append(ev.Bye())
        elif command == "/who":
            self._pending.append(ev.Who())
        elif command == "/w":
            to, _, text = rest.strip().partition(" ")
            if not to or not text.strip():
                self._reply_here("usage: /w NAME TEXT")
            else:
                self._pending.append(ev.Whisper(to=to, text=text.strip()))
        elif command == "/pass":  # the turn's holder may give it up (PROTOCOL.md, Moderation: pass)
            self._pending.append(ev.Moderate(action="pass", reason=rest.strip() or None))
        elif command == "/restrict" and not rest.strip():  # what an operator turned off: anyone may ask (PROTOCOL.md 7)
            self._pending.append(ev.Moderate(action="restrict"))
        elif command == "/help":
            self._reply(_lines(*HELP))
        else:
            self._reply_here(not_here_words(command))

    def _handshake_line(self, raw: str, line: str) -> None:
        """Before the welcome: the name, then (in a password room) the password, then wait."""
        if self._asked_name:
            if len(self._held) < MAX_HELD_LINES:
                self._held.append(raw)
            return
        if self._name_typed is not None:  # the answer to "password: ", exactly as typed
            if not raw:
                self._say(_lines(prompt="password: "))
                return
            self._password = raw
            self._hello(self._name_typed)
            return
        if not line:
            if not self._prompted:
                self._say(_lines(prompt="name: "))
            self._prompted = False
            return
        if is_quit(line):  # /q, or seed 004's \quit, at "name: ": leaving (\quit was taken for a name)
            self._say(_lines(f"{NOTICE_MARK} you left without joining (the connection is closed)"))
            self._pending.append(ev.Bye())
            return
        if self._password_room and self._password is None:
            self._name_typed = line
            self._say(_lines(*self._password_notice(), prompt="password: "))
            self._on_prompt()
            return
        self._hello(line)

    def _password_notice(self) -> tuple[str, ...]:
        if self._encrypted:
            return ("this room has a password",)
        # each line under 80 columns: nc's terminal (a projector's too) would wrap the rest
        return (
            "this room has a password; typed here, it crosses the network unencrypted:",
            "for a real secret, join with the lanchat client or over TLS",
        )

    def _hello(self, name: str) -> None:
        self._asked_name = True
        self._name_typed = None
        hello = ev.Hello(name=name) if self._password is None else TypedHello(name=name, password=self._password)
        self._pending.append(hello)

    def _say_here(self, text: str) -> None:
        self._say(_lines(f"! {visible(text)}"))

    def _reply(self, data: bytes) -> None:
        """An answer of its own to a line: once chatting, it waits its turn among the lines'
        events (``next_event``), so it comes after what the lines before it caused."""
        if self.state is State.OPEN:
            self._pending.append(_Reply(data))
        else:
            self._say(data)

    def _reply_here(self, text: str) -> None:
        self._reply(_lines(f"! {visible(text)}"))

    # -------------------------------------------------------------------- sending

    def send(self, event: ev.Event) -> bytes:
        """The frame for ``event``, as protocol.Connection.send gives it: the server's outbox
        renders every frame for this connection through ``render_frames``, which moves the state."""
        if self.state is State.CLOSED:
            raise LocalProtocolError(ev.E_BAD_MESSAGE, f"cannot send {event.type!r}: the connection is closed")
        return encode(event)

    def show(self, event: ev.Event) -> bytes:
        """One server event as the text this participant reads; moves the state (a welcome opens
        the chat, a refusal in the handshake asks for the name again, a shutdown closes)."""
        if isinstance(event, ev.Welcome):
            self.state = State.OPEN
        elif isinstance(event, ev.Shutdown) or isinstance(event, ev.Error) and event.fatal:
            self.state = State.CLOSED
            return self.render(event) + _lines(CLOSED)
        elif isinstance(event, ev.Error) and self.state is State.HANDSHAKE:
            self._asked_name = False  # refused: the next line is another try
            self._held.clear()
            return _lines(f"! {visible(event.message)}", prompt="name: ")
        return self.render(event)

    def render_frames(self, data: bytes) -> bytes:
        """Frames encoded for lanchat clients (a broadcast written to everyone) as text lines."""
        events = self._decoded.whole(data) if not self._frames.pending_bytes else None
        if events is None:  # a frame cut across calls, or a broken one: this connection's own decoder
            try:
                payloads = self._frames.feed(data)
            except FrameError:
                self._frames = FrameDecoder()
                return b""
            events = [e for e in map(_server_event, payloads) if e is not None]
        out = bytearray()
        for event in events:
            out += self.show(event) if self.state is not State.CLOSED else b""
        return bytes(out)

    def render(self, event: ev.Event) -> bytes:
        """A server event as the line(s) a text participant reads; b"" for what is not for them."""
        line = self.view.describe(event)
        return _lines(line) if line else b""


def _lines(*lines: str, prompt: str = "") -> bytes:
    """Text lines as a terminal wants them (CRLF, as telnet expects; nc shows it the same)."""
    return ("".join(f"{line}\r\n" for line in lines) + prompt).encode("utf-8")
