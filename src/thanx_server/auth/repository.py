"""SQL for credential lookup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.fastread import ReadQuery, Reads, select_row
from thanx_server.models import EndUserToken, Membership, PartnerCredential, PartnerMerchant, User


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


class _CredentialMerchantRow(NamedTuple):
    id: str
    partner_id: str
    token_hash: str
    scopes: list[str]
    revoked_at: datetime | None
    last_used_at: datetime | None
    merchant_id: str | None


_CREDENTIAL = ReadQuery(
    _CredentialMerchantRow,
    select(
        PartnerCredential.id,
        PartnerCredential.partner_id,
        PartnerCredential.token_hash,
        PartnerCredential.scopes,
        PartnerCredential.revoked_at,
        PartnerCredential.last_used_at,
        PartnerMerchant.merchant_id,
    )
    .outerjoin(PartnerMerchant, PartnerMerchant.partner_id == PartnerCredential.partner_id)
    .where(PartnerCredential.client_id == bindparam("client_id"))
    .order_by(PartnerMerchant.merchant_id),
)


class EndUserTokenRow(NamedTuple):
    id: str
    user_id: str
    merchant_id: str
    expires_at: datetime | None
    revoked_at: datetime | None


_END_USER_TOKEN = ReadQuery(
    EndUserTokenRow,
    select_row(EndUserTokenRow, EndUserToken).where(
        EndUserToken.token_hash == bindparam("token_hash")
    ),
)


async def find_credential(reads: Reads, client_id: str) -> CredentialRecord | None:
    """The credential for ``client_id`` with its partner's merchants, in one round trip."""
    rows = await reads.all(_CREDENTIAL, client_id=client_id)
    if not rows:
        return None
    first = rows[0]
    return CredentialRecord(
        id=first.id,
        partner_id=first.partner_id,
        client_id=client_id,
        token_hash=first.token_hash,
        scopes=frozenset(first.scopes or ()),
        revoked=first.revoked_at is not None,
        last_used_at=first.last_used_at,
        merchant_ids=tuple(row.merchant_id for row in rows if row.merchant_id is not None),
    )


async def touch_credential(session: AsyncSession, credential_id: str, when: datetime) -> None:
    await session.execute(
        update(PartnerCredential)
        .where(PartnerCredential.id == credential_id)
        .values(last_used_at=when)
    )


async def find_member_ids(
    session: AsyncSession,
    *,
    merchant_id: str,
    user_id: str | None,
    email: str | None,
    phone: str | None,
) -> list[str]:
    """One user id per identifier given that names an enrolled member of ``merchant_id``."""
    conditions = []
    if user_id is not None:
        conditions.append(User.id == user_id)
    if email is not None:
        conditions.append(User.email == email)
    if phone is not None:
        conditions.append(User.phone == phone)
    rows = (
        await session.execute(
            select(User.id, User.email, User.phone)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.merchant_id == merchant_id, or_(*conditions))
        )
    ).all()
    ids: list[str] = []
    for value, column in ((user_id, "id"), (email, "email"), (phone, "phone")):
        if value is not None:
            ids.extend(row.id for row in rows if getattr(row, column) == value)
    return ids


async def find_end_user_token(reads: Reads, token_hash: str) -> EndUserTokenRow | None:
    return await reads.one(_END_USER_TOKEN, token_hash=token_hash)
