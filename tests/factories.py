"""Arrange helpers: build records through the services, as an operator would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.domain.states import FeedbackState
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.merchant import service as merchant_service
from thanx_server.models import Location, Membership, Merchant, RewardTemplate, User
from thanx_server.partner import service as partner_service
from thanx_server.purchase.service import RecordedPurchase

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

    # --- users, subscribers, tags, feedback, purchases (issue #4) ---

    async def set_user_times(
        self, user: User, *, created_at: datetime | None = None, updated_at: datetime | None = None
    ) -> None:
        """Pin a user's timestamps (ordering and updated_after/before tests)."""
        if created_at is not None:
            user.created_at = created_at
        if updated_at is not None:
            user.updated_at = updated_at
        await self.session.flush()

    async def purchase(
        self,
        merchant: Merchant,
        user: User,
        *,
        amount: str = "10.00",
        purchased_at: datetime | None = None,
        location: Location | None = None,
        card_id: str | None = None,
        window: timedelta = timedelta(days=14),
    ) -> RecordedPurchase:
        from thanx_server.purchase import service as purchase_service

        return await purchase_service.record_purchase(
            self.session,
            MerchantScope((merchant.id,)),
            user_id=user.id,
            amount=Decimal(amount),
            purchased_at=purchased_at or utcnow(),
            location_id=location.id if location else None,
            card_id=card_id,
            products=["Pizza"],
            feedback_window=window,
        )

    async def feedback(
        self, merchant: Merchant, user: User, state: FeedbackState | str, **purchase: Any
    ) -> str:
        """A feedback record in ``state``, moved there the way a customer/merchant would."""
        from thanx_server.feedback import service as feedback_service

        state = FeedbackState(state)  # a wire value is accepted too
        if state == FeedbackState.EXPIRED:
            purchase.setdefault("purchased_at", utcnow() - timedelta(days=30))
        recorded = await self.purchase(merchant, user, **purchase)
        feedback_id = recorded.feedback.id
        scope = MerchantScope((merchant.id,))
        if state == FeedbackState.VIEWED:
            await feedback_service.customer_view(
                self.session, scope, feedback_id=feedback_id, sandbox=True
            )
        if state in (FeedbackState.RATED, FeedbackState.REVIEWED, FeedbackState.RESPONDED):
            await feedback_service.customer_rate(
                self.session, scope, feedback_id=feedback_id, rating=9, sandbox=True
            )
        if state in (FeedbackState.REVIEWED, FeedbackState.RESPONDED):
            await feedback_service.customer_review(
                self.session, scope, feedback_id=feedback_id, review="Great crust", sandbox=True
            )
        if state == FeedbackState.RESPONDED:
            await feedback_service.respond_in_scope(
                self.session, scope, feedback_id=feedback_id, response="Thank you!"
            )
        return feedback_id

    async def operator(self, name: str = "ops") -> OperatorCredentialHeaders:
        """An operator credential (steers the whole sandbox)."""
        return await make_operator(self.session, name)

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
            redemption_venue=kw.get("redemption_venue", "instore"),
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


def assert_error(response: httpx.Response, status: int, code: str, names: str = "") -> None:
    """The error envelope with this status and code; ``names`` must appear in the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str), body
    assert body["error"]["message"], body
    assert names in body["error"]["message"], body


@dataclass(frozen=True)
class OperatorCredentialHeaders:
    client_id: str
    access_token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "X-ClientId": self.client_id,
            **extra,
        }


async def make_operator(session: AsyncSession, name: str = "ops") -> OperatorCredentialHeaders:
    from thanx_server.operators import service as operator_service

    issued = await operator_service.create_operator(session, name=name)
    return OperatorCredentialHeaders(issued.client_id, issued.access_token)
