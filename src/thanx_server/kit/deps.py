"""Shared ``Annotated`` dependencies.

Dependencies are ``async def`` even when they do not await: FastAPI runs plain ``def`` dependencies
in a thread pool, a hop per request that the read path cannot afford.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.db import Database
from thanx_server.kit.fastread import Reads
from thanx_server.kit.middleware import SAFE_METHODS, RequestSession
from thanx_server.settings import Settings


async def _db_session(request: Request) -> AsyncSession:
    holder: RequestSession = request.state.db
    return holder.get()


async def _db_reads(request: Request) -> Reads:
    # Fast reads run outside the request's transaction: a writing request would not see its
    # own writes through them, so only safe methods may ask (a programming error otherwise).
    if request.method not in SAFE_METHODS:
        raise RuntimeError(f"DbReads used by a {request.method} endpoint; use DbSession")
    database: Database = request.app.state.database
    holder: RequestSession = request.state.db
    return database.read_backend.bind(holder)


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbSession = Annotated[AsyncSession, Depends(_db_session)]
DbReads = Annotated[Reads, Depends(_db_reads)]
AppSettings = Annotated[Settings, Depends(_settings)]
