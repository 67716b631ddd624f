"""The shared design builder gives exactly patsy's design, on its fast path and off it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
import pytest

from analysis.errors import DataError, ModelSpecificationError
from analysis.shared import design as design_module
from analysis.shared.design import model_matrices


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 40
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "count": rng.poisson(5, size=n),
            "arm": rng.integers(0, 2, size=n),
            "post": rng.integers(0, 2, size=n),
            "t": rng.normal(size=n),
            "period": rng.integers(1, 6, size=n),
            "site": rng.choice(["north", "south", "east"], size=n),
            "flag": rng.integers(0, 2, size=n).astype(bool),
            "half": rng.choice([0.5, 1.5, 2.5], size=n),
        }
    )
    frame.index = np.arange(100, 100 + n)  # a non-default index: rows are positions
    return frame


FAST = [
    "y ~ arm * post + t",
    "y ~ t + arm:post + arm",
    "y ~ arm + C(period) + arm:post",
    "y ~ site + arm * post",
    "y ~ flag + t",
    "y ~ C(half) + t",
    "y ~ 0 + t + arm",
    "y ~ 1 + arm + arm + post:arm + arm:post",
    "count ~ arm * post + C(period)",
    "y ~ arm:post:t + arm + post * t",
    "y ~ 1",
]
SLOW = [
    "y ~ np.log(count + 1) + arm",
    "y ~ C(site):t + arm",
    "y ~ t - 1",
    "y ~ (arm + post) ** 2",
    "y ~ arm * post * t",
    "y ~ I(t ** 2) + t",
]


def _patsy(formula: str, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    frame = data.reset_index(drop=True)
    y, x = patsy.dmatrices(formula, frame, return_type="dataframe", NA_action="drop")
    return y.to_numpy()[:, 0], x.to_numpy(), list(x.columns), list(x.index)


def _assert_same(formula: str, data: pd.DataFrame) -> None:
    ours = model_matrices(formula, data)
    y, x, names, rows = _patsy(formula, data)
    assert list(ours.names) == names
    assert ours.rows.tolist() == rows
    np.testing.assert_array_equal(ours.y, y)
    np.testing.assert_array_equal(ours.X, x)


@pytest.mark.parametrize("formula", FAST)
def test_fast_path_equals_patsy(formula: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_patsy(*args: object) -> None:
        raise AssertionError("fell back to patsy")

    monkeypatch.setattr(design_module, "_with_patsy", no_patsy)
    _assert_same(formula, _data())


@pytest.mark.parametrize("formula", FAST[:4])
def test_fast_path_drops_rows_with_missing_values_as_patsy(formula: str) -> None:
    data = _data()
    data.loc[data.index[[2, 9]], "t"] = np.nan
    data.loc[data.index[5], "y"] = np.nan
    data["site"] = data["site"].astype(object)
    data.loc[data.index[11], "site"] = None
    _assert_same(formula, data)


def test_level_seen_only_in_a_dropped_row_keeps_its_column_as_patsy() -> None:
    data = _data()
    data.loc[data.index[0], "site"] = "west"
    data.loc[data.index[0], "y"] = np.nan
    _assert_same("y ~ site + t", data)


@pytest.mark.parametrize("formula", SLOW)
def test_other_formulas_go_to_patsy(formula: str) -> None:
    called = []
    real = design_module._with_patsy

    def spy(*args: object, **kwargs: object) -> design_module.ModelMatrices:
        called.append(True)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    design_module._with_patsy = spy
    try:
        _assert_same(formula, _data())
    finally:
        design_module._with_patsy = real
    assert called


def test_missing_raise_names_the_columns() -> None:
    data = _data()
    data.loc[data.index[3], "t"] = np.nan
    with pytest.raises(DataError, match=r"missing values in column\(s\) t"):
        model_matrices("y ~ arm + t", data, missing="raise")
    with pytest.raises(DataError, match="missing values"):
        model_matrices("y ~ np.exp(t)", data, missing="raise")


def test_extra_columns_drop_rows_too() -> None:
    data = _data()
    data["g"] = "a"
    data.loc[data.index[4], "g"] = None
    out = model_matrices("y ~ arm", data, extra_columns=["g"])
    assert 4 not in out.rows.tolist() and len(out.rows) == len(data) - 1


def test_bad_formulas() -> None:
    with pytest.raises(ModelSpecificationError, match="no '~'"):
        model_matrices("y + arm", _data())
    with pytest.raises(DataError, match="cannot build the design"):
        model_matrices("y ~ nosuchcolumn", _data())
    with pytest.raises(ModelSpecificationError, match="missing must be"):
        model_matrices("y ~ arm", _data(), missing="keep")


@pytest.mark.parametrize(
    ("csv", "formula"),
    [
        ("sim_trial_counts.csv", "count ~ arm + post + treat"),
        ("sim_trial_counts.csv", "count ~ treat + C(quarter)"),
        ("sim_trial_binary.csv", "y ~ arm * post + age"),
    ],
)
def test_same_design_as_the_glmm_builder(csv: str, formula: str) -> None:
    """The GLMM's ``build_design`` can switch to this builder without changing a number."""
    from pathlib import Path

    from analysis.glmm.design import build_design

    data = pd.read_csv(Path(__file__).resolve().parents[2] / "tools/r_reference/data" / csv)
    theirs = build_design(data, formula, "borough")
    ours = model_matrices(formula, data, missing="raise", extra_columns=["borough"])
    assert ours.names == theirs.names
    np.testing.assert_array_equal(ours.X, theirs.X)
    np.testing.assert_array_equal(ours.y, theirs.y)
