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

With ``--store PATH`` (implies ``--echo``) it also does the least of lanchat's own work on each
read, in the fewest Python steps: the bytes are checked as UTF-8 (per read, not per line: a
character split between two reads would end the connection; the load generator sends ASCII
lines, so that never happens in a run), stamped with the time, encoded
once with msgspec as a JSON row and appended to the file PATH with one ``os.write`` before any
send (lanchat's journal: stored before anyone receives it), and the stamped line goes out.
No framing, names, limits, deadlines or SQLite. bench/run.py runs it as "pyrelay-store" when
asked: what a message costs a CPython server that keeps lanchat's guarantee and nothing else.
"""

from __future__ import annotations

import faulthandler
import os
import selectors
import signal
import socket
import sys
import time

READ_BYTES = 256 * 1024


class _Stopped(Exception):
    """SIGTERM: the relay stops."""


def _stop(*_: object) -> None:
    raise _Stopped


class Peer:
    __slots__ = ("sock", "name", "prefix", "out")

    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock = sock
        self.name = f"user{number}"
        self.prefix = f"<{self.name}> ".encode()
        self.out = bytearray()  # what the kernel did not take yet


def serve(port: int, *, echo: bool = False, store: str | None = None) -> None:
    journal = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600) if store else None
    if journal is not None:
        import msgspec

        encode = msgspec.json.Encoder().encode
        echo = True
    stored = 0  # bytes in the journal: emptied at 1 MiB (lanchat moves it into SQLite)
    selector = selectors.DefaultSelector()
    listener = socket.create_server(("127.0.0.1", port), backlog=512)
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ)
    peers: dict[socket.socket, Peer] = {}
    numbers = iter(range(1, 1 << 62))
    # SIGTERM raises, so it ends the loop even while select() waits: a handler that only set a
    # flag would let select() go back to sleep (Python retries it after a signal, PEP 475)
    signal.signal(signal.SIGTERM, _stop)
    faulthandler.register(signal.SIGUSR1)  # where it is, on stderr (tests ask when it hangs)

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

    try:
        while True:
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
                    if journal is not None:
                        try:
                            text = data.decode("utf-8")
                        except UnicodeDecodeError:
                            drop(peer)
                            continue
                        stamp = time.time()
                        row = encode((stamp, peer.name, text))
                        os.write(journal, row + b"\n")
                        stored += len(row) + 1
                        if stored > 1 << 20:
                            os.ftruncate(journal, 0)
                            stored = 0
                        line = b"%.3f %s" % (stamp, line)
                    for other in list(peers.values()):
                        if other is not peer or echo:
                            send(other, line)
    except _Stopped:
        pass
    for peer in list(peers.values()):
        peer.sock.close()
    listener.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    usage = "usage: python bench/pyrelay.py PORT [--echo | --store PATH]"
    if not args or not args[0].isdigit() or not (args[1:] in ([], ["--echo"]) or (len(args) == 3 and args[1] == "--store")):
        sys.exit(usage)
    serve(int(args[0]), echo=args[1:] == ["--echo"], store=args[2] if len(args) == 3 else None)
