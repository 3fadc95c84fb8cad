"""A small network of our own for tests: Linux network namespaces joined by veth pairs.

Loopback carries no multicast, so discovery is tested between namespaces the test creates:
each has its own interfaces, routes and firewall, and nothing it sends reaches the real
network. Addresses come from 198.18.0.0/15, the range set aside for network tests (RFC 2544).
Everything a Lab made is removed by ``close()``, which the ``lab`` fixture calls even when the
test fails; processes started in a namespace are ended (by PID) before it is removed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from helpers import Proc, TermProc, child_env

_COUNTER = itertools.count()


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root to create network namespaces (CI runs these as root)"
    if shutil.which("ip") is None:
        return "needs the `ip` command (iproute2) to create network namespaces"
    probe = f"{os.environ.get('LANCHAT_NETNS_PREFIX', 'lc')}probe{os.getpid()}"
    made = _ip("netns", "add", probe)
    if made.returncode != 0:
        return f"cannot create a network namespace here: {made.stderr.strip()}"
    _ip("netns", "del", probe)
    return None


class Lab:
    """Namespaces, links between them, and the lanchat processes run inside them."""

    def __init__(self) -> None:
        # LANCHAT_NETNS_PREFIX: the runs of several people on one machine tell theirs apart
        self.tag = f"{os.environ.get('LANCHAT_NETNS_PREFIX', 'lc')}{os.getpid()}x{next(_COUNTER)}"
        # a veth end's name: at most 15 bytes (IFNAMSIZ), made in its namespace and renamed at once
        self.end = f"lc{os.getpid()}x{self.tag.rpartition('x')[2]}"[:14]
        self.namespaces: list[str] = []
        self.procs: list[Proc | TermProc] = []
        self.etc_made: list[str] = []  # namespaces given files of their own under /etc/netns (etc)

    def _check(self, *args: str) -> None:
        done = _ip(*args)
        if done.returncode != 0:
            raise AssertionError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")

    def namespace(self, label: str, *, loopback_up: bool = True) -> str:
        name = f"{self.tag}{label}"
        self._check("netns", "add", name)
        self.namespaces.append(name)
        if loopback_up:
            self._check("-n", name, "link", "set", "lo", "up")
        return name

    def link(self, a: str, a_address: str, b: str, b_address: str, *, name: str = "lan0", multicast: bool = True) -> None:
        """A veth pair from namespace ``a`` to ``b`` (both ends named ``name``), up, with
        addresses like "198.18.0.1/24" and a multicast route so mDNS leaves by this link
        (``multicast=False``: none, for a router's second link, whose namespace has one)."""
        self._check("link", "add", f"{self.end}a", "netns", a, "type", "veth", "peer", "name", f"{self.end}b", "netns", b)
        for ns, end, address in ((a, f"{self.end}a", a_address), (b, f"{self.end}b", b_address)):
            self._check("-n", ns, "link", "set", end, "name", name)
            nodad = ["nodad"] if ":" in address else []  # our own LAN has no duplicates: usable at once
            self._check("-n", ns, "addr", "add", address, "dev", name, *nodad)
            self._check("-n", ns, "link", "set", name, "up")
            if multicast:
                self._check("-n", ns, "route", "add", "224.0.0.0/4", "dev", name)

    def switch(self, *machines: tuple[str, str]) -> None:
        """A bare switch (a bridge in a namespace of its own) and a cable from it to each
        ``(namespace, address)``, its end named lan0, up, with the multicast route as in ``link``."""
        box = self.namespace("S")
        self._check("-n", box, "link", "add", "br0", "type", "bridge")
        self._check("-n", box, "link", "set", "br0", "up")
        for number, (ns, address) in enumerate(machines):
            port = f"port{number}"
            self._check("link", "add", f"{self.end}a", "netns", ns, "type", "veth", "peer", "name", port, "netns", box)
            self._check("-n", box, "link", "set", port, "master", "br0")
            self._check("-n", box, "link", "set", port, "up")
            self._check("-n", ns, "link", "set", f"{self.end}a", "name", "lan0")
            self._check("-n", ns, "addr", "add", address, "dev", "lan0")
            self._check("-n", ns, "link", "set", "lan0", "up")
            self._check("-n", ns, "route", "add", "224.0.0.0/4", "dev", "lan0")

    def ip(self, ns: str, *args: str) -> None:
        """Any other set-up inside ``ns``, e.g. ``lab.ip(ns, "link", "add", "docker0", "type", "dummy")``."""
        self._check("-n", ns, *args)

    def etc(self, ns: str, name: str, text: str) -> None:
        """``ns``'s own /etc/NAME (``ip netns exec`` binds /etc/netns/NS/NAME over it): a hosts
        file naming machines as a school router's name server would. Removed by ``close()``;
        the test is skipped where /etc cannot hold it (read-only)."""
        try:
            os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
            self.etc_made.append(ns)
            with open(f"/etc/netns/{ns}/{name}", "w", encoding="utf-8") as file:
                file.write(text)
        except OSError as exc:
            pytest.skip(f"cannot give the namespace its own /etc/{name}: {exc}")

    def program(self, ns: str) -> list[str]:
        """``python -m lanchat`` inside ``ns`` (ip netns exec execs it: the PID is lanchat's own)."""
        return ["ip", "netns", "exec", ns, sys.executable, "-m", "lanchat"]

    def run(self, ns: str, *args: str, stdin: bool = True) -> Proc:
        proc = Proc(*args, stdin=stdin, program=self.program(ns))
        self.procs.append(proc)
        return proc

    def term(self, ns: str, *args: str, rows: int = 24, cols: int = 100) -> TermProc:
        term = TermProc(*args, argv=[*self.program(ns), *args], rows=rows, cols=cols)
        self.procs.append(term)
        return term

    def run_command(self, ns: str, *argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=30,
                              check=False, env=child_env())

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.stop()
        for name in reversed(self.namespaces):
            _ip("netns", "del", name)  # its veth ends go with it
        self.namespaces.clear()
        for ns in self.etc_made:
            shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
        if self.etc_made:
            with contextlib.suppress(OSError):
                os.rmdir("/etc/netns")  # only if no one else's is there
        self.etc_made.clear()


@pytest.fixture
def lab() -> Iterator[Lab]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    made = Lab()
    try:
        yield made
    finally:
        made.close()
        for proc in made.procs:
            output = proc.output if isinstance(proc, Proc) else proc.raw.decode("utf-8", "replace")
            assert "Traceback" not in output, f"lanchat {' '.join(proc.args)} printed a traceback:\n{output}"
