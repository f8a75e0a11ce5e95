"""GET, PUT and DELETE /partner/tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from thanx_server.auth.dependencies import PartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.kit.deps import DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS
from thanx_server.kit.params import PageParams, array_query
from thanx_server.tag import service
from thanx_server.tag.schemas import Empty, TagList, TagOut, TagSelectorIn, TagUpsertIn

RESPONSES = dict(PARTNER_ERRORS)
RESPONSES.update({code: spec for code, spec in NOT_FOUND.items()})
router = APIRouter(tags=["Tags"], responses=RESPONSES)

TagsReader = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.TAGS_READ))]
TagsWriter = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.TAGS_WRITE))]
UserIds = Annotated[list[str], array_query("user_ids", "Users whose tags to read (1 to 500).")]


@router.get("/partner/tags", response_model=TagList, operation_id="getTags")
async def list_tags(
    session: DbSession,
    principal: TagsReader,
    page: PageParams,
    user_ids: UserIds,
    merchant_id: Annotated[str | None, Query()] = None,
    key: Annotated[str | None, Query(description="Only this key.")] = None,
) -> TagList:
    """Tags of the given users at the credential's merchants, newest first."""
    result = await service.list_tags(
        session, principal, merchant_id=merchant_id, user_ids=user_ids, key=key, page=page
    )
    return TagList(
        tags=[TagOut.model_validate(tag, from_attributes=True) for tag in result.items],
        pagination=result.pagination(),
    )


@router.put("/partner/tags", response_model=Empty, operation_id="upsertTags")
async def upsert_tags(session: DbSession, principal: TagsWriter, body: TagUpsertIn) -> Empty:
    """For each user, create the key with these values, or replace the values it has."""
    await service.upsert_tags(
        session,
        principal,
        merchant_id=body.merchant_id,
        user_ids=body.user_ids,
        key=body.key,
        values=body.values,
    )
    return Empty()


@router.delete("/partner/tags", response_model=Empty, operation_id="deleteTags")
async def delete_tags(
    session: DbSession,
    principal: TagsWriter,
    user_ids: UserIds,
    body: Annotated[TagSelectorIn | None, Body()] = None,
    merchant_id: Annotated[str | None, Query()] = None,
    key: Annotated[str | None, Query()] = None,
) -> Empty:
    """Remove the key from the users. The selector travels in the JSON body or the query."""
    await service.delete_tags(
        session,
        principal,
        merchant_id=merchant_id,
        body_merchant_id=body.merchant_id if body else None,
        user_ids=body.user_ids if body else user_ids,
        key=body.key if body else key,
    )
    return Empty()
