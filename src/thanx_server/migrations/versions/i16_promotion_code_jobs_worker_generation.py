"""promotions: codes still to generate by workers (a creation count above one call's 100,000)

Revision ID: i16_promotion_code_jobs
Revises: i16_coupons_olo
Create Date: 2026-12-01 16:25:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i16_promotion_code_jobs"
down_revision: str | None = "i16_coupons_olo"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "promotions",
        sa.Column("codes_pending", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("promotions", sa.Column("pending_batch_id", sa.String(length=32), nullable=True))
    op.add_column("promotions", sa.Column("lease_owner", sa.String(length=64), nullable=True))
    op.add_column(
        "promotions", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("promotions", schema=None) as batch_op:
        for column in ("lease_expires_at", "lease_owner", "pending_batch_id", "codes_pending"):
            batch_op.drop_column(column)
