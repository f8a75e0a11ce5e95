"""Arrange helpers: build records through the services, as an operator would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.merchant import service as merchant_service
from thanx_server.models import Location, Membership, Merchant, RewardTemplate, User
from thanx_server.partner import service as partner_service

if TYPE_CHECKING:
    from thanx_server.campaign.service import CampaignView

_seq = itertools.count(1)


@dataclass(frozen=True)
class Credential:
    client_id: str
    access_token: str
    partner_id: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "X-ClientId": self.client_id,
            "Accept-Version": "v4.0",
            **extra,
        }


class Factory:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def merchant(self, **kw: Any) -> Merchant:
        n = next(_seq)
        return await merchant_service.create_merchant(
            self.session,
            name=kw.get("name", f"Merchant {n}"),
            handle=kw.get("handle", f"merchant{n}"),
            time_zone=kw.get("time_zone", "America/Los_Angeles"),
        )

    async def location(self, merchant: Merchant, **kw: Any) -> Location:
        n = next(_seq)
        return await merchant_service.create_location(
            self.session,
            merchant_id=merchant.id,
            name=kw.get("name", f"Location {n}"),
            street=kw.get("street", f"{n} Main St"),
            city=kw.get("city", "San Francisco"),
            state=kw.get("state", "CA"),
            zip_code=kw.get("zip_code", "94105"),
            phone=kw.get("phone", "(415) 555-0100"),
        )

    async def member(self, merchant: Merchant, **kw: Any) -> tuple[User, Membership]:
        from thanx_server.user import service as user_service

        n = next(_seq)
        return await user_service.create_member(
            self.session,
            merchant_id=merchant.id,
            email=kw.get("email", f"user{n}@example.com"),
            phone=kw.get("phone", f"+1415555{n % 10000:04d}"),
            first_name=kw.get("first_name", "Test"),
            last_name=kw.get("last_name", f"User{n}"),
            tier=kw.get("tier", "bronze"),
        )

    async def partner(
        self, merchants: list[Merchant], scopes: tuple[str, ...] | list[str] = ALL_SCOPES
    ) -> Credential:
        issued = await partner_service.create_partner(
            self.session,
            name=f"Partner {next(_seq)}",
            scopes=list(scopes),
            merchant_ids=[m.id for m in merchants],
        )
        return Credential(issued.client_id, issued.access_token, issued.partner_id)

    async def template(self, merchant: Merchant, **kw: Any) -> RewardTemplate:
        from thanx_server.template import service as template_service

        return await template_service.create_template(
            self.session,
            merchant_id=merchant.id,
            name=kw.get("name", f"Template {next(_seq)}"),
            description=kw.get("description", "One free coffee, any size"),
            fine_print=kw.get("fine_print", "Valid at participating locations"),
            discount_type=kw.get("discount_type", "free_item"),
            discount_value=kw.get("discount_value"),
            redemption_venue=kw.get("redemption_venue", "in_store"),
            published=kw.get("published", True),
        )

    async def campaign(
        self,
        merchant: Merchant,
        *,
        template: RewardTemplate | None = None,
        control: bool = True,
        partner_id: str | None = None,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        name: str | None = None,
    ) -> CampaignView:
        """A campaign with a ``Treatment`` variant (and a ``Control`` one unless control=False)."""
        from thanx_server.campaign import service as campaign_service
        from thanx_server.campaign.schemas import CampaignIn, VariantIn

        template = template or await self.template(merchant)
        now = datetime.now(UTC)
        start = start_at or now - timedelta(days=1)
        end = end_at or now + timedelta(days=30)
        variants = [VariantIn(name="Treatment", reward_template_id=template.id)]
        if control:
            variants.append(VariantIn(name="Control"))
        return await campaign_service.create_campaign(
            self.session,
            merchant_id=merchant.id,
            partner_id=partner_id,
            data=CampaignIn(
                merchant_id=merchant.id,
                name=name or f"Campaign {next(_seq)}",
                objective="Re-engage lapsed guests",
                fine_print="Limit one per guest",
                start_at=start,
                end_at=end,
                redeemable_from=start,
                redeemable_to=end + timedelta(days=30),
                variants=variants,
            ),
        )
