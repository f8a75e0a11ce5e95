"""The transition tables (domain/states.py) against the contract, and the services against them.

For each entity:
* **the table is the contract**: its moves equal the ones CONTRACT rows 10, 11, 12, 14, 16 and
  docs/DECISIONS.md describe, spelled out here on their own (a wrong table fails here);
* **every state is reachable** from the initial one through the table; derived states are declared;
* **the service follows the table**: every (from, to) pair is tried through the action that moves
  to ``to`` (HTTP where a client can do it, the worker's guarded UPDATEs otherwise), and the action
  succeeds exactly when the table allows the move; a refused one leaves the state as it was.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests import loyalty_factories as lf
from tests.factories import Credential, Factory
from thanx_server.domain.states import (
    CAMPAIGN_STATES,
    FEEDBACK_STATES,
    JOB_STATES,
    REWARD_STATES,
    CampaignState,
    FeedbackState,
    JobState,
    RewardState,
    Transitions,
    campaign_state,
    campaign_state_clause,
    reward_retired,
    reward_retired_clause,
)
from thanx_server.feedback import repository as feedback_repository
from thanx_server.issuance import repository as issuance_repository
from thanx_server.issuance import service as issuance_service
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.models import (
    Campaign,
    CampaignVariant,
    IssuanceJob,
    Merchant,
    Reward,
    RewardTemplate,
    User,
)

TABLES: dict[str, Transitions[Any]] = {
    "job": JOB_STATES,
    "reward": REWARD_STATES,
    "feedback": FEEDBACK_STATES,
    "campaign": CAMPAIGN_STATES,
}


def moves(table: Transitions[Any]) -> set[tuple[str, str]]:
    return {(a.value, b.value) for a, targets in table.moves.items() for b in targets}


# --- the tables themselves ------------------------------------------------------------------


def test_wire_values_are_the_strings_clients_already_see() -> None:
    assert [s.value for s in JobState] == [
        "pending",
        "processing",
        "completed",
        "failed",
        "revoked",
    ]
    assert [s.value for s in RewardState] == ["available", "active", "used", "revoked", "retired"]
    assert [s.value for s in FeedbackState] == [
        "unviewed", "viewed", "expired", "rated", "reviewed", "responded",
    ]  # fmt: skip
    assert [s.value for s in CampaignState] == ["scheduled", "active", "ended"]


def test_the_job_table_is_the_contract() -> None:
    # CONTRACT row 10: pending -> processing -> completed | failed; row 11: only completed or
    # failed jobs are revoked, in the request (no `revoking` in between).
    assert moves(JOB_STATES) == {
        ("pending", "processing"),
        ("processing", "completed"),
        ("processing", "failed"),
        ("completed", "revoked"),
        ("failed", "revoked"),
    }
    assert JOB_STATES.initial == JobState.PENDING
    assert JOB_STATES.derived == set()


def test_the_reward_table_is_the_contract() -> None:
    # Activate available -> active, finalize active -> used (docs/DECISIONS.md); revoking the job
    # takes every reward not used; an unused reward past retire_at is retired (derived).
    assert moves(REWARD_STATES) == {
        ("available", "active"),
        ("active", "used"),
        ("available", "revoked"),
        ("active", "revoked"),
        ("available", "retired"),
        ("active", "retired"),
        ("retired", "revoked"),
    }
    assert REWARD_STATES.initial == RewardState.AVAILABLE
    assert REWARD_STATES.derived == {RewardState.RETIRED}


def test_the_feedback_table_is_the_contract() -> None:
    # docs/DECISIONS.md: view unviewed -> viewed; rate from unviewed/viewed; review from rated;
    # respond to rated/reviewed (CONTRACT row 16: once); unviewed/viewed expire (derived).
    assert moves(FEEDBACK_STATES) == {
        ("unviewed", "viewed"),
        ("unviewed", "rated"),
        ("viewed", "rated"),
        ("rated", "reviewed"),
        ("rated", "responded"),
        ("reviewed", "responded"),
        ("unviewed", "expired"),
        ("viewed", "expired"),
    }
    assert FEEDBACK_STATES.initial == FeedbackState.UNVIEWED
    assert FEEDBACK_STATES.derived == {FeedbackState.EXPIRED}


def test_the_campaign_table_is_the_contract() -> None:
    # CONTRACT row 12: derived from now; a campaign whose start equals its end may skip `active`
    # between two reads.
    assert moves(CAMPAIGN_STATES) == {
        ("scheduled", "active"),
        ("scheduled", "ended"),
        ("active", "ended"),
    }
    assert CAMPAIGN_STATES.derived == set(CampaignState)


@pytest.mark.parametrize("name", TABLES)
def test_every_state_is_reachable_from_the_initial_state(name: str) -> None:
    table = TABLES[name]
    assert table.reachable() == set(table.states)
    # Nothing moves back into the initial state, and the stored states are the others.
    assert table.allowed_from(table.initial) == ()
    assert set(table.stored) == set(table.states) - table.derived


def test_a_table_with_a_state_nothing_reaches_is_refused() -> None:
    class Old(StrEnum):
        COMPLETED = "completed"
        REVOKING = "revoking"
        REVOKED = "revoked"

    with pytest.raises(ValueError, match="revoking"):
        Transitions(Old, initial=Old.COMPLETED, moves={Old.COMPLETED: {Old.REVOKED}})


def test_a_derived_state_moves_like_the_stored_states_it_reads_from() -> None:
    class Kind(StrEnum):
        NEW = "new"
        OLD = "old"  # derived from NEW
        GONE = "gone"

    with pytest.raises(ValueError, match="disagrees"):
        Transitions(
            Kind,
            initial=Kind.NEW,
            moves={Kind.NEW: {Kind.OLD}, Kind.OLD: {Kind.GONE}},
            derived={Kind.OLD},
        )


def test_openapi_lists_each_state_field_s_values() -> None:
    from thanx_server.app import create_app
    from thanx_server.settings import Settings

    schemas = create_app(Settings()).openapi()["components"]["schemas"]

    def values(model: str) -> list[str]:
        field = schemas[model]["properties"]["state"]
        if "$ref" in field:
            field = schemas[field["$ref"].rsplit("/", 1)[1]]
        return list(field["enum"])

    assert values("IssuanceJobOut") == [s.value for s in JobState]
    assert values("FeedbackOut") == [s.value for s in FeedbackState]
    assert values("CampaignOut") == [s.value for s in CampaignState]
    assert values("RewardOut") == ["available", "active", "used"]  # never revoked or retired


@given(
    start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1),
                       timezones=st.just(UTC)),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
    first=st.timedeltas(min_value=timedelta(days=-40), max_value=timedelta(days=40)),
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=80)),
)  # fmt: skip
def test_a_campaigns_state_only_changes_by_a_move_of_its_table(
    start: datetime, length: timedelta, first: timedelta, later: timedelta
) -> None:
    before = campaign_state(start, start + length, start + first)
    after = campaign_state(start, start + length, start + first + later)
    assert before == after or CAMPAIGN_STATES.can_move(before, after)


# --- issuance jobs: the worker's guarded UPDATEs and POST .../revoke ---------------------------

OWNER = "state-test-worker"


@dataclass
class World:
    merchant: Merchant
    cred: Credential
    template: RewardTemplate
    campaign: Campaign
    variant: CampaignVariant


@pytest.fixture
async def world(factory: Factory, session: AsyncSession) -> World:
    merchant = await factory.merchant()
    cred = await factory.partner([merchant])
    tpl = await lf.template(session, merchant)
    campaign, variant = await lf.campaign(session, merchant, tpl)
    return World(merchant, cred, tpl, campaign, variant)


async def job_in(session: AsyncSession, world: World, state: JobState) -> str:
    """A one-identifier job, fully processed, held by ``OWNER``, in ``state``."""
    job = await issuance_service.create_job(
        session,
        merchant_id=world.merchant.id,
        campaign_id=world.campaign.id,
        variant_id=world.variant.id,
        identifiers=[{"type": "email", "value": "nobody@example.com"}],
    )
    await session.execute(
        update(IssuanceJob)
        .where(IssuanceJob.id == job.id)
        .values(
            state=state,
            processed_count=1,
            lease_owner=OWNER,
            lease_expires_at=utcnow() + timedelta(hours=1),
        )
    )
    return job.id


async def try_job_move(
    client: httpx.AsyncClient,
    session: AsyncSession,
    cred: Credential,
    job_id: str,
    target: JobState,
) -> bool:
    now = utcnow()
    if target == JobState.PROCESSING:
        claimed = await issuance_repository.claim_next(
            session, owner="another-worker", now=now, lease_until=now + timedelta(minutes=1)
        )
        assert claimed is None or claimed.id == job_id
        return claimed is not None
    if target == JobState.COMPLETED:
        return await issuance_repository.complete(session, job_id=job_id, owner=OWNER, now=now)
    if target == JobState.FAILED:
        return await issuance_repository.fail(
            session, job_id=job_id, owner=OWNER, reason="test", now=now
        )
    assert target == JobState.REVOKED
    response = await client.post(f"/partner/issuance_jobs/{job_id}/revoke", headers=cred.headers())
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.json()["error"]["code"] == "INVALID_STATE"
    return response.status_code == 200


@pytest.mark.parametrize(
    ("source", "target"),
    list(itertools.product(JobState, [s for s in JobState if s != JOB_STATES.initial])),
)
async def test_job_moves_happen_exactly_when_the_table_allows_them(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    source: JobState,
    target: JobState,
) -> None:
    job_id = await job_in(session, world, source)

    moved = await try_job_move(client, session, world.cred, job_id, target)

    assert moved == JOB_STATES.can_move(source, target)
    state = await session.scalar(select(IssuanceJob.state).where(IssuanceJob.id == job_id))
    assert state == (target if moved else source)


# --- rewards: PATCH activate / finalize, and revoking their job ---------------------------------


async def user_token(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, user: User
) -> dict[str, str]:
    response = await client.post(
        "/partner/oauth/token",
        json={"merchant_id": merchant.id, "user_id": user.id},
        headers=cred.headers(),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def stored_as(state: RewardState) -> RewardState:
    """What the database holds for a reward in ``state`` (a retired one: ``available``)."""
    return RewardState.AVAILABLE if state == RewardState.RETIRED else state


async def reward_in(
    session: AsyncSession, world: World, user: User, job_id: str, state: RewardState
) -> Reward:
    """A reward of ``job_id`` in ``state`` (activated just now when active or used)."""
    now = utcnow()
    stored = stored_as(state)
    overrides: dict[str, Any] = {"state": stored, "issuance_job_id": job_id}
    if stored in (RewardState.ACTIVE, RewardState.USED):
        overrides["activated_at"] = now
    if state == RewardState.RETIRED:
        overrides["retire_at"] = now - timedelta(minutes=1)
    return await lf.reward(
        session, user, world.campaign, world.template, world.variant, **overrides
    )


@pytest.mark.parametrize(
    ("source", "target"),
    list(
        itertools.product(RewardState, [RewardState.ACTIVE, RewardState.USED, RewardState.REVOKED])
    ),
)
async def test_reward_moves_happen_exactly_when_the_table_allows_them(
    client: httpx.AsyncClient,
    session: AsyncSession,
    factory: Factory,
    world: World,
    source: RewardState,
    target: RewardState,
) -> None:
    user, _ = await factory.member(world.merchant)
    job_id = await job_in(session, world, JobState.COMPLETED)
    reward = await reward_in(session, world, user, job_id, source)
    bearer = await user_token(client, world.cred, world.merchant, user)

    if target == RewardState.REVOKED:
        # The job always moves (completed -> revoked); the reward only when the table allows.
        response = await client.post(
            f"/partner/issuance_jobs/{job_id}/revoke", headers=world.cred.headers()
        )
        assert response.status_code == 200, response.text
    else:
        action = "activate" if target == RewardState.ACTIVE else "finalize"
        response = await client.patch(f"/rewards/{reward.id}/{action}", headers=bearer)
        if response.status_code != 200:
            assert response.status_code in (400, 404), response.text
        elif source == target:
            # Activating an active reward again answers it unchanged (a safe retry), no move.
            assert response.json()["reward"]["state"] == source
        else:
            assert response.json()["reward"]["state"] == target

    stored = await session.scalar(select(Reward.state).where(Reward.id == reward.id))
    moved = stored != stored_as(source)
    assert moved == REWARD_STATES.can_move(source, target)
    assert stored == (target if moved else stored_as(source))


async def test_reward_retirement_reads_the_same_in_python_and_sql(
    session: AsyncSession, factory: Factory, world: World
) -> None:
    user, _ = await factory.member(world.merchant)
    job_id = await job_in(session, world, JobState.COMPLETED)
    now = utcnow()
    rewards = []
    for stored in REWARD_STATES.stored:
        for retire_at in (None, now - timedelta(minutes=1), now, now + timedelta(minutes=1)):
            reward = await reward_in(session, world, user, job_id, stored)
            reward.retire_at = retire_at
            rewards.append(reward)
    await session.flush()

    in_sql = set(
        await session.scalars(
            select(Reward.id).where(
                Reward.user_id == user.id,
                reward_retired_clause(Reward.state, Reward.retire_at, now),
            )
        )
    )

    in_python = {r.id for r in rewards if reward_retired(r.state, r.retire_at, now)}
    assert in_sql == in_python
    # Exactly the unused ones (available, active) whose retire_at has come.
    assert {(r.state, r.retire_at) for r in rewards if r.id in in_python} == {
        (s, t)
        for s in (RewardState.AVAILABLE, RewardState.ACTIVE)
        for t in (now - timedelta(minutes=1), now)
    }


async def test_campaign_states_read_the_same_in_python_and_sql(
    session: AsyncSession, factory: Factory
) -> None:
    merchant = await factory.merchant()
    now = utcnow()
    minute = timedelta(minutes=1)
    spans = [
        (now + minute, now + 2 * minute),  # scheduled
        (now, now + minute),  # active: starts now
        (now - minute, now),  # active: ends now
        (now, now),  # active for one instant
        (now - 2 * minute, now - minute),  # ended
    ]
    ids = []
    for start, end in spans:
        view = await factory.campaign(merchant, start_at=start, end_at=end)
        ids.append(view.campaign.id)
    stored = (
        await session.execute(
            select(Campaign.id, Campaign.start_at, Campaign.end_at).where(Campaign.id.in_(ids))
        )
    ).all()

    found: list[CampaignState] = []
    for state in CampaignState:
        in_sql = set(
            await session.scalars(
                select(Campaign.id).where(
                    Campaign.id.in_(ids),
                    campaign_state_clause(state, Campaign.start_at, Campaign.end_at, now),
                )
            )
        )
        in_python = {i for i, start, end in stored if campaign_state(start, end, now) == state}
        assert in_sql == in_python, state
        found += [state] * len(in_sql)
    assert sorted(found) == sorted(
        [CampaignState.SCHEDULED] + [CampaignState.ACTIVE] * 3 + [CampaignState.ENDED]
    )


# --- feedback: the sandbox customer steps and the merchant's response ---------------------------


async def try_feedback_move(
    client: httpx.AsyncClient, cred: Credential, feedback_id: str, target: FeedbackState
) -> httpx.Response:
    if target == FeedbackState.RESPONDED:
        return await client.post(
            f"/partner/feedbacks/{feedback_id}/respond",
            json={"feedback": {"response": "Thanks!"}},
            headers=cred.headers(),
        )
    action, payload = {
        FeedbackState.VIEWED: ("view", None),
        FeedbackState.RATED: ("rate", {"feedback": {"rating": 7}}),
        FeedbackState.REVIEWED: ("review", {"feedback": {"review": "Nice"}}),
    }[target]
    return await client.post(
        f"/sandbox/feedbacks/{feedback_id}/{action}", json=payload, headers=cred.headers()
    )


@pytest.mark.parametrize(
    ("source", "target"),
    list(
        itertools.product(
            FeedbackState,
            [s for s in FEEDBACK_STATES.stored if s != FEEDBACK_STATES.initial],
        )
    ),
)
async def test_feedback_moves_happen_exactly_when_the_table_allows_them(
    client: httpx.AsyncClient,
    session: AsyncSession,
    factory: Factory,
    source: FeedbackState,
    target: FeedbackState,
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=["feedbacks.read", "feedbacks.write"])
    feedback_id = await factory.feedback(merchant, user, source)

    response = await try_feedback_move(client, cred, feedback_id, target)

    row = await feedback_repository.get_feedback(
        session, MerchantScope((merchant.id,)), feedback_id, now=utcnow()
    )
    assert row is not None
    if FEEDBACK_STATES.can_move(source, target):
        assert response.status_code == 200, response.text
        assert response.json()["feedback"]["state"] == target
        assert row.state == target
    else:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "INVALID_STATE"
        assert row.state == source
