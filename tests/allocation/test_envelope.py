"""The envelope opens only with the right passphrase and detects tampering."""

from __future__ import annotations

import json

import pytest

from allocation import Envelope
from allocation.errors import EnvelopeError, WrongPassphrase

SEED = bytes(range(32))
COMMIT = "ab" * 32


@pytest.fixture(scope="module")
def sealed() -> Envelope:
    return Envelope.seal(SEED, "correct horse", COMMIT, n=2**14)


def test_right_passphrase_returns_the_seed(sealed: Envelope) -> None:
    assert sealed.open("correct horse") == SEED


def test_wrong_passphrase_is_refused(sealed: Envelope) -> None:
    with pytest.raises(WrongPassphrase):
        sealed.open("wrong horse")


def test_json_round_trip_opens(sealed: Envelope) -> None:
    assert Envelope.from_json(sealed.to_json()).open("correct horse") == SEED


@pytest.mark.parametrize("field", ["commitment", "ciphertext", "nonce"])
def test_tampering_is_detected(sealed: Envelope, field: str) -> None:
    doc = json.loads(sealed.to_json())
    if field == "commitment":
        doc["commitment"] = "cd" * 32
    elif field == "ciphertext":
        raw = bytearray(sealed.ciphertext)
        raw[0] ^= 1
        import base64

        doc["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    else:
        import base64

        doc["cipher"]["nonce"] = base64.b64encode(bytes(12)).decode()
    with pytest.raises(WrongPassphrase):
        Envelope.from_json(json.dumps(doc)).open("correct horse")


def test_default_parameters_are_recorded() -> None:
    doc = json.loads(Envelope.seal(SEED, "pw", COMMIT).to_json())
    assert doc["format"] == "rct-envelope-v1"
    assert doc["kdf"]["n"] == 2**15 and doc["kdf"]["r"] == 8 and doc["kdf"]["p"] == 1


@pytest.mark.parametrize("text", ["not json", "{}", '{"format": "rct-envelope-v1"}'])
def test_malformed_documents_are_refused(text: str) -> None:
    with pytest.raises(EnvelopeError):
        Envelope.from_json(text)
