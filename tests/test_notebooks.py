"""The teaching notebooks: valid, generated from their sources, and runnable top to bottom.

Every notebook is executed headless with nbclient in a temp copy of notebooks/ (nothing is
written into the repository), each in its own kernel with a per-cell timeout, servers on
port 0 or a temp AF_UNIX path. The standalone notebooks run concurrently (a few kernels at a
time) so the whole file stays well under two minutes. Each server/client pair runs as two
kernels at once: the server notebook writes the port it got into a file whose path both
notebooks read from LANCHAT_PORT_FILE; the AF_UNIX pair shares LANCHAT_SOCKET.

Exercises are checked both ways: after the normal run, the test plants every typical wrong
answer the notebook source lists (each check must fail with an AssertionError that explains,
within a few seconds even when the wrong answer loops forever or waits on a socket without a
timeout) and then the solution (its check must pass), so a self-check that cannot fail, cannot
pass, or can hang is caught.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import pytest
from helpers import ROOT, child_env, short_tmp_dir
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 60  # seconds per cell; the notebooks' own timeouts are far shorter
CAUGHT_WITHIN = 10  # seconds a self-check may take to reject a wrong answer (their deadlines are ~3 s)
PARALLEL_KERNELS = 6  # most of a notebook's time is waiting (a planted wrong answer waits out its check's deadline)
STANDALONE = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb"))
PAIRS = sorted({p.name.split("_")[0] for p in (NOTEBOOKS / "pairs").glob("*_server.ipynb")})


def all_notebooks() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


# ---------------------------------------------------------------- static checks


def test_there_are_notebooks_and_pairs() -> None:
    assert len(STANDALONE) >= 7, STANDALONE
    assert {"000", "001"} <= set(PAIRS), PAIRS


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_notebook_is_valid_and_cleared(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not cleared"
    kinds = [cell.cell_type for cell in nb.cells]
    assert kinds[0] == "markdown", "a notebook opens by saying what it teaches"
    # every code cell is introduced by a markdown cell somewhere before it (no wall of code)
    assert kinds.count("markdown") * 2 >= kinds.count("code"), f"{path.name}: too little explanation"


def notebook_sources(path: Path) -> list[tuple[str, str, list[str]]]:
    nb = nbformat.read(path, as_version=4)
    return [(cell.cell_type, cell.source, list(cell.metadata.get("tags", []))) for cell in nb.cells]


def test_generated_files_match_the_generator(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "build_notebooks.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert built, "the generator wrote nothing"
    for relative in built:
        committed = NOTEBOOKS / relative
        assert committed.exists(), f"{relative} is generated but not committed (run notebooks/build_notebooks.py)"
        if relative.suffix == ".ipynb":  # compare what the cells say, not how a JSON writer spaced it
            same = notebook_sources(committed) == notebook_sources(tmp_path / relative)
        else:
            same = committed.read_bytes() == (tmp_path / relative).read_bytes()
        assert same, f"{relative} differs from its source in notebooks/src/; run notebooks/build_notebooks.py"
    committed_notebooks = {p.relative_to(NOTEBOOKS) for p in all_notebooks()}
    assert committed_notebooks <= set(built), f"notebooks without a source: {committed_notebooks - set(built)}"


# ---------------------------------------------------------------- execution


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The "python3" kernel; if the venv lacks one, a kernelspec for this interpreter in a temp dir."""
    try:
        KernelSpecManager().get_kernel_spec("python3")
        return "python3"
    except NoSuchKernel:
        pass
    spec_dir = tmp_path_factory.mktemp("jupyter") / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (lanchat tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    os.environ["JUPYTER_PATH"] = str(spec_dir.parent.parent) + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    return "python3"


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of notebooks/: running them must not write into the repository."""
    target = tmp_path_factory.mktemp("nb") / "notebooks"
    shutil.copytree(NOTEBOOKS, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return target


def notebook_env(**extra: str) -> dict[str, str]:
    env = child_env(
        LANCHAT_PORT="0", LANCHAT_HOST="127.0.0.1", LANCHAT_TIMEOUT="20", PYDEVD_DISABLE_FILE_VALIDATION="1"
    )
    env.update(extra)
    return env


def wrong_answers() -> dict[tuple[str, str], tuple[str, ...]]:
    """(notebook file name, exercise id) -> typical wrong answers, from the notebook sources."""
    sys.path.insert(0, str(NOTEBOOKS))
    try:
        import build_notebooks
    finally:
        sys.path.remove(str(NOTEBOOKS))
    return {
        (Path(book.path).name, exercise.ident): exercise.wrongs
        for book in build_notebooks.load_sources()
        for exercise in book.exercises
        if exercise.wrongs
    }


WRONG_ANSWERS = wrong_answers()


def with_exercise_probes(nb: nbformat.NotebookNode, notebook_path: Path) -> int:
    """Right after each exercise's check cell insert: each wrong answer and the check again (it must
    fail), then the solution and the check again (it must pass). Returns the number of exercises."""
    cells, found = [], 0
    for cell in nb.cells:
        cells.append(cell)
        idents = [tag.removeprefix("check-") for tag in cell.metadata.get("tags", []) if tag.startswith("check-")]
        for ident in idents:
            found += 1
            stem = notebook_path.stem
            solution_file = NOTEBOOKS / "solutions" / f"{stem}_{ident.replace('.', '_')}.py"
            wrongs = WRONG_ANSWERS.get((notebook_path.name, ident))
            assert wrongs, f"exercise {ident} in {notebook_path.name} has no wrong answer to test its check with"
            for number, wrong in enumerate(wrongs, start=1):
                cells.append(nbformat.v4.new_code_cell(wrong, metadata={"tags": ["probe-planted"]}))
                tags = ["raises-exception", f"probe-wrong-{ident}-{number}"]
                cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"tags": tags}))
            cells.append(
                nbformat.v4.new_code_cell(solution_file.read_text(encoding="utf-8"), metadata={"tags": ["probe-planted"]})
            )
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata={"tags": [f"probe-right-{ident}"]}))
    nb.cells = cells
    return found


# Cells a student runs a second time (to see it again, or by a double Shift+Enter), run again inside the suite's
# one run of the notebook, so they cost no kernel of their own: notebook -> [(a line of the cell after which
# the probe goes, what goes there)]. "AGAIN" is that cell once more; "CELL:text" a copy of the cell holding text;
# "SHOW:code" code whose output is checked like theirs; anything else is code planted for the probe. Copies are tagged probe-rerun-N (N counts them per notebook),
# planted code probe-planted: what the notebook itself prints is read without them.
RERUNS: dict[str, list[tuple[str, list[str]]]] = {
    "04b_durable_history.ipynb": [
        ("crash_mid_save =", ["AGAIN"]),  # the history cut in half once more, and the next cell restores it
        ("crash_mid_transaction", ["AGAIN"]),  # a new database, not "table messages already exists"
        ("def start_lanchat", ["AGAIN"]),  # a second server on the same history file: refused, and it says why
        (  # a wait that times out says so, and leaves ben's connection open (not a made-up ConnectionClosed)
            'ana = Person(port, "ana")',
            ["SHOW:try:\n    ben.wait_for(ev.Pong, timeout=0.5)\nexcept TimeoutError as exc:\n    print('ben, nothing in time:', exc)"],
        ),
    ],
    "06_colour_messenger.ipynb": [("leftover = socket.socket", ["AGAIN"])],  # the stale path's lesson again
    "07_lanchat.ipynb": [  # a second server, and the first one stopped, not left running
        ("proc = subprocess.Popen(", ["first_server = proc", "AGAIN", "SHOW:print('stopped:', first_server.poll())"]),
    ],
    "15_keyboard_and_socket.ipynb": [  # a second server and client, the first ones stopped, not left running
        ("ana = Terminal(", ["first = server, ana", "AGAIN", "SHOW:print('stopped:', first[0].poll(), first[1].proc.isalive())"]),
    ],
    "16_lab_join_the_room.ipynb": [  # a second room, and the first one stopped, not left running
        ("server = subprocess.Popen(", ["first_room = server", "AGAIN", "SHOW:print('stopped:', first_room.poll())"]),
    ],
    "17_keys_passwords_moderation.ipynb": [
        ("def start_room", ["AGAIN"]),  # a second room on the same history file: refused, and it says why
        (
            'bob, refusal = join("bob"',  # the refusals cell, run again as its text invites ("four times quickly")
            [
                # two more wrong passwords by bob: with the cell's own, three within the minute lock bob
                'for _ in range(2):\n    join("bob", bob_key, password="tea and biscuits")[0].close()',
                "AGAIN",  # the fourth run: bob's lock is on, and ann still joins from the same address
            ],
        ),
        ('action="kick"', ["AGAIN"]),  # kick ben and mute ann once more
    ],
}


def with_rerun_probes(nb: nbformat.NotebookNode, notebook_path: Path) -> None:
    reruns, cells, count = dict(RERUNS.get(notebook_path.name, [])), [], 0
    for cell in nb.cells:
        cells.append(cell)
        after = next((line for line in reruns if cell.cell_type == "code" and line in cell.source), None)
        for what in reruns.pop(after, []):
            if what == "AGAIN" or what.startswith(("CELL:", "SHOW:")):
                source = cell.source if what == "AGAIN" else what[5:] if what.startswith("SHOW:") else next(
                    c.source for c in nb.cells if what[5:] in c.source
                )
                tags = ["raises-exception", f"probe-rerun-{count}"]
                count += 1
            else:
                source, tags = what, ["probe-planted"]
            cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags}))
    assert not reruns, f"{notebook_path.name} has no cell with {sorted(reruns)} to run again"
    nb.cells = cells


def cell_seconds(cell: nbformat.NotebookNode) -> float:
    """How long the kernel spent on a cell, from the timestamps nbclient records."""
    timing = cell.metadata["execution"]
    started = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    return (finished - started).total_seconds()


def cell_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


# jupyter_client's words when a kernel never answered its first request (kernel_info): raised
# before any cell ran. Seen once in a CI run ("Kernel didn't respond in 60 seconds"), when the kernels
# still spoke TCP (see run_notebook); the notebook is then run again in a new kernel. A failing cell
# is never retried.
KERNEL_NEVER_STARTED = ("Kernel didn't respond", "Kernel died before replying to kernel_info")
KERNEL_STARTS = 3


async def run_notebook(nb: nbformat.NotebookNode, kernel: str, path: Path, env: dict[str, str]) -> None:
    """Runs ``nb`` in a new kernel, in the folder of ``path``, each cell timed; the kernel is shut down after.

    The kernel and this process talk over IPC sockets in a private folder, not TCP. Over TCP,
    jupyter_client picks the kernel's five ports by binding port 0 and letting go, writes them to
    the connection file, and the kernel binds them a second or more later: a server a notebook
    starts on port 0 meanwhile can get one (jupyter_client issue #487). The kernel then dies, or
    this process's channel connects to that server; a `serve --tls` room answers a stranger with
    a text line, which ZMQ reads as a message: "ValueError: b'<IDS|MSG>' is not in list". Nothing
    here picks a TCP port for a kernel (its socket paths are ~30 bytes, well under AF_UNIX's 107)."""
    with short_tmp_dir() as folder:
        km = AsyncKernelManager(
            kernel_name=kernel,
            transport="ipc",
            connection_file=os.path.join(folder, "kernel.json"),
            ip=os.path.join(folder, "kernel"),  # the IPC sockets: kernel-1 ... kernel-5
        )
        client = NotebookClient(
            nb,
            km=km,
            timeout=CELL_TIMEOUT,
            startup_timeout=60,
            shutdown_kernel="immediate",
            resources={"metadata": {"path": str(path.parent)}},
        )
        # given a kernel manager, nbclient leaves the kernel running unless told to clean up
        await client.async_execute(env=env, cleanup_kc=True)


async def execute(path: Path, kernel: str, env: dict[str, str], probes: bool = True) -> nbformat.NotebookNode:
    for start in range(1, KERNEL_STARTS + 1):
        nb = nbformat.read(path, as_version=4)
        if probes:
            nb.metadata["lanchat_exercises"] = with_exercise_probes(nb, path)
            with_rerun_probes(nb, path)
        try:
            await run_notebook(nb, kernel, path, env)
        except RuntimeError as exc:
            if start == KERNEL_STARTS or not str(exc).startswith(KERNEL_NEVER_STARTED):
                raise
            continue
        return nb
    raise AssertionError("unreachable: the last start returns or raises")


@pytest.fixture(scope="session")
def data_homes() -> dict[str, Path]:
    """name -> the XDG_DATA_HOME (a student's data folder) that notebook ran with, filled by `executed`."""
    return {}


@pytest.fixture(scope="session")
def executed(kernel_name: str, workdir: Path, data_homes: dict[str, Path]) -> dict[str, object]:
    """Run every standalone notebook once, a few at a time; map name -> notebook or exception."""
    results: dict[str, object] = {}

    async def run_all() -> None:
        gate = asyncio.Semaphore(PARALLEL_KERNELS)

        async def one(name: str) -> None:
            env = notebook_env()
            data_homes[name] = Path(env["XDG_DATA_HOME"])
            async with gate:
                try:
                    results[name] = await execute(workdir / name, kernel_name, env)
                except Exception as exc:  # reported by the test for that notebook
                    results[name] = exc

        await asyncio.gather(*(one(name) for name in longest_first(STANDALONE)))

    asyncio.run(run_all())
    return results


def longest_first(names: list[str]) -> list[str]:
    """The order to start the notebooks in: those with the most planted wrong answers first (each
    one that hangs waits out its check's deadline, ~3 s), so the longest does not start last and
    run on alone while the other kernels sit idle."""
    planted = {name: 0 for name in names}
    for (name, _ident), wrongs in WRONG_ANSWERS.items():
        if name in planted:
            planted[name] += len(wrongs)
    return sorted(names, key=lambda name: -planted[name])


def check_probes(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        text = cell_text(cell)
        if "check" in tags:
            assert "not attempted yet" in text, f"an untouched exercise's check should say so, got: {text!r}"
        for tag in tags:
            if tag.startswith("probe-wrong-"):
                errors = [out for out in cell.get("outputs", []) if out.output_type == "error"]
                assert errors and errors[-1].ename in ("AssertionError", "TookTooLong"), (
                    f"{tag}: a wrong answer passed the check (or failed without an explanation): {text!r}"
                )
                assert len(errors[-1].evalue) > 10, f"{tag}: the check fails without saying why"
                seconds = cell_seconds(cell)
                assert seconds < CAUGHT_WITHIN, f"{tag}: the check took {seconds:.1f} s to reject a wrong answer"
            if tag.startswith("probe-right-"):
                assert "✓" in text, f"{tag}: the solution did not pass its own check: {text!r}"


@pytest.mark.parametrize("name", STANDALONE)
def test_notebook_runs_top_to_bottom(name: str, executed: dict[str, object]) -> None:
    result = executed[name]
    if isinstance(result, Exception):
        raise AssertionError(f"{name} failed when run top to bottom:\n{result}")
    assert isinstance(result, nbformat.NotebookNode)
    assert result.metadata["lanchat_exercises"] >= 1, f"{name} has no self-checked exercise"
    check_probes(result)


@pytest.mark.parametrize("name", STANDALONE)
def test_notebook_prints_no_stray_traceback(name: str, executed: dict[str, object]) -> None:
    """A student at the projector reads every output: a traceback on stderr that no cell means to show (a
    background task's unhandled exception, logged by asyncio or threading) looks like the lesson broke."""
    result = executed[name]
    assert isinstance(result, nbformat.NotebookNode), f"{name} did not run"
    noisy = [
        output.text
        for cell in result.cells
        if not any(tag.startswith("probe-") for tag in cell.metadata.get("tags", []))
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stderr" and "Traceback" in output.text
    ]
    assert not noisy, f"{name} printed a traceback nobody asked for:\n{noisy[0]}"


@pytest.mark.parametrize("name", STANDALONE)
def test_notebook_keeps_no_history_in_the_students_data_folder(
    name: str, executed: dict[str, object], data_homes: dict[str, Path]
) -> None:
    """A lanchat server a notebook starts keeps its history in the notebook's scratch folder or nowhere: one
    in the student's data folder would collect every run's chat, and a second run (or a real room on the
    laptop) holding the same history file would stop that server from starting."""
    assert not isinstance(executed[name], Exception), f"{name} did not run"
    kept = sorted(p.name for p in (data_homes[name] / "lanchat").glob("history*"))
    assert not kept, f"{name} wrote lanchat history into the student's data folder: {kept}"


@pytest.mark.parametrize("name", STANDALONE)
def test_notebook_makes_no_identity_key_in_the_students_data_folder(
    name: str, executed: dict[str, object], data_homes: dict[str, Path]
) -> None:
    """A real `lanchat connect` a notebook runs makes its identity key in the notebook's scratch folder
    (`--identity`): one in the student's data folder would become their identity in every real room."""
    assert not isinstance(executed[name], Exception), f"{name} did not run"
    keys = sorted(p.name for p in (data_homes[name] / "lanchat").glob("*.key"))
    assert not keys, f"{name} made an identity key in the student's data folder: {keys}"


@pytest.mark.parametrize("name", STANDALONE)
def test_notebook_leaves_no_tls_certificate_or_known_server_in_the_students_data_folder(
    name: str, executed: dict[str, object], data_homes: dict[str, Path]
) -> None:
    """A `serve --tls` a notebook starts makes its certificate in the notebook's scratch folder: one in the
    student's data folder would be the certificate of their own class room later; a `known_servers` line for
    a port the notebook happened to get would make a later room on that port look like an impostor."""
    assert not isinstance(executed[name], Exception), f"{name} did not run"
    left = sorted(p.name for p in (data_homes[name] / "lanchat").glob("*") if p.name.startswith(("tls-", "known_")))
    assert not left, f"{name} wrote TLS files into the student's data folder: {left}"


STOPS_A_SERVER = ("request_shutdown(", ".terminate()", "SIGINT)")
STARTS_A_SERVER = ("Popen(", "start_room(", "start_lanchat(", "Server(")


@pytest.mark.parametrize("name", STANDALONE)
def test_a_cell_that_stops_a_lanchat_server_does_not_wait_out_its_flush(name: str, executed: dict[str, object]) -> None:
    """A lanchat server that stops gives its clients SHUTDOWN_FLUSH_SECONDS to read the notice and close;
    a cell that keeps its clients open until after the server's exit waits out all of it, for nothing, in
    class and in this suite. Every cell that stops a server (and starts none) ends well within it."""
    from lanchat.server import SHUTDOWN_FLUSH_SECONDS

    result = executed[name]
    assert isinstance(result, nbformat.NotebookNode), f"{name} did not run"
    for cell in result.cells:
        if cell.cell_type != "code" or any(tag.startswith("probe-") for tag in cell.metadata.get("tags", [])):
            continue
        if any(stop in cell.source for stop in STOPS_A_SERVER) and not any(s in cell.source for s in STARTS_A_SERVER):
            seconds = cell_seconds(cell)
            assert seconds < SHUTDOWN_FLUSH_SECONDS, (
                f"{name}: a cell that stops a server took {seconds:.1f} s: close the clients once they have read "
                f"the shutdown notice, before waiting for the server:\n{cell.source}"
            )


def printed(nb: nbformat.NotebookNode) -> str:
    """What a notebook's own cells printed (the planted exercise probes left out)."""
    return "\n".join(
        cell_text(cell)
        for cell in nb.cells
        if cell.cell_type == "code" and not any(tag.startswith("probe-") for tag in cell.metadata.get("tags", []))
    )


@pytest.mark.parametrize("name", STANDALONE)
def test_a_shutdown_notice_shown_to_students_is_explained(name: str, executed: dict[str, object]) -> None:
    """A notebook that prints lanchat's shutdown notice shows its `final` flag: the text must say what it means
    (the server may come back: lanchat's client waits for a restart), or a student is left guessing."""
    result = executed[name]
    assert isinstance(result, nbformat.NotebookNode), f"{name} did not run"
    if "final=False" not in printed(result) and "final=True" not in printed(result):
        return
    prose = "\n".join(cell.source for cell in result.cells if cell.cell_type == "markdown")
    assert "`final=False`" in prose and "restart" in prose, f"{name} prints a shutdown's final flag without saying what it means"


def test_notebooks_03_and_07_say_what_lanchats_server_loop_waits_with() -> None:
    """The server's loop waits with lanchat.poller (epoll called directly on Linux), not with selectors as
    notebook 03's own loop does: a student who opens server.py looking for `selectors` must be told."""
    assert "from .poller import" in (ROOT / "lanchat" / "server.py").read_text(encoding="utf-8")
    for name in ("03_many_clients.ipynb", "07_lanchat.ipynb"):
        prose = "\n".join(source for kind, source, _ in notebook_sources(NOTEBOOKS / name) if kind == "markdown")
        assert "lanchat.poller" in prose and "epoll" in prose, f"{name} does not say the server's loop uses lanchat.poller"


# What each cell run again (RERUNS, in order) must show: every text listed, and no Python error but the one named.
RERUN_SHOWS = {
    "04b_durable_history.ipynb": [
        ("file now holds:", None),
        ("integrity check: ok", None),
        ("lanchat did not start: lanchat: ", "RuntimeError"),
        ("ben, nothing in time: no Pong in time; got []", None),
    ],
    "06_colour_messenger.ipynb": [("bind failed: Address already in use", None)],
    "07_lanchat.ipynb": [("listening on port", None), ("stopped: 0", None)],
    "15_keyboard_and_socket.ipynb": [("ana's client is running", None), ("stopped: 0 False", None)],
    "16_lab_join_the_room.ipynb": [("listening on port", None), ("stopped: 0", None)],
    "17_keys_passwords_moderation.ipynb": [
        ("is in use by another lanchat server", "RuntimeError"),
        ("bob, wrong password: Error(code='locked', message='too many wrong passwords from you: 3 within a minute", None),
        ("ben gets: Error(code='kicked'", None),
    ],
}


@pytest.mark.parametrize("name", sorted(RERUN_SHOWS))
def test_a_cell_run_again_works_again_or_says_why(name: str, executed: dict[str, object]) -> None:
    """A student runs a cell twice: it does its work again, or stops at once with the reason in its own words
    (the room or server already running on that history file, the lock-out after three wrong passwords): never
    an unrelated Python error, a 10 s wait, or a cell that leaves the next ones failing (the run goes on)."""
    result = executed[name]
    assert isinstance(result, nbformat.NotebookNode), f"{name} did not run (a cell after a rerun failed?)"
    probes = [cell for cell in result.cells if any(tag.startswith("probe-rerun-") for tag in cell.metadata.get("tags", []))]
    assert len(probes) == len(RERUN_SHOWS[name]), "RERUNS and RERUN_SHOWS disagree"
    for cell, (shown, error) in zip(probes, RERUN_SHOWS[name], strict=True):
        text = cell_text(cell)
        errors = [out.ename for out in cell.get("outputs", []) if out.output_type == "error"]
        assert shown in text and errors == ([error] if error else []), f"run again, a cell showed {text!r}:\n{cell.source}"
        # (the fault this catches waits out a notebook's 10 s TIMEOUT; a right cell took 6 s once at load 15)
        assert cell_seconds(cell) < 8, f"run again, a cell took {cell_seconds(cell):.1f} s:\n{cell.source}"


def test_notebook_07_names_every_state_of_the_protocol() -> None:
    from lanchat.protocol import State

    cells = [source for kind, source, _ in notebook_sources(NOTEBOOKS / "07_lanchat.ipynb") if kind == "markdown"]
    text = next(source for source in cells if "TRANSITIONS" in source and "state" in source)
    missing = [state.value for state in State if f"`{state.value}`" not in text]
    assert not missing, f"notebook 07 describes the states without {missing}: TRANSITIONS prints them"
    count = {3: "three", 4: "four", 5: "five"}.get(len(State), str(len(State)))
    assert f"one of {count} states" in text, f"lanchat has {len(State)} states"


def test_notebook_16_quotes_the_tls_rooms_refusal_as_the_server_sends_it() -> None:
    """In class the room may have been started with --tls (notebook 17's advice): the lab says what a plain
    socket then reads, in the server's own words."""
    from lanchat.tls import TEXT_CLIENT_LINE

    prose = " ".join(
        " ".join(source.split()) for kind, source, _ in notebook_sources(NOTEBOOKS / "16_lab_join_the_room.ipynb")
        if kind == "markdown"
    )
    assert TEXT_CLIENT_LINE.decode().strip() in prose, "notebook 16 should quote what a --tls room tells a text participant"
    assert "`password: `" in prose, "and say that a --password room asks for the password after the name"
    from lanchat import events as ev
    from lanchat.room import Room

    room = Room(mode="turn", clock=lambda: 0.0)  # what a text participant out of turn reads, from the room itself
    room.handle(1, ev.Hello(name="NAME"))
    room.handle(2, ev.Hello(name="ana"))
    refusal = next(action.event.message for action in room.handle(2, ev.Say(text="hello")) if hasattr(action, "event"))
    assert f"`! {refusal}`" in prose and "TimeoutError" in prose, "and that in a turn room join_room cannot see its line"
    taken = next(action.event.message for action in room.handle(3, ev.Hello(name="ana")) if hasattr(action, "event"))
    assert f"`! {taken}`" in prose, "and what a student whose name is taken reads"


def test_notebook_09_quotes_lanchats_slow_reader_limits() -> None:
    """09's lab builds a per-client queue with a limit, then says what lanchat's are: the figures are the code's."""
    from lanchat.guard import NOT_READING_SECONDS
    from lanchat.hub import DEFAULT_MAX_QUEUE_BYTES

    prose = " ".join(
        " ".join(source.split())
        for kind, source, _ in notebook_sources(NOTEBOOKS / "09_labs_servers_that_hold_up.ipynb")
        if kind == "markdown"
    )
    assert f"no byte for {NOT_READING_SECONDS:.0f} s, or passes {DEFAULT_MAX_QUEUE_BYTES // 2**20} MiB" in prose
    assert "slows down the senders" in prose


def test_notebook_12_spells_the_fingerprint_as_lanchat_prints_it(executed: dict[str, object]) -> None:
    result = executed["12_tls.ipynb"]
    assert isinstance(result, nbformat.NotebookNode), "12 did not run"
    line = next((line for line in printed(result).splitlines() if line.startswith("as lanchat prints it:")), "")
    shown = line.split()[-1] if line else ""
    assert shown.startswith("SHA256:") and len(shown) == 50, f"12 should show lanchat's SHA256:... spelling; got {line!r}"
    from lanchat.tls import short_form

    board = next((line for line in printed(result).splitlines() if line.startswith("in short, for the board:")), "")
    assert board == f"in short, for the board: {short_form(shown)}", (
        f"12 should show the short form serve --tls prints for the board (a student's first join shows it); got {board!r}"
    )


def test_notebook_04b_shows_the_journal_holding_what_it_says(executed: dict[str, object]) -> None:
    """04b says ana's two messages and her /me are in the running server's journal, then moved into SQLite: the
    journal it prints must hold them (read while she is still there; her leaving moves them), the /me with its
    mark, and be empty at ben's replay, where the /me comes back as an action."""
    result = executed["04b_durable_history.ipynb"]
    assert isinstance(result, nbformat.NotebookNode), "04b did not run"
    text = printed(result)
    line = next((line for line in text.splitlines() if line.startswith("the journal, ana still here:")), "")
    assert '"first!"' in line and '"anyone here?"' in line, f"04b should show ana's two messages in the journal; got {line!r}"
    assert '"waves and leaves","L21l"' in line, f"04b says a /me's row carries the mark /me (base64 L21l); got {line!r}"
    assert "[History] * ana waves and leaves" in text, "04b should show ana's /me replayed to ben as an action"
    assert "after the replay, the journal holds 0 bytes" in text


def test_notebook_15_quotes_the_client_loop_registering_keyboard_and_socket(executed: dict[str, object]) -> None:
    """15 says lanchat's client puts the keyboard and the socket on one selector and waits in select, and
    quotes the lines that do it from lanchat.client: each of the three must be among the lines it prints
    (a refactor that moves one of them out of reach leaves the text's claim unshown)."""
    result = executed["15_keyboard_and_socket.ipynb"]
    assert isinstance(result, nbformat.NotebookNode), "15 did not run"
    text = printed(result)
    for shown in ("watching_keys(self.selector, self.frontend.fileno())", '(self.sock, selectors.EVENT_READ, "net")', ".selector.select("):
        assert shown in text, f"notebook 15 no longer shows lanchat's client loop doing {shown!r}"


def test_notebook_17_shows_the_room_keeping_out_whom_it_should(executed: dict[str, object]) -> None:
    """Each refusal notebook 17 teaches is the real server's, and the mute outlives the restart."""
    result = executed["17_keys_passwords_moderation.ipynb"]
    assert isinstance(result, nbformat.NotebookNode), "17 did not run"
    text = printed(result)
    for shown in (
        "lanchat.identity.short_fingerprint agrees",
        "the recorded signature, on the next challenge: False",
        "a wrong password's proof accepted? False",
        "ann's answer, relayed to the real server: False",
        "the server made you an operator: serve --operator",
        "another key as ann: Error(code='name-owned', message=\"the name 'ann' belongs to someone else",
        "bob, wrong password: Error(code='password', message='wrong password', fatal=True",
        "a plain client: Error(code='use-tls'",
        "ben gets: Error(code='kicked'",
        "ann's screen says: teach muted you for 5 minutes: shouting",
        "ann's kick: Error(code='not-operator'",
        "muted=('ann',), muted_minutes=(5,)",
        "ann sees: Shutdown(reason='the server was stopped', final=False)",
    ):
        assert shown in text, f"notebook 17 no longer shows {shown!r}"
    after_restart = text[text.index("final=False") :]
    assert "ann's message: Error(code='muted'" in after_restart, "the mute should hold after the server restarted"


# ---------------------------------------------------------------- pairs


def run_pair(prefix: str, kernel: str, workdir: Path, server_env: dict[str, str], client_env: dict[str, str]):
    pairs = workdir / "pairs"

    async def both():
        return await asyncio.gather(
            execute(pairs / f"{prefix}_server.ipynb", kernel, server_env, probes=False),
            execute(pairs / f"{prefix}_client.ipynb", kernel, client_env, probes=False),
        )

    return asyncio.run(both())


def outputs(nb: nbformat.NotebookNode) -> str:
    return "\n".join(cell_text(cell) for cell in nb.cells if cell.cell_type == "code")


def test_pair_001_tcp_turns(kernel_name: str, workdir: Path, tmp_path: Path) -> None:
    port_file = str(tmp_path / "port")
    server, client = run_pair(
        "001",
        kernel_name,
        workdir,
        notebook_env(LANCHAT_PORT_FILE=port_file, LANCHAT_SCRIPT=json.dumps(["Hi client!", "", "Fine. Bye!", "/q"])),
        notebook_env(LANCHAT_PORT_FILE=port_file, LANCHAT_SCRIPT=json.dumps(["Hello server", "", "How are you?", "x"])),
    )
    server_text, client_text = outputs(server), outputs(client)
    assert "Hello server" in server_text and "How are you?" in server_text
    assert "Hi client!" in client_text and "Fine. Bye!" in client_text
    assert "empty message refused" in server_text and "empty message refused" in client_text
    assert "the server closed the connection" in client_text
    # the client's net doctor probed first; the server recognised the probe and kept waiting
    assert "answers" in client_text and "a reachability probe from 127.0.0.1 reached us" in server_text
    assert "only this machine can connect" in server_text, "bound to 127.0.0.1: the net doctor should warn"


def default_route_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # chooses a route; a UDP connect sends nothing
        return probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()


def test_pair_001_net_doctor_names_the_default_route_address_first(kernel_name: str, workdir: Path, tmp_path: Path) -> None:
    # the server listens on every interface (as in class); the client still connects over loopback
    port_file = str(tmp_path / "port")
    server, client = run_pair(
        "001",
        kernel_name,
        workdir,
        notebook_env(LANCHAT_HOST="0.0.0.0", LANCHAT_PORT_FILE=port_file, LANCHAT_SCRIPT=json.dumps(["ok", "/q"])),
        notebook_env(LANCHAT_PORT_FILE=port_file, LANCHAT_SCRIPT=json.dumps(["hi", "x"])),
    )
    server_text = outputs(server)
    best = default_route_address()
    if best is None:
        assert "no network route" in server_text
    else:
        first = next(line for line in server_text.splitlines() if "classmates connect to" in line or "also " in line)
        assert first.startswith(f"classmates connect to {best}:"), f"the default-route address should come first: {first!r}"
    assert "only this machine can connect" not in server_text


def run_server_alone(kernel: str, workdir: Path, env: dict[str, str], first_cell: str = "") -> str:
    """Runs pairs/001_server.ipynb (optionally after `first_cell`) until it stops with an error; returns what
    its cells printed."""
    path = workdir / "pairs" / "001_server.ipynb"
    nb = nbformat.read(path, as_version=4)
    if first_cell:
        nb.cells.insert(0, nbformat.v4.new_code_cell(first_cell))
    with pytest.raises(CellExecutionError):
        asyncio.run(run_notebook(nb, kernel, path, env))
    return outputs(nb)


def test_pair_server_port_held_by_its_own_earlier_run_says_restart_the_kernel(kernel_name: str, workdir: Path) -> None:
    # an earlier run in the same kernel, interrupted before it closed its listening socket
    earlier_run = (
        "import os, socket\n"
        "earlier_listener = socket.create_server(('127.0.0.1', 0))\n"
        "os.environ['LANCHAT_PORT'] = str(earlier_listener.getsockname()[1])"
    )
    message = run_server_alone(kernel_name, workdir, notebook_env(), first_cell=earlier_run)
    assert "earlier run in this same notebook: Kernel -> Restart Kernel" in message, message[-600:]
    assert "choose another port" not in message


def test_pair_server_port_held_by_another_program_says_choose_another_port(kernel_name: str, workdir: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as other_program:  # this test process is the other program
        port = str(other_program.getsockname()[1])
        message = run_server_alone(kernel_name, workdir, notebook_env(LANCHAT_PORT=port))
    assert f"port {port} is used by another program: choose another port" in message, message[-600:]
    assert "Restart Kernel" not in message


def test_pair_000_colour_messenger(kernel_name: str, workdir: Path, sock_dir: str) -> None:
    socket_path = os.path.join(sock_dir, "colour.sock")
    server, client = run_pair(
        "000",
        kernel_name,
        workdir,
        notebook_env(LANCHAT_SOCKET=socket_path),
        notebook_env(LANCHAT_SOCKET=socket_path, LANCHAT_SCRIPT=json.dumps(["sunny", "maybe", "N", "Y"])),
    )
    server_text, client_text = outputs(server), outputs(client)
    assert "sunny" in server_text
    assert client_text.count("https://www.computerhope.com/cgi-bin/htmlcolor.pl?c=") >= 2
    assert "please answer Y or N" in client_text
    assert not os.path.exists(socket_path), "the server notebook should remove its socket file"


def test_pair_000_default_path_is_private_to_the_user(kernel_name: str, workdir: Path, sock_dir: str) -> None:
    runtime = Path(sock_dir) / "run-user"  # stands in for $XDG_RUNTIME_DIR (/run/user/UID), as short
    runtime.mkdir(mode=0o700)
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    server, client = run_pair(
        "000",
        kernel_name,
        workdir,
        notebook_env(**env),
        notebook_env(**env, LANCHAT_SCRIPT=json.dumps(["calm", "Y"])),
    )
    server_text, client_text = outputs(server), outputs(client)
    socket_path = runtime / "lanchat-colour.sock"
    assert f"socket path: {socket_path}" in server_text and f"socket path: {socket_path}" in client_text
    assert "srw-------" in server_text, "the socket file should be born 0600"
    assert "calm" in server_text and not socket_path.exists()


def long_temp_folder(sock_dir: str) -> str:
    """A temp folder as some Jupyter setups give (a JupyterHub's, a snap's): 90 bytes, so a socket
    file in a folder made in it is past AF_UNIX's 107 ("OSError: AF_UNIX path too long")."""
    folder = Path(sock_dir) / ("jupyter-runtime-" + "x" * 40) / ("tmp-" + "y" * 40)
    folder.mkdir(parents=True)
    assert len(os.fsencode(folder)) > 80
    return str(folder)


def assert_explains_the_socket_path_limit(text: str) -> None:
    """One paragraph instead of a traceback: the limit, why (the kernel's fixed field), what to do."""
    assert "AF_UNIX path too long" not in text and "Traceback" not in text, text[-1500:]
    assert "at most 107 bytes" in text and "sun_path" in text, text[-1500:]


@pytest.mark.parametrize("name", ["06_colour_messenger.ipynb", "09_labs_servers_that_hold_up.ipynb"])
def test_a_long_temp_folder_is_explained_and_the_notebook_still_runs(name: str, kernel_name: str, workdir: Path,
                                                                     sock_dir: str) -> None:
    """A student whose Jupyter has a long temp folder (TMPDIR) got "OSError: AF_UNIX path too long"
    and a traceback at notebook 06's first bind. The notebook says why in one paragraph, makes
    its folder of socket files in /tmp instead, and runs to the end."""
    env = notebook_env(TMPDIR=long_temp_folder(sock_dir))
    nb = asyncio.run(execute(workdir / name, kernel_name, env, probes=False))
    text = printed(nb)
    assert_explains_the_socket_path_limit(text)
    assert "makes its folder in /tmp instead" in text, text[-1500:]
    assert not [out for cell in nb.cells for out in cell.get("outputs", []) if out.output_type == "error"]


@pytest.mark.parametrize("setting", ["LANCHAT_SOCKET", "TMPDIR"])
def test_pair_000_says_a_socket_path_is_too_long_and_what_to_set(setting: str, kernel_name: str, workdir: Path,
                                                                sock_dir: str) -> None:
    """Pair 000's path, given (LANCHAT_SOCKET) or made in a long temp folder without $XDG_RUNTIME_DIR,
    past the limit: both kernels would have met "AF_UNIX path too long" in a traceback. Each says
    why and to set LANCHAT_SOCKET to a shorter path, and stops there (sys.exit), as on a taken port."""
    folder = long_temp_folder(sock_dir)
    env = {"LANCHAT_SOCKET": os.path.join(folder, "colour.sock")} if setting == "LANCHAT_SOCKET" else {"TMPDIR": folder}
    for role in ("server", "client"):
        path = workdir / "pairs" / f"000_{role}.ipynb"
        nb = nbformat.read(path, as_version=4)
        run_env = notebook_env(**env)
        run_env.pop("XDG_RUNTIME_DIR", None)
        with pytest.raises(CellExecutionError) as stopped:
            asyncio.run(run_notebook(nb, kernel_name, path, run_env))
        assert "SystemExit" in str(stopped.value), str(stopped.value)[-800:]
        text = outputs(nb)
        assert_explains_the_socket_path_limit(text)
        assert "Set LANCHAT_SOCKET to a shorter path" in text, text[-1500:]


def test_pair_000_tcp_variant_for_windows(kernel_name: str, workdir: Path) -> None:
    # The notebook binds the port it is given (seed 000 has no port file), so the port is chosen
    # here, free when chosen; a kernel started meanwhile (each binds one of its own on 127.0.0.1 port 0,
    # ipykernel's IOPub pipe) may take it first. Then, and only then, the pair runs again on another: 3
    # tries at most.
    for attempt in range(3):
        with socket.socket() as probe:  # a port free right now, chosen by the OS
            probe.bind(("127.0.0.1", 0))
            port = str(probe.getsockname()[1])
        env = {"LANCHAT_COLOUR_TCP": "1", "LANCHAT_PORT": port}
        try:
            server, client = run_pair(
                "000",
                kernel_name,
                workdir,
                notebook_env(**env),
                notebook_env(**env, LANCHAT_SCRIPT=json.dumps(["curious", "N", "Y"])),
            )
            break
        except CellExecutionError as failure:
            if "Address already in use" not in str(failure) or attempt == 2:
                raise
    server_text, client_text = outputs(server), outputs(client)
    assert f"using TCP on ('127.0.0.1', {port})" in server_text
    assert client_text.count("htmlcolor.pl?c=") == 2 and "curious" in server_text


# ---------------------------------------------------------------- seed coverage

# Each documented seed step, as text that must appear in the notebook that teaches it (code or prose).
SEED_STEPS = {
    "06_colour_messenger.ipynb": [  # seed 000, server and client
        "socket.AF_UNIX, socket.SOCK_STREAM",
        "SOCKET_PATH",
        "os.unlink(SOCKET_PATH)",
        ".listen(1)",
        ".accept()",
        "recv(1024)",
        "fake.hex_color()",
        "seed_instance",
        "htmlcolor.pl?c=",
        "colour_link",
        "serve --headless --once --bot colour --max-clients 1 --unix mood.sock",  # the same, with lanchat
        ".sendall(",
        "sys.exit(1)",
        "please answer Y or N",
        "client.close()",
        "server.close()",
    ],
    "01_first_socket_tcp_turns.ipynb": [  # seed 001
        '"127.0.0.1"',
        '"3580"',
        ".bind((HOST, PORT))",
        ".listen(1)",
        "create_connection",
        ".accept()",
        '== "/q"',
        "empty message refused",
        "with socket.socket(",
        "deadlock",
        "TimeoutError",
        "held until it is your turn",  # what lanchat's client does with a line typed out of turn (nc reads the refusal)
    ],
    "02_framing.ipynb": [  # seed 004: framing
        "Two sends can arrive as one",
        "recv(4)",
        'struct.pack(">I"',
        '.encode("utf-8")',
        "UnicodeDecodeError",
        "datetime",
        "encoded once",
        "FrameDecoder",
    ],
    "03_many_clients.ipynb": [  # seeds 002 and 004: many clients
        "threading.Thread",
        "threading.Lock",
        "BlockingIOError",
        "errno",
        "select.select",
        "selectors.DefaultSelector",
        "full-duplex",
        "turn-based",
    ],
    "04a_names_and_messages.ipynb": [  # seed 003: names, recipients, replay, crashes, shutdown notice
        '{"name": name}',
        "is taken",
        'to="ben"',
        "messages.json",
        "[History]",
        "ConnectionResetError",
        "shutdown",
        '{"ack": "shutdown"}',
        "connection refused",
        "SIGINT",
    ],
    "04b_durable_history.ipynb": [  # seed 003: the history file, made crash-safe
        "messages.json",
        "os._exit",
        "JSONDecodeError",
        "os.replace",
        "sqlite3",
        "HistoryStore",
        "real.sqlite3.pending",  # the running server's journal, read before and after a replay moves it
        "[History]",
        "shutdown",
    ],
    "05_files.ipynb": ["hashlib.sha256", "CHUNK", "chunk_plan", "safe_name", "checksum mismatch"],  # seed 002
    "07_lanchat.ipynb": [
        "TRANSITIONS",
        "Connection(Role.CLIENT)",
        "Connection(Role.SERVER)",
        "LocalProtocolError",
        "RemoteProtocolError",
        "Room(",
        '"-m", "lanchat", "serve", "--headless", "--port", "0"',
        "Server([listener]",
        "request_shutdown",
        "to ben **and** to ana",  # a whisper's copy for the sender, as the room's output shows it
    ],
    "17_keys_passwords_moderation.ipynb": [  # seed 004's future work: a password to enter, moderation controls
        "--password",
        "--tls",
        "--operator",
        "identity.sign_challenge",
        "identity.password_proof",
        "channel_binding",
        "ev.Challenge",
        "ev.Auth(",
        'action="kick"',
        'action="mute"',
        "start_room(port)",
    ],
    "15_keyboard_and_socket.ipynb": [  # seed 004's future work: its backslash commands, a saved chat
        'write(b"\\\\clients',
        "`\\clear`",
        "/save ",
    ],
    "16_lab_join_the_room.ipynb": [  # the last lab: a raw socket (seed 001 style) in the real room
        '"-m", "lanchat", "serve", "--headless", "--host", HOST, "--port", "0"',
        "never speaks first",
        'sendall(b"\\n")',
        'sendall(b"/q\\n")',
        "connection lost",
        "server.terminate()",
        "server.pid",
    ],
}


@pytest.mark.parametrize("name", sorted(SEED_STEPS))
def test_every_seed_step_is_taught(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    missing = [step for step in SEED_STEPS[name] if step not in text]
    assert not missing, f"{name} no longer teaches: {missing}"


def test_pair_client_without_server_says_so_in_one_line(kernel_name: str, workdir: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound by us, then released
        probe.bind(("127.0.0.1", 0))
        unused_port = str(probe.getsockname()[1])
    env = notebook_env(LANCHAT_PORT=unused_port, LANCHAT_SCRIPT=json.dumps(["never sent"]))
    with pytest.raises(CellExecutionError) as failure:
        asyncio.run(execute(workdir / "pairs" / "001_client.ipynb", kernel_name, env, probes=False))
    message = str(failure.value)
    assert f"cannot connect to 127.0.0.1:{unused_port}" in message and "SystemExit" in message
    assert "Traceback" not in message.split("SystemExit")[0][-400:], "expected the seed's sys.exit(1), not a traceback"


def test_every_predict_question_has_an_answer_in_the_teachers_guide() -> None:
    """Each "Predict, then run (P08.1)" in a notebook has its answer, "**P08.1**", in TEACHERS_GUIDE.md, and the
    guide answers no question the notebooks no longer ask."""
    import re

    asked = set()
    for path in all_notebooks():
        for kind, source, _ in notebook_sources(path):
            if kind == "markdown":
                asked.update(re.findall(r"Predict, then run \((P\d\d\.\d)\)", source))
    guide = (NOTEBOOKS / "TEACHERS_GUIDE.md").read_text(encoding="utf-8")
    answered = set(re.findall(r"\*\*(P\d\d\.\d)\*\*", guide))
    assert len(asked) >= 23, f"fewer predict questions than expected: {sorted(asked)}"
    assert asked == answered, f"asked, not answered: {sorted(asked - answered)}; answered, not asked: {sorted(answered - asked)}"


# Answers in TEACHERS_GUIDE.md that quote what a notebook prints (lanchat's own words): answer -> notebook.
ANSWERS_QUOTING_OUTPUT = {
    "P07.1": "07_lanchat.ipynb",
    "P16.1": "16_lab_join_the_room.ipynb",
    "P17.2": "17_keys_passwords_moderation.ipynb",
}


@pytest.mark.parametrize("answer", sorted(ANSWERS_QUOTING_OUTPUT))
def test_the_teachers_guide_quotes_what_the_notebook_prints(answer: str, executed: dict[str, object]) -> None:
    """A teacher reads an answer's quoted words to the class before running the cell: each `quoted phrase`
    (with a space: lanchat's sentences, not single names) must be what the notebook printed this run, or the
    class sees other words than the teacher promised (a refusal reworded in lanchat, the guide left behind)."""
    import re

    result = executed[ANSWERS_QUOTING_OUTPUT[answer]]
    assert isinstance(result, nbformat.NotebookNode), f"{ANSWERS_QUOTING_OUTPUT[answer]} did not run"
    guide = (NOTEBOOKS / "TEACHERS_GUIDE.md").read_text(encoding="utf-8")
    text = re.search(rf"^- \*\*{re.escape(answer)}\*\*(.*?)(?=^- \*\*P|^$)", guide, re.S | re.M)
    assert text, f"the guide has no answer {answer}"
    shown = re.sub(r"[ \t]+", " ", printed(result))  # each line as printed; the guide wraps its lines
    quotes = [re.sub(r"\s+", " ", quote) for quote in re.findall(r"`([^`]+)`", text.group(1))]
    quotes = [quote for quote in quotes if " " in quote.strip()]
    assert quotes, f"{answer} quotes nothing the notebook prints: take it out of ANSWERS_QUOTING_OUTPUT"
    for quote in quotes:  # all of what was printed: a quote that stops short hides the words that follow
        assert re.search(re.escape(quote) + r"""(?=['"\n]|$)""", shown), (
            f"the guide's {answer} quotes {quote!r}, which is not what {ANSWERS_QUOTING_OUTPUT[answer]} prints "
            "(a whole message, a line, or a quoted string)"
        )


def test_the_teachers_guide_says_what_a_silent_room_looks_like_in_lanchats_words() -> None:
    """The checklist's "If the room stops answering" quotes the client's status line and --plain lines and its
    timings: they must be lanchat.liveness's, or a teacher waits for words the class never sees."""
    import re

    from lanchat import liveness

    guide = (NOTEBOOKS / "TEACHERS_GUIDE.md").read_text(encoding="utf-8")
    bullet = re.search(r"^- \*\*If the room stops answering\.\*\*(.*?)(?=^- \*\*)", guide, re.S | re.M)
    assert bullet, "the guide's checklist has no 'If the room stops answering' bullet"
    said = " ".join(bullet.group(1).split())
    clock = [0.0]
    watch = liveness.Liveness(clock=lambda: clock[0])
    watch.welcomed(answers_pings=True)
    clock[0] = liveness.PING_AFTER_SECONDS
    assert watch.ping_due()
    clock[0] = liveness.PING_AFTER_SECONDS + liveness.ANSWER_SECONDS
    assert watch.newly_silent()
    seconds = round(clock[0])
    for words in (
        f"After {liveness.PING_AFTER_SECONDS:.0f} s of quiet",
        f"{liveness.ANSWER_SECONDS:.0f} s without an answer",
        f"`{watch.text()}`",
        f"`{liveness.silent_line(seconds).split(': ')[0]}: ...`",
        f"`{liveness.answers_again_line(42).replace('42', 'N')}`",
    ):
        assert words in said, f"the guide's 'If the room stops answering' should say {words!r}"


def test_the_teachers_guide_quotes_the_last_dry_run() -> None:
    """The guide's timing table is dry_run_timings.json as time_notebooks.py last wrote it: every notebook
    (16 and 17 too), each figure rounded to 0.1 s, so a teacher never plans with a stale or missing one."""
    import re

    measured = json.loads((NOTEBOOKS / "dry_run_timings.json").read_text(encoding="utf-8"))["seconds"]
    guide = (NOTEBOOKS / "TEACHERS_GUIDE.md").read_text(encoding="utf-8")
    quoted = {}
    for label, seconds in re.findall(r"\| ((?:pairs )?\d+[ab]?) [^|]*\| (\d+(?:\.\d)?) s\*? \|", guide):
        quoted[label.replace("pairs ", "pairs/")] = float(seconds)
    missing = sorted(set(STANDALONE) - set(measured))
    assert not missing, f"the last dry run did not time {missing}: run notebooks/time_notebooks.py"
    for name, seconds in measured.items():
        label = name.split("_")[0]
        assert label in quoted, f"the guide's timing table has no row for {name}"
        assert abs(quoted[label] - seconds) <= 0.051, f"the guide says {quoted[label]} s for {name}; the dry run says {seconds:.2f} s"


def test_the_teachers_guide_says_what_happens_to_a_question_typed_after_mode_turn_in_lanchats_words() -> None:
    """The checklist's "A quiz in turns" said a question typed after `/mode turn` "is refused and kept
    in your input line: press Enter again once the turn is yours", and a student's early line "waits in
    their input line": both are held and go on their turn, the input line free (README, The screen), so
    a teacher waited for a line to come back that never did. The bullet quotes the host's notice as
    lanchat words it."""
    import re

    from lanchat import events as ev
    from lanchat.client import held_until_our_turn
    from lanchat.session import Session

    guide = (NOTEBOOKS / "TEACHERS_GUIDE.md").read_text(encoding="utf-8")
    bullet = re.search(r"^- \*\*A quiz in turns\.\*\*(.*?)(?=^- \*\*)", guide, re.S | re.M)
    assert bullet, "the guide's checklist has no 'A quiz in turns' bullet"
    said = " ".join(bullet.group(1).split())
    teacher = Session(name="teacher", role="host", members=["teacher", "amy", "ben"], host="teacher")
    teacher.mode, teacher.turn = "turn", "amy"
    notice = held_until_our_turn(teacher, ev.Say(text="Question 2"))
    assert f"`{notice}`" in said, f"the guide should quote {notice!r}"
    for stale in ("kept in your input line", "waits in their input line", "press Enter again"):
        assert stale not in said, f"the guide still says {stale!r}"
