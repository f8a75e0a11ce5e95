"""Property: whatever the identifiers and however the job is chunked, each index's fate is the
one the rules give (first mention of a member wins, repeats and strangers fail), and the job's
counters, rewards and outcomes agree with it."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory
from thanx_server.issuance import service as issuance_service
from thanx_server.issuance import tasks
from thanx_server.kit.db import Database
from thanx_server.models import IssuanceJob, IssuanceOutcome, Reward

# (type, value, member number or None); several spellings of the same member.
POOL = [
    ("email", "ann@example.com", 0),
    ("email", "ANN@Example.com", 0),
    ("phone", "+14155550100", 0),
    ("email", "bob@example.com", 1),
    ("phone", "+1 415 555 0101", 1),
    ("phone", "+14155550102", 2),
    ("email", "cy@example.com", 2),
    ("email", "stranger@example.com", None),
    ("phone", "+14155559999", None),
    ("phone", "4155550100", None),  # ann's number without the country code
]


def expected(picks: list[int]) -> list[tuple[str, int | None]]:
    seen: set[int] = set()
    out: list[tuple[str, int | None]] = []
    for pick in picks:
        member = POOL[pick][2]
        if member is None:
            out.append(("User not found", None))
        elif member in seen:
            out.append(("Duplicate identifier", None))
        else:
            seen.add(member)
            out.append(("reward", member))
    return out


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=12),
    chunk_size=st.integers(1, 5),
)
async def test_every_index_gets_the_fate_the_rules_give_whatever_the_chunking(
    factory: Factory, session: AsyncSession, database: Database, picks: list[int], chunk_size: int
) -> None:
    merchant = await factory.merchant()
    members = [
        (await factory.member(merchant, email=email, phone=phone))[0].id
        for email, phone in (
            ("ann@example.com", "+14155550100"),
            ("bob@example.com", "+14155550101"),
            ("cy@example.com", "+14155550102"),
        )
    ]
    view = await factory.campaign(merchant)
    job = await issuance_service.create_job(
        session,
        merchant_id=merchant.id,
        campaign_id=view.campaign.id,
        variant_id=view.variants[0].id,
        identifiers=[{"type": POOL[p][0], "value": POOL[p][1]} for p in picks],
    )
    config = tasks.WorkerConfig(
        owner="prop", lease=timedelta(seconds=60), chunk_size=chunk_size, max_attempts=5
    )
    await tasks.drain(database, config)

    rewards = dict(
        (await session.execute(
            select(Reward.identifier_index, Reward.user_id).where(Reward.issuance_job_id == job.id)
        )).all()
    )  # fmt: skip
    errors = dict(
        (await session.execute(
            select(IssuanceOutcome.identifier_index, IssuanceOutcome.error)
            .where(IssuanceOutcome.job_id == job.id)
        )).all()
    )  # fmt: skip
    assert set(rewards).isdisjoint(errors)
    actual: list[tuple[str, int | None]] = []
    for index in range(len(picks)):
        if index in rewards:
            actual.append(("reward", members.index(rewards[index])))
        else:
            actual.append((errors[index] or "", None))
    assert actual == expected(picks)
    counts = (
        await session.execute(
            select(IssuanceJob.state, IssuanceJob.success_count, IssuanceJob.failure_count).where(
                IssuanceJob.id == job.id
            )
        )
    ).one()
    assert counts.state == "completed"
    assert counts.success_count == len(rewards)
    assert counts.failure_count == len(errors)
