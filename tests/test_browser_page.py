"""A web browser pointed at a real server, from the browser's side: each kind of port (plain,
TLS by https:// and by http://, a socket file) answers with an HTTP 400 page whose command joins
that room (protocol.JoinPage), and the room goes on."""

from __future__ import annotations

import os
import socket
import ssl

import pytest
from helpers import RawClient, running_server, short_tmp_dir

from lanchat import events as ev
from lanchat.tls import ensure_certificate, server_context


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory):
    cert, key, _made = ensure_certificate(tmp_path_factory.mktemp("tls"))
    return server_context(cert, key)[0]


def read_all(sock: socket.socket) -> str:
    sock.settimeout(10)
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    head, _, page = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 400 Bad Request\r\n"), reply[:80]
    return page.decode()


def browse(port: int, *, https: bool) -> str:
    """What a browser reads at http(s)://localhost:PORT/."""
    request = f"GET / HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if not https:
            sock.sendall(request)
            return read_all(sock)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the browser's "accept the risk"
        with context.wrap_socket(sock) as tls:
            tls.sendall(request)
            return read_all(tls)


def test_a_tls_ports_page_says_connect_with_tls_by_https_and_by_http(tls_context):
    """It said `connect HOST PORT` without --tls (and http:// got nc's line, which no browser
    shows: curl says "unsupported HTTP/0.9")."""
    logged: list[str] = []
    with running_server(tls=tls_context, log=logged.append) as (server, endpoint):
        for https in (True, False):
            page = browse(endpoint.port, https=https)
            assert f"\r\n  python -m lanchat connect --tls localhost {endpoint.port}\r\n" in page, page
            assert "fingerprint" in page and "nc " not in page
        assert not server.internal_errors
    # the host's log says what came (it said "a client without TLS ...; told to use TLS")
    assert [line for line in logged if "TLS port" in line] == [line for line in logged if "a web browser (http://) on this TLS port" in line] != []


def test_a_plain_ports_page_and_a_socket_files_say_what_joins_them():
    with running_server() as (server, endpoint):
        bob = RawClient(endpoint, "bob")
        page = browse(endpoint.port, https=False)
        assert f"\r\n  python -m lanchat connect localhost {endpoint.port}\r\n" in page and "--tls" not in page
        assert f"nc localhost {endpoint.port} (then Enter, and your name)" in page
        bob.send(ev.Say(text="unbothered"))
        assert bob.expect(ev.Message).text == "unbothered" and not server.internal_errors
    with short_tmp_dir() as folder:
        path = os.path.join(folder, "chat.sock")
        with running_server(unix_path=path), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(path)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")  # curl --unix-socket
            page = read_all(sock)
        assert f"\r\n  python -m lanchat connect --unix {path}\r\n" in page and f"nc -U {path}" in page
