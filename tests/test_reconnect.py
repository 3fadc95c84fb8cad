"""Staying in the room: a connection that drops without a shutdown notice is retried, the client
comes back as the same name, and shows only what it missed, marked, with no duplicates.

A server killed and started again on the same AF_UNIX path (its history file kept), and a
"Wi-Fi blip": a relay between bob and the server that cuts bob's connection, refuses him for a
while, then lets him through again, while the others chat on.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import helpers
import pytest
from helpers import Proc, RawClient, short_tmp_dir, wait_for

from lanchat import client
from lanchat import events as ev
from lanchat.client import RETRY_DELAYS, ClientLoop, retry_delay
from lanchat.pacing import without_muted
from lanchat.session import Outgoing, Session, kept_mute_end, minute_at_or_after
from lanchat.transport import Endpoint

if TYPE_CHECKING:
    from helpers import TermProc


class Blip:
    """A TCP relay to ``target``: ``cut()`` drops every connection through it and turns new ones
    away (accept, then close) until ``restore()``, like Wi-Fi that drops and comes back. A new
    ``target`` (a server restarted on another port) takes the connections made from then on.
    ``swallow("up")`` first: what the client sends is taken and never forwarded (kept in
    ``swallowed``), as a dying link takes what the kernel already accepted; ``"down"``: what the
    server sends. ``restore()`` forwards both ways again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.upstreams: set[socket.socket] = set()
        self.swallowing: str | None = None
        self.swallowed = bytearray()
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ, None)
        while not self.stopping:
            for key, _ in selector.select(0.05):
                if key.data is None:
                    conn, _ = self.listener.accept()
                    if not self.up:
                        conn.close()
                        continue
                    try:
                        upstream = socket.create_connection(self.target, timeout=5)
                    except OSError:  # nothing listens there (a server stopped): as a cut link would
                        conn.close()
                        continue
                    with self.lock:
                        self.pairs.append((conn, upstream))
                        self.upstreams.add(upstream)
                    selector.register(conn, selectors.EVENT_READ, upstream)
                    selector.register(upstream, selectors.EVENT_READ, conn)
                    continue
                source, sink = key.fileobj, key.data
                try:
                    data = source.recv(65536)
                    if data:
                        with self.lock:
                            if self.swallowing == ("down" if source in self.upstreams else "up"):
                                self.swallowed += data
                                continue
                        sink.sendall(data)
                        continue
                except OSError:
                    pass
                for end in (source, sink):
                    with contextlib.suppress(KeyError, ValueError):
                        selector.unregister(end)
                    end.close()
            if not self.up:
                with self.lock:
                    pairs, self.pairs = self.pairs, []
                    self.upstreams.clear()
                for pair in pairs:
                    for end in pair:
                        with contextlib.suppress(KeyError, ValueError):
                            selector.unregister(end)
                        with contextlib.suppress(OSError):
                            end.shutdown(socket.SHUT_RDWR)
                        end.close()
        selector.close()

    def cut(self) -> None:
        self.up = False

    def restore(self) -> None:
        with self.lock:
            self.swallowing = None
        self.up = True

    def swallow(self, direction: str) -> None:
        with self.lock:
            self.swallowing = direction

    def has_swallowed(self, text: str) -> bool:
        with self.lock:
            return text.encode() in self.swallowed

    def close(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.listener.close()


def serve_tcp(*extra: str) -> tuple[Proc, int]:
    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-announce", *extra)
    return server, int(server.expect(r"listening on port (\d+)").group(1))


def test_a_wifi_blip_rejoins_and_shows_only_what_was_missed(tmp_path):
    server, port = serve_tcp("--history", str(tmp_path / "h.sqlite3"))
    blip = Blip(("127.0.0.1", port))
    ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
    bob = Proc("connect", "127.0.0.1", str(blip.port), "--name", "bob")
    try:
        ann.expect(r"welcome, ann")
        bob.expect(r"welcome, bob")
        ann.send("before the blip")
        bob.expect(r"ann: before the blip$")
        blip.cut()
        bob.expect(r"connection lost; retrying in 1 s \(/q to leave\)")
        ann.expect(r"bob lost connection")
        bob.send("typed while away")
        bob.expect(r"not connected: it will be sent when the connection is back")
        ann.send("while bob was away")
        ann.expect(r"ann: while bob was away$")
        mark = bob.mark()
        blip.restore()
        bob.expect(r"back in the room as bob", timeout=20)
        bob.expect(r"missed while you were away:")
        bob.expect(r"ann: while bob was away$")
        bob.expect(r"end of what you missed \(1 message\)")
        ann.expect(r"bob: typed while away$")  # the line typed while away went out on rejoining
        after = bob.lines[mark:]
        assert not any("before the blip" in line for line in after), after  # no duplicate
        assert sum("while bob was away" in line for line in bob.lines) == 1
    finally:
        for proc in (ann, bob, server):
            proc.stop()
        blip.close()
    for proc in (ann, bob, server):
        assert "Traceback" not in proc.output


def test_a_wifi_blip_in_a_room_without_history_says_what_was_said_meanwhile_is_not_shown():
    """A room without history (serve --no-history) replays nothing: back from a blip, cy read
    'back in the room as cy (2 here)' and the chat went on, as if nothing had been missed, while
    ann's line of the meantime was gone for cy. Now the rejoin says it is not shown, and why."""
    with ann_and_cy_behind_a_blip() as (ann, cy, blip):
        blip.cut()
        ann.expect(r"cy lost connection")
        ann.send("while cy was away")
        ann.expect(r"ann: while cy was away$")
        mark = cy.mark()
        blip.restore()
        cy.expect(r"back in the room as cy \(2 here\)$", timeout=20, start=mark)
        cy.expect(r"-!- what was said while you were away is not shown: this room keeps no history$", start=mark)
        assert "while cy was away" not in cy.output


def test_a_server_restart_brings_everyone_back_with_nothing_twice():
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        history = os.path.join(folder, "h.sqlite3")
        server = Proc("serve", "--headless", "--unix", path, "--history", history)
        server.expect(r"join with")
        people = {name: Proc("connect", "--unix", path, "--name", name) for name in ("ann", "bob", "cat")}
        try:
            for name, proc in people.items():
                proc.expect(rf"welcome, {name}")
            people["ann"].send("before the restart")
            for proc in people.values():
                proc.expect(r"ann: before the restart$")
            marks = {name: proc.mark() for name, proc in people.items()}
            server.popen.kill()  # no shutdown notice, as when a machine crashes
            server.wait()
            for proc in people.values():
                proc.expect(r"connection lost; retrying in 1 s")
            server = Proc("serve", "--headless", "--unix", path, "--history", history)
            server.expect(r"join with")
            for name, proc in people.items():
                proc.expect(rf"back in the room as {name}", timeout=20, start=marks[name])
            wait_for(lambda: server.output.count(" joined from ") == 3, what="all three back")
            people["bob"].send("after the restart")
            for name, proc in people.items():
                proc.expect(r"bob: after the restart$")
                later = proc.lines[marks[name]:]
                assert not any("before the restart" in line for line in later), later
        finally:
            for proc in (*people.values(), server):
                proc.stop()
        for proc in (*people.values(), server):
            assert "Traceback" not in proc.output


def test_q_while_retrying_leaves_at_once():
    server, port = serve_tcp()
    bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob")
    try:
        bob.expect(r"welcome, bob")
        server.popen.kill()
        bob.expect(r"connection lost; retrying in 1 s")
        bob.send("/q")
        assert bob.wait() == 0
        bob.expect(r"^lanchat: you left the chat$")
    finally:
        bob.stop()
        server.stop()


def test_a_room_whose_server_is_not_back_yet_says_so_in_a_rejoins_words():
    """The host's laptop crashed: each try is refused until the room is started again. The line
    said the first connect's words, asides within asides ("still no connection (no lanchat server
    at 127.0.0.1:PORT (connection refused); is `lanchat serve` running?); retrying in 2 s")."""
    server, port = serve_tcp()
    bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob")
    try:
        bob.expect(r"welcome, bob")
        server.popen.kill()
        line = bob.expect(r"still no connection.*").group(0)
        assert line == "still no connection (the room's server is not running at the moment: connection refused); retrying in 2 s (/q to leave)"
    finally:
        bob.stop()
        server.stop()


def test_a_real_shutdown_is_not_retried():
    server, port = serve_tcp()
    bob = Proc("connect", "127.0.0.1", str(port), "--name", "bob")
    try:
        bob.expect(r"welcome, bob")
        server.popen.terminate()  # a headless server tells everyone before it goes
        assert bob.wait() == 0
        assert "retrying" not in bob.output
        bob.expect(r"the server shut down")
    finally:
        bob.stop()
        server.stop()


def expect_waiting_for_a_restart(bob) -> None:  # noqa: ANN001 - a TermProc
    """The server was stopped (not final): bob's full screen says it waits, and does not end."""
    bob.expect(r"-!- the server shut down: the server was stopped")
    bob.expect(r"-!- if the host starts the server again, you will rejoin it \(/q to leave\)")
    bob.wait_screen(lambda rows: "server stopped: waiting for it to come back; /q leaves" in rows[-2],
                    what="the status line saying it waits for the server")
    assert bob.proc.isalive() and "press any key" not in bob.text


# ------------------------------- a restart with a shutdown notice (the host restarts mid-lesson)


def test_the_full_screen_waits_out_a_server_restart_and_rejoins():
    """SIGTERM on `serve` sends the shutdown notice; a full-screen client used to take it as the
    end (press any key, and 25 students type `connect` again). It now shows the notice, says on
    the status line that it waits for the server, and rejoins the restarted one by itself; a
    line typed meanwhile goes out then, as after a drop."""
    from helpers import TermProc

    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        history = os.path.join(folder, "h.sqlite3")
        server = Proc("serve", "--headless", "--unix", path, "--history", history)
        server.expect(r"join with")
        bob = TermProc("connect", "--unix", path, "--name", "bob", rows=24, cols=100)
        ann: Proc | None = None
        try:
            bob.expect(r"bob │ client")
            server.popen.terminate()
            assert server.wait() == 0
            expect_waiting_for_a_restart(bob)
            bob.send("typed while the server was down")
            bob.wait_screen(lambda rows: "typed while the server was down" in rows[-1], what="the typed line")
            bob.send("\r")  # the input line empties: the notice says which line waits
            bob.expect(r"not connected: 'typed while the server was down' will be sent")  # (folded after it)
            server = Proc("serve", "--headless", "--unix", path, "--history", history)
            server.expect(r"join with")
            ann = Proc("connect", "--unix", path, "--name", "ann")
            ann.expect(r"welcome, ann")
            bob.expect(r"back in the room as bob", timeout=30)  # retries come 1, 3, 7, 15 s after the notice
            ann.expect(r"bob: typed while the server was down$")  # live, or replayed if bob was quicker
            bob.wait_screen(lambda rows: "waiting" not in rows[-2] and "2 here" in rows[-2], what="the live status line")
            bob.send("after the restart")
            bob.wait_screen(lambda rows: "after the restart" in rows[-1], what="the typed line")
            bob.send("\r")
            ann.expect(r"\] bob: after the restart$")
            bob.send("/q\r")
            assert bob.wait() == 0
        finally:
            bob.stop()
            for proc in (ann, server):
                if proc is not None:
                    proc.stop()
        assert "Traceback" not in bob.text and "Traceback" not in server.output


def test_a_sigterm_to_the_hosts_screen_is_waited_out_as_a_restart():
    """The host's `serve` with its own screen, stopped by SIGTERM (its terminal window closed, the
    machine shutting down, `kill`): not the host ending the lesson (its /q and Ctrl-C send a final
    notice, test_ui_pty.py), so a student's full screen says the server was stopped, waits, and
    rejoins the server started again."""
    import signal

    from helpers import TermProc

    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        history = os.path.join(folder, "h.sqlite3")
        hal = TermProc("serve", "--unix", path, "--history", history, "--name", "hal", rows=24, cols=100)
        bob: TermProc | None = None
        server: Proc | None = None
        try:
            hal.expect(r"hal │ host")
            bob = TermProc("connect", "--unix", path, "--name", "bob", rows=24, cols=100)
            bob.expect(r"bob │ client")
            hal.expect(r"bob joined")
            hal.proc.kill(signal.SIGTERM)
            assert hal.wait() == 0
            expect_waiting_for_a_restart(bob)
            server = Proc("serve", "--headless", "--unix", path, "--history", history)
            server.expect(r"join with")
            bob.expect(r"back in the room as bob", timeout=30)  # retries come 1, 3, 7, 15 s after the notice
            bob.send("/q\r")
            assert bob.wait() == 0
        finally:
            for term in (bob, hal):
                if term is not None:
                    term.stop()
            if server is not None:
                server.stop()
        assert bob is not None and "Traceback" not in bob.text and "Traceback" not in hal.text


@pytest.mark.parametrize("how", ["--plain", "--no-reconnect"])
def test_plain_and_no_reconnect_clients_still_end_at_the_shutdown_notice(how):
    """Only the full screen with rejoining on waits for the server: `--plain` (even at a
    terminal) prints the notice and exits 0 as before, `--no-reconnect` keeps the notice on
    the screen until a key, then exits 0."""
    from helpers import TermProc

    server, port = serve_tcp()
    bob = TermProc("connect", "127.0.0.1", str(port), "--name", "bob", how, rows=24, cols=100)
    try:
        bob.expect(r"welcome, bob" if how == "--plain" else r"bob │ client")
        server.popen.terminate()
        bob.expect(r"the server shut down: the server was stopped")
        if how == "--no-reconnect":
            bob.expect(r"press any key to leave")
            bob.send(" ")
        assert bob.wait() == 0
        bob.expect(r"lanchat: disconnected: the server shut down: the server was stopped")
        assert "starts the server again" not in bob.text and "retrying" not in bob.text
    finally:
        bob.stop()
        server.stop()


# ------------------------------------------------------------------ pure rules


def test_the_waits_grow_then_stay_bounded():
    assert [retry_delay(n) for n in range(8)] == [1, 2, 4, 5, 5, 5, 5, 5]
    assert max(RETRY_DELAYS) <= 5  # a restarted room is rejoined within 5 s of coming back


def test_waiting_after_a_shutdown_notice_is_not_the_end_of_the_chat():
    """The notice stays in the transcript; the status line and roster say offline and waiting,
    not "chat over: press any key"; the rejoin is greeted as after a drop."""
    from lanchat.client import Offline
    from lanchat.ui import render
    from lanchat.ui.view import View

    session = Session(name="bob", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    notice = session.on_event(ev.Shutdown(reason="the server was stopped"))
    assert [line.text for line in notice] == ["the server shut down: the server was stopped"]
    assert render.chat_over(session)
    waiting = session.rejoin.stopped(session)
    assert [line.text for line in waiting] == ["if the host starts the server again, you will rejoin it (/q to leave)"]
    assert not render.chat_over(session) and session.rejoin.under_way
    status = Offline()
    status.stopped = True
    session.progress["connection"] = status
    text = render.status_text(View(session=session), 80)
    assert text.startswith(" bob │ server stopped: waiting for it to come back; /q leaves"), text
    assert "press any key" not in text
    session.progress.pop("connection")
    back = session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    assert [line.text for line in back] == ["back in the room as bob (2 here)", "what was said while you were away is not shown: this room keeps no history"]

    # a room of lanchat's first release: its welcome has no word on history (it keeps one, and replays it)
    session.on_event(ev.Shutdown(reason="the server was stopped"))
    session.rejoin.stopped(session)
    back = session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob"), version=ev.FIRST_RELEASE_VERSION))
    assert [line.text for line in back] == ["back in the room as bob (2 here)"]


# What the server sends between the welcome and the replay (room_social.after_welcome): the
# topic and who is away. They ended the replay before it began, so in a room with a topic a
# rejoin showed a line seen before the drop again, and the missed ones unmarked.
BEFORE_THE_REPLAY = {
    "nothing": [],
    "a topic and someone away": [ev.Topic(text="fractions", by="ann", time=5.0), ev.Away(name="ann", reason="tea", time=5.0)],
}


@pytest.mark.parametrize("before", BEFORE_THE_REPLAY)
def test_a_rejoin_shows_only_unseen_replayed_messages_marked_and_once(before):
    session = Session(name="bob", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    session.on_event(ev.Message(sender="ann", text="seen", time=10.0))
    lost = session.rejoin.lost(session, 1.0)
    assert [line.text for line in lost] == ["connection lost; retrying in 1 s (/q to leave)"]
    back = session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob"), keeps_history=True))
    assert [line.text for line in back] == ["back in the room as bob (2 here)"]
    for event in BEFORE_THE_REPLAY[before]:
        session.on_event(event)
    assert session.on_event(ev.Message(sender="ann", text="seen", time=10.0, history=True)) == []
    missed = session.on_event(ev.Message(sender="ann", text="new", time=11.0, history=True))
    assert [(line.kind, line.text) for line in missed] == [("notice", "missed while you were away:"), ("history", "new")]
    end = session.on_event(ev.HistoryEnd(shown=2, more=False, before=1))
    assert [line.text for line in end] == ["end of what you missed (1 message)"]
    assert not session.rejoin.under_way
    live = session.on_event(ev.Message(sender="ann", text="live", time=12.0))
    assert [(line.kind, line.text) for line in live] == [("message", "live")]


def test_a_rejoin_does_not_say_again_the_topic_and_away_marks_it_showed_before_the_drop():
    # In a lesson with a topic, each Wi-Fi drop and each restart of the teacher's laptop put
    # "topic: framing (set by ann)" in every student's transcript again, stamped with the time it
    # was set, below "back in the room": three drops, three topics. What the room says after the
    # welcome is still taken (a restarted room may have another topic, or none), and said only
    # when it differs from what the screen showed before the drop.
    session = Session(name="cy", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "bob", "cy"), host="ann"))
    session.on_event(ev.Topic(text="framing", by="ann", time=5.0))
    session.on_event(ev.Away(name="bob", reason="brb", time=6.0))
    for topic, away, said in (
        ("framing", "brb", []),
        ("framing", "lunch", ["bob is away: lunch"]),
        ("sockets", "lunch", ["topic: sockets (set by ann)"]),
    ):
        session.rejoin.lost(session, 1.0)
        session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "bob", "cy"), host="ann"))
        lines = session.on_event(ev.Topic(text=topic, by="ann", time=95.0)) + session.on_event(ev.Away(name="bob", reason=away, time=96.0))
        assert [line.text for line in lines] == said
        assert (session.topic, session.away) == (topic, {"bob": away})  # the status line and the roster have them
        assert [line.time for line in lines] == [100.0] * len(said)  # with the welcome, not when it was set
        session.on_event(ev.HistoryEnd(shown=0, more=False, before=None))
    # a live change after the rejoin is said as ever, even back to what it was before the drop
    assert [line.text for line in session.on_event(ev.Topic(text="framing", by="ann", time=101.0))] == ["topic: framing (set by ann)"]
    # a room without history sends nothing after the topic: a change a while later is said, at its time
    now = [100.0]
    session = Session(name="cy", clock=lambda: now[0])
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "cy"), host="ann"))
    session.on_event(ev.Topic(text="framing", by="ann", time=5.0))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "cy"), host="ann"))
    now[0] = 400.0
    lines = session.on_event(ev.Topic(text="framing", by="ann", time=399.0))
    assert [(line.text, line.time) for line in lines] == [("topic: framing (set by ann)", 399.0)]


def test_the_hosts_screen_says_a_topic_kept_from_the_last_run_once():
    # After a restart the host's screen said the topic twice: the room's "topic: framing (set by
    # ann)" right after the welcome, and the start line "topic kept from the last run (/topic -
    # clears it): framing" (cli/serve.py's _kept_lines), which says more. The room's is taken, not said.
    def joined(kept: str, topic: str) -> tuple[list[str], str]:
        host = Session(name="ann", role="host", kept_topic=kept, clock=lambda: 100.0)
        host.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann",), host="ann"))
        lines = host.on_event(ev.Topic(text=topic, by="ann", time=95.0))
        return [line.text for line in lines], host.topic

    assert joined("framing", "framing") == ([], "framing")  # the status line still has it
    assert joined("framing", "sockets") == (["topic: sockets (set by ann)"], "sockets")  # changed since: said
    assert joined("", "framing") == (["topic: framing (set by ann)"], "framing")  # none kept: said as ever


def test_the_answer_to_our_away_asked_again_after_a_rejoin_is_not_said_again():
    # ann went /away lunch; each drop asked it again, and the room's answer put "you are away:
    # lunch (/away again: back)" in her transcript once more, though nothing changed for her.
    session = Session(name="ann", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="ann", mode="duplex", members=("hal", "ann"), host="hal"))
    session.parse_input("/away lunch")
    assert [line.text for line in session.on_event(ev.Away(name="ann", reason="lunch", time=5.0))] == [
        "you are away: lunch (/back when you are back)"
    ]
    session.take_pending()
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="ann", mode="duplex", members=("hal", "ann"), host="hal"))
    assert session.take_pending() == [ev.SetAway(reason="lunch")]
    session.on_event(ev.HistoryEnd(shown=0, more=False, before=None))
    assert session.on_event(ev.Away(name="ann", reason="lunch", time=9.0)) == []
    assert session.away == {"ann": "lunch"} and session.away_asked is None
    # what she asks next is said as ever
    assert session.parse_input("/away") == Outgoing(ev.SetAway(reason=""))
    assert [line.text for line in session.on_event(ev.Away(name="ann", reason="", time=10.0))] == ["you are back"]


def test_a_rejoin_forgets_the_old_rooms_topic_away_marks_and_operators_and_asks_our_away_again():
    # A server restarted mid-evening has no topic, nobody away and no operators: the clients kept
    # showing "topic: board games at 8", "bob (away)" and ann's /op'd friend as an operator, and
    # our own "(you) (away)" while the room had us back, so /away then sent "back" to a room
    # that had us here. What holds now comes right after the welcome; our away is asked again.
    session = Session(name="cy", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "bob", "cy"), host="ann"))
    session.on_event(ev.Topic(text="board games at 8", by="ann", time=5.0))
    session.on_event(ev.Away(name="bob", reason="brb", time=6.0))
    session.on_event(ev.Away(name="cy", reason="lunch", time=7.0))
    session.on_event(ev.Operators(names=("ann", "bob")))
    session.take_pending()
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "bob", "cy"), host="ann"))
    assert (session.topic, session.away, session.operators) == ("", {}, [])
    assert session.take_pending() == [ev.SetAway(reason="lunch")]
    # the rejoin asked "lunch" again, so /away now means back (it toggles what was asked last)
    assert session.parse_input("/away") == Outgoing(ev.SetAway(reason=""))
    session.on_event(ev.Away(name="bob", reason="brb", time=8.0))  # what the room says after the welcome holds
    assert session.away == {"bob": "brb"}
    session.on_event(ev.Away(name="cy", reason="lunch", time=9.0))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "bob", "cy"), host="ann", muted=5))
    assert session.take_pending() == []  # muted: the room refuses an away's text, so it is not asked again


def test_a_muted_students_whisper_to_an_operator_typed_away_is_kept_though_the_room_names_its_operators_after_the_replay():
    # e7d2555 keeps a muted student's whisper to the host or an operator (to ask why), typed
    # while the link was down, at the rejoin. But the rejoin forgets the old room's operators and
    # the new room names its own only after its replay (PROTOCOL.md, What a newcomer receives),
    # when Reconnect.resend has already sorted the lines typed away: one to an operator other
    # than the host was dropped as muted. Until the room says, those of before the drop count.
    session = Session(name="cy", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "bo", "cy"), host="ann"))
    session.on_event(ev.Operators(names=("ann", "bo")))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "bo", "cy"), host="ann", muted=5))
    session.on_event(ev.HistoryEnd(shown=0, more=False, before=None))  # the replay's end: resend runs here
    typed = [ev.Whisper(to="Bo", text="why?"), ev.Whisper(to="ann", text="sorry"), ev.Whisper(to="cat", text="psst"), ev.Say(text="hi")]
    assert without_muted(typed, session.may_ask_why) == (typed[:2], 2)  # what client.Reconnect.resend passes
    session.rejoin.lost(session, 1.0)  # dropped again before the room said its operators
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "bo", "cy"), host="ann", muted=5))
    assert session.may_ask_why("bo")
    session.on_event(ev.Operators(names=("ann",)))  # now it has said: bo is no operator here
    assert without_muted(typed, session.may_ask_why) == ([typed[1]], 3)


def test_an_away_asked_just_before_a_drop_is_asked_again_and_a_back_is_not_undone():
    # The drop came after "/away lunch" left and before "you are away: lunch" came back: the
    # rejoin asked again only an away the room had confirmed, so cy came back not away while
    # believing she was. The other way round a "back" unanswered was undone: the rejoin asked
    # the old away again. What was asked last waits until the room answers it, asked again.
    def drop_and_rejoin(session: Session, **welcome: object) -> list[ev.Event]:
        session.rejoin.lost(session, 1.0)
        session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "cy"), **welcome))  # type: ignore[arg-type]
        return session.take_pending()

    session = Session(name="cy", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("ann", "cy")))
    assert session.parse_input("/away lunch") == Outgoing(ev.SetAway(reason="lunch"))
    assert drop_and_rejoin(session) == [ev.SetAway(reason="lunch")]  # before: [], back not away
    assert drop_and_rejoin(session) == [ev.SetAway(reason="lunch")]  # dropped again before the answer
    session.on_event(ev.Away(name="cy", reason="lunch", time=8.0))
    assert session.parse_input("/away") == Outgoing(ev.SetAway(reason=""))  # back
    assert drop_and_rejoin(session) == []  # before: [SetAway("lunch")], away again against her word
    assert session.parse_input("/away") == Outgoing(ev.SetAway(reason="away"))
    # a second /away before the first one's answer toggles what was asked: back, not "away" twice
    assert session.parse_input("/away") == Outgoing(ev.SetAway(reason=""))
    # an away the room refused (muted: a reason is text) is not asked again
    session.parse_input("/away  tea   time")
    session.on_event(ev.Error(code=ev.E_MUTED, message="you are muted"))
    assert drop_and_rejoin(session) == []
    # answered, the room's copy (white space collapsed) ends the wait; a later drop asks it as confirmed
    session.parse_input("/away  tea   time")
    session.on_event(ev.Away(name="cy", reason="tea time", time=9.0))
    assert session.away_asked is None
    assert drop_and_rejoin(session) == [ev.SetAway(reason="tea time")]


@contextlib.contextmanager
def ann_and_cy_behind_a_blip() -> Iterator[tuple[Proc, Proc, Blip]]:
    """ann joined directly, cy through a link the test can cut (Blip), both welcomed; every
    process stopped after, and none printed a traceback."""
    server, port = serve_tcp("--no-history")
    blip = Blip(("127.0.0.1", port))
    ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
    cy = Proc("connect", "127.0.0.1", str(blip.port), "--name", "cy")
    try:
        ann.expect(r"welcome, ann")
        cy.expect(r"welcome, cy")
        yield ann, cy, blip
    finally:
        for proc in (ann, cy, server):
            proc.stop()
        blip.close()
    for proc in (ann, cy, server):
        assert "Traceback" not in proc.output


def cut_and_back(cy: Proc, blip: Blip) -> None:
    """The link cut, cy's client says so, the link back, cy back in the room."""
    blip.cut()
    cy.expect(r"connection lost; retrying in 1 s")
    blip.restore()
    cy.expect(r"back in the room as cy", timeout=20)


def test_through_a_blip_an_away_friend_stays_away_and_nobody_sees_them_back():
    with ann_and_cy_behind_a_blip() as (ann, cy, blip):
        cy.send("/away lunch")
        ann.expect(r"cy is away: lunch$")
        # cy's client knows it too: this test is of a confirmed away (one cut off before its
        # answer: test_an_away_whose_answer_the_drop_took_is_asked_again_on_rejoining)
        cy.expect(r"you are away: lunch")
        mark = ann.mark()
        cut_and_back(cy, blip)
        ann.expect(r"cy reconnected \(2 here\)", start=mark)  # her session back, not a newcomer
        ann.expect(r"cy is away: lunch$", start=mark)  # before: the room had cy back, cy's screen said away
        ann.send("/who")
        ann.expect(r"here \(2\): ann \(you\), cy \(away: lunch\)$")


def test_a_nick_asked_just_before_a_drop_is_asked_again_until_the_room_answers_it():
    # "/nick anna" left, the drop came before "renamed": the rejoin's hello went under "ann" and
    # the new name was never asked again. Answered (renamed) or refused, it is not asked again.
    session = Session(name="ann", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann", "cy")))
    assert session.parse_input("/nick anna") == Outgoing(ev.Nick(name="anna"))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann", "cy")))
    assert session.take_pending() == [ev.Nick(name="anna")]  # before: []
    session.on_event(ev.Renamed(old="ann", new="anna", time=8.0))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="anna", mode="duplex", members=("anna", "cy")))
    assert session.take_pending() == []
    session.parse_input("/nick cy")
    session.on_event(ev.Error(code=ev.E_NAME_TAKEN, message="the name 'cy' is taken; choose another"))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="anna", mode="duplex", members=("anna", "cy")))
    assert session.take_pending() == []


def test_an_away_whose_answer_the_drop_took_is_asked_again_on_rejoining():
    # The room got cy's "/away lunch" (ann read it), the link died before the answer reached cy:
    # cy came back not away, her screen never having said otherwise, the room having her back.
    with ann_and_cy_behind_a_blip() as (ann, cy, blip):
        blip.swallow("down")  # what the server sends cy from now on is lost with the link
        cy.send("/away lunch")
        ann.expect(r"cy is away: lunch$")
        wait_for(lambda: blip.has_swallowed('"away-status"'), timeout=10)
        mark, cy_mark = ann.mark(), cy.mark()
        cut_and_back(cy, blip)
        cy.expect(r"you are away: lunch", start=cy_mark)  # before: never, cy was back
        ann.expect(r"cy is away: lunch$", start=mark)


def test_a_failed_attempt_is_said_once_per_reason_not_every_15_seconds_for_10_minutes():
    # cy's laptop off the Wi-Fi: "still no connection (... Network is unreachable); retrying in
    # 15 s" twice a line, every 15 s, pushed the whole evening's chat off the screen
    session = Session(name="cy", clock=lambda: 100.0)
    session.rejoin.lost(session, 1.0)
    unreachable = "cannot connect to 198.18.5.1:3580: Network is unreachable"
    said = [line.text for delay in (2.0, 4.0, 8.0, 15.0, 15.0, 15.0) for line in session.rejoin.still_lost(session, unreachable, delay)]
    assert said == [f"still no connection ({unreachable}); retrying in 2 s (/q to leave)"]
    changed = session.rejoin.still_lost(session, "timed out connecting to 198.18.5.1:3580", 15.0)
    assert [line.text for line in changed] == ["still no connection (timed out connecting to 198.18.5.1:3580); retrying in 15 s (/q to leave)"]
    session.on_event(ev.Welcome(name="cy", mode="duplex", members=("cy",)))
    session.rejoin.lost(session, 1.0)  # the next loss tells its first failure again
    assert session.rejoin.still_lost(session, unreachable, 2.0) != []


def test_a_line_unanswered_for_a_while_is_counted_from_the_last_answer():
    from lanchat.unconfirmed import Unconfirmed

    waiting = Unconfirmed()
    assert waiting.waiting_since(1.0) is None
    waiting.sent(ev.Say(text="one"))
    waiting.sent(ev.Say(text="two"))
    assert waiting.waiting_since(2.0) == 2.0
    assert waiting.waiting_since(5.0) == 2.0  # nothing answered meanwhile
    waiting.echoed(ev.Message(sender="cy", text="one", time=1.0))
    assert waiting.waiting_since(6.0) == 6.0  # the server answers: the wait starts again
    waiting.echoed(ev.Message(sender="cy", text="two", time=1.0))
    assert waiting.waiting_since(7.0) is None


def test_a_line_typed_as_the_last_ones_answer_came_waits_from_then_not_from_before():
    # the loop looks once a pass; an echo read and a line typed in the same pass left the count
    # as it was, so the new line took the old one's start: "sending 1 line you typed…" (and the
    # connection in doubt) 2 s after the first line was typed, the second barely sent
    from lanchat.unconfirmed import Unconfirmed

    waiting = Unconfirmed()
    waiting.sent(ev.Say(text="one"))
    assert waiting.waiting_since(1.0) == 1.0
    waiting.echoed(ev.Message(sender="cy", text="one", time=1.0))
    waiting.sent(ev.Say(text="two"))  # in the same pass
    assert waiting.waiting_since(2.5) == 2.5
    waiting.refused()
    waiting.sent(ev.Say(text="three"))
    assert waiting.waiting_since(3.0) == 3.0
    waiting.sent(ev.Say(text="four"))  # nothing answered: the wait goes on
    assert waiting.waiting_since(4.0) == 3.0


def test_on_the_full_screen_a_line_the_server_has_not_answered_shows_as_on_its_way():
    # cy's laptop dropped off the Wi-Fi without a word: the line typed went from the input line
    # and showed nowhere for up to a minute (until TCP gave up), so it looked lost and was typed again
    from helpers import TermProc

    server, port = serve_tcp("--no-history")
    blip = Blip(("127.0.0.1", port))
    cy = TermProc("connect", "127.0.0.1", str(blip.port), "--name", "cy", rows=24, cols=100)
    try:
        cy.expect(r"welcome, cy")
        blip.swallow("up")  # what cy sends goes nowhere, as over a link that died
        cy.send("are you getting this?\r")
        wait_for(lambda: blip.has_swallowed("are you getting this?"), what="the line sent")
        cy.expect(r"sending 1 line you typed…")
        blip.restore()
        cy.send("and this?\r")  # its echo answers both (the first was lost on the way)
        cy.expect(r"cy: and this\?")
        cy.expect_gone(r"sending 1 line")
    finally:
        cy.stop()
        server.stop()
        blip.close()
    assert b"Traceback" not in cy.raw


def test_a_direct_message_to_nobody_here_is_answered_not_shown_as_on_its_way():
    # cy's /r to a friend who had left (or a /w with a typo) was refused at once, "nobody called
    # 'bbo' is here", and the status line then said "sending 1 line you typed…" for as long as cy
    # said nothing in the room: the refusal answered no line (the connection in doubt meanwhile)
    import time as _time

    from helpers import TermProc

    server, port = serve_tcp("--no-history")
    cy = TermProc("connect", "127.0.0.1", str(port), "--name", "cy", rows=24, cols=100)
    try:
        cy.expect(r"welcome, cy")
        cy.send("/w bbo are you there?\r")
        cy.expect(r"nobody called 'bbo' is here")
        deadline = _time.monotonic() + 3.5  # past the 2 s after which a line waiting is shown
        while _time.monotonic() < deadline:
            assert "sending 1 line" not in cy.text, cy.text
            _time.sleep(0.1)  # the wait itself, not synchronisation
    finally:
        cy.stop()
        server.stop()
    assert b"Traceback" not in cy.raw


def test_a_refusal_for_a_direct_message_to_nobody_answers_the_oldest_one_waiting():
    from types import SimpleNamespace

    from lanchat.client import answered
    from lanchat.unconfirmed import HeldForTurn, Unconfirmed

    loop = SimpleNamespace(reconnect=None, unconfirmed=Unconfirmed(), held=HeldForTurn(), session=Session(name="cy"))
    loop.unconfirmed.sent(ev.Whisper(to="bbo", text="are you there?"))
    loop.unconfirmed.sent(ev.Say(text="hello all"))
    assert loop.unconfirmed.waiting_since(1.0) == 1.0
    assert answered(loop, ev.Error(code=ev.E_NO_SUCH_USER, message="nobody called 'bbo' is here"), []) is False  # type: ignore[arg-type]
    assert list(loop.unconfirmed.lines) == [ev.Say(text="hello all")]  # the say waits for its own echo
    assert loop.unconfirmed.waiting_since(2.0) == 2.0
    answered(loop, ev.Error(code=ev.E_NO_SUCH_USER, message="nobody called 'zed' is here"), [])  # type: ignore[arg-type]  # /kick zed: no whisper waits
    assert list(loop.unconfirmed.lines) == [ev.Say(text="hello all")]


def test_on_the_full_screen_what_was_missed_shows_under_its_header_not_above_it():
    # The screen puts a replayed line older than the newest one in time order (for /history
    # pages); the messages missed while away are older than "back in the room", so they went
    # above it and the header sat empty: "missed while you were away:", then "end of ... (2)".
    from lanchat.ui.view import View

    now = [100.0]
    session = Session(name="bob", clock=lambda: now[0])
    view = View(session=session)
    view.add(session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob"))))
    view.add(session.on_event(ev.Message(sender="ann", text="seen", time=101.0)))
    view.add(session.rejoin.lost(session, 1.0))
    now[0] = 110.0
    view.add(session.rejoin.still_lost(session, "refused", 2.0))
    now[0] = 130.0
    view.add(session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob"), keeps_history=True)))
    for text, when in (("seen", 101.0), ("while away", 105.0), ("later", 120.0)):
        view.add(session.on_event(ev.Message(sender="ann", text=text, time=when, history=True)))
    view.add(session.on_event(ev.HistoryEnd(shown=3, more=False, before=1)))
    texts = [line.text for line in view.lines]
    assert texts[texts.index("back in the room as bob (2 here)") :] == [
        "back in the room as bob (2 here)",
        "missed while you were away:",
        "while away",
        "later",
        "end of what you missed (2 messages)",
    ]


def test_after_a_rejoin_that_missed_more_than_the_replay_history_shows_only_what_was_not_seen():
    # 60 messages while away, 50 replayed: "/history shows earlier ones". /history 20 then
    # showed the 10 missed ones and, again as [History], the 10 seen live before the drop.
    session = Session(name="bob", clock=lambda: 500.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    for t in range(1, 11):
        session.on_event(ev.Message(sender="ann", text=f"seen {t}", time=float(t)))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    for t in range(31, 81):
        session.on_event(ev.Message(sender="ann", text=f"missed {t}", time=float(t), history=True))
    session.on_event(ev.HistoryEnd(shown=50, more=True, before=31))
    session.on_event(ev.Message(sender="ann", text="live", time=90.0))
    assert session.parse_input("/history 30") == Outgoing(ev.HistoryRequest(limit=30, before=31))
    page = [ev.Message(sender="ann", text=f"seen {t}", time=float(t), history=True) for t in range(1, 11)]
    page += [ev.Message(sender="ann", text=f"missed {t}", time=float(t), history=True) for t in range(11, 31)]
    shown = [line for event in page for line in session.on_event(event)]
    assert [line.text for line in shown] == [f"missed {t}" for t in range(11, 31)]
    end = session.on_event(ev.HistoryEnd(shown=30, more=False, before=1))
    assert [line.text for line in end] == ["end of history (20 shown)"]


def test_after_a_rejoin_that_missed_little_history_pages_on_from_where_it_was():
    # the rejoin's replay (only what is newer than the drop) moved the /history cursor up to
    # the messages just missed, so /history asked again for what was already on screen
    session = Session(name="bob", clock=lambda: 500.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    for t in range(51, 61):
        session.on_event(ev.Message(sender="ann", text=f"replayed {t}", time=float(t), history=True))
    session.on_event(ev.HistoryEnd(shown=10, more=True, before=51))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("ann", "bob")))
    session.on_event(ev.Message(sender="ann", text="missed", time=70.0, history=True))
    session.on_event(ev.HistoryEnd(shown=1, more=False, before=70))  # older ones were seen
    assert session.parse_input("/history 20") == Outgoing(ev.HistoryRequest(limit=20, before=51))


def test_a_rejoin_with_nothing_missed_says_so():
    session = Session(name="bob", clock=lambda: 100.0)
    session.on_event(ev.Message(sender="ann", text="seen", time=10.0))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="bob", mode="duplex", members=("bob",)))
    assert session.on_event(ev.Message(sender="ann", text="seen", time=10.0, history=True)) == []
    assert [line.text for line in session.on_event(ev.HistoryEnd(shown=1, more=False, before=1))] == [
        "you missed nothing while away"
    ]


def test_the_bots_goodbye_stays_on_screen_until_a_key():
    from helpers import TermProc, start_server

    with short_tmp_dir() as folder:
        path = os.path.join(folder, "mood.sock")
        server, _ = start_server("--unix", path, "--bot", "colour", "--max-clients", "1", "--once", "--headless",
                                 "--bot-seed", "7")
        ann = TermProc("connect", "--unix", path, "--name", "ann")
        try:
            ann.expect(r"What mood are you in\?")
            ann.send("cheerful\r")
            ann.expect(r"Happy with it\? \(Y/N\)")
            ann.send("/y\r")
            ann.expect(r"Goodbye\.")
            ann.expect(r"press any key to leave")
            assert ann.proc.isalive()  # the goodbye is on screen, not gone with the screen
            ann.send("x")
            assert ann.wait() == 0
        finally:
            ann.stop()
            server.stop()
        assert "Traceback" not in ann.text


# ------------------------------------------- rejoining: hello's resume and since


def test_a_rejoin_with_its_secret_takes_over_the_stale_session_at_once():
    from lanchat.protocol import ConnectionClosed
    from lanchat.room import Broadcast, Close, Room, Send

    tokens = iter(["secret-ann", "secret-bob", "secret-bob-2"])
    room = Room(resume_tokens=lambda: next(tokens), clock=lambda: 5.0)
    room.handle(1, ev.Hello(name="ann"))
    [welcome] = [a.event for a in room.handle(2, ev.Hello(name="bob")) if isinstance(a, Send)]
    assert welcome.resume == "secret-bob"
    # bob's Wi-Fi dropped; the server has not noticed. Guessing, or no secret: still taken.
    for wrong in (None, "secret-ann", "secret-bo", "secret-bob\x00"):
        [refused] = room.handle(3, ev.Hello(name="bob", resume=wrong))
        assert refused.event.code == ev.E_NAME_TAKEN
    actions = room.handle(3, ev.Hello(name="bob", resume="secret-bob"))
    assert Close(who=2) in actions
    [welcome_back] = [a.event for a in actions if isinstance(a, Send) and a.to == 3]
    assert welcome_back.name == "bob" and welcome_back.resume == "secret-bob-2" and welcome_back.members == ("ann", "bob")
    told_ann = [a.frame for a in actions if isinstance(a, Broadcast) and 1 in a.to]
    assert b'"left"' in told_ann[0] and b'"moved"' in told_ann[0] and b'"joined"' in told_ann[1]
    assert b'"rejoined":true' in told_ann[0]  # its own session coming back: "bob reconnected"
    assert room.handle(2, ConnectionClosed()) == []  # the old connection's end changes nothing more
    assert room.name_of(3) == "bob"


def test_a_resume_secret_without_the_key_cannot_take_over_a_keyed_session():
    """From the attacker's side: a welcome's resume secret crosses a room without TLS in the
    clear, so whoever reads the Wi-Fi has it. Sent with another key (or none) it took over the
    session of a student who proves a key but whose name no key owns (the eleventh of a machine
    within the hour: 30 students behind one school NAT, here the test's own user on loopback):
    the student was thrown out ('you joined again from somewhere else'), and again at every
    rejoin. A session proven by a key is taken over by that key alone; the secret serves
    keyless guests."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from helpers import RawClient

    from lanchat.transport import Endpoint

    server, port = serve_tcp("--no-history")
    endpoint = Endpoint(host="127.0.0.1", port=port)
    try:
        ann = RawClient(endpoint, "ann")
        for number in range(10):  # classmates on the same machine claim ten names this hour
            RawClient(endpoint, f"classmate{number}", key=Ed25519PrivateKey.generate()).close()
        server.expect(r"classmate9 joined")
        bob = RawClient(endpoint, "bob", key=Ed25519PrivateKey.generate())  # proved, the name unowned
        server.expect(r"made 10 names its own within the hour: 'bob' is used unowned")
        secret = bob.welcome.resume
        assert secret
        for thief in (RawClient(endpoint, key=Ed25519PrivateKey.generate()), RawClient(endpoint)):
            thief.send(ev.Hello(name="bob", resume=secret, **({"key": _key_of(thief)} if thief.key else {})))
            if thief.key is not None:
                thief.send(thief.answer(thief.expect(ev.Challenge)))  # a key it holds, not bob's
            assert thief.expect(ev.Error).code == ev.E_NAME_TAKEN
            thief.close()
        bob.send(ev.Say(text="still here"))  # never thrown out
        assert ann.expect(ev.Message, sender="bob").text == "still here"
        assert not [e for e in ann.drain() if isinstance(e, ev.Left)], server.output
        ann.close()
        bob.close()
    finally:
        server.stop()


def _key_of(client) -> str:  # noqa: ANN001
    from lanchat import identity

    return identity.b64(identity.public_bytes(client.key))


def test_through_a_real_server_the_stale_session_is_closed_and_the_secret_cannot_be_guessed():
    from helpers import RawClient

    from lanchat.transport import Endpoint

    server, port = serve_tcp("--no-history")
    endpoint = Endpoint(host="127.0.0.1", port=port)
    ann, stale = RawClient(endpoint, "ann"), RawClient(endpoint, "bob")
    mallory, back = RawClient(endpoint), RawClient(endpoint)
    try:
        secret = stale.welcome.resume
        assert secret and ann.welcome.resume and secret != ann.welcome.resume
        mallory.send(ev.Hello(name="bob", resume=ann.welcome.resume))  # another session's secret
        assert mallory.expect(ev.Error).code == ev.E_NAME_TAKEN
        back.send(ev.Hello(name="bob", resume=secret))
        assert back.expect(ev.Welcome).name == "bob"
        stale.expect_closed()
        ann.expect(ev.Left, name="bob", reason=ev.LEFT_MOVED)
        ann.expect(ev.Joined, name="bob")
        back.send(ev.Say(text="back"))
        ann.expect(ev.Message, sender="bob", text="back")
    finally:
        for client in (ann, stale, mallory, back):
            client.close()
        server.stop()


def test_since_replays_only_newer_messages_and_always_ends_the_replay(tmp_path):
    from helpers import RawClient

    from lanchat.transport import Endpoint

    server, port = serve_tcp("--history", str(tmp_path / "h.sqlite3"))
    endpoint = Endpoint(host="127.0.0.1", port=port)
    ann = RawClient(endpoint, "ann")
    try:
        for text in ("one", "two", "three"):
            ann.send(ev.Say(text=text))
        stamps = [ann.expect(ev.Message, text=text).time for text in ("one", "two", "three")]
        bob = RawClient(endpoint)
        bob.send(ev.Hello(name="bob", since=stamps[0]))
        bob.expect(ev.Welcome)
        assert [bob.expect(ev.Message).text for _ in range(2)] == ["two", "three"]
        end = bob.expect(ev.HistoryEnd)
        assert (end.shown, end.more) == (2, False)
        bob.close()
        wait_for(lambda: "bob lost connection" in server.output, what="bob to leave")
        cat = RawClient(endpoint)
        cat.send(ev.Hello(name="cat", since=stamps[2]))  # saw everything: an empty replay, still ended
        cat.expect(ev.Welcome)
        assert cat.expect(ev.HistoryEnd).shown == 0
        cat.close()
    finally:
        ann.close()
        server.stop()


def _ann_and_bob_on_a_link(lab, folder: str):  # noqa: ANN001, ANN202 - the lab fixture; (server, bob's namespace, ann, bob)
    """Two namespaces on one link: a headless server with history and ann on the first, bob
    joined from the second; returns the server, bob's namespace and the two clients, welcomed."""
    ann_ns, bob_ns = lab.namespace("A"), lab.namespace("B")
    lab.link(ann_ns, "198.18.0.1/24", bob_ns, "198.18.0.2/24")
    server = lab.run(ann_ns, "serve", "--headless", "--port", "0", "--no-announce",
                     "--history", os.path.join(folder, "h.sqlite3"))
    port = server.expect(r"listening on port (\d+)").group(1)
    ann = lab.run(ann_ns, "connect", "127.0.0.1", port, "--name", "ann")
    bob = lab.run(bob_ns, "connect", "198.18.0.1", port, "--name", "bob")
    ann.expect(r"welcome, ann")
    bob.expect(r"welcome, bob")
    return server, bob_ns, ann, bob


def test_a_wifi_blip_on_a_real_link_loses_nothing(lab):
    """bob's machine loses its link for two seconds (a namespace's veth taken down and up again)
    while ann keeps talking: when the link is back bob has every line, once, whether TCP rode
    the blip out or the client had to rejoin."""
    import time as _time

    with short_tmp_dir() as folder:
        server, bob_ns, ann, bob = _ann_and_bob_on_a_link(lab, folder)
        ann.send("before the blip")
        bob.expect(r"ann: before the blip$")
        lab.ip(bob_ns, "link", "set", "lan0", "down")
        for n in range(3):
            ann.send(f"during the blip {n}")
            ann.expect(rf"ann: during the blip {n}$")
        _time.sleep(2.0)  # the outage itself, not synchronisation
        lab.ip(bob_ns, "link", "set", "lan0", "up")
        for n in range(3):
            bob.expect(rf"ann: during the blip {n}$", timeout=30)
        ann.send("after the blip")
        bob.expect(r"ann: after the blip$", timeout=30)
        for text in ("before the blip", "during the blip 0", "during the blip 2", "after the blip"):
            assert sum(line.endswith(f"ann: {text}") for line in bob.lines) == 1, bob.output


def test_a_line_unanswered_for_2_s_asks_the_connection_whether_it_lives(monkeypatch):
    import time as _time
    from types import SimpleNamespace

    import lanchat.client
    from lanchat.client import watch_address
    from lanchat.client_files import ClientTransfers
    from lanchat.unconfirmed import Unconfirmed

    monkeypatch.setattr(lanchat.client, "on_the_network", lambda sock: True)  # a LAN connection, as far as the check goes
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client_sock = socket.create_connection(listener.getsockname(), timeout=5)
        server_sock, _ = listener.accept()
        with client_sock, server_sock:
            reconnect = SimpleNamespace(offline=False, rejoin=SimpleNamespace(), lost=lambda *a: None)
            loop = SimpleNamespace(reconnect=reconnect, quitting=False, outcome=None, address_check_at=0.0, sock=client_sock,
                                   in_doubt=False, transfers=ClientTransfers())
            for first_seen, in_doubt in ((1.0, False), (3.0, True)):  # 1 s: its echo may well be on its way
                loop.unconfirmed = Unconfirmed()
                loop.unconfirmed.sent(ev.Say(text="anyone there?"))
                loop.unconfirmed.waiting_since(_time.monotonic() - first_seen)  # the loop's first look at it
                loop.address_check_at = 0.0
                watch_address(loop)  # type: ignore[arg-type]
                assert loop.in_doubt is in_doubt
            if hasattr(socket, "TCP_USER_TIMEOUT"):
                assert client_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000
            loop.unconfirmed.echoed(ev.Message(sender="bob", text="anyone there?", time=1.0))
            loop.address_check_at = 0.0
            watch_address(loop)  # type: ignore[arg-type]
            assert not loop.in_doubt
            if hasattr(socket, "TCP_USER_TIMEOUT"):
                assert client_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 60000


def test_a_transfer_that_moved_no_byte_for_3_s_asks_the_connection_whether_it_lives(monkeypatch):
    # cy's download froze at "get video.mp4 23% 467.2 KiB/s" for over a minute when the link died
    # under it (nothing typed, so nothing unanswered): TCP's keepalive took that long to say so
    from types import SimpleNamespace

    import lanchat.client
    from lanchat.client import TRANSFER_QUIET_SECONDS, watch_address
    from lanchat.client_files import ClientTransfers, stalled
    from lanchat.files import Progress
    from lanchat.unconfirmed import Unconfirmed

    now = [100.0]
    transfers = ClientTransfers(clock=lambda: now[0])
    transfers.progress["get:2"] = Progress(direction="get", label="video.mp4", total=8_000_000, started=90.0)
    transfers.progress["get:2"].advance(1_900_000, 99.0)
    assert not stalled(transfers, TRANSFER_QUIET_SECONDS)
    now[0] = 102.5
    assert stalled(transfers, TRANSFER_QUIET_SECONDS)
    uploads = ClientTransfers(clock=lambda: now[0])  # an upload that stopped is no sign: a live server may read slowly
    uploads.progress["send:3"] = Progress(direction="send", label="big.iso", total=8_000_000, started=90.0)
    uploads.progress["send:3"].advance(1_900_000, 99.0)
    assert not stalled(uploads, TRANSFER_QUIET_SECONDS)
    # The full screen keeps more than transfers on the status line, in the same dict: lines waiting
    # at the room's pace (a SendPacer), held for the turn, unanswered. A student who pasted past
    # the flood limit over a real network crashed at the next address check: "internal error
    # (AttributeError)", 'SendPacer' object has no attribute 'direction'.
    from lanchat.pacing import SendPacer

    transfers.progress["pacing"] = SendPacer()
    uploads.progress["pacing"] = SendPacer()
    assert stalled(transfers, TRANSFER_QUIET_SECONDS) and not stalled(uploads, TRANSFER_QUIET_SECONDS)
    monkeypatch.setattr(lanchat.client, "on_the_network", lambda sock: True)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client_sock = socket.create_connection(listener.getsockname(), timeout=5)
        server_sock, _ = listener.accept()
        with client_sock, server_sock:
            reconnect = SimpleNamespace(offline=False, rejoin=SimpleNamespace(), lost=lambda *a: None)
            loop = SimpleNamespace(reconnect=reconnect, quitting=False, outcome=None, address_check_at=0.0, sock=client_sock,
                                   in_doubt=False, unconfirmed=Unconfirmed(), transfers=transfers)
            watch_address(loop)  # type: ignore[arg-type]
            assert loop.in_doubt
            transfers.progress["get:2"].advance(2_400_000, now[0])  # bytes again
            loop.address_check_at = 0.0
            watch_address(loop)  # type: ignore[arg-type]
            assert not loop.in_doubt


def test_a_laptop_back_on_the_wifi_with_a_new_address_rejoins_at_once(lab):
    """bob's laptop leaves the Wi-Fi (its address goes with the link) and comes back with
    another address. His old connection can never carry a byte again, but TCP took a minute to
    say so: the lines he typed meanwhile, and after, reached the room 61 s later. The client
    now sees its own address gone while the machine has a new one, and rejoins at once."""
    import time as _time

    with short_tmp_dir() as folder:
        server, bob_ns, ann, bob = _ann_and_bob_on_a_link(lab, folder)
        lab.ip(bob_ns, "link", "set", "lan0", "down")
        lab.ip(bob_ns, "addr", "del", "198.18.0.2/24", "dev", "lan0")
        bob.send("typed while away")
        _time.sleep(1.0)  # the outage itself, not synchronisation
        lab.ip(bob_ns, "addr", "add", "198.18.0.3/24", "dev", "lan0")
        lab.ip(bob_ns, "link", "set", "lan0", "up")
        bob.send("typed once back")
        ann.expect(r"bob: typed while away$", timeout=20)
        ann.expect(r"bob: typed once back$", timeout=10)
        server.expect(r"bob joined from 198\.18\.0\.3")
        for text in ("typed while away", "typed once back"):
            assert sum(line.endswith(f"bob: {text}") for line in ann.lines) == 1, ann.output


def test_a_connection_on_loopback_or_a_socket_file_is_never_left_behind(tmp_path):
    """transport.left_behind speaks only for a network address this machine may lose."""
    from lanchat.transport import left_behind

    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()[:2], timeout=5) as tcp:
        assert left_behind(tcp) is False
    a, b = socket.socketpair()
    with a, b:
        assert left_behind(a) is False


def test_the_same_person_joining_twice_takes_over_and_the_old_one_does_not_fight_back():
    """ann's key joins while her old session is still there (a second terminal, or a laptop that
    woke up): the new one is in at once; the old one is told why and leaves for good, without
    retrying (two terminals would otherwise throw each other out for ever)."""
    server, port = serve_tcp("--no-history")
    first = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
    second = None
    try:
        first.expect(r"welcome, ann")
        second = Proc("connect", "127.0.0.1", str(port), "--name", "ann")  # the same --identity key
        second.expect(r"welcome, ann")
        assert first.wait() == 1
        first.expect(r"you joined again from somewhere else; this session is closed")
        assert "retrying" not in first.output
        server.expect(r"ann joined from")
        second.send("/who")
        second.expect(r"here \(1\): ann")
    finally:
        for proc in (first, second, server):
            if proc is not None:
                proc.stop()


def tls_server(port: str, env: dict[str, str]) -> Proc:
    """``serve --tls`` on ``port``; its data folder, so its certificate, is the one in ``env``."""
    return Proc("serve", "--headless", "--host", "127.0.0.1", "--port", port, "--no-announce", "--tls", env=env)


@contextlib.contextmanager
def bob_retrying_a_killed_tls_server(env: dict[str, str]) -> Iterator[tuple[str, str, Proc, list[Proc]]]:
    """A TLS server and bob joined with its certificate pinned; then the server is killed and bob
    is retrying. Yields (port, pin, bob, started): a server the test starts goes in ``started``,
    and everything there is stopped at the end."""
    server = tls_server("0", env)
    started = [server]
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        pin = server.expect(r"fingerprint is (SHA256:\S+)").group(1)
        bob = Proc("connect", "127.0.0.1", port, "--name", "bob", "--fingerprint", pin)
        started.append(bob)
        bob.expect(r"welcome, bob")
        server.popen.kill()
        server.wait()
        bob.expect(r"connection lost; retrying in 1 s")
        yield port, pin, bob, started
    finally:
        for proc in started:
            proc.stop()


def test_over_tls_a_restarted_server_with_the_same_certificate_is_rejoined():
    """The rejoin repeats the TLS handshake and accepts only the certificate first trusted (the
    server keeps its certificate in its data folder, so a restart keeps it too)."""
    from helpers import child_env

    env = child_env()  # one data folder for both runs of the server: the same certificate
    with bob_retrying_a_killed_tls_server(env) as (port, pin, bob, started):
        server = tls_server(port, env)
        started.append(server)
        server.expect(rf"fingerprint is {re.escape(pin)}")
        bob.expect(r"back in the room as bob", timeout=20)
        server.expect(r"bob joined from")


# ------------------------------------- the screen stays alive while an attempt hangs


class Silent:
    """A listener on ``port`` that takes connections and never answers: a rejoin's connect
    succeeds and its handshake hangs (up to its 5 s deadline), as with a wedged server."""

    def __init__(self, port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(20)
        self.conn: socket.socket | None = None

    def caught(self) -> bytes:
        """Wait for the client's next attempt and its hello: it is now hanging on us."""
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(20)
        hello = self.conn.recv(4096)
        assert hello, "the client closed at once"
        self.conn.setblocking(False)
        return hello

    def still_hanging(self) -> bool:
        """The attempt is still waiting for us (the client has not given up on it)."""
        assert self.conn is not None
        try:
            return self.conn.recv(4096) != b""
        except BlockingIOError:
            return True

    def close(self) -> None:
        for sock in (self.conn, self.listener):
            if sock is not None:
                sock.close()


@contextlib.contextmanager
def offline_with_a_hanging_attempt() -> Iterator[tuple[TermProc, Silent, int]]:
    """bob in the full screen, his server SIGKILLed, and his next rejoin hanging on ``Silent``
    (connected, handshake unanswered) on the same port."""
    from helpers import TermProc

    server, port = serve_tcp("--no-history")
    bob = TermProc("connect", "127.0.0.1", str(port), "--name", "bob")
    silent = None
    try:
        bob.expect(r"welcome, bob")
        server.popen.kill()
        server.wait()
        bob.expect(r"connection lost; retrying in 1 s")
        silent = Silent(port)
        silent.caught()
        yield bob, silent, port
    finally:
        if silent is not None:
            silent.close()
        bob.stop()
        server.stop()


def test_the_full_screen_types_while_a_reconnect_attempt_hangs_and_rejoins_when_a_server_is_back():
    with offline_with_a_hanging_attempt() as (bob, silent, port):
        bob.expect(r"offline: reconnecting")  # the status line says what is going on
        bob.send("typed while it hangs")
        bob.expect(r"typed while it hangs")  # echoed at once ...
        assert silent.still_hanging()  # ... while the attempt still waits for an answer
        bob.send("\r")
        bob.expect(r"not connected: 'typed while it hangs' will be sent")
        assert silent.still_hanging()
        silent.close()  # the wedged server goes; a real one comes back on the same port
        server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", str(port), "--no-announce", "--no-history")
        try:
            server.expect(r"listening on port")
            bob.expect(r"back in the room as bob", timeout=30)
            bob.expect_gone(r"offline:")
            server.expect(r"bob joined from")
            ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
            try:
                bob.send("hello again\r")
                ann.expect(ev.Message, sender="bob", text="hello again")
            finally:
                ann.close()
        finally:
            server.stop()
        assert "Traceback" not in bob.text


def test_q_leaves_at_once_while_a_reconnect_attempt_hangs():
    with offline_with_a_hanging_attempt() as (bob, _silent, _port):
        bob.send("/q\r")
        assert bob.wait() == 0
        # it did not wait for the attempt to fail first: that would have been said on screen
        assert b"still no connection" not in bob.raw
        assert b"you left the chat" in bob.raw


# ------------------------------- a room whose admission changed while we were away


def test_a_room_that_gains_a_password_while_away_is_not_rejoined_and_no_prompt_opens_under_the_screen():
    from helpers import TermProc, child_env

    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        server = Proc("serve", "--headless", "--unix", path, "--no-history")
        server.expect(r"join with")
        bob = TermProc("connect", "--unix", path, "--name", "bob")
        try:
            bob.expect(r"welcome, bob")
            server.popen.kill()
            server.wait()
            bob.expect(r"connection lost; retrying in 1 s")
            server = Proc("serve", "--headless", "--unix", path, "--no-history", "--password",
                          env=child_env(LANCHAT_PASSWORD="s3cret tea"))
            server.expect(r"join with")
            assert bob.wait(timeout=30) == 1  # it stops retrying: only the person can give a password
            said = " ".join(bob.raw.decode("utf-8", "replace").split())  # the 80-column pty's line is folded
            assert "the room now needs a password; run the same `lanchat connect` again" in said
            assert "password: " not in said.casefold()  # no getpass prompt over the full screen
            assert "Traceback" not in said
            bob.send("x")  # the terminal is ours again: nothing waits for a key
        finally:
            bob.stop()
            server.stop()
        assert "wrong room password" not in server.output  # and no guess was spent on the way


def test_a_room_whose_password_changed_is_tried_once_not_until_the_address_is_locked():
    from helpers import TermProc, child_env

    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        server = Proc("serve", "--headless", "--unix", path, "--no-history", "--password",
                      env=child_env(LANCHAT_PASSWORD="old words"))
        server.expect(r"join with")
        bob = TermProc("connect", "--unix", path, "--name", "bob", env={"LANCHAT_PASSWORD": "old words"})
        try:
            bob.expect(r"welcome, bob")
            server.popen.kill()
            server.wait()
            bob.expect(r"connection lost; retrying in 1 s")
            server = Proc("serve", "--headless", "--unix", path, "--no-history", "--password",
                          env=child_env(LANCHAT_PASSWORD="new words"))
            server.expect(r"join with")
            assert bob.wait(timeout=30) == 1
            said = " ".join(bob.raw.decode("utf-8", "replace").split())  # the 80-column pty's line is folded
            assert "the room's password may have changed: run the same `lanchat connect` again" in said
            # bob's came from LANCHAT_PASSWORD: run again, the old one would be refused again, unasked
            assert "type the new one when asked (or set LANCHAT_PASSWORD to it)" in said
        finally:
            bob.stop()
            server.stop()
        assert server.output.count("wrong room password") == 1  # one try, never a lockout
        assert "locked" not in server.output


def test_over_tls_a_restarted_server_with_another_certificate_ends_the_retries_with_one_line():
    """Another certificate on the same port is someone else (or the host's new machine): the
    client does not rejoin it, and no longer retries it for ten minutes either."""
    from helpers import child_env

    with bob_retrying_a_killed_tls_server(child_env()) as (port, pin, bob, started):
        server = tls_server(port, child_env())  # a new data folder: a new certificate
        started.append(server)
        other = server.expect(r"fingerprint is (SHA256:\S+)").group(1)
        assert other != pin
        assert bob.wait(timeout=30) == 1
        bob.expect(rf"the server's TLS fingerprint is now {re.escape(other)}, not {re.escape(pin)}: someone may be pretending")
        # and what to do: "not trying again" alone left a student with nothing to try (class play)
        bob.expect(r"compare it with the one the host's screen shows; if it is that one, run `lanchat connect` again "
                   r"\(with --fingerprint, give the new one\)")
        assert "back in the room" not in bob.output and "Traceback" not in bob.output


class Untouched:
    """A front end nobody types into (a pipe), keeping the text of what the loop shows;
    ``type`` submits a line as Enter would."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        self.shown: list[str] = []
        self.typed: list[str] = []

    def fileno(self) -> int:
        return self.read_end

    def read_input(self) -> list[str]:
        os.read(self.read_end, 4096)
        lines, self.typed = self.typed, []
        return lines

    def show(self, lines: list) -> None:
        self.shown += [line.text for line in lines]

    def update(self) -> None:
        pass

    def run_ui_command(self, command: object) -> list:
        return []

    def type(self, line: str) -> None:
        self.typed.append(line)
        os.write(self.write_end, b"\n")

    def close(self) -> None:
        os.close(self.read_end)
        os.close(self.write_end)


def ann_joins(endpoint: Endpoint, *, after: threading.Event | None = None):  # noqa: ANN201
    """Connecting and joining as ann at ``endpoint``: the first join and every rejoin (client.Rejoin).
    With ``after``, each try first waits (up to 30 s) for it to be set."""
    from lanchat.transport import connect

    def rejoin():  # noqa: ANN202
        if after is not None:
            after.wait(30)
        sock = connect(endpoint, timeout=5)
        proto, welcome, early = client.join(sock, "ann", timeout=5)
        return sock, proto, welcome, early

    return rejoin


def joined_then_stopped(path: str, frontend: Untouched, *, rejoins_after: threading.Event | None = None) -> tuple[Proc, ClientLoop, list]:
    """A headless server on ``path``; ann joined through an in-process ClientLoop that waits out
    shutdowns (as the full screen does) and rejoins at ``path`` (each try first waiting for
    ``rejoins_after``, if given, to be set); then the server stopped with SIGTERM (its notice
    sent, nothing listening). Returns the stopped server, the loop not yet run, and the events
    to start it with."""
    server = Proc("serve", "--headless", "--unix", path, "--no-history")
    try:
        server.expect(r"join with")
        sock, proto, welcome, early = ann_joins(Endpoint(path=path))()
        rejoin = ann_joins(Endpoint(path=path), after=rejoins_after)
        loop = ClientLoop(sock, proto, Session(name="ann"), frontend, rejoin=rejoin, rejoin_after_shutdown=True)
        server.popen.terminate()  # SIGTERM: the shutdown notice, then nothing listens there
        server.wait()
    finally:
        server.stop()  # a process this test started, by its PID; a no-op once it ended
    return server, loop, [welcome, *early]



@pytest.mark.parametrize("typed", [None, "typed while it was down"])
def test_a_stopped_server_not_back_in_ten_minutes_is_still_waited_for_and_rejoined(monkeypatch, typed):
    """The full screen waits out a shutdown notice (a restart). A server not back within
    GIVE_UP_SECONDS ended the chat (the host's laptop asleep over lunch: every student's chat
    gone, its transcript with it, to be joined again by hand). Now it is said once, the tries go
    on every PATIENT_RETRY_SECONDS until /q, and a server started again is rejoined, a line typed
    meanwhile sent to it."""
    monkeypatch.setattr(client, "GIVE_UP_SECONDS", 0.5)
    monkeypatch.setattr(client, "PATIENT_RETRY_SECONDS", 0.3)
    frontend = Untouched()
    result: list = []
    server = bob = None
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        try:
            _stopped, loop, early = joined_then_stopped(path, frontend)
            runner = threading.Thread(target=lambda: result.append(loop.run(early)), daemon=True)
            runner.start()
            still = "the server has not been back for 0.00833333 minutes; still trying, every 0.3 s (/q to leave)"
            wait_for(lambda: still in frontend.shown, what="the patient wait said")
            if typed:
                frontend.type(typed)
            assert not result, result  # the chat goes on
            # the restarted room keeps history: bob, joining after ann's rejoin, is shown her line too
            server = Proc("serve", "--headless", "--unix", path, "--history", os.path.join(folder, "class.sqlite3"))
            server.expect(r"join with")
            bob = Proc("connect", "--unix", path, "--name", "bob", "--plain")
            bob.expect(r"welcome, bob")
            wait_for(lambda: any(line.startswith("back in the room as ann") for line in frontend.shown), what="ann rejoined the restarted server")
            if typed:
                bob.expect(f"ann: {typed}$")
            frontend.type("/q")
            runner.join(10)
        finally:
            for proc in (bob, server):
                if proc is not None:
                    proc.stop()
            frontend.close()
    assert result and result[0].code == 0 and result[0].message == "you left the chat", result
    assert frontend.shown.count(still) == 1, frontend.shown


def test_a_plain_client_still_ends_the_wait_after_ten_minutes_unless_lines_were_lost(monkeypatch):
    """--plain and scripts (no one to type /q) give up as before: exit 1 when a line typed
    meanwhile was never sent, the chat's last words saying so."""
    monkeypatch.setattr(client, "GIVE_UP_SECONDS", 1.0)
    monkeypatch.setattr(client, "RETRY_DELAYS", (0.2,))
    frontend = Untouched()
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        server = Proc("serve", "--headless", "--unix", path, "--no-history")
        try:
            server.expect(r"join with")
            sock, proto, welcome, early = ann_joins(Endpoint(path=path))()
            loop = ClientLoop(sock, proto, Session(name="ann"), frontend, rejoin=ann_joins(Endpoint(path=path)))
            server.popen.kill()  # no notice: the connection is just lost
            server.wait()
            frontend.type("typed while it was down")
            outcome = loop.run([welcome, *early])
        finally:
            server.stop()
            frontend.close()
    assert outcome.code == 1, outcome
    assert outcome.message == ("disconnected: the server could not be reached for 0.0166667 minutes "
                               "(1 line you typed was not sent)"), outcome


@pytest.mark.parametrize("final", [True, False])
def test_only_a_final_shutdown_ends_a_client_that_waits_out_shutdowns(final):
    """Server.request_shutdown(final=True) (the host's /q, its Ctrl-C) tells the room the chat
    is over for good: a loop that waits out shutdowns, as the full screen does, ends at the
    notice (exit 0, the reason) and never tries to rejoin. Without it (a SIGTERM, a restart) the
    same loop waits for the server to come back, until /q."""
    from helpers import running_server

    frontend = Untouched()
    attempts: list[None] = []
    outcome: list = []
    try:
        with running_server() as (server, endpoint):
            join = ann_joins(endpoint)

            def rejoin():  # noqa: ANN202
                attempts.append(None)
                return join()

            sock, proto, welcome, early = join()
            loop = ClientLoop(sock, proto, Session(name="ann"), frontend, rejoin=rejoin, rejoin_after_shutdown=True)
            runner = threading.Thread(target=lambda: outcome.append(loop.run([welcome, *early])), daemon=True)
            runner.start()
            wait_for(lambda: "ann" in loop.session.members, what="ann in the room")
            server.request_shutdown("the host closed the chat", final=final)
            assert server.stopped.wait(10)
            if not final:
                wait_for(lambda: any("starts the server again" in t for t in frontend.shown), what="the wait")
                assert not outcome
                frontend.type("/q")
            runner.join(10)
    finally:
        frontend.close()
    assert outcome, "the loop did not end"
    assert "the server shut down: the host closed the chat" in frontend.shown, frontend.shown
    if final:
        assert outcome[0].code == 0 and outcome[0].message == "disconnected: the server shut down: the host closed the chat"
        assert not any("starts the server again" in t for t in frontend.shown), frontend.shown
        assert not attempts
    else:
        assert outcome[0].code == 0 and outcome[0].message == "you left the chat"


def _notice_then_silence(*, final: bool) -> tuple[socket.socket, threading.Event, threading.Thread]:
    """A stand-in server for one client: a welcome, then at once a shutdown notice (``final``
    or not), and the connection kept open until the client hangs up (``hung_up`` is set then)."""
    from helpers import DEFAULT_TIMEOUT

    from lanchat import wire
    from lanchat.protocol import encode

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(DEFAULT_TIMEOUT)
    hung_up = threading.Event()

    def serve_once() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(3 * DEFAULT_TIMEOUT)  # longer than the client is given
                decoder = wire.FrameDecoder()
                while not decoder.feed(conn.recv(65536)):  # the hello
                    pass
                welcome = ev.Welcome(name="bob", mode="duplex", members=("bob", "ann"))
                conn.sendall(encode(welcome) + encode(ev.Shutdown(reason="the host closed the chat", final=final)))
                while conn.recv(65536):  # stays open until the client hangs up
                    pass
                hung_up.set()

    server = threading.Thread(target=serve_once, daemon=True)
    server.start()
    return listener, hung_up, server


def test_a_line_typed_as_the_server_stops_is_not_lost_it_goes_to_the_restarted_server():
    """Enter pressed as the server shut down: the write failed, the line went with the dead
    connection, and the notice unread behind it read "connection lost". Now the notice is read
    first, and the line is sent again once the restarted server is back."""
    frontend = Untouched()
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        server = cat = None
        # ann's client tries again after 1 s: under load that came before cat had joined the
        # restarted server (which keeps no history), and the line went by unseen ("here: ann" in
        # cat's welcome); her tries wait until cat is in
        cat_in = threading.Event()
        try:
            server, loop, early = joined_then_stopped(path, frontend, rejoins_after=cat_in)
            frontend.type("typed as it stopped")  # read before the notice: its write fails
            result: list = []
            runner = threading.Thread(target=lambda: result.append(loop.run(early)), daemon=True)
            runner.start()
            wait_for(lambda: any("if the host starts the server again" in t for t in frontend.shown), what="the wait")
            server = Proc("serve", "--headless", "--unix", path, "--no-history")
            server.expect(r"join with")
            cat = Proc("connect", "--unix", path, "--name", "cat", "--plain")
            cat.expect(r"welcome, cat")
            cat_in.set()
            # the client tries again after 1, 2, 4, then every 5 s: under load the restarted
            # server may come up just after a try, so the line may take one more round to arrive
            cat.expect(r"ann: typed as it stopped$", timeout=45)
            frontend.type("/q")
            runner.join(10)
        finally:
            for proc in (cat, server):
                if proc is not None:
                    proc.stop()
            frontend.close()
    assert result and result[0].code == 0, result
    shown = frontend.shown
    assert "the server shut down: the server was stopped" in shown, shown
    # a server without history replays nothing to tell whether it arrived: sent again, said so
    assert "1 line you typed may not have reached the server: sent again" in shown, shown
    assert not any(t.startswith("connection lost") for t in shown), shown


def test_the_shutdown_notice_is_waited_out_at_once_not_after_the_server_hangs_up():
    """A restarting server sends its notice, then gives every client up to 2 s to read it and
    hang up before it closes. The full screen waited for the server to close first, so for those
    2 s every student's status line read "chat over: press any key" (a key did nothing) before
    it turned to "server stopped: waiting". Now the notice itself starts the wait: the client
    hangs up at once (the server can stop sooner) and says it waits. The server here sends the
    notice and never closes, so only a client that hangs up by itself gets to the wait."""
    from helpers import DEFAULT_TIMEOUT, TermProc

    listener, hung_up, server = _notice_then_silence(final=False)
    bob = TermProc("connect", "127.0.0.1", str(listener.getsockname()[1]), "--name", "bob", rows=24, cols=100)
    try:
        bob.expect(r"-!- the server shut down: the host closed the chat")
        bob.wait_screen(lambda rows: "server stopped: waiting for it to come back; /q leaves" in rows[-2],
                        timeout=DEFAULT_TIMEOUT, what="the status line saying it waits for the server")
        bob.expect(r"-!- if the host starts the server again, you will rejoin it \(/q to leave\)")
        assert "press any key" not in bob.text
        assert hung_up.wait(DEFAULT_TIMEOUT), "the client kept the connection open"
        bob.send("/q\r")
        assert bob.wait() == 0
    finally:
        bob.stop()
        listener.close()
        server.join(DEFAULT_TIMEOUT)


@pytest.mark.parametrize("how", [(), ("--no-reconnect",)])
def test_a_final_notice_ends_the_chat_at_once_so_the_first_key_leaves(how):
    """The host's /q at the end of the lesson: the final notice is the server's last frame. The
    full screen waited for the server to hang up before it asked for a key, and a TLS room's
    server took 2 s: meanwhile the status line already read "chat over: press any key", and the
    key a student pressed went into the input line; the next one (the first letter of their
    next shell command) left. Now the notice itself ends the chat. The stand-in server sends
    the notice and never closes, so only a client that ends by itself gets to the key."""
    from helpers import DEFAULT_TIMEOUT, TermProc

    listener, hung_up, server = _notice_then_silence(final=True)
    bob = TermProc("connect", "127.0.0.1", str(listener.getsockname()[1]), "--name", "bob", *how, rows=24, cols=100)
    try:
        bob.expect(r"-!- the server shut down: the host closed the chat")
        bob.wait_screen(lambda rows: "chat over: press any key" in rows[-2], what="the status line saying the chat is over")
        bob.send("x")  # one key, as the status line asks
        assert bob.wait() == 0
        assert "press any key to leave" in bob.text
        assert hung_up.wait(DEFAULT_TIMEOUT), "the client kept the connection open"
    finally:
        bob.stop()
        listener.close()
        server.join(DEFAULT_TIMEOUT)


class FlappingServer:
    """A server that welcomes each rejoin and at once shuts down (or drops it) again, on a real
    loopback socket; it stops listening after ``most`` connections, so a client that never
    stops retrying still ends (by giving up on an absent server)."""

    def __init__(self, notice: bool | ev.Error, most: int = 40, refusal: ev.Error | None = None) -> None:
        """``refusal``: every rejoin after the first connection is refused with it instead;
        ``notice`` an error: each welcome is followed by it instead of a shutdown notice."""
        from lanchat.protocol import Connection, Role

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.endpoint = Endpoint(host="127.0.0.1", port=self.listener.getsockname()[1])
        self.accepted = 0

        def serve() -> None:
            with contextlib.suppress(OSError), self.listener:
                while self.accepted < most:
                    conn, _ = self.listener.accept()
                    self.accepted += 1
                    conn.settimeout(10)
                    proto = Connection(Role.SERVER)
                    with conn:
                        while not any(isinstance(e, ev.Hello) for e in proto.events()):
                            proto.receive_data(conn.recv(65536))
                        if refusal is not None and self.accepted > 1:
                            conn.sendall(proto.send(refusal))
                            continue
                        out = proto.send(ev.Welcome(name="ann", mode="duplex", members=("ann",)))
                        if isinstance(notice, ev.Error):
                            out += proto.send(notice)
                        elif notice:
                            out += proto.send(ev.Shutdown(reason=f"restart {self.accepted}"))
                        conn.sendall(out)
                        conn.shutdown(socket.SHUT_WR)
                        while conn.recv(65536):  # until the client closes: nothing is cut short
                            pass

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()


@pytest.mark.parametrize("notice", [
    True, False, ev.Error(code=ev.E_TOO_SLOW, message="you were dropped: not reading fast enough", fatal=True),
], ids=["shutdown-notice", "dropped", "too-slow"])
def test_a_server_that_takes_every_rejoin_and_goes_again_at_once_is_not_rejoined_every_second(monkeypatch, notice):
    """A fake (or crash-looping) server welcomes the rejoin and at once sends a shutdown notice
    again, or drops it: the full screen rejoined after 1 s every time, forever, three lines on
    the screen a second. A rejoin that does not hold now counts as a failed try: the waits grow
    as they do for an absent server, and the wait ends after GIVE_UP_SECONDS from the first loss.
    So too for a link the server drops as too slow at once, each rejoin's replay included
    (client.LINK_DROPS: a rejoin, not an exit)."""

    monkeypatch.setattr(client, "RETRY_DELAYS", (0.05, 0.1, 0.2, 0.4, 0.8))  # fast waits: the growing ones, then the steady one
    monkeypatch.setattr(client, "GIVE_UP_SECONDS", 2.0)
    server = FlappingServer(notice)
    frontend = Untouched()
    result: list = []
    try:
        rejoin = ann_joins(server.endpoint)
        sock, proto, welcome, early = rejoin()
        loop = ClientLoop(sock, proto, Session(name="ann"), frontend, rejoin=rejoin, rejoin_after_shutdown=True)
        runner = threading.Thread(target=lambda: result.append(loop.run([welcome, *early])), daemon=True)
        runner.start()
        # past the 2 s the full screen goes on patiently (every PATIENT_RETRY_SECONDS), said once
        wait_for(lambda: any("still trying, every 30 s (/q to leave)" in text for text in frontend.shown), what="the patient wait")
        accepted = server.accepted
        frontend.type("/q")
        runner.join(10)
    finally:
        frontend.close()
        with contextlib.suppress(OSError):
            server.listener.shutdown(socket.SHUT_RDWR)  # wakes its accept()
        server.thread.join(10)
    # 0.05 + 0.1 + 0.2 + 0.4 + 0.8 + 0.8 s: the 2 s are up after 7 or 8 (before: 40 in 2 s)
    assert accepted <= 10, (accepted, frontend.shown[-6:])
    assert result and result[0].message == "you left the chat", result


def test_a_rejoin_told_to_use_tls_stops_and_says_to_connect_again(monkeypatch):
    """The host restarted the room with --tls (or a fake server says so): a plain client's
    rejoin is refused with use-tls. It went on trying every 15 s for 10 minutes, a refusal line
    each time; a rejoin never switches to TLS by itself (no fingerprint can be asked under the
    full screen), so it stops at once and says to run connect again, which does switch and ask."""

    monkeypatch.setattr(client, "RETRY_DELAYS", (0.05, 0.1, 0.2, 0.4, 0.8))
    monkeypatch.setattr(client, "GIVE_UP_SECONDS", 2.0)
    refusal = ev.Error(code=ev.E_USE_TLS, message="this server uses TLS: connect with --tls", fatal=True)
    server = FlappingServer(notice=False, refusal=refusal)
    frontend = Untouched()
    try:
        rejoin = ann_joins(server.endpoint)
        sock, proto, welcome, early = rejoin()
        loop = ClientLoop(sock, proto, Session(name="ann"), frontend, rejoin=rejoin)
        outcome = loop.run([welcome, *early])
    finally:
        frontend.close()
        with contextlib.suppress(OSError):
            server.listener.shutdown(socket.SHUT_RDWR)
        server.thread.join(10)
    assert server.accepted == 2, (server.accepted, frontend.shown)
    assert outcome.code == 1
    assert outcome.message == ("disconnected: the room now uses TLS; run the same `lanchat connect` again "
                               "to check its fingerprint and join over TLS"), outcome


# ---------------------------------------- a turn-based room restarted: the turn is given afresh


@pytest.mark.parametrize("leaves_first", [False, True])
def test_in_a_restarted_turn_room_lines_from_before_wait_for_your_turn_and_none_is_refused(leaves_first):
    """ann held the turn when the server stopped: a line she had sent was lost with it, and she
    typed another while waiting. The restarted room gave the turn to cat, who came back first.
    Both lines were sent after the replay, and refused as not your turn ("not your turn: waiting
    for cat"); the full screen put one back into the input line. Now they wait for ann's turn,
    said so, and go one per turn of hers: the first when cat has spoken, the second a round later.
    If she leaves before, her last words count them as not sent."""
    frontend = Untouched()
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        history = os.path.join(folder, "h.sqlite3")
        rejoin = ann_joins(Endpoint(path=path))
        server = Proc("serve", "--headless", "--mode", "turn", "--unix", path, "--history", history)
        cat = bob = None
        result: list = []
        try:
            server.expect(r"join with")
            sock, proto, welcome, early = rejoin()
            assert welcome.turn == "ann"
            cat_is_back = threading.Event()

            def after_cat():  # noqa: ANN202 - ann's attempts (on their worker thread) wait for cat to be back first
                assert cat_is_back.wait(30)
                return rejoin()

            loop = ClientLoop(sock, proto, Session(name="ann"), frontend, rejoin=after_cat, rejoin_after_shutdown=True)
            frontend.type("sent as it stopped")  # read before the notice: it goes with the connection
            server.popen.terminate()  # SIGTERM: the notice, and nothing listens there
            server.wait(30)  # (its goodbye waits 2 s for ann, who reads nothing yet: 10 s ran out once under load)
            runner = threading.Thread(target=lambda: result.append(loop.run([welcome, *early])), daemon=True)
            runner.start()
            wait_for(lambda: any("if the host starts the server again" in t for t in frontend.shown), what="the wait")
            frontend.type("typed while it was down")
            wait_for(lambda: "not connected: it will be sent on your turn, once the connection is back" in frontend.shown, what="the note")
            server = Proc("serve", "--headless", "--mode", "turn", "--unix", path, "--history", history)
            server.expect(r"join with")
            cat = Proc("connect", "--unix", path, "--name", "cat", "--plain")
            cat.expect(r"turn-based: your turn")  # the first back holds the turn
            cat_is_back.set()
            wait_for(lambda: server.output.count(" joined from ") == 2, what="ann back", timeout=20)
            bob = Proc("connect", "--unix", path, "--name", "bob", "--plain")
            bob.expect(r"welcome, bob")
            wait_for(lambda: "1 line you typed did not reach the server: sent again on your turn (waiting for cat)" in frontend.shown, what="the resend")
            assert "1 line you typed while away will be sent on your turn (waiting for cat); /unsend drops them" in frontend.shown, frontend.shown
            assert loop.held.text() == "2 lines you typed wait for your turn"
            if leaves_first:
                frontend.type("/q")
                runner.join(10)
                assert result and result[0].message == "you left the chat (2 lines you typed were not sent)", result
                cat.expect(r"ann left")
                return
            cat.send("cat first")
            cat.expect(r"ann: sent as it stopped$")  # ann's turn came: her oldest line, and only it
            bob.expect(r"turn: your turn")
            mark = cat.mark()
            bob.send("bob next")
            cat.expect(r"bob: bob next$", start=mark)
            cat.expect(r"turn: your turn", start=mark)  # round to cat again (join order: cat, ann, bob)
            assert "typed while it was down" not in cat.output and loop.held.text() == "1 line you typed waits for your turn"
            cat.send("cat again")
            cat.expect(r"ann: typed while it was down$")
            frontend.type("/q")
            runner.join(10)
        finally:
            for proc in (cat, bob, server):
                if proc is not None:
                    proc.stop()
            frontend.close()
    assert result and result[0].code == 0, result
    assert not any("not your turn" in text for text in frontend.shown), frontend.shown
    assert cat.output.count("ann: sent as it stopped") == 1 and cat.output.count("ann: typed while it was down") == 1
    assert "Traceback" not in server.output + cat.output + bob.output


def test_the_full_screen_in_a_restarted_turn_room_waits_for_the_server_then_for_its_turn():
    """Through a restart of a turn room the prompt still said whose turn it had been: "> " on
    ann's screen (she held it), "[waiting for ann]" on bob's, where Enter kept the line, "not your
    turn yet (waiting for ann)". Now both prompts wait for the server, both lines are taken to be
    sent, and after the rejoin (cat came back first and holds the turn) each waits for its
    sender's turn, counted on the status line, and goes then: none is refused or comes back."""
    from helpers import TermProc

    with short_tmp_dir() as folder:
        history = os.path.join(folder, "h.sqlite3")
        server, port = serve_tcp("--mode", "turn", "--history", history)
        blip = Blip(("127.0.0.1", port))  # ann and bob come through it: it lets them back after cat
        people = {name: TermProc("connect", "127.0.0.1", str(blip.port), "--name", name, rows=24, cols=80) for name in ("ann",)}
        cat: Proc | None = None
        try:
            people["ann"].expect(r"ann │ client")
            people["bob"] = TermProc("connect", "127.0.0.1", str(blip.port), "--name", "bob", rows=24, cols=80)
            people["bob"].wait_screen(lambda rows: rows[-1].startswith("[waiting for ann]"), what="bob's prompt")
            people["ann"].wait_screen(lambda rows: rows[-1].startswith("> ") and "2 here" in rows[-2], what="ann's turn")
            server.popen.terminate()
            assert server.wait() == 0
            for name, term in people.items():
                expect_waiting_for_a_restart(term)
                term.wait_screen(lambda rows: rows[-1].startswith("[waiting for the server] "), what="the prompt offline")
                term.send(f"{name} typed while away")
                term.wait_screen(lambda rows, name=name: f"{name} typed while away" in rows[-1], what="the typed line")
                term.send("\r")
                term.expect(rf"not connected: '{name} typed while away' will be sent on your turn")
                term.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for the server]", what="the line taken")
            blip.cut()  # turned away until cat is back (the new server might even get the old port)
            server, port = serve_tcp("--mode", "turn", "--history", history)
            cat = Proc("connect", "127.0.0.1", str(port), "--name", "cat", "--plain")
            cat.expect(r"turn-based: your turn")
            blip.target = ("127.0.0.1", port)
            blip.restore()
            for name, term in people.items():
                term.expect(rf"back in the room as {name}", timeout=30)  # retries 1, 3, 7, 15 s after the notice
                term.expect(r"1 line you typed while away will be sent on your turn \(waiting for cat\)")
                term.wait_screen(lambda rows: "waiting for cat" in rows[-2] and "1 line you typed waits for your turn" in rows[-2]
                                 and rows[-1].rstrip() == "[waiting for cat]", what="the line counted, waiting for its turn")
            wait_for(lambda: server.output.count(" joined from ") == 3, what="all three back")
            cat.send("welcome back")
            for name in people:
                cat.expect(rf"\] {name}: {name} typed while away$")  # each on its own turn, after cat's
            cat.expect(r"turn: your turn")
            for term in people.values():
                term.wait_screen(lambda rows: "waits for your turn" not in rows[-2] and "turn" in rows[-2], what="nothing left waiting")
                assert "not your turn" not in term.text and "typed while away" not in term.lines[-1], term.text
                term.send("/q\r")
                assert term.wait() == 0
        finally:
            for term in people.values():
                term.stop()
            for proc in (cat, server):
                if proc is not None:
                    proc.stop()
            blip.close()
    assert cat.output.count("ann typed while away") == 1 and cat.output.count("bob typed while away") == 1, cat.output
    assert "Traceback" not in server.output + cat.output


def test_a_file_on_offer_is_not_announced_again_when_its_reader_rejoins(tmp_path):
    """Whoever joins is told what is on offer (a latecomer must see the slides); a student back
    from a Wi-Fi blip, who saw the offer already, does not read it a second time."""
    server, port = serve_tcp("--no-history")
    blip = Blip(("127.0.0.1", port))
    notes = tmp_path / "notes.txt"
    notes.write_text("framing: a length header, then the bytes\n")
    ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
    bob = Proc("connect", "127.0.0.1", str(blip.port), "--name", "bob")
    try:
        ann.expect(r"welcome, ann")
        bob.expect(r"welcome, bob")
        ann.send(f"/send {notes}")
        bob.expect(r"ann offers notes\.txt \(.*\); type /get \d+ to download it")
        blip.cut()
        bob.expect(r"connection lost; retrying in 1 s")
        blip.restore()
        bob.expect(r"back in the room as bob", timeout=20)
        ann.send("after the blip")
        bob.expect(r"ann: after the blip$")
        assert sum("offers notes.txt" in line for line in bob.lines) == 1, bob.output
    finally:
        for proc in (ann, bob, server):
            proc.stop()
        blip.close()


class SecretServer:
    """A fake server whose every welcome hands ann ``secret`` as its resume secret and hangs up;
    it keeps each hello it reads, and the third time shuts down after its welcome."""

    def __init__(self, secret: str) -> None:
        from lanchat.protocol import Connection, Role

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.endpoint = Endpoint(host="127.0.0.1", port=self.listener.getsockname()[1])
        self.hellos: list[ev.Hello] = []

        def serve() -> None:
            with contextlib.suppress(OSError), self.listener:
                for accepted in range(1, 4):
                    conn, _ = self.listener.accept()
                    conn.settimeout(10)
                    proto = Connection(Role.SERVER)
                    with conn:
                        while not (hellos := [e for e in proto.events() if isinstance(e, ev.Hello)]):
                            proto.receive_data(conn.recv(65536))
                        self.hellos += hellos
                        out = proto.send(ev.Welcome(name="ann", mode="duplex", members=("ann",), resume=secret))
                        conn.sendall(out + (proto.send(ev.Shutdown(reason="enough")) if accepted == 3 else b""))
                        conn.shutdown(socket.SHUT_WR)
                        while conn.recv(65536):  # until the client closes: nothing is cut short
                            pass

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()


@pytest.mark.parametrize("secret", ["A" * 60_000, "not a secret\x1b[2J"], ids=["60-kb", "not-base64"])
def test_an_implausible_resume_secret_is_refused_once_and_rejoins_go_without_it(monkeypatch, secret):
    """A fake server's welcome held a 65 KB resume secret: every rejoin hello carried it, was too
    big for any server to take, and the client said "still no connection" for ten minutes. A
    secret over 128 characters, or outside URL-safe base64, is not kept: one line says so, and
    the rejoins (through `connect`'s own rejoin, cli/rejoin.py's _Rejoin) go without it."""
    from lanchat.cli.rejoin import _Rejoin

    monkeypatch.setattr(client, "RETRY_DELAYS", (0.05, 0.1, 0.2, 0.4, 0.8))
    server = SecretServer(secret)
    frontend = Untouched()
    session = Session(name="ann")
    try:
        rejoin = _Rejoin((server.endpoint, None, None), session, key=None, password=None, binding=b"")
        sock, proto, welcome, early = rejoin()
        outcome = ClientLoop(sock, proto, session, frontend, rejoin=rejoin).run([welcome, *early])
    finally:
        frontend.close()
        with contextlib.suppress(OSError):
            server.listener.shutdown(socket.SHUT_RDWR)
        server.thread.join(10)
    assert [hello.resume for hello in server.hellos] == [None, None, None], [len(h.resume or "") for h in server.hellos]
    refused = [text for text in frontend.shown if "resume secret" in text]
    assert len(refused) == 1 and refused[0].startswith("the server's resume secret is not one a server makes"), frontend.shown
    assert "\x1b" not in refused[0] and "AAAA" not in refused[0]
    assert "enough" in outcome.message, outcome


def test_a_resume_secret_a_server_makes_is_kept_for_the_rejoin():
    from lanchat.room import resume_token

    session = Session(name="ann")
    for secret in (resume_token(), "x" * 128):
        assert session.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann",), resume=secret))
        assert session.rejoin.resume == secret and not session.rejoin.secret_refused


def test_a_rejoin_does_not_say_again_that_the_server_made_us_an_operator():
    """A headless room run by `serve --operator teach`, restarted mid-lesson: teach's screen said
    "the server made you an operator: serve --operator" again below "back in the room", though
    nothing had changed for her (README: the operators are said again only where they differ
    from before the drop). Someone not an operator before the drop is told, as ever."""
    made = ev.Moderated(action="op", by="the server", name="teach", reason="serve --operator", time=50.0)
    session = Session(name="teach", clock=lambda: 100.0)
    session.on_event(ev.Welcome(name="teach", mode="duplex", members=("teach",)))
    assert [line.text for line in session.on_event(made)] == ["the server made you an operator: serve --operator"]
    session.on_event(ev.Operators(names=("teach",)))
    session.rejoin.lost(session, 1.0)
    session.on_event(ev.Welcome(name="teach", mode="duplex", members=("teach",)))
    session.on_event(ev.HistoryEnd(shown=0, more=False, before=None))
    assert session.on_event(made) == []
    session.on_event(ev.Operators(names=("teach",)))
    assert session.is_operator("teach")
    # a room that says no operators (none but its host) leaves the old ones unsaid: a /op a
    # while later is news all the same
    now = [200.0]
    hosted = Session(name="bob", clock=lambda: now[0])
    hosted.on_event(ev.Welcome(name="bob", mode="duplex", members=("hal", "bob"), host="hal"))
    hosted.on_event(ev.Operators(names=("hal", "bob")))
    hosted.rejoin.lost(hosted, 1.0)
    hosted.on_event(ev.Welcome(name="bob", mode="duplex", members=("hal", "bob"), host="hal"))
    hosted.on_event(ev.HistoryEnd(shown=0, more=False, before=None))
    now[0] = 260.0
    opped = ev.Moderated(action="op", by="hal", name="bob", time=259.0)
    assert [line.text for line in hosted.on_event(opped)] == ["hal made you an operator"]
    student = Session(name="ann", clock=lambda: 100.0)
    student.on_event(ev.Welcome(name="ann", mode="duplex", members=("teach", "ann")))
    student.rejoin.lost(student, 1.0)
    student.on_event(ev.Welcome(name="ann", mode="duplex", members=("ann",)))
    made_ann = ev.Moderated(action="op", by="the server", name="ann", reason="serve --operator", time=60.0)
    assert [line.text for line in student.on_event(made_ann)] == ["the server made you an operator: serve --operator"]


def test_muted_until_says_the_minute_the_mute_ends_rounded_up():
    """A mute ending at 40 s past 10:10 said "muted until 10:10", cut to the minute: a time at
    which it was still on. It says the first minute at or after its end: 10:11."""
    import time

    minute = 1_700_000_000.0 - time.localtime(1_700_000_000.0).tm_sec  # a whole minute on the local clock
    said = lambda when: time.strftime("%H:%M", time.localtime(when))  # noqa: E731
    assert minute_at_or_after(minute) == said(minute)  # on the minute: that minute
    for past in (0.5, 20.0, 59.5):
        assert minute_at_or_after(minute + past) == said(minute + 60), past
    now = [minute + 40]
    dan = Session(name="dan", clock=lambda: now[0])
    dan.on_event(ev.Welcome(name="dan", mode="duplex", members=("hal", "dan"), host="hal"))
    dan.on_event(ev.Moderated(action="mute", by="hal", name="dan", minutes=10, time=now[0]))
    assert dan.muted_text() == f"muted until {said(minute + 11 * 60)}"


def test_a_rejoin_keeps_the_mutes_end_known_to_the_second_where_the_rooms_minutes_fit_it():
    """The rejoin's welcome says the minutes left, rounded up: now plus them is never before the
    real end, and up to a minute after it. The end known from the act that muted us is kept where
    it fits them (the same mute); a mute made or changed while we were away is taken as told."""
    now = 5000.0
    real_end = now + 5 * 60 + 20
    told = now + 6 * 60  # "6 more minutes"
    assert kept_mute_end(real_end, told, now) == real_end
    assert kept_mute_end(real_end + 2.0, told, now) == real_end + 2.0  # the act read a moment late: still this one
    assert kept_mute_end(now + 20 * 60, told, now) == told  # shortened while away
    assert kept_mute_end(now + 2 * 60, told, now) == told  # made longer while away
    assert kept_mute_end(now - 1.0, told, now) == told  # ours had ended: the room muted us again
    assert kept_mute_end(None, told, now) == told  # first heard of now
    assert kept_mute_end(real_end, float("inf"), now) == float("inf")  # until unmuted now
    assert kept_mute_end(float("inf"), told, now) == told
    assert kept_mute_end(real_end, None, now) is None  # not muted any more


def test_after_rejoining_muted_the_status_line_lets_go_of_the_mute_once_the_room_takes_our_line():
    """dan was muted for 5 minutes, and the teacher's server restarted: the room rejoined says
    "5 more minutes" (whole minutes, rounded up), so his status line said "muted until" up to a
    minute past the real end; in a class played for real bob's line went through, yet it still
    said "muted until 19:31". A line of ours the room takes proves the mute is over: it goes."""
    now = [1000.0]
    session = Session(name="dan", clock=lambda: now[0])
    session.on_event(ev.Welcome(name="dan", mode="duplex", members=("hal", "dan"), host="hal", muted=5))
    assert session.muted_text().startswith("muted until ")
    now[0] = 1250.0  # the room ended the mute at about 1240: no word comes from it
    assert session.muted_text().startswith("muted until ")
    session.on_event(ev.Message(sender="dan", text="may I speak now?", time=1250.0))
    assert session.muted_text() == "" and session.mute_ends_at() is None
    # someone else's line says nothing of our mute, nor does a replayed one of ours
    session.on_event(ev.Welcome(name="dan", mode="duplex", members=("hal", "dan"), host="hal", muted=5))
    session.on_event(ev.Message(sender="hal", text="wait", time=1251.0))
    session.on_event(ev.Message(sender="dan", text="old", time=900.0, history=True))
    assert session.muted_text().startswith("muted until ")


def test_a_laptop_left_behind_rejoining_does_not_throw_out_the_one_its_person_moved_to():
    """bob closed his laptop's lid (its link gone) and joined from the lab's machine with his key,
    before or after the server noticed the laptop was gone. When the laptop woke, its client,
    retrying as after any lost connection, rejoined with its old secret and its key and took the
    room back: the lab machine got 'you joined again from somewhere else' and, as a client told
    so does, stopped for good; bob was left chatting on the laptop he had walked away from. A
    rejoin with the secret of a session that a later one of the same key and name replaced (not
    its own retry) is now the one refused, with the same fatal taken-over; the later session
    stays. The later session's own rejoin, and a retry of it whose welcome was lost, still work."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import identity

    server, port = serve_tcp("--no-history")  # the real serve: its welcomes carry resume secrets
    endpoint = Endpoint(host="127.0.0.1", port=port)
    ann = RawClient(endpoint, "ann")
    opened = [ann]

    def join(name: str, key: Ed25519PrivateKey, secret: str | None) -> RawClient:
        client = RawClient(endpoint, key=key)
        opened.append(client)
        client.send(ev.Hello(name=name, key=identity.b64(identity.public_bytes(key)), resume=secret, since=0.0))
        client.send(client.answer(client.expect(ev.Challenge)))  # type: ignore[arg-type]
        return client

    try:
        for name, noticed in (("bob", False), ("cy", True)):
            key = Ed25519PrivateKey.generate()
            laptop = join(name, key, None)
            laptop_secret = laptop.expect(ev.Welcome).resume  # type: ignore[attr-defined]
            ann.expect(ev.Joined, name=name)
            if noticed:  # the server saw the laptop go before the lab machine joined
                laptop.close()
                ann.expect(ev.Left, name=name)
            lab = join(name, key, None)  # a fresh `lanchat connect` on the lab machine: no secret
            lab_secret = lab.expect(ev.Welcome).resume  # type: ignore[attr-defined]
            ann.expect(ev.Joined, name=name)
            woke = join(name, key, laptop_secret)
            refused = woke.expect(ev.Error)
            assert refused.code == ev.E_TAKEN_OVER and refused.fatal, refused  # type: ignore[attr-defined]
            woke.expect_closed()
            lab.send(ev.Say(text="still on the lab machine"))
            assert ann.expect(ev.Message, sender=name).text == "still on the lab machine"  # type: ignore[attr-defined]
            assert not [e for e in ann.drain() if isinstance(e, ev.Left)]
            again = join(name, key, lab_secret)  # the lab machine's own rejoin after a blip: as before
            again.expect(ev.Welcome)
            lab.expect(ev.Error, code=ev.E_TAKEN_OVER)
            retry = join(name, key, lab_secret)  # that rejoin's welcome lost on the way: tried again
            retry.expect(ev.Welcome)
    finally:
        for client in opened:
            client.close()
        server.stop()


def test_the_client_left_behind_stops_rejoining_and_says_where_its_chat_went():
    """The laptop of the test above, lanchat's own client: its rejoin refused with taken-over, it
    went on retrying for ten minutes, a 'still lost' line every 15 s. Now it stops at once and
    says why, and how to take the chat back."""
    from helpers import identity_args

    from lanchat import identity

    server, port = serve_tcp("--no-history")
    blip = Blip(("127.0.0.1", port))
    laptop = Proc("connect", "127.0.0.1", str(blip.port), "--name", "bob")
    lab = None
    try:
        laptop.expect(r"welcome, bob")
        blip.cut()
        laptop.expect(r"connection lost; retrying")
        server.expect(r"bob lost connection")
        key, _ = identity.load_or_create_key(Path(identity_args("bob")[1]), make_folder=False)
        lab = RawClient(Endpoint(host="127.0.0.1", port=port), "bob", key=key)  # the lab machine, his key copied
        blip.restore()
        assert laptop.wait(timeout=20) == 1
        assert laptop.lines[-1] == ("lanchat: disconnected: you joined the room again from somewhere else, so this one "
                                    "does not rejoin; run `lanchat connect` again here to take the chat back"), laptop.output
        lab.send(ev.Who())
        assert lab.expect(ev.Roster).members == ("bob",)  # type: ignore[attr-defined]
    finally:
        if lab is not None:
            lab.close()
        for proc in (laptop, server):
            proc.stop()
        blip.close()


def test_the_left_behind_laptops_record_outlives_any_number_of_others_joins():
    """gate.KeptSessions kept every secret it issued in one list of 4,096: a term's joins, or one
    script rejoining 4,096 times, pushed out the teacher's old secret, and her laptop left behind
    then took the room back from her (a takeover of her current session, which then stopped for
    good). Each key and name keeps its own record now: others' joins, however many, leave it."""
    from types import SimpleNamespace

    from lanchat.gate import SESSIONS_REMEMBERED, KeptSessions

    def admit(key: bytes, name: str, resume: str | None) -> SimpleNamespace:
        return SimpleNamespace(key=key, name=name, hello=SimpleNamespace(resume=resume))

    kept = KeptSessions()
    kept.note(b"teach", "teach", "laptop", admit(b"teach", "teach", None))
    kept.note(b"teach", "teach", "lab", admit(b"teach", "teach", None))  # joined afresh from the lab
    back = "lab"
    for n in range(SESSIONS_REMEMBERED + 10):  # a script with one key, rejoining and rejoining
        kept.note(b"script", "spam", f"s{n}", admit(b"script", "spam", back))
        back = f"s{n}"
    assert kept.replaced(admit(b"teach", "teach", "laptop"))  # still the machine left behind
    assert not kept.replaced(admit(b"teach", "teach", "lab"))  # the lab's own rejoin
    assert not kept.replaced(admit(b"script", "spam", back))  # and the script's own
    assert len(kept.latest) == 2


def test_a_rejoin_to_a_host_typed_by_name_looks_it_up_again():
    """`connect teacher-laptop` keeps the addresses the name was found at for the first connect;
    the rejoin went to those alone, so after the laptop's DHCP lease changed the student saw
    "reconnecting..." for good. The rejoin asks the resolver again: here the name's saved
    address (127.0.0.2) has no server, and the name, looked up again, finds it on 127.0.0.1."""
    from helpers import running_server

    from lanchat.cli.rejoin import _Rejoin
    from lanchat.transport import connect as dial

    with running_server() as (_server, endpoint):
        stale = Endpoint(host="localhost", port=endpoint.port, addresses=("127.0.0.2",))
        with pytest.raises(Exception, match="refused"):  # the saved address alone: nobody there
            dial(stale, timeout=3.0).close()
        rejoin = _Rejoin((stale, None, None), Session(name="ann"), key=None, password=None, binding=b"")
        assert _welcomed_name(rejoin) == "ann"


def _welcomed_name(rejoin) -> str:  # noqa: ANN001 - a _Rejoin (cli/rejoin.py)
    """One try of ``rejoin`` (closed after): the name its welcome gave."""
    try:
        sock, _proto, welcome, _early = rejoin()
        sock.close()
    finally:
        rejoin.close()
    return welcome.name


def test_a_rejoin_whose_look_up_fails_dials_the_addresses_the_first_connect_found():
    """A rejoin to a host typed by name depended on the resolver alone: with the school's name
    server down (the laptop's address unchanged) every try said "cannot find host". A failed
    look-up now dials the addresses the first connect found: here the resolver fails and the
    saved address, 127.0.0.1, is the server's."""
    import socket

    from helpers import running_server

    from lanchat.cli.rejoin import _Rejoin

    def resolver_down(*_args, **_kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with running_server() as (_server, endpoint):
        saved = Endpoint(host="teacher-laptop.invalid", port=endpoint.port, addresses=("127.0.0.1",))
        rejoin = _Rejoin((saved, None, None), Session(name="ann"), key=None, password=None, binding=b"")
        rejoin.resolve = resolver_down
        assert _welcomed_name(rejoin) == "ann"
        assert rejoin.endpoint.host == "teacher-laptop.invalid" and rejoin.endpoint.addresses == ()  # asked again next time


def test_a_rejoin_whose_look_up_finds_only_dead_addresses_falls_back_to_the_first_connects():
    """The name server answered, with an address where nothing answers (a stale record, an
    address this network cannot reach): the rejoin dialled that alone, try after try, and never
    the addresses the first connect found, which only a failed look-up fell back to. Here the
    name is found at 127.0.0.2 (nobody there) and the first connect's 127.0.0.1 is the server's."""
    import socket

    from helpers import running_server

    from lanchat.cli.rejoin import _Rejoin

    with running_server() as (_server, endpoint):
        def stale_record(*_args, **_kwargs):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", endpoint.port))]

        saved = Endpoint(host="teacher-laptop.invalid", port=endpoint.port, addresses=("127.0.0.1",))
        rejoin = _Rejoin((saved, None, None), Session(name="ann"), key=None, password=None, binding=b"")
        rejoin.resolve = stale_record
        assert _welcomed_name(rejoin) == "ann"


def test_a_slow_look_up_on_rejoining_is_said_on_the_status_line_and_once_as_a_line():
    """A rejoin to a host typed by name looked it up silently for up to 10 s each try: the
    status line said "reconnecting..." and --plain nothing. After a second (here 0.05 s) the
    rejoin tells the loop (Reconnect.note): the status line says what it waits for, and one line
    says it once an outage, not at every try."""
    import socket
    import threading
    from types import SimpleNamespace

    from helpers import running_server

    from lanchat.cli.rejoin import _Rejoin
    from lanchat.client import Reconnect, RejoinNote

    answered = threading.Event()
    with running_server() as (_server, endpoint):
        def slow_name_server(*_args, **_kwargs):
            answered.wait(5)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", endpoint.port))]

        saved = Endpoint(host="teacher-laptop.invalid", port=endpoint.port, addresses=("127.0.0.1",))
        rejoin = _Rejoin((saved, None, None), Session(name="ann"), key=None, password=None, binding=b"")
        notes: list[tuple[str, str]] = []
        rejoin.resolve, rejoin.say_after = slow_name_server, 0.05
        rejoin.note = lambda doing, line: (notes.append((doing, line)), answered.set())
        assert _welcomed_name(rejoin) == "ann"
    ((doing, line),) = notes
    assert doing == "looking up 'teacher-laptop.invalid'"
    assert line.startswith("rejoining: looking up 'teacher-laptop.invalid'; the network's name server is slow")

    reconnect = Reconnect(lambda: None)  # type: ignore[arg-type, return-value]
    shown: list = []
    loop = SimpleNamespace(outcome=None, session=SimpleNamespace(progress={}), frontend=SimpleNamespace(show=shown.extend))
    try:
        for _try in range(2):
            reconnect._take(loop, RejoinNote(doing, line))  # type: ignore[arg-type]
        assert reconnect.status.text() == "offline: looking up 'teacher-laptop.invalid'\u2026"
        assert [said.text for said in shown] == [line]
    finally:
        reconnect.close()


def test_a_move_whose_joined_a_drop_took_does_not_hide_a_later_join():
    """ann moved to another window ("ann moved to another window": the "joined" that follows is
    not news, so it is not shown), and bob's connection dropped before that joined came. Back in
    the room, the move was still remembered (Session.moved), and the next time ann really joined,
    bob's screen said nothing. A rejoin's welcome says who is here: what came before is forgotten."""
    import time

    from helpers import SerialServer, TermProc

    from lanchat.protocol import Connection, Role

    class MovedThenDropped(SerialServer):
        """First connection: welcome bob with ann here, say ann left "moved", hang up. Second: welcome
        bob back without ann; ann joins, then says a line (bob's screen shows it after the join)."""

        def answer(self, conn: socket.socket) -> None:
            proto = Connection(Role.SERVER)
            hello = None
            while hello is None and (data := conn.recv(65536)):
                proto.receive_data(data)
                hello = next((event for event in proto.events() if isinstance(event, ev.Hello)), None)
            assert hello is not None
            now = time.time()
            if self.taken == 1:
                events: tuple[ev.Event, ...] = (ev.Welcome(name=hello.name, mode="duplex", members=(hello.name, "ann")),
                                                ev.Left(name="ann", reason=ev.LEFT_MOVED, time=now))  # fmt: skip
            else:
                events = (ev.Welcome(name=hello.name, mode="duplex", members=(hello.name,)), ev.Joined(name="ann", time=now),
                          ev.Message(sender="ann", text="here again", time=now))  # fmt: skip
            conn.sendall(b"".join(proto.send(event) for event in events))
            if self.taken == 1:
                conn.shutdown(socket.SHUT_WR)  # the drop: everything sent arrives, then the end
            while conn.recv(65536):  # until bob closes (the first: on the drop; the second: at the test's end)
                pass

    server = MovedThenDropped()
    bob = TermProc("connect", "127.0.0.1", str(server.port), "--name", "bob", rows=24, cols=100)
    try:
        bob.expect(r"ann moved to another window")
        bob.expect(r"back in the room as bob")
        bob.expect(r"ann: here again")
        assert re.search(r"ann joined \(2 here\)", bob.text), bob.text
    finally:
        bob.stop()
        server.close()


class Replaying(helpers.SerialServer):
    """A stand-in server for a rejoin: welcomes whoever says hello (members: them and ann; a
    history kept), lets ``first`` handle the first connection, and on the second sends
    ``replay()``'s events, then notes every line said (``again``) until the client closes."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.again: list[str] = []
        super().__init__()

    def first(self, read) -> None:  # noqa: ANN001 - the first connection, after its welcome: dropped at once
        pass

    def replay(self) -> tuple[ev.Event, ...]:
        return (ev.HistoryEnd(shown=0, more=False),)

    def answer(self, conn: socket.socket) -> None:
        from lanchat.protocol import Connection, Role

        proto = Connection(Role.SERVER)
        first = self.taken == 1

        def read(kind: type) -> ev.Event | None:
            while data := conn.recv(65536):
                proto.receive_data(data)
                for event in proto.events():
                    if isinstance(event, ev.Say):
                        (self.said if first else self.again).append(event.text)
                    if isinstance(event, kind):
                        return event
            return None

        hello = read(ev.Hello)
        assert hello is not None
        welcome = ev.Welcome(name=hello.name, mode="duplex", members=(hello.name, "ann"), keeps_history=True, resume="r" * 24)
        conn.sendall(proto.send(welcome))
        if first:
            self.first(read)
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(b"".join(proto.send(event) for event in self.replay()))
        while read(ev.Say) is not None:  # until the client closes
            pass


def test_a_line_whose_echo_the_drop_took_is_not_shown_as_missed():
    """Four friends on one LAN (session 44): bob's link was cut for 5 s just as he sent a line.
    The room got it; its echo was lost with the link. Back in the room, his screen put his own
    line under "missed while you were away:" as "[History] bob: typed while cut", as if he had
    missed what he said himself. The replay answers it (it is not sent again), and now it shows
    as his own line; only ann's counts as missed."""
    import time

    from helpers import TermProc

    class EchoLost(Replaying):
        """First connection: welcome bob, take his line, drop without echoing it. Second: welcome
        him back and replay his line and ann's; then note every line he sends."""

        def first(self, read) -> None:  # noqa: ANN001
            read(ev.Say)  # bob's line: taken, and the link dies before its echo

        def replay(self) -> tuple[ev.Event, ...]:
            now = time.time()
            return (ev.Message(sender="bob", text=self.said[0], time=now - 2, history=True),
                    ev.Message(sender="ann", text="are you there?", time=now - 1, history=True),
                    ev.HistoryEnd(shown=2, more=False))  # fmt: skip

    server = EchoLost()
    bob = TermProc("connect", "127.0.0.1", str(server.port), "--name", "bob", rows=24, cols=80)
    try:
        bob.expect(r"welcome, bob")
        bob.send("typed while cut\r")
        bob.expect(r"back in the room as bob")
        bob.expect(r"end of what you missed \(1 message\)")
        bob.send("after\r")
        wait_for(lambda: "after" in server.again, what="bob's next line at the server")
        assert server.again == ["after"], server.again  # the replay answered his line: not sent twice
        screen = bob.text
        assert "[History] bob" not in screen, screen
        assert re.search(r"\d\d:\d\d bob: typed while cut", screen), screen
        assert screen.index("bob: typed while cut") < screen.index("missed while you were away") < screen.index("ann: are you there?")
    finally:
        bob.stop()
        server.close()


def test_a_line_sent_under_ones_name_while_away_is_missed_not_shown_as_ones_own():
    """From the attacker's side (review of session 44): bob's laptop dropped, the room noticed and
    his name was free; mallory joined as "bob" and said a line, then left. bob's laptop came back
    as bob, and the replay brought mallory's line from "bob". It showed as bob's own line, not
    under "missed while you were away", as if he had said it. Only a line bob typed and whose
    echo the drop took is his own; this one is missed, marked as history."""
    import time

    from helpers import TermProc

    class Impostor(Replaying):
        """First connection: welcome bob, then drop. Second: welcome him back and replay a line
        from "bob" that he never typed (mallory's, under his name while he was away)."""

        def replay(self) -> tuple[ev.Event, ...]:
            return (ev.Message(sender="bob", text="send me the password", time=time.time() - 1, history=True),
                    ev.HistoryEnd(shown=1, more=False))  # fmt: skip

    server = Impostor()
    bob = TermProc("connect", "127.0.0.1", str(server.port), "--name", "bob", rows=24, cols=80)
    try:
        bob.expect(r"welcome, bob")
        bob.expect(r"back in the room as bob")
        bob.expect(r"end of what you missed \(1 message\)")
        screen = bob.text
        assert "[History] bob: send me the password" in screen, screen
    finally:
        bob.stop()
        server.close()
