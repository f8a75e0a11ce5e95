"""list indexes: one merchant's feedback changed since a time, by its changes alone

Revision ID: i17g_feedback_changes
Revises: i14b_outbox_rows
Create Date: 2026-12-01 22:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "i17g_feedback_changes"
down_revision: str | None = "i14b_outbox_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `updated_after` on a merchant's feedback is two ranges ORed (changed since, or expired
    # since: feedback/repository.changed_since). With the merchant leading both, each engine
    # reads the two ranges of that merchant (SQLite's MULTI-INDEX OR, PostgreSQL's BitmapOr);
    # without, it read every record of the merchant to count the few that changed, and the
    # count of a filter this narrow is never kept (kit/pagination.TOTAL_KEPT_FROM).
    with op.batch_alter_table("feedbacks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedbacks_merchant_updated", ["merchant_id", "updated_at"], unique=False
        )
        batch_op.create_index(
            "ix_feedbacks_merchant_expires", ["merchant_id", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("feedbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_feedbacks_merchant_expires")
        batch_op.drop_index("ix_feedbacks_merchant_updated")
