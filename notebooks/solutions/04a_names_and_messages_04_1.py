"""Solution to exercise 04.1 (choose the recipients) in 04a_names_and_messages.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def recipients(sender, to, present):
    if to == "all":
        return sorted(name for name in present if name != sender)
    return [to] if to in present else []
