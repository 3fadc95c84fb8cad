"""ui: the front ends. plain.py prints lines; the curses screen lives in its own module."""
