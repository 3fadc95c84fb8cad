"""bench/lone_store.py: the CPU cost of storing one message alone, at a chat's pace. Measures, never asserts.

Shared by history_bench.py (``--lone``, also run against an older lanchat on PYTHONPATH) and
dm_index_bench.py: it takes an open HistoryStore and imports nothing of lanchat's.
"""

from __future__ import annotations

import time


def lone_store_costs(store: object, count: int, gap: float = 0.01) -> list[float]:
    """CPU microseconds (``thread_time``) of each of ``count`` messages stored alone, ``gap``
    seconds after the last (the caches have gone cold): keep + commit + the journal's move when
    due, as the server does a pass (a store from before the journal has nothing to move)."""
    move = getattr(store, "move_if_due", lambda: 0)
    costs = []
    for i in range(count):
        time.sleep(gap)  # a chat's pace: the message arrives after the loop slept
        started = time.thread_time()
        store.keep(time=time.time(), sender="ann", text=f"message {i} " + "x" * 60)  # type: ignore[attr-defined]
        store.commit()  # type: ignore[attr-defined]
        move()
        costs.append((time.thread_time() - started) * 1e6)
    return costs
