"""``thanx-server admin ...``: operator commands over the services. Every command takes --json.

Partners script test fixtures with these commands, so each one starts fast: a command imports the
service it calls inside its own body, and nothing here loads the web layer (FastAPI, Starlette,
uvicorn). ``tests/test_cli_imports.py`` holds that line.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from thanx_server.cli.admin_points import points_app
from thanx_server.cli.output import clean_errors, emit, fail

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.feedback.service import FeedbackView
    from thanx_server.kit.scoping import MerchantScope

app = typer.Typer(
    help=(
        "Create and list merchants, locations, users, partners, reward templates, feedback "
        "and operator credentials; revoke end-user tokens."
    ),
    no_args_is_help=True,
)
merchant_app = typer.Typer(help="Merchants.", no_args_is_help=True)
location_app = typer.Typer(help="Locations.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their memberships.", no_args_is_help=True)
partner_app = typer.Typer(help="Partners and their credentials.", no_args_is_help=True)
feedback_app = typer.Typer(
    help="Feedback records; view/rate/review play the customer (sandbox only).",
    no_args_is_help=True,
)
app.add_typer(merchant_app, name="merchant")
app.add_typer(location_app, name="location")
app.add_typer(user_app, name="user")
app.add_typer(partner_app, name="partner")
template_app = typer.Typer(
    help="Reward templates (what campaign variants give).", no_args_is_help=True
)
app.add_typer(template_app, name="template")
app.add_typer(feedback_app, name="feedback")
operator_app = typer.Typer(
    help="Operator credentials: they steer the whole sandbox (/sandbox/..., the console).",
    no_args_is_help=True,
)
app.add_typer(operator_app, name="operator")
token_app = typer.Typer(
    help="End-user tokens (minted by POST /partner/oauth/token).", no_args_is_help=True
)
app.add_typer(token_app, name="token")
app.add_typer(points_app, name="points")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _decimal(text: str, name: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        fail(f"{name}: not a number: {text!r}")


def _run(work: Any) -> Any:
    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.settings import Settings

    return run_in_transaction(Settings(), work, upgrade=True)


@merchant_app.command("create")
def merchant_create(
    name: Annotated[str, typer.Option(help="Display name.")],
    handle: Annotated[str, typer.Option(help="Unique lowercase handle, e.g. pizzatown.")],
    time_zone: Annotated[str, typer.Option(help="IANA zone.")] = "America/Los_Angeles",
    olo_integrated: Annotated[
        bool, typer.Option("--olo-integrated", help="Rewards and points products get olo_uid.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    from thanx_server.merchant import service as merchant_service

    async def work(session: AsyncSession) -> dict[str, Any]:
        m = await merchant_service.create_merchant(
            session, name=name, handle=handle, time_zone=time_zone, olo_integrated=olo_integrated
        )
        return {"id": m.id, "name": m.name, "handle": m.handle, "time_zone": m.time_zone,
                "olo_integrated": m.olo_integrated}  # fmt: skip

    with clean_errors():
        emit(_run(work), as_json=as_json, human=lambda d: f"{d['id']}  {d['handle']}  {d['name']}")


@merchant_app.command("list")
def merchant_list(as_json: JsonFlag = False) -> None:
    from thanx_server.merchant import service as merchant_service

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [
            {"id": m.id, "name": m.name, "handle": m.handle, "time_zone": m.time_zone}
            for m in await merchant_service.all_merchants(session)
        ]

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda rows: "\n".join(f"{r['id']}  {r['handle']}  {r['name']}" for r in rows),
        )


@location_app.command("create")
def location_create(
    merchant: Annotated[str, typer.Option(help="Merchant id.")],
    name: Annotated[str | None, typer.Option()] = None,
    street: Annotated[str | None, typer.Option()] = None,
    city: Annotated[str | None, typer.Option()] = None,
    state: Annotated[str | None, typer.Option()] = None,
    zip_code: Annotated[str | None, typer.Option("--zip")] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
) -> None:
    from thanx_server.merchant import service as merchant_service

    async def work(session: AsyncSession) -> dict[str, Any]:
        loc = await merchant_service.create_location(
            session,
            merchant_id=merchant,
            name=name,
            street=street,
            city=city,
            state=state,
            zip_code=zip_code,
            phone=phone,
        )
        return {"id": loc.id, "merchant_id": loc.merchant_id, "name": loc.name}

    with clean_errors():
        emit(_run(work), as_json=as_json, human=lambda d: f"{d['id']}  {d['name'] or ''}")


@location_app.command("list")
def location_list(
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    as_json: JsonFlag = False,
) -> None:
    from thanx_server.merchant import service as merchant_service

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [
            {"id": loc.id, "merchant_id": loc.merchant_id, "name": loc.name, "city": loc.city}
            for loc in await merchant_service.all_locations(session, merchant)
        ]

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda rows: "\n".join(
                f"{r['id']}  {r['merchant_id']}  {r['name'] or ''}" for r in rows
            ),
        )


@user_app.command("create")
def user_create(
    merchant: Annotated[str, typer.Option(help="Merchant id to enrol the user at.")],
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option(help="E.164, e.g. +14155551212.")] = None,
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
    birth_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD.")] = None,
    zip_code: Annotated[str | None, typer.Option("--zip")] = None,
    tier: Annotated[str, typer.Option()] = "bronze",
    points: Annotated[str, typer.Option(help="Points balance.")] = "0",
    as_json: JsonFlag = False,
) -> None:
    from thanx_server.user import service as user_service

    async def work(session: AsyncSession) -> dict[str, Any]:
        user, membership = await user_service.create_member(
            session,
            merchant_id=merchant,
            email=email,
            phone=phone,
            first_name=first_name,
            last_name=last_name,
            birth_date=date.fromisoformat(birth_date) if birth_date else None,
            zip_code=zip_code,
            tier=tier,
            points_balance=_decimal(points, "points"),
        )
        return {
            "id": user.id,
            "email": user.email,
            "phone": user.phone,
            "merchant_id": membership.merchant_id,
            "tier": membership.tier,
        }

    with clean_errors():
        emit(_run(work), as_json=as_json, human=lambda d: f"{d['id']}  {d['email'] or d['phone']}")


@user_app.command("list")
def user_list(
    merchant: Annotated[str | None, typer.Option(help="Only members of this merchant.")] = None,
    as_json: JsonFlag = False,
) -> None:
    from thanx_server.user import service as user_service

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [
            {
                "id": u.id,
                "email": u.email,
                "phone": u.phone,
                "merchant_id": m.merchant_id,
                "tier": m.tier,
                "points_balance": m.points_balance,
            }
            for u, m in await user_service.list_members(session, merchant)
        ]

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda rows: "\n".join(
                f"{r['id']}  {r['merchant_id']}  {r['email'] or ''}  {r['phone'] or ''}"
                for r in rows
            ),
        )


@partner_app.command("create")
def partner_create(
    name: Annotated[str, typer.Option(help="Partner name.")],
    merchant: Annotated[list[str], typer.Option(help="A merchant id to grant; repeat.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="A scope to grant; repeat for several. None: metadata endpoints only."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a partner and print its client id and access token (shown only this once)."""
    from thanx_server.partner import service as partner_service

    async def work(session: AsyncSession) -> partner_service.IssuedCredential:
        return await partner_service.create_partner(
            session, name=name, scopes=scope or [], merchant_ids=merchant
        )

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda c: (
                f"partner:      {c.partner_id} ({c.partner_name})\n"
                f"client id:    {c.client_id}\n"
                f"access token: {c.access_token}   (shown once; only its digest is stored)\n"
                f"scopes:       {' '.join(c.scopes)}\n"
                f"merchants:    {' '.join(c.merchant_ids)}"
            ),
        )


@partner_app.command("revoke")
def partner_revoke(
    client_id: Annotated[str, typer.Option(help="The credential's client id.")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a credential: its token stops working."""
    from thanx_server.partner import service as partner_service

    async def work(session: AsyncSession) -> partner_service.CredentialView:
        return await partner_service.revoke_credential(session, client_id=client_id)

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda c: f"revoked {c.client_id} at {c.revoked_at.isoformat()}",
        )


@partner_app.command("list")
def partner_list(as_json: JsonFlag = False) -> None:
    from thanx_server.partner import service as partner_service

    async def work(session: AsyncSession) -> list[partner_service.PartnerView]:
        return await partner_service.list_partners(session)

    def human(rows: list[partner_service.PartnerView]) -> str:
        lines = []
        for p in rows:
            lines.append(f"{p.id}  {p.name}  merchants: {' '.join(p.merchant_ids)}")
            for c in p.credentials:
                state = "revoked" if c.revoked_at else "active"
                lines.append(f"    {c.client_id}  {state}  {' '.join(c.scopes)}")
        return "\n".join(lines)

    with clean_errors():
        emit(_run(work), as_json=as_json, human=human)


# --- end-user tokens ------------------------------------------------------------------------


@token_app.command("revoke")
def token_revoke(
    user: Annotated[str | None, typer.Option(help="Every live token of this user id.")] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Every live token minted by this partner credential.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Revoke end-user tokens by user, by minting credential, or both (that user's tokens from
    that credential). API processes stop accepting them within THANX_AUTH_CACHE_SECONDS."""
    from thanx_server.auth import tokens

    async def work(session: AsyncSession) -> tokens.RevokedTokens:
        return await tokens.revoke_tokens(session, user_id=user, client_id=client_id)

    with clean_errors():
        emit(_run(work), as_json=as_json, human=lambda r: f"revoked {r.count} token(s)")


# --- operators ------------------------------------------------------------------------------


@operator_app.command("create")
def operator_create(
    name: Annotated[str, typer.Option(help="Who or what uses it, e.g. 'ci'.")],
    as_json: JsonFlag = False,
) -> None:
    """Create an operator credential and print its client id and access token (shown once)."""
    from thanx_server.operators import service as operator_service

    async def work(session: AsyncSession) -> operator_service.IssuedOperator:
        return await operator_service.create_operator(session, name=name)

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda c: (
                f"operator:     {c.name}\n"
                f"client id:    {c.client_id}\n"
                f"access token: {c.access_token}   (shown once; only its digest is stored)"
            ),
        )


@operator_app.command("list")
def operator_list(as_json: JsonFlag = False) -> None:
    """Every operator credential (never its token)."""
    from thanx_server.operators import service as operator_service

    async def work(session: AsyncSession) -> list[operator_service.OperatorView]:
        return await operator_service.list_operators(session)

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda rows: "\n".join(
                f"{o.client_id}  {'revoked' if o.revoked_at else 'active'}  {o.name}" for o in rows
            ),
        )


@operator_app.command("revoke")
def operator_revoke(
    client_id: Annotated[str, typer.Option(help="The credential's client id.")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke an operator credential: its token stops working."""
    from thanx_server.operators import service as operator_service

    async def work(session: AsyncSession) -> operator_service.OperatorView:
        return await operator_service.revoke_operator(session, client_id=client_id)

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda o: f"revoked {o.client_id} at {o.revoked_at.isoformat()}",
        )


# --- feedback -------------------------------------------------------------------------------


async def _every_merchant(session: AsyncSession) -> MerchantScope:
    """The operator is trusted with every merchant."""
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.merchant import service as merchant_service

    return MerchantScope(tuple(m.id for m in await merchant_service.all_merchants(session)))


def _feedback_line(f: FeedbackView) -> str:
    rating = "-" if f.rating is None else str(f.rating)
    return f"{f.id}  {f.state:<9}  rating {rating:>2}  user {f.user_id}  merchant {f.merchant_id}"


FeedbackId = Annotated[str, typer.Option("--id", help="Feedback record id.")]


def _require_sandbox() -> None:
    from thanx_server.settings import Settings

    if not Settings().is_sandbox:
        fail("customer feedback steps exist only in a sandbox (THANX_ENVIRONMENT=sandbox)")


@feedback_app.command("list")
def feedback_list(
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    state: Annotated[list[str] | None, typer.Option(help="Only this state; repeat.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Feedback records, newest first, with their state as a partner reads it."""
    from thanx_server.feedback import service as feedback_service
    from thanx_server.kit.pagination import Page
    from thanx_server.kit.scoping import MerchantScope

    async def work(session: AsyncSession) -> list[feedback_service.FeedbackView]:
        scope = MerchantScope((merchant,)) if merchant else await _every_merchant(session)
        result = await feedback_service.list_in_scope(
            session, scope, states=state or (), page=Page(page=1, per_page=limit)
        )
        return list(result.items)

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda rows: "\n".join(_feedback_line(f) for f in rows),
        )


@feedback_app.command("view")
def feedback_view(feedback_id: FeedbackId, as_json: JsonFlag = False) -> None:
    """As the customer: see the feedback prompt (unviewed -> viewed)."""
    _require_sandbox()
    from thanx_server.feedback import service as feedback_service
    from thanx_server.settings import Settings

    async def work(session: AsyncSession) -> feedback_service.FeedbackView:
        return await feedback_service.customer_view(
            session,
            await _every_merchant(session),
            feedback_id=feedback_id,
            sandbox=Settings().is_sandbox,
        )

    with clean_errors():
        emit(_run(work), as_json=as_json, human=_feedback_line)


@feedback_app.command("rate")
def feedback_rate(
    feedback_id: FeedbackId,
    rating: Annotated[int, typer.Option(help="Score from 0 to 10.")],
    as_json: JsonFlag = False,
) -> None:
    """As the customer: leave a 0-10 score (unviewed/viewed -> rated)."""
    _require_sandbox()
    from thanx_server.feedback import service as feedback_service
    from thanx_server.settings import Settings

    async def work(session: AsyncSession) -> feedback_service.FeedbackView:
        return await feedback_service.customer_rate(
            session,
            await _every_merchant(session),
            feedback_id=feedback_id,
            rating=rating,
            sandbox=Settings().is_sandbox,
        )

    with clean_errors():
        emit(_run(work), as_json=as_json, human=_feedback_line)


@feedback_app.command("review")
def feedback_review(
    feedback_id: FeedbackId,
    text: Annotated[str, typer.Option("--text", help="The customer's review.")],
    as_json: JsonFlag = False,
) -> None:
    """As the customer: write a review of a rated record (rated -> reviewed)."""
    _require_sandbox()
    from thanx_server.feedback import service as feedback_service
    from thanx_server.settings import Settings

    async def work(session: AsyncSession) -> feedback_service.FeedbackView:
        return await feedback_service.customer_review(
            session,
            await _every_merchant(session),
            feedback_id=feedback_id,
            review=text,
            sandbox=Settings().is_sandbox,
        )

    with clean_errors():
        emit(_run(work), as_json=as_json, human=_feedback_line)


# --- templates -------------------------------------------------------------------------------


def _template_dict(t: Any) -> dict[str, Any]:
    return {
        "id": t.id,
        "merchant_id": t.merchant_id,
        "name": t.name,
        "type": t.type,
        "subtype": t.subtype,
        "description": t.description,
        "fine_print": t.fine_print,
        "discount": t.discount,
        "redemption_venue": t.redemption_venue,
        "images": t.images,
        "published": t.published,
        "static_coupon_code": t.static_coupon_code,
        "uses_dynamic_coupon_codes": t.uses_dynamic_coupon_codes,
    }


def _template_line(d: dict[str, Any]) -> str:
    state = "published" if d["published"] else "draft"
    return f"{d['id']}  {d['merchant_id']}  {state}  {d['name']}"


@template_app.command("create")
def template_create(
    merchant: Annotated[str, typer.Option(help="Merchant id.")],
    name: Annotated[str, typer.Option(help="Display name, e.g. 'Free Coffee'.")],
    description: Annotated[str | None, typer.Option()] = None,
    fine_print: Annotated[str | None, typer.Option()] = None,
    instructions: Annotated[str | None, typer.Option(help="How to redeem.")] = None,
    discount_type: Annotated[str, typer.Option(help="free_item, amount or percent.")] = "free_item",
    discount_value: Annotated[
        str | None, typer.Option(help="Amount or percent (not for free_item).")
    ] = None,
    redemption_venue: Annotated[str, typer.Option(help="all, instore or online.")] = "all",
    redeem_type: Annotated[str, typer.Option(help="manual or automatic.")] = "manual",
    redeem_window: Annotated[
        int | None, typer.Option(help="Minutes an activated reward stays usable.")
    ] = None,
    image_url: Annotated[str | None, typer.Option(help="Image URL for every slot.")] = None,
    draft: Annotated[
        bool, typer.Option("--draft", help="Unpublished: invisible to partners.")
    ] = False,
    coupon_code: Annotated[
        str | None, typer.Option(help="A static coupon code every reward shows once active.")
    ] = None,
    dynamic_coupon_codes: Annotated[
        bool,
        typer.Option(
            "--dynamic-coupon-codes",
            help="Each activation pulls a code from a pool (admin template coupon-codes).",
        ),
    ] = False,
    coupon_code_type: Annotated[
        str | None, typer.Option(help="text, qrcode, code128, upca or ean13 (default text).")
    ] = None,
    coupon_code_display: Annotated[
        str | None, typer.Option(help="Label shown under the code.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a reward template (published unless --draft)."""
    from thanx_server.template import service as template_service

    async def work(session: AsyncSession) -> dict[str, Any]:
        t = await template_service.create_template(
            session,
            merchant_id=merchant,
            name=name,
            description=description,
            fine_print=fine_print,
            instructions=instructions,
            discount_type=discount_type,
            discount_value=discount_value,
            redemption_venue=redemption_venue,
            redeem_type=redeem_type,
            redeem_window=redeem_window,
            image_url=image_url,
            published=not draft,
            static_coupon_code=coupon_code,
            uses_dynamic_coupon_codes=dynamic_coupon_codes,
            coupon_code_type=coupon_code_type,
            coupon_code_display=coupon_code_display,
        )
        return _template_dict(t)

    with clean_errors():
        emit(_run(work), as_json=as_json, human=_template_line)


@template_app.command("coupon-codes")
def template_coupon_codes(
    template: Annotated[str, typer.Option(help="Template id (created --dynamic-coupon-codes).")],
    code: Annotated[list[str] | None, typer.Option(help="A code (repeat).")] = None,
    file: Annotated[
        Path | None, typer.Option(help="A file of codes, one per line.", exists=True)
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add codes to a template's dynamic coupon pool (codes already there are skipped)."""
    from thanx_server.template import service as template_service

    codes = list(code or [])
    if file is not None:
        codes.extend(file.read_text(encoding="utf-8").splitlines())

    async def work(session: AsyncSession) -> dict[str, Any]:
        added = await template_service.add_coupon_codes(session, template_id=template, codes=codes)
        return {"template_id": template, "added": added}

    with clean_errors():
        emit(_run(work), as_json=as_json, human=lambda d: f"{d['added']} codes added")


@template_app.command("list")
def template_list(
    merchant: Annotated[str | None, typer.Option(help="Only this merchant's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every template, published and draft."""
    from thanx_server.template import service as template_service

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [_template_dict(t) for t in await template_service.all_templates(session, merchant)]

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda rows: "\n".join(_template_line(r) for r in rows),
        )
