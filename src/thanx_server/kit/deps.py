"""Shared ``Annotated`` dependencies.

Dependencies are ``async def`` even when they do not await: FastAPI runs plain ``def`` dependencies
in a thread pool, a hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.db import Database
from thanx_server.kit.errors import NotFound
from thanx_server.kit.middleware import RequestSession
from thanx_server.settings import Settings


async def _db_session(request: Request) -> AsyncSession:
    """The request's session (kit/middleware.py): created on first use, so a request served
    without the database (an auth dependency answered from its cache) opens no connection."""
    holder: RequestSession = request.state.db
    return holder.get()


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbSession = Annotated[AsyncSession, Depends(_db_session)]
AppSettings = Annotated[Settings, Depends(_settings)]


async def _database(request: Request) -> Database:
    """The process's ``Database`` (its session factories), for the few endpoints whose work runs
    in transactions of its own, as a worker's does (sandbox controls that run due work).

    Such an endpoint owns no request transaction: the request's session, if its authentication
    opened one, is closed here (it only read), so it holds no lock (SQLite's write lock, taken by
    a writing request's first statement) while the work commits on sessions of its own. Declare
    it after the auth dependency."""
    holder: RequestSession = request.state.db
    await holder.finish(commit=False)
    database: Database = request.app.state.database
    return database


AppDatabase = Annotated[Database, Depends(_database)]


async def _sandbox_database(request: Request) -> Database | None:
    """In a sandbox, ``AppDatabase`` (the request's session closed first); elsewhere None. For
    a read that also counts something for the sandbox in a transaction of its own (a job's
    polls), which must commit even though the read's own session never does."""
    settings: Settings = request.app.state.settings
    if not settings.is_sandbox:
        return None
    return await _database(request)


SandboxDatabase = Annotated[Database | None, Depends(_sandbox_database)]


async def sandbox_only(request: Request) -> None:
    """Router dependency of sandbox-only routes: outside a sandbox they do not exist (404),
    checked before authentication and body validation."""
    settings: Settings = request.app.state.settings
    if not settings.is_sandbox:
        raise NotFound()
