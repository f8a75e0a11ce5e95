"""``create_app(settings)``: builds the ASGI app. Nothing connects at import time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from thanx_server import __version__
from thanx_server.auth import endpoints as auth_endpoints
from thanx_server.auth.dependencies import SECURITY_SCHEMES
from thanx_server.auth.ratelimit import credential_limiter
from thanx_server.auth.service import CredentialCache, CredentialUsage
from thanx_server.auth.tokens import UserTokenCache
from thanx_server.campaign import endpoints as campaign_endpoints
from thanx_server.console import endpoints as console_endpoints
from thanx_server.console import handlers as console_handlers
from thanx_server.console import service as console_service
from thanx_server.feedback import endpoints as feedback_endpoints
from thanx_server.health import endpoints as health_endpoints
from thanx_server.issuance import endpoints as issuance_endpoints
from thanx_server.issuance.worker import embedded_worker
from thanx_server.kit import settle
from thanx_server.kit.db import Database, DbTimeouts, create_engine
from thanx_server.kit.error_handlers import install_error_handlers
from thanx_server.kit.logging import configure_logging
from thanx_server.kit.metrics import count_connections, forget_this_process
from thanx_server.kit.middleware import RequestContextMiddleware, TransactionMiddleware
from thanx_server.kit.openapi import install_openapi
from thanx_server.kit.request_guard import RequestGuardMiddleware
from thanx_server.media import endpoints as media_endpoints
from thanx_server.merchant import endpoints as merchant_endpoints
from thanx_server.metrics import endpoints as metrics_endpoints
from thanx_server.operators.service import OperatorCache
from thanx_server.points import endpoints as points_endpoints
from thanx_server.promotion import endpoints as promotion_endpoints
from thanx_server.purchase import endpoints as purchase_endpoints
from thanx_server.reward import endpoints as reward_endpoints
from thanx_server.sandbox import endpoints as sandbox_endpoints
from thanx_server.sandbox.journal.recorder import JournalRecorder
from thanx_server.sandbox.middleware import SandboxMiddleware
from thanx_server.sandbox.state_cache import SandboxStateCache
from thanx_server.settings import Settings
from thanx_server.subscriber import endpoints as subscriber_endpoints
from thanx_server.tag import endpoints as tag_endpoints
from thanx_server.template import endpoints as template_endpoints
from thanx_server.user import endpoints as user_endpoints
from thanx_server.webhook import endpoints as webhook_endpoints
from thanx_server.webhook import worker as webhook_worker

log = structlog.get_logger("thanx.app")

ROUTERS = (
    health_endpoints.router,
    metrics_endpoints.router,
    auth_endpoints.router,
    merchant_endpoints.router,
    reward_endpoints.router,
    user_endpoints.router,
    subscriber_endpoints.router,
    tag_endpoints.router,
    feedback_endpoints.router,
    feedback_endpoints.sandbox_router,
    purchase_endpoints.router,
    points_endpoints.router,
    promotion_endpoints.router,
    template_endpoints.router,
    campaign_endpoints.router,
    issuance_endpoints.router,
    *sandbox_endpoints.ROUTERS,
    media_endpoints.router,
    *webhook_endpoints.ROUTERS,
    user_endpoints.sandbox_router,
    *console_endpoints.ROUTERS,
)

# Paths that read no business time: they need no clock (and health checks no database).
CLOCKLESS_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)

DESCRIPTION = """\
A self-hostable implementation of the Thanx Partner API (v4.0) and the Consumer API's reward
endpoints. Partner calls need `Authorization: Bearer <access token>` and `X-ClientId`;
`Accept-Version`, when sent, must be `v4.0`. Every error body is
`{"error": {"code": ..., "message": ...}}`.

In a sandbox, the `/sandbox/...` operations (tag Sandbox) steer it: an operator credential steers
everything, a partner credential holding the `sandbox` scope its own merchants and requests.
"""


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """Build the app. Tests pass their own ``database``; otherwise the lifespan creates one."""
    settings = settings or Settings()
    configure_logging(settings)
    # Built here (not in the lifespan) so apps driven without one still enforce limits; it opens
    # no connection until the first request, and the lifespan closes it.
    limiter = credential_limiter(settings)
    sign_in_limiter = console_service.sign_in_limiter(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        db = database or Database.from_engine(
            create_engine(
                settings.effective_database_url,
                pool_size=settings.db_pool_size,
                echo=settings.db_echo,
                timeouts=DbTimeouts.from_settings(settings),
            )
        )
        app.state.database = db
        count_connections(db.engine)
        usage = CredentialUsage()
        app.state.credential_usage = usage
        flusher = asyncio.create_task(usage.run(db.write_sessions), name="credential-usage")
        journal_flusher = (
            asyncio.create_task(journal.run(), name="journal-flush") if journal else None
        )
        # Everything built so far (modules, routes, schemas: ~130k objects) lives as long as the
        # process. Frozen out of the collector, a full collection no longer walks it: measured
        # ~95 ms per full collection on the reference machine before, which was the p99 tail.
        # `serve` builds all this with the collector off (cli/main.py): it is on from here.
        gc.freeze()
        gc.enable()
        log.info("app.started", environment=settings.environment.value)
        if limiter is not None and not limiter.shared and settings.workers > 1:
            log.warning(
                "ratelimit.per_process",
                workers=settings.workers,
                hint="set THANX_RATE_LIMIT_STORAGE=redis://... to share one budget",
            )
        try:
            async with embedded_worker(db, settings), webhook_worker.embedded(db, settings):
                yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            with contextlib.suppress(Exception):
                await usage.flush(db.write_sessions)
            if limiter is not None:
                await limiter.aclose()
            await sign_in_limiter.aclose()
            if journal is not None and journal_flusher is not None:
                journal_flusher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await journal_flusher
                await journal.aclose()
            if owned:
                await db.dispose()
            forget_this_process()
            log.info("app.stopped")

    app = FastAPI(
        title="thanx-server",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.credential_cache = CredentialCache(settings.auth_cache_seconds)
    app.state.user_token_cache = UserTokenCache(settings.auth_cache_seconds)
    app.state.operator_cache = OperatorCache(settings.auth_cache_seconds)
    app.state.rate_limiter = limiter
    app.state.sign_in_limiter = sign_in_limiter  # issue 15: failed console sign-ins
    # Issue 13: the sandbox's request journal (sandbox/journal), one recorder per process.
    journal = (
        JournalRecorder(settings) if settings.is_sandbox and settings.journal_enabled else None
    )
    app.state.journal = journal
    # Issue 17: the clock and the fault-rule check every sandbox request reads, kept per process
    # for a few milliseconds (sandbox/state_cache.py).
    app.state.sandbox_state = SandboxStateCache()
    settle.configure(settings.sandbox_state_cache_ms / 1000)
    if database is not None:
        app.state.database = database
    install_error_handlers(app)
    # Issue 15: errors on /console paths are pages (console/handlers.py).
    console_handlers.install(app)
    install_openapi(app, security_schemes=SECURITY_SCHEMES)
    # Added innermost first. The request id wraps everything, so every refusal and commit failure
    # is logged with it; the input rules (body size, media type, control characters) come before
    # the transaction, so a refused request never opens a database session.
    if settings.is_sandbox:
        # Issue 13: the sandbox clock for the request (business_now(), X-Sandbox-Time) and the
        # fault rules (sandbox/middleware.py).
        app.add_middleware(SandboxMiddleware, skip=CLOCKLESS_PATHS)
    app.add_middleware(TransactionMiddleware)
    # The console's forms are the only bodies that are not JSON (issue 15).
    app.add_middleware(
        RequestGuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        form_prefix="/console/",
        form_errors=console_handlers.guard_error_page,
    )
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)
    # The routes go straight into the app's router: ``include_router`` keeps each router as a
    # lazily matched branch, which matched every request's path against the routes twice
    # (measured: ~0.2 ms of a ~1.8 ms read on the reference machine). Same routes, same OpenAPI.
    for router in ROUTERS:
        app.router.routes.extend(router.routes)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (one per API process)."""
    return create_app(Settings())
