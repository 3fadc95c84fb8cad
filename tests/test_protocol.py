"""The sans-IO connection state machine (protocol.py), in both directions, with no sockets.

A client Connection and a server Connection are wired back to back; bytes one side's
``send()`` returns are fed to the other side's ``receive_data()``, cut up in every way.
"""

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanchat import events as ev
from lanchat import protocol
from lanchat.protocol import (
    HTTP_REPLY,
    TRANSITIONS,
    Connection,
    ConnectionClosed,
    Invalid,
    LocalProtocolError,
    RemoteProtocolError,
    Role,
    State,
    encode,
    fatal_reply,
)
from lanchat.wire import FrameDecoder, binary_frame, decode_json_plain, encode_json, frame

CLIENT_TALK = [
    ev.Say(text="hello"),
    ev.Whisper(to="bob", text="psst ✓"),
    ev.Who(),
    ev.Say(text="multi\nline"),
]
SERVER_TALK = [
    ev.Message(sender="ann", text="hi", time=1.5),
    ev.Direct(sender="ann", to="bob", text="secret", time=2.0),
    ev.Joined(name="cat", time=3.0),
    ev.Left(name="cat", reason="quit", time=4.0),
    ev.Roster(members=("ann", "bob")),
    ev.Turn(holder="bob"),
    ev.Turn(holder=None),
    ev.Error(code=ev.E_EMPTY, message="empty messages are not sent"),
]
WELCOME = ev.Welcome(name="bob", mode="turn", members=("ann", "bob"), turn="ann", host="ann")


class Pair:
    """A client and a server connection, already past the handshake unless told otherwise."""

    def __init__(self, handshake: bool = True) -> None:
        self.client = Connection(Role.CLIENT)
        self.server = Connection(Role.SERVER)
        if handshake:
            assert self.to_server(ev.Hello(name="bob")) == [ev.Hello(name="bob")]
            assert self.to_client(WELCOME) == [WELCOME]

    def to_server(self, *events: ev.Event) -> list[object]:
        self.server.receive_data(b"".join(self.client.send(e) for e in events))
        return self.server.events()

    def to_client(self, *events: ev.Event) -> list[object]:
        self.client.receive_data(b"".join(self.server.send(e) for e in events))
        return self.client.events()


def feed_split(conn: Connection, data: bytes, cut: int) -> list[object]:
    if cut:
        conn.receive_data(data[:cut])  # b"" would mean the peer closed
    first = conn.events()
    if data[cut:]:
        conn.receive_data(data[cut:])
    return first + conn.events()


# ------------------------------------------------------------------ both directions


def test_client_to_server_split_at_every_byte_boundary():
    sender = Pair()
    data = b"".join(sender.client.send(e) for e in CLIENT_TALK)
    for cut in range(len(data) + 1):
        receiver = Pair()
        assert feed_split(receiver.server, data, cut) == CLIENT_TALK, f"cut at {cut}"


def test_server_to_client_split_at_every_byte_boundary():
    sender = Pair()
    data = b"".join(sender.server.send(e) for e in SERVER_TALK)
    for cut in range(len(data) + 1):
        receiver = Pair()
        assert feed_split(receiver.client, data, cut) == SERVER_TALK, f"cut at {cut}"


def test_the_handshake_split_at_every_byte_boundary_both_ways():
    hello = Connection(Role.CLIENT).send(ev.Hello(name="ann"))
    for cut in range(len(hello) + 1):
        server = Connection(Role.SERVER)
        assert feed_split(server, hello, cut) == [ev.Hello(name="ann")]
    welcome_and_more = encode(WELCOME) + encode(ev.Joined(name="cat", time=1.0))
    for cut in range(len(welcome_and_more) + 1):
        client = Connection(Role.CLIENT)
        client.send(ev.Hello(name="bob"))
        assert feed_split(client, welcome_and_more, cut) == [WELCOME, ev.Joined(name="cat", time=1.0)]
        assert client.state is State.OPEN


def test_many_frames_in_one_read_both_ways():
    pair = Pair()
    says = [ev.Say(text=f"line {n}") for n in range(300)]
    assert pair.to_server(*says) == says
    messages = [ev.Message(sender="ann", text=f"line {n}", time=float(n)) for n in range(300)]
    assert pair.to_client(*messages) == messages


texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(said=st.lists(texts, min_size=1, max_size=8), cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_any_chunking_in_both_directions(said, cuts):
    pair = Pair()
    for events, send, conn in (
        ([ev.Say(text=t) for t in said], pair.client.send, pair.server),
        ([ev.Message(sender="ann", text=t, time=0.0) for t in said], pair.server.send, pair.client),
    ):
        data = b"".join(send(e) for e in events)
        points = sorted({c % (len(data) + 1) for c in cuts}) + [len(data)]
        got: list[object] = []
        previous = 0
        for point in points:
            if point > previous:
                conn.receive_data(data[previous:point])
            got += conn.events()
            previous = point
        assert got == events


@pytest.mark.parametrize("event", [*CLIENT_TALK, ev.Hello(name="ann"), ev.Bye(), *SERVER_TALK, WELCOME, ev.Shutdown()])
def test_every_event_survives_json_and_back(event):
    table = ev.CLIENT_EVENTS if event.sent_by == "client" else ev.SERVER_EVENTS
    obj = json.loads(encode(event)[4:])
    assert obj["type"] == event.type
    assert ev.event_from_json(obj, table) == event


def test_the_sender_travels_as_from():
    obj = ev.Message(sender="ann", text="x", time=1.0).to_json()
    assert obj == {"type": "message", "from": "ann", "text": "x", "time": 1.0}


@given(
    sender=st.text(max_size=40),
    text=st.text(max_size=200),
    time=st.floats() | st.integers(min_value=-(2**60), max_value=2**60),
    history=st.booleans(),
    action=st.booleans(),
)
@settings(max_examples=500)
def test_a_message_is_spelled_out_as_the_generic_encoder_would(sender, text, time, history, action):
    # encode() writes room messages by hand (protocol._message_frame): same bytes, same errors
    message = ev.Message(sender=sender, text=text, time=time, history=history, action=action)
    try:
        expected = encode_json(message.to_json())
    except UnicodeEncodeError:  # a lone surrogate: neither can write it as UTF-8
        with pytest.raises(UnicodeEncodeError):
            encode(message)
        return
    assert encode(message) == expected


def test_a_message_too_long_for_a_frame_is_refused_as_before():
    from lanchat.wire import MAX_FRAME_BYTES, FrameError

    with pytest.raises(FrameError):
        encode(ev.Message(sender="ann", text="x" * MAX_FRAME_BYTES, time=1.0))


# ----------------------------------------------------------- the server's refusals


def raw(obj: object) -> bytes:
    return encode_json(obj) if isinstance(obj, dict) else frame(obj)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xff\xfe not utf-8", ev.E_BAD_JSON),
        (b'{"type": "say", "text": ', ev.E_BAD_JSON),
        (b"[1, 2, 3]", ev.E_BAD_MESSAGE),
        (b'"just a string"', ev.E_BAD_MESSAGE),
        (b'{"text": "no type"}', ev.E_BAD_MESSAGE),
        (b'{"type": 7}', ev.E_BAD_MESSAGE),
        (b'{"type": "dance"}', ev.E_UNKNOWN_TYPE),
        (b'{"type": "message", "from": "x", "text": "y", "time": 1}', ev.E_UNKNOWN_TYPE),
        (b'{"type": "say"}', ev.E_BAD_MESSAGE),
        (b'{"type": "say", "text": 5}', ev.E_BAD_MESSAGE),
        (b'{"type": "say", "text": null}', ev.E_BAD_MESSAGE),
        (b'{"type": "whisper", "text": "hi"}', ev.E_BAD_MESSAGE),
        (b"[" * 50_000, ev.E_BAD_JSON),  # nesting deep enough to exhaust the parser's recursion
        (b'{"type": "say", "text": "\\ud800"}', ev.E_BAD_MESSAGE),  # a lone surrogate is not text
        (b'{"type": "whisper", "to": "bob", "text": "a\\udfffb"}', ev.E_BAD_MESSAGE),
        (b'{"type": "hello", "name": "\\ud83d"}', ev.E_BAD_MESSAGE),
        (b'{"type": "say", "text": "hi", "colour": "\\ud800"}', ev.E_BAD_MESSAGE),  # even where ignored
        (b'{"type": "say", "text": "hi", "\\udc00": 1}', ev.E_BAD_MESSAGE),  # or in a key
        (b'{"type": "history", "limit": NaN}', ev.E_OUT_OF_RANGE),  # NaN and Infinity are not JSON
        (b'{"type": "say", "text": "hi", "n": -Infinity}', ev.E_OUT_OF_RANGE),  # even where ignored
        (b'{"type": "say", "text": "hi", "n": 1e400}', ev.E_OUT_OF_RANGE),  # too large for a double
    ],
)
def test_a_bad_frame_from_a_client_is_answered_and_the_connection_goes_on(payload, code):
    pair = Pair()
    pair.server.receive_data(frame(payload) + pair.client.send(ev.Say(text="still here")))
    got = pair.server.events()
    assert len(got) == 2
    assert isinstance(got[0], Invalid) and got[0].code == code
    assert got[1] == ev.Say(text="still here")
    assert pair.server.state is State.OPEN


def test_unknown_extra_fields_are_ignored_for_later_versions():
    pair = Pair()
    pair.server.receive_data(raw({"type": "say", "text": "hi", "colour": "red"}))
    assert pair.server.events() == [ev.Say(text="hi")]


def test_an_oversized_header_closes_the_connection_with_a_fatal_error_frame():
    server = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError) as caught:
        server.receive_data(struct.pack(">I", 10**8) + b"xx")
    assert caught.value.code == ev.E_BAD_FRAME
    assert server.state is State.CLOSED
    reply = FrameDecoder().feed(fatal_reply(caught.value))
    error = ev.event_from_json(json.loads(reply[0]), ev.SERVER_EVENTS)
    assert isinstance(error, ev.Error) and error.fatal and error.code == ev.E_BAD_FRAME


def test_bytes_after_a_fatal_mistake_are_ignored():
    server = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError):
        server.receive_data(b"\xff\xff\xff\xff")
    server.receive_data(Connection(Role.CLIENT).send(ev.Hello(name="ann")))
    assert server.events() == []


@pytest.mark.parametrize("cut", [None, 1, 2, 3, 5])
def test_an_http_request_gets_a_short_http_400_reply(cut):
    request = b"GET / HTTP/1.1\r\nHost: localhost:3580\r\nUser-Agent: curl\r\n\r\n"
    server = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError) as caught:
        if cut is None:
            server.receive_data(request)
        else:  # a browser's request may arrive in pieces; the first piece may be tiny
            server.receive_data(request[:cut])
            server.receive_data(request[cut:])
    assert caught.value.code == ev.E_NOT_LANCHAT
    reply = fatal_reply(caught.value)
    assert reply.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert b"lanchat" in reply and len(reply) < 512
    # the host and port the browser used, when its Host line came with the opening
    assert b"connect localhost 3580\r\n" in reply if cut != 5 else reply == HTTP_REPLY


def test_the_page_a_browser_gets_says_the_command_that_joins_from_where_it_is():
    """The page said `connect HOST PORT` on every port: a TLS room's too, without `--tls`. It
    says --tls on a TLS port, the host and port the browser used, the server's port when the
    Host line has none, `--unix PATH` for a socket file, and repeats nothing but an address."""
    page = protocol.JoinPage

    def said(reply: bytes) -> str:
        assert reply.startswith(protocol.HTTP_HEAD)
        return reply[len(protocol.HTTP_HEAD) :].decode()

    request = b"GET / HTTP/1.1\r\nhOsT:  192.168.1.20:3580 \r\nAccept: */*\r\n\r\n"
    tls = said(page(tls=True, port=3580).reply(request))
    assert "  python -m lanchat connect --tls 192.168.1.20 3580\r\n" in tls and "fingerprint" in tls and "nc " not in tls
    plain = said(page(port=3580).reply(request))
    assert "  python -m lanchat connect 192.168.1.20 3580\r\n" in plain and "nc 192.168.1.20 3580 (then Enter" in plain
    assert "connect --tls teacher.local 4000\r\n" in said(page(tls=True, port=4000).reply(b"GET / HTTP/1.1\r\nHost: teacher.local\r\n\r\n"))
    assert "connect ::1 3580\r\n" in said(page(port=1).reply(b"GET / HTTP/1.1\r\nHost: [::1]:3580\r\n\r\n"))
    for forged in (b"x\x1b]0;owned\x07", b"a b", b"[fe80::1%25eth0]:3580", b"x:99999", b"-x", b"x" * 300):
        shown = said(page(tls=True, port=3580).reply(b"GET / HTTP/1.1\r\nHost: " + forged + b"\r\n\r\n"))
        assert "connect --tls HOST 3580\r\n" in shown or forged == b"x:99999" and "connect --tls x 3580" in shown, forged
    assert "connect HOST PORT\r\n" in said(page().reply(b"GET / HTTP/1.0\r\n\r\n"))
    assert "connect --unix '/tmp/my chat.sock'\r\n" in said(page(unix_path="/tmp/my chat.sock").reply(request))
    assert "connect --tls --unix /tmp/c.sock\r\n" in said(page(tls=True, unix_path="/tmp/c.sock").reply(request))  # serve --unix --tls


def test_http_sniffing_is_only_for_the_opening_bytes():
    pair = Pair()
    with pytest.raises(RemoteProtocolError) as caught:
        pair.server.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert caught.value.code == ev.E_BAD_FRAME  # mid-stream it is just a broken frame header


def test_the_peer_closing_is_an_event():
    pair = Pair()
    pair.server.receive_data(b"")
    assert pair.server.events() == [ConnectionClosed()]
    assert pair.server.peer_closed and pair.server.state is State.CLOSED


# -------------------------------------------------------------------- state rules


def test_nothing_but_hello_before_the_welcome():
    pair = Pair(handshake=False)
    client = Connection(Role.CLIENT)
    client.state = State.OPEN  # a rogue client that skips the handshake
    pair.server.receive_data(client.send(ev.Say(text="hi")) + client.send(ev.Who()))
    got = pair.server.events()
    assert [type(e) for e in got] == [Invalid, Invalid]
    assert all(e.code == ev.E_HELLO_FIRST for e in got)
    assert pair.server.state is State.HANDSHAKE
    # and the hello still works afterwards
    assert pair.to_server(ev.Hello(name="ann")) == [ev.Hello(name="ann")]


def test_a_refused_name_leaves_the_handshake_open_for_another_try():
    pair = Pair(handshake=False)
    pair.to_server(ev.Hello(name="ann"))
    refusal = ev.Error(code=ev.E_NAME_TAKEN, message="taken")
    assert pair.to_client(refusal) == [refusal]
    assert pair.client.state is State.HANDSHAKE and pair.server.state is State.HANDSHAKE
    assert pair.to_server(ev.Hello(name="ann2")) == [ev.Hello(name="ann2")]
    assert pair.to_client(WELCOME) == [WELCOME]
    assert pair.client.state is State.OPEN and pair.server.state is State.OPEN


def test_hello_again_after_the_welcome_is_refused_but_not_fatal():
    pair = Pair()
    rogue = Connection(Role.CLIENT)
    pair.server.receive_data(rogue.send(ev.Hello(name="eve")))
    (got,) = pair.server.events()
    assert isinstance(got, Invalid) and got.code == ev.E_BAD_MESSAGE
    assert pair.server.state is State.OPEN


def test_a_server_that_talks_before_the_welcome_is_not_a_lanchat_server():
    client = Connection(Role.CLIENT)
    client.send(ev.Hello(name="ann"))
    with pytest.raises(RemoteProtocolError):
        client.receive_data(encode(ev.Message(sender="x", text="y", time=0.0)))
    assert client.state is State.CLOSED


@pytest.mark.parametrize("garbage", [frame(b"\xff"), frame(b"{nope"), frame(b'{"type":"welcome"}'), b"\xff\xff\xff\xff"])
def test_garbage_from_the_server_ends_the_client_connection(garbage):
    pair = Pair()
    with pytest.raises(RemoteProtocolError):
        pair.client.receive_data(garbage)
    assert pair.client.state is State.CLOSED


@pytest.mark.parametrize("payload", [b"[" * 50_000, b'{"type":"message","from":"a","text":"\\ud800","time":1}'])
def test_a_server_sending_unparseable_text_is_a_remote_error_not_a_crash(payload):
    pair = Pair()
    with pytest.raises(RemoteProtocolError):
        pair.client.receive_data(frame(payload))


def test_a_client_ignores_message_types_from_a_newer_server():
    pair = Pair()
    pair.client.receive_data(raw({"type": "sparkle", "x": 1}) + encode(ev.Turn(holder="bob")))
    got = pair.client.events()
    assert isinstance(got[0], Invalid) and got[0].code == ev.E_UNKNOWN_TYPE
    assert got[1] == ev.Turn(holder="bob")
    assert pair.client.state is State.OPEN


def test_bye_closes_the_server_side_and_the_client_reads_the_answers_to_its_last_frames():
    """A script's `/who` then end of input: the roster was sent before the bye reached the
    server, and a client that discarded everything after its bye never showed it."""
    pair = Pair()
    pair.to_server(ev.Who())
    roster = ev.Roster(members=("ann", "bob"))
    answer = pair.server.send(roster)  # the server answers the who before it reads the bye
    assert pair.to_server(ev.Bye()) == [ev.Bye()]
    assert pair.client.state is State.LEAVING and pair.server.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        pair.server.send(roster)  # to the server, a client that said bye is closed: nothing more goes
    pair.server.receive_data(Connection(Role.CLIENT).send(ev.Hello(name="x")))
    assert pair.server.events() == []  # nothing the peer says after the end matters
    pair.client.receive_data(answer)
    assert pair.client.events() == [roster]  # sent before the bye arrived: still read
    assert pair.client.state is State.LEAVING
    with pytest.raises(LocalProtocolError):
        pair.client.send(ev.Say(text="after bye"))  # a leaving client sends nothing more
    pair.client.receive_data(b"")
    assert pair.client.events() == [ConnectionClosed()] and pair.client.state is State.CLOSED


def test_shutdown_and_fatal_errors_close_the_connection():
    pair = Pair()
    assert pair.to_client(ev.Shutdown(reason="bye all")) == [ev.Shutdown(reason="bye all")]
    assert pair.client.state is State.CLOSED and pair.server.state is State.CLOSED
    other = Pair()
    fatal = ev.Error(code=ev.E_TOO_SLOW, message="dropped", fatal=True)
    assert other.to_client(fatal) == [fatal]
    assert other.client.state is State.CLOSED and other.server.state is State.CLOSED


def test_a_final_shutdown_says_so_and_any_other_is_the_frame_it_always_was():
    """PROTOCOL.md 8, Shutdown: ``final`` (the host ended the chat: do not wait for a restart) is
    left out while false, so an ordinary notice keeps its bytes and a client that does not know
    the field reads a final one as any other; one without it is not final."""
    assert encode(ev.Shutdown(reason="x")) == frame(b'{"type":"shutdown","reason":"x"}')
    assert encode(ev.Shutdown(reason="x", final=True)) == frame(b'{"type":"shutdown","reason":"x","final":true}')
    final = ev.Shutdown(reason="the host closed the chat", final=True)
    assert Pair().to_client(final) == [final]
    older = Pair()
    older.client.receive_data(raw({"type": "shutdown", "reason": "the server was stopped"}))
    assert older.client.events() == [ev.Shutdown(reason="the server was stopped", final=False)]


@pytest.mark.parametrize("value", ["yes", 1, 0, None, [True]])
def test_a_shutdown_whose_final_is_not_true_or_false_is_a_bad_frame(value):
    """As for every flag (events._check_bool): a server that sends it is not one to chat with."""
    pair = Pair()
    with pytest.raises(RemoteProtocolError) as caught:
        pair.client.receive_data(raw({"type": "shutdown", "reason": "x", "final": value}))
    assert caught.value.code == ev.E_BAD_MESSAGE
    assert '"final" must' in caught.value.message
    assert pair.client.state is State.CLOSED


# ------------------------------------------------------------ LocalProtocolError


@pytest.mark.parametrize(
    ("role", "event"),
    [
        (Role.CLIENT, ev.Message(sender="me", text="forged", time=0.0)),
        (Role.CLIENT, ev.Welcome(name="x", mode="duplex", members=())),
        (Role.SERVER, ev.Hello(name="x")),
        (Role.SERVER, ev.Say(text="x")),
    ],
)
def test_sending_the_other_sides_events_is_local_misuse(role, event):
    with pytest.raises(LocalProtocolError):
        Connection(role).send(event)


def test_a_client_cannot_talk_before_its_welcome():
    client = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError):
        client.send(ev.Say(text="too early"))
    client.send(ev.Hello(name="ann"))
    with pytest.raises(LocalProtocolError):
        client.send(ev.Whisper(to="bob", text="still too early"))


def test_a_server_cannot_send_chat_before_the_welcome():
    server = Connection(Role.SERVER)
    for event in (ev.Message(sender="a", text="b", time=0.0), ev.Roster(members=()), ev.Turn(holder=None)):
        with pytest.raises(LocalProtocolError):
            server.send(event)


def test_nothing_can_be_sent_after_the_end():
    pair = Pair()
    pair.to_server(ev.Bye())
    with pytest.raises(LocalProtocolError):
        pair.client.send(ev.Say(text="ghost"))
    closed = Pair()
    closed.to_client(ev.Shutdown())
    with pytest.raises(LocalProtocolError):
        closed.server.send(ev.Message(sender="a", text="late", time=0.0))
    with pytest.raises(LocalProtocolError):
        closed.server.send(ev.Shutdown())


def test_the_transitions_table_only_lets_each_side_send_its_own_events():
    for (role, _state), allowed in TRANSITIONS.items():
        table = ev.CLIENT_EVENTS if role is Role.CLIENT else ev.SERVER_EVENTS
        assert set(allowed) <= set(table) | {ev.BINARY_EVENTS[role.value].type}


# ------------------------------------------------------------------ binary frames


def test_binary_file_pieces_cross_in_both_directions_as_raw_bytes():
    pair = Pair()
    data = bytes(range(256)) * 10
    upload = ev.UploadBytes(id="7", data=data)
    assert pair.client.send(upload) == binary_frame("7", data)
    assert pair.to_server(upload) == [upload]
    download = ev.FileBytes(id="7", data=data)
    assert pair.to_client(download) == [download]
    assert pair.server.state is State.OPEN and pair.client.state is State.OPEN


def test_each_side_sends_only_its_own_binary_frames():
    pair = Pair()
    with pytest.raises(LocalProtocolError):
        pair.client.send(ev.FileBytes(id="7", data=b"x"))
    with pytest.raises(LocalProtocolError):
        pair.server.send(ev.UploadBytes(id="7", data=b"x"))


def test_a_badly_cut_binary_frame_from_a_client_is_answered_and_the_connection_goes_on():
    pair = Pair()
    pair.server.receive_data(frame(b"\x00\x09ab"))  # the id runs past the end
    (invalid,) = pair.server.events()
    assert isinstance(invalid, Invalid) and invalid.code == ev.E_BAD_MESSAGE
    assert "binary frame" in invalid.message
    assert pair.to_server(ev.Say(text="still here")) == [ev.Say(text="still here")]


def test_a_binary_frame_before_hello_is_answered_hello_first():
    server = Connection(Role.SERVER)
    server.receive_data(binary_frame("1", b"data"))
    (invalid,) = server.events()
    assert isinstance(invalid, Invalid) and invalid.code == ev.E_HELLO_FIRST
    assert server.state is State.HANDSHAKE


def test_a_client_leaves_a_server_that_sends_a_broken_binary_frame():
    pair = Pair()
    with pytest.raises(RemoteProtocolError):
        pair.client.receive_data(frame(b"\x00\x00"))
    assert pair.client.state is State.CLOSED


def test_frames_before_a_broken_header_in_the_same_read_still_come_out():
    pair = Pair()
    with pytest.raises(RemoteProtocolError) as caught:
        pair.server.receive_data(pair.client.send(ev.Say(text="said whole")) + b"\xff\xff\xff\xff")
    assert caught.value.code == ev.E_BAD_FRAME
    assert pair.server.events() == [ev.Say(text="said whole")]
    assert pair.server.state is State.CLOSED


@pytest.mark.parametrize(
    ("obj", "table", "message"),
    [
        ({"type": "say", "text": None}, ev.CLIENT_EVENTS, '"text" must not be null'),
        ({"type": "say", "text": 5}, ev.CLIENT_EVENTS, '"text" must be a string'),
        ({"type": "say", "text": "a\ud800"}, ev.CLIENT_EVENTS, '"text" holds a lone surrogate, which is not valid text'),
        ({"type": "hello", "name": "x", "version": True}, ev.CLIENT_EVENTS, '"version" must be an integer'),
        ({"type": "history", "limit": 5, "before": "1"}, ev.CLIENT_EVENTS, '"before" must be an integer'),
        ({"type": "roster", "members": ["a", 1]}, ev.SERVER_EVENTS, '"members" must be a list of strings'),
        ({"type": "roster", "members": ["a", "\udfff"]}, ev.SERVER_EVENTS, '"members" holds a lone surrogate'),
        ({"type": "error", "code": "x", "message": "y", "fatal": 1}, ev.SERVER_EVENTS, '"fatal" must be true or false'),
        ({"type": "message", "from": "a", "text": "b", "time": "now"}, ev.SERVER_EVENTS, '"time" must be a number'),
        ({"type": "message", "from": "a", "text": "b", "time": False}, ev.SERVER_EVENTS, '"time" must be a number'),
    ],
)
def test_each_field_check_names_the_field_and_what_is_wrong(obj, table, message):
    # events.py picks each field's check once per class; the answers are the ones it always gave
    with pytest.raises(ev.EventShapeError) as caught:
        ev.event_from_json(obj, table)
    assert str(caught.value).startswith(message)
    assert caught.value.code == ev.E_BAD_MESSAGE


def test_optional_fields_take_null_and_numbers_become_floats():
    assert ev.event_from_json({"type": "history", "limit": 5, "before": None}, ev.CLIENT_EVENTS) == ev.HistoryRequest(limit=5)
    got = ev.event_from_json({"type": "message", "from": "a", "text": "é ✓", "time": 3}, ev.SERVER_EVENTS)
    assert got == ev.Message(sender="a", text="é ✓", time=3.0) and isinstance(got.time, float)
    assert ev.event_from_json({"type": "turn", "holder": None}, ev.SERVER_EVENTS) == ev.Turn(holder=None)


# ------------------------------------------- the fast path (events.fast_event_from_payload)
# msgspec decodes and checks a frame in one step; the plain path (wire.decode_json, then
# events.event_from_json) is the rule. Wherever the fast path answers, the plain path must
# build the same event; where it does not (None), the plain path decides alone.

VALUES = {  # for each wire annotation: values of the right type, then anything else
    "str": st.text(max_size=12),
    "str | None": st.none() | st.text(max_size=12),
    "int": st.integers(min_value=-(2**70), max_value=2**70),
    "int | None": st.none() | st.integers(min_value=-(2**63), max_value=2**63),
    "bool": st.booleans(),
    "float": st.floats(allow_nan=False, allow_infinity=False) | st.integers(min_value=-(2**53), max_value=2**53),
    "tuple[str, ...]": st.lists(st.text(max_size=6), max_size=3),
    "tuple[int, ...]": st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=3),
}
VALUES["float | None"] = st.none() | VALUES["float"]  # hello's since (PROTOCOL.md, Staying in the room)
ANY_JSON = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6) | st.lists(st.integers(), max_size=2)
TABLES = {"client": ev.CLIENT_EVENTS, "server": ev.SERVER_EVENTS}


@st.composite
def frames(draw):
    """A JSON payload for some event type of one table: right fields, or some wrong, missing,
    extra, duplicated or oddly spelled."""
    side = draw(st.sampled_from(sorted(TABLES)))
    table = TABLES[side]
    cls = table[draw(st.sampled_from(sorted(table)))]
    parts = [f'"type":{json.dumps(cls.type)}']
    clean = True  # every field of the right type, none unknown: the fast path must answer
    for wired in ev._wire_fields(cls):
        if draw(st.integers(0, 9)) == 0:
            clean = clean and not wired.required
            continue  # left out
        good = draw(st.integers(0, 5)) > 0
        value = draw(VALUES[wired.annotation] if good else ANY_JSON)
        clean = clean and good
        parts.append(f"{json.dumps(wired.key)}:{json.dumps(value, ensure_ascii=draw(st.booleans()))}")
    if draw(st.integers(0, 5)) == 0:
        parts.append(f'"extra":{json.dumps(draw(ANY_JSON))}')
        clean = False
    if draw(st.integers(0, 8)) == 0:
        parts.append(draw(st.sampled_from(['"type":"say"', '"type":7', '"n":1e400', '"text":"\\ud800"'])))
        clean = False
    order = draw(st.permutations(parts))
    return side, ("{" + ",".join(order) + "}").encode("utf-8", "surrogatepass"), clean


def _plain_event(payload: bytes, table):
    try:
        return ev.event_from_json(decode_json_plain(payload), table)
    except (ValueError, RecursionError):  # EventShapeError, a JSON refusal
        return None


@given(frames())
@settings(max_examples=1000, deadline=None)
def test_wherever_the_fast_path_answers_the_plain_path_builds_the_same_event(case):
    side, payload, clean = case
    fast = ev.fast_event_from_payload(payload, TABLES[side])
    if fast is not None:
        assert _plain_event(payload, TABLES[side]) == fast
    elif clean:  # a frame any lanchat sends: the fast path is for exactly these
        assert _plain_event(payload, TABLES[side]) is None or "\\u" in payload.decode(), payload


@pytest.mark.parametrize("event", CLIENT_TALK + SERVER_TALK, ids=lambda e: e.type)
def test_the_fast_path_answers_every_frame_lanchat_itself_sends(event):
    table = ev.CLIENT_EVENTS if event.sent_by == "client" else ev.SERVER_EVENTS
    payload = encode(event)[4:]
    assert ev.fast_event_from_payload(payload, table) == event == _plain_event(payload, table)


def test_what_the_fast_path_leaves_to_the_plain_path():
    table = ev.CLIENT_EVENTS
    for payload in (
        b'{"type":"say","text":"hi","colour":"red"}',  # an unknown field: ignored, by the plain path
        b'{"type":"say","text":"hi","n":1e400}',  # refused by the plain path (bad-json)
        b'{"type":"say","text":5}',
        b'{"type":"dance"}',
        b'{"type":"say","type":"who"}',
        b"[1]",
    ):
        assert ev.fast_event_from_payload(payload, table) is None, payload
    assert _plain_event(b'{"type":"say","text":"hi","colour":"red"}', table) == ev.Say(text="hi")


EDGES = [  # (payload, whether it is in range)
    *((b'{"type":"joined","name":"a","time":%s}' % spelled, ok) for spelled, ok in (
        (b"0", True), (b"0.0", True), (b"-0.5", False), (b"253402300799.0", True), (b"253402300800.0", False),
        (b"1e300", False), (b"17e8", True),
    )),
    *((b'{"type":"history","limit":%d}' % number, ok) for number, ok in (
        (2**63 - 1, True), (2**63, False), (-(2**63), True), (-(2**63) - 1, False), (0, True),
    )),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "in_range"), EDGES)
def test_the_fast_and_plain_paths_agree_at_the_edges_of_every_range(payload, in_range):
    table = ev.SERVER_EVENTS if b"joined" in payload else ev.CLIENT_EVENTS
    fast = ev.fast_event_from_payload(payload, table)
    if in_range:
        assert fast is not None and fast == _plain_event(payload, table)
    else:
        assert fast is None and _plain_event(payload, table) is None


# ------------------------------------------- the say short path (Connection.next_says)


def test_next_says_takes_well_formed_says_and_leaves_everything_else_to_next_event():
    pair = Pair()
    frames = [
        encode(ev.Say(text="one")),
        encode(ev.Say(text="two ✓")),
        encode(ev.Say(text="three")),
        encode(ev.Who()),
        raw(b'{"type": "say", "text": "a", "extra": 1}'),  # a field too many: the plain path's
        raw(b'{"type": "say", "text": 5}'),
        encode(ev.Say(text="four")),
    ]
    pair.server.receive_data(b"".join(frames[:4]))
    pair.server.receive_data(b"".join(frames[4:]))
    assert pair.server.next_says(2) == ["one", "two ✓"]  # at most as many as asked
    assert pair.server.next_says(10) == ["three"]  # up to the first frame that is not a say
    assert pair.server.next_says(10) == []
    assert pair.server.next_event() == ev.Who()  # not taken by next_says
    assert pair.server.next_says(10) == []
    assert pair.server.next_event() == ev.Say(text="a")  # an unknown field is ignored (PROTOCOL.md 3)
    assert pair.server.next_says(10) == []
    assert isinstance(bad := pair.server.next_event(), Invalid) and bad.code == ev.E_BAD_MESSAGE
    assert pair.server.next_says(10) == ["four"]
    assert pair.server.next_says(10) == [] and pair.server.next_event() is None
    assert pair.server.state is State.OPEN


def test_next_says_takes_nothing_before_the_welcome_after_bye_or_on_a_client():
    early = Pair(handshake=False)
    rogue = Connection(Role.CLIENT)
    rogue.state = State.OPEN
    early.server.receive_data(rogue.send(ev.Say(text="hi")))
    assert early.server.next_says(10) == []
    assert isinstance(refused := early.server.next_event(), Invalid) and refused.code == ev.E_HELLO_FIRST

    pair = Pair()
    pair.server.receive_data(encode(ev.Bye()) + encode(ev.Say(text="after bye")))
    assert pair.server.next_says(10) == [] and pair.server.next_event() == ev.Bye()
    assert pair.server.next_says(10) == [] and pair.server.next_event() is None  # nothing read after bye

    talk = Pair()  # a client's frames are the server's to send: next_says is the server's only
    message = ev.Message(sender="ann", text="hi", time=1.5)
    talk.client.receive_data(talk.server.send(message))
    assert talk.client.next_says(10) == [] and talk.client.events() == [message]


@pytest.mark.parametrize(
    ("data", "greeting"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "SSH-2.0-OpenSSH_9.6"),
        (b"220 " + b"m" * 100, "220 " + "m" * 56 + "..."),
        (b"\x00\x00\x00\x10{}", None),  # a lanchat frame
        (b"OK\x1b[2J\n", None),  # an escape is not printable text
        (b"\x16\x03\x01\x00", None),  # TLS
        (b"ab", None),
    ],
)
def test_a_text_greeting_is_read_only_when_it_is_printable(data, greeting):
    assert protocol.text_greeting(data) == greeting
