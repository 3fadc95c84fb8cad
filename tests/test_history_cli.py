"""History end to end: real `lanchat serve` processes on real files, plain clients, export,
read-only and full files, a damaged file, and SIGKILL under traffic."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, Proc, RawClient, child_env

from lanchat import events as ev
from lanchat.files import human_size
from lanchat.history import HistoryStore
from lanchat.transport import Endpoint

LANCHAT = [sys.executable, "-m", "lanchat"]


def serve(db, *extra: str, prefix: tuple[str, ...] = (), env: dict[str, str] | None = None) -> tuple[Proc, int]:
    """A headless server keeping its history in ``db``; returns the process and its port.
    Flood limits are lifted: these tests push traffic at the history on purpose."""
    history = ("--history", str(db)) if db is not None else ()
    proc = Proc(
        "serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-limits", *history, *extra,
        program=[*prefix, *LANCHAT], env=env,
    )
    port = int(proc.expect(r"listening on port (\d+)").group(1))
    return proc, port


def connect(port: int, name: str) -> Proc:
    proc = Proc("connect", "127.0.0.1", str(port), "--name", name)
    proc.expect(rf"welcome, {name}")
    return proc


def run_lanchat(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LANCHAT, *args], capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=timeout
    )


def line_index(proc: Proc, pattern: str) -> int:
    import re

    proc.expect(pattern)
    return next(i for i, line in enumerate(proc.lines) if re.search(pattern, line))


def stored_texts(db) -> list[str]:
    """What the history holds, journal included (a killed server leaves its newest rows there),
    read as `lanchat history` reads it; the file must be a sound database."""
    check = HistoryStore(db, create=False)
    try:
        assert check.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [record.text for record in check.export()]
    finally:
        check.close()


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stop_all(*procs: Proc | None) -> None:
    for proc in procs:
        if proc is not None:
            proc.stop()


def test_rejoining_after_a_restart_shows_history_and_dms_kept_while_away(tmp_path):
    db = tmp_path / "chat.sqlite3"
    server = ann = bob = carl = None
    try:
        server, port = serve(db)
        ann, bob = connect(port, "ann"), connect(port, "bob")
        ann.send("hello before the restart")
        bob.expect(r"ann: hello before the restart")
        bob.send("/q")
        assert bob.wait() == 0
        ann.expect(r"bob left")
        ann.send("/w bob kept while you were away")
        ann.expect(r"ann -> bob \(direct\): kept while you were away")
        ann.expect(r"bob is not here now; they will see it when they come back")
        ann.send("/w nobody hello?")
        ann.expect(r"nobody called 'nobody' is here")
        server.stop()
        ann.wait()

        server, port = serve(db)  # the same file, a new process
        bob = connect(port, "bob")
        first = line_index(bob, r"\[History\] ann: hello before the restart$")
        second = line_index(bob, r"\[History\] ann -> bob \(direct\): kept while you were away$")
        end = line_index(bob, r"end of history \(2 shown\)")
        assert first < second < end
        carl = connect(port, "carl")
        carl.expect(r"\[History\] ann: hello before the restart$")
        carl.expect(r"end of history \(1 shown\)")
        bob.expect(r"carl joined")
        carl.send("live after history")
        bob.expect(r"\] carl: live after history$", start=end)
        bob.send("/history")
        bob.expect(r"no earlier history")
        assert "kept while you were away" not in carl.output  # nobody sees another's direct messages
    finally:
        stop_all(ann, bob, carl, server)
    assert stored_texts(db) == ["hello before the restart", "kept while you were away", "live after history"]


def test_a_headless_room_says_its_history_is_on_the_servers_machine(tmp_path):
    """serve --headless has no host: 'on the host's machine' named someone who is not there."""
    server, port = serve(tmp_path / "chat.sqlite3")
    ann = None
    try:
        ann = connect(port, "ann")
        ann.expect(r"this room keeps history on the server's machine$")
        assert "host's machine" not in ann.output
    finally:
        stop_all(ann, server)


def test_history_command_shows_more_in_a_plain_client(tmp_path):
    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    for i in range(8):
        store.append(time=1_700_000_000 + i, sender="old", text=f"old {i}")
    store.close()
    server = ann = None
    try:
        server, port = serve(db, "--replay", "3")
        ann = connect(port, "ann")
        ann.expect(r"end of history \(3 shown; /history shows earlier ones\)")
        assert "old 4" not in ann.output
        mark = ann.mark()
        ann.send("/history 4")
        ann.expect(r"\[History\] old: old 1$", start=mark)
        ann.expect(r"\[History\] old: old 4$", start=mark)
        ann.expect(r"end of history \(4 shown; /history shows earlier ones\)", start=mark)
        mark = ann.mark()
        ann.send("/history")
        ann.expect(r"\[History\] old: old 0$", start=mark)
        ann.expect(r"end of history \(1 shown\)$", start=mark)
        ann.send("/history zero")
        ann.expect(r"usage: /history \[N\]")
    finally:
        stop_all(ann, server)


def test_export_as_text_and_jsonl_with_since(tmp_path):
    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    now = time.time()
    store.append(time=now - 7200, sender="ann", text="two hours ago")
    store.append(time=now - 60, sender="ann", to="bob", text="a minute ago")
    store.close()
    text = run_lanchat("history", str(db))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("] ann: two hours ago")
    assert lines[1].endswith("] ann -> bob (direct): a minute ago")
    jsonl = run_lanchat("history", str(db), "--format", "jsonl", "--since", "1h")
    assert jsonl.returncode == 0, jsonl.stderr
    (only,) = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert (only["from"], only["to"], only["text"]) == ("ann", "bob", "a minute ago")
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(now + 2 * 86400))
    assert run_lanchat("history", str(db), "--since", tomorrow).stdout == ""
    for typed in ("yesterday-ish", "\u00b2m", "1" * 5000 + "m"):  # "²m" read "invalid _since value"
        bad = run_lanchat("history", str(db), "--since", typed)
        assert bad.returncode == 2 and "is not a time: use a date" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    missing = run_lanchat("history", str(tmp_path / "none.sqlite3"))
    assert missing.returncode == 1 and "no such history file" in missing.stderr
    assert not (tmp_path / "none.sqlite3").exists()  # exporting never creates a file



def test_history_at_the_projector_shows_who_whispered_to_whom_and_never_what(tmp_path):
    """The teacher reviewing the lesson at a 64x18 projector with `lanchat history --since 45m`
    (the guide's last step) showed the class every direct message in full (`ann -> teacher
    (direct): I'm stuck and my parents are splitting up`), --projector reaching only the chat.
    `history --projector` shows it as the chat's projector mode does: who wrote to whom, not what."""
    from helpers import TermProc

    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    now = time.time()
    store.append(time=now - 120, sender="teacher", text="framing: a length first")
    store.append(time=now - 60, sender="ann", to="teacher", text="I'm stuck and my parents are splitting up")
    store.append(time=now - 30, sender="ann", text="got it")
    store.close()
    term = TermProc("history", str(db), "--since", "45m", "--projector", rows=18, cols=64)
    try:
        term.expect(r"ann: got it")
        assert term.wait() == 0
    finally:
        term.stop()
    screen = term.text
    assert "teacher: framing: a length first" in screen and "ann -> teacher (direct): (hidden by" in screen, screen
    assert "stuck" not in screen and "parents" not in screen, screen
    jsonl = run_lanchat("history", str(db), "--format", "jsonl", "--projector")
    assert "stuck" not in jsonl.stdout and json.loads(jsonl.stdout.splitlines()[1])["to"] == "teacher", jsonl.stdout
    whole = run_lanchat("history", str(db))  # without it, the whole text, as before (a file for the records)
    assert "ann -> teacher (direct): I'm stuck and my parents are splitting up" in whole.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["history", "--since", "0001-01-01"], "'0001-01-01' is too long ago for this computer's clock: give a later date"),
        (["history", "prune", "--before", "0001-01-01"], "'0001-01-01' is too long ago for this computer's clock"),
        (["history", "prune", "--keep-days", "99999"], "'99999' is not a number of days (more than 0, at most 36,500,"),
        (["serve", "--keep-days", "40000"], "'40000' is not a number of days (more than 0, at most 36,500,"),
    ],
)
def test_a_time_or_a_number_of_days_out_of_range_is_told_why(capsys, args, said):
    """--since 0001-01-01 read "invalid _since value" (argparse naming a function: the date parsed,
    but local time has no clock value for it); --keep-days 99999 read "is not a number of days
    (more than 0 ...)", though it is more than 0: the limit it passed was not said."""
    from lanchat.cli.args import build_parser, build_prune_parser

    parse = build_prune_parser().parse_args if args[1] == "prune" else build_parser().parse_args
    with pytest.raises(SystemExit) as stopped:
        parse(args[2:] if args[1] == "prune" else args)
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert said in line and "_since" not in line, line


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_history_to_a_terminal_that_is_not_utf8_shows_what_it_can_and_jsonl_stays_exact(tmp_path, encoding):
    """`lanchat history` at a Latin-1 (or ASCII) terminal ended in a UnicodeEncodeError traceback
    at the first name or message it could not show. Now what it cannot show is '?', as on the
    chat screen, and --format jsonl, for scripts, escapes it (\\u2615) so the text stays exact."""
    db = tmp_path / "h.sqlite3"
    store = HistoryStore(db)
    store.append(time=time.time(), sender="\u00e9l\u00e8ve", text="caf\u00e9 \u2615")
    store.close()
    env = child_env(PYTHONIOENCODING=encoding)
    text = subprocess.run([*LANCHAT, "history", str(db)], capture_output=True, env=env, cwd=ROOT, timeout=30)
    assert text.returncode == 0 and b"Traceback" not in text.stderr, text.stderr
    assert text.stdout.decode(encoding).endswith("\u00e9l\u00e8ve: caf\u00e9 ?\n" if encoding == "latin-1" else "?l?ve: caf? ?\n")
    jsonl = subprocess.run([*LANCHAT, "history", str(db), "--format", "jsonl"], capture_output=True, env=env, cwd=ROOT, timeout=30)
    assert jsonl.returncode == 0, jsonl.stderr
    record = json.loads(jsonl.stdout.decode("ascii"))
    assert (record["from"], record["text"]) == ("\u00e9l\u00e8ve", "caf\u00e9 \u2615")

PASTES = [
    "here is my code:\n    def f(x):\n        return x\n\n[not a new entry]\nend",
    "one line",
    "trailing\n",
    "\nleading blank",
]


def test_a_pasted_block_exports_as_indented_lines_and_comes_back_whole(tmp_path):
    """txt joined a multi-line paste into one line with a visible mark ('code:↵    def f(x):↵');
    now each further line goes under the first, indented, and the transcript reads back to the
    very texts; jsonl gives them exactly, line breaks and all."""
    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    for number, text in enumerate(PASTES):
        store.append(time=time.time() - 60 + number, sender="ann", to="bob" if number == 2 else None, text=text)
    store.close()
    exported = run_lanchat("history", str(db))
    assert exported.returncode == 0, exported.stderr
    assert "\u21b5" not in exported.stdout
    assert "\n    def f(x):" not in exported.stdout  # under the text, not at a fixed margin
    entries: list[tuple[str, list[str]]] = []
    for line in exported.stdout.split("\n")[:-1]:
        if line.startswith("["):
            head = re.match(r"\[[^]]*\] [^:]*: ", line).group(0)  # type: ignore[union-attr]
            entries.append((head, [line[len(head):]]))
        else:
            head, lines = entries[-1]
            assert line.startswith(" " * len(head)), line  # every further line under the first's text
            lines.append(line[len(head):])
    assert ["\n".join(lines) for _, lines in entries] == PASTES
    assert entries[2][0].endswith("] ann -> bob (direct): ")
    jsonl = run_lanchat("history", str(db), "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    assert [json.loads(line)["text"] for line in jsonl.stdout.splitlines()] == PASTES


def test_since_a_time_of_day_means_today_and_an_empty_export_says_so(tmp_path):
    """`--since 14:30` was refused as "not a time", and an export matching nothing printed
    nothing at all. HH:MM and HH:MM:SS are today at that local time; nothing found says so."""
    import datetime

    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    midnight = datetime.datetime.combine(datetime.date.today(), datetime.time()).timestamp()  # local
    store.append(time=midnight + 30, sender="ann", text="just after midnight")
    store.append(time=midnight + 90, sender="ann", text="a minute later")
    store.append(time=midnight - 3600, sender="ann", text="yesterday")
    store.close()
    for since in ("00:01", "0:01:00", "00:01:30"):
        shown = run_lanchat("history", str(db), "--since", since)
        assert shown.returncode == 0 and shown.stderr == "", (since, shown.stderr)
        assert [line.split("] ", 1)[1] for line in shown.stdout.splitlines()] == ["ann: a minute later"], since
    none = run_lanchat("history", str(db), "--since", "00:01:31")
    assert none.returncode == 0 and none.stdout == ""
    assert none.stderr == f"no messages since {time.strftime('%Y-%m-%d', time.localtime(midnight))} 00:01:31 in {db}\n"
    for bad in ("25:00", "14:3", "14:30:60"):
        refused = run_lanchat("history", str(db), "--since", bad)
        assert refused.returncode == 2 and "is not a time" in refused.stderr and "14:30 (today)" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert "14:30 or 14:30:15: today" in " ".join(run_lanchat("history", "--help").stdout.split())


def test_history_without_a_path_names_the_rooms_kept_when_the_default_port_has_none():
    # a room served on port 4000: `lanchat history` looked for port 3580's file and said only
    # "no such history file", though the history sat right beside it
    env = child_env()
    folder = os.path.join(env["XDG_DATA_HOME"], "lanchat")
    os.makedirs(folder)
    HistoryStore(os.path.join(folder, "history-4000.sqlite3")).close()
    shown = subprocess.run([*LANCHAT, "history"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=30)
    assert shown.returncode == 1 and "history-3580.sqlite3: no such history file" in shown.stderr
    assert "rooms kept in that folder: --port 4000" in shown.stderr and "Traceback" not in shown.stderr
    assert not os.path.exists(os.path.join(folder, "history-3580.sqlite3"))


def test_the_rooms_kept_are_named_in_port_order_and_none_is_left_out_unsaid(tmp_path):
    """Rooms started with --port 0 each keep a file: the list `lanchat history --port N` gives of
    the rooms kept read '--port 33987, --port 35007, --port 3580' (the names' order, not the
    ports'), and past the tenth it stopped without a word, hiding the very room looked for. An
    older lanchat's one file for every room (history.sqlite3) was not named at all."""
    from lanchat.cli.history_file import _rooms_kept

    for port in (3580, 35007, 33987, 80, *range(40000, 40010)):
        (tmp_path / f"history-{port}.sqlite3").write_bytes(b"")
    (tmp_path / "history-unix-7876e4cb3118.sqlite3").write_bytes(b"")
    said = _rooms_kept(tmp_path)
    assert said.startswith("--port 80, --port 3580, --port 33987, --port 35007, --port 40000, "), said
    assert said.endswith(", --port 40005, and 5 more"), said
    (tmp_path / "history.sqlite3").write_bytes(b"")  # an older lanchat's, for every room: named too, after the count
    said = _rooms_kept(tmp_path)
    assert said.endswith(f", --port 40005, and 5 more, {tmp_path / 'history.sqlite3'} (an older lanchat's, for every room)"), said


def test_names_without_a_port_names_the_rooms_kept_when_the_default_port_has_none():
    # a student lost their key after a lesson on port 41197 (`serve --port 0`): `lanchat names
    # release ann` looked for port 3580's file and said only "no such history file"
    env = child_env()
    folder = os.path.join(env["XDG_DATA_HOME"], "lanchat")
    os.makedirs(folder)
    HistoryStore(os.path.join(folder, "history-41197.sqlite3")).close()
    for action in (["list"], ["release", "ann"]):
        shown = subprocess.run([*LANCHAT, "names", *action], capture_output=True, text=True, env=env, cwd=ROOT, timeout=30)
        assert shown.returncode == 1 and "history-3580.sqlite3: no such history file" in shown.stderr
        assert "rooms kept in that folder: --port 41197" in shown.stderr and "Traceback" not in shown.stderr
    assert not os.path.exists(os.path.join(folder, "history-3580.sqlite3"))


def test_a_damaged_history_is_refused_at_start_and_left_untouched(tmp_path):
    db = tmp_path / "chat.sqlite3"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    before = digest(db)
    result = run_lanchat("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(db))
    assert result.returncode == 1
    assert "is not a usable history database" in result.stderr and "--no-history" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout and "listening" not in result.stdout
    assert digest(db) == before


def test_a_history_folder_that_cannot_be_made_is_not_called_a_file_to_move_aside(tmp_path):
    blocker = tmp_path / "notes.txt"  # a file where the folder should be (as a read-only disk would)
    blocker.write_text("keep me")
    db = blocker / "chat.sqlite3"
    result = run_lanchat("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(db))
    assert result.returncode == 1
    assert f"cannot create the folder {blocker}" in result.stderr and "--no-history" in result.stderr
    assert "left untouched" not in result.stderr and "move it aside" not in result.stderr  # there is no file
    assert blocker.read_text() == "keep me"


def test_a_history_in_a_folder_that_is_not_there_is_refused_and_no_folder_is_made(tmp_path):
    """`serve --history ~/usb/term.sqlite3` with the stick not plugged in made ~/usb on this disk
    and began an empty history there, while `--identity ~/usb/identity.key` was refused: a folder
    the user names is now never made, for either (the default data folder still is, on first use:
    test_default_history_lives_in_the_data_folder_and_no_history_keeps_nothing)."""
    db = tmp_path / "usb" / "term.sqlite3"
    result = run_lanchat("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-announce", "--history", str(db))
    assert result.returncode == 1 and "listening" not in result.stdout
    assert result.stderr.splitlines() == [
        f"lanchat: there is no folder {tmp_path / 'usb'} for the history file term.sqlite3 (a drive not plugged in? a typo?)",
        "  plug the drive in or create the folder, choose another file with --history PATH, or start with --no-history",
    ]
    assert not (tmp_path / "usb").exists()


def test_serve_history_a_link_to_a_file_not_made_yet_starts_the_room(tmp_path):
    """`--history L`, L a link to a file not made yet in a folder that is there: the room starts and
    the file is made through the link, as before 5bf97aa (only a missing folder is refused)."""
    (tmp_path / "sub").mkdir()
    link = tmp_path / "tonew.sqlite3"
    link.symlink_to(tmp_path / "sub" / "new.sqlite3")
    server, _port = serve(link)
    try:
        assert (tmp_path / "sub" / "new.sqlite3").is_file()
    finally:
        stop_all(server)


def test_serve_history_a_link_into_a_missing_folder_names_the_folder(tmp_path):
    """A relative link whose target's folder is missing: the message names that folder."""
    link = tmp_path / "term.sqlite3"
    link.symlink_to("usb/term.sqlite3")
    result = run_lanchat("serve", "--headless", "--no-announce", "--unix", str(tmp_path / "c.sock"), "--history", str(link))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"there is no folder {tmp_path / 'usb'}" in result.stderr, result.stderr
    assert "plug the drive in or create the folder" in result.stderr, result.stderr
    assert not (tmp_path / "usb").exists()


def test_a_history_given_as_a_folder_says_so_and_asks_for_a_file_inside_it(tmp_path):
    folder = tmp_path / "chats"
    folder.mkdir()
    result = run_lanchat("serve", "--unix", str(tmp_path / "s"), "--headless", "--history", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout
    assert f"{folder} is a folder, not a history file" in result.stderr
    assert f"give a file inside it, e.g. --history {folder / 'history.sqlite3'}, or start with --no-history" in result.stderr
    assert "move it aside" not in result.stderr and "left untouched" not in result.stderr
    assert list(folder.iterdir()) == []


def test_default_history_lives_in_the_data_folder_and_no_history_keeps_nothing():
    env = child_env()
    server = ann = None
    try:
        server, port = serve(None, env=env)
        # one file per endpoint: port 0 asked for here, named by the port it got (two rooms never share a history)
        expected = os.path.join(env["XDG_DATA_HOME"], "lanchat", f"history-{port}.sqlite3")
        server.expect(rf"history: {expected} \(the last 50 messages are replayed on joining\)")
        assert os.path.exists(expected)
        server.stop()
        unix_path = os.path.join(env["XDG_DATA_HOME"], "room.sock")
        server = Proc("serve", "--unix", unix_path, "--headless", env=env)
        other = server.expect(r"history: (\S+) \(").group(1)
        assert other != expected and os.path.basename(other).startswith("history-unix-")
        server.stop()
        env = child_env()
        server, port = serve(None, "--no-history", env=env)
        server.expect(r"history: off \(--no-history\)")
        ann = connect(port, "ann")
        ann.send("/history")
        ann.expect(r"this server keeps no history")
        assert not os.path.exists(os.path.join(env["XDG_DATA_HOME"], "lanchat", "history.sqlite3"))
    finally:
        stop_all(ann, server)


def test_serve_help_names_the_history_file_serve_really_uses():
    """`serve --help` said the default was history.sqlite3; serve uses one file per port."""
    from lanchat.history import default_path

    shown = subprocess.run(
        [sys.executable, "-m", "lanchat", "serve", "--help"], capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=30,
    )  # fmt: skip
    text = " ".join(shown.stdout.split()).replace("- ", "-")  # argparse wraps at hyphens too
    assert default_path(port=3580).name in text and "history-PORT.sqlite3" in text


def read_only_prefix() -> tuple[str, ...]:
    """Root ignores file modes; drop the capabilities that let it, so 0444 really is read-only."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only file cannot be made")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--")


def test_a_read_only_history_warns_replays_and_the_chat_goes_on(tmp_path):
    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    store.append(time=time.time(), sender="old", text="from before")
    store.close()
    db.chmod(0o444)
    before = digest(db)
    server = ann = bob = None
    try:
        server, port = serve(db, prefix=read_only_prefix())
        server.expect(r"warning: cannot write the history \(.*readonly.*\): earlier messages are replayed")
        ann = connect(port, "ann")
        ann.expect(r"\[History\] old: from before$")
        bob = connect(port, "bob")
        ann.send("said while read-only")
        bob.expect(r"\] ann: said while read-only$")
        bob.send("/w ann still private")
        ann.expect(r"bob -> ann \(direct\): still private")
    finally:
        stop_all(ann, bob, server)
    assert "Traceback" not in server.output
    assert digest(db) == before
    assert stored_texts(db) == ["from before"]


def test_a_new_history_in_a_folder_that_may_not_be_written_says_why_not_sqlites_words(tmp_path):
    """`serve --history` naming a new file in a folder the teacher may not write (a read-only USB
    stick, a shared folder): the start line said SQLite's 'cannot open PATH: unable to open
    database file', which names neither the folder nor what is wrong with it."""
    folder = tmp_path / "stick"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        proc = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history", str(folder / "h.sqlite3"),
                    program=[*read_only_prefix(), *LANCHAT])  # fmt: skip
        assert proc.wait() == 1
    finally:
        folder.chmod(0o755)
    assert proc.lines[0] == f"lanchat: cannot create {folder / 'h.sqlite3'}: permission denied", proc.output
    assert "unable to open" not in proc.output and not list(folder.iterdir())


def test_a_full_disk_refuses_unsaved_messages_warns_once_and_the_chat_goes_on(tmp_path):
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is needed to cap the file size")
    import re

    db = tmp_path / "chat.sqlite3"
    HistoryStore(db).close()
    server = ann = None
    bob: RawClient | None = None
    # Files the server writes may not grow past 96 KiB (a soft limit, lifted later: the disk
    # frees up): the WAL fills up as the disk would.
    try:
        server, port = serve(db, prefix=("prlimit", f"--fsize={96 * 1024}:unlimited", "--"))
        ann = connect(port, "ann")
        bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
        # 2 KiB each: more than the journal (96 KiB) and SQLite's WAL (96 KiB) can take
        sent = [f"{i:03d} " + "filler " * 300 for i in range(120)]
        # The first one alone, so it is committed while the file can still grow (the rest may
        # come in one pass, one commit, that the cap refuses whole: 0 stored would prove nothing).
        ann.send(sent[0])
        received = [bob.expect(ev.Message, timeout=20).text]
        for text in sent[1:]:
            ann.send(text)
        server.expect(r"history: cannot use .*; the chat goes on")
        refusal = r"not sent: '(\d{3}) filler"
        ann.expect(refusal, timeout=20)  # the sender is told, in their own chat

        def accounted() -> bool:  # every message was either delivered or refused to its sender
            received.extend(event.text for event in bob.drain(0.05) if isinstance(event, ev.Message))
            refused = {int(m.group(1)) for line in ann.lines if (m := re.search(refusal, line))}
            return len(received) + len(refused) == len(sent)

        deadline = time.monotonic() + 30
        while not accounted() and time.monotonic() < deadline:
            pass
        assert accounted(), (len(received), ann.output[-2000:])
        # the disk frees up: later messages are delivered and stored again
        subprocess.run(["prlimit", "--pid", str(server.popen.pid), "--fsize=unlimited"], check=True, timeout=10)
        ann.send("after the disk freed up")
        assert bob.expect(ev.Message, timeout=20).text == "after the disk freed up"
        server.expect(r"history: saving to .* again")
        # One warning per run of failures, not one per message: a journal write that fails is
        # cut back, so a smaller pass may still fit and end the run; the next failure starts one.
        said = [line for line in server.lines if "the chat goes on" in line or re.search(r"saving to .* again", line)]
        assert said and all(("the chat goes on" in line) == (i % 2 == 0) for i, line in enumerate(said)), server.output
    finally:
        if bob is not None:
            bob.close()
        stop_all(ann, server)
    assert "Traceback" not in server.output
    stored = stored_texts(db)  # and the file is still a sound database
    assert 0 < len(received) < len(sent)
    # exactly what was delivered was stored, in order: nothing refused is in the file
    assert stored == [*received, "after the disk freed up"]


def test_sigkill_under_traffic_never_loses_a_message_anyone_received(tmp_path):
    db = tmp_path / "chat.sqlite3"
    received: list[str] = []
    for round_number in range(5):
        server, port = serve(db)  # a clean start proves the file opens after each kill
        endpoint = Endpoint(host="127.0.0.1", port=port)
        listener = RawClient(endpoint, "listener")
        talker = RawClient(endpoint, "talker")
        try:
            burst = b"".join(
                talker.proto.send(ev.Say(text=f"r{round_number} m{i}")) for i in range(300)
            )
            talker.send_raw(burst)  # 300 messages in flight while the server is killed
            threshold = 30 + 50 * round_number
            live: list[str] = []
            deadline = time.monotonic() + 20
            while len(live) < threshold:
                assert time.monotonic() < deadline, f"round {round_number}: only {len(live)} messages arrived"
                event = listener.expect(object, timeout=10)
                if isinstance(event, ev.Message) and not event.history:
                    live.append(event.text)
            server.popen.kill()  # SIGKILL: no shutdown, no checkpoint, no goodbye
            server.popen.wait(10)
            rest = listener.until_closed()  # whatever the kernel had already delivered, then the end
            assert not any(isinstance(event, ev.Shutdown) for event in rest)  # killed, not shut down
            live += [e.text for e in rest if isinstance(e, ev.Message) and not e.history]
            received += live
        finally:
            listener.close()
            talker.close()
            server.stop()
    stored = set(stored_texts(db))
    missing = [text for text in received if text not in stored]
    assert not missing, f"{len(missing)} received messages are not in the history: {missing[:5]}"
    assert len(received) >= 30 + 80 + 130 + 180 + 230


def test_the_host_keeps_history_too_and_sees_it_after_a_restart(tmp_path):
    db = tmp_path / "chat.sqlite3"
    host = bob = None

    def start_host() -> tuple[Proc, int]:
        proc = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "host", "--history", str(db))
        port = int(proc.expect(r"listening on port (\d+)").group(1))
        proc.expect(r"welcome, host")
        return proc, port

    try:
        host, port = start_host()
        host.expect(r"this room keeps history on this machine$")  # the host's own: this one
        bob = connect(port, "bob")
        bob.expect(r"this room keeps history on the host's machine$")
        host.send("from the host")
        bob.expect(r"\] host: from the host$")
        bob.send("/q")
        assert bob.wait() == 0
        host.expect(r"bob left")
        host.send("/w bob kept by the host")
        host.expect(r"bob is not here now")
        assert host.output.count("join with") == 1  # nothing replayed: how to join is said once, at the top
        host.send("/q")
        assert host.wait() == 0
        host, port = start_host()
        host.expect(r"\[History\] host: from the host$")
        host.expect(r"\[History\] host -> bob \(direct\): kept by the host$")
        # below the replay, how to join again: the banner above it has scrolled away in a long one
        end = line_index(host, r"-!- end of history \(2 shown\)$")
        host.expect(rf"-!- python -m lanchat connect 127\.0\.0\.1 {port}$")
        assert re.search(rf"-!- lanchat: .* listening on port {port}; join with:$", host.lines[end + 1]), host.output
        bob = connect(port, "bob")
        bob.expect(r"\[History\] host: from the host$")
        bob.expect(r"\[History\] host -> bob \(direct\): kept by the host$")
        bob.expect(r"end of history \(2 shown\)")
    finally:
        stop_all(bob, host)


def test_history_at_an_80_column_terminal_folds_long_lines_at_spaces_under_the_text(tmp_path):
    """A teacher reviewing the lesson with `lanchat history` at a terminal read 'recv may re' /
    'turn fewer bytes': the terminal cut each long entry mid-word, back at column 0, under the
    timestamps. At a terminal an entry now folds at spaces, its further rows under its text (a
    pasted block's lines two columns further in, so they still read as lines of their own); to a
    pipe or a file each line stays whole (test_a_pasted_block_exports_as_indented_lines_...)."""
    from helpers import TermProc

    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    said = "look at the while loop in recv_exactly: recv may return fewer bytes than you asked for, so keep a buffer"
    store.append(time=time.time() - 60, sender="teacher", to=None, text=said)
    store.append(time=time.time() - 59, sender="eve", to=None, text="my code:\n" + "def recv_exactly(sock, n):  # please look at it, I think it is right " * 2)
    store.close()
    term = TermProc("history", str(db), rows=24, cols=80)
    try:
        term.wait_finished()  # (not only the process gone: its last rows could still be unread)
        rows = [row.rstrip() for row in term.lines if row.strip()]
        head = re.match(r"\[[^]]*\] teacher: ", rows[0]).group(0)  # type: ignore[union-attr]
        assert all(len(row) <= 80 for row in rows), rows
        at_eve = next(at for at, row in enumerate(rows) if row.startswith("[") and "] eve: " in row)
        assert at_eve > 1 and all(row.startswith(" " * len(head)) and row[len(head)] != " " for row in rows[1:at_eve]), rows  # under the text
        assert " ".join(row.strip() for row in rows[:at_eve])[len(head):] == said, rows  # no word cut
        pasted = [row for row in rows if "def recv_exactly" in row]
        eve = len(re.match(r"\[[^]]*\] eve: ", rows[at_eve]).group(0))  # type: ignore[union-attr]
        assert pasted[0].startswith(" " * eve + "def"), rows
        after = rows[rows.index(pasted[0]) + 1]
        assert after.startswith(" " * (eve + 2)) and not after.startswith(" " * (eve + 3)), rows  # its fold, two further in
    finally:
        term.stop()


def _as_someone_else(check) -> str:  # noqa: ANN001
    """``check()``'s answer (a str) as another user than the folder's owner: root reads every
    folder, so as root a forked child (the interpreter already loaded: nothing to exec from a
    folder nobody may read) drops to nobody first."""
    if os.geteuid() != 0:
        return check()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return into pytest
        code = 1
        try:
            os.close(reader)
            os.setgid(65534)
            os.setuid(65534)
            os.write(writer, check().encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - said to the parent, which fails the test
            os.write(writer, f"raised {type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        said = pipe.read().decode()
    os.waitpid(pid, 0)
    return said


def test_a_history_file_or_downloads_folder_behind_a_folder_you_may_not_read_is_one_line(tmp_path):
    """`--history /root/h.sqlite3` or `--downloads /root/dl` as a student on a shared machine:
    Python 3.11's Path.exists() and is_dir() raise PermissionError there, which serve, history,
    names and connect printed as a traceback."""
    import argparse

    from lanchat.cli.args import _folder
    from lanchat.history import HistoryUnusable

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    os.chmod(locked, 0o000 if os.geteuid() != 0 else 0o700)  # as root: owned by root, the child is nobody

    def check() -> str:
        said = []
        for create in (True, False):  # serve's store, and history's / names' reader
            try:
                HistoryStore(locked / "h.sqlite3", create=create)
                said.append("opened")
            except HistoryUnusable as exc:
                said.append(str(exc))
        try:
            _folder(str(locked / "dl"))
        except argparse.ArgumentTypeError as exc:
            said.append(str(exc))
        return "\n".join(said)

    try:
        said = _as_someone_else(check)
    finally:
        os.chmod(locked, 0o700)
    assert said.split("\n") == [
        f"cannot read {locked / 'h.sqlite3'}: Permission denied",
        f"cannot read {locked / 'h.sqlite3'}: Permission denied",
        f"'{locked / 'dl'}' cannot be reached (Permission denied)",
    ], said


def test_a_room_on_port_0_keeps_its_history_under_the_port_it_got():
    """`serve --port 0`'s default history is named by the port it got, as the banner says: a
    restart on that port replays the lesson, and a second room on port 0 at the same time
    starts with a file of its own (both were history-0.sqlite3: the second was refused)."""
    env = child_env()  # one data folder: the same machine, the same user
    args = ("serve", "--headless", "--host", "127.0.0.1", "--no-announce")
    first = Proc(*args, "--port", "0", env=env)
    second = restarted = None
    try:
        port = int(first.expect(r"listening on port (\d+)").group(1))
        assert first.expect(r"history: (\S+)").group(1).endswith(f"history-{port}.sqlite3")
        second = Proc(*args, "--port", "0", env=env)
        other = int(second.expect(r"listening on port (\d+)").group(1))
        assert second.expect(r"history: (\S+)").group(1).endswith(f"history-{other}.sqlite3")
        ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
        ann.send(ev.Say(text="the length header is 4 bytes"))
        ann.expect(ev.Message, text="the length header is 4 bytes")
        ann.close()
        first.stop()
        restarted = Proc(*args, "--port", str(port), env=env)
        restarted.expect(r"listening on port")
        bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
        bob.expect(ev.Message, text="the length header is 4 bytes", history=True)
        bob.close()
    finally:
        for proc in (first, second, restarted):
            if proc is not None:
                proc.stop()


def test_history_prune_drops_a_stopped_rooms_old_messages_by_port_and_keeps_the_rest():
    # a teacher's room on port 4000, a term later: the September chat goes, the rest stays
    env = child_env()
    folder = os.path.join(env["XDG_DATA_HOME"], "lanchat")
    os.makedirs(folder)
    store = HistoryStore(os.path.join(folder, "history-4000.sqlite3"))
    september = time.mktime((2026, 9, 10, 12, 0, 0, 0, 0, -1))
    for i in range(1200):
        store.keep(time=september + i, sender="ann", text=f"old {i}")
    store.keep(time=september, sender="ann", text="a direct one", to="bob", sender_owner=b"a" * 32, recipient_owner=b"b" * 32)
    store.keep(time=time.time(), sender="bob", text="this week")
    store.commit()
    store.set_room_topic(ev.Topic(text="term 1", by="ann", time=september))
    store.close()
    pruned = subprocess.run([*LANCHAT, "history", "prune", "--before", "2026-10-01", "--port", "4000"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=30)  # fmt: skip
    assert pruned.returncode == 0, pruned.stderr
    assert "dropped 1,201 messages (room and direct) from before 2026-10-01 00:00" in pruned.stdout
    assert "1 message since 20" in pruned.stdout and "Traceback" not in pruned.stderr
    kept = HistoryStore(os.path.join(folder, "history-4000.sqlite3"), create=False)
    assert [r.text for r in kept.export()] == ["this week"] and kept.room_topic().text == "term 1"  # the term's whispers went too
    kept.close()
    missing = subprocess.run([*LANCHAT, "history", "prune", "--keep-days", "30"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=30)
    assert missing.returncode == 1 and "history-3580.sqlite3: no such history file" in missing.stderr
    assert "--port 4000" in missing.stderr and not os.path.exists(os.path.join(folder, "history-3580.sqlite3"))


def a_term_of_chat(db, messages: int = 20_000) -> None:
    """A history of ``messages`` room messages of about 400 characters (9 MiB for 20,000), one a
    second from 2001-09-09 01:46:40 UTC on, moved into SQLite."""
    store = HistoryStore(db)
    for i in range(messages):
        store.keep(time=1e9 + i, sender="ann", text=f"{i} " + "the length header comes first " * 13)
    store.commit()
    store.count()
    store.close()


def test_history_prune_gives_the_space_back_and_compact_gives_back_what_a_no_compact_prune_left():
    """A teacher prunes to free disk space: the file shrinks to what it holds and the line says
    by how much (it kept its size: SQLite reuses the space). With --no-compact it keeps its size,
    says so, and `history compact` gives the space back later; every message left is intact."""
    env = child_env(TZ="UTC")
    folder = os.path.join(env["XDG_DATA_HOME"], "lanchat")
    os.makedirs(folder)
    db, other = os.path.join(folder, "history-4000.sqlite3"), os.path.join(folder, "term.sqlite3")
    a_term_of_chat(db)
    shutil.copy(db, other)
    size = os.path.getsize(db)
    assert size > 8 << 20
    lanchat = lambda *args: subprocess.run([*LANCHAT, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)  # noqa: E731
    pruned = lanchat("history", "prune", "--port", "4000", "--before", "2001-09-09T06:46:40")
    assert pruned.returncode == 0 and pruned.stderr == "", pruned.stderr
    assert "dropped 18,000 messages (room and direct)" in pruned.stdout and "2,000 messages since 2001-09-09" in pruned.stdout
    after = os.path.getsize(db)
    assert after < size / 8 and not os.path.exists(db + "-wal")
    assert pruned.stdout.splitlines()[-1] == f"lanchat: history-4000.sqlite3: {human_size(size)} -> {human_size(after)}"
    kept = stored_texts(db)
    assert len(kept) == 2000 and kept[0].startswith("18000 ") and kept[-1].startswith("19999 ")

    left = lanchat("history", "prune", other, "--before", "2001-09-09T06:46:40", "--no-compact")
    assert left.returncode == 0 and os.path.getsize(other) == size, left.stderr
    assert "(the file keeps its size on disk: new messages reuse the space; 'lanchat history compact' gives it back)" in left.stdout
    compacted = lanchat("history", "compact", other)
    assert compacted.returncode == 0 and compacted.stderr == "", compacted.stderr
    assert compacted.stdout == f"lanchat: term.sqlite3: {human_size(size)} -> {human_size(os.path.getsize(other))}\n"
    assert os.path.getsize(other) == after and stored_texts(other) == kept
    again = lanchat("history", "compact", other)
    assert again.stdout == f"lanchat: term.sqlite3: {human_size(after)}, nothing to give back (under 1 MiB of it is unused)\n"


def test_history_prune_and_compact_refuse_a_running_rooms_history_and_leave_it_as_it_was(tmp_path):
    """The room's server holds the history (the journal's lock): a VACUUM under it would stop the
    room, so both commands say to stop it first, and change nothing."""
    db = tmp_path / "chat.sqlite3"
    a_term_of_chat(db, 3000)
    store = HistoryStore(db)
    store.drop_oldest(before=None, rows=2000)  # space to give back
    store.close()
    before = digest(db)
    server, _ = serve(db)
    try:
        compacted = run_lanchat("history", "compact", str(db))
        pruned = run_lanchat("history", "prune", str(db), "--keep-days", "1")
    finally:
        server.stop()
    assert compacted.returncode == 1 and compacted.stdout == ""
    assert compacted.stderr == f"lanchat: a lanchat server is using {db}: stop it first (/q in its window)\n"
    assert pruned.returncode == 1 and pruned.stdout == "" and "Traceback" not in pruned.stderr
    assert pruned.stderr == f"lanchat: a lanchat server is using {db}: stop it first (/q in its window), or restart it with --keep-days N\n"
    assert len(stored_texts(db)) == 1000 and digest(db) == before


@pytest.mark.parametrize("args", [("history", "/"), ("history", "."), ("history", "compact", "/"), ("names", "list", "--history", ".")])
def test_a_history_path_with_no_file_name_is_a_folder_not_a_traceback(tmp_path, args):
    """`lanchat history /` or `.` (a folder given where the file goes, the path having no last
    name) ended in a ValueError traceback ("PosixPath('/') has an empty name") from naming the
    journal beside it, before the folder check could say what is wrong."""
    result = subprocess.run([*LANCHAT, *args], capture_output=True, text=True, env=child_env(), cwd=tmp_path, timeout=30)
    assert result.returncode == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.stderr == f"lanchat: {args[-1]} is a folder, not a history file\n"


@pytest.mark.parametrize("args", [("history",), ("names", "list", "--history"), ("history", "prune", "--keep-days", "3"),
                                  ("history", "compact")])  # fmt: skip
def test_an_empty_file_given_as_a_history_is_said_to_be_empty_and_left_empty(tmp_path, args):
    """A history file of 0 bytes (emptied by `> file`, a copy that never ran): `lanchat history`
    said 'cannot read PATH: no such table: messages', `names list` printed nothing and exited 0,
    and `history prune` or `compact` wrote a new, empty history of 64 KiB into it."""
    db = tmp_path / "lesson.sqlite3"
    db.write_bytes(b"")
    result = subprocess.run([*LANCHAT, *args, str(db)], capture_output=True, text=True, env=child_env(), cwd=tmp_path, timeout=30)
    assert result.returncode == 1 and result.stdout == "", result
    assert result.stderr == f"lanchat: {db} is empty (0 bytes): it holds no lanchat history\n"
    assert db.stat().st_size == 0 and [file.name for file in tmp_path.iterdir()] == ["lesson.sqlite3"]


@pytest.mark.parametrize("args", [("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--history"), ("history",),
                                  ("history", "prune", "--keep-days", "3"), ("names", "release", "bob", "--history")])  # fmt: skip
def test_a_one_byte_file_given_as_a_history_is_refused_and_kept(tmp_path, args):
    """`echo > lesson.sqlite3` leaves one byte, a newline: SQLite takes a file that short for an
    empty database, and `serve --history lesson.sqlite3` (and `history prune`, `names release`)
    made it a 88 KiB history and started, the file's byte gone (`lanchat history` said 'cannot
    read PATH: no such table: messages'), where any longer file that is no database was refused
    and left untouched. Now it is refused as those are, and nothing is made beside it."""
    db = tmp_path / "lesson.sqlite3"
    db.write_bytes(b"\n")
    result = subprocess.run([*LANCHAT, *args, str(db)], capture_output=True, text=True, env=child_env(), cwd=tmp_path,
                            timeout=30, stdin=subprocess.DEVNULL)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr, result
    assert result.stderr.splitlines()[0] == f"lanchat: {db} is not a usable history database: file is not a database", result.stderr
    assert db.read_bytes() == b"\n" and [file.name for file in tmp_path.iterdir()] == ["lesson.sqlite3"]


@pytest.mark.parametrize("before", ["2099-01-01", "23:59:59"])
def test_history_prune_before_a_time_still_to_come_is_refused_and_drops_nothing(tmp_path, before):
    """`history prune --before 2206-09-01` (the year mistyped), or a time of day still to come, is
    a time every message is from before: the whole term's history went, with no question and no way
    back, said only as 'dropped 40,211 messages'. Now refused, nothing dropped, and how to drop them
    all if that is what was meant."""
    db = tmp_path / "term.sqlite3"
    store = HistoryStore(db)
    store.append(time=time.time() - 60, sender="ann", text="kept")
    store.close()
    if before == "23:59:59" and time.localtime().tm_hour == 23 and time.localtime().tm_min == 59:
        pytest.skip("a minute before midnight, 23:59:59 may already have passed")
    result = subprocess.run([*LANCHAT, "history", "prune", "--before", before, str(db)], capture_output=True, text=True,
                            env=child_env(), cwd=tmp_path, timeout=30)  # fmt: skip
    assert result.returncode == 2 and result.stdout == "", result
    (line,) = result.stderr.splitlines()
    assert "is still to come: every message would go" in line and "--before 0m" in line, line
    assert stored_texts(db) == ["kept"]


def test_history_prune_of_a_damaged_file_leaves_it_untouched_and_says_how_to_save_what_is_left(tmp_path):
    # a laptop that crashed mid-term: prune refuses the file, and says what the teacher can still do
    db = tmp_path / "chat.sqlite3"
    store = HistoryStore(db)
    for i in range(400):
        store.keep(time=1e9 + i, sender="ann", text=f"message {i} " * 40)
    store.commit()
    store.count()
    store.close()
    os.truncate(db, os.path.getsize(db) // 3)
    before = digest(db)
    result = run_lanchat("history", "prune", str(db), "--keep-days", "30")
    assert result.returncode == 1 and "Traceback" not in result.stderr and digest(db) == before
    assert result.stderr.splitlines()[-1] == (
        f"  the file was left untouched: 'lanchat history {db} > saved.txt' saves every message that can still be read"
    )
    compacted = run_lanchat("history", "compact", str(db))  # the same for compact
    assert compacted.returncode == 1 and compacted.stderr == result.stderr and digest(db) == before


def test_a_history_path_whose_name_is_too_long_is_one_line_not_a_traceback(tmp_path):
    """`lanchat history` (and serve --history) with a file name over the system's 255 bytes ended
    in OSError's traceback from the path check; it is one line now."""
    too_long = tmp_path / ("a" * 300)
    done = subprocess.run([sys.executable, "-m", "lanchat", "history", str(too_long)], env=child_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr == f"lanchat: cannot use {too_long}: file name too long\n"


def test_the_rooms_kept_list_names_only_ports_that_port_takes(tmp_path):
    """A file named history-٣٥٨١.sqlite3 (Arabic-Indic digits: decimal to Python) was offered as
    `--port ٣٥٨١`, which --port then refuses; it is listed by its path, after the ports."""
    from lanchat.cli.history_file import _rooms_kept

    for tag in ("3580", "\u0663\u0665\u0668\u0661", "400"):
        (tmp_path / f"history-{tag}.sqlite3").write_bytes(b"")
    assert _rooms_kept(tmp_path) == f"--port 400, --port 3580, {tmp_path / 'history-٣٥٨١.sqlite3'}"


def test_every_history_reader_takes_its_file_as_path_or_as_history_path(tmp_path, capsys):
    """`lanchat history FILE` took its file as an argument and `lanchat names` only as
    `--history PATH`, so a teacher who learnt one form was refused by the other command. Both
    forms work for every command that reads a history file; two different files are refused.
    (In-process through parse_command_line: main() would block this process's stop signals.)"""
    from lanchat.__main__ import parse_command_line
    from lanchat.cli.history_file import cmd_history, cmd_history_compact
    from lanchat.cli.rooms import cmd_names

    def run(*words: str) -> int:
        args = parse_command_line(list(words))
        assert args is not None
        command = {"history": cmd_history, "history compact": cmd_history_compact, "names": cmd_names}[args.command]
        return command(args)

    db = tmp_path / "lesson.sqlite3"
    store = HistoryStore(db)
    store.claim("ann", b"k" * 32)
    store.close()
    for form in ([str(db)], ["--history", str(db)]):
        assert run("names", "list", *form) == 0
        assert capsys.readouterr().out.startswith("ann  ")
        assert run("history", *form) == 0
        assert capsys.readouterr().err == f"no messages in {db}\n"
        assert run("history", "compact", *form) == 0 and "nothing to give back" in capsys.readouterr().out
    assert run("names", "release", "ann", str(db)) == 0
    assert "released 'ann'" in capsys.readouterr().out
    for words in (["history", "other.sqlite3", "--history", str(db)], ["names", "list", "other.sqlite3", "--history", str(db)]):
        with pytest.raises(SystemExit) as refused:
            parse_command_line(words)
        assert refused.value.code == 2
        assert "two history files given, 'other.sqlite3' and --history" in capsys.readouterr().err
    for command in ("history", "names"):
        with pytest.raises(SystemExit):
            parse_command_line([command, "--help"])
        assert "--history PATH" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # the file first, as `history FILE` takes it: the order said
        parse_command_line(["names", "release", str(db), "ann"])
    assert f"the NAME comes first, then the file: `lanchat names release ann {db}`" in capsys.readouterr().err


def test_names_and_history_positionals_that_do_not_fit_are_refused_with_what_to_type(tmp_path, capsys, monkeypatch):
    """`names list ann chat.sqlite3` dropped "ann" and listed (exit 0); `names list chat.sqlite3
    extra` was refused as if extra were the file; `names release chat.sqlite3` (no NAME) looked
    for the default file to release a name 'chat.sqlite3' in; `history --history F F` (the same
    file twice, one written another way) was refused as two files."""
    from lanchat.__main__ import parse_command_line

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "chat.sqlite3"
    HistoryStore(db).close()

    def refused(*words: str) -> str:
        with pytest.raises(SystemExit) as stopped:
            parse_command_line(list(words))
        assert stopped.value.code == 2
        return capsys.readouterr().err

    said = refused("names", "list", "ann", "chat.sqlite3")
    assert "names list takes no NAME (only release does): `lanchat names list chat.sqlite3`" in said, said
    said = refused("names", "list", "chat.sqlite3", "extra")
    assert "names list takes one history file: 'extra' is one word too many" in said, said
    said = refused("names", "release", "chat.sqlite3")
    assert "names release needs the NAME, then the file: `lanchat names release NAME chat.sqlite3`" in said, said
    for same in (str(db), "./chat.sqlite3"):
        args = parse_command_line(["history", "--history", str(db), same])
        assert args is not None and Path(args.path).samefile(db)


def test_serve_history_a_link_to_nothing_says_where_it_points(tmp_path):
    """`serve --history term.sqlite3`, a link to the USB stick not plugged in, read SQLite's
    'cannot open term.sqlite3: unable to open database file'. It says where the link points."""
    link = tmp_path / "term.sqlite3"
    link.symlink_to(tmp_path / "usb" / "term.sqlite3")
    result = run_lanchat("serve", "--headless", "--no-announce", "--unix", str(tmp_path / "c.sock"), "--history", str(link))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"lanchat: {link} is a link to {tmp_path / 'usb' / 'term.sqlite3'}, and there is no folder "
                                    f"{tmp_path / 'usb'} for it (a drive not plugged in? a typo?)\n"), result.stderr  # fmt: skip
    assert not (tmp_path / "usb").exists()


def test_serve_refuses_an_unusable_history_before_it_makes_an_identity_key(tmp_path):
    """A first `serve` with a --history that is not a history: the key was made (and said) before
    the refusal, so a room that never started left a new identity behind. Refused first, made nothing."""
    history = tmp_path / "notes.sqlite3"
    history.write_bytes(b"these are my lesson notes, not a database\n" * 10)
    key = tmp_path / "keys" / "teach.key"
    (tmp_path / "keys").mkdir()
    serve = Proc("serve", "--plain", "--name", "teach", "--unix", str(tmp_path / "chat.sock"), "--history", str(history),
                 "--identity", str(key), stdin=False)  # fmt: skip
    assert serve.wait() == 1
    assert "is not a usable history database" in serve.output, serve.output
    assert "identity key" not in serve.output, serve.output
    assert not key.exists() and os.listdir(tmp_path / "keys") == []
    assert history.read_bytes() == b"these are my lesson notes, not a database\n" * 10


def test_names_list_puts_the_keys_in_one_column_whatever_each_names_width(tmp_path):
    """`lanchat names list` printed each name and its key two spaces apart, so a term's class
    (ann, Bartholomew, 李雷) gave a ragged column of keys that a teacher compares down the page
    with /whois. The keys now start in one column, a wide character counted as two."""
    db = tmp_path / "term.sqlite3"
    store = HistoryStore(db)
    for name, byte in (("ann", b"a"), ("Bartholomew", b"b"), ("\u674e\u96f7", b"c")):
        store.claim(name, byte * 32)
    store.close()
    listing = Proc("names", "list", str(db), stdin=False)
    assert listing.wait() == 0
    from lanchat.textfold import cells

    rows = [line for line in listing.lines if line.strip()]
    assert len(rows) == 3, listing.output
    starts = {cells(row[: re.search(r"[0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4}$", row).start()]) for row in rows}
    assert starts == {len("Bartholomew") + 2}, listing.output
