"""askpass.py: a password typed at the terminal, not echoed, keeping what was typed ahead; and
the other questions asked before the chat (``ask_line``: input(), asked again after Ctrl-Z). An edge.

``getpass`` turns echo off with TCSAFLUSH, which also throws away whatever was typed before the
prompt appeared: a teacher who starts typing the room password while Python is still starting
loses its beginning, and the room gets only the rest. Here echo goes off with TCSADRAIN, which
waits for pending output but keeps pending input. (What was typed before the prompt was echoed
by the terminal as it was typed, with or without the flush: discarding it hides nothing.)

The terminal is put back as it was on every way out: Enter, Ctrl-D, Ctrl-C (or Ctrl-\\), SIGTERM,
SIGHUP, an error, and any of these signals arriving while the prompt is being left (_Leaving); and for
the shell while Ctrl-Z has stopped us. Only public APIs: termios, os.read, signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import TextIO

# the signals that mean "leave" (as stopsignals.STOP_SIGNALS): while the prompt is up it answers
# each of them itself (_Leaving), so none can cut the echo's restore short. (Windows has two.)
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
    leaving = _Leaving()
    before = _take_signals(fd, saved, quiet, prompt, out, leaving)
    try:
        termios.tcsetattr(fd, termios.TCSADRAIN, quiet)  # TCSADRAIN, not TCSAFLUSH: keep what was typed
        out.write(prompt)
        out.flush()
        return _read_line(fd, leaving.answer_waiting).decode(getattr(sys.stdin, "encoding", None) or "utf-8", "replace")
    finally:
        # While the terminal and the handlers go back, the signals wait (blocked), then come to
        # the handlers of before: one handled midway ran the prompt's stop handler after the
        # restore, or raised from a handler already back and left the rest as the prompt's.
        leaving.restoring = True  # from here a leave signal is only noted, and answered below
        held = _hold(before)
        try:
            _put_back(before, [signal.SIGCONT])  # first: one handled after the terminal is restored turned echo off again
            # A terminal that went away (a closed window whose hang-up was ignored) takes neither
            # its settings back nor a line break: nothing is left to restore or to show them on.
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            with contextlib.suppress(OSError):
                out.write("\n")
                out.flush()
            _put_back(before, list(before))
        finally:
            _let_go(held, leaving)
        leaving.answer_noted()  # echo is back: a signal that came meanwhile ends the prompt now


def _take_signals(fd: int, saved: list, quiet: list, prompt: str, out: TextIO, leaving: _Leaving) -> dict[int, object]:
    """The prompt's signal handlers set; what each signal had before, to put back (_put_back).
    Empty outside the main thread: signals are not ours to handle there."""
    on_stop, on_cont = _suspender(fd, saved, quiet, prompt, out, leaving)
    wanted: dict[int, object] = {signal.SIGTSTP: on_stop, signal.SIGCONT: on_cont}
    before: dict[int, object] = {}
    with contextlib.suppress(ValueError):  # not the main thread
        for signum in _LEAVE_SIGNALS:
            if leaving.take(signum, signal.getsignal(signum)):
                wanted[signum] = leaving.caught
        for signum, handler in wanted.items():
            before[signum] = signal.signal(signum, handler)  # type: ignore[arg-type]
        # A call the stop caught (a prompt started in the background stops on SIGTTOU inside
        # tcsetattr) goes on after fg instead of failing EINTR: Python sets handlers without SA_RESTART
        signal.siginterrupt(signal.SIGCONT, False)
    return before


class _Leaving:
    """The leave signals (SIGINT, SIGQUIT, SIGTERM, SIGHUP) while the prompt is up, all four
    answered here. At the prompt the first one ends it as before: KeyboardInterrupt,
    SystemExit(128 + its number), or the caller's handler. But a handler runs wherever Python is
    when the signal comes, and one that raised there could land where an exception is only
    printed (a finalizer: "Exception ignored in", a traceback, and the prompt waiting on for a
    line that no signal could end any more); or during the unwinding of a first one (a window
    closed as Ctrl-C was pressed, a service manager's SIGTERM then SIGHUP), or just after Enter,
    before ask_password's finally had put the echo back, and the shell was left blind. So the
    handler (``caught``) only notes the first one; the prompt's wait, woken by it (_read_line,
    signal.set_wakeup_fd), answers it from there (``answer_waiting``); once the prompt is being
    left on one, the others change nothing (its exit stands); and one noted while the finally
    restores the terminal (``restoring``) is answered once echo is back and the old handlers with
    it (``answer_noted``). (A flag, as well as the mask held meanwhile (_hold): a mask blocks a
    signal in one thread only, and connect may have others.)"""

    def __init__(self) -> None:
        self.own: dict[int, type[BaseException] | int] = {}  # answered here: KeyboardInterrupt, or the exit code
        self.callers: dict[int, object] = {}  # the caller's handler, called as it would have been
        self.left_on: int | None = None  # the prompt is being left on this one
        self.noted: int | None = None  # the first that came while ``restoring``
        self.restoring = False

    def take(self, signum: int, current: object) -> bool:
        """Will the prompt answer ``signum``, whose handler is ``current``? SIGTERM ends it, and
        SIGHUP at its default (`serve --password`, before the chat's own handlers: the default
        ended the process on the spot, echo off for a terminal still there), with 128 + the
        number. Ctrl-\\ (SIGQUIT) at its default (`serve`) is Ctrl-C here, and one that came
        ignored (a background job of a non-interactive shell) too, as _main takes SIGINT back;
        so is a SIGINT at its default. A handled one (connect's, stopsignals.py) keeps its
        handler, called from here. SIGINT or SIGHUP ignored (nohup) is left ignored."""
        hangup, quit_ = getattr(signal, "SIGHUP", None), getattr(signal, "SIGQUIT", None)
        if signum == signal.SIGTERM or (signum == hangup and current == signal.SIG_DFL):
            self.own[signum] = 128 + signum
        elif callable(current):
            self.callers[signum] = current
        elif current == signal.SIG_DFL or (signum == quit_ and current == signal.SIG_IGN):
            self.own[signum] = KeyboardInterrupt
        else:
            return False  # ignored, or a handler not set from Python: left as it is
        return True

    def caught(self, signum: int, frame: object) -> None:
        """The handler: notes the first leave signal, never raises (see the class)."""
        if self.left_on is None and self.noted is None:
            self.noted = signum

    def answer_waiting(self) -> None:
        """At the prompt (_read_line, before each wait and after each wake): the signal noted is
        answered here, in the prompt's own frame; a caller's handler that only notes it (returns)
        lets the prompt go on."""
        if self.noted is None or self.restoring:
            return
        signum, self.noted = self.noted, None
        self.left_on = signum
        self._answer(signum, None)
        self.left_on = None

    def _answer(self, signum: int, frame: object) -> None:
        own = self.own.get(signum)
        if isinstance(own, int):
            raise SystemExit(own)
        if own is not None:
            raise own
        self.callers[signum](signum, frame)  # type: ignore[operator]

    def answer_noted(self) -> None:
        """The signal noted and not answered at the prompt (it came while the echo was being
        restored, or with the line's end), answered as at the prompt; called once the old handlers
        are back, so the caller's one gets it as a signal (its wake-up fd too)."""
        signum, self.noted = self.noted, None
        if signum is None:
            return
        if signum in self.callers:
            signal.raise_signal(signum)
        else:
            self._answer(signum, None)


def _put_back(before: dict[int, object], signums: list[int]) -> None:
    """The handlers ``before`` had for ``signums`` set again (None: one not set from Python, so the
    default), all of them even if one put back raises on the way (a signal another thread took while
    they were held, _hold): its exception comes once they all are."""
    raised: BaseException | None = None
    for signum in [signum for signum in signums if signum in before]:
        old = before[signum]
        while True:
            try:
                signal.signal(signum, signal.SIG_DFL if old is None else old)  # type: ignore[arg-type]
                break
            except BaseException as exc:  # noqa: BLE001 - a handler's KeyboardInterrupt or SystemExit: set it again, raised after
                raised = raised or exc
        del before[signum]
    if raised is not None:
        raise raised


def _hold(before: dict[int, object]) -> set[int] | None:
    """Block the signals the prompt handles (``before``'s, Ctrl-Z's among them) in this thread,
    until _let_go; the mask they had, or None where there are no masks or none of ours. (Only
    this thread's: another may take one meanwhile, which _Leaving and _put_back stand for.)"""
    ours = set(before) - {signal.SIGCONT}  # (a stop is ended by SIGCONT whatever the mask: nothing to hold)
    if not ours or not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, ours)


def _let_go(held: set[int] | None, leaving: _Leaving) -> None:
    """The signals _hold blocked, let go now that the terminal and the handlers are back: a leave
    signal that came meanwhile is taken as the prompt takes it (_Leaving: noted, answered after;
    or nothing, while it is left on another); any other (Ctrl-Z) goes to its handler of before."""
    if held is None:
        return
    for signum in sorted(set(_LEAVE_SIGNALS) & signal.sigpending() - held):
        signal.sigwait({signum})  # (pending: returns at once) taken here, not by the handler now back
        leaving.caught(signum, None)
    signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _suspender(fd: int, saved: list, quiet: list, prompt: str, out: TextIO, leaving: _Leaving):  # noqa: ANN202 - signal handlers
    """Ctrl-Z at the prompt: the shell gets its echo back while we are stopped (dash does not
    reset the terminal: what was typed at its prompt went unseen), and after ``fg`` echo goes
    off again and the prompt is asked again (it had scrolled away under the shell's lines, and
    nothing said a password was still awaited). The same after a stop that was not ours
    (kill -STOP, then fg), the SIGCONT handler's: bash had put its echo back meanwhile, and the
    password typed after fg was shown. But a Ctrl-Z just after Enter, while the prompt is being
    left (``leaving.restoring``), asks nothing again: the line is read, and turning echo off after
    fg left it off for the shell. (SIGTSTP's handler, SIGCONT's.)"""
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
        if leaving.restoring:  # Ctrl-Z just after Enter: the line is read; echo stays on after fg
            return
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


def _read_line(fd: int, on_wake: Callable[[], None] | None = None) -> bytes:
    """Up to the end of the line (not included). In canonical mode one read returns at most one
    line, so nothing typed after it (a second line typed ahead) is taken from the terminal.
    Waits with the signals' wake-up (signal.set_wakeup_fd): a signal that comes just before
    the wait (Ctrl-Z as the prompt appears) ends it, and its handler runs, instead of being
    noted while a blocking read waits on for a key. ``on_wake`` is called before each wait and
    after each wake: where a signal noted by its handler is answered (_Leaving)."""
    data = b""
    while not data.endswith(b"\n"):
        with _woken_by_signals() as woken:
            _wait_for(fd, woken, on_wake)
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


def _wait_for(fd: int, woken: int | None, on_wake: Callable[[], None] | None = None) -> None:
    """Until ``fd`` can be read, or a signal came (its handler has run by the time this returns,
    and ``on_wake`` after it)."""
    import select

    if woken is None:
        return  # a plain blocking read
    while True:
        if on_wake is not None:
            on_wake()
        try:
            ready, _, _ = select.select([fd, woken], [], [])
        except (OSError, ValueError):  # a terminal that went away: the read says so
            return
        if fd in ready:
            return
        os.read(woken, 512)  # a signal (handled meanwhile, a Ctrl-Z then fg): wait again


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
