"""Pagination (CONTRACT row 7): bounds, totals, stable order, pages past the end."""

from __future__ import annotations

import math

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import Credential, Factory
from thanx_server.kit.pagination import MAX_PER_PAGE, Page, PageResult

LOCATIONS = 23


@pytest.fixture
async def many_locations(factory: Factory) -> tuple[Credential, list[str]]:
    merchant = await factory.merchant()
    ids = [(await factory.location(merchant)).id for _ in range(LOCATIONS)]
    return await factory.partner([merchant]), ids


# The fixture's data is arranged once per test and only read by each example, so sharing the
# function-scoped fixture across examples is sound.
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(page=st.integers(1, 6), per_page=st.integers(1, 30))
async def test_pages_partition_the_collection_in_a_stable_order(
    client: httpx.AsyncClient,
    many_locations: tuple[Credential, list[str]],
    page: int,
    per_page: int,
) -> None:
    cred, ids = many_locations
    response = await client.get(
        "/partner/locations", params={"page": page, "per_page": per_page}, headers=cred.headers()
    )
    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {
        "current_page": page,
        "per_page": per_page,
        "total_pages": math.ceil(LOCATIONS / per_page),
    }
    # Newest first, id as tie-break: the page is exactly this slice of the full order.
    full = (
        await client.get("/partner/locations", params={"per_page": 100}, headers=cred.headers())
    ).json()["locations"]
    assert sorted(loc["id"] for loc in full) == sorted(ids)
    expected = full[(page - 1) * per_page : page * per_page]
    assert body["locations"] == expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
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
    client: httpx.AsyncClient,
    many_locations: tuple[Credential, list[str]],
    params: dict[str, object],
) -> None:
    cred, _ = many_locations
    response = await client.get("/partner/locations", params=params, headers=cred.headers())
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert next(iter(params)) in error["message"]


async def test_page_past_the_end_is_empty(
    client: httpx.AsyncClient, many_locations: tuple[Credential, list[str]]
) -> None:
    cred, _ = many_locations
    body = (
        await client.get("/partner/locations", params={"page": 99}, headers=cred.headers())
    ).json()
    assert body["locations"] == []
    assert body["pagination"] == {"current_page": 99, "per_page": 10, "total_pages": 3}


@given(
    total=st.integers(0, 10_000), per_page=st.integers(1, MAX_PER_PAGE), page=st.integers(1, 500)
)
def test_total_pages_covers_every_record_exactly(total: int, per_page: int, page: int) -> None:
    result: PageResult[int] = PageResult(items=[], total=total, page=Page(page, per_page))
    assert result.total_pages * per_page >= total
    assert (result.total_pages - 1) * per_page < total or total == 0
    consumer = result.consumer_pagination()
    assert consumer.total_page == consumer.total_pages == result.total_pages
