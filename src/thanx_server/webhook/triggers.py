"""``POST /sandbox/webhooks/trigger``: any of the five events, built from real state.

The event is built exactly as the state change would build it (the same payload functions),
from a real reward, job, member or purchase of the merchant (the one named, or the newest), then
``overrides`` are merged into its object, and it goes through the outbox like any other event.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import JobState
from thanx_server.issuance import repository as issuance_repository
from thanx_server.kit import clock
from thanx_server.kit.errors import NotFound, ValidationFailed
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import CampaignVariant, IssuanceJob, Purchase, Reward
from thanx_server.purchase import repository as purchase_repository
from thanx_server.purchase import service as purchase_service
from thanx_server.webhook import events, outbox, repository
from thanx_server.webhook.events import EventType

FINISHED = (JobState.COMPLETED, JobState.FAILED, JobState.REVOKED)


async def trigger(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    event: EventType,
    subject_id: str | None,
    overrides: dict[str, Any] | None,
    delay: timedelta,
) -> tuple[str, str, int, dict[str, Any]]:
    """Returns (event id, merchant id, endpoints it will go to, body)."""
    now = clock.business_now()
    merchant_id, subject, body = await _build(session, scope, event, subject_id, now)
    payload = json.loads(body)
    if overrides:
        target = payload["data"] if "data" in payload else next(iter(payload.values()))
        target.update(overrides)
        body = events.dumps(payload)
    event_id = outbox.new_event_id()
    await outbox.emit(
        session,
        merchant_id=merchant_id,
        type=event,
        rows=[(event_id, subject, body)],
        now=now,
        deliver_after=now + delay,
    )
    endpoints = await repository.subscribed_endpoints(session, merchant_id, event)
    return event_id, merchant_id, len(endpoints), payload


def _missing(what: str, subject_id: str | None) -> NotFound:
    if subject_id is None:
        return NotFound(f"subject_id: the merchant has no {what} to build the event from")
    return NotFound(f"subject_id: no such {what}")


async def _build(
    session: AsyncSession,
    scope: MerchantScope,
    event: EventType,
    subject_id: str | None,
    now: Any,
) -> tuple[str, str, str]:
    if event is EventType.REWARD_ISSUED:
        reward = await repository.newest_or_one(session, scope, Reward, subject_id)
        if reward is None:
            raise _missing("reward", subject_id)
        return reward.merchant_id, reward.id, await _reward_issued(session, reward, now)
    if event is EventType.REWARD_BATCH_COMPLETED:
        job = await repository.newest_or_one(
            session, scope, IssuanceJob, subject_id, IssuanceJob.state.in_(FINISHED)
        )
        if job is None:
            raise _missing("finished issuance job", subject_id)
        identifiers = list(job.identifiers or [])
        failures = await issuance_repository.failures(session, job.id)

        def value(index: int) -> str:
            item = identifiers[index] if 0 <= index < len(identifiers) else {}
            return str(item.get("value", "")) if isinstance(item, dict) else ""

        body = events.reward_batch_completed(
            job_id=job.id,
            merchant_id=job.merchant_id,
            state=job.state,
            total_count=job.total_count,
            issued_count=job.success_count,
            failed_count=job.failure_count,
            failures=[(value(i), reason) for i, _, reason in failures],
            now=now,
        )
        return job.merchant_id, job.id, body
    if event is EventType.PURCHASE:
        purchase = await repository.newest_or_one(session, scope, Purchase, subject_id)
        if purchase is None:
            raise _missing("purchase", subject_id)
        context = await purchase_repository.context(
            session,
            MerchantScope.one(purchase.merchant_id),
            user_id=purchase.user_id,
            location_id=purchase.location_id,
        )
        if context is None:
            raise _missing("purchase", subject_id)
        body = purchase_service.event_body(purchase, context)
        return purchase.merchant_id, purchase.id, body
    found = await repository.member(session, scope, subject_id)
    if found is None:
        raise _missing("member", subject_id)
    membership, user, settings = found
    if event is EventType.SMS_SUBSCRIPTION:
        if not user.phone:
            raise ValidationFailed("subject_id: the member has no phone number to opt in")
        body = events.sms_subscription(
            user_id=user.id, merchant_id=membership.merchant_id, phone=user.phone, email=user.email
        )
        return membership.merchant_id, user.id, body

    def channel(name: str) -> bool:
        return True if settings is None else bool(getattr(settings, name))

    body = events.communication_setting(
        setting_id=None if settings is None else settings.id,
        merchant_id=membership.merchant_id,
        user_id=user.id,
        reward_progress_email=channel("reward_progress_email"),
        reward_offer_notification=channel("reward_offer_notification"),
        reward_offer_email=channel("reward_offer_email"),
        marketing_general_email=channel("marketing_general_email"),
    )
    return membership.merchant_id, user.id, body


async def _reward_issued(session: AsyncSession, reward: Reward, now: Any) -> str:
    campaign, variant, _ = await issuance_repository.issue_context(
        session, campaign_id=reward.campaign_id or "", variant_id=reward.variant_id or ""
    )
    kind, index = "email", reward.identifier_index or 0
    if reward.issuance_job_id is not None and reward.identifier_index is not None:
        identifiers = await issuance_repository.job_identifiers(session, reward.issuance_job_id)
        if 0 <= reward.identifier_index < len(identifiers):
            kind = str(identifiers[reward.identifier_index].get("type", "email"))
    if campaign is None or variant is None:
        raise ValidationFailed("subject_id: the reward has no campaign to describe")
    assert isinstance(variant, CampaignVariant)
    return events.reward_issued(
        job_id=reward.issuance_job_id,
        merchant_id=reward.merchant_id,
        reward_id=reward.id,
        identifier_type=kind,
        identifier_index=index,
        user_id=reward.user_id,
        state=events.reward_state(reward.available_at, now),
        expires_at=reward.retire_at,
        campaign=campaign,
        variant=variant,
        now=now,
    )
