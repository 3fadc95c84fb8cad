"""bench/loadgen.py: the load generator. One asyncio process, loopback or AF_UNIX only, bounded in count and time.

It speaks three dialects so the same workload can be aimed at lanchat and at the references:
``lanchat`` (length-prefixed JSON frames, built with lanchat.events and lanchat.protocol),
``lines`` (plain text lines, for ``ncat --chat``) and ``irc`` (NICK/USER/JOIN/PRIVMSG, for ngIRCd).

Every message body is 64 bytes and carries a marker, so a receiver counts deliveries with one
``bytes.count`` per read (C speed) instead of parsing every frame: at full speed the load generator,
not the server, is the busiest process on the machine. Latency runs embed the send time instead.

What the server costs is read from /proc/PID: CPU time from ``schedstat`` (nanoseconds, summed over
threads), wake-ups as context switches from ``status`` (preemptions: the involuntary ones), memory
as ``VmRSS``/``VmHWM``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lanchat import events as ev  # noqa: E402
from lanchat.protocol import encode  # noqa: E402

MESSAGE_BYTES = 64
COUNT_MARKER = b"qZjX"  # no prefix of it is also a suffix, so counting across reads never double-counts
LATENCY_RE = re.compile(rb"~T(\d{19})~")
LATENCY_TAIL = 21  # a partial latency marker is at most this long
CHANNEL = "#bench"
CONNECT_TIMEOUT = 10.0


class BenchError(Exception):
    """A workload could not be run (the server refused or vanished); one line for the table."""


# ------------------------------------------------------------------ /proc readings


@dataclass
class ProcSample:
    cpu_ns: int = 0
    switches: int = 0
    preempted: int = 0  # the involuntary part of switches: the CPU taken away, not given up
    rss_kb: int = 0
    hwm_kb: int = 0
    alive: bool = True


def sample(pid: int | None) -> ProcSample:
    """CPU (ns), context switches and memory of ``pid``, summed over its threads."""
    if pid is None:
        return ProcSample(alive=False)
    out = ProcSample()
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = list(task_dir.iterdir())
    except OSError:
        return ProcSample(alive=False)
    for task in tasks:
        with contextlib.suppress(OSError, ValueError, IndexError):
            out.cpu_ns += int((task / "schedstat").read_text().split()[0])
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    count = int(line.split()[1])
                    out.switches += count
                    if line.startswith("non"):
                        out.preempted += count
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out.rss_kb = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                out.hwm_kb = int(line.split()[1])
            elif line.startswith("State:") and line.split()[1] == "Z":
                out.alive = False
    except OSError:
        out.alive = False
    return out


def raise_fd_limit() -> int:
    """Let this process (and the servers it starts) hold as many sockets as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ------------------------------------------------------------------ dialects


def pad(text: str, size: int = MESSAGE_BYTES) -> str:
    return (text + "." * size)[:size]


class Dialect:
    """How one kind of server is joined and spoken to."""

    name = ""
    echoes_sender = False  # lanchat sends a message back to its sender too
    stream_token = COUNT_MARKER  # counted at full speed, once per delivered message
    join_concurrency = 256  # handshakes in flight at once (lanchat listens with a backlog of 512)

    def hello(self, index: int) -> bytes:
        return b""

    def joined(self, buffer: bytes | bytearray) -> bool:
        """True once ``buffer`` (everything received so far) shows the join is complete."""
        return True

    def refused(self, buffer: bytes | bytearray) -> str | None:
        return None

    def say(self, text: str) -> bytes:
        raise NotImplementedError


class LanchatDialect(Dialect):
    name = "lanchat"
    echoes_sender = True

    def hello(self, index: int) -> bytes:
        return encode(ev.Hello(name=f"u{index}"))

    def joined(self, buffer):
        return b'"type":"welcome"' in buffer

    def refused(self, buffer):
        if b'"fatal":true' in buffer:
            return "the server refused the connection"
        return None

    def say(self, text: str) -> bytes:
        return encode(ev.Say(text=text))


class LinesDialect(Dialect):
    """ncat --chat: no handshake; every line is relayed to everyone else as ``<userN> line``."""

    name = "lines"
    # ncat puts "<userN> " in front of each *read*, not each line, so under load the prefix can
    # land inside a marker; a newline is never split, and after the joins settle only messages have one.
    stream_token = b"\n"
    # ncat listens with a backlog of 10: more joiners in flight than that overflow it and wait
    # for SYN-ACK retransmits (seconds), which would measure TCP's timers rather than ncat
    join_concurrency = 8

    def joined(self, buffer):
        # ncat tells each newcomer who is "already connected": only then is it in the room
        # (a TCP connect completes in the kernel's backlog before ncat has accepted it)
        found = buffer.find(b"already connected")
        return found >= 0 and buffer.find(b"\n", found) >= 0

    def say(self, text: str) -> bytes:
        return text.encode() + b"\n"


class IrcDialect(Dialect):
    name = "irc"

    def hello(self, index: int) -> bytes:
        return f"NICK u{index}\r\nUSER u{index} 0 * :bench\r\nJOIN {CHANNEL}\r\n".encode()

    join_concurrency = 8  # ngIRCd listens with a backlog of 10, like ncat

    def joined(self, buffer):
        return b" 366 " in buffer  # RPL_ENDOFNAMES: the JOIN is done

    def refused(self, buffer):
        if b"ERROR :" in buffer:
            return "the server closed the link"
        return None

    def say(self, text: str) -> bytes:
        return f"PRIVMSG {CHANNEL} :{text}\r\n".encode()


DIALECTS: dict[str, Dialect] = {d.name: d for d in (LanchatDialect(), LinesDialect(), IrcDialect())}


# ------------------------------------------------------------------ one connection


class BenchClient(asyncio.Protocol):
    """One simulated participant. Modes: ``join`` (collect until joined), ``count``, ``latency``."""

    def __init__(self, dialect: Dialect, index: int, hub: Hub) -> None:
        self.dialect = dialect
        self.index = index
        self.hub = hub
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.joined = hub.loop.create_future()
        self.closed = hub.loop.create_future()
        self.count = 0
        self.tail = b""
        self.latencies: list[int] | None = None
        self.own_stamps: set[int] = set()
        self.token = COUNT_MARKER  # what one delivery looks like in the byte stream
        self.discard = False  # read and drop everything (latency runs: only probes look)

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self.transport = transport
        hello = self.dialect.hello(self.index)
        if hello:
            transport.write(hello)

    def data_received(self, data: bytes) -> None:
        if not self.joined.done():
            self.buffer += data
            problem = self.dialect.refused(self.buffer)
            if problem:
                self.joined.set_exception(BenchError(problem))
                return
            if self.dialect.joined(self.buffer):
                self.joined.set_result(True)
                self.buffer = bytearray()
            return
        if self.discard:
            return
        chunk = self.tail + data if self.tail else data
        if self.latencies is not None:
            now = time.monotonic_ns()
            end = 0
            for match in LATENCY_RE.finditer(chunk):
                stamp = int(match.group(1))
                if stamp not in self.own_stamps:  # lanchat's copy back to the sender is not counted
                    self.latencies.append(now - stamp)
                end = match.end()
            self.tail = chunk[max(end, len(chunk) - LATENCY_TAIL) :]
        else:
            token = self.token
            self.count += chunk.count(token)
            if len(token) > 1:
                self.tail = chunk[-(len(token) - 1) :]
        self.hub.progress()

    def connection_lost(self, exc) -> None:  # noqa: ANN001
        if not self.joined.done():
            self.joined.set_exception(BenchError("the server closed the connection"))
        if not self.closed.done():
            self.closed.set_result(True)
        self.hub.progress()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


# bench/run.py --tls: every TCP client speaks TLS to `serve --tls` (the certificate is not
# checked: a benchmark measures the encryption's cost, and trusts its own server).
TLS_CONTEXT = None  # an ssl.SSLContext, or None for plain TCP


class Hub:
    """Shared state of one run: the clients and a wake-up for whoever waits on progress."""

    def __init__(self, dialect: Dialect, address: tuple[str, int] | str) -> None:
        self.loop = asyncio.get_running_loop()
        self.dialect = dialect
        self.address = address
        self.clients: list[BenchClient] = []
        self._waiter: asyncio.Future | None = None
        self._next_index = 0
        self.pause_after_join = False  # joined clients' notices wait in the kernel (join_time)

    def progress(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_progress(self, timeout: float) -> None:
        self._waiter = self.loop.create_future()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._waiter, timeout)
        self._waiter = None

    async def connect_one(self) -> BenchClient:
        index = self._next_index
        self._next_index += 1
        factory = lambda: BenchClient(self.dialect, index, self)  # noqa: E731
        if isinstance(self.address, str):
            _, client = await self.loop.create_unix_connection(factory, self.address)
        else:
            _, client = await self.loop.create_connection(factory, *self.address, ssl=TLS_CONTEXT)
        await asyncio.wait_for(client.joined, CONNECT_TIMEOUT)
        self.clients.append(client)
        if self.pause_after_join and client.transport is not None:
            client.transport.pause_reading()
        return client

    async def connect_many(self, count: int, deadline: float | None = None, concurrency: int | None = None) -> int:
        """Connect and join ``count`` clients, a few at a time; returns how many joined."""
        semaphore = asyncio.Semaphore(concurrency or self.dialect.join_concurrency)
        failures: list[str] = []

        async def one() -> None:
            async with semaphore:
                if deadline is not None and time.monotonic() > deadline:
                    return
                try:
                    await self.connect_one()
                except (TimeoutError, OSError, BenchError) as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

        await asyncio.gather(*(one() for _ in range(count)))
        self.failures = failures
        return count - len(failures)

    async def join_all(self, count: int) -> None:
        joined = await self.connect_many(count)
        if joined < count:
            raise BenchError(f"only {joined} of {count} clients joined; first failure: {self.failures[0]}")

    def close_all(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()

    async def wait_counts(self, receivers: list[BenchClient], target: int, timeout: float) -> bool:
        """Wait until every receiver has counted ``target`` markers (or closed)."""
        deadline = time.monotonic() + timeout
        while True:
            if all(c.count >= target or c.closed.done() for c in receivers):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await self.wait_progress(min(left, 0.25))


# ------------------------------------------------------------------ workloads


@dataclass
class Target:
    dialect: str
    address: tuple[str, int] | str
    pid: int | None = None


@dataclass
class Result:
    workload: str
    server: str
    metrics: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _finish(result: Result, target: Target, before: ProcSample | None = None) -> Result:
    after = sample(target.pid)
    result.metrics["server_rss_mb"] = round(after.rss_kb / 1024, 2)
    result.metrics["server_peak_rss_mb"] = round(after.hwm_kb / 1024, 2)
    if not after.alive:
        result.notes.append("the server process died")
    return result


def fanout_senders(clients: int) -> int:
    """How many clients send in a fan-out run: one in ten (at least one, never everyone)."""
    return max(1, min(clients - 1, clients // 10))


async def fanout(target: Target, clients: int, seconds: float, window: int = 512, burst: int = 16) -> Result:
    """Full-speed fan-out: one client in ten sends, everyone receives everyone else's messages.

    Several senders, because an IRC server reads only a few commands per client per turn of
    its loop: one sender would measure that throttle, not relaying. The senders together stay
    at most ``window`` messages ahead of the slowest receiver, so no server ever holds much
    unsent (ngIRCd drops a client past 32 KiB) and the run measures relaying, not buffering.
    Deliveries count what each client received from the others: lanchat's copy of a message
    back to its own sender is work lanchat does but gets no credit for.
    """
    dialect = DIALECTS[target.dialect]
    hub = Hub(dialect, target.address)
    result = Result("fanout", target.dialect, notes=[])
    try:
        await hub.join_all(clients)
        senders = hub.clients[: fanout_senders(clients)]
        everyone = hub.clients
        await settle(hub)
        for client in everyone:
            client.token = dialect.stream_token
            client.count = 0
            client.tail = b""
        echo = dialect.echoes_sender
        burst_bytes = dialect.say(pad(COUNT_MARKER.decode() + " fan-out ")) * burst
        own = [0] * len(senders)  # messages each sender has sent
        before = sample(target.pid)
        own_cpu = time.process_time()
        started = time.monotonic()
        stop_at = started + seconds
        sent = 0
        turn = 0

        def lag() -> int:
            # how far the slowest client is behind: messages from others it has not seen yet
            worst = 0
            for position, client in enumerate(everyone):
                mine = own[position] if position < len(own) else 0
                got = client.count - (mine if echo else 0)
                worst = max(worst, sent - mine - got)
            return worst

        while time.monotonic() < stop_at:
            if any(c.closed.done() for c in everyone):
                raise BenchError("a client was disconnected during the run")
            room = window - lag()
            if room >= burst:
                for _ in range(room // burst):
                    senders[turn].write(burst_bytes)
                    own[turn] += burst
                    sent += burst
                    turn = (turn + 1) % len(senders)
                await asyncio.sleep(0)  # let the reads run
            else:
                await hub.wait_progress(0.5)
        deadline = time.monotonic() + 10
        while lag() > 0 and time.monotonic() < deadline:
            await hub.wait_progress(0.25)
        elapsed = time.monotonic() - started
        after = sample(target.pid)
        deliveries = sum(c.count for c in everyone) - (sent if echo else 0)
        if lag() > 0:
            result.notes.append(f"not every message arrived before the drain deadline (worst lag {lag()})")
        result.metrics.update(
            clients=clients,
            senders=len(senders),
            messages=sent,
            deliveries=deliveries,
            seconds=round(elapsed, 3),
            deliveries_per_s=round(deliveries / elapsed, 1),
            server_cpu_s=round((after.cpu_ns - before.cpu_ns) / 1e9, 4),
            cpu_us_per_delivery=round((after.cpu_ns - before.cpu_ns) / 1e3 / max(deliveries, 1), 4),
            loadgen_cpu_s=round(time.process_time() - own_cpu, 3),
        )
        return _finish(result, target)
    finally:
        hub.close_all()


async def settle(hub: Hub, quiet: float = 0.2, limit: float = 10.0) -> None:
    """Wait until join announcements stop arriving (a quiet spell), so they do not pollute a run."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        hub._waiter = hub.loop.create_future()
        try:
            await asyncio.wait_for(hub._waiter, quiet)
        except TimeoutError:
            return
        finally:
            hub._waiter = None


LATENCY_PROBES = 10
DRAIN_SECONDS = 0.3  # after the last send: a stamped message later than this counts as lost
DRAIN_GRACE_SECONDS = 0.02  # once all are in: the server ends the turn that sent the last


async def drain(hub: Hub, probes: list[BenchClient], wanted: dict[int, int]) -> None:
    """The bounded drain after a latency run's last send. It ends when every probe has the
    ``wanted[id(probe)]`` messages of the others it should get, or after DRAIN_SECONDS (the rest
    count as lost). Everything in, the server is idle but for the turn that sent the last one,
    so the CPU read after it is the same as at the end of the whole drain."""
    end = time.monotonic() + DRAIN_SECONDS
    while any(len(c.latencies or []) < wanted[id(c)] for c in probes):
        left = end - time.monotonic()
        if left <= 0:
            return
        await hub.wait_progress(left)
    await asyncio.sleep(max(0.0, min(DRAIN_GRACE_SECONDS, end - time.monotonic())))


async def latency(target: Target, clients: int, rate: float, seconds: float) -> Result:
    """Messages at a fixed total ``rate``, senders taking turns; each carries its send time.

    Every client reads everything, but only ``LATENCY_PROBES`` of them (spread over the join
    order) parse the stamps: parsing at all 100 would make the load generator's own queue of
    callbacks, not the server, the largest part of what is measured.
    """
    dialect = DIALECTS[target.dialect]
    hub = Hub(dialect, target.address)
    result = Result("latency", target.dialect, notes=[])
    try:
        await hub.join_all(clients)
        await settle(hub)
        step = max(1, clients // LATENCY_PROBES)
        probes = hub.clients[::step][:LATENCY_PROBES]
        for client in hub.clients:
            client.discard = True
            if client not in probes and client.transport is not None:
                client.transport.pause_reading()  # the kernel's buffers hold their copies
        for client in probes:
            client.discard = False
            client.latencies = []
            client.tail = b""
        before = sample(target.pid)
        interval = 1.0 / rate
        started = time.monotonic()
        total = int(rate * seconds)
        for number in range(total):
            due = started + number * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sender = hub.clients[number % clients]
            stamp = time.monotonic_ns()
            sender.own_stamps.add(stamp)
            sender.write(dialect.say(pad(f"~T{stamp:019d}~ latency ")))
        wanted = {id(c): sum(1 for n in range(total) if hub.clients[n % clients] is not c) for c in probes}
        await drain(hub, probes, wanted)
        after = sample(target.pid)
        samples: list[int] = []
        expected = sum(wanted.values())
        for client in probes:
            samples.extend(client.latencies or [])
        samples.sort()
        if not samples:
            raise BenchError("no message arrived")
        result.metrics.update(
            clients=clients,
            rate=rate,
            messages=total,
            probes=len(probes),
            samples=len(samples),
            expected=expected,
            p50_ms=round(samples[len(samples) // 2] / 1e6, 3),
            p99_ms=round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1e6, 3),
            max_ms=round(samples[-1] / 1e6, 3),
            mean_ms=round(statistics.fmean(samples) / 1e6, 3),
            server_cpu_s=round((after.cpu_ns - before.cpu_ns) / 1e9, 4),
            preempted_per_message=round((after.preempted - before.preempted) / max(total, 1), 2),
            preempted=after.preempted - before.preempted,
        )
        return _finish(result, target)
    finally:
        hub.close_all()


async def light(target: Target, clients: int, rate: float, seconds: float) -> Result:
    """Light load: the latency workload (a fixed total ``rate``), read for what the server spends
    per delivery when it is not busy, as a chat usually is. A delivery is one message written to
    one client other than its sender: ``messages * (clients - 1)``, the server's work whether or
    not a client parses it (with at most ``LATENCY_PROBES`` clients, every client is a probe, so
    ``samples`` counts them as they arrive). At a low rate each message costs a whole turn of
    the server's loop (a wake-up, a read, a history commit, the writes): the fixed costs that a
    full-speed run spreads over many messages.
    """
    result = await latency(target, clients, rate, seconds)
    result.workload = "light"
    deliveries = result.metrics["messages"] * (clients - 1)
    result.metrics["deliveries"] = deliveries
    result.metrics["cpu_us_per_delivery"] = round(result.metrics["server_cpu_s"] * 1e6 / max(deliveries, 1), 3)
    return result


async def join_time(target: Target, clients: int, concurrency: int = 8) -> Result:
    """Time until ``clients`` are connected, joined, and a message from the last reaches all others.

    ``concurrency`` handshakes are in flight at once, the same for every server: 8 stays inside
    the references' listen backlog of 10, so no SYN is dropped and retried a second later.
    A client that has joined stops reading until the end (the kernel holds the join notices):
    otherwise one Python process reading up to 500 sockets after every join would be timing
    itself. The notices are read before the final message, and that time counts.
    """
    dialect = DIALECTS[target.dialect]
    hub = Hub(dialect, target.address)
    hub.pause_after_join = True
    result = Result("join", target.dialect, notes=[])
    try:
        before = sample(target.pid)
        own_cpu = time.process_time()
        started = time.monotonic()
        joined = await hub.connect_many(clients, concurrency=concurrency)
        if joined < clients:
            raise BenchError(f"only {joined} of {clients} clients joined; first failure: {hub.failures[0]}")
        for client in hub.clients:
            if client.transport is not None:
                client.transport.resume_reading()
        last = hub.clients[-1]
        others = hub.clients[:-1]
        base = {id(c): c.count for c in others}
        last.write(dialect.say(pad(COUNT_MARKER.decode() + " all here? ")))
        deadline = time.monotonic() + 30
        while not all(c.count > base[id(c)] for c in others):
            if time.monotonic() > deadline:
                raise BenchError("the final message did not reach everyone")
            await hub.wait_progress(0.25)
        elapsed = time.monotonic() - started
        after = sample(target.pid)
        result.metrics.update(
            clients=clients,
            join_s=round(elapsed, 4),
            loadgen_cpu_s=round(time.process_time() - own_cpu, 3),
            server_cpu_s=round((after.cpu_ns - before.cpu_ns) / 1e9, 4),
        )
        return _finish(result, target)
    finally:
        hub.close_all()


async def idle(target: Target, clients: int, seconds: float) -> Result:
    """``clients`` joined and silent: how often does the server wake up, and what does it burn?"""
    dialect = DIALECTS[target.dialect]
    hub = Hub(dialect, target.address)
    result = Result("idle", target.dialect, notes=[])
    try:
        await hub.join_all(clients)
        await settle(hub, quiet=0.5)
        before = sample(target.pid)
        await asyncio.sleep(seconds)  # the workload *is* waiting: nothing is sent
        after = sample(target.pid)
        result.metrics.update(
            clients=clients,
            seconds=seconds,
            wakeups=after.switches - before.switches,
            server_cpu_ms=round((after.cpu_ns - before.cpu_ns) / 1e6, 3),
        )
        return _finish(result, target)
    finally:
        hub.close_all()


async def max_connections(target: Target, attempt: int, seconds: float, memory_at: int = 2000) -> Result:
    """Join up to ``attempt`` clients within ``seconds``; then check who still gets a broadcast.

    ``held`` counts the connections that receive one final message: a socket the kernel
    accepted into the backlog but the server never serves does not count. Every join is
    announced to everyone already there, so this run moves O(N^2) notices for all three servers.
    """
    raise_fd_limit()
    dialect = DIALECTS[target.dialect]
    hub = Hub(dialect, target.address)
    result = Result("maxconn", target.dialect, notes=[])
    deadline = time.monotonic() + seconds
    try:
        before = sample(target.pid)
        started = time.monotonic()
        first = min(memory_at, attempt)
        joined = await hub.connect_many(first, deadline=deadline)
        failures = list(getattr(hub, "failures", []))
        if joined >= memory_at:
            await settle(hub, quiet=0.3, limit=max(1.0, deadline - time.monotonic()))
            at = sample(target.pid)
            result.metrics[f"rss_mb_at_{memory_at}"] = round(at.rss_kb / 1024, 2)
        if attempt > first and time.monotonic() < deadline:
            joined += await hub.connect_many(attempt - first, deadline=deadline)
            failures += getattr(hub, "failures", [])
        result.metrics["joined"] = joined
        result.metrics["join_phase_s"] = round(time.monotonic() - started, 3)
        # let the join notices drain (bounded), so the final message is not stuck behind them
        await settle(hub, quiet=0.5, limit=30.0)
        alive = [c for c in hub.clients if not c.closed.done()]
        held = 0
        if alive:
            base = {id(c): c.count for c in alive}
            alive[-1].write(dialect.say(pad(COUNT_MARKER.decode() + " still there? ")))
            others = alive[:-1]
            end = time.monotonic() + 20
            while time.monotonic() < end and not all(c.count > base[id(c)] or c.closed.done() for c in others):
                await hub.wait_progress(0.25)
            held = 1 + sum(1 for c in others if c.count > base[id(c)] and not c.closed.done())
        after = sample(target.pid)
        result.metrics.update(
            attempted=attempt,
            held=held,
            closed_by_server=sum(1 for c in hub.clients if c.closed.done()),
            server_cpu_s=round((after.cpu_ns - before.cpu_ns) / 1e9, 3),
            seconds=round(time.monotonic() - started, 2),
        )
        if failures:
            result.notes.append(f"{len(failures)} failed to join, e.g. {failures[0][:80]}")
        return _finish(result, target)
    finally:
        hub.close_all()


WORKLOADS = {"fanout": fanout, "latency": latency, "light": light, "join": join_time, "idle": idle, "maxconn": max_connections}


def run(workload: str, target: Target, **params: float) -> Result:
    """Run one workload to completion in a fresh event loop; errors become a note, not a crash."""

    async def main() -> Result:
        return await WORKLOADS[workload](target, **params)

    try:
        return asyncio.run(main())
    except (TimeoutError, BenchError, OSError) as exc:
        result = Result(workload, target.dialect)
        result.notes.append(f"failed: {exc or type(exc).__name__}")
        result.metrics["failed"] = 1
        return _finish(result, target)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now, for servers that cannot be told to pick one (ncat)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def lanchat_port(popen: subprocess.Popen, log_path: Path, timeout: float = 10.0) -> int:
    """The port a ``lanchat serve --port 0`` whose output goes to ``log_path`` listens on, once
    it says so; BenchError if it exits or stays silent for ``timeout`` seconds (it is killed)."""
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(errors="replace")
        if "listening on port" in text:
            return int(text.split("listening on port", 1)[1].split(";", 1)[0].split()[0])
        if popen.poll() is not None or time.monotonic() > deadline:
            popen.kill()
            popen.wait(timeout=5)
            raise BenchError(f"lanchat did not start: {text.strip()[-300:]}")
        time.sleep(0.02)  # polling a condition with a deadline


def stop(popen: subprocess.Popen, grace: float = 5.0) -> None:
    """End a server we started, by its PID: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=5)


if __name__ == "__main__":  # pragma: no cover - a manual entry point; bench/run.py is the usual one
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Run one workload against one server.")
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--dialect", choices=sorted(DIALECTS), default="lanchat")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--unix")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE, e.g. clients=100")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the load generator only talks to loopback")
    address = args.unix or (args.host, args.port)
    params = {k: float(v) if "." in v else int(v) for k, v in (p.split("=", 1) for p in args.param)}
    res = run(args.workload, Target(args.dialect, address, args.pid), **params)
    print(json.dumps({"workload": res.workload, "server": res.server, "metrics": res.metrics, "notes": res.notes}))
