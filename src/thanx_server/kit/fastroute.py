"""Hot routes served from a plan compiled at startup instead of FastAPI's per-request solving.

FastAPI resolves an endpoint's dependencies generically on every request: for each dependency it
recomputes cache keys, scope checks and callable classifications, then validates every parameter
through its model field. On the hot reads that was a third of a request's CPU (docs/PERFORMANCE.md).

``@fast_path`` marks an endpoint; ``install_fast_routes(app)`` compiles, once, the dependency tree
FastAPI built for its route (``route.dependant``) into a plan: which callables to await in which
order, which path and query values each takes. The route stays an ordinary FastAPI route (OpenAPI,
the route table, the error envelope); only its ASGI handler is replaced by one that

1. reads the path and query values the plan needs, accepting a value only when FastAPI would accept
   it with the same result (a string within its length bounds, an integer written as digits within
   its bounds, ``true``/``false``/``1``/``0``, or the parameter's default when it is absent).
   Anything else - a value that may be invalid, a parameter type the plan does not parse - hands
   the request, untouched, to FastAPI's own handler, which produces its usual answer or validation
   error. Nothing has run yet at that point, so no dependency (authentication, the rate limiter)
   runs twice;
2. awaits the same dependency callables FastAPI would, in FastAPI's order, with the same per-request
   cache, and the endpoint itself;
3. validates and serialises the result with the route's own response field and settings.

A JSON body read as one pydantic model is parsed and validated as FastAPI does it (a body it
would refuse goes to FastAPI too, replayed). Endpoints with features the plan does not cover
(another kind of body, headers or cookies as parameters, ``yield`` dependencies, sync callables,
a custom response class, ...) are refused at startup, so a mark never silently does nothing.
``tests/test_fastroute.py`` compares both handlers' answers.

Also refused: what FastAPI would read or cache differently (``use_cache=False``, security scopes,
validation aliases, default factories, model-typed query parameters, class dependencies), and a
mark inside an included router. While ``app.dependency_overrides`` holds anything, FastAPI
answers. Known differences, by design: a body model is validated before the dependencies run
(FastAPI validates it after them; the answer is the same, only a validator with side effects
could tell), and FastAPI's own OpenTelemetry spans for dependencies and serialisation are not
emitted for compiled routes.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

import annotated_types
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import ResponseValidationError
from fastapi.params import Body
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from thanx_server.kit.request_guard import replayed

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__thanx_fast_path__"
_MAX_INT_DIGITS = 9  # beyond this the plan lets FastAPI judge the number


def fast_path(endpoint: F) -> F:
    """Serve this endpoint's route from a compiled plan (see the module doc)."""
    setattr(endpoint, _MARK, True)
    return endpoint


class FastRouteUnsupported(RuntimeError):
    """A marked endpoint uses something the compiled plan does not cover."""


class _Fallback(Exception):
    """The request needs FastAPI's full handling.

    Raised as a fresh instance each time: re-raising one shared instance chains every traceback
    onto it, keeping each handed-over request's frames alive.
    """


@dataclass(frozen=True, slots=True)
class _Param:
    """A path or query parameter: where it comes from and how a raw value is accepted."""

    name: str  # the argument name
    alias: str  # the name in the URL
    in_path: bool
    parse: Callable[[str], Any] | None  # None: only the default is served fast
    required: bool
    default: Any


@dataclass(frozen=True, slots=True)
class _Call:
    """One callable of the tree (a dependency, or the endpoint itself) and its arguments."""

    call: Callable[..., Awaitable[Any]]  # also its key in the request's cache, as in FastAPI
    request_args: tuple[str, ...]
    params: tuple[tuple[str, int], ...]  # argument name -> index into the extracted values
    deps: tuple[tuple[str, _Call], ...]


def _is_async(call: Callable[..., Any]) -> bool:
    """A coroutine function, or an instance with one as ``__call__`` (FastAPI instantiates a
    class given as a dependency: that is a sync call)."""
    if (
        inspect.isclass(call)
        or inspect.isasyncgenfunction(call)
        or inspect.isgeneratorfunction(call)
    ):
        return False
    if inspect.iscoroutinefunction(call):
        return True
    dunder = getattr(call, "__call__", None)  # noqa: B004 - instances with an async __call__
    return dunder is not None and inspect.iscoroutinefunction(dunder)


def _bounds(metadata: list[Any], kinds: tuple[type, ...]) -> list[Any] | None:
    """The constraints if all are of ``kinds``; None when something else constrains the value."""
    return metadata if all(isinstance(m, kinds) for m in metadata) else None


def _string_parser(metadata: list[Any]) -> Callable[[str], Any] | None:
    checks = _bounds(metadata, (annotated_types.MinLen, annotated_types.MaxLen))
    if checks is None:
        return None
    low = max((m.min_length for m in checks if isinstance(m, annotated_types.MinLen)), default=0)
    high = min(
        (m.max_length for m in checks if isinstance(m, annotated_types.MaxLen)), default=None
    )

    def parse(raw: str) -> str:
        if len(raw) < low or (high is not None and len(raw) > high):
            raise _Fallback
        return raw

    return parse


def _int_parser(metadata: list[Any]) -> Callable[[str], Any] | None:
    low: int | None = None
    high: int | None = None
    for check in metadata:
        # Integer bounds only, as an inclusive range; anything else is left to FastAPI.
        bound = next(
            (getattr(check, a) for a in ("ge", "gt", "le", "lt") if hasattr(check, a)), None
        )
        if not isinstance(check, annotated_types.BaseMetadata) or type(bound) is not int:
            return None
        if isinstance(check, annotated_types.Ge | annotated_types.Gt):
            bound += isinstance(check, annotated_types.Gt)
            low = bound if low is None else max(low, bound)
        elif isinstance(check, annotated_types.Le | annotated_types.Lt):
            bound -= isinstance(check, annotated_types.Lt)
            high = bound if high is None else min(high, bound)
        else:
            return None

    def parse(raw: str) -> int:
        # Digits only: every such string is an int to pydantic too, with the same value.
        if not (0 < len(raw) <= _MAX_INT_DIGITS and raw.isascii() and raw.isdigit()):
            raise _Fallback
        value = int(raw)
        if (low is not None and value < low) or (high is not None and value > high):
            raise _Fallback
        return value

    return parse


# A subset of the spellings pydantic reads as booleans, with the same meaning.
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def _bool_parser(metadata: list[Any]) -> Callable[[str], Any] | None:
    if metadata:
        return None

    def parse(raw: str) -> bool:
        value = _BOOLEANS.get(raw)
        if value is None:
            raise _Fallback
        return value

    return parse


def _param(field: Any, *, in_path: bool) -> _Param:
    info = field.field_info
    annotation = info.annotation
    metadata = list(info.metadata)
    # FastAPI reads these differently (other names, a default made per request or validated,
    # a model's fields as separate parameters): not for the plan.
    if info.validation_alias not in (None, field.alias) or info.default_factory is not None:
        raise FastRouteUnsupported(f"parameter {field.name!r}: validation_alias/default_factory")
    if info.validate_default or any(
        isinstance(arg, type) and issubclass(arg, BaseModel)
        for arg in (annotation, *get_args(annotation))
    ):
        raise FastRouteUnsupported(f"parameter {field.name!r}: validate_default or a model")
    parse: Callable[[str], Any] | None = None
    if annotation in (str, str | None):
        parse = _string_parser(metadata)
    elif annotation in (int, int | None):
        parse = _int_parser(metadata)
    elif annotation in (bool, bool | None):
        parse = _bool_parser(metadata)
    required = bool(field.field_info.is_required())
    if in_path and parse is None:
        raise FastRouteUnsupported(f"path parameter {field.name!r}: {annotation!r}")
    default = None if required else info.get_default()
    return _Param(field.name, field.alias, in_path, parse, required, default)


class _Compiler:
    def __init__(self) -> None:
        self.params: list[_Param] = []
        self.body: tuple[str, Any] | None = None  # (argument name, model field)

    def call(self, dependant: Dependant, *, endpoint: bool = False) -> _Call:
        where = dependant.call
        body_params = dependant.body_params
        if endpoint and len(body_params) == 1 and _is_plain_json_body(body_params[0]):
            self.body, body_params = (body_params[0].name, body_params[0]), []
        unsupported = [
            name
            for name, present in (
                ("header parameters", dependant.header_params),
                ("cookie parameters", dependant.cookie_params),
                ("a body other than one JSON model", body_params),
                ("a Response parameter", dependant.response_param_name),
                ("BackgroundTasks", dependant.background_tasks_param_name),
                ("SecurityScopes", dependant.security_scopes_param_name),
                ("a WebSocket", dependant.websocket_param_name),
            )
            if present
        ]
        if where is None or not _is_async(where):
            unsupported.append("a callable that is not a coroutine function")
        if not dependant.use_cache:
            unsupported.append("use_cache=False")  # FastAPI's caching rules around it differ
        if dependant.own_oauth_scopes or dependant.parent_oauth_scopes:
            unsupported.append("security scopes")  # part of FastAPI's cache key
        if unsupported:
            raise FastRouteUnsupported(f"{where!r} uses {', '.join(unsupported)}")
        assert where is not None
        params: list[tuple[str, int]] = []
        for field, in_path in (
            *((f, True) for f in dependant.path_params),
            *((f, False) for f in dependant.query_params),
        ):
            params.append((field.name, len(self.params)))
            self.params.append(_param(field, in_path=in_path))
        request_args = tuple(
            name
            for name in (dependant.request_param_name, dependant.http_connection_param_name)
            if name
        )
        deps = tuple((sub.name or "", self.call(sub)) for sub in dependant.dependencies)
        if endpoint and self.body is not None:
            # After every path/query value of the tree: _parse_body's result comes last.
            params.append((self.body[0], len(self.params)))
        if any(not name for name, _ in deps):
            raise FastRouteUnsupported(f"{where!r}: a dependency without a parameter name")
        return _Call(
            call=where,
            request_args=request_args,
            params=tuple(params),
            deps=deps,
        )


class FastRouteApp:
    """The ASGI handler of a marked route; ``full`` is FastAPI's own handler for the same route."""

    def __init__(self, route: APIRoute, full: ASGIApp) -> None:
        if not isinstance(route.response_class, DefaultPlaceholder):
            raise FastRouteUnsupported(f"{route.path}: a custom response class")
        if route.response_field is None:
            raise FastRouteUnsupported(f"{route.path}: no response model")
        compiler = _Compiler()
        self.plan = compiler.call(route.dependant, endpoint=True)
        self.params = tuple(compiler.params)
        self.body = compiler.body
        if self.body is not None and getattr(route, "max_body_size", None) is not None:
            raise FastRouteUnsupported(f"{route.path}: a route-level max_body_size")
        # app.dependency_overrides (tests) are FastAPI's to apply: any override, FastAPI answers.
        self.overrides: Any = route.dependency_overrides_provider
        self.route = route
        self.full = full
        self.status_code = route.status_code or 200

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.overrides is not None and self.overrides.dependency_overrides:
            await self.full(scope, receive, send)
            return
        request = Request(scope, receive, send)
        body: bytes | None = None
        try:
            values = self._extract(request)
            if self.body is not None:
                try:
                    body = await request.body()
                except Exception as exc:  # as FastAPI answers a body it could not read
                    raise HTTPException(400, "There was an error parsing the body") from exc
                values.append(self._parse_body(request, body))
        except _Fallback:
            await self.full(scope, receive if body is None else replayed(body, receive), send)
            return
        result = await self._solve(self.plan, request, values, {})
        if isinstance(result, Response):
            await result(scope, receive, send)
            return
        route = self.route
        field: Any = route.response_field
        value, errors = field.validate(result, {}, loc=("response",))
        if errors:
            raise ResponseValidationError(errors=errors, body=result)
        body = field.serialize_json(
            value,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
        )
        response = Response(body, status_code=self.status_code, media_type="application/json")
        await response(scope, receive, send)

    def _extract(self, request: Request) -> list[Any]:
        path_params: dict[str, Any] = request.scope.get("path_params", {})
        query = request.query_params if request.scope.get("query_string") else None
        values: list[Any] = []
        for param in self.params:
            raw: Any
            if param.in_path:
                raw = path_params.get(param.alias)
            else:
                raw = query.get(param.alias) if query is not None else None
            if raw is None:
                if param.required:
                    raise _Fallback
                default = param.default
                values.append(
                    default
                    if default is None or isinstance(default, (str, int))
                    else copy.deepcopy(default)
                )
            elif param.parse is None or not isinstance(raw, str):
                raise _Fallback
            else:
                values.append(param.parse(raw))
        return values

    def _parse_body(self, request: Request, raw: bytes) -> Any:
        # As FastAPI reads one JSON model body: the whole document validated by the field, with
        # errors located at ``body``. Anything else (no body, another media type, invalid JSON or
        # values) is FastAPI's to answer.
        assert self.body is not None
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not raw or media != "application/json":
            raise _Fallback
        try:
            document = json.loads(raw)
        except ValueError:
            raise _Fallback from None
        value, errors = self.body[1].validate(document, {}, loc=("body",))
        if errors:
            raise _Fallback
        return value

    async def _solve(
        self, node: _Call, request: Request, values: list[Any], cache: dict[object, Any]
    ) -> Any:
        kwargs: dict[str, Any] = {}
        for name, sub in node.deps:
            key = sub.call
            if key in cache:
                kwargs[name] = cache[key]
                continue
            result = await self._solve(sub, request, values, cache)
            cache[key] = result
            kwargs[name] = result
        for name in node.request_args:
            kwargs[name] = request
        for name, index in node.params:
            kwargs[name] = values[index]
        return await node.call(**kwargs)


class FastRouteIndex(BaseRoute):
    """First entry of the router: tries the compiled routes before the linear scan of all routes.

    The router matches a request against each route in turn (a regular expression each); a route
    near the end of the table paid for every route before it. A compiled route is only placed
    here when no route before it in the table could match any of its requests, so the first
    match is the same route either way.
    """

    def __init__(self, routes: list[APIRoute]) -> None:
        self.routes = tuple(routes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    return match, child_scope
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: APIRoute = scope["route"]  # set by the matching route's ``matches``
        await route.handle(scope, receive, send)


def _may_share_a_request(earlier: BaseRoute, route: APIRoute) -> bool:
    """Could ``earlier`` match a request that ``route`` matches? (True when unsure.)"""
    if isinstance(earlier, FastRouteIndex):
        return False
    if not isinstance(earlier, Route):
        return True  # a mount, a host, ...: not worth reasoning about
    if earlier.methods is not None and not earlier.methods & (route.methods or set()):
        return False
    return _template_overlap(earlier.path, route.path)


# Convertors that never match a "/": a parameter with one stays within its segment.
_SEGMENT_CONVERTORS = frozenset({"", "str", "int", "float", "uuid"})


def _template_overlap(a: str, b: str) -> bool:
    """Could two path templates match one path? (True when unsure.)"""
    for template in (a, b):
        for part in template.split("{")[1:]:
            _, _, convertor = part.split("}", 1)[0].partition(":")
            if convertor not in _SEGMENT_CONVERTORS:
                return True  # may span segments (``path``, or a custom convertor)
    left, right = a.strip("/").split("/"), b.strip("/").split("/")
    return len(left) == len(right) and all(
        x == y or "{" in x or "{" in y for x, y in zip(left, right, strict=True)
    )


def _is_plain_json_body(field: Any) -> bool:
    """One pydantic model read from a JSON body (not embedded under its name, not a form)."""
    info = field.field_info
    return (
        type(info) is Body
        and not info.embed
        and isinstance(info.annotation, type)
        and issubclass(info.annotation, BaseModel)
    )


def install_fast_routes(app: FastAPI) -> list[str]:
    """Compile every ``@fast_path`` route of ``app``; returns them as ``METHOD /path``."""
    installed = []
    indexed: list[APIRoute] = []
    routes = app.router.routes
    for nested in routes:
        router = getattr(nested, "original_router", None)
        if router is not None and any(
            getattr(getattr(r, "endpoint", None), _MARK, False) for r in router.routes
        ):
            raise FastRouteUnsupported("a @fast_path route inside an included router")
    for position, route in enumerate(routes):
        if isinstance(route, APIRoute) and getattr(route.endpoint, _MARK, False):
            if not isinstance(route.app, FastRouteApp):
                route.app = FastRouteApp(route, route.app)
            installed.append(f"{','.join(sorted(route.methods or ()))} {route.path}")
            if not any(_may_share_a_request(e, route) for e in routes[:position]):
                indexed.append(route)
    if indexed and not any(isinstance(r, FastRouteIndex) for r in routes):
        routes.insert(0, FastRouteIndex(indexed))
    return installed
