"""Wire shapes of the metadata endpoints (seed schema + documented fields, CONTRACT row 2)."""

from __future__ import annotations

from pydantic import BaseModel

from thanx_server.kit.pagination import Pagination


class MerchantOut(BaseModel):
    id: str
    name: str
    handle: str


class MerchantList(BaseModel):
    merchants: list[MerchantOut]


class LocationOut(BaseModel):
    id: str
    merchant_id: str
    name: str | None
    street: str | None
    city: str | None
    state: str | None
    zip: str | None
    phone: str | None


class LocationList(BaseModel):
    locations: list[LocationOut]
    pagination: Pagination


class ScopeList(BaseModel):
    scopes: list[str]
