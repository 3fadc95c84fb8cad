"""The quickest end-to-end check: a headless server and two plain clients chat."""

from helpers import Proc, start_server


def test_two_plain_clients_chat_through_a_headless_server():
    server, port = start_server("--headless")
    ann = bob = None
    try:
        ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
        ann.expect(r"welcome, ann")
        bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob")
        bob.expect(r"welcome, bob: duplex mode; here: ann")
        ann.expect(r"-!- bob joined \(2 here\)")
        ann.send("hello bob")
        bob.expect(r"^\[\d\d:\d\d:\d\d\] ann: hello bob$")
        bob.send("/q")
        assert bob.wait() == 0
        ann.expect(r"-!- bob left \(1 here\)")
        server.popen.terminate()
        ann.expect(r"the server shut down")
        assert ann.wait() == 0
        assert server.wait() == 0
    finally:
        for proc in (ann, bob, server):
            if proc:
                proc.stop()
