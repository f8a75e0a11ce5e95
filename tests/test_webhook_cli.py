"""``thanx-server admin webhook ...`` and ``thanx-server listen`` (in process, fresh database)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli import Cli
from tests.live import live_server
from tests.webhook_receiver import Receiver
from thanx_server.kit.db import Database
from thanx_server.kit.scoping import MerchantScope
from thanx_server.webhook import signing, tasks, triggers
from thanx_server.webhook.events import EventType


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.close()


def config() -> tasks.DeliveryConfig:
    return tasks.DeliveryConfig(
        owner="cli-test", timeout=5.0, slots=8, per_endpoint=8, poll_interval=0.05
    )


async def member_of_new_merchant(cli: Cli) -> tuple[dict[str, Any], dict[str, Any]]:
    merchant = await cli.json("admin", "merchant", "create", "--name", "Cafe", "--handle", "cafe")
    user = await cli.json(
        "admin", "user", "create", "--merchant", merchant["id"], "--email", "jo@example.com",
        "--phone", "+14155550100",
    )  # fmt: skip
    return merchant, user


async def trigger(database: Database, merchant_id: str, event: EventType) -> str:
    async with database.write_sessions() as session, session.begin():
        event_id, _, _, _ = await triggers.trigger(
            session,
            MerchantScope.one(merchant_id),
            event=event,
            subject_id=None,
            overrides=None,
            delay=timedelta(0),
        )
    return event_id


async def test_an_operator_manages_endpoints_and_reads_the_log(
    cli: Cli, committed: Database, receiver: Receiver
) -> None:
    merchant, _ = await member_of_new_merchant(cli)
    created = await cli.json(
        "admin", "webhook", "create", "--merchant", merchant["id"], "--url", receiver.url,
        "--event", "sms_subscription.created", "--header", "X-Team: loyalty",
    )  # fmt: skip
    assert created["secret"].startswith("whsec_")
    listed = await cli.json("admin", "webhook", "list")
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    event_id = await trigger(committed, merchant["id"], EventType.SMS_SUBSCRIPTION)
    assert await tasks.drain(committed, config()) == 1
    (request,) = receiver.received
    assert request.headers["x-team"] == "loyalty"
    assert signing.verify_thanx_signature(
        created["secret"], request.body, request.headers["x-thanx-signature"]
    )
    log = await cli.json("admin", "webhook", "log", "--endpoint", created["id"])
    assert [(r["event_id"], r["status_code"]) for r in log] == [(event_id, 200)]
    await cli("admin", "webhook", "redeliver", "--event", event_id)
    assert await tasks.drain(committed, config()) == 1
    rotated = await cli.json("admin", "webhook", "rotate", "--id", created["id"])
    assert rotated["secret"] != created["secret"]
    disabled = await cli.json("admin", "webhook", "update", "--id", created["id"], "--disable")
    assert disabled["enabled"] is False
    await cli("admin", "webhook", "delete", "--id", created["id"])
    assert await cli.json("admin", "webhook", "list") == []
    bad = await cli(
        "admin", "webhook", "create", "--merchant", merchant["id"], "--url", "ftp://x", ok=False
    )
    assert bad.exit_code == 1
    assert "webhook_endpoint.url" in bad.stderr


@pytest.mark.live
async def test_listen_registers_over_the_api_of_a_running_sandbox_and_keeps_its_secret(
    fresh_db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """``listen`` against a ``serve`` process (its embedded delivery worker sends): it
    registers over the HTTP API with the demo partner's credential and never opens a database
    (its own ``THANX_DATABASE_URL`` points nowhere), prints and verifies each event, forwards
    it, removes its endpoints on exit, and registers the same secret the next time."""
    with live_server(fresh_db_url, tmp_path / "server") as server:
        listener_dir = tmp_path / "listener"
        listener_env = {
            **os.environ,
            "THANX_DATA_DIR": str(listener_dir),
            "THANX_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/never.db",
            "THANX_CLIENT_ID": server.client_id,
            "THANX_ACCESS_TOKEN": server.access_token,
        }
        merchant_id = sorted(server.merchants.values())[0]
        async with httpx.AsyncClient(base_url=server.base_url, headers=server.headers) as api:

            async def one_event(*args: str) -> tuple[str, str]:
                listener = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "thanx_server", "listen", "--api", server.base_url,
                    "--max-events", "1", *args,
                    env=listener_env, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )  # fmt: skip
                assert listener.stdout is not None
                banner = (await asyncio.wait_for(listener.stdout.readline(), 60)).decode()
                assert banner.startswith("listening on http://127.0.0.1:"), banner
                assert f"of {server.base_url}" in banner
                mine = (await api.get("/sandbox/webhook_endpoints")).json()["webhook_endpoints"]
                assert {e["merchant_id"] for e in mine} == set(server.merchants.values())
                triggered = await api.post(
                    "/sandbox/webhooks/trigger",
                    json={"event": "communication_setting.updated", "merchant_id": merchant_id},
                )
                assert triggered.status_code == 202, triggered.text
                out, _ = await asyncio.wait_for(listener.communicate(), 60)
                assert listener.returncode == 0, out
                event_id: str = triggered.json()["event_id"]
                return event_id, banner + out.decode()

            event_id, printed = await one_event("--forward-to", receiver.url + "/app")
            assert "communication_setting.updated" in printed
            assert f"{event_id}  signature ok -> {receiver.url}/app 200" in printed
            secret = (listener_dir / "listen-secret").read_text().strip()
            (forwarded,) = receiver.received
            assert forwarded.path == "/app"
            assert forwarded.headers["x-thanx-event-id"] == event_id
            assert signing.verify_thanx_signature(
                secret, forwarded.body, forwarded.headers["x-thanx-signature"]
            )
            left = (await api.get("/sandbox/webhook_endpoints")).json()["webhook_endpoints"]
            assert left == []  # removed on exit
            # A second run registers the same secret: the app's verification keeps working.
            again, printed = await one_event()
            assert f"{again}  signature ok" in printed
            assert (listener_dir / "listen-secret").read_text().strip() == secret


async def test_listen_without_a_credential_says_what_it_needs(cli: Cli) -> None:
    result = await cli(
        "listen", ok=False, env={"THANX_CLIENT_ID": None, "THANX_ACCESS_TOKEN": None}
    )
    assert result.exit_code == 1
    assert "--client-id and --access-token" in result.stderr
