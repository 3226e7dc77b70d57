"""Alembic environment: runs on the connection the job store hands over (SQLite or PostgreSQL).

Alembic executes this file during :func:`app.jobs.migrations.upgrade`; imported any other way it
does nothing.
"""

from __future__ import annotations

from typing import Any

from alembic import context

__all__: list[str] = []


def _run(config: Any) -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        version_table_schema=config.attributes.get("schema"),
    )
    with context.begin_transaction():
        context.run_migrations()


_config: Any
try:
    _config = context.config
except AttributeError:  # not inside an Alembic run
    _config = None
if _config is not None:
    _run(_config)
