"""Shared ``Annotated`` dependencies.

Dependencies are ``async def`` even when they do not await: FastAPI runs plain ``def`` dependencies
in a thread pool, a hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

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
