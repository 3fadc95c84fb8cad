"""What an idle server loads: hashlib waits for the first file, cryptography and hmac for the
first key or password (bench/idle_memory.py measures what that saves: about 10 MiB). Checked
in a child process, on the modules the server command imports."""

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


def test_a_server_that_no_one_sends_a_file_or_a_key_to_loads_no_hashing_or_signing():
    loaded = modules_after(SERVER_MODULES)
    assert {"lanchat.server_files", "lanchat.identity"} <= loaded  # the check looks where it should
    assert not loaded & {"hashlib", "_hashlib", "hmac", "secrets"}
    assert not {name for name in loaded if name.split(".")[0] == "cryptography"}


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


def test_the_first_key_loads_cryptography():
    statement = (
        f"{SERVER_MODULES}\n"
        "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey\n"
        "from lanchat import identity\n"
        "public = identity.public_bytes(Ed25519PrivateKey.generate())\n"
        "assert not identity.signature_ok(public, b'n' * 32, b's' * 64)"
    )
    assert "cryptography.exceptions" in modules_after(statement)  # signature_ok imported it
