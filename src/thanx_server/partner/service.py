"""Operator rules for partners: create one with a credential, revoke a credential, list them.

The access token is returned once, at creation; only its digest is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.kit.errors import NotFound, ValidationFailed
from thanx_server.kit.ids import hash_secret, new_id, new_secret
from thanx_server.kit.time import utcnow
from thanx_server.models import Partner, PartnerCredential, PartnerMerchant
from thanx_server.partner import repository


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    partner_id: str
    partner_name: str
    client_id: str
    access_token: str
    scopes: list[str]
    merchant_ids: list[str]


@dataclass(frozen=True, slots=True)
class CredentialView:
    client_id: str
    scopes: list[str]
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class PartnerView:
    id: str
    name: str
    merchant_ids: list[str]
    credentials: list[CredentialView]


def _check_scopes(scopes: Sequence[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValidationFailed(
            f"scope: unknown scope(s) {', '.join(unknown)}; known: {', '.join(ALL_SCOPES)}"
        )
    return sorted(set(scopes))


async def create_partner(
    session: AsyncSession,
    *,
    name: str,
    scopes: Sequence[str],
    merchant_ids: Sequence[str],
    client_id: str | None = None,
    access_token: str | None = None,
) -> IssuedCredential:
    """Create a partner with one credential. ``client_id``/``access_token`` may be fixed (demo)."""
    name = name.strip()
    if not name:
        raise ValidationFailed("name: must not be blank")
    checked_scopes = _check_scopes(scopes)
    wanted = sorted(set(merchant_ids))
    missing = sorted(set(wanted) - await repository.existing_merchant_ids(session, wanted))
    if missing:
        raise NotFound(f"merchant: no merchant {', '.join(missing)}")
    partner = Partner(name=name)
    session.add(partner)
    await session.flush()
    token = access_token or new_secret()
    credential = PartnerCredential(
        partner_id=partner.id,
        client_id=client_id or new_id(),
        token_hash=hash_secret(token),
        scopes=checked_scopes,
    )
    session.add(credential)
    session.add_all(PartnerMerchant(partner_id=partner.id, merchant_id=m) for m in wanted)
    await session.flush()
    return IssuedCredential(
        partner_id=partner.id,
        partner_name=partner.name,
        client_id=credential.client_id,
        access_token=token,
        scopes=checked_scopes,
        merchant_ids=wanted,
    )


async def grant_scopes(session: AsyncSession, partner_id: str, scopes: Sequence[str]) -> bool:
    """Add ``scopes`` to every active credential of the partner (the demo partner keeps every
    scope as new ones appear). True when a credential changed; effective within the
    credential cache's bound."""
    wanted = _check_scopes(scopes)
    changed = False
    for credential in await repository.active_credentials(session, partner_id):
        merged = sorted(set(credential.scopes) | set(wanted))
        if merged != sorted(credential.scopes):
            credential.scopes = merged
            changed = True
    await session.flush()
    return changed


async def revoke_credential(session: AsyncSession, *, client_id: str) -> CredentialView:
    credential = await repository.get_credential_by_client_id(session, client_id)
    if credential is None:
        raise NotFound(f"client_id: no credential '{client_id}'")
    if credential.revoked_at is None:
        credential.revoked_at = utcnow()
        await session.flush()
    return CredentialView(
        client_id=credential.client_id,
        scopes=list(credential.scopes),
        revoked_at=credential.revoked_at,
        last_used_at=credential.last_used_at,
    )


async def list_partners(session: AsyncSession) -> list[PartnerView]:
    return [
        PartnerView(
            id=partner.id,
            name=partner.name,
            merchant_ids=list(merchants),
            credentials=[
                CredentialView(
                    client_id=c.client_id,
                    scopes=list(c.scopes),
                    revoked_at=c.revoked_at,
                    last_used_at=c.last_used_at,
                )
                for c in creds
            ],
        )
        for partner, creds, merchants in await repository.list_partners(session)
    ]


async def find_partner(session: AsyncSession, name: str) -> Partner | None:
    return await repository.get_partner_by_name(session, name)
