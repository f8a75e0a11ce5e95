"""Reading a console form: ``application/x-www-form-urlencoded`` (every form) or
``multipart/form-data`` (the one with a file: a snapshot to restore). The request guard lets
these through for ``/console/`` paths only, bounded like any body (``THANX_MAX_BODY_BYTES``), so
the whole body is in memory already and small; multipart is parsed by the standard library's
MIME parser (no multipart dependency)."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from urllib.parse import parse_qsl

from starlette.requests import Request

from thanx_server.kit.errors import ValidationFailed

MAX_FIELDS = 20


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Form:
    fields: dict[str, str]
    files: dict[str, Upload]


async def read_form(request: Request) -> dict[str, str]:
    """The form's text fields (the last value of a repeated name); parsed once per request, so
    the session dependency and the page share it."""
    return (await _parsed(request)).fields


async def read_upload(request: Request, name: str) -> Upload:
    """The file sent in field ``name`` (400 naming it when there is none, or it is empty)."""
    upload = (await _parsed(request)).files.get(name)
    if upload is None or not upload.content:
        raise ValidationFailed(f"{name}: choose a file to upload")
    return upload


async def _parsed(request: Request) -> Form:
    cached: Form | None = getattr(request.state, "console_form", None)
    if cached is not None:
        return cached
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        form = _multipart(content_type, raw)
    else:
        form = Form(fields=_urlencoded(raw), files={})
    request.state.console_form = form
    return form


def _urlencoded(raw: bytes) -> dict[str, str]:
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False
        )
    except UnicodeDecodeError:
        raise ValidationFailed("body: the form is not valid UTF-8") from None
    except ValueError:
        raise ValidationFailed(f"body: at most {MAX_FIELDS} form fields") from None
    return dict(pairs)


def _multipart(content_type: str, raw: bytes) -> Form:
    """Each part named by its ``Content-Disposition``; a part with a ``filename`` is a file."""
    try:
        header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    except UnicodeEncodeError:
        raise ValidationFailed("body: the Content-Type is not valid") from None
    message = BytesParser(policy=policy.HTTP).parsebytes(header + raw)
    if not isinstance(message, EmailMessage) or not message.is_multipart() or message.defects:
        raise ValidationFailed("body: not a valid multipart/form-data body")
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for count, part in enumerate(message.iter_parts(), start=1):
        if count > MAX_FIELDS:
            raise ValidationFailed(f"body: at most {MAX_FIELDS} form fields")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise ValidationFailed("body: a part of the form has no name")
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(filename=filename, content=content)
            continue
        try:
            fields[name] = content.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed(f"{name}: not valid UTF-8") from None
    return Form(fields=fields, files=files)


def field(form: dict[str, str], name: str, *, required: bool = True) -> str:
    value = form.get(name, "").strip()
    if required and not value:
        raise ValidationFailed(f"{name}: required")
    return value
