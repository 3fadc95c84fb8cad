"""tools/class_run.py: play a whole lesson with real lanchat processes and keep every screen.

What the teacher's checklist (notebooks/TEACHERS_GUIDE.md, "Running a lesson in the room") walks
through, as its users would do it, each program in a real pseudo-terminal read by pyte: a teacher
serving "Networks 3B" with a password and TLS on a 64-column projector; ann joining by the address
the teacher's screen shows (80x24), bob by discovery (`lanchat connect` with no address), carl
with --plain, dan trusting the fingerprint on first use on a 64-column screen (and eve, late, after
the restart); the topic, /me,
direct messages, a flood past the room's pace, a file offered and fetched by three, /mute /op /kick /ban, ann's link cut and
back, the teacher's laptop killed and the room started again, the end of the lesson and
`lanchat history --since 45m --projector`.

Everything runs in a network namespace of its own (re-executed under `unshare -n`, so it needs
root): loopback and a veth pair between two addresses of that namespace, so discovery's multicast
stays inside it. Each step's screens are written to OUT/NN-step.txt; the last lines say what
looked wrong (a traceback, a replay split around the welcome, a topic said twice). Not a test:
a lesson takes about 40 s. Usage: sudo python tools/class_run.py [OUT]
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from _lab import LANCHAT, Screens  # noqa: E402

PASSWORD = "sockets42"
ADDRESS = "198.18.0.1"


def in_own_network() -> None:
    """Re-run this script in a fresh network namespace with loopback and a veth pair up."""
    if os.environ.get("LANCHAT_CLASS_RUN_NETNS") == "1":
        return
    setup = (
        "ip link set lo up && ip link add lan0 type veth peer name lan1 && "
        f"ip addr add {ADDRESS}/24 dev lan0 && ip link set lan0 up && ip link set lan1 up && "
        "ip route add default via 198.18.0.2 dev lan0 && ip route add 224.0.0.0/4 dev lan0 && "
        'exec "$0" "$@"'
    )
    env = {**os.environ, "LANCHAT_CLASS_RUN_NETNS": "1"}
    os.execvpe("unshare", ["unshare", "-n", "sh", "-c", setup, sys.executable, *sys.argv], env)


class Lesson(Screens):
    """The people in the room, each a TermProc with a home (data folder, downloads) of its own."""

    def __init__(self, out: Path) -> None:
        super().__init__(out, "lanchat-class-")

    def start(self, who: str, *args: str, rows: int = 24, cols: int = 80, home_of: str = ""):  # noqa: ANN201 - a TermProc
        """``who`` runs ``lanchat ARGS`` in a terminal of ``rows`` x ``cols``, at home (or at ``home_of``'s)."""
        return self.terminal(who, self.home(home_of or who), args, LANCHAT, rows, cols)

    def check(self, name: str, who: str, rows: list[str], screen: str) -> None:
        """A replay cut in two around the welcome, or the same topic line twice."""
        history = [i for i, row in enumerate(rows) if "[History]" in row and "missed" not in screen]
        welcome = [i for i, row in enumerate(rows) if "-!- welcome," in row]
        if history and welcome and min(history) < welcome[0] < max(history):
            self.problems.append(f"step {name}: {who}'s replay is cut in two around the welcome")
        topics = re.findall(r"-!- (topic: .*)", screen)
        if len(topics) != len(set(topics)):
            self.problems.append(f"step {name}: {who} shows the same topic line more than once")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return probe.getsockname()[1]


def cut_link(lesson: Lesson, who: str) -> None:
    """``who``'s Wi-Fi goes for a moment: its connection is destroyed under it (ss -K)."""
    pid = lesson.people[who].proc.pid
    table = subprocess.run(["ss", "-tnpH"], capture_output=True, text=True, check=False).stdout
    for row in table.splitlines():
        if f"pid={pid}," in row:
            port = row.split()[3].rsplit(":", 1)[1]
            subprocess.run(["ss", "-K", "sport", "=", f":{port}"], capture_output=True, check=False)


def serve(lesson: Lesson, port: int) -> str:
    """The teacher's command, as the guide gives it (with TLS, as README's Safety section does)."""
    lesson.start("teacher", "serve", "--room", "Networks 3B", "--password", "--tls", "--name", "teacher",
                 "--projector", "--port", str(port), cols=64)
    for prompt in ("Room password", "Again"):
        lesson.wait("teacher", prompt)
        lesson.type("teacher", PASSWORD + "\r")
    lesson.wait("teacher", r"fingerprint is")
    found = re.search(r"SHA256:\S+", lesson.people["teacher"].text)
    return found.group(0) if found else ""


def join(lesson: Lesson, who: str, *args: str, answers: tuple[str, ...] = (), cols: int = 80) -> None:
    lesson.start(who, "connect", *args, cols=cols)
    for pattern, answer in zip(answers[::2], answers[1::2], strict=True):
        lesson.wait(who, pattern)
        lesson.type(who, answer + "\r")
    lesson.wait(who, "needs a password")
    lesson.type(who, PASSWORD + "\r")
    lesson.wait(who, rf"welcome, {who}|end of history")  # (a long replay scrolls the welcome off a --plain screen)


def lesson_plan(lesson: Lesson, port: int) -> None:
    pin = serve(lesson, port)
    lesson.snap("teacher-serves")
    join(lesson, "ann", ADDRESS, str(port), "--fingerprint", pin, answers=("Your name", "ann"))
    join(lesson, "bob", "--name", "bob", answers=(r"join Networks 3B", ""))
    join(lesson, "carl", ADDRESS, str(port), "--fingerprint", pin, "--plain", "--name", "carl")
    join(lesson, "dan", ADDRESS, str(port), "--name", "dan", answers=(r"Trust it", "y"), cols=64)
    lesson.snap("four-students")
    lesson.type("teacher", "/topic Sockets 2: framing\r")
    lesson.type("teacher", "Welcome. Today: a length before each message.\r")
    lesson.type("ann", "/me waves\r")
    lesson.type("dan", "/w teacher can I leave at 10:30?\r")
    lesson.type("carl", "/w ann what is framing?\r")
    lesson.type("ann", "/r a length before each message\r", 1)
    lesson.snap("topic-me-directs")
    lesson.type("dan", "\x1b[200~" + "\n".join(f"pasted line {n}" for n in range(1, 16)) + "\x1b[201~\r", 0.2)
    for n in range(40):  # past the room's flood limit: the rest wait at its pace, on the status line
        lesson.type("dan", f"fast {n}\r", 0.02)
    lesson.wait("teacher", r"dan: fast 39\b", timeout=30)
    lesson.snap("flood")
    (lesson.homes / "teacher" / "slides week 2.pdf").write_bytes(os.urandom(300_000))
    lesson.type("teacher", '/send "slides week 2.pdf"\r', 1)
    for who in ("ann", "carl", "dan"):
        lesson.type(who, "/get 1\r", 0)
    for who in ("ann", "carl", "dan"):
        lesson.wait(who, r"saved .*slides week")
    lesson.snap("file")
    lesson.type("teacher", "/mute dan 5 too chatty\r")
    lesson.type("dan", "but I was asking\r")
    lesson.type("dan", "\x15/w teacher why?\r")
    lesson.type("teacher", "/op ann\r")
    lesson.type("ann", "/topic Sockets 2: framing (lab at 10:20)\r")
    lesson.type("teacher", "/kick carl come back when ready\r", 1)
    lesson.snap("moderation")
    join(lesson, "carl", ADDRESS, str(port), "--fingerprint", pin, "--plain", "--name", "carl")
    lesson.type("teacher", "/ban carl phone games\r", 1)
    lesson.snap("ban")
    cut_link(lesson, "ann")
    lesson.type("ann", "did I miss anything?\r", 0.2)
    lesson.type("teacher", "Framing: a 4-byte length first.\r")
    lesson.wait("ann", r"back in the room as ann")
    lesson.snap("ann-drops-and-rejoins")
    lesson.people["teacher"].proc.kill(signal.SIGKILL)  # the laptop restarts
    lesson.type("bob", "is the server down?\r", 1)
    lesson.snap("server-gone")
    serve(lesson, port)
    for who in ("ann", "bob", "dan"):
        lesson.wait(who, rf"back in the room as {who}", timeout=30)
    lesson.type("teacher", "/address\r", 1)
    lesson.snap("server-restarted")
    join(lesson, "eve", ADDRESS, str(port), "--fingerprint", pin, "--name", "eve")  # late, as the guide's fifth
    lesson.snap("late-student")
    lesson.type("teacher", "Homework: a framing function. Bye!\r")
    lesson.type("teacher", "/q\r")
    lesson.type("teacher", "/q\r", 1)
    lesson.the_end("ann", "bob", "dan", wait=1)
    lesson.start("history", "history", "--since", "45m", "--projector", "--port", str(port), cols=64, home_of="teacher")
    lesson.wait("history", r"Bye!")
    lesson.snap("history")


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="class-run", help="the folder for the screens (default: class-run)")
    out = Path(parser.parse_args().out)  # (--help before the namespace: it needs no root)
    in_own_network()
    out.mkdir(parents=True, exist_ok=True)
    lesson = Lesson(out)
    try:
        lesson_plan(lesson, free_port())
    finally:
        lesson.close()
    return lesson.report()


if __name__ == "__main__":
    sys.exit(main())
