"""Results of a SAP run: read-only objects, the deterministic results JSON and a summary.

Determinism (docs/architecture.md, decision 7): the results JSON has its keys sorted, a fixed
indentation, UTF-8 text and a final newline, analyses in a fixed order (role, then name)
and inference methods in the order the SAP lists them. Every float is rounded to 10
significant digits in the stored form. Why: the fits are iterative (quasi-Newton
optimisers, finite-difference Hessians, BLAS reductions whose summation order depends on
the CPU and the library build), so two platforms, or the same platform with rows in
another order, agree to about 1e-12 relative but not always to the last bit of a double.
Ten significant digits keep far more precision than any published number needs while
absorbing that noise, so the same inputs give byte-identical files. Non-finite values
(an unbounded randomisation interval) are written as ``null``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.coded_warnings import CodedWarning
from analysis.errors import DataError
from analysis.sap.summary import summary_markdown

__all__ = [
    "SIGNIFICANT_DIGITS",
    "FORMAT",
    "MethodResult",
    "IccSummary",
    "AnalysisResult",
    "SapResults",
    "stable",
    "results_json",
]

SIGNIFICANT_DIGITS = 10
FORMAT = "rct-sap-results/1"
ROLE_ORDER = {"primary": 0, "secondary": 1, "sensitivity": 2}


def stable(value: Any) -> Any:
    """``value`` with every float rounded to :data:`SIGNIFICANT_DIGITS` significant digits.

    Non-finite floats become None; ``-0.0`` becomes ``0.0``; tuples become lists; numpy
    scalars become Python numbers. Mappings keep their keys (sorted when written).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
        if not math.isfinite(rounded):  # within a rounding step of the largest double
            return None
        return 0.0 if rounded == 0.0 else rounded
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return stable(value.item())
    if isinstance(value, Mapping):
        return {str(k): stable(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [stable(v) for v in value]
    raise TypeError(f"{type(value).__name__} has no place in the results JSON")


def results_json(data: Mapping[str, Any]) -> str:
    """The deterministic JSON text of ``data`` (see the module docstring)."""
    return (
        json.dumps(stable(data), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


def _float(value: Any) -> float:
    """A stored float; ``null`` (a non-finite value when written) reads back as NaN."""
    return math.nan if value is None else float(value)


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class MethodResult:
    """The treatment effect of one analysis under one prespecified inference method.

    ``coefficient`` and its interval are on the model scale (log rate ratio, log odds
    ratio, or the mean difference itself); ``effect`` and ``effect_ci`` on the natural
    scale (``measure``). ``df`` is None for a normal or randomisation reference. A method
    that could not be fitted has ``ok`` False and its ``error``; nothing else is reported.
    ``warnings`` carry stable codes (:mod:`analysis.coded_warnings`).
    """

    method: str
    ok: bool
    error: str = ""
    model: str = ""
    inference: str = ""
    term: str = ""
    measure: str = ""
    scale: str = ""
    coefficient: float = math.nan
    std_error: float | None = None
    coefficient_ci: tuple[float, float] = (math.nan, math.nan)
    effect: float = math.nan
    effect_ci: tuple[float, float] = (math.nan, math.nan)
    statistic: float | None = None
    pvalue: float = math.nan
    df: float | None = None
    clusters: int = 0
    observations: int = 0
    warnings: tuple[CodedWarning, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        if not self.ok:
            return {
                "method": self.method,
                "status": "failed",
                "error": self.error,
                "warnings": [w.to_json() for w in self.warnings],
            }
        return {
            "method": self.method,
            "status": "ok",
            "model": self.model,
            "inference": self.inference,
            "term": self.term,
            "effect": {
                "measure": self.measure,
                "estimate": self.effect,
                "ci_lower": self.effect_ci[0],
                "ci_upper": self.effect_ci[1],
            },
            "coefficient": {
                "scale": self.scale,
                "estimate": self.coefficient,
                "std_error": self.std_error,
                "ci_lower": self.coefficient_ci[0],
                "ci_upper": self.coefficient_ci[1],
            },
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "df": self.df,
            "clusters": self.clusters,
            "observations": self.observations,
            "warnings": [w.to_json() for w in self.warnings],
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MethodResult:
        """The method result a results JSON stores (``null`` read back as NaN where the
        result holds a float)."""
        warnings = tuple(CodedWarning.from_json(w) for w in d.get("warnings", ()))
        if d["status"] != "ok":
            return cls(str(d["method"]), ok=False, error=str(d["error"]), warnings=warnings)
        effect, coef = d["effect"], d["coefficient"]
        return cls(
            method=str(d["method"]),
            ok=True,
            model=str(d["model"]),
            inference=str(d["inference"]),
            term=str(d["term"]),
            measure=str(effect["measure"]),
            scale=str(coef["scale"]),
            coefficient=_float(coef["estimate"]),
            std_error=_optional(coef["std_error"]),
            coefficient_ci=(_float(coef["ci_lower"]), _float(coef["ci_upper"])),
            effect=_float(effect["estimate"]),
            effect_ci=(_float(effect["ci_lower"]), _float(effect["ci_upper"])),
            statistic=_optional(d["statistic"]),
            pvalue=_float(d["pvalue"]),
            df=_optional(d["df"]),
            clusters=int(d["clusters"]),
            observations=int(d["observations"]),
            warnings=warnings,
            details=dict(d.get("details", {})),
        )


@dataclass(frozen=True)
class IccSummary:
    """The ICC of an analysis' outcome with its interval, or why it could not be had."""

    icc: float = math.nan
    ci: tuple[float, float] = (math.nan, math.nan)
    level: float = 0.95
    method: str = ""
    scale: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        if self.error:
            return {"status": "failed", "error": self.error}
        return {
            "status": "ok",
            "icc": self.icc,
            "ci_lower": self.ci[0],
            "ci_upper": self.ci[1],
            "level": self.level,
            "method": self.method,
            "scale": self.scale,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> IccSummary:
        """The ICC summary a results JSON stores."""
        if d["status"] != "ok":
            return cls(error=str(d["error"]))
        return cls(
            icc=_float(d["icc"]),
            ci=(_float(d["ci_lower"]), _float(d["ci_upper"])),
            level=float(d["level"]),
            method=str(d["method"]),
            scale=str(d["scale"]),
        )


@dataclass(frozen=True)
class AnalysisResult:
    """One prespecified (or post hoc) analysis: its model, data, ICC and every method.

    ``primary_inference`` is the method whose result decides the analysis (the protocol's
    ``primary_inference``, else its first listed method); the others are supportive.
    """

    name: str
    role: str
    outcome: str
    outcome_label: str
    family: str
    formula: str
    offset: str
    periods: str
    description: str
    clusters: int
    observations: int
    missing_values: int
    icc: IccSummary | None
    methods: tuple[MethodResult, ...]
    post_hoc: bool = False
    post_hoc_reason: str = ""
    error: str = ""
    primary_inference: str = ""

    @property
    def sort_key(self) -> tuple[int, str]:
        return (ROLE_ORDER.get(self.role, 9), self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "outcome": self.outcome,
            "outcome_label": self.outcome_label,
            "family": self.family,
            "formula": self.formula,
            "offset": self.offset,
            "periods": self.periods,
            "description": self.description,
            "post_hoc": self.post_hoc,
            "post_hoc_reason": self.post_hoc_reason,
            "error": self.error,
            "primary_inference": self.primary_inference,
            "clusters": self.clusters,
            "observations": self.observations,
            "missing_values": self.missing_values,
            "icc": None if self.icc is None else self.icc.to_dict(),
            "methods": [m.to_dict() for m in self.methods],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnalysisResult:
        """The analysis a results JSON stores, with its ICC and methods."""
        icc = d.get("icc")
        return cls(
            name=str(d["name"]),
            role=str(d["role"]),
            outcome=str(d["outcome"]),
            outcome_label=str(d["outcome_label"]),
            family=str(d["family"]),
            formula=str(d["formula"]),
            offset=str(d["offset"]),
            periods=str(d["periods"]),
            description=str(d["description"]),
            clusters=int(d["clusters"]),
            observations=int(d["observations"]),
            missing_values=int(d["missing_values"]),
            icc=None if icc is None else IccSummary.from_dict(icc),
            methods=tuple(MethodResult.from_dict(m) for m in d["methods"]),
            post_hoc=bool(d["post_hoc"]),
            post_hoc_reason=str(d["post_hoc_reason"]),
            error=str(d["error"]),
            primary_inference=str(d["primary_inference"]),
        )


@dataclass(frozen=True)
class SapResults:
    """Every analysis of one SAP run and the provenance that makes it reproducible."""

    trial: Mapping[str, str]
    provenance: Mapping[str, Any]
    analyses: tuple[AnalysisResult, ...]
    level: float = 0.95

    def analysis(self, name: str) -> AnalysisResult:
        for a in self.analyses:
            if a.name == name:
                return a
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "trial": dict(self.trial),
            "provenance": dict(self.provenance),
            "confidence_level": self.level,
            "rounding": f"floats rounded to {SIGNIFICANT_DIGITS} significant digits",
            "analyses": [a.to_dict() for a in sorted(self.analyses, key=lambda a: a.sort_key)],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SapResults:
        """The results a results JSON's data hold (:class:`~analysis.errors.DataError` if
        it is not of this :data:`FORMAT`)."""
        if d.get("format") != FORMAT:
            raise DataError(f"results of format {d.get('format')!r} are not {FORMAT}")
        return cls(
            trial=dict(d["trial"]),
            provenance=dict(d["provenance"]),
            analyses=tuple(AnalysisResult.from_dict(a) for a in d["analyses"]),
            level=float(d["confidence_level"]),
        )

    @classmethod
    def from_json(cls, text: str) -> SapResults:
        """The results a results JSON text holds: ``from_json(r.to_json()).to_json()`` is
        ``r.to_json()`` byte for byte."""
        return cls.from_dict(json.loads(text))

    def failed(self) -> list[str]:
        """Analyses that failed (``name``) and methods that failed (``name/method``), in
        the results JSON's order."""
        out = []
        for a in sorted(self.analyses, key=lambda a: a.sort_key):
            if a.error:
                out.append(a.name)
            out += [f"{a.name}/{m.method}" for m in a.methods if not m.ok]
        return out

    def to_json(self) -> str:
        """The deterministic results JSON (see the module docstring)."""
        return results_json(self.to_dict())

    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def summary_markdown(self) -> str:
        """The Markdown summary of the results as their JSON stores them (see
        :mod:`analysis.sap.summary`)."""
        return summary_markdown(SapResults.from_json(self.to_json()))
