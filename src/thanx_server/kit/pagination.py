"""Pagination (CONTRACT row 7), in one place: ``page``/``per_page`` in, ``pagination`` out.

The query parameters themselves are read by ``PageParams`` (``kit/params.py``), so that services
and the CLI use ``Page`` without loading the web layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
MAX_PAGE = 1_000_000


@dataclass(frozen=True, slots=True)
class Page:
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


class Pagination(BaseModel):
    current_page: int
    per_page: int
    total_pages: int


class ConsumerPagination(Pagination):
    """The Consumer API spells the page count ``total_page``; both spellings are sent."""

    total_page: int


@dataclass(frozen=True, slots=True)
class PageResult(Generic[T]):
    items: Sequence[T]
    total: int
    page: Page

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.page.per_page)

    def pagination(self) -> Pagination:
        return Pagination(
            current_page=self.page.page, per_page=self.page.per_page, total_pages=self.total_pages
        )

    def consumer_pagination(self) -> ConsumerPagination:
        return ConsumerPagination(
            current_page=self.page.page,
            per_page=self.page.per_page,
            total_pages=self.total_pages,
            total_page=self.total_pages,
        )


class Paged:
    """A statement read a page at a time. Built once at import for a hot list (its window and
    count statements are then built once too, and SQLAlchemy caches their compilation), or per
    call for the others: ``paginate`` takes either.

    ``small=True`` declares that the filter always selects few rows (one user's rewards, a user
    by email or phone): the page then carries the total as ``count(*) OVER ()``, one statement
    instead of two. A window count computes and sorts every matching row, so large filters keep
    a separate count. A page past the end of a small list comes back empty and needs the count.
    """

    __slots__ = ("count", "counted", "scalars", "window")

    def __init__(self, stmt: Select[Any], *, small: bool = False) -> None:
        self.scalars = len(stmt.column_descriptions) == 1
        self.window = stmt.limit(bindparam(LIMIT_PARAM)).offset(bindparam(OFFSET_PARAM))
        self.counted = self.window.add_columns(func.count().over()) if small else None
        self.count = select(func.count()).select_from(stmt.order_by(None).subquery())


LIMIT_PARAM = "page_limit"
OFFSET_PARAM = "page_offset"


async def paginate(
    session: AsyncSession,
    query: Paged | Select[Any],
    page: Page,
    params: Mapping[str, Any] | None = None,
) -> PageResult[Any]:
    """Count and fetch one page of ``query`` (whose statement must carry a stable ORDER BY),
    with ``params`` bound to its parameters. A statement selecting one entity or column yields
    scalars; otherwise rows."""
    paged = query if isinstance(query, Paged) else Paged(query)
    window = {**(params or {}), LIMIT_PARAM: page.per_page, OFFSET_PARAM: page.offset}
    items: Sequence[Any]
    if paged.counted is not None:
        rows = (await session.execute(paged.counted, window)).all()
        if rows:
            items = [row[0] if paged.scalars else row[:-1] for row in rows]
            return PageResult(items=items, total=rows[0][-1], page=page)
        if page.offset == 0:
            return PageResult(items=[], total=0, page=page)
    total = (await session.scalar(paged.count, params)) or 0
    if paged.counted is not None or total <= page.offset:  # past the end: no page to fetch
        return PageResult(items=[], total=total, page=page)
    if paged.scalars:
        items = (await session.scalars(paged.window, window)).all()
    else:
        items = (await session.execute(paged.window, window)).all()
    return PageResult(items=items, total=total, page=page)
