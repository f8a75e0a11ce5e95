"""Shared wire types for response schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer

from thanx_server.kit.time import isoformat_z

# A timestamp rendered as ISO 8601 UTC with ``Z`` (CONTRACT row 18).
UTCTime = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str, when_used="json")]
