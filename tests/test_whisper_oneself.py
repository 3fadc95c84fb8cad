"""A whisper to one's own name (`/w ann hi`, typed by ann): it came back as a direct from ann to
ann, as if it had gone somewhere. lanchat's client now says 'that is you' and sends nothing;
the server refuses one from any other client with `bad-message` (PROTOCOL.md 3.1.3). A real
--plain client against a stand-in server that records every frame, and real clients on a real
server."""

from __future__ import annotations

import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import Proc, RawClient, StandInServer, running_server, wait_for

from lanchat import events as ev
from lanchat.history import HistoryStore
from lanchat.unconfirmed import SHOW_UNANSWERED_AFTER
from lanchat.wording import WHISPER_TO_ONESELF

pytestmark = pytest.mark.timeout(60)


def test_lanchat_says_that_is_you_and_sends_no_whisper_to_its_own_name():
    server = StandInServer(lambda _server, _event: None)
    bob = Proc("connect", "127.0.0.1", str(server.port), "--name", "bob", "--plain", "--no-reconnect")
    try:
        bob.expect("welcome, bob")
        for typed in ("/w bob are you there?", "/msg BOB psst"):  # any case, the alias too
            mark = bob.mark()
            bob.send(typed)
            bob.expect(WHISPER_TO_ONESELF, start=mark)
        bob.send("/w cy hi")  # someone else's name goes as ever: and after the two lines above
        wait_for(lambda: any(isinstance(e, ev.Whisper) for e in server.heard), what="the whisper to cy")
        assert [e.to for e in server.heard if isinstance(e, ev.Whisper)] == ["cy"]
        assert "Traceback" not in bob.output
    finally:
        bob.stop()
        server.close()


def answer(client: RawClient) -> object:
    """The server's answer to a whisper: a direct (its copy, sent) or an error (refused)."""
    while not isinstance(event := client.expect(object), (ev.Direct, ev.Error)):
        pass
    return event


def test_the_server_refuses_a_whisper_to_oneself_by_name_or_by_the_name_before_a_nick(tmp_path):
    """From a client that does not check (nc, an older lanchat, a script): its own name in any
    case, or its name before a /nick (still its key's: it would have been kept for itself).
    Refused with no-such-user, a whisper's refusal since the first version: a client that waits
    for each whisper's answer (lanchat's Unconfirmed) takes it as one (see the test below)."""
    store = HistoryStore(tmp_path / "history.sqlite3")
    try:
        with running_server(history=store) as (_server, endpoint):
            ann = RawClient(endpoint, "ann", key=Ed25519PrivateKey.generate())
            bob = RawClient(endpoint, "bob")
            refusals = []
            for to in ("ann", "ANN", "ann"):
                if len(refusals) == 2:  # the third: her name before a /nick
                    ann.send(ev.Nick(name="anna"))
                    ann.expect(ev.Renamed, new="anna")
                ann.send(ev.Whisper(to=to, text="to me"))
                refusals.append(answer(ann))
            assert [(e.code, e.message) for e in refusals] == [(ev.E_NO_SUCH_USER, WHISPER_TO_ONESELF)] * 3, refusals
            ann.send(ev.Whisper(to="bob", text="and to bob"))  # the connection goes on
            assert answer(ann) == bob.expect(ev.Direct, sender="anna", to="bob", text="and to bob")
            ann.close()
            bob.close()
        assert [record.text for record in store.export() if record.to is not None] == ["and to bob"]
    finally:
        store.close()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_a_whisper_to_ones_name_before_a_nick_is_answered_not_left_sending(terms):
    """ann (her key owns 'ann', the room keeps history) typed /nick anna, then /w ann hi: her
    client cannot know the name is hers (it may be from last week), so it sends it, and the room
    says 'that is you'. That refusal came as bad-message, which answers no typed line, so her
    status line said 'sending 1 line you typed…' until her next line's echo (and a rejoin would
    have sent the whisper again); an older lanchat's whisper to its own name alike. It comes as
    no-such-user, the whisper's own refusal: the line is answered. (Watched for as long as the
    mark takes to show, plus a margin: it would show within SHOW_UNANSWERED_AFTER.)"""
    from test_ui_pty import host, join

    _teacher, port = host(terms, name="teacher", cols=80)
    ann = join(terms, port, "ann", cols=80)
    ann.send("/nick anna\r")
    ann.expect("you are now known as anna")
    ann.send("/w ann are you me?\r")
    ann.expect(WHISPER_TO_ONESELF)
    with pytest.raises(AssertionError, match="timed out"):
        ann.wait_screen(lambda rows: "sending 1 line" in rows[-2], timeout=SHOW_UNANSWERED_AFTER + 2, what="a line left sending")
