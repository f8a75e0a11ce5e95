"""The operator CLI, run in this process (``cli``) against a real, committing database."""

from __future__ import annotations

import json

import httpx

from tests.cli import Cli


async def test_partner_created_with_json_can_call_the_api(
    cli: Cli, cli_client: httpx.AsyncClient
) -> None:
    merchant = await cli.json(
        "admin", "merchant", "create", "--name", "Taco Hut", "--handle", "tacohut"
    )
    await cli.json(
        "admin", "location", "create", "--merchant", merchant["id"], "--name", "Downtown"
    )
    created = await cli.json(
        "admin", "partner", "create", "--name", "Acme",
        "--scope", "users.read", "--scope", "rewards.issue", "--merchant", merchant["id"],
    )  # fmt: skip
    headers = {
        "Authorization": f"Bearer {created['access_token']}",
        "X-ClientId": created["client_id"],
    }

    merchants = await cli_client.get("/partner/merchants", headers=headers)
    scopes = await cli_client.get("/partner/scopes", headers=headers)
    locations = await cli_client.get("/partner/locations", headers=headers)

    assert merchants.json() == {
        "merchants": [{"id": merchant["id"], "name": "Taco Hut", "handle": "tacohut"}]
    }
    assert scopes.json() == {"scopes": ["rewards.issue", "users.read"]}
    assert [loc["name"] for loc in locations.json()["locations"]] == ["Downtown"]

    listed = await cli.json("admin", "partner", "list")
    assert created["client_id"] in json.dumps(listed)  # listed...
    assert created["access_token"] not in json.dumps(listed)  # ...but the token is shown once only

    await cli.json("admin", "partner", "revoke", "--client-id", created["client_id"])
    after = await cli_client.get("/partner/merchants", headers=headers)
    assert after.status_code == 401


async def test_users_are_created_with_membership_and_listed(cli: Cli) -> None:
    merchant = await cli.json("admin", "merchant", "create", "--name", "M", "--handle", "m1")
    user = await cli.json(
        "admin", "user", "create", "--merchant", merchant["id"],
        "--email", "Jane.Doe@Example.COM", "--phone", "+1 (415) 555-1212", "--tier", "gold",
    )  # fmt: skip
    listed = await cli.json("admin", "user", "list", "--merchant", merchant["id"])

    assert user["email"] == "jane.doe@example.com"
    assert user["phone"] == "+14155551212"
    assert [(u["id"], u["tier"]) for u in listed] == [(user["id"], "gold")]


async def test_errors_are_one_line_and_nonzero(cli: Cli) -> None:
    bad_scope = await cli(
        "admin", "partner", "create", "--name", "X",
        "--scope", "root.everything", "--merchant", "nope", ok=False,
    )  # fmt: skip
    bad_zone = await cli(
        "admin", "merchant", "create", "--name", "X", "--handle", "x",
        "--time-zone", "Mars/Olympus", ok=False,
    )  # fmt: skip
    for result, needle in ((bad_scope, "root.everything"), (bad_zone, "Mars/Olympus")):
        assert result.exit_code == 1
        assert result.stderr.startswith("error: ")
        assert needle in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""
    assert await cli.json("admin", "merchant", "list") == []  # nothing of either was written


async def test_demo_is_idempotent(cli: Cli) -> None:
    first = await cli.json("demo")
    second = await cli.json("demo")

    assert first["created"] > 0
    assert second["created"] == 0
    assert second["client_id"] == first["client_id"]
    assert second["access_token"] == first["access_token"]
    merchants = await cli.json("admin", "merchant", "list")
    assert len(merchants) == 2


async def test_the_demo_banner_says_how_to_call_everything(cli: Cli) -> None:
    """What `make run` prints: both credentials, curl lines, the docs and the console."""
    creds = await cli.json("demo")
    banner = (await cli("demo")).stdout
    assert creds["access_token"] in banner
    assert creds["operator"]["access_token"] in banner
    assert "console:      http://127.0.0.1:8000/console" in banner
    assert f"curl -s -H 'Authorization: Bearer {creds['access_token']}'" in banner


async def test_db_upgrade_reports_the_head_revision(cli: Cli) -> None:
    from alembic.script import ScriptDirectory

    from thanx_server.kit.migrate import alembic_config

    [head] = ScriptDirectory.from_config(alembic_config()).get_heads()

    result = await cli("db", "upgrade")

    assert result.stdout.strip() == f"database at revision {head}"


async def test_admin_user_create_refuses_points_past_the_balance_bound(cli: Cli) -> None:
    merchant = await cli.json("admin", "merchant", "create", "--name", "Pts", "--handle", "pts")
    base = ["admin", "user", "create", "--merchant", merchant["id"]]
    for points, message in [
        ("10000000000", "points: must be between 0 and 9999999999.99"),
        ("-1", "points: must be between 0"),
        ("NaN", "points: must be between 0"),
        ("1.001", "points: at most two decimal places"),
        ("lots", "points: not a number"),
    ]:
        refused = await cli(*base, "--email", "p@example.com", "--points", points, ok=False)
        assert refused.exit_code == 1, points
        assert message in refused.stderr, refused.stderr
    ok = await cli.json(*base, "--email", "p@example.com", "--points", "9999999999.99")
    assert ok["merchant_id"] == merchant["id"]
