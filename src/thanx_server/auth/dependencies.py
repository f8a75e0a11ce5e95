"""Named dependencies for authenticated endpoints (HOUSE_STYLE 5).

``PartnerAuth(Scope.X, Scope.Y)`` authenticates a partner credential needing any one of the scopes,
then counts the call against the credential's rate limits (kit/ratelimit.py). Calls that fail
authentication never reach the limiter, so nobody can spend another credential's budget.
``UserAuth`` authenticates an end-user token; ``UserOrPartnerAuth`` either.
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
from thanx_server.auth.tokens import UserPrincipal, UserTokenCache, authenticate_user
from thanx_server.kit.deps import DbSession
from thanx_server.kit.errors import AuthenticationFailed
from thanx_server.kit.ratelimit import RateLimiter

# Declared as security schemes so /openapi.json documents them; we check them ourselves so that
# every failure is the same 401 envelope.
bearer_scheme = HTTPBearer(
    scheme_name="bearerAuth", description="Partner access token.", auto_error=False
)
user_bearer_scheme = HTTPBearer(
    scheme_name="userBearerAuth",
    description="End-user access token (from POST /partner/oauth/token).",
    auto_error=False,
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
            cache=getattr(request.app.state, "credential_cache", None),
        )
        limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
        if limiter is not None:
            # Raises RateLimited (429); the request's transaction is rolled back like any error.
            await limiter.hit(principal.client_id)
        request.state.principal = principal
        usage: Any = getattr(request.app.state, "credential_usage", None)
        if usage is not None:
            usage.mark(principal.credential_id)
        return principal


AnyPartner = Annotated[PartnerPrincipal, Depends(PartnerAuth())]
"""A partner credential with no particular scope (metadata endpoints)."""


def _user_cache(request: Request) -> UserTokenCache | None:
    cache: UserTokenCache | None = getattr(request.app.state, "user_token_cache", None)
    return cache


class UserAuth:
    """Dependency: the end user behind an end-user token (Consumer API)."""

    is_auth_dependency = True

    async def __call__(
        self,
        request: Request,
        session: DbSession,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(user_bearer_scheme)],
    ) -> UserPrincipal:
        check_version(request.headers.get("accept-version"))
        return await authenticate_user(
            session, bearer.credentials if bearer else None, _user_cache(request)
        )


class UserOrPartnerAuth:
    """Dependency: an end-user token, or else a partner credential holding one of ``scopes``.

    End-user tokens and partner tokens are distinct random secrets, so the end-user lookup is tried
    first and a partner credential is only considered when it fails and ``X-ClientId`` is present.
    """

    is_auth_dependency = True

    def __init__(self, *scopes: Scope) -> None:
        self.partner = PartnerAuth(*scopes)

    async def __call__(
        self,
        request: Request,
        session: DbSession,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(user_bearer_scheme)],
        client_id: Annotated[str | None, Depends(client_id_scheme)],
    ) -> UserPrincipal | PartnerPrincipal:
        check_version(request.headers.get("accept-version"))
        token = bearer.credentials if bearer else None
        try:
            return await authenticate_user(session, token, _user_cache(request))
        except AuthenticationFailed:
            if client_id is None:
                raise
        return await self.partner(request, session, bearer, client_id)


CurrentUser = Annotated[UserPrincipal, Depends(UserAuth())]
"""The end user of a Consumer API call."""


RewardsIssuer = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.REWARDS_ISSUE))]
"""A partner credential with ``rewards.issue`` (templates, campaigns, issuance jobs)."""
