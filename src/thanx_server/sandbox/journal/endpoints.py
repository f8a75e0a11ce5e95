"""``/sandbox/journal``: find, count, export (JSON lines) and clear recorded API requests."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from thanx_server.auth.dependencies import Controller
from thanx_server.kit.deps import DbSession
from thanx_server.kit.middleware import RequestSession
from thanx_server.kit.wire import InstantIn
from thanx_server.sandbox.journal import service
from thanx_server.sandbox.journal.recorder import JournalRecorder
from thanx_server.sandbox.journal.schemas import JournalCleared, JournalEntryOut, JournalPage
from thanx_server.sandbox.routing import control_router

router = control_router()


async def _recorder(request: Request) -> JournalRecorder | None:
    """The process's recorder. Its pending entries are written before the journal is read, in a
    transaction of their own that must not nest in the request's session (opened to read the
    clock): that session is closed first; the endpoint's ``DbSession``, declared after this
    dependency, is a new one."""
    recorder: JournalRecorder | None = getattr(request.app.state, "journal", None)
    if recorder is not None and recorder.pending:
        holder: RequestSession = request.state.db
        await holder.finish(commit=False)
    return recorder


Recorder = Annotated[JournalRecorder | None, Depends(_recorder)]


class Filters:
    def __init__(
        self,
        operation_id: Annotated[str | None, Query(max_length=100)] = None,
        status: Annotated[int | None, Query(ge=100, le=599)] = None,
        client_id: Annotated[str | None, Query(max_length=64)] = None,
        since: Annotated[InstantIn | None, Query(description="At or after (real time).")] = None,
        until: Annotated[InstantIn | None, Query(description="Before (real time).")] = None,
    ) -> None:
        self.operation_id = operation_id
        self.status = status
        self.client_id = client_id
        self.since = since
        self.until = until


@router.get("/sandbox/journal", response_model=JournalPage, operation_id="sandboxJournalSearch")
async def search_journal(
    principal: Controller,
    recorder: Recorder,
    session: DbSession,
    filters: Annotated[Filters, Depends()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JournalPage:
    """Recorded requests, newest first, and how many match (a partner: its own)."""
    count, rows = await service.search(session, principal, recorder, limit=limit, **vars(filters))
    return JournalPage(count=count, entries=[JournalEntryOut.of(r) for r in rows])


@router.get(
    "/sandbox/journal/export",
    operation_id="sandboxJournalExport",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
async def export_journal(
    principal: Controller,
    recorder: Recorder,
    session: DbSession,
    filters: Annotated[Filters, Depends()],
) -> Response:
    """Every matching recorded request as JSON lines, oldest first."""
    _, rows = await service.search(session, principal, recorder, limit=None, **vars(filters))
    lines = [
        json.dumps(JournalEntryOut.of(r).model_dump(mode="json"), separators=(",", ":"))
        for r in reversed(rows)
    ]
    body = "\n".join(lines) + ("\n" if lines else "")
    return Response(body, media_type="application/x-ndjson")


@router.delete(
    "/sandbox/journal", response_model=JournalCleared, operation_id="sandboxJournalClear"
)
async def clear_journal(
    principal: Controller, recorder: Recorder, session: DbSession
) -> JournalCleared:
    """Forget recorded requests (a partner: its own)."""
    return JournalCleared(removed=await service.clear(session, principal, recorder))
