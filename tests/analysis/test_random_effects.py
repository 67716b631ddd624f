"""The shared random-effect structure: parsing, per-cluster design, theta -> Lambda, names.

Names and orders are checked against what lme4 prints for the same terms (lme4 1.1:
``names(getME(fit, "theta"))`` and ``as.data.frame(VarCorr(fit))``); the Lambda map is
checked by rebuilding the marginal covariance of the data from it and comparing with the
covariance written down from the model's definition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.shared.random_effects import (
    DesignError,
    RandomStructure,
    build_random_structure,
    parse_random,
)


def _panel(n_groups: int = 3, n_periods: int = 4, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    rows = [
        {"g": f"b{g}", "quarter": q, "post": int(q >= n_periods // 2), "t": q - 1.5}
        for g in range(n_groups)
        for q in range(n_periods)
    ]
    frame = pd.DataFrame(rows).drop(index=list(drop)).reset_index(drop=True)
    frame["y"] = np.arange(len(frame), dtype=float)
    return frame


@pytest.mark.parametrize(
    ("spec", "text", "coefs", "n_theta"),
    [
        ("(1|g)", "(1 | g)", ("(Intercept)",), 1),
        ("( 1 | g : f )", "(1 | g:f)", ("(Intercept)",), 1),
        ("(1+t|g)", "(1 + t | g)", ("(Intercept)", "t"), 3),
        ("(t | g)", "(1 + t | g)", ("(Intercept)", "t"), 3),
        ("(0 + t | g)", "(0 + t | g)", ("t",), 1),
        ("(-1 + t | g)", "(0 + t | g)", ("t",), 1),
    ],
)
def test_single_terms_parse(spec: str, text: str, coefs: tuple[str, ...], n_theta: int) -> None:
    (term,) = parse_random(spec)
    assert term.text == text
    assert term.coefficients == coefs
    assert term.n_theta == n_theta
    assert term.group == "g"


def test_combinations_parse_in_written_order() -> None:
    terms = parse_random("~ (1|g) + (1|g:f) + (0+t|g)")
    assert [t.text for t in terms] == ["(1 | g)", "(1 | g:f)", "(0 + t | g)"]
    assert parse_random(["(1|g)", "(1|g:f)"]) == terms[:2]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("(1 + t || g)", "(0 + t | g)"),
        ("(1 | g/f)", "(1 | g) + (1 | g:f)"),
        ("(1 | g:f:h)", "(1 | g:f:h)"),
        ("(1 + t + u | g)", "one slope per term"),
        ("(1 + t | g:f)", "nested factor takes a random intercept only"),
        ("(0 + t | g:f)", "nested factor"),
        ("(0 | g)", "no intercept and no slope"),
        ("(1 | g) + (1 | h)", "(1 | h) is not nested in 'g'"),
        ("(1 | g) + (1 + t | g)", "both give 'g' a random intercept"),
        ("(1 + t | g) + (0 + t | g)", "both give 't' a random slope"),
        ("(1 | g:f) + (1 | g:f)", "given twice"),
        ("(1 | g:g)", "nests 'g' in itself"),
        ("(1 + log(t) | g)", "'log(t)' is not a column name"),
        ("(1 | g) * (1 | g:f)", "cannot read random-effect specification"),
        ("", "no random-effect term"),
        ("(1 | g | h)", "expected '(lhs | group)'"),
        ("(1 + g | g)", "'g' is a grouping factor"),
    ],
)
def test_unsupported_forms_raise_naming_the_term(spec: str, fragment: str) -> None:
    with pytest.raises(DesignError) as info:
        parse_random(spec)
    assert fragment in str(info.value)
    assert isinstance(info.value, AnalysisError)


def test_cluster_period_block_design_and_lambda() -> None:
    # b1's quarter 2 (row 6) is missing: its column in b1's block must be marked absent.
    data = _panel(drop=(6,))
    rs = build_random_structure("(1|g) + (1|g:quarter)", data)
    # lme4 puts the term with more levels (g:quarter, 11 cells) before (1 | g) (3 levels).
    assert [t.text for t in rs.terms] == ["(1 | g:quarter)", "(1 | g)"]
    assert rs.n_levels == (11, 3)
    assert rs.columns == ("quarter[0]", "quarter[1]", "quarter[2]", "quarter[3]", "(Intercept)")
    assert rs.term_columns == (slice(0, 4), slice(4, 5))
    assert rs.theta_names == ("g:quarter.(Intercept)", "g.(Intercept)")
    assert rs.group_labels == ("b0", "b1", "b2")
    assert rs.q == 5 and rs.n_theta == 2 and rs.ngroups == 3
    expected_z = np.zeros((len(data), 5))
    expected_z[np.arange(len(data)), data["quarter"].to_numpy()] = 1.0
    expected_z[:, 4] = 1.0
    np.testing.assert_array_equal(rs.Z, expected_z)
    np.testing.assert_array_equal(rs.codes, [0] * 4 + [1] * 3 + [2] * 4)
    assert rs.present[1].tolist() == [True, True, False, True, True]
    assert rs.present[[0, 2]].all()
    np.testing.assert_array_equal(rs.lambda_block(np.array([0.5, 2.0])), np.diag([0.5] * 4 + [2.0]))
    np.testing.assert_array_equal(rs.lower_bounds, [0.0, 0.0])
    np.testing.assert_array_equal(rs.theta_start, [1.0, 1.0])
    assert rs.variables == ("g", "quarter")


def _marginal_cov(rs: RandomStructure, theta: np.ndarray, sigma: float) -> np.ndarray:
    """Covariance of y from the block structure: sum over clusters of Z_g D Z_g' + sigma^2 I."""
    d = rs.covariance_block(theta, sigma)
    same = rs.codes[:, None] == rs.codes[None, :]
    return np.asarray(same * (rs.Z @ d @ rs.Z.T) + sigma**2 * np.eye(len(rs.codes)))


def test_lambda_map_reproduces_the_cluster_period_covariance() -> None:
    data = _panel(drop=(6,))
    rs = build_random_structure("(1|g) + (1|g:post)", data)
    theta, sigma = np.array([0.7, 1.3]), 2.0  # (g:post, g) in lme4's order
    g = data["g"].to_numpy()
    post = data["post"].to_numpy()
    same_g = g[:, None] == g[None, :]
    same_cell = same_g & (post[:, None] == post[None, :])
    by_hand = sigma**2 * (1.3**2 * same_g + 0.7**2 * same_cell + np.eye(len(data)))
    np.testing.assert_allclose(_marginal_cov(rs, theta, sigma), by_hand, atol=1e-12)


def test_correlated_slope_lambda_is_column_major_cholesky() -> None:
    data = _panel()
    rs = build_random_structure("(1 + t | g)", data)
    theta = np.array([1.5, -0.4, 0.8])
    lam = rs.lambda_block(theta)
    np.testing.assert_array_equal(lam, [[1.5, 0.0], [-0.4, 0.8]])
    np.testing.assert_array_equal(rs.lower_bounds, [0.0, -np.inf, 0.0])
    np.testing.assert_array_equal(rs.theta_start, [1.0, 0.0, 1.0])
    assert rs.theta_names == ("g.(Intercept)", "g.t.(Intercept)", "g.t")
    t = data["t"].to_numpy()
    same_g = rs.codes[:, None] == rs.codes[None, :]
    d = lam @ lam.T
    by_hand = same_g * (d[0, 0] + d[0, 1] * (t[:, None] + t[None, :]) + d[1, 1] * np.outer(t, t))
    np.testing.assert_allclose(_marginal_cov(rs, theta, 1.0), by_hand + np.eye(len(t)), atol=1e-12)
    basis = rs.lambda_basis()
    np.testing.assert_array_equal(np.tensordot(theta, basis, axes=1), lam)


def test_names_and_order_match_lme4_for_slope_and_nested_terms() -> None:
    # lme4 for (Days | Subject) + (1 | Subject:f): theta names
    # Subject:f.(Intercept), Subject.(Intercept), Subject.Days.(Intercept), Subject.Days and
    # VarCorr rows (grp, var1, var2): (Subject:f, (Intercept), NA), (Subject, (Intercept), NA),
    # (Subject, Days, NA), (Subject, (Intercept), Days), (Residual, NA, NA).
    data = _panel().rename(columns={"g": "Subject", "t": "Days"})
    data["f"] = data["quarter"] % 2
    rs = build_random_structure("(Days | Subject) + (1 | Subject:f)", data)
    assert rs.theta_names == (
        "Subject:f.(Intercept)",
        "Subject.(Intercept)",
        "Subject.Days.(Intercept)",
        "Subject.Days",
    )
    theta = np.array([0.5, 2.0, 0.3, 0.4])
    vc = rs.variance_components(theta, sigma=3.0)
    assert [(c.group, c.var1, c.var2) for c in vc] == [
        ("Subject:f", "(Intercept)", None),
        ("Subject", "(Intercept)", None),
        ("Subject", "Days", None),
        ("Subject", "(Intercept)", "Days"),
        ("Residual", None, None),
    ]
    assert [c.name for c in vc] == [
        "Subject:f.(Intercept)",
        "Subject.(Intercept)",
        "Subject.Days",
        "Subject.Days.(Intercept)",
        "residual",
    ]
    s2 = 9.0
    var_int, cov, var_days = s2 * 4.0, s2 * 2.0 * 0.3, s2 * (0.3**2 + 0.4**2)
    np.testing.assert_allclose(
        [c.vcov for c in vc], [s2 * 0.25, var_int, var_days, cov, s2], rtol=1e-12
    )
    np.testing.assert_allclose(
        [c.sdcor for c in vc],
        [1.5, np.sqrt(var_int), np.sqrt(var_days), cov / np.sqrt(var_int * var_days), 3.0],
        rtol=1e-12,
    )


def test_uncorrelated_slope_gets_lme4s_unique_group_name() -> None:
    # lme4 for (1 | Subject) + (0 + Days | Subject): theta Subject.(Intercept), Subject.Days;
    # VarCorr groups Subject, Subject.1, Residual.
    data = _panel().rename(columns={"g": "Subject", "t": "Days"})
    rs = build_random_structure("(1 | Subject) + (0 + Days | Subject)", data)
    assert rs.theta_names == ("Subject.(Intercept)", "Subject.Days")
    vc = rs.variance_components(np.array([1.0, 0.5]))
    assert [(c.group, c.var1, c.name) for c in vc] == [
        ("Subject", "(Intercept)", "Subject.(Intercept)"),
        ("Subject.1", "Days", "Subject.Days"),
    ]
    np.testing.assert_array_equal(rs.lambda_block(np.array([1.0, 0.5])), np.diag([1.0, 0.5]))


def test_covariance_basis_is_derivative_of_block_covariance() -> None:
    data = _panel()
    rs = build_random_structure("(1 + t | g) + (1 | g:post)", data)
    basis = rs.covariance_basis()
    assert basis.shape == (4, 4, 4)
    gamma = np.array([0.3, 2.0, 0.5, 1.1])  # var(g:post), var(int), cov, var(t)
    d = np.tensordot(gamma, basis, axes=1)
    expected = np.zeros((4, 4))
    expected[:2, :2] = 0.3 * np.eye(2)
    expected[2:, 2:] = [[2.0, 0.5], [0.5, 1.1]]
    np.testing.assert_array_equal(d, expected)


def test_singular_detection_uses_diagonal_entries_only() -> None:
    rs = build_random_structure("(1 + t | g)", _panel())
    assert rs.is_singular(np.array([1.0, -1e-6, 1e-5]))
    assert not rs.is_singular(np.array([1.0, 1e-6, 1e-3]))


def test_one_level_per_cluster_duplicates_the_intercept() -> None:
    data = _panel()
    data["arm"] = data["g"].map({"b0": 0, "b1": 1, "b2": 1})
    with pytest.raises(DesignError, match=r"\(1 \| g:arm\) cannot be identified"):
        build_random_structure("(1 | g) + (1 | g:arm)", data)
    # Alone, (1 | g:arm) is just another name for the cluster intercept: allowed.
    assert build_random_structure("(1 | g:arm)", data).n_levels == (3,)


def test_slope_constant_within_clusters_is_refused() -> None:
    data = _panel()
    data["x"] = data["g"].map({"b0": 0.0, "b1": 1.0, "b2": 2.0})
    with pytest.raises(DesignError, match=r"\(1 \+ x \| g\) cannot be identified"):
        build_random_structure("(1 + x | g)", data)


def test_term_confounded_with_residual_is_named() -> None:
    rs = build_random_structure("(1 | g) + (1 | g:quarter)", _panel())
    with pytest.raises(DesignError, match=r"\(1 \| g:quarter\) cannot be identified.*residual"):
        rs.check_not_confounded_with_residual()
    build_random_structure("(1 | g) + (1 | g:post)", _panel()).check_not_confounded_with_residual()


@pytest.mark.parametrize(
    ("spec", "change", "fragment"),
    [
        ("(1 | borough)", None, "column 'borough' is not in the data"),
        ("(1 + t | g)", "t_missing", "column 't' has missing values"),
        ("(1 + t | g)", "t_text", "slope column 't' must be numeric"),
        ("(1 | g)", "one_group", "a mixed model needs at least two clusters"),
    ],
)
def test_bad_data_errors_name_the_term(spec: str, change: str | None, fragment: str) -> None:
    data = _panel()
    if change == "t_missing":
        data.loc[2, "t"] = np.nan
    elif change == "t_text":
        data["t"] = data["t"].astype(str)
    elif change == "one_group":
        data["g"] = "b0"
    with pytest.raises(DesignError, match=fragment):
        build_random_structure(spec, data)


@pytest.mark.parametrize(
    ("formula", "fixed", "random"),
    [
        ("y ~ x + (1 | g) + (1 | g:f)", "y ~ x", "(1 | g) + (1 | g:f)"),
        ("y ~ (1|g)", "y ~ 1", "(1|g)"),
        ("y ~ (1 + t | g) + x * z + C(q)", "y ~ x * z + C(q)", "(1 + t | g)"),
        ("y ~ x + np.log(z) + (0 + t | g)", "y ~ x + np.log(z)", "(0 + t | g)"),
        ("y ~ x", "y ~ x", None),
    ],
)
def test_split_formula_separates_random_terms(formula: str, fixed: str, random: str | None) -> None:
    from analysis.shared.random_terms import split_formula

    assert split_formula(formula) == (fixed, random)


def test_split_formula_refuses_unbalanced_parentheses() -> None:
    from analysis.shared.random_terms import split_formula

    with pytest.raises(DesignError, match="unbalanced"):
        split_formula("y ~ x + (1 | g")
