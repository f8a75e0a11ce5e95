"""``X-Idempotency-Key`` (CONTRACT row 9): replay a stored response, refuse a reused key.

Keys are scoped to the credential and kept at least ``Settings.idempotency_ttl``. A request is
identified by a fingerprint of its method, path and parsed body, so whitespace or key order in
the JSON do not make two requests different. Concurrent duplicates are settled by the unique
``(credential_id, key)`` constraint: the loser's insert fails inside a savepoint, and it replays
the winner's committed response instead (see ``store_or_replay``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.idempotency import repository
from thanx_server.idempotency.errors import IdempotencyKeyReused
from thanx_server.kit.errors import ValidationFailed
from thanx_server.kit.time import utcnow
from thanx_server.models import IdempotencyKey

MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key:
        raise ValidationFailed("X-Idempotency-Key: must not be blank")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(f"X-Idempotency-Key: at most {MAX_KEY_LENGTH} characters")
    return key


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def lookup(
    session: AsyncSession, *, credential_id: str, key: str, request_hash: str, now: datetime
) -> StoredResponse | None:
    """The stored response for this key, None if there is none (or it expired).

    Raises ``IdempotencyKeyReused`` when the key was used with a different request.
    """
    row = await repository.find(session, credential_id=credential_id, key=key)
    if row is None:
        return None
    if row.expires_at <= now:
        await repository.remove(session, row.id)
        return None
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused()
    return StoredResponse(row.status_code, row.response_body)


async def store_or_replay(
    session: AsyncSession,
    *,
    credential_id: str,
    key: str,
    request_hash: str,
    response: StoredResponse,
    add_effects: Callable[[], None],
    now: datetime,
    ttl: timedelta,
) -> StoredResponse:
    """Write the request's effects and its key in one savepoint; if the key was taken meanwhile
    (a concurrent duplicate committed first), undo the effects and replay the winner's response.
    """

    async def perform() -> StoredResponse:
        add_effects()
        return response

    return await perform_once(
        session,
        credential_id=credential_id,
        key=key,
        request_hash=request_hash,
        perform=perform,
        now=now,
        ttl=ttl,
    )


async def perform_once(
    session: AsyncSession,
    *,
    credential_id: str,
    key: str,
    request_hash: str,
    perform: Callable[[], Awaitable[StoredResponse]],
    now: datetime,
    ttl: timedelta,
) -> StoredResponse:
    """Like ``store_or_replay``, for a create whose response is only known once its effects are
    written (ids and counters the database assigns, as a purchase's): ``perform`` writes the
    effects and returns the response, all inside the savepoint that also stores the key, so a
    concurrent duplicate that loses the key race leaves none of its effects behind.
    """
    try:
        async with session.begin_nested():
            response = await perform()
            repository.add(
                session,
                IdempotencyKey(
                    credential_id=credential_id,
                    key=key,
                    request_hash=request_hash,
                    status_code=response.status_code,
                    response_body=response.body,
                    created_at=now,
                    expires_at=now + ttl,
                ),
            )
            await session.flush()
    except IntegrityError:
        winner = await lookup(
            session, credential_id=credential_id, key=key, request_hash=request_hash, now=now
        )
        if winner is None:
            raise
        return winner
    return response


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    return await repository.remove_expired(session, now)


async def once_per_key(
    session: AsyncSession,
    *,
    credential_id: str,
    key: str | None,
    path: str,
    body: Any,
    ttl: timedelta,
    perform: Callable[[], Awaitable[StoredResponse]],
) -> StoredResponse:
    """A POST that honours ``X-Idempotency-Key``: without a key, ``perform`` runs; with one, the
    first answer under that key is replayed (the same body) or refused (another body), else
    ``perform`` runs in the savepoint that stores the key (``perform_once``)."""
    checked = check_key(key)
    if checked is None:
        return await perform()
    now = utcnow()
    request_hash = fingerprint("POST", path, body)
    stored = await lookup(
        session, credential_id=credential_id, key=checked, request_hash=request_hash, now=now
    )
    if stored is not None:
        return stored
    return await perform_once(
        session,
        credential_id=credential_id,
        key=checked,
        request_hash=request_hash,
        perform=perform,
        now=now,
        ttl=ttl,
    )
