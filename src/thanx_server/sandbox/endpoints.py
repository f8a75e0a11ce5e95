"""``GET /sandbox/whoami`` and the list of every sandbox router (``ROUTERS``, used by app.py)."""

from __future__ import annotations

from fastapi import APIRouter

from thanx_server.auth.dependencies import Controller
from thanx_server.sandbox.clock import endpoints as clock_endpoints
from thanx_server.sandbox.faults import endpoints as faults_endpoints
from thanx_server.sandbox.jobs import endpoints as jobs_endpoints
from thanx_server.sandbox.journal import endpoints as journal_endpoints
from thanx_server.sandbox.routing import control_router
from thanx_server.sandbox.schemas import ControllerOut, WhoamiOut
from thanx_server.sandbox.state import endpoints as state_endpoints

router = control_router()


@router.get("/sandbox/whoami", response_model=WhoamiOut, operation_id="sandboxWhoami")
async def whoami(principal: Controller) -> WhoamiOut:
    """Who is steering: an operator (everything) or a partner (its own merchants and requests)."""
    return WhoamiOut(
        controller=ControllerOut(
            kind="operator" if principal.is_operator else "partner",
            client_id=principal.client_id,
            merchant_ids=None if principal.is_operator else list(principal.merchant_ids),
        )
    )


ROUTERS: tuple[APIRouter, ...] = (
    router,
    clock_endpoints.router,
    state_endpoints.router,
    faults_endpoints.router,
    jobs_endpoints.router,
    journal_endpoints.router,
)
