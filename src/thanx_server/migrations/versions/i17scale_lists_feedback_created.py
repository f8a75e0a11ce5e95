"""list indexes: a wide credential's feedback list walks records newest first

Revision ID: i17scale_lists
Revises: i14_delivery_due_index
Create Date: 2026-12-01 18:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "i17scale_lists"
down_revision: str | None = "i14_delivery_due_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A credential of many merchants lists feedback newest first across all of them: without
    # this the engines gather every record of every merchant (one range of
    # ix_feedbacks_merchant_created each) and sort them all for one page (bench/explain.py).
    with op.batch_alter_table("feedbacks", schema=None) as batch_op:
        batch_op.create_index("ix_feedbacks_created", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feedbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_feedbacks_created")
