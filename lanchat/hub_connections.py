"""hub_connections.py: each connection as the hub sees it, and how one comes and goes. Never touches a socket.

* ``Peer``: one connection's protocol state (``Connection``) and where it is going (held,
  paused, closing);
* ``Connections``, the hub's (hub.py) door: ``open`` admits a connection (guard.py counts it
  against the caps per address, or it is refused) and starts its hello deadline; ``refuse``
  is the one fatal error a connection gets before it is closed; ``close`` ends one, however
  it ended (it closed, failed, or ran out of time), and the room is told;
* the room's opening: until the host, then each bot there from the start, has joined, what
  anyone else says is held (``hold``: they are admitted before anyone else, so every welcome
  names the host and the room's bots, PROTOCOL.md 4), then handled in arrival order
  (``first_joined``); a held newcomer that asked is told why no welcome comes yet
  (PROTOCOL.md, Held while the room starts).

These run once a connection, not once a message: the hub calls ``hub.open`` and ``hub.close``,
which are these (Hub.__init__).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import events as ev
from . import limits as lim
from .actions import Send
from .protocol import Connection, Invalid, RemoteProtocolError, Role

if TYPE_CHECKING:
    from .hub import Hub

HELD_BYTES_LIMIT = 64 * 1024  # what a newcomer may say while the host is not in yet (Connections.hold)
HOLD_NOTICE_HELLO_BYTES = 4096  # a hello asking for held comes whole within this (a name, a key, a resume secret)
# A reader dropped for not reading whose peer has acknowledged nothing of what it was sent for
# this long, with some of it still outstanding, is a link that is gone (a laptop shut, Wi-Fi
# lost: no FIN), not a slow reader: a slow reader's kernel still acknowledges (the zero-window
# probes too, in milliseconds on a LAN). The room reads "lost connection", as at any cut, not
# "dropped (not reading fast enough)". As transport.HOLDER_KEEPALIVE's 10 s of silence.
LINK_GONE_SECONDS = 10.0


def ip_of(address: str) -> str:
    """``"192.168.1.7:50312"`` -> ``"192.168.1.7"``, ``"::1:5"`` -> ``"::1"``; anything else
    (the host's socket, an AF_UNIX peer) -> ``"local"``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return "local"
    return host.strip("[]")


class Peer:
    """One connection as the hub sees it: its protocol state and where it is going."""

    __slots__ = (
        "cid", "proto", "address", "ip", "closing", "closed", "held", "held_bytes", "admitted", "group", "paused_until",
        "ignored_bytes", "said_bye", "history_person", "frames_before_welcome", "budget", "pending_account", "shared",
        "told_held",
    )  # fmt: skip

    def __init__(self, cid: int, address: str) -> None:
        self.cid = cid
        self.proto = Connection(Role.SERVER)
        self.address = address  # "127.0.0.1:50312", or "local" for the host's and bots' sockets
        self.ip = ip_of(address)
        self.closing = False  # close once the queue is flushed
        self.closed = False
        self.held: list[bytes] = []  # what it said before the host was in (Connections.hold)
        self.held_bytes = 0  # their total, kept as they come (a dripped byte a read stays cheap)
        self.told_held = False  # sent the held event (once: a room whose bot comes after its host holds twice)
        self.admitted = False  # counted by the connection limits (released on close)
        self.group = ""  # the address group it was counted under (limits.AddressGroups)
        self.pending_account: int | None = None  # the Unix account it is unfinished for, until welcomed (guard.settled)
        # Not read until then (flood control, a congested room); frames already read wait,
        # unparsed, in ``proto`` and are handled when it ends: nothing is lost.
        self.paused_until: float | None = None
        self.ignored_bytes = 0  # read after it began closing (Hub.receive_data): bounded
        self.said_bye = False  # it sends nothing more: closed once what it is owed is out
        self.history_person: object = None  # who its last /history was counted as (history_policy.person_of)
        self.frames_before_welcome = 0  # flood control counts none of them (guard.MAX_FRAMES_BEFORE_WELCOME)
        self.budget: lim.TokenBucket | None = None  # for what flood control does not count (guard.BUDGETED), from the first
        self.shared: lim.SharedBucket | None = None  # the flood bucket its address group shares (guard.AddressShares: while two or more are joined from it)

    def hold(self, data: bytes) -> bool:
        """Keep what it said before the host was in; True once that is too much to keep."""
        self.held.append(data)
        self.held_bytes += len(data)
        return self.held_bytes > HELD_BYTES_LIMIT


def asks_hold_notice(peer: Peer) -> bool | None:
    """Does a held connection's first frame, a hello (or the doctor's ``who`` before hello), ask to
    be told it is held (``hold_notice``)?
    None until that frame is whole; False for anything else (HTTP, TLS, a person at nc, a frame
    that is not such a hello, or one not whole within HOLD_NOTICE_HELLO_BYTES). Read with a
    Connection of its own: the peer's own reads the held bytes, from the start, once let in."""
    if peer.held_bytes > HOLD_NOTICE_HELLO_BYTES or peer.held[0][0] != 0:  # (a frame starts with 0: never HTTP, TLS, text)
        return False
    reader = Connection(Role.SERVER)
    try:
        reader.receive_data(b"".join(peer.held))
    except RemoteProtocolError:
        return False
    first = reader.next_event()
    if first is None:
        return None if reader.partial_frame_bytes else False  # (under 4 bytes: a part of the header)
    if isinstance(first, Invalid) and first.code == ev.E_HELLO_FIRST:  # `lanchat doctor`'s who, before any hello
        first = first.refused
    return isinstance(first, (ev.Hello, ev.Who)) and first.hold_notice



class Connections:
    """How connections come into the hub and go: admitted or refused, held while the room
    opens, closed. It acts through the ``hub`` (its peers, room, outbox, deadlines and guard)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._ids = itertools.count(1)  # connection ids, never reused
        # The host, then the room's own bots, until in or gone: others wait (hold). The hub reads
        # it at every read (Hub.receive_data: an empty list once the room is open).
        self.first: list[int] = []
        # How long the peer of a connection has acknowledged nothing while some of what it was
        # sent is outstanding (0.0: nothing outstanding; None: not known, AF_UNIX, not Linux);
        # the loop reads the kernel's TCP_INFO (server.py), so this stays pure.
        self.unacknowledged_for: Callable[[int], float | None] = lambda cid: None

    def open(
        self, address: str, *, host: bool = False, service: bool = False, handshake: bool = True,
        counted: lim.Counted | None = None, this_machine: bool = False, account: int | None = None,
    ) -> int:
        """A new connection; returns its id. ``handshake``: it must say hello in time.
        ``counted``: already counted by the connection limits, from its accept (guard.Guard.
        reserve: a TLS handshake), so it is not counted again. ``this_machine``: it dialled this
        machine's own address; ``account``: the Unix user the loop read at its other end, on
        this machine (guard.Guard.admit)."""
        hub, room = self.hub, self.hub.room
        cid = next(self._ids)
        peer = hub.peers[cid] = Peer(cid, address)
        hub.outbox.open(cid)
        if host:
            room.host_cid = cid
            self.first.insert(0, cid)
        if service:
            room.service_cids.add(cid)  # a bot: a member that is not a person
            if not handshake and not room.members:  # one of the room's own, there from the start
                self.first.append(cid)
        room.moderation.arrive(cid, peer.ip)
        if handshake:
            hub.deadlines.expect_hello(cid)
            if counted is not None:
                peer.admitted, peer.group, peer.pending_account = bool(counted.group), counted.group, counted.account  # as admit's
                if counted.credit is not None:  # on credit from its TLS handshake on: now this peer
                    hub.guard.credited(address, counted, peer)
            elif (refusal := hub.guard.admit(peer, this_machine=this_machine, account=account)) is not None:  # logged there, once per storm
                self.refuse(peer, ev.E_TOO_MANY, refusal)
            if peer.admitted:  # (a refused one shares nothing: it only closes)
                hub.guard.shares.join(peer)  # Peer.shared, decided here and when others come and go, not at each frame
        return cid

    def refuse(self, peer: Peer, code: str, message: str) -> None:
        """One fatal error, then the connection is closed once it is written."""
        # after what this pass holds for it (the commit): the fatal error is its last frame
        self.hub.perform([Send(to=peer.cid, event=ev.Error(code=code, message=message, fatal=True))])
        self.hub.deadlines.forget(peer.cid)
        self.hub._closing(peer)

    def hold(self, peer: Peer, data: bytes) -> None:
        """``peer`` said ``data`` before the host (or a bot there from the start) was in: kept
        for then (``first_joined``), within HELD_BYTES_LIMIT; ``b""``: it left meanwhile."""
        if not data:
            self.close(peer.cid)  # gone before the chat opened: nobody to tell
        elif peer.hold(data):
            self.hub.log(f"{peer.address}: said too much before the chat opened; disconnecting")
            self.close(peer.cid)
        elif not peer.told_held and (asks := asks_hold_notice(peer)) is not None:
            peer.told_held = True  # decided once: told at once why no welcome comes yet, if it asked (PROTOCOL.md, Held while the room starts)
            if asks:
                self.hub.perform([Send(to=peer.cid, event=ev.Held(reason=ev.HELD_STARTING))])

    def first_joined(self) -> None:
        """The host (or a bot there from the start) is in: what the others said meanwhile is
        handled now, in arrival order (the next bot's first, while one is still to come)."""
        self.first.pop(0)
        for peer in list(self.hub.peers.values()):
            held, peer.held = peer.held, []
            peer.held_bytes = 0
            for data in held:
                self.hub.receive_data(peer.cid, data)

    def close(self, cid: int) -> None:
        """Connection ``cid`` is over (it closed, failed, or its time ran out)."""
        hub, room = self.hub, self.hub.room
        peer = hub.peers.pop(cid, None)
        if peer is None or peer.closed:
            return
        peer.closed = True
        hub._sealed.discard(cid)
        hub.outbox.close(cid)
        hub.deadlines.forget(cid)
        hub.pacer.forget(cid)
        hub.guard.forget(peer)
        hub.release(cid)
        if cid in self.first:  # the host or a bot never made it in: the others go ahead
            if cid == self.first[0]:
                self.first_joined()
            else:
                self.first.remove(cid)
        if cid in room.members and not hub.shutting_down:
            name = hub.who(cid)
            hub._leave(cid, "lost")
            hub.log(f"{name} lost connection")
        else:
            if cid not in room.members:  # never joined: what the room noted of it goes (no actions)
                room.leave(cid, "lost")
            hub.perform(hub._files_forget(cid))  # its uploads stop, its downloads end

    def drop_slow(self, cid: int) -> None:
        """A reader that stops reading must not stall the room or eat the server's memory: told
        so, its queue dropped, the room told it was dropped (the outbox's limit, guard.py's rules).
        One whose link is gone (LINK_GONE_SECONDS) is closed as lost instead: bob's laptop shut
        mid /get, and the class read 'bob was dropped (not reading fast enough)' on the projector."""
        hub = self.hub
        peer = hub.peers.get(cid)
        if peer is None or peer.closing:
            return
        queued = hub.outbox.queues[cid].out_bytes
        silent = self.unacknowledged_for(cid)
        if silent is not None and silent >= LINK_GONE_SECONDS:
            hub.log(f"{hub.who(cid)}: nothing acknowledged for {silent:.0f} s ({queued} bytes queued); link lost, closing")
            hub.outbox.discard(cid)
            hub._closing(peer)  # nothing left to write: closed at this pass's flush
            hub._sealed.add(cid)
            hub._leave(cid, "lost")  # as Connections.close says it: its offers wait for a rejoin
            return
        hub.log(f"{hub.who(cid)}: not reading ({queued} bytes queued); dropping")
        hub.outbox.discard(cid)
        hub._mark_closing(peer)
        note = ev.Error(code=ev.E_TOO_SLOW, message="you were dropped: not reading fast enough", fatal=True)
        hub._send(peer, note)
        hub._sealed.add(cid)
        hub._leave(cid, "dropped")
