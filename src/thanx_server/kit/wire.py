"""Wire types shared by feature schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import PlainSerializer

from thanx_server.kit.time import isoformat_z

UTCTimestamp = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str, when_used="json")]
"""A timestamp rendered ISO 8601 UTC with ``Z`` and whole seconds (CONTRACT row 18)."""
