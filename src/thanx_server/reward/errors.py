"""The reward rules' errors (catalogue codes of reference A.7, and the ones added here)."""

from __future__ import annotations

from thanx_server.kit.errors import AppError


class RewardAlreadyUsed(AppError):
    code = "REWARD_ALREADY_USED"
    default_message = "This reward has already been used."


class RewardExpired(AppError):
    code = "REWARD_EXPIRED"
    default_message = "This reward is no longer valid."


class RewardNotYetAvailable(AppError):
    code = "REWARD_NOT_YET_AVAILABLE"
    default_message = "This reward cannot be used yet."


class RewardNotActive(AppError):
    code = "REWARD_NOT_ACTIVE"
    default_message = "Activate this reward before marking it used."


class CouponCodesExhausted(AppError):
    code = "COUPON_CODES_EXHAUSTED"
    default_message = "No coupon code is left for this reward; it stays available."
