from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.errors import ServiceUnavailable

READY_TIMEOUT_S = 2.0


async def check_database(session: AsyncSession) -> None:
    try:
        await asyncio.wait_for(session.execute(text("SELECT 1")), READY_TIMEOUT_S)
    except Exception as exc:
        raise ServiceUnavailable("The database is unreachable.") from exc
