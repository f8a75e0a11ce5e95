"""Wire shapes of the request journal."""

from __future__ import annotations

from pydantic import BaseModel

from thanx_server.kit.wire import WireDateTime
from thanx_server.models.sandbox import SandboxJournalEntry


class JournalEntryOut(BaseModel):
    id: int
    at: str
    sandbox_at: WireDateTime
    client_id: str | None
    auth: str | None
    operation_id: str | None
    method: str
    path: str
    query: str | None
    status: int
    duration_ms: float
    request_id: str | None
    idempotency_key: str | None
    request_body: str | None
    response_body: str | None

    @classmethod
    def of(cls, row: SandboxJournalEntry) -> JournalEntryOut:
        return cls(
            id=row.id,
            at=row.at.isoformat(),  # with microseconds: entries of one second stay ordered
            sandbox_at=row.sandbox_at,
            client_id=row.client_id,
            auth=row.auth,
            operation_id=row.operation_id,
            method=row.method,
            path=row.path,
            query=row.query,
            status=row.status,
            duration_ms=row.duration_ms,
            request_id=row.request_id,
            idempotency_key=row.idempotency_key,
            request_body=row.request_body,
            response_body=row.response_body,
        )


class JournalPage(BaseModel):
    count: int
    entries: list[JournalEntryOut]


class JournalCleared(BaseModel):
    removed: int
