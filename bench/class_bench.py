"""bench/class_bench.py: a file to the whole class. Measures, never asserts.

    python bench/class_bench.py            # 200 MiB to 30 participants, then http.server (a few minutes)
    python bench/class_bench.py --quick    # 50 MiB to 30
    python bench/class_bench.py --tiny     # 2 MiB to 3 (the smoke test's size)
    python bench/class_bench.py --tls      # the same over TLS: serve --tls, and http.server behind TLS

The realistic heavy load in a class: the teacher offers one file (a data set, a VM image) and
30 students type ``/get`` at the same moment. On 127.0.0.1, with the file in a temporary folder:

1) lanchat: a headless server (history on, its own temporary folders, the file limit raised to
   fit), a teacher who joins and uploads the file in binary frames (timed apart), 30 receivers
   and a 31st participant who only chats. The receivers join, then all send ``get`` (binary)
   at once; each counts the file's bytes as they arrive (and the first one checks the SHA-256,
   in --tiny every one). The 31st sends a stamped line every 20 ms for as long as the download
   runs and times its own copy's return: chat latency during the transfer.
2) the reference, in the same run: ``python -m http.server`` serving the same file from the
   same folder to 30 concurrent HTTP/1.0 GETs from the same kind of Python receiver.

Reported for each: total time (all gets sent -> the last byte at the last receiver), MB/s per
receiver (min/median/max of size / its own time) and in all (30 x size / total time), the
server's CPU seconds (from /proc/PID/stat, ended threads included) and memory (VmRSS when it started, before
the gets, sampled every 50 ms during the transfer: the peak), and for lanchat the chat p50/p99/max. One process runs
every receiver with non-blocking sockets and one selector, for both servers alike; it shares
the 2 cores with the server, so compare the two runs, not absolute numbers. MB means MiB.
With --tls, lanchat runs ``serve --tls`` (its certificate made in the temporary folder) and the
reference is the same http.server behind TLS (bench/https_server.py, a certificate of the same
kind from lanchat.tls, the same context settings); every connection checks the fingerprint the
server printed, as ``connect --fingerprint`` does, and the receivers read with one selector as
before (each readiness reads TLS records until OpenSSL wants more bytes, at most TLS_READS,
into one buffer that is then counted in one go, as a plain read of the same size is).
Results print as a table and go to bench/results/class.json (class-tls.json with --tls, or --out).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import selectors
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402

from lanchat import events as ev  # noqa: E402
from lanchat.protocol import encode  # noqa: E402
from lanchat.tls import client_handshake  # noqa: E402
from lanchat.wire import FrameDecoder, binary_frame, decode_json  # noqa: E402

MIB = 1024 * 1024
START_TIMEOUT = 15.0
STEP_TIMEOUT = 30.0  # any one handshake or answer
CHAT_INTERVAL = 0.02  # the 31st participant's pace: a line every 20 ms
UPLOAD_CHUNK = 60 * 1024  # what lanchat's client puts in a binary frame
RECEIVE_BUFFER = 256 * 1024  # lanchat's client asks for this much while downloading (client.py)
READ_BYTES = 256 * 1024
STAMP = re.compile(rb"~T(\d{19})~")
TLS_READS = 16  # TLS records read per readiness, at most (a record holds 16 KiB at most)


class ClassBenchError(Exception):
    """The run could not go on (a server refused, vanished or stalled); one line for the report."""


# ------------------------------------------------------------------ servers


def _wait_for_line(popen: subprocess.Popen, log: Path, pattern: str) -> re.Match[str]:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        text = log.read_text(errors="replace")
        found = re.search(pattern, text)
        if found:
            return found
        if popen.poll() is not None or time.monotonic() > deadline:
            raise ClassBenchError(f"{popen.args[2]} did not start: {text.strip()[-300:]}")
        time.sleep(0.02)  # polling a condition with a deadline


def connect(port: int, fingerprint: str | None) -> socket.socket:
    """A connection to the server; with ``fingerprint``, in TLS, the server's certificate checked."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=STEP_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if fingerprint is None:
        return sock
    tls, got = client_handshake(sock, f"127.0.0.1 port {port}", STEP_TIMEOUT)
    if got != fingerprint:
        tls.close()
        raise ClassBenchError(f"the server's fingerprint is {got}, not the {fingerprint} it printed")
    tls.settimeout(STEP_TIMEOUT)
    return tls


def recv_into(sock: socket.socket, buffer: memoryview) -> int | None:
    """One read into ``buffer``: the byte count (0: closed), or None when nothing is there yet
    (TLS: a record not complete; select() said readable, OpenSSL wants more)."""
    try:
        return sock.recv_into(buffer)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return None


def start_lanchat(workdir: Path, file_mib: int, tls: bool = False) -> tuple[subprocess.Popen, int, str | None]:
    log = workdir / "lanchat.out"
    limit = str(max(1, file_mib + 1))
    command = [
        # --no-limits: 32 connections from one address and a line every 20 ms are the point here
        sys.executable, "-m", "lanchat", "serve", "--headless", "--port", "0", "--host", "127.0.0.1", "--no-limits",
        "--history", str(workdir / "history.sqlite3"), "--files-dir", str(workdir / "offers"),
        "--max-file-mb", limit, "--quota-mb", limit, *(["--tls"] if tls else []),
    ]  # fmt: skip
    # XDG_DATA_HOME: a --tls server makes its certificate in the temporary folder, not the user's
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(workdir / "data")}
    with open(log, "wb") as out:
        popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    port = int(_wait_for_line(popen, log, r"listening on port (\d+)").group(1))
    fingerprint = _wait_for_line(popen, log, r"fingerprint is (SHA256:\S+)").group(1) if tls else None
    return popen, port, fingerprint


def start_http(workdir: Path, folder: Path, tls: bool = False) -> tuple[subprocess.Popen, int, str | None]:
    log = workdir / "http.out"
    command = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(folder)]
    if tls:  # the same server behind TLS, a certificate of the same kind as serve --tls makes
        command = [sys.executable, "-u", str(HERE / "https_server.py"), "0", "--bind", "127.0.0.1",
                   "--directory", str(folder), "--cert-dir", str(workdir / "https-cert")]  # fmt: skip
    with open(log, "wb") as out:
        popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    port = int(_wait_for_line(popen, log, r"port (\d+)").group(1))
    fingerprint = _wait_for_line(popen, log, r"fingerprint is (SHA256:\S+)").group(1) if tls else None
    return popen, port, fingerprint


def stop(popen: subprocess.Popen) -> None:
    """End a server we started, by its PID."""
    loadgen.stop(popen, grace=10)


# ------------------------------------------------------------------ lanchat participants


class Participant:
    """A blocking lanchat connection for the set-up: join, then read frames until one fits."""

    def __init__(self, port: int, name: str, fingerprint: str | None = None) -> None:
        self.sock = connect(port, fingerprint)
        self.decoder = FrameDecoder()
        self.seen: list[bytes] = []
        self.sock.sendall(encode(ev.Hello(name=name)))
        self.wait_for(lambda obj: obj.get("type") == "welcome", "the welcome")

    def wait_for(self, wanted, what: str) -> dict:  # noqa: ANN001
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            while self.seen:
                payload = self.seen.pop(0)
                if payload[:1] == b"\x00":
                    continue
                obj = decode_json(payload)
                if obj.get("type") in ("error", "file-error"):
                    raise ClassBenchError(f"the server refused: {obj.get('message')}")
                if wanted(obj):
                    return obj
            data = self.sock.recv(READ_BYTES)
            if not data:
                raise ClassBenchError(f"the server closed while waiting for {what}")
            self.seen += self.decoder.feed(data)
        raise ClassBenchError(f"no {what} within {STEP_TIMEOUT} s")


def upload(teacher: Participant, path: Path) -> tuple[str, str, float]:
    """Offer and upload ``path`` in binary frames; return (id, sha256, seconds until offered)."""
    size = path.stat().st_size
    started = time.perf_counter()
    teacher.sock.sendall(encode(ev.OfferFile(ref=1, name=path.name, size=size)))
    ready = teacher.wait_for(lambda obj: obj.get("type") == "upload-ready", "upload-ready")
    file_id = ready["id"]
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(UPLOAD_CHUNK):
            digest.update(chunk)
            teacher.sock.sendall(binary_frame(file_id, chunk))
    teacher.sock.sendall(encode(ev.UploadDone(id=file_id, sha256=digest.hexdigest())))
    teacher.wait_for(lambda obj: obj.get("type") == "offered" and obj.get("id") == file_id, "the offer")
    return file_id, digest.hexdigest(), time.perf_counter() - started


class FileCounter:
    """Counts (and optionally hashes) the file's bytes in a lanchat stream without copying them.

    Frames are cut by hand: a binary frame's data is counted where it lies in the read buffer;
    a JSON frame (file-start, chat lines) is kept whole to be read."""

    def __init__(self, id_bytes: int, hashing: bool) -> None:
        self.header = bytearray()
        self.left = 0  # bytes of the current frame's payload still to come
        self.skip = 0  # bytes of a binary frame's mark, length and id still to skip
        self.binary: bool | None = None  # None: the payload's first byte has not come yet
        self.json = bytearray()
        self.id_overhead = 2 + id_bytes
        self.file_bytes = 0
        self.hasher = hashlib.sha256() if hashing else None
        self.errors: list[str] = []

    def feed(self, view: memoryview) -> None:
        at, end = 0, len(view)
        while at < end:
            if self.left == 0:
                take = min(4 - len(self.header), end - at)
                self.header += view[at : at + take]
                at += take
                if len(self.header) < 4:
                    return
                self.left = int.from_bytes(self.header, "big")
                self.header.clear()
                self.binary = None
                continue
            if self.binary is None:  # a binary frame starts with 0, JSON with "{"
                self.binary = view[at] == 0
                self.skip = self.id_overhead if self.binary else 0
            take = min(self.left, end - at)
            if self.binary:
                skipped = min(self.skip, take)
                self.skip -= skipped
                data = view[at + skipped : at + take]
                self.file_bytes += len(data)
                if self.hasher is not None:
                    self.hasher.update(data)
            else:
                self.json += view[at : at + take]
            at += take
            self.left -= take
            if self.left == 0 and not self.binary:
                self._read_json()

    def _read_json(self) -> None:
        obj = decode_json(bytes(self.json))
        self.json.clear()
        if obj.get("type") in ("file-error", "error"):
            self.errors.append(str(obj.get("message")))


class Receiver:
    """One non-blocking downloader (lanchat or HTTP) in the bench's selector."""

    def __init__(self, sock: socket.socket, size: int, counter: FileCounter | None) -> None:
        self.sock = sock
        self.size = size
        self.counter = counter  # lanchat; None for HTTP
        self.http_head = bytearray()
        self.http_body = 0
        self.http_hasher: hashlib._Hash | None = None
        self.started = 0.0
        self.finished = 0.0
        self.closed = False

    @property
    def got(self) -> int:
        return self.counter.file_bytes if self.counter is not None else self.http_body

    def take(self, view: memoryview) -> None:
        if self.counter is not None:
            self.counter.feed(view)
        elif self.http_body == 0 and b"\r\n\r\n" not in self.http_head:
            self.http_head += view
            head, sep, body = bytes(self.http_head).partition(b"\r\n\r\n")
            if sep:
                if not head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
                    raise ClassBenchError(f"http.server answered {head[:40]!r}")
                self._http_data(memoryview(body))
        else:
            self._http_data(view)

    def _http_data(self, view: memoryview) -> None:
        self.http_body += len(view)
        if self.http_hasher is not None:
            self.http_hasher.update(view)

    def digest(self) -> str | None:
        if self.counter is not None:
            return self.counter.hasher.hexdigest() if self.counter.hasher is not None else None
        return self.http_hasher.hexdigest() if self.http_hasher is not None else None


class ChatProbe:
    """The 31st participant: a stamped line every CHAT_INTERVAL, its own copy timed on return."""

    def __init__(self, participant: Participant) -> None:
        self.sock = participant.sock
        self.decoder = participant.decoder
        self.latencies_ns: list[int] = []
        self.next_send = 0.0
        self.sent = 0
        self.unsent = b""  # a line the socket would not take yet: offered again first (TLS needs the same bytes)

    def send(self) -> None:
        line = self.unsent or encode(ev.Say(text=f"~T{time.monotonic_ns():019d}~ during the download"))
        try:
            sent = self.sock.send(line)
        except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            self.unsent = line
            return
        self.unsent = line[sent:]
        if not self.unsent:
            self.sent += 1

    def read(self, reads: int) -> bool:
        """Read what has come (up to ``reads`` times); False when the server closed."""
        for _ in range(reads):
            try:
                data = self.sock.recv(READ_BYTES)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return True
            if not data:
                return False
            self.take(data)
        return True

    def take(self, data: bytes) -> None:
        now = time.monotonic_ns()
        for payload in self.decoder.feed(data):
            for stamp in STAMP.findall(payload):
                self.latencies_ns.append(now - int(stamp))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` from /proc/PID/stat, threads that already ended included
    (http.server runs each request in a thread of its own; task/*/schedstat lists only live ones)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def drain(probe: ChatProbe, reads: int, seconds: float = 2.0) -> None:
    """The lines sent during the transfer still count: wait for their copies, bounded."""
    with selectors.DefaultSelector() as selector:
        selector.register(probe.sock, selectors.EVENT_READ)
        until = time.perf_counter() + seconds
        while len(probe.latencies_ns) < probe.sent and time.perf_counter() < until:
            if selector.select(0.05) and not probe.read(reads):
                return


def transfer(
    receivers: list[Receiver],
    server_pid: int,
    deadline_s: float,
    idle_rss_kb: int,
    probe: ChatProbe | None = None,
    tls: bool = False,
) -> dict:
    """Run every receiver (and the chat probe) to the end; sample the server meanwhile."""
    reads = TLS_READS if tls else 1  # plain: one recv per readiness, as before
    selector = selectors.DefaultSelector()
    for receiver in receivers:
        receiver.sock.setblocking(False)
        selector.register(receiver.sock, selectors.EVENT_READ, receiver)
    if probe is not None:
        probe.sock.setblocking(False)
        selector.register(probe.sock, selectors.EVENT_READ, probe)
    buffer = bytearray(READ_BYTES)
    view = memoryview(buffer)
    before = loadgen.sample(server_pid)
    cpu_before = cpu_seconds(server_pid)
    peak_rss_kb = before.rss_kb
    started = time.perf_counter()
    for receiver in receivers:
        receiver.started = started
    next_sample = started
    pending = len(receivers)
    deadline = started + deadline_s
    try:
        while pending:
            now = time.perf_counter()
            if now > deadline:
                raise ClassBenchError(f"{pending} receivers unfinished after {deadline_s:.0f} s")
            if now >= next_sample:
                peak_rss_kb = max(peak_rss_kb, loadgen.sample(server_pid).rss_kb)
                next_sample = now + 0.05
            if probe is not None and now >= probe.next_send:
                probe.send()
                probe.next_send = now + CHAT_INTERVAL
            wait = min(next_sample, probe.next_send if probe else next_sample) - time.perf_counter()
            for key, _ in selector.select(max(0.0, wait)):
                owner = key.data
                if owner is probe:
                    if not probe.read(reads):
                        raise ClassBenchError("the chat participant was disconnected")
                    continue
                # Fill the buffer (TLS: a record per read, up to TLS_READS), then count it in one go,
                # so the receivers' own work per byte is alike for both servers and both modes.
                filled, closed = 0, False
                for _ in range(reads):
                    count = recv_into(owner.sock, view[filled:])
                    if count is None:
                        break
                    if count == 0:
                        closed = True
                        break
                    filled += count
                    if filled == len(buffer):
                        break
                if filled:
                    owner.take(view[:filled])
                    if owner.counter is not None and owner.counter.errors:
                        raise ClassBenchError(f"the server refused: {owner.counter.errors[0]}")
                if closed:
                    selector.unregister(owner.sock)
                    owner.closed = True
                    if owner.got < owner.size:
                        raise ClassBenchError(f"a receiver was cut off at {owner.got} of {owner.size} bytes")
                if owner.got >= owner.size and not owner.finished:
                    owner.finished = time.perf_counter()
                    pending -= 1
        if probe is not None:
            drain(probe, reads)
    finally:
        selector.close()
    total = max(r.finished for r in receivers) - started
    after = loadgen.sample(server_pid)
    cpu_after = cpu_seconds(server_pid)
    peak_rss_kb = max(peak_rss_kb, after.rss_kb)
    size_mib = receivers[0].size / MIB
    per = sorted(size_mib / (r.finished - r.started) for r in receivers)
    result = {
        "receivers": len(receivers),
        "total_s": round(total, 3),
        "mib_per_s_all": round(size_mib * len(receivers) / total, 1),
        "mib_per_s_per_receiver_min": round(per[0], 1),
        "mib_per_s_per_receiver_median": round(statistics.median(per), 1),
        "mib_per_s_per_receiver_max": round(per[-1], 1),
        "server_cpu_s": round(cpu_after - cpu_before, 2),
        "server_rss_mib_idle": round(idle_rss_kb / 1024, 1),
        "server_rss_mib_before": round(before.rss_kb / 1024, 1),
        "server_rss_mib_peak": round(peak_rss_kb / 1024, 1),
        "server_rss_mib_over_idle": round((peak_rss_kb - idle_rss_kb) / 1024, 1),
        "bytes_whole": all(r.got == r.size for r in receivers),
    }
    return result


def chat_figures(probe: ChatProbe) -> dict:
    samples = sorted(probe.latencies_ns)
    if not samples:
        return {"chat_lines_sent": probe.sent, "chat_lines_back": 0}
    return {
        "chat_lines_sent": probe.sent,
        "chat_lines_back": len(samples),
        "chat_p50_ms": round(samples[len(samples) // 2] / 1e6, 2),
        "chat_p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1e6, 2),
        "chat_max_ms": round(samples[-1] / 1e6, 2),
    }


def run_lanchat(workdir: Path, path: Path, receivers: int, deadline_s: float, hash_all: bool, tls: bool = False) -> dict:
    size = path.stat().st_size
    popen, port, fingerprint = start_lanchat(workdir, -(-size // MIB), tls)
    idle_rss_kb = loadgen.sample(popen.pid).rss_kb  # started, nobody there yet
    people: list[Participant] = []
    try:
        teacher = Participant(port, "teacher", fingerprint)
        people.append(teacher)
        file_id, sha256, upload_s = upload(teacher, path)
        for n in range(receivers):
            people.append(Participant(port, f"student{n + 1}", fingerprint))
        chatter = Participant(port, "chatter", fingerprint)
        people.append(chatter)
        probe = ChatProbe(chatter)
        downloads: list[Receiver] = []
        for n, student in enumerate(people[1 : receivers + 1]):
            student.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            counter = FileCounter(len(file_id.encode()), hashing=hash_all or n == 0)
            for payload in student.seen:  # frames read with the welcome: only notices, no file bytes
                if payload[:1] != b"\x00":
                    counter.json += payload
                    counter._read_json()
            downloads.append(Receiver(student.sock, size, counter))
        for receiver in downloads:  # everyone types /get at the same moment
            receiver.sock.sendall(encode(ev.GetFile(id=file_id, binary=True)))
        result = transfer(downloads, popen.pid, deadline_s, idle_rss_kb, probe, tls)
        result.update(chat_figures(probe))
        result["upload_s"] = round(upload_s, 3)
        result["tls_fingerprint"] = fingerprint  # None: plain; checked by every connection
        result["sha256_checked"] = sum(1 for r in downloads if r.digest() is not None)
        result["sha256_ok"] = all(r.digest() in (None, sha256) for r in downloads)
        return result
    finally:
        for person in people:
            with contextlib.suppress(OSError):
                person.sock.close()
        stop(popen)


def run_http(
    workdir: Path, path: Path, receivers: int, deadline_s: float, hash_all: bool, sha256: str, tls: bool = False
) -> dict:
    size = path.stat().st_size
    popen, port, fingerprint = start_http(workdir, path.parent, tls)
    idle_rss_kb = loadgen.sample(popen.pid).rss_kb
    downloads: list[Receiver] = []
    try:
        for n in range(receivers):
            receiver = Receiver(connect(port, fingerprint), size, None)
            if hash_all or n == 0:
                receiver.http_hasher = hashlib.sha256()
            downloads.append(receiver)
        request = f"GET /{path.name} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()
        for receiver in downloads:
            receiver.sock.sendall(request)
        result = transfer(downloads, popen.pid, deadline_s, idle_rss_kb, tls=tls)
        result["tls_fingerprint"] = fingerprint
        result["sha256_checked"] = sum(1 for r in downloads if r.digest() is not None)
        result["sha256_ok"] = all(r.digest() in (None, sha256) for r in downloads)
        return result
    finally:
        for receiver in downloads:
            with contextlib.suppress(OSError):
                receiver.sock.close()
        stop(popen)


def make_file(folder: Path, mib: int) -> tuple[Path, str]:
    path = folder / "share" / "dataset.bin"
    path.parent.mkdir()
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(mib):
            block = os.urandom(MIB)
            digest.update(block)
            out.write(block)
    return path, digest.hexdigest()


def goals(lanchat: dict, http: dict) -> list[tuple[str, bool | None, str]]:
    out: list[tuple[str, bool | None, str]] = []
    if "total_s" in lanchat and "total_s" in http:
        out.append(("total time <= http.server's", lanchat["total_s"] <= http["total_s"],
                    f"{lanchat['total_s']} s against {http['total_s']} s"))  # fmt: skip
    if "server_rss_mib_over_idle" in lanchat:
        out.append(("server RSS <= +64 MiB over idle", lanchat["server_rss_mib_over_idle"] <= 64,
                    f"+{lanchat['server_rss_mib_over_idle']} MiB"))  # fmt: skip
    if "chat_p99_ms" in lanchat:
        out.append(("chat p99 during the transfer < 50 ms", lanchat["chat_p99_ms"] < 50, f"{lanchat['chat_p99_ms']} ms"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="50 MiB to 30 receivers")
    size.add_argument("--tiny", action="store_true", help="2 MiB to 3 receivers, every copy checked (the smoke test)")
    parser.add_argument("--mib", type=int, help="file size in MiB (default 200)")
    parser.add_argument("--receivers", type=int, help="participants who /get it (default 30)")
    parser.add_argument("--tls", action="store_true", help="lanchat with serve --tls, http.server behind TLS, TLS receivers")
    parser.add_argument("--out", type=Path, help="default: bench/results/class.json (class-tls.json with --tls)")
    args = parser.parse_args(argv)
    args.out = args.out or HERE / "results" / ("class-tls.json" if args.tls else "class.json")
    mib = args.mib or (2 if args.tiny else 50 if args.quick else 200)
    receivers = args.receivers or (3 if args.tiny else 30)
    if not 1 <= mib <= 1024 or not 1 <= receivers <= 60:
        parser.error("1 to 1024 MiB, 1 to 60 receivers")
    deadline_s = 30.0 + mib * receivers / 20  # bounded: at least 20 MiB/s in all, or it stops
    loadgen.raise_fd_limit()
    report: dict = {"file_mib": mib, "receivers": receivers, "tls": args.tls, "loadavg_before": list(os.getloadavg())}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        folder = Path(tmp)
        path, sha256 = make_file(folder, mib)
        for name, run in (
            ("lanchat", lambda: run_lanchat(folder, path, receivers, deadline_s, args.tiny, args.tls)),
            ("http.server", lambda: run_http(folder, path, receivers, deadline_s, args.tiny, sha256, args.tls)),
        ):
            try:
                report[name] = run()
            except (ClassBenchError, OSError) as exc:
                report[name] = {"failed": f"{type(exc).__name__}: {exc}"}
            print(f"{name}: {json.dumps(report[name])}", flush=True)
    report["loadavg_after"] = list(os.getloadavg())
    report["seconds"] = round(time.time() - started, 1)
    report["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    judged = goals(report["lanchat"], report["http.server"])
    report["goals"] = [{"goal": g, "met": ok, "value": v} for g, ok, v in judged]
    rows = [
        ("total time, s", "total_s"),
        ("MiB/s in all", "mib_per_s_all"),
        ("MiB/s per receiver, median", "mib_per_s_per_receiver_median"),
        ("MiB/s per receiver, min", "mib_per_s_per_receiver_min"),
        ("server CPU, s", "server_cpu_s"),
        ("server RSS idle / before / peak, MiB", ("server_rss_mib_idle", "server_rss_mib_before", "server_rss_mib_peak")),
        ("chat p50 / p99 / max, ms", ("chat_p50_ms", "chat_p99_ms", "chat_max_ms")),
    ]
    print(f"\n{mib} MiB to {receivers} receivers{' over TLS' if args.tls else ''}, load average {report['loadavg_before'][0]:.2f} before")
    print(f"| {'':<30} | {'lanchat':>20} | {'http.server':>20} |")
    for label, keys in rows:
        cells = []
        for name in ("lanchat", "http.server"):
            got = report[name]
            names = keys if isinstance(keys, tuple) else (keys,)
            cells.append(" / ".join(str(got[k]) for k in names) if all(k in got for k in names) else "-")
        print(f"| {label:<30} | {cells[0]:>20} | {cells[1]:>20} |")
    for goal, ok, value in judged:
        print(f"  [{'met ' if ok else 'MISS'}] {goal}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
