"""lanchat: a terminal chat for the local network, and a hands-on way to learn sockets."""

__version__ = "0.1.0"
