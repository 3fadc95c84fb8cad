"""What irssi and WeeChat users reach for, on the pure Session: /r, /ignore, /joins, the host's
/q asking first, and the unread direct-message count."""

from __future__ import annotations

import re

from lanchat import events as ev
from lanchat import session_social as social
from lanchat.session import Command, Local, Outgoing, Quit, Session, UiCommand

T = 1_700_000_000.0


def room(name: str = "ann", role: str = "client", *members: str) -> Session:
    session = Session(name=name, role=role)
    session.on_event(ev.Welcome(name=name, mode="duplex", members=(name, *members)))
    return session


def test_r_replies_to_whoever_whispered_last_and_unread_counts_until_you_answer():
    ann = room("ann", "client", "bob", "cat")
    assert isinstance(ann.parse_input("/r hi"), Local)  # nobody yet: said, not sent
    ann.on_event(ev.Direct(sender="bob", to="ann", text="psst", time=T))
    ann.on_event(ev.Direct(sender="cat", to="ann", text="psst too", time=T))
    assert ann.unread_directs == 2
    assert ann.parse_input("/r yes?") == Outgoing(ev.Whisper(to="cat", text="yes?"))
    assert ann.unread_directs == 0
    ann.on_event(ev.Direct(sender="ann", to="bob", text="my own copy", time=T))
    assert ann.unread_directs == 0 and ann.last_direct_from == "cat"
    ann.on_event(ev.Direct(sender="colourbot", to="ann", text="What mood are you in?", time=T))
    assert ann.unread_directs == 0  # a bot's whisper is not someone waiting for an answer


def test_ignore_hides_messages_here_only_and_unignore_brings_them_back():
    ann = room("ann", "client", "bob")
    assert isinstance(ann.parse_input("/ignore BOB"), Local)  # names are case-blind
    assert ann.on_event(ev.Message(sender="bob", text="spam", time=T)) == []
    assert ann.on_event(ev.Direct(sender="bob", to="ann", text="spam", time=T)) == []
    assert ann.unread_directs == 0
    assert "bob" in ann.parse_input("/ignore").lines[0].text
    assert ann.parse_input("/unignore bob").lines[0].text == "showing bob's messages again"
    assert ann.on_event(ev.Message(sender="bob", text="sorry", time=T))[0].text == "sorry"
    # /unignore of someone not ignored said "showing cat's messages again", as if they had been hidden
    assert ann.parse_input("/unignore cat").lines[0].text == "you are not ignoring cat; /ignore alone lists whom you ignore"


def test_ignore_with_more_than_a_name_says_so_rather_than_ignoring_nobody():
    """`/ignore bob he spams` (as /kick NAME WHY reads) said "ignoring bob he spams on this
    screen": a name no one can have, so bob's messages went on showing. It is refused, with the
    usage, and nothing is ignored; /unignore likewise."""
    ann = room("ann", "client", "bob")
    for typed in ("/ignore bob he spams", "/unignore bob he spams"):
        said = ann.parse_input(typed)
        assert isinstance(said, Local) and said.lines[0].kind == "error", said
        assert said.lines[0].text == f"usage: {typed.split()[0]} NAME (one name: a name has no spaces)"
    assert ann.ignored == set()
    assert ann.on_event(ev.Message(sender="bob", text="still shown", time=T))[0].text == "still shown"


def test_nick_to_the_name_you_have_says_so():
    """`/nick bob` as bob showed nothing at all (the room ignores it without a word): was it
    taken, refused, lost? It is answered here; a change of case still goes to the room."""
    bob = room("bob", "client", "ann")
    said = bob.parse_input("/nick bob")
    assert isinstance(said, Local) and said.lines[0].text == "you are already called bob", said
    assert bob.parse_input("/nick Bob") == Outgoing(ev.Nick(name="Bob"))


def test_joins_off_hides_join_and_leave_lines_but_the_roster_still_changes():
    ann = room("ann", "client")
    ann.parse_input("/joins off")
    assert ann.on_event(ev.Joined(name="bob", time=T)) == [] and "bob" in ann.members
    assert ann.on_event(ev.Left(name="bob", reason="quit", time=T)) == [] and "bob" not in ann.members
    ann.parse_input("/joins on")
    assert "cat joined" in ann.on_event(ev.Joined(name="cat", time=T))[0].text


def test_the_hosts_q_asks_first_when_others_are_here():
    host = room("ann", "host", "bob", "colourbot")
    host.confirm_quit = True
    asked = host.parse_input("/q")
    assert isinstance(asked, Local) and "(bob)" in asked.lines[0].text  # the bot is not a person
    assert isinstance(host.parse_input("/q"), Quit)
    host.quit_armed = False
    host.parse_input("/q")
    host.parse_input("never mind")  # anything else: the question is off
    assert isinstance(host.parse_input("/q"), Local)
    assert isinstance(host.parse_input("/q!"), Quit)
    alone = room("ann", "host", "colourbot")
    alone.confirm_quit = True
    assert isinstance(alone.parse_input("/q"), Quit)
    scripted = room("ann", "host", "bob")  # a script's pipe: never asked
    assert isinstance(scripted.parse_input("/q"), Quit)


def test_the_hosts_ctrl_c_asks_the_same_question_and_a_q_after_it_closes():
    """Ctrl-C on the host's full screen (ui/screen.py asks social.ctrl_c_question): the /q question
    worded for the key, and a /q typed after it is its confirmation; nobody else here, a student's
    screen or a script's pipe: None, it leaves at once."""
    from lanchat import session_social as social

    host = room("ann", "host", "bob", "colourbot")
    host.confirm_quit = True
    asked = social.ctrl_c_question(host)
    assert isinstance(asked, Local)
    assert asked.lines[0].text == "Ctrl-C closes the chat for everyone (bob): press Ctrl-C again to close it; any other key goes on"
    assert isinstance(host.parse_input("/q"), Quit)
    host.parse_input("/q")  # the /q question, then Ctrl-C: asked anew (its answer is the very next key)
    assert isinstance(social.ctrl_c_question(host), Local) and host.quit_armed
    alone, student = room("ann", "host", "colourbot"), room("bob", "client", "ann", "cy")
    alone.confirm_quit = student.confirm_quit = True
    scripted = room("ann", "host", "bob")  # a script's pipe: never asked
    for leaves_at_once in (alone, student, scripted):
        assert social.ctrl_c_question(leaves_at_once) is None


def test_the_hosts_ctrl_z_with_others_here_is_asked_about_first_and_the_next_ctrl_z_stops():
    """The host's Ctrl-Z stops the room with the program (social.ctrl_z_question): asked with
    people here, answered by the next read's Ctrl-Z (CtrlCAnswer); the host alone with the bot, a
    student, a script: stopped at once."""
    from lanchat import session_social as social

    host = room("ann", "host", "bob", "colourbot")
    host.confirm_quit = True
    answer = social.CtrlCAnswer()
    answer.read()
    asked = answer.ctrl_c(host, "\x1a")
    assert isinstance(asked, Local)
    assert asked.lines[0].text == ("Ctrl-Z stops the room too (bob): no line goes through until you type fg; "
                                   "press Ctrl-Z again to stop anyway; any other key goes on")  # fmt: skip
    assert not host.quit_armed  # nothing closes: a /q after it is asked as ever
    answer.read()
    assert answer.ctrl_c(host, "\x1a") is True
    alone, student = room("ann", "host", "colourbot"), room("bob", "client", "ann", "cy")
    alone.confirm_quit = student.confirm_quit = True
    for stops_at_once in (alone, student, room("ann", "host", "bob")):
        assert social.ctrl_z_question(stops_at_once) is None


def test_after_fg_the_hosts_next_ctrl_z_is_asked_about_again():
    """The second Ctrl-Z stopped the room; after fg, the host's next Ctrl-Z (no other key between:
    a teacher who only watched) stopped it again at once, the question being still 'out'."""
    from lanchat import session_social as social

    host = room("ann", "host", "bob")
    host.confirm_quit = True
    answer = social.CtrlCAnswer()
    answer.read()
    assert isinstance(answer.ctrl_c(host, "\x1a"), Local)
    answer.read()
    assert answer.ctrl_c(host, "\x1a") is True  # stopped; then fg
    answer.read()
    assert isinstance(answer.ctrl_c(host, "\x1a"), Local)  # asked again, not stopped at once


def test_the_ctrl_c_question_is_answered_by_the_next_key_read_after_it():
    """social.CtrlCAnswer, both front ends' rule: a Ctrl-C in the read that asked is dropped (it
    was pressed before the question showed); the next read's closes; any other key goes on."""
    from lanchat.session_social import CtrlCAnswer

    host = room("ann", "host", "bob")
    host.confirm_quit = True
    answer = CtrlCAnswer()
    answer.read()
    assert isinstance(answer.ctrl_c(host), Local)
    assert answer.ctrl_c(host) is False  # the same read: dropped, still asked
    answer.read()
    answer.key("x")
    answer.key("\x03")  # (a Ctrl-C is not another key)
    assert isinstance(answer.ctrl_c(host), Local)  # another key went on: asked again
    answer.read()
    assert answer.ctrl_c(host) is True
    alone = room("ann", "host")
    alone.confirm_quit = True
    assert CtrlCAnswer().ctrl_c(alone) is True


def test_a_rename_reaches_every_place_a_name_is_kept():
    ann = room("ann", "client", "bob", "cat")
    ann.turn, ann.host = "bob", "bob"
    ann.on_event(ev.Direct(sender="bob", to="ann", text="psst", time=T))
    ann.parse_input("/ignore cat")
    lines = ann.on_event(ev.Renamed(old="bob", new="bobby", time=T))
    assert lines[0].text == "bob is now known as bobby"
    assert ann.members == ["ann", "bobby", "cat"] and ann.turn == ann.host == ann.last_direct_from == "bobby"
    ann.on_event(ev.Renamed(old="cat", new="kit", time=T))
    assert ann.on_event(ev.Message(sender="kit", text="still ignored", time=T)) == []
    assert ann.on_event(ev.Renamed(old="ann", new="anna", time=T))[0].text == "you are now known as anna"
    assert ann.name == "anna"


def test_me_away_topic_and_typing_hints_on_the_session():
    ann = room("ann", "client", "bob")
    assert ann.parse_input("/me waves") == Outgoing(ev.Me(text="waves"))
    (line,) = ann.on_event(ev.Emote(sender="bob", text="waves back", time=T))
    assert (line.kind, line.sender, line.text) == ("action", "bob", "waves back")
    assert ann.parse_input("/away lunch") == Outgoing(ev.SetAway(reason="lunch"))
    ann.on_event(ev.Away(name="ann", reason="lunch", time=T))
    assert ann.parse_input("/away") == Outgoing(ev.SetAway(reason=""))  # again: back
    assert isinstance(ann.parse_input("/nick two words"), Local)  # checked before sending
    ann.on_event(ev.Topic(text="lab 3", by="bob", time=T))
    assert ann.topic == "lab 3" and "lab 3" in ann.parse_input("/topic").lines[0].text
    ann.clock = lambda: 100.0
    ann.on_event(ev.TypingHint(name="bob"))
    assert social.typing_now(ann, 101.0) == ["bob"] and social.typing_now(ann, 107.0) == []
    social.note_typing(ann, "hel")
    social.note_typing(ann, "hell")  # within a few seconds: one hint
    social.note_typing(ann, "/who")
    assert ann.take_pending() == [ev.Typing()]
    ann.typing_hints = False  # --no-typing: nothing sent, nothing shown
    ann.clock = lambda: 200.0
    social.note_typing(ann, "hello")
    ann.on_event(ev.TypingHint(name="bob"))
    assert ann.take_pending() == [] and social.typing_now(ann, 200.0) == []


def test_a_bare_away_is_said_to_oneself_without_the_word_twice():
    """The teacher's bare /away read "you are away: away (/away again: back)" (the room keeps
    "away" as its reason; the others read "teacher is away")."""
    ann = room("ann", "client", "bob")
    now = ann.clock()  # (just welcomed: an away told as much older says since when)
    assert ann.parse_input("/away") == Outgoing(ev.SetAway(reason="away"))
    assert [line.text for line in ann.on_event(ev.Away(name="ann", reason="away", time=now))] == ["you are away (/back when you are back)"]
    assert [line.text for line in ann.on_event(ev.Away(name="bob", reason="away", time=now))] == ["bob is away"]


def test_a_message_ends_the_typing_on_both_sides():
    ann = room("ann", "client", "bob")
    ann.clock = lambda: 100.0
    for said in (ev.Message(sender="bob", text="hi", time=T), ev.Direct(sender="bob", to="ann", text="psst", time=T)):
        ann.on_event(ev.TypingHint(name="bob"))
        assert social.typing_now(ann, 100.5) == ["bob"]
        ann.on_event(said)  # what they were typing arrived: no longer "bob is typing"
        assert social.typing_now(ann, 100.5) == [], said
    # our side: a hint noted while the line was typed is not sent after the line itself
    social.note_typing(ann, "hello")
    assert ann.parse_input("hello") == Outgoing(ev.Say(text="hello"))
    assert ann.take_pending() == []
    social.note_typing(ann, "n")  # the next line's first key: a hint at once
    assert ann.take_pending() == [ev.Typing()]


def test_typing_hints_of_someone_ignored_or_gone_are_not_shown():
    """/ignore bob hid his messages but the status line still said "bob is typing..." (the
    start of every message he was about to send); and someone who left stayed "typing" for
    seconds after the room said they left. Neither is shown now."""
    ann = room("ann", "client", "bob", "cy")
    ann.clock = lambda: 100.0
    ann.on_event(ev.TypingHint(name="bob"))
    ann.parse_input("/ignore bob")  # typing when ignored: no longer shown either
    ann.on_event(ev.TypingHint(name="bob"))
    ann.on_event(ev.TypingHint(name="cy"))
    assert social.typing_now(ann, 100.5) == ["cy"]
    ann.on_event(ev.Left(name="cy", reason="quit", time=T))
    assert social.typing_now(ann, 100.5) == [] and social.typing_expires(ann) is None
    ann.parse_input("/unignore bob")
    ann.on_event(ev.TypingHint(name="bob"))
    assert social.typing_now(ann, 100.5) == ["bob"]


def test_a_superscript_digit_as_a_number_is_a_usage_error_or_a_reason_not_a_crash():
    # "²".isdigit() is True, yet int("²") raises: typed at /history or /mute it must not crash
    ann = room("ann", "host", "bob")
    refused = ann.parse_input("/history \u00b2")
    assert isinstance(refused, Local) and refused.lines[0].kind == "error" and "usage: /history" in refused.lines[0].text
    assert ann.parse_input("/history 20") == Outgoing(ev.HistoryRequest(limit=20, before=ann.history_before))
    assert ann.parse_input("/mute bob \u00b2 spam") == Outgoing(ev.Moderate(action="mute", name="bob", reason="\u00b2 spam"))
    assert ann.parse_input("/mute bob 5 spam") == Outgoing(ev.Moderate(action="mute", name="bob", minutes=5, reason="spam"))


def test_a_mute_takes_the_times_a_teacher_writes_and_refuses_what_is_not_a_time():
    ann = room("ann", "host", "bob")

    def mute(text: str, minutes: int, reason: str | None) -> None:
        assert ann.parse_input(f"/mute bob {text}") == Outgoing(ev.Moderate(action="mute", name="bob", minutes=minutes, reason=reason)), text

    mute("10 spam", 10, "spam")
    mute("5m talking too much", 5, "talking too much")  # it was read as the reason, with no time at all
    mute("5 min talking", 5, "talking")
    mute("2h", 120, None)
    mute("1h30m rude", 90, "rude")
    mute("1 hour 30 minutes rude", 90, "rude")
    mute("10 times in a row", 10, "times in a row")  # a word after the number is the reason
    assert ann.parse_input("/mute bob spam") == Outgoing(ev.Moderate(action="mute", name="bob", reason="spam"))
    for text in ("3rd warning", "30s", "1.5h", "1" * 5000):  # 5,000 digits: int() raises
        refused = ann.parse_input(f"/mute bob {text}")
        assert isinstance(refused, Local) and refused.lines[0].kind == "error", text
        assert "is not a time; say 10 or 10m (minutes), 2h or 1h30m" in refused.lines[0].text, refused


def test_thousands_of_digits_typed_as_a_number_are_a_usage_error_not_a_crash():
    ann = room("ann", "host", "bob")
    refused = ann.parse_input("/history " + "1" * 5000)  # int() refuses over 4,300 digits: the client crashed
    assert isinstance(refused, Local) and "usage: /history" in refused.lines[0].text


def test_seed_004s_backslash_commands_are_the_slash_ones_and_only_as_a_whole_line():
    ann = room("ann", "client", "bob")
    ann.ui_commands = (Command(name="/clear", usage="/clear", help="clear the screen"),)
    assert isinstance(ann.parse_input("\\quit"), Quit) and isinstance(ann.parse_input(" \\Q "), Quit)
    assert ann.parse_input("\\clients") == Outgoing(ev.Who()) == ann.parse_input("/clients")
    assert ann.parse_input("\\clear") == UiCommand(name="/clear", argument="")
    assert ann.parse_input("\\help").lines[0].text == "commands:"
    # anything else with a backslash is a message, sent as typed
    for text in ("\\w is a word character", "\\quit now", "\\n", "C:\\quit", "\\frac{1}{2}"):
        assert ann.parse_input(text) == Outgoing(ev.Say(text=text)), text


def test_blank_lines_around_a_pasted_message_are_not_sent():
    """A paste copied with the line break before it sent it: the room read 'ann: ↵Hello server'
    (and one that then started with //, '//etc' where '/etc' was meant). Whole blank lines
    around a message go; its own first indent and the lines inside stay; all blank is nothing."""
    ann = room("ann", "client", "bob")
    assert ann.parse_input("\nHello server\n") == Outgoing(ev.Say(text="Hello server"))
    assert ann.parse_input(" \r\n\n    code()\n\n  more\n \n\t\n") == Outgoing(ev.Say(text="    code()\n\n  more"))
    assert ann.parse_input("\n//etc/hosts is a file") == Outgoing(ev.Say(text="/etc/hosts is a file"))
    assert ann.parse_input("\n/w bob hi\n") == Outgoing(ev.Whisper(to="bob", text="hi"))
    assert ann.parse_input(" \n\t\n ") is None


def test_every_command_help_lists_completes_with_tab_and_is_known():
    from lanchat.ui import editor as ed
    from lanchat.ui.commands import UI_COMMANDS
    from lanchat.ui.keys import KEYS

    ann = room("ann", "client", "bob")
    ann.ui_commands, ann.ui_keys = UI_COMMANDS, KEYS
    shown = "\n".join(line.text for line in ann.help_lines())
    listed = set(re.findall(r"(?<![\w/\\])/[a-z]+!?", shown))  # "/unban NAME|#ID", not "Y/N"
    assert {"/n", "/unignore", "/unban", "/unmute", "/deop", "/bans", "/save", "/q!"} <= listed
    words = ann.command_words()
    for command in sorted(listed):
        assert command in ed.completions(len(command), command, ["bob"], words)[1], f"Tab does not complete {command}"
    for command in words:  # and Tab offers nothing the chat would call unknown
        answer = ann.parse_input(command)
        assert not (isinstance(answer, Local) and "unknown command" in answer.lines[0].text), command



def test_readmes_command_table_and_help_list_the_same_commands():
    """README's "In the chat" table is where a newcomer looks a command up: it had drifted from
    /help (no /kick, /ban, /mute, /op, /mode, /mouse, /unignore there). Every command /help
    names is in the table's first column and the table names none /help does not."""
    from pathlib import Path

    from lanchat.session import ALIASES, COMMANDS
    from lanchat.ui.commands import UI_COMMANDS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| you type | what happens |", 1)[1].split("\n\n", 1)[0]
    first_cells = [row.split(" | ", 1)[0] for row in table.splitlines() if row.startswith("| `/")]
    in_readme = {word for cell in first_cells for span in re.findall(r"`([^`]+)`", cell) for word in re.findall(r"(?<![\w/\\])/[a-z]+!?", span)}
    in_help = {word for c in (*COMMANDS, *UI_COMMANDS) for word in (c.name, *c.also)}
    assert in_help - in_readme == set(), "in /help, missing from README's command table"
    assert in_readme - in_help - set(ALIASES) == set(), "in README's command table, unknown to /help"


def _named_keys(text: str) -> set[str]:
    """The keys ``text`` names: Ctrl-X, Alt-x, F2; ``Ctrl-A/E/K`` is three (a Markdown ``Ctrl-\\\\`` is Ctrl-\\)."""
    named = set()
    for key in re.findall(r"(?:Ctrl|Alt)-(?:\\\\|\\|[A-Za-z]+(?:/[A-Z](?![a-z]))*)|F\d+", text):
        modifier, _, rest = key.replace("\\\\", "\\").partition("-")
        named |= {f"{modifier}-{part}" for part in rest.split("/")} if rest else {key}
    return named


def test_readmes_key_table_and_help_name_the_same_keys():
    """README's key table (The screen) and /help's keys: README named Ctrl-\\ as a way to leave,
    /help did not (it leaves on both front ends: test_ui_pty)."""
    from pathlib import Path

    from lanchat.ui.keys import KEYS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| key | what it does |", 1)[1].split("\n\n", 1)[0]
    in_readme = set().union(*(_named_keys(row.split(" | ", 1)[0]) for row in table.splitlines()[1:]))
    in_help = set().union(*(_named_keys(keys) for keys, _ in KEYS))
    assert {"Ctrl-C", "Ctrl-Z", "Ctrl-A", "Ctrl-E", "Alt-b", "F2"} <= in_help
    assert in_readme - in_help == set(), "in README's key table, missing from /help"
    assert in_help - in_readme == set(), "in /help, missing from README's key table"


def test_q_with_files_on_their_way_asks_once_and_names_them_and_a_script_is_never_asked():
    from lanchat.files import Progress

    def moving(session: Session, *names: str) -> None:
        for i, name in enumerate(names):
            direction = "send" if i % 2 else "get"
            session.progress[f"{direction}:{i}"] = Progress(direction=direction, label=name, total=100, started=0.0, done=40)
        session.progress["connection"] = "not a transfer"  # other live things are not files

    bob = room("bob", "client", "ann")
    bob.confirm_quit = True
    assert isinstance(bob.parse_input("/q"), Quit)  # nothing moving: leaves at once
    moving(bob, "a.bin", "b.bin", "c.bin", "d.bin")
    asked = bob.parse_input("/q")
    assert isinstance(asked, Local)
    assert asked.lines[0].text == (
        "/q stops receiving a.bin (40%), sending b.bin (40%) and 2 more files: type /q again to leave (/q! leaves without asking)"
    )
    assert isinstance(bob.parse_input("/q"), Quit)  # the second /q leaves
    assert isinstance(bob.parse_input("/q!"), Quit)

    ann = room("ann", "host", "bob")
    ann.confirm_quit = True
    moving(ann, "big.iso")
    asked = ann.parse_input("/q")
    assert isinstance(asked, Local)
    assert asked.lines[0].text == (
        "/q closes the chat for everyone (bob) and stops receiving big.iso (40%): type /q again to close it (/q! closes without asking)"
    )
    script = room("cat", "client", "ann")  # confirm_quit stays False: a pipe, nobody to ask
    moving(script, "a.bin")
    assert isinstance(script.parse_input("/q"), Quit)


def test_q_counts_the_sends_not_begun_waiting_their_turn_or_offered_and_hides_one_for_one_person():
    """/q named only the files in session.progress: a /send offered and not accepted yet, or one
    waiting its turn behind four uploads (client_files: client_files.unsent), was dropped without
    a word. They are asked through unsent_files, never put in progress (the status line draws it)."""
    from lanchat.files import Progress
    from lanchat.ui import projector

    bob = room("bob", "client", "ann")
    bob.confirm_quit = True
    bob.unsent_files = lambda: [("e.bin", False, "waiting")]
    asked = bob.parse_input("/q")
    assert isinstance(asked, Local)
    assert asked.lines[0].text == "/q stops sending e.bin (waiting): type /q again to leave (/q! leaves without asking)"
    assert not bob.progress  # no phantom transfer for the status line
    bob.quit_armed = False
    bob.progress["send:1"] = Progress(direction="send", label="a.bin", total=100, started=0.0, done=40)
    bob.unsent_files = lambda: [("grades cy.pdf", True, "waiting"), ("f.bin", False, "waiting"), ("g.bin", False, "waiting")]
    asked = bob.parse_input("/q")
    assert isinstance(asked, Local)
    line = asked.lines[0]
    assert line.text == (
        "/q stops sending a.bin (40%), sending grades cy.pdf (waiting) and 2 more files: type /q again to leave (/q! leaves without asking)"
    )
    bob.projector = True
    assert projector.shown(line, bob).text == (
        "/q stops sending a.bin (40%), sending a file (name hidden: /projector to show) (waiting) and 2 more files: "
        "type /q again to leave (/q! leaves without asking)"
    )
    bob.quit_armed = False
    bob.progress.clear()
    bob.unsent_files = lambda: [("grades cy.pdf", True, "checking"), ("f.bin", False, "checking")]  # all sent, checked
    line = bob.parse_input("/q").lines[0]
    assert line.text == "/q stops sending grades cy.pdf (checking), sending f.bin (checking): type /q again to leave (/q! leaves without asking)"
    assert projector.shown(line, bob).text == (
        "/q stops sending a file (name hidden: /projector to show) (checking), sending f.bin (checking): "
        "type /q again to leave (/q! leaves without asking)"
    )
    bob.quit_armed = False
    bob.unsent_files = list  # none waiting: leaves at once, as before
    assert isinstance(bob.parse_input("/q"), Quit)


def test_the_hosts_q_says_who_is_still_downloading_her_files():
    """The host's /q closed the room under a student's download without a word of it: the
    server knows who is fetching her files (ServerFiles.fetching_but, asked through fetching_here),
    and her question now says so. With none under way, or nobody to ask, it reads as it did."""
    from lanchat.files import Progress

    def asked(*fetching: tuple[str, str, int | None, bool, str | None], fetching_here: object = None) -> str:
        ann = room("ann", "host", "bob", "cy")
        ann.confirm_quit = True
        ann.fetching_here = fetching_here or (lambda: list(fetching))
        result = ann.parse_input("/q")
        assert isinstance(result, Local)
        return result.lines[0].text

    unchanged = "/q closes the chat for everyone (bob, cy): type /q again to close it (/q! closes without asking)"
    assert asked() == unchanged
    assert asked(fetching_here=None) == unchanged  # a client's session: nobody to ask
    assert asked(("bob", "my notes.pdf", 40, False, None)) == (
        "/q closes the chat for everyone (bob, cy) while bob is still downloading my notes.pdf (40%): "
        "type /q again to close it (/q! closes without asking)"
    )
    assert asked(("bob", "a.pdf", 40, False, None), ("cy", "a.pdf", 0, False, None)).startswith(
        "/q closes the chat for everyone (bob, cy) while bob (a.pdf, 40%) and cy (a.pdf, 0%) are still downloading your files: "
    )
    # one person's two downloads: said once, under the person (it read "bob (a.pdf, 40%) and bob (b.pdf, 10%)")
    assert asked(("bob", "a.pdf", 40, False, None), ("bob", "b.pdf", 10, False, None)).startswith(
        "/q closes the chat for everyone (bob, cy) while bob is still downloading a.pdf (40%) and b.pdf (10%): "
    )
    assert asked(*[(who, name, 10, False, None) for who in ("bob", "cy") for name in ("a.pdf", "b.pdf")]).startswith(
        "/q closes the chat for everyone (bob, cy) while bob (a.pdf, 10%; b.pdf, 10%) and cy (a.pdf, 10%; b.pdf, 10%) are still downloading your files: "
    )
    assert asked(*[("bob", f"{n}.pdf", 10, False, None) for n in range(5)]).startswith(
        "/q closes the chat for everyone (bob, cy) while bob is still downloading 0.pdf (10%), 1.pdf (10%) and 3 more files: "
    )
    # asked for, not begun (None, not 0%: it read "(0%)", as if stuck at its start)
    assert asked(("bob", "a.pdf", None, False, None)).startswith(
        "/q closes the chat for everyone (bob, cy) while bob is about to download a.pdf: "
    )
    assert asked(("bob", "a.pdf", 40, False, None), ("bob", "b.pdf", None, False, "cy")).startswith(
        "/q closes the chat for everyone (bob, cy) while bob is still downloading a.pdf (40%) and b.pdf from cy (waiting): "
    )
    assert asked(("bob", "a.pdf", 40, False, None), ("cy", "a.pdf", None, False, None)).startswith(
        "/q closes the chat for everyone (bob, cy) while bob (a.pdf, 40%) and cy (a.pdf, waiting) are still downloading your files: "
    )
    assert asked(*[(who, "a.pdf", 10, False, None) for who in ("bob", "cy", "dan", "eve")]).startswith(
        "/q closes the chat for everyone (bob, cy) while bob (a.pdf, 10%), cy (a.pdf, 10%) and 2 more are still downloading your files: "
    )
    # a classmate's file: the host's /q stops that download too (seen in a class played for real)
    assert asked(("bob", "holiday.mp4", 40, False, "cy")) == (
        "/q closes the chat for everyone (bob, cy) while bob is still downloading holiday.mp4 from cy (40%): "
        "type /q again to close it (/q! closes without asking)"
    )
    assert asked(("bob", "a.pdf", 40, False, None), ("cy", "b.pdf", 5, False, "bob")).startswith(
        "/q closes the chat for everyone (bob, cy) while bob (a.pdf, 40%) and cy (b.pdf from bob, 5%) are still downloading files: "
    )
    ann = room("ann", "host", "bob")
    ann.confirm_quit = True
    ann.fetching_here = lambda: [("bob", "a.pdf", 40, False, None)]
    ann.progress["get:7"] = Progress(direction="get", label="big.iso", total=100, started=0.0, done=40)
    assert ann.parse_input("/q").lines[0].text == (  # type: ignore[union-attr]
        "/q closes the chat for everyone (bob) while bob is still downloading a.pdf (40%) and stops receiving big.iso (40%): "
        "type /q again to close it (/q! closes without asking)"
    )
    assert isinstance(ann.parse_input("/q"), Quit)  # the second /q closes it, as before


def test_the_hosts_q_on_the_projector_names_no_file_offered_to_one_person():
    """Projector mode hides the name of a file offered to one person everywhere (README): the /q
    question named it, the host's own transfer of one as much as a student's download of one."""
    from lanchat.client_files import HIDDEN_LABEL
    from lanchat.files import Progress
    from lanchat.ui import projector

    ann = room("ann", "host", "bob")
    ann.confirm_quit = True
    ann.fetching_here = lambda: [("bob", "grades bob.pdf", 40, True, None)]
    ann.progress["send:3"] = Progress(direction="send", label="grades cy.pdf", total=100, started=0.0, done=40, private=HIDDEN_LABEL)
    asked = ann.parse_input("/q")
    assert isinstance(asked, Local)
    line = asked.lines[0]
    assert line.text == (
        "/q closes the chat for everyone (bob) while bob is still downloading grades bob.pdf (40%) and stops sending "
        "grades cy.pdf (40%): type /q again to close it (/q! closes without asking)"
    )
    ann.projector = True
    assert projector.shown(line, ann).text == (
        "/q closes the chat for everyone (bob) while bob is still downloading a file (name hidden: /projector to show) (40%) "
        "and stops sending a file (name hidden: /projector to show) (40%): type /q again to close it (/q! closes without asking)"
    )
    ann.quit_armed = False
    ann.fetching_here = lambda: [("bob", "slides.pdf", 40, False, None), ("bob", "grades bob.pdf", None, True, None)]
    del ann.progress["send:3"]
    asked = ann.parse_input("/q")
    assert isinstance(asked, Local)
    assert projector.shown(asked.lines[0], ann).text.startswith(  # bob said once; only his own file's name hidden
        "/q closes the chat for everyone (bob) while bob is still downloading slides.pdf (40%) and a file (name hidden: /projector to show) (waiting): "
    )
    ann.quit_armed = False
    ann.fetching_here = lambda: [("bob", "slides.pdf", 40, False, None)]  # the room's file: named, as everywhere
    assert ann.parse_input("/q").lines[0].private is None  # type: ignore[union-attr]


def test_the_hosts_join_lines_come_once_below_the_welcome_and_any_replay():
    """The host's screen shows how others join as its newest lines on joining: below the
    welcome in a room without history, below the replay's end in one with it; --plain
    ("replay") repeats them only below a replay that showed something."""
    join = ("lanchat: chat on port 7777; join with:", "  python -m lanchat connect 10.0.0.1 7777")

    def texts(lines: list) -> list[str]:
        return [line.text for line in lines]

    welcome = ev.Welcome(name="hal", mode="duplex", members=("hal",), host="hal")
    session = Session(name="hal", role="host", join_lines=join, join_lines_when="welcome")
    assert texts(session.on_event(welcome))[1:] == [join[0], join[1].strip()]
    assert texts(session.on_event(ev.HistoryEnd(shown=0, more=False))) == []  # once only
    kept = ev.Welcome(name="hal", mode="duplex", members=("hal",), host="hal", keeps_history=True)
    for when, shown, after in [("welcome", 0, 2), ("welcome", 3, 2), ("replay", 0, 0), ("replay", 3, 2), ("", 3, 0)]:
        session = Session(name="hal", role="host", join_lines=join, join_lines_when=when)
        assert not any("join with" in text for text in texts(session.on_event(kept)))
        ended = texts(session.on_event(ev.HistoryEnd(shown=shown, more=False)))
        assert ended[len(ended) - after :] == [join[0], join[1].strip()][:after] and len(ended) == after + (shown > 0)
        assert texts(session.on_event(ev.HistoryEnd(shown=2, more=False))) == ["end of history (2 shown)"]  # never again


def test_where_the_history_is_kept_is_said_truly_in_each_role():
    """A headless room has no host: 'on the host's machine' named someone who is not there;
    and the host, whose machine it is, reads 'this machine'."""

    def said(role: str, host: str | None) -> list[str]:
        welcome = ev.Welcome(name="bob", mode="duplex", members=("bob",), host=host, keeps_history=True)
        return [line.text for line in Session(name="bob", role=role).on_event(welcome) if "history" in line.text]

    assert said("client", None) == ["this room keeps history on the server's machine"]
    assert said("client", "hal") == ["this room keeps history on the host's machine"]
    assert said("host", "bob") == ["this room keeps history on this machine"]
    plain = ev.Welcome(name="bob", mode="duplex", members=("bob",), host=None)
    assert not any("history" in line.text for line in Session(name="bob").on_event(plain))


def test_a_mistyped_command_is_told_the_closest_real_one_and_a_far_one_is_not():
    from lanchat.ui.commands import UI_COMMANDS

    ann = room("ann", "client", "bob")
    ann.ui_commands = UI_COMMANDS
    for typed, meant in (("/hlep", "/help"), ("/mue bob", "/mute"), ("/KIK bob", "/kick"), ("/quti", "/quit"), ("/clera", "/clear")):
        answer = ann.parse_input(typed)
        assert isinstance(answer, Local) and answer.lines[0].kind == "error", typed
        assert f"did you mean {meant}?" in answer.lines[0].text, (typed, answer.lines[0].text)
    # what other chats and file tools call them: a newcomer's /share or /offer was "unknown
    # command /share; /help lists them" (a class played for real), with no word of /send
    for typed, meant in (("/share slides.pdf", "/send"), ("/offer slides.pdf", "/send"), ("/upload a.txt", "/send"),
                         ("/download 3", "/get"), ("/dm bob hi", "/w"), ("/users", "/who"), ("/leave", "/q")):
        answer = ann.parse_input(typed)
        assert isinstance(answer, Local) and f"did you mean {meant}?" in answer.lines[0].text, (typed, answer.lines[0].text)
    for typed in ("/foo", "/dance", "/xyz"):  # nothing close: no guess, only where to look
        text = ann.parse_input(typed).lines[0].text  # type: ignore[union-attr]
        assert text == f"unknown command {typed}; /help lists them", text


def test_help_with_a_command_shows_that_command_not_the_whole_list():
    """`/help send` (or `/help /cancel`, an alias, a second word of a row) printed all 50 lines of
    /help, the one asked for scrolled among them: it shows that command's row now, as irssi's and
    weechat's /help NAME do; `/help keys` the keys; a word that is no command says so, with the
    closest one."""
    from lanchat.ui.commands import UI_COMMANDS
    from lanchat.ui.keys import KEYS

    ann = room("ann", "client", "bob")
    ann.ui_commands, ann.ui_keys = UI_COMMANDS, KEYS
    every = [line.text for line in ann.help_lines()]
    for asked, row in (("send", "/send PATH [NAME]"), ("/CANCEL", "/cancel [ID]"), ("msg", "/w NAME TEXT"), ("unban", "/ban NAME [WHY]"),
                       ("\\quit", "/q  /q!"), ("save", "/save FILE")):  # fmt: skip
        answer = ann.parse_input(f"/help {asked}")
        assert isinstance(answer, Local) and len(answer.lines) == 1, asked
        assert answer.lines[0].text.strip().startswith(row) and answer.lines[0].text in every, asked
    keys = ann.parse_input("/help keys").lines
    assert [line.text for line in keys] == every[every.index("keys:") :]
    unknown = ann.parse_input("/help sned").lines
    assert [(line.kind, line.text) for line in unknown] == [("error", "no command /sned; did you mean /send? /help lists them")]
    assert [line.text for line in ann.parse_input("/help").lines] == every


def test_a_direct_message_or_me_too_long_to_send_is_given_back_to_the_input_line():
    """On the full screen a message over the limit stays in the input line ('what you typed is
    kept'), but a /w or /me over it was refused and gone: 4,100 characters of a direct message to
    type again. The refusal gives the line back (Line.give_back), which the full screen puts in
    its input line, as it does a line not taken while offline."""
    ann = room("ann", "client", "bob")
    for typed in ("/w bob " + "y" * 4100, "/me " + "z" * 4100):
        refused = ann.parse_input(typed)
        assert isinstance(refused, Local) and refused.lines[0].kind == "error", typed
        assert refused.lines[0].give_back == typed and "not sent" in refused.lines[0].text


def test_a_paste_of_lines_starting_with_a_slash_that_are_not_commands_is_given_back_whole():
    """ann pasted two paths (/home/ann/a.pdf, /home/ann/b.pdf): an 'unknown command' for each and
    the text gone. It is one unknown command now, named by the line that is not one (not by the
    whole paste), and given back to the input line (Line.give_back), as a line too long is; so
    is a mistyped command of one line."""
    ann = room("ann", "client", "bob")
    for typed, named in (("/home/ann/a.pdf\n/home/ann/b.pdf", "/home/ann/a.pdf"), ("/who\n/home/ann/b.pdf", "/home/ann/b.pdf"), ("/hlep", "/hlep")):
        refused = ann.parse_input(typed)
        assert isinstance(refused, Local) and refused.lines[0].kind == "error", typed
        assert refused.lines[0].give_back == typed
        assert refused.lines[0].text.startswith(f"unknown command {named};"), refused.lines[0].text


def test_who_and_address_with_a_word_after_them_say_their_usage_rather_than_ignore_it():
    """"/who ann" listed everyone (ann unread) and "/address ann" printed our own address as
    if it answered for ann: a word after them is a mistake to point out, with /whois named."""
    ann = room("ann", "client", "bob")
    assert ann.parse_input("/who") == Outgoing(ev.Who())
    for typed in ("/who bob", "/address bob", "/clients bob"):
        result = ann.parse_input(typed)
        assert isinstance(result, Local) and result.lines[0].kind == "error", typed
        assert result.lines[0].text.startswith("usage: /"), result.lines[0].text
    assert "/whois NAME" in ann.parse_input("/who bob").lines[0].text  # type: ignore[union-attr]
    assert isinstance(ann.parse_input("/address"), Local) and ann.parse_input("/address").lines[0].kind == "system"  # type: ignore[union-attr]


def test_topic_dash_with_no_topic_says_there_is_none_and_sends_nothing():
    """"/topic -" in a room with no topic was sent, and the room told everyone "ann cleared the
    topic", of nothing. Said here instead; with a topic it is cleared as before."""
    ann = room("ann", "host", "bob")
    result = ann.parse_input("/topic -")
    assert isinstance(result, Local) and "no topic to clear" in result.lines[0].text
    ann.on_event(ev.Topic(text="quiz at 10", by="ann", time=T))
    assert ann.parse_input("/topic -") == Outgoing(ev.SetTopic(text=""))


def test_a_yes_or_no_typed_after_the_hosts_q_answers_it_and_is_not_sent():
    """The teacher typed /q, read "type /q again to close it", and answered "y": the "y" went to
    the whole class and the lesson went on. The very next line answers the question as a person
    does: yes closes, as /q again would; no goes on; neither is sent. Later, a "y" is a message."""
    ann = room("ann", "host", "bob", "cy")
    ann.confirm_quit = True
    assert isinstance(ann.parse_input("/q"), Local)
    for yes in ("y", "Yes", " yes! "):
        ann.quit_armed = True
        assert isinstance(ann.parse_input(yes), Quit)
    assert isinstance(ann.parse_input("/q"), Local)
    answered = ann.parse_input("no")
    assert isinstance(answered, Local)
    assert answered.lines[0].text == "'no' answered /q's question, not sent: the chat goes on"
    assert not ann.quit_armed  # the question is over: the next /q asks again
    assert isinstance(ann.parse_input("/q"), Local)
    assert ann.parse_input("yesterday") == Outgoing(ev.Say(text="yesterday"))  # not an answer: sent, and the question is over
    assert ann.parse_input("y") == Outgoing(ev.Say(text="y"))  # no question asked: a message like any other
    # a student with nothing moving was never asked: their "y" is a message
    bob = room("bob", "client", "ann")
    bob.confirm_quit = True
    assert bob.parse_input("y") == Outgoing(ev.Say(text="y"))
