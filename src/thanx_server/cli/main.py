"""The ``thanx-server`` command: a thin Typer layer over the services.

Each command imports what it needs inside its body (see ``cli/admin.py``): ``serve`` loads the web
stack, the others never do.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from thanx_server.cli import admin, sandbox, webhook
from thanx_server.cli.listen import listen
from thanx_server.cli.output import clean_errors, emit

if TYPE_CHECKING:
    from thanx_server.demo.context import DemoContext
    from thanx_server.settings import Settings

app = typer.Typer(
    help="thanx-server: a self-hostable Thanx Partner API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(sandbox.app, name="sandbox")
admin.app.add_typer(webhook.app, name="webhook")
app.command("listen")(listen)


MigrateOption = Annotated[
    bool | None,
    typer.Option(
        "--migrate/--no-migrate",
        help="Apply migrations first (default: on for the embedded SQLite database).",
    ),
]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from thanx_server.cli.runtime import upgrade_database
    from thanx_server.settings import Settings

    with clean_errors():
        revision = upgrade_database(Settings()).revision
        typer.echo(f"database at revision {revision}")


def _demo(settings: Settings) -> DemoContext:
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.demo.loader import load_demo

    async def work(session: AsyncSession) -> DemoContext:
        return await load_demo(
            session, settings.data_dir, base_url=f"http://{settings.host}:{settings.port}"
        )

    return run_in_transaction(settings, work, upgrade=True)


def _demo_banner(ctx: DemoContext, settings: Settings) -> str:
    base = f"http://{settings.host}:{settings.port}"
    headers = (
        f"-H 'Authorization: Bearer {ctx.access_token}' -H 'X-ClientId: {ctx.client_id}' "
        "-H 'Accept-Version: v4.0'"
    )
    lines = [
        "",
        "thanx-server demo data is loaded"
        + (f" ({ctx.created} records added)" if ctx.created else ""),
        f"  API:          {base}   (docs: {base}/docs)",
        f"  console:      {base}/console   (sign in with either client id and access token)",
        f"  client id:    {ctx.client_id}",
        f"  access token: {ctx.access_token}",
        "  merchants:    " + ", ".join(f"{h}={m.id}" for h, m in ctx.merchants.items()),
        "  operator (steers the whole sandbox: /sandbox/..., thanx-server sandbox ...):",
        f"    client id:    {ctx.operator_client_id}",
        f"    access token: {ctx.operator_access_token}",
        "",
        "Try:",
        f"  curl -s {headers} {base}/partner/merchants",
    ]
    for label, path_and_args in ctx.hints:
        lines.append(f"  # {label}")
        lines.append(f"  curl -s {headers} {path_and_args.replace('{base}', base)}")
    operator = (
        f"-H 'Authorization: Bearer {ctx.operator_access_token}' "
        f"-H 'X-ClientId: {ctx.operator_client_id}'"
    )
    lines.append("  # Who steers the sandbox (as the operator)")
    lines.append(f"  curl -s {operator} {base}/sandbox/whoami")
    return "\n".join(lines) + "\n"


@app.command()
def demo(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Load the demo data (idempotent) and print the demo partner's credentials."""
    from thanx_server.settings import Settings

    settings = Settings()
    with clean_errors():
        ctx = _demo(settings)
    if as_json:
        data = {
            "client_id": ctx.client_id,
            "access_token": ctx.access_token,
            "merchants": {handle: m.id for handle, m in ctx.merchants.items()},
            "operator": {
                "client_id": ctx.operator_client_id,
                "access_token": ctx.operator_access_token,
            },
            "created": ctx.created,
        }
        emit(data, as_json=True, human=str)
    else:
        typer.echo(_demo_banner(ctx, settings))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [THANX_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [THANX_PORT].")] = None,
    workers: Annotated[int | None, typer.Option(help="API processes [THANX_WORKERS].")] = None,
    with_demo: Annotated[
        bool, typer.Option("--demo", help="Load demo data and print how to call the API.")
    ] = False,
    migrate: MigrateOption = None,
    fixtures: Annotated[
        Path | None,
        typer.Option(
            "--fixtures",
            help="Load this fixtures file (YAML or JSON) first; it becomes the reset baseline.",
        ),
    ] = None,
) -> None:
    """Run the API server."""
    import gc

    # Start-up builds ~130k objects that live as long as the process (modules, routes, schemas,
    # mapped models) and almost no garbage (~1,300 objects in all). The cyclic collector ran
    # ~400 times over them while they were built: ~20% of the CPU from launch to /readyz. It
    # stays off until the app's lifespan has frozen them out of its reach and turns it back on
    # (app.py), the pattern of the `gc` module's docs for long-lived start-up state.
    gc.disable()
    # Migrations and data loads do leave garbage (~19,000 objects after the first launch's
    # migrations): collected once before the freeze, so none of it is kept for good.
    garbage = with_demo or fixtures is not None
    import uvicorn

    from thanx_server.cli.runtime import upgrade_database
    from thanx_server.kit.logging import configure_logging
    from thanx_server.settings import Settings

    # Options become environment so every API process builds the same Settings.
    for name, value in (("THANX_HOST", host), ("THANX_PORT", port), ("THANX_WORKERS", workers)):
        if value is not None:
            os.environ[name] = str(value)
    settings = Settings()
    with clean_errors():
        if migrate if migrate is not None else settings.is_sqlite:
            garbage |= upgrade_database(settings).applied
        if with_demo:
            typer.echo(_demo_banner(_demo(settings), settings))
        if fixtures is not None:
            from thanx_server.cli.sandbox import load_fixtures_file

            load_fixtures_file(settings, fixtures)
    if garbage:
        gc.collect()
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several API processes: /metrics sums them through files in one directory
        # (prometheus-client's multiprocess mode), emptied so no earlier run's counts remain.
        metrics_dir = settings.data_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    if settings.workers > 1:
        gc.enable()  # this process only supervises; each API process builds its own app
    # Uvicorn's records go to the root logger, which configure_logging gives our renderer.
    configure_logging(settings)
    uvicorn.run(
        "thanx_server.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )


@app.command()
def worker(
    migrate: MigrateOption = None,
) -> None:
    """Run one issuance worker until SIGTERM/SIGINT. Start as many as you like, anywhere."""
    import asyncio

    from thanx_server.cli.runtime import upgrade_database
    from thanx_server.issuance.worker import run_standalone
    from thanx_server.kit.logging import configure_logging
    from thanx_server.settings import Settings

    settings = Settings()
    configure_logging(settings)
    with clean_errors():
        if migrate if migrate is not None else settings.is_sqlite:
            upgrade_database(settings)
        asyncio.run(run_standalone(settings))


def main() -> None:
    app()
