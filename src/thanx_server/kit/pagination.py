"""Pagination (CONTRACT row 7), in one place: ``page``/``per_page`` in, ``pagination`` out.

The query parameters themselves are read by ``PageParams`` (``kit/params.py``), so that services
and the CLI use ``Page`` without loading the web layer.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.fastread import ReadQuery, Reads

T = TypeVar("T")
RowT = TypeVar("RowT", bound=tuple[Any, ...])

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


async def paginate(session: AsyncSession, stmt: Select[Any], page: Page) -> PageResult[Any]:
    """Count and fetch one page of ``stmt`` (which must already carry a stable ORDER BY).

    A statement selecting one entity or column yields scalars; otherwise rows.
    """
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    paged = stmt.limit(page.per_page).offset(page.offset)
    items: Sequence[Any]
    if len(stmt.column_descriptions) == 1:
        items = (await session.scalars(paged)).all()
    else:
        items = (await session.execute(paged)).all()
    return PageResult(items=items, total=total or 0, page=page)


class _Count(NamedTuple):
    total: int


class PagedReadQuery(Generic[RowT]):
    """A fast-path (``kit/fastread.py``) query read a page at a time: its count and one page.

    ``small=True`` declares that the filter always selects few rows (one user's rewards, a user by
    email): the page then carries the total as ``count(*) OVER ()``, one round trip instead of two
    (a round trip costs ~0.5 ms on the reference machine, the queries themselves ~0.1). A window
    count must compute and sort every matching row, so large filters keep a separate count.
    """

    def __init__(self, row: type[RowT], stmt: Select[Any], *, small: bool = False) -> None:
        counted = stmt.order_by(None).subquery()
        self.row = row
        self.count = ReadQuery(_Count, select(func.count().label("total")).select_from(counted))
        self.page = ReadQuery(row, stmt.limit(bindparam("limit")).offset(bindparam("offset")))
        self.counted_page: ReadQuery[tuple[Any, ...]] | None = None
        if small:
            fields = (*getattr(row, "_fields", ()), "total_count")
            self.counted_page = ReadQuery(
                namedtuple(f"{row.__name__}Counted", fields),
                stmt.add_columns(func.count().over().label("total_count"))
                .limit(bindparam("limit"))
                .offset(bindparam("offset")),
            )


async def read_page(
    reads: Reads, query: PagedReadQuery[RowT], page: Page, **params: Any
) -> PageResult[RowT]:
    """``paginate`` for a ``PagedReadQuery``; ``params`` bind every statement."""
    window = {"limit": page.per_page, "offset": page.offset}
    if query.counted_page is not None:
        rows = await reads.all(query.counted_page, **window, **params)
        if rows:
            items = [query.row(*row[:-1]) for row in rows]
            return PageResult(items=items, total=rows[0][-1], page=page)
        if page.offset == 0:
            return PageResult(items=[], total=0, page=page)
        # Past the end: only a count can tell how many there are.
    counted = await reads.one(query.count, **params)
    total = counted.total if counted is not None else 0
    if query.counted_page is not None or total <= page.offset:  # past the end: no page query
        return PageResult(items=[], total=total, page=page)
    return PageResult(items=await reads.all(query.page, **window, **params), total=total, page=page)
