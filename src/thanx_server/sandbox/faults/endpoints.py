"""``/sandbox/faults``: add, list (with hit counts), remove, clear fault rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from thanx_server.auth.dependencies import Controller
from thanx_server.kit.deps import DbSession
from thanx_server.sandbox.faults import service
from thanx_server.sandbox.faults.schemas import Cleared, FaultEnvelope, FaultIn, FaultList, FaultOut
from thanx_server.sandbox.routing import control_router

router = control_router()


def operation_ids(routes: list[object]) -> frozenset[str]:
    """Every operation id of the app, as /openapi.json names them."""
    return frozenset(r.operation_id or r.unique_id for r in routes if isinstance(r, APIRoute))


async def _operations(request: Request) -> frozenset[str]:
    known: frozenset[str] | None = getattr(request.app.state, "operation_ids", None)
    if known is None:
        known = operation_ids(list(request.app.routes))
        request.app.state.operation_ids = known
    return known


Operations = Annotated[frozenset[str], Depends(_operations)]


@router.post(
    "/sandbox/faults", response_model=FaultEnvelope, status_code=201, operation_id="sandboxFaultAdd"
)
async def add_fault(
    principal: Controller, session: DbSession, body: FaultIn, operations: Operations
) -> FaultEnvelope:
    """A fault rule: an operator's applies to every caller, a partner's to its own requests."""
    rule = await service.create_rule(session, principal, body, operations=operations)
    return FaultEnvelope(fault=FaultOut.of(rule))


@router.get("/sandbox/faults", response_model=FaultList, operation_id="sandboxFaultList")
async def list_faults(principal: Controller, session: DbSession) -> FaultList:
    """The rules (a partner: its own), with how often each was asked and fired."""
    return FaultList(faults=[FaultOut.of(r) for r in await service.list_rules(session, principal)])


@router.delete("/sandbox/faults/{rule_id}", status_code=204, operation_id="sandboxFaultRemove")
async def remove_fault(principal: Controller, session: DbSession, rule_id: str) -> None:
    await service.remove_rule(session, principal, rule_id)


@router.delete("/sandbox/faults", response_model=Cleared, operation_id="sandboxFaultClear")
async def clear_faults(principal: Controller, session: DbSession) -> Cleared:
    """Remove every rule (a partner: its own)."""
    return Cleared(removed=await service.clear_rules(session, principal))
