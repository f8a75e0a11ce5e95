"""Bounds of money and points, the same on both engines (issue 12).

Amounts and balances are stored as ``NUMERIC(12, 2)``. PostgreSQL refuses a value past that
precision (a 500 on the statement that overflows); SQLite stores anything. So the bounds are
rules of the domain, checked before anything is written, and both engines give the same answer:

* a purchase ``amount`` is more than 0 and at most ``AMOUNT_MAX`` (9,999,999,999.99), with at
  most two decimal places (the request schema; ``Amount``);
* a member's ``points_balance`` never passes ``BALANCE_MAX`` (9,999,999,999.99): a purchase whose
  points would take it further is refused (422 ``INVALID_STATE``, naming ``purchase.amount``)
  by the same guarded UPDATE that adds the points, which is the purchase's first write, so a
  refused purchase writes nothing and concurrent purchases cannot together pass the bound.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

SCALE = 2
PRECISION = 12
AMOUNT_MAX = Decimal("9999999999.99")
BALANCE_MAX = Decimal("9999999999.99")
BALANCE_MIN = Decimal("0")

Amount = Annotated[
    Decimal,
    Field(
        gt=0,
        le=AMOUNT_MAX,
        max_digits=PRECISION,
        decimal_places=SCALE,
        allow_inf_nan=False,
        description=f"More than 0, at most {AMOUNT_MAX}, two decimal places at most.",
    ),
]


def balance_in_range(balance: Decimal) -> bool:
    return BALANCE_MIN <= balance <= BALANCE_MAX
