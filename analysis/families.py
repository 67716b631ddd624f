"""One registry of the outcome families the analyses support, and what each allows.

Every place that used to compare family names (the GLMM fit, the SAP's method dispatch,
the ``rct analyse fit`` command) asks this registry instead, so a family's link, the scale
its effect is reported on, the df methods and fits it allows are stated once.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.errors import ModelSpecificationError

__all__ = ["FAMILIES", "FamilyInfo", "family_info"]


@dataclass(frozen=True)
class FamilyInfo:
    """Properties of one outcome family.

    Attributes
    ----------
    name : str
        As written in protocols and on the command line.
    link : str
        ``"identity"``, ``"log"`` or ``"logit"``: the scale the model's effect is estimated on.
    effect : str
        What the back-transformed effect is called (``"rate ratio"``, ...).
    mixed_model : str
        ``"lmm"`` or ``"glmm"``: which engine fits its mixed model.
    df_methods : tuple of str
        Degrees-of-freedom methods of its mixed model (first = default).
    agq : bool
        Whether adaptive Gauss-Hermite quadrature (``nagq > 1``) is available (a single
        scalar random effect and a glmer family, as in lme4).
    gee : bool
        Whether a GEE is available.
    level_family : str
        Family of the cluster-level and randomisation analyses (the NB2 uses Poisson
        expected counts with ratio residuals).
    residual : str
        Cluster-level residual: ``"mean"`` (difference) or ``"ratio"`` (O/E).
    protocol : bool
        Whether protocols and ``rct analyse fit`` may name it (the Poisson-lognormal model
        is a library-level fit only).
    trials : bool
        Whether the outcome counts events out of a number of trials (the indicator's
        denominator column gives the trials).
    level_effect : str
        What the cluster-level and randomisation analyses' effect is called (their ratio
        residuals make a binomial outcome's effect a risk ratio); empty = ``effect``.
    r_engine : str
        The R function that fits its mixed model in the reference scripts and in
        ``rct analyse emit-r``: ``"lmer"``, ``"glmer"`` or ``"glmmTMB"``.
    icc_family : str
        Family of the random-intercept model the outcome's ICC is computed from (the NB2's
        own ICC needs a much slower profile, so its Poisson counterpart's); empty = this one.
    """

    name: str
    link: str
    effect: str
    mixed_model: str
    df_methods: tuple[str, ...]
    agq: bool
    gee: bool
    level_family: str
    residual: str
    protocol: bool = True
    trials: bool = False
    level_effect: str = ""
    r_engine: str = "glmer"
    icc_family: str = ""

    @property
    def cluster_level_effect(self) -> str:
        """The effect measure of the cluster-level and randomisation analyses."""
        return self.level_effect or self.effect

    @property
    def icc_model_family(self) -> str:
        """The family whose random-intercept model gives this outcome's ICC."""
        return self.icc_family or self.name


_GLMM_DF = ("between-within", "containment", "normal")
FAMILIES: dict[str, FamilyInfo] = {
    f.name: f
    for f in (
        FamilyInfo(
            "gaussian",
            "identity",
            "mean difference",
            "lmm",
            ("satterthwaite", "kenward-roger", "between-within", "normal"),
            False,
            True,
            "gaussian",
            "mean",
            r_engine="lmer",
        ),
        FamilyInfo(
            "poisson", "log", "rate ratio", "glmm", _GLMM_DF, True, True, "poisson", "ratio"
        ),
        FamilyInfo(
            "binomial",
            "logit",
            "odds ratio",
            "glmm",
            _GLMM_DF,
            True,
            True,
            "binomial",
            "ratio",
            trials=True,
            level_effect="risk ratio",
        ),
        FamilyInfo(
            "negative_binomial",
            "log",
            "rate ratio",
            "glmm",
            _GLMM_DF,
            False,
            False,
            "poisson",
            "ratio",
            r_engine="glmmTMB",
            icc_family="poisson",
        ),
        FamilyInfo(
            "poisson_olre",
            "log",
            "rate ratio",
            "glmm",
            _GLMM_DF,
            False,
            False,
            "poisson",
            "ratio",
            protocol=False,
        ),
    )
}


def family_info(name: str) -> FamilyInfo:
    """The registry entry of ``name``; a clear error naming the choices otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ModelSpecificationError(
            f"unknown family {name!r}; choose from {', '.join(FAMILIES)}"
        ) from None
