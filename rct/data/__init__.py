"""Data files shipped with the package (the published partnership indicators)."""
