"""sandbox request journal

Revision ID: i13_sandbox_journal
Revises: i13_sandbox_jobs
Create Date: 2026-12-01 16:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i13_sandbox_journal"
down_revision: str | None = "i13_sandbox_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sandbox_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("auth", sa.String(length=16), nullable=True),
        sa.Column("operation_id", sa.String(length=100), nullable=True),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("query", sa.String(length=2000), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_journal")),
    )
    op.create_index(op.f("ix_sandbox_journal_at"), "sandbox_journal", ["at"], unique=False)
    op.create_index(
        op.f("ix_sandbox_journal_client_id"), "sandbox_journal", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_sandbox_journal_operation_id"), "sandbox_journal", ["operation_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sandbox_journal_operation_id"), table_name="sandbox_journal")
    op.drop_index(op.f("ix_sandbox_journal_client_id"), table_name="sandbox_journal")
    op.drop_index(op.f("ix_sandbox_journal_at"), table_name="sandbox_journal")
    op.drop_table("sandbox_journal")
