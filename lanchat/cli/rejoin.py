"""rejoin.py: joining a room, and joining it again after a drop.

The addresses a name was found at, the room password kept for a rejoin, the join that retries
while the room restarts, and the rejoin that follows the room to a new address.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..textsafe import quoted
from .terminal import PASSWORD_TRIES, PROG, NameAsker, env_password, fail, say


class ServerUsesTls(Exception):
    """A plain `connect` (no --tls, no fingerprint) reached a TLS room: connect again with TLS."""


def found_at(addresses: list) -> tuple[str, ...]:
    """getaddrinfo's ``addresses`` as Endpoint.addresses holds them: each once, in the resolver's
    order, a link-local one with its zone (the first connect's and a rejoin's alike)."""
    return tuple(dict.fromkeys(_with_zone(address[4]) for address in addresses))


def _with_zone(sockaddr: tuple) -> str:
    """The address in getaddrinfo's ``sockaddr``, as it would be typed: a link-local IPv6 one
    with its zone ("fe80::1%eth0"), which the resolver gives apart, as the scope id (without
    it, an fe80:: address cannot be connected to)."""
    import socket

    if len(sockaddr) < 4 or not sockaddr[3] or "%" in sockaddr[0]:
        return sockaddr[0]
    try:
        zone = socket.if_indextoname(sockaddr[3])
    except OSError:  # no interface of that index (left since): its number, which a connect reads alike
        zone = str(sockaddr[3])
    return f"{sockaddr[0]}%{zone}"


class Remembered:
    """The room password, asked for once: a rejoin uses what was typed, never asks again
    (the full screen is up by then: ``without_asking``)."""

    def __init__(self, ask) -> None:  # noqa: ANN001
        self.ask = ask
        self.value: str | None = None
        self.asked = False

    def __call__(self) -> str | None:
        if not self.asked:
            self.asked, self.value = True, self.ask()
        return self.value

    def typed(self) -> bool:
        """Was the password typed at the terminal (a typo can be typed again), not LANCHAT_PASSWORD?"""
        return self.asked and self.value is not None and self.value != env_password()

    def forget(self) -> None:
        """It was wrong: the next join asks again."""
        self.asked, self.value = False, None

    def without_asking(self) -> str | None:
        """For a rejoin: what was typed at the start, else LANCHAT_PASSWORD, else None (the
        client then stops retrying and says to run connect again: client.STOP_REJOINING)."""
        return self.value if self.asked else (env_password() or None)


def _reconnect(endpoint, pinned: str | None):  # noqa: ANN001, ANN202
    """A new connection to ``endpoint``; over TLS (``pinned``) only to the very certificate first
    trusted (JoinError FINGERPRINT_CHANGED otherwise). TransportError, TlsError: no connection."""
    from ..client import FINGERPRINT_CHANGED, JoinError
    from ..transport import connect

    sock = connect(endpoint, timeout=3.0)
    if pinned is None:
        return sock
    from ..tls import client_handshake

    try:
        # a rejoin: TLS because the room used it when we joined, whatever was typed then
        hint = "the room used TLS when you joined; if it was restarted without --tls, run `lanchat connect` again"
        sock, fingerprint = client_handshake(sock, endpoint.describe(), timeout=5.0, hint=hint)
        if fingerprint != pinned:
            raise JoinError(f"the server's TLS fingerprint is now {fingerprint}, not {pinned}", FINGERPRINT_CHANGED)
    except BaseException:
        sock.close()
        raise
    return sock


def connect_again(endpoint, pinned: str | None):  # noqa: ANN001, ANN202
    """_reconnect, for the terminal: None after saying why it failed."""
    from ..client import JoinError
    from ..tls import TlsError
    from ..transport import TransportError

    try:
        return _reconnect(endpoint, pinned)
    except (TransportError, TlsError, JoinError, OSError) as exc:
        fail(str(exc))
        return None


def room_where(address: str, room: str | None) -> str:
    """The status line's and /address's place: the address (" (TLS)" when encrypted), then the
    room's name when discovery found it by one (of 12 rooms on a school's LAN, the address alone
    did not tell a class's from another's): ``198.18.0.1:3580 (TLS), the room 'maths 3B'``. The
    name is anyone's announcement: it comes after the truth, quoted, so "maths at 10.0.0.1:3580
    (TLS)" cannot pass for the address or the encryption (it read "maths at 10.0.0.1:3580 (TLS)
    at 10.0.0.66:3580", a plain room at another machine)."""
    return address if room is None else f"{address}, the room {quoted(room)}"


def rejoiner(where, session, *, key, password, binding: bytes, version: int | None = None):  # noqa: ANN001, ANN202
    """Connect and join again as the same person (client.Reconnect retries with this): the same
    name, key and password, and over TLS only to the very certificate first trusted.
    ``where`` is (endpoint, pinned fingerprint or None, the room as discovery found it or None);
    ``version``: the welcome's (a room of the first release is joined again as it was joined)."""
    return _Rejoin(where, session, key=key, password=password, binding=binding, version=version)


class _Rejoin:
    """rejoiner's callable. While in a room that is announced on the local network, it follows
    the announcements (discovery.RoomWatch): when the room is announced at another address (the
    host's laptop got a new lease), ``moved()`` says so and the rejoin tries there too, over TLS
    still only to the certificate pinned; a room of another name, host or fingerprint is
    never followed. Anyone can announce the room: each address it is announced at is tried
    once, and one that is not the room (nothing answers, another certificate, a refusal) is
    dropped (RoomWatch.refuted), so false announcements, however many or often repeated, cost
    a try each and never end the rejoin (their refusals are not the room's)."""

    def __init__(self, where, session, *, key, password, binding: bytes, version: int | None = None) -> None:  # noqa: ANN001
        from dataclasses import replace

        from ..events import FIRST_RELEASE_VERSION, PROTOCOL_VERSION

        endpoint, self.pinned, found = where
        self.room = found.name if found is not None else None  # found by its name: the status line says it (room_where)
        # The addresses `connect NAME` found were for the first connect: a rejoin asks the
        # resolver again (the host's laptop may have a new lease; the saved ones would be tried
        # forever), and dials them only when the look-up fails (the school's name server down).
        self.endpoint, self.saved, self.named = replace(endpoint, addresses=()), endpoint.addresses, endpoint.host
        self.resolve = None  # lookup.look_up's resolver (getaddrinfo; a test's stand-in)
        self.say_after: float | None = None  # when a slow look-up is said (lookup.SAY_AFTER_SECONDS; a test's)
        self.note = None  # client.Reconnect.note: a slow look-up said on the status line and once as a line
        self.session, self.key, self.binding = session, key, binding
        self.version = FIRST_RELEASE_VERSION if version == FIRST_RELEASE_VERSION else PROTOCOL_VERSION  # the hello's: as the room was joined
        # runs on client.Reconnect's worker thread, under the full screen: never a prompt
        self.password = getattr(password, "without_asking", password)
        self.watch = _room_watch(self.endpoint, self.pinned, found)
        self.tries = 0  # rejoin attempts, since the last join, while the room was announced elsewhere
        self.heard: tuple[str, int] | None = None  # the last new address ``news`` reported
        self.moved_away = True  # the last join went elsewhere because the room was no longer announced where it was

    def moved(self) -> bool:
        """Is the room now announced elsewhere than where we are connected, and no longer here by
        its own announcement? (A room on Wi-Fi and a wired network is announced at both: no move.)"""
        host = self.endpoint.host
        return self.watch is not None and self.watch.moved_to(host) is not None and not self.watch.still_at(host)

    def joined_at(self) -> tuple[str, bool]:
        """Where the last join was, as the status line says it (the room followed there), and
        whether the room had left where we were (else that was another of its addresses)."""
        return room_where(self.endpoint.describe() + (" (TLS)" if self.binding else ""), self.room), self.moved_away

    def news(self) -> bool:
        """Is there an address the room is announced at, not tried yet, that was not reported
        before (true once for each)? While a rejoin waits, that is worth trying at once
        (client.Reconnect.tick)."""
        where = self.watch.moved_to(self.endpoint.host) if self.watch is not None else None
        if where is None or where == self.heard:
            return False
        self.heard = where
        return True

    def __call__(self):  # noqa: ANN204
        from ..transport import Endpoint

        endpoint, otherwise = self.endpoint, None
        where = self.watch.moved_to(endpoint.host) if self.watch is not None else None
        # Tries alternate between where the room is announced now and where it was: anyone can
        # announce a room, and a false one must not keep a student from a server that restarted.
        # Only tries made knowing of the move count, so the first one then goes to the new
        # address (tries at the old one before the announcement came would have turned it away).
        # While the room's own announcement still names the old one, its host has several
        # addresses (Wi-Fi and a wired network): each try goes where the student was, and to the
        # other only if nothing answers there, so a restart brings them back where they were, and
        # a false announcement costs one try after the real one (then it is passed over).
        still_here = self.watch is not None and self.watch.still_at(endpoint.host)
        if where is not None and still_here:
            otherwise = Endpoint(host=where[0], port=where[1])
        elif where is not None:
            self.tries += 1
            if self.tries % 2:
                endpoint = Endpoint(host=where[0], port=where[1])
        endpoint, joined = self._join(endpoint, announced=endpoint is not self.endpoint, otherwise=otherwise)
        self.moved_away = not still_here
        self.endpoint, self.tries = endpoint, 0  # joined there: the room is followed from there on
        if self.watch is not None:
            self.watch.joined((endpoint.host, endpoint.port))
        return joined

    def _join(self, endpoint, *, announced: bool, otherwise=None, fallback: bool = False):  # noqa: ANN001, ANN202
        """Connect and join at ``endpoint``: (where it joined, what client.join gave). One the room
        was only ``announced`` at may be false: a failure there drops it (the watch's ``refuted``)
        and is no reason to stop rejoining (client.NotTheRoom), unless it came over TLS past the
        certificate pinned: the room's own. Where nothing answers at ``endpoint`` (refused,
        unreachable), the room's other announced address ``otherwise`` is tried, as announced;
        if the room is not there either, what failed at ``endpoint`` is what is said. That
        ``fallback`` try refused (the machine answered, nothing listens: a server restarting) is
        passed over for discovery.REFUSED_SECONDS only: dropped for 60 s, a student whose own
        address stopped answering waited up to a minute for the room back at that one; not
        dropped at all, a false announcement refused cost a try at every rejoin."""
        from ..client import NotTheRoom, join
        from ..transport import TransportError

        try:
            sock = self._dial(endpoint)
        except Exception as exc:
            if announced:
                raise self._not_there(endpoint, exc, refuted=not (fallback and getattr(exc, "refused", False))) from exc
            if otherwise is None or not isinstance(exc, TransportError):
                raise
            try:
                return self._join(otherwise, announced=True, fallback=True)
            except NotTheRoom:
                raise exc from None
        try:
            proto, welcome, early = join(
                sock, self.session.name, timeout=5.0, key=self.key, password=self.password, binding=self.binding,
                resume=self.session.rejoin.resume, since=self.session.rejoin.last_seen, version=self.version,
            )
        except BaseException as exc:
            sock.close()
            if announced and self.pinned is None and isinstance(exc, Exception):
                raise self._not_there(endpoint, exc) from exc
            raise
        return endpoint, (sock, proto, welcome, early)

    def _dial(self, endpoint):  # noqa: ANN001, ANN202
        """_reconnect to ``endpoint`` at the addresses its name is found at now (``_looked_up``);
        where none of those answers (the name server's answer is stale, or names an address this
        network cannot reach), the ones the first connect found that it did not name (``saved``):
        only a failed look-up fell back to them."""
        from dataclasses import replace

        from ..transport import TransportError

        found = self._looked_up(endpoint)
        try:
            return _reconnect(found, self.pinned)
        except TransportError:
            rest = tuple(address for address in self.saved if address not in found.addresses)
            if found is endpoint or not rest:
                raise
        return _reconnect(replace(endpoint, addresses=rest), self.pinned)

    def _looked_up(self, endpoint):  # noqa: ANN001, ANN202
        """``endpoint`` with the addresses its host is found at now; where the look-up fails, the
        ones the first connect found (``saved``). Left as it is for any host but the name typed.
        A look-up slower than a second is said (``note``), as `connect NAME` says it."""
        from dataclasses import replace

        from ..lookup import FOUND, LOOKUP_SECONDS, look_up

        if not self.saved or endpoint.addresses or endpoint.host != self.named:
            return endpoint
        note, shown = self.note, quoted(endpoint.host)
        say = None if note is None else (lambda _said: note(
            f"looking up {shown}",
            f"rejoining: looking up {shown}; the network's name server is slow to answer (at most "
            f"{LOOKUP_SECONDS:g} s, then the address{'es' if len(self.saved) > 1 else ''} it had before)"))
        found = look_up(endpoint.host, endpoint.port, resolve=self.resolve, say=say, say_after=self.say_after)
        if found.outcome != FOUND:
            return replace(endpoint, addresses=self.saved)
        return replace(endpoint, addresses=found_at(found.addresses))

    def _not_there(self, endpoint, exc: Exception, *, refuted: bool = True) -> Exception:  # noqa: ANN001
        """What to raise when the room announced at ``endpoint`` was not there; it is passed over
        for a minute (``refuted``) or, refused as a fallback, a few seconds."""
        from ..client import NotTheRoom
        from ..discovery import REFUSED_SECONDS, REFUTED_SECONDS

        if self.watch is not None:
            self.watch.refuted((endpoint.host, endpoint.port), REFUTED_SECONDS if refuted else REFUSED_SECONDS)
        why = str(exc).split("\n")[0] or type(exc).__name__
        return NotTheRoom(f"the room was announced at {endpoint.describe()}, but it is not there ({why})")

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()


def _room_watch(endpoint, pinned: str | None, found=None):  # noqa: ANN001, ANN202
    """A discovery.RoomWatch for a room joined at a network address (``found`` by discovery, or
    None), started; None for a socket file, loopback, or where zeroconf is missing."""
    import importlib.util
    import ipaddress

    if endpoint.is_unix or importlib.util.find_spec("zeroconf") is None:
        return None
    try:
        if ipaddress.ip_address(endpoint.host.partition("%")[0]).is_loopback:
            return None
    except ValueError:  # a host name: the announcement lists addresses only
        return None
    from ..discovery import RoomWatch
    from ..netinfo import lan_addresses, local_networks
    from ..tls import KNOWN_SERVERS_NAME, KnownServers, default_folder

    def learned(room) -> None:  # noqa: ANN001 - joined over TLS by its address: its name holds the certificate too
        if room.fingerprint is not None:
            KnownServers(default_folder() / KNOWN_SERVERS_NAME).rooms.learn(room.name, room.fingerprint)

    watch = RoomWatch(address=endpoint.host, port=endpoint.port, fingerprint=pinned, networks=local_networks,
                      own_addresses=lan_addresses, found=found, learned=learned)  # fmt: skip
    watch.start()
    return watch


class Unreachable(Exception):
    """After a wrong password, the server could not be reached again (already said why)."""


def _join_retrying(sock, name, *, key, password, binding, again_at, may_switch_to_tls=False, key_path=None):  # noqa: ANN001, ANN202
    """client.join, and after a wrong password typed at the terminal, asked again and tried on a
    new connection to ``again_at`` (endpoint, pinned fingerprint or None), PASSWORD_TRIES in all
    as ssh and sudo do. Returns (socket, protocol, welcome, what came after); raises what join
    raises, or Unreachable, or with ``may_switch_to_tls`` ServerUsesTls when the server says to
    use TLS (cmd_connect goes on with it). The socket is closed on every way out but the return.
    A server of the first release refuses version 2 (E_VERSION): asked again once, as a version-1
    client asks (a keyless guest), and told so in the chat (wording.OLD_ROOM_NOTE). A name typed
    after a refusal once the connection's time to join had run out (client.NameOutlived) is
    tried on a new connection, as a wrong password is; so is a password typed at the terminal
    after its question's time ran out (client.PasswordOutlived), once for each one typed."""
    from dataclasses import replace

    from .. import events as ev
    from ..client import JoinError, PasswordOutlived, join

    ask = NameAsker(name) if sys.stdin.isatty() else None
    tries, version = 1, ev.PROTOCOL_VERSION
    outlived = False  # the password typed was sent again on a new connection, its first's time run out
    while True:
        try:
            proto, welcome, early = join(sock, name, ask_name=ask, key=key, password=password, binding=binding,
                                         silent=_silent_note(sock), held=_held_note, version=version, key_path=key_path)
            # joined with a version-1 hello, without the key: so said in the chat (its welcome's
            # version, which a fake server that refused version 2 may give as 2, is not asked)
            return sock, proto, replace(welcome, version=version) if version == ev.FIRST_RELEASE_VERSION else welcome, early
        except JoinError as exc:
            sock.close()
            if may_switch_to_tls and exc.code == ev.E_USE_TLS:
                raise ServerUsesTls from None
            if again_at is not None and _answered_late(exc, password, outlived):  # a prompt outlasted the connection:
                outlived = outlived or isinstance(exc, PasswordOutlived)
                name, sock = exc.name, connect_again(*again_at)  # what was typed, on a new one (no prompt again)
                if sock is None:
                    raise Unreachable from None
                continue
            if exc.code == ev.E_VERSION and version != ev.FIRST_RELEASE_VERSION and again_at is not None:
                version, sock = ev.FIRST_RELEASE_VERSION, connect_again(*again_at)
                if sock is None:
                    raise Unreachable from None
                continue  # (its welcome says so in the chat: wording.OLD_ROOM_NOTE)
            typed = isinstance(password, Remembered) and password.typed()
            if exc.code != ev.E_PASSWORD or again_at is None or not typed:
                raise
            if tries >= PASSWORD_TRIES:
                from ..gate import person_lock_rule

                raise JoinError(f"{exc}, {tries} times; ask the host for it ({person_lock_rule()})", exc.code) from None
        except BaseException:
            sock.close()
            raise
        say(f"{PROG}: wrong password; try again")
        password.forget()
        tries, outlived = tries + 1, False  # (the next one typed has its own time)
        reopened = connect_again(*again_at)
        if reopened is None:
            raise Unreachable
        sock = reopened


def _answered_late(exc, password, outlived: bool) -> bool:  # noqa: ANN001 - a JoinError, _join_retrying's password
    """Was ``exc`` a question answered after its connection's time to join ran out, the answer to
    be sent on a new connection: a name typed after a refusal (client.NameOutlived), or the room's
    password typed at the terminal (client.PasswordOutlived), that once for each one typed
    (``outlived``: this one was): a server closing every connection, however soon answered, is
    not dialled for ever."""
    from ..client import NameOutlived, PasswordOutlived

    if isinstance(exc, NameOutlived):
        return True
    return isinstance(exc, PasswordOutlived) and not outlived and isinstance(password, Remembered) and password.typed()


def _silent_note(sock) -> Callable[[], None]:  # noqa: ANN001 - a socket, or TLS's
    """What connect says when the server has not answered the hello within a few seconds
    (client.SILENT_SERVER_SECONDS): another program on that port (a web server, Jupyter) answers
    nothing and a student waited 15 s for a line that blamed the network first."""
    from ..client import silent_peer

    where, what = silent_peer(sock)
    return lambda: say(f"{PROG}: connected to {where}, but no answer yet, and a lanchat server answers at once: {what} (still waiting)")


def _held_note() -> None:
    """What connect says when the server, not answering yet, said the room is starting (its host
    not in yet, PROTOCOL.md, Held while the room starts): not a wrong port, just a short wait."""
    say(f"{PROG}: connected; the room is still starting: you are let in as soon as it opens (still waiting)")


def join_under(stops, sock, name: str, **join):  # noqa: ANN001, ANN003, ANN202 - a StopSignals, _join_retrying's
    """_join_retrying, a stop signal interrupting it. A switch to TLS (ServerUsesTls) gives the
    signals back as they were first: cmd_connect's TLS prompt comes before the chat takes them
    again (kept, Ctrl-C at "Trust it and connect?" was only noted, and the prompt waited on)."""
    try:
        with stops.interrupting():
            return _join_retrying(sock, name, **join)
    except ServerUsesTls:
        stops.uninstall()
        raise
