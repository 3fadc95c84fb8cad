"""history_file.py: `lanchat history`, `history prune` and `history compact`, with the server stopped."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .terminal import PROG, fail, say, silence, terminal_columns, writes_utf8


def _rooms_kept(folder: Path) -> str:
    """The default history files in ``folder`` as the options that export them (``--port
    4000``; an AF_UNIX room's file by its path), for someone who asked for another port."""
    from ..history import FILE_NAME

    tag = lambda file: file.name.removeprefix("history-").removesuffix(".sqlite3")  # noqa: E731
    files = folder.glob("history-*.sqlite3") if folder.is_dir() else []

    def a_port(text: str) -> bool:  # as --port takes it: 0-9 only ("٣٥٨١" is decimal, and refused there)
        return text.isascii() and text.isdecimal()

    # by port (an AF_UNIX room's after them, by name), and those past the tenth counted, not dropped unsaid
    kept = sorted(files, key=lambda file: (0, int(tag(file)), "") if a_port(tag(file)) else (1, 0, file.name))
    named = [f"--port {tag(f)}" if a_port(tag(f)) else str(f) for f in kept[:10]]
    said = ", ".join(named) + (f", and {len(kept) - 10} more" if len(kept) > 10 else "")
    # lanchat before 2026-12-03 kept every room in one file (history.default_path takes it on port
    # 3580 only): asked for another port, a teacher updated since was not told it was there
    older = folder / FILE_NAME
    return ", ".join(filter(None, (said, f"{older} (an older lanchat's, for every room)" if older.is_file() else "")))


def entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def cmd_history(args: argparse.Namespace) -> int:
    """Print a transcript of a history file; never creates or changes the file."""
    import json
    import sqlite3
    import time

    from ..history import HistoryDamaged, HistoryStore, HistoryUnusable, default_path

    where = {"unix": args.unix} if args.unix else {"port": args.port}
    path = Path(args.path) if args.path else default_path(**where)
    if not args.path and not path.exists() and (kept := _rooms_kept(path.parent)):
        return fail(f"{path}: no such history file; rooms kept in that folder: {kept}")
    if _empty_file(path):
        return fail(_EMPTY_HISTORY.format(path=path))
    damage = None
    try:
        store = HistoryStore(path, create=False)
    except HistoryDamaged as exc:  # what can still be read is the person's: written out, around the damage
        damage = str(exc)
        try:
            store = HistoryStore(path, create=False, check=False)
        except HistoryUnusable:
            return fail(damage)
    except HistoryUnusable as exc:
        return fail(str(exc))
    shown = 0
    columns = terminal_columns() if sys.stdout.isatty() else None  # a pipe or a file: a line each, for grep
    try:  # a damaged file: every message that can still be read, going on past each damaged part
        for record in store.export(since=args.since) if damage is None else store.salvage(since=args.since):
            shown += 1
            record = record.screened() if args.projector else record  # noqa: PLW2901 - the one shown
            if args.format == "jsonl":
                line = json.dumps(record.to_json(), ensure_ascii=not writes_utf8(sys.stdout))  # \u escapes: still exact
            else:
                line = record.to_text(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.time)), columns)
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if store.skipped:  # a hand edit, another program, a damaged page (history_rows.py)
            say(f"lanchat: left out {entries(store.skipped)} of {path}: not as lanchat writes them "
                 "(a wrong type, an impossible time, too long)")  # fmt: skip
        if not shown:  # an empty transcript says so (on stderr: stdout may be a file being written)
            since = "" if args.since is None else " since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(args.since))
            say(f"no messages{since} in {path}")
    except BrokenPipeError:
        silence(sys.stdout)  # `lanchat history | head`: the reader has what it wanted; say nothing more
    except OSError as exc:  # `lanchat history > lesson.txt` on a full disk: the file ends short, said so
        silence(sys.stdout)
        return fail(f"cannot write the transcript of {path}: {(exc.strerror or str(exc)).lower()}; what was written stops short")
    except sqlite3.Error as exc:
        if damage is not None:
            return fail(f"{damage}: the transcript stops there, after {_messages(shown)} (what could be read)")
        return fail(f"cannot read {path}: {exc}")
    finally:
        store.close()
    if damage is not None and store.unreadable:
        return fail(f"{damage}: {_unreadable(store.unreadable)} could not be read; the transcript has the "
                     f"{_messages(shown)} that could")  # fmt: skip
    if damage is not None:  # read to its end all the same: the damage is elsewhere (an index, a free page)
        return fail(f"{damage}; every message could be read ({_messages(shown)})")
    return 0


def kept_history(given: str | None, args: argparse.Namespace, nothing: str = "") -> tuple[Path, int | None]:
    """The history file a command on a stopped room works on: ``given`` (PATH), or the room's on
    ``--port``/``--unix``; and the exit code, the reason said, if it is not there (``nothing``:
    what that means for this command), naming the rooms kept in that folder as `lanchat history` does."""
    from ..history import default_path

    where = {"unix": args.unix} if args.unix else {"port": args.port}
    path = Path(given) if given else default_path(**where)
    try:
        if not path.exists():
            kept = "" if given else _rooms_kept(path.parent)
            return path, fail(f"{path}: no such history file{nothing}" + (f"; rooms kept in that folder: {kept}" if kept else ""))
    except OSError as exc:  # a folder on the way we may not read
        return path, fail(f"cannot read {path}: {exc.strerror or exc}")
    if _empty_file(path):  # (SQLite would take it as a new database: prune and compact wrote one into it)
        return path, fail(_EMPTY_HISTORY.format(path=path))
    return path, None


# A history of 0 bytes (emptied by `> file`, a copy that never ran) holds nothing: said so, and left
# so. `lanchat history` said "no such table: messages" of it, `names list` nothing at all.
_EMPTY_HISTORY = "{path} is empty (0 bytes): it holds no lanchat history"


def _empty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size == 0
    except OSError:  # HistoryStore says what is wrong with it
        return False


def _damaged_advice(path: Path) -> str:
    """What a command that changes a stopped room's history says of a damaged file (not serve's
    "move it aside": that would lose what can still be read)."""
    return f"  the file was left untouched: '{PROG} history {path} > saved.txt' saves every message that can still be read"


def _open_stopped_history(path: Path, busy: str):  # noqa: ANN202 - (HistoryStore | None, exit code)
    """The history of a stopped room, opened to change it (it takes the journal's lock, as serve
    does), or None and the exit code, the reason said; ``busy``: what to do when a server runs on it."""
    from ..history import HistoryBusy, HistoryDamaged, HistoryStore, HistoryUnusable

    try:
        store = HistoryStore(path)
    except HistoryBusy:  # (its own message is advice for a second `serve`)
        return None, fail(f"a lanchat server is using {path}: stop it first (/q in its window){busy}")
    except HistoryDamaged as exc:
        return None, fail(f"{exc}\n{_damaged_advice(path)}")
    except HistoryUnusable as exc:
        return None, fail(str(exc))
    if not store.writable:
        store.close()
        return None, fail(f"cannot change {path}: {store.readonly_reason}")
    return store, 0


def cmd_history_prune(args: argparse.Namespace) -> int:
    """Drop old messages, room and direct, from a stopped room's history (history.py, drop_oldest), then give
    their space back to the disk unless --no-compact (_compact_history)."""
    import time

    from ..history import HistoryWriteError
    from ..history_upkeep import BATCH_ROWS, DAY_SECONDS, describe_holdings

    if args.before is not None and args.before > time.time():  # every message is from before it: a typo, surely
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(args.before))
        return fail(f"--before {stamp} is still to come: every message would go, with no way back; give a time "
                     "that has passed (a typo in the year?), or --before 0m to drop them all", 2)  # fmt: skip
    path, missing = kept_history(args.path, args)
    if missing is not None:
        return missing
    before = args.before if args.before is not None else time.time() - args.keep_days * DAY_SECONDS
    store, refused = _open_stopped_history(path, ", or restart it with --keep-days N")
    if store is None:
        return refused
    try:
        dropped = 0
        more = True
        while more:
            went, more = store.drop_oldest(before=before, rows=BATCH_ROWS * 10)
            dropped += went
        store.seen_keys(before=before)  # the keys that joined no later go too (a NAT ban's classmates: moderation.py)
        used, count, oldest = store.holdings()
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(before))
        say(f"{PROG}: dropped {dropped:,} message{'' if dropped == 1 else 's'} (room and direct) from before {stamp} in "
             f"{path} (bans, mutes, owned names, the topic and operators are kept)", sys.stdout)  # fmt: skip
        holds = describe_holdings(used, count, oldest, keep_days=None, max_mb=None).split(";")[0]
        if args.no_compact:
            say(f"{PROG}: it holds {holds} now (the file keeps its size on disk: new messages reuse the space; "
                 f"'{PROG} history compact' gives it back)", sys.stdout)  # fmt: skip
            return 0
        say(f"{PROG}: it holds {holds} now", sys.stdout)
        return _compact_history(store, path, dropped=dropped)
    except HistoryWriteError as exc:
        if not exc.disk_full:
            return fail(f"cannot change {path}: {exc}")
        done = f"{dropped:,} were dropped before it stopped" if dropped else "nothing was dropped"
        return fail(f"cannot change {path}: the disk is full, and dropping messages needs a little room to write: "
                     f"free a few MB (another file on that disk) and run it again; {done}")  # fmt: skip
    finally:
        store.close()


def cmd_history_compact(args: argparse.Namespace) -> int:
    """Give the space of a stopped room's dropped messages back to the disk (_compact_history)."""
    path, missing = kept_history(args.path, args)
    if missing is not None:
        return missing
    store, refused = _open_stopped_history(path, "")
    if store is None:
        return refused
    try:
        return _compact_history(store, path)
    finally:
        store.close()


def _compact_history(store, path: Path, dropped: int = 0) -> int:  # noqa: ANN001 - a HistoryStore, opened by _open_stopped_history
    """history.py's compact, saying the file's size before and after (``history.sqlite3:
    412.0 MiB -> 38.2 MiB``); refused, the file left as it was, where the disk has not room for
    SQLite's copy (history_upkeep.compact_refusal), and said so where the file is damaged.
    ``dropped``: what prune dropped just before, which a refusal must not say was left."""
    import shutil

    from ..files import human_size
    from ..history import HistoryDamaged, HistoryWriteError
    from ..history_upkeep import WORTH_COMPACTING, compact_refusal

    again = f"'{PROG} history compact {path}'"
    try:
        size, held = store.file_sizes()
        if size - held < WORTH_COMPACTING:
            say(f"{PROG}: {path.name}: {human_size(size)}, nothing to give back (under 1 MiB of it is unused)", sys.stdout)
            return 0
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:  # unknown: compact tries, all or nothing
            free = None
        refused = None if free is None else compact_refusal(path.name, held=held, free=free)
        if refused is not None:
            left = f"the drops are done, but {path.name} keeps its size ({human_size(size)})" if dropped else f"{path.name} was left as it was"
            return fail(f"{refused}; {left}: free some space there and run {again}")
        after = store.compact()
    except HistoryDamaged as exc:  # (found by VACUUM, past the check on opening: after prune's drops, too)
        return fail(f"{exc}, found while compacting it: it was not compacted\n"
                     f"  '{PROG} history {path} > saved.txt' saves every message that can still be read")  # fmt: skip
    except HistoryWriteError as exc:
        why, then = ("the disk filled up meanwhile", "free some space there and run") if exc.disk_full else (str(exc), "run")
        left = "the drops are done, but it keeps its size" if dropped else "it was left as it was"
        return fail(f"cannot compact {path}: {why}; {left} (nothing is lost): {then} {again}")
    say(f"{PROG}: {path.name}: {human_size(size)} -> {human_size(after)}", sys.stdout)
    return 0


def _messages(count: int) -> str:
    return f"{count} message{'' if count == 1 else 's'}"


def _unreadable(parts: list[tuple[int, int | None]]) -> str:
    """The ids of a damaged history's messages that could not be read: "messages #32 to #300",
    "message #7", "the messages from #301 on" (a file cut short: how many, nothing says)."""
    said = []
    for first, last in parts[:5]:
        if last is None:
            said.append(f"the messages from #{first} on")
        else:
            said.append(f"message #{first}" if first == last else f"messages #{first} to #{last} ({last - first + 1})")
    more = f" and {len(parts) - 5} more damaged parts" if len(parts) > 5 else ""
    return ", ".join(said) + more
