"""Where a reward can be redeemed: one set of values for templates and rewards (issue 12).

The reference documents a reward's ``redeem.venue`` as ``instore | online | all`` (C.1), and the
template's ``redemption_venue`` only by example (``in_store``, B.8.1). A reward's venue is copied
from its template, so both use the one documented enum below; ``in_store`` is still accepted on
the way in (the operator CLI) and stored as ``instore`` (docs/DECISIONS.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator


class RedemptionVenue(StrEnum):
    ALL = "all"
    INSTORE = "instore"
    ONLINE = "online"


# Spellings accepted on input and what they mean.
_ALIASES = {"in_store": RedemptionVenue.INSTORE}


def parse_venue(text: str) -> RedemptionVenue | None:
    """The venue ``text`` names (case-insensitive, ``in_store`` included), or None."""
    key = text.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return RedemptionVenue(key)
    except ValueError:
        return None


def canonical_venue(text: str) -> str:
    """The documented spelling of a stored venue (an unknown one is shown as stored)."""
    venue = parse_venue(text)
    return text if venue is None else venue.value


VenueOut = Annotated[str, AfterValidator(canonical_venue)]
