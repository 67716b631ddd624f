"""Agreement with cvcrand's published Dickinson example (R, see data/README.md).

Tolerances: scores agree with R's printed 15-digit values to 1e-8 relative (our fixed-point
scoring differs from exact arithmetic by about 1e-10); the vignette's summary is rounded
to 3 decimals, so we compare at 5e-4 absolute.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from allocation import AllocationDesign, SchemeSpace, build_scheme_space

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "cvcrand_dickinson_reference.json").read_text())
DESIGN = AllocationDesign(
    n_treated=8,
    covariates=("location", "inciis", "uptodateonimmunizations", "hispanic", "incomecat"),
    categorical=("location", "incomecat"),
    metric="l2",
    cutoff_quantile=0.1,
)


@pytest.fixture(scope="module")
def units() -> pd.DataFrame:
    return pd.read_csv(DATA / "dickinson_design.csv", dtype={"county": str}).set_index("county")


@pytest.fixture(scope="module")
def space(units: pd.DataFrame) -> SchemeSpace:
    return build_scheme_space(units, DESIGN)


def bits(text: str) -> list[int]:
    return [int(c) for c in text]


def test_number_of_schemes(space: SchemeSpace) -> None:
    assert space.total == space.evaluated == REF["n_schemes"]
    assert not space.sampled


def test_number_of_constrained_schemes(space: SchemeSpace) -> None:
    assert space.admissible == REF["n_constrained"]


def test_cutoff_score(space: SchemeSpace) -> None:
    assert space.cutoff_score == pytest.approx(REF["bscores_rounded_3dp"]["cutoff score"], abs=5e-4)


def test_balance_score_distribution(space: SchemeSpace) -> None:
    ref = REF["bscores_rounded_3dp"]
    a = space.all_scores
    assert a.mean() == pytest.approx(ref["Mean"], abs=5e-4)
    assert a.std(ddof=1) == pytest.approx(ref["SD"], abs=5e-4)
    assert a.min() == pytest.approx(ref["Min"], abs=5e-4)
    assert a.max() == pytest.approx(ref["Max"], abs=5e-4)
    for q in ("5%", "10%", "20%", "25%", "30%", "50%", "75%", "95%"):
        assert np.quantile(a, float(q[:-1]) / 100) == pytest.approx(ref[q], abs=5e-4)  # R type 7


def test_leading_scores_in_enumeration_order(space: SchemeSpace) -> None:
    expected = REF["first_scores_of_dickinson_bscores_csv"]
    assert space.all_scores[: len(expected)].tolist() == pytest.approx(expected, rel=1e-8)


def test_selected_scheme_is_admissible_with_published_score(space: SchemeSpace) -> None:
    index = space.index_of(bits(REF["selected_allocation_counties_1_to_16"]))
    assert index is not None
    assert space.scores[index] == pytest.approx(
        REF["bscores_rounded_3dp"]["score (selected scheme)"], abs=5e-4
    )


def test_best_ten_schemes_match(space: SchemeSpace) -> None:
    order = np.argsort(space.scores, kind="stable")[:10]
    ours = {"".join(map(str, space.schemes[i].tolist())) for i in order}
    assert ours == set(REF["constrained_csv_rows_1_to_10"])


def test_tie_at_the_cutoff_is_broken_as_in_cvcrand(space: SchemeSpace) -> None:
    for row in REF["constrained_csv_rows_1285_to_1287"]:
        assert space.contains(bits(row))
    assert not space.contains(bits(REF["excluded_complement_of_row_1287"]))
