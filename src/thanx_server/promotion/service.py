"""Rules for promotions and their codes (reference B.11, issue 16).

* A promotion belongs to one merchant; its state (``scheduled``/``active``/``ended``) is derived
  from now, ``start_at`` and ``end_at`` like a campaign's. The list shows active ones (the docs:
  "Returns active promotions"); by id, any of the credential's.
* Codes are single use, 12 symbols of a 32-symbol alphabet (60 random bits from the CSPRNG),
  unique per merchant (the table's primary key). A batch is written by one set-based INSERT per
  100,000 codes; a collision with an existing code (about one in 10^8 batches at a million
  codes) rolls that chunk's savepoint back and draws it again.
* A creation ``code_count`` above one call's 100,000 is one batch drawn by workers, 100,000
  codes per transaction under a lease (``promotion/tasks.py``); ``pending_code_count`` says how
  many are still to come.
* ``X-Idempotency-Key`` on create and on generate: the effects and the key in one savepoint
  (``idempotency.once_per_key``), exactly as purchases.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal, merchant_id_of_call
from thanx_server.domain.states import CampaignState
from thanx_server.idempotency import service as idempotency
from thanx_server.idempotency.service import StoredResponse
from thanx_server.kit.clock import business_now
from thanx_server.kit.errors import NotFound, ValidationFailed
from thanx_server.kit.ids import new_codes, new_id
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Promotion, PromotionCode, PromotionCodeBatch
from thanx_server.models.promotion import CODE_LENGTH
from thanx_server.promotion import repository
from thanx_server.promotion.errors import CodeLimitExceeded
from thanx_server.promotion.schemas import (
    MAX_CODES_AT_CREATION,
    MAX_CODES_PER_CALL,
    CodeBatchEnvelope,
    CodeBatchOut,
    PromotionEnvelope,
    PromotionFields,
    PromotionOut,
)
from thanx_server.template import repository as template_repository

CHUNK = MAX_CODES_PER_CALL
COLLISION_RETRIES = 5


def promotion_state(promotion: Promotion, now: datetime) -> CampaignState:
    if promotion.start_at is not None and now < promotion.start_at:
        return CampaignState.SCHEDULED
    if promotion.end_at is not None and now > promotion.end_at:
        return CampaignState.ENDED
    return CampaignState.ACTIVE


def promotion_out(promotion: Promotion, now: datetime) -> PromotionOut:
    return PromotionOut(
        id=promotion.id,
        merchant_id=promotion.merchant_id,
        name=promotion.name,
        description=promotion.description,
        reward_template_id=promotion.reward_template_id,
        state=promotion_state(promotion, now),
        start_at=promotion.start_at,
        end_at=promotion.end_at,
        code_count=promotion.code_count,
        pending_code_count=promotion.codes_pending,
        created_at=promotion.created_at,
        updated_at=promotion.updated_at,
    )


async def create_promotion(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    merchant_id: str,
    fields: PromotionFields,
    idempotency_key: str | None,
    path: str,
    idempotency_ttl: timedelta,
) -> StoredResponse:
    """POST /partner/promotions: 201 with the promotion (and its first ``code_count`` codes)."""
    merchant = principal.merchant(merchant_id)
    scope = principal.merchants(merchant)
    name = fields.name.strip()
    if not name:
        raise ValidationFailed("promotion.name: must not be blank")
    if fields.code_count > MAX_CODES_AT_CREATION:
        raise CodeLimitExceeded(
            f"promotion.code_count: at most {MAX_CODES_AT_CREATION:,} codes at creation"
        )
    if fields.end_at and fields.end_at < (fields.start_at or business_now()):
        raise ValidationFailed(
            "promotion.end_at: must not be before promotion.start_at (default: now)"
        )
    if fields.reward_template_id is not None and not await template_repository.get_published(
        session, scope, fields.reward_template_id
    ):
        raise NotFound(
            f"promotion.reward_template_id: no published template '{fields.reward_template_id}'"
        )

    async def perform() -> StoredResponse:
        now = business_now()
        promotion = Promotion(
            id=new_id(),
            merchant_id=merchant,
            name=name,
            description=fields.description,
            reward_template_id=fields.reward_template_id,
            start_at=fields.start_at or now,
            end_at=fields.end_at,
            code_count=0,
            created_at=now,
            updated_at=now,
        )
        repository.add(session, promotion)
        await session.flush()
        await _first_codes(session, promotion, fields.code_count, now)
        await session.refresh(promotion)
        body = PromotionEnvelope(promotion=promotion_out(promotion, now))
        return StoredResponse(201, body.model_dump(mode="json"))

    request = {"merchant_id": merchant_id, "promotion": fields.model_dump(mode="json")}
    return await idempotency.once_per_key(
        session, credential_id=principal.credential_id, key=idempotency_key, path=path,
        body=request, ttl=idempotency_ttl, perform=perform,
    )  # fmt: skip


async def generate_codes(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    promotion_id: str,
    merchant_id: str | None,
    body_merchant_id: str | None,
    count: int,
    idempotency_key: str | None,
    path: str,
    idempotency_ttl: timedelta,
) -> StoredResponse:
    """POST /partner/promotions/{id}/codes: a batch of ``count`` new single-use codes (201)."""
    scope = principal.merchants(merchant_id_of_call(query=merchant_id, body=body_merchant_id))
    if count > MAX_CODES_PER_CALL:
        raise CodeLimitExceeded(f"count: at most {MAX_CODES_PER_CALL:,} codes per call")
    promotion = await repository.get(session, scope, promotion_id)
    if promotion is None:
        raise NotFound(f"id: no promotion '{promotion_id}'")
    if promotion_state(promotion, business_now()) == CampaignState.ENDED:
        raise ValidationFailed(f"id: promotion '{promotion_id}' has ended")

    async def perform() -> StoredResponse:
        now = business_now()
        batch = await _generate(session, promotion, count, now)
        await session.refresh(promotion)
        body = CodeBatchEnvelope(
            promotion_code_batch=CodeBatchOut(
                id=batch.id, promotion_id=promotion.id, count=batch.count, created_at=now
            ),
            promotion=promotion_out(promotion, now),
        )
        return StoredResponse(201, body.model_dump(mode="json"))

    request = {"merchant_id": body_merchant_id, "count": count}
    return await idempotency.once_per_key(
        session, credential_id=principal.credential_id, key=idempotency_key, path=path,
        body=request, ttl=idempotency_ttl, perform=perform,
    )  # fmt: skip


async def _first_codes(
    session: AsyncSession, promotion: Promotion, count: int, now: datetime
) -> None:
    """Up to one call's worth (``CHUNK``) in the request; a larger creation count is one batch
    whose codes workers draw, ``CHUNK`` per transaction (promotion/tasks.py)."""
    if count <= 0:
        return
    if count <= CHUNK:
        await _generate(session, promotion, count, now)
        return
    batch = PromotionCodeBatch(
        id=new_id(),
        promotion_id=promotion.id,
        merchant_id=promotion.merchant_id,
        count=count,
        created_at=now,
    )
    repository.add(session, batch)
    promotion.codes_pending = count
    promotion.pending_batch_id = batch.id
    await session.flush()


async def _generate(
    session: AsyncSession, promotion: Promotion, count: int, now: datetime
) -> PromotionCodeBatch:
    batch = PromotionCodeBatch(
        id=new_id(),
        promotion_id=promotion.id,
        merchant_id=promotion.merchant_id,
        count=count,
        created_at=now,
    )
    repository.add(session, batch)
    await session.flush()
    for start in range(0, count, CHUNK):
        await insert_chunk(session, promotion, batch.id, min(CHUNK, count - start), now)
    await repository.count_added(session, promotion, count, now)
    return batch


async def insert_chunk(
    session: AsyncSession, promotion: Promotion, batch_id: str, size: int, now: datetime
) -> None:
    """``size`` new codes of the batch in one INSERT (drawn again on a collision)."""
    for _attempt in range(COLLISION_RETRIES):
        codes = _distinct_codes(size)
        try:
            async with session.begin_nested():
                await repository.insert_codes(
                    session, promotion, batch_id=batch_id, codes=codes, now=now
                )
        except IntegrityError:
            continue  # a code the merchant already has: draw the chunk again
        return
    raise RuntimeError("could not draw unique promotion codes")  # pragma: no cover


def _distinct_codes(size: int) -> list[str]:
    codes = list(dict.fromkeys(new_codes(size, CODE_LENGTH)))
    while len(codes) < size:
        codes = list(dict.fromkeys(codes + new_codes(size - len(codes), CODE_LENGTH)))
    return codes


async def list_promotions(
    session: AsyncSession, principal: PartnerPrincipal, *, merchant_id: str | None, page: Page
) -> tuple[PageResult[Promotion], datetime]:
    now = business_now()
    result = await repository.list_active(
        session, principal.merchants(merchant_id), now=now, page=page
    )
    return result, now


async def get_promotion(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    promotion_id: str,
    merchant_id: str | None,
) -> PromotionOut:
    promotion = await repository.get(session, principal.merchants(merchant_id), promotion_id)
    if promotion is None:
        raise NotFound(f"id: no promotion '{promotion_id}'")
    return promotion_out(promotion, business_now())


async def list_codes(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    promotion_id: str,
    merchant_id: str | None,
    batch_id: str | None,
    page: Page,
) -> PageResult[PromotionCode]:
    promotion = await repository.get(session, principal.merchants(merchant_id), promotion_id)
    if promotion is None:
        raise NotFound(f"id: no promotion '{promotion_id}'")
    total = promotion.code_count
    if batch_id is not None:
        batch = await repository.get_batch(session, promotion.id, batch_id)
        if batch is None:
            raise NotFound(f"batch_id: no batch '{batch_id}' of this promotion")
        total = batch.count
    items = await repository.codes_page(
        session, promotion, batch_id=batch_id, page=page, total=total
    )
    return PageResult(items=items, total=total, page=page)


# --- Operator side (demo data) ------------------------------------------------------------------


async def find_by_name(session: AsyncSession, *, merchant_id: str, name: str) -> Promotion | None:
    return await repository.find_by_name(session, MerchantScope.one(merchant_id), name)


async def create_for_operator(
    session: AsyncSession, *, merchant_id: str, name: str, description: str | None, code_count: int
) -> Promotion:
    """A promotion with its first codes, made by the operator side (demo data)."""
    now = business_now()
    promotion = Promotion(
        id=new_id(),
        merchant_id=merchant_id,
        name=name,
        description=description,
        start_at=now,
        code_count=0,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, promotion)
    await session.flush()
    await _first_codes(session, promotion, code_count, now)
    return promotion
