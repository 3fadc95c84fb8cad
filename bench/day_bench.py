"""bench/day_bench.py: a server left running all week, a client left open all day: what grows. Measures, never asserts.

    python bench/day_bench.py                 # 30 lessons of 16 students, then 6 restarts: about a minute
    python bench/day_bench.py --lessons 60    # a longer week
    python bench/day_bench.py --tls           # every connection over TLS (the handshakes are part of it)
    python bench/day_bench.py --tiny          # 2 lessons of 10 students, one restart: the smoke run

A teacher leaves `lanchat serve --headless` running on the lab machine while lessons come and go.
One real server (a subprocess, on 127.0.0.1 at a port the kernel picks, its history and files in a
temporary folder) lives through --lessons compressed lessons; in each, from addresses of its own in
127.0.0.0/8 (a new set each lesson, as another class's laptops):

1) the teacher (an --operator, by the key that owns the name) and --students students join, half
   of them with a key (a name claim); each says a line, some /nick, each whispers to the next;
2) one student uploads a file, two others get it; one offers a file only to a neighbour; one
   upload is cut off after its first piece (the socket closed mid-upload);
3) the teacher mutes one student for a minute, kicks one, bans one (who tries again, refused)
   and lifts the ban at the end; a student pages back through /history;
4) some students drop their link without a word and rejoin with their resume secret;
5) connections that close before a hello, half a hello, a hello dripped a byte at a time
   (with --tls: connections that close before or during the handshake);
6) everyone leaves (half with bye, half by closing), and a probe joins until it is alone.

After each lesson the server's RSS, open descriptors, threads, Python objects and the history
files' bytes are sampled, with a census of every container reachable from lanchat's objects
(the server runs under this script's --census-hook: on SIGUSR1 it writes, for each
`Class.attribute`, the summed length of the containers found there). A `lanchat connect`
left open on a pseudo-terminal (the full screen, 40 x 120) hears the whole week and is sampled
the same way; at the end the server is killed and restarted --restarts times on the same port
and history, and the client sampled after each of its rejoins.

A week compressed into a minute gives nothing that expires by time its time: the same lessons then
run in this process on a hand-turned clock (Room, Gate, Hub with its limits and a real HistoryStore,
no socket), --hours-between apart (default 1), from LAN addresses (10.X.Y.Z, not this machine's),
with the same census after each.

What grows per lesson is a least-squares slope over the second half of the lessons (after the
first lessons have filled what is meant to fill), listed when it grew in at least 80% of the
steps (a set that fills and empties within a lesson is not growth). Everything goes to bench/results/day.json;
the table of growing structures prints at the end.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import hashlib
import json
import os
import pty
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "day.json"
WAIT = 15.0  # any one wait: a bound, never reached in a healthy run
CENSUS_NODES = 3_000_000  # the census walks at most this many objects


# ------------------------------------------------------------------ the census, inside the measured process


def census() -> dict:
    """For each ``Class.attribute`` path (nested containers add ``[]``), the summed length of the
    containers and byte strings found there, walking from every object of a lanchat class."""
    sizes: dict[str, int] = defaultdict(int)
    instances: dict[str, int] = defaultdict(int)
    objects = gc.get_objects()
    stack: list[tuple[object, str]] = [(o, type(o).__name__) for o in objects if _ours(o)]
    seen: set[int] = set()
    while stack and len(seen) < CENSUS_NODES:
        obj, path = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (bytes, bytearray, memoryview, str)):
            sizes[path + "#bytes"] += len(obj)
        elif isinstance(obj, dict):
            sizes[path] += len(obj)
            stack.extend((v, path + "[]") for v in list(obj.values()) if _walked(v))
            stack.extend((k, path + "{}") for k in list(obj) if _ours(k))
        elif isinstance(obj, (list, tuple, set, frozenset, deque)):
            sizes[path] += len(obj)
            stack.extend((v, path + "[]") for v in list(obj) if _walked(v))
        elif _ours(obj):
            name = type(obj).__name__
            instances[name] += 1
            stack.extend((v, f"{name}.{attr}") for attr, v in _attributes(obj) if _walked(v))
    return {"sizes": dict(sizes), "instances": dict(instances), "gc_objects": len(objects), "walked": len(seen)}


def _ours(obj: object) -> bool:
    return type(obj).__module__.startswith("lanchat") and not isinstance(obj, type)


def _walked(obj: object) -> bool:
    return isinstance(obj, (dict, list, tuple, set, frozenset, deque, bytes, bytearray)) or _ours(obj)


def _attributes(obj: object) -> list[tuple[str, object]]:
    found = list(getattr(obj, "__dict__", {}).items())
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            with contextlib.suppress(AttributeError):
                found.append((slot, getattr(obj, slot)))
    return found


def census_hook(path: str, argv: list[str]) -> int:
    """Run ``lanchat ARGV`` in this process, writing a census to ``path`` on each SIGUSR1."""
    written = [0]

    def on_usr1(_signum: int, _frame: object) -> None:
        written[0] += 1
        report = {"seq": written[0], **census()}
        with open(path + ".part", "w") as out:
            json.dump(report, out)
        os.replace(path + ".part", path)

    signal.signal(signal.SIGUSR1, on_usr1)
    from lanchat.__main__ import main

    return main(argv)


# ------------------------------------------------------------------ sampling a process from outside


def sample(pid: int, census_path: Path | None = None) -> dict:
    """RSS, descriptors and threads from /proc; with ``census_path``, the process's own census."""
    found: dict = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key.lower() + "_kib"] = int(value.split()[0])
    found["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    found["threads"] = len(os.listdir(f"/proc/{pid}/task"))
    if census_path is not None:
        found.update(_census_of(pid, census_path))
    return found


def _census_of(pid: int, path: Path) -> dict:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            return {"census": json.loads(path.read_text())}
        time.sleep(0.05)  # polling a file the process writes; the condition decides
    return {"census": None}


def history_bytes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.glob("history.sqlite3*"))}


def files_kept(folder: Path) -> dict[str, int]:
    """The server's file folder (--files-dir): how many files it holds, and their bytes."""
    found = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return {"count": len(found), "bytes": sum(p.stat().st_size for p in found)}


# ------------------------------------------------------------------ the server and the long-lived client


class Server:
    """``lanchat serve --headless`` under the census hook, started and stopped by PID."""

    def __init__(self, work: Path, port: int, tls: bool, key_fingerprint: str) -> None:
        self.work, self.tls = work, tls
        self.census_path = work / "server-census.json"
        self.log: list[str] = []
        args = ["serve", "--headless", "--host", "127.0.0.1", "--port", str(port), "--no-announce",
                "--history", str(work / "history.sqlite3"), "--files-dir", str(work / "files"),
                "--operator", key_fingerprint, *(["--tls", "--tls-dir", str(work)] if tls else [])]  # fmt: skip
        self.popen = subprocess.Popen(
            [sys.executable, __file__, "--census-hook", str(self.census_path), "--", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=_env(work), cwd=work, start_new_session=True,
        )  # fmt: skip
        self.port, self.fingerprint = self._started()
        threading.Thread(target=self._drain, daemon=True).start()

    def _started(self) -> tuple[int, str | None]:
        assert self.popen.stdout is not None
        deadline, port, fingerprint = time.monotonic() + WAIT, None, None
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            self.log.append(line)
            if "SHA256:" in line and fingerprint is None:
                fingerprint = "SHA256:" + line.split("SHA256:", 1)[1].split()[0]
            if (found := re.search(r"listening on port (\d+)", line)) and port is None:
                port = int(found.group(1))
            if port is not None and (fingerprint or not self.tls):
                return port, fingerprint
            if not line and self.popen.poll() is not None:
                break
        self.stop()
        raise SystemExit("day bench: the server did not start:\n" + "".join(self.log[-20:]))

    def _drain(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.log.append(line)

    def stop(self, kill: bool = False) -> None:
        if self.popen.poll() is None:
            self.popen.kill() if kill else self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def _env(work: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(work), XDG_STATE_HOME=str(work),
                XDG_CONFIG_HOME=str(work), TERM="xterm-256color", TZ=os.environ.get("TZ", "UTC"))  # fmt: skip


class Client:
    """``lanchat connect`` on the full screen in a pseudo-terminal, its output read and dropped."""

    def __init__(self, work: Path, server: Server) -> None:
        self.census_path = work / "client-census.json"
        master, slave = pty.openpty()
        import fcntl
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        args = ["connect", "127.0.0.1", str(server.port), "--name", "watcher", "--identity", str(work / "watcher.key"),
                *(["--tls", "--fingerprint", server.fingerprint] if server.tls and server.fingerprint else [])]  # fmt: skip
        self.popen = subprocess.Popen(
            [sys.executable, __file__, "--census-hook", str(self.census_path), "--", *args],
            stdin=slave, stdout=slave, stderr=slave, env=_env(work), cwd=work, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.master = master
        self.bytes_read = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.bytes_read += len(data)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, b"/quit\r")
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.popen.terminate()
            self.popen.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.master)


# ------------------------------------------------------------------ one participant, from an address of its own


class Person:
    """A participant on a real socket bound to ``source`` (RawClient from tests/helpers.py)."""

    def __init__(self, server: Server, source: str, name: str, key: object = None, resume: str | None = None) -> None:
        from helpers import RawClient

        from lanchat import events as ev
        from lanchat import identity

        sock = connect_from(server, source)
        binding = b""
        if server.tls:
            from lanchat.tls import channel_binding

            binding = channel_binding(server.fingerprint or "")
        self.raw = RawClient(sock, None, WAIT, key=key, binding=binding)
        self.source, self.key = source, key
        public = None if key is None else identity.b64(identity.public_bytes(key))  # type: ignore[arg-type]
        self.raw.send(ev.Hello(name=name, key=public, resume=resume))
        first = self.raw.expect(object)
        if isinstance(first, ev.Challenge):
            self.raw.send(self.raw.answer(first))
            first = self.raw.expect(object)
        self.refused = first.code if isinstance(first, ev.Error) else None
        self.welcome = first if isinstance(first, ev.Welcome) else None
        self.name = self.welcome.name if self.welcome else name

    def close(self) -> None:
        self.raw.close()


def connect_from(server: Server, source: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(WAIT)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", server.port))
    if server.tls:
        from lanchat.tls import client_handshake

        sock, _ = client_handshake(sock, f"127.0.0.1:{server.port}")
    return sock


def address(lesson: int, seat: int) -> str:
    """Seat ``seat``'s address in lesson ``lesson``: a new set of addresses each lesson."""
    return f"127.{10 + lesson // 250}.{lesson % 250}.{seat + 1}"


# ------------------------------------------------------------------ one lesson


def lesson(number: int, server: Server, students: int, teacher_key: object) -> dict:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import events as ev

    done: dict[str, int] = defaultdict(int)
    teacher = Person(server, "127.9.0.1", "teach", teacher_key)
    people = []
    for seat in range(students):
        key = Ed25519PrivateKey.generate() if seat % 2 == 0 else None
        person = Person(server, address(number, seat), f"s{number}x{seat}", key)
        if person.welcome is not None:
            people.append(person)
        done["joined" if person.welcome else f"refused {person.refused}"] += 1
    _talk(number, people, done)
    _files(people, done)
    _history_pages(people[1] if len(people) > 1 else teacher, done)
    people = _moderate(number, server, teacher, people, done)
    people = _reconnects(server, people, done)
    _junk(number, server, students, done)
    for index, person in enumerate([*people, teacher]):
        if index % 2 == 0:
            with contextlib.suppress(OSError):
                person.raw.send(ev.Bye())
        person.close()
    done["alone_after_s"] = _until_alone(server)  # type: ignore[assignment]
    return dict(done)


def _talk(number: int, people: list[Person], done: dict[str, int]) -> None:
    from lanchat import events as ev

    for index, person in enumerate(people):
        person.raw.send(ev.Say(text=f"good morning from seat {index} in lesson {number}"))
        if index % 5 == 1:
            person.raw.send(ev.Nick(name=f"n{number}x{index}"))
            renamed = person.raw.expect(ev.Renamed, old=person.name)
            person.name = renamed.new  # type: ignore[attr-defined]
            done["nick"] += 1
    for index, person in enumerate(people):
        person.raw.send(ev.Whisper(to=people[(index + 1) % len(people)].name, text=f"psst {index}"))
        done["whisper"] += 1
    for person in people:
        person.raw.drain(0.01)


def _files(people: list[Person], done: dict[str, int]) -> None:
    from lanchat import events as ev

    if len(people) < 4:
        return
    data = os.urandom(3000)
    file_id = _upload(people[0], data, "notes.txt")
    for getter in people[2:4]:
        getter.raw.send(ev.GetFile(id=file_id))
        start = getter.raw.expect(ev.FileStart, id=file_id)
        got = 0
        while got < start.size:  # type: ignore[attr-defined]
            piece = getter.raw.expect(ev.FileData, id=file_id)
            got += len(base64.b64decode(piece.data))  # type: ignore[attr-defined]
        done["got"] += 1
    _upload(people[1], b"just for you", "secret.txt", to=people[2].name)
    cut = people[3]
    cut.raw.send(ev.OfferFile(ref=9, name="big.bin", size=200_000))
    ready = cut.raw.expect(ev.UploadReady)
    cut.raw.send(ev.UploadChunk(id=ready.id, data=base64.b64encode(os.urandom(16_000)).decode()))  # type: ignore[attr-defined]
    done["uploads cut"] += 1


def _upload(person: Person, data: bytes, name: str, to: str | None = None) -> str:
    from lanchat import events as ev

    person.raw.send(ev.OfferFile(ref=1, name=name, size=len(data), to=to))
    ready = person.raw.expect(ev.UploadReady)
    file_id = ready.id  # type: ignore[attr-defined]
    person.raw.send(ev.UploadChunk(id=file_id, data=base64.b64encode(data).decode()))
    person.raw.send(ev.UploadDone(id=file_id, sha256=hashlib.sha256(data).hexdigest()))
    person.raw.expect(ev.Offered, id=file_id)
    return file_id


def _history_pages(person: Person, done: dict[str, int]) -> None:
    from lanchat import events as ev

    before = None
    for _page in range(4):
        person.raw.send(ev.HistoryRequest(limit=50, before=before))
        end = person.raw.expect(ev.HistoryEnd)
        done["history pages"] += 1
        if not end.more or end.before is None:  # type: ignore[attr-defined]
            return
        before = end.before  # type: ignore[attr-defined]


def _moderate(number: int, server: Server, teacher: Person, people: list[Person], done: dict[str, int]) -> list[Person]:
    from lanchat import events as ev

    if len(people) < 9:
        return people
    muted, kicked, banned = people[6], people[7], people[8]
    teacher.raw.send(ev.Moderate(action="mute", name=muted.name, minutes=1))
    teacher.raw.expect(ev.Moderated, action="mute")
    muted.raw.send(ev.Say(text="may I speak?"))
    teacher.raw.send(ev.Moderate(action="kick", name=kicked.name, reason="day bench"))
    teacher.raw.expect(ev.Moderated, action="kick")
    teacher.raw.send(ev.Moderate(action="ban", name=banned.name, reason="day bench"))
    teacher.raw.expect(ev.Moderated, action="ban")
    again = Person(server, banned.source, banned.name, banned.key)
    done[f"banned again: {again.refused}"] += 1
    again.close()
    teacher.raw.send(ev.Moderate(action="unban", name=banned.name))
    teacher.raw.expect(ev.Moderated, action="unban")
    teacher.raw.send(ev.Moderate(action="unmute", name=muted.name))
    done["moderated"] += 4
    for person in (kicked, banned):
        person.close()
    return [p for p in people if p not in (kicked, banned)]


def _reconnects(server: Server, people: list[Person], done: dict[str, int]) -> list[Person]:
    kept = []
    for index, person in enumerate(people):
        if index % 6 != 3 or person.welcome is None or person.welcome.resume is None:
            kept.append(person)
            continue
        person.close()  # the link drops without a word (a laptop lid)
        back = Person(server, person.source, person.name, person.key, resume=person.welcome.resume)
        done["rejoined" if back.welcome else f"rejoin refused {back.refused}"] += 1
        kept.append(back) if back.welcome else back.close()
    return kept


def _junk(number: int, server: Server, students: int, done: dict[str, int]) -> None:
    from lanchat import events as ev
    from lanchat.protocol import encode

    hello = encode(ev.Hello(name=f"drip{number}"))
    for index in range(4):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(WAIT)
        sock.bind((address(number, students + index), 0))
        sock.connect(("127.0.0.1", server.port))
        with contextlib.suppress(OSError):
            if index == 1:
                sock.sendall(b"\x16\x03\x01" if server.tls else hello[: len(hello) // 2])  # half a hello
            elif index >= 2:
                for byte in hello[:3]:  # a drip: a byte at a time, then gone
                    sock.sendall(bytes([byte]))
                    time.sleep(0.02)  # the drip's pace, not synchronisation
        sock.close()
        done["dropped handshakes"] += 1


def _until_alone(server: Server) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < WAIT:
        probe = Person(server, "127.9.0.2", "probe")
        members = probe.welcome.members if probe.welcome else ()
        probe.close()
        if not set(members) - {probe.name, "watcher"}:
            return round(time.monotonic() - start, 2)
        time.sleep(0.2)  # the server notices closed sockets on its own; we only poll
    return None


# ------------------------------------------------------------------ the same week on a hand-turned clock


class HandClock:
    def __init__(self) -> None:
        self.now = 1.7e9

    def __call__(self) -> float:
        return self.now


class QuietSocket:
    """One connection's socket as the hub writes to it (hub.Writer): bytes kept until read."""

    take = None
    broken = None

    def __init__(self, wire: dict[int, bytearray], cid: int) -> None:
        self.wire, self.cid = wire, cid
        self.reading, self.writing, self.finished = True, False, False
        self.pieces = 0  # plain
        self.gather = None

    def send(self, data: bytes) -> int:
        self.wire.setdefault(self.cid, bytearray()).extend(data)
        return len(data)

    def set_writing(self, writing: bool) -> None:
        self.writing = writing

    def finish(self) -> None:
        self.finished = True


class ClockRoom:
    """The server's parts in this process (Room, Gate, Hub with its limits, a real HistoryStore),
    one clock for all of them, turned by hand: hours pass between lessons in no time, so what
    is meant to expire by time has had its time. No socket: bytes in through ``receive_data``."""

    def __init__(self, work: Path, hours_between: float) -> None:
        from lanchat.gate import Gate
        from lanchat.history import HistoryStore
        from lanchat.hub import Hub
        from lanchat.room import Room
        from lanchat.server_files import ServerFiles

        self.clock = HandClock()
        self.hours_between = hours_between
        self.store = HistoryStore(work / "clock-history.sqlite3")
        (work / "clock-files").mkdir(exist_ok=True)
        self.files = ServerFiles(work / "clock-files", clock=self.clock)
        self.room = Room(clock=self.clock, history=True, gate=Gate(clock=self.clock), operators=["teach"])
        self.hub = Hub(self.room, files=self.files, history=self.store, clock=self.clock, limits=True)
        self.wire: dict[int, bytearray] = {}
        self.writers: dict[int, QuietSocket] = {}

    def flush(self) -> None:
        for writer in self.writers.values():
            queue = self.hub.outbox.queues.get(writer.cid)
            if queue is not None:
                self.hub.outbox.dirty.add(queue)
        self.hub.flush(self.writers)

    def advance(self, seconds: float) -> None:
        """``seconds`` pass: every deadline on the way is met as the server loop meets it."""
        target = self.clock.now + seconds
        for _step in range(100_000):
            due = self.hub.next_deadline()
            if due is None or due > target:
                break
            self.clock.now = max(self.clock.now, due)
            self.hub.expire()
            self.flush()
        self.clock.now = target
        self.hub.expire()
        self.flush()

    def close(self) -> None:
        self.hub.shutdown("the week is over")
        self.files.close()
        self.store.close()


class ClockPerson:
    """A participant from a LAN address (not this machine's), spoken for by the hub directly."""

    def __init__(self, lab: ClockRoom, address: str, name: str, key: object = None) -> None:
        from lanchat import events as ev
        from lanchat import identity
        from lanchat.protocol import Connection, Role

        self.lab, self.key, self.address = lab, key, address
        self.cid = lab.hub.open(address)
        lab.writers[self.cid] = QuietSocket(lab.wire, self.cid)
        self.proto = Connection(Role.CLIENT)
        public = None if key is None else identity.b64(identity.public_bytes(key))  # type: ignore[arg-type]
        self.says(ev.Hello(name=name, key=public))
        heard = self.hears()
        challenge = next((e for e in heard if isinstance(e, ev.Challenge)), None)
        if challenge is not None:
            nonce = identity.unb64(challenge.nonce, identity.NONCE_BYTES, "nonce")
            self.says(ev.Auth(signature=identity.b64(identity.sign_challenge(key, nonce))))  # type: ignore[arg-type]
            heard = self.hears()
        self.welcome = next((e for e in heard if isinstance(e, ev.Welcome)), None)
        self.name = self.welcome.name if self.welcome else name

    def says(self, *events: object) -> None:
        self.lab.hub.receive_data(self.cid, b"".join(self.proto.send(e) for e in events))  # type: ignore[arg-type]

    def hears(self) -> list:
        self.lab.flush()
        data = bytes(self.lab.wire.pop(self.cid, b""))
        if data:
            self.proto.receive_data(data)
        return self.proto.events()

    def gone(self) -> None:
        self.lab.hub.close(self.cid)
        self.lab.writers.pop(self.cid, None)
        self.lab.wire.pop(self.cid, None)


def clock_lesson(number: int, lab: ClockRoom, students: int, teacher_key: object) -> None:
    """One lesson as ``lesson`` runs it, from 10.X.Y.Z addresses, then ``--hours-between`` pass."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import events as ev

    teacher = ClockPerson(lab, f"10.9.0.1:{40000 + number % 20000}", "teach", teacher_key)
    where = f"10.{1 + number // 250}.{number % 250}"
    people = [ClockPerson(lab, f"{where}.{seat + 1}:41000", f"s{number}x{seat}", Ed25519PrivateKey.generate() if seat % 2 == 0 else None)
              for seat in range(students)]  # fmt: skip
    people = [p for p in people if p.welcome is not None]
    for index, person in enumerate(people):
        person.says(ev.Say(text=f"good morning from seat {index}"), ev.Typing())
        if index % 5 == 1:
            person.says(ev.Nick(name=f"n{number}x{index}"))
            person.name = next((e.new for e in person.hears() if isinstance(e, ev.Renamed) and e.old == person.name), person.name)
    for index, person in enumerate(people):
        person.says(ev.Whisper(to=people[(index + 1) % len(people)].name, text="psst"), ev.SetAway(reason="tea"), ev.SetAway(reason=""))
    people[0].says(ev.HistoryRequest(limit=50), ev.OfferFile(ref=1, name="notes.txt", size=100))
    if len(people) > 8:
        teacher.says(ev.Moderate(action="mute", name=people[6].name, minutes=1),
                     ev.Moderate(action="kick", name=people[7].name, reason="day bench"),
                     ev.Moderate(action="ban", name=people[8].name, reason="day bench"))  # fmt: skip
        ClockPerson(lab, people[8].address, people[8].name, people[8].key).gone()  # tries again, refused
        teacher.says(ev.Moderate(action="unban", name=people[8].name))
    lab.advance(60)
    for index, person in enumerate([*people, teacher]):
        if index % 2 == 0:
            person.says(ev.Bye())
        person.gone()
    ClockPerson(lab, f"{where}.{students + 1}:42000", f"drop{number}").gone()
    half = lab.hub.open(f"{where}.{students + 2}:42001")  # half a hello, then nothing: its deadline ends it
    lab.writers[half] = QuietSocket(lab.wire, half)
    lab.hub.receive_data(half, b"\x00\x00")
    lab.advance(3600 * lab.hours_between)
    lab.writers.pop(half, None)


def clock_week(args: argparse.Namespace, work: Path) -> list[dict]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    lab = ClockRoom(work, args.hours_between)
    teacher_key = Ed25519PrivateKey.generate()
    samples = []
    try:
        for number in range(args.lessons):
            clock_lesson(number, lab, args.students, teacher_key)
            samples.append({"lesson": number, "census": census()})
    finally:
        lab.close()
    return samples


# ------------------------------------------------------------------ the week, and the figures


def slope(values: list[float]) -> float:
    """Least-squares growth per lesson."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    top = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    return top / sum((x - mean_x) ** 2 for x in range(n))


def growing(samples: list[dict]) -> dict[str, dict]:
    """Each figure and census path that grows over the second half of the lessons."""
    half = samples[len(samples) // 2 :]
    series: dict[str, list[float]] = {
        **{key: [e[key] for e in half] for key in ("vmrss_kib", "fds", "threads") if all(key in e for e in half)},
        "history bytes": [sum(e.get("history", {}).values()) for e in half],
        "files kept": [e.get("files", {}).get("count", 0) for e in half],
        "files kept bytes": [e.get("files", {}).get("bytes", 0) for e in half],
        "gc objects": [(e.get("census") or {}).get("gc_objects", 0) for e in half],
    }
    for path in sorted({p for e in half for p in (e.get("census") or {}).get("sizes", {})}):
        series[path] = [(e.get("census") or {}).get("sizes", {}).get(path, 0) for e in half]
    found = {}
    for path, values in series.items():
        per_lesson = slope(values)
        steps = list(zip(values, values[1:], strict=False))
        steady = sum(after >= before for before, after in steps) >= 0.8 * len(steps)  # not a set that fills and empties
        if per_lesson > 0 and values[-1] > values[0] and steady:
            found[path] = {"per_lesson": round(per_lesson, 2), "first": values[0], "last": values[-1]}
    return dict(sorted(found.items(), key=lambda kv: -kv[1]["per_lesson"]))


def week(args: argparse.Namespace, work: Path) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from lanchat import identity

    teacher_key = Ed25519PrivateKey.generate()
    raw = teacher_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    server = Server(work, 0, args.tls, identity.fingerprint(raw))
    client = Client(work, server)
    figures: dict = {"lessons": [], "client": [], "restarts": []}
    try:
        for number in range(args.lessons):
            started = time.monotonic()
            counts = lesson(number, server, args.students, teacher_key)
            entry = {"lesson": number, "seconds": round(time.monotonic() - started, 2), "counts": counts,
                     **sample(server.popen.pid, server.census_path), "history": history_bytes(work),
                     "files": files_kept(work / "files")}  # fmt: skip
            figures["lessons"].append(entry)
            figures["client"].append({"lesson": number, "tty_bytes": client.bytes_read,
                                      **sample(client.popen.pid, client.census_path)})  # fmt: skip
            print(f"lesson {number}: {entry['seconds']} s, server RSS {entry['vmrss_kib']} KiB, {entry['fds']} fds, "
                  f"client RSS {figures['client'][-1]['vmrss_kib']} KiB", flush=True)  # fmt: skip
        for restart in range(args.restarts):
            started = time.monotonic()
            server = _restart(server, work, args.tls, teacher_key)
            back = _until_client_back(server)
            print(f"restart {restart}: the client back after {time.monotonic() - started:.1f} s" if back else
                  f"restart {restart}: the client not back within 30 s", flush=True)  # fmt: skip
            figures["restarts"].append({"restart": restart, **sample(client.popen.pid, client.census_path)})
    finally:
        client.stop()
        server.stop()
    figures["server_log_tail"] = server.log[-15:]
    return figures


def _restart(server: Server, work: Path, tls: bool, teacher_key: object) -> Server:
    from cryptography.hazmat.primitives import serialization

    from lanchat import identity

    port = server.port
    server.stop(kill=True)  # a crash or a pulled plug: no shutdown notice
    raw = teacher_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)  # type: ignore[attr-defined]
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return Server(work, port, tls, identity.fingerprint(raw))
        except SystemExit:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # the port may still be held a moment


def _until_client_back(server: Server) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any("watcher" in line and "join" in line for line in server.log):
            return True
        time.sleep(0.1)  # polling the server's log for the client's rejoin
    return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--census-hook"]:
        return census_hook(argv[1], argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, default=30)
    parser.add_argument("--students", type=int, default=16)
    parser.add_argument("--restarts", type=int, default=6)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--hours-between", type=float, default=1.0,
                        help="the in-process week's hours between lessons, on its hand-turned clock (default 1)")
    parser.add_argument("--tiny", action="store_true", help="2 lessons of 10 students, one restart")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.lessons, args.students, args.restarts = 2, 10, 1
    args.lessons, args.students = min(args.lessons, 500), min(args.students, 60)  # bounded in count
    sys.path.insert(0, str(ROOT / "tests"))
    with tempfile.TemporaryDirectory(prefix="lanchat-day-") as folder:
        figures = week(args, Path(folder))
        started = time.monotonic()
        figures["clock_lessons"] = clock_week(args, Path(folder))
        print(f"the same week in process, lessons {args.hours_between:g} h apart: {time.monotonic() - started:.1f} s", flush=True)
    figures["args"] = {k: v for k, v in vars(args).items() if k != "out"}
    figures["server_grows"] = growing(figures["lessons"])
    figures["client_grows"] = growing(figures["client"])
    figures["clock_grows"] = growing(figures["clock_lessons"])
    for entry in (*figures["lessons"], *figures["client"], *figures["restarts"], *figures["clock_lessons"]):
        if entry.get("census"):
            entry["census"] = {k: entry["census"][k] for k in ("gc_objects", "walked")} | {
                "sizes": {p: n for p, n in entry["census"]["sizes"].items() if n}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    for side in ("server_grows", "client_grows", "clock_grows"):
        print(f"\n{side.replace('_', ' ')} (per lesson, over the second half):")
        for path, grew in list(figures[side].items())[:40]:
            print(f"  {path:60} {grew['per_lesson']:>10}  {grew['first']} -> {grew['last']}")
    print(f"\nfigures: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
