"""The fast read path (kit/fastread.py) and one-parameter lists (kit/sqlarray.py), on both engines.

Endpoint tests run the fast queries on their session connection (``SessionReads``); the server
runs them on its own driver connections (``DriverReads``). Here both backends read the same
committed rows, and each result must equal what the ORM loads: same values, same Python types
(aware UTC datetimes, dicts from JSON, Decimal, date, bool).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests import loyalty_factories as lf
from tests.factories import Factory
from thanx_server.campaign import repository as campaigns
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.errors import is_db_unreachable
from thanx_server.kit.fastread import DriverReads, ReadQuery, Reads, reads_on, select_row
from thanx_server.kit.pagination import Page
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list
from thanx_server.models import Campaign, Membership, Merchant, Reward, User
from thanx_server.reward import repository as rewards
from thanx_server.user import repository as users


class Seeded(NamedTuple):
    merchants: list[str]
    campaign: Campaign
    user: User
    membership: Membership
    rewards: list[Reward]


@pytest.fixture
async def seeded(fresh_db_url: str) -> AsyncIterator[tuple[Database, Seeded]]:
    database = Database.from_engine(create_engine(fresh_db_url))
    async with database.write_sessions() as session, session.begin():
        factory = Factory(session)
        merchants = [await factory.merchant() for _ in range(3)]
        tpl = await lf.template(session, merchants[0])
        camp, variant = await lf.campaign(session, merchants[0], tpl)
        user, membership = await factory.member(merchants[0])
        user.birth_date = date(1990, 2, 28)
        membership.points_balance = Decimal("12.50")
        held = [await lf.reward(session, user, camp, tpl, variant) for _ in range(3)]
    try:
        yield database, Seeded([m.id for m in merchants], camp, user, membership, held)
    finally:
        await database.dispose()


async def _both(database: Database, session: AsyncSession) -> list[Reads]:
    """The server's driver reads, and reads on ``session``'s connection."""
    assert isinstance(database.reads, DriverReads)
    return [database.reads, reads_on(session)]


async def test_campaign_rows_match_the_orm(seeded: tuple[Database, Seeded]) -> None:
    database, data = seeded
    scope = MerchantScope(tuple(data.merchants))
    async with database.read_sessions() as session:
        orm = await session.get(Campaign, data.campaign.id)
        assert orm is not None
        for reads in await _both(database, session):
            found = await campaigns.read_campaign(reads, scope, data.campaign.id)
            assert found is not None
            row, variants = found
            for field in row._fields:
                assert getattr(row, field) == getattr(orm, field), field
            assert row.start_at.tzinfo is not None
            assert [(v.name, v.position) for v in variants] == [("Control", 0), ("Treatment", 1)]
            assert {v.campaign_id for v in variants} == {data.campaign.id}
            # Another partner's scope does not see it.
            outside = MerchantScope((data.merchants[1],))
            assert await campaigns.read_campaign(reads, outside, data.campaign.id) is None
            assert await campaigns.read_campaign(reads, MerchantScope(()), data.campaign.id) is None


async def test_reward_rows_match_the_orm_json_and_times_included(
    seeded: tuple[Database, Seeded],
) -> None:
    database, data = seeded
    async with database.read_sessions() as session:
        orm = {r.id: r for r in (await session.scalars(select(Reward))).all()}

        async def listed(reads: Reads, page: int, states: tuple[str, ...] = ("available",)) -> Any:
            return await rewards.list_rewards(
                reads,
                user_id=data.user.id,
                scope=MerchantScope(tuple(data.merchants)),
                states=list(states),
                now=data.campaign.start_at,
                page=Page(page=page, per_page=2),
            )

        for reads in await _both(database, session):
            result = await listed(reads, 1)
            assert result.total == 3
            assert len(result.items) == 2
            for row in result.items:
                expected = orm[row.id]
                for field in row._fields:
                    assert getattr(row, field) == getattr(expected, field), field
                assert isinstance(row.redeem, dict)
                assert row.available_at.tzinfo is not None
            for number, count in ((2, 1), (3, 0)):  # the last page, then past the end
                later = await listed(reads, number)
                assert later.total == 3
                assert len(later.items) == count
            past_the_end = await listed(reads, 1, ("used", "active"))
            assert past_the_end.total == 0
            assert past_the_end.items == []


async def test_user_and_membership_rows_keep_date_decimal_and_bool(
    seeded: tuple[Database, Seeded],
) -> None:
    database, data = seeded
    scope = MerchantScope(tuple(data.merchants))
    async with database.read_sessions() as session:
        for reads in await _both(database, session):
            found = await users.list_users(
                reads,
                scope,
                email=data.user.email,
                phone=None,
                updated_after=None,
                updated_before=None,
                page=Page(),
            )
            assert [u.id for u in found.items] == [data.user.id]
            row = found.items[0]
            assert row.birth_date == date(1990, 2, 28)
            assert isinstance(row.birth_date, date)
            assert row.updated_at == data.user.updated_at
            (membership,) = await users.read_memberships(reads, scope, [data.user.id])
            assert membership.points_balance == Decimal("12.50")
            assert isinstance(membership.points_balance, Decimal)
            assert membership.marketing_general_email is True  # a bool, not 1
            assert membership.joined_at == data.membership.joined_at
            found_member = await users.find_member(
                reads,
                scope,
                email=data.user.email,
                phone=data.user.phone,
                updated_after=None,
                updated_before=None,
            )
            assert found_member == (row, membership)
            elsewhere = MerchantScope((data.merchants[2],))
            assert (
                await users.find_member(
                    reads,
                    elsewhere,
                    email=data.user.email,
                    phone=None,
                    updated_after=None,
                    updated_before=None,
                )
                is None
            )
            assert await users.read_user(reads, elsewhere, data.user.id) is None


async def test_in_list_binds_one_parameter_whatever_the_length(
    seeded: tuple[Database, Seeded],
) -> None:
    database, data = seeded
    async with database.read_sessions() as session:
        for wanted in ([], data.merchants[:1], data.merchants, [*data.merchants, "x" * 16] * 40):
            stmt = select(Merchant.id).where(in_list(Merchant.id, wanted))
            compiled = stmt.compile(dialect=database.engine.dialect)
            assert len(compiled.params) == 1
            got = set((await session.scalars(stmt)).all())
            assert got == set(wanted) & set(data.merchants)


async def test_driver_reads_open_on_first_use_reopen_after_close_and_never_write(
    seeded: tuple[Database, Seeded],
) -> None:
    database, _ = seeded

    class MerchantId(NamedTuple):
        id: str

    query = ReadQuery(MerchantId, select_row(MerchantId, Merchant))
    reads = database.reads
    assert isinstance(reads, DriverReads)
    assert len(await reads.all(query)) == 3
    if database.is_sqlite:
        conn: Any = reads._sqlite
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM merchants")
    await reads.close()
    assert len(await reads.all(query)) == 3
    by_id = ReadQuery(
        MerchantId, select_row(MerchantId, Merchant).where(Merchant.id == bindparam("id"))
    )
    with pytest.raises(TypeError, match="needs the parameter 'id'"):
        await reads.all(by_id)


def test_a_row_type_must_name_the_selected_columns() -> None:
    class Wrong(NamedTuple):
        name: str
        id: str

    with pytest.raises(TypeError, match="do not match"):
        ReadQuery(Wrong, select(Merchant.id, Merchant.name))
    ReadQuery(Wrong, select(Merchant.name, Merchant.id).where(Merchant.id == bindparam("id")))


async def test_a_writing_request_reads_its_own_uncommitted_writes(
    seeded: tuple[Database, Seeded],
) -> None:
    database, data = seeded
    scope = MerchantScope(tuple(data.merchants))
    async with database.write_sessions() as session:
        await session.execute(text("UPDATE users SET first_name = 'Changed'"))
        user = await session.get(User, data.user.id)
        assert user is not None
        user.last_name = "Pending"  # not flushed yet: SessionReads flushes first
        (session_reads,) = (await _both(database, session))[1:]
        row = await users.read_user(session_reads, scope, data.user.id)
        assert row is not None
        assert row.first_name == "Changed"
        assert row.last_name == "Pending"
        await session.rollback()


async def test_an_sqlite_file_locked_past_the_read_timeout_is_unavailable(tmp_path: Path) -> None:
    """The driver read waits its 1 s busy timeout, then fails as 'unavailable' (503), not 500."""
    path = tmp_path / "locked.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE merchants (id TEXT PRIMARY KEY, name TEXT, handle TEXT)")
    setup.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO merchants VALUES ('m', 'M', 'm')")

    class MerchantId(NamedTuple):
        id: str

    database = Database.from_engine(create_engine(f"sqlite+aiosqlite:///{path}"))
    try:
        assert isinstance(database.reads, DriverReads)
        with pytest.raises(sqlite3.OperationalError) as raised:
            await database.reads.all(ReadQuery(MerchantId, select_row(MerchantId, Merchant)))
        assert is_db_unreachable(raised.value)
        assert not is_db_unreachable(sqlite3.OperationalError("no such table: merchants"))
    finally:
        holder.close()
        await database.dispose()
