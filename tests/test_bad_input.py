"""Bad input, everywhere: malformed JSON, wrong media types, oversized bodies, odd queries.

The rules live at the edge (kit/request_guard.py and the error handlers), so every endpoint gets
them. They are exercised here through the real app, on the existing endpoints and on two test-only
routes shaped like the write endpoints to come.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from tests.factories import Credential, Factory
from thanx_server.app import create_app
from thanx_server.kit.db import Database
from thanx_server.settings import Settings

MAX_IDENTIFIERS = 10_000


class IdentifierIn(BaseModel):
    type: Literal["email", "phone"]
    value: str


class IssueBody(BaseModel):
    """The shape of POST /partner/campaigns/issue (reference B.9.4)."""

    campaign_id: str
    merchant_id: str
    variant_id: str
    identifiers: list[IdentifierIn] = Field(min_length=1, max_length=MAX_IDENTIFIERS)


def _test_routes() -> APIRouter:
    router = APIRouter()

    @router.post("/_test/issue")
    async def issue(body: IssueBody) -> dict[str, Any]:
        return {"count": len(body.identifiers), "campaign_id": body.campaign_id}

    @router.post("/_test/nobody")
    async def nobody() -> dict[str, bool]:
        return {"ok": True}

    return router


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def body_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (default body limit) plus the test-only write routes."""
    app.include_router(_test_routes())
    async with _client(app) as client:
        yield client


SMALL_LIMIT = 1024


@pytest.fixture
async def small_limit_client(
    database: Database, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path,
        rate_limit_enabled=False,
        embedded_worker=False,
        max_body_bytes=SMALL_LIMIT,
    )
    app = create_app(settings, database=database)
    app.include_router(_test_routes())
    async with _client(app) as client:
        yield client


@pytest.fixture
async def cred(factory: Factory) -> Credential:
    return await factory.partner([await factory.merchant()])


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The envelope and nothing else; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    return message


def issue_body(count: int = 1) -> dict[str, Any]:
    return {
        "campaign_id": "c1",
        "merchant_id": "m1",
        "variant_id": "v1",
        "identifiers": [{"type": "email", "value": f"user{i}@example.com"} for i in range(count)],
    }


JSON = {"Content-Type": "application/json"}


# --- Malformed JSON: 400 VALIDATION_FAILED naming the body -----------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"campaign_id": ',
        b"not json at all",
        b'{"campaign_id": "c1",}',
        b"{'campaign_id': 'c1'}",
        b'{"campaign_id": "\xff\xfe"}',  # not UTF-8
        b"[" * 50_000 + b"]" * 50_000,  # nesting deeper than any parser should follow
        b"\x00\x01\x02",
    ],
    ids=["truncated", "text", "trailing-comma", "single-quotes", "not-utf8", "deep", "binary"],
)
async def test_malformed_json_is_400_naming_the_body(
    body_client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await body_client.post("/_test/issue", content=raw, headers=JSON)
    message = assert_error(response, 400, "VALIDATION_FAILED")
    assert message.startswith("body"), message


async def test_valid_json_of_the_wrong_shape_names_the_field(
    body_client: httpx.AsyncClient,
) -> None:
    body = issue_body()
    body["identifiers"][0]["type"] = "fax"
    del body["variant_id"]
    response = await body_client.post("/_test/issue", json=body)
    message = assert_error(response, 400, "VALIDATION_FAILED")
    assert "variant_id: is required" in message
    assert "identifiers[0].type" in message


async def test_a_json_array_where_an_object_is_expected_is_400(
    body_client: httpx.AsyncClient,
) -> None:
    response = await body_client.post("/_test/issue", content=b"[1, 2]", headers=JSON)
    assert_error(response, 400, "VALIDATION_FAILED")


async def test_escaped_nul_in_a_body_is_400_naming_the_field(
    body_client: httpx.AsyncClient,
) -> None:
    raw = b'{"campaign_id": "c\\u0000", "merchant_id": "m", "variant_id": "v", "identifiers": []}'
    message = assert_error(
        await body_client.post("/_test/issue", content=raw, headers=JSON), 400, "VALIDATION_FAILED"
    )
    assert message.startswith("campaign_id: contains a NUL"), message


async def test_an_escaped_backslash_before_u0000_is_ordinary_text(
    body_client: httpx.AsyncClient,
) -> None:
    body = issue_body()
    body["campaign_id"] = "c\\u0000"  # a backslash, then the letters u0000: no NUL
    response = await body_client.post("/_test/issue", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["campaign_id"] == "c\\u0000"


# --- Media type: JSON only, 415 otherwise ------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON; Charset="UTF-8"',
        "application/vnd.thanx+json",
    ],
)
async def test_json_media_types_are_accepted(
    body_client: httpx.AsyncClient, content_type: str
) -> None:
    response = await body_client.post(
        "/_test/issue",
        content=json.dumps(issue_body()).encode(),
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 1


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/json; charset=latin-1",
        "application/jsonp",
        "text/json",
    ],
)
async def test_other_media_types_are_415(
    body_client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await body_client.post(
        "/_test/issue", content=json.dumps(issue_body()).encode(), headers=headers
    )
    message = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "application/json" in message


async def test_a_request_without_a_body_needs_no_media_type(
    body_client: httpx.AsyncClient,
) -> None:
    response = await body_client.post("/_test/nobody", headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert (await body_client.post("/_test/nobody")).status_code == 200


async def test_media_type_is_checked_on_partner_routes_before_anything_else(
    body_client: httpx.AsyncClient, cred: Credential
) -> None:
    response = await body_client.request(
        "DELETE", "/partner/merchants", content=b"a=b", headers=cred.headers()
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


# --- Size: 413 above THANX_MAX_BODY_BYTES, never read unbounded ------------------------------


async def test_a_realistic_10000_identifier_request_fits_the_default_limit_with_room(
    body_client: httpx.AsyncClient,
) -> None:
    rng = random.Random(5)
    first = ["jennifer", "mohammed", "anne-marie", "li", "christopher", "o.brien", "zoe"]
    domains = ["gmail.com", "yahoo.com", "example-company.co.uk", "outlook.com", "icloud.com"]
    identifiers = []
    for i in range(MAX_IDENTIFIERS):
        if i % 4 == 0:
            identifiers.append({"type": "phone", "value": f"+1415{rng.randrange(10**7):07d}"})
        else:
            local = f"{rng.choice(first)}.{rng.choice(first)}{rng.randrange(10_000)}"
            identifiers.append({"type": "email", "value": f"{local}@{rng.choice(domains)}"})
    body = {**issue_body(), "identifiers": identifiers}
    raw = json.dumps(body, indent=2).encode()  # pretty-printed: the larger spelling
    default_limit = Settings().max_body_bytes
    assert len(raw) < default_limit // 2, len(raw)
    response = await body_client.post("/_test/issue", content=raw, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["count"] == MAX_IDENTIFIERS


async def test_a_body_at_the_limit_is_read_and_one_byte_more_is_413(
    small_limit_client: httpx.AsyncClient,
) -> None:
    def padded(size: int) -> bytes:
        raw = json.dumps(issue_body()).encode()
        return raw[:-1] + b" " * (size - len(raw)) + b"}"

    assert len(padded(SMALL_LIMIT)) == SMALL_LIMIT
    ok = await small_limit_client.post("/_test/issue", content=padded(SMALL_LIMIT), headers=JSON)
    assert ok.status_code == 200, ok.text
    too_big = await small_limit_client.post(
        "/_test/issue", content=padded(SMALL_LIMIT + 1), headers=JSON
    )
    message = assert_error(too_big, 413, "PAYLOAD_TOO_LARGE")
    assert str(SMALL_LIMIT) in message


async def test_a_streamed_body_is_refused_once_past_the_limit_without_reading_the_rest(
    small_limit_client: httpx.AsyncClient,
) -> None:
    """No Content-Length (chunked): the guard counts as it reads and stops at the limit."""
    chunk = b" " * 256
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b"{"
        for _ in range(10_000):  # 2.5 MB if anybody read it all
            sent += 1
            yield chunk

    response = await small_limit_client.post("/_test/issue", content=endless(), headers=JSON)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert sent <= SMALL_LIMIT // len(chunk) + 1


async def test_a_declared_oversized_body_is_refused_on_any_method(
    small_limit_client: httpx.AsyncClient,
) -> None:
    big = b"x" * (SMALL_LIMIT + 1)
    for method in ("POST", "PUT", "PATCH", "DELETE", "GET"):
        response = await small_limit_client.request(
            method, "/partner/merchants", content=big, headers=JSON
        )
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_an_invalid_content_length_is_400(app: FastAPI) -> None:
    """Sent as raw ASGI: HTTP clients refuse to send a malformed Content-Length at all."""
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/partner/merchants",
        "raw_path": b"/partner/merchants",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"12abc")],
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
        "state": {},
        "app": app,
    }
    await app(scope, receive, send)
    assert messages[0]["status"] == 400
    body = json.loads(b"".join(m.get("body", b"") for m in messages[1:]))
    assert body["error"]["code"] == "BAD_REQUEST"


# --- Query strings and paths: a 4xx envelope or a correct 200, never a 500 --------------------


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": "99999999999999999999999999999999"}, 400),
        ({"page": "9" * 5000}, 400),
        ({"per_page": "-1"}, 400),
        ({"per_page": "1e2"}, 400),
        ({"page": "0x10"}, 400),
        ({"page": "NaN"}, 400),
        ({"page": "1\x00"}, 400),
        ({"merchant_id": "\x00"}, 400),
        ({"merchant_id": "m\r\nSet-Cookie: x=1"}, 400),
        ({"merchant_id": "' OR '1'='1"}, 403),
        ({"merchant_id": "x'; DROP TABLE merchants; --"}, 403),
        ({"merchant_id": "%"}, 403),
        ({"merchant_id": "a" * 5000}, 403),
        ({"merchant_id": "😀"}, 403),
        ({"unknown": "\x7f"}, 400),
        ({"unknown": "' OR 1=1 --", "page": "1"}, 200),
    ],
)
async def test_hostile_query_strings_get_an_envelope_never_a_500(
    client: httpx.AsyncClient,
    cred: Credential,
    params: dict[str, str],
    status: int,
) -> None:
    response = await client.get("/partner/locations", params=params, headers=cred.headers())
    assert response.status_code == status, response.text
    if status >= 400:
        code = {400: "VALIDATION_FAILED", 403: "FORBIDDEN"}[status]
        message = assert_error(response, status, code)
        name = next(iter(params))
        assert name in message or name == "unknown", message
    # The tables are still there and still answer.
    assert (await client.get("/partner/merchants", headers=cred.headers())).status_code == 200


async def test_a_control_character_in_the_path_is_400(
    client: httpx.AsyncClient, cred: Credential
) -> None:
    response = await client.get("/partner/merchants%00", headers=cred.headers())
    message = assert_error(response, 400, "VALIDATION_FAILED")
    assert message.startswith("path")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["page", "per_page", "merchant_id", "merchant_id[]", "other"]),
        st.one_of(
            st.text(max_size=40),
            st.integers().map(str),
            st.floats(allow_nan=True).map(str),
            st.sampled_from(["' OR 1=1 --", "1; SELECT pg_sleep(5)", "%00", "\\u0000"]),
        ),
        max_size=3,
    )
)
async def test_any_query_string_gets_a_200_or_a_4xx_envelope(
    client: httpx.AsyncClient, cred: Credential, params: dict[str, str]
) -> None:
    response = await client.get("/partner/locations", params=params, headers=cred.headers())
    assert response.status_code in {200, 400, 403}, response.text
    if response.status_code != 200:
        assert set(response.json()) == {"error"}
        assert set(response.json()["error"]) == {"code", "message"}


# --- Documented in /openapi.json -------------------------------------------------------------


async def test_openapi_documents_413_and_415_on_every_operation_with_a_body(
    body_client: httpx.AsyncClient,
) -> None:
    """Every operation of the real app (and the test routes), not a sample: an operation with a
    body, required or optional, documents both; one without a body documents neither."""
    spec = (await body_client.get("/openapi.json")).json()
    with_body, without_body = [], []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            documented = set(operation["responses"]) & {"413", "415"}
            if "requestBody" in operation:
                with_body.append(path)
                assert documented == {"413", "415"}, (method, path)
                for status in ("413", "415"):
                    schema = operation["responses"][status]["content"]["application/json"]
                    assert schema["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
            else:
                without_body.append(path)
                assert documented == set(), (method, path)
    assert "/_test/issue" in with_body
    assert "/_test/nobody" in without_body
    # The product's own: a sample with optional bodies, so the loop above is never vacuous.
    assert {"/partner/campaigns/issue", "/partner/tags", "/partner/issuance_jobs/{id}/revoke"} <= (
        set(with_body)
    )
    merchants = spec["paths"]["/partner/merchants"]["get"]["responses"]
    assert "Retry-After" in merchants["429"]["headers"]
