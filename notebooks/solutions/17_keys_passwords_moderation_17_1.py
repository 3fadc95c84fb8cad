"""Solution to exercise 17.1 (answer a challenge) in 17_keys_passwords_moderation.ipynb.

It runs inside that notebook: names such as imports and settings come from its earlier cells.
"""
# ruff: noqa: F821

def answer(challenge, key, password, binding):
    nonce = base64.b64decode(challenge.nonce)
    signature = key.sign(b"lanchat identity v2\x00" + nonce + binding)
    if not challenge.salt:
        return ev.Auth(signature=identity.b64(signature))
    derived = identity.derive_password_key(password, base64.b64decode(challenge.salt))
    proof = hmac.new(derived, b"lanchat password v2\x00" + nonce + binding, hashlib.sha256).digest()
    return ev.Auth(signature=identity.b64(signature), proof=identity.b64(proof))
