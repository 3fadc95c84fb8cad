"""terminal.py: the small terminal and prompt helpers every command shares.

A line said outside the chat (made harmless, folded to the terminal's width), a name or a room
password asked for, a reader gone. Light on purpose: `--help` imports it.
"""

from __future__ import annotations

import argparse
import sys

# Light, and imported up front on purpose (every command loads this module at start): the log
# must work when the process is out of file descriptors, and a first import inside it would then
# fail (it has to open the .py file).
from ..textfold import fold_lines
from ..textsafe import visible

PROG = "lanchat"


def fail(message: str, code: int = 1) -> int:
    say(f"{PROG}: {message}")
    return code


def say(message: str, stream=None) -> None:  # noqa: ANN001 - sys.stderr (the default) or sys.stdout
    """A line (or a few) printed outside the chat screen: an error, a notice, a question's
    preamble. Made harmless (terminal_safe), then folded at spaces to the width of the terminal
    it goes to, with commands and fingerprints kept whole (textfold.py): a terminal cuts a long
    line mid-word, back at column 0, on the very projector a class reads it from."""
    out = sys.stderr if stream is None else stream
    lines = fold_lines(terminal_safe(message).split("\n"), stream_columns(out))
    _write(out, "\n".join(lines))


def print_out(text: str, end: str = "\n") -> None:
    """A command's output (a listing, JSON, argparse's help) on standard output, as it is: made
    harmless by the caller. A reader gone or a full disk is met as ``say`` meets it."""
    _write(sys.stdout, text, end)


def _write(out, text: str, end: str = "\n") -> None:  # noqa: ANN001 - sys.stdout or sys.stderr
    try:
        print(text, file=out, end=end, flush=True)
    except BrokenPipeError:  # `lanchat doctor | head -3`: the reader has what it wanted; nothing more goes there
        silence(out)
    except OSError as exc:  # `lanchat key > key.txt` on a full disk: said on stderr (OutputLost), never a traceback
        silence(out)
        if out is sys.stdout:
            raise OutputLost((exc.strerror or str(exc)).lower()) from None


class OutputLost(Exception):
    """What a command prints could not be written to standard output (a file on a full disk,
    /dev/full): what was written stops short. __main__ says so on stderr and exits 1."""


def terminal_safe(message: str) -> str:
    """Every message printed outside the chat view passes here: it may quote a server or a
    file, and no byte from those may drive the terminal (an OSC retitles it, a DSR request
    makes it type into the shell). Line breaks stay; everything else is made visible."""
    return "\n".join(visible(line) for line in message.split("\n"))


def interactive() -> bool:
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

    from ..events import name_problem

    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in the environment or the password database
        return None
    return name if name and name_problem(name) is None else None


class NameAsker:
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
    from ..askpass import ask_line
    from ..events import name_key, name_problem
    from ..wording import is_quit

    default = login_name()
    if default and refused and name_key(default) == name_key(refused):
        default = None
    if reason:
        say(reason, sys.stdout)  # the server's words: shown, never obeyed
    label = "Another name" if reason else "Your name"
    prompt = f"{label} (Enter: {default}): " if default else f"{label}: "
    while True:
        try:
            name = ask_line(terminal_safe(prompt)).strip()
        except (EOFError, KeyboardInterrupt) as exc:
            print()
            raise PromptCancelled(isinstance(exc, KeyboardInterrupt)) from None
        if not name and default:
            return default
        if is_quit(name):  # /q, or seed 004's \quit, which was taken for a name: leaving, as Ctrl-D is
            raise PromptCancelled(False)
        problem = name_problem(name)
        if problem is None:
            return name
        say(f"  {problem}; try again.", sys.stdout)


def resolve_name(args: argparse.Namespace, role: str) -> str | None:
    if args.name:
        return args.name
    if sys.stdin.isatty():
        return _ask_name()
    say(f"{PROG} {role}: error: --name NAME is required when input is not a terminal")
    return None


def cancelled(exc: PromptCancelled, outcome: str = "not joining") -> int:
    """Leaving at a prompt: 130 for Ctrl-C, as shells report it; 1 for Ctrl-D (the rule for every
    prompt before the chat: a name, a room to join, a fingerprint to trust)."""
    say(f"{PROG}: {exc}: {outcome}")
    return 130 if exc.interrupted else 1


def hold_signals_for_good() -> None:
    """The process is ending with everything said: Ctrl-C, SIGTERM, SIGHUP, SIGQUIT wait (blocked) from
    now on. Python puts the default handlers back as it shuts down, and one arriving then would
    only cut that short (killed by it, or a traceback); one caught just before is dropped. Nothing
    left to do can block (a client's last line gave up on a reader gone: stopsignals.write_out).
    Off POSIX: nothing."""
    import signal

    from ..stopsignals import STOP_SIGNALS

    if hasattr(signal, "pthread_sigmask"):
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
        except KeyboardInterrupt:  # a Ctrl-C caught just before, raised as the mask changed
            pass


def silence(stream) -> None:  # noqa: ANN001
    """``stream``'s reader is gone: what is written to it from now on, and what is still buffered
    (it would fail again as Python exits: "Exception ignored"), goes nowhere."""
    import contextlib
    import os

    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def terminal_columns(fd: int = 1) -> int | None:
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


def stream_columns(stream) -> int | None:  # noqa: ANN001 - sys.stdout, sys.stderr or a test's stand-in
    """terminal_columns of the file a stream writes to (None for one that has no file)."""
    try:
        return terminal_columns(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return None


PASSWORD_TRIES = 3  # a room password typed at the terminal: as many tries (the server locks a person after 3)


def env_password() -> str | None:
    """LANCHAT_PASSWORD, without the line break a `$(cat file)`-less script or `read` can leave at
    its end: kept, it was part of the room's password, which nobody typing could then match."""
    import os

    text = os.environ.get("LANCHAT_PASSWORD")
    return text.rstrip("\r\n") if text is not None else None


def password_from_user(prompt: str, *, confirm: bool = False) -> str | None:
    """LANCHAT_PASSWORD, else typed at the terminal without echo (what was typed before the prompt
    appeared is kept: askpass.py); None when neither is possible or Ctrl-D was pressed on an empty
    line. Ctrl-C raises PromptCancelled: the user chose to stop, which no "needs a password" fits."""
    from ..askpass import ask_password

    text = env_password()
    if text:
        return text
    if not sys.stdin.isatty():
        return None
    differed = 0
    try:
        for _ in range(PASSWORD_TRIES):
            text = ask_password(prompt)
            if not text:  # Enter alone, before typing it: asked again (it was asked: no guess spent)
                say("  nothing was typed; type the password (Ctrl-C stops)", sys.stdout)
            elif not confirm or ask_password("Again, to be sure: ") == text:
                return text
            else:
                differed += 1
                say("  the two passwords differ; type it again", sys.stdout)
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


def writes_utf8(stream) -> bool:  # noqa: ANN001 - sys.stdout or sys.stderr
    return (getattr(stream, "encoding", None) or "utf-8").lower().replace("_", "-") in ("utf-8", "utf8")
