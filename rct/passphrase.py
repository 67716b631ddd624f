"""How strong an envelope passphrase must be (issue #12 item 5, docs/concealment.md).

Length alone admits ``aaaaaaaaaaaa``. The estimate comes from ``zxcvbn`` (the Python port of
Dropbox's estimator: dictionaries, names, keyboard patterns, repeats, sequences, dates,
l33t substitutions), which gives the number of guesses an attacker who knows these
patterns needs. A passphrase must need at least 10^12 guesses: at scrypt n = 2^17 (about
a quarter of a core-second and 128 MiB per guess) that is thousands of core-years.
"""

from __future__ import annotations

from rct.errors import InputError

__all__ = ["MIN_GUESSES_LOG10", "check_strength"]

MIN_GUESSES_LOG10 = 12.0


def check_strength(passphrase: str) -> None:
    """Raise InputError naming the weakness when ``passphrase`` is guessable."""
    # lazy: loads zxcvbn (start-up time)
    from zxcvbn import zxcvbn

    result = zxcvbn(passphrase[:100])  # the estimator is quadratic; 100 characters suffice
    guesses = float(result["guesses_log10"])
    if guesses < MIN_GUESSES_LOG10:
        feedback = result.get("feedback") or {}
        hint = feedback.get("warning") or " ".join(feedback.get("suggestions") or [])
        raise InputError(
            f"the passphrase is too easy to guess (about 10^{guesses:.0f} guesses; at least "
            f"10^{MIN_GUESSES_LOG10:.0f} needed)"
            + (f": {hint.rstrip('.')}" if hint else "")
            + "; use four or more unrelated words"
        )
