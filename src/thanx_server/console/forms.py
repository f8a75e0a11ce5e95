"""Reading a console form (``application/x-www-form-urlencoded``, the only body the console
takes; the request guard lets it through for ``/console/`` paths only, bounded like any body)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from thanx_server.kit.errors import ValidationFailed

MAX_FIELDS = 20


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the last value of a repeated name); cached on the request, so the
    session dependency and the page read it once."""
    cached: dict[str, str] | None = getattr(request.state, "console_form", None)
    if cached is not None:
        return cached
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False
        )
    except UnicodeDecodeError:
        raise ValidationFailed("body: the form is not valid UTF-8") from None
    except ValueError:
        raise ValidationFailed(f"body: at most {MAX_FIELDS} form fields") from None
    form = dict(pairs)
    request.state.console_form = form
    return form


def field(form: dict[str, str], name: str, *, required: bool = True) -> str:
    value = form.get(name, "").strip()
    if required and not value:
        raise ValidationFailed(f"{name}: required")
    return value
