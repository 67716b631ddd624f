"""Generalised linear mixed models with a random intercept per cluster (lme4/glmmTMB-equivalent)."""

from analysis.glmm.model import FAMILIES, fit_glmm

__all__ = ["FAMILIES", "fit_glmm"]
