"""Consumer sign-up (``POST /users``, reference B.2.1 and B.3 notes): enrol a person as a loyalty
member of one merchant, so tokens, issuance and tags find them without an operator.

* Names are required (``USER_NAME_REQUIRED``), the email too (``USER_EMAIL_INVALID``), a phone is
  optional (``USER_PHONE_INVALID`` when it cannot be read as E.164); the terms must be accepted.
* **Idempotent on the identity**: the same email (and phone, when sent) finds the person again.
  A member already: 200 with the member, nothing changed; a user of another merchant: enrolled
  here, 201. An email and a phone of two different people, or a known email sent with another
  phone, is a 400 naming the field and writes nothing.
* The new membership starts at the lowest tier (``domain/loyalty.py``) with no points; its
  communication settings are the defaults except ``marketing_general_email``, which follows the
  marketing consent sent (off unless given).
* Two identical sign-ups racing: the unique email/phone (or the membership's primary key) makes
  the loser's savepoint fail, and it answers from the winner's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal
from thanx_server.domain.errors import UserEmailInvalid, UserNameRequired
from thanx_server.domain.identifiers import require_email, require_phone
from thanx_server.domain.loyalty import STARTING_TIER
from thanx_server.kit.clock import business_now
from thanx_server.kit.errors import ValidationFailed
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import CommunicationSetting, Membership, User
from thanx_server.user import repository
from thanx_server.user.service import UserView


@dataclass(frozen=True, slots=True)
class SignUp:
    """What a sign-up sent, before normalisation."""

    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    zip_code: str | None
    accepted_terms: bool | None
    marketing_opt_in: bool


@dataclass(frozen=True, slots=True)
class SignUpResult:
    view: UserView
    created: bool  # a membership was created (201) or the member was already there (200)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


async def sign_up(
    session: AsyncSession, principal: PartnerPrincipal, *, merchant_id: str, data: SignUp
) -> SignUpResult:
    merchant = principal.merchant(merchant_id)
    first_name, last_name = _clean(data.first_name), _clean(data.last_name)
    if first_name is None or last_name is None:
        missing = "user.first_name" if first_name is None else "user.last_name"
        raise UserNameRequired(f"{missing}: first and last name are required fields.")
    if data.email is None or not data.email.strip():
        raise UserEmailInvalid("user.email: an email is required.")
    email = require_email(data.email, "user.email")
    phone = require_phone(data.phone, "user.phone") if data.phone and data.phone.strip() else None
    if data.accepted_terms is not True:
        raise ValidationFailed(
            "user.accepted_terms: must be true: the person must accept the programme's terms"
        )
    if data.birth_date is not None and data.birth_date > business_now().date():
        raise ValidationFailed("user.birth_date: is in the future")
    try:
        async with session.begin_nested():
            result = await _enrol(
                session,
                merchant_id=merchant,
                email=email,
                phone=phone,
                data=data,
                first_name=first_name,
                last_name=last_name,
            )
    except IntegrityError:
        # A concurrent sign-up of the same person committed first: its rows are there now.
        result = await _enrol(
            session,
            merchant_id=merchant,
            email=email,
            phone=phone,
            data=data,
            first_name=first_name,
            last_name=last_name,
        )
    return result


async def _enrol(
    session: AsyncSession,
    *,
    merchant_id: str,
    email: str,
    phone: str | None,
    data: SignUp,
    first_name: str,
    last_name: str,
) -> SignUpResult:
    found = await repository.find_by_email_or_phone(session, email=email, phone=phone)
    if len(found) > 1:
        raise ValidationFailed("user.phone: belongs to another person than user.email")
    if found:
        user = found[0]
        if user.email != email:
            raise ValidationFailed("user.phone: belongs to another person than user.email")
        if phone is not None and user.phone not in (None, phone):
            raise ValidationFailed("user.phone: this email is registered with another phone")
    else:
        user = User(
            email=email,
            phone=phone,
            first_name=first_name,
            last_name=last_name,
            birth_date=data.birth_date,
            zip_code=_clean(data.zip_code),
        )
        session.add(user)
        await session.flush()
    membership = await repository.get_membership(session, user.id, merchant_id)
    created = membership is None
    settings: CommunicationSetting | None
    if membership is None:
        membership = Membership(
            user_id=user.id, merchant_id=merchant_id, tier=STARTING_TIER, points_balance=0
        )
        session.add(membership)
        await session.flush()
        settings = CommunicationSetting(
            user_id=user.id,
            merchant_id=merchant_id,
            marketing_general_email=data.marketing_opt_in,
        )
        repository.add_settings(session, settings)
        await session.flush()
    else:
        settings = await repository.get_settings(session, MerchantScope.one(merchant_id), user.id)
    return SignUpResult(UserView(user=user, membership=membership, settings=settings), created)
