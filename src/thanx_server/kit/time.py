"""Time helpers: every instant is timezone-aware UTC and rendered ISO 8601 with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat_z(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and whole seconds (CONTRACT row 18)."""
    # isoformat() is C code (strftime was a measurable part of serialising a campaign); without
    # tzinfo or microseconds it is exactly YYYY-MM-DDTHH:MM:SS.
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"
