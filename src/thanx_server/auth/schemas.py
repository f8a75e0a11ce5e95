"""Wire shapes of POST /partner/oauth/token."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TokenRequest(BaseModel):
    merchant_id: str = Field(max_length=64)
    user_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    expires_in: int | None = Field(
        default=None, description="Lifetime in seconds, 60 to 3600. Omitted: server default."
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (an OAuth token type, not a secret)
    scope: str = "passwordless"
    created_at: int = Field(description="Epoch seconds.")
    expires_in: int | None = Field(
        default=None, description="Seconds; absent when the token does not expire."
    )
