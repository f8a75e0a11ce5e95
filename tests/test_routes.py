"""The route table: which routes are public. A new route must be added here on purpose."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from thanx_server.app import create_app
from thanx_server.auth.dependencies import PartnerAuth
from thanx_server.settings import Settings

# Everything not listed here must require authentication.
PUBLIC_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    # Generated demo images (issue 16): public, as a CDN's would be.
    ("GET", "/static/images/{filename}"),
    # The web console (issue 15): its stylesheet, its script and its sign-in form, public on
    # purpose; every other console page is behind ConsoleAuth.
    ("GET", "/console/static/console.css"),
    ("GET", "/console/static/console.js"),
    ("GET", "/console/login"),
    ("POST", "/console/login"),
}


def _auth_dependencies(route: APIRoute) -> list[Any]:
    found = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, PartnerAuth) or getattr(dep.call, "is_auth_dependency", False):
            found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def _flatten(routes: list[Any]) -> list[Any]:
    """Routes of included routers too (newer FastAPI keeps them nested; we use no prefixes)."""
    flat = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            flat.extend(_flatten(nested.routes))
        else:
            flat.append(route)
    return flat


def _routes() -> list[tuple[str, str, Any]]:
    app = create_app(Settings())
    table = []
    for route in _flatten(app.routes):
        methods = getattr(route, "methods", None) or {"GET"}
        for method in sorted(methods - {"HEAD"}):
            table.append((method, route.path, route))
    assert len(table) > len(PUBLIC_ROUTES)
    return table


def test_every_route_is_public_only_on_purpose() -> None:
    public = set()
    for method, path, route in _routes():
        if isinstance(route, APIRoute) and _auth_dependencies(route):
            continue
        public.add((method, path))
    assert public == PUBLIC_ROUTES


def test_partner_routes_all_require_a_partner_credential() -> None:
    partner_paths = [
        (method, path, route) for method, path, route in _routes() if path.startswith("/partner/")
    ]
    assert partner_paths, "no partner routes found"
    for method, path, route in partner_paths:
        assert any(isinstance(d, PartnerAuth) for d in _auth_dependencies(route)), (method, path)
