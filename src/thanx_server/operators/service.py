"""Operator credentials: create (token shown once), list, revoke, authenticate.

An operator credential is a client id and a 256-bit access token, stored as its SHA-256 digest
like a partner's (kit/ids.py). It steers the whole sandbox; it is not a partner and reaches no
Partner API endpoint.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.errors import AuthenticationFailed, NotFound, ValidationFailed
from thanx_server.kit.ids import hash_secret, new_id, new_secret
from thanx_server.kit.time import utcnow
from thanx_server.kit.ttlcache import TtlCache
from thanx_server.models import OperatorCredential
from thanx_server.operators import repository

# Fixed credentials (fixtures, CI configs) must still be hard to guess.
MIN_TOKEN_LENGTH = 16
MAX_CLIENT_ID_LENGTH = 64


@dataclass(frozen=True, slots=True)
class OperatorPrincipal:
    """An authenticated operator credential."""

    credential_id: str
    client_id: str
    name: str


@dataclass(frozen=True, slots=True)
class IssuedOperator:
    """A new operator credential; ``access_token`` is shown this once."""

    name: str
    client_id: str
    access_token: str


@dataclass(frozen=True, slots=True)
class OperatorView:
    name: str
    client_id: str
    created_at: datetime
    revoked_at: datetime | None


class OperatorCache(TtlCache[tuple[str, str], OperatorPrincipal]):
    """Authenticated operators by (client id, token digest), for ``THANX_AUTH_CACHE_SECONDS``
    (a revoked operator stops working within that bound, as a partner does)."""


def check_fixed_credentials(client_id: str | None, access_token: str | None, field: str) -> None:
    """Rules for a client id / token chosen by the caller (fixtures, demo) instead of drawn."""
    if client_id is not None and not (
        0 < len(client_id) <= MAX_CLIENT_ID_LENGTH
        and client_id.isprintable()
        and " " not in client_id
    ):
        raise ValidationFailed(
            f"{field}.client_id: 1 to {MAX_CLIENT_ID_LENGTH} printable characters, no spaces"
        )
    if access_token is not None and (
        len(access_token) < MIN_TOKEN_LENGTH
        or not access_token.isprintable()
        or " " in access_token
    ):
        raise ValidationFailed(
            f"{field}.access_token: at least {MIN_TOKEN_LENGTH} printable characters, no spaces"
        )


async def create_operator(
    session: AsyncSession,
    *,
    name: str,
    client_id: str | None = None,
    access_token: str | None = None,
) -> IssuedOperator:
    """A new operator credential; ``client_id``/``access_token`` may be fixed (fixtures, demo)."""
    name = name.strip()
    if not name:
        raise ValidationFailed("name: must not be blank")
    check_fixed_credentials(client_id, access_token, "operator")
    client_id = client_id or new_id()
    if await repository.find(session, client_id) is not None:
        raise ValidationFailed(f"client_id: an operator credential '{client_id}' already exists")
    token = access_token or new_secret()
    repository.add(
        session,
        OperatorCredential(name=name, client_id=client_id, token_hash=hash_secret(token)),
    )
    await session.flush()
    return IssuedOperator(name=name, client_id=client_id, access_token=token)


async def list_operators(session: AsyncSession) -> list[OperatorView]:
    return [_view(c) for c in await repository.list_all(session)]


async def revoke_operator(session: AsyncSession, *, client_id: str) -> OperatorView:
    credential = await repository.find(session, client_id)
    if credential is None:
        raise NotFound(f"client_id: no operator credential '{client_id}'")
    if credential.revoked_at is None:
        credential.revoked_at = utcnow()
        await session.flush()
    return _view(credential)


async def find_active_by_name(session: AsyncSession, name: str) -> OperatorCredential | None:
    return await repository.find_by_name(session, name)


def _view(credential: OperatorCredential) -> OperatorView:
    return OperatorView(
        name=credential.name,
        client_id=credential.client_id,
        created_at=credential.created_at,
        revoked_at=credential.revoked_at,
    )


# Compared against when the client id is unknown, so both paths cost one digest comparison.
_DUMMY_DIGEST = hash_secret("thanx-server-unknown-operator")


async def authenticate_operator(
    session: AsyncSession,
    *,
    client_id: str,
    token: str,
    cache: OperatorCache | None = None,
) -> OperatorPrincipal | None:
    """The operator behind ``client_id`` and ``token``.

    None when no operator credential has this client id (the caller may then try a partner
    credential); 401 when one has it but the token is wrong or the credential is revoked.
    """
    digest = hash_secret(token)
    key = (client_id, digest)
    principal = cache.get(key) if cache is not None else None
    if principal is not None:
        return principal
    record = await repository.find(session, client_id)
    valid = hmac.compare_digest(digest, record.token_hash if record else _DUMMY_DIGEST)
    if record is None:
        return None
    if not valid or record.revoked_at is not None:
        raise AuthenticationFailed()
    principal = OperatorPrincipal(
        credential_id=record.id, client_id=record.client_id, name=record.name
    )
    if cache is not None:
        cache.put(key, principal)
    return principal
