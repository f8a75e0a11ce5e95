"""The web console's sessions (issue 15)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.models.base import Base


class ConsoleSession(Base):
    """A signed-in console user. The browser holds a random secret in a cookie; only its SHA-256
    digest is stored (``id``), so a copy of the database opens no session. ``kind`` and
    ``client_id`` name the credential that signed in; it is checked again on every request, so a
    revoked credential ends its sessions. Times are the machine's (the sandbox clock moving
    forward must not end a session)."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
