"""Every ORM model, imported here so ``Base.metadata`` is complete for Alembic and the tests."""

from thanx_server.models.base import Base
from thanx_server.models.campaign import Campaign, CampaignVariant, RewardTemplate
from thanx_server.models.communication import CommunicationSetting
from thanx_server.models.console import ConsoleSession
from thanx_server.models.coupon import CouponCode
from thanx_server.models.feedback import Feedback
from thanx_server.models.issuance import IdempotencyKey, IssuanceJob, IssuanceOutcome
from thanx_server.models.merchant import Location, Merchant
from thanx_server.models.operator import OperatorCredential
from thanx_server.models.partner import Partner, PartnerCredential, PartnerMerchant
from thanx_server.models.points import PointsExperience, PointsProduct
from thanx_server.models.promotion import Promotion, PromotionCode, PromotionCodeBatch
from thanx_server.models.purchase import Purchase
from thanx_server.models.reward import EndUserToken, Reward
from thanx_server.models.sandbox import (
    SandboxBaseline,
    SandboxClock,
    SandboxFaultRule,
    SandboxJobControl,
    SandboxJournalEntry,
    SandboxProgression,
)
from thanx_server.models.subscriber import Subscriber
from thanx_server.models.tag import Tag
from thanx_server.models.user import Membership, User
from thanx_server.models.webhook import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventFrame,
    WebhookOutbox,
)

__all__ = [
    "Base",
    "Campaign",
    "CampaignVariant",
    "CommunicationSetting",
    "ConsoleSession",
    "CouponCode",
    "EndUserToken",
    "Feedback",
    "IdempotencyKey",
    "IssuanceJob",
    "IssuanceOutcome",
    "Location",
    "Membership",
    "Merchant",
    "OperatorCredential",
    "Partner",
    "PartnerCredential",
    "PartnerMerchant",
    "PointsExperience",
    "PointsProduct",
    "Promotion",
    "PromotionCode",
    "PromotionCodeBatch",
    "Purchase",
    "Reward",
    "RewardTemplate",
    "SandboxBaseline",
    "SandboxClock",
    "SandboxFaultRule",
    "SandboxJobControl",
    "SandboxJournalEntry",
    "SandboxProgression",
    "Subscriber",
    "Tag",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookEventFrame",
    "WebhookOutbox",
]
