"""A teacher's laptop restarts mid-lesson (history on, the default): the room's topic and the
operators she made with /op hold, as bans, mutes and the mode did already."""

from __future__ import annotations

import os

from helpers import Proc, short_tmp_dir


def hosted(path: str, history: str) -> Proc:
    """teach hosts (--plain, typing into its stdin) on the socket file ``path``."""
    teach = Proc("serve", "--plain", "--name", "teach", "--unix", path, "--history", history)
    teach.expect(r"welcome, teach")
    return teach


def test_after_a_restart_the_topic_and_the_operators_made_with_op_hold():
    with short_tmp_dir() as folder:
        path, history = os.path.join(folder, "chat.sock"), os.path.join(folder, "h.sqlite3")
        teach = hosted(path, history)
        procs = [teach]
        try:
            ann = Proc("connect", "--unix", path, "--name", "ann", "--plain")
            procs.append(ann)
            ann.expect(r"welcome, ann")
            teach.send("/topic fractions, week 3")
            teach.send("/op ann")
            ann.expect(r"teach made you an operator")
            teach.popen.terminate()  # not the host's /q: students wait for it to come back
            assert teach.wait() == 0
            assert ann.wait() == 0  # --plain ends with the notice
            teach = hosted(path, history)
            procs.append(teach)
            teach.expect(r"operators kept from the last run \(their keys; /deop NAME takes it back\): ann$")
            teach.expect(r"topic kept from the last run \(/topic - clears it\): fractions, week 3$")
            # /address, for the projector, says how to join: not the start lines about the last run
            mark = teach.mark()
            teach.send("/address")
            teach.send("/topic")
            teach.expect(r"python -m lanchat connect --unix", start=mark)
            teach.expect(r"-!- topic: fractions, week 3$", start=mark)
            # the room's telling of the topic on joining, after the start lines had said it: not said twice
            said = [line for line in teach.lines if "fractions, week 3" in line]  # whatever the room's wording
            assert len(said) == 2 and "kept from the last run" in said[0] and said[1].endswith("-!- topic: fractions, week 3"), said
            assert not [line for line in teach.lines[mark:] if "kept from the last run" in line], teach.lines[mark:]
            bob = Proc("connect", "--unix", path, "--name", "bob", "--plain")
            ann = Proc("connect", "--unix", path, "--name", "ann", "--plain")  # both start at once
            procs += [bob, ann]
            for student in (bob, ann):
                student.expect(r"-!- topic: fractions, week 3 \(set by teach\)$")
            bob.expect(r"ann joined|welcome, bob: .*here: teach, ann")
            ann.send("/mute bob 5 calm down")
            bob.expect(r"-!- ann muted you for 5 minutes: calm down")
            teach.expect(r"ann muted bob")
            assert "only an operator" not in ann.output, ann.output
        finally:
            for proc in reversed(procs):
                proc.stop()


def test_topic_dash_clears_the_topic():
    """A kept topic outlives a restart, and a client had no way to clear one (/topic alone shows it)."""
    from lanchat import events as ev
    from lanchat.session import Outgoing, Session

    hal = Session(name="hal")
    hal.on_event(ev.Topic(text="kept from the last run", by="hal", time=0.0))  # the room tells it after the welcome
    assert hal.parse_input("/topic -") == Outgoing(ev.SetTopic(text=""))
    assert Session(name="hal").parse_input("/topic - then") == Outgoing(ev.SetTopic(text="- then"))


def test_the_start_lines_after_a_restart_name_the_bans_and_mutes_that_hold():
    """The teacher's guide says a restarted room's start lines name what holds: they named the
    operators, the topic and the mode, not who was still banned or muted, so the teacher learnt
    it only when the student complained."""
    from lanchat.cli.serve import _kept_moderation_lines
    from lanchat.moderation import Ban, Mute

    ban = Ban(id=1, name="carl", name_key="carl", key=None, address=None, by="teacher", reason="phone", time=0.0)
    mutes = [Mute(name_key="dan", key=None, address=None, until=1000.0 + 4 * 60 + 10, by="teacher", reason="", name="dan"),
             Mute(name_key="eve", key=None, address=None, until=None, by="teacher", reason="", name="eve")]
    assert _kept_moderation_lines([ban], mutes, now=1000.0) == [
        "  bans kept from the last run (/bans lists them; /unban NAME lifts one): carl",
        "  mutes kept from the last run (/unmute NAME lifts one): dan (5 more minutes), eve (until /unmute)",
    ]
    assert _kept_moderation_lines([], [], now=1000.0) == []


def test_a_ban_that_serve_operator_lifts_is_not_said_to_hold_at_start():
    """A teacher banned in her own headless room (an operator she made turned on her) restarts it
    with --operator teach to get it back: the start lines said 'bans kept from the last run: teach'
    just before the ban went as she joined. They say it is lifted now; others' bans still hold."""
    import hashlib

    from lanchat.cli.serve import _kept_moderation_lines
    from lanchat.gate import Gate
    from lanchat.identity import owned_name_key
    from lanchat.moderation import Ban, bans_serve_operator_lifts
    from lanchat.room import Room

    teach_key, fp_key = b"t" * 32, b"f" * 32
    fp_hex = hashlib.sha256(fp_key).hexdigest()

    def ban(n: int, name: str, key: bytes | None = None) -> Ban:
        identity = hashlib.sha256(key).hexdigest() if key else None
        return Ban(id=n, name=name, name_key=name, key=identity, address=None, by="ann", reason="", time=0.0)

    bans = [ban(1, "teach"), ban(2, "carl"), ban(3, "t2", teach_key), ban(4, "ms-k", fp_key), ban(5, "nobody")]
    room = Room(operators=["teach", "nobody", fp_hex[:16]], bans=bans,
                gate=Gate(clock=lambda: 0.0, owners={owned_name_key("teach"): teach_key}))  # fmt: skip
    lifted = bans_serve_operator_lifts(room)
    assert [b.name for b in lifted] == ["teach", "t2", "ms-k"]  # "nobody": no key owns it, so its ban holds
    assert _kept_moderation_lines(bans, [], now=0.0, lifted=lifted) == [
        "  bans kept from the last run (/bans lists them; /unban NAME lifts one): carl, nobody",
        "  bans from the last run that --operator lifts as its operator joins: teach, t2, ms-k",
    ]


def test_ban_numbers_are_never_given_again_after_a_restart():
    """The teacher banned three, lifted #3, and restarted: the next ban got #3 again, so an
    /unban #3 read off a /bans screen from before the restart (or a note) lifted someone else's
    ban. Numbers go on from the highest ever given, across the restart."""
    with short_tmp_dir() as folder:
        path, history = os.path.join(folder, "chat.sock"), os.path.join(folder, "h.sqlite3")
        teach = hosted(path, history)
        procs = [teach]
        try:
            for name in ("dan", "carl", "eve"):
                teach.send(f"/ban {name} phones")
                teach.expect(rf"banned {name}")
            teach.send("/unban #3")
            teach.expect(r"unbanned eve|lifted .*eve|eve .*unbanned")
            teach.popen.terminate()
            assert teach.wait() == 0
            teach = hosted(path, history)
            procs.append(teach)
            teach.send("/ban frank phones")
            teach.expect(r"banned frank")
            mark = teach.mark()
            teach.send("/bans")
            teach.expect(r"#4 frank", start=mark)
            assert not [line for line in teach.lines[mark:] if "#3" in line], teach.lines[mark:]
        finally:
            for proc in reversed(procs):
                proc.stop()
