"""Alembic migrations of the trial database (run by rct.db.engine.upgrade)."""
