"""sandbox job progression: per-credential defaults and per-job controls

Revision ID: i13_sandbox_jobs
Revises: i13_sandbox_faults
Create Date: 2026-12-01 16:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i13_sandbox_jobs"
down_revision: str | None = "i13_sandbox_faults"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_progressions",
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("polls", sa.Integer(), nullable=True),
        sa.Column("delay_seconds", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("credential_id", name=op.f("pk_sandbox_progressions")),
    )
    op.create_table(
        "sandbox_job_controls",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("polls_left", sa.Integer(), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_sandbox_job_controls")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_job_controls")
    op.drop_table("sandbox_progressions")
