"""Alembic environment: runs migrations on the engine handed over by rct.db.engine."""

from __future__ import annotations

from alembic import context

import rct.db.allocation_models  # noqa: F401  (register the tables on Base.metadata)
import rct.db.analysis_models  # noqa: F401
import rct.db.capture_models  # noqa: F401
import rct.db.models  # noqa: F401
from rct.db.base import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
