"""bench/reconnect_bench.py: how long a class waits when the server restarts. Measures, never asserts.

    .venv/bin/python bench/reconnect_bench.py             # 30 clients, 3 restarts, about a minute
    .venv/bin/python bench/reconnect_bench.py --down 5    # the server stays down 5 s each time
    .venv/bin/python bench/reconnect_bench.py --tiny      # 3 clients, one restart (the smoke test)

1) start `lanchat serve --headless` on 127.0.0.1 (port 0, a history file in a temporary folder)
   and N real `lanchat connect` processes (plain mode), each joined;
2) kill the server with SIGKILL (no shutdown notice: a crash or a pulled plug), wait --down
   seconds, start it again on the same port and history;
3) time until every client has rejoined (the server's "joined from" log lines), then check that
   one message sent after the restart reaches every client exactly once;
4) immediate rejoins: a client joins, drops its socket and at once joins again under the same
   name, N times, without and with hello's ``resume`` secret: how many are refused as
   name-taken because the server has not yet seen the old connection go.
The clients retry after 1, 2, 4, then every 5 s (client.RETRY_DELAYS), so the figure is
mostly that schedule: the retry that first finds the server up. Results print as a table and
go to bench/results/reconnect.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from helpers import Proc  # noqa: E402

DEADLINE_SECONDS = 90.0  # for any one wait: a bound, never reached in a healthy run


def wait_until(condition, what: str, timeout: float = DEADLINE_SECONDS) -> float:  # noqa: ANN001
    """Poll ``condition`` every 5 ms; the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"reconnect bench: timed out waiting for {what}")
        time.sleep(0.005)
    return time.monotonic()


def start_server(port: int, history: Path) -> tuple[Proc, int]:
    server = Proc("serve", "--headless", "--host", "127.0.0.1", "--port", str(port), "--no-announce",
                  "--history", str(history), stdin=False)
    found = server.expect(r"listening on port (\d+)", timeout=DEADLINE_SECONDS)
    return server, int(found.group(1))


def one_restart(server: Proc, port: int, history: Path, clients: list[Proc], down: float) -> tuple[Proc, dict]:
    marks = [client.mark() for client in clients]
    killed = time.monotonic()
    server.popen.kill()
    server.wait()
    if down:
        time.sleep(down)  # the outage being simulated, not synchronisation
    server, _ = start_server(port, history)
    listening = time.monotonic()
    count = len(clients)
    back_times: list[float] = []

    def rejoined() -> bool:
        joined = server.output.count(" joined from ")
        while len(back_times) < joined:
            back_times.append(time.monotonic())
        return joined >= count

    everyone = wait_until(rejoined, f"{count} clients to rejoin")
    text = f"after restart {time.monotonic():.6f}"
    clients[0].send(text)
    wait_until(lambda: all(any(text in line for line in c.lines[m:]) for c, m in zip(clients, marks, strict=True)),
               "the message after the restart to reach everyone")
    duplicates = sum(sum(text in line for line in c.lines[m:]) - 1 for c, m in zip(clients, marks, strict=True))
    return server, {
        "down_s": down,
        "kill_to_listening_s": round(listening - killed, 3),
        "listening_to_all_back_s": round(everyone - listening, 3),
        "kill_to_all_back_s": round(everyone - killed, 3),
        "first_back_after_listening_s": round(back_times[0] - listening, 3),
        "median_back_after_listening_s": round(statistics.median(t - listening for t in back_times), 3),
        "duplicates": duplicates,
    }


def immediate_rejoins(count: int) -> dict:
    """Join, drop, rejoin at once, ``count`` times each way, against an in-process server."""
    import socket
    import threading

    from lanchat import events as ev
    from lanchat.protocol import Connection, Role
    from lanchat.room import Room, resume_token
    from lanchat.server import Server
    from lanchat.transport import Endpoint, listen

    listener = listen(Endpoint(host="127.0.0.1", port=0))
    port = listener.getsockname()[1]
    server = Server([listener], Room(resume_tokens=resume_token))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def hello(name: str, resume: str | None) -> tuple[socket.socket, object]:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        proto = Connection(Role.CLIENT)
        sock.sendall(proto.send(ev.Hello(name=name, resume=resume)))
        while True:
            proto.receive_data(sock.recv(65536))
            for event in proto.events():
                if isinstance(event, (ev.Welcome, ev.Error)):
                    return sock, event

    refused = {"without resume": 0, "with resume": 0}
    try:
        for way in refused:
            name = "r" + way.split()[0][:4]
            sock, welcome = hello(name, None)
            for _ in range(count):
                sock.close()  # the old connection goes; the server notices on its next pass
                sock, answer = hello(name, welcome.resume if way == "with resume" else None)
                if isinstance(answer, ev.Error):
                    refused[way] += 1
                for _ in range(10_000):  # then wait for the old one to go, as a person would
                    if not isinstance(answer, ev.Error):
                        break
                    if answer.code != ev.E_NAME_TAKEN:
                        raise SystemExit(f"reconnect bench: unexpected refusal {answer}")
                    sock.close()
                    sock, answer = hello(name, None)
                welcome = answer
            sock.close()
    finally:
        server.request_shutdown("bench over")
        thread.join(10)
    return {"rejoins_each_way": count, **{f"name_taken_{k.replace(' ', '_')}": v for k, v in refused.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--down", type=float, default=0.0, help="seconds the server stays down each time")
    parser.add_argument("--tiny", action="store_true", help="3 clients, one restart")
    parser.add_argument("--rejoins", type=int, default=1000, help="immediate rejoins to try each way (default 1000)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "reconnect.json")
    args = parser.parse_args()
    count, repeats = (3, 1) if args.tiny else (min(max(args.clients, 1), 200), min(max(args.repeats, 1), 10))
    runs = []
    with tempfile.TemporaryDirectory(prefix="lanchat-reconnect-") as folder:
        history = Path(folder) / "history.sqlite3"
        server, port = start_server(0, history)
        clients = [Proc("connect", "127.0.0.1", str(port), "--name", f"c{i:03}") for i in range(count)]
        try:
            for i, client in enumerate(clients):
                client.expect(rf"welcome, c{i:03}", timeout=DEADLINE_SECONDS)
            for repeat in range(repeats):
                server, figures = one_restart(server, port, history, clients, args.down)
                runs.append(figures)
                print(f"restart {repeat + 1}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
        finally:
            for proc in (*clients, server):
                proc.stop()
        tracebacks = sum("Traceback" in proc.output for proc in (*clients, server))
    rejoins = immediate_rejoins(20 if args.tiny else min(max(args.rejoins, 1), 10_000))
    print(", ".join(f"{k} {v}" for k, v in rejoins.items()), flush=True)
    summary = {
        "clients": count,
        "repeats": repeats,
        "down_s": args.down,
        "median_kill_to_all_back_s": statistics.median(r["kill_to_all_back_s"] for r in runs),
        "median_listening_to_all_back_s": statistics.median(r["listening_to_all_back_s"] for r in runs),
        "max_kill_to_all_back_s": max(r["kill_to_all_back_s"] for r in runs),
        "duplicates": sum(r["duplicates"] for r in runs),
        "tracebacks": tracebacks,
        **rejoins,
    }
    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "summary": summary, "runs": runs,
              "load_average": list(__import__("os").getloadavg())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(f"{k:>32}: {v}" for k, v in summary.items()))
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
