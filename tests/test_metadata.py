"""Metadata endpoints: merchants, locations, scopes and their seed-spec aliases."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import Factory


@pytest.mark.parametrize("path", ["/partner/merchants", "/partner/metadata/merchants"])
async def test_merchants_lists_only_the_credentials_merchants(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    mine = await factory.merchant(name="Alpha Pizza", handle="alphapizza")
    other = await factory.merchant()
    cred = await factory.partner([mine])

    response = await client.get(path, headers=cred.headers())

    assert response.status_code == 200
    assert response.json() == {
        "merchants": [{"id": mine.id, "name": "Alpha Pizza", "handle": "alphapizza"}]
    }
    assert other.id not in response.text


@pytest.mark.parametrize("path", ["/partner/locations", "/partner/metadata/locations"])
async def test_locations_carry_address_fields_and_pagination(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    merchant = await factory.merchant()
    location = await factory.location(
        merchant, name="Mission", street="1 Valencia St", city="SF", state="CA",
        zip_code="94110", phone="(415) 555-3728",
    )  # fmt: skip
    cred = await factory.partner([merchant])

    body = (await client.get(path, headers=cred.headers())).json()

    assert body["locations"] == [
        {
            "id": location.id,
            "merchant_id": merchant.id,
            "name": "Mission",
            "street": "1 Valencia St",
            "city": "SF",
            "state": "CA",
            "zip": "94110",
            "phone": "(415) 555-3728",
        }
    ]
    assert body["pagination"] == {"current_page": 1, "per_page": 10, "total_pages": 1}


async def test_locations_filter_by_merchant(client: httpx.AsyncClient, factory: Factory) -> None:
    a, b = await factory.merchant(), await factory.merchant()
    loc_a, loc_b = await factory.location(a), await factory.location(b)
    cred = await factory.partner([a, b])

    every = (await client.get("/partner/locations", headers=cred.headers())).json()
    only_b = (
        await client.get("/partner/locations", params={"merchant_id": b.id}, headers=cred.headers())
    ).json()

    assert {loc["id"] for loc in every["locations"]} == {loc_a.id, loc_b.id}
    assert [loc["id"] for loc in only_b["locations"]] == [loc_b.id]


@pytest.mark.parametrize("path", ["/partner/scopes", "/partner/metadata/scopes"])
async def test_scopes_are_the_credentials_own(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    merchant = await factory.merchant()
    cred = await factory.partner([merchant], scopes=["users.read", "subscribers.write"])

    response = await client.get(path, headers=cred.headers())

    assert response.status_code == 200
    assert response.json() == {"scopes": ["subscribers.write", "users.read"]}


async def test_responses_echo_a_request_id(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    echoed = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})

    assert len(generated.headers["x-request-id"]) >= 8
    assert echoed.headers["x-request-id"] == "abc-123"


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
