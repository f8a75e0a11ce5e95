"""Errors on console paths are pages, not JSON: the same error tree and the same status, shown
in HTML (a missing session on a page read: a redirect to the sign-in form). Installed over the
app's handlers (kit/error_handlers.py), which keep answering every other path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from thanx_server.console.errors import SignInRequired
from thanx_server.console.rendering import render
from thanx_server.kit.error_handlers import describe_validation_errors
from thanx_server.kit.errors import AppError, MethodNotAllowed, NotFound, ValidationFailed

PREFIX = "/console"
Handler = Callable[[Request, Exception], Awaitable[Response]]


def is_console(request: Request) -> bool:
    path = request.url.path
    return path == PREFIX or path.startswith(PREFIX + "/")


def error_page(request: Request, error: AppError) -> Response:
    if isinstance(error, SignInRequired) and request.method in ("GET", "HEAD"):
        return RedirectResponse("/console/login", status_code=303)
    back = request.headers.get("referer") or "/console"
    if not back.startswith(str(request.base_url)):
        back = "/console"
    return render(
        request,
        "error.html",
        error.status_code,
        user=getattr(request.state, "console_user", None),
        status=error.status_code,
        code=error.code,
        error_message=error.message,
        back=back,
    )


def guard_error_page(error: AppError) -> ASGIApp:
    """What the request guard (kit/request_guard.py) answers on console paths: its refusals (a
    body past ``THANX_MAX_BODY_BYTES``, a media type no form has) as pages. Runs before the
    transaction, so nobody is looked up: the page shows no one signed in."""

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        await error_page(Request(scope, receive), error)(scope, receive, send)

    return page


def _as_app_error(exc: Exception) -> AppError:
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, RequestValidationError):
        return ValidationFailed(describe_validation_errors(exc.errors()))
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
        return MethodNotAllowed()
    return NotFound()


def install(app: FastAPI) -> None:
    for kind in (AppError, RequestValidationError, StarletteHTTPException):
        api_handler = cast(Handler, app.exception_handlers[kind])

        def handler(api: Handler) -> Handler:
            async def handle(request: Request, exc: Exception) -> Response:
                if is_console(request):
                    return error_page(request, _as_app_error(exc))
                return await api(request, exc)

            return handle

        app.add_exception_handler(kind, handler(api_handler))
