"""``/console``: the web console's pages (issue 15). Each route is thin: the console session
(``ConsoleReader`` / ``ConsoleWriter``), one call to a feature's service, a template.

Forms that change something answer ``303 See Other`` to the page they came from (so a reload
repeats nothing); their errors are pages with the error's status, so the request's transaction
rolls back like any other. Not in the OpenAPI document: these are pages, not API operations.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from thanx_server.console import controls, service
from thanx_server.console.dependencies import (
    COOKIE,
    COOKIE_PATH,
    LOGIN_COOKIE,
    ConsoleReader,
    ConsoleWriter,
    set_cookie,
)
from thanx_server.console.errors import CsrfRefused
from thanx_server.console.forms import field, read_form
from thanx_server.console.rendering import SCRIPT, STYLESHEET, notice, render, see_other
from thanx_server.domain.states import FINISHED_JOB_STATES, JobState
from thanx_server.issuance import service as issuance
from thanx_server.kit.deps import AppDatabase, AppSettings, DbSession, sandbox_only
from thanx_server.kit.errors import AuthenticationFailed, RateLimited, ValidationFailed
from thanx_server.kit.ids import new_secret
from thanx_server.kit.pagination import Page
from thanx_server.kit.ratelimit import RateLimiter
from thanx_server.sandbox.clock import service as clock
from thanx_server.sandbox.clock.schemas import AdvanceIn
from thanx_server.sandbox.jobs import service as progression
from thanx_server.sandbox.jobs.schemas import ProgressionIn, StepIn
from thanx_server.sandbox.journal import service as journal
from thanx_server.sandbox.journal.endpoints import Recorder
from thanx_server.sandbox.journal.recorder import JournalRecorder
from thanx_server.webhook import service as webhooks
from thanx_server.webhook import triggers
from thanx_server.webhook.events import EventType
from thanx_server.webhook.schemas import TriggerIn

router = APIRouter(include_in_schema=False)
sandbox_router = APIRouter(include_in_schema=False, dependencies=[Depends(sandbox_only)])

JOB_STATES = [job_state.value for job_state in JobState]
LOGIN_COOKIE_AGE = 3600
PER_PAGE = 25
REQUESTS_SHOWN = 100
WEBHOOK_ROWS = 50


@router.get("/console/static/console.css", operation_id="consoleStylesheet")
async def stylesheet() -> Response:
    return Response(
        STYLESHEET,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/console/static/console.js", operation_id="consoleScript")
async def script() -> Response:
    return Response(
        SCRIPT,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/console/login", operation_id="consoleLoginForm")
async def login_form(request: Request, session: DbSession) -> Response:
    """The sign-in form (public on purpose), with a fresh CSRF secret in its own cookie."""
    if await service.current_user(session, request.cookies.get(COOKIE)) is not None:
        return see_other("/console")
    return _login_page(request, error=None, client_id="")


def _login_page(
    request: Request, *, error: str | None, client_id: str, status: int = 200
) -> Response:
    secret = new_secret()
    response = render(
        request, "login.html", status, csrf_token=secret, error=error, client_id=client_id
    )
    set_cookie(request, response, LOGIN_COOKIE, secret, LOGIN_COOKIE_AGE)
    return response


@router.post("/console/login", operation_id="consoleLogin")
async def login(request: Request, session: DbSession) -> Response:
    """Sign in: the form's CSRF token must be the one its page set in a cookie (so another site
    cannot sign a browser in to an account of its choosing); then the credential is checked."""
    form = await read_form(request)
    expected = request.cookies.get(LOGIN_COOKIE)
    if not expected or not service.csrf_matches(expected, form.get("csrf_token")):
        raise CsrfRefused()
    client_id = form.get("client_id", "").strip()
    limiter: RateLimiter = request.app.state.sign_in_limiter
    address = request.client.host if request.client else None
    try:
        await service.refuse_spent_sign_in(limiter, address=address, client_id=client_id)
    except RateLimited as exc:
        response = _login_page(request, error=exc.message, client_id=client_id, status=429)
        response.headers.update(exc.headers or {})
        return response
    try:
        secret = await service.sign_in(
            session,
            client_id=client_id,
            token=form.get("access_token", ""),
            operator_cache=getattr(request.app.state, "operator_cache", None),
            credential_cache=getattr(request.app.state, "credential_cache", None),
        )
    except AuthenticationFailed:
        await service.count_failed_sign_in(limiter, address=address, client_id=client_id)
        # The client id is shown again (it is no secret); the token never is.
        return _login_page(
            request,
            error="That client id and access token do not match an active credential.",
            client_id=client_id,
            status=401,
        )
    response = see_other("/console")
    set_cookie(request, response, COOKIE, secret, int(service.SESSION_LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/console/logout", operation_id="consoleLogout")
async def logout(user: ConsoleWriter, session: DbSession) -> Response:
    await service.sign_out(session, user)
    response = see_other("/console/login")
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


@router.get("/console", operation_id="consoleOverview")
async def overview_page(
    request: Request, user: ConsoleReader, session: DbSession, settings: AppSettings
) -> Response:
    view = await service.overview(session, user, request.app.state.rate_limiter)
    clock_view = await clock.read(session) if settings.is_sandbox else None
    return render(
        request,
        "overview.html",
        user=user,
        overview=view,
        clock=clock_view,
        job_states=JOB_STATES,
        message=notice(request),
    )


@sandbox_router.post("/console/clock/freeze", operation_id="consoleClockFreeze")
async def freeze_clock(user: ConsoleWriter, session: DbSession) -> Response:
    user.principal.require_operator("moving the clock")
    await clock.freeze(session)
    return see_other("/console")


@sandbox_router.post("/console/clock/resume", operation_id="consoleClockResume")
async def resume_clock(user: ConsoleWriter, session: DbSession) -> Response:
    user.principal.require_operator("moving the clock")
    await clock.resume(session, real=False, allow_backwards=False)
    return see_other("/console")


@sandbox_router.post("/console/clock/advance", operation_id="consoleClockAdvance")
async def advance_clock(
    request: Request, user: ConsoleWriter, db: AppDatabase, settings: AppSettings
) -> Response:
    """Advance the clock (what falls due on the way runs first), as ``/sandbox/clock/advance``."""
    user.principal.require_operator("moving the clock")
    form = await read_form(request)
    try:
        data = AdvanceIn.model_validate({"by": field(form, "by")})
    except ValidationError as exc:
        raise ValidationFailed(f"by: {exc.errors()[0]['msg']}") from None
    view = await clock.advance(db, settings, by=data.by)
    return see_other(f"/console?done=advanced&n={view.ran}")


@sandbox_router.get("/console/members", operation_id="consoleMembers")
async def members_page(
    request: Request,
    user: ConsoleReader,
    session: DbSession,
    q: Annotated[str | None, Query(max_length=320)] = None,
) -> Response:
    """Find a member by e-mail or phone: rewards (state and time left on the sandbox clock),
    points, tier, tags and communication settings."""
    found = await service.find_member(session, user, q) if q and q.strip() else None
    return render(request, "members.html", user=user, q=q or "", found=found)


def _status_filter(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit() or not 100 <= int(raw) <= 599:
        raise ValidationFailed("status: an HTTP status from 100 to 599")
    return int(raw)


async def _flushed_journal(recorder: Recorder) -> JournalRecorder | None:
    """The process's journal with its pending entries written (in a transaction of their own)
    before the page's session reads anything, so the page sees them."""
    if recorder is not None:
        await recorder.flush()
    return recorder


Journal = Annotated[JournalRecorder | None, Depends(_flushed_journal)]


@sandbox_router.get("/console/requests", operation_id="consoleRequests")
async def requests_page(
    request: Request,
    recorder: Journal,
    user: ConsoleReader,
    session: DbSession,
    operation_id: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=3)] = None,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The request journal, newest first (a partner: its own requests), filtered."""
    wanted_status = _status_filter(status)
    count, rows = await journal.search(
        session,
        user.principal,
        recorder,
        limit=REQUESTS_SHOWN,
        client_id=client_id or None,
        operation_id=operation_id or None,
        status=wanted_status,
        since=None,
        until=None,
    )
    filters = {
        "operation_id": operation_id or "",
        "status": "" if wanted_status is None else str(wanted_status),
        "client_id": client_id or "",
    }
    return render(
        request,
        "requests.html",
        user=user,
        count=count,
        entries=rows,
        filters=filters,
        enabled=recorder is not None,
    )


@sandbox_router.get("/console/requests/{entry_id}", operation_id="consoleRequest")
async def request_page(
    request: Request, recorder: Journal, user: ConsoleReader, session: DbSession, entry_id: int
) -> Response:
    """One recorded request: its (redacted) bodies and the same request as a curl command."""
    entry = await journal.entry(session, user.principal, recorder, entry_id)
    curl = journal.as_curl(entry, str(request.base_url))
    return render(request, "request.html", user=user, entry=entry, curl=curl)


@router.get("/console/webhooks", operation_id="consoleWebhooks")
async def webhooks_page(request: Request, user: ConsoleReader, session: DbSession) -> Response:
    """Webhook endpoints (never their secrets) and the newest delivery attempts."""
    scope = user.principal.merchants()
    endpoints = await webhooks.list_endpoints(session, scope, Page(1, WEBHOOK_ROWS))
    attempts = await webhooks.list_attempts(session, scope, Page(1, WEBHOOK_ROWS))
    return render(
        request,
        "webhooks.html",
        user=user,
        endpoints=endpoints,
        attempts=attempts,
        merchants=await service.merchants(session, user),
        event_types=[e.value for e in EventType],
        message=notice(request),
    )


@router.get("/console/webhooks/events/{event_id}", operation_id="consoleWebhookEvent")
async def webhook_event_page(
    request: Request, user: ConsoleReader, session: DbSession, event_id: str
) -> Response:
    """One event: the body its deliveries send, and every attempt with its response."""
    scope = user.principal.merchants()
    event, body = await webhooks.event_as_sent(session, scope, event_id)
    attempts = await webhooks.list_attempts(
        session, scope, Page(1, WEBHOOK_ROWS), event_id=event_id
    )
    return render(
        request,
        "webhook_event.html",
        user=user,
        event=event,
        body=body,
        attempts=attempts,
        message=notice(request),
    )


@router.post(
    "/console/webhooks/events/{event_id}/redeliver", operation_id="consoleWebhookRedeliver"
)
async def redeliver_webhook(user: ConsoleWriter, session: DbSession, event_id: str) -> Response:
    """Send the event again (same event id) to the endpoints it went to."""
    ids = await webhooks.redeliver(session, user.principal.merchants(), event_id, endpoint_id=None)
    return see_other(f"/console/webhooks/events/{event_id}?done=queued&n={len(ids)}")


@sandbox_router.post("/console/webhooks/trigger", operation_id="consoleWebhookTrigger")
async def trigger_webhook(request: Request, user: ConsoleWriter, session: DbSession) -> Response:
    """Send one of the events, built from real state, as ``POST /sandbox/webhooks/trigger``."""
    form = await read_form(request)
    try:
        data = TriggerIn.model_validate(
            {
                "event": field(form, "event"),
                "merchant_id": field(form, "merchant_id"),
                "subject_id": field(form, "subject_id", required=False) or None,
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or "event"
        raise ValidationFailed(f"{name}: {error['msg']}") from None
    event_id, _, queued, _ = await triggers.trigger(
        session,
        user.principal.merchants(data.merchant_id),
        event=data.event,
        subject_id=data.subject_id,
        overrides=None,
        delay=timedelta(0),
    )
    return see_other(f"/console/webhooks/events/{event_id}?done=queued&n={queued}")


@router.get("/console/jobs", operation_id="consoleJobs")
async def jobs_page(
    request: Request,
    user: ConsoleReader,
    session: DbSession,
    state: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    state = state or None
    jobs = await issuance.list_jobs(
        session, user.principal.merchants(), state=state, page=Page(page, PER_PAGE)
    )
    return render(
        request,
        "jobs.html",
        user=user,
        jobs=jobs,
        state=state,
        job_states=JOB_STATES,
        # Refreshed in place (console.js) while a job on the page is unfinished.
        live=any(j.state not in FINISHED_JOB_STATES for j in jobs.items),
    )


@router.get("/console/jobs/{job_id}", operation_id="consoleJob")
async def job_page(
    request: Request,
    user: ConsoleReader,
    session: DbSession,
    job_id: str,
    watch: Annotated[bool, Query()] = False,
) -> Response:
    """One job; ``watch``: the page refreshes itself every 2 s until the job finishes (no
    JavaScript: a meta refresh)."""
    job = await issuance.job_view(session, user.principal.merchants(), job_id)
    failures = getattr(job.summary, "failures", None) or []
    return render(
        request,
        "job.html",
        user=user,
        job=job,
        failures=failures,
        finished=job.state in FINISHED_JOB_STATES,
        watch=watch,
    )


@router.post("/console/jobs/{job_id}/revoke", operation_id="consoleJobRevoke")
async def revoke_job(user: ConsoleWriter, session: DbSession, job_id: str) -> Response:
    await issuance.revoke_job(session, user.principal, job_id=job_id, merchant_id=None)
    return see_other(f"/console/jobs/{job_id}")


@sandbox_router.post("/console/jobs/{job_id}/progression", operation_id="consoleJobProgression")
async def set_job_progression(
    request: Request, user: ConsoleWriter, session: DbSession, job_id: str
) -> Response:
    """Pause an unfinished job, or release it (``immediate``), or one chunk a step, as
    ``POST /sandbox/jobs/{id}/progression``."""
    form = await read_form(request)
    try:
        data = ProgressionIn.model_validate({"mode": field(form, "mode")})
    except ValidationError as exc:
        raise ValidationFailed(f"mode: {exc.errors()[0]['msg']}") from None
    await progression.set_job_mode(session, user.principal, job_id, data)
    return see_other(f"/console/jobs/{job_id}")


@sandbox_router.post("/console/jobs/{job_id}/step", operation_id="consoleJobStep")
async def step_job(
    request: Request, user: ConsoleWriter, db: AppDatabase, settings: AppSettings, job_id: str
) -> Response:
    """Run chunks of a job now (sandbox job progression), as ``/sandbox/jobs/{id}/step``."""
    form = await read_form(request)
    try:
        data = StepIn.model_validate({"chunks": field(form, "chunks")})
    except ValidationError as exc:
        raise ValidationFailed(f"chunks: {exc.errors()[0]['msg']}") from None
    await progression.step_job(db, settings, user.principal, job_id, chunks=data.chunks)
    return see_other(f"/console/jobs/{job_id}")


ROUTERS = (router, sandbox_router, controls.router)
