"""Named dependencies for authenticated endpoints (HOUSE_STYLE 5).

``PartnerAuth(Scope.X, Scope.Y)`` authenticates a partner credential needing any one of the scopes,
then counts the call against the credential's rate limits (kit/ratelimit.py). Calls that fail
authentication never reach the limiter, so nobody can spend another credential's budget.
``UserAuth`` authenticates an end-user token; ``UserOrPartnerAuth`` either.
``OperatorAuth`` authenticates an operator credential (instance-wide sandbox controls);
``SandboxAuth`` an operator, or a partner credential holding the ``sandbox`` scope (controls over
its own merchants and requests). Both answer with a ``ControlPrincipal``.
An endpoint without one of these dependencies is public; ``tests/test_routes.py`` proves which are.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Request

from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import (
    OPERATOR,
    PARTNER,
    ControlPrincipal,
    PartnerPrincipal,
    authenticate_partner,
    check_version,
)
from thanx_server.auth.tokens import UserPrincipal, UserTokenCache, authenticate_user
from thanx_server.kit.errors import AuthenticationFailed, Forbidden
from thanx_server.kit.middleware import RequestSession
from thanx_server.kit.ratelimit import RateLimiter
from thanx_server.operators.service import OperatorCache, authenticate_operator
from thanx_server.settings import Settings

# How /openapi.json names the credentials (kit/openapi.py adds them to every operation whose
# dependencies include one of the classes below).
Requirement = dict[str, list[str]]
PARTNER_SECURITY: tuple[Requirement, ...] = ({"bearerAuth": [], "clientId": []},)
USER_SECURITY: tuple[Requirement, ...] = ({"userBearerAuth": []},)
OPERATOR_SECURITY: tuple[Requirement, ...] = ({"operatorBearerAuth": [], "clientId": []},)
METRICS_SECURITY: tuple[Requirement, ...] = ({"metricsBearerAuth": []},)
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "Partner access token."},
    "userBearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "End-user access token (from POST /partner/oauth/token).",
    },
    "operatorBearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "Operator access token (`thanx-server admin operator create`; `make run` and "
            "`thanx-server demo --json` print one), sent with its client id in X-ClientId."
        ),
    },
    "metricsBearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "THANX_METRICS_TOKEN (GET /metrics; loopback scrapes need none).",
    },
    "clientId": {
        "type": "apiKey",
        "in": "header",
        "name": "X-ClientId",
        "description": "Client id issued with the access token.",
    },
}


def _bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    value = request.headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _session(request: Request) -> Any:
    holder: RequestSession = request.state.db
    return holder.get()


class PartnerAuth:
    """Dependency: an authenticated partner credential holding any one of ``scopes``.

    One dependency taking only the request (headers read here, the session taken from the
    request's state): FastAPI solves each sub-dependency per request, and a chain of four cost
    measurably more than this one (docs/PERFORMANCE.md).
    """

    security = PARTNER_SECURITY

    def __init__(self, *scopes: Scope) -> None:
        self.scopes = frozenset(scope.value for scope in scopes)

    async def __call__(self, request: Request) -> PartnerPrincipal:
        check_version(request.headers.get("accept-version"))
        principal = await authenticate_partner(
            _session(request),
            client_id=request.headers.get("x-clientid"),
            token=_bearer(request),
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


async def _count_consumer_call(request: Request, user: UserPrincipal) -> None:
    """A consumer call spends the budget of the credential that minted its token (the documented
    limits are per client id), so minting tokens is no way around them."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None and user.client_id is not None:
        await limiter.hit(user.client_id)


class UserAuth:
    """Dependency: the end user behind an end-user token (Consumer API)."""

    is_auth_dependency = True
    security = USER_SECURITY

    async def __call__(self, request: Request) -> UserPrincipal:
        check_version(request.headers.get("accept-version"))
        user = await authenticate_user(_session(request), _bearer(request), _user_cache(request))
        await _count_consumer_call(request, user)
        return user


class UserOrPartnerAuth:
    """Dependency: an end-user token, or else a partner credential holding one of ``scopes``.

    End-user tokens and partner tokens are distinct random secrets, so the end-user lookup is tried
    first and a partner credential is only considered when it fails and ``X-ClientId`` is present.
    """

    is_auth_dependency = True
    security = (*USER_SECURITY, *PARTNER_SECURITY)

    def __init__(self, *scopes: Scope) -> None:
        self.partner = PartnerAuth(*scopes)

    async def __call__(self, request: Request) -> UserPrincipal | PartnerPrincipal:
        check_version(request.headers.get("accept-version"))
        try:
            user = await authenticate_user(
                _session(request), _bearer(request), _user_cache(request)
            )
        except AuthenticationFailed:
            if request.headers.get("x-clientid") is None:
                raise
        else:
            await _count_consumer_call(request, user)
            return user
        return await self.partner(request)


CurrentUser = Annotated[UserPrincipal, Depends(UserAuth())]
"""The end user of a Consumer API call."""


RewardsIssuer = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.REWARDS_ISSUE))]
"""A partner credential with ``rewards.issue`` (templates, campaigns, issuance jobs)."""


def _operator_cache(request: Request) -> OperatorCache | None:
    cache: OperatorCache | None = getattr(request.app.state, "operator_cache", None)
    return cache


async def _control_principal(request: Request, *, partners: bool) -> ControlPrincipal:
    """An operator credential, or (``partners``) a partner credential with the ``sandbox`` scope.

    The client id is looked up among operators first; only a client id no operator has is tried
    as a partner's. Control calls are not Thanx API calls and spend no rate-limit budget.
    """
    check_version(request.headers.get("accept-version"))
    client_id = request.headers.get("x-clientid")
    token = _bearer(request)
    if not client_id or not token:
        raise AuthenticationFailed()
    session = _session(request)
    operator = await authenticate_operator(
        session, client_id=client_id, token=token, cache=_operator_cache(request)
    )
    principal: ControlPrincipal
    if operator is not None:
        principal = ControlPrincipal(
            kind=OPERATOR, credential_id=operator.credential_id, client_id=operator.client_id
        )
    elif not partners:
        raise AuthenticationFailed()
    else:
        partner = await authenticate_partner(
            session,
            client_id=client_id,
            token=token,
            required_scopes=_SANDBOX_SCOPE,
            cache=getattr(request.app.state, "credential_cache", None),
        )
        principal = ControlPrincipal(
            kind=PARTNER,
            credential_id=partner.credential_id,
            client_id=partner.client_id,
            merchant_ids=partner.merchant_ids,
        )
    request.state.principal = principal
    return principal


_SANDBOX_SCOPE = frozenset({Scope.SANDBOX.value})


class OperatorAuth:
    """Dependency: an operator credential (instance-wide sandbox controls, the console)."""

    is_auth_dependency = True
    security = OPERATOR_SECURITY

    async def __call__(self, request: Request) -> ControlPrincipal:
        return await _control_principal(request, partners=False)


class SandboxAuth:
    """Dependency: an operator credential, or a partner credential holding ``sandbox`` (which
    then steers only its own merchants and requests; ``ControlPrincipal.merchants``)."""

    is_auth_dependency = True
    security = (*OPERATOR_SECURITY, *PARTNER_SECURITY)

    async def __call__(self, request: Request) -> ControlPrincipal:
        return await _control_principal(request, partners=True)


Operator = Annotated[ControlPrincipal, Depends(OperatorAuth())]
"""An operator credential."""

Controller = Annotated[ControlPrincipal, Depends(SandboxAuth())]
"""An operator, or a partner credential with the ``sandbox`` scope."""


_LOOPBACK = frozenset({"127.0.0.1", "::1"})


class MetricsAuth:
    """Dependency: a Prometheus scrape. With ``THANX_METRICS_TOKEN`` set it must carry that token
    as a bearer token; without one, only a scrape from a loopback address is answered (so a
    server bound to a public address does not publish its metrics by default)."""

    is_auth_dependency = True
    security = METRICS_SECURITY

    async def __call__(self, request: Request) -> None:
        settings: Settings = request.app.state.settings
        if settings.metrics_token is None:
            host = request.client.host if request.client else ""
            if host not in _LOOPBACK:
                raise Forbidden(
                    "metrics are served to this machine only; set THANX_METRICS_TOKEN to "
                    "scrape from elsewhere"
                )
            return
        expected = settings.metrics_token.get_secret_value().encode()
        given = (_bearer(request) or "").encode()
        if not hmac.compare_digest(given, expected):
            raise AuthenticationFailed()
