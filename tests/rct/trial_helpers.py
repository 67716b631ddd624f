"""Build a whole trial for end-to-end tests: locked protocol, returns, sealed and revealed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from protocols import load_protocol, shipped_protocol_path
from rct.allocation import sealing
from rct.capture.submit import submit_return
from rct.workspace import Workspace

PASSPHRASE = "correct horse battery staple"
RATES = {
    "da_referral_at_intake": 40.0,
    "da_flagged_after_assessment": 50.0,
    "cp_plans_with_da": 4.0,
    "children_into_care_with_da": 1.3,
    "da_re_referrals": 6.0,
}


def returns_csv(last_period: str = "2027-Q2", seed: int = 1) -> bytes:
    """Poisson counts for every unit, indicator and quarter up to ``last_period``."""
    p = load_protocol(shipped_protocol_path())
    rng = np.random.default_rng(seed)
    lines = ["borough,period,indicator,value"]
    for u in p.units:
        pop = float(u.covariates["child_population"])
        for q in p.schedule.quarters:
            if str(q) > last_period:
                continue
            for code, rate in RATES.items():
                lines.append(f"{u.gss_code},{q},{code},{rng.poisson(rate * pop / 1e4)}")
    return ("\n".join(lines) + "\n").encode()


def populated_trial(url: str, *, reveal: bool = True, tmp_dir: Path | None = None) -> None:
    """On an initialised trial (``trial_url``): import returns, seal and (optionally) reveal."""
    import tempfile

    ws = Workspace(url, "sam")
    try:
        submit_return(ws, "returns.csv", data=returns_csv())
        env = Path(tmp_dir or tempfile.mkdtemp()) / "envelope.json"
        sealing.seal(ws, PASSPHRASE, env)
        if reveal:
            sealing.reveal(ws, PASSPHRASE)
    finally:
        ws.close()
