"""R reference for ``rct analyse emit-r`` with the new random-effect structures.

Builds a protocol like the shipped one (seven boroughs, 13 quarters, its allocation) whose
analyses of re-referrals use every random-effect entry of the protocol format (borough x
phase, borough x quarter, correlated and uncorrelated borough trends) in the Poisson GLMM,
the negative-binomial GLMM and the Gaussian LMM; simulates one trial with borough drift
(demo-shaped: what ``rct demo`` analyses); writes

* ``data/sap_random_terms_values.csv``: the simulated values (unit, period, indicator,
  value), which the test fits with the SAP runner;
* ``data/sap_random_terms_dataset.csv``: the same data as ``rct data export`` writes them;
* ``sap_random_terms.R``: the script ``rct analyse emit-r`` writes for this protocol;
* ``sap_random_terms_r.csv``: that script's output (lme4 / lmerTest / pbkrtest / glmmTMB),
  only when ``Rscript`` is on the PATH.

``tests/analysis/test_sap_emit_r.py`` compares our fits with ``sap_random_terms_r.csv``
without R, and checks that the committed script is still what the emitter writes.
Run from the repository root: ``python -m tools.r_reference.make_sap_random_terms``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from protocols import Protocol, load_protocol, shipped_protocol_path
from protocols.model import Family

HERE = Path(__file__).resolve().parent
VALUES = HERE / "data" / "sap_random_terms_values.csv"
DATASET = HERE / "data" / "sap_random_terms_dataset.csv"
SCRIPT = HERE / "sap_random_terms.R"
R_RESULTS = HERE / "sap_random_terms_r.csv"
SEED = 20261130

#: name -> (family, random entries, inference methods)
ANALYSES: dict[str, tuple[Family, tuple[str, ...], tuple[str, ...]]] = {
    "glmm_borough_phase": ("poisson", ("unit", "unit:post"), ("between-within", "wald-normal")),
    "glmm_borough_quarter": ("poisson", ("unit", "unit:period"), ("between-within",)),
    "glmm_trend": ("poisson", ("unit_trend",), ("between-within",)),
    "glmm_trend_uncorrelated": (
        "poisson",
        ("unit", "unit_trend_uncorrelated"),
        ("between-within",),
    ),
    "nb_borough_phase": ("negative_binomial", ("unit", "unit:post"), ("between-within",)),
    "lmm_borough_phase": (
        "gaussian",
        ("unit", "unit:post"),
        ("satterthwaite", "kenward-roger", "between-within"),
    ),
    "lmm_trend": ("gaussian", ("unit_trend",), ("satterthwaite", "kenward-roger")),
}


def reference_protocol() -> Protocol:
    """The shipped protocol with the analyses of :data:`ANALYSES` (all of re-referrals)."""
    shipped = load_protocol(shipped_protocol_path())
    base = shipped.analysis("sensitivity_re_referrals_glmm")
    analyses = tuple(
        replace(
            base,
            name=name,
            role="sensitivity",
            family=family,
            random=random,
            inference=inference,
            offset="" if family == "gaussian" else base.offset,
            nagq=1,
            description="",
        )
        for name, (family, random, inference) in ANALYSES.items()
    )
    return replace(shipped, analyses=analyses)


def reference_arms(protocol: Protocol) -> dict[str, str]:
    """Three of the seven boroughs in the intervention arm (as the shipped design)."""
    units = sorted(u.id for u in protocol.units)
    return {u: ("intervention" if i in (1, 3, 5) else "control") for i, u in enumerate(units)}


def read_values() -> pd.DataFrame:
    """The committed simulated values, as :func:`analysis.sap.runner.run_sap` takes them."""
    return pd.read_csv(VALUES, dtype={"unit": str, "period": str, "indicator": str})


def _simulate(protocol: Protocol, arms: dict[str, str]) -> pd.DataFrame:
    from analysis.sap.simulate import SimulationSettings, simulate_values

    settings = SimulationSettings(sd_trend=0.03, sd_post=0.15, sd_observation=0.1)
    values = simulate_values(
        protocol, arms, seed=SEED, settings=settings, indicators=["da_re_referrals"]
    )
    return values[["unit", "period", "indicator", "value"]]


def _export(protocol: Protocol, values: pd.DataFrame, arms: dict[str, str]) -> None:
    from rct.capture.export import dataset_rows, write_dataset
    from rct.capture.values import StoredCell

    cells = {
        (r.unit, r.period, r.indicator): StoredCell(float(r.value), 1, "", 1)
        for r in values.itertuples()
        if not np.isnan(r.value)
    }
    write_dataset(dataset_rows(protocol, cells, {}, arms), DATASET, "csv")


def main() -> None:
    from analysis.sap.emit_r import r_script

    protocol = reference_protocol()
    arms = reference_arms(protocol)
    values = _simulate(protocol, arms)
    values.to_csv(VALUES, index=False, float_format="%.17g")
    _export(protocol, read_values(), arms)
    SCRIPT.write_text(r_script(protocol), encoding="utf-8")
    if shutil.which("Rscript") is None:
        print("Rscript not found: wrote the data and the script, not the R results")
        return
    subprocess.run(
        ["Rscript", SCRIPT.name, str(DATASET.relative_to(HERE)), R_RESULTS.name],
        cwd=HERE,
        check=True,
    )


if __name__ == "__main__":
    main()
