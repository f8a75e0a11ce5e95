"""Running services from the CLI: one engine per command, one transaction per command."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import NamedTuple, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit import migrate, settle
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Settings

T = TypeVar("T")


def database_for(settings: Settings) -> Database:
    # A command that moves the sandbox clock or changes fault rules holds its exit as long as
    # the API processes keep their copies (kit/settle.py).
    settle.configure(settings.sandbox_state_cache_ms / 1000)
    if "structlog" in sys.modules:
        # A service this command runs logs (the sandbox clock's moves, say): to stderr, as the
        # server's do, so that stdout carries only the command's output (``--json``). Commands
        # whose services do not log never import structlog (start-up, docs/PERFORMANCE.md).
        from thanx_server.kit.logging import configure_logging

        configure_logging(settings)
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Database.from_engine(create_engine(settings.effective_database_url, pool_size=2))


async def _in_transaction(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, upgrade: bool
) -> T:
    db = database_for(settings)
    try:
        if upgrade:
            await migrate.upgrade_if_needed(db.engine)
        async with db.write_sessions() as session, session.begin():
            return await work(session)
    finally:
        await db.dispose()


def run_in_transaction(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, upgrade: bool = False
) -> T:
    """Run ``work`` in one committed transaction (rolled back if it raises)."""
    return asyncio.run(_in_transaction(settings, work, upgrade=upgrade))


class Upgraded(NamedTuple):
    revision: str | None
    applied: bool  # False: the database was at the newest revision already


def upgrade_database(settings: Settings) -> Upgraded:
    """Bring the database to the newest revision and name it. Already there (every ``serve``
    after the first): one query and no Alembic, which is most of a start-up's migration cost."""

    async def _run() -> Upgraded:
        db = database_for(settings)
        try:
            if await migrate.is_current(db.engine):
                return Upgraded(migrate.head_revision(), applied=False)
            await migrate.upgrade(db.engine)
            return Upgraded(await migrate.current_revision(db.engine), applied=True)
        finally:
            await db.dispose()

    return asyncio.run(_run())
