"""engagement: communication settings, subscribers, tags, purchases, feedback

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:40:19.970521
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("birth_month", sa.SmallInteger(), nullable=True),
        sa.Column("birth_day", sa.SmallInteger(), nullable=True),
        sa.Column("birth_year", sa.SmallInteger(), nullable=True),
        sa.Column("zip_code", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_subscribers_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint("merchant_id", "email", name="uq_subscribers_merchant_email"),
    )
    op.create_table(
        "communication_settings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("reward_progress_email", sa.Boolean(), nullable=False),
        sa.Column("reward_offer_notification", sa.Boolean(), nullable=False),
        sa.Column("reward_offer_email", sa.Boolean(), nullable=False),
        sa.Column("marketing_general_email", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id", "merchant_id"],
            ["memberships.user_id", "memberships.merchant_id"],
            name="fk_communication_settings_membership",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communication_settings")),
        sa.UniqueConstraint("user_id", "merchant_id", name="uq_communication_settings_member"),
    )
    with op.batch_alter_table("communication_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_communication_settings_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "purchases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("location_id", sa.String(length=32), nullable=True),
        sa.Column("card_id", sa.String(length=64), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("points_earned", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.Column("purchased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_purchases_location_id_locations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "merchant_id"],
            ["memberships.user_id", "memberships.merchant_id"],
            name="fk_purchases_membership",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
    )
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_purchases_location_id"), ["location_id"], unique=False)
        batch_op.create_index("ix_purchases_member", ["merchant_id", "user_id"], unique=False)
        batch_op.create_index(
            "ix_purchases_merchant_card", ["merchant_id", "card_id"], unique=False
        )

    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id", "merchant_id"],
            ["memberships.user_id", "memberships.merchant_id"],
            name="fk_tags_membership",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("merchant_id", "user_id", "key", name="uq_tags_member_key"),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index("ix_tags_user_id", ["user_id"], unique=False)

    op.create_table(
        "feedbacks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("location_id", sa.String(length=32), nullable=True),
        sa.Column("purchase_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("review", sa.Text(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('unviewed', 'viewed', 'rated', 'reviewed', 'responded')",
            name=op.f("ck_feedbacks_state"),
        ),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 0 AND rating <= 10)", name=op.f("ck_feedbacks_rating")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_feedbacks_location_id_locations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"],
            ["purchases.id"],
            name=op.f("fk_feedbacks_purchase_id_purchases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id", "merchant_id"],
            ["memberships.user_id", "memberships.merchant_id"],
            name="fk_feedbacks_membership",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedbacks")),
        sa.UniqueConstraint("purchase_id", name=op.f("uq_feedbacks_purchase_id")),
    )
    with op.batch_alter_table("feedbacks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedbacks_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedbacks_location_id"), ["location_id"], unique=False)
        batch_op.create_index(
            "ix_feedbacks_merchant_created", ["merchant_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_feedbacks_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedbacks_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedbacks_user_id"), ["user_id"], unique=False)

    _backfill_communication_settings()


def _backfill_communication_settings() -> None:
    """Every existing membership gets its settings row (all channels on), in one statement."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        new_id = "lower(hex(randomblob(8)))"
        now = now.replace(tzinfo=None)
    else:
        new_id = "substr(replace(gen_random_uuid()::text, '-', ''), 1, 16)"
    # new_id is one of the two constant expressions above, never input.
    statement = sa.text(
        "INSERT INTO communication_settings (id, user_id, merchant_id, reward_progress_email, "  # noqa: S608
        "reward_offer_notification, reward_offer_email, marketing_general_email, created_at, "
        f"updated_at) SELECT {new_id}, user_id, merchant_id, true, true, true, true, :now, :now "
        "FROM memberships"
    ).bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)))
    bind.execute(statement, {"now": now})


def downgrade() -> None:
    with op.batch_alter_table("feedbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedbacks_user_id"))
        batch_op.drop_index(batch_op.f("ix_feedbacks_updated_at"))
        batch_op.drop_index(batch_op.f("ix_feedbacks_state"))
        batch_op.drop_index("ix_feedbacks_merchant_created")
        batch_op.drop_index(batch_op.f("ix_feedbacks_location_id"))
        batch_op.drop_index(batch_op.f("ix_feedbacks_expires_at"))

    op.drop_table("feedbacks")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index("ix_tags_user_id")

    op.drop_table("tags")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index("ix_purchases_merchant_card")
        batch_op.drop_index("ix_purchases_member")
        batch_op.drop_index(batch_op.f("ix_purchases_location_id"))

    op.drop_table("purchases")
    with op.batch_alter_table("communication_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_communication_settings_merchant_id"))

    op.drop_table("communication_settings")
    op.drop_table("subscribers")
