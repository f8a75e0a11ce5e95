"""One error tree: every error a client may see, with a stable code and status.

This module holds the root (``AppError``) and the errors of the HTTP edge every feature shares
(validation, auth, not found, state conflicts, limits, unavailability). Errors of one rule live
with it: ``domain/errors.py`` (email/phone), ``reward/errors.py``, ``idempotency/errors.py``;
all are ``AppError`` subclasses and render the same way.

Services raise ``AppError`` subclasses; nothing else builds an error response. This module imports
nothing of the web layer, so the CLI and the workers use the same tree without loading FastAPI;
``kit/error_handlers.py`` renders it as ``{"error": {"code", "message"}}`` and decides what an
exception nothing else handled becomes (``unexpected_error``: 503 or 500).
"""

from __future__ import annotations

import sqlite3
from typing import ClassVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class AppError(Exception):
    """Base of every error a client may see. ``code`` is stable; ``message`` is for humans."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"
    default_message: ClassVar[str] = "An error occurred."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None):
        self.message = message or self.default_message
        self.headers = headers
        super().__init__(self.message)


class BadRequest(AppError):
    pass


class ValidationFailed(AppError):
    code = "VALIDATION_FAILED"
    default_message = "The request is invalid."


class AuthenticationFailed(AppError):
    status_code = 401
    code = "AUTHENTICATION_GENERIC"
    default_message = "There was an error authenticating you."


class Forbidden(AppError):
    status_code = 403
    code = "FORBIDDEN"
    default_message = "You do not have access to this resource."


class NotFound(AppError):
    status_code = 404
    code = "RESOURCE_NOT_FOUND"
    default_message = "The resource you requested was not found."


class MethodNotAllowed(AppError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "This method is not allowed on this resource."


class InvalidState(AppError):
    status_code = 422
    code = "INVALID_STATE"
    default_message = "The resource is not in a state that allows this."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Only application/json bodies are supported."


class RateLimited(AppError):
    status_code = 429
    code = "RATE_LIMITED"
    default_message = "Too many requests; retry later."


class GenericError(AppError):
    status_code = 500
    code = "GENERIC_ERROR"
    default_message = "Something went wrong"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is temporarily unavailable; retry later."


def is_db_unreachable(exc: BaseException) -> bool:
    """True for the connection-level failures of either driver (refused, reset, pool timeout,
    a statement past its timeout) and for an SQLite database still locked when the busy timeout
    ran out."""
    if isinstance(exc, PoolTimeout):
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if orig is None:
        return False
    name = type(orig).__name__
    # OSError covers refused/reset sockets and pool acquire timeouts (TimeoutError); asyncpg's
    # own classes say "Connection" (ConnectionDoesNotExistError...) or CannotConnectNowError.
    if isinstance(orig, sqlite3.OperationalError):
        return str(orig).startswith(("database is locked", "database is busy"))
    # A statement the server cancelled at THANX_DB_STATEMENT_TIMEOUT (kit/db.DbTimeouts): the
    # database is too slow to answer now, which is the same promise to the client: retry later.
    cause = type(orig.__cause__).__name__ if orig.__cause__ is not None else ""
    if "QueryCanceled" in name or "QueryCanceled" in cause:
        return True
    return isinstance(orig, OSError) or "Connection" in name or name == "CannotConnectNowError"
