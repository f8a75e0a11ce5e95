"""Liveness and readiness probes (public)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from thanx_server.health import service
from thanx_server.kit.deps import DbSession
from thanx_server.kit.openapi import ErrorEnvelope

router = APIRouter(tags=["Operations"])


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up. Touches nothing else."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": ErrorEnvelope, "description": "The database is unreachable."}},
)
async def readyz(session: DbSession) -> Health:
    """The database answers a query."""
    await service.check_database(session)
    return Health(status="ready")
