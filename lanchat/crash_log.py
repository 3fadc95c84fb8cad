"""crash_log.py: where an internal error's details are written, opened so that no one else's file is. An I/O edge.

The user's log folder (platformdirs), or, when that cannot be made (a home that is read-only, a
full disk), the temporary folder, which every user of the machine shares. There the name was one
for all (``/tmp/lanchat-crash.log``, opened to append): the first user's crash owned it, another's
could not write it, and a link planted there in advance made the next crash append to whatever it
led to (a file the victim may write). So the shared name carries the user's id, the file is opened
with O_NOFOLLOW (a link is refused, never followed) and O_CREAT with mode 0600, and a file that is
not a regular file of this user's, or has another name too (a hard link to the user's ~/.bashrc,
where the system lets another user make one), is refused, with one line that says why.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

FILE_NAME = "lanchat-crash.log"


def crash_log_path() -> Path:
    """The user's log folder's ``lanchat-crash.log``, or ``lanchat-crash-UID.log`` in the temp folder."""
    try:
        import platformdirs

        return platformdirs.user_log_path("lanchat", ensure_exists=True) / FILE_NAME
    except Exception:  # noqa: BLE001 - any trouble making the folder: the shared one, under a name of this user's
        uid = getattr(os, "geteuid", lambda: None)()
        return Path(tempfile.gettempdir()) / (f"lanchat-crash-{uid}.log" if uid is not None else FILE_NAME)


def write_crash(text: str, path: Path | None = None) -> str:
    """Append ``text`` to the crash log; returns where, or why it could not be, for one line on screen."""
    path = crash_log_path() if path is None else path
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0), 0o600)  # (a pipe planted there: no wait for a reader)
    except OSError as exc:
        if os.path.islink(path):  # (ELOOP: O_NOFOLLOW refused it)
            return f"(the log file could not be written: {path} is a link, not followed)"
        return f"(the log file could not be written: {path}: {exc.strerror or exc})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return f"(the log file could not be written: {path} is not a regular file)"
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            return f"(the log file could not be written: {path} belongs to another user)"
        if info.st_nlink != 1:  # another name of a file of this user's, planted there: its ~/.bashrc
            return f"(the log file could not be written: {path} has another name (a hard link), not written)"
        with open(fd, "a", encoding="utf-8", closefd=False) as log:
            log.write(text)
    except OSError as exc:
        return f"(the log file could not be written: {path}: {exc.strerror or exc})"
    finally:
        os.close(fd)
    return str(path)
