"""``GET /metrics`` (Prometheus text format; not part of the API's OpenAPI document)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from thanx_server.auth.dependencies import MetricsAuth
from thanx_server.kit.deps import DbSession
from thanx_server.kit.metrics import CONTENT_TYPE, exposition
from thanx_server.metrics.service import database_snapshot

router = APIRouter()


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(MetricsAuth())])
async def metrics(session: DbSession) -> Response:
    snapshot = await database_snapshot(session)
    return Response(exposition(snapshot), media_type=CONTENT_TYPE)
