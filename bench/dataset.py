"""A realistic data set for the HTTP benchmark, loaded set-based (COPY on PostgreSQL).

Default size (issue 6): 100 merchants, 100,000 users, 1,000 campaigns, 1,000,000 rewards.
The growth scales of issue 17 (``10k``, ``100k``, ``1m``) hold that many users, rewards,
purchases, feedback records and tags (one each per user) over the same 100 merchants and 1,000
campaigns, so the per-request cost can be compared as the tables grow.
Everything is generated deterministically from a seed, so runs are comparable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from thanx_server.auth import repository as auth_repository
from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.kit.db import Database
from thanx_server.kit.ids import hash_secret, new_ids, new_secret
from thanx_server.models import (
    Campaign,
    CampaignVariant,
    EndUserToken,
    Feedback,
    Location,
    Membership,
    Merchant,
    Purchase,
    Reward,
    RewardTemplate,
    Tag,
    User,
)
from thanx_server.partner import service as partner_service

NOW = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Scale:
    merchants: int = 100
    users: int = 100_000
    campaigns_per_merchant: int = 10
    rewards_per_user: int = 10
    feedback_per_user: int = 0  # each with the purchase that opened it
    tags_per_user: int = 0
    # Rewards of one pool member kept for the one-way writes (activate, finalize): this many
    # available and this many active, each moved once by one request (bench/http.py, paths).
    one_way_rewards: int = 40_000

    @classmethod
    def named(cls, name: str) -> Scale:
        grown = {
            name: cls(100, rows, 10, 1, 1, 1, one_way_rewards=0) for name, rows in GROWTH.items()
        }
        return {"full": cls(), "small": cls(10, 5_000, 5, 4), **grown}[name]


# The scales of issue 17's growth benchmark: rows per growing table.
GROWTH = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


@dataclass
class Loaded:
    client_id: str = ""
    access_token: str = ""
    merchant_ids: list[str] = field(default_factory=list)
    campaign_ids: list[str] = field(default_factory=list)
    template_ids: dict[str, str] = field(default_factory=dict)  # merchant -> a published template
    user_token: str = ""  # an end-user token of a user holding rewards
    sample_emails: list[tuple[str, str]] = field(default_factory=list)  # (merchant_id, email)
    sample_members: list[tuple[str, str]] = field(default_factory=list)  # (merchant_id, user_id)
    # merchant -> (a campaign, its treatment variant), for issuing rewards
    treatments: dict[str, tuple[str, str]] = field(default_factory=dict)
    tagged_user: tuple[str, str] = ("", "")  # (merchant_id, user_id) of a member with a tag
    counts: dict[str, int] = field(default_factory=dict)
    # The pool member's token and rewards for activate (available ones) and finalize (active).
    pool_token: str = ""
    available_reward_ids: list[str] = field(default_factory=list)
    active_reward_ids: list[str] = field(default_factory=list)


async def _bulk(
    engine: AsyncEngine, model: Any, rows: list[dict[str, Any]], batch: int = 20_000
) -> None:
    """Insert rows in one transaction: COPY on PostgreSQL, the driver's executemany on SQLite.

    On PostgreSQL the foreign-key triggers are off for the load's session (what ``pg_restore
    --disable-triggers`` does): the rows are consistent by construction, and checking each
    one made a 1M-row load take ~15 minutes instead of a few. SQLite's load is the same
    (``_sqlite_bulk``)."""
    table = model.__table__
    if engine.dialect.name == "postgresql":
        columns = list(rows[0])
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute("SET session_replication_role = replica")
            for start in range(0, len(rows), 200_000):
                records = [
                    tuple(_pg_value(r[c]) for c in columns) for r in rows[start : start + 200_000]
                ]
                await driver.copy_records_to_table(table.name, records=records, columns=columns)
            await driver.execute("RESET session_replication_role")
        return
    await _sqlite_bulk(engine, table, rows, batch)


# The load's page cache on SQLite (KiB; the connection's default is 2 MB). A transaction whose
# changed pages do not fit spills them to the WAL as it goes, and inserting random identifiers
# into a large table's indexes touches pages all over them, so the same pages were written
# again and again (100k rows: system time 11.0 -> 1.9 s with this, docs/PERFORMANCE.md).
_SQLITE_LOAD_CACHE_KIB = 1_048_576


async def _sqlite_bulk(
    engine: AsyncEngine, table: Any, rows: list[dict[str, Any]], batch: int
) -> None:
    """Rows to the driver's ``executemany`` in one transaction, each value converted by its
    column type's own bind processor (what ``insert(table)`` does per row), once per distinct
    value: the loader repeats timestamps, JSON objects and amounts across many rows, and the
    per-value conversion was most of a load's CPU (cProfile, 10k: 3.9 of 5.9 s). Scalar
    column defaults are filled in as ``insert`` would; foreign keys are not checked during
    the load (as the COPY above), and the page cache is large for it."""
    dialect = engine.dialect
    given = list(rows[0])
    defaults = {
        c.name: c.default.arg
        for c in table.columns
        if c.name not in rows[0] and c.default is not None and c.default.is_scalar
    }
    compiled = insert(table).compile(dialect=dialect, column_keys=given + list(defaults))
    names = list(compiled.positiontup or ())  # the table's order, not the rows'
    assert set(names) == {*given, *defaults}, (table.name, names)
    converters = [
        _memoised(table.columns[name].type._cached_bind_processor(dialect)) for name in names
    ]
    sql = str(compiled)
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.execute("PRAGMA foreign_keys=OFF")
        await driver.execute(f"PRAGMA cache_size=-{_SQLITE_LOAD_CACHE_KIB}")
        await driver.execute("BEGIN")
        for start in range(0, len(rows), batch):
            records = [
                tuple(convert(r.get(c, defaults.get(c))) for convert, c in zip(converters, names, strict=True))
                for r in rows[start : start + batch]
            ]  # fmt: skip
            await driver.executemany(sql, records)
        await driver.execute("COMMIT")
        await driver.execute("PRAGMA foreign_keys=ON")
        await driver.execute("PRAGMA cache_size=-2000")  # SQLite's default, for the pool


def _memoised(process: Any) -> Any:
    """``process`` (a bind processor, or None) remembering what it made of each value; an
    unhashable value (a JSON object) by its identity, which is stable while the rows hold it."""
    if process is None:
        return lambda value: value
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        key = (id(value),) if isinstance(value, dict | list) else value
        try:
            return seen[key]
        except KeyError:
            seen[key] = made = process(value)
            return made

    return convert


def _pg_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        import json

        return json.dumps(value)
    return value


_FEEDBACK_STATES = ("unviewed", "unviewed", "viewed", "rated", "reviewed", "responded")


async def _engagement(
    engine: AsyncEngine,
    scale: Scale,
    rnd: random.Random,
    block_users: list[str],
    first: int,
    merchant_ids: list[str],
    locations_of: dict[str, list[str]],
) -> None:
    """A block of users' purchases with their feedback records, and their tags."""
    purchases: list[dict[str, Any]] = []
    feedbacks: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    count = len(block_users) * scale.feedback_per_user
    purchase_ids, feedback_ids = iter(new_ids(count)), iter(new_ids(count))
    tag_ids = iter(new_ids(len(block_users) * scale.tags_per_user))
    for offset, u in enumerate(block_users):
        m = merchant_ids[(first + offset) % scale.merchants]
        for _ in range(scale.feedback_per_user):
            at = NOW - timedelta(minutes=rnd.randrange(100_000))
            state = _FEEDBACK_STATES[rnd.randrange(len(_FEEDBACK_STATES))]
            purchase, location = next(purchase_ids), locations_of[m][rnd.randrange(2)]
            purchases.append({
                "id": purchase, "merchant_id": m, "user_id": u, "location_id": location, "card_id": None,
                "amount": Decimal("12.50"), "points_earned": Decimal("12.50"), "products": ["Coffee"],
                "purchased_at": at, "created_at": at,
            })  # fmt: skip
            rated = state in ("rated", "reviewed", "responded")
            feedbacks.append({
                "id": next(feedback_ids), "merchant_id": m, "user_id": u, "location_id": location,
                "purchase_id": purchase, "state": state, "rating": 8 if rated else None,
                "review": "Great" if state in ("reviewed", "responded") else None,
                "response": "Thanks" if state == "responded" else None,
                "expires_at": at + timedelta(days=90), "viewed_at": at if state != "unviewed" else None,
                "rated_at": at if rated else None, "reviewed_at": None, "responded_at": None,
                "created_at": at, "updated_at": at,
            })  # fmt: skip
        for k in range(scale.tags_per_user):
            tags.append({
                "id": next(tag_ids), "merchant_id": m, "user_id": u, "key": f"segment{k}",
                "values": ["regular"], "created_at": NOW, "updated_at": NOW,
            })  # fmt: skip
    if purchases:
        await _bulk(engine, Purchase, purchases)
        await _bulk(engine, Feedback, feedbacks)
    if tags:
        await _bulk(engine, Tag, tags)


async def _one_way_pool(
    engine: AsyncEngine,
    scale: Scale,
    out: Loaded,
    user_id: str,
    campaigns_of: dict[str, list[tuple[str, str, str]]],
    credential_id: str,
) -> None:
    """The pool member (the last user) gets ``one_way_rewards`` available and as many active
    rewards at its own merchant, and an end-user token: activate and finalize move each once.
    No redemption window: an active reward stays finalizable however long the run takes."""
    merchant = out.merchant_ids[(scale.users - 1) % scale.merchants]
    campaign, variant, template = campaigns_of[merchant][0]
    ids = new_ids(2 * scale.one_way_rewards)
    out.available_reward_ids = ids[: scale.one_way_rewards]
    out.active_reward_ids = ids[scale.one_way_rewards :]
    active = set(out.active_reward_ids)
    await _bulk(engine, Reward, [{
        "id": rid, "user_id": user_id, "merchant_id": merchant, "campaign_id": campaign,
        "variant_id": variant, "reward_template_id": template, "issuance_job_id": None,
        "identifier_index": None, "state": "active" if rid in active else "available",
        "earn_type": "campaign", "redeem": {"type": "manual", "text": "Free item", "detail": "Any size", "window": None, "venue": "all"},
        "images": {}, "fine_print": "Limit one per customer", "instructions": "Ring up as free", "coupon_code": None, "available_at": NOW,
        "activated_at": NOW if rid in active else None, "used_at": None,
        "retire_at": NOW + timedelta(days=400), "revoked_at": None, "created_at": NOW, "updated_at": NOW,
    } for rid in ids])  # fmt: skip
    out.pool_token = new_secret()
    await _bulk(engine, EndUserToken, [{
        "id": new_ids(1)[0], "token_hash": hash_secret(out.pool_token), "user_id": user_id,
        "merchant_id": merchant, "credential_id": credential_id, "scope": "passwordless",
        "created_at": NOW, "expires_at": None, "revoked_at": None,
    }])  # fmt: skip


async def load(database: Database, scale: Scale, seed: int = 7) -> Loaded:
    rnd = random.Random(seed)
    engine = database.engine
    out = Loaded()

    merchant_ids = new_ids(scale.merchants)
    await _bulk(engine, Merchant, [
        {"id": m, "name": f"Bench Merchant {i}", "handle": f"bench{i}", "time_zone": "America/Los_Angeles", "created_at": NOW}
        for i, m in enumerate(merchant_ids)
    ])  # fmt: skip
    locations_of = {m: new_ids(2) for m in merchant_ids}
    await _bulk(engine, Location, [
        {"id": lid, "merchant_id": m, "name": f"Store {j}", "street": f"{j} Main St", "city": "San Francisco",
         "state": "CA", "zip": "94105", "phone": "(415) 555-0100", "created_at": NOW}
        for m in merchant_ids for j, lid in enumerate(locations_of[m])
    ])  # fmt: skip

    templates: list[dict[str, Any]] = []
    campaigns: list[dict[str, Any]] = []
    variants: list[dict[str, Any]] = []
    campaigns_of: dict[str, list[tuple[str, str, str]]] = {}
    for m in merchant_ids:
        tpl_ids = new_ids(scale.campaigns_per_merchant)
        for k, t in enumerate(tpl_ids):
            templates.append({
                "id": t, "merchant_id": m, "name": f"Reward {k}", "type": "discount", "subtype": "free_item",
                "description": "A free item", "fine_print": "One per visit", "instructions": "Ring up as free",
                "discount": {"type": "free_item", "value": None}, "redemption_venue": "all",
                "redeem": {"type": "manual", "text": "Free item", "detail": "Any size", "window": 60},
                "images": {"index": {"small": "https://img.example/s.png", "large": "https://img.example/l.png"}},
                "published": True, "created_at": NOW,
            })  # fmt: skip
        out.template_ids[m] = tpl_ids[0]
        for k, (c, control, treat) in enumerate(
            zip(*(iter(new_ids(3 * scale.campaigns_per_merchant)),) * 3, strict=True)
        ):
            campaigns.append({
                "id": c, "merchant_id": m, "partner_id": None, "name": f"Campaign {k}",
                "objective": "Bring customers back", "fine_print": "Limit one per customer",
                "start_at": NOW - timedelta(days=10), "end_at": NOW + timedelta(days=300),
                "redeemable_from": NOW - timedelta(days=10), "redeemable_to": NOW + timedelta(days=400),
                "time_zone": "America/Los_Angeles", "created_at": NOW + timedelta(seconds=k),
            })  # fmt: skip
            variants.append(
                {
                    "id": control,
                    "campaign_id": c,
                    "name": "Control",
                    "reward_template_id": None,
                    "position": 0,
                }
            )
            variants.append(
                {
                    "id": treat,
                    "campaign_id": c,
                    "name": "Treatment",
                    "reward_template_id": tpl_ids[k],
                    "position": 1,
                }
            )
            campaigns_of.setdefault(m, []).append((c, treat, tpl_ids[k]))
            out.treatments.setdefault(m, (c, treat))
            out.campaign_ids.append(c)
    await _bulk(engine, RewardTemplate, templates)
    await _bulk(engine, Campaign, campaigns)
    await _bulk(engine, CampaignVariant, variants)

    user_ids = new_ids(scale.users)
    users: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    for i, u in enumerate(user_ids):
        m = merchant_ids[i % scale.merchants]
        email = f"user{i}@bench.example"
        users.append({
            "id": u, "email": email, "phone": f"+1415{2000000 + i:07d}", "first_name": "Bench",
            "last_name": f"User{i}", "birth_date": None, "zip_code": "94105",
            "created_at": NOW, "updated_at": NOW + timedelta(seconds=i),
        })  # fmt: skip
        members.append({
            "user_id": u, "merchant_id": m, "joined_at": NOW, "tier": "bronze", "points_balance": Decimal("10.00"),
        })  # fmt: skip
        if i % 997 == 0:
            out.sample_emails.append((m, email))
            out.sample_members.append((m, u))
    await _bulk(engine, User, users)
    await _bulk(engine, Membership, members)

    # Rewards are generated and inserted a block of users at a time, so memory stays flat.
    states = ("available", "available", "available", "active", "used")
    redeem = {
        "type": "manual",
        "text": "Free item",
        "detail": "Any size",
        "window": 60,
        "venue": "all",
    }
    images = {"index": {"small": "https://img.example/s.png", "large": "https://img.example/l.png"}}
    total_rewards = 0
    block = 10_000
    for first in range(0, scale.users, block):
        rewards: list[dict[str, Any]] = []
        block_users = user_ids[first : first + block]
        reward_ids = iter(new_ids(len(block_users) * scale.rewards_per_user))
        for offset, u in enumerate(block_users):
            m = merchant_ids[(first + offset) % scale.merchants]
            for _ in range(scale.rewards_per_user):
                c, variant, tpl = campaigns_of[m][rnd.randrange(len(campaigns_of[m]))]
                state = states[rnd.randrange(len(states))]
                created = NOW - timedelta(minutes=rnd.randrange(100_000))
                rewards.append({
                    "id": next(reward_ids), "user_id": u, "merchant_id": m, "campaign_id": c,
                    "variant_id": variant, "reward_template_id": tpl, "issuance_job_id": None,
                    "identifier_index": None, "state": state, "earn_type": "campaign",
                    "redeem": redeem, "images": images, "fine_print": "Limit one per customer",
                    "instructions": "Ring up as free", "coupon_code": None, "available_at": created,
                    "activated_at": created if state != "available" else None,
                    "used_at": created if state == "used" else None,
                    "retire_at": NOW + timedelta(days=400), "revoked_at": None,
                    "created_at": created, "updated_at": created,
                })  # fmt: skip
        await _bulk(engine, Reward, rewards)
        total_rewards += len(rewards)
        await _engagement(engine, scale, rnd, block_users, first, merchant_ids, locations_of)
    if scale.tags_per_user:
        out.tagged_user = (
            merchant_ids[len(user_ids) // 2 % scale.merchants],
            user_ids[len(user_ids) // 2],
        )

    async with database.write_sessions() as session, session.begin():
        issued = await partner_service.create_partner(
            session, name="Bench Partner", scopes=ALL_SCOPES, merchant_ids=merchant_ids
        )
        # An end-user token is minted by a credential (one without is refused).
        credential_id = await auth_repository.credential_id_of(session, issued.client_id)
    assert credential_id is not None, "the partner made just above has a credential"
    out.client_id, out.access_token = issued.client_id, issued.access_token
    out.merchant_ids = merchant_ids

    secret = new_secret()
    await _bulk(engine, EndUserToken, [{
        "id": new_ids(1)[0], "token_hash": hash_secret(secret), "user_id": user_ids[0],
        "merchant_id": merchant_ids[0], "credential_id": credential_id, "scope": "passwordless",
        "created_at": NOW, "expires_at": None, "revoked_at": None,
    }])  # fmt: skip
    out.user_token = secret
    if scale.one_way_rewards:
        await _one_way_pool(engine, scale, out, user_ids[-1], campaigns_of, credential_id)
    if engine.dialect.name == "postgresql":
        # Planner statistics, as autovacuum would have gathered them on an operator's server
        # (it may be off on a test machine, and it runs a while after a bulk load).
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    out.counts = {
        "merchants": len(merchant_ids),
        "users": len(users),
        "campaigns": len(campaigns),
        "rewards": total_rewards,
        "feedback": scale.users * scale.feedback_per_user,
        "tags": scale.users * scale.tags_per_user,
    }
    return out
