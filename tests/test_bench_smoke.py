"""The benchmarks run: `bench/run.py --tiny` and `bench/files_bench.py --tiny` end to end, and their JSON makes sense.

Benchmarks are not tests (bench/README.md): nothing here asserts a speed. This checks that
every workload ran against lanchat (and against ncat and ngIRCd where they are installed),
that the counts add up, and that the summary holds a ratio for each reference.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, child_env, wait_for

REFERENCES = [name for name, binary in (("ncat", "ncat"), ("ngircd", "ngircd")) if shutil.which(binary)]
WORKLOADS = {"fanout", "light", "latency", "join", "idle", "maxconn"}
FLOOR = "pyrelay"  # bench/pyrelay.py, the CPython floor: the light workload only


def run_bench(script: str, *args: str, timeout: float = 100) -> subprocess.CompletedProcess[str]:
    """``python bench/SCRIPT ARGS`` as a user runs it; it must succeed without a traceback. In a
    session of its own: past ``timeout`` the whole group is ended, the servers it started too (a
    timed-out callgrind run left its server under valgrind running for an hour, after the suite)."""
    with subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group our own setsid made: the bench and what it started
            proc.communicate()
            raise
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done


def test_a_tiny_benchmark_writes_sane_json(tmp_path):
    out = tmp_path / "result.json"
    servers = ",".join(["lanchat", *REFERENCES, FLOOR])
    done = run_bench("run.py", "--tiny", "--servers", servers, "--out", str(out))
    assert f"results written to {out}" in done.stdout
    report = json.loads(out.read_text())

    assert report["servers"] == ["lanchat", *REFERENCES, FLOOR]
    assert report["help"]["median_s"] > 0
    runs = report["runs"]
    for name in report["servers"]:
        mine = [run for run in runs if run["server"] == name]
        assert {run["workload"] for run in mine} == ({"light"} if name == FLOOR else WORKLOADS), name
        for run in mine:
            metrics = run["metrics"]
            assert "failed" not in metrics, (name, run["label"], run["notes"])
            assert metrics["server_rss_mb"] > 0, (name, run["label"])  # read from /proc while it ran

    lanchat = {run["label"]: run["metrics"] for run in runs if run["server"] == "lanchat"}
    two = lanchat["fanout N=2"]
    assert two["messages"] > 0 and two["deliveries"] == two["messages"]  # one receiver gets each once
    five = lanchat["fanout N=5"]
    assert five["deliveries"] == five["messages"] * 4  # everyone but the sender
    assert five["cpu_us_per_delivery"] > 0
    latency = lanchat["latency N=3 @50/s"]
    assert latency["samples"] == latency["expected"] > 0  # nothing lost at a gentle rate
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    light = lanchat["light N=2 @50/s"]
    assert light["deliveries"] == light["messages"] == light["samples"] > 0  # the one other client got each
    assert light["cpu_us_per_delivery"] > 0
    assert 0 <= light["preempted_per_message"] < 1000  # read from /proc/PID/task/*/status
    # the servers took turns: two rounds each, summed (run.py light_interleaved)
    assert light["segments"] == 2 and len(light["cpu_us_per_delivery_per_segment"]) == 2
    assert min(light["cpu_us_per_delivery_per_segment"]) <= light["cpu_us_per_delivery"]
    assert light["cpu_us_per_delivery"] <= max(light["cpu_us_per_delivery_per_segment"])
    assert lanchat["join N=10, 8 at once"]["join_s"] > 0
    assert lanchat["idle N=3"]["wakeups"] >= 0
    assert lanchat["maxconn 20 in 10 s"]["held"] == 20
    if len(os.sched_getaffinity(0)) >= 2:  # the same light run with each server on a CPU of its own
        for name in report["servers"]:
            pinned = next(run for run in runs if run["server"] == name and run["label"] == "light N=2 @50/s, own CPU")
            assert pinned["params"]["pinned"] is True and pinned["metrics"]["server_cpus"] == 1, name
            assert pinned["metrics"]["deliveries"] == pinned["metrics"]["samples"] > 0, name
        assert "server_cpus" not in lanchat["light N=2 @50/s"]
    floor = next(run["metrics"] for run in runs if run["server"] == FLOOR)
    assert floor["deliveries"] == floor["messages"] == floor["samples"] > 0  # it relays every line

    rows = {(row["step"], row["metric"]): row for row in report["summary"]}
    held = rows[("maxconn 20 in 10 s", "held")]
    assert held["values"]["lanchat"] == [20]
    for ref in REFERENCES:
        assert held["ratios"][ref] == [1.0]
        assert rows[("fanout N=5", "deliveries_per_s")]["ratios"][ref][0] > 0
    assert rows[("light N=2 @50/s", "cpu_us_per_delivery")]["ratios"][FLOOR][0] > 0
    assert ("light N=2 @50/s", "preempted_per_message") in rows  # how often the CPU was taken away
    assert "| fanout N=2" in report["table"]


def test_the_file_transfer_benchmark_runs_and_the_files_arrive_whole(tmp_path):
    out = tmp_path / "files.json"
    run_bench("files_bench.py", "--tiny", "--out", str(out))
    report = json.loads(out.read_text())
    assert report["file_mb"] == 1 and report["rounds"] == 1
    assert report["all_identical"] is True  # the downloaded file is byte for byte the one sent
    assert report["chat_lines_not_through"] == 0  # cat's lines during the download all reached bob
    for key in ("upload_mb_per_s_median", "download_mb_per_s_median", "download_in_split_screen_mb_per_s_median"):
        assert report[key] > 0, key


def test_the_reconnect_benchmark_brings_every_client_back_once(tmp_path):
    out = tmp_path / "reconnect.json"
    run_bench("reconnect_bench.py", "--tiny", "--out", str(out))
    summary = json.loads(out.read_text())["summary"]
    assert summary["clients"] == 3 and summary["duplicates"] == 0 and summary["tracebacks"] == 0
    assert summary["median_kill_to_all_back_s"] > 0


def test_the_day_benchmark_lives_through_its_lessons_and_samples_the_server_and_the_client(tmp_path):
    out = tmp_path / "day.json"
    run_bench("day_bench.py", "--tiny", "--out", str(out))
    report = json.loads(out.read_text())
    assert len(report["lessons"]) == len(report["client"]) == len(report["clock_lessons"]) == 2 and len(report["restarts"]) == 1
    counts = report["lessons"][-1]["counts"]
    assert (counts["joined"], counts["got"], counts["rejoined"], counts["moderated"]) == (10, 2, 1, 4)
    assert counts["banned again: banned"] == 1 and counts["alone_after_s"] is not None
    for entry in (*report["lessons"], *report["client"], *report["restarts"], *report["clock_lessons"]):
        assert entry["census"]["sizes"], entry  # each end's census came back
    assert report["lessons"][-1]["fds"] > 0 and report["lessons"][-1]["history"]["history.sqlite3"] > 0


def test_the_tls_benchmarks_run_over_tls_and_the_counts_add_up(tmp_path):
    out = tmp_path / "tls.json"
    run_bench("run.py", "--tiny", "--tls", "--only", "fanout", "--out", str(out))
    report = json.loads(out.read_text())
    assert report["servers"] == ["lanchat"] and report["tls"] is True  # the references have no TLS
    five = {run["label"]: run["metrics"] for run in report["runs"]}["fanout N=5"]
    assert five["messages"] > 0 and five["deliveries"] == five["messages"] * 4
    plain = tmp_path / "plain.json"
    run_bench("run.py", "--tiny", "--servers", "lanchat", "--only", "fanout", "--out", str(plain))
    beside = run_bench("run.py", "--report", str(out), "--plain", str(plain)).stdout
    assert "| step | metric | plain | TLS | TLS/plain |" in beside
    row = next(line for line in beside.splitlines() if line.startswith("| fanout N=5 | cpu_us_per_delivery |"))
    plain_us, tls_us, ratio = (float(cell) for cell in row.strip("| ").split(" | ")[2:])
    assert abs(ratio - tls_us / plain_us) <= 0.01 * ratio + 0.01  # the ratio is of the two figures shown
    refused = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--report", str(plain), "--plain", str(out)],
                             capture_output=True, text=True, timeout=60, cwd=ROOT, env=child_env())  # fmt: skip
    assert refused.returncode == 2 and "give a --tls run to --report" in refused.stderr
    assert "Traceback" not in refused.stderr
    files = tmp_path / "files-tls.json"
    run_bench("files_bench.py", "--tiny", "--tls", "--out", str(files))
    report = json.loads(files.read_text())
    assert report["tls"] is True and report["all_identical"] is True
    assert report["chat_lines_not_through"] == 0  # no chat line refused or lost during a TLS download


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_the_file_to_the_class_benchmark_runs_both_servers_and_every_copy_arrives_whole(tmp_path, tls):
    out = tmp_path / "class.json"
    done = run_bench("class_bench.py", "--tiny", *(["--tls"] if tls else []), "--out", str(out))
    assert f"written to {out}" in done.stdout
    report = json.loads(out.read_text())
    assert report["file_mib"] == 2 and report["receivers"] == 3 and report["tls"] is tls
    for name in ("lanchat", "http.server"):
        got = report[name]
        assert "failed" not in got, got
        # with --tls both servers spoke TLS: every connection checked the fingerprint they printed
        assert (got["tls_fingerprint"] or "").startswith("SHA256:") is tls, name
        assert got["receivers"] == 3 and got["bytes_whole"] is True, name
        assert got["sha256_checked"] == 3 and got["sha256_ok"] is True, name  # --tiny checks every copy
        assert 0 < got["mib_per_s_per_receiver_min"] <= got["mib_per_s_per_receiver_max"], name
        assert got["server_rss_mib_peak"] >= got["server_rss_mib_before"] > 0, name
    lanchat = report["lanchat"]
    assert lanchat["chat_lines_back"] >= 1 and lanchat["chat_p99_ms"] > 0  # the 31st kept chatting
    assert {goal["goal"] for goal in report["goals"]} >= {"server RSS <= +64 MiB over idle"}


def test_the_per_message_benchmarks_run_and_write_their_figures(tmp_path):
    for script, keys in (
        ("wire_bench.py", ("encode_message_us", "receive_say_us")),
        ("hub_bench.py", ("busy_n2_history_us_per_message", "lone_n10_no_history_us_per_message")),
        ("textline_bench.py", ("shared_us_per_frame_per_person", "apart_us_per_frame_per_person")),
        ("history_bench.py", ("append_per_s_normal", "replay_50_build_ms_median", "lone_store_cpu_us_median")),
    ):
        out = tmp_path / f"{script}.json"
        run_bench(script, "--quick", "--out", str(out))
        report = json.loads(out.read_text())
        for key in keys:
            assert report[key] > 0, (script, key)
    out = tmp_path / "room_scale.json"  # every kind of event, each at both quick sizes
    run_bench("room_scale_bench.py", "--quick", "--out", str(out))
    report = json.loads(out.read_text())
    assert {"join", "leave", "kick", "ban", "turn_pass", "rejoin", "offer"} <= report.keys()
    assert all(report[kind]["n200_us"] > 0 for kind in report if kind != "python")


def test_the_prune_benchmark_times_the_chat_while_the_old_history_goes(tmp_path):
    """bench/prune_bench.py at its smallest (bench/README.md, "History upkeep"): a real server drops
    3,000 old messages while a client's lines are timed, and only today's and the client's stay."""
    out = tmp_path / "prune.json"
    run_bench("prune_bench.py", "--rows", "3000", "--seconds", "0.3", "--out", str(out))
    report = json.loads(out.read_text())
    assert "dropped 3,000 messages older than 30 days" in report["log"] and report["prune_s"] is not None
    assert report["keep all"]["lines"] > 0 and report["during prune"]["median_ms"] > 0
    assert report["remaining"] == 1000 + report["keep all"]["lines"] + report["during prune"]["lines"]


def test_the_light_load_probes_run_and_write_their_figures(tmp_path):
    """bench/light_probe.py, light_phases.py and calls_per_message.py (bench/README.md, "Round 2,
    third session"), each at its smallest: real servers on loopback, real load."""
    probe = tmp_path / "probe.json"
    run_bench("light_probe.py", "--clients", "2", "--rounds", "1", "--runs", "1", "--seconds", "1", "--out", str(probe))
    (figures,) = json.loads(probe.read_text())["trees"].values()
    assert figures["N=2"]["median_cpu_us_per_delivery"] > 0 and len(figures["N=2"]["cpu_us_per_delivery"]) == 1
    phases = tmp_path / "phases.json"
    run_bench("light_phases.py", "--seconds", "1", "--out", str(phases))
    report = json.loads(phases.read_text())
    assert report["messages"] > 0 and report["reads"] >= report["messages"] / 2
    assert report["server_thread_cpu_us_per_message"] > 0 and "hub.expire" in report["us_per_message"]
    calls = tmp_path / "calls.json"
    run_bench("calls_per_message.py", "--short", "0.5", "--long", "1.5", "--out", str(calls))
    counted = json.loads(calls.read_text())
    assert counted["messages"][1] > counted["messages"][0] and counted["calls_per_message"] > 0
    assert any("hub.py" in name for name in counted["per_function"])  # the server's own calls are counted


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instructions_per_message_counts_the_server_under_callgrind(tmp_path):
    """bench/instructions_per_message.py at its smallest: the real server under valgrind, two
    light runs, and a positive count of instructions per further message."""
    out = tmp_path / "ir.json"
    # (a hang guard: 34 s alone; the server under valgrind runs ~50x slower, and past 100 s at load 15)
    run_bench("instructions_per_message.py", "--clients", "2", "--short", "0.5", "--long", "1.5", "--out", str(out), timeout=400)
    (run,) = json.loads(out.read_text())["N=2"]["runs"]
    assert run["messages"][1] > run["messages"][0] and run["ir"][1] > run["ir"][0] > 0
    assert run["ir_per_message"] > 0 and len(run["late"]) == 2


@pytest.mark.parametrize("echo", [False, True])
def test_the_cpython_relay_sends_each_line_to_the_others_and_with_echo_to_its_sender(echo):
    """bench/pyrelay.py (the floor) and its --echo form (pyrelay-echo: one more send a message,
    as lanchat's stamped copy to the sender): what each client receives of one line."""
    with _relay(2, *(["--echo"] if echo else [])) as clients:
        clients[0].sendall(b"hello\n")
        assert clients[1].recv(200) == b"<user1> hello\n"
        clients[1].sendall(b"reply\n")  # the sender's next bytes: its echo first, if there is one
        first = clients[0].recv(200)
        if echo:
            rest = first[len(b"<user1> hello\n") :] or clients[0].recv(200)
            assert first.startswith(b"<user1> hello\n") and rest == b"<user2> reply\n"
        else:
            assert first == b"<user2> reply\n"


def test_the_storing_relay_writes_each_line_stamped_to_its_journal_before_anyone_gets_it(tmp_path):
    """pyrelay --store (pyrelay-store): lanchat's guarantee and nothing else. Each line is in the
    journal, as a JSON row with its time stamp, by the time any client receives it; everyone,
    the sender too, gets it stamped; bytes that are not UTF-8 end that connection only."""
    journal = tmp_path / "journal"
    with _relay(3, "--store", str(journal)) as clients:
        clients[0].sendall("héllo\n".encode())
        got = clients[1].recv(200)
        rows = [json.loads(line) for line in journal.read_bytes().splitlines()]  # already there
        assert len(rows) == 1 and rows[0][1:] == ["user1", "héllo\n"], rows
        stamp = rows[0][0]
        assert abs(stamp - time.time()) < 60
        assert got == f"{stamp:.3f} <user1> héllo\n".encode()
        assert clients[0].recv(200) == got  # the sender's stamped copy
        assert clients[2].recv(200) == got
        clients[2].sendall(b"\xff\xfe\n")  # not UTF-8: stored nowhere, sent to nobody, dropped
        clients[2].settimeout(10)
        assert clients[2].recv(200) == b""
        clients[1].sendall(b"still here\n")
        assert clients[0].recv(200).endswith(b" <user2> still here\n")
        assert len(journal.read_bytes().splitlines()) == 2


@pytest.mark.parametrize("mode", [[], ["--echo"], ["--store", "journal"]])
def test_the_cpython_relay_stops_at_once_on_sigterm_while_it_waits(mode, tmp_path):
    """bench/run.py stops a server with SIGTERM (SIGKILL 5 s later). Waiting in select() for a
    client that says nothing, the relay must still end at once, with status 0 (a handler that
    only set a flag left it asleep: Python retries select() after a signal)."""
    mode = [str(tmp_path / part) if part == "journal" else part for part in mode]
    with _relay(1, *mode) as clients:
        relay = _started[-1]
        relay.terminate()  # the client stays connected and silent
        try:
            # the bug this guards against never stopped at all; 30 s leaves room for a busy
            # machine (CI runs read over 5 s, right after the callgrind test, and once over 15 s)
            relay.wait(timeout=30)
        except subprocess.TimeoutExpired:
            relay.send_signal(signal.SIGUSR1)  # its faulthandler writes where it waits
            with contextlib.suppress(subprocess.TimeoutExpired):
                relay.wait(timeout=2)  # time to write it before the kill
            relay.kill()
            relay.wait(timeout=10)
            where = relay.stderr.read().decode(errors="replace") if relay.stderr else ""
            pytest.fail(f"pyrelay.py did not stop within 30 s of SIGTERM; it was at:\n{where}")
        assert relay.returncode == 0 and clients[0].recv(10) == b""


def test_the_cpython_relay_refuses_a_bad_command_line():
    for wrong in (["1", "--loud"], ["1", "--store"], ["1", "--echo", "x"], ["port"]):
        done = subprocess.run([sys.executable, str(ROOT / "bench" / "pyrelay.py"), *wrong], capture_output=True, text=True, timeout=30)
        assert done.returncode != 0 and "usage: python bench/pyrelay.py PORT [--echo | --store PATH]" in done.stderr, wrong


_started: list[subprocess.Popen] = []  # every relay _relay started, newest last


@contextlib.contextmanager
def _relay(count: int, *mode: str) -> Iterator[list[socket.socket]]:
    """bench/pyrelay.py on a free loopback port in ``mode`` (--echo, --store PATH or none), with
    ``count`` clients in, each told who is already connected; stopped afterwards, and it must
    not have failed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, str(ROOT / "bench" / "pyrelay.py"), str(port), *mode]
    relay = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _started.append(relay)
    clients: list[socket.socket] = []
    try:
        for _ in range(count):
            clients.append(wait_for(lambda: _connected(port, relay), what="pyrelay listening"))
            assert clients[-1].recv(200).startswith(b"<announce> already connected")
        yield clients
    finally:
        for client in clients:
            client.close()
        relay.terminate()
        relay.wait(timeout=30)  # as the stop test above allows: CI read over 15 s once
    assert relay.returncode in (0, -15), relay.stderr.read() if relay.stderr else ""


def _connected(port: int, relay: subprocess.Popen) -> socket.socket | None:
    assert relay.poll() is None, "pyrelay exited"
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=5)
    except ConnectionRefusedError:
        return None


@pytest.mark.parametrize("pinned", [False, True])
def test_a_light_step_in_turns_goes_on_when_a_server_dies_between_rounds(pinned, monkeypatch):
    """bench/run.py's light_interleaved: servers take turns; one that dies after its first round
    is reported failed, not summed with its rounds, and the others finish theirs (pinned too:
    a dead server, not yet reaped, can still be pinned)."""
    if pinned and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("a CPU of its own needs two CPUs")
    bench_run = _bench_run(monkeypatch)
    real_run = bench_run.loadgen.run
    killed: list[int] = []

    def run_then_kill_the_echo_relay(workload, target, **params):
        result = real_run(workload, target, **params)
        if target.address[1] == ports["pyrelay-echo"] and not killed:
            os.kill(target.pid, signal.SIGKILL)  # a process this test started (bench_run.server)
            killed.append(target.pid)
        return result

    ports: dict[str, int] = {}
    real_starters = dict(bench_run.SERVERS)

    def remembering(name):
        def start(workdir):
            running = real_starters[name](workdir)
            ports[name] = running.address[1]
            return running

        return start

    monkeypatch.setattr(bench_run, "SERVERS", {name: remembering(name) for name in ("pyrelay", "pyrelay-echo")})
    monkeypatch.setattr(bench_run.loadgen, "run", run_then_kill_the_echo_relay)
    params = {"clients": 2, "rate": 50.0, "seconds": 0.4, "segments": 2}
    out = {name: result for name, result, _wall in bench_run.light_interleaved(["pyrelay", "pyrelay-echo"], params, pinned=pinned)}
    assert killed
    assert out["pyrelay-echo"].metrics == {"failed": 1} and out["pyrelay-echo"].notes
    floor = out["pyrelay"].metrics
    assert "failed" not in floor and floor["segments"] == 2 and len(floor["cpu_us_per_delivery_per_segment"]) == 2
    assert floor["deliveries"] == floor["messages"] == floor["samples"] > 0


def _bench_run(monkeypatch, script: str = "run.py"):  # noqa: ANN001, ANN202
    """bench/run.py (or another bench SCRIPT) as a module (it is a script, not a package)."""
    name = "bench_" + Path(script).stem
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / script)
    bench_run = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, bench_run)  # its dataclasses look themselves up there
    spec.loader.exec_module(bench_run)
    return bench_run


def test_the_screen_benchmark_sees_its_talker_join_and_its_burst_on_the_hosts_screen(monkeypatch):
    """bench/ui_bench.py's pseudo-terminal part at its smallest (the whole script writes
    bench/results/ui.json, so it is called, not run): it waits for what the host's full screen
    shows, so a changed screen line must change it too (it waited for 'cat joined' after the
    full screen began folding joins into '2 joined: bob and cat')."""
    figures = _bench_run(monkeypatch, "ui_bench.py").bench_idle_and_burst(idle_seconds=0.1, burst=10)
    assert figures["burst_messages"] == 10 and figures["burst_bytes_drawn"] > 0


def test_the_screen_benchmark_times_keys_handled_one_at_a_time_on_the_full_screen(monkeypatch):
    """bench/ui_bench.py's keystroke part at its smallest: the full screen in a pty, its keys
    handled (keys.py) and drawn one at a time; a renamed piece of the screen must change it too."""
    figures = _bench_run(monkeypatch, "ui_bench.py").bench_keystrokes(20)
    assert figures["keystrokes"] == 20 and figures["key_handled_cpu_us"] > 0 and figures["key_handled_and_drawn_cpu_us"] > 0


def test_run_py_measures_the_storing_relay_at_light_load(monkeypatch):
    """`--servers ...,pyrelay-store`: run.py starts bench/pyrelay.py --store with its journal in
    the step's temporary folder, and the load generator counts every stamped line."""
    bench_run = _bench_run(monkeypatch)
    assert bench_run.ONLY_WORKLOADS["pyrelay-store"] == {"light"}
    folders: list[Path] = []
    journal_rows: list[int] = []
    start, real_run = bench_run.SERVERS["pyrelay-store"], bench_run.loadgen.run

    def remembering_the_folder(workdir):
        folders.append(workdir)
        return start(workdir)

    def run_then_read_the_journal(workload, target, **params):
        result = real_run(workload, target, **params)
        rows = [json.loads(row) for row in (folders[0] / "pyrelay.journal").read_bytes().splitlines()]
        journal_rows.append(sum(text.count("\n") for _stamp, _name, text in rows))  # lines: one recv may hold two
        return result

    monkeypatch.setitem(bench_run.SERVERS, "pyrelay-store", remembering_the_folder)
    monkeypatch.setattr(bench_run.loadgen, "run", run_then_read_the_journal)
    params = {"clients": 2, "rate": 50.0, "seconds": 0.4, "segments": 2}
    ((name, result, _wall),) = bench_run.light_interleaved(["pyrelay-store"], params, pinned=False)
    metrics = result.metrics
    assert name == "pyrelay-store" and "failed" not in metrics, result.notes
    assert metrics["deliveries"] == metrics["messages"] == metrics["samples"] > 0
    assert len(journal_rows) == 2 and journal_rows[-1] >= metrics["messages"], journal_rows  # every line stored
