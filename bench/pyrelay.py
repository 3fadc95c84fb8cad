"""bench/pyrelay.py: the least a CPython chat relay can do, as a benchmark reference (the floor).

    python bench/pyrelay.py PORT          # listens on 127.0.0.1:PORT until SIGTERM
    python bench/pyrelay.py PORT --echo   # each line also goes back to its sender

It does ncat --chat's job, so bench/loadgen.py drives it with the same "lines" dialect: a
newcomer is told who is "already connected", and every read is relayed, prefixed "<userN> ", to
everyone else. Nothing is parsed, validated, stamped or stored, and there is no flood limit or
deadline: one selector loop, one recv, one send per other client (queued when the kernel takes
less). bench/run.py runs it on the light workload only (a fixed 100 messages a second), to show how much of what
lanchat spends per message any CPython loop spends, and how much is lanchat's own work.

With ``--echo`` each line also goes back to its sender, as lanchat sends the sender its stamped
copy (PROTOCOL.md): one more send() per message, which ncat and ngIRCd do not make. bench/run.py
runs that as the server "pyrelay-echo" when asked (--servers), to show what the echo costs.
"""

from __future__ import annotations

import selectors
import signal
import socket
import sys

READ_BYTES = 256 * 1024


class Peer:
    __slots__ = ("sock", "prefix", "out")

    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock = sock
        self.prefix = f"<user{number}> ".encode()
        self.out = bytearray()  # what the kernel did not take yet


def serve(port: int, *, echo: bool = False) -> None:
    selector = selectors.DefaultSelector()
    listener = socket.create_server(("127.0.0.1", port), backlog=512)
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ)
    peers: dict[socket.socket, Peer] = {}
    numbers = iter(range(1, 1 << 62))
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))

    def drop(peer: Peer) -> None:
        peers.pop(peer.sock, None)
        selector.unregister(peer.sock)
        peer.sock.close()

    def send(peer: Peer, data: bytes) -> None:
        if peer.out:  # behind what is queued
            peer.out += data
            return
        try:
            sent = peer.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            drop(peer)
            return
        if sent < len(data):
            peer.out += data[sent:]
            selector.modify(peer.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, peer)

    while running[0]:
        try:
            events = selector.select()
        except InterruptedError:
            continue
        for key, mask in events:
            peer = key.data
            if peer is None:  # the listener
                for _ in range(64):
                    try:
                        sock, _address = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    newcomer = Peer(sock, next(numbers))
                    peers[sock] = newcomer
                    selector.register(sock, selectors.EVENT_READ, newcomer)
                    send(newcomer, f"<announce> already connected: {len(peers) - 1} others.\n".encode())
                continue
            if peer.sock not in peers:
                continue  # dropped earlier in this batch
            if mask & selectors.EVENT_WRITE:
                try:
                    sent = peer.sock.send(peer.out)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    drop(peer)
                    continue
                del peer.out[:sent]
                if not peer.out:
                    selector.modify(peer.sock, selectors.EVENT_READ, peer)
            if mask & selectors.EVENT_READ:
                try:
                    data = peer.sock.recv(READ_BYTES)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    drop(peer)
                    continue
                line = peer.prefix + data
                for other in list(peers.values()):
                    if other is not peer or echo:
                        send(other, line)
    for peer in list(peers.values()):
        peer.sock.close()
    listener.close()


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or not sys.argv[1].isdigit() or sys.argv[2:] not in ([], ["--echo"]):
        sys.exit("usage: python bench/pyrelay.py PORT [--echo]")
    serve(int(sys.argv[1]), echo=sys.argv[2:] == ["--echo"])
