"""cells.py: the small vocabulary the notebook sources are written in. Never touches a socket.

Each notebook source (``nbNN_*.py`` next to this file) builds a list of cells with
``md(...)`` and ``code(...)``; ``exercise(...)`` adds the four cells of a self-checked
exercise and records its solution so build_notebooks.py can also write it to
notebooks/solutions/. Sources are dedented, so they can be written indented in Python.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field


@dataclass
class Cell:
    kind: str  # "markdown" or "code"
    source: str
    tags: tuple[str, ...] = ()
    hidden: bool = False


@dataclass
class Exercise:
    ident: str  # e.g. "02.1"; the solution file is solutions/<notebook>_<ident>.py
    title: str
    solution: str
    wrongs: tuple[str, ...] = ()  # typical mistakes; the tests check that the self-check catches each one


@dataclass
class Notebook:
    path: str  # relative to notebooks/
    title: str
    cells: list[Cell] = field(default_factory=list)
    exercises: list[Exercise] = field(default_factory=list)

    def md(self, text: str) -> None:
        self.cells.append(Cell("markdown", _clean(text)))

    def code(self, text: str, *tags: str) -> None:
        self.cells.append(Cell("code", _clean(text), tags))

    def step(self, text: str, source: str, *tags: str) -> None:
        """One documented step: a short markdown cell, then the code that does it."""
        self.md(text)
        self.code(source, *tags)

    def exercise(
        self, ident: str, title: str, task: str, starter: str, check: str, solution: str, wrong: str | list[str] = ""
    ) -> None:
        """Four cells: the task, the starter (tag ``exercise``), the self-check (tag ``check``),
        and the solution folded away in a <details> block, so Run All never runs it for you.
        ``wrong`` is one typical mistake or a list of them: the test suite plants each one and
        checks that the self-check rejects it (within a few seconds, with a message)."""
        solution = _clean(solution)
        self.md(f"### Exercise {ident}: {title}\n\n{_clean(task)}")
        self.code(starter, "exercise", f"exercise-{ident}")
        self.code(check, "check", f"check-{ident}")
        self.md(
            "<details><summary>Show a solution (try first!)</summary>\n\n"
            f"```python\n{solution}\n```\n\n"
            f"Also in `solutions/{self.solution_file(ident)}`. Paste it into the exercise cell, "
            "run it, then run the check again.\n</details>"
        )
        wrongs = [wrong] if isinstance(wrong, str) else wrong
        self.exercises.append(Exercise(ident, title, solution, tuple(_clean(w) for w in wrongs if w)))

    def solution_file(self, ident: str) -> str:
        stem = self.path.rsplit("/", 1)[-1].removesuffix(".ipynb")
        return f"{stem}_{ident.replace('.', '_')}.py"


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")
