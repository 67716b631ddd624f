"""Signing keys for the people the tests (and the benches that reuse test helpers) act as.

Every change in a trial is signed with the acting user's own key (issue #12). Tests get
their keys from the session fixture in ``tests/conftest.py``; scripts in ``bench/`` that
drive the CLI outside pytest call :func:`use_test_keys` once at start-up instead.
"""

from __future__ import annotations

import os
from pathlib import Path

#: people the tests act as; each gets a signing key once per session (issue #12)
TEST_USERS = ("ann", "sam", "dee", "eve", "gus", "zoe", "alice", "you", "dana", "bob")
TEST_PASSPHRASE = "test passphrase for keys"
#: scrypt cost of test key files: real keys use rct.keys.KEY_FILE_LOG2N (2**17)
TEST_KEY_LOG2N = 10


def make_test_keys(directory: Path) -> dict[str, str]:
    """Create a key for each of TEST_USERS in ``directory``; the environment that opens them."""
    from rct import keys

    store = keys.KeyStore(directory, lambda _u: TEST_PASSPHRASE)
    for name in TEST_USERS:
        store.create(name, log2n=TEST_KEY_LOG2N)
    return {"RCT_KEY_DIR": str(directory), "RCT_KEY_PASSPHRASE": TEST_PASSPHRASE}


def use_test_keys(directory: Path) -> None:
    """For a bench script: make the test users' keys and put them in this process's
    environment (inherited by the ``rct`` processes it starts)."""
    from rct import keys

    os.environ.update(make_test_keys(directory))
    os.environ.setdefault("RCT_CHECKPOINT_DIR", str(directory / "checkpoints"))
    keys.KEY_FILE_LOG2N = TEST_KEY_LOG2N
