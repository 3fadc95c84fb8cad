"""Students who read the chat differently (session 51), in a real pseudo-terminal read by pyte
against a real room: a teacher at a projector on a light theme with an 8-colour TERM, a blind
student whose screen reader speaks every byte `--plain` writes."""

from __future__ import annotations

import re
import sys

import pytest
from helpers import RawClient, TermProc, running_server

from lanchat import events as ev
from lanchat.transport import Endpoint
from lanchat.ui.colour_words import colour_words, parse_hex

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

# pyte's names of the basic colours (SGR 30-37) that vanish on one of the two themes, in xterm's
# own palette: yellow ("brown"), cyan and green on white (xterm's default), blue on black
UNREADABLE_ON_ONE_THEME = {"brown", "cyan", "green", "blue"}


def test_an_8_colour_terminal_on_a_light_theme_shows_no_yellow_or_cyan_text(terms):
    """The teacher's projector through tmux or ssh says TERM=xterm (or screen): 8 colours, and
    xterm's own default is black on white. A message naming the teacher, every /me and two
    senders' names in eight came out yellow (1.6:1 on white), the room's notices, the prompt and
    four senders' names cyan (1.7:1): unreadable from the back of the class. Text on the
    terminal's own background is now red, magenta or the terminal's own colour; what the colour
    said, the marks and bold say too."""
    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        teacher = TermProc("connect", "127.0.0.1", str(endpoint.port), "--name", "teacher", rows=16, cols=60, env={"TERM": "xterm"})
        terms.append(teacher)
        teacher.expect(r"welcome, teacher")
        ann.send(ev.Say(text="hello teacher"))
        ann.send(ev.Me(text="waves"))
        ann.send(ev.Whisper(to="teacher", text="psst"))
        teacher.expect(r"\[direct\] ann → teacher: psst")
        teacher.send("/nosuch\r")
        teacher.expect(r"unknown command")
        with teacher._changed:
            cells = [(cell.data, cell.fg) for row in teacher.screen.buffer.values() for cell in row.values()
                     if cell.bg == "default" and cell.data.strip()]  # fmt: skip
        coloured = {fg for _data, fg in cells}
        assert "red" in coloured and "magenta" in coloured, coloured  # an error, a direct message: still in colour
        unreadable = "".join(data for data, fg in cells if fg in UNREADABLE_ON_ONE_THEME)
        assert not unreadable, f"text in a colour one theme hides: {unreadable!r}\n" + teacher.text
        ann.close()


def test_plain_at_a_terminal_whose_echo_is_off_writes_each_line_once(terms):
    """A blind student in Emacs's shell buffer (TERM=dumb; Emacspeak speaks the buffer): Emacs
    shows and edits what is typed itself, its terminal's echo off, and sends whole lines. lanchat
    turned that echo back on in its own way: each line typed was written again under the one
    Emacs showed, spoken twice, `/q` too. A terminal found with its echo off is now read as a
    pipe is: lanchat writes only the chat, and the room still gets every line whole."""
    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        emacs = 'stty -echo; exec "$0" -m lanchat connect 127.0.0.1 "$1" --name sam'  # its terminal as Emacs sets it
        sam = TermProc(argv=["sh", "-c", emacs, sys.executable, str(endpoint.port)], env={"TERM": "dumb"})
        terms.append(sam)
        sam.expect(r"welcome, sam")
        sam.send("hello everyone\r")
        ann.expect(ev.Message, sender="sam", text="hello everyone")
        sam.expect(r"sam: hello everyone")
        ann.send(ev.Say(text="hi sam"))
        sam.expect(r"ann: hi sam")
        sam.send("/q\r")
        assert sam.wait() == 0
        spoken = bytes(sam.raw).decode()
        assert spoken.count("hello everyone") == 1 and "/q" not in spoken, spoken
        assert "\r\x20" not in spoken and "\x1b" not in spoken, spoken  # nothing rubbed out and written again
        ann.close()


def test_a_plain_host_whose_terminal_echo_is_off_is_still_asked_before_ctrl_d_closes_the_chat(terms):
    """The teacher in Emacs's shell buffer: its keys are still lanchat's, so Emacs's end of input
    (Ctrl-D, C-c C-d) asks before it closes the chat for the class, as at any terminal."""
    emacs = 'stty -echo; exec "$0" -m lanchat serve --port 0 --host 127.0.0.1 --plain --no-history --no-announce --name teacher'
    teacher = TermProc(argv=["sh", "-c", emacs, sys.executable], env={"TERM": "dumb"})
    terms.append(teacher)
    port = int(teacher.expect(r"listening on port (\d+)").group(1))
    teacher.expect(r"welcome, teacher")
    ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
    teacher.expect(r"ann joined")
    teacher.send("\x04")
    teacher.expect(r"Ctrl-D closes the chat for everyone \(ann\): press Ctrl-D again")
    ann.send(ev.Say(text="still here"))
    teacher.expect(r"ann: still here")
    ann.close()


def test_plain_at_a_terminal_says_a_class_coming_in_and_going_as_one_line_each(terms):
    """A blind student in `connect --plain` when the class arrives: twelve joins were twelve
    lines, each spoken in full ("kid0 joined (3 here)", "kid1 joined (4 here)", ...), and twelve
    more as they went. At a terminal a burst is now held until it is quiet and said once, as the
    full screen folds it; a line said meanwhile prints after it, in order. (A script's pipe still
    reads a line a join: tests/test_ui_plain.py.)"""
    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        sam = TermProc("connect", "127.0.0.1", str(endpoint.port), "--plain", "--name", "sam", rows=24, cols=80)
        terms.append(sam)
        sam.expect(r"welcome, sam")
        kids = [RawClient(endpoint, f"kid{n}") for n in range(12)]
        sam.expect(r"-!- 12 joined: kid0, kid1, .* and \d+ more \(14 here\)")
        for kid in kids:
            kid.close()
        gone = {ann.expect(ev.Left).name for _ in range(12)}  # type: ignore[attr-defined]  # (in the order the server saw the closes)
        assert gone == {f"kid{n}" for n in range(12)}, gone
        ann.send(ev.Say(text="just us now"))
        sam.expect(r"ann: just us now")
        spoken = [line for line in bytes(sam.raw).decode().splitlines() if "kid" in line or "just us" in line]
        assert len(spoken) == 3 and "12 joined" in spoken[0] and "12 lost connection" in spoken[1], spoken
        assert spoken[1].endswith("(2 here)") and "ann: just us now" in spoken[2], spoken
        ann.close()


def test_the_colour_bots_suggestion_is_named_in_words_beside_its_swatch(terms):
    """A colour-blind student (about 1 in 12 boys) asks the colour bot for a colour: the full
    screen drew a block of it after "#2E8B57", a block that may read red or green, or nothing
    at all on a monochrome terminal; a screen reader in --plain said the hex digit by digit.
    The colour is now named beside it on both: "teal", "pale pink" (--plain: at a terminal)."""
    from faker import Faker
    from helpers import start_server

    from lanchat.colourbot import suggest_colour

    fake = Faker()
    fake.seed_instance(7)
    first = suggest_colour(fake)
    words = colour_words(parse_hex(first))  # type: ignore[arg-type]
    server, port = start_server("--headless", "--bot", "colour", "--bot-seed", "7", "--no-history", "--no-announce")
    try:
        ann = TermProc("connect", "127.0.0.1", str(port), "--name", "ann", rows=16, cols=80, env={"TERM": "xterm-mono"})
        terms.append(ann)
        ann.expect(r"What mood are you in")
        ann.send("/mood sunny\r")
        folded = r"\s+".join(words.split())  # (folded where it does not fit)
        ann.expect(rf"try #{first}:\s+https://\S+ ██ {folded}\s")
        bob = TermProc("connect", "127.0.0.1", str(port), "--plain", "--name", "bob", rows=16, cols=160)
        terms.append(bob)
        bob.expect(r"whisper me your mood")
        bob.send("/mood sunny\r")
        said = bob.expect(r"(?m)colourbot -> bob \(direct\): For your sunny mood, try #([0-9A-F]{6}): https://\S+ \(([a-z -]+)\) *$")
        assert said.group(2) == colour_words(parse_hex(said.group(1))), said.group(0)  # type: ignore[arg-type]
        # (a script's pipe reads the bot's words as the room sent them: test_colourbot_cli's seed 000)
    finally:
        server.stop()


def _spoken_since(term: TermProc, mark: int) -> str:
    """What the program wrote to the terminal since ``mark`` (a length of ``raw``): what a screen
    reader that speaks new text would say."""
    with term._changed:
        return bytes(term.raw[mark:]).decode("utf-8", "replace")


def test_a_screen_reader_hears_a_line_that_comes_mid_typing_once_and_nothing_typed_again(terms):
    """A blind student in `connect --plain` types 'half typ' when ann's line comes: --plain rubbed
    the half-typed line out and wrote it again under ann's, and the screen reader said 'half typ'
    again after every message that came while she typed. With --screen-reader ann's line goes on a
    row of its own and nothing typed is written again (but for Ctrl-R, which asks for it); the typed
    text stays hers: Backspace works on it, and Enter sends the whole line, which the room gets whole."""
    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        sam = TermProc("connect", "127.0.0.1", str(endpoint.port), "--screen-reader", "--name", "sam", rows=24, cols=80)
        terms.append(sam)
        sam.expect(r"welcome, sam")
        sam.send("half typ")
        sam.expect(r"(?m)^half typ")
        mark = len(sam.raw)
        ann.send(ev.Say(text="hello sam"))
        sam.expect(r"ann: hello sam")
        ann.send(ev.Say(text="second one"))
        sam.expect(r"ann: second one")
        spoken = _spoken_since(sam, mark)
        assert spoken.count("hello sam") == 1 and spoken.count("second one") == 1, spoken
        assert "half typ" not in spoken and "\x1b" not in spoken and "\r " not in spoken, spoken  # nothing rubbed out, nothing typed again
        sam.send("ed!!\x12")  # Ctrl-R: the student asks to hear it all
        sam.expect(r"(?m)^half typed!! *$")
        sam.send("\x7f\x7f\r")  # Backspace on it
        ann.expect(ev.Message, sender="sam", text="half typed")
        sam.expect(r"(?m)^half typed *$")  # rubbed out where it was written again
        sam.send("abc")
        sam.expect(r"(?m)^abc")
        ann.send(ev.Say(text="third"))
        sam.expect(r"ann: third")
        sam.send("\x7f\x7fZ\r")  # and on what was typed before a line came, above it now
        ann.expect(ev.Message, sender="sam", text="aZ")
        ann.close()


def test_a_screen_reader_hears_a_line_sent_once_and_a_refusal_in_words(terms):
    """The student's own line showed twice, as typed and as the room's copy ('12:01 sam: hello
    everyone'), and the screen reader said it twice. With --screen-reader (here turned on by
    LANCHAT_SCREEN_READER=1, as a student's shell profile would) the room's copy of a line that
    went at once is left out; a line refused here is said, in words."""
    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        sam = TermProc("connect", "127.0.0.1", str(endpoint.port), "--name", "sam", rows=24, cols=80, env={"LANCHAT_SCREEN_READER": "1"})
        terms.append(sam)
        sam.expect(r"welcome, sam")
        sam.send("hello everyone\r")
        ann.expect(ev.Message, sender="sam", text="hello everyone")
        sam.send("/me waves\r")
        ann.expect(ev.Emote, sender="sam", text="waves")
        sam.send("/w ann just you\r")
        ann.expect(ev.Direct, sender="sam", text="just you")
        sam.send("x" * (ev.MAX_TEXT_CHARS + 1) + "\r")
        sam.expect(rf"message is {ev.MAX_TEXT_CHARS + 1} characters; the limit is {ev.MAX_TEXT_CHARS}: not sent")
        ann.send(ev.Say(text="after yours"))
        sam.expect(r"ann: after yours")  # (the room's copies came before it: the server answers in order)
        spoken = _spoken_since(sam, 0)
        assert spoken.count("hello everyone") == 1 and "sam: hello everyone" not in spoken, spoken
        assert "\r\nhello everyone\r\n" in spoken, spoken  # line mode: the line as typed, its own row
        assert spoken.count("waves") == 1 and "* sam waves" not in spoken, spoken
        assert spoken.count("just you") == 1 and "(direct)" not in spoken, spoken
        sam.send("/help keys\r")  # the key this mode adds is listed with the others
        sam.expect(r"Ctrl-R +write again what you are typing")
        ann.close()


def test_a_screen_reader_hears_a_line_held_for_the_turn_when_it_goes(terms):
    """In a turn-based room the student's line typed out of turn is held: said so in words, and
    when it goes on her turn, minutes later maybe, the room's copy is said: it is news then."""
    with running_server("turn") as (_server, endpoint):
        ann = RawClient(endpoint, "ann")  # first in: hers is the turn
        sam = TermProc("connect", "127.0.0.1", str(endpoint.port), "--screen-reader", "--name", "sam", rows=24, cols=100)
        terms.append(sam)
        sam.expect(r"turn-based: waiting for ann")
        sam.send("my answer\r")
        sam.expect(r"not your turn yet \(waiting for ann\): held until it is your turn")
        ann.send(ev.Say(text="question"))
        ann.expect(ev.Message, sender="sam", text="my answer")
        sam.expect(r"sam: my answer")
        ann.close()


def test_a_host_with_a_screen_reader_hears_their_own_line_once(terms):
    """The teacher is the blind one: `serve --screen-reader` is the host's line mode for a screen
    reader, as `connect --screen-reader` is a student's: the host's own line is said as typed, not
    again when the room's copy comes back."""
    teacher = TermProc("serve", "--screen-reader", "--port", "0", "--host", "127.0.0.1", "--no-history", "--no-announce", "--name", "teach")
    terms.append(teacher)
    port = int(teacher.expect(r"listening on port (\d+)").group(1))
    teacher.expect(r"welcome, teach")
    ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
    teacher.expect(r"ann joined")
    teacher.send("good morning\r")
    ann.expect(ev.Message, sender="teach", text="good morning")
    ann.send(ev.Say(text="morning"))
    teacher.expect(r"ann: morning")
    spoken = _spoken_since(teacher, 0)
    assert spoken.count("good morning") == 1 and "teach: good morning" not in spoken, spoken
    assert "\r\ngood morning\r\n" in spoken, spoken  # line mode: the line as typed, its own row
    ann.close()


def _a_lesson_heard(terms: list, tmp_path, *mode: str) -> str:
    """sam joins a room (its colour bot, its history) in ``mode`` and meets a line of each kind:
    a replayed line, a message, a /me, a direct message each way, a notice, an error, the colour
    bot's suggestion. Every byte the terminal got, as a screen reader would speak it."""
    from helpers import start_server

    server, port = start_server("--headless", "--bot", "colour", "--bot-seed", "7", "--no-announce", "--history", str(tmp_path / "h.sqlite3"))
    try:
        ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
        ann.send(ev.Say(text="before you came"))
        ann.expect(ev.Message, sender="ann", text="before you came")  # kept: the room answers in order
        sam = TermProc("connect", "127.0.0.1", str(port), *mode, "--name", "sam", rows=50, cols=200)
        terms.append(sam)
        sam.expect(r"end of history \(1 shown\)")
        ann.send(ev.Say(text="hello sam"))
        ann.send(ev.Me(text="waves"))
        ann.send(ev.Whisper(to="sam", text="psst"))
        sam.expect(r"psst")
        sam.send("/w ann back to you\r")
        ann.expect(ev.Direct, sender="sam", text="back to you")
        bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
        sam.expect(r"bob joined \(4 here\)")  # (held a moment at a terminal: a class coming in is one line)
        sam.send("/nosuch\r")
        sam.expect(r"unknown command")
        sam.send("/mood sunny\r")
        sam.expect(r"try .*https://\S+")
        ann.send(ev.Say(text="the end"))
        sam.expect(r"ann: the end")
        bob.close()
        ann.close()
        return _spoken_since(sam, 0)
    finally:
        server.stop()


def test_a_screen_reader_hears_each_line_in_words_with_no_clock_and_no_marks(terms, tmp_path):
    """Every line --plain prints starts with its clock, '[13:24:17] -!- bob joined', and a screen
    reader said 'left bracket thirteen colon twenty-four colon seventeen right bracket dash bang
    dash' before the news, each time; a direct message said 'dash greater than ... left paren
    direct right paren', a /me 'star', an error 'bang', a replay the date of every line. With
    --screen-reader each line says what matters first, in words: the replay's day once, no clock
    (Ctrl-T says when the last line came), and the colour bot's colour named before its hex."""
    spoken = _a_lesson_heard(terms, tmp_path, "--screen-reader")
    clock = re.search(r"\[[0-9:-]+( [0-9:]+)?\]|\d\d:\d\d:\d\d", spoken)
    assert clock is None, spoken
    for mark in ("-!-", "→", "██", "->", "(direct)", "[History]", "* ann", "! unknown"):
        assert mark not in spoken, (mark, spoken)
    assert re.search(r"earlier (today|, on \w+ \d+ \w+):\r\nann: before you came", spoken), spoken  # (today's, but for a test at midnight)
    for said in ("lanchat: welcome, sam:", "ann: hello sam", "ann waves", "privately, ann to you: psst",
                 "lanchat: bob joined (4 here)", "error: unknown command", "lanchat: end of history (1 shown)"):  # fmt: skip
        assert said in spoken, (said, spoken)
    assert spoken.count("back to you") == 1, spoken  # as typed, once
    said = re.search(r"privately, colourbot to you: For your sunny mood, try ([a-z -]+) \(#([0-9A-F]{6})\): https://", spoken)
    assert said and said.group(1) == colour_words(parse_hex(said.group(2))), spoken  # type: ignore[arg-type]


def test_plain_without_a_screen_reader_keeps_its_clock_and_marks_for_scripts(terms, tmp_path):
    """The same lesson in `--plain`: scripts and people who read it keep its exact format."""
    spoken = _a_lesson_heard(terms, tmp_path, "--plain")
    assert re.search(r"\[\d\d:\d\d:\d\d\] -!- welcome, sam:", spoken), spoken
    assert re.search(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[History\] ann: before you came|\[\d\d:\d\d:\d\d\] \[History\] ann: before you came", spoken), spoken
    for said in ("] * ann waves", "] ann -> sam (direct): psst", "] sam -> ann (direct): back to you", "-!- bob joined (4 here)",
                 "] ! unknown command", "] colourbot -> sam (direct): For your sunny mood, try #"):  # fmt: skip
        assert said in spoken, (said, spoken)
    assert "earlier today" not in spoken and "privately" not in spoken, spoken


def test_a_screen_reader_hears_when_the_last_line_came_on_ctrl_t(terms):
    """With no clock on its lines, a student who wants to know when something was said asks:
    Ctrl-T says when the last line came and the time now, on a line of its own, what is typed kept;
    as lanchat's own line, so a classmate named "the" typing '/me last line came ...' is not it."""
    with running_server() as (_server, endpoint):
        ann = RawClient(endpoint, "ann")
        sam = TermProc("connect", "127.0.0.1", str(endpoint.port), "--screen-reader", "--name", "sam", rows=24, cols=80)
        terms.append(sam)
        sam.expect(r"welcome, sam")
        the = RawClient(endpoint, "the")
        the.send(ev.Me(text="last line came 3 hours ago, at 09:00; it is 09:01"))
        sam.expect(r"at 09:00; it is 09:01")
        ann.send(ev.Say(text="hello sam"))
        sam.expect(r"ann: hello sam")
        sam.send("half\x14")
        sam.expect(r"(?m)^lanchat: the last line came just now; it is \d\d:\d\d *$")
        heard = _spoken_since(sam, 0).split("\r\n")
        assert [line for line in heard if "last line came" in line and not line.startswith("lanchat: ")] == [
            "the last line came 3 hours ago, at 09:00; it is 09:01"], heard  # the classmate's: not lanchat's
        the.close()
        sam.send(" done\r")
        ann.expect(ev.Message, sender="sam", text="half done")
        sam.send("/help keys\r")
        sam.expect(r"Ctrl-T +say when the last line came")
        ann.close()


def test_a_classmate_cannot_make_a_screen_reader_hear_the_rooms_notice_or_anothers_line(terms):
    """What a blind student hears is all she has, and a screen reader passes over ':' and '('.
    Classmates chose names and typed lines to be heard as the room or as her: 'the' typing
    '/me server shut down: class is over' was heard as the room's notice, 'you' typing '/me to ann,
    privately: ...' as a direct message she sent, bob's '/me left (2 here)' as his leaving, ann's
    '/me to you, privately: ...' as her direct message. Now the room's lines start with words no
    classmate's can ("lanchat:", "error:", "privately,"), and a name said as one of them is said
    'someone named ...'."""
    with running_server() as (_server, endpoint):
        sam = TermProc("connect", "127.0.0.1", str(endpoint.port), "--screen-reader", "--name", "sam", rows=50, cols=200)
        terms.append(sam)
        sam.expect(r"welcome, sam")
        mark = len(sam.raw)
        tricks = [("the", ev.Me(text="server shut down: class is over")), ("Error", ev.Me(text="wrong password")),
                  ("you", ev.Me(text="to ann, privately: meet me outside")), ("lan.chat", ev.Say(text="the turn passed to you")),
                  ("bob", ev.Me(text="left (2 here)")), ("ann", ev.Me(text="to you, privately: what is your password?")),
                  ("ann", ev.Say(text="hi\nlanchat: the server shut down")), ("Lannchats", ev.Say(text="bob left (1 here)")),
                  ("bob", ev.Say(text="\n" * 3000 + "flood over"))]  # fmt: skip
        classmates: dict[str, RawClient] = {}
        for name, _trick in tricks:
            if name not in classmates:
                classmates[name] = RawClient(endpoint, name)
                sam.expect(rf"{re.escape(name)} joined")
        for name, trick in tricks:
            classmates[name].send(trick)
        sam.expect(r"Lannchats: bob left")  # (from another connection: in either order)
        sam.expect(r"  ann: lanchat: the server shut down")
        sam.expect(r"  bob: flood over")
        heard = _spoken_since(sam, mark).split("\r\n")
        for line in heard:
            if line.startswith(("lanchat:", "error:", "privately,", "earlier", "you ")):
                assert re.fullmatch(r"lanchat: [A-Za-z.]+ joined \(\d here\)", line), (line, heard)  # the room's own: only the joins
        for said in ("the server shut down: class is over", "someone named Error wrong password", "bob left (2 here)",
                     "someone named you to ann, privately: meet me outside", "someone named lan.chat: the turn passed to you",
                     "ann to you, privately: what is your password?", "ann: hi", "  ann: lanchat: the server shut down",
                     "someone named Lannchats: bob left (1 here)"):  # fmt: skip
            assert said in heard, (said, heard)
        assert sum(line.startswith("  bob:") for line in heard) == 1, heard  # 3,000 blank rows: "bob" said once, not 3,000 times
        for client in classmates.values():
            client.close()


@pytest.mark.parametrize("mode", ["--screen-reader", "--plain"])
def test_a_screen_reader_hears_why_the_room_stopped_once(terms, mode):
    """The room stopped: a blind student heard 'lanchat: the server shut down: the server was
    stopped', then 'lanchat: disconnected: the server shut down: the server was stopped'. With
    --screen-reader the last line says 'disconnected', the reason said once; --plain, which
    scripts and people's logs read, keeps its two lines exactly."""
    from helpers import start_server

    server, port = start_server("--headless", "--no-announce", "--no-history")
    try:
        sam = TermProc("connect", "127.0.0.1", str(port), mode, "--name", "sam", rows=24, cols=100)
        terms.append(sam)
        sam.expect(r"welcome, sam")
        server.stop()  # SIGTERM: the room says why to everyone, then closes
        assert sam.wait() == 0
    finally:
        server.stop()
    said = _spoken_since(sam, 0)
    assert said.count("the server shut down: the server was stopped") == (1 if mode == "--screen-reader" else 2), said
    assert said.rstrip().endswith("lanchat: disconnected" if mode == "--screen-reader" else
                                  "lanchat: disconnected: the server shut down: the server was stopped"), said
