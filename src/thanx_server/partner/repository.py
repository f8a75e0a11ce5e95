"""SQL for partners, their credentials and merchant access (operator-side)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Merchant, Partner, PartnerCredential, PartnerMerchant


async def existing_merchant_ids(session: AsyncSession, merchant_ids: Sequence[str]) -> set[str]:
    """Which of ``merchant_ids`` exist (an operator granting a partner access to them)."""
    wanted = MerchantScope(tuple(merchant_ids))
    return set(await session.scalars(select(Merchant.id).where(wanted.clause(Merchant.id))))


async def get_credential_by_client_id(
    session: AsyncSession, client_id: str
) -> PartnerCredential | None:
    return await session.scalar(
        select(PartnerCredential).where(PartnerCredential.client_id == client_id)
    )


async def get_partner_by_name(session: AsyncSession, name: str) -> Partner | None:
    return await session.scalar(select(Partner).where(Partner.name == name))


async def list_partners(
    session: AsyncSession,
) -> Sequence[tuple[Partner, Sequence[PartnerCredential], Sequence[str]]]:
    partners = (await session.scalars(select(Partner).order_by(Partner.created_at))).all()
    creds = (
        await session.scalars(select(PartnerCredential).order_by(PartnerCredential.created_at))
    ).all()
    links = (
        await session.execute(select(PartnerMerchant.partner_id, PartnerMerchant.merchant_id))
    ).all()
    return [
        (
            partner,
            [c for c in creds if c.partner_id == partner.id],
            sorted(m for p, m in links if p == partner.id),
        )
        for partner in partners
    ]


async def active_credentials(session: AsyncSession, partner_id: str) -> Sequence[PartnerCredential]:
    return (
        await session.scalars(
            select(PartnerCredential).where(
                PartnerCredential.partner_id == partner_id, PartnerCredential.revoked_at.is_(None)
            )
        )
    ).all()
