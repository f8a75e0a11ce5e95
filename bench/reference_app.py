"""The issue's orientation points as tiny apps, measured on the same machine in the same run.

Issue 6 states its targets next to reference points measured on its own machine (a bare FastAPI
ping, a FastAPI + SQLAlchemy get-by-primary-key, the same query through plain asyncpg). Machines
differ, so ``bench.http`` measures these three here too, under the same wrk settings, against the
benchmark's own ``merchants`` table. Served by uvicorn: ``bench.reference_app:app``;
``REFERENCE_DATABASE_URL`` (SQLAlchemy URL) and ``REFERENCE_MERCHANT_ID`` configure it.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
from fastapi import FastAPI
from sqlalchemy import String
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

URL = os.environ["REFERENCE_DATABASE_URL"]
MERCHANT_ID = os.environ["REFERENCE_MERCHANT_ID"]


class _Base(DeclarativeBase):
    pass


class _Merchant(_Base):
    __tablename__ = "merchants"
    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str]
    handle: Mapped[str]


engine = create_async_engine(URL, pool_size=10, max_overflow=0)
sessions = async_sessionmaker(engine, expire_on_commit=False)
pool: Any = None
app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}


@app.get("/orm")
async def orm() -> dict[str, str]:
    async with sessions() as session:
        merchant = await session.get(_Merchant, MERCHANT_ID)
        assert merchant is not None
        return {"id": merchant.id, "name": merchant.name, "handle": merchant.handle}


@app.get("/asyncpg")
async def plain() -> dict[str, str]:
    global pool
    if pool is None:
        pool = await asyncpg.create_pool(URL.replace("+asyncpg", ""), min_size=1, max_size=10)
    row = await pool.fetchrow("SELECT id, name, handle FROM merchants WHERE id = $1", MERCHANT_ID)
    return {"id": row[0], "name": row[1], "handle": row[2]}
