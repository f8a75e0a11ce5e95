"""End-user access tokens (CONTRACT row 13): minted for partners, used on the Consumer API.

The token is 32 random bytes shown once; only its SHA-256 digest is stored.

A token lives no longer than the partner credential that minted it: revoking the credential
ends its tokens within ``THANX_AUTH_CACHE_SECONDS`` (the same bound as the credential itself;
each lookup joins the credential), and ``thanx-server admin token revoke`` ends the tokens of a
user or of a credential explicitly. Consumer calls are rate limited against the minting
credential's client id (the documented limits are per client id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth import repository
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.domain.identifiers import match_key_email, normalize_phone
from thanx_server.kit.errors import AuthenticationFailed, NotFound, ValidationFailed
from thanx_server.kit.ids import hash_secret, new_secret
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.kit.ttlcache import TtlCache
from thanx_server.models import EndUserToken

MIN_TTL_S = 60
MAX_TTL_S = 3600
TOKEN_SCOPE = "passwordless"  # noqa: S105 (an OAuth scope name, not a secret)
UNKNOWN_USER = "Unknown user"


@dataclass(frozen=True, slots=True)
class MintedToken:
    access_token: str
    created_at: datetime
    expires_in: int | None


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    """The end user behind a consumer call, and the merchant their token was minted for."""

    token_id: str
    user_id: str
    merchant_id: str
    expires_at: datetime | None = None
    # The client id of the partner credential that minted the token: whose rate limits apply.
    client_id: str | None = None


async def mint_token(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    merchant_id: str,
    user_id: str | None,
    email: str | None,
    phone: str | None,
    expires_in: int | None,
    default_ttl: timedelta | None,
) -> MintedToken:
    """Mint a token for an enrolled member of ``merchant_id`` named by id, email and/or phone.

    Every identifier given must name the same member; otherwise, or when the person is not an
    enrolled member of the merchant (a subscriber is not enough), 404 ``Unknown user``.
    """
    merchant_id = principal.merchant(merchant_id)
    if user_id is None and email is None and phone is None:
        raise ValidationFailed("user_id: one of user_id, email or phone is required")
    if expires_in is not None and not MIN_TTL_S <= expires_in <= MAX_TTL_S:
        raise ValidationFailed(f"expires_in: must be between {MIN_TTL_S} and {MAX_TTL_S} seconds")
    norm_phone = None
    if phone is not None:
        norm_phone = normalize_phone(phone)
        if norm_phone is None:  # as in Thanx: an unparseable phone names nobody
            raise NotFound(UNKNOWN_USER)
    matched = await repository.find_member_ids(
        session,
        MerchantScope.one(merchant_id),
        user_id=user_id,
        email=match_key_email(email) if email is not None else None,
        phone=norm_phone,
    )
    given = sum(value is not None for value in (user_id, email, phone))
    if len(matched) != given or len(set(matched)) != 1:
        raise NotFound(UNKNOWN_USER)
    now = utcnow()
    ttl = timedelta(seconds=expires_in) if expires_in is not None else default_ttl
    secret = new_secret()
    session.add(
        EndUserToken(
            token_hash=hash_secret(secret),
            user_id=matched[0],
            merchant_id=merchant_id,
            credential_id=principal.credential_id,
            scope=TOKEN_SCOPE,
            created_at=now,
            expires_at=now + ttl if ttl is not None else None,
        )
    )
    await session.flush()
    return MintedToken(
        access_token=secret,
        created_at=now,
        expires_in=int(ttl.total_seconds()) if ttl is not None else None,
    )


class UserTokenCache(TtlCache[str, UserPrincipal]):
    """End-user tokens by digest, remembered like partner credentials
    (``THANX_AUTH_CACHE_SECONDS``); expiry is still checked on every use."""


async def authenticate_user(
    session: AsyncSession, token: str | None, cache: UserTokenCache | None = None
) -> UserPrincipal:
    """The user behind an end-user token; 401 when unknown, revoked or expired."""
    if not token:
        raise AuthenticationFailed()
    digest = hash_secret(token)
    principal = cache.get(digest) if cache is not None else None
    if principal is None:
        record = await repository.find_end_user_token(session, digest)
        # No minting credential any more (deleted) counts as revoked: every token has one.
        if record is None or record.revoked or record.client_id is None:
            raise AuthenticationFailed()
        principal = UserPrincipal(
            token_id=record.id,
            user_id=record.user_id,
            merchant_id=record.merchant_id,
            expires_at=record.expires_at,
            client_id=record.client_id,
        )
        if cache is not None:
            cache.put(digest, principal)
    if principal.expires_at is not None and principal.expires_at <= utcnow():
        raise AuthenticationFailed("This access token has expired.")
    return principal


@dataclass(frozen=True, slots=True)
class RevokedTokens:
    count: int
    user_id: str | None
    client_id: str | None


async def revoke_tokens(
    session: AsyncSession, *, user_id: str | None, client_id: str | None
) -> RevokedTokens:
    """``admin token revoke``: end every live end-user token of a user, of a credential (by
    client id), or of a user minted by one credential (both given)."""
    if user_id is None and client_id is None:
        raise ValidationFailed("user: give --user and/or --client-id")
    credential_id = None
    if client_id is not None:
        credential_id = await repository.credential_id_of(session, client_id)
        if credential_id is None:
            raise NotFound(f"client_id: no credential '{client_id}'")
    count = await repository.revoke_end_user_tokens(
        session, user_id=user_id, credential_id=credential_id, at=utcnow()
    )
    return RevokedTokens(count=count, user_id=user_id, client_id=client_id)
