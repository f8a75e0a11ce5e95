"""Rules every request meets before routing, so every endpoint (present and future) gets them.

* **Path and query string**: no control characters (U+0000-U+001F, U+007F) once percent-decoded:
  400 ``VALIDATION_FAILED`` naming the parameter. No identifier, email, phone, date or state in
  this API contains one; PostgreSQL cannot store NUL in text at all, so without this rule a
  ``%00`` would be a 500 there and a lookup on SQLite. The rule keeps both engines alike and the
  logs clean.
* **Body** (a request with ``Content-Length > 0`` or ``Transfer-Encoding``):

  - larger than ``max_body_bytes``: 413 ``PAYLOAD_TOO_LARGE``. A declared ``Content-Length`` is
    checked before anything is read; a chunked body is counted as it arrives and refused as soon
    as it passes the limit, so at most ``max_body_bytes`` is ever held in memory.
  - on POST/PUT/PATCH/DELETE the media type must be JSON (``application/json`` or
    ``application/<anything>+json``, optional ``charset=utf-8``): 415 ``UNSUPPORTED_MEDIA_TYPE``
    otherwise. The one exception: under ``form_prefix`` (the web console's ``/console/``) an
    HTML form (``application/x-www-form-urlencoded``, or ``multipart/form-data`` for a file)
    is accepted too, bounded the same way; there a refusal is answered by ``form_errors`` (the
    console renders it as a page a person reads, not JSON).
    GET/HEAD/OPTIONS bodies are never read.
  - JSON the schemas cannot see (``kit/jsonbody.py``): nesting deeper than 32 levels, a
    ``\\u0000`` escape (for the same reason as above), text that is not valid Unicode (a lone
    UTF-16 surrogate escape, named by its field): 400 ``VALIDATION_FAILED``.

  The body is read here (bounded) and replayed to the app as one message; FastAPI would read it
  whole before parsing anyway. Malformed JSON is left to FastAPI, whose error the handlers in
  ``kit/errors.py`` turn into 400 ``VALIDATION_FAILED`` naming ``body``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from thanx_server.kit.error_handlers import error_response
from thanx_server.kit.errors import (
    AppError,
    BadRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from thanx_server.kit.jsonbody import body_problem

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_JSON_MEDIA = re.compile(r"^application/(?:[a-z0-9.!#$&^_-]+\+)?json$")
_NAME_SHOWN = 40
_HUGE = 10**18


class RequestGuardMiddleware:
    """Pure ASGI; sits outside the transaction, so a refused request never opens a session."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        form_prefix: str | None = None,
        form_errors: Callable[[AppError], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths under it may also send an HTML form (the web console); every other rule holds.
        self.form_prefix = form_prefix
        self.form_errors = form_errors
        self._too_large = PayloadTooLarge(
            f"The request body is larger than the limit of {max_body_bytes} bytes."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        under_prefix = self.form_prefix is not None and scope["path"].startswith(self.form_prefix)
        respond = self.form_errors if under_prefix and self.form_errors else error_response
        error = _check_target(scope)
        if error is not None:
            await respond(error)(scope, receive, send)
            return
        content_length, chunked, content_type = _body_headers(scope)
        if content_length is not None and content_length < 0:
            await respond(BadRequest("Content-Length is invalid."))(scope, receive, send)
            return
        if content_length is not None and content_length > self.max_body_bytes:
            await respond(self._too_large)(scope, receive, send)
            return
        has_body = bool(content_length) or (content_length is None and chunked)
        if not has_body or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        form = under_prefix and _is_form(content_type)
        if not form and not _is_json(content_type):
            await respond(UnsupportedMediaType())(scope, receive, send)
            return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away; there is nobody to answer
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await respond(self._too_large)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = None if form else body_problem(body)
        if problem is not None:
            await respond(ValidationFailed(problem))(scope, receive, send)
            return

        await self.app(scope, replayed(body, receive), send)


def replayed(body: bytes, receive: Receive) -> Receive:
    """``receive`` for an app downstream of a read body: the whole body once, then ``receive``."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _check_target(scope: Scope) -> AppError | None:
    if _CONTROL.search(scope["path"]):
        return ValidationFailed("path: contains a control character")
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return None
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, errors="replace")
    for name, value in pairs:
        if _CONTROL.search(name):
            return ValidationFailed("query: a parameter name contains a control character")
        if _CONTROL.search(value):
            shown = name if len(name) <= _NAME_SHOWN else name[:_NAME_SHOWN] + "..."
            return ValidationFailed(f"{shown}: contains a control character")
    return None


def _body_headers(scope: Scope) -> tuple[int | None, bool, str | None]:
    """(Content-Length or None; -1 when unparseable, chunked?, Content-Type)."""
    content_length: int | None = None
    chunked = False
    content_type: str | None = None
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length":
            content_length = _parse_length(value.strip())
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    return content_length, chunked, content_type


def _parse_length(text: bytes) -> int:
    if not text.isdigit():
        return -1
    # More digits than any real size: no need to parse it to know it is too big.
    return int(text) if len(text) <= 18 else _HUGE


def _is_form(content_type: str | None) -> bool:
    """An HTML form's body: urlencoded (UTF-8, or no charset named) or multipart."""
    if not content_type:
        return False
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() == "multipart/form-data":
        return True
    if media.lower() != "application/x-www-form-urlencoded":
        return False
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in {
            "utf-8",
            "utf8",
        }:
            return False
    return True


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media, *params = (part.strip() for part in content_type.split(";"))
    if not _JSON_MEDIA.match(media.lower()):
        return False
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in {
            "utf-8",
            "utf8",
        }:
            return False
    return True
