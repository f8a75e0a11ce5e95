"""Wire shapes of /partner/tags (reference B.5)."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictStr

from thanx_server.kit.pagination import Pagination
from thanx_server.kit.wire import WireDateTime

MAX_USERS = 500
MAX_VALUES = 50
MAX_KEY_LENGTH = 100
MAX_VALUE_LENGTH = 255


class TagOut(BaseModel):
    id: str
    user_id: str
    merchant_id: str
    key: str
    values: list[str]
    created_at: WireDateTime
    updated_at: WireDateTime


class TagList(BaseModel):
    tags: list[TagOut]
    pagination: Pagination


class TagSelectorIn(BaseModel):
    """Which tag: one key of up to 500 members of one merchant."""

    merchant_id: str
    user_ids: list[StrictStr] = Field(min_length=1, max_length=MAX_USERS)
    key: StrictStr = Field(min_length=1, max_length=MAX_KEY_LENGTH)


class TagUpsertIn(TagSelectorIn):
    values: list[StrictStr] = Field(max_length=MAX_VALUES)


class Empty(BaseModel):
    """The documented empty answer, ``{}``."""
