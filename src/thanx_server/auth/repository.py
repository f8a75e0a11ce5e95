"""SQL for credential lookup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import EndUserToken, PartnerCredential, PartnerMerchant, User
from thanx_server.user.repository import member_of


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    id: str
    partner_id: str
    client_id: str
    token_hash: str
    scopes: frozenset[str]
    revoked: bool
    last_used_at: datetime | None
    merchant_ids: tuple[str, ...]


# Built once: every partner call whose credential is not in the process's cache reads it.
_CREDENTIAL = (
    select(PartnerCredential, PartnerMerchant.merchant_id)
    .outerjoin(PartnerMerchant, PartnerMerchant.partner_id == PartnerCredential.partner_id)
    .where(PartnerCredential.client_id == bindparam("client_id"))
    .order_by(PartnerMerchant.merchant_id)
)
# The token with the credential that minted it: a token lives no longer than its credential.
_END_USER_TOKEN = (
    select(EndUserToken, PartnerCredential.client_id, PartnerCredential.revoked_at)
    .outerjoin(PartnerCredential, PartnerCredential.id == EndUserToken.credential_id)
    .where(EndUserToken.token_hash == bindparam("token_hash"))
)


@dataclass(frozen=True, slots=True)
class EndUserTokenRecord:
    id: str
    user_id: str
    merchant_id: str
    expires_at: datetime | None
    # None when the minting credential no longer exists.
    client_id: str | None
    # The token, or the credential that minted it, was revoked.
    revoked: bool


async def find_credential(session: AsyncSession, client_id: str) -> CredentialRecord | None:
    """The credential for ``client_id`` with its partner's merchants, in one round trip."""
    rows = (await session.execute(_CREDENTIAL, {"client_id": client_id})).all()
    if not rows:
        return None
    credential: PartnerCredential = rows[0][0]
    return CredentialRecord(
        id=credential.id,
        partner_id=credential.partner_id,
        client_id=client_id,
        token_hash=credential.token_hash,
        scopes=frozenset(credential.scopes or ()),
        revoked=credential.revoked_at is not None,
        last_used_at=credential.last_used_at,
        merchant_ids=tuple(row[1] for row in rows if row[1] is not None),
    )


async def touch_credential(session: AsyncSession, credential_id: str, when: datetime) -> None:
    await session.execute(
        update(PartnerCredential)
        .where(PartnerCredential.id == credential_id)
        .values(last_used_at=when)
    )


async def find_member_ids(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    user_id: str | None,
    email: str | None,
    phone: str | None,
) -> list[str]:
    """One user id per identifier given that names an enrolled member of ``scope``."""
    conditions = []
    if user_id is not None:
        conditions.append(User.id == user_id)
    if email is not None:
        conditions.append(User.email == email)
    if phone is not None:
        conditions.append(User.phone == phone)
    rows = (
        await session.execute(
            select(User.id, User.email, User.phone).where(or_(*conditions), member_of(scope))
        )
    ).all()
    ids: list[str] = []
    for value, column in ((user_id, "id"), (email, "email"), (phone, "phone")):
        if value is not None:
            ids.extend(row.id for row in rows if getattr(row, column) == value)
    return ids


async def find_end_user_token(session: AsyncSession, token_hash: str) -> EndUserTokenRecord | None:
    row = (await session.execute(_END_USER_TOKEN, {"token_hash": token_hash})).first()
    if row is None:
        return None
    token: EndUserToken = row[0]
    return EndUserTokenRecord(
        id=token.id,
        user_id=token.user_id,
        merchant_id=token.merchant_id,
        expires_at=token.expires_at,
        client_id=row.client_id,
        revoked=token.revoked_at is not None or row.revoked_at is not None,
    )


async def revoke_end_user_tokens(
    session: AsyncSession, *, user_id: str | None, credential_id: str | None, at: datetime
) -> int:
    """Revoke every live token of the user and/or minted by the credential; how many."""
    conditions: list[ColumnElement[bool]] = [EndUserToken.revoked_at.is_(None)]
    if user_id is not None:
        conditions.append(EndUserToken.user_id == user_id)
    if credential_id is not None:
        conditions.append(EndUserToken.credential_id == credential_id)
    result = await session.execute(
        update(EndUserToken)
        .where(*conditions)
        .values(revoked_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def credential_id_of(session: AsyncSession, client_id: str) -> str | None:
    found: str | None = await session.scalar(
        select(PartnerCredential.id).where(PartnerCredential.client_id == client_id)
    )
    return found
