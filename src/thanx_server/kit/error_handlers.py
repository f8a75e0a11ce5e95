"""The HTTP rendering of the error tree (``kit/errors.py``): ``{"error": {"code", "message"}}``.

Validation errors from FastAPI are reshaped into the same envelope with the offending field named;
Starlette's own HTTP errors (unknown route, wrong method, ...) become the matching ``AppError``;
anything unexpected becomes a 500 ``GENERIC_ERROR`` with no detail (the traceback goes to the log
only), or a 503 when the database cannot be reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from thanx_server.kit.errors import (
    AppError,
    BadRequest,
    GenericError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
    is_db_unreachable,
)

log = structlog.get_logger("thanx.errors")


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(error: AppError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message), status_code=error.status_code, headers=error.headers
    )


def _field_path(loc: Sequence[int | str]) -> str:
    """``("body", "campaign", "variants", 0, "name")`` -> ``campaign.variants[0].name``."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """One human sentence per error, each naming its field."""
    messages = []
    for err in errors[:5]:
        field = _field_path(err.get("loc", ()))
        msg = str(err.get("msg", "is invalid"))
        if err.get("type") == "missing":
            msg = "is required"
        elif err.get("type") == "json_invalid":
            field, msg = "body", "is not valid JSON"
        messages.append(f"{field}: {msg}")
    if len(errors) > 5:
        messages.append(f"... and {len(errors) - 5} more")
    return "; ".join(messages)


async def _app_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc)


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(ValidationFailed(describe_validation_errors(exc.errors())))


async def _http_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error: AppError
    if exc.status_code == 404:
        error = NotFound()
    elif exc.status_code == 405:
        error = MethodNotAllowed()
    elif exc.status_code == 413:
        error = PayloadTooLarge()
    elif exc.status_code == 415:
        error = UnsupportedMediaType()
    elif exc.status_code >= 500:
        error = GenericError()
    elif exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        # FastAPI's "error parsing the body": bytes that are not UTF-8, or nesting too deep for
        # the JSON parser. To the client that is malformed JSON like any other.
        error = ValidationFailed("body: is not valid JSON")
    else:
        error = BadRequest(str(exc.detail) if exc.detail else None)
    response = error_response(error)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def unexpected_error(exc: BaseException, path: str) -> AppError:
    """What the client hears about an exception nothing else handled (and what is logged).

    A database that cannot be reached is a 503 the client may retry; anything else is a 500
    ``GENERIC_ERROR`` whose details go to the log only.
    """
    if (
        (isinstance(exc, OperationalError | DBAPIError) and exc.connection_invalidated)
        or isinstance(exc, OSError | TimeoutError)
        or is_db_unreachable(exc)
    ):
        log.warning("db.unavailable", path=path, error=type(exc).__name__)
        return ServiceUnavailable()
    log.error("http.unhandled_error", path=path, exc_info=exc)
    return GenericError()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
