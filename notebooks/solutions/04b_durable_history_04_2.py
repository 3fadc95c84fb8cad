"""Solution to exercise 04.2 (save atomically) in 04b_durable_history.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def save_atomically(path, data):
    path = Path(path)
    temp = path.with_name(path.name + ".tmp")  # same folder: os.replace cannot cross file systems
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())  # on the disk before the rename
    os.replace(temp, path)  # atomic: readers see the old file or the new one
