"""Validate real responses against the seed contract and our own OpenAPI, with openapi-core."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from thanx_server.settings import Settings


def seed_spec_path() -> Path:
    path = Settings().seed_spec_path
    return path if path.is_absolute() else (Path(__file__).resolve().parents[1] / path).resolve()


def _nullable_as_31(node: Any) -> Any:
    """The seed is 3.1 but writes ``nullable: true`` (a 3.0 keyword a 3.1 validator ignores).
    Read it as its authors meant: the type also admits null."""
    if isinstance(node, dict):
        node = {k: _nullable_as_31(v) for k, v in node.items()}
        if node.pop("nullable", False) is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [_nullable_as_31(v) for v in node]
    return node


def load_seed() -> OpenAPI:
    spec = _nullable_as_31(yaml.safe_load(seed_spec_path().read_text()))
    return OpenAPI.from_dict(spec)


def seed_operations() -> set[tuple[str, str]]:
    spec = yaml.safe_load(seed_spec_path().read_text())
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


class _Request:
    def __init__(self, request: httpx.Request, host_url: str) -> None:
        url = urlsplit(str(request.url))
        self.host_url = host_url
        self.path = url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(url.query, keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict({}),
        )


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data = response.content
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(dict(response.headers))


def validate(spec: OpenAPI, response: httpx.Response, host_url: str) -> None:
    """Raise if ``response`` (and its request) do not match ``spec``."""
    try:
        spec.validate_response(_Request(response.request, host_url), _Response(response))
    except Exception as exc:
        body = json.dumps(response.json(), indent=1)[:2000] if response.content else ""
        raise AssertionError(
            f"{response.request.method} {response.request.url.path} -> {response.status_code} "
            f"does not match the contract: {exc}\n{body}"
        ) from exc
