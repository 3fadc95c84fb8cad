"""The server loop over real sockets: TCP on 127.0.0.1 and ::1 (port 0) and AF_UNIX (a temp path).

Every test talks to an in-process Server through RawClients that speak the protocol on a
real socket. "Nothing else arrived" is checked with a marker message sent afterwards:
the stream is ordered, so if the marker comes next, nothing came before it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from helpers import RawClient, running_server, short_tmp_dir, wait_for

from lanchat import events as ev
from lanchat.protocol import encode
from lanchat.transport import Endpoint, TransportError, listen_unix


def ipv6_loopback_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


TRANSPORTS = [
    "tcp",
    pytest.param("tcp6", marks=pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback")),
    "unix",
]


@contextlib.contextmanager
def server_on(transport: str, mode: str = "duplex", **kwargs: object) -> Iterator[tuple[object, Endpoint]]:
    if transport == "unix":
        with short_tmp_dir() as folder, running_server(mode, unix_path=os.path.join(folder, "chat.sock"), **kwargs) as pair:
            yield pair
    else:
        with running_server(mode, host="::1" if transport == "tcp6" else "127.0.0.1", **kwargs) as pair:
            yield pair


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


class People:
    """Several RawClients, closed at the end of the test whatever happens."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.clients: list[RawClient] = []

    def join(self, name: str) -> RawClient:
        client = RawClient(self.endpoint, name)
        self.clients.append(client)
        return client

    def raw(self) -> RawClient:
        client = RawClient(self.endpoint)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


@contextlib.contextmanager
def people(endpoint: Endpoint) -> Iterator[People]:
    group = People(endpoint)
    try:
        yield group
    finally:
        group.close()


def next_is_marker(client: RawClient, marker: str) -> None:
    """The very next chat line ``client`` receives is ``marker``: nothing else came first."""
    event = client.expect(ev.Message)
    assert event.text == marker, f"expected only the marker, got {event} first"


def join_three(group: People) -> tuple[RawClient, RawClient, RawClient]:
    ann = group.join("ann")
    bob = group.join("bob")
    ann.expect(ev.Joined, name="bob")
    cat = group.join("cat")
    ann.expect(ev.Joined, name="cat")
    bob.expect(ev.Joined, name="cat")
    return ann, bob, cat


# ---------------------------------------------------------------- full duplex


def test_three_people_chat_in_duplex_mode(transport):
    with server_on(transport) as (_server, endpoint), people(endpoint) as group:
        ann, bob, cat = join_three(group)
        assert cat.welcome.members == ("ann", "bob", "cat") and cat.welcome.mode == "duplex"
        before = time.time()
        # anyone at any time, even several in a row
        bob.send(ev.Say(text="one"))
        bob.send(ev.Say(text="two"))
        cat.send(ev.Say(text="three ✓"))
        ann.send(ev.Say(text="four"))
        for person in (ann, bob, cat):
            got = [person.expect(ev.Message) for _ in range(4)]
            assert sorted((m.sender, m.text) for m in got) == [
                ("ann", "four"), ("bob", "one"), ("bob", "two"), ("cat", "three ✓")
            ]
            assert [m.text for m in got if m.sender == "bob"] == ["one", "two"]  # each sender's order kept
            assert all(before - 1 <= m.time <= time.time() + 1 for m in got)


def test_direct_messages_reach_only_the_two_people(transport):
    with server_on(transport) as (_server, endpoint), people(endpoint) as group:
        ann, bob, cat = join_three(group)
        ann.send(ev.Whisper(to="BOB", text="just between us"))
        for person in (ann, bob):
            direct = person.expect(ev.Direct)
            assert (direct.sender, direct.to, direct.text) == ("ann", "bob", "just between us")
        ann.send(ev.Say(text="marker"))
        next_is_marker(cat, "marker")
        assert not any(isinstance(e, ev.Direct) for e in cat.inbox)
        ann.send(ev.Whisper(to="nobody", text="hello?"))
        assert ann.expect(ev.Error).code == ev.E_NO_SUCH_USER


def test_who_lists_the_roster_in_join_order(transport):
    with server_on(transport) as (_server, endpoint), people(endpoint) as group:
        ann, bob, cat = join_three(group)
        bob.send(ev.Who())
        assert bob.expect(ev.Roster).members == ("ann", "bob", "cat")


def test_join_and_leave_notices(transport):
    with server_on(transport) as (server, endpoint), people(endpoint) as group:
        ann, bob, cat = join_three(group)
        bob.send(ev.Bye())
        bob.expect_closed()
        for person in (ann, cat):
            left = person.expect(ev.Left)
            assert (left.name, left.reason) == ("bob", "quit")
        wait_for(lambda: server.room.names == ("ann", "cat"), what="bob to be gone")


def test_names_are_unique_ignoring_case_over_the_wire(transport):
    with server_on(transport) as (_server, endpoint), people(endpoint) as group:
        group.join("ann")
        intruder = group.raw()
        intruder.send(ev.Hello(name="ANN"))
        error = intruder.expect(ev.Error)
        assert error.code == ev.E_NAME_TAKEN and not error.fatal
        intruder.send(ev.Hello(name="ann2"))
        assert intruder.expect(ev.Welcome).name == "ann2"


def test_a_killed_client_is_removed_others_are_told_and_its_name_is_free(transport):
    with server_on(transport) as (server, endpoint), people(endpoint) as group:
        ann, bob, cat = join_three(group)
        # an abrupt end: no bye; on TCP a reset rather than a polite close
        if bob.sock.family != socket.AF_UNIX:
            bob.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        bob.close()
        for person in (ann, cat):
            left = person.expect(ev.Left)
            assert (left.name, left.reason) == ("bob", "lost")
        wait_for(lambda: "bob" not in server.room.names, what="bob's removal")
        again = group.join("bob")
        assert again.welcome.members == ("ann", "cat", "bob")
        ann.send(ev.Say(text="welcome back"))
        assert again.expect(ev.Message).text == "welcome back"


# ------------------------------------------------------------------ turn mode


def test_three_people_take_turns_in_join_order(transport):
    with server_on(transport, "turn") as (_server, endpoint), people(endpoint) as group:
        ann, bob, cat = join_three(group)
        assert ann.welcome.turn == "ann" and cat.welcome.turn == "ann"
        cat.send(ev.Say(text="me first"))
        error = cat.expect(ev.Error)
        assert error.code == ev.E_NOT_YOUR_TURN and error.message == "not your turn: waiting for ann"
        for speaker, following in ((ann, "bob"), (bob, "cat"), (cat, "ann")):
            speaker.send(ev.Say(text=f"from {speaker.welcome.name}"))
            for person in (ann, bob, cat):
                # the refused "me first" must never have been delivered
                assert person.expect(ev.Message).text == f"from {speaker.welcome.name}"
                assert person.expect(ev.Turn).holder == following


def test_the_turn_passes_on_when_its_holder_leaves(transport):
    with server_on(transport, "turn") as (_server, endpoint), people(endpoint) as group:
        ann, bob, cat = join_three(group)
        ann.close()  # ann held the turn
        for person in (bob, cat):
            person.expect(ev.Left, name="ann")
            assert person.expect(ev.Turn).holder == "bob"
        bob.send(ev.Say(text="my turn now"))
        assert cat.expect(ev.Message).text == "my turn now"


# ------------------------------------------------------- slow readers, hostile bytes


def test_a_client_that_stops_reading_is_dropped_and_the_others_carry_on(transport):
    with server_on(transport, max_queue_bytes=64 * 1024) as (server, endpoint), people(endpoint) as group:
        ann = group.join("ann")
        cat = group.join("cat")
        ann.expect(ev.Joined, name="cat")
        if endpoint.path is None:
            sleepy_sock = socket.socket(socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET)
            sleepy_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
            sleepy_sock.settimeout(10)
            sleepy_sock.connect((endpoint.host, endpoint.port))
        else:
            sleepy_sock = socket.socket(socket.AF_UNIX)
            sleepy_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sleepy_sock.connect(endpoint.path)
        sleepy = RawClient(sleepy_sock)
        group.clients.append(sleepy)
        sleepy.send(ev.Hello(name="sleepy"))
        sleepy.expect(ev.Welcome)
        ann.expect(ev.Joined, name="sleepy")
        cat.expect(ev.Joined, name="sleepy")
        # sleepy reads nothing from here on; ann talks and reads her own echo, cat keeps reading
        text = "x" * 3900
        sent = 0
        notices: dict[str, list] = {"ann": [], "cat": []}

        def next_message(client, who: str) -> ev.Message:
            # the drop's notice may come before a message or after it, in the same read or not
            while isinstance(got := client.expect((ev.Message, ev.Left)), ev.Left):
                notices[who].append(got)
            return got

        while not notices["ann"]:
            assert sent < 3000, "the slow reader was never dropped"
            ann.send(ev.Say(text=f"{sent} {text}"))
            next_message(ann, "ann")
            assert next_message(cat, "cat").text.startswith(f"{sent} ")  # cat misses nothing
            sent += 1
        (left,) = notices["ann"]
        assert (left.name, left.reason) == ("sleepy", "dropped")
        if not notices["cat"]:
            notices["cat"].append(cat.expect(ev.Left))
        assert [notice.name for notice in notices["cat"]] == ["sleepy"]
        ann.send(ev.Say(text="still here"))
        assert cat.expect(ev.Message).text == "still here"
        assert "sleepy" not in server.room.names
        # what sleepy finds when it finally reads: whole frames, ending with the notice
        error = sleepy.expect(ev.Error, timeout=15)
        assert error.code == ev.E_TOO_SLOW and error.fatal
        sleepy.expect_closed()
        assert max(q.out_bytes for q in list(server.hub.outbox.queues.values())) <= 64 * 1024 + 8192


def test_a_dropped_client_that_never_reads_again_is_closed_in_the_end():
    # a laptop put to sleep mid-chat: it neither reads nor closes; its socket must not be held for ever
    with running_server(max_queue_bytes=16 * 1024, linger_seconds=0.3) as (server, endpoint), people(endpoint) as group:
        ann = group.join("ann")
        sleeper_sock = socket.socket(socket.AF_INET)
        sleeper_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper_sock.settimeout(10)
        sleeper_sock.connect((endpoint.host, endpoint.port))
        sleeper = RawClient(sleeper_sock)
        group.clients.append(sleeper)
        sleeper.send(ev.Hello(name="sleeper"))
        sleeper.expect(ev.Welcome)
        ann.expect(ev.Joined, name="sleeper")
        sent = 0
        dropped = False
        while not dropped:
            assert sent < 3000, "the sleeper was never dropped"
            ann.send(ev.Say(text="z" * 3000))
            # ann's echo; the drop's notice may come before it or after it, in any read
            while isinstance(ann.expect((ev.Message, ev.Left)), ev.Left):
                dropped = True
            sent += 1
        wait_for(lambda: len(server.clients) == 1, what="the sleeper's socket to be closed")
        assert server.room.names == ("ann",)


HOSTILE = {
    # (a line of text is a text participant now: tests/test_text_participants.py)
    "garbage": (b"\x01\x02\x03\x04 not a frame", ev.E_BAD_FRAME),
    "oversized header": (struct.pack(">I", 2**31) + b"x" * 10, ev.E_BAD_FRAME),
    "http": (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", ev.E_NOT_LANCHAT),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_bytes_get_an_answer_and_a_disconnect_and_nobody_else_notices(transport, kind):
    data, code = HOSTILE[kind]
    with server_on(transport) as (server, endpoint), people(endpoint) as group:
        ann = group.join("ann")
        bob = group.join("bob")
        ann.expect(ev.Joined, name="bob")
        stranger = group.raw()
        stranger.send_raw(data)
        if code == ev.E_NOT_LANCHAT:
            reply = b""
            stranger.sock.settimeout(10)
            while chunk := stranger.sock.recv(4096):
                reply += chunk
            assert reply.startswith(b"HTTP/1.0 400 Bad Request\r\n") and b"lanchat" in reply
        else:
            error = stranger.expect(ev.Error)
            assert error.code == code and error.fatal
            stranger.expect_closed()
        ann.send(ev.Say(text="unbothered"))
        next_is_marker(bob, "unbothered")
        assert server.room.names == ("ann", "bob")


def test_a_member_sending_a_broken_frame_is_disconnected_and_others_are_told(transport):
    with server_on(transport) as (_server, endpoint), people(endpoint) as group:
        ann = group.join("ann")
        bob = group.join("bob")
        ann.expect(ev.Joined, name="bob")
        bob.send_raw(b"\xff\xff\xff\xff")
        assert bob.expect(ev.Error).code == ev.E_BAD_FRAME
        bob.expect_closed()
        assert ann.expect(ev.Left).name == "bob"


def test_what_a_member_said_properly_before_a_broken_frame_still_reaches_the_room(transport):
    """One write holds a good message and then a broken header: the message is delivered
    (and stored) before bob is disconnected; nothing he sent whole is lost."""
    with server_on(transport) as (_server, endpoint), people(endpoint) as group:
        ann = group.join("ann")
        bob = group.join("bob")
        ann.expect(ev.Joined, name="bob")
        bob.send_raw(encode(ev.Say(text="last words")) + b"\xff\xff\xff\xff")
        assert ann.expect(ev.Message).text == "last words"
        assert ann.expect(ev.Left).name == "bob"
        assert bob.expect(ev.Error).code == ev.E_BAD_FRAME


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"\xc3\x28",
        b'{"type":"launch"}',
        b'{"type":"say"}',
        b"[]",
        b"[" * 60_000,
        b'{"type":"say","text":"\\ud800 lone surrogate"}',
        b"\x00",  # binary frames cut wrong: a mark alone, an id running past the end, an id not UTF-8
        b"\x00\x09ab",
        b"\x00\x02\xff\xfedata",
    ],
)
def test_a_bad_frame_in_good_framing_gets_an_error_and_the_chat_goes_on(transport, payload):
    with server_on(transport) as (_server, endpoint), people(endpoint) as group:
        ann = group.join("ann")
        bob = group.join("bob")
        ann.expect(ev.Joined, name="bob")
        ann.send_raw(struct.pack(">I", len(payload)) + payload)
        error = ann.expect(ev.Error)
        assert not error.fatal and error.code in (ev.E_BAD_JSON, ev.E_UNKNOWN_TYPE, ev.E_BAD_MESSAGE)
        ann.send(ev.Say(text="after the mistake"))
        next_is_marker(bob, "after the mistake")


def test_talking_before_hello_is_refused_over_the_wire(transport):
    with server_on(transport) as (_server, endpoint), people(endpoint) as group:
        rogue = group.raw()
        payload = b'{"type":"say","text":"hi"}'
        rogue.send_raw(struct.pack(">I", len(payload)) + payload)
        assert rogue.expect(ev.Error).code == ev.E_HELLO_FIRST
        rogue.send(ev.Hello(name="rogue"))
        rogue.expect(ev.Welcome)


# -------------------------------------------------------------------- shutdown


def test_shutdown_sends_the_notice_to_everyone_first(transport):
    with server_on(transport) as (server, endpoint), people(endpoint) as group:
        clients = join_three(group)
        half_way = group.raw()  # connected, never said hello: told too
        wait_for(lambda: len(server.clients) == 4, what="four connections")
        server.request_shutdown("lesson over")
        for client in (*clients, half_way):
            assert client.expect(ev.Shutdown).reason == "lesson over"
            client.expect_closed()
            assert not any(isinstance(e, ev.Left) for e in client.inbox)
            client.close()  # as a real client does on seeing the end: the server then stops at once
        assert server.stopped.wait(10)


def test_a_rejoin_while_the_server_says_goodbye_is_refused_not_taken_and_reset(transport, monkeypatch):
    """A teacher restarts the room: the class got the notice and retries 1 s later, while the
    server still waits (up to 2 s) for one student who has not read it (a laptop asleep). The
    retry used to sit in the backlog of a listener nobody accepted from, and be reset when it
    closed: over TLS the class read "closed the connection during the TLS handshake; if it was
    restarted without --tls, ...". Refused at once, it reads as a server not there (yet).
    The goodbye's wait is made long, so the listeners are not closed by its end (2 s) instead."""
    monkeypatch.setattr("lanchat.server.SHUTDOWN_FLUSH_SECONDS", 60.0)  # only asleep.close() ends it
    with server_on(transport) as (server, endpoint), people(endpoint) as group:
        asleep = group.join("ann")  # reads the notice but never closes: the goodbye waits for her
        server.request_shutdown("the server was stopped")
        assert asleep.expect(ev.Shutdown).reason == "the server was stopped"
        assert not server.stopped.is_set()
        family = socket.AF_UNIX if endpoint.path else socket.AF_INET6 if transport == "tcp6" else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as retry:
            retry.settimeout(5)
            with pytest.raises((ConnectionRefusedError, FileNotFoundError)):
                retry.connect(endpoint.path or (endpoint.host, endpoint.port))
        assert not server.stopped.is_set()  # refused while the goodbye still waits, not after it
        asleep.close()
        assert server.stopped.wait(10)


def test_someone_typing_at_the_moment_of_shutdown_still_gets_the_notice():
    # Closing a socket whose peer's bytes are still unread makes the kernel send a reset that
    # can destroy what was just written; the server must read those bytes away first.
    for _trial in range(20):
        with running_server() as (server, endpoint), people(endpoint) as group:
            ann = group.join("ann")
            burst = b"".join(ann.proto.send(ev.Say(text="typing " * 50)) for _ in range(400))

            def type_hard(sock: socket.socket = ann.sock, data: bytes = burst) -> None:
                with contextlib.suppress(OSError):  # the server may close before it is all out
                    sock.sendall(data)

            typist = threading.Thread(target=type_hard)
            typist.start()
            server.request_shutdown("bye now")
            try:
                assert ann.expect(ev.Shutdown).reason == "bye now"
            finally:
                typist.join(10)


# --------------------------------------------------------------- AF_UNIX paths


def test_the_unix_socket_file_is_private_and_removed_on_exit():
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        with running_server(unix_path=path) as (_server, endpoint):
            info = os.lstat(path)
            assert stat.S_ISSOCK(info.st_mode)
            assert stat.S_IMODE(info.st_mode) == 0o600
            with people(endpoint) as group:
                group.join("ann")
        assert not os.path.exists(path)


def test_the_join_line_of_a_socket_file_with_a_space_in_its_path_works_when_pasted():
    """`serve --unix "/tmp/lc-x/maths 3B.sock"` printed `python -m lanchat connect --unix
    /tmp/lc-x/maths 3B.sock`: pasted into a shell, that is two words, the second taken for a
    host ('no machine is called 3B.sock'). The path is quoted as a shell reads it."""
    import shlex

    from helpers import Proc

    with short_tmp_dir() as folder:
        path = os.path.join(folder, "maths 3B's.sock")
        server = Proc("serve", "--headless", "--no-history", "--unix", path)
        try:
            line = server.expect(r"^\s*(python -m lanchat connect --unix .*)").group(1)
            argv = shlex.split(line)
            assert argv[:4] == ["python", "-m", "lanchat", "connect"] and argv[4:] == ["--unix", path], line
            bob = Proc(*argv[3:], "--name", "bob", stdin=False)
            bob.expect("welcome, bob")
            bob.stop()
        finally:
            server.stop()


def test_connecting_to_a_path_that_is_no_socket_file_says_what_it_is():
    """`connect --unix chat.txt` (the transcript saved beside it) said only "no lanchat server
    is listening", as for a server that stopped: Linux refuses both alike."""
    from lanchat.transport import connect

    with short_tmp_dir() as folder:
        stale = os.path.join(folder, "stale.sock")
        dead = socket.socket(socket.AF_UNIX)
        dead.bind(stale)
        dead.close()
        notes, pipe = os.path.join(folder, "chat.txt"), os.path.join(folder, "pipe")
        open(notes, "w").close()  # noqa: SIM115
        os.mkfifo(pipe)
        for path, said in ((stale, f"no lanchat server is listening on {stale}"),
                           (notes, "it is a regular file, not the socket file `lanchat serve --unix` made"),
                           (folder, "it is a folder, not"), (pipe, "it is a pipe, not")):
            with pytest.raises(TransportError) as refused:
                connect(Endpoint(path=path), timeout=5)
            assert said in str(refused.value), str(refused.value)
            assert (path != stale) == ("give the path it printed" in str(refused.value))


def test_a_stale_socket_file_is_replaced():
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        dead = socket.socket(socket.AF_UNIX)
        dead.bind(path)  # a server that died without cleaning up
        dead.close()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        with running_server(unix_path=path) as (_server, endpoint), people(endpoint) as group:
            assert group.join("ann").welcome.name == "ann"


def test_a_live_servers_path_is_never_taken_over():
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        with running_server(unix_path=path) as (_server, endpoint), people(endpoint) as group:
            ann = group.join("ann")
            with pytest.raises(TransportError, match="already listening"):
                listen_unix(path)
            ann.send(ev.Say(text="still mine"))
            assert ann.expect(ev.Message).text == "still mine"
            assert os.path.exists(path)


def test_a_busy_live_server_is_not_mistaken_for_a_dead_one():
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "busy.sock")
        busy = socket.socket(socket.AF_UNIX)
        busy.bind(path)
        busy.listen(0)
        waiting: list[socket.socket] = []
        try:
            while True:  # fill its backlog: a probe now gets EAGAIN, not "connection refused"
                filler = socket.socket(socket.AF_UNIX)
                filler.setblocking(False)
                waiting.append(filler)
                try:
                    filler.connect(path)
                except BlockingIOError:
                    break
                assert len(waiting) < 100
            with pytest.raises(TransportError, match="already listening"):
                listen_unix(path)
            assert os.path.exists(path)
        finally:
            for sock in (*waiting, busy):
                sock.close()


def test_a_regular_file_is_never_replaced():
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "notes.txt")
        with open(path, "w") as handle:
            handle.write("precious")
        with pytest.raises(TransportError, match="not a socket"):
            listen_unix(path)
        with open(path) as handle:
            assert handle.read() == "precious"


def test_the_socket_file_is_left_alone_if_someone_else_took_the_path():
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        with running_server(unix_path=path):
            os.unlink(path)  # someone removed our file by hand...
            newcomer = socket.socket(socket.AF_UNIX)
            newcomer.bind(path)  # ...and another server now listens there
            newcomer.listen()
        try:
            assert stat.S_ISSOCK(os.lstat(path).st_mode), "our exit removed another server's socket file"
        finally:
            newcomer.close()
        regular = os.path.join(folder, "other.sock")
        with running_server(unix_path=regular):
            os.unlink(regular)
            with open(regular, "w") as handle:
                handle.write("not ours")
        with open(regular) as handle:
            assert handle.read() == "not ours"


def test_the_server_log_says_who_joined_from_where_and_who_left():
    logged: list[str] = []
    with running_server(log=logged.append) as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        ann_port = ann.sock.getsockname()[1]
        bob = RawClient(endpoint, "bob")
        bob_port = bob.sock.getsockname()[1]
        ann.send(ev.Say(text="hi"))  # chat changes no one's membership: nothing logged for it
        bob.expect(ev.Message, text="hi")
        ann.send(ev.Bye())
        bob.expect(ev.Left, name="ann")
        bob.close()  # without bye: the others read "bob left (connection lost)", and so does the log
        wait_for(lambda: "bob lost connection" in logged, what="bob's departure in the log")
    assert [line for line in logged if " joined " in line or line.endswith((" left", " lost connection"))] == [
        f"ann joined from 127.0.0.1:{ann_port}",
        f"bob joined from 127.0.0.1:{bob_port}",
        "ann left",
        "bob lost connection",
    ]
