"""A rejoin while the room's server restarts, on a host with two addresses (Wi-Fi and a wired
network): connect's rejoin (cli/rejoin.py's _Rejoin) with a RoomWatch told what it hears, as in
test_discovery.py (its helpers are used here).
"""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
from test_discovery import ANN, HOME, _refused_rejoin, announced_at

from lanchat.transport import TransportError

OTHER = "198.18.0.12"  # the room's other address: the host's wired network


@pytest.mark.parametrize("then_announced", [(ANN, OTHER), (OTHER,)], ids=["announcement-stale", "announcement-updated"])
def test_a_refusal_at_the_rooms_other_address_during_a_restart_does_not_keep_the_student_from_it(monkeypatch, then_announced):
    """ann is in the room at its Wi-Fi address. The host restarts the server just as that
    address stops answering (its Wi-Fi went): her rejoin finds nothing there (timed out), and the
    room's other address refuses (the server not up yet). That refusal dropped the other address
    as "not the room" for 60 s, and every try went to the dead one meanwhile: up to a minute
    before she was back. A refusal is what a restarting server looks like: it is passed over
    only a few seconds (a false announcement refused still costs one try, not one a rejoin:
    test_discovery's false announcements), and a try after that goes there and finds the room."""
    from lanchat.cli import rejoin as cli_rejoin
    from lanchat.discovery import REFUSED_SECONDS, RoomWatch

    rejoin, _, tried = _refused_rejoin(monkeypatch)
    now = [1000.0]
    rejoin.watch = watch = RoomWatch(address=ANN, port=3580, fingerprint=None, clock=lambda: now[0])  # type: ignore[attr-defined]
    watch.heard(HOME, announced_at(ANN, OTHER))  # type: ignore[attr-defined]  # one machine, two networks
    ends: list[socket.socket] = []
    listening: set[str] = set()  # the server restarting: listening nowhere yet

    def dial(endpoint, pinned):  # noqa: ANN001, ANN202 - stands in for the real dial
        tried.append(endpoint.host)
        if endpoint.host == ANN:
            raise TransportError(f"timed out connecting to {endpoint.describe()}")  # her Wi-Fi address is gone
        if endpoint.host not in listening:
            raise TransportError(f"no lanchat server at {endpoint.describe()} (connection refused)", refused=True)
        ends.extend(socket.socketpair())
        return ends[-2]

    monkeypatch.setattr(cli_rejoin, "_reconnect", dial)
    monkeypatch.setattr("lanchat.client.join", lambda sock, name, **kw: (object(), SimpleNamespace(), []))
    rejoin.session = SimpleNamespace(name="ann", rejoin=SimpleNamespace(resume=None, last_seen=None))  # type: ignore[attr-defined]
    try:
        with pytest.raises(TransportError):
            rejoin()  # type: ignore[operator]
        assert tried == [ANN, OTHER]
        listening.add(OTHER)  # the server is up again, at the address it still has
        watch.heard(HOME, announced_at(*then_announced))  # type: ignore[attr-defined]
        now[0] += 8.0  # three of the rejoin's back-offs (1, 2, 4 s), well short of a minute
        assert REFUSED_SECONDS < 8.0
        rejoin()  # type: ignore[operator]
        assert tried[-1] == OTHER and rejoin.endpoint.host == OTHER  # type: ignore[attr-defined]  # back, at the next try
    finally:
        for end in ends:
            end.close()


def test_an_announced_address_where_nothing_answers_at_all_is_still_dropped(monkeypatch):
    """What the refusal's exception does not cover: the other address timing out (a false
    announcement of an address nobody has costs a 3 s wait a try) is dropped as before, for
    REFUTED_SECONDS, not passed over only the REFUSED_SECONDS a refusal is: tries made after
    the latter has run out still go to the old address alone."""
    from lanchat.cli import rejoin as cli_rejoin
    from lanchat.discovery import REFUSED_SECONDS, REFUTED_SECONDS, RoomWatch

    rejoin, _, tried = _refused_rejoin(monkeypatch)
    now = [1000.0]
    rejoin.watch = watch = RoomWatch(address=ANN, port=3580, fingerprint=None, clock=lambda: now[0])  # type: ignore[attr-defined]
    watch.heard(HOME, announced_at(ANN, OTHER))  # type: ignore[attr-defined]

    def dial(endpoint, pinned):  # noqa: ANN001, ANN202
        tried.append(endpoint.host)
        raise TransportError(f"timed out connecting to {endpoint.describe()}")

    monkeypatch.setattr(cli_rejoin, "_reconnect", dial)
    rejoin.session = SimpleNamespace(name="ann", rejoin=SimpleNamespace(resume=None, last_seen=None))  # type: ignore[attr-defined]
    with pytest.raises(TransportError):
        rejoin()  # type: ignore[operator]
    assert tried == [ANN, OTHER]
    assert REFUSED_SECONDS + 1.0 < REFUTED_SECONDS
    for _ in range(3):  # past a refusal's few seconds, within the minute a timeout drops it for
        now[0] += REFUSED_SECONDS + 1.0
        watch.heard(HOME, announced_at(ANN, OTHER))  # type: ignore[attr-defined]  # still announced there
        with pytest.raises(TransportError):
            rejoin()  # type: ignore[operator]
    assert tried == [ANN, OTHER, ANN, ANN, ANN]  # the other address once, then passed over
