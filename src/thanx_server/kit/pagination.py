"""Pagination (CONTRACT row 7), in one place: ``page``/``per_page`` in, ``pagination`` out.

The query parameters themselves are read by ``PageParams`` (``kit/params.py``), so that services
and the CLI use ``Page`` without loading the web layer.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, and_, bindparam, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.operators import asc_op, desc_op

from thanx_server.kit.ttlcache import TtlCache

T = TypeVar("T")

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
MAX_PAGE = 1_000_000

# A total of at least TOTAL_KEPT_FROM rows is remembered for TOTAL_KEPT_SECONDS (per process), so
# a partner walking a large list page by page pays its count once, not once per page: counting a
# million members costs a read of a million index entries, the page itself a few. Below that
# size a count is cheap and always fresh. docs/DECISIONS.md, "Totals of large lists".
TOTAL_KEPT_FROM = 10_000
TOTAL_KEPT_SECONDS = 5.0
TOTAL_KEPT_PER_COUNT_SECOND = 20.0
_kept_totals: TtlCache[Hashable, int] = TtlCache(TOTAL_KEPT_SECONDS, max_entries=4096)
_serials = itertools.count()


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

    A statement ordered by columns all in one direction (the lists' ``created_at DESC, id DESC``)
    also gets a seek form for deep pages: ``(created_at, id) < (:seek_0, :seek_1)``, led by the
    same index as page 1, instead of an OFFSET that reads every row before the page.
    """

    __slots__ = ("count", "counted", "keyed", "keys", "scalars", "seek", "serial", "window")

    def __init__(
        self, stmt: Select[Any], *, small: bool = False, count: Select[Any] | None = None
    ) -> None:
        self.serial = next(_serials)  # names this statement among kept totals, never reused
        self.scalars = len(stmt.column_descriptions) == 1
        self.window = stmt.limit(bindparam(LIMIT_PARAM)).offset(bindparam(OFFSET_PARAM))
        self.counted = self.window.add_columns(func.count().over()) if small else None
        # ``count``: a statement counting the same rows with the same parameters, cheaper than
        # counting ``stmt`` (one merchant's members: its memberships, not every user probed).
        self.count = count if count is not None else (
            select(func.count()).select_from(stmt.order_by(None).subquery())
        )  # fmt: skip
        order = list(stmt._order_by_clauses)
        directions = {getattr(clause, "modifier", None) for clause in order}
        self.keys = 0
        self.keyed: Select[Any] | None = None
        self.seek: Select[Any] | None = None
        if order and not small and len(directions) == 1 and directions <= {desc_op, asc_op}:
            columns = [clause.element for clause in order]
            params = [bindparam(f"seek_{i}", type_=c.type) for i, c in enumerate(columns)]
            row, bound = tuple_(*columns), tuple_(*params)
            # The leading column's own range is implied by the row comparison, but PostgreSQL
            # estimates a row comparison at a third of the table (and then hashed and sorted all
            # of it for the last page of a million members); a plain range it estimates from
            # its histogram. The row comparison comes FIRST: SQLite takes the first of two
            # ranges on the index's leading column as the index's range, and the plain one
            # covers every row sharing the page end's leading value (users imported at one
            # instant): with it first, SQLite walked the index from the list's top to the page
            # (issue 17: a 1M-member last page, 1.7 s a request).
            if desc_op in directions:
                before = and_(row < bound, columns[0] <= params[0])
            else:
                before = and_(row > bound, columns[0] >= params[0])
            self.keys = len(columns)
            self.keyed = self.window.add_columns(*columns)
            self.seek = stmt.where(before).limit(bindparam(LIMIT_PARAM)).add_columns(*columns)


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
    statement = _statement_key(paged, query is paged)
    total = await _total(session, paged, statement, params)
    if paged.counted is not None or total <= page.offset:  # past the end: no page to fetch
        return PageResult(items=[], total=total, page=page)
    if paged.keyed is not None and page.offset >= DEEP_FROM and statement is not None:
        items = await _deep_page(session, paged, (statement, _hashable(params or {})), page, params)
    elif paged.scalars:
        items = (await session.scalars(paged.window, window)).all()
    else:
        items = (await session.execute(paged.window, window)).all()
    return PageResult(items=items, total=total, page=page)


# A page at least this deep is read from where the page before it ended when that is known
# (kept TOTAL_KEPT_SECONDS, like totals): a partner walking a large list page by page reads
# each page through the index from that point, not from the list's start. A page reached
# without its predecessor is read by OFFSET once (one row early, to learn where it starts).
DEEP_FROM = 100
_page_starts: TtlCache[Hashable, tuple[Any, ...]] = TtlCache(TOTAL_KEPT_SECONDS, max_entries=4096)


async def _deep_page(
    session: AsyncSession,
    paged: Paged,
    statement: Hashable,
    page: Page,
    params: Mapping[str, Any] | None,
) -> Sequence[Any]:
    """A deep page, by seek from the kept end of the page before it, else by OFFSET; either way
    the start of the next page is kept. Rows carry their sort key as ``paged.keys`` extra
    columns."""
    assert paged.keyed is not None
    assert paged.seek is not None
    start = _page_starts.get((statement, page.page, page.per_page))
    if start is not None:
        seek = {f"seek_{i}": value for i, value in enumerate(start)}
        bound = {**(params or {}), **seek, LIMIT_PARAM: page.per_page}
        rows = list((await session.execute(paged.seek, bound)).all())
    else:
        bound = {
            **(params or {}),
            LIMIT_PARAM: page.per_page + 1,
            OFFSET_PARAM: page.offset - 1,
        }
        rows = list((await session.execute(paged.keyed, bound)).all())
        if rows:
            key = tuple(rows[0][-paged.keys :])
            _page_starts.put((statement, page.page, page.per_page), key)
        rows = rows[1:]
    if len(rows) == page.per_page:
        _page_starts.put((statement, page.page + 1, page.per_page), tuple(rows[-1][-paged.keys :]))
    width = len(rows[0]) - paged.keys if rows else 0
    return [row[0] if paged.scalars else row[:width] for row in rows]


# A parameter of this name is the request's clock (a list whose rows read differently as time
# passes: feedback expires). It is left out of what names a kept total: bound as a value, it
# differed on every request, so the total of such a list was never found again and a wide
# credential's feedback list counted every record on every page (issue 17: 563 ms of CPU a
# request at 100k rows on SQLite). A kept total is a few seconds old either way.
CLOCK_PARAM = "clock_now"


def _statement_key(paged: Paged, built_once: bool) -> Hashable | None:
    """What names ``paged`` among kept totals and page starts: its serial when built once;
    built per call, its structure and the values bound into it (SQLAlchemy's cache key, which
    its compiled cache computes anyway), but for the clock (``CLOCK_PARAM``)."""
    if built_once:
        return paged.serial
    cache_key = paged.count._generate_cache_key()
    if cache_key is None:
        return None
    values = [b.effective_value for b in cache_key.bindparams if b.key != CLOCK_PARAM]
    return (cache_key.key, _hashable(values))


async def _total(
    session: AsyncSession,
    paged: Paged,
    statement: Hashable | None,
    params: Mapping[str, Any] | None,
) -> int:
    """The number of rows ``paged`` selects with ``params``; a large one is kept a few seconds."""
    key = (statement, _hashable(params or {})) if statement is not None else None
    if key is not None and (kept := _kept_totals.get(key)) is not None:
        return kept
    started = time.perf_counter()
    total = (await session.scalar(paged.count, params)) or 0
    if key is not None and total >= TOTAL_KEPT_FROM:
        # A count that took t is kept at least 20 t: recounting then costs at most ~5% of the
        # database's time for that list, however slow the count (a loaded machine, SQLite).
        took = time.perf_counter() - started
        _kept_totals.put(key, total, max(TOTAL_KEPT_SECONDS, TOTAL_KEPT_PER_COUNT_SECOND * took))
    return total


def _hashable(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_hashable(v) for v in value)
    return value  # type: ignore[no-any-return]
