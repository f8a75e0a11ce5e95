"""``/sandbox/reset``, ``/sandbox/snapshot`` (export, restore), ``/sandbox/baseline`` and
``/sandbox/fixtures``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query

from thanx_server.auth.dependencies import Controller
from thanx_server.kit.deps import DbSession
from thanx_server.sandbox.fixtures import service as fixtures_service
from thanx_server.sandbox.fixtures.schemas import LoadedEnvelope
from thanx_server.sandbox.routing import control_router
from thanx_server.sandbox.state import service
from thanx_server.sandbox.state.schemas import (
    BaselineOut,
    ResetIn,
    ResetOut,
    RestoredOut,
    RestoreOut,
)

router = control_router()


@router.post("/sandbox/reset", response_model=ResetOut, operation_id="sandboxReset")
async def reset(principal: Controller, session: DbSession, body: ResetIn | None = None) -> ResetOut:
    """Back to the baseline (the fixtures loaded, or the state saved with /sandbox/baseline;
    none: empty), in one transaction. Everything (an operator; the clock goes back to real
    time) or one merchant (a partner: its own). Credentials are kept unless `credentials`."""
    body = body or ResetIn()
    restored = await service.reset_for(
        session, principal, merchant_id=body.merchant_id, credentials=body.credentials
    )
    return ResetOut(reset=RestoredOut.of(restored))


@router.get("/sandbox/snapshot", operation_id="sandboxSnapshotExport")
async def export_snapshot(
    principal: Controller,
    session: DbSession,
    merchant_id: Annotated[str | None, Query(max_length=64)] = None,
    credentials: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    """The whole state (or one merchant's) as a JSON snapshot, exactly (an operator's)."""
    principal.require_operator("snapshots")
    return await service.export_snapshot(
        session, scope=principal.merchants(merchant_id), credentials=credentials
    )


@router.post("/sandbox/snapshot", response_model=RestoreOut, operation_id="sandboxSnapshotRestore")
async def restore_snapshot(
    principal: Controller,
    session: DbSession,
    document: Annotated[dict[str, Any], Body(description="A snapshot from GET /sandbox/snapshot.")],
    credentials: Annotated[bool, Query()] = False,
) -> RestoreOut:
    """Put a snapshot back exactly (same ids): its scope's rows are replaced by its rows."""
    principal.require_operator("snapshots")
    restored = await service.restore_snapshot(session, document, credentials=credentials)
    return RestoreOut(restored=RestoredOut.of(restored))


@router.post("/sandbox/baseline", response_model=BaselineOut, operation_id="sandboxBaselineSave")
async def save_baseline(principal: Controller, session: DbSession) -> BaselineOut:
    """The instance as it is now becomes what /sandbox/reset goes back to."""
    principal.require_operator("saving the baseline")
    return BaselineOut(baseline_version=await service.save_baseline(session))


@router.post("/sandbox/fixtures", response_model=LoadedEnvelope, operation_id="sandboxFixturesLoad")
async def load_fixtures(
    principal: Controller,
    session: DbSession,
    document: Annotated[
        dict[str, Any], Body(description="A fixtures document (the fixtures file, as JSON).")
    ],
) -> LoadedEnvelope:
    """Replace the instance's data with the fixtures' (fixed ids, client ids and tokens) and make
    it the baseline /sandbox/reset goes back to (an operator's)."""
    principal.require_operator("loading fixtures")
    loaded = await fixtures_service.load(session, fixtures_service.validate(document))
    return LoadedEnvelope(fixtures=loaded)
