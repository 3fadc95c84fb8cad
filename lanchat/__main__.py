"""__main__.py: where the command line comes in, and which cli/ module runs each command.

`python -m lanchat` and the `lanchat` command start at main() here: it parses the command line
(cli/args.py) and hands the command to the module that runs it, imported only then, so
``--help`` stays fast (the heavy modules are imported inside the functions that need them):

    serve                       cli/serve.py    the room: its wiring and the host's banner
    connect                     cli/connect.py  where the room is, its fingerprint, then the chat
                                cli/chat.py     both roles' chat loop (the host's and a student's)
                                cli/rejoin.py   the join that retries, the rejoin after a drop
    rooms, doctor, names,       cli/rooms.py    rooms on the network, what is in the way, the names
    key, forget                                 a room keeps, this person's identity key
    history, history prune,     cli/history_file.py
    history compact                             a room's saved history, with the server stopped
    (every command)             cli/args.py     the parser, every option and its type function
                                cli/terminal.py a line said outside the chat, a name or password asked
                                cli/start.py    what main() makes sure of before any command
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

if not __package__:  # `python lanchat serve` or `python lanchat/__main__.py`: run as a file, not the package
    import shlex

    sys.exit(f"lanchat: run it as a module, from the folder that holds the lanchat folder: "
             f"`{shlex.join(['python', '-m', 'lanchat', *sys.argv[1:]])}`")

# Only after the check above: run as a file, these relative imports would fail with a traceback.
from .cli.args import build_compact_parser, build_parser, build_prune_parser, one_history_file  # noqa: E402
from .cli.start import (  # noqa: E402
    DEPENDENCIES,
    UNIX_MODULES,
    missing_unix_module,
    not_on_unix,
    open_closed_streams,
    replace_what_the_terminal_cannot_show,
)
from .cli.terminal import OutputLost, fail, hold_signals_for_good  # noqa: E402

# Each command: the module under cli/ that runs it, and its function there.
COMMANDS = {
    "serve": ("serve", "cmd_serve"),
    "connect": ("connect", "cmd_connect"),
    "history": ("history_file", "cmd_history"),
    "history prune": ("history_file", "cmd_history_prune"),
    "history compact": ("history_file", "cmd_history_compact"),
    "rooms": ("rooms", "cmd_rooms"),
    "doctor": ("rooms", "cmd_doctor"),
    "names": ("rooms", "cmd_names"),
    "key": ("rooms", "cmd_key"),
    "forget": ("rooms", "cmd_forget"),
}


def main(argv: list[str] | None = None) -> int:
    open_closed_streams()
    replace_what_the_terminal_cannot_show()
    missing = missing_unix_module()
    if missing is not None:
        return fail(not_on_unix(missing))
    try:
        return _main(argv)
    except ModuleNotFoundError as exc:  # most often a second terminal where the venv is not active
        if exc.name in UNIX_MODULES:  # a Unix module the check above does not ask for
            return fail(not_on_unix(exc.name))
        if (exc.name or "").partition(".")[0] not in DEPENDENCIES:
            raise
        return fail(
            f"{exc.name} is not installed for this Python ({sys.executable}): activate the virtual environment "
            "lanchat was installed in (`. .venv/bin/activate` in the lanchat folder), or install it there with "
            "`pip install -r requirements.txt`"
        )


def parse_command_line(argv: list[str] | None) -> argparse.Namespace | None:
    """The command line, parsed and checked (a bad one exits 2, as argparse does); None when it
    names no command (the help was printed)."""
    words = sys.argv[1:] if argv is None else argv
    if words[:2] in (["history", "prune"], ["history", "compact"]):  # before `history PATH` takes the word as a file's name
        parser = (build_prune_parser if words[1] == "prune" else build_compact_parser)()
        args = parser.parse_args(words[2:])
        args.command = f"history {words[1]}"
    else:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return None
        parser = parser.commands.get(args.command, parser)
    if args.command.startswith("history") or args.command == "names":
        one_history_file(args, parser)
    return args


def _main(argv: list[str] | None) -> int:
    try:
        args = parse_command_line(argv)
    except OutputLost as exc:  # --help or --version to a full disk, /dev/full
        return _output_lost(exc)
    if args is None:
        return 2
    import signal

    # Ctrl-C always means "quit politely", even when we were started with SIGINT ignored (a
    # background job of a non-interactive shell, some CI runners): Python only installs its
    # KeyboardInterrupt handler when the parent left SIGINT alone.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.command in ("connect", "serve") and hasattr(signal, "SIGQUIT"):
        # and Ctrl-\ (SIGQUIT) at a prompt before the chat (a name, a fingerprint to trust, a
        # room to pick; serve's name) likewise, where it ended the process with "Quit (core
        # dumped)"; in the chat it is a stop signal like Ctrl-C (stopsignals.py), and a
        # --headless room shuts down on it as on Ctrl-C (cli/serve.py, _run_headless)
        signal.signal(signal.SIGQUIT, signal.default_int_handler)
    try:
        return command_for(args.command)(args)
    except KeyboardInterrupt:
        return 130
    except OutputLost as exc:
        return _output_lost(exc)
    finally:  # the process is ending: a signal now would only cut Python's shutdown (a traceback)
        hold_signals_for_good()


def _output_lost(exc: OutputLost) -> int:
    """Standard output could not be written (cli/terminal.py): one line on stderr, exit 1."""
    return fail(f"cannot write the output ({exc}); what was written stops short")


def command_for(command: str) -> Callable[[argparse.Namespace], int]:
    """The function that runs ``command`` (a key of COMMANDS), its module imported now: a command
    loads only what it needs, and --help none of them."""
    import importlib

    module, function = COMMANDS[command]
    return getattr(importlib.import_module(f".cli.{module}", __package__), function)


if __name__ == "__main__":
    sys.exit(main())
