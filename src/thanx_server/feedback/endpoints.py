"""GET /partner/feedbacks, POST /partner/feedbacks/{id}/respond (aliases /response and the docs'
curl example's /feedbacks/{id}/response), and the
sandbox-only customer side: POST /sandbox/feedbacks/{id}/view|rate|review."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from thanx_server.auth.dependencies import PartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.feedback import service
from thanx_server.feedback.schemas import (
    FeedbackEnvelope,
    FeedbackList,
    FeedbackOut,
    RateIn,
    RespondIn,
    ReviewIn,
)
from thanx_server.kit.deps import AppSettings, DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS, UNPROCESSABLE
from thanx_server.kit.params import PageParams, array_query
from thanx_server.kit.wire import InstantIn

RESPONSES = dict(PARTNER_ERRORS)
RESPONSES.update({code: spec for code, spec in NOT_FOUND.items()})
RESPONSES.update({code: spec for code, spec in UNPROCESSABLE.items()})
router = APIRouter(tags=["Feedbacks"], responses=RESPONSES)

FeedbacksReader = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.FEEDBACKS_READ))]
FeedbacksWriter = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.FEEDBACKS_WRITE))]
MerchantFilter = Annotated[
    str | None, Query(description="One of the credential's merchants; omitted: all of them.")
]


@router.get("/partner/feedbacks", response_model=FeedbackList, operation_id="getFeedbacks")
async def list_feedbacks(
    session: DbSession,
    principal: FeedbacksReader,
    page: PageParams,
    states: Annotated[
        list[str],
        array_query(
            "states", "unviewed, viewed, expired, rated, reviewed, responded (default: all)."
        ),
    ],
    merchant_id: MerchantFilter = None,
    user_id: Annotated[str | None, Query()] = None,
    location_id: Annotated[str | None, Query()] = None,
    updated_after: Annotated[InstantIn | None, Query()] = None,
) -> FeedbackList:
    """Feedback records of the credential's merchants, newest first."""
    result = await service.list_feedbacks(
        session,
        principal,
        merchant_id=merchant_id,
        user_id=user_id,
        location_id=location_id,
        states=states,
        updated_after=updated_after,
        page=page,
    )
    return FeedbackList(
        feedbacks=[FeedbackOut.from_view(v) for v in result.items],
        pagination=result.pagination(),
    )


@router.post(
    "/partner/feedbacks/{id}/respond",
    response_model=FeedbackEnvelope,
    operation_id="respondToFeedback",
)
@router.post(
    "/partner/feedbacks/{id}/response",
    response_model=FeedbackEnvelope,
    operation_id="respondToFeedbackAlias",
    summary="Respond To Feedback (alias)",
)
@router.post(
    "/feedbacks/{id}/response",
    response_model=FeedbackEnvelope,
    operation_id="respondToFeedbackDocsPath",
    summary="Respond To Feedback (the docs' example path, alias)",
)
async def respond(
    session: DbSession,
    principal: FeedbacksWriter,
    id: str,
    body: RespondIn,
    merchant_id: MerchantFilter = None,
) -> FeedbackEnvelope:
    """The merchant's one response to a rated or reviewed record."""
    view = await service.respond(
        session,
        principal,
        feedback_id=id,
        merchant_id=merchant_id,
        response=body.feedback.response,
    )
    return FeedbackEnvelope(feedback=FeedbackOut.from_view(view))


def _sandbox_only(settings: AppSettings) -> None:
    service.ensure_sandbox(sandbox=settings.is_sandbox)


# Checked before authentication and body validation: outside a sandbox these routes do not exist.
sandbox_router = APIRouter(
    tags=["Sandbox"], responses=RESPONSES, dependencies=[Depends(_sandbox_only)]
)


@sandbox_router.post(
    "/sandbox/feedbacks/{id}/view",
    response_model=FeedbackEnvelope,
    operation_id="sandboxViewFeedback",
)
async def sandbox_view(
    session: DbSession, principal: FeedbacksWriter, settings: AppSettings, id: str
) -> FeedbackEnvelope:
    """Sandbox only: the customer sees the feedback prompt (`unviewed` -> `viewed`)."""
    view = await service.customer_view(
        session, principal.merchants(), feedback_id=id, sandbox=settings.is_sandbox
    )
    return FeedbackEnvelope(feedback=FeedbackOut.from_view(view))


@sandbox_router.post(
    "/sandbox/feedbacks/{id}/rate",
    response_model=FeedbackEnvelope,
    operation_id="sandboxRateFeedback",
)
async def sandbox_rate(
    session: DbSession, principal: FeedbacksWriter, settings: AppSettings, id: str, body: RateIn
) -> FeedbackEnvelope:
    """Sandbox only: the customer leaves a 0-10 score (-> `rated`)."""
    view = await service.customer_rate(
        session,
        principal.merchants(),
        feedback_id=id,
        rating=body.feedback.rating,
        sandbox=settings.is_sandbox,
    )
    return FeedbackEnvelope(feedback=FeedbackOut.from_view(view))


@sandbox_router.post(
    "/sandbox/feedbacks/{id}/review",
    response_model=FeedbackEnvelope,
    operation_id="sandboxReviewFeedback",
)
async def sandbox_review(
    session: DbSession, principal: FeedbacksWriter, settings: AppSettings, id: str, body: ReviewIn
) -> FeedbackEnvelope:
    """Sandbox only: the customer writes a review of a rated record (-> `reviewed`)."""
    view = await service.customer_review(
        session,
        principal.merchants(),
        feedback_id=id,
        review=body.feedback.review,
        sandbox=settings.is_sandbox,
    )
    return FeedbackEnvelope(feedback=FeedbackOut.from_view(view))
