"""Lines held for our turn after a turn room's restart (unconfirmed.HeldForTurn), through what
the host does meanwhile: a mute, /mode duplex and back, a kick, a /pass, the chat's end."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace

from helpers import Proc, short_tmp_dir, wait_for
from test_reconnect import Untouched, ann_joins

from lanchat.client import ClientLoop
from lanchat.session import Session
from lanchat.transport import Endpoint


def hosted(path: str, history: str, mode: str = "turn") -> Proc:
    """A turn room (or ``mode``) hosted by teach (--plain, typing into its stdin) on ``path``."""
    server = Proc("serve", "--plain", "--name", "teach", "--mode", mode, "--unix", path, "--history", history)
    server.expect(r"welcome, teach")
    return server


@dataclass
class Held:
    teach: Proc  # the host of the restarted room
    cat: Proc  # back first: ann waits behind
    loop: ClientLoop  # ann, rejoined, with lines held for her turn
    frontend: Untouched
    result: list


@contextlib.contextmanager
def ann_holding(*typed: str, before: str = "", older_server: bool = False, mode: str = "turn") -> Iterator[Held]:
    """ann in teach's turn room (teach typing ``before``, if any, once she is in); the server
    stopped (SIGTERM, not final) and started again; ann typed ``typed`` while it was down, and
    they now wait for her turn (cat, back first, holds it). ``older_server``: her rejoin's
    welcome reads as one from a server older than its ``muted`` field; ``mode``: the room's."""
    frontend = Untouched()
    with short_tmp_dir() as folder:
        path, history = os.path.join(folder, "chat.sock"), os.path.join(folder, "h.sqlite3")
        teach = hosted(path, history, mode)
        result: list = []
        runner = None
        cat = None
        try:
            join = ann_joins(Endpoint(path=path))
            cat_is_back = threading.Event()

            def rejoin():  # noqa: ANN202 - ann's attempts wait for cat to be back first
                assert cat_is_back.wait(30)
                sock, proto, welcome, early = join()
                return sock, proto, replace(welcome, muted=None) if older_server else welcome, early

            sock, proto, welcome, early = join()
            loop = ClientLoop(sock, proto, Session(name="ann"), frontend, rejoin=rejoin, rejoin_after_shutdown=True)
            runner = threading.Thread(target=lambda: result.append(loop.run([welcome, *early])), daemon=True)
            runner.start()
            wait_for(lambda: "ann" in loop.session.members, what="ann in")
            if before:
                teach.send(before)
                wait_for(lambda: any(text.startswith("teach ") for text in frontend.shown), what="teach's act")
            teach.popen.terminate()
            teach.wait()
            wait_for(lambda: any("if the host starts the server again" in t for t in frontend.shown), what="the wait")
            for line in typed:
                frontend.type(line)
            taken = "it will be sent on your turn, once the connection is back" if mode == "turn" else "it will be sent when the connection is back"
            wait_for(lambda: frontend.shown.count(f"not connected: {taken}") == len(typed), what="taken")
            teach = hosted(path, history, mode)
            cat = Proc("connect", "--unix", path, "--name", "cat", "--plain")
            cat.expect(r"welcome, cat")
            cat_is_back.set()
            wait_for(lambda: "back in the room as ann (3 here)" in frontend.shown, what="the rejoin", timeout=30)
            if not before.startswith("/mute"):  # the oldest was sent to ask (an older server's way) and waits again
                wait_for(lambda: any(text.endswith("you typed while away will be sent on your turn (waiting for cat); /unsend drops them") for text in frontend.shown),
                         what="the lines held")
                wait_for(lambda: len(loop.held) == len(typed) and loop.held.in_flight is None, what="held")
            yield Held(teach, cat, loop, frontend, result)
        finally:
            for proc in (cat, teach):
                if proc is not None:
                    proc.stop()
            if runner is not None and runner.is_alive():
                frontend.type("/q!")
                runner.join(10)
            frontend.close()



def cat_passes_and_ann_says_fresh(held) -> None:  # noqa: ANN001 - ann_holding's
    """cat speaks, so the turn is ann's: what she types now is what goes (nothing held went before it)."""
    held.cat.send("cat speaks")
    held.cat.expect(r"turn: waiting for ann")
    wait_for(lambda: held.loop.session.my_turn, what="ann's turn")
    held.frontend.type("fresh")
    held.cat.expect(r"ann: fresh$")

def test_a_mute_drops_the_lines_held_for_the_turn_and_says_so():
    """ann's two lines waited for her turn when teach muted her: nothing was said of them, the
    mute ended, and on her next turn the first went to the room on its own, minutes later and
    unknown to her. Now the mute drops them and says so, as it does lines the flood limit held."""
    with ann_holding("one", "two") as held:
        held.teach.send("/mute ann")
        wait_for(lambda: "2 lines you typed were not sent: you are muted" in held.frontend.shown, what="the lines dropped")
        shown = held.frontend.shown
        assert shown.index("teach muted you until unmuted (you can still read)") < shown.index("2 lines you typed were not sent: you are muted")
        assert not held.loop.held and "held" not in held.loop.session.progress
        held.teach.send("/unmute ann")
        wait_for(lambda: "teach unmuted you" in held.frontend.shown, what="the unmute")
        cat_passes_and_ann_says_fresh(held)
    assert "ann: one" not in held.cat.output and "ann: two" not in held.cat.output, held.cat.output



def rounds_until(held: Held, pattern: str, most: int = 30) -> None:
    """cat and teach take their turns (ann's lines go on hers) until cat reads ``pattern``."""
    def turns() -> int:  # the turn frames ann has been shown
        return sum(text.startswith("turn: ") for text in held.frontend.shown)

    def seen() -> bool:
        return re.search(pattern, held.cat.output, re.MULTILINE) is not None

    for _ in range(most):
        if seen():
            return
        before = turns()
        holder = wait_for(lambda: held.loop.session.turn, what="someone's turn")
        if holder != "ann":
            (held.cat if holder == "cat" else held.teach).send(f"{holder} speaks")
        wait_for(lambda before=before: turns() > before or seen(), what="the turn moving on")
    held.cat.expect(pattern)


def test_lines_held_go_at_once_in_a_duplex_room_and_those_still_paced_wait_again_when_it_is_turn_based():
    """teach made the room duplex while 20 of ann's lines waited for her turn: they went at once,
    in order, at the room's pace (10 at once, then 3 a second). teach made it turn-based again
    before the last had gone: those were sent all the same and refused, 'not your turn: waiting
    for cat', and lost. Now they wait for her turn again, said so, and go one per turn of hers."""
    typed = [f"line {n}" for n in range(1, 21)]
    with ann_holding(*typed) as held:
        held.teach.send("/mode duplex")
        held.cat.expect(r"ann: line 10$")
        wait_for(lambda: "held" not in held.loop.session.progress and not held.loop.held, what="none held")
        held.teach.send("/mode turn")
        wait_for(lambda: any(re.fullmatch(r"\d+ lines? you typed will be sent on your turn; /unsend drops them", t) for t in held.frontend.shown), what="the word")
        rounds_until(held, r"ann: line 20$")
        said = [line.split("ann: ", 1)[1] for line in held.cat.lines if "] ann: line " in line]
    assert said == typed, said
    assert not any("not your turn" in text for text in held.frontend.shown), held.frontend.shown


def test_lines_typed_away_by_a_student_muted_before_the_restart_are_not_kept_for_after_the_mute():
    """A mute survives a restart: ann, muted before, typed two lines while the server was down;
    they waited for a turn she could not get, to go on their own whenever the mute ended. The
    rejoin's welcome says she is muted (``muted``): that is said at once, below the rejoin, and both
    are dropped with the count, as a mute does, without sending one to ask (that is left for a
    server older than the field: its refusal, 'you are muted by teach ...', is not shown here)."""
    with ann_holding("one", "two", before="/mute ann") as held:
        wait_for(lambda: "2 lines you typed were not sent: you are muted" in held.frontend.shown, what="the lines dropped")
        assert not held.loop.held and held.loop.held.in_flight is None
        shown = held.frontend.shown
        back = shown.index("back in the room as ann (3 here)")
        assert shown[back + 1 : back + 3] == ["turn-based: waiting for cat", "you are muted until unmuted (you can still read)"], shown[back:]
        assert not any(text.startswith("you are muted by teach") for text in shown), shown
        assert not any("will be sent on your turn" in text for text in shown[back:]), shown[back:]
        held.teach.send("/unmute ann")
        wait_for(lambda: "teach unmuted you" in held.frontend.shown, what="the unmute")
        cat_passes_and_ann_says_fresh(held)
    assert "ann: one" not in held.cat.output and "ann: two" not in held.cat.output, held.cat.output


def test_in_a_duplex_room_lines_typed_away_by_a_muted_student_are_dropped_with_the_count():
    """The same in a duplex room: both lines went out once back, each came back refused ('you
    are muted by teach ...' twice), and the full screen put the last one in the input line
    saying 'what you typed is kept' under the first refusal, the first line gone unsaid."""
    with ann_holding("one", "two", before="/mute ann", mode="duplex") as held:
        wait_for(lambda: "2 lines you typed were not sent: you are muted" in held.frontend.shown, what="the lines dropped")
        shown = held.frontend.shown
        back = shown.index("back in the room as ann (3 here)")
        assert not any(text.startswith("you are muted by teach") for text in shown), shown[back:]
        held.teach.send("/unmute ann")
        wait_for(lambda: "teach unmuted you" in held.frontend.shown, what="the unmute")
        held.frontend.type("fresh")
        held.cat.expect(r"ann: fresh$")
    assert "ann: one" not in held.cat.output and "ann: two" not in held.cat.output, held.cat.output


def test_from_a_server_older_than_the_welcomes_muted_field_the_oldest_held_line_asks():
    """The fallback for a rejoin's welcome without ``muted`` (a server older than it, which tells
    nothing of a mute): the oldest held line is sent at once to ask, refused as muted, and both
    are dropped with the count, none said later."""
    with ann_holding("one", "two", before="/mute ann", older_server=True) as held:
        wait_for(lambda: "2 lines you typed were not sent: you are muted" in held.frontend.shown, what="the lines dropped")
        assert any(text.startswith("you are muted by teach") for text in held.frontend.shown), held.frontend.shown  # it asked
        assert "you are muted until unmuted (you can still read)" not in held.frontend.shown
        assert not held.loop.held and held.loop.held.in_flight is None
        held.teach.send("/unmute ann")
        wait_for(lambda: "teach unmuted you" in held.frontend.shown, what="the unmute")
        cat_passes_and_ann_says_fresh(held)
    assert "ann: one" not in held.cat.output and "ann: two" not in held.cat.output, held.cat.output


def test_on_the_full_screen_a_line_typed_offline_past_the_most_kept_stays_in_the_input_line():
    """Offline, the client keeps 50 typed lines to send once back. In a turn room the full screen
    used to keep a line typed out of turn in the input line; since Enter offline hands the line
    over, the 51st was taken out of the input line and dropped ('not connected: try again when
    the connection is back'), its text gone. Now it stays in the input line, said so."""
    from helpers import TermProc
    from test_reconnect import Blip, serve_tcp

    from lanchat.client import MAX_QUEUED_WHILE_AWAY

    server, port = serve_tcp("--mode", "turn", "--no-history")
    blip = Blip(("127.0.0.1", port))
    bob = TermProc("connect", "127.0.0.1", str(blip.port), "--name", "bob", rows=24, cols=80)
    try:
        bob.expect(r"bob │ client")
        blip.cut()
        bob.wait_screen(lambda rows: rows[-1].startswith("[waiting for the server] "), what="offline")
        for n in range(1, MAX_QUEUED_WHILE_AWAY + 1):
            bob.send(f"line {n}")
            bob.wait_screen(lambda rows, n=n: rows[-1].rstrip().endswith(f"line {n}"), what=f"line {n} typed")
            bob.send("\r")
            bob.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for the server]", what=f"line {n} taken")
        bob.send("one too many\r")
        bob.expect(r"not connected, and 50 lines you typed already wait")
        bob.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for the server] one too many", what="the line kept")
        bob.expect(r"connection is back; what you typed is kept")
        bob.send("\x7f" * len("one too many"))
        bob.send("/q\r")
        assert bob.wait() == 0
        assert b"you left the chat (50 lines you typed were not sent)" in bytes(bob.raw)
    finally:
        bob.stop()
        server.stop()
        blip.close()
    assert "Traceback" not in bob.text


def test_unsend_drops_the_lines_held_for_the_turn():
    """There was no way to take back lines held for the turn short of leaving: /unsend drops them
    (the rejoin's line says so), with the count, and what is typed next goes on her turn."""
    with ann_holding("one", "two") as held:
        assert "2 lines you typed while away will be sent on your turn (waiting for cat); /unsend drops them" in held.frontend.shown
        held.frontend.type("/unsend")
        wait_for(lambda: "2 lines you typed were dropped, not sent (/unsend)" in held.frontend.shown, what="the drop")
        held.frontend.type("/unsend")
        wait_for(lambda: "no line you typed waits to be sent" in held.frontend.shown, what="nothing left")
        cat_passes_and_ann_says_fresh(held)
    assert "ann: one" not in held.cat.output and "ann: two" not in held.cat.output, held.cat.output


def test_on_the_full_screen_the_count_of_held_lines_clears_when_the_room_goes_duplex():
    """ann's full screen counts the lines held for her turn on its status line; cat (an operator)
    makes the room duplex: they go at once, in order, and the count leaves the status line."""
    from helpers import TermProc
    from test_reconnect import Blip, expect_waiting_for_a_restart, serve_tcp

    with short_tmp_dir() as folder:
        history = os.path.join(folder, "h.sqlite3")
        server, port = serve_tcp("--mode", "turn", "--history", history, "--operator", "cat")
        blip = Blip(("127.0.0.1", port))
        ann = TermProc("connect", "127.0.0.1", str(blip.port), "--name", "ann", rows=24, cols=80)
        cat: Proc | None = None
        try:
            ann.expect(r"ann │ client")
            server.popen.terminate()
            assert server.wait() == 0
            expect_waiting_for_a_restart(ann)
            for line in ("one", "two"):
                ann.send(line)
                ann.wait_screen(lambda rows, line=line: rows[-1].rstrip().endswith(line), what=f"{line} typed")
                ann.send("\r")
                ann.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for the server]", what=f"{line} taken")
            server, port = serve_tcp("--mode", "turn", "--history", history, "--operator", "cat")
            cat = Proc("connect", "127.0.0.1", str(port), "--name", "cat", "--plain")
            cat.expect(r"turn-based: your turn")
            blip.target = ("127.0.0.1", port)
            ann.expect(r"back in the room as ann", timeout=30)
            ann.wait_screen(lambda rows: "2 lines you typed wait for your turn" in rows[-2], what="the count")
            cat.send("/mode duplex")
            cat.expect(r"ann: one$")
            cat.expect(r"ann: two$")
            ann.wait_screen(lambda rows: "wait" not in rows[-2] and rows[-1].rstrip() == ">", what="the count gone")
            ann.send("/q\r")
            assert ann.wait() == 0
        finally:
            ann.stop()
            for proc in (cat, server):
                if proc is not None:
                    proc.stop()
            blip.close()
    assert cat.output.index("ann: one") < cat.output.index("ann: two")
    assert "not your turn" not in ann.text and "Traceback" not in server.output + cat.output


def test_unsend_offline_drops_what_was_typed_while_away():
    """Offline, /unsend is not one more line kept for later: it drops the lines typed meanwhile,
    and leaving then loses nothing."""
    from test_reconnect import joined_then_stopped

    frontend = Untouched()
    with short_tmp_dir() as folder:
        try:
            _stopped, loop, early = joined_then_stopped(os.path.join(folder, "chat.sock"), frontend)
            for line in ("a", "b", "/unsend", "/q"):
                frontend.type(line)
            outcome = loop.run(early)
        finally:
            frontend.close()
    assert "2 lines you typed were dropped, not sent (/unsend)" in frontend.shown, frontend.shown
    assert outcome.code == 0 and outcome.message == "you left the chat", outcome


def test_on_the_full_screen_the_hosts_final_end_counts_the_lines_held_for_the_turn_and_exits_1():
    """teach ends the chat for good while two of ann's lines wait for her turn after a restart:
    her full screen says the chat is over, the line left in the terminal after it says the two
    were not sent, and the exit status says so too (1, not 0: a script or a shell prompt notices)."""
    from helpers import TermProc
    from test_reconnect import Blip, expect_waiting_for_a_restart

    def host_tcp(history: str) -> tuple[Proc, int]:
        teach = Proc("serve", "--plain", "--name", "teach", "--mode", "turn", "--host", "127.0.0.1", "--port", "0",
                     "--no-announce", "--history", history)
        port = int(teach.expect(r"listening on port (\d+)").group(1))
        teach.expect("welcome, teach")
        return teach, port

    with short_tmp_dir() as folder:
        history = os.path.join(folder, "h.sqlite3")
        teach, port = host_tcp(history)
        blip = Blip(("127.0.0.1", port))  # ann comes back through it only once cat is in
        ann = TermProc("connect", "127.0.0.1", str(blip.port), "--name", "ann", rows=24, cols=80)
        cat: Proc | None = None
        try:
            ann.expect(r"ann │ client")
            teach.popen.terminate()
            teach.wait()
            expect_waiting_for_a_restart(ann)
            for line in ("one", "two"):
                ann.send(line)
                ann.wait_screen(lambda rows, line=line: rows[-1].rstrip().endswith(line), what=f"{line} typed")
                ann.send("\r")
                ann.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for the server]", what=f"{line} taken")
            teach, port = host_tcp(history)
            cat = Proc("connect", "127.0.0.1", str(port), "--name", "cat", "--plain")
            cat.expect(r"welcome, cat")
            blip.target = ("127.0.0.1", port)
            ann.expect(r"back in the room as ann", timeout=30)
            ann.wait_screen(lambda rows: "2 lines you typed wait for your turn" in rows[-2], what="the count")
            teach.send("/q")
            ann.expect(r"the chat is over: press any key to leave")
            ann.send("x")
            assert ann.wait() == 1
        finally:
            ann.stop()
            for proc in (cat, teach):
                if proc is not None:
                    proc.stop()
            blip.close()
    last = bytes(ann.raw).replace(b"\r\n  ", b" ")  # the exit line is folded at the terminal's width
    assert b"lanchat: disconnected: the server shut down: the host closed the chat (2 lines you typed were not sent)" in last
    assert "ann: one" not in cat.output and "ann: two" not in cat.output


def test_the_hosts_final_end_with_lines_held_for_the_turn_exits_1_and_counts_them():
    with ann_holding("one", "two") as held:
        held.teach.send("/q")
        wait_for(lambda: held.result, what="the end")
    assert held.result[0].code == 1
    assert held.result[0].message == "disconnected: the server shut down: the host closed the chat (2 lines you typed were not sent)"
    assert "ann: one" not in held.cat.output


def test_a_student_kicked_while_lines_wait_for_her_turn_is_told_they_were_not_sent():
    with ann_holding("one", "two") as held:
        held.teach.send("/kick ann be quiet")
        wait_for(lambda: held.result, what="the end")
    assert held.result[0].code == 1
    assert held.result[0].message == "disconnected by the server: teach removed you from the room: be quiet (2 lines you typed were not sent)"
    assert "ann: one" not in held.cat.output


def test_on_the_full_screen_lines_typed_together_offline_past_the_most_kept_all_stay_in_the_input_line():
    """Offline with 50 lines kept already, several lines submitted together (keys typed ahead on
    a terminal that marks its pastes): only the first went back into the input line and the rest
    were lost, each with the same 'try again' line. Now all of them go back together, counted,
    before what was typed after them."""
    from lanchat.client import MAX_QUEUED_WHILE_AWAY

    with offline_bob() as bob:
        bob.send("".join(f"line {n}\r" for n in range(1, MAX_QUEUED_WHILE_AWAY + 1)))
        bob.send("one\rtwo\rthree")  # "three" not sent yet: the two go back before it
        bob.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for the server] one↵two↵three", what="the lines kept")
        said = re.sub(r"\s+", " ", bob.text)  # the notice is folded at the screen's width
        assert "50 lines you typed already wait: these 2 lines were not taken; try again when the connection is back; what you typed is kept" in said, bob.text
        bob.send("\x7f" * len("one\ntwo\nthree") + "/q\r")
        assert bob.wait() == 0
        assert b"you left the chat (50 lines you typed were not sent)" in bytes(bob.raw)


def test_on_the_full_screen_lines_given_back_one_by_one_come_back_in_the_order_typed():
    """Lines handed back to the input line one at a time (offline, a command between them so
    each is its own run; files offered while offline) came back last first: 'two↵one↵three'.
    They come back in the order typed, before what was typed after them."""
    from lanchat.client import MAX_QUEUED_WHILE_AWAY

    with offline_bob() as bob:
        bob.send("/send a.txt\r/send b.txt\rc")  # files wait for a connection: each given back alone
        bob.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for the server] /send a.txt↵/send b.txt↵c", what="the files kept")
        bob.send("\x7f" * len("/send a.txt\n/send b.txt\nc"))
        bob.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for the server]", what="an empty line")
        bob.send("".join(f"line {n}\r" for n in range(1, MAX_QUEUED_WHILE_AWAY + 1)))
        bob.send("one\r/help\rtwo\rthree")  # the command parts them: one, then two, each alone
        bob.wait_screen(lambda rows: rows[-1].rstrip() == "[waiting for the server] one↵two↵three", what="the lines kept")
        bob.send("\x7f" * len("one\ntwo\nthree") + "/q\r")
        assert bob.wait() == 0


@contextlib.contextmanager
def offline_bob():  # noqa: ANN201
    """bob on the full screen of a turn room (his terminal marks pastes), his connection then cut:
    what he types waits for the server. No traceback by the end."""
    from helpers import TermProc
    from test_reconnect import Blip, serve_tcp

    server, port = serve_tcp("--mode", "turn", "--no-history")
    blip = Blip(("127.0.0.1", port))
    bob = TermProc("connect", "127.0.0.1", str(blip.port), "--name", "bob", rows=24, cols=80)
    try:
        bob.expect(r"bob │ client")
        bob.send("\x1b[200~\x1b[201~")  # an empty paste: this terminal marks pastes, so each Enter sends
        blip.cut()
        bob.wait_screen(lambda rows: rows[-1].startswith("[waiting for the server] "), what="offline")
        yield bob
    finally:
        bob.stop()
        server.stop()
        blip.close()
    assert "Traceback" not in bob.text
