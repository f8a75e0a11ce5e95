"""rewards.location_id: the redemption location of an active reward (PATCH /rewards/{id})

Revision ID: i16_reward_location
Revises: 0005
Create Date: 2026-12-01 15:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i16_reward_location"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("location_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_rewards_location_id_locations"),
            "locations",
            ["location_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_rewards_location_id_locations"), type_="foreignkey")
        batch_op.drop_column("location_id")
