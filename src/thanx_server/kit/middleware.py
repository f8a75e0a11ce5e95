"""Pure-ASGI middleware: request context (id, access log) and the per-request transaction.

The transaction rule (HOUSE_STYLE 6): the request owns one transaction. A session is opened lazily
the first time an endpoint asks for ``DbSession``; when the response starts, it is committed if the
status is below 400 and rolled back otherwise, so the commit lands *before* the client hears
success. If the commit itself fails, the client gets an error instead of the success it would
have seen.
"""

from __future__ import annotations

import re
import time

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from thanx_server.kit.db import Database
from thanx_server.kit.error_handlers import error_response, unexpected_error
from thanx_server.kit.errors import GenericError, ServiceUnavailable, is_db_unreachable
from thanx_server.kit.ids import new_id
from thanx_server.kit.metrics import observe_request
from thanx_server.kit.settle import settled

log = structlog.get_logger("thanx.http")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Methods a metric label may carry; any other (a client may send any token) counts as OTHER.
_METHODS = frozenset({*SAFE_METHODS, "POST", "PUT", "PATCH", "DELETE"})
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Personal data that can end up in a URL path (a partner putting an email or a phone where an id
# belongs). The access log keeps the first character and the domain / last two digits only.
_EMAIL_IN_PATH = re.compile(r"([^/@\s])[^/@\s]*@([^/\s]+)")
_PHONE_IN_PATH = re.compile(r"\+\d{4,}(\d{2})")


class RequestSession:
    """Holds the request's session, created on first use."""

    __slots__ = ("_factory", "session")

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self.session: AsyncSession | None = None

    def get(self) -> AsyncSession:
        if self.session is None:
            self.session = self._factory()
        return self.session

    async def finish(self, *, commit: bool) -> None:
        session, self.session = self.session, None
        if session is None:
            return
        if not session.in_transaction() and not (session.new or session.dirty or session.deleted):
            # Handed out (an auth dependency served from its cache, say) but never used: it
            # holds no connection, so there is nothing to commit or release.
            return
        if not commit:
            # close() rolls the transaction back and releases the connection; a rollback() first
            # would also expire every loaded object, work for objects about to be dropped
            # (every read request ends here: issue 17).
            await session.close()
            return
        try:
            await session.commit()
        finally:
            await session.close()


class TransactionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        database: Database = scope["app"].state.database
        writes = scope["method"] not in SAFE_METHODS
        holder = RequestSession(database.write_sessions if writes else database.read_sessions)
        scope.setdefault("state", {})["db"] = holder
        replaced = False
        # SQLite: writers of one process queue in memory, from their BEGIN IMMEDIATE to their
        # COMMIT or ROLLBACK (kit/db.py, _OneTripConnection), not for the whole request.

        async def send_after_commit(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                try:
                    # A read-only request has nothing to commit (and on SQLite a COMMIT is one
                    # more trip to the driver's thread): its session is closed, which sends
                    # nothing when no transaction is open.
                    await holder.finish(commit=writes and message["status"] < 400)
                    await settled()
                except Exception as exc:
                    replaced = True
                    log.warning("db.commit_failed", error=type(exc).__name__)
                    err = ServiceUnavailable() if is_db_unreachable(exc) else GenericError()
                    await error_response(err)(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_after_commit)
        finally:
            # Errors that escaped every handler, or a client that went away: never commit those.
            # A rollback on a dead connection may fail too; the original error is what matters.
            try:
                await holder.finish(commit=False)
            except Exception as exc:
                log.warning("db.rollback_failed", error=type(exc).__name__)


class RequestContextMiddleware:
    """Binds a request id (echoed as ``X-Request-Id``) and logs one ``http.request`` line."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or new_id()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        status_sent = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Nothing inside handled it: answer in the envelope if the response has not started
            # (a started response cannot be taken back, so then the error propagates).
            if status_sent:
                raise
            error = unexpected_error(exc, redact_path(scope["path"]))
            await error_response(error)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            # The router leaves the matched route in the scope; its operation id names the metric.
            route = scope.get("route")
            operation: str = (
                getattr(route, "operation_id", None) or getattr(route, "name", None) or "unmatched"
            )
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            observe_request(operation, method, status, elapsed)
            if self.access_log or status >= 500:
                log.info(
                    "http.request",
                    method=scope["method"],
                    path=redact_path(scope["path"]),
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")


def _incoming_request_id(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID_RE.match(candidate) else None
    return None


def redact_path(path: str) -> str:
    """The path as logged: emails and E.164 phone numbers masked, everything else as sent."""
    if "@" in path:
        path = _EMAIL_IN_PATH.sub(r"\1***@\2", path)
    if "+" in path:
        path = _PHONE_IN_PATH.sub(r"+***\1", path)
    return path
