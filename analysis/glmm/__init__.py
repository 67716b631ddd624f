"""Generalised linear mixed models with random effects per cluster (lme4/glmmTMB-equivalent)."""

from analysis.glmm.glmm_model import GeneralizedLinearMixedModel
from analysis.glmm.model import FAMILIES, fit_glmm
from analysis.glmm.results import GlmmResults

__all__ = ["FAMILIES", "GeneralizedLinearMixedModel", "GlmmResults", "fit_glmm"]
