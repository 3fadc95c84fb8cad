"""socket_paths.py: the code, shared by the notebooks that bind or connect an AF_UNIX path, that
keeps a socket path under the system's limit or says why it cannot. Not a notebook itself.

A socket's address is a path the kernel copies into a fixed field (``sun_path`` in ``struct
sockaddr_un``: 108 bytes on Linux, 104 on macOS, a closing NUL included). A longer path fails at
``bind`` or ``connect`` with "OSError: AF_UNIX path too long" in a traceback: what a student whose
Jupyter has a long temp folder (a JupyterHub's, a snap's) met in notebook 06. Each notebook prints
one paragraph instead: the limit, why, and what to do.
"""

from __future__ import annotations


def scratch_folder(prefix: str, longest: str, comment: str) -> str:
    """Code for a notebook's settings cell: ``scratch``, a fresh private folder for socket files;
    made in /tmp instead of the temp folder, with one paragraph saying why, when ``longest`` (the
    longest path the notebook puts in it, relative to it) would be past the limit."""
    return f'''
scratch = tempfile.TemporaryDirectory(prefix="{prefix}")
longest = os.path.join(scratch.name, {longest})  # {comment}
if hasattr(socket, "AF_UNIX") and len(os.fsencode(longest)) > unix_path_limit():
    print(f"The temporary folder {{scratch.name}} has too long a path for socket files: an AF_UNIX address "
          f"is a path of at most {{unix_path_limit()}} bytes (the kernel copies it into a fixed field, sun_path, "
          "with a closing NUL). So this notebook makes its folder in /tmp instead. In your own programs, put "
          "sockets in a short folder too ($XDG_RUNTIME_DIR, or a folder of yours in /tmp), or start Jupyter "
          "with TMPDIR=/tmp.")
    scratch = tempfile.TemporaryDirectory(prefix="{prefix}", dir="/tmp")
'''


def refuse_a_long_path(variable: str) -> str:
    """Code for a settings cell whose ``SOCKET_PATH`` two notebooks must agree on: past the limit,
    one paragraph saying why and to set ``variable`` to a shorter path, then stop (``sys.exit``,
    which ends Run All with a short note, as a taken port does)."""
    return f'''
if SOCKET_PATH and len(os.fsencode(SOCKET_PATH)) > unix_path_limit():
    print(f"The socket path {{SOCKET_PATH}} is {{len(os.fsencode(SOCKET_PATH))}} bytes: an AF_UNIX address is "
          f"a path of at most {{unix_path_limit()}} bytes (the kernel copies it into a fixed field, sun_path, "
          "with a closing NUL). Set {variable} to a shorter path, in a folder only you can enter "
          "($XDG_RUNTIME_DIR, or a folder of yours in /tmp), the same for both notebooks, and run again.")
    sys.exit(1)
'''
