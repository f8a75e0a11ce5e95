"""Fault rules: made by a controller, consulted by ``sandbox/middleware.py`` per request.

Deterministic by construction: "the first N calls" is a guarded counter in the database (one
UPDATE per call, so N holds across API processes), and "a fraction" is a seeded draw indexed by
the rule's own call count (``random.Random(f"{seed}:{n}")``), so the same sequence of calls
meets the same faults on every run. Several rules may match a call: the oldest that fires wins.
Expiry is real time (infrastructure), not the sandbox clock.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import ControlPrincipal
from thanx_server.kit.db import Database
from thanx_server.kit.errors import NotFound, ValidationFailed
from thanx_server.kit.time import utcnow
from thanx_server.models.sandbox import SandboxFaultRule
from thanx_server.sandbox import state_cache
from thanx_server.sandbox.faults import repository
from thanx_server.sandbox.faults.schemas import FaultIn

DEFAULT_CODES = {
    400: "VALIDATION_FAILED",
    401: "AUTHENTICATION_GENERIC",
    403: "FORBIDDEN",
    404: "RESOURCE_NOT_FOUND",
    409: "CONFLICT",
    422: "INVALID_STATE",
    429: "RATE_LIMITED",
    500: "GENERIC_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def _owner(principal: ControlPrincipal) -> str | None:
    return None if principal.is_operator else principal.client_id


async def create_rule(
    session: AsyncSession,
    principal: ControlPrincipal,
    data: FaultIn,
    *,
    operations: frozenset[str],
) -> SandboxFaultRule:
    if data.operation_id not in operations:
        raise ValidationFailed(f"operation_id: no operation '{data.operation_id}'")
    if data.operation_id.startswith("sandbox"):
        raise ValidationFailed("operation_id: the sandbox's own controls cannot be faulted")
    if data.merchant_id is not None:
        principal.merchants(data.merchant_id)  # 403 outside a partner's merchants
    is_error = data.action == "error"
    retry_after = data.retry_after
    if is_error and retry_after is None and data.status == 429:
        retry_after = 1
    rule = SandboxFaultRule(
        operation_id=data.operation_id,
        merchant_id=data.merchant_id,
        owner_client_id=_owner(principal),
        action=data.action,
        status=data.status if is_error else None,
        code=(data.code or DEFAULT_CODES.get(data.status, "GENERIC_ERROR")) if is_error else None,
        message=(data.message or "Injected by a sandbox fault rule.") if is_error else None,
        retry_after=retry_after if is_error else None,
        latency_ms=data.latency_ms if data.action == "latency" else None,
        times=data.times,
        fraction=data.fraction,
        seed=data.seed,
        seen=0,
        hits=0,
        expires_at=utcnow() + timedelta(seconds=data.expires_in) if data.expires_in else None,
    )
    repository.add(session, rule)
    await session.flush()
    state_cache.changed(session)
    return rule


async def list_rules(
    session: AsyncSession, principal: ControlPrincipal
) -> Sequence[SandboxFaultRule]:
    return await repository.list_rules(session, _owner(principal))


async def remove_rule(session: AsyncSession, principal: ControlPrincipal, rule_id: str) -> None:
    if not await repository.remove(session, _owner(principal), rule_id):
        raise NotFound(f"id: no fault rule '{rule_id}'")
    state_cache.changed(session)


async def clear_rules(session: AsyncSession, principal: ControlPrincipal) -> int:
    removed = await repository.remove(session, _owner(principal), None)
    state_cache.changed(session)
    return removed


@dataclass(frozen=True, slots=True)
class Fault:
    rule_id: str
    action: str
    status: int
    code: str
    message: str
    retry_after: int | None
    latency_ms: int


async def decide(
    db: Database, *, operation_id: str, client_id: str | None, merchant_id: str | None
) -> Fault | None:
    """The fault this call meets, if any (and its hit counted)."""
    async with db.read_sessions() as session:
        rules = await repository.candidates(
            session, operation_id=operation_id, client_id=client_id, now=utcnow()
        )
    rules = [r for r in rules if r.merchant_id is None or r.merchant_id == merchant_id]
    if not rules:
        return None
    async with db.write_sessions() as session, session.begin():
        for rule in rules:
            seen = await repository.next_seen(session, rule.id)
            draw = random.Random(f"{rule.seed}:{seen}").random()  # noqa: S311 (not secret)
            if rule.fraction is not None and draw >= rule.fraction:
                continue
            if not await repository.take_hit(session, rule.id, rule.times):
                continue
            return Fault(
                rule_id=rule.id,
                action=rule.action,
                status=rule.status or 500,
                code=rule.code or "GENERIC_ERROR",
                message=rule.message or "",
                retry_after=rule.retry_after,
                latency_ms=rule.latency_ms or 0,
            )
    return None
