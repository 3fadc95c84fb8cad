"""Notebook 10: UDP datagrams versus TCP streams, and finding servers on a LAN by broadcast."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("10_udp_discovery.ipynb", "UDP: datagrams, and 'who is serving?'")
    nb.md(
        """
        # 10 · UDP: datagrams, and "who is serving?"

        Everything so far used **streams** (TCP, AF_UNIX): a connection, bytes in order, no boundaries. **UDP**
        is the other kind: no connection, and each `sendto` is one **datagram** that arrives whole, or not at all.
        It is what a program uses to ask the whole local network a question at once (a **broadcast**): "is anyone
        serving a chat room?", the question a chat client asks before you type an address.

        Everything here stays on this machine: the loopback network `127.0.0.0/8`, whose broadcast address is
        `127.255.255.255` (Linux delivers it; macOS and Windows do not, and the notebook falls back to asking each
        responder directly). Needs Python 3.11; runs on Linux, macOS and Windows.
        """
    )
    nb.step(
        """
        ## Settings
        """,
        """
        import json
        import socket
        import threading
        import time

        HOST = "127.0.0.1"
        TIMEOUT = 5.0


        def udp_socket(port=0, reuse=False):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # SOCK_DGRAM: datagrams (UDP)
            if reuse:  # several programs may listen on one discovery port
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if hasattr(socket, "SO_REUSEPORT"):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("" if reuse else HOST, port))
            sock.settimeout(TIMEOUT)
            return sock


        print("ready")
        """,
    )
    nb.step(
        """
        ## Datagrams keep their boundaries

        **Predict, then run (P10.1).** We send `hello` and `world` as two datagrams, wait until both have arrived,
        then read. With TCP (notebook 02) one `recv` returned `helloworld`. What does one `recvfrom` return here?
        """,
        """
        receiver, sender = udp_socket(), udp_socket()
        for word in (b"hello", b"world"):
            sender.sendto(word, receiver.getsockname())
        print(receiver.recvfrom(65536))
        print(receiver.recvfrom(65536))
        """,
    )
    nb.step(
        """
        One datagram per `recvfrom`, always whole, with the sender's address: no framing needed. The price: a
        datagram bigger than the buffer you read it into is **cut**, and the rest is thrown away (not kept for
        the next read, as a stream would).
        """,
        """
        sender.sendto(b"0123456789", receiver.getsockname())
        try:
            print("recvfrom(4) gave:", receiver.recvfrom(4)[0])
        except OSError as exc:  # Windows reports the cut as an error instead
            print("recvfrom(4):", exc)
        receiver.settimeout(0.3)
        try:
            print("next read:", receiver.recvfrom(65536))
        except TimeoutError:
            print("next read: nothing; the other 6 bytes are gone")
        receiver.settimeout(TIMEOUT)
        """,
    )
    nb.step(
        """
        ## No connection, so no "refused"... almost

        `sendto` a port where nobody listens succeeds: UDP does not know whether anyone is there. The receiving
        machine answers with an ICMP "port unreachable" message, which the sender only hears about if its socket
        is **connected** (`connect` on UDP just fixes the destination; nothing is sent): then its next
        `recv` raises `ConnectionRefusedError`. Nothing is guaranteed either way: on a real network, datagrams
        can also be lost, duplicated or reordered, and nobody tells you.
        """,
        """
        nobody = udp_socket()
        empty_port = nobody.getsockname()[1]
        nobody.close()  # now nothing listens on empty_port
        print("sendto an empty port returned:", sender.sendto(b"anyone?", (HOST, empty_port)), "(bytes 'sent')")
        connected = udp_socket()
        connected.connect((HOST, empty_port))
        connected.send(b"anyone?")
        connected.settimeout(1.0)
        try:
            connected.recv(100)
        except ConnectionRefusedError as exc:
            print("the connected socket heard back:", type(exc).__name__)
        except TimeoutError:
            print("no ICMP report reached us (some systems do not pass it on)")
        for sock in (connected, receiver, sender):
            sock.close()
        """,
    )
    nb.md(
        """
        ## "Who is serving?": discovery by broadcast

        Three chat rooms run on this machine. Each has a small **responder**: a UDP socket on the shared discovery
        port that answers the question `LANCHAT?` with a JSON datagram: the room's name and its TCP port. A client
        that knows nothing but the discovery port sends the question to the **broadcast address**, and every
        responder on the network hears it and answers, to the sender's address. The client collects answers for a
        short while, because it cannot know how many will come.

        A responder binds to `""` (every address of this machine), not `127.0.0.1`: a socket bound to one address
        only receives datagrams sent *to* that address, so a question sent to the broadcast address would never
        reach it. So, until the clean-up cell stops them, the responders could also hear a question from the
        network; only this notebook knows their port and asks.
        """
    )
    nb.code(
        """
        QUESTION = b"LANCHAT?"


        class Responder:
            # answers QUESTION on the discovery port with {"room": name, "port": tcp_port}, until stopped
            def __init__(self, discovery_port, room, tcp_port, reply=None):
                self.sock = udp_socket(discovery_port, reuse=True)
                self.sock.settimeout(0.1)  # between datagrams it checks whether to stop
                self.address = (HOST, self.sock.getsockname()[1])
                self.reply = reply or json.dumps({"room": room, "port": tcp_port}).encode()
                self.stopping = threading.Event()
                self.thread = threading.Thread(target=self.serve, daemon=True)
                self.thread.start()

            def serve(self):
                while not self.stopping.is_set():
                    try:
                        question, asker = self.sock.recvfrom(512)
                    except (TimeoutError, ConnectionResetError):
                        continue
                    if question == QUESTION:
                        self.sock.sendto(self.reply, asker)

            def stop(self):
                self.stopping.set()
                self.thread.join(TIMEOUT)
                self.sock.close()


        probe = udp_socket()
        DISCOVERY_PORT = probe.getsockname()[1]  # a free port for this notebook's discovery
        probe.close()
        rooms = [Responder(DISCOVERY_PORT, name, port) for name, port in (("maths", 4001), ("physics", 4002), ("lunch", 4003))]
        print("three responders on discovery port", DISCOVERY_PORT)
        """
    )
    nb.step(
        """
        The client: one question to `127.255.255.255` (the loopback network's broadcast address; on a LAN it
        would be `255.255.255.255` or the subnet's, such as `192.168.1.255`), with `SO_BROADCAST` set, because
        a program must say it means to broadcast. Then it reads answers until its deadline.

        **Predict, then run (P10.2).** How many answers arrive, and in which order?
        """,
        """
        def ask_everyone(port, seconds, targets=None):
            # broadcast QUESTION (or send it to each of `targets`), collect (answer, address) until the deadline
            asker = udp_socket()
            asker.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            answers, deadline = [], time.monotonic() + seconds
            try:
                for target in targets or [("127.255.255.255", port)]:
                    asker.sendto(QUESTION, target)
                while (left := deadline - time.monotonic()) > 0:
                    asker.settimeout(left)
                    try:
                        answers.append(asker.recvfrom(512))
                    except TimeoutError:
                        break
            finally:
                asker.close()
            return answers


        LOOPBACK_BROADCAST = True
        try:
            heard = ask_everyone(DISCOVERY_PORT, 0.5)
        except OSError as exc:  # macOS and Windows have no loopback broadcast
            LOOPBACK_BROADCAST = False
            print("no loopback broadcast here:", exc, "- asking each responder directly instead")
            heard = ask_everyone(DISCOVERY_PORT, 0.5, targets=[room.address for room in rooms])
        for answer, address in heard:
            print(address, answer)
        """,
    )
    nb.md(
        """
        All three, in whatever order they happened to answer: each answer is a separate datagram from a separate
        responder. A real network adds the rest of UDP's manners: an answer can be lost (ask twice), the same
        room can answer twice (keep one), and anyone can answer anything (check what you parse). Broadcasts stop
        at the router: discovery finds rooms on *this* network only.

        lanchat finds rooms the standard way, **mDNS / DNS-SD**: the same idea, a question to everyone on the
        LAN, on the multicast address `224.0.0.251:5353` that printers and phones already answer (the `zeroconf`
        library does it). `lanchat serve` announces its room there while it runs; `lanchat rooms` lists the rooms
        announced on this network, and `lanchat connect` with no address offers them when no server runs on this
        machine (docs/PROTOCOL.md, "Finding rooms"). A server listening on `127.0.0.1` only is never announced, and where
        multicast does not get through (some campus Wi-Fi) you type the address `serve` prints.
        """
    )
    nb.exercise(
        "10.1",
        "collect the rooms",
        """
        Write `discover(port, seconds)`: broadcast `QUESTION` to `("127.255.255.255", port)` (set `SO_BROADCAST`),
        collect answers until `seconds` have passed **in total** (not per answer), and return a sorted list of
        `(room, tcp_port)` pairs. Ignore answers that are not JSON objects with a string `"room"` and an int
        `"port"`, and list each room once even if it answers twice. Close your socket.

        The check runs responders of its own, including one that answers garbage and one that answers twice, and
        times your function.
        """,
        """
        def discover(port, seconds):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt

        if not LOOPBACK_BROADCAST:
            print("Exercise 10.1 needs a loopback broadcast address (Linux); skipped on this system.")
        elif attempt("discover(port, 0.1)", discover, DISCOVERY_PORT, 0.1) is NotImplemented:
            print("Exercise 10.1 not attempted yet: write discover above, run it, then run this cell again.")
        else:
            probe = udp_socket()
            port = probe.getsockname()[1]
            probe.close()


            class Twice(Responder):
                def serve(self):  # answers every question twice, as a lossy network's retry might
                    while not self.stopping.is_set():
                        try:
                            question, asker = self.sock.recvfrom(512)
                        except TimeoutError:
                            continue
                        self.sock.sendto(self.reply, asker)
                        self.sock.sendto(self.reply, asker)


            testers = [
                Responder(port, "zoology", 5003),
                Responder(port, "art", 5001),
                Responder(port, "", 0, reply=b"\\xff not json"),
                Responder(port, "", 0, reply=b'{"room": 7, "port": "x"}'),
                Twice(port, "music", 5002),
            ]
            try:
                started = time.monotonic()
                found = attempt("discover(port, 0.6)", discover, port, 0.6)
                took = time.monotonic() - started
            finally:
                for tester in testers:
                    tester.stop()
            assert isinstance(found, list), f"return a list, not {type(found).__name__}"
            expected = [("art", 5001), ("music", 5002), ("zoology", 5003)]
            assert [tuple(item) for item in found] == expected, (
                f"found {found}, expected {expected}: every valid answer, once each, sorted; skip the garbage"
            )
            assert took >= 0.5, f"you stopped listening after {took:.2f} s: answers may still come until the deadline"
            assert took < 1.5, f"discover took {took:.2f} s for a 0.6 s deadline: the deadline is for the whole wait"
            print(f"✓ Exercise 10.1 correct: {len(found)} rooms in {took:.2f} s")
        """,
        """
        def discover(port, seconds):
            asker = udp_socket()
            asker.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            rooms, deadline = set(), time.monotonic() + seconds
            try:
                asker.sendto(QUESTION, ("127.255.255.255", port))
                while (left := deadline - time.monotonic()) > 0:
                    asker.settimeout(left)  # what is left of the whole wait, not a fresh timeout per answer
                    try:
                        data, _ = asker.recvfrom(512)
                    except TimeoutError:
                        break
                    try:
                        answer = json.loads(data)
                    except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
                        continue
                    if isinstance(answer, dict) and isinstance(answer.get("room"), str) and type(answer.get("port")) is int:
                        rooms.add((answer["room"], answer["port"]))
            finally:
                asker.close()
            return sorted(rooms)
        """,
        wrong=[
            """
            def discover(port, seconds):
                asker = udp_socket()
                asker.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                asker.sendto(QUESTION, ("127.255.255.255", port))
                asker.settimeout(seconds)
                data, _ = asker.recvfrom(512)  # only the first answer
                asker.close()
                answer = json.loads(data)
                return [(answer["room"], answer["port"])]
            """,
            """
            def discover(port, seconds):
                asker = udp_socket()
                asker.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                asker.sendto(QUESTION, ("127.255.255.255", port))
                asker.settimeout(None)  # waits for answers forever
                rooms = set()
                while True:
                    data, _ = asker.recvfrom(512)
                    try:
                        answer = json.loads(data)
                        rooms.add((answer["room"], answer["port"]))
                    except (ValueError, KeyError, TypeError):
                        continue
            """,
            """
            def discover(port, seconds):
                asker = udp_socket()
                asker.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                asker.sendto(QUESTION, ("127.255.255.255", port))
                asker.settimeout(seconds)
                found = []
                try:
                    while True:
                        data, _ = asker.recvfrom(512)
                        try:
                            answer = json.loads(data)
                        except ValueError:
                            continue
                        if isinstance(answer, dict) and isinstance(answer.get("room"), str):
                            found.append((answer["room"], answer["port"]))  # duplicates kept
                except TimeoutError:
                    pass
                asker.close()
                return sorted(found)
            """,
        ],
    )
    nb.step(
        """
        ## Other networks, and NAT

        Seed 004 asked about chatting with "other networks". Discovery cannot do it: a broadcast stops at the
        router. Addresses can't either, usually: home and classroom networks use **private** addresses
        (`10.x`, `172.16-31.x`, `192.168.x`), which mean nothing outside, and the router **translates** (NAT)
        every outgoing connection to its one public address. Answers to connections *you* started come back;
        a connection someone else starts towards you has nowhere to go. So a server at home is unreachable from
        the class unless the router forwards a port to it, or both sides reach a machine that everyone can reach
        (a server with a public address, a VPN, or a relay). Here are this machine's addresses, classified.
        Only a **global** address can be reached from other networks; an IPv6 address starting `fd` is
        private to its site, and one in `100.64.0.0/10` is neither private nor global: a provider's own NAT
        (mobile data) or a VPN such as Tailscale, reachable only from inside it.
        """,
        """
        import ipaddress

        import psutil

        for interface, addresses in sorted(psutil.net_if_addrs().items()):
            for entry in addresses:
                if entry.family not in (socket.AF_INET, socket.AF_INET6):
                    continue
                address = ipaddress.ip_address(entry.address.split("%")[0])
                kind = ("loopback (this machine only)" if address.is_loopback
                        else "link-local (this cable or Wi-Fi only)" if address.is_link_local
                        else "global (reachable from other networks, firewall permitting)" if address.is_global
                        else "private (this network; NAT at its edge)" if address.is_private and address.version == 4
                        else "private (this site only)" if address.is_private
                        else "shared (a provider's NAT or a VPN: not reachable from the internet)")
                print(f"{interface:>10}  {str(address):<28} {kind}")
        """,
    )
    nb.step(
        """
        ## Clean up
        """,
        """
        for room in rooms:
            room.stop()
        assert not any(room.thread.is_alive() for room in rooms)
        print("responders stopped")
        """,
    )
    nb.md("**Next:** notebook 11 looks at TCP itself: the wire, Nagle, back-pressure and half-close.")
    return [nb]
