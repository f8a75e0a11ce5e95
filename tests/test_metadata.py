"""Metadata endpoints: merchants, locations, scopes and their seed-spec aliases."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.databases import POSTGRES_URL
from tests.factories import Factory, assert_error
from tests.live import free_port
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Settings


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


async def test_readyz_is_ready_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_readyz_is_503_when_the_database_does_not_answer(
    db_kind: str, tmp_path: Path
) -> None:
    """The app on a database nothing answers for: an SQLite file in a directory that does not
    exist, a PostgreSQL port nothing listens on. The process is up; it is not ready."""
    if db_kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'no-such-dir' / 'thanx.db'}"
    else:
        url = make_url(POSTGRES_URL).set(port=free_port()).render_as_string(hide_password=False)
    database = Database.from_engine(create_engine(url))
    app = create_app(
        Settings(data_dir=tmp_path, rate_limit_enabled=False, embedded_worker=False),
        database=database,
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
    finally:
        await database.dispose()

    assert_error(ready, 503, "SERVICE_UNAVAILABLE")
    assert alive.status_code == 200
