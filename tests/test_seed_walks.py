"""The seeds' READMEs walked as their users would, against the real programs in real terminals.

lanchat grew from five small chat programs (README.md, "Learn sockets with the notebooks"); what
each one's README tells its user to do must still work here, the way that user would try it:
seed 001's `python server.py <port>` and `python client.py <port>` are `lanchat serve PORT --turn`
and `lanchat connect PORT`, or nc as its client; seed 000's mood client is `lanchat connect --unix`
to a `serve --bot colour --once` room. Each program runs in a pseudo-terminal (tests/helpers.py's
TermProc), on loopback with a port the system chose or a socket in a fresh folder.
"""

from __future__ import annotations

import os
import shutil

import pytest
from helpers import Proc, TermProc, start_server

pytestmark = pytest.mark.timeout(120)


def _turn_server() -> tuple[TermProc, str]:
    """Seed 001's server console: `lanchat serve PORT --turn` at a terminal, in line mode (the
    seed's console prints a line and prompts); PORT 0 lets the system choose, as the seed's
    `python server.py <port_number>` takes the port as its only argument."""
    server = TermProc("serve", "0", "--turn", "--host", "127.0.0.1", "--plain", "--name", "srv", "--no-history", "--no-announce",
                      rows=40, cols=120)  # fmt: skip
    port = server.expect(r"turn-based chat listening on port (\d+)").group(1)
    server.expect(r"-!- turn-based: waiting for someone to join")
    return server, port


def test_seed_001_the_client_speaks_first_then_each_in_turn_and_either_ends_it_with_q():
    """Seed 001, "Example Exchange": the client prompts first; its message is shown on the
    server's console, which then prompts for a reply; and so on, until /q on either side. The
    client is `lanchat connect PORT` (a lone number: 127.0.0.1, as the seed's client.py <port>),
    on the full screen."""
    server, port = _turn_server()
    client = again = None
    try:
        client = TermProc("connect", port, "--name", "cli", rows=24, cols=100)
        client.expect(r"-!- turn-based: your turn")  # 2. the client prompts first
        server.expect(r"-!- turn: waiting for cli")
        server.send("\r")  # an empty line is no message (the seed asks again): nothing is held or sent
        client.send("Hello server\r")
        server.expect(r"\] cli: Hello server *\n.*-!- turn: your turn")  # 3.1 printed, then the reply is asked for
        client.expect(r"│ turn │ waiting for srv │")  # the status line says whose turn it is
        server.send("Hi client\r")  # 3.3 the server sends its reply
        client.expect(r"srv: Hi client")
        client.expect(r"│ turn │ your turn │")  # 2.5 back to step 2
        assert "held until it is your turn" not in server.text and "srv: \n" not in server.text, server.text
        client.send("/q\r")  # /q on the client: it quits, the connection closed
        assert client.wait() == 0
        server.expect(r"-!- cli left \(1 here\)")

        again = TermProc("connect", port, "--name", "cli", rows=24, cols=100)
        again.expect(r"-!- turn-based: your turn")
        again.send("once more\r")
        server.expect(r"\] cli: once more")
        server.send("/q\r")  # /q on the server: the host is asked once, as it closes the chat for everyone
        server.expect(r"/q closes the chat for everyone \(cli\): type /q again to close it")
        server.send("/q\r")
        again.expect(r"the server shut down: the host closed the chat")
        again.expect(r"press any key to leave")  # the full screen keeps the last words until a key
        again.send("x")
        assert again.wait() == 0
        assert server.wait() == 0
        for proc in (server, client, again):
            assert "Traceback" not in proc.raw.decode("utf-8", "replace")
    finally:
        for proc in (client, again, server):
            if proc is not None:
                proc.stop()


@pytest.mark.skipif(shutil.which("nc") is None, reason="no nc installed")
def test_seed_001_with_nc_as_its_client_in_turns_and_q():
    """Seed 001's client was a bare socket that prompts and sends; a student's nc is the same:
    Enter, a name, then each line a message, in turns, and /q leaves (README, "Joining with nc")."""
    server, port = _turn_server()
    nc = TermProc(argv=[shutil.which("nc") or "nc", "127.0.0.1", port], rows=24, cols=80)
    try:
        nc.send("\r")
        nc.expect(r"Type your name and press Enter\.\s+name: ")
        nc.send("ann\r")
        nc.expect(r"-!- welcome, ann! here: srv; turn-based, the turn is yours")
        server.expect(r"-!- turn: waiting for ann")
        nc.send("\r")  # an empty line is no message
        nc.send("Hello server\r")
        server.expect(r"\] ann: Hello server *\n.*-!- turn: your turn")
        nc.expect(r"-!- srv's turn")
        nc.send("me again\r")  # out of turn: refused at once, nothing waits blindly
        nc.expect(r"! not your turn: waiting for srv")
        server.send("Hi client\r")
        nc.expect(r"\] srv: Hi client")
        nc.expect(r"-!- your turn: type a line")
        nc.send("/q\r")
        nc.expect(r"-!- you left the chat \(the connection is closed\)")
        server.expect(r"-!- ann left \(1 here\)")
        assert "ann: me again" not in server.text and "ann: \n" not in server.text, server.text
    finally:
        nc.stop()
        server.stop()


def test_seed_000_on_the_full_screen_a_y_closes_the_socket_the_server_ends_and_the_goodbye_stays_until_a_key(tmp_path):
    """Seed 000's client closes its socket at Y and its server then shuts down. On lanchat's full
    screen the bot's goodbye stays until a key is pressed (README, "The colour bot"), but the
    socket is already closed: the --once server has ended and removed its socket file by then."""
    path = str(tmp_path / "mood.sock")
    server, _ = start_server("--unix", path, "--bot", "colour", "--max-clients", "1", "--once", "--headless", "--bot-seed", "7")
    ann = TermProc("connect", "--unix", path, "--name", "ann", rows=24, cols=100)
    try:
        ann.expect(r"What mood are you in\?")
        ann.send("sunny\r")  # alone with the bot, a plain line is the answer, as in the seed
        ann.expect(r"For your sunny mood, try #[0-9A-F]{6}:")
        ann.expect(r"https://www\.computerhope\.com/cgi-bin/htmlcolor\.pl\?c=[0-9A-F]{6}")
        ann.send("N\r")
        ann.expect(r"Here is another suggestion: #[0-9A-F]{6}")
        ann.send("Y\r")
        ann.expect(r"Goodbye\.")
        ann.expect(r"the chat is over: press any key to leave")
        assert server.wait() == 0  # while the screen still waits
        server.expect(r"shutting down: the last person left")
        assert not os.path.exists(path)
        assert ann.proc.isalive()
        ann.send("x")
        assert ann.wait() == 0
    finally:
        ann.stop()
        server.stop()


def test_seed_000_the_client_without_a_server_says_why_and_exits_1(tmp_path):
    """Seed 000's client, step 2: if connecting fails, print the error and sys.exit(1)."""
    client = Proc("connect", "--unix", str(tmp_path / "mood.sock"), "--name", "ann")
    try:
        assert client.wait() == 1
        client.expect(r"no lanchat server at .*mood\.sock \(the path does not exist\)")
        assert "Traceback" not in client.output
    finally:
        client.stop()


@pytest.mark.parametrize("typed", ["\\quit", "/q"])
def test_seed_004s_quit_at_the_name_prompt_leaves_instead_of_joining_under_that_name(typed):
    """Seed 004's client asks for a username first; its future work's \\quit, typed there, joined
    as a person named '\\quit' (the room read '\\quit joined'), and /q read 'a name cannot start
    with /; try again'. Either now leaves, as Ctrl-D at the prompt does (exit 1, nobody joins)."""
    server, port = start_server("--headless", "--no-history", "--no-announce")
    client = TermProc("connect", "127.0.0.1", str(port), rows=24, cols=100)
    try:
        client.expect(r"Your name( \(Enter: [^)]*\))?: ")
        client.send(typed + "\r")
        client.expect(r"lanchat: no name given: not joining")
        assert client.wait() == 1
        assert "joined" not in server.output and "try again" not in client.text, (server.output, client.text)
    finally:
        client.stop()
        server.stop()
