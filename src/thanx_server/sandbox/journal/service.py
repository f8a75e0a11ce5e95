"""Reading the request journal: a partner sees its own requests, an operator everyone's."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import ControlPrincipal
from thanx_server.kit.errors import Forbidden, NotFound
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


async def entry(
    session: AsyncSession,
    principal: ControlPrincipal,
    recorder: JournalRecorder | None,
    entry_id: int,
) -> SandboxJournalEntry:
    """One recorded request (a partner: only its own; another's is a 404, as if absent)."""
    if recorder is not None:
        await recorder.flush()
    found = await repository.get(session, entry_id, _client(principal, None))
    if found is None:
        raise NotFound(f"id: no recorded request {entry_id}")
    return found


def as_curl(entry: SandboxJournalEntry, base_url: str) -> str:
    """The recorded request as a ``curl`` command to run again. Secrets were never recorded:
    the token is a placeholder to fill in; a body is the recorded one (redacted, and cut at
    ``THANX_JOURNAL_BODY_CHARS``)."""
    url = base_url.rstrip("/") + entry.path + (f"?{entry.query}" if entry.query else "")
    parts = ["curl", "-sS", "-X", entry.method, shlex.quote(url)]
    headers = ["Accept-Version: v4.0"]
    if entry.auth == "partner" and entry.client_id:
        headers += [f"X-ClientId: {entry.client_id}", "Authorization: Bearer <access token>"]
    elif entry.auth == "user":
        headers.append("Authorization: Bearer <end-user token>")
    if entry.idempotency_key:
        headers.append(f"X-Idempotency-Key: {entry.idempotency_key}")
    if entry.request_body:
        headers.append("Content-Type: application/json")
    for header in headers:
        parts += ["-H", shlex.quote(header)]
    if entry.request_body:
        parts += ["--data-raw", shlex.quote(entry.request_body)]
    return " ".join(parts)


async def clear(
    session: AsyncSession, principal: ControlPrincipal, recorder: JournalRecorder | None
) -> int:
    if recorder is not None:
        await recorder.flush()
    return await repository.clear(session, None if principal.is_operator else principal.client_id)
