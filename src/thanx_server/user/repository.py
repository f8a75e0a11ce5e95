"""SQL for users and memberships."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypeVarTuple, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from thanx_server.kit.clock import business_now
from thanx_server.kit.db import UTCDateTime
from thanx_server.kit.ids import new_id
from thanx_server.kit.pagination import Page, Paged, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list, in_list_param
from thanx_server.kit.upsert import upsert_insert
from thanx_server.models import CommunicationSetting, Membership, User


async def find_by_email_or_phone(
    session: AsyncSession, *, email: str | None, phone: str | None
) -> Sequence[User]:
    conditions = []
    if email is not None:
        conditions.append(User.email == email)
    if phone is not None:
        conditions.append(User.phone == phone)
    if not conditions:
        return []
    return (await session.scalars(select(User).where(or_(*conditions)))).all()


async def get_membership(
    session: AsyncSession, user_id: str, merchant_id: str
) -> Membership | None:
    return await session.get(Membership, (user_id, merchant_id))


async def get_settings(
    session: AsyncSession, scope: MerchantScope, user_id: str
) -> CommunicationSetting | None:
    """The member's settings at the scope's one merchant."""
    return await session.scalar(
        select(CommunicationSetting).where(
            CommunicationSetting.user_id == user_id, scope.clause(CommunicationSetting.merchant_id)
        )
    )


async def all_with_memberships(
    session: AsyncSession, scope: MerchantScope
) -> Sequence[tuple[User, Membership]]:
    stmt = (
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(scope.clause(Membership.merchant_id))
        .order_by(User.created_at, User.id)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


# --- Partner-facing queries: every one filters memberships through the credential's scope. ---


def _member_where(in_scope: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(Membership.user_id).where(Membership.user_id == User.id, in_scope))


def member_of(scope: MerchantScope) -> ColumnElement[bool]:
    """The user is a member of at least one merchant of ``scope``: the one visibility rule for
    users (tokens, tags, purchases, grants, issuance matching, lists and lookups all ask it)."""
    return _member_where(scope.clause(Membership.merchant_id))


# The same rule for statements built once, the scope given at execution (``scope.params()``).
MEMBER_OF_SCOPE = _member_where(MerchantScope.bound(Membership.merchant_id))

# How many users ``MEMBER_OF_SCOPE`` admits, for a scope of ONE merchant and no other filter:
# its memberships (one per user and merchant, each with its user: the primary key and the
# cascading foreign key). Counting the rule itself probes every user (issue 17: one merchant's
# members list, under the kept-total threshold so counted on every request, read all 100k
# users: 48 ms on SQLite). Over several merchants a user may hold several memberships: those
# lists count the rule.
MEMBERS_OF_ONE_MERCHANT = (
    select(func.count()).select_from(Membership).where(MerchantScope.bound(Membership.merchant_id))
)


async def members_among(
    session: AsyncSession, scope: MerchantScope, user_ids: Iterable[str]
) -> set[str]:
    """Which of ``user_ids`` are members of a merchant of ``scope`` (one query)."""
    wanted = sorted(set(user_ids))
    if not wanted:
        return set()
    found = await session.scalars(select(User.id).where(in_list(User.id, wanted), member_of(scope)))
    return set(found.all())


async def members_by_email(
    session: AsyncSession, scope: MerchantScope, emails: Iterable[str]
) -> dict[str, str]:
    """Normalised email -> user id, among the members of ``scope`` (one query)."""
    return await _members_by(session, scope, User.email, emails)


async def members_by_phone(
    session: AsyncSession, scope: MerchantScope, phones: Iterable[str]
) -> dict[str, str]:
    """E.164 phone -> user id, among the members of ``scope`` (one query)."""
    return await _members_by(session, scope, User.phone, phones)


async def _members_by(
    session: AsyncSession,
    scope: MerchantScope,
    column: InstrumentedAttribute[str | None],
    values: Iterable[str],
) -> dict[str, str]:
    """``column`` value (a normalised email or phone) -> user id, among the members of
    ``scope`` (one query, the values bound as one parameter)."""
    wanted = sorted(set(values))
    if not wanted:
        return {}
    rows = await session.execute(
        select(column, User.id).where(in_list(column, wanted), member_of(scope))
    )
    return {value: user_id for value, user_id in rows if value is not None}


async def list_users(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    email: str | None,
    phone: str | None,
    updated_after: datetime | None,
    updated_before: datetime | None,
    page: Page,
) -> PageResult[User]:
    """Members of ``scope``, newest first."""
    given = {
        "email": email,
        "phone": phone,
        "updated_after": updated_after,
        "updated_before": updated_before,
    }
    params = {name: value for name, value in given.items() if value is not None}
    one_merchant = not params and len(scope.merchant_ids) == 1
    query = _members_query(*(name in params for name in given), one_merchant=one_merchant)
    return await paginate(session, query, page, {**params, **scope.params()})


Ts = TypeVarTuple("Ts")


def _filtered(
    stmt: Select[*Ts], email: bool, phone: bool, after: bool, before: bool
) -> Select[*Ts]:
    if email:
        stmt = stmt.where(User.email == bindparam("email"))
    if phone:
        stmt = stmt.where(User.phone == bindparam("phone"))
    if after:
        stmt = stmt.where(User.updated_at > bindparam("updated_after", type_=UTCDateTime()))
    if before:
        stmt = stmt.where(User.updated_at < bindparam("updated_before", type_=UTCDateTime()))
    return stmt


@functools.cache
def _members_query(
    email: bool, phone: bool, after: bool, before: bool, *, one_merchant: bool = False
) -> Paged:
    """One statement per combination of filters (16 at most), each built once; an unfiltered
    list of one merchant is counted by its memberships (``MEMBERS_OF_ONE_MERCHANT``)."""
    stmt = _filtered(select(User).where(MEMBER_OF_SCOPE), email, phone, after, before)
    count = MEMBERS_OF_ONE_MERCHANT if one_merchant else None
    return Paged(stmt.order_by(User.created_at.desc(), User.id.desc()), count=count)


class UserFields(Protocol):
    """What a user's answer reads: a mapped ``User`` or a ``UserRow``."""

    @property
    def id(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def birth_date(self) -> date | None: ...
    @property
    def zip_code(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime: ...


class MembershipFields(Protocol):
    """What a member's loyalty reads: a mapped ``Membership`` or a ``MembershipRow``."""

    @property
    def merchant_id(self) -> str: ...
    @property
    def tier(self) -> str: ...
    @property
    def points_balance(self) -> Decimal: ...
    @property
    def joined_at(self) -> datetime: ...


class SettingsFields(Protocol):
    """What a member's communication settings show (the API and the console's member page):
    a mapped row or a ``SettingsRow``."""

    @property
    def reward_progress_email(self) -> bool: ...
    @property
    def reward_offer_notification(self) -> bool: ...
    @property
    def reward_offer_email(self) -> bool: ...
    @property
    def marketing_general_email(self) -> bool: ...


class UserRow(NamedTuple):
    id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    zip_code: str | None
    updated_at: datetime


class MembershipRow(NamedTuple):
    merchant_id: str
    tier: str
    points_balance: Decimal
    joined_at: datetime


class SettingsRow(NamedTuple):
    reward_progress_email: bool
    reward_offer_notification: bool
    reward_offer_email: bool
    marketing_general_email: bool


_USERS = cast(Table, User.__table__)
_MEMBERSHIP_TABLE = cast(Table, Membership.__table__)
_SETTINGS = cast(Table, CommunicationSetting.__table__)
_AT_MEMBERSHIP = len(UserRow._fields)
_AT_SETTINGS = _AT_MEMBERSHIP + len(MembershipRow._fields)


@functools.cache
def _member_lookup(
    email: bool, phone: bool, after: bool, before: bool, everything: bool = False
) -> Select[Any]:
    """The user with an email or a phone (both unique: at most one), each of their memberships
    in scope with its settings, first joined first: the user and what the response shows of
    them in one round trip. ``everything``: an operator's scope (the console), every merchant.

    Over the tables (Core), the columns the answer shows and the settings row's id (NULL when
    the member has none): a hot read, executed without the ORM's per-execution work and entity
    loading (docs/PERFORMANCE.md, issue 17)."""
    in_scope = true() if everything else MerchantScope.bound(Membership.merchant_id)
    stmt = (
        select(
            *(_USERS.c[name] for name in UserRow._fields),
            *(_MEMBERSHIP_TABLE.c[name] for name in MembershipRow._fields),
            *(_SETTINGS.c[name] for name in SettingsRow._fields),
            _SETTINGS.c.id,
        )
        .select_from(_USERS)
        .join(Membership, and_(Membership.user_id == User.id, in_scope))
        .outerjoin(
            CommunicationSetting,
            and_(
                CommunicationSetting.user_id == Membership.user_id,
                CommunicationSetting.merchant_id == Membership.merchant_id,
            ),
        )
    )
    stmt = _filtered(stmt, email, phone, after, before)
    return stmt.order_by(Membership.joined_at, Membership.merchant_id).limit(1)


async def find_member(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    email: str | None,
    phone: str | None,
    updated_after: datetime | None,
    updated_before: datetime | None,
) -> tuple[UserRow, MembershipRow, SettingsRow | None] | None:
    """The member with this email or phone and their first membership in ``scope``."""
    given = {
        "email": email,
        "phone": phone,
        "updated_after": updated_after,
        "updated_before": updated_before,
    }
    params = {name: value for name, value in given.items() if value is not None}
    stmt = _member_lookup(*(name in params for name in given), everything=scope.everything)
    scoped = {} if scope.everything else scope.params()
    row = (await session.execute(stmt, {**params, **scoped})).first()
    if row is None:
        return None
    settings = SettingsRow._make(row[_AT_SETTINGS:-1]) if row[-1] is not None else None
    return (
        UserRow._make(row[:_AT_MEMBERSHIP]),
        MembershipRow._make(row[_AT_MEMBERSHIP:_AT_SETTINGS]),
        settings,
    )


_MEMBER_BY_ID = select(User).where(User.id == bindparam("user_id"), MEMBER_OF_SCOPE)


async def get_user(session: AsyncSession, scope: MerchantScope, user_id: str) -> User | None:
    return await session.scalar(_MEMBER_BY_ID, {"user_id": user_id, **scope.params()})


async def memberships_of(
    session: AsyncSession, scope: MerchantScope, user_ids: Sequence[str]
) -> Sequence[tuple[Membership, CommunicationSetting | None]]:
    """Memberships of ``user_ids`` within ``scope`` with their settings, first joined first."""
    if not user_ids:
        return []
    params = {"user_ids": list(user_ids), **scope.params()}
    return [(row[0], row[1]) for row in (await session.execute(_MEMBERSHIPS, params)).all()]


_MEMBERSHIPS = (
    select(Membership, CommunicationSetting)
    .outerjoin(
        CommunicationSetting,
        and_(
            CommunicationSetting.user_id == Membership.user_id,
            CommunicationSetting.merchant_id == Membership.merchant_id,
        ),
    )
    .where(
        in_list_param(Membership.user_id, "user_ids"), MerchantScope.bound(Membership.merchant_id)
    )
    .order_by(Membership.user_id, Membership.joined_at, Membership.merchant_id)
)


async def other_user_with(
    session: AsyncSession, *, user_id: str, email: str | None = None, phone: str | None = None
) -> bool:
    """Whether a user other than ``user_id`` holds this email or phone (every merchant counts:
    emails and phones are unique across the whole server)."""
    condition = User.email == email if email is not None else User.phone == phone
    found = await session.scalar(select(User.id).where(condition, User.id != user_id).limit(1))
    return found is not None


# Built once: purchases touch their member on every call (a hot write, issue 17).
_TOUCH = (
    update(User)
    .where(in_list_param(User.id, "user_ids"))
    .values(updated_at=bindparam("at", type_=UTCDateTime()))
    .execution_options(synchronize_session=False)
)


async def touch_users(session: AsyncSession, user_ids: Sequence[str], *, at: datetime) -> None:
    """Move ``updated_at`` of these users: something their resource shows (points, settings)
    changed, and partners syncing with ``updated_after`` must see it."""
    await session.execute(_TOUCH, {"user_ids": list(user_ids), "at": at})


def add_settings(session: AsyncSession, settings: CommunicationSetting) -> None:
    session.add(settings)


async def upsert_settings(
    session: AsyncSession, *, user_id: str, merchant_id: str, changes: dict[str, bool]
) -> CommunicationSetting:
    """Create the member's settings row with ``changes`` over the defaults, or apply ``changes``
    to the existing row: one statement either way, safe against a concurrent first write."""
    now = business_now()
    values: dict[str, Any] = {
        "id": new_id(),
        "user_id": user_id,
        "merchant_id": merchant_id,
        **{column: True for column in SETTING_COLUMNS},
        **changes,
        "created_at": now,
        "updated_at": now,
    }
    insert = upsert_insert(session, CommunicationSetting)
    stmt = insert.values(values).on_conflict_do_update(
        index_elements=["user_id", "merchant_id"],
        set_={
            **{column: getattr(insert.excluded, column) for column in changes},
            "updated_at": now,
        },
    )
    await session.execute(stmt)
    row = await session.scalar(
        select(CommunicationSetting)
        .where(
            CommunicationSetting.user_id == user_id,
            MerchantScope.one(merchant_id).clause(CommunicationSetting.merchant_id),
        )
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


SETTING_COLUMNS = (
    "reward_progress_email",
    "reward_offer_notification",
    "reward_offer_email",
    "marketing_general_email",
)


async def member_with_user(
    session: AsyncSession, scope: MerchantScope, user_id: str
) -> list[tuple[Membership, User]]:
    """The user's memberships within ``scope``, each with the user, first joined first."""
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.user_id == user_id, scope.clause(Membership.merchant_id))
        .order_by(Membership.joined_at, Membership.merchant_id)
    )
    return [(row[0], row[1]) for row in rows]
