"""Shared ``Annotated`` dependencies.

Dependencies are ``async def`` even when they do not await: FastAPI runs plain ``def`` dependencies
in a thread pool, a hop per request that the read path cannot afford.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.db import Database
from thanx_server.kit.fastread import Reads, SessionReads
from thanx_server.kit.middleware import SAFE_METHODS, RequestSession
from thanx_server.settings import Settings


async def _db_session(request: Request) -> AsyncSession:
    holder: RequestSession = request.state.db
    return holder.get()


async def _db_reads(request: Request) -> Reads:
    # Safe requests read on the driver, outside any transaction. A writing request reads inside
    # its own transaction (its session's connection), so it sees its own writes; so does every
    # request of a Database bound to one connection (the tests' rolled-back transaction).
    database: Database = request.app.state.database
    if request.method in SAFE_METHODS and database.reads is not None:
        return database.reads
    holder: RequestSession = request.state.db
    return SessionReads(holder.get, database.engine.dialect)


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbSession = Annotated[AsyncSession, Depends(_db_session)]
DbReads = Annotated[Reads, Depends(_db_reads)]
AppSettings = Annotated[Settings, Depends(_settings)]
