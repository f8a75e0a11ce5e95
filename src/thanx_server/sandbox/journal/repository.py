"""The journal's SQL: a batch insert, retention, and the searches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.models.sandbox import SandboxJournalEntry

Journal = SandboxJournalEntry


# A batch is every request's entry of the last flush interval: inserted through the table (Core),
# one executemany, without the ORM's bulk-insert bookkeeping per row (issue 17).
_JOURNAL = cast(Table, Journal.__table__)


async def insert_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(_JOURNAL), rows)


async def prune(session: AsyncSession, *, older_than: datetime, keep: int) -> None:
    await session.execute(delete(Journal).where(Journal.at < older_than))
    newest = await session.scalar(select(func.max(Journal.id)))
    if newest is not None and newest > keep:
        await session.execute(delete(Journal).where(Journal.id <= newest - keep))


def _filters(
    *,
    client_id: str | None,
    operation_id: str | None,
    status: int | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if client_id is not None:
        where.append(Journal.client_id == client_id)
    if operation_id is not None:
        where.append(Journal.operation_id == operation_id)
    if status is not None:
        where.append(Journal.status == status)
    if since is not None:
        where.append(Journal.at >= since)
    if until is not None:
        where.append(Journal.at < until)
    return where


async def search(
    session: AsyncSession, *, limit: int | None, **filters: Any
) -> tuple[int, Sequence[SandboxJournalEntry]]:
    where = _filters(**filters)
    total = int(await session.scalar(select(func.count()).select_from(Journal).where(*where)) or 0)
    statement = select(Journal).where(*where).order_by(Journal.id.desc())
    if limit is not None:
        statement = statement.limit(limit)
    return total, (await session.scalars(statement)).all()


async def get(
    session: AsyncSession, entry_id: int, client_id: str | None
) -> SandboxJournalEntry | None:
    """One entry; with ``client_id``, only if it is that credential's."""
    where = _filters(client_id=client_id, operation_id=None, status=None, since=None, until=None)
    return await session.scalar(select(Journal).where(Journal.id == entry_id, *where))


async def clear(session: AsyncSession, client_id: str | None) -> int:
    statement = delete(Journal)
    if client_id is not None:
        statement = statement.where(Journal.client_id == client_id)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
