"""start.py: what main() makes sure of before any command runs.

Closed standard streams reopened, a terminal that cannot show UTF-8, a Python without the
Unix modules or without lanchat's dependencies (one line, never a traceback).
"""

from __future__ import annotations

import sys

from .terminal import writes_utf8

# What `pip install -e .` brings (pyproject.toml), by the name each is imported under.
DEPENDENCIES = frozenset({"wcwidth", "platformdirs", "psutil", "cryptography", "msgspec", "zeroconf", "confusable_homoglyphs"})


# What lanchat needs that only a Unix-like system's Python has: Windows has none of them. (Not
# curses: a Unix Python built without it runs line mode, _make_frontend says so.)
UNIX_MODULES = ("fcntl", "termios", "tty", "pwd", "grp")


def not_on_unix(missing: str) -> str:
    """The one line for a Python without ``missing`` (one of UNIX_MODULES): where lanchat runs instead."""
    return (
        f"this Python has no {missing} module (Windows has none): lanchat runs on Linux and macOS, and on Windows "
        "inside WSL: run `wsl --install` in PowerShell, open Ubuntu, and follow README.md's Quick start there"
    )


def missing_unix_module() -> str | None:
    """The first of fcntl and termios this Python has no module for, asked of the import system
    (importlib.util.find_spec: its finders, as an import would ask them) without importing either:
    nothing more is loaded at start on Linux, and --help stays as fast. A finder that fails for
    another reason is not taken for a missing module (no WSL advice on Linux): the import will say."""
    import importlib.util  # already loaded by site at start; a few hundred microseconds without it (-S)

    for name in UNIX_MODULES[:2]:
        try:
            if importlib.util.find_spec(name) is None:  # no finder has it: Windows's Python
                return name
        except ModuleNotFoundError as exc:  # a finder that says it is not there
            if exc.name == name:
                return name
        except Exception:  # noqa: BLE001 - a finder broken for an unrelated reason: not this check's to judge
            continue
    return None


def open_closed_streams() -> None:
    """A standard stream started closed (`lanchat connect <&-`, `serve >&- 2>&-`): Python leaves it
    None (each `sys.stdin.isatty()` was a traceback), and the next socket would take its
    descriptor. /dev/null goes there instead: a closed input reads as `< /dev/null` does (its end
    leaves), closed output goes nowhere."""
    import os

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
            continue  # something already holds the descriptor: leave it be
        except OSError:
            pass
        opened = os.open(os.devnull, os.O_RDWR)
        if opened != fd:
            os.dup2(opened, fd)
            os.close(opened)
        setattr(sys, name, open(fd, "r" if fd == 0 else "w", encoding="utf-8", closefd=False))


def replace_what_the_terminal_cannot_show() -> None:
    """A terminal (or PYTHONIOENCODING) in Latin-1 or ASCII: a name or a message it cannot show
    becomes '?', as on the chat screen, not a UnicodeEncodeError traceback (lanchat history)."""
    for stream in (sys.stdout, sys.stderr):
        if not writes_utf8(stream) and getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
