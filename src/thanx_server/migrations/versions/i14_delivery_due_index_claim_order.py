"""webhook deliveries: the claim's index also orders by id

Revision ID: i14_delivery_due_index
Revises: i15_console
Create Date: 2026-12-01 19:15:00.000000

A job's deliveries share one due time, so the claim's ``ORDER BY next_attempt_at, id`` could not
be read from ``(state, next_attempt_at)`` in order: every claim sorted the whole backlog (EXPLAIN
on PostgreSQL: a bitmap scan of all 4,500 due rows and a top-N sort per claim). With ``id`` in the
index the claim reads its candidates in order and stops.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "i14_delivery_due_index"
down_revision: str | None = "i15_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_state_next_id",
        "webhook_deliveries",
        ["state", "next_attempt_at", "id"],
        unique=False,
    )
    op.drop_index("ix_webhook_deliveries_state_next", table_name="webhook_deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_state_next",
        "webhook_deliveries",
        ["state", "next_attempt_at"],
        unique=False,
    )
    op.drop_index("ix_webhook_deliveries_state_next_id", table_name="webhook_deliveries")
