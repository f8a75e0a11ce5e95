"""Security properties from docs/SECURITY.md that a test can hold the code to."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import ApiProcess, StartApi
from tests.factories import Factory
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.deps import DbSession
from thanx_server.models import PartnerCredential

GENERIC_500 = {"error": {"code": "GENERIC_ERROR", "message": "Something went wrong"}}
LEAKY = "SELECT token_hash FROM partner_credentials WHERE client_id = 'x' -- secret-detail"


@pytest.fixture
async def failing_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus routes that fail in unexpected ways (test-only)."""
    router = APIRouter()

    @router.get("/_test/boom")
    async def boom() -> None:
        raise RuntimeError(LEAKY)

    @router.post("/_test/bad-sql")
    async def bad_sql(session: DbSession) -> None:
        await session.execute(text("SELECT secret_column FROM no_such_table WHERE x = 'leak'"))

    app.include_router(router)
    # Our outermost middleware answers and logs unexpected errors; nothing is re-raised to the
    # server, so the transport raising app exceptions would reveal a leak in that rule.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_an_unexpected_exception_answers_exactly_the_generic_envelope(
    failing_client: httpx.AsyncClient,
) -> None:
    response = await failing_client.get("/_test/boom")
    assert response.status_code == 500
    assert response.json() == GENERIC_500
    for leak in ("SELECT", "secret", "Traceback", "RuntimeError", "partner_credentials"):
        assert leak not in response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]  # the 500 can be matched to its log line


async def test_a_database_error_answers_exactly_the_generic_envelope(
    failing_client: httpx.AsyncClient,
) -> None:
    response = await failing_client.post("/_test/bad-sql")
    assert response.status_code == 500
    assert response.json() == GENERIC_500
    for leak in ("SELECT", "no_such_table", "secret_column", "sqlalchemy", "Traceback"):
        assert leak not in response.text


async def test_access_tokens_are_stored_only_as_sha256_digests(
    factory: Factory, session: AsyncSession
) -> None:
    cred = await factory.partner([await factory.merchant()])
    record = await session.scalar(
        select(PartnerCredential).where(PartnerCredential.client_id == cred.client_id)
    )
    assert record is not None
    assert record.token_hash == hashlib.sha256(cred.access_token.encode()).hexdigest()
    row = (
        await session.execute(
            text("SELECT * FROM partner_credentials WHERE client_id = :c"), {"c": cred.client_id}
        )
    ).one()
    assert all(cred.access_token not in str(value) for value in row)


async def test_an_unknown_client_and_a_wrong_token_are_indistinguishable(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    cred = await factory.partner([await factory.merchant()])
    wrong_token = await client.get(
        "/partner/merchants", headers=cred.headers(Authorization="Bearer " + "1" * 64)
    )
    unknown_client = await client.get(
        "/partner/merchants", headers=cred.headers(**{"X-ClientId": "nosuchclient"})
    )
    assert wrong_token.status_code == unknown_client.status_code == 401
    assert wrong_token.content == unknown_client.content


def _stop(api: ApiProcess) -> str:
    api.process.terminate()
    try:
        api.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        api.process.kill()
        api.process.wait()
    return api.output()


@pytest.mark.live
async def test_logs_of_a_real_process_never_carry_tokens_or_emails(
    fresh_db_url: str, start_api: StartApi
) -> None:
    email = "jane.secret-person@example.com"
    phone = "+14155550123"
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        async with database.write_sessions() as session, session.begin():
            factory = Factory(session)
            merchant = await factory.merchant()
            await factory.member(merchant, email=email, phone=phone)
            cred = await factory.partner([merchant])
    finally:
        await database.dispose()
    api = await start_api(
        {
            "THANX_DATABASE_URL": fresh_db_url,
            "THANX_LOG_FORMAT": "json",
            "THANX_LOG_LEVEL": "DEBUG",
            "THANX_RATE_LIMIT_ENABLED": "true",
            "THANX_RATE_LIMIT_STORAGE": "memory://",
            "THANX_RATE_LIMIT_PER_SECOND": "1000",
            "THANX_RATE_LIMIT_PER_15_MINUTES": "3",
            "THANX_EMBEDDED_WORKER": "false",
        }
    )
    wrong_token = cred.headers(Authorization=f"Bearer {cred.access_token}x")
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/partner/merchants", {"headers": cred.headers()}),
        ("GET", "/partner/users", {"params": {"email": email}, "headers": cred.headers()}),
        ("GET", "/partner/locations", {"params": {"email": email}, "headers": cred.headers()}),
        ("GET", f"/partner/users/{email}", {"headers": cred.headers()}),  # an email as an id
        ("GET", f"/partner/users/{phone}", {"headers": cred.headers()}),
        ("GET", "/partner/merchants", {"headers": wrong_token}),
        ("GET", "/partner/merchants", {"headers": cred.headers(**{"X-Request-Id": email})}),
        ("POST", "/partner/merchants", {"json": {"email": email}, "headers": cred.headers()}),
        ("GET", "/partner/merchants", {"headers": cred.headers()}),  # over the limit: 429
    ]
    statuses = []
    async with httpx.AsyncClient(base_url=api.url, trust_env=False, timeout=10) as client:
        for method, url, kwargs in calls:
            statuses.append((await client.request(method, url, **kwargs)).status_code)
    assert 200 in statuses
    assert 401 in statuses
    assert 429 in statuses
    output = _stop(api)
    assert "http.request" in output  # the log was written, and read here
    assert cred.access_token not in output
    assert email not in output
    assert email.split("@")[0] not in output
    assert phone not in output
    assert phone[1:] not in output
    assert "/partner/users/j***@example.com" in output  # masked, still useful for debugging
