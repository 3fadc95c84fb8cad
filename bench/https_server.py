"""bench/https_server.py: ``python -m http.server`` behind TLS, the reference for class_bench.py --tls.

    python bench/https_server.py PORT --bind 127.0.0.1 --directory FOLDER --cert-dir FOLDER

The same standard-library server (ThreadingHTTPServer, SimpleHTTPRequestHandler: a thread per
download, the file copied in the handler's chunks), its listening socket wrapped in TLS with the
same kind of certificate lanchat's ``serve --tls`` makes and the same context settings (a
self-signed P-256 certificate made by ``lanchat.tls.ensure_certificate``, ``server_context``:
TLS 1.2 at least). It logs each request as http.server does. Each connection's handshake runs in its own thread, on the first read, as
every other part of a request does. Prints ``the server's fingerprint is SHA256:...`` and
``Serving HTTPS on HOST port N``. A benchmark's helper, not part of lanchat.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lanchat.tls import ensure_certificate, server_context  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--cert-dir", type=Path, required=True, help="where the certificate is made (or found)")
    args = parser.parse_args(argv)
    cert, key, _made = ensure_certificate(args.cert_dir)
    context, fingerprint = server_context(cert, key)
    handler = partial(SimpleHTTPRequestHandler, directory=str(args.directory))
    with ThreadingHTTPServer((args.bind, args.port), handler) as httpd:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        print(f"the server's fingerprint is {fingerprint}", flush=True)
        print(f"Serving HTTPS on {args.bind} port {httpd.server_address[1]}", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
