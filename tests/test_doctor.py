"""`lanchat doctor`: each check judged from plain facts, then the command for real: a free port, a busy
port, a server that answers, something that is not lanchat, a blocked port and no network at all
(the last two inside network namespaces the test creates)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from helpers import Proc, RawClient, running_server, wait_for

from lanchat.addresses import LocalAddress, Target
from lanchat.discovery import RoomInfo
from lanchat.doctor import (
    judge_addresses,
    judge_data_folder,
    judge_discovery,
    judge_firewalld,
    judge_locale,
    judge_mistyped,
    judge_nftables,
    judge_port,
    judge_room_name,
    judge_server,
    judge_terminal,
    judge_ufw,
)
from lanchat.netinfo import PortHolder


def doctor(*args: str, program: list[str] | None = None) -> tuple[int, dict[str, dict]]:
    """Run `lanchat doctor --json` (no room browsing unless asked): exit status and checks by name."""
    proc = Proc("doctor", "--json", *(args if "--wait" in args else (*args, "--wait", "0")), stdin=False, program=program)
    try:
        code = proc.wait(30)
    finally:
        proc.stop()
    assert "Traceback" not in proc.output, proc.output
    report = json.loads(proc.output)
    assert report["ok"] == (code == 0)
    return code, {check["name"]: check for check in report["checks"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ------------------------------------------------------------ the real command


def test_a_free_port_is_reported_free():
    port = free_port()
    code, checks = doctor("--port", str(port))
    assert checks["port"]["status"] == "ok" and f"port {port} is free" in checks["port"]["summary"]
    assert checks["server"]["status"] == "info"  # nobody serves here, and nobody asked about a server
    assert code == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)  # only this machine's own checks may fail


def test_a_busy_port_names_the_program_holding_it_and_fails():
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        code, checks = doctor("--port", str(port))
    assert code == 1
    port_check = checks["port"]
    assert port_check["status"] == "fail"
    assert f"port {port} is already in use by" in port_check["summary"]
    assert f"(pid {os.getpid()})" in port_check["summary"]  # this test process holds it
    offered = re.search(r"--port (\d+)$", port_check["fix"])  # the next free after it (port + 1 unless held a moment)
    assert offered is not None and port < int(offered.group(1)) <= port + 100, port_check["fix"]


def test_a_lanchat_server_is_recognised_without_joining_the_room():
    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-history")
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        mark = server.mark()
        code, checks = doctor(f"127.0.0.1:{port}")
        assert checks["server"]["status"] == "ok"
        assert checks["server"]["summary"] == f"a lanchat server answers at 127.0.0.1:{port}"
        assert checks["port"]["status"] == "info" and "lanchat server" in checks["port"]["summary"]
        bob = Proc("connect", "127.0.0.1", port, "--name", "bob")
        try:
            server.expect(r"bob joined")  # the log is live: had the doctor joined, it would show first
        finally:
            bob.stop()
        assert "bob joined" in [line for line in server.lines[mark:] if "joined" in line][0]
    finally:
        server.stop()
    assert code == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)


def test_a_tls_room_is_recognised_with_its_fingerprint_and_how_to_join():
    """The class set-up README recommends (`serve --tls`) is a lanchat server, not 'another program'."""
    from lanchat.tls import short_form

    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-history", "--tls")
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        fingerprint = server.expect(r"fingerprint is (SHA256:\S+)").group(1)
        _, checks = doctor(f"127.0.0.1:{port}")
        _, unasked = doctor("--port", port)  # this machine's own port, no address named
    finally:
        server.stop()
    for check in (checks["server"], unasked["server"]):
        assert check["status"] == "ok", check
        assert check["summary"] == (f"a lanchat server with TLS answers at 127.0.0.1:{port}: join with "
                                    f"`lanchat connect 127.0.0.1:{port} --tls` (its fingerprint: {fingerprint}, in short "
                                    f"{short_form(fingerprint)})")
    assert "joined" not in server.output


def test_a_tls_room_whose_fingerprint_is_not_the_one_remembered_fails_with_both():
    """`lanchat doctor ADDRESS PORT` said "ok, a lanchat server with TLS answers" for a room whose
    certificate differs from the one known_servers remembers for it: `connect` then refused it
    as CHANGED, and the doctor, run to find out why, had said all was well. It fails now, with
    both fingerprints and the fix; the one remembered is said to be the one trusted."""
    from helpers import child_env

    from lanchat.tls import KnownServers, fingerprint, short_form

    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", "0", "--no-history", "--tls")
    env = child_env()
    known = KnownServers(Path(env["XDG_DATA_HOME"]) / "lanchat" / "known_servers")  # the doctor's data folder
    reports = []
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        presented = server.expect(r"fingerprint is (SHA256:\S+)").group(1)
        for remembered in (fingerprint(b"the certificate trusted before"), presented):
            assert known.remember(f"127.0.0.1:{port}", remembered) is None
            proc = Proc("doctor", "--json", "127.0.0.1", port, "--wait", "0", stdin=False, env=env)
            code = proc.wait(30)
            reports.append((code, {c["name"]: c for c in json.loads(proc.output)["checks"]}["server"]))
    finally:
        server.stop()
    (code, changed), (_, trusted) = reports
    assert code == 1 and changed["status"] == "fail", changed
    assert "not the one you trusted there" in changed["summary"], changed
    before = fingerprint(b"the certificate trusted before")
    assert changed["details"] == [f"remembered: {short_form(before)}, {before}", f"presented:  {short_form(presented)}, {presented}"]
    assert f"is its short form {short_form(presented)}?" in changed["fix"]
    assert f"`lanchat forget 127.0.0.1:{port}`" in changed["fix"]
    assert trusted["status"] == "ok"
    assert trusted["summary"].endswith(f"(its fingerprint: {presented}, in short {short_form(presented)}, the one you trusted)")


def test_a_room_whose_name_holds_another_certificate_than_its_address_is_doubted(tmp_path, monkeypatch):
    """A room announced as "maths" at an address trusted with the certificate it presents, the name
    "maths" trusted with another: `connect maths` refuses it as CHANGED (for the name), yet the
    doctor compared only the address's, and said all was well. The one it is not is compared."""
    from lanchat import doctor
    from lanchat import tls as tls_module
    from lanchat.tls import KnownServers

    monkeypatch.setattr(tls_module, "default_folder", lambda: tmp_path)
    known = KnownServers(tmp_path / "known_servers")
    address, name = "SHA256:" + "A" * 43, "SHA256:" + "B" * 43
    assert doctor.remembered_fingerprint("10.0.0.5:3580", "maths", address) is None
    assert known.remember("10.0.0.5:3580", address) is None
    assert doctor.remembered_fingerprint("10.0.0.5:3580", "maths", address) == address  # the one trusted
    assert known.rooms.remember("Maths", name) is None
    assert doctor.remembered_fingerprint("10.0.0.5:3580", "maths", address) == name
    assert doctor.remembered_fingerprint("10.0.0.5:3580", "maths", name) == address
    assert doctor.remembered_fingerprint("10.0.0.5:3580", None, address) == address
    # the name holding both (two teachers' rooms called "maths", tls.KnownRooms): either is trusted, connect takes it
    assert known.rooms.remember("maths", address) is None and known.rooms.trusted("maths") == [name, address]
    assert doctor.remembered_fingerprint("10.0.0.5:3580", "maths", address) == address
    assert doctor.remembered_fingerprint("10.0.0.6:3580", "maths", name) == name


def test_a_room_still_starting_is_said_to_be_there_and_waiting_for_its_host():
    """A server holding newcomers until its host is in (hub.Hub._first) held the doctor's `who`
    too: 'something accepted the connection but said nothing within 3 s', 'that port belongs to
    another program'. Its probe asks with hold_notice; the room answers `held` (PROTOCOL.md, Held
    while the room starts). A real server whose host's end is adopted but has not said hello."""
    with running_server() as (server, endpoint):
        host_end, server_end = socket.socketpair()
        server.add_local(server_end, host=True)  # as serve does before its screen says hello
        try:
            port = str(endpoint.port)
            code, checks = doctor("127.0.0.1", port)
            held = checks["server"]
            assert held["status"] == "warn", held
            assert "a lanchat server answers at 127.0.0.1:" in held["summary"] and "still starting" in held["summary"]
            assert "its host or its bot has not come in" in held["fix"] and "another program" not in held["fix"]
            assert code == (1 if any(c["status"] == "fail" for c in checks.values()) else 0)
            host = RawClient(host_end, "ann")  # the host comes in: the same doctor finds the room open
            assert host.welcome is not None
            _code, checks = doctor("127.0.0.1", port)
            assert checks["server"]["status"] == "ok", checks["server"]
            assert [member.name for member in list(server.room.members.values())] == ["ann"]  # the doctor joined neither time
            host.close()
        finally:
            host_end.close()


def test_a_room_that_stops_while_it_is_starting_is_said_to_have_stopped_not_to_be_another_program():
    """The doctor held by a room still starting (its probe told `held`), whose server then stopped
    within the probe's 3 s, said 'no lanchat server at 127.0.0.1:PORT: something answered, but not
    as a lanchat server does', 'that port belongs to another program'. A real server, its host's
    end adopted but silent, stopped once the doctor is held."""
    with running_server() as (server, endpoint):
        host_end, server_end = socket.socketpair()
        server.add_local(server_end, host=True)  # as serve does before its screen says hello
        proc = Proc("doctor", "--json", "127.0.0.1", str(endpoint.port), "--wait", "0", stdin=False)
        try:
            wait_for(lambda: any(peer.told_held for peer in list(server.hub.peers.values())), what="the doctor held")
            server.request_shutdown("the host stopped the room")
            code = proc.wait(30)
        finally:
            proc.stop()
            host_end.close()
    checks = {check["name"]: check for check in json.loads(proc.output)["checks"]}
    stopped = checks["server"]
    assert code == 1 and stopped["status"] == "fail", stopped
    assert stopped["summary"].startswith(f"a lanchat server answered at 127.0.0.1:{endpoint.port}, but its room was starting, "
                                         "then its server "), stopped
    assert "another program" not in stopped["fix"] and "`lanchat serve`" in stopped["fix"], stopped
    # a server's reason is said as visible characters, its first 200 only (a hostile one's 60,000, an escape)
    from lanchat import events as ev
    from lanchat.doctor import _ask_who
    from lanchat.protocol import encode

    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(encode(ev.Held()) + encode(ev.Shutdown(reason="\x1b[2J" + "x" * 60_000)))
        outcome, detail = _ask_who(ours, 3.0)
    assert outcome == "stopped-starting" and "\x1b" not in detail and len(detail) < 300, (outcome, len(detail))
    # a reason of nothing (or blanks, a line break) is no '()' after 'stopped'; one with a line break is one line
    for reason, said in (("", ""), (" \n ", ""), ("bye\nnow", " (bye now)")):
        ours, theirs = socket.socketpair()
        with ours, theirs:
            theirs.sendall(encode(ev.Held()) + encode(ev.Shutdown(reason=reason)))
            assert _ask_who(ours, 3.0) == ("stopped-starting", f"its room was starting, then its server stopped{said}"), reason
    # closed without a word (or broken) after held: the same; before any held: whatever holds the port
    from lanchat.doctor import _held_then

    assert _held_then(True, "something accepted the connection and closed it without a word") == (
        "stopped-starting", "its room was starting, then its server closed the connection")
    assert _held_then(False, "the connection broke: Connection reset by peer")[0] == "other"


def test_a_tls_room_still_starting_with_another_certificate_than_the_one_trusted_fails(tmp_path):
    """From the pretender's side: a TLS server on the room's address, with its own certificate,
    that holds the doctor's `who` (says `held`, as a room whose host is not in yet does) was
    judged 'still starting, wait a moment' (a warning): the fingerprint was compared with the one
    trusted only when the room answered. `connect` refuses it as CHANGED; so does the doctor now,
    and discovery doubts a starting room whose certificate is not the one it announces."""
    from helpers import child_env

    from lanchat.tls import KnownServers, ensure_certificate, fingerprint, server_context, short_form

    context, presented = server_context(*ensure_certificate(tmp_path / "mallory")[:2])
    trusted = fingerprint(b"the room's own certificate, trusted before")
    env = child_env()
    known = KnownServers(Path(env["XDG_DATA_HOME"]) / "lanchat" / "known_servers")  # the doctor's data folder
    with running_server(tls=context) as (server, endpoint):
        host_end, server_end = socket.socketpair()
        server.add_local(server_end, host=True)  # its host never says hello: every newcomer is held
        try:
            where = f"127.0.0.1:{endpoint.port}"
            assert known.remember(where, trusted) is None
            proc = Proc("doctor", "--json", "127.0.0.1", str(endpoint.port), "--wait", "0", stdin=False, env=env)
            try:
                code = proc.wait(30)
            finally:
                proc.stop()
        finally:
            host_end.close()
    check = {c["name"]: c for c in json.loads(proc.output)["checks"]}["server"]
    assert (code, check["status"]) == (1, "fail"), check
    assert "not the one you trusted there" in check["summary"], check
    assert f"presented:  {short_form(presented)}, {presented}" in check["details"], check
    room = RoomInfo(name="maths", host="", addresses=("198.18.0.1",), port=3580, fingerprint=trusted)
    lying = judge_discovery([room], None, 2, {room.where: ("starting-tls", presented)})  # announces one, presents another
    assert (lying.status, lying.details) == ("fail", (f"{room.describe()}: announces {trusted} but presents {presented}",))


def test_something_that_is_not_lanchat_is_named_as_such():
    with socket.create_server(("127.0.0.1", 0)) as impostor:
        port = impostor.getsockname()[1]
        impostor.settimeout(30)  # a doctor that never connects must not leave the thread waiting

        def answer_like_ssh() -> None:
            conn, _ = impostor.accept()
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
                conn.settimeout(5)
                try:
                    conn.recv(100)
                except OSError:
                    pass

        thread = threading.Thread(target=answer_like_ssh, daemon=True)
        thread.start()
        code, checks = doctor("127.0.0.1", str(port))
        thread.join(10)
    assert code == 1
    assert checks["server"]["status"] == "fail"
    assert "not in lanchat's protocol" in checks["server"]["summary"] or "not as a lanchat" in checks["server"]["summary"]


def test_a_server_that_drips_its_answer_is_given_up_on_within_the_probes_time():
    """The probe's timeout was the socket's, per recv(): a server dripping a byte a second (a
    frame header that promises 60,000 bytes) held `lanchat doctor` for as long as it dripped,
    the room's port probed from an announcement on the LAN included. The probe has one deadline."""
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as dripper:
        port = dripper.getsockname()[1]
        dripper.settimeout(30)

        def drip() -> None:
            conn, _ = dripper.accept()
            with conn:
                for byte in b"\x00\x00\xea\x60" + b"{" + b" " * 60:  # the attack's pace, not synchronisation
                    if stop.wait(0.5):
                        return
                    conn.sendall(bytes([byte]))

        thread = threading.Thread(target=drip, daemon=True)
        thread.start()
        try:
            started = time.monotonic()
            code, checks = doctor("127.0.0.1", str(port))
            assert time.monotonic() - started < 20
        finally:
            stop.set()
            thread.join(10)
    assert code == 1
    assert checks["server"]["summary"].endswith("something accepted the connection but did not finish an answer within 3 s")


def test_nothing_listening_at_a_named_address_fails_with_what_to_check():
    port = free_port()
    code, checks = doctor(f"127.0.0.1:{port}")
    assert code == 1
    assert checks["server"]["status"] == "fail" and "connection refused" in checks["server"]["summary"]
    assert "lanchat serve" in checks["server"]["fix"]


def test_a_connect_that_gets_no_answer_points_to_the_doctor_for_that_address(lab):
    """`lanchat connect ADDRESS` whose packets are dropped said only "timed out connecting"
    (after 10 s): it now names the command that says what is in the way. (A refusal stays one
    line: test_cli::test_no_server_there_is_one_clear_line.)"""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.link(ann, "198.18.0.1/24", bob, "198.18.0.2/24")
    block_port(lab, ann, 3580, verdict=("reject", "with", "icmp", "type", "host-prohibited"))  # at once, not 10 s
    proc = lab.run(bob, "connect", "198.18.0.1", "--name", "bob", stdin=False)
    assert proc.wait(30) == 1
    proc.expect(r"cannot connect to 198\.18\.0\.1:3580: No route to host")
    proc.expect(r"^  `lanchat doctor 198\.18\.0\.1 3580` says what is in the way$")


def test_a_room_found_by_its_name_whose_port_is_dropped_is_not_said_to_be_on_a_machine_that_may_be_off(lab):
    """bob typed `lanchat connect "pizza night"`: the room was found, announced from ann's laptop a
    moment before, and then, her firewall dropping the port, he read 'timed out ...: no answer in 10 s
    (a firewall on the way drops the packets, or the machine is off)' of the machine just heard.
    It now says what the doctor says of such a room: on, on this network, a firewall on it."""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.link(ann, "198.18.0.1/24", bob, "198.18.0.2/24")
    server = lab.run(ann, "serve", "--headless", "--no-history", "--room", "pizza night")
    server.expect(r"announced as 'pizza night'")
    block_port(lab, ann, 3580)  # drops: no answer at all
    proc = lab.run(bob, "connect", "pizza night", "--name", "bob", stdin=False)
    assert proc.wait(40) == 1
    proc.expect(r"joining pizza night on 198\.18\.0\.1:3580")
    proc.expect(r"timed out connecting to 198\.18\.0\.1:3580: no answer in 10 s, though the room was announced from "
                r"there a moment ago: its machine is on and on this network, but a firewall on it most likely drops "
                r"TCP port 3580 \(or the Wi-Fi isolates devices\)$")
    proc.expect(r"^  the host's own `lanchat doctor` names the rule; `lanchat doctor 198\.18\.0\.1 3580` here says")
    assert "or the machine is off" not in proc.output


def test_the_text_report_has_a_fix_under_each_problem():
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        proc = Proc("doctor", "--port", str(port), "--wait", "0", stdin=False)
        try:
            assert proc.wait(30) == 1
        finally:
            proc.stop()
    proc.expect(rf"^  FAIL  port +port {port} is already in use by ")
    # the next port free after it: port + 1 unless a test beside this one holds that for a moment
    offered = proc.expect(r"^ +fix: stop that program, or serve on another port: lanchat serve --port (\d+)$")
    assert port < int(offered.group(1)) <= port + 100
    proc.expect(r"^1 problem\(s\), \d warning\(s\)\.$")
    assert "Traceback" not in proc.output


def test_no_network_at_all(lab):
    """A machine with nothing plugged in: a fresh namespace whose only interface, lo, is down."""
    ns = lab.namespace("N", loopback_up=False)
    code, checks = doctor("--wait", "1", program=lab.program(ns))
    assert code == 1
    assert checks["addresses"]["status"] == "fail" and checks["addresses"]["summary"].startswith("no network")
    assert checks["discovery"]["status"] == "warn"
    assert "isolates devices" in " ".join(checks["discovery"]["details"])


def test_a_port_blocked_by_nftables(lab):
    ns = lab.namespace("F")
    port = 3580  # inside this test's own namespace: no one else's port
    block_port(lab, ns, port)
    code, checks = doctor("--port", str(port), program=lab.program(ns))
    assert code == 1
    assert checks["firewall"]["status"] == "fail"
    assert f"drops TCP port {port}" in checks["firewall"]["summary"]
    # the fix is a command to run, its table named as nft takes it ("<family> <table>" was left for the reader to fill)
    assert checks["firewall"]["fix"] == f"allow it (as root): nft insert rule inet lanchat_test input tcp dport {port} accept"
    done = lab.run_command(ns, *checks["firewall"]["fix"].removeprefix("allow it (as root): ").split())  # run as given
    assert done.returncode == 0, done.stderr
    assert doctor("--port", str(port), program=lab.program(ns))[1]["firewall"]["status"] == "ok"
    _code, open_checks = doctor("--port", str(port + 1), program=lab.program(ns))
    assert open_checks["firewall"]["status"] == "ok"


def test_the_doctor_sees_a_room_across_the_lan(lab):
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.link(ann, "198.18.0.1/24", bob, "198.18.0.2/24")
    server = lab.run(ann, "serve", "--headless", "--port", "0", "--no-history", "--room", "ann's room")
    port = server.expect(r"listening on port (\d+)").group(1)
    server.expect(r"announced as")
    code, checks = doctor("198.18.0.1", port, "--wait", "2", program=lab.program(bob))
    assert checks["discovery"]["status"] == "ok"
    assert any(d.startswith(f"ann's room on 198.18.0.1:{port}") for d in checks["discovery"]["details"])
    assert checks["server"]["status"] == "ok"
    assert checks["addresses"]["summary"] == "others reach this machine at 198.18.0.2 (lan0)"
    assert code == 0


def block_port(lab, ns: str, port: int, *, verdict: tuple[str, ...] = ("drop",)) -> None:
    """A firewall on ``ns`` that drops TCP ``port`` without a word (nftables), as many do;
    ``verdict``: another way, e.g. firewalld's default ("reject", "with", "icmp", "type", "host-prohibited")."""
    if shutil.which("nft") is None:
        pytest.skip("needs the nft command (nftables) to block a port inside a namespace")
    for command in (
        ["add", "table", "inet", "lanchat_test"],
        ["add", "chain", "inet", "lanchat_test", "input", "{ type filter hook input priority 0; policy accept; }"],
        ["add", "rule", "inet", "lanchat_test", "input", "tcp", "dport", str(port), *verdict],
    ):
        done = lab.run_command(ns, "nft", *command)
        assert done.returncode == 0, done.stderr


def test_an_announced_room_whose_port_is_dropped_is_not_all_good(lab):
    """bob's `lanchat connect` found ann's room, timed out joining it and said "run `lanchat
    doctor`"; the doctor, run as told (no address), saw the room announced and said "all good"
    (exit 0). It now tries each room it sees and says which cannot be reached, and why."""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.link(ann, "198.18.0.1/24", bob, "198.18.0.2/24")
    server = lab.run(ann, "serve", "--headless", "--port", "0", "--no-history", "--room", "ann's room")
    port = int(server.expect(r"listening on port (\d+)").group(1))
    server.expect(r"announced as")
    block_port(lab, ann, port)
    code, checks = doctor("--wait", "2", program=lab.program(bob))
    assert code == 1
    found = checks["discovery"]
    assert found["status"] == "fail", found
    assert found["summary"] == "1 room(s) seen on this network, 1 not reachable from here"
    assert found["details"] == [f"ann's room on 198.18.0.1:{port} (full-duplex, host {socket.gethostname()}): "
                                "no answer within 3 s"]
    assert "firewall on the host's machine" in found["fix"] and f"port {port}" in found["fix"]


def test_the_hosts_own_doctor_never_says_no_server_runs_of_the_room_it_runs(lab):
    """ann serves a room, a friend cannot join, and ann runs `lanchat doctor` as the README says.
    Her firewall dropped the port (loopback too), and the doctor read: "port 3580 is used by a
    lanchat server here (python (pid 812))", then "no lanchat server runs on this machine at port
    3580; fix: start one with `lanchat serve`" of that very server. Now the server check fails
    with the server named and the cause that fits; so for a room started with --host, which does
    not listen on 127.0.0.1."""
    ann = lab.namespace("A")
    friend = lab.namespace("B")
    lab.link(ann, "198.18.0.1/24", friend, "198.18.0.2/24")
    server = lab.run(ann, "serve", "--headless", "--port", "0", "--no-history", "--no-announce")
    port = int(server.expect(r"listening on port (\d+)").group(1))
    block_port(lab, ann, port)
    code, checks = doctor("--port", str(port), program=lab.program(ann))
    assert code == 1
    assert checks["port"]["summary"].startswith(f"port {port} is used by a lanchat server here"), checks["port"]
    found = checks["server"]
    assert found["status"] == "fail", found
    assert found["summary"].startswith(f"a lanchat server holds port {port} here (python"), found
    assert found["summary"].endswith(f"but it does not answer at 127.0.0.1:{port}: no answer within 3 s"), found
    assert "a firewall on this machine drops" in found["fix"] and "start one" not in found["fix"], found
    only_lan = lab.run(ann, "serve", "--headless", "--port", "0", "--no-history", "--no-announce", "--host", "198.18.0.1")
    lan_port = int(only_lan.expect(r"listening on port (\d+)").group(1))
    _code, checks = doctor("--port", str(lan_port), program=lab.program(ann))
    found = checks["server"]
    assert found["status"] == "fail" and found["summary"].endswith("connection refused"), found
    assert "listens on another address only" in found["fix"], found
    assert "start one" not in found["fix"], found


def test_a_port_refused_the_firewalld_way_is_named_a_firewall_not_a_missing_route(lab):
    """firewalld (Fedora's default) refuses a closed port with an ICMP 'host prohibited':
    connect reads "No route to host", and the doctor said "this machine has no route there:
    are both on the same network?" of a machine on the same network."""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.link(ann, "198.18.0.1/24", bob, "198.18.0.2/24")
    server = lab.run(ann, "serve", "--headless", "--port", "0", "--no-history", "--no-announce")
    port = server.expect(r"listening on port (\d+)").group(1)
    block_port(lab, ann, int(port), verdict=("reject", "with", "icmp", "type", "host-prohibited"))
    code, checks = doctor("198.18.0.1", port, program=lab.program(bob))
    assert code == 1
    found = checks["server"]
    assert found["status"] == "fail" and "No route to host" in found["summary"], found
    assert "no route there" not in found["fix"] and "firewall" in found["fix"], found


# ------------------------------------------------------------ judged from facts


def test_addresses_judged():
    lan = LocalAddress("wlan0", "192.168.1.20", default_route=True)
    loop = LocalAddress("lo", "127.0.0.1")
    docker = LocalAddress("docker0", "172.17.0.1")
    assert judge_addresses([lan, docker, loop]).status == "ok"
    assert judge_addresses([loop]).status == "fail"
    assert judge_addresses([]).status == "fail"
    assert judge_addresses([docker, loop]).status == "warn"
    assert "a container or VM bridge" in judge_addresses([lan, docker, loop]).details[1]
    cable = LocalAddress("eth0", "fe80::a:1%eth0", version=6)  # two laptops and a cable: discovery still joins
    assert judge_addresses([loop], [cable]).status == "info"
    assert judge_addresses([lan, loop], [cable]).status == "ok"


def test_port_judged():
    assert judge_port(3580, None, []).status == "ok"
    assert judge_port(80, errno.EACCES, []).status == "fail"
    held = judge_port(3580, errno.EADDRINUSE, [PortHolder(pid=7, name="nginx", command="nginx: master")])
    assert held.status == "fail" and "nginx (pid 7)" in held.summary
    ours = judge_port(3580, errno.EADDRINUSE, [PortHolder(pid=8, name="python3", command="python3 -m lanchat serve")])
    assert ours.status == "info" and "`lanchat connect 127.0.0.1 3580`" in ours.fix
    # one holder is named in the summary; listed again below it, `lanchat doctor` said it twice
    assert ours.details == () and held.details == ()
    # a TLS room refuses a plain connect: the fix offered --tls-less, which would be refused
    tls = judge_port(3580, errno.EADDRINUSE, [PortHolder(pid=8, name="python3", command="python3 -m lanchat serve --tls")])
    assert "`lanchat connect 127.0.0.1 3580 --tls`" in tls.fix
    hidden = judge_port(3580, errno.EADDRINUSE, [])
    assert "run as root to see which" in hidden.summary
    sneaky = judge_port(3580, errno.EADDRINUSE, [PortHolder(pid=9, name="evil\x1b[2J", command=None)])
    assert "\x1b" not in sneaky.summary


def test_server_judged_for_every_outcome():
    target = Target("192.168.1.20", 3580)
    for outcome in ("refused", "timeout", "unreachable", "host-unreachable", "unknown-host", "no-answer", "other"):
        check = judge_server(target, outcome, "why", asked=True)
        assert check.status == "fail" and check.fix, outcome
    assert "isolates devices" in judge_server(target, "timeout", "why", asked=True).fix
    assert judge_server(target, "refused", "why", asked=False).status == "info"
    assert judge_server(target, "other", "why", asked=False).status == "info"  # the port check names the holder
    here = Target("127.0.0.1", 3580)  # ... unless it found a lanchat server there: then its silence is news
    for outcome, cause in (("refused", "another address only"), ("timeout", "firewall"), ("other", "Ctrl-Z")):
        check = judge_server(here, outcome, "why", asked=False, here="python (pid 812)")
        assert check.status == "fail" and "python (pid 812)" in check.summary and cause in check.fix, outcome
    for outcome in ("starting", "starting-tls"):  # a room there, waiting for its host: asked about or not
        for asked in (True, False):
            check = judge_server(target, outcome, "SHA256:" + "ab" * 32, asked=asked)
            assert check.status == "warn" and "still starting" in check.summary, (outcome, asked)
            assert ("--tls" in check.fix) == (outcome == "starting-tls")


def test_a_name_server_that_does_not_answer_is_not_told_to_check_the_spelling():
    """A silent name server said 'check the spelling': the name may be right. Its fix is the
    numeric address lanchat serve prints."""
    silent = judge_server(Target("ann-laptop", 3580), "no-answer", "cannot find host 'ann-laptop': the network's "
                          "name server did not answer in 3 s (is the network up?)", asked=True)  # fmt: skip
    assert silent.status == "fail" and "spelling" not in silent.fix, silent
    assert "use the numeric address `lanchat serve` prints" in silent.fix, silent


RULESET_DROP = """table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		tcp dport { 22, 3580 } drop
	}
}
"""

RULESET_POLICY_DROP = """table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		tcp dport 22 accept
	}
	chain output {
		type filter hook output priority filter; policy accept;
	}
}
"""

RULESET_ALLOWED = RULESET_POLICY_DROP.replace("tcp dport 22 accept", "tcp dport 3000-4000 accept")


def test_nftables_rules_judged():
    assert judge_nftables(RULESET_DROP, 3580).status == "fail"
    assert judge_nftables(RULESET_DROP, 3580).fix.endswith("nft insert rule inet filter input tcp dport 3580 accept")
    assert judge_nftables(RULESET_POLICY_DROP, 3580).fix.endswith("nft insert rule inet filter input tcp dport 3580 accept")
    two_tables = "table ip nat {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat;\n\t}\n}\n" + \
        RULESET_DROP.replace("table inet filter", "table ip6 guard")
    assert judge_nftables(two_tables, 3580).fix.endswith("nft insert rule ip6 guard input tcp dport 3580 accept")
    assert judge_nftables(RULESET_DROP, 3581) is None
    assert judge_nftables(RULESET_POLICY_DROP, 3580).status == "warn"
    assert judge_nftables(RULESET_ALLOWED, 3580).status == "ok"
    assert judge_nftables("", 3580) is None


def test_ufw_and_firewalld_judged():
    assert judge_ufw("Status: inactive\n", 3580) is None
    assert judge_ufw("Status: active\n\nTo Action From\n22/tcp ALLOW Anywhere\n", 3580).status == "warn"
    assert judge_ufw("Status: active\n\nTo Action From\n3580/tcp ALLOW Anywhere\n", 3580).status == "ok"
    assert judge_ufw("Status: active\n\nTo Action From\n3580 DENY Anywhere\n", 3580).status == "fail"
    assert judge_firewalld("not running\n", "", 3580) is None
    assert judge_firewalld("running\n", "22/tcp\n", 3580).status == "warn"
    assert judge_firewalld("running\n", "22/tcp 3580/tcp\n", 3580).status == "ok"


def test_discovery_locale_terminal_and_data_folder_judged(tmp_path):
    assert judge_discovery([], None, 2).status == "warn"
    assert judge_discovery(None, "no interface", 2).status == "warn"
    # the server asked about answered from another network: no room announced here is expected
    beyond = judge_discovery([], None, 2, elsewhere=Target("fd01::10", 3580))
    assert (beyond.status, beyond.details) == ("info", ())
    assert beyond.fix == "join it by its address: lanchat connect fd01::10 3580"
    room = RoomInfo(name="ann's room", host="", addresses=("198.18.0.1",), port=3580)
    assert judge_discovery([room], None, 2, {room.where: ("lanchat", "")}).status == "ok"
    refused = judge_discovery([room], None, 2, {room.where: ("refused", "connection refused")})
    assert (refused.status, refused.details) == ("fail", ("ann's room on 198.18.0.1:3580 (full-duplex): connection refused",))
    assert "nothing listens" in refused.fix
    # a room that answered `held`, then stopped (stopped-starting): its server stopped, no firewall (it read
    # 'a firewall on the host's machine most likely drops or refuses TCP port 3580', the server check above it 'stopped')
    stopped = judge_discovery([room], None, 2, {room.where: ("stopped-starting", "its room was starting, then its server "
                                                             "closed the connection")})
    assert stopped.status == "fail" and "firewall" not in stopped.fix and "`lanchat serve`" in stopped.fix, stopped
    pin, other = "SHA256:" + "A" * 43, "SHA256:" + "B" * 43
    tls_room = RoomInfo(name="safe room", host="", addresses=("198.18.0.1",), port=3580, fingerprint=pin)
    assert judge_discovery([tls_room], None, 2, {tls_room.where: ("lanchat-tls", pin)}, {tls_room.where: pin}).status == "ok"
    lying = judge_discovery([tls_room], None, 2, {tls_room.where: ("lanchat-tls", other)})  # announces one, presents another
    assert (lying.status, lying.details) == ("fail", (f"{tls_room.describe()}: announces {pin} but presents {other}",))
    changed = judge_discovery([tls_room], None, 2, {tls_room.where: ("lanchat-tls", pin)}, {tls_room.where: other})
    assert (changed.status, changed.details) == ("fail", (f"{tls_room.describe()}: presents {pin}, not the {other} you trusted for it",))
    assert "pretending" in changed.fix
    assert judge_locale("UTF-8", {"LANG": "C.UTF-8"}).status == "ok"
    latin = judge_locale("ANSI_X3.4-1968", {"LANG": "C"})
    assert latin.status == "warn" and "LANG=C.UTF-8" in latin.fix
    assert judge_terminal(is_tty=False, term="xterm", size=None, colours=None).status == "info"
    assert judge_terminal(is_tty=True, term="dumb", size=(80, 24), colours=None).status == "warn"
    assert judge_terminal(is_tty=True, term="xterm-256color", size=(10, 3), colours=256).status == "warn"
    fine = judge_terminal(is_tty=True, term="xterm-256color", size=(120, 40), colours=256)
    assert (fine.status, fine.summary) == ("ok", "xterm-256color, 120x40, 256 colours")
    assert judge_data_folder(tmp_path).status == "ok"
    assert "created on first use" in judge_data_folder(tmp_path / "new" / "lanchat").summary
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert judge_data_folder(a_file).status == "fail"
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert judge_data_folder(locked / "lanchat").status == "fail"


def answer_once_both_are_in(first: socket.socket, second: socket.socket) -> None:
    """Two lanchat-like listeners that say 'hello first' (as a server does to ``who``) only once a
    connection came to each: probes made one after the other would wait in vain on the first."""
    import selectors

    from lanchat import events as ev
    from lanchat.protocol import encode

    conns = []
    with selectors.DefaultSelector() as selector:
        for listener in (first, second):
            selector.register(listener, selectors.EVENT_READ)
        while len(conns) < 2 and (ready := selector.select(10)):
            for key, _mask in ready:
                conns.append(key.fileobj.accept()[0])  # type: ignore[union-attr]
                selector.unregister(key.fileobj)
    for conn in conns:
        with conn:
            conn.settimeout(5)
            conn.sendall(encode(ev.Error(code=ev.E_HELLO_FIRST, message="say hello first")))
            with contextlib.suppress(OSError):
                while conn.recv(4096):  # its bye, then it closes
                    pass


def test_probe_rooms_asks_every_room_seen_at_once_but_not_one_asked_already_nor_past_the_limit():
    """`doctor --wait` asks each room the browse found (discovery.RoomInfo, here on loopback: no
    multicast) whether lanchat answers at its announced place: a real server, a closed port, and
    two that answer only when both are asked at once; a room already asked keeps its answer and
    is not connected to, and rooms past ``limit`` are not asked."""
    from helpers import running_server

    from lanchat.doctor import probe_rooms

    def room(name: str, port: int) -> RoomInfo:
        return RoomInfo(name=name, host="", addresses=("127.0.0.1",), port=port)

    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(4)]
    waiting_a, waiting_b, asked_before, past_limit = listeners
    ports = [listener.getsockname()[1] for listener in listeners]
    answering = threading.Thread(target=answer_once_both_are_in, args=(waiting_a, waiting_b), daemon=True)
    answering.start()
    try:
        with running_server() as (_server, endpoint):
            rooms = [room("real", endpoint.port), room("gone", free_port()), room("known", ports[2]),
                     room("a", ports[0]), room("b", ports[1]), room("ninth", ports[3])]  # fmt: skip
            known = {rooms[2].where: ("lanchat", "asked before")}
            answers = probe_rooms(rooms, known, limit=5)
        answering.join(10)
        for unasked in (asked_before, past_limit):
            unasked.setblocking(False)
            with pytest.raises(BlockingIOError):
                unasked.accept()  # nobody came
    finally:
        for listener in listeners:
            listener.close()
    assert answers == {
        rooms[0].where: ("lanchat", "a lanchat server answered"),
        rooms[1].where: ("refused", "connection refused"),
        rooms[2].where: ("lanchat", "asked before"),
        rooms[3].where: ("lanchat", "a lanchat server answered"),
        rooms[4].where: ("lanchat", "a lanchat server answered"),
    }


def test_data_folder_free_space_in_the_one_size_convention(tmp_path):
    """README: sizes use powers of 1024 with their IEC names everywhere. doctor said '79224 MB
    free' for 79224 MiB; it now says it as /send and /files do (human_size: MiB, GiB)."""
    summary = judge_data_folder(tmp_path).summary
    assert re.search(r", \d+\.\d (KiB|MiB|GiB) free$", summary), summary
    assert " MB" not in summary


def test_bad_doctor_arguments_are_one_line():
    for args, complaint in ((["1.2.3.4:0"], "port 0 cannot be joined"), (["--wait", "99"], "from 0 to 30 seconds")):
        proc = Proc("doctor", *args, stdin=False)
        try:
            assert proc.wait() == 2
        finally:
            proc.stop()
        assert len(proc.lines) == 1 and complaint in proc.lines[0], proc.output


def test_help_of_rooms_and_doctor_explains_with_examples():
    for command, options in (("rooms", ("--wait", "--json")), ("doctor", ("--port", "--wait", "--json"))):
        proc = Proc(command, "--help", stdin=False)
        try:
            assert proc.wait() == 0
        finally:
            proc.stop()
        assert "examples:" in proc.output and f"lanchat {command} " in proc.output
        assert all(option in proc.output for option in options)


def test_the_report_at_an_80_column_terminal_folds_each_finding_under_its_indent():
    """A student at an 80x24 terminal: the terminal cut the long findings anywhere ("is `lanchat
    serve` running on t" / "hat machine"), back at column 0. Now each one is folded at a space,
    under its own indent; a pipe still gets one line each (the test above)."""
    from helpers import TermProc

    term = TermProc("doctor", f"127.0.0.1:{free_port()}", "--wait", "0", rows=60, cols=80)
    try:
        assert term.wait(30) == 1
    finally:
        term.stop()
    lines = bytes(term.raw).decode("utf-8", "replace").replace("\r", "").split("\n")
    assert "Traceback" not in "\n".join(lines)
    too_wide = [line for line in lines if len(line) > 80 and " " in line.strip()]  # a long path alone may be
    assert not too_wide, too_wide
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("fix: nothing listens there"))
    indent = lines[at].index("fix: ") + len("fix: ")
    assert lines[at + 1].startswith(" " * indent) and lines[at + 1][indent] != " ", lines[at : at + 2]
    assert "running on that machine" in " ".join(line.strip() for line in lines[at : at + 2])


def test_a_rooms_name_given_to_doctor_is_said_to_be_one_with_the_connect_that_joins_it():
    # `lanchat doctor friends` said "cannot find host 'friends'; fix: check the spelling, or use
    # the numeric address", while its discovery check listed the room "friends"
    target = Target("friends", 3580)
    rooms = [RoomInfo(name="Friends", host="vm", addresses=("198.18.5.1",), port=3580)]
    failed = judge_server(target, "unknown-host", "cannot find host 'friends'", asked=True)
    said = judge_room_name(failed, target, "unknown-host", rooms)
    assert said.status == "info"
    assert said.summary == "no machine is called 'friends', but a room announced here is (198.18.5.1:3580)"
    assert "`lanchat connect friends` joins it" in said.fix
    typo = judge_room_name(failed, Target("friendz", 3580), "unknown-host", rooms)  # neither: the room there is named
    assert typo.status == "fail" and "(rooms announced here: Friends)" in typo.fix, typo
    refused = judge_server(target, "refused", "connection refused", asked=True)
    assert judge_room_name(refused, target, "refused", rooms) is refused  # a machine of that name: its own verdict


def test_a_name_that_is_no_machine_and_no_room_is_said_to_be_neither_as_connect_says_it():
    """`lanchat doctor Zorglub` said "cannot find host 'Zorglub'; fix: check the spelling, or use the
    numeric address", where `connect Zorglub` looks for a room of that name too and says there is
    neither. Now the doctor, which browses the rooms anyway, says so, with the rooms it saw."""
    target = Target("Zorglub", 3580)
    failed = judge_server(target, "unknown-host", "cannot find host 'Zorglub'", asked=True)
    rooms = [RoomInfo(name=name, host="vm", addresses=("198.18.5.1",), port=3580) for name in ("lab", "ann's room", "Friends")]
    said = judge_room_name(failed, target, "unknown-host", rooms)
    assert said.status == "fail"
    assert said.summary == "no machine is called 'Zorglub', and no room of that name is announced here"
    assert said.fix == "check the spelling (rooms announced here: \"ann's room\", Friends, lab), or ask the host for the address their screen shows"
    assert judge_room_name(failed, target, "unknown-host", []).fix == "check the spelling, or ask the host for the address their screen shows"
    for kept in (Target("192.168..1.20", 3580), Target("x" * 300, 3580)):  # meant as an address; no room's name
        unknown = judge_server(kept, "unknown-host", f"cannot find host {kept.host!r}", asked=True)
        assert judge_room_name(unknown, kept, "unknown-host", rooms) is unknown
    silent = judge_server(target, "no-answer", "cannot find host 'Zorglub': the name server did not answer", asked=True)
    assert judge_room_name(silent, target, "no-answer", rooms) is silent  # the name may be right: said as it was


def test_a_one_word_rooms_name_that_reads_as_a_mistyped_address_is_checked_as_a_room_as_connect_does():
    """`lanchat doctor team@lab` was refused at once ('did you mean: python -m lanchat doctor lab'),
    while `connect team@lab` looks for a room of that name first (addresses.may_be_a_room_name).
    Now the doctor checks it as a room's name; its 'did you mean' is the server check's fix when no
    such room is seen. An address meant (ann@10.0.0.5, 127.0.0.1,4000) is still refused at once."""
    code, checks = doctor("team@lab", "4000")
    assert code == 1 and checks["server"]["status"] == "fail", checks["server"]
    assert "cannot find host 'team@lab'" in checks["server"]["summary"]
    assert checks["server"]["fix"].endswith("did you mean: python -m lanchat doctor lab 4000"), checks["server"]["fix"]
    for typed, meant in (("ann@10.0.0.5", "doctor 10.0.0.5"), ("127.0.0.1,4000", "doctor 127.0.0.1 4000")):
        proc = Proc("doctor", typed, "--wait", "0", stdin=False)
        try:
            assert proc.wait(30) == 2, proc.output
        finally:
            proc.stop()
        assert proc.lines[-1] == f"  did you mean: python -m lanchat {meant}", proc.output
    # a room of that name seen: said so, with the connect that joins it; no 'did you mean'
    target = Target("team@lab", 3580)
    failed = judge_server(target, "unknown-host", "cannot find host 'team@lab'", asked=True)
    said = judge_room_name(failed, target, "unknown-host", [RoomInfo(name="team@lab", host="vm", addresses=("198.18.5.1",), port=3580)])
    assert judge_mistyped([said], "did you mean: python -m lanchat doctor lab") == [said]
    assert said.status == "info" and "`lanchat connect team@lab` joins it" in said.fix


def test_a_rooms_name_of_two_words_given_to_doctor_is_joined_by_a_command_a_shell_reads_as_one_word():
    # `lanchat doctor "ann's room"` (taken since 44bc1bb) found the room and said "fix: `lanchat
    # connect ann's room` joins it": pasted into a shell, an unclosed quote and never that room
    for typed, command in (("ann's room", "lanchat connect \"ann's room\""), ("lab $1", "lanchat connect 'lab $1'")):
        target = Target(typed, 3580)
        rooms = [RoomInfo(name=typed, host="vm", addresses=("198.18.5.1",), port=3580)]
        failed = judge_server(target, "unknown-host", f"cannot find host {typed!r}", asked=True)
        said = judge_room_name(failed, target, "unknown-host", rooms)
        assert said.status == "info" and f"`{command}` joins it" in said.fix, said.fix


def test_the_server_check_tries_the_next_address_when_the_first_ones_family_cannot_be_used(monkeypatch):
    """`lanchat doctor NAME` dials the addresses found for NAME as create_connection does, one
    after another: a first one whose family this machine cannot make a socket for (::1 for
    localhost, from /etc/hosts, on a kernel without IPv6) ended the check "unreachable", its
    error, without trying the IPv4 one after it."""
    from lanchat.doctor import probe_server

    with socket.socket() as bound:  # bound, never listening: connecting is refused, at once
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        no_such_family = 9999  # socket() refuses it as a kernel without IPv6 refuses AF_INET6
        found = [(no_such_family, socket.SOCK_STREAM, 0, "", ("::1", port)),
                 (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]  # fmt: skip
        monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: found)
        assert probe_server(Target("printer.example", port), timeout=2) == ("refused", "connection refused")
