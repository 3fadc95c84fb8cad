"""A host name typed at the command line is looked up with a bound and a word while it waits
(lanchat/lookup.py): `serve --host NAME` and `connect NAME` sat silent for as long as a name
server that did not answer kept the system's resolver waiting."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from helpers import DEFAULT_TIMEOUT, ROOT, child_env, wait_for

from lanchat import lookup


def test_a_slow_name_server_is_said_after_a_second_and_given_up_in_one_line():
    released = threading.Event()
    said: list[str] = []

    def silent_name_server(host, port, **kwargs):  # noqa: ANN001, ANN003, ANN202, ARG001
        released.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    started = time.monotonic()
    try:
        found = lookup.look_up("slow.example", 3580, say=said.append, resolve=silent_name_server, say_after=0.05, give_up_after=0.3)
    finally:
        released.set()
    assert time.monotonic() - started < 5
    assert found.outcome == lookup.NO_ANSWER and found.addresses == []
    assert found.problem == "was not found: the network's name server did not answer in 0.3 s (is the network up?)"
    assert said == ["looking up 'slow.example' (the network's name server is slow to answer; Ctrl-C stops)..."]


def test_each_answer_of_the_resolver_is_an_outcome_and_an_address_is_never_looked_up_in_a_thread():
    def raising(exc):  # noqa: ANN001, ANN202
        def resolve(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202, ARG001
            raise exc
        return resolve

    cases = [(socket.gaierror(socket.EAI_NONAME, "Name or service not known"), lookup.UNKNOWN),
             (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), lookup.NO_ANSWER),
             (socket.gaierror(socket.EAI_FAIL, "Non-recoverable failure in name resolution"), lookup.NO_ANSWER),  # SERVFAIL
             (UnicodeError("label empty or too long"), lookup.NOT_A_NAME)]  # fmt: skip
    for exc, outcome in cases:
        found = lookup.look_up("x.example", 1, resolve=raising(exc))
        assert found.outcome == outcome and found.problem and not found.addresses, (exc, found)
    callers: list[str] = []

    def answer(host, port, **kwargs):  # noqa: ANN001, ANN003, ANN202
        callers.append(threading.current_thread().name)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", port))]

    assert lookup.look_up("192.0.2.7", 1, resolve=answer).outcome == lookup.FOUND
    assert lookup.look_up("fe80::1%lo", 1, resolve=answer).outcome == lookup.FOUND
    assert callers == [threading.main_thread().name] * 2  # no thread for an address
    assert lookup.look_up("host.example", 1, resolve=answer).addresses[0][4] == ("192.0.2.7", 1)


# A name server that never answers, stood in for in the real program: getaddrinfo blocks.
SILENT_RESOLVER = """\
import socket, sys, threading
socket.getaddrinfo = lambda *args, **kwargs: threading.Event().wait()
import lanchat.lookup
lanchat.lookup.LOOKUP_SECONDS = float(sys.argv[1])
import lanchat.discovery  # no multicast from the test's own machine: a room search that is still looking
lanchat.discovery.browse = lambda *args, **kwargs: threading.Event().wait()
from lanchat.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


def run_with_a_silent_name_server(give_up_after: float, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SILENT_RESOLVER, str(give_up_after), *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(), cwd=ROOT)  # fmt: skip


def test_serve_host_a_name_nobody_answers_for_says_so_and_gives_up_in_one_line():
    serve = run_with_a_silent_name_server(1.5, "serve", "--host", "slow.example", "--headless", "--no-history", "--port", "0")
    out, err = serve.communicate(timeout=30)
    assert serve.returncode == 1 and out == "" and "Traceback" not in err, (out, err)
    said = [" ".join(line.split()) for line in err.replace("\n  ", " ").split("\nlanchat: ")]
    assert said == ["lanchat: looking up 'slow.example' (the network's name server is slow to answer; Ctrl-C stops)...",
                    "--host 'slow.example' was not found: the network's name server did not answer in 1.5 s (is the network "
                    "up?); give one of this machine's addresses (`lanchat doctor` lists them), or leave --host out to listen "
                    "on every one"], err  # fmt: skip


def test_connect_to_a_name_nobody_answers_for_says_so_then_looks_for_a_room_of_that_name(monkeypatch, capsys):
    from lanchat import discovery
    from lanchat.cli.connect import _no_address

    released = threading.Event()

    def silent_name_server(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        released.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", silent_name_server)
    monkeypatch.setattr(lookup, "SAY_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(lookup, "LOOKUP_SECONDS", 0.3)
    other = discovery.RoomInfo(name="maths", host="b", addresses=("192.0.2.8",), port=3580)
    monkeypatch.setattr(discovery, "browse", lambda *args, **kwargs: [other])  # (the LAN's rooms: none called friends)
    try:
        problem = _no_address("friends", 3580)
    finally:
        released.set()
    assert problem.problem == "'friends' was not found: the network's name server did not answer in 0.3 s (is the network up?)"
    assert not problem.certain  # said only if no room is called so either
    assert problem.rooms == [other]  # looked for while the name server was silent: not again
    assert capsys.readouterr().out == ("lanchat: looking up 'friends' (the network's name server is slow to answer; looking for a "
                                       "room of that name on the local network meanwhile; Ctrl-C stops)...\n")


def test_a_room_of_the_name_found_while_the_name_server_is_silent_ends_the_wait(monkeypatch, capsys):
    """A LAN whose name server never answers: `connect friends` waited its whole 10 s for it,
    though the room called so answered the search within 2 s."""
    from lanchat import discovery
    from lanchat.cli.connect import _no_address

    released = threading.Event()

    def silent_name_server(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        released.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    room = discovery.RoomInfo(name="Friends", host="a", addresses=("192.0.2.7",), port=3580)
    monkeypatch.setattr(socket, "getaddrinfo", silent_name_server)
    monkeypatch.setattr(discovery, "browse", lambda *args, **kwargs: [room])
    monkeypatch.setattr(lookup, "SAY_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(lookup, "LOOKUP_SECONDS", 20.0)
    try:
        problem = _no_address("friends", 3580)
        assert not released.is_set()  # the name server had not answered, and was not waited for
    finally:
        released.set()
    assert problem.rooms == [room] and not problem.certain, problem
    # ended by the room found (ELSEWHERE), not by the look-up giving up after its 20 s (NO_ANSWER,
    # "did not answer in 20 s"), which would also leave the name server unanswered
    assert problem.problem == "'friends' was not found: the network's name server has not answered (is the network up?)", problem
    assert "meanwhile" in capsys.readouterr().out


def test_what_is_found_meanwhile_ends_the_wait_and_an_answer_in_time_starts_no_search():
    released = threading.Event()

    def silent(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        released.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    def found_at_once(done: threading.Event) -> str:
        done.set()
        return "looking for it elsewhere"

    said: list[str] = []
    try:
        found = lookup.look_up("slow.example", 1, say=said.append, resolve=silent, say_after=0.05, give_up_after=20,
                               while_slow=found_at_once)
    finally:
        released.set()
    assert found.outcome == lookup.ELSEWHERE and found.addresses == [], found
    assert said == ["looking up 'slow.example' (the network's name server is slow to answer; looking for it elsewhere; Ctrl-C stops)..."]

    def answer(host, port, **kwargs):  # noqa: ANN001, ANN003, ANN202, ARG001
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", port))]

    def never(done: threading.Event) -> str:
        raise AssertionError("a search started though the name server answered in time")

    assert lookup.look_up("host.example", 1, resolve=answer, say_after=5, while_slow=never).outcome == lookup.FOUND


@pytest.mark.parametrize(("args", "said"), [
    (("serve", "--host", "slow.example", "--headless", "--no-history"), "lanchat: interrupted: no room was started\n"),
    (("connect", "slow.example", "--name", "ann"), "lanchat: interrupted: not joining\n"),
])  # fmt: skip
def test_ctrl_c_while_the_name_is_looked_up_stops_at_once_without_a_traceback(args, said):
    """...and says so, as Ctrl-C while the rooms are looked for does (it ended in a bare 130)."""
    serve = run_with_a_silent_name_server(60, *args)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(serve.stderr), daemon=True)  # type: ignore[arg-type]
    if args[0] == "connect":  # (its 'looking up' goes to stdout, with the rest of what it says)
        reader = threading.Thread(target=lambda: lines.extend(serve.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        wait_for(lambda: any("looking up 'slow.example'" in line for line in lines), timeout=20)
        started = time.monotonic()
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=DEFAULT_TIMEOUT) == 130
        assert time.monotonic() - started < 15  # not the look-up's 20 s (nor the name server's 60): room for a loaded machine
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    reader.join(5)
    assert "Traceback" not in "".join(lines), lines
    assert serve.stderr is not None and serve.stdout is not None
    rest = serve.stderr.read() + serve.stdout.read()
    assert said in "".join(lines) + rest and "Traceback" not in rest, (lines, rest)


def test_the_doctors_server_check_gives_a_silent_name_server_its_own_probe_time(monkeypatch):
    """create_connection's timeout does not cover the look-up: `lanchat doctor slow.example`
    waited for the resolver, however long, before its first line."""
    from lanchat.addresses import Target
    from lanchat.doctor import probe_server

    released = threading.Event()

    def silent_name_server(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        released.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", silent_name_server)
    started = time.monotonic()
    try:
        outcome, detail = probe_server(Target("slow.example", 3580), timeout=0.3)
    finally:
        released.set()
    assert time.monotonic() - started < 5
    assert (outcome, detail) == ("no-answer", "cannot find host 'slow.example': the network's name server did not answer "
                                                 "in 0.3 s (is the network up?)")  # fmt: skip


@pytest.mark.parametrize("host", ["*", "127.0.0.1", "::1", "fe80::1%lo"])
def test_serve_host_every_interface_or_an_address_is_never_looked_up(monkeypatch, host):
    """`serve --host '*'` is every interface (transport.listen_tcp): looked up as a name, it
    was refused as unknown."""
    from lanchat.cli.serve import _listen_address

    def no_resolver(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("looked up")

    monkeypatch.setattr(socket, "getaddrinfo", no_resolver)
    assert _listen_address(host, 3580) == host


# A name that resolves to loopback, each look-up of it said on stderr: how many times connect asks.
COUNTING_RESOLVER = """\
import socket, sys
real = socket.getaddrinfo
def counting(host, *args, **kwargs):
    if host == "room.example":
        print("LOOKED UP room.example", file=sys.stderr, flush=True)
        host = "127.0.0.1"
    return real(host, *args, **kwargs)
socket.getaddrinfo = counting
from lanchat.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("tls", [False, True])
def test_connect_name_looks_the_name_up_once_and_connects_to_the_address_found(tls):
    """`connect NAME` looked the name up in _no_address, again as it connected, and a third time
    when the room turned out to use TLS: a resolver taking 3 s made connect take 6.3 s. The
    address found is the one connected to (and reconnected to)."""
    from helpers import Proc, identity_args

    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--no-announce",
                  *(("--tls",) if tls else ()))  # fmt: skip
    client = None
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        program = [sys.executable, "-c", COUNTING_RESOLVER]
        client = Proc("connect", "room.example", port, "--name", "ann", *identity_args("ann"), program=program)
        client.expect(r"welcome, ann" if not tls else r"uses TLS: connecting with TLS")
        if not tls:
            client.send("/q")
        client.wait()
        assert client.output.count("LOOKED UP room.example") == 1, client.output
    finally:
        for proc in (client, server):
            if proc is not None:
                proc.stop()


# `printer` found at an address that is not this machine's.
PRINTER_RESOLVER = COUNTING_RESOLVER.replace('"room.example"', '"printer"').replace('"127.0.0.1"', '"192.0.2.99"')


@pytest.mark.parametrize("port", ["4999", "0"])
def test_serve_host_a_name_of_another_machine_says_its_address_whatever_the_port(port):
    """`serve --host printer --port 0` lost the "('printer' is 192.0.2.99)" that --port 4999 gave."""
    done = subprocess.run([sys.executable, "-c", PRINTER_RESOLVER, "serve", "--host", "printer", "--port", port,
                           "--headless", "--no-announce"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=child_env(), cwd=ROOT, timeout=30)  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "('printer' is 192.0.2.99)" in done.stderr, done.stderr


def test_a_name_found_at_a_link_local_ipv6_address_keeps_its_zone(monkeypatch):
    """A name found at fe80::...: the resolver gives the zone (which link) as the scope id,
    sockaddr[3]; `connect` kept only sockaddr[0], and an fe80:: address without its zone
    cannot be connected to. The address kept holds the zone, as it would be typed."""
    from lanchat.cli.connect import _no_address

    real_getaddrinfo = socket.getaddrinfo
    index = socket.if_nametoindex("lo")

    def link_local(host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        assert host == "teacher-laptop"
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1", port, 0, index)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", port))]  # fmt: skip

    monkeypatch.setattr(socket, "getaddrinfo", link_local)
    found = _no_address("teacher-laptop", 3580)
    monkeypatch.setattr(socket, "getaddrinfo", real_getaddrinfo)
    assert found == ("fe80::1%lo", "192.0.2.7")
    assert real_getaddrinfo(found[0], 3580, type=socket.SOCK_STREAM)[0][4][3] == index  # the zone, as connecting reads it


def test_a_host_name_holding_a_byte_that_is_not_utf8_is_said_as_connect_says_it():
    """lookup.py wrote transport's NOT_A_HOST_NAME out again, and so missed its other reason:
    `serve --host` typed in a terminal of another character set was told of two dots in a row."""
    found = lookup.look_up("caf\udce9.lan", 3580)  # (surrogateescape: how argv holds the byte)
    assert found.outcome == lookup.NOT_A_NAME
    assert found.problem == ("is not a host name: a host name cannot hold a byte that is not UTF-8 "
                             "(a terminal set to another character set types them)")  # fmt: skip
    assert lookup.look_up("a..b", 3580).problem == "is not a host name (two dots in a row, or a part over 63 characters?)"


def test_serve_host_naming_a_link_local_address_keeps_its_zone(monkeypatch):
    """`serve --host NAME` took the first address found without its scope id: a name for an
    fe80:: address gave an address with no interface, which no socket can listen on. The rule
    connect's addresses follow (cli/rejoin.py's found_at) gives it its zone."""
    from lanchat.cli.serve import _listen_address

    index, interface = socket.if_nameindex()[0]

    def link_local(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1", 3580, 0, index))]

    monkeypatch.setattr(socket, "getaddrinfo", link_local)
    assert _listen_address("linklocal.example", 3580) == f"fe80::1%{interface}"
