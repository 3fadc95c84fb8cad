"""The network-namespace helpers themselves: a long LANCHAT_NETNS_PREFIX still makes working links."""

from __future__ import annotations

import subprocess

import pytest
from helpers import DEFAULT_TIMEOUT, network_namespace_or_skip
from netlab import Lab, unavailable

LONG_PREFIX = "lcr-friends-rv"  # a helper's own prefix, longer than the 15 bytes a veth end may have left


def test_a_long_prefix_still_links_namespaces_and_a_switch(monkeypatch):
    """With LANCHAT_NETNS_PREFIX set to a helper's longer prefix, the veth ends were named
    prefix+tag (past IFNAMSIZ's 15 bytes, or cut to the same name for both ends) and every test
    using a link failed at "ip link add": "not a valid ifname". The namespaces keep the prefix."""
    monkeypatch.setenv("LANCHAT_NETNS_PREFIX", LONG_PREFIX)
    if reason := unavailable():
        pytest.skip(reason)
    lab = Lab()
    try:
        a, b, c, d = (lab.namespace(label) for label in "ABCD")
        assert all(ns.startswith(LONG_PREFIX) for ns in (a, b, c, d))
        lab.link(a, "198.18.9.1/24", b, "198.18.9.2/24")
        lab.switch((c, "198.18.8.3/24"), (d, "198.18.8.4/24"))
        for ns in (a, b, c, d):
            done = subprocess.run(["ip", "-n", ns, "-br", "addr", "show", "lan0"], capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, check=False)
            assert "198.18." in done.stdout, done.stdout + done.stderr
    finally:
        lab.close()


def test_a_long_prefix_still_makes_the_helpers_namespace(monkeypatch):
    """helpers.network_namespace's two veth ends were cut to 15 bytes: one name for both."""
    monkeypatch.setenv("LANCHAT_NETNS_PREFIX", LONG_PREFIX)
    with network_namespace_or_skip() as (namespace, _ours, _theirs, _link):
        assert namespace.startswith(LONG_PREFIX)
