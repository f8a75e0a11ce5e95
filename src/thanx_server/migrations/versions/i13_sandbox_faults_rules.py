"""sandbox fault rules

Revision ID: i13_sandbox_faults
Revises: i13_sandbox_state
Create Date: 2026-12-01 16:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i13_sandbox_faults"
down_revision: str | None = "i13_sandbox_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_fault_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("operation_id", sa.String(length=100), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=True),
        sa.Column("owner_client_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=100), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("retry_after", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("times", sa.Integer(), nullable=True),
        sa.Column("fraction", sa.Float(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_fault_rules")),
    )
    op.create_index(
        op.f("ix_sandbox_fault_rules_operation_id"),
        "sandbox_fault_rules",
        ["operation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sandbox_fault_rules_operation_id"), table_name="sandbox_fault_rules")
    op.drop_table("sandbox_fault_rules")
