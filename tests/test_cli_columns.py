"""Lines printed outside the chat screen fit an 80-column terminal (a teacher's projector):
errors, notices, a headless server's log and the exit line are folded at spaces, never cut
mid-word by the terminal, and what someone copies (a --fingerprint with its value, a
command) stays whole. Real subprocesses: COLUMNS=80 through pipes, and real pseudo-terminals
80 columns wide where the width comes from the terminal itself (COLUMNS unset)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from helpers import ROOT, Proc, RawClient, TermProc, child_env, identity_args, same_person, wait_for

from lanchat import events as ev
from lanchat.transport import Endpoint

LANCHAT = [sys.executable, "-m", "lanchat"]
PIN = re.compile(r"^ *--fingerprint SHA256:[A-Za-z0-9+/]{43}$")


def run_at(columns: str | None, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``lanchat ARGS`` through pipes, with COLUMNS=columns (None: unset, one line a message)."""
    env = dict(env or child_env())
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([*LANCHAT, *same_person(args)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=30, stdin=subprocess.DEVNULL)


def assert_folded_not_cut(folded: str, whole: str, columns: int = 80) -> None:
    """Every line fits, and the words are the same words: folding only ever broke at spaces."""
    too_wide = [line for line in folded.splitlines() if len(line) > columns]
    assert not too_wide, folded
    assert folded.split() == whole.split(), (folded, whole)
    assert len(folded.splitlines()) > len(whole.splitlines()), "nothing was long enough to fold"


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens (held, so nobody else takes it meanwhile)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.fixture
def tls_room() -> Iterator[tuple[Proc, str, str]]:
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--no-announce", "--tls")
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        yield server, port, server.expect(r"the server's fingerprint is (SHA256:\S+)").group(1)
    finally:
        server.stop()


def test_errors_fold_to_columns_80_and_a_fingerprint_to_copy_stays_whole_on_its_line(refused_port, tls_room):
    """At 80 columns the terminal cut these mid-word ('is `lanchat serve` running on t'); the
    TLS refusal's --fingerprint, which a student copies onto their command, came out in two."""
    _server, port, fp = tls_room
    env = child_env()
    assert run_at(None, "key", *identity_args("bob"), env=env).returncode == 0  # made now: its first-use note is not compared
    cases = [
        ("connect", "127.0.0.1", str(refused_port), "--name", "bob"),  # no server: is `lanchat serve` running?
        ("serve", "--once"),  # --once needs --headless: ...
        ("history", "--format", "csv"),  # argparse's: invalid choice: 'csv' (choose from ...) (see ...)
        ("connect", "127.0.0.1", "1", "--fingerprint", "not-one-at-all"),
        ("connect", "127.0.0.1", port, "--name", "bob"),  # a TLS room, no terminal to ask at
    ]
    for args in cases:
        folded, whole = run_at("80", *args, env=env), run_at(None, *args, env=env)
        assert folded.returncode == whole.returncode != 0, (args, folded.stderr)
        assert "Traceback" not in folded.stderr
        assert_folded_not_cut(folded.stderr, whole.stderr)
    refusal = run_at("80", *cases[-1], env=env).stderr.splitlines()
    assert [line.strip() for line in refusal if PIN.match(line)] == [f"--fingerprint {fp}"], refusal
    assert any(line.split()[0] == f"{fp};" for line in refusal), refusal  # "with fingerprint SHA256:...;" too
    assert f"connect with --fingerprint {fp}" in run_at(None, *cases[-1], env=env).stderr  # a pipe: one line, as before


def test_a_pty_of_80_columns_folds_the_error_by_its_own_width(refused_port):
    """No COLUMNS: the width is the terminal's own."""
    env = child_env()
    assert run_at(None, "key", *identity_args("bob"), env=env).returncode == 0
    term = TermProc("connect", "127.0.0.1", str(refused_port), "--name", "bob", cols=80, env=env)
    try:
        assert term.wait() == 1
    finally:
        term.stop()
    shown = bytes(term.raw).decode("utf-8", "replace").replace("\r", "")
    whole = run_at(None, "connect", "127.0.0.1", str(refused_port), "--name", "bob", env=env).stderr
    assert "is `lanchat serve` running?" in whole
    assert_folded_not_cut(shown, whole)


def test_a_headless_log_names_the_day_before_its_first_line_and_at_each_new_day(capsys, monkeypatch):
    """`serve --headless > server.log` on a school server runs for weeks, and its lines said only
    the time: a ban at [10:02:11] was on no day in particular. Now a day line comes first, and
    again at the first line of each new day."""
    import time

    from lanchat.cli.serve import _headless_log
    from lanchat.log_output import LOG

    monday_night = time.mktime((2026, 12, 7, 23, 59, 58, 0, 0, -1))
    stamps = iter([monday_night, monday_night + 1, monday_night + 3])
    real_localtime = time.localtime
    monkeypatch.setattr(LOG, "day", "")
    monkeypatch.setattr(time, "localtime", lambda seconds=None: real_localtime(next(stamps) if seconds is None else seconds))
    for name in ("ann", "bob", "cy"):
        _headless_log(f"{name} joined")
    assert capsys.readouterr().out.splitlines() == [
        "-- Monday 2026-12-07 --", "[23:59:58] ann joined", "[23:59:59] bob joined",
        "-- Tuesday 2026-12-08 --", "[00:00:01] cy joined",
    ]  # fmt: skip


def test_two_threads_logging_at_midnight_keep_the_days_in_order(monkeypatch):
    """The clock was read and the day line chosen outside the log's lock (the server's loop, the
    address watcher and the bot all log): a line stamped 23:59:59 whose thread lost the race to
    one stamped 00:00:00 came after Tuesday's day line and named Monday again, a second time.
    Here the first thread, having read the clock, is held until the second has read it and
    written (or 0.3 s each): under the lock the second waits its turn instead."""
    import io
    import threading
    import time

    from lanchat.cli.serve import _headless_log
    from lanchat.log_output import LOG

    class Out(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.wrote = threading.Event()

        def write(self, text: str) -> int:
            self.wrote.set()
            return super().write(text)

    out = Out()
    monkeypatch.setattr(LOG, "out", out)
    monkeypatch.setattr(LOG, "day", "-- Monday 2026-12-07 --")  # named already, earlier that day
    midnight = time.mktime((2026, 12, 8, 0, 0, 0, 0, 0, -1))
    real_localtime = time.localtime
    stamps = iter([midnight - 1, midnight])
    first_read, second_read = threading.Event(), threading.Event()

    def clock(seconds=None):  # noqa: ANN001, ANN202
        if seconds is not None:
            return real_localtime(seconds)
        stamp = next(stamps)
        if stamp < midnight:  # the first thread: held till the other has read the clock and written
            first_read.set()
            second_read.wait(0.3)
            out.wrote.wait(0.3)
        else:
            second_read.set()
        return real_localtime(stamp)

    monkeypatch.setattr(time, "localtime", clock)
    first = threading.Thread(target=_headless_log, args=("ann joined",))
    first.start()
    assert first_read.wait(10)  # the first has read the clock before the second starts
    second = threading.Thread(target=_headless_log, args=("bob joined",))
    second.start()
    first.join(10)
    second.join(10)
    assert out.getvalue().splitlines() == ["[23:59:59] ann joined", "-- Tuesday 2026-12-08 --", "[00:00:00] bob joined"]


def test_a_headless_log_line_folds_under_its_text_at_a_terminal():
    """The Pi's log on the projector: '[12:00:01] 127.0.0.1:50000: a client without TLS on this
    TLS port; told to use TLS (lanchat connect switches by itself)' was cut by the terminal."""
    term = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--no-announce", "--tls",
                    cols=80, rows=40)
    try:
        port = int(wait_for(lambda: re.search(rb"listening on port (\d+)", bytes(term.raw)), what="the port").group(1))  # type: ignore[union-attr]
        plain = RawClient(Endpoint(host="127.0.0.1", port=port))
        try:
            plain.send(ev.Hello(name="bob"))
            plain.expect(ev.Error)
        finally:
            plain.close()
        wait_for(lambda: b"itself)" in bytes(term.raw), what="the log line about the plain client")
    finally:
        term.stop()
    lines = bytes(term.raw).decode("utf-8", "replace").replace("\r", "").split("\n")
    start = next(i for i, line in enumerate(lines) if "a client without TLS" in line)
    logged = lines[start : next(i for i, line in enumerate(lines) if "itself)" in line) + 1]
    assert re.match(r"\[\d\d:\d\d:\d\d\] 127\.0\.0\.1:\d+: a client", logged[0]), logged
    assert len(logged) > 1 and all(len(line) <= 80 for line in logged), logged
    assert all(line.startswith(" " * 11) and line[11] != " " for line in logged[1:]), logged  # under the text
    said = " ".join(" ".join(logged).split()[2:])
    assert said == "a client without TLS on this TLS port; told to use TLS (lanchat connect switches by itself)", said


def test_the_hosts_exit_line_fits_the_projector():
    """A SIGTERM to the teacher's `serve`: 'the server was stopped: students' screens wait up to
    10 minutes ...; start the same `lanchat serve` again to carry on the lesson' (121 columns)
    was the last thing on the projector, cut mid-word."""
    term = TermProc("serve", "--port", "0", "--host", "127.0.0.1", "--name", "hal", "--no-history", "--no-announce", cols=80)
    try:
        term.expect(r"hal │ host")
        term.proc.kill(signal.SIGTERM)
        assert term.wait() == 0
    finally:
        term.stop()
    tail = bytes(term.raw).decode("utf-8", "replace").replace("\r", "")
    tail = tail[tail.rindex("lanchat: the server was stopped") :]
    assert_folded_not_cut(tail, tail.replace("\n", " "))
    assert "`lanchat serve`" in tail  # the command it names, whole
