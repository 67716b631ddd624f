"""Outcome data capture: returns, validation, versions, data quality, completeness, export."""
