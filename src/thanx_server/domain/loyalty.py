"""Loyalty tiers: the one table of tier names and their thresholds.

A member's tier follows the points they have *earned* at the merchant over their membership
(spending points on a points product never moves a member down). Thresholds are ours (the docs
name bronze, silver and gold without numbers): see docs/DECISIONS.md.
"""

from __future__ import annotations

from decimal import Decimal

# (tier, lifetime points from which it applies), lowest first.
TIER_THRESHOLDS: tuple[tuple[str, Decimal], ...] = (
    ("bronze", Decimal("0")),
    ("silver", Decimal("250")),
    ("gold", Decimal("1000")),
)
TIERS: tuple[str, ...] = tuple(name for name, _ in TIER_THRESHOLDS)
STARTING_TIER = TIERS[0]


def tier_for(earned: Decimal) -> str:
    """The tier of a member who has earned ``earned`` points."""
    chosen = STARTING_TIER
    for name, threshold in TIER_THRESHOLDS:
        if earned >= threshold:
            chosen = name
    return chosen
