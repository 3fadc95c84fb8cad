"""lanchat on each Python a class brings (3.11 to 3.13: Ubuntu 24.04's 3.12, Debian 13's and
Homebrew's 3.13): nothing in the source that one of them refuses, and no deprecation a newer
one turns into an error. Each check runs on whichever Python runs the suite, 3.11 too."""

from __future__ import annotations

import ast
import subprocess
import sys

from helpers import ROOT, child_env

SOURCE_FOLDERS = ("lanchat", "tests", "bench", "tools")


def _docstrings(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node, clean=False)
            if text is not None:
                found.append((getattr(node, "lineno", 1), text))
    return found


def test_no_docstring_holds_a_lone_surrogate_which_python_3_13_cannot_compile():
    """Python 3.13.0 cleans docstrings' indentation when it compiles, through UTF-8: a docstring
    holding "\\udce9" itself (Python's name for a byte that is not UTF-8, written unescaped in
    test_addresses) stopped the whole file with UnicodeEncodeError; pytest called it an error
    collecting the file, and a module of lanchat's would not have imported at all. A docstring
    says such a character escaped (a backslash, then udce9)."""
    unencodable = []
    for folder in SOURCE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, text in _docstrings(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    unencodable.append(f"{path.relative_to(ROOT)}:{line}")
    assert unencodable == []


def test_every_module_imports_with_deprecations_as_errors():
    """What Python 3.12 and 3.13 deprecate, a later one removes (3.14: sqlite3's named
    placeholders with a sequence, ast.Num, ...): each lanchat module imports, and --help runs,
    with DeprecationWarning and SyntaxWarning made errors, so a deprecated use shows here first
    on the Python that deprecates it."""
    every_module = (
        "import pkgutil, importlib, lanchat\n"
        "for found in pkgutil.walk_packages(lanchat.__path__, 'lanchat.'):\n"
        "    if found.name != 'lanchat.__main__':\n"
        "        importlib.import_module(found.name)\n"
    )
    strict = ["-W", "error::DeprecationWarning", "-W", "error::SyntaxWarning", "-W", "error::PendingDeprecationWarning"]
    for args in (["-c", every_module], ["-m", "lanchat", "--help"]):
        done = subprocess.run([sys.executable, "-X", "dev", *strict, *args], capture_output=True, text=True,
                              env=child_env(), cwd=ROOT, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Warning" not in done.stderr, done.stderr


def test_a_chat_and_its_server_exit_without_a_resource_warning_when_warnings_are_shown():
    """A student who runs with warnings shown (``python -W default``, PYTHONWARNINGS, or a
    course's template that sets it) read 'ResourceWarning: unclosed <socket.socket fd=4 ...>'
    twice at every exit of connect and of serve: the stop signals' wake socket, kept to the end
    of the process. Both leave it closed now: a real headless server and a --plain client, with
    warnings shown, say a line, the client leaves with /q and the server ends on SIGTERM."""
    from helpers import Proc

    env = {"PYTHONWARNINGS": "default"}
    server = Proc("serve", "--headless", "--port", "0", "--host", "127.0.0.1", "--no-announce", env=child_env(**env))
    try:
        port = server.expect(r"listening on port (\d+)").group(1)
        client = Proc("connect", "127.0.0.1", port, "--name", "ann", "--plain", env=child_env(**env))
        try:
            client.expect(r"welcome, ann")
            client.send("hello")
            client.expect(r"ann: hello")
            client.send("/q")
            assert client.wait() == 0
        finally:
            client.stop()
        server.popen.terminate()  # its own process, by PID
        assert server.wait() == 0
    finally:
        server.stop()
    assert "Warning" not in client.output, client.output
    assert "Warning" not in server.output, server.output
