"""lanchat: a terminal chat for the local network, and a hands-on way to learn sockets."""

import sys

# Checked here, in words any Python can read, before a module written for 3.11 fails to parse or
# to import: `python3.10 -m lanchat` (or a stray python2) gets one line instead of a traceback.
if sys.version_info < (3, 11):  # noqa: UP036 - the point: an older Python runs this file too
    sys.exit(
        "lanchat needs Python 3.11 or newer, and this is Python " + ".".join(map(str, sys.version_info[:2]))
        + " (" + sys.executable + "): make its virtual environment with python3.11 or newer"
        " (python3.11 -m venv .venv), as README.md's quick start says"
    )

__version__ = "0.1.0"
