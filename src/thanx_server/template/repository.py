"""SQL for reward templates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.fastread import ReadQuery, Reads
from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list_param
from thanx_server.models import RewardTemplate


async def list_published(
    session: AsyncSession, scope: MerchantScope, page: Page
) -> PageResult[RewardTemplate]:
    stmt = (
        select(RewardTemplate)
        .where(scope.clause(RewardTemplate.merchant_id), RewardTemplate.published.is_(True))
        .order_by(RewardTemplate.created_at.desc(), RewardTemplate.id.desc())
    )
    return await paginate(session, stmt, page)


async def get_published(
    session: AsyncSession, scope: MerchantScope, template_id: str
) -> RewardTemplate | None:
    return await session.scalar(
        select(RewardTemplate).where(
            RewardTemplate.id == template_id,
            scope.clause(RewardTemplate.merchant_id),
            RewardTemplate.published.is_(True),
        )
    )


class _TemplateId(NamedTuple):
    id: str


_PUBLISHED_OF_MERCHANT = ReadQuery(
    _TemplateId,
    select(RewardTemplate.id).where(
        in_list_param(RewardTemplate.id, "template_ids"),
        RewardTemplate.merchant_id == bindparam("merchant_id"),
        RewardTemplate.published.is_(True),
    ),
)


async def published_ids(reads: Reads, merchant_id: str, template_ids: Sequence[str]) -> set[str]:
    """Which of ``template_ids`` are published templates of ``merchant_id``."""
    if not template_ids:
        return set()
    rows = await reads.all(
        _PUBLISHED_OF_MERCHANT, template_ids=sorted(set(template_ids)), merchant_id=merchant_id
    )
    return {row.id for row in rows}


async def find_by_name(session: AsyncSession, merchant_id: str, name: str) -> RewardTemplate | None:
    return await session.scalar(
        select(RewardTemplate)
        .where(RewardTemplate.merchant_id == merchant_id, RewardTemplate.name == name)
        .order_by(RewardTemplate.created_at, RewardTemplate.id)
        .limit(1)
    )


async def all_templates(session: AsyncSession, merchant_id: str | None) -> Sequence[RewardTemplate]:
    stmt = select(RewardTemplate).order_by(RewardTemplate.created_at, RewardTemplate.id)
    if merchant_id is not None:
        stmt = stmt.where(RewardTemplate.merchant_id == merchant_id)
    return (await session.scalars(stmt)).all()


def add(session: AsyncSession, template: RewardTemplate) -> None:
    session.add(template)
