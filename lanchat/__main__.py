"""__main__.py: the command line and the wiring. The only module that knows every other one.

Heavy modules are imported inside the functions that need them, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time as _time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if not __package__:  # `python lanchat serve` or `python lanchat/__main__.py`: run as a file, not the package
    import shlex

    sys.exit(f"lanchat: run it as a module, from the folder that holds the lanchat folder: "
             f"`{shlex.join(['python', '-m', 'lanchat', *sys.argv[1:]])}`")

# Light, and imported up front on purpose: the log must work when the process is out of file
# descriptors, and a first import inside it would then fail (it has to open the .py file).
from .textfold import cells, fold_line, fold_lines, shell_word  # noqa: E402 - after the check above, which needs none
from .textsafe import quoted, visible  # noqa: E402

if TYPE_CHECKING:  # only for annotations: --help imports neither
    from .limits import ConnectionLimits
    from .room import Room

PROG = "lanchat"
PROJECTOR_HELP = (
    "start in projector mode (/projector toggles it): for a screen the class sees, direct messages, "
    "replayed ones too, show who wrote and not what"
)


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line and exit status 2 (no usage dump), naming what was likely
    meant: a command typed after its address, a misspelt command or option."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - argparse's own
        self.option_names: list[str] = []  # every --option, for "did you mean"
        self.commands: dict[str, _Parser] = {}  # the top parser's subcommands, once built
        super().__init__(*args, **kwargs)

    def add_argument(self, *names, **kwargs):  # noqa: ANN002, ANN003, ANN201 - argparse's own
        action = super().add_argument(*names, **kwargs)
        self.option_names.extend(action.option_strings)
        return action

    def error(self, message: str) -> None:  # type: ignore[override]
        _say(f"{self.prog}: error: {message} (see {self.prog} --help)")
        self.exit(2)

    def format_help(self) -> str:
        """argparse folds the options to the terminal, but the descriptions and examples are
        written for 80 columns: a narrower terminal (a split pane, a phone) cut them mid-word.
        Each line too long is folded as _say folds (at spaces, under its own indent)."""
        text = super().format_help()
        columns = _terminal_columns(1)
        return text if columns is None else "\n".join(row for unit in _help_units(text.split("\n")) for row in _help_rows(unit, columns))

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]  # noqa: ANN001, ANN201
        """The top parser's: the command first, then each unknown word named with the command's
        own --help (argparse would blame `lanchat` and list every command)."""
        argv = list(sys.argv[1:] if args is None else args)
        if self.commands and argv and argv[0] not in (*self.commands, "-h", "--help"):
            hint = command_hint(argv, list(self.commands))
            if hint:  # else an unknown option alone: argparse's line below says it
                _say(f"{PROG}: {hint}")
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
    close = difflib.get_close_matches(first.casefold(), commands, n=1, cutoff=0.6)
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
    """A port: ASCII digits only, 0-65535 (addresses.port_digits; each command says what 0 means).
    The value is quoted (textsafe.quoted): a control character in it is shown escaped, never sent raw."""
    from .addresses import port_digits, port_text_problem

    if not port_digits(text):
        hint = f" (a socket file is given with --unix {text})" if "/" in text else port_text_problem(text)
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a port number{hint}")
    if len(text) > 5 or int(text) > 65535:
        shown = text if len(text) <= 12 else f"{text[:12]}... ({len(text)} digits)"
        raise argparse.ArgumentTypeError(f"port {shown} is out of range (0-65535)")
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


def _connection_limits(max_per_address: int | None, room: Room) -> ConnectionLimits | None:
    """serve --max-per-address N: the connection caps with N at once from one address and
    2 x N new a minute (at least the defaults); None: the server's own defaults."""
    if max_per_address is None:
        return None
    from . import limits as lim

    return lim.ConnectionLimits(
        groups=room.moderation.groups,  # one rule for caps and bans
        max_per_address=max_per_address,
        new_per_minute=max(lim.NEW_PER_MINUTE, 2 * max_per_address),
    )


def _days(text: str) -> float:
    """--keep-days: a positive number of days (history_upkeep.parse_days)."""
    from .history_upkeep import parse_days

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
    from .discovery import room_name_problem

    problem = room_name_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"room name {quoted(text)} cannot be used: {problem}")
    return text


def _name(text: str) -> str:
    from .events import name_problem

    problem = name_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"name {quoted(text)} cannot be used: {problem}")
    return text


def _operator_name(text: str) -> str:
    """serve --operator NAME|FINGERPRINT: a key's fingerprint (identity.fingerprint_hex, the one
    rule), given on as typed (a tab or a no-break space made a space; SHA256: as printed; one
    holding an invisible character as /whois shows it); a fingerprint copied wrong
    (identity.near_fingerprint) refused; else a name a person can join under (not the colour bot's)."""
    from .colourbot import BOT_NAME
    from .events import name_key
    from .identity import fingerprint_hex, near_fingerprint

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
    from .events import MAX_HISTORY_REQUEST

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
    from . import __version__

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
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("port_arg", nargs="?", type=_port, metavar="PORT", help="TCP port (same as --port)")
    serve.add_argument("--port", type=_port, default=None, help="TCP port to listen on (default 3580; 0 picks a free one)")
    serve.add_argument(
        "--host",
        default="",
        type=_listen_host,
        metavar="H",
        help="address to listen on (default: every interface, so the class can join; "
        "127.0.0.1 keeps it on this machine)",
    )
    serve.add_argument("--unix", metavar="PATH", type=_socket_path, help="listen on an AF_UNIX socket file instead of TCP, e.g. /tmp/chat.sock")
    serve.add_argument(
        "--mode",
        choices=("duplex", "turn"),
        default=None,
        help="duplex: everyone types whenever they like (default); turn: strict turn-taking. "
        "Without it, a room restarted with its history resumes the mode /mode left it in",
    )
    serve.add_argument(
        "--name", type=_name, help="your name in the chat (asked for at a terminal if not given; not with --headless)"
    )
    serve.add_argument(
        "--headless", action="store_true", help="relay only: do not take part; log joins, leaves, kicks, bans and mutes (the host's --name, --identity, "
        "--plain, --no-typing, --projector and --downloads are refused)"
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
        "--max-file-mb", type=_positive, default=50, metavar="N", help="largest file anyone may /send, in MiB (2**20 bytes; default 50)"
    )
    serve.add_argument(
        "--quota-mb", type=_positive, metavar="N", help="most one person may have on offer at once, in MiB (default 4 x --max-file-mb)"
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
        "history-PORT.sqlite3, e.g. ~/.local/share/lanchat/history-3580.sqlite3 on Linux; --port 0: the port it "
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    connect.add_argument(
        "host",
        nargs="?",
        default=None,
        metavar="HOST",
        help="the server's address: HOST, HOST:PORT or [IPV6]:PORT, or the name of a room announced on the local "
        "network (default: this machine, else a room found on the local network)",
    )
    connect.add_argument("port_arg", nargs="?", type=_port, metavar="PORT", help="the server's port (default 3580)")
    connect.add_argument("--port", type=_port, default=None, help="the server's port (default 3580)")
    connect.add_argument("--unix", metavar="PATH", type=_socket_path, help="connect to an AF_UNIX socket file instead of TCP")
    connect.add_argument(
        "--server-owner",
        metavar="USER",
        help="with --unix: the user expected to run the server (default: you); "
        "a warning is shown when another user's program is listening on the path (checked on Linux only)",
    )
    connect.add_argument("--name", type=_name, help="your name in the chat (asked for at a terminal if not given)")
    connect.add_argument("--plain", action="store_true", help="line mode without the full-screen interface")
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    rooms = commands.add_parser(
        "rooms",
        help="list the rooms announced on the local network",
        description="Look for lanchat rooms on the local network (DNS-SD over multicast DNS)\nand list them.",
        epilog=ROOMS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rooms.add_argument("--wait", type=_listen_seconds, default=2.0, metavar="S", help="how long to listen, in seconds (default 2)")
    rooms.add_argument("--json", action="store_true", help="one JSON list, for scripts")

    doctor = commands.add_parser(
        "doctor",
        help="check what stands between this machine and a chat",
        description="Check the network, the port, a server, the firewall, room discovery, the\nlocale, the "
        "terminal and the data folder; each problem comes with a fix.\nExit status 1 when something is wrong.",
        epilog=DOCTOR_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument("host", nargs="?", default=None, metavar="HOST", help="a server to check: HOST, HOST:PORT or [IPV6]:PORT, or a room's name as `lanchat rooms` lists it")
    doctor.add_argument("port_arg", nargs="?", type=_port, metavar="PORT", help="its port (default 3580)")
    doctor.add_argument("--port", type=_port, default=None, help="the port to check (default 3580)")
    doctor.add_argument("--wait", type=_seconds, default=2.0, metavar="S", help="how long to look for rooms (default 2; 0 skips)")
    doctor.add_argument("--json", action="store_true", help="the findings as one JSON object, for scripts")
    names = commands.add_parser(
        "names",
        help="list or release the names owned by keys in a history file (server stopped)",
        description="Names belong to the first key that used them (docs/PROTOCOL.md, Identity).\n"
        "While the server is stopped, list them or release one whose owner lost\ntheir key.",
        epilog="examples:\n  lanchat names list\n  lanchat names list chat.sqlite3\n  lanchat names release cat --port 4000\n"
        "  lanchat names release cat chat.sqlite3      (or --history chat.sqlite3)\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names.add_argument("action", choices=("list", "release"), metavar="{list,release}",  # errors say the metavar
                       help="list: every owned name; release: free NAME")
    names.add_argument("name", nargs="?", metavar="NAME", help="the name to release")
    names.add_argument("path", nargs="?", type=_file_path, metavar="PATH",
                       help="the history file, as `lanchat history PATH` takes it (the same as --history PATH)")
    names.add_argument("--history", type=_file_path, metavar="PATH", help="the history file (default: the one 'serve' uses on --port/--unix)")
    names.add_argument("--port", type=_port, default=3580, help="the room's port, to find its default history (default 3580)")
    names.add_argument("--unix", metavar="PATH", type=_socket_path, help="the room's AF_UNIX socket, to find its default history")
    key = commands.add_parser(
        "key",
        help="show your identity key's fingerprint (to give to serve --operator, or compare with /whois)",
        description="Print the fingerprint of your identity key (made on first use), e.g. for\n"
        "'lanchat serve --operator KEY', which makes only that key an operator, under\nany name.",
        epilog="examples:\n  lanchat key\n  lanchat key --identity ~/usb/identity.key\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    forget.add_argument("host", metavar="HOST", help="the address as connect took it: HOST, HOST:PORT or [IPV6]:PORT; or a room's name")
    forget.add_argument("port_arg", nargs="?", type=_port, metavar="PORT", help="its port (default: every port)")
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


# ------------------------------------------------------------------- helpers


def _fail(message: str, code: int = 1) -> int:
    _say(f"{PROG}: {message}")
    return code


def _say(message: str, stream=None) -> None:  # noqa: ANN001 - sys.stderr (the default) or sys.stdout
    """A line (or a few) printed outside the chat screen: an error, a notice, a question's
    preamble. Made harmless (_terminal_safe), then folded at spaces to the width of the terminal
    it goes to, with commands and fingerprints kept whole (textfold.py): a terminal cuts a long
    line mid-word, back at column 0, on the very projector a class reads it from."""
    out = sys.stderr if stream is None else stream
    lines = fold_lines(_terminal_safe(message).split("\n"), _stream_columns(out))
    print("\n".join(lines), file=out, flush=True)


def _terminal_safe(message: str) -> str:
    """Every message printed outside the chat view passes here: it may quote a server or a
    file, and no byte from those may drive the terminal (an OSC retitles it, a DSR request
    makes it type into the shell). Line breaks stay; everything else is made visible."""
    return "\n".join(visible(line) for line in message.split("\n"))


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


class PasswordsDiffer(Exception):
    """``serve --password``: the password and its confirmation differed at every try."""


class PromptCancelled(Exception):
    """Ctrl-C or Ctrl-D at a prompt (a name, a password): the user chose not to go on (not a
    refusal, not a mistake to explain)."""

    def __init__(self, interrupted: bool) -> None:
        super().__init__("interrupted" if interrupted else "no name given")
        self.interrupted = interrupted


def login_name() -> str | None:
    """The user's login name, when it is a usable chat name (the name prompt's default)."""
    import getpass

    from .events import name_problem

    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in the environment or the password database
        return None
    return name if name and name_problem(name) is None else None


class _NameAsker:
    """join()'s ask_name: another name after a refusal, never offering the one just refused."""

    def __init__(self, first: str) -> None:
        self.last = first

    def __call__(self, reason: str) -> str:
        self.last = _ask_name(reason, refused=self.last)
        return self.last


def _ask_name(reason: str | None = None, *, refused: str | None = None) -> str:
    """Ask at the terminal until a usable name is typed. ``reason``: why the server refused
    the last one (``refused``), said once (a second bad name says only its own problem). Enter
    alone takes the login name, unless that is the name just refused: Enter would only send it
    again (on one machine, the host's own name). Ctrl-C or Ctrl-D raises PromptCancelled."""
    from .askpass import ask_line
    from .events import name_key, name_problem

    default = login_name()
    if default and refused and name_key(default) == name_key(refused):
        default = None
    if reason:
        _say(reason, sys.stdout)  # the server's words: shown, never obeyed
    label = "Another name" if reason else "Your name"
    prompt = f"{label} (Enter: {default}): " if default else f"{label}: "
    while True:
        try:
            name = ask_line(_terminal_safe(prompt)).strip()
        except (EOFError, KeyboardInterrupt) as exc:
            print()
            raise PromptCancelled(isinstance(exc, KeyboardInterrupt)) from None
        if not name and default:
            return default
        problem = name_problem(name)
        if problem is None:
            return name
        _say(f"  {problem}; try again.", sys.stdout)


def _resolve_name(args: argparse.Namespace, role: str) -> str | None:
    if args.name:
        return args.name
    if sys.stdin.isatty():
        return _ask_name()
    _say(f"{PROG} {role}: error: --name NAME is required when input is not a terminal")
    return None


def _cancelled(exc: PromptCancelled, outcome: str = "not joining") -> int:
    """Leaving at a prompt: 130 for Ctrl-C, as shells report it; 1 for Ctrl-D (the rule for every
    prompt before the chat: a name, a room to join, a fingerprint to trust)."""
    _say(f"{PROG}: {exc}: {outcome}")
    return 130 if exc.interrupted else 1


def _make_frontend(session, plain: bool, stops=None, banner_rows=None):  # noqa: ANN001, ANN202
    """The full screen, else line mode; ``stops`` (stopsignals.py): line mode's writes to a reader
    that stopped reading give up when a signal insists on leaving; ``banner_rows`` (the host's):
    the rows serve's start lines took, still in sight below a short replay? (client.said_above)"""
    from .ui.plain import PlainFrontend

    if not plain:
        try:
            from .ui.screen import CursesFrontend

            return CursesFrontend(session, stopping=stops)
        except Exception as exc:  # noqa: BLE001 - no curses here, or a terminal it cannot drive
            _say(f"{PROG}: the full-screen interface is not available ({exc}); using line mode")
    frontend = PlainFrontend(session)
    frontend.stops, frontend.banner.rows = stops, banner_rows
    return frontend


def _log_crash(exc: BaseException) -> str:
    """Write an internal error's traceback to a log file; return where, for one line on screen."""
    import traceback

    from .ui.screen import crash_log_path

    path = crash_log_path()
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write("".join(traceback.format_exception(exc)) + "\n")
    except OSError:
        return "(the log file could not be written)"
    return str(path)


def _install_signals(handler) -> None:  # noqa: ANN001
    """The headless server's SIGTERM and SIGHUP: ``handler``, a request to shut down (signal-safe)."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: handler())
    signal.signal(signal.SIGHUP, lambda *_: handler())


def _hold_signals_for_good() -> None:
    """The process is ending with everything said: Ctrl-C, SIGTERM, SIGHUP, SIGQUIT wait (blocked) from
    now on. Python puts the default handlers back as it shuts down, and one arriving then would
    only cut that short (killed by it, or a traceback); one caught just before is dropped. Nothing
    left to do can block (a client's last line gave up on a reader gone: stopsignals.write_out).
    Off POSIX: nothing."""
    import signal

    from .stopsignals import STOP_SIGNALS

    if hasattr(signal, "pthread_sigmask"):
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
        except KeyboardInterrupt:  # a Ctrl-C caught just before, raised as the mask changed
            pass


# --------------------------------------------------------------------- serve


def cmd_serve(args: argparse.Namespace) -> int:
    from .gate import Gate
    from .room import Room
    from .transport import DEFAULT_PORT, Endpoint, TransportError, listen, reachable_addresses

    if args.port is not None and args.port_arg is not None and args.port != args.port_arg:
        return _fail(f"two different ports given ({args.port_arg} and --port {args.port})", 2)
    port = args.port if args.port is not None else (args.port_arg if args.port_arg is not None else DEFAULT_PORT)
    if args.unix and (args.port is not None or args.port_arg is not None or args.host):
        return _fail("--unix cannot be combined with a TCP port or --host", 2)
    if args.bot_seed is not None and not args.bot:
        return _fail("--bot-seed needs --bot colour", 2)
    if args.headless and (refused := _for_the_host(args)):
        return _fail(refused, 2)
    if args.once and not args.headless:  # with a host there, the last person never leaves
        return _fail("--once needs --headless: the host is always in the room, so the last person never leaves", 2)
    if args.bot:
        import importlib.util

        if importlib.util.find_spec("faker") is None:  # checked before listening: fail with nothing to undo
            return _fail("the colour bot needs the faker package: pip install faker")
    if args.no_history and (refused := _with_no_history(args)):  # the teacher would think them in effect
        return _fail(refused, 2)
    if args.tls_dir and not args.tls:
        return _fail("--tls-dir is where --tls keeps its certificate: add --tls", 2)
    if args.max_per_address is not None and args.no_limits:  # the teacher would think a cap in effect
        return _fail("--max-per-address sets a connection cap that --no-limits lifts: give one or the other", 2)
    typed_host = args.host
    if args.host and not args.unix:  # a name is looked up once, bounded and said (lookup.py); listen() takes its address
        address = _listen_address(args.host, port)
        if isinstance(address, int):
            return address
        args.host = address
    # what a refusal to listen adds, whichever port: ('printer' is 192.0.2.99)
    named = f" ({quoted(typed_host)} is {args.host})" if typed_host != args.host else ""
    if not args.unix and port != 0:
        # The port first, before anything is asked or made: a port in use (the room already
        # running in another window) was said only after a name and the password typed twice,
        # and left an empty history-PORT file behind. Listening for real waits until the end:
        # students connecting while the teacher types are refused and retry, never left waiting.
        try:
            listen(Endpoint(host=args.host, port=port)).close()
        except TransportError as exc:
            return _fail(str(exc) + named)
    name = None
    key = None
    if not args.headless:
        try:
            name = _resolve_name(args, "serve")
        except PromptCancelled as exc:
            return _cancelled(exc, "no room was started")
        if name is None:
            return 2
        key = _load_identity(args)
        if key is None:
            return 1
    room_password = None
    password_text: str | None = None
    password_from_env = False
    if args.password:
        import os

        from .identity import SALT_BYTES, RoomPassword

        password_from_env = bool(_env_password())  # (as _password_from_user reads it)
        try:
            password_text = _password_from_user("Room password: ", confirm=True)
        except PasswordsDiffer as exc:
            return _fail(str(exc), 2)
        except PromptCancelled as exc:
            return _cancelled(exc, "no room was started")
        if not password_text:
            empty = "LANCHAT_PASSWORD is set but empty" if _env_password() == "" else None
            if sys.stdin.isatty():
                asked = f"type one when asked ({empty})" if empty else "type one when asked, or set LANCHAT_PASSWORD"
            else:
                asked = f"input is not a terminal, so none could be asked for; {empty or 'set LANCHAT_PASSWORD'}"
            return _fail(f"--password needs a password: {asked}", 2)
        # The slow KDF runs here, once, before the loop: each join then costs one HMAC.
        room_password = RoomPassword.create(password_text, os.urandom(SALT_BYTES))
    store = None
    listener = None
    if not args.no_history:
        # Opened before listening: a damaged file is refused with nothing to undo, and it is
        # never replaced by a new, empty one (PROTOCOL.md, History replay).
        from .history import HistoryBusy, HistoryDiskFull, HistoryStore, HistoryUnusable, default_path

        if port == 0 and not args.unix and not args.history:
            # `--port 0`: the file is named by the port the system picks, the one the banner
            # prints and a restart on it finds; not one history-0 file that every such room
            # shares (a second one at once refused, a later one replaying another's lesson)
            try:
                listener = listen(Endpoint(host=args.host, port=0))
            except TransportError as exc:
                return _fail(str(exc) + named)
            port = listener.getsockname()[1]
        history_at = {"unix": args.unix} if args.unix else {"port": port}
        history_path = Path(args.history) if args.history else default_path(**history_at)
        if args.history and (missing := _no_folder_for(history_path, "the history file")):
            return _fail(f"{missing}\n  plug the drive in or create the folder, choose another file with --history PATH, or start with --no-history")
        try:
            store = HistoryStore(history_path)
        except HistoryBusy as exc:  # another server on this file: it says what to do instead
            if not args.unix and listener is None:  # a second `serve` on the same port (the default file is per port):
                try:  # name the port, where another --history would only lead to "port in use"
                    listen(Endpoint(host=args.host, port=port)).close()
                except TransportError as taken:
                    return _fail(str(taken) + named)
            return _fail(str(exc))
        except HistoryDiskFull as exc:  # nothing wrong with the file: moving it aside would not help
            return _fail(f"{exc}\n  free some space there, or choose another file with --history PATH, or start with --no-history")
        except HistoryUnusable as exc:
            return _fail(f"{exc}\n  {_history_advice(history_path)}")
    tls_context = tls_fingerprint = None
    binding = b""  # with TLS: what every signature must cover (identity.sign_challenge)
    if args.tls:
        from .tls import TlsError, default_folder, ensure_certificate, make_key_private, server_context

        try:
            cert, cert_key, made = ensure_certificate(Path(args.tls_dir) if args.tls_dir else default_folder())
            made_private = make_key_private(cert_key)
            tls_context, tls_fingerprint = server_context(cert, cert_key)
        except TlsError as exc:
            return _fail(str(exc))
        if made_private:
            _log_out("\n".join(fold_lines([_terminal_safe(f"{PROG}: {made_private}")], _terminal_columns())))
        from .tls import channel_binding

        binding = channel_binding(tls_fingerprint)
        if made:
            # (as the banner after it: a log on a full disk says so and goes on, never a traceback)
            _log_out("\n".join(fold_lines([_terminal_safe(f"{PROG}: {made}")], _terminal_columns())))
    args.mode, mode_lines = _room_mode(args.mode, store)  # (the announcer reads args.mode too)
    turn_timeout, timeout_lines = _turn_timeout(args)
    try:
        listener = listener or listen(Endpoint(host=args.host, port=port, path=args.unix))
    except TransportError as exc:
        return _fail(str(exc) + named)

    import os

    from .room import resume_token
    from .server import Server

    owners, owner_names = store.owners_and_names() if store else (None, [])
    kept_operators = store.operator_keys() if store else []
    started = _time.time()
    bans, mutes = (store.bans(), store.mutes(started)) if store else ([], [])
    room = Room(
        resume_tokens=resume_token,
        operators=args.operator,
        mode=args.mode,
        max_members=args.max_clients,
        history=store is not None,
        replay=args.replay,
        known_names=store.known_names() if store else (),
        bans=bans,  # bans survive a restart (PROTOCOL.md, Moderation)
        mutes=mutes,  # and so do mutes, less the time the server was down
        operator_keys=[key for key, _name in kept_operators],  # and operators given with /op (by key), and the topic
        topic=store.room_topic() if store else None,
        turn_timeout=turn_timeout,
        gate=Gate(clock=_time.time, owners=owners, owner_names=owner_names, password=room_password, binding=binding),
        address_groups=_address_groups(),
        own_user=os.getuid() if hasattr(os, "getuid") else None,  # bans on this machine hold by user, but ours
    )
    room.answers_pings = True  # a client asks, after a quiet spell, whether the room is there (PROTOCOL.md, Liveness)
    if args.max_per_address is not None:  # a class behind one NAT: each may own their name (gate.py)
        room.gate.names_per_address = max(room.gate.names_per_address, args.max_per_address)
    if store is not None:  # keys seen in earlier runs: a ban behind a NAT lets those classmates in (moderation.py)
        from .history_upkeep import DAY_SECONDS

        forget = started - args.keep_days * DAY_SECONDS if args.keep_days is not None else None
        room.moderation.seen_keys.remember(key for key, _place, _time in store.seen_keys(before=forget))
    log = _headless_log if args.headless else None
    files = _server_files(args, log, first_id=store.next_file_id() if store else 1)
    server = Server(
        [listener], room, log=log, unix_path=args.unix, once=args.once, history=store, files=files, tls=tls_context,
        limits=not args.no_limits, keep_history=(args.keep_days, args.max_history_mb),
        connection_limits=_connection_limits(args.max_per_address, room),
    )  # fmt: skip
    if args.bot:
        from .bots import start_colour_bot

        start_colour_bot(server.add_local, seed=args.bot_seed, log=log)  # joins as soon as the loop runs
    where = reachable_addresses(listener)
    mode_text = "turn-based" if args.mode == "turn" else "full-duplex"
    pin = f" --fingerprint {tls_fingerprint}" if tls_fingerprint else ""
    if args.unix:
        banner = _unix_banner(args.unix, mode_text, pin)
    else:
        banner = _join_banner(where, mode_text, listener.getsockname()[1], pin, password=room_password is not None)
    joins = len(banner)  # the banner's lines that name addresses (a new one rewrites them: _tell_the_host)
    if tls_fingerprint:
        from .tls import short_form

        banner.append(f"  TLS: every connection is encrypted; the server's fingerprint is {tls_fingerprint}")
        banner.append(f"  in short, for the board: {short_form(tls_fingerprint)} (a student's first join shows it to compare)")
    if room_password is not None:
        banner.append("  a password is needed to join (people are asked for it, or set LANCHAT_PASSWORD)")
    how_to_join = len(banner)  # the lines /address says again; the rest are said at start only
    banner += mode_lines + timeout_lines
    if password_from_env:  # left set in the shell, it was taken without a prompt: the teacher must know whose
        banner.append("  the password is the one in LANCHAT_PASSWORD (so it was not asked for); unset it to be asked")
    if store is not None and store.skipped:  # its bans, mutes, owners or names (history_rows.py)
        banner.append(f"  history: left out {_entries(store.skipped)} of {store.path}: not as lanchat writes them")
    if args.bot:
        banner.append("  colourbot is here: it asks each person's mood and suggests a colour (/mood, /y, /n)")
    host_news = None if args.headless else _HostNews()  # the host's screen: new addresses, a renamed room
    announcer, announce_line = _announcer(
        args, listener, name, log, password=room_password is not None, fingerprint=tls_fingerprint,
        renamed=host_news.renamed if host_news is not None else None, news=host_news.say if host_news is not None else None,
    )
    if announce_line:
        banner.insert(how_to_join, announce_line)
        how_to_join += 1
    banner += _operator_lines(
        args.operator, room.gate.owner_of, kept=store is not None, host=None if args.headless else name, host_key=key
    )
    from .moderation import bans_serve_operator_lifts

    lifted = bans_serve_operator_lifts(room)
    banner += _kept_lines(kept_operators, room.topic) + _kept_moderation_lines(bans, mutes, started, lifted)
    if store is None:
        banner.append("  history: off (--no-history): nothing is saved")
    else:
        banner.append(f"  history: {store.path} (the last {args.replay} messages are replayed on joining)")
        banner += _holdings_line(store, args)
        if not store.writable:
            banner.append(
                f"  warning: cannot write the history ({store.readonly_reason}): earlier messages are replayed, "
                "new ones are not saved"
            )
    # (the paths in it are the user's: a byte that is not UTF-8 shown as \xe9, an escape as ^[, never sent raw)
    columns = _terminal_columns()
    shown = "\n".join(fold_lines([_terminal_safe(line) for line in banner], columns))
    if args.headless:  # the log's first day line after it (_headless_log)
        from .log_output import LOG

        LOG.write_dated(lambda now: shown, day_after=True)
    else:
        _log_out(shown)

    if args.headless:
        _install_signals(lambda: server.request_shutdown("the server was stopped"))
        import signal

        for stop in (signal.SIGINT, getattr(signal, "SIGQUIT", signal.SIGINT)):  # Ctrl-C and Ctrl-\ alike
            signal.signal(stop, lambda *_: server.request_shutdown("the server was stopped"))
        if announcer is not None:
            announcer.start()
        _follow_addresses(listener, where, server.stopped, announcer=announcer, log=log, pin=pin)
        try:
            server.serve_forever()
        finally:
            if announcer is not None:
                announcer.close()
        if store is not None:
            store.close()
        _log_out(f"{PROG}: server stopped")
        return 0

    from .transport import local_pair

    host_end, server_end = local_pair()
    host_cid = server.add_local(server_end, host=True)
    from .stopsignals import start_thread

    start_thread(server.serve_forever, "lanchat-server")  # stop signals are the host's screen's (main thread)
    where_text = (args.unix or (where[0] if where else f"port {port}")) + (" (TLS)" if tls_context is not None else "")
    intro = [line for line in banner[how_to_join:] if not line.lstrip().startswith("history:")]
    address_lines = banner[:how_to_join]  # (/address: how others join, for the projector)
    news = host_news or _HostNews()  # the host's screen is told when this machine's addresses change
    news.shown(where_text, address_lines)
    if announcer is not None:
        announcer.start()
    moved = _tell_the_host(news, address_lines[joins:], mode_text, pin, tls=tls_context is not None, password=room_password is not None)
    _follow_addresses(listener, where, server.stopped, announcer=announcer, moved=moved)
    from .ui.plain import rows_on_screen

    try:
        return _run_participant(
            host_end,
            name,
            role="host",
            where=where_text,
            plain=args.plain,
            downloads=args.downloads,
            # the host's /q, /q! and Ctrl-C end the lesson: students stop waiting (PROTOCOL.md 8);
            # a SIGTERM or SIGHUP (a closed window, a reboot) may be followed by a restart
            on_quit=lambda: server.request_shutdown("the host closed the chat", final=True),
            on_stop=lambda: server.request_shutdown("the server was stopped"),
            fetching=lambda: server.hub.files.fetching_but(host_cid),  # /q's question: who is downloading what
            key=key,
            password=(lambda: password_text),
            binding=binding,  # the host's socketpair has no TLS, but the room expects its certificate
            after=lambda: _close_history(server, store),
            intro=(address_lines, intro),
            banner_rows=rows_on_screen(shown + "\n", columns) if store is not None else None,  # (--plain: in sight below the replay? none without history)
            kept_topic=room.topic.text if room.topic is not None else "",  # said in the start lines (_kept_lines)
            no_typing=args.no_typing,
            projector=args.projector,
            news=news,
        )
    finally:
        news.close()
        if announcer is not None:
            announcer.close()


def _listen_address(host: str, port: int) -> str | int:
    """serve --host NAME: the address it names, looked up once (lookup.look_up: said after a
    second, given up after ten, where the resolver alone waited 20 s and more without a word), or
    an exit code after one line. An address is taken as it is."""
    from .lookup import is_address, look_up

    if host == "*" or is_address(host):  # ("*": every interface, as "" is: transport.listen_tcp)
        return host
    try:
        found = look_up(host, port, passive=True, say=lambda text: _say(f"{PROG}: {text}"))
    except KeyboardInterrupt:  # said, as Ctrl-C while the rooms are looked for is (it ended in a bare 130)
        print()
        return _cancelled(PromptCancelled(interrupted=True), "no room was started")
    if not found.addresses:
        return _fail(f"--host {quoted(host)} {found.problem}; give one of this machine's addresses "
                     "(`lanchat doctor` lists them), or leave --host out to listen on every one")  # fmt: skip
    return _found_at(found.addresses)[0]  # (a link-local one with its zone, as connect takes it)


# serve's options for the host, the person at the terminal, and what to use in a --headless room,
# which has none: each was taken and ignored there, so a teacher believed it in effect.
FOR_THE_HOST = (
    ("name", "--name", "is the host's name in the chat", "the room is named with --room NAME"),
    ("identity", "--identity", "is the host's key", "operators are named with --operator KEY"),
    ("plain", "--plain", "is the host's line mode", "the server writes its log one line each"),
    ("no_typing", "--no-typing", "is for the host's screen", "each person chooses with connect --no-typing"),
    ("projector", "--projector", "is for the host's screen", "join it with connect --projector"),
    ("downloads", "--downloads", "is where the host's /get saves", "each person chooses with connect --downloads"),
)


def _for_the_host(args: argparse.Namespace) -> str | None:
    """Why ``serve --headless`` refuses the host's options it was given (FOR_THE_HOST), or None."""
    given = [(option, what, instead) for dest, option, what, instead in FOR_THE_HOST if getattr(args, dest)]
    if not given:
        return None
    option, what, instead = given[0]
    also = f" (nor {', '.join(o for o, _w, _i in given[1:])})" if len(given) > 1 else ""
    return f"{option} {what}, and a --headless room has no host{also}: leave {'them' if also else 'it'} out ({instead})"


# serve's options that work on the history, and what each does, which --no-history (no history at
# all) would silently undo: the teacher would think a term's messages kept, or replayed.
ON_THE_HISTORY = (
    ("--history", "keeps the history in that file"),
    ("--keep-days", "drops old messages from the history"),
    ("--max-history-mb", "caps the history's size"),
    ("--replay", "replays the history to each person joining"),
)


def _with_no_history(args: argparse.Namespace) -> str | None:
    """Why ``serve --no-history`` refuses the history's options it was given (typed, even as
    their default: _Given), or None."""
    typed = getattr(args, "given", ())
    given = [(option, what) for option, what in ON_THE_HISTORY if option.removeprefix("--").replace("-", "_") in typed]
    if not given:
        return None
    option, what = given[0]
    also = f" (nor {', '.join(o for o, _w in given[1:])})" if len(given) > 1 else ""
    return f"{option} {what}, and --no-history keeps none{also}: leave out one or the other"


# A headless room with no --operator has nobody who can /pass a turn: without a timeout, the first
# student to join could hold the turn (and the room) silently until the server is restarted.
HEADLESS_TURN_SECONDS = 120.0


def _turn_timeout(args: argparse.Namespace) -> tuple[float | None, list[str]]:
    """--turn-timeout, or HEADLESS_TURN_SECONDS for a headless room that names no operator, and
    the start line that says so in a turn-based room (None: a turn waits for the host's /pass)."""
    if args.turn_timeout is not None or not args.headless or args.operator:
        return args.turn_timeout, []
    lines = []
    if args.mode == "turn":
        lines.append(f"  a turn nobody takes moves on after {HEADLESS_TURN_SECONDS:g} s: nobody here can /pass it "
                     "(--turn-timeout SECONDS to choose, --operator NAME|KEY for someone who can)")  # fmt: skip
    return HEADLESS_TURN_SECONDS, lines


def _room_mode(asked: str | None, store) -> tuple[str, list[str]]:  # noqa: ANN001
    """The room's mode and what the host's start lines say of it: --mode if given, else the
    mode /mode left the room in when it last ran with this history (kept by actions.KeepMode),
    else duplex. The mode chosen is kept, so the next start without --mode resumes it."""
    kept = store.room_mode() if store is not None else None
    mode = asked or kept or "duplex"
    lines = []
    texts = {"turn": "turn-based", "duplex": "full-duplex"}
    if asked is None and kept == "turn":  # not the default: say why, and how to start otherwise
        lines.append("  mode: turn-based, as /mode left this room when it last ran (serve --mode duplex starts full-duplex)")
    elif asked is not None and kept is not None and kept != asked:
        lines.append(f"  mode: {texts[asked]} as --mode {asked} asks; /mode had left this room {texts[kept]}")
    if store is not None and store.writable and asked is not None and asked != kept:  # the room's mode now
        import contextlib

        from .history import HistoryWriteError

        with contextlib.suppress(HistoryWriteError):
            store.set_room_mode(mode)
    return mode, lines


def _announcer(args: argparse.Namespace, listener, name: str | None, log, *, password: bool = False,  # noqa: ANN001, ANN202
               fingerprint: str | None = None, renamed: Callable[[str, str, str], None] | None = None,
               news: Callable[[str], None] | None = None):
    """The room's announcement on the local network (discovery.py), not started yet, and its banner line.

    Nothing is announced for an AF_UNIX socket, for a server only this machine can reach
    (--host 127.0.0.1), or with --no-announce. A room on every address of a machine that has no
    address yet but loopback (the laptop not on the Wi-Fi yet) is announced once it has one
    (_follow_addresses moves the announcer there; ``start`` waits for it). ``password``: joining
    needs one; ``fingerprint``: the TLS certificate's, for clients to pin (docs/PROTOCOL.md, Finding rooms);
    ``renamed(asked, announced_as, notice)``: the host's screen told that another room had the name;
    ``news(notice)``: the host's screen told something else (another machine with this room's certificate)."""
    if args.unix or args.no_announce:
        return None, None
    import ipaddress
    import socket

    host = listener.getsockname()[0]
    every = host in ("::", "0.0.0.0")
    addresses = _to_announce(listener) if every else [] if ipaddress.ip_address(host.split("%")[0]).is_loopback else [host]
    if not addresses and not every:
        return None, None  # (discovery, zeroconf and their imports are left out: an idle server's memory)
    from .discovery import Announcer, clean_room_name

    machine = clean_room_name(socket.gethostname().split(".")[0]) or "lanchat"
    room = args.room or clean_room_name(f"{name or machine}'s room")

    said: set[str] = set()  # a renamed room is said once per name (a move announces it again)

    def done(announced_as: str | None, problem: str | None) -> None:
        # Another room had the name (the class next door's, a prank): multicast DNS added "-2", and
        # students typing the name from the board joined the other room. Said, with the name to type.
        if announced_as is not None and announcer.renamed and announced_as not in said:
            said.add(announced_as)
            _say_renamed(room, announced_as, log, renamed)
            return
        if log is None:
            return  # the host's full screen is up by now; the banner said what to expect
        if problem:
            log(f"could not announce the room on the local network ({problem}); people join with the address")
        else:
            log(f"announced as {_room_said(announced_as or room)} on the local network")

    announcer = Announcer(
        room=room,
        port=listener.getsockname()[1],
        addresses=addresses,
        host=machine,
        mode=args.mode,
        password=password,
        fingerprint=fingerprint,
        on_done=done,
        on_clone=_clone_said(args.tls_dir, log, news) if fingerprint else None,
    )
    if not addresses:
        return announcer, (f"  this machine has no network address yet: {_room_said(room)} is announced on the local network once "
                           "it has one (--no-announce to stay quiet)")
    return announcer, f"  announcing {_room_said(room)} on the local network: `lanchat connect` finds it (--no-announce to stay quiet)"


def _clone_said(tls_dir: str | None, log, news) -> Callable:  # noqa: ANN001 - _announcer's
    """Announcer.on_clone for a TLS room: machines installed from one school image share its TLS
    certificate and key, and each can pass for the other's room, fingerprint and all. Said once
    (a move watches again), in the headless ``log`` or on the host's screen (``news``)."""
    said: list[str] = []

    def clone(other) -> None:  # noqa: ANN001 - a discovery.RoomInfo
        if said:
            return
        from .tls import default_folder

        said.append(other.where)
        warning = (f"warning: another machine announces a room with this room's TLS certificate: {_room_said(other.name)} "
                   f"at {other.where} (host {other.host or '?'}); a cloned school image, or a copied tls-key.pem? Either can "
                   f"pass for the other's room. On one of them, move tls-cert.pem and tls-key.pem aside (in "
                   f"{tls_dir or default_folder()}) and start again: a new certificate is made; give the class its new short form")
        if log is not None:
            log(warning)
        elif news is not None:
            news(warning)

    return clone


def _say_renamed(room: str, announced_as: str, log, renamed) -> None:  # noqa: ANN001 - _announcer's
    """The room is announced as ``announced_as``, not ``room``: said in the headless log, or on
    the host's screen (``renamed``), with the name students type to join it by name."""
    join = f"`lanchat connect {shell_word(announced_as)}`"
    if log is not None:
        log(f"announced as {_room_said(announced_as)} on the local network: another room here is called {_room_said(room)} "
            f"already, so {join} joins this one by name (choose another name with --room NAME)")
    elif renamed is not None:
        renamed(room, announced_as, f"another room on this network is called {_room_said(room)} already: this one is "
                f"announced as {_room_said(announced_as)}; {join} joins it by name (or choose another name with --room NAME)")


def _room_said(room: str) -> str:
    """A room's name in quotes, as it was typed and is listed: repr() wrote a backslash twice
    (--room 'ann\\bob' was "announcing 'ann\\\\bob'"). A room name holds no control character
    (discovery.room_name_problem); a typed one that does is quoted with its escapes."""
    quote = next((mark for mark in "'\"" if mark not in room), None)
    return f"{quote}{room}{quote}" if quote and visible(room) == room else quoted(room)


class _HostNews:
    """client.LocalNews for the host's screen (serve's threads post, the host's loop takes), which
    also says that the room is announced under another name than --room's (``renamed``): the
    notice, and /address's announce line with the name announced, kept in later news too."""

    def __init__(self) -> None:
        import threading

        from .client import LocalNews

        self._news = LocalNews()
        self._guard = threading.Lock()
        self._shown: tuple[str, tuple[str, ...]] = ("", ())  # the status line's address, /address's lines
        self._names: tuple[str, str] | None = None  # (asked, announced as), once renamed

    def shown(self, where: str, join_lines: list[str]) -> None:
        """What the host's screen starts with (before any news is posted)."""
        with self._guard:
            self._shown = (where, tuple(join_lines))

    def fileno(self) -> int:
        return self._news.fileno()

    def take(self) -> list:
        return self._news.take()

    def close(self) -> None:
        self._news.close()

    def post(self, news) -> None:  # noqa: ANN001 - a session.MachineMoved
        import dataclasses

        with self._guard:
            if self._names is not None:
                asked, announced = (repr(name) for name in self._names)
                lines = tuple(line.replace(asked, announced) if "on the local network" in line else line
                              for line in news.join_lines)  # fmt: skip
                news = dataclasses.replace(news, join_lines=lines)
            self._shown = (news.where, news.join_lines)
        self._news.post(news)

    def renamed(self, asked: str, announced_as: str, notice: str) -> None:
        with self._guard:
            self._names = (asked, announced_as)
        self.say(notice)  # (the join lines then say the name announced: post)

    def say(self, notice: str) -> None:
        """A line for the host's screen, the address and join lines as they are."""
        from .session import MachineMoved

        with self._guard:
            where, lines = self._shown
        self.post(MachineMoved(where=where, join_lines=lines, notice=notice))


def _to_announce(listener, found: list | None = None) -> list[str]:  # noqa: ANN001
    """The addresses a room listening on every address is announced at now (addresses_to_announce;
    ``found``: this machine's addresses as netinfo.every_address read them, if read already)."""
    import socket

    from .addresses import addresses_to_announce
    from .netinfo import every_address

    ipv6 = listener.family == socket.AF_INET6
    found = every_address() if found is None else found
    # a link-local address is announced without its zone: each joiner has its own (discovery.browse)
    return [a.address.partition("%")[0] for a in addresses_to_announce(found) if ipv6 or a.version == 4]


def _unix_banner(path: str, mode_text: str, pin: str) -> list[str]:
    """`serve --unix`'s first lines: the command to join on a line of its own, as a TCP room's,
    so a 64-column screen does not fold it between `--unix` and the path; the path absolute, so
    the command joins from any folder (`serve --unix mood.sock` said `connect --unix mood.sock`),
    and quoted as a shell reads it (a space in it made the pasted command two words)."""
    import os.path
    import shlex

    path = os.path.abspath(path)
    return [f"lanchat: {mode_text} chat on {path}; join with:", f"  python -m lanchat connect --unix {shlex.quote(path)}{pin}"]


def _join_banner(where: list[str], mode_text: str, port: int, pin: str, *, password: bool) -> list[str]:
    """`serve`'s first lines for a TCP room: how to join it at each address of ``where``
    (transport.reachable_addresses), and with nc (a text participant, PROTOCOL.md; nc cannot speak TLS)."""
    from .addresses import split_host_port

    lines = [f"lanchat: {mode_text} chat listening on port {port}; join with:"]
    for address in where:
        host, port_of = split_host_port(address)
        lines.append(f"  python -m lanchat connect {host} {port_of}{pin}")
    if where and not pin:
        host, port_of = split_host_port(where[0])
        then = "your name and the password, which nc sends unencrypted" if password else "your name"
        lines.append(f"  or type in any terminal: nc {host} {port_of} (then Enter, and {then})")
    return lines


def _others_reach(where: list[str], pin: str = "") -> list[str]:
    """Of ``where`` (host:port, as reachable_addresses says them), the commands that join from
    another machine (loopback left out), with ``pin`` (`` --fingerprint ...``, a TLS room's)."""
    import contextlib
    import ipaddress

    from .addresses import split_host_port

    commands = []
    for address in where:
        host, port = split_host_port(address)
        with contextlib.suppress(ValueError):  # (reachable_addresses gives addresses, never names)
            if ipaddress.ip_address(host.partition("%")[0]).is_loopback:
                continue
        commands.append(f"lanchat connect {host} {port}{pin}")
    return commands


def _tell_the_host(news, rest: list[str], mode_text: str, pin: str, *, tls: bool, password: bool) -> Callable[[list[str]], None]:  # noqa: ANN001
    """What the host's screen is handed when this machine's addresses change (``where``, as
    reachable_addresses says them): the status line's address, /address's lines (the join lines
    of the banner written afresh, then ``rest`` as they were) and the notice to read out."""
    from .addresses import split_host_port
    from .session import MachineMoved

    def moved(where: list[str]) -> None:
        port = split_host_port(where[0])[1] or 0  # (reachable_addresses always says the port)
        commands = " or ".join(f"`{command}`" for command in _others_reach(where, pin))
        news.post(MachineMoved(
            where=where[0] + (" (TLS)" if tls else ""),
            join_lines=(*_join_banner(where, mode_text, port, pin, password=password), *rest),
            notice=f"this machine's address changed: others join with {commands}",
        ))  # fmt: skip

    return moved


ADDRESS_POLL_SECONDS = 3.0  # how often a server looks whether this machine's addresses changed


def _follow_addresses(listener, where: list[str], stopped, *, announcer=None, log=None, moved=None, pin: str = ""):  # noqa: ANN001, ANN202
    """Watch this machine's addresses while the server runs (until ``stopped``), for a room that
    listens on every address (a thread: netinfo reads are cheap, every ADDRESS_POLL_SECONDS).
    When they change (the host's laptop left the Wi-Fi and came back with another lease): the
    room is announced again at the new ones (``announcer``), so the clients following its
    announcement (discovery.RoomWatch) rejoin there; and the new join lines are said, to the
    headless log (``log``) or to the host's screen (``moved(where)``, _tell_the_host), with or
    without an announcement (--no-announce: nobody else can tell the late students).
    ``where``: the addresses the banner said (reachable_addresses); ``pin``: a TLS room's
    `` --fingerprint ...``, as its banner's join lines have it. While the machine has no
    address but loopback nothing is said: the same address may come back."""
    import socket

    from .addresses import addresses_moved
    from .netinfo import every_address
    from .transport import reachable_addresses

    if listener.family == socket.AF_UNIX or listener.getsockname()[0] not in ("::", "0.0.0.0"):
        return None  # a socket file, or bound to one address: the room cannot move

    def run() -> None:
        offered = _others_reach(where, pin)
        announced = list(announcer.addresses) if announcer is not None else []
        first_announced = bool(announced)  # (none yet: the machine had no address when the room started)
        while not stopped.wait(ADDRESS_POLL_SECONDS):
            found = every_address()  # read once a tick, for both lists
            try:
                current = reachable_addresses(listener, found)
                now = _to_announce(listener, found) if announcer is not None else []
            except OSError:  # the listener closed as the server stopped: nothing left to watch
                return
            again = addresses_moved(announced, now)  # (the default route moved to the cable: no move)
            if again:
                announced = now
                announcer.move(now)
            others = _others_reach(current, pin)
            news = addresses_moved(offered, others)
            if news:
                offered = others
            if log is not None and (news or again):
                joins = "; ".join(offered if news else (f"lanchat connect {a} {announcer.port}{pin}" for a in announced))
                announcing = ("announcing the room again; " if first_announced else "announcing the room; ") if again else ""
                log(f"this machine's address changed: {announcing}join with: {joins}")
            first_announced = first_announced or bool(again)
            if news and moved is not None:
                moved(current)

    from .stopsignals import start_thread

    return start_thread(run, "lanchat-addresses")  # (returned for tests)


def _kept_lines(operators: list[tuple[str, str]], topic) -> list[str]:  # noqa: ANN001 - an events.Topic or None
    """What the history kept from the room's last run besides bans, mutes and the mode: the
    operators made with /op (by key; named as they were then) and the topic."""
    lines = []
    if operators:
        names = ", ".join(visible(name) for _key, name in operators)
        lines.append(f"  operators kept from the last run (their keys; /deop NAME takes it back): {names}")
    if topic is not None:
        lines.append(f"  topic kept from the last run (/topic - clears it): {visible(topic.text)}")
    return lines


def _kept_moderation_lines(bans, mutes, now: float, lifted=()) -> list[str]:  # noqa: ANN001 - moderation.Ban and Mute
    """Who is still banned or muted from the room's last run (history.py keeps them), for the
    start lines: the teacher restarting mid-lesson sees what holds and how to lift it. ``lifted``:
    the bans serve --operator lifts as its operator joins (moderation.bans_serve_operator_lifts),
    said apart: listed as kept, the teacher who restarted to get her room back read her own ban
    as holding."""
    import math

    lines = []
    kept = [ban for ban in bans if ban not in lifted]
    if kept:
        names = ", ".join(visible(ban.name or f"#{ban.id}") for ban in kept)
        lines.append(f"  bans kept from the last run (/bans lists them; /unban NAME lifts one): {names}")
    if lifted:
        names = ", ".join(visible(ban.name or f"#{ban.id}") for ban in lifted)
        lines.append(f"  bans from the last run that --operator lifts as its operator joins: {names}")
    if mutes:
        def left(mute) -> str:  # noqa: ANN001
            if mute.until is None:
                return "until /unmute"
            minutes = max(1, math.ceil((mute.until - now) / 60))
            return f"{minutes} more minute{'s' if minutes != 1 else ''}"

        names = ", ".join(f"{visible(mute.name or mute.name_key)} ({left(mute)})" for mute in mutes)
        lines.append(f"  mutes kept from the last run (/unmute NAME lifts one): {names}")
    return lines


def _operator_lines(names: list[str], owner_of, *, kept: bool, host: str | None = None, host_key=None) -> list[str]:  # noqa: ANN001
    """What serve says about each --operator NAME: whose key it needs, or that nobody owns the
    name yet, so the first to join under it will (and become an operator): the teacher, if first.
    The host's own name needs neither: the host joins first and is the operator. A fingerprint
    needs no name at all; the host's own key's (``lanchat key``'s line, passed to the serve she
    hosts) is said to be hers."""
    from .events import name_key
    from .identity import fingerprint_hex, public_bytes, short_fingerprint
    from .moderation import key_id

    own = key_id(public_bytes(host_key)) if host_key is not None else None
    lines = []
    for name in names:
        wanted = fingerprint_hex(name)
        if wanted is not None and own is not None and own.startswith(wanted):
            lines.append(f"  --operator {name}: that is your own key, the host's: you run the room already")
            continue
        if wanted is not None:
            # (16 digits and no letter: a fingerprint, by the one rule, but more likely a student number)
            number = " (16 digits are read as a key's fingerprint: for a student of that number, give their key's)" if wanted.isdecimal() else ""
            lines.append(f"  --operator {name}: whoever joins with the key of that fingerprint, under any name, "
                         f"becomes an operator{number}")
            continue
        if host is not None and name_key(name) == name_key(host):
            lines.append(f"  --operator {name}: that is you, the host: you run the room already")
            continue
        owner = owner_of(name)
        if owner is not None:
            lines.append(
                f"  --operator {name}: whoever joins as {name} with the key that owns it "
                f"({short_fingerprint(owner)}) becomes an operator"
            )
            continue
        forgets = "" if kept else " (with --no-history the server forgets it when it stops)"
        lines.append(
            f"  warning: --operator {name}: nobody owns that name yet; the first to join as {name} "
            f"with an identity key becomes its owner and an operator: join first{forgets}, "
            "or give your key's fingerprint instead (`lanchat key` prints it)"
        )
    return lines


def _address_groups():  # noqa: ANN202
    """What counts as one place for connection caps and bans by address: the networks this
    machine is on now (a class on the server's own IPv6 LAN counts per address, not per /64),
    read when the first stranger's /64 arrives and again at most once a minute after
    (limits.AddressGroups): a server only IPv4 or loopback peers reach never loads psutil."""
    from .limits import AddressGroups
    from .netinfo import local_networks

    return AddressGroups((), refresh=local_networks, clock=_time.monotonic)


def _holdings_line(store, args: argparse.Namespace) -> list[str]:  # noqa: ANN001
    """What the history holds and keeps: ``history: 11.8 MiB, 40,211 messages since 2026-09-01;
    keeping 30 days, at most 1,024 MiB`` (history_upkeep.py drops the rest once the room runs)."""
    import sqlite3

    from .history import HistoryWriteError
    from .history_upkeep import describe_holdings

    try:
        used, count, oldest = store.holdings()
    except (sqlite3.Error, HistoryWriteError):
        return []
    if not store.writable:  # an archive keeps all it has
        return [f"  history: {describe_holdings(used, count, oldest, keep_days=None, max_mb=None)}"]
    return [f"  history: {describe_holdings(used, count, oldest, keep_days=args.keep_days, max_mb=args.max_history_mb)}"]


def _no_folder_for(path: Path, what: str) -> str | None:
    """Why a file the user named cannot be made where they said: its folder is not there, or it is
    a link into a folder that is not (SQLite said only "unable to open database file"). A folder
    the user names is never made (identity.load_or_create_key's rule, for --identity): `--history
    /media/usb/term.sqlite3` with the stick not plugged in made /media/usb on this disk and began
    an empty history there. Only lanchat's own data folder is made, on first use. A link to a file
    not made yet, in a folder that is there, is fine: the file is made through it. None: there is
    something there (a folder, or a file or a folder we may not read, which opening the file names)."""
    import os

    try:
        os.stat(path.parent)
    except FileNotFoundError:
        return f"there is no folder {path.parent} for {what} {path.name} (a drive not plugged in? a typo?)"
    except OSError:  # (a file on the way, a folder we may not search: HistoryStore says which)
        return None
    if not os.path.islink(path):
        return None
    target = Path(os.path.realpath(path))  # (non-strict: follows every link there is, relative ones too)
    try:
        os.stat(target.parent)
    except FileNotFoundError:
        try:
            shown = os.readlink(path)
        except OSError:  # (the link gone meanwhile)
            shown = str(target)
        return f"{path} is a link to {shown}, and there is no folder {target.parent} for it (a drive not plugged in? a typo?)"
    except OSError:  # a link loop, a folder we may not search: HistoryStore says which
        pass
    return None


def _history_advice(history_path: Path) -> str:
    """What to do about a history file serve cannot use: a folder given is not a file to move aside."""
    from os.path import exists, isdir  # (never raise, unlike Path's on a folder we may not read)

    if isdir(history_path):
        return f"give a file inside it, e.g. --history {history_path / 'history.sqlite3'}, or start with --no-history"
    there = "the file was left untouched: move it aside, " if exists(history_path) else ""
    return f"{there}choose another file with --history PATH, or start with --no-history"


def _server_files(args: argparse.Namespace, log, *, first_id: int = 1):  # noqa: ANN001, ANN202
    """The server's file store (server_files.py): limits from the command line, a folder of its own,
    ids going on from the last run's (``first_id``, kept in the history)."""
    from .files import MB
    from .server_files import ServerFiles

    base = Path(args.files_dir) if args.files_dir else None  # None: the data folder, on first use
    quota = args.quota_mb * MB if args.quota_mb else None
    return ServerFiles(base, max_file_bytes=args.max_file_mb * MB, quota_bytes=quota, first_id=first_id, log=log)


def _close_history(server, store) -> None:  # noqa: ANN001
    """After the host's chat: close the history once the server thread no longer uses it."""
    if server.stopped.wait(5) and store is not None:
        store.close()


def _headless_log(text: str) -> None:
    """A headless server's log line, ``[12:00:01] ...``: at a terminal (the Pi on the projector)
    folded under its text; to a pipe or a file one line each, for grep. Its first line, and the
    first of each new day, come after a day line, ``-- Monday 2026-12-07 --`` (log_output.py,
    write_dated: one per day, whichever thread logs first): a school server's log runs for
    weeks, and a ban at ``[10:02:11]`` was said on no day in particular."""
    from .log_output import LOG

    columns = _terminal_columns()

    def stamped(now: _time.struct_time) -> str:
        line = f"[{_time.strftime('%H:%M:%S', now)}] {visible(text)}"
        return "\n".join([line] if columns is None else fold_line(line, columns, " " * 11))

    LOG.write_dated(stamped)


def _log_out(text: str) -> None:
    """``serve``'s banner and a headless server's log, on stdout (log_output.py): a reader gone
    or a full disk never ends the room; lines a full disk refused are counted where it takes
    lines again."""
    from .log_output import LOG

    LOG.write(text)


def _silence(stream) -> None:  # noqa: ANN001
    """``stream``'s reader is gone: what is written to it from now on, and what is still buffered
    (it would fail again as Python exits: "Exception ignored"), goes nowhere."""
    import contextlib
    import os

    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


# ------------------------------------------------------------------- connect


def cmd_connect(args: argparse.Namespace) -> int:
    from .transport import TransportError, connect

    if args.server_owner is not None and not args.unix:  # nothing would check it: a TCP port has no owner to see
        return _fail("--server-owner is checked only with --unix (who runs the server behind a socket file)", 2)
    typed = _typed_pin(args.fingerprint) if args.fingerprint is not None else None
    if isinstance(typed, int):
        return typed
    pinned = typed
    found = _where_to(args)
    if isinstance(found, int):
        return found
    sock, endpoint, announced = found
    if announced is not None:  # a TLS room's announced fingerprint is pinned (Finding rooms)
        pinned = pinned or announced.fingerprint
    try:
        name = _resolve_name(args, "connect")
    except PromptCancelled as exc:
        if sock is not None:
            sock.close()
        return _cancelled(exc)
    key = _load_identity(args) if name is not None else None
    if name is None or key is None:
        if sock is not None:
            sock.close()
        return 2 if name is None else 1
    if sock is None:
        try:
            sock = connect(endpoint)
        except TransportError as exc:
            if exc.refused and not _port_given(args):  # `connect 10.0.0.5` to a room on another port
                return _fail(f"{exc} No port was given, so {endpoint.port} was tried: give the one `serve` printed, "
                             f"`lanchat connect {endpoint.host} PORT`")
            if endpoint.is_unix or exc.refused:  # a refusal is plain: nothing listens there (one line)
                return _fail(str(exc))
            # no answer, no route: the doctor checks what stands between here and there
            return _fail(f"{exc}\n  `lanchat doctor {endpoint.host} {endpoint.port}` says what is in the way")
    if endpoint.is_unix:
        warning = _unix_owner_warning(sock, endpoint.path, args.server_owner)
        if warning:
            _say(f"{PROG}: warning: {warning}")
    tls = bool(args.tls or pinned is not None)
    try:
        return _join_room(args, sock, endpoint, name, key, pinned, tls=tls, found=announced)
    except _ServerUsesTls:
        # `lanchat connect 192.168.1.20 3580` copied from the board, to a TLS room: go on over TLS,
        # its certificate trusted only as with --tls (asked at the terminal, or remembered; a changed
        # one refused). Nothing but the plain hello (a name and a public key) went out before.
        _say(f"{PROG}: {endpoint.describe()} uses TLS: connecting with TLS")
        try:
            sock = connect(endpoint)
        except TransportError as exc:
            return _fail(str(exc))
        return _join_room(args, sock, endpoint, name, key, None, tls=True, found=announced)


def _typed_pin(text: str) -> str | int:
    """--fingerprint as typed: the fingerprint it names, or an exit code after saying why it names none."""
    import re

    from .tls import normalise_fingerprint

    pinned = normalise_fingerprint(text)
    if pinned is None and re.fullmatch(r"(?:[0-9a-fA-F]{4}[\s:-]?){3}[0-9a-fA-F]{4}", text.strip()):
        return _fail(  # the board's short form (tls.short_form): for the eye, not a pin
            f"--fingerprint {quoted(text)} is the short form of a fingerprint, to compare by eye: give the "
            "whole one (SHA256: and 43 characters, as the host's screen shows it), or connect without --fingerprint "
            "and compare the short form it shows with the board's", 2
        )
    if pinned is None:
        return _fail(
            f"--fingerprint {quoted(text)} is not a SHA256 fingerprint (SHA256: and 43 base64 characters, "
            "capitals count): check it against the one the host printed", 2
        )
    return pinned


class _ServerUsesTls(Exception):
    """A plain `connect` (no --tls, no fingerprint) reached a TLS room: connect again with TLS."""


def _join_room(args: argparse.Namespace, sock, endpoint, name: str, key, pinned: str | None, *, tls: bool, found=None) -> int:  # noqa: ANN001
    """`connect`'s chat on ``sock``: with ``tls``, or to an address whose fingerprint is
    remembered, TLS started first and its fingerprint checked (``pinned``, else known or asked);
    without, _ServerUsesTls if the server turns out to use it. ``found``: the room as discovery
    found it, if it was (a rejoin follows it from the start)."""
    binding, remembered, intro = b"", None, None
    room = found.name if found is not None else None  # its fingerprint is remembered by name too (tls.KnownRooms)
    if not tls and not endpoint.is_unix:
        from .tls import remembered_as_tls

        remembered = remembered_as_tls(endpoint.describe(), room)
    if tls or remembered is not None:
        try:
            announced = pinned is not None and args.fingerprint is None  # discovery's, not typed
            hint = _tls_hint(args, pinned, remembered, endpoint.describe(), room)
            started = _start_tls(sock, endpoint.describe(), pinned, hint=hint, announced=announced, room=room)
        except PromptCancelled as exc:  # Ctrl-C at "Trust it and connect?" (the socket is closed)
            return _cancelled(exc)
        if started is None:
            return 1
        from .tls import SHORT_LABEL, channel_binding, short_form

        (sock, pinned, note), binding = started, channel_binding(started[1])  # a rejoin insists on this certificate
        if SHORT_LABEL in note and not (args.plain or not _interactive()):
            # a fingerprint to compare, said above the chat: the full screen, opening, hid it at once
            # (the short form first: a narrow screen folds the line's end, never the 16 digits)
            intro = ((), (f"TLS fingerprint in short {short_form(started[1])}: compare it with the host's screen",
                          f"(the whole one, as the room announced it: {started[1]})"))
    password = _Remembered(lambda: _password_from_user("This room needs a password: "))
    return _run_participant(
        sock,
        name,
        role="client",
        where=endpoint.describe() + (" (TLS)" if binding else ""),  # the status line says it is encrypted
        plain=args.plain,
        downloads=args.downloads,
        key=key,
        password=password,
        binding=binding,
        rejoin=None if args.no_reconnect else (endpoint, pinned, found),
        again_at=(endpoint, pinned),
        no_typing=args.no_typing,
        projector=args.projector,
        may_switch_to_tls=not binding and not endpoint.is_unix,
        intro=intro,
    )


def _port_given(args: argparse.Namespace) -> bool:
    """Did `connect` say which port (PORT, --port, HOST:PORT), or take the default?"""
    from .addresses import connect_target

    target = None if args.unix else connect_target(args.host, args.port_arg, args.port)
    return target is None or target.port_given


def _where_to(args: argparse.Namespace):  # noqa: ANN202
    """Where `connect` goes: (a socket already open there or None, the endpoint, the room as
    discovery found it (its TLS fingerprint pinned) or None), or an exit code after saying why not."""
    from .addresses import AddressProblem, connect_target
    from .transport import Endpoint

    if args.unix:
        if args.host is not None or args.port is not None or args.port_arg is not None:
            return _fail("--unix cannot be combined with a host or port", 2)
        return None, Endpoint(path=args.unix), None
    from .discovery import looks_like_a_room_name

    try:
        target = connect_target(args.host, args.port_arg, args.port)
    except AddressProblem as exc:
        if looks_like_a_room_name(args.host or ""):  # "ann's room", the name `lanchat rooms` lists
            return _room_called(args.host, None, f"{quoted(' '.join(args.host.split()))} is no address", exit_code=2,
                                pin=args.fingerprint)
        return _fail(str(exc), 2)
    if target is None:  # no address at all: this machine's server, else a room on the network
        return _connect_somewhere()
    try:
        found = _no_address(target.host, target.port)
    except KeyboardInterrupt:  # said, as Ctrl-C while the rooms are looked for is (it ended in a bare 130)
        print()
        return _cancelled(PromptCancelled(interrupted=True))
    if isinstance(found, str):  # `lanchat connect friends`: no machine, maybe a room
        return _room_called(target.host, target.port if target.port_given else None, found, pin=args.fingerprint)
    return None, Endpoint(host=target.host, port=target.port, addresses=found), None  # (connected to as found)


def _no_address(host: str, port: int) -> str | tuple[str, ...]:
    """Why ``host`` is no machine (it may be a room's name), or the addresses the resolver found
    it at, which `connect` connects (and switches to TLS) to without asking again (a rejoin, later,
    asks again: _Rejoin):
    a resolver taking 3 s made it take 6 and more. None found, ``()``, for an address (or one
    meant as one: "192.168.1.256", "192.168..1.20", which `connect` then refuses in one line).
    The look-up is bounded and said (lookup.look_up): a name server that did not answer held
    `connect NAME` 20 s and more without a word."""
    from .addresses import meant_as_an_address
    from .lookup import FOUND, NOT_A_NAME, UNKNOWN, look_up

    if meant_as_an_address(host):  # maybe mistyped ("192.168.1.2O"): never a room's name
        return ()
    found = look_up(host, port, say=lambda text: _say(f"{PROG}: {text}", sys.stdout))
    if found.outcome == FOUND:
        return _found_at(found.addresses)
    if found.outcome == NOT_A_NAME:  # connect says so (transport.NOT_A_HOST_NAME)
        return ()
    if found.outcome == UNKNOWN:
        return f"no machine is called {quoted(host)}"
    return f"{quoted(host)} {found.problem}"


def _found_at(addresses: list) -> tuple[str, ...]:
    """getaddrinfo's ``addresses`` as Endpoint.addresses holds them: each once, in the resolver's
    order, a link-local one with its zone (the first connect's and a rejoin's alike)."""
    return tuple(dict.fromkeys(_with_zone(address[4]) for address in addresses))


def _with_zone(sockaddr: tuple) -> str:
    """The address in getaddrinfo's ``sockaddr``, as it would be typed: a link-local IPv6 one
    with its zone ("fe80::1%eth0"), which the resolver gives apart, as the scope id (without
    it, an fe80:: address cannot be connected to)."""
    import socket

    if len(sockaddr) < 4 or not sockaddr[3] or "%" in sockaddr[0]:
        return sockaddr[0]
    try:
        zone = socket.if_indextoname(sockaddr[3])
    except OSError:  # no interface of that index (left since): its number, which a connect reads alike
        zone = str(sockaddr[3])
    return f"{sockaddr[0]}%{zone}"


def _room_called(typed: str, port: int | None, problem: str, *, exit_code: int = 1, pin: str | None = None):  # noqa: ANN202
    """`lanchat connect friends` (or `"ann's room"`): what was typed is no machine, so the room of
    that name announced on the local network is joined, as `connect` with no address joins one
    (its TLS fingerprint pinned). (None, endpoint, the room found), or an exit code after saying
    why not: ``problem`` (why ``typed`` is not a machine) and the rooms that are announced. Of
    several of that name, the one announcing ``pin`` (--fingerprint), else the certificate trusted
    for the name, is it."""
    from .discovery import BROWSE_SECONDS, rooms_called
    from .transport import Endpoint

    _say(f"{PROG}: {problem}; looking for a room of that name on the local network...", sys.stdout)
    rooms = _find_rooms(BROWSE_SECONDS)
    if isinstance(rooms, int):
        return rooms
    called = rooms_called(rooms, typed, port)
    if len(called) > 1 and len(trusted := _trusted_by_name(called, typed, pin)) == 1:
        # anyone can announce the name too: the one holding the certificate trusted for it is the room
        _say(f"{PROG}: {len(called) - 1} other room(s) called {_room_said(' '.join(typed.split()))} announce a TLS "
             f"fingerprint other than {'--fingerprint' if pin else 'the one you trusted for it'}: not joined "
             "(someone may be pretending to be it)", sys.stdout)
        called = trusted
    if len(called) == 1:
        _say(f"{PROG}: joining {called[0].name} on {called[0].where}", sys.stdout)
        return None, Endpoint(host=called[0].address, port=called[0].port), called[0]
    for number, room in enumerate(called or rooms, 1):
        _say(f"  {number}. {room.describe()}{_room_warning(room)}", sys.stdout)
    if called:
        return _fail(f"{len(called)} rooms have that name: choose one with lanchat connect ADDRESS PORT")
    if rooms:
        return _fail(f"no room is called {_room_said(' '.join(typed.split()))} either; join one of those above by its name or address", exit_code)
    return _fail(f"{problem}, and no room is announced on the local network\n{NO_ROOM_HELP}", exit_code)


class _Remembered:
    """The room password, asked for once: a rejoin uses what was typed, never asks again
    (the full screen is up by then: ``without_asking``)."""

    def __init__(self, ask) -> None:  # noqa: ANN001
        self.ask = ask
        self.value: str | None = None
        self.asked = False

    def __call__(self) -> str | None:
        if not self.asked:
            self.asked, self.value = True, self.ask()
        return self.value

    def typed(self) -> bool:
        """Was the password typed at the terminal (a typo can be typed again), not LANCHAT_PASSWORD?"""
        return self.asked and self.value is not None and self.value != _env_password()

    def forget(self) -> None:
        """It was wrong: the next join asks again."""
        self.asked, self.value = False, None

    def without_asking(self) -> str | None:
        """For a rejoin: what was typed at the start, else LANCHAT_PASSWORD, else None (the
        client then stops retrying and says to run connect again: client.STOP_REJOINING)."""
        return self.value if self.asked else (_env_password() or None)


NO_ROOM_HELP = """\
  ask the host for the address their screen shows, then:
  lanchat connect ADDRESS PORT (for example: lanchat connect 192.168.1.20 3580)
  run `lanchat doctor` to see what is in the way (Wi-Fi that isolates devices
  hides every room)"""  # lines that fit 80 columns: the terminal cut words anywhere


def _connect_somewhere():  # noqa: ANN202
    """`lanchat connect` with no address: a server on this machine at the default port if one
    answers (as before discovery existed), else a room announced on the local network.
    (socket, endpoint, the room as announced (discovery.RoomInfo) or None), or an exit code."""
    from .addresses import DEFAULT_PORT
    from .transport import Endpoint, TransportError, connect

    local = Endpoint(host="127.0.0.1", port=DEFAULT_PORT)
    try:
        sock = connect(local, timeout=2.0)
    except TransportError:
        sock = None
    if sock is not None:
        _say(f"{PROG}: no address given: joining the server on this machine, {local.describe()}", sys.stdout)
        return sock, local, None
    room = _choose_room()
    if isinstance(room, int):
        return room
    endpoint = Endpoint(host=room.address, port=room.port)
    try:
        sock = connect(endpoint)
    except TransportError as exc:
        return _fail(f"{exc}\n  the room was announced, but it cannot be reached from here:\n{NO_ROOM_HELP}")
    return sock, endpoint, room

def _unix_owner_warning(sock, path: str, expected: str | None) -> str | None:  # noqa: ANN001
    """A squatted AF_UNIX path (another user's program listening where the class's server
    should be) reads everything typed into it: say so when the server's owner, as the kernel
    reports it (SO_PEERCRED), is not the expected user (``--server-owner``, default: us)."""
    import os
    import pwd

    from .transport import peer_uid

    uid = peer_uid(sock)
    if uid is None:  # macOS and the BSDs: Python cannot ask them (SO_PEERCRED is Linux's)
        return None if expected is None else f"this system does not say who runs the server at {path}: --server-owner was not checked"
    if expected is None:
        wanted = os.getuid()
    elif expected.isdecimal() and len(expected) <= 10:  # isdigit() lets "²" through to int()
        wanted = int(expected)
    else:
        try:
            wanted = pwd.getpwnam(expected).pw_uid
        except KeyError:
            return f"there is no user called {quoted(expected)}; the server at {path} is run by {_user_name(uid)}"
    if uid == wanted:
        return None
    return (
        f"the server at {path} is run by {_user_name(uid)}, not by {_user_name(wanted)}: "
        "anything you type goes to their program"
    )


def _user_name(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _tls_hint(args: argparse.Namespace, pinned: str | None, remembered: Path | None = None, where: str = "",
              room: str | None = None) -> str:
    """What to try when the TLS handshake fails, for why this connection used TLS: the student
    who never typed --tls must not be told to leave it out."""
    from .tls import NOT_TLS_HINT, remembered_hint

    if remembered is not None:
        return remembered_hint(where, remembered, room)
    if args.tls:
        return NOT_TLS_HINT
    if args.fingerprint is not None:
        return "is it a lanchat server started without --tls? Then connect without --fingerprint"
    if pinned is not None:
        return "it was announced on the local network as a TLS room; is it still running? Try `lanchat connect` again"
    return "it had just answered that it uses TLS; try `lanchat connect` again in a moment"


def _start_tls(sock, where: str, pinned: str | None, *, hint: str | None = None, announced: bool = False,  # noqa: ANN001, ANN202
               room: str | None = None):
    """TLS on a connected socket, trusted by fingerprint (tls.py), and by the name ``room`` was
    found by, if it was; None after saying why not."""
    from .tls import (
        KNOWN_SERVERS_NAME,
        NOT_TLS_HINT,
        KnownServers,
        TlsError,
        check_fingerprint,
        client_handshake,
        default_folder,
        with_short_form,
    )

    def ask(fingerprint: str) -> bool:
        from .askpass import ask_line

        _say(f"{where} is a TLS server not seen before. Its fingerprint is\n{with_short_form(fingerprint)}", sys.stdout)
        _say("Compare it with the one the host shows (`lanchat serve --tls`; the short form is enough).", sys.stdout)
        try:
            return ask_line("Trust it and connect? [y/N] ").strip().lower() in ("y", "yes")
        except EOFError:  # Ctrl-D: the N of [y/N]
            print()
            return False
        except KeyboardInterrupt:  # Ctrl-C: stopping, as at every other prompt (130, "interrupted")
            print()
            raise PromptCancelled(interrupted=True) from None

    try:
        tls_sock, fingerprint = client_handshake(sock, where, hint=hint or NOT_TLS_HINT)
    except TlsError as exc:
        _fail(str(exc))
        return None
    try:
        note = check_fingerprint(
            where,
            fingerprint,
            known=KnownServers(default_folder() / KNOWN_SERVERS_NAME),
            pinned=pinned,
            ask=ask if _interactive() else None,
            announced=announced,
            room=room,
        )
    except TlsError as exc:
        tls_sock.close()
        _fail(str(exc))
        return None
    except PromptCancelled:
        tls_sock.close()
        raise
    _say(f"{PROG}: {note}")
    return tls_sock, fingerprint, note


def _find_rooms(seconds: float, stopped: str = "not joining"):  # noqa: ANN202
    """Rooms on the local network, or an exit code after saying why none could be looked for;
    Ctrl-C while it looks: "interrupted: ``stopped``", 130, as at the prompts that follow it
    (it ended in a bare ^C)."""
    from .discovery import DiscoveryError, browse
    from .netinfo import local_networks

    try:
        return browse(seconds, local_networks())
    except DiscoveryError as exc:
        return _fail(f"cannot look for rooms on the local network: {exc}\n{NO_ROOM_HELP}")
    except KeyboardInterrupt:
        print()
        return _cancelled(PromptCancelled(interrupted=True), stopped)


def _choose_room():  # noqa: ANN202
    """Browse, then: one room -> ask to join it; several -> a numbered list to pick from; none -> help.

    Without a terminal to ask at, one room is joined and several are listed for the person to choose."""
    from .discovery import BROWSE_SECONDS

    _say(f"{PROG}: no address given and no server on this machine;\n  looking for rooms on the local network...", sys.stdout)
    rooms = _find_rooms(BROWSE_SECONDS)
    if isinstance(rooms, int):
        return rooms
    if not rooms:
        return _fail(f"no lanchat room found on the local network within {BROWSE_SECONDS:g} s\n{NO_ROOM_HELP}")
    from .askpass import ask_line

    ask = sys.stdin.isatty()
    if len(rooms) == 1:
        room = rooms[0]
        if not ask:
            _say(f"{PROG}: joining {room.name} on {room.where}", sys.stdout)
            return room
        code = 0  # n typed: what was asked for
        if warning := _room_warning(room):
            _say(f"  {room.describe()}{warning}", sys.stdout)
        try:
            answer = ask_line(f"join {room.name} on {room.where}? [Y/n] ").strip().lower()
        except KeyboardInterrupt:  # as at every prompt: "interrupted", 130
            print()
            return _cancelled(PromptCancelled(interrupted=True))
        except EOFError:  # Ctrl-D: the n, as at "Trust it and connect? [y/N]"; 1, as at every prompt (_cancelled)
            print()
            answer, code = "n", 1
        if answer in ("", "y", "yes"):
            return room
        _say(f"{PROG}: not joining; `lanchat connect ADDRESS PORT` joins another room", sys.stdout)
        return code
    print(f"{len(rooms)} rooms on the local network:")
    for number, room in enumerate(rooms, 1):
        _say(f"  {number}. {room.describe()}{_room_warning(room)}", sys.stdout)
    if not ask:
        return _fail("several rooms: choose one with lanchat connect ADDRESS PORT", 1)
    while True:
        try:
            answer = ask_line(f"join which room? [1-{len(rooms)}, Enter for none] ").strip()
        except KeyboardInterrupt:
            print()
            return _cancelled(PromptCancelled(interrupted=True))
        except EOFError:  # Ctrl-D: none; 1, as at every prompt (_cancelled), where Enter for none is 0
            print()
            _say(f"{PROG}: not joining", sys.stdout)
            return 1
        if not answer or answer.lower() in ("q", "n", "none"):
            _say(f"{PROG}: not joining", sys.stdout)
            return 0
        if answer.isdecimal() and len(answer) <= 6 and 1 <= int(answer) <= len(rooms):  # isdigit() lets "²" through to int()
            return rooms[int(answer) - 1]
        _say(f"  type a number from 1 to {len(rooms)}, or press Enter to join none", sys.stdout)


# --------------------------------------------------------------------- rooms


def cmd_rooms(args: argparse.Namespace) -> int:
    import json

    rooms = _find_rooms(args.wait, "no rooms listed")
    if isinstance(rooms, int):
        return rooms
    if args.json:
        print(json.dumps([
            {"room": r.name, "host": r.host, "address": r.address, "addresses": list(r.addresses), "port": r.port,
             "mode": r.mode, "password": r.password, "fingerprint": r.fingerprint}
            for r in rooms
        ], ensure_ascii=not _utf8(sys.stdout)), flush=True)
        return 0 if rooms else 1
    if not rooms:
        return _fail(f"no lanchat room found on the local network within {args.wait:g} s\n{NO_ROOM_HELP}")
    print(f"{len(rooms)} room{'s' if len(rooms) > 1 else ''} on the local network:")
    for number, room in enumerate(rooms, 1):
        host, port = room.address, room.port
        _say(f"  {number}. {room.describe()}{_room_warning(room)}\n       join with: lanchat connect {host} {port}", sys.stdout)
    return 0


def _trusted_by_name(rooms: list, typed: str, pin: str | None = None) -> list:
    """Those of ``rooms`` (all called ``typed``) announcing ``pin`` (--fingerprint, checked
    already), else the TLS fingerprints trusted for that name (tls.KnownRooms); none if none
    does, or the file cannot be read (connect says why)."""
    from .tls import KNOWN_SERVERS_NAME, KnownServers, TlsError, default_folder, normalise_fingerprint

    try:  # a name may hold several (two teachers' rooms of one name): those announcing any of them
        trusted = [normalise_fingerprint(pin)] if pin else KnownServers(default_folder() / KNOWN_SERVERS_NAME).rooms.trusted(typed)
    except TlsError:
        return []
    return [room for room in rooms if room.fingerprint is not None and room.fingerprint in trusted]


def _room_warning(room) -> str:  # noqa: ANN001 - a discovery.RoomInfo
    """A line to show under a room listed, when it announces a TLS fingerprint other than the
    one trusted for its name or address (tls.announced_doubt): `connect` refuses it; else ""."""
    from .tls import KNOWN_SERVERS_NAME, KnownServers, announced_doubt, default_folder

    doubt = announced_doubt(KnownServers(default_folder() / KNOWN_SERVERS_NAME), room.name, room.where, room.fingerprint)
    return f"\n       WARNING: {doubt} (`lanchat connect` refuses it)" if doubt else ""


# -------------------------------------------------------------------- doctor


def _terminal_columns(fd: int = 1) -> int | None:
    """The width to fold messages to: COLUMNS when it is set (as argparse folds --help to it),
    else the width of the terminal ``fd`` (standard output) is, or None for a pipe, a file or a
    terminal that does not say (a pseudo-terminal nobody sized reads 0)."""
    import os

    wanted = os.environ.get("COLUMNS", "")
    if wanted.isascii() and wanted.isdecimal() and 0 < len(wanted) < 6 and int(wanted) > 0:
        return int(wanted)
    try:
        return (os.get_terminal_size(fd).columns or None) if os.isatty(fd) else None
    except OSError:
        return None


def _stream_columns(stream) -> int | None:  # noqa: ANN001 - sys.stdout, sys.stderr or a test's stand-in
    """_terminal_columns of the file a stream writes to (None for one that has no file)."""
    try:
        return _terminal_columns(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return None


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from .addresses import DEFAULT_PORT, AddressProblem, Target, connect_target
    from .discovery import looks_like_a_room_name
    from .doctor import as_json, as_text, run_checks

    room = ""
    try:
        target = connect_target(args.host, args.port_arg, args.port) if args.host else None
    except AddressProblem as exc:
        if not looks_like_a_room_name(args.host):  # (its example is connect's: the doctor takes the same words)
            return _fail(str(exc).replace("`lanchat connect ", "`lanchat doctor "), 2)
        # "ann's room", as connect takes it: the server check looks for a room of that name (judge_room_name)
        try:  # its ports by connect's rules: port 0 (it said "checking port 3580"), or two that differ, refused
            ports = connect_target(None, args.port_arg, args.port)
        except AddressProblem as problem:
            return _fail(str(problem), 2)
        target = Target(" ".join(args.host.split()), ports.port if ports else DEFAULT_PORT, port_given=ports is not None)
        room = f" and a room called {_room_said(target.host)}"
    if args.host is None and args.port_arg is not None:
        return _fail("give the server's address before its port, e.g. lanchat doctor 192.168.1.20 3580", 2)
    port = target.port if target else (args.port if args.port is not None else DEFAULT_PORT)
    if port == 0:
        return _fail("port 0 cannot be checked: give the port `lanchat serve` uses", 2)
    checks = run_checks(port=port, target=target, browse_seconds=args.wait)
    if args.json:
        print(json.dumps(as_json(checks), ensure_ascii=not _utf8(sys.stdout), indent=2), flush=True)
    else:
        _say(f"{PROG} doctor: checking port {port}" + (room or (f" and the server at {target}" if target else "")), sys.stdout)
        print(_terminal_safe(as_text(checks, _terminal_columns())), flush=True)  # (it names folders: the user's bytes)
    return 1 if any(c.status == "fail" for c in checks) else 0




# ------------------------------------------------------ both roles' chat loop


PASSWORD_TRIES = 3  # a room password typed at the terminal: as many tries (the server locks a person after 3)


def _reconnect(endpoint, pinned: str | None):  # noqa: ANN001, ANN202
    """A new connection to ``endpoint``; over TLS (``pinned``) only to the very certificate first
    trusted (JoinError FINGERPRINT_CHANGED otherwise). TransportError, TlsError: no connection."""
    from .client import FINGERPRINT_CHANGED, JoinError
    from .transport import connect

    sock = connect(endpoint, timeout=3.0)
    if pinned is None:
        return sock
    from .tls import client_handshake

    try:
        # a rejoin: TLS because the room used it when we joined, whatever was typed then
        hint = "the room used TLS when you joined; if it was restarted without --tls, run `lanchat connect` again"
        sock, fingerprint = client_handshake(sock, endpoint.describe(), timeout=5.0, hint=hint)
        if fingerprint != pinned:
            raise JoinError(f"the server's TLS fingerprint is now {fingerprint}, not {pinned}", FINGERPRINT_CHANGED)
    except BaseException:
        sock.close()
        raise
    return sock


def _connect_again(endpoint, pinned: str | None):  # noqa: ANN001, ANN202
    """_reconnect, for the terminal: None after saying why it failed."""
    from .client import JoinError
    from .tls import TlsError
    from .transport import TransportError

    try:
        return _reconnect(endpoint, pinned)
    except (TransportError, TlsError, JoinError, OSError) as exc:
        _fail(str(exc))
        return None


def _rejoiner(where, session, *, key, password, binding: bytes):  # noqa: ANN001, ANN202
    """Connect and join again as the same person (client.Reconnect retries with this): the same
    name, key and password, and over TLS only to the very certificate first trusted.
    ``where`` is (endpoint, pinned fingerprint or None, the room as discovery found it or None)."""
    return _Rejoin(where, session, key=key, password=password, binding=binding)


class _Rejoin:
    """_rejoiner's callable. While in a room that is announced on the local network, it follows
    the announcements (discovery.RoomWatch): when the room is announced at another address (the
    host's laptop got a new lease), ``moved()`` says so and the rejoin tries there too, over TLS
    still only to the certificate pinned; a room of another name, host or fingerprint is
    never followed. Anyone can announce the room: each address it is announced at is tried
    once, and one that is not the room (nothing answers, another certificate, a refusal) is
    dropped (RoomWatch.refuted), so false announcements, however many or often repeated, cost
    a try each and never end the rejoin (their refusals are not the room's)."""

    def __init__(self, where, session, *, key, password, binding: bytes) -> None:  # noqa: ANN001
        from dataclasses import replace

        endpoint, self.pinned, found = where
        # The addresses `connect NAME` found were for the first connect: a rejoin asks the
        # resolver again (the host's laptop may have a new lease; the saved ones would be tried
        # forever), and dials them only when the look-up fails (the school's name server down).
        self.endpoint, self.saved, self.named = replace(endpoint, addresses=()), endpoint.addresses, endpoint.host
        self.resolve = None  # lookup.look_up's resolver (getaddrinfo; a test's stand-in)
        self.say_after: float | None = None  # when a slow look-up is said (lookup.SAY_AFTER_SECONDS; a test's)
        self.note = None  # client.Reconnect.note: a slow look-up said on the status line and once as a line
        self.session, self.key, self.binding = session, key, binding
        # runs on client.Reconnect's worker thread, under the full screen: never a prompt
        self.password = getattr(password, "without_asking", password)
        self.watch = _room_watch(self.endpoint, self.pinned, found)
        self.tries = 0  # rejoin attempts, since the last join, while the room was announced elsewhere
        self.heard: tuple[str, int] | None = None  # the last new address ``news`` reported
        self.moved_away = True  # the last join went elsewhere because the room was no longer announced where it was

    def moved(self) -> bool:
        """Is the room now announced elsewhere than where we are connected, and no longer here by
        its own announcement? (A room on Wi-Fi and a wired network is announced at both: no move.)"""
        host = self.endpoint.host
        return self.watch is not None and self.watch.moved_to(host) is not None and not self.watch.still_at(host)

    def joined_at(self) -> tuple[str, bool]:
        """Where the last join was, as the status line says it (the room followed there), and
        whether the room had left where we were (else that was another of its addresses)."""
        return self.endpoint.describe() + (" (TLS)" if self.binding else ""), self.moved_away

    def news(self) -> bool:
        """Is there an address the room is announced at, not tried yet, that was not reported
        before (true once for each)? While a rejoin waits, that is worth trying at once
        (client.Reconnect.tick)."""
        where = self.watch.moved_to(self.endpoint.host) if self.watch is not None else None
        if where is None or where == self.heard:
            return False
        self.heard = where
        return True

    def __call__(self):  # noqa: ANN204
        from .transport import Endpoint

        endpoint, otherwise = self.endpoint, None
        where = self.watch.moved_to(endpoint.host) if self.watch is not None else None
        # Tries alternate between where the room is announced now and where it was: anyone can
        # announce a room, and a false one must not keep a student from a server that restarted.
        # Only tries made knowing of the move count, so the first one then goes to the new
        # address (tries at the old one before the announcement came would have turned it away).
        # While the room's own announcement still names the old one, its host has several
        # addresses (Wi-Fi and a wired network): each try goes where the student was, and to the
        # other only if nothing answers there, so a restart brings them back where they were, and
        # a false announcement costs one try after the real one (then it is passed over).
        still_here = self.watch is not None and self.watch.still_at(endpoint.host)
        if where is not None and still_here:
            otherwise = Endpoint(host=where[0], port=where[1])
        elif where is not None:
            self.tries += 1
            if self.tries % 2:
                endpoint = Endpoint(host=where[0], port=where[1])
        endpoint, joined = self._join(endpoint, announced=endpoint is not self.endpoint, otherwise=otherwise)
        self.moved_away = not still_here
        self.endpoint, self.tries = endpoint, 0  # joined there: the room is followed from there on
        if self.watch is not None:
            self.watch.joined((endpoint.host, endpoint.port))
        return joined

    def _join(self, endpoint, *, announced: bool, otherwise=None, fallback: bool = False):  # noqa: ANN001, ANN202
        """Connect and join at ``endpoint``: (where it joined, what client.join gave). One the room
        was only ``announced`` at may be false: a failure there drops it (the watch's ``refuted``)
        and is no reason to stop rejoining (client.NotTheRoom), unless it came over TLS past the
        certificate pinned: the room's own. Where nothing answers at ``endpoint`` (refused,
        unreachable), the room's other announced address ``otherwise`` is tried, as announced;
        if the room is not there either, what failed at ``endpoint`` is what is said. That
        ``fallback`` try refused (the machine answered, nothing listens: a server restarting) is
        passed over for discovery.REFUSED_SECONDS only: dropped for 60 s, a student whose own
        address stopped answering waited up to a minute for the room back at that one; not
        dropped at all, a false announcement refused cost a try at every rejoin."""
        from .client import NotTheRoom, join
        from .transport import TransportError

        try:
            sock = self._dial(endpoint)
        except Exception as exc:
            if announced:
                raise self._not_there(endpoint, exc, refuted=not (fallback and getattr(exc, "refused", False))) from exc
            if otherwise is None or not isinstance(exc, TransportError):
                raise
            try:
                return self._join(otherwise, announced=True, fallback=True)
            except NotTheRoom:
                raise exc from None
        try:
            proto, welcome, early = join(
                sock, self.session.name, timeout=5.0, key=self.key, password=self.password, binding=self.binding,
                resume=self.session.rejoin.resume, since=self.session.rejoin.last_seen,
            )
        except BaseException as exc:
            sock.close()
            if announced and self.pinned is None and isinstance(exc, Exception):
                raise self._not_there(endpoint, exc) from exc
            raise
        return endpoint, (sock, proto, welcome, early)

    def _dial(self, endpoint):  # noqa: ANN001, ANN202
        """_reconnect to ``endpoint`` at the addresses its name is found at now (``_looked_up``);
        where none of those answers (the name server's answer is stale, or names an address this
        network cannot reach), the ones the first connect found that it did not name (``saved``):
        only a failed look-up fell back to them."""
        from dataclasses import replace

        from .transport import TransportError

        found = self._looked_up(endpoint)
        try:
            return _reconnect(found, self.pinned)
        except TransportError:
            rest = tuple(address for address in self.saved if address not in found.addresses)
            if found is endpoint or not rest:
                raise
        return _reconnect(replace(endpoint, addresses=rest), self.pinned)

    def _looked_up(self, endpoint):  # noqa: ANN001, ANN202
        """``endpoint`` with the addresses its host is found at now; where the look-up fails, the
        ones the first connect found (``saved``). Left as it is for any host but the name typed.
        A look-up slower than a second is said (``note``), as `connect NAME` says it."""
        from dataclasses import replace

        from .lookup import FOUND, LOOKUP_SECONDS, look_up

        if not self.saved or endpoint.addresses or endpoint.host != self.named:
            return endpoint
        note, shown = self.note, quoted(endpoint.host)
        say = None if note is None else (lambda _said: note(
            f"looking up {shown}",
            f"rejoining: looking up {shown}; the network's name server is slow to answer (at most "
            f"{LOOKUP_SECONDS:g} s, then the address{'es' if len(self.saved) > 1 else ''} it had before)"))
        found = look_up(endpoint.host, endpoint.port, resolve=self.resolve, say=say, say_after=self.say_after)
        if found.outcome != FOUND:
            return replace(endpoint, addresses=self.saved)
        return replace(endpoint, addresses=_found_at(found.addresses))

    def _not_there(self, endpoint, exc: Exception, *, refuted: bool = True) -> Exception:  # noqa: ANN001
        """What to raise when the room announced at ``endpoint`` was not there; it is passed over
        for a minute (``refuted``) or, refused as a fallback, a few seconds."""
        from .client import NotTheRoom
        from .discovery import REFUSED_SECONDS, REFUTED_SECONDS

        if self.watch is not None:
            self.watch.refuted((endpoint.host, endpoint.port), REFUTED_SECONDS if refuted else REFUSED_SECONDS)
        why = str(exc).split("\n")[0] or type(exc).__name__
        return NotTheRoom(f"the room was announced at {endpoint.describe()}, but it is not there ({why})")

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()


def _room_watch(endpoint, pinned: str | None, found=None):  # noqa: ANN001, ANN202
    """A discovery.RoomWatch for a room joined at a network address (``found`` by discovery, or
    None), started; None for a socket file, loopback, or where zeroconf is missing."""
    import importlib.util
    import ipaddress

    if endpoint.is_unix or importlib.util.find_spec("zeroconf") is None:
        return None
    try:
        if ipaddress.ip_address(endpoint.host.partition("%")[0]).is_loopback:
            return None
    except ValueError:  # a host name: the announcement lists addresses only
        return None
    from .discovery import RoomWatch
    from .netinfo import lan_addresses, local_networks
    from .tls import KNOWN_SERVERS_NAME, KnownServers, default_folder

    def learned(room) -> None:  # noqa: ANN001 - joined over TLS by its address: its name holds the certificate too
        if room.fingerprint is not None:
            KnownServers(default_folder() / KNOWN_SERVERS_NAME).rooms.learn(room.name, room.fingerprint)

    watch = RoomWatch(address=endpoint.host, port=endpoint.port, fingerprint=pinned, networks=local_networks,
                      own_addresses=lan_addresses, found=found, learned=learned)  # fmt: skip
    watch.start()
    return watch


def _let_the_end_be_read(frontend, session, role: str, stops) -> None:  # noqa: ANN001
    """The server shut down (the host ended the chat, or with --no-reconnect: else the full
    screen waited for it to come back, client.Reconnect), or the bot said goodbye: on the full
    screen the last lines stay until a key is pressed, instead of vanishing with the screen.
    A Ctrl-C or a signal ends the wait too, and one that came unanswered before skips it."""
    wait = getattr(frontend, "wait_for_key", None)
    if wait is not None and role == "client" and (session.closed_reason or session.leave_requested):
        import contextlib

        with contextlib.suppress(KeyboardInterrupt), stops.interrupting():
            wait("the chat is over: press any key to leave")


class _Unreachable(Exception):
    """After a wrong password, the server could not be reached again (already said why)."""


def _join_retrying(sock, name, *, key, password, binding, again_at, may_switch_to_tls=False):  # noqa: ANN001, ANN202
    """client.join, and after a wrong password typed at the terminal, asked again and tried on a
    new connection to ``again_at`` (endpoint, pinned fingerprint or None), PASSWORD_TRIES in all
    as ssh and sudo do. Returns (socket, protocol, welcome, what came after); raises what join
    raises, or _Unreachable, or with ``may_switch_to_tls`` _ServerUsesTls when the server says to
    use TLS (cmd_connect goes on with it). The socket is closed on every way out but the return."""
    from . import events as ev
    from .client import JoinError, join

    ask = _NameAsker(name) if sys.stdin.isatty() else None
    tries = 1
    while True:
        try:
            return (sock, *join(sock, name, ask_name=ask, key=key, password=password, binding=binding))
        except JoinError as exc:
            sock.close()
            if may_switch_to_tls and exc.code == ev.E_USE_TLS:
                raise _ServerUsesTls from None
            typed = isinstance(password, _Remembered) and password.typed()
            if exc.code != ev.E_PASSWORD or again_at is None or not typed:
                raise
            if tries >= PASSWORD_TRIES:
                from .gate import person_lock_rule

                raise JoinError(f"{exc}, {tries} times; ask the host for it ({person_lock_rule()})", exc.code) from None
        except BaseException:
            sock.close()
            raise
        _say(f"{PROG}: wrong password; try again")
        password.forget()
        tries += 1
        reopened = _connect_again(*again_at)
        if reopened is None:
            raise _Unreachable
        sock = reopened


def _run_participant(  # noqa: ANN001
    sock, name, *, role, where, plain, on_quit=None, on_stop=None, after=None, downloads=None, intro=None, key=None, fetching=None,
    password=None, binding=b"", no_typing=False, projector=False, rejoin=None, again_at=None, may_switch_to_tls=False, news=None, kept_topic="", banner_rows=None,
) -> int:
    """The host's ``on_quit`` (/q, Ctrl-C: final), ``on_stop`` (SIGTERM, SIGHUP, a crash), ``news`` (client.LocalNews: new addresses),
    ``fetching``, ``kept_topic`` (Session's), ``intro`` (how others join, for /address; the other start lines), ``banner_rows``
    (the terminal rows serve's start lines took: --plain says how to join again below a replay only once they are out of sight); others: _join_retrying."""
    from .client import ClientLoop, JoinError
    from .client_files import ClientTransfers
    from .session import Session
    from .stopsignals import StopSignals

    # Ctrl-C, SIGTERM and SIGHUP from here to the end of the process (but for a switch to TLS:
    # _join_under): noted, and read by the loop, which says goodbye once; only the waits outside
    # it are interrupted (stopsignals.py)
    stops = StopSignals()
    stops.install()
    try:  # a hangup while joining: not in, exit 130 as Ctrl-C does
        sock, proto, welcome, early = _join_under(
            stops, sock, name, key=key, password=password, binding=binding, again_at=again_at, may_switch_to_tls=may_switch_to_tls
        )
    except (PromptCancelled, JoinError, KeyboardInterrupt, _Unreachable) as exc:  # not in: the server and the chat end
        if on_quit:
            on_quit()
        if isinstance(exc, PromptCancelled):
            return _cancelled(exc)
        if isinstance(exc, _Unreachable):
            return 1
        return _fail(str(exc)) if isinstance(exc, JoinError) else 130
    joining, start_lines = intro or ((), ())
    session = Session(name=welcome.name, role=role, where=where, typing_hints=not no_typing, join_lines=tuple(joining),
                      start_lines=tuple(start_lines), projector=projector, fetching_here=fetching, kept_topic=kept_topic)
    frontend = _make_frontend(session, plain or not _interactive(), stops, banner_rows)
    from .ui.plain import PlainFrontend

    if intro:  # how to join, below the replay (the newest lines the host sees): the full screen hid what serve printed, --plain printed it above
        session.join_lines_when = "replay" if isinstance(frontend, PlainFrontend) else "welcome"
    again = _rejoiner(rejoin, session, key=key, password=password, binding=binding) if rejoin is not None else None
    loop = ClientLoop(sock, proto, session, frontend, on_quit=on_quit, transfers=ClientTransfers(downloads), rejoin=again,
                      rejoin_after_shutdown=not isinstance(frontend, PlainFrontend), on_stop=on_stop, news=news)  # the full screen waits out a shutdown notice unless final
    loop.transfers.status_line = not isinstance(frontend, PlainFrontend)  # progress in place: one line at the end
    if again is not None and loop.reconnect is not None:
        again.note = loop.reconnect.note  # a slow look-up of the host's name, said from the rejoin's thread
    crash: Exception | None = None
    try:
        outcome = loop.run([welcome, *early], stops=stops)
        _let_the_end_be_read(frontend, session, role, stops)
    except Exception as exc:  # an internal error: restore the terminal first, then one line
        crash = exc
    finally:
        _close_screen(frontend)
    if crash is not None:
        if on_stop:
            on_stop()
        return _fail(f"internal error ({type(crash).__name__}); the details are in {_log_crash(crash)}")
    if after:
        after()
    message = _ending(outcome, frontend, session, role)
    _how_it_ended(f"{PROG}: {_terminal_safe(message)}", outcome.code, plain=isinstance(frontend, PlainFrontend), stops=stops)
    return outcome.code


def _join_under(stops, sock, name: str, **join):  # noqa: ANN001, ANN003, ANN202 - a StopSignals, _join_retrying's
    """_join_retrying, a stop signal interrupting it. A switch to TLS (_ServerUsesTls) gives the
    signals back as they were first: cmd_connect's TLS prompt comes before the chat takes them
    again (kept, Ctrl-C at "Trust it and connect?" was only noted, and the prompt waited on)."""
    try:
        with stops.interrupting():
            return _join_retrying(sock, name, **join)
    except _ServerUsesTls:
        stops.uninstall()
        raise


# At most this many lines typed and never sent are quoted in the chat's last words (the count says the rest).
UNSENT_QUOTED = 10


def _ending(outcome, frontend, session, role: str) -> str:  # noqa: ANN001
    """The chat's last words: how it ended, the typed lines that never left (client.Outcome.unsent:
    held for the turn, typed while away), and what was left typed in the input line (the full
    screen's, or --plain's at a terminal) when the server ended the chat: a kick, a bad frame, or
    a shutdown notice a student's client does not wait out (the host's /q), alike."""
    message = outcome.message
    if role == "host" and outcome.code == 0:
        message = _host_ending(session, input_ended=getattr(frontend, "ended", False))
    for text in outcome.unsent[:UNSENT_QUOTED]:
        message += f"\n{PROG}: not sent: {text}"
    if len(outcome.unsent) > UNSENT_QUOTED:
        message += f"\n{PROG}: and {len(outcome.unsent) - UNSENT_QUOTED} more lines not sent"
    draft = getattr(frontend, "draft", None)
    ended_by_server = outcome.code or (role == "client" and session.closed_reason)
    if ended_by_server and draft is not None and draft().strip():
        message += f"\n{PROG}: what you were typing was not sent: {draft()}"
    return message


def _host_ending(session, *, input_ended: bool) -> str:  # noqa: ANN001
    """The host's last line: a SIGTERM or SIGHUP is not final (the students wait for a restart)."""
    if not (session.closed_for_good or not session.closed_reason):
        return HOST_STOPPED
    if input_ended and not sys.stdin.isatty():  # `serve --name hal < /dev/null &`: not the host's choice
        return "the chat is closed: the host's input ended (it is not a terminal); `lanchat serve --headless` runs a room with no host"
    return "the chat is closed"


def _close_screen(frontend) -> None:  # noqa: ANN001
    """The chat is over: give the terminal back. A signal now is only noted (stopsignals.py):
    nothing can cut the restoring short."""
    close = getattr(frontend, "close", None)
    if close:
        close()


HOST_STOPPED = (
    "the server was stopped: students' screens wait up to 10 minutes for it to come back; "
    "start the same `lanchat serve` again to carry on the lesson"
)


def _how_it_ended(text: str, code: int, *, plain: bool, stops=None) -> None:  # noqa: ANN001
    """The exit line: an error to stderr, and with `connect --plain > log` to the saved
    transcript too, so it ends with why (where both are one terminal, it is said once).
    ``stops``: a reader that stopped reading is waited for until a signal insists (write_out)."""
    _last_words(text, sys.stderr if code else sys.stdout, stops)
    if code and plain and not _same_file(sys.stdout, sys.stderr):
        _last_words(text, sys.stdout, stops)


def _same_file(one, other) -> bool:  # noqa: ANN001 - two of sys.stdout, sys.stderr
    """Whether two streams write to the same place (one terminal, or `> log 2>&1`); when
    that cannot be told, True, so nothing is said twice."""
    import os

    try:
        a, b = os.fstat(one.fileno()), os.fstat(other.fileno())
    except (OSError, ValueError, AttributeError):
        return True
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _last_words(text: str, stream, stops=None) -> None:  # noqa: ANN001 - sys.stdout or sys.stderr, StopSignals
    """The line printed as the chat ends. Its reader may be gone (`connect --plain | head -1`,
    the terminal window closed): then there is nobody to tell, and no traceback either. A
    reader that is there but stopped reading is waited for until a signal insists."""

    from .stopsignals import write_out

    try:
        write_out(stream, "\n".join(fold_lines(text.split("\n"), _stream_columns(stream))) + "\n", stops)
    except OSError:  # BrokenPipeError, or EIO from a terminal that hung up
        _silence(stream)


# ------------------------------------------------------------------- history


def _rooms_kept(folder: Path) -> str:
    """The default history files in ``folder`` as the options that export them (``--port
    4000``; an AF_UNIX room's file by its path), for someone who asked for another port."""
    tag = lambda file: file.name.removeprefix("history-").removesuffix(".sqlite3")  # noqa: E731
    files = folder.glob("history-*.sqlite3") if folder.is_dir() else []

    def a_port(text: str) -> bool:  # as --port takes it: 0-9 only ("٣٥٨١" is decimal, and refused there)
        return text.isascii() and text.isdecimal()

    # by port (an AF_UNIX room's after them, by name), and those past the tenth counted, not dropped unsaid
    kept = sorted(files, key=lambda file: (0, int(tag(file)), "") if a_port(tag(file)) else (1, 0, file.name))
    named = [f"--port {tag(f)}" if a_port(tag(f)) else str(f) for f in kept[:10]]
    return ", ".join(named) + (f", and {len(kept) - 10} more" if len(kept) > 10 else "")


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def cmd_history(args: argparse.Namespace) -> int:
    """Print a transcript of a history file; never creates or changes the file."""
    import json
    import sqlite3
    import time

    from .history import HistoryDamaged, HistoryStore, HistoryUnusable, default_path

    where = {"unix": args.unix} if args.unix else {"port": args.port}
    path = Path(args.path) if args.path else default_path(**where)
    if not args.path and not path.exists() and (kept := _rooms_kept(path.parent)):
        return _fail(f"{path}: no such history file; rooms kept in that folder: {kept}")
    if _empty_file(path):
        return _fail(_EMPTY_HISTORY.format(path=path))
    damage = None
    try:
        store = HistoryStore(path, create=False)
    except HistoryDamaged as exc:  # what can still be read is the person's: written out, around the damage
        damage = str(exc)
        try:
            store = HistoryStore(path, create=False, check=False)
        except HistoryUnusable:
            return _fail(damage)
    except HistoryUnusable as exc:
        return _fail(str(exc))
    shown = 0
    columns = _terminal_columns() if sys.stdout.isatty() else None  # a pipe or a file: a line each, for grep
    try:  # a damaged file: every message that can still be read, going on past each damaged part
        for record in store.export(since=args.since) if damage is None else store.salvage(since=args.since):
            shown += 1
            if args.format == "jsonl":
                line = json.dumps(record.to_json(), ensure_ascii=not _utf8(sys.stdout))  # \u escapes: still exact
            else:
                line = record.to_text(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.time)), columns)
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if store.skipped:  # a hand edit, another program, a damaged page (history_rows.py)
            _say(f"lanchat: left out {_entries(store.skipped)} of {path}: not as lanchat writes them "
                 "(a wrong type, an impossible time, too long)")  # fmt: skip
        if not shown:  # an empty transcript says so (on stderr: stdout may be a file being written)
            since = "" if args.since is None else " since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(args.since))
            _say(f"no messages{since} in {path}")
    except BrokenPipeError:
        _silence(sys.stdout)  # `lanchat history | head`: the reader has what it wanted; say nothing more
    except OSError as exc:  # `lanchat history > lesson.txt` on a full disk: the file ends short, said so
        _silence(sys.stdout)
        return _fail(f"cannot write the transcript of {path}: {(exc.strerror or str(exc)).lower()}; what was written stops short")
    except sqlite3.Error as exc:
        if damage is not None:
            return _fail(f"{damage}: the transcript stops there, after {_messages(shown)} (what could be read)")
        return _fail(f"cannot read {path}: {exc}")
    finally:
        store.close()
    if damage is not None and store.unreadable:
        return _fail(f"{damage}: {_unreadable(store.unreadable)} could not be read; the transcript has the "
                     f"{_messages(shown)} that could")  # fmt: skip
    if damage is not None:  # read to its end all the same: the damage is elsewhere (an index, a free page)
        return _fail(f"{damage}; every message could be read ({_messages(shown)})")
    return 0


def _history_file_arguments(parser: argparse.ArgumentParser) -> None:
    """Which history file `history`, `history prune` and `history compact` read: PATH, or the same
    as --history PATH (as `serve` and `names` take it), or the room's on --port/--unix."""
    parser.add_argument("path", nargs="?", type=_file_path, metavar="PATH",
                        help="the history file (default: the one 'serve' uses; --history PATH says the same)")
    parser.add_argument("--history", type=_file_path, metavar="PATH", help="the history file, as serve and names take it (the same as PATH)")
    parser.add_argument("--port", type=_port, default=3580, help="the default history of the room on this port (default 3580)")
    parser.add_argument("--unix", metavar="PATH", type=_socket_path, help="the default history of the room on this AF_UNIX socket")


def _one_history_file(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
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
                     formatter_class=argparse.RawDescriptionHelpFormatter)
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


def _kept_history(given: str | None, args: argparse.Namespace, nothing: str = "") -> tuple[Path, int | None]:
    """The history file a command on a stopped room works on: ``given`` (PATH), or the room's on
    ``--port``/``--unix``; and the exit code, the reason said, if it is not there (``nothing``:
    what that means for this command), naming the rooms kept in that folder as `lanchat history` does."""
    from .history import default_path

    where = {"unix": args.unix} if args.unix else {"port": args.port}
    path = Path(given) if given else default_path(**where)
    try:
        if not path.exists():
            kept = "" if given else _rooms_kept(path.parent)
            return path, _fail(f"{path}: no such history file{nothing}" + (f"; rooms kept in that folder: {kept}" if kept else ""))
    except OSError as exc:  # a folder on the way we may not read
        return path, _fail(f"cannot read {path}: {exc.strerror or exc}")
    if _empty_file(path):  # (SQLite would take it as a new database: prune and compact wrote one into it)
        return path, _fail(_EMPTY_HISTORY.format(path=path))
    return path, None


# A history of 0 bytes (emptied by `> file`, a copy that never ran) holds nothing: said so, and left
# so. `lanchat history` said "no such table: messages" of it, `names list` nothing at all.
_EMPTY_HISTORY = "{path} is empty (0 bytes): it holds no lanchat history"


def _empty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size == 0
    except OSError:  # HistoryStore says what is wrong with it
        return False


def _damaged_advice(path: Path) -> str:
    """What a command that changes a stopped room's history says of a damaged file (not serve's
    "move it aside": that would lose what can still be read)."""
    return f"  the file was left untouched: '{PROG} history {path} > saved.txt' saves every message that can still be read"


def _open_stopped_history(path: Path, busy: str):  # noqa: ANN202 - (HistoryStore | None, exit code)
    """The history of a stopped room, opened to change it (it takes the journal's lock, as serve
    does), or None and the exit code, the reason said; ``busy``: what to do when a server runs on it."""
    from .history import HistoryBusy, HistoryDamaged, HistoryStore, HistoryUnusable

    try:
        store = HistoryStore(path)
    except HistoryBusy:  # (its own message is advice for a second `serve`)
        return None, _fail(f"a lanchat server is using {path}: stop it first (/q in its window){busy}")
    except HistoryDamaged as exc:
        return None, _fail(f"{exc}\n{_damaged_advice(path)}")
    except HistoryUnusable as exc:
        return None, _fail(str(exc))
    if not store.writable:
        store.close()
        return None, _fail(f"cannot change {path}: {store.readonly_reason}")
    return store, 0


def cmd_history_prune(args: argparse.Namespace) -> int:
    """Drop old messages, room and direct, from a stopped room's history (history.py, drop_oldest), then give
    their space back to the disk unless --no-compact (_compact_history)."""
    import time

    from .history import HistoryWriteError
    from .history_upkeep import BATCH_ROWS, DAY_SECONDS, describe_holdings

    if args.before is not None and args.before > time.time():  # every message is from before it: a typo, surely
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(args.before))
        return _fail(f"--before {stamp} is still to come: every message would go, with no way back; give a time "
                     "that has passed (a typo in the year?), or --before 0m to drop them all", 2)  # fmt: skip
    path, missing = _kept_history(args.path, args)
    if missing is not None:
        return missing
    before = args.before if args.before is not None else time.time() - args.keep_days * DAY_SECONDS
    store, refused = _open_stopped_history(path, ", or restart it with --keep-days N")
    if store is None:
        return refused
    try:
        dropped = 0
        more = True
        while more:
            went, more = store.drop_oldest(before=before, rows=BATCH_ROWS * 10)
            dropped += went
        store.seen_keys(before=before)  # the keys that joined no later go too (a NAT ban's classmates: moderation.py)
        used, count, oldest = store.holdings()
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(before))
        _say(f"{PROG}: dropped {dropped:,} message{'' if dropped == 1 else 's'} (room and direct) from before {stamp} in "
             f"{path} (bans, mutes, owned names, the topic and operators are kept)", sys.stdout)  # fmt: skip
        holds = describe_holdings(used, count, oldest, keep_days=None, max_mb=None).split(";")[0]
        if args.no_compact:
            _say(f"{PROG}: it holds {holds} now (the file keeps its size on disk: new messages reuse the space; "
                 f"'{PROG} history compact' gives it back)", sys.stdout)  # fmt: skip
            return 0
        _say(f"{PROG}: it holds {holds} now", sys.stdout)
        return _compact_history(store, path, dropped=dropped)
    except HistoryWriteError as exc:
        if not exc.disk_full:
            return _fail(f"cannot change {path}: {exc}")
        done = f"{dropped:,} were dropped before it stopped" if dropped else "nothing was dropped"
        return _fail(f"cannot change {path}: the disk is full, and dropping messages needs a little room to write: "
                     f"free a few MB (another file on that disk) and run it again; {done}")  # fmt: skip
    finally:
        store.close()


def cmd_history_compact(args: argparse.Namespace) -> int:
    """Give the space of a stopped room's dropped messages back to the disk (_compact_history)."""
    path, missing = _kept_history(args.path, args)
    if missing is not None:
        return missing
    store, refused = _open_stopped_history(path, "")
    if store is None:
        return refused
    try:
        return _compact_history(store, path)
    finally:
        store.close()


def _compact_history(store, path: Path, dropped: int = 0) -> int:  # noqa: ANN001 - a HistoryStore, opened by _open_stopped_history
    """history.py's compact, saying the file's size before and after (``history.sqlite3:
    412.0 MiB -> 38.2 MiB``); refused, the file left as it was, where the disk has not room for
    SQLite's copy (history_upkeep.compact_refusal), and said so where the file is damaged.
    ``dropped``: what prune dropped just before, which a refusal must not say was left."""
    import shutil

    from .files import human_size
    from .history import HistoryDamaged, HistoryWriteError
    from .history_upkeep import WORTH_COMPACTING, compact_refusal

    again = f"'{PROG} history compact {path}'"
    try:
        size, held = store.file_sizes()
        if size - held < WORTH_COMPACTING:
            _say(f"{PROG}: {path.name}: {human_size(size)}, nothing to give back (under 1 MiB of it is unused)", sys.stdout)
            return 0
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:  # unknown: compact tries, all or nothing
            free = None
        refused = None if free is None else compact_refusal(path.name, held=held, free=free)
        if refused is not None:
            left = f"the drops are done, but {path.name} keeps its size ({human_size(size)})" if dropped else f"{path.name} was left as it was"
            return _fail(f"{refused}; {left}: free some space there and run {again}")
        after = store.compact()
    except HistoryDamaged as exc:  # (found by VACUUM, past the check on opening: after prune's drops, too)
        return _fail(f"{exc}, found while compacting it: it was not compacted\n"
                     f"  '{PROG} history {path} > saved.txt' saves every message that can still be read")  # fmt: skip
    except HistoryWriteError as exc:
        why, then = ("the disk filled up meanwhile", "free some space there and run") if exc.disk_full else (str(exc), "run")
        left = "the drops are done, but it keeps its size" if dropped else "it was left as it was"
        return _fail(f"cannot compact {path}: {why}; {left} (nothing is lost): {then} {again}")
    _say(f"{PROG}: {path.name}: {human_size(size)} -> {human_size(after)}", sys.stdout)
    return 0


def _messages(count: int) -> str:
    return f"{count} message{'' if count == 1 else 's'}"


def _unreadable(parts: list[tuple[int, int | None]]) -> str:
    """The ids of a damaged history's messages that could not be read: "messages #32 to #300",
    "message #7", "the messages from #301 on" (a file cut short: how many, nothing says)."""
    said = []
    for first, last in parts[:5]:
        if last is None:
            said.append(f"the messages from #{first} on")
        else:
            said.append(f"message #{first}" if first == last else f"messages #{first} to #{last} ({last - first + 1})")
    more = f" and {len(parts) - 5} more damaged parts" if len(parts) > 5 else ""
    return ", ".join(said) + more


# --------------------------------------------------------------------- names


def cmd_names(args: argparse.Namespace) -> int:
    """List or release owned names in a history file (the server should be stopped)."""
    from .history import HistoryBusy, HistoryStore, HistoryUnusable, HistoryWriteError
    from .identity import short_fingerprint

    if args.action == "release" and not args.name:
        return _fail("names release needs the NAME to release", 2)
    path, missing = _kept_history(args.path, args, " (no names are owned there)")
    if missing is not None:
        return missing
    try:
        store = HistoryStore(path, create=args.action == "release")  # list never changes the file
    except HistoryBusy:  # (its own message is advice for a second `serve`)
        return _fail(f"a lanchat server is using {path}: stop it first (/q in its window, Ctrl-C for a --headless one), "
                     f"or have its host type /release {visible(args.name)} in the chat (a --headless room has none)")
    except HistoryUnusable as exc:
        return _fail(str(exc))
    try:
        if args.action == "list":
            for name, key in store.owner_names():
                print(f"{visible(name)}  {short_fingerprint(key)}")
            if store.skipped:  # as `lanchat history` says it (history_rows.py)
                _say(f"{PROG}: left out {_entries(store.skipped)} of {path}: not as lanchat writes them")
            return 0
        if not store.writable:
            return _fail(f"cannot change {path}: {store.readonly_reason}")
        from .identity import owned_name_key
        from .moderation import key_id

        owner = store.owners().get(owned_name_key(args.name))
        try:
            changed = store.claim(args.name, None)
            if changed and owner is not None:  # its key, maybe in other hands, runs the room no more (/release alike)
                store.drop_operator(key_id(owner))  # type: ignore[arg-type]
        except HistoryWriteError as exc:
            return _fail(f"cannot change {path}: {exc} (is the server still running?)")
        if not changed:
            _say(f"{PROG}: nobody owns {visible(args.name)!r} in {path}; nothing to do", sys.stdout)
            return 0
        _say(f"{PROG}: released {visible(args.name)!r}: the next key to join with it owns it", sys.stdout)
        return 0
    finally:
        store.close()


# ------------------------------------------------------- identity and password


def cmd_key(args: argparse.Namespace) -> int:
    """``lanchat key``: the fingerprint of the user's identity key, as /whois shows it."""
    from .identity import fingerprint, public_bytes, short_fingerprint

    key = _load_identity(args)
    if key is None:
        return 1
    public = public_bytes(key)
    short = short_fingerprint(public)
    _say(f"your identity key's fingerprint: {short} (as /whois shows it)\n  in full: {fingerprint(public)}\n"
         f"  to be the operator of a room: lanchat serve --operator {short.replace(' ', '')}", sys.stdout)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """``lanchat forget HOST[:PORT]`` or ``lanchat forget NAME``: the TLS fingerprints remembered
    for that address (and the same machine named otherwise) taken out of known_servers
    (tls.KnownServers.forget), and for the room of that name out of known_rooms (tls.KnownRooms:
    a single word may be either), then every line holding a certificate so forgotten, said one by
    one; a room there, or of that name, is then joined as one never met (a plain one in the
    clear). Nothing remembered is said, and is no error."""
    from .addresses import AddressProblem, connect_target
    from .discovery import looks_like_a_room_name
    from .tls import KNOWN_SERVERS_NAME, KnownServers, TlsError, default_folder, forget_command, same_machine
    from .transport import Endpoint

    try:
        target, problem = connect_target(args.host, args.port_arg, None), None
    except AddressProblem as exc:  # "maths 3B": no address; maybe a room's name
        target, problem = None, exc
    known = KnownServers(default_folder() / KNOWN_SERVERS_NAME)

    def waiting() -> None:
        _say(f"{PROG}: waiting for another lanchat (one stopped with Ctrl-Z? fg it)...", sys.stdout)

    where = Endpoint(host=target.host, port=target.port).describe() if target is not None else ""
    rooms: list[str] = []
    places: list[str] = []
    held: tuple[list[str], list[str]] = ([], [])
    try:
        rooms += known.rooms.forget(args.host, waiting=waiting) if args.port_arg is None else []
        if target is not None:  # and the same machine remembered by another name (localhost, 127.0.0.1)
            others = same_machine(target.host, known.hosts(target.port if target.port_given else None))
            places += known.forget(where, every_port=not target.port_given, hosts=others, waiting=waiting)
        # the certificates forgotten, wherever else they were trusted: the host made a new one, so a
        # room's name and its address are forgotten at once (else the next connect refused it again).
        # Not the names of a room's sister rooms: one teacher's rooms share one certificate, and
        # `forget maths` is about maths (as `ssh-keygen -R` is about one host); they are said instead
        by_name = {line.split()[0] for line in rooms}
        by_place = {line.split()[-1] for line in places}
        held[0].extend(known.rooms.forget_holding(by_place, waiting=waiting))
        held[1].extend(known.forget_holding(by_name | by_place, waiting=waiting))
        sisters = _each_room_once(known.rooms.names_holding(by_name))
    except TlsError as exc:  # one file could not be changed: what the other lost is said all the same
        _say_forgotten(known, rooms, places, target.host if target is not None else "")
        _say_forgotten(known, *held, "", also=", the same certificate")
        return _fail(str(exc))
    if target is None and not rooms and not looks_like_a_room_name(args.host):
        return _fail(str(problem), 2)
    if not rooms and not places:
        shown = f"a room called {quoted(args.host)} in {known.rooms.path}" if target is None else (
            f"{where if target.port_given else where.rpartition(':')[0] + ' (any port)'} in {known.path}")
        _say(f"{PROG}: no TLS fingerprint is remembered for {shown}; nothing to forget", sys.stdout)
    _say_forgotten(known, rooms, places, target.host if target is not None else "")
    _say_forgotten(known, *held, "", also=", the same certificate")
    if sisters:  # after what was forgotten: what was not
        _say(f"{PROG}: still trusted by their names, with the same certificate (the same host's rooms): "
             f"{', '.join(map(quoted, sisters))}; if their host made a new certificate, forget each too "
             f"({' '.join(forget_command(name) for name in sisters)})", sys.stdout)
    return 0


def _each_room_once(names: list[str]) -> list[str]:
    """``names`` of rooms (known_rooms' lines), each room once, as first written: a room may hold
    two of the certificates `lanchat forget` forgot, even under two spellings of its name that are
    one room to connect to and to forget ("Chess", "chess": tls.KnownRooms compares them so)."""
    from .tls import _room_trust_key

    rooms: dict[str, str] = {}
    for name in names:
        rooms.setdefault(_room_trust_key(name), name)
    return list(rooms.values())


def _say_forgotten(known, rooms: list[str], places: list[str], typed: str, also: str = "") -> None:  # noqa: ANN001
    """`lanchat forget`'s lines, one for each line of known_rooms (``rooms``) and of known_servers
    (``places``) taken out; ``typed``: the host typed (another one is the same machine's)."""
    for line in rooms:
        fp, _, name = line.partition(" ")
        _say(f"{PROG}: forgot the TLS fingerprint {fp} remembered for the room {quoted(name)}{also} (in "
             f"{known.rooms.path}); a room of that name is now joined as one never met (one without TLS, in the clear)",
             sys.stdout)
    for line in places:
        place, _, fp = line.partition(" ")
        other = typed and place.rpartition(":")[0].strip("[]").lower() != typed.lower()
        _say(f"{PROG}: forgot the TLS fingerprint {fp} remembered for {place}{also}"
             f"{f', the same machine as {typed}' if other else ''} (in {known.path}); a room "
             "there is now joined as at an address never met (one without TLS, in the clear)", sys.stdout)


def _load_identity(args: argparse.Namespace):  # noqa: ANN202
    """The user's Ed25519 key (identity.py), made on first use; None after printing why not."""
    from .identity import IdentityError, default_key_path, load_or_create_key

    path = Path(args.identity) if args.identity else default_key_path()
    try:
        key, notes = load_or_create_key(path, make_folder=not args.identity)  # a folder given is never made
    except IdentityError as exc:
        _fail(str(exc))
        return None
    for note in notes:  # a student's first line ever, on an 80-column terminal: folded, not cut
        _say(f"{PROG}: {note}")
    return key


def _env_password() -> str | None:
    """LANCHAT_PASSWORD, without the line break a `$(cat file)`-less script or `read` can leave at
    its end: kept, it was part of the room's password, which nobody typing could then match."""
    import os

    text = os.environ.get("LANCHAT_PASSWORD")
    return text.rstrip("\r\n") if text is not None else None


def _password_from_user(prompt: str, *, confirm: bool = False) -> str | None:
    """LANCHAT_PASSWORD, else typed at the terminal without echo (what was typed before the prompt
    appeared is kept: askpass.py); None when neither is possible or Ctrl-D was pressed on an empty
    line. Ctrl-C raises PromptCancelled: the user chose to stop, which no "needs a password" fits."""
    from .askpass import ask_password

    text = _env_password()
    if text:
        return text
    if not sys.stdin.isatty():
        return None
    differed = 0
    try:
        for _ in range(PASSWORD_TRIES):
            text = ask_password(prompt)
            if not text:  # Enter alone, before typing it: asked again (it was asked: no guess spent)
                _say("  nothing was typed; type the password (Ctrl-C stops)", sys.stdout)
            elif not confirm or ask_password("Again, to be sure: ") == text:
                return text
            else:
                differed += 1
                _say("  the two passwords differ; type it again", sys.stdout)
    except EOFError:  # (ask_password ended the line)
        return None
    except KeyboardInterrupt:
        raise PromptCancelled(interrupted=True) from None
    if not differed:  # nothing typed, every time
        return None
    times = {1: "once", 2: "twice"}.get(differed, f"{differed} times")
    empty = PASSWORD_TRIES - differed  # (said, or "differed 1 time" read as all that happened)
    rest = f", and nothing was typed the other time{'s' if empty > 1 else ''}" if empty else ""
    raise PasswordsDiffer(f"the two passwords differed {times}{rest}; no room was started")


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


def _missing_unix_module() -> str | None:
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


def _open_closed_streams() -> None:
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


def _utf8(stream) -> bool:  # noqa: ANN001 - sys.stdout or sys.stderr
    return (getattr(stream, "encoding", None) or "utf-8").lower().replace("_", "-") in ("utf-8", "utf8")


def _replace_what_the_terminal_cannot_show() -> None:
    """A terminal (or PYTHONIOENCODING) in Latin-1 or ASCII: a name or a message it cannot show
    becomes '?', as on the chat screen, not a UnicodeEncodeError traceback (lanchat history)."""
    for stream in (sys.stdout, sys.stderr):
        if not _utf8(stream) and getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def main(argv: list[str] | None = None) -> int:
    _open_closed_streams()
    _replace_what_the_terminal_cannot_show()
    missing = _missing_unix_module()
    if missing is not None:
        return _fail(not_on_unix(missing))
    try:
        return _main(argv)
    except ModuleNotFoundError as exc:  # most often a second terminal where the venv is not active
        if exc.name in UNIX_MODULES:  # a Unix module the check above does not ask for
            return _fail(not_on_unix(exc.name))
        if (exc.name or "").partition(".")[0] not in DEPENDENCIES:
            raise
        return _fail(
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
        _one_history_file(args, parser)
    return args


def _main(argv: list[str] | None) -> int:
    args = parse_command_line(argv)
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
        # --headless room shuts down on it as on Ctrl-C (cmd_serve)
        signal.signal(signal.SIGQUIT, signal.default_int_handler)
    try:
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "history":
            return cmd_history(args)
        if args.command == "history prune":
            return cmd_history_prune(args)
        if args.command == "history compact":
            return cmd_history_compact(args)
        if args.command == "rooms":
            return cmd_rooms(args)
        if args.command == "doctor":
            return cmd_doctor(args)
        if args.command == "names":
            return cmd_names(args)
        if args.command == "key":
            return cmd_key(args)
        if args.command == "forget":
            return cmd_forget(args)
        return cmd_connect(args)
    except KeyboardInterrupt:
        return 130
    finally:  # the process is ending: a signal now would only cut Python's shutdown (a traceback)
        _hold_signals_for_good()


if __name__ == "__main__":
    sys.exit(main())
