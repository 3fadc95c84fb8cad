"""The code's shape, kept by tests rather than by memory (../shared/STYLE.md):

* the pure core imports no socket, selector, thread, event loop, terminal or database module,
  no edge of lanchat's own, and never calls ``print`` or ``open``;
* every module opens with a docstring that says what it owns;
* no class in lanchat/ is over about 300 lines and no function over about 60, but for the
  exceptions listed below, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lanchat"

# Modules that never touch a socket, a file or the terminal (bytes, events and decisions only).
PURE = (
    "actions.py",
    "colourbot.py",
    "events.py",
    "files.py",
    "history_rows.py",
    "holder_watch.py",
    "upload_acks.py",
    "hub.py",
    "hub_connections.py",
    "hub_downloads.py",
    "hub_flush.py",
    "hub_keeping.py",
    "hub_timers.py",
    "members.py",
    "outbox.py",
    "pacing.py",
    "protocol.py",
    "room.py",
    "room_join.py",
    "room_social.py",
    "gate.py",
    "session.py",
    "session_events.py",
    "session_input.py",
    "session_moderation.py",
    "session_social.py",
    "textfold.py",
    "textsafe.py",
    "textview.py",
    "wording.py",
    "unconfirmed.py",
    "wire.py",
    "ui/colour_words.py",
    "ui/editor.py",
    "ui/held_bursts.py",
    "ui/keys.py",
    "ui/projector.py",
    "ui/redraw.py",
    "ui/render.py",
    "ui/sending.py",
    "ui/speech.py",
    "ui/spoken.py",
    "ui/view.py",
)
FORBIDDEN_MODULES = {
    "asyncio",
    "curses",
    "selectors",
    "socket",
    "socketserver",
    "sqlite3",
    "ssl",
    "subprocess",
    "threading",
}
# lanchat's own edges: a pure module may be handed one (typing only), never import it to use it.
EDGES = {"bots", "client", "client_files", "history", "server", "server_files", "transport", "ui.screen", "ui.plain", "__main__",
         "cli.args", "cli.chat", "cli.connect", "cli.history_file", "cli.rejoin", "cli.rooms", "cli.serve", "cli.start", "cli.terminal"}
FORBIDDEN_CALLS = {"print", "open", "input", "exec", "eval"}

MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 60
# Over the limits on purpose, or not ours to split this round. Each says why.
SIZE_EXCEPTIONS = {
    "cli/args.py:build_parser": "one declaration of every command-line option, read top to bottom like --help",
}


def _tree(name: str) -> ast.Module:
    return ast.parse((PACKAGE / name).read_text(encoding="utf-8"), filename=name)


def _imported(tree: ast.Module, module_name: str) -> set[str]:
    """Every module ``tree`` imports, absolute, outside ``if TYPE_CHECKING:`` blocks."""
    package = ["lanchat", *module_name.split("/")[:-1]]
    found: set[str] = set()
    checking_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            checking_only.update(id(child) for sub in node.body for child in ast.walk(sub))
    for node in ast.walk(tree):
        if id(node) in checking_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                root = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    found.update(f"{root}.{alias.name}" for alias in node.names)
                else:
                    found.add(root)
            elif node.module:
                found.add(node.module)
    return found


@pytest.mark.parametrize("name", PURE)
def test_a_pure_module_imports_no_io(name):
    imported = _imported(_tree(name), name)
    io = {module for module in imported if module.split(".")[0] in FORBIDDEN_MODULES}
    assert not io, f"{name} imports {sorted(io)}: the pure core does no I/O"
    own_edges = {m for m in imported if m.startswith("lanchat.") and m.removeprefix("lanchat.") in EDGES}
    assert not own_edges, f"{name} imports lanchat's edges {sorted(own_edges)}: pass them in instead"


@pytest.mark.parametrize("name", PURE)
def test_a_pure_module_never_prints_or_opens(name):
    calls = {
        node.func.id
        for node in ast.walk(_tree(name))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS
    }
    assert not calls, f"{name} calls {sorted(calls)}"


def _modules() -> list[str]:
    return sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("name", _modules())
def test_every_module_says_what_it_owns(name):
    doc = ast.get_docstring(_tree(name))
    if name.endswith("__init__.py") and not (PACKAGE / name).read_text().strip().strip('"'):
        return
    assert doc, f"{name} has no module docstring"
    stem = Path(name).name
    assert doc.startswith(f"{stem}:") or name.endswith("__init__.py"), f"{name}'s docstring should open with '{stem}: ...'"


def _sizes() -> list[tuple[str, str, int]]:
    found = []
    for name in _modules():
        tree = _tree(name)

        def visit(node: ast.AST, prefix: str, name: str = name) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    qualified = f"{prefix}{child.name}"
                    kind = "class" if isinstance(child, ast.ClassDef) else "function"
                    found.append((kind, f"{name}:{qualified}", child.end_lineno - child.lineno + 1))  # type: ignore[operator]
                    visit(child, f"{qualified}.")

        visit(tree, "")
    return found


def test_no_class_or_function_is_too_long_to_read():
    too_long = [
        f"{where} ({kind}, {lines} lines)"
        for kind, where, lines in _sizes()
        if lines > (MAX_CLASS_LINES if kind == "class" else MAX_FUNCTION_LINES) and where not in SIZE_EXCEPTIONS
    ]
    assert not too_long, "split these, or list them in SIZE_EXCEPTIONS with a reason: " + "; ".join(too_long)


def test_every_size_exception_is_still_needed():
    over = {
        where
        for kind, where, lines in _sizes()
        if lines > (MAX_CLASS_LINES if kind == "class" else MAX_FUNCTION_LINES)
    }
    stale = sorted(set(SIZE_EXCEPTIONS) - over)
    assert not stale, f"no longer too long, remove from SIZE_EXCEPTIONS: {stale}"
