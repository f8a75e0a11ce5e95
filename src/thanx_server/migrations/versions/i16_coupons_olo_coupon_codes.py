"""coupon codes (static per template, or a dynamic pool) and Olo-integrated merchants

Revision ID: i16_coupons_olo
Revises: i16_promotions
Create Date: 2026-12-01 16:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i16_coupons_olo"
down_revision: str | None = "i16_promotions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs on both engines: no table rebuild (rewards is the largest table).
    op.add_column(
        "merchants",
        sa.Column("olo_integrated", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "reward_templates", sa.Column("static_coupon_code", sa.String(length=100), nullable=True)
    )
    op.add_column(
        "reward_templates",
        sa.Column(
            "uses_dynamic_coupon_codes", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    op.add_column(
        "reward_templates", sa.Column("coupon_code_type", sa.String(length=20), nullable=True)
    )
    op.add_column(
        "reward_templates", sa.Column("coupon_code_display", sa.String(length=100), nullable=True)
    )
    op.add_column("rewards", sa.Column("coupon_code_type", sa.String(length=20), nullable=True))
    op.add_column("rewards", sa.Column("coupon_code_display", sa.String(length=100), nullable=True))
    op.add_column(
        "rewards",
        sa.Column(
            "uses_dynamic_coupon_codes", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    op.create_table(
        "coupon_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("template_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("reward_id", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["reward_templates.id"],
            name=op.f("fk_coupon_codes_template_id_reward_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_codes")),
        sa.UniqueConstraint("template_id", "code", name=op.f("uq_coupon_codes_template_id")),
        sa.UniqueConstraint("reward_id", name=op.f("uq_coupon_codes_reward_id")),
    )
    op.create_index(
        "ix_coupon_codes_pool",
        "coupon_codes",
        ["template_id", "reward_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_coupon_codes_pool", table_name="coupon_codes")
    op.drop_table("coupon_codes")
    for table, column in (
        ("rewards", "uses_dynamic_coupon_codes"),
        ("rewards", "coupon_code_display"),
        ("rewards", "coupon_code_type"),
        ("reward_templates", "coupon_code_display"),
        ("reward_templates", "coupon_code_type"),
        ("reward_templates", "uses_dynamic_coupon_codes"),
        ("reward_templates", "static_coupon_code"),
        ("merchants", "olo_integrated"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(column)
