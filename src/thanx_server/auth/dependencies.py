"""Named dependencies for authenticated endpoints (HOUSE_STYLE 5).

``PartnerAuth(Scope.X, Scope.Y)`` authenticates a partner credential needing any one of the scopes.
An endpoint without one of these dependencies is public; ``tests/test_routes.py`` proves which are.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import (
    PartnerPrincipal,
    authenticate_partner,
    check_version,
)
from thanx_server.kit.deps import DbSession

# Declared as security schemes so /openapi.json documents them; we check them ourselves so that
# every failure is the same 401 envelope.
bearer_scheme = HTTPBearer(
    scheme_name="bearerAuth", description="Partner access token.", auto_error=False
)
client_id_scheme = APIKeyHeader(
    name="X-ClientId",
    scheme_name="clientId",
    description="Client id issued with the access token.",
    auto_error=False,
)


class PartnerAuth:
    """Dependency: an authenticated partner credential holding any one of ``scopes``."""

    def __init__(self, *scopes: Scope) -> None:
        self.scopes = frozenset(scope.value for scope in scopes)

    async def __call__(
        self,
        request: Request,
        session: DbSession,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        client_id: Annotated[str | None, Depends(client_id_scheme)],
    ) -> PartnerPrincipal:
        check_version(request.headers.get("accept-version"))
        principal = await authenticate_partner(
            session,
            client_id=client_id,
            token=bearer.credentials if bearer else None,
            required_scopes=self.scopes,
        )
        request.state.principal = principal
        usage: Any = getattr(request.app.state, "credential_usage", None)
        if usage is not None:
            usage.mark(principal.credential_id)
        return principal


AnyPartner = Annotated[PartnerPrincipal, Depends(PartnerAuth())]
"""A partner credential with no particular scope (metadata endpoints)."""

RewardsIssuer = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.REWARDS_ISSUE))]
"""A partner credential with ``rewards.issue`` (templates, campaigns, issuance jobs)."""
