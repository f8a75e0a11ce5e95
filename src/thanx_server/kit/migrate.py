"""Schema migrations: one Alembic history for SQLite and PostgreSQL.

Alembic is imported inside the functions that run it: loading it (and the history it parses) is
about a third of a CLI command's start-up, and ``upgrade_if_needed`` skips it when one query says
the database is already at the newest revision.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"


def alembic_config(url: str = "") -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "thanx_server:migrations")
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` up to ``revision`` in one transaction."""
    from alembic import command

    def _upgrade(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision(?:: [^=]+)? = "([^"]+)"', re.MULTILINE)


def head_revision() -> str:
    """The newest revision of the history, read from the migration files without loading Alembic.

    Each file declares ``revision = "..."`` and ``down_revision = "..."`` at the top level (as
    Alembic writes them); the history is one line, so the head is the one revision no file
    names as its ``down_revision``. Revision ids need not be numeric (a branch's ``i16_...``).
    ``tests/test_migrations.py`` checks this against Alembic's own reading.
    """
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            continue
        revisions.add(found.group(1))
        down = _DOWN_REVISION.search(source)
        if down is not None:
            revised.add(down.group(1))
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"the migration history must have one head, found {sorted(heads)}")
    return heads.pop()


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database is at ``head_revision()``: one query, no Alembic."""
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT version_num FROM alembic_version"))
            versions = list(result.scalars())
    except DBAPIError:  # no alembic_version table yet (or no database: upgrade will say why)
        return False
    return versions == [head_revision()]


async def upgrade_if_needed(engine: AsyncEngine) -> None:
    """``upgrade`` to head unless the database is already there (the CLI's every-command check)."""
    if not await is_current(engine):
        await upgrade(engine)


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_current)
