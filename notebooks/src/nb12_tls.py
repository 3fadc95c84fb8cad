"""Notebook 12: TLS around a socket: a self-signed certificate, fingerprints, and what a passive listener sees."""

from cells import Notebook


def notebooks() -> list[Notebook]:
    nb = Notebook("12_tls.ipynb", "TLS: wrapping a socket, and what a listener on the wire sees")
    nb.md(
        """
        # 12 · TLS: wrapping a socket, and what a listener on the wire sees

        Everything the seeds send, and lanchat unless its room is started with `--tls`, travels **in clear**: anyone
        who can see the network's packets (the Wi-Fi is shared by the whole room) can read every message. **TLS**
        (what the "s" in https adds) wraps a TCP socket so that what crosses the network is encrypted and the client
        knows **who** it is talking to. (`lanchat serve --tls` does what this notebook builds by hand: a
        self-signed certificate, its fingerprint printed for the clients to pin.)

        We make a **certificate** for a small server (self-signed, with the `cryptography` library), wrap the
        sockets with Python's `ssl` module, and put a **tap** between client and server: a relay that forwards
        every byte and keeps a copy, as a listener on the network would. Needs Python 3.11 and `cryptography`
        (installed with lanchat); runs on Linux, macOS and Windows, all on 127.0.0.1.
        """
    )
    nb.step(
        """
        ## Settings
        """,
        """
        import datetime
        import hashlib
        import socket
        import ssl
        import tempfile
        import threading
        from pathlib import Path

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        HOST = "127.0.0.1"
        TIMEOUT = 5.0
        scratch = tempfile.TemporaryDirectory(prefix="lanchat-nb12-")
        WORK = Path(scratch.name)
        print("scratch folder:", WORK)
        """,
    )
    nb.step(
        """
        ## A certificate

        A certificate binds a **public key** to a **name** ("localhost"), signed by someone the client trusts. A
        real server's is signed by a certificate authority that browsers trust; ours is **self-signed**: it vouches
        for itself, so a client trusts it only if it was given this very certificate beforehand (or its
        fingerprint). The private key stays with the server.
        """,
        """
        def make_certificate(name):
            key = ec.generate_private_key(ec.SECP256R1())
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
            now = datetime.datetime.now(datetime.UTC)
            certificate = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(subject)  # self-signed: the issuer is the subject
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .sign(key, hashes.SHA256())
            )
            cert_file, key_file = WORK / f"{name}-cert.pem", WORK / f"{name}-key.pem"
            cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
            key_file.write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ))
            key_file.chmod(0o600)
            return certificate, cert_file, key_file


        certificate, CERT_FILE, KEY_FILE = make_certificate("localhost")
        FINGERPRINT = certificate.fingerprint(hashes.SHA256()).hex(":")
        print("subject:", certificate.subject.rfc4514_string(), "| valid until", certificate.not_valid_after_utc)
        print("SHA-256 fingerprint:", FINGERPRINT)
        """,
    )
    nb.step(
        """
        ### The same fingerprint, as lanchat writes it

        `lanchat serve --tls` prints its certificate's fingerprint the way `ssh` writes one: `SHA256:` and the
        **base64** of the same 32 bytes, 50 characters instead of 95 to copy from the board. Same hash, another
        spelling: `lanchat.tls.fingerprint` computes it from the certificate's bytes (DER, the binary form), and
        `lanchat connect --fingerprint SHA256:...` takes it. For the board it also prints a **short form**, the
        first 16 hex digits in four groups (`lanchat.tls.short_form`), which a student's first join shows to
        compare at a glance: 64 bits, far more than anyone in a classroom can match with a certificate of their own.
        """,
        """
        import base64

        from lanchat.tls import fingerprint as lanchat_fingerprint
        from lanchat.tls import short_form

        digest = bytes.fromhex(FINGERPRINT.replace(":", ""))  # the 32 bytes of SHA-256
        as_ssh_writes_it = "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")
        der = certificate.public_bytes(serialization.Encoding.DER)
        assert as_ssh_writes_it == lanchat_fingerprint(der), "our spelling and lanchat's disagree"
        print("hex with colons:     ", FINGERPRINT)
        print("as lanchat prints it:", lanchat_fingerprint(der))
        our_short_form = " ".join(FINGERPRINT.replace(":", "")[i : i + 4] for i in range(0, 16, 4))
        assert our_short_form == short_form(lanchat_fingerprint(der)), "our short form and lanchat's disagree"
        print("in short, for the board:", short_form(lanchat_fingerprint(der)))
        """,
    )
    nb.step(
        """
        ## A server, with or without TLS, and a tap in the middle

        `EchoServer` answers each message with `"got: "` in front, once per connection, in a thread. With a
        `context` it wraps each accepted socket in TLS (`context.wrap_socket(conn, server_side=True)` does the
        handshake). `Tap` listens on its own port and relays bytes to the server, keeping a copy of each
        direction: exactly what a passive listener on the network would capture.
        """,
        """
        class EchoServer:
            def __init__(self, context=None):
                self.listener = socket.create_server((HOST, 0))
                self.listener.settimeout(TIMEOUT)
                self.address, self.context, self.errors = self.listener.getsockname()[:2], context, []
                self.thread = threading.Thread(target=self.serve_one, daemon=True)
                self.thread.start()

            def serve_one(self):
                try:
                    conn, _ = self.listener.accept()
                    conn.settimeout(TIMEOUT)
                    if self.context:
                        conn = self.context.wrap_socket(conn, server_side=True)  # the TLS handshake
                    with conn:
                        data = conn.recv(4096)
                        conn.sendall(b"got: " + data)
                except (OSError, ssl.SSLError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                finally:
                    self.listener.close()


        class Tap:
            # a relay that keeps a copy of everything: what a listener on the network sees
            def __init__(self, target):
                self.listener = socket.create_server((HOST, 0))
                self.listener.settimeout(TIMEOUT)
                self.address, self.target, self.seen = self.listener.getsockname()[:2], target, b""
                self.thread = threading.Thread(target=self.relay, daemon=True)
                self.thread.start()

            def relay(self):
                try:
                    near, _ = self.listener.accept()
                    far = socket.create_connection(self.target, timeout=TIMEOUT)
                except OSError:
                    return
                near.settimeout(TIMEOUT)

                def pump(source, sink):
                    try:
                        while data := source.recv(65536):
                            self.seen += data
                            sink.sendall(data)
                    except OSError:
                        pass
                    finally:
                        try:
                            sink.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass

                back = threading.Thread(target=pump, args=(far, near))
                back.start()
                pump(near, far)
                back.join(TIMEOUT)
                near.close()
                far.close()
                self.listener.close()
        """,
    )
    nb.step(
        """
        First without TLS: the client sends a password through the tap to the plain server.
        """,
        """
        SECRET = b"my password is hunter2"
        plain_server = EchoServer()
        tap = Tap(plain_server.address)
        with socket.create_connection(tap.address, timeout=TIMEOUT) as sock:
            sock.sendall(SECRET)
            print("client received:", sock.recv(4096))
        tap.thread.join(TIMEOUT)
        print("the tap saw:", tap.seen)
        """,
    )
    nb.step(
        """
        ## The same through TLS

        The server loads its certificate and key into an `SSLContext`. The client's context trusts exactly our
        certificate (`cafile`), checks that it is for the name it asked for (`server_hostname="localhost"`), and
        wraps its socket: the handshake happens inside `wrap_socket`. After that, `sendall` and `recv` work as
        before.

        **Predict, then run (P12.1).** What can the tap read now: the password? the server's name? the length of
        the message?
        """,
        """
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(CERT_FILE, KEY_FILE)
        client_context = ssl.create_default_context(cafile=str(CERT_FILE))  # trust this certificate only

        tls_server = EchoServer(server_context)
        tap = Tap(tls_server.address)
        with socket.create_connection(tap.address, timeout=TIMEOUT) as raw:
            with client_context.wrap_socket(raw, server_hostname="localhost") as sock:
                print("TLS version:", sock.version(), "| cipher:", sock.cipher()[0])
                seen_fingerprint = hashlib.sha256(sock.getpeercert(binary_form=True)).digest().hex(":")
                print("the certificate it got has our fingerprint:", seen_fingerprint == FINGERPRINT)
                sock.sendall(SECRET)
                print("client received:", sock.recv(4096))
        tap.thread.join(TIMEOUT)
        print("tap saw", len(tap.seen), "bytes; the password in them?", SECRET in tap.seen)
        print("the name 'localhost' in them?", b"localhost" in tap.seen, "| first bytes:", tap.seen[:5].hex(" "))
        """,
    )
    nb.md(
        """
        The password is gone from the wire. What stays visible: that it is TLS (records start with `16 03`: a
        handshake record, version 3.x), **who talks to whom** (addresses and ports), roughly **how much** (TLS hides
        content, not lengths or timing), and the **name** the client asked for: it travels in clear in the first
        message (the SNI field) so that one machine can serve many names. In TLS 1.3 the certificate itself is
        encrypted.
        """
    )
    nb.step(
        """
        ## A client that trusts nobody in particular

        Python's default context trusts the system's certificate authorities. Our self-signed certificate is
        not signed by any of them, so a default client refuses it; and a client that asks for another name refuses
        it too. Both refusals are the point: they are what stops someone in the middle from presenting *their*
        certificate instead.
        """,
        """
        for label, context, name in (
            ("system CAs only", ssl.create_default_context(), "localhost"),
            ("our cert, wrong name", ssl.create_default_context(cafile=str(CERT_FILE)), "chat.example"),
        ):
            server = EchoServer(server_context)
            with socket.create_connection(server.address, timeout=TIMEOUT) as raw:
                try:
                    context.wrap_socket(raw, server_hostname=name)
                except ssl.SSLCertVerificationError as exc:
                    print(f"{label}: refused ({exc.verify_message})")
            server.thread.join(TIMEOUT)
        """,
    )
    nb.exercise(
        "12.1",
        "pin the server's fingerprint",
        """
        A small class server has no certificate authority, but the teacher can write its **fingerprint** on the
        board. Write `pinned_connect(address, fingerprint, timeout)`: open a TCP connection (with `timeout`), wrap
        it in TLS **without** the usual CA and name checks (`ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)`,
        `ctx.check_hostname = False`, `ctx.verify_mode = ssl.CERT_NONE`), then compare the SHA-256 of the server's
        certificate (`sock.getpeercert(binary_form=True)`) with `fingerprint` (hex with colons, as above). If they
        differ, close the socket and raise `ssl.SSLError`. Otherwise return the TLS socket.

        The check plays the attacker too: an impostor server with a certificate of its own for the same name, and
        a server that accepts the connection but never answers the handshake.
        """,
        """
        def pinned_connect(address, fingerprint, timeout):
            return NotImplemented  # your code here
        """,
        """
        import types

        from selfcheck import attempt


        def outcome_against(server, fingerprint):
            try:
                sock = pinned_connect(server.address, fingerprint, 1.0)
            except (ssl.SSLError, ConnectionError) as exc:
                return f"refused ({type(exc).__name__})"
            except TimeoutError:
                return "gave up (timeout)"
            with sock:
                sock.sendall(b"ping")
                return sock.recv(100)


        closed = socket.create_server((HOST, 0))
        nobody_there = types.SimpleNamespace(address=closed.getsockname()[:2])
        closed.close()
        try:  # the starter answers at once; a real answer finds nobody at this port
            untouched = pinned_connect(nobody_there.address, FINGERPRINT, 1.0) is NotImplemented
        except OSError:
            untouched = False
        if untouched:
            print("Exercise 12.1 not attempted yet: write pinned_connect above, run it, then run this cell again.")
        else:
            real = EchoServer(server_context)
            first = attempt("pinned_connect(the real server)", outcome_against, real, FINGERPRINT)
            real.thread.join(TIMEOUT)
            assert first == b"got: ping", f"against the real server (the right fingerprint) you got {first!r}"

            _, impostor_cert, impostor_key = make_certificate("localhost")  # a certificate of its own, same name
            impostor_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            impostor_context.load_cert_chain(impostor_cert, impostor_key)
            impostor = EchoServer(impostor_context)
            outcome = attempt("pinned_connect(an impostor)", outcome_against, impostor, FINGERPRINT)
            impostor.thread.join(TIMEOUT)
            assert isinstance(outcome, str) and outcome.startswith("refused"), (
                f"an impostor with its own certificate for 'localhost' got through (it answered {outcome!r}): "
                "compare the certificate's fingerprint with the pinned one"
            )

            silent = socket.create_server((HOST, 0))  # accepts (the system does), never says a word
            try:
                outcome = attempt("pinned_connect(a server that never answers)", outcome_against,
                                  types.SimpleNamespace(address=silent.getsockname()[:2]), FINGERPRINT, seconds=4)
            finally:
                silent.close()
            assert outcome == "gave up (timeout)" or str(outcome).startswith("refused"), (
                f"a server that never answers the handshake: {outcome!r}"
            )
            print("✓ Exercise 12.1 correct: the real server is accepted, the impostor refused, the silent one given up")
        """,
        """
        def pinned_connect(address, fingerprint, timeout):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False  # no CA, no name: the fingerprint is the whole check
            context.verify_mode = ssl.CERT_NONE
            raw = socket.create_connection(address, timeout=timeout)
            try:
                sock = context.wrap_socket(raw, server_hostname="localhost")
            except BaseException:
                raw.close()
                raise
            seen = hashlib.sha256(sock.getpeercert(binary_form=True)).digest().hex(":")
            if seen != fingerprint.lower():
                sock.close()
                raise ssl.SSLError(f"certificate fingerprint {seen} is not the pinned {fingerprint}")
            return sock
        """,
        wrong=[
            """
            def pinned_connect(address, fingerprint, timeout):
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # encrypted, but to whom? no check at all
                raw = socket.create_connection(address, timeout=timeout)
                return context.wrap_socket(raw, server_hostname="localhost")
            """,
            """
            def pinned_connect(address, fingerprint, timeout):
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                raw = socket.create_connection(address)  # no timeout: a silent server hangs it
                raw.settimeout(None)
                sock = context.wrap_socket(raw, server_hostname="localhost")
                seen = hashlib.sha256(sock.getpeercert(binary_form=True)).digest().hex(":")
                if seen != fingerprint:
                    sock.close()
                    raise ssl.SSLError("fingerprint mismatch")
                return sock
            """,
            """
            def pinned_connect(address, fingerprint, timeout):
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(socket.create_connection(address, timeout=timeout), server_hostname="localhost")
                name = sock.getpeercert(binary_form=True)  # checks that there is a certificate, not whose
                if not name:
                    raise ssl.SSLError("no certificate")
                return sock
            """,
        ],
    )
    nb.step(
        """
        ## Clean up
        """,
        """
        scratch.cleanup()
        print("scratch folder (with the private keys) removed:", not WORK.exists())
        """,
    )
    nb.md(
        """
        **Next:** notebook 13: IPv6, and one server for both address families.
        """
    )
    return [nb]
