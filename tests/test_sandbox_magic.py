"""Magic identifiers (issue 13, item 3): in a sandbox, a reserved e-mail domain and phone range
produce each failure an issuance job can record; elsewhere they are ordinary identifiers."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from tests.factories import Factory
from tests.test_issuance import World, email, get_job, issue, phone, worker
from thanx_server.issuance import tasks
from thanx_server.issuance.magic import JOB_FAILURE_REASON, magic_outcome
from thanx_server.kit.db import Database


@pytest.fixture
async def world(factory: Factory) -> World:
    merchant = await factory.merchant()
    users = [(await factory.member(merchant, email="real@example.com"))[0]]
    cred = await factory.partner([merchant], scopes=["rewards.issue"])
    campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
    return World(merchant, cred, campaign, users)


def sandbox_worker() -> tasks.WorkerConfig:
    config: tasks.WorkerConfig = replace(worker(), sandbox=True)
    return config


async def test_magic_identifiers_record_each_failure(
    client: httpx.AsyncClient, world: World, database: Database
) -> None:
    job = await issue(
        client,
        world,
        world.issue_body(
            [
                email("real@example.com"),
                email("user-not-found@fail.sandbox.thanx.test"),
                email("Duplicate@FAIL.sandbox.thanx.test"),
                phone("+1 202-555-0100"),
                phone("+12025550101"),
            ]
        ),
    )
    await tasks.drain(database, sandbox_worker())
    done = await get_job(client, world, job["id"])
    assert done["state"] == "completed"
    failures = {f["identifier_index"]: f["error"] for f in done["summary"]["failures"]}
    assert failures == {
        1: "User not found",
        2: "Duplicate identifier",
        3: "User not found",
        4: "Duplicate identifier",
    }


async def test_a_magic_identifier_fails_the_whole_job(
    client: httpx.AsyncClient, world: World, database: Database
) -> None:
    job = await issue(
        client,
        world,
        world.issue_body([email("real@example.com"), phone("+12025550102")]),
    )
    await tasks.drain(database, sandbox_worker())
    done = await get_job(client, world, job["id"])
    assert done["state"] == "failed"
    assert done["error"] == JOB_FAILURE_REASON


async def test_outside_a_sandbox_they_are_ordinary_identifiers(
    client: httpx.AsyncClient, world: World, database: Database
) -> None:
    job = await issue(client, world, world.issue_body([email("duplicate@fail.sandbox.thanx.test")]))
    await tasks.drain(database, worker())
    done = await get_job(client, world, job["id"])
    assert done["summary"]["failures"][0]["error"] == "User not found"


def test_the_magic_ranges() -> None:
    assert magic_outcome("email", "job-fails@fail.sandbox.thanx.test") == "job_fails"
    assert magic_outcome("email", "anything@fail.sandbox.thanx.test") == "user_not_found"
    assert magic_outcome("email", "duplicate@example.com") is None
    assert magic_outcome("phone", "+12025550199") == "user_not_found"
    assert magic_outcome("phone", "+12025550200") is None
    assert magic_outcome("phone", None) is None
