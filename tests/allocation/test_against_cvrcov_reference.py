"""Covariate-by-covariate constraints (cvcrand's ``cvrcov`` language) against a direct
computation in R (``tools/r_reference/cvrcov_reference.R`` wrote
``tools/r_reference/cvrcov_values.json``) on the Dickinson counties: the same number of
accepted schemes and the same schemes, in the same (R ``combn``) order."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from allocation import AllocationDesign, build_scheme_space
from allocation.constraints import parse_constraint
from allocation.errors import DesignError, UnitsError

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((ROOT / "tools" / "r_reference" / "cvrcov_values.json").read_text())


def counties() -> pd.DataFrame:
    d = pd.read_csv(
        ROOT / "tests" / "allocation" / "data" / "dickinson_design.csv", dtype={"county": str}
    )
    d["location"] = (d["location"] == "Rural").astype(float)  # as cvcrand's example does
    return d.set_index("county")


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_constrained_space_matches_the_r_computation(case: str) -> None:
    ref = REFERENCE[case]
    cols = ref["columns"] if isinstance(ref["columns"], list) else [ref["columns"]]
    cons = ref["constraints"] if isinstance(ref["constraints"], list) else [ref["constraints"]]
    design = AllocationDesign(
        n_treated=8, covariates=tuple(cols), constraints=dict(zip(cols, cons))
    )
    space = build_scheme_space(counties(), design)
    assert space.total == ref["total"]
    assert space.admissible == ref["accepted"]
    ours = ["".join(map(str, row)) for row in space.schemes.tolist()]
    assert ours == ref["schemes"]


def test_row_order_of_the_unit_table_does_not_matter() -> None:
    ref = REFERENCE["example"]
    design = AllocationDesign(
        n_treated=8,
        covariates=tuple(ref["columns"]),
        constraints=dict(zip(ref["columns"], ref["constraints"])),
    )
    shuffled = counties().sample(frac=1.0, random_state=3)
    assert build_scheme_space(shuffled, design).admissible == ref["accepted"]


@pytest.mark.parametrize("text", ["m", "x0.2", "mf", "m-1", "sff0.1", "mf0.2x"])
def test_malformed_constraints_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(DesignError, match="cvrcov's form"):
        parse_constraint(text)


def test_constraints_need_numeric_covariates() -> None:
    units = counties()
    units["place"] = ["Rural" if v else "Urban" for v in units["location"]]
    design = AllocationDesign(
        n_treated=8, covariates=("place",), categorical=("place",), constraints={"place": "s2"}
    )
    with pytest.raises(UnitsError, match="must be numeric"):
        build_scheme_space(units, design)
