"""This Linux Python made to look like another system's, for a child process: a ``sitecustomize.py``
in a temp folder put first on its PYTHONPATH (Python imports it at start, before any lanchat module).

* ``MACOS_LIKE``: no select.epoll, and a default selector that refuses /dev/null and never reports a
  regular file's end, as kqueue does; no SO_PEERCRED,
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


class KqueueLike(selectors.BaseSelector):
    """As macOS's kqueue, the default selector there: EINVAL for a device that is not a terminal
    (/dev/null); a regular file is taken, and is readable only while its offset is before its end
    (kqueue(2), EVFILT_READ on a vnode), so its end is never reported. The rest: poll()."""

    def __init__(self):
        self.others = selectors.PollSelector()
        self.files = {}  # fd -> SelectorKey of a regular file

    def register(self, fileobj, events, data=None):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        mode = os.fstat(fd).st_mode
        if stat.S_ISCHR(mode) and not os.isatty(fd):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        if not stat.S_ISREG(mode):
            return self.others.register(fileobj, events, data)
        if fd in self.files:
            raise KeyError(f"{fileobj!r} is already registered")
        self.files[fd] = selectors.SelectorKey(fileobj, fd, events, data)
        return self.files[fd]

    def unregister(self, fileobj):
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if fd in self.files:
            return self.files.pop(fd)
        return self.others.unregister(fileobj)

    def select(self, timeout=None):
        ready = [(key, selectors.EVENT_READ & key.events) for fd, key in self.files.items()
                 if key.events & selectors.EVENT_READ and os.lseek(fd, 0, os.SEEK_CUR) < os.fstat(fd).st_size]
        return ready + self.others.select(0 if ready else timeout)

    def get_map(self):
        return {**self.others.get_map(), **self.files}

    def close(self):
        self.files.clear()
        self.others.close()


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
