"""What an idle server loads: OpenSSL (hashlib) waits for the first file (bench/idle_memory.py
measures what that saves). Checked on the real command, in a child process."""

from __future__ import annotations

import subprocess
import sys

from helpers import ROOT, child_env

SERVER_MODULES = "import lanchat.__main__, lanchat.history, lanchat.server, lanchat.hub, lanchat.server_files"


def modules_after(statement: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{statement}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=child_env(),
        check=True,
    )
    return set(done.stdout.split())


def test_a_server_that_no_one_sends_a_file_to_never_loads_openssl():
    loaded = modules_after(SERVER_MODULES)
    assert "lanchat.server_files" in loaded  # the check looks where it should
    assert not loaded & {"hashlib", "_hashlib", "hmac", "secrets", "tempfile"}


def test_the_first_upload_loads_hashlib(tmp_path):
    statement = (
        f"{SERVER_MODULES}\n"
        "from lanchat import events as ev\n"
        "from lanchat.room import Room\n"
        "from lanchat.server_files import ServerFiles\n"
        f"files = ServerFiles({str(tmp_path)!r})\n"
        "room = Room()\n"
        "room.handle(1, ev.Hello(name='ann'))\n"
        "actions = files.handle(room, 1, ev.OfferFile(ref=1, name='a.txt', size=3))\n"
        "assert type(actions[0].event) is ev.UploadReady, actions\n"
        "files.close()"
    )
    assert "hashlib" in modules_after(statement)
