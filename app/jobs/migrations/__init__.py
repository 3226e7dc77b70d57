"""Schema migrations of the job store (Alembic), shared by SQLite and PostgreSQL.

:func:`upgrade` brings a database to the newest revision; it is what ``hush migrate`` and the
first start of a server run. A SQLite file made before migrations existed (tables present, no
``alembic_version``) is stamped at revision 0001 first, then upgraded.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HEAD", "upgrade"]

#: The newest revision.
HEAD = "0002"


def upgrade(url: str, *, schema: str | None = None) -> None:
    """Migrate the database at SQLAlchemy ``url`` to :data:`HEAD` (in ``schema`` on PostgreSQL)."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # replicas starting together: one migrates, the others wait and find it done
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7243011)"))
                if schema:
                    conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                    conn.execute(sa.text(f'SET LOCAL search_path TO "{schema}"'))
            cfg.attributes["connection"] = conn
            cfg.attributes["schema"] = schema
            tables = set(sa.inspect(conn).get_table_names(schema=schema))
            if "jobs" in tables and "alembic_version" not in tables:
                command.stamp(cfg, "0001")
            command.upgrade(cfg, HEAD)
    finally:
        engine.dispose()
