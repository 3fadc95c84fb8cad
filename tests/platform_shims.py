"""This Linux Python made to look like another system's, for a child process: a ``sitecustomize.py``
in a temp folder put first on its PYTHONPATH (Python imports it at start, before any lanchat module).

* ``MACOS_LIKE``: no select.epoll, and a default selector that refuses /dev/null as kqueue does; no SO_PEERCRED,
  TCP_USER_TIMEOUT or TCP_KEEPIDLE (macOS names the idle time TCP_KEEPALIVE), no os.O_TMPFILE,
  and no /proc: opening, listing or stat-ing anything under it fails as on a system without it;
  SHIM_UMASK in the environment: the process's umask (octal).
* ``WINDOWS_LIKE``: no fcntl, termios, tty, curses, pwd, grp or resource modules (a meta-path finder
  refuses them), and no SIGHUP, SIGWINCH, SIGTSTP or AF_UNIX.

Only public mechanisms: module attributes, builtins, sys.meta_path.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from helpers import child_env

_SHIMS = Path(tempfile.mkdtemp(prefix="lanchat-test-shims-"))  # one folder per shimmed child, all removed at exit
atexit.register(shutil.rmtree, _SHIMS, True)

MACOS_LIKE = '''
import builtins, errno, io, os, select

for name in ("epoll", "EPOLLIN", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLET", "EPOLLEXCLUSIVE"):
    if hasattr(select, name):
        delattr(select, name)  # first: socket imports selectors, which picks its default by them

import selectors, socket, stat


class KqueueLike(selectors.PollSelector):
    """As macOS's kqueue, the default selector there: EINVAL for a device that is not a terminal (/dev/null)."""

    def register(self, fileobj, events, data=None):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if stat.S_ISCHR(os.fstat(fd).st_mode) and not os.isatty(fd):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return super().register(fileobj, events, data)


selectors.DefaultSelector = KqueueLike

for module, names in (
    (socket, ("SO_PEERCRED", "TCP_USER_TIMEOUT", "TCP_KEEPIDLE", "TCP_QUICKACK", "TCP_CONGESTION")),
    (os, ("O_TMPFILE", "memfd_create", "sched_setaffinity", "sched_getaffinity")),
):
    for name in names:
        if name == "TCP_KEEPIDLE" and hasattr(socket, name):
            socket.TCP_KEEPALIVE = socket.TCP_KEEPIDLE  # macOS's name for the idle time before probes
        if hasattr(module, name):
            delattr(module, name)


def _under_proc(path):
    if isinstance(path, int):
        return False
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return False
    return os.path.normpath(os.path.join(os.getcwd(), text)).split(os.sep)[1:2] == ["proc"]


def _refusing_proc(real):
    def call(path, *args, **kwargs):
        if _under_proc(path):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory (no /proc here)", path)
        return real(path, *args, **kwargs)
    return call


builtins.open = io.open = _refusing_proc(io.open)
for _name in ("open", "stat", "lstat", "listdir", "scandir", "access", "link", "readlink"):
    setattr(os, _name, _refusing_proc(getattr(os, _name)))
if "SHIM_UMASK" in os.environ:  # a user's own umask, which only /proc could tell without changing it
    os.umask(int(os.environ["SHIM_UMASK"], 8))
'''

WINDOWS_LIKE = '''
import signal, socket, sys

MISSING = {"fcntl", "termios", "tty", "curses", "_curses", "pwd", "grp", "resource"}


class NoSuchModule:
    """As on Windows: these modules are not there."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name in MISSING:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


for name in MISSING:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, NoSuchModule)
for module, names in ((signal, ("SIGHUP", "SIGWINCH", "SIGTSTP")), (socket, ("AF_UNIX",))):
    for name in names:
        if hasattr(module, name):
            delattr(module, name)
'''


def shimmed_env(shim: str, **extra: str) -> dict[str, str]:
    """``child_env`` (its own XDG folders) with ``shim`` as the child's sitecustomize.py."""
    folder = Path(tempfile.mkdtemp(dir=_SHIMS))
    (folder / "sitecustomize.py").write_text(shim, encoding="utf-8")
    env = child_env(**extra)
    env["PYTHONPATH"] = f"{folder}:{env['PYTHONPATH']}"
    return env
