"""A bug met while serving one connection ends that connection, never the chat for everyone."""

from helpers import RawClient, running_server

from lanchat import events as ev
from lanchat.protocol import ConnectionClosed


def test_a_bug_handling_one_clients_message_drops_only_that_client():
    with running_server() as (server, endpoint):
        ann = RawClient(endpoint, "ann")
        bob = RawClient(endpoint, "bob")
        ann.expect(ev.Joined, name="bob")
        real_handle = server.room.handle

        def buggy_handle(cid, event):  # a stand-in for a bug the tests have not found yet
            if isinstance(event, ev.Whisper) and event.text == "trigger":
                raise KeyError("a bug")
            return real_handle(cid, event)

        server.room.handle = buggy_handle  # a say takes Hub.say's short path; a whisper comes here
        bob.send(ev.Whisper(to="ann", text="trigger"))
        bob.expect(ConnectionClosed)
        ann.expect(ev.Left, name="bob", reason="lost")
        ann.send(ev.Say(text="the room goes on"))
        ann.expect(ev.Message, sender="ann", text="the room goes on")
        assert server.running
        assert len(server.internal_errors) == 1 and "KeyError: 'a bug'" in server.internal_errors[0]
        server.internal_errors.clear()  # expected here; any other test fails on one
        ann.close()
        bob.close()
