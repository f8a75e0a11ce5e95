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


# --- the clock --------------------------------------------------------------------------------

clock_app = typer.Typer(
    help="The instance's clock: show, freeze, resume, set, advance.", no_args_is_help=True
)
app.add_typer(clock_app, name="clock")


def _emit_clock(view: Any, as_json: bool) -> None:
    from thanx_server.sandbox.clock.schemas import ClockEnvelope, ClockOut

    data = ClockEnvelope(clock=ClockOut.of(view)).model_dump(mode="json")

    def human(d: dict[str, Any]) -> str:
        c = d["clock"]
        lines = [
            f"sandbox time: {c['now']} ({'frozen' if c['frozen'] else 'running'}, "
            f"{c['offset_seconds']:+} s from real time)"
        ]
        if c["ran"]:
            lines.append(f"due work run: {c['ran']}")
        lines.extend(f"warning: {w}" for w in c["warnings"])
        return "\n".join(lines)

    emit(data, as_json=as_json, human=human)


def _clock_in_transaction(work: Any, as_json: bool) -> None:
    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.settings import Settings

    require_sandbox()
    with clean_errors():
        _emit_clock(run_in_transaction(Settings(), work, upgrade=True), as_json)


@clock_app.command("show")
def clock_show(as_json: JsonFlag = False) -> None:
    """The sandbox's time, and whether it is frozen."""
    from thanx_server.sandbox.clock import service

    _clock_in_transaction(service.read, as_json)


@clock_app.command("freeze")
def clock_freeze(as_json: JsonFlag = False) -> None:
    """Stop the clock where it stands."""
    from thanx_server.sandbox.clock import service

    _clock_in_transaction(service.freeze, as_json)


@clock_app.command("resume")
def clock_resume(
    real: Annotated[
        bool, typer.Option("--real", help="Back to the machine's time (not on from here).")
    ] = False,
    allow_backwards: Annotated[
        bool, typer.Option("--allow-backwards", help="Needed with --real when the clock is ahead.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Let the clock run again (from where it stands, or from real time with --real)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.sandbox.clock import service

    async def work(session: AsyncSession) -> Any:
        return await service.resume(session, real=real, allow_backwards=allow_backwards)

    _clock_in_transaction(work, as_json)


def _move(build: Any, as_json: bool) -> None:
    """Set and advance run due work in transactions of their own, as a worker does."""
    import asyncio

    from thanx_server.cli.runtime import database_for
    from thanx_server.kit import migrate
    from thanx_server.settings import Settings

    require_sandbox()
    settings = Settings()

    async def run() -> Any:
        db = database_for(settings)
        try:
            await migrate.upgrade_if_needed(db.engine)
            return await build(db, settings)
        finally:
            await db.dispose()

    with clean_errors():
        _emit_clock(asyncio.run(run()), as_json)


@clock_app.command("set")
def clock_set(
    to: Annotated[str, typer.Argument(help="An ISO 8601 instant (no offset: UTC).")],
    allow_backwards: Annotated[
        bool, typer.Option("--allow-backwards", help="Needed to move the clock back.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Move the clock to an instant; forward, what falls due on the way runs first."""
    from pydantic import ValidationError

    from thanx_server.sandbox.clock import service
    from thanx_server.sandbox.clock.schemas import SetIn

    try:
        body = SetIn(to=to, allow_backwards=allow_backwards)
    except ValidationError as exc:
        fail(f"to: {exc.errors()[0]['msg']}")
    _move(
        lambda db, settings: service.set_to(
            db, settings, to=body.to, allow_backwards=body.allow_backwards
        ),
        as_json,
    )


@clock_app.command("advance")
def clock_advance(
    by: Annotated[str, typer.Argument(help="How far: 90m, 1d12h, 2w, PT1H or seconds.")],
    as_json: JsonFlag = False,
) -> None:
    """Move the clock forward; returns once everything that fell due has run, in time order."""
    from pydantic import ValidationError

    from thanx_server.sandbox.clock import service
    from thanx_server.sandbox.clock.schemas import AdvanceIn

    try:
        body = AdvanceIn(by=by)
    except ValidationError as exc:
        fail(f"by: {exc.errors()[0]['msg']}")
    _move(lambda db, settings: service.advance(db, settings, by=body.by), as_json)


# --- reset, snapshots, the baseline ------------------------------------------------------------


def _as_operator() -> Any:
    from thanx_server.auth.service import OPERATOR, ControlPrincipal

    return ControlPrincipal(kind=OPERATOR, credential_id="cli", client_id="cli")


@app.command("reset")
def reset(
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    credentials: Annotated[
        bool, typer.Option("--credentials", help="Put credentials back to the baseline too.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Back to the baseline (everything, or one merchant); credentials kept unless asked."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.sandbox.state import service
    from thanx_server.sandbox.state.schemas import ResetOut, RestoredOut
    from thanx_server.settings import Settings

    require_sandbox()

    async def work(session: AsyncSession) -> Any:
        restored = await service.reset_for(
            session, _as_operator(), merchant_id=merchant, credentials=credentials
        )
        return ResetOut(reset=RestoredOut.of(restored)).model_dump(mode="json")

    with clean_errors():
        emit(
            run_in_transaction(Settings(), work, upgrade=True),
            as_json=as_json,
            human=lambda d: (
                f"reset {d['reset']['merchant_ids'] or 'everything'} to baseline "
                f"{d['reset']['baseline_version']}: {d['reset']['rows']} rows in "
                f"{d['reset']['duration_ms']} ms"
            ),
        )


@app.command("baseline")
def baseline(as_json: JsonFlag = False) -> None:
    """Save the instance as it is now as what `sandbox reset` goes back to."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.sandbox.state import service
    from thanx_server.settings import Settings

    require_sandbox()

    async def work(session: AsyncSession) -> Any:
        return {"baseline_version": await service.save_baseline(session)}

    with clean_errors():
        emit(
            run_in_transaction(Settings(), work, upgrade=True),
            as_json=as_json,
            human=lambda d: f"baseline saved (version {d['baseline_version']})",
        )


snapshot_app = typer.Typer(help="JSON snapshots: export and restore exactly.", no_args_is_help=True)
app.add_typer(snapshot_app, name="snapshot")


@snapshot_app.command("export")
def snapshot_export(
    output: Annotated[
        str, typer.Option("--output", "-o", help="File to write; - for stdout.")
    ] = "-",
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    credentials: Annotated[
        bool, typer.Option("--credentials", help="Include credentials (digests only).")
    ] = False,
) -> None:
    """Write the whole state (or one merchant's) as a JSON snapshot."""
    import json
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.sandbox.state import service
    from thanx_server.settings import Settings

    require_sandbox()

    async def work(session: AsyncSession) -> Any:
        return await service.export_snapshot(
            session, scope=MerchantScope.operator(merchant), credentials=credentials
        )

    with clean_errors():
        text = json.dumps(run_in_transaction(Settings(), work, upgrade=True), indent=1)
        if output == "-":
            typer.echo(text)
        else:
            Path(output).write_text(text + "\n", encoding="utf-8")


@snapshot_app.command("restore")
def snapshot_restore(
    source: Annotated[str, typer.Argument(help="A snapshot file; - for stdin.")],
    credentials: Annotated[
        bool, typer.Option("--credentials", help="Put its credentials back too.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Put a snapshot back exactly (same ids)."""
    import json
    import sys
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.sandbox.state import service
    from thanx_server.sandbox.state.schemas import RestoredOut, RestoreOut
    from thanx_server.settings import Settings

    require_sandbox()
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        document = json.loads(raw)
    except (OSError, ValueError) as exc:
        fail(f"{source}: {exc}")

    async def work(session: AsyncSession) -> Any:
        restored = await service.restore_snapshot(session, document, credentials=credentials)
        return RestoreOut(restored=RestoredOut.of(restored)).model_dump(mode="json")

    with clean_errors():
        emit(
            run_in_transaction(Settings(), work, upgrade=True),
            as_json=as_json,
            human=lambda d: f"restored {d['restored']['rows']} rows",
        )


# --- fixtures ----------------------------------------------------------------------------------

fixtures_app = typer.Typer(help="Declarative fixtures (YAML or JSON).", no_args_is_help=True)
app.add_typer(fixtures_app, name="fixtures")


def load_fixtures_file(settings: Any, path: Any) -> dict[str, Any]:
    """Load a fixtures file in one transaction (``serve --fixtures`` and ``fixtures load``)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.sandbox.fixtures import service

    if not settings.is_sandbox:
        fail("fixtures exist only in a sandbox (THANX_ENVIRONMENT=sandbox)")
    fixtures = service.read_file(path)

    async def work(session: AsyncSession) -> dict[str, Any]:
        loaded = await service.load(session, fixtures)
        return {"fixtures": loaded.model_dump(mode="json")}

    return run_in_transaction(settings, work, upgrade=True)


@fixtures_app.command("load")
def fixtures_load(
    path: Annotated[str, typer.Argument(help="The fixtures file (YAML or JSON).")],
    as_json: JsonFlag = False,
) -> None:
    """Replace the instance's data with the file's and make it the reset baseline."""
    from pathlib import Path

    from thanx_server.settings import Settings

    with clean_errors():
        emit(
            load_fixtures_file(Settings(), Path(path)),
            as_json=as_json,
            human=lambda d: (
                f"loaded {len(d['fixtures']['merchants'])} merchants, "
                f"{len(d['fixtures']['partners'])} partner credentials, "
                f"{len(d['fixtures']['operators'])} operator credentials "
                f"(baseline {d['fixtures']['baseline_version']})"
            ),
        )


# --- fault rules -------------------------------------------------------------------------------

faults_app = typer.Typer(
    help="Fault rules: errors, latency, dropped connections.", no_args_is_help=True
)
app.add_typer(faults_app, name="faults")


def _operator_session(work: Any, as_json: bool, human: Any) -> None:
    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.settings import Settings

    require_sandbox()
    with clean_errors():
        emit(run_in_transaction(Settings(), work, upgrade=True), as_json=as_json, human=human)


@faults_app.command("add")
def faults_add(
    operation_id: Annotated[str, typer.Argument(help="The operation id (see /openapi.json).")],
    merchant: Annotated[str | None, typer.Option(help="Only calls naming this merchant.")] = None,
    action: Annotated[str, typer.Option(help="error, latency or drop.")] = "error",
    status: Annotated[int, typer.Option(help="error: the HTTP status.")] = 500,
    code: Annotated[str | None, typer.Option(help="error: the Thanx error code.")] = None,
    message: Annotated[str | None, typer.Option(help="error: the message.")] = None,
    retry_after: Annotated[int | None, typer.Option(help="error: Retry-After seconds.")] = None,
    latency_ms: Annotated[int | None, typer.Option(help="latency: milliseconds.")] = None,
    times: Annotated[int | None, typer.Option(help="Only the first N calls.")] = None,
    fraction: Annotated[float | None, typer.Option(help="A seeded fraction of calls.")] = None,
    seed: Annotated[int, typer.Option(help="The fraction's seed.")] = 0,
    expires_in: Annotated[int | None, typer.Option(help="Seconds until it expires.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a fault rule (an operator's: it applies to every caller)."""
    from pydantic import ValidationError
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.app import create_app
    from thanx_server.sandbox.faults import service
    from thanx_server.sandbox.faults.endpoints import operation_ids
    from thanx_server.sandbox.faults.schemas import FaultEnvelope, FaultIn, FaultOut

    try:
        body = FaultIn.model_validate(
            {
                "operation_id": operation_id,
                "merchant_id": merchant,
                "action": action,
                "status": status,
                "code": code,
                "message": message,
                "retry_after": retry_after,
                "latency_ms": latency_ms,
                "times": times,
                "fraction": fraction,
                "seed": seed,
                "expires_in": expires_in,
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        fail(f"{'.'.join(str(p) for p in error['loc']) or 'rule'}: {error['msg']}")
    # The operation ids are the app's routes' (the only command here that loads the web stack).
    operations = operation_ids(list(create_app().routes))

    async def work(session: AsyncSession) -> Any:
        rule = await service.create_rule(session, _as_operator(), body, operations=operations)
        return FaultEnvelope(fault=FaultOut.of(rule)).model_dump(mode="json")

    _operator_session(work, as_json, lambda d: f"{d['fault']['id']}  {d['fault']['operation_id']}")


@faults_app.command("list")
def faults_list(as_json: JsonFlag = False) -> None:
    """Every rule, with how often each was asked and fired."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.sandbox.faults import service
    from thanx_server.sandbox.faults.schemas import FaultList, FaultOut

    async def work(session: AsyncSession) -> Any:
        rules = await service.list_rules(session, _as_operator())
        return FaultList(faults=[FaultOut.of(r) for r in rules]).model_dump(mode="json")

    _operator_session(
        work,
        as_json,
        lambda d: (
            "\n".join(
                f"{f['id']}  {f['operation_id']}  {f['action']}  hits {f['hits']}/{f['seen']}"
                for f in d["faults"]
            )
            or "no fault rules"
        ),
    )


@faults_app.command("clear")
def faults_clear(as_json: JsonFlag = False) -> None:
    """Remove every rule."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.sandbox.faults import service

    async def work(session: AsyncSession) -> Any:
        return {"removed": await service.clear_rules(session, _as_operator())}

    _operator_session(work, as_json, lambda d: f"removed {d['removed']} rules")


# --- the request journal -----------------------------------------------------------------------

journal_app = typer.Typer(help="The request journal: find, count, export.", no_args_is_help=True)
app.add_typer(journal_app, name="journal")


def _journal_rows(
    operation: str | None, status: int | None, client: str | None, limit: int | None
) -> Any:
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.cli.runtime import run_in_transaction
    from thanx_server.sandbox.journal import service
    from thanx_server.sandbox.journal.schemas import JournalEntryOut, JournalPage
    from thanx_server.settings import Settings

    require_sandbox()

    async def work(session: AsyncSession) -> Any:
        count, rows = await service.search(
            session,
            _as_operator(),
            None,
            client_id=client,
            operation_id=operation,
            status=status,
            since=None,
            until=None,
            limit=limit,
        )
        page = JournalPage(count=count, entries=[JournalEntryOut.of(r) for r in rows])
        return page.model_dump(mode="json")

    return run_in_transaction(Settings(), work, upgrade=True)


@journal_app.command("list")
def journal_list(
    operation: Annotated[str | None, typer.Option(help="Only this operation id.")] = None,
    status: Annotated[int | None, typer.Option(help="Only this HTTP status.")] = None,
    client: Annotated[str | None, typer.Option(help="Only this client id.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Recorded requests, newest first, and how many match."""
    with clean_errors():
        emit(
            _journal_rows(operation, status, client, limit),
            as_json=as_json,
            human=lambda d: "\n".join(
                [f"{d['count']} matching"]
                + [
                    f"{e['at']}  {e['status']}  {e['method']} {e['path']}  "
                    f"{e['operation_id'] or '-'}  {e['client_id'] or '-'}"
                    for e in d["entries"]
                ]
            ),
        )


@journal_app.command("export")
def journal_export(
    output: Annotated[str, typer.Option("--output", "-o", help="File; - for stdout.")] = "-",
    operation: Annotated[str | None, typer.Option(help="Only this operation id.")] = None,
    status: Annotated[int | None, typer.Option(help="Only this HTTP status.")] = None,
    client: Annotated[str | None, typer.Option(help="Only this client id.")] = None,
) -> None:
    """Every matching recorded request as JSON lines, oldest first."""
    import json
    from pathlib import Path

    with clean_errors():
        entries = _journal_rows(operation, status, client, None)["entries"]
        text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in reversed(entries))
        if output == "-":
            typer.echo(text, nl=False)
        else:
            Path(output).write_text(text, encoding="utf-8")


# --- job progression ---------------------------------------------------------------------------

jobs_app = typer.Typer(help="How issuance jobs progress: modes and steps.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

ModeOption = Annotated[
    str, typer.Option("--mode", help="immediate, paused, step, after_polls or delay.")
]
PollsOption = Annotated[int | None, typer.Option(help="after_polls: how many GETs.")]
DelayOption = Annotated[str | None, typer.Option(help="delay: how long (90m, PT1H, seconds).")]


def _progression_in(mode: str, polls: int | None, delay: str | None, client_id: str | None) -> Any:
    from pydantic import ValidationError

    from thanx_server.sandbox.jobs.schemas import ProgressionIn

    try:
        return ProgressionIn.model_validate(
            {"mode": mode, "polls": polls, "delay": delay, "client_id": client_id}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        fail(f"{'.'.join(str(p) for p in error['loc']) or 'mode'}: {error['msg']}")


@jobs_app.command("progression")
def jobs_progression(
    client_id: Annotated[str, typer.Option("--client-id", help="The partner credential.")],
    mode: ModeOption,
    polls: PollsOption = None,
    delay: DelayOption = None,
    as_json: JsonFlag = False,
) -> None:
    """How the jobs a partner credential creates from now on progress."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.sandbox.jobs import service
    from thanx_server.sandbox.jobs.schemas import ProgressionEnvelope

    body = _progression_in(mode, polls, delay, client_id)

    async def work(session: AsyncSession) -> Any:
        out = await service.set_default(session, _as_operator(), body)
        return ProgressionEnvelope(progression=out).model_dump(mode="json")

    _operator_session(
        work,
        as_json,
        lambda d: f"{d['progression']['client_id']}: {d['progression']['mode']}",
    )


@jobs_app.command("mode")
def jobs_mode(
    job_id: Annotated[str, typer.Argument(help="The issuance job.")],
    mode: ModeOption,
    polls: PollsOption = None,
    delay: DelayOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Change one unfinished job's progression (immediate hands it to the workers)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from thanx_server.issuance.schemas import IssuanceJobEnvelope
    from thanx_server.sandbox.jobs import service

    body = _progression_in(mode, polls, delay, None)

    async def work(session: AsyncSession) -> Any:
        job = await service.set_job_mode(session, _as_operator(), job_id, body)
        return IssuanceJobEnvelope(issuance_job=job).model_dump(mode="json")

    _operator_session(work, as_json, lambda d: f"{job_id}: {d['issuance_job']['state']}")


@jobs_app.command("step")
def jobs_step(
    job_id: Annotated[str, typer.Argument(help="The issuance job.")],
    chunks: Annotated[int, typer.Option(min=1, max=10_000, help="Chunks to run now.")] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Run chunks of a job now (paused and step jobs wait for this)."""
    from thanx_server.issuance.schemas import IssuanceJobEnvelope
    from thanx_server.sandbox.jobs import service

    async def build(db: Any, settings: Any) -> Any:
        job = await service.step_job(db, settings, _as_operator(), job_id, chunks=chunks)
        return IssuanceJobEnvelope(issuance_job=job).model_dump(mode="json")

    import asyncio

    from thanx_server.cli.runtime import database_for
    from thanx_server.kit import migrate
    from thanx_server.settings import Settings

    require_sandbox()
    settings = Settings()

    async def run() -> Any:
        db = database_for(settings)
        try:
            await migrate.upgrade_if_needed(db.engine)
            return await build(db, settings)
        finally:
            await db.dispose()

    with clean_errors():
        emit(
            asyncio.run(run()),
            as_json=as_json,
            human=lambda d: (
                f"{job_id}: {d['issuance_job']['state']} ({d['issuance_job']['progress_percent']}%)"
            ),
        )
