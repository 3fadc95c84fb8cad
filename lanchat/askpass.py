"""askpass.py: a password typed at the terminal, not echoed, keeping what was typed ahead; and
the other questions asked before the chat (``ask_line``: input(), asked again after Ctrl-Z). An edge.

``getpass`` turns echo off with TCSAFLUSH, which also throws away whatever was typed before the
prompt appeared: a teacher who starts typing the room password while Python is still starting
loses its beginning, and the room gets only the rest. Here echo goes off with TCSADRAIN, which
waits for pending output but keeps pending input. (What was typed before the prompt was echoed
by the terminal as it was typed, with or without the flush: discarding it hides nothing.)

The terminal is put back as it was on every way out: Enter, Ctrl-D, Ctrl-C (or Ctrl-\\), SIGTERM,
SIGHUP (another signal during their exit included), an error; and for the shell while Ctrl-Z has stopped us.
Only public APIs: termios, os.read, signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import TextIO

# the signals that mean "leave" (as stopsignals.STOP_SIGNALS): whatever handles each, none may
# raise again once the prompt is being left on one of them (_terminated). (Windows has two.)
_LEAVE_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT", "SIGQUIT") if hasattr(signal, name))


def ask_password(prompt: str, *, fd: int = 0, out: TextIO | None = None) -> str:
    """One line from the terminal ``fd`` with echo off, typed-ahead input included; the prompt
    goes to ``out`` (default: stderr, else stdout if only that is a terminal), and a line break
    after it, as echo is off. Raises EOFError
    for Ctrl-D on an empty line or a terminal that went away, KeyboardInterrupt for Ctrl-C,
    SystemExit(143) for SIGTERM, SystemExit(129) for a SIGHUP left at its default."""
    try:
        import termios
    except ImportError:  # not a POSIX terminal (Windows): getpass has its own way there
        import getpass

        return getpass.getpass(prompt)
    if out is None:
        out = sys.stdout if not sys.stderr.isatty() and sys.stdout.isatty() else sys.stderr
    saved = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~termios.ECHO  # ICANON stays: the terminal still edits the line (Backspace, Ctrl-U)
    before = _take_signals(fd, saved, quiet, prompt, out)
    try:
        termios.tcsetattr(fd, termios.TCSADRAIN, quiet)  # TCSADRAIN, not TCSAFLUSH: keep what was typed
        out.write(prompt)
        out.flush()
        return _read_line(fd).decode(getattr(sys.stdin, "encoding", None) or "utf-8", "replace")
    finally:
        _put_back(before, [signal.SIGCONT])  # first: one handled after the terminal is restored turned echo off again
        # A terminal that went away (a closed window whose hang-up was ignored) takes neither
        # its settings back nor a line break: nothing is left to restore or to show them on.
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        with contextlib.suppress(OSError):
            out.write("\n")
            out.flush()
        _put_back(before, list(before))


def _take_signals(fd: int, saved: list, quiet: list, prompt: str, out: TextIO) -> dict[int, object]:
    """The prompt's signal handlers set; what each signal had before, to put back (_put_back).
    Empty outside the main thread: signals are not ours to handle there."""
    on_stop, on_cont = _suspender(fd, saved, quiet, prompt, out)
    wanted: dict[int, object] = {signal.SIGTERM: _terminated, signal.SIGTSTP: on_stop, signal.SIGCONT: on_cont}
    # Ctrl-\ (SIGQUIT) left to its default (`serve`) is Ctrl-C here: the default ended the
    # process on the spot, echo still off for the shell; one that came ignored (a background
    # job of a non-interactive shell) too, as _main takes SIGINT back. One handled is left so.
    if signal.getsignal(signal.SIGQUIT) in (signal.SIG_DFL, signal.SIG_IGN):
        wanted[signal.SIGQUIT] = signal.default_int_handler
    # SIGHUP at its default (`serve --password`, before the chat's own handlers) ended the
    # process on the spot too, echo off for a terminal still there (`kill -HUP`, a window of a
    # terminal multiplexer killed from another): an exit as SIGTERM's. One ignored (nohup) or
    # handled (connect's, stopsignals.py) is left so.
    if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        wanted[signal.SIGHUP] = _terminated
    before: dict[int, object] = {}
    with contextlib.suppress(ValueError):  # not the main thread
        for signum, handler in wanted.items():
            before[signum] = signal.signal(signum, handler)  # type: ignore[arg-type]
        # A call the stop caught (a prompt started in the background stops on SIGTTOU inside
        # tcsetattr) goes on after fg instead of failing EINTR: Python sets handlers without SA_RESTART
        signal.siginterrupt(signal.SIGCONT, False)
    return before


def _put_back(before: dict[int, object], signums: list[int]) -> None:
    """The handlers ``before`` had for ``signums`` set again (None: one not set from Python, so the
    default); but a signal that means "leave" found ignored was ignored by _terminated (the
    prompt never ignores one otherwise): the process is leaving, and it stays so to the end."""
    for signum in signums:
        if signum in before:
            old = before.pop(signum)
            if signum in _LEAVE_SIGNALS and signal.getsignal(signum) == signal.SIG_IGN:
                continue
            signal.signal(signum, signal.SIG_DFL if old is None else old)  # type: ignore[arg-type]


def _suspender(fd: int, saved: list, quiet: list, prompt: str, out: TextIO):  # noqa: ANN202 - signal handlers
    """Ctrl-Z at the prompt: the shell gets its echo back while we are stopped (dash does not
    reset the terminal: what was typed at its prompt went unseen), and after ``fg`` echo goes
    off again and the prompt is asked again (it had scrolled away under the shell's lines, and
    nothing said a password was still awaited). The same after a stop that was not ours
    (kill -STOP, then fg), the SIGCONT handler's: bash had put its echo back meanwhile, and the
    password typed after fg was shown. (SIGTSTP's handler, SIGCONT's.)"""
    import termios

    stopped_here = [False]  # on_stop stopped us: the SIGCONT that follows is its own

    def on_cont(signum: int, frame: object) -> None:
        if stopped_here[0]:
            stopped_here[0] = False
            return
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
            out.write(prompt)
            out.flush()

    def on_stop(signum: int, frame: object) -> None:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            out.write("\n")
            out.flush()
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        stopped_here[0] = True
        try:
            os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until SIGCONT (fg)
        finally:
            signal.signal(signal.SIGTSTP, on_stop)
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
            out.write(prompt)
            out.flush()

    return on_stop, on_cont


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # closed, or no stream at all
        return False


def _read_line(fd: int) -> bytes:
    """Up to the end of the line (not included). In canonical mode one read returns at most one
    line, so nothing typed after it (a second line typed ahead) is taken from the terminal.
    Waits with the signals' wake-up (signal.set_wakeup_fd): a signal that comes just before
    the wait (Ctrl-Z as the prompt appears) ends it, and its handler runs, instead of being
    noted while a blocking read waits on for a key."""
    data = b""
    while not data.endswith(b"\n"):
        with _woken_by_signals() as woken:
            _wait_for(fd, woken)
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the terminal went away mid-prompt; nothing more will be typed
            raise EOFError from None
        if not chunk:  # Ctrl-D: on an empty line the end; after some text, what was typed
            if not data:
                raise EOFError
            break
        data += chunk
    return data.removesuffix(b"\n").removesuffix(b"\r")


@contextlib.contextmanager
def _woken_by_signals():  # noqa: ANN202 - a context manager of the read end (None: not ours to set)
    """A pipe that any signal writes a byte to while inside (the previous wake-up fd put back)."""
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(write_end, False)
        try:
            previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        except ValueError:  # not the main thread: its reads are not ours to wake
            yield None
            return
        try:
            yield read_end
        finally:
            signal.set_wakeup_fd(previous)
    finally:
        os.close(read_end)
        os.close(write_end)


def _wait_for(fd: int, woken: int | None) -> None:
    """Until ``fd`` can be read, or a signal came (its handler has run by the time this returns)."""
    import select

    if woken is None:
        return  # a plain blocking read
    while True:
        try:
            ready, _, _ = select.select([fd, woken], [], [])
        except (OSError, ValueError):  # a terminal that went away: the read says so
            return
        if fd in ready:
            return
        os.read(woken, 512)  # a signal (handled meanwhile, a Ctrl-Z then fg): wait again


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM, or a SIGHUP at its default: the process ends with 128 + its number, through
    ask_password's finally, which gives the terminal its echo back. A second one during that
    unwinding (a window closed as `kill` came; a service manager's SIGTERM then SIGHUP) ran
    this again, or Ctrl-C's handler, and raised before the echo was back: the shell was left
    blind, with the second's exit code. From here they are ignored, to the end of the process."""
    for leave in _LEAVE_SIGNALS:
        signal.signal(leave, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def ask_line(prompt: str) -> str:
    """``input(prompt)``, where Ctrl-Z then ``fg`` asks again. The terminal throws away a line
    half typed when Ctrl-Z is pressed (a stop flushes its input), but what was typed stayed on
    the screen and nothing was asked after fg: "bo", Ctrl-Z, fg, "b" and Enter joined as "b".
    Now the line is ended before the stop and the prompt written again after it, so what shows
    is what will be read. Raises what input() raises (EOFError, KeyboardInterrupt)."""

    def on_stop(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.write("\n")
            sys.stdout.flush()
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        try:
            os.kill(os.getpid(), signal.SIGTSTP)  # stopped here until SIGCONT (fg)
        finally:
            signal.signal(signal.SIGTSTP, on_stop)
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.write(prompt)
            sys.stdout.flush()

    taken = False
    with contextlib.suppress(ValueError, AttributeError):  # not the main thread; no job control (Windows)
        if signal.getsignal(signal.SIGTSTP) == signal.SIG_DFL:  # an ignored or handled one stays so
            signal.signal(signal.SIGTSTP, on_stop)
            taken = True
    try:
        if not (taken and _is_terminal(sys.stdin) and _is_terminal(sys.stdout)):
            return input(prompt)
        # input() can miss a Ctrl-Z that comes between its prompt and its read (a loaded
        # machine): the signal is noted, but the read it should interrupt had not begun, and
        # blocks on. _read_line waits for a key or a signal, whichever comes first.
        sys.stdout.write(prompt)
        sys.stdout.flush()
        line = _read_line(sys.stdin.fileno())
        # a byte the terminal's encoding does not hold (a Latin-1 keyboard over ssh) is kept as a
        # lone surrogate, never a UnicodeDecodeError (a UTF-8 locale's stdin is strict): a name
        # holding one is refused as unprintable and asked again, a y/N or a number not matched
        return line.decode(sys.stdin.encoding or "utf-8", "surrogateescape")
    finally:
        if taken:
            signal.signal(signal.SIGTSTP, signal.SIG_DFL)
