"""SQL for credential lookup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.models import PartnerCredential, PartnerMerchant


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


async def find_credential(session: AsyncSession, client_id: str) -> CredentialRecord | None:
    """The credential for ``client_id`` with its partner's merchants, in one round trip."""
    cred = PartnerCredential
    rows = (
        await session.execute(
            select(
                cred.id,
                cred.partner_id,
                cred.token_hash,
                cred.scopes,
                cred.revoked_at,
                cred.last_used_at,
                PartnerMerchant.merchant_id,
            )
            .outerjoin(PartnerMerchant, PartnerMerchant.partner_id == cred.partner_id)
            .where(cred.client_id == client_id)
            .order_by(PartnerMerchant.merchant_id)
        )
    ).all()
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
