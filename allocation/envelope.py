"""The sealed envelope: the allocation seed encrypted under a passphrase.

Built only from the ``cryptography`` package (docs/architecture.md, decision 5: no home-made crypto):
scrypt derives a 256-bit key from the passphrase and a random 16-byte salt; AES-256-GCM
encrypts the 32-byte seed under a random 12-byte nonce. The associated data authenticates
the format, the KDF parameters and the commitment, so none can be swapped unnoticed. The
envelope is a small JSON document (``docs/randomness.md`` gives the exact fields)::

    {"format": "rct-envelope-v1",
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<base64>"},
     "cipher": {"name": "AES-256-GCM", "nonce": "<base64>"},
     "commitment": "<64 hex>",
     "ciphertext": "<base64 of 32-byte ciphertext + 16-byte tag>"}
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from allocation.errors import EnvelopeError, WrongPassphrase
from allocation.stream import SEED_BYTES

__all__ = ["ENVELOPE_FORMAT", "Envelope"]

ENVELOPE_FORMAT = "rct-envelope-v1"
DEFAULT_SCRYPT_N = 2**15
MIN_SCRYPT_N = 2**14
MAX_SCRYPT_N = 2**20


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise EnvelopeError(f"envelope field {what} must be base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise EnvelopeError(f"envelope field {what} is not valid base64") from exc


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # lazy: loads cryptography (start-up time)
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    if not isinstance(passphrase, str) or not passphrase:
        raise EnvelopeError("passphrase must be a non-empty string")
    if n > MAX_SCRYPT_N or n < 2 or n & (n - 1) or r > 64 or p > 16:
        raise EnvelopeError("scrypt parameters out of range")
    try:
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    except (ValueError, MemoryError) as exc:
        raise EnvelopeError(f"scrypt cannot run with these parameters: {exc}") from exc


@dataclass(frozen=True)
class Envelope:
    """An encrypted seed, bound to its commitment.

    Create with :meth:`seal`, store with :meth:`to_json`, load with :meth:`from_json`,
    and recover the seed with :meth:`open`.
    """

    salt: bytes
    nonce: bytes
    ciphertext: bytes
    commitment: str
    n: int = DEFAULT_SCRYPT_N
    r: int = 8
    p: int = 1

    def _header(self) -> dict[str, Any]:
        """Every field but the ciphertext: what the AES-GCM associated data binds."""
        return {
            "format": ENVELOPE_FORMAT,
            "kdf": {
                "name": "scrypt",
                "n": self.n,
                "r": self.r,
                "p": self.p,
                "salt": _b64(self.salt),
            },
            "cipher": {"name": "AES-256-GCM", "nonce": _b64(self.nonce)},
            "commitment": self.commitment,
        }

    def _aad(self) -> bytes:
        # lazy: loads protocols.canonical (start-up time)
        from protocols.canonical import canonical_bytes

        return canonical_bytes(self._header())

    @classmethod
    def seal(
        cls,
        seed: bytes,
        passphrase: str,
        commitment: str,
        *,
        n: int = DEFAULT_SCRYPT_N,
        r: int = 8,
        p: int = 1,
    ) -> Envelope:
        """Encrypt ``seed`` under ``passphrase``, binding ``commitment``.

        Parameters
        ----------
        seed : bytes
            The 32-byte allocation seed.
        passphrase : str
            Non-empty passphrase (UTF-8 encoded for the KDF).
        commitment : str
            The commitment published with the envelope.
        n, r, p : int
            scrypt cost parameters (``n`` a power of two, at least ``2**14``).
        """
        # lazy: loads cryptography (start-up time)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_BYTES:
            raise EnvelopeError(f"seed must be exactly {SEED_BYTES} bytes")
        if n < MIN_SCRYPT_N or n & (n - 1):
            raise EnvelopeError(f"scrypt n must be a power of two >= {MIN_SCRYPT_N}")
        shell = cls(os.urandom(16), os.urandom(12), b"", str(commitment), n, r, p)
        key = _derive(passphrase, shell.salt, n, r, p)
        ct = AESGCM(key).encrypt(shell.nonce, bytes(seed), shell._aad())
        return cls(shell.salt, shell.nonce, ct, shell.commitment, n, r, p)

    def open(self, passphrase: str) -> bytes:
        """Decrypt and return the seed.

        Raises
        ------
        WrongPassphrase
            The passphrase is wrong or any field was altered.
        """
        # lazy: loads cryptography (start-up time)
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = _derive(passphrase, self.salt, self.n, self.r, self.p)
        try:
            seed = AESGCM(key).decrypt(self.nonce, self.ciphertext, self._aad())
        except InvalidTag as exc:
            raise WrongPassphrase("wrong passphrase, or the envelope was altered") from exc
        if len(seed) != SEED_BYTES:  # pragma: no cover - authenticated, so only by a bug
            raise EnvelopeError("envelope holds a seed of the wrong length")
        return seed

    def to_dict(self) -> dict[str, Any]:
        """The JSON document as a dict."""
        return {**self._header(), "ciphertext": _b64(self.ciphertext)}

    def to_json(self) -> str:
        """Serialise to canonical JSON text."""
        # lazy: loads protocols.canonical (start-up time)
        from protocols.canonical import canonical_json

        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        """Parse an envelope document; raise :class:`EnvelopeError` if malformed."""
        try:
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError("envelope is not valid JSON") from exc
        if not isinstance(doc, dict) or doc.get("format") != ENVELOPE_FORMAT:
            raise EnvelopeError(f"not an {ENVELOPE_FORMAT} document")
        kdf, cipher = doc.get("kdf"), doc.get("cipher")
        if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
            raise EnvelopeError("envelope kdf must be scrypt")
        if not isinstance(cipher, dict) or cipher.get("name") != "AES-256-GCM":
            raise EnvelopeError("envelope cipher must be AES-256-GCM")
        params = [kdf.get(k) for k in ("n", "r", "p")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in params):
            raise EnvelopeError("scrypt parameters must be positive integers")
        if not isinstance(doc.get("commitment"), str):
            raise EnvelopeError("envelope lacks its commitment")
        salt = _unb64(kdf.get("salt"), "kdf.salt")
        nonce = _unb64(cipher.get("nonce"), "cipher.nonce")
        if len(nonce) != 12:
            raise EnvelopeError("AES-GCM nonce must be 12 bytes")
        return cls(
            salt,
            nonce,
            _unb64(doc.get("ciphertext"), "ciphertext"),
            doc["commitment"],
            int(str(params[0])),
            int(str(params[1])),
            int(str(params[2])),
        )
