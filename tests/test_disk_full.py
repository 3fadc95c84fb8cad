"""A student's laptop: a disk that fills up, a folder that is read-only, a file that was cut
short, is garbage, or is a link to nowhere. Each on a real small file system of its own
(helpers.small_disk: a tmpfs, so ENOSPC and EROFS come from the kernel); each says one clear
line, never a traceback, and loses nothing anyone saw."""

from __future__ import annotations

import os

import pytest
from helpers import Proc, child_env, fill_disk, remount, small_disk

from lanchat.tls import KNOWN_SERVERS_NAME, KnownServers, check_fingerprint


@pytest.fixture(scope="module")
def tls_room():
    """A headless TLS room for the clients below: (port, fingerprint)."""
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--tls")
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        fingerprint = server.expect(r"the server's fingerprint is (SHA256:\S+)").group(1)
        yield port, fingerprint
    finally:
        server.stop()


@pytest.mark.parametrize("disk", ["read-only", "full"])
def test_a_pinned_tls_room_is_joined_when_its_fingerprint_cannot_be_remembered(tls_room, tmp_path, disk):
    """`connect --fingerprint` writes the fingerprint it checked into the data folder's
    known-servers file. A data folder on a full or read-only disk made that write end the client
    with a traceback, after the fingerprint had matched; and the full disk kept an empty
    `known_servers.new`. Now the client joins (the pin was checked) and says it was not kept."""
    port, fingerprint = tls_room
    with small_disk() as data:
        (data / "lanchat").mkdir()
        if disk == "full":
            fill_disk(data)
        else:
            remount(data, "ro")
        env = child_env(XDG_DATA_HOME=str(data))
        name = "ann" if disk == "full" else "bob"  # one room: a name per key
        ann = Proc("connect", "127.0.0.1", port, "--name", name, "--fingerprint", fingerprint,
                   "--identity", str(tmp_path / "own.key"), env=env)  # fmt: skip
        try:
            ann.expect(r"matches --fingerprint")
            ann.expect(r"could not remember it in .*known_servers \((no space left on device|read-only file system)\)")
            ann.expect(rf"welcome, {name}")
            ann.send("/q")
            assert ann.wait() == 0
        finally:
            ann.stop()
        assert "Traceback" not in ann.output
        assert sorted(os.listdir(data / "lanchat")) == []  # no half-written file left behind


def test_a_fingerprint_trusted_at_the_question_is_used_once_when_it_cannot_be_remembered():
    """Trust on first use with a read-only data folder: the yes holds for this connection, and
    the note says it will be asked again (it raised OSError, a traceback at `connect --tls`)."""
    with small_disk(read_only=True) as data:
        known = KnownServers(data / "lanchat" / KNOWN_SERVERS_NAME)
        note = check_fingerprint("10.0.0.5:3580", "SHA256:abc", known=known, ask=lambda fingerprint: True)
        assert note.startswith("TLS fingerprint SHA256:abc trusted for this connection; could not remember it in")
        assert note.endswith("(read-only file system), so you will be asked again next time")
        assert known.lookup("10.0.0.5:3580") is None
