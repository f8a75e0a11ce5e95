"""Rules for users, their memberships and communication settings.

Operators create members (``create_member``); partners list, read and update the members of their
merchants and each member's communication settings per merchant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import ControlPrincipal, PartnerPrincipal, merchant_id_of_call
from thanx_server.domain.amounts import BALANCE_MAX, balance_in_range
from thanx_server.domain.identifiers import require_email, require_phone
from thanx_server.domain.loyalty import TIERS
from thanx_server.kit import clock
from thanx_server.kit.errors import BadRequest, InvalidState, NotFound, ValidationFailed
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.merchant import repository as merchant_repository
from thanx_server.models import CommunicationSetting, Membership, User
from thanx_server.user import repository
from thanx_server.user.repository import MembershipFields, SettingsFields, UserFields
from thanx_server.webhook import events, outbox
from thanx_server.webhook.events import EventType


async def create_member(
    session: AsyncSession,
    *,
    merchant_id: str,
    email: str | None,
    phone: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    birth_date: date | None = None,
    zip_code: str | None = None,
    tier: str = "bronze",
    points_balance: Decimal = Decimal("0"),
    fixed_id: str | None = None,
) -> tuple[User, Membership]:
    """Create a user (or find the one with this email/phone) and enrol them at ``merchant_id``."""
    if email is None and phone is None:
        raise ValidationFailed("email: an email or a phone is required")
    if tier not in TIERS:
        raise ValidationFailed(f"tier: must be one of {', '.join(TIERS)}")
    if not points_balance.is_finite() or not balance_in_range(points_balance):
        raise ValidationFailed(f"points: must be between 0 and {BALANCE_MAX}")
    if points_balance != points_balance.quantize(Decimal("0.01")):
        raise ValidationFailed("points: at most two decimal places")
    if await merchant_repository.get_merchant(session, merchant_id) is None:
        raise NotFound(f"merchant_id: no merchant '{merchant_id}'")
    norm_email = require_email(email) if email is not None else None
    norm_phone = require_phone(phone) if phone is not None else None
    found = await repository.find_by_email_or_phone(session, email=norm_email, phone=norm_phone)
    if len(found) > 1:
        raise BadRequest("email and phone belong to two different users")
    if found:
        user = found[0]
        if norm_phone and user.phone not in (None, norm_phone):
            raise BadRequest("phone: the user with this email has another phone")
        if norm_email and user.email not in (None, norm_email):
            raise BadRequest("email: the user with this phone has another email")
    else:
        user = User(
            email=norm_email,
            phone=norm_phone,
            first_name=first_name,
            last_name=last_name,
            birth_date=birth_date,
            zip_code=zip_code,
        )
        if fixed_id is not None:  # sandbox fixtures: the new user's id
            user.id = fixed_id
        session.add(user)
        await session.flush()
    membership = await repository.get_membership(session, user.id, merchant_id)
    if membership is None:
        membership = Membership(
            user_id=user.id, merchant_id=merchant_id, tier=tier, points_balance=points_balance
        )
        session.add(membership)
        await session.flush()
        # Every member has settings from the start (all channels on): see docs/DECISIONS.md.
        repository.add_settings(
            session, CommunicationSetting(user_id=user.id, merchant_id=merchant_id)
        )
        await session.flush()
    return user, membership


async def list_members(
    session: AsyncSession, merchant_id: str | None
) -> Sequence[tuple[User, Membership]]:
    return await repository.all_with_memberships(session, MerchantScope.operator(merchant_id))


# --- Partner side ---------------------------------------------------------------------------

USER_FIELDS = frozenset({"email", "phone", "first_name", "last_name", "birth_date", "zip_code"})


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as one partner call sees them: the loyalty and settings shown are those of the
    membership the user joined first among the call's merchants."""

    user: UserFields
    membership: MembershipFields | None
    settings: SettingsFields | None


@dataclass(frozen=True, slots=True)
class SettingsView:
    id: str | None
    user_id: str
    merchant_id: str
    reward_progress_email: bool
    reward_offer_notification: bool
    reward_offer_email: bool
    marketing_general_email: bool
    updated_at: datetime | None


async def _views(
    session: AsyncSession, scope: MerchantScope, users: Sequence[User]
) -> list[UserView]:
    first: dict[str, tuple[Membership, CommunicationSetting | None]] = {}
    for membership, settings in await repository.memberships_of(
        session, scope, [u.id for u in users]
    ):
        first.setdefault(membership.user_id, (membership, settings))
    views = []
    for user in users:
        found = first.get(user.id)
        views.append(
            UserView(
                user=user,
                membership=found[0] if found else None,
                settings=found[1] if found else None,
            )
        )
    return views


async def list_users(
    session: AsyncSession,
    principal: PartnerPrincipal | ControlPrincipal,
    *,
    merchant_id: str | None,
    email: str | None,
    phone: str | None,
    updated_after: datetime | None,
    updated_before: datetime | None,
    page: Page,
) -> PageResult[UserView]:
    """Members of the call's merchants, newest first. Email and phone match after normalisation,
    so the same person written differently is found; bounds on ``updated_at`` are exclusive."""
    scope = principal.merchants(merchant_id)
    norm_email = require_email(email, "email") if email is not None else None
    norm_phone = require_phone(phone, "phone") if phone is not None else None
    if updated_after and updated_before and updated_after >= updated_before:
        raise ValidationFailed("updated_before: must be later than updated_after")
    if norm_email is not None or norm_phone is not None:
        # Emails and phones are unique: at most one user, found with a membership in one query.
        found = await repository.find_member(
            session,
            scope,
            email=norm_email,
            phone=norm_phone,
            updated_after=updated_after,
            updated_before=updated_before,
        )
        view = [UserView(user=found[0], membership=found[1], settings=found[2])] if found else []
        return PageResult(items=view if page.offset == 0 else [], total=len(view), page=page)
    result = await repository.list_users(
        session,
        scope,
        email=norm_email,
        phone=norm_phone,
        updated_after=updated_after,
        updated_before=updated_before,
        page=page,
    )
    views = await _views(session, scope, result.items)
    return PageResult(items=views, total=result.total, page=result.page)


async def get_user(
    session: AsyncSession, principal: PartnerPrincipal, *, user_id: str, merchant_id: str | None
) -> UserView:
    scope = principal.merchants(merchant_id)
    user = await repository.get_user(session, scope, user_id)
    if user is None:
        raise NotFound()
    return (await _views(session, scope, [user]))[0]


async def update_user(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    user_id: str,
    merchant_id: str | None,
    changes: Mapping[str, Any],
) -> UserView:
    """Apply the fields present in ``changes`` (``None`` clears one). The email and phone are
    normalised and must not belong to another user; a user keeps at least one of them."""
    unknown = set(changes) - USER_FIELDS
    if unknown:
        raise ValidationFailed(f"user.{sorted(unknown)[0]}: cannot be updated")
    scope = principal.merchants(merchant_id)
    user = await repository.get_user(session, scope, user_id)
    if user is None:
        raise NotFound()
    values = dict(changes)
    if "email" in values and values["email"] is not None:
        values["email"] = require_email(values["email"], "user.email")
        if values["email"] != user.email and await repository.other_user_with(
            session, user_id=user.id, email=values["email"]
        ):
            raise ValidationFailed("user.email: already belongs to another user")
    if "phone" in values and values["phone"] is not None:
        values["phone"] = require_phone(values["phone"], "user.phone")
        if values["phone"] != user.phone and await repository.other_user_with(
            session, user_id=user.id, phone=values["phone"]
        ):
            raise ValidationFailed("user.phone: already belongs to another user")
    email_after = values.get("email", user.email)
    phone_after = values.get("phone", user.phone)
    if email_after is None and phone_after is None:
        cleared = "email" if "email" in values else "phone"
        raise ValidationFailed(f"user.{cleared}: a user needs an email or a phone")
    for name in ("first_name", "last_name", "zip_code"):
        if isinstance(values.get(name), str):
            values[name] = values[name].strip() or None
    birth_date = values.get("birth_date")
    if isinstance(birth_date, date) and birth_date > clock.business_now().date():
        raise ValidationFailed("user.birth_date: is in the future")
    for name, value in values.items():
        setattr(user, name, value)
    try:
        await session.flush()
    except IntegrityError:
        # Another request took the email or phone between our check and this write.
        field = "email" if "email" in values else "phone"
        raise ValidationFailed(f"user.{field}: already belongs to another user") from None
    return (await _views(session, scope, [user]))[0]


def _settings_view(membership: Membership, settings: CommunicationSetting | None) -> SettingsView:
    if settings is None:
        # Not created with the membership (data written outside the services): the defaults.
        return SettingsView(
            id=None,
            user_id=membership.user_id,
            merchant_id=membership.merchant_id,
            reward_progress_email=True,
            reward_offer_notification=True,
            reward_offer_email=True,
            marketing_general_email=True,
            updated_at=None,
        )
    return SettingsView(
        id=settings.id,
        user_id=settings.user_id,
        merchant_id=settings.merchant_id,
        reward_progress_email=settings.reward_progress_email,
        reward_offer_notification=settings.reward_offer_notification,
        reward_offer_email=settings.reward_offer_email,
        marketing_general_email=settings.marketing_general_email,
        updated_at=settings.updated_at,
    )


async def _membership_for_settings(
    session: AsyncSession, principal: PartnerPrincipal, *, user_id: str, merchant_id: str | None
) -> tuple[Membership, CommunicationSetting | None]:
    """Settings are per (user, merchant). Without ``merchant_id`` the user must be a member of
    exactly one of the credential's merchants; otherwise the merchant must be named."""
    scope = principal.merchants(merchant_id)
    rows = await repository.memberships_of(session, scope, [user_id])
    if not rows:
        raise NotFound()
    if len(rows) > 1:
        raise ValidationFailed(
            "merchant_id: is required: the user is a member of several of your merchants"
        )
    return rows[0]


async def get_settings(
    session: AsyncSession, principal: PartnerPrincipal, *, user_id: str, merchant_id: str | None
) -> SettingsView:
    membership, settings = await _membership_for_settings(
        session, principal, user_id=user_id, merchant_id=merchant_id
    )
    return _settings_view(membership, settings)


async def update_settings(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    user_id: str,
    merchant_id: str | None,
    body_merchant_id: str | None = None,
    changes: Mapping[str, bool],
) -> SettingsView:
    """Partial update: only the channels in ``changes`` change."""
    merchant_id = merchant_id_of_call(query=merchant_id, body=body_merchant_id)
    unknown = set(changes) - set(repository.SETTING_COLUMNS)
    if unknown:
        raise ValidationFailed(f"communication_setting: unknown setting {sorted(unknown)[0]}")
    membership, settings = await _membership_for_settings(
        session, principal, user_id=user_id, merchant_id=merchant_id
    )
    if not changes:
        return _settings_view(membership, settings)
    before = _settings_view(membership, settings)
    row = await repository.upsert_settings(
        session,
        user_id=membership.user_id,
        merchant_id=membership.merchant_id,
        changes=dict(changes),
    )
    # The user resource shows these settings: partners syncing with updated_after must see it.
    await repository.touch_users(session, [membership.user_id], at=row.updated_at)
    after = _settings_view(membership, row)
    if any(getattr(before, c) != getattr(after, c) for c in repository.SETTING_COLUMNS):
        await outbox.emit_one(
            session,
            merchant_id=after.merchant_id,
            type=EventType.COMMUNICATION_SETTING,
            subject_id=after.user_id,
            body=events.communication_setting(
                setting_id=after.id,
                merchant_id=after.merchant_id,
                user_id=after.user_id,
                reward_progress_email=after.reward_progress_email,
                reward_offer_notification=after.reward_offer_notification,
                reward_offer_email=after.reward_offer_email,
                marketing_general_email=after.marketing_general_email,
            ),
            now=clock.business_now(),
        )
    return after


@dataclass(frozen=True, slots=True)
class SmsSubscription:
    user_id: str
    merchant_id: str
    phone: str
    email: str | None
    opted_in_at: datetime


async def opt_in_sms(
    session: AsyncSession, scope: MerchantScope, *, user_id: str
) -> SmsSubscription:
    """Sandbox customer step: the member opts into the merchant's SMS marketing. The first
    opt-in sends ``sms_subscription.created`` (D.5) in this transaction; a repeat changes
    nothing and sends nothing."""
    rows = await repository.member_with_user(session, scope, user_id)
    if not rows:
        raise NotFound()
    if len(rows) > 1:
        raise ValidationFailed(
            "merchant_id: is required: the user is a member of several merchants"
        )
    membership, user = rows[0]
    if not user.phone:
        raise InvalidState("user.phone: the member has no phone number to opt in")
    if membership.sms_opted_in_at is None:
        membership.sms_opted_in_at = clock.business_now()
        await session.flush()
        await outbox.emit_one(
            session,
            merchant_id=membership.merchant_id,
            type=EventType.SMS_SUBSCRIPTION,
            subject_id=user.id,
            body=events.sms_subscription(
                user_id=user.id,
                merchant_id=membership.merchant_id,
                phone=user.phone,
                email=user.email,
            ),
            now=membership.sms_opted_in_at,
        )
    return SmsSubscription(
        user_id=user.id,
        merchant_id=membership.merchant_id,
        phone=user.phone,
        email=user.email,
        opted_in_at=membership.sms_opted_in_at,
    )
