"""The operator CLI, run as a real subprocess against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Settings


def cli(
    db_url: str, data_dir: Path, *args: str, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "THANX_DATABASE_URL": db_url, "THANX_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "thanx_server", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def cli_json(db_url: str, data_dir: Path, *args: str) -> Any:
    return json.loads(cli(db_url, data_dir, *args, "--json").stdout)


@pytest.fixture
async def live_client(fresh_db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app over a real (committing) database: what the CLI writes is what it reads."""
    database = Database.from_engine(create_engine(fresh_db_url))
    app = create_app(Settings(data_dir=tmp_path, auth_cache_seconds=0), database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c
    await database.dispose()


async def test_partner_created_with_json_can_call_the_api(
    fresh_db_url: str, tmp_path: Path, live_client: httpx.AsyncClient
) -> None:
    merchant = cli_json(
        fresh_db_url,
        tmp_path,
        "admin",
        "merchant",
        "create",
        "--name",
        "Taco Hut",
        "--handle",
        "tacohut",
    )
    cli_json(
        fresh_db_url,
        tmp_path,
        "admin",
        "location",
        "create",
        "--merchant",
        merchant["id"],
        "--name",
        "Downtown",
    )
    created = cli_json(
        fresh_db_url, tmp_path, "admin", "partner", "create", "--name", "Acme",
        "--scope", "users.read", "--scope", "rewards.issue", "--merchant", merchant["id"],
    )  # fmt: skip
    headers = {
        "Authorization": f"Bearer {created['access_token']}",
        "X-ClientId": created["client_id"],
    }

    merchants = await live_client.get("/partner/merchants", headers=headers)
    scopes = await live_client.get("/partner/scopes", headers=headers)
    locations = await live_client.get("/partner/locations", headers=headers)

    assert merchants.json() == {
        "merchants": [{"id": merchant["id"], "name": "Taco Hut", "handle": "tacohut"}]
    }
    assert scopes.json() == {"scopes": ["rewards.issue", "users.read"]}
    assert [loc["name"] for loc in locations.json()["locations"]] == ["Downtown"]

    listed = cli_json(fresh_db_url, tmp_path, "admin", "partner", "list")
    assert created["access_token"] not in json.dumps(listed)  # the token is shown once only

    cli_json(
        fresh_db_url, tmp_path, "admin", "partner", "revoke", "--client-id", created["client_id"]
    )
    after = await live_client.get("/partner/merchants", headers=headers)
    assert after.status_code == 401


async def test_users_are_created_with_membership_and_listed(
    fresh_db_url: str, tmp_path: Path
) -> None:
    merchant = cli_json(
        fresh_db_url, tmp_path, "admin", "merchant", "create", "--name", "M", "--handle", "m1"
    )
    user = cli_json(
        fresh_db_url, tmp_path, "admin", "user", "create", "--merchant", merchant["id"],
        "--email", "Jane.Doe@Example.COM", "--phone", "+1 (415) 555-1212", "--tier", "gold",
    )  # fmt: skip
    listed = cli_json(fresh_db_url, tmp_path, "admin", "user", "list", "--merchant", merchant["id"])

    assert user["email"] == "jane.doe@example.com"
    assert user["phone"] == "+14155551212"
    assert [(u["id"], u["tier"]) for u in listed] == [(user["id"], "gold")]


async def test_errors_are_one_line_and_nonzero(fresh_db_url: str, tmp_path: Path) -> None:
    bad_scope = cli(
        fresh_db_url, tmp_path, "admin", "partner", "create", "--name", "X",
        "--scope", "root.everything", "--merchant", "nope", ok=False,
    )  # fmt: skip
    bad_zone = cli(
        fresh_db_url, tmp_path, "admin", "merchant", "create", "--name", "X", "--handle", "x",
        "--time-zone", "Mars/Olympus", ok=False,
    )  # fmt: skip
    for result, needle in ((bad_scope, "root.everything"), (bad_zone, "Mars/Olympus")):
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("error: ")
        assert needle in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


async def test_demo_is_idempotent(fresh_db_url: str, tmp_path: Path) -> None:
    first = cli_json(fresh_db_url, tmp_path, "demo")
    second = cli_json(fresh_db_url, tmp_path, "demo")

    assert first["created"] > 0
    assert second["created"] == 0
    assert second["client_id"] == first["client_id"]
    assert second["access_token"] == first["access_token"]
    merchants = cli_json(fresh_db_url, tmp_path, "admin", "merchant", "list")
    assert len(merchants) == 2
