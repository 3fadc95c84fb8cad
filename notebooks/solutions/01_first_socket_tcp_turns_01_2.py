"""Solution to exercise 01.2 (a quit-aware prompt) in 01_first_socket_tcp_turns.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def classify(line):
    text = line.strip()
    if text == "/q":
        return "quit"
    if not text:
        return "empty"
    return "send"
