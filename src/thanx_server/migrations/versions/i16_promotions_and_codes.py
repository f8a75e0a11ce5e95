"""promotions, their code batches and single-use codes

Revision ID: i16_promotions
Revises: i16_points
Create Date: 2026-12-01 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i16_promotions"
down_revision: str | None = "i16_points"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("reward_template_id", sa.String(length=32), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_promotions_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reward_template_id"],
            ["reward_templates.id"],
            name=op.f("fk_promotions_reward_template_id_reward_templates"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
    )
    op.create_index(
        "ix_promotions_merchant_created", "promotions", ["merchant_id", "created_at"], unique=False
    )
    op.create_table(
        "promotion_code_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("promotion_id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.id"],
            name=op.f("fk_promotion_code_batches_promotion_id_promotions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_code_batches")),
    )
    op.create_index(
        op.f("ix_promotion_code_batches_promotion_id"),
        "promotion_code_batches",
        ["promotion_id"],
        unique=False,
    )
    op.create_table(
        "promotion_codes",
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("promotion_id", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        # No foreign key and no second index: each would be paid by every row of a 100,000-code
        # batch (see models/promotion.py).
        sa.PrimaryKeyConstraint("merchant_id", "code", name=op.f("pk_promotion_codes")),
    )


def downgrade() -> None:
    op.drop_table("promotion_codes")
    op.drop_index(
        op.f("ix_promotion_code_batches_promotion_id"), table_name="promotion_code_batches"
    )
    op.drop_table("promotion_code_batches")
    op.drop_index("ix_promotions_merchant_created", table_name="promotions")
    op.drop_table("promotions")
