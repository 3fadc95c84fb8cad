"""The crash log from the attacker's side. When the user's log folder cannot be made, an internal
error's details went to the shared /tmp/lanchat-crash.log, opened to append: the first user's crash
owned it, another's could not write there, and a link planted in advance made a crash append to
whatever it led to. Now: a name with the user's id, O_NOFOLLOW, mode 0600, another's file refused."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from helpers import Proc, child_env, short_tmp_dir

CRASHING_CLIENT = (
    "import sys, lanchat.client as client\n"
    "def broken(*args, **kwargs): raise RuntimeError('the loop failed on purpose')\n"
    "client.ClientLoop.run = broken\n"
    "from lanchat.__main__ import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def crash_with_shared_temp(folder: str, temp: Path) -> Proc:
    """A client that crashes after joining, whose log folder cannot be made (its state folder is a
    file), so the log goes to ``temp`` (TMPDIR), shared with others."""
    sock = os.path.join(folder, "chat.sock")
    server = Proc("serve", "--headless", "--unix", sock, "--no-history")
    try:
        server.expect(r"join with")
        blocked = Path(folder) / "state-is-a-file"
        blocked.write_text("")
        env = child_env(XDG_STATE_HOME=str(blocked), TMPDIR=str(temp))
        bob = Proc("connect", "--unix", sock, "--name", "bob", "--plain", program=[sys.executable, "-c", CRASHING_CLIENT],
                   env=env, stdin=False)  # fmt: skip
        assert bob.wait() == 1
    finally:
        server.stop()
    assert "Traceback" not in bob.output, bob.output
    bob.expect(r"internal error \(RuntimeError\); the details are in")
    return bob


def test_a_crash_log_in_the_shared_temp_folder_is_this_users_own_and_private(tmp_path):
    with short_tmp_dir() as folder:
        bob = crash_with_shared_temp(folder, tmp_path)
    log = tmp_path / f"lanchat-crash-{os.geteuid()}.log"
    assert str(log) in bob.output, bob.output
    assert "the loop failed on purpose" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert not (tmp_path / "lanchat-crash.log").exists()


def test_a_link_planted_at_the_crash_log_is_not_followed(tmp_path):
    """mallory plants /tmp/lanchat-crash-UID.log -> a file bob may write: bob's crash appends nothing to it."""
    victim = tmp_path / "bobs-notes.txt"
    victim.write_text("my notes\n")
    (tmp_path / f"lanchat-crash-{os.geteuid()}.log").symlink_to(victim)
    with short_tmp_dir() as folder:
        bob = crash_with_shared_temp(folder, tmp_path)
    assert "is a link, not followed" in bob.output, bob.output
    assert victim.read_text() == "my notes\n"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_crash_log_another_user_made_there_is_refused(tmp_path):
    """mallory made the file first (and can read what bob's crash would write into it): refused."""
    planted = tmp_path / f"lanchat-crash-{os.geteuid()}.log"
    planted.write_text("")
    planted.chmod(0o666)
    os.chown(planted, 65534, 65534)
    with short_tmp_dir() as folder:
        bob = crash_with_shared_temp(folder, tmp_path)
    assert "belongs to another user" in bob.output, bob.output
    assert planted.read_text() == ""


def test_a_hard_link_planted_at_the_crash_log_is_not_written_through(tmp_path):
    """mallory plants /tmp/lanchat-crash-UID.log as a second name (a hard link) of a file of bob's,
    his ~/.bashrc: O_NOFOLLOW stops a symbolic link, not that, and the file is bob's own, so his crash
    appended its details to his .bashrc. Where the system lets her link another's file (Linux with
    fs.protected_hardlinks off; the test links it itself), nothing is written through it now."""
    home = tmp_path / "home"
    home.mkdir()
    bashrc = home / ".bashrc"
    bashrc.write_text("alias ls='ls -F'\n")
    os.link(bashrc, tmp_path / f"lanchat-crash-{os.geteuid()}.log")
    with short_tmp_dir() as folder:
        bob = crash_with_shared_temp(folder, tmp_path)
    assert "has another name (a hard link), not written" in bob.output, bob.output
    assert bashrc.read_text() == "alias ls='ls -F'\n"
