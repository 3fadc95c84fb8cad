"""notebooks/selfcheck.py, the deadline every exercise check runs student code under: tested without a kernel.

The notebook tests (test_notebooks.py) plant every typical wrong answer in the real notebooks; these tests
pin down the helper underneath: a loop that never ends, a recv that never returns and an exception all
become one AssertionError sentence in time; an outer timer (pytest-timeout's) survives; the thread
fallback (Windows) does the same; Unsorted defeats "forgot to sort" on every hash seed; peak_memory
tells streaming from joining; attempt_noting_unclosed sees a client that never closes its socket although
its peer cannot (notebook 16's check).
"""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from helpers import ROOT

sys.path.insert(0, str(ROOT / "notebooks"))
import selfcheck  # noqa: E402  (lives next to the notebooks, which import it from their own folder)

sys.path.remove(str(ROOT / "notebooks"))


def spin_forever() -> None:
    while True:
        pass


def test_a_loop_that_never_ends_fails_in_time_with_a_sentence() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"spin\(\) was still running after 0.3 s"):
        selfcheck.attempt("spin()", spin_forever, seconds=0.3)
    # stopped by its deadline (the sentence says so), not left to run: a spin never ends on its
    # own (pytest-timeout's 120 s would end it), so the bound only has to be far from both
    assert time.monotonic() - started < 15


def test_an_outer_timer_is_put_back_with_what_is_left_of_it() -> None:
    rang: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: rang.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)  # an outer deadline, as pytest-timeout sets one
        assert selfcheck.attempt("quick", lambda: 1, seconds=0.2) == 1
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 4.0 < left <= 5.0, f"the outer timer has {left} s left"
        assert signal.getsignal(signal.SIGALRM) is not None and not rang
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_recv_without_timeout_is_interrupted() -> None:
    reader, writer = socket.socketpair()
    with reader, writer:
        reader.settimeout(None)
        started = time.monotonic()
        with pytest.raises(selfcheck.TookTooLong, match="without a timeout"):
            selfcheck.attempt("recv", reader.recv, 10, seconds=0.3)
        assert time.monotonic() - started < 15  # as above: a recv with nothing to read never returns


def test_the_deadline_is_removed_afterwards() -> None:
    assert selfcheck.attempt("quick", lambda: 42, seconds=0.2) == 42
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # no stray alarm may ring once attempt() has returned
        pass


def test_an_exception_becomes_an_assertion_that_names_the_call() -> None:
    with pytest.raises(AssertionError, match=r"divide\(\) raised ZeroDivisionError"):
        selfcheck.attempt("divide()", lambda: 1 / 0)


def test_an_assertion_from_inside_passes_through_unchanged() -> None:
    def check_inside() -> None:
        raise AssertionError("asked for a reply after the client had left")

    with pytest.raises(AssertionError, match="^asked for a reply after the client had left$"):
        selfcheck.attempt("serve_turns", check_inside)


def test_off_the_main_thread_the_thread_fallback_keeps_the_deadline() -> None:
    # Windows has no SIGALRM: there attempt() runs the code in a helper thread; so does any non-main thread
    outcome: dict[str, object] = {}

    def in_a_thread() -> None:
        started = time.monotonic()
        try:
            selfcheck.attempt("sleepy", time.sleep, 1.0, seconds=0.3)
        except AssertionError as exc:
            outcome["message"], outcome["took"] = str(exc), time.monotonic() - started
        try:
            selfcheck.attempt("divide()", lambda: 1 / 0)
        except AssertionError as exc:
            outcome["error"] = str(exc)
        outcome["value"] = selfcheck.attempt("quick", lambda: 7)

    worker = threading.Thread(target=in_a_thread)
    worker.start()
    worker.join(5)
    assert "still running after 0.3 s" in str(outcome["message"]) and "restart the kernel" in str(outcome["message"])
    assert float(outcome["took"]) < 2  # type: ignore[arg-type]
    assert "raised ZeroDivisionError" in str(outcome["error"]) and outcome["value"] == 7


def test_unsorted_iterates_in_reverse_order_whatever_the_hash_seed() -> None:
    program = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'notebooks')!r}); import selfcheck\n"
        "print(list(selfcheck.Unsorted({'ana', 'ben', 'cy', 'dee'})))"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", program], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        for seed in ("0", "1", "2", "3")
    }
    assert seen == {"['dee', 'cy', 'ben', 'ana']"}
    assert "ben" in selfcheck.Unsorted({"ben"}) and "zoe" not in selfcheck.Unsorted({"ben"})


def test_peak_memory_tells_streaming_from_joining() -> None:
    def chunks():  # 8 MB, one 64 KB chunk at a time
        return (bytes([n % 251]) * 65536 for n in range(128))

    def streamed(parts) -> str:  # noqa: ANN001
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        return digest.hexdigest()

    def joined(parts) -> str:  # noqa: ANN001
        return hashlib.sha256(b"".join(parts)).hexdigest()

    right, right_peak = selfcheck.peak_memory(streamed, chunks())
    wrong, wrong_peak = selfcheck.peak_memory(joined, chunks())
    assert right == wrong
    assert right_peak < 1_000_000 < 8_000_000 < wrong_peak


def client_that_forgets_close(address: tuple[str, int]) -> str:
    sock = socket.create_connection(address, timeout=2)  # no `with`, no close(): a typical wrong answer
    sock.sendall(b"ana\n/q\n")
    return "sent"


def client_that_closes(address: tuple[str, int]) -> str:
    with socket.create_connection(address, timeout=2) as sock:
        sock.sendall(b"ana\n/q\n")
    return "sent"


@pytest.mark.parametrize("client", [client_that_forgets_close, client_that_closes])
def test_a_socket_dropped_without_close_is_noted_though_the_peer_cannot_tell(client) -> None:  # noqa: ANN001
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(2)
        value, unclosed = selfcheck.attempt_noting_unclosed("join", client, listener.getsockname()[:2])
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(2)
            heard = b""
            while data := conn.recv(1024):  # the peer sees the same orderly end either way: the system closed it
                heard += data
    assert value == "sent" and heard == b"ana\n/q\n"
    if client is client_that_forgets_close:
        assert len(unclosed) == 1 and "unclosed <socket.socket" in unclosed[0], unclosed
    else:
        assert unclosed == []


def test_garbage_from_before_the_call_is_not_blamed_on_it() -> None:
    earlier, other_end = socket.socketpair()
    cycle: list[object] = [earlier]
    cycle.append(cycle)  # an unclosed socket that only the cycle collector will free
    del earlier, cycle
    try:
        value, unclosed = selfcheck.attempt_noting_unclosed("quick", lambda: 3)
    finally:
        other_end.close()
    assert value == 3 and unclosed == []


def test_a_deadline_still_applies_when_noting_unclosed_sockets() -> None:
    reader, writer = socket.socketpair()
    with reader, writer:
        reader.settimeout(None)
        with pytest.raises(selfcheck.TookTooLong, match="without a timeout"):
            selfcheck.attempt_noting_unclosed("recv", reader.recv, 10, seconds=0.3)
