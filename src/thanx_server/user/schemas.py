"""Wire shapes of the users and communication-settings endpoints.

The user object is the seed's ``PartnerUser`` (id, email, phone, first/last name) plus the
documented fields (reference B.4.1); ``loyalty`` and ``communication_settings`` appear only when
asked for (always on ``GET /partner/users/{id}``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from thanx_server.kit.pagination import Pagination
from thanx_server.kit.wire import WireDateTime, WireDecimal, omit_none
from thanx_server.user.service import SettingsView, UserView
from thanx_server.user.signup import SignUp


class BirthDate(BaseModel):
    year: int
    month: int
    day: int


class LoyaltyOut(BaseModel):
    merchant_id: str = Field(description="The merchant whose loyalty programme this is.")
    tier: str
    points_balance: WireDecimal
    user_joined_at: WireDateTime


class UserCommunicationOut(BaseModel):
    marketing_general_email: bool


class UserOut(BaseModel):
    id: str
    email: str | None = omit_none()
    phone: str | None = omit_none()
    first_name: str | None = omit_none()
    last_name: str | None = omit_none()
    birth_date: BirthDate | None
    zip_code: str | None
    updated_at: WireDateTime
    loyalty: LoyaltyOut | None = None
    communication_settings: UserCommunicationOut | None = None

    @classmethod
    def from_view(cls, view: UserView, *, loyalty: bool, settings: bool) -> UserOut:
        """Optional parts are only *set* when asked for; routes render with exclude_unset."""
        user = view.user
        born = user.birth_date
        out = cls(
            id=user.id,
            email=user.email,
            phone=user.phone,
            first_name=user.first_name,
            last_name=user.last_name,
            birth_date=BirthDate(year=born.year, month=born.month, day=born.day) if born else None,
            zip_code=user.zip_code,
            updated_at=user.updated_at,
        )
        membership = view.membership
        if loyalty:
            out.loyalty = (
                LoyaltyOut(
                    merchant_id=membership.merchant_id,
                    tier=membership.tier,
                    points_balance=membership.points_balance,
                    user_joined_at=membership.joined_at,
                )
                if membership is not None
                else None
            )
        if settings:
            # No settings row (data written around the services) reads as the defaults: all on.
            chosen = view.settings.marketing_general_email if view.settings is not None else True
            out.communication_settings = UserCommunicationOut(marketing_general_email=chosen)
        return out


class UserEnvelope(BaseModel):
    user: UserOut


class UserList(BaseModel):
    users: list[UserOut]
    pagination: Pagination


class BirthDateIn(BaseModel):
    year: Annotated[StrictInt, Field(ge=1, le=9999)]
    month: Annotated[StrictInt, Field(ge=1, le=12)]
    day: Annotated[StrictInt, Field(ge=1, le=31)]

    @model_validator(mode="after")
    def _real_date(self) -> BirthDateIn:
        self.as_date()
        return self

    def as_date(self) -> date:
        try:
            return date(self.year, self.month, self.day)
        except (ValueError, OverflowError):
            raise ValueError("is not a real date") from None


class UserFieldsIn(BaseModel):
    """Fields to change; a field left out is kept, ``null`` clears it."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    birth_date: BirthDateIn | None = None
    zip_code: str | None = Field(default=None, max_length=20)

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            out[name] = value.as_date() if isinstance(value, BirthDateIn) else value
        return out


class UserUpdateIn(BaseModel):
    user: UserFieldsIn


class EmailChannel(BaseModel):
    email: bool


class OfferChannels(BaseModel):
    notification: bool
    email: bool


class CommunicationSettingOut(BaseModel):
    id: str | None
    merchant_id: str
    user_id: str
    reward_progress: EmailChannel
    reward_offer: OfferChannels
    marketing_general: EmailChannel
    updated_at: WireDateTime | None

    @classmethod
    def from_view(cls, view: SettingsView) -> CommunicationSettingOut:
        return cls(
            id=view.id,
            merchant_id=view.merchant_id,
            user_id=view.user_id,
            reward_progress=EmailChannel(email=view.reward_progress_email),
            reward_offer=OfferChannels(
                notification=view.reward_offer_notification, email=view.reward_offer_email
            ),
            marketing_general=EmailChannel(email=view.marketing_general_email),
            updated_at=view.updated_at,
        )


class CommunicationSettingEnvelope(BaseModel):
    communication_setting: CommunicationSettingOut


class EmailChannelIn(BaseModel):
    email: StrictBool | None = None


class OfferChannelsIn(BaseModel):
    notification: StrictBool | None = None
    email: StrictBool | None = None


class CommunicationSettingIn(BaseModel):
    """Any subset of the channels; a channel left out (or ``null``) keeps its value."""

    model_config = ConfigDict(extra="ignore")

    reward_progress: EmailChannelIn | None = None
    reward_offer: OfferChannelsIn | None = None
    marketing_general: EmailChannelIn | None = None

    def changes(self) -> dict[str, bool]:
        pairs = {
            "reward_progress_email": self.reward_progress and self.reward_progress.email,
            "reward_offer_notification": self.reward_offer and self.reward_offer.notification,
            "reward_offer_email": self.reward_offer and self.reward_offer.email,
            "marketing_general_email": self.marketing_general and self.marketing_general.email,
        }
        return {column: value for column, value in pairs.items() if isinstance(value, bool)}


class CommunicationSettingUpdateIn(BaseModel):
    # The older docs put merchant_id in the body; the newer ones in the query. Both are read.
    merchant_id: str | None = None
    communication_setting: CommunicationSettingIn


class SignUpFieldsIn(BaseModel):
    """The person signing up. Names and email are checked by the service, so that a missing one
    answers the catalogue's code (``USER_NAME_REQUIRED``, ``USER_EMAIL_INVALID``)."""

    email: StrictStr | None = Field(default=None, max_length=320)
    phone: StrictStr | None = Field(default=None, max_length=40, description="E.164.")
    first_name: StrictStr | None = Field(default=None, max_length=100)
    last_name: StrictStr | None = Field(default=None, max_length=100)
    birth_date: BirthDateIn | None = None
    zip_code: StrictStr | None = Field(default=None, max_length=20)
    accepted_terms: StrictBool | None = Field(
        default=None, description="Required, true: the person accepted the programme's terms."
    )
    marketing_opt_in: StrictBool = Field(
        default=False,
        description="Consent to the merchant's marketing email (communication settings' "
        "`marketing_general`); off unless given.",
    )

    def data(self) -> SignUp:
        return SignUp(
            email=self.email,
            phone=self.phone,
            first_name=self.first_name,
            last_name=self.last_name,
            birth_date=self.birth_date.as_date() if self.birth_date else None,
            zip_code=self.zip_code,
            accepted_terms=self.accepted_terms,
            marketing_opt_in=self.marketing_opt_in,
        )


class SignUpIn(BaseModel):
    merchant_id: StrictStr = Field(description="The merchant whose loyalty programme to join.")
    user: SignUpFieldsIn


class SmsSubscriptionOut(BaseModel):
    user_id: str
    merchant_id: str
    phone: str
    email: str | None
    opted_in_at: WireDateTime


class SmsSubscriptionEnvelope(BaseModel):
    sms_subscription: SmsSubscriptionOut
