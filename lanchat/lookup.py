"""lookup.py: a host name typed at the command line, looked up with a bound and a word while it waits.

getaddrinfo() blocks for as long as the system's resolver waits for its name server: with the
network half up (a captive portal, a name server that does not answer) `serve --host NAME` or
`connect NAME` sat there without a word for 20 s or more. The look-up runs in a thread of its
own; the command line says what it is doing after a second, and gives up after
LOOKUP_SECONDS with one line. An address (192.168.1.20, ::1) is never looked up. What else
the name may be (a room's name, cli/rooms.RoomSearch) can be looked for meanwhile, from the
moment the name server is slow: found first, it is the answer (ELSEWHERE), and the wait for
the name server ends there.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SAY_AFTER_SECONDS = 1.0  # a look-up slower than this is said ("looking up ...")
LOOKUP_SECONDS = 10.0  # and one slower than this is given up (the system's own wait is 5 s a try, 2 tries and more)


FOUND, UNKNOWN, NOT_A_NAME, NO_ANSWER, FAILED = "found", "unknown", "not-a-name", "no-answer", "failed"
ELSEWHERE = "elsewhere"  # the name server had not answered when what was looked for meanwhile was found


@dataclass(frozen=True)
class Found:
    """What a look-up came to: ``outcome`` FOUND, with ``addresses`` (getaddrinfo's 5-tuples);
    UNKNOWN (the name server said no such name), NOT_A_NAME (none can be asked: "a..b"),
    NO_ANSWER (the name server did not answer, or could not be reached) or FAILED, with
    ``problem``, a phrase to follow the name ("is not known to the network's name server");
    ELSEWHERE: what was looked for meanwhile (look_up's ``while_slow``) was found first."""

    outcome: str
    addresses: list
    problem: str = ""


def is_address(host: str) -> bool:
    """An IP address written out (an IPv6 one with its %zone too): nothing to look up."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


def look_up(
    host: str,
    port: int,
    *,
    passive: bool = False,
    say: Callable[[str], None] | None = None,
    resolve: Callable[..., list] | None = None,
    say_after: float | None = None,
    give_up_after: float | None = None,
    while_slow: Callable[[threading.Event], str] | None = None,
) -> Found:
    """``host`` as the system's resolver finds it (``passive``: an address to listen on), waiting
    at most ``give_up_after`` seconds (LOOKUP_SECONDS); ``say`` is told once, after ``say_after``, that it is
    looking; ``resolve``: getaddrinfo, or a test's stand-in. Ctrl-C while it waits raises KeyboardInterrupt at once (the thread is left to end by
    itself: a daemon, it never holds the process).
    ``while_slow``, if the name server has not answered after ``say_after``, is given the event
    this waits on, to start looking for something else (a room of that name) and set it if that
    is found; it returns what it does, said with "looking up". Set before the name server
    answers, the look-up is ELSEWHERE at once; an answer that came first is the answer (a machine
    of that name is preferred, as before the two were looked for at once)."""
    flags = socket.AI_PASSIVE if passive else 0
    resolve = resolve or socket.getaddrinfo  # (these looked up now: a test may stand in for them)
    say_after = SAY_AFTER_SECONDS if say_after is None else say_after
    give_up_after = LOOKUP_SECONDS if give_up_after is None else give_up_after
    answer: list = []
    done = threading.Event()  # the name server answered, or (while_slow) what was looked for meanwhile was found

    def ask() -> None:
        try:
            answer.append(resolve(host, port, type=socket.SOCK_STREAM, flags=flags))
        except (OSError, UnicodeError) as exc:  # gaierror, and a name no resolver can be asked (IDNA)
            answer.append(exc)
        finally:
            done.set()

    if is_address(host):
        ask()
    else:
        from .stopsignals import start_thread  # (the stop signals blocked in it: they are the main thread's)

        start_thread(ask, "lanchat-lookup")
        if not done.wait(say_after):
            meanwhile = while_slow(done) if while_slow is not None else ""
            if say is not None:
                say(f"looking up {host!r} (the network's name server is slow to answer{'; ' + meanwhile if meanwhile else ''}; "
                    "Ctrl-C stops)...")
        if not done.wait(max(0.0, give_up_after - say_after)):
            return Found(NO_ANSWER, [], f"was not found: the network's name server did not answer in {give_up_after:g} s (is the network up?)")
    if not answer:  # (ask() appends before it sets done: an answer that came is never passed over)
        return Found(ELSEWHERE, [], "was not found: the network's name server has not answered (is the network up?)")
    return _found(host, answer[0])


def _found(host: str, result: Any) -> Found:  # noqa: ANN401 - getaddrinfo's list, or what it raised
    """What the resolver's answer (or what it raised) for ``host`` comes to."""
    if isinstance(result, UnicodeError):
        from .transport import NOT_A_HOST_NAME, why_no_host_name  # (the one wording: connect's too)

        why = why_no_host_name(host)
        return Found(NOT_A_NAME, [], f"is {why}" if why == NOT_A_HOST_NAME else f"is not a host name: {why}")
    if isinstance(result, socket.gaierror) and result.errno == socket.EAI_AGAIN:  # no answer from the name server
        return Found(NO_ANSWER, [], "was not found: the network's name server cannot be reached (is the network up?)")
    if isinstance(result, socket.gaierror) and result.errno == socket.EAI_FAIL:  # SERVFAIL: it answered that it could not say
        return Found(NO_ANSWER, [], "was not found: the network's name server failed to answer for it (is the network up?)")
    if isinstance(result, socket.gaierror):
        return Found(UNKNOWN, [], "is not known to the network's name server")
    if isinstance(result, OSError):
        return Found(FAILED, [], f"could not be looked up ({result.strerror or result})")
    return Found(FOUND, result)
