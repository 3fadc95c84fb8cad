"""A class with mixed versions: lanchat of today against lanchat taken from this repository's
history (git archive of an older commit into a temporary folder, run as a real subprocess with
that folder first on its path), in both directions. Skipped, with the reason, where the clone
has no such history (a shallow clone, an export without .git)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, Proc, child_env

# The end of round 1, the first release: protocol version 1, no keys, no TLS, no password.
FIRST_RELEASE = "274fb316202f372133e8c266a2fd6fd5de358953"
# The end of round 2's first day: identity keys (version 2), TLS trusted by fingerprint, passwords.
KEYS_AND_TLS = "4a380e56279b2d902bc2551c12ca1b793c7fb87d"


def _old_tree(commit: str) -> Iterator[Path]:
    """lanchat/ as it was at ``commit``, in a temporary folder; skips where git or the commit is missing."""
    if shutil.which("git") is None:
        pytest.skip("no git here to take an older lanchat from the history")
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True, timeout=30)
    if found.returncode != 0:
        pytest.skip(f"this clone has no commit {commit[:7]} (a shallow clone?): no older lanchat to run")
    folder = Path(tempfile.mkdtemp(prefix="lc-old-"))
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "lanchat"], capture_output=True, check=True, timeout=60)
        archive_path = folder / "old.tar"
        archive_path.write_bytes(archive.stdout)
        with tarfile.open(archive_path) as tar:
            tar.extractall(folder, filter="data")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def first_release() -> Iterator[Path]:
    yield from _old_tree(FIRST_RELEASE)


@pytest.fixture(scope="module")
def keys_and_tls() -> Iterator[Path]:
    yield from _old_tree(KEYS_AND_TLS)


def old_lanchat(tree: Path, *args: str, env: dict[str, str] | None = None) -> Proc:
    """``python -P -m lanchat ARGS`` of the lanchat in ``tree`` (-P: the working folder, this
    checkout, is not put first on the path), with data folders of its own unless ``env`` names some."""
    env = dict(env or child_env())
    env["PYTHONPATH"] = str(tree) + os.pathsep + os.environ.get("PYTHONPATH", "")
    return Proc(*args, env=env, program=[sys.executable, "-P", "-m", "lanchat"])


def new_lanchat(*args: str, env: dict[str, str] | None = None) -> Proc:
    return Proc(*args, env=env, program=[sys.executable, "-P", "-m", "lanchat"])


def old_server(tree: Path, *extra: str) -> tuple[Proc, str]:
    server = old_lanchat(tree, "serve", "--headless", "--port", "0", "--host", "127.0.0.1", *extra)
    return server, server.expect(r"listening on port (\d+)", timeout=20).group(1)


def test_a_new_client_joins_a_room_of_the_first_release_as_a_guest_and_is_told_so(first_release: Path) -> None:
    """The teacher's laptop has the oldest lanchat: its server speaks protocol version 1 and
    refused every student whose lanchat was newer ('this server speaks protocol version 1, not
    2'). Today's client asks again as a version-1 client does, says why, and chats."""
    server, port = old_server(first_release)
    bob = new_lanchat("connect", "127.0.0.1", port, "--name", "bob", "--plain")
    try:
        bob.expect(r"welcome, bob: duplex mode", timeout=20)
        bob.expect(r"-!- this room runs an older lanchat \(protocol version 1\)")  # in the chat, under the welcome
        server.expect(r"bob joined")
        bob.send("hello from a newer lanchat")
        bob.expect(r"bob: hello from a newer lanchat")
        # the room's server dies and comes back on its port: the rejoin asks as the join did
        server.popen.kill()
        server.wait(10)
        server = old_lanchat(first_release, "serve", "--headless", "--port", port, "--host", "127.0.0.1")
        bob.expect(r"back in the room as bob", timeout=20)
        bob.send("/q")
        assert bob.wait(15) == 0
        server.expect(r"bob left")
        assert "refused to let us in" not in bob.output and "Traceback" not in bob.output + server.output
    finally:
        bob.stop()
        server.stop()


def test_a_me_refused_by_a_server_older_than_me_is_said_not_sent_and_not_sent_again(first_release: Path) -> None:
    """A /me to a room of the first release: its server answers `unknown-type`, every server
    knowing say and whisper. The line stayed waiting for an echo that never comes: 'sending 1
    line you typed…' on the status line for ever, and sent again (refused again) at each rejoin."""
    server, port = old_server(first_release)
    bob = new_lanchat("connect", "127.0.0.1", port, "--name", "bob", "--plain")
    try:
        bob.expect(r"welcome, bob", timeout=20)
        bob.send("/me waves")
        bob.expect(r"not sent: /me waves \(this room runs an older lanchat, without /me\)")
        server.popen.kill()  # (no line of ours after it: an echo would answer it too)
        server.wait(10)
        server = old_lanchat(first_release, "serve", "--headless", "--port", port, "--host", "127.0.0.1")
        back = bob.expect(r"back in the room as bob", timeout=20)
        bob.send("once back")
        bob.expect(r"bob: once back")
        after_rejoin = bob.output[bob.output.index(back.group(0)):]
        assert "unknown message type" not in after_rejoin, after_rejoin  # the /me was not sent again
        bob.send("/q")
        assert bob.wait(15) == 0
    finally:
        bob.stop()
        server.stop()


def test_a_client_of_the_first_release_reads_a_me_and_a_nick_in_a_room_of_today(first_release: Path) -> None:
    """cy's lanchat is the first release: it ignores `action` and `renamed`, so bob's /me was lost
    on it without a word, and after his /nick it showed 'robert: ...' from nobody in its list,
    and its /who and turn still named bob. Today's server sends it frames it reads instead."""
    server = new_lanchat("serve", "--headless", "--port", "0", "--host", "127.0.0.1", "--no-announce")
    port = server.expect(r"listening on port (\d+)").group(1)
    started = [server]
    try:
        bob = new_lanchat("connect", "127.0.0.1", port, "--name", "bob", "--plain")
        started.append(bob)
        bob.expect(r"welcome, bob", timeout=20)
        cy = old_lanchat(first_release, "connect", "127.0.0.1", port, "--name", "cy", "--plain")
        started.append(cy)
        cy.expect(r"welcome, cy", timeout=20)
        bob.expect(r"cy joined")
        bob.send("/me waves")
        bob.expect(r"\* bob waves")  # today's client: the action, as before
        cy.expect(r"bob: \*waves\*")
        bob.send("/nick robert")
        bob.expect(r"you are now known as robert")
        cy.expect(r"bob left \(1 here\)")
        cy.expect(r"robert joined \(2 here\)")
        cy.send("/who")
        cy.expect(r"here \(2\): robert, cy")
        cy.send("/msg robert still here?")
        bob.expect(r"cy -> robert \(direct\): still here\?")
        assert "Traceback" not in cy.output + bob.output + server.output
    finally:
        for proc in reversed(started):
            proc.stop()


@pytest.mark.parametrize(
    ("room", "told"),
    [
        ("--password", r"this room needs a password, and your lanchat is older than room passwords: update lanchat to join"),
        ("--tls", r"this server uses TLS: connect with --tls .*; a lanchat without --tls is too old for this room: update it"),
    ],
    ids=["password", "tls"],
)
def test_a_client_of_the_first_release_at_a_room_it_cannot_join_is_told_to_update(first_release: Path, room: str, told: str) -> None:
    """The first release has neither passwords nor --tls: 'this room needs a password (and lanchat
    with protocol 2)' spoke of a protocol its user never heard of, and 'connect with --tls' sent
    them to an option their lanchat refuses ('unrecognized arguments: --tls')."""
    env = child_env(LANCHAT_PASSWORD="sesame")
    server = Proc("serve", "--headless", "--port", "0", "--host", "127.0.0.1", "--no-announce", room,
                  env=env, program=[sys.executable, "-P", "-m", "lanchat"])
    started = [server]
    try:
        port = server.expect(r"listening on port (\d+)", timeout=20).group(1)
        cy = old_lanchat(first_release, "connect", "127.0.0.1", port, "--name", "cy", "--plain")
        started.append(cy)
        assert cy.wait(20) != 0
        cy.expect(told)
        assert "Traceback" not in cy.output
    finally:
        for proc in reversed(started):
            proc.stop()


def test_the_key_and_trusted_servers_an_older_lanchat_stored_serve_today_and_back(keys_and_tls: Path) -> None:
    """A student's data folder from 2026-12-03 (4a380e5): its identity key still owns the name in
    a room of today, its known servers still vouch for the room's certificate (no question), and
    the older lanchat, run again on the same folder after today's, still joins: nothing damaged."""
    student = child_env()  # one data folder, as on the student's laptop, for every version run on it
    started: list[Proc] = []
    try:
        server = new_lanchat("serve", "--headless", "--tls", "--port", "0", "--host", "127.0.0.1", "--no-announce")
        started.append(server)
        port = server.expect(r"listening on port (\d+)", timeout=20).group(1)
        fingerprint = server.expect(r"fingerprint is (SHA256:\S+)").group(1)
        for version, args in (("old", ("--fingerprint", fingerprint)), ("new", ()), ("old", ())):
            run = old_lanchat if version == "old" else new_lanchat
            connect = ("connect", "127.0.0.1", port, "--tls", "--name", "bob", "--plain", *args)
            bob = run(keys_and_tls, *connect, env=student) if version == "old" else run(*connect, env=student)
            started.append(bob)
            bob.expect(r"welcome, bob", timeout=20)
            bob.send("/q")
            assert bob.wait(15) == 0, bob.output
            assert "not seen before" not in bob.output and "Traceback" not in bob.output
            if version == "new":
                assert re.search(r"fingerprint .* \(known", bob.output), bob.output
            server.expect(r"bob left", start=server.mark() - 1)
        assert "name-owned" not in server.output and "owned" not in server.output
    finally:
        for proc in reversed(started):
            proc.stop()
