"""Rules for campaigns (CONTRACT row 12).

* 1-4 variants with distinct names; a variant named ``Control`` (any case) is the holdout and takes
  no template; every other variant needs a published template of the campaign's merchant; at least
  one variant must be a treatment.
* ``end_at >= start_at`` and ``redeemable_to >= redeemable_from`` (equal is allowed).
* A time without an offset is read in the merchant's zone; ``time_zone`` is the merchant's.
* The state is derived from now: ``scheduled`` before ``start_at``, ``ended`` after ``end_at``,
  ``active`` in between (both ends included). The rule and its SQL twin are
  ``domain/states.campaign_state`` / ``campaign_state_clause``; nothing stores a campaign state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal
from thanx_server.campaign import repository
from thanx_server.campaign.repository import CampaignFields, VariantFields
from thanx_server.campaign.schemas import CampaignIn
from thanx_server.domain.states import CAMPAIGN_STATES, CampaignState
from thanx_server.domain.states import campaign_state as state_at
from thanx_server.kit.clock import business_now
from thanx_server.kit.errors import NotFound, ValidationFailed
from thanx_server.kit.ids import new_id
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Campaign, CampaignVariant
from thanx_server.template import repository as template_repository

CONTROL = "control"


def is_control(name: str) -> bool:
    return name.strip().casefold() == CONTROL


def campaign_state(campaign: CampaignFields, now: datetime) -> CampaignState:
    return state_at(campaign.start_at, campaign.end_at, now)


@dataclass(frozen=True, slots=True)
class CampaignView:
    campaign: CampaignFields
    variants: Sequence[VariantFields]
    state: CampaignState


async def create_partner_campaign(
    session: AsyncSession, principal: PartnerPrincipal, *, data: CampaignIn
) -> CampaignView:
    """POST /partner/campaigns: a campaign owned by the calling partner."""
    merchant_id = principal.merchant(data.merchant_id)
    return await create_campaign(
        session, merchant_id=merchant_id, partner_id=principal.partner_id, data=data
    )


async def create_campaign(
    session: AsyncSession,
    *,
    merchant_id: str,
    partner_id: str | None,
    data: CampaignIn,
    fixed_ids: Sequence[str] = (),
) -> CampaignView:
    """``fixed_ids`` (sandbox fixtures): the campaign's id, then its variants', in order;
    the ids not given are drawn."""
    scope = MerchantScope.one(merchant_id)
    template_ids = [v.reward_template_id for v in data.variants if v.reward_template_id]
    found = await template_repository.zone_and_published_ids(session, scope, template_ids)
    if found is None:
        raise NotFound(f"campaign.merchant_id: no merchant '{merchant_id}'")
    time_zone, published = found
    zone = ZoneInfo(time_zone)
    start_at, end_at, redeemable_from, redeemable_to = (
        _aware(value, zone)
        for value in (data.start_at, data.end_at, data.redeemable_from, data.redeemable_to)
    )
    errors: list[str] = []
    name = data.name.strip()
    if not name:
        errors.append("campaign.name: must not be blank")
    if end_at < start_at:
        errors.append("campaign.end_at: must not be before campaign.start_at")
    if redeemable_to < redeemable_from:
        errors.append("campaign.redeemable_to: must not be before campaign.redeemable_from")
    errors.extend(_variant_errors(merchant_id, published, data))
    if errors:
        raise ValidationFailed("; ".join(errors[:5]) + _more(len(errors)))
    now = business_now()
    chosen = iter(fixed_ids)
    campaign = Campaign(
        id=next(chosen, None) or new_id(),
        merchant_id=merchant_id,
        partner_id=partner_id,
        name=name,
        objective=data.objective,
        fine_print=data.fine_print,
        start_at=start_at,
        end_at=end_at,
        redeemable_from=redeemable_from,
        redeemable_to=redeemable_to,
        time_zone=time_zone,
        created_at=now,
    )
    variants = []
    for position, variant_in in enumerate(data.variants):
        control = is_control(variant_in.name)
        variants.append(
            CampaignVariant(
                id=next(chosen, None) or new_id(),
                campaign_id=campaign.id,
                name="Control" if control else variant_in.name.strip(),
                reward_template_id=None if control else variant_in.reward_template_id,
                position=position,
            )
        )
    await repository.add_campaign(session, campaign, variants)
    return CampaignView(campaign, variants, campaign_state(campaign, now))


def _variant_errors(merchant_id: str, published: set[str], data: CampaignIn) -> list[str]:
    """``published``: which of the variants' templates are published ones of the merchant."""
    errors: list[str] = []
    seen: set[str] = set()
    treatments = 0
    for index, variant in enumerate(data.variants):
        field = f"campaign.variants[{index}]"
        key = variant.name.strip().casefold()
        if not key:
            errors.append(f"{field}.name: must not be blank")
        elif key in seen:
            errors.append(f"{field}.name: duplicate variant name '{variant.name.strip()}'")
        seen.add(key)
        if is_control(variant.name):
            if variant.reward_template_id:
                errors.append(
                    f"{field}.reward_template_id: a Control variant takes no reward template"
                )
            continue
        treatments += 1
        if not variant.reward_template_id:
            errors.append(f"{field}.reward_template_id: is required for a treatment variant")
        elif variant.reward_template_id not in published:
            errors.append(
                f"{field}.reward_template_id: no published reward template "
                f"'{variant.reward_template_id}' of merchant '{merchant_id}'"
            )
    if treatments == 0 and data.variants:
        errors.append("campaign.variants: at least one variant must be a treatment (not Control)")
    return errors


def _more(count: int) -> str:
    return f"; ... and {count - 5} more" if count > 5 else ""


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


async def list_campaigns(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    merchant_id: str | None,
    states: Sequence[str],
    page: Page,
) -> PageResult[CampaignView]:
    unknown = sorted(set(states) - set(CAMPAIGN_STATES.states))
    if unknown:
        raise ValidationFailed(
            f"states: '{unknown[0]}' is not one of {', '.join(CAMPAIGN_STATES.states)}"
        )
    now = business_now()
    result = await repository.list_partner_campaigns(
        session, principal.merchants(merchant_id), states=sorted(set(states)), now=now, page=page
    )
    variants = await repository.variants_of(session, [c.id for c in result.items])
    views = [CampaignView(c, variants[c.id], campaign_state(c, now)) for c in result.items]
    return PageResult(items=views, total=result.total, page=result.page)


async def get_campaign(
    session: AsyncSession, principal: PartnerPrincipal, *, campaign_id: str, merchant_id: str | None
) -> CampaignView:
    found = await repository.get_campaign(session, principal.merchants(merchant_id), campaign_id)
    if found is None:
        raise NotFound(f"id: no campaign '{campaign_id}'")
    campaign, variants = found
    return CampaignView(campaign, variants, campaign_state(campaign, business_now()))


async def find_campaign_by_name(
    session: AsyncSession, *, merchant_id: str, name: str
) -> CampaignView | None:
    campaign = await repository.find_by_name(session, MerchantScope.one(merchant_id), name)
    if campaign is None:
        return None
    variants = await repository.variants_of(session, [campaign.id])
    return CampaignView(campaign, variants[campaign.id], campaign_state(campaign, business_now()))
