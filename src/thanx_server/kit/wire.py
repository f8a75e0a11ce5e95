"""Annotated wire types shared by schemas: how instants and amounts look in JSON (CONTRACT row 18).

* ``WireDateTime``: rendered ISO 8601 UTC with ``Z`` and whole seconds.
* ``WireDecimal``: an exact ``Decimal`` inside the server, a JSON number on the wire (the docs show
  ``120.50`` as a number). Only the final rendering is a float; no arithmetic ever is.
* ``WireDateTimeIn``: every incoming date-time (body field or query filter): ISO 8601 within
  ``EARLIEST``..``LATEST`` (1900-01-01T00:00:00Z to 9998-12-31T23:59:59Z), else 400 naming the
  field. A value without an offset is kept naive for its feature to place (campaigns read it in
  the merchant's zone); its wall time must lie in the same range. The range keeps a year of
  calendar on either side, so no later arithmetic (a zone's offset, a feedback window, a
  comparison with now) can overflow Python's calendar, which ends at years 1 and 9999: without
  it, year 1 with a positive offset or 9999 with a negative one was a 500.
* ``InstantIn``: a ``WireDateTimeIn`` where no offset means UTC; always aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer, WithJsonSchema

from thanx_server.kit.time import isoformat_z


def as_utc(value: datetime) -> datetime:
    """An aware UTC instant; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _decimal_number(value: Decimal) -> float:
    return float(value)


EARLIEST = datetime(1900, 1, 1)
LATEST = datetime(9998, 12, 31, 23, 59, 59)
# Python bounds a UTC offset to under a day: a wall time this far inside the calendar can be
# shifted by any offset without overflowing.
_OFFSET_ROOM = timedelta(days=1)
_RANGE = "between 1900-01-01T00:00:00Z and 9998-12-31T23:59:59Z"


def in_wire_range(value: datetime) -> datetime:
    """``value`` if its instant (or, when naive, its wall time) is within the wire range."""
    wall = value.replace(tzinfo=None)
    if not EARLIEST - _OFFSET_ROOM <= wall <= LATEST + _OFFSET_ROOM:
        raise ValueError(f"must be {_RANGE}")
    offset = value.utcoffset()
    instant = wall if offset is None else wall - offset
    if not EARLIEST <= instant <= LATEST:
        raise ValueError(f"must be {_RANGE}")
    return value


_DATE_TIME_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "format": "date-time",
        "description": f"ISO 8601, {_RANGE}.",
    }
)
WireDateTime = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str)]
WireDecimal = Annotated[Decimal, PlainSerializer(_decimal_number, return_type=float)]
WireDateTimeIn = Annotated[datetime, AfterValidator(in_wire_range), _DATE_TIME_SCHEMA]
InstantIn = Annotated[WireDateTimeIn, AfterValidator(as_utc)]


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
