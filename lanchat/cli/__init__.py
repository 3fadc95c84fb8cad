"""cli: the command line, one module per command (lanchat/__main__.py maps them)."""
