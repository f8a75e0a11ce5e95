"""The one merchant-scoping helper. Every query over merchant-owned data filters through it.

Two forms of the one rule, side by side:

* ``scope.clause(column)``: the scope's merchants bound into a statement built per call;
* ``MerchantScope.bound(column)`` + ``scope.params()``: for a statement built once at import
  (the hot reads), whose merchants are given at execution. SQLAlchemy then neither rebuilds the
  statement nor recomputes its cache key per request (measured: about half the CPU of a read).

``tests/test_merchant_scope.py`` fails any other way of filtering a merchant column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, bindparam, false, true
from sqlalchemy.orm import InstrumentedAttribute

from thanx_server.kit.sqlarray import IdList, InList, in_list

SCOPE_PARAM = "merchant_ids"


@dataclass(frozen=True, slots=True)
class MerchantScope:
    """The merchants one call may touch: those of the credential, optionally narrowed to one.

    Repositories take a ``MerchantScope`` rather than bare ids, so an unscoped query cannot be
    written by accident: the only way to get one is through the authenticated principal (or the
    admin CLI, which is trusted and builds ``MerchantScope.everything``-free scopes explicitly).
    """

    merchant_ids: tuple[str, ...]
    # Every merchant: operator commands only (the admin CLI). A partner principal never makes one.
    everything: bool = False

    @classmethod
    def one(cls, merchant_id: str) -> MerchantScope:
        """A scope of one merchant, for trusted callers that already know it may be touched
        (a worker acting for its job's merchant, an operator's CLI command)."""
        return cls((merchant_id,))

    @classmethod
    def operator(cls, merchant_id: str | None) -> MerchantScope:
        """An operator's filter: one merchant, or every merchant when ``merchant_id`` is None."""
        return cls.one(merchant_id) if merchant_id is not None else cls((), everything=True)

    def clause(
        self, column: InstrumentedAttribute[str] | ColumnElement[str]
    ) -> ColumnElement[bool]:
        if self.everything:
            return true()
        if not self.merchant_ids:
            return false()
        if len(self.merchant_ids) == 1:
            return column == self.merchant_ids[0]
        # One bound list, whatever the number of merchants (kit/sqlarray.py).
        return in_list(column, self.merchant_ids)

    @staticmethod
    def bound(column: InstrumentedAttribute[str] | ColumnElement[str]) -> ColumnElement[bool]:
        """``column`` is one of the merchants given at execution as ``scope.params()``."""
        return InList(column, bindparam(SCOPE_PARAM, type_=IdList()))

    def params(self) -> dict[str, Any]:
        """The execution parameters of ``bound()``."""
        if self.everything:
            raise ValueError("an operator's every-merchant scope filters nothing: use clause()")
        return {SCOPE_PARAM: list(self.merchant_ids)}

    def __contains__(self, merchant_id: object) -> bool:
        return merchant_id in self.merchant_ids
