"""Demo data for the sandbox: idempotent, so a second run adds nothing.

Each feature contributes a step (``DEMO_STEPS``); a step finds its records by stable natural keys
(merchant handle, user email, partner name...) before creating anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.campaign import service as campaign_service
from thanx_server.campaign.schemas import CampaignIn, VariantIn
from thanx_server.demo.context import DemoContext
from thanx_server.demo.engagement import engagement_step
from thanx_server.demo.loyalty import loyalty_step
from thanx_server.issuance import service as issuance_service
from thanx_server.kit.clock import business_now
from thanx_server.kit.ids import new_id
from thanx_server.kit.time import utcnow
from thanx_server.merchant import repository as merchant_repository
from thanx_server.merchant import service as merchant_service
from thanx_server.operators import service as operator_service
from thanx_server.partner import service as partner_service
from thanx_server.template import service as template_service
from thanx_server.user import service as user_service

DEMO_PARTNER = "Demo Partner"
DEMO_OPERATOR = "Demo Operator"
CREDENTIALS_FILE = "demo-credentials.json"


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
    """The demo partner (every scope, `sandbox` included; both merchants) and the demo operator.
    Their tokens are kept in the data dir, because the database only holds digests and
    `make run` prints the tokens every time."""
    path = ctx.data_dir / CREDENTIALS_FILE
    saved = json.loads(path.read_text()) if path.exists() else {}
    partner = await partner_service.find_partner(session, DEMO_PARTNER)
    if partner is not None and "client_id" in saved:
        ctx.client_id, ctx.access_token = saved["client_id"], saved["access_token"]
    else:
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
    operator = await operator_service.find_active_by_name(session, DEMO_OPERATOR)
    kept = saved.get("operator")
    if operator is not None and kept and kept.get("client_id") == operator.client_id:
        ctx.operator_client_id, ctx.operator_access_token = kept["client_id"], kept["access_token"]
    else:
        if operator is not None:  # its token was lost with the file: replace it
            operator.revoked_at = utcnow()
            await session.flush()
        made = await operator_service.create_operator(session, name=DEMO_OPERATOR)
        ctx.created += 1
        ctx.operator_client_id, ctx.operator_access_token = made.client_id, made.access_token
    wanted = {
        "client_id": ctx.client_id,
        "access_token": ctx.access_token,
        "operator": {
            "client_id": ctx.operator_client_id,
            "access_token": ctx.operator_access_token,
        },
    }
    if saved != wanted:
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(wanted, fh)


TEMPLATES = {
    # name, description, discount type, value, published, fine print, instructions
    "pizzatown": (
        ("Free Slice", "One free slice of any pizza", "free_item", None, True,
         "One slice per visit. Specialty slices included.", "Ring up any slice at $0."),
        ("$5 Off Any Pie", "$5 off any whole pizza", "amount", "5", True,
         "Whole pies only; not valid on catering orders.", "Apply a $5 discount to one pie."),
        ("Half-Price Calzone", "Half price on any calzone (draft)", "percent", "50", False,
         "Dine-in only.", "Apply 50% to one calzone."),
    ),
    "beanthere": (
        ("Free Coffee", "One free coffee, any size", "free_item", None, True,
         "Drip or americano; espresso drinks excluded.", "Ring up one coffee at $0."),
        ("20% Off Pastries", "20% off any pastry", "percent", "20", True,
         "Up to three pastries per order.", "Apply 20% to the pastries on the order."),
        ("Free Cold Brew", "A free cold brew (draft)", "free_item", None, False,
         "Summer menu only.", "Ring up one cold brew at $0."),
    ),
}  # fmt: skip
DEMO_CAMPAIGN = "Welcome Back"


async def _campaigns(session: AsyncSession, ctx: DemoContext) -> None:
    """Templates (two published, one draft), a campaign with a treatment and a Control variant,
    and one issuance job per merchant, so `make run` can show issuing and polling at once."""
    partner = await partner_service.find_partner(session, DEMO_PARTNER)
    now = business_now().replace(microsecond=0)
    for handle, merchant in ctx.merchants.items():
        templates = []
        for name, description, discount, value, published, fine, steps in TEMPLATES[handle]:
            template = await template_service.find_template_by_name(
                session, merchant_id=merchant.id, name=name
            )
            if template is None:
                template = await template_service.create_template(
                    session,
                    merchant_id=merchant.id,
                    name=name,
                    description=description,
                    fine_print=fine,
                    instructions=steps,
                    discount_type=discount,
                    discount_value=value,
                    redemption_venue="all",
                    published=published,
                )
                ctx.created += 1
            templates.append(template)
        view = await campaign_service.find_campaign_by_name(
            session, merchant_id=merchant.id, name=DEMO_CAMPAIGN
        )
        if view is None:
            data = CampaignIn(
                merchant_id=merchant.id,
                name=DEMO_CAMPAIGN,
                objective="Bring lapsed guests back with a treat.",
                fine_print="Limit one per guest.",
                start_at=now - timedelta(days=1),
                end_at=now + timedelta(days=365),
                redeemable_from=now - timedelta(days=1),
                redeemable_to=now + timedelta(days=395),
                variants=[
                    VariantIn(name="Treatment", reward_template_id=templates[0].id),
                    VariantIn(name="Control"),
                ],
            )
            view = await campaign_service.create_campaign(
                session,
                merchant_id=merchant.id,
                partner_id=partner.id if partner else None,
                data=data,
            )
            ctx.created += 1
        treatment = view.variants[0]
        emails = [u[0] for u in USERS if handle in u[6]]
        job = await issuance_service.first_job_of_campaign(session, view.campaign.id)
        if job is None:
            job = await issuance_service.create_job(
                session,
                merchant_id=merchant.id,
                campaign_id=view.campaign.id,
                variant_id=treatment.id,
                identifiers=[{"type": "email", "value": e} for e in emails]
                + [{"type": "email", "value": "nobody@example.com"}],
            )
            ctx.created += 1
        if handle == next(iter(ctx.merchants)):
            body = json.dumps(
                {
                    "merchant_id": merchant.id,
                    "campaign_id": view.campaign.id,
                    "variant_id": treatment.id,
                    "identifiers": [{"type": "email", "value": e} for e in emails[:2]]
                    + [{"type": "phone", "value": "+14155550199"}],
                }
            )
            ctx.hints += [
                ("Reward templates (published)", "{base}/partner/reward_templates"),
                ("Campaigns", f"'{{base}}/partner/campaigns?merchant_id={merchant.id}'"),
                (
                    "Issue rewards (202: a pending issuance job; poll it by its id)",
                    "-X POST -H 'Content-Type: application/json' "
                    f"-H 'X-Idempotency-Key: demo-{new_id()}' -d '{body}' "
                    "{base}/partner/campaigns/issue",
                ),
                (
                    "The demo issuance job (the embedded worker completes it)",
                    f"'{{base}}/partner/issuance_jobs/{job.id}?merchant_id={merchant.id}'",
                ),
            ]


DemoStep = Callable[[AsyncSession, DemoContext], Awaitable[None]]

DEMO_STEPS: list[DemoStep] = [
    _merchants,
    _users,
    _partner,
    _campaigns,
    engagement_step,
    loyalty_step,
]


async def load_demo(
    session: AsyncSession, data_dir: Path, *, base_url: str = "http://127.0.0.1:8000"
) -> DemoContext:
    ctx = DemoContext(data_dir=data_dir, base_url=base_url.rstrip("/"))
    for step in DEMO_STEPS:
        await step(session, ctx)
    return ctx
