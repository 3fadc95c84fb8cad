"""tools/_lab.py: what class_run.py and friends_run.py share: people at real terminals, every screen kept.

Each person runs lanchat in a real pseudo-terminal read by pyte (tests/helpers.py TermProc), with a
home of their own (data folder, downloads); ``snap`` writes every screen to OUT/NN-step.txt and
notes what looked wrong on any of them. Makes no network namespace and ends only the processes it
started (by PID); the scripts make their own network and put ``tests`` on sys.path first.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

LANCHAT = [sys.executable, "-m", "lanchat"]


class Screens:
    """The people of a run, each a TermProc by a key of its own, and the problems seen on their screens."""

    settle = 0.4  # seconds a person reads after typing, unless ``type`` is told otherwise
    never_showed = "{who}: never showed {pattern!r}"  # the problem ``wait`` notes ({step}: the step it is in)

    def __init__(self, out: Path, prefix: str) -> None:
        self.out, self.homes = out, Path(tempfile.mkdtemp(prefix=prefix))
        self.people: dict = {}
        self.step = 0
        self.problems: list[str] = []

    def home(self, who: str) -> Path:
        home = self.homes / who
        home.mkdir(exist_ok=True)
        return home

    def terminal(self, key: str, home: Path, args: tuple[str, ...], program: list[str], rows: int, cols: int):  # noqa: ANN201 - a TermProc
        """``program ARGS`` (lanchat, perhaps inside a namespace) in a terminal of ``rows`` x ``cols``, at ``home``."""
        from helpers import TermProc

        env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_STATE_HOME": str(home / "state"),
               "XDG_CONFIG_HOME": str(home / "config")}
        self.people[key] = TermProc(*args, rows=rows, cols=cols, env=env, cwd=home, argv=[*program, *args])
        return self.people[key]

    def type(self, who: str, keys: str, settle: float | None = None) -> None:
        self.people[who].send(keys)
        time.sleep(self.settle if settle is None else settle)  # a person reads before typing on; the screens are only recorded

    def wait(self, who: str, pattern: str, timeout: float = 15) -> bool:
        try:
            self.people[who].expect(pattern, timeout)
            return True
        except AssertionError as exc:
            self.problems.append(self.never_showed.format(who=who, pattern=pattern, step=self.step + 1))
            print(exc, file=sys.stderr)
            return False

    def snap(self, name: str) -> None:
        """Every screen now, into OUT/NN-name.txt, and the checks that need no knowledge of the step."""
        self.step += 1
        text = []
        for who, term in self.people.items():
            rows = term.lines
            text.append(f"== {who} ({'running' if term.proc.isalive() else 'ended'}) ==")
            text += [f"|{row}|" for row in rows]
            screen = "\n".join(rows)
            if "Traceback" in screen or "internal error" in screen:
                self.problems.append(f"step {name}: a traceback or an internal error on {who}'s screen")
            self.check(name, who, rows, screen)
        (self.out / f"{self.step:02d}-{name}.txt").write_text("\n".join(text) + "\n", encoding="utf-8")

    def the_end(self, *still_here: str, wait: float) -> None:
        """The room is gone: each of ``still_here`` presses a key at 'press any key', and after
        ``wait`` seconds the last screens are kept as the-end."""
        for who in still_here:
            self.type(who, "x", 0.1)
        time.sleep(wait)
        self.snap("the-end")

    def check(self, name: str, who: str, rows: list[str], screen: str) -> None:
        """A run's own checks of ``who``'s screen at step ``name``: none here."""

    def report(self) -> int:
        """Say where the screens are and what looked wrong; the exit status: 1 if anything did."""
        print(f"screens in {self.out}/")
        for problem in self.problems:
            print(f"problem: {problem}")
        return 1 if self.problems else 0

    def close(self) -> None:
        for term in self.people.values():
            term.stop()
        shutil.rmtree(self.homes, ignore_errors=True)
