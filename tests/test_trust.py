"""Trust on a LAN, as a class meets it: the short form of a TLS room's fingerprint that the
teacher writes on the board and a student's first join shows to compare (tls.short_form), two
teachers' rooms of one name, one teacher's rooms sharing one certificate, and cloned machines
sharing one. Real servers, real TLS, real terminals (pyte), network namespaces for discovery."""

from __future__ import annotations

import io
import json
import re
import sys

import pexpect
from helpers import ROOT, Proc, child_env, wait_for

from lanchat.tls import channel_binding, ensure_certificate, server_context, short_form, with_short_form

ANN = "198.18.0.1"
BOB = "198.18.0.2"


# ------------------------------------------------------------------ the short form


def test_the_short_form_is_the_fingerprints_first_64_bits_as_four_groups_of_hex(tmp_path):
    cert, key, _made = ensure_certificate(tmp_path)
    _context, fp = server_context(cert, key)
    short = short_form(fp)
    assert re.fullmatch(r"[0-9a-f]{4}( [0-9a-f]{4}){3}", short), short
    assert short.replace(" ", "") == channel_binding(fp)[:8].hex()  # the SHA-256's own first bytes
    assert short_form("SHA256:" + "A" * 43) == "0000 0000 0000 0000"
    assert with_short_form(fp) == f"  {fp}\n  in short: {short}"


def test_serve_prints_the_short_form_and_a_students_first_join_asks_with_the_same():
    """The teacher's banner (and so the board) has the short form; the student's question
    shows the same 16 digits beside the whole fingerprint, so comparing is a glance."""
    env = child_env()
    server = Proc("serve", "--port", "0", "--host", "127.0.0.1", "--headless", "--no-history", "--tls", env=env)
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        fp = server.expect(r"the server's fingerprint is (SHA256:\S+)").group(1)
        server.expect(rf"its short form, to write on the board: {short_form(fp)} \(a student's first join shows it")
        student = pexpect.spawn(
            sys.executable, ["-m", "lanchat", "connect", "127.0.0.1", port, "--tls", "--name", "ann", "--plain"],
            env=child_env(), cwd=str(ROOT), encoding="utf-8", timeout=15, dimensions=(24, 100),
        )
        student.logfile_read = shown = io.StringIO()
        student.expect("is a TLS server not seen before")
        student.expect_exact(f"in short: {short_form(fp)}")
        student.expect_exact("Trust it and connect? [y/N] ")
        student.sendline("y")
        student.expect("welcome, ann")
        student.sendline("/q")
        student.expect(pexpect.EOF)
        student.close()
        assert student.exitstatus == 0 and "Traceback" not in shown.getvalue()
    finally:
        server.stop()


def test_a_tls_room_joined_by_name_shows_the_short_form_on_both_full_screens(lab):
    """The host's full screen says the short form among the lines on how to join; a student
    joining by the room's name at the full screen is asked nothing (the announcement pins the
    certificate) and saw the fingerprint to compare only in a line printed above the chat,
    which the full screen, opening, hid at once: it is now in the chat, once."""
    ann, bob = lab.namespace("A"), lab.namespace("B")
    lab.link(ann, f"{ANN}/24", bob, f"{BOB}/24")
    host = lab.term(ann, "serve", "--port", "0", "--name", "ann", "--no-history", "--room", "safe room", "--tls", cols=120)
    short = host.expect(r"its short form, to write on the board: ([0-9a-f ]{19})").group(1)
    host.expect(r"announcing 'safe room' on the local network")
    wait_for(lambda: json.loads(lab.run_command(bob, sys.executable, "-m", "lanchat", "rooms", "--json").stdout or "[]"),
             timeout=30, what="the room to be announced")
    student = lab.term(bob, "connect", "safe room", "--name", "bob", cols=120)
    student.expect(r"welcome, bob", timeout=30)
    student.expect(rf"TLS fingerprint in short {short}: compare it with the host's screen")
    assert len(re.findall(re.escape(short), student.text)) == 1, student.text
    student.send("/q\r")
    assert student.wait() == 0
    host.send("/q\r")
    assert host.wait() == 0


def test_the_short_form_given_as_a_pin_is_refused_with_what_to_give_instead():
    """The board's 16 digits are for the eye (64 bits): typed as --fingerprint, they were called
    "not a SHA256 fingerprint" with no word of the short form the student had copied."""
    student = Proc("connect", "127.0.0.1", "9", "--name", "ann", "--fingerprint", "80a5 ce41 0942 0956", stdin=False)
    assert student.wait() == 2
    assert "is the short form of a fingerprint, to compare by eye: give the whole one" in student.output, student.output
