"""POST /partner/subscribers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from thanx_server.auth.dependencies import PartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.kit.deps import DbSession
from thanx_server.kit.openapi import PARTNER_ERRORS
from thanx_server.subscriber import service
from thanx_server.subscriber.schemas import SubscriberCreateIn, SubscriberEnvelope, SubscriberOut

router = APIRouter(tags=["Subscribers"], responses=PARTNER_ERRORS)

SubscribersWriter = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.SUBSCRIBERS_WRITE))]


@router.post(
    "/partner/subscribers",
    status_code=201,
    response_model=SubscriberEnvelope,
    operation_id="createSubscriber",
)
async def create_subscriber(
    session: DbSession, principal: SubscribersWriter, body: SubscriberCreateIn
) -> SubscriberEnvelope:
    """Opt an email into a merchant's loyalty marketing. 201 for every valid email, new or known;
    400 `USER_EMAIL_INVALID` otherwise. Only the email is echoed."""
    email = await service.subscribe(
        session, principal, merchant_id=body.merchant_id, subscriber=body.subscriber
    )
    return SubscriberEnvelope(subscriber=SubscriberOut(email=email))
