"""Demo step for issue 16: what makes the demo data look real, and the newer surface.

* members joined at varied past dates (their membership's ``joined_at`` and the user's
  ``created_at``), and feedback steps spread between the purchase and now;
* every template with its own image, served by the server itself (``/static/images/...``);
* a points experience and two points products per merchant; a promotion with codes;
* the demo partner's credential keeps every scope (``promos.*`` came after older demo data).

Idempotent like every step: records are found by natural keys first; the date fixes are the
same values on every run.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.demo.context import DemoContext
from thanx_server.feedback import service as feedback_service
from thanx_server.kit.clock import business_now
from thanx_server.kit.scoping import MerchantScope
from thanx_server.media.service import image_path
from thanx_server.partner import service as partner_service
from thanx_server.points import service as points_service
from thanx_server.promotion import service as promotion_service
from thanx_server.template import service as template_service
from thanx_server.user import service as user_service

DEMO_PARTNER = "Demo Partner"
# Days before "now" each demo member joined, by email (spread over two years).
JOINED_DAYS_AGO = {
    "jane.smith@example.com": 702,
    "ravi.patel@example.com": 415,
    "maria.garcia@example.com": 188,
    "li.wei@example.com": 96,
    "sam.jones@example.com": 41,
    "alex.kim@example.com": 9,
}
EXPERIENCES = {
    "pizzatown": ("Pizza Points", "slice", "slices", "Earn 2 slices for every dollar.", "2"),
    "beanthere": ("Bean Rewards", "bean", "beans", "Earn a bean for every dollar.", "1"),
}
# Published template name -> points it costs.
PRODUCTS = {
    "pizzatown": (("Free Slice", "150"), ("$5 Off Any Pie", "400")),
    "beanthere": (("Free Coffee", "60"), ("20% Off Pastries", "90")),
}
DEMO_PROMOTION = "Grand Opening"
DEMO_PROMOTION_CODES = 50


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")


def images_for(base_url: str, name: str) -> dict[str, dict[str, str]]:
    small = base_url + image_path(_slug(name), "small")
    large = base_url + image_path(_slug(name), "large")
    return {slot: {"small": small, "large": large} for slot in ("index", "detail", "advertising")}


async def _scopes(session: AsyncSession, ctx: DemoContext) -> None:
    partner = await partner_service.find_partner(session, DEMO_PARTNER)
    if partner is not None and await partner_service.grant_scopes(session, partner.id, ALL_SCOPES):
        ctx.created += 1


async def _joined_dates(session: AsyncSession, ctx: DemoContext) -> None:
    now = business_now().replace(microsecond=0)
    for user, membership in await user_service.list_members(session, None):
        days = JOINED_DAYS_AGO.get(user.email or "")
        if days is None:
            continue
        joined = now - timedelta(days=days)
        if abs(membership.joined_at - joined) > timedelta(days=1):
            membership.joined_at = joined
            # The person existed as soon as they first joined anywhere.
            user.created_at = min(user.created_at, joined)
    await session.flush()


async def _template_images(session: AsyncSession, ctx: DemoContext) -> None:
    for merchant in ctx.merchants.values():
        for template in await template_service.all_templates(session, merchant.id):
            if not template.images:
                template.images = images_for(ctx.base_url, template.name)
    await session.flush()


async def _points(session: AsyncSession, ctx: DemoContext) -> None:
    for handle, merchant in ctx.merchants.items():
        scope = MerchantScope.one(merchant.id)
        experience = await points_service.experience_of(session, scope)
        if experience is None:
            name, single, plural, description, conversion = EXPERIENCES[handle]
            experience = await points_service.create_experience(
                session,
                merchant_id=merchant.id,
                name=name,
                currency_name=single,
                currency_plural=plural,
                currency_description=description,
                conversion=Decimal(conversion),
                images=images_for(ctx.base_url, name),
            )
            ctx.created += 1
            for template_name, cost in PRODUCTS[handle]:
                template = await template_service.find_template_by_name(
                    session, merchant_id=merchant.id, name=template_name
                )
                if template is not None:
                    await points_service.create_product(
                        session,
                        merchant_id=merchant.id,
                        reward_template_id=template.id,
                        cost=Decimal(cost),
                    )
                    ctx.created += 1
    ctx.hints.append(("points experiences", "{base}/points_experiences"))
    ctx.hints.append(("what points buy", "{base}/points_products"))


async def _promotions(session: AsyncSession, ctx: DemoContext) -> None:
    for merchant in ctx.merchants.values():
        if await promotion_service.find_by_name(
            session, merchant_id=merchant.id, name=DEMO_PROMOTION
        ):
            continue
        await promotion_service.create_for_operator(
            session,
            merchant_id=merchant.id,
            name=DEMO_PROMOTION,
            description="Opening week: one code per guest.",
            code_count=DEMO_PROMOTION_CODES,
        )
        ctx.created += 1
    ctx.hints.append(("active promotions", "{base}/partner/promotions"))


async def _feedback_times(session: AsyncSession, ctx: DemoContext) -> None:
    """Customer steps happen hours and days after the purchase, not in the same second."""
    for merchant in ctx.merchants.values():
        await feedback_service.spread_demo_steps(session, MerchantScope.one(merchant.id))


async def loyalty_step(session: AsyncSession, ctx: DemoContext) -> None:
    await _scopes(session, ctx)
    await _joined_dates(session, ctx)
    await _template_images(session, ctx)
    await _points(session, ctx)
    await _promotions(session, ctx)
    await _feedback_times(session, ctx)


__all__ = ["images_for", "loyalty_step"]
