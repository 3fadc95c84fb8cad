"""Notebook 06: seed 000's colour messenger over an AF_UNIX socket."""

from textwrap import dedent

from cells import Notebook
from socket_paths import scratch_folder


def notebooks() -> list[Notebook]:
    nb = Notebook("06_colour_messenger.ipynb", "The colour messenger over an AF_UNIX socket")
    nb.md(
        """
        # 06 · The colour messenger: an AF_UNIX socket

        Seed 000's Local Chat Messenger: the client tells the server its **mood**; the server answers with a
        random **colour** (made with `faker`) and a link to that colour's page on
        [Computer Hope](https://www.computerhope.com/); the client says `Y` (happy) or `N` (another one, please).

        It uses an **AF_UNIX** socket. Instead of an IP address and a port, its address is a **file path**, and
        only programs on the same machine can connect. Otherwise it behaves like TCP: a reliable, ordered stream.

        **Needs Linux or macOS** (or WSL): Python on Windows has no AF_UNIX sockets. On Windows, run
        `pairs/000_server.ipynb` and `pairs/000_client.ipynb`, which switch to TCP on 127.0.0.1 by themselves.

        We go through the server's and the client's documented steps one by one in this notebook, then run the
        whole exchange with the server in a background thread. (`pairs/000_server.ipynb` and
        `pairs/000_client.ipynb` are the same programs as two notebooks for two kernels.)
        """
    )
    nb.step(
        """
        ## Settings

        The socket path lives in a fresh temporary folder (deleted at the end), so this notebook never touches
        the socket of a server that is already running (such as `pairs/000_server.ipynb`, which uses
        `LANCHAT_SOCKET`). The faker seed makes the "random" colours the same on every run.

        A socket path has a length limit (lanchat's `unix_path_limit()`: 107 bytes on Linux, 103 on macOS): when
        the temporary folder's path is too long for it, the cell says so and uses a folder in `/tmp`.
        """,
        dedent(
            """
            import os
            import socket
            import tempfile
            import threading

            from faker import Faker

            from lanchat.transport import unix_path_limit
            """
        )
        + scratch_folder("lanchat-nb06-", '"nobody-here.sock"', "the longest socket path below")
        + dedent(
            """
            SOCKET_PATH = os.path.join(scratch.name, "colour.sock")
            TIMEOUT = 10.0
            SEED = 7
            print("socket path:", SOCKET_PATH)
            """
        ),
    )
    nb.md("## The server, steps 1 to 4")
    nb.step(
        """
        ### Step 1: create a UNIX socket in STREAM mode

        `AF_UNIX` is the address family for processes on the same machine; `SOCK_STREAM` gives the reliable,
        ordered byte stream (the same kind TCP gives).
        """,
        """
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        print(server.family.name, server.type.name)
        """,
    )
    nb.step(
        """
        ### Step 2: the path where the server waits

        The address is just a path. `bind` will create a special *socket file* there.
        """,
        """
        print("the server will wait at", SOCKET_PATH, "; exists yet?", os.path.exists(SOCKET_PATH))
        """,
    )
    nb.step(
        """
        ### Step 3: unlink a stale path

        When a server ends without removing its socket file (say it crashed), the file stays. The next server's
        `bind` then fails with "Address already in use". Let's create such a leftover on purpose and see:
        """,
        """
        leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if not os.path.exists(SOCKET_PATH):  # (run again, this cell finds its first run's leftover)
            leftover.bind(SOCKET_PATH)
        leftover.close()  # closed, but the file is still there: a stale path
        try:
            server.bind(SOCKET_PATH)
        except OSError as exc:
            print("bind failed:", exc.strerror)
        """,
    )
    nb.md(
        """
        So the seed removes it first with `os.unlink`. (lanchat's `lanchat.transport.listen_unix` is more
        careful: it removes the path only if it is a socket file **and** no live server answers on it, so it can
        never delete a running server's socket or someone's ordinary file.)
        """
    )
    nb.code(
        """
        if os.path.exists(SOCKET_PATH):
            os.unlink(SOCKET_PATH)
        print("stale path removed:", not os.path.exists(SOCKET_PATH))
        """
    )
    nb.step(
        """
        ### Step 4: bind, and listen for one connection

        Now `bind` works and creates the socket file. `listen(1)` sizes the **accept queue**: how many
        connections may wait for `accept`. It does not limit the server to one client (the next cell measures it).
        """,
        """
        server.bind(SOCKET_PATH)
        server.listen(1)
        server.settimeout(TIMEOUT)
        print("listening; the socket file exists:", os.path.exists(SOCKET_PATH))
        """,
    )
    nb.step(
        """
        ### Aside: the accept queue of `listen(1)`, measured

        On a second AF_UNIX listener with `listen(1)` that never calls `accept`, we connect non-blocking clients
        until the system says the queue is full. For AF_UNIX, Linux answers a full queue at once with
        `BlockingIOError` (EAGAIN; a blocking `connect` would wait instead); other systems may refuse or round the
        number differently, which is why we measure.
        """,
        """
        queue_path = os.path.join(scratch.name, "queue-demo.sock")
        queue_demo = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        queue_demo.bind(queue_path)
        queue_demo.listen(1)
        waiting = []
        for attempt_number in range(1, 6):
            knock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            knock.setblocking(False)
            try:
                knock.connect(queue_path)
            except OSError as exc:  # BlockingIOError on Linux; ConnectionRefusedError elsewhere
                print(f"connection {attempt_number}: {type(exc).__name__}: the queue is full")
                knock.close()
                break
            waiting.append(knock)
            print(f"connection {attempt_number}: connected, waiting in the queue")
        print(f"listen(1) held {len(waiting)} connections before any accept")
        queue_demo.settimeout(TIMEOUT)
        first, _ = queue_demo.accept()  # makes room for one more
        again = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        again.settimeout(TIMEOUT)
        again.connect(queue_path)
        print("after one accept, another connect succeeds")
        for sock in [*waiting, first, again, queue_demo]:
            sock.close()
        os.unlink(queue_path)
        """,
    )
    nb.md("## The client, steps 1 and 2")
    nb.step(
        """
        ### Client step 1 and 2: create a UNIX socket and connect to the path

        As with TCP, `connect` completes before the server calls `accept`: the connection waits in the backlog.
        If there is no server, `connect` raises an error; the seed prints it and stops with `sys.exit(1)`.
        Here is what that looks like for a path where nobody listens:
        """,
        """
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(TIMEOUT)
        nowhere = os.path.join(scratch.name, "nobody-here.sock")
        try:
            client.connect(nowhere)
        except OSError as exc:
            print(f"cannot connect to {nowhere}: {exc.strerror}  (a script would now call sys.exit(1))")
        client.connect(SOCKET_PATH)
        print("client connected")
        """,
    )
    nb.step(
        """
        ### Server step 5: accept the connection
        """,
        """
        conn, _ = server.accept()
        conn.settimeout(TIMEOUT)
        print("server accepted the client")
        """,
    )
    nb.step(
        """
        ### Client steps 3 and 4: ask the mood and send it with `sendall`

        The client asks its user (here the answer is written in the cell) and sends it.
        """,
        """
        mood = "sunny"
        client.sendall(mood.encode("utf-8"))
        print("client sent its mood:", mood)
        """,
    )
    nb.step(
        """
        ### Server step 5: receive the mood and pick a random colour

        `faker` makes realistic random data; `fake.hex_color()` gives a colour like `#a1b2c3`.
        `fake.seed_instance(SEED)` makes the sequence repeatable. lanchat's `suggest_colour(fake)` wraps this:
        six uppercase hex digits, never repeating a colour you already turned down (`avoid=`).
        """,
        """
        from lanchat.colourbot import COMPUTER_HOPE_URL, colour_link, suggest_colour

        received_mood = conn.recv(1024).decode("utf-8")
        fake = Faker()
        fake.seed_instance(SEED)
        raw = fake.hex_color()
        print("server got mood", repr(received_mood), "; faker says", raw)

        fake.seed_instance(SEED)  # same seed, same colour, through lanchat
        colour = suggest_colour(fake)
        assert colour == raw[1:].upper()
        print("suggest_colour:", colour)
        """,
    )
    nb.step(
        """
        ### Server step 6: put the colour in a Computer Hope link

        Computer Hope has a page for every colour; the colour goes in the `c` parameter of the URL. Our toy
        version is one f-string; lanchat's `colour_link` also accepts `#` and any case, and refuses anything that
        is not a colour.
        """,
        """
        toy_link = f"https://www.computerhope.com/cgi-bin/htmlcolor.pl?c={colour}"
        assert toy_link == colour_link(colour) == colour_link("#" + colour.lower())
        print(toy_link)
        print("the base URL lanchat uses:", COMPUTER_HOPE_URL)
        """,
    )
    nb.step(
        """
        ### Server step 7: send the answer back with `sendall`
        """,
        """
        answer = f"For a {received_mood} mood, try #{colour}: {colour_link(colour)}"
        conn.sendall(answer.encode("utf-8"))
        """,
    )
    nb.step(
        """
        ### Client step 5: receive and show the suggestion, ask Y or N

        Only `Y` or `N` is accepted; anything else gets the question again.
        """,
        """
        print("client shows:", client.recv(1024).decode("utf-8"))

        def y_or_n(typed_answers):
            for typed in typed_answers:
                answer = typed.strip().upper()
                if answer in ("Y", "N"):
                    return answer
                print(f"  {typed!r}: please answer Y or N")
            return "Y"  # no more answers: stop asking

        answer = y_or_n(iter(["maybe", "n"]))
        print("answer:", answer)
        """,
    )
    nb.step(
        """
        ### Client step 6, server steps 5 to 7 again: another suggestion

        On `N` the client asks for another colour (it sends its mood again) and the server repeats steps 5 to 7,
        avoiding the colour already suggested.
        """,
        """
        client.sendall(mood.encode("utf-8"))
        conn.recv(1024)
        second = suggest_colour(fake, avoid=[colour])
        another = f"Another one: #{second}: {colour_link(second)}"
        conn.sendall(another.encode("utf-8"))
        print("client shows:", client.recv(1024).decode("utf-8"))
        """,
    )
    nb.step(
        """
        ### Client steps 7 and 8, server step 8: `Y` closes everything

        The user answers `Y`: the client closes its socket and ends. The server's `recv` returns `b""`, so it
        closes the connection, closes its listening socket and removes the socket file.
        """,
        """
        client.close()
        print("server's recv after the client closed:", conn.recv(1024))
        conn.close()
        server.close()
        os.unlink(SOCKET_PATH)
        print("server shut down; socket file removed:", not os.path.exists(SOCKET_PATH))
        """,
    )
    nb.md(
        """
        ## The whole program: server in a background thread

        The two programs of the seed as two functions. The server runs in a background thread, the client here;
        the client's "keyboard" is a list of typed answers.
        """
    )
    nb.code(
        """
        transcript = []

        def colour_server(path, seed):
            fake = Faker()
            fake.seed_instance(seed)
            if os.path.exists(path):  # step 3
                os.unlink(path)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:  # step 1
                listener.bind(path)  # steps 2 and 4
                listener.listen(1)
                listener.settimeout(TIMEOUT)
                ready.set()
                conn, _ = listener.accept()  # step 5
                with conn:
                    conn.settimeout(TIMEOUT)
                    suggested = []
                    while data := conn.recv(1024):  # b"" when the client closes (step 8)
                        colour = suggest_colour(fake, avoid=suggested)
                        suggested.append(colour)
                        reply = f"For a {data.decode()} mood, try #{colour}: {colour_link(colour)}"
                        conn.sendall(reply.encode("utf-8"))  # step 7
            os.unlink(path)
            transcript.append("server: client gone, shut down")

        def colour_client(path, mood, typed_answers):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # step 1
                sock.settimeout(TIMEOUT)
                sock.connect(path)  # step 2
                sock.sendall(mood.encode("utf-8"))  # steps 3, 4
                while True:
                    transcript.append("client sees: " + sock.recv(1024).decode("utf-8"))  # step 5
                    answer = y_or_n(typed_answers)
                    transcript.append(f"client answers {answer}")
                    if answer == "Y":  # step 8
                        return
                    sock.sendall(mood.encode("utf-8"))  # step 6

        ready = threading.Event()
        server_thread = threading.Thread(target=colour_server, args=(SOCKET_PATH, SEED))
        server_thread.start()
        assert ready.wait(TIMEOUT), "the server did not start"
        colour_client(SOCKET_PATH, "curious", iter(["N", "N", "Y"]))
        server_thread.join(TIMEOUT)
        print("\\n".join(transcript))
        assert not server_thread.is_alive() and not os.path.exists(SOCKET_PATH)
        """
    )
    nb.step(
        """
        ## lanchat's colour bot

        In lanchat the same conversation is `lanchat.colourbot.ColourBot`: a pure object (no sockets) that takes
        what a person said and returns the replies. `lanchat serve --bot colour` puts it in a chat room, where
        people talk to it with `/mood`, `/y` and `/n`.

        **Try it in two terminals** (seed 000 end to end, on an AF_UNIX socket in the current folder):
        `python -m lanchat serve --headless --once --bot colour --max-clients 1 --unix mood.sock` in the first,
        `python -m lanchat connect --unix mood.sock` in the second. The bot greets you and asks your mood;
        type `/mood sunny` and it answers with a Computer Hope link, `/n` brings another colour, `/y` ends it:
        your client leaves, as seed 000's does, and with `--once` the server stops and removes `mood.sock`.
        The bot below is one of a room that stays open (`bot.room_closes` is `False`): there a `Y` ends only
        the exchange, so its goodbye offers `/mood` for another colour; a `--once` room's bot says `Goodbye.`
        """,
        """
        from lanchat.colourbot import ColourBot

        fake = Faker()
        fake.seed_instance(SEED)
        bot = ColourBot(fake)
        for said in [None, "sunny", "maybe", "n", "y"]:
            replies = bot.greet("ana") if said is None else bot.hear("ana", said)
            for reply in replies:
                print(f"{'ana: ' + said if said else '':12} | bot: {reply}")
                said = ""
        assert not bot.room_closes and reply.endswith("Type /mood for another colour.")  # an open room's goodbye
        """,
    )
    nb.exercise(
        "06.1",
        "a forgiving Y/N",
        """
        Write `parse_answer(text)` returning `"Y"` or `"N"` for yes or no answers, written in any case with
        spaces around (`" y "`, `"Yes"`, `"no"`, `"N"`), and `None` for anything else (`""`, `"maybe"`, `"yesterday"`).
        """,
        """
        def parse_answer(text):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt

        if attempt('parse_answer("y")', parse_answer, "y") is NotImplemented:
            print("Exercise 06.1 not attempted yet: write parse_answer above, run it, then run this cell again.")
        else:
            cases = {"y": "Y", " Y ": "Y", "yes": "Y", "Yes": "Y", "n": "N", "NO": "N", " no ": "N",
                     "": None, "maybe": None, "yesterday": None, "nope?": None, "y n": None}
            for text, expected in cases.items():
                got = attempt(f"parse_answer({text!r})", parse_answer, text)
                assert got == expected, f"parse_answer({text!r}) returned {got!r}; expected {expected!r}"
            print("✓ Exercise 06.1 correct")
        """,
        """
        def parse_answer(text):
            word = text.strip().lower()
            if word in ("y", "yes"):
                return "Y"
            if word in ("n", "no"):
                return "N"
            return None
        """,
        wrong=[
            """
            def parse_answer(text):
                word = text.strip().upper()
                return word[:1] if word[:1] in ("Y", "N") else None  # "yesterday" is not a yes
            """,
            """
            def parse_answer(text):
                return {"y": "Y", "yes": "Y", "n": "N", "no": "N"}.get(text.strip())  # "Yes" and "NO" are answers too
            """,
        ],
    )
    nb.step(
        """
        ## Clean up
        """,
        """
        scratch.cleanup()
        print("scratch folder removed")
        """,
    )
    nb.md("**Next:** notebook 07 opens up lanchat's own protocol and drives a real lanchat server.")
    return [nb]
