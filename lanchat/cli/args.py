"""args.py: the command-line parser, every command's options and their type functions.

A bad argument is one clear line and exit status 2. It parses and checks; it never acts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..textfold import cells, fold_line
from ..textsafe import quoted
from .terminal import PROG, print_out, say, terminal_columns

SCREEN_READER_HELP = ("line mode (--plain) for a screen reader: an incoming line never writes again what you are typing, "
                      "your own line is not said a second time (a refusal or a held line is), Ctrl-R says what you typed; "
                      "LANCHAT_SCREEN_READER=1 turns it on every time")
PROJECTOR_HELP = (
    "start in projector mode (/projector toggles it): for a screen the class sees, direct messages, "
    "replayed ones too, show who wrote and not what"
)


def help_columns() -> int:
    """The width argparse folds --help to, as shutil.get_terminal_size() gives it: COLUMNS when it
    is a positive number, else standard output's terminal's, else 80. Worked out here because
    argparse's HelpFormatter imports shutil for it (and shutil zlib, bz2 and lzma: 0.5 MiB of an
    idle server's memory, bench/idle_memory.py), and every command builds this parser."""
    import os

    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Help(argparse.HelpFormatter):
    """argparse's help formatter told its width (help_columns, less 2 as argparse takes it), so it never asks shutil."""

    def __init__(self, prog: str, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - argparse's own
        if not args[2:] and kwargs.get("width") is None:
            kwargs["width"] = help_columns() - 2
        super().__init__(prog, *args, **kwargs)


class _RawHelp(_Help, argparse.RawDescriptionHelpFormatter):
    """The same, for a description laid out by hand."""


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line and exit status 2 (no usage dump), naming what was likely
    meant: a command typed after its address, a misspelt command or option."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - argparse's own
        self.option_names: list[str] = []  # every --option, for "did you mean"
        self.commands: dict[str, _Parser] = {}  # the top parser's subcommands, once built
        kwargs.setdefault("formatter_class", _Help)  # (_RawHelp where the description is laid out by hand)
        super().__init__(*args, **kwargs)

    def add_argument(self, *names, **kwargs):  # noqa: ANN002, ANN003, ANN201 - argparse's own
        action = super().add_argument(*names, **kwargs)
        self.option_names.extend(action.option_strings)
        return action

    def error(self, message: str) -> None:  # type: ignore[override]
        say(f"{self.prog}: error: {message} (see {self.prog} --help)")
        self.exit(2)

    def _print_message(self, message: str, file=None) -> None:  # noqa: ANN001 - argparse's own
        """--help and --version on standard output through the commands' writer (terminal.py):
        argparse dropped a failed write, so `lanchat --help > /dev/full` said nothing and exited 0.
        Now OutputLost: one line on stderr, exit 1 (__main__). Its errors go by ``error`` (say)."""
        if message and file is sys.stdout:
            print_out(message, end="")
        else:
            super()._print_message(message, file)

    def format_help(self) -> str:
        """argparse folds the options to the terminal, but the descriptions and examples are
        written for 80 columns: a narrower terminal (a split pane, a phone) cut them mid-word.
        Each line too long is folded as say folds (at spaces, under its own indent)."""
        text = super().format_help()
        columns = terminal_columns(1)
        return text if columns is None else "\n".join(row for unit in _help_units(text.split("\n")) for row in _help_rows(unit, columns))

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]  # noqa: ANN001, ANN201
        """The top parser's: the command first, then each unknown word named with the command's
        own --help (argparse would blame `lanchat` and list every command)."""
        argv = list(sys.argv[1:] if args is None else args)
        if self.commands and argv and argv[0] not in (*self.commands, "-h", "--help"):
            hint = command_hint(argv, list(self.commands))
            if hint:  # else an unknown option alone: argparse's line below says it
                say(f"{PROG}: {hint}")
                self.exit(2)
        parsed, extras = self.parse_known_args(argv, namespace)
        if extras:
            where = self.commands.get(getattr(parsed, "command", None) or "", self)
            where.error(unrecognized(extras, where.option_names))
        return parsed


_HELP_EXAMPLE = r" {1,8}(\S.*?\S) {2,}(\S.*)"  # "  lanchat rooms --json   for scripts": a command, a gap, what it does


def _help_units(lines: list[str]) -> list[list[str]]:
    """The lines of --help as the units written with hand-placed breaks for 80 columns, which fold
    as one on a narrower terminal (folded line by line, each break stayed: ragged rows of one
    word): prose at the left edge up to a sentence's end (or a heading's colon), and an example
    with the lines that go on with what it does (indented to where that starts)."""
    import re

    units: list[list[str]] = []
    under = -1  # the column where the last example's "what it does" starts (-1: none)
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        last = units[-1][-1] if units else ""
        prose = indent == 0 and line.strip() and not line.startswith("usage:")
        if prose and last.strip() and not last[:1].isspace() and not last.startswith("usage:") and last.rstrip()[-1] not in ".:":
            units[-1].append(line)
        elif under > 0 and indent == under and line.strip():
            units[-1].append(line)
        else:
            units.append([line])
            two = re.fullmatch(_HELP_EXAMPLE, line)
            under = two.start(2) if two else (indent if indent > 8 else -1)  # a command alone, what it does below
    return units


def _help_rows(unit: list[str], columns: int) -> list[str]:
    """A unit of --help (``_help_units``) on a terminal ``columns`` wide: as it is if it fits;
    prose as one paragraph, folded; an example (a command, a gap, what it does) as the command,
    then what it does under it, four spaces in; a line indented past half the width (what a
    command alone above it does) brought in to four spaces."""
    import re

    if all(cells(line) <= columns for line in unit):
        return unit
    line = " ".join(part.strip() for part in unit)
    indent = unit[0][: len(unit[0]) - len(unit[0].lstrip(" "))]
    two = re.fullmatch(_HELP_EXAMPLE, unit[0])
    if two:
        what = " ".join([two.group(2), *(part.strip() for part in unit[1:])])
        return fold_line(indent + two.group(1), columns) + fold_line("    " + what, columns, hang="    ")
    if len(indent) > columns // 2:
        return fold_line("    " + line, columns, hang="    ")
    return fold_line(indent + line, columns, hang=None if indent else "")


# What a newcomer types for the two commands, from the words of other chats and of sockets:
# `lanchat join 10.0.0.5` was told only the list of commands.
NEWCOMERS_WORDS = {"join": "connect", "client": "connect", "chat": "connect", "host": "serve", "start": "serve", "listen": "serve"}


def command_hint(argv: list[str], commands: list[str]) -> str | None:
    """What to say when ``argv`` does not start with a command: the command typed after its
    address or an option (``lanchat 127.0.0.1 connect``), a misspelt one (``conect``), none at
    all; None for an option with no command after it (argparse says that one)."""
    import difflib
    import shlex

    first = argv[0]
    if later := [word for word in argv[1:] if word in commands]:
        rest = list(argv)
        rest.remove(later[0])
        return f"the command comes first: `{shlex.join([PROG, later[0], *rest])}`"
    if first.startswith("-"):
        return None
    if first.casefold() == "help":
        return f"for help: `{PROG} --help`, or `{PROG} COMMAND --help` for one command's options"
    meant = NEWCOMERS_WORDS.get(first.casefold())
    close = [meant] if meant in commands else difflib.get_close_matches(first.casefold(), commands, n=1, cutoff=0.6)
    if close:
        return f"{quoted(first)} is not a command; did you mean `{shlex.join([PROG, close[0], *argv[1:]])}`?"
    return f"{quoted(first)} is not a command: choose {', '.join(commands[:-1])} or {commands[-1]} (see {PROG} --help)"


def unrecognized(extras: list[str], option_names: list[str]) -> str:
    """argparse's "unrecognized arguments", with the option that was likely meant."""
    import difflib

    said = f"unrecognized arguments: {' '.join(extras)}"
    for word in extras:
        spelt = word.split("=", 1)[0]
        if spelt.startswith("--") and (close := difflib.get_close_matches(spelt, option_names, n=1, cutoff=0.6)):
            return f"{said}; did you mean {close[0]}?"
    return said


def _port(text: str) -> int:
    """A port to listen on (serve): 0-65535, 0 asking for any free port."""
    return _port_number(text, "0-65535; 0 picks a free one")


def _room_port(text: str) -> int:
    """A room's port, to join or check: 1-65535, as no room is ever on port 0. A 0 is let
    through, so that the command says why it cannot be joined (addresses._port_number)."""
    return _port_number(text, "1-65535")


def _port_number(text: str, allowed: str) -> int:
    """A port: ASCII digits only (addresses.port_digits), at most 65535; ``allowed`` is the
    range the refusal names. The value is quoted (textsafe.quoted): a control character in it
    is shown escaped, never sent raw."""
    from ..addresses import port_digits, port_text_problem

    if not port_digits(text):
        hint = f" (a socket file is given with --unix {text})" if "/" in text else port_text_problem(text)
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a port number{hint}")
    if len(text) > 5 or int(text) > 65535:
        shown = text if len(text) <= 12 else f"{text[:12]}... ({len(text)} digits)"
        raise argparse.ArgumentTypeError(f"port {shown} is out of range ({allowed})")
    return int(text)


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a whole number") from None


def _positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _days(text: str) -> float:
    """--keep-days: a positive number of days (history_upkeep.parse_days)."""
    from ..history_upkeep import parse_days

    try:
        return parse_days(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a number of days (more than 0, at most 36,500, e.g. 30 or 0.5)") from None


def _history_mb(text: str) -> int | None:
    """--max-history-mb: MiB, or 0 for no limit."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 (no limit) or more")
    return value or None


def _listen_host(text: str) -> str:
    """serve --host: an address or a host name, [IPV6] too (as connect takes it); a port written
    into it (as connect also takes) is refused with where it goes."""
    if text.startswith("[") and text.endswith("]") and len(text) > 2:
        return text[1:-1]
    host, colon, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if colon and port.isdecimal() and (bracketed or (host and ":" not in host)):
        raise argparse.ArgumentTypeError(f"{quoted(text)} holds a port: give it apart, e.g. --host {host.strip('[]')} --port {port}")
    return text


def _socket_path(text: str) -> str:
    """--unix: a path; an empty one would be taken as no --unix by some of the program and, by
    Linux, as a socket with no file (autobind) by the rest."""
    if not text:
        raise argparse.ArgumentTypeError("the socket file's path is empty: give one, e.g. /tmp/chat.sock")
    return text


def _home_expanded(text: str) -> str:
    """A path typed with ``~`` or ``~NAME`` first, that home folder put in, as the shell does (a
    quoted one, `--history=~/h` in some shells); the text as it is otherwise, `./~x` included.
    A ~NAME no user has (bash leaves `~typo/h` as typed) is refused in one line: pathlib's
    expanduser() raised RuntimeError there, a traceback. (Every path option's type goes here.)"""
    import os

    if not text.startswith("~"):
        return text
    expanded = os.path.expanduser(text)
    if expanded.startswith("~"):  # os.path leaves what it could not expand as it was
        user = text[1:].partition("/")[0]
        if user:
            raise argparse.ArgumentTypeError(f"no user {quoted(user)} for {quoted(text)} (~NAME is NAME's home folder)")
        raise argparse.ArgumentTypeError(f"your home folder is not known (HOME is not set) for {quoted(text)}: give the path in full")
    return expanded


def _file_path(text: str) -> str:
    """--history, --identity, history's PATH: a file's path, ~ expanded (_home_expanded). An empty one
    (`--history "$FILE"` with FILE unset) was taken as no option at all, the default file,
    silently: refused, as --unix's is."""
    if not text:
        raise argparse.ArgumentTypeError("the path is empty: give a file's path, or leave it out for the default")
    return _home_expanded(text)


def _folder(text: str) -> str:
    """--downloads, --tls-dir: an existing folder, checked before anything starts."""
    if not text:  # Path("") is the current folder, not the default the option's help names
        raise argparse.ArgumentTypeError("the folder is empty: give one (. for this folder)")
    folder = Path(_home_expanded(text))
    try:  # (Python 3.11's is_dir() raises for a folder on the way we may not read)
        problem = None if folder.is_dir() else "is a file, not a folder" if folder.exists() else "does not exist (create it first)"
    except OSError as exc:
        problem = f"cannot be reached ({exc.strerror or exc})"
    if problem:
        raise argparse.ArgumentTypeError(f"{quoted(text)} {problem}")
    return str(folder)


def _folder_or_new(text: str) -> str:
    """--files-dir: a folder, made on first use if it is not there yet; a file there (or on the
    way to it) is refused before anything starts, not at the first /send."""
    from os.path import isdir, lexists  # (never raise, unlike Path's on a folder we may not read)

    if not text:
        return _folder(text)
    folder = Path(_home_expanded(text))
    there = next((p for p in (folder, *folder.parents) if lexists(p)), None)  # the nearest that exists
    if there is not None and there != folder and not isdir(there):
        raise argparse.ArgumentTypeError(f"{quoted(text)} cannot be made: {quoted(str(there))} is a file, not a folder")
    return _folder(text) if there == folder else str(folder)


def _room(text: str) -> str:
    from ..discovery import room_name_problem

    problem = room_name_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"room name {quoted(text)} cannot be used: {problem}")
    return text


def _name(text: str) -> str:
    from ..events import name_problem

    problem = name_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"name {quoted(text)} cannot be used: {problem}")
    return text


def _restrict_kinds(text: str) -> tuple[str, ...]:
    """serve --restrict dm,files: what students may not do from the start (restrict.py)."""
    from ..events import RESTRICT_KINDS

    kinds = [kind for kind in text.replace(",", " ").lower().split() if kind]
    wrong = [kind for kind in kinds if kind not in RESTRICT_KINDS]
    if wrong or not kinds:
        raise argparse.ArgumentTypeError(f"{quoted(text)}: give dm, files or dm,files")
    return tuple(kind for kind in RESTRICT_KINDS if kind in kinds)


def _operator_name(text: str) -> str:
    """serve --operator NAME|FINGERPRINT: a key's fingerprint (identity.fingerprint_hex, the one
    rule), given on as typed (a tab or a no-break space made a space; SHA256: as printed; one
    holding an invisible character as /whois shows it); a fingerprint copied wrong
    (identity.near_fingerprint) refused; else a name a person can join under (not the colour bot's)."""
    from ..colourbot import BOT_NAME
    from ..events import name_key
    from ..identity import fingerprint_hex, near_fingerprint

    if (hex_digits := fingerprint_hex(text)) is not None:  # as typed (the start lines say it), its spaces made plain
        if len(hex_digits) != 16:
            return "SHA256:" + text.strip()[7:]
        typed = " ".join(text.split())  # (a zero-width space left in: as /whois shows it instead)
        return typed if typed.isprintable() else " ".join(hex_digits[i : i + 4] for i in range(0, 16, 4))
    # A fingerprint copied wrong was taken as a name, which the first student to join under it
    # would own and run the room with (or refused with a reason about names): said as a key here.
    if text.strip()[:7].upper() == "SHA256:":
        raise argparse.ArgumentTypeError(
            f"{quoted(text)} is not a whole key fingerprint (SHA256: and 43 characters, as `lanchat key` "
            "prints it in full): copy it again, or give its 16 hex digits"
        )
    digits = near_fingerprint(text)
    if digits is not None and text.strip()[:2].lower() == "0x":  # (0xdeadbeefcafebabe: no name, nor a key as printed)
        raise argparse.ArgumentTypeError(
            f"{quoted(text)} is hex as a program writes it (0x before it), {len(digits)} digits: a key's fingerprint is "
            "16 hex digits as `lanchat key` prints it (e.g. 3f2a9c1b77d0e4a5); a name shaped like one cannot be given to --operator"
        )
    if digits is not None and len(digits) == 16:  # (split elsewhere than a fingerprint is: 3f2a9c1b-77d0e4a5)
        raise argparse.ArgumentTypeError(
            f"{quoted(text)} is not split as a key's fingerprint is (four groups of 4 digits, or eight of 2): copy it "
            "as `lanchat key` prints it (e.g. 3f2a9c1b77d0e4a5); a name shaped like one cannot be given to --operator"
        )
    if digits is not None:
        raise argparse.ArgumentTypeError(
            f"{quoted(text)} has {len(digits)} hex digits, not 16: copy the key's fingerprint as `lanchat key` "
            "prints it (e.g. 3f2a9c1b77d0e4a5); a name shaped like one cannot be given to --operator"
        )
    if name_key(_name(text)) == name_key(BOT_NAME):
        raise argparse.ArgumentTypeError(f"{quoted(text)} is kept for the colour bot; nobody can join under it")
    return text


class _Given(argparse.Action):
    """An option's value, stored as argparse stores it, and the option noted as typed
    (its dest in ``Namespace.given``): a default and the same value typed are told apart."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        setattr(namespace, self.dest, values)
        namespace.given = (*getattr(namespace, "given", ()), self.dest)


SERVE_EXAMPLES = """\
examples:
  lanchat serve                        full-duplex, port 3580, every interface
  lanchat serve 4000 --name ann        the port may also come first
  lanchat serve --mode turn            strict turn-taking (seed 001)
  lanchat serve --turn                 the same (and --duplex: --mode duplex)
  lanchat serve --host 127.0.0.1       only reachable from this machine
  lanchat serve --unix /tmp/chat.sock  an AF_UNIX socket instead of TCP
  lanchat serve --headless             a relay only: the host does not chat
  lanchat serve --tls --password       a class room: encrypted, with a password
  lanchat serve --headless --operator 3f2a9c1b77d0e4a5
                                       run by the key `lanchat key` showed
  lanchat serve --headless --once --bot colour --max-clients 1 --unix mood.sock
                                       seed 000: one person and the colour bot
"""


CONNECT_EXAMPLES = """\
examples:
  lanchat connect                      this machine's server (port 3580), else
                                       the rooms announced on the local network
  lanchat connect 192.168.1.20 4000    join another machine's chat on port 4000
  lanchat connect 192.168.1.20:4000    the same; also [::1]:3580 and bare ::1
  lanchat connect 4000                 port 4000 on 127.0.0.1 (as in seed 001)
  lanchat connect "ann's room"         a room on the local network, by the
                                       name `lanchat rooms` lists
  lanchat connect --unix /tmp/chat.sock --name bob
  lanchat connect 192.168.1.20 --no-reconnect
                                       leave on a drop or a shutdown notice
                                       (default: rejoin)
  lanchat connect 10.0.0.5 --fingerprint SHA256:...
                                       a TLS room, trusting exactly that one

a room with a password: you are asked for it (or set LANCHAT_PASSWORD).

in the chat: type a line and press Enter to send it; /w NAME TEXT sends a direct
message; /who lists who is here; /send FILE offers a file and /get ID fetches
one; /help lists every command; /q leaves.
"""


HISTORY_EXAMPLES = """\
examples:
  lanchat history                               the default history, as text
  lanchat history chat.sqlite3 --since 2h       the last two hours of that file
  lanchat history chat.sqlite3 --format jsonl > chat.jsonl
  lanchat history prune --keep-days 30          drop messages over 30 days old
  lanchat history prune --before 2026-09-01     a stopped room's, by date
  lanchat history compact                       free the space of dropped ones
"""


# serve --max-history-mb: a term of ordinary class chat is tens of MB; a flood (16 connections
# from one machine at the flood limit, 4,000-character messages) adds about 2.9 GB an hour, a flood
# of whispers about 2.7 GB (dropped too, once the room's messages are down to the newest 1,000).
# 1 GiB keeps every ordinary term and stops a flood from filling a laptop's disk (README).
DEFAULT_HISTORY_MB = 1024


def _replay_count(text: str) -> int:
    from ..events import MAX_HISTORY_REQUEST

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a whole number") from None
    if not 0 <= value <= MAX_HISTORY_REQUEST:
        raise argparse.ArgumentTypeError(f"{value} must be from 0 to {MAX_HISTORY_REQUEST}")
    return value


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _since(text: str) -> float:
    """--since: an ISO date/time (local time unless it says otherwise), a time of day (HH:MM or
    HH:MM:SS: today at that local time, even if it is still to come) or an age like 30m."""
    import datetime
    import re
    import time

    value = text.strip().lower()
    try:
        if value[:-1].isdecimal() and value[-1:] in _AGE_UNITS:  # isdigit() lets "²" through to int()
            if len(value) > 13:  # int() refuses thousands of digits; and no age is that long
                raise ValueError(value)
            return time.time() - int(value[:-1]) * _AGE_UNITS[value[-1]]
        if re.fullmatch(r"\d{1,2}:\d\d(:\d\d)?", value):
            hour, minute, second = map(int, (value + ":0").split(":")[:3])
            when = datetime.datetime.combine(datetime.date.today(), datetime.time(hour, minute, second))
        else:
            when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{quoted(text)} is not a time: use a date like 2026-11-21, a time like 2026-11-21T14:30 or 14:30 (today), "
            "or an age like 30m"
        ) from None
    try:
        return when.timestamp()  # a naive time is taken as local time
    except (ValueError, OverflowError):  # 0001-01-01 in local time is out of the clock's range
        raise argparse.ArgumentTypeError(f"{quoted(text)} is too long ago for this computer's clock: give a later date") from None


def build_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="A terminal chat for the local network, and a hands-on way to learn sockets.",
        epilog="Run 'lanchat serve --help' or 'lanchat connect --help' for each command's options.",
    )
    from .. import __version__

    # what a bug report needs first: lanchat's and Python's versions (Python's decides ssl, curses)
    python = ".".join(map(str, sys.version_info[:3]))
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__} (Python {python}, {sys.platform})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    parser.commands = commands.choices  # type: ignore[assignment]  # filled as each add_parser runs

    serve = commands.add_parser(
        "serve",
        help="host a chat (and take part in it)",
        description="Host a chat room. Others join it with 'lanchat connect'.",
        epilog=SERVE_EXAMPLES,
        formatter_class=_RawHelp,
    )
    serve.add_argument("port_arg", nargs="?", type=_port, metavar="PORT", help="TCP port (same as --port)")
    serve.add_argument("--port", type=_port, default=None, help="TCP port to listen on (default 3580; 0 picks a free one)")
    serve.add_argument(
        "--host",
        default="",
        type=_listen_host,
        metavar="H",
        help="address to listen on, or a network interface's name for its address (eth1) "
        "(default: every interface, so the class can join; 127.0.0.1 keeps it on this machine)",
    )
    serve.add_argument("--unix", metavar="PATH", type=_socket_path, help="listen on an AF_UNIX socket file instead of TCP, e.g. /tmp/chat.sock")
    # --turn and --duplex: what a teacher guesses first. (Before them, argparse took "--turn" as short
    # for --turn-timeout and said "argument --turn-timeout: expected one argument".)
    modes = serve.add_mutually_exclusive_group()
    modes.add_argument(
        "--mode",
        choices=("duplex", "turn"),
        default=None,
        help="duplex: everyone types whenever they like (default); turn: strict turn-taking. "
        "Without it, a room restarted with its history resumes the mode /mode left it in",
    )
    modes.add_argument("--turn", dest="mode", action="store_const", const="turn", help="the same as --mode turn")
    modes.add_argument("--duplex", dest="mode", action="store_const", const="duplex", help="the same as --mode duplex")
    serve.add_argument(
        "--restrict", type=_restrict_kinds, default=None, metavar="dm,files",
        help="start with direct messages between students (dm), files from students (files) or both turned off, "
        "as an operator's /restrict does (an exam); operators and the host still whisper and share. "
        "Without it, a room restarted with its history keeps what /restrict left off",
    )  # fmt: skip
    serve.add_argument(
        "--name", type=_name, help="your name in the chat (asked for at a terminal if not given; not with --headless)"
    )
    serve.add_argument(
        "--headless", action="store_true", help="relay only: do not take part; log joins, leaves, kicks, bans and mutes (the host's --name, --identity, "
        "--plain, --screen-reader, --no-typing, --projector and --downloads are refused)"
    )
    serve.add_argument(
        "--operator",
        type=_operator_name,
        action="append",
        default=[],
        metavar="NAME|KEY",
        help="make someone an operator, as if the host typed /op (repeatable; meant for a --headless room, which "
        "has no host, and works with one too). KEY: the fingerprint of their identity key, as `lanchat key` prints it on their machine "
        "(also /whois NAME in a chat): only that key, under any name, the safe choice. NAME: whoever joins as "
        "NAME with the key that owns it; if no key owns NAME yet, the first to join as NAME comes to own it, "
        "so join first",
    )
    serve.add_argument("--plain", action="store_true", help="line mode without the full-screen interface")
    serve.add_argument("--screen-reader", action="store_true", help=SCREEN_READER_HELP)
    serve.add_argument("--no-typing", action="store_true", help='neither send nor show "is typing" hints')
    serve.add_argument("--projector", action="store_true", help=PROJECTOR_HELP)
    serve.add_argument(
        "--max-clients",
        type=_positive,
        metavar="N",
        help="at most N people besides the host (bots do not count); the N+1st is refused and told why "
        "(and a host in the chat is told)",
    )
    serve.add_argument(
        "--max-per-address",
        type=_positive,
        metavar="N",
        help="at most N connections at once from one address (default 16), and 2 x N new ones a minute "
        "(never fewer than the default 30), and N names made its own an hour (never fewer than the default 10): "
        "raise it for a class behind one address (a school's NAT); not with --no-limits",
    )
    serve.add_argument("--once", action="store_true", help="shut down when the last person leaves (needs --headless)")
    serve.add_argument(
        "--no-limits",
        action="store_true",
        help="lift the flood limit (10 at once, then 3 a second), the budget of typing hints and upload pieces "
        "(4,096 a second), the 32 frames before a welcome, and the connection caps per address "
        "(16 at once, 30 a minute; this machine: 256, 600, and each account there but the server's: "
        "64 not yet welcomed), e.g. for a benchmark",
    )
    serve.add_argument(
        "--turn-timeout",
        type=_positive,
        metavar="SECONDS",
        help="in turn-based mode, a turn nobody takes moves on by itself after SECONDS (default: never; "
        "120 in a --headless room without --operator, where nobody can /pass it)",
    )
    serve.add_argument(
        "--max-file-mb", type=_positive, default=50, metavar="N", help="largest file anyone but the host may /send, in MiB (2**20 bytes; default 50)"
    )
    serve.add_argument(
        "--quota-mb", type=_positive, metavar="N", help="most one person (not the host) may have on offer at once, in MiB (default 4 x --max-file-mb)"
    )
    serve.add_argument(
        "--files-dir", type=_folder_or_new, metavar="DIR", help="where the server keeps files sent with /send while they are on offer: "
        "a folder of its own inside DIR (default: your data folder), removed when the server stops"
    )
    serve.add_argument("--downloads", type=_folder, metavar="DIR", help="where /get saves files (default: your Downloads folder, else here)")
    serve.add_argument(
        "--bot",
        choices=("colour", "color"),
        help="add a bot to the room: 'colour' (or 'color') suggests a colour for your mood (seed 000); "
        "people talk to it with /mood, /y and /n",
    )
    serve.add_argument("--bot-seed", type=_whole, metavar="N", help="seed the bot's random colours so a run can be repeated")
    serve.add_argument(
        "--history",
        action=_Given,
        type=_file_path,
        metavar="PATH",
        help="keep the chat history in this SQLite file (made if missing, in a folder that must exist; default: one file per port in your data folder, "
        "history-PORT.sqlite3, e.g. ~/.local/share/lanchat/history-3580.sqlite3 on Linux (on 3580, an older lanchat's "
        "history.sqlite3 there if it has none); --port 0: the port it "
        "got; with --unix, one per "
        "socket path)",
    )
    serve.add_argument("--no-history", action="store_true", help="keep no history: nothing is saved or replayed "
                       "(so not with --history, --keep-days, --max-history-mb nor --replay)")
    serve.add_argument(
        "--keep-days", type=_days, action=_Given, metavar="N", help="drop room and direct messages older than N days from the history, at "
        "start and then every ten minutes (default: keep them; bans, mutes, names, the topic and operators are never dropped)"
    )
    serve.add_argument(
        "--max-history-mb", type=_history_mb, default=DEFAULT_HISTORY_MB, action=_Given, metavar="N", help="when the history holds more "
        f"than N MiB, drop the oldest room messages (never the newest 1,000), then the oldest direct messages, down to 90%% "
        f"of it (default {DEFAULT_HISTORY_MB}; 0: no limit)"
    )
    serve.add_argument(
        "--room",
        type=_room,
        metavar="NAME",
        help="the room's name, announced on the local network (default: \"NAME's room\"; with --headless, "
        "\"MACHINE's room\")",
    )
    serve.add_argument(
        "--no-announce",
        action="store_true",
        help="do not announce the room on the local network (people then need the address)",
    )
    serve.add_argument(
        "--password",
        action="store_true",
        help="ask for a room password at start, typed twice (or read LANCHAT_PASSWORD); people need it to join: "
        "lanchat connect asks them for it",
    )
    serve.add_argument(
        "--tls",
        action="store_true",
        help="encrypt every connection with TLS; a certificate is made in your data folder on first use "
        "and its fingerprint printed for people to check",
    )
    serve.add_argument(
        "--tls-dir", type=_folder, metavar="DIR", help="with --tls: keep the certificate and its key in DIR, an existing "
        "folder (default: your data folder); one made there the first time, its fingerprint the same every run after"
    )
    serve.add_argument(
        "--identity", type=_file_path, metavar="PATH", help="your identity key file, which owns your name (made if missing, in a folder that must exist; default: identity.key in your "
        "data folder; `lanchat key` shows its fingerprint; not with --headless)"
    )
    serve.add_argument(
        "--replay",
        type=_replay_count,
        default=50,
        action=_Given,
        metavar="N",
        help="messages replayed to each person on joining, marked [History] (default 50; 0 for none)",
    )

    connect = commands.add_parser(
        "connect",
        help="join a chat",
        description="Join a chat hosted with 'lanchat serve'.",
        epilog=CONNECT_EXAMPLES,
        formatter_class=_RawHelp,
    )
    connect.add_argument(
        "host",
        nargs="?",
        default=None,
        metavar="HOST",
        help="the server's address: HOST, HOST:PORT or [IPV6]:PORT, or the name of a room announced on the local "
        "network (default: this machine, else a room found on the local network)",
    )
    connect.add_argument("port_arg", nargs="?", type=_room_port, metavar="PORT", help="the server's port (default 3580)")
    connect.add_argument("--port", type=_room_port, default=None, help="the server's port (default 3580)")
    connect.add_argument("--unix", metavar="PATH", type=_socket_path, help="connect to an AF_UNIX socket file instead of TCP")
    connect.add_argument(
        "--server-owner",
        metavar="USER",
        help="with --unix: the user expected to run the server (default: you); "
        "a warning is shown when another user's program is listening on the path (checked on Linux only)",
    )
    connect.add_argument("--name", type=_name, help="your name in the chat (asked for at a terminal if not given)")
    connect.add_argument("--plain", action="store_true", help="line mode without the full-screen interface")
    connect.add_argument("--screen-reader", action="store_true", help=SCREEN_READER_HELP)
    connect.add_argument("--no-typing", action="store_true", help='neither send nor show "is typing" hints')
    connect.add_argument("--projector", action="store_true", help=PROJECTOR_HELP)
    connect.add_argument(
        "--tls", action="store_true", help="encrypt with TLS (the server runs with --tls): the first time, you are asked "
        "to trust the server's fingerprint; it is remembered, and a changed one is refused"
    )
    connect.add_argument(
        "--fingerprint",
        metavar="SHA256:...",
        help="the server's TLS fingerprint, as `serve --tls` printed it: trust exactly this one (implies --tls)",
    )
    connect.add_argument(
        "--identity", type=_file_path, metavar="PATH", help="your identity key file, which owns your name on each server (made if missing, in a folder that must exist; default: "
        "identity.key in your data folder; `lanchat key` shows its fingerprint)"
    )
    connect.add_argument("--downloads", type=_folder, metavar="DIR", help="where /get saves files (default: your Downloads folder, else here)")
    connect.add_argument(
        "--no-reconnect",
        action="store_true",
        help="leave when the connection drops or the server shuts down (default: rejoin when the server is "
             "back; the full screen also waits for a server that was stopped, not closed by its host, while "
             "--plain ends at its notice)",
    )

    history = commands.add_parser(
        "history",
        help="export a chat transcript from a history file (history prune, history compact: shrink a stopped room's)",
        description="Print the history kept by 'lanchat serve' as a transcript\n(seed 004's \"save chat\").",
        epilog=HISTORY_EXAMPLES,
        formatter_class=_RawHelp,
    )
    _history_file_arguments(history)
    history.add_argument(
        "--format", choices=("txt", "jsonl"), default="txt", help="txt: readable, a line each (a pasted block's further lines indented under it; default); jsonl: one JSON object a line, the text exact"
    )
    history.add_argument(
        "--since",
        type=_since,
        metavar="TIME",
        help="only messages from TIME on: a date or time (2026-11-21, 2026-11-21T14:30, local time), "
        "a time of day (14:30 or 14:30:15: today, even if still to come) or an age (90s, 30m, 2h, 7d)",
    )
    history.add_argument(
        "--projector", action="store_true",
        help="for a screen the class sees: direct messages show who wrote to whom, not what (as the chat's /projector)",
    )
    rooms = commands.add_parser(
        "rooms",
        help="list the rooms announced on the local network",
        description="Look for lanchat rooms on the local network (DNS-SD over multicast DNS)\nand list them.",
        epilog=ROOMS_EXAMPLES,
        formatter_class=_RawHelp,
    )
    rooms.add_argument("--wait", type=_listen_seconds, default=2.0, metavar="S", help="how long to listen, in seconds (default 2)")
    rooms.add_argument("--json", action="store_true", help="one JSON list, for scripts")

    doctor = commands.add_parser(
        "doctor",
        help="check what stands between this machine and a chat",
        description="Check the network, the port, a server, the firewall, room discovery, the\nlocale, the "
        "terminal and the data folder; each problem comes with a fix.\nExit status 1 when something is wrong.",
        epilog=DOCTOR_EXAMPLES,
        formatter_class=_RawHelp,
    )
    doctor.add_argument("host", nargs="?", default=None, metavar="HOST", help="a server to check: HOST, HOST:PORT or [IPV6]:PORT, or a room's name as `lanchat rooms` lists it")
    doctor.add_argument("port_arg", nargs="?", type=_room_port, metavar="PORT", help="its port (default 3580)")
    doctor.add_argument("--port", type=_room_port, default=None, help="the port to check (default 3580)")
    doctor.add_argument("--wait", type=_seconds, default=2.0, metavar="S", help="how long to look for rooms (default 2; 0 skips)")
    doctor.add_argument("--json", action="store_true", help="the findings as one JSON object, for scripts")
    names = commands.add_parser(
        "names",
        help="list or release the names owned by keys in a history file (server stopped)",
        description="Names belong to the first key that used them (docs/PROTOCOL.md, Identity).\n"
        "While the server is stopped, list them or release one whose owner lost\ntheir key.",
        epilog="examples:\n  lanchat names list\n  lanchat names list chat.sqlite3\n  lanchat names release cat --port 4000\n"
        "  lanchat names release cat chat.sqlite3      (or --history chat.sqlite3)\n",
        formatter_class=_RawHelp,
    )
    names.add_argument("action", choices=("list", "release"), metavar="{list,release}",  # errors say the metavar
                       help="list: every owned name; release: free NAME")
    names.add_argument("name", nargs="?", metavar="NAME", help="the name to release")
    names.add_argument("path", nargs="?", type=_file_path, metavar="PATH",
                       help="the history file, as `lanchat history PATH` takes it (the same as --history PATH)")
    names.add_argument("--history", type=_file_path, metavar="PATH", help="the history file (default: the one 'serve' uses on --port/--unix)")
    names.add_argument("--port", type=_room_port, default=3580, help="the room's port, to find its default history (default 3580)")
    names.add_argument("--unix", metavar="PATH", type=_socket_path, help="the room's AF_UNIX socket, to find its default history")
    key = commands.add_parser(
        "key",
        help="show your identity key's fingerprint (to give to serve --operator, or compare with /whois)",
        description="Print the fingerprint of your identity key (made on first use), e.g. for\n"
        "'lanchat serve --operator KEY', which makes only that key an operator, under\nany name.",
        epilog="examples:\n  lanchat key\n  lanchat key --identity ~/usb/identity.key\n",
        formatter_class=_RawHelp,
    )
    key.add_argument("--identity", type=_file_path, metavar="PATH", help="the identity key file (made if missing, in a folder that must exist; default: identity.key in your data folder)")
    forget = commands.add_parser(
        "forget",
        help="forget the TLS fingerprint remembered for a room's address or name (its next join is as a first one)",
        description="Remove the TLS fingerprint remembered for HOST:PORT from known_servers in your\n"
        "data folder, as `ssh-keygen -R` does for ssh, or for a room's NAME (as\n`lanchat rooms` lists it) "
        "from known_rooms. An address or a name remembered\nthere is joined only with TLS: forget it when its "
        "host tells you the room is\nnow without TLS, or has a new certificate.",
        epilog="examples:\n  lanchat forget 192.168.1.20:3580\n  lanchat forget 192.168.1.20 3580\n"
        "  lanchat forget 192.168.1.20          (every port of that address)\n"
        "  lanchat forget \"maths 3B\"            (the room of that name)\n",
        formatter_class=_RawHelp,
    )
    forget.add_argument("host", metavar="HOST", help="the address as connect took it: HOST, HOST:PORT or [IPV6]:PORT; or a room's name")
    forget.add_argument("port_arg", nargs="?", type=_room_port, metavar="PORT", help="its port (default: every port)")
    return parser


def _listen_seconds(text: str) -> float:
    """rooms --wait: ``_seconds``, but not 0, which listened for no time and then said 'no lanchat
    room found on the local network within 0 s' of a network where rooms may well be."""
    try:
        value = float(text)
    except ValueError:
        return _seconds(text)  # which says it is no number
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} listens for no time: give more than 0 seconds (rooms answer within a second or two; default 2)")
    if not 0 < value <= 30:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 and at most 30 seconds")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a number of seconds") from None
    if not 0 <= value <= 30:
        raise argparse.ArgumentTypeError(f"{text} must be from 0 to 30 seconds")
    return value


ROOMS_EXAMPLES = """\
examples:
  lanchat rooms                 list the rooms announced on this network
  lanchat rooms --wait 5        listen longer (a slow or busy Wi-Fi)
  lanchat rooms --json          for scripts
"""


DOCTOR_EXAMPLES = """\
examples:
  lanchat doctor                       this machine: addresses, port 3580,
                                       firewall, rooms, terminal
  lanchat doctor 192.168.1.20 3580     also: does a lanchat server answer there?
  lanchat doctor --port 4000 --json    another port; findings as JSON
"""


def _history_file_arguments(parser: argparse.ArgumentParser) -> None:
    """Which history file `history`, `history prune` and `history compact` read: PATH, or the same
    as --history PATH (as `serve` and `names` take it), or the room's on --port/--unix."""
    parser.add_argument("path", nargs="?", type=_file_path, metavar="PATH",
                        help="the history file (default: the one 'serve' uses; --history PATH says the same)")
    parser.add_argument("--history", type=_file_path, metavar="PATH", help="the history file, as serve and names take it (the same as PATH)")
    parser.add_argument("--port", type=_room_port, default=3580, help="the default history of the room on this port (default 3580)")
    parser.add_argument("--unix", metavar="PATH", type=_socket_path, help="the default history of the room on this AF_UNIX socket")


def one_history_file(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """``args.path``: the history file typed as PATH or as --history PATH, either form for every
    command that reads one (`names list FILE` too: list has no NAME); two that differ are refused."""
    import shlex

    action = getattr(args, "action", None)
    if action == "list" and args.name is not None and args.path is not None:  # a word too many: never dropped
        if _is_file(args.name):
            parser.error(f"names list takes one history file: {quoted(args.path)} is one word too many")
        parser.error(f"names list takes no NAME (only release does): `{shlex.join([PROG, 'names', 'list', args.path])}`")
    if action == "release" and args.path is None and _is_file(args.name):  # `names release chat.sqlite3`: no NAME
        parser.error(f"names release needs the NAME, then the file: `{shlex.join([PROG, 'names', 'release', 'NAME', args.name])}`")
    if action == "list" and args.name is not None and args.path is None:
        try:  # (checked as PATH is)
            args.name, args.path = None, _file_path(args.name)
        except argparse.ArgumentTypeError as exc:
            parser.error(f"argument PATH: {exc}")
    if action == "release" and args.path and _is_file(args.name) and not _is_file(args.path):
        # `names release chat.sqlite3 ann`, the file first as `history FILE` takes it
        parser.error(f"the NAME comes first, then the file: `{shlex.join([PROG, 'names', 'release', args.path, args.name])}`")
    if args.path is not None and args.history is not None and not _same_path(args.path, args.history):
        parser.error(f"two history files given, {quoted(args.path)} and --history {quoted(args.history)}: give one")
    args.path = args.path if args.path is not None else args.history


def _same_path(one: str, other: str) -> bool:
    """The same file, however written (./F and F, a link to it); two names of nothing are the same written alike."""
    import os

    try:
        return os.path.samefile(one, other)
    except OSError:  # (one is not there: the command says so)
        return Path(one) == Path(other)


def _is_file(text: str | None) -> bool:
    from os.path import isfile  # (never raises)

    return text is not None and text != "" and isfile(text)


def _stopped_history_parser(command: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """``lanchat history COMMAND``: its own parser, as ``history``'s PATH would take the word; with
    PATH, --port and --unix: which stopped room's history it works on."""
    parser = _Parser(prog=f"{PROG} history {command}", description=description, epilog=epilog,
                     formatter_class=_RawHelp)
    _history_file_arguments(parser)
    return parser


def build_prune_parser() -> argparse.ArgumentParser:
    """``lanchat history prune``'s parser."""
    prune = _stopped_history_parser(
        "prune",
        "Drop a stopped room's messages from before a date (or older than N days)\nfrom its history, "
        "then give the space they took back to the disk. Room and\ndirect messages go; bans, mutes, owned names, the topic "
        "and operators are kept.\nA running room drops them itself with serve --keep-days.",
        "examples:\n  lanchat history prune --keep-days 30\n  lanchat history prune --before 2026-09-01 --port 4000\n"
        "  lanchat history prune chat.sqlite3 --before 2026-09-01\n",
    )
    when = prune.add_mutually_exclusive_group(required=True)
    when.add_argument("--before", type=_since, metavar="TIME", help="drop messages from before TIME: a date "
                      "(2026-09-01, local time), a date and time (2026-09-01T08:00) or an age (30d, 12h)")  # fmt: skip
    when.add_argument("--keep-days", type=_days, metavar="N", help="drop messages older than N days")
    prune.add_argument("--no-compact", action="store_true", help="leave the file its size (new messages reuse the "
                       "space; default: give it back, which needs a moment's free disk for a copy of what is kept)")  # fmt: skip
    return prune


def build_compact_parser() -> argparse.ArgumentParser:
    """``lanchat history compact``'s parser."""
    return _stopped_history_parser(
        "compact",
        "Give the space of dropped messages back to the disk: a room's history file\nkeeps its size when "
        "messages go (serve --keep-days, --max-history-mb), as\nnew ones reuse it. The room must be stopped; the disk "
        "needs free space for a\nmoment's copy of what the file holds.",
        "examples:\n  lanchat history compact\n  lanchat history compact --port 4000\n  lanchat history compact chat.sqlite3\n",
    )
