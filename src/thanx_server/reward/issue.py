"""How a reward is built from a campaign and its variant's template (shared by issuance and grant).

Decisions (docs/DECISIONS.md):
* ``fine_print`` is the campaign's (falling back to the template's); ``instructions``, ``redeem``
  (with the template's redemption venue) and ``images`` come from the template.
* the coupon code: a template's static code is copied; a dynamic pool's is pulled at activation.
* ``available_at`` is when the reward was given, but never before the campaign's
  ``redeemable_from``; ``retire_at`` is the campaign's ``redeemable_to``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from thanx_server.domain.states import REWARD_STATES
from thanx_server.models import Campaign, RewardTemplate

IMAGE_SLOTS = ("index", "detail", "advertising")


def reward_values(
    campaign: Campaign, template: RewardTemplate, variant_id: str, *, now: datetime
) -> dict[str, Any]:
    """Column values shared by every reward issued for ``campaign``'s variant (no id/user yet)."""
    return {
        "merchant_id": campaign.merchant_id,
        "campaign_id": campaign.id,
        "variant_id": variant_id,
        "reward_template_id": template.id,
        "state": REWARD_STATES.initial,
        "earn_type": "campaign",
        "redeem": {**(template.redeem or {}), "venue": template.redemption_venue},
        "images": dict(template.images or {}),
        "fine_print": campaign.fine_print or template.fine_print,
        "instructions": template.instructions,
        **coupon_values(template),
        "available_at": max(now, campaign.redeemable_from),
        "retire_at": campaign.redeemable_to,
        "created_at": now,
        "updated_at": now,
    }


def coupon_values(template: RewardTemplate) -> dict[str, Any]:
    """A reward's coupon columns from its template: a static code is copied now (shown once the
    reward is active); a dynamic pool's code is pulled at activation (reward/service.py)."""
    return {
        "coupon_code": None if template.uses_dynamic_coupon_codes else template.static_coupon_code,
        "coupon_code_type": template.coupon_code_type,
        "coupon_code_display": template.coupon_code_display,
        "uses_dynamic_coupon_codes": template.uses_dynamic_coupon_codes,
    }
