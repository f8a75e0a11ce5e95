"""Pagination (CONTRACT row 7): bounds, totals, stable order, pages past the end, on every list.

Every paginated list runs the properties below. They share one ``kit/pagination.paginate``, but
not one statement: some are built per call, the hot ones once at import (``Paged``), and a small
list carries its total in the page itself, so a page past its end needs a count of its own; each
list also has its own filters. A property checked on one list says nothing about the others.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests import loyalty_factories as lf
from tests.factories import Credential, Factory
from thanx_server.kit import pagination
from thanx_server.kit.ids import new_ids
from thanx_server.kit.pagination import MAX_PER_PAGE, Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.kit.ttlcache import TtlCache
from thanx_server.models import Membership, User
from thanx_server.user import repository as user_repository

RECORDS = 23  # a prime: no per_page from 2 to 22 divides it, so last pages are partial


@dataclass
class Listing:
    """One paginated list, arranged with ``RECORDS`` records only ``cred`` can see."""

    path: str
    key: str
    cred: Credential
    ids: list[str]
    params: dict[str, str] = field(default_factory=dict)
    consumer: bool = False  # the Consumer API also spells the page count ``total_page``

    async def get(self, client: httpx.AsyncClient, **paging: object) -> httpx.Response:
        return await client.get(
            self.path, params={**self.params, **paging}, headers=self.cred.headers()
        )


Arrange = Callable[[Factory, AsyncSession, httpx.AsyncClient, int], Awaitable[Listing]]


async def _locations(factory: Factory, _: AsyncSession, __: httpx.AsyncClient, n: int) -> Listing:
    merchant = await factory.merchant()
    ids = [(await factory.location(merchant)).id for _ in range(n)]
    return Listing("/partner/locations", "locations", await factory.partner([merchant]), ids)


async def _users(factory: Factory, _: AsyncSession, __: httpx.AsyncClient, n: int) -> Listing:
    merchant = await factory.merchant()
    ids = [(await factory.member(merchant))[0].id for _ in range(n)]
    return Listing("/partner/users", "users", await factory.partner([merchant]), ids)


async def _rewards(
    factory: Factory, session: AsyncSession, _: httpx.AsyncClient, n: int
) -> Listing:
    merchant = await factory.merchant()
    user, _membership = await factory.member(merchant)
    template = await lf.template(session, merchant)
    campaign, variant = await lf.campaign(session, merchant, template)
    ids = [(await lf.reward(session, user, campaign, template, variant)).id for _ in range(n)]
    cred = await factory.partner([merchant])
    return Listing("/rewards", "rewards", cred, ids, {"user_id": user.id}, consumer=True)


async def _feedbacks(factory: Factory, _: AsyncSession, __: httpx.AsyncClient, n: int) -> Listing:
    merchant = await factory.merchant()
    user, _membership = await factory.member(merchant)
    ids = [await factory.feedback(merchant, user, "unviewed") for _ in range(n)]
    return Listing("/partner/feedbacks", "feedbacks", await factory.partner([merchant]), ids)


async def _templates(factory: Factory, _: AsyncSession, __: httpx.AsyncClient, n: int) -> Listing:
    merchant = await factory.merchant()
    ids = [(await factory.template(merchant)).id for _ in range(n)]
    cred = await factory.partner([merchant])
    return Listing("/partner/reward_templates", "reward_templates", cred, ids)


async def _campaigns(factory: Factory, _: AsyncSession, __: httpx.AsyncClient, n: int) -> Listing:
    merchant = await factory.merchant()
    template = await factory.template(merchant)
    cred = await factory.partner([merchant])
    ids = []
    for _ in range(n):
        view = await factory.campaign(merchant, template=template, partner_id=cred.partner_id)
        ids.append(view.campaign.id)
    return Listing("/partner/campaigns", "campaigns", cred, ids)


async def _tags(factory: Factory, _: AsyncSession, client: httpx.AsyncClient, n: int) -> Listing:
    merchant = await factory.merchant()
    user, _membership = await factory.member(merchant)
    cred = await factory.partner([merchant])
    for i in range(n):
        response = await client.put(
            "/partner/tags",
            json={"merchant_id": merchant.id, "user_ids": [user.id], "key": f"k{i}", "values": []},
            headers=cred.headers(),
        )
        assert response.status_code == 200, response.text
    listing = Listing("/partner/tags", "tags", cred, [], {"user_ids": user.id})
    listing.ids = [t["id"] for t in (await listing.get(client, per_page=100)).json()["tags"]]
    assert len(listing.ids) == n
    return listing


LISTS: dict[str, Arrange] = {
    "locations": _locations,
    "users": _users,
    "rewards": _rewards,
    "feedbacks": _feedbacks,
    "reward_templates": _templates,
    "campaigns": _campaigns,
    "tags": _tags,
}


@pytest.fixture(params=list(LISTS))
async def listing(
    request: pytest.FixtureRequest,
    factory: Factory,
    session: AsyncSession,
    client: httpx.AsyncClient,
) -> Listing:
    return await LISTS[request.param](factory, session, client, RECORDS)


@pytest.fixture(params=list(LISTS))
async def empty_listing(
    request: pytest.FixtureRequest,
    factory: Factory,
    session: AsyncSession,
    client: httpx.AsyncClient,
) -> Listing:
    """The same list with no records: parameter checks need none."""
    return await LISTS[request.param](factory, session, client, 0)


def assert_pagination(
    listing: Listing, body: dict[str, Any], page: int, per_page: int, total: int
) -> None:
    expected = {"current_page": page, "per_page": per_page, "total_pages": total}
    if listing.consumer:
        expected["total_page"] = total
    assert body["pagination"] == expected


# The fixture's data is arranged once per test and only read by each example, so sharing the
# function-scoped fixture across examples is sound. Few examples per list: seven lists, two engines.
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(page=st.integers(1, 6), per_page=st.integers(1, 30))
async def test_pages_partition_the_collection_in_a_stable_order(
    client: httpx.AsyncClient, listing: Listing, page: int, per_page: int
) -> None:
    response = await listing.get(client, page=page, per_page=per_page)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_pagination(listing, body, page, per_page, math.ceil(RECORDS / per_page))
    # The page is exactly this slice of the full order (newest first, id as tie-break).
    full = (await listing.get(client, per_page=100)).json()[listing.key]
    assert sorted(item["id"] for item in full) == sorted(listing.ids)
    assert body[listing.key] == full[(page - 1) * per_page : page * per_page]


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.one_of(
        st.fixed_dictionaries({"per_page": st.integers(max_value=0) | st.integers(min_value=101)}),
        st.fixed_dictionaries({"page": st.integers(max_value=0)}),
        st.fixed_dictionaries(
            {"per_page": st.text(min_size=1).filter(lambda s: not s.strip().isdigit())}
        ),
    )
)
async def test_out_of_range_paging_is_400_naming_the_field(
    client: httpx.AsyncClient, empty_listing: Listing, params: dict[str, object]
) -> None:
    response = await empty_listing.get(client, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert next(iter(params)) in error["message"]


async def test_page_past_the_end_is_empty_and_still_counts(
    client: httpx.AsyncClient, listing: Listing
) -> None:
    for page, per_page in ((99, 10), (2, RECORDS), (RECORDS + 1, 1)):
        body = (await listing.get(client, page=page, per_page=per_page)).json()
        assert body[listing.key] == []
        assert_pagination(listing, body, page, per_page, math.ceil(RECORDS / per_page))


@given(
    total=st.integers(0, 10_000), per_page=st.integers(1, MAX_PER_PAGE), page=st.integers(1, 500)
)
def test_total_pages_covers_every_record_exactly(total: int, per_page: int, page: int) -> None:
    result: PageResult[int] = PageResult(items=[], total=total, page=Page(page, per_page))
    assert result.total_pages * per_page >= total
    assert (result.total_pages - 1) * per_page < total or total == 0
    consumer = result.consumer_pagination()
    assert consumer.total_page == consumer.total_pages == result.total_pages


async def test_a_large_total_is_kept_briefly_while_its_pages_stay_fresh(
    client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partner walking a large list pays its count once, not per page (issue 17): the total is
    kept per statement and parameters, the rows of each page are read fresh."""
    monkeypatch.setattr(pagination, "TOTAL_KEPT_FROM", 3)
    monkeypatch.setattr(pagination, "TOTAL_KEPT_SECONDS", 60.0)  # however slow this machine is
    monkeypatch.setattr(pagination, "_kept_totals", TtlCache(60.0))
    small, large = await factory.merchant(), await factory.merchant()
    cred = await factory.partner([small, large])
    for merchant, count in ((small, 2), (large, 3)):
        for _ in range(count):
            await factory.member(merchant)

    async def users(merchant_id: str) -> dict[str, Any]:
        response = await client.get(
            "/partner/users",
            params={"merchant_id": merchant_id, "per_page": 1},
            headers=cred.headers(),
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert (await users(large.id))["pagination"]["total_pages"] == 3
    assert (await users(small.id))["pagination"]["total_pages"] == 2
    newest = (await factory.member(large))[0]
    assert (await factory.member(small))[0].id
    kept = await users(large.id)
    assert kept["pagination"]["total_pages"] == 3  # the kept total
    assert kept["users"][0]["id"] == newest.id  # the page itself is read now
    assert (await users(small.id))["pagination"]["total_pages"] == 3  # below: counted each time
    monkeypatch.setattr(pagination, "_kept_totals", TtlCache(60.0))  # as when the time is up
    assert (await users(large.id))["pagination"]["total_pages"] == 4


class _CountedTotals(TtlCache[Any, int]):
    """The kept totals, counting how many were counted (a total is put once per count)."""

    counted = 0

    def put(self, key: Any, value: int, ttl: float | None = None) -> None:
        self.counted += 1
        super().put(key, value, ttl)


async def test_every_lists_large_total_is_counted_once_across_requests(
    client: httpx.AsyncClient, listing: Listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 target 4: a list's second request finds its large total kept. A list whose
    statement carries the request's clock (feedback: its states read through ``now``) keyed its
    total by it, so the total was never found again and every page counted every record."""
    monkeypatch.setattr(pagination, "TOTAL_KEPT_FROM", 1)
    totals = _CountedTotals(60.0)  # however slow this machine is
    monkeypatch.setattr(pagination, "_kept_totals", totals)
    for _ in range(3):
        response = await listing.get(client, per_page=1)
        assert response.status_code == 200, response.text
    # A small list carries its total on its page (``count(*) OVER ()``): nothing to keep.
    assert totals.counted <= 1


async def test_deep_pages_walked_in_turn_or_reached_directly_are_the_same_slices(
    client: httpx.AsyncClient, listing: Listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deep pages are read from where the page before ended (a seek on the list's order) when
    that is known, else by OFFSET: either way each page is its slice of the one order."""
    monkeypatch.setattr(pagination, "DEEP_FROM", 2)  # every page after the first is deep
    monkeypatch.setattr(pagination, "_page_starts", TtlCache(60.0))
    full = (await listing.get(client, per_page=100)).json()[listing.key]
    per_page = 3
    pages = math.ceil(RECORDS / per_page)
    walked = []
    for page in range(1, pages + 1):  # in turn: pages after the second start from a kept end
        body = (await listing.get(client, page=page, per_page=per_page)).json()
        assert_pagination(listing, body, page, per_page, pages)
        walked += body[listing.key]
    assert walked == full
    for page in (pages, 2, pages - 1):  # again, and directly
        body = (await listing.get(client, page=page, per_page=per_page)).json()
        assert body[listing.key] == full[(page - 1) * per_page : page * per_page]
    monkeypatch.setattr(pagination, "_page_starts", TtlCache(60.0))  # nothing kept: by OFFSET
    body = (await listing.get(client, page=pages - 1, per_page=per_page)).json()
    assert body[listing.key] == full[(pages - 2) * per_page : (pages - 1) * per_page]


async def _members_at(
    session: AsyncSession, merchant_id: str, created: list[datetime]
) -> list[str]:
    """Members of ``merchant_id`` created at ``created`` (repeated instants: an import), their
    ids in the members list's order (newest first, id as tie-break)."""
    ids = new_ids(len(created))
    rows = zip(ids, created, strict=True)
    users = [{"id": i, "created_at": at, "updated_at": at} for i, at in rows]
    await session.execute(insert(User), users)
    await session.execute(
        insert(Membership), [{"user_id": i, "merchant_id": merchant_id} for i in ids]
    )
    return [i for _, i in sorted(zip(created, ids, strict=True), reverse=True)]


async def _walk_members(session: AsyncSession, merchant_id: str, per_page: int) -> list[str]:
    """Every page of the merchant's members list in turn, each page after the second read by
    seek from where the page before it ended."""
    scope, walked, page, total = MerchantScope.one(merchant_id), [], 1, None
    while total is None or (page - 1) * per_page < total:
        result = await user_repository.list_users(
            session, scope, email=None, phone=None, updated_after=None, updated_before=None,
            page=Page(page, per_page),
        )  # fmt: skip
        assert total in (None, result.total)
        total = result.total
        walked += [user.id for user in result.items]
        page += 1
    return walked


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    instants=st.lists(st.integers(0, 3), min_size=1, max_size=25),
    per_page=st.integers(1, 7),
)
async def test_deep_pages_seek_the_same_slices_when_rows_share_their_time(
    factory: Factory,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    instants: list[int],
    per_page: int,
) -> None:
    """A seek from a kept page end orders ties on the leading column (members created at one
    instant: an import) by id, as the OFFSET read does: walked in turn, the pages are the
    slices of the one order, with the same total, however many rows share the page ends'
    time."""
    monkeypatch.setattr(pagination, "DEEP_FROM", 2)  # every page after the first is deep
    monkeypatch.setattr(pagination, "_page_starts", TtlCache(60.0))
    merchant = await factory.merchant()
    base = utcnow().replace(microsecond=0)
    order = await _members_at(session, merchant.id, [base - timedelta(minutes=i) for i in instants])
    assert await _walk_members(session, merchant.id, per_page) == order


async def test_a_deep_page_seeks_an_index_range_when_rows_share_the_page_ends_time(
    factory: Factory,
    session: AsyncSession,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 17 target 4: the seek from a kept page end is a range of ``ix_users_created`` that
    starts at that end, also when every row shares the page end's ``created_at`` (an import
    at one instant). Its plain leading range (``created_at <= :end``, for PostgreSQL's
    estimate) covers every such row; taken as the index's range (SQLite took the first of
    the two), the last page of 1M members walked the index from the top: 1.7 s a request."""
    monkeypatch.setattr(pagination, "DEEP_FROM", 2)
    monkeypatch.setattr(pagination, "_page_starts", TtlCache(60.0))
    merchant = await factory.merchant()
    await _members_at(session, merchant.id, [utcnow()] * 300)
    await session.execute(text("ANALYZE"))  # as autovacuum / an operator's ANALYZE would
    scope = MerchantScope.one(merchant.id)
    list_page = functools.partial(
        user_repository.list_users, session, scope, email=None, phone=None,
        updated_after=None, updated_before=None,
    )  # fmt: skip
    await list_page(page=Page(2, 10))  # by OFFSET: keeps where page 3 starts
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        statements.append((sql, params))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        result = await list_page(page=Page(3, 10))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    assert len(result.items) == 10
    seek_sql, params = statements[-1]  # after the count (a total too small to keep)
    assert "(users.created_at, users.id) <" in seek_sql, seek_sql
    connection = await session.connection()
    if engine.dialect.name == "postgresql":
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a large table's
        explained = await connection.exec_driver_sql(f"EXPLAIN {seek_sql}", params)
        plan = "\n".join(str(row[-1]) for row in explained)
        assert "ix_users_created" in plan, plan
        assert "ROW(" in plan, plan  # the row comparison bounds the scan
        assert "Sort" not in plan, plan
    else:
        explained = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {seek_sql}", params)
        plan = "\n".join(str(row[-1]) for row in explained)
        assert "ix_users_created ((created_at,id)<(?,?))" in plan, plan


async def test_one_merchants_members_are_counted_from_its_memberships_without_reading_users(
    factory: Factory, session: AsyncSession, engine: AsyncEngine
) -> None:
    """Issue 17 target 4: one merchant's members list (under the kept-total threshold, so
    counted on every request) counts the merchant's memberships through their merchant index,
    not every user probed for a membership (SQLite at 100k users: 48 ms a request, growing
    with all users); the total is the same (test below)."""
    merchant, other = await factory.merchant(), await factory.merchant()
    for owner in (merchant, other, other):
        await _members_at(session, owner.id, [utcnow()] * 100)
    await session.execute(text("ANALYZE"))
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        statements.append((sql, params))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        result = await user_repository.list_users(
            session, MerchantScope.one(merchant.id), email=None, phone=None,
            updated_after=None, updated_before=None, page=Page(),
        )  # fmt: skip
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    assert result.total == 100
    count_sql, params = statements[0]
    assert "count(" in count_sql, count_sql
    connection = await session.connection()
    if engine.dialect.name == "postgresql":
        await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a large table's
        explained = await connection.exec_driver_sql(f"EXPLAIN {count_sql}", params)
    else:
        explained = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {count_sql}", params)
    plan = "\n".join(str(row[-1]) for row in explained)
    assert "ix_memberships_merchant_id" in plan, plan
    assert " users" not in plan, plan


async def test_members_totals_count_each_member_once_in_any_scope(
    factory: Factory, session: AsyncSession
) -> None:
    """The members list's total is the number of members it lists, whether counted from one
    merchant's memberships or by the membership rule over several merchants (a user in two
    of them counted once), and with a filter."""
    first, second = await factory.merchant(), await factory.merchant()
    only_first = await _members_at(session, first.id, [utcnow()] * 3)
    only_second = await _members_at(session, second.id, [utcnow()] * 2)
    both = await _members_at(session, first.id, [utcnow()] * 4)
    await session.execute(
        insert(Membership), [{"user_id": u, "merchant_id": second.id} for u in both]
    )
    await _members_at(session, (await factory.merchant()).id, [utcnow()] * 5)  # out of scope
    for scope, expected in (
        (MerchantScope.one(first.id), only_first + both),
        (MerchantScope.one(second.id), only_second + both),
        (MerchantScope((first.id, second.id)), only_first + only_second + both),
    ):
        result = await user_repository.list_users(
            session, scope, email=None, phone=None, updated_after=None, updated_before=None,
            page=Page(1, 100),
        )  # fmt: skip
        assert sorted(user.id for user in result.items) == sorted(expected)
        assert result.total == len(expected)
        small = await user_repository.list_users(
            session, scope, email=None, phone=None, updated_after=None, updated_before=None,
            page=Page(2, 2),
        )  # fmt: skip
        assert small.total == len(expected)
        assert [user.id for user in small.items] == [user.id for user in result.items][2:4]
