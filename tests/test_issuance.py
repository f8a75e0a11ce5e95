"""Issuing rewards end to end: POST /partner/campaigns/issue, the worker, the job endpoints.

The worker runs in-process on the test database (``tasks.drain``), exactly as it runs in
``thanx-server worker``; multi-process and crash behaviour live in ``test_issuance_workers.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Credential, Factory, assert_error
from thanx_server.campaign.service import CampaignView
from thanx_server.issuance import tasks
from thanx_server.kit.db import Database
from thanx_server.models import (
    Campaign,
    IdempotencyKey,
    IssuanceJob,
    IssuanceOutcome,
    Merchant,
    Reward,
    User,
)


def worker(owner: str = "test-worker", *, chunk_size: int = 1000, lease: float = 60) -> Any:
    return tasks.WorkerConfig(
        owner=owner, lease=timedelta(seconds=lease), chunk_size=chunk_size, max_attempts=5
    )


@dataclass
class World:
    merchant: Merchant
    cred: Credential
    campaign: CampaignView
    users: list[User]

    @property
    def treatment(self) -> str:
        return self.campaign.variants[0].id

    @property
    def control(self) -> str:
        return self.campaign.variants[1].id

    def issue_body(self, identifiers: list[dict[str, str]], **kw: Any) -> dict[str, Any]:
        return {
            "merchant_id": self.merchant.id,
            "campaign_id": self.campaign.campaign.id,
            "variant_id": kw.pop("variant_id", self.treatment),
            "identifiers": identifiers,
            **kw,
        }


@pytest.fixture
async def world(factory: Factory) -> World:
    merchant = await factory.merchant()
    users = [
        (await factory.member(merchant, email=f"member{i}@example.com", phone=f"+1415555{i:04d}"))[
            0
        ]
        for i in range(3)
    ]
    cred = await factory.partner([merchant], scopes=["rewards.issue"])
    campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
    return World(merchant, cred, campaign, users)


def email(value: str) -> dict[str, str]:
    return {"type": "email", "value": value}


def phone(value: str) -> dict[str, str]:
    return {"type": "phone", "value": value}


async def issue(
    client: httpx.AsyncClient, world: World, body: dict[str, Any], **headers: str
) -> Any:
    response = await client.post(
        "/partner/campaigns/issue", json=body, headers=world.cred.headers(**headers)
    )
    assert response.status_code == 202, response.text
    return response.json()["issuance_job"]


async def get_job(client: httpx.AsyncClient, world: World, job_id: str) -> Any:
    response = await client.get(f"/partner/issuance_jobs/{job_id}", headers=world.cred.headers())
    assert response.status_code == 200, response.text
    return response.json()["issuance_job"]


async def job_column(session: AsyncSession, job_id: str, column: Any) -> Any:
    return await session.scalar(select(column).where(IssuanceJob.id == job_id))


# --- POST /partner/campaigns/issue ------------------------------------------------------------


async def test_issue_answers_202_with_a_pending_job(
    client: httpx.AsyncClient, world: World
) -> None:
    job = await issue(client, world, world.issue_body([email("member0@example.com")] * 3))
    assert job["state"] == "pending"
    assert job["merchant_id"] == world.merchant.id
    assert job["campaign_id"] == world.campaign.campaign.id
    assert job["variant_id"] == world.treatment
    assert (job["total_count"], job["requested_count"]) == (3, 3)
    assert job["processed_count"] == job["success_count"] == job["failure_count"] == 0
    assert job["issued_count"] == job["failed_count"] == job["progress_percent"] == 0
    assert job["started_at"] is None
    assert job["completed_at"] is None
    assert job["summary"] is None
    assert job["created_at"].endswith("Z")
    assert job["updated_at"].endswith("Z")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(identifiers=[]), "identifiers"),
        (lambda b: b.update(identifiers=[email("a@example.com")] * 10_001), "identifiers"),
        (lambda b: b.update(identifiers=[{"type": "fax", "value": "1"}]), "identifiers[0].type"),
        (lambda b: b.update(identifiers=[email("a@example.com"), {"type": "email"}]),
         "identifiers[1].value"),
        (lambda b: b.pop("identifiers"), "identifiers"),
        (lambda b: b.pop("merchant_id"), "merchant_id"),
        (lambda b: b.pop("variant_id"), "variant_id"),
        (lambda b: b.update(variant_id="nosuchvariant"), "variant_id"),
    ],
)  # fmt: skip
async def test_invalid_issue_is_400_naming_the_field(
    client: httpx.AsyncClient, world: World, mutate: Any, field: str
) -> None:
    body = world.issue_body([email("member0@example.com")])
    mutate(body)
    response = await client.post(
        "/partner/campaigns/issue", json=body, headers=world.cred.headers()
    )
    assert_error(response, 400, "VALIDATION_FAILED")
    assert response.json()["error"]["message"].startswith(f"{field}:"), response.text


async def test_exactly_ten_thousand_identifiers_are_accepted(
    client: httpx.AsyncClient, world: World
) -> None:
    job = await issue(client, world, world.issue_body([email("x@example.com")] * 10_000))
    assert job["total_count"] == 10_000


async def test_variant_of_another_campaign_is_400(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    other = await factory.campaign(world.merchant)
    body = world.issue_body([email("member0@example.com")], variant_id=other.variants[0].id)
    response = await client.post(
        "/partner/campaigns/issue", json=body, headers=world.cred.headers()
    )
    assert_error(response, 400, "VALIDATION_FAILED")
    assert response.json()["error"]["message"].startswith("variant_id:")


async def test_campaign_of_another_merchant_is_404_and_their_merchant_403(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    other_merchant = await factory.merchant()
    theirs = await factory.campaign(other_merchant)
    body = world.issue_body([email("member0@example.com")])
    body.update(campaign_id=theirs.campaign.id, variant_id=theirs.variants[0].id)
    response = await client.post(
        "/partner/campaigns/issue", json=body, headers=world.cred.headers()
    )
    assert_error(response, 404, "RESOURCE_NOT_FOUND")
    body["merchant_id"] = other_merchant.id
    response = await client.post(
        "/partner/campaigns/issue", json=body, headers=world.cred.headers()
    )
    assert_error(response, 403, "FORBIDDEN")


async def test_issuing_for_an_ended_campaign_is_422(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    now = datetime.now(UTC)
    ended = await factory.campaign(
        world.merchant, start_at=now - timedelta(days=9), end_at=now - timedelta(days=1)
    )
    body = world.issue_body([email("member0@example.com")], variant_id=ended.variants[0].id)
    body["campaign_id"] = ended.campaign.id
    response = await client.post(
        "/partner/campaigns/issue", json=body, headers=world.cred.headers()
    )
    assert_error(response, 422, "INVALID_STATE")


# --- the job lifecycle ---------------------------------------------------------------------


async def test_job_lifecycle_issues_one_reward_per_matched_member(
    client: httpx.AsyncClient,
    factory: Factory,
    world: World,
    database: Database,
    session: AsyncSession,
) -> None:
    outsider, _ = await factory.member(await factory.merchant(), email="outsider@example.com")
    identifiers = [
        email("MEMBER0@Example.com"),  # 0: case-insensitive match
        phone("+1 (415) 555-0001"),  # 1: phone normalised to E.164
        email("nobody@example.com"),  # 2: unknown
        email("outsider@example.com"),  # 3: a user, but not a member of this merchant
        phone("+14155550000"),  # 4: member0 again, by phone: duplicate
        phone("4155550002"),  # 5: no country code: not guessed at
        email(" member2@example.com "),  # 6: trimmed
        email("member1@example.com"),  # 7: duplicate of 1, in a later chunk
    ]
    created = await issue(client, world, world.issue_body(identifiers))

    assert await tasks.drain(database, worker(chunk_size=3)) == 1

    job = await get_job(client, world, created["id"])
    assert job["state"] == "completed"
    assert job["total_count"] == job["processed_count"] == 8
    assert (job["success_count"], job["failure_count"]) == (3, 5)
    assert (job["issued_count"], job["failed_count"], job["requested_count"]) == (3, 5, 8)
    assert job["progress_percent"] == 100
    assert job["started_at"] is not None
    assert job["completed_at"] is not None
    assert job["error"] is None
    assert job["summary"] == {
        "success_count": 3,
        "failure_count": 5,
        "failures": [
            {"identifier_index": 2, "identifier_type": "email", "error": "User not found"},
            {"identifier_index": 3, "identifier_type": "email", "error": "User not found"},
            {"identifier_index": 4, "identifier_type": "phone", "error": "Duplicate identifier"},
            {"identifier_index": 5, "identifier_type": "phone", "error": "User not found"},
            {"identifier_index": 7, "identifier_type": "email", "error": "Duplicate identifier"},
        ],
    }
    rewards = (
        await session.execute(
            select(Reward.user_id, Reward.identifier_index, Reward.state, Reward.campaign_id,
                   Reward.variant_id, Reward.merchant_id, Reward.retire_at,
                   Reward.reward_template_id)
            .where(Reward.issuance_job_id == created["id"])
            .order_by(Reward.identifier_index)
        )
    ).all()  # fmt: skip
    campaign = world.campaign
    assert [(r.user_id, r.identifier_index) for r in rewards] == [
        (world.users[0].id, 0),
        (world.users[1].id, 1),
        (world.users[2].id, 6),
    ]
    for r in rewards:
        assert r.state == "available"
        assert (r.campaign_id, r.variant_id, r.merchant_id) == (
            campaign.campaign.id, world.treatment, world.merchant.id,
        )  # fmt: skip
        assert r.reward_template_id == campaign.variants[0].reward_template_id
        assert r.retire_at == campaign.campaign.redeemable_to
    assert outsider.id not in {r.user_id for r in rewards}
    outcomes = (
        await session.scalars(
            select(IssuanceOutcome.identifier_index)
            .where(IssuanceOutcome.job_id == created["id"])
            .order_by(IssuanceOutcome.identifier_index)
        )
    ).all()
    assert outcomes == [2, 3, 4, 5, 7]  # every index is a reward or an outcome, never both


async def test_control_variant_records_holdouts_and_issues_nothing(
    client: httpx.AsyncClient, world: World, database: Database, session: AsyncSession
) -> None:
    body = world.issue_body(
        [email("member0@example.com"), email("member1@example.com"), email("no@example.com")],
        variant_id=world.control,
    )
    created = await issue(client, world, body)
    await tasks.drain(database, worker())

    job = await get_job(client, world, created["id"])
    assert job["state"] == "completed"
    assert (job["success_count"], job["failure_count"]) == (2, 1)
    rewards = await session.scalar(
        select(func.count()).where(Reward.issuance_job_id == created["id"])
    )
    assert rewards == 0
    holdouts = (
        await session.execute(
            select(IssuanceOutcome.identifier_index, IssuanceOutcome.user_id)
            .where(IssuanceOutcome.job_id == created["id"], IssuanceOutcome.error.is_(None))
            .order_by(IssuanceOutcome.identifier_index)
        )
    ).all()
    assert [tuple(h) for h in holdouts] == [(0, world.users[0].id), (1, world.users[1].id)]


async def test_job_whose_campaign_vanished_fails_with_a_reason(
    client: httpx.AsyncClient, world: World, database: Database, session: AsyncSession
) -> None:
    created = await issue(client, world, world.issue_body([email("member0@example.com")]))
    await session.execute(delete(Campaign).where(Campaign.id == world.campaign.campaign.id))
    await session.flush()
    await tasks.drain(database, worker())

    job = await get_job(client, world, created["id"])
    assert job["state"] == "failed"
    assert "no longer exists" in job["error"]
    assert job["completed_at"] is not None
    assert job["summary"] == {"success_count": 0, "failure_count": 0}


async def test_a_worker_that_lost_its_lease_writes_nothing(
    client: httpx.AsyncClient, world: World, database: Database, session: AsyncSession
) -> None:
    created = await issue(
        client, world, world.issue_body([email(f"member{i}@example.com") for i in range(3)])
    )
    slow = worker("slow", lease=-1)  # its lease is expired the moment it is granted
    claimed = await tasks.claim(database, slow)
    assert claimed is not None
    assert await tasks.drain(database, worker("fast")) == 1  # reclaims and completes the job

    await tasks.process(database, slow, claimed)  # the slow worker wakes up: must write nothing

    job = await get_job(client, world, created["id"])
    assert (job["state"], job["success_count"], job["failure_count"]) == ("completed", 3, 0)
    assert await job_column(session, created["id"], IssuanceJob.attempts) == 2
    rewards = await session.scalar(
        select(func.count()).where(Reward.issuance_job_id == created["id"])
    )
    assert rewards == 3


async def test_a_stopping_worker_releases_its_job_and_another_resumes_it(
    client: httpx.AsyncClient, world: World, database: Database, session: AsyncSession
) -> None:
    identifiers = [email(f"member{i % 3}@example.com") for i in range(6)] + [email("x@e.com")]
    created = await issue(client, world, world.issue_body(identifiers))
    checks = iter([False, True])  # stop after the first chunk
    config = worker("stopping", chunk_size=2)
    assert await tasks.run_once(database, config, should_stop=lambda: next(checks, True))

    assert await job_column(session, created["id"], IssuanceJob.processed_count) == 2
    assert await job_column(session, created["id"], IssuanceJob.lease_owner) is None
    assert await job_column(session, created["id"], IssuanceJob.attempts) == 0  # not a crash
    await tasks.drain(database, worker("next", chunk_size=2))

    job = await get_job(client, world, created["id"])
    assert (job["state"], job["success_count"], job["failure_count"]) == ("completed", 3, 4)
    assert [f["error"] for f in job["summary"]["failures"]] == ["Duplicate identifier"] * 3 + [
        "User not found"
    ]


async def test_a_chunks_reward_ids_ascend_with_their_users(
    client: httpx.AsyncClient, world: World, factory: Factory, database: Database
) -> None:
    """The rows are written in key order of the reward table's indexes (id, user): a chunk's new
    ids are handed out in user order, while events and outcomes keep identifier order."""
    for i in range(3, 12):
        await factory.member(world.merchant, email=f"member{i}@example.com")
    identifiers = [email(f"member{i}@example.com") for i in range(12)]
    created = await issue(client, world, world.issue_body(identifiers))
    await tasks.drain(database, worker())

    async with database.read_sessions() as session:
        rows = (
            await session.execute(
                select(Reward.user_id, Reward.id, Reward.identifier_index)
                .where(Reward.issuance_job_id == created["id"])
                .order_by(Reward.user_id)
            )
        ).all()
    assert len(rows) == 12
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert sorted(r.identifier_index for r in rows) == list(range(12))


async def test_a_job_that_keeps_crashing_workers_is_failed(
    client: httpx.AsyncClient, world: World, database: Database
) -> None:
    created = await issue(client, world, world.issue_body([email("member0@example.com")]))
    for n in range(5):
        assert await tasks.claim(database, worker(f"doomed{n}", lease=-1)) is not None
    await tasks.drain(database, worker())
    job = await get_job(client, world, created["id"])
    assert job["state"] == "failed"
    assert "attempts" in job["error"]


# --- GET /partner/issuance_jobs/{id}, isolation and scope ---------------------------------------


async def test_job_of_another_merchant_is_404(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    created = await issue(client, world, world.issue_body([email("member0@example.com")]))
    stranger = await factory.partner([await factory.merchant()], scopes=["rewards.issue"])
    for method, path in (
        ("GET", f"/partner/issuance_jobs/{created['id']}"),
        ("POST", f"/partner/issuance_jobs/{created['id']}/revoke"),
        ("GET", "/partner/issuance_jobs/nosuchjob"),
    ):
        response = await client.request(method, path, headers=stranger.headers())
        assert_error(response, 404, "RESOURCE_NOT_FOUND")
    response = await client.get(
        f"/partner/issuance_jobs/{created['id']}",
        params={"merchant_id": world.merchant.id},
        headers=stranger.headers(),
    )
    assert_error(response, 403, "FORBIDDEN")


async def test_issuance_needs_the_rewards_issue_scope(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    created = await issue(client, world, world.issue_body([email("member0@example.com")]))
    cred = await factory.partner([world.merchant], scopes=["users.read", "tags.read"])
    for method, path, body in (
        ("POST", "/partner/campaigns/issue", world.issue_body([email("member0@example.com")])),
        ("GET", f"/partner/issuance_jobs/{created['id']}", None),
        ("POST", f"/partner/issuance_jobs/{created['id']}/revoke", None),
    ):
        response = await client.request(method, path, json=body, headers=cred.headers())
        assert_error(response, 403, "FORBIDDEN")


# --- revoke ----------------------------------------------------------------------------------


async def test_revoke_completed_job_takes_back_unused_rewards(
    client: httpx.AsyncClient, world: World, database: Database, session: AsyncSession
) -> None:
    created = await issue(
        client, world, world.issue_body([email(f"member{i}@example.com") for i in range(3)])
    )
    await tasks.drain(database, worker())
    used_user = world.users[0].id
    await session.execute(
        update(Reward)
        .where(Reward.issuance_job_id == created["id"], Reward.user_id == used_user)
        .values(state="used", used_at=datetime.now(UTC))
    )
    await session.execute(
        update(Reward)
        .where(Reward.issuance_job_id == created["id"], Reward.user_id == world.users[1].id)
        .values(state="active", activated_at=datetime.now(UTC))
    )
    await session.flush()
    before = await get_job(client, world, created["id"])

    response = await client.post(
        f"/partner/issuance_jobs/{created['id']}/revoke",
        json={"merchant_id": world.merchant.id},
        headers=world.cred.headers(),
    )

    assert response.status_code == 200, response.text
    job = response.json()["issuance_job"]
    assert job["state"] == "revoked"
    assert job["revoked_at"] is not None
    assert job["completed_at"] == before["completed_at"]
    assert job["summary"] == {"success_count": 3, "failure_count": 0}
    states = dict(
        (
            await session.execute(
                select(Reward.user_id, Reward.state).where(Reward.issuance_job_id == created["id"])
            )
        ).all()
    )
    assert states == {used_user: "used", world.users[1].id: "revoked", world.users[2].id: "revoked"}
    assert (await get_job(client, world, created["id"]))["state"] == "revoked"


async def test_revoke_failed_job_is_allowed(
    client: httpx.AsyncClient, world: World, database: Database, session: AsyncSession
) -> None:
    created = await issue(client, world, world.issue_body([email("member0@example.com")]))
    await session.execute(delete(Campaign).where(Campaign.id == world.campaign.campaign.id))
    await session.flush()
    await tasks.drain(database, worker())
    response = await client.post(
        f"/partner/issuance_jobs/{created['id']}/revoke", headers=world.cred.headers()
    )
    assert response.status_code == 200, response.text
    assert response.json()["issuance_job"]["state"] == "revoked"


@pytest.mark.parametrize("state", ["pending", "processing", "revoked"])
async def test_revoke_in_a_non_revocable_state_is_422(
    client: httpx.AsyncClient, world: World, session: AsyncSession, state: str
) -> None:
    created = await issue(client, world, world.issue_body([email("member0@example.com")]))
    if state != "pending":
        await session.execute(
            update(IssuanceJob).where(IssuanceJob.id == created["id"]).values(state=state)
        )
        await session.flush()
    response = await client.post(
        f"/partner/issuance_jobs/{created['id']}/revoke", headers=world.cred.headers()
    )
    assert_error(response, 422, "INVALID_STATE")
    assert await job_column(session, created["id"], IssuanceJob.state) == state


# --- X-Idempotency-Key -------------------------------------------------------------------------


async def test_same_key_and_body_replays_the_first_response(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    body = world.issue_body([email("member0@example.com"), phone("+14155550001")])
    first = await client.post(
        "/partner/campaigns/issue",
        json=body,
        headers=world.cred.headers(**{"X-Idempotency-Key": "k1"}),
    )
    reordered = {key: body[key] for key in reversed(list(body))}
    second = await client.post(
        "/partner/campaigns/issue", json=reordered,
        headers=world.cred.headers(**{"X-Idempotency-Key": "k1"}),
    )  # fmt: skip
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    jobs = await session.scalar(
        select(func.count()).where(IssuanceJob.campaign_id == world.campaign.campaign.id)
    )
    assert jobs == 1


async def test_same_key_with_another_body_is_422(client: httpx.AsyncClient, world: World) -> None:
    headers = world.cred.headers(**{"X-Idempotency-Key": "k2"})
    await issue(
        client,
        world,
        world.issue_body([email("member0@example.com")]),
        **{"X-Idempotency-Key": "k2"},
    )
    response = await client.post(
        "/partner/campaigns/issue",
        json=world.issue_body([email("member1@example.com")]),
        headers=headers,
    )
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")


async def test_keys_are_scoped_to_the_credential_and_absent_keys_never_dedupe(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    other = await factory.partner([world.merchant], scopes=["rewards.issue"])
    body = world.issue_body([email("member0@example.com")])
    mine = await issue(client, world, body, **{"X-Idempotency-Key": "shared"})
    theirs = await client.post(
        "/partner/campaigns/issue",
        json=body,
        headers=other.headers(**{"X-Idempotency-Key": "shared"}),
    )
    assert theirs.status_code == 202
    assert theirs.json()["issuance_job"]["id"] != mine["id"]
    first = await issue(client, world, body)
    second = await issue(client, world, body)
    assert first["id"] != second["id"]


async def test_an_expired_key_starts_afresh(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    body = world.issue_body([email("member0@example.com")])
    first = await issue(client, world, body, **{"X-Idempotency-Key": "old"})
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "old")
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await session.flush()
    second = await issue(client, world, body, **{"X-Idempotency-Key": "old"})
    assert second["id"] != first["id"]


async def test_a_failed_request_stores_no_key(client: httpx.AsyncClient, world: World) -> None:
    headers = world.cred.headers(**{"X-Idempotency-Key": "k3"})
    bad = world.issue_body([email("member0@example.com")], variant_id="nosuchvariant")
    assert (
        await client.post("/partner/campaigns/issue", json=bad, headers=headers)
    ).status_code == 400
    good = world.issue_body([email("member0@example.com")])
    assert (
        await client.post("/partner/campaigns/issue", json=good, headers=headers)
    ).status_code == 202
