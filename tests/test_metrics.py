"""``GET /metrics``: who may scrape, and that the counters move with what really happened.

Counters are process-wide (prometheus-client's default registry), so every check reads a value
before and after and asserts the difference.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError

from tests import test_issuance
from tests.conftest import StartApi
from tests.factories import Factory, assert_error
from tests.test_issuance import World, email, issue, worker
from thanx_server.app import create_app
from thanx_server.issuance import tasks
from thanx_server.kit.db import Database
from thanx_server.kit.logging import configure_logging
from thanx_server.settings import LogFormat, Settings

world = test_issuance.world  # the fixture: a merchant, three members, a campaign


def sample(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` with exactly ``labels`` (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return 0.0


async def scrape(client: httpx.AsyncClient, **headers: str) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_operation_and_status(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    cred = await factory.partner([merchant])
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get("/partner/merchants", headers=cred.headers())).status_code == 200
    assert (await client.get("/partner/merchants")).status_code == 401
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    ok = {"operation": "getMerchants", "method": "GET", "status": "200"}
    assert moved("thanx_http_requests_total", **ok) == 3
    assert moved("thanx_http_requests_total", **{**ok, "status": "401"}) == 1
    assert moved("thanx_http_request_duration_seconds_count", operation="getMerchants") == 4
    unmatched = await client.get("/no/such/route")
    assert unmatched.status_code == 404
    last = await scrape(client)
    labels = {"operation": "unmatched", "method": "GET", "status": "404"}
    assert (
        sample(last, "thanx_http_requests_total", **labels)
        - sample(after, "thanx_http_requests_total", **labels)
        == 1
    )


async def test_issuance_jobs_by_state_and_durations_follow_the_worker(
    client: httpx.AsyncClient, world: World, database: Database
) -> None:
    before = await scrape(client)
    job = await issue(client, world, world.issue_body([email("member0@example.com")]))
    pending = await scrape(client)
    state = "thanx_issuance_jobs"
    assert sample(pending, state, state="pending") == sample(before, state, state="pending") + 1
    assert sample(pending, "thanx_issuance_oldest_waiting_job_age_seconds") >= 0
    assert await tasks.drain(database, worker()) == 1
    done = await scrape(client)
    assert sample(done, state, state="pending") == sample(before, state, state="pending")
    assert sample(done, state, state="completed") == sample(before, state, state="completed") + 1
    for histogram in (
        "thanx_issuance_job_duration_seconds",
        "thanx_issuance_chunk_duration_seconds",
    ):
        assert sample(done, f"{histogram}_count") == sample(before, f"{histogram}_count") + 1
    assert job["state"] == "pending"


async def test_rate_limit_refusals_are_counted(
    settings: Settings, database: Database, factory: Factory
) -> None:
    merchant = await factory.merchant()
    cred = await factory.partner([merchant])
    limited = settings.model_copy(update={"rate_limit_enabled": True, "rate_limit_per_second": 2})
    app = create_app(limited, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        before = await scrape(c)
        statuses = [
            (await c.get("/partner/merchants", headers=cred.headers())).status_code
            for _ in range(4)
        ]
        after = await scrape(c)
    assert statuses.count(429) == 2
    refused = "thanx_rate_limit_refusals_total"
    assert sample(after, refused, window="second") - sample(before, refused, window="second") == 2


@pytest.fixture
async def scraper(settings: Settings, database: Database) -> AsyncIterator[Any]:
    """A client of an app with ``overrides``, calling from address ``host``."""
    clients: list[httpx.AsyncClient] = []

    async def make(host: str, **overrides: Any) -> httpx.AsyncClient:
        app = create_app(settings.model_copy(update=overrides), database=database)
        transport = httpx.ASGITransport(app=app, client=(host, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://t"))
        return clients[-1]

    yield make
    for made in clients:
        await made.aclose()


async def test_without_a_token_only_this_machine_may_scrape(scraper: Any) -> None:
    assert (await (await scraper("::1")).get("/metrics")).status_code == 200
    remote = await (await scraper("10.1.2.3")).get("/metrics")
    assert_error(remote, 403, "FORBIDDEN")
    assert "THANX_METRICS_TOKEN" in remote.json()["error"]["message"]


async def test_with_a_token_every_scrape_must_carry_it(scraper: Any) -> None:
    remote = await scraper("10.1.2.3", metrics_token=SecretStr("s3cret-scrape"))
    local = await scraper("127.0.0.1", metrics_token=SecretStr("s3cret-scrape"))
    assert (
        await remote.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    ).status_code == 200
    assert_error(await local.get("/metrics"), 401, "AUTHENTICATION_GENERIC")
    assert_error(
        await remote.get("/metrics", headers={"Authorization": "Bearer nope"}),
        401,
        "AUTHENTICATION_GENERIC",
    )


def test_metrics_are_not_part_of_the_api_document(client: httpx.AsyncClient, app: Any) -> None:
    assert "/metrics" not in app.openapi()["paths"]


# --- one log stream -------------------------------------------------------------------------


async def test_json_logs_carry_every_library_logger_with_the_request_id(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings.model_copy(update={"log_format": LogFormat.JSON}), database=database)

    @app.get("/__log_probe", include_in_schema=False)
    async def probe() -> dict[str, str]:
        logging.getLogger("uvicorn.error").warning("from %s", "uvicorn")
        logging.getLogger("sqlalchemy.pool").warning("from the pool")
        return {}

    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == "thanx"]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.get("/__log_probe", headers={"X-Request-Id": "req-42"})
        assert response.status_code == 200
        logging.getLogger("asyncio").error("outside a request")
    finally:
        configure_logging(settings)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    by_event = {line["event"]: line for line in lines}
    assert by_event["from uvicorn"]["logger"] == "uvicorn.error"
    assert by_event["from uvicorn"]["request_id"] == "req-42"
    assert by_event["from uvicorn"]["level"] == "warning"
    assert by_event["from the pool"]["request_id"] == "req-42"
    assert "request_id" not in by_event["outside a request"]
    assert by_event["outside a request"]["logger"] == "asyncio"
    assert all("timestamp" in line for line in lines)


def test_chatty_libraries_stay_quiet_at_info(settings: Settings) -> None:
    configure_logging(settings)
    assert not logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)
    assert logging.getLogger("thanx.anything").isEnabledFor(logging.INFO)


def test_logs_go_to_stderr_as_it_is_when_written(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI command run inside another program (a test's CliRunner) configures logging while
    ``sys.stderr`` is a stream closed when it returns; later lines go to stderr as it is then."""
    during = io.StringIO()
    monkeypatch.setattr(sys, "stderr", during)
    configure_logging(settings)
    during.close()
    after = io.StringIO()
    monkeypatch.setattr(sys, "stderr", after)
    structlog.get_logger("thanx.test").info("after.the_command")
    logging.getLogger("thanx.stdlib").warning("from the standard library")
    assert "after.the_command" in after.getvalue()
    assert "from the standard library" in after.getvalue()


def test_an_unknown_log_level_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="LOUD")
    assert Settings(log_level=" debug ").log_level == "DEBUG"


@pytest.mark.live
async def test_several_api_processes_answer_one_sum(
    fresh_db_url: str, start_api: StartApi, tmp_path: Path
) -> None:
    api = await start_api({"THANX_DATABASE_URL": fresh_db_url, "THANX_WORKERS": "2"})
    ok = {"operation": "healthz", "method": "GET", "status": "200"}
    async with httpx.AsyncClient(base_url=api.url, trust_env=False, timeout=10) as c:
        before = sample((await c.get("/metrics")).text, "thanx_http_requests_total", **ok)
        for _ in range(20):  # a new connection each: the kernel spreads them over the processes
            assert (await c.get("/healthz", headers={"Connection": "close"})).status_code == 200
        scrapes = [(await c.get("/metrics")).text for _ in range(4)]
    # Whichever process answers a scrape reports the sum over both.
    assert {sample(text, "thanx_http_requests_total", **ok) for text in scrapes} == {before + 20}
    pids = {path.stem.rsplit("_", 1)[-1] for path in (tmp_path / "metrics").glob("*.db")}
    assert len(pids) == 2, pids
