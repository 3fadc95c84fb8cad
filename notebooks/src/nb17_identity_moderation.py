"""Notebook 17: who is who in lanchat: identity keys, the room password, TLS by fingerprint, operators, a restart."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("17_keys_passwords_moderation.ipynb", "Keys, a room password, TLS and moderation in lanchat")
    nb.md(
        """
        # 17 · Who is who: identity keys, a room password, TLS, and the teacher's powers

        Every chat so far believed what it was told. In notebook 04a the second `ana` was refused only **while
        ana was there**: once she left, anyone could type `ana`, and the server replayed *her* `[History]` to
        them. Seed 004's wish list asks for "a password to enter the chat" and "moderation controls for the
        server, with things like removing certain clients". A class needs all of it: thirty people on one Wi-Fi,
        and not all of them serious.

        lanchat's answers, one step at a time, each built by hand first and then checked against lanchat's own
        code (docs/PROTOCOL.md, "Identity and room password", "TLS" and "Moderation"):

        1. a **name belongs to a key**: the client proves it holds a private key by signing a random challenge;
        2. a **room password** is proved, never sent;
        3. **TLS**, trusted by the fingerprint the teacher writes on the board (notebook 12 built the idea);
        4. a real room with all three, where the teacher's key makes them an **operator**: mute, kick;
        5. the server **restarted**: the mute is still there.

        Needs Python 3.11 and lanchat (`pip install -r requirements.txt`; `cryptography` comes with it). Parts 1
        to 3 run anywhere; the real room, from part 4 on, needs Linux or macOS (lanchat's server runs on Windows
        only inside WSL). Everything is written in a scratch folder, removed at the end: no key of yours is used
        or made.
        """
    )
    nb.step(
        """
        ## Settings
        """,
        """
        import base64
        import hashlib
        import hmac
        import os
        import queue
        import secrets
        import socket
        import ssl
        import subprocess
        import sys
        import tempfile
        import threading
        import time
        from pathlib import Path

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from lanchat import events as ev
        from lanchat import identity
        from lanchat.moderation import act_text
        from lanchat.protocol import Connection, ConnectionClosed, Role

        HOST = "127.0.0.1"
        TIMEOUT = 10.0
        scratch = tempfile.TemporaryDirectory(prefix="lanchat-nb17-")
        WORK = Path(scratch.name)
        print("scratch folder:", WORK)
        """,
    )
    nb.md(
        """
        ## 1. A name belongs to a key

        On its first run lanchat makes each person an **identity key**: an Ed25519 key pair (`identity.key` in
        their data folder, readable only by them). The **private** half never leaves the laptop. The **public**
        half, 32 bytes, goes in the `hello`. People compare keys by a **fingerprint**: a hash of the public key,
        shortened to 16 hex digits so two people can read it out loud. That is what `/whois NAME` shows in a
        chat, and what `python -m lanchat key` prints on your own machine.
        """
    )
    nb.code(
        """
        def raw_public(private_key):
            return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


        def toy_short_fingerprint(public):
            digits = hashlib.sha256(public).hexdigest()[:16]
            return " ".join(digits[i : i + 4] for i in range(0, 16, 4))


        teacher_key, ann_key, ben_key, bob_key, other_key = (Ed25519PrivateKey.generate() for _ in range(5))
        ann_public = raw_public(ann_key)
        print("ann's public key:", len(ann_public), "bytes:", ann_public.hex()[:24], "...")
        print("its fingerprint: ", toy_short_fingerprint(ann_public))
        assert toy_short_fingerprint(ann_public) == identity.short_fingerprint(ann_public)
        print("lanchat.identity.short_fingerprint agrees")
        """
    )
    nb.step(
        """
        ### Proving the key: a challenge, signed

        Sending the public key proves nothing: anyone can copy it. So the server sends a fresh random **nonce**
        (32 bytes), and the client **signs** it with the private key; the server checks the signature with the
        public key. lanchat signs a fixed label before the nonce (`lanchat identity v2` and a zero byte), so that
        a signature it makes can never mean anything to another program. Ed25519 signatures are deterministic:
        our hand-made one must equal `lanchat.identity.sign_challenge`'s byte for byte.

        **Predict, then run (P17.1).** Someone on the Wi-Fi recorded ann's signature. They connect as ann and
        answer the server's next challenge with it. Accepted?
        """,
        """
        LABEL = b"lanchat identity v2\\x00"

        nonce = secrets.token_bytes(32)  # the server's challenge
        signature = ann_key.sign(LABEL + nonce)  # the client's answer
        print("signature:", len(signature), "bytes; the same as lanchat's:", signature == identity.sign_challenge(ann_key, nonce))
        print("the server checks it with ann's public key:", identity.signature_ok(ann_public, nonce, signature))

        next_nonce = secrets.token_bytes(32)  # a new connection gets a new challenge
        print("the recorded signature, on the next challenge:", identity.signature_ok(ann_public, next_nonce, signature))
        print("another key's signature, claiming to be ann:",
              identity.signature_ok(ann_public, nonce, other_key.sign(LABEL + nonce)))
        """,
    )
    nb.md(
        """
        The first key to use a name on a server **owns** it there (the server remembers it in its history file,
        as SSH remembers a host's key). Later, another key asking for that name is told it belongs to someone
        else, even when its owner is away, and ann's private messages are replayed only to ann's key. A lost
        key? The host frees the name (`/release NAME`; in a room without a host, `python -m lanchat names release
        NAME` while the server is stopped). To use your name on a second laptop, copy the key file.
        """
    )
    nb.step(
        """
        ## 2. A room password, proved and never sent

        `serve --password` asks the host for a password. The server picks a random **salt** and derives a key
        from the password with **scrypt**, a hash made slow and memory-hungry on purpose (a tenth of a second or
        so, and 32 MiB), so that
        guessing passwords one after another is expensive. A joining client gets the salt in its challenge,
        derives the same key, and answers with an **HMAC** of the nonce under it: a proof that it knows the
        password, good for this nonce only. The password itself never crosses the network, even without TLS.
        """,
        """
        PASSWORD = "tea and sockets"  # what the teacher writes on the board
        salt = secrets.token_bytes(16)

        started = time.perf_counter()
        derived = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**15, r=8, p=1, maxmem=64 * 2**20, dklen=32)
        print(f"scrypt took {time.perf_counter() - started:.2f} s")
        proof = hmac.new(derived, b"lanchat password v2\\x00" + nonce, hashlib.sha256).digest()

        assert derived == identity.derive_password_key(PASSWORD, salt)
        assert proof == identity.password_proof(derived, nonce)
        print("our proof is lanchat's:", proof.hex()[:32], "...")
        print("the password in what is sent?", PASSWORD.encode() in proof)
        wrong = identity.derive_password_key("tea and biscuits", salt)
        print("a wrong password's proof accepted?", identity.proof_ok(derived, nonce, identity.password_proof(wrong, nonce)))
        """,
    )
    nb.md(
        """
        A wrong password gets one short answer, "wrong password", and nothing about the room (no names, no
        history). Three wrong ones from one person (one key) within a minute lock that person out for a minute;
        fifteen from one address within five minutes, under any names, lock the whole address out for five (a
        class behind one school address is not locked out by three students' typos, but a script guessing under
        a new name each time is stopped). The server's log shows each. Still, someone who records a challenge and its proof can try passwords at home,
        at scrypt's price per guess: choose a password that is not a dictionary word, and use TLS, which hides
        the exchange.
        """
    )
    nb.step(
        """
        ## 3. TLS, and a signature bound to the certificate

        Notebook 12 wrapped a socket in TLS and pinned the server's certificate by its fingerprint. lanchat does
        exactly that (`serve --tls` prints `SHA256:...`; `connect --fingerprint SHA256:...` pins it) and adds one
        thing: on a TLS connection, the signature and the password proof also cover the certificate's 32-byte
        SHA-256, the **channel binding**. Why? A rogue server could pass the real server's challenge on to you,
        and your answer on to the real server, to join there as you. With the binding, your answer covers the
        *rogue's* certificate, and the real server refuses it.
        """,
        """
        real_certificate_hash = hashlib.sha256(b"the real server's certificate (DER bytes)").digest()
        rogue_certificate_hash = hashlib.sha256(b"the rogue server's own certificate").digest()

        answer_to_the_rogue = identity.sign_challenge(ann_key, nonce, rogue_certificate_hash)
        print("ann's answer, relayed to the real server:",
              identity.signature_ok(ann_public, nonce, answer_to_the_rogue, real_certificate_hash))
        print("ann's answer on a direct connection:    ",
              identity.signature_ok(ann_public, nonce, identity.sign_challenge(ann_key, nonce, real_certificate_hash),
                                    real_certificate_hash))
        """,
    )
    nb.md(
        """
        ## 4. The class room: `lanchat serve --tls --password --operator KEY`

        Now a real room, as a teacher would start it on a headless machine (a Raspberry Pi, a school server):
        TLS, a password, and the teacher's key as **operator**. `--operator` takes the key's fingerprint, which
        `python -m lanchat key` prints on the teacher's laptop (here: our `teacher_key`'s). The password comes
        from `LANCHAT_PASSWORD` instead of being typed twice at a prompt; the history (bans and mutes too) goes
        in our scratch folder, and so does the TLS certificate the server makes on its first start (`--tls-dir`;
        without it, the certificate lives in your lanchat data folder, the one your own `serve --tls` uses).
        We read the lines a teacher would copy to the board.
        """
    )
    nb.code(
        """
        TEACHER_FINGERPRINT = identity.short_fingerprint(raw_public(teacher_key)).replace(" ", "")
        SERVE = [sys.executable, "-m", "lanchat", "serve", "--headless", "--host", HOST, "--no-announce",
                 "--tls", "--tls-dir", str(WORK), "--password", "--operator", TEACHER_FINGERPRINT,
                 "--history", str(WORK / "room.sqlite3")]
        SERVER_ENV = dict(os.environ, LANCHAT_PASSWORD=PASSWORD, XDG_DATA_HOME=str(WORK))


        def start_room(port):
            proc = subprocess.Popen([*SERVE, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env=SERVER_ENV)
            lines = queue.Queue()
            threading.Thread(target=lambda: [lines.put(line.rstrip()) for line in proc.stdout], daemon=True).start()
            banner, deadline = [], time.monotonic() + TIMEOUT
            while not banner or not banner[-1].startswith("  history:"):  # the last line of the banner
                try:
                    banner.append(lines.get(timeout=0.1))
                except queue.Empty:
                    if proc.poll() is None and time.monotonic() < deadline:
                        continue
                    proc.kill()
                    raise RuntimeError(
                        "lanchat did not start: " + " / ".join(banner) + " (is the room of an earlier run still "
                        "serving? stop it with room.terminate(), or restart the kernel and run from the top)"
                    ) from None
            return proc, lines, banner


        def log_line_with(words, timeout=TIMEOUT):
            # the room's next log line containing `words` (queue.Empty after the deadline)
            deadline = time.monotonic() + timeout
            while True:
                line = room_log.get(timeout=max(0.01, deadline - time.monotonic()))
                if words in line:
                    return line


        room, room_log, banner = start_room(0)
        print("\\n".join(banner))
        port = int(next(line for line in banner if "listening on port" in line).split("port ")[1].split(";")[0])
        FINGERPRINT = next(line for line in banner if "fingerprint is" in line).split("fingerprint is ")[1]
        """
    )
    nb.step(
        """
        ### Joining by hand: TLS, pinned; hello with a key; challenge; auth; welcome

        `join` is a whole lanchat client's way in, in twenty lines: a TLS connection whose certificate must have
        the fingerprint from the board (nothing is sent before that check), then the handshake of
        `lanchat.protocol` (notebook 07) with the two extra steps: the server's `challenge` (with a `salt`: the
        room has a password) and our `auth`, with the signature and the proof, both bound to the certificate.
        It returns the open connection, or the error the server refused us with.
        """,
        """
        from lanchat.tls import channel_binding
        from lanchat.tls import fingerprint as certificate_fingerprint


        class Person:
            def __init__(self, sock):
                self.sock, self.proto, self.inbox = sock, Connection(Role.CLIENT), []

            def send(self, event):
                self.sock.sendall(self.proto.send(event))

            def next_event(self, kind=ev.Event, timeout=TIMEOUT):
                # the first event of `kind` (others wait in self.inbox); an error or the end comes back whatever we wait for
                deadline = time.monotonic() + timeout
                while True:
                    for i, event in enumerate(self.inbox):
                        if isinstance(event, (kind, ev.Error, ConnectionClosed)):
                            del self.inbox[i]
                            return event
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no {kind.__name__} within {timeout} s")
                    self.sock.settimeout(left)
                    try:
                        data = self.sock.recv(65536)
                    except TimeoutError:
                        continue  # the deadline decides, above
                    except OSError:  # a reset, or TLS closed abruptly: the end, as b"" is
                        data = b""
                    self.proto.receive_data(data)
                    self.inbox += self.proto.events()

            def close(self):
                self.sock.close()


        def join(name, key, password=PASSWORD):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the fingerprint is the check
            sock = context.wrap_socket(socket.create_connection((HOST, port), timeout=TIMEOUT))
            seen = certificate_fingerprint(sock.getpeercert(binary_form=True))
            if seen != FINGERPRINT:
                sock.close()
                raise ssl.SSLError(f"the server's fingerprint is {seen}, not {FINGERPRINT}: not our room")
            person, binding = Person(sock), channel_binding(seen)
            person.send(ev.Hello(name=name, key=identity.b64(raw_public(key))))
            challenge = person.next_event(ev.Challenge)
            if isinstance(challenge, ev.Error):
                return person, challenge
            nonce = base64.b64decode(challenge.nonce)
            answer = {"signature": identity.b64(identity.sign_challenge(key, nonce, binding))}
            if challenge.salt:  # the room has a password: prove it
                derived = identity.derive_password_key(password, base64.b64decode(challenge.salt))
                answer["proof"] = identity.b64(identity.password_proof(derived, nonce, binding))
            person.send(ev.Auth(**answer))
            return person, person.next_event(ev.Welcome)


        teacher, welcome = join("teach", teacher_key)
        print("teacher:", welcome.name, "is in; here:", welcome.members)
        made_operator = teacher.next_event(ev.Moderated)
        print("teacher:", made_operator)
        print("the teacher's screen says:", act_text(made_operator, "you"))
        print("room log:", log_line_with("is an operator"))
        """,
    )
    nb.step(
        """
        The server checked the teacher's key against `--operator` and made them an operator ("the server" did it,
        the reason says why). Now ann joins with her key, and leaves. Then three who should not get in: someone
        else asking for the name `ann` with **another key**, bob with the **wrong password**, and a client that
        does not speak TLS at all. (Three wrong passwords from one person within a minute lock that person out
        for a minute: run this cell four times quickly and the fourth run shows bob refused with `locked`, saying
        why and for how long, while ann still joins from the same address. That is the lock-out doing its job
        without locking out the class.)
        """,
        """
        ann, welcome = join("ann", ann_key)
        assert isinstance(welcome, ev.Welcome), f"ann is refused: {welcome}"
        print("ann:", welcome.name, "is in; here:", welcome.members)
        ann.send(ev.Bye())
        ann.close()
        print("the teacher sees:", teacher.next_event(ev.Left))

        impostor, refusal = join("ann", other_key)
        print("another key as ann:", refusal)
        impostor.close()
        bob, refusal = join("bob", bob_key, password="tea and biscuits")
        print("bob, wrong password:", refusal)
        bob.close()

        with socket.create_connection((HOST, port), timeout=TIMEOUT) as plain:  # no TLS: lanchat's plain hello
            stranger = Person(plain)
            stranger.send(ev.Hello(name="cy"))
            print("a plain client:", stranger.next_event())
        """,
    )
    nb.step(
        """
        ### The teacher's powers: mute, kick

        Operators send `moderate` events (the chat's `/mute NAME 5 WHY`, `/kick NAME WHY`). Everyone sees one
        line per act, with who and why. A muted student still reads but cannot write to the room (a whisper to
        the host or an operator still goes, to ask why: the refusal says who is here to ask); a kicked one is
        disconnected; a student who tries to `/kick` is told who can. (`/ban` works like `/kick` and also turns
        the name, the key and, across a network, the address away the next time. Behind a school's NAT, where the
        whole class shares one address, the address turns away only keys the room had not seen before the ban,
        and `/admit NAME` lets a real latecomer in.)

        **Predict, then run (P17.2).** The teacher kicks ben and mutes ann for 5 minutes. ann tries to say
        something, then tries to kick the teacher. What does each attempt get back?
        """,
        """
        ann, welcome = join("ann", ann_key)  # ann is back
        assert isinstance(welcome, ev.Welcome), f"ann is refused: {welcome}"
        ben, welcome = join("ben", ben_key)
        assert isinstance(welcome, ev.Welcome), f"ben is refused: {welcome}"
        teacher.send(ev.Moderate(action="kick", name="ben", reason="spamming"))
        print("ben gets:", ben.next_event(ev.Error))
        ben.close()
        teacher.send(ev.Moderate(action="mute", name="ann", minutes=5, reason="shouting"))
        muted = ann.next_event(ev.Moderated)
        while muted.action != "mute":  # first the act about ben
            muted = ann.next_event(ev.Moderated)
        print("ann sees:", muted)
        print("ann's screen says:", act_text(muted, "you"))
        ann.send(ev.Say(text="I AM NOT SHOUTING"))
        print("ann's message:", ann.next_event(ev.Message, timeout=2))
        ann.send(ev.Moderate(action="kick", name="teach", reason="revenge"))
        print("ann's kick:", ann.next_event(ev.Moderated, timeout=2))
        ann.send(ev.Who())
        print("who:", ann.next_event(ev.Roster))
        """,
    )
    nb.md(
        """
        ## 5. The server restarted: the mute holds

        The teacher stops the room with SIGTERM (`kill PID`, or a reboot) and starts the same command again on
        the same port. The notice says `final=False`: lanchat's full-screen client waits and rejoins by itself
        (notebook 04b). The history file kept the room's owners, bans and mutes (and the next file number, so a
        `/get 3` typed on an old screen never fetches another file): a mute does not end because the server did.
        """
    )
    nb.code(
        """
        room.terminate()  # SIGTERM on Linux and macOS
        if os.name == "posix":
            print("ann sees:", ann.next_event(ev.Shutdown))
        ann.close()  # both close at once: the room need not wait up to 2 s for them to read the notice
        teacher.close()
        print("the room's exit status:", room.wait(TIMEOUT))

        room, room_log, banner = start_room(port)  # the same command, the same port
        print(banner[0])
        ann, welcome = join("ann", ann_key)
        ann.send(ev.Say(text="is my mute over?"))
        print("ann's message:", ann.next_event(ev.Message, timeout=2))
        """
    )
    nb.exercise(
        "17.1",
        "answer a challenge",
        """
        Write `answer(challenge, key, password, binding)`: given the server's `ev.Challenge`, your Ed25519 private
        key, the room password (or `None`) and the channel binding (32 bytes on TLS, `b""` without), return the
        `ev.Auth` to send back:

        * `signature`: the base64 of your key's signature of `b"lanchat identity v2\\x00"`, the nonce's bytes
          (base64-decode `challenge.nonce`) and the binding;
        * `proof`, only when the challenge has a `salt`: the base64 of HMAC-SHA256, under the scrypt key of the
          password and the salt (`identity.derive_password_key`), of `b"lanchat password v2\\x00"`, the nonce and
          the binding. Without a salt, leave `proof` out.

        Use `identity.b64` for base64. The check plays the server: fresh challenges, with and without a
        password, with and without TLS, checked with lanchat's own `signature_ok` and `proof_ok`.
        """,
        """
        def answer(challenge, key, password, binding):
            return NotImplemented  # your code here
        """,
        """
        from selfcheck import attempt


        def a_challenge(with_salt):
            nonce, salt = secrets.token_bytes(32), secrets.token_bytes(16)
            event = ev.Challenge(nonce=identity.b64(nonce), salt=identity.b64(salt) if with_salt else None)
            return event, nonce, salt


        probe, _, _ = a_challenge(False)
        if attempt("answer(...)", answer, probe, ann_key, None, b"") is NotImplemented:
            print("Exercise 17.1 not attempted yet: write answer above, run it, then run this cell again.")
        else:
            public = raw_public(ann_key)
            for with_salt, binding in ((False, b""), (True, b""), (True, secrets.token_bytes(32))):
                event, nonce, salt = a_challenge(with_salt)
                where = f"a challenge {'with' if with_salt else 'without'} a salt, {'on TLS' if binding else 'no TLS'}"
                got = attempt("answer(...)", answer, event, ann_key, PASSWORD if with_salt else None, binding, seconds=4)
                assert isinstance(got, ev.Auth), f"{where}: return an ev.Auth, not {type(got).__name__}"
                try:
                    signature = base64.b64decode(got.signature, validate=True)
                except (TypeError, ValueError):
                    raise AssertionError(f"{where}: the signature should be base64 text, got {got.signature!r}") from None
                assert identity.signature_ok(public, nonce, signature, binding), (
                    f"{where}: the server cannot verify your signature: sign the label, then the nonce's bytes "
                    "(decoded from base64), then the binding"
                )
                if not with_salt:
                    assert got.proof is None, f"{where}: there is no password to prove, leave proof out"
                    continue
                assert got.proof, f"{where}: the room has a password: send a proof"
                assert PASSWORD not in str(got.proof), "the proof contains the password itself: never send it"
                derived = identity.derive_password_key(PASSWORD, salt)
                assert identity.proof_ok(derived, nonce, base64.b64decode(got.proof), binding), (
                    f"{where}: the server does not accept your proof: HMAC-SHA256 under the scrypt key of the label, "
                    "the nonce and the binding"
                )
            print("✓ Exercise 17.1 correct: the server would let you in, and your password never left your laptop")
        """,
        """
        def answer(challenge, key, password, binding):
            nonce = base64.b64decode(challenge.nonce)
            signature = key.sign(b"lanchat identity v2\\x00" + nonce + binding)
            if not challenge.salt:
                return ev.Auth(signature=identity.b64(signature))
            derived = identity.derive_password_key(password, base64.b64decode(challenge.salt))
            proof = hmac.new(derived, b"lanchat password v2\\x00" + nonce + binding, hashlib.sha256).digest()
            return ev.Auth(signature=identity.b64(signature), proof=identity.b64(proof))
        """,
        wrong=[
            """
            def answer(challenge, key, password, binding):
                nonce = base64.b64decode(challenge.nonce)
                signature = key.sign(nonce + binding)  # forgot the label
                proof = None
                if challenge.salt:
                    derived = identity.derive_password_key(password, base64.b64decode(challenge.salt))
                    proof = identity.b64(identity.password_proof(derived, nonce, binding))
                return ev.Auth(signature=identity.b64(signature), proof=proof)
            """,
            """
            def answer(challenge, key, password, binding):
                nonce = base64.b64decode(challenge.nonce)
                signature = identity.sign_challenge(key, nonce)  # the binding left out: fine without TLS only
                proof = None
                if challenge.salt:
                    derived = identity.derive_password_key(password, base64.b64decode(challenge.salt))
                    proof = identity.b64(identity.password_proof(derived, nonce))
                return ev.Auth(signature=identity.b64(signature), proof=proof)
            """,
            """
            def answer(challenge, key, password, binding):
                nonce = base64.b64decode(challenge.nonce)
                signature = identity.sign_challenge(key, nonce, binding)
                proof = password if challenge.salt else None  # "proves" the password by sending it
                return ev.Auth(signature=identity.b64(signature), proof=proof)
            """,
            """
            def answer(challenge, key, password, binding):
                signature = identity.sign_challenge(key, challenge.nonce.encode(), binding)  # the base64 text, not the bytes
                proof = None
                if challenge.salt:
                    derived = identity.derive_password_key(password, base64.b64decode(challenge.salt))
                    proof = identity.b64(identity.password_proof(derived, base64.b64decode(challenge.nonce), binding))
                return ev.Auth(signature=identity.b64(signature), proof=proof)
            """,
        ],
    )
    nb.step(
        """
        ## Clean up

        Everyone leaves, the room is stopped, and the scratch folder (keys, certificate, history) is removed.
        """,
        """
        ann.close()
        room.terminate()
        print("the room's exit status:", room.wait(TIMEOUT))
        room.stdout.close()
        scratch.cleanup()
        print("scratch folder removed:", not WORK.exists())
        """,
    )
    nb.md(
        """
        **In class:** the teacher runs `python -m lanchat key` on their laptop, then starts the room on the
        machine that serves it with `python -m lanchat serve --headless --tls --password --operator FINGERPRINT`
        (or simply `serve --tls --password` on their own laptop, taking part as the host, who is always an
        operator), and writes the `SHA256:...` fingerprint and the password on the board;
        students join with `python -m lanchat connect ADDRESS --fingerprint SHA256:...` and type the password when
        asked. In the chat, `/whois NAME` shows a key's fingerprint to compare out loud; `/mute`, `/kick`, `/ban`,
        `/bans`, `/unban`, `/admit` and `/op` are the operator's commands (README, "Safety in a class" and "Moderation and abuse resistance").
        """
    )
    return [nb]
