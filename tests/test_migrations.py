"""The Alembic history and the ORM models describe the same schema, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from thanx_server.kit import migrate
from thanx_server.kit.db import create_engine
from thanx_server.kit.migrate import alembic_config
from thanx_server.models import Base, WebhookOutbox


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_database_is_at_the_single_head(engine: AsyncEngine) -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1
    assert await migrate.current_revision(engine) == heads[0]


def test_head_read_from_file_names_is_alembics_head() -> None:
    """``migrate.head_revision()`` (the CLI's Alembic-free check) reads the files' revision
    lines; file names start with their revision, as Alembic's default template writes them."""
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [migrate.head_revision()]
    for revision in script.walk_revisions():
        assert revision.path is not None
        assert Path(revision.path).name.startswith(f"{revision.revision}_")


async def test_upgrade_if_needed_upgrades_only_a_database_behind_head(engine: AsyncEngine) -> None:
    assert await migrate.is_current(engine)

    def step_back(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "-1")

    async with engine.begin() as conn:
        await conn.run_sync(step_back)
    assert not await migrate.is_current(engine)
    await migrate.upgrade_if_needed(engine)
    assert await migrate.is_current(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision()


async def test_a_database_without_a_history_is_not_current(fresh_db_url: str) -> None:
    engine = create_engine(fresh_db_url)  # of its own: the shared one must keep its history
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE alembic_version"))
        assert not await migrate.is_current(engine)
    finally:
        await engine.dispose()


async def test_the_outbox_migration_carries_undelivered_events_both_ways(
    fresh_db_url: str,
) -> None:
    """``i14b_outbox_rows`` moves events not yet dispatched into outbox rows (and back on a
    downgrade), so a worker of either version still delivers what the other wrote."""
    cfg = alembic_config()

    def move(connection: Connection, to: str) -> None:
        cfg.attributes["connection"] = connection
        if to == "down":
            command.downgrade(cfg, "i17scale_lists")
        else:
            command.upgrade(cfg, "head")

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    engine = create_engine(fresh_db_url)  # a database of its own: it commits and migrates
    try:
        await _carry(engine, move, now)
    finally:
        await engine.dispose()


async def _carry(engine: AsyncEngine, move: Any, now: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(WebhookOutbox).values(
                id="o1",
                merchant_id="m1",
                type="sms_subscription.created",
                events=json.dumps([["e1", None, '{"a":1}'], ["e2", "s2", "{}"]]),
                event_count=2,
                created_at=now,
                deliver_after=now,
            )
        )
        await conn.run_sync(move, "down")
        waiting = (
            await conn.execute(
                text("SELECT id, subject_id, body FROM webhook_events WHERE NOT dispatched")
            )
        ).all()
        assert sorted(tuple(r) for r in waiting) == [("e1", None, '{"a":1}'), ("e2", "s2", "{}")]
        await conn.run_sync(move, "up")
        (row,) = (await conn.execute(text("SELECT events, event_count FROM webhook_outbox"))).all()
        assert row.event_count == 2
        assert sorted(json.loads(row.events)) == [["e1", None, '{"a":1}'], ["e2", "s2", "{}"]]
        assert (await conn.execute(text("SELECT count(*) FROM webhook_events"))).scalar() == 0
        (moved,) = (await conn.execute(select(WebhookOutbox.created_at))).all()
        assert moved.created_at == now
