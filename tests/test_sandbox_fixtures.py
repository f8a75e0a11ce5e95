"""Declarative fixtures (issue 13, item 1): fixed ids, client ids and tokens a partner's CI can
hard-code; loading one makes it the baseline a reset goes back to."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli import Cli
from tests.factories import Factory, OperatorCredentialHeaders, assert_error

TOKEN = "ci-partner-token-0123456789abcdef0123456789"
OPERATOR_TOKEN = "ci-operator-token-0123456789abcdef012345678"

FIXTURES: dict[str, Any] = {
    "version": 1,
    "merchants": [
        {
            "id": "cafe",
            "name": "Cafe Fixture",
            "handle": "cafe-fixture",
            "locations": [{"id": "cafe-main", "name": "Main St", "city": "Oakland"}],
            "members": [
                {"id": "alice", "email": "alice@example.com", "first_name": "Alice"},
                {"phone": "+14155550123", "first_name": "Bob"},
            ],
            "templates": [{"id": "tpl-coffee", "name": "Free Coffee", "redeem_window": 30}],
            "campaigns": [
                {
                    "id": "camp-summer",
                    "name": "Summer",
                    "variants": [
                        {"id": "v-treat", "name": "Treatment", "template": "tpl-coffee"},
                        {"id": "v-control", "name": "Control"},
                    ],
                }
            ],
        }
    ],
    "partners": [
        {
            "name": "CI partner",
            "client_id": "ci-partner",
            "access_token": TOKEN,
            "merchants": ["cafe-fixture"],
        }
    ],
    "operators": [{"name": "CI ops", "client_id": "ci-operator", "access_token": OPERATOR_TOKEN}],
}
PARTNER = {"Authorization": f"Bearer {TOKEN}", "X-ClientId": "ci-partner"}
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}", "X-ClientId": "ci-operator"}


@pytest.fixture
async def ops(factory: Factory) -> OperatorCredentialHeaders:
    return await factory.operator()


async def load(
    client: httpx.AsyncClient, headers: dict[str, str], document: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/sandbox/fixtures", json=document, headers=headers)
    assert response.status_code == 200, response.text
    loaded: dict[str, Any] = response.json()["fixtures"]
    return loaded


async def test_fixtures_give_fixed_ids_and_credentials(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders
) -> None:
    loaded = await load(client, ops.headers(), FIXTURES)
    assert loaded["merchants"] == {"cafe-fixture": "cafe"}
    assert loaded["partners"] == ["ci-partner"]
    assert loaded["operators"] == ["ci-operator"]

    merchants = await client.get("/partner/merchants", headers=PARTNER)
    assert [m["id"] for m in merchants.json()["merchants"]] == ["cafe"]
    campaign = await client.get("/partner/campaigns/camp-summer", headers=PARTNER)
    assert campaign.status_code == 200, campaign.text
    assert [v["id"] for v in campaign.json()["campaign"]["variants"]] == ["v-treat", "v-control"]
    alice = await client.get(
        "/partner/users", params={"email": "alice@example.com"}, headers=PARTNER
    )
    assert [u["id"] for u in alice.json()["users"]] == ["alice"]
    templates = await client.get("/partner/reward_templates", headers=PARTNER)
    assert [t["id"] for t in templates.json()["reward_templates"]] == ["tpl-coffee"]
    assert (await client.get("/sandbox/whoami", headers=OPERATOR)).status_code == 200


async def test_reset_goes_back_to_the_fixtures_and_loading_again_is_the_same(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    await load(client, ops.headers(), FIXTURES)
    before = (await client.get("/sandbox/snapshot", headers=OPERATOR)).json()["tables"]
    await factory.merchant(name="Made by a test")
    await client.post(
        "/partner/subscribers",
        json={"merchant_id": "cafe", "subscriber": {"email": "new@example.com"}},
        headers=PARTNER,
    )
    reset = await client.post("/sandbox/reset", json={}, headers=OPERATOR)
    assert reset.status_code == 200, reset.text
    assert (await client.get("/sandbox/snapshot", headers=OPERATOR)).json()["tables"] == before

    await load(client, OPERATOR, FIXTURES)
    again = (await client.get("/sandbox/snapshot", headers=OPERATOR)).json()["tables"]
    for table, rows in before.items():
        assert len(again[table]) == len(rows), table
    fixed = {"cafe", "cafe-main", "alice", "tpl-coffee", "camp-summer", "v-treat", "v-control"}
    ids = {r.get("id") for rows in again.values() for r in rows}
    assert fixed <= ids  # the member without a fixed id gets a new one each load
    assert (await client.get("/partner/merchants", headers=PARTNER)).status_code == 200


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d["merchants"][0].update(colour="red"), "merchants.0.colour"),
        (
            lambda d: d["merchants"][0]["campaigns"][0]["variants"][0].update(template="nope"),
            "merchants.0.campaigns.0.variants.0.template",
        ),
        (lambda d: d["partners"][0].update(merchants=["elsewhere"]), "partners.0.merchants"),
        (lambda d: d["partners"][0].update(access_token="short"), "partners.0"),
        (lambda d: d["merchants"][0].update(id="has space"), "merchants.0.id"),
    ],
)
async def test_a_bad_fixtures_document_is_400_naming_the_field_and_loads_nothing(
    client: httpx.AsyncClient,
    ops: OperatorCredentialHeaders,
    factory: Factory,
    change: Any,
    names: str,
) -> None:
    kept = await factory.merchant(name="Still here")
    document = copy.deepcopy(FIXTURES)
    change(document)
    response = await client.post("/sandbox/fixtures", json=document, headers=ops.headers())
    assert_error(response, 400, "VALIDATION_FAILED", names)
    snapshot = (await client.get("/sandbox/snapshot", headers=ops.headers())).json()
    assert [m["id"] for m in snapshot["tables"]["merchants"]] == [kept.id]


async def test_only_an_operator_loads_fixtures(client: httpx.AsyncClient, factory: Factory) -> None:
    merchant = await factory.merchant()
    partner = await factory.partner([merchant], scopes=["sandbox"])
    response = await client.post("/sandbox/fixtures", json=FIXTURES, headers=partner.headers())
    assert_error(response, 403, "FORBIDDEN", "operator")


async def test_the_cli_loads_a_yaml_file(
    cli: Cli, cli_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    import yaml

    path = tmp_path / "fixtures.yaml"
    path.write_text(yaml.safe_dump(FIXTURES), encoding="utf-8")
    loaded = await cli.json("sandbox", "fixtures", "load", str(path))
    assert loaded["fixtures"]["merchants"] == {"cafe-fixture": "cafe"}
    merchants = await cli_client.get("/partner/merchants", headers=PARTNER)
    assert [m["id"] for m in merchants.json()["merchants"]] == ["cafe"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nmerchants: [{name: x}]\n", encoding="utf-8")
    refused = await cli("sandbox", "fixtures", "load", str(bad), ok=False)
    assert refused.exit_code == 1
    assert "merchants.0.handle" in refused.stderr
