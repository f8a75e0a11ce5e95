"""The five Thanx events and their payloads, exactly as reference section D shows them.

Every body is compact JSON (no spaces), because the signature covers the exact bytes sent and
the docs' worked example (D.1) is compact. Keys are in the documented order. Instants are ISO 8601
UTC with ``Z``; a purchase's ``purchased_at`` has milliseconds, as in the docs' purchase example.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from thanx_server.kit.time import isoformat_z


class EventType(StrEnum):
    REWARD_ISSUED = "reward.issued"
    REWARD_BATCH_COMPLETED = "reward_batch.completed"
    COMMUNICATION_SETTING = "communication_setting.updated"
    SMS_SUBSCRIPTION = "sms_subscription.created"
    PURCHASE = "purchase.created"


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _z(value: datetime | None) -> str | None:
    return isoformat_z(value) if value is not None else None


def _millis_z(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def reward_state(available_at: datetime, now: datetime) -> str:
    """The webhook's reward state (D.2 shows ``active``, ``pending``, ``delivered``): a reward
    usable now is ``active``; one whose campaign is not redeemable yet is ``pending``."""
    return "active" if available_at <= now else "pending"


def campaign_block(campaign: Any, variant: Any) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "objective": campaign.objective,
        "start_at": _z(campaign.start_at),
        "end_at": _z(campaign.end_at),
        "redeemable_from": _z(campaign.redeemable_from),
        "redeemable_to": _z(campaign.redeemable_to),
        "time_zone": campaign.time_zone,
        "fine_print": campaign.fine_print,
        "variant": {
            "id": variant.id,
            "name": variant.name,
            "reward_template_id": variant.reward_template_id,
        },
    }


class RewardIssuedFrame:
    """The ``reward.issued`` bodies of one job chunk: everything but the reward's own fields is
    rendered once, as a frame (``prefix`` + part + ``suffix``), stored once per chunk. The part
    holds only our own hex ids, an index and the identifier type (``email``/``phone``, checked
    when the job was accepted), so it is built without a JSON encoder."""

    def __init__(
        self,
        *,
        job_id: str,
        merchant_id: str,
        campaign: Any,
        variant: Any,
        state: str,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        self.prefix = (
            '{"event":"reward.issued","timestamp":'
            + json.dumps(_z(now))
            + ',"data":{"issuance_job_id":'
            + json.dumps(job_id)
            + ',"merchant_id":'
            + json.dumps(merchant_id)
            + ","
        )
        tail = dumps({"state": state, "expires_at": _z(expires_at)})[1:-1]
        campaign_json = dumps({"campaign": campaign_block(campaign, variant)})[1:-1]
        self.suffix = "," + tail + "," + campaign_json + "}}"

    @staticmethod
    def part(*, reward_id: str, kind: str, index: int, user_id: str | None) -> str:
        user = "null" if user_id is None else f'"{user_id}"'
        return (
            f'"reward_id":"{reward_id}","identifier":{{"type":"{kind}","index":{index}}},'
            f'"user_id":{user}'
        )


def reward_issued(
    *,
    job_id: str | None,
    merchant_id: str,
    reward_id: str,
    identifier_type: str,
    identifier_index: int,
    user_id: str | None,
    state: str,
    expires_at: datetime | None,
    campaign: Any,
    variant: Any,
    now: datetime,
) -> str:
    """One ``reward.issued`` body (the trigger; chunks use ``RewardIssuedBodies``)."""
    return dumps(
        {
            "event": EventType.REWARD_ISSUED.value,
            "timestamp": _z(now),
            "data": {
                "issuance_job_id": job_id,
                "merchant_id": merchant_id,
                "reward_id": reward_id,
                "identifier": {"type": identifier_type, "index": identifier_index},
                "user_id": user_id,
                "state": state,
                "expires_at": _z(expires_at),
                "campaign": campaign_block(campaign, variant),
            },
        }
    )


def reward_batch_completed(
    *,
    job_id: str,
    merchant_id: str,
    state: str,
    total_count: int,
    issued_count: int,
    failed_count: int,
    failures: list[tuple[str, str]],
    now: datetime,
) -> str:
    """D.3: failures identified by the failing identifier's value, not its index."""
    return dumps(
        {
            "event": EventType.REWARD_BATCH_COMPLETED.value,
            "timestamp": _z(now),
            "data": {
                "issuance_job_id": job_id,
                "merchant_id": merchant_id,
                "state": state,
                "total_count": total_count,
                "issued_count": issued_count,
                "failed_count": failed_count,
                "failures": [
                    {"user_identifier": value, "reason": reason} for value, reason in failures
                ],
            },
        }
    )


def communication_setting(
    *,
    setting_id: str | None,
    merchant_id: str,
    user_id: str,
    reward_progress_email: bool,
    reward_offer_notification: bool,
    reward_offer_email: bool,
    marketing_general_email: bool,
) -> str:
    """D.4: the B.4.4 shape under ``communication_setting``."""
    return dumps(
        {
            "communication_setting": {
                "id": setting_id,
                "merchant_id": merchant_id,
                "user_id": user_id,
                "reward_progress": {"email": reward_progress_email},
                "reward_offer": {
                    "notification": reward_offer_notification,
                    "email": reward_offer_email,
                },
                "marketing_general": {"email": marketing_general_email},
            }
        }
    )


def sms_subscription(*, user_id: str, merchant_id: str, phone: str, email: str | None) -> str:
    """D.5: ``{"sms_subscription": {user_id, merchant_id, phone (E.164), email}}``."""
    return dumps(
        {
            "sms_subscription": {
                "user_id": user_id,
                "merchant_id": merchant_id,
                "phone": phone,
                "email": email,
            }
        }
    )


def purchase(
    *,
    purchase_id: str,
    amount: Decimal,
    purchased_at: datetime,
    user: Any,
    merchant: Any,
    location: Any | None,
    products: list[str],
) -> str:
    """D.6, in the order of the docs' signed example (D.1). ``location`` carries the merchant's
    time zone and null coordinates (locations keep none); ``order`` is empty (no order
    provider reports purchases here)."""
    location_block: dict[str, Any] = {}
    if location is not None:
        location_block = {
            "id": location.id,
            "name": location.name,
            "street": location.street,
            "city": location.city,
            "state": location.state,
            "zip": location.zip,
            "time_zone": merchant.time_zone,
            "latitude": None,
            "longitude": None,
        }
    return dumps(
        {
            "purchase": {
                "id": purchase_id,
                "amount": f"{amount:.2f}",
                "purchased_at": _millis_z(purchased_at),
                "event": "create",
                "user": {
                    "id": user.id,
                    "email": user.email,
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                },
                "merchant": {"id": merchant.id, "name": merchant.name},
                "location": location_block,
                "order": {},
                "products": list(products),
            }
        }
    )
