"""Rules for tags (reference B.5).

Tags belong to a (user, merchant) membership and are shared by every partner of the merchant.
Writes name one merchant and up to 500 users, all of whom must be its members (else 404 and
nothing is written); a key holds up to 50 strings, kept in the order sent with repeats dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import ControlPrincipal, PartnerPrincipal, merchant_id_of_call
from thanx_server.kit.errors import NotFound, ValidationFailed
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Tag
from thanx_server.tag import repository
from thanx_server.tag.schemas import MAX_KEY_LENGTH, MAX_USERS, MAX_VALUE_LENGTH, MAX_VALUES
from thanx_server.user import repository as user_repository


def _distinct(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _clean_key(key: str) -> str:
    key = key.strip()
    if not key:
        raise ValidationFailed("key: must not be blank")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(f"key: at most {MAX_KEY_LENGTH} characters")
    return key


def _clean_user_ids(user_ids: Sequence[str]) -> list[str]:
    cleaned = _distinct([u.strip() for u in user_ids if u.strip()])
    if not cleaned:
        raise ValidationFailed("user_ids: at least one user id is required")
    if len(cleaned) > MAX_USERS:
        raise ValidationFailed(f"user_ids: at most {MAX_USERS} user ids per call")
    return cleaned


async def _members_scope(
    session: AsyncSession, principal: PartnerPrincipal, merchant_id: str, user_ids: list[str]
) -> MerchantScope:
    scope = principal.merchants(principal.merchant(merchant_id))
    missing = set(user_ids) - await user_repository.members_among(session, scope, user_ids)
    if missing:
        raise NotFound(f"user_ids: no member {', '.join(sorted(missing)[:5])} at this merchant")
    return scope


async def list_tags(
    session: AsyncSession,
    principal: PartnerPrincipal | ControlPrincipal,
    *,
    merchant_id: str | None,
    user_ids: Sequence[str],
    key: str | None,
    page: Page,
) -> PageResult[Tag]:
    scope = principal.merchants(merchant_id)
    return await repository.list_tags(
        session,
        scope,
        user_ids=_clean_user_ids(user_ids),
        key=_clean_key(key) if key is not None else None,
        page=page,
    )


async def upsert_tags(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    merchant_id: str,
    user_ids: Sequence[str],
    key: str,
    values: Sequence[str],
) -> None:
    ids = _clean_user_ids(user_ids)
    key = _clean_key(key)
    if len(values) > MAX_VALUES:
        raise ValidationFailed(f"values: at most {MAX_VALUES} values")
    for index, value in enumerate(values):
        if len(value) > MAX_VALUE_LENGTH:
            raise ValidationFailed(f"values[{index}]: at most {MAX_VALUE_LENGTH} characters")
    scope = await _members_scope(session, principal, merchant_id, ids)
    await repository.upsert_tags(session, scope, user_ids=ids, key=key, values=_distinct(values))


async def delete_tags(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    merchant_id: str | None,
    body_merchant_id: str | None = None,
    user_ids: Sequence[str],
    key: str | None,
) -> None:
    """Remove ``key`` from each of the users (a user without it is left as is)."""
    merchant_id = merchant_id_of_call(query=merchant_id, body=body_merchant_id)
    if merchant_id is None:
        raise ValidationFailed("merchant_id: is required")
    if key is None:
        raise ValidationFailed("key: is required")
    ids = _clean_user_ids(user_ids)
    scope = await _members_scope(session, principal, merchant_id, ids)
    await repository.delete_tags(session, scope, user_ids=ids, key=_clean_key(key))


async def tag_members(
    session: AsyncSession,
    *,
    merchant_id: str,
    user_ids: Sequence[str],
    key: str,
    values: Sequence[str],
) -> bool:
    """Operator side (demo data): set the key for members of ``merchant_id``. Returns whether
    any of them lacked it."""
    scope = MerchantScope((merchant_id,))
    ids = _clean_user_ids(user_ids)
    key = _clean_key(key)
    existing = await repository.list_tags(
        session, scope, user_ids=ids, key=key, page=Page(per_page=MAX_USERS)
    )
    await repository.upsert_tags(session, scope, user_ids=ids, key=key, values=_distinct(values))
    return existing.total < len(ids)
