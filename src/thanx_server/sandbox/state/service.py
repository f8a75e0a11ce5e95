"""Reset, snapshots and the baseline (issue 13, item 1).

A **snapshot** is JSON: ``{"format", "version", "merchant_ids", "credentials", "taken_at",
"sandbox_time", "tables": {table: [row, ...]}}``, every column of every row, values exact
(instants with microseconds, decimals as strings). Restoring it deletes the rows of its scope
(everything, or its merchants) and inserts its rows with their ids, in one transaction.

The **baseline** is the snapshot a reset goes back to (saved when fixtures are loaded, or by
``/sandbox/baseline``; none: an empty instance). Credentials (partners, their credentials and
grants, operators) survive a reset and a restore unless ``credentials`` is asked for; their
tokens are stored as digests only, so a snapshot holds no secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import ControlPrincipal
from thanx_server.kit.clock import REAL, business_now, replace_state
from thanx_server.kit.db import on_commit
from thanx_server.kit.errors import ValidationFailed
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import isoformat_z, utcnow
from thanx_server.kit.ttlcache import clear_every_cache
from thanx_server.sandbox import state_cache
from thanx_server.sandbox.faults import repository as faults_repository
from thanx_server.sandbox.jobs import repository as jobs_repository
from thanx_server.sandbox.state import repository
from thanx_server.sandbox.state.errors import SnapshotInconsistent, SnapshotInvalid
from thanx_server.sandbox.state.tables import (
    BY_NAME,
    CREDENTIALS,
    FORMAT,
    FORMAT_VERSION,
    KINDS,
    ORDERED,
    decode_row,
)

Rows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Restored:
    merchant_ids: tuple[str, ...] | None  # None: everything
    credentials: bool
    rows: int
    duration_ms: float
    baseline_version: int = 0


async def export_snapshot(
    session: AsyncSession, *, scope: MerchantScope, credentials: bool
) -> dict[str, Any]:
    tables = await repository.export_rows(session, scope, credentials=credentials)
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "merchant_ids": None if scope.everything else list(scope.merchant_ids),
        "credentials": credentials and scope.everything,
        "taken_at": isoformat_z(utcnow()),
        "sandbox_time": isoformat_z(business_now()),
        "tables": tables,
    }


def parse_snapshot(document: Any) -> tuple[MerchantScope, Rows]:
    """Check a snapshot and decode its rows (400 ``SNAPSHOT_INVALID`` naming the field)."""
    if not isinstance(document, dict):
        raise SnapshotInvalid("body: a snapshot is a JSON object")
    if document.get("format") != FORMAT:
        raise SnapshotInvalid(f"format: must be '{FORMAT}'")
    if document.get("version") != FORMAT_VERSION:
        raise SnapshotInvalid(
            f"version: this server restores snapshot format version {FORMAT_VERSION}, "
            f"not {document.get('version')!r}"
        )
    merchant_ids = document.get("merchant_ids")
    if merchant_ids is None:
        scope = MerchantScope.operator(None)
    elif (
        isinstance(merchant_ids, list)
        and merchant_ids
        and all(isinstance(m, str) and m for m in merchant_ids)
    ):
        scope = MerchantScope(tuple(merchant_ids))
    else:
        raise SnapshotInvalid("merchant_ids: null (everything) or a list of merchant ids")
    tables = document.get("tables")
    if not isinstance(tables, dict):
        raise SnapshotInvalid("tables: an object of table name to rows")
    decoded: Rows = {}
    for name, rows in tables.items():
        if name not in BY_NAME:
            raise SnapshotInvalid(f"tables: unknown table '{name}'")
        if not isinstance(rows, list):
            raise SnapshotInvalid(f"tables.{name}: a list of rows")
        columns = set(KINDS[name])
        out = []
        for index, row in enumerate(rows):
            if not isinstance(row, dict) or set(row) != columns:
                raise SnapshotInvalid(
                    f"tables.{name}[{index}]: every row has exactly the columns "
                    f"{', '.join(sorted(columns))}"
                )
            try:
                out.append(decode_row(name, row))
            except (TypeError, ValueError) as exc:
                raise SnapshotInvalid(f"tables.{name}[{index}]: {exc}") from None
        decoded[name] = out
    return scope, decoded


def within(rows: Rows, scope: MerchantScope) -> Rows:
    """The rows of ``rows`` that belong to the scope's merchants (no credentials)."""
    if scope.everything:
        return rows
    ids = set(scope.merchant_ids)
    out: Rows = {"merchants": [r for r in rows.get("merchants", []) if r["id"] in ids]}
    for name, table_rows in rows.items():
        if name in CREDENTIALS or name == "merchants":
            continue
        if "merchant_id" in KINDS[name]:
            out[name] = [r for r in table_rows if r["merchant_id"] in ids]
    campaigns = {r["id"] for r in out.get("campaigns", [])}
    out["campaign_variants"] = [
        r for r in rows.get("campaign_variants", []) if r["campaign_id"] in campaigns
    ]
    jobs = {r["id"] for r in out.get("issuance_jobs", [])}
    out["issuance_outcomes"] = [r for r in rows.get("issuance_outcomes", []) if r["job_id"] in jobs]
    members = {r["user_id"] for r in out.get("memberships", [])}
    out["users"] = [r for r in rows.get("users", []) if r["id"] in members]
    return out


async def _put_back(
    session: AsyncSession, rows: Rows, scope: MerchantScope, *, credentials: bool
) -> int:
    """Replace the scope's rows with ``rows`` (module docstring). Returns the rows written.

    Once committed, this process's caches (credentials, end-user tokens, kept list totals)
    forget what they held: it may name rows that are gone or changed."""
    rows = within(rows, scope)
    on_commit(session, clear_every_cache)
    state_cache.changed(session)  # the clock and fault rules are among the rows replaced
    written = 0
    # Rows kept in place and overwritten rather than deleted and inserted: a merchant's own row
    # and its users in a merchant's reset, the merchants whenever credentials (whose grants
    # point at merchants) are kept.
    in_place = ({"merchants"} if scope.everything and not credentials else set()) | (
        set() if scope.everything else set(repository.KEPT_IN_MERCHANT_RESET)
    )
    try:
        await repository.delete_scope(
            session,
            scope,
            credentials=credentials,
            keep_merchants=[r["id"] for r in rows.get("merchants", [])],
        )
        for table in ORDERED:
            table_rows = rows.get(table.name)
            if not table_rows:
                continue
            if table.name in CREDENTIALS and not (scope.everything and credentials):
                continue
            if table.name in in_place:
                await repository.upsert_rows(session, table, table_rows)
            else:
                await repository.insert_rows(session, table, table_rows)
            written += len(table_rows)
        await session.flush()
    except IntegrityError as exc:
        detail = str(exc.orig).splitlines()[0][:200] if exc.orig else ""
        raise SnapshotInconsistent(
            f"tables: the rows break a constraint of the schema ({detail})"
        ) from None
    return written


async def restore_snapshot(session: AsyncSession, document: Any, *, credentials: bool) -> Restored:
    started = time.perf_counter()
    scope, rows = parse_snapshot(document)
    written = await _put_back(session, rows, scope, credentials=credentials)
    return Restored(
        merchant_ids=None if scope.everything else scope.merchant_ids,
        credentials=credentials and scope.everything,
        rows=written,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )


# The baseline's decoded rows, per process, by version (a reset before every test of a suite
# would otherwise parse the same document every time).
_baseline_cache: dict[tuple[int, str], Rows] = {}


async def _baseline(session: AsyncSession) -> tuple[int, Rows]:
    key = await repository.baseline_key(session)
    if key[0] == 0:
        return 0, {}
    cached = _baseline_cache.get(key)
    if cached is None:
        document = await repository.baseline_document(session)
        _, cached = parse_snapshot(document)
        _baseline_cache.clear()
        _baseline_cache[key] = cached
    return key[0], cached


async def reset_for(
    session: AsyncSession,
    principal: ControlPrincipal,
    *,
    merchant_id: str | None,
    credentials: bool,
) -> Restored:
    """``POST /sandbox/reset``: an operator resets everything or one merchant; a partner its
    own merchants (one, or all of them). Credentials go back only in a reset of everything."""
    if credentials:
        principal.require_operator("resetting credentials")
        if merchant_id is not None:
            raise ValidationFailed("credentials: only a reset of everything puts them back")
    return await reset(session, scope=principal.merchants(merchant_id), credentials=credentials)


async def reset(session: AsyncSession, *, scope: MerchantScope, credentials: bool) -> Restored:
    """Back to the baseline: everything (and the clock back to real time, no fault rules), or
    some merchants."""
    started = time.perf_counter()
    version, rows = await _baseline(session)
    written = await _put_back(session, rows, scope, credentials=credentials)
    if scope.everything:
        await repository.reset_clock(session)
        await faults_repository.clear(session)
        await jobs_repository.clear(session)
        replace_state(REAL)
    return Restored(
        merchant_ids=None if scope.everything else scope.merchant_ids,
        credentials=credentials and scope.everything,
        rows=written,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        baseline_version=version,
    )


async def save_baseline(session: AsyncSession) -> int:
    """The instance as it is now becomes what a reset goes back to."""
    document = await export_snapshot(session, scope=MerchantScope.operator(None), credentials=True)
    return await repository.save_baseline(session, document)
