"""Rules for rewards on the Consumer API: listing, activation, finalisation, sandbox grants.

States: ``available`` → (activate) ``active`` → (finalize) ``used``; the moves are
``REWARD_STATES`` (domain/states.py), which activate and finalize consult with the reward's state
as of now. A reward past ``retire_at`` that was never used is retired (a derived state): not
listed, and activating or finalising it is ``REWARD_EXPIRED``. Revoked rewards (their issuance job
was revoked) are never visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal
from thanx_server.auth.tokens import UserPrincipal
from thanx_server.domain.states import (
    REWARD_STATES,
    CampaignState,
    RewardState,
    campaign_state,
    reward_state,
)
from thanx_server.kit.clock import business_now
from thanx_server.kit.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from thanx_server.kit.ids import new_id
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Reward
from thanx_server.reward import repository
from thanx_server.reward.errors import (
    CouponCodesExhausted,
    RewardAlreadyUsed,
    RewardExpired,
    RewardNotActive,
    RewardNotYetAvailable,
)
from thanx_server.reward.issue import reward_values
from thanx_server.user import repository as user_repository

LISTED_STATES = repository.LISTED_STATES


def _reader_target(
    principal: UserPrincipal | PartnerPrincipal, *, user_id: str | None, merchant_id: str | None
) -> tuple[str, MerchantScope]:
    """Whose rewards, in which merchants. An end-user token's user wins over ``user_id``."""
    if isinstance(principal, UserPrincipal):
        if merchant_id is not None and merchant_id != principal.merchant_id:
            raise Forbidden(f"merchant_id: this token is for merchant '{principal.merchant_id}'")
        return principal.user_id, MerchantScope.one(principal.merchant_id)
    if user_id is None:
        raise ValidationFailed("user_id: required when calling with a partner credential")
    return user_id, principal.merchants(merchant_id)


async def list_rewards(
    session: AsyncSession,
    principal: UserPrincipal | PartnerPrincipal,
    *,
    states: Sequence[str],
    user_id: str | None,
    merchant_id: str | None,
    page: Page,
) -> PageResult[Reward]:
    unknown = sorted(set(states) - set(LISTED_STATES))
    if unknown:
        raise ValidationFailed(
            f"states: unknown state(s) {', '.join(unknown)}; use {', '.join(LISTED_STATES)}"
        )
    target_user, scope = _reader_target(principal, user_id=user_id, merchant_id=merchant_id)
    return await repository.list_rewards(
        session,
        user_id=target_user,
        scope=scope,
        states=list(states) or list(LISTED_STATES),
        now=business_now(),
        page=page,
    )


async def _own_reward(session: AsyncSession, user: UserPrincipal, reward_id: str) -> Reward:
    reward = await repository.get_reward(
        session,
        reward_id=reward_id,
        user_id=user.user_id,
        scope=MerchantScope.one(user.merchant_id),
    )
    if reward is None:
        raise NotFound()
    return reward


def _state(reward: Reward, now: datetime) -> RewardState:
    return reward_state(reward.state, reward.retire_at, now)


def _refuse(current: RewardState, target: RewardState) -> None:
    """Raise the error for a move ``REWARD_STATES`` does not allow, named after where it is."""
    if REWARD_STATES.can_move(current, target):
        return
    if current == RewardState.USED:
        raise RewardAlreadyUsed()
    if current == RewardState.RETIRED:
        raise RewardExpired()
    if current == RewardState.AVAILABLE:
        raise RewardNotActive()
    raise NotFound()  # revoked: never visible (not reached: _own_reward reads listed states)


async def get_reward(session: AsyncSession, user: UserPrincipal, reward_id: str) -> Reward:
    reward = await _own_reward(session, user, reward_id)
    if _state(reward, business_now()) == RewardState.RETIRED:
        raise NotFound()
    return reward


async def activate(session: AsyncSession, user: UserPrincipal, reward_id: str) -> Reward:
    """``available`` → ``active``. Activating an active reward again is a no-op (safe retries).
    A reward of a dynamic coupon pool gets one unused code of the pool, claimed by one guarded
    UPDATE (no code is handed out twice, even to concurrent activations); an empty pool refuses
    the activation."""
    reward = await _own_reward(session, user, reward_id)
    now = business_now()
    current = _state(reward, now)
    if current == RewardState.ACTIVE:
        return reward
    _refuse(current, RewardState.ACTIVE)
    if reward.available_at > now:
        raise RewardNotYetAvailable(
            f"This reward can be used from {reward.available_at.isoformat()}."
        )
    if reward.uses_dynamic_coupon_codes and reward.coupon_code is None:
        code = await repository.claim_coupon_code(
            session, template_id=reward.reward_template_id, reward_id=reward.id, now=now
        )
        if code is None:
            raise CouponCodesExhausted()
        reward.coupon_code = code
    reward.state = RewardState.ACTIVE
    reward.activated_at = now
    reward.updated_at = now
    await session.flush()
    return reward


async def finalize(session: AsyncSession, user: UserPrincipal, reward_id: str) -> Reward:
    """``active`` → ``used``, within the redeem window (minutes after activation) if any."""
    reward = await _own_reward(session, user, reward_id)
    now = business_now()
    _refuse(_state(reward, now), RewardState.USED)
    window = (reward.redeem or {}).get("window")
    if window and reward.activated_at and now > reward.activated_at + timedelta(minutes=window):
        raise RewardExpired("The redemption window of this reward has passed.")
    reward.state = RewardState.USED
    reward.used_at = now
    reward.updated_at = now
    await session.flush()
    return reward


async def update(
    session: AsyncSession, user: UserPrincipal, reward_id: str, *, location_id: str
) -> Reward:
    """Set the redemption location of an active reward (reference C.7): a location of the
    reward's own merchant. Only an ``active`` reward has a redemption under way."""
    reward = await _own_reward(session, user, reward_id)
    current = _state(reward, business_now())
    if current == RewardState.AVAILABLE:
        raise RewardNotActive("Activate this reward before choosing where to redeem it.")
    if current != RewardState.ACTIVE:
        _refuse(current, RewardState.ACTIVE)
    location = await repository.location_of(
        session, MerchantScope.one(reward.merchant_id), location_id
    )
    if location is None:
        raise NotFound(f"reward.location_id: no location '{location_id}' of this reward's merchant")
    reward.location_id = location
    reward.updated_at = business_now()
    await session.flush()
    return reward


async def grant(
    session: AsyncSession,
    principal: UserPrincipal | PartnerPrincipal,
    *,
    campaign_id: str,
    user_id: str | None,
) -> Reward:
    """Sandbox only: give a member one reward of ``campaign_id`` (its first treatment variant)."""
    target_user, scope = _reader_target(principal, user_id=user_id, merchant_id=None)
    found = await repository.grantable_variant(session, campaign_id=campaign_id, scope=scope)
    if found is None:
        raise NotFound(f"campaign_id: no campaign '{campaign_id}' with a reward to grant")
    campaign, variant, template = found
    now = business_now()
    # As issuing does (issuance/service.py): an ended campaign gives nothing more.
    if campaign_state(campaign.start_at, campaign.end_at, now) == CampaignState.ENDED:
        raise InvalidState(f"campaign_id: campaign '{campaign_id}' has ended")
    if not await user_repository.members_among(
        session, MerchantScope.one(campaign.merchant_id), [target_user]
    ):
        raise NotFound("Unknown user")
    reward = Reward(
        id=new_id(),
        user_id=target_user,
        **reward_values(campaign, template, variant.id, now=now),
    )
    reward.earn_type = "grant"
    session.add(reward)
    await session.flush()
    await session.refresh(reward)  # merchant_olo, read by the answer
    return reward
