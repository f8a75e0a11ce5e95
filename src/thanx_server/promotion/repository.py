"""SQL for promotions and their codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.bulk import insert_rows
from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Promotion, PromotionCode, PromotionCodeBatch


def active_clause(now: datetime) -> ColumnElement[bool]:
    """Started (or no start) and not ended (or no end): both ends inclusive."""
    return and_(
        or_(Promotion.start_at.is_(None), Promotion.start_at <= now),
        or_(Promotion.end_at.is_(None), Promotion.end_at >= now),
    )


async def list_active(
    session: AsyncSession, scope: MerchantScope, *, now: datetime, page: Page
) -> PageResult[Promotion]:
    stmt = (
        select(Promotion)
        .where(scope.clause(Promotion.merchant_id), active_clause(now))
        .order_by(Promotion.created_at.desc(), Promotion.id.desc())
    )
    return await paginate(session, stmt, page)


async def get(session: AsyncSession, scope: MerchantScope, promotion_id: str) -> Promotion | None:
    return await session.scalar(
        select(Promotion).where(Promotion.id == promotion_id, scope.clause(Promotion.merchant_id))
    )


async def get_batch(
    session: AsyncSession, promotion_id: str, batch_id: str
) -> PromotionCodeBatch | None:
    return await session.scalar(
        select(PromotionCodeBatch).where(
            PromotionCodeBatch.id == batch_id, PromotionCodeBatch.promotion_id == promotion_id
        )
    )


async def codes_page(
    session: AsyncSession, promotion: Promotion, *, batch_id: str | None, page: Page, total: int
) -> Sequence[PromotionCode]:
    """A page of the promotion's codes in code order: the primary key ``(merchant_id, code)``
    walks the merchant's codes in that order. The total is the promotion's (or batch's) kept
    count, not a count over the pool."""
    if page.offset >= total:
        return []
    stmt = (
        select(PromotionCode)
        .where(
            MerchantScope.one(promotion.merchant_id).clause(PromotionCode.merchant_id),
            PromotionCode.promotion_id == promotion.id,
        )
        .order_by(PromotionCode.merchant_id, PromotionCode.code)
        .limit(page.per_page)
        .offset(page.offset)
    )
    if batch_id is not None:
        stmt = stmt.where(PromotionCode.batch_id == batch_id)
    return (await session.scalars(stmt)).all()


async def insert_codes(
    session: AsyncSession,
    promotion: Promotion,
    *,
    batch_id: str,
    codes: Sequence[str],
    now: datetime,
) -> None:
    """One INSERT for the whole batch (``kit/bulk``: unnest / json_each)."""
    await insert_rows(
        session,
        PromotionCode.__table__,  # type: ignore[arg-type]
        shared={
            "merchant_id": promotion.merchant_id,
            "promotion_id": promotion.id,
            "batch_id": batch_id,
            "state": "available",
            "created_at": now,
        },
        columns=["code"],
        rows=[(code,) for code in codes],
    )


async def count_added(
    session: AsyncSession, promotion: Promotion, added: int, now: datetime
) -> None:
    await session.execute(
        update(Promotion)
        .where(Promotion.id == promotion.id)
        .values(code_count=Promotion.code_count + added, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def add(session: AsyncSession, row: Promotion | PromotionCodeBatch) -> None:
    session.add(row)


async def find_by_name(session: AsyncSession, scope: MerchantScope, name: str) -> Promotion | None:
    return await session.scalar(
        select(Promotion).where(scope.clause(Promotion.merchant_id), Promotion.name == name)
    )


# --- Worker side (promotion/tasks.py) ---------------------------------------------------------


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        Promotion.codes_pending > 0,
        or_(Promotion.lease_expires_at.is_(None), Promotion.lease_expires_at < now),
    )


async def get_for_worker(session: AsyncSession, promotion_id: str) -> Promotion | None:
    """The promotion a worker holds the lease of (its merchant comes with it)."""
    return await session.get(Promotion, promotion_id, populate_existing=True)


async def any_pending(session: AsyncSession, now: datetime) -> bool:
    found = await session.scalar(select(Promotion.id).where(_claimable(now)).limit(1))
    return found is not None


async def claim_pending(
    session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime
) -> Promotion | None:
    """Take the lease of one promotion with codes to draw (oldest first). PostgreSQL skips rows
    other workers are claiming; SQLite's claimers take turns on its write lock."""
    pick = (
        select(Promotion.id)
        .where(_claimable(now))
        .order_by(Promotion.created_at, Promotion.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = await session.scalar(
        update(Promotion)
        .where(Promotion.id == pick, _claimable(now))
        .values(lease_owner=owner, lease_expires_at=lease_until)
        .returning(Promotion.id)
        .execution_options(synchronize_session=False)
    )
    if claimed is None:
        return None
    return await session.get(Promotion, claimed, populate_existing=True)


async def advance(
    session: AsyncSession,
    promotion_id: str,
    *,
    owner: str,
    pending: int,
    drawn: int,
    now: datetime,
    lease_until: datetime,
) -> bool:
    """Count a chunk as drawn, only if this worker still holds the lease at ``pending`` (a
    worker that lost it writes nothing). The last chunk hands the lease back."""
    left = pending - drawn
    result = await session.execute(
        update(Promotion)
        .where(
            Promotion.id == promotion_id,
            Promotion.lease_owner == owner,
            Promotion.codes_pending == pending,
        )
        .values(
            codes_pending=left,
            code_count=Promotion.code_count + drawn,
            updated_at=now,
            lease_owner=owner if left else None,
            lease_expires_at=lease_until if left else None,
            pending_batch_id=Promotion.pending_batch_id if left else None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1
