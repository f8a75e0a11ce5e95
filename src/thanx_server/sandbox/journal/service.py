"""Reading the request journal: a partner sees its own requests, an operator everyone's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import ControlPrincipal
from thanx_server.kit.errors import Forbidden
from thanx_server.models.sandbox import SandboxJournalEntry
from thanx_server.sandbox.journal import repository
from thanx_server.sandbox.journal.recorder import JournalRecorder


def _client(principal: ControlPrincipal, client_id: str | None) -> str | None:
    if principal.is_operator:
        return client_id
    if client_id not in (None, principal.client_id):
        raise Forbidden("client_id: a partner reads its own requests only")
    return principal.client_id


async def search(
    session: AsyncSession,
    principal: ControlPrincipal,
    recorder: JournalRecorder | None,
    *,
    client_id: str | None,
    operation_id: str | None,
    status: int | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> tuple[int, Sequence[SandboxJournalEntry]]:
    if recorder is not None:
        await recorder.flush()  # this process's answers so far are in it
    return await repository.search(
        session,
        limit=limit,
        client_id=_client(principal, client_id),
        operation_id=operation_id,
        status=status,
        since=since,
        until=until,
    )


async def clear(
    session: AsyncSession, principal: ControlPrincipal, recorder: JournalRecorder | None
) -> int:
    if recorder is not None:
        await recorder.flush()
    return await repository.clear(session, None if principal.is_operator else principal.client_id)
