"""Pieces shared by every model family: results objects, small-sample inference and the
random-effect structures (lme4-style terms nested in the cluster)."""
