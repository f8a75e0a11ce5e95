"""``thanx-server sandbox ...``: the sandbox controls from the command line (issue 13).

Each command calls the same service function as its ``/sandbox/...`` endpoint, as the operator
(the command line reaches the database, so it is trusted with everything). Like ``admin``, a
command imports what it runs inside its body and never loads the web stack. Every command takes
``--json`` and refuses to run outside a sandbox.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from thanx_server.cli.output import clean_errors, emit, fail

app = typer.Typer(
    help="Steer the sandbox: clock, reset, fixtures, snapshots, job progression, faults, journal.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def require_sandbox() -> None:
    from thanx_server.settings import Settings

    if not Settings().is_sandbox:
        fail("sandbox controls exist only in a sandbox (THANX_ENVIRONMENT=sandbox)")


@app.command("status")
def status(as_json: JsonFlag = False) -> None:
    """The environment and the operator credentials that can steer it over HTTP."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.operators import service as operator_service
    from thanx_server.settings import Settings

    settings = Settings()

    async def work(session: AsyncSession) -> dict[str, Any]:
        operators = await operator_service.list_operators(session)
        return {
            "environment": settings.environment.value,
            "sandbox": settings.is_sandbox,
            "operators": sum(1 for o in operators if o.revoked_at is None),
        }

    with clean_errors():
        emit(
            run_in_transaction(settings, work, upgrade=True),
            as_json=as_json,
            human=lambda d: (
                f"environment: {d['environment']}\nactive operator credentials: {d['operators']}"
            ),
        )
