"""``/console/controls``: reset, snapshot download and upload, fault rules (sandbox only).

Every form calls the service its ``/sandbox/...`` API calls, with the signed-in principal, so the
rules are the API's: a partner resets its own merchants and sees, adds and deletes its own fault
rules; snapshots are an operator's. The upload is the one multipart form of the console (bounded
by ``THANX_MAX_BODY_BYTES`` in the request guard, refused with a page past it).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from thanx_server.console import service
from thanx_server.console.dependencies import ConsoleReader, ConsoleWriter
from thanx_server.console.forms import field, read_form, read_upload
from thanx_server.console.rendering import notice, render, see_other
from thanx_server.kit.deps import AppSettings, DbSession, sandbox_only
from thanx_server.kit.errors import ValidationFailed
from thanx_server.kit.time import utcnow
from thanx_server.sandbox.faults import service as faults
from thanx_server.sandbox.faults.endpoints import Operations
from thanx_server.sandbox.faults.schemas import FaultIn
from thanx_server.sandbox.state import service as sandbox_state

router = APIRouter(include_in_schema=False, dependencies=[Depends(sandbox_only)])

EVERYTHING = "*"  # the reset and snapshot forms' choice of every merchant
# The fault form's fields, as FaultIn names them; empty ones are left to FaultIn's defaults.
FAULT_FIELDS = (
    "operation_id",
    "merchant_id",
    "action",
    "status",
    "code",
    "message",
    "retry_after",
    "latency_ms",
    "times",
    "fraction",
    "seed",
    "expires_in",
)


@router.get("/console/controls", operation_id="consoleControls")
async def controls_page(
    request: Request,
    user: ConsoleReader,
    session: DbSession,
    settings: AppSettings,
    operations: Operations,
) -> Response:
    """Reset, snapshots (an operator's) and the fault rules with their hit counts."""
    return render(
        request,
        "controls.html",
        user=user,
        merchants=await service.merchants(session, user),
        rules=await faults.list_rules(session, user.principal),
        operations=sorted(op for op in operations if not op.startswith("console")),
        max_upload=settings.max_body_bytes,
        message=notice(request),
    )


@router.post("/console/controls/reset", operation_id="consoleReset")
async def reset(request: Request, user: ConsoleWriter, session: DbSession) -> Response:
    """As ``POST /sandbox/reset``: everything (an operator) or one merchant, to the baseline."""
    form = await read_form(request)
    target = field(form, "merchant_id")
    restored = await sandbox_state.reset_for(
        session,
        user.principal,
        merchant_id=None if target == EVERYTHING else target,
        credentials=form.get("credentials") == "on",
    )
    return see_other(f"/console/controls?done=reset&n={restored.rows}")


@router.get("/console/controls/snapshot", operation_id="consoleSnapshotDownload")
async def download_snapshot(
    user: ConsoleReader,
    session: DbSession,
    merchant_id: Annotated[str, Query(max_length=64)] = EVERYTHING,
    credentials: Annotated[str | None, Query(max_length=3)] = None,
) -> Response:
    """As ``GET /sandbox/snapshot``, as a file to save (an operator's)."""
    user.principal.require_operator("snapshots")
    scope = user.principal.merchants(None if merchant_id in ("", EVERYTHING) else merchant_id)
    document = await sandbox_state.export_snapshot(
        session, scope=scope, credentials=credentials == "on"
    )
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")  # when it was taken, on this machine's clock
    which = "all" if scope.everything else "-".join(scope.merchant_ids)
    return Response(
        json.dumps(document, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="thanx-snapshot-{which}-{stamp}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/console/controls/snapshot", operation_id="consoleSnapshotRestore")
async def restore_snapshot(request: Request, user: ConsoleWriter, session: DbSession) -> Response:
    """As ``POST /sandbox/snapshot``: the uploaded snapshot's scope replaced by its rows."""
    user.principal.require_operator("snapshots")
    form = await read_form(request)
    upload = await read_upload(request, "snapshot")
    try:
        document: Any = json.loads(upload.content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"snapshot: {upload.filename} is not JSON ({exc})") from None
    restored = await sandbox_state.restore_snapshot(
        session, document, credentials=form.get("credentials") == "on"
    )
    return see_other(f"/console/controls?done=restored&n={restored.rows}")


@router.post("/console/controls/faults", operation_id="consoleFaultAdd")
async def add_fault(
    request: Request, user: ConsoleWriter, session: DbSession, operations: Operations
) -> Response:
    """As ``POST /sandbox/faults``: the form's fields validated by the API's own schema."""
    form = await read_form(request)
    given = {name: form[name].strip() for name in FAULT_FIELDS if form.get(name, "").strip()}
    try:
        body = FaultIn.model_validate(given)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["loc"]:
            raise ValidationFailed(f"{error['loc'][0]}: {error['msg']}") from None
        # FaultIn's cross-field rules name their field themselves ("times: give times or ...").
        raise ValidationFailed(str(error["msg"]).removeprefix("Value error, ")) from None
    await faults.create_rule(session, user.principal, body, operations=operations)
    return see_other("/console/controls?done=fault-added&n=1")


@router.post("/console/controls/faults/{rule_id}/delete", operation_id="consoleFaultDelete")
async def delete_fault(user: ConsoleWriter, session: DbSession, rule_id: str) -> Response:
    await faults.remove_rule(session, user.principal, rule_id)
    return see_other("/console/controls?done=fault-deleted&n=1")


@router.post("/console/controls/faults/clear", operation_id="consoleFaultsClear")
async def clear_faults(user: ConsoleWriter, session: DbSession) -> Response:
    removed = await faults.clear_rules(session, user.principal)
    return see_other(f"/console/controls?done=fault-deleted&n={removed}")
