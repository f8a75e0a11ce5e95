"""``thanx-server admin webhook ...`` and ``thanx-server listen`` (in process, fresh database)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.cli import Cli
from tests.webhook_receiver import Receiver
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import WebhookEndpoint
from thanx_server.webhook import signing, tasks, triggers
from thanx_server.webhook.events import EventType


@pytest.fixture
async def committed(fresh_db_url: str) -> AsyncIterator[Database]:
    database = Database.from_engine(create_engine(fresh_db_url, pool_size=2))
    yield database
    await database.dispose()


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


async def test_listen_verifies_forwards_and_keeps_its_secret(
    cli: Cli, committed: Database, receiver: Receiver
) -> None:
    merchant, _ = await member_of_new_merchant(cli)
    run = asyncio.create_task(
        cli("listen", "--forward-to", receiver.url + "/app", "--max-events", "1")
    )
    endpoint = None
    for _ in range(200):
        async with committed.read_sessions() as session:
            endpoint = await session.scalar(select(WebhookEndpoint))
        if endpoint is not None:
            break
        await asyncio.sleep(0.05)
    assert endpoint is not None
    secret = (cli.data_dir / "listen-secret").read_text().strip()
    assert endpoint.secret == secret
    event_id = await trigger(committed, merchant["id"], EventType.COMMUNICATION_SETTING)
    assert await tasks.drain(committed, config()) == 1
    result = await asyncio.wait_for(run, timeout=30)
    assert "communication_setting.updated" in result.stdout
    assert f"{event_id}  signature ok" in result.stdout
    (forwarded,) = receiver.received
    assert forwarded.path == "/app"
    assert forwarded.headers["x-thanx-event-id"] == event_id
    assert signing.verify_thanx_signature(
        secret, forwarded.body, forwarded.headers["x-thanx-signature"]
    )
    async with committed.read_sessions() as session:
        assert await session.scalar(select(WebhookEndpoint)) is None  # removed on exit
    # A second run keeps the secret.
    again = asyncio.create_task(cli("listen", "--max-events", "1"))
    for _ in range(200):
        async with committed.read_sessions() as session:
            endpoint = await session.scalar(select(WebhookEndpoint))
        if endpoint is not None:
            break
        await asyncio.sleep(0.05)
    assert endpoint is not None
    assert endpoint.secret == secret
    await trigger(committed, merchant["id"], EventType.SMS_SUBSCRIPTION)
    await tasks.drain(committed, config())
    await asyncio.wait_for(again, timeout=30)
