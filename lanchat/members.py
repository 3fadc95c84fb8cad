"""members.py: who is here, as one participant knows it: names in the order they came. Pure.

A room's members were a list: each join asked ``name in members`` and each leave ``remove``d, both
a walk through everyone here, so a fake server announcing 20,000 joins made the client's screen
do 200 million comparisons (about 4.5 s frozen). ``Members`` keeps the same order in a dict, so a
join, a leave and ``name in members`` cost the same with 20,000 here as with 2. Names are compared
exactly, as the server sent them (the room already refused two names with one key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice


class Members:
    """Names in join order (the turn order of a turn-based room). Reads like the list it
    replaced: iterate, ``len``, ``in``, and equal to a list or tuple of the same names."""

    __slots__ = ("_names",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names: dict[str, None] = dict.fromkeys(names)

    def add(self, name: str) -> None:
        """``name`` joined: last in the order, unless already here (then it keeps its place)."""
        self._names.setdefault(name, None)

    def discard(self, name: str) -> None:
        """``name`` left (nothing happens if it was not here)."""
        self._names.pop(name, None)

    def first(self, count: int) -> list[str]:
        """The first ``count`` names: what a pane of ``count`` rows shows, without copying the rest."""
        return list(islice(self._names, max(0, count)))

    def renamed(self, is_old: Callable[[str], bool], new: str) -> None:
        """Every name ``is_old`` picks becomes ``new``, in its place (a rename: rare, so a walk)."""
        self._names = dict.fromkeys(new if is_old(name) else name for name in self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Members):
            return list(self._names) == list(other._names)
        if isinstance(other, (list, tuple)):
            return list(self._names) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # it changes: never a dict key

    def __repr__(self) -> str:
        return f"Members({list(self._names)!r})"
