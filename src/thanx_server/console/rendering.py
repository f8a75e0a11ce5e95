"""Jinja2 for the console: templates and the stylesheet read once, when this module is imported
(never from disk while serving a request), rendered with autoescaping on.

Jinja2 itself is imported, and its environment built, by the first page rendered: an API
server that nobody opens the console of never pays for it (~15-30 ms of every `serve`'s start).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from thanx_server.kit.time import isoformat_z

if TYPE_CHECKING:
    from jinja2 import Environment

_PACKAGE = resources.files("thanx_server.console")


def _read_templates() -> dict[str, str]:
    folder = _PACKAGE / "templates"
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".html")
    }


TEMPLATES = _read_templates()
STYLESHEET: bytes = (_PACKAGE / "static" / "console.css").read_bytes()
SCRIPT: bytes = (_PACKAGE / "static" / "console.js").read_bytes()


def when(value: datetime | None) -> str:
    return isoformat_z(value) if value is not None else "-"


def duration(value: timedelta | None) -> str:
    """``1d 2h 3m 4s``, largest units first; negative durations are ``-`` prefixed."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    parts.append(f"{seconds}s")
    return sign + " ".join(parts[:3])


@functools.cache
def environment() -> Environment:
    from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

    built = Environment(
        loader=DictLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    built.filters["when"] = when
    built.filters["duration"] = duration
    return built


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page; ``context`` must hold everything the template names (StrictUndefined)."""
    settings = request.app.state.settings
    body = (
        environment()
        .get_template(template)
        .render(sandbox=settings.is_sandbox, path=request.url.path, **context)
    )
    return HTMLResponse(
        body,
        status_code=status_code,
        headers={
            # Pages hold what only a signed-in user may see, and must not be framed.
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": (
                "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
                "img-src 'self'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'"
            ),
            "Referrer-Policy": "same-origin",
        },
    )


def see_other(url: str) -> RedirectResponse:
    """After a form: ``303 See Other`` to a page (so a reload repeats nothing)."""
    return RedirectResponse(url, status_code=303)


# What a form's redirect may announce: a fixed text and a count, never text from the URL (a
# crafted link must not make the console say something of its choosing).
NOTICES = {
    "advanced": "The clock was advanced; pieces of due work run on the way: {n}.",
    "reset": "Reset done: {n} rows written back from the baseline.",
    "restored": "Snapshot restored: {n} rows written.",
    "fault-added": "Fault rules added: {n}.",
    "fault-deleted": "Fault rules deleted: {n}.",
    "queued": "Deliveries queued: {n}.",
}


def notice(request: Request) -> str | None:
    text = NOTICES.get(request.query_params.get("done", ""))
    count = request.query_params.get("n", "")
    if text is None or not count.isdigit() or len(count) > 9:
        return None
    return text.format(n=int(count))
