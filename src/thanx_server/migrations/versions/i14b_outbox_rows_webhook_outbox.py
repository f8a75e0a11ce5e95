"""webhook outbox: one row per state change, expanded into events by the delivery workers

Revision ID: i14b_outbox_rows
Revises: i17scale_lists
Create Date: 2026-12-01 21:40:00.000000
"""

import json
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i14b_outbox_rows"
down_revision: str | None = "i17scale_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_KEYS = ("merchant_id", "type", "frame_id", "created_at", "deliver_after")


def _columns(*names: str) -> list[sa.sql.expression.ColumnClause[object]]:
    """Columns for the rows moved below; the instants typed, so SQLite's stored text is read
    back as an instant and written in the same form."""
    instants = {"created_at", "deliver_after"}
    return [
        sa.column(name, sa.DateTime(timezone=True)) if name in instants else sa.column(name)
        for name in names
    ]


def upgrade() -> None:
    outbox = op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("merchant_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("frame_id", sa.String(length=32), nullable=True),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliver_after", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_outbox")),
    )
    with op.batch_alter_table("webhook_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_outbox_created", ["created_at", "id"], unique=False)
    # Events written but not yet dispatched go back into the outbox (one row per state change
    # they came from), so the workers of the new version expand and deliver them.
    bind = op.get_bind()
    events = sa.table(
        "webhook_events", *_columns("id", "subject_id", "body", "dispatched", *EVENT_KEYS)
    )
    waiting = bind.execute(
        sa.select(events).where(events.c.dispatched == sa.false()).order_by(events.c.created_at)
    ).all()
    groups: dict[tuple[object, ...], list[list[object]]] = {}
    for row in waiting:
        key = tuple(getattr(row, name) for name in EVENT_KEYS)
        groups.setdefault(key, []).append([row.id, row.subject_id, row.body])
    if groups:
        op.bulk_insert(
            outbox,
            [
                {
                    "id": secrets.token_hex(8),  # kit.ids.new_id, frozen here
                    **dict(zip(EVENT_KEYS, key, strict=True)),
                    "events": json.dumps(parts, separators=(",", ":")),
                    "event_count": len(parts),
                }
                for key, parts in groups.items()
            ],
        )
        bind.execute(sa.delete(events).where(events.c.dispatched == sa.false()))
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_webhook_events_undispatched",
            sqlite_where=sa.text("dispatched = 0"),
            postgresql_where=sa.text("dispatched = false"),
        )
        batch_op.drop_column("dispatched")


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dispatched", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.create_index(
            "ix_webhook_events_undispatched",
            ["created_at"],
            unique=False,
            sqlite_where=sa.text("dispatched = 0"),
            postgresql_where=sa.text("dispatched = false"),
        )
    bind = op.get_bind()
    outbox = sa.table("webhook_outbox", *_columns("events", *EVENT_KEYS))
    events = sa.table(
        "webhook_events", *_columns("id", "subject_id", "body", "dispatched", *EVENT_KEYS)
    )
    rows = [
        {
            "id": event_id,
            "subject_id": subject_id,
            "body": body,
            "dispatched": False,
            **{name: getattr(row, name) for name in EVENT_KEYS},
        }
        for row in bind.execute(sa.select(outbox)).all()
        for event_id, subject_id, body in json.loads(row.events)
    ]
    if rows:
        bind.execute(sa.insert(events), rows)
    op.drop_table("webhook_outbox")
