"""README.md as a newcomer meets it: the quick start first, in four commands, and every option of
every lanchat command named somewhere, so a teacher can find each one.

`--help` lists options one command at a time; README is where a newcomer looks one up by what it
does. `serve --files-dir` and `rooms --wait` / `doctor --wait` had been in `--help` only.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from lanchat.cli.args import build_compact_parser, build_parser, build_prune_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    commands = dict(parser.commands)  # type: ignore[attr-defined]
    commands["history prune"] = build_prune_parser()
    commands["history compact"] = build_compact_parser()
    return commands


def _long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings if o.startswith("--") and o != "--help"}


def test_every_commands_every_option_is_named_in_the_readme():
    readme = README.read_text(encoding="utf-8")
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])", readme))
    commands = _commands()
    assert {"serve", "connect", "rooms", "doctor", "names", "key", "history", "history prune"} <= set(commands)
    missing = {f"{name} {option}" for name, parser in commands.items() for option in _long_options(parser) - named}
    assert missing == set(), "in --help, never named in README.md"


def test_the_quick_start_comes_first_in_four_commands():
    """The first section is the quick start, and its first block is the whole of it: a virtual
    environment, one install command, the chat, the tests; each command one a newcomer can type."""
    readme = README.read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", readme, re.M)
    assert sections[0] == "Quick start"
    block = readme.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == [
        "python3 -m venv .venv && . .venv/bin/activate",
        "pip install -r requirements.txt",
        "python -m lanchat serve",
        "python -m pytest",
    ]


def test_the_layout_in_how_it_is_built_names_every_module():
    """README's map of lanchat/ is how a reader finds where a thing lives: members.py, log_output.py
    and ui/projector.py had been left off it."""
    readme = README.read_text(encoding="utf-8")
    layout = readme.split("## How it is built", 1)[1].split("```\nlanchat/\n", 1)[1].split("```", 1)[0]
    named = set(re.findall(r"(?<![/\w])([a-z_]+\.py)\b", layout))  # not tests/..., tools/...
    package = README.parent / "lanchat"
    modules = {p.name for folder in (package, package / "ui", package / "cli") for p in folder.glob("*.py") if p.name != "__init__.py"}
    assert modules - named == set(), "in lanchat/, missing from README's layout"
    assert named - modules == set(), "in README's layout, not in lanchat/"
