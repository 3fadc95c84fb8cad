"""build_notebooks.py: writes every teaching notebook from its plain-Python source. Never runs them.

The sources live in notebooks/src/nb*.py (one module per notebook or pair); each has a
``notebooks()`` function returning Notebook objects built from md/code cells. This script
turns them into .ipynb files (outputs cleared, stable cell ids so a rebuild is byte-identical)
and writes each exercise's solution to notebooks/solutions/.

    .venv/bin/python notebooks/build_notebooks.py            # rebuild in place
    .venv/bin/python notebooks/build_notebooks.py --out DIR  # build elsewhere (the tests compare)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def load_sources() -> list:
    """Every Notebook defined under src/, in file order."""
    sys.path.insert(0, str(SOURCES))  # so each source can `from cells import Notebook`
    books = []
    try:
        for path in sorted(SOURCES.glob("nb*.py")):
            spec = importlib.util.spec_from_file_location(f"lanchat_nb_{path.stem}", path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            books.extend(module.notebooks())
    finally:
        sys.path.remove(str(SOURCES))
    return books


def to_ipynb(book) -> nbformat.NotebookNode:  # noqa: ANN001
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        "lanchat": {"generated_by": "notebooks/build_notebooks.py; edit notebooks/src/, not this file"},
    }
    for index, cell in enumerate(book.cells):
        if cell.kind == "markdown":
            node = nbformat.v4.new_markdown_cell(cell.source)
        else:
            node = nbformat.v4.new_code_cell(cell.source)
            if cell.tags:
                node.metadata["tags"] = list(cell.tags)
            if "check" in cell.tags:  # JupyterLab shows a check folded: its output is what matters
                node.metadata["jupyter"] = {"source_hidden": True}
        node["id"] = f"{Path(book.path).stem.replace('_', '-')[:40]}-{index:03d}"
        nb.cells.append(node)
    return nb


def build(out: Path) -> list[Path]:
    written = []
    for book in load_sources():
        target = out / book.path
        target.parent.mkdir(parents=True, exist_ok=True)
        nb = to_ipynb(book)
        nbformat.validate(nb)
        nbformat.write(nb, target)
        written.append(target)
        for exercise in book.exercises:
            solution_path = out / "solutions" / book.solution_file(exercise.ident)
            solution_path.parent.mkdir(parents=True, exist_ok=True)
            header = (
                f'"""Solution to exercise {exercise.ident} ({exercise.title}) in {book.path}.\n\n'
                'It runs inside that notebook: names such as imports and settings come from its earlier cells.\n"""\n'
                "# ruff: noqa: F821\n\n"
            )
            solution_path.write_text(header + exercise.solution + "\n", encoding="utf-8")
            written.append(solution_path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: notebooks/)")
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path.relative_to(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
