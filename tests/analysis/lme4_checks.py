"""Checks shared by the LMM-against-R tests (``test_against_r*.py``).

Each reference file (written by a script in ``tools/r_reference/`` from lme4, lmerTest and
pbkrtest) holds cases fitted by REML and ML; these helpers load it, fit each case once per
df method, and compare what both test modules compare the same way. Tolerances: estimates,
standard errors, variance components and the (RE)ML criterion 1e-4 relative; df and
p-values 1e-3.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.lmm import LinearMixedModel
from analysis.shared.results import FitResults

REF_DIR = Path(__file__).resolve().parents[2] / "tools" / "r_reference"
EST_TOL = 1e-4
DF_TOL = 1e-3


class Lme4Reference:
    """The cases of one reference file and our fits of them (each fitted once)."""

    def __init__(self, values_file: str, model: Callable[[dict[str, Any]], LinearMixedModel]):
        self.cases: dict[str, Any] = json.loads((REF_DIR / values_file).read_text())["cases"]
        self._model = model
        self.fit = cache(self._fit)
        self.model = cache(lambda case: self._model(self.cases[case]))

    @property
    def names(self) -> list[str]:
        return sorted(self.cases)

    @property
    def reml_names(self) -> list[str]:
        return [c for c in self.names if self.cases[c]["reml"]]

    def _fit(self, case: str, df_method: str) -> FitResults:
        method = "reml" if self.cases[case]["reml"] else "ml"
        return self.model(case).fit(method=method, df_method=df_method)

    def check_estimates(self, case: str) -> None:
        res, ref = self.fit(case, "satterthwaite"), self.cases[case]
        assert_close(res.params, ref["fixef"], EST_TOL)
        assert_close(res.std_errors, ref["se"], EST_TOL)

    def check_criterion(self, case: str) -> None:
        res, ref = self.fit(case, "satterthwaite"), self.cases[case]
        key = "reml_criterion" if ref["reml"] else "deviance"
        assert res.extra[key] == pytest.approx(ref["criterion"], rel=EST_TOL)
        assert res.extra["loglik"] == pytest.approx(ref["loglik"], rel=EST_TOL)

    def check_satterthwaite(self, case: str) -> None:
        res, ref = self.fit(case, "satterthwaite"), self.cases[case]["satterthwaite"]
        assert_close(res.df, ref["df"], DF_TOL)
        assert_close(res.pvalues, ref["p"], DF_TOL)

    def check_kenward_roger(self, case: str) -> None:
        res, ref = self.fit(case, "kenward-roger"), self.cases[case]["kenward_roger"]
        assert_close(res.df, ref["df"], DF_TOL)
        assert_close(res.pvalues, ref["p"], DF_TOL)
        assert_close(res.std_errors, ref["se"], EST_TOL)
        vadj = np.asarray(ref["vcov_adjusted"], dtype=float)
        names = list(self.cases[case]["fixef"])  # R's column order
        ours = res.cov_params.loc[names, names].to_numpy()
        scale = np.sqrt(np.outer(np.diag(vadj), np.diag(vadj)))
        np.testing.assert_allclose(ours / scale, vadj / scale, atol=EST_TOL)

    def check_singular_warning(self, case: str) -> None:
        res = self.fit(case, "residual")
        singular = "singular-fit" in {w.code for w in res.warnings}
        assert singular == self.cases[case]["singular"]


def assert_close(
    ours: pd.Series | Mapping[str, float],
    ref: Mapping[str, float],
    rel: float,
    abs_: float = 1e-300,
) -> None:
    """Every named value of ``ref`` agrees with ``ours`` to ``rel`` (or ``abs_``)."""
    for name, value in ref.items():
        assert float(ours[name]) == pytest.approx(value, rel=rel, abs=abs_), name
