"""identity.py: who a person is (an Ed25519 key) and how a room password is proved. No sockets.

The pure part (docs/PROTOCOL.md, "Identity and room password"): public keys on the wire, short
fingerprints for /whois, signing and checking a challenge, deriving a password key with scrypt and
proving knowledge of it with HMAC. A secret never crosses the wire: the server sends a random nonce,
the client signs it (and, for a password room, answers an HMAC of it under the derived key).

The one edge: ``load_or_create_key(path)`` reads or writes the key file (mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# cryptography, hashlib and hmac (OpenSSL twice over: about 10 MiB of a server's memory,
# bench/idle_memory.py) are imported by the functions that need them, when the first key or
# password is met: a server nobody has joined yet, or a room of keyless guests, never loads them.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PUBLIC_KEY_BYTES = 32  # an Ed25519 public key
SIGNATURE_BYTES = 64
NONCE_BYTES = 32
SALT_BYTES = 16
PROOF_BYTES = 32  # HMAC-SHA256
KEY_FILE_NAME = "identity.key"
# What is signed: a fixed label, then the nonce. The label keeps a lanchat signature from ever
# meaning anything to another program that might ask the same key to sign 32 random bytes.
SIGNED_LABEL = b"lanchat identity v2\x00"
PROOF_LABEL = b"lanchat password v2\x00"
TYPED_LABEL = b"lanchat typed password\x00"  # the in-memory verifier of a password typed at nc
# scrypt with N=2**15, r=8, p=1: 32 MiB and about 0.1 s on a laptop, once per join on the client
# and once per start on the server (never in the server's loop).
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


class IdentityError(Exception):
    """A key, signature or key file cannot be used; the message is one line for the user."""


# ------------------------------------------------------------------ encoding


def b64(data: bytes) -> str:
    """Bytes as standard base64 (with padding), as every binary field on the wire is sent."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, size: int, what: str) -> bytes:
    """A base64 field of exactly ``size`` bytes, or IdentityError saying what is wrong."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise IdentityError(f"{what} is not base64") from None
    if len(data) != size:
        raise IdentityError(f"{what} must be {size} bytes, not {len(data)}")
    return data


# Ed25519's field and curve (RFC 8032, 5.1): the prime p and the constant d.
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P


def weak_key(public: bytes) -> bool:
    """Is ``public`` a point of small order (1, 2, 4 or 8)? A signature then proves nothing: for
    the neutral point (01 00 .. 00), the signature made of that point and 32 zero bytes matches
    every message, so anyone who saw the key could join as its name, a signature replayed
    included; for the others, one of eight such signatures matches. No key
    lanchat makes is one (RFC 8032 keys are 8 times a point of large order). Their y coordinates
    (the low 255 bits, little-endian, taken mod p as a verifier does) are 1 (the neutral point),
    -1 (order 2), 0 (order 4, x = +-sqrt(-1)), and the roots of d*y**4 + 2*y**2 - 1 (order 8:
    doubling one gives y = 0, so x**2 = -y**2, which on -x**2 + y**2 = 1 + d*x**2*y**2 is that)."""
    y = int.from_bytes(public, "little") & ((1 << 255) - 1)
    y %= _P
    return y == 0 or y * y % _P == 1 or (_D * pow(y, 4, _P) + 2 * y * y - 1) % _P == 0


def public_key(text: str) -> bytes:
    """``hello``'s ``key``: 32 bytes of base64 that are a key a signature can prove (``weak_key``),
    or IdentityError saying what is wrong."""
    public = unb64(text, PUBLIC_KEY_BYTES, '"key"')
    if weak_key(public):
        raise IdentityError('"key" is a point of small order, which any signature matches: no key lanchat makes')
    return public


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of ``key``'s public half: what ``hello`` carries (base64)."""
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public: bytes) -> str:
    """The full fingerprint of a public key, as ssh prints one: ``SHA256:`` and unpadded base64."""
    import hashlib

    return "SHA256:" + b64(hashlib.sha256(public).digest()).rstrip("=")


def short_fingerprint(public: bytes) -> str:
    """16 hex digits in four groups (64 bits), short enough to read out loud: ``3f2a 9c1b 77d0 e4a5``."""
    import hashlib

    digest = hashlib.sha256(public).hexdigest()[:16]
    return " ".join(digest[i : i + 4] for i in range(0, 16, 4))


# A short fingerprint as people copy it: split into groups of four at spaces (`lanchat key`,
# /whois), or at a tab, a no-break space (a web page, a PDF), a dash or a colon (read out), or
# into pairs (as ssh writes the old MD5 ones: 3f:2a:9c:...). The one rule, for serve --operator
# and the room alike.
_HEX = frozenset("0123456789abcdef")
# Zero-width characters a web page or a word processor puts between groups: spaces here (a name
# cannot hold them either: names.name_problem)
_INVISIBLE_AS_SPACE = str.maketrans(dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff", " "))


def _hex_groups(text: str) -> tuple[list[str], bool] | None:
    """``text`` (lower-cased) split at whitespace of any kind (a zero-width space too), dashes and
    colons, and whether whitespace was among the splits (a name never holds any: names.name_problem); None unless
    every group is hex digits."""
    lower = text.strip().lower().translate(_INVISIBLE_AS_SPACE)
    groups = lower.replace("-", " ").replace(":", " ").split()  # (split(): every Unicode space)
    if not groups or not all(set(group) <= _HEX for group in groups):
        return None
    return groups, any(ch.isspace() for ch in lower)


def fingerprint_hex(text: str) -> str | None:
    """A key fingerprint as a person copied it, as the lower-case hex of the key's SHA-256 it
    begins (``moderation.key_id`` is the whole of it): the short form ``short_fingerprint``
    shows (``3f2a 9c1b 77d0 e4a5``: 16 hex digits in any case, bare, or in groups all of four or
    all of two split at spaces, tabs, dashes or colons; with whitespace, split anywhere) or the full one
    ``fingerprint`` shows (``SHA256:``, in any case, and 43 base64 characters). None when it is
    neither. A name is neither, but for 16 bare hex digits (``2024000012345678`` too), which are
    taken as a fingerprint: a name has no whitespace, and ``3f2a-9c1b-77d0-e4a5`` is the key."""
    text = text.strip()
    if text[:7].upper() == "SHA256:":
        if len(text) != 50:
            return None
        try:
            digest = base64.b64decode(text[7:] + "=", validate=True)
        except (binascii.Error, ValueError):
            return None
        return digest.hex() if len(digest) == 32 else None
    found = _hex_groups(text)
    if found is None:
        return None
    groups, spaced = found
    digits = "".join(groups)
    shown_so = spaced or {len(group) for group in groups} in ({16}, {4}, {2})
    return digits if len(digits) == 16 and shown_so else None


def near_fingerprint(text: str) -> str | None:
    """The hex digits of ``text`` when it is a short fingerprint copied wrong (``fingerprint_hex``
    says None): 14 to 18 hex digits, bare or split at dashes or colons anywhere (``3f2a9c1b-77d0e4a5``:
    a name of that shape would be one anyone can claim), a fifth group after four whole ones;
    with whitespace (a name has none), 12 to 20 hex digits. Without
    whitespace, never digits alone: a fingerprint is shown with letters (15 digits without one:
    about 1 in 1,000), so ``202412345678901`` is a student number, a name. None for any other
    text, a name: ``cafebabe1234``, ``face-2024-1234``, half a fingerprint. Hex written as a
    programmer writes it (``0x`` before it) is read without the 0x; and 20 to 64 hex digits
    with a letter among them (a fingerprint pasted twice, an MD5 or SHA-256 in hex) are no name
    a person would choose, but one anyone could claim: they are returned too."""
    text = text.strip()
    found = _hex_groups(text[2:] if text[:2].lower() == "0x" else text)
    if found is None:
        return None
    groups, spaced = found
    digits = "".join(groups)
    if 20 <= len(digits) <= 64 and not digits.isdecimal():
        return digits
    if spaced:
        return digits if 12 <= len(digits) <= 20 else None
    if digits.isdecimal():
        return None
    sizes = [len(group) for group in groups]
    near = 14 <= len(digits) <= 18 or (len(groups) == 5 and sizes[:4] == [4, 4, 4, 4])
    return digits if near else None


# ------------------------------------------------------------------ signing


# The channel binding (PROTOCOL.md, Identity): with TLS, the SHA-256 of the server's certificate as
# the client saw it, signed and proved along with the nonce. A rogue server that relays another
# server's challenge to you then gets an answer the other server refuses: it signs *its* certificate.
# Without TLS it is empty, and an active attacker on the network can relay (TLS is the fix).


def sign_challenge(key: Ed25519PrivateKey, nonce: bytes, binding: bytes = b"") -> bytes:
    """The client's answer to a challenge: an Ed25519 signature of the label, the nonce and the
    channel binding (empty without TLS)."""
    return key.sign(SIGNED_LABEL + nonce + binding)


def signature_ok(public: bytes, nonce: bytes, signature: bytes, binding: bytes = b"") -> bool:
    """Does ``signature`` prove that the holder of ``public``'s private key signed this nonce,
    on a connection to this server (``binding``)?"""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, SIGNED_LABEL + nonce + binding)
    except (InvalidSignature, ValueError):
        return False
    return True


# ------------------------------------------------------------------ password


def derive_password_key(password: str, salt: bytes) -> bytes:
    """The slow step: scrypt of the password and the room's salt (about 0.1 s, 32 MiB)."""
    import hashlib

    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32
    )


def password_proof(derived: bytes, nonce: bytes, binding: bytes = b"") -> bytes:
    """What the client sends: HMAC-SHA256 of the label, the nonce and the channel binding under
    the derived key."""
    import hashlib
    import hmac

    return hmac.new(derived, PROOF_LABEL + nonce + binding, hashlib.sha256).digest()


def proof_ok(derived: bytes, nonce: bytes, proof: bytes, binding: bytes = b"") -> bool:
    """Constant-time comparison, so the time taken says nothing about how much was right."""
    import hmac

    return hmac.compare_digest(password_proof(derived, nonce, binding), proof)


# ------------------------------------------------------------------ the key file (an edge)


def default_key_path() -> Path:
    """The identity key in the user's data folder (e.g. ~/.local/share/lanchat/identity.key)."""
    import platformdirs

    return platformdirs.user_data_path("lanchat", appauthor=False) / KEY_FILE_NAME


def name_owned_hint(key_path: Path | None = None) -> str:
    """Said under the server's "the name 'bob' belongs to someone else on this server" (at joining,
    and to a /nick): most often that someone is the same person on a second computer, whose new
    key was made there (README, Safety in a class: copy the key file). A friend on their second
    laptop read only "someone else", and "choose another". ``key_path``: the key this one joined
    with (--identity), else the data folder's."""
    return (f"(yours, from another computer? This one has an identity key of its own: copy that computer's "
            f"{KEY_FILE_NAME} (in its lanchat data folder) to this one and join with --identity PATH-OF-THE-COPY, "
            f"or put it in place of {key_path or default_key_path()})")


def load_or_create_key(path: Path, *, make_folder: bool = True) -> tuple[Ed25519PrivateKey, list[str]]:
    """Read the key at ``path``, or make one there (mode 0600) on first use.

    Returns the key and what to tell the user (a new key was made; loose permissions were
    tightened). A file that is not a key is refused, never replaced nor changed: replacing it
    would lose the names it owns, and `--identity /etc/passwd` must not make that file private.
    ``make_folder`` False (a path the user gave): a missing folder is refused, not made, as it
    is more likely a drive not plugged in or a typo than a place for a new key. Raises
    IdentityError with one line to print.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        info = path.stat()
    except FileNotFoundError:
        if not make_folder and not path.parent.is_dir():
            raise IdentityError(
                f"there is no folder {path.parent} for the identity key {path.name} (a drive not plugged in? "
                "a typo?); give an existing key file, or a file name in an existing folder for a new key"
            ) from None
        return _create_key(path, own_path=make_folder), [f"a new identity key was made in {path} (keep it private; copy it to use your name elsewhere)"]
    except OSError as exc:
        raise IdentityError(f"cannot read the identity key {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):  # most likely `--identity FOLDER`: the folder is not in the way, the flag is
        raise IdentityError(f"{path} is a folder, not an identity key file: give the file, e.g. --identity {path / 'identity.key'}")
    if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):  # `--identity /dev/null`: never to be moved aside
        raise IdentityError(f"{path} is a device, not an identity key file: give yours with --identity PATH")
    if not stat.S_ISREG(info.st_mode):
        # (a pipe, a socket: yours to move aside where lanchat keeps its own key; one you named is a slip)
        fix = "give your key file with --identity PATH" if not make_folder else "move it aside to get a new identity key"
        raise IdentityError(f"{path} is not a file; {fix}")
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():  # (the one rule, tls.py's too: whom we act as)
        raise IdentityError(_not_yours(path, info.st_uid, os.geteuid(), own_path=make_folder))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read the identity key {path}: {exc.strerror or exc}") from None
    advice = "give yours with --identity PATH (if this is where yours belongs, move the file aside to get a new one)"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise IdentityError(f"{path} is not a lanchat identity key: {advice}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path} holds a key that is not Ed25519: {advice}")
    return key, _made_private(path, info)


def _not_yours(path: Path, owner: int, me: int, *, own_path: bool) -> str:
    """Why a key file another user owns is refused, whatever its mode: a key must be your own
    file. Whoever uses it speaks under the owner's names, so it is never used, nor made 0600
    (chmod is the owner's, and the file may be no key at all). ``own_path``: lanchat's own key
    (no --identity), which is another's when `sudo -E lanchat` kept HOME. Root's, in your own
    folder, was most likely made by `sudo lanchat`: chown makes it yours, but fails on vfat or NFS
    with root_squash, where a copy made through your own shell (`sudo cat KEY > FILE`) is yours."""
    import pwd

    def who(uid: int, shown: str = "uid ") -> str:
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return f"{shown}{uid}"

    if own_path and owner != 0:  # lanchat's own key, in a HOME that is not ours
        run = "run lanchat without sudo" if me == 0 else f"run lanchat as {who(owner)}"
        return (f"the identity key {path} is lanchat's own key in HOME={os.environ.get('HOME', '~')}, and belongs to "
                f"user {who(owner)}, not to you ({who(me)}): a key must be your own file; {run}, or give "
                f"{who(me)}'s own with --identity PATH")  # fmt: skip
    said = f"the identity key {path} belongs to user {who(owner)}, not to you ({who(me)}): it is refused, as a key must be your own file"
    if owner != 0:
        return f"{said}; give your own with --identity PATH, or leave --identity out for lanchat's own"
    try:
        folder_roots = own_path and path.parent.stat().st_uid == 0
    except OSError:
        folder_roots = False
    chown = f"sudo chown -R {who(me, '')} {path.parent}" if folder_roots else f"sudo chown {who(me, '')} {path}"
    makes = "makes lanchat's folder yours again" if folder_roots else "makes it yours"
    return (f"{said} (made by `sudo lanchat`? `{chown}` {makes}; where chown cannot (a vfat stick, NFS), copy it "
            f"to a file of yours, `sudo cat {path} > FILE`, and give --identity FILE)")


def _made_private(path: Path, info: os.stat_result) -> list[str]:
    """A key others could read (or change) is made 0600: whoever copies it can speak under your
    names. Only once the file has been read as a key: no other file is ever changed."""
    if not info.st_mode & 0o077:
        return []
    try:
        os.chmod(path, 0o600)
    except OSError as exc:
        mode = f"(mode {stat.S_IMODE(info.st_mode):04o})"
        if exc.errno in (errno.EROFS, errno.EPERM):  # a read-only disk, a USB stick's FAT: chmod cannot help there
            raise IdentityError(
                f"the identity key {path} can be read by others {mode} and cannot be made private there "
                f"({(exc.strerror or str(exc)).lower()}); copy it to a folder of your own, run chmod 600 on the copy, "
                "and give that with --identity PATH"
            ) from None
        raise IdentityError(
            f"the identity key {path} can be read by others {mode} "
            f"and cannot be fixed ({exc.strerror or exc}); run: chmod 600 {path}"
        ) from None
    return [f"the identity key {path} could be read by others (mode {stat.S_IMODE(info.st_mode):04o}); it is now 0600 (only you)"]


def _link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "a file"


def _create_key(path: Path, *, own_path: bool = True) -> Ed25519PrivateKey:
    """A new key at ``path`` (0600). IdentityError if it cannot be made there, saying where one
    can be: a HOME that may not be written (a guest account, a live USB, a service user's
    /nonexistent) left a student with "Permission denied" and no way into any room."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: two lanchats starting at once never overwrite each other's new key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if os.path.islink(path) and not os.path.exists(path):  # O_EXCL never follows a link: asking again looped for good
            raise IdentityError(
                f"{path} is a link to {_link_target(path)}, which is not there (a drive not plugged in?); "
                "give an existing key with --identity PATH, or remove the link to get a new key"
            ) from None
        return load_or_create_key(path)[0]  # another lanchat made it just now: read theirs
    except OSError as exc:
        where = " (lanchat's data folder)" if own_path else ""
        raise IdentityError(
            f"cannot create the identity key {path}{where}: {exc.strerror or exc}; "
            "give one in a folder you may write with --identity PATH (a new key is made there)"
        ) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:  # a full disk: leave no empty or half key behind to be refused next time
        with contextlib.suppress(OSError):
            path.unlink()
        raise IdentityError(f"cannot write the identity key {path}: {exc.strerror or exc}") from None
    return key


# ------------------------------------------------------------------ the room's side (pure)


def owned_name_key(name: str) -> str:
    """What two names must share to be the same name for ownership: the one place that says so.

    Today the room's own rule (``events.name_key``: ignoring case); the moderation work's
    confusable-aware ``names.name_key`` replaces it here, and ownership follows.
    """
    from .events import name_key

    return name_key(name)


class RoomPassword:
    """A room password as the server holds it: the salt and the scrypt-derived key, never the text.

    Made once at start (``RoomPassword.create(text, salt)``), so the slow KDF never runs in the
    server's loop; each join then costs one HMAC.

    A text participant (nc, telnet) types the password itself. Deriving scrypt of each typed
    attempt would stall the server's one loop for about 0.1 s (32 MiB) per try, and a worker
    thread for it would let a crowd of addresses keep a core busy. So ``create`` also keeps a
    second, cheap verifier of the same text: HMAC-SHA256 under a random secret made at start and
    held only in memory (``accepts_typed``: one HMAC and a constant-time comparison). Neither
    leaves the process; anyone able to read its memory already holds the derived key, which is
    all a lanchat client needs to join (docs/PROTOCOL.md, Text participants).
    """

    def __init__(self, salt: bytes, derived: bytes, typed: tuple[bytes, bytes] | None = None) -> None:
        self.salt = salt
        self.derived = derived
        self._typed = typed  # (secret, HMAC of the text under it); None: made from a derived key alone

    @classmethod
    def create(cls, password: str, salt: bytes) -> RoomPassword:
        secret = os.urandom(32)
        return cls(salt, derive_password_key(password, salt), (secret, _typed_digest(secret, password)))

    def accepts(self, nonce: bytes, proof: bytes, binding: bytes = b"") -> bool:
        return proof_ok(self.derived, nonce, proof, binding)

    @property
    def can_check_typed(self) -> bool:
        """Was the text known at start (so a typed password can be checked without scrypt)?"""
        return self._typed is not None

    def accepts_typed(self, text: str) -> bool:
        """Is ``text`` (typed by a text participant) the room password? Cheap and constant-time."""
        import hmac

        if self._typed is None:
            return False
        secret, digest = self._typed
        return hmac.compare_digest(_typed_digest(secret, text), digest)


def _typed_digest(secret: bytes, text: str) -> bytes:
    import hashlib
    import hmac

    return hmac.new(secret, TYPED_LABEL + text.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


class PasswordAttempts:
    """Wrong passwords per address: ``limit`` within ``window`` seconds locks it for ``lock`` seconds.

    Pure, with an injected clock; the room asks ``locked_for(address)`` before a challenge and
    tells ``failed(address)`` after a wrong proof.

    Both tables are bounded, so an attacker cycling source addresses cannot grow them for ever:

    - ``_failures`` (counts below the limit) keeps at most ``max_addresses``; the oldest is
      forgotten first. Forgetting a count only lets that address start again at zero, which a
      fresh address could do anyway.
    - ``_locked_until`` keeps at most ``max_addresses`` live locks. Every lock lasts the same
      ``lock`` seconds and an address is (re)inserted at the end when locked, so the table is
      in expiry order: expired locks are dropped from the front, cheaply, on every call. A
      lock still running is never evicted (that would unlock an attacker early). When the
      table is full of running locks the room is being guessed at from more than
      ``max_addresses`` addresses within ``lock`` seconds: then every address not in the table
      is treated as locked too, until the oldest lock expires and frees a place (at most
      ``lock`` seconds). Memory stays bounded and guessing stays at most ``limit`` tries per
      place per ``lock`` seconds, at the price of making newcomers wait during such an attack.
    """

    def __init__(  # noqa: ANN001
        self, clock, *, limit: int = 3, window: float = 60.0, lock: float = 60.0, max_addresses: int = 4096,
    ) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window
        self.lock = lock
        self.max_addresses = max_addresses
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}  # in expiry order: every lock lasts ``lock``

    def locked_for(self, address: str) -> float:
        """Seconds until ``address`` may try again (0: it may try now)."""
        now = self.clock()
        self._drop_expired(now)
        until = self._locked_until.get(address)
        if until is None and len(self._locked_until) >= self.max_addresses:
            until = next(iter(self._locked_until.values()))  # full: wait for the first place to free
        return 0.0 if until is None else until - now

    def failed(self, address: str) -> bool:
        """Count one wrong password; True when this one locks the address."""
        now = self.clock()
        self._drop_expired(now)
        recent = [t for t in self._failures.pop(address, ()) if now - t < self.window]
        recent.append(now)
        if len(recent) >= self.limit:
            self._locked_until.pop(address, None)  # re-inserted at the end: the table stays in expiry order
            if len(self._locked_until) < self.max_addresses:
                self._locked_until[address] = now + self.lock
            else:  # no place, and none is freed early: the full table locks every address not
                # in it (locked_for) until a place frees; its count is kept, so its next wrong
                # password takes that place at once
                self._remember_failures(address, recent[-self.limit :])
            return True
        self._remember_failures(address, recent)
        return False

    def _remember_failures(self, address: str, times: list[float]) -> None:
        self._failures[address] = times  # (re-)inserted at the end: the oldest is first in line
        if len(self._failures) > self.max_addresses:  # a scan from many addresses: forget the oldest
            del self._failures[next(iter(self._failures))]

    def _drop_expired(self, now: float) -> None:
        while self._locked_until:
            address, until = next(iter(self._locked_until.items()))
            if until > now:
                return
            del self._locked_until[address]

    @property
    def tracked(self) -> int:
        """How many addresses the two tables hold (bounded by twice ``max_addresses``)."""
        return len(self._failures) + len(self._locked_until)


# Wrong room passwords (docs/PROTOCOL.md, Identity and room password, "Wrong passwords"). A class
# behind one NAT address (a school's Wi-Fi) reaches the server from one address, so each person's
# slips are counted apart: PERSON_TRIES within PERSON_WINDOW lock that person (their key, or a
# guest's name, at that address) for PERSON_LOCK; their classmates may still join. A script that
# takes a fresh name or key for every guess meets the address's ceiling: ADDRESS_TRIES within
# ADDRESS_WINDOW, whoever typed them, lock the whole address for ADDRESS_LOCK. Either way a
# guesser gets at most 3 tries a minute from one address on average (15 per 5 minutes), the rate
# the old count of 3 a minute per address allowed, while a class has room for 15 slips in 5
# minutes before it waits together.
PERSON_TRIES, PERSON_WINDOW, PERSON_LOCK = 3, 60.0, 60.0
ADDRESS_TRIES, ADDRESS_WINDOW, ADDRESS_LOCK = 15, 300.0, 300.0


@dataclass(frozen=True)
class Lockout:
    """A running lock: ``wait`` seconds more, started by ``tries`` wrong passwords within
    ``window`` seconds; ``whole_address``: the address's ceiling (everyone there waits), else
    one person's count."""

    wait: float
    tries: int
    window: float
    lock: float
    whole_address: bool


class WrongPasswords:
    """Wrong room passwords per person at an address and per address (the numbers above).

    Pure, with an injected clock. ``place`` is where the gate counts an address (a /64, a user of
    this machine: gate.Gate.place); ``person`` who tried there (``"key ..."``, ``"name ..."``:
    gate.person). Both counts are PasswordAttempts, bounded the same way; the people's table
    holds as many locks as the ceiling lets one address make (ADDRESS_TRIES // PERSON_TRIES) for
    each address the address table holds, so filling it takes as many addresses as filling that.
    """

    def __init__(  # noqa: ANN001
        self, clock, *, person_tries: int = PERSON_TRIES, person_window: float = PERSON_WINDOW,
        person_lock: float = PERSON_LOCK, address_tries: int = ADDRESS_TRIES,
        address_window: float = ADDRESS_WINDOW, address_lock: float = ADDRESS_LOCK, max_addresses: int = 4096,
    ) -> None:  # fmt: skip
        per_address = max(1, address_tries // person_tries)
        self.people = PasswordAttempts(clock, limit=person_tries, window=person_window, lock=person_lock,
                                       max_addresses=max_addresses * per_address)  # fmt: skip
        self.addresses = PasswordAttempts(clock, limit=address_tries, window=address_window, lock=address_lock,
                                          max_addresses=max_addresses)  # fmt: skip

    def locked_for(self, place: str, person: str) -> Lockout | None:
        """The lock ``person`` at ``place`` waits out, if any (the address's first)."""
        if wait := self.addresses.locked_for(place):
            return self._lockout(wait, whole_address=True)
        if wait := self.people.locked_for(f"{person} at {place}"):
            return self._lockout(wait, whole_address=False)
        return None

    def failed(self, place: str, person: str) -> Lockout | None:
        """Count one wrong password by ``person`` at ``place``; the lock it starts, if any."""
        whole = self.addresses.failed(place)
        alone = self.people.failed(f"{person} at {place}")
        if whole or alone:
            return self._lockout(self.addresses.lock if whole else self.people.lock, whole_address=whole)
        return None

    def _lockout(self, wait: float, *, whole_address: bool) -> Lockout:
        count = self.addresses if whole_address else self.people
        return Lockout(wait=wait, tries=count.limit, window=count.window, lock=count.lock, whole_address=whole_address)

    @property
    def tracked(self) -> int:
        """How many places and people the tables hold (each table bounded)."""
        return self.people.tracked + self.addresses.tracked
