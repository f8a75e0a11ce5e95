"""Wire shapes of POST /partner/subscribers (seed schema + documented fields)."""

from __future__ import annotations

from calendar import monthrange
from typing import Any

from pydantic import BaseModel, Field, StrictInt, model_validator


class SubscriberBirthDateIn(BaseModel):
    """Month and day; the deprecated ``year`` is still accepted (and kept)."""

    month: StrictInt = Field(ge=1, le=12)
    day: StrictInt = Field(ge=1, le=31)
    year: StrictInt | None = Field(default=None, ge=1800, le=9999, description="Deprecated.")

    @model_validator(mode="after")
    def _day_exists(self) -> SubscriberBirthDateIn:
        # Without a year, 29 February is a real birthday (2000 was a leap year).
        if self.day > monthrange(self.year or 2000, self.month)[1]:
            raise ValueError("day is past the end of the month")
        return self


class SubscriberIn(BaseModel):
    # Any JSON value is read here so that every bad email, even a number, is the one documented
    # error (400 USER_EMAIL_INVALID) rather than a generic validation failure.
    email: Any = Field(default=None, json_schema_extra={"type": "string", "format": "email"})
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    birth_date: SubscriberBirthDateIn | None = None
    zip_code: str | None = Field(default=None, max_length=20)
    gender: Any = Field(default=None, description="Accepted and ignored (older docs).")


class SubscriberCreateIn(BaseModel):
    merchant_id: str
    subscriber: SubscriberIn


class SubscriberOut(BaseModel):
    """Only the email is echoed, for new and known subscribers alike (no PII leaks)."""

    email: str


class SubscriberEnvelope(BaseModel):
    subscriber: SubscriberOut
