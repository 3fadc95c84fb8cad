"""What an idle server loads: hashlib waits for the first file, cryptography and hmac for the
first key or password, the look-alike table for the first name that is not ASCII, and ssl for
--tls (bench/idle_memory.py measures what that saves: about 20 MiB). Checked in a child
process, on the modules the server command imports, and in a real server's memory map."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import ROOT, Proc, RawClient, child_env, start_server

from lanchat import events as ev
from lanchat.transport import Endpoint

SERVER_MODULES = "import lanchat.__main__, lanchat.cli.serve, lanchat.history, lanchat.server, lanchat.hub, lanchat.server_files"


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


def test_a_server_without_tls_loads_no_ssl_and_no_look_alike_table():
    loaded = modules_after(SERVER_MODULES)
    assert {"lanchat.server", "lanchat.tls_server", "lanchat.names"} <= loaded  # the check looks where it should
    # tls.py too (certificates, fingerprints, known servers, the client's handshake: 0.2 MiB of
    # code): a plain server reads and sends through tls_server.py alone
    assert not loaded & {"ssl", "_ssl", "lanchat.skeleton_table", "lanchat.tls"}


def test_a_server_does_not_load_the_clients_session_to_word_lines_for_nc():
    """Text participants read the same facts as lanchat's screen (wording.py), without the
    server loading the client's session and its commands (idle memory: bench/idle_memory.py)."""
    loaded = modules_after(SERVER_MODULES)
    assert {"lanchat.textline", "lanchat.wording"} <= loaded  # the check looks where it should
    assert not loaded & {"lanchat.session", "lanchat.session_social"}


def test_ascii_names_joining_and_renaming_need_no_look_alike_table():
    statement = (
        f"{SERVER_MODULES}\n"
        "from lanchat import events as ev\n"
        "from lanchat.room import Room\n"
        "room = Room()\n"
        "room.handle(1, ev.Hello(name='Ann'))\n"
        "taken = room.handle(2, ev.Hello(name='ANN'))\n"
        "assert taken[0].event.code == 'name-taken', taken\n"  # the keys were compared
        "room.handle(2, ev.Hello(name='b0b'))\n"
        "renamed = room.handle(1, ev.Nick(name='Ann1'))\n"
        "assert b'\"renamed\"' in renamed[0].frame, renamed\n"
        "assert ev.name_key('B0B') != ev.name_key('bob') and ev.name_key('Il1|') == 'illl'"
    )
    loaded = modules_after(statement)
    assert "lanchat.room" in loaded
    assert "lanchat.skeleton_table" not in loaded


def test_the_first_name_not_in_ascii_loads_the_look_alike_table():
    statement = (
        f"{SERVER_MODULES}\n"
        "from lanchat import events as ev\n"
        "from lanchat.room import Room\n"
        "room = Room()\n"
        "room.handle(1, ev.Hello(name='ann'))\n"
        "room.handle(2, ev.Hello(name='\\u0430nn'))\n"  # Cyrillic a: the same name, refused
        "assert ev.name_key('\\u0430nn') == 'ann'"
    )
    assert "lanchat.skeleton_table" in modules_after(statement)


def openssl_mapped(pid: int) -> set[str]:
    """Which of OpenSSL's libraries and Python's ssl extension the process has mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {name for name in ("libssl", "_ssl.") if name in maps}


def test_a_plain_server_that_served_a_chat_never_loaded_openssls_tls_library():
    server, port = start_server("--headless", "--no-history")
    try:
        ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
        bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
        ann.send(ev.Say(text="hello"))
        bob.expect(ev.Message, sender="ann", text="hello")
        assert openssl_mapped(server.popen.pid) == set()
        ann.close()
        bob.close()
    finally:
        server.stop()


def test_a_loopback_server_with_history_loads_no_hashing_no_psutil_and_no_discovery(tmp_path):
    """A server only this machine reaches (--host 127.0.0.1) announces nothing and meets no
    IPv6 stranger: it used to import discovery (and hashlib, OpenSSL's libcrypto with it) and
    psutil at start, 5 MiB of an idle server's 27.6 (bench/idle_memory.py)."""
    server, port = start_server("--headless", "--history", str(tmp_path / "h.sqlite3"), "--files-dir", str(tmp_path / "f"))
    try:
        ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
        bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
        ann.send(ev.Say(text="hello"))
        bob.expect(ev.Message, sender="ann", text="hello")
        maps = Path(f"/proc/{server.popen.pid}/maps").read_text()
        assert "_sqlite3" in maps  # the check reads the right map
        assert not [name for name in ("_hashlib.", "libcrypto", "_psutil_linux") if name in maps]
        ann.close()
        bob.close()
    finally:
        server.stop()


def test_a_tls_server_does_load_it(tmp_path):
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--tls", env=child_env())
    try:
        server.expect(r"the server's fingerprint is")
        assert openssl_mapped(server.popen.pid) == {"libssl", "_ssl."}  # the check above can see it
    finally:
        server.stop()


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
        "assert type(actions[-1].event) is ev.UploadReady, actions\n"
        "files.close()"
    )
    assert {"hashlib", "shutil"} <= modules_after(statement)  # (shutil: is there room on the disk for it)


def test_the_first_key_loads_cryptography():
    statement = (
        f"{SERVER_MODULES}\n"
        "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey\n"
        "from lanchat import identity\n"
        "public = identity.public_bytes(Ed25519PrivateKey.generate())\n"
        "assert not identity.signature_ok(public, b'n' * 32, b's' * 64)"
    )
    assert "cryptography.exceptions" in modules_after(statement)  # signature_ok imported it


def test_ascii_lines_shown_need_no_stand_in_table():
    """textsafe's whole table of stand-ins (2,500, and two searches made of it: 0.8 MiB) waits for
    the first text that is not ASCII; the lines of a class writing ASCII use its ASCII part."""
    statement = (
        f"{SERVER_MODULES}\n"
        "from lanchat import textsafe\n"
        "assert textsafe.visible('ann: hi\\x1b[2J\\x07\\t!') == 'ann: hi^[[2J^G !'\n"
        "assert textsafe.visible_lines('a\\nb\\x7f') == ['a', 'b^?']\n"
        "assert textsafe._non_ascii.cache_info().currsize == 0, 'built at start'\n"
        "assert textsafe.visible('caf\\u00e9\\u200b\\u202e') == 'caf\\u00e9<U+200B><U+202E>'\n"
        "assert textsafe._non_ascii.cache_info().currsize == 1\n"
        "print('lines shown')"
    )
    assert "lanchat.textsafe" in modules_after(statement)


def modules_of_a_headless_server(tmp_path: Path, *extra: str) -> set[str]:
    """The modules a real `serve --headless` with history imported by the time it had served a
    chat between two people (-X importtime's lines, PYTHONPROFILEIMPORTTIME; they leave out the
    modules importlib.import_module loads, as __main__ loads cli/serve.py, but not theirs)."""
    history = ("--history", str(tmp_path / "h.sqlite3"), "--files-dir", str(tmp_path / "f"))
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", *history, *extra,
                  env=child_env(PYTHONPROFILEIMPORTTIME="1"))  # fmt: skip
    try:
        port = int(server.expect(r"listening on port (\d+)").group(1))
        ann = RawClient(Endpoint(host="127.0.0.1", port=port), "ann")
        bob = RawClient(Endpoint(host="127.0.0.1", port=port), "bob")
        ann.send(ev.Say(text="hello"))
        bob.expect(ev.Message, sender="ann", text="hello")
        ann.close()
        bob.close()
    finally:
        server.stop()
    return {line.rsplit("|", 1)[1].strip() for line in server.lines if line.startswith("import time:")}


def test_a_headless_server_loads_none_of_the_chat_the_host_would_run(tmp_path):
    """The host's chat (cli/chat.py), the join that retries (cli/rejoin.py), the rooms command's
    module (cli/rooms.py: a room's name in quotes, for the announcement) and the history command's
    (cli/history_file.py) wait for what needs them: a headless server never runs the first."""
    loaded = modules_of_a_headless_server(tmp_path)
    assert {"lanchat.history", "lanchat.hub", "lanchat.server"} <= loaded  # the check reads the server's imports
    assert not loaded & {"lanchat.cli.chat", "lanchat.cli.rejoin", "lanchat.cli.rooms", "lanchat.cli.history_file"}


def test_a_plain_headless_server_that_served_a_chat_never_loaded_tls_py(tmp_path):
    loaded = modules_of_a_headless_server(tmp_path)
    assert "lanchat.tls_server" in loaded  # every read goes through it (tls_recv)
    assert "lanchat.tls" not in loaded


def test_a_headless_server_loads_no_shutil_nor_its_compression_modules(tmp_path):
    """argparse's help formatter imported shutil for the terminal's width while the parser was
    built, and shutil zlib, bz2 and lzma (0.5 MiB: bench/idle_memory.py); the history and the
    file store imported it for the disk's free space, asked only when a file is offered or the
    disk is full."""
    loaded = modules_of_a_headless_server(tmp_path)
    assert "sqlite3" in loaded  # the check reads the server's imports
    assert not loaded & {"shutil", "zlib", "bz2", "lzma"}


def test_help_is_folded_to_the_width_argparse_would_ask_shutil_for(monkeypatch):
    import shutil

    from lanchat.cli.args import help_columns

    for columns in ("", "50", "200", "0", "-3", "abc", "1"):
        monkeypatch.setenv("COLUMNS", columns)
        assert help_columns() == shutil.get_terminal_size().columns, columns
    monkeypatch.delenv("COLUMNS")
    assert help_columns() == shutil.get_terminal_size().columns


def test_a_server_listening_on_an_address_never_loads_the_idna_codec(tmp_path):
    """getaddrinfo puts a str host through the idna codec, "127.0.0.1" too, loading it and
    stringprep; an address goes as bytes (a name still through the codec, and is listened on)."""
    loaded = modules_of_a_headless_server(tmp_path)
    assert "lanchat.transport" in loaded  # the check reads the server's imports
    assert not loaded & {"encodings.idna", "stringprep"}
    statement = (
        "from lanchat.transport import listen_tcp\n"
        "for host in ('127.0.0.1', 'localhost'):\n"
        "    listener = listen_tcp(host, 0)\n"
        "    assert listener.getsockname()[0] in ('127.0.0.1', '::1'), listener\n"
        "    listener.close()"
    )
    assert "encodings.idna" in modules_after(statement)  # (the name's: as before)


def test_a_headless_server_loads_traceback_only_for_a_bug_met(tmp_path):
    """The hub keeps the first few internal errors' tracebacks (Hub.internal_errors); a server
    that met none never loads traceback (0.1 MiB)."""
    loaded = modules_of_a_headless_server(tmp_path)
    assert "lanchat.hub" in loaded  # the check reads the server's imports
    assert "traceback" not in loaded
    statement = (
        f"{SERVER_MODULES}\n"
        "from lanchat.hub import Hub\n"
        "from lanchat.room import Room\n"
        "from lanchat.server_files import ServerFiles\n"
        f"files = ServerFiles({str(tmp_path / 'files')!r})\n"
        "hub = Hub(Room(), files=files, log=lambda line: None)\n"
        "try:\n"
        "    raise ValueError('a bug')\n"
        "except ValueError as exc:\n"
        "    hub.internal_error(1, exc)\n"
        "assert 'ValueError: a bug' in hub.internal_errors[0], hub.internal_errors\n"
        "files.close()"
    )
    assert "traceback" in modules_after(statement)


def test_what_nc_reads_is_loaded_with_the_first_text_participant(tmp_path):
    """textview.py (and members.py with it) words the room for nc and telnet: a server no text
    participant joined never loads them; the first one that comes in does, and reads the room."""
    assert not modules_of_a_headless_server(tmp_path) & {"lanchat.textview", "lanchat.members"}
    statement = (
        f"{SERVER_MODULES}\n"
        "from lanchat.textline import TextConnection\n"
        "text = TextConnection(room='lab')\n"
        "assert text.view is not None\n"
    )
    assert {"lanchat.textview", "lanchat.members"} <= modules_after(statement)
