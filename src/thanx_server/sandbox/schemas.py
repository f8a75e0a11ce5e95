"""Wire shapes shared by the sandbox controls."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ControllerOut(BaseModel):
    kind: Literal["operator", "partner"] = Field(
        description="`operator`: steers the whole sandbox; `partner`: its own merchants and "
        "requests (a partner credential holding the `sandbox` scope)."
    )
    client_id: str
    merchant_ids: list[str] | None = Field(
        description="The merchants a partner steers; null for an operator (every merchant)."
    )


class WhoamiOut(BaseModel):
    controller: ControllerOut
