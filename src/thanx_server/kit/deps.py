"""Shared ``Annotated`` dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.middleware import RequestSession
from thanx_server.settings import Settings


def _db_session(request: Request) -> AsyncSession:
    holder: RequestSession = request.state.db
    return holder.get()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbSession = Annotated[AsyncSession, Depends(_db_session)]
AppSettings = Annotated[Settings, Depends(_settings)]
