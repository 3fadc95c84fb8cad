"""bench/lesson_bench.py: a whole lesson at class size, 30 students, on this machine. Measures, never asserts.

    python bench/lesson_bench.py [--students 30] [--file-mib 100] [--out DIR]

Every program is a real lanchat process on 127.0.0.1: the teacher serves with a password and TLS
in a real pseudo-terminal read by pyte (the full screen the projector shows); the students run
``lanchat connect --plain --fingerprint ...`` with LANCHAT_PASSWORD, each with a home of its own
(identity key, downloads), typing through a pipe. The lesson: all students started in the same
second; chat at class pace; /topic, /mute, /kick, /ban; one file of FILE_MIB offered by the
teacher and fetched by every student but one at once while some chat (that one, the probe, times
its chat lines with nothing to decrypt); a student's link cut mid-download
(``ss -K``, needs root; skipped otherwise) and fetched again; the teacher's /q with everyone in;
the room started again and students replayed its history.

Reported (and written to OUT/lesson.json, every screen and student output kept in OUT): the join
time for all students, the teacher's screen's delay for a line typed during the joins, lines lost
or out of order, chat round trip p50/p99/max during the download, each file's SHA-256, the
server's RSS (started, peak, end), the shutdown notice's reach, and what the replay showed.
Not a test: a lesson takes a minute or two on two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from helpers import Proc, TermProc  # noqa: E402

PASSWORD = "sockets42"
ROOM = "Networks 3B"
LANCHAT = [sys.executable, "-m", "lanchat"]


class Student(Proc):
    """A ``connect --plain`` student; each output line kept with the moment it was read."""

    def __init__(self, name: str, home: Path, port: int, fingerprint: str) -> None:
        self.name, self.home = name, home
        self.stamps: list[float] = []
        (home / "dl").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_STATE_HOME": str(home / "state"),
               "XDG_CONFIG_HOME": str(home / "config"), "LANCHAT_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT),
               "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8", "TZ": "UTC"}
        self.started = time.monotonic()
        super().__init__("connect", "127.0.0.1", str(port), "--fingerprint", fingerprint, "--plain", "--name", name,
                         "--downloads", str(home / "dl"), env=env, program=LANCHAT)

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            with self._new:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.stamps.append(time.monotonic())
                self._new.notify_all()
        with self._new:
            self._new.notify_all()

    def first(self, pattern: str, start: int = 0) -> float | None:
        """When the first line matching ``pattern`` (from line ``start``) was read, or None."""
        regex = re.compile(pattern)
        with self._new:
            for line, at in zip(self.lines[start:], self.stamps[start:], strict=False):
                if regex.search(line):
                    return at
        return None

    def says(self, text: str) -> None:
        with contextlib.suppress(OSError):
            self.send(text)


class Rss:
    """The server's VmRSS, sampled every 100 ms in a thread: started, peak, last."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples = pid, []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            found = re.search(r"VmRSS:\s+(\d+) kB", status)
            if found:
                self.samples.append((time.monotonic(), int(found.group(1)) / 1024))
            time.sleep(0.1)  # a sampling period, not a synchronisation

    def stop(self) -> dict:
        self.running = False
        self.thread.join(2)
        values = [mib for _, mib in self.samples]
        return {"start_mib": round(values[0], 1), "peak_mib": round(max(values), 1), "end_mib": round(values[-1], 1)} if values else {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout: float, step: float = 0.05) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)  # polling a condition with a deadline
    return bool(condition())


class Lesson:
    def __init__(self, out: Path, students: int, file_mib: int, chatters: int = 6, cut: bool = True, get_again: bool = True) -> None:
        self.out, self.count, self.file_mib = out, students, file_mib
        self.chatters, self.cut_link, self.get_again = chatters, cut, get_again
        self.homes = Path(tempfile.mkdtemp(prefix="lanchat-lesson-"))
        self.port = free_port()
        self.teacher: TermProc | None = None
        self.fingerprint = ""
        self.students: dict[str, Student] = {}
        self.figures: dict = {}
        self.problems: list[str] = []
        self.snaps = 0

    # ------------------------------------------------------------------ people
    def serve(self) -> None:
        home = self.homes / "teacher"
        home.mkdir(exist_ok=True)
        env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_STATE_HOME": str(home / "state"),
               "XDG_CONFIG_HOME": str(home / "config"), "TZ": "UTC"}
        args = ("serve", "--room", ROOM, "--password", "--tls", "--name", "teacher", "--host", "127.0.0.1",
                "--port", str(self.port), "--max-file-mb", str(self.file_mib + 10), "--downloads", str(home))
        self.teacher = TermProc(*args, rows=40, cols=120, env=env, cwd=home, argv=[*LANCHAT, *args])
        for prompt in ("Room password", "Again"):
            self.teacher.expect(prompt, 30)
            self.teacher.send(PASSWORD + "\r")
        self.teacher.expect(r"fingerprint is", 30)
        found = re.search(r"SHA256:\S+", self.teacher.text)
        self.fingerprint = found.group(0) if found else ""
        self.teacher.expect(r"teacher", 10)

    def student(self, name: str) -> Student:
        self.students[name] = Student(name, self.homes / name, self.port, self.fingerprint)
        return self.students[name]

    def snap(self, step: str) -> None:
        self.snaps += 1
        assert self.teacher is not None
        text = ["== teacher ==", *(f"|{row}|" for row in self.teacher.lines)]
        for name, st in self.students.items():
            text += [f"== {name} ({'running' if st.popen.poll() is None else 'ended'}) ==", *st.lines[-15:]]
        (self.out / f"{self.snaps:02d}-{step}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
        screen = self.teacher.text
        if "Traceback" in screen or "internal error" in screen:
            self.problems.append(f"{step}: a traceback or an internal error on the teacher's screen")
        for name, st in self.students.items():
            if any("Traceback" in line for line in st.lines):
                self.problems.append(f"{step}: a traceback in {name}'s output")

    def teacher_types(self, keys: str, shows: str, timeout: float = 10) -> float | None:
        """The teacher types ``keys``; seconds until the screen shows ``shows`` (None: never)."""
        assert self.teacher is not None
        started = time.monotonic()
        self.teacher.send(keys)
        try:
            self.teacher.expect(shows, timeout)
        except AssertionError:
            self.problems.append(f"the teacher's screen never showed {shows!r} after {keys!r}")
            return None
        return time.monotonic() - started

    def present(self) -> list[Student]:
        return [st for st in self.students.values() if st.popen.poll() is None]

    # ------------------------------------------------------------------ the lesson
    def joins(self) -> None:
        names = [f"s{n:02d}" for n in range(1, self.count + 1)]
        started = time.monotonic()
        for name in names:
            self.student(name)
        launched = time.monotonic() - started
        typed_at = started + 0.8  # the teacher greets while the class is still arriving
        while time.monotonic() < typed_at:
            time.sleep(0.05)  # the moment the teacher types, not a synchronisation
        delay = self.teacher_types("Good morning, settle in\r", r"teacher: Good morning, settle in", 30)
        wait_until(lambda: all(st.first(r"welcome, ") for st in self.students.values()), 60)
        joined = [st.first(r"welcome, ") for st in self.students.values()]
        got = [at - started for at in joined if at is not None]
        self.figures["join"] = {
            "students": self.count, "launched_s": round(launched, 2), "joined": len(got),
            "first_s": round(min(got), 2) if got else None, "median_s": round(statistics.median(got), 2) if got else None,
            "all_s": round(max(got), 2) if len(got) == self.count else None,
            "teacher_line_on_screen_s": round(delay, 2) if delay is not None else None,
        }
        if len(got) < self.count:
            missing = [st.name for st, at in zip(self.students.values(), joined, strict=True) if at is None]
            self.problems.append(f"never welcomed: {missing}")
            for name in missing[:3]:
                self.problems.append(f"{name}: {self.students[name].lines[-5:]}")
        assert self.teacher is not None
        count_seen = wait_until(lambda: re.search(rf"\b{self.count + 1}\b", self.teacher.lines[-1] + self.teacher.lines[-2]), 10)
        self.figures["join"]["teacher_count_right"] = bool(count_seen)
        self.snap("joined")

    def class_chat(self, seconds: float = 12.0) -> None:
        """Each student says a line every 2-4 s, staggered; then every line must reach everyone, in one order."""
        present = self.present()
        marks = {st.name: st.mark() for st in present}
        sent: list[str] = []
        started = time.monotonic()
        beat, n = 3.0 / len(present), 0
        while time.monotonic() - started < seconds:
            st = present[n % len(present)]
            line = f"q{n} from {st.name}"
            st.says(line)
            sent.append(f"{st.name}: {line}")
            n += 1
            time.sleep(beat)  # the class's pace
        pattern = re.compile(r"(s\d\d): (q\d+ from s\d\d)$")

        def lines_of(st: Student) -> list[str]:
            return [f"{m.group(1)}: {m.group(2)}" for line in st.lines[marks[st.name]:] if (m := pattern.search(line))]

        wait_until(lambda: all(len(lines_of(st)) >= len(sent) for st in present), 30)
        orders = {st.name: lines_of(st) for st in present}
        reference = orders[present[0].name]
        lost = {name: len(set(sent) - set(got)) for name, got in orders.items() if set(sent) - set(got)}
        out_of_order = [name for name, got in orders.items() if got != reference]
        own_order_broken = [name for name, got in orders.items()
                            if [x for x in got if x.startswith(name)] != [x for x in sent if x.startswith(name)]]
        self.figures["chat"] = {"lines": len(sent), "seconds": seconds, "students": len(present),
                                "lost": lost, "order_differs": out_of_order, "own_order_broken": own_order_broken}
        assert self.teacher is not None
        last = sent[-1].split(": ", 1)
        self.figures["chat"]["teacher_shows_last"] = bool(wait_until(lambda: f"{last[0]}: {last[1]}" in self.teacher.text, 10))
        self.snap("class-chat")

    def moderation(self) -> None:
        names = list(self.students)
        noisy, rude, banned = names[-1], names[-2], names[-3]
        fig: dict = {}
        fig["topic_s"] = self.teacher_types("/topic Sockets 2: framing\r", r"topic", 10)
        wait_until(lambda: all(st.first(r"Sockets 2: framing") for st in self.present()), 15)
        fig["topic_reached"] = sum(1 for st in self.present() if st.first(r"Sockets 2: framing"))
        self.teacher_types(f"/mute {noisy} 5 too chatty\r", rf"muted {noisy}\b", 10)
        mark = self.students[noisy].mark()
        self.students[noisy].says("but I was asking")
        time.sleep(1.0)  # what the muted student then sees
        fig["muted_told"] = self.students[noisy].lines[mark:]
        fig["muted_line_reached_others"] = any(st.first(r": but I was asking") for st in self.present() if st.name != noisy)
        self.teacher_types(f"/kick {rude} come back when ready\r", rf"removed {rude}\b", 10)
        fig["kicked_exit"] = wait_until(lambda: self.students[rude].popen.poll() is not None, 10)
        fig["kicked_told"] = self.students[rude].lines[-3:]
        self.teacher_types(f"/ban {banned} phone games\r", rf"banned {banned}\b", 10)
        wait_until(lambda: self.students[banned].popen.poll() is not None, 10)
        fig["banned_told"] = self.students[banned].lines[-3:]
        again = Student(banned, self.homes / banned, self.port, self.fingerprint)
        again.wait(30)
        fig["banned_rejoin"] = again.lines[-3:]
        self.students[rude].stop()
        self.student(rude)  # the kicked one comes back
        fig["kicked_back"] = bool(wait_until(lambda: self.students[rude].first(r"welcome, "), 30))
        self.figures["moderation"] = fig
        self.snap("moderation")

    def cut(self, st: Student) -> bool:
        """``st``'s Wi-Fi drops: its TCP connection destroyed under it (ss -K, root only)."""
        table = subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True, check=False).stdout
        ports = [row.split()[2].rsplit(":", 1)[1] for row in table.splitlines() if f"pid={st.popen.pid}," in row]
        for port in ports:
            subprocess.run(["ss", "-K", "src", "127.0.0.1", "sport", "=", f":{port}"], capture_output=True, check=False)
        return bool(ports)

    def share(self) -> None:
        path = self.homes / "teacher" / "dataset.bin"
        with open(path, "wb") as out:
            for _ in range(self.file_mib):
                out.write(os.urandom(1024 * 1024))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        fig: dict = {"mib": self.file_mib}
        present = self.present()
        marks = {st.name: st.mark() for st in present}
        started = time.monotonic()
        fig["offer_on_teacher_s"] = self.teacher_types("/send dataset.bin\r", r"offer|offered", 60)
        wait_until(lambda: all(st.first(r"dataset\.bin", marks[st.name]) for st in present), 60)
        offer = next((line for line in present[0].lines[marks[present[0].name]:] if "dataset.bin" in line), "")
        found = re.search(r"/get (\S+)", offer) or re.search(r"#(\d+)", offer)
        file_id = found.group(1) if found else "1"
        fig["offer_line"], fig["offer_to_students_s"] = offer, round(time.monotonic() - started, 2)
        rss = Rss(self.teacher.proc.pid) if self.teacher else None
        gets = time.monotonic()
        probe = present[0]  # one who came without a laptop charger: chats, downloads nothing
        getters = present[1:]
        for st in getters:
            st.says(f"/get {file_id}")
        dropper = present[-1]
        chatters = [probe, *present[1 : min(self.chatters, len(present) - 1)]]
        latencies: list[float] = []
        probe_latencies: list[float] = []
        n, cut_done, got_again, next_chat = 0, False, False, gets
        deadline = gets + 240
        while time.monotonic() < deadline:
            if all(st.first(r"saved .*dataset", marks[st.name]) or st.popen.poll() is not None for st in getters):
                break
            if time.monotonic() >= next_chat:
                next_chat = time.monotonic() + 1.0  # the class's pace: each chatter a line a second
                for st in chatters:
                    line = f"during the download {n} by {st.name}"
                    sent_at, mark = time.monotonic(), st.mark()
                    st.says(line)
                    n += 1
                    if wait_until(lambda st=st, line=line, mark=mark: st.first(re.escape(line) + "$", mark), 10, 0.002):
                        at = st.first(re.escape(line) + "$", mark)
                        assert at is not None
                        (probe_latencies if st is probe else latencies).append(at - sent_at)
            if self.cut_link and not cut_done and dropper.first(r"receiving dataset\.bin", marks[dropper.name]):
                cut_done = True
                fig["cut"] = self.cut(dropper)
                fig["cut_at_s"] = round(time.monotonic() - gets, 2)
            if self.get_again and cut_done and not got_again and dropper.first(r"back in the room", marks[dropper.name]):
                got_again = True  # the student types /get again once back
                dropper.says(f"/get {file_id}")
                fig["got_again_at_s"] = round(time.monotonic() - gets, 2)
            time.sleep(0.05)  # polling the downloads' progress
        fig["all_saved_s"] = round(time.monotonic() - gets, 2)
        if rss:
            fig["rss"] = rss.stop()
        if cut_done:
            fig["dropper_after_cut"] = [line for line in dropper.lines[marks[dropper.name]:] if "dataset" in line or "back" in line
                                        or "lost" in line or "room" in line][-8:]
        saved = {}
        for st in getters:
            files = sorted((st.home / "dl").glob("dataset*"), key=lambda f: f.stat().st_mtime)[-1:]  # this share's
            saved[st.name] = [hashlib.sha256(f.read_bytes()).hexdigest() == digest for f in files]
        fig["students"] = len(getters)
        fig["complete_and_right"] = sum(1 for v in saved.values() if v and all(v))
        fig["missing_or_wrong"] = {name: v for name, v in saved.items() if not v or not all(v)}
        for key, values in (("chat_rtt_ms", latencies), ("probe_chat_rtt_ms", probe_latencies)):
            if values:
                lat = sorted(values)
                fig[key] = {"n": len(lat), "p50": round(1000 * statistics.median(lat), 1),
                            "p99": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1), "max": round(1000 * lat[-1], 1)}
        self.figures.setdefault("shares", []).append(fig)
        self.snap("share")

    def the_end(self) -> None:
        assert self.teacher is not None
        present = self.present()
        marks = {st.name: st.mark() for st in present}
        self.teacher_types("Homework: a framing function. Bye!\r", r"teacher: Homework", 10)
        started = time.monotonic()
        self.teacher.send("/q\r")
        time.sleep(1.0)  # the teacher reads the question
        if self.teacher.proc.isalive():
            self.teacher.send("/q\r")
        ended = wait_until(lambda: not self.teacher.proc.isalive(), 30)  # type: ignore[union-attr]
        wait_until(lambda: all(st.popen.poll() is not None for st in present), 30)
        got_bye = [st.name for st in present if st.first(r"Homework: a framing function", marks[st.name])]
        notices = [st.first(r"shut|closed|ended|over", marks[st.name]) for st in present]
        self.figures["end"] = {
            "teacher_exited": ended, "students": len(present), "saw_last_line": len(got_bye),
            "got_notice": sum(1 for at in notices if at), "notice_text": next(
                (line for line in present[0].lines[marks[present[0].name]:] if re.search(r"shut|closed|ended|over", line)), ""),
            "last_student_out_s": round(max((at for at in notices if at), default=started) - started, 2),
            "still_running": [st.name for st in present if st.popen.poll() is None],
        }
        self.snap("the-end")

    def restart(self) -> None:
        self.teacher = None
        self.serve()
        back = [f"s{n:02d}" for n in (1, 2)] + [list(self.students)[-1]]
        for name in back:
            self.students[name].stop()
            self.student(name)
        wait_until(lambda: all(self.students[n].first(r"welcome, ") for n in back), 60)
        time.sleep(1.0)  # the replay arrives after the welcome
        fig = {}
        for name in back:
            st = self.students[name]
            replay = [line for line in st.lines if "Homework" in line or "during the download" in line or "q" in line]
            fig[name] = {"lines": len(st.lines), "has_bye": any("Homework" in line for line in st.lines), "tail": replay[-3:]}
        self.figures["restart"] = fig
        self.snap("restart")

    def close(self) -> None:
        (self.out / "students").mkdir(exist_ok=True)
        for name, st in self.students.items():
            st.stop()
            (self.out / "students" / f"{name}.txt").write_text(st.output + "\n", encoding="utf-8")
        if self.teacher is not None:
            self.teacher.stop()
        shutil.rmtree(self.homes, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--file-mib", type=int, default=100)
    parser.add_argument("--out", default="lesson-run")
    parser.add_argument("--shares", type=int, default=1, help="files offered one after another (memory growth)")
    parser.add_argument("--chatters", type=int, default=6, help="students who chat during the download")
    parser.add_argument("--no-cut", action="store_true", help="no student's link is cut mid-download")
    parser.add_argument("--no-get-again", action="store_true", help="the cut student does not /get again once back")
    parser.add_argument("--steps", default="joins,chat,moderation,share,end,restart")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lesson = Lesson(out, args.students, args.file_mib, args.chatters, not args.no_cut, not args.no_get_again)
    steps = args.steps.split(",")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout's TERM still ends every student we started
    try:
        lesson.serve()
        lesson.joins()
        for step, run in (("chat", lesson.class_chat), ("moderation", lesson.moderation),
                          *[("share", lesson.share)] * args.shares,
                          ("end", lesson.the_end), ("restart", lesson.restart)):
            if step in steps:
                print(f"-- {step}", file=sys.stderr)
                run()
    except Exception as exc:  # a report, whatever stopped the lesson
        lesson.problems.append(f"the lesson stopped: {exc!r}"[:2000])
        with contextlib.suppress(Exception):
            lesson.snap("stopped")
    finally:
        lesson.close()
    lesson.figures["problems"] = lesson.problems
    (out / "lesson.json").write_text(json.dumps(lesson.figures, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(lesson.figures, indent=1))
    return 1 if lesson.problems else 0


if __name__ == "__main__":
    sys.exit(main())
