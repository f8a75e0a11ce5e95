"""``thanx-server admin points ...``: a merchant's points experience and points products.

Like every admin command, each imports the service it calls inside its body (fast start-up).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from thanx_server.cli.output import clean_errors, emit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

points_app = typer.Typer(
    help="Points: a merchant's points experience and what its points buy.", no_args_is_help=True
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _run(work: Any) -> Any:
    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.settings import Settings

    return run_in_transaction(Settings(), work, upgrade=True)


def _instant(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    from thanx_server.kit.errors import ValidationFailed

    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{option}: not an ISO 8601 instant") from None
    if parsed.tzinfo is None:
        raise ValidationFailed(f"{option}: needs an offset or Z")
    return parsed


@points_app.command("experience-create")
def experience_create(
    merchant: Annotated[str, typer.Option(help="Merchant id.")],
    name: Annotated[str, typer.Option(help="Display name, e.g. 'Pizza Points'.")],
    currency_name: Annotated[str, typer.Option(help="One point is called...")] = "point",
    currency_plural: Annotated[str, typer.Option(help="Several are called...")] = "points",
    description: Annotated[str | None, typer.Option(help="How points are earned.")] = None,
    conversion: Annotated[str, typer.Option(help="Points per currency unit spent.")] = "1",
    as_json: JsonFlag = False,
) -> None:
    """Give a merchant its points experience (one per merchant): purchases then earn
    `conversion` points per currency unit."""
    from thanx_server.points import service as points_service

    async def work(session: AsyncSession) -> dict[str, Any]:
        e = await points_service.create_experience(
            session,
            merchant_id=merchant,
            name=name,
            currency_name=currency_name,
            currency_plural=currency_plural,
            currency_description=description,
            conversion=_decimal(conversion, "--conversion"),
        )
        return {"id": e.id, "merchant_id": e.merchant_id, "name": e.name,
                "conversion": str(e.conversion)}  # fmt: skip

    with clean_errors():
        emit(_run(work), as_json=as_json, human=lambda d: f"{d['id']}  {d['name']}")


@points_app.command("product-create")
def product_create(
    merchant: Annotated[str, typer.Option(help="Merchant id (it needs a points experience).")],
    template: Annotated[str, typer.Option(help="Published reward template it gives.")],
    cost: Annotated[str, typer.Option(help="Points it costs.")],
    start: Annotated[str | None, typer.Option(help="Exchangeable from (ISO 8601).")] = None,
    end: Annotated[str | None, typer.Option(help="Exchangeable until (ISO 8601).")] = None,
    location: Annotated[
        list[str] | None, typer.Option(help="A location it is valid at (repeat; none: all).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Offer a reward template for points."""
    from thanx_server.points import service as points_service

    async def work(session: AsyncSession) -> dict[str, Any]:
        p = await points_service.create_product(
            session,
            merchant_id=merchant,
            reward_template_id=template,
            cost=_decimal(cost, "--cost"),
            exchange_start_at=_instant(start, "--start"),
            exchange_end_at=_instant(end, "--end"),
            valid_location_ids=location or [],
        )
        return {"id": p.id, "merchant_id": p.merchant_id, "reward_template_id":
                p.reward_template_id, "cost": str(p.cost)}  # fmt: skip

    with clean_errors():
        emit(_run(work), as_json=as_json, human=lambda d: f"{d['id']}  {d['cost']} points")


def _decimal(value: str, option: str) -> Decimal:
    from decimal import InvalidOperation

    from thanx_server.kit.errors import ValidationFailed

    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise ValidationFailed(f"{option}: not a number") from None
    if not parsed.is_finite():
        raise ValidationFailed(f"{option}: not a number")
    return parsed
