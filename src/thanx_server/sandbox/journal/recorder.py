"""``JournalRecorder``: entries gathered in memory per process, written in batches.

A request costs an append to a list. When the oldest gathered entry is ``journal_flush_seconds``
old (or 200 gathered), the request that notices writes the batch with one multi-row INSERT (and,
once a twentieth of ``journal_max_entries`` or a minute has gone by since the last time,
prunes past the retention bounds) on a session of its own, after its own answer has gone out;
an idle process's last entries are written by a periodic task of the server's lifespan, when
the journal is read in that process, and at shutdown. So the journal's cost on a read is
building one dict and a share of a batched write (``bench/RESULTS.md`` measures it), and an
entry is visible to the journal's controls within about one flush interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

import structlog

from thanx_server.kit.db import Database
from thanx_server.kit.time import utcnow
from thanx_server.sandbox.journal import repository
from thanx_server.settings import Settings

log = structlog.get_logger("thanx.sandbox.journal")

REDACTED = "[REDACTED]"
SECRET_KEYS = frozenset(
    {"access_token", "refresh_token", "token", "password", "client_secret", "secret"}
)
_SECRET_MARKERS = (b"token", b"password", b"secret")
_QUERY_SECRET = re.compile(r"((?:access_)?token=)[^&]*", re.IGNORECASE)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (REDACTED if k.lower() in SECRET_KEYS and v is not None else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def body_text(body: bytes, *, cap: int, bearer: str | None) -> str | None:
    """A body as the journal keeps it: secrets redacted (JSON keys, the caller's bearer token),
    then cut at ``cap`` characters."""
    if not body:
        return None
    lowered = body.lower()
    if any(marker in lowered for marker in _SECRET_MARKERS):
        with contextlib.suppress(ValueError):
            body = json.dumps(_redact(json.loads(body)), separators=(",", ":")).encode()
    text = body.decode("utf-8", errors="replace")
    if bearer:
        text = text.replace(bearer, REDACTED)
    if len(text) > cap:
        text = text[:cap] + f"...[{len(text) - cap} more characters]"
    return text


def query_text(query: str) -> str | None:
    return _QUERY_SECRET.sub(r"\1" + REDACTED, query)[:2000] if query else None


class JournalRecorder:
    BATCH = 200

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pending: list[dict[str, Any]] = []
        self.database: Database | None = None
        self._oldest = 0.0
        # Pruning is three statements; a busy process flushes every 200 entries, so it prunes
        # only once it wrote a twentieth of the bound since its last prune (or a minute passed):
        # the table may exceed the bound by that much per process until then (issue 17).
        self._unpruned = 0
        self._pruned_at = time.monotonic()

    def add(self, database: Database, entry: dict[str, Any]) -> bool:
        """Gather an entry; True when a flush is due (the caller awaits ``flush``)."""
        self.database = database
        if not self.pending:
            self._oldest = time.monotonic()
        self.pending.append(entry)
        return (
            len(self.pending) >= self.BATCH
            or time.monotonic() - self._oldest >= self.settings.journal_flush_seconds
        )

    async def run(self) -> None:
        """The lifespan's periodic flush (an idle process's last entries)."""
        while True:
            await asyncio.sleep(self.settings.journal_flush_seconds)
            await self.flush()

    async def flush(self) -> None:
        """Write what gathered (one INSERT) and prune past the bounds; never raises."""
        if not self.pending or self.database is None:
            return
        batch, self.pending = self.pending, []
        try:
            async with self.database.write_sessions() as session, session.begin():
                await repository.insert_rows(session, batch)
                if self._prune_due(len(batch)):
                    await repository.prune(
                        session,
                        older_than=utcnow() - self.settings.journal_max_age,
                        keep=self.settings.journal_max_entries,
                    )
        except Exception as exc:  # the journal must never break the API
            log.warning("journal.flush_failed", error=type(exc).__name__, lost=len(batch))

    def _prune_due(self, written: int) -> bool:
        self._unpruned += written
        keep = self.settings.journal_max_entries
        if self._unpruned < max(1, keep // 20) and time.monotonic() - self._pruned_at < 60:
            return False
        self._unpruned, self._pruned_at = 0, time.monotonic()
        return True

    async def aclose(self) -> None:
        await self.flush()


def entry(
    *,
    at: datetime,
    sandbox_at: datetime,
    scope: MutableMapping[str, Any],
    status: int,
    duration_ms: float,
    request_id: str | None,
    request_body: bytes,
    response_body: bytes,
    cap: int,
) -> dict[str, Any]:
    headers = {k: v for k, v in scope["headers"]}
    client_id = headers.get(b"x-clientid")
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    route = scope.get("route")
    operation = getattr(route, "operation_id", None) or getattr(route, "unique_id", None)
    idempotency = headers.get(b"x-idempotency-key")
    return {
        "at": at,
        "sandbox_at": sandbox_at,
        "client_id": client_id.decode("latin-1")[:64] if client_id else None,
        "auth": "partner" if client_id else ("user" if bearer else None),
        "operation_id": operation,
        "method": scope["method"],
        "path": scope["path"][:2000],
        "query": query_text(scope.get("query_string", b"").decode("latin-1")),
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "request_id": request_id,
        "idempotency_key": idempotency.decode("latin-1")[:255] if idempotency else None,
        "request_body": body_text(request_body, cap=cap, bearer=bearer),
        "response_body": body_text(response_body, cap=cap, bearer=bearer),
    }
