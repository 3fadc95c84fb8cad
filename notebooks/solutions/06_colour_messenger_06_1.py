"""Solution to exercise 06.1 (a forgiving Y/N) in 06_colour_messenger.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def parse_answer(text):
    word = text.strip().lower()
    if word in ("y", "yes"):
        return "Y"
    if word in ("n", "no"):
        return "N"
    return None
