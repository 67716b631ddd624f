"""What an allocation of a fixed set of clusters must satisfy: :class:`AllocationDesign`.

A design names the number of clusters in the intervention arm, an optional stratum column,
the covariates to balance (cvcrand-style balance score), how strictly to constrain, and
when to sample the space instead of enumerating it. It is a frozen value so it can be
fingerprinted and stored with the allocation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from allocation.errors import DesignError

__all__ = ["AllocationDesign", "INTERVENTION", "CONTROL"]

INTERVENTION = "intervention"
CONTROL = "control"


@dataclass(frozen=True)
class AllocationDesign:
    """The rules for randomising a fixed set of clusters into two arms.

    Parameters
    ----------
    n_treated : int
        Number of clusters in the intervention arm.
    strata : str, optional
        Column holding each cluster's stratum. Within stratum ``s`` of size ``m_s`` the
        intervention count is ``floor`` or ``ceil`` of ``m_s * n_treated / n``, chosen so
        the counts add up to ``n_treated`` (exact balance when ``m_s * n_treated / n`` is whole).
    covariates : tuple of str
        Columns entering the balance score (continuous and categorical).
    categorical : tuple of str
        Subset of ``covariates`` expanded into dummies, dropping the first level (as R's
        ``model.matrix``: a pandas categorical's first category, else the smallest value).
    metric : {"l2", "l1"}
        Balance metric, as cvcrand's ``cvrall``.
    weights : mapping of str to float
        Per-covariate weight (default 1); a categorical's weight applies to all its dummies.
    standardise : bool
        Divide each column by its sample standard deviation (cvcrand does).
    cutoff_quantile : float, optional
        Keep the best ``round(N * q)`` schemes, ``N`` the size of the evaluated space.
    cutoff_schemes : int, optional
        Keep the best ``cutoff_schemes`` schemes (overrides nothing: give one or neither).
    constraints : mapping of str to str
        Per-covariate constraints in R cvcrand ``cvrcov``'s language (``"mf0.2"``, ``"s5"``,
        ``"any"``; see :mod:`allocation.constraints`), on the raw covariate scale. Applied
        with ``max_abs_std_diff`` before the cutoff.
    max_abs_std_diff : mapping of str to float
        Per-covariate hard constraint: ``|mean_I - mean_C| / sd <= limit`` (every dummy of a
        categorical). Applied before the cutoff.
    max_enumerate : int
        Largest space enumerated completely; above it ``sample_size`` schemes are sampled.
    sample_size : int
        Number of distinct schemes sampled when the space is too large to enumerate.
    """

    n_treated: int
    strata: str | None = None
    covariates: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    metric: Literal["l1", "l2"] = "l2"
    weights: Mapping[str, float] = field(default_factory=dict)
    standardise: bool = True
    cutoff_quantile: float | None = None
    cutoff_schemes: int | None = None
    max_abs_std_diff: Mapping[str, float] = field(default_factory=dict)
    constraints: Mapping[str, str] = field(default_factory=dict)
    max_enumerate: int = 5_000_000
    sample_size: int = 50_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "covariates", tuple(self.covariates))
        object.__setattr__(self, "categorical", tuple(self.categorical))
        object.__setattr__(self, "weights", dict(self.weights))
        object.__setattr__(self, "max_abs_std_diff", dict(self.max_abs_std_diff))
        object.__setattr__(self, "constraints", dict(self.constraints))
        self._validate()

    def _validate(self) -> None:
        if not isinstance(self.n_treated, int) or self.n_treated < 1:
            raise DesignError("n_treated must be a positive integer")
        if len(set(self.covariates)) != len(self.covariates):
            raise DesignError("covariates are listed more than once")
        unknown = set(self.categorical) - set(self.covariates)
        if unknown:
            raise DesignError(f"categorical columns not among covariates: {sorted(unknown)}")
        if self.strata is not None and self.strata in self.covariates:
            raise DesignError("the stratum column cannot also be a balance covariate")
        if self.metric not in ("l1", "l2"):
            raise DesignError('metric must be "l1" or "l2"')
        for name, w in self.weights.items():
            if name not in self.covariates:
                raise DesignError(f"weight given for unknown covariate {name!r}")
            if not (isinstance(w, (int, float)) and w > 0 and w < float("inf")):
                raise DesignError(f"weight of {name!r} must be a positive finite number")
        for name, lim in self.max_abs_std_diff.items():
            if name not in self.covariates:
                raise DesignError(f"constraint given for unknown covariate {name!r}")
            if not (isinstance(lim, (int, float)) and lim >= 0):
                raise DesignError(f"constraint on {name!r} must be a non-negative number")
        # lazy: loads pandas, numpy (start-up time)
        from allocation.constraints import parse_constraint

        for name, text in self.constraints.items():
            if name not in self.covariates:
                raise DesignError(f"constraint given for unknown covariate {name!r}")
            parse_constraint(text)
        if self.cutoff_quantile is not None and self.cutoff_schemes is not None:
            raise DesignError("give cutoff_quantile or cutoff_schemes, not both")
        if self.cutoff_quantile is not None and not 0 < self.cutoff_quantile <= 1:
            raise DesignError("cutoff_quantile must be in (0, 1]")
        if self.cutoff_schemes is not None and (
            not isinstance(self.cutoff_schemes, int) or self.cutoff_schemes < 1
        ):
            raise DesignError("cutoff_schemes must be a positive integer")
        if (
            self.cutoff_quantile is not None
            or self.cutoff_schemes is not None
            or self.max_abs_std_diff
            or self.constraints
        ) and not self.covariates:
            raise DesignError("a balance cutoff or constraint needs at least one covariate")
        if not isinstance(self.max_enumerate, int) or self.max_enumerate < 1:
            raise DesignError("max_enumerate must be a positive integer")
        if not isinstance(self.sample_size, int) or not 1 <= self.sample_size <= self.max_enumerate:
            raise DesignError("sample_size must be a positive integer no larger than max_enumerate")

    def weight(self, covariate: str) -> float:
        """The weight of ``covariate`` (1.0 unless set)."""
        return float(self.weights.get(covariate, 1.0))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for fingerprints and storage)."""
        return {
            "n_treated": self.n_treated,
            "strata": self.strata,
            "covariates": list(self.covariates),
            "categorical": list(self.categorical),
            "metric": self.metric,
            "weights": {k: float(v) for k, v in sorted(self.weights.items())},
            "standardise": self.standardise,
            "cutoff_quantile": self.cutoff_quantile,
            "cutoff_schemes": self.cutoff_schemes,
            "max_abs_std_diff": {k: float(v) for k, v in sorted(self.max_abs_std_diff.items())},
            "constraints": dict(sorted(self.constraints.items())),
            "max_enumerate": self.max_enumerate,
            "sample_size": self.sample_size,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AllocationDesign:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(
                n_treated=int(data["n_treated"]),
                strata=data.get("strata"),
                covariates=tuple(data.get("covariates", ())),
                categorical=tuple(data.get("categorical", ())),
                metric=data.get("metric", "l2"),
                weights=dict(data.get("weights", {})),
                standardise=bool(data.get("standardise", True)),
                cutoff_quantile=data.get("cutoff_quantile"),
                cutoff_schemes=data.get("cutoff_schemes"),
                max_abs_std_diff=dict(data.get("max_abs_std_diff", {})),
                constraints=dict(data.get("constraints", {})),
                max_enumerate=int(data.get("max_enumerate", 5_000_000)),
                sample_size=int(data.get("sample_size", 50_000)),
            )
        except KeyError as exc:
            raise DesignError(f"design is missing {exc.args[0]!r}") from exc
