"""The schema as the embedded store first created it: jobs, files, job log, accounts, credit ledger.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("dialect", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False, server_default=""),
        sa.Column("request_id", sa.Text),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("progress", sa.Float, nullable=False, server_default="0"),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("expires_at", sa.Float),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error_code", sa.Text),
        sa.Column("error_reason", sa.Text),
        sa.Column("result_key", sa.Text),
        sa.Column("result_meta", sa.Text, nullable=False, server_default="{}"),
        sa.Column("meta", sa.Text, nullable=False, server_default="{}"),
        sqlite_autoincrement=True,
    )
    where = sa.text("request_id IS NOT NULL")
    op.create_index(
        "jobs_request",
        "jobs",
        ["dialect", "owner", "request_id"],
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )
    op.create_index("jobs_queue", "jobs", ["state", "priority", "seq"])
    op.create_index("jobs_expiry", "jobs", ["expires_at"])
    op.create_table(
        "files",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False, server_default=""),
        sa.Column("blob_key", sa.Text, nullable=False),
        sa.Column("filename", sa.Text),
        sa.Column("info", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float),
    )
    op.create_table(
        "job_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("job_log_job", "job_log", ["job_id"])
    # accounts: per-key state, credits (minutes; NULL = unlimited) and limits; keys stored hashed
    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False, unique=True),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("state", sa.Text, nullable=False, server_default="active"),
        sa.Column("credits_minutes", sa.Integer),
        sa.Column("rpm", sa.Integer),
        sa.Column("max_concurrent", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    # every change of a key's credits: a grant, or the charge of one succeeded job (at most one)
    op.create_table(
        "credit_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("job_id", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("minutes", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sqlite_autoincrement=True,
    )
    charge = sa.text("kind = 'charge'")
    op.create_index(
        "credit_ledger_one_charge",
        "credit_ledger",
        ["job_id"],
        unique=True,
        sqlite_where=charge,
        postgresql_where=charge,
    )


def downgrade() -> None:
    for table in ("credit_ledger", "api_keys", "job_log", "files", "jobs"):
        op.drop_table(table)
