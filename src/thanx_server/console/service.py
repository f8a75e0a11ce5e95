"""The console's rules: signing in and out, the session behind each page, its CSRF token, and
what the overview shows. Pages reuse the features' services for everything else.

A session is a random secret in an HttpOnly cookie; the database keeps only its digest. The CSRF
token of a session is derived from that secret (an HMAC under a fixed label), so it needs no
storage, differs per session, and cannot be computed by a page that cannot read the cookie.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from limits import RateLimitItemPerMinute
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth import repository as auth_repository
from thanx_server.auth.service import (
    OPERATOR,
    PARTNER,
    ControlPrincipal,
    CredentialCache,
    authenticate_partner,
)
from thanx_server.console import repository
from thanx_server.domain.states import reward_state
from thanx_server.kit.clock import business_now
from thanx_server.kit.errors import AppError, AuthenticationFailed, RateLimited, ValidationFailed
from thanx_server.kit.ids import hash_secret, new_secret
from thanx_server.kit.pagination import Page
from thanx_server.kit.ratelimit import Budget, RateLimiter, Window
from thanx_server.kit.time import utcnow
from thanx_server.metrics import repository as metrics_repository
from thanx_server.models.console import ConsoleSession
from thanx_server.operators import repository as operator_repository
from thanx_server.operators.service import OperatorCache, authenticate_operator
from thanx_server.reward import repository as reward_repository
from thanx_server.settings import Settings
from thanx_server.tag import service as tag_service
from thanx_server.user import service as user_service
from thanx_server.user.service import UserView
from thanx_server.webhook import service as webhook_service
from thanx_server.webhook.service import OutboxHealth

# A console session lasts this long from sign-in (machine time), then signs in again.
SESSION_LIFETIME = timedelta(hours=12)
_CSRF_LABEL = b"thanx-console-csrf"


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """Who is signed in, what they may touch, and the CSRF token of their session."""

    principal: ControlPrincipal
    session_id: str  # the digest stored
    csrf_token: str

    @property
    def is_operator(self) -> bool:
        return self.principal.is_operator


def csrf_token(secret: str) -> str:
    return hmac.new(secret.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def sign_in_limiter(settings: Settings) -> RateLimiter:
    """The process's counter of failed console sign-ins, one window per key: a client address
    (``addr:``) and a client id (``client:``) each get
    ``THANX_CONSOLE_SIGN_IN_FAILURES_PER_15_MINUTES`` failures in any 15 minutes. Only failures
    count, so signing in often is never refused; a spent key refuses every attempt, right or
    wrong, until its oldest failure ages out (a guesser learns nothing from then on)."""
    return RateLimiter(
        (
            Window(
                RateLimitItemPerMinute(settings.console_sign_in_failures_per_15_minutes, 15),
                "15 minutes",
            ),
        ),
        storage_url=settings.rate_limit_storage,
        key_prefix=f"{settings.rate_limit_key_prefix}:console-sign-in",
        budget_seconds=settings.rate_limit_redis_budget_ms / 1000,
    )


def _sign_in_keys(address: str | None, client_id: str) -> list[str]:
    keys = [f"addr:{address or 'unknown'}"]
    if client_id:
        keys.append(f"client:{client_id[:64]}")
    return keys


async def refuse_spent_sign_in(
    limiter: RateLimiter, *, address: str | None, client_id: str
) -> None:
    """429 ``RATE_LIMITED`` (with Retry-After) when this address or this client id has used
    its failed sign-ins; before the credential is even looked up."""
    for key in _sign_in_keys(address, client_id):
        budget = await limiter.spent(key)
        if budget is None:
            continue
        retry = (
            max(1, math.ceil((budget.reset_at - utcnow()).total_seconds()))
            if budget.reset_at
            else 1
        )
        what = "this address" if key.startswith("addr:") else "this client id"
        raise RateLimited(
            f"Too many failed sign-ins from {what} ({budget.limit} in {budget.window}); "
            f"retry in {retry} s.",
            headers={"Retry-After": str(retry)},
        )


async def count_failed_sign_in(
    limiter: RateLimiter, *, address: str | None, client_id: str
) -> None:
    for key in _sign_in_keys(address, client_id):
        with contextlib.suppress(RateLimited):  # a concurrent failure spent it first: still spent
            await limiter.hit(key)


async def sign_in(
    session: AsyncSession,
    *,
    client_id: str,
    token: str,
    operator_cache: OperatorCache | None = None,
    credential_cache: CredentialCache | None = None,
) -> str:
    """Check an operator or partner credential and open a session; returns the cookie's secret.

    The client id is tried among operators first, then partners (as the sandbox controls do);
    any partner credential may sign in and sees only its merchants. 401 otherwise.
    """
    client_id, token = client_id.strip(), token.strip()
    if not client_id or not token:
        raise AuthenticationFailed()
    operator = await authenticate_operator(
        session, client_id=client_id, token=token, cache=operator_cache
    )
    if operator is not None:
        kind = OPERATOR
    else:
        await authenticate_partner(
            session,
            client_id=client_id,
            token=token,
            required_scopes=frozenset(),
            cache=credential_cache,
        )
        kind = PARTNER
    now = utcnow()
    await repository.delete_expired(session, now)
    secret = new_secret()
    repository.add_session(
        session,
        ConsoleSession(
            id=hash_secret(secret),
            kind=kind,
            client_id=client_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        ),
    )
    await session.flush()
    return secret


async def current_user(session: AsyncSession, secret: str | None) -> ConsoleUser | None:
    """The session of a cookie's secret, with its credential read again (a revoked credential
    or a partner's changed merchants take effect at once); None when there is none."""
    if not secret:
        return None
    digest = hash_secret(secret)
    row = await repository.find_session(session, digest, utcnow())
    if row is None:
        return None
    principal: ControlPrincipal
    if row.kind == OPERATOR:
        operator = await operator_repository.find(session, row.client_id)
        if operator is None or operator.revoked_at is not None:
            return None
        principal = ControlPrincipal(
            kind=OPERATOR, credential_id=operator.id, client_id=operator.client_id
        )
    else:
        record = await auth_repository.find_credential(session, row.client_id)
        if record is None or record.revoked:
            return None
        principal = ControlPrincipal(
            kind=PARTNER,
            credential_id=record.id,
            client_id=record.client_id,
            merchant_ids=record.merchant_ids,
        )
    return ConsoleUser(principal=principal, session_id=digest, csrf_token=csrf_token(secret))


async def sign_out(session: AsyncSession, user: ConsoleUser) -> None:
    await repository.delete_session(session, user.session_id)


# An operator's overview shows this many credentials' budgets (the most recently used).
BUDGETS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class CredentialBudgets:
    client_id: str
    windows: list[Budget]


async def rate_limit_budgets(
    session: AsyncSession, user: ConsoleUser, limiter: RateLimiter | None
) -> list[CredentialBudgets] | None:
    """The rate-limit budgets in use (None: rate limiting is off): a partner's own credential;
    for an operator, the most recently used partner credentials'. Read through the limiter's
    one read (``RateLimiter.budgets``), never from its storage directly."""
    if limiter is None:
        return None
    if user.is_operator:
        client_ids = await repository.active_client_ids(session, BUDGETS_SHOWN)
    else:
        client_ids = [user.principal.client_id]
    return [
        CredentialBudgets(client_id=client_id, windows=await limiter.budgets(client_id))
        for client_id in client_ids
    ]


@dataclass(frozen=True, slots=True)
class Overview:
    merchants: list[dict[str, Any]]
    jobs_by_state: dict[str, int]
    oldest_waiting: datetime | None
    oldest_waiting_age: timedelta | None
    outbox: OutboxHealth
    oldest_delivery_age: timedelta | None
    budgets: list[CredentialBudgets] | None


async def merchants(session: AsyncSession, user: ConsoleUser) -> list[dict[str, Any]]:
    """The user's merchants with their counts (the overview's table, the controls' choices)."""
    rows = await repository.merchant_counts(session, user.principal.merchants())
    return [dict(row._mapping) for row in rows]


async def overview(
    session: AsyncSession, user: ConsoleUser, limiter: RateLimiter | None
) -> Overview:
    """Counts per merchant, the queue of issuance jobs, the webhook outbox and the rate-limit
    budgets, within what the user may see (the job queue read by the same queries as
    ``/metrics``, narrowed to the user's merchants)."""
    scope = user.principal.merchants()
    jobs = await metrics_repository.jobs_by_state(session, scope)
    oldest = await metrics_repository.oldest_waiting_job(session, scope)
    outbox = await webhook_service.outbox_health(session, scope)
    now = business_now()
    return Overview(
        merchants=await merchants(session, user),
        jobs_by_state=jobs,
        oldest_waiting=oldest,
        # Jobs are stamped with business time: their age is read on the same clock.
        oldest_waiting_age=max(timedelta(0), now - oldest) if oldest else None,
        outbox=outbox,
        oldest_delivery_age=(
            max(timedelta(0), now - outbox.oldest_pending) if outbox.oldest_pending else None
        ),
        budgets=await rate_limit_budgets(session, user, limiter),
    )


MEMBER_REWARDS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class RewardLine:
    id: str
    state: str  # as of the (sandbox) clock: ``retired`` once past retire_at and unused
    retire_at: datetime | None
    time_left: timedelta | None  # before retire_at, on the clock; None without one
    campaign_id: str | None


@dataclass(frozen=True, slots=True)
class MemberView:
    member: UserView
    rewards: list[RewardLine]
    tags: list[tuple[str, str]]  # key, its values joined
    now: datetime


async def find_member(session: AsyncSession, user: ConsoleUser, query: str) -> MemberView | None:
    """The member with this e-mail (anything with an ``@``) or phone among the user's
    merchants, found by the Partner API's own lookup (same normalisation, 400 naming ``q``
    when it is neither), with their rewards in every state, points, tier and tags."""
    query = query.strip()
    by_email = "@" in query
    try:
        found = await user_service.list_users(
            session,
            user.principal,
            merchant_id=None,
            email=query if by_email else None,
            phone=None if by_email else query,
            updated_after=None,
            updated_before=None,
            page=Page(1, 1),
        )
    except AppError as exc:  # an e-mail or phone the API would refuse: name the form's field
        if exc.status_code != 400:
            raise
        raise ValidationFailed(f"q: {exc.message}") from None
    if not found.items:
        return None
    view: UserView = found.items[0]
    scope = user.principal.merchants()
    now = business_now()
    rewards = await reward_repository.member_rewards(
        session, user_id=view.user.id, scope=scope, limit=MEMBER_REWARDS_SHOWN
    )
    tags = await tag_service.list_tags(
        session,
        user.principal,
        merchant_id=None,
        user_ids=[view.user.id],
        key=None,
        page=Page(1, 100),
    )
    return MemberView(
        member=view,
        rewards=[
            RewardLine(
                id=r.id,
                state=reward_state(r.state, r.retire_at, now).value,
                retire_at=r.retire_at,
                time_left=(r.retire_at - now) if r.retire_at is not None else None,
                campaign_id=r.campaign_id,
            )
            for r in rewards
        ],
        tags=[(t.key, ", ".join(t.values)) for t in tags.items],
        now=now,
    )
