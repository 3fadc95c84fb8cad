"""Moderation as people do it: the real program, hal hosting (`serve`), students joining
(`connect`) in plain mode, commands typed and lines read; a kick seen in a real terminal too.
After each act the room still serves everyone else.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import (
    ROOT,
    StandInServer,
    TermProc,
    child_env,
    identity_args,
    second_account_or_skip,
    short_tmp_dir,
    wait_for,
)
from test_cli import STAMP, join, run, serve  # noqa: F401 - run is the fixture
from test_peer_users import account_lookup  # noqa: F401 - the fixture: each way an account is found

from lanchat import events as ev
from lanchat import identity

pytestmark = pytest.mark.timeout(90)


def test_the_host_kicks_bob_everyone_sees_who_and_why_and_bob_sees_why(run):  # noqa: F811
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    ann = join(run, where, "ann")
    bob = join(run, where, "bob")
    hal.expect(r"bob joined")
    hal.send("/kick bob flooding the chat")
    for person in (hal, ann):
        person.expect(STAMP + r"-!- hal removed bob from the room: flooding the chat$")
    bob.expect(r"hal removed you from the room: flooding the chat")
    assert bob.wait() == 1
    ann.send("still here")
    hal.expect(STAMP + r"ann: still here$")
    ann.send("/who")
    ann.expect(r"here \(2\): hal \(host\), ann \(you\)$")


@pytest.mark.parametrize(("act", "said"), [("kick", "hal removed you from the room"), ("ban", "hal banned you from the room")])
def test_a_removed_student_reads_who_and_why_once_not_three_times(run, act, said):  # noqa: F811
    """The act, the fatal error and the exit line all said it: bob read the reason three times
    (a notice, an error line, the exit). Now once, as the exit, and the others still see the act."""
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    ann = join(run, where, "ann")
    bob = join(run, where, "bob")
    hal.expect(r"bob joined")
    mark = bob.mark()
    hal.send(f"/{act} bob spamming")
    ann.expect(STAMP + r"-!- hal (removed bob from the room|banned bob): spamming$")
    assert bob.wait() == 1
    after = bob.lines[mark:]
    assert after == [f"lanchat: disconnected by the server: {said}: spamming"], after


@pytest.mark.parametrize(
    ("code", "said"),
    [(ev.E_SLOW_DOWN, "you were disconnected for flooding (10 at once, then 3 a second)"), (ev.E_BAD_FRAME, "frame too large")],
)  # (too-slow and deadline end no chat: the client rejoins, tests/test_bad_link.py)
def test_any_fatal_error_is_read_once_as_the_exit_line(run, code, said):  # noqa: F811
    """As for a kick: every fatal error printed an error line and then the same words as the
    exit line. A stand-in server answers bob's first message with the error the real one sends
    (a flood or a deadline cannot be provoked from lanchat's own client, which paces itself)."""

    def on_event(server: StandInServer, event: object) -> bool:
        if not isinstance(event, ev.Say):
            return False
        server.send(ev.Error(code=code, message=said, fatal=True))
        return True  # and the server closes, as the real one does

    server = StandInServer(on_event)
    try:
        bob = join(run, ["127.0.0.1", str(server.port)], "bob")
        mark = bob.mark()
        bob.send("hello")
        assert bob.wait() == 1
        after = bob.lines[mark:]
        assert after == [f"lanchat: disconnected by the server: {said}"], after
    finally:
        server.close()


def test_a_transcript_saved_with_a_redirect_ends_with_why_and_the_terminal_reads_it_too(tmp_path):
    """`connect --plain > log`: the exit line went to stderr only, so the saved log of a removed
    student did not say why it ended. Now the log ends with it as well; with stdout and stderr
    in one place (a terminal, `2>&1`) it is still said once (the test above)."""

    def on_event(server: StandInServer, event: object) -> bool:
        if not isinstance(event, ev.Say):
            return False
        server.send(ev.Error(code=ev.E_KICKED, message="hal removed you from the room: spamming", fatal=True))
        return True

    server = StandInServer(on_event)
    log = tmp_path / "log.txt"
    try:
        with open(log, "wb") as out:
            bob = subprocess.Popen(
                [sys.executable, "-m", "lanchat", "connect", "--plain", "127.0.0.1", str(server.port), "--name", "bob",
                 "--no-reconnect", *identity_args("bob")],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.PIPE, env=child_env(), cwd=ROOT,
            )  # fmt: skip
            try:  # stdin stays open: its end would be a /q, before the server's answer
                assert bob.stdin is not None
                bob.stdin.write(b"hello\n")
                bob.stdin.flush()
                bob.wait(timeout=30)
                assert bob.stderr is not None
                errors = bob.stderr.read()
            finally:
                if bob.poll() is None:
                    bob.kill()
                    bob.wait(5)
                bob.stdin.close()
    finally:
        server.close()
    said = "lanchat: disconnected by the server: hal removed you from the room: spamming"
    assert bob.returncode == 1
    assert log.read_text().splitlines()[-1] == said  # the saved transcript ends with why
    assert errors.decode().splitlines()[-1] == said  # and the terminal shows it
    assert log.read_text().count("removed you") == 1


def test_a_student_is_refused_and_told_who_can(run):  # noqa: F811
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    ann = join(run, where, "ann")
    bob = join(run, where, "bob")
    for command in ("/kick bob", "/ban bob", "/mute bob 5", "/op ann", "/mode turn", "/bans"):
        mark = ann.mark()
        ann.send(command)
        ann.expect(rf"! only an operator can use /{command.split()[0][1:]}; hal \(the host\) is one", start=mark)
    bob.send("nothing happened to me")
    for person in (hal, ann):
        person.expect(STAMP + r"bob: nothing happened to me$")


def test_ops_mute_and_mode_through_the_real_server(run):  # noqa: F811
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    ann = join(run, where, "ann")
    bob = join(run, where, "bob")
    hal.send("/op ann")
    bob.expect(r"-!- hal made ann an operator$")
    ann.send("/mute bob 5 calm down")
    bob.expect(r"-!- ann muted you for 5 minutes: calm down \(you can still read\)$")
    bob.send("let me speak")
    bob.expect(r"! you are muted by ann for 5 more minutes: calm down; you can still read, and /w the host or an operator \(here now: hal, ann\)$")
    hal.send("hello bob")
    bob.expect(STAMP + r"hal: hello bob$")  # bob still reads
    ann.send("/unmute bob")
    bob.expect(r"-!- ann unmuted you$")
    ann.send("/mode turn")
    bob.expect(r"-!- ann switched the room to turn-based mode$")
    bob.expect(r"-!- turn: waiting for ann$")
    bob.send("out of turn")
    bob.expect(r"-!- not your turn yet \(waiting for ann\): held until it is your turn; /unsend drops it$")
    ann.send("my turn")
    bob.expect(STAMP + r"ann: my turn$")
    hal.expect(STAMP + r"bob: out of turn$")  # on bob's turn


def test_who_shows_the_teacher_and_the_class_who_is_muted_and_for_how_long(run):  # noqa: F811
    """A teacher who muted two students could not see it in /who; now everyone's /who marks
    them, with the minutes left or "until unmuted"."""
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    ann, bob, cy = (join(run, where, name) for name in ("ann", "bob", "cy"))
    hal.send("/mute bob 8 calm down")
    bob.expect(r"-!- hal muted you for 8 minutes: calm down \(you can still read\)$")
    hal.send("/mute cy")
    cy.expect(r"-!- hal muted you until unmuted \(you can still read\)$")
    for person, host_marks, ann_marks in ((hal, r" \(host, you\)", ""), (ann, r" \(host\)", r" \(you\)")):
        person.send("/who")
        person.expect(rf"-!- here \(4\): hal{host_marks}, ann{ann_marks}, bob \(muted for [78] more minutes\), cy \(muted until unmuted\)$")
    hal.send("/unmute cy")
    cy.expect(r"-!- hal unmuted you$")
    mark = ann.mark()
    ann.send("/who")
    ann.expect(r"-!- here \(4\): hal \(host\), ann \(you\), bob \(muted for [78] more minutes\), cy$", start=mark)


def test_a_student_muted_who_joins_again_is_told_at_once_and_nobody_else_is(run):  # noqa: F811
    """A mute holds across a reconnection, but joining again said nothing of it: bob learnt only
    from his first line refused. The welcome now says so (``muted``), and his screen at once;
    ann's welcome is as before."""
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    bob = join(run, where, "bob")
    hal.send("/mute bob 8 calm down")
    bob.expect(r"-!- hal muted you for 8 minutes: calm down \(you can still read\)$")
    bob.send("/q")
    assert bob.wait() == 0
    again = join(run, where, "bob")
    again.expect(r"! you are muted for [78] more minutes \(you can still read\)$")
    ann = join(run, where, "ann")
    ann.send("/who")
    ann.expect(r"-!- here \(3\): hal \(host\), bob \(muted for [78] more minutes\), ann \(you\)$")
    assert "you are muted" not in ann.output, ann.output


def test_in_turns_a_student_muted_with_a_time_is_passed_over(run):  # noqa: F811
    """The teacher typed `/mute ann 5m chatting` and `/mode turn`: the turn went to ann, who
    could not speak, and the room (the teacher too) waited for her. Now 5m is five minutes,
    and the turn goes to the first who may speak."""
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    ann = join(run, where, "ann")
    bob = join(run, where, "bob")
    hal.send("/mute ann 5m chatting")
    ann.expect(r"-!- hal muted you for 5 minutes: chatting \(you can still read\)$")
    hal.send("/mode turn")
    bob.expect(r"-!- hal switched the room to turn-based mode$")
    bob.expect(r"-!- turn: your turn$")
    ann.expect(r"-!- turn: waiting for bob$")
    bob.send("my turn")
    hal.expect(STAMP + r"bob: my turn$")
    hal.expect(r"-!- turn: your turn$")
    hal.send("the teacher's turn")
    bob.expect(STAMP + r"hal: the teacher's turn$")
    bob.expect(r"-!- turn: your turn$")  # ann passed over


def test_in_a_headless_turn_room_the_student_holding_the_turn_passes_it_on(run):  # noqa: F811
    """Only an operator could /pass: a student with nothing to say held up the whole class.
    Now the holder gives it up; a student who does not hold it is told who does."""
    _server, where = serve(run, "--headless", "--mode", "turn", "--no-history")
    ann = join(run, where, "ann")  # the first to join holds the turn
    bob = join(run, where, "bob")
    ann.expect(r"bob joined")
    bob.send("/pass")
    bob.expect(STAMP + r"! only the one holding the turn, or an operator, can /pass; it is ann's turn$")
    ann.send("/pass nothing to add")
    for person in (ann, bob):
        person.expect(STAMP + r"-!- ann passed the turn on: nothing to add$")
    bob.expect(r"-!- turn: your turn$")
    bob.send("my turn now")
    ann.expect(STAMP + r"bob: my turn now$")


def test_a_kicked_student_sees_why_in_a_real_terminal(run):  # noqa: F811
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    bob = TermProc("connect", *where, "--name", "bob")
    try:
        bob.expect(r"welcome, bob")
        hal.expect(r"bob joined")
        hal.send("/kick bob enough")
        bob.expect(r"lanchat: disconnected by the server: hal removed you from the room: enough")
        assert bob.wait() == 1
    finally:
        bob.stop()


def test_a_turn_nobody_takes_moves_on_after_the_hosts_timeout(run):  # noqa: F811
    _server, where = serve(run, "--headless", "--mode", "turn", "--turn-timeout", "1", "--no-history")
    ann = join(run, where, "ann")  # the first to join holds the turn
    bob = join(run, where, "bob")
    bob.expect(r"-!- the server passed the turn on from ann: nobody spoke for 1 s$")
    bob.expect(r"-!- turn: your turn$")
    bob.send("my turn now")
    ann.expect(STAMP + r"bob: my turn now$")


def test_a_headless_room_with_serve_operator_lets_the_teacher_kick_and_nobody_else(run, tmp_path):  # noqa: F811
    """serve --headless has no host, so nobody could moderate; --operator teach makes whoever
    joins as teach with their key an operator. A second key cannot be teach, a student cannot kick."""
    server, where = serve(run, "--headless", "--no-history", "--operator", "teach")
    server.expect(r"warning: --operator teach: nobody owns that name yet; .* join first")
    teach = join(run, where, "teach")  # helpers: her own identity key, as on her machine
    teach.expect(STAMP + r"-!- the server made you an operator: serve --operator$")
    server.expect(r"teach \(key [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4}\) is an operator \(serve --operator\)$")
    sam = join(run, where, "sam")
    sam.send("/kick teach")
    sam.expect(STAMP + r"! only an operator can use /kick; ask teach$")
    teach.send("/kick sam off task")
    sam.expect(r"teach removed you from the room: off task")
    assert sam.wait() == 1
    teach.send("/q")
    assert teach.wait() == 0
    impostor = run("connect", *where, "--name", "teach", "--identity", str(tmp_path / "other.key"), stdin=False)
    assert impostor.wait(30) == 1  # (a fresh key's join: 10 s ran out once on a CI machine's 2 busy cores)
    assert "the name 'teach' belongs to someone else on this server" in impostor.output
    assert "operator" not in impostor.output
    teach = join(run, where, "teach")  # back with her key: still an operator, as after /op
    ann = join(run, where, "ann")
    ann.send("/who")
    ann.expect(r"here \(2\): teach \(op\), ann \(you\)$")
    ann.send("/mute teach")
    ann.expect(STAMP + r"! only an operator can use /mute; ask teach$")
    teach.send("/mute ann 5 listen")
    ann.expect(r"-!- teach muted you for 5 minutes: listen \(you can still read\)$")


def test_a_headless_rooms_log_records_each_act_and_whom_it_removed(run):  # noqa: F811
    """On a school server the log is the teacher's record of the lesson. It named every join
    and every /q, but a kick, a ban or a mute left no line at all: the kicked student was in the
    log's room for good. Now each act is one line, worded as the room read it."""
    server, where = serve(run, "--headless", "--no-history", "--operator", "teach")
    teach = join(run, where, "teach")
    server.expect(r"is an operator \(serve --operator\)$")
    students = {name: join(run, where, name) for name in ("ann", "bob", "cy")}
    server.expect(r"cy joined from ")
    teach.send("/kick ann talking")
    teach.send("/ban bob")
    teach.send("/mute cy 5 calm down")
    teach.send("/unmute cy")
    for said in (
        r"teach removed ann from the room: talking",
        r"teach banned bob",
        r"teach muted cy for 5 minutes: calm down",
        r"teach unmuted cy",
    ):
        server.expect(r"^\[\d\d:\d\d:\d\d\] " + said + "$")
    assert students["ann"].wait() == 1
    assert students["bob"].wait() == 1


def test_serve_operator_naming_the_host_itself_does_not_warn_to_join_first(run):  # noqa: F811
    """A teacher hosting as teach who also passed --operator teach read 'warning: nobody owns
    that name yet; the first to join as teach ... becomes an operator: join first', as if a
    student could take it: the host joins first, as teach, and runs the room."""
    hal, _where = serve(run, "--name", "teach", "--plain", "--no-history", "--operator", "teach")
    hal.expect(r"welcome, teach")
    hal.expect(r"^  --operator teach: that is you, the host: you run the room already$")
    assert "nobody owns that name yet" not in hal.output


def test_a_student_muted_with_a_paste_still_waiting_reads_one_line_not_one_per_line(run):  # noqa: F811
    """rex pasted 25 lines; the room's flood limit held most of them back in his client, and
    hal muted him halfway. Each held line still went out and came back refused: a dozen
    '! you are muted by hal ...' lines over four seconds. The client now drops what a mute
    refuses once the first refusal comes, and says how many lines were not sent."""
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    rex = join(run, where, "rex")
    hal.expect(r"rex joined")
    for number in range(25):
        rex.send(f"spam {number}")
    hal.expect(STAMP + r"rex: spam 11$")  # the burst is out, the rest waits in rex's client
    hal.send("/mute rex")
    rex.expect(r"\d+ lines you typed were not sent: you are muted$")
    hal.send("back to the lesson")
    rex.expect(STAMP + r"hal: back to the lesson$")
    refusals = [line for line in rex.lines if "you are muted by hal" in line]
    assert len(refusals) <= 2, rex.output  # a line or two already on its way, not the dozen held


def test_a_script_whose_waiting_lines_a_mute_drops_still_leaves(run):  # noqa: F811
    """rex's script pasted 25 lines and its input ended: the client leaves once the lines the
    flood limit holds back are sent. hal muted him halfway, the client dropped the held lines,
    and then waited for ever: the leave waited for lines that were no longer there."""
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    rex = join(run, where, "rex")
    hal.expect(r"rex joined")
    for number in range(25):
        rex.send(f"spam {number}")
    rex.close_stdin()  # end of input: leave once the held lines are out
    hal.expect(STAMP + r"rex: spam 11$")
    hal.send("/mute rex")
    rex.expect(r"\d+ lines you typed were not sent: you are muted$")
    assert rex.wait() == 0
    rex.expect(r"^lanchat: you left the chat$")
    hal.expect(STAMP + r"-!- rex left \(1 here\)$")


def test_a_mute_survives_a_server_restart_and_an_unmute_does_too(run):  # noqa: F811
    """The teacher muted cy for five minutes and restarted the school server (same history
    file): cy came back unmuted, since mutes lived only in memory. Now a mute is kept in the
    history as a ban is, its minutes counting on while the server is down, and an /unmute
    is kept too."""
    with short_tmp_dir() as folder:
        args = ("--headless", "--operator", "teach", "--unix", os.path.join(folder, "c.sock"))
        args += ("--history", os.path.join(folder, "h.sqlite3"))
        server, where = serve(run, *args)
        teach = join(run, where, "teach")
        server.expect(r"is an operator \(serve --operator\)$")
        cy = join(run, where, "cy")
        teach.send("/mute cy 5 calm down")
        cy.expect(r"-!- teach muted you for 5 minutes: calm down \(you can still read\)$")
        mark = cy.mark()
        server.popen.kill()  # no shutdown notice: as when the machine is switched off
        server.wait()
        server, _ = serve(run, *args)
        cy.expect(r"back in the room as cy", timeout=20, start=mark)
        teach.expect(r"back in the room as teach", timeout=20, start=mark)
        cy.send("am I free now?")
        cy.expect(r"! you are muted by teach for [45] more minutes: calm down; you can still read, and /w an operator \(here now: teach\)$", start=mark)  # headless: no host
        teach.send("/unmute cy")
        cy.expect(r"-!- teach unmuted you$")
        server.popen.terminate()  # a clean stop this time: everyone is told and leaves
        assert cy.wait() == 0 and teach.wait() == 0 and server.wait() == 0
        serve(run, *args)
        cy = join(run, where, "cy")
        teach = join(run, where, "teach")
        cy.send("free at last")
        teach.expect(STAMP + r"cy: free at last$")
        assert "muted" not in cy.output


def test_a_restarted_room_resumes_the_mode_the_teacher_switched_to_unless_serve_mode_says(run):  # noqa: F811
    """The teacher switched the lesson to turns with /mode turn; the server was restarted (same
    history file) and the room came back full-duplex, the command line's default. Now the mode
    /mode left is kept with the history and resumed, and the host's start lines say so; an
    explicit --mode wins (and says what it overrode), and is what the next start resumes."""
    with short_tmp_dir() as folder:
        args = ("--headless", "--operator", "teach", "--unix", os.path.join(folder, "c.sock"))
        args += ("--history", os.path.join(folder, "h.sqlite3"))
        server, where = serve(run, *args)
        server.expect(r"full-duplex chat on ")
        teach = join(run, where, "teach")
        server.expect(r"is an operator \(serve --operator\)$")
        teach.send("/mode turn")
        teach.expect(r"-!- teach switched the room to turn-based mode$")
        mark = teach.mark()
        server.popen.kill()  # no shutdown notice: as when the machine is switched off
        server.wait()
        server, _ = serve(run, *args)
        server.expect(r"turn-based chat on ")
        server.expect(r"mode: turn-based, as /mode left this room when it last ran \(serve --mode duplex starts full-duplex\)$")
        teach.expect(r"back in the room as teach", timeout=20, start=mark)
        ann = join(run, where, "ann")
        ann.expect(r"welcome, ann: turn mode")
        ann.expect(r"turn-based: ")
        ann.send("/q")
        assert ann.wait() == 0
        server.popen.terminate()  # a clean stop: everyone is told and leaves
        assert teach.wait() == 0 and server.wait() == 0
        server, _ = serve(run, *args, "--mode", "duplex")
        server.expect(r"full-duplex chat on ")
        server.expect(r"mode: full-duplex as --mode duplex asks; /mode had left this room turn-based$")
        ann = join(run, where, "ann")  # (and the loop runs: a stop now is a clean one)
        ann.expect(r"welcome, ann: duplex mode")
        ann.send("/q")
        assert ann.wait() == 0
        server.popen.terminate()
        assert server.wait() == 0
        server, _ = serve(run, *args)  # no --mode: the mode the last run was in
        server.expect(r"full-duplex chat on ")
        ann = join(run, where, "ann")
        ann.expect(r"welcome, ann: duplex mode")
        assert "mode:" not in server.output, server.output


def test_a_second_mute_replaces_the_first_in_the_room_and_in_the_history_file(run, tmp_path):  # noqa: F811
    """hal muted bob for 5 minutes, then for 10: two mutes were kept, and the room read the
    second as if the first had never been. Now the room reads what it replaced, the history
    file holds one mute for bob, and one /unmute frees him."""
    path = tmp_path / "h.sqlite3"
    hal, where = serve(run, "--name", "hal", "--plain", "--history", str(path))
    bob = join(run, where, "bob")
    hal.send("/mute bob 5")
    bob.expect(r"-!- hal muted you for 5 minutes \(you can still read\)$")
    hal.send("/mute bob 10 still chatting")
    bob.expect(
        r"-!- hal muted you for 10 minutes: still chatting \(you were already muted for 5 more minutes; "
        r"this mute replaces that one\) \(you can still read\)$"
    )

    def stored() -> list[tuple[str, str]]:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("SELECT name, reason FROM mutes").fetchall()

    wait_for(lambda: stored() == [("bob", "still chatting")], what=f"one mute for bob in the file, not {stored()}")
    hal.send("/unmute bob")
    bob.expect(r"-!- hal unmuted you$")
    bob.send("free?")
    hal.expect(STAMP + r"bob: free\?$")
    wait_for(lambda: stored() == [], what="no mute left in the file")


def test_the_host_and_an_operator_read_one_line_when_a_banned_student_keeps_trying(run):  # noqa: F811
    """bob, banned, tried again and again; nobody running the room knew. The host and the
    operators now read who tried, whose ban it is and why: once, not once per try."""
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    ann = join(run, where, "ann")
    bob = join(run, where, "bob")
    hal.send("/op ann")
    ann.expect(r"-!- hal made you an operator$")
    ann.send("/ban bob spamming")
    assert bob.wait() == 1
    cy = join(run, where, "cy")
    marks = {person: person.mark() for person in (hal, ann, cy)}
    for _ in range(3):
        again = run("connect", *where, "--name", "bob", stdin=False)
        assert again.wait() == 1
        assert "you are banned from this room by ann: spamming" in again.output
    told = r"-!- bob \(banned by ann: spamming\) tried to join and was turned away$"
    for person in (hal, ann):
        person.expect(STAMP + told, start=marks[person])
    hal.send("the lesson goes on")
    for person in (hal, ann, cy):  # after it, no more lines about bob: the three tries were one
        person.expect(STAMP + r"hal: the lesson goes on$", start=marks[person])
        assert sum("tried to join" in line for line in person.lines[marks[person] :]) == (person is not cy)


def test_serve_operator_with_a_key_fingerprint_gives_rights_to_that_key_only_whatever_the_names(run, tmp_path):  # noqa: F811
    """`serve --operator teach` made the first key to join as teach the operator: a student who
    joined first as teach ran the room. With the fingerprint `lanchat key` prints, only the
    teacher's key is made one. From the attacker's side: mallory joins first as teach, and eve
    under the fingerprint itself (16 hex digits are a valid name); neither gets rights. The
    teacher's key, joining under another name, does; and its /kick then works."""
    teacher_key = str(tmp_path / "teacher.key")
    shown = run("key", "--identity", teacher_key)
    assert shown.wait() == 0
    fingerprint = shown.expect(r"lanchat serve --operator ([0-9a-f]{16})$").group(1)
    whois_form = shown.expect(r"fingerprint: ([0-9a-f]{4}( [0-9a-f]{4}){3}) \(as /whois shows it").group(1)
    assert whois_form.replace(" ", "") == fingerprint
    shown.expect(r"^  in full: SHA256:[A-Za-z0-9+/]{43}$")
    # read on a projector's 80 columns: the terminal cut the full fingerprint after 'in ful'
    assert all(len(line) <= 80 for line in shown.lines if not line.startswith("lanchat: a new identity key")), shown.lines
    server, where = serve(run, "--headless", "--no-history", "--operator", whois_form)  # as copied from /whois
    server.expect(rf"--operator {whois_form}: whoever joins with the key of that fingerprint, under any name")
    mallory = join(run, where, "teach")
    eve = join(run, where, fingerprint)
    for attacker in (mallory, eve):
        mark = attacker.mark()
        attacker.send("/kick teach")
        attacker.expect(r"! only an operator can use /kick; nobody here is an operator", start=mark)
    teacher = run("connect", *where, "--name", "ms-k", "--identity", teacher_key)
    teacher.expect(r"welcome, ms-k")
    teacher.expect(STAMP + r"-!- the server made you an operator: serve --operator$")
    for person in (mallory, eve):
        person.expect(STAMP + r"-!- the server made ms-k an operator: serve --operator$")
    server.expect(r"ms-k \(key " + whois_form + r"\) is an operator \(serve --operator\)")
    teacher.send("/kick teach off task")
    assert mallory.wait() == 1
    eve.send("/who")
    eve.expect(rf"here \(2\): {fingerprint} \(you\), ms-k \(op\)$")


def test_a_headless_servers_start_lines_fit_the_teachers_80_columns_and_its_commands_stay_whole():
    """A Raspberry Pi's `serve --headless` on the projector: the --operator warning and the history
    line were cut mid-word by the terminal ('give you' / 'r key's fingerprint'). Lines are now
    folded at spaces under their indent, except a `connect` command, which a terminal copies whole
    only while it is one line (here with its --fingerprint)."""
    with short_tmp_dir() as folder:
        term = TermProc("serve", "--headless", "--port", "0", "--host", "127.0.0.1", "--no-announce", "--tls",
                        "--operator", "ms-k", "--history", os.path.join(folder, "h.sqlite3"), rows=40, cols=80)
        try:
            wait_for(lambda: b"joining)" in bytes(term.raw), what="the history line, the last one")
        finally:
            term.stop()
    lines = bytes(term.raw).decode("utf-8", "replace").replace("\r", "").split("\n")
    joined = " ".join(line.strip() for line in lines)
    assert "nobody owns that name yet; the first to join as ms-k with an identity key becomes" in joined, lines
    connect = [line for line in lines if "python -m lanchat connect 127.0.0.1" in line]
    assert connect and all(re.search(r" --fingerprint SHA256:\S{43}$", line) for line in connect), connect
    made = "lanchat: made a TLS certificate in"  # once per machine, before the start lines (a test's path is long)
    too_wide = [line for line in lines if len(line) > 80 and line not in connect and " " in line.strip() and made not in line]
    assert not too_wide, too_wide


def test_a_muted_students_status_line_says_so_until_the_unmute_and_again_on_rejoining(run):  # noqa: F811
    """Muted, bob read one line about it, soon scrolled away by the class; his status line went
    on as before, so each later try to speak was a surprise. It now says `muted until HH:MM`
    (`muted` until /unmute) from the mute to the unmute, and again when he joins still muted."""
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    bob = TermProc("connect", *where, "--name", "bob", rows=24, cols=80)
    try:
        bob.expect(r"bob │ client")
        hal.expect(r"bob joined")
        hal.send("/mute bob 5 spamming")
        bob.wait_screen(lambda rows: re.search(r"│ muted until \d\d:\d\d", rows[-2]), what="muted in bob's status line")
        hal.send("/unmute bob")
        bob.expect(r"unmuted you")
        bob.wait_screen(lambda rows: "muted" not in rows[-2], what="the status line without the mute")
        hal.send("/mute bob calm down")  # no time: until /unmute
        bob.wait_screen(lambda rows: rows[-2].rstrip().endswith("│ muted") or "│ muted │" in rows[-2], what="muted with no end")
        bob.send("/q\r")
        assert bob.wait() == 0
    finally:
        bob.stop()
    again = TermProc("connect", *where, "--name", "bob", rows=24, cols=80)
    try:
        again.expect(r"you are muted until unmuted")
        again.wait_screen(lambda rows: "│ muted" in rows[-2], what="muted in the status line on joining")
    finally:
        again.stop()


def test_serve_operator_with_the_hosts_own_key_says_so_rather_than_whoever_joins_with_it(run, tmp_path):  # noqa: F811
    """A teacher who ran `lanchat key` and passed its line to the serve she hosts read, on the
    projector, '--operator 3f2a...: whoever joins with the key of that fingerprint, under any name,
    becomes an operator', as if someone else were to join with her key. It says it is hers."""
    key_file = tmp_path / "teach.key"
    shown = subprocess.run([sys.executable, "-m", "lanchat", "key", "--identity", str(key_file)], capture_output=True,
                           text=True, timeout=30, cwd=ROOT, env=child_env())  # fmt: skip
    fingerprint = re.search(r"--operator ([0-9a-f]{16})", shown.stdout).group(1)  # type: ignore[union-attr]
    hal, _where = serve(run, "--name", "teach", "--plain", "--no-history", "--identity", str(key_file), "--operator", fingerprint)
    hal.expect(r"welcome, teach")
    hal.expect(rf"^  --operator {fingerprint}: that is your own key, the host's: you run the room already$")
    assert "whoever joins with the key" not in hal.output


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to run students under accounts of their own")
def test_on_a_lab_server_a_banned_student_cannot_come_back_with_a_new_key_and_name(run, tmp_path):  # noqa: F811
    """From the attacker's side, on a lab server (the class logs in and joins over loopback):
    a ban held by name and key only, so a new key (a fresh data folder) and a new name walked
    straight back in. It holds the student's account now; a classmate's account joins."""
    second_account_or_skip()  # nobody must be able to run this Python
    import shutil
    import tempfile
    from pathlib import Path

    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    homes = Path(tempfile.mkdtemp(prefix="lanchat-lab-", dir="/tmp"))  # open to the students' accounts
    homes.chmod(0o755)

    def student(uid: int, name: str):  # noqa: ANN202 - a Proc: `lanchat connect` run by that account
        home = homes / f"{name}-{uid}"
        home.mkdir()
        os.chown(home, uid, uid)
        env = child_env(HOME=str(home), **{f"XDG_{kind}_HOME": str(home / kind.lower()) for kind in ("DATA", "STATE", "CONFIG")})
        setpriv = ["setpriv", "--reuid", str(uid), "--regid", str(uid), "--clear-groups", sys.executable, "-m", "lanchat"]
        return run_as(setpriv, env, "connect", *where, "--name", name)

    def run_as(program: list[str], env: dict[str, str], *args: str):  # noqa: ANN202
        from helpers import Proc

        proc = Proc(*args, program=program, env=env)
        started.append(proc)
        return proc

    started: list = []
    try:
        mallory = student(65534, "mallory")
        mallory.expect(r"welcome, mallory")
        hal.send("/ban mallory spam")
        mallory.expect(r"hal banned you from the room: spam")
        hal.expect(r"-!- hal banned mallory: spam$")
        again = student(65534, "m4llory")  # a new data folder: a new key, and a new name
        again.expect(r"you are banned from this room by hal: spam")
        assert again.wait() != 0
        hal.expect(r"m4llory \(mallory's ban by hal: spam, which holds mallory's key and user 65534 on this machine; "
                   r"/unban mallory lifts it\) tried to join")  # whose ban it was: not a ban of m4llory's
        bob = student(65533, "bob")  # another account on the same machine
        bob.expect(r"welcome, bob")
        hal.send("/bans")
        hal.expect(r"#1 mallory \(by name and key and user 65534 on this machine; banned by hal: spam\)")
    finally:
        for proc in started:
            proc.stop()
        shutil.rmtree(homes, ignore_errors=True)


def _own_lan_ipv4() -> str | None:
    """One of this machine's IPv4 addresses off loopback (SIOCGIFADDR of each interface), if any."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
                address = socket.inet_ntoa(packed[20:24])
                if not address.startswith("127."):
                    return address
    return None


def test_a_student_on_the_server_who_dials_its_lan_address_is_on_this_machine_and_held_by_account():
    """A lab student's client dials the room's announced LAN address (discovery.pick_address),
    and the server saw the student at its own address like a machine on the network: a /ban
    held that address (the whole class) and not the account. The server marks such a peer as
    on this machine (transport.from_this_machine) and reads its account, as over loopback."""
    import socket

    from helpers import Endpoint, RawClient, running_server

    from lanchat.transport import from_this_machine

    own = _own_lan_ipv4()
    if own is None:
        pytest.skip("no IPv4 address off loopback on this machine")
    with running_server(host="0.0.0.0") as (server, endpoint):
        ann = RawClient(Endpoint(host=own, port=endpoint.port), "ann")
        gate = server.room.gate
        (cid,) = [c for c, peer in gate.addresses.items() if peer.startswith(f"{own}:")]
        assert gate.by_own_address(cid) and not gate.on_the_network(cid)
        assert gate.user_of(cid) == os.getuid()
        assert server.room.moderation.where(cid) == f"user {os.getuid()}"  # (running_server names no own_user)
        ann.close()
    left, right = socket.socketpair()
    with left, right:
        assert not from_this_machine(left)  # a socket file: this machine already, by its family


def test_a_ban_in_a_lab_of_forty_on_loopback_holds_the_right_account_asked_once(account_lookup, monkeypatch):  # noqa: F811
    """A lab of forty on loopback, each student under an account of their own, through a real
    server: /ban s17 holds s17's account, found among the forty asked together (the kernel's
    sock_diag, or one read of /proc/net/tcp; one read a member stalled a lab of 256 for 0.8 s),
    and s17 coming back with a fresh key and name from that account is refused; another account
    is let in. A classmate who quits as the ban is typed (the server may look up a socket whose
    other end is gone) changes nothing."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from helpers import RawClient, local_host, running_server, sockets_of_accounts
    from test_peer_users import _counting_reads

    accounts = [21300 + n for n in range(40)]
    socks = sockets_of_accounts([*accounts, 21317, 21399])  # the class, then s17 again, and a newcomer
    reads = _counting_reads(monkeypatch)
    with running_server() as (server, endpoint):
        hal = local_host(server, "hal")
        for sock in socks:
            sock.connect((endpoint.host, endpoint.port))
        class_ = [RawClient(sock, f"s{n:02d}") for n, sock in enumerate(socks[:40])]
        hal.drain(0.05)
        reads.clear()
        class_[5].close()  # s05 quits just as the ban is typed
        hal.send(ev.Moderate(action="ban", name="s17", reason="spam"))
        hal.expect(ev.Moderated, action="ban", name="s17")
        # the tables once; with sock_diag none, or once for s05 if the kernel no longer knew its socket
        assert list(reads.elements()) in ([] if account_lookup == "sock_diag" else ["/proc/net/tcp"], ["/proc/net/tcp"])
        assert [ban.address for ban in server.room.moderation.bans] == ["user 21317"]
        again = RawClient(socks[40], key=Ed25519PrivateKey.generate())
        again.hello("m4llory")  # a fresh key (a new data folder) and a new name: the same account
        refusal = again.expect(ev.Error)
        assert (refusal.code, refusal.fatal) == (ev.E_BANNED, True)  # type: ignore[attr-defined]
        newcomer = RawClient(socks[41], "bob")
        assert newcomer.welcome is not None


@pytest.mark.parametrize("way", ["loopback", "socket file"])
def test_on_a_lab_server_a_student_who_quit_before_the_ban_cannot_come_back_from_that_account(way):
    """From the attacker's side, with real sockets: mallory (an account of their own) says spam
    and quits; then the teacher bans mallory. Asked at the ban, the account could no longer be
    read (mallory's socket was gone), so the ban held the name only and mallory walked back in
    with a new key and name from the same account. The account the kernel said at mallory's join
    (sock_diag over loopback, SO_PEERCRED on the socket file) is kept with the departed name:
    the new key and name are refused, another account is let in."""
    import socket
    import tempfile
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from helpers import RawClient, local_host, running_server, sockets_of_accounts
    from test_peer_users import _sock_diag_answers

    if way == "loopback" and not _sock_diag_answers():
        pytest.skip("this kernel does not answer sock_diag for TCP: only /proc's tables, not read at a join")
    folder = Path(tempfile.mkdtemp(prefix="lc-lab-", dir="/tmp"))  # the students' accounts can reach it
    folder.chmod(0o755)
    path = str(folder / "lab.sock") if way == "socket file" else None
    try:
        with running_server(unix_path=path) as (server, endpoint):
            if path is not None:
                os.chmod(path, 0o666)  # the class's accounts may connect to it
            to = path if path is not None else (endpoint.host, endpoint.port)
            family = socket.AF_UNIX if path is not None else socket.AF_INET
            # ann, mallory, mallory again, bob: each connected by its own account
            ann_sock, mallory_sock, again_sock, bob_sock = sockets_of_accounts([21401, 21466, 21466, 21402], family, to)
            hal = local_host(server, "hal")
            ann = RawClient(ann_sock, "ann")
            mallory = RawClient(mallory_sock, "mallory")
            mallory.send(ev.Say(text="spam spam spam"))
            ann.expect(ev.Message, text="spam spam spam")
            mallory.close()  # quits before the teacher has typed the ban
            hal.expect(ev.Left, name="mallory")
            hal.send(ev.Moderate(action="ban", name="mallory", reason="spam"))
            hal.expect(ev.Moderated, action="ban", name="mallory")
            assert [ban.address for ban in server.room.moderation.bans] == ["user 21466"]
            again = RawClient(again_sock, key=Ed25519PrivateKey.generate())
            again.hello("m4llory")  # a fresh key (a new data folder) and a new name: the same account
            refusal = again.expect(ev.Error)
            assert (refusal.code, refusal.fatal) == (ev.E_BANNED, True)  # type: ignore[attr-defined]
            bob = RawClient(bob_sock, "bob")
            assert bob.welcome is not None
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def test_a_nick_to_a_banned_name_is_refused_as_a_hello_with_it_is():
    """hal banned mallory, who had joined without a key (nc, or a script: a guest, so banned by
    name); she came back with lanchat as m4llory and typed /nick mallory: the room took it
    ("m4llory is now mallory"), and her key owned the banned name from then on. /nick follows the rules of hello (PROTOCOL.md, nick), and
    a hello as mallory is refused: the nick is now refused too (not fatal), and the room goes on."""
    from helpers import RawClient, local_host, running_server

    with running_server(own_user=os.getuid()) as (server, endpoint):  # one login: held by name and key
        hal = local_host(server, "hal")
        mallory = RawClient(endpoint, "mallory")
        hal.send(ev.Moderate(action="ban", name="mallory", reason="spam"))
        mallory.expect(ev.Error, code=ev.E_BANNED)
        hal.expect(ev.Left, name="mallory")
        again = RawClient(endpoint, "m4llory", key=Ed25519PrivateKey.generate())
        for name in ("mallory", "MALLORY"):
            again.send(ev.Nick(name=name))
            refused = again.expect(ev.Error)
            assert refused.code == ev.E_BAD_NAME and "banned" in refused.message, refused  # type: ignore[attr-defined]
        assert server.room.names == ("hal", "m4llory")
        assert server.room.gate.owner_of("mallory") != identity.public_bytes(again.key)  # type: ignore[arg-type]
        again.send(ev.Say(text="still here"))
        hal.expect(ev.Message, sender="m4llory", text="still here")


def test_the_teacher_serve_operator_names_is_let_in_after_a_restart_though_an_operator_banned_her(run):  # noqa: F811
    """serve --headless --operator teach: the teacher made cy an operator; cy took it back from
    her and banned her (in a headless room operators are equal). The teacher restarted the
    server with the same --operator teach, as its start line invites ('whoever joins as teach
    with the key that owns it becomes an operator'), and was refused all the same: 'you are
    banned from this room by cy', kept in the history, with no operator left but cy and no way
    to lift it but deleting the history. The command line is the room owner's word: the one it
    names is let in, made an operator, and the bans that held her are lifted, told to everyone."""
    from helpers import Endpoint, RawClient

    with short_tmp_dir() as folder:
        args = ("--headless", "--operator", "teach", "--unix", os.path.join(folder, "c.sock"))
        args += ("--history", os.path.join(folder, "h.sqlite3"))
        endpoint = Endpoint(path=os.path.join(folder, "c.sock"))
        teach_key, cy_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        clients: list[RawClient] = []
        server, _where = serve(run, *args)
        try:  # each client closed, and the server stopped, before the folder and its socket go
            teach = RawClient(endpoint, "teach", key=teach_key)
            clients.append(teach)
            teach.expect(ev.Operators, names=("teach",))
            cy = RawClient(endpoint, "cy", key=cy_key)
            clients.append(cy)
            teach.send(ev.Moderate(action="op", name="cy"))
            cy.expect(ev.Operators, names=("teach", "cy"))
            cy.send(ev.Moderate(action="deop", name="teach"))
            cy.send(ev.Moderate(action="ban", name="teach", reason="mine now"))
            teach.expect(ev.Error, code=ev.E_BANNED)
            teach.close()
            cy.close()
            server.popen.terminate()
            assert server.wait() == 0
            server, _where = serve(run, *args)
            teach = RawClient(endpoint, key=teach_key)
            clients.append(teach)
            teach.hello("teach")
            heard = []
            while not (heard and isinstance(heard[-1], ev.Operators | ev.Error)):
                heard.append(teach.expect(object))
            assert isinstance(heard[0], ev.Welcome), heard
            assert heard[-1] == ev.Operators(names=("teach",)), heard
            lifted = [e for e in heard if isinstance(e, ev.Moderated) and e.action == "unban"]
            assert [(e.by, e.name, e.reason) for e in lifted] == [("the server", "teach", "serve --operator")], heard
            server.expect(r"lifted the ban on teach")
            teach.send(ev.Moderate(action="bans"))
            assert teach.expect(ev.BanList).bans == ()  # type: ignore[attr-defined]
            teach.close()
            server.popen.terminate()
            assert server.wait() == 0
            server, _where = serve(run, *args)
            back = RawClient(endpoint, "teach", key=teach_key)  # and after the next restart too: the ban is gone
            clients.append(back)
            back.expect(ev.Operators, names=("teach",))
            back.close()
            server.popen.terminate()
            assert server.wait() == 0
        finally:
            for client in clients:
                client.close()
            server.stop()


def test_the_rooms_own_colour_bot_cannot_be_kicked_banned_or_muted_and_an_old_ban_does_not_keep_it_out(run):  # noqa: F811
    """serve --bot colour: the teacher typed /ban colourbot (trying it, or taking it for a
    student): it was gone for the rest of the run, /unban did not bring it back, and the ban was
    kept, so every later `serve --bot colour` said 'colourbot is here' and its bot was refused
    ('you are banned from this room'). The bot is the server's own, as the host is: kick, ban and
    mute of it are refused, and a ban an older run stored does not hold it at the door (a history
    file holding one, then `serve --bot colour --history` on it)."""
    from helpers import Endpoint, RawClient, local_host, running_server

    from lanchat.bots import start_colour_bot
    from lanchat.history import HistoryStore
    from lanchat.moderation import Ban

    with running_server() as (server, endpoint):
        hal = local_host(server, "hal")
        bot = start_colour_bot(server.add_local, seed=1)
        try:
            hal.expect(ev.Joined, name="colourbot")
            for action in ("kick", "ban", "mute"):
                hal.send(ev.Moderate(action=action, name="colourbot"))
                refused = hal.expect(ev.Error)
                assert refused.code == ev.E_BAD_MESSAGE and "the server's own bot" in refused.message, refused  # type: ignore[attr-defined]
            assert "colourbot" in server.room.names and not server.room.moderation.bans and not server.room.moderation.mutes
            ann = RawClient(endpoint, "ann")
            ann.send(ev.Whisper(to="colourbot", text="/mood happy"))
            while "happy" not in (answer := ann.expect(ev.Direct, sender="colourbot")).text:  # type: ignore[attr-defined]
                assert "Hi ann" in answer.text, answer  # type: ignore[attr-defined]  # its greeting first
        finally:
            bot.stop()
        hal.expect(ev.Left, name="colourbot")
    with short_tmp_dir() as folder:
        history = os.path.join(folder, "h.sqlite3")
        store = HistoryStore(Path(history))
        try:  # as a run from before this fix kept it
            store.add_ban(Ban(id=1, name="colourbot", name_key=ev.name_key("colourbot"), key=None, address=None, by="hal",
                              reason="", time=0.0))  # fmt: skip
        finally:
            store.close()
        sock = os.path.join(folder, "c.sock")
        served, _where = serve(run, "--headless", "--no-announce", "--bot", "colour", "--history", history, "--unix", sock)
        try:
            bob = RawClient(Endpoint(path=sock), "bob")
            assert bob.welcome is not None
            if "colourbot" not in bob.welcome.members:
                bob.expect(ev.Joined, name="colourbot")
            bob.close()
            served.popen.terminate()
            assert served.wait() == 0
        finally:
            served.stop()
        assert "banned" not in served.output, served.output


def test_a_mute_with_a_typo_in_the_name_tells_the_teacher_at_the_projector_whom_it_missed(run):  # noqa: F811
    """The teacher at a 60x20 projector typed `/mute dna 5` for dan: the screen said `teacher muted
    dna for 5 minutes`, read by the whole class as done, and dan chatted on. Now the teacher's
    screen also says nobody has that name and names dan, and how to undo it; dan still speaks."""
    teacher = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "teacher", "--projector",
                       "--no-history", "--no-announce", rows=20, cols=60)
    try:
        port = teacher.expect(r"listening on port (\d+)").group(1)
        dan = join(run, ["127.0.0.1", port], "dan")
        teacher.expect(r"dan joined")
        teacher.send("/mute dna 5\r")
        teacher.expect(r"teacher muted dna for 5 minutes")
        said = teacher.expect(r"-!- nobody here or lately gone is named dna[^│]*?lifts it")
        words = re.sub(r"\s*\n\s*", " ", said.group(0))
        assert "(did you mean dan?)" in words and "/unmute dna lifts it" in words, teacher.text
        dan.send("am I muted?")
        teacher.expect(r"dan: am I muted\?")
    finally:
        teacher.stop()


def test_a_mute_or_ban_of_the_name_a_student_left_by_nick_is_said_under_the_name_she_has_now(run):  # noqa: F811
    """ann (her key owns the name) typed /nick anna; hal, who knew her as ann, typed /mute ann:
    anna was muted (by the key that owns ann) but every screen read 'hal muted ann', and hers
    not 'you'. Now /mute, /unmute and /ban of the name follow her key to the name she has now,
    as if typed with it: everyone reads 'anna', she reads 'you'."""
    hal, where = serve(run, "--name", "hal", "--plain", "--no-history")
    ann = join(run, where, "ann")
    bob = join(run, where, "bob")
    hal.expect(r"bob joined")
    ann.send("/nick anna")
    bob.expect(r"ann is now known as anna")
    hal.send("/mute ann 5 calm down")
    for person in (hal, bob):
        person.expect(STAMP + r"-!- hal muted anna for 5 minutes: calm down$")
    ann.expect(r"hal muted you for 5 minutes: calm down")
    bob.send("/who")
    bob.expect(r"anna \(muted")
    hal.send("/unmute ann")
    bob.expect(STAMP + r"-!- hal unmuted anna$")
    ann.expect(r"hal unmuted you")
    hal.send("/ban ann spam")
    bob.expect(STAMP + r"-!- hal banned anna: spam$")
    assert ann.wait() == 1
    bob.send("still here")
    hal.expect(STAMP + r"bob: still here$")
