"""The plans of every list's query at a growth scale, on both engines (issue 17, target 4).

    .venv/bin/python -m bench.explain                      # 1m rows, both engines
    .venv/bin/python -m bench.explain --scale 100k --engine sqlite --reuse

Loads the scale's data set (bench/dataset.py) into a database kept for the next run
(``--reuse`` skips the load when it is there), calls each list's repository function as the
service does, captures the statements it executes (SQLAlchemy's ``before_cursor_execute``) and
runs each under ``EXPLAIN ANALYZE`` (PostgreSQL) or ``EXPLAIN QUERY PLAN`` plus a timed
re-execution (SQLite). What is explained is what the product runs, not a copy of its SQL.
Prints the plans and times and writes a summary table into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import OUT_DIR, PG_ADMIN_DSN, machine_facts, write_section
from bench.dataset import GROWTH, Loaded, Scale, load
from thanx_server.feedback import repository as feedback_repository
from thanx_server.kit import migrate
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.pagination import Page
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Membership, Reward, User
from thanx_server.reward import repository as reward_repository
from thanx_server.tag import repository as tag_repository
from thanx_server.user import repository as user_repository

NOW = datetime(2026, 12, 1, tzinfo=UTC)
Call = Callable[[AsyncSession], Awaitable[Any]]


def _url(engine: str, scale: str) -> str:
    if engine == "postgresql":
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        return f"{base}/thanx_bench_explain_{scale}"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{OUT_DIR / f'explain-{scale}.db'}"


async def _database(engine: str, scale: str, reuse: bool) -> Database:
    """The scale's database, loaded unless ``reuse`` finds it loaded."""
    import asyncpg

    url = _url(engine, scale)
    if engine == "postgresql":
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            name = f"thanx_bench_explain_{scale}"
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            os.environ["THANX_BENCH_PG_VERSION"] = str(await conn.fetchval("SHOW server_version"))
            if exists and not reuse:
                await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            if not exists or not reuse:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
    elif not reuse:
        path = OUT_DIR / f"explain-{scale}.db"
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    database = Database.from_engine(create_engine(url))
    await migrate.upgrade(database.engine)
    async with database.read_sessions() as session:
        loaded = (await session.scalar(text("SELECT count(*) FROM users"))) or 0
    if not loaded:
        started = time.perf_counter()
        data = await load(database, Scale.named(scale))
        print(f"[{engine}] loaded {data.counts} in {time.perf_counter() - started:.0f} s")
    if engine == "sqlite":
        async with database.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return database


async def _sample(session: AsyncSession) -> Loaded:
    """What the calls need from the loaded data: the merchants, a tagged member, a user."""
    data = Loaded()
    data.merchant_ids = list(
        (await session.scalars(text("SELECT id FROM merchants ORDER BY handle"))).all()
    )
    row = (await session.execute(text("SELECT merchant_id, user_id FROM tags LIMIT 1"))).one()
    data.tagged_user = (row[0], row[1])
    data.counts["users"] = (await session.scalar(text("SELECT count(*) FROM users"))) or 0
    # Any user holding a reward.
    data.sample_emails = [
        ("", (await session.scalar(text("SELECT user_id FROM rewards LIMIT 1"))) or "")
    ]
    return data


async def loaded_from(database: Database) -> Loaded:
    """What ``bench.http.growth_endpoints`` needs from a database loaded earlier: a fresh
    credential over every merchant, an end-user token of a user holding rewards, samples."""
    from bench.dataset import NOW as LOADED_AT
    from thanx_server.auth import repository as auth_repository
    from thanx_server.auth.scopes import ALL_SCOPES
    from thanx_server.kit.ids import hash_secret, new_ids, new_secret
    from thanx_server.models import EndUserToken
    from thanx_server.partner import service as partner_service

    async with database.read_sessions() as session:
        data = await _sample(session)
        data.campaign_ids = list(
            (await session.scalars(text("SELECT id FROM campaigns ORDER BY created_at, id"))).all()
        )
        emails = (
            await session.execute(
                text(
                    "SELECT m.merchant_id, u.email FROM users u JOIN memberships m "
                    "ON m.user_id = u.id WHERE u.email IN ('user500@bench.example', "
                    "'user1500@bench.example', 'user2500@bench.example')"
                )
            )
        ).all()
        data.sample_emails = [(row[0], row[1]) for row in emails]
        holder = (
            await session.execute(
                text("SELECT user_id, merchant_id FROM rewards ORDER BY id LIMIT 1")
            )
        ).one()
    async with database.write_sessions() as session, session.begin():
        issued = await partner_service.create_partner(
            session, name="Bench Partner", scopes=ALL_SCOPES, merchant_ids=data.merchant_ids
        )
        credential_id = await auth_repository.credential_id_of(session, issued.client_id)
        secret = new_secret()
        session.add(
            EndUserToken(
                id=new_ids(1)[0], token_hash=hash_secret(secret), user_id=holder[0],
                merchant_id=holder[1], credential_id=credential_id, scope="passwordless",
                created_at=LOADED_AT, expires_at=None, revoked_at=None,
            )
        )  # fmt: skip
    data.client_id, data.access_token, data.user_token = (
        issued.client_id,
        issued.access_token,
        secret,
    )
    return data


def calls(data: Loaded) -> list[tuple[str, Call]]:
    wide = MerchantScope(tuple(data.merchant_ids))
    one = MerchantScope.one(data.merchant_ids[0])
    users = data.counts["users"]
    last_wide = Page(page=-(-users // 10), per_page=10)
    last_one = Page(page=-(-users // len(data.merchant_ids) // 10), per_page=10)
    after = datetime(2026, 11, 1, 0, 0, 30, tzinfo=UTC)

    def users_list(scope: MerchantScope, page: Page, **filters: Any) -> Call:
        given = {"email": None, "phone": None, "updated_after": None, "updated_before": None}
        return lambda s: user_repository.list_users(s, scope, **(given | filters), page=page)

    def feedback_list(scope: MerchantScope, page: Page, **filters: Any) -> Call:
        given: dict[str, Any] = {
            "user_id": None,
            "location_id": None,
            "states": [],
            "updated_after": None,
        }
        return lambda s: feedback_repository.list_feedbacks(
            s, scope, now=NOW, **(given | filters), page=page
        )

    tag_merchant, tag_user = data.tagged_user
    return [
        ("users, all merchants, page 1", users_list(wide, Page())),
        ("users, all merchants, last page", users_list(wide, last_wide)),
        ("users, one merchant, last page", users_list(one, last_one)),
        ("users, all merchants, updated_after", users_list(wide, Page(), updated_after=after)),
        ("users, one merchant, email", users_list(one, Page(), email="user500@bench.example")),
        ("feedback, all merchants, page 1", feedback_list(wide, Page())),
        ("feedback, all merchants, states=rated", feedback_list(wide, Page(), states=["rated"])),
        ("feedback, one merchant, last page", feedback_list(one, last_one)),
        ("feedback, one merchant, updated_after", feedback_list(one, Page(), updated_after=datetime(2026, 10, 31, tzinfo=UTC))),
        ("tags, one member", lambda s: tag_repository.list_tags(
            s, MerchantScope.one(tag_merchant), user_ids=[tag_user], key=None, page=Page())),
        ("rewards, one user", lambda s: _user_rewards(s, wide, data.sample_emails[0][1])),
    ]  # fmt: skip


async def _user_rewards(session: AsyncSession, scope: MerchantScope, user_id: str) -> Any:
    return await reward_repository.list_rewards(
        session,
        user_id=user_id,
        scope=scope,
        states=["available", "active", "used"],
        now=NOW,
        page=Page(),
    )


async def explain(engine: str, scale: str, reuse: bool) -> list[str]:
    database = await _database(engine, scale, reuse)
    rows: list[str] = []
    try:
        async with database.read_sessions() as session:
            data = await _sample(session)
        for label, call in calls(data):
            captured: list[tuple[str, Any]] = []

            def capture(
                _conn: Any,
                _cursor: Any,
                statement: str,
                parameters: Any,
                *_: Any,
                into: list[tuple[str, Any]] = captured,
            ) -> None:
                into.append((statement, parameters))

            sync_engine = database.engine.sync_engine
            event.listen(sync_engine, "before_cursor_execute", capture)
            try:
                async with database.read_sessions() as session:
                    started = time.perf_counter()
                    await call(session)
                    call_ms = (time.perf_counter() - started) * 1000
            finally:
                event.remove(sync_engine, "before_cursor_execute", capture)
            # Again, as the next request for the same page within the kept time would: what a
            # partner paging through the list (or a load test) pays after the first request.
            async with database.read_sessions() as session:
                started = time.perf_counter()
                await call(session)
                again_ms = (time.perf_counter() - started) * 1000
            captured = [c for c in captured if c[0].lstrip().upper().startswith("SELECT")]
            plans = [await _plan(database, engine, sql, params) for sql, params in captured]
            print(
                f"\n=== [{engine} {scale}] {label}: {len(captured)} statement(s), {call_ms:.1f} ms"
            )
            for (sql, _params), (plan, ms) in zip(captured, plans, strict=True):
                print(f"--- {ms:.2f} ms\n{sql}\n{plan}")
            statement_ms = " + ".join(f"{ms:.2f}" for _plan_text, ms in plans)
            scans = "; ".join(_verdict(engine, plan) for plan, _ms in plans)
            rows.append(
                f"| {engine} | {label} | {call_ms:.0f} | {again_ms:.1f} | {len(captured)} | "
                f"{statement_ms} | {scans} |"
            )
    finally:
        await database.dispose()
    return rows


async def _plan(database: Database, engine: str, sql: str, params: Any) -> tuple[str, float]:
    async with database.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        if engine == "postgresql":
            lines = await driver.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *params)
            plan = "\n".join(r[0] for r in lines)
            ms = float(plan.rsplit("Execution Time: ", 1)[1].split()[0])
            return plan, ms
        cursor = await driver.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = "\n".join(str(r[3]) for r in await cursor.fetchall())
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            cursor = await driver.execute(sql, params)
            await cursor.fetchall()
            best = min(best, (time.perf_counter() - started) * 1000)
        return plan, best


def _verdict(engine: str, plan: str) -> str:
    """What a reader needs from a plan: does it read a whole table, and through which index."""
    if engine == "postgresql":
        scans = sorted(
            {
                line.split(" on ")[1].split()[0]
                for line in plan.splitlines()
                if "Seq Scan on" in line
            }
        )
        indexes = sorted(
            {line.split(" using ")[1].split()[0] for line in plan.splitlines() if " using " in line}
        )
    else:
        scans = sorted(
            {
                line.split("SCAN ")[1].split()[0]
                for line in plan.splitlines()
                if line.startswith("SCAN ")
                and " USING " not in line
                and "json_each" not in line
                and "subquery" not in line
            }
        )
        indexes = sorted(
            {line.split("INDEX ")[1].split()[0] for line in plan.splitlines() if "INDEX " in line}
        )
    parts = [f"scans {', '.join(scans)}" if scans else "no table scan"]
    if indexes:
        parts.append(f"via {', '.join(indexes)}")
    return " ".join(parts)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--scale", choices=list(GROWTH), default="1m")
    parser.add_argument("--reuse", action="store_true", help="keep the loaded database if present")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    engines = ["postgresql", "sqlite"] if args.engine == "both" else [args.engine]
    rows: list[str] = []
    for engine in engines:
        rows += asyncio.run(explain(engine, args.scale, args.reuse))
    table = "\n".join(
        ["| engine | list | first call ms | again ms | statements (first call) | ms each (EXPLAIN ANALYZE / best of 3) | plan |", "|---|---|---|---|---|---|---|", *rows]
    )  # fmt: skip
    print("\n" + table)
    if not args.no_write:
        load = os.getloadavg()
        write_section(
            f"explain-{args.scale}",
            f"## List plans at {args.scale} rows (`python -m bench.explain --scale {args.scale}`)\n\n"
            f"{machine_facts()}; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.\n\n{table}\n",
        )


# Models imported for their tables' registration before the first statement.
_ = (Membership, Reward, User)

if __name__ == "__main__":
    main()
