"""SQL for users and memberships."""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.db import UTCDateTime
from thanx_server.kit.fastread import ReadQuery, Reads, select_row
from thanx_server.kit.ids import new_id
from thanx_server.kit.pagination import Page, PagedReadQuery, PageResult, read_page
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list_param
from thanx_server.kit.time import utcnow
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


async def all_with_memberships(
    session: AsyncSession, merchant_id: str | None
) -> Sequence[tuple[User, Membership]]:
    stmt = (
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .order_by(User.created_at, User.id)
    )
    if merchant_id is not None:
        stmt = stmt.where(Membership.merchant_id == merchant_id)
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


# --- Partner-facing queries: every one filters memberships through the credential's scope. ---


def _member_of(scope: MerchantScope) -> ColumnElement[bool]:
    """The user is a member of at least one merchant of ``scope``."""
    return exists(
        select(Membership.user_id).where(
            Membership.user_id == User.id, scope.clause(Membership.merchant_id)
        )
    )


class UserRow(NamedTuple):
    """A user as partner calls show them."""

    id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    zip_code: str | None
    updated_at: datetime


class MembershipRow(NamedTuple):
    """A membership with the member's marketing email choice (``None``: never set)."""

    user_id: str
    merchant_id: str
    joined_at: datetime
    tier: str
    points_balance: Decimal
    marketing_general_email: bool | None


_MEMBER_OF_SCOPE = exists(
    select(Membership.user_id).where(
        Membership.user_id == User.id, in_list_param(Membership.merchant_id, "merchant_ids")
    )
)


def _filtered(
    stmt: Select[Any], email: bool, phone: bool, updated_after: bool, updated_before: bool
) -> Select[Any]:
    if email:
        stmt = stmt.where(User.email == bindparam("email"))
    if phone:
        stmt = stmt.where(User.phone == bindparam("phone"))
    if updated_after:
        stmt = stmt.where(User.updated_at > bindparam("updated_after", type_=UTCDateTime()))
    if updated_before:
        stmt = stmt.where(User.updated_at < bindparam("updated_before", type_=UTCDateTime()))
    return stmt


# The optional filters of the members queries, in the order of their cached variants' flags.
_FILTERS = ("email", "phone", "updated_after", "updated_before")


def _given(
    *, email: str | None, phone: str | None, after: datetime | None, before: datetime | None
) -> dict[str, Any]:
    """The filters given, by bind parameter name (a query variant has a parameter per filter)."""
    values = dict(zip(_FILTERS, (email, phone, after, before), strict=True))
    return {name: value for name, value in values.items() if value is not None}


@functools.cache
def _users_query(
    email: bool, phone: bool, updated_after: bool, updated_before: bool
) -> PagedReadQuery[UserRow]:
    """One compiled statement per combination of filters (16 at most), so each keeps its index."""
    stmt = select_row(UserRow, User).where(_MEMBER_OF_SCOPE)
    stmt = _filtered(stmt, email, phone, updated_after, updated_before)
    return PagedReadQuery(UserRow, stmt.order_by(User.created_at.desc(), User.id.desc()))


# A user (the columns of UserRow) with one of their memberships in scope (MembershipRow's, but
# its user_id) and that membership's marketing email choice.
_MEMBER_FIELDS = (*UserRow._fields, *MembershipRow._fields[1:])
_MemberRow = namedtuple("_MemberRow", _MEMBER_FIELDS)  # type: ignore[misc]  # computed


@functools.cache
def _member_lookup(
    email: bool, phone: bool, updated_after: bool, updated_before: bool
) -> ReadQuery[Any]:
    """The user with this email or phone joined with their memberships in scope, first joined
    first: one round trip where a page would take two (the page, then its memberships)."""
    stmt = (
        select_row(UserRow, User)
        .add_columns(
            Membership.merchant_id,
            Membership.joined_at,
            Membership.tier,
            Membership.points_balance,
            CommunicationSetting.marketing_general_email,
        )
        .join(
            Membership,
            and_(
                Membership.user_id == User.id,
                in_list_param(Membership.merchant_id, "merchant_ids"),
            ),
        )
        .outerjoin(
            CommunicationSetting,
            and_(
                CommunicationSetting.user_id == Membership.user_id,
                CommunicationSetting.merchant_id == Membership.merchant_id,
            ),
        )
    )
    stmt = _filtered(stmt, email, phone, updated_after, updated_before)
    return ReadQuery(_MemberRow, stmt.order_by(Membership.joined_at, Membership.merchant_id))


async def find_member(
    reads: Reads,
    scope: MerchantScope,
    *,
    email: str | None,
    phone: str | None,
    updated_after: datetime | None,
    updated_before: datetime | None,
) -> tuple[UserRow, MembershipRow] | None:
    """The member with this email or phone (both unique: at most one) and their first
    membership in ``scope``."""
    given = _given(email=email, phone=phone, after=updated_after, before=updated_before)
    query = _member_lookup(*(name in given for name in _FILTERS))
    row = await reads.one(query, merchant_ids=scope.merchant_ids, **given)
    if row is None:
        return None
    user = UserRow._make(row[: len(UserRow._fields)])
    membership = MembershipRow._make((row.id, *row[len(UserRow._fields) :]))
    return user, membership


_USER_BY_ID = ReadQuery(
    UserRow, select_row(UserRow, User).where(User.id == bindparam("user_id"), _MEMBER_OF_SCOPE)
)

_MEMBERSHIPS = ReadQuery(
    MembershipRow,
    select(
        Membership.user_id,
        Membership.merchant_id,
        Membership.joined_at,
        Membership.tier,
        Membership.points_balance,
        CommunicationSetting.marketing_general_email,
    )
    .outerjoin(
        CommunicationSetting,
        and_(
            CommunicationSetting.user_id == Membership.user_id,
            CommunicationSetting.merchant_id == Membership.merchant_id,
        ),
    )
    .where(
        in_list_param(Membership.user_id, "user_ids"),
        in_list_param(Membership.merchant_id, "merchant_ids"),
    )
    .order_by(Membership.user_id, Membership.joined_at, Membership.merchant_id),
)


async def list_users(
    reads: Reads,
    scope: MerchantScope,
    *,
    email: str | None,
    phone: str | None,
    updated_after: datetime | None,
    updated_before: datetime | None,
    page: Page,
) -> PageResult[UserRow]:
    given = _given(email=email, phone=phone, after=updated_after, before=updated_before)
    query = _users_query(*(name in given for name in _FILTERS))
    return await read_page(reads, query, page, merchant_ids=scope.merchant_ids, **given)


async def read_user(reads: Reads, scope: MerchantScope, user_id: str) -> UserRow | None:
    return await reads.one(_USER_BY_ID, user_id=user_id, merchant_ids=scope.merchant_ids)


async def get_user(session: AsyncSession, scope: MerchantScope, user_id: str) -> User | None:
    """The user as an ORM object, for changes."""
    return await session.scalar(select(User).where(User.id == user_id, _member_of(scope)))


async def read_memberships(
    reads: Reads, scope: MerchantScope, user_ids: Sequence[str]
) -> list[MembershipRow]:
    """Memberships of ``user_ids`` within ``scope``, first joined first."""
    if not user_ids:
        return []
    return await reads.all(_MEMBERSHIPS, user_ids=list(user_ids), merchant_ids=scope.merchant_ids)


async def memberships_of(
    session: AsyncSession, scope: MerchantScope, user_ids: Sequence[str]
) -> Sequence[tuple[Membership, CommunicationSetting | None]]:
    """Memberships of ``user_ids`` within ``scope`` with their settings, first joined first."""
    if not user_ids:
        return []
    stmt = (
        select(Membership, CommunicationSetting)
        .outerjoin(
            CommunicationSetting,
            and_(
                CommunicationSetting.user_id == Membership.user_id,
                CommunicationSetting.merchant_id == Membership.merchant_id,
            ),
        )
        .where(Membership.user_id.in_(user_ids), scope.clause(Membership.merchant_id))
        .order_by(Membership.user_id, Membership.joined_at, Membership.merchant_id)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def other_user_with(
    session: AsyncSession, *, user_id: str, email: str | None = None, phone: str | None = None
) -> bool:
    """Whether a user other than ``user_id`` holds this email or phone (every merchant counts:
    emails and phones are unique across the whole server)."""
    condition = User.email == email if email is not None else User.phone == phone
    found = await session.scalar(select(User.id).where(condition, User.id != user_id).limit(1))
    return found is not None


def add_settings(session: AsyncSession, settings: CommunicationSetting) -> None:
    session.add(settings)


async def upsert_settings(
    session: AsyncSession, *, user_id: str, merchant_id: str, changes: dict[str, bool]
) -> CommunicationSetting:
    """Create the member's settings row with ``changes`` over the defaults, or apply ``changes``
    to the existing row: one statement either way, safe against a concurrent first write."""
    now = utcnow()
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
            CommunicationSetting.user_id == user_id, CommunicationSetting.merchant_id == merchant_id
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
