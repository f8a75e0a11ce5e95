"""Deterministic job progression (issue 13, item 3): per credential or per job, `paused`, `step`
(one chunk per call, `processing` with a progress percentage in between), `after_polls`, and
`delay` on the sandbox clock (run by `advance`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import Credential, Factory, OperatorCredentialHeaders, assert_error
from tests.test_issuance import World, email, worker
from thanx_server.app import create_app
from thanx_server.issuance import tasks
from thanx_server.kit.db import Database
from thanx_server.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Chunks of one identifier, so a three-identifier job has three steps.
    return Settings(
        data_dir=tmp_path,
        rate_limit_enabled=False,
        embedded_worker=False,
        auth_cache_seconds=0,
        issuance_chunk_size=1,
    )


@pytest.fixture
async def client(settings: Settings, database: Database) -> Any:
    app = create_app(settings, database=database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


@pytest.fixture
async def world(factory: Factory) -> World:
    merchant = await factory.merchant()
    users = [(await factory.member(merchant, email=f"j{i}@example.com"))[0] for i in range(3)]
    cred = await factory.partner([merchant], scopes=["rewards.issue", "sandbox"])
    campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
    return World(merchant, cred, campaign, users)


async def issue_job(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    body = world.issue_body([email(f"j{i}@example.com") for i in range(3)])
    response = await client.post(
        "/partner/campaigns/issue", json=body, headers=world.cred.headers()
    )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()["issuance_job"]
    return job


async def job(client: httpx.AsyncClient, cred: Credential, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/partner/issuance_jobs/{job_id}", headers=cred.headers())
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["issuance_job"]
    return found


async def progression(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.put("/sandbox/jobs/progression", json=body, headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["progression"]
    return found


async def test_a_paused_job_waits_and_each_step_runs_one_chunk(
    client: httpx.AsyncClient, world: World, database: Database
) -> None:
    set_to = await progression(client, world.cred.headers(), mode="paused")
    assert set_to == {
        "client_id": world.cred.client_id,
        "mode": "paused",
        "polls": None,
        "delay_seconds": None,
    }
    created = await issue_job(client, world)
    assert await tasks.drain(database, worker()) == 0
    assert (await job(client, world.cred, created["id"]))["state"] == "pending"

    seen = []
    for _ in range(3):
        response = await client.post(
            f"/sandbox/jobs/{created['id']}/step", json={"chunks": 1}, headers=world.cred.headers()
        )
        assert response.status_code == 200, response.text
        stepped = response.json()["issuance_job"]
        seen.append((stepped["state"], stepped["progress_percent"], stepped["processed_count"]))
    assert seen == [("processing", 33, 1), ("processing", 66, 2), ("completed", 100, 3)]
    assert (await job(client, world.cred, created["id"]))["success_count"] == 3


async def test_after_polls_runs_once_the_job_was_polled_n_times(
    client: httpx.AsyncClient, world: World, database: Database
) -> None:
    await progression(client, world.cred.headers(), mode="after_polls", polls=2)
    created = await issue_job(client, world)
    await job(client, world.cred, created["id"])
    assert await tasks.drain(database, worker()) == 0
    await job(client, world.cred, created["id"])
    assert await tasks.drain(database, worker()) == 1
    assert (await job(client, world.cred, created["id"]))["state"] == "completed"


async def test_a_delayed_job_runs_when_the_sandbox_clock_reaches_it(
    client: httpx.AsyncClient, world: World, database: Database, factory: Factory
) -> None:
    ops = await factory.operator()
    await client.post("/sandbox/clock/freeze", json={}, headers=ops.headers())
    await progression(
        client, ops.headers(), mode="delay", delay="1h", client_id=world.cred.client_id
    )
    created = await issue_job(client, world)
    assert await tasks.drain(database, worker()) == 0

    early = await client.post("/sandbox/clock/advance", json={"by": "30m"}, headers=ops.headers())
    assert early.json()["clock"]["ran"] == 0
    assert (await job(client, world.cred, created["id"]))["state"] == "pending"

    late = await client.post("/sandbox/clock/advance", json={"by": "1h"}, headers=ops.headers())
    assert late.json()["clock"]["ran"] == 1
    done = await job(client, world.cred, created["id"])
    assert done["state"] == "completed"
    # It ran at the instant it fell due, not at the end of the move.
    from datetime import datetime, timedelta

    def at(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    assert at(done["completed_at"]) - at(created["created_at"]) == timedelta(hours=1)


async def test_one_job_is_paused_and_released(
    client: httpx.AsyncClient, world: World, database: Database
) -> None:
    created = await issue_job(client, world)
    paused = await client.post(
        f"/sandbox/jobs/{created['id']}/progression",
        json={"mode": "paused"},
        headers=world.cred.headers(),
    )
    assert paused.status_code == 200, paused.text
    assert await tasks.drain(database, worker()) == 0
    released = await client.post(
        f"/sandbox/jobs/{created['id']}/progression",
        json={"mode": "immediate"},
        headers=world.cred.headers(),
    )
    assert released.status_code == 200
    assert await tasks.drain(database, worker()) == 1
    finished = await client.post(
        f"/sandbox/jobs/{created['id']}/progression",
        json={"mode": "paused"},
        headers=world.cred.headers(),
    )
    assert_error(finished, 422, "INVALID_STATE", "finished")


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"mode": "after_polls"}, "polls"),
        ({"mode": "delay"}, "delay"),
        ({"mode": "later"}, "mode"),
        ({"mode": "paused", "client_id": "someone-else"}, "client_id"),
    ],
)
async def test_bad_progressions_are_400_naming_the_field(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], names: str
) -> None:
    response = await client.put(
        "/sandbox/jobs/progression", json=body, headers=world.cred.headers()
    )
    assert_error(response, 400, "VALIDATION_FAILED", names)


async def test_an_operator_names_the_credential(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    ops: OperatorCredentialHeaders = await factory.operator()
    response = await client.put(
        "/sandbox/jobs/progression", json={"mode": "paused"}, headers=ops.headers()
    )
    assert_error(response, 400, "VALIDATION_FAILED", "client_id")
    unknown = await client.put(
        "/sandbox/jobs/progression",
        json={"mode": "paused", "client_id": "nobody"},
        headers=ops.headers(),
    )
    assert_error(unknown, 404, "RESOURCE_NOT_FOUND", "client_id")


async def test_the_cli_sets_progression_and_steps_a_job(cli: Any, tmp_path: Path) -> None:
    from tests.factories import Factory as _Factory
    from thanx_server.kit.db import create_engine

    engine_db = Database.from_engine(create_engine(cli.db_url))
    try:
        async with engine_db.write_sessions() as session, session.begin():
            factory = _Factory(session)
            merchant = await factory.merchant()
            for i in range(2):
                await factory.member(merchant, email=f"c{i}@example.com")
            cred = await factory.partner([merchant], scopes=["rewards.issue"])
            campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
        set_to = await cli.json(
            "sandbox", "jobs", "progression", "--client-id", cred.client_id, "--mode", "paused"
        )
        assert set_to["progression"]["mode"] == "paused"
        app = create_app(
            Settings(data_dir=tmp_path, embedded_worker=False, issuance_chunk_size=1),
            database=engine_db,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            world = World(merchant, cred, campaign, [])
            body = world.issue_body([email("c0@example.com"), email("c1@example.com")])
            created = await client.post(
                "/partner/campaigns/issue", json=body, headers=cred.headers()
            )
            assert created.status_code == 202, created.text
        job_id = created.json()["issuance_job"]["id"]
        stepped = await cli.json(
            "sandbox", "jobs", "step", job_id, env={"THANX_ISSUANCE_CHUNK_SIZE": "1"}
        )
        assert stepped["issuance_job"]["state"] == "processing"
        assert stepped["issuance_job"]["progress_percent"] == 50
        released = await cli.json("sandbox", "jobs", "mode", job_id, "--mode", "immediate")
        assert released["issuance_job"]["state"] == "processing"
        bad = await cli("sandbox", "jobs", "mode", job_id, "--mode", "after_polls", ok=False)
        assert "polls" in bad.stderr
    finally:
        await engine_db.dispose()
