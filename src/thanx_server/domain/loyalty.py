"""Loyalty tiers: the one table of tier names and their thresholds.

A member's tier follows the points they have *earned* at the merchant over their membership
(spending points on a points product never moves a member down). Thresholds are ours (the docs
name bronze, silver and gold without numbers): see docs/DECISIONS.md.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ColumnElement, case, literal, or_
from sqlalchemy.orm import InstrumentedAttribute

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


def tier_after(
    earned: ColumnElement[Decimal], tier: InstrumentedAttribute[str] | ColumnElement[str]
) -> ColumnElement[str]:
    """SQL for ``tier_for`` that never moves a member down: the higher of the member's current
    tier (an operator may have set one) and the tier ``earned`` points reach."""
    whens = []
    for name, threshold in reversed(TIER_THRESHOLDS[1:]):
        higher = [n for n, _ in TIER_THRESHOLDS[TIERS.index(name) :]]
        whens.append((or_(earned >= threshold, tier.in_(higher)), literal(name)))
    return case(*whens, else_=tier)
