"""Solution to exercise 12.1 (pin the server's fingerprint) in 12_tls.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

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
