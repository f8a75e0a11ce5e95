"""``thanx-server admin webhook ...`` (an operator's endpoints, the log, redeliver, recover) and
``thanx-server listen --forward-to URL`` (a local receiver registered as an endpoint).

Each command calls the same service function as its ``/sandbox/...`` endpoint, directly on the
database (the command line is trusted with every merchant), and imports what it runs inside its
body, so no command loads the web stack.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from thanx_server.cli.output import clean_errors, emit, fail

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.models import WebhookEndpoint
    from thanx_server.settings import Settings
    from thanx_server.webhook.service import UrlPolicy

app = typer.Typer(
    help="Webhook endpoints (the secret is shown once), the delivery log, redeliver, recover.",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
LISTEN_DESCRIPTION = "thanx-server listen"


def _settings() -> Settings:
    from thanx_server.settings import Settings

    return Settings()


def _run(work: Any) -> Any:
    from thanx_server.cli.runtime import run_in_transaction

    return run_in_transaction(_settings(), work, upgrade=True)


def _policy(settings: Settings) -> UrlPolicy:
    from thanx_server.webhook.service import UrlPolicy

    return UrlPolicy(
        production=not settings.is_sandbox, allow_private=settings.webhook_allow_private_addresses
    )


def _view(endpoint: WebhookEndpoint, secret: str | None = None) -> dict[str, Any]:
    view = {
        "id": endpoint.id,
        "merchant_id": endpoint.merchant_id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types or []),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "retry_mode": endpoint.retry_mode,
        "standard_headers": endpoint.standard_headers,
    }
    if secret is not None:
        view["secret"] = secret
    return view


def _line(d: dict[str, Any]) -> str:
    state = "enabled" if d["enabled"] else f"disabled ({d['disabled_reason'] or 'by hand'})"
    types = ",".join(d["event_types"]) or "all events"
    return f"{d['id']}  {d['merchant_id']}  {d['url']}  [{types}]  {state}"


def _headers(values: list[str] | None) -> dict[str, str]:
    headers = {}
    for value in values or ():
        name, sep, rest = value.partition(":")
        if not sep:
            fail(f"--header: '{value}' is not 'Name: value'")
        headers[name.strip()] = rest.strip()
    return headers


@app.command("create")
def create(
    merchant: Annotated[str, typer.Option(help="Merchant id.")],
    url: Annotated[str, typer.Option(help="Where to POST (query parameters are kept).")],
    event: Annotated[
        list[str] | None, typer.Option(help="An event type to send (repeat); default: all.")
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option(help="An extra static header, 'Name: value' (repeat).")
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="Use this secret (default: generated).")
    ] = None,
    retry: Annotated[bool, typer.Option("--retry", help="Standard Webhooks retries.")] = False,
    standard_headers: Annotated[
        bool, typer.Option("--standard-headers", help="Also send webhook-id/-timestamp/-signature.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Register an endpoint and print its signing secret (shown this once)."""
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.webhook import service

    settings = _settings()

    async def work(session: AsyncSession) -> dict[str, Any]:
        created = await service.create_endpoint(
            session,
            MerchantScope.one(merchant),
            merchant_id=merchant,
            url=url,
            policy=_policy(settings),
            event_types=event,
            headers=_headers(header),
            secret=secret,
            retry_mode=retry,
            standard_headers=standard_headers,
        )
        return _view(created.endpoint, created.secret)

    with clean_errors():
        emit(
            _run(work),
            as_json=as_json,
            human=lambda d: _line(d) + f"\nsecret: {d['secret']}  (shown once)",
        )


@app.command("list")
def list_(
    merchant: Annotated[str | None, typer.Option(help="Only this merchant's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every endpoint (never a secret)."""
    from thanx_server.kit.pagination import Page
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.webhook import service

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        result = await service.list_endpoints(
            session, MerchantScope.operator(merchant), Page(1, 100)
        )
        return [_view(e) for e in result.items]

    with clean_errors():
        emit(_run(work), as_json=as_json, human=lambda rows: "\n".join(map(_line, rows)))


@app.command("update")
def update(
    id: Annotated[str, typer.Option("--id", help="Endpoint id.")],
    url: Annotated[str | None, typer.Option()] = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
    retry: Annotated[bool | None, typer.Option("--retry/--no-retry")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change an endpoint's URL, enable or disable it, turn retry mode on or off."""
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.webhook import service

    settings = _settings()
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = url
    if enabled is not None:
        changes["enabled"] = enabled
    if retry is not None:
        changes["retry_mode"] = retry

    async def work(session: AsyncSession) -> dict[str, Any]:
        endpoint = await service.update_endpoint(
            session, MerchantScope.operator(None), id, changes=changes, policy=_policy(settings)
        )
        return _view(endpoint)

    with clean_errors():
        emit(_run(work), as_json=as_json, human=_line)


@app.command("rotate")
def rotate(
    id: Annotated[str, typer.Option("--id", help="Endpoint id.")],
    grace_seconds: Annotated[
        int | None, typer.Option(help="How long the old secret still signs (default: server's).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A new secret (printed once); the old one keeps signing for the grace period."""
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.webhook import service

    settings = _settings()
    grace = (
        settings.webhook_secret_grace if grace_seconds is None else timedelta(seconds=grace_seconds)
    )

    async def work(session: AsyncSession) -> dict[str, Any]:
        rotated = await service.rotate_secret(
            session, MerchantScope.operator(None), id, grace=grace
        )
        return _view(rotated.endpoint, rotated.secret)

    with clean_errors():
        emit(_run(work), as_json=as_json, human=lambda d: f"secret: {d['secret']}  (shown once)")


@app.command("delete")
def delete(id: Annotated[str, typer.Option("--id", help="Endpoint id.")]) -> None:
    """Remove an endpoint (its deliveries and log rows go with it)."""
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.webhook import service

    async def work(session: AsyncSession) -> None:
        await service.delete_endpoint(session, MerchantScope.operator(None), id)

    with clean_errors():
        _run(work)


@app.command("log")
def log(
    endpoint: Annotated[str | None, typer.Option(help="Only this endpoint's attempts.")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event's attempts.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The newest delivery attempts."""
    from thanx_server.kit.pagination import Page
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.kit.time import isoformat_z
    from thanx_server.webhook import service

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        result = await service.list_attempts(
            session,
            MerchantScope.operator(None),
            Page(1, limit),
            endpoint_id=endpoint,
            event_id=event,
        )
        return [
            {
                "attempted_at": isoformat_z(a.attempted_at),
                "endpoint_id": a.endpoint_id,
                "event_id": a.event_id,
                "event_type": a.event_type,
                "attempt": a.attempt,
                "status_code": a.status_code,
                "duration_ms": a.duration_ms,
                "error": a.error,
            }
            for a in result.items
        ]

    def human(rows: list[dict[str, Any]]) -> str:
        return "\n".join(
            f"{r['attempted_at']}  {r['endpoint_id']}  {r['event_type']:<30} {r['event_id']}  "
            f"#{r['attempt']}  {r['status_code'] or '-'}  {r['duration_ms']} ms  {r['error'] or ''}"
            for r in rows
        )

    with clean_errors():
        emit(_run(work), as_json=as_json, human=human)


@app.command("redeliver")
def redeliver(
    event: Annotated[str, typer.Option(help="Event id.")],
    endpoint: Annotated[str | None, typer.Option(help="Only to this endpoint.")] = None,
) -> None:
    """Send one event again (same event id)."""
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.webhook import service

    async def work(session: AsyncSession) -> list[str]:
        return await service.redeliver(
            session, MerchantScope.operator(None), event, endpoint_id=endpoint
        )

    with clean_errors():
        ids = _run(work)
    typer.echo(f"queued {len(ids)} delivery(ies)")


@app.command("recover")
def recover(
    id: Annotated[str, typer.Option("--id", help="Endpoint id.")],
    since: Annotated[datetime, typer.Option(help="From (UTC), e.g. 2026-12-01T10:00:00.")],
    until: Annotated[datetime, typer.Option(help="To (UTC, exclusive).")],
) -> None:
    """Send again every event of the endpoint's merchant created in [since, until)."""
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.kit.wire import as_utc
    from thanx_server.webhook import service

    async def work(session: AsyncSession) -> int:
        return await service.recover(
            session,
            MerchantScope.operator(None),
            id,
            since=as_utc(since),
            until=as_utc(until),
        )

    with clean_errors():
        queued = _run(work)
    typer.echo(f"queued {queued} event(s)")
