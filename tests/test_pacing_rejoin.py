"""The flood limit across sessions, through a real server: a client's pacing (pacing.py) and the
server's bucket (limits.FloodControl, one per person, not per connection) agree when a person
comes back in a new process or a second terminal, and what is typed is never lost unsaid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from helpers import Proc, identity_args, wait_for
from test_reconnect import Blip, serve_tcp

STAMP = r"^\[\d\d:\d\d:\d\d\] "


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Every process a test starts, ended by PID at the end."""
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()
    for proc in started:
        assert "Traceback" not in proc.output, proc.output


def start(procs: list[Proc], *args: str) -> Proc:
    proc = Proc(*args)
    procs.append(proc)
    return proc


def join(procs: list[Proc], port: int, name: str) -> Proc:
    proc = start(procs, "connect", "127.0.0.1", str(port), "--name", name)
    proc.expect(rf"welcome, {name}")
    return proc


def paste(proc: Proc, lines: list[str]) -> None:
    """Lines pasted at once, as one write (the client reads them together)."""
    assert proc.popen.stdin is not None
    proc.popen.stdin.write("".join(f"{line}\n" for line in lines).encode())
    proc.popen.stdin.flush()


def heard(proc: Proc, sender: str, prefix: str) -> list[int]:
    """The numbers of ``sender``'s lines ``prefix N`` that ``proc`` showed, in order."""
    pattern = re.compile(STAMP + rf"{sender}: {prefix} (\d+)$")
    return [int(m.group(1)) for line in list(proc.lines) if (m := pattern.match(line))]


def test_a_session_taken_over_mid_paste_says_how_many_lines_it_never_sent(procs):
    """bob pastes 30 lines (paced: about 9 at once, then 3 a second) and joins again from a
    second terminal before they are out: the old session is closed, and its last words say how
    many of his lines never left, instead of dropping them unsaid."""
    server, port = serve_tcp("--no-history")
    procs.append(server)
    ann = join(procs, port, "ann")
    old = join(procs, port, "bob")
    paste(old, [f"one {n}" for n in range(30)])
    wait_for(lambda: len(heard(ann, "bob", "one")) >= 10, what="the first of bob's paste")
    join(procs, port, "bob")  # the same key: the new session takes over
    assert old.wait() == 1
    last = old.lines[-1]
    match = re.fullmatch(
        r"lanchat: disconnected by the server: you joined again from somewhere else; this session is closed"
        r" \((\d+) lines you typed were not sent\)",
        last,
    )
    assert match, old.output
    delivered = heard(ann, "bob", "one")
    assert delivered == list(range(len(delivered)))  # in order, none skipped
    # Each line was delivered or counted as not sent; one may have been on its way when the
    # takeover closed the old connection (the server drops what that connection still held).
    assert 30 - len(delivered) - 1 <= int(match.group(1)) <= 30 - len(delivered), (delivered, last)


def test_a_script_whose_lines_wait_when_the_host_ends_the_chat_for_good_exits_1(procs):
    """bob's script pastes 30 lines (paced: about 9 at once, then 3 a second) and teach ends the
    chat before they are out: the script exits 1 (it exited 0, the lost lines only counted in
    its last line), so `lanchat connect ... < lines.txt || echo lost` notices."""
    teach = start(procs, "serve", "--plain", "--name", "teach", "--host", "127.0.0.1", "--port", "0", "--no-announce",
                  "--no-history")
    port = int(teach.expect(r"listening on port (\d+)").group(1))
    teach.expect(r"welcome, teach")
    bob = join(procs, port, "bob")
    paste(bob, [f"one {n}" for n in range(30)])
    wait_for(lambda: len(heard(teach, "bob", "one")) >= 10, what="the first of bob's paste")
    teach.send("/q")
    assert bob.wait() == 1
    match = re.fullmatch(r"lanchat: disconnected: the server shut down: the host closed the chat"
                         r" \((\d+) lines you typed were not sent\)", bob.lines[-1])
    assert match and int(match.group(1)) > 0, bob.output


def test_a_script_that_sent_everything_exits_0_when_the_host_ends_the_chat(procs):
    teach = start(procs, "serve", "--plain", "--name", "teach", "--host", "127.0.0.1", "--port", "0", "--no-announce",
                  "--no-history")
    port = int(teach.expect(r"listening on port (\d+)").group(1))
    teach.expect(r"welcome, teach")
    bob = join(procs, port, "bob")
    paste(bob, ["only one"])
    teach.expect(r"bob: only one$")
    teach.send("/q")
    assert bob.wait() == 0
    assert bob.lines[-1] == "lanchat: disconnected: the server shut down: the host closed the chat", bob.output


def test_leaving_while_the_connection_is_down_says_the_lines_typed_meanwhile_were_not_sent(procs):
    """Lines typed while the Wi-Fi is down wait for the rejoin; /q before it says they never left."""
    server, port = serve_tcp("--no-history")
    procs.append(server)
    blip = Blip(("127.0.0.1", port))
    try:
        bob = join(procs, blip.port, "bob")
        blip.cut()
        bob.expect(r"connection lost; retrying in 1 s")
        for text in ("first", "second"):
            mark = bob.mark()
            bob.send(text)
            bob.expect(r"not connected: it will be sent when the connection is back", start=mark)
        bob.send("/q")
        assert bob.wait() == 0
        assert bob.lines[-3:] == [  # counted, then each quoted, to be typed again (975be09)
            "lanchat: you left the chat (2 lines you typed were not sent)", "lanchat: not sent: first", "lanchat: not sent: second",
        ], bob.output
    finally:
        blip.close()


def test_a_new_process_right_after_a_paste_paces_from_what_is_left_and_nothing_is_refused(procs):
    """bob pastes 30 lines, then his laptop closes the client (it is ended) while most still
    wait; he starts it again at once and pastes 15 more. The server's bucket is his name's and
    is spent: the new welcome says so, and the new client paces from there. Before, it started
    with a full burst: 7 of the 15 came back 'slow down: that was not sent'."""
    server, port = serve_tcp("--no-history")
    procs.append(server)
    ann = join(procs, port, "ann")
    first = join(procs, port, "bob")
    paste(first, [f"one {n}" for n in range(30)])
    wait_for(lambda: len(heard(ann, "bob", "one")) >= 10, what="the first of bob's paste")
    first.stop()
    ann.expect(r"bob (left|lost connection)")
    second = join(procs, port, "bob")  # a new process, the same key and name
    paste(second, [f"two {n}" for n in range(15)])
    wait_for(lambda: len(heard(ann, "bob", "two")) == 15, timeout=20, what="all of bob's second paste")
    assert heard(ann, "bob", "two") == list(range(15))
    assert "slow down" not in second.output and "not sent" not in second.output, second.output
    assert "flooding" not in server.output


def test_two_names_under_one_key_share_the_flood_limit_and_lose_no_line(procs):
    """bob and rob are one person (one key): the server counts them in one bucket, and each
    client paces as if it had it alone. Each refusal quotes the line it refused, and the client
    sends it again in its place. Before, 14 of rob's 15 lines came back 'slow down: that was not
    sent' and were gone."""
    server, port = serve_tcp("--no-history")
    procs.append(server)
    ann = join(procs, port, "ann")
    bob = start(procs, "connect", "127.0.0.1", str(port), "--name", "bob", *identity_args("bob"))
    bob.expect(r"welcome, bob")
    rob = start(procs, "connect", "127.0.0.1", str(port), "--name", "rob", *identity_args("bob"))
    rob.expect(r"welcome, rob")
    paste(bob, [f"one {n}" for n in range(15)])
    paste(rob, [f"two {n}" for n in range(15)])
    wait_for(lambda: len(heard(ann, "bob", "one")) == 15 and len(heard(ann, "rob", "two")) == 15, timeout=30,
             what="both pastes")
    assert heard(ann, "bob", "one") == list(range(15)) and heard(ann, "rob", "two") == list(range(15))
    for proc in (bob, rob):
        assert "slow down" not in proc.output and "not sent" not in proc.output, proc.output
    assert "flooding" not in server.output
