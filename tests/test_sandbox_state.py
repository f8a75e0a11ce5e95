"""Reset, snapshots and the baseline (issue 13, item 1): back to a defined start state, the
state as JSON put back exactly (same ids), credentials kept unless asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli import Cli
from tests.factories import Factory, OperatorCredentialHeaders, assert_error
from thanx_server.app import create_app
from thanx_server.auth.scopes import Scope
from thanx_server.kit.db import Database
from thanx_server.models import Base
from thanx_server.sandbox.state.tables import CONTROL, CREDENTIALS, DATA, FORMAT_VERSION
from thanx_server.settings import Settings


@pytest.fixture
async def ops(factory: Factory) -> OperatorCredentialHeaders:
    return await factory.operator()


async def snapshot(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, **params: str
) -> dict[str, Any]:
    response = await client.get("/sandbox/snapshot", params=params, headers=ops.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, body: Any = None, **params: str
) -> dict[str, Any]:
    response = await client.post(path, json=body or {}, params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def busy_merchant(factory: Factory, tag: str) -> Any:
    """A merchant with a location, two members, a campaign, a purchase and feedback."""
    merchant = await factory.merchant(name=f"Merchant {tag}")
    await factory.location(merchant)
    user, _ = await factory.member(merchant, email=f"{tag}-1@example.com")
    await factory.member(merchant, email=f"{tag}-2@example.com")
    await factory.campaign(merchant)
    await factory.feedback(merchant, user, "responded")
    return merchant


def test_every_table_is_in_exactly_one_group() -> None:
    names = {t.name for t in Base.metadata.sorted_tables}
    assert names == DATA | CREDENTIALS | CONTROL
    assert not DATA & CREDENTIALS
    assert not DATA & CONTROL
    assert not CREDENTIALS & CONTROL


async def test_a_snapshot_is_restored_exactly(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    merchant = await busy_merchant(factory, "a")
    partner = await factory.partner([merchant])
    before = await snapshot(client, ops)
    assert before["version"] == FORMAT_VERSION
    assert before["merchant_ids"] is None
    assert len(before["tables"]["feedbacks"]) == 1
    assert "partner_credentials" not in before["tables"]

    # Change things: a new merchant, a new member, a renamed user.
    await busy_merchant(factory, "b")
    users = (await client.get("/partner/users", headers=partner.headers())).json()["users"]
    renamed = await client.patch(
        f"/partner/users/{users[0]['id']}",
        json={"merchant_id": merchant.id, "user": {"first_name": "Changed"}},
        headers=partner.headers(),
    )
    assert renamed.status_code == 200, renamed.text

    restored = await post(client, ops.headers(), "/sandbox/snapshot", before)
    assert restored["restored"]["merchant_ids"] is None
    after = await snapshot(client, ops)
    assert after["tables"] == before["tables"]
    # Credentials were kept: the partner still works on the restored merchant.
    listed = await client.get("/partner/merchants", headers=partner.headers())
    assert [m["id"] for m in listed.json()["merchants"]] == [merchant.id]


async def test_a_merchant_snapshot_touches_no_other_merchant(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    mine = await busy_merchant(factory, "mine")
    other = await busy_merchant(factory, "other")
    before = await snapshot(client, ops, merchant_id=mine.id)
    assert before["merchant_ids"] == [mine.id]
    assert {r["id"] for r in before["tables"]["merchants"]} == {mine.id}
    others_before = await snapshot(client, ops, merchant_id=other.id)

    await factory.member(mine, email="late@example.com")
    await factory.member(other, email="other-late@example.com")
    await post(client, ops.headers(), "/sandbox/snapshot", before)

    assert (await snapshot(client, ops, merchant_id=mine.id))["tables"] == before["tables"]
    others_after = await snapshot(client, ops, merchant_id=other.id)
    assert len(others_after["tables"]["memberships"]) == (
        len(others_before["tables"]["memberships"]) + 1
    )


async def test_reset_goes_back_to_the_baseline_and_keeps_credentials(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    merchant = await busy_merchant(factory, "base")
    saved = await post(client, ops.headers(), "/sandbox/baseline")
    baseline = await snapshot(client, ops)
    partner = await factory.partner([merchant])  # made after the baseline: kept anyway
    await busy_merchant(factory, "later")
    await factory.member(merchant, email="later@example.com")
    await post(client, ops.headers(), "/sandbox/clock/advance", {"by": "1d"})

    reset = await post(client, ops.headers(), "/sandbox/reset")

    assert reset["reset"]["baseline_version"] == saved["baseline_version"]
    assert reset["reset"]["merchant_ids"] is None
    assert (await snapshot(client, ops))["tables"] == baseline["tables"]
    listed = await client.get("/partner/merchants", headers=partner.headers())
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["merchants"]] == [merchant.id]
    clock = (await client.get("/sandbox/clock", headers=ops.headers())).json()["clock"]
    assert abs(clock["offset_seconds"]) < 2, "a reset of everything puts the clock back"


async def test_reset_with_credentials_puts_them_back_too(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    merchant = await factory.merchant()
    await post(client, ops.headers(), "/sandbox/baseline")
    partner = await factory.partner([merchant])
    assert (await client.get("/partner/merchants", headers=partner.headers())).status_code == 200
    await post(client, ops.headers(), "/sandbox/reset", {"credentials": True})
    assert_error(
        await client.get("/partner/merchants", headers=partner.headers()),
        401,
        "AUTHENTICATION_GENERIC",
    )
    # The operator was in the baseline: it still steers.
    assert (await client.get("/sandbox/whoami", headers=ops.headers())).status_code == 200


async def test_without_a_baseline_reset_empties_the_instance(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    await busy_merchant(factory, "x")
    await post(client, ops.headers(), "/sandbox/reset")
    tables = (await snapshot(client, ops))["tables"]
    assert all(rows == [] for rows in tables.values()), tables


async def test_a_partner_resets_its_own_merchant_only(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    mine = await busy_merchant(factory, "p-mine")
    other = await busy_merchant(factory, "p-other")
    partner = await factory.partner([mine], scopes=[Scope.SANDBOX, Scope.USERS_READ])
    await post(client, ops.headers(), "/sandbox/baseline")
    mine_before = await snapshot(client, ops, merchant_id=mine.id)
    await factory.member(mine, email="extra@example.com")
    await factory.member(other, email="extra-other@example.com")
    others = await snapshot(client, ops, merchant_id=other.id)

    result = await post(client, partner.headers(), "/sandbox/reset", {"merchant_id": mine.id})

    assert result["reset"]["merchant_ids"] == [mine.id]
    assert (await snapshot(client, ops, merchant_id=mine.id))["tables"] == mine_before["tables"]
    assert (await snapshot(client, ops, merchant_id=other.id))["tables"] == others["tables"]
    # No merchant id: all of the partner's merchants (here one), never everything.
    everything = await post(client, partner.headers(), "/sandbox/reset")
    assert everything["reset"]["merchant_ids"] == [mine.id]
    assert_error(
        await client.post(
            "/sandbox/reset", json={"merchant_id": other.id}, headers=partner.headers()
        ),
        403,
        "FORBIDDEN",
        "merchant_id",
    )
    for path, method in (("/sandbox/snapshot", "GET"), ("/sandbox/baseline", "POST")):
        response = await client.request(method, path, headers=partner.headers())
        assert_error(response, 403, "FORBIDDEN", "operator")
    assert_error(
        await client.post("/sandbox/reset", json={"credentials": True}, headers=partner.headers()),
        403,
        "FORBIDDEN",
        "operator",
    )


@pytest.mark.parametrize(
    ("change", "names"),
    [
        (lambda d: d.update(version=99), "version"),
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(tables=[]), "tables"),
        (lambda d: d["tables"].update(nope=[]), "nope"),
        (lambda d: d["tables"]["merchants"][0].pop("name"), "tables.merchants[0]"),
        (lambda d: d["tables"]["merchants"][0].update(created_at="yesterday"), "tables.merchants"),
        (lambda d: d.update(merchant_ids="all"), "merchant_ids"),
    ],
)
async def test_a_bad_snapshot_is_400_and_changes_nothing(
    client: httpx.AsyncClient,
    ops: OperatorCredentialHeaders,
    factory: Factory,
    change: Any,
    names: str,
) -> None:
    await factory.merchant()
    document = await snapshot(client, ops)
    change(document)
    response = await client.post("/sandbox/snapshot", json=document, headers=ops.headers())
    assert_error(response, 400, "SNAPSHOT_INVALID", names)
    assert len((await snapshot(client, ops))["tables"]["merchants"]) == 1


async def test_a_snapshot_whose_rows_do_not_fit_is_422_and_changes_nothing(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    merchant = await factory.merchant()
    await factory.location(merchant)
    document = await snapshot(client, ops)
    document["tables"]["merchants"] = []  # the location's merchant is gone
    response = await client.post("/sandbox/snapshot", json=document, headers=ops.headers())
    assert_error(response, 422, "SNAPSHOT_INCONSISTENT", "tables")
    assert len((await snapshot(client, ops))["tables"]["locations"]) == 1


# --- the command line -------------------------------------------------------------------------


async def test_the_cli_resets_exports_and_restores(
    cli: Cli, cli_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await cli("admin", "merchant", "create", "--name", "Cafe", "--handle", "cafe")
    saved = await cli.json("sandbox", "baseline")
    assert saved["baseline_version"] == 1
    target = tmp_path / "snap.json"
    await cli("sandbox", "snapshot", "export", "--output", str(target))
    await cli("admin", "merchant", "create", "--name", "Later", "--handle", "later")
    reset = await cli.json("sandbox", "reset")
    assert reset["reset"]["baseline_version"] == 1
    listed = await cli.json("admin", "merchant", "list")
    assert [m["name"] for m in listed] == ["Cafe"]
    await cli("admin", "merchant", "create", "--name", "Again", "--handle", "again")
    restored = await cli.json("sandbox", "snapshot", "restore", str(target))
    assert restored["restored"]["merchant_ids"] is None
    assert [m["name"] for m in await cli.json("admin", "merchant", "list")] == ["Cafe"]


async def test_a_reset_empties_the_serving_process_caches(
    database: Database, tmp_path: Path, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    """With the credential cache on (THANX_AUTH_CACHE_SECONDS, 5 s by default), a credential the
    reset removed stops working at once in the process that served the reset, not a cache
    lifetime later."""
    settings = Settings(data_dir=tmp_path, embedded_worker=False, auth_cache_seconds=300)
    app = create_app(settings, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        merchant = await factory.merchant()
        await post(c, ops.headers(), "/sandbox/baseline")
        partner = await factory.partner([merchant])
        assert (await c.get("/partner/merchants", headers=partner.headers())).status_code == 200

        await post(c, ops.headers(), "/sandbox/reset", {"credentials": True})

        response = await c.get("/partner/merchants", headers=partner.headers())
        assert_error(response, 401, "AUTHENTICATION_GENERIC")
