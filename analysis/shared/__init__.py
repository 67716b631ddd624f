"""Pieces shared by every model family: results objects and small-sample inference."""
