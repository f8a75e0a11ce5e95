"""Annotated wire types shared by schemas: how instants and amounts look in JSON (CONTRACT row 18).

* ``WireDateTime``: rendered ISO 8601 UTC with ``Z`` and whole seconds.
* ``WireDecimal``: an exact ``Decimal`` inside the server, a JSON number on the wire (the docs show
  ``120.50`` as a number). Only the final rendering is a float; no arithmetic ever is.
* ``InstantIn``: an incoming instant; one without an offset is read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer

from thanx_server.kit.time import isoformat_z


def as_utc(value: datetime) -> datetime:
    """An aware UTC instant; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _decimal_number(value: Decimal) -> float:
    return float(value)


WireDateTime = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str)]
WireDecimal = Annotated[Decimal, PlainSerializer(_decimal_number, return_type=float)]
InstantIn = Annotated[datetime, AfterValidator(as_utc)]


def _is_none(value: object) -> bool:
    return value is None


def omit_none() -> Any:
    """Field default: None, and the field is left out of the response when it is None.

    The seed contract types some fields as plain (non-nullable) strings, so a client generated from
    it rejects ``null``; an absent optional field is valid for every client. Fields the contract
    documents as nullable stay ``null``. (``exclude_if`` must sit on the field itself: pydantic
    drops it when it comes from an ``Annotated`` alias.)
    """
    return Field(default=None, exclude_if=_is_none)
