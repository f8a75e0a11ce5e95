"""The one merchant-scoping helper. Every query over merchant-owned data filters through it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false
from sqlalchemy.orm import InstrumentedAttribute

from thanx_server.kit.sqlarray import in_list


@dataclass(frozen=True, slots=True)
class MerchantScope:
    """The merchants one call may touch: those of the credential, optionally narrowed to one.

    Repositories take a ``MerchantScope`` rather than bare ids, so an unscoped query cannot be
    written by accident: the only way to get one is through the authenticated principal (or the
    admin CLI, which is trusted and builds ``MerchantScope.everything``-free scopes explicitly).
    """

    merchant_ids: tuple[str, ...]

    def clause(
        self, column: InstrumentedAttribute[str] | ColumnElement[str]
    ) -> ColumnElement[bool]:
        if not self.merchant_ids:
            return false()
        if len(self.merchant_ids) == 1:
            return column == self.merchant_ids[0]
        # One bound list, whatever the number of merchants (kit/sqlarray.py).
        return in_list(column, self.merchant_ids)

    def __contains__(self, merchant_id: object) -> bool:
        return merchant_id in self.merchant_ids
