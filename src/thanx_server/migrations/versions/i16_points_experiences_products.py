"""points experiences and products; memberships.points_earned (tiers follow it)

Revision ID: i16_points
Revises: i16_reward_location
Create Date: 2026-12-01 15:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i16_points"
down_revision: str | None = "i16_reward_location"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "points_experiences",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency_name", sa.String(length=50), nullable=False),
        sa.Column("currency_plural", sa.String(length=50), nullable=False),
        sa.Column("currency_description", sa.Text(), nullable=True),
        sa.Column("conversion", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_points_experiences_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_experiences")),
        sa.UniqueConstraint("merchant_id", name=op.f("uq_points_experiences_merchant_id")),
    )
    op.create_table(
        "points_products",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("points_experience_id", sa.String(length=32), nullable=False),
        sa.Column("reward_template_id", sa.String(length=32), nullable=False),
        sa.Column("cost", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("exchange_start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exchange_end_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_location_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_points_products_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["points_experience_id"],
            ["points_experiences.id"],
            name=op.f("fk_points_products_points_experience_id_points_experiences"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reward_template_id"],
            ["reward_templates.id"],
            name=op.f("fk_points_products_reward_template_id_reward_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_products")),
    )
    op.create_index(
        op.f("ix_points_products_points_experience_id"),
        "points_products",
        ["points_experience_id"],
        unique=False,
    )
    op.create_index(
        "ix_points_products_merchant_created",
        "points_products",
        ["merchant_id", "created_at"],
        unique=False,
    )
    # A plain ADD COLUMN on both engines (no table rebuild on SQLite). Existing members start
    # with what they hold: their balance is all they are known to have earned.
    op.add_column(
        "memberships",
        sa.Column(
            "points_earned",
            sa.Numeric(precision=12, scale=2),
            server_default="0",
            nullable=False,
        ),
    )
    op.execute("UPDATE memberships SET points_earned = points_balance")


def downgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("points_earned")
    op.drop_index("ix_points_products_merchant_created", table_name="points_products")
    op.drop_index(op.f("ix_points_products_points_experience_id"), table_name="points_products")
    op.drop_table("points_products")
    op.drop_table("points_experiences")
