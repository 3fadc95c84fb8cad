"""transport.peer_users: the Unix accounts of peers on this machine, for a whole lab class at once.

A lab server's class joins over loopback, each student under an account of their own; bans and
name claims hold by it (moderation.py, gate.py). The account of a TCP peer is the kernel's answer
about its socket (sock_diag), else its socket's row in /proc/net/tcp (tcp6), a table the kernel
writes out whole at every read: a /ban that asks about everyone present reads it once
(peer_users), and one join still stops at its own row. Each test runs both ways.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import sockets_of_accounts, wait_for

from lanchat import transport
from lanchat.transport import peer_user, peer_users, users_in_table

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def _row(number: int, local: str, remote: str, *, state: str = "01", uid: str = "1066", inode: str = "4242") -> str:
    """One row as the kernel writes it (net/ipv4/tcp_ipv4.c, get_tcp4_sock)."""
    return (f"{number:4d}: {local} {remote} {state} 00000000:00000000 00:00000000 00000000 {uid:>5} "
            f"       0 {inode} 1 0000000000000000 20 4 30 10 -1\n")  # fmt: skip


def test_the_batch_parser_finds_the_account_of_each_row_asked_for_and_only_those():
    ann = ("0100007F:C4A8", "0100007F:0DFC")
    bob = ("0100007F:C4AA", "0100007F:0DFC")
    gone = ("0100007F:C4AC", "0100007F:0DFC")  # the peer closed: a TIME_WAIT-like row, user 0, no inode
    six = ("00000000000000000000000001000000:A000", "00000000000000000000000001000000:0DFC")  # ::1, as tcp6 writes it
    lines = [
        HEADER,
        _row(0, "00000000:0DFC", "00000000:0000", state="0A", uid="0"),  # the listener
        _row(1, *ann, uid="1001"),
        _row(2, ann[1], ann[0], uid="0"),  # the server's end of ann's connection: the other way round
        _row(3, *gone, state="05", uid="0", inode="0"),
        _row(4, "0100007F:C4AE", "0100007F:0DFC", uid="x"),  # not a number: skipped, not a crash
        _row(5, *six, uid="1003"),
        _row(6, *bob, uid="1002"),
        "  7: truncated\n",
    ]
    found = users_in_table(lines, {ann, bob, gone, six, ("0100007F:FFFF", "0100007F:0DFC")})
    assert found == {ann: 1001, bob: 1002, six: 1003}


def test_the_batch_parser_stops_reading_at_the_last_row_asked_for():
    """One join asks for one row: the read ends there, as before, however long the table."""
    asked = ("0100007F:C4A8", "0100007F:0DFC")
    rows = [HEADER, *(_row(n, f"0100007F:{n:04X}", "0100007F:0DFC") for n in range(1, 4)), _row(4, *asked, uid="1001")]
    rows += [_row(n, f"0100007F:{n:04X}", "0100007F:0DFC") for n in range(5, 100)]
    lines: Iterator[str] = iter(rows)
    assert users_in_table(lines, {asked}) == {asked: 1001}
    assert len(list(lines)) == 95  # untouched


def _sock_diag_answers() -> bool:
    """Does this kernel say whose a loopback socket is (sock_diag: tcp_diag loaded or loadable)?"""
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_connection(listener.getsockname()):
        theirs = listener.accept()[0]
        with theirs:
            peer = transport._peer_of(theirs)
            return peer is not None and transport.sock_diag_users({0: peer}) == {0: os.getuid()}


@pytest.fixture(params=["sock_diag", "tables"])
def account_lookup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way a TCP peer's account is found: the kernel's answer (sock_diag), and /proc's
    tables where the kernel gives none (here: sock_diag_users answers nothing)."""
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("the accounts of TCP peers are Linux's to say")
    if request.param == "tables":
        monkeypatch.setattr(transport, "sock_diag_users", lambda peers: {})
    elif not _sock_diag_answers():
        pytest.skip("this kernel does not answer sock_diag for TCP")
    return request.param


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every file transport opens from now on, counted by path."""
    opened: Counter[str] = Counter()
    real_open = open

    def counting_open(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        opened[str(path)] += 1
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(transport, "open", counting_open, raising=False)
    return opened


def test_the_accounts_of_a_class_on_loopback_are_each_their_own_asked_together(account_lookup, monkeypatch):
    """Twenty students on 127.0.0.1, four on ::1 (where it works) and one on a socket file, each
    under an account of their own: each socket gets its own account back, the kernel's answer
    and the tables' the same; the tables, where the kernel does not answer, each read once for
    them all."""
    listeners = {socket.AF_INET: socket.create_server(("127.0.0.1", 0))}
    with contextlib.suppress(OSError):  # no IPv6 loopback here: IPv4 only
        listeners[socket.AF_INET6] = socket.create_server(("::1", 0), family=socket.AF_INET6)
    accounts = [21000 + n for n in range(20)]
    ours = sockets_of_accounts(accounts)
    if socket.AF_INET6 in listeners:
        accounts += [21100 + n for n in range(4)]
        ours += sockets_of_accounts(accounts[20:], socket.AF_INET6)
    theirs = []
    for sock in ours:
        sock.connect(listeners[sock.family].getsockname()[:2])
        theirs.append(listeners[sock.family].accept()[0])
    file_end, server_end = socket.socketpair()
    opened = _counting_reads(monkeypatch)
    try:
        assert peer_users([*theirs, server_end]) == [*accounts, os.getuid()]
        tables = {"/proc/net/tcp": 1, **({"/proc/net/tcp6": 1} if socket.AF_INET6 in listeners else {})}
        assert opened == Counter(tables if account_lookup == "tables" else {})
        assert peer_user(theirs[7]) == accounts[7]  # one alone: the same answer
        peers = {at: transport._peer_of(sock) for at, sock in enumerate(theirs)}
        assert transport.users_in_tables(peers) == dict(enumerate(accounts))  # type: ignore[arg-type]
    finally:
        for sock in [*ours, *theirs, *listeners.values(), file_end, server_end]:
            sock.close()


def test_a_join_asks_only_what_the_kernel_says_at_once_and_never_reads_the_tables(account_lookup, monkeypatch):
    """peer_users_at_once, asked at each join on a lab server: a socket file's account
    (SO_PEERCRED) and a TCP peer's as sock_diag says it; where the kernel does not answer, the
    TCP peer is left out (read when a ban asks), not looked up in /proc's tables: that read is
    milliseconds, at every join."""
    accounts = [21200 + n for n in range(3)]
    ours = sockets_of_accounts(accounts)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        theirs = []
        for sock in ours:
            sock.connect(listener.getsockname())
            theirs.append(listener.accept()[0])
    file_end, server_end = socket.socketpair()
    opened = _counting_reads(monkeypatch)
    try:
        said = transport.peer_users_at_once([*theirs, None, server_end])
        tcp = dict(enumerate(accounts)) if account_lookup == "sock_diag" else {}
        assert said == {**tcp, 4: os.getuid()} and not opened
    finally:
        for sock in [*ours, *theirs, file_end, server_end]:
            sock.close()


def _written_as_nobodys(port: int) -> bool:
    """Is the socket of local port ``port`` a row of user 0 and inode 0 (a TIME_WAIT's)?"""
    rows = (row.split() for row in Path("/proc/net/tcp").read_text().splitlines()[1:])
    return any(row[1].endswith(f":{port:04X}") and row[7] == row[9] == "0" for row in rows)


def test_a_peer_gone_before_its_account_is_read_is_not_known_and_never_root(account_lookup):
    """A student's client that quit between a ban and the lookup: its socket's row stays a
    while, then as a TIME_WAIT (here FIN_WAIT2, left alone) whose user the kernel writes as 0
    and inode as 0: that is nobody's account, not root's. A connection closed on our side, or
    one already dropped (None), is not known either."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        if os.geteuid() == 0:
            (student, left) = sockets_of_accounts([21200, 21201])
        else:  # the account is our own; what matters is that the one gone is not 0
            student, left = socket.socket(), socket.socket()
        student.connect(listener.getsockname())
        here = listener.accept()[0]
        left.connect(listener.getsockname())
        gone = listener.accept()[0]
        third = socket.create_connection(listener.getsockname())
        ours_closed = listener.accept()[0]
        ours_closed.close()
        left.close()
        gone.settimeout(5)
        wait_for(lambda: gone.recv(1) == b"", what="the student's FIN")
        wait_for(lambda: _written_as_nobodys(gone.getpeername()[1]), what="the student's socket written as nobody's")
        try:
            users = peer_users([here, gone, ours_closed, None])
            assert users == [peer_user(here), None, None, None]
            assert users[0] == (21200 if os.geteuid() == 0 else os.getuid())
            assert peer_user(gone) is None  # was 0: root
            if account_lookup == "sock_diag":  # the kernel answers about a TIME_WAIT too: user 0, inode 0
                assert transport.sock_diag_users({0: transport._peer_of(gone)}) == {0: None}  # type: ignore[dict-item]
        finally:
            for sock in (student, here, gone, third):
                sock.close()


if sys.platform != "linux":  # the socket file's account (SO_PEERCRED) and /proc are Linux's
    pytestmark = pytest.mark.skip("Linux only")


def test_at_an_accept_the_account_is_said_at_once_and_a_peer_closed_first_is_told_apart():
    """transport.account_at_once, what the connection caps count by (guard.Guard.admit): the
    account of a loopback peer still there, from the kernel at once; one whose other end was
    closed, or reset, before the accept is PEER_GONE (no process holds it: its user is no longer
    said), so a script closing each connection at once is not taken for the machine's."""
    import struct

    from lanchat.limits import PEER_GONE

    if not _sock_diag_answers():
        pytest.skip("this kernel does not answer sock_diag for TCP")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        there, closed, reset = (socket.create_connection(listener.getsockname()) for _ in range(3))
        closed.close()
        reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reset.close()  # a reset, not a goodbye
        accepted = [listener.accept()[0] for _ in range(3)]
        try:
            assert [transport.account_at_once(sock) for sock in accepted] == [os.getuid(), PEER_GONE, PEER_GONE]
        finally:
            there.close()
            for sock in accepted:
                sock.close()
