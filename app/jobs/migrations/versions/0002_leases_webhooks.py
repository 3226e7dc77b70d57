"""Claims hold a lease (``jobs.claimed_until``); webhook deliveries are rows one process claims.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("claimed_until", sa.Float))
    op.create_index("jobs_lease", "jobs", ["state", "claimed_until"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),  # sending | delivered | failed
        sa.Column("claimed_until", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_index("jobs_lease", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("claimed_until")
