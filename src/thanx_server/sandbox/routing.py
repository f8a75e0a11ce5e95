"""What every sandbox router shares: the tag, the error responses, and the 404 outside a
sandbox (checked before authentication)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from thanx_server.kit.deps import sandbox_only
from thanx_server.kit.openapi import PARTNER_ERRORS, error_doc

CONTROL_ERRORS: dict[int | str, dict[str, Any]] = {
    **PARTNER_ERRORS,
    403: error_doc(
        "An instance-wide control called with a partner credential, a partner credential "
        "without the `sandbox` scope, or a merchant outside it (FORBIDDEN)."
    ),
    404: error_doc("Not a sandbox (THANX_ENVIRONMENT=production), or an unknown resource."),
}


def control_router() -> APIRouter:
    return APIRouter(
        tags=["Sandbox"], responses=CONTROL_ERRORS, dependencies=[Depends(sandbox_only)]
    )
