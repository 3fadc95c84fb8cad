"""The real program in line mode: a small file's lines come in the order things happen, and
a transfer too short to time claims no speed."""

from __future__ import annotations

from helpers import Proc, start_server


def test_a_small_files_lines_are_in_order_and_claim_no_speed(tmp_path):
    server, port = start_server("--headless", "--no-history", "--files-dir", str(tmp_path / "server-files"))
    ann = Proc("connect", "127.0.0.1", str(port), "--name", "ann")
    try:
        ann.expect(r"welcome, ann")
        tiny = tmp_path / "tiny.txt"
        tiny.write_bytes(b"hello")
        ann.send(f"/send {tiny}")
        ann.expect(r"your file tiny\.txt \(5 bytes\) is on offer")
        lines = ann.output.splitlines()
        sending = next(i for i, line in enumerate(lines) if "sending tiny.txt" in line)
        sent = next(i for i, line in enumerate(lines) if "sent tiny.txt" in line)
        assert sending < sent, lines  # it was 'sent' first, then 'sending'
        assert "/s" not in lines[sent] and "(5 bytes); the server is checking it" in lines[sent]
    finally:
        ann.stop()
        server.stop()
