"""Rules for reward templates: partners read the published ones; operators create them."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal
from thanx_server.domain.venues import RedemptionVenue, parse_venue
from thanx_server.kit.errors import NotFound, ValidationFailed
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.merchant import repository as merchant_repository
from thanx_server.models import RewardTemplate
from thanx_server.template import repository

DISCOUNT_TYPES = ("free_item", "amount", "percent")
REDEEM_TYPES = ("manual", "automatic")


async def list_templates(
    session: AsyncSession, principal: PartnerPrincipal, *, merchant_id: str | None, page: Page
) -> PageResult[RewardTemplate]:
    return await repository.list_published(session, principal.merchants(merchant_id), page)


async def get_template(
    session: AsyncSession, principal: PartnerPrincipal, *, template_id: str, merchant_id: str | None
) -> RewardTemplate:
    """One published template of the credential's merchants; drafts and others' are 404."""
    template = await repository.get_published(
        session, principal.merchants(merchant_id), template_id
    )
    if template is None:
        raise NotFound(f"id: no reward template '{template_id}'")
    return template


async def create_template(
    session: AsyncSession,
    *,
    merchant_id: str,
    name: str,
    type_: str = "discount",
    subtype: str | None = None,
    description: str | None = None,
    fine_print: str | None = None,
    instructions: str | None = None,
    discount_type: str = "free_item",
    discount_value: str | None = None,
    redemption_venue: str = "all",
    redeem_type: str = "manual",
    redeem_window: int | None = None,
    image_url: str | None = None,
    published: bool = True,
    static_coupon_code: str | None = None,
    uses_dynamic_coupon_codes: bool = False,
    coupon_code_type: str | None = None,
    coupon_code_display: str | None = None,
    fixed_id: str | None = None,
) -> RewardTemplate:
    """Create a template (operator side). ``published=False`` makes a draft partners cannot see.
    A template carries a static coupon code, or a dynamic pool (``add_coupon_codes``), or none."""
    name = name.strip()
    if not name:
        raise ValidationFailed("name: must not be blank")
    if len(name) > 200:
        raise ValidationFailed("name: at most 200 characters")
    if discount_type not in DISCOUNT_TYPES:
        raise ValidationFailed(f"discount_type: must be one of {', '.join(DISCOUNT_TYPES)}")
    venue = parse_venue(redemption_venue)
    if venue is None:
        raise ValidationFailed(
            f"redemption_venue: must be one of {', '.join(v.value for v in RedemptionVenue)}"
        )
    if redeem_type not in REDEEM_TYPES:
        raise ValidationFailed(f"redeem_type: must be one of {', '.join(REDEEM_TYPES)}")
    if redeem_window is not None and redeem_window < 1:
        raise ValidationFailed("redeem_window: minutes, at least 1")
    value = _discount_value(discount_type, discount_value)
    _check_coupon(static_coupon_code, uses_dynamic_coupon_codes, coupon_code_type)
    if await merchant_repository.get_merchant(session, merchant_id) is None:
        raise NotFound(f"merchant_id: no merchant '{merchant_id}'")
    images: dict[str, Any] = {}
    if image_url:
        images = {slot: {"small": image_url, "large": image_url} for slot in ("index", "detail")}
    template = RewardTemplate(
        merchant_id=merchant_id,
        name=name,
        type=type_,
        subtype=subtype or discount_type,
        description=description,
        fine_print=fine_print,
        instructions=instructions,
        discount={"type": discount_type, "value": value},
        redemption_venue=venue.value,
        redeem={"type": redeem_type, "text": description, "detail": instructions,
                "window": redeem_window},
        images=images,
        published=published,
        static_coupon_code=static_coupon_code.strip() if static_coupon_code else None,
        uses_dynamic_coupon_codes=uses_dynamic_coupon_codes,
        coupon_code_type=coupon_code_type or (
            "text" if static_coupon_code or uses_dynamic_coupon_codes else None
        ),
        coupon_code_display=coupon_code_display,
    )  # fmt: skip
    if fixed_id is not None:  # sandbox fixtures
        template.id = fixed_id
    repository.add(session, template)
    await session.flush()
    return template


def _discount_value(discount_type: str, raw: str | None) -> float | None:
    if discount_type == "free_item":
        if raw is not None:
            raise ValidationFailed("discount_value: a free_item discount takes no value")
        return None
    if raw is None:
        raise ValidationFailed(f"discount_value: required for a '{discount_type}' discount")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValidationFailed("discount_value: must be a number") from None
    if not value.is_finite() or value <= 0 or (discount_type == "percent" and value > 100):
        raise ValidationFailed("discount_value: out of range")
    return float(value)


async def find_template_by_name(
    session: AsyncSession, *, merchant_id: str, name: str
) -> RewardTemplate | None:
    return await repository.find_by_name(session, MerchantScope.one(merchant_id), name)


async def all_templates(session: AsyncSession, merchant_id: str | None) -> Sequence[RewardTemplate]:
    return await repository.all_templates(session, MerchantScope.operator(merchant_id))


# How a coupon code is encoded for the cashier (reference C.1 ``coupon_code.type``).
COUPON_CODE_TYPES = ("text", "qrcode", "code128", "upca", "ean13")
MAX_COUPON_CODES_PER_CALL = 100_000


def _check_coupon(static: str | None, dynamic: bool, code_type: str | None) -> None:
    if static is not None and not static.strip():
        raise ValidationFailed("coupon_code: must not be blank")
    if static is not None and len(static.strip()) > 100:
        raise ValidationFailed("coupon_code: at most 100 characters")
    if static is not None and dynamic:
        raise ValidationFailed("coupon_code: a template has a static code or a dynamic pool")
    if code_type is not None and code_type not in COUPON_CODE_TYPES:
        raise ValidationFailed(f"coupon_code_type: must be one of {', '.join(COUPON_CODE_TYPES)}")


async def add_coupon_codes(session: AsyncSession, *, template_id: str, codes: Sequence[str]) -> int:
    """Add codes to a dynamic-pool template's pool (operator side), in one statement; codes
    already in the pool are skipped. Returns how many were added."""
    template = await repository.get_any(session, template_id)
    if template is None:
        raise NotFound(f"template_id: no template '{template_id}'")
    if not template.uses_dynamic_coupon_codes:
        raise ValidationFailed("template_id: this template does not use dynamic coupon codes")
    cleaned = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    if not cleaned:
        raise ValidationFailed("codes: at least one code")
    if len(cleaned) > MAX_COUPON_CODES_PER_CALL:
        raise ValidationFailed(f"codes: at most {MAX_COUPON_CODES_PER_CALL:,} per call")
    if any(len(c) > 100 for c in cleaned):
        raise ValidationFailed("codes: each at most 100 characters")
    return await repository.add_coupon_codes(session, template, cleaned)
