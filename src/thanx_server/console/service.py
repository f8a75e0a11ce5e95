"""The console's rules: signing in and out, the session behind each page, its CSRF token, and
what the overview shows. Pages reuse the features' services for everything else.

A session is a random secret in an HttpOnly cookie; the database keeps only its digest. The CSRF
token of a session is derived from that secret (an HMAC under a fixed label), so it needs no
storage, differs per session, and cannot be computed by a page that cannot read the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
from thanx_server.kit.clock import business_now
from thanx_server.kit.errors import AuthenticationFailed
from thanx_server.kit.ids import hash_secret, new_secret
from thanx_server.kit.time import utcnow
from thanx_server.metrics import repository as metrics_repository
from thanx_server.models.console import ConsoleSession
from thanx_server.operators import repository as operator_repository
from thanx_server.operators.service import OperatorCache, authenticate_operator

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


@dataclass(frozen=True, slots=True)
class Overview:
    merchants: list[dict[str, Any]]
    jobs_by_state: dict[str, int]
    oldest_waiting: datetime | None
    oldest_waiting_age: timedelta | None


async def overview(session: AsyncSession, user: ConsoleUser) -> Overview:
    """Counts per merchant and the queue of issuance jobs, within what the user may see (the
    queue read by the same queries as ``/metrics``, narrowed to the user's merchants)."""
    scope = user.principal.merchants()
    rows = await repository.merchant_counts(session, scope)
    jobs = await metrics_repository.jobs_by_state(session, scope)
    oldest = await metrics_repository.oldest_waiting_job(session, scope)
    return Overview(
        merchants=[dict(row._mapping) for row in rows],
        jobs_by_state=jobs,
        oldest_waiting=oldest,
        # Jobs are stamped with business time: their age is read on the same clock.
        oldest_waiting_age=max(timedelta(0), business_now() - oldest) if oldest else None,
    )
