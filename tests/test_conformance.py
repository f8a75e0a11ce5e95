"""Contract conformance: every operation of the seed spec, driven through a realistic scenario the
way a client written against the seed calls it, and every response validated against the seed's
schema and against our own /openapi.json (openapi-core).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI

from tests.contract import load_seed, seed_operations, seed_spec_path, validate
from tests.factories import Credential, Factory
from thanx_server.issuance import tasks
from thanx_server.kit.db import Database


@pytest.fixture(scope="module")
def seed() -> OpenAPI:
    assert seed_spec_path().exists(), f"the seed spec is required: {seed_spec_path()}"
    return load_seed()


async def test_every_seed_operation_conforms(
    client: httpx.AsyncClient, factory: Factory, database: Database, seed: OpenAPI
) -> None:
    ours = OpenAPI.from_dict((await client.get("/openapi.json")).json())
    merchant = await factory.merchant(name="Pizza Town Co", handle="pizzatownco")
    await factory.location(merchant)
    user, _ = await factory.member(merchant, email="jane.smith@example.com", phone="+14158672345")
    # Fields the seed types as plain strings are left out when empty, never sent as null.
    no_phone, _ = await factory.member(merchant, email="no.phone@example.com", phone=None)
    template = await factory.template(merchant)
    cred: Credential = await factory.partner([merchant])
    headers = cred.headers()
    exercised: set[tuple[str, str]] = set()

    async def call(
        method: str, template: str, *, status: int, path_id: str = "", **kw: Any
    ) -> dict[str, Any]:
        """Call the seed operation ``method template`` (``{id}`` filled with ``path_id``)."""
        operation = (method, template)
        response = await client.request(
            method, template.replace("{id}", path_id), headers=headers, **kw
        )
        assert response.status_code == status, response.text
        validate(seed, response, "https://api.thanx.com")
        validate(ours, response, "http://test")
        exercised.add(operation)
        body: dict[str, Any] = response.json()
        return body

    scopes = await call("GET", "/partner/metadata/scopes", status=200)
    assert "rewards.issue" in scopes["scopes"]
    merchants = await call("GET", "/partner/metadata/merchants", status=200)
    assert merchants["merchants"][0]["id"] == merchant.id
    await call("GET", "/partner/metadata/locations",
        params={"merchant_id": merchant.id}, status=200,
    )  # fmt: skip

    token = await call("POST", "/partner/oauth/token",
        json={"merchant_id": merchant.id, "email": "jane.smith@example.com", "expires_in": 600},
        status=200,
    )  # fmt: skip
    assert token["token_type"] == "Bearer"

    subscriber = await call("POST", "/partner/subscribers",
        json={"merchant_id": merchant.id, "subscriber": {
            "email": "new.fan@example.com", "first_name": "New", "last_name": "Fan",
            "birth_date": {"month": 8, "day": 14}, "zip_code": "94105"}},
        status=201,
    )  # fmt: skip
    assert subscriber == {"subscriber": {"email": "new.fan@example.com"}}

    # The seed documents merchant_id as optional (or absent) on these reads.
    users = await call("GET", "/partner/users", status=200)
    assert {u["id"] for u in users["users"]} == {user.id, no_phone.id}
    assert "phone" not in next(u for u in users["users"] if u["id"] == no_phone.id)
    one = await call("GET", "/partner/users/{id}", path_id=user.id, status=200)
    assert one["user"]["email"] == "jane.smith@example.com"

    created = await call("POST", "/partner/campaigns",
        json={"campaign": {
            "merchant_id": merchant.id, "name": "Free coffee", "objective": "Bring them back",
            "fine_print": "One per guest", "start_at": "2026-01-01T00:00:00Z",
            "end_at": "2036-01-01T00:00:00Z", "redeemable_from": "2026-01-01T00:00:00Z",
            "redeemable_to": "2036-01-01T00:00:00Z",
            "variants": [
                {"name": "Treatment", "reward_template_id": template.id}, {"name": "Control"}]}},
        status=201,
    )  # fmt: skip
    campaign = created["campaign"]
    bare = await call("POST", "/partner/campaigns",
        json={"campaign": {
            "merchant_id": merchant.id, "name": "No frills", "start_at": "2026-01-01T00:00:00Z",
            "end_at": "2036-01-01T00:00:00Z", "redeemable_from": "2026-01-01T00:00:00Z",
            "redeemable_to": "2036-01-01T00:00:00Z",
            "variants": [{"name": "Treatment", "reward_template_id": template.id}]}},
        status=201,
    )  # fmt: skip
    assert "objective" not in bare["campaign"]
    assert "fine_print" not in bare["campaign"]
    listed = await call("GET", "/partner/campaigns", status=200)
    assert {c["id"] for c in listed["campaigns"]} == {campaign["id"], bare["campaign"]["id"]}
    await call(
        "GET",
        "/partner/campaigns/{id}",
        path_id=campaign["id"],
        status=200,
    )

    treatment = next(v for v in campaign["variants"] if v["name"] == "Treatment")
    issued = await call("POST", "/partner/campaigns/issue",
        json={"campaign_id": campaign["id"], "merchant_id": merchant.id,
              "variant_id": treatment["id"],
              "identifiers": [{"type": "email", "value": "Jane.Smith@example.com"},
                              {"type": "phone", "value": "+14155550000"}]},
        status=202,
    )  # fmt: skip
    job_id = issued["issuance_job"]["id"]
    assert issued["issuance_job"]["state"] == "pending"
    pending = await call(
        "GET",
        "/partner/issuance_jobs/{id}",
        path_id=job_id,
        status=200,
    )
    assert pending["issuance_job"]["requested_count"] == 2

    config = tasks.WorkerConfig(
        owner="conformance", lease=timedelta(seconds=60), chunk_size=100, max_attempts=3
    )
    assert await tasks.drain(database, config) == 1
    done = await call(
        "GET",
        "/partner/issuance_jobs/{id}",
        path_id=job_id,
        status=200,
    )
    assert done["issuance_job"]["state"] == "completed"
    assert (done["issuance_job"]["issued_count"], done["issuance_job"]["failed_count"]) == (1, 1)

    revoked = await call("POST", "/partner/issuance_jobs/{id}/revoke", path_id=job_id, status=200
    )  # fmt: skip
    assert revoked["issuance_job"]["state"] == "revoked"

    assert exercised == seed_operations()
