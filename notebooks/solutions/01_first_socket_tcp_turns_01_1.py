"""Solution to exercise 01.1 (what does recv return when the peer has gone?) in 01_first_socket_tcp_turns.ipynb."""

PEER_CLOSED = b""
