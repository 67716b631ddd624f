"""Each user's Ed25519 signing key, kept outside the trial database (docs/architecture.md, decision 10).

A user runs ``rct key create`` once: it writes two files in their key directory,

``NAME.key``  the private key, encrypted under the user's passphrase (scrypt + AES-256-GCM,
              mode 0600), never read by anyone else and never stored in the trial database;
``NAME.pub``  one line, ``rct-ed25519 <base64 public key> NAME``, handed to the admin who
              registers it with ``rct user add NAME --role ROLE --public-key NAME.pub``.

The key directory is ``--key-dir``/``RCT_KEY_DIR`` if given, else ``rct/keys`` under the
platform's per-user configuration directory. The passphrase comes from ``RCT_KEY_PASSPHRASE``
(so scripts, CI and the demo run unattended) or from a prompt the CLI supplies.

A name given with ``--as`` only says which key file to open: without that file and its
passphrase nothing can be signed, so nothing can be changed in that user's name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocols.canonical import canonical_bytes
from rct.errors import InputError, MissingKey, WrongKeyPassphrase

__all__ = [
    "KEY_FILE_LOG2N",
    "KeyStore",
    "PublicKey",
    "default_key_dir",
    "fingerprint",
    "parse_public_key",
    "public_key_line",
    "verify_signature",
]

#: scrypt cost of a key file: n = 2**17, r = 8 (128 MiB, about a quarter of a second),
#: the cost OWASP recommends for scrypt; paid once per signed command.
KEY_FILE_LOG2N = 17
_FORMAT = "rct-key-v1"
_PUB_PREFIX = "rct-ed25519"


def default_key_dir() -> Path:
    """``RCT_KEY_DIR``, else ``rct/keys`` under the platform's per-user config directory."""
    env = os.environ.get("RCT_KEY_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "rct" / "keys"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(public_key_b64: str) -> str:
    """SHA-256 hex of the raw 32-byte public key: what the trial master file records."""
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """A user's public key as registered: base64 of the raw key, and its fingerprint."""

    user: str
    b64: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.b64)


def public_key_line(pub: PublicKey) -> str:
    return f"{_PUB_PREFIX} {pub.b64} {pub.user}"


def parse_public_key(text: str) -> PublicKey:
    """Read a ``NAME.pub`` line (``rct-ed25519 <base64> NAME``)."""
    parts = text.strip().split()
    if len(parts) != 3 or parts[0] != _PUB_PREFIX:
        raise InputError(
            "not an rct public key: expected one line 'rct-ed25519 <base64> NAME' "
            "as 'rct key create' writes to NAME.pub"
        )
    try:
        raw = base64.b64decode(parts[1], validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InputError("the public key is damaged: ask its owner for their NAME.pub") from None
    return PublicKey(parts[2], parts[1])


def verify_signature(public_key_b64: str, signature_b64: str, message: bytes) -> bool:
    """True when ``signature_b64`` is a valid Ed25519 signature of ``message``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(base64.b64decode(signature_b64), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _kdf(salt: bytes, log2n: int, passphrase: str) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**log2n, r=8, p=1).derive(passphrase.encode("utf-8"))


def _passphrase_from_env(user: str) -> str:
    value = os.environ.get("RCT_KEY_PASSPHRASE")
    if not value:
        raise MissingKey(
            f"no passphrase for {user}'s key: set RCT_KEY_PASSPHRASE or run the command "
            "at a terminal to be asked for it",
            code="no-passphrase",
        )
    return value


class KeyStore:
    """One directory of key files and a way to get the passphrase that opens them."""

    def __init__(
        self,
        directory: Path | None = None,
        passphrase: Callable[[str], str] | None = None,
    ) -> None:
        self.directory = directory or default_key_dir()
        self._passphrase = passphrase or _passphrase_from_env
        self._opened: dict[str, Signer] = {}

    def key_path(self, user: str) -> Path:
        return self.directory / f"{user}.key"

    def pub_path(self, user: str) -> Path:
        return self.directory / f"{user}.pub"

    def has_key(self, user: str) -> bool:
        return self.key_path(user).is_file()

    def create(self, user: str, *, log2n: int | None = None, force: bool = False) -> PublicKey:
        """Make ``user``'s key pair; refuses to overwrite an existing key unless ``force``."""
        log2n = KEY_FILE_LOG2N if log2n is None else log2n
        path = self.key_path(user)
        if path.exists() and not force:
            raise InputError(
                f"{path} already exists; a registered key cannot be replaced by a new file "
                "(use it, or give --force and ask an admin to register the new public key)"
            )
        passphrase = self._passphrase(user)
        key = Ed25519PrivateKey.generate()
        pub = PublicKey(user, base64.b64encode(_raw_public(key.public_key())).decode("ascii"))
        salt = os.urandom(16)
        nonce = os.urandom(12)
        header: dict[str, Any] = {
            "format": _FORMAT,
            "user": user,
            "public_key": pub.b64,
            "kdf": {
                "name": "scrypt",
                "log2n": log2n,
                "r": 8,
                "p": 1,
                "salt": base64.b64encode(salt).decode(),
            },
            "cipher": "AES-256-GCM",
            "nonce": base64.b64encode(nonce).decode(),
        }
        secret = key.private_bytes_raw()
        ct = AESGCM(_kdf(salt, log2n, passphrase)).encrypt(nonce, secret, canonical_bytes(header))
        doc = {**header, "ciphertext": base64.b64encode(ct).decode()}
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".key.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        self.pub_path(user).write_text(public_key_line(pub) + "\n", encoding="utf-8")
        self._opened.pop(user, None)
        return pub

    def public_key(self, user: str) -> PublicKey:
        """The public half from ``NAME.pub`` (or the key file) in this directory."""
        pub = self.pub_path(user)
        if pub.is_file():
            return parse_public_key(pub.read_text(encoding="utf-8"))
        if self.has_key(user):
            return PublicKey(user, self._read(user)["public_key"])
        raise MissingKey(
            f"no public key for {user} in {self.directory}: {user} runs 'rct key create' "
            "and gives you NAME.pub; pass it with --public-key FILE",
            code="public-key-file-missing",
        )

    def _read(self, user: str) -> dict[str, Any]:
        path = self.key_path(user)
        if not path.is_file():
            raise MissingKey(
                f"no private key for {user} in {self.directory}: --as only says whose key "
                f"signs; {user} runs 'rct key create' (or set RCT_KEY_DIR / --key-dir)"
            )
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != _FORMAT:
                raise ValueError(doc.get("format"))
        except (ValueError, OSError):
            raise MissingKey(
                f"{path} is not an rct key file; recreate it", code="key-file-invalid"
            ) from None
        return doc  # type: ignore[no-any-return]

    def signer(self, user: str) -> Signer:
        """Open ``user``'s private key with their passphrase (once per store)."""
        if user in self._opened and self.has_key(user):
            return self._opened[user]
        doc = self._read(user)
        header = {k: v for k, v in doc.items() if k != "ciphertext"}
        kdf = doc["kdf"]
        aead = AESGCM(
            _kdf(base64.b64decode(kdf["salt"]), int(kdf["log2n"]), self._passphrase(user))
        )
        try:
            secret = aead.decrypt(
                base64.b64decode(doc["nonce"]),
                base64.b64decode(doc["ciphertext"]),
                canonical_bytes(header),
            )
        except InvalidTag:
            raise WrongKeyPassphrase(
                f"wrong passphrase for {user}'s key {self.key_path(user)}"
            ) from None
        signer = Signer(user, Ed25519PrivateKey.from_private_bytes(secret))
        self._opened[user] = signer
        return signer


class Signer:
    """An opened private key: signs messages as ``user``."""

    def __init__(self, user: str, key: Ed25519PrivateKey) -> None:
        self.user = user
        self._key = key
        self.public = PublicKey(
            user, base64.b64encode(_raw_public(key.public_key())).decode("ascii")
        )

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode("ascii")
