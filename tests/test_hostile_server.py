"""A malicious server (a student's fake one, or a squatted AF_UNIX path) cannot harm a client.

The server here is a raw socket in the test that reads the client's hello and then writes
exactly the bytes it is told to: OSC (retitle the terminal) and DSR (make the terminal type
an answer into the shell) escapes in every string the client prints after the terminal is
restored, and numbers no real server sends (a time of 1e300, -1e300, 1e20, NaN). The client
runs as a user runs it: in a real pseudo-terminal read by pyte, full screen and --plain.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import threading

import pytest
from helpers import DEFAULT_TIMEOUT, Proc, StandInServer, TermProc, child_env, running_server, short_tmp_dir, wait_for

from lanchat import events as ev
from lanchat import wire
from lanchat.guard import quoted
from lanchat.pacing import MAX_REFUSALS
from lanchat.textview import day_of

pytestmark = pytest.mark.timeout(60)

OSC_TITLE = "\x1b]0;owned\x07"  # would retitle the window to "owned"
DSR = "\x1b[6n"  # would make the terminal answer ESC [ row ; col R, as if typed
EVIL = f"{OSC_TITLE}{DSR}boom"
# The DSR as the server sent it, with its text: the screen asks the terminal a DSR of its own
# (how wide a joined emoji is drawn, ui/screen.py probe_graphemes), which is not the server's.
EVIL_BYTES = (OSC_TITLE.encode(), (DSR + "boom").encode())


def frame_of(obj: dict, *, allow_nan: bool = False) -> bytes:
    return wire.frame(json.dumps(obj, allow_nan=allow_nan).encode("utf-8"))


def welcome(name: str) -> bytes:
    return frame_of({"type": "welcome", "version": 1, "name": name, "mode": "duplex", "members": [name]})


def message(text: str, time: object = 1_700_000_000.0) -> bytes:
    return frame_of({"type": "message", "from": "mallory", "text": text, "time": time}, allow_nan=True)


class HostileServer:
    """Accepts one client, waits for its hello, then writes each scripted blob in turn
    (``then(blob)`` adds more while connected). Closes when told or when the client goes."""

    def __init__(self, *script: bytes, unix_path: str | None = None) -> None:
        if unix_path:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(unix_path)
            self.listener.listen(1)
        else:
            self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(DEFAULT_TIMEOUT)
        self.port = None if unix_path else self.listener.getsockname()[1]
        self.script = list(script)
        self.conn: socket.socket | None = None
        self.heard = bytearray()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.listener.accept()
            conn.settimeout(DEFAULT_TIMEOUT)
            self.conn = conn
            decoder = wire.FrameDecoder()
            while not decoder_has_frame(decoder, conn, self.heard):
                pass
            for blob in self.script:
                conn.sendall(blob)
            while data := conn.recv(65536):  # until the client closes (or the test does)
                self.heard += data

    def then(self, blob: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(blob)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.conn is not None:
                self.conn.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(DEFAULT_TIMEOUT)
        if self.conn is not None:
            self.conn.close()


def decoder_has_frame(decoder: wire.FrameDecoder, conn: socket.socket, heard: bytearray) -> bool:
    data = conn.recv(65536)
    if not data:
        raise OSError("the client went before saying hello")
    heard += data
    return bool(decoder.feed(data))


def client_in_pty(server: HostileServer, screen: str) -> TermProc:
    plain = ["--plain"] if screen == "plain" else []
    return TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", *plain, rows=24, cols=100)


def assert_harmless(term: TermProc) -> None:
    """Nothing the server wrote drove the terminal: no escape reached it raw, the window
    title is untouched, and the escapes were shown as visible text instead."""
    raw = bytes(term.raw)
    for sequence in EVIL_BYTES:
        assert sequence not in raw, f"{sequence!r} reached the terminal"
    assert term.screen.title != "owned"


SCREENS = ["full", "plain"]


@pytest.mark.parametrize("screen", SCREENS)
def test_a_fatal_errors_message_is_printed_harmlessly_after_the_terminal_is_restored(screen):
    fatal = frame_of({"type": "error", "code": "bad-message", "message": EVIL, "fatal": True})
    server = HostileServer(welcome("ann"), fatal)
    term = client_in_pty(server, screen)
    try:
        term.expect(r"disconnected by the server: \^\[\]0;owned\^G\^\[\[6nboom")
        assert term.wait() == 1
        assert_harmless(term)
    finally:
        term.stop()
        server.close()


@pytest.mark.parametrize("screen", SCREENS)
def test_a_shutdown_reason_is_printed_harmlessly(screen):
    shutdown = frame_of({"type": "shutdown", "reason": EVIL})
    server = HostileServer(welcome("ann"), shutdown)
    term = client_in_pty(server, screen)
    try:
        term.expect(r"\^\[\]0;owned\^G\^\[\[6nboom")
        server.close()  # a real server closes after its shutdown frame
        if screen == "full":  # the notice stays on the screen, which waits for the server to come back
            term.wait_screen(lambda rows: "waiting for it to come back" in rows[-2], what="the waiting status")
            term.send("/q\r")
        term.wait()
        assert_harmless(term)
    finally:
        term.stop()
        server.close()


@pytest.mark.parametrize("fatal", [False, True])
def test_a_handshake_refusal_is_harmless_in_the_prompt_and_on_exit(fatal):
    """A name refusal is shown in the 'Another name' prompt (stdin is a terminal); a fatal
    one (room full) is printed on exit. Both quote the server's text."""
    refusal = frame_of({"type": "error", "code": "name-taken", "message": EVIL, "fatal": fatal})
    server = HostileServer(refusal)
    term = client_in_pty(server, "full")
    try:
        if not fatal:
            term.expect(r"\^\[\]0;owned\^G\^\[\[6nboom\s*\n?Another name")
            term.send("\x04")  # Ctrl-D: give up (said as such, not as a refusal: issue 16)
            term.expect(r"no name given: not joining")
        else:
            term.expect(r"refused to let us in: \^\[\]0;owned\^G\^\[\[6nboom")
        assert term.wait() == 1
        assert_harmless(term)
    finally:
        term.stop()
        server.close()


def test_a_handshake_refusal_through_pipes_is_harmless():
    refusal = frame_of({"type": "error", "code": "room-full", "message": EVIL, "fatal": True})
    server = HostileServer(refusal)
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann")
    try:
        assert client.wait() == 1
        assert "\x1b" not in client.output and "\x07" not in client.output
        assert "refused to let us in: ^[]0;owned^G^[[6nboom" in client.output
    finally:
        client.stop()
        server.close()


@pytest.mark.parametrize("screen", SCREENS)
def test_absurd_times_cost_one_line_each_not_the_batch_nor_the_chat(screen):
    batch = b"".join(
        [
            message("first", 1e300),
            message("second", -1e300),
            message("third", 1e20),
            message("fourth", float("nan")),
            message("fifth", float("inf")),
            message("sixth", 10**400 // 10**390),  # a big integer: 1e10 s, year 2286, a real time
            message("still here"),
        ]
    )
    server = HostileServer(welcome("ann"), batch)
    term = client_in_pty(server, screen)
    try:
        term.expect(r"mallory: still here")
        term.expect(r"mallory: sixth")
        shown = term.text
        assert shown.count("a message from the server was not shown") == 5, shown
        for gone in ("first", "second", "third", "fourth", "fifth"):
            assert f"mallory: {gone}" not in shown
        # the chat goes on: what ann types still reaches the server
        term.send("hello\r")
        wait_for(lambda: b"hello" in server.heard, what="ann's line to reach the server")
        assert term.proc.isalive()
    finally:
        term.stop()
        server.close()


def test_numbers_out_of_range_in_file_events_are_skipped_with_a_line():
    offers = b"".join(
        [
            frame_of({"type": "offered", "id": "1", "name": "a.txt", "size": 10**30, "sha256": "0" * 64, "from": "mallory", "time": 1.0}),
            frame_of({"type": "offered", "id": "2", "name": "b.txt", "size": 5, "sha256": "0" * 64, "from": "mallory", "time": 1e300}),
            frame_of({"type": "history-end", "shown": 0, "more": False, "before": -(2**70)}),
            message("after the numbers"),
        ]
    )
    server = HostileServer(welcome("ann"), offers)
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann")
    try:
        client.expect(r"mallory: after the numbers")
        assert client.output.count("a message from the server was not shown") == 3, client.output
        assert "Traceback" not in client.output and client.popen.poll() is None
    finally:
        client.stop()
        server.close()


@pytest.mark.parametrize("rate", [1e-9, 5e-324])
def test_an_absurdly_slow_flood_allowance_holds_lines_without_ending_the_client(rate):
    """A fake server's welcome allows one line, then one every 30 years (or 1e308 years): the
    client holds the rest, as it would for any allowance, and stays responsive (select() refuses
    a wait that long: it ended the client with an internal error)."""
    allowance = frame_of({"type": "welcome", "version": 2, "name": "ann", "mode": "duplex", "members": ["ann"],
                          "flood_burst": 1, "flood_rate": rate})
    server = HostileServer(allowance)
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann")
    try:
        client.expect(r"welcome, ann")
        for line in ("one", "two", "three"):
            client.send(line)
        client.expect(r"lines after that are sent at that pace")
        client.send("/q")
        client.expect(r"leaving once the 2 waiting lines are sent")
        client.send("/q")
        client.expect(r"2 lines not sent")
        assert client.wait() == 0, client.output
        assert b'"one"' in server.heard and b'"two"' not in server.heard
        assert "internal error" not in client.output
    finally:
        client.stop()
        server.close()


def test_slow_downs_quoting_hostile_json_or_every_resend_end_with_the_line_shown_refused():
    """A fake server's slow-downs quote what no real server would: JSON nested 5,000 deep (the
    client's parser gives up with RecursionError: it ended with an internal error), and each
    resend of one line again, with an allowance of a million a second (the client sent it back
    as fast as the loopback took it, forever: 29,000 times in 3 s). Both are refusals shown as
    any other; the line goes out at most MAX_REFUSALS + 1 times, and --plain's pacing notice is
    printed once, not once for each time the line was put back (it was 100 times)."""
    def refuse(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.Say) and event.text == "deep":
            server.send(ev.Error(code=ev.E_SLOW_DOWN, message="slow down: deep", refused="[" * 5000 + "]" * 5000))
        elif isinstance(event, ev.Say) and event.text == "again":
            server.send(ev.Error(code=ev.E_SLOW_DOWN, message="slow down: again", refused=quoted(event)))

    server = StandInServer(refuse, flood_burst=10, flood_rate=1e6)
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann")

    def said(text: str) -> int:
        return sum(isinstance(e, ev.Say) and e.text == text for e in list(server.heard))

    try:
        client.expect(r"welcome, ann")
        client.send("deep")
        client.expect(r"! slow down: deep")
        client.send("again")
        client.expect(r"! slow down: again")
        client.send("after")
        wait_for(lambda: said("after"), what="the line after the refused one")
        assert said("again") == MAX_REFUSALS + 1
        assert client.output.count("the lines after that are sent at that pace") == 1, client.output
        assert "internal error" not in client.output and client.popen.poll() is None, client.output
    finally:
        client.stop()
        server.close()


def test_a_line_typed_after_a_refused_one_sent_again_waits_for_its_answer():
    """The client's loop hands the pacer its unanswered lines (client.Paced): a line refused as a
    flood goes again alone, and one typed after it is written only once its echo has come, so it
    cannot overtake it if it is refused again (pacing.SendPacer.resent). The unit tests of the
    pacer pass the lines by hand: with the loop passing none, "b" went before the echo of "a"."""
    echoed = threading.Event()
    b_before_echo: list[bool] = []

    def answer(server: StandInServer, event: object) -> None:
        if isinstance(event, ev.Say) and event.text == "a" and sum(isinstance(e, ev.Say) and e.text == "a" for e in server.heard) == 1:
            server.send(ev.Error(code=ev.E_SLOW_DOWN, message="slow down", refused=quoted(event)))
        elif isinstance(event, ev.Say) and event.text == "b":
            b_before_echo.append(not echoed.is_set())
            server.send(ev.Message(sender="ann", text="b", time=0.0))

    server = StandInServer(answer, flood_burst=10, flood_rate=1e6)
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann")
    try:
        client.expect(r"welcome, ann")
        client.send("a")
        wait_for(lambda: sum(isinstance(e, ev.Say) and e.text == "a" for e in list(server.heard)) == 2, what='"a" sent again')
        client.send("b")
        client.send("/nosuchcommand")  # said once "b" is read: written by then, or held
        client.expect(r"unknown command")
        echoed.set()
        server.send(ev.Message(sender="ann", text="a", time=0.0))
        wait_for(lambda: b_before_echo, what='"b"')
        assert b_before_echo == [False], client.output
        assert "internal error" not in client.output and client.popen.poll() is None, client.output
    finally:
        client.stop()
        server.close()


# ------------------------------------------------------------ who owns the AF_UNIX socket


def test_a_unix_server_run_by_someone_else_is_warned_about():
    """The client expects the server to be run by `nobody` (--server-owner); the real one is
    run by us: the kernel's SO_PEERCRED says so and the client warns, then chats normally."""
    with short_tmp_dir() as folder, running_server(unix_path=os.path.join(folder, "chat.sock")) as (_server, endpoint):
        client = Proc("connect", "--unix", endpoint.path, "--name", "ann", "--server-owner", "nobody")
        try:
            me = pwd.getpwuid(os.getuid()).pw_name
            client.expect(rf"warning: the server at .*chat\.sock is run by {me} \(uid {os.getuid()}\), not by nobody")
            client.expect(r"welcome, ann")
        finally:
            client.stop()


def test_a_unix_server_run_by_you_brings_no_warning():
    with short_tmp_dir() as folder, running_server(unix_path=os.path.join(folder, "chat.sock")) as (_server, endpoint):
        client = Proc("connect", "--unix", endpoint.path, "--name", "ann")
        try:
            client.expect(r"welcome, ann")
            client.send("/q")
            assert client.wait() == 0
            assert "warning" not in client.output
        finally:
            client.stop()


SQUATTER = """
import json, socket, struct, sys
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(sys.argv[1]); listener.listen(1); print("ready", flush=True)
listener.settimeout(10)
conn, _ = listener.accept(); conn.settimeout(10)
conn.recv(65536)
body = json.dumps({"type": "welcome", "version": 1, "name": "ann", "mode": "duplex", "members": ["ann"]}).encode()
conn.sendall(struct.pack(">I", len(body)) + body)
while conn.recv(65536):
    pass
"""


# The squatter needs a Python that `nobody` may run (the test's own may sit in a private folder).
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the squatter as another user")
@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no system python3 for the squatter")
def test_a_squatted_unix_path_is_warned_about():
    """Another user (`nobody`) got to the class's socket path first: a real squatter process."""
    nobody = pwd.getpwnam("nobody")
    with short_tmp_dir() as folder:
        os.chmod(folder, 0o777)
        path = os.path.join(folder, "chat.sock")
        squatter = subprocess.Popen(
            [SYSTEM_PYTHON, "-I", "-c", SQUATTER, path], user=nobody.pw_uid, group=nobody.pw_gid,
            stdout=subprocess.PIPE, env=child_env(), cwd="/",
        )  # fmt: skip
        client = None
        try:
            assert squatter.stdout is not None and squatter.stdout.readline() == b"ready\n"
            client = Proc("connect", "--unix", path, "--name", "ann")
            client.expect(rf"warning: the server at .*chat\.sock is run by nobody \(uid {nobody.pw_uid}\), not by")
            client.expect(r"welcome, ann")
        finally:
            if client is not None:
                client.stop()
            squatter.kill()
            squatter.wait(DEFAULT_TIMEOUT)


@contextlib.contextmanager
def asked_for_a_file(tmp_path, name: str, size: int, sha256: str):  # noqa: ANN001, ANN201
    """A fake server that offers file #7 (``name``, ``size``, ``sha256``) to ann, and ann's client,
    which has typed /get 7 and been heard: (server, client, its downloads folder)."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    offer = frame_of({"type": "offered", "id": "7", "name": name, "size": size, "sha256": sha256, "from": "mallory", "time": 1.0})
    server = HostileServer(welcome("ann"), offer)
    client = Proc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--downloads", str(downloads))
    try:
        client.expect(r"type /get 7 to download it")
        client.send("/get 7")
        wait_for(lambda: b'"get"' in server.heard, what="the client's get")
        yield server, client, downloads
    finally:
        client.stop()
        server.close()


@pytest.mark.parametrize("size", [2**62, -5])
def test_a_download_larger_than_the_free_space_or_negative_is_refused_before_a_byte_is_written(tmp_path, size):
    """A fake server offers a file of 10 bytes, then answers /get with a size of 4 EiB and sends
    data until told to stop: the client wrote all it was sent towards a file no disk holds
    (a server can fill the student's disk under an offer that looked small). A negative size
    was taken too. Both are refused at file-start: cancelled, said, nothing written."""
    with asked_for_a_file(tmp_path, "big.bin", 10, "0" * 64) as (server, client, downloads):
        server.then(frame_of({"type": "file-start", "id": "7", "name": "big.bin", "size": size, "sha256": "0" * 64}))
        server.then(frame_of({"type": "file-data", "id": "7", "data": base64.b64encode(b"x" * 3000).decode()}))
        client.expect(r"! cannot save big\.bin: (it is .* and .* free|the server gave its size as -5 bytes)")
        wait_for(lambda: b'"cancel"' in server.heard, what="the client's cancel")
        assert "receiving big.bin" not in client.output, client.output
        assert list(downloads.iterdir()) == []


def test_a_fake_server_that_refuses_version_2_and_then_welcomes_as_version_2_cannot_hide_the_keyless_join():
    """A fake server answers the version-2 hello with the version refusal (a first-release room,
    so it seems), and the keyless version-1 hello asked again with a welcome that says version 2.
    The user read only 'welcome, ann', joined without the key unsaid (the note followed the
    welcome's version). Now it follows the hello's: the chat says the join was as a guest."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(DEFAULT_TIMEOUT)
    answers = [frame_of({"type": "error", "code": ev.E_VERSION, "message": "this server speaks protocol version 1, not 2", "fatal": True}),
               frame_of({"type": "welcome", "version": 2, "name": "ann", "mode": "duplex", "members": ["ann"]})]
    hellos: list[dict] = []

    def serve() -> None:  # two connections in turn: the refusal, then the welcome
        with contextlib.suppress(OSError):
            for answer in answers:
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(DEFAULT_TIMEOUT)
                    decoder, frames = wire.FrameDecoder(), []
                    while not frames and (data := conn.recv(65536)):
                        frames = decoder.feed(data)
                    hellos.append(json.loads(frames[0]))
                    conn.sendall(answer)
                    while conn.recv(65536):  # until the client closes
                        pass

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    client = Proc("connect", "127.0.0.1", str(listener.getsockname()[1]), "--name", "ann", "--plain")
    try:
        client.expect(r"welcome, ann")
        client.expect(r"you joined it as a guest, without your key")
    finally:
        client.stop()
        listener.close()
        server.join(DEFAULT_TIMEOUT)
    assert [hello.get("version") for hello in hellos] == [2, 1] and "key" in hellos[0] and "key" not in hellos[1], hellos


def test_a_refusal_coded_as_a_transfers_progress_is_still_said_to_a_screen_reader():
    """--screen-reader says a transfer's progress at most every 30 s, and knew a progress line by
    its code, "progress"; an error's or a notice's code is the server's to write, so a server's
    refusals coded "progress" after one such line went unsaid: the student heard nothing of the
    line refused. The client's own codes are never taken from the wire now. The same run writes
    the server's escapes, and a byte typed that is not UTF-8, where the mode's own writes (a line
    on a row of its own, Ctrl-R's copy of the typed line) could put them: none reaches the terminal."""
    def error(text: str) -> bytes:
        return frame_of({"type": "error", "code": "progress", "message": text})

    server = HostileServer(welcome("ann"), error("first refusal"), error("second refusal"), error("third refusal"))
    term = TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--screen-reader", rows=24, cols=100)
    try:
        term.expect(r"third refusal")
        assert "second refusal" in term.text and "first refusal" in term.text, term.text
        term.send(b"half \x9b31m typed")
        term.expect(r"half \\x9b31m typed")
        server.then(message(EVIL))
        term.expect(r"\^\[\]0;owned\^G\^\[\[6nboom")
        term.send("\x12")  # Ctrl-R: the typed line again, on a row of its own
        term.wait_screen(lambda rows: sum("half \\x9b31m typed" in row for row in rows) == 2, what="Ctrl-R's copy")
        assert b"\x9b" not in bytes(term.raw)
        assert_harmless(term)
    finally:
        term.stop()
        server.close()


def test_a_replays_odd_dates_are_said_as_what_they_are_to_a_screen_reader():
    """--screen-reader says a replay's day once, before its first line of that day. A server's
    lines from another year were said as this year's ("earlier, on Thursday 1 January" for 1970,
    a line from last December as from this one), and its lines dated after today (its clock ahead,
    or a lie) as days gone by: "earlier, on Tuesday 8 December" for tomorrow. Now another year's
    day says its year, and a day to come says so. The same replay is 2,000 lines over 200 days
    with escapes and bidi controls in them (one heading a day, none raw on the terminal), and a NaN
    time (not shown, said why); nothing raises."""
    import time as clock

    now = clock.time()
    def replayed(text: str, when: object) -> bytes:
        return frame_of({"type": "message", "from": "mallory", "text": text, "time": when, "history": True}, allow_nan=True)

    start = day_of(now - 400 * 86400)[0] + 12 * 3600  # type: ignore[index]  (noon: a day's ten lines all on it)
    many = [replayed(f"line {n} \u202e{EVIL}", start + (n // 10) * 86400 + (n % 10)) for n in range(2000)]
    odd = [replayed("from 1970", 86400.0 * 3), replayed("nan", float("nan")), replayed("from tomorrow", now + 2 * 86400),
           frame_of({"type": "history-end", "shown": 2003, "more": False}), message("live")]  # fmt: skip
    server = HostileServer(welcome("ann"), b"".join([*many, *odd]))
    term = TermProc("connect", "127.0.0.1", str(server.port), "--name", "ann", "--screen-reader", rows=24, cols=100)
    try:
        term.expect(r"mallory: live", timeout=60)
        heard = bytes(term.raw).decode("utf-8", "replace")
        days = re.findall(r"earlier, (?:on|dated) [^:\r\n]*:", heard)
        assert len(days) == 200 + 2, (len(days), days[:5], days[-5:])  # one a day
        this_year = clock.localtime(now).tm_year
        for number, day in enumerate(days[:-2]):  # a year said for another year's days, and only for those
            year = clock.localtime(start + number * 86400).tm_year
            assert day.endswith(f" {year}:") == (year != this_year), (number, day)
        assert re.fullmatch(r"earlier, on \w+ \d+ January 1970:", days[-2]), days[-2]
        assert re.fullmatch(r"earlier, dated \w+ \d+ \w+( \d{4})?, a day still to come:", days[-1]), days[-1]
        assert "a message from the server was not shown" in heard and "Traceback" not in heard
        assert_harmless(term)
        assert "\u202e" not in heard
    finally:
        term.stop()
        server.close()
