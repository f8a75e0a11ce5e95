"""Demo data for the sandbox: idempotent, so a second run adds nothing.

Each feature contributes a step (``DEMO_STEPS``); a step finds its records by stable natural keys
(merchant handle, user email, partner name...) before creating anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.demo.engagement import engagement_step
from thanx_server.merchant import repository as merchant_repository
from thanx_server.merchant import service as merchant_service
from thanx_server.models import Merchant
from thanx_server.partner import service as partner_service
from thanx_server.user import service as user_service

DEMO_PARTNER = "Demo Partner"
CREDENTIALS_FILE = "demo-credentials.json"


@dataclass
class DemoContext:
    """What the steps share, and what `make run` prints at the end."""

    data_dir: Path
    merchants: dict[str, Merchant] = field(default_factory=dict)
    client_id: str = ""
    access_token: str = ""
    created: int = 0
    hints: list[tuple[str, str]] = field(default_factory=list)


MERCHANTS = (
    ("Pizza Town Co", "pizzatown", "America/Los_Angeles"),
    ("Bean There Coffee", "beanthere", "America/New_York"),
)
LOCATIONS = {
    "pizzatown": (
        ("Pizza Town Mission", "2390 Mission St", "San Francisco", "CA", "94110", "(415) 555-3728"),
        ("Pizza Town Oakland", "410 Grand Ave", "Oakland", "CA", "94610", "(510) 555-0199"),
    ),
    "beanthere": (
        ("Bean There SoHo", "120 Prince St", "New York", "NY", "10012", "(212) 555-0147"),
        ("Bean There Brooklyn", "85 Bedford Ave", "Brooklyn", "NY", "11211", "(718) 555-0163"),
    ),
}
USERS = (
    # email, phone, first, last, birth date, zip, merchants, tier, points
    ("jane.smith@example.com", "+14158672345", "Jane", "Smith", date(1990, 8, 14), "94105",
     ("pizzatown", "beanthere"), "gold", Decimal("120.50")),
    ("ravi.patel@example.com", "+14155550101", "Ravi", "Patel", date(1985, 2, 3), "94110",
     ("pizzatown",), "silver", Decimal("42.00")),
    ("maria.garcia@example.com", "+14155550102", "Maria", "Garcia", None, "94607",
     ("pizzatown",), "bronze", Decimal("5.00")),
    ("li.wei@example.com", "+12125550103", "Li", "Wei", date(1979, 12, 30), "10012",
     ("beanthere",), "bronze", Decimal("0")),
    ("sam.jones@example.com", "+12125550104", "Sam", "Jones", None, "11211",
     ("beanthere",), "silver", Decimal("18.25")),
    ("alex.kim@example.com", "+12125550105", "Alex", "Kim", date(2001, 6, 1), "10003",
     ("beanthere", "pizzatown"), "bronze", Decimal("7.75")),
)  # fmt: skip


async def _merchants(session: AsyncSession, ctx: DemoContext) -> None:
    for name, handle, tz in MERCHANTS:
        merchant = await merchant_repository.get_merchant_by_handle(session, handle)
        if merchant is None:
            merchant = await merchant_service.create_merchant(
                session, name=name, handle=handle, time_zone=tz
            )
            ctx.created += 1
            for loc_name, street, city, state, zip_code, phone in LOCATIONS[handle]:
                await merchant_service.create_location(
                    session,
                    merchant_id=merchant.id,
                    name=loc_name,
                    street=street,
                    city=city,
                    state=state,
                    zip_code=zip_code,
                    phone=phone,
                )
                ctx.created += 1
        ctx.merchants[handle] = merchant


async def _users(session: AsyncSession, ctx: DemoContext) -> None:
    existing = {
        (user.email, membership.merchant_id)
        for user, membership in await user_service.list_members(session, None)
    }
    for email, phone, first, last, born, zip_code, handles, tier, points in USERS:
        for handle in handles:
            merchant_id = ctx.merchants[handle].id
            if (email, merchant_id) in existing:
                continue
            await user_service.create_member(
                session,
                merchant_id=merchant_id,
                email=email,
                phone=phone,
                first_name=first,
                last_name=last,
                birth_date=born,
                zip_code=zip_code,
                tier=tier,
                points_balance=points,
            )
            ctx.created += 1


async def _partner(session: AsyncSession, ctx: DemoContext) -> None:
    """The demo partner: every scope, both merchants. Its token is kept in the data dir, because
    the database only holds a digest and `make run` prints the token every time."""
    path = ctx.data_dir / CREDENTIALS_FILE
    saved = json.loads(path.read_text()) if path.exists() else None
    partner = await partner_service.find_partner(session, DEMO_PARTNER)
    if partner is not None and saved is not None:
        ctx.client_id, ctx.access_token = saved["client_id"], saved["access_token"]
        return
    if partner is not None:
        partner.name = f"{DEMO_PARTNER} (replaced)"
        await session.flush()
    issued = await partner_service.create_partner(
        session,
        name=DEMO_PARTNER,
        scopes=ALL_SCOPES,
        merchant_ids=[m.id for m in ctx.merchants.values()],
    )
    ctx.created += 1
    ctx.client_id, ctx.access_token = issued.client_id, issued.access_token
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"client_id": ctx.client_id, "access_token": ctx.access_token}, fh)


DemoStep = Callable[[AsyncSession, DemoContext], Awaitable[None]]

DEMO_STEPS: list[DemoStep] = [_merchants, _users, _partner, engagement_step]


async def load_demo(session: AsyncSession, data_dir: Path) -> DemoContext:
    ctx = DemoContext(data_dir=data_dir)
    for step in DEMO_STEPS:
        await step(session, ctx)
    return ctx
