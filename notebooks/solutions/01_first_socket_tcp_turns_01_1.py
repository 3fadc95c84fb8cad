"""Solution to exercise 01.1 (what does recv return when the peer has gone?) in 01_first_socket_tcp_turns.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

PEER_CLOSED = b""
