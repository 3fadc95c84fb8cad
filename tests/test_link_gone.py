"""A dead link is not a slow reader: bob, in a network namespace of his own, is mid /get of a
large file when either his link dies (nftables drops everything: no FIN, as a laptop shut or
Wi-Fi gone) or his program stops reading (SIGSTOP: his kernel still acknowledges). The server's
not-reading rule ends both; the room must read "lost connection" for the first and keep
"dropped (not reading fast enough)" for the second (hub_connections.LINK_GONE_SECONDS).

Both limits are shortened (not reading 6 s, a silent link 3 s) so the test takes seconds, not
half a minute; the rule read is the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Proc, identity_args, network_namespace_or_skip, wait_for

pytestmark = pytest.mark.timeout(120)

MB = 1024 * 1024


def _server_program() -> list[str]:
    """``python -m lanchat`` with guard.NOT_READING_SECONDS at 6 s and LINK_GONE_SECONDS at 3 s."""
    return [sys.executable, "-c", "import lanchat.guard as g, lanchat.hub_connections as h; g.NOT_READING_SECONDS = 6.0; "
            "h.LINK_GONE_SECONDS = 3.0; import runpy; runpy.run_module('lanchat', run_name='__main__')"]  # fmt: skip


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=10)


def _downloaded(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


@pytest.mark.parametrize("how", ["link cut", "not reading"])
def test_a_dead_link_mid_download_is_a_lost_connection_a_stopped_reader_is_dropped(tmp_path, how):
    with network_namespace_or_skip() as (ns, ours, _theirs, link):
        for where in ([], ["ip", "netns", "exec", ns]):  # 40 Mbit/s each way: 48 MB take ~10 s
            device = link if where else f"{link[:-1]}a"
            _run(*where, "tc", "qdisc", "add", "dev", device, "root", "tbf", "rate", "40mbit", "burst", "64kb", "latency", "400ms")
        server = Proc("serve", "--headless", "--host", ours, "--port", "0", "--no-announce", "--history",
                      str(tmp_path / "h.sqlite3"), "--files-dir", str(tmp_path / "files"), "--max-file-mb", "100",
                      program=_server_program())  # fmt: skip
        procs = [server]
        try:
            port = server.expect(r"listening on port (\d+)").group(1)
            (tmp_path / "bob").mkdir()
            bob = Proc("connect", ours, port, "--name", "bob", "--plain", "--downloads", str(tmp_path / "bob"),
                       *identity_args("bob"), program=["ip", "netns", "exec", ns, sys.executable, "-m", "lanchat"])  # fmt: skip
            procs.append(bob)
            bob.expect("welcome, bob")
            ann = Proc("connect", ours, port, "--name", "ann", "--plain", *identity_args("ann"))
            procs.append(ann)
            ann.expect("welcome, ann")
            source = tmp_path / "big.bin"
            source.write_bytes(os.urandom(48 * MB))
            ann.send(f"/send {source}")
            file_id = bob.expect(r"offers big\.bin .*type /get (\d+)").group(1)
            ann.expect(r"is on offer to the room", timeout=60)
            bob.send(f"/get {file_id}")
            wait_for(lambda: _downloaded(tmp_path / "bob") > 2 * MB, timeout=30, what="the download under way")
            if how == "link cut":
                for rule in (
                    ["add", "table", "inet", "linkcut"],
                    ["add", "chain", "inet", "linkcut", "in", "{ type filter hook input priority 0; policy drop; }"],
                    ["add", "chain", "inet", "linkcut", "out", "{ type filter hook output priority 0; policy drop; }"],
                    ["add", "rule", "inet", "linkcut", "in", "iif", "lo", "accept"],
                    ["add", "rule", "inet", "linkcut", "out", "oif", "lo", "accept"],
                ):
                    _run("ip", "netns", "exec", ns, "nft", *rule)
            else:
                bob.popen.send_signal(signal.SIGSTOP)  # a program that stops reading; its kernel still answers
            said = ann.expect(r"bob (lost connection|was dropped.*) \(\d+ here\)", timeout=40).group(1)
            if how == "link cut":
                assert said == "lost connection", ann.output
                server.expect(r"bob: nothing acknowledged for \d+ s .*link lost", timeout=5)
            else:
                assert said == "was dropped (not reading fast enough)", ann.output
                server.expect(r"bob: not reading \(\d+ bytes queued\); dropping", timeout=5)
            ann.send("still here")
            ann.expect(r"ann: still here$")
        finally:
            if how == "not reading":
                bob.popen.send_signal(signal.SIGCONT)
            for proc in reversed(procs):
                proc.stop()
    for proc in procs:
        assert "Traceback" not in proc.output
